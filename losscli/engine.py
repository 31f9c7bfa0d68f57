"""The engine: every run is blocks of rows → partial states → merge → a :class:`Report`.

A source (:mod:`losscli.sources`) yields blocks; :func:`partial` computes one block's state
(:mod:`losscli.states`); the states merge; the report is a pure function of the merged
state. A run in memory is the one-block case of the same code; a streamed run has many
blocks; a Dask or Spark job calls :func:`partial` on its own partitions and merges::

    >>> import numpy as np, losscli
    >>> from losscli.engine import Block, partial
    >>> p, t = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    >>> state = partial(losscli.mse, Block(p[:1], t[:1])).merge(
    ...     partial(losscli.mse, Block(p[1:], t[1:], start=1)))
    >>> state.value(losscli.mse, "mean"), state.rows
    (4.666666666666667, 3)

:func:`evaluate` is the entry point the command line and the Python API share.

Gradients
    Each block gives ``s·∂L_row`` (its rows' own gradients times their sample weights); the
    gradient of the reduced loss is that times a factor known only from the merged state
    (1/Σ weights for ``mean``/``batchmean``, D for ``sum``, rmse's chain rule), applied by
    the one reduction step :meth:`Loss.finish_grad` — in memory to the whole array, streamed
    by writing the rows to ``--grad-out`` and rescaling the file in one pass at the end.

Whole-array output
    A streamed gradient on stdout or ``--reduction none`` values are held in memory only up
    to ``WHOLE_ARRAY_MAX_BYTES``; above it the run stops with an error pointing to
    ``--grad-out``. A streamed ``--check`` is a second pass over all elements, or over a
    seeded random sample of rows when there are more than ``CHECK_MAX_ELEMENTS``. A streamed
    ``--against FILE`` is a pass of its own too, the file read beside the blocks
    (:meth:`_Run._against_pass`).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import io as lio
from . import sources as src
from .errors import CountedWarning, InputError, LossCliWarning, UsageError
from .report import Report, top_rows
from .request import check_request
from .sources import Block, Restart
from .states import HistState, LossState, RangeState, TopState, histogram_edges

__all__ = [
    "evaluate",
    "which_readings",
    "partial",
    "fold",
    "State",
    "Block",
    "WarningTally",
    "ENGINES",
]

ENGINES = ("local", "dask")
WHOLE_ARRAY_MAX_BYTES = 64 << 20
CHECK_MAX_ELEMENTS = 1 << 22  # as gradcheck.MAX_CHECKED, the in-memory threshold
COMPARE_ELEMENTS = 1 << 16  # values per piece of a streamed --against's comparison
_NPY_HEADER_BYTES = 128  # room for any shape; rewritten at the end


@dataclass(frozen=True, eq=False)
class State:
    """What a block (or several merged) contributes: the loss sums and counts, and the top-K
    rows when asked for. ``merge`` is associative; :meth:`value` finishes the reduction."""

    loss: LossState
    top: TopState | None = None

    def merge(self, other: State) -> State:
        top = self.top if other.top is None else other.top if self.top is None else None
        if self.top is not None and other.top is not None:
            top = self.top.merge(other.top)
        return State(self.loss.merge(other.loss), top)

    def shifted(self, offset: int) -> State:
        """The same state with its rows numbered ``offset`` further on: a shard's (or a
        partition's) own state, renumbered by the rows before it, before merging."""
        top = None if self.top is None else self.top.shifted(offset)
        return State(self.loss.shifted(offset), top)

    @property
    def rows(self) -> int:
        return self.loss.rows

    def value(self, loss: Any, reduction: str) -> float:
        """The reduced value of the rows merged so far (``mean``, ``sum``, ``batchmean``)."""
        return self.loss.value(loss, reduction)


def partial(
    loss: Any,
    block: Block,
    *,
    reduction: str = "mean",
    top: int | None = None,
    **options: Any,
) -> State:
    """The partial state of one block of rows: validate, compute the row losses, sum them.

    Picklable arguments, no files: run it per partition in Dask/Spark/Ray and merge the
    results with :meth:`State.merge` (in any grouping); ``state.value(loss, reduction)`` is
    then the value of the whole input.
    """
    loss = _get_loss(loss)
    loss.check_reduction(reduction)
    prepared = loss.prepare_inputs(block.predictions, block.targets, **options)
    s = loss.sample_weights_for(block.weights, prepared)
    state, _, _ = _block_state(loss, prepared, s, reduction, False, top, block.start, ids=block.ids)
    return state


def fold(
    loss: Any,
    blocks: Iterable[Block],
    *,
    reduction: str = "mean",
    top: int | None = None,
    span: bool = False,
    edges: np.ndarray | None = None,
    source: str | None = None,
    tally: WarningTally | None = None,
    **options: Any,
) -> tuple[State | None, RangeState | HistState | None]:
    """:func:`partial` folded over ``blocks`` in order (one shard, one partition), and with
    ``span`` the :class:`RangeState` of the row losses, with ``edges`` their
    :class:`HistState`. An error in a block names ``source`` and the row counted from the
    first block. With ``tally`` (a :class:`WarningTally`) the blocks' warnings are taken
    into it, their rows counted from the first block, not warned. This is what each Dask
    task runs (:mod:`losscli.distributed`)."""
    loss = _get_loss(loss)
    loss.check_reduction(reduction)
    fused = loss.sum_kernel is not None and reduction != "none" and top is None
    state = extra = None
    for block in blocks:
        try:
            with contextlib.nullcontext() if tally is None else tally.block(block.start):
                prepared = loss.prepare_inputs(block.predictions, block.targets, **options)
        except InputError as e:
            if source is not None:
                e.source = source
            raise _shift_rows(e, block.start) from None
        s = loss.sample_weights_for(block.weights, prepared)
        b, _, _ = _block_state(
            loss, prepared, s, reduction, False, top, block.start, fused=fused, ids=block.ids
        )
        state = b if state is None else state.merge(b)
        if span or edges is not None:
            rows = np.asarray(loss.reduce_values(prepared, reduction="none", sample_weights=s))
            h = RangeState.of(rows) if edges is None else HistState.of(rows, edges)
            extra = h if extra is None else extra.merge(h)
    return state, extra


def _get_loss(loss: Any) -> Any:
    if isinstance(loss, str):
        from .losses import get_loss

        try:
            return get_loss(loss)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
    return loss


def _block_state(
    loss: Any,
    prepared: Any,
    s: np.ndarray | None,
    reduction: str,
    want_grad: bool,
    top: int | None,
    start: int,
    *,
    fused: bool = False,
    ids: Any = None,
) -> tuple[State, np.ndarray | None, np.ndarray | None]:
    """``(state, s·∂L_row or None, row values or None)`` of one prepared block."""
    rows = row_grad = None
    total = None
    # rmse: errors beyond 2^±500 are scaled by 2^-k before squaring (the state keeps 4^k)
    k = loss.square_scale(prepared, reduction)
    if k:
        rows, row_grad = loss.rows_and_row_grad(prepared.scaled(k))
        row_grad = np.ldexp(row_grad, k) if want_grad else None
    elif reduction == "none" and loss.row_scales(prepared) is not None:
        # rmse rows whose squares overflow: their values and gradients come scaled, row by
        # row (reduce_values, _none_grad); these unscaled rows only fill the sums
        with np.errstate(over="ignore", under="ignore"):
            if want_grad:
                rows, row_grad = loss.rows_and_row_grad(prepared)
            else:
                rows = loss.row_values(prepared)
    elif want_grad:
        rows, row_grad = loss.rows_and_row_grad(prepared)
    elif fused and s is None:
        total = loss.row_total(prepared)
    else:
        rows = loss.row_values(prepared)
    n = len(prepared.predictions)
    if total is None:
        total = float((rows if s is None else rows * s).sum())
    denominator = loss.weighted_denominator(prepared, reduction, s) if reduction != "none" else n
    width = None if prepared.predictions.ndim == 1 else int(prepared.predictions.shape[1])
    state = LossState(
        src_sum(total),
        src_sum(denominator),
        n,
        loss.row_size(prepared),
        width,
        prepared.describe,
        2 * k,
        {key: d.shifted(start) for key, d in prepared.decisions.items()},
    )
    weighted = None
    if row_grad is not None:
        weighted = row_grad if s is None else row_grad * (s if row_grad.ndim == 1 else s[:, None])
    top_state = None
    if top is not None:
        per_row = loss.reduce_values(prepared, reduction="none", sample_weights=s)
        element = (
            loss.values(prepared.predictions, prepared.targets, **prepared.options)
            if loss.elementwise
            else None
        )
        # Rows of weight 0 (a target of --ignore-index, a class weight of 0) add nothing to
        # the loss: they are left out of the top rows (the report counts them).
        kept = None if loss.weights is None else np.flatnonzero(loss.denominator_weights(prepared))
        p, t = prepared.predictions, prepared.targets
        if kept is not None:
            per_row, p, t = per_row[kept], p[kept], t[kept]
            element = None if element is None else element[kept]
        if kept is not None and not len(kept):  # every row of this block ignored
            top_state = TopState(top)
        else:
            found = top_rows(per_row, p, t, top, element_losses=element)
            order = found.rows if kept is None else kept[found.rows]
            fields, rows_in_block = found.fields, order
            if prepared.layout is not None:
                fields, rows_in_block = _top_index(prepared.layout, order, fields, start)
            labels = None if ids is None else tuple(ids[int(i)] for i in rows_in_block)
            top_state = TopState(top, rows_in_block + start, found.loss, fields, labels)
    return State(state, top_state), weighted, rows


