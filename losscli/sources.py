"""Sources: where the rows come from. A source yields blocks of rows and knows nothing of
losses.

:func:`open_inputs` is what the engine calls. It returns an :class:`Inputs` whose
:meth:`~Inputs.blocks` yields :class:`Block` values (predictions, targets, sample weights, ids,
and the row number of the block's first row), in file order.

Reading
    NPY through a read-only memory map: rows are taken a block at a time (float32 and integer
    types cast to float64 a block at a time) and the pages behind are released with
    ``madvise(MADV_DONTNEED)``, so resident memory stays near ``2 × RELEASE_BYTES`` per file.
    CSV/TSV (plain or .gz/.bz2/.xz/.zst) through pyarrow's streaming CSV reader (plain files,
    when pyarrow is installed) or pandas' C parser, a block of rows at a time, each file in a
    thread of its own; a block either reader rejects makes the pass start again with
    losscli's own scanner (:class:`Restart`), which reads the file exactly as the whole-file
    reader does or reports the same one-line error.
    Parquet (one file holding the columns, or shards) through pyarrow's batch reader, only
    the chosen columns, each read from the file a buffer at a time — not a row group at a
    time, so memory does not grow with the row-group size (:func:`_parquet_reader`); a
    Parquet file of a two-file run (:class:`ParquetSource`) all its columns, the same way.
    Everything else — one file holding several columns (``--pred-col``) below
    ``TABLE_STREAM_BYTES``, and inputs smaller than ``STREAM_BYTES`` — is read whole by
    :func:`losscli.select.read_inputs`, and its blocks are views of those arrays.
    stdin (``-``) is first copied to a private temporary file (:func:`losscli.io.spool_stdin`,
    named ``<stdin>`` in messages, removed by :meth:`Inputs.close`), then read as that file.
    ``--against FILE`` beside streamed inputs, and ``--sample-weights FILE`` beside one
    streamed table, are an :class:`AlignedFile` (NPY, CSV/TSV, Parquet).

Settings (environment)
    ``LOSSCLI_STREAM_BYTES`` (default 64 MiB): two-file inputs at least this big are streamed.
    ``LOSSCLI_CHUNK_ELEMENTS`` (default 1 Mi): values per block. Both take ``1e6``, ``64M``,
    ``64MiB``, ``4096``.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import queue
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import io as lio
from . import layout as layout_rules
from .errors import InputError, UsageError
from .parallel import map_row_blocks

__all__ = [
    "Block",
    "Inputs",
    "Restart",
    "open_inputs",
    "decide_layouts",
    "parse_size",
    "STREAM_BYTES",
    "CHUNK_ELEMENTS",
]

_SIZE = re.compile(
    r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?:([kKmMgGtT])(?:i?[bB]|i)?|[bB])?\s*"
)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(variable: str, default: int) -> int:
    """The environment ``variable`` as a whole number (``4096``, ``1e6``, ``64M``, ``64MiB``;
    K/M/G/T are powers of 1024), ``default`` when unset; a UsageError naming it otherwise."""
    text = os.environ.get(variable)
    if text is None:
        return default
    m = _SIZE.fullmatch(text)
    if m is not None:
        number = float(m[1]) * _UNITS[(m[2] or "").lower()]
        if math.isfinite(number) and number == int(number):
            return int(number)
    raise UsageError(
        f"{variable}={text!r} is not a size; give a whole number such as 4096, 1e6, 64M or 64MiB"
    )


STREAM_BYTES = parse_size("LOSSCLI_STREAM_BYTES", 64 << 20)
CHUNK_ELEMENTS = max(1, parse_size("LOSSCLI_CHUNK_ELEMENTS", 1 << 20))
# Inputs read whole are one block unless this says how many values a block holds.
MEMORY_BLOCK_ELEMENTS = parse_size("LOSSCLI_MEMORY_BLOCK_ELEMENTS", 0)
# One file holding the columns (--pred-col …) streams from this size: its fast readers hand
# anything unusual to the exact reader, so only speed and memory change.
TABLE_STREAM_BYTES = parse_size("LOSSCLI_TABLE_STREAM_BYTES", min(STREAM_BYTES, 1 << 20))
RELEASE_BYTES = 32 << 20
# A text row longer than this is refused before any parser sees it (a 50 MB CSV on one line
# would cost gigabytes in any row-oriented parser).
MAX_ROW_BYTES = 16 << 20
USE_PYARROW = True  # plain CSV/TSV through pyarrow when it is installed (else pandas)


@dataclass(frozen=True, eq=False)
class Block:
    """Rows ``start … start + len(predictions)`` of a run's inputs, as arrays.

    ``predictions`` and ``targets`` are what the loss takes (a vector or a matrix each);
    ``weights`` one sample weight per row or None; ``ids`` one label per row or None.
    Picklable, so a block can be sent to another process (Dask, Spark, Ray).
    """

    predictions: Any
    targets: Any
    weights: Any = None
    ids: Any = None
    start: int = 0
    origin: str | None = None  # the shard the rows come from (None: the one input)
    origin_start: int = 0  # the first row's number within that shard
    # loss options read from columns (--var-col), one value per row: {"var": array}
    row_options: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    def take(self, keep: Any) -> Block:
        """The block's rows where ``keep`` (a boolean mask) holds; ``start`` unchanged."""
        ids = None if self.ids is None else [i for i, k in zip(self.ids, keep, strict=True) if k]
        return replace(
            self,
            predictions=self.predictions[keep],
            targets=self.targets[keep],
            weights=None if self.weights is None else self.weights[keep],
            ids=ids,
            row_options=_rows_of(self.row_options, keep),
        )


def decide_layouts(
    paths: dict[str, str], reading: layout_rules.Options | None = None
) -> dict[str, layout_rules.Layout]:
    """The one decision of the text files' layouts (:func:`losscli.layout.decide`: delimiter,
    header, index column, the targets' column order), made once per run from their first
    lines; every reader of the files follows it, on every pass."""
    roles = [r for r, path in paths.items() if not (_is_npy(path) or _is_parquet(path))]
    heads = [CsvSource.head(paths[r], r) for r in roles]
    decided = layout_rules.decide(heads, reading or layout_rules.Options())
    return dict(zip(roles, decided, strict=True))


def _is_npy(path: str) -> bool:
    ext, compression = lio.split_extension(path)
    return ext == ".npy" and not compression


def _is_parquet(path: str) -> bool:
    ext, compression = lio.split_extension(path)
    return ext in PARQUET and not compression


def rows_per_block(width: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(width, 1))


class Restart(Exception):
    """A fast reader rejected a block: read again with losscli's own scanner."""


class NpySource:
    def __init__(self, path: str, role: str) -> None:
        self.path = path
        self.err = lio.input_error(role, path)
        with lio.open_input(path, self.err) as f:
            self.shape, self.dtype, self.fortran, self.offset = lio.npy_header(f, self.err)
            self.nbytes = os.fstat(f.fileno()).st_size
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.vector = len(self.shape) == 1
        self.rows = self.shape[0]
        # (N, d1, …, dk): blocks are slices along axis 0 in the file's own shape (the loss lays
        # them out as kernel rows, as it does in memory); ``width`` counts a row's elements
        self.tail = self.shape[1:]
        self.width = 1 if self.vector else math.prod(self.tail)
        self.done = 0
        # The consumer has each chunk checked only when it finds a problem (see _verify).
        self.deferred_check = False

    def chunks(self, rows_per_chunk: int) -> Iterator[np.ndarray]:
        self._rows_per_chunk = rows_per_chunk
        array = np.ndarray(
            self.shape,
            self.dtype,
            buffer=self._mm,
            offset=self.offset,
            order="F" if self.fortran else "C",
        )
        if array.ndim <= 2:
            array = array.reshape(self.rows, self.width)
        self._array = array
        with contextlib.suppress(AttributeError, OSError):
            self._mm.madvise(mmap.MADV_SEQUENTIAL)
        row_bytes = self.width * self.dtype.itemsize
        released = 0
        for start in range(0, self.rows, rows_per_chunk):
            block = np.asarray(array[start : start + rows_per_chunk], dtype=np.float64)
            if not self.deferred_check:
                self._check(block)
            self.done = self.offset + (start + len(block)) * row_bytes
            yield block
            if not self.fortran and self.done - released >= RELEASE_BYTES:
                released = self._release(released, self.done - row_bytes * len(block))
        del array
        self._array = None

    def verify(self, block: np.ndarray) -> None:
        """The check of a chunk (of the current pass) that was deferred to the consumer."""
        if self.deferred_check:
            self._check(block)

    def _check(self, block: np.ndarray) -> None:
        if not _all_finite(block):
            self._raise_nonfinite(self._array, self._rows_per_chunk)

    def _release(self, start: int, end: int) -> int:
        """Drop the mapped pages of ``[start, end)`` from this process (the page cache keeps
        them); returns the new released mark."""
        page = mmap.PAGESIZE
        lo, hi = start // page * page, end // page * page
        if hi > lo:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                self._mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        return hi

    def _raise_nonfinite(self, array: np.ndarray, rows_per_chunk: int) -> None:
        """Count NaN and infinite values over the whole file, as the in-memory reader does."""
        bad: dict[str, list] = {"NaN": [0, ""], "infinite": [0, ""]}
        for start in range(0, self.rows, rows_per_chunk):
            block = np.asarray(array[start : start + rows_per_chunk], dtype=np.float64)
            for kind, mask in (("NaN", np.isnan(block)), ("infinite", np.isinf(block))):
                count = int(mask.sum())
                if count and not bad[kind][0]:
                    at = [int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape)]
                    at[0] += start
                    index = tuple(at[:1]) if self.vector else tuple(at)
                    bad[kind][1] = lio.npy_position(index, len(self.shape))
                bad[kind][0] += count
        lio.raise_nonfinite(bad, self.err)

    def close(self) -> None:
        with contextlib.suppress(BufferError):  # a caller may still hold the last chunk
            self._mm.close()


