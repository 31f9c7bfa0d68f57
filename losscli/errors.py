"""Exceptions shared by every layer.

The numeric core, the readers and the CLI raise these; only the CLI turns them into an
``Error: …`` line and an exit code. Nothing here imports numpy, so the CLI can catch them
without paying for it.
"""

from __future__ import annotations

__all__ = [
    "LossCliError",
    "InputError",
    "UsageError",
    "LossCliWarning",
    "LossCliNote",
    "CountedWarning",
]


class LossCliError(Exception):
    """Base class: a failure the user can fix. Exit code 2."""

    exit_code = 2


class InputError(LossCliError, ValueError):
    """Bad input data: unreadable file, wrong shape, value outside the loss's domain.

    ``role`` says which input the problem is in (``"predictions"``, ``"targets"``, ``"weights"``,
    …) so the CLI can name the file; ``source`` is the file name when the reader knows it.
    """

    def __init__(self, message: str, *, role: str | None = None, source: str | None = None):
        super().__init__(message)
        self.message = message
        self.role = role
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class UsageError(LossCliError, ValueError):
    """A bad combination of options (unknown reduction, option the loss does not take, …)."""


class LossCliWarning(UserWarning):
    """Something the user should know that does not stop the computation.

    Examples: probability rows that do not sum to 1, probabilities clipped before the log.
    The CLI prints these on stderr as ``Warning: …``.
    """


class LossCliNote(LossCliWarning):
    """A decision the user should hear about, not a problem: how an input was read (its
    delimiter, header, index column, column order). The CLI prints these as ``Note: …``."""


class CountedWarning(LossCliWarning):
    """A warning about ``count`` values of a block (of ``total`` rows, its whole input's once
    the engine has added the blocks up; the first at row ``first``,
    with ``detail`` about it), worded by ``text(count, total, first, detail)`` (module-level,
    or a ``functools.partial`` of one). A streamed run adds up its blocks' warnings of one kind
    (:meth:`merged`) into one warning about the whole input, its rows counted from the first
    (:meth:`shifted`), as the in-memory run words it — not one warning per block."""

    def __init__(self, text, count: int, total: int | None = None, first: int | None = None,
                 detail: object = None) -> None:  # fmt: skip
        self.text, self.count, self.total = text, count, total
        self.first, self.detail = first, detail
        super().__init__(text(count, total, first, detail))

    @property
    def kind(self) -> str:
        """The same for every block's warning of this kind: the wording without the counts."""
        zero = None if self.total is None else 0
        return self.text(0, zero, None if self.first is None else 0, None)

    def merged(self, other: CountedWarning) -> CountedWarning:
        earlier = self if other.first is None or (
            self.first is not None and self.first <= other.first
        ) else other  # fmt: skip
        total = None if self.total is None else self.total + (other.total or 0)
        return CountedWarning(
            self.text, self.count + other.count, total, earlier.first, earlier.detail
        )

    def __reduce__(self):  # pickled by a Dask worker's task: rebuilt from its parts
        return (CountedWarning, (self.text, self.count, self.total, self.first, self.detail))

    def of_total(self, total: int) -> CountedWarning:
        return CountedWarning(self.text, self.count, total, self.first, self.detail)

    def shifted(self, rows: int) -> CountedWarning:
        if not rows or self.first is None:
            return self
        return CountedWarning(self.text, self.count, self.total, self.first + rows, self.detail)
