"""Relative regression losses: the mean absolute percentage error and the mean squared
logarithmic error.

Both are *elementwise*: a row's loss is the mean over its D elements, ``mean`` is over all
N·D elements (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

import functools

import numpy as np

from ._base import Loss, Param, Prepared, check_same_shape, warn_counted
from ._common import check_option, positive_samples, regression_samples, reject_where, zero_hess
from .regression import prepare_regression

__all__ = ["mape", "msle"]

SKLEARN_EPSILON = float(np.finfo(np.float64).eps)  # sklearn's floor of |y| in MAPE
KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


# --------------------------------------------------------------------------- mape


def _mape_scale(targets: np.ndarray, epsilon: float, percent: bool) -> np.ndarray:
    """1/max(|y|, ε), times 100 for --percent."""
    return (100.0 if percent else 1.0) / np.maximum(np.abs(targets), epsilon)


def mape_values(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float, percent: bool
) -> np.ndarray:
    """|ŷ − y| / max(|y|, ε), ×100 with ``percent``."""
    return np.abs(predictions - targets) * _mape_scale(targets, epsilon, percent)


def mape_grad(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float, percent: bool
) -> np.ndarray:
    """sign(ŷ − y) / max(|y|, ε): 0 at ŷ = y, the subgradient torch and jax give |x| at 0."""
    return np.sign(predictions - targets) * _mape_scale(targets, epsilon, percent)


def mape_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float, percent: bool
) -> np.ndarray:
    """ŷ = y, where |ŷ − y| has no derivative."""
    return predictions == targets


def _floored_targets_text(epsilon: float, count, total, first, detail) -> str:
    return (
        f"{count} target{' has' if count == 1 else 's have'} |y| below --epsilon ({epsilon:g}) "
        f"and {'is' if count == 1 else 'are'} divided by it instead: MAPE is not meaningful for "
        "targets near 0"
    )


def _prepare_mape(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float, percent: bool
) -> Prepared:
    epsilon = check_option("epsilon", epsilon, low=0.0, low_open=True)
    prepared = prepare_regression(predictions, targets, epsilon=epsilon, percent=bool(percent))
    floored = int((np.abs(targets) < epsilon).sum())
    if floored:
        warn_counted(functools.partial(_floored_targets_text, epsilon), floored)
        prepared.describe["floored_targets"] = floored
    if percent:
        prepared.describe["percent"] = True
    return prepared


mape = Loss(
    name="mape",
    summary="Mean absolute percentage error (a fraction; --percent for ×100)",
    formula="mean over elements of |ŷ − y| / max(|y|, ε) (×100 with --percent)",
    gradient_formula="sign(ŷ − y)/max(|y|, ε)/(N·D) for mean (0 where ŷ = y); ×100 with --percent",
    reference=(
        "sklearn.metrics.mean_absolute_percentage_error; keras.losses.MeanAbsolutePercentageError "
        "with --percent --epsilon 1e-7"
    ),
    values=mape_values,
    grad_kernel=mape_grad,
    hess_kernel=zero_hess,
    hess_note="0 everywhere: |ŷ − y| is piecewise linear",
    kinks=mape_kinks,
    prepare=_prepare_mape,
    params=(
        Param(
            "epsilon",
            float,
            SKLEARN_EPSILON,
            "Floor of |y| in the denominator (> 0). Default: float64 machine epsilon, as "
            "scikit-learn; Keras uses 1e-7.",
        ),
        Param(
            "percent",
            bool,
            False,
            "Report percent (×100), as Keras does; default a fraction, as scikit-learn.",
        ),
    ),
    elementwise=True,
    sample_data=regression_samples,
    examples=(
        "losscli mape preds.csv targets.csv",
        "losscli mape preds.csv targets.csv --percent --epsilon 1e-7   # Keras's number",
    ),
    example=([[1.5, 2.0], [0.5, -1.0]], [[1.0, 2.5], [0.25, -2.0]], {}),
    doc="""Mean absolute percentage error, as ``sklearn.metrics.mean_absolute_percentage_error``.

