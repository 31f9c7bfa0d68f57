"""Input/output layer: read CSV/TSV/NPY into float64 arrays, write arrays atomically.

Every problem with an input raises :class:`InputError` with a one-line message naming what is
wrong and, where it helps, the fix. Nothing here prints.

A text input's layout — delimiter, header, pandas index column, the targets' column order —
is decided once, from its first lines, by :mod:`losscli.layout`; both parsers follow it.
CSV is read in two ways that must agree:

* a pure-Python scanner (:func:`_scan`), which is the authority: it accepts or rejects every
  cell and produces the precise error message (line, column, value);
* pandas' C parser, used only for inputs of ``_PANDAS_MIN_BYTES`` or more. Its result is taken
  only when it parsed cleanly into finite float64 of the expected width; anything else falls
  back to the scanner, which then explains the problem.

Small inputs skip pandas entirely because importing it (~0.3 s) costs more than scanning a
megabyte in Python. pandas is imported lazily so ``import losscli.io`` stays cheap.

Parquet (``.parquet``/``.pq``, or ``PAR1`` on stdin) is read by :mod:`losscli.frame` through
pyarrow, the optional ``parquet`` extra; without it the error names the extra to install.

NPY decisions: ``bool`` arrays are accepted and read as 0.0/1.0 (binary labels are often saved
that way); integer and float arrays of any width are cast to float64; complex, string,
structured, datetime and object arrays are rejected. Files are never unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import math
import os
import re
import stat
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

import numpy as np
import numpy.lib.format as npy_format

from losscli.errors import InputError, UsageError
from losscli.layout import Layout, Options
from losscli.tables import PARQUET_MAGIC, plural

from . import layout as layout_rules

__all__ = [
    "Table",
    "read_table",
    "read_tables",
    "read_array",
    "write_array",
    "write_text",
    "check_output_path",
    "check_outputs",
    "remove_temporaries",
    "register_temporary",
    "spool_stdin",
    "discard_spool",
    "display_name",
    "format_float",
]

# Inputs at least this big go through pandas; smaller ones through the Python scanner.
_PANDAS_MIN_BYTES = 1 << 20

# Compressed text, by extension: the extension before it chooses the separator (p.tsv.gz).
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every NPY file
# Compressed data on stdin, by its first bytes (bzip2: "BZh", a level, then a block's magic).
_COMPRESSED_MAGIC = (
    ("gzip", "gunzip -c FILE.gz", re.compile(rb"\x1f\x8b")),
    ("bzip2", "bunzip2 -c FILE.bz2", re.compile(rb"BZh[1-9]1AY&SY")),
    ("xz", "xz -dc FILE.xz", re.compile(rb"\xfd7zXZ\x00")),
    ("zstd", "zstd -dc FILE.zst", re.compile(rb"\x28\xb5\x2f\xfd")),
)
# What a cell may hold (see losscli.layout).
_NUMBER = layout_rules.NUMBER
_STDIN_TTY = (
    "reading from stdin but it is a terminal: pipe data in, "
    "e.g. `cat preds.csv | losscli mse - targets.csv`"
)
_NPY_OBJECTS = (
    "NPY holds Python objects (dtype object); losscli reads numeric arrays only and never unpickles"
)

_Err = Callable[[str], InputError]


@dataclass(frozen=True, eq=False)  # eq=False: the generated __eq__ would compare ndarrays
class Table:
    data: np.ndarray  # float64, always 2-D (rows, cols)
    columns: list[str] | None  # header names, None when the file had no header
    source: str  # display name: the path as given, or "<stdin>"
    vector: bool = False  # a 1-D NPY or one column: read_array gives a 1-D array
    layout: Layout | None = None  # how a text input was read (None for NPY and Parquet)

    @property
    def array(self) -> np.ndarray:
        """The data as :func:`read_array` gives it: 1-D for a vector."""
        return self.data[:, 0] if self.vector else self.data


def read_table(
    source: str | os.PathLike,
    *,
    role: str = "input",
    stdin: BinaryIO | None = None,
    options: Options | None = None,
) -> Table:
    """Read a CSV/TSV/NPY file (or CSV on stdin when ``source`` is ``-``) as a 2-D table.
    ``options`` (:class:`losscli.layout.Options`) override the detected delimiter, header and
    index column."""
    return read_tables({role: source}, stdin=stdin, options=options)[role]


def read_tables(
    sources: dict[str, str | os.PathLike],
    *,
    stdin: BinaryIO | None = None,
    options: Options | None = None,
) -> dict[str, Table]:
    """Read several inputs, by role (``"predictions"``, ``"targets"``, …), their text layouts
    decided together (:func:`losscli.layout.decide`): a numeric first row is settled by the
    other file's header, and the targets' columns are put in the predictions' order."""
    opened = {role: _open_input(source, role, stdin) for role, source in sources.items()}
    text = {role: i for role, i in opened.items() if isinstance(i, _TextInput)}
    layouts = layout_rules.decide([i.head() for i in text.values()], options or Options())
    out = {}
    for role, i in opened.items():
        if isinstance(i, _TextInput):
            lay = layouts[list(text).index(role)]
            data, columns = _read_csv(i.raw, i.path, lay, i.err)
            out[role] = Table(data, columns, i.display, data.shape[1] == 1, lay)
        else:
            out[role] = i
    return out


