"""Partial states: what one block of rows contributes to a run, merged associatively.

Every statistic that crosses row blocks is one of these small immutable values with a
``merge(other)``; the answer of a run is a pure function of the merged state. So a run in
memory (one block), a streamed run (many blocks in order) and a user's own Spark/Ray/Dask job
(blocks anywhere, merged in any grouping) compute the same numbers::

    >>> import numpy as np, losscli
    >>> from losscli.engine import Block, partial
    >>> p, t = np.arange(6.0), np.zeros(6)
    >>> a = partial(losscli.mse, Block(p[:4], t[:4]))
    >>> b = partial(losscli.mse, Block(p[4:], t[4:], start=4))
    >>> a.merge(b).value(losscli.mse, "mean") == losscli.mse(p, t)
    True

* :class:`ExactSum` — a sum of floats kept exactly (Shewchuk's partials, as ``math.fsum``):
  merging is exact, so any grouping of the blocks gives the correctly rounded total.
* :class:`LossState` — Σ s·L over rows, the ``mean`` denominator, rows, the report's counts.
* :class:`TopState` — the K rows with the highest loss, with their ids.
* :class:`RangeState` / :class:`HistState` — the first (cheap) pass of a histogram over the
  row losses, then the counts in fixed edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .losses import merge_decisions
from .report import Histogram, TopRows

__all__ = [
    "ExactSum",
    "LossState",
    "TopState",
    "RangeState",
    "HistState",
    "histogram_edges",
    "merge_all",
]


def _grow(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum held by ``partials`` (Shewchuk; math.fsum's algorithm)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


@dataclass(frozen=True)
class ExactSum:
    """A float sum kept exactly (non-overlapping partials); ``float(s)`` rounds it once."""

    partials: tuple[float, ...] = ()

    @classmethod
    def of(cls, x: float) -> ExactSum:
        return cls((float(x),))

    def merge(self, other: ExactSum) -> ExactSum:
        if not math.isfinite(sum(self.partials) + sum(other.partials)):
            # inf/nan do not keep exactly; the sum is what float arithmetic gives
            return ExactSum((sum(self.partials) + sum(other.partials),))
        partials = list(self.partials)
        for x in other.partials:
            _grow(partials, x)
        return ExactSum(tuple(partials))

    def __float__(self) -> float:
        return math.fsum(self.partials) if self.partials else 0.0


def _rescaled(s: ExactSum, shift: int) -> ExactSum:
    """``s`` times 2^shift (the same object when ``shift`` is 0)."""
    return s if not shift else ExactSum(tuple(math.ldexp(x, shift) for x in s.partials))


def _add_facts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The report's facts of two blocks: counts add up, other facts are the first block's."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, int) and not isinstance(value, bool) and key in a:
            out[key] = a[key] + value
        else:
            out.setdefault(key, value)
    return out


@dataclass(frozen=True)
class LossState:
    """Σ s·L (``total``), the ``mean`` denominator (Σ of row weights), the rows and the
    report's facts (``describe``; integer facts such as ``ignored_rows`` add up)."""

    total: ExactSum = ExactSum()
    denominator: ExactSum = ExactSum()
    rows: int = 0
    row_size: int = 1
    width: int | None = None  # columns of the predictions (None: a vector)
    describe: dict[str, Any] = field(default_factory=dict)
    # Σ s·L is ``total``·2^exponent: rmse scales its squares by a power of two before summing
    # (as BLAS nrm2), so errors of 1e305 do not overflow; 0 for every other loss.
    exponent: int = 0
    # readings every block must share (hinge's 0/1 or ±1 labels): a conflict raises on merge
    decisions: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: LossState) -> LossState:
        if not self.rows:
            return other
        if not other.rows:
            return self
        # the smaller-scale sum, rescaled by an exact power of two (underflow aside)
        exponent = max(self.exponent, other.exponent)
        return LossState(
            _rescaled(self.total, self.exponent - exponent).merge(
                _rescaled(other.total, other.exponent - exponent)
            ),
            self.denominator.merge(other.denominator),
            self.rows + other.rows,
            self.row_size,
            self.width,
            _add_facts(self.describe, other.describe),
            exponent,
            merge_decisions(self.decisions, other.decisions),
        )

    def shifted(self, offset: int) -> LossState:
        """The same state with its rows numbered ``offset`` further on (its decisions' rows):
        a shard's own state, renumbered by the rows of the shards before it."""
        decisions = {key: d.shifted(offset) for key, d in self.decisions.items()}
        return replace(self, decisions=decisions)

    def value(self, loss: Any, reduction: str) -> float:
        """The reduced value (reduction ≠ none), the loss's transform applied (rmse)."""
        return loss.finish_value(
            reduction, float(self.total), float(self.denominator), self.row_size, self.exponent
        )

    def gradient_factor(self, loss: Any, reduction: str) -> float:
        """The one number the unscaled gradient rows (s·∂L_row) are multiplied by."""
        return loss.gradient_factor(
            reduction, float(self.total), float(self.denominator), self.row_size
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows,) if self.width is None else (self.rows, self.width)


