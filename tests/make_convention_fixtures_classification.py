"""Write tests/fixtures/conventions_classification.json: what each framework itself reports for
the focal, Dice/Tversky, hinge-family and TF1 cosine losses (``--convention``, issue 10).

Every expected value comes from the call named in its case, in float64: Keras 3
(``KERAS_BACKEND=jax``, floatx float64), optax (``jax_enable_x64``), TensorFlow's
``tf.compat.v1.losses`` and scikit-learn. torchvision is not installed here, so its
``sigmoid_focal_loss`` is written out below in torch ops, line for line from
``torchvision/ops/focal_loss.py`` (the case names say so). Two references are float32-precise
whatever the input dtype, and their cases say so (``"float32_reference": true``, compared at
rtol 1e-6; every other case at 1e-12): TF1's ``hinge_loss`` and ``cosine_distance`` cast to
float32, and Keras's ``ops.mean`` (the last-axis mean of ``binary_focal_crossentropy``)
computes in float32 — so each Keras binary-focal case is also recorded with that one mean
done in float64 (``keras.ops.mean`` replaced, named in the case), to check the elementwise
formula at 1e-12. To regenerate::

    pip install keras jax optax tensorflow-cpu scikit-learn torch
    python tests/make_convention_fixtures_classification.py

Deterministic: the inputs are fixed below, so a rerun writes the same file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import convention_frameworks  # noqa: F401  first: sets the environment jax, keras and TF read
import jax.numpy as jnp
import keras
import numpy as np
import optax
import sklearn.metrics as skm
import tensorflow as tf
import torch
import torch.nn.functional as F
from convention_frameworks import (
    CLS_P,
    CLS_SOFT,
    KERAS_REDUCTIONS,
    REDUCTIONS,
    WEIGHTS,
    fixture_case,
    float64_keras_mean,
    reduced,
    tf1_reductions,
    write_fixture,
)

OUT = Path(__file__).parent / "fixtures" / "conventions_classification.json"
tf1 = tf.compat.v1.losses
TF1_REDUCTIONS = tf1_reductions()

# logits: moderate ones, and 9.5 / −9 whose σ is within 1e-4 of 0 or 1
BIN_Z = np.array(
    [[1.2, -0.7, 2.5], [-1.9, 0.3, 9.5], [0.05, -2.2, 1.1], [3.1, -9.0, -0.4], [-0.6, 1.7, 0.0]]
)
BIN_T = np.array(
    [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
)
SOFT_T = np.array(
    [[0.9, 0.1, 1.0], [0.0, 0.7, 0.2], [1.0, 0.5, 0.0], [0.3, 0.0, 1.0], [1.0, 0.0, 0.6]]
)
# Keras clips σ(z) at 1 − 1e-7 in its bce: a logit of 20 with label 0 costs −log(1e-7)·σ(20)^γ
CLIP_Z = np.array([[20.0, -1.0], [0.5, -17.0], [-2.0, 1.0]])
CLIP_T = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
CLS_Z = np.array(
    [
        [1.3, -0.4, 0.2, 2.1],
        [-1.1, 0.6, -2.3, 0.9],
        [0.0, 3.2, -0.5, 0.4],
        [-0.8, -0.8, 1.5, -2.6],
        [2.4, 0.1, -1.7, 0.3],
    ]
)
CLS_LABELS = np.array([3, 1, 1, 0, 2])
CLS_ONEHOT = np.eye(4)[CLS_LABELS]
# scores where Keras's categorical hinge and Crammer–Singer differ: row 3's non-target scores
# are all negative (Keras's max over (1 − y)·x is then 0, not the largest of them)
HINGE_S = np.array(
    [
        [0.5, -0.2, 1.4, 0.9],
        [-1.0, 2.0, 0.3, -0.4],
        [0.2, 0.1, 0.25, -0.3],
        [1.5, -0.6, -2.0, -0.1],
        [0.0, 0.8, 0.8, -1.2],
    ]
)
SEG_P = np.array(
    [
        [0.9, 0.2, 0.6, 0.05, 0.7],
        [0.4, 0.7, 0.1, 0.3, 0.0],
        [0.5, 0.5, 0.5, 0.5, 0.5],
        [0.0, 0.1, 0.95, 0.8, 0.2],
        [0.3, 0.6, 0.2, 0.9, 1.0],
    ]
)
SEG_Z = np.array(
    [
        [2.2, -1.4, 0.4, -3.0, 1.0],
        [-0.4, 0.9, -2.1, -0.8, -4.0],
        [0.0, 0.3, -0.3, 0.6, -0.6],
        [-5.0, -2.2, 2.9, 1.4, -1.3],
        [-0.8, 0.4, -1.4, 2.2, 3.5],
    ]
)
SEG_Y = np.array(
    [
        [1.0, 0.0, 1.0, 0.0, 1.0],
        [0.0, 1.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 0.0, 0.0, 0.5],
        [0.0, 0.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, 1.0, 1.0],
    ]
)
COS_P = np.array(
    [[0.3, -1.2, 0.8], [1.0, 0.5, -0.2], [-0.7, 0.1, 0.4], [0.0, 2.0, 1.0], [0.6, 0.6, -0.6]]
)
COS_T = np.array(
    [[0.5, -1.0, 0.0], [0.8, 0.6, 0.0], [-1.0, 0.2, 0.9], [0.1, 1.5, 0.7], [0.0, 0.3, -1.1]]
)
COS_UNIT_P = COS_P / np.linalg.norm(COS_P, axis=1, keepdims=True)
COS_UNIT_T = COS_T / np.linalg.norm(COS_T, axis=1, keepdims=True)

cases: list[dict] = []
# values that are not a framework's default but that --which should name (Keras's Dice and
# Tversky with axis=1): {"loss", "label", "call", inputs, "expected"}
readings: list[dict] = []


def add(*args, f32=False, **kwargs):
    cases.append(fixture_case(*args, float32_reference=f32, **kwargs))


def keras_value(obj_name, y_true, y_pred, *, reduction, weights, kwargs):
    obj = getattr(keras.losses, obj_name)(
        reduction=KERAS_REDUCTIONS[reduction], dtype="float64", **kwargs
    )
    args = (np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    return np.asarray(obj(*args) if weights is None else obj(*args, sample_weight=weights))


def keras_case(
    loss,
    obj_name,
    p,
    t,
    *,
    reduction,
    weights=None,
    kwargs=None,
    options=None,
    y_true=None,
    f32=False,
    note="",
):
    kwargs = dict(kwargs or {})
    value = keras_value(
        obj_name,
        t if y_true is None else y_true,
        p,
        reduction=reduction,
        weights=weights,
        kwargs=kwargs,
    )
    call = f"keras.losses.{obj_name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    add(
        loss,
        "keras",
        f"{call}(y_true, y_pred) reduction={KERAS_REDUCTIONS[reduction]!r}{note}",
        p,
        t,
        value,
        reduction=reduction,
        weights=weights,
        f32=f32,
        **(options or {}),
    )


def optax_case(loss, call, p, t, values, *, reduction, options=None):
    add(
        loss,
        "optax",
        f"{call} then {'jnp.' + reduction if reduction != 'none' else 'as is'}",
        p,
        t,
        reduced(values, reduction),
        reduction=reduction,
        **(options or {}),
    )


def tf1_case(
    loss,
    fn_name,
    labels,
    p,
    t,
    *,
    reduction,
    weights=None,
    weight_shape=(-1, 1),
    kwargs=None,
    note="",
):
    fn = getattr(tf1, fn_name)
    w = 1.0 if weights is None else np.asarray(weights, np.float64).reshape(weight_shape)
    value = fn(
        tf.constant(labels, dtype=tf.float64),
        tf.constant(p, dtype=tf.float64),
        weights=w,
        reduction=TF1_REDUCTIONS[reduction],
        **(kwargs or {}),
    )
    add(
        loss,
        "tf1",
        f"tf.compat.v1.losses.{fn_name}("
        + "".join(f"{k}={v!r}, " for k, v in (kwargs or {}).items())
        + f"reduction={TF1_REDUCTIONS[reduction]}){note}",
        p,
        t,
        np.asarray(value).reshape(-1)
        if fn_name == "cosine_distance" and reduction == "none"
        else np.asarray(value),
        reduction=reduction,
        weights=weights,
        f32=True,
    )


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, line for line (torchvision is not installed)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def sigmoid_focal_cases():
    for z, t in ((BIN_Z, BIN_T), (BIN_Z, SOFT_T), (CLIP_Z, CLIP_T)):
        for reduction in REDUCTIONS:
            for weights in (None, WEIGHTS[: len(z)]):
                for kwargs, options in (
                    ({}, {}),
                    ({"apply_class_balancing": True, "alpha": 0.25}, {"alpha": 0.25}),
                    (
                        {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.5},
                        {"alpha": 0.6, "gamma": 1.5},
                    ),
                    ({"gamma": 0.0}, {"gamma": 0.0}),
                ):
                    kw = {"from_logits": True, **kwargs}
                    keras_case(
                        "sigmoid-focal",
                        "BinaryFocalCrossentropy",
                        z,
                        t,
                        reduction=reduction,
                        weights=weights,
                        kwargs=kw,
                        options=options,
                        f32=True,
                    )
                    with float64_keras_mean():
                        keras_case(
                            "sigmoid-focal",
                            "BinaryFocalCrossentropy",
                            z,
                            t,
                            reduction=reduction,
                            weights=weights,
                            kwargs=kw,
                            options=options,
                            note=" with keras.ops.mean replaced by a float64 mean",
                        )
            for alpha, gamma in ((None, 2.0), (0.25, 2.0), (0.7, 0.5)):
                options = {"gamma": gamma} if alpha is None else {"alpha": alpha, "gamma": gamma}
                optax_case(
                    "sigmoid-focal",
                    f"optax.losses.sigmoid_focal_loss(alpha={alpha}, gamma={gamma})",
                    z,
                    t,
                    optax.losses.sigmoid_focal_loss(
                        jnp.asarray(z), jnp.asarray(t), alpha=alpha, gamma=gamma
                    ),
                    reduction=reduction,
                    options=options,
                )
            for alpha, gamma in ((0.25, 2.0), (-1.0, 2.0), (0.6, 1.0)):
                options = {"gamma": gamma} if alpha < 0 else {"alpha": alpha, "gamma": gamma}
                value = torchvision_sigmoid_focal_loss(
                    torch.tensor(z, dtype=torch.float64),
                    torch.tensor(t, dtype=torch.float64),
                    alpha=alpha,
                    gamma=gamma,
                    reduction=reduction,
                )
                if reduction == "none":  # losscli's unreduced values are one per row
                    value = value.mean(dim=1)
                add(
                    "sigmoid-focal",
                    "torch",
                    "torchvision.ops.sigmoid_focal_loss("
                    f"alpha={alpha}, gamma={gamma}, reduction={reduction!r})"
                    f"{'.mean(dim=1)' if reduction == 'none' else ''} "
                    "(its formula in torch ops: torchvision not importable)",
                    z,
                    t,
                    value.numpy(),
                    reduction=reduction,
                    **options,
                )
    # a vector is N samples of one output for Keras, (N,) elementwise for optax
    z, t = BIN_Z[:, 0].copy(), BIN_T[:, 0].copy()
    for reduction in REDUCTIONS:
        with float64_keras_mean():
            keras_value_ = keras_value(
                "BinaryFocalCrossentropy",
                t.reshape(-1, 1),
                z.reshape(-1, 1),
                reduction=reduction,
                weights=WEIGHTS,
                kwargs={"from_logits": True},
            )
        add(
            "sigmoid-focal",
            "keras",
            "keras.losses.BinaryFocalCrossentropy(from_logits=True)(y_true[:, None], "
            f"y_pred[:, None]) reduction={KERAS_REDUCTIONS[reduction]!r} with keras.ops.mean "
            "replaced by a float64 mean",
            z,
            t,
            keras_value_,
            reduction=reduction,
            weights=WEIGHTS,
        )


# probabilities for BinaryFocalCrossentropy(from_logits=False): moderate ones, and 0, 1, 1e-9
# and 1 − 1e-9, beyond Keras's clip at [1e-7, 1 − 1e-7] (the focal factor uses them unclipped)
BIN_P = np.array(
    [[0.8, 0.3, 1.0], [0.1, 0.55, 1e-9], [0.5, 0.0, 0.75], [0.95, 1.0 - 1e-9, 0.4], [0.2, 0.6, 0.0]]
)


def sigmoid_focal_probability_and_smoothing_cases():
    """BinaryFocalCrossentropy on probabilities (from_logits=False) and with label_smoothing
    (both forms): the rule's other readings (added after the logits cases above)."""
    variants = (
        ({}, {}),
        ({"apply_class_balancing": True, "alpha": 0.25}, {"alpha": 0.25}),
        ({"gamma": 0.5, "label_smoothing": 0.1}, {"gamma": 0.5, "label_smoothing": 0.1}),
        (
            {"apply_class_balancing": True, "alpha": 0.6, "label_smoothing": 0.3},
            {"alpha": 0.6, "label_smoothing": 0.3},
        ),
    )
    inputs = (
        (BIN_P, BIN_T, False),
        (BIN_P, SOFT_T, False),
        (BIN_Z, BIN_T, True),
        (CLIP_Z, CLIP_T, True),
    )
    for x, t, from_logits in inputs:
        for reduction in REDUCTIONS:
            for weights in (None, WEIGHTS[: len(x)]):
                for kwargs, options in variants:
                    if from_logits and "label_smoothing" not in kwargs:
                        continue  # the logits cases without smoothing are above
                    kw = {"from_logits": from_logits, **kwargs}
                    opts = {"logits": from_logits, **options}
                    for f64 in (False, True):
                        with float64_keras_mean() if f64 else contextlib.nullcontext():
                            keras_case(
                                "sigmoid-focal",
                                "BinaryFocalCrossentropy",
                                x,
                                t,
                                reduction=reduction,
                                weights=weights,
                                kwargs=kw,
                                options=opts,
                                f32=not f64,
                                note=" with keras.ops.mean replaced by a float64 mean"
                                if f64
                                else "",
                            )
    # optax on probabilities given as logits (a double sigmoid): what --which should name
    for reduction in REDUCTIONS:
        optax_case(
            "sigmoid-focal",
            "optax.losses.sigmoid_focal_loss(alpha=None, gamma=2.0) of probabilities as logits",
            BIN_P,
            BIN_T,
            optax.losses.sigmoid_focal_loss(jnp.asarray(BIN_P), jnp.asarray(BIN_T), gamma=2.0),
            reduction=reduction,
            options={"gamma": 2.0},
        )


