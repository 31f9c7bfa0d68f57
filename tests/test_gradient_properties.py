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


# ------------------------------------------------------------------ issue 10: classification


@st.composite
def focal_sigmoid(draw):
    shape = draw(shapes())
    logits = draw(st.booleans())
    # probabilities away from 0 and 1, where PyTorch's floors of bce do not act
    z = draw(arrays(np.float64, shape, elements=floats(-8, 8) if logits else floats(0.02, 0.98)))
    y = draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]) | floats(0, 1)))
    options = {"logits": logits, "gamma": draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]))}
    if draw(st.booleans()):
        options["alpha"] = draw(floats(0, 1))
    if draw(st.booleans()):
        options["label_smoothing"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    return z, y, options


@st.composite
def class_scores(draw, logits=True, lo=-6.0, hi=6.0, rescale=False):
    """(N, C) logits, or probabilities with every entry ≥ 0.02; index or probability targets."""
    n, c = draw(shapes(min_cols=2, vector=False))
    if logits:
        p = draw(arrays(np.float64, (n, c), elements=floats(lo, hi)))
    else:
        p = draw(arrays(np.float64, (n, c), elements=floats(0.02, 1)))
        p = p / p.sum(axis=1, keepdims=True)
        if rescale:  # rows that do not sum to 1 (softmax-focal divides by the sums)
            p = p * draw(floats(0.8, 1.0))
    if draw(st.booleans()):
        return p, draw(class_indices(n, c)), {"target_type": "index"}
    return p, draw(probability_rows(n, c)), {"target_type": "prob"}


@st.composite
def focal_softmax(draw):
    logits = draw(st.booleans())
    p, t, options = draw(class_scores(logits=logits, lo=-4, hi=4, rescale=True))
    options |= {"logits": logits, "gamma": draw(st.sampled_from([0.0, 0.5, 2.0, 3.0]))}
    options["alpha"] = draw(floats(0.05, 1))
    if draw(st.booleans()):
        options["label_smoothing"] = draw(floats(0, 1))
    return p, t, options


@st.composite
def poly(draw):
    p, t, options = draw(class_scores())
    return p, t, options | {"epsilon": draw(floats(-1, 5))}


def _off_margin(m):
    return (np.abs(m) > 1e-3).all()


@st.composite
def signed_margin(draw, name):
    shape = draw(shapes())
    x = draw(arrays(np.float64, shape, elements=floats(-4, 4)))
    zero_one = draw(st.booleans())
    labels = st.sampled_from([0.0, 1.0] if zero_one else [-1.0, 1.0])
    y = draw(arrays(np.float64, shape, elements=labels))
    if name in ("hinge", "squared-hinge"):
        assume(_off_margin(1.0 - np.where(y == 0, -1.0, y) * x))  # the kink at y·x = 1
    return x, y, {}


@st.composite
def categorical_margin(draw):
    x, t, options = draw(class_scores(lo=-3, hi=3))
    y = t if t.ndim == 2 else np.eye(x.shape[1])[t.astype(int)]
    u = (1.0 - y) * x
    top = np.sort(u, axis=1)
    assume((top[:, -1] - top[:, -2] > 1e-3).all())  # no tie in the max
    assume(_off_margin(top[:, -1] - (y * x).sum(axis=1) + 1.0))  # off the margin
    return x, t, options


@st.composite
def multi_class_margin(draw):
    n, c = draw(shapes(min_cols=2, vector=False))
    x = draw(arrays(np.float64, (n, c), elements=floats(-3, 3)))
    y = draw(class_indices(n, c))
    options = {"p": draw(st.sampled_from([1, 2])), "margin": draw(floats(0, 2))}
    if draw(st.booleans()):
        options["class_weights"] = draw(st.lists(floats(0.1, 3), min_size=c, max_size=c))
    rows = np.arange(n)
    z = options["margin"] - x[rows, y.astype(int)][:, None] + x
    z[rows, y.astype(int)] = 1.0
    assume(_off_margin(z))  # off the kinks z = 0
    return x, y, options


@st.composite
def multilabel(draw):
    shape = draw(shapes())
    x = draw(arrays(np.float64, shape, elements=floats(-8, 8)))
    y = draw(arrays(np.float64, shape, elements=floats(0, 1)))
    options = {}
    if draw(st.booleans()):
        c = 1 if len(shape) == 1 else shape[1]
        options["class_weights"] = draw(st.lists(floats(0.1, 3), min_size=c, max_size=c))
    return x, y, options


@st.composite
def brier_score(draw):
    options = {"scale_by_half": draw(st.sampled_from(["auto", "true", "false"]))}
    if draw(st.booleans()):
        n = draw(st.integers(1, 6))
        p = draw(arrays(np.float64, (n,), elements=floats(0.01, 0.99)))  # steps stay in [0, 1]
        return p, draw(arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]))), options
    p, t, more = draw(class_scores(logits=False))
    return p, t, options | more


