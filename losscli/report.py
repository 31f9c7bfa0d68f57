"""Where the loss comes from: the rows with the highest loss (``--top``) and a histogram of the
per-row losses (``--hist``).

Pure functions of arrays; :mod:`losscli.render` draws what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Report", "TopRows", "Histogram", "top_rows", "histogram"]


@dataclass(frozen=True, eq=False)
class TopRows:
    """The ``k`` rows with the highest loss, highest first.

    ``fields`` summarises each row's prediction against its target, in display order:
    ``prediction``/``target`` values for elementwise losses (with ``col``, the element with
    the highest loss, when rows have several), or ``predicted``/``target`` classes (argmax of
    the row; the class index itself for index targets) for losses over class scores.
    """

    rows: np.ndarray  # (k,) int64 row numbers, 0-based
    loss: np.ndarray  # (k,) float64
    fields: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class Histogram:
    """Counts of the finite per-row losses in ``len(counts)`` equal-width bins.

    Bin ``i`` holds the values in ``[edges[i], edges[i + 1])``, the last bin also its right
    edge. All values equal: one bin ``[v, v]``. ``nonfinite`` counts the NaN and infinite
    values left out.
    """

    edges: np.ndarray  # (bins + 1,) float64
    counts: np.ndarray  # (bins,) int64
    nonfinite: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def top_rows(
    row_losses: ArrayLike,
    predictions: ArrayLike,
    targets: ArrayLike,
    k: int,
    *,
    element_losses: ArrayLike | None = None,
) -> TopRows:
    """The ``k`` rows with the highest loss (all rows when there are fewer), highest first;
    ties keep row order and NaN counts as highest.

    ``element_losses`` (shaped like the predictions) marks an elementwise loss: each row is then
    summarised by its worst element's prediction and target. Without it, predictions are class
    scores and rows are summarised by classes.

    >>> top = top_rows([0.5, 4.0, 1.0], [1.0, 3.0, 2.0], [0.0, 1.0, 1.0], 2,
    ...                element_losses=[0.5, 4.0, 1.0])
    >>> top.rows.tolist(), top.loss.tolist(), top.fields["prediction"].tolist()
    ([1, 2], [4.0, 1.0], [3.0, 2.0])
    """
    losses = np.asarray(row_losses, dtype=np.float64).reshape(-1)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    key = np.where(np.isnan(losses), np.inf, losses)
    order = np.argsort(-key, kind="stable")[:k]
    p, t = np.asarray(predictions), np.asarray(targets)
    if element_losses is not None:
        fields = _element_fields(order, p, t, np.asarray(element_losses, dtype=np.float64))
    else:
        fields = _class_fields(order, p, t)
    return TopRows(order.astype(np.int64), losses[order], fields)


def _element_fields(order, p, t, element_losses) -> dict[str, np.ndarray]:
    if p.ndim == 1:
        return {"prediction": p[order].astype(np.float64), "target": t[order].astype(np.float64)}
    worst = np.argmax(np.where(np.isnan(element_losses), np.inf, element_losses)[order], axis=1)
    return {
        "col": worst.astype(np.int64),
        "prediction": p[order, worst].astype(np.float64),
        "target": t[order, worst].astype(np.float64),
    }


def _class_fields(order, p, t) -> dict[str, np.ndarray]:
    scores = p.reshape(len(p), -1)
    predicted = np.argmax(scores[order], axis=1)
    target = t[order] if t.ndim == 1 else np.argmax(t.reshape(len(t), -1)[order], axis=1)
    return {"predicted": predicted.astype(np.int64), "target": target.astype(np.int64)}


def histogram(row_losses: ArrayLike, bins: int = 10) -> Histogram:
    """Equal-width histogram of the finite values of ``row_losses``.

    Edges are computed without overflow even when the values span the whole float64 range.

    >>> h = histogram([0.0, 0.1, 0.2, 1.0], bins=2)
    >>> h.edges.tolist(), h.counts.tolist()
    ([0.0, 0.5, 1.0], [3, 1])
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    values = np.asarray(row_losses, dtype=np.float64).reshape(-1)
    finite = values[np.isfinite(values)]
    nonfinite = int(values.size - finite.size)
    if finite.size == 0:
        return Histogram(np.empty(0), np.empty(0, dtype=np.int64), nonfinite)
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        return Histogram(np.array([lo, hi]), np.array([finite.size], dtype=np.int64), nonfinite)
    # Interpolate rather than step by (hi − lo) / bins, which overflows for values near ±1e308.
    f = np.arange(bins + 1, dtype=np.float64) / bins
    edges = lo * (1.0 - f) + hi * f
    index = np.clip(np.searchsorted(edges, finite, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.int64)
    return Histogram(edges, counts, nonfinite)


@dataclass
class Report:
    """Everything one run computed, in the order it is shown."""

    loss: str
    title: str
    reduction: str
    shape: tuple[int, ...]
    value: float | np.ndarray
    grad: np.ndarray | None = None
    check: Any = None  # a gradcheck.CheckResult (or a streamed check with its figures)
    check_title: str = "Gradient check"
    against: Any = None  # an against.AgainstResult: the user's gradient compared with ours
    inputs: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    ids: list[str] | None = None  # --id-col: one label per row, shown beside the row number
    columns: dict[str, Any] | None = None  # which columns were read (--pred-col, ...)
    top: TopRows | None = None  # --top K
    hist: Histogram | None = None  # --hist
    grad_written: tuple[int, ...] | None = None  # the gradient's shape, when written to a file
    hess: np.ndarray | None = None  # --hess: the Hessian diagonal, shaped like the predictions
    hess_blocks: np.ndarray | None = None  # --hess full: (N, C, C), each row's block
    hess_check: Any = None  # --check with --hess: a gradcheck.CheckResult of Hessian diagonals
    hess_against: Any = None  # --against-hess: an against.AgainstResult of Hessian diagonals
    hess_written: tuple[int, ...] | None = None  # the Hessian's shape, when written to a file
    warnings: list[str] = field(default_factory=list)  # the LossCliWarnings of the run

    @property
    def grad_of(self) -> str:
        return "row" if self.reduction == "none" else "reduced"
