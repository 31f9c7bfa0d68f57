"""Classification losses over rows of class scores: cross-entropy from probabilities or logits.

Row losses: each row's loss is a function of the whole row; ``mean`` divides the sum of rows by
N (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import Loss, Param, Prepared, check_same_rows, check_same_shape, format_index, warn
from ._rowblock import softmax_cross_entropy

__all__ = [
    "cross_entropy",
    "log_softmax",
    "softmax",
    "resolve_class_targets",
]

TINY = float(np.finfo(np.float64).tiny)
ROW_SUM_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- numerics


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``z − logsumexp(z)``, shifted by the row maximum so no exp overflows."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(z) / Σ exp(z)``, max-shifted."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


# --------------------------------------------------------------------------- targets


def resolve_class_targets(
    predictions: np.ndarray, targets: np.ndarray, mode: str = "auto"
) -> tuple[np.ndarray, str]:
    """Decide whether ``targets`` are class indices or probability rows and validate them.

    ``auto``: a single column of whole numbers is class indices; an (N × C) array shaped like
    the predictions is probability rows (one-hot or soft). Returns ``(targets, "index"|"prob")``
    with indices as int64.
    """
    if predictions.ndim != 2:
        raise InputError(
            f"needs a matrix of N rows × C classes, got a vector of {len(predictions)} values "
            "(a CSV with one column); give one column per class",
            role="predictions",
        )
    n_classes = predictions.shape[1]
    single_column = targets.ndim == 1 or (targets.ndim == 2 and targets.shape[1] == 1)
    if mode == "auto":
        mode = "prob" if targets.shape == predictions.shape and not (
            n_classes == 1 and _is_whole(targets).all()
        ) else "index"
        if mode == "index" and not single_column:
            check_same_shape(predictions, targets)
    if mode == "prob":
        if single_column and n_classes > 1:
            raise InputError(
                f"--targets prob needs N × C probability rows shaped like the predictions "
                f"{tuple(predictions.shape)}, got shape {tuple(targets.shape)}",
                role="targets",
            )
        check_same_shape(predictions, targets)
        return targets, "prob"
    if not single_column:
        raise InputError(
            f"--targets index needs one column of class indices, got shape {tuple(targets.shape)}",
            role="targets",
        )
    indices = targets.reshape(-1)
    check_same_rows(predictions, indices, names=("predictions", "targets"))
    return _validate_indices(indices, n_classes), "index"


def _is_whole(a: np.ndarray) -> np.ndarray:
    return np.floor(a) == a


def _validate_indices(indices: np.ndarray, n_classes: int) -> np.ndarray:
    fractional = ~_is_whole(indices)
    if fractional.any():
        i = int(np.argmax(fractional))
        raise InputError(
            f"class index {float(indices[i])!r} at {format_index(i)} is not a whole number; class "
            f"indices are integers in [0, {n_classes}) — for probability targets give N × "
            f"{n_classes} rows",
            role="targets",
        )
    negative = indices < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise InputError(
            f"class index {int(indices[i])} at {format_index(i)} is negative; class indices "
            f"run from 0 to {n_classes - 1}",
            role="targets",
        )
    too_big = indices >= n_classes
    if too_big.any():
        i = int(np.argmax(too_big))
        raise InputError(
            f"class index {int(indices[i])} at {format_index(i)} is out of range for "
            f"{n_classes} classes (valid: 0 to {n_classes - 1})",
            role="targets",
        )
    return indices.astype(np.int64)


def _warn_rows_not_summing_to_one(a: np.ndarray, what: str, consequence: str) -> None:
    sums = a.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        warn(
            f"{int(off.sum())} of {len(a)} {what} rows do not sum to 1 (first: row {i} sums "
            f"to {float(sums[i])!r}); {consequence}"
        )


# --------------------------------------------------------------------------- cross-entropy


def prepare_cross_entropy(
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    logits: bool,
    targets_mode: str,
    clip: float,
) -> Prepared:
    """Validate predictions and targets for cross-entropy; warn about what is not an error."""
    t, kind = resolve_class_targets(predictions, targets, targets_mode)
    if not (0.0 < clip < 1.0):
        raise UsageError(f"--clip must lie in (0, 1), got {clip!r}")
    if logits:
        if kind == "prob":
            _warn_rows_not_summing_to_one(
                t, "target", "the gradient takes the general form softmax(z)·Σy − y"
            )
    else:
        outside = (predictions < 0.0) | (predictions > 1.0)
        if outside.any():
            idx = np.argwhere(outside)[0]
            raise InputError(
                f"probabilities must lie in [0, 1], found {float(predictions[tuple(idx)])!r} at "
                f"{format_index(idx)} — pass --logits if these are raw scores",
                role="predictions",
            )
        _warn_rows_not_summing_to_one(predictions, "prediction", "used as given, not renormalised")
        used = _probabilities_in_log(predictions, t, kind)
        clipped = int((used < clip).sum())
        if clipped:
            warn(
                f"clipped {clipped} predicted probabilit{'y' if clipped == 1 else 'ies'} below "
                f"{clip:g} to {clip:g} before taking the log (set the floor with --clip)"
            )
    options = {"logits": logits, "targets_mode": kind, "clip": clip}
    describe = {
        "predictions_are": "logits" if logits else "probabilities",
        "targets_are": "class indices" if kind == "index" else "probability rows",
    }
    return Prepared(predictions, t, options, describe=describe)


def _probabilities_in_log(p: np.ndarray, t: np.ndarray, kind: str) -> np.ndarray:
    """The probabilities whose log enters the loss (those with a non-zero target)."""
    if kind == "index":
        return p[np.arange(len(p)), t]
    return p[t != 0]


def _ce_values_and_grad(
    p: np.ndarray, t: np.ndarray, *, logits: bool, targets_mode: str, clip: float,
    want_grad: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    rows = np.arange(len(p))
    index = targets_mode == "index"
    if logits:
        # Row-blocked and in place: one exp per element gives both log-sum-exp and softmax.
        return softmax_cross_entropy(p, t, index=index, want_grad=want_grad)
    floored = np.maximum(p, clip)
    values = -np.log(floored[rows, t]) if index else -np.einsum("ij,ij->i", t, np.log(floored))
    if not want_grad:
        return values, None
    # d/dp of −y·log(max(p, clip)): −y/p above the floor, 0 below it (as torch.clamp's backward).
    grad = np.zeros_like(p)
    if index:
        p_t = p[rows, t]
        grad[rows, t] = np.where(p_t >= clip, -1.0 / floored[rows, t], 0.0)
    else:
        np.divide(-t, floored, out=grad, where=p >= clip)
    return values, grad


def _ce_values(p: np.ndarray, t: np.ndarray, **options: Any) -> np.ndarray:
    return _ce_values_and_grad(p, t, want_grad=False, **options)[0]


def _ce_grad(p: np.ndarray, t: np.ndarray, **options: Any) -> np.ndarray:
    return _ce_values_and_grad(p, t, **options)[1]


def _ce_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    preds = "classification_logits.csv" if options.get("logits") else "classification_probs.csv"
    return (preds, "classification_labels.csv")


def _prepare(predictions: np.ndarray, target_array: np.ndarray, **options: Any) -> Prepared:
    return prepare_cross_entropy(
        predictions,
        target_array,
        logits=bool(options["logits"]),
        targets_mode=options["target_type"],
        clip=float(options["clip"]),
    )


cross_entropy = Loss(
    name="ce",
    aliases=("cross-entropy",),
    summary="Cross-entropy of probabilities or logits against class indices or probability rows",
    formula="H = −Σ_c y_c log p_c per row; with --logits, log p = log_softmax(z)",
    gradient_formula=(
        "logits: softmax(z)·Σy − y (= softmax(z) − y when target rows sum to 1); "
        "probabilities: −y/p; divided by N for mean"
    ),
    reference="torch.nn.functional.cross_entropy (logits); −Σ y·log(clamp(p, clip)) otherwise",
    values=_ce_values,
    grad_kernel=_ce_grad,
    value_and_grad_kernel=_ce_values_and_grad,
    prepare=_prepare,
    params=(
        Param("logits", bool, False, "Predictions are raw scores (logits), not probabilities."),
        Param(
            "target_type",
            str,
            "auto",
            "Targets are class indices (one column) or probability rows (N × C); auto detects.",
            choices=("auto", "index", "prob"),
            cli_flag="--targets",
        ),
        Param(
            "clip",
            float,
            TINY,
            "Floor for probabilities before the log, so log(0) stays finite (probabilities only; "
            "default: the smallest normal float64, 2.2e-308).",
        ),
    ),
    sample_data=_ce_samples,
    examples=(
        "losscli ce --logits --grad",
        "losscli ce logits.csv labels.csv --logits --check",
        "losscli ce probs.csv onehot.csv --reduction none",
        "losscli ce logits.npy soft.npy --logits --targets prob --format json",
    ),
    doc="""Cross-entropy, as ``torch.nn.functional.cross_entropy``.

Per row: ``H_i = −Σ_c y_ic log p_ic``. With ``logits=True`` the predictions are scores ``z`` and
``log p = log_softmax(z)``, computed with a max shift so logits of ±1e4 stay finite and exact.
Without it the predictions are probabilities in [0, 1]; values below ``clip`` are raised to it
before the log (reported as a warning) so ``log(0)`` never yields inf.

Shapes: ``predictions`` ``(N, C)``; ``targets`` either ``(N,)`` class indices in ``[0, C)`` or
``(N, C)`` probability rows (one-hot or soft). ``mean`` divides the sum of ``H_i`` by N.

Gradient w.r.t. the logits: ``softmax(z)·Σ_c y_c − y`` (``softmax(z) − y`` when each target row
sums to 1); w.r.t. probabilities: ``−y/p`` (0 where ``p < clip``); divided by N under ``mean``.

>>> import losscli
>>> losscli.cross_entropy([[1000.0, 0.0]], [1], logits=True)
1000.0
""",
)
