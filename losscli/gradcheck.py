"""Finite-difference gradient checks over any registered loss.

The estimate (see ``docs/check.md``)
    Each element ``x_i`` gets its own step ``h_i = eps·max(1, |x_i|)`` rounded down to a power
    of two, so that ``x ± h`` and ``x ± h/2`` are exact and a step never drowns in the rounding
    of a large input. Central differences at ``h`` and ``h/2``, ``D(h)`` and ``D(h/2)``, are
    combined by Richardson extrapolation into ``n = (4·D(h/2) − D(h))/3``, whose error is
    ``O(h⁴)`` instead of ``O(h²)``. Its error bar is ``|D(h/2) − D(h)|`` (the truncation error of
    the cruder of the two, a bound on the extrapolated one) plus the rounding error,
    ``12·ε·s/h`` with ``ε`` the machine epsilon and ``s`` the size of the loss (its largest
    evaluated value plus ``|x·n|``).

The verdict
    An element passes when ``|a − n| ≤ atol + rtol·|n| + error``: ``rtol`` and ``atol`` are the
    user's tolerances (``torch.autograd.gradcheck``'s rule), ``error`` the estimate's own
    uncertainty, so a coarse step or a large input cannot fail a correct gradient.

Kinks and clamps
    Where ``loss.kinks`` marks an element (|e| at 0), or where the one-sided derivatives
    ``(L(x + h) − L(x))/h`` and ``(L(x) − L(x − h))/h`` (each Richardson-extrapolated) disagree
    beyond their error bars and the central estimate fails (a kink within the step), the
    analytic value is accepted anywhere in the subgradient interval [left, right]: status
    ``kink``, not a failure. Where ``loss.clamps`` marks an element (a clamped log or
    probability), the analytic gradient follows the reference library's convention rather than
    the clamped function: status ``clamped``, never a failure. Where one side of the step leaves
    the loss's domain (a NaN), the other side's one-sided estimate is used.

Speed
    The losses are row-separable, so the check does not need loss evaluations per element:
    perturbing column j in every row at once gives the partial derivatives of every row's loss
    with respect to its own column j — the four shifted copies of the rows are evaluated in one
    call on the rows stacked four times, D calls for N × D inputs. Elementwise losses (MSE) are
    separable per element: all elements at once, 5 evaluations. rmse, the square root of the
    whole mean, is not separable, but its squared errors are: they are differenced as rows,
    the √ of the merged mean applied by the chain rule (:func:`check_reduced_rows`).

Sampling
    ``max_elements`` checks a seeded sample of rows of a larger input; the choice of a row
    depends only on its index and the seed (:func:`row_sample`), so any split of the rows into
    blocks samples the same rows. The result says so (``sampled``, ``population``, ``seed``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from .errors import UsageError
from .losses import Loss, Prepared
from .losses._base import warn
from .parallel import map_row_blocks

__all__ = [
    "CheckResult",
    "Element",
    "check_reduced_rows",
    "check_rows",
    "Estimate",
    "STATUSES",
    "StreamedCheck",
    "compare",
    "estimate",
    "gradcheck",
    "numeric_gradient",
    "order_key",
    "row_sample",
    "sample_note",
    "warn_if_uncertain",
]

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
# Above this many elements the CLI checks a seeded sample of rows (in memory and streamed).
MAX_CHECKED = 1 << 22
# Rows per block × columns in the column-batched check: big enough that the D evaluations of
# a block (on its rows stacked four times) spend little of their time in Python, holding the
# GIL that other threads wait for; small enough to stay in the CPU cache.
BLOCK_ELEMENTS = 1 << 15
# Rounding error of one loss evaluation, in units of ε·|L|: the error bar's rounding term.
ROUNDING_ULPS = 4.0
# A row loss is differenced at a second step (and extrapolated) where some element of the row
# does not pass at the first step with this fraction of its tolerance to spare.
REFINE_AT = 0.1

STATUSES = ("ok", "FAIL", "kink", "clamped")
OK, FAIL, KINK, CLAMPED = range(4)
_EPSILON = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Sides:
    """One-sided (Richardson-extrapolated) derivatives at some elements: ``index`` holds their
    flat positions, the other arrays one value each."""

    index: np.ndarray
    left: np.ndarray
    left_error: np.ndarray
    right: np.ndarray
    right_error: np.ndarray


@dataclass(frozen=True)
class Estimate:
    """Finite-difference estimates of a gradient, shaped like the inputs.

    ``numeric`` is the Richardson-extrapolated central difference (at elements differenced at
    one step only, the central difference) and ``error`` its error bar; ``step`` is the ``h``
    each element was perturbed by; ``sides`` the one-sided derivatives where they were formed.
    """

    numeric: np.ndarray
    error: np.ndarray
    step: np.ndarray
    sides: Sides | None = None

    def scaled(self, scale: Callable[[np.ndarray], np.ndarray]) -> Estimate:
        """The estimate of ``scale(gradient)`` for a linear, non-negative, elementwise
        ``scale`` (the chain rule of a reduction: dividing by N, multiplying by sample
        weights)."""
        sides = self.sides
        if sides is not None:
            factor = scale(np.ones_like(self.numeric)).reshape(-1)[sides.index]
            sides = Sides(
                sides.index,
                sides.left * factor,
                sides.left_error * factor,
                sides.right * factor,
                sides.right_error * factor,
            )
        return Estimate(scale(self.numeric), np.abs(scale(self.error)), self.step, sides)


def steps(x: np.ndarray, eps: float) -> np.ndarray:
    """``eps·max(1, |x|)`` rounded down to a power of two (so ``x ± h``, ``x ± h/2`` are exact
    wherever ``h`` is at least a few units in the last place of ``x``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.array(x, dtype=np.float64)  # a copy, changed in place
        np.abs(scale, out=scale)
        np.maximum(scale, 1.0, out=scale)
        scale *= eps
    if (
        scale.size
        and np.isfinite(lo_hi := np.array([scale.min(), scale.max()])).all()
        and (lo_hi[0] >= _TINY)
    ):
        # normal numbers: clearing the mantissa's bits leaves the power of two below (as
        # frexp/ldexp, which also take subnormals, inf and NaN, ten times slower)
        scale.view(np.uint64)[...] &= _EXPONENT_BITS
        return scale
    _, exponent = np.frexp(scale)
    return np.ldexp(0.5, exponent)


_TINY = float(np.finfo(np.float64).tiny)  # the least normal float64
_EXPONENT_BITS = np.uint64(0xFFF0000000000000)  # sign and exponent of a float64


def _rounding(x, h, base, numeric):
    """A few ulps of the size of the computation (the loss plus |x·n|) over h: the rounding
    error of one difference quotient."""
    out = np.asarray(np.multiply(x, numeric))
    np.abs(out, out=out)
    out += np.abs(base)
    out *= ROUNDING_ULPS * _EPSILON
    out /= h
    return out


def _combine(x, h, base, values) -> Estimate:
    """The five loss values at ``x``, ``x ± h``, ``x ± h/2`` (row losses or the reduced loss)
    → an :class:`Estimate` (with one-sided derivatives at every element). ``values`` =
    (L(x + h), L(x − h), L(x + h/2), L(x − h/2)); the points themselves are recomputed here so
    the differences use the steps actually taken."""
    up1, down1, up2, down2 = values
    with np.errstate(all="ignore"):
        du1, dd1 = (x + h) - x, x - (x - h)
        du2, dd2 = (x + h / 2) - x, x - (x - h / 2)
        central1 = (up1 - down1) / (du1 + dd1)
        central2 = (up2 - down2) / (du2 + dd2)
        numeric = central2 + (central2 - central1) / 3.0
        right1, right2 = (up1 - base) / du1, (up2 - base) / du2
        left1, left2 = (base - down1) / dd1, (base - down2) / dd2
        rounding = _rounding(x, h, base, numeric)
        left, right = 2.0 * left2 - left1, 2.0 * right2 - right1
        # truncation: |n − D(h/2)| = |D(h/2) − D(h)|/3, the correction the extrapolation
        # made, bounds the error left in n (O(h⁴) against O(h²)) once h is small enough for
        # the expansion to hold; rounding: (4·δ(h/2) + δ(h))/3 ≤ 3δ, δ ≤ `rounding` per
        # difference quotient (one-sided: 2·2δ + 2δ, doubled for the halved step: 10δ)
        error = np.abs(central2 - central1) / 3.0 + 3.0 * rounding
        # each side's rounding from its own estimate (the central one is NaN at a domain edge)
        left_error = np.abs(left2 - left1) + 10.0 * _rounding(x, h, base, left)
        right_error = np.abs(right2 - right1) + 10.0 * _rounding(x, h, base, right)
        sides = Sides(
            np.arange(np.size(x)),
            left.reshape(-1),
            left_error.reshape(-1),
            right.reshape(-1),
            right_error.reshape(-1),
        )
    return Estimate(numeric, error, h, sides)


def _shifted(x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, ...]:
    return (x + h, x - h, x + h / 2, x - h / 2)


def _coarse(x, h, base, up, down) -> Estimate:
    """The central difference at h alone, its error bar the rounding part only (no truncation
    estimate without a second step); no one-sided estimates."""
    with np.errstate(all="ignore"):
        taken = np.add(x, h)
        taken -= x - h
        numeric = np.subtract(up, down)
        numeric /= taken
        return Estimate(numeric, _rounding(x, h, base, numeric), h)


def estimate(
    loss: Loss,
    prepared: Prepared,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
) -> Estimate:
    """Finite-difference estimate of the gradient of the reduced loss w.r.t. the predictions
    (for ``none``: of each row's own loss), with its error bars (see the module docstring),
    Richardson-extrapolated at every element."""
    if not loss.separable:
        return _per_element(loss, prepared, reduction, sample_weights, eps)
    rows = row_estimate(loss, prepared, eps=eps)
    return rows.scaled(lambda a: loss.scale_row_grad(a, prepared, reduction, sample_weights))


def row_estimate(
    loss: Loss,
    prepared: Prepared,
    *,
    eps: float = DEFAULT_EPS,
    refine: Callable[[Estimate], np.ndarray] | None = None,
) -> Estimate:
    """The estimate of each row's own gradient (a separable loss; scale it by the reduction
    with :meth:`Estimate.scaled`).

    With ``refine``, the loss is first differenced at ``h`` alone; ``refine(coarse)`` then
    says (a boolean per row) which rows get the second step, the Richardson extrapolation and
    the one-sided estimates — half the work, or less, when most elements pass by a wide margin.
    """
    x = prepared.predictions
    h = steps(x, eps)
    if loss.elementwise:
        # Each element's loss depends on that element alone: perturb them all at once; a row's
        # loss is the mean of its D elements'.
        def values_at(part: Prepared, hp: np.ndarray, multiples: tuple[float, ...]) -> list:
            p, t, options = part.predictions, part.targets, part.options
            return [loss.values(p + m * hp, t, **options) for m in multiples]

        base = loss.values(x, prepared.targets, **prepared.options)
        d = x.shape[1] if x.ndim == 2 else 1
    else:

        def values_at(part: Prepared, hp: np.ndarray, multiples: tuple[float, ...]) -> list:
            return _row_values_at(loss, part, hp, multiples)

        base = _as_elements(loss.row_values(prepared), x)
        d = 1

    def per_row(found: Estimate) -> Estimate:
        return found if d == 1 else found.scaled(lambda a: a / d)

    if refine is None:
        return per_row(_combine(x, h, base, values_at(prepared, h, (1.0, -1.0, 0.5, -0.5))))
    up, down = values_at(prepared, h, (1.0, -1.0))
    found = _coarse(x, h, base, up, down)
    rows = np.flatnonzero(refine(per_row(found)))
    if len(rows):
        part = prepared.take_rows(rows)  # type: ignore[arg-type]
        half = values_at(part, h[rows], (0.5, -0.5))
        fine = _combine(x[rows], h[rows], base[rows], [up[rows], down[rows], *half])
        found.numeric[rows] = fine.numeric
        found.error[rows] = fine.error
        width = x[0].size
        index = (rows[:, None] * width + np.arange(width)).reshape(-1)
        found = replace(found, sides=replace(fine.sides, index=index))
    return per_row(found)


def _as_elements(row_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(N,) row values broadcast to the shape of ``x`` (one per element of its row)."""
    return np.broadcast_to(row_values.reshape((len(x),) + (1,) * (x.ndim - 1)), x.shape)


def _row_values_at(
    loss: Loss, prepared: Prepared, h: np.ndarray, multiples: tuple[float, ...]
) -> list[np.ndarray]:
    """For each multiple m, the loss of each row with its element shifted by m·h (one element
    at a time), shaped like the predictions. A block of rows at a time, so the evaluations
    over it run in the CPU cache; runs of blocks in threads (each row's differences are the
    same in any thread)."""
    x = prepared.predictions
    out = [np.empty_like(x) for _ in multiples]
    width = max(1, x[0].size)
    step = max(1, 2 * BLOCK_ELEMENTS // (len(multiples) * width))

    def blocks(part: slice) -> None:
        for start in range(part.start, part.stop, step):
            rows = slice(start, min(part.stop, start + step))
            found = _column_batched(loss, prepared.take_rows(rows), h[rows], multiples)
            for array, values in zip(out, found, strict=True):
                array[rows] = values

    map_row_blocks(blocks, len(x), len(multiples) * width * width, align=step)
    return out


def numeric_gradient(
    loss: Loss,
    prepared: Prepared,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
) -> np.ndarray:
    """The Richardson-extrapolated finite-difference gradient of the reduced loss (the
    ``numeric`` of :func:`estimate`)."""
    return estimate(
        loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
    ).numeric


def _per_element(
    loss: Loss, prepared: Prepared, reduction: str, sample_weights: Any, eps: float
) -> Estimate:
    """One element at a time, through the whole reduced loss (for ``none``: its own row's)."""
    x = prepared.predictions
    h = steps(x, eps)
    shifted = x.copy()

    def reduced() -> np.ndarray | float:
        return loss.reduce_values(
            replace(prepared, predictions=shifted),
            reduction=reduction,
            sample_weights=sample_weights,
        )

    whole = np.asarray(reduced())
    base = np.empty_like(x)
    values = [np.empty_like(x) for _ in range(4)]
    for idx in np.ndindex(x.shape):
        original = x[idx]
        base[idx] = whole[idx[0]] if reduction == "none" else whole
        for array, point in zip(values, _shifted(original, h[idx]), strict=True):
            shifted[idx] = point
            value = reduced()
            array[idx] = value[idx[0]] if reduction == "none" else value
        shifted[idx] = original
    return _combine(x, h, base, values)


def _column_batched(
    loss: Loss, prepared: Prepared, h: np.ndarray, multiples: tuple[float, ...]
) -> list[np.ndarray]:
    """Each row's loss with one of its elements shifted by m·h, one column of every row at a
    time. The rows shifted by every m are evaluated in one call, on the rows stacked once per
    m: one call per column (each row's loss depends on that row alone, so its value is the
    same bits either way)."""
    x = prepared.predictions
    n, k = len(x), len(multiples)
    # A vector is N rows of one column (kl takes one, as torch does): perturb it as such.
    columns = x.reshape(n, -1)
    steps_ = h.reshape(n, -1)
    points = [columns + m * steps_ for m in multiples]
    stacked = np.concatenate([columns] * k)
    # a view of stacked, which is changed in place below
    at = _stacked(prepared, stacked.reshape((k * n, *x.shape[1:])), k)
    values = [np.empty_like(columns) for _ in multiples]
    for j in range(columns.shape[1]):
        for i, point in enumerate(points):
            stacked[i * n : (i + 1) * n, j] = point[:, j]
        row_values = loss.row_values(at)
        for i, array in enumerate(values):
            array[:, j] = row_values[i * n : (i + 1) * n]
            stacked[i * n : (i + 1) * n, j] = columns[:, j]
    return [v.reshape(x.shape) for v in values]


def _stacked(prepared: Prepared, predictions: np.ndarray, times: int) -> Prepared:
    """``prepared`` with its rows ``times`` over (targets and per-row options), and
    ``predictions``."""

    def repeat(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a] * times)

    options = {
        k: repeat(v) if k in prepared.per_row and v is not None else v
        for k, v in prepared.options.items()
    }
    return replace(
        prepared, predictions=predictions, targets=repeat(prepared.targets), options=options
    )


# --------------------------------------------------------------------------- sampling


def row_sample(rows: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Which of the rows (their indices in the whole input) a check of ``fraction`` of them
    takes: a boolean mask. Each row's choice depends on its index and ``seed`` alone (a
    splitmix64 hash), so any split of the input into blocks samples the same rows."""
    z = np.asarray(rows, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % (1 << 64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


def sample_note(check: Any) -> str | None:
    """The sentence a sampled check prints on stderr (None when every element was checked)."""
    if not getattr(check, "sampled", False):
        return None
    rows = f"{check.sample_rows} of {check.population_rows} rows"
    return (
        f"the check covered a seeded sample of {rows} ({check.checked} of {check.population} "
        f"elements, seed {check.seed}), as inputs of more than {check.max_elements} elements "
        "are sampled"
    )


# --------------------------------------------------------------------------- the verdict


class Element(NamedTuple):
    """One element of a check, as the tables and JSON show it."""

    index: tuple[int, ...]  # in the whole input (a sampled check maps its rows back)
    input: float
    analytic: float
    numeric: float
    abs_err: float
    rel_err: float
    step: float
    error: float  # the estimate's error bar
    ratio: float  # |a − n| / (atol + rtol·|n| + error): > 1 fails
    status: str
    left: float | None  # the subgradient interval of a kink
    right: float | None

    @property
    def ok(self) -> bool:
        return self.status != "FAIL"


@dataclass(frozen=True)
class CheckResult:
    """Element-wise comparison of an analytic gradient with a numeric one (same shape).

    Built by :func:`compare`; without an ``error`` bar (a comparison of two given gradients),
    the verdict is the plain ``|a − n| ≤ atol + rtol·|n|``.
    """

    inputs: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    eps: float
    rtol: float
    atol: float
    error: np.ndarray | None = None
    step: np.ndarray | None = None
    codes: np.ndarray | None = None  # int8 indices into STATUSES
    left: np.ndarray | None = None  # subgradient interval where status is kink, else NaN
    right: np.ndarray | None = None
    rows: np.ndarray | None = None  # a sampled check: each local row's index in the input
    population: int | None = None  # elements in the whole input (sampled check)
    population_rows: int | None = None
    seed: int | None = None
    max_elements: int | None = None

    # ----------------------------------------------------------------- element arrays
    # cached: a table, its JSON and its summary line read them many times over

    def in_layout(self, layout: Any) -> CheckResult:
        """The same check with its arrays in the inputs' own layout (``RowLayout.restore``:
        inputs of more than two dimensions), so each element is named by its full index."""
        arrays = ("inputs", "analytic", "numeric", "error", "step", "codes", "left", "right")
        return replace(
            self,
            **{
                name: None if getattr(self, name) is None else layout.restore(getattr(self, name))
                for name in arrays
            },
        )

    @cached_property
    def error_bar(self) -> np.ndarray:
        return np.zeros_like(self.numeric) if self.error is None else self.error

    @cached_property
    def abs_err(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @cached_property
    def rel_err(self) -> np.ndarray:
        """``|a − n| / max(|a|, |n|, atol)``.

        Floored at ``atol`` so that elements too small to matter (where finite differences are
        pure rounding noise) do not report relative errors near 1; never infinite.
        """
        scale = np.maximum(np.maximum(np.abs(self.analytic), np.abs(self.numeric)), self.atol)
        return self.abs_err / scale

    @cached_property
    def allowed(self) -> np.ndarray:
        """``atol + rtol·|n| + error``: the error each element may have and pass."""
        allowed = self.atol + self.rtol * np.abs(self.numeric)
        return allowed if self.error is None else allowed + self.error

    @cached_property
    def badness(self) -> np.ndarray:
        """Error as a fraction of the allowed error: > 1 fails (unless kink or clamped)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.abs_err / self.allowed

    @cached_property
    def status_codes(self) -> np.ndarray:
        if self.codes is not None:
            return self.codes
        # NaN compares false, so a NaN anywhere fails.
        return np.where(self.abs_err <= self.allowed, OK, FAIL).astype(np.int8)

    @property
    def status(self) -> np.ndarray:
        """``ok``, ``FAIL``, ``kink`` or ``clamped`` per element."""
        return np.asarray(STATUSES, dtype=object)[self.status_codes]

    @property
    def ok(self) -> np.ndarray:
        """Not a failure (ok, kink or clamped)."""
        return self.status_codes != FAIL

    @cached_property
    def _counts(self) -> np.ndarray:
        return np.bincount(self.status_codes.reshape(-1), minlength=len(STATUSES))

    # ----------------------------------------------------------------- counts

    @property
    def checked(self) -> int:
        return int(self.analytic.size)

    @property
    def failed(self) -> int:
        return int(self._counts[FAIL])

    @property
    def kinks(self) -> int:
        return int(self._counts[KINK])

    @property
    def clamped(self) -> int:
        return int(self._counts[CLAMPED])

    @cached_property
    def uncertain(self) -> int:
        """Elements (neither kink nor clamped) whose error bar exceeds the user's tolerance:
        there the check cannot see a gradient error smaller than the bar."""
        judged = self.status_codes <= FAIL
        bar = self.error_bar > self.atol + self.rtol * np.abs(self.numeric)
        return int((bar & judged).sum())

    @property
    def most_uncertain(self) -> tuple[float, tuple[int, ...]] | None:
        """(error bar, index in the input) of the largest error bar among the elements
        ``uncertain`` counts, or None."""
        if not self.uncertain:
            return None
        judged = np.where(self.status_codes <= FAIL, self.error_bar, -np.inf)
        flat = int(np.argmax(judged))
        return float(judged.reshape(-1)[flat]), self.where(self._local(flat))

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def sampled(self) -> bool:
        return self.population is not None and self.population > self.checked

    @property
    def sample_rows(self) -> int:
        return int(len(self.analytic))

    # ----------------------------------------------------------------- extremes and order

    def _judged(self, values: np.ndarray) -> np.ndarray:
        """``values`` with clamped elements (whose errors are the clamp's, by design) at −inf."""
        if not self.clamped:
            return values
        return np.where(self.status_codes == CLAMPED, -np.inf, values)

    def _argmax(self, values: np.ndarray) -> tuple[int, ...] | None:
        judged = self._judged(values).reshape(-1)
        if not judged.size or self.clamped == judged.size:
            return None
        flat = int(np.argmax(judged))  # the first NaN, if any: NaN is the largest error
        return self._local(flat)

    @property
    def max_abs_err(self) -> float:
        """Largest ``abs_err`` over the elements that are not clamped (NaN if any is NaN)."""
        at = self._argmax(self.abs_err)
        return 0.0 if at is None else float(self.abs_err[at])

    @property
    def max_rel_err(self) -> float:
        at = self._argmax(self.rel_err)
        return 0.0 if at is None else float(self.rel_err[at])

    @property
    def max_abs_err_at(self) -> tuple[int, ...] | None:
        at = self._argmax(self.abs_err)
        return None if at is None else self.where(at)

    @property
    def max_rel_err_at(self) -> tuple[int, ...] | None:
        at = self._argmax(self.rel_err)
        return None if at is None else self.where(at)

    def _order_key(self) -> np.ndarray:
        """error ÷ allowed error, NaN as +inf; a clamped element counts at most 1 (after every
        failure, whose ratio exceeds 1)."""
        key = np.nan_to_num(self.badness, nan=np.inf)
        if self.clamped:
            key = np.where(self.status_codes == CLAMPED, np.minimum(key, 1.0), key)
        return key.reshape(-1)

    def _worst_local(self, k: int) -> list[tuple[int, ...]]:
        key = self._order_key()
        k = min(k, key.size)
        if k <= 0:
            return []
        if k < key.size:
            # the k largest; of those tied with the k-th, the first in position
            kth = np.partition(key, key.size - k)[key.size - k]
            above = np.flatnonzero(key > kth)
            top = np.concatenate([above, np.flatnonzero(key == kth)[: k - len(above)]])
        else:
            top = np.arange(k)
        top = top[np.lexsort((top, -key[top]))]  # largest first, ties by position
        return [self._local(int(f)) for f in top]

    def worst(self, k: int) -> list[tuple[int, ...]]:
        """Indices (in the whole input) of the ``k`` elements furthest past their allowed error
        (largest ``badness`` first; clamped elements rank after the failures)."""
        return [self.where(i) for i in self._worst_local(k)]

    def records(self, k: int) -> list[Element]:
        """The ``k`` worst elements, as :class:`Element` records, worst first."""
        return [self._record(i) for i in self._worst_local(k)]

    def record_at(self, index: tuple[int, ...]) -> Element:
        """The :class:`Element` at ``index`` (in the whole input)."""
        return self._record(self._from_input(index))

    def _local(self, flat: int) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(flat, self.analytic.shape))

    def where(self, local: tuple[int, ...]) -> tuple[int, ...]:
        """A local index → its index in the whole input (they differ in a sampled check)."""
        if self.rows is None:
            return local
        return (int(self.rows[local[0]]), *local[1:])

    def _from_input(self, index: tuple[int, ...]) -> tuple[int, ...]:
        if self.rows is None:
            return tuple(index)
        row = int(np.searchsorted(self.rows, index[0]))
        if row >= len(self.rows) or self.rows[row] != index[0]:
            raise KeyError(f"row {index[0]} is not in the checked sample")
        return (row, *index[1:])

    def _record(self, at: tuple[int, ...]) -> Element:
        code = int(self.status_codes[at])
        abs_err = float(self.abs_err[at])
        allowed = float(self.allowed[at])
        kink = self.left is not None and bool(np.isfinite(self.left[at]))
        return Element(
            index=self.where(at),
            input=float(self.inputs[at]),
            analytic=float(self.analytic[at]),
            numeric=float(self.numeric[at]),
            abs_err=abs_err,
            rel_err=float(self.rel_err[at]),
            step=float(self.step[at]) if self.step is not None else self.eps,
            error=float(self.error_bar[at]),
            ratio=abs_err / allowed if allowed else (0.0 if abs_err == 0 else math.inf),
            status=STATUSES[code],
            left=float(self.left[at]) if kink else None,
            right=float(self.right[at]) if kink else None,
        )


