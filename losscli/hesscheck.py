"""Finite-difference checks of second derivatives: the Hessian diagonal of any registered loss.

The numeric Hessian diagonal is the central difference of the *analytic gradient*,
``(g(x + h·e_j) − g(x − h·e_j))_j / 2h``, element by element; the comparison, the verdict and
the tolerances are those of the gradient check (:func:`losscli.gradcheck.compare`, a
:class:`~losscli.gradcheck.CheckResult`), so the table and the exit codes are the same.

As for the gradient, separability saves work: an elementwise loss's gradient at element j
depends on element j alone (all elements perturbed at once: 2 gradient evaluations); a row loss's
on its own row (one column of every row at a time: 2·C evaluations); a loss with a final
transform (rmse) is perturbed one element at a time through the reduced gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .errors import UsageError
from .gradcheck import DEFAULT_ATOL, DEFAULT_EPS, DEFAULT_RTOL, KINK, CheckResult, compare
from .losses import Loss, Prepared
from .losses._base import warn

__all__ = ["hesscheck", "mark_kinks", "numeric_hessian_diagonal", "warn_on_kinks"]


def numeric_hessian_diagonal(
    loss: Loss,
    prepared: Prepared,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
    scale: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Central differences of the analytic gradient: the Hessian diagonal of the reduced loss
    (for ``none``: of each row's own loss), shaped like the predictions. ``scale``: the
    reduction's chain rule for rows' own diagonals, when these rows are a block of a larger
    input (a separable loss; default: the reduction over these rows)."""
    x = prepared.predictions
    if not loss.separable:
        return _per_element(loss, prepared, reduction, sample_weights, eps)
    if loss.elementwise:
        plus = loss.row_grad(_with(prepared, x + eps))
        minus = loss.row_grad(_with(prepared, x - eps))
        row_hess = (plus - minus) / (2.0 * eps)
    else:
        columns = x.reshape(len(x), -1)
        row_hess = np.empty_like(columns)
        shifted = columns.copy()
        at = _with(prepared, shifted.reshape(x.shape))
        for j in range(columns.shape[1]):
            shifted[:, j] = columns[:, j] + eps
            plus = loss.row_grad(at).reshape(len(x), -1)[:, j]
            shifted[:, j] = columns[:, j] - eps
            minus = loss.row_grad(at).reshape(len(x), -1)[:, j]
            shifted[:, j] = columns[:, j]
            row_hess[:, j] = (plus - minus) / (2.0 * eps)
        row_hess = row_hess.reshape(x.shape)
    if scale is not None:
        return scale(row_hess)
    return loss.scale_row_grad(row_hess, prepared, reduction, sample_weights)


def _per_element(
    loss: Loss, prepared: Prepared, reduction: str, sample_weights: Any, eps: float
) -> np.ndarray:
    x = prepared.predictions
    hess = np.empty_like(x)
    shifted = x.copy()
    at = _with(prepared, shifted)
    for idx in np.ndindex(x.shape):
        original = x[idx]
        shifted[idx] = original + eps
        plus = loss.reduce_grad(at, reduction=reduction, sample_weights=sample_weights)[idx]
        shifted[idx] = original - eps
        minus = loss.reduce_grad(at, reduction=reduction, sample_weights=sample_weights)[idx]
        shifted[idx] = original
        hess[idx] = (plus - minus) / (2.0 * eps)
    return hess


def _with(prepared: Prepared, predictions: np.ndarray) -> Prepared:
    return replace(prepared, predictions=predictions)


def hesscheck(
    loss: Loss,
    predictions: Any,
    targets: Any,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    analytic: np.ndarray | None = None,
    prepared: Prepared | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``loss``'s analytic Hessian diagonal (or a given ``analytic`` one) by central
    differences of its analytic gradient; an element passes when ``|a − n| ≤ atol + rtol·|n|``,
    as in :func:`losscli.gradcheck`. Elements on a kink of the gradient (``loss.hess_kinks``:
    huber at |e| = δ, mae at e = 0) are not counted as failures, with a warning: the Hessian
    does not exist there and no finite difference agrees with any value.

    >>> import losscli
    >>> from losscli.hesscheck import hesscheck
    >>> hesscheck(losscli.cross_entropy, [[2.0, 0.5, -1.0]], [0], logits=True).passed
    True
    """
    for name, value, positive in (("eps", eps, True), ("rtol", rtol, False), ("atol", atol, False)):
        if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            bound = "a positive number" if positive else "a number ≥ 0"
            raise UsageError(f"--{name} must be {bound}, got {value!r}")
    if prepared is None:
        prepared = loss.prepare_inputs(predictions, targets, **options)
    if analytic is None:
        analytic = loss.reduce_hess(prepared, reduction=reduction, sample_weights=sample_weights)
    numeric = numeric_hessian_diagonal(
        loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
    )
    result = compare(prepared.predictions, analytic, numeric, eps=eps, rtol=rtol, atol=atol)
    result, on_kink = mark_kinks(loss, prepared, result)
    warn_on_kinks(loss, on_kink)
    return result


def mark_kinks(loss: Loss, prepared: Prepared, result: CheckResult) -> tuple[CheckResult, int]:
    """``result`` with the failing elements on a kink of the gradient (``loss.hess_kinks``, or
    the loss's own ``kinks``) labelled "kink", never a failure (as the gradient's), and how
    many there are (any block of rows: the counts add up)."""
    marks = loss.hess_kinks or loss.kinks
    if marks is None or result.passed:
        return result, 0
    kinks = np.asarray(
        marks(prepared.predictions, prepared.targets, **prepared.options), dtype=bool
    )
    on_kink = int((kinks & ~result.ok).sum())
    if not on_kink:
        return result, 0
    codes = np.where(kinks & ~result.ok, KINK, result.status_codes).astype(np.int8)
    return replace(result, codes=codes), on_kink


def warn_on_kinks(loss: Loss, on_kink: int) -> None:
    """The warning for elements on a kink of the gradient, where the Hessian does not exist."""
    if on_kink:
        warn(
            f"{on_kink} element(s) lie on a kink of {loss.name}'s gradient, where the Hessian "
            "does not exist (a central difference there is about 1/eps, or the average of the "
            "two sides); they are shown but not counted as failures"
        )