def softmax_focal_cases():
    for reduction in REDUCTIONS:
        for weights in (None, WEIGHTS):
            for p, t, y_true, kwargs, options in (
                (CLS_P, CLS_LABELS, CLS_ONEHOT, {}, {}),
                (CLS_P, CLS_SOFT, None, {"alpha": 0.5, "gamma": 1.0}, {"alpha": 0.5, "gamma": 1.0}),
                (CLS_Z, CLS_LABELS, CLS_ONEHOT, {"from_logits": True}, {"logits": True}),
                (
                    CLS_Z,
                    CLS_SOFT,
                    None,
                    {"from_logits": True, "label_smoothing": 0.1},
                    {"logits": True, "label_smoothing": 0.1},
                ),
                (
                    CLS_P,
                    CLS_ONEHOT,
                    None,
                    {"label_smoothing": 0.2, "gamma": 3.0},
                    {"label_smoothing": 0.2, "gamma": 3.0},
                ),
                (
                    CLS_Z,
                    CLS_LABELS,
                    CLS_ONEHOT,
                    {"from_logits": True, "alpha": [0.1, 0.2, 0.3, 0.4]},
                    {"logits": True, "alpha": "0.1,0.2,0.3,0.4"},
                ),
                (
                    CLS_Z * 8.0,
                    CLS_LABELS,
                    CLS_ONEHOT,
                    {"from_logits": True},
                    {"logits": True},
                ),  # softmax below 1e-7: clipped
            ):
                keras_case(
                    "softmax-focal",
                    "CategoricalFocalCrossentropy",
                    p,
                    t,
                    y_true=y_true,
                    reduction=reduction,
                    weights=weights,
                    kwargs=kwargs,
                    options=options,
                )


