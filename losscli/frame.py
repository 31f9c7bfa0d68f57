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
import os
import re
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from .errors import InputError
from .io import NUMBER as _NUMBER
from .io import SEPARATORS as _SEPARATORS
from .io import clean_cell as _clean
from .io import csv_rows as _rows
from .io import input_error as _error
from .io import open_decompressed, split_extension
from .io import open_input as _open
from .io import plural as _plural
from .io import read_npy as _read_npy
from .io import read_stdin as _read_stdin

__all__ = [
    "Frame",
    "frame_header",
    "read_frame",
    "PARQUET_EXTENSIONS",
    "PARQUET_MAGIC",
    "read_parquet_array",
]

PARQUET_EXTENSIONS = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
_NPY_MAGIC = b"\x93NUMPY"
_MISSING_PYARROW = (
    "reading Parquet needs pyarrow, an optional extra: pip install 'losscli[parquet]'"
)
_SHOW_COLUMNS = 12  # names listed in a message before "… N more"


class Frame:
    """Named (or numbered) columns of one input; each converted to numbers on request.

    ``columns`` holds the header names, or None when the file has none; columns are then
    known by their number, counted from 1 as in the file (``cut -f``).
    """

    def __init__(self, source: str, role: str, columns: list[str] | None, width: int, n_rows: int):
        self.source = source
        self.role = role
        self.columns = columns
        self.width = width
        self.n_rows = n_rows

    # ----------------------------------------------------------------- naming

    def label(self, j: int) -> str:
        """How a person names column ``j`` (0-based): its header name, else its number."""
        return self.columns[j] if self.columns else str(j + 1)

    def describe(self, j: int) -> str:
        """``column "y"`` or ``column 3``, for messages."""
        return f'column "{self.columns[j]}"' if self.columns else f"column {j + 1}"

    def listing(self, indices: Sequence[int] | None = None) -> str:
        """The columns (all by default) as a short comma-separated list."""
        names = [self.label(j) for j in (range(self.width) if indices is None else indices)]
        if not names:
            return "none"
        if len(names) > _SHOW_COLUMNS:
            rest = len(names) - _SHOW_COLUMNS
            names = [*names[:_SHOW_COLUMNS], f"… {rest} more"]
        return ", ".join(names)

    def error(self, message: str, role: str | None = None) -> InputError:
        return InputError(message, role=role or self.role, source=self.source)

    # ----------------------------------------------------------------- data

    def numeric(
        self, indices: Sequence[int], *, role: str | None = None, hint: str = ""
    ) -> np.ndarray:
        """The columns as an ``(n_rows, len(indices))`` float64 array, finite everywhere."""
        out = np.empty((self.n_rows, len(indices)), dtype=np.float64)
        for k, j in enumerate(indices):
            problem = self._column_problem(j)
            if problem:
                numeric = [i for i in range(self.width) if not self._column_problem(i, quick=True)]
                message = f"{self.describe(j)} {problem}"
                if problem.startswith("is not numeric"):
                    message += f"; numeric columns: {self.listing(numeric)}"
                raise self.error(message + hint, role)
            out[:, k] = self._values(j)
        return out

    def labels(self, j: int) -> list[str]:
        """Column ``j`` as text, one label per row (ids)."""
        raise NotImplementedError

    def _values(self, j: int) -> np.ndarray:
        raise NotImplementedError

    def _column_problem(self, j: int, quick: bool = False) -> str:
        """Why column ``j`` cannot be numbers (empty when it can). ``quick``: only whether
        its cells are numbers at all, for listing the numeric columns."""
        raise NotImplementedError


# --------------------------------------------------------------------------- reading


def read_frame(
    source: str | os.PathLike, *, role: str = "input", stdin: BinaryIO | None = None
) -> Frame:
    """Read CSV/TSV/NPY/Parquet (or stdin for ``-``) keeping every column, text or numbers."""
    if isinstance(source, str) and source == "-":
        display = "<stdin>"
        err = _error(role, display)
        raw = _read_stdin(stdin, err)
        if raw.startswith(_NPY_MAGIC):
            return _ArrayFrame(display, role, _read_npy(io.BytesIO(raw), err))
        if raw.startswith(PARQUET_MAGIC):
            return _arrow_frame(io.BytesIO(raw), display, role)
        return _text_frame(raw, ",", display, role)

    display = os.fsdecode(os.fspath(source))
    err = _error(role, display)
    ext, compression = split_extension(display)
    with _open(source, err) as f:
        if compression:  # p.csv.gz: CSV/TSV inside, as losscli.io reads it
            with open_decompressed(f, compression, err) as text:
                return _text_frame(text.read(), _SEPARATORS.get(ext, ","), display, role)
        raw = f.read()
    if ext == ".npy":
        return _ArrayFrame(display, role, _read_npy(io.BytesIO(raw), err))
    if ext in PARQUET_EXTENSIONS:
        return _arrow_frame(io.BytesIO(raw), display, role)
    return _text_frame(raw, _SEPARATORS.get(ext, ","), display, role)


def read_parquet_array(f: BinaryIO, display: str, role: str) -> tuple[np.ndarray, list[str]]:
    """A Parquet file as one 2-D float64 array and its column names; every column must be
    numeric (select columns with :func:`read_frame` otherwise)."""
    frame = _arrow_frame(f, display, role)
    return frame.numeric(range(frame.width), hint=_SELECT_HINT), list(frame.columns or [])


_SELECT_HINT = "; pick the numeric columns with --pred-col/--target-col"


# --------------------------------------------------------------------------- CSV / TSV


# A whole column joined by newlines: numbers as the scanner accepts them, nothing else.
_COLUMN_OF_NUMBERS = re.compile(rf"(?:{_NUMBER.pattern})(?:\n(?:{_NUMBER.pattern}))*", re.I)


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell))