def read_array(
    source: str | os.PathLike,
    *,
    role: str = "input",
    stdin: BinaryIO | None = None,
    options: Options | None = None,
) -> np.ndarray:
    """Read a CSV/TSV/NPY/Parquet file (or CSV/NPY on stdin for ``-``) as a float64 array:
    1-D for one column or a 1-D NPY, else 2-D. Raises :class:`~losscli.InputError` with a
    one-line message (file, line, column) for anything that is not a table of finite numbers.

    >>> import losscli
    >>> losscli.read_array("preds.csv")  # doctest: +SKIP
    array([[0.26, -0.04, -0.54], ...])
    """
    return read_table(source, role=role, stdin=stdin, options=options).array


def format_float(x: float) -> str:
    """Shortest text that reads back as the same float64 (``repr``), shared by all writers."""
    return repr(float(x))


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, eq=False)
class _TextInput:
    """A CSV/TSV input opened but not parsed: its bytes, or its path when it is big."""

    display: str
    role: str
    extension: str
    raw: bytes | None
    path: str | os.PathLike | None

    def err(self, message: str) -> InputError:
        return InputError(message, role=self.role, source=self.display)

    def head(self) -> layout_rules.Head:
        if self.raw is not None:
            return layout_rules.head_of_bytes(self.raw, self.display, self.role, self.extension)
        with _open(self.path, self.err) as f:
            return layout_rules.read_head(f, self.display, self.role, self.extension)


def _open_input(source, role: str, stdin) -> Table | _TextInput:
    """NPY and Parquet read whole (a Table); text opened for its layout to be decided."""
    if isinstance(source, str) and source == "-":
        display = "<stdin>"
        err = _error(role, display)
        raw = _read_stdin(stdin, err)
        if raw.startswith(NPY_MAGIC):  # NPY piped in: these magic bytes cannot start a CSV
            return _npy_result(_read_npy(io.BytesIO(raw), err), display)
        if raw.startswith(PARQUET_MAGIC):  # Parquet piped in
            return _parquet_result(io.BytesIO(raw), role, display)
        return _TextInput(display, role, "", raw, None)

    display = display_name(source)
    err = _error(role, display)
    ext, compression = split_extension(os.fsdecode(os.fspath(source)))
    if ext in (".parquet", ".pq") and not compression:
        with _open(source, err) as f:
            return _parquet_result(io.BytesIO(f.read()), role, display)
    if compression:
        with _open(source, err) as f, open_decompressed(f, compression, err) as stream:
            if ext == ".npy":  # read whole: its rows lie behind the decompression of all before
                return _npy_result(_read_npy(io.BytesIO(stream.read()), err), display)
            return _TextInput(display, role, ext, stream.read(), None)
    with _open(source, err) as f:
        info = os.fstat(f.fileno())
        regular = stat.S_ISREG(info.st_mode)
        if ext == ".npy":
            # A pipe (e.g. bash's `<(cmd)`) cannot seek, which the NPY reader needs.
            return _npy_result(_read_npy(f if regular else io.BytesIO(f.read()), err), display)
        if regular and info.st_size >= _PANDAS_MIN_BYTES:
            return _TextInput(display, role, ext, None, source)  # big: pandas reads the path
        return _TextInput(display, role, ext, f.read(), None)  # one read serves both parsers


def _parquet_result(f: BinaryIO, role: str, display: str) -> Table:
    """The Table of a Parquet input (the ``parquet`` extra): every column must be numeric."""
    from .tables import read_parquet_array

    array, columns = read_parquet_array(f, display, role)
    return Table(array, columns, display, array.shape[1] == 1)


def split_extension(display: str) -> tuple[str, str | None]:
    """``(".csv", "gzip")`` for ``p.csv.gz``; ``(".npy", None)`` for ``p.npy`` (lower case)."""
    stem, ext = os.path.splitext(display)
    compression = COMPRESSIONS.get(ext.lower())
    if compression:
        ext = os.path.splitext(stem)[1]
    return ext.lower(), compression


