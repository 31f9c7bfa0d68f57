"""Losses over files larger than memory: read in chunks, reduce chunk by chunk, in bounded memory.

Used by the CLI for the two-file form (PREDS TARGETS) when the files together hold at least
``STREAM_MIN_BYTES``; smaller inputs take the in-memory path, with the same results.

Reading
    NPY through a read-only memory map: rows are taken a chunk at a time (float32 and the
    integer types are cast to float64 a chunk at a time, so sums are accumulated in float64)
    and the pages behind are released with ``madvise(MADV_DONTNEED)``, so resident memory stays
    near ``2 × RELEASE_BYTES`` per file whatever its size. CSV/TSV (plain or .gz/.bz2/.xz/.zst)
    through pandas' C parser a chunk of rows at a time, each file in a thread of its own so the
    two files parse in parallel; if pandas rejects a chunk, the pass starts again with losscli's
    own scanner, which either reads the file exactly as the in-memory path does or reports the
    same one-line error.

Reducing
    Every loss's reduction needs only sums over rows (``Σ row losses`` and the ``mean``
    denominator), so each chunk adds its partial sums — NumPy's pairwise sum within a chunk,
    ``math.fsum`` across chunks, so 1e8 terms keep about 1e-15 relative accuracy — and
    :meth:`Loss.reduce_totals` finishes as the in-memory path does.

Gradients
    ``--grad-out`` is written chunk by chunk: NPY header first (its shape filled in at the end),
    rows appended, renamed over the target at the end. Scaling by the ``mean`` denominator is
    done as the rows are written when the denominator is known up front (NPY inputs, losses
    without per-row weights); otherwise the unscaled rows are spooled and scaled in a final
    pass over the output (write-then-rescale — one more pass over the gradient file, not over
    the inputs, which for CSV would mean parsing them twice).

Whole-array output
    A gradient on stdout (``--grad``, any format) or ``--reduction none`` values are held in
    memory only up to ``WHOLE_ARRAY_MAX_BYTES``; above it the run stops with an error pointing
    to ``--grad-out``. ``--check`` is done in a second streamed pass over all elements, or over
    a seeded random sample of rows when there are more than ``CHECK_MAX_ELEMENTS``.

Errors and warnings
    Problems are found chunk by chunk. When inputs are at most ``IN_MEMORY_MAX_BYTES``, a run
    that met an error or a warning is repeated in memory, so the message is exactly the
    in-memory one (which reports, e.g., counts over the whole file). Above that, messages are
    those of the chunk where the problem was found, with rows counted from the file's start.
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
from typing import Any

import numpy as np

from . import io as lio
from .errors import InputError, LossCliWarning, UsageError
from .parallel import map_row_blocks

__all__ = ["wants_stream", "compute", "STREAM_MIN_BYTES"]

STREAM_MIN_BYTES = int(os.environ.get("LOSSCLI_STREAM_BYTES", 64 << 20))
IN_MEMORY_MAX_BYTES = 2 << 30
WHOLE_ARRAY_MAX_BYTES = 64 << 20
CHECK_MAX_ELEMENTS = 1 << 22
CHUNK_ELEMENTS = int(os.environ.get("LOSSCLI_CHUNK_ELEMENTS", 1 << 20))
RELEASE_BYTES = 32 << 20
USE_PYARROW = True  # plain CSV/TSV through pyarrow when it is installed (else pandas)
_NPY_HEADER_BYTES = 128  # room for any shape; rewritten at the end


def wants_stream(inputs: dict[str, str]) -> bool:
    """Whether the two inputs are regular files big enough to stream."""
    return _total_bytes(inputs) >= STREAM_MIN_BYTES


def _total_bytes(inputs: dict[str, str]) -> int:
    total = 0
    for path in inputs.values():
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return -1  # stdin, missing, …: the in-memory path reports it
        if not os.path.isfile(path):
            return -1
        total += info.st_size
    return total


# --------------------------------------------------------------------------- sources


class _Restart(Exception):
    """pandas rejected a chunk: read again with losscli's own scanner."""


