"""Which columns are the predictions, the targets and the row ids: ``--pred-col``,
``--target-col`` and ``--id-col``, for one file holding both or for two files.

A column is named by its header name, by a shell-style pattern (``p_*``, matched against the
header in file order) or by its number counted from 1 (``3``, as ``cut -f`` counts; a header
name wins when a column is called ``3``). Several columns come from repeating the option or
from a comma-separated list (``--pred-col p_0,p_1``), in the order given. One column selected
makes a vector, several a matrix.

:func:`read_inputs` is what the CLI calls; it returns the arrays the losses take.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .errors import LossCliNote, UsageError
from .frame import Frame, read_frame, read_frames
from .layout import Options, match_names

__all__ = [
    "Inputs",
    "Choice",
    "choose_columns",
    "numeric_columns",
    "one_file_inputs",
    "read_inputs",
    "resolve_columns",
]

_PATTERN_CHARS = frozenset("*?[")
_DIGITS = re.compile(r"[0-9]{1,9}")
Source = str | os.PathLike


@dataclass(frozen=True, eq=False)
class Inputs:
    """Predictions and targets as the losses take them, with the row ids when asked for.

    ``columns`` says which columns were taken, by name (or number, for files without a
    header): ``{"predictions": [...], "targets": [...], "id": "id"}``; None when whole files
    were read.
    """

    predictions: np.ndarray
    targets: np.ndarray
    ids: list[str] | None = None
    columns: dict[str, Any] | None = None
    weights: np.ndarray | None = None  # --weight-col: one sample weight per row
    options: dict[str, np.ndarray] | None = None  # --var-col: a loss option, one value per row


def read_inputs(
    predictions: Source,
    targets: Source | None = None,
    *,
    pred_cols: Sequence[str] = (),
    target_cols: Sequence[str] = (),
    id_col: str | None = None,
    weight_col: str | None = None,
    stdin: BinaryIO | None = None,
    options: Options | None = None,
    option_cols: Mapping[str, tuple[str, str]] | None = None,
) -> Inputs:
    """Read the predictions and targets, from two files or from the columns of one.

    With ``targets`` None, one file holds both: give ``pred_cols``, ``target_cols`` or both;
    a side not given takes every other column (the id column aside). With two files the
    column options pick columns from each; without them each file is read whole (and when
    both have headers, the targets' columns are matched to the predictions' by name).
    ``options`` say how text is read (delimiter, header, index column; see
    :mod:`losscli.layout`).

    >>> inputs = read_inputs("scores.csv", pred_cols=["yhat"], target_cols=["y"],
    ...                      id_col="id")  # doctest: +SKIP
    """
    if targets is None:
        if not (pred_cols or target_cols):
            raise UsageError(
                "with one file, say which columns are which: --pred-col and/or --target-col"
            )
        frame = read_frame(predictions, role="predictions", stdin=stdin, options=options)
        return _one_file(frame, pred_cols, target_cols, id_col, weight_col, option_cols)
    if weight_col is not None:
        raise UsageError(
            "--weight-col takes a column of the one file holding predictions and targets; "
            "with two files give --sample-weights FILE"
        )
    sources = {"predictions": predictions, "targets": targets}
    if not (pred_cols or target_cols or id_col):
        from .io import read_tables

        tables = read_tables(sources, stdin=stdin, options=options)
        return Inputs(tables["predictions"].array, tables["targets"].array)
    frames = read_frames(sources, stdin=stdin, options=options)
    return _two_files(
        frames["predictions"], frames["targets"], pred_cols, target_cols, id_col, options
    )


def resolve_columns(frame: Frame, specs: Sequence[str], *, option: str) -> list[int]:
    """0-based indices of the columns that ``specs`` name, in the order given."""
    chosen: list[int] = []
    for spec in specs:
        whole = frame.columns is not None and spec.strip() in frame.columns
        for part in [spec] if whole else spec.split(","):
            name = part.strip()
            if not name:
                raise UsageError(f"{option} got an empty column name in {spec!r}")
            for j in _match(frame, name, option):
                if j in chosen:
                    raise frame.error(f"{option} selects {frame.describe(j)} twice")
                chosen.append(j)
    return chosen


# --------------------------------------------------------------------------- matching


def _match(frame: Frame, name: str, option: str) -> list[int]:
    columns = frame.columns
    if columns is not None and name in columns:
        found = [j for j, c in enumerate(columns) if c == name]
        if len(found) > 1:
            raise frame.error(
                f'column name "{name}" appears {len(found)} times in the header; '
                f"select the column by number ({', '.join(str(j + 1) for j in found)})"
            )
        number = _number(name)
        if number is not None and number - 1 != found[0] and 1 <= number <= frame.width:
            warnings.warn(
                f'{option} {name} is taken as the column named "{name}" (column {found[0] + 1}), '
                f"not column number {number}",
                LossCliNote,
                stacklevel=2,
            )
        return found
    if _PATTERN_CHARS & set(name):
        if columns is None:
            raise frame.error(
                f"{option} {name!r} is a pattern, but the file has no header row to match it "
                f"against; select columns by number (1 to {frame.width})"
            )
        found = [j for j, c in enumerate(columns) if fnmatch.fnmatchcase(c, name)]
        if not found:
            raise frame.error(f"no column matches {name!r}; columns: {frame.listing()}")
        return found
    number = _number(name)
    if number is not None:
        if not 1 <= number <= frame.width:
            raise frame.error(
                f"{option} {name}: there is no column {number}; the file has "
                f"{frame.width} column{'s' if frame.width != 1 else ''}, numbered from 1"
            )
        return [number - 1]
    if columns is None:
        raise frame.error(
            f'no column "{name}": the file has no header row; select columns by number '
            f"(1 to {frame.width})"
        )
    message = f'no column "{name}"; columns: {frame.listing()}'
    close = [c for c in columns if c.lower() == name.lower()] or difflib.get_close_matches(
        name, columns, n=1
    )
    if close:
        message += f' (did you mean "{close[0]}"?)'
    raise frame.error(message)


def _number(name: str) -> int | None:
    """A column number as typed (``3``), or None for anything else."""
    return int(name) if _DIGITS.fullmatch(name) else None


def _id_column(frame: Frame, id_col: str, *, required: bool) -> int | None:
    """The id column's index, or None when the file lacks it and it is not required."""
    name = id_col.strip()
    if not name:
        raise UsageError("--id-col got an empty column name")
    number = _number(name)
    present = (frame.columns is not None and name in frame.columns) or (
        number is not None and 1 <= number <= frame.width
    )
    if not present and not required:
        return None
    if _PATTERN_CHARS & set(name) and not present:
        raise UsageError(f"--id-col takes one column name or number, not a pattern: {name!r}")
    return _match(frame, name, "--id-col")[0]


