"""Segmentation losses: soft Dice and Tversky, one value per row (a row is one sample's D
pixels or labels).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import Loss, Param, Prepared, check_class_axis, check_same_shape, check_unit_interval
from ._common import check_option, stable_sigmoid
from .classification import softmax

__all__ = ["dice", "tversky"]


def _classes(a: np.ndarray, classes: int, class_last: bool) -> np.ndarray:
    """Kernel rows as ``(N, C, S)``: a sample's C classes over its S positions. ``classes`` 0
    is the one-class form (a row is one sample's D pixels: ``(N, 1, D)``; a vector is N
    samples of one element each, optax's binary layout)."""
    rows = a.reshape(len(a), -1)
    if not classes:
        return rows[:, None, :]
    if class_last:  # (N, d1, …, dk, C) flattened: the class varies fastest
        return np.swapaxes(rows.reshape(len(a), -1, classes), 1, 2)
    return rows.reshape(len(a), classes, -1)


def _back(g: np.ndarray, p: np.ndarray, classes: int, class_last: bool) -> np.ndarray:
    """``(N, C, S)`` back in the kernel rows' layout (``_classes``' inverse)."""
    if classes and class_last:
        g = np.swapaxes(g, 1, 2)
    return np.ascontiguousarray(g).reshape(p.shape)


def _activate(z: np.ndarray, logits: bool) -> np.ndarray:
    """optax's ``apply_softmax``: softmax over the class axis (1), σ when there is one class."""
    if not logits:
        return z
    return stable_sigmoid(z) if z.shape[1] == 1 else softmax(z)


def _tversky_parts(p, t, *, alpha, beta, smooth, logits, classes=0, class_last=False):
    """(probabilities, targets, numerator, denominator, d denominator/d q), as ``(N, C, S)``
    and ``(N, C, 1)``: per sample and class, numerator I + s and denominator
    I + α(P − I) + β(T − I) + s over the S positions."""
    q = _activate(_classes(p, classes, class_last), logits)
    y = _classes(t, classes, class_last)
    inter = np.einsum("ncs,ncs->nc", q, y)[..., None]
    num = inter + smooth
    den = inter + alpha * (q.sum(axis=2, keepdims=True) - inter)
    den = den + beta * (y.sum(axis=2, keepdims=True) - inter) + smooth
    dden = (1.0 - alpha - beta) * y + alpha
    return q, y, num, den, dden


def tversky_values(
    p, t, *, alpha: float, beta: float, smooth: float, logits: bool, classes=0, class_last=False
) -> np.ndarray:
    """Mean over classes of 1 − (I + s)/(I + α·FP + β·FN + s) per row, I = Σ q·y,
    FP = Σ q(1 − y), FN = Σ (1 − q)y over the row's positions (one class: its D pixels)."""
    _, _, num, den, _ = _tversky_parts(
        p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits, classes=classes,
        class_last=class_last,
    )  # fmt: skip
    return (1.0 - num / den)[..., 0].mean(axis=1)


def tversky_grad(
    p, t, *, alpha: float, beta: float, smooth: float, logits: bool, classes=0, class_last=False
) -> np.ndarray:
    """g = (num·d_j − y_j·den)/(C·den²) w.r.t. the probabilities, d_j = (1 − α − β)y_j + α;
    w.r.t. logits g·q(1 − q) for one class, q_c(g_c − Σ_a q_a g_a) through the softmax."""
    q, y, num, den, dden = _tversky_parts(
        p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits, classes=classes,
        class_last=class_last,
    )  # fmt: skip
    g = (num * dden - y * den) / (np.square(den) * q.shape[1])
    if logits and q.shape[1] == 1:
        g = g * q * (1.0 - q)
    elif logits:
        g = q * (g - np.einsum("ncs,ncs->ns", q, g)[:, None, :])
    return _back(g, p, classes, class_last)


def tversky_hess(
    p, t, *, alpha: float, beta: float, smooth: float, logits: bool, classes=0, class_last=False
) -> np.ndarray:
    """h = 2 d_j (y_j·den − num·d_j)/(C·den³) w.r.t. the probabilities (and g as in
    :func:`tversky_grad`); w.r.t. logits h·(q(1 − q))² + g·q(1 − q)(1 − 2q) for one class, and
    through the softmax (classes at one position share it, a class's dice its positions)
    q_c²h_c(1 − 2q_c) + q_c²·Σ_a q_a²h_a + q_c(1 − 2q_c)(g_c − Σ_a q_a g_a)."""
    q, y, num, den, dden = _tversky_parts(
        p, t, alpha=alpha, beta=beta, smooth=smooth, logits=logits, classes=classes,
        class_last=class_last,
    )  # fmt: skip
    c = q.shape[1]
    g = (num * dden - y * den) / (den * den * c)
    h = 2.0 * dden * (y * den - num * dden) / (den * den * den * c)
    if logits and c == 1:
        s = q * (1.0 - q)
        h = h * s * s + g * s * (1.0 - 2.0 * q)
    elif logits:
        a = np.einsum("ncs,ncs->ns", q * q, h)[:, None, :]
        b = np.einsum("ncs,ncs->ns", q, g)[:, None, :]
        h = q * q * h * (1.0 - 2.0 * q) + q * q * a + q * (1.0 - 2.0 * q) * (g - b)
    return _back(h, p, classes, class_last)


def _prepare(
    predictions, targets, *, alpha, beta, smooth, logits, name, class_axis=None
) -> Prepared:
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
    describe = {"predictions_are": "logits" if logits else "probabilities"}
    if predictions.ndim > 2:  # (N, C, d1, …, dk): one row per sample, its classes kept apart
        check_class_axis(class_axis)
        options["classes"] = int(predictions.shape[class_axis])
        options["class_last"] = class_axis == -1
        describe["classes"] = options["classes"]
        predictions = predictions.reshape(len(predictions), -1)
        targets = targets.reshape(len(targets), -1)
    _, _, _, den, _ = _tversky_parts(predictions, targets, **options)
    if (den <= 0).any():
        i = int(np.argmax((den <= 0).any(axis=(1, 2))))
        raise InputError(
            f"row {i} has a zero denominator I + α·FP + β·FN + s (an empty prediction and "
            f"target?), where {name} is 0/0 — give --smooth > 0 (optax's default is 1)",
            role="predictions",
        )
    return Prepared(predictions, targets, options, describe=describe)


def _prepare_tversky(
    predictions, targets, *, alpha, beta, smooth, logits, class_axis=None
) -> Prepared:
    return _prepare(
        predictions, targets, alpha=alpha, beta=beta, smooth=smooth, logits=logits,
        name="tversky", class_axis=class_axis,
    )  # fmt: skip


def _prepare_dice(predictions, targets, *, smooth, logits, class_axis=None) -> Prepared:
    return _prepare(
        predictions, targets, alpha=0.5, beta=0.5, smooth=smooth, logits=logits, name="dice",
        class_axis=class_axis,
    )  # fmt: skip


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
    "logits",
    bool,
    False,
    "Predictions are raw scores: take σ(z) first; inputs of more than 2 dimensions (N, C, d1, "
    "…): softmax over the class axis, σ when C = 1 (optax's apply_softmax).",
)
CLASS_AXIS = Param(
    "class_axis",
    int,
    1,
    "The class axis of inputs with more than 2 dimensions: 1 for (N, C, d1, …) as torch, "
    "-1 for (N, d1, …, C) as optax and Keras; each class's Dice over the positions, averaged "
    "over the classes (optax's reduction='mean').",
    metavar="AXIS",
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
        CLASS_AXIS,
    ),
    sample_classes=True,
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