def compare(
    inputs: np.ndarray,
    analytic: np.ndarray,
    numeric: np.ndarray,
    *,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    estimate: Estimate | None = None,
    kinks: np.ndarray | None = None,
    clamped: np.ndarray | None = None,
    **sampling: Any,
) -> CheckResult:
    """Judge ``analytic`` against ``numeric``.

    Without an ``estimate``: ``|a − n| ≤ atol + rtol·|n|``. With one (``numeric`` being its
    ``numeric``): the error bar widens the tolerance, kinks (``kinks`` marked, or one-sided
    derivatives that disagree) accept the subgradient interval, ``clamped`` elements are
    labelled and never fail. ``sampling`` passes :class:`CheckResult`'s ``rows``,
    ``population``, ``population_rows``, ``seed`` and ``max_elements`` through.
    """
    if estimate is None:
        return CheckResult(inputs, analytic, numeric, eps, rtol, atol, **sampling)
    a = np.asarray(analytic)
    n, err, sides = numeric, estimate.error, estimate.sides
    with np.errstate(invalid="ignore"):
        edge = ~np.isfinite(n)
        if sides is not None and edge.any():
            # One side of the step outside the loss's domain (a NaN there): the other side.
            n, err = n.copy(), err.copy()
            flat_n, flat_err = n.reshape(-1), err.reshape(-1)
            at = edge.reshape(-1)[sides.index]
            right_ok = at & np.isfinite(sides.right)
            left_ok = at & ~right_ok & np.isfinite(sides.left)
            for ok, value, bar in (
                (right_ok, sides.right, sides.right_error),
                (left_ok, sides.left, sides.left_error),
            ):
                flat_n[sides.index[ok]], flat_err[sides.index[ok]] = value[ok], bar[ok]
        codes = np.where(np.abs(a - n) <= atol + rtol * np.abs(n) + err, OK, FAIL).astype(np.int8)
        left = right = None
        if sides is not None and len(sides.index):
            i = sides.index
            av = a.reshape(-1)[i]
            lo, hi = np.minimum(sides.left, sides.right), np.maximum(sides.left, sides.right)
            side_err = np.maximum(sides.left_error, sides.right_error)
            nearest = np.clip(av, lo, hi)
            inside = np.abs(av - nearest) <= atol + rtol * np.abs(nearest) + side_err
            # the one-sided derivatives disagree beyond their errors: a kink within the step
            split = hi - lo > (
                sides.left_error + sides.right_error + atol + rtol * np.maximum(-lo, hi)
            )
            declared = (
                np.zeros(len(i), dtype=bool) if kinks is None else np.asarray(kinks).reshape(-1)[i]
            )
            failing = codes.reshape(-1)[i] == FAIL
            kink = np.isfinite(lo) & np.isfinite(hi) & (declared | (failing & split & inside))
            if kink.any():
                k = i[kink]
                n, err = n.copy(), err.copy()
                n.reshape(-1)[k], err.reshape(-1)[k] = nearest[kink], side_err[kink]
                codes.reshape(-1)[k] = np.where(inside[kink], KINK, FAIL)
                left, right = np.full(a.shape, np.nan), np.full(a.shape, np.nan)
                left.reshape(-1)[k], right.reshape(-1)[k] = lo[kink], hi[kink]
        if clamped is not None:
            codes[np.asarray(clamped, bool) & np.isfinite(a)] = CLAMPED
    return CheckResult(
        inputs,
        analytic,
        n,
        eps,
        rtol,
        atol,
        error=err,
        step=estimate.step,
        codes=codes,
        left=left,
        right=right,
        **sampling,
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
    max_elements: int | None = None,
    seed: int = 0,
    sums: tuple[float, float, int, int] | None = None,
    **options: Any,
) -> CheckResult:
    """Check ``loss``'s analytic gradient (or a given ``analytic`` one) by finite differences.

    The numeric gradient is a Richardson-extrapolated central difference with a step scaled to
    each element, ``h = eps·max(1, |x|)``, and an error bar; an element passes when
    ``|a − n| ≤ atol + rtol·|n| + error`` (``torch.autograd.gradcheck``'s rule, widened by the
    estimate's own error). Kinks (``loss.kinks``) accept the subgradient interval and clamped
    elements (``loss.clamps``) are labelled, neither failing. ``options`` are the loss's own
    (``logits=True``, …). With ``max_elements``, an input of more elements is checked on a
    sample of its rows chosen by ``seed``. rmse (a loss with a ``transform``) is checked as a
    row loss, :func:`check_reduced_rows` (``sums``: the run's merged ``(total, denominator,
    row_size, exponent)``, by default those of ``prepared``). Returns a :class:`CheckResult`
    (``passed``, ``failed``, ``max_abs_err``, ``worst(k)``, ``records(k)``, the arrays); raises
    :class:`~losscli.UsageError` for ``eps ≤ 0`` or a negative tolerance.

    >>> import losscli
    >>> result = losscli.gradcheck(losscli.mse, [[1.0, 2.0]], [[0.0, 1.0]])
    >>> result.passed, result.checked
    (True, 2)
    >>> losscli.gradcheck(losscli.cross_entropy, [[2.0, 0.5]], [0], logits=True).passed
    True
    >>> at_kink = losscli.gradcheck(losscli.mae, [1.0, 2.0], [1.0, 0.0])
    >>> at_kink.passed, at_kink.status.tolist()
    (True, ['kink', 'ok'])
    """
    _check_settings(eps=eps, rtol=rtol, atol=atol)
    if prepared is None:
        prepared = loss.prepare_inputs(predictions, targets, **options)
    if analytic is None:
        analytic = loss.reduce_grad(prepared, reduction=reduction, sample_weights=sample_weights)
    x = prepared.predictions
    settings = {"eps": eps, "rtol": rtol, "atol": atol}
    if not loss.separable and loss.elementwise:
        s = loss.sample_weights_for(sample_weights, prepared)
        if sums is None:
            k = loss.square_scale(prepared, reduction)
            rows = loss.row_values(prepared.scaled(k) if k else prepared)
            total = float((rows if s is None else rows * s).sum())
            row_size = x.shape[1] if x.ndim == 2 else 1
            sums = (total, loss.weighted_denominator(prepared, reduction, s), row_size, 2 * k)
        part, sampling = prepared, {}
        if max_elements is not None and x.size > max_elements and len(x) > 1:
            rows = np.flatnonzero(row_sample(np.arange(len(x)), max_elements / x.size, seed))
            rows = rows if len(rows) else np.array([0])
            part, s = prepared.take_rows(rows), None if s is None else s[rows]  # type: ignore[arg-type]
            analytic = np.asarray(analytic)[rows]
            sampling = {
                "rows": rows, "population": int(x.size), "population_rows": len(x),
                "seed": seed, "max_elements": max_elements,
            }  # fmt: skip
        result = check_reduced_rows(
            loss, part, s, reduction=reduction, sums=sums, analytic=analytic, **settings,
            **sampling,
        )  # fmt: skip
    elif not loss.separable:
        _warn_if_step_is_lost(x, eps)
        found = _per_element(loss, prepared, reduction, sample_weights, eps)
        result = compare(
            x,
            analytic,
            found.numeric,
            estimate=found,
            kinks=kink_mask(loss, prepared),
            clamped=clamp_mask(loss, prepared),
            **settings,
        )
    elif max_elements is not None and x.size > max_elements and len(x) > 1:
        rows = np.flatnonzero(row_sample(np.arange(len(x)), max_elements / x.size, seed))
        if not len(rows):
            rows = np.array([0])
        # the chain rule of the reduction, over the whole input: one factor per element
        factor = loss.scale_row_grad(np.ones_like(x), prepared, reduction, sample_weights)[rows]
        result = check_rows(
            loss,
            prepared.take_rows(rows),  # type: ignore[arg-type]
            np.asarray(analytic)[rows],
            lambda a: a * factor,
            rows=rows,
            population=int(x.size),
            population_rows=len(x),
            seed=seed,
            max_elements=max_elements,
            **settings,
        )
    else:
        result = check_rows(
            loss,
            prepared,
            analytic,
            lambda a: loss.scale_row_grad(a, prepared, reduction, sample_weights),
            **settings,
        )
    warn_if_uncertain(result)
    return result