class _NpySource:
    def __init__(self, path: str, role: str) -> None:
        self.path = path
        self.err = lio._error(role, path)
        with lio._open(path, self.err) as f:
            self.shape, self.dtype, self.fortran, self.offset = lio.npy_header(f, self.err)
            self.nbytes = os.fstat(f.fileno()).st_size
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.vector = len(self.shape) == 1
        self.rows = self.shape[0]
        self.width = 1 if self.vector else self.shape[1]
        self.done = 0
        # The consumer has each chunk checked only when it finds a problem (see _verify).
        self.deferred_check = False

    def chunks(self, rows_per_chunk: int) -> Iterator[np.ndarray]:
        self._rows_per_chunk = rows_per_chunk
        self._array = array = np.ndarray(
            self.shape,
            self.dtype,
            buffer=self._mm,
            offset=self.offset,
            order="F" if self.fortran else "C",
        ).reshape(self.rows, self.width)
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
                    row, col = np.unravel_index(int(np.argmax(mask)), mask.shape)
                    index = (start + int(row),) if self.vector else (start + int(row), int(col))
                    bad[kind][1] = lio.npy_position(index, 1 if self.vector else 2)
                bad[kind][0] += count
        lio._raise_nonfinite(bad, self.err)

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


class _CsvSource:
    deferred_check = False  # chunks are checked as they are parsed

    def __init__(self, path: str, role: str, *, engine: str = "pandas") -> None:
        self.path, self.engine = path, engine
        self.err = lio._error(role, path)
        ext, self.compression = lio.split_extension(path)
        self.sep = lio._SEPARATORS.get(ext, ",")
        self.nbytes = os.stat(path).st_size
        with self._text() as text:
            try:
                first = next(lio._rows(text, self.sep, self.err), None)
            except UnicodeDecodeError:
                raise self.err("file is not UTF-8 text; save it as UTF-8") from None
        if first is None:
            raise self.err("file is empty")
        self.header = lio._is_header(first[1])
        self.width = len(first[1])
        self.vector = self.width == 1
        self.rows: int | None = None
        self.done = 0
        self._raw: Any = None

    @contextlib.contextmanager
    def _text(self) -> Iterator[Any]:
        import io

        with lio._open(self.path, self.err) as f:
            self._raw = f
            if self.compression:
                with lio.open_decompressed(f, self.compression, self.err) as data:
                    yield io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
            else:
                yield io.TextIOWrapper(f, encoding="utf-8-sig", newline="")

    def chunks(self, rows_per_chunk: int) -> _Handoff:
        """Chunks parsed in a thread of their own, started now (so both files are parsed at
        once even though the first chunk of the predictions is waited for first)."""

        def produce(put: Callable[[Any], None]) -> None:
            if self.engine == "scan":
                self._scan_chunks(rows_per_chunk, put)
            elif self.compression or not USE_PYARROW or not _importable("pyarrow"):
                self._pandas_chunks(rows_per_chunk, put)
            else:
                self._arrow_chunks(rows_per_chunk, put)

        return _Handoff(produce, name=f"losscli-read-{self.path}")

    def _pandas_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        import pandas as pd

        options = lio.pandas_options(self.sep, self.header)
        # pandas' float conversion skips leading blanks itself; skipping them in the tokenizer
        # too costs ~20% of the parse and only changes " \"1.5\"" (quoted after a blank),
        # which then fails and goes to the scanner, which reads it as the in-memory path does.
        options["skipinitialspace"] = False
        options["compression"] = self.compression
        with warnings.catch_warnings(), lio._open(self.path, self.err) as f:
            warnings.simplefilter("error", pd.errors.ParserWarning)
            self._raw = f  # its position is the progress
            try:
                reader = pd.read_csv(f, chunksize=rows_per_chunk * 4, **options)
                with reader:
                    for frame in reader:
                        block = np.array(frame.to_numpy(dtype=np.float64), order="C")
                        if block.shape[1] != self.width or not np.isfinite(block).all():
                            raise _Restart
                        self.done = self._position()
                        put(block)
            except (ValueError, pd.errors.ParserWarning, UnicodeDecodeError, EOFError, OSError):
                raise _Restart from None

    def _arrow_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        """pyarrow's streaming CSV reader: multi-threaded, and a fraction of pandas' import
        time. Its numbers are pandas' (both parse with fast_float); whatever it reads
        differently (blank-only lines, nulls, a header of another width, …) fails or comes out
        non-finite or of the wrong width, and the pass restarts with the scanner."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        names = [f"c{i}" for i in range(self.width)]
        read = pacsv.ReadOptions(
            skip_rows=int(self.header),
            column_names=names,
            # about a chunk of rows per block (~24 bytes a value), within 64 KiB – 1 MiB
            # (pyarrow's default; it holds several blocks at once: 4 MiB ones cost ~180 MiB)
            block_size=min(max(rows_per_chunk * self.width * 24, 1 << 16), 1 << 20),
        )
        parse = pacsv.ParseOptions(delimiter=self.sep)
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()))
        try:
            with pa.OSFile(self.path) as f:
                self._raw = f  # its position is the progress
                for batch in pacsv.open_csv(f, read, parse, convert):
                    block = np.empty((batch.num_rows, self.width))
                    for i, column in enumerate(batch.columns):
                        if column.null_count:  # an empty cell, "NA", …
                            raise _Restart
                        # the float64 values as they lie in memory (to_numpy imports pandas)
                        data, n = column.buffers()[1], len(column)
                        block[:, i] = np.frombuffer(data, np.float64, n, column.offset * 8)
                    if not np.isfinite(block).all():
                        raise _Restart
                    self.done = self._position()
                    put(block)
        except (pa.ArrowException, ValueError, OSError):
            raise _Restart from None

    def _scan_chunks(self, rows_per_chunk: int, put: Callable[[Any], None]) -> None:
        def emit(block: np.ndarray) -> None:
            self.done = self._position()
            put(block)

        with self._text() as text:
            try:
                lio._scan(text, self.sep, self.err, emit=emit, chunk_rows=rows_per_chunk)
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


class _Respool(Exception):
    """A chunk's mean denominator was not its row count, after earlier rows of the gradient
    were written scaled by the row count: write it again unscaled, and scale at the end."""


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _open_source(path: str, role: str, engine: str) -> _NpySource | _CsvSource:
    ext, compression = lio.split_extension(path)
    if ext == ".npy" and not compression:
        return _NpySource(path, role)
    return _CsvSource(path, role, engine=engine)


def _aligned(
    p_src: Any, t_src: Any, rows_per_chunk: int, counts: list[int]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs of chunks with the same rows. ``counts`` ends as the rows read from each file;
    when one file has more rows the other is read to its end to count them."""
    its = [p_src.chunks(rows_per_chunk), t_src.chunks(rows_per_chunk)]
    try:
        yield from _pairs(its, counts)
    finally:
        for it in its:
            it.close()  # stops a reader thread now rather than when collected


