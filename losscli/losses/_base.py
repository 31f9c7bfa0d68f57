"""Shared machinery of the numeric core: validation helpers, the one reduction step, and the
:class:`Loss` object that every registered loss is.

A loss is described by a few pure kernels over *prepared* arrays (validated, float64):

``values(p, t, **opts)``
    Elementwise losses (``elementwise=True``) return one value per element, shaped like ``p``;
    the loss of a row is then the mean over its D elements. Row losses return ``(N,)``.
``grad(p, t, **opts)``
    The gradient of ``values(...).sum()`` with respect to ``p``, shaped like ``p``.
``weights(p, t, **opts)`` (optional)
    ``(N,)`` weights whose sum divides the total under ``mean`` (class weights of the targets,
    0 for ignored rows), or None. Without them every row weighs 1, so ``mean`` divides by N.
``sum_kernel(p, t, **opts)`` (optional, elementwise losses)
    ``Σ values(p, t)`` over all elements as a float, in fewer passes than ``values`` and a sum
    (mse: a dot product of ŷ − y with itself), and non-finite whenever an input is, so a
    finite sum vouches for the inputs; the streamed path then skips its own check of each
    chunk (see :meth:`Loss.row_total`).
``transform`` / ``transform_grad`` (optional)
    An outer function of the reduced value and its derivative (rmse: the square root of the
    mse). ``mean`` gives ``f(weighted mean of the rows)``, ``none`` gives ``f`` of each row. Such
    a loss is not separable across elements, so :mod:`losscli.gradcheck` perturbs one element
    at a time.

Everything else — per-row values, ``mean``/``sum``/``none``/``batchmean``, sample weights, the
gradient of the reduced loss — is done once, here, for every loss.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import CountedWarning, InputError, LossCliWarning, UsageError

__all__ = [
    "RowLayout",
    "Loss",
    "Param",
    "Prepared",
    "REDUCTIONS",
    "as_float_array",
    "check_log_probabilities",
    "check_same_shape",
    "check_same_rows",
    "check_unit_interval",
    "format_index",
    "parse_numbers",
    "warn",
]

REDUCTIONS = ("mean", "sum", "none")


# Errors below 2^400 square to below 2^800: no number of rows sums them past float64's 2^1024;
# where the largest is above 2^-400, the squares that underflow are below 2^-274 of its own.
_SAFE_EXPONENT = 400


# --------------------------------------------------------------------------- validation helpers


def as_float_array(x: Any, *, role: str, max_ndim: int | None = 2) -> np.ndarray:
    """``x`` as a float64 array of 1 or 2 dimensions (any number with ``max_ndim=None``),
    finite everywhere."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot be read as numbers ({exc})", role=role) from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if max_ndim is not None and arr.ndim > max_ndim:
        raise InputError(
            f"array has {arr.ndim} dimensions (shape {arr.shape}); this loss takes a vector or "
            "a matrix",
            role=role,
        )
    if arr.size == 0:
        raise InputError("array is empty", role=role)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))
        raise InputError(
            f"contains {len(bad)} NaN or infinite values (first at {format_index(bad[0])})",
            role=role,
        )
    return arr


def check_same_shape(predictions: np.ndarray, targets: np.ndarray) -> None:
    """Raise when the arrays differ in shape, showing both shapes."""
    if predictions.shape != targets.shape:
        raise InputError(
            f"predictions and targets differ in shape: {_shape(predictions)} vs {_shape(targets)}"
        )


def check_same_rows(*arrays: np.ndarray, names: tuple[str, ...] = ()) -> None:
    """Raise when the arrays do not all have the same number of rows."""
    rows = [len(a) for a in arrays]
    if len(set(rows)) > 1:
        what = f" ({', '.join(names)})" if names else ""
        raise InputError(f"found inconsistent numbers of rows{what}: {rows}")


def check_log_probabilities(a: np.ndarray, *, role: str, what: str, fix: str) -> None:
    """Log-probabilities are ≤ 0: a positive one is a probability or a logit by mistake."""
    _reject_first(a > 0, a, f"{what} are log-probabilities (≤ 0)", fix, role)


def check_unit_interval(a: np.ndarray, *, role: str, what: str, fix: str) -> None:
    """Probabilities lie in [0, 1]: name the first value outside and how to fix it."""
    _reject_first((a < 0.0) | (a > 1.0), a, f"{what} must lie in [0, 1]", fix, role)


def _reject_first(bad: np.ndarray, a: np.ndarray, what: str, fix: str, role: str) -> None:
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InputError(
            f"{what}, found {float(a[tuple(idx)])!r} at {format_index(idx)} — {fix}", role=role
        )


def format_index(index: Any) -> str:
    """``(row 3, col 1)`` for a 2-D index, ``(row 3)`` for a 1-D one; 0-based like numpy."""
    idx = [int(i) for i in np.atleast_1d(index)]
    return f"(row {idx[0]}, col {idx[1]})" if len(idx) == 2 else f"(row {idx[0]})"


def warn(message: str) -> None:
    """A :class:`LossCliWarning`; the CLI prints it as ``Warning: …`` on stderr."""
    warnings.warn(message, LossCliWarning, stacklevel=3)


def warn_counted(
    text: Callable[..., str],
    count: int,
    total: int | None = None,
    first: int | None = None,
    detail: Any = None,
) -> None:
    """A :class:`~losscli.errors.CountedWarning` about ``count`` of the inputs' values: a
    streamed run adds up its blocks' into one (``text(count, total, first, detail)``)."""
    warnings.warn(CountedWarning(text, count, total, first, detail), stacklevel=3)


def _shape(a: np.ndarray) -> str:
    return str(tuple(int(n) for n in a.shape))


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind)


def parse_numbers(text: str, *, role: str) -> np.ndarray:
    """An option given as text: a comma list of numbers (``1,2.5,3``).

    A file of them (``weights.csv``) is read by the caller (:mod:`losscli.engine` reads an
    option naming a file before the loss sees it): losses know nothing of files.
    """
    cells = [c.strip() for c in text.split(",")]
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        pass
    raise InputError(
        f"{text!r} is neither a comma-separated list of numbers nor a file of them "
        "(e.g. 1,2.5,1 or weights.csv)",
        role=role,
    )


# --------------------------------------------------------------------------- the Loss object


