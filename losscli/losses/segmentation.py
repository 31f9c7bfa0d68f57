"""Segmentation losses: soft Dice and Tversky, one value per row (a row is one sample's D
pixels or labels).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import Loss, Param, Prepared, check_same_shape, check_unit_interval
from ._common import check_option

__all__ = ["dice", "tversky"]


def _rows(a: np.ndarray) -> np.ndarray:
    """A vector is N samples of one element each (optax's binary layout)."""
    return a.reshape(len(a), -1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tversky_parts(p, t, *, alpha, beta, smooth, logits):
    """(probabilities, targets, numerator, denominator, d denominator/d p) per row, with
    numerator I + s and denominator I + α(P − I) + β(T − I) + s."""
    q = _sigmoid(p) if logits else p
    q, y = _rows(q), _rows(t)
    inter = np.einsum("ij,ij->i", q, y)
    num = inter + smooth
    den = inter + alpha * (q.sum(axis=1) - inter) + beta * (y.sum(axis=1) - inter) + smooth
    dden = (1.0 - alpha - beta) * y + alpha
    return q, y, num, den, dden


def tversky_values(p, t, *, alpha: float, beta: float, smooth: float, logits: bool) -> np.ndarray:
    """1 − (I + s)/(I + α·FP + β·FN + s) per row, I = Σ q·y, FP = Σ q(1 − y), FN = Σ (1 − q)y."""
    _, _, num, den, _ = _tversky_parts(p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits)
    return 1.0 - num / den


def tversky_grad(p, t, *, alpha: float, beta: float, smooth: float, logits: bool) -> np.ndarray:
    """(num·d_j − y_j·den)/den² w.r.t. the probabilities, d_j = (1 − α − β)y_j + α; times
    q(1 − q) w.r.t. logits."""
    q, y, num, den, dden = _tversky_parts(
        p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits
    )
    g = (num[:, None] * dden - y * den[:, None]) / np.square(den)[:, None]
    if logits:
        g = g * q * (1.0 - q)
    return g.reshape(p.shape)


def tversky_hess(p, t, *, alpha: float, beta: float, smooth: float, logits: bool) -> np.ndarray:
    """2 d_j (y_j·den − num·d_j)/den³ w.r.t. the probabilities; w.r.t. logits
    h·(q(1 − q))² + g·q(1 − q)(1 − 2q)."""
    q, y, num, den, dden = _tversky_parts(
        p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits
    )
    n, d = num[:, None], den[:, None]
    g = (n * dden - y * d) / (d * d)
    h = 2.0 * dden * (y * d - n * dden) / (d * d * d)
    if logits:
        s = q * (1.0 - q)
        h = h * s * s + g * s * (1.0 - 2.0 * q)
    return h.reshape(p.shape)


def _prepare(predictions, targets, *, alpha, beta, smooth, logits, name) -> Prepared:
    alpha = check_option("alpha", alpha, low=0.0)
    beta = check_option("beta", beta, low=0.0)
    smooth = check_option("smooth", smooth, low=0.0)
    check_same_shape(predictions, targets)
    check_unit_interval(
        targets, role="targets", what=f"{name} targets", fix="they are masks: 0 or 1 (or soft)"
    )
    if not logits:
        check_unit_interval(
            predictions,
            role="predictions",
            what="probabilities",
            fix="pass --logits if these are raw scores",
        )
    options = {"alpha": alpha, "beta": beta, "smooth": smooth, "logits": bool(logits)}
    _, _, _, den, _ = _tversky_parts(predictions, targets, **options)
    if (den <= 0).any():
        i = int(np.argmax(den <= 0))
        raise InputError(
            f"row {i} has a zero denominator I + α·FP + β·FN + s (an empty prediction and "
            f"target?), where {name} is 0/0 — give --smooth > 0 (optax's default is 1)",
            role="predictions",
        )
    describe = {"predictions_are": "logits" if logits else "probabilities"}
    return Prepared(predictions, targets, options, describe=describe)


def _prepare_tversky(predictions, targets, *, alpha, beta, smooth, logits) -> Prepared:
    return _prepare(
        predictions, targets, alpha=alpha, beta=beta, smooth=smooth, logits=logits, name="tversky"
    )


def _prepare_dice(predictions, targets, *, smooth, logits) -> Prepared:
    return _prepare(
        predictions, targets, alpha=0.5, beta=0.5, smooth=smooth, logits=logits, name="dice"
    )


def _samples(options) -> tuple[str, str]:
    preds = "binary_logits.csv" if options.get("logits") else "binary_probs.csv"
    return (preds, "binary_labels.csv")


SMOOTH = Param(
    "smooth",
    float,
    1.0,
    "Added to numerator and denominator (≥ 0), as optax's smooth; Keras's Dice has none.",
)
LOGITS = Param(
    "logits", bool, False, "Predictions are raw scores: take σ(z) first (optax's apply_softmax)."
)

tversky = Loss(
    name="tversky",
    summary="Tversky loss per sample: Dice with false positives weighted α, false negatives β",
    formula="mean over rows of 1 − (I + s)/(I + α·FP + β·FN + s), I = Σ p·y",
    gradient_formula=(
        "((I + s)·d_j − y_j·den)/den² per row, d_j = (1 − α − β)y_j + α; ×σ'(z) with --logits; "
        "divided by N for mean"
    ),
    reference=(
        "optax.losses.dice_loss(p[..., None], y[..., None], alpha=α, beta=β, smooth=s); "
        "keras.losses.Tversky swaps α and β"
    ),
    values=tversky_values,
    grad_kernel=tversky_grad,
    hess_kernel=tversky_hess,
    prepare=_prepare_tversky,
    params=(
        Param("alpha", float, 0.5, "Weight of false positives Σ p(1 − y) (≥ 0), as optax."),
        Param("beta", float, 0.5, "Weight of false negatives Σ (1 − p)y (≥ 0), as optax."),
        SMOOTH,
        LOGITS,
    ),
    sample_data=_samples,
    examples=(
        "losscli tversky probs.csv masks.csv --alpha 0.3 --beta 0.7 --grad",
        "losscli tversky logits.npy masks.npy --logits --smooth 0",
    ),
    example=(
        [[0.9, 0.2, 0.6], [0.4, 0.7, 0.1]],
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
        {"alpha": 0.3, "beta": 0.7},
    ),
    doc="""Tversky loss, as ``optax.losses.dice_loss`` with ``alpha`` and ``beta`` for one class.

Per row i (a sample of D pixels or labels, probabilities q and targets y in [0, 1]):
``1 − (I + s)/(I + α·FP + β·FN + s)`` with ``I = Σ_j q_j y_j``, ``FP = Σ q_j(1 − y_j)``,
``FN = Σ (1 − q_j)y_j``; α = β = ½ is the Dice loss. ``smooth`` s (default 1, as optax)
avoids 0/0 on empty masks. With ``logits=True`` the predictions are raw scores and
``q = σ(z)`` (optax's ``apply_softmax`` on a single channel). A vector input is N samples of
one element each. ``mean`` is over the N rows.

optax: ``dice_loss(p[..., None], y[..., None], alpha=α, beta=β, smooth=s)`` on logits gives the
N row values. Keras's ``keras.losses.Tversky(alpha, beta)`` weights ``Σ y(1 − q)`` (false
negatives) by its ``alpha`` despite its docs, has no smoothing and adds ``1e-7`` to the
denominator: it is losscli's ``alpha=its beta, beta=its alpha, smooth=0`` up to that 1e-7,
with ``axis=1`` for one value per sample (its default, ``axis=None``, pools the whole batch).

Shapes: ``predictions`` and ``targets`` both ``(N, D)`` (or both ``(N,)``).

Gradient w.r.t. the probabilities: ``((I + s)·d_j − y_j·den)/den²`` with
``den = I + α·FP + β·FN + s`` and ``d_j = (1 − α − β)y_j + α``; w.r.t. logits times
``q(1 − q)``; divided by N under ``mean``. Hessian diagonal: ``2d_j(y_j·den − (I + s)d_j)/den³``
w.r.t. the probabilities (through σ with logits).

>>> import losscli
>>> losscli.tversky([[1.0, 0.0]], [[1.0, 0.0]], smooth=0.0)
0.0
>>> round(losscli.tversky([[1.0, 1.0]], [[1.0, 0.0]], alpha=1.0, beta=0.0, smooth=0.0), 12)
0.5
""",
)

dice = Loss(
    name="dice",
    summary="Soft Dice loss per sample: 1 − (I + s)/(½(Σp + Σy) + s)",
    formula="mean over rows of 1 − (I + s)/(½(Σp + Σy) + s), I = Σ p·y",
    gradient_formula=(
        "((I + s)/2 − y_j·den)/den² per row, den = ½(Σp + Σy) + s; ×σ'(z) with --logits; "
        "divided by N for mean"
    ),
    reference=(
        "optax.losses.dice_loss(p[..., None], y[..., None], smooth=s); keras.losses.Dice "
        "with --smooth 0 (up to its 1e-7)"
    ),
    values=tversky_values,
    grad_kernel=tversky_grad,
    hess_kernel=tversky_hess,
    prepare=_prepare_dice,
    params=(SMOOTH, LOGITS),
    sample_data=_samples,
    examples=(
        "losscli dice probs.csv masks.csv --grad",
        "losscli dice logits.npy masks.npy --logits --smooth 0",
    ),
    example=([[0.9, 0.2, 0.6], [0.4, 0.7, 0.1]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], {}),
    doc="""Soft Dice loss, as ``optax.losses.dice_loss`` for one class (``tversky`` with
α = β = ½).

Per row i (a sample of D pixels or labels, probabilities q and targets y in [0, 1]):
``1 − (I + s)/(½(Σq + Σy) + s)`` with ``I = Σ_j q_j y_j`` — the usual
``1 − (2I + 2s)/(Σq + Σy + 2s)``. ``smooth`` s (default 1, as optax) avoids 0/0 on empty masks.
With ``logits=True``, ``q = σ(z)``. ``mean`` is over the N rows. Keras's ``keras.losses.Dice``
is ``1 − 2I/(Σq + Σy + 1e-7)``: losscli's with ``smooth=0`` up to that 1e-7, per sample with
``axis=1`` (its default pools the whole batch).

Shapes: ``predictions`` and ``targets`` both ``(N, D)`` (or both ``(N,)``, one element per
sample).

Gradient w.r.t. the probabilities: ``((I + s)/2 − y_j·den)/den²`` with
``den = ½(Σq + Σy) + s``; w.r.t. logits times ``q(1 − q)``; divided by N under ``mean``.
Hessian diagonal: ``(y_j·den − (I + s)/2)/den³``.

>>> import losscli
>>> losscli.dice([[1.0, 0.0]], [[1.0, 0.0]], smooth=0.0)
0.0
>>> round(losscli.dice([[1.0, 1.0]], [[1.0, 0.0]], smooth=0.0), 12)
0.333333333333
""",
)