def check_rows(
    loss: Loss,
    prepared: Prepared,
    analytic: np.ndarray,
    scale: Callable[[np.ndarray], np.ndarray],
    *,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    **sampling: Any,
) -> CheckResult:
    """The check of a separable loss over the rows of ``prepared`` (all of an input, a block
    of it, or a sample of its rows): ``analytic`` is the gradient of the reduced loss there,
    ``scale`` turns each row's own gradient into it (the chain rule of the reduction: e.g.
    ``lambda g: loss.scale_by_reduction(g, reduction, denominator, row_size)``). ``sampling``
    is passed to :func:`compare`.

    Row losses are differenced at ``h`` first; the rows where some element does not pass by
    a wide margin (``REFINE_AT`` of its tolerance), or has a kink, get the second step, the
    extrapolation and the one-sided estimates; elsewhere the estimate is the central
    difference at ``h`` and its error bar the rounding part.
    """
    _warn_if_step_is_lost(prepared.predictions, eps)
    kinks = kink_mask(loss, prepared)
    n_rows = len(prepared.predictions)

    def refine(coarse: Estimate) -> np.ndarray:
        found = coarse.scaled(scale)
        with np.errstate(invalid="ignore"):
            bound = REFINE_AT * (atol + rtol * np.abs(found.numeric) + found.error)
            need = ~(np.abs(analytic - found.numeric) <= bound)
        if kinks is not None:
            need |= kinks
        return need.reshape(n_rows, -1).any(axis=1)

    found = row_estimate(loss, prepared, eps=eps, refine=refine).scaled(scale)
    return compare(
        prepared.predictions,
        analytic,
        found.numeric,
        eps=eps,
        rtol=rtol,
        atol=atol,
        estimate=found,
        kinks=kinks,
        clamped=clamp_mask(loss, prepared),
        **sampling,
    )