def dice_cases():
    for reduction in ("mean", "sum"):
        for weights in (None, WEIGHTS):
            for p, t in ((SEG_P, SEG_Y), (SEG_P[:2], SEG_Y[:2])):
                w = None if weights is None else weights[: len(p)]
                keras_case("dice", "Dice", p, t, reduction=reduction, weights=w)
                keras_case("tversky", "Tversky", p, t, reduction=reduction, weights=w)
                keras_case(
                    "tversky",
                    "Tversky",
                    p,
                    t,
                    reduction=reduction,
                    weights=w,
                    kwargs={"alpha": 0.3, "beta": 0.7},
                    options={"alpha": 0.3, "beta": 0.7},
                )
    for reduction in REDUCTIONS:
        for smooth in (1.0, 0.5, 0.0):
            v = optax.losses.dice_loss(
                jnp.asarray(SEG_Z)[..., None], jnp.asarray(SEG_Y)[..., None], smooth=smooth
            )
            optax_case(
                "dice",
                f"optax.losses.dice_loss(z[..., None], y[..., None], smooth={smooth})",
                SEG_Z,
                SEG_Y,
                v,
                reduction=reduction,
                options={"logits": True, "smooth": smooth},
            )
        for alpha, beta, smooth in ((0.3, 0.7, 1.0), (0.8, 0.1, 0.0)):
            v = optax.losses.dice_loss(
                jnp.asarray(SEG_Z)[..., None],
                jnp.asarray(SEG_Y)[..., None],
                alpha=alpha,
                beta=beta,
                smooth=smooth,
            )
            optax_case(
                "tversky",
                "optax.losses.dice_loss(z[..., None], y[..., None], "
                f"alpha={alpha}, beta={beta}, smooth={smooth})",
                SEG_Z,
                SEG_Y,
                v,
                reduction=reduction,
                options={"logits": True, "alpha": alpha, "beta": beta, "smooth": smooth},
            )
        v = optax.losses.binary_dice_loss(jnp.asarray(SEG_Z[:, 0]), jnp.asarray(SEG_Y[:, 0]))
        optax_case(
            "dice",
            "optax.losses.binary_dice_loss(z, y) on a vector",
            SEG_Z[:, 0],
            SEG_Y[:, 0],
            v,
            reduction=reduction,
            options={"logits": True},
        )


