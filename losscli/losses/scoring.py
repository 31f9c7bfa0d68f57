"""Proper scoring rules and sparse losses: the Brier score (scikit-learn ``brier_score_loss``)
and the sparsemax loss (optax ``sparsemax_loss`` / ``multiclass_sparsemax_loss``).

Both are row losses: a vector (or one column) of predictions is the binary form, one value per
row; an (N × C) matrix, C ≥ 2, is the multi-class form with class-index or probability-row
targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import Loss, Param, Prepared, check_same_shape, check_unit_interval, format_index
from .classification import warn_rows_not_summing_to_one
from .focal import TARGETS, dense_class_targets

__all__ = ["brier", "sparsemax", "sparsemax_loss"]


def _is_binary_form(predictions: np.ndarray) -> bool:
    return predictions.ndim == 1 or predictions.shape[1] == 1


def _check_zero_one(targets: np.ndarray, *, loss: str) -> None:
    bad = (targets != 0.0) & (targets != 1.0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InputError(
            f"{loss} labels of the binary form are 0 or 1, found {float(targets[tuple(idx)])!r} "
            f"at {format_index(idx)} (for C classes give an N × C matrix of predictions)",
            role="targets",
        )


def _prepare_class_form(
    predictions: np.ndarray, targets: np.ndarray, target_type: str, *, loss: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Targets for the binary form (checked 0/1, shaped like the predictions) or the
    multi-class form (dense rows); and the facts for the report."""
    if _is_binary_form(predictions):
        if target_type == "prob":
            raise InputError(
                f"--targets prob needs N × C predictions, C ≥ 2; these {len(predictions)} "
                f"predictions are one column (the binary form of {loss})",
                role="predictions",
            )
        t = targets.reshape(predictions.shape) if targets.size == predictions.size else targets
        check_same_shape(predictions, t)
        _check_zero_one(t, loss=loss)
        return t, {"form": "binary", "targets_are": "0/1 labels"}
    y, kind = dense_class_targets(predictions, targets, target_type)
    if kind == "prob":
        check_unit_interval(y, role="targets", what=f"{loss} targets", fix="give one-hot rows")
    form = {"form": "multi-class"}
    form["targets_are"] = "class indices" if kind == "index" else "probability rows"
    return y, form


# --------------------------------------------------------------------------- brier


def _brier_factor(p: np.ndarray, scale_by_half: str) -> float:
    """sklearn's ``scale_by_half``: 'auto' halves the binary form and C = 2, not C ≥ 3."""
    if scale_by_half == "auto":
        return 0.5 if _is_binary_form(p) or p.shape[1] < 3 else 1.0
    return 0.5 if scale_by_half == "true" else 1.0


def _brier_scale(p: np.ndarray, scale_by_half: str) -> float:
    # The binary form counts both columns [1 − p, p] as sklearn does: 2·(p − y)².
    return _brier_factor(p, scale_by_half) * (2.0 if _is_binary_form(p) else 1.0)


def _brier_values(p, y, *, scale_by_half):
    sq = (p - y) ** 2
    rows = sq if sq.ndim == 1 else sq.sum(axis=1)
    return _brier_scale(p, scale_by_half) * rows


def _brier_grad(p, y, *, scale_by_half):
    return 2.0 * _brier_scale(p, scale_by_half) * (p - y)


def _brier_hess(p, y, *, scale_by_half):
    return np.full_like(p, 2.0 * _brier_scale(p, scale_by_half))


def _prepare_brier(
    predictions: np.ndarray, targets: np.ndarray, *, target_type: str, scale_by_half: str
) -> Prepared:
    check_unit_interval(
        predictions,
        role="predictions",
        what="brier predictions",
        fix="they are predicted probabilities (apply a sigmoid or softmax to raw scores)",
    )
    y, describe = _prepare_class_form(predictions, targets, target_type, loss="brier")
    if describe["form"] == "multi-class":
        warn_rows_not_summing_to_one(predictions, "prediction", "used as given")
    describe["scale"] = _brier_factor(predictions, scale_by_half)
    return Prepared(predictions, y, {"scale_by_half": scale_by_half}, describe=describe)