def _all_finite(block: np.ndarray) -> bool:
    # One fast pass: a NaN or ±inf makes a dot product non-finite. A finite but huge value
    # can too (overflow), so only then look element by element. Blocks of 8192 elements: in
    # the CPU cache, and below OpenBLAS's threshold for threading a dot product (our threads
    # waiting on its threads is slow); blocks in threads of our own.
    flat = block.reshape(-1)
    step = 1 << 13

    def finite(part: slice) -> bool:
        for start in range(part.start, part.stop, step):
            x = flat[start : min(part.stop, start + step)]
            if not (math.isfinite(float(np.dot(x, x))) or np.isfinite(x).all()):
                return False
        return True

    return all(map_row_blocks(finite, flat.size, 1, align=step))


class CsvSource:
    deferred_check = False  # chunks are checked as they are parsed

    def __init__(
        self, path: str, role: str, lay: layout_rules.Layout, *, engine: str = "pandas"
    ) -> None:
        self.path, self.engine, self.layout = path, engine, lay
        self.err = lio.input_error(role, path)
        ext, self.compression = lio.split_extension(path)
        self.sep = lay.sep
        self.nbytes = os.stat(path).st_size
        self.header = lay.header
        self.fields = lay.width  # fields on each line of the file
        self.width = lay.width - int(lay.index)  # columns of each block (index dropped)
        self.vector = self.width == 1
        self.tail = () if self.vector else (self.width,)
        self.rows: int | None = None
        self.done = 0
        self._raw: Any = None
        self._out = 0  # rows handed out in this pass

    @staticmethod
    def head(path: str, role: str) -> layout_rules.Head:
        """The first lines of a CSV/TSV file (decompressed), for its layout to be decided."""
        err = lio.input_error(role, path)
        ext, compression = lio.split_extension(path)
        with lio.open_input(path, err) as f:
            if compression:
                with lio.open_decompressed(f, compression, err) as data:
                    return layout_rules.read_head(data, lio.display_name(path), role, ext)
            return layout_rules.read_head(f, lio.display_name(path), role, ext)

    def _arranged(self, block: np.ndarray) -> np.ndarray:
        """A parsed block as the losses take it: index column checked and dropped, columns
        in the decided order."""
        block = self.layout.arrange(block, self._out)
        self._out += len(block)
        return block

    @contextlib.contextmanager
    def _text(self) -> Iterator[Any]:
        import io

        with lio.open_input(self.path, self.err) as f:
            self._raw = f
            if self.compression:
                with lio.open_decompressed(f, self.compression, self.err) as data:
                    yield io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
            else:
                yield io.TextIOWrapper(f, encoding="utf-8-sig", newline="")

    def chunks(self, rows_per_chunk: int) -> _Handoff:
        """Chunks parsed in a thread of their own, started now (so both files are parsed at
        once even though the first chunk of the predictions is waited for first)."""

        self._out = 0

        def produce(put: Callable[[Any], None]) -> None:
            if self.engine == "scan":
                self._scan_chunks(rows_per_chunk, put)
            elif (
                self.compression
                or self.sep == layout_rules.WHITESPACE  # pyarrow splits at one character only
                or not USE_PYARROW
                or not _importable("pyarrow")
            ):
                self._pandas_chunks(rows_per_chunk, put)
            else:
                self._arrow_chunks(rows_per_chunk, put)
            if self._out == 0 and self.engine != "scan":  # no rows: the scanner says why
                raise Restart  # ("file is empty", "has a header row but no data rows")

        return _Handoff(produce, name=f"losscli-read-{self.path}")

    def _pandas_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        import pandas as pd

        options = lio.pandas_options(self.sep, self.header)
        # pandas' float conversion skips leading blanks itself; skipping them in the tokenizer
        # too costs ~20% of the parse and only changes " \"1.5\"" (quoted after a blank),
        # which then fails and goes to the scanner, which reads it as the in-memory path does.
        options["skipinitialspace"] = False
        options["compression"] = self.compression
        with warnings.catch_warnings(), lio.open_input(self.path, self.err) as f:
            warnings.simplefilter("error", pd.errors.ParserWarning)
            self._raw = f  # its position is the progress
            try:
                reader = pd.read_csv(f, chunksize=rows_per_chunk * 4, **options)
                with reader:
                    for frame in reader:
                        block = np.array(frame.to_numpy(dtype=np.float64), order="C")
                        if block.shape[1] != self.fields or not np.isfinite(block).all():
                            raise Restart
                        self.done = self._position()
                        put(self._arranged(block))
            except (ValueError, pd.errors.ParserWarning, UnicodeDecodeError, EOFError, OSError):
                raise Restart from None

    def _arrow_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        """pyarrow's streaming CSV reader: multi-threaded, and a fraction of pandas' import
        time. Its numbers are pandas' (both parse with fast_float); whatever it reads
        differently (blank-only lines, nulls, a header of another width, …) fails or comes out
        non-finite or of the wrong width, and the pass restarts with the scanner."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        names = [f"c{i}" for i in range(self.fields)]
        read = pacsv.ReadOptions(
            skip_rows=int(self.header),
            column_names=names,
            use_threads=False,
            # about a chunk of rows per block (~24 bytes a value), within 64 KiB – 1 MiB
            # (pyarrow's default; it holds several blocks at once: 4 MiB ones cost ~180 MiB)
            block_size=min(max(rows_per_chunk * self.fields * 24, 1 << 16), 1 << 20),
        )
        parse = pacsv.ParseOptions(delimiter=self.sep)
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()))
        try:
            with pa.OSFile(self.path) as f:
                self._raw = f  # its position is the progress
                for batch in pacsv.open_csv(f, read, parse, convert):
                    block = np.empty((batch.num_rows, self.fields))
                    for i, column in enumerate(batch.columns):
                        if column.null_count:  # an empty cell, "NA", …
                            raise Restart
                        # the float64 values as they lie in memory (to_numpy imports pandas)
                        data, n = column.buffers()[1], len(column)
                        block[:, i] = np.frombuffer(data, np.float64, n, column.offset * 8)
                    if not np.isfinite(block).all():
                        raise Restart
                    self.done = self._position()
                    put(self._arranged(block))
        except (pa.ArrowException, ValueError, OSError):
            raise Restart from None

    def _scan_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        def emit(block: np.ndarray) -> None:
            self.done = self._position()
            put(block)

        with self._text() as text:
            try:
                lio.scan_csv(text, self.layout, self.err, emit=emit, chunk_rows=rows_per_chunk)
            except UnicodeDecodeError:
                raise self.err("file is not UTF-8 text; save it as UTF-8") from None

    def verify(self, block: np.ndarray) -> None:
        """Nothing to do: chunks are checked as they are parsed."""

    def _position(self) -> int:
        with contextlib.suppress(Exception):
            return self._raw.tell() if self._raw is not None else self.done
        return self.done

    def close(self) -> None:
        pass


class ParquetSource:
    """A Parquet file of numeric columns (the predictions, targets or sample weights of a
    two-file run) read a batch of rows at a time through pyarrow's batch reader, each column
    a buffer at a time (:func:`_parquet_reader`, as a one-file table is read), in a thread of
    its own; its rows (the footer's) are known up front. Whatever the whole-file reader
    (:func:`losscli.tables.read_parquet_array`) refuses is refused with its message: a column
    that is not numeric from the schema, on opening; a null, NaN or ±inf found in a block has
    the file scanned a column at a time to count them as that reader does."""

    deferred_check = False  # blocks are checked as they are read

    def __init__(self, path: str, role: str) -> None:
        from .tables import check_parquet_columns, open_parquet

        self.path, self.role = path, role
        self.display = lio.display_name(path)
        self.err = lio.input_error(role, path)
        self.nbytes = os.stat(path).st_size
        self.done = 0
        self._pf = open_parquet(path, self.display, role)
        schema = self._pf.schema_arrow
        try:
            check_parquet_columns(schema, self.display, role)
        except InputError:
            self.close()
            raise
        self.names = [str(n) for n in schema.names]
        self.rows = self._pf.metadata.num_rows
        self.width = len(self.names)
        self.vector = self.width == 1
        self.tail = () if self.vector else (self.width,)

    def chunks(self, rows_per_chunk: int) -> _Handoff:
        def produce(put: Callable[[Any], None]) -> None:
            read = 0
            for batch in self._batches(rows_per_chunk, self.names):
                if any(column.null_count for column in batch.columns):
                    raise self._problem()
                columns = [_parquet_floats(column) for column in batch.columns]
                # one column: its values as they lie in pyarrow's buffer, not a copy
                block = columns[0][:, None] if self.width == 1 else np.column_stack(columns)
                if not np.isfinite(block).all():
                    raise self._problem()
                read += len(block)
                self.done = self.nbytes * read // self.rows
                put(block)

        return _Handoff(produce, name=f"losscli-read-{self.path}")

    def _batches(self, rows: int, columns: list[str]) -> Iterator[Any]:
        """The file's record batches of ``columns``; a file pyarrow fails to read is the
        whole-file reader's "not a valid Parquet file (…)"."""
        import pyarrow as pa

        from .tables import invalid_parquet

        reader = _parquet_reader(self.path, self._pf.metadata, len(columns))
        try:
            yield from reader.iter_batches(batch_size=rows, columns=columns, use_threads=False)
        except (pa.ArrowException, OSError) as e:
            raise self.err(invalid_parquet(e)) from None
        finally:
            with contextlib.suppress(Exception):
                reader.close()

    def _problem(self) -> InputError:
        """The whole-file reader's error for the first column holding a null, NaN or ±inf,
        counted over the file as it counts them (nulls first, then NaN, then ±inf), reading
        one column a batch at a time."""
        from .tables import counted_nonfinite_problem, missing_problem, parquet_column_error

        for j, name in enumerate(self.names):
            nulls, first_null, found, start = 0, 0, {}, 0
            for batch in self._batches(1 << 16, [name]):
                column = batch.column(0)
                if column.null_count:
                    if not nulls:
                        mask = column.is_null().to_numpy(zero_copy_only=False)
                        first_null = start + int(np.argmax(mask))
                    nulls += column.null_count
                elif not nulls:
                    values = _parquet_floats(column)
                    for kind, mask in (("NaN", np.isnan(values)), ("infinite", np.isinf(values))):
                        if mask.any():
                            count, where = found.get(kind, (0, f"row {start + np.argmax(mask)}"))
                            found[kind] = (count + int(mask.sum()), where)
                start += batch.num_rows
            problem = missing_problem(nulls, first_null) if nulls else ""
            problem = problem or counted_nonfinite_problem(found)
            if problem:
                return parquet_column_error(self.display, self.role, self.names, j, problem)
        raise AssertionError("a block held a null or a non-finite value the scan did not find")

    def verify(self, block: np.ndarray) -> None:
        """Nothing to do: blocks are checked as they are read."""

    def close(self) -> None:
        pf, self._pf = getattr(self, "_pf", None), None
        if pf is not None:
            with contextlib.suppress(Exception):
                pf.close()


def _parquet_floats(column: Any) -> np.ndarray:
    """A numeric pyarrow array without nulls as float64: integers rounded to the nearest
    float64 as numpy's astype (and the whole-file reader) round them, decimals converted as
    that reader converts them."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_decimal(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return _float_values(column.cast(pa.float64(), safe=False))


class _Stopped(Exception):
    pass


class _Handoff:
    """An iterator over what ``produce(put)`` puts, run in a thread of its own and handed
    over through a short queue; an exception there is raised here. ``close`` stops it."""

    def __init__(self, produce: Callable[[Callable[[Any], None]], None], name: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=3)
        self._stop = threading.Event()
        self._done = False
        self._worker = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._worker.start()

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self, produce: Callable[[Callable[[Any], None]], None]) -> None:
        try:
            produce(self._put)
            self._put(None)
        except _Stopped:
            pass
        except BaseException as e:  # handed to the consumer, raised there
            with contextlib.suppress(_Stopped):
                self._put(e)

    def __iter__(self) -> _Handoff:
        return self

    def __next__(self) -> np.ndarray:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is None or isinstance(item, BaseException):
            self.close()
            if item is None:
                raise StopIteration
            raise item
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._worker.join()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _open_source(
    path: str, role: str, engine: str, layouts: dict
) -> NpySource | CsvSource | ParquetSource:
    if _is_npy(path):
        return NpySource(path, role)
    if _is_parquet(path):
        return ParquetSource(path, role)
    return CsvSource(path, role, layouts[role], engine=engine)


def _aligned(sources: list, rows: int, counts: list[int]) -> Iterator[list[np.ndarray]]:
    """Lists of blocks with the same rows, one per source. ``counts`` ends as the rows read
    from each file; when one file has more rows the others are read to their ends."""
    its = [s.chunks(rows) for s in sources]
    try:
        yield from _lockstep(its, counts)
    finally:
        for it in its:
            it.close()  # stops a reader thread now rather than when collected


def _lockstep(its: list, counts: list[int]) -> Iterator[list[np.ndarray]]:
    pending: list[np.ndarray | None] = [None] * len(its)
    while True:
        for i, it in enumerate(its):
            if pending[i] is None or len(pending[i]) == 0:
                pending[i] = next(it, None)
                if pending[i] is not None:
                    counts[i] += len(pending[i])
        if any(p is None for p in pending):
            for i, it in enumerate(its):  # count the rest of the longer files
                if pending[i] is not None:
                    for block in it:
                        counts[i] += len(block)
            return
        k = min(len(p) for p in pending)
        yield [p[:k] for p in pending]
        pending = [p[k:] for p in pending]


# --------------------------------------------------------------------------- the run's inputs

_ROLES = ("predictions", "targets", "sample weights")


class Inputs:
    """A run's inputs: :meth:`blocks` yields :class:`Block` values in row order.

    ``in_memory``: the inputs were read whole (``whole()`` gives them as one block, and
    ``ids``/``columns`` say what was read); otherwise they are streamed and blocks come from
    the files as they are read (``counts`` then holds the rows read from each file, after a
    pass). ``paths`` maps each role to its file.
    """

    in_memory = False
    ids: list[str] | None = None
    columns: dict[str, Any] | None = None

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self.spools: list[str] = []  # stdin's copy (lio.spool_stdin), removed by close

    def blocks(self, rows: int | None = None) -> Iterator[Block]:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return 0

    @property
    def done(self) -> int:
        return 0

    def close(self) -> None:
        """Release the files (memory maps) and remove stdin's copy; the blocks' threads are
        stopped by then."""
        for spool in self.spools:
            lio.discard_spool(spool)
        self.spools = []


class MemoryInputs(Inputs):
    """Inputs held as arrays; blocks are views of them."""

    in_memory = True

    def __init__(
        self,
        predictions,
        targets,
        weights=None,
        ids=None,
        columns=None,
        paths=None,
        row_options=None,
    ):
        super().__init__(paths or {})
        self.predictions, self.targets, self.weights = predictions, targets, weights
        self.ids, self.columns, self.row_options = ids, columns, row_options

    def whole(self) -> Block:
        return Block(
            self.predictions, self.targets, self.weights, self.ids, 0,
            row_options=self.row_options,
        )  # fmt: skip

    def blocks(self, rows: int | None = None) -> Iterator[Block]:
        n = len(self.predictions)
        if rows is None or rows >= n:
            yield self.whole()
            return
        for start in range(0, n, rows):
            part = slice(start, start + rows)
            yield Block(
                self.predictions[part],
                self.targets[part],
                None if self.weights is None else self.weights[part],
                None if self.ids is None else self.ids[part],
                start,
                row_options=_rows_of(self.row_options, part),
            )


def _rows_of(row_options: dict[str, Any] | None, part: Any) -> dict[str, Any] | None:
    """The per-row option columns of some rows."""
    return None if row_options is None else {k: v[part] for k, v in row_options.items()}


class StreamedInputs(Inputs):
    """Two (or three, with sample weights) files read block by block, in lockstep."""

    def __init__(self, paths: dict[str, str], reading: layout_rules.Options | None = None) -> None:
        super().__init__(paths)
        self.engine = "pandas"
        self.sources: list[Any] = []
        self.counts: list[int] = []
        self.layouts = decide_layouts(paths, reading)  # once: a restart reads them the same way
        self._open()

    def _open(self) -> None:
        self._close_sources()
        self.sources = [
            _open_source(path, role, self.engine, self.layouts) for role, path in self.paths.items()
        ]

    def restart(self) -> None:
        """After :class:`Restart`: open the files again, read by losscli's own scanner."""
        self.engine = "scan"
        self._open()

    @property
    def known_rows(self) -> list[int | None]:
        return [s.rows for s in self.sources]

    def shapes(self, counts: list[int]) -> list[tuple[int, ...]]:
        """Each file's full shape, given its rows."""
        return [
            (n,) if s.vector else (n, *s.tail) for s, n in zip(self.sources, counts, strict=False)
        ]

    @property
    def ndim(self) -> int:
        """The predictions' dimensions (more than 2: laid out by the loss, see RowLayout)."""
        return 1 if self.sources[0].vector else 1 + len(self.sources[0].tail)

    @property
    def vector(self) -> bool:
        return self.sources[0].vector

    @property
    def width(self) -> int:
        return max(s.width for s in self.sources[:2])

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.sources)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.sources)

    def set_deferred_check(self, deferred: bool) -> None:
        """Leave the NaN/inf check of each NPY block to the consumer (see :meth:`verify`)."""
        for s in self.sources:
            s.deferred_check = deferred

    def verify(self, block: Block) -> None:
        """The readers' error for NaN or inf in this block, predictions first, when the
        readers left that check to the consumer."""
        arrays = [block.predictions, block.targets, block.weights]
        for src, a in zip(self.sources, arrays, strict=False):
            src.verify(a if a.ndim == 2 else a.reshape(-1, 1))

    def blocks(self, rows: int | None = None) -> Iterator[Block]:
        rows = rows or rows_per_block(self.width)
        self.counts = [0] * len(self.sources)
        start = 0
        for parts in _aligned(self.sources, rows, self.counts):
            arrays = [a[:, 0] if s.vector else a for s, a in zip(self.sources, parts, strict=True)]
            weights = arrays[2] if len(arrays) > 2 else None
            yield Block(arrays[0], arrays[1], weights, None, start)
            start += len(arrays[0])

    def drain(self) -> list[int]:
        """Count the rows of every file to its end (after an error in the first block)."""
        return [sum(len(b) for b in s.chunks(rows_per_block(s.width))) for s in self.sources]

    def _close_sources(self) -> None:
        for s in self.sources:
            s.close()

    def close(self) -> None:
        self._close_sources()
        super().close()


