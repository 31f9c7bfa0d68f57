"""Inputs of more than two dimensions: (N, C, d1, …, dk) for ce and nll, any shape for the
losses that average or sum a row's elements.

Expected values: PyTorch 2.13 autograd in float64, recorded by tests/make_kdim_fixtures.py in
tests/fixtures/kdim.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import losscli
from losscli.errors import InputError, UsageError
from losscli.losses import RowLayout

CASES = json.loads((Path(__file__).parent / "fixtures" / "kdim.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_matches_torch(case):
    loss = losscli.get_loss(case["loss"])
    p, t = np.array(case["predictions"]), np.array(case["targets"])
    value, grad = loss.value_and_grad(p, t, reduction=case["reduction"], **case["options"])
    expected = np.array(case["value"])
    assert np.shape(value) == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    assert grad.shape == p.shape
    np.testing.assert_allclose(grad, np.array(case["grad"]), rtol=1e-12, atol=1e-15)


def _numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        g[idx] = (f(up) - f(down)) / (2 * h)
    return g


@pytest.mark.parametrize("class_axis", [1, -1])
def test_gradient_matches_finite_differences(class_axis):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 3, 4)) if class_axis == 1 else rng.normal(size=(2, 4, 3))
    y = rng.integers(0, 3, size=(2, 4))
    opts = {"logits": True, "class_axis": class_axis, "label_smoothing": 0.2}
    analytic = losscli.cross_entropy.grad(z, y, **opts)
    numeric = _numeric_grad(lambda x: losscli.cross_entropy(x, y, **opts), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_sample_weights_are_per_sample():
    # Hand-derived: with each sample's weight repeated over its positions, sample 0's four
    # positions count 3 times and sample 1's once: (3·Σ L₀ + Σ L₁) / (3·4 + 4).
    rng = np.random.default_rng(5)
    z, y = rng.normal(size=(2, 3, 4)), rng.integers(0, 3, size=(2, 4))
    per_position = losscli.cross_entropy(z, y, logits=True, reduction="none")
    got = losscli.cross_entropy(z, y, logits=True, sample_weights=[3.0, 1.0])
    assert got == pytest.approx((3 * per_position[0].sum() + per_position[1].sum()) / 16)


def test_bad_target_shape_names_both_layouts():
    with pytest.raises(InputError) as err:
        losscli.cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 3)), logits=True)
    assert str(err.value) == (
        "targets of shape (2, 3) fit predictions of shape (2, 3, 4) neither as class indices "
        "(shape (2, 4): the predictions' without the class axis 1) nor as probabilities (the "
        "same shape); for (N, d1, …, C) inputs pass --class-axis -1"
    )


def test_class_axis_must_be_first_or_last():
    with pytest.raises(UsageError, match=r"--class-axis must be 1 \(torch\) or -1"):
        losscli.cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 4)), logits=True, class_axis=2)


def test_layout_index_names_the_full_position():
    layout = RowLayout((2, 3, 4, 5), class_axis=1)
    # kernel row 7 is position (0, 1, 2) of the (2, 4, 5) grid; column 2 is class 2
    assert layout.index((7, 2)) == (0, 2, 1, 2)
    assert RowLayout((3, 2, 4)).index((1, 5)) == (1, 1, 1)


def test_elementwise_none_is_one_value_per_sample():
    # Hand-derived: sample 0's errors are all 1 (mean 1), sample 1's all 2 (mean of squares 4).
    p = np.stack([np.ones((2, 3)), 2 * np.ones((2, 3))])
    assert losscli.mse(p, np.zeros_like(p), reduction="none").tolist() == [1.0, 4.0]


def test_a_loss_over_distributions_refuses_more_than_two_dimensions():
    with pytest.raises(InputError, match=r"array has 3 dimensions \(shape \(1, 2, 2\)\)"):
        losscli.kl(np.log(np.full((1, 2, 2), 0.5)), np.full((1, 2, 2), 0.5))


def test_cli_reads_a_kdim_npy(tmp_path):
    from typer.testing import CliRunner

    from losscli.cli import app

    case = next(c for c in CASES if c["call"].startswith("F.cross_entropy(z (2,3,2,4)"))
    np.save(tmp_path / "z.npy", np.array(case["predictions"]))
    np.save(tmp_path / "y.npy", np.array(case["targets"], dtype=np.float64))
    g = tmp_path / "g.npy"
    r = CliRunner().invoke(
        app,
        [
            "ce",
            str(tmp_path / "z.npy"),
            str(tmp_path / "y.npy"),
            "--logits",
            "-f",
            "plain",
            "--grad-out",
            str(g),
        ],
    )
    assert r.exit_code == 0, r.output
    mean = next(c for c in CASES if c["call"] == case["call"] and c["reduction"] == "mean")
    assert float(r.stdout) == pytest.approx(mean["value"], rel=1e-12)
    np.testing.assert_allclose(np.load(g), np.array(mean["grad"]), rtol=1e-12, atol=1e-15)


def _top_inputs(tmp_path):
    """(2, 3, 2, 2) logits, zero but at three positions; targets all class 1. A position of
    zeros loses log 3; (n, d1, d2) = (1, 0, 1) with logits (ln 8, 0, 0) loses log 10,
    (0, 1, 0) with (ln 5, 0, 0) log 7, (1, 1, 1) with (ln 2, 0, 0) log 4."""
    z = np.zeros((2, 3, 2, 2))
    z[1, 0, 0, 1], z[0, 0, 1, 0], z[1, 0, 1, 1] = np.log(8), np.log(5), np.log(2)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", np.ones((2, 2, 2)))
    return [str(tmp_path / "z.npy"), str(tmp_path / "y.npy")]


def test_cli_top_names_positions_by_their_full_index(tmp_path):
    import json as json_module

    from typer.testing import CliRunner

    from losscli.cli import app

    args = ["ce", *_top_inputs(tmp_path), "--logits", "--top", "4"]
    r = CliRunner().invoke(app, [*args, "-f", "json"])
    assert r.exit_code == 0, r.output
    top = json_module.loads(r.stdout)["top"]
    assert [t["index"] for t in top] == [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]]
    assert [t["row"] for t in top] == [1, 0, 1, 0]
    expected = [np.log(10), np.log(7), np.log(4), np.log(3)]  # hand-derived (see _top_inputs)
    np.testing.assert_allclose([t["loss"] for t in top], expected, rtol=1e-15)
    assert [(t["predicted"], t["target"]) for t in top] == [(0, 1)] * 4  # argmax of zeros: 0
    r = CliRunner().invoke(app, [*args, "-f", "plain"])
    assert r.stdout.split("\n\n")[1] == (
        "row=1 loss=2.3025850929940455 index=1,0,1 predicted=0 target=1\n"
        "row=0 loss=1.9459101490553132 index=0,1,0 predicted=0 target=1\n"
        "row=1 loss=1.3862943611198906 index=1,1,1 predicted=0 target=1\n"
        "row=0 loss=1.0986122886681098 index=0,0,0 predicted=0 target=1\n"
    )
    r = CliRunner().invoke(app, [*args, "-f", "csv"])
    assert r.stdout.split("\n\n")[1] == (
        "row,loss,index,predicted,target\n"
        '1,2.3025850929940455,"1,0,1",0,1\n'
        '0,1.9459101490553132,"0,1,0",0,1\n'
        '1,1.3862943611198906,"1,1,1",0,1\n'
        '0,1.0986122886681098,"0,0,0",0,1\n'
    )


def test_cli_top_leaves_out_ignored_positions_and_takes_the_class_axis_last(tmp_path):
    import json as json_module

    from typer.testing import CliRunner

    from losscli.cli import app

    p, t = _top_inputs(tmp_path)
    np.save(tmp_path / "zl.npy", np.moveaxis(np.load(p), 1, -1))  # (N, d1, d2, C)
    y = np.load(t)
    y[1, 0, 1] = 2  # the worst position's target: class 2 (log 10 again), then ignored
    np.save(t, y)
    args = ["ce", str(tmp_path / "zl.npy"), t, "--logits", "--class-axis", "-1", "--top", "2"]
    r = CliRunner().invoke(app, [*args, "--ignore-index", "2", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert [x["index"] for x in json_module.loads(r.stdout)["top"]] == [[0, 1, 0], [1, 1, 1]]


def test_cli_top_of_an_elementwise_loss_names_the_worst_element(tmp_path):
    import json as json_module

    from typer.testing import CliRunner

    from losscli.cli import app

    p = np.zeros((3, 2, 2))
    p[0, 1, 0], p[2, 0, 1], p[2, 1, 1] = 1.0, 3.0, -2.0  # hand-derived: rows 2 (13/4), 0 (1/4)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", np.zeros_like(p))
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--top", "2"]
    r = CliRunner().invoke(app, [*args, "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json_module.loads(r.stdout)["top"] == [
        {"row": 2, "loss": 3.25, "index": [2, 0, 1], "prediction": 3.0, "target": 0.0},
        {"row": 0, "loss": 0.25, "index": [0, 1, 0], "prediction": 1.0, "target": 0.0},
    ]
    r = CliRunner().invoke(app, [*args, "-f", "plain"])
    assert r.stdout == (
        "1.1666666666666667\n\n"
        "row=2 loss=3.25 index=2,0,1 prediction=3.0 target=0.0\n"
        "row=0 loss=0.25 index=0,1,0 prediction=1.0 target=0.0\n"
    )


def test_cli_check_names_elements_by_their_full_index(tmp_path):
    import json as json_module

    from typer.testing import CliRunner

    from losscli.cli import app

    rng = np.random.default_rng(11)
    z = rng.normal(size=(2, 3, 4))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", rng.integers(0, 3, size=(2, 4)).astype(np.float64))
    r = CliRunner().invoke(
        app,
        [
            "ce",
            str(tmp_path / "z.npy"),
            str(tmp_path / "y.npy"),
            "--logits",
            "--check",
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    worst = json_module.loads(r.stdout)["check"]["worst"]
    from losscli.render import SHOW_ROWS

    assert len(worst) == SHOW_ROWS  # of the 24 elements
    for element in worst:  # each index addresses the input as given, (n, class, position)
        assert len(element["index"]) == 3
        assert element["input"] == z[tuple(element["index"])]


def test_hessian_comes_back_in_the_given_layout():
    # Hand-derived: for ce from logits the diagonal is p(1 − p) per element (targets sum to 1),
    # divided by the N·d positions under mean; checked here in the (N, C, d) layout.
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2, 3, 4))
    y = rng.integers(0, 3, size=(2, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = p * (1 - p) / 8
    h = losscli.cross_entropy.hess(z, y, logits=True)
    np.testing.assert_allclose(h, expected, rtol=1e-12)
    value, grad, h2 = losscli.cross_entropy.value_grad_hess(z, y, logits=True)
    assert grad.shape == z.shape
    np.testing.assert_allclose(h2, expected, rtol=1e-12)