def _brier_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_probs.csv", "classification_labels.csv")


brier = Loss(
    name="brier",
    aliases=("brier-score",),
    summary="Brier score: squared error of predicted probabilities, binary or multi-class",
    formula=(
        "binary (one column): (p − y)²; C classes: Σ_c (p_c − y_c)² per row, halved for C = 2 "
        "(sklearn's scale_by_half='auto')"
    ),
    gradient_formula=(
        "2·(p − y) times the row's scale (1 or ½; 2 for the binary form); ÷ N for mean"
    ),
    reference="sklearn.metrics.brier_score_loss",
    values=_brier_values,
    grad_kernel=_brier_grad,
    hess_kernel=_brier_hess,
    hess_note="constant: 2 (binary form), 2 (C ≥ 3) or 1 (C = 2) before the reduction",
    prepare=_prepare_brier,
    params=(
        TARGETS,
        Param(
            "scale_by_half",
            str,
            "auto",
            "Halve the score (sklearn's scale_by_half): auto halves binary and 2-class inputs, "
            "not C ≥ 3.",
            choices=("auto", "true", "false"),
        ),
    ),
    sample_data=_brier_samples,
    examples=(
        "losscli brier probs.csv labels.csv",
        "losscli brier p_positive.csv labels01.csv --sample-weights w.csv",
    ),
    example=([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], [0, 2], {}),
    doc="""Brier score, as ``sklearn.metrics.brier_score_loss`` (scikit-learn ≥ 1.7).

Binary form (predictions a vector or one column of P(positive), labels 0/1): sklearn expands
``p`` to the two columns ``[1 − p, p]``, sums the squared errors (``2(p − y)²``) and, with
``scale_by_half='auto'``, halves them: each row is ``(p − y)²``, the textbook Brier score.

Multi-class form (``(N, C)`` probability rows, C ≥ 2, targets ``(N,)`` class indices or
``(N, C)`` rows): each row is ``Σ_c (p_c − y_c)²``, in [0, 2]; ``auto`` halves it for C = 2
only (so a 2-column input equals the binary form), not for C ≥ 3, as sklearn.
``scale_by_half`` ``true``/``false`` forces it. ``mean`` divides by N; sample weights give
sklearn's weighted ``np.average``.

Gradient ``2·k·(p − y)`` and Hessian diagonal ``2k``, ``k`` the row's scale (2·½ = 1 for the
binary form under auto).

>>> import losscli
>>> losscli.brier([0.1, 0.9, 0.8, 0.3], [0, 1, 1, 0])  # sklearn's doc example (sklearn: the same)
0.03749999999999999
""",
)