@dataclass(frozen=True)
class Param:
    """A loss-specific option, described once for the Python API, the CLI, ``list`` and docs."""

    name: str  # keyword argument name, e.g. "delta"; the CLI flag is --delta
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    cli_flag: str | None = None  # when the flag is not --<name with dashes>
    # Turns the option's text (from the CLI, or a str in Python) into its value, e.g. a comma
    # list of class weights into an array; values of other types are passed through.
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None  # how ``list`` and --help name the value, e.g. "W"
    # The option names a column of the one file holding the inputs (--var-col), whose values
    # are this loss option's, one per row (``column_of="var"``); the engine reads it.
    column_of: str | None = None

    @property
    def flag(self) -> str:
        return self.cli_flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class RowLayout:
    """How an input of more than two dimensions was laid out as the rows the kernels take.

    Class losses (ce, nll) take ``(N, C, d1, …, dk)`` predictions with ``(N, d1, …, dk)``
    class-index targets (or probability targets shaped like the predictions), as PyTorch does
    for segmentation and sequences: every position is a row of C scores, so ``mean`` averages
    over the N·d1·…·dk positions (weighted by class weights, as torch). ``class_axis`` is 1 (torch)
    or −1 (optax, Keras: ``(N, d1, …, dk, C)``). Losses that average or sum over a row's
    elements (mse, bce, kl, …) take any shape ``(N, …)``: a row is a sample's elements.
    """

    shape: tuple[int, ...]  # the predictions as given
    class_axis: int | None = None  # None: the trailing dimensions were flattened into rows

    @property
    def samples(self) -> int:
        return self.shape[0]

    @property
    def row_shape(self) -> tuple[int, ...]:
        """Shape of the per-row values (``reduction="none"``) in the given layout."""
        if self.class_axis is None:
            return (self.shape[0],)
        return tuple(n for i, n in enumerate(self.shape) if i != self.class_axis % len(self.shape))

    def restore(self, grad: np.ndarray) -> np.ndarray:
        """A gradient (or anything shaped like the kernels' predictions) in the given layout."""
        if self.class_axis is None:
            return grad.reshape(self.shape)
        moved = grad.reshape((*self.row_shape, self.shape[self.class_axis]))
        return np.moveaxis(moved, -1, self.class_axis)

    def flatten(self, given: np.ndarray) -> np.ndarray:
        """An array shaped like the predictions as given, as the kernels' rows (``restore``'s
        inverse): a user's gradient or Hessian in the inputs' own layout."""
        if self.class_axis is None:
            return given.reshape(self.shape[0], -1)
        return np.moveaxis(given, self.class_axis, -1).reshape(-1, self.shape[self.class_axis])

    def restore_rows(self, rows: np.ndarray) -> np.ndarray:
        return rows.reshape(self.row_shape) if self.class_axis is not None else rows

    def index(self, flat: Any) -> tuple[int, ...]:
        """The full index, in the given layout, of element ``flat`` ((row, col) or (row,)) of
        the kernels' arrays — for tables and messages."""
        flat = tuple(int(i) for i in np.atleast_1d(flat))
        if self.class_axis is None:
            trailing = self.shape[1:]
            col = flat[1] if len(flat) > 1 else 0
            return (flat[0], *np.unravel_index(col, trailing)) if trailing else (flat[0],)
        position = np.unravel_index(flat[0], self.row_shape)
        axis = self.class_axis % len(self.shape)
        full = [int(i) for i in position]
        full.insert(axis, flat[1] if len(flat) > 1 else 0)
        return tuple(full)


def check_class_axis(class_axis: Any) -> None:
    """The class axis of an input of more than two dimensions: first after N, or last."""
    if class_axis not in (1, -1):
        raise UsageError(f"--class-axis must be 1 (torch) or -1 (optax, Keras), got {class_axis}")


def flatten_layout(
    predictions: np.ndarray, targets: np.ndarray, class_axis: int | None
) -> tuple[np.ndarray, np.ndarray, RowLayout]:
    """``(predictions, targets)`` of more than two dimensions as 2-D kernel rows (see
    :class:`RowLayout`)."""
    shape = tuple(int(n) for n in predictions.shape)
    if class_axis is None:
        check_same_shape(predictions, targets)
        rows = shape[0]
        return predictions.reshape(rows, -1), targets.reshape(rows, -1), RowLayout(shape)
    check_class_axis(class_axis)
    layout = RowLayout(shape, class_axis)
    p = layout.flatten(predictions)
    if targets.shape == predictions.shape:  # probability targets in the same layout
        return p, layout.flatten(targets), layout
    if targets.shape == layout.row_shape:  # class indices, one per position
        return p, targets.reshape(-1), layout
    raise InputError(
        f"targets of shape {_shape(targets)} fit predictions of shape {shape} neither as class "
        f"indices (shape {layout.row_shape}: the predictions' without the class axis "
        f"{class_axis}) nor as probabilities (the same shape); for (N, d1, …, C) inputs pass "
        "--class-axis -1",
        role="targets",
    )


@dataclass(frozen=True)
class Decision:
    """A reading of the inputs that a block takes from its own values and that every block of
    one input must share: hinge's labels read as 0/1 (0 → −1) or as ±1. ``value`` names the
    reading; ``at`` is the first index that showed it (its row counted from the input's first
    row once the engine has shifted it); ``conflict(first, second)`` is the message for two
    blocks that read the input differently (a module-level function: states are pickled)."""

    value: str
    at: tuple[int, ...]
    conflict: Callable[[Decision, Decision], str]
    role: str = "targets"

    def shifted(self, rows: int) -> Decision:
        return replace(self, at=(self.at[0] + rows, *self.at[1:])) if rows else self


def merge_decisions(a: dict[str, Decision], b: dict[str, Decision]) -> dict[str, Decision]:
    """The decisions of two blocks: the earlier of each, or the InputError of a conflict — a
    block alone cannot see that another block of the input reads it the other way."""
    out = dict(a)
    for key, theirs in b.items():
        mine = out.get(key)
        if mine is None:
            out[key] = theirs
            continue
        first, second = sorted((mine, theirs), key=lambda d: d.at)
        if mine.value != theirs.value:
            raise InputError(first.conflict(first, second), role=first.role)
        out[key] = first
    return out