class AlignedFile:
    """A file of one value per prediction (``--against``: the user's gradient) or per row
    (``--sample-weights`` beside one table) read beside the predictions' blocks: NPY through
    the memory map, CSV/TSV through the streaming readers, as the inputs are, Parquet by
    batches (:class:`ParquetSource`). :meth:`rows` gives the next rows of the current pass."""

    def __init__(self, path: str, role: str, reading: layout_rules.Options | None = None):
        self.path, self.role = path, role
        text = not (_is_npy(path) or _is_parquet(path))
        self.layouts = decide_layouts({role: path}, reading) if text else {}
        self.engine = "pandas"
        self.source: Any = None
        self._it: Any = None
        # an NPY of 0 dimensions is no block of rows (source None): its shape, for the
        # caller's message (it cannot match predictions that stream); one of more than 2 is
        # read along axis 0, beside K-dim inputs
        self.npy_shape: tuple[int, ...] | None = None
        if _is_npy(path):
            self.npy_shape = _npy_header_shape(path, role)
            if not self.npy_shape:
                return  # self.source stays None
        self._open()

    def _open(self) -> None:
        self.close()
        self.source = _open_source(self.path, self.role, self.engine, self.layouts)

    def restart(self) -> None:
        """After :class:`Restart`: read again with losscli's own scanner."""
        self.engine = "scan"
        self._open()

    @property
    def known_rows(self) -> int | None:
        return self.npy_shape[0] if self.npy_shape is not None else self.source.rows

    @property
    def nbytes(self) -> int:
        return self.source.nbytes

    @property
    def done(self) -> int:
        return self.source.done

    def shape(self, rows: int) -> tuple[int, ...]:
        if self.npy_shape is not None:
            return (rows, *self.npy_shape[1:])
        return (rows,) if self.source.vector else (rows, self.source.width)

    def begin(self) -> None:
        """Start a pass from the first row."""
        self.end()
        self._it = iter(self.source.chunks(rows_per_block(self.source.width)))
        self._pending: np.ndarray | None = None
        self.read = 0

    def rows(self, n: int) -> np.ndarray:
        """The next ``n`` rows as a (rows, width) array; fewer at the end of the file."""
        parts, have = [], 0
        while have < n:
            if self._pending is None or not len(self._pending):
                self._pending = next(self._it, None)
                if self._pending is None:
                    break
            part, self._pending = self._pending[: n - have], self._pending[n - have :]
            parts.append(part)
            have += len(part)
        self.read += have
        if not parts:
            tail = self.source.tail if len(self.source.tail) > 1 else (self.source.width,)
            return np.empty((0, *tail))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def count(self) -> int:
        """Rows of the file: those read so far and the rest, read to the end."""
        if self._pending is not None:
            self.read += len(self._pending)
            self._pending = None
        for block in self._it:
            self.read += len(block)
        return self.read

    def end(self) -> None:
        if self._it is not None and hasattr(self._it, "close"):
            self._it.close()  # stops a reader thread now
        self._it = None

    def close(self) -> None:
        self.end()
        if self.source is not None:
            self.source.close()