@contextlib.contextmanager
def open_decompressed(f: BinaryIO, compression: str, err: _Err) -> Iterator[BinaryIO]:
    """A binary stream of the decompressed bytes; a bad archive is one ``InputError``."""
    if compression == "gzip":
        import gzip

        stream, bad = gzip.GzipFile(fileobj=f, mode="rb"), (OSError, EOFError)
    elif compression == "bz2":
        import bz2

        stream, bad = bz2.BZ2File(f, mode="rb"), (OSError, EOFError)
    elif compression == "xz":
        import lzma

        stream, bad = lzma.LZMAFile(f, mode="rb"), (lzma.LZMAError, EOFError)  # noqa: SIM115
    else:
        try:
            import zstandard
        except ImportError:
            raise err("reading .zst needs the zstandard package: pip install zstandard") from None
        stream, bad = zstandard.ZstdDecompressor().stream_reader(f), (zstandard.ZstdError,)
    try:
        with stream:
            yield stream
    except bad as e:
        raise err(f"not a valid {compression} file ({e})") from None


def _error(role: str, display: str) -> _Err:
    display = display_name(display)  # stdin's spool is <stdin>
    return lambda message: InputError(message, role=role, source=display)


@contextlib.contextmanager
def _open(path, err: _Err) -> Iterator[BinaryIO]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - open errors are mapped here, the with is below
    except FileNotFoundError:
        raise err("file not found") from None
    except IsADirectoryError:
        raise err("is a directory, expected a file") from None
    except PermissionError:
        if os.path.isdir(path):  # Windows reports opening a directory as permission denied
            raise err("is a directory, expected a file") from None
        raise err("permission denied") from None
    except OSError as e:
        raise err(f"cannot open file ({e.strerror or e})") from None
    with f:
        yield f


def _read_stdin(stdin: BinaryIO | TextIO | None, err: _Err) -> bytes:
    data = _stdin_stream(stdin, err).read()
    return data.encode() if isinstance(data, str) else data


def _stdin_stream(stdin: BinaryIO | TextIO | None, err: _Err) -> BinaryIO | TextIO:
    """The stream ``-`` reads (``sys.stdin``'s bytes unless given); a terminal is refused
    rather than waited on."""
    if stdin is None:
        stdin = sys.stdin.buffer if sys.stdin is not None else io.BytesIO()
    try:
        tty = stdin.isatty()
    except (AttributeError, ValueError, OSError):  # closed or file-like without isatty
        tty = False
    if tty:
        raise err(_STDIN_TTY)
    return stdin


# --- stdin spooled -----------------------------------------------------------------------------
#
# ``-`` given to the sources is copied, SPOOL_CHUNK_BYTES at a time, to a private file in the
# temporary directory ($TMPDIR), which every reader then reads as a file on disk: streamed
# above the same sizes, NPY memory-mapped, Parquet seekable. Its format is decided once, from
# its first bytes, as for stdin read whole: NPY's magic, Parquet's ``PAR1``, else text (no
# extension: delimiter and header detected from the lines). The spool is registered (removed
# on a signal or an error) and named ``<stdin>`` in every message (:func:`display_name`).

STDIN_NAME = "<stdin>"
SPOOL_CHUNK_BYTES = 1 << 20
_SPOOLS: dict[str, str] = {}  # spool path -> its display name
# stdin's formats by their first bytes, as _open_input tells them apart
_MAGIC = ((NPY_MAGIC, ".npy"), (PARQUET_MAGIC, ".parquet"))


def spool_stdin(stdin: BinaryIO | TextIO | None = None, *, role: str = "input") -> str:
    """Copy stdin to a private temporary file and return its path, named ``<stdin>`` in
    messages; its extension says the format (``.npy``, ``.parquet``, none for text). Free it
    with :func:`discard_spool` (:func:`remove_temporaries` does on a signal or an error)."""
    err = _error(role, STDIN_NAME)
    stream = _stdin_stream(stdin, err)

    def chunk() -> bytes:
        data = stream.read(SPOOL_CHUNK_BYTES)
        return data.encode() if isinstance(data, str) else data

    first = chunk()
    while 0 < len(first) < 10:  # a raw pipe may return less than asked: enough for the magic
        more = chunk()
        if not more:
            break
        first += more
    for kind, command, magic in _COMPRESSED_MAGIC:  # as text, 'not UTF-8 text' would mislead
        if magic.match(first):
            suffix = command.rsplit(".", 1)[1]
            raise err(
                f"{kind}-compressed data on stdin; decompress it first "
                f"(e.g. `{command} | losscli …`), or give the .{suffix} file by name"
            )
    suffix = next((ext for magic, ext in _MAGIC if first.startswith(magic)), "")
    import secrets  # here, as tempfile: imports a run without stdin skips
    import tempfile  # 4 ms of imports (shutil, random)

    folder = tempfile.gettempdir()

    for _ in range(100):
        # Registered before it exists, as an output's temporary file (see _temporary_beside).
        path = os.path.join(folder, f"losscli-stdin-{secrets.token_hex(6)}{suffix}")
        register_temporary(path)
        try:
            fd = os.open(
                path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
            )
            break
        except FileExistsError:
            _TEMPORARIES.discard(path)
        except OSError as e:
            _TEMPORARIES.discard(path)
            raise err(_spool_problem(folder, e)) from None
    else:
        raise err(f"cannot create a file in the temporary directory {folder}")
    _SPOOLS[path] = STDIN_NAME
    try:
        with os.fdopen(fd, "wb") as f:
            while first:
                f.write(first)
                first = chunk()
    except BaseException as e:  # including Ctrl-C: never leave the copy behind
        discard_spool(path)
        if isinstance(e, OSError):
            raise err(_spool_problem(folder, e)) from None
        raise
    return path


