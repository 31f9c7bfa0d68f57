"""Start-up: let typer convert losscli's plain option values without importing pydantic.

Typer ≥ 0.2x converts every non-flag parameter through a pydantic ``TypeAdapter``, built when
the command runs. Importing pydantic costs about 0.15 s — as much as the rest of a small run.
losscli's options are all plain: a string, a number, a choice among a few strings, a path. For
those, :func:`install` gives each parameter a converter that accepts the *ordinary* spellings
itself (a string; a decimal number; exactly one of the choices) and hands anything else to
typer's own pydantic-based converter. Whatever is unusual or wrong therefore still goes
through typer, so values and error messages are typer's by construction.

It uses one typer detail (``_TyperParameter._runtime_param``, the cache that
``get_runtime_param()`` fills); when a typer release changes it, :func:`install` does nothing
and typer works as before — only the start-up time grows, which the guard test in
``tests/test_startup.py`` would report.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FastParams", "install"]

# Decimal numbers that pydantic reads exactly as float() does.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_MISS = object()


class FastParams:
    """Mixin for typer's click command and group classes: every parameter they parse —
    their own, typer's completion options and the help option — gets the fast converter."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        install(params)
        return params


def install(params: Any) -> None:
    """Give each plain typer parameter in ``params`` the fast converter (idempotent)."""
    for param in params:
        if isinstance(getattr(param, "_runtime_param", None), _FastConversion):
            continue
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or not hasattr(param, "_runtime_param"):
            continue  # not the typer this was written for: leave typer alone
        if param.nargs != 1 or getattr(descriptor, "file_annotation", None):
            continue
        if param.multiple:  # a repeatable option (--pred-col a --pred-col b): list[str] only
            convert = _strings if descriptor.annotation == list[str] else None
        else:
            convert = _converter(descriptor.annotation)
        if convert is not None and getattr(descriptor, "is_ranged", False):  # --top K, min=1
            convert = _within(convert, getattr(param, "min", None), getattr(param, "max", None))
        if convert is not None:
            param._runtime_param = _FastConversion(convert)


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    if annotation is str:
        return lambda v: v if isinstance(v, str) else _MISS
    if annotation is bool:  # typer's completion options default to None, not False
        return lambda v: v if isinstance(v, bool) else _MISS
    if annotation is float:
        return _to_float
    if annotation is int:
        return _to_int
    if annotation is Path:
        return lambda v: v if isinstance(v, Path) else _MISS  # defaults only; text goes to typer
    if typing.get_origin(annotation) is typing.Literal:
        choices = frozenset(c for c in typing.get_args(annotation) if isinstance(c, str))
        return lambda v: v if isinstance(v, str) and v in choices else _MISS
    return None


def _within(convert: Callable[[Any], Any], low: Any, high: Any) -> Callable[[Any], Any]:
    """``convert``, but a value outside [low, high] goes to typer, which rejects it (or clamps
    it) with its own message."""

    def check(value: Any) -> Any:
        v = convert(value)
        if v is _MISS or (low is not None and v < low) or (high is not None and v > high):
            return _MISS
        return v

    return check


def _strings(value: Any) -> Any:
    """The values of a repeatable text option, as typer gives them: a list of strings."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return _MISS


def _to_float(value: Any) -> Any:
    if isinstance(value, float):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return _MISS


def _to_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return _MISS


class _FastConversion:
    """Stands in for typer's ``RuntimeParam``: the same ``coerce(value, param, ctx)``."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert
        self.typer_conversion = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # an option not given and without a default: as typer does
            return None
        if getattr(ctx, "token_normalize_func", None) is None:
            converted = self.convert(value)
            if converted is not _MISS:
                return converted
        if self.typer_conversion is None:
            # Let typer build its own converter (this imports pydantic), then keep ours in place.
            param._runtime_param = None
            try:
                self.typer_conversion = param.get_runtime_param()
            finally:
                param._runtime_param = self
        return self.typer_conversion.coerce(value, param=param, ctx=ctx)