# --------------------------------------------------------------------------- sparsemax


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection of ``z`` onto the probability simplex (Martins & Astudillo
    2016): ``max(z − τ, 0)`` with τ such that each row sums to 1."""
    zs = -np.sort(-z, axis=1)
    cs = np.cumsum(zs, axis=1)
    k = np.arange(1, z.shape[1] + 1)
    support = (1.0 + k * zs > cs).sum(axis=1)  # the condition holds on a prefix
    tau = (cs[np.arange(len(z)), support - 1] - 1.0) / support
    return np.maximum(z - tau[:, None], 0.0)


def _sparse_plus_parts(z, y):
    sign = np.where(y != 0, -1.0, 1.0)
    x = sign * z
    inside = (x > -1.0) & (x < 1.0)
    return sign, x, inside


def _sparsemax_values(z, y):
    if _is_binary_form(z):
        _, x, inside = _sparse_plus_parts(z, y)
        v = np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0))
        return v.reshape(len(z))
    p = sparsemax(z)
    sy = y.sum(axis=1)
    # any reference r gives the same value; r = ⟨y, z⟩/Σy is z_y for one-hot rows, as optax
    r = np.where(sy > 0, (y * z).sum(axis=1) / np.where(sy > 0, sy, 1.0), z.max(axis=1))
    zr = z - r[:, None]
    return (
        ((p - y) * zr).sum(axis=1)
        + r * (1.0 - sy)
        + 0.5 * ((y * y).sum(axis=1) - (p * p).sum(axis=1))
    )


def _sparsemax_grad(z, y):
    if _is_binary_form(z):
        sign, x, inside = _sparse_plus_parts(z, y)
        slope = np.where(x >= 1.0, 1.0, np.where(inside, (x + 1.0) / 2.0, 0.0))
        return sign * slope + 0.0  # + 0.0: no −0.0
    return sparsemax(z) - y


def _sparsemax_hess(z, y):
    if _is_binary_form(z):
        return np.where(_sparse_plus_parts(z, y)[2], 0.5, 0.0)
    support = sparsemax(z) > 0
    size = support.sum(axis=1, keepdims=True)
    return support * (1.0 - 1.0 / size)


def _prepare_sparsemax(predictions: np.ndarray, targets: np.ndarray, *, target_type: str):
    y, describe = _prepare_class_form(predictions, targets, target_type, loss="sparsemax")
    describe["predictions_are"] = "logits"
    return Prepared(predictions, y, {}, describe=describe)


def _sparsemax_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_logits.csv", "classification_labels.csv")


sparsemax_loss = Loss(
    name="sparsemax",
    aliases=("sparsemax-loss",),
    summary="Sparsemax loss of scores: multi-class (C columns) or binary (one column)",
    formula=(
        "C classes: ⟨p − y, z⟩ + ½(‖y‖² − ‖p‖²) per row, p = sparsemax(z); "
        "binary: sparse_plus(±z) (− for y = 1)"
    ),
    gradient_formula="sparsemax(z) − y (binary: ±sparse_plus'); divided by N for mean",
    reference="optax.losses.multiclass_sparsemax_loss (binary: optax.losses.sparsemax_loss)",
    values=_sparsemax_values,
    grad_kernel=_sparsemax_grad,
    hess_kernel=_sparsemax_hess,
    hess_note=(
        "piecewise constant: 1 − 1/|S| on the support S of sparsemax(z), 0 off it (binary: ½ "
        "for |z| < 1); it jumps where the support changes"
    ),
    prepare=_prepare_sparsemax,
    params=(TARGETS,),
    sample_data=_sparsemax_samples,
    examples=(
        "losscli sparsemax scores.csv labels.csv --grad",
        "losscli sparsemax scores.npy soft.npy --targets prob --check",
    ),
    example=([[2.0, 1.5, -1.0], [0.5, 0.8, 3.0]], [0, 1], {}),
    doc="""Sparsemax loss, as ``optax.losses.multiclass_sparsemax_loss`` (Martins & Astudillo
2016; the Fenchel–Young loss of the Gini entropy).

Multi-class form (``(N, C)`` scores, C ≥ 2): with ``p = sparsemax(z)``, the Euclidean
projection of ``z`` onto the simplex, each row is ``⟨p − y, z⟩ + ½(‖y‖² − ‖p‖²)``; for a class
index ``y`` that is optax's ``⟨p, z − z_y⟩ + ½(1 − ‖p‖²)``. Probability-row targets use the
same Fenchel–Young form (0 exactly when ``p = y``).

Binary form (a vector or one column, labels 0/1): ``optax.losses.sparsemax_loss``,
``sparse_plus(−z)`` for ``y = 1`` and ``sparse_plus(z)`` for ``y = 0``, where
``sparse_plus(x)`` is 0 for ``x ≤ −1``, ``(x + 1)²/4`` between, ``x`` for ``x ≥ 1``.

Gradient: ``sparsemax(z) − y`` (binary: ``±sparse_plus'(±z)``). The loss is differentiable
everywhere. Hessian diagonal: ``1 − 1/|S|`` on the support ``S`` of ``sparsemax(z)``, 0 off it
(the diagonal of sparsemax's Jacobian ``diag(s) − s sᵀ/|S|``); binary: ½ for ``|z| < 1``, else 0.
It jumps where the support changes.

>>> import losscli
>>> losscli.sparsemax_loss([[1.0, 0.0]], [0])  # p = [1, 0]: a perfect fit
0.0
""",
)
