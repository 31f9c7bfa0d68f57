"""dice and tversky of (N, C, d1, …, dk) inputs: each class's Dice over the positions, averaged
over the classes, with --logits a softmax over the class axis (σ for one class), as optax's
dice_loss(apply_softmax=True).

Expected values: optax 0.2.8 in float64 (jax_enable_x64), recorded by
tests/make_segmentation_softmax_fixtures.py in tests/fixtures/segmentation_softmax.json (each
case names its call): per-sample values, jax.grad of their mean and sum, the diagonal of
jax.hessian of the mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_kdim import _numeric_grad  # central differences, one element at a time
from typer.testing import CliRunner

import losscli
from losscli.cli import app
from losscli.errors import InputError, UsageError

CASES = json.loads((Path(__file__).parent / "fixtures" / "segmentation_softmax.json").read_text())[
    "cases"
]
runner = CliRunner()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['loss']}-{i}" for i, c in enumerate(CASES)])
def test_matches_optax(case):
    loss = losscli.get_loss(case["loss"])
    p, t, opts = np.array(case["predictions"]), np.array(case["targets"]), case["options"]
    np.testing.assert_allclose(loss(p, t, reduction="none", **opts), case["none"], rtol=1e-12)
    for reduction in ("mean", "sum"):
        value, grad = loss.value_and_grad(p, t, reduction=reduction, **opts)
        assert value == pytest.approx(case[reduction], rel=1e-12)
        assert grad.shape == p.shape
        expected = np.array(case[f"grad_{reduction}"])
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
    hess = loss.hess(p, t, **opts)
    np.testing.assert_allclose(hess, np.array(case["hess_mean"]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("class_axis", [1, -1])
@pytest.mark.parametrize("c", [1, 3])
def test_gradient_and_hessian_match_finite_differences(class_axis, c):
    rng = np.random.default_rng(7)
    shape = (2, c, 3, 2) if class_axis == 1 else (2, 3, 2, c)
    z = rng.normal(size=shape)
    y = (rng.random(size=shape) > 0.5).astype(np.float64)
    opts = {"logits": True, "class_axis": class_axis, "alpha": 0.2, "beta": 0.9, "smooth": 0.3}
    grad = losscli.tversky.grad(z, y, **opts)
    np.testing.assert_allclose(
        grad,
        _numeric_grad(lambda x: losscli.tversky(x, y, **opts), z, h=1e-5),
        rtol=1e-6,
        atol=1e-10,
    )
    # the Hessian's diagonal: differences of the gradient, one element at a time
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += 1e-5
        down[idx] -= 1e-5
        g_up, g_down = losscli.tversky.grad(up, y, **opts), losscli.tversky.grad(down, y, **opts)
        numeric[idx] = (g_up[idx] - g_down[idx]) / 2e-5
    np.testing.assert_allclose(losscli.tversky.hess(z, y, **opts), numeric, rtol=1e-5, atol=1e-9)


def test_softmax_is_taken_over_the_class_axis():
    # Hand-derived: logits equal across the 2 classes give q = ½ everywhere; one position per
    # sample, class 0 the target: dice_0 = 1 − (½ + 1)/(½(½ + 1) + 1) = 1 − 1.5/1.75 = 1/7,
    # dice_1 = 1 − 1/(½·½ + 1) = 1 − 1/1.25 = 1/5; their mean 6/35.
    z = np.zeros((1, 2, 1, 1))
    y = np.array([1.0, 0.0]).reshape(1, 2, 1, 1)
    assert losscli.dice(z, y, logits=True) == pytest.approx(6 / 35, rel=1e-15)
    # shifting every class's logit alike changes nothing (softmax is shift-invariant)
    assert losscli.dice(z + 3.0, y, logits=True) == pytest.approx(6 / 35, rel=1e-15)


def test_two_dimensional_inputs_keep_the_one_class_form():
    # (N, D) stays one class of D pixels with σ (unchanged): σ(0) = ½ on two pixels, target
    # (1, 0): I = ½, Σq = 1, Σy = 1: 1 − (½ + 1)/(1 + 1) = 1/4
    assert losscli.dice(np.zeros((1, 2)), [[1.0, 0.0]], logits=True) == pytest.approx(0.25)


def test_shape_mismatch_and_bad_class_axis():
    with pytest.raises(InputError, match=r"differ in shape: \(2, 3, 4\) vs \(2, 4\)"):
        losscli.dice(np.zeros((2, 3, 4)), np.zeros((2, 4)), logits=True)
    with pytest.raises(UsageError, match=r"--class-axis must be 1 \(torch\) or -1"):
        losscli.dice(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), logits=True, class_axis=2)


def test_an_empty_class_without_smoothing_names_its_row():
    z = np.zeros((2, 2, 3))
    y = np.zeros((2, 2, 3))
    y[:, 0] = 1.0
    p = np.zeros((2, 2, 3))
    p[:, 0] = 1.0  # class 1 is empty in both prediction and target of every row: 0/0
    with pytest.raises(InputError) as err:
        losscli.dice(p, y, smooth=0.0)
    assert str(err.value) == (
        "row 0 has a zero denominator I + α·FP + β·FN + s (an empty prediction and target?), "
        "where dice is 0/0 — give --smooth > 0 (optax's default is 1)"
    )
    # from logits nothing is empty: q = ½ at the 3 positions; class 0: I = 1.5, P = 1.5, T = 3,
    # 1 − 1.5/(1.5 + ½·1.5) = 1/3; class 1: I = 0, P = 1.5, T = 0, 1 − 0/0.75 = 1; mean 2/3
    assert losscli.dice(z, y, logits=True, smooth=0.0) == pytest.approx(2 / 3, rel=1e-15)


def test_cli_reads_nchw_npy_in_memory_and_streamed(tmp_path, monkeypatch):
    import losscli.sources as sources

    case = next(c for c in CASES if c["loss"] == "tversky" and c["options"]["class_axis"] == 1)
    np.save(tmp_path / "z.npy", np.array(case["predictions"]))
    np.save(tmp_path / "y.npy", np.array(case["targets"]))
    args = [
        "tversky", str(tmp_path / "z.npy"), str(tmp_path / "y.npy"), "--logits",
        "--alpha", "0.3", "--beta", "0.7", "--smooth", "0.5", "-f", "json", "-g",
    ]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["value"] == pytest.approx(case["mean"], rel=1e-12)
    np.testing.assert_allclose(doc["grad"], case["grad_mean"], rtol=1e-12, atol=1e-15)
    assert doc["details"]["classes"] == 3
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 48)  # one sample per block
    r = runner.invoke(app, [*args, "--grad-out", str(tmp_path / "g.npy")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["value"] == pytest.approx(case["mean"], rel=1e-12)
    expected = np.array(case["grad_mean"])
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), expected, rtol=1e-12, atol=1e-15)