Elementwise: ``|ŷ − y| / max(|y|, ε)`` — a fraction, not percent (0.1 means 10 %), with
``ε = 2.22e-16`` (float64 machine epsilon), as scikit-learn. Keras's
``MeanAbsolutePercentageError`` reports ×100 and floors ``|y|`` at ``1e-7``: pass
``percent=True, epsilon=1e-7`` (``--percent --epsilon 1e-7``) for its number. Rows are the mean
over their D elements (Keras's mean over the last axis); ``mean`` is over all N·D elements.
A warning counts targets with ``|y| < ε`` (divided by ε instead: huge values).

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``sign(ŷ − y)/max(|y|, ε)``, divided by N·D under ``mean``.
``|ŷ − y|`` has a kink at ``ŷ = y``: the subgradient there is 0, as torch and jax give ``|x|`` at
0. The Hessian is 0 everywhere.

>>> import losscli
>>> losscli.mape([1.5, 1.0], [1.0, 2.0])
0.5
>>> losscli.mape([1.5, 1.0], [1.0, 2.0], percent=True)
50.0
""",
)


# --------------------------------------------------------------------------- msle


def _msle_parts(p: np.ndarray, t: np.ndarray, floor: float | None):
    """(log1p(ŷ') − log1p(y'), ŷ', weight of ŷ's derivative) with ŷ' = max(ŷ, floor)."""
    if floor is None:
        return np.log1p(p) - np.log1p(t), p, 1.0
    pf = np.maximum(p, floor)
    # d max(ŷ, c)/dŷ: 1 above, 0 below, ½ at a tie (jax's choice, which Keras runs on).
    slope = np.where(p > floor, 1.0, np.where(p == floor, 0.5, 0.0))
    return np.log1p(pf) - np.log1p(np.maximum(t, floor)), pf, slope


def msle_values(predictions: np.ndarray, targets: np.ndarray, *, floor: float | None) -> np.ndarray:
    """(log(1 + ŷ) − log(1 + y))², ŷ and y floored at ``floor`` when it is given."""
    r, _, _ = _msle_parts(predictions, targets, floor)
    return r * r


def msle_grad(predictions: np.ndarray, targets: np.ndarray, *, floor: float | None) -> np.ndarray:
    """2(log1p ŷ − log1p y)/(1 + ŷ); 0 where ŷ is floored."""
    r, pf, slope = _msle_parts(predictions, targets, floor)
    return 2.0 * r / (1.0 + pf) * slope


def msle_hess(predictions: np.ndarray, targets: np.ndarray, *, floor: float | None) -> np.ndarray:
    """2(1 − (log1p ŷ − log1p y))/(1 + ŷ)²; 0 where ŷ is floored."""
    r, pf, slope = _msle_parts(predictions, targets, floor)
    return 2.0 * (1.0 - r) / np.square(1.0 + pf) * slope


def msle_kinks(predictions: np.ndarray, targets: np.ndarray, *, floor: float | None) -> np.ndarray:
    """ŷ = floor (only with a floor), where max(ŷ, floor) has no derivative."""
    if floor is None:
        return np.zeros(predictions.shape, dtype=bool)
    return predictions == floor


def _floored_predictions_text(floor: float, count, total, first, detail) -> str:
    return (
        f"{count} prediction{' lies' if count == 1 else 's lie'} below --floor ({floor:g}) and "
        f"{'is' if count == 1 else 'are'} raised to it (gradient 0 there)"
    )


def _prepare_msle(predictions: np.ndarray, targets: np.ndarray, *, floor: float | None) -> Prepared:
    if floor is not None:
        floor = check_option("floor", floor, low=-1.0, low_open=True)
    check_same_shape(predictions, targets)
    if floor is None:
        fix = "log(1 + x) needs x > −1 (pass --floor 1e-7 to floor values as Keras does)"
        reject_where(
            predictions <= -1, predictions, "msle predictions must be > −1", fix, role="predictions"
        )
        reject_where(targets <= -1, targets, "msle targets must be > −1", fix, role="targets")
    prepared = prepare_regression(predictions, targets, floor=floor)
    if floor is not None:
        prepared.describe["floor"] = floor
        floored = int((predictions < floor).sum())
        if floored:
            warn_counted(functools.partial(_floored_predictions_text, floor), floored)
    return prepared


msle = Loss(
    name="msle",
    summary="Mean squared logarithmic error: the mse of log(1 + ŷ) and log(1 + y)",
    formula="mean over elements of (log(1 + ŷ) − log(1 + y))²",
    gradient_formula="2(log(1 + ŷ) − log(1 + y))/(1 + ŷ)/(N·D) for mean",
    reference=(
        "sklearn.metrics.mean_squared_log_error; keras.losses.MeanSquaredLogarithmicError "
        "with --floor 1e-7"
    ),
    values=msle_values,
    grad_kernel=msle_grad,
    hess_kernel=msle_hess,
    hess_note="0 where --floor raises ŷ",
    kinks=msle_kinks,
    prepare=_prepare_msle,
    params=(
        Param(
            "floor",
            float,
            None,
            "Floor ŷ and y at this value before log(1 + ·), as Keras does with 1e-7 (the "
            "gradient is 0 where ŷ is raised). Default: no floor, and values must be > −1, as "
            "scikit-learn.",
            metavar="F",
        ),
    ),
    elementwise=True,
    sample_data=positive_samples,
    examples=(
        "losscli msle preds.csv targets.csv --grad",
        "losscli msle preds.csv targets.csv --floor 1e-7   # Keras's clipping",
    ),
    example=([[1.0, 3.0], [0.0, 7.0]], [[0.0, 1.0], [1.0, 7.0]], {}),
    doc="""Mean squared logarithmic error, as ``sklearn.metrics.mean_squared_log_error``.

Elementwise: ``(log(1 + ŷ) − log(1 + y))²`` (``log1p``), so values must be > −1, as scikit-learn
requires. Keras's ``MeanSquaredLogarithmicError`` first floors both ŷ and y at ``1e-7``
(``floor=1e-7``, ``--floor 1e-7``): negative predictions then cost as much as ``1e-7`` and get
gradient 0. Rows are the mean over their D elements (Keras's mean over the last axis); ``mean``
is over all N·D elements.

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``2r/(1 + ŷ)`` with ``r = log(1 + ŷ) − log(1 + y)``, divided by
N·D under ``mean``. Hessian diagonal: ``2(1 − r)/(1 + ŷ)²`` (negative where ``r > 1``: the loss
is not convex in ŷ there). With a floor, both are 0 where ``ŷ < floor``, and halved at
``ŷ = floor`` (the kink; jax's derivative of ``max`` at a tie, which Keras runs on).

>>> import losscli
>>> round(losscli.msle([3.0], [1.0]), 12)
0.480453013918
>>> losscli.msle.grad([3.0], [1.0])
array([0.34657359])
""",
)