def check_reduced_rows(
    loss: Loss,
    prepared: Prepared,
    sample_weights: np.ndarray | None,
    *,
    reduction: str,
    sums: tuple[float, float, int, int],
    analytic: np.ndarray | None = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    **sampling: Any,
) -> CheckResult:
    """The check of the rows of ``prepared`` (a streamed block, a sample of rows, or a whole
    input held in memory: one implementation for all) for the reduction of the whole input,
    whose merged ``(total, denominator, row_size, exponent)`` are ``sums`` (a
    :class:`~losscli.states.LossState`'s); ``sample_weights``: one per row of ``prepared``.

    Finite differences of each row's own loss (:func:`check_rows`), the reduction's chain rule
    (:meth:`Loss.finish_grad`; rmse's outer √ of the merged mean included, ``none`` each row's
    own √) applied to both sides alike: rmse's squared errors are row-separable, its √ is not.
    rmse's errors beyond 2^±400 are differenced scaled by 2^-k (the rows' largest error's k,
    or under ``none`` each row's own k_i), as its gradient is computed; the result shows the
    inputs and steps unscaled. ``analytic``: the gradient checked at these rows (default:
    losscli's, from the same rows and sums). ``sampling`` is passed to :func:`compare`.
    """
    total, denominator, row_size, exponent = sums
    w = sample_weights
    inner, part, k = loss, prepared, None
    if loss.transform is not None:
        inner = replace(loss, transform=None, transform_grad=None)
        if reduction == "none":
            k = loss.row_scales(prepared)
            part = prepared if k is None else prepared.scaled_rows(k)
        else:
            k = loss.square_scale(prepared, reduction) or None
            part = prepared if k is None else prepared.scaled(k)
    rows, row_grad = loss.rows_and_row_grad(part)

    def scale(g: np.ndarray) -> np.ndarray:
        if w is not None:
            g = g * w.reshape(-1, *(1,) * (g.ndim - 1))
        if reduction == "none":
            if loss.transform is None:
                return g
            # s_r·e/(D·rmse_r): the same for the row's errors scaled by 2^-k_r
            factor = np.asarray(loss.transform_grad(rows))
            return g * (factor.reshape(-1, *(1,) * (g.ndim - 1)) if factor.ndim else factor)
        if k is not None:  # ∂(e²) = 2e is linear: the scaled errors' times 2^k
            g = np.ldexp(g, k)
        return loss.finish_grad(g, reduction, total, denominator, row_size, exponent=exponent)

    if analytic is None:
        analytic = scale(row_grad)
    result = check_rows(inner, part, analytic, scale, eps=eps, rtol=rtol, atol=atol, **sampling)
    if k is not None:  # the inputs and steps as given, not scaled
        per_row = np.reshape(k, (-1, *(1,) * (prepared.predictions.ndim - 1)))
        steps_ = None if result.step is None else np.ldexp(result.step, per_row)
        result = replace(result, inputs=prepared.predictions, step=steps_)
    return result


