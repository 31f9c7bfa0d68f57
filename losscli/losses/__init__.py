"""The numeric core: pure numpy losses and their gradients, and the registry that lists them.

The CLI, the gradient checker, ``losscli list`` and the docs iterate :data:`REGISTRY`; adding a
loss means writing its kernels in a topic module and adding one line below.
"""

from __future__ import annotations

from ._base import REDUCTIONS, Decision, Loss, Param, Prepared, RowLayout, merge_decisions
from .classification import bce, cross_entropy, log_softmax, nll, softmax
from .divergence import kl
from .focal import poly1, sigmoid_focal, softmax_focal
from .likelihood import gamma_deviance, gaussian_nll, poisson_deviance, poisson_nll, tweedie
from .margin import (
    categorical_hinge,
    hinge,
    multi_margin,
    multilabel_soft_margin,
    soft_margin,
    squared_hinge,
)
from .regression import huber, mae, mse, rmse, smooth_l1
from .relative import mape, msle
from .robust import log_cosh, pinball
from .scoring import brier, sparsemax, sparsemax_loss
from .segmentation import dice, tversky
from .similarity import cosine_embedding, cosine_similarity, hinge_embedding, margin_ranking

__all__ = [
    "REDUCTIONS",
    "REGISTRY",
    "RowLayout",
    "Loss",
    "Param",
    "Prepared",
    "Decision",
    "merge_decisions",
    "bce",
    "brier",
    "categorical_hinge",
    "cross_entropy",
    "get_loss",
    "hinge",
    "huber",
    "kl",
    "log_softmax",
    "mae",
    "mse",
    "multi_margin",
    "multilabel_soft_margin",
    "nll",
    "poly1",
    "rmse",
    "sigmoid_focal",
    "smooth_l1",
    "soft_margin",
    "softmax",
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
    "softmax_focal",
    "sparsemax",
    "sparsemax_loss",
    "squared_hinge",
]

REGISTRY: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        mse,
        mae,
        huber,
        smooth_l1,
        rmse,
        cross_entropy,
        nll,
        bce,
        kl,
        log_cosh,
        pinball,
        mape,
        msle,
        poisson_nll,
        gaussian_nll,
        tweedie,
        poisson_deviance,
        gamma_deviance,
        cosine_similarity,
        cosine_embedding,
        margin_ranking,
        hinge_embedding,
        dice,
        tversky,
        sigmoid_focal,
        softmax_focal,
        poly1,
        hinge,
        squared_hinge,
        categorical_hinge,
        multi_margin,
        soft_margin,
        multilabel_soft_margin,
        brier,
        sparsemax_loss,
    )
}


def get_loss(name: str) -> Loss:
    """The registered loss called ``name`` (or one of its aliases, or a framework's spelling
    of it: ``"mse_loss"``, ``"CrossEntropyLoss"``, ``"kl_div"``; see :mod:`.names`)."""
    from . import names

    known = {n: loss for loss in REGISTRY.values() for n in (loss.name, *loss.aliases)}
    found = names.canonical(name, known)
    if found is not None:
        return known[found[0]]
    hint = names.did_you_mean(name, known)
    raise KeyError(f"unknown loss {name!r}{hint}; known: {', '.join(REGISTRY)}")
