"""Finite-difference gradient checks over any registered loss.

Central differences ``(L(x + h) − L(x − h)) / 2h``, compared element-wise as
``torch.autograd.gradcheck`` does: an element passes when
``|analytic − numeric| ≤ atol + rtol·|numeric|``.

The losses are row-separable, so the check does not need two loss evaluations per element:
perturbing column j in every row at once gives the partial derivatives of every row's loss with
respect to its own column j — 2·D evaluations for N × D inputs. Elementwise losses (MSE) are
separable per element: all elements at once, 2 evaluations. A loss that is not separable (rmse:
the square root of the whole mean) is perturbed one element at a time, 2·N·D evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import UsageError
from .losses import Loss, Prepared
from .losses._base import warn
from .parallel import map_row_blocks

__all__ = ["CheckResult", "gradcheck", "numeric_gradient", "compare"]

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
# Rows per block × columns in the column-batched check: big enough that the D evaluations of
# a block (on its rows stacked twice) spend little of their time in Python, holding the GIL
# that other threads wait for; small enough to stay in the CPU cache.
BLOCK_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class CheckResult:
    """Element-wise comparison of an analytic gradient with a numeric one (same shape)."""

    inputs: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    eps: float
    rtol: float
    atol: float

    @property
    def abs_err(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @property
    def rel_err(self) -> np.ndarray:
        """``|a − n| / max(|a|, |n|, atol)``.

        Floored at ``atol`` so that elements too small to matter (where finite differences are
        pure rounding noise) do not report relative errors near 1; never infinite.
        """
        scale = np.maximum(np.maximum(np.abs(self.analytic), np.abs(self.numeric)), self.atol)
        return self.abs_err / scale

    @property
    def badness(self) -> np.ndarray:
        """Error as a fraction of the allowed error: > 1 fails."""
        return self.abs_err / (self.atol + self.rtol * np.abs(self.numeric))

    @property
    def ok(self) -> np.ndarray:
        # NaN compares false, so a NaN anywhere fails.
        return self.abs_err <= self.atol + self.rtol * np.abs(self.numeric)

    @property
    def checked(self) -> int:
        return int(self.analytic.size)

    @property
    def failed(self) -> int:
        return int(self.checked - self.ok.sum())

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def max_abs_err(self) -> float:
        return float(np.max(self.abs_err))

    @property
    def max_rel_err(self) -> float:
        return float(np.max(self.rel_err))

    def worst(self, k: int) -> list[tuple[int, ...]]:
        """Indices of the ``k`` elements closest to failing (or furthest past it), worst first."""
        badness = np.nan_to_num(self.badness.reshape(-1), nan=np.inf)
        k = min(k, badness.size)
        top = np.argpartition(-badness, k - 1)[:k] if k < badness.size else np.arange(k)
        top = top[np.argsort(-badness[top], kind="stable")]
        return [tuple(int(i) for i in np.unravel_index(f, self.analytic.shape)) for f in top]


def compare(
    inputs: np.ndarray,
    analytic: np.ndarray,
    numeric: np.ndarray,
    *,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> CheckResult:
    return CheckResult(inputs, analytic, numeric, eps, rtol, atol)


def numeric_gradient(
    loss: Loss,
    prepared: Prepared,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
) -> np.ndarray:
    """Central-difference gradient of the reduced loss w.r.t. the predictions."""
    x = prepared.predictions
    if not loss.separable:
        return _numeric_per_element(loss, prepared, reduction, sample_weights, eps)
    if loss.elementwise:
        # Each element's loss depends on that element alone: perturb them all at once.
        plus = loss.values(x + eps, prepared.targets, **prepared.options)
        minus = loss.values(x - eps, prepared.targets, **prepared.options)
        per_element = (plus - minus) / (2.0 * eps)
        row_grad = per_element / x.shape[1] if x.ndim == 2 else per_element
    else:
        # A block of rows at a time, so the 2·D evaluations over it run in the CPU cache;
        # runs of blocks in threads (each row's differences are the same in any thread).
        row_grad = np.empty_like(x)
        step = max(1, BLOCK_ELEMENTS // max(1, x[0].size))
        width = max(1, x[0].size)

        def blocks(part: slice) -> None:
            for start in range(part.start, part.stop, step):
                rows = slice(start, min(part.stop, start + step))
                row_grad[rows] = _column_batched(loss, prepared.take_rows(rows), eps)

        map_row_blocks(blocks, len(x), 2 * width * width, align=step)
    return loss.scale_row_grad(row_grad, prepared, reduction, sample_weights)


def _numeric_per_element(
    loss: Loss, prepared: Prepared, reduction: str, sample_weights: Any, eps: float
) -> np.ndarray:
    """One element at a time, through the whole reduced loss (for ``none``: its own row's)."""
    x = prepared.predictions
    grad = np.empty_like(x)
    shifted = x.copy()

    def reduced(at: tuple[int, ...]) -> float:
        value = loss.reduce_values(
            replace(prepared, predictions=shifted),
            reduction=reduction,
            sample_weights=sample_weights,
        )
        return float(value[at[0]]) if reduction == "none" else float(value)

    for idx in np.ndindex(x.shape):
        original = x[idx]
        shifted[idx] = original + eps
        plus = reduced(idx)
        shifted[idx] = original - eps
        minus = reduced(idx)
        shifted[idx] = original
        grad[idx] = (plus - minus) / (2.0 * eps)
    return grad


def _column_batched(loss: Loss, prepared: Prepared, eps: float) -> np.ndarray:
    """Each row's own gradient by central differences, one column of every row at a time. The
    rows shifted up and the rows shifted down are evaluated in one call, on the rows stacked
    twice: half the calls (each row's loss depends on that row alone, so its value is the same
    bits either way)."""
    x = prepared.predictions
    n = len(x)
    # A vector is N rows of one column (kl takes one, as torch does): perturb it as such.
    columns = x.reshape(n, -1)
    shifted = np.concatenate([columns, columns])
    # a view of shifted, which is changed in place below
    at = _stacked_twice(prepared, shifted.reshape((2 * n, *x.shape[1:])))
    row_grad = np.empty_like(columns)
    for j in range(columns.shape[1]):
        original = columns[:, j]
        shifted[:n, j] = original + eps
        shifted[n:, j] = original - eps
        values = loss.row_values(at)
        shifted[:n, j] = shifted[n:, j] = original
        row_grad[:, j] = (values[:n] - values[n:]) / (2.0 * eps)
    return row_grad.reshape(x.shape)


def _stacked_twice(prepared: Prepared, predictions: np.ndarray) -> Prepared:
    """``prepared`` with its rows twice over (targets and per-row options), and ``predictions``."""

    def twice(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, a])

    options = {
        k: twice(v) if k in prepared.per_row and v is not None else v
        for k, v in prepared.options.items()
    }
    return replace(
        prepared, predictions=predictions, targets=twice(prepared.targets), options=options
    )