class RowOptionInputs:
    """Streamed inputs with loss options of one value per row, or per element, read from files
    beside the blocks (``--var FILE`` of gaussian-nll): each block carries its rows of them as
    ``row_options``, as a column of one table does (``--var-col``). Everything else is the
    wrapped inputs'. ``files``: option → (its flag, the path)."""

    def __init__(self, inputs: Any, files: dict[str, tuple[str, str]], reading=None) -> None:
        self.inputs = inputs
        self.flags = {name: flag for name, (flag, _) in files.items()}
        self.files = {name: AlignedFile(path, name, reading) for name, (_, path) in files.items()}
        self._restarting: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inputs, name)

    @property
    def nbytes(self) -> int:
        return self.inputs.nbytes + sum(f.nbytes for f in self.files.values())

    @property
    def done(self) -> int:
        return self.inputs.done + sum(f.done for f in self.files.values())

    def blocks(self, rows: int | None = None) -> Iterator[Block]:
        for f in self.files.values():
            f.begin()
        try:
            n = 0
            blocks = self.inputs.blocks(rows)
            for block in blocks:
                extra = {}
                for name, f in self.files.items():
                    try:
                        values = f.rows(len(block))
                    except Restart:
                        self._restarting.add(name)
                        raise
                    if len(values) < len(block):  # the file ends first: count the inputs' rows
                        n += len(block) + sum(len(b) for b in blocks)
                        raise self._mismatch(name, n)
                    extra[name] = values.reshape(-1)
                n += len(block)
                yield replace(block, row_options={**(block.row_options or {}), **extra})
            for name, f in self.files.items():
                if f.count() != n:
                    raise self._mismatch(name, n)
        finally:
            for f in self.files.values():
                f.end()

    def _mismatch(self, name: str, rows: int) -> InputError:
        """The in-memory run's words: one number, one per element (N·D) or one per row (N)."""
        f = self.files[name]
        width = 1 if self.inputs.vector else self.inputs.width
        got = f.read * (1 if f.source.vector else f.source.width)
        per_row = f" or one per row ({rows})" if not self.inputs.vector else ""
        return InputError(
            f"{self.flags[name]} takes one number, one per element ({rows * width}){per_row}, "
            f"got {got} values",
            role=name,
        )

    def restart(self) -> None:
        """After :class:`Restart`: the file whose fast reader gave up reads again with
        losscli's own scanner (else the wrapped inputs' do)."""
        if not self._restarting:
            self.inputs.restart()
        for name in self._restarting:
            self.files[name].restart()
        self._restarting.clear()

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.inputs.close()


