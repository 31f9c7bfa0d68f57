"""Write tests/fixtures/conventions.json: what each framework itself reports for a loss.

Every expected value comes from the framework's own call, named in the case, in float64:
Keras 3 (``KERAS_BACKEND=jax``, floatx float64), TensorFlow's ``tf.compat.v1.losses``,
optax (``jax_enable_x64``) and scikit-learn. Two references are float32-precise whatever the
input dtype, and their cases say so (``"float32_reference": true``; the tests compare them at
rtol 1e-6, every other case at 1e-12): TF1's ``compute_weighted_loss`` casts losses and weights
to float32, and Keras 3's ``ops.mean`` (the mean over the last axis of mse, mae, huber, bce,
log-cosh, msle, mape, hinge and squared-hinge) computes in float32
(``result_type(x.dtype, "float32")``). None of these is a dependency of losscli; to regenerate::

    pip install keras jax optax tensorflow-cpu scikit-learn
    python tests/make_convention_fixtures.py

Deterministic: the inputs are fixed below, so a rerun writes the same file.
"""

from __future__ import annotations

from pathlib import Path

import convention_frameworks  # noqa: F401  first: sets the environment jax, keras and TF read
import jax.numpy as jnp
import keras
import numpy as np
import optax
import sklearn.metrics as skm
import tensorflow as tf
from convention_frameworks import (
    CLS_P,
    CLS_SOFT,
    KERAS_REDUCTIONS,
    WEIGHTS,
    fixture_case,
    reduced,
    tf1_reductions,
    write_fixture,
)

OUT = Path(__file__).parent / "fixtures" / "conventions.json"
tf1 = tf.compat.v1.losses
TF1_REDUCTIONS = tf1_reductions()

rng = np.random.default_rng(20261202)
REG_P = np.round(rng.normal(size=(5, 3)), 3)
REG_T = np.round(rng.normal(size=(5, 3)), 3)
REG_P[0, 0] = REG_T[0, 0] + 2.5  # outside the huber quadratic zone
VEC_P, VEC_T = REG_P[:, 0].copy(), REG_T[:, 0].copy()
BIN_T = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
BIN_P = np.array([[0.9, 0.2], [0.0, 0.7], [1.0, 0.4], [0.3, 1e-9], [0.6, 0.5]])
BIN_Z = np.round(rng.normal(scale=3.0, size=(5, 2)), 3)
BIN1_T, BIN1_P = BIN_T[:, 0].copy(), BIN_P[:, 0].copy()
CLS_Z = np.round(rng.normal(scale=2.0, size=(5, 4)), 3)
CLS_LABELS = np.array([0, 3, 1, 2, 3])
CLS_ONEHOT = np.eye(4)[CLS_LABELS]
KL_LOGP = np.log(
    np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [1 / 3] * 3])
)
KL_T = np.array(
    [[0.4, 0.4, 0.2], [0.0, 0.5, 0.5], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]]
)

cases: list[dict] = []


def add(loss, convention, *args, **kwargs):
    # float32-precise: TF1 casts to float32; Keras's ops.mean (all but ce and kl, which sum
    # over the classes) computes in float32
    f32 = convention == "tf1" or (convention == "keras" and loss not in ("ce", "kl"))
    cases.append(fixture_case(loss, convention, *args, float32_reference=f32, **kwargs))


def keras_case(
    loss, obj_name, p, t, *, reduction="mean", weights=None, kwargs=None, options=None, y_true=None
):
    kwargs = dict(kwargs or {})
    obj = getattr(keras.losses, obj_name)(
        reduction=KERAS_REDUCTIONS[reduction], dtype="float64", **kwargs
    )
    y = t if y_true is None else y_true
    # a vector is N samples of one output, shape (N, 1), as a Keras model emits it
    shape = (-1, 1) if np.ndim(p) == 1 and loss != "ce" else np.shape(p)
    args = (
        np.asarray(y, np.float64).reshape(shape if np.ndim(y) == np.ndim(p) else (-1,)),
        np.asarray(p, np.float64).reshape(shape),
    )
    value = obj(*args, sample_weight=weights) if weights is not None else obj(*args)
    call = f"keras.losses.{obj_name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    add(
        loss,
        "keras",
        f"{call}(y_true, y_pred) reduction={KERAS_REDUCTIONS[reduction]!r}",
        p,
        t,
        np.asarray(value),
        reduction=reduction,
        weights=weights,
        **(options or {}),
    )


