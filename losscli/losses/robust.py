"""Robust regression losses of the error e = ŷ − y: log-cosh and the pinball (quantile) loss.

Both are *elementwise*: a row's loss is the mean over its D elements, ``mean`` is over all
N·D elements (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

import math

import numpy as np

from ._base import Loss, Param, Prepared
from ._common import check_option, positive_samples, regression_samples, zero_hess
from .regression import prepare_regression

__all__ = [
    "log_cosh",
    "log_cosh_grad",
    "log_cosh_hess",
    "log_cosh_values",
    "pinball",
]

LOG2 = math.log(2.0)


# --------------------------------------------------------------------------- log-cosh


def log_cosh_values(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log cosh(ŷ − y), elementwise, accurate for every |e|: ``log1p(2 sinh²(|e|/2))`` below
    |e| = 1 (no cancellation near 0), ``|e| + log1p(e^−2|e|) − log 2`` above (no overflow)."""
    a = np.abs(predictions - targets)
    small = a < 1.0
    out = a + np.log1p(np.exp(-2.0 * a)) - LOG2
    s = np.sinh(0.5 * a[small])
    out[small] = np.log1p(2.0 * s * s)
    return out


def log_cosh_grad(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d log cosh(e)/dŷ = tanh(e)."""
    return np.tanh(predictions - targets)


def log_cosh_hess(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d² log cosh(e)/dŷ² = sech²(e) = 4e^−2|e|/(1 + e^−2|e|)², exact also where 1 − tanh²
    would cancel to 0."""
    x = np.exp(-2.0 * np.abs(predictions - targets))
    return 4.0 * x / np.square(1.0 + x)


log_cosh = Loss(
    name="log-cosh",
    summary="Log-cosh loss: ½e² for small errors, |e| − log 2 for large ones",
    formula="mean over elements of log cosh(ŷ − y)",
    gradient_formula="tanh(ŷ − y)/(N·D) for mean; tanh(ŷ − y) for sum",
    reference="optax.losses.log_cosh; keras.losses.log_cosh (mean over the last axis)",
    values=log_cosh_values,
    grad_kernel=log_cosh_grad,
    hess_kernel=log_cosh_hess,
    prepare=prepare_regression,
    elementwise=True,
    sample_data=regression_samples,
    examples=(
        "losscli log-cosh preds.csv targets.csv --grad",
        "losscli log-cosh preds.npy targets.npy --reduction none",
    ),
    example=([[0.5, 3.0], [-2.0, 1.0]], [[0.0, 0.0], [0.0, 1.5]], {}),
    doc="""Log-cosh loss, as ``optax.losses.log_cosh`` (unreduced) and ``keras.losses.log_cosh``.

Elementwise, with ``e = ŷ − y``: ``log cosh(e)``, about ``½e²`` for small ``|e|`` and
``|e| − log 2`` for large ones; computed without overflow for any ``|e|`` and without
cancellation near 0. Rows are the mean over their D elements (Keras's mean over the last
axis); ``mean`` is over all N·D elements (``jnp.mean(optax.losses.log_cosh(p, y))``).

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``tanh(e)``, divided by N·D under ``mean``. Hessian diagonal:
``sech²(e) = 1 − tanh²(e)`` (positive everywhere, but it decays like ``4e^−2|e|``, so a Newton
step on a large error is huge).

>>> import losscli
>>> round(losscli.log_cosh([0.0, 1.0], [0.0, 0.0], reduction="sum"), 12)
0.433780830483
>>> losscli.log_cosh.grad([0.0, 1.0], [0.0, 0.0], reduction="sum")
array([0.        , 0.76159416])
""",
)


# --------------------------------------------------------------------------- pinball


def pinball_values(predictions: np.ndarray, targets: np.ndarray, *, quantile: float) -> np.ndarray:
    """q·(y − ŷ) where y ≥ ŷ, else (1 − q)·(ŷ − y)."""
    diff = targets - predictions
    return np.where(diff >= 0, quantile * diff, (quantile - 1.0) * diff)


def pinball_grad(predictions: np.ndarray, targets: np.ndarray, *, quantile: float) -> np.ndarray:
    """−q where y ≥ ŷ (including the kink ŷ = y, as sklearn's branch and LightGBM's quantile
    objective take it), else 1 − q."""
    return np.where(targets - predictions >= 0, -quantile, 1.0 - quantile)


def pinball_kinks(predictions: np.ndarray, targets: np.ndarray, *, quantile: float) -> np.ndarray:
    """ŷ = y, where the slope jumps from −q to 1 − q."""
    return predictions == targets


def _prepare_pinball(predictions: np.ndarray, targets: np.ndarray, *, quantile: float) -> Prepared:
    q = check_option("quantile", quantile, low=0.0, high=1.0)
    prepared = prepare_regression(predictions, targets, quantile=q)
    prepared.describe["quantile"] = q
    return prepared


pinball = Loss(
    name="pinball",
    aliases=("quantile",),
    summary="Pinball (quantile) loss at quantile q",
    formula="mean over elements of q·max(y − ŷ, 0) + (1 − q)·max(ŷ − y, 0)",
    gradient_formula="−q where ŷ ≤ y, 1 − q where ŷ > y; divided by N·D for mean",
    reference="sklearn.metrics.mean_pinball_loss (alpha = q)",
    values=pinball_values,
    grad_kernel=pinball_grad,
    hess_kernel=zero_hess,
    hess_note="0 everywhere: the loss is piecewise linear (a GBDT needs a Hessian floor)",
    kinks=pinball_kinks,
    prepare=_prepare_pinball,
    params=(
        Param(
            "quantile",
            float,
            0.5,
            "The quantile q in [0, 1] the predictions aim at (sklearn's alpha); 0.5 gives half "
            "the mean absolute error.",
            metavar="Q",
        ),
    ),
    elementwise=True,
    sample_data=positive_samples,
    examples=(
        "losscli pinball preds.csv targets.csv --quantile 0.9",
        "losscli quantile preds.npy targets.npy --quantile 0.1 --grad",
    ),
    example=([[0.5, 3.0], [-2.0, 1.0]], [[0.0, 0.0], [0.0, 1.5]], {"quantile": 0.9}),
    doc="""Pinball (quantile) loss, as ``sklearn.metrics.mean_pinball_loss(y, ŷ, alpha=q)``.

Elementwise: ``q·(y − ŷ)`` where ``y ≥ ŷ`` (under-prediction), ``(1 − q)·(ŷ − y)`` where
``ŷ > y``; minimised in expectation by the q-quantile of y. Rows are the mean over their D
elements; ``mean`` is over all N·D elements (sklearn's ``uniform_average`` of the D column
means equals it).

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``. ``quantile`` lies in
(0, 1).

Gradient w.r.t. ``predictions``: ``−q`` where ``ŷ < y``, ``1 − q`` where ``ŷ > y``, divided by
N·D under ``mean``. At the kink ``ŷ = y`` losscli returns ``−q``: the branch sklearn's formula
takes there (``y − ŷ ≥ 0``; torch autograd of it gives ``−q``), and LightGBM's ``quantile``
objective's gradient. The Hessian is 0 everywhere.

>>> import losscli
>>> losscli.pinball([1.0, 3.0], [2.0, 2.0], quantile=0.9)
0.5
>>> losscli.pinball.grad([1.0, 3.0], [2.0, 2.0], quantile=0.9, reduction="sum")
array([-0.9,  0.1])
""",
)