def dice_readings():
    for weights in (None, WEIGHTS):
        for obj_name, loss, kwargs, options in (
            ("Dice", "dice", {}, {}),
            ("Tversky", "tversky", {"alpha": 0.3, "beta": 0.7}, {"alpha": 0.3, "beta": 0.7}),
        ):
            value = keras_value(
                obj_name,
                SEG_Y,
                SEG_P,
                reduction="mean",
                weights=weights,
                kwargs={"axis": 1, **kwargs},
            )
            readings.append(
                {
                    "loss": loss,
                    "label": f"keras {obj_name}(axis=1) mean",
                    "call": f"keras.losses.{obj_name}(axis=1, {kwargs})(y_true, y_pred) "
                    "reduction='sum_over_batch_size'",
                    "predictions": SEG_P.tolist(),
                    "targets": SEG_Y.tolist(),
                    "sample_weights": None if weights is None else weights.tolist(),
                    "options": options,
                    "expected": float(value),
                }
            )


def poly1_cases():
    for reduction in REDUCTIONS:
        for t, y in ((CLS_LABELS, CLS_ONEHOT), (CLS_SOFT, CLS_SOFT)):
            for epsilon in (2.0, -1.0):
                optax_case(
                    "poly1",
                    f"optax.losses.poly_loss_cross_entropy(z, y, epsilon={epsilon})",
                    CLS_Z,
                    t,
                    optax.losses.poly_loss_cross_entropy(
                        jnp.asarray(CLS_Z), jnp.asarray(y), epsilon=epsilon
                    ),
                    reduction=reduction,
                    options={"epsilon": epsilon},
                )


