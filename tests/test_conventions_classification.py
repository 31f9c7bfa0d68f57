"""--convention and --which for the focal, Dice/Tversky, hinge-family and TF1 cosine losses.

Expected values come from the frameworks themselves (Keras 3, optax, tf.compat.v1.losses,
scikit-learn, torchvision's formula in torch ops), recorded by
tests/make_convention_fixtures_classification.py in
tests/fixtures/conventions_classification.json.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_conventions import (  # one set of helpers for the convention tests
    _cli,
    _id,
    _write,
    cli_value,
    load_fixture,
    tolerance,
)
from test_conventions import test_matches_the_framework as check_matches_the_framework

import losscli
from losscli.conventions import conventions_for, evaluate_convention, which
from losscli.errors import UsageError

FIXTURES = load_fixture("conventions_classification.json")
CASES = FIXTURES["cases"]
NEW_RULES = {
    ("sigmoid-focal", "keras"),
    ("sigmoid-focal", "optax"),
    ("softmax-focal", "keras"),
    ("dice", "keras"),
    ("dice", "optax"),
    ("tversky", "keras"),
    ("tversky", "optax"),
    ("categorical-hinge", "keras"),
    ("categorical-hinge", "optax"),
    ("categorical-hinge", "sklearn"),
    ("hinge", "tf1"),
    ("hinge", "sklearn"),
    ("cosine-similarity", "tf1"),
    ("poly1", "optax"),
    ("sparsemax", "optax"),
}


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_the_framework(case):
    check_matches_the_framework(case)


def test_every_new_rule_has_fixtures_of_each_reduction_it_has():
    covered = {(c["loss"], c["convention"], c["reduction"]) for c in CASES}
    for loss_name, convention in NEW_RULES:
        assert convention in conventions_for(losscli.get_loss(loss_name))
        assert (loss_name, convention, "mean") in covered
    weighted = {(c["loss"], c["convention"]) for c in CASES if c["sample_weights"] is not None}
    assert {r for r in NEW_RULES if r[1] != "optax"} <= weighted


def test_torchvision_sigmoid_focal_is_losscli_own():
    assert any(c["convention"] == "torch" and "torchvision" in c["call"] for c in CASES)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["reduction"] == "mean" and c["convention"] != "torch"],
    ids=_id,
)
def test_which_finds_the_value_each_framework_printed(case):
    # a value as a training log prints it: 10 significant digits (6 of a float32 reference)
    seen = f"{case['expected']:.{6 if case['float32_reference'] else 10}g}"
    found = which(
        losscli.get_loss(case["loss"]),
        seen,
        np.array(case["predictions"]),
        np.array(case["targets"]),
        sample_weights=case["sample_weights"],
        **case["options"],
    )
    matches = [c for c in found if c.match]
    assert matches, (seen, [(c.label, c.value) for c in found[:3]])
    assert any(f"{case['convention']} mean" in c.label for c in matches)


@pytest.mark.parametrize(
    "reading",
    FIXTURES["readings"],
    ids=[f"{r['call']}-{r['sample_weights'] is not None}" for r in FIXTURES["readings"]],
)
def test_which_names_keras_per_sample_dice(reading):
    found = which(
        losscli.get_loss(reading["loss"]),
        f"{reading['expected']:.10g}",
        np.array(reading["predictions"]),
        np.array(reading["targets"]),
        sample_weights=reading["sample_weights"],
        **reading["options"],
    )
    assert found[0].match and found[0].label.startswith(reading["label"])
    assert found[0].value == pytest.approx(reading["expected"], rel=1e-12)


def test_keras_dice_pools_the_batch():
    # Hand-derived: I = 1·1 + 0·1 = 1, Σp + Σy = 1 + 2 = 3 over both rows; Keras's default
    # axis=None gives one Dice 1 − 2/(3 + 1e-7); weights 1 and 3 scale it by their mean, 2.
    p, t = [[1.0], [0.0]], [[1.0], [1.0]]
    g = 1.0 - 2.0 / (3.0 + 1e-7)
    dice = losscli.get_loss("dice")
    assert evaluate_convention(dice, "keras", p, t) == pytest.approx(g, rel=1e-15)
    assert evaluate_convention(dice, "keras", p, t, sample_weights=[1.0, 3.0]) == pytest.approx(
        2.0 * g, rel=1e-15
    )
    assert evaluate_convention(
        dice, "keras", p, t, reduction="sum", sample_weights=[1.0, 3.0]
    ) == pytest.approx(4.0 * g, rel=1e-15)
    assert evaluate_convention(dice, "keras", p, t, reduction="sum") == pytest.approx(g, rel=1e-15)


def test_keras_dice_state_adds_up_over_blocks():
    from losscli.conventions import get_rule

    dice = losscli.get_loss("dice")
    rule = get_rule(dice, "keras")
    p = np.array([[0.9, 0.2], [0.4, 0.7], [0.1, 0.5]])
    t = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = np.array([1.0, 2.0, 0.5])
    whole = rule.reduce(rule.partial(p, t, s), "mean")
    merged = rule.partial(p[:1], t[:1], s[:1]).merge(rule.partial(p[1:], t[1:], s[1:]))
    assert rule.reduce(merged, "mean") == pytest.approx(whole, rel=1e-15)


def test_crammer_singer_differs_from_keras_when_other_scores_are_negative():
    # Hand-derived: scores [1.5, −0.6, −2, −0.1], class 0. Keras: max((1 − y)·x) = 0 (the
    # zeroed target slot), 0 − 1.5 + 1 < 0 → 0. Crammer–Singer: 1 − (1.5 − (−0.1)) < 0 → 0 too;
    # with class 1: Keras max(1.5, 0, ...) = 1.5 → 1.5 + 0.6 + 1 = 3.1, Crammer–Singer the same;
    # scores [−1, −2, −3], class 0: Keras 0 + 1 + 1 = 2, Crammer–Singer 1 − (−1 + 2) = 0.
    loss = losscli.get_loss("categorical-hinge")
    x, y = [[-1.0, -2.0, -3.0]], [0]
    assert evaluate_convention(loss, "keras", x, y) == 2.0
    assert evaluate_convention(loss, "sklearn", x, y) == 0.0
    assert evaluate_convention(loss, "optax", x, y) == 0.0


def test_tf1_hinge_maps_every_label():
    # Hand-derived: TF1 maps y → 2y − 1 always, so a −1 label becomes −3: score 0.5 gives
    # relu(1 + 1.5) = 2.5 (Keras and losscli read −1 as −1: 1.5).
    hinge = losscli.get_loss("hinge")
    assert evaluate_convention(hinge, "tf1", [0.5], [-1.0]) == 2.5
    assert evaluate_convention(hinge, "keras", [0.5], [-1.0]) == 1.5


@pytest.mark.parametrize(
    "loss, convention, p, t, kwargs, message",
    [
        (
            "dice",
            "optax",
            [[0.2, 0.8]],
            [[0.0, 1.0]],
            {},
            "optax's dice_loss takes logits here",
        ),
        (
            "dice",
            "keras",
            [[0.2, 0.8]],
            [[0.0, 1.0]],
            {"logits": True},
            "Keras's Dice and Tversky take probabilities (no from_logits); drop --logits",
        ),
        ("dice", "keras", [[0.2, 0.8]], [[0.0, 1.0]], {"reduction": "none"}, "returns one number"),
        ("dice", "keras", [[0.2, 0.8]], [[0.0, 1.0]], {"smooth": 0.0}, "--smooth follows torch"),
        (
            "softmax-focal",
            "keras",
            [[0.2, 0.8]],
            [1],
            {"clip": 1e-3},
            "--clip follows torch's semantics",
        ),
        (
            "hinge",
            "sklearn",
            [[0.2, 0.8]],
            [[0.0, 1.0]],
            {},
            "scikit-learn's binary hinge_loss takes one column",
        ),
        (
            "categorical-hinge",
            "sklearn",
            [[0.2, 0.7, 0.1]],
            [[0.5, 0.5, 0.0]],
            {},
            "scikit-learn's hinge_loss takes class labels (or one-hot rows), not soft rows",
        ),
        (
            "categorical-hinge",
            "sklearn",
            [[0.2, 0.8]],
            [1],
            {},
            "scikit-learn's hinge_loss reads two classes as binary: give one column",
        ),
        ("sigmoid-focal", "optax", [0.2], [1.0], {"sample_weights": [1.0]}, "no sample weights"),
        (
            "sigmoid-focal",
            "optax",
            [0.2],
            [1.0],
            {"logits": False},
            "optax's sigmoid_focal_loss takes logits; drop --probabilities and give raw scores",
        ),
        (
            "sigmoid-focal",
            "optax",
            [0.2],
            [1.0],
            {"label_smoothing": 0.1},
            "--label-smoothing follows torch's semantics; optax.losses.sigmoid_focal_loss",
        ),
        ("categorical-hinge", "sklearn", [[0.2, 0.8, 0.1]], [1], {"reduction": "sum"}, "no sum"),
    ],
)
def test_refused(loss, convention, p, t, kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        evaluate_convention(losscli.get_loss(loss), convention, p, t, **kwargs)


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "case",
    [
        next(c for c in CASES if (c["loss"], c["convention"]) == rule and c["reduction"] == "mean")
        for rule in sorted(NEW_RULES)
    ],
    ids=_id,
)
def test_cli_prints_the_frameworks_value(tmp_path, case):
    assert cli_value(tmp_path, case) == pytest.approx(case["expected"], rel=tolerance(case)[0])


def test_cli_keras_binary_focal_on_probabilities_with_label_smoothing(tmp_path):
    case = next(
        c
        for c in CASES
        if c["loss"] == "sigmoid-focal"
        and c["options"].get("logits") is False
        and c["options"].get("label_smoothing") == 0.3
        and c["reduction"] == "mean"
        and c["sample_weights"] is not None
        and not c["float32_reference"]
    )
    assert case["options"] == {"logits": False, "alpha": 0.6, "label_smoothing": 0.3}
    p = _write(tmp_path / "p.csv", case["predictions"])
    t = _write(tmp_path / "t.csv", case["targets"])
    w = _write(tmp_path / "w.csv", case["sample_weights"])
    r = _cli(
        "sigmoid-focal",
        p,
        t,
        "--probabilities",
        "--alpha",
        "0.6",
        "--label-smoothing",
        "0.3",
        "--sample-weights",
        w,
        "--convention",
        "keras",
        "-f",
        "plain",
    )
    assert r.exit_code == 0, r.output
    assert float(r.stdout) == pytest.approx(case["expected"], rel=1e-12)


def test_cli_which_names_keras_pooled_dice(tmp_path):
    case = next(
        c
        for c in CASES
        if (c["loss"], c["convention"], c["reduction"]) == ("dice", "keras", "mean")
        and c["sample_weights"] is not None
    )
    p = _write(tmp_path / "p.csv", case["predictions"])
    t = _write(tmp_path / "t.csv", case["targets"])
    w = _write(tmp_path / "w.csv", case["sample_weights"])
    seen = f"{case['expected']:.8f}"
    r = _cli("dice", p, t, "--sample-weights", w, "--which", seen, "-f", "plain")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0].split("\t")
    assert first[2:] == ["match", "keras mean", "--convention keras --reduction mean"]


def test_cli_optax_dice_needs_logits(tmp_path):
    p = _write(tmp_path / "p.csv", [[0.2, 0.8], [0.6, 0.4]])
    t = _write(tmp_path / "t.csv", [[0.0, 1.0], [1.0, 0.0]])
    r = _cli("dice", p, t, "--convention", "optax")
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: optax's dice_loss takes logits here: with apply_softmax=False it requires each "
        "element's class probabilities to sum to 1, which one channel does only for p = 1; "
        "pass --logits with raw scores\n"
    )


def test_which_names_sigmoid_focal_logits_and_probabilities_mixed_up():
    loss = losscli.get_loss("sigmoid-focal")
    # Keras's BinaryFocalCrossentropy(from_logits=False) on probabilities, as the fixture has it,
    # but read by losscli as logits (its default): the reading names Keras on probabilities
    case = next(
        c
        for c in CASES
        if c["loss"] == "sigmoid-focal"
        and c["convention"] == "keras"
        and c["options"] == {"logits": False}
        and c["reduction"] == "mean"
        and c["sample_weights"] is None
        and not c["float32_reference"]
    )
    p, t = np.array(case["predictions"]), np.array(case["targets"])
    found = which(loss, f"{case['expected']:.10g}", p, t)
    match = next(c for c in found if c.match)
    assert match.label == "mistake: logits taken for probabilities (Keras from_logits=False)"
    assert match.flags == "--convention keras --probabilities"
    # optax's sigmoid_focal_loss (logits) of these probabilities, read with --probabilities:
    # the reading names --logits
    optax_case = next(
        c
        for c in CASES
        if c["loss"] == "sigmoid-focal"
        and c["convention"] == "optax"
        and c["options"] == {"gamma": 2.0}
        and c["reduction"] == "mean"
        and np.min(c["predictions"]) >= 0.0
        and np.max(c["predictions"]) <= 1.0
    )
    p, t = np.array(optax_case["predictions"]), np.array(optax_case["targets"])
    found = which(loss, f"{optax_case['expected']:.10g}", p, t, logits=False)
    match = next(c for c in found if c.match)
    assert match.label == "mistake: probabilities taken for logits (a double sigmoid)"
    assert match.flags == "--logits"


def test_cli_sparsemax_loss_under_optax(tmp_path):
    # the alias of the issue; the value is optax.losses.multiclass_sparsemax_loss's mean, from
    # the fixture (its first multi-class mean case)
    case = next(
        c
        for c in CASES
        if (c["loss"], c["convention"], c["reduction"]) == ("sparsemax", "optax", "mean")
    )
    p = _write(tmp_path / "p.csv", case["predictions"])
    t = _write(tmp_path / "t.csv", np.reshape(case["targets"], (-1, 1)))
    r = _cli("sparsemax-loss", p, t, "--convention", "optax", "-f", "plain")
    assert r.exit_code == 0, r.stderr
    assert float(r.stdout) == pytest.approx(case["expected"], rel=1e-12)


def test_cli_optax_sparsemax_refuses_soft_rows(tmp_path):
    p = _write(tmp_path / "p.csv", [[2.0, 1.5, -1.0], [0.5, 0.8, 3.0]])
    t = _write(tmp_path / "t.csv", [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    r = _cli("sparsemax", p, t, "--targets", "prob", "--convention", "optax")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: optax's multiclass_sparsemax_loss takes class labels (or one-hot rows), not "
        "soft rows\n"
    )
