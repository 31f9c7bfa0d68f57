"""Focal and polynomial cross-entropies: sigmoid focal (optax / torchvision), softmax focal
(Keras ``CategoricalFocalCrossentropy``) and poly-1 (optax ``poly_loss_cross_entropy``).

sigmoid-focal is elementwise, like bce with logits; softmax-focal and poly1 are row losses over
the C classes of a row, with class-index or probability-row targets (see
:func:`losscli.losses.classification.resolve_class_targets`). Every kernel returns values, the
gradient and the diagonal of the Hessian of ``values(...).sum()`` w.r.t. the predictions.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import (
    Loss,
    Param,
    Prepared,
    check_same_shape,
    check_unit_interval,
    parse_numbers,
    warn_counted,
)
from .classification import (
    bce_clamps,
    bce_prob_grad,
    bce_prob_hess,
    bce_prob_values,
    check_label_smoothing,
    log_softmax,
    resolve_class_targets,
    sigmoid,
    softmax,
    warn_bce_clamps,
    warn_rows_not_summing_to_one,
)

__all__ = [
    "dense_class_targets",
    "log_sigmoid",
    "poly1",
    "sigmoid_focal",
    "softmax_focal",
]

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), the clip of CategoricalFocalCrossentropy


# --------------------------------------------------------------------------- shared helpers


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """``log σ(z) = min(z, 0) − log1p(e^−|z|)``: the exponent is never positive."""
    return np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))


def check_gamma(gamma: Any) -> float:
    """The focusing exponent γ of a focal loss: finite and ≥ 0."""
    gamma = float(gamma)
    if not (np.isfinite(gamma) and gamma >= 0.0):
        raise UsageError(f"--gamma must be a finite number ≥ 0, got {gamma!r}")
    return gamma


def check_alpha(alpha: Any) -> float | None:
    """The class-balance weight α of a focal loss: None (no weighting) or in [0, 1]."""
    if alpha is None:
        return None
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"--alpha must lie in [0, 1], got {alpha!r}")
    return alpha


def check_finite_option(flag: str, value: Any) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value!r}")
    return value


def dense_class_targets(
    predictions: np.ndarray, targets: np.ndarray, mode: str
) -> tuple[np.ndarray, str]:
    """Targets as dense (N × C) rows: class indices become one-hot rows, probability rows stay.

    Returns ``(rows, "index"|"prob")``; raises on indices out of range, like ce.
    """
    t, kind = resolve_class_targets(predictions, targets, mode)
    if kind == "index":
        dense = np.zeros_like(predictions)
        dense[np.arange(len(t)), t] = 1.0
        return dense, kind
    return t, kind


def _targets_describe(kind: str) -> str:
    return "class indices" if kind == "index" else "probability rows"


TARGETS = Param(
    "target_type",
    str,
    "auto",
    "Targets are class indices (one column) or probability rows (N × C); auto detects.",
    choices=("auto", "index", "prob"),
    cli_flag="--targets",
)
LOGITS = Param("logits", bool, False, "Predictions are raw scores (logits), not probabilities.")
GAMMA = Param(
    "gamma",
    float,
    2.0,
    "Focusing exponent γ ≥ 0 of the factor (1 − p_t)^γ; 0 gives plain cross-entropy.",
)


# --------------------------------------------------------------------------- sigmoid focal


def _sigmoid_focal_parts(z: np.ndarray, y: np.ndarray, alpha: float | None, gamma: float):
    """Pieces shared by the value, gradient and Hessian kernels of the logits form."""
    p = sigmoid(z)
    p_neg = sigmoid(-z)  # 1 − p without cancellation
    ce = np.maximum(z, 0.0) - y * z + np.log1p(np.exp(-np.abs(z)))  # softplus(z) − y·z
    q = (1.0 - y) * p + y * p_neg  # 1 − p_t
    weight = np.power(q, gamma) * _alpha_t(y, alpha)  # 0⁰ = 1, as torch and optax
    s = p * p_neg  # σ'(z)
    # r = σ'(z)/q stays in [0, 1] (q ≥ min(p, 1 − p)); where q underflows to 0 the weight is 0.
    r = np.divide(s, q, out=np.zeros_like(s), where=q > 0)
    return p, ce, weight, s, r, 1.0 - 2.0 * y


def _alpha_t(y: np.ndarray, alpha: float | None) -> np.ndarray | float:
    return 1.0 if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)


def _focal_prob_parts(p: np.ndarray, y: np.ndarray, alpha: float | None, gamma: float):
    """The probability form: ``w = α_t q^γ``, bce (PyTorch's floors) and ``ce/q`` (0 where
    ``q = 0``, i.e. ``p = y`` ∈ {0, 1}, where ``ce`` is 0 too: ``ce/q`` tends to 1 there and
    only enters multiplied by ``q^γ``), ``u = ∂q/∂p = 1 − 2y``."""
    q = (1.0 - y) * p + y * (1.0 - p)
    weight = np.power(q, gamma) * _alpha_t(y, alpha)
    ce = bce_prob_values(p, y)
    ce_q = np.divide(ce, q, out=np.zeros_like(ce), where=q > 0)
    return q, weight, ce, ce_q, 1.0 - 2.0 * y


def _sigmoid_focal_values(z, y, *, logits=True, alpha, gamma):
    if not logits:
        _, weight, ce, *_ = _focal_prob_parts(z, y, alpha, gamma)
        return ce * weight
    _, ce, weight, *_ = _sigmoid_focal_parts(z, y, alpha, gamma)
    return ce * weight


def _sigmoid_focal_grad(z, y, *, logits=True, alpha, gamma):
    if not logits:  # α_t [q^γ ce' + γ q^(γ−1) u ce], ce' as PyTorch's backward
        _, weight, _, ce_q, u = _focal_prob_parts(z, y, alpha, gamma)
        return weight * (bce_prob_grad(z, y) + gamma * u * ce_q) + 0.0
    p, ce, weight, _, r, u = _sigmoid_focal_parts(z, y, alpha, gamma)
    return weight * ((p - y) + gamma * ce * u * r) + 0.0  # + 0.0: no −0.0 where weight is 0


def _sigmoid_focal_hess(z, y, *, logits=True, alpha, gamma):
    if not logits:
        return _focal_prob_hess(z, y, alpha, gamma)
    p, ce, weight, s, r, u = _sigmoid_focal_parts(z, y, alpha, gamma)
    return (
        weight
        * (
            s
            + 2.0 * gamma * (p - y) * u * r
            + gamma * (gamma - 1.0) * ce * (u * r) ** 2
            + gamma * ce * u * (1.0 - 2.0 * p) * r
        )
        + 0.0
    )


def _focal_prob_hess(p, y, alpha, gamma):
    """``α_t [γ(γ − 1) q^(γ−2) u² ce + 2γ q^(γ−1) u ce' + q^γ ce'']``, as ``q^γ`` times ratios
    to ``q`` (0 where ``q = 0``, as PyTorch's autograd of the formula gives for γ ≥ 1)."""
    q, weight, _, ce_q, u = _focal_prob_parts(p, y, alpha, gamma)
    inv_q = np.divide(1.0, q, out=np.zeros_like(q), where=q > 0)
    return (
        weight
        * (
            gamma * (gamma - 1.0) * u * u * ce_q * inv_q
            + 2.0 * gamma * u * bce_prob_grad(p, y) * inv_q
            + bce_prob_hess(p, y)
        )
        + 0.0
    )


def _sigmoid_focal_clamps(p, y, *, logits=True, **_):
    return bce_clamps(p, y, logits=logits)


def _prepare_sigmoid_focal(
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    logits: bool,
    alpha: Any,
    gamma: Any,
    label_smoothing: Any,
) -> Prepared:
    check_same_shape(predictions, targets)
    check_unit_interval(
        targets,
        role="targets",
        what="sigmoid-focal targets",
        fix="they are the probability of the positive class (0 or 1 for hard labels)",
    )
    label_smoothing = check_label_smoothing(float(label_smoothing))
    if not logits:
        check_unit_interval(
            predictions,
            role="predictions",
            what="probabilities",
            fix="pass --logits (the default) if these are raw scores",
        )
    if label_smoothing:  # as Keras's BinaryFocalCrossentropy: towards ½, before everything
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if not logits:
        warn_bce_clamps(predictions, targets)
    options = {
        "logits": bool(logits),
        "alpha": check_alpha(alpha),
        "gamma": check_gamma(gamma),
    }
    describe = {
        "predictions_are": "logits" if logits else "probabilities",
        "gamma": options["gamma"],
    }
    if options["alpha"] is not None:
        describe["alpha"] = options["alpha"]
    if label_smoothing:
        describe["label_smoothing"] = label_smoothing
    return Prepared(predictions, targets, options, describe=describe)


def _binary_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    preds = "binary_logits.csv" if options.get("logits", True) else "binary_probs.csv"
    return (preds, "binary_labels.csv")


sigmoid_focal = Loss(
    name="sigmoid-focal",
    aliases=("focal",),
    summary=(
        "Sigmoid focal loss of logits (or, with --probabilities, probabilities) against binary "
        "(or soft) labels"
    ),
    formula=(
        "α_t · (1 − p_t)^γ · bce(p, y) per element; p = σ(z) (logits, the default) or given "
        "(--probabilities), 1 − p_t = (1 − y)p + y(1 − p)"
    ),
    gradient_formula=(
        "logits: α_t (1 − p_t)^γ [σ(z) − y + γ·bce·(1 − 2y)·σ'(z)/(1 − p_t)]; probabilities: "
        "α_t (1 − p_t)^γ·(bce' + γ·bce·(1 − 2y)/(1 − p_t)), bce' = (p − y)/(p(1 − p)); "
        "divided by N·D for mean"
    ),
    reference=(
        "optax.losses.sigmoid_focal_loss (= torchvision.ops.sigmoid_focal_loss); with "
        "--probabilities, torchvision's formula with torch.nn.functional.binary_cross_entropy"
    ),
    values=_sigmoid_focal_values,
    grad_kernel=_sigmoid_focal_grad,
    hess_kernel=_sigmoid_focal_hess,
    clamps=_sigmoid_focal_clamps,
    prepare=_prepare_sigmoid_focal,
    elementwise=True,
    params=(
        Param(
            "logits",
            bool,
            True,
            "Predictions are logits (the default, as optax and torchvision), or probabilities "
            "in [0, 1] with --probabilities (Keras's from_logits=False).",
            cli_flag="--logits/--probabilities",
        ),
        Param(
            "alpha",
            float,
            None,
            "Weight α in [0, 1] of the positive term (1 − α of the negative); default: no "
            "weighting, as optax (torchvision's default is 0.25: pass --alpha 0.25).",
        ),
        GAMMA,
        Param(
            "label_smoothing",
            float,
            0.0,
            "Pull the labels towards ½ as Keras's BinaryFocalCrossentropy: "
            "y ← (1 − A)·y + A/2, A in [0, 1].",
            metavar="A",
        ),
    ),
    sample_data=_binary_samples,
    examples=(
        "losscli sigmoid-focal logits.csv labels.csv --grad",
        "losscli sigmoid-focal logits.npy labels.npy --alpha 0.25 --gamma 2 --check",
        "losscli sigmoid-focal probs.csv labels.csv --probabilities --label-smoothing 0.1 --grad",
    ),
    example=([[1.5, -0.5], [-2.0, 0.3]], [[1.0, 0.0], [1.0, 1.0]], {"alpha": 0.25}),
    doc="""Sigmoid focal loss, as ``optax.losses.sigmoid_focal_loss`` and
``torchvision.ops.sigmoid_focal_loss`` (Lin et al. 2017), from logits — or, with
``logits=False`` (``--probabilities``), from probabilities, as Keras's
``BinaryFocalCrossentropy(from_logits=False)`` but with PyTorch's bce.

Elementwise, with ``p = σ(z)`` (logits) or ``p`` as given (probabilities), ``ce`` the bce of
``p`` and ``q = 1 − p_t = (1 − y)·p + y·(1 − p)``::

    FL(p, y) = α_t · q^γ · ce,     α_t = α·y + (1 − α)(1 − y)  (1 without --alpha)

From logits ``ce = softplus(z) − y·z`` (bce with logits, exact for any logit). From
probabilities ``ce = −(y log p + (1 − y) log(1 − p))`` as
``torch.nn.functional.binary_cross_entropy``: each log floored at −100 and the gradient's
``p(1 − p)`` at 1e-12 (a warning counts the elements within 1e-12 of 0 or 1 where this acts).
Logits stay the default, as before: a default of probabilities would have read logits that
happen to lie in [0, 1] silently as probabilities.

Labels are 0/1 or soft in [0, 1] (as optax). ``label_smoothing`` ``A`` replaces them by
``(1 − A)·y + A/2`` before anything else (α_t included), as Keras's
``BinaryFocalCrossentropy(label_smoothing=A)``. Shapes: both ``(N,)`` or both ``(N, D)``; a row
is the mean of its D elements and ``mean`` is over all N·D elements (torchvision's
``reduction='mean'``; optax returns the unreduced values, ``--reduction none`` on one column).

Gradient w.r.t. the logits, with ``σ' = p(1 − p)`` and ``r = σ'/q`` (in [0, 1])::

    ∂FL/∂z = α_t q^γ [ (p − y) + γ·ce·(1 − 2y)·r ]

Hessian diagonal::

    α_t q^γ [ σ' + 2γ(p − y)(1 − 2y) r + γ(γ − 1) ce (1 − 2y)² r² + γ ce (1 − 2y)(1 − 2p) r ]

Every term carries ``q^γ``, so nothing divides by 0 when ``q`` underflows.

W.r.t. probabilities, with ``u = 1 − 2y`` and ``ce'``, ``ce''`` bce's derivatives::

    ∂FL/∂p   = α_t q^γ [ ce' + γ u ce/q ]
    ∂²FL/∂p² = α_t q^γ [ ce'' + 2γ u ce'/q + γ(γ − 1) u² ce/q² ]

At ``p = y`` ∈ {0, 1} (``q = 0``, a certain and right prediction) both are 0 for γ > 0, as
PyTorch's autograd of the formula gives there for γ ≥ 1 (its bce gradient is 0 at ``p = y``;
for γ < 1 it gives NaN, and the second derivative of ``q^(1+γ)`` is unbounded).

Defaults: predictions are logits, ``alpha`` None (no weighting, as optax; torchvision's default
is 0.25 and its ``alpha=-1`` means none), ``gamma`` 2, ``label_smoothing`` 0.

>>> import losscli
>>> round(losscli.sigmoid_focal([0.0], [1.0], gamma=2.0), 12)  # 0.5² · log 2
0.17328679514
>>> focal = losscli.sigmoid_focal([0.0], [1.0], gamma=0.0, alpha=0.25)
>>> focal == 0.25 * losscli.bce([0.0], [1.0], logits=True)
True
>>> losscli.sigmoid_focal([0.5], [1.0], logits=False) == losscli.sigmoid_focal([0.0], [1.0])
True
""",
)


# --------------------------------------------------------------------------- softmax focal


def _softmax_focal_parts(p, y, *, logits, alpha, gamma, clip):
    """``o`` (the normalised, clipped probabilities), the clip's derivative ``k`` (1 inside,
    0 outside, ½ on the boundary as jax's clip), and ``φ(o), φ'(o), φ''(o)`` per element with
    ``φ(o) = α·y·(1 − o)^γ·(−log o)``."""
    probs = softmax(p) if logits else p
    total = probs.sum(axis=1, keepdims=True)
    o = probs / total
    lo, hi = clip, 1.0 - clip
    k = np.where((o > lo) & (o < hi), 1.0, np.where((o == lo) | (o == hi), 0.5, 0.0))
    oc = np.clip(o, lo, hi)
    log_o = np.log(oc)
    one_minus = 1.0 - oc
    ay = alpha * y
    phi = ay * np.power(one_minus, gamma) * (0.0 - log_o)
    d1 = ay * (gamma * np.power(one_minus, gamma - 1.0) * log_o - np.power(one_minus, gamma) / oc)
    d2 = ay * (
        (0.0 - gamma * (gamma - 1.0)) * np.power(one_minus, gamma - 2.0) * log_o
        + 2.0 * gamma * np.power(one_minus, gamma - 1.0) / oc
        + np.power(one_minus, gamma) / oc**2
    )
    return o, total, k, phi, d1 * k, d2 * k * k


def _softmax_focal_values(p, y, **options):
    return _softmax_focal_parts(p, y, **options)[3].sum(axis=1)


def _softmax_focal_grad(p, y, *, logits, **options):
    o, total, _, _, g, _ = _softmax_focal_parts(p, y, logits=logits, **options)
    centred = g - (g * o).sum(axis=1, keepdims=True)  # (g_j − Σ g_c o_c): through o = p/Σp
    if logits:  # o = softmax(z): ∂L/∂z_j = o_j (g_j − Σ_c o_c g_c)
        return o * centred + 0.0  # + 0.0: no −0.0
    return centred / total + 0.0


def _softmax_focal_hess(p, y, *, logits, **options):
    o, total, _, _, g, h = _softmax_focal_parts(p, y, logits=logits, **options)
    if logits:
        # Σ_c h_c s_c² (δ_cj − s_j)² + Σ_c g_c s_c (δ_cj − s_j)² − s_j(1 − s_j) Σ_c g_c s_c,
        # with Σ_c A_c (δ_cj − s_j)² = A_j (1 − 2 s_j) + s_j² Σ_c A_c.
        a = h * o**2 + g * o
        s_a = a.sum(axis=1, keepdims=True)
        s_g = (g * o).sum(axis=1, keepdims=True)
        return a * (1.0 - 2.0 * o) + o**2 * s_a - o * (1.0 - o) * s_g + 0.0
    # o = p/S: ∂²L/∂p_j² = [Σ_c h_c (δ_cj − o_c)² − 2 (g_j − Σ_c g_c o_c)] / S²
    s_h = (h * o**2).sum(axis=1, keepdims=True)
    s_g = (g * o).sum(axis=1, keepdims=True)
    return (h * (1.0 - 2.0 * o) + s_h - 2.0 * (g - s_g)) / total**2


def _softmax_focal_kinks(p, y, **options):
    """Rows where a normalised probability with a nonzero target sits exactly on the clip."""
    o, _, k, *_ = _softmax_focal_parts(p, y, **options)
    on_edge = ((k == 0.5) & (y != 0)).any(axis=1, keepdims=True)
    return np.broadcast_to(on_edge, p.shape).copy()


def _parse_alpha(text: str) -> np.ndarray:
    return parse_numbers(text, role="alpha")


def _class_alpha(alpha: Any, n_classes: int) -> float | np.ndarray:
    """One α for every class, or one per class (a list, as Keras's ``alpha``)."""
    if alpha is None:
        raise UsageError("--alpha must be a number in [0, 1] for softmax-focal (Keras: 0.25)")
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    if a.size == 1:
        return check_alpha(float(a[0]))
    if a.size != n_classes:
        raise UsageError(
            f"--alpha has {a.size} values but the predictions have {n_classes} classes "
            "(columns); give one number, or one per class"
        )
    bad = ~((a >= 0.0) & (a <= 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise UsageError(f"--alpha must lie in [0, 1], got {float(a[i])!r} for class {i}")
    return a


def _focal_clipped_text(clip: float, count, total, first, detail) -> str:
    return (
        f"clipped {count} normalised probabilit{'y' if count == 1 else 'ies'} with a nonzero "
        f"target to [{clip:g}, 1 − {clip:g}], as Keras does (its gradient is 0 there; set the "
        "bound with --clip)"
    )


def _prepare_softmax_focal(
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    logits: bool,
    target_type: str,
    alpha: Any,
    gamma: Any,
    clip: Any,
    label_smoothing: Any,
) -> Prepared:
    y, kind = dense_class_targets(predictions, targets, target_type)
    alpha = _class_alpha(alpha, predictions.shape[1])
    clip = float(clip)
    if not 0.0 < clip < 0.5:
        raise UsageError(f"--clip must lie in (0, 0.5), got {clip!r}")
    label_smoothing = check_label_smoothing(float(label_smoothing))
    if kind == "prob":
        check_unit_interval(
            y, role="targets", what="softmax-focal targets", fix="give one-hot or soft rows"
        )
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / predictions.shape[1]
    if not logits:
        check_unit_interval(
            predictions,
            role="predictions",
            what="probabilities",
            fix="pass --logits if these are raw scores",
        )
        zero_rows = predictions.sum(axis=1) == 0
        if zero_rows.any():
            i = int(np.argmax(zero_rows))
            raise InputError(
                f"prediction row {i} sums to 0; Keras divides each row by its sum — give "
                "probabilities, or --logits for raw scores",
                role="predictions",
            )
        warn_rows_not_summing_to_one(
            predictions, "prediction", "divided by their sums first, as Keras does"
        )
    options = {
        "logits": bool(logits),
        "alpha": alpha,
        "gamma": check_gamma(gamma),
        "clip": clip,
    }
    o = _softmax_focal_parts(predictions, y, **options)[0]
    clipped = int((((o < clip) | (o > 1.0 - clip)) & (y != 0)).sum())
    if clipped:
        warn_counted(functools.partial(_focal_clipped_text, clip), clipped)
    describe = {
        "predictions_are": "logits" if logits else "probabilities",
        "targets_are": _targets_describe(kind),
        "alpha": alpha if np.ndim(alpha) == 0 else ", ".join(f"{a:g}" for a in alpha),
        "gamma": options["gamma"],
    }
    if label_smoothing:
        describe["label_smoothing"] = label_smoothing
    return Prepared(predictions, y, options, describe=describe)


def _class_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    preds = "classification_logits.csv" if options.get("logits") else "classification_probs.csv"
    return (preds, "classification_labels.csv")


softmax_focal = Loss(
    name="softmax-focal",
    aliases=("categorical-focal",),
    summary="Softmax (categorical) focal cross-entropy, as Keras CategoricalFocalCrossentropy",
    formula=(
        "Σ_c α·y_c·(1 − o_c)^γ·(−log o_c) per row; o = clip(p/Σp, ε, 1 − ε), "
        "p = softmax(z) with --logits"
    ),
    gradient_formula=(
        "w.r.t. o: φ'_c = α y_c [γ(1 − o_c)^(γ−1) log o_c − (1 − o_c)^γ/o_c] (0 where clipped); "
        "probabilities: (φ'_j − Σ_c φ'_c o_c)/Σp; logits: o_j (φ'_j − Σ_c φ'_c o_c); "
        "divided by N for mean"
    ),
    reference="keras.losses.CategoricalFocalCrossentropy (categorical_focal_crossentropy)",
    values=_softmax_focal_values,
    grad_kernel=_softmax_focal_grad,
    hess_kernel=_softmax_focal_hess,
    kinks=_softmax_focal_kinks,
    prepare=_prepare_softmax_focal,
    params=(
        LOGITS,
        TARGETS,
        Param(
            "alpha",
            str,
            0.25,
            "Weight α in [0, 1] of every class (Keras's default 0.25), or one per class as a "
            "comma list (0.25,0.5,1) or a file of C numbers, as Keras's list alpha.",
            parse=_parse_alpha,
            metavar="A",
        ),
        GAMMA,
        Param(
            "clip",
            float,
            KERAS_EPSILON,
            "Normalised probabilities are clipped to [ε, 1 − ε] before the log, as Keras "
            "(keras.backend.epsilon() = 1e-7); ε in (0, 0.5).",
            metavar="EPS",
        ),
        Param(
            "label_smoothing",
            float,
            0.0,
            "Mix the targets with the uniform distribution: y ← (1 − A)·y + A/C, A in [0, 1].",
            metavar="A",
        ),
    ),
    sample_data=_class_samples,
    examples=(
        "losscli softmax-focal probs.csv labels.csv --grad",
        "losscli softmax-focal logits.csv onehot.csv --logits --gamma 1 --check",
    ),
    example=([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], [0, 1], {"logits": True}),
    doc="""Softmax focal cross-entropy, as ``keras.losses.CategoricalFocalCrossentropy``
(``categorical_focal_crossentropy``) with its default ``sum_over_batch_size`` reduction.

Per row, with ``o = clip(p / Σ_c p_c, ε, 1 − ε)`` (``p = softmax(z)`` with ``logits=True``)::

    L_i = Σ_c α · y_ic · (1 − o_ic)^γ · (−log o_ic)

Keras divides each row by its sum and clips at ``ε = keras.backend.epsilon() = 1e-7`` even
after a softmax: a normalised probability below 1e-7 (or above 1 − 1e-7) costs as if it were
1e-7 and has gradient 0 (losscli warns how many elements this touches). ``α`` (default 0.25)
scales every class alike; ``γ`` (default 2) is the focusing exponent. Targets: ``(N,)`` class
indices (one-hot rows) or ``(N, C)`` probability rows; ``label_smoothing`` as Keras. Shapes:
``predictions`` ``(N, C)``; ``mean`` divides by N.

Gradient: with ``φ(o) = α y (1 − o)^γ (−log o)``, ``g = φ'(o)`` (0 where clipped) and
``ḡ = Σ_c g_c o_c``: w.r.t. probabilities ``(g_j − ḡ)/Σp``; w.r.t. logits ``o_j (g_j − ḡ)``.
Hessian diagonal: probabilities ``[h_j(1 − 2o_j) + Σ_c h_c o_c² − 2(g_j − ḡ)]/(Σp)²``; logits
``a_j(1 − 2o_j) + o_j² Σ_c a_c − o_j(1 − o_j) ḡ`` with ``a = h o² + g o``, ``h = φ''(o)``.

>>> import losscli
>>> round(losscli.softmax_focal([[0.5, 0.5]], [0]), 12)  # 0.25 · 0.5² · log 2
0.043321698785
""",
)


# --------------------------------------------------------------------------- poly-1


def _poly1_parts(z, y, epsilon):
    ls = log_softmax(z)
    s = np.exp(ls)
    ys = (y * s).sum(axis=1, keepdims=True)  # ⟨y, s⟩
    return ls, s, ys, y.sum(axis=1, keepdims=True)


def _poly1_values(z, y, *, epsilon):
    ls, s, ys, sy = _poly1_parts(z, y, epsilon)
    ce = 0.0 - (y * ls).sum(axis=1)
    return ce + epsilon * (sy - ys)[:, 0]  # Σ_c y_c (1 − s_c) = Σy − ⟨y, s⟩


def _poly1_grad(z, y, *, epsilon):
    _, s, ys, sy = _poly1_parts(z, y, epsilon)
    return s * sy - y - epsilon * s * (y - ys)


def _poly1_hess(z, y, *, epsilon):
    _, s, ys, sy = _poly1_parts(z, y, epsilon)
    return s * (1.0 - s) * sy - epsilon * s * (1.0 - 2.0 * s) * (y - ys)


def _prepare_poly1(
    predictions: np.ndarray, targets: np.ndarray, *, target_type: str, epsilon: Any
) -> Prepared:
    y, kind = dense_class_targets(predictions, targets, target_type)
    if kind == "prob":
        check_unit_interval(
            y, role="targets", what="poly1 targets", fix="give one-hot or soft rows"
        )
    epsilon = check_finite_option("--epsilon", epsilon)
    describe = {
        "predictions_are": "logits",
        "targets_are": _targets_describe(kind),
        "epsilon": epsilon,
    }
    return Prepared(predictions, y, {"epsilon": epsilon}, describe=describe)


def _logit_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_logits.csv", "classification_labels.csv")


poly1 = Loss(
    name="poly1",
    aliases=("poly-1",),
    summary="Poly-1 cross-entropy of logits: cross-entropy + ε·(1 − p_t)",
    formula="−Σ_c y_c log s_c + ε·Σ_c y_c (1 − s_c) per row, s = softmax(z)",
    gradient_formula="s·Σy − y − ε·s·(y − ⟨y, s⟩); divided by N for mean",
    reference="optax.losses.poly_loss_cross_entropy",
    values=_poly1_values,
    grad_kernel=_poly1_grad,
    hess_kernel=_poly1_hess,
    prepare=_prepare_poly1,
    params=(
        TARGETS,
        Param(
            "epsilon",
            float,
            2.0,
            "Coefficient ε of the first polynomial term (1 − p_t); optax's default 2.0, the "
            "paper suggests −1 for detection.",
            metavar="EPS",
        ),
    ),
    sample_data=_logit_samples,
    examples=(
        "losscli poly1 logits.csv labels.csv --grad",
        "losscli poly1 logits.npy soft.npy --targets prob --epsilon -1 --check",
    ),
    example=([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], [0, 1], {}),
    doc="""Poly-1 cross-entropy (Leng et al. 2022), as ``optax.losses.poly_loss_cross_entropy``.

Per row, with ``s = softmax(z)``::

    L_i = −Σ_c y_c log s_c + ε · Σ_c y_c (1 − s_c)

(``Σ_c y_c(1 − s_c) = 1 − p_t`` for one-hot targets). Logits only, as optax. Targets: ``(N,)``
class indices or ``(N, C)`` probability rows. ``mean`` divides by N (optax returns the
per-row values: ``--reduction none``).

Gradient: ``s_j Σy − y_j − ε s_j (y_j − ⟨y, s⟩)``. Hessian diagonal:
``s_j (1 − s_j) Σy − ε s_j (1 − 2 s_j)(y_j − ⟨y, s⟩)``.

>>> import losscli, math
>>> losscli.poly1([[0.0, 0.0]], [0], epsilon=2.0) == math.log(2) + 1.0
True
""",
)
