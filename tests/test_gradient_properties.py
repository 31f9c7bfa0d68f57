"""Every registered loss's analytic gradient against central finite differences (hypothesis:
random shapes, values, options, reductions and sample weights).

The test iterates the REGISTRY: a new loss is picked up by itself, and
``test_every_registered_loss_has_a_strategy`` fails until its inputs have a strategy below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from losscli.errors import LossCliWarning
from losscli.gradcheck import gradcheck
from losscli.losses import REGISTRY

# --------------------------------------------------------------------------- strategies


def floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def shapes(draw, min_cols=1, vector=True):
    n = draw(st.integers(1, 5))
    d = draw(st.integers(min_cols, 4))
    if vector and draw(st.booleans()):
        return (n,)
    return (n, d)


@st.composite
def regression(draw, name):
    shape = draw(shapes())
    p = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    t = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    err = np.abs(p - t)
    options = {}
    if name in ("mae", "smooth-l1", "huber"):
        assume((err > 1e-3).all())  # keep the step off the kink of |e| at 0
    if name == "huber":
        options["delta"] = draw(floats(0.1, 5))
        assume((np.abs(err - options["delta"]) > 1e-3).all())
    if name == "smooth-l1":
        options["beta"] = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
        assume((np.abs(err - options["beta"]) > 1e-3).all())
    if name == "rmse":
        rows = err.reshape(len(err), -1)
        assume((rows.max(axis=1) > 1e-2).all())  # √ is not differentiable at a perfect fit
    return p, t, options


@st.composite
def class_indices(draw, n, c, ignore_index=None):
    labels = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    if ignore_index is not None:
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        labels = [ignore_index if m else y for y, m in zip(labels, mask, strict=True)]
    return np.array(labels, dtype=np.float64)


@st.composite
def class_options(draw, c, smoothing):
    options = {}
    if draw(st.booleans()):
        options["class_weights"] = draw(st.lists(floats(0.1, 3), min_size=c, max_size=c))
    if draw(st.booleans()):
        options["ignore_index"] = draw(st.sampled_from([-100, 0]))
    if smoothing and draw(st.booleans()):
        options["label_smoothing"] = draw(floats(0, 1))
    return options


@st.composite
def probability_rows(draw, n, c):
    raw = draw(arrays(np.float64, (n, c), elements=floats(0, 1)))
    raw[:, 0] += 0.1  # no all-zero row
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def cross_entropy(draw):
    n, c = draw(shapes(min_cols=2, vector=False))
    logits = draw(st.booleans())
    if logits:
        p = draw(arrays(np.float64, (n, c), elements=floats(-20, 20)))
    else:
        p = draw(arrays(np.float64, (n, c), elements=floats(0.05, 0.95)))
    options = {"logits": logits, **draw(class_options(c, smoothing=True))}
    if draw(st.booleans()):
        t = draw(class_indices(n, c, options.get("ignore_index")))
    else:
        options.pop("ignore_index", None)
        t = draw(probability_rows(n, c))
        options["target_type"] = "prob"
    return p, t, options


@st.composite
def log_probabilities(draw, n, c):
    return draw(arrays(np.float64, (n, c), elements=floats(-10, -1e-3)))


@st.composite
def negative_log_likelihood(draw):
    n, c = draw(shapes(min_cols=2, vector=False))
    options = draw(class_options(c, smoothing=False))
    return (
        draw(log_probabilities(n, c)),
        draw(class_indices(n, c, options.get("ignore_index"))),
        options,
    )


@st.composite
def binary(draw):
    shape = draw(shapes())
    t = draw(arrays(np.float64, shape, elements=floats(0, 1)))
    if draw(st.booleans()):
        return draw(arrays(np.float64, shape, elements=floats(0.02, 0.98))), t, {}
    options = {"logits": True}
    if draw(st.booleans()):
        cols = 1 if len(shape) == 1 else shape[1]
        size = draw(st.sampled_from([1, cols]))
        options["pos_weight"] = draw(st.lists(floats(0.1, 5), min_size=size, max_size=size))
    return draw(arrays(np.float64, shape, elements=floats(-20, 20))), t, options


@st.composite
def divergence(draw):
    n, c = draw(shapes(min_cols=2, vector=False))
    q = draw(probability_rows(n, c))
    log_target = draw(st.booleans())
    t = np.log(np.maximum(q, 1e-300)) if log_target else q
    return draw(log_probabilities(n, c)), t, {"log_target": log_target}


STRATEGIES = {
    "mse": regression("mse"),
    "mae": regression("mae"),
    "huber": regression("huber"),
    "smooth-l1": regression("smooth-l1"),
    "rmse": regression("rmse"),
    "ce": cross_entropy(),
    "nll": negative_log_likelihood(),
    "bce": binary(),
    "kl": divergence(),
}


def test_every_registered_loss_has_a_strategy():
    assert set(STRATEGIES) == set(REGISTRY)


# --------------------------------------------------------------------------- the property


@pytest.mark.parametrize("name", sorted(REGISTRY))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_analytic_gradient_matches_finite_differences(name, data):
    loss = REGISTRY[name]
    p, t, options = data.draw(STRATEGIES[name])
    reduction = data.draw(st.sampled_from(loss.reductions))
    weights = None
    if data.draw(st.booleans()):
        weights = data.draw(st.lists(floats(0.1, 3), min_size=len(p), max_size=len(p)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)  # e.g. every target ignored: NaN mean
        result = gradcheck(loss, p, t, reduction=reduction, sample_weights=weights, **options)
    assert result.passed, (result.max_abs_err, result.max_rel_err, result.worst(3))


# --------------------------------------------------------------------------- second derivatives

HESSIAN_LOSSES = sorted(name for name, loss in REGISTRY.items() if loss.has_hess)


def test_every_loss_of_this_round_has_a_hessian():
    assert {"mse", "mae", "huber", "smooth-l1", "rmse", "ce", "nll", "bce", "kl"} <= set(
        HESSIAN_LOSSES
    )


@pytest.mark.parametrize("name", HESSIAN_LOSSES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_analytic_hessian_matches_finite_differences_of_the_gradient(name, data):
    from losscli.hesscheck import hesscheck

    loss = REGISTRY[name]
    p, t, options = data.draw(STRATEGIES[name])
    reduction = data.draw(st.sampled_from(loss.reductions))
    weights = None
    if data.draw(st.booleans()):
        weights = data.draw(st.lists(floats(0.1, 3), min_size=len(p), max_size=len(p)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        result = hesscheck(loss, p, t, reduction=reduction, sample_weights=weights, **options)
    assert result.passed, (result.max_abs_err, result.max_rel_err, result.worst(3))
