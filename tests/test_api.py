"""The Python API: `import losscli` gives the functions the CLI uses, typed and documented,
and the examples in their docstrings run."""

from __future__ import annotations

import doctest
import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

import losscli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "module",
    [
        "losscli",
        "losscli.losses.regression",
        "losscli.losses.classification",
        "losscli.gradcheck",
        "losscli.report",
        "losscli.select",
        "losscli.io",
        "losscli.engine",
        "losscli.states",
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_api_names_exist_and_are_documented():
    for name in (
        "mse",
        "cross_entropy",
        "gradcheck",
        "read_array",
        "read_inputs",
        "top_rows",
        "histogram",
    ):
        obj = getattr(losscli, name)
        doc = inspect.getdoc(obj) or ""
        assert ">>>" in doc, f"{name} has no example"
    for loss in (losscli.mse, losscli.cross_entropy):
        assert "Gradient" in loss.__doc__ and "Per row" in loss.__doc__  # formula and gradient


def test_losses_have_value_grad_and_both():
    p, t = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    assert losscli.mse(p, t) == 2.5
    np.testing.assert_array_equal(losscli.mse.grad(p, t), [[1.0, 2.0]])
    value, grad = losscli.mse.value_and_grad(p, t, reduction="sum")
    assert value == 5.0
    np.testing.assert_array_equal(grad, [[2.0, 4.0]])


def test_signatures_list_each_loss_own_options():
    sig = inspect.signature(losscli.cross_entropy)
    assert list(sig.parameters)[:4] == ["predictions", "targets", "reduction", "sample_weights"]
    assert sig.parameters["logits"].default is False
    assert sig.parameters["logits"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "logits" not in inspect.signature(losscli.mse).parameters
    for loss in losscli.REGISTRY.values():  # every loss, whatever its option types
        assert all(p.name in inspect.signature(loss).parameters for p in loss.params)


def test_cli_and_api_agree(tmp_path):
    from typer.testing import CliRunner

    from losscli.cli import app

    (tmp_path / "s.csv").write_text("id,z0,z1,label\na,0.3,-1.2,1\nb,2.0,0.1,0\n")
    r = CliRunner().invoke(
        app,
        [
            "ce",
            str(tmp_path / "s.csv"),
            "--target-col",
            "label",
            "--id-col",
            "id",
            "--logits",
            "-g",
            "-f",
            "json",
        ],
    )
    inputs = losscli.read_inputs(tmp_path / "s.csv", target_cols=["label"], id_col="id")
    value, grad = losscli.cross_entropy.value_and_grad(
        inputs.predictions, inputs.targets, logits=True
    )
    import json

    doc = json.loads(r.stdout)
    assert doc["value"] == value  # the same float, bit for bit
    assert doc["grad"] == grad.tolist()


def test_package_is_typed():
    assert (ROOT / "losscli" / "py.typed").exists()


# The examples of docs/python-api.md run in tests/test_docs.py.
