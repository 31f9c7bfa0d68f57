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


# --------------------------------------------------------------------------- issue 10 losses
# Each keeps its draws a step's width off the loss's kinks (ties, margins, floors).


@st.composite
def robust(draw, name):
    shape = draw(shapes())
    p = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    t = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    if name == "log-cosh":
        return p, t, {}
    assume((np.abs(p - t) > 1e-3).all())
    return p, t, {"quantile": draw(floats(0.01, 0.99))}


@st.composite
def relative(draw, name):
    shape = draw(shapes())
    options = {}
    if name == "mape":
        t = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
        p = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
        assume((np.abs(t) > 0.1).all() and (np.abs(p - t) > 1e-3).all())
        if draw(st.booleans()):
            options = {"percent": True, "epsilon": 1e-7}
        return p, t, options
    p = draw(arrays(np.float64, shape, elements=floats(-0.9, 10)))
    t = draw(arrays(np.float64, shape, elements=floats(-0.9, 10)))
    if draw(st.booleans()):
        options["floor"] = draw(st.sampled_from([1e-7, 0.5]))
        assume((np.abs(p - options["floor"]) > 1e-3).all())
    return p, t, options


@st.composite
def poisson(draw):
    shape = draw(shapes())
    t = draw(arrays(np.float64, shape, elements=st.integers(0, 12).map(float)))
    options = {"log_input": draw(st.booleans()), "full": draw(st.booleans())}
    lo, hi = (-4, 3) if options["log_input"] else (0.05, 10)
    return draw(arrays(np.float64, shape, elements=floats(lo, hi))), t, options


@st.composite
def gaussian(draw):
    shape = draw(shapes())
    p = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    t = draw(arrays(np.float64, shape, elements=floats(-10, 10)))
    layout = draw(st.sampled_from(["one", "element", "row"]))
    if layout == "one":
        var = draw(floats(0.1, 5))
    else:
        size = int(np.prod(shape)) if layout == "element" else shape[0]
        var = draw(st.lists(floats(0.1, 5), min_size=size, max_size=size))
    return p, t, {"var": var, "full": draw(st.booleans())}


@st.composite
def tweedie_family(draw, name):
    shape = draw(shapes())
    power = {"poisson-deviance": 1.0, "gamma-deviance": 2.0}.get(name)
    if power is None:
        power = draw(st.sampled_from([-0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 3.0]))
    p = draw(arrays(np.float64, shape, elements=floats(0.1, 10)))
    lo = -5 if power < 0 else (0 if power < 2 else 0.1)
    t = draw(arrays(np.float64, shape, elements=floats(lo, 10)))
    return p, t, ({"power": power} if name == "tweedie" else {})


@st.composite
def vectors(draw, n, d, lo=-5, hi=5):
    a = draw(arrays(np.float64, (n, d), elements=floats(lo, hi)))
    assume((np.linalg.norm(a, axis=1) > 0.1).all())
    return a


@st.composite
def cosine(draw):
    n, d = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    options = {"epsilon": draw(st.sampled_from([0.0, 1e-7, 0.05]))}
    return draw(vectors(n, d)), draw(vectors(n, d)), options


@st.composite
def signs(draw, n):
    return np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))


@st.composite
def cosine_pairs(draw):
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    p = np.hstack([draw(vectors(n, d)), draw(vectors(n, d))])
    y, margin = draw(signs(n)), draw(floats(-1, 1))
    x1, x2 = p[:, :d], p[:, d:]
    cos = (x1 * x2).sum(1) / np.linalg.norm(x1, axis=1) / np.linalg.norm(x2, axis=1)
    assume((np.abs(cos - margin) > 1e-3).all())
    return p, y, {"margin": margin}


@st.composite
def ranking(draw):
    n = draw(st.integers(1, 6))
    p = draw(arrays(np.float64, (n, 2), elements=floats(-5, 5)))
    y, margin = draw(signs(n)), draw(floats(-2, 2))
    assume((np.abs(-y * (p[:, 0] - p[:, 1]) + margin) > 1e-3).all())
    return p, y, {"margin": margin}


@st.composite
def hinge_pairs(draw):
    shape = draw(shapes())
    x = draw(arrays(np.float64, shape, elements=floats(0, 5)))
    y = draw(signs(int(np.prod(shape)))).reshape(shape)
    margin = draw(floats(0.1, 3))
    assume((np.abs(x - margin) > 1e-3).all())
    return x, y, {"margin": margin}


@st.composite
def overlap(draw, name):
    shape = draw(shapes())
    t = draw(arrays(np.float64, shape, elements=floats(0, 1)))
    logits = draw(st.booleans())
    lo, hi = (-8, 8) if logits else (0.02, 0.98)
    p = draw(arrays(np.float64, shape, elements=floats(lo, hi)))
    options = {"logits": logits, "smooth": draw(floats(0.1, 2))}
    if name == "tversky":
        options.update(alpha=draw(floats(0, 2)), beta=draw(floats(0, 2)))
    return p, t, options


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
    "log-cosh": robust("log-cosh"),
    "pinball": robust("pinball"),
    "mape": relative("mape"),
    "msle": relative("msle"),
    "poisson-nll": poisson(),
    "gaussian-nll": gaussian(),
    "tweedie": tweedie_family("tweedie"),
    "poisson-deviance": tweedie_family("poisson-deviance"),
    "gamma-deviance": tweedie_family("gamma-deviance"),
    "cosine-similarity": cosine(),
    "cosine-embedding": cosine_pairs(),
    "margin-ranking": ranking(),
    "hinge-embedding": hinge_pairs(),
    "dice": overlap("dice"),
    "tversky": overlap("tversky"),
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


@pytest.mark.parametrize("name", sorted(REGISTRY))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_one_wrong_element_fails_the_check(name, data):
    """The check can fail: one element of the analytic gradient moved by a few times its
    allowed error (the tolerance plus the estimate's error bar) is a FAIL, and the only one."""
    from losscli.gradcheck import estimate

    loss = REGISTRY[name]
    p, t, options = data.draw(STRATEGIES[name])
    reduction = data.draw(st.sampled_from(loss.reductions))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        prepared = loss.prepare_inputs(p, t, **options)
        right = loss.reduce_grad(prepared, reduction=reduction)
        found = estimate(loss, prepared, reduction=reduction)
        flat = data.draw(st.integers(0, right.size - 1))
        at = np.unravel_index(flat, right.shape)
        n, err = float(found.numeric[at]), float(found.error[at])
        assume(np.isfinite(n) and np.isfinite(err))
        wrong = right.copy()
        wrong[at] += 4 * (1e-5 + 1e-3 * abs(n) + err) + 1e-6
        result = gradcheck(loss, p, t, reduction=reduction, analytic=wrong, **options)
    assume(result.status[at] != "clamped")
    assert result.status[at] == "FAIL" and result.failed == 1, (at, result.records(3))