@st.composite
def sparse(draw):
    if draw(st.booleans()):
        n = draw(st.integers(1, 6))
        z = draw(arrays(np.float64, (n,), elements=floats(-3, 3)))
        assume((np.abs(np.abs(z) - 1.0) > 1e-3).all())  # off the joins of sparse_plus
        return z, draw(arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0]))), {}
    z, t, options = draw(class_scores(lo=-2, hi=2))
    # off the points where the support of sparsemax changes (its Hessian jumps there)
    zs = -np.sort(-z, axis=1)
    k = np.arange(1, z.shape[1] + 1)
    cs = np.cumsum(zs, axis=1)
    support = (1.0 + k * zs > cs).sum(axis=1)
    tau = (cs[np.arange(len(z)), support - 1] - 1.0) / support
    assume((np.abs(z - tau[:, None]) > 1e-3).all())
    return z, t, options


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
    "sigmoid-focal": focal_sigmoid(),
    "softmax-focal": focal_softmax(),
    "poly1": poly(),
    "hinge": signed_margin("hinge"),
    "squared-hinge": signed_margin("squared-hinge"),
    "categorical-hinge": categorical_margin(),
    "multi-margin": multi_class_margin(),
    "soft-margin": signed_margin("soft-margin"),
    "multilabel-soft-margin": multilabel(),
    "brier": brier_score(),
    "sparsemax": sparse(),
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


# --------------------------------------------------------------------------- the Hessian diagonal


def reduced_hess(loss, preds, targets, /, *, reduction, sample_weights=None, **options):
    """The diagonal of the Hessian of the reduced loss: ``loss.hess`` where the Loss has it,
    else the hess kernel through the reduction's chain rule (the gradient's, being linear)."""
    if hasattr(loss, "hess"):
        return loss.hess(
            preds, targets, reduction=reduction, sample_weights=sample_weights, **options
        )
    prepared = loss.prepare_inputs(preds, targets, **options)
    h = loss.hess_kernel(prepared.predictions, prepared.targets, **prepared.options)
    if loss.elementwise and h.ndim == 2:
        h = h / h.shape[1]
    return loss.scale_row_grad(h, prepared, reduction, sample_weights)


def hessian_by_differences(
    loss, preds, targets, /, *, reduction, sample_weights, step=1e-5, **options
):
    """Central differences of the analytic gradient of the reduced loss, one element at a time."""
    x = np.asarray(preds, dtype=np.float64)
    out = np.zeros_like(x)
    kw = dict(reduction=reduction, sample_weights=sample_weights, **options)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = step
        up, down = loss.grad(x + e, targets, **kw), loss.grad(x - e, targets, **kw)
        out[idx] = (up[idx] - down[idx]) / (2 * step)
    return out


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


def test_every_new_classification_loss_has_a_hessian():
    new = {
        "sigmoid-focal",
        "softmax-focal",
        "poly1",
        "hinge",
        "squared-hinge",
        "categorical-hinge",
        "multi-margin",
        "soft-margin",
        "multilabel-soft-margin",
        "brier",
        "sparsemax",
    }
    assert new <= set(HESSIAN_LOSSES)