def _pairs(its: list, counts: list[int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    pending: list[np.ndarray | None] = [None, None]
    while True:
        for i in (0, 1):
            if pending[i] is None or len(pending[i]) == 0:
                pending[i] = next(its[i], None)
                if pending[i] is not None:
                    counts[i] += len(pending[i])
        a, b = pending
        if a is None or b is None:
            for i in (0, 1):  # count the rest of the longer file
                if pending[i] is not None:
                    for block in its[i]:
                        counts[i] += len(block)
            return
        k = min(len(a), len(b))
        yield a[:k], b[:k]
        pending = [a[k:], b[k:]]


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
            self.file.close()
            self.file = open(self.spool, "w+b")  # noqa: SIM115 - closed in finish/abort

    def write(self, rows: np.ndarray) -> None:
        self.tail = rows.shape[1:]
        self.rows += len(rows)
        if self.ext == ".npy" or self.spool is not None:
            self.file.write(memoryview(np.ascontiguousarray(rows, dtype="<f8")).cast("B"))
        else:
            lio._write_text(self.file, rows, "," if self.ext == ".csv" else "\t")
        if self.spool is None:
            self._push()

    def _push(self) -> None:
        """Start writing what is written so far to disk, while the rest is computed, so the
        fsync at the end (lio.commit_output) has little left to wait for."""
        end = self.file.tell()
        if end - self._pushed >= RELEASE_BYTES and hasattr(os, "posix_fadvise"):
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
                data = np.memmap(self.file, "<f8", "r+", _NPY_HEADER_BYTES, (self.rows, width))
                for start in range(0, self.rows, step):
                    data[start : start + step] = scale(data[start : start + step])
                del data  # no flush: the page cache is shared with the file object's writes
            self.file.seek(0)
            self.file.write(_npy_header(shape))
        elif self.spool is not None:
            data = np.memmap(self.spool, "<f8", "r", 0, (self.rows, width))
            with open(self.tmp, "wb") as out:
                for start in range(0, self.rows, step):
                    block = np.array(data[start : start + step])
                    lio._write_text(out, scale(block) if scale else block, self.sep)
            del data
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


# --------------------------------------------------------------------------- the check


# Plain classes rather than dataclasses here: each dataclass costs ~3 ms of start-up (it
# compiles its generated methods), a noticeable part of a streamed run of half a second.
# The check of a streamed pass is folded into a gradcheck.StreamedCheck.


# --------------------------------------------------------------------------- the run


class _Totals:
    def __init__(self) -> None:
        self.total: list[float] = []
        self.denominator: list[float] = []
        self.row_size = 1
        self.rows: list[np.ndarray] = []
        self.grad: list[np.ndarray] = []
        self.describe: dict[str, Any] = {}


def compute(
    loss: Any,
    inputs: dict[str, str],
    options: dict[str, Any],
    *,
    reduction: str,
    grad: bool,
    grad_out: Any,
    check: bool,
    eps: float,
    rtol: float,
    atol: float,
    quiet: bool = False,
    in_memory: Callable[[], Any],
) -> tuple[Any, Any]:
    """Stream the two inputs; return ``(report, written gradient shape or None)``.

    ``in_memory`` recomputes the whole thing in memory; it is used to give the exact
    in-memory message when a problem is found and the inputs are small enough.
    """
    fits = _total_bytes(inputs) <= IN_MEMORY_MAX_BYTES
    failed = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossCliWarning)
        try:
            result = _compute(
                loss,
                inputs,
                options,
                reduction=reduction,
                grad=grad,
                grad_out=grad_out,
                check=check,
                eps=eps,
                rtol=rtol,
                atol=atol,
                quiet=quiet,
            )
        except InputError:
            if not fits:
                raise
            failed = True
    problems = [w for w in caught if issubclass(w.category, LossCliWarning)]
    if failed or (problems and fits):
        return in_memory(), None
    for w in problems[:3]:
        warnings.warn(w.message, LossCliWarning, stacklevel=2)
    return result


def _compute(loss, inputs, options, *, reduction, grad, grad_out, check, eps, rtol, atol, quiet):
    from .progress import Progress
    from .render import Report

    engine, spool = "pandas", False
    while True:
        sources = [
            _open_source(inputs["predictions"], "predictions", engine),
            _open_source(inputs["targets"], "targets", engine),
        ]
        try:
            total_bytes = sum(s.nbytes for s in sources)
            with Progress(total_bytes, f"{loss.name}: reading", quiet=quiet) as bar:
                totals, shape, written = _first_pass(
                    loss, sources, options, reduction, grad, grad_out, bar, spool
                )
            break
        except _Restart:
            engine = "scan"
        except _Respool:
            spool = True
        finally:
            for s in sources:
                s.close()

    denominator = math.fsum(totals.denominator)
    if reduction == "none":
        value: Any = np.concatenate(totals.rows)
    else:
        value = loss.reduce_totals(reduction, math.fsum(totals.total), denominator, totals.row_size)
    gradient = None
    if grad:
        gradient = loss.scale_by_reduction(
            np.concatenate(totals.grad), reduction, denominator, totals.row_size
        )
    result = None
    if check:
        result = _check_pass(
            loss,
            inputs,
            options,
            reduction,
            denominator,
            totals.row_size,
            shape,
            engine,
            eps=eps,
            rtol=rtol,
            atol=atol,
            quiet=quiet,
        )
    report = Report(
        loss=loss.name,
        title=loss.summary,
        reduction=reduction,
        shape=shape,
        value=value,
        grad=gradient,
        check=result,
        inputs=inputs,
        details=totals.describe,
    )
    return report, written


def _add_counts(describe: dict[str, Any], chunk: dict[str, Any]) -> None:
    """Facts a chunk reports that are counts (e.g. ignored rows) add up over the chunks."""
    for key, value in chunk.items():
        if isinstance(value, int) and not isinstance(value, bool):
            describe[key] = describe.get(key, 0) + value


def _rows_per_chunk(width: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(width, 1))


def _standin(src: Any, rows: int) -> np.ndarray:
    shape = (rows,) if src.vector else (rows, src.width)
    return np.broadcast_to(np.float64(0.0), shape)


def _check_shapes(loss: Any, sources: list, counts: list[int], options: dict) -> None:
    """Rows differ: let the loss's own validation word it, on stand-ins of the full shapes."""
    loss.prepare_inputs(_standin(sources[0], counts[0]), _standin(sources[1], counts[1]), **options)
    raise InputError(f"found inconsistent numbers of rows (predictions, targets): {counts}")


def _first_pass(loss, sources, options, reduction, grad, grad_out, progress, spool=False):
    p_src, t_src = sources
    both_npy = isinstance(p_src, _NpySource) and isinstance(t_src, _NpySource)
    if both_npy and p_src.rows != t_src.rows:
        _check_shapes(loss, sources, [p_src.rows, t_src.rows], options)
    merged = loss.resolve_options(**options)
    width = max(p_src.width, t_src.width)
    ndim = 1 if p_src.vector else 2
    known_rows = p_src.rows
    if grad and known_rows is not None:
        _check_whole(known_rows * p_src.width, "the gradient")
    if reduction == "none" and known_rows is not None:
        _check_whole(known_rows, "the row values of --reduction none")

    writer = _GradFile(grad_out, ndim, list(_protected(sources))) if grad_out else None
    want_grad = grad or writer is not None
    # A sum kernel that vouches for its inputs replaces the reader's check of every chunk:
    # the inputs are checked only when a chunk's sum is not finite.
    fused = loss.sum_kernel is not None and reduction != "none" and not want_grad
    for src in sources:
        src.deferred_check = fused
    totals = _Totals()
    counts = [0, 0]
    scale_now: bool | None = None
    try:
        for p, t in _aligned(p_src, t_src, _rows_per_chunk(width), counts):
            pp = p[:, 0] if p_src.vector else p
            tt = t[:, 0] if t_src.vector else t
            if scale_now is None:
                try:
                    prepared = loss.prepare_inputs(pp, tt, **options)
                except InputError as e:
                    _verify(sources, p, t)
                    _drain(sources, counts)
                    _check_full_shapes(loss, sources, counts, options)
                    raise _shift_rows(e, counts[0] - len(p)) from None
                totals.row_size = loss.row_size(prepared)
                totals.describe = prepared.describe
                # Under mean, the gradient is scaled as it is written when the denominator is
                # the number of rows, known up front for NPY inputs; the first chunk tells
                # whether the loss's row weights make it so (a later chunk where they do not
                # raises _Respool).
                scale_now = reduction != "mean" or (
                    not spool
                    and known_rows is not None
                    and loss.denominator(prepared, reduction) == len(pp)
                )
                if writer is not None and not scale_now:
                    writer.start_spool()
            else:
                try:
                    prepared = loss.prepare(pp, tt, **merged)
                except InputError as e:
                    _verify(sources, p, t)
                    raise _shift_rows(e, counts[0] - len(p)) from None
                _add_counts(totals.describe, prepared.describe)
            rows = row_grad = None
            if want_grad:
                rows, row_grad = loss.rows_and_row_grad(prepared)
            elif fused:
                total = loss.row_total(prepared)
                if not math.isfinite(total):
                    _verify(sources, p, t)  # else finite inputs overflowed: inf, as in memory
            else:
                rows = loss.row_values(prepared)
            if reduction == "none":
                totals.rows.append(rows)
                _check_whole(counts[0], "the row values of --reduction none")
            else:
                totals.total.append(total if rows is None else float(rows.sum()))
                if reduction != "sum":
                    denominator = loss.denominator(prepared, reduction)
                    totals.denominator.append(denominator)
                    if writer is not None and scale_now and denominator != len(pp):
                        raise _Respool
            if row_grad is not None:
                if grad:
                    totals.grad.append(row_grad)
                    _check_whole(counts[0] * p_src.width, "the gradient")
                if writer is not None:
                    if scale_now:
                        denominator = float(known_rows) if known_rows is not None else 1.0
                        # in place unless the rows are kept for stdout or are an input's memory
                        in_place = not grad and not (
                            np.may_share_memory(row_grad, p) or np.may_share_memory(row_grad, t)
                        )
                        row_grad = loss.scale_by_reduction(
                            row_grad, reduction, denominator, totals.row_size, in_place=in_place
                        )
                    writer.write(row_grad)
            progress.update(p_src.done + t_src.done)
        if counts[0] != counts[1]:
            _check_shapes(loss, sources, counts, options)
        shape = (counts[0],) if p_src.vector else (counts[0], p_src.width)
        written = None
        if writer is not None:
            denominator = math.fsum(totals.denominator)
            rescale = None
            if not scale_now:

                def rescale(block: np.ndarray) -> np.ndarray:
                    return loss.scale_by_reduction(block, reduction, denominator, totals.row_size)

            written = writer.finish(rescale)
            writer = None
        return totals, shape, written
    finally:
        if writer is not None:
            writer.abort()


def _verify(sources: list, p: np.ndarray, t: np.ndarray) -> None:
    """The reader's error for NaN or inf in this pair of chunks, predictions first, when the
    readers left that check to the consumer."""
    for src, block in zip(sources, (p, t), strict=True):
        src.verify(block)


def _drain(sources: list, counts: list[int]) -> None:
    """Count the rows of both files to their ends (after an error in the first chunk)."""
    for i, src in enumerate(sources):
        counts[i] = sum(len(block) for block in src.chunks(_rows_per_chunk(src.width)))


def _check_full_shapes(loss, sources, counts, options) -> None:
    """An error in the first chunk may be about shapes: word it with the files' full shapes."""
    p_src, t_src = sources
    loss.prepare_inputs(_standin(p_src, counts[0]), _standin(t_src, counts[1]), **options)


_ROW = re.compile(r"(\(row |first: row )(\d+)")


def _shift_rows(error: InputError, offset: int) -> InputError:
    """A chunk's message, its row numbers counted from the start of the file (the loss's
    messages name rows as ``(row 3)`` / ``(row 3, col 1)``, see format_index)."""
    if offset:
        error.message = _ROW.sub(lambda m: f"{m[1]}{int(m[2]) + offset}", error.message)
        error.args = (error.message,)
    return error


def _protected(sources: list) -> Iterator[str]:
    for s in sources:
        yield s.path


def _check_whole(elements: int, what: str) -> None:
    if elements * 8 > WHOLE_ARRAY_MAX_BYTES:
        limit = WHOLE_ARRAY_MAX_BYTES >> 20
        raise UsageError(
            f"{what} of this streamed input has {elements} values, more than losscli holds in "
            f"memory for printing ({limit} MiB); write the gradient with --grad-out FILE.npy "
            "and use --reduction mean or sum"
        )


def _check_pass(
    loss,
    inputs,
    options,
    reduction,
    denominator,
    row_size,
    shape,
    engine,
    *,
    eps,
    rtol,
    atol,
    quiet,
):
    """A second streamed pass: finite differences against the analytic gradient."""
    from .gradcheck import StreamedCheck, check_rows, row_sample, warn_if_uncertain
    from .progress import Progress

    sources = [
        _open_source(inputs["predictions"], "predictions", engine),
        _open_source(inputs["targets"], "targets", engine),
    ]
    p_src, t_src = sources
    elements = math.prod(shape)
    fraction = min(1.0, CHECK_MAX_ELEMENTS / elements)
    merged = loss.resolve_options(**options)
    result = StreamedCheck(eps=eps, rtol=rtol, atol=atol)
    if fraction < 1.0:
        result.population, result.population_rows = elements, shape[0]
        result.seed, result.max_elements = 0, CHECK_MAX_ELEMENTS
    counts = [0, 0]
    offset = 0
    try:
        total_bytes = sum(s.nbytes for s in sources)
        with Progress(total_bytes, f"{loss.name}: checking", quiet=quiet) as bar:
            width = max(p_src.width, t_src.width)
            for p, t in _aligned(p_src, t_src, _rows_per_chunk(width), counts):
                rows = np.arange(offset, offset + len(p))
                offset += len(p)
                if fraction < 1.0:
                    keep = row_sample(rows, fraction, result.seed)
                    p, t, rows = p[keep], t[keep], rows[keep]
                    if not len(rows):
                        continue
                pp = p[:, 0] if p_src.vector else p
                tt = t[:, 0] if t_src.vector else t
                prepared = loss.prepare(pp, tt, **merged)
                _, row_grad = loss.rows_and_row_grad(prepared)

                def scale(g: np.ndarray) -> np.ndarray:
                    return loss.scale_by_reduction(g, reduction, denominator, row_size)

                chunk = check_rows(
                    loss, prepared, scale(row_grad), scale, eps=eps, rtol=rtol, atol=atol
                )
                result.add(chunk, rows, p_src.vector)
                bar.update(sum(s.done for s in sources))
    finally:
        for s in sources:
            s.close()
    warn_if_uncertain(result)
    return result
