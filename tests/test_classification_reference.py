"""The classification losses of issue 10 against their reference libraries: value, gradient and
Hessian diagonal of the reduced loss, for every reduction.

Expected values come from tests/fixtures/classification_losses.json, written by
tests/make_classification_fixtures.py with torch 2.13 (autograd), jax + optax, Keras 3 on jax
(float64) and scikit-learn — each case names the call it evaluated. Tolerance: 1e-12 relative,
except the cases whose reference computes in float32 (Keras's ``ops.mean`` in hinge and
squared_hinge), which carry their own ``rtol`` (1e-6).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_gradient_properties import reduced_hess  # one helper for the reduced Hessian

from losscli.losses import get_loss

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "classification_losses.json").read_text()
)
CASES = FIXTURES["cases"]
ATOL = 1e-15  # entries that are 0 in one and ~1e-17 rounding residue in the other


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_the_reference_library(case):
    loss = get_loss(case["loss"])
    kwargs = dict(reduction=case["reduction"], sample_weights=case["sample_weights"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping warnings are tested elsewhere
        value, grad = loss.value_and_grad(
            case["preds"], case["targets"], **kwargs, **case["options"]
        )
        value_only = loss(case["preds"], case["targets"], **kwargs, **case["options"])
        hess = reduced_hess(loss, case["preds"], case["targets"], **kwargs, **case["options"])
    rtol = case["rtol"]
    np.testing.assert_allclose(value, np.array(case["value"]), rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(grad, np.array(case["grad"]), rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(hess, np.array(case["hess"]), rtol=rtol, atol=ATOL)
    np.testing.assert_array_equal(np.asarray(value_only), np.asarray(value))


def test_fixtures_name_their_source_and_cover_every_new_loss():
    assert FIXTURES["generator"] == "tests/make_classification_fixtures.py"
    assert FIXTURES["versions"]["torch"].startswith("2.13")
    assert all(c["reference"] for c in CASES)
    assert {c["loss"] for c in CASES} == {
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
    # only the float32-only Keras means are looser
    loose = {c["id"] for c in CASES if c["rtol"] != 1e-12}
    assert loose and all(
        i.startswith(("hinge-keras", "hinge-margin", "squared-hinge")) for i in loose
    )


def test_kink_cases_record_the_reference_subgradient():
    by_id = {c["id"]: c for c in CASES}
    # hinge at y·x = 1 (first two elements): jax's maximum gives −y/2; sum reduction
    assert by_id["hinge-margin-sum"]["grad"][0][:2] == [-0.5, 0.5]
    # multi-margin at z = 0: torch's backward counts only z > 0 (row 0: x = [1, 0, 0.5], y = 0)
    np.testing.assert_allclose(by_id["multi-margin-kink-sum"]["grad"][0], [-1 / 3, 0, 1 / 3])
