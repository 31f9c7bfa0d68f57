"""Values and gradients against PyTorch.

Expected values come from tests/fixtures/torch_reference.json, generated once by
tests/make_fixtures.py with PyTorch (version recorded in the file); losscli never imports torch.
Every case is compared to 1e-12 relative in float64, value and gradient, for every reduction.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from losscli.losses import REGISTRY, get_loss

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "torch_reference.json").read_text())
CASES = FIXTURES["cases"]

# Fixture names → registry names and keyword names where they differ.
LOSS_NAMES = {"smooth_l1": "smooth-l1", "bce-logits": "bce"}
OPTION_NAMES = {"targets": "target_type"}

RTOL = 1e-12
ATOL = 1e-15  # for entries that are 0 in one and ~1e-17 rounding residue in the other


def _number(x):
    return float(x) if isinstance(x, str) else x  # "nan", "inf" are strings in JSON


def _call(case):
    loss = get_loss(LOSS_NAMES.get(case["loss"], case["loss"]))
    options = {OPTION_NAMES.get(k, k): v for k, v in case["options"].items()}
    kwargs = dict(reduction=case["reduction"], sample_weights=case["sample_weights"], **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping and row-sum warnings are tested elsewhere
        value, grad = loss.value_and_grad(case["preds"], case["targets"], **kwargs)
        value_only = loss(case["preds"], case["targets"], **kwargs)
        grad_only = loss.grad(case["preds"], case["targets"], **kwargs)
    return value, grad, value_only, grad_only


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_pytorch(case):
    value, grad, value_only, grad_only = _call(case)
    expected_value = np.array(
        [_number(v) for v in case["value"]]
        if isinstance(case["value"], list)
        else _number(case["value"])
    )
    expected_grad = np.array(case["grad"], dtype=np.float64)
    np.testing.assert_allclose(value, expected_value, rtol=RTOL, atol=ATOL, equal_nan=True)
    np.testing.assert_allclose(grad, expected_grad, rtol=RTOL, atol=ATOL)
    # The one-pass and separate paths agree exactly.
    np.testing.assert_array_equal(np.asarray(value_only), np.asarray(value))
    np.testing.assert_allclose(grad_only, grad, rtol=1e-15, atol=0)


def test_fixtures_name_their_source():
    assert FIXTURES["generator"] == "tests/make_fixtures.py"
    assert FIXTURES["torch_version"].startswith("2.")
    assert len(CASES) > 100


def test_every_fixture_loss_is_registered_and_every_loss_has_fixtures():
    covered = {LOSS_NAMES.get(c["loss"], c["loss"]) for c in CASES}
    # and the reference fixtures of later losses, each file from its own script
    for path in sorted((Path(__file__).parent / "fixtures").glob("*.json")):
        if path.name != "torch_reference.json":
            cases = json.loads(path.read_text())["cases"]  # (xgboost_objectives: no loss)
            covered |= {LOSS_NAMES.get(c["loss"], c["loss"]) for c in cases if "loss" in c}
    assert covered == set(REGISTRY)
