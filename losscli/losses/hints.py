"""Hints for the usual mistakes: pure checks of arrays that name a likely cause and its fix.

Each function returns the words to add to an error or a warning, or None when the data do not
show the pattern. They only look; the losses decide what is an error.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SWAP_ORDER",
    "labels_given_as_predictions",
    "looks_one_based",
    "looks_swapped",
    "looks_like_probabilities",
]

SWAP_ORDER = "the order is PREDS TARGETS"


def _whole(a: np.ndarray) -> bool:
    return bool(a.size) and bool((np.floor(a) == a).all())


def looks_one_based(indices: np.ndarray, n_classes: int) -> str | None:
    """Class labels running from 1 to C (the largest equal to C, none 0): counted from 1."""
    if indices.size and indices.min() >= 1 and indices.max() == n_classes:
        return (
            f"the labels look 1-based (they run from 1 to {n_classes}): subtract 1 so they "
            f"run from 0 to {n_classes - 1}"
        )
    return None


def looks_swapped(predictions: np.ndarray, targets: np.ndarray) -> str | None:
    """Hard labels as predictions (every value 0 or 1, some 1) against fractional targets in
    [0, 1] (scores)."""
    if not predictions.size or not ((predictions == 0) | (predictions == 1)).all():
        return None
    if not predictions.any() or _whole(targets) or targets.min() < 0.0 or targets.max() > 1.0:
        return None
    return (
        "the predictions are all 0 or 1 (like labels) and the targets are fractions in "
        f"[0, 1] (like scores): are PREDS and TARGETS swapped? ({SWAP_ORDER})"
    )


def labels_given_as_predictions(predictions: np.ndarray, targets: np.ndarray) -> str | None:
    """A vector of whole numbers as predictions, a matrix of scores as targets."""
    if targets.ndim != 2 or targets.shape[1] < 2 or not _whole(predictions) or _whole(targets):
        return None
    n, c = targets.shape
    return (
        f"PREDS holds whole numbers (like labels) and TARGETS a matrix of scores ({n} × {c}): "
        f"are the two swapped? ({SWAP_ORDER})"
    )


def looks_like_probabilities(rows: np.ndarray, tolerance: float) -> str | None:
    """Every row in [0, 1] and summing to 1: probabilities, though given as logits."""
    if rows.ndim != 2 or rows.shape[1] < 2 or not rows.size:
        return None
    if rows.min() < 0.0 or rows.max() > 1.0:
        return None
    if not (np.abs(rows.sum(axis=1) - 1.0) <= tolerance).all():
        return None
    return (
        "every prediction row lies in [0, 1] and sums to 1: these look like probabilities, "
        "and --logits applies a softmax to them a second time; drop --logits if they are "
        "probabilities"
    )