def hinge_cases():
    signed = 2.0 * BIN_T - 1.0
    for reduction in REDUCTIONS:
        for weights in (None, WEIGHTS):
            for p, t in ((HINGE_S, CLS_LABELS), (HINGE_S, CLS_ONEHOT)):
                keras_case(
                    "categorical-hinge",
                    "CategoricalHinge",
                    p,
                    t,
                    y_true=CLS_ONEHOT,
                    reduction=reduction,
                    weights=weights,
                )
            tf1_case(
                "hinge", "hinge_loss", BIN_T, BIN_Z, BIN_T, reduction=reduction, weights=weights
            )
            tf1_case(
                "hinge",
                "hinge_loss",
                signed,
                BIN_Z,
                signed,
                reduction=reduction,
                weights=weights,
                note=" on ±1 labels (mapped to 1 and −3)",
            )
            # its unreduced values are (N, 1) (keepdims): recorded as losscli's (N,) row values
            tf1_case(
                "cosine-similarity",
                "cosine_distance",
                COS_T,
                COS_P,
                COS_T,
                reduction=reduction,
                weights=weights,
                kwargs={"axis": 1},
                note=" [:, 0]" * (reduction == "none"),
            )
            tf1_case(
                "cosine-similarity",
                "cosine_distance",
                COS_UNIT_T,
                COS_UNIT_P,
                COS_UNIT_T,
                reduction=reduction,
                weights=weights,
                kwargs={"axis": 1},
                note=" on unit rows" + " [:, 0]" * (reduction == "none"),
            )
        for t in (CLS_LABELS, CLS_ONEHOT):
            optax_case(
                "categorical-hinge",
                "optax.losses.multiclass_hinge_loss(scores, labels)",
                HINGE_S,
                t,
                optax.losses.multiclass_hinge_loss(jnp.asarray(HINGE_S), jnp.asarray(CLS_LABELS)),
                reduction=reduction,
            )
    for weights in (None, WEIGHTS):
        kw = {} if weights is None else {"sample_weight": weights}
        for t in (CLS_LABELS, CLS_ONEHOT):
            add(
                "categorical-hinge",
                "sklearn",
                "sklearn.metrics.hinge_loss(y_true, scores, labels=range(4))",
                HINGE_S,
                t,
                skm.hinge_loss(CLS_LABELS, HINGE_S, labels=range(4), **kw),
                weights=weights,
            )
        z = BIN_Z[:, 0].copy()
        for t in (BIN_T[:, 0], signed[:, 0]):
            add(
                "hinge",
                "sklearn",
                "sklearn.metrics.hinge_loss(y_true, decision)",
                z,
                t,
                skm.hinge_loss(t, z, **kw),
                weights=weights,
            )
        add(
            "hinge",
            "sklearn",
            "sklearn.metrics.hinge_loss(y_true, decision[:, 0]) of one column",
            z.reshape(-1, 1),
            BIN_T[:, :1],
            skm.hinge_loss(BIN_T[:, 0], z, **kw),
            weights=weights,
        )