# --------------------------------------------------------------------------- modes


@dataclass(frozen=True)
class Choice:
    """The columns one file's options pick (0-based): predictions, targets, the id column and
    the sample-weight column; ``hints`` say how to pick a side that was defaulted."""

    predictions: list[int]
    targets: list[int]
    id: int | None = None
    weight: int | None = None
    hints: tuple[str, str] = ("", "")
    # (loss option, column) pairs: columns whose values are a loss option's, one per row
    # (--var-col: gaussian-nll's var)
    options: tuple[tuple[str, int], ...] = ()


def choose_columns(
    frame: Frame,
    pred_cols: Sequence[str] = (),
    target_cols: Sequence[str] = (),
    id_col: str | None = None,
    weight_col: str | None = None,
    option_cols: Mapping[str, tuple[str, str]] | None = None,
) -> Choice:
    """Which columns of one file are which (``frame`` needs only its names and width): a side
    not given takes every other column, the id, weight and option columns aside.
    ``option_cols``: loss option → (its flag, the column), e.g. ``{"var": ("--var-col", "v")}``."""
    id_j = None if id_col is None else _id_column(frame, id_col, required=True)
    w_j = None
    if weight_col is not None:
        w_j = resolve_columns(frame, [weight_col], option="--weight-col")
        if len(w_j) != 1:
            raise UsageError(f"--weight-col takes one column, {weight_col!r} names {len(w_j)}")
        w_j = w_j[0]
    chosen: list[tuple[str, int, str]] = []  # (loss option, column, flag)
    for name, (flag, spec) in (option_cols or {}).items():
        j = resolve_columns(frame, [spec], option=flag)
        if len(j) != 1:
            raise UsageError(f"{flag} takes one column, {spec!r} names {len(j)}")
        chosen.append((name, j[0], flag))
    p_idx = resolve_columns(frame, pred_cols, option="--pred-col") if pred_cols else None
    t_idx = resolve_columns(frame, target_cols, option="--target-col") if target_cols else None
    if p_idx and t_idx:
        both = [j for j in p_idx if j in t_idx]
        if both:
            raise frame.error(
                f"{frame.describe(both[0])} is selected by both --pred-col and --target-col"
            )
    specials = [(id_j, "--id-col"), (w_j, "--weight-col"), *((j, f) for _, j, f in chosen)]
    for special, name in specials:
        for option, idx in (("--pred-col", p_idx), ("--target-col", t_idx)):
            if special is not None and idx and special in idx:
                raise frame.error(
                    f"{frame.describe(special)} is the {name}; it cannot be in {option}"
                )
    seen: dict[int, str] = {}
    for special, name in specials:
        if special is not None and special in seen:
            raise frame.error(
                f"{frame.describe(special)} is the {seen[special]}; it cannot be the {name}"
            )
        if special is not None:
            seen[special] = name
    taken = set(p_idx or ()) | set(t_idx or ()) | set(seen)
    rest = [j for j in range(frame.width) if j not in taken and j != frame.index]
    sides, hints = [], []
    for idx, role, option in (
        (p_idx, "predictions", "--pred-col"),
        (t_idx, "targets", "--target-col"),
    ):
        idx, hint = _or_rest(frame, idx, rest, role, option)
        sides.append(idx)
        hints.append(hint)
    options = tuple((name, j) for name, j, _ in chosen)
    return Choice(sides[0], sides[1], id_j, w_j, (hints[0], hints[1]), options)


