"""--convention and --which: each framework's default reproduced exactly.

Expected values come from the frameworks themselves (Keras 3, tf.compat.v1.losses, optax,
scikit-learn), recorded by tests/make_convention_fixtures.py in tests/fixtures/conventions.json.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import losscli
from losscli.conventions import (
    CONVENTIONS,
    conventions_for,
    evaluate_convention,
    get_rule,
    precision_of,
    torch_has,
    which,
)
from losscli.errors import UsageError


def load_fixture(name: str) -> dict:
    """tests/fixtures/NAME, written by the fixture script it names (``generated_by``)."""
    return json.loads((Path(__file__).parent / "fixtures" / name).read_text())


FIXTURES = load_fixture("conventions.json")
CASES = FIXTURES["cases"]


def _id(case: dict) -> str:
    return f"{case['loss']}-{case['convention']}-{case['reduction']}-{case['call']}" + (
        "-weighted" if case["sample_weights"] is not None else ""
    )


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_the_framework(case):
    loss = losscli.get_loss(case["loss"])
    got = evaluate_convention(
        loss,
        case["convention"],
        np.array(case["predictions"]),
        np.array(case["targets"]),
        reduction=case["reduction"],
        sample_weights=case["sample_weights"],
        **case["options"],
    )
    rtol, atol = tolerance(case)
    np.testing.assert_allclose(got, np.array(case["expected"]), rtol=rtol, atol=atol)


def tolerance(case: dict) -> tuple[float, float]:
    """(rtol, atol) for a fixture case: TF1's casts and Keras's last-axis ops.mean run in float32
    whatever the input dtype (``float32_reference``, see the fixture scripts); every other
    reference is float64 throughout."""
    return (1e-6, 1e-7) if case["float32_reference"] else (1e-12, 1e-15)


def test_every_framework_and_loss_has_fixtures():
    # every conventions*.json: each file's own test module checks its values
    covered = {
        (c["loss"], c["convention"])
        for f in sorted((Path(__file__).parent / "fixtures").glob("conventions*.json"))
        for c in json.loads(f.read_text())["cases"]
    }
    for loss in losscli.REGISTRY.values():
        for convention in conventions_for(loss)[1:]:
            assert (loss.name, convention) in covered


def test_keras_leaves_sample_weights_out_of_the_denominator():
    # Hand-derived: errors² per sample 1 and 4, weights 1 and 0 →
    # keras Σ s·L / N = 1/2, torch/sklearn Σ s·L / Σ s = 1, tf1 Σ w·L / #nonzero = 1.
    p, t, s = [1.0, 2.0], [0.0, 0.0], [1.0, 0.0]
    assert evaluate_convention(losscli.mse, "keras", p, t, sample_weights=s) == 0.5
    assert evaluate_convention(losscli.mse, "sklearn", p, t, sample_weights=s) == 1.0
    assert evaluate_convention(losscli.mse, "tf1", p, t, sample_weights=s) == 1.0
    assert evaluate_convention(losscli.mse, "torch", p, t, sample_weights=s) == 1.0


def test_keras_clips_probabilities():
    # −log(1e-7) for the one row whose true class has probability 0 (hand-derived).
    value = evaluate_convention(losscli.cross_entropy, "keras", [[0.0, 1.0]], [0])
    assert value == pytest.approx(-math.log(1e-7), rel=1e-15)


@pytest.mark.parametrize(
    "loss, convention, kwargs, message",
    [
        (losscli.cross_entropy, "tf1", {}, "TF1's softmax cross-entropy takes logits"),
        (losscli.cross_entropy, "optax", {}, "optax's softmax cross-entropy takes logits"),
        (losscli.mse, "optax", {"sample_weights": [1.0, 1.0]}, "optax's losses take no sample"),
        (losscli.mse, "sklearn", {"reduction": "sum"}, "has no sum reduction"),
        (losscli.mse, "keras", {"reduction": "batchmean"}, "batchmean is torch's"),
        (losscli.nll, "keras", {}, "keras has no nll loss; nll has: torch"),
        (losscli.mse, "kears", {}, "unknown convention 'kears' (did you mean keras?)"),
    ],
)
def test_refused(loss, convention, kwargs, message):
    p = [[0.2, 0.8], [0.6, 0.4]]
    t = [1, 0] if loss is not losscli.mse else [[0.0, 1.0], [1.0, 0.0]]
    if loss is losscli.nll:
        p = np.log(p)
    with pytest.raises(UsageError, match=re.escape(message)):
        evaluate_convention(loss, convention, p, t, **kwargs)


def test_optax_sparsemax_refuses_soft_rows():
    # optax.losses.multiclass_sparsemax_loss takes integer labels; one-hot rows are labels
    p = [[2.0, 1.5, -1.0], [0.5, 0.8, 3.0]]
    with pytest.raises(
        UsageError,
        match=re.escape(
            "optax's multiclass_sparsemax_loss takes class labels (or one-hot rows), not soft rows"
        ),
    ):
        evaluate_convention(
            losscli.sparsemax_loss,
            "optax",
            p,
            [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]],
            target_type="prob",
        )


def test_torch_only_options_are_refused_elsewhere():
    with pytest.raises(UsageError, match="--class-weights follows torch's semantics"):
        evaluate_convention(
            losscli.cross_entropy, "keras", [[1.0, 2.0]], [0], logits=True, class_weights="1,2"
        )


def test_ignored_rows_are_refused_elsewhere():
    with pytest.raises(UsageError, match="rows torch ignores"):
        evaluate_convention(losscli.cross_entropy, "keras", [[1.0, 2.0]], [-100], logits=True)


@pytest.mark.parametrize(
    "text, expected", [("2.3025", 5e-5), ("2", 0.5), ("1.5e-3", 5e-5), (".25", 5e-3)]
)
def test_precision_of_a_logged_value(text, expected):
    assert precision_of(text) == pytest.approx(expected)


def test_which_finds_the_convention_that_printed_a_value():
    # Hand-derived: squared errors 1, 9, 25 weighted 3, 1, 0 → Σ s·L = 12; keras 12/N = 4,
    # torch and sklearn 12/Σs = 3, tf1 12/#nonzero = 6.
    found = which(
        losscli.mse, "4", [1.0, 3.0, 5.0], [0.0, 0.0, 0.0], sample_weights=[3.0, 1.0, 0.0]
    )
    assert found[0].label == "keras mean"
    assert found[0].match and found[0].value == 4.0
    assert not any(c.match for c in found[1:])


def test_which_names_a_double_softmax():
    z = np.array([[2.0, -1.0, 0.5], [0.1, 0.3, 3.0]])
    y = np.array([0, 2])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    # what a model with a softmax layer feeding CrossEntropyLoss logs: ce(softmax(p)) — the
    # hand computation below, not the code under test
    q = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    seen = -np.log(q[np.arange(2), y]).mean()
    found = which(losscli.cross_entropy, f"{seen:.6f}", z, y, logits=True)
    assert found[0].label.startswith("mistake: a double softmax")
    assert found[0].match


def test_which_groups_readings_that_agree():
    found = which(losscli.mse, "1", [[1.0, 2.0]], [[0.0, 0.0]])
    labels = [c.label for c in found]
    assert labels[0] == "mistake: ½ factor (optax.losses.l2_loss)"  # 1.25, the closest to 1
    assert any(lab.startswith("torch mean; keras mean") for lab in labels)


def test_an_unsupported_convention_lists_the_ones_the_loss_has():
    with pytest.raises(
        UsageError,
        match=re.escape(
            "optax has no mape loss; mape has: torch (losscli's default; torch itself has no "
            "mape loss), keras, sklearn"
        ),
    ):
        evaluate_convention(losscli.get_loss("mape"), "optax", [1.0, 2.0], [2.0, 4.0])


@pytest.mark.parametrize(
    "loss, convention, message",
    [
        ("nll", "keras", "keras has no nll loss; nll has: torch"),
        (
            "brier",
            "optax",
            "optax has no brier loss; brier has: torch (losscli's default; torch itself has no "
            "brier loss), sklearn",
        ),
        (
            "sparsemax",
            "keras",
            "keras has no sparsemax loss; sparsemax has: torch (losscli's default; torch itself "
            "has no sparsemax loss), optax",
        ),
    ],
)
def test_the_refusal_says_when_torch_means_losscli_s_default(loss, convention, message):
    # the whole message: a torch loss (nll) gets no note, the others name losscli's default
    with pytest.raises(UsageError) as raised:
        get_rule(losscli.get_loss(loss), convention)
    assert str(raised.value) == message


def test_torch_has_the_losses_its_reference_names():
    assert [
        name
        for name in ("mse", "nll", "rmse", "tweedie", "brier", "sparsemax")
        if torch_has(losscli.get_loss(name))
    ] == ["mse", "nll", "rmse"]


def test_which_finds_keras_percent_mape():
    # Hand-derived: |ŷ − y|/|y| = 0.5 and 0.25; sklearn's mean (a fraction) 0.375, Keras's
    # MeanAbsolutePercentageError ×100: 37.5.
    found = which(losscli.get_loss("mape"), "37.5", [1.0, 3.0], [2.0, 4.0])
    assert found[0].label == "keras mean" and found[0].match
    assert any(c.label.startswith("torch mean") and c.value == 0.375 for c in found)


def test_conventions_listed():
    assert CONVENTIONS == ("torch", "keras", "tf1", "optax", "sklearn")
    assert conventions_for(losscli.ce if hasattr(losscli, "ce") else losscli.cross_entropy) == [
        "torch",
        "keras",
        "tf1",
        "optax",
        "sklearn",
    ]


# --------------------------------------------------------------------------- the command line

from typer.testing import CliRunner  # noqa: E402

from losscli.cli import app  # noqa: E402

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _write(path, rows):
    np.savetxt(path, np.asarray(rows, dtype=float), delimiter=",", fmt="%.17g")
    return path


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["reduction"] == "mean" and np.ndim(c["predictions"]) == 2][:12],
    ids=_id,
)
def test_cli_prints_the_frameworks_value(tmp_path, case):
    assert cli_value(tmp_path, case) == pytest.approx(case["expected"], rel=tolerance(case)[0])


def cli_value(tmp_path, case: dict) -> float:
    """What ``losscli LOSS p.csv t.csv --convention X -f plain`` prints for a fixture case: its
    inputs, weights and options (``--name value``; a bool as ``--name`` / ``--no-name``) written
    to files under ``tmp_path``."""
    p = _write(tmp_path / "p.csv", case["predictions"])
    t = _write(tmp_path / "t.csv", case["targets"])
    args = ["--convention", case["convention"], "-f", "plain"]
    if case["sample_weights"] is not None:
        args += ["--sample-weights", _write(tmp_path / "w.csv", case["sample_weights"])]
    for name, value in case["options"].items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args += [flag if value else flag.replace("--", "--no-", 1)]
        else:
            args += [flag, value]
    r = _cli(case["loss"], p, t, *args)
    assert r.exit_code == 0, r.output
    return float(r.stdout)


def test_cli_which_lists_the_keras_reading_first(tmp_path):
    # Hand-derived above: keras's Σ s·L / N = 12/3 = 4.
    p = _write(tmp_path / "p.csv", [1.0, 3.0, 5.0])
    t = _write(tmp_path / "t.csv", [0.0, 0.0, 0.0])
    w = _write(tmp_path / "w.csv", [3.0, 1.0, 0.0])
    r = _cli("mse", p, t, "--sample-weights", w, "--which", "4", "-f", "plain")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == (
        "4.0\t0.0\tmatch\tkeras mean\t--convention keras --reduction mean"
    )
    assert r.stdout.count("match") == 1


def test_cli_refuses_a_gradient_under_another_convention(tmp_path):
    p = _write(tmp_path / "p.csv", [1.0, 3.0])
    r = _cli("mse", p, p, "--convention", "keras", "--grad")
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: --grad follows torch's convention; --convention keras gives the value only "
        "(drop one of them)\n"
    )


def test_cli_tf1_softmax_needs_logits(tmp_path):
    p = _write(tmp_path / "p.csv", [[0.2, 0.8], [0.6, 0.4]])
    t = _write(tmp_path / "t.csv", [1, 0])
    r = _cli("ce", p, t, "--convention", "tf1")
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: TF1's softmax cross-entropy takes logits; pass --logits with raw scores\n"
    )


def test_cli_unknown_convention_suggests_the_nearest(tmp_path):
    p = _write(tmp_path / "p.csv", [1.0, 3.0])
    r = _cli("mse", p, p, "--convention", "Keras")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: unknown convention 'Keras' (did you mean keras?)")


@pytest.mark.parametrize(
    "loss, reduction",
    [("mse", "mean"), ("bce", "sum"), ("rmse", "mean"), ("hinge", "mean")],
)
def test_cli_sklearn_refuses_weights_that_are_all_zero(tmp_path, loss, reduction):
    # np.average (and log_loss's sum, normalize=False) raise on weights summing to 0
    # (found by tests/fuzz_conventions.py); losscli printed NaN.
    p = _write(tmp_path / "p.csv", [0.25, 0.75])
    t = _write(tmp_path / "t.csv", [0.0, 1.0])
    w = _write(tmp_path / "w.csv", [0.0, 0.0])
    r = _cli(loss, p, t, "--convention", "sklearn", "--sample-weights", w, "-r", reduction)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: scikit-learn's metrics raise on sample weights that are all zero; give at "
        "least one non-zero weight\n"
    )


def test_a_merged_sklearn_state_of_zero_weight_is_refused():
    rule = losscli.conventions.RULES["mse", "sklearn"]
    state = rule.partial(np.array([1.0, 2.0]), np.array([0.0, 0.0]), [0.0, 0.0])
    assert (float(state.numerator), float(state.denominator)) == (0.0, 0.0)
    with pytest.raises(UsageError, match="all zero"):
        rule.reduce(state, "mean")


@pytest.mark.parametrize(
    "convention, weights, message",
    [
        (
            "sklearn",
            None,
            "scikit-learn's metrics take arrays of at most 2 dimensions; these predictions have "
            "shape (2, 2, 2) (give N rows × D columns)",
        ),
        (
            "keras",
            [1.0, 2.0],
            "Keras aligns sample weights with the last axis of its per-sample values, (2, 2) for "
            "predictions shaped (2, 2, 2), not one weight per sample; give N rows × D columns, "
            "or drop --sample-weights",
        ),
    ],
)
def test_inputs_of_three_dimensions_the_framework_refuses(convention, weights, message):
    # sklearn's check_array raises on 3-D arrays; Keras multiplies (N, d1) values by (N,)
    # weights on their last axis, here a weight per position (found by
    # tests/fuzz_conventions.py)
    p = np.arange(8.0).reshape(2, 2, 2)
    with pytest.raises(UsageError, match=re.escape(message)):
        evaluate_convention(losscli.mse, convention, p, p + 1.0, sample_weights=weights)


def test_keras_divides_by_the_values_left_after_its_last_axis_mean():
    # hand-derived: every squared error is 1, so the (2, 3) per-sample values are all 1;
    # sum_over_batch_size = 6 / 6 = 1 (not 6 / N = 3), sum = 6
    p = np.zeros((2, 3, 4))
    assert evaluate_convention(losscli.mse, "keras", p, p + 1.0) == 1.0
    assert evaluate_convention(losscli.mse, "keras", p, p + 1.0, reduction="sum") == 6.0


def test_keras_weights_of_a_four_dimensional_input_are_refused():
    # Keras (3, 1, 1) values × (3,) weights broadcast to (3, 1, 3): not per sample (0.5715 from
    # keras.losses.MeanSquaredError, against 0.3989 per sample); found by fuzz_conventions.py
    p = np.zeros((3, 1, 1, 2))
    with pytest.raises(UsageError, match="not one weight per sample"):
        evaluate_convention(losscli.mse, "keras", p, p + 1.0, sample_weights=[1.0, 2.0, 3.0])
