"""Checking a gradient the user computed: compare it with losscli's, and say what is wrong.

:func:`compare_gradient` puts the user's gradient next to losscli's analytic gradient and the
finite differences, element by element (a :class:`~losscli.gradcheck.CheckResult` with the
user's gradient as the candidate and losscli's as the reference). :func:`diagnose` then looks
for the usual mistakes: a constant ratio between the two over the whole array, a column or a
row, named when it is a common factor (N, D, N·D, 2, their inverses, a sign flip).

Streamed (a file beside blocks of rows), the same comparison is a mergeable state:
:class:`AgainstState` per block (counts, largest errors, the worst elements, the first pass
of the diagnosis, :class:`Diagnosis`), merged in any grouping, and when the diagnosis needs
the rows a second pass of :class:`RowFindings`; :func:`diagnose` is their one-block case, so
the findings are the same for any split of the rows.

Pure functions over arrays: no printing, no CLI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from .errors import InputError
from .gradcheck import (
    DEFAULT_ATOL,
    DEFAULT_EPS,
    DEFAULT_RTOL,
    CheckResult,
    compare,
    numeric_gradient,
)
from .losses import Loss, Prepared

__all__ = [
    "AgainstResult",
    "AgainstState",
    "Diagnosis",
    "Mistakes",
    "Ratios",
    "RowFindings",
    "StreamedAgainst",
    "compare_gradient",
    "compare_hessian",
    "diagnose",
    "match_shape",
]

MAX_LISTED = 8  # columns or rows named in one finding before "and k more"


@dataclass(frozen=True)
class AgainstResult:
    """The user's gradient against losscli's analytic gradient and finite differences."""

    check: CheckResult  # analytic = the user's gradient, numeric = losscli's analytic one
    numeric: np.ndarray  # finite differences
    reference_check: CheckResult  # losscli's analytic gradient against finite differences
    findings: list[str]

    @property
    def yours(self) -> np.ndarray:
        return self.check.analytic

    @property
    def analytic(self) -> np.ndarray:
        return self.check.numeric

    @property
    def passed(self) -> bool:
        return self.check.passed

    def elements(self, limit: int) -> list[Row]:
        """The ``limit`` elements furthest past their tolerance, worst first (as
        :meth:`AgainstState.elements`)."""
        check = self.check
        abs_err, rel_err, ok = check.abs_err, check.rel_err, check.ok
        return [
            Row(
                idx,
                float(check.inputs[idx]),
                float(check.analytic[idx]),
                float(check.numeric[idx]),
                float(self.numeric[idx]),
                float(abs_err[idx]),
                float(rel_err[idx]),
                bool(ok[idx]),
            )
            for idx in check.worst(limit)
        ]


class Row(NamedTuple):
    """One compared element as the reports show it."""

    index: tuple[int, ...]
    input: float
    yours: float
    analytic: float
    numeric: float  # finite differences
    abs_err: float
    rel_err: float
    ok: bool


def match_shape(yours: Any, shape: tuple[int, ...], *, what: str = "gradient") -> np.ndarray:
    """The user's gradient (or ``what``: "hessian") as float64 of the predictions' shape; a
    vector and a one-column matrix of the same length are the same thing."""
    g = np.asarray(yours, dtype=np.float64)
    if g.shape == shape:
        return g
    if (
        g.size == int(np.prod(shape))
        and (g.ndim == 1 or g.shape[-1] == 1)
        and (len(shape) == 1 or shape[-1] == 1)
    ):
        return g.reshape(shape)
    hint = " (transposed?)" if g.shape == tuple(reversed(shape)) else ""
    raise InputError(
        f"the {_NOUN[what]} has shape {tuple(int(n) for n in g.shape)} but the predictions have "
        f"shape {tuple(int(n) for n in shape)}{hint}; give one value per prediction",
        role=what,
    )


_NOUN = {"gradient": "gradient", "hessian": "Hessian diagonal"}


def _finite(g: np.ndarray, what: str) -> None:
    if not np.isfinite(g).all():
        bad = np.argwhere(~np.isfinite(g))[0]
        raise InputError(
            f"the {_NOUN[what]} contains NaN or infinite values "
            f"(first at {tuple(int(i) for i in bad)})",
            role=what,
        )


def compare_gradient(
    loss: Loss,
    prepared: Prepared,
    yours: Any,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    analytic: np.ndarray | None = None,
    numeric: np.ndarray | None = None,
) -> AgainstResult:
    """Compare ``yours`` with ``loss``'s analytic gradient (and with finite differences).

    An element passes when ``|yours − analytic| ≤ atol + rtol·|analytic|``. ``analytic``,
    ``numeric``: losscli's gradient and its finite differences when the caller has them
    (default: :meth:`Loss.reduce_grad`, :func:`~losscli.gradcheck.numeric_gradient`).

    >>> import losscli
    >>> from losscli.against import compare_gradient
    >>> prepared = losscli.mse.prepare_inputs([[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]])
    >>> result = compare_gradient(losscli.mse, prepared, [[2.0, 4.0], [6.0, 8.0]])
    >>> result.passed
    False
    >>> result.findings[0].startswith("every element is off by a factor of N·D = 4")
    True
    """
    if analytic is None:
        analytic = loss.reduce_grad(prepared, reduction=reduction, sample_weights=sample_weights)
    return _against(
        prepared,
        yours,
        analytic,
        lambda: (
            numeric
            if numeric is not None
            else numeric_gradient(
                loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
            )
        ),
        "gradient",
        [],
        eps=eps,
        rtol=rtol,
        atol=atol,
    )


def _against(prepared, yours, analytic, numeric, what, named, *, eps, rtol, atol) -> AgainstResult:
    """The one comparison of ``yours`` (a gradient or a Hessian diagonal) with losscli's
    ``analytic`` one and the finite differences ``numeric()``; ``named(yours)`` gives the
    findings for mistakes the loss knows by name, tried before :func:`diagnose`."""
    x = prepared.predictions
    layout = getattr(prepared, "layout", None)  # K-dim inputs: yours in their own layout
    if layout is None:
        mine = match_shape(yours, x.shape, what=what)
    else:
        mine = layout.flatten(match_shape(yours, layout.shape, what=what))
    _finite(mine, what)
    numeric = numeric()
    check = compare(x, mine, analytic, eps=eps, rtol=rtol, atol=atol)
    reference = compare(x, analytic, numeric, eps=eps, rtol=rtol, atol=atol)
    findings = [] if check.passed or not named else named(mine)
    at = None if layout is None else layout.index
    findings = findings or diagnose(mine, analytic, rtol=rtol, atol=atol, index=at)
    if not reference.passed:
        findings.append(_reference_note(what, reference.failed))
    if layout is not None:  # every element named by its full index in the given layout
        check, reference = check.in_layout(layout), reference.in_layout(layout)
        numeric = layout.restore(numeric)
    return AgainstResult(check, numeric, reference, findings)


def _reference_note(what: str, failed: int) -> str:
    kink = (
        "a kink or a clamp, e.g. |x| at 0"
        if what == "gradient"
        else "a kink of the gradient, e.g. huber at |e| = δ"
    )
    return (
        f"note: losscli's analytic {_NOUN[what]} and finite differences disagree at "
        f"{failed} element(s) ({kink}); the comparison uses losscli's analytic value there"
    )


def _key(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _larger(a: tuple[float, Any], b: tuple[float, Any]) -> tuple[float, Any]:
    """The larger of two ``(value, index)`` maxima, NaN the largest, the first by index on a
    tie (as ``argmax`` over the whole array)."""

    def key(m: tuple[float, Any]) -> tuple[bool, float]:
        return (True, 0.0) if math.isnan(m[0]) else (False, m[0])

    if key(a) != key(b):
        return a if key(a) > key(b) else b
    return a if a[1] <= b[1] else b


class Reference(NamedTuple):
    """losscli's analytic values against finite differences: how many disagree."""

    failed: int

    @property
    def passed(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class AgainstState:
    """The comparison of the user's values with losscli's over a block of rows, or several
    merged (associative; blocks merge in any grouping): the counts, the largest errors, the
    ``keep`` worst elements (a top-K by error ÷ allowed error, ties by position, each with
    its full index and the row's id), losscli's own check against finite differences, and the
    first pass of the diagnosis (:class:`Diagnosis`). What a report shows of
    :class:`AgainstResult`, without the arrays; :meth:`result` finishes it."""

    eps: float
    rtol: float
    atol: float
    checked: int
    failed: int
    reference_failed: int
    max_abs: tuple[float, tuple[int, ...]]
    max_rel: tuple[float, tuple[int, ...]]
    worst: tuple[tuple[float, tuple[int, ...], Row, Any], ...]
    diagnosis: Diagnosis
    keep: int
    mistakes: Mistakes | None = None  # a Hessian's: the loss's common mistakes matched

    @classmethod
    def of(
        cls,
        x: np.ndarray,
        yours: np.ndarray,
        analytic: np.ndarray,
        numeric: np.ndarray,
        *,
        start: int = 0,
        ids: Any = None,
        eps: float = DEFAULT_EPS,
        rtol: float = DEFAULT_RTOL,
        atol: float = DEFAULT_ATOL,
        keep: int = 20,
        mistakes: Mistakes | None = None,
        layout: Any = None,
    ) -> AgainstState:
        """One block: rows ``start …`` of the input, arrays shaped like its predictions
        (``mistakes``: :meth:`Mistakes.of` the block, for a Hessian). ``layout``: the block's
        :class:`~losscli.losses.RowLayout` when the input has more than two dimensions (the
        arrays are the kernels' rows): elements are named by their full index, ``start``
        counting the input's rows along axis 0, as :func:`compare_gradient` names them."""
        check = compare(x, yours, analytic, eps=eps, rtol=rtol, atol=atol)
        reference = compare(x, analytic, numeric, eps=eps, rtol=rtol, atol=atol)
        if layout is not None:
            check, reference = check.in_layout(layout), reference.in_layout(layout)
            numeric = layout.restore(numeric)

        def shifted(idx: tuple[int, ...]) -> tuple[int, ...]:
            return (start + idx[0], *idx[1:])

        result = AgainstResult(check, numeric, reference, [])
        worst = tuple(
            (
                _key(float(check.badness[row.index])),
                shifted(row.index),
                row._replace(index=shifted(row.index)),
                None if ids is None else ids[row.index[0]],
            )
            for row in result.elements(keep)
        )
        extremes = []
        for value, at in ((check.max_abs_err, check.max_abs_err_at), (check.max_rel_err,
                          check.max_rel_err_at)):  # fmt: skip
            extremes.append((value, (start, 0) if at is None else shifted(at)))
        return cls(
            eps, rtol, atol, check.checked, check.failed, reference.failed, *extremes, worst,
            Diagnosis.of(yours, analytic, rtol=rtol, atol=atol), keep, mistakes,
        )  # fmt: skip

    def merge(self, other: AgainstState) -> AgainstState:
        worst = sorted((*self.worst, *other.worst), key=lambda w: (-w[0], w[1]))[: self.keep]
        return replace(
            self,
            checked=self.checked + other.checked,
            failed=self.failed + other.failed,
            reference_failed=self.reference_failed + other.reference_failed,
            max_abs=_larger(self.max_abs, other.max_abs),
            max_rel=_larger(self.max_rel, other.max_rel),
            worst=tuple(worst),
            diagnosis=self.diagnosis.merge(other.diagnosis),
            mistakes=None if self.mistakes is None else self.mistakes.merge(other.mistakes),
        )

    # what a report reads of a check (as of CheckResult)
    @property
    def check(self) -> AgainstState:
        return self

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def max_abs_err(self) -> float:
        return self.max_abs[0]

    @property
    def max_rel_err(self) -> float:
        return self.max_rel[0]

    @property
    def reference_check(self) -> Reference:
        return Reference(self.reference_failed)

    def elements(self, limit: int) -> list[Row]:
        return [row for _, _, row, _ in self.worst[:limit]]

    @property
    def ids(self) -> dict[int, Any]:
        """The ids of the worst elements' rows (when the input has ids)."""
        return {row.index[0]: label for _, _, row, label in self.worst if label is not None}

    @property
    def named(self) -> list[str]:
        """The common mistake yours matches, when it differs (a Hessian's; else [])."""
        return [] if self.passed or self.mistakes is None else self.mistakes.findings()

    def result(
        self,
        rows: RowFindings | None = None,
        *,
        what: str = "gradient",
        index: Callable[[tuple[int, int]], tuple[int, ...]] | None = None,
    ) -> StreamedAgainst:
        """The finished comparison; ``rows``: the diagnosis's second pass, when
        ``self.diagnosis.plan(...)`` asked for one (and :attr:`named` found nothing);
        ``index``: the full index of a kernels' (row, col), for K-dim inputs (as
        :func:`diagnose`)."""
        plan = self.diagnosis.plan(rtol=self.rtol, atol=self.atol)
        findings = self.named or (plan.findings if rows is None else rows.findings(plan, index))
        if self.reference_failed:
            findings = [*findings, _reference_note(what, self.reference_failed)]
        return StreamedAgainst(self, findings)


@dataclass(frozen=True)
class StreamedAgainst:
    """A comparison folded over blocks (:class:`AgainstState`) with its findings: what the
    reports read of :class:`AgainstResult` (``check``, ``findings``, ``reference_check``,
    ``passed``, ``elements``), without the arrays."""

    state: AgainstState
    findings: list[str]

    @property
    def check(self) -> AgainstState:
        return self.state

    @property
    def reference_check(self) -> Reference:
        return self.state.reference_check

    @property
    def passed(self) -> bool:
        return self.state.passed

    def elements(self, limit: int) -> list[Row]:
        return self.state.elements(limit)


def compare_hessian(
    loss: Loss,
    prepared: Prepared,
    yours: Any,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    analytic: np.ndarray | None = None,
    sums: tuple[float, float, int] | None = None,
) -> AgainstResult:
    """Compare ``yours``, a Hessian diagonal shaped like the predictions, with ``loss``'s (and
    with central differences of its analytic gradient), as :func:`compare_gradient` does.
    ``sums``: rmse's merged ``(total, denominator, exponent)`` when the caller has them.

    The findings name the common Hessian mistakes the loss knows of first (``Loss.hess_mistakes``:
    p instead of p(1 − p), a missing Σy, XGBoost's factor 2), then constant factors and signs.

    >>> import losscli
    >>> from losscli.against import compare_hessian
    >>> z = [[0.5, -1.0, 2.0]]
    >>> prepared = losscli.cross_entropy.prepare_inputs(z, [2], logits=True)
    >>> p = losscli.softmax(prepared.predictions)
    >>> print(compare_hessian(losscli.cross_entropy, prepared, p).findings[0][:56])
    every element matches a common mistake: p instead of p(1
    """
    from .hesscheck import numeric_hessian_diagonal

    if analytic is None:
        analytic = loss.reduce_hess(prepared, reduction=reduction, sample_weights=sample_weights)
    return _against(
        prepared,
        yours,
        analytic,
        lambda: numeric_hessian_diagonal(
            loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps, sums=sums
        ),
        "hessian",
        lambda mine: _named_mistakes(loss, prepared, mine, analytic, rtol, atol),
        eps=eps,
        rtol=rtol,
        atol=atol,
    )


def _named_mistakes(
    loss: Loss,
    prepared: Prepared,
    yours: np.ndarray,
    analytic: np.ndarray,
    rtol: float,
    atol: float,
) -> list[str]:
    """The loss's own list of common Hessian mistakes, each a ratio (yours / losscli's) that
    the mistake produces element by element: name the first one ``yours`` matches."""
    found = Mistakes.of(loss, prepared, yours, analytic, rtol=rtol, atol=atol)
    return [] if found is None else found.findings()


@dataclass(frozen=True)
class Mistakes:
    """Which of the loss's common Hessian mistakes (``Loss.hess_mistakes``) yours matches,
    mergeable over blocks of rows: per mistake, whether losscli's value is informative
    anywhere (``|h| > atol``), whether the mistake changes nothing at every element (within
    rtol/atol: it is then not evidence), and whether yours equals the mistake's value at every
    element — "any" and "all" over the blocks, exactly."""

    names: tuple[str, ...]
    informative: tuple[bool, ...]
    unchanged: tuple[bool, ...]
    matches: tuple[bool, ...]

    @classmethod
    def of(cls, loss: Loss, prepared: Prepared, yours, analytic, *, rtol, atol) -> Mistakes | None:
        if loss.hess_mistakes is None:
            return None
        mistakes = loss.hess_mistakes(prepared.predictions, prepared.targets, **prepared.options)
        names, informative, unchanged, matches = [], [], [], []
        for name, ratio in mistakes:
            candidate = analytic * ratio
            names.append(name)
            informative.append(bool((np.abs(analytic) > atol).any()))
            unchanged.append(bool(np.allclose(candidate, analytic, rtol=rtol, atol=atol)))
            close = np.abs(yours - candidate) <= atol + rtol * np.abs(candidate)
            matches.append(bool(np.all(close)))
        return cls(tuple(names), tuple(informative), tuple(unchanged), tuple(matches))

    def merge(self, other: Mistakes) -> Mistakes:
        def both(f, a, b):
            return tuple(f(x, y) for x, y in zip(a, b, strict=True))

        return Mistakes(
            self.names,
            both(lambda x, y: x or y, self.informative, other.informative),
            both(lambda x, y: x and y, self.unchanged, other.unchanged),
            both(lambda x, y: x and y, self.matches, other.matches),
        )

    def findings(self) -> list[str]:
        for name, informative, unchanged, matches in zip(
            self.names, self.informative, self.unchanged, self.matches, strict=True
        ):
            if not informative or unchanged:
                continue  # the mistake makes no difference on these inputs
            if matches:
                return [f"every element matches a common mistake: {name}"]
        return []


# --------------------------------------------------------------------------- diagnosis


def _factors(n: int, d: int) -> list[tuple[float, str, str]]:
    """(factor, name, hint) for yours = factor × losscli's, the common mistakes first."""
    nd = n * d
    common = [
        (n, "N", f"{n}", "did you forget to divide by N, the mean over rows?"),
        (d, "D", f"{d}", "did you forget to divide by D, the columns each row's loss averages?"),
        (nd, "N·D", f"{nd}", "did you forget the mean over all N·D elements?"),
        (2, "", "2", "a stray factor 2, e.g. 2e used for a loss of ½e², or a term counted twice?"),
        (1 / n, "1/N", f"1/{n}", "did you divide by N where the reduction does not (sum)?"),
        (1 / d, "1/D", f"1/{d}", "did you divide by D, the columns, where the loss does not?"),
        (
            1 / nd,
            "1/(N·D)",
            f"1/{nd}",
            "did you take the mean over all N·D elements where the reduction is sum?",
        ),
        (0.5, "", "1/2", "did you forget the 2 in d(e²)/de = 2e?"),
    ]
    merged: dict[float, tuple[list[str], str, list[str]]] = {}  # factor -> symbols, value, hints
    for factor, symbol, value, hint in common:
        if factor == 1:
            continue  # N = 1 or D = 1: no mistake to name
        symbols, _, hints = merged.setdefault(float(factor), ([], value, []))
        symbols += [symbol] if symbol else []
        hints.append(hint)
    out = [
        (factor, " = ".join([*symbols, value]), "; or ".join(h.rstrip("?") for h in hints) + "?")
        for factor, (symbols, value, hints) in merged.items()
    ]
    flip = "the sign is flipped: did you use y − ŷ for ŷ − y, or differentiate w.r.t. the targets?"
    signed = [(-1.0, "−1", flip)]
    for factor, name, hint in list(out):
        negative = " = ".join("−" + part for part in name.split(" = "))
        signed.append((-factor, negative, f"the sign is flipped too, and {hint}"))
    return out + signed


@dataclass(frozen=True)
class Ratios:
    """What decides whether yours = c × losscli's for one constant c over each of a set of
    groups of elements (the columns; the rows of a block): where losscli's is not negligible
    (``|r| > atol``) the ``count`` of elements and the least and greatest ratio ``lo``, ``hi``;
    elsewhere the largest ``|yours|`` (``rest``). One value per group, merged group by group,
    exactly (sums of counts, minima, maxima), so any split of the rows gives the same state.

    The constant is the midpoint ``c = (lo + hi)/2``; a group has one when every ratio lies
    within ``rtol·|c|`` of it (``max(hi − c, c − lo) ≤ rtol·|c|``) and ``|yours| ≤
    atol·max(1, |c|)`` where losscli's is negligible. (The midpoint replaced a median, which no
    bounded state gives exactly; wherever the ratios agree to within rtol the two differ by
    less than rtol·|c|.)
    """

    count: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rest: np.ndarray

    @classmethod
    def of(cls, yours: np.ndarray, reference: np.ndarray, atol: float, axis: int) -> Ratios:
        informative = np.abs(reference) > atol
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = yours / reference
        return cls(
            informative.sum(axis=axis),
            np.where(informative, ratios, np.inf).min(axis=axis),
            np.where(informative, ratios, -np.inf).max(axis=axis),
            np.where(informative, 0.0, np.abs(yours)).max(axis=axis),
        )

    def merge(self, other: Ratios) -> Ratios:
        return Ratios(
            self.count + other.count,
            np.minimum(self.lo, other.lo),
            np.maximum(self.hi, other.hi),
            np.maximum(self.rest, other.rest),
        )

    def total(self) -> Ratios:
        """The one group of all the groups' elements."""
        return Ratios(
            np.array([self.count.sum()]),
            np.array([self.lo.min()]),
            np.array([self.hi.max()]),
            np.array([self.rest.max()]),
        )

    def constants(self, rtol: float, atol: float) -> tuple[np.ndarray, np.ndarray]:
        """``(has, c)``: whether each group has a constant ratio, and the constant."""
        with np.errstate(invalid="ignore", over="ignore"):
            c = 0.5 * self.lo + 0.5 * self.hi
            spread = rtol * np.abs(c)
            has = (
                (self.count > 0)
                & (c != 0.0)
                & (self.hi - c <= spread)
                & (c - self.lo <= spread)
                & (self.rest <= atol * np.maximum(1.0, np.abs(c)))
            )
        return has, c

    def hints(self, n: int, d: int, rtol: float, atol: float) -> list[str | None]:
        """The finding for each group (:func:`_explain`), None where there is none."""
        has, c = self.constants(rtol, atol)
        out: list[str | None] = [None] * len(has)
        for k in np.flatnonzero(has):
            out[k] = _explain(float(c[k]), int(self.count[k]), n, d, rtol)
        return out


def _explain(c: float, support: int, n: int, d: int, rtol: float) -> str | None:
    """The finding for yours = c × losscli's over ``support`` informative elements."""
    if abs(c - 1.0) <= rtol:
        return None
    times = (
        f"yours = {_number(c)} × losscli's"
        if abs(c) >= 1
        else (f"yours = losscli's / {_number(1.0 / c)}")
    )
    for factor, name, hint in _factors(n, d):
        if abs(c - factor) <= rtol * abs(factor):
            return f"a factor of {name} ({times}): {hint}"
    if support < 2:
        return None  # one element has a ratio to anything; not evidence of a constant factor
    return f"a constant factor of {_number(c)} ({times})"


def _listing(ks: list[int], total: int | None = None) -> str:
    total = len(ks) if total is None else total
    shown = ", ".join(str(k) for k in ks[:MAX_LISTED])
    return shown + (f" and {total - MAX_LISTED} more" if total > MAX_LISTED else "")


def _number(x: float) -> str:
    return f"{x:.6g}".replace("-", "−")


def _bad(y: np.ndarray, r: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    return np.abs(y - r) > atol + rtol * np.abs(r)


@dataclass(frozen=True)
class Diagnosis:
    """The first pass of :func:`diagnose`, mergeable over blocks of rows: per column the
    :class:`Ratios` and how many elements differ, and the rows seen. ``plan`` then decides
    the findings of the whole array and of the columns, and whether a second pass over the
    rows (:class:`RowFindings`) is needed."""

    columns: Ratios
    bad: np.ndarray  # elements that differ, per column
    rows: int
    vector: bool

    @classmethod
    def of(cls, yours: np.ndarray, reference: np.ndarray, *, rtol: float, atol: float) -> Diagnosis:
        y = yours.reshape(len(yours), -1)
        r = reference.reshape(len(reference), -1)
        bad = _bad(y, r, rtol, atol).sum(axis=0)
        return cls(Ratios.of(y, r, atol, axis=0), bad, len(y), yours.ndim == 1)

    def merge(self, other: Diagnosis) -> Diagnosis:
        return Diagnosis(
            self.columns.merge(other.columns),
            self.bad + other.bad,
            self.rows + other.rows,
            self.vector,
        )

    def plan(self, *, rtol: float, atol: float) -> Plan:
        n, d = self.rows, len(self.bad)
        if not self.bad.any():
            return Plan(n, d, self.vector, [], None)
        whole = self.columns.total().hints(n, d, rtol, atol)[0]
        if whole is not None:
            return Plan(n, d, self.vector, [f"every element is off by {whole}"], None)
        explained = np.zeros(d, dtype=bool)
        by_hint: dict[str, list[int]] = {}
        if d > 1:
            for j, hint in enumerate(self.columns.hints(n, d, rtol, atol)):
                if self.bad[j] and hint is not None:
                    explained[j] = True
                    by_hint.setdefault(hint, []).append(j)
        findings = [_grouped("column", ks, len(ks), hint) for hint, ks in by_hint.items()]
        return Plan(n, d, self.vector, findings, explained if self.bad[~explained].any() else None)


def _grouped(kind: str, ks: list[int], total: int, hint: str) -> str:
    if total == 1:
        return f"{kind} {_listing(ks, total)} is off by {hint}"
    return f"{kind}s {_listing(ks, total)} are off by {hint}"


@dataclass(frozen=True)
class Plan:
    """The findings so far; ``columns`` (which columns a factor explains) when elements
    outside them differ and the rows must be looked at (a second pass)."""

    n: int
    d: int
    vector: bool
    findings: list[str]
    columns: np.ndarray | None


@dataclass(frozen=True)
class RowFindings:
    """The second pass of :func:`diagnose`, mergeable over consecutive blocks of rows (left
    first): the rows a constant factor explains, by finding (how many, the first few), and
    the elements left unexplained (how many, the first, whether yours is 0 at all of them)."""

    hints: dict[str, tuple[int, tuple[int, ...]]]
    rest: int = 0
    first: tuple[int, int, float, float] | None = None  # row, col, yours, losscli's
    nonzero: bool = False

    @classmethod
    def of(
        cls,
        yours: np.ndarray,
        reference: np.ndarray,
        plan: Plan,
        *,
        start: int = 0,
        rtol: float,
        atol: float,
    ) -> RowFindings:
        assert plan.columns is not None
        y = yours.reshape(len(yours), -1)
        r = reference.reshape(len(reference), -1)
        left = _bad(y, r, rtol, atol) & ~plan.columns
        hints: dict[str, tuple[int, tuple[int, ...]]] = {}
        if plan.n > 1:
            candidates = np.flatnonzero(left.any(axis=1))
            found = Ratios.of(y[candidates], r[candidates], atol, axis=1)
            for i, hint in zip(candidates, found.hints(plan.n, plan.d, rtol, atol), strict=True):
                if hint is not None:
                    left[i] = False
                    count, rows = hints.get(hint, (0, ()))
                    if len(rows) < MAX_LISTED:
                        rows = (*rows, start + int(i))
                    hints[hint] = (count + 1, rows)
        rest = int(left.sum())
        if not rest:
            return cls(hints)
        i, j = (int(v) for v in np.unravel_index(int(np.argmax(left)), left.shape))
        nonzero = bool((np.abs(y[left]) > atol).any())
        return cls(hints, rest, (start + i, j, float(y[i, j]), float(r[i, j])), nonzero)

    def merge(self, other: RowFindings) -> RowFindings:
        hints = dict(self.hints)
        for hint, (count, rows) in other.hints.items():
            before, first = hints.get(hint, (0, ()))
            hints[hint] = (before + count, (*first, *rows)[:MAX_LISTED])
        return RowFindings(
            hints,
            self.rest + other.rest,
            self.first if self.first is not None else other.first,
            self.nonzero or other.nonzero,
        )

    def findings(
        self, plan: Plan, index: Callable[[tuple[int, int]], tuple[int, ...]] | None = None
    ) -> list[str]:
        findings = plan.findings + [
            _grouped("row", list(rows), count, hint) for hint, (count, rows) in self.hints.items()
        ]
        if self.rest:
            assert self.first is not None
            i, j, y, r = self.first
            at = f"(row {i})" if plan.vector else f"(row {i}, col {j})"
            if index is not None:
                at = f"index {index((i, j))}"
            if self.nonzero:
                what = f"e.g. at {at} yours is {_number(y)}, losscli's {_number(r)}"
            else:
                what = "your gradient is 0 there"
            findings.append(
                f"{self.rest} of {plan.n * plan.d} elements differ with no common factor ({what})"
            )
        return findings


def diagnose(
    yours: np.ndarray,
    reference: np.ndarray,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    index: Callable[[tuple[int, int]], tuple[int, ...]] | None = None,
) -> list[str]:
    """Plain-language findings on where ``yours`` differs from ``reference``; [] when they agree.
    ``index``: the full index of a (row, col) element, for K-dim inputs (``RowLayout.index``).

    Looks for one constant ratio over the whole array, then per column, then per row (see
    :class:`Ratios`), and names it when it is a common factor (N, D, N·D, 2, their inverses,
    −1 times any). The one-block case of :class:`Diagnosis` and :class:`RowFindings`, which a
    streamed comparison folds over its blocks.
    """
    plan = Diagnosis.of(yours, reference, rtol=rtol, atol=atol).plan(rtol=rtol, atol=atol)
    if plan.columns is None:
        return plan.findings
    rows = RowFindings.of(yours, reference, plan, rtol=rtol, atol=atol)
    return rows.findings(plan, index)