def numeric_columns(choice: Choice) -> list[tuple[list[int], str, str]]:
    """The columns one file's run converts, in the order it converts them (the first that is
    not all numbers is the one its error names): ``(indices, role, hint)``."""
    plan = [
        (list(choice.predictions), "predictions", choice.hints[0]),
        (list(choice.targets), "targets", choice.hints[1]),
    ]
    if choice.weight is not None:
        plan.append(([choice.weight], "sample weights", ""))
    plan += [([j], name.replace("_", " "), "") for name, j in choice.options]
    return plan


def one_file_inputs(
    frame: Frame, pred_cols, target_cols, id_col, weight_col=None, option_cols=None
) -> Inputs:
    """The inputs of one file's frame (or of a chunk of its rows): its columns chosen and
    converted, in :func:`numeric_columns`' order."""
    return _one_file(frame, pred_cols, target_cols, id_col, weight_col, option_cols)


def _one_file(
    frame: Frame, pred_cols, target_cols, id_col, weight_col=None, option_cols=None
) -> Inputs:
    choice = choose_columns(frame, pred_cols, target_cols, id_col, weight_col, option_cols)
    plan = numeric_columns(choice)
    p, t, *rest = (frame.numeric(idx, role=role, hint=hint) for idx, role, hint in plan)
    p, t = (a[:, 0] if a.shape[1] == 1 else a for a in (p, t))
    weights = rest.pop(0)[:, 0] if choice.weight is not None else None
    row_options = {name: a[:, 0] for (name, _), a in zip(choice.options, rest, strict=True)}
    return Inputs(
        p,
        t,
        None if choice.id is None else frame.labels(choice.id),
        _columns(frame, choice.predictions, frame, choice.targets, frame, choice.id),
        weights,
        row_options or None,
    )