def _spool_problem(folder: str, e: OSError) -> str:
    return (
        f"cannot copy stdin to the temporary directory {folder} ({e.strerror or e}); "
        "set TMPDIR to a directory with room, or give a file instead of -"
    )


def discard_spool(path: str) -> None:
    """Remove a copy of stdin made by :func:`spool_stdin`."""
    discard_output(path)
    _SPOOLS.pop(path, None)


def display_name(path: str | os.PathLike) -> str:
    """How messages name an input: ``<stdin>`` for stdin's spool, else the path as given."""
    name = os.fsdecode(os.fspath(path))
    return _SPOOLS.get(name, name)


def is_stdin_spool(path: str | os.PathLike) -> bool:
    return os.fsdecode(os.fspath(path)) in _SPOOLS


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(
    raw: bytes | None, path, lay: Layout, err: _Err
) -> tuple[np.ndarray, list[str] | None]:
    """Parse CSV from ``raw`` bytes, or from ``path`` when the file is too big to slurp, as
    ``lay`` (its decided layout) says."""

    def text() -> TextIO:  # fresh stream, decoded lazily; newline="" lets csv see \r\n
        binary = open(path, "rb") if raw is None else io.BytesIO(raw)  # noqa: SIM115
        return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")

    try:
        if raw is None or len(raw) >= _PANDAS_MIN_BYTES:
            data = _pandas_parse(io.BytesIO(raw) if raw is not None else path, lay)
            if (
                data is not None
                and data.shape[0] > 0
                and data.shape[1] == lay.width
                and np.isfinite(data).all()
            ):
                return lay.arrange(data), lay.columns
        # Small input, or pandas choked / found NaN: the scanner decides and explains.
        with text() as stream:
            return _scan(stream, lay, err)
    except UnicodeDecodeError:
        raise err("file is not UTF-8 text; save it as UTF-8") from None


def pandas_options(sep: str, header: bool) -> dict:
    """``pandas.read_csv`` options of the fast path (also used chunk by chunk by stream.py)."""
    return dict(
        sep=r"\s+" if sep == layout_rules.WHITESPACE else sep,
        header=0 if header else None,
        index_col=False,
        dtype=np.float64,
        # No NA strings at all: "nan" and empty cells then fail the float conversion,
        # so short rows and empty cells cannot pass as NaN.
        keep_default_na=False,
        skipinitialspace=True,
        encoding="utf-8",
        compression=None,
        engine="c",
    )


def _pandas_parse(src, lay: Layout) -> np.ndarray | None:
    """Fast path: pandas' C parser straight to float64, or None when anything looks off."""
    import pandas as pd

    with warnings.catch_warnings():
        # Rows longer than the header only warn (and lose data); treat that as failure.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(src, **pandas_options(lay.sep, lay.header))
        except (ValueError, pd.errors.ParserWarning):  # ParserError/UnicodeDecodeError are too
            return None
    # Copy into a C-ordered array we own: pandas may hand back a read-only or F-ordered view.
    return np.array(frame.to_numpy(dtype=np.float64), dtype=np.float64, order="C")


