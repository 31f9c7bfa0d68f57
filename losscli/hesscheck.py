"""Finite-difference checks of second derivatives: the Hessian diagonal of any registered loss.

The numeric Hessian diagonal is the central difference of the *analytic gradient*,
``(g(x + h·e_j) − g(x − h·e_j))_j / 2h``, element by element; the comparison, the verdict and
the tolerances are those of the gradient check (:func:`losscli.gradcheck.compare`, a
:class:`~losscli.gradcheck.CheckResult`), so the table and the exit codes are the same.

As for the gradient, separability saves work: an elementwise loss's gradient at element j
depends on element j alone (all elements perturbed at once: 2 gradient evaluations); a row loss's
on its own row (one column of every row at a time: 2·C evaluations); a loss with a final
transform (rmse) moves one element at a time too, all elements at once: element i of the
analytic gradient with element i alone moved is a closed form in the merged sums
(:meth:`Loss.moved_grad`), so a block of rows is differenced against the whole input's mean,
2 evaluations, streamed.
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
    sums: tuple[float, float, int] | None = None,
) -> np.ndarray:
    """Central differences of the analytic gradient: the Hessian diagonal of the reduced loss
    (for ``none``: of each row's own loss), shaped like the predictions. ``scale``: the
    reduction's chain rule for rows' own diagonals, when these rows are a block of a larger
    input (a separable loss; default: the reduction over these rows). ``sums``: a loss with
    a transform (rmse): the merged ``(total, denominator, exponent)`` of the whole input
    (a :class:`~losscli.states.LossState`'s) when these rows are a block of it, see
    :func:`_moved`."""
    x = prepared.predictions
    if not loss.separable:
        if loss.elementwise:
            return _moved(loss, prepared, reduction, sample_weights, eps, sums)
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


def _moved(
    loss: Loss,
    prepared: Prepared,
    reduction: str,
    sample_weights: Any,
    eps: float,
    sums: tuple[float, float, int] | None,
) -> np.ndarray:
    """rmse: H_ii ≈ (g_i(x_i + h) − g_i(x_i − h))/2h, g_i the analytic gradient's element i
    with element i alone moved (:meth:`Loss.moved_grad`: the merged mean moved by that
    element's change of its square), so any block of rows is differenced against the whole
    input's sums, in O(N·D). Errors beyond 2^±400 (``exponent`` = 2k of the state, or of
    ``prepared``; under ``none`` each row's own k_i) are differenced scaled by 2^-k with the
    step h = eps in those units, i.e. eps·2^k: the gradient e/(D·N·rmse) is scale-free, so
    the diagonal is the scaled one times 2^-k (as :meth:`Loss.finish_hess`)."""
    if reduction == "none":
        k = loss.row_scales(prepared)
        part, inner = (prepared if k is None else prepared.scaled_rows(k)), None
    else:
        if sums is None:
            k = loss.square_scale(prepared, reduction)
            inner = None
        else:
            k, inner = sums[2] // 2, (sums[0], sums[1])
        part = prepared.scaled(k) if k else prepared
    plus, minus = (
        loss.moved_grad(part, h, reduction=reduction, sample_weights=sample_weights, sums=inner)
        for h in (eps, -eps)
    )
    hess = (plus - minus) / (2.0 * eps)
    if k is None or not np.any(k):
        return hess
    k = np.asarray(k)
    return np.ldexp(hess, -k.reshape(-1, *(1,) * (hess.ndim - 1)) if k.ndim else -int(k))


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
    sums: tuple[float, float, int] | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``loss``'s analytic Hessian diagonal (or a given ``analytic`` one) by central
    differences of its analytic gradient; an element passes when ``|a − n| ≤ atol + rtol·|n|``,
    as in :func:`losscli.gradcheck`. Elements on a kink of the gradient (``loss.hess_kinks``:
    huber at |e| = δ, mae at e = 0) are not counted as failures, with a warning: the Hessian
    does not exist there and no finite difference agrees with any value. ``sums``: rmse's
    merged ``(total, denominator, exponent)`` when the caller has them (a run's state).

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
        loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps, sums=sums
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