@dataclass(frozen=True)
class Prepared:
    """Validated inputs, ready for the kernels; ``describe`` adds facts for the report,
    ``decisions`` the readings every block of the input must share (:class:`Decision`)."""

    predictions: np.ndarray
    targets: np.ndarray
    options: dict[str, Any]
    describe: dict[str, Any] = field(default_factory=dict)
    per_row: tuple[str, ...] = ()  # kernel options holding one value per row
    layout: RowLayout | None = None  # inputs of more than 2 dimensions (see RowLayout)
    decisions: dict[str, Decision] = field(default_factory=dict)

    def scaled(self, k: int) -> Prepared:
        """The inputs times 2^-k (exact for a power of two, barring underflow)."""
        return replace(
            self,
            predictions=np.ldexp(self.predictions, -k),
            targets=np.ldexp(np.asarray(self.targets, dtype=np.float64), -k),
        )

    def scaled_rows(self, k: np.ndarray) -> Prepared:
        """Each row's inputs times its own 2^-k_i (``k``: one exponent per row)."""
        kk = k.reshape((-1,) + (1,) * (np.ndim(self.predictions) - 1))
        return self.scaled(kk)  # type: ignore[arg-type]

    def take_rows(self, rows: slice) -> Prepared:
        """The same inputs restricted to ``rows``: predictions, targets and per-row options."""
        options = {
            k: v[rows] if k in self.per_row and v is not None else v
            for k, v in self.options.items()
        }
        return replace(
            self,
            predictions=self.predictions[rows],
            targets=self.targets[rows],
            options=options,
        )