def _two_files(pf: Frame, tf: Frame, pred_cols, target_cols, id_col, options=None) -> Inputs:
    pid = tid = None
    if id_col is not None:
        pid = _id_column(pf, id_col, required=False)
        tid = _id_column(tf, id_col, required=False)
        if pid is None and tid is None:
            raise pf.error(
                f'no column "{id_col.strip()}" here or in {tf.source} for --id-col; columns '
                f"here: {pf.listing()}"
            )
    sides = []
    for frame, cols, id_j, role, option in (
        (pf, pred_cols, pid, "predictions", "--pred-col"),
        (tf, target_cols, tid, "targets", "--target-col"),
    ):
        idx = resolve_columns(frame, cols, option=option) if cols else None
        if id_j is not None and idx and id_j in idx:
            raise frame.error(f"{frame.describe(id_j)} is the --id-col; it cannot be in {option}")
        rest = [j for j in range(frame.width) if j not in (id_j, frame.index)]
        sides.append(_side(frame, idx, rest, role, option))
    ids = None
    if pid is not None:
        ids = pf.labels(pid)
    if tid is not None:
        target_ids = tf.labels(tid)
        if ids is not None and len(ids) == len(target_ids):
            _check_same_ids(ids, target_ids, pf, tf)
        ids = target_ids if ids is None else ids
    (p, p_idx), (t, t_idx) = sides
    if not (pred_cols or target_cols) and pf.columns is not None and tf.columns is not None:
        order = match_names(
            [pf.label(j) for j in p_idx],
            [tf.label(j) for j in t_idx],
            sources=(pf.source, tf.source),
            options=options or Options(),
        )
        if order is not None:  # the same names in another order: the predictions' order
            t_idx = [t_idx[k] for k in order]
            t = t[:, list(order)]
    id_frame, id_j = (pf, pid) if pid is not None else (tf, tid)
    return Inputs(p, t, ids, _columns(pf, p_idx, tf, t_idx, id_frame, id_j))


def _or_rest(
    frame: Frame, idx: list[int] | None, rest: list[int], role: str, option: str
) -> tuple[list[int], str]:
    """``(idx, "")``, or the remaining columns and a hint when the side was not chosen."""
    if idx is not None:
        return idx, ""
    if not rest:
        raise frame.error(f"no columns are left for the {role}; select them with {option}", role)
    return rest, f"; select the {role[:-1]} columns with {option}"


def _side(
    frame: Frame, idx: list[int] | None, rest: list[int], role: str, option: str
) -> tuple[np.ndarray, list[int]]:
    """The chosen columns of one side (``rest`` when none were chosen) as a vector or matrix."""
    idx, hint = _or_rest(frame, idx, rest, role, option)
    data = frame.numeric(idx, role=role, hint=hint)
    return (data[:, 0] if data.shape[1] == 1 else data), idx


def _check_same_ids(ids: list[str], other: list[str], pf: Frame, tf: Frame) -> None:
    for i, (a, b) in enumerate(zip(ids, other, strict=True)):
        if a != b:
            raise pf.error(
                f"the ids differ from those in {tf.source}: row {i} has {a!r} here and {b!r} "
                "there; put both files in the same row order"
            )


def _columns(pf: Frame, p_idx, tf: Frame, t_idx, id_frame: Frame, id_j) -> dict[str, Any]:
    return {
        "predictions": [pf.label(j) for j in p_idx],
        "targets": [tf.label(j) for j in t_idx],
        "id": None if id_j is None else id_frame.label(id_j),
    }
