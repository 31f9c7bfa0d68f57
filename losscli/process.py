"""The process around a run: stdout written in full or not at all, a closed or vanished
stdout told apart, and SIGINT/SIGTERM/SIGHUP turned into KeyboardInterrupt so every
``finally`` runs and temporary files are removed. Standard library only (start-up stays fast).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
from typing import Any

from .errors import UsageError

__all__ = [
    "STDOUT_NAME",
    "WRITE_ERRNOS",
    "ClosedStdout",
    "catch_signals",
    "checked_stdout",
    "finish_signals",
    "pipe_closed",
    "silence_stdout",
    "stdout_identity",
]

STDOUT_NAME = "<stdout>"
# errno values of a failed write: full disk, size limit, quota, I/O error, closed descriptor.
WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EFBIG", "EDQUOT", "EIO", "EBADF", "EPIPE")
    if hasattr(errno, name)
)


class FullWriter(io.RawIOBase):
    """A file descriptor written in full or not at all: a short write (a size limit, a reader
    that went away) is retried until it raises. Python's own buffered stdout can drop the rest
    of a short write silently and exit 0."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except BrokenPipeError:
            raise
        except OSError as e:  # name stdout, so the message can say which output failed
            raise OSError(e.errno, e.strerror, STDOUT_NAME) from None
        return done

    def close(self) -> None:  # the descriptor is the process's stdout: leave it open
        super().close()


def checked_stdout(stdout: Any) -> Any:
    """``stdout`` (the process's own) rewrapped so every write is complete or an error."""
    try:
        fd = stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stdout
    stdout.flush()
    return io.TextIOWrapper(
        io.BufferedWriter(FullWriter(fd), buffer_size=1 << 16),
        encoding=stdout.encoding,
        errors=stdout.errors,
        line_buffering=stdout.line_buffering,
    )


class ClosedStdout(io.TextIOBase):
    """Stands in for ``sys.stdout`` when the process started without one: not a terminal, and
    writing to it is a clear error rather than output silently lost."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise UsageError(
            "stdout is closed; redirect it (> out.txt, or > /dev/null to discard the output) "
            "or write to a file with -o FILE"
        )

    @property
    def buffer(self):  # what write_text("-") writes to
        return self


def stdout_identity() -> tuple[int, int] | None:
    try:
        info = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_dev, info.st_ino


def pipe_closed(stdout_was: tuple[int, int] | None) -> bool:
    """Whether the reader of stdout has gone: rich then points stdout at /dev/null, click wraps
    it, and a pipe with no reader polls as an error."""
    if stdout_was is not None and stdout_identity() != stdout_was:
        return True
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # click's, after EPIPE
        return True
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's exit-time flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass


SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def catch_signals(received: list[int]) -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (so every ``finally`` runs and the
    temporary files go); ``received`` records which. Returns the handlers to restore."""

    def interrupt(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    if hasattr(signal, "SIGXFSZ"):  # over `ulimit -f` a write fails (EFBIG) instead of killing
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for signum in SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them be
            previous[signum] = signal.signal(signum, interrupt)
    return previous


def finish_signals(previous: dict[int, Any]) -> None:
    """Ignore further signals while the temporary files of the run are removed, then put the
    previous handlers back."""
    for signum in previous:
        signal.signal(signum, signal.SIG_IGN)
    lio = sys.modules.get("losscli.io")  # not imported: no temporary file can exist
    if lio is not None:
        lio.remove_temporaries()
    for signum, handler in previous.items():
        signal.signal(signum, handler)