def tf1_case(
    loss,
    fn_name,
    p,
    t,
    *,
    reduction="mean",
    weights=None,
    kwargs=None,
    options=None,
    labels=None,
    predictions_kw="predictions",
):
    fn = getattr(tf1, fn_name)
    w = (
        1.0
        if weights is None
        else np.asarray(weights, np.float64).reshape(
            (-1,)
            + (1,)
            * (
                np.ndim(p) - 1
                if fn_name not in ("softmax_cross_entropy", "sparse_softmax_cross_entropy")
                else 0
            )
        )
    )
    lab = t if labels is None else labels
    value = fn(
        tf.constant(lab, dtype=tf.int64 if fn_name.startswith("sparse") else tf.float64),
        tf.constant(p, dtype=tf.float64),
        weights=w,
        reduction=TF1_REDUCTIONS[reduction],
        **(kwargs or {}),
    )
    add(
        loss,
        "tf1",
        f"tf.compat.v1.losses.{fn_name}(reduction={TF1_REDUCTIONS[reduction]})",
        p,
        t,
        np.asarray(value),
        reduction=reduction,
        weights=weights,
        **(options or {}),
    )


def optax_case(loss, call, p, t, values, *, reduction="mean", options=None):
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


def main() -> None:
    # ---------------------------------------------------------------- regression
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case(
                "mse", "MeanSquaredError", REG_P, REG_T, reduction=reduction, weights=weights
            )
            keras_case(
                "mae", "MeanAbsoluteError", REG_P, REG_T, reduction=reduction, weights=weights
            )
            keras_case(
                "huber",
                "Huber",
                REG_P,
                REG_T,
                reduction=reduction,
                weights=weights,
                kwargs={"delta": 0.5},
                options={"delta": 0.5},
            )
            tf1_case(
                "mse",
                "mean_squared_error",
                REG_P,
                REG_T,
                reduction=reduction,
                weights=weights,
                kwargs={},
            )
            tf1_case(
                "mae", "absolute_difference", REG_P, REG_T, reduction=reduction, weights=weights
            )
            tf1_case(
                "huber",
                "huber_loss",
                REG_P,
                REG_T,
                reduction=reduction,
                weights=weights,
                kwargs={"delta": 0.5},
                options={"delta": 0.5},
            )
        keras_case("mse", "MeanSquaredError", VEC_P, VEC_T, reduction=reduction)
        optax_case(
            "mse",
            "optax.losses.squared_error",
            REG_P,
            REG_T,
            optax.losses.squared_error(jnp.asarray(REG_P), jnp.asarray(REG_T)),
            reduction=reduction,
        )
        optax_case(
            "huber",
            "optax.losses.huber_loss(delta=0.5)",
            REG_P,
            REG_T,
            optax.losses.huber_loss(jnp.asarray(REG_P), jnp.asarray(REG_T), delta=0.5),
            reduction=reduction,
            options={"delta": 0.5},
        )
    for weights in (None, WEIGHTS):
        kw = {} if weights is None else {"sample_weight": weights}
        for loss, fn in (
            ("mse", skm.mean_squared_error),
            ("mae", skm.mean_absolute_error),
            ("rmse", skm.root_mean_squared_error),
        ):
            add(
                loss,
                "sklearn",
                f"sklearn.metrics.{fn.__name__}(y_true, y_pred)",
                REG_P,
                REG_T,
                fn(REG_T, REG_P, **kw),
                weights=weights,
            )
    # ---------------------------------------------------------------- log-cosh, msle, mape
    pos_p, pos_t = np.abs(REG_P), np.abs(REG_T)
    pos_p[1, 1] = 0.0  # below Keras's 1e-7 floor
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case("log-cosh", "LogCosh", REG_P, REG_T, reduction=reduction, weights=weights)
            keras_case(
                "msle",
                "MeanSquaredLogarithmicError",
                pos_p,
                pos_t,
                reduction=reduction,
                weights=weights,
            )
            keras_case(
                "mape",
                "MeanAbsolutePercentageError",
                REG_P,
                REG_T,
                reduction=reduction,
                weights=weights,
            )
        optax_case(
            "log-cosh",
            "optax.losses.log_cosh",
            REG_P,
            REG_T,
            optax.losses.log_cosh(jnp.asarray(REG_P), jnp.asarray(REG_T)),
            reduction=reduction,
        )
    for weights in (None, WEIGHTS):
        kw = {} if weights is None else {"sample_weight": weights}
        for loss, fn, p, t in (
            ("msle", skm.mean_squared_log_error, pos_p, pos_t),
            ("mape", skm.mean_absolute_percentage_error, REG_P, REG_T),
        ):
            add(
                loss,
                "sklearn",
                f"sklearn.metrics.{fn.__name__}(y_true, y_pred)",
                p,
                t,
                fn(t, p, **kw),
                weights=weights,
            )
    # ---------------------------------------------------------------- hinge, squared-hinge
    signed_t = 2.0 * BIN_T - 1.0
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            for labels in (BIN_T, signed_t):
                keras_case("hinge", "Hinge", BIN_Z, labels, reduction=reduction, weights=weights)
                keras_case(
                    "squared-hinge",
                    "SquaredHinge",
                    BIN_Z,
                    labels,
                    reduction=reduction,
                    weights=weights,
                )
        for labels in (BIN_T, signed_t):
            optax_case(
                "hinge",
                "optax.losses.hinge_loss",
                BIN_Z,
                labels,
                optax.losses.hinge_loss(jnp.asarray(BIN_Z), jnp.asarray(labels)),
                reduction=reduction,
            )
    # ---------------------------------------------------------------- bce
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case(
                "bce", "BinaryCrossentropy", BIN_P, BIN_T, reduction=reduction, weights=weights
            )
            keras_case(
                "bce",
                "BinaryCrossentropy",
                BIN_Z,
                BIN_T,
                reduction=reduction,
                weights=weights,
                kwargs={"from_logits": True},
                options={"logits": True},
            )
            tf1_case("bce", "log_loss", BIN_P, BIN_T, reduction=reduction, weights=weights)
            w = 1.0 if weights is None else np.asarray(weights).reshape(-1, 1)
            value = tf1.sigmoid_cross_entropy(
                tf.constant(BIN_T),
                tf.constant(BIN_Z),
                weights=w,
                reduction=TF1_REDUCTIONS[reduction],
            )
            add(
                "bce",
                "tf1",
                f"tf.compat.v1.losses.sigmoid_cross_entropy(reduction={TF1_REDUCTIONS[reduction]})",
                BIN_Z,
                BIN_T,
                np.asarray(value),
                reduction=reduction,
                weights=weights,
                logits=True,
            )
        optax_case(
            "bce",
            "optax.losses.sigmoid_binary_cross_entropy",
            BIN_Z,
            BIN_T,
            optax.losses.sigmoid_binary_cross_entropy(jnp.asarray(BIN_Z), jnp.asarray(BIN_T)),
            reduction=reduction,
            options={"logits": True},
        )
    for weights in (None, WEIGHTS):
        kw = {} if weights is None else {"sample_weight": weights}
        add(
            "bce",
            "sklearn",
            "sklearn.metrics.log_loss(y_true, y_proba)",
            BIN1_P,
            BIN1_T,
            skm.log_loss(BIN1_T, BIN1_P, labels=[0, 1], **kw),
            weights=weights,
        )
        add(
            "bce",
            "sklearn",
            "sklearn.metrics.log_loss(y_true, y_proba, normalize=False)",
            BIN1_P,
            BIN1_T,
            skm.log_loss(BIN1_T, BIN1_P, labels=[0, 1], normalize=False, **kw),
            weights=weights,
            reduction="sum",
        )
    # ---------------------------------------------------------------- ce
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case(
                "ce",
                "CategoricalCrossentropy",
                CLS_P,
                CLS_ONEHOT,
                reduction=reduction,
                weights=weights,
            )
            keras_case(
                "ce",
                "CategoricalCrossentropy",
                CLS_Z,
                CLS_SOFT,
                reduction=reduction,
                weights=weights,
                kwargs={"from_logits": True},
                options={"logits": True},
            )
            keras_case(
                "ce",
                "CategoricalCrossentropy",
                CLS_Z,
                CLS_ONEHOT,
                reduction=reduction,
                weights=weights,
                kwargs={"from_logits": True, "label_smoothing": 0.1},
                options={"logits": True, "label_smoothing": 0.1},
            )
            keras_case(
                "ce",
                "SparseCategoricalCrossentropy",
                CLS_Z,
                CLS_LABELS,
                reduction=reduction,
                weights=weights,
                kwargs={"from_logits": True},
                options={"logits": True},
            )
            keras_case(
                "ce",
                "SparseCategoricalCrossentropy",
                CLS_P,
                CLS_LABELS,
                reduction=reduction,
                weights=weights,
            )
            tf1_case(
                "ce",
                "softmax_cross_entropy",
                CLS_Z,
                CLS_SOFT,
                reduction=reduction,
                weights=weights,
                options={"logits": True},
            )
            tf1_case(
                "ce",
                "softmax_cross_entropy",
                CLS_Z,
                CLS_ONEHOT,
                reduction=reduction,
                weights=weights,
                kwargs={"label_smoothing": 0.1},
                options={"logits": True, "label_smoothing": 0.1},
            )
            tf1_case(
                "ce",
                "sparse_softmax_cross_entropy",
                CLS_Z,
                CLS_LABELS,
                reduction=reduction,
                weights=weights,
                options={"logits": True},
            )
        optax_case(
            "ce",
            "optax.losses.softmax_cross_entropy",
            CLS_Z,
            CLS_SOFT,
            optax.losses.softmax_cross_entropy(jnp.asarray(CLS_Z), jnp.asarray(CLS_SOFT)),
            reduction=reduction,
            options={"logits": True},
        )
        optax_case(
            "ce",
            "optax.losses.softmax_cross_entropy_with_integer_labels",
            CLS_Z,
            CLS_LABELS,
            optax.losses.softmax_cross_entropy_with_integer_labels(
                jnp.asarray(CLS_Z), jnp.asarray(CLS_LABELS)
            ),
            reduction=reduction,
            options={"logits": True},
        )
        optax_case(
            "ce",
            "optax.losses.softmax_cross_entropy(smooth_labels(y, 0.1))",
            CLS_Z,
            CLS_ONEHOT,
            optax.losses.softmax_cross_entropy(
                jnp.asarray(CLS_Z), optax.smooth_labels(jnp.asarray(CLS_ONEHOT), 0.1)
            ),
            reduction=reduction,
            options={"logits": True, "label_smoothing": 0.1},
        )
    for weights in (None, WEIGHTS):
        kw = {} if weights is None else {"sample_weight": weights}
        add(
            "ce",
            "sklearn",
            "sklearn.metrics.log_loss(y_true, y_proba, labels=range(4))",
            CLS_P,
            CLS_LABELS,
            skm.log_loss(CLS_LABELS, CLS_P, labels=range(4), **kw),
            weights=weights,
        )
    # ---------------------------------------------------------------- kl
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case(
                "kl", "KLDivergence", np.exp(KL_LOGP), KL_T, reduction=reduction, weights=weights
            )
            cases[-1]["predictions"] = KL_LOGP.tolist()  # losscli's kl takes log-probabilities
        optax_case(
            "kl",
            "optax.losses.kl_divergence",
            KL_LOGP,
            KL_T,
            optax.losses.kl_divergence(jnp.asarray(KL_LOGP), jnp.asarray(KL_T)),
            reduction=reduction,
        )
        optax_case(
            "kl",
            "optax.losses.kl_divergence_with_log_targets",
            KL_LOGP,
            KL_LOGP[::-1],
            optax.losses.kl_divergence_with_log_targets(
                jnp.asarray(KL_LOGP), jnp.asarray(KL_LOGP[::-1])
            ),
            reduction=reduction,
            options={"log_target": True},
        )
    # Found by tests/fuzz_conventions.py (appended last, so earlier cases keep their place): an
    # (N, d1, D) input — Keras averages the last axis and sum_over_batch_size divides by the
    # N·d1 values left, not by N.
    p3 = np.stack([REG_P, REG_P[::-1]], axis=1)
    t3 = np.stack([REG_T, REG_T[:, ::-1]], axis=1)
    for reduction in ("mean", "sum", "none"):
        keras_case("mse", "MeanSquaredError", p3, t3, reduction=reduction)
        keras_case("mae", "MeanAbsoluteError", p3, t3, reduction=reduction)
        tf1_case("mse", "mean_squared_error", p3, t3, reduction=reduction, weights=WEIGHTS)
    write_fixture(
        OUT,
        "tests/make_convention_fixtures.py",
        ("keras", "tensorflow", "optax", "jax", "scikit-learn"),
        cases,
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