def _is_regular_file(path: Any) -> bool:
    try:
        return isinstance(path, str | os.PathLike) and path != "-" and os.path.isfile(path)
    except (OSError, ValueError):
        return False


def streamable(path: Any) -> bool:
    """Whether a file can be read block by block (NPY, CSV/TSV, compressed text)."""
    return _streamable(path)


def aligns_by_rows(path: Any) -> bool:
    """Whether a file can be read beside streamed predictions as an :class:`AlignedFile`:
    streamable or Parquet, and an NPY of at least one dimension (more than 2: read along
    axis 0, beside K-dim inputs). A compressed NPY is read whole."""
    if _streams_parquet(path):
        return True
    if not _streamable(path):
        return False
    shape = npy_shape(path)
    return shape is None or len(shape) >= 1  # a broken header: the reader's error


def npy_shape(path: Any) -> tuple[int, ...] | None:
    """The shape an uncompressed NPY file's header gives, without reading its data; None for
    anything else (another format, stdin, a header the reader will reject with its error)."""
    if not _is_regular_file(path) or not _is_npy(os.fsdecode(path)):
        return None
    try:
        return _npy_header_shape(os.fsdecode(path), "predictions")
    except InputError:
        return None


def _npy_header_shape(path: str, role: str) -> tuple[int, ...]:
    """An NPY file's shape from its header (its data unread); the reader's error if bad."""
    err = lio.input_error(role, path)
    with lio.open_input(path, err) as f:
        return tuple(int(n) for n in lio.npy_header(f, err)[0])


def _streamable(path: Any) -> bool:
    if not _is_regular_file(path):
        return False
    ext, compression = lio.split_extension(os.fsdecode(path))
    # NPY, or text of any extension (.csv, .tsv, np.savetxt's .txt, …: losscli.layout decides
    # its delimiter); not Parquet, nor a compressed NPY
    return ext not in PARQUET and not (ext == ".npy" and compression)


def open_inputs(
    predictions: Any,
    targets: Any = None,
    *,
    pred_cols: Any = (),
    target_cols: Any = (),
    id_col: str | None = None,
    weight_col: str | None = None,
    sample_weights: Any = None,
    whole: bool = False,
    stdin: Any = None,
    reading: layout_rules.Options | None = None,
    option_cols: dict[str, tuple[str, str]] | None = None,
) -> Inputs:
    """The inputs of a run, streamed or read whole.

    Streamed: two (or three, with sample weights) regular CSV/TSV/NPY files holding at least
    ``STREAM_BYTES`` together; one CSV/TSV/Parquet file of that size holding the columns
    (``targets`` None); a folder or glob of shards, always. Read whole otherwise, or when
    ``whole``. ``predictions`` / ``targets`` / ``sample_weights`` are paths (``-`` is stdin)
    or arrays. With ``targets`` None, ``pred_cols`` / ``target_cols`` / ``id_col`` /
    ``weight_col`` say which columns are which (see :func:`losscli.select.choose_columns`).
    ``reading`` says how text is read (delimiter, header, index column; see
    :mod:`losscli.layout`). ``option_cols``: loss option → (flag, column) of the one file
    whose values are that option's, one per row (``{"var": ("--var-col", "v")}``); blocks
    carry them as ``row_options``.
    """
    given = {"predictions": predictions, "targets": targets, "sample weights": sample_weights}
    piped = [role for role, x in given.items() if isinstance(x, str) and x == "-"]
    if not piped:
        return _open_paths(
            predictions, targets, pred_cols, target_cols, id_col, weight_col, sample_weights,
            whole, stdin, reading, option_cols,
        )  # fmt: skip
    # stdin is copied to a file once (bounded memory), then read as any file on disk
    spool = lio.spool_stdin(stdin, role=piped[0])
    for role in piped:
        given[role] = spool
    try:
        inputs = _open_paths(
            given["predictions"], given["targets"], pred_cols, target_cols, id_col,
            weight_col, given["sample weights"], whole, stdin, reading, option_cols,
        )  # fmt: skip
    except BaseException:
        lio.discard_spool(spool)
        raise
    if inputs.in_memory:
        lio.discard_spool(spool)  # read: the copy is no longer needed
    else:
        inputs.spools.append(spool)  # removed by inputs.close()
    return inputs


def _open_paths(
    predictions, targets, pred_cols, target_cols, id_col, weight_col, sample_weights, whole,
    stdin, reading, option_cols,
) -> Inputs:  # fmt: skip
    for role, x in (
        ("predictions", predictions),
        ("targets", targets),
        ("sample weights", sample_weights),
    ):
        if _is_regular_file(x):
            _check_row_length(os.fsdecode(x), role)
    selection = {
        "pred_cols": tuple(pred_cols or ()),
        "target_cols": tuple(target_cols or ()),
        "id_col": id_col,
        "weight_col": weight_col,
        "options": reading,
        "option_cols": dict(option_cols or {}),
    }
    is_path = isinstance(predictions, str | os.PathLike)
    if is_path and targets is None and predictions != "-":
        display = os.fsdecode(predictions)
        shards = expand_shards(display)
        if shards is not None and sample_weights is not None:
            raise UsageError("with a folder of shards, give the weights as a column: --weight-col")
        table = (
            not whole
            and (pred_cols or target_cols)
            and _is_regular_file(display)
            and os.stat(display).st_size >= TABLE_STREAM_BYTES
            and (lio.split_extension(display)[0] in PARQUET or _is_table_text(display))
        )
        if sample_weights is not None:
            # a weights file beside one streamed table: read block-aligned beside its rows
            weights = None
            if table and weight_col is None and _is_regular_file(sample_weights):
                weights = _row_weights(os.fsdecode(sample_weights), reading)
            if weights is not None:
                return TableInputs([display], display, selection, weights=weights)
        elif shards is not None:
            if not (pred_cols or target_cols):
                raise UsageError(
                    "with one file, say which columns are which: --pred-col and/or --target-col"
                )
            if whole:
                raise UsageError("--against takes one file of predictions, not a folder of shards")
            return TableInputs(shards, display, selection)
        elif table:
            return TableInputs([display], display, selection)
    paths = {"predictions": predictions, "targets": targets}
    if sample_weights is not None:
        paths["sample weights"] = sample_weights
    files = all(isinstance(p, str | os.PathLike) for p in paths.values())
    simple = not (
        whole or pred_cols or target_cols or id_col or weight_col or option_cols or targets is None
    )
    if files and simple and all(_streamable(p) or _streams_parquet(p) for p in paths.values()):
        total = sum(_stream_size(os.fsdecode(p)) for p in paths.values())
        if total >= STREAM_BYTES:
            inputs = StreamedInputs({k: os.fsdecode(v) for k, v in paths.items()}, reading)
            if len(inputs.sources) < 3 or inputs.sources[2].width == 1 or inputs.ndim > 2:
                return inputs
            # not one weight per row of (N, D) inputs (N × 2, a line of values): read whole,
            # where the loss counts its values ("sample weights have 2N values but … N rows")
            inputs.close()
    return _read_whole(predictions, targets, selection, sample_weights, stdin)


def _row_weights(path: str, reading: layout_rules.Options | None) -> AlignedFile | None:
    """A sample weights file to read beside a table's rows, one value per row (NPY of one
    dimension or one column, CSV/TSV or Parquet of one column); None for anything else
    (a compressed NPY, a K-dim NPY, several columns or a line of values: read whole, where
    the loss words what is wrong with it)."""
    if not aligns_by_rows(path):
        return None
    weights = AlignedFile(path, "sample weights", reading)
    if weights.source is None or weights.source.width != 1:
        weights.close()
        return None
    return weights


def _streams_parquet(path: Any) -> bool:
    """A Parquet file of a two-file run streams (:class:`ParquetSource`) when pyarrow is
    installed; without it, it is read whole and the reader names the extra to install."""
    return _is_regular_file(path) and _is_parquet(os.fsdecode(path)) and _importable("pyarrow")


