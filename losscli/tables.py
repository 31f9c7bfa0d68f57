"""The column-wise table (:class:`Frame`) and the Parquet reader, for :mod:`losscli.frame`
(tables with text columns) and :mod:`losscli.io` (whole numeric arrays).

It depends on nothing else of losscli but the errors, so both readers can use it and the
dependency goes one way: ``tables`` ← ``io`` ← ``frame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from .errors import InputError

__all__ = [
    "Frame",
    "PARQUET_EXTENSIONS",
    "PARQUET_MAGIC",
    "arrow_frame",
    "check_parquet_columns",
    "counted_nonfinite_problem",
    "invalid_parquet",
    "missing_problem",
    "nonfinite_problem",
    "number_label",
    "open_parquet",
    "parquet_column_error",
    "plural",
    "read_parquet_array",
]

PARQUET_EXTENSIONS = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
_MISSING_PYARROW = (
    "reading Parquet needs pyarrow: pip install pyarrow (or, from a losscli checkout, "
    "pip install '.[parquet]')"
)
_SHOW_COLUMNS = 12  # names listed in a message before "… N more"


def plural(n: int, word: str) -> str:
    """``1 value``, ``2 values``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Frame:
    """Named (or numbered) columns of one input; each converted to numbers on request.

    ``columns`` holds the header names, or None when the file has none; columns are then
    known by their number, counted from 1 as in the file (``cut -f``). ``index`` is the
    column that is a row index (a pandas index: left out of the columns taken by default),
    or None.
    """

    index: int | None = None

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
            self.check_numeric([j], role=role, hint=hint)
            out[:, k] = self._values(j)
        return out

    def check_numeric(
        self, indices: Sequence[int], *, role: str | None = None, hint: str = ""
    ) -> None:
        """The error :meth:`numeric` gives for the first of the columns that is not all finite
        numbers (none when all are), without converting them."""
        for j in indices:
            problem = self._column_problem(j)
            if problem:
                numeric = [i for i in range(self.width) if not self._column_problem(i, quick=True)]
                message = f"{self.describe(j)} {problem}"
                if problem.startswith("is not numeric"):
                    message += f"; numeric columns: {self.listing(numeric)}"
                raise self.error(message + hint, role)

    def labels(self, j: int) -> list[str]:
        """Column ``j`` as text, one label per row (ids)."""
        raise NotImplementedError

    def _values(self, j: int) -> np.ndarray:
        raise NotImplementedError

    def _column_problem(self, j: int, quick: bool = False) -> str:
        """Why column ``j`` cannot be numbers (empty when it can). ``quick``: only whether
        its cells are numbers at all, for listing the numeric columns."""
        raise NotImplementedError


def read_parquet_array(f: BinaryIO, display: str, role: str) -> tuple[np.ndarray, list[str]]:
    """A Parquet file as one 2-D float64 array and its column names; every column must be
    numeric (select columns with :func:`read_frame` otherwise)."""
    frame = arrow_frame(f, display, role)
    return frame.numeric(range(frame.width), hint=_SELECT_HINT), list(frame.columns or [])


_SELECT_HINT = "; pick the numeric columns with --pred-col/--target-col"


def nonfinite_problem(values: np.ndarray, where) -> str:
    found = {}
    for kind, mask in (("NaN", np.isnan(values)), ("infinite", np.isinf(values))):
        if mask.any():
            found[kind] = (int(mask.sum()), where(int(np.argmax(mask))))
    return counted_nonfinite_problem(found)


def counted_nonfinite_problem(found: dict[str, tuple[int, str]]) -> str:
    """The problem of a column holding NaN or ±inf, from ``found``: ``"NaN"`` / ``"infinite"``
    → (how many, where the first is); NaN is named first. Empty when none."""
    for kind in ("NaN", "infinite"):
        count, where = found.get(kind, (0, ""))
        if count:
            return (
                f"contains {plural(count, kind + ' value')} (first at {where}); "
                "remove or impute them"
            )
    return ""


def missing_problem(count: int, first: int) -> str:
    """The problem of a column with ``count`` nulls, the first at row ``first`` (from 0)."""
    return (
        f"has {plural(count, 'missing value')} (first at row {int(first)}); remove or impute them"
    )


def number_label(v: float) -> str:
    """An id read as a number: ``17`` rather than ``17.0`` for whole numbers."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


# --------------------------------------------------------------------------- Parquet


def arrow_frame(f: BinaryIO, display: str, role: str) -> _ArrowFrame:
    def err(message: str) -> InputError:
        return InputError(message, role=role, source=display)

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise err(_MISSING_PYARROW) from None
    try:
        # use_threads=False: pyarrow 26 can abort the process at exit (exit 134, "terminate
        # called without an active exception") after its reader threads met a damaged file.
        # From bytes, not the Python file: pyarrow's I/O threads calling back into a Python
        # file object after an error could still abort the process at exit.
        import pyarrow as pa

        table = pq.read_table(pa.BufferReader(f.read()), use_threads=False)
        # A damaged file can read and still hold names that are not UTF-8 or data that does
        # not match its schema: find out now, not while converting a column.
        names = [str(n) for n in table.column_names]
        table.validate(full=True)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, UnicodeDecodeError, …
        raise err(invalid_parquet(e)) from None
    if table.num_columns == 0:
        raise err("Parquet file has no columns")
    if table.num_rows == 0:
        raise err("Parquet file has no rows")
    return _ArrowFrame(display, role, table, names)


def open_parquet(path: Any, display: str, role: str) -> Any:
    """A Parquet file opened for its footer (``pyarrow.parquet.ParquetFile``, unbuffered: its
    rows are read later, a batch at a time), refused with :func:`arrow_frame`'s messages: not
    valid, no columns, no rows (pyarrow not installed: the extra to install)."""

    def err(message: str) -> InputError:
        return InputError(message, role=role, source=display)

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise err(_MISSING_PYARROW) from None
    pf = None
    try:
        pf = pq.ParquetFile(path, pre_buffer=False)
        names = [str(n) for n in pf.schema_arrow.names]
        rows = pf.metadata.num_rows
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, UnicodeDecodeError, …
        if pf is not None:
            pf.close()
        raise err(invalid_parquet(e)) from None
    if not names or not rows:
        pf.close()
        raise err("Parquet file has no columns" if not names else "Parquet file has no rows")
    return pf


def invalid_parquet(e: Exception) -> str:
    """The message of a Parquet file pyarrow could not read (``e``: its exception)."""
    return f"not a valid Parquet file ({_arrow_reason(e)})"


def check_parquet_columns(schema: Any, display: str, role: str) -> None:
    """:func:`read_parquet_array`'s error for a column that is not numeric, from a Parquet
    file's schema alone (its rows unread)."""
    names = [str(n) for n in schema.names]
    _ArrowFrame(display, role, schema.empty_table(), names).numeric(
        range(len(names)), hint=_SELECT_HINT
    )


def parquet_column_error(display: str, role: str, names: list[str], j: int, problem: str):
    """:func:`read_parquet_array`'s error for column ``j`` of ``names`` with ``problem``
    (:func:`missing_problem`, :func:`counted_nonfinite_problem`): found by a reader that
    reads the file a batch at a time."""
    frame = Frame(display, role, names, len(names), 0)
    return frame.error(f"{frame.describe(j)} {problem}{_SELECT_HINT}")


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
            "" if v is None else number_label(v) if isinstance(v, float) else str(v) for v in values
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
            return missing_problem(column.null_count, first)
        return nonfinite_problem(self._values(j), lambda i: f"row {i}")
