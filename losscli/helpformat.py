"""Help screens that fit: no type column for flags and arguments (typer shows ``<bool>`` and
``<str>`` there, which says nothing a flag or a named argument does not already say).

A mixin for typer's click command and group classes, like :mod:`losscli.fastparams`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TidyHelp"]


def _no_type(*args: Any, **kwargs: Any) -> None:
    return None


class TidyHelp:
    """Blanks the type column of flags and of arguments (they have a metavar already)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) or param.param_type_name == "argument":
                # typer's rich help asks each parameter for its type label; None leaves it out
                param.display_type_rich = _no_type
            if hasattr(param, "_get_number_range_help_str"):
                param._get_number_range_help_str = _no_type
        return params