def _top_index(
    layout: Any, order: np.ndarray, fields: dict[str, np.ndarray], start: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """K-dim ``--top``: ``(fields with "index", the rows of the block)`` of the top kernel rows
    ``order`` of a block laid out by ``layout`` (the block's own, its first row ``start`` of
    the file). ``index`` is the full index in the given layout: the position (n, d1, …, dk)
    for a class loss (a kernel row is a position), the worst element (n, i1, …, ik) — in
    place of ``col`` — for an elementwise loss (a kernel row is a sample)."""
    fields = dict(fields)
    if layout.class_axis is not None:
        at = np.stack(np.unravel_index(order, layout.row_shape), axis=1)
    elif "col" in fields and len(layout.shape) > 2:
        at = np.column_stack([order, *np.unravel_index(fields.pop("col"), layout.shape[1:])])
    else:
        return fields, order
    at = at.astype(np.int64)
    rows = at[:, 0].copy()
    at[:, 0] += start
    return {"index": at, **fields}, rows


def src_sum(x: float) -> Any:
    from .states import ExactSum

    return ExactSum.of(x)


# --------------------------------------------------------------------------- evaluate


def evaluate(
    loss: Any,
    predictions: Any = None,
    targets: Any = None,
    *,
    pred_cols: Sequence[str] = (),
    target_cols: Sequence[str] = (),
    id_col: str | None = None,
    weight_col: str | None = None,
    sample_weights: Any = None,
    against: Any = None,
    reduction: str = "mean",
    grad: bool = False,
    grad_out: Any = None,
    check: bool = False,
    eps: float = 1e-6,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    top: int | None = None,
    bins: int | None = None,
    hist_range: tuple[float, float] | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    quiet: bool = True,
    protect: Sequence[str] = (),
    stdin: Any = None,
    reading: Any = None,
    hess: str | None = None,
    hess_out: Any = None,
    against_hess: Any = None,
    convention: str = "torch",
    **loss_options: Any,
) -> Report:
    """Compute a loss over files or arrays: value, gradient, check, top rows, histogram.

    ``predictions`` / ``targets``: paths (CSV, TSV, NPY, Parquet; ``-`` for stdin) or arrays.
    With ``targets`` None, one file holds both and ``pred_cols`` / ``target_cols`` pick the
    columns (names, patterns such as ``p_*``, or numbers from 1); ``id_col`` labels rows.
    ``sample_weights``: a path or an array, one non-negative weight per row (or
    ``weight_col``, a column of the one file). ``against``: a
    gradient (path or array) to compare with losscli's. ``grad``: keep the gradient in the
    report; ``grad_out``: write it to this .npy/.csv/.tsv file (atomically). ``check``:
    finite differences. ``top``: the K rows with the highest loss. ``bins``: a histogram of
    the row losses, between ``hist_range`` when given, else between the least and greatest.
    ``reading``: how text inputs are read (:class:`losscli.layout.Options`: delimiter, header,
    index column, strict column names), detected when None.
    ``hess``: ``"diag"`` or ``"full"``, the Hessian diagonal (or softmax's row blocks) in the
    report, checked by finite differences too with ``check``; ``hess_out``: write it to a file;
    ``against_hess``: a Hessian diagonal (path or array) to compare with losscli's. The
    diagonal streams (``hess_out`` written block by block, as ``grad_out``; its check and
    ``against``/``against_hess`` files a pass each; rmse's diagonal in a second pass, as its
    chain rule needs the merged sums, its check and ``against_hess`` from them too);
    ``hess="full"`` and arrays given as ``against``/``against_hess`` are computed in memory
    (:mod:`losscli.hessian`).
    ``convention``: the value as another framework's default computes it (``keras``,
    ``tf1``, ``optax``, ``sklearn``; see :mod:`losscli.conventions`), value only.
    Other keywords are the loss's own options (``logits=True``, ``class_weights=...``).

    >>> import losscli
    >>> r = losscli.evaluate("mse", [1.0, 2.0], [0.0, 0.0], grad=True)
    >>> r.value, r.grad.tolist()
    (2.5, [1.0, 2.0])
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    loss = _get_loss(loss)
    loss.check_reduction(reduction)
    option_cols = _option_columns(loss, loss_options, one_file=targets is None)
    if predictions is None:
        raise UsageError("give the predictions (and the targets, or --pred-col/--target-col)")
    # validates; --hess-out alone is written block by block, not held (hess stays None)
    check_request(
        loss,
        inputs=_given(predictions, targets, sample_weights, against, against_hess),
        one_file=targets is None,
        weight_col=weight_col,
        hess=hess,
        hess_out=hess_out,
        against_hess=against_hess,
    )
    if scheduler is not None and engine != "dask":
        raise UsageError("--scheduler takes the address of a Dask scheduler: add --engine dask")
    if engine == "dask":
        refused = {
            "--grad": grad, "--grad-out": grad_out is not None, "--check": check,
            "--against": against is not None, "--sample-weights": sample_weights is not None,
            "--reduction none": reduction == "none", "--convention": convention != "torch",
            "--hess": hess is not None, "--hess-out": hess_out is not None,
            "--against-hess": against_hess is not None,
            **{flag: True for flag, _ in option_cols.values()},
        }  # fmt: skip
        for flag, given in refused.items():
            if given:
                raise UsageError(
                    f"{flag} is not available with --engine dask (it gives the value, --top "
                    "and --hist); run it with --engine local"
                )
        from .distributed import evaluate_dask

        options = _read_option_files(loss, loss_options, stdin)
        return evaluate_dask(
            loss,
            predictions,
            targets,
            selection={
                "pred_cols": tuple(pred_cols or ()),
                "target_cols": tuple(target_cols or ()),
                "id_col": id_col,
                "weight_col": weight_col,
            },
            options=options,
            reduction=reduction,
            top=top,
            bins=bins,
            hist_range=hist_range,
            scheduler=scheduler,
        )
    if convention != "torch":
        return _convention_report(
            loss, convention, predictions, targets, reduction=reduction, stdin=stdin,
            torch_only={"--grad": grad, "--grad-out": grad_out, "--check": check,
                        "--against": against, "--top": top, "--hist": bins, "--hess": hess,
                        "--hess-out": hess_out, "--against-hess": against_hess,
                        **{flag: column for flag, column in option_cols.values()}},
            pred_cols=pred_cols, target_cols=target_cols, id_col=id_col, weight_col=weight_col,
            sample_weights=sample_weights, reading=reading, **loss_options,
        )  # fmt: skip
    if hess == "full":  # refused from an NPY header before the input is read whole
        _check_hess_full_npy(loss, predictions)
    # --against - / --against-hess -: stdin copied to a file once (as the inputs are), read as
    # that file (streamed beside the predictions; messages name <stdin>), removed at the end
    spools: list[str] = []
    names = _input_names(predictions, targets, sample_weights, against, against_hess)
    try:
        against = _spooled(against, "gradient", stdin, spools)
        against_hess = _spooled(against_hess, "hessian", stdin, spools)
        beside = _row_option_files(loss, loss_options)
        options = _read_option_files(
            loss, {k: v for k, v in loss_options.items() if k not in beside}, stdin
        )
        inputs = src.open_inputs(
            predictions,
            targets,
            pred_cols=pred_cols,
            target_cols=target_cols,
            id_col=id_col,
            weight_col=weight_col,
            sample_weights=sample_weights,
            whole=(against is not None and not _streams_against(loss, against))
            or (against_hess is not None and not _streams_against(loss, against_hess, "hessian"))
            # --hess full is held in memory, gathered from a streamed input's blocks up to its
            # limit (_Run.held_for_hess_full): never read whole before its size is known
            or (
                hess != "full"
                and not _streams_hess(
                    loss, hess or ("diag" if hess_out is not None else None), check
                )
            ),
            stdin=stdin,
            reading=reading,
            option_cols=option_cols,
        )
        try:
            if beside and not inputs.in_memory:
                # a file of one number is that number; else read beside the blocks
                small = {k: v for k, v in beside.items() if os.stat(v).st_size <= 1 << 16}
                for k, v in _read_option_files(loss, small, stdin).items():
                    if np.size(v) == 1:
                        options[k] = v
                        del beside[k]
                if beside:
                    flags = {p.name: p.flag for p in loss.params}
                    files = {k: (flags[k], v) for k, v in beside.items()}
                    inputs = src.RowOptionInputs(inputs, files, reading)
            elif beside:  # read whole, as the inputs are
                options.update(_read_option_files(loss, dict(beside), stdin))
            merged = loss.resolve_options(**options)
            run = _Run(loss, inputs, merged, options, reduction, names)
            if hess == "full" and not inputs.in_memory:
                held = run.held_for_hess_full()
                inputs.close()  # the streamed files (and stdin's copy): the rows are held now
                inputs = run.inputs = held
            common = {
                "grad": grad, "grad_out": grad_out, "check": check, "eps": eps,
                "rtol": rtol, "atol": atol, "top": top, "bins": bins,
                "hist_range": hist_range, "protect": protect,
            }  # fmt: skip
            if inputs.in_memory:
                return run.in_memory(
                    against=against,
                    stdin=stdin,
                    reading=reading,
                    hess=hess,
                    hess_out=hess_out,
                    against_hess=against_hess,
                    **common,
                )
            return run.streamed(
                quiet=quiet, hess=hess, hess_out=hess_out, against=against, reading=reading,
                against_hess=against_hess, **common,
            )  # fmt: skip
        finally:
            inputs.close()
    finally:
        for spool in spools:
            lio.discard_spool(spool)


def _spooled(x: Any, role: str, stdin: Any, spools: list[str]) -> Any:
    """``x``, or stdin's copy (:func:`losscli.io.spool_stdin`) when ``x`` is ``-``."""
    if isinstance(x, str) and x == "-":
        x = lio.spool_stdin(stdin, role=role)
        spools.append(x)
    return x


def _option_columns(
    loss: Any, options: dict[str, Any], *, one_file: bool
) -> dict[str, tuple[str, str]]:
    """The loss options read from columns (``--var-col v``: {"var": ("--var-col", "v")}),
    taken out of ``options``; refused with two files, or with the option given too."""
    found = {}
    for param in loss.params:
        if param.column_of is None:
            continue
        column = options.pop(param.name, None)
        if column is None:
            continue
        target = next(p for p in loss.params if p.name == param.column_of)
        if not one_file:
            raise UsageError(
                f"{param.flag} takes a column of the one file holding predictions and targets "
                f"(PREDS alone with --pred-col/--target-col); with two files give "
                f"{target.flag} FILE"
            )
        if options.get(target.name) is not None:
            raise UsageError(f"give {target.flag} or {param.flag}, not both")
        found[param.column_of] = (param.flag, str(column))
    return found


def _check_hess_full_npy(loss: Any, predictions: Any) -> None:
    """``--hess full`` of an NPY whose header alone shows more numbers than its limit: the
    error before the input is read whole (the same one the run would give after reading)."""
    shape = src.npy_shape(predictions)
    if shape is not None and len(shape) == 2:
        from .hessian import check_hess_full_size, check_hess_request

        check_hess_request(loss, "full")
        check_hess_full_size(shape)


def _streams_hess(loss: Any, hess: str | None, check: bool) -> bool:
    """Whether the Hessian asked for streams block by block: the diagonal does (printed, or
    written to --hess-out like --grad-out, checked by a pass of its own with --check; rmse's
    in a second pass, as its chain rule needs the merged sums, and its check's differences
    each element's move of the merged mean, :meth:`Loss.moved_grad`); --hess full is read
    whole."""
    return hess is None or hess == "diag"


def _streams_against(loss: Any, against: Any, what: str = "gradient") -> bool:
    """Whether ``--against FILE`` (``what`` "gradient") or ``--against-hess FILE``
    ("hessian") is read block by block beside the predictions: a file that aligns by rows
    (NPY, a K-dim one along axis 0; CSV/TSV; Parquet); a compressed NPY is compared whole.
    rmse's streams too: its gradient's finite differences are each row's own squared errors',
    through the merged mean's √ by the chain rule (as the streamed --check; ``none``: each
    row's own √), its Hessian's each element's move of the merged mean
    (:meth:`Loss.moved_grad`, as the streamed --hess --check)."""
    return isinstance(against, str | os.PathLike) and src.aligns_by_rows(against)


def _given(*values: Any) -> dict[str, Any]:
    """The inputs given, by role (predictions, targets, sample weights, gradient, hessian)."""
    roles = ("predictions", "targets", "sample weights", "gradient", "hessian")
    return {role: v for role, v in zip(roles, values, strict=True) if v is not None}


def read_whole(
    loss: Any,
    predictions: Any,
    targets: Any = None,
    *,
    stdin: Any = None,
    pred_cols: Sequence[str] = (),
    target_cols: Sequence[str] = (),
    id_col: str | None = None,
    weight_col: str | None = None,
    sample_weights: Any = None,
    reading: Any = None,
    **loss_options: Any,
) -> tuple[Block, dict[str, Any]]:
    """The whole input as one :class:`Block` (arrays, ids, weights) and the loss options with
    option files read — for computations that need every row at once (``--which``)."""
    loss = _get_loss(loss)
    options = _read_option_files(loss, loss_options, stdin)
    inputs = src.open_inputs(
        predictions,
        targets,
        pred_cols=pred_cols,
        target_cols=target_cols,
        id_col=id_col,
        weight_col=weight_col,
        sample_weights=sample_weights,
        whole=True,
        stdin=stdin,
        reading=reading,
    )
    try:
        return inputs.whole(), options
    finally:
        inputs.close()


def which_readings(
    loss: Any, seen: str, predictions: Any, targets: Any = None, **selection: Any
) -> tuple[float, list[Any]]:
    """``--which VALUE``: the match tolerance of ``seen`` (a number as text) and the readings
    of the inputs — conventions, common mistakes — that give it, closest first
    (:func:`losscli.conventions.which`). ``selection``: as :func:`read_whole` takes it."""
    from .conventions import precision_of, which

    loss = _get_loss(loss)
    tolerance = precision_of(seen)  # a bad number is refused before anything is read
    block, options = read_whole(loss, predictions, targets, **selection)
    found = which(
        loss, seen, block.predictions, block.targets, sample_weights=block.weights, **options
    )
    return tolerance, found


def _convention_report(
    loss, convention, predictions, targets, *, reduction, torch_only, stdin, **selection
) -> Report:
    """The value ``convention``'s framework reports (value only), its rule folded over the
    blocks of the inputs (:class:`losscli.conventions.ConventionFold`): streamed when the
    inputs stream (a rule that needs every label, ``Rule.labels``, after a first pass)."""
    from .conventions import get_rule

    rule = get_rule(loss, convention)
    given = [flag for flag, value in torch_only.items() if value not in (None, False)]
    if given:
        raise UsageError(
            f"{given[0]} follows torch's convention; --convention {convention} gives the value "
            "only (drop one of them)"
        )
    chosen = {k: selection.pop(k) for k in _SELECTION if k in selection}
    options = _read_option_files(loss, selection, stdin)
    inputs = src.open_inputs(predictions, targets, stdin=stdin, **chosen)
    try:
        while True:
            try:
                value, shape, ids = _fold_convention(loss, rule, inputs, options, reduction)
                break
            except Restart:
                inputs.restart()
    finally:
        inputs.close()
    names = _input_names(predictions, targets, chosen.get("sample_weights"), None)
    return Report(
        loss=loss.name,
        title=loss.summary,
        reduction=reduction,
        shape=shape,
        value=value,
        inputs=names,
        details={"convention": convention, "as": rule.call},
        ids=ids if reduction == "none" else None,
    )


def _all_labels(run: _Run) -> tuple[float, ...]:
    """A first pass for a convention whose values need every label (``Rule.labels``): each
    block validated as the torch run's, the readings of the labels merged as its states are
    (hinge's 0/1 or ±1: their mix is the whole input's error), the distinct targets kept."""
    from .losses import merge_decisions

    found: set[float] = set()
    decisions: dict[str, Any] = {}
    first = True
    for block in run.inputs.blocks():
        prepared = run._prepare(block, first=first)
        first = False
        shifted = {k: d.shifted(block.start) for k, d in prepared.decisions.items()}
        decisions = merge_decisions(decisions, shifted)
        found.update(np.unique(block.targets).tolist())
    return tuple(sorted(found))


# how the inputs are chosen and read (open_inputs's keywords); the rest are loss options
_SELECTION = ("pred_cols", "target_cols", "id_col", "weight_col", "sample_weights", "reading")


def _fold_convention(loss, rule, inputs, options, reduction) -> tuple[Any, tuple[int, ...], Any]:
    """(value, the predictions' shape, the ids read) of one pass: each block validated as the
    torch run validates it (the same messages, rows counted from the start of the file),
    then added to the rule's fold. In memory: the one block of the whole input."""
    from .conventions import ConventionFold, evaluate_convention

    if inputs.in_memory:
        block = inputs.whole()
        value = evaluate_convention(
            loss, rule.convention, block.predictions, block.targets, reduction=reduction,
            sample_weights=block.weights, **options,
        )  # fmt: skip
        return value, tuple(int(n) for n in np.shape(block.predictions)), block.ids
    run = _Run(loss, inputs, loss.resolve_options(**options), options, reduction, {})
    known = inputs.known_rows
    if None not in known and len(set(known)) > 1:
        run._wrong_rows(known)

    def hold(n: int) -> None:  # the unreduced values held for printing, as torch's none
        _check_whole(n, "the row values of --reduction none")

    labels = _all_labels(run) if rule.labels else None  # validated there, once
    fold = ConventionFold(loss, rule, reduction, options, rows=known[0], hold=hold, labels=labels)
    ids: list[str] = []
    for block in inputs.blocks():
        if labels is None:
            run._prepare(block, first=fold.weighted is None)
        fold.add(block.predictions, block.targets, block.weights)
        if block.ids is not None and reduction == "none":
            ids.extend(block.ids)
    counts = inputs.counts
    if len(set(counts)) > 1:
        run._wrong_rows(counts)
    if fold.weighted is None:
        raise InputError("has no rows", role="predictions")
    run.warned.say()
    return fold.result(), inputs.shapes(counts)[0], ids or None


def _input_names(
    predictions, targets, sample_weights, against, against_hess=None
) -> dict[str, str]:
    names = {}
    for role, x in (
        ("predictions", predictions),
        ("targets", predictions if targets is None else targets),
        ("sample weights", sample_weights),
        ("gradient", against),
        ("hessian", against_hess),
    ):
        if isinstance(x, str | os.PathLike):
            names[role] = os.fsdecode(x)
    return names


def _row_option_files(loss: Any, options: dict[str, Any]) -> dict[str, str]:
    """The options given as a file that can hold one value per row (those a column can give
    too, ``--var`` as ``--var-col``) and more than one value: read beside streamed inputs
    (:class:`~losscli.sources.RowOptionInputs`), or whole with inputs read whole."""
    per_row = {p.column_of for p in loss.params if p.column_of is not None}
    found = {}
    for name in per_row:
        value = options.get(name)
        if isinstance(value, str) and value != "-" and os.path.isfile(value):
            found[name] = value
    return found


def _read_option_files(loss: Any, options: dict[str, Any], stdin: Any) -> dict[str, Any]:
    """Options that take numbers may name a file of them (``--class-weights w.csv``): read it
    here, so the loss gets an array and knows nothing of files."""
    out = dict(options)
    for param in loss.params:
        value = out.get(param.name)
        if param.parse is None or not isinstance(value, str) or "," in value:
            continue
        if os.path.isfile(value):
            role = param.name.replace("_", " ")
            out[param.name] = lio.read_array(value, role=role, stdin=stdin).reshape(-1)
    return out


def report_of(
    loss: Any,
    state: State,
    reduction: str,
    value: Any,
    gradient: Any = None,
    names: dict[str, str] | None = None,
    shape: tuple[int, ...] | None = None,
    **extra: Any,
) -> Report:
    """The :class:`Report` of a merged state (``extra``: check, hist, ids, columns, …);
    ``shape`` when the inputs' own layout differs from the state's (K-dim inputs)."""
    return Report(
        loss=loss.name,
        title=loss.summary,
        reduction=reduction,
        shape=shape or state.loss.shape,
        value=value,
        grad=gradient,
        inputs=names or {},
        details=state.loss.describe,
        top=None if state.top is None else state.top.result(),
        **extra,
    )


def finish_value(loss: Any, state: State, reduction: str) -> float:
    """The merged state's value, with the warning when it overflowed float64."""
    value = state.value(loss, reduction)
    _warn_if_overflowed(value, None)
    return value


def _warn_if_overflowed(value: Any, gradient: Any) -> None:
    """Finite inputs can still give inf (e.g. (1e200)² in float64): say so, do not hide it."""
    for what, array in (("loss", value), ("gradient", gradient)):
        if array is not None and np.isinf(array).any():
            warnings.warn(
                f"the {what} overflowed float64 to inf: the inputs are too large in magnitude; "
                "rescale them",
                LossCliWarning,
                stacklevel=3,
            )


class WarningTally:
    """A streamed pass's warnings (or a shard's, on a Dask worker): the blocks' counted ones
    (:class:`~losscli.errors.CountedWarning`: "clipped 37 probabilities", "12 of 1000 target
    rows do not sum to 1 (first: row 4 …)") added up into one per kind about the whole input,
    its rows counted from the input's first; the others once each. :meth:`say` warns them at
    the end, as the in-memory run words them — not once per block with the block's counts."""

    def __init__(self) -> None:
        self.counted: dict[str, CountedWarning] = {}
        self.others: dict[str, Warning] = {}
        self.rows = 0  # the kernel rows of the blocks seen: the "of M" of a counted warning

    @contextlib.contextmanager
    def block(self, offset: int) -> Iterator[None]:
        """Take the LossCli warnings of a block whose first row is row ``offset``."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LossCliWarning)
            try:
                yield
            finally:
                self.take([w.message for w in caught], offset)

    def take(self, found: Iterable[Any], offset: int = 0) -> None:
        """Add warnings (``Warning`` instances) of rows numbered from ``offset``."""
        for w in found:
            if isinstance(w, CountedWarning):
                w = w.shifted(offset)
                known = self.counted.get(w.kind)
                self.counted[w.kind] = w if known is None else known.merged(w)
            elif isinstance(w, Warning):
                self.others.setdefault(str(w), w)

    def found(self) -> tuple[Warning, ...]:
        """What was taken, for a task to send back (picklable)."""
        return (*self.others.values(), *self.counted.values())

    def say(self) -> None:
        """Warn what was taken, once each (then forget it: a later pass adds nothing); a
        counted warning's "of M" is of all rows seen, not of those that warned."""
        for w in self.others.values():
            warnings.warn(w, stacklevel=3)
        for w in self.counted.values():
            warnings.warn(w if w.total is None else w.of_total(self.rows), stacklevel=3)
        self.counted.clear()
        self.others.clear()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A later pass over the blocks: their warnings were said by the first pass."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        yield


class _Run:
    def __init__(self, loss, inputs, merged, options, reduction, names) -> None:
        self.loss, self.inputs, self.merged, self.options = loss, inputs, merged, options
        self.reduction, self.names = reduction, names
        self.warned = WarningTally()

    def _report(self, state: State, value, gradient, shape=None, **extra) -> Report:
        return report_of(
            self.loss, state, self.reduction, value, gradient, self.names, shape=shape, **extra
        )

    # ----------------------------------------------------------------- in memory

    def in_memory(
        self,
        *,
        grad,
        grad_out,
        check,
        against,
        eps,
        rtol,
        atol,
        top,
        bins,
        hist_range,
        protect,
        stdin,
        reading=None,
        hess=None,
        hess_out=None,
        against_hess=None,
    ) -> Report:
        loss, reduction = self.loss, self.reduction
        whole = self.inputs.whole()
        prepared = self._prepare_block(whole, first=True)
        layout = prepared.layout  # inputs of more than 2 dimensions, laid out as kernel rows
        s = loss.sample_weights_for(whole.weights, prepared)
        want_grad = grad or grad_out is not None or check or against is not None
        # K-dim --top: one block, so its kernel rows are numbered as the layout's
        per_block = None if layout is not None and top is not None else _block_rows(prepared)
        blocks = list(_prepared_blocks(prepared, s, per_block))
        state = None
        grads, rows = [], []
        for start, part, sp in blocks:
            b, g, r = _block_state(loss, part, sp, reduction, want_grad, top, start)
            state = b if state is None else state.merge(b)
            grads.append(g)
            rows.append(r)
        assert state is not None
        value, gradient = self._finish(state, blocks, grads, rows, s)
        _warn_if_overflowed(value, gradient)
        result = compared = None
        if check:
            from .gradcheck import MAX_CHECKED, gradcheck

            # rmse: the streamed check's method from the run's merged sums (each row's squared
            # errors differenced, the merged mean's √ by the chain rule), so both report the
            # same numbers; differences of the whole √ element by element were O(N²)
            sums = None
            if loss.transform is not None:
                sums = (
                    float(state.loss.total), float(state.loss.denominator),
                    state.loss.row_size, state.loss.exponent,
                )  # fmt: skip

            result = gradcheck(
                loss,
                None,
                None,
                reduction=reduction,
                eps=eps,
                rtol=rtol,
                atol=atol,
                analytic=gradient,
                prepared=prepared,
                sample_weights=s,
                max_elements=MAX_CHECKED,
                sums=sums,
            )
        if against is not None:
            from .against import compare_gradient

            yours = against
            if isinstance(against, str | os.PathLike):
                yours = lio.read_array(against, role="gradient", stdin=stdin, options=reading)
            numeric = None
            if loss.transform is not None:
                # rmse: the streamed pass's finite differences (each row's squared errors',
                # the mean's or the row's own √ by the chain rule), so both report the same
                # bits; the per-element estimate of the whole √ is O(N²) and rounds at ε·Σe²/h
                numeric = self._differenced(state, prepared, s, "gradient", eps)
            compared = compare_gradient(
                loss,
                prepared,
                yours,
                reduction=reduction,
                sample_weights=s,
                eps=eps,
                rtol=rtol,
                atol=atol,
                analytic=gradient,
                numeric=numeric,
            )
        hist = None
        if bins is not None:
            span = None if hist_range is not None else self._span((p, sp) for _, p, sp in blocks)
            hist = self._histogram(((p, sp) for _, p, sp in blocks), bins, hist_range, span)
        if layout is not None:  # results in the inputs' own layout
            gradient = None if gradient is None else layout.restore(gradient)
            if result is not None and result.rows is None:  # (a sampled check keeps rows)
                result = result.in_layout(layout)
            if reduction == "none":
                value = layout.restore_rows(value)
        written = None
        if grad_out is not None:
            with _writing():
                lio.write_array(grad_out, gradient, protect=list(protect))
            written = tuple(int(n) for n in gradient.shape)
        second = self._second_derivatives(
            state, prepared, s, hess, hess_out, against_hess, check, eps, rtol, atol, protect,
            stdin,
        )  # fmt: skip
        return self._report(
            state,
            value,
            gradient,
            check=result,
            against=compared,
            ids=self.inputs.ids,
            columns=self.inputs.columns,
            hist=hist,
            grad_written=written,
            shape=None if layout is None else layout.shape,
            **second,
        )

    def _second_derivatives(
        self,
        state,
        prepared,
        s,
        hess,
        hess_out,
        against_hess,
        check,
        eps,
        rtol,
        atol,
        protect,
        stdin,
    ) -> dict[str, Any]:
        """--hess, its check, --against-hess (losscli.hessian) and --hess-out, in memory;
        rmse's from the merged sums of ``state``, as the streamed passes (the same bits)."""
        if hess is None and hess_out is None and against_hess is None:
            return {}
        from .hessian import hessian_fields

        sums = None
        if self.loss.transform is not None:
            sums = (float(state.loss.total), float(state.loss.denominator), state.loss.exponent)
        yours = against_hess
        if isinstance(against_hess, str | os.PathLike):
            yours = lio.read_array(against_hess, role="hessian", stdin=stdin)
        fields = hessian_fields(
            self.loss,
            prepared,
            s,
            hess=hess or ("diag" if hess_out is not None else None),
            yours=yours,
            check=check,
            reduction=self.reduction,
            eps=eps,
            rtol=rtol,
            atol=atol,
            sums=sums,
        )
        if prepared.layout is not None and fields.get("hess") is not None:
            fields["hess"] = prepared.layout.restore(fields["hess"])  # as the gradient
        if hess_out is not None:
            array = fields["hess_blocks"] if "hess_blocks" in fields else fields["hess"]
            with _writing():
                lio.write_array(hess_out, array, protect=list(protect))
            fields["hess_written"] = tuple(int(n) for n in array.shape)
        return fields

    def _finish(self, state, blocks, grads, rows, s):
        loss, reduction = self.loss, self.reduction
        gradient = None
        if reduction == "none":
            value = (
                np.concatenate(
                    [
                        loss.reduce_values(p, reduction="none", sample_weights=sp)
                        for _, p, sp in blocks
                    ]
                )
                if len(blocks) > 1
                else loss.reduce_values(blocks[0][1], reduction="none", sample_weights=blocks[0][2])
            )
            if grads[0] is not None:
                parts = [
                    _none_grad(loss, g, r, p, sp)
                    for g, r, (_, p, sp) in zip(grads, rows, blocks, strict=True)
                ]
                gradient = parts[0] if len(parts) == 1 else np.concatenate(parts)
            return value, gradient
        value = state.value(loss, reduction)
        if grads[0] is not None:
            weighted = grads[0] if len(grads) == 1 else np.concatenate(grads)
            total, denominator = float(state.loss.total), float(state.loss.denominator)
            gradient = loss.finish_grad(
                weighted,
                reduction,
                total,
                denominator,
                state.loss.row_size,
                exponent=state.loss.exponent,
            )
        return value, gradient

    def _row_losses(self, prepared: Any, s: Any) -> np.ndarray:
        return np.asarray(self.loss.reduce_values(prepared, reduction="none", sample_weights=s))

    def _span(self, prepared_blocks: Iterable[tuple[Any, Any]]) -> RangeState:
        """The least and greatest finite row loss of the blocks (the histogram's edges)."""
        span = RangeState()
        for p, sp in prepared_blocks:
            span = span.merge(RangeState.of(self._row_losses(p, sp)))
        return span

    def _histogram(self, prepared_blocks, bins, hist_range, span: RangeState | None) -> Any:
        """Counts of the blocks' row losses in fixed edges: from ``hist_range``, else from
        ``span`` (the range, gathered in an earlier pass)."""
        if hist_range is None:
            edges = histogram_edges(span.lo, span.hi, bins)
        else:
            edges = histogram_edges(float(hist_range[0]), float(hist_range[1]), bins)
        counts = None
        for p, sp in prepared_blocks:
            h = HistState.of(self._row_losses(p, sp), edges)
            counts = h if counts is None else counts.merge(h)
        return counts.result()

    # ----------------------------------------------------------------- streamed

    def streamed(
        self,
        *,
        grad,
        grad_out,
        check,
        eps,
        rtol,
        atol,
        top,
        bins,
        hist_range,
        quiet,
        protect,
        hess=None,
        hess_out=None,
        against=None,
        reading=None,
        against_hess=None,
    ) -> Report:
        from .progress import Progress

        loss, reduction, inputs = self.loss, self.reduction, self.inputs
        # the histogram's range is gathered in the first pass; a second one counts
        want_span = bins is not None and hist_range is None
        while True:
            try:
                with Progress(inputs.nbytes, f"{loss.name}: reading", quiet=quiet) as bar:
                    state, grads, values, written, second = self._pass(
                        grad, grad_out, top, bar, list(protect), hess, hess_out, span=want_span
                    )
                break
            except Restart:
                inputs.restart()
        gradient = None
        if reduction == "none":
            value: Any = np.concatenate(values)
            if grad:
                gradient = np.concatenate(grads)
        else:
            value = state.value(loss, reduction)
            if grad:
                total, denominator = float(state.loss.total), float(state.loss.denominator)
                gradient = loss.finish_grad(
                    np.concatenate(grads),
                    reduction,
                    total,
                    denominator,
                    state.loss.row_size,
                    in_place=True,
                    exponent=state.loss.exponent,
                )
        _warn_if_overflowed(value, gradient)
        result = None
        shape = None
        if getattr(inputs, "ndim", 2) > 2:  # K-dim: the report names the file's own shape
            shape = inputs.shapes(inputs.counts)[0]
        if check:
            self.check_ids: dict[int, str] = {}
            result = self._check_pass(state, eps=eps, rtol=rtol, atol=atol, quiet=quiet)
            if self.check_ids and not isinstance(self.ids, list):
                self.ids = {**self.check_ids, **(self.ids or {})}
        compared = None
        settings = {"eps": eps, "rtol": rtol, "atol": atol, "quiet": quiet}
        if against is not None:
            compared = self._against_pass(state, against, reading, **settings)
        if check and hess is not None:
            second["hess_check"] = self._hess_check_pass(state, **settings)
        if against_hess is not None:  # read as in memory: without --delimiter/--header
            second["hess_against"] = self._against_pass(
                state, against_hess, None, what="hessian", **settings
            )
        hist = None
        if bins is not None:
            hist = self._histogram(self._prepared_stream(), bins, hist_range, self.span)
        return self._report(
            state,
            value,
            gradient,
            check=result,
            against=compared,
            hist=hist,
            grad_written=written,
            ids=self.ids,
            columns=inputs.columns,
            shape=shape,
            **second,
        )

    def _prepared_stream(self) -> Iterator[tuple[Any, Any]]:
        """Each block prepared (a further pass over the files, after the first)."""
        for block in self.inputs.blocks():
            with _quiet():
                prepared = self._prepare_block(block)
            yield prepared, block.weights

    def _pass(self, grad, grad_out, top, progress, protect, hess=None, hess_out=None, span=False):
        loss, reduction, inputs = self.loss, self.reduction, self.inputs
        known = inputs.known_rows
        if None not in known and len(set(known)) > 1:
            self._wrong_rows(known)
        weighted_rows = len(known) > 2
        p_rows = known[0]
        vector = inputs.vector
        ndim = getattr(inputs, "ndim", 1 if vector else 2)
        # (N, C, d1, …, dk) for a class loss: its kernel rows are the N·d1·…·dk positions,
        # not the N rows of the file, so the mean's denominator is not known up front
        positions = ndim > 2 and loss.rows_are_positions
        if grad and p_rows is not None:
            _check_whole(p_rows * inputs.width, "the gradient")
        if reduction == "none" and p_rows is not None:
            _check_whole(p_rows, "the row values of --reduction none")
        want_grad = grad or grad_out is not None
        # A sum kernel that vouches for its inputs replaces the reader's check of every block:
        # the inputs are checked only when a block's sum is not finite.
        fused = (
            loss.sum_kernel is not None and reduction != "none" and not want_grad and top is None
        ) and not weighted_rows
        inputs.set_deferred_check(fused)
        # The gradient is scaled as it is written when the mean's denominator is the number of
        # rows, known up front (NPY predictions, no row weights of any kind); else the rows
        # are written unscaled and the file rescaled at the end (the one reduction step).
        scale_now = loss.transform is None and (
            reduction == "sum"
            or (
                reduction in ("mean", "batchmean")
                and p_rows is not None
                and loss.weights is None
                and not weighted_rows
                and not positions
            )
        )
        writer = hess_writer = None
        if hess is not None and p_rows is not None:
            _check_whole(p_rows * inputs.width, "the Hessian", "--hess-out", "--hess")
        try:
            # --hess-out is the same writer as --grad-out, its rows scaled by the same step
            for k, path in enumerate((grad_out, hess_out)):
                if path is None:
                    continue
                with _writing():
                    out = _GradFile(path, ndim, protect)
                if reduction != "none" and not scale_now:
                    out.start_spool()
                if k == 0:
                    writer = out
                else:
                    hess_writer = out
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        hessians: list[np.ndarray] = []
        state: State | None = None
        grads: list[np.ndarray] = []
        values: list[np.ndarray] = []
        all_ids: list[str] = []
        elements = hess_elements = 0  # of the gradient (Hessian) held for --grad (--hess)
        self.ids = None
        self.span = RangeState() if span else None
        try:
            for block in inputs.blocks():
                prepared = self._prepare(block, first=state is None)
                s = None
                if block.weights is not None:
                    try:
                        s = loss.sample_weights_for(block.weights, prepared)
                    except InputError as e:  # "… at (row 3)" of the block: of the file
                        raise _shift_rows(e, block.start * self._positions_per_row()) from None
                b, g, rows = _block_state(
                    loss,
                    prepared,
                    s,
                    reduction,
                    want_grad,
                    top,
                    block.start,
                    fused=fused,
                    ids=block.ids,
                )
                if block.ids is not None and (reduction == "none" or grad):
                    all_ids.extend(block.ids)
                if fused and not math.isfinite(float(b.loss.total)):
                    inputs.verify(block)  # else finite inputs overflowed: inf, as in memory
                state = b if state is None else state.merge(b)
                if self.span is not None:
                    self.span = self.span.merge(RangeState.of(self._row_losses(prepared, s)))
                n = state.rows
                layout = prepared.layout  # K-dim inputs: results back in the file's layout
                if reduction == "none":
                    none = loss.reduce_values(prepared, reduction="none", sample_weights=s)
                    values.append(none if layout is None else layout.restore_rows(none))
                    _check_whole(n, "the row values of --reduction none")
                    if g is not None:
                        g = _none_grad(loss, g, rows, prepared, s)
                if g is not None:
                    if layout is not None:
                        g = layout.restore(g)
                    if grad:
                        grads.append(g if writer is None else g.copy())
                        elements += g.size
                        _check_whole(elements, "the gradient")
                    if writer is not None:
                        if scale_now:
                            in_place = not grad and not (
                                np.may_share_memory(g, block.predictions)
                                or np.may_share_memory(g, block.targets)
                            )
                            denominator = float(p_rows) if reduction != "sum" else 1.0
                            g = loss.finish_grad(
                                g,
                                reduction,
                                0.0,
                                denominator,
                                b.loss.row_size,
                                in_place=in_place,
                            )
                        writer.write(g)
                if (hess is not None or hess_writer is not None) and loss.transform is None:
                    h = loss.scale_row_grad(loss.row_hess(prepared), prepared, "none", s)
                    if layout is not None:
                        h = layout.restore(h)
                    if scale_now and reduction != "none":
                        denominator = float(p_rows) if reduction != "sum" else 1.0
                        h = loss.finish_hess(None, h, reduction, 0.0, denominator, b.loss.row_size)
                    if hess is not None:
                        hessians.append(h)
                        hess_elements += h.size
                        _check_whole(hess_elements, "the Hessian", "--hess-out", "--hess")
                    if hess_writer is not None:
                        hess_writer.write(h)
                progress.update(inputs.done)
            counts = inputs.counts
            if len(set(counts)) > 1:
                self._wrong_rows(counts)
            if state is None:
                raise InputError("has no rows", role="predictions")
            self.warned.say()
            written = None
            total, denominator = float(state.loss.total), float(state.loss.denominator)
            row_size, exponent = state.loss.row_size, state.loss.exponent
            rescale = rescale_hess = None
            if reduction != "none" and not scale_now:

                def rescale(rows: np.ndarray) -> np.ndarray:
                    return loss.finish_grad(
                        rows, reduction, total, denominator, row_size, exponent=exponent
                    )

                def rescale_hess(rows: np.ndarray) -> np.ndarray:
                    return loss.finish_hess(
                        None, rows, reduction, total, denominator, row_size, exponent=exponent
                    )

            if loss.transform is not None and (hess is not None or hess_writer is not None):
                # rmse: f''(u)·(∂u)² + f'(u)·∂²u at the whole input's u, known only now: its
                # Hessian's rows come finished from a second pass over the inputs
                rescale_hess = None
                sums = (total, denominator, exponent)
                for part, weights in self._prepared_stream():
                    sp = None if weights is None else loss.sample_weights_for(weights, part)
                    h = loss.block_hess(part, reduction=reduction, sample_weights=sp, sums=sums)
                    if hess is not None:
                        hessians.append(h)
                        held = sum(a.size for a in hessians)
                        _check_whole(held, "the Hessian", "--hess-out", "--hess")
                    if hess_writer is not None:
                        hess_writer.write(h)

            if writer is not None:
                with _writing():
                    written = writer.finish(rescale)
                writer = None
            second: dict[str, Any] = {}
            if hess is not None:
                h = np.concatenate(hessians)
                second["hess"] = h if rescale_hess is None else rescale_hess(h)
            if hess_writer is not None:
                with _writing():
                    second["hess_written"] = hess_writer.finish(rescale_hess)
                hess_writer = None
            if all_ids:
                self.ids = all_ids
            elif state.top is not None and state.top.ids is not None:
                self.ids = dict(zip(state.top.rows.tolist(), state.top.ids, strict=True))
            return state, grads, values, written, second
        finally:
            for out in (writer, hess_writer):
                if out is not None:
                    out.abort()

    def held_for_hess_full(self) -> src.MemoryInputs:
        """``--hess full``'s input (N × C × C numbers, at most ``HESS_FULL_MAX_ENTRIES``)
        gathered from a streamed source's blocks into memory, to be run as in memory. Refused
        with :func:`~losscli.hessian.check_hess_full_size`'s error before reading when the
        source knows its rows (Parquet's footer), else as soon as the rows read exceed the
        limit: a large file of any format is refused in bounded memory, not read whole first.
        Below the limit the arrays are the whole-file reader's (the streamed readers read
        the same numbers), so the report is the in-memory one."""
        from .hessian import check_hess_full_size

        inputs = self.inputs

        def check(rows: int, so_far: bool) -> None:
            shape = inputs.shapes([rows] * 3)[0]
            if len(shape) > 2:  # K-dim: the kernel's (N·d1·…·dk, C), as in memory
                per = self._positions_per_row()
                shape = (rows * per, math.prod(shape[1:]) // per)
            check_hess_full_size(shape, so_far=so_far)

        known = inputs.known_rows[0]
        if known is not None:
            check(known, so_far=False)
        inputs.set_deferred_check(False)
        while True:
            try:
                blocks, rows = [], 0
                for block in inputs.blocks():
                    rows += len(block)
                    check(rows, so_far=True)
                    blocks.append(block)
                break
            except Restart:
                inputs.restart()
        counts = inputs.counts
        if len(set(counts)) > 1:
            self._wrong_rows(counts)
        if not blocks:
            raise InputError("has no rows", role="predictions")

        def joined(arrays: list[Any]) -> np.ndarray:
            return np.concatenate(arrays)  # a copy: the blocks may be views of a memory map

        first = blocks[0]
        weights = None if first.weights is None else joined([b.weights for b in blocks])
        ids = None if first.ids is None else [i for b in blocks for i in b.ids]
        options = None
        if first.row_options is not None:
            options = {k: joined([b.row_options[k] for b in blocks]) for k in first.row_options}
        return src.MemoryInputs(
            joined([b.predictions for b in blocks]),
            joined([b.targets for b in blocks]),
            weights,
            ids,
            inputs.columns,
            inputs.paths,
            options,
        )

    def _prepare_block(self, block: Block, first: bool = False) -> Any:
        """A block validated and laid out for the kernels (``first``: the options checked
        too), with the loss options read from its columns (``--var-col``); an error about
        those names the one file they come from."""
        loss, extra = self.loss, block.row_options or {}
        try:
            if first:
                return loss.prepare_inputs(
                    block.predictions, block.targets, **{**self.options, **extra}
                )
            return loss.prepare_resolved(block.predictions, block.targets, {**self.merged, **extra})
        except InputError as e:
            # --var-col: the column's file; --var FILE (read beside the blocks): as in memory
            by_column = extra and not isinstance(self.inputs, src.RowOptionInputs)
            if by_column and e.source is None and e.role not in ("predictions", "targets"):
                e.role = "predictions"  # the one file the columns come from
                e.source = block.origin or self.inputs.paths.get("predictions")
            raise

    def _weighted_block(self, block: Block) -> tuple[Any, Any]:
        """A later pass's block prepared as the first pass's (``--var-col`` included) and its
        sample weights, one per kernel row (None: unweighted)."""
        with _quiet():
            prepared = self._prepare_block(block)
        if block.weights is None:
            return prepared, None
        return prepared, self.loss.sample_weights_for(block.weights, prepared)

    def _prepare(self, block: Block, first: bool) -> Any:
        """A first pass's block prepared: its errors name the file's rows (or the shard's),
        its counted warnings are added up in ``self.warned`` (said by :meth:`WarningTally.say`
        once the pass is over)."""
        try:
            with self.warned.block(block.start * self._positions_per_row()):
                prepared = self._prepare_block(block, first)
            self.warned.rows += len(prepared.predictions)
            return prepared
        except InputError as e:
            self.inputs.verify(block)
            if first and block.origin is None:
                counts = self.inputs.drain()
                self._full_shapes(counts)
            if block.origin is not None:  # a shard: its own name and row numbers
                e.source = block.origin
                raise _shift_rows(e, block.origin_start) from None
            raise _shift_rows(e, block.start * self._positions_per_row()) from None

    def _note_check_ids(self, result: Any, block: Block) -> None:
        """--id-col on a streamed check: the ids of the rows its report names (worst and
        extreme elements), from the block they are in — the run keeps no other ids."""
        named = [at for at in result.worst(result.keep)]
        named += [at for at in (result.max_abs_err_at, result.max_rel_err_at) if at is not None]
        for at in named:
            row = at[0] - block.start
            if 0 <= row < len(block):
                self.check_ids[at[0]] = block.ids[row]

    def _positions_per_row(self) -> int:
        """Kernel rows per row of the file: d1·…·dk for a class loss's (N, C, d1, …, dk) (its
        messages count positions, as in memory), else 1."""
        class_axis = self.merged.get("class_axis")
        if getattr(self.inputs, "ndim", 2) <= 2 or not self.loss.rows_are_positions:
            return 1
        tail = self.inputs.sources[0].tail
        return math.prod(tail[1:] if class_axis == 1 else tail[:-1])

    def _standins(self, counts: list[int]) -> list[np.ndarray]:
        return [np.broadcast_to(np.float64(0.0), shape) for shape in self.inputs.shapes(counts)]

    def _full_shapes(self, counts: list[int]) -> None:
        """An error in the first block may be about shapes: word it with the full shapes."""
        p, t = self._standins(counts)[:2]
        with warnings.catch_warnings():  # about the stand-ins' zeros, not the inputs
            warnings.simplefilter("ignore")
            self.loss.prepare_inputs(p, t, **self.options)

    def _wrong_rows(self, counts: list[int]) -> None:
        """Rows differ: let the loss's own validation word it, on stand-ins of full shapes."""
        self._full_shapes(counts)
        if len(counts) > 2 and counts[2] != counts[0]:
            path = self.inputs.paths.get("sample weights")
            raise InputError(
                f"sample weights have {counts[2]} values but the predictions have {counts[0]} rows",
                role="sample weights",
                source=None if path is None else lio.display_name(path),  # stdin: <stdin>
            )
        raise InputError(f"found inconsistent numbers of rows (predictions, targets): {counts[:2]}")

    def _check_pass(self, state: State, *, eps, rtol, atol, quiet):
        """A second streamed pass: finite differences against the analytic gradient."""
        from .gradcheck import StreamedCheck, check_reduced_rows, row_sample, warn_if_uncertain
        from .progress import Progress

        loss = self.loss
        elements = math.prod(state.loss.shape)
        fraction = min(1.0, CHECK_MAX_ELEMENTS / elements)
        result = StreamedCheck(eps=eps, rtol=rtol, atol=atol)
        if fraction < 1.0:
            # K-dim: the sample is of the file's rows, as the report counts them
            rows_read = self.inputs.counts[0] if getattr(self.inputs, "ndim", 2) > 2 else None
            result.population, result.population_rows = elements, rows_read or state.loss.shape[0]
            result.seed, result.max_elements = 0, CHECK_MAX_ELEMENTS
        vector = state.loss.width is None
        sums = (
            float(state.loss.total), float(state.loss.denominator), state.loss.row_size,
            state.loss.exponent,
        )  # fmt: skip
        settings = {"eps": eps, "rtol": rtol, "atol": atol}
        with Progress(self.inputs.nbytes, f"{loss.name}: checking", quiet=quiet) as bar:
            for block in self.inputs.blocks():
                index = np.arange(block.start, block.start + len(block))
                if fraction < 1.0:
                    # the rows of the sample depend on their index and the seed alone
                    keep = row_sample(index, fraction, result.seed)
                    index, block = index[keep], block.take(keep)
                    if not len(index):
                        continue
                # one weight per kernel row (a K-dim sample's weight on each of its positions)
                prepared, w = self._weighted_block(block)
                chunk = check_reduced_rows(
                    loss, prepared, w, reduction=self.reduction, sums=sums, **settings
                )
                if prepared.layout is not None:  # K-dim: elements named by their full index
                    chunk = chunk.in_layout(prepared.layout)
                result.add(chunk, index, vector)
                if block.ids is not None:
                    self._note_check_ids(result, block)
                bar.update(self.inputs.done)
        warn_if_uncertain(result)
        return result

    def _reduced(self, state: State, prepared: Any, s: Any, what: str) -> np.ndarray:
        """losscli's gradient (``what`` "gradient") or Hessian diagonal ("hessian") of a
        block's rows, of the whole run's reduction (``state``: the merged first pass)."""
        loss, reduction = self.loss, self.reduction
        total, denominator = float(state.loss.total), float(state.loss.denominator)
        row_size, exponent = state.loss.row_size, state.loss.exponent
        if what == "hessian":  # as the streamed --hess (rmse's chain rule at the merged sums)
            sums = (total, denominator, exponent)
            return loss.block_hess(prepared, reduction=reduction, sample_weights=s, sums=sums)
        values, row_grad = loss.rows_and_row_grad(prepared)
        row_grad = _weighted(row_grad, s)
        if reduction == "none":
            return _none_grad(loss, row_grad, values, prepared, s)
        return loss.finish_grad(
            row_grad, reduction, total, denominator, row_size, exponent=exponent
        )

    def _differenced(self, state: State, prepared: Any, s: Any, what: str, eps: float):
        """Finite differences of a block's rows, each row's through the whole run's chain
        rule (as gradcheck.numeric_gradient / hesscheck.numeric_hessian_diagonal in memory)."""
        from .gradcheck import row_estimate
        from .hesscheck import numeric_hessian_diagonal

        loss, reduction = self.loss, self.reduction
        total, denominator = float(state.loss.total), float(state.loss.denominator)
        row_size, exponent = state.loss.row_size, state.loss.exponent

        def scale(a: np.ndarray) -> np.ndarray:
            if reduction == "none":
                return loss.scale_row_grad(a, prepared, reduction, s)
            return loss.finish_grad(
                _weighted(a, s), reduction, total, denominator, row_size, exponent=exponent
            )

        if what == "hessian":
            if loss.transform is not None:  # rmse: each element's move of the merged mean
                return numeric_hessian_diagonal(
                    loss, prepared, reduction=reduction, sample_weights=s, eps=eps,
                    sums=(total, denominator, exponent),
                )  # fmt: skip
            return numeric_hessian_diagonal(loss, prepared, eps=eps, scale=scale)
        # rmse: each row's own squared errors differenced, the merged mean's √ by the chain
        # rule in scale (as the streamed --check); errors whose squares overflow (or
        # underflow) differenced scaled by 2^-k, as _block_state computes their gradients
        inner, k = loss, 0
        if loss.transform is not None:
            inner = replace(loss, transform=None, transform_grad=None)
            if reduction == "none":  # each row's own √ by the chain rule, row by row
                return _none_differenced(loss, inner, prepared, s, eps)
            k = loss.square_scale(prepared, reduction)
        numeric = row_estimate(inner, prepared.scaled(k) if k else prepared, eps=eps).numeric
        return scale(np.ldexp(numeric, k) if k else numeric)

    def _hess_check_pass(self, state: State, *, eps, rtol, atol, quiet):
        """``--hess --check`` streamed: a pass of central differences of the analytic
        gradient against the analytic Hessian diagonal, block by block, folded as the
        gradient's streamed check (:class:`~losscli.gradcheck.StreamedCheck`)."""
        from .gradcheck import StreamedCheck, compare
        from .hesscheck import mark_kinks, warn_on_kinks
        from .progress import Progress

        loss = self.loss
        result = StreamedCheck(eps=eps, rtol=rtol, atol=atol)
        vector, on_kink = state.loss.width is None, 0
        with Progress(self.inputs.nbytes, f"{loss.name}: checking the Hessian", quiet=quiet) as bar:
            for block in self.inputs.blocks():
                prepared, s = self._weighted_block(block)
                chunk = compare(
                    prepared.predictions,
                    self._reduced(state, prepared, s, "hessian"),
                    self._differenced(state, prepared, s, "hessian", eps),
                    eps=eps,
                    rtol=rtol,
                    atol=atol,
                )
                chunk, kinks = mark_kinks(loss, prepared, chunk)
                on_kink += kinks
                result.add(chunk, np.arange(block.start, block.start + len(block)), vector)
                bar.update(self.inputs.done)
        warn_on_kinks(loss, on_kink)
        return result

    def _against_pass(
        self, state: State, path: Any, reading: Any, *, eps, rtol, atol, quiet, what="gradient"
    ):
        """``--against FILE`` (``what`` "gradient") or ``--against-hess FILE`` ("hessian")
        streamed: the user's array read block by block beside the predictions
        (:class:`losscli.sources.AlignedFile`), compared with losscli's analytic one and
        finite differences of each block, folded into an
        :class:`~losscli.against.AgainstState`; a further pass over the rows when the
        diagnosis needs one (elements that differ outside the columns a factor explains)."""
        from .against import AgainstState, Mistakes, RowFindings, match_shape
        from .progress import Progress

        loss = self.loss
        shape = tuple(int(n) for n in state.loss.shape)
        rows = shape[0]
        # K-dim inputs (N, d1, …, dk), streamed along axis 0: yours is given, and compared, in
        # their own layout (as in memory), each block laid out as the kernels' rows
        kdim = getattr(self.inputs, "ndim", 2) > 2
        per_row = self._positions_per_row()  # kernel rows per row of the file
        if kdim:
            shape = tuple(int(n) for n in self.inputs.shapes(self.inputs.counts)[0])
            rows = shape[0]
        whole_layout: Any = None  # the whole input's RowLayout, for the findings' indices
        yours = src.AlignedFile(os.fsdecode(path), what, reading)

        def standin(shape: tuple[int, ...]) -> np.ndarray:
            return np.broadcast_to(np.float64(0.0), shape)

        def wrong_shape() -> None:
            """The in-memory message, with the file's full shape (its rows counted)."""
            match_shape(standin(yours.shape(yours.count())), shape, what=what)

        def blocks() -> Iterator[tuple[Block, Any, Any, np.ndarray, np.ndarray]]:
            """(block, prepared, s, losscli's gradient there, yours there), in row order."""
            yours.begin()
            for block in self.inputs.blocks():
                prepared, s = self._weighted_block(block)
                analytic = self._reduced(state, prepared, s, what)
                mine = yours.rows(len(block))
                if len(mine) < len(block):
                    wrong_shape()
                lay = prepared.layout
                if lay is not None:  # K-dim: yours in the block's own layout, as kernel rows
                    given = match_shape(mine, lay.shape, what=what)
                    yield block, prepared, s, analytic, lay.flatten(given)
                    continue
                x = prepared.predictions
                yield block, prepared, s, analytic, match_shape(mine, x.shape, what=what)
                bar.update(self.inputs.done + yours.done)
            if yours.count() != rows:
                wrong_shape()

        try:
            if yours.source is None:  # an NPY of 0 or more than 2 dimensions
                match_shape(standin(yours.npy_shape), shape, what=what)
            if yours.known_rows is not None:
                match_shape(standin(yours.shape(yours.known_rows)), shape, what=what)
            else:
                try:
                    match_shape(standin(yours.shape(rows)), shape, what=what)
                except InputError:
                    yours.begin()
                    wrong_shape()
            nbytes = self.inputs.nbytes + yours.nbytes
            while True:
                try:
                    acc = found = None
                    with Progress(nbytes, f"{loss.name}: comparing", quiet=quiet) as bar:
                        for block, prepared, s, analytic, mine in blocks():
                            # the finite differences hold ~30 temporaries of a block's size:
                            # computed over pieces of COMPARE_ELEMENTS (states merge exactly),
                            # each whole rows of the file (K-dim: its layout's own slab)
                            lay = prepared.layout
                            if lay is not None:
                                whole_layout = replace(lay, shape=shape)
                            step = max(1, COMPARE_ELEMENTS // max(1, mine[:1].size * per_row))
                            for at in range(0, len(block), step):
                                part = slice(at * per_row, (at + step) * per_row)
                                piece = prepared.take_rows(part)
                                piece_layout = None
                                if lay is not None:
                                    n = min(step, len(block) - at)
                                    piece_layout = replace(lay, shape=(n, *lay.shape[1:]))
                                sp = None if s is None else s[part]
                                m, a = mine[part], analytic[part]
                                named = None
                                if what == "hessian":
                                    named = Mistakes.of(loss, piece, m, a, rtol=rtol, atol=atol)
                                b = AgainstState.of(
                                    piece.predictions, m, a,
                                    self._differenced(state, piece, sp, what, eps),
                                    start=block.start + at,
                                    ids=None if block.ids is None else block.ids[part],
                                    eps=eps, rtol=rtol, atol=atol, mistakes=named,
                                    layout=piece_layout,
                                )  # fmt: skip
                                acc = b if acc is None else acc.merge(b)
                        assert acc is not None
                        plan = acc.diagnosis.plan(rtol=rtol, atol=atol)
                        if plan.columns is not None and not acc.named:  # the rows: a pass
                            for block, _, _, analytic, mine in blocks():
                                f = RowFindings.of(
                                    mine, analytic, plan, start=block.start * per_row,
                                    rtol=rtol, atol=atol,
                                )  # fmt: skip
                                found = f if found is None else found.merge(f)
                    break
                except Restart:
                    self.inputs.restart()
                    yours.restart()
        finally:
            yours.close()
        if acc.ids:
            self.ids = acc.ids if self.ids is None else self.ids
            if isinstance(self.ids, dict):
                self.ids = {**acc.ids, **self.ids}
        index = None if whole_layout is None else whole_layout.index
        return acc.result(found, what=what, index=index)


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """Errors writing an output are about the output, not about an input file."""
    try:
        yield
    except InputError as e:
        if e.role is None:
            e.role = "output"
        raise


def _weighted(a: np.ndarray, s: Any) -> np.ndarray:
    """Rows' own values times their sample weights (None: unweighted)."""
    return a if s is None else a * (s if a.ndim == 1 else s[:, None])


def _none_grad(
    loss: Any, weighted: np.ndarray, rows: np.ndarray, prepared: Any = None, s: Any = None
) -> np.ndarray:
    """``--reduction none``: each row's own gradient (rmse: through its own square root; rows
    whose squares overflow or underflow, with their errors scaled first)."""
    if loss.transform is None:
        return weighted
    if prepared is not None and loss.row_scales(prepared) is not None:
        return loss.reduce_both(prepared, reduction="none", sample_weights=s)[1]
    factor = np.asarray(loss.transform_grad(rows))
    return weighted * (factor[:, None] if factor.ndim == 1 and weighted.ndim == 2 else factor)


def _none_differenced(loss: Any, inner: Any, prepared: Any, s: Any, eps: float) -> np.ndarray:
    """rmse ``--reduction none``'s finite differences: row i's squared errors differenced
    (``inner``, rmse without its √), times s_i·f'(u_i), u_i = mean_j e_ij², f = √ (as
    _scaled_none the analytic e_ij/(D·rmse_i)); rows beyond 2^±400 differenced with their
    errors scaled by 2^-k_i, which e/(D·rmse) does not see. Each row's own: blocks stream."""
    from .gradcheck import row_estimate

    k = loss.row_scales(prepared)
    part = prepared if k is None else prepared.scaled_rows(k)
    g = loss.scale_row_grad(row_estimate(inner, part, eps=eps).numeric, part, "none", s)
    factor = np.asarray(loss.transform_grad(loss.row_values(part)))
    return g * (factor[:, None] if factor.ndim == 1 and g.ndim == 2 else factor)


def _prepared_blocks(prepared: Any, s: Any, rows: int | None):
    n = len(prepared.predictions)
    if rows is None or rows >= n:
        yield 0, prepared, s
        return
    for start in range(0, n, rows):
        part = slice(start, start + rows)
        block = prepared.take_rows(part)
        if start:  # the facts (counts) are the whole input's, reported once
            block = replace(block, describe={})
        yield start, block, None if s is None else s[part]


def _block_rows(prepared: Any) -> int | None:
    """Rows per block of an input held in memory: one block unless ``MEMORY_BLOCK_ELEMENTS``
    (``LOSSCLI_MEMORY_BLOCK_ELEMENTS``) says otherwise."""
    elements = src.MEMORY_BLOCK_ELEMENTS
    if not elements:
        return None
    width = 1 if prepared.predictions.ndim == 1 else prepared.predictions.shape[1]
    return max(1, elements // width)


_ROW = re.compile(r"(\(row |first: row |at row )(\d+)")


def _shift_rows(error: InputError, offset: int) -> InputError:
    """A block's message, its row numbers counted from the start of the file (the loss's
    messages name rows as ``(row 3)`` / ``(row 3, col 1)``, see format_index)."""
    if offset:
        error.message = _ROW.sub(lambda m: f"{m[1]}{int(m[2]) + offset}", error.message)
        error.args = (error.message,)
    return error


def _check_whole(
    elements: int, what: str, flag: str = "--grad-out", instead: str | None = None
) -> None:
    if elements * 8 > WHOLE_ARRAY_MAX_BYTES:
        limit = WHOLE_ARRAY_MAX_BYTES >> 20
        fix = (
            f"write it with {flag} FILE.npy instead of {instead}"
            if instead
            else f"write the gradient with {flag} FILE.npy and use --reduction mean or sum"
        )
        raise UsageError(
            f"{what} of this streamed input has {elements} values, more than losscli holds in "
            f"memory for printing ({limit} MiB); {fix}"
        )


# --------------------------------------------------------------------------- gradient file


class _GradFile:
    """``--grad-out`` written a chunk at a time: NPY (header first) or CSV/TSV rows."""

    def __init__(self, path: Any, ndim: int, protect: list[str]) -> None:
        self.path = path
        self.ext, self.tmp, fd, self.err = lio.open_output(path, ndim, protect)
        self.file = os.fdopen(fd, "w+b")
        self.spool: str | None = None
        self.rows = 0
        self.tail: tuple[int, ...] = ()
        self._pushed = 0  # bytes of the output handed to the kernel's writeback so far
        if self.ext == ".npy":
            self.file.write(b"\0" * _NPY_HEADER_BYTES)

    def start_spool(self) -> None:
        """Rows will come unscaled: keep them as raw float64 and write the file at the end."""
        if self.ext != ".npy":
            self.spool = self.tmp + ".spool"
            lio.register_temporary(self.spool)  # removed on a signal too
            self.file.close()
            self.file = open(self.spool, "w+b")  # noqa: SIM115 - closed in finish/abort

    def write(self, rows: np.ndarray) -> None:
        self.tail = rows.shape[1:]
        self.rows += len(rows)
        if self.ext == ".npy" or self.spool is not None:
            self.file.write(memoryview(np.ascontiguousarray(rows, dtype="<f8")).cast("B"))
        else:
            lio.write_text_rows(self.file, rows, "," if self.ext == ".csv" else "\t")
        if self.spool is None:
            self._push()

    def _push(self) -> None:
        """Start writing what is written so far to disk, while the rest is computed, so the
        fsync at the end (lio.commit_output) has little left to wait for."""
        end = self.file.tell()
        if end - self._pushed >= src.RELEASE_BYTES and hasattr(os, "posix_fadvise"):
            self.file.flush()
            with contextlib.suppress(OSError):  # a hint: DONTNEED starts writeback of dirty pages
                fd, start, size = self.file.fileno(), self._pushed, end - self._pushed
                os.posix_fadvise(fd, start, size, os.POSIX_FADV_DONTNEED)
            self._pushed = end

    def finish(self, scale: Callable[[np.ndarray], np.ndarray] | None) -> tuple[int, ...]:
        """Apply ``scale`` to the spooled rows (if any), finish the file and rename it."""
        shape = (self.rows, *self.tail)
        width = math.prod(self.tail) if self.tail else 1
        step = max(1, (1 << 20) // max(width, 1))
        self.file.flush()
        if self.ext == ".npy":
            if scale is not None:
                # read, scale and write back a block at a time (a memory map of the whole file
                # would count every page of it in the resident set: 860 MiB for 1e6 × 100)
                self._pushed = _NPY_HEADER_BYTES
                for start in range(0, self.rows, step):
                    offset = _NPY_HEADER_BYTES + 8 * width * start
                    self.file.seek(offset)
                    count = min(step, self.rows - start)
                    block = np.frombuffer(self.file.read(8 * width * count), "<f8")
                    scaled = scale(block.reshape(count, width))
                    self.file.seek(offset)
                    self.file.write(memoryview(np.ascontiguousarray(scaled, "<f8")).cast("B"))
                    self._push()
            self.file.seek(0)
            self.file.write(_npy_header(shape))
        elif self.spool is not None:
            self.file.seek(0)
            with open(self.tmp, "wb") as out:
                for start in range(0, self.rows, step):
                    count = min(step, self.rows - start)
                    raw = self.file.read(8 * width * count)
                    block = np.frombuffer(raw, "<f8").reshape(count, width).copy()
                    lio.write_text_rows(out, scale(block) if scale else block, self.sep)
        self.file.close()
        if self.spool is not None:
            lio.discard_output(self.spool)
        try:
            lio.commit_output(self.tmp, self.path, self.err)
        except OSError as e:
            raise self.err(f"cannot write file ({e.strerror or e})") from e
        return shape

    @property
    def sep(self) -> str:
        return "," if self.ext == ".csv" else "\t"

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        lio.discard_output(self.tmp)
        if self.spool is not None:
            lio.discard_output(self.spool)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    # numpy's own layout (np.save), so the bytes are those of the in-memory path
    body = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    pad = _NPY_HEADER_BYTES - 10 - len(body) - 1
    size = (len(body) + pad + 1).to_bytes(2, "little")
    return b"\x93NUMPY\x01\x00" + size + body + b" " * pad + b"\n"