def _rows(stream: TextIO, sep: str, err: _Err) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows, each with the 1-based line number it starts on."""
    try:
        for start, fields, _ in layout_rules.split_rows(stream, sep):
            yield start, fields
    except layout_rules.QuotingError as e:
        raise err(f"cannot parse line {e.line} ({e})") from None


_clean = layout_rules.clean_cell


def _scan(
    stream: TextIO,
    lay: Layout,
    err: _Err,
    emit: Callable[[np.ndarray], None] | None = None,
    chunk_rows: int = 65536,
) -> tuple[np.ndarray, list[str] | None]:
    """The authoritative parser: validate every cell, report the first problem precisely.

    With ``emit``, the values go to ``emit`` as ``(rows, width)`` arrays of at most
    ``chunk_rows`` rows each (memory stays bounded), and the returned data is empty.
    Blocks are arranged as ``lay`` says (index column dropped, columns in order).
    """
    rows = _rows(stream, lay.sep, err)
    first = next(rows, None)
    if first is None:
        raise err("file is empty")
    first_line, first_fields = first
    width = len(first_fields)
    columns = [_clean(c) for c in first_fields] if lay.header else None
    if columns is None:
        rows = itertools.chain([first], rows)

    def at(line: int, col: int) -> str:
        name = f' ("{columns[col - 1]}")' if columns and columns[col - 1] else ""
        return f"line {line}, column {col}{name}"

    values: list[float] = []
    bad: dict[str, list] = {"NaN": [0, ""], "infinite": [0, ""]}  # kind -> [count, first at]
    nrows = emitted = 0
    for line, fields in rows:
        if len(fields) != width:
            raise err(
                f"line {line} has {_plural(len(fields), 'field')}, "
                f"expected {width} (as on line {first_line})"
            )
        for col, raw in enumerate(fields, 1):
            cell = _clean(raw)
            if not cell:
                raise err(f"empty value at {at(line, col)}")
            if not _NUMBER.fullmatch(cell):
                shown = cell if len(cell) <= 40 else cell[:37] + "..."
                raise err(f"non-numeric value {shown!r} at {at(line, col)}{_hint(cell, lay)}")
            value = float(cell)
            if not math.isfinite(value):
                tally = bad["NaN" if value != value else "infinite"]
                tally[0] += 1
                tally[1] = tally[1] or f"line {line}, column {col}"
            values.append(value)
        nrows += 1
        if emit is not None and len(values) >= chunk_rows * width:
            if not (bad["NaN"][0] or bad["infinite"][0]):  # else it raises at the end
                block = np.array(values, dtype=np.float64).reshape(-1, width)
                emit(lay.arrange(block, emitted))
                emitted += len(block)
            values.clear()
    if nrows == 0:
        raise err(lay.no_data_rows())
    _raise_nonfinite(bad, err)
    data = lay.arrange(np.array(values, dtype=np.float64).reshape(-1, width), emitted)
    if emit is not None:
        if len(data):
            emit(data)
        data = data[:0]
    return data, lay.columns


def _hint(cell: str, lay: Layout) -> str:
    """For a cell holding another delimiter: what to do about it."""
    for sep, name, flag in ((",", "comma", "','"), ("\t", "tab", "tab"), (";", "semicolon", "';'")):
        if sep != lay.sep and sep in cell and all(map(_NUMBER.fullmatch, cell.split(sep))):
            if ("delimiter_from", "option") in lay.how:
                return (
                    f"; this file looks {name}-separated, and --delimiter applies to every "
                    "input (without it each one's delimiter is detected)"
                )
            return f"; this file looks {name}-separated: pass --delimiter {flag}"
    return ""


_plural = plural


def _raise_nonfinite(bad: dict[str, list], err: _Err) -> None:
    for kind, (count, where) in bad.items():
        if count:
            raise err(
                f"contains {_plural(count, kind + ' value')} (first at {where}); "
                "remove or impute them"
            )


# --- NPY ---------------------------------------------------------------------------------------


def _read_npy(f: BinaryIO, err: _Err) -> np.ndarray:
    """Validate the header before touching the data, then load with allow_pickle=False."""
    npy_header(f, err)
    f.seek(0)
    try:
        array = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise err(f"not a valid NPY file ({str(e).splitlines()[0][:80]})") from None
    array = np.ascontiguousarray(array, dtype=np.float64)

    if not np.isfinite(array).all():
        bad = {}
        for kind, mask in (("NaN", np.isnan(array)), ("infinite", np.isinf(array))):
            index = np.unravel_index(int(np.argmax(mask)), mask.shape)  # first in C order
            bad[kind] = [int(mask.sum()), npy_position(index, array.ndim)]
        _raise_nonfinite(bad, err)
    return array


def npy_position(index: tuple[int, ...], ndim: int) -> str:
    """Where a value sits in an NPY array, as error messages name it."""
    if ndim > 2:
        return f"index ({', '.join(str(int(i)) for i in index)})"
    return f"row {index[0]}, col {index[1]}" if ndim == 2 else f"index {index[0]}"


def npy_header(f: BinaryIO, err: _Err) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Validate an NPY header: ``(shape, dtype, fortran_order, data offset)``; the data is
    only checked to be long enough, never read."""
    try:
        version = npy_format.read_magic(f)
    except ValueError:
        f.seek(0)
        magic = f.read(6)
        if not magic.strip():
            raise err("file is empty") from None
        if magic[:1] == b"\x80":  # pickle protocol 2+ opcode
            raise err(
                "file is a Python pickle, not an NPY array; losscli never unpickles"
            ) from None
        reason = "a zip archive such as .npz" if magic[:2] == b"PK" else "no NPY magic bytes"
        raise err(f"not a valid NPY file ({reason})") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise err(f"not a valid NPY file (unknown format version {version[0]}.{version[1]})")
    read_header = (
        npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    )
    try:
        shape, fortran_order, dtype = read_header(f)
    except Exception:  # numpy raises assorted types (even tokenize.TokenError) for bad headers
        raise err("not a valid NPY file (corrupt header)") from None

    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in shape):
        raise err(
            f"not a valid NPY file (shape {shape!r} in the header: each dimension must be a "
            "whole number ≥ 0)"
        )
    if dtype.hasobject:
        raise err(_NPY_OBJECTS)
    if dtype.kind == "c":
        raise err(f"NPY dtype {dtype.str} is complex; losscli takes real numbers only")
    if dtype.kind not in "biuf":  # strings, bytes, structured (V), datetime (M/m)
        raise err(f"NPY dtype {npy_format.dtype_to_descr(dtype)} is not numeric")
    if len(shape) == 0:
        raise err("array is a 0-d scalar; losscli takes a vector or a matrix")
    if math.prod(shape) == 0:
        raise err("array is empty")

    data_start, needed = f.tell(), math.prod(shape) * dtype.itemsize
    available = f.seek(0, io.SEEK_END) - data_start
    if available < needed:
        raise err(f"not a valid NPY file (truncated: {available} of {needed} data bytes)")
    return shape, dtype, fortran_order, data_start


