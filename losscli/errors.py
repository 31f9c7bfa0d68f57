"""Exceptions shared by every layer.

The numeric core, the readers and the CLI raise these; only the CLI turns them into an
``Error: …`` line and an exit code. Nothing here imports numpy, so the CLI can catch them
without paying for it.
"""

from __future__ import annotations

__all__ = ["LossCliError", "InputError", "UsageError", "LossCliWarning", "LossCliNote"]


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
