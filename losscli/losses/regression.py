"""Regression losses: elementwise functions of the error ŷ − y.

Every loss here is *elementwise*: the loss of a row is the mean over its D elements, ``mean``
is the mean over all N·D elements, ``sum`` their sum (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

import numpy as np

from ._base import Loss, Prepared, check_same_shape

__all__ = ["mse", "squared_error", "squared_error_grad"]


def prepare_regression(predictions: np.ndarray, targets: np.ndarray, **options) -> Prepared:
    """Predictions and targets of one shape: a vector (N) or a matrix (N × D)."""
    check_same_shape(predictions, targets)
    return Prepared(predictions, targets, options)


def squared_error(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(ŷ − y)², elementwise; shape of the inputs."""
    err = predictions - targets
    np.square(err, out=err)
    return err


def squared_error_grad(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """∂(ŷ − y)²/∂ŷ = 2(ŷ − y), elementwise."""
    grad = predictions - targets
    grad *= 2.0
    return grad


def _regression_samples(options) -> tuple[str, str]:
    return ("regression_preds.csv", "regression_targets.csv")


mse = Loss(
    name="mse",
    summary="Mean squared error",
    formula="mean over elements of (ŷ − y)²",
    gradient_formula="2(ŷ − y)/(N·D) for mean; 2(ŷ − y) for sum; 2(ŷ − y)/D per row for none",
    reference="torch.nn.functional.mse_loss",
    values=squared_error,
    grad_kernel=squared_error_grad,
    prepare=prepare_regression,
    elementwise=True,
    sample_data=_regression_samples,
    examples=(
        "losscli mse preds.csv targets.csv",
        "losscli mse preds.npy targets.csv --grad --format json",
        "losscli mse preds.csv targets.csv --reduction none",
        "cat preds.csv | losscli mse - targets.csv --check",
    ),
    doc="""Mean squared error, as ``torch.nn.functional.mse_loss``.

Per row: ``L_i = (1/D) Σ_j (ŷ_ij − y_ij)²``. ``mean``: the mean over all N·D elements;
``sum``: the sum over all elements; ``none``: the N row values ``L_i``.

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``2(ŷ − y)/(N·D)`` under ``mean``, ``2(ŷ − y)`` under ``sum``,
and under ``none`` each row's own gradient ``2(ŷ − y)/D``.

>>> import losscli
>>> losscli.mse([1.0, 2.0], [0.0, 0.0])
2.5
>>> losscli.mse.grad([1.0, 2.0], [0.0, 0.0])
array([1., 2.])
""",
)
