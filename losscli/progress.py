"""A progress bar on stderr for long runs: bytes read, rate, time left.

Shown only when stderr is a terminal, not with ``--quiet``, and only once the work has taken
``DELAY`` seconds, so quick runs never draw (or import rich for) a bar.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "DELAY"]

DELAY = 1.0  # seconds of work before a bar appears


class Progress:
    """``update(done)`` as work proceeds (``done`` of ``total`` bytes); ``close()`` at the end.

    Use as a context manager; a disabled one does nothing and costs one comparison per update.
    """

    def __init__(
        self, total: int, description: str, *, quiet: bool = False, stream: TextIO | None = None
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total = max(int(total), 1)
        self.description = description
        self.enabled = not quiet and _is_terminal(self.stream)
        self.started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.started < DELAY:
                return
            self._start()
        self._bar.update(self._task, completed=min(done, self.total))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _start(self) -> None:
        from rich import progress as rp
        from rich.console import Console

        self._bar = rp.Progress(
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.DownloadColumn(),
            rp.TransferSpeedColumn(),
            rp.TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=True,
        )
        self._task = self._bar.add_task(self.description, total=self.total)
        self._bar.start()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