def _frame_header(first: list[str], second: list[str] | None) -> bool:
    """Whether the first row names the columns.

    A row of numbers only is data. A row with text is a header — unless it has the shape of
    the row below (text in the same columns, numbers in the others, at least one number), as
    the rows of a header-less file with an id column do.
    """
    kinds = [_is_number(c) for c in first]
    if all(kinds):
        return False
    if second is None or len(second) != len(first) or not any(kinds):
        return True
    return kinds != [_is_number(c) for c in second]


frame_header = _frame_header  # public: the streamed table source decides the same way


def _text_frame(raw: bytes, sep: str, display: str, role: str) -> _TextFrame:
    err = _error(role, display)
    try:
        stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
        rows = list(_rows(stream, sep, err))  # cells are cleaned per column, when used
    except UnicodeDecodeError:
        raise err("file is not UTF-8 text; save it as UTF-8") from None
    if not rows:
        raise err("file is empty")
    first_line, first = rows[0]
    width = len(first)
    for line, fields in rows:
        if len(fields) != width:
            raise err(
                f"line {line} has {_plural(len(fields), 'field')}, "
                f"expected {width} (as on line {first_line})"
            )
    first = [_clean(c) for c in first]
    second = [_clean(c) for c in rows[1][1]] if len(rows) > 1 else None
    header = _frame_header(first, second)
    if header:
        rows = rows[1:]
        if not rows:
            raise err("has a header row but no data rows")
    return _TextFrame(display, role, first if header else None, rows)


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
                cells = [_clean(c) for c in cells]
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
            problem = _nonfinite_problem(self._values(j), lambda i: f"line {self._lines[i]}")
        if not quick:
            self._checked[j] = problem
        return problem


def _nonfinite_problem(values: np.ndarray, where) -> str:
    for kind, mask in (("NaN", np.isnan(values)), ("infinite", np.isinf(values))):
        if mask.any():
            count = int(mask.sum())
            return (
                f"contains {_plural(count, kind + ' value')} (first at "
                f"{where(int(np.argmax(mask)))}); remove or impute them"
            )
    return ""


# --------------------------------------------------------------------------- NPY


class _ArrayFrame(Frame):
    def __init__(self, source, role, array: np.ndarray):
        data = array.reshape(-1, 1) if array.ndim == 1 else array
        super().__init__(source, role, None, data.shape[1], data.shape[0])
        self._data = data

    def labels(self, j: int) -> list[str]:
        return [_number_label(v) for v in self._data[:, j].tolist()]

    def _values(self, j: int) -> np.ndarray:
        return self._data[:, j]

    def _column_problem(self, j: int, quick: bool = False) -> str:
        return ""  # the NPY reader has already refused NaN, infinity and non-numeric dtypes


def number_label(v: float) -> str:
    """An id read as a number: ``17`` rather than ``17.0`` for whole numbers."""
    return _number_label(v)


def _number_label(v: float) -> str:
    """An id read as a number: ``17`` rather than ``17.0`` for whole numbers."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


# --------------------------------------------------------------------------- Parquet


def _arrow_frame(f: BinaryIO, display: str, role: str) -> _ArrowFrame:
    err = _error(role, display)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise err(_MISSING_PYARROW) from None
    try:
        # use_threads=False: pyarrow 26 can abort the process at exit (exit 134, "terminate
        # called without an active exception") after its reader threads met a damaged file.
        table = pq.read_table(f, use_threads=False)
        # A damaged file can read and still hold names that are not UTF-8 or data that does
        # not match its schema: find out now, not while converting a column.
        names = [str(n) for n in table.column_names]
        table.validate(full=True)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, UnicodeDecodeError, …
        raise err(f"not a valid Parquet file ({_arrow_reason(e)})") from None
    if table.num_columns == 0:
        raise err("Parquet file has no columns")
    if table.num_rows == 0:
        raise err("Parquet file has no rows")
    return _ArrowFrame(display, role, table, names)


def _arrow_reason(e: Exception) -> str:
    """The gist of a pyarrow error: "Parquet magic bytes not found in footer", not the rest."""
    text = (str(e).splitlines() or [""])[0]
    text = text.split("': ", 1)[-1]  # drop "Could not open Parquet input source '<Buffer>': "
    text = text.split(". ", 1)[0].rstrip(".")
    return (text if len(text) <= 80 else text[:77] + "...") or type(e).__name__


class _ArrowFrame(Frame):
    def __init__(self, source, role, table: Any, names: list[str]):
        super().__init__(source, role, names, table.num_columns, table.num_rows)
        self._table = table

    def labels(self, j: int) -> list[str]:
        values = self._table.column(j).to_pylist()
        return [
            "" if v is None else _number_label(v) if isinstance(v, float) else str(v)
            for v in values
        ]

    def _values(self, j: int) -> np.ndarray:
        column = self._table.column(j)
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)

    def _column_problem(self, j: int, quick: bool = False) -> str:
        import pyarrow.types as pt

        column = self._table.column(j)
        kind = column.type
        if not (
            pt.is_integer(kind)
            or pt.is_floating(kind)
            or pt.is_boolean(kind)
            or pt.is_decimal(kind)
        ):
            return f"is not numeric (type {kind})"
        if quick:
            return ""
        if column.null_count:
            import pyarrow.compute as pc

            first = int(np.argmax(pc.is_null(column).to_numpy(zero_copy_only=False)))
            return (
                f"has {_plural(column.null_count, 'missing value')} (first at row {int(first)}); "
                "remove or impute them"
            )
        return _nonfinite_problem(self._values(j), lambda i: f"row {i}")