def _stream_size(path: str) -> int:
    """A file's bytes against ``STREAM_BYTES``; a Parquet file's as the float64 arrays its
    footer says it holds (compressed, its bytes on disk can be a small part of them)."""
    size = os.stat(path).st_size
    if _is_parquet(path):
        import pyarrow.parquet as pq

        with contextlib.suppress(Exception):  # a damaged footer: read whole, its error
            meta = pq.read_metadata(path)
            size = max(size, meta.num_rows * meta.num_columns * 8)
    return size


def _check_row_length(path: str, role: str) -> None:
    """Refuse a text file whose first line is longer than ``MAX_ROW_BYTES``."""
    ext, compression = lio.split_extension(path)
    if ext not in _TEXT or compression:
        return
    err = lio.input_error(role, path)
    with lio.open_input(path, err) as f:
        line = f.readline(MAX_ROW_BYTES + 1)
    if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
        raise err(
            f"line 1 is longer than {MAX_ROW_BYTES >> 20} MiB; losscli reads rows of at most "
            f"{MAX_ROW_BYTES >> 20} MiB — put one row of values per line (e.g. one value per "
            "line for a long vector), or save the array as NPY"
        )


def _read_whole(predictions, targets, selection, sample_weights, stdin):
    from .select import read_inputs

    def is_path(x: Any) -> bool:
        return isinstance(x, str | os.PathLike)

    paths = {
        role: os.fsdecode(x)
        for role, x in (("predictions", predictions), ("targets", targets))
        if is_path(x)
    }
    w = sample_weights
    if is_path(predictions) and (targets is None or is_path(targets)):
        data = read_inputs(predictions, targets, stdin=stdin, **selection)
        p, t, ids, columns = data.predictions, data.targets, data.ids, data.columns
        row_options = data.options
        if data.weights is not None:
            if w is not None:
                raise UsageError("give the sample weights once: --sample-weights or --weight-col")
            w = data.weights
    else:
        p, t, ids, columns, row_options = predictions, targets, None, None, None
    if is_path(w):
        paths["sample weights"] = os.fsdecode(w)
        w = lio.read_array(w, role="sample weights", stdin=stdin, options=selection["options"])
    return MemoryInputs(p, t, w, ids, columns, paths, row_options)


# --------------------------------------------------------------------------- tables, shards

PARQUET = (".parquet", ".pq")
_TEXT = (".csv", ".tsv", ".tab")


SHARD_EXTENSIONS = (*PARQUET, *_TEXT, ".npy")  # what a folder of shards is read for


def _is_table_text(path: str) -> bool:
    """A table read as text by the streaming table reader: CSV/TSV (plain or compressed), or
    text piped in (stdin's spool has no extension; losscli.layout decides its delimiter)."""
    ext, compression = lio.split_extension(path)
    return ext in _TEXT or (not ext and not compression and lio.is_stdin_spool(path))


def expand_shards(path: str) -> list[str] | None:
    """The shards a folder or a glob names, sorted (None for a plain file path)."""
    import glob

    if os.path.isdir(path):
        names = sorted(
            os.path.join(path, n)
            for n in os.listdir(path)
            if not n.startswith((".", "_")) and lio.split_extension(n)[0] in SHARD_EXTENSIONS
        )
        if not names:
            raise InputError("folder holds no CSV, TSV, NPY or Parquet files", source=path)
        return names
    if any(c in path for c in "*?[") and not os.path.exists(path):
        names = sorted(glob.glob(path))
        if not names:
            raise InputError("no file matches this pattern", source=path)
        return names
    return None


class _Header:
    """A table's names and width, enough for :func:`losscli.select.choose_columns`."""

    def __new__(cls, source: str, role: str, columns: list[str] | None, width: int) -> Any:
        from .frame import Frame

        return Frame(source, role, columns, width, 0)


# rows the exact reader holds at once as text (Python strings: ~300 bytes a row of 3 fields;
# 32 Ki rows held ~30 MiB more than the fast reader, 8 Ki rows no more and was faster)
EXACT_CHUNK_ROWS = 1 << 13


class _Fallback(Exception):
    """The fast reader met something unusual: the exact reader takes over."""