def _mask(kernel: Callable[..., np.ndarray] | None, prepared: Prepared) -> np.ndarray | None:
    if kernel is None:
        return None
    mask = kernel(prepared.predictions, prepared.targets, **prepared.options)
    if mask is None:
        return None
    return np.broadcast_to(np.asarray(mask, bool), prepared.predictions.shape)


def kink_mask(loss: Loss, prepared: Prepared) -> np.ndarray | None:
    """``loss.kinks`` over ``prepared`` (None when the loss has none)."""
    return _mask(loss.kinks, prepared)


def clamp_mask(loss: Loss, prepared: Prepared) -> np.ndarray | None:
    """``loss.clamps`` over ``prepared`` (None when the loss has none)."""
    return _mask(loss.clamps, prepared)


def _check_settings(*, eps: float, rtol: float, atol: float) -> None:
    """A step of 0, a negative or NaN tolerance would make every check fail (or pass)
    for reasons that have nothing to do with the gradient: refuse them up front."""
    if not (math.isfinite(eps) and eps > 0):
        raise UsageError(f"--eps must be a positive number, got {eps!r}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--{name} must be a number ≥ 0, got {value!r}")


def _warn_if_step_is_lost(x: np.ndarray, eps: float) -> None:
    """Where x + h/2 rounds away much of the step (an --eps below the float64 resolution),
    the differences are noise: the check would fail for a reason that is not the gradient's.
    Say so."""
    if eps >= 2.0**-40:
        return  # h/2 > eps·max(1, |x|)/4 lies far above the unit in the last place of x
    h = steps(x, eps) / 2
    with np.errstate(over="ignore", invalid="ignore"):
        taken = (x + h) - (x - h)
    lost = ~(np.abs(taken - 2.0 * h) <= 0.01 * 2.0 * h)
    if lost.any():
        biggest = float(np.max(np.abs(x[lost])))
        warn(
            f"the finite-difference step (--eps {eps:g} × max(1, |x|)) is lost to rounding at "
            f"{int(lost.sum())} of {x.size} elements (|x| up to {biggest:.3g}), so the numeric "
            f"gradient there is unreliable; try --eps {DEFAULT_EPS:g}"
        )


