"""Tables read column by column: the reader behind ``--pred-col``, ``--target-col`` and
``--id-col``, and the Parquet reader.

:func:`losscli.io.read_table` insists that every cell of a file is a number. A pipeline's file
often is not all numbers — an id column of text beside the predictions and labels — so
:func:`read_frame` keeps each column's cells as they are and converts only the columns asked
for, with messages that name the column. Nothing here prints.

* CSV/TSV: the same scanner and cell rules as :mod:`losscli.io` (quotes, whitespace, BOM, CRLF,
  blank lines), cells kept as text until a column is converted. The header test differs in one
  way: a first row shaped like the second (text in the same places, and some numbers) is data,
  so a header-less file with an id column of text is read as such.
* NPY: every column numeric, no names; columns are picked by number.
* Parquet (needs the ``parquet`` extra, pyarrow): names and types from the schema; numeric and
  boolean columns convert to float64, missing values are refused.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, TextIO

import numpy as np

from . import layout
from .io import (
    NPY_MAGIC,
    NUMBER,
    clean_cell,
    csv_rows,
    display_name,
    input_error,
    open_decompressed,
    open_input,
    read_npy,
    read_stdin,
    split_extension,
)
from .tables import (
    PARQUET_EXTENSIONS,
    PARQUET_MAGIC,
    Frame,
    arrow_frame,
    counted_nonfinite_problem,
    nonfinite_problem,
    number_label,
    plural,
    read_parquet_array,
)

__all__ = [
    "Frame",
    "ScannedFrame",
    "scan_rows",
    "text_frames",
    "read_frame",
    "read_frames",
    "PARQUET_EXTENSIONS",
    "PARQUET_MAGIC",
    "read_parquet_array",
    "number_label",
]

# --------------------------------------------------------------------------- reading


def read_frame(
    source: str | os.PathLike,
    *,
    role: str = "input",
    stdin: BinaryIO | None = None,
    options: layout.Options | None = None,
) -> Frame:
    """Read CSV/TSV/NPY/Parquet (or stdin for ``-``) keeping every column, text or numbers."""
    return read_frames({role: source}, stdin=stdin, options=options)[role]


def read_frames(
    sources: dict[str, str | os.PathLike],
    *,
    stdin: BinaryIO | None = None,
    options: layout.Options | None = None,
) -> dict[str, Frame]:
    """Read several inputs by role, their text layouts decided together (a numeric first
    row is settled by the other file's header; see :func:`losscli.layout.decide`)."""
    opened = {role: _open_frame(source, role, stdin) for role, source in sources.items()}
    text = {role: o for role, o in opened.items() if isinstance(o, tuple)}
    heads = [
        layout.head_of_bytes(raw, display, role, ext) for role, (raw, display, ext) in text.items()
    ]
    layouts = layout.decide(heads, options or layout.Options(), match_columns=False)
    decided = dict(zip(text, layouts, strict=True))
    out: dict[str, Frame] = {}
    for role, o in opened.items():
        if isinstance(o, tuple):
            raw, display, _ = o
            out[role] = _text_frame(raw, decided[role], display, role)
        else:
            out[role] = o
    return out


def _open_frame(source, role: str, stdin) -> Frame | tuple[bytes, str, str]:
    """NPY and Parquet read (a Frame); text as ``(bytes, display, extension)``."""
    if isinstance(source, str) and source == "-":
        display = "<stdin>"
        err = input_error(role, display)
        raw = read_stdin(stdin, err)
        if raw.startswith(NPY_MAGIC):
            return _ArrayFrame(display, role, read_npy(io.BytesIO(raw), err))
        if raw.startswith(PARQUET_MAGIC):
            return arrow_frame(io.BytesIO(raw), display, role)
        return raw, display, ""

    display = display_name(source)  # <stdin> for stdin's spool
    err = input_error(role, display)
    ext, compression = split_extension(os.fsdecode(os.fspath(source)))
    with open_input(source, err) as f:
        if compression:  # p.csv.gz: CSV/TSV inside, as losscli.io reads it
            with open_decompressed(f, compression, err) as text:
                return text.read(), display, ext
        raw = f.read()
    if ext == ".npy":
        return _ArrayFrame(display, role, read_npy(io.BytesIO(raw), err))
    if ext in PARQUET_EXTENSIONS:
        return arrow_frame(io.BytesIO(raw), display, role)
    return raw, display, ext


# --------------------------------------------------------------------------- CSV / TSV


# A whole column joined by newlines: numbers as the scanner accepts them, nothing else.
_COLUMN_OF_NUMBERS = re.compile(rf"(?:{NUMBER.pattern})(?:\n(?:{NUMBER.pattern}))*", re.I)


def _wrong_width(err, line: int, fields: int, width: int, first_line: int):
    return err(
        f"line {line} has {plural(fields, 'field')}, expected {width} (as on line {first_line})"
    )


def _is_number(cell: str) -> bool:
    return bool(NUMBER.fullmatch(cell))


def _text_frame(raw: bytes, lay: layout.Layout, display: str, role: str) -> _TextFrame:
    err = input_error(role, display)
    try:
        stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
        rows = list(csv_rows(stream, lay.sep, err))  # cells are cleaned per column, when used
    except UnicodeDecodeError:
        raise err("file is not UTF-8 text; save it as UTF-8") from None
    if not rows:
        raise err("file is empty")
    first_line, first = rows[0]
    width = len(first)
    for line, fields in rows:
        if len(fields) != width:
            raise _wrong_width(err, line, len(fields), width, first_line)
    if lay.header:
        rows = rows[1:]
        if not rows:
            raise err(lay.no_data_rows())
    frame = _TextFrame(display, role, lay.file_names, rows)
    if lay.index:
        frame.index = 0
        column = frame.numeric([0])  # counts from index_start: checked on every row
        lay.arrange(column)
    return frame


class _TextFrame(Frame):
    def __init__(self, source, role, columns, rows: list[tuple[int, list[str]]]):
        super().__init__(source, role, columns, len(rows[0][1]), len(rows))
        self._lines = [line for line, _ in rows]
        self._rows = [fields for _, fields in rows]
        self._clean: dict[int, list[str]] = {}
        self._floats: dict[int, np.ndarray] = {}
        self._checked: dict[int, str] = {}

    def _cells(self, j: int) -> list[str]:
        """Column ``j``, each cell stripped of whitespace and one pair of quotes (cached)."""
        if j not in self._clean:
            cells = [fields[j].strip() for fields in self._rows]
            if any(c[:1] == '"' for c in cells):
                cells = [clean_cell(c) for c in cells]
            self._clean[j] = cells
        return self._clean[j]

    def labels(self, j: int) -> list[str]:
        return list(self._cells(j))

    def _values(self, j: int) -> np.ndarray:
        if j not in self._floats:
            cells = self._cells(j)
            self._floats[j] = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
        return self._floats[j]

    def _column_problem(self, j: int, quick: bool = False) -> str:
        if j in self._checked:
            return self._checked[j]
        cells, problem = self._cells(j), ""
        if not _COLUMN_OF_NUMBERS.fullmatch("\n".join(cells)):  # one C-level pass, then detail
            for line, cell in zip(self._lines, cells, strict=True):
                if not cell:
                    problem = f"has an empty value at line {line}"
                    break
                if not _is_number(cell):
                    shown = cell if len(cell) <= 40 else cell[:37] + "..."
                    problem = f"is not numeric ({shown!r} at line {line})"
                    break
        if not problem and not quick:
            problem = nonfinite_problem(self._values(j), lambda i: f"line {self._lines[i]}")
        if not quick:
            self._checked[j] = problem
        return problem


# --------------------------------------------------------------------------- NPY


class _ArrayFrame(Frame):
    def __init__(self, source, role, array: np.ndarray):
        data = array.reshape(-1, 1) if array.ndim == 1 else array
        super().__init__(source, role, None, data.shape[1], data.shape[0])
        self._data = data

    def labels(self, j: int) -> list[str]:
        return [number_label(v) for v in self._data[:, j].tolist()]

    def _values(self, j: int) -> np.ndarray:
        return self._data[:, j]

    def _column_problem(self, j: int, quick: bool = False) -> str:
        return ""  # the NPY reader has already refused NaN, infinity and non-numeric dtypes


# --------------------------------------------------------------------------- a chunk at a time


def text_frames(
    open_text: Callable[[], AbstractContextManager[TextIO]],
    lay: layout.Layout,
    display: str,
    role: str,
    rows: int,
    skip: int = 0,
) -> Iterator[tuple[int, Frame]]:
    """A text table's data rows as ``(first data row, frame)`` of at most ``rows`` rows each:
    the whole-file reader's rows and cells (lines numbered as in the file), in bounded
    memory. ``skip``: data rows not to yield (they were read). The file's own errors — not
    UTF-8, a row of another width, no data rows — are the whole-file reader's words, met
    where they lie in the file."""
    err = input_error(role, display)
    with open_text() as stream:
        try:
            it = csv_rows(stream, lay.sep, err)
            first = next(it, None)
            if first is None:
                raise err("file is empty")
            first_line, fields = first
            width, chunk, start, seen = len(fields), [], 0, 0
            if not lay.header:
                it = itertools.chain([first], it)
            for line, fields in it:
                if len(fields) != width:
                    raise _wrong_width(err, line, len(fields), width, first_line)
                seen += 1
                if seen <= skip:
                    start = seen
                    continue
                chunk.append((line, fields))
                if len(chunk) >= rows:
                    yield start, _chunk_frame(chunk, lay, display, role)
                    start, chunk = start + len(chunk), []
        except UnicodeDecodeError:
            raise err("file is not UTF-8 text; save it as UTF-8") from None
    if chunk:
        yield start, _chunk_frame(chunk, lay, display, role)
    if not seen:
        raise err(lay.no_data_rows() if lay.header else "file is empty")


def _chunk_frame(chunk: list, lay: layout.Layout, display: str, role: str) -> _TextFrame:
    frame = _TextFrame(display, role, lay.file_names, chunk)
    if lay.index:
        frame.index = 0
    return frame


class ScannedFrame(Frame):
    """A text table too big to hold, known by scanning it: each column's problem is the
    whole-file reader's (the first empty or non-numeric cell, else the NaN/±inf counted over
    the file), found by reading the file a chunk at a time (:func:`text_frames`), so that
    :meth:`check_numeric` words the error the whole-file reader gives, in bounded memory."""

    def __init__(self, chunks: Callable[[], Iterator[tuple[int, Frame]]], lay, display, role):
        super().__init__(display, role, lay.file_names, lay.width, 0)
        self.index = 0 if lay.index else None
        self._chunks = chunks
        self._problems: dict[tuple[int, bool], str] = {}

    def _column_problem(self, j: int, quick: bool = False) -> str:
        if (j, quick) not in self._problems:
            found: dict[str, tuple[int, str]] = {}
            problem = ""
            for _, chunk in self._chunks():
                problem = chunk._column_problem(j, quick=True)  # an empty or non-numeric cell
                if problem:
                    break
                if not quick:  # NaN and ±inf, counted over the file (the first named)
                    values = chunk._values(j)
                    for kind, mask in (("NaN", np.isnan(values)), ("infinite", np.isinf(values))):
                        if mask.any():
                            where = f"line {chunk._lines[int(np.argmax(mask))]}"
                            count, first = found.get(kind, (0, where))
                            found[kind] = (count + int(mask.sum()), first)
            if not (problem or quick):
                problem = counted_nonfinite_problem(found)
            self._problems[j, quick] = problem
        return self._problems[j, quick]


def scan_rows(
    open_text: Callable[[], AbstractContextManager[TextIO]],
    lay: layout.Layout,
    display: str,
    role: str,
) -> None:
    """Read every row of a text table as the whole-file reader first does, keeping none, and
    raise its first error: of the text itself (not UTF-8, broken quoting) wherever it lies,
    else the first row whose width differs from the first row's."""
    err = input_error(role, display)
    wrong = None
    with open_text() as stream:
        try:
            rows = csv_rows(stream, lay.sep, err)
            first = next(rows, None)
            width = 0 if first is None else len(first[1])
            for line, fields in rows:
                if wrong is None and len(fields) != width:
                    wrong = _wrong_width(err, line, len(fields), width, first[0])
        except UnicodeDecodeError:
            raise err("file is not UTF-8 text; save it as UTF-8") from None
    if wrong is not None:
        raise wrong