class _TableFile:
    """One file of a table (or one shard), read in blocks of the chosen columns."""

    def __init__(
        self, path: str, selection: dict[str, Any], reference: _TableFile | None = None
    ) -> None:
        self.path, self.selection, self.reference = path, selection, reference
        self.display = lio.display_name(path)
        self.err = lio.input_error("predictions", path)
        ext, compression = lio.split_extension(path)
        self.parquet = ext in PARQUET
        self.compression = compression
        self.nbytes = os.stat(path).st_size
        self.done = 0
        self.rows: int | None = None
        self.types: tuple[str, ...] = ()
        self.index: tuple[int, int] | None = None  # (column, first value) of a pandas index
        if self.parquet:
            self._open_parquet()
        elif not _is_table_text(path) or not _importable("pyarrow"):
            self._open_exact()
        else:
            self._open_text()

    # ----------------------------------------------------------------- opening

    def _choose(self, columns: list[str] | None, width: int, index: int | None = None) -> None:
        from .select import choose_columns

        first = self.reference
        if first is not None and first.kind != "exact" and first.columns != columns:
            self.columns, self.width_all, self.kind = columns, width, "names"
            raise _layout_error(first, self, "columns")
        frame = _Header(self.display, "predictions", columns, width)
        frame.index = index  # a pandas index: not among the columns a side takes by default
        s = self.selection
        self.columns, self.width_all = columns, width
        self.choice = choose_columns(
            frame, s["pred_cols"], s["target_cols"], s["id_col"], s["weight_col"],
            s.get("option_cols"),
        )  # fmt: skip
        label = frame.label
        self.labels = {
            "predictions": [label(j) for j in self.choice.predictions],
            "targets": [label(j) for j in self.choice.targets],
            "id": None if self.choice.id is None else label(self.choice.id),
        }

    def _open_exact(self) -> None:
        self.kind = "exact"
        self._data = self._read_exact()
        n = len(self._data.predictions)
        self.rows = n
        p = self._data.predictions
        self.width = 1 if p.ndim == 1 else p.shape[1]
        self.labels = self._data.columns
        self.columns = None
        self.types = ()

    def _read_exact(self) -> Any:
        from .select import read_inputs

        s = self.selection
        return read_inputs(
            self.path,
            pred_cols=s["pred_cols"],
            target_cols=s["target_cols"],
            id_col=s["id_col"],
            weight_col=s["weight_col"],
            options=s["options"],
            option_cols=s.get("option_cols"),
        )

    def _open_text(self) -> None:
        self.kind = "text"
        ext, _ = lio.split_extension(self.path)
        options = self.selection.get("options") or layout_rules.Options()
        try:
            with contextlib.ExitStack() as stack:  # through the decompressor, if any
                f, _ = self._open_stream(stack)
                head = layout_rules.read_head(f, self.display, "predictions", ext)
            lines = head.text.splitlines()
            if not any(line.strip() for line in lines):  # empty: the exact reader words it
                self._open_exact()
                return
            (lay,) = layout_rules.decide([head], options, match_columns=False)
        except InputError:  # not UTF-8, a refused first row, …: the exact reader words it
            self._open_exact()
            return
        # a header needs a row below it (else exact: small)
        if lay.header and len(lines) < 2:
            self._open_exact()
            return
        self.lay = lay  # what the exact reader, a chunk at a time, reads by (_chunked_blocks)
        self.sep, self.header = lay.sep, lay.header
        self.index = (0, lay.index_start) if lay.index else None
        self._choose(lay.file_names, lay.width, index=0 if lay.index else None)
        self.width = len(self.choice.predictions)
        self.types = ("text", str(lay.width))
        # pyarrow splits at one character, and skip_rows would count leading blank lines
        if lay.sep == layout_rules.WHITESPACE or not lines[0].strip():
            self.kind = "chunked"

    def _open_parquet(self) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            self._open_exact()  # the reader names the extra to install
            return
        self.kind = "parquet"
        try:
            # the footer (names, types, rows); the rows are read by _parquet_reader. pre_buffer
            # (pyarrow's default) keeps the column chunks it has read: 300 MiB on 10M rows
            self._pf = pq.ParquetFile(self.path, pre_buffer=False)
            schema = self._pf.schema_arrow
            names = [str(n) for n in schema.names]
        except Exception:
            # drop the half-read file now: destroyed at interpreter exit, after pyarrow's
            # threads, it could abort the process ("terminate called without an active
            # exception", exit 134) after the error was printed
            self._close_parquet()
            self._open_exact()  # the exact reader words the error
            return
        if not names or self._pf.metadata.num_rows == 0:
            self._open_exact()
            return
        self._choose(names, len(names))
        self.rows = self._pf.metadata.num_rows
        self.width = len(self.choice.predictions)
        self.types = tuple(str(schema.field(j).type) for j in range(len(names)))
        import pyarrow.types as pt

        for j in self._numeric_columns():
            kind = schema.field(j).type
            if not (pt.is_integer(kind) or pt.is_floating(kind) or pt.is_boolean(kind)):
                self._open_exact()  # "column "x" is not numeric (type string)"
                return

    def _close_parquet(self) -> None:
        pf, self._pf = getattr(self, "_pf", None), None
        if pf is not None:
            with contextlib.suppress(Exception):
                pf.close()

    def _numeric_columns(self) -> list[int]:
        c = self.choice
        weight = [c.weight] if c.weight is not None else []
        return [*c.predictions, *c.targets, *weight, *(j for _, j in c.options)]

    # ----------------------------------------------------------------- reading

    def blocks(self, rows: int) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        """``(predictions, targets, weights, ids, row options)`` blocks of about ``rows``
        rows."""
        yielded = 0
        if self.kind in ("parquet", "text"):
            try:
                reader = self._parquet_blocks if self.kind == "parquet" else self._text_blocks
                for part in reader(rows):
                    yielded += len(part[0])
                    yield part
                return
            except _Fallback:
                pass
        if self.kind in ("text", "chunked"):  # the exact reader, a chunk at a time
            yield from self._chunked_blocks(rows, yielded)
            return
        if self.kind != "exact":
            self._data = self._read_exact()  # raises the exact reader's error, if any
            self.kind = "exact"
        d = self._data
        n = len(d.predictions)
        for start in range(yielded, n, rows):
            part = slice(start, start + rows)
            self.done = self.nbytes * min(n, start + rows) // n
            yield (
                d.predictions[part],
                d.targets[part],
                None if d.weights is None else d.weights[part],
                None if d.ids is None else d.ids[part],
                _rows_of(d.options, part),
            )

    def _chunked_blocks(self, rows: int, skip: int) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        """The blocks after the first ``skip`` rows, read by the exact reader's rules a chunk
        of rows at a time (:func:`losscli.frame.text_frames`): what the fast reader rejects
        or cannot split (whitespace). An error is the whole-file reader's, found by scanning
        the file (:meth:`_whole_file_error`), never by holding it."""
        from .frame import text_frames
        from .select import one_file_inputs

        s, lay, rows = self.selection, self.lay, min(rows, EXACT_CHUNK_ROWS)
        chunks = text_frames(self._text, lay, self.display, "predictions", rows, skip)
        try:
            for start, frame in chunks:
                if lay.index:  # counting from its first value, as in the whole file
                    lay.arrange(frame.numeric([0]), start)
                d = one_file_inputs(
                    frame, s["pred_cols"], s["target_cols"], s["id_col"], s["weight_col"],
                    s.get("option_cols"),
                )  # fmt: skip
                yield d.predictions, d.targets, d.weights, d.ids, d.options
        except InputError as e:
            self._whole_file_error(rows)
            raise e from None

    def _whole_file_error(self, rows: int) -> None:
        """Raise the error the whole-file reader gives for this file, in its order — the text
        (UTF-8, quoting), then every row's width, the index column, then the columns as the
        run converts them (:func:`losscli.select.numeric_columns`) — by scanning the file a
        chunk at a time; return if it finds none."""
        from .frame import ScannedFrame, scan_rows, text_frames
        from .select import numeric_columns

        lay, display, rows = self.lay, self.display, min(rows, EXACT_CHUNK_ROWS)

        def chunks() -> Iterator[tuple[int, Any]]:
            return text_frames(self._text, lay, display, "predictions", rows)

        scan_rows(self._text, lay, display, "predictions")  # the text, then every row's width
        scanned = ScannedFrame(chunks, lay, display, "predictions")
        if lay.index:
            scanned.check_numeric([0])
            for start, frame in chunks():
                lay.arrange(frame.numeric([0]), start)
        for indices, role, hint in numeric_columns(self.choice):
            scanned.check_numeric(indices, role=role, hint=hint)

    @contextlib.contextmanager
    def _text(self) -> Iterator[Any]:
        """The file as text, as the whole-file reader decodes it (BOM dropped, newlines kept
        for the csv module), through the decompressor when compressed; ``done`` follows it."""
        import io

        with contextlib.ExitStack() as stack:
            f, raw = self._open_stream(stack)
            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            try:
                yield text
            finally:
                with contextlib.suppress(Exception):
                    self.done = raw.tell()
                text.detach()

    def _split(self, arrays: list[np.ndarray], ids: Any) -> tuple[Any, Any, Any, Any]:
        c = self.choice
        np_, nt = len(c.predictions), len(c.targets)
        p = arrays[0] if np_ == 1 else np.column_stack(arrays[:np_])
        t = arrays[np_] if nt == 1 else np.column_stack(arrays[np_ : np_ + nt])
        w = arrays[np_ + nt] if c.weight is not None else None
        after = np_ + nt + int(c.weight is not None)
        row_options = {name: arrays[after + k] for k, (name, _) in enumerate(c.options)} or None
        for a in (p, t, *([] if w is None else [w]), *(row_options or {}).values()):
            if not np.isfinite(a).all():
                raise _Fallback
        return p, t, w, ids, row_options

    def _text_blocks(self, rows: int) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        names = [f"c{j}" for j in range(self.width_all)]
        wanted = [names[j] for j in self._numeric_columns()]
        types = dict.fromkeys(wanted, pa.float64())
        if self.choice.id is not None:
            types[names[self.choice.id]] = pa.string()
        index = None  # a pandas index column, checked to count (unless picked as data)
        if self.index is not None and names[self.index[0]] not in types:
            index = names[self.index[0]]
            types[index] = pa.float64()
        read = pacsv.ReadOptions(
            skip_rows=int(self.header),
            column_names=names,
            # pyarrow reads ahead tens of blocks whatever use_threads says: 4 MiB blocks held
            # ~200 MiB on a 470 MB file, 1 MiB blocks ~50 MiB at the same speed
            block_size=min(max(rows * self.width_all * 24, 1 << 16), 1 << 20),
        )
        parse = pacsv.ParseOptions(delimiter=self.sep)
        convert = pacsv.ConvertOptions(
            column_types=types,
            include_columns=[*types],
        )
        counted = self.index[1] if self.index is not None else 0
        try:
            with contextlib.ExitStack() as stack:
                f, raw = self._open_stream(stack)
                for batch in pacsv.open_csv(f, read, parse, convert):
                    if index is not None:
                        column = batch.column(index)
                        expected = np.arange(counted, counted + len(column), dtype=np.float64)
                        if column.null_count or not np.array_equal(_float_values(column), expected):
                            raise _Fallback  # the exact reader names the row
                        counted += len(column)
                    arrays = []
                    for name in wanted:
                        column = batch.column(name)
                        if column.null_count:
                            raise _Fallback
                        arrays.append(_float_values(column))
                    ids = None
                    if self.choice.id is not None:
                        column = batch.column(names[self.choice.id])
                        if column.null_count:
                            raise _Fallback
                        ids = [s.strip() for s in column.to_pylist()]
                    with contextlib.suppress(Exception):
                        self.done = raw.tell()
                    yield self._split(arrays, ids)
        except (pa.ArrowException, ValueError, OSError, EOFError, UnicodeDecodeError, InputError):
            raise _Fallback from None

    def _open_stream(self, stack: contextlib.ExitStack) -> tuple[Any, Any]:
        """``(text bytes, the file on disk)``: the same object, or a decompressing stream
        over the file (``.csv.gz``, ``.tsv.bz2``, …) so compressed tables stream too."""
        raw = stack.enter_context(lio.open_input(self.path, self.err))
        if not self.compression:
            return raw, raw
        return stack.enter_context(lio.open_decompressed(raw, self.compression, self.err)), raw

    def _parquet_blocks(self, rows: int) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
        import pyarrow as pa

        names = self.columns or []
        wanted = [names[j] for j in self._numeric_columns()]
        id_name = None if self.choice.id is None else names[self.choice.id]
        read = [*dict.fromkeys([*wanted, *([id_name] if id_name else [])])]
        done = 0
        try:
            pf = self._reader(len(read))
        except (pa.ArrowException, OSError, ValueError):
            raise _Fallback from None
        try:
            for batch in pf.iter_batches(batch_size=rows, columns=read, use_threads=False):
                arrays = []
                for name in wanted:
                    column = batch.column(name)
                    if column.null_count:
                        raise _Fallback
                    # integers round to the nearest float64, as numpy's astype (and the
                    # exact reader) round them; to_numpy would import pandas (+45 MiB)
                    arrays.append(_float_values(column.cast(pa.float64(), safe=False)))
                ids = None
                if id_name is not None:
                    from .frame import number_label  # noqa: PLC0415

                    ids = [
                        "" if v is None else number_label(v) if isinstance(v, float) else str(v)
                        for v in batch.column(id_name).to_pylist()
                    ]
                done += batch.num_rows
                self.done = self.nbytes * done // max(self.rows or 1, 1)
                yield self._split(arrays, ids)
        except (pa.ArrowException, OSError, ValueError):
            raise _Fallback from None
        finally:
            with contextlib.suppress(Exception):
                pf.close()

    def _reader(self, columns: int) -> Any:
        return _parquet_reader(self.path, self._pf.metadata, columns)