def gradcheck(
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
    """Check ``loss``'s analytic gradient (or a given ``analytic`` one) by finite differences.

    The numeric gradient is the central difference ``n = (L(x + h) − L(x − h)) / 2h`` with
    ``h = eps``, taken of the loss reduced as ``reduction`` says; an element passes when
    ``|a − n| ≤ atol + rtol·|n|``, as ``torch.autograd.gradcheck`` decides. ``options`` are the
    loss's own (``logits=True``, …). Returns a :class:`CheckResult` (``passed``, ``failed``,
    ``max_abs_err``, ``worst(k)``, the arrays); raises :class:`~losscli.UsageError` for
    ``eps ≤ 0`` or a negative tolerance.

    >>> import losscli
    >>> result = losscli.gradcheck(losscli.mse, [[1.0, 2.0]], [[0.0, 1.0]])
    >>> result.passed, result.checked
    (True, 2)
    >>> losscli.gradcheck(losscli.cross_entropy, [[2.0, 0.5]], [0], logits=True).passed
    True
    """
    _check_settings(eps=eps, rtol=rtol, atol=atol)
    if prepared is None:
        prepared = loss.prepare_inputs(predictions, targets, **options)
    if analytic is None:
        analytic = loss.reduce_grad(prepared, reduction=reduction, sample_weights=sample_weights)
    _warn_if_step_is_lost(prepared.predictions, eps)
    numeric = numeric_gradient(
        loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
    )
    return compare(prepared.predictions, analytic, numeric, eps=eps, rtol=rtol, atol=atol)


def _check_settings(*, eps: float, rtol: float, atol: float) -> None:
    """A step of 0, a negative or NaN tolerance would make every check fail (or pass)
    for reasons that have nothing to do with the gradient: refuse them up front."""
    if not (math.isfinite(eps) and eps > 0):
        raise UsageError(f"--eps must be a positive number, got {eps!r}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--{name} must be a number ≥ 0, got {value!r}")


def _warn_if_step_is_lost(x: np.ndarray, eps: float) -> None:
    """Where |x| is so large that x ± eps rounds away much of the step, the central difference
    is noise: the check would fail for a reason that is not the gradient's. Say so."""
    with np.errstate(over="ignore", invalid="ignore"):
        step = (x + eps) - (x - eps)
    lost = ~(np.abs(step - 2.0 * eps) <= 0.01 * 2.0 * eps)
    if lost.any():
        biggest = float(np.max(np.abs(x[lost])))
        warn(
            f"the finite-difference step --eps {eps:g} is lost to rounding at {int(lost.sum())} "
            f"of {x.size} elements (|x| up to {biggest:.3g}), so the numeric gradient there is "
            f"unreliable; try --eps {6e-6 * biggest:.0e}"
        )
