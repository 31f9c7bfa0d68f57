"""Write tests/fixtures/conventions_regression.json: what each framework itself reports for
the regression and pair losses of issue 10 — cosine similarity, Poisson, pinball, Brier and the
Tweedie deviances — under ``--convention``.

Every expected value comes from the framework's own call, named in the case, in float64:
Keras 3 (``KERAS_BACKEND=jax``, floatx float64), TensorFlow's ``tf.compat.v1.losses``, optax
(``jax_enable_x64``), scikit-learn and torch. Two references are float32-precise whatever the
input dtype, and their cases say so (``"float32_reference": true``; the tests compare them at
rtol 1e-6, every other case at 1e-12): Keras 3's ``ops.mean`` — the mean over the last axis
inside ``keras.losses.Poisson`` — computes in float32 (``result_type(x.dtype, "float32")``),
and ``tf.compat.v1.losses.cosine_distance`` casts its inputs to float32. ``CosineSimilarity``
sums over the last axis (``ops.sum``) and is float64 throughout. None of these is a
dependency of losscli; to regenerate::

    pip install keras jax optax scikit-learn torch tensorflow-cpu
    python tests/make_convention_fixtures_regression.py

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
import torch
from convention_frameworks import (
    KERAS_REDUCTIONS,
    WEIGHTS,
    fixture_case,
    reduced,
    tf1_reductions,
    write_fixture,
)

OUT = Path(__file__).parent / "fixtures" / "conventions_regression.json"
tf1 = tf.compat.v1.losses
TF1_REDUCTIONS = tf1_reductions()

rng = np.random.default_rng(20261210)
# Cosine: rows of 3-vectors; row 3 of COS_P is tiny (norm 4e-8, below Keras's 1e-7 floor) and
# row 4 of COS_TINY_P is the zero vector (floored by an epsilon; undefined without one).
COS_P = np.round(rng.normal(size=(5, 3)), 3)
COS_T = np.round(rng.normal(size=(5, 3)), 3)
COS_TINY_P = COS_P.copy()
COS_TINY_P[3] = [4e-8, 0.0, 0.0]
COS_TINY_P[4] = [0.0, 0.0, 0.0]
# Counts and rates: one zero rate for a positive count (ε decides it), zeros among the counts.
RATES = np.round(rng.uniform(0.05, 4.0, size=(5, 3)), 3)
RATES[2, 1] = 0.0
COUNTS = rng.poisson(2.0, size=(5, 3)).astype(np.float64)
COUNTS[2, 1] = 1.0
COUNTS[0, 0] = 0.0
# Positive means and targets (gamma needs y > 0; Poisson and Tweedie 1 < p < 2 allow y = 0).
MU = np.round(rng.uniform(0.2, 5.0, size=7), 3)
Y_POS = np.round(rng.uniform(0.2, 5.0, size=7), 3)
Y_COUNT = np.array([0.0, 1.0, 3.0, 0.0, 2.0, 5.0, 1.0])
W7 = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.5, 0.25])
REG_P = np.round(rng.normal(size=(5, 3)), 3)
REG_T = np.round(rng.normal(size=(5, 3)), 3)
BIN_T = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
BIN_P = np.array([0.9, 0.2, 0.4, 1.0, 0.0, 0.65, 0.3])
CLS_P = np.array(
    [
        [0.6, 0.2, 0.1, 0.1],
        [0.1, 0.2, 0.3, 0.4],
        [0.0, 0.9, 0.05, 0.05],
        [0.25, 0.25, 0.25, 0.25],
        [0.1, 0.1, 0.1, 0.7],
    ]
)
CLS_LABELS = np.array([0, 3, 1, 2, 3])
TWO_P = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.1, 0.9]])
TWO_LABELS = np.array([0, 1, 1, 0, 1])

cases: list[dict] = []


def add(*args, float32=False, **kwargs):
    cases.append(fixture_case(*args, float32_reference=float32, **kwargs))


def keras_case(loss, obj_name, p, t, *, reduction, weights=None, float32=False, **options):
    obj = getattr(keras.losses, obj_name)(reduction=KERAS_REDUCTIONS[reduction], dtype="float64")
    shape = (-1, 1) if np.ndim(p) == 1 else np.shape(p)  # a vector: N samples of one output
    args = (np.asarray(t, np.float64).reshape(shape), np.asarray(p, np.float64).reshape(shape))
    value = obj(*args, sample_weight=weights) if weights is not None else obj(*args)
    add(
        loss,
        "keras",
        f"keras.losses.{obj_name}()(y_true, y_pred) reduction={KERAS_REDUCTIONS[reduction]!r}",
        p,
        t,
        np.asarray(value),
        reduction=reduction,
        weights=weights,
        float32=float32,
        **options,
    )


def then(reduction, lib="jnp"):
    return f"then {lib}.{reduction}" if reduction != "none" else "as is"


def sklearn_case(loss, fn, p, t, *, weights=None, call_args="", **kwargs):
    options = kwargs.pop("options", {})
    kw = dict(kwargs) if weights is None else {**kwargs, "sample_weight": weights}
    add(
        loss,
        "sklearn",
        f"sklearn.metrics.{fn.__name__}(y_true, y_pred{call_args})",
        p,
        t,
        fn(t, p, **kw),
        weights=weights,
        **options,
    )


def cosine() -> None:
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            # Keras floors each norm at 1e-7 (x·min(rsqrt(Σx²), 1/ε)): --epsilon 1e-7, or the
            # default where no row is the zero vector.
            keras_case(
                "cosine-similarity",
                "CosineSimilarity",
                COS_P,
                COS_T,
                reduction=reduction,
                weights=weights,
            )
            keras_case(
                "cosine-similarity",
                "CosineSimilarity",
                COS_TINY_P,
                COS_T,
                reduction=reduction,
                weights=weights,
                epsilon=1e-7,
            )
        # optax's loss is cosine_distance = 1 − cos; its epsilon floors the squared norm.
        for p, eps in ((COS_P, 0.0), (COS_TINY_P, 1e-4)):
            v = optax.losses.cosine_distance(jnp.asarray(p), jnp.asarray(COS_T), epsilon=eps)
            add(
                "cosine-similarity",
                "optax",
                f"optax.losses.cosine_distance(epsilon={eps!r}) {then(reduction)}",
                p,
                COS_T,
                reduced(v, reduction),
                reduction=reduction,
                **({"epsilon": float(np.sqrt(eps))} if eps else {}),
            )
        # losscli's own (--convention torch) is the negative of torch's similarity, whose eps
        # floors each norm (ATen normalises each vector, clamp_min(eps)).
        for p, eps in ((COS_P, 1e-8), (COS_TINY_P, 1e-8), (COS_TINY_P, 0.01)):
            v = -torch.nn.functional.cosine_similarity(
                torch.tensor(p), torch.tensor(COS_T), dim=1, eps=eps
            )
            add(
                "cosine-similarity",
                "torch",
                f"-torch.nn.functional.cosine_similarity(x1, x2, eps={eps!r}) "
                f"{then(reduction, 'torch')}",
                p,
                COS_T,
                reduced(v.numpy(), reduction),
                reduction=reduction,
                epsilon=eps,
            )


def tf1_cosine() -> None:
    # TF1's cosine_distance takes unit vectors as given: 1 − ŷ·y per row, no normalisation.
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            w = 1.0 if weights is None else np.asarray(weights).reshape(-1, 1)
            value = tf1.cosine_distance(
                tf.constant(COS_T), tf.constant(COS_P), axis=1, weights=w,
                reduction=TF1_REDUCTIONS[reduction],
            )  # fmt: skip
            add(
                "cosine-similarity",
                "tf1",
                f"tf.compat.v1.losses.cosine_distance(axis=1, reduction="
                f"{TF1_REDUCTIONS[reduction]}) (none: its (N, 1) output as N values)",
                COS_P,
                COS_T,
                np.asarray(value).reshape(-1) if reduction == "none" else np.asarray(value),
                reduction=reduction,
                weights=weights,
                float32=True,  # cosine_distance casts to float32
            )


def poisson() -> None:
    for reduction in ("mean", "sum", "none"):
        for weights in (None, WEIGHTS):
            keras_case(
                "poisson-nll",
                "Poisson",
                RATES,
                COUNTS,
                reduction=reduction,
                weights=weights,
                float32=True,
                log_input=False,
            )
        keras_case(
            "poisson-nll",
            "Poisson",
            RATES[:, 0],
            COUNTS[:, 0],
            reduction=reduction,
            float32=True,
            log_input=False,
        )
    for weights in (None, W7):
        sklearn_case("poisson-deviance", skm.mean_poisson_deviance, MU, Y_COUNT, weights=weights)
        sklearn_case("gamma-deviance", skm.mean_gamma_deviance, MU, Y_POS, weights=weights)
        for power, y in (
            (0.0, Y_POS - 2.0),
            (-1.0, Y_POS - 2.0),
            (1.0, Y_COUNT),
            (1.5, Y_COUNT),
            (2.0, Y_POS),
            (3.0, Y_POS),
        ):
            sklearn_case(
                "tweedie",
                skm.mean_tweedie_deviance,
                MU,
                y,
                weights=weights,
                power=power,
                call_args=f", power={power!r}",
                options={"power": power},
            )
    # a column vector is one output too
    sklearn_case(
        "poisson-deviance",
        skm.mean_poisson_deviance,
        MU.reshape(-1, 1),
        Y_COUNT.reshape(-1, 1),
        weights=W7,
    )


def pinball() -> None:
    for weights in (None, WEIGHTS):
        sklearn_case("pinball", skm.mean_pinball_loss, REG_P, REG_T, weights=weights)
        sklearn_case(
            "pinball",
            skm.mean_pinball_loss,
            REG_P,
            REG_T,
            weights=weights,
            alpha=0.9,
            call_args=", alpha=0.9",
            options={"quantile": 0.9},
        )
    sklearn_case(
        "pinball",
        skm.mean_pinball_loss,
        REG_P[:, 0],
        REG_T[:, 0],
        weights=WEIGHTS,
        alpha=0.1,
        call_args=", alpha=0.1",
        options={"quantile": 0.1},
    )
    for alpha in (0.0, 1.0):  # the ends of sklearn's closed interval [0, 1]
        sklearn_case(
            "pinball",
            skm.mean_pinball_loss,
            REG_P,
            REG_T,
            weights=WEIGHTS,
            alpha=alpha,
            call_args=f", alpha={alpha}",
            options={"quantile": alpha},
        )


def brier() -> None:
    for weights in (None, W7):
        sklearn_case("brier", skm.brier_score_loss, BIN_P, BIN_T, weights=weights)
        sklearn_case(
            "brier",
            skm.brier_score_loss,
            BIN_P,
            BIN_T,
            weights=weights,
            scale_by_half=False,
            call_args=", scale_by_half=False",
            options={"scale_by_half": "false"},
        )
    for weights in (None, WEIGHTS):
        sklearn_case(
            "brier",
            skm.brier_score_loss,
            CLS_P,
            CLS_LABELS,
            weights=weights,
            labels=[0, 1, 2, 3],
            call_args=", labels=[0, 1, 2, 3]",
        )
        sklearn_case("brier", skm.brier_score_loss, TWO_P, TWO_LABELS, weights=weights)
        sklearn_case(
            "brier",
            skm.brier_score_loss,
            CLS_P,
            CLS_LABELS,
            weights=weights,
            labels=[0, 1, 2, 3],
            scale_by_half=True,
            call_args=", labels=[0, 1, 2, 3], scale_by_half=True",
            options={"scale_by_half": "true"},
        )


def main() -> None:
    cosine()
    tf1_cosine()
    poisson()
    pinball()
    brier()
    write_fixture(
        OUT,
        "tests/make_convention_fixtures_regression.py",
        ("keras", "optax", "jax", "scikit-learn", "tensorflow", "torch"),
        cases,
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