def _parquet_reader(path: str, metadata: Any, columns: int) -> Any:
    """The Parquet file at ``path`` (``metadata``: its footer, read already) opened to read
    ``columns`` columns a batch at a time, in memory bounded by the block budget and the
    file's page size, not by its row-group size.

    Unbuffered, pyarrow reads each column's chunk of a row group whole (all its rows): 2 GiB
    for 1M × 101 columns in one row group. Buffered, a column is read ``buffer_size`` bytes
    at a time and what stays is its current page and its dictionary (≤ 1 MiB each as pyarrow
    writes them); the buffers together hold about a block (``CHUNK_ELEMENTS`` values), within
    64 KiB … 1 MiB per column (smaller was slower on 3 columns, larger held more on 101, no
    faster).
    """
    import pyarrow.parquet as pq

    per_column = CHUNK_ELEMENTS * 8 // max(columns, 1)
    buffer = min(max(per_column, 64 << 10), 1 << 20)
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=buffer, metadata=metadata)


def _float_values(column: Any) -> np.ndarray:
    """A float64 pyarrow array without nulls as numpy, zero-copy (``to_numpy`` would import
    pandas)."""
    return np.frombuffer(column.buffers()[1], np.float64, len(column), column.offset * 8)


class TableInputs(Inputs):
    """One file holding predictions and targets (and ids, weights) as columns — or a folder
    or glob of such shards, read in sorted order — streamed block by block; ``weights``: a
    file of one sample weight per row beside the one file, read block-aligned."""

    def __init__(
        self,
        paths: list[str],
        display: str,
        selection: dict[str, Any],
        weights: AlignedFile | None = None,
    ) -> None:
        super().__init__({"predictions": display, "targets": display})
        self.weights = weights
        if weights is not None:
            self.paths["sample weights"] = weights.path
        self.shard_paths, self.selection = paths, selection
        self.files = [_TableFile(paths[0], selection)]
        # Every shard whose layout is cheap to read (a Parquet footer, a text file's first two
        # rows) is checked against the first before any row is computed.
        self._opened: dict[int, _TableFile] = {}
        for k, path in enumerate(paths[1:], 1):
            if _cheap_layout(path):
                shard = _TableFile(path, selection, reference=self.files[0])
                same_layout(self.files[0], shard)
                self._opened[k] = shard
        self.counts: list[int] = []
        self.columns = self.files[0].labels

    @property
    def known_rows(self) -> list[int | None]:
        if len(self.shard_paths) > 1:
            return [None, None]
        rows: list[int | None] = [self.files[0].rows] * 2
        return rows if self.weights is None else [*rows, self.weights.known_rows]

    @property
    def width(self) -> int:
        return self.files[0].width

    @property
    def vector(self) -> bool:
        return self.files[0].width == 1

    @property
    def nbytes(self) -> int:
        weights = 0 if self.weights is None else self.weights.nbytes
        return sum(os.stat(p).st_size for p in self.shard_paths) + weights

    @property
    def done(self) -> int:
        return sum(f.done for f in self.files) + (0 if self.weights is None else self.weights.done)

    def restart(self) -> None:
        """After :class:`Restart` (the weights file's fast reader rejected a block): read
        it again with losscli's own scanner. The table's readers restart on their own."""
        if self.weights is not None:
            self.weights.restart()

    def shapes(self, counts: list[int]) -> list[tuple[int, ...]]:
        w = self.width
        return [(counts[0],) if self.vector else (counts[0], w)] * 2

    def set_deferred_check(self, deferred: bool) -> None:
        """Blocks are checked as they are read."""

    def verify(self, block: Block) -> None:
        """Blocks are checked as they are read."""

    def drain(self) -> list[int]:
        """Count the rows to the end (after an error in the first block, so the loss words
        it on stand-ins of the full shapes, not of the rows read so far)."""
        for _ in self.blocks():
            pass
        return self.counts[:2]

    def blocks(self, rows: int | None = None) -> Iterator[Block]:
        if self.weights is None:
            yield from self._blocks(rows)
            return
        # one weight per row, read beside the rows; when the file has fewer, the table's
        # rows are counted to its end and the pass ends (the engine words the mismatch from
        # ``counts``: "sample weights have M values but the predictions have N rows")
        weights = self.weights
        weights.begin()
        try:
            table = self._blocks(rows)
            for block in table:
                w = weights.rows(len(block))
                if len(w) < len(block):
                    rest = sum(len(b) for b in table)
                    n = block.start + len(block) + rest
                    self.counts = [n, n, weights.read]
                    return
                yield replace(block, weights=w[:, 0])
            self.counts = [*self.counts[:2], weights.count()]
        finally:
            weights.end()

    def _blocks(self, rows: int | None = None) -> Iterator[Block]:
        rows = rows or rows_per_block(self.width)
        start = 0
        first = self.files[0]
        self.files = [first]
        sharded = len(self.shard_paths) > 1
        self.counts = [0, 0]
        for k, path in enumerate(self.shard_paths):
            shard = first
            if k:
                shard = self._opened.pop(k, None) or _TableFile(
                    path, self.selection, reference=first
                )
                same_layout(first, shard)
                self.files.append(shard)
            begin = start
            for p, t, w, ids, row_options in shard.blocks(rows):
                origin = path if sharded else None
                yield Block(
                    p, t, w, ids, start, origin=origin, origin_start=start - begin,
                    row_options=row_options,
                )  # fmt: skip
                start += len(p)
                self.counts = [start, start]
        self.counts = [start, start]

    def close(self) -> None:
        if self.weights is not None:
            self.weights.close()
        super().close()

    def layout(self) -> ShardLayout:
        """The first file's columns and types, picklable (what a Dask task sends back)."""
        f = self.files[0]
        width = getattr(f, "width_all", f.width)
        return ShardLayout(f.path, f.labels, f.columns, f.types, width)


@dataclass(frozen=True)
class ShardLayout:
    """A shard's layout: the chosen columns (``labels``), all names, their types."""

    path: str
    labels: Any
    columns: list[str] | None
    types: tuple[str, ...]
    width: int


def same_layout(first: Any, shard: Any) -> None:
    """Raise the error naming both shards when their columns or column types differ
    (``first`` / ``shard``: :class:`ShardLayout` or an open file of a table)."""
    same_names = first.labels == shard.labels and (
        first.columns is None or shard.columns is None or first.columns == shard.columns
    )
    same_types = not (first.types and shard.types) or first.types == shard.types
    if not (same_names and same_types):
        raise _layout_error(first, shard, "columns" if not same_names else "column types")


def _cheap_layout(path: str) -> bool:
    ext, compression = lio.split_extension(path)
    return not compression and ext in (*PARQUET, *_TEXT)


def _layout_error(first: Any, shard: Any, what: str) -> InputError:
    return InputError(
        f"its {what} differ from those of {first.path}: {_describe_layout(shard, what)} vs "
        f"{_describe_layout(first, what)}; every shard must hold the same columns",
        source=shard.path,
        role="predictions",
    )


def _describe_layout(f: Any, what: str) -> str:
    names = f.columns or [str(j + 1) for j in range(getattr(f, "width_all", f.width))]
    if what == "column types" and len(f.types) == len(names):
        return "[" + ", ".join(f"{n}: {t}" for n, t in zip(names, f.types, strict=True)) + "]"
    return "[" + ", ".join(names) + "]"
