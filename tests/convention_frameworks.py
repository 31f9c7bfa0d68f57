"""The framework set-up shared by the ``--convention`` fixture scripts and the fuzzer.

Imported first (``import convention_frameworks``, which sorts before ``jax``) by
``tests/make_convention_fixtures.py``, ``tests/make_convention_fixtures_regression.py``,
``tests/make_convention_fixtures_classification.py`` and ``tests/fuzz_conventions.py``; not a
pytest module (the name does not match ``test_*.py``; the frameworks are not dependencies of
losscli). Importing it fixes the environment before jax/keras load: Keras 3 on the jax backend
with floatx float64 (else Keras casts float64 inputs to float32), jax with x64, and TensorFlow's
oneDNN off (exact float64 kernels, reproducible). TensorFlow itself is imported only where used
(``tf1_reductions``), so the fuzzer starts without it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # exact float64 kernels, reproducible

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402

keras.config.set_floatx("float64")  # else Keras casts float64 inputs to float32
import keras.src.losses.losses as keras_losses_module  # noqa: E402
import numpy as np  # noqa: E402

KERAS_REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum", "none": None}
REDUCTIONS = ("mean", "sum", "none")

# inputs the same in more than one script
WEIGHTS = np.array([1.0, 0.0, 2.0, 0.5, 3.0])  # a zero weight: TF1's denominator skips it
CLS_SOFT = np.array(
    [
        [0.7, 0.1, 0.1, 0.1],
        [0.0, 0.0, 0.5, 0.5],
        [0.25, 0.25, 0.25, 0.25],
        [0.0, 1.0, 0.0, 0.0],
        [0.1, 0.2, 0.3, 0.4],
    ]
)
CLS_P = np.array(  # rows not summing to 1 (Keras renormalises) and an exact zero (clipped)
    [
        [0.6, 0.2, 0.1, 0.1],
        [0.1, 0.2, 0.3, 0.2],
        [0.0, 0.9, 0.05, 0.05],
        [0.25, 0.25, 0.25, 0.25],
        [0.1, 0.1, 0.1, 0.7],
    ]
)

# the fixture's "versions" key → the module whose __version__ it records
_MODULES = {
    "keras": "keras",
    "tensorflow": "tensorflow",
    "optax": "optax",
    "jax": "jax",
    "scikit-learn": "sklearn",
    "torch": "torch",
}


def tf1_reductions():
    """``--reduction`` → ``tf.compat.v1.losses.Reduction`` (imports TensorFlow)."""
    import tensorflow as tf

    reduction = tf.compat.v1.losses.Reduction
    return {"mean": reduction.SUM_BY_NONZERO_WEIGHTS, "sum": reduction.SUM, "none": reduction.NONE}


@contextlib.contextmanager
def float64_keras_mean():
    """keras.ops.mean as a float64 mean, inside Keras's losses module only (Keras's own
    ``ops.mean`` computes in float32: ``result_type(x.dtype, "float32")``)."""
    original = keras_losses_module.ops.mean

    def mean(x, axis=None, keepdims=False):
        return jnp.mean(jnp.asarray(x, jnp.float64), axis=axis, keepdims=keepdims)

    keras_losses_module.ops.mean = mean
    try:
        yield
    finally:
        keras_losses_module.ops.mean = original


def reduced(values, reduction):
    """Per-row values reduced as ``--reduction`` does with no weights: mean, sum or as is."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": v.mean(), "sum": v.sum(), "none": v}[reduction]


def fixture_case(
    loss,
    convention,
    call,
    p,
    t,
    value,
    *,
    reduction="mean",
    weights=None,
    float32_reference=False,
    **options,
):
    """One case of a conventions fixture, as the tests read it: the framework's ``call`` gave
    ``value`` on predictions ``p``, targets ``t`` and sample ``weights``, for losscli's
    ``options`` (key order fixed: a rerun must write the same bytes)."""
    return {
        "loss": loss,
        "convention": convention,
        "call": call,
        "reduction": reduction,
        "predictions": np.asarray(p).tolist(),
        "targets": np.asarray(t).tolist(),
        "sample_weights": None if weights is None else np.asarray(weights).tolist(),
        "options": options,
        "expected": np.asarray(value, dtype=np.float64).tolist(),
        "float32_reference": float32_reference,
    }


def write_fixture(out: Path, generated_by: str, frameworks, cases, **extra) -> None:
    """Write ``out``: the script that made it, the versions of ``frameworks`` (in that order),
    the cases and any ``extra`` top-level lists."""
    versions = {name: importlib.import_module(_MODULES[name]).__version__ for name in frameworks}
    body = {"generated_by": generated_by, "versions": versions, "cases": cases, **extra}
    out.write_text(json.dumps(body, indent=1) + "\n")
