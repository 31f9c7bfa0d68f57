"""What the losses of issue 10 (robust, relative, likelihood, similarity and segmentation
modules) share: option and domain checks with one message shape for every bad value, the zero
Hessian of the piecewise-linear losses, and the names of their bundled sample files.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import format_index

__all__ = [
    "check_option",
    "check_signs",
    "positive_samples",
    "regression_samples",
    "reject_where",
    "stable_sigmoid",
    "zero_hess",
]


def check_option(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float inside the interval, or a UsageError naming ``--name``, the
    interval and the value given."""
    flag = "--" + name.replace("_", "-")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a number, got {value!r}") from None
    bad = not math.isfinite(x)
    if low is not None:
        bad = bad or (x <= low if low_open else x < low)
    if high is not None:
        bad = bad or (x >= high if high_open else x > high)
    if bad:
        if low is not None and high is not None:
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            where = f" in {lo}{low:g}, {high:g}{hi}"
        elif low is not None:
            where = f" {'>' if low_open else '≥'} {low:g}"
        elif high is not None:
            where = f" {'<' if high_open else '≤'} {high:g}"
        else:
            where = ""
        raise UsageError(f"{flag} must be a finite number{where}, got {value!r}")
    return x


def reject_where(bad: np.ndarray, a: np.ndarray, what: str, fix: str, *, role: str) -> None:
    """InputError naming the first element where ``bad`` holds, its value and the fix."""
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InputError(
            f"{what}, found {float(a[tuple(idx)])!r} at {format_index(idx)} — {fix}", role=role
        )


def check_signs(t: np.ndarray, *, loss: str) -> None:
    """Targets of the pair losses are labels −1 or 1."""
    reject_where(
        (t != 1.0) & (t != -1.0),
        t,
        f"{loss} targets are labels −1 or 1",
        "write 1 for a similar (or correctly ordered) pair and −1 for the other",
        role="targets",
    )


def zero_hess(predictions: np.ndarray, targets: np.ndarray, **options: Any) -> np.ndarray:
    """The Hessian diagonal of a piecewise-linear loss: 0 (undefined at its kinks)."""
    return np.zeros_like(predictions)


def regression_samples(options: Any) -> tuple[str, str]:
    """Bundled sample files: real-valued predictions and targets."""
    return ("regression_preds.csv", "regression_targets.csv")


def positive_samples(options: Any) -> tuple[str, str]:
    """Bundled sample files: positive predictions and targets, never tied (ŷ ≠ y)."""
    return ("positive_preds.csv", "positive_targets.csv")


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) with no overflow: 1/(1 + e^−z) for z ≥ 0, e^z/(1 + e^z) below."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