def fuzz_cases():
    """Cases tests/fuzz_conventions.py found (appended last, so earlier cases keep their place).

    optax's multiclass_hinge_loss is max_c(x_c + 1 − y_c) − x·y: where the target's score wins
    by more than 1 the exact value is 0, but (x_y + 1) − 1 − x_y leaves the rounding of x_y + 1
    (|x_y| < 1: up to 1.1e-16, which a relative comparison sees). scikit-learn's binary
    hinge_loss on labels of one class: LabelBinarizer(neg_label=−1) maps every label to −1."""
    far_s = np.array([[1000.3, 990.1, 995.7], [0.1, -2.0, -1.5], [-0.7, 5.2, 3.0]])
    far_labels = np.array([0, 0, 1])
    for reduction in REDUCTIONS:
        optax_case(
            "categorical-hinge",
            "optax.losses.multiclass_hinge_loss(scores, labels) (margins above 1)",
            far_s,
            far_labels,
            optax.losses.multiclass_hinge_loss(jnp.asarray(far_s), jnp.asarray(far_labels)),
            reduction=reduction,
        )
    z = np.array([0.5, -1.2, 2.0, 0.0])
    for t in (np.ones(4), np.zeros(4)):
        for weights in (None, np.array([1.0, 0.0, 2.0, 0.5])):
            kw = {} if weights is None else {"sample_weight": weights}
            add(
                "hinge",
                "sklearn",
                "sklearn.metrics.hinge_loss(y_true, decision) on labels of one class (all −1)",
                z,
                t,
                skm.hinge_loss(t, z, **kw),
                weights=weights,
            )