def _order_key(loss: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(loss), np.inf, loss)


@dataclass(frozen=True, eq=False)
class TopState:
    """The ``k`` rows with the highest loss so far (ties: lower row first; NaN highest)."""

    k: int
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    ids: tuple[str, ...] | None = None

    def merge(self, other: TopState) -> TopState:
        if not len(other.rows):
            return self
        if not len(self.rows):
            return other
        rows = np.concatenate([self.rows, other.rows])
        loss = np.concatenate([self.loss, other.loss])
        # highest loss first, then lowest row number: the order does not depend on the merge
        order = np.lexsort((rows, -_order_key(loss)))[: self.k]
        fields = {
            name: np.concatenate([self.fields[name], other.fields[name]])[order]
            for name in self.fields
        }
        ids = None
        if self.ids is not None and other.ids is not None:
            both = self.ids + other.ids
            ids = tuple(both[i] for i in order)
        return TopState(self.k, rows[order], loss[order], fields, ids)

    def shifted(self, offset: int) -> TopState:
        """The same rows numbered ``offset`` further on: a shard's (or partition's) own top
        rows, renumbered by the rows of the shards before it, before merging."""
        return TopState(self.k, self.rows + offset, self.loss, self.fields, self.ids)

    def result(self) -> TopRows:
        return TopRows(self.rows.astype(np.int64), self.loss, self.fields)


@dataclass(frozen=True)
class RangeState:
    """The least and greatest finite row loss, and how many were NaN or infinite."""

    lo: float = math.inf
    hi: float = -math.inf
    nonfinite: int = 0

    @classmethod
    def of(cls, rows: np.ndarray) -> RangeState:
        finite = rows[np.isfinite(rows)]
        if not finite.size:
            return cls(nonfinite=int(rows.size))
        return cls(float(finite.min()), float(finite.max()), int(rows.size - finite.size))

    def merge(self, other: RangeState) -> RangeState:
        return RangeState(
            min(self.lo, other.lo), max(self.hi, other.hi), self.nonfinite + other.nonfinite
        )


def histogram_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """``bins + 1`` equal-width edges from ``lo`` to ``hi`` (as :func:`losscli.histogram`);
    ``[lo, lo]`` when they are equal, none when there were no finite values."""
    if lo > hi:
        return np.empty(0)
    if lo == hi:
        return np.array([lo, hi])
    f = np.arange(bins + 1, dtype=np.float64) / bins
    return lo * (1.0 - f) + hi * f  # interpolated: no overflow near ±1e308


@dataclass(frozen=True, eq=False)
class HistState:
    """Counts of the finite row losses in fixed ``edges`` (values outside the edges count in
    the end bins; see :meth:`of`)."""

    edges: np.ndarray
    counts: np.ndarray
    nonfinite: int = 0

    @classmethod
    def of(cls, rows: np.ndarray, edges: np.ndarray) -> HistState:
        finite = rows[np.isfinite(rows)]
        nonfinite = int(rows.size - finite.size)
        bins = max(len(edges) - 1, 0)
        if bins == 0:
            return cls(edges, np.empty(0, np.int64), nonfinite)
        index = np.clip(np.searchsorted(edges, finite, side="right") - 1, 0, bins - 1)
        return cls(edges, np.bincount(index, minlength=bins).astype(np.int64), nonfinite)

    def merge(self, other: HistState) -> HistState:
        return HistState(self.edges, self.counts + other.counts, self.nonfinite + other.nonfinite)

    def result(self) -> Histogram:
        if len(self.edges) == 0 or not self.counts.sum():
            return Histogram(np.empty(0), np.empty(0, dtype=np.int64), self.nonfinite)
        return Histogram(self.edges, self.counts, self.nonfinite)


def merge_all(states: Iterable[Any]) -> Any:
    """Merge states left to right (None when there are none)."""
    merged = None
    for state in states:
        merged = state if merged is None else merged.merge(state)
    return merged