def _npy_result(array: np.ndarray, display: str) -> Table:
    """The Table of an NPY array: its data is 2-D, read_array keeps a 1-D array 1-D."""
    vector = array.ndim == 1
    return Table(array.reshape(-1, 1) if vector else array, None, display, vector)


# ---------------------------------------------------------------------------------------------
# Writing
#
# Every output is written to a temporary file beside it, flushed, fsynced, checked for a short
# write and renamed over the target, so the target is either the old file or the whole new one.
# The temporary files of a run are registered; :func:`remove_temporaries` (which the CLI calls
# on SIGINT, SIGTERM, SIGHUP and any error) removes those still there. A FIFO or a character
# device (``/dev/stdout``, a pipe to another process) is never replaced: text output
# (write_text, ``-o``) is written into it directly, not atomically; an array (``--grad-out``)
# is refused, as are block devices and sockets everywhere.

_TEMPORARIES: set[str] = set()  # temporary files created and not yet renamed or removed
_DIRECT: set[str] = set()  # special files write_text writes into directly (no temporary)
_TEMP_PREFIX, _TEMP_SUFFIX = ".losscli-", ".tmp"  # short: a 255-byte target name still works
_SPECIAL = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device"}
_REFUSED = {stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def register_temporary(path: str | os.PathLike) -> None:
    """Have :func:`remove_temporaries` remove ``path`` unless it is discarded or committed
    first (for a temporary file a writer creates itself, e.g. a spool beside the output)."""
    _TEMPORARIES.add(os.fsdecode(os.fspath(path)))


def remove_temporaries() -> None:
    """Remove every registered temporary file still present (on a signal, or an error)."""
    for tmp in list(_TEMPORARIES):
        discard_output(tmp)


def write_array(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    protect: Iterable[str | os.PathLike] = (),
) -> None:
    """Write ``array`` to ``.npy`` (np.save) or ``.csv``/``.tsv`` (repr precision, no header).

    The file is written to a temporary file in the target's directory, fsynced and renamed over
    the target, so the target is never left half-written. Paths in ``protect`` (the inputs)
    are never overwritten, however they are spelled (symlink, hard link). A FIFO or a device
    is refused, never replaced.
    """
    array = np.asarray(array)
    ext, tmp, fd, err = open_output(path, array.ndim, protect)

    def write(f: BinaryIO) -> None:
        if ext == ".npy":
            np.save(f, array, allow_pickle=False)
        else:
            _write_text(f, array, "," if ext == ".csv" else "\t")

    _fill_and_commit(path, tmp, fd, err, write)


def _fill_and_commit(
    path: str | os.PathLike, tmp: str, fd: int, err: _Err, write: Callable[[BinaryIO], None]
) -> None:
    """Write the temporary file through ``write`` and rename it over ``path``; on any failure
    remove it, so nothing is left half-written."""
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            _flush(f, tmp)
        commit_output(tmp, path, err)
    except BaseException as e:  # including KeyboardInterrupt: never leave the temp file behind
        discard_output(tmp)
        if isinstance(e, OSError):
            raise err(f"cannot write file ({e.strerror or e})") from e
        raise


def _flush(f: BinaryIO, tmp: str) -> None:
    """Flush and fsync ``f``, and make sure every byte written reached the file: a size limit
    (``ulimit -f``) or a full disk is an error, never a silently shorter file."""
    f.flush()
    if tmp in _DIRECT:
        return  # a FIFO or a device: nothing to sync, no size to compare
    os.fsync(f.fileno())
    if os.fstat(f.fileno()).st_size != f.tell():
        raise OSError(errno.EIO, "short write: the file is smaller than what was written")


def open_output(
    path: str | os.PathLike, ndim: int, protect: Iterable[str | os.PathLike] = ()
) -> tuple[str, str, int, _Err]:
    """Check an output path and create its temporary file beside it.

    Returns ``(extension, temporary path, its open descriptor, error maker)``; finish with
    :func:`commit_output` or :func:`discard_output`. A FIFO or a character device is refused:
    an array file may be finished by seeking back to its header, and is renamed into place.
    """
    display = os.fsdecode(os.fspath(path))
    ext = os.path.splitext(display)[1].lower()
    if ext not in (".npy", ".csv", ".tsv"):
        raise UsageError(f"--grad-out must end in .npy, .csv or .tsv, got {display!r}")
    if ext != ".npy" and ndim > 2:
        raise UsageError(f"cannot write a {ndim}-D array as {ext[1:].upper()}; use .npy")
    check_output_path(path, protect=protect)
    kind = _special_kind(display)
    if kind is not None:
        raise InputError(
            f"is {kind}; --grad-out writes a regular file (beside it, then renamed over it), "
            "so choose a file name",
            source=display,
        )
    return (ext, *_temporary_beside(path))


def check_outputs(
    outputs: dict[str, str | os.PathLike | None],
    *,
    protect: Iterable[str | os.PathLike] = (),
) -> None:
    """Check every output of a run — ``{option: path}``, e.g. ``{"--grad-out": g,
    "--output": o}`` — before any is written, so a run that cannot write one writes none.
    ``None`` and ``-`` (stdout) are skipped; two options naming one file are refused."""
    protect = list(protect)
    seen: list[tuple[str, str | os.PathLike]] = []
    for option, path in outputs.items():
        if path is None or os.fspath(path) == "-":
            continue
        check_output_path(path, protect=protect, option=option)
        for other_option, other in seen:
            if _same_file(path, other):
                raise UsageError(f"{other_option} and {option} name the same file; choose two")
        seen.append((option, path))


def check_output_path(
    path: str | os.PathLike,
    *,
    protect: Iterable[str | os.PathLike] = (),
    option: str = "--grad-out",
) -> None:
    """Raise unless ``path`` can be written: not an input (by path, symlink or hard link), in
    a directory that exists and takes a new file, not a directory, a block device or a socket,
    and a name the file system allows. ``option`` names the flag in messages."""
    display = os.fsdecode(os.fspath(path))
    for p in protect:
        if os.fspath(p) != "-" and _same_file(path, p):
            raise InputError(
                f"refusing to overwrite input file {os.fsdecode(os.fspath(p))}; "
                f"choose another {option} path"
            )
    parent = os.path.dirname(display) or "."
    if not os.path.isdir(parent):
        raise InputError(f"directory {parent} does not exist; create it first", source=display)
    if os.path.isdir(path):
        raise InputError("is a directory, expected a file", source=display)
    kind = _special_kind(display)
    if kind is not None:
        return  # written into directly: no temporary file, no name to check
    with contextlib.suppress(OSError):
        mode = os.stat(display).st_mode
        if stat.S_IFMT(mode) in _REFUSED:
            raise InputError(
                f"is {_REFUSED[stat.S_IFMT(mode)]}; choose a regular file for {option}",
                source=display,
            )
    name = os.fsencode(os.path.basename(display))
    limit = _name_max(parent)
    if len(name) > limit:
        raise InputError(
            f"file name is {len(name)} bytes, longer than the {limit} its file system allows; "
            f"choose a shorter {option} name",
            source=display,
        )
    tmp, fd, _ = _temporary_beside(path)  # the surest test that the directory takes a file
    os.close(fd)
    discard_output(tmp)


def write_text(
    path: str | os.PathLike,
    text: str,
    *,
    protect: Iterable[str | os.PathLike] = (),
    option: str = "--output",
) -> None:
    """Write ``text`` (UTF-8) to ``path`` with the guarantees of :func:`write_array`: atomic,
    never over an input; ``-`` is stdout."""
    data = text.encode()
    if os.fspath(path) == "-":
        out = sys.stdout.buffer
        out.write(data)
        out.flush()
        return
    check_output_path(path, protect=protect, option=option)
    display = os.fsdecode(os.fspath(path))
    opened = _open_direct(display) if _special_kind(display) else _temporary_beside(path)
    _fill_and_commit(path, *opened, lambda f: f.write(data))


def _special_kind(display: str) -> str | None:
    """ "a FIFO" or "a character device" when ``display`` is one (after symlinks), else None.
    ``/dev/stdout``, ``/dev/fd/1`` and the like count as devices whatever they point at: a
    shell's redirect to a file is written into, not replaced."""
    try:
        mode = os.stat(display).st_mode
    except OSError:
        return None
    if os.path.abspath(display).startswith(("/dev/", "/proc/self/fd/")) and stat.S_ISREG(mode):
        return "a descriptor of this process"
    return _SPECIAL.get(stat.S_IFMT(mode))


def _open_direct(display: str) -> tuple[str, int, _Err]:
    """A FIFO or character device opened for writing, in the shape of _temporary_beside's
    answer; commit_output and discard_output leave it in place."""

    def err(message: str) -> InputError:
        return InputError(message, source=display)

    try:
        number = _descriptor_number(display)
        if number is not None:  # the process's own stdout: its offset, its O_APPEND
            fd = os.dup(number)
        else:
            fd = os.open(display, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise err(f"cannot open for writing ({e.strerror or e})") from None
    _DIRECT.add(display)
    return display, fd, err


def _descriptor_number(display: str) -> int | None:
    """1 for ``/dev/stdout``, ``/dev/fd/1`` or ``/proc/self/fd/1`` (and so on), else None."""
    path = os.path.abspath(display)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if path in named:
        return named[path]
    for folder in ("/dev/fd/", "/proc/self/fd/"):
        if path.startswith(folder) and path[len(folder) :].isdigit():
            return int(path[len(folder) :])
    return None


def _name_max(parent: str) -> int:
    try:
        return os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the file system will not say
        return 255


def _temporary_beside(path: str | os.PathLike) -> tuple[str, int, _Err]:
    """A temporary file in the target's directory: ``(its path, open descriptor, error maker)``,
    registered for :func:`remove_temporaries`."""
    display = os.fsdecode(os.fspath(path))

    def err(message: str) -> InputError:
        return InputError(message, source=display)

    parent = os.path.dirname(display) or "."
    for _ in range(100):
        # Registered before it exists: a signal at any moment (the Python handler runs between
        # any two bytecodes, whichever thread the OS delivered it to) leaves nothing behind.
        tmp = os.path.join(parent, f"{_TEMP_PREFIX}{os.urandom(4).hex()}{_TEMP_SUFFIX}")
        register_temporary(tmp)
        try:
            fd = os.open(
                tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
            )
        except FileExistsError:  # another run's temporary file: not ours to remove
            _TEMPORARIES.discard(tmp)
            continue
        except OSError as e:
            _TEMPORARIES.discard(tmp)
            raise err(f"cannot create a file in directory {parent} ({e.strerror or e})") from None
        return tmp, fd, err
    raise err(f"cannot create a file in directory {parent} (no free temporary name)")


def commit_output(tmp: str, path: str | os.PathLike, err: _Err) -> None:
    """fsync the finished temporary file, give it the usual permissions, rename it over path.
    For a special file written into directly (see :func:`write_text`), there is nothing to do.
    """
    if tmp in _DIRECT:
        _DIRECT.discard(tmp)
        return
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    os.replace(tmp, path)
    _TEMPORARIES.discard(tmp)
    parent = os.path.dirname(os.fsdecode(os.fspath(path))) or "."
    with contextlib.suppress(OSError):  # make the rename itself durable, where the OS allows
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def discard_output(tmp: str) -> None:
    """Remove a temporary file (never a special file that write_text writes into)."""
    if tmp in _DIRECT:
        _DIRECT.discard(tmp)
        return
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    _TEMPORARIES.discard(tmp)


def _write_text(f: BinaryIO, array: np.ndarray, sep: str) -> None:
    array = np.asarray(array, dtype=np.float64)
    rows = array.reshape(-1, 1) if array.ndim < 2 else array
    for start in range(0, len(rows), 4096):  # chunks: bounded memory for big arrays
        chunk = rows[start : start + 4096].tolist()
        # repr of a Python float is format_float: shortest text that round-trips.
        f.write("".join(sep.join(map(repr, row)) + "\n" for row in chunk).encode())


def _same_file(a, b) -> bool:
    with contextlib.suppress(OSError):
        if os.path.samefile(a, b):  # catches hard links and symlinks
            return True
    # Also catch spellings of a path that does not exist yet.
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- for the sources
# The readers' building blocks, public for losscli.sources and losscli.frame (which read the
# same files block by block or column by column), so no module imports another's private names.

NUMBER = _NUMBER
input_error = _error
open_input = _open
read_stdin = _read_stdin
csv_rows = _rows
clean_cell = _clean
scan_csv = _scan
raise_nonfinite = _raise_nonfinite
read_npy = _read_npy
plural = _plural
write_text_rows = _write_text