def sparsemax_cases():
    """losscli's sparsemax is optax's (added last, so earlier cases keep their place): the
    multi-class form on labels and one-hot rows, and the binary form as a vector and as one
    column. optax's binary sparsemax_loss is elementwise, so a column gives (N, 1) values."""
    for reduction in REDUCTIONS:
        for t in (CLS_LABELS, CLS_ONEHOT):
            optax_case(
                "sparsemax",
                "optax.losses.multiclass_sparsemax_loss(scores, labels)",
                CLS_Z,
                t,
                optax.losses.multiclass_sparsemax_loss(jnp.asarray(CLS_Z), jnp.asarray(CLS_LABELS)),
                reduction=reduction,
            )
        z, y = BIN_Z[:, 0].copy(), BIN_T[:, 0].copy()
        values = optax.losses.sparsemax_loss(jnp.asarray(z), jnp.asarray(y.astype(np.int64)))
        optax_case(
            "sparsemax",
            "optax.losses.sparsemax_loss(logits, labels)",
            z,
            y,
            values,
            reduction=reduction,
        )
        if reduction != "none":
            optax_case(
                "sparsemax",
                "optax.losses.sparsemax_loss(logits, labels) of one column",
                z.reshape(-1, 1),
                y.reshape(-1, 1),
                values,
                reduction=reduction,
            )


def main() -> None:
    sigmoid_focal_cases()
    softmax_focal_cases()
    dice_cases()
    hinge_cases()
    poly1_cases()
    dice_readings()
    sigmoid_focal_probability_and_smoothing_cases()  # added later: last, so nothing moves
    fuzz_cases()
    sparsemax_cases()  # added later: last, so nothing moves
    write_fixture(
        OUT,
        "tests/make_convention_fixtures_classification.py",
        ("keras", "tensorflow", "optax", "jax", "scikit-learn", "torch"),
        cases,
        readings=readings,
    )
    print(f"wrote {len(cases)} cases and {len(readings)} readings to {OUT}")


if __name__ == "__main__":
    main()