Shapes: ``predictions`` and ``targets`` both ``(N, D)`` (or both ``(N,)``), one class of D
pixels; or both ``(N, C, d1, …, dk)`` (``class_axis=1``, torch's layout) or
``(N, d1, …, dk, C)`` (``class_axis=-1``, optax's), targets one-hot (or soft): each class's
loss over the sample's positions, a row's value the mean over its C classes, as
``optax.losses.dice_loss(z, y, alpha=α, beta=β, smooth=s)`` (its ``reduction="mean"`` over
classes); with ``logits=True`` a softmax over the class axis (σ when C = 1), as its
``apply_softmax``.

Gradient w.r.t. the probabilities: ``((I + s)·d_j − y_j·den)/den²`` (over C with classes) with
``den = I + α·FP + β·FN + s`` and ``d_j = (1 − α − β)y_j + α``; w.r.t. logits times
``q(1 − q)``, through the softmax ``q_c(g_c − Σ_a q_a g_a)``; divided by N under ``mean``.
Hessian diagonal: ``2d_j(y_j·den − (I + s)d_j)/den³`` w.r.t. the probabilities (through σ or
the softmax with logits, see :func:`tversky_hess`).

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
    params=(SMOOTH, LOGITS, CLASS_AXIS),
    sample_classes=True,
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
sample); or ``(N, C, d1, …, dk)`` / ``(N, d1, …, dk, C)`` with ``class_axis`` 1 / −1, one-hot
targets: the mean over the C classes of each class's Dice over the positions, softmax over the
class axis with ``logits=True`` (σ when C = 1), as ``optax.losses.dice_loss(z, y)``.

Gradient w.r.t. the probabilities: ``((I + s)/2 − y_j·den)/den²`` with
``den = ½(Σq + Σy) + s`` (over C with classes); w.r.t. logits times ``q(1 − q)``, through the
softmax ``q_c(g_c − Σ_a q_a g_a)``; divided by N under ``mean``.
Hessian diagonal: ``(y_j·den − (I + s)/2)/den³``.

>>> import losscli
>>> losscli.dice([[1.0, 0.0]], [[1.0, 0.0]], smooth=0.0)
0.0
>>> round(losscli.dice([[1.0, 1.0]], [[1.0, 0.0]], smooth=0.0), 12)
0.333333333333
""",
)
