"""losscli: loss values, gradients and finite-difference gradient checks.

The Python API is the one the command line uses::

    >>> import losscli
    >>> losscli.mse([1.0, 2.0], [0.0, 0.0])
    2.5
    >>> losscli.cross_entropy([[1000.0, 0.0]], [1], logits=True)
    1000.0

Names are loaded on first use, so ``import losscli`` (and ``losscli --version``) stays cheap.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "REGISTRY": "losscli.losses",
    "get_loss": "losscli.losses",
    "mse": "losscli.losses",
    "mae": "losscli.losses",
    "huber": "losscli.losses",
    "smooth_l1": "losscli.losses",
    "rmse": "losscli.losses",
    "cross_entropy": "losscli.losses",
    "nll": "losscli.losses",
    "bce": "losscli.losses",
    "kl": "losscli.losses",
    "sigmoid_focal": "losscli.losses",
    "softmax_focal": "losscli.losses",
    "poly1": "losscli.losses",
    "hinge": "losscli.losses",
    "squared_hinge": "losscli.losses",
    "categorical_hinge": "losscli.losses",
    "multi_margin": "losscli.losses",
    "soft_margin": "losscli.losses",
    "multilabel_soft_margin": "losscli.losses",
    "brier": "losscli.losses",
    "sparsemax_loss": "losscli.losses",
    "sparsemax": "losscli.losses",
    "softmax": "losscli.losses",
    "log_softmax": "losscli.losses",
    "cosine_embedding": "losscli.losses",
    "cosine_similarity": "losscli.losses",
    "dice": "losscli.losses",
    "gamma_deviance": "losscli.losses",
    "gaussian_nll": "losscli.losses",
    "hinge_embedding": "losscli.losses",
    "log_cosh": "losscli.losses",
    "mape": "losscli.losses",
    "margin_ranking": "losscli.losses",
    "msle": "losscli.losses",
    "pinball": "losscli.losses",
    "poisson_deviance": "losscli.losses",
    "poisson_nll": "losscli.losses",
    "tversky": "losscli.losses",
    "tweedie": "losscli.losses",
    "gradcheck": "losscli.gradcheck",
    "objective": "losscli.gbdt",
    "CheckResult": "losscli.gradcheck",
    "read_array": "losscli.io",
    "read_table": "losscli.io",
    "read_inputs": "losscli.select",
    "Inputs": "losscli.select",
    "top_rows": "losscli.report",
    "histogram": "losscli.report",
    "write_array": "losscli.io",
    "evaluate": "losscli.engine",
    "Report": "losscli.report",
    "InputError": "losscli.errors",
    "UsageError": "losscli.errors",
    "LossCliWarning": "losscli.errors",
    "LossCliNote": "losscli.errors",
}

__all__ = [
    "__version__",
    "REGISTRY",
    "get_loss",
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "rmse",
    "cross_entropy",
    "nll",
    "bce",
    "kl",
    "sigmoid_focal",
    "softmax_focal",
    "poly1",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "multi_margin",
    "soft_margin",
    "multilabel_soft_margin",
    "brier",
    "sparsemax_loss",
    "sparsemax",
    "softmax",
    "log_softmax",
    "cosine_embedding",
    "cosine_similarity",
    "dice",
    "gamma_deviance",
    "gaussian_nll",
    "hinge_embedding",
    "log_cosh",
    "mape",
    "margin_ranking",
    "msle",
    "pinball",
    "poisson_deviance",
    "poisson_nll",
    "tversky",
    "tweedie",
    "gradcheck",
    "objective",
    "CheckResult",
    "read_array",
    "read_table",
    "read_inputs",
    "Inputs",
    "top_rows",
    "histogram",
    "write_array",
    "evaluate",
    "Report",
    "InputError",
    "UsageError",
    "LossCliWarning",
    "LossCliNote",
]


class _Package(ModuleType):
    """``losscli.gradcheck`` is the function, though a submodule has the same name: importing
    the submodule (as the CLI does) would otherwise rebind the package attribute to it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _EXPORTS.get(name) == f"{__name__}.{name}":
            return  # the submodule stays in sys.modules; the name keeps meaning the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'losscli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .engine import evaluate
    from .errors import InputError, LossCliNote, LossCliWarning, UsageError
    from .gbdt import objective
    from .gradcheck import CheckResult, gradcheck
    from .io import read_array, read_table, write_array
    from .losses import (
        REGISTRY,
        bce,
        brier,
        categorical_hinge,
        cosine_embedding,
        cosine_similarity,
        cross_entropy,
        dice,
        gamma_deviance,
        gaussian_nll,
        get_loss,
        hinge,
        hinge_embedding,
        huber,
        kl,
        log_cosh,
        log_softmax,
        mae,
        mape,
        margin_ranking,
        mse,
        msle,
        multi_margin,
        multilabel_soft_margin,
        nll,
        pinball,
        poisson_deviance,
        poisson_nll,
        poly1,
        rmse,
        sigmoid_focal,
        smooth_l1,
        soft_margin,
        softmax,
        softmax_focal,
        sparsemax,
        sparsemax_loss,
        squared_hinge,
        tversky,
        tweedie,
    )
    from .report import Report, histogram, top_rows
    from .select import Inputs, read_inputs