Kernel = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Loss:
    """One registered loss: its kernels, its options and its documentation.

    Call it for the reduced value, ``.grad`` for the gradient of the reduced value with respect
    to the predictions, ``.value_and_grad`` for both in one pass.
    """

    name: str
    summary: str
    formula: str
    gradient_formula: str
    reference: str  # the function whose semantics it follows, e.g. torch.nn.functional.mse_loss
    values: Kernel
    grad_kernel: Kernel
    prepare: Callable[..., Prepared]
    params: tuple[Param, ...] = ()
    elementwise: bool = False
    weights: Kernel | None = None
    value_and_grad_kernel: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
    sum_kernel: Callable[..., float] | None = None
    reductions: tuple[str, ...] = REDUCTIONS
    aliases: tuple[str, ...] = ()
    sample_data: Callable[[Mapping[str, Any]], tuple[str, str]] | None = None
    examples: tuple[str, ...] = ()
    doc: str = ""
    transform: Callable[[Any], Any] | None = None
    transform_grad: Callable[[Any], Any] | None = None
    # A small input for ``losscli explain``'s worked example: (predictions, targets, options).
    example: tuple[Any, Any, Mapping[str, Any]] | None = None
    # Second derivatives: ``hess_kernel(p, t, **opts)`` is the diagonal of the Hessian of
    # ``values(p, t, **opts).sum()`` w.r.t. ``p``, shaped like ``p`` (laid out as grad_kernel);
    # None where the loss has none. ``hess_note`` says where it is degenerate (mae: 0 almost
    # everywhere).
    hess_kernel: Kernel | None = None
    hess_note: str = ""
    # Inputs of more than two dimensions (see RowLayout): True when a row's loss sums or averages
    # its elements, so the trailing dimensions flatten into a row (elementwise losses always
    # do); class losses take a ``class_axis`` option instead.
    trailing_dims: bool = False
    # Inputs of more than two dimensions are (N, C, d1, …, dk) (``class_axis``) whose row loss
    # couples all of a sample's elements (Dice per class over the positions): a kernel row is
    # a whole sample, flattened in the given layout, and ``prepare`` takes ``class_axis``.
    sample_classes: bool = False
    # ``kinks(p, t, **opts)``: boolean mask shaped like ``p``, True where the loss has no
    # derivative (hinge at the margin, |e| at 0); the grad kernel returns the documented
    # subgradient there and the checker reports such elements as "kink".
    kinks: Kernel | None = None
    # ``hess_kinks(p, t, **opts)``: True where the *gradient* has no derivative although the loss
    # has one (huber at |e| = δ is C¹ but not C²; mae at e = 0, where neither exists). The
    # Hessian kernel returns the documented one-sided value there and the Hessian check
    # reports such elements as kinks.
    hess_kinks: Kernel | None = None
    # ``hess_blocks_kernel(p, t, **opts)``: (N, C, C), each row's full Hessian of its own
    # ``values`` w.r.t. that row (softmax cross-entropy from logits: Σy·(diag p − p pᵀ)); None
    # where only the diagonal is offered. Rows never interact, so the Hessian of the reduced
    # loss is block-diagonal: these blocks, scaled by the reduction.
    hess_blocks_kernel: Callable[..., np.ndarray] | None = None
    # f''(u) of ``transform`` (rmse: −¼u^(−3/2)), for the chain rule of the Hessian.
    transform_hess: Callable[[Any], Any] | None = None
    # True when the row values are squared errors (p − t)² under a √ transform (rmse): the
    # squares may then be summed scaled by 4^-k (see :meth:`square_scale`) and the value,
    # gradient and Hessian unscaled by exact powers of two, so huge or tiny errors stay finite.
    scaled_squares: bool = False
    # ``hess_mistakes(p, t, **opts)``: the common hand-written Hessian mistakes for this loss,
    # as ``[(description, ratio)]`` with ``ratio`` (broadcastable to p) = the mistaken Hessian
    # / the right one, element by element; ``--against-hess`` names the one a user's matches.
    hess_mistakes: Callable[..., list[tuple[str, Any]]] | None = None
    # ``clamps(p, t, **opts)``: boolean mask shaped like ``p``, True where a clamp is active
    # (bce's log floored at −100 and its p(1 − p) at 1e-12, ce's --clip): the grad kernel
    # follows the reference library there, not the clamped function, and the checker labels
    # such elements "clamped" (never a failure). Either kernel may return None: none there
    # for these options.
    clamps: Kernel | None = None

    def __post_init__(self) -> None:
        # help(losscli.mse) and inspect.getdoc show the loss's own docstring.
        object.__setattr__(self, "__doc__", self.doc or self.summary)
        # inspect.signature(losscli.cross_entropy) lists the loss's own options (logits=False,
        # …) instead of **options, for help(), IDEs and notebooks.
        object.__setattr__(self, "__signature__", self._signature())

    def _signature(self) -> inspect.Signature:
        P = inspect.Parameter
        call = inspect.signature(type(self).__call__)
        shared = [p for p in call.parameters.values() if p.kind is not P.VAR_KEYWORD][1:]
        own = [
            P(p.name, P.KEYWORD_ONLY, default=p.default, annotation=_type_name(p.type))
            for p in self.params
        ]
        return call.replace(parameters=[*shared, *own])

    @property
    def separable(self) -> bool:
        """Each row's loss depends on that row alone, and the reduced loss is a weighted sum
        of rows, so finite differences may perturb many elements at once."""
        return self.transform is None

    def info(self) -> dict[str, Any]:
        """What ``losscli list`` shows: the formulas and the options, from the registry."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "formula": self.formula,
            "gradient": self.gradient_formula,
            "reference": self.reference,
            "reductions": list(self.reductions),
            "hessian": self.hess_summary(),
            "options": [
                {
                    "flag": p.flag,
                    "name": p.name,
                    "type": p.metavar or p.type.__name__,
                    "default": p.default,
                    "choices": list(p.choices) if p.choices else None,
                    "help": p.help,
                }
                for p in self.params
            ],
        }

    @property
    def has_hess(self) -> bool:
        """Whether :meth:`hess` is available (the loss has a ``hess_kernel``)."""
        return self.hess_kernel is not None and (
            self.transform is None or self.transform_hess is not None
        )

    def hess_summary(self) -> str:
        """One line for ``losscli list`` and ``--help``: whether the loss has a Hessian
        diagonal, the full blocks, and where it is degenerate."""
        if not self.has_hess:
            return "none"
        text = "diagonal" + (", full blocks (--hess full)" if self.hess_blocks_kernel else "")
        return f"{text}; {self.hess_note}" if self.hess_note else text

    # ----------------------------------------------------------------- public API

    def __call__(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> float | np.ndarray:
        """The loss reduced as asked: a float, or ``(N,)`` per-row values for ``none``."""
        prepared = self.prepare_inputs(predictions, targets, **options)
        value = self.reduce_values(prepared, reduction=reduction, sample_weights=sample_weights)
        return self._given_layout(prepared, value=value)[0]

    def grad(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> np.ndarray:
        """Gradient of the reduced loss w.r.t. the predictions (for ``none``: of each row's own
        loss), shaped like the predictions."""
        prepared = self.prepare_inputs(predictions, targets, **options)
        grad = self.reduce_grad(prepared, reduction=reduction, sample_weights=sample_weights)
        return self._given_layout(prepared, grad=grad)[1]

    def value_and_grad(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """``(value, grad)`` computed together (one pass where the loss allows it)."""
        prepared = self.prepare_inputs(predictions, targets, **options)
        value, grad = self.reduce_both(prepared, reduction=reduction, sample_weights=sample_weights)
        return self._given_layout(prepared, value=value, grad=grad)

    def hess(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> np.ndarray:
        """Diagonal of the Hessian of the reduced loss w.r.t. the predictions (for ``none``:
        of each row's own loss), shaped like the predictions; raises
        :class:`~losscli.UsageError` for a loss without one.

        Scaled by the same reduction step as the gradient: ``mean`` divides by N·D (or the
        summed weights), ``sum`` does not, ``none`` is each row's own (times its sample
        weight) — the per-sample convention of XGBoost and LightGBM objectives.

        >>> import losscli
        >>> losscli.mse.hess([1.0, 2.0], [0.0, 0.0])
        array([1., 1.])
        >>> losscli.cross_entropy.hess([[0.0, 0.0]], [0], logits=True, reduction="sum")
        array([[0.25, 0.25]])
        """
        prepared = self.prepare_inputs(predictions, targets, **options)
        hess = self.reduce_hess(prepared, reduction=reduction, sample_weights=sample_weights)
        return self._given_layout(prepared, grad=hess)[1]

    def value_grad_hess(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> tuple[float | np.ndarray, np.ndarray, np.ndarray]:
        """``(value, grad, hess diagonal)`` of the reduced loss, from one validation."""
        prepared = self.prepare_inputs(predictions, targets, **options)
        value, grad, hess = self.reduce_all(
            prepared, reduction=reduction, sample_weights=sample_weights
        )
        value, grad = self._given_layout(prepared, value=value, grad=grad)
        return value, grad, self._given_layout(prepared, grad=hess)[1]

    def hess_blocks(
        self,
        predictions: Any,
        targets: Any,
        *,
        reduction: str = "mean",
        sample_weights: Any = None,
        **options: Any,
    ) -> np.ndarray:
        """``(N, C, C)``: the diagonal blocks of the full Hessian of the reduced loss, one per
        row (rows do not interact, so every other entry is 0). Softmax cross-entropy from logits
        only: ``Σy·(diag p − p pᵀ)``, scaled as :meth:`hess`.

        >>> import losscli
        >>> losscli.cross_entropy.hess_blocks([[0.0, 0.0]], [1], logits=True, reduction="sum")
        array([[[ 0.25, -0.25],
                [-0.25,  0.25]]])
        """
        prepared = self.prepare_inputs(predictions, targets, **options)
        return self.reduce_hess_blocks(prepared, reduction=reduction, sample_weights=sample_weights)

    # ----------------------------------------------------------------- shared machinery

    @property
    def takes_any_shape(self) -> bool:
        """Inputs of more than two dimensions are accepted (see :class:`RowLayout`)."""
        return self.elementwise or self.trailing_dims or "class_axis" in self.option_names

    @property
    def rows_are_positions(self) -> bool:
        """Inputs of more than two dimensions become one kernel row per position (ce, nll)."""
        return "class_axis" in self.option_names and not self.sample_classes

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def prepare_inputs(self, predictions: Any, targets: Any, **options: Any) -> Prepared:
        """Validate the inputs and options once; the kernels then trust them.

        Inputs of more than two dimensions are laid out as kernel rows first (see
        :class:`RowLayout`); the public calls give results back in the given layout."""
        merged = self.resolve_options(**options)
        max_ndim = None if self.takes_any_shape else 2
        p = as_float_array(predictions, role="predictions", max_ndim=max_ndim)
        t = as_float_array(targets, role="targets", max_ndim=max_ndim)
        return self.prepare_resolved(p, t, merged)

    def prepare_resolved(self, p: np.ndarray, t: np.ndarray, merged: dict[str, Any]) -> Prepared:
        """:meth:`prepare_inputs` for float64 arrays already read and checked (a streamed
        block) and options already resolved (:meth:`resolve_options`)."""
        merged = dict(merged)
        class_axis = merged.pop("class_axis", None)
        if p.ndim <= 2:
            return self.prepare(p, t, **merged)
        if self.sample_classes:
            layout = RowLayout(tuple(int(n) for n in p.shape))  # a row per sample
            return replace(self.prepare(p, t, class_axis=class_axis, **merged), layout=layout)
        p, t, layout = flatten_layout(p, t, class_axis)
        return replace(self.prepare(p, t, **merged), layout=layout)

    def _given_layout(self, prepared: Prepared, *, value: Any = None, grad: Any = None):
        """Per-row values and gradients back in the inputs' own layout."""
        layout = prepared.layout
        if layout is None:
            return value, grad
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = layout.restore_rows(value)
        return value, (None if grad is None else layout.restore(grad))

    def resolve_options(self, **options: Any) -> dict[str, Any]:
        """Every option of this loss: given ones parsed and checked, the others defaulted."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UsageError(
                f"{self.name} does not take option(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(known) or 'none'}"
            )
        merged = {name: options.get(name, p.default) for name, p in known.items()}
        for name, value in merged.items():
            if known[name].parse is not None and isinstance(value, str):
                merged[name] = value = known[name].parse(value)
            choices = known[name].choices
            if choices and value not in choices:
                raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return merged

    def row_values(self, prepared: Prepared) -> np.ndarray:
        """``(N,)`` loss of each row (unweighted by sample weights)."""
        return self._rows_from_values(self._kernel_values(prepared), prepared)

    def row_grad(self, prepared: Prepared) -> np.ndarray:
        """Gradient of each row's own loss, shaped like the predictions."""
        return self._rows_grad_from_kernel(self._kernel_grad(prepared), prepared)

    def rows_and_row_grad(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """``(row values, gradient of each row's own loss)`` in one pass where the loss allows."""
        if self.value_and_grad_kernel is None:
            values, grad = self._kernel_values(prepared), self._kernel_grad(prepared)
        else:
            values, grad = self.value_and_grad_kernel(
                prepared.predictions, prepared.targets, **prepared.options
            )
        return self._rows_from_values(values, prepared), self._rows_grad_from_kernel(grad, prepared)

    def square_scale(self, prepared: Prepared, reduction: str) -> int:
        """k with the errors scaled by 2^-k before squaring (BLAS nrm2, LAPACK dlassq): from
        the largest |ŷ − y| (np.frexp); 0 unless it is outside 2^±400 (where squares and
        their sums could overflow or underflow) or for a loss without ``scaled_squares``, so
        ordinary data gives exactly the unscaled numbers."""
        if not self.scaled_squares or reduction == "none" or not prepared.predictions.size:
            return 0
        with np.errstate(over="ignore", invalid="ignore"):
            biggest = float(np.max(np.abs(prepared.predictions - prepared.targets)))
        if not math.isfinite(biggest) or biggest == 0:
            return 0
        k = int(np.frexp(biggest)[1])
        return k if abs(k) > _SAFE_EXPONENT else 0

    def row_scales(self, prepared: Prepared) -> np.ndarray | None:
        """``--reduction none``'s :meth:`square_scale`: one k per row, from the row's largest
        |ŷ − y|; None when every row is within 2^±400 (or the loss has no ``scaled_squares``)."""
        p = prepared.predictions
        if not self.scaled_squares or not np.size(p) or np.ndim(p) == 0:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            biggest = np.abs(p - prepared.targets).reshape(len(p), -1).max(axis=1)
        k = np.frexp(np.where(np.isfinite(biggest), biggest, 0.0))[1]
        k = np.where(np.abs(k) > _SAFE_EXPONENT, k, 0)
        return k if k.any() else None

    def _scaled_none(
        self, prepared: Prepared, k: np.ndarray, sample_weights: Any, grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Each row's value (and gradient) under ``none`` with its errors scaled by 2^-k_i:
        √ of the scaled row mean, times 2^k_i; the gradient e/(D·rmse_i) is scale-free."""
        scaled = prepared.scaled_rows(k)
        s = self._sample_weights(sample_weights, prepared)
        if grad:
            rows, row_grad = self.rows_and_row_grad(scaled)
        else:
            rows, row_grad = self.row_values(scaled), None
        value = np.ldexp(np.asarray(self.transform(rows)), k)
        if s is not None:
            value = value * s
        if row_grad is None:
            return value, None
        g = self.scale_row_grad(row_grad, scaled, "none", sample_weights)
        factor = np.asarray(self.transform_grad(rows))
        return value, g * (factor[:, None] if factor.ndim == 1 and g.ndim == 2 else factor)

    def reduce_values(
        self, prepared: Prepared, *, reduction: str, sample_weights: Any = None
    ) -> float | np.ndarray:
        if reduction == "none" and (k_rows := self.row_scales(prepared)) is not None:
            return self._scaled_none(prepared, k_rows, sample_weights, grad=False)[0]
        k = self.square_scale(prepared, reduction)
        if k:
            self._check_reduction(reduction)
            u = self._combine(
                self.row_values(prepared.scaled(k)),
                prepared,
                reduction,
                self._sample_weights(sample_weights, prepared),
            )
            return math.ldexp(float(self.transform(u)), k)
        return self._reduce_value(self.row_values(prepared), prepared, reduction, sample_weights)

    def reduce_grad(
        self, prepared: Prepared, *, reduction: str, sample_weights: Any = None
    ) -> np.ndarray:
        if self.transform is not None:  # the chain rule needs the inner value too
            return self.reduce_both(prepared, reduction=reduction, sample_weights=sample_weights)[1]
        return self.scale_row_grad(self.row_grad(prepared), prepared, reduction, sample_weights)

    def reduce_both(
        self, prepared: Prepared, *, reduction: str = "mean", sample_weights: Any = None
    ) -> tuple[float | np.ndarray, np.ndarray]:
        if reduction == "none" and (k_rows := self.row_scales(prepared)) is not None:
            return self._scaled_none(prepared, k_rows, sample_weights, grad=True)  # type: ignore[return-value]
        k = self.square_scale(prepared, reduction)
        # k ≠ 0: the squares scaled by 4^-k, so the inner value stays finite; ∂(e²) = 2e is
        # linear, so its rows are unscaled by 2^k exactly
        rows, row_grad = self.rows_and_row_grad(prepared.scaled(k) if k else prepared)
        if k:
            row_grad = np.ldexp(row_grad, k)
        value = None if k else self._reduce_value(rows, prepared, reduction, sample_weights)
        s = self._sample_weights(sample_weights, prepared)
        if reduction == "none":
            grad = self.scale_row_grad(row_grad, prepared, reduction, sample_weights)
            if self.transform is not None:
                factor = np.asarray(self.transform_grad(rows))
                grad = grad * (factor[:, None] if factor.ndim == 1 and grad.ndim == 2 else factor)
            return value, grad
        weighted = row_grad if s is None else row_grad * (s if row_grad.ndim == 1 else s[:, None])
        total = float((rows if s is None else rows * s).sum())
        denominator = self._denominator(prepared, reduction, s) if reduction != "sum" else 1.0
        grad = self.finish_grad(
            weighted, reduction, total, denominator, self._row_size(prepared), exponent=2 * k
        )
        if k:
            value = self.finish_value(
                reduction, total, denominator, self._row_size(prepared), 2 * k
            )
        return value, grad

    def scale_row_grad(
        self, row_grad: np.ndarray, prepared: Prepared, reduction: str, sample_weights: Any
    ) -> np.ndarray:
        """Per-row gradients → gradient of the reduced loss (the chain rule of the reduction)."""
        self._check_reduction(reduction)
        s = self._sample_weights(sample_weights, prepared)
        scaled = self._weighted(row_grad, s)
        if reduction == "none":
            return scaled
        denominator = self._denominator(prepared, reduction, s) if reduction != "sum" else 1.0
        return self.scale_by_reduction(scaled, reduction, denominator, self._row_size(prepared))

    # ----------------------------------------------------------------- second derivatives

    def row_hess(self, prepared: Prepared) -> np.ndarray:
        """Diagonal of the Hessian of each row's own loss, shaped like the predictions (the
        kernel's, divided by D for elementwise losses, as the gradient is)."""
        self._require_hess()
        h = self.hess_kernel(prepared.predictions, prepared.targets, **prepared.options)
        return self._rows_grad_from_kernel(h, prepared)

    def reduce_hess(
        self, prepared: Prepared, *, reduction: str, sample_weights: Any = None
    ) -> np.ndarray:
        """Diagonal of the Hessian of the reduced loss (for ``none``: of each row's own)."""
        if self.transform is not None:
            return self.reduce_all(prepared, reduction=reduction, sample_weights=sample_weights)[2]
        return self.scale_row_grad(self.row_hess(prepared), prepared, reduction, sample_weights)

    def reduce_all(
        self, prepared: Prepared, *, reduction: str, sample_weights: Any = None
    ) -> tuple[float | np.ndarray, np.ndarray, np.ndarray]:
        """``(value, grad, hess diagonal)`` of the reduced loss: the value and gradient of
        :meth:`reduce_both`, the Hessian through :meth:`finish_hess`, the gradient's step."""
        self._require_hess()
        value, grad = self.reduce_both(prepared, reduction=reduction, sample_weights=sample_weights)
        return (
            value,
            grad,
            self.block_hess(prepared, reduction=reduction, sample_weights=sample_weights),
        )

    def block_hess(
        self,
        prepared: Prepared,
        *,
        reduction: str,
        sample_weights: Any = None,
        sums: tuple[float, float, int] | None = None,
    ) -> np.ndarray:
        """Diagonal of the reduced loss's Hessian at the rows of ``prepared``. ``sums``: the
        merged ``(total, denominator, exponent)`` of the whole input (a :class:`LossState`'s)
        when ``prepared`` is one block of it, a streamed pass; None: ``prepared`` is the whole
        input. Only a ``transform`` (rmse) needs the sums: ``f''(u)·(∂u)² + f'(u)·∂²u`` at the
        whole input's u (:meth:`finish_hess`)."""
        self._require_hess()
        s = self._sample_weights(sample_weights, prepared)
        row_hess = self.row_hess(prepared)
        if sums is not None and reduction != "none":
            k = sums[2] // 2  # the whole input's scale of the errors (its largest error's)
        else:
            k = self.square_scale(prepared, reduction)
        if reduction == "none":
            if self.transform is not None:  # each row its own f(u_i), times s_i afterwards
                # rows beyond 2^±400: their errors scaled by their own 2^-k_i (as the value
                # and gradient, _scaled_none); for √ the Hessian is the scaled one times 2^-k_i
                k_rows = self.row_scales(prepared)
                part = prepared if k_rows is None else prepared.scaled_rows(k_rows)
                rows, row_grad = self.rows_and_row_grad(part)
                f1 = self._per_row(self.transform_grad(rows), row_grad)
                f2 = self._per_row(self.transform_hess(rows), row_grad)
                row_hess = f2 * row_grad * row_grad + f1 * self.row_hess(part)
                if k_rows is not None:
                    row_hess = np.ldexp(row_hess, -k_rows.reshape(-1, *(1,) * (row_hess.ndim - 1)))
            return self.scale_row_grad(row_hess, prepared, "none", s)
        if self.transform is None:
            row_grad = rows = None
        else:  # k ≠ 0: rows and gradients of the errors scaled by 2^-k (see finish_hess)
            rows, row_grad = self.rows_and_row_grad(prepared.scaled(k) if k else prepared)
        if sums is None:
            total = 0.0 if rows is None else float((rows if s is None else rows * s).sum())
            denominator = self.weighted_denominator(prepared, reduction, s)
        else:
            total, denominator = sums[0], sums[1]
        return self.finish_hess(
            None if row_grad is None else self._weighted(row_grad, s),
            self._weighted(row_hess, s),
            reduction,
            total,
            denominator,
            self._row_size(prepared),
            exponent=2 * k,
        )

    def moved_grad(
        self,
        prepared: Prepared,
        shift: float,
        *,
        reduction: str,
        sample_weights: Any = None,
        sums: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """Element i of the reduced loss's gradient with element i alone moved to x_i + shift,
        for every i at once, shaped like the predictions: an elementwise loss under a
        ``transform`` f (rmse, f = √), for the central differences of the Hessian diagonal
        (:func:`losscli.hesscheck.numeric_hessian_diagonal`). Moving x_i (row r, D elements
        per row) moves the inner mean by Δu_i = s_r·(v_i(x_i + shift) − v_i(x_i))/(D·W)
        (v the elements' values, W the denominator), so

            g_i = f'(u + Δu_i) · s_r·∂v_i(x_i + shift)/(D·W),

        ``none``: each row's own u_r = mean_j v_rj and W = 1, times s_r. ``sums``: the merged
        ``(total, denominator)`` of the whole input (in the units of ``prepared``: the errors
        scaled by 2^-k when its state is) when ``prepared`` is one block; None: ``prepared``
        is the whole input. O(N·D): two kernel evaluations, whatever the size."""
        if self.transform is None or not self.elementwise:
            raise ValueError("moved_grad is for an elementwise loss under a transform (rmse)")
        self._check_reduction(reduction)
        s = self._sample_weights(sample_weights, prepared)
        x, t, options = prepared.predictions, prepared.targets, prepared.options
        d = self._row_size(prepared)
        moved = replace(prepared, predictions=x + shift)
        change = (self.values(moved.predictions, t, **options) - self.values(x, t, **options)) / d
        g = self._weighted(self.row_grad(moved), s)
        if reduction == "none":
            u = self._per_row(self.row_values(prepared), g) + change
            return g * self.transform_grad(u)
        if sums is None:
            rows = self.row_values(prepared)
            total = float((rows if s is None else rows * s).sum())
            denominator = self.weighted_denominator(prepared, reduction, s)
        else:
            total, denominator = sums
        u = self.reduce_totals(reduction, total + self._weighted(change, s), denominator, d)
        return self.scale_by_reduction(g, reduction, denominator, d) * self.transform_grad(u)

    def finish_hess(
        self,
        weighted_row_grad: np.ndarray | None,
        weighted_row_hess: np.ndarray,
        reduction: str,
        total: float,
        denominator: float,
        row_size: int,
        *,
        exponent: int = 0,
    ) -> np.ndarray:
        """THE Hessian step of every reduction but ``none``, :meth:`finish_grad`'s twin: the
        rows' own Hessian diagonals times their sample weights → the reduced loss's, by the
        same scaling (``mean``/``batchmean``: 1/denominator, ``sum``: D). With a ``transform``
        f of the reduced inner value u (rmse), the chain rule
        ``f''(u)·(∂u/∂x)² + f'(u)·∂²u/∂x²``, which needs the weighted row gradients too.
        With ``exponent`` = 2k (rmse's scaled squares), ``total`` and the row gradients are
        those of the errors times 2^-k; for √, f'' scales by 2^-3k, (∂u)² by 2^2k and f' by
        2^-k, so the whole is the scaled one times 2^-k, and (∂u)² never overflows.
        """
        self._check_reduction(reduction)
        d2u = self.scale_by_reduction(weighted_row_hess, reduction, denominator, row_size)
        if self.transform is None:
            return d2u
        du = self.scale_by_reduction(weighted_row_grad, reduction, denominator, row_size)
        inner = self.reduce_totals(reduction, total, denominator, row_size)
        f1 = float(np.asarray(self.transform_grad(inner)))
        f2 = float(np.asarray(self.transform_hess(inner)))
        hess = f2 * du * du + f1 * d2u
        return np.ldexp(hess, -(exponent // 2)) if exponent else hess

    @staticmethod
    def _weighted(row_values: np.ndarray, s: np.ndarray | None) -> np.ndarray:
        """Row arrays (N, …) times the sample weights, one per row."""
        return (
            row_values if s is None else row_values * s.reshape(-1, *(1,) * (row_values.ndim - 1))
        )

    def reduce_hess_blocks(
        self, prepared: Prepared, *, reduction: str, sample_weights: Any = None
    ) -> np.ndarray:
        """``(N, C, C)`` blocks of the full Hessian of the reduced loss (see
        :meth:`hess_blocks`), through the same reduction step."""
        if self.hess_blocks_kernel is None or self.transform is not None:
            why = (
                "its Hessian is diagonal (use --hess)"
                if self.has_hess
                else "it has no Hessian at all"
            )
            raise UsageError(
                f"{self.name} has no full Hessian blocks: {why}; "
                "--hess full is for softmax cross-entropy from logits (ce --logits)"
            )
        blocks = self.hess_blocks_kernel(prepared.predictions, prepared.targets, **prepared.options)
        return self.scale_row_grad(blocks, prepared, reduction, sample_weights)

    def _require_hess(self) -> None:
        if not self.has_hess:
            raise UsageError(
                f"{self.name} has no Hessian (no second-derivative kernel); "
                "losscli list shows which losses have one"
            )

    @staticmethod
    def _per_row(factor: Any, like: np.ndarray) -> np.ndarray:
        factor = np.asarray(factor, dtype=np.float64)
        return factor[:, None] if factor.ndim == 1 and like.ndim == 2 else factor

    # ----------------------------------------------------------------- reduction from totals
    # The reduction needs only sums over rows, so a streamed run (losscli.stream) can add them
    # up chunk by chunk and finish with the same two steps as the in-memory path.

    def reduce_totals(
        self, reduction: str, total: float, denominator: float, row_size: int
    ) -> float:
        """The reduced value from ``total`` = Σ (weighted) row losses and the ``denominator``
        (Σ of the row weights, see :meth:`denominator`)."""
        if reduction == "sum":
            return total * row_size
        # 0/0 (every target ignored) is NaN, as in PyTorch; say so rather than divide silently.
        if denominator == 0:
            warn("every row has zero weight (all targets ignored?); the mean is NaN")
            return float("nan")
        return total / denominator

    def finish_value(
        self, reduction: str, total: float, denominator: float, row_size: int, exponent: int = 0
    ) -> float:
        """THE reduction of a run from its merged sums (``mean``, ``sum``, ``batchmean``):
        :meth:`reduce_totals`, then the loss's ``transform`` (rmse's square root). The sum
        is ``total``·2^exponent (``exponent`` even: √ halves it exactly)."""
        value = self.reduce_totals(reduction, total, denominator, row_size)
        if self.transform is None:
            return value
        return math.ldexp(float(self.transform(value)), exponent // 2)

    def finish_grad(
        self,
        weighted_row_grad: np.ndarray,
        reduction: str,
        total: float,
        denominator: float,
        row_size: int,
        *,
        in_place: bool = False,
        exponent: int = 0,
    ) -> np.ndarray:
        """THE gradient step of every reduction but ``none``: rows' own gradients, times their
        sample weights (``s·∂L_row``, any block of them), → the gradient of the reduced loss.

        The same for one block or a whole file: divided by the merged denominator
        (``mean``/``batchmean``), times D (``sum``), times ``transform'`` of the inner reduced
        value (rmse). ``total`` and ``denominator`` are those of the whole run.
        """
        self._check_reduction(reduction)
        grad = self.scale_by_reduction(
            weighted_row_grad, reduction, denominator, row_size, in_place=in_place
        )
        if self.transform is not None and reduction != "none":
            inner = self.reduce_totals(reduction, total, denominator, row_size)
            # f'(u·4^k) = f'(u)·2^-k for √ (exponent = 2k)
            factor = math.ldexp(float(np.asarray(self.transform_grad(inner))), -(exponent // 2))
            grad = np.multiply(grad, factor, out=grad if in_place else None)
        return grad

    def scale_by_reduction(
        self,
        row_grad: np.ndarray,
        reduction: str,
        denominator: float,
        row_size: int,
        *,
        in_place: bool = False,
    ) -> np.ndarray:
        """Rows' own gradients → gradient of the reduced loss (unchanged for ``none``);
        ``in_place`` overwrites ``row_grad`` (same values, no new array)."""
        out = row_grad if in_place else None
        if reduction == "none":
            return row_grad
        if reduction == "sum":
            return np.multiply(row_grad, row_size, out=out)
        # Every row weighs 0 (all targets ignored): no element moves the loss; PyTorch's
        # gradient is 0 there too, while its value is NaN.
        if not denominator:
            if not in_place:
                return np.zeros_like(row_grad)
            row_grad.fill(0.0)  # not row_grad * 0, which keeps the sign (−0.0)
            return row_grad
        return np.divide(row_grad, denominator, out=out)

    def row_total(self, prepared: Prepared) -> float:
        """``Σ`` of the row values (the ``total`` of :meth:`reduce_totals`), through the
        ``sum_kernel`` when the loss has one (equal within summation error)."""
        if self.sum_kernel is None:
            return float(self.row_values(prepared).sum())
        total = self.sum_kernel(prepared.predictions, prepared.targets, **prepared.options)
        return total / self._row_size(prepared)

    def denominator(self, prepared: Prepared, reduction: str) -> float:
        """This input's part of the ``mean`` denominator (its rows, or Σ of their weights);
        parts of a split input add up."""
        return self._denominator(prepared, reduction, None)

    def denominator_weights(self, prepared: Prepared) -> np.ndarray:
        """``(N,)`` each row's weight in the ``mean`` denominator: class weights of the
        targets, 0 for ignored rows; 1 everywhere for losses without weights."""
        if self.weights is None:
            return np.ones(len(prepared.predictions))
        w = self.weights(prepared.predictions, prepared.targets, **prepared.options)
        return np.ones(len(prepared.predictions)) if w is None else np.asarray(w)

    def row_size(self, prepared: Prepared) -> int:
        """Elements averaged into one row's loss (D for elementwise losses on N × D, else 1)."""
        return self._row_size(prepared)

    def check_reduction(self, reduction: str) -> None:
        """Raise a UsageError unless this loss has ``reduction``."""
        self._check_reduction(reduction)

    def sample_weights_for(self, sample_weights: Any, prepared: Prepared) -> np.ndarray | None:
        """``sample_weights`` checked against ``prepared`` (one non-negative value per row)."""
        return self._sample_weights(sample_weights, prepared)

    def weighted_denominator(
        self, prepared: Prepared, reduction: str, sample_weights: np.ndarray | None
    ) -> float:
        """This block's part of the denominator with sample weights (1.0 for ``sum``)."""
        return self._denominator(prepared, reduction, sample_weights) if reduction != "sum" else 1.0

    # ----------------------------------------------------------------- internals

    def _kernel_values(self, prepared: Prepared) -> np.ndarray:
        return self.values(prepared.predictions, prepared.targets, **prepared.options)

    def _kernel_grad(self, prepared: Prepared) -> np.ndarray:
        return self.grad_kernel(prepared.predictions, prepared.targets, **prepared.options)

    def _rows_from_values(self, values: np.ndarray, prepared: Prepared) -> np.ndarray:
        if self.elementwise and values.ndim == 2:
            return values.mean(axis=1)
        return values

    def _rows_grad_from_kernel(self, grad: np.ndarray, prepared: Prepared) -> np.ndarray:
        if self.elementwise and grad.ndim == 2:
            return grad / grad.shape[1]
        return grad

    def _row_size(self, prepared: Prepared) -> int:
        """Elements averaged into one row's loss: ``sum`` adds them all back (D for
        elementwise losses on N × D inputs, else 1)."""
        p = prepared.predictions
        return p.shape[1] if self.elementwise and p.ndim == 2 else 1

    def _check_reduction(self, reduction: str) -> None:
        if reduction not in self.reductions:
            raise UsageError(
                f"unknown reduction {reduction!r} for {self.name}; "
                f"choose one of {', '.join(self.reductions)}"
            )

    def _sample_weights(self, sample_weights: Any, prepared: Prepared) -> np.ndarray | None:
        if sample_weights is None:
            return None
        s = as_float_array(sample_weights, role="sample weights").reshape(-1)
        n = len(prepared.predictions)
        layout = prepared.layout
        if layout is not None and len(s) == layout.samples and n % len(s) == 0:
            s = np.repeat(s, n // len(s))  # one weight per sample, for each of its positions
        if len(s) != n:
            raise InputError(
                f"sample weights have {len(s)} values but the predictions have {n} rows",
                role="sample weights",
            )
        if (s < 0).any():
            i = int(np.argmax(s < 0))
            raise InputError(
                f"sample weights must be non-negative, found {float(s[i])!r} at {format_index(i)}",
                role="sample weights",
            )
        return s

    def _denominator(self, prepared: Prepared, reduction: str, s: np.ndarray | None) -> float:
        n = len(prepared.predictions)
        if reduction == "batchmean":
            return float(n if s is None else s.sum())
        w = (
            None
            if self.weights is None
            else self.weights(prepared.predictions, prepared.targets, **prepared.options)
        )
        if w is None:
            return float(n if s is None else s.sum())
        return float((w if s is None else w * s).sum())

    def _reduce_value(
        self, rows: np.ndarray, prepared: Prepared, reduction: str, sample_weights: Any
    ) -> float | np.ndarray:
        self._check_reduction(reduction)
        s = self._sample_weights(sample_weights, prepared)
        if reduction == "none":
            if self.transform is not None:
                rows = self.transform(rows)
            return rows if s is None else rows * s
        value = self._combine(rows, prepared, reduction, s)
        return value if self.transform is None else float(self.transform(value))

    def _combine(
        self, rows: np.ndarray, prepared: Prepared, reduction: str, s: np.ndarray | None
    ) -> float:
        """The rows, weighted by the sample weights, summed or averaged."""
        total = float((rows if s is None else rows * s).sum())
        denominator = self._denominator(prepared, reduction, s) if reduction != "sum" else 1.0
        return self.reduce_totals(reduction, total, denominator, self._row_size(prepared))
