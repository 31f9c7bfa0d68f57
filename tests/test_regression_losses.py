"""The losses of issue 10 (regression, likelihood, pairs/similarity, segmentation) against their
reference libraries: value, gradient and Hessian diagonal for every reduction.

Expected values come from tests/fixtures/regression_losses.json, written once by
tests/make_regression_fixtures.py with torch 2.13 autograd, scikit-learn, optax (jax, x64) and
keras 3 (jax backend, float64); each case names the call it evaluated. losscli never imports
these libraries. Tolerance: 1e-12 relative in float64; the case's own ``rtol`` where the
reference computes in float32 (Keras's constants: 1e-6) or adds its own 1e-7 (Keras's Dice and
Tversky: 1e-5), as the script's docstring says.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gradient_properties import STRATEGIES, floats

from losscli.losses import REGISTRY, get_loss

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "regression_losses.json").read_text())
CASES = FIXTURES["cases"]
NEW_LOSSES = {
    "log-cosh",
    "pinball",
    "mape",
    "msle",
    "poisson-nll",
    "gaussian-nll",
    "tweedie",
    "poisson-deviance",
    "gamma-deviance",
    "cosine-similarity",
    "cosine-embedding",
    "margin-ranking",
    "hinge-embedding",
    "dice",
    "tversky",
}
ATOL = 1e-15  # entries that are 0 in one and rounding residue in the other


def reduced_hess(loss, prepared, reduction, sample_weights=None):
    """The Hessian diagonal of the reduced loss from the loss's ``hess_kernel`` (the Hessian of
    Σ values): the reduction scales it exactly as it scales the gradient."""
    h = loss.hess_kernel(prepared.predictions, prepared.targets, **prepared.options)
    rows = h / h.shape[1] if loss.elementwise and h.ndim == 2 else h
    return loss.scale_row_grad(rows, prepared, reduction, sample_weights)


def _evaluate(case):
    loss = get_loss(case["loss"])
    kwargs = dict(reduction=case["reduction"], sample_weights=case["sample_weights"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clamps and floors are tested on their own
        value, grad = loss.value_and_grad(
            case["preds"], case["targets"], **kwargs, **case["options"]
        )
        value_only = loss(case["preds"], case["targets"], **kwargs, **case["options"])
        grad_only = loss.grad(case["preds"], case["targets"], **kwargs, **case["options"])
        prepared = loss.prepare_inputs(case["preds"], case["targets"], **case["options"])
    hess = reduced_hess(loss, prepared, case["reduction"], case["sample_weights"])
    return value, grad, hess, value_only, grad_only


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_the_reference_library(case):
    value, grad, hess, value_only, grad_only = _evaluate(case)
    rtol = case["rtol"]
    np.testing.assert_allclose(value, case["value"], rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(grad, np.array(case["grad"]), rtol=rtol, atol=ATOL)
    scale = max(1.0, float(np.abs(case["hess"]).max()))
    np.testing.assert_allclose(hess, np.array(case["hess"]), rtol=rtol, atol=ATOL * scale)
    np.testing.assert_array_equal(np.asarray(value_only), np.asarray(value))
    np.testing.assert_array_equal(grad_only, grad)


def test_fixtures_name_their_source_and_cover_every_new_loss():
    assert FIXTURES["generator"] == "tests/make_regression_fixtures.py"
    assert FIXTURES["versions"]["torch"].startswith("2.13")
    assert {c["loss"] for c in CASES} == NEW_LOSSES
    assert set(REGISTRY) >= NEW_LOSSES
    for case in CASES:
        assert case["call"] and case["source"], case["id"]
    # every reduction of every loss, and a float64 (1e-12) reference for each
    for name in NEW_LOSSES:
        mine = [c for c in CASES if c["loss"] == name]
        assert {c["reduction"] for c in mine} == set(REGISTRY[name].reductions), name
        assert any(c["rtol"] == 1e-12 for c in mine), name


def test_every_new_loss_documents_its_hessian_and_kinks():
    for name in NEW_LOSSES:
        loss = REGISTRY[name]
        assert loss.hess_kernel is not None, name
        assert "Hessian" in loss.doc, name
    piecewise = {"pinball", "mape", "margin-ranking", "hinge-embedding"}
    for name in piecewise:
        assert REGISTRY[name].kinks is not None and REGISTRY[name].hess_note, name


# --------------------------------------------------------------------------- Hessian vs FD
# The strategies of test_gradient_properties (one per registered loss) drive a check of each
# analytic Hessian diagonal against central differences of the analytic gradient.


def numeric_hess_diagonal(loss, prepared, reduction, s, h=1e-5):
    """(∂g_j/∂x_j) by central differences of the analytic gradient, one element at a time."""
    x = prepared.predictions
    out = np.empty(x.size)
    for j in range(x.size):
        step = h * max(1.0, abs(x.flat[j]))
        grads = []
        for sign in (1.0, -1.0):
            moved = x.copy()
            moved.flat[j] += sign * step
            at = replace(prepared, predictions=moved)
            grads.append(loss.reduce_grad(at, reduction=reduction, sample_weights=s).flat[j])
        out[j] = (grads[0] - grads[1]) / (2.0 * step)
    return out.reshape(x.shape)


@pytest.mark.parametrize("name", sorted(NEW_LOSSES))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_analytic_hessian_matches_finite_differences_of_the_gradient(name, data):
    loss = REGISTRY[name]
    p, t, options = data.draw(STRATEGIES[name])
    reduction = data.draw(st.sampled_from(loss.reductions))
    s = None
    if data.draw(st.booleans()):
        s = data.draw(st.lists(floats(0.1, 3), min_size=len(p), max_size=len(p)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = loss.prepare_inputs(p, t, **options)
        analytic = reduced_hess(loss, prepared, reduction, s)
        numeric = numeric_hess_diagonal(loss, prepared, reduction, s)
    scale = max(1.0, float(np.abs(numeric).max()))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * scale)


def test_the_hessian_check_can_fail():
    """A Hessian off by a factor 2 is caught by the same comparison."""
    loss = REGISTRY["log-cosh"]
    prepared = loss.prepare_inputs([0.3, -1.2], [0.0, 0.5])
    numeric = numeric_hess_diagonal(loss, prepared, "sum", None)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(2 * reduced_hess(loss, prepared, "sum"), numeric, rtol=1e-4)
