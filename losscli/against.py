"""Checking a gradient the user computed: compare it with losscli's, and say what is wrong.

:func:`compare_gradient` puts the user's gradient next to losscli's analytic gradient and the
finite differences, element by element (a :class:`~losscli.gradcheck.CheckResult` with the
user's gradient as the candidate and losscli's as the reference). :func:`diagnose` then looks
for the usual mistakes: a constant ratio between the two over the whole array, a column or a
row, named when it is a common factor (N, D, N·D, 2, their inverses, a sign flip).

Pure functions over arrays: no printing, no CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

__all__ = ["AgainstResult", "compare_gradient", "compare_hessian", "diagnose", "match_shape"]

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
) -> AgainstResult:
    """Compare ``yours`` with ``loss``'s analytic gradient (and with finite differences).

    An element passes when ``|yours − analytic| ≤ atol + rtol·|analytic|``.

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
        lambda: numeric_gradient(
            loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
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
        kink = (
            "a kink or a clamp, e.g. |x| at 0"
            if what == "gradient"
            else "a kink of the gradient, e.g. huber at |e| = δ"
        )
        findings.append(
            f"note: losscli's analytic {_NOUN[what]} and finite differences disagree at "
            f"{reference.failed} element(s) ({kink}); the comparison uses losscli's analytic "
            "value there"
        )
    if layout is not None:  # every element named by its full index in the given layout
        check, reference = check.in_layout(layout), reference.in_layout(layout)
        numeric = layout.restore(numeric)
    return AgainstResult(check, numeric, reference, findings)


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
) -> AgainstResult:
    """Compare ``yours``, a Hessian diagonal shaped like the predictions, with ``loss``'s (and
    with central differences of its analytic gradient), as :func:`compare_gradient` does.

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
            loss, prepared, reduction=reduction, sample_weights=sample_weights, eps=eps
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
    if loss.hess_mistakes is None:
        return []
    mistakes = loss.hess_mistakes(prepared.predictions, prepared.targets, **prepared.options)
    for name, ratio in mistakes:
        candidate = analytic * ratio
        informative = np.abs(analytic) > atol
        if not informative.any() or np.allclose(candidate, analytic, rtol=rtol, atol=atol):
            continue  # the mistake makes no difference on these inputs
        if np.all(np.abs(yours - candidate) <= atol + rtol * np.abs(candidate)):
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


def _ratio(
    yours: np.ndarray, reference: np.ndarray, rtol: float, atol: float
) -> tuple[float, int] | None:
    """The constant c with yours ≈ c × reference over these elements, and how many elements
    fix it (those where the reference is not negligible); None when there is no such c."""
    informative = np.abs(reference) > atol
    if not informative.any():
        return None
    ratios = yours[informative] / reference[informative]
    c = float(np.median(ratios))
    if c == 0.0 or not np.all(np.abs(ratios - c) <= rtol * abs(c)):
        return None
    rest = ~informative
    if rest.any() and not np.all(np.abs(yours[rest]) <= atol * max(1.0, abs(c))):
        return None
    return c, int(informative.sum())


def _explain(
    yours: np.ndarray, reference: np.ndarray, n: int, d: int, rtol: float, atol: float
) -> str | None:
    found = _ratio(yours, reference, rtol, atol)
    if found is None:
        return None
    c, support = found
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


def _listing(ks: list[int]) -> str:
    shown = ", ".join(str(k) for k in ks[:MAX_LISTED])
    return shown + (f" and {len(ks) - MAX_LISTED} more" if len(ks) > MAX_LISTED else "")


def _number(x: float) -> str:
    return f"{x:.6g}".replace("-", "−")


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

    Looks for one constant ratio over the whole array, then per column, then per row, and
    names it when it is a common factor (N, D, N·D, 2, their inverses, −1 times any).
    """
    y = yours.reshape(len(yours), -1)
    r = reference.reshape(len(reference), -1)
    n, d = y.shape
    bad = np.abs(y - r) > atol + rtol * np.abs(r)
    if not bad.any():
        return []
    whole = _explain(y, r, n, d, rtol, atol)
    if whole is not None:
        return [f"every element is off by {whole}"]
    explained = np.zeros_like(bad)
    groups = []
    if d > 1:
        groups += [("column", j, (slice(None), j)) for j in range(d)]
    if n > 1:
        groups += [("row", i, (i, slice(None))) for i in range(n)]
    by_hint: dict[tuple[str, str], list[int]] = {}  # (kind, hint) -> columns or rows
    for kind, k, where in groups:
        if not (bad[where] & ~explained[where]).any():
            continue
        hint = _explain(y[where], r[where], n, d, rtol, atol)
        if hint is not None:
            explained[where] = True
            by_hint.setdefault((kind, hint), []).append(k)
    findings = [
        f"{kind} {_listing(ks)} is off by {hint}"
        if len(ks) == 1
        else f"{kind}s {_listing(ks)} are off by {hint}"
        for (kind, hint), ks in by_hint.items()
    ]
    rest = bad & ~explained
    if rest.any():
        i, j = (int(v) for v in np.argwhere(rest)[0])
        at = f"(row {i}, col {j})" if yours.ndim == 2 else f"(row {i})"
        if index is not None:
            at = f"index {index((i, j))}"
        zero = np.abs(y[rest]) <= atol
        if zero.all():
            what = "your gradient is 0 there"
        else:
            what = f"e.g. at {at} yours is {_number(y[i, j])}, losscli's {_number(r[i, j])}"
        findings.append(
            f"{int(rest.sum())} of {y.size} elements differ with no common factor ({what})"
        )
    return findings