def warn_if_uncertain(result: Any) -> None:
    """A step so coarse (or a loss so noisy) that the estimate's error bar exceeds the
    tolerance: the check there cannot see errors of that size. Say so rather than pass
    silently (a :class:`CheckResult`, or any check with ``uncertain`` and ``most_uncertain``)."""
    count = result.uncertain
    if not count:
        return
    bar, at = result.most_uncertain
    where = at if len(at) > 1 else at[0]
    warn(
        f"the finite-difference error bar exceeds the tolerance at {count} of {result.checked} "
        f"checked elements (up to ±{bar:.2g} at {where}), so gradient errors that small go "
        "unseen there; try a smaller --eps"
    )


def order_key(element: Element) -> float:
    """The key of "worst first" for one element: its ratio, NaN as +inf, a clamped element's
    at most 1 (the vectorised rule is :meth:`CheckResult.worst`'s)."""
    ratio = math.inf if math.isnan(element.ratio) else element.ratio
    return min(ratio, 1.0) if element.status == "clamped" else ratio


class StreamedCheck:
    """A check done block by block (a streamed pass): the figures of :class:`CheckResult`
    added up over the blocks, with the records of the worst elements (and of the largest
    errors) kept, not the arrays. Fold in each block's result with :meth:`add`; set
    ``population``, ``population_rows``, ``seed`` and ``max_elements`` when the blocks are a
    sample (see :func:`row_sample`)."""

    def __init__(self, eps: float, rtol: float, atol: float, keep: int = 20) -> None:
        self.eps, self.rtol, self.atol, self.keep = eps, rtol, atol, keep
        self.checked = self.failed = self.kinks = self.clamped = self.uncertain = 0
        self.max_abs_err = self.max_rel_err = 0.0
        self.max_abs_err_at = self.max_rel_err_at = None
        self.most_uncertain: tuple[float, tuple[int, ...]] | None = None
        # a sample: elements and rows of the whole input, the seed, the sampling threshold
        self.population = self.population_rows = self.seed = self.max_elements = None
        self.sample_rows = 0
        self._worst: list[tuple[float, Any]] = []
        self._extremes: dict[tuple[int, ...], Any] = {}

    @property
    def sampled(self) -> bool:
        return self.population is not None and self.population > self.checked

    def add(self, result: Any, rows: np.ndarray, vector: bool) -> None:
        """Fold in a :class:`CheckResult` over the given rows (their indices in the file)."""

        def where(idx: tuple[int, ...]) -> tuple[int, ...]:
            at = (int(rows[idx[0]]),) + tuple(idx[1:])
            return at[:1] if vector else at

        self.checked += result.checked
        self.sample_rows += len(rows)
        self.failed += result.failed
        self.kinks += result.kinks
        self.clamped += result.clamped
        self.uncertain += result.uncertain
        if result.most_uncertain is not None:
            bar, at = result.most_uncertain
            if self.most_uncertain is None or bar > self.most_uncertain[0]:
                self.most_uncertain = (bar, where(at))
        for name in ("abs", "rel"):
            value, at = getattr(result, f"max_{name}_err"), getattr(result, f"max_{name}_err_at")
            best = getattr(self, f"max_{name}_err")
            if at is not None and not math.isnan(best) and not value <= best:  # NaN wins
                setattr(self, f"max_{name}_err", value)
                setattr(self, f"max_{name}_err_at", where(at))
                self._extremes[where(at)] = result.record_at(at)._replace(index=where(at))
        for element in result.records(self.keep):
            self._worst.append((order_key(element), element._replace(index=where(element.index))))
        self._worst.sort(key=lambda item: -item[0])
        del self._worst[self.keep :]

    @property
    def passed(self) -> bool:
        return self.failed == 0

    def worst(self, k: int) -> list[tuple[int, ...]]:
        return [element.index for _, element in self._worst[:k]]

    def records(self, k: int) -> list[Any]:
        return [element for _, element in self._worst[:k]]

    def record_at(self, index: tuple[int, ...]) -> Any:
        for _, element in self._worst:
            if element.index == tuple(index):
                return element
        return self._extremes[tuple(index)]
