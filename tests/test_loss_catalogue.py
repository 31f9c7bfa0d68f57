"""The losses of issue 3 through the Python API: hand-derived values, the class options, sample
weights, and the bad-input contract (domain errors name the value and suggest the fix).

PyTorch reference values for every loss and option are in test_reference.py; the numbers here
are derived by hand in the comments.
"""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest

import losscli
from losscli.errors import InputError, LossCliWarning, UsageError
from losscli.losses import (
    REGISTRY,
    bce,
    cross_entropy,
    get_loss,
    huber,
    kl,
    mae,
    nll,
    rmse,
    smooth_l1,
)

LOG2 = math.log(2.0)


# --------------------------------------------------------------------------- the registry


def test_python_names_and_cli_names():
    assert get_loss("smooth-l1") is smooth_l1 is losscli.smooth_l1
    assert get_loss("l1") is mae is losscli.mae
    for name in ("huber", "rmse", "bce", "nll", "kl"):
        assert getattr(losscli, name) is REGISTRY[name]
        assert name in losscli.__all__


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_docstring_examples_run(name):
    loss = REGISTRY[name]
    test = doctest.DocTestParser().get_doctest(loss.__doc__, {}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)  # bce's example shows the clamp
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_every_loss_has_an_example_and_options_of_known_types():
    for loss in REGISTRY.values():
        assert loss.example is not None, loss.name
        for param in loss.params:
            assert param.type in (bool, int, float, str), (loss.name, param.name)


# --------------------------------------------------------------------------- regression


def test_mae_scalar_batched_and_zero_gradient_at_ties():
    assert mae([3.0], [1.0]) == 2.0
    # |1−1|, |2−0|, |3−4| → 0, 2, 1; mean 1; gradient sign(e) with 0 at the tie
    assert mae([1.0, 2.0, 3.0], [1.0, 0.0, 4.0]) == 1.0
    np.testing.assert_array_equal(mae.grad([1.0, 2.0, 3.0], [1.0, 0.0, 4.0]), [0, 1 / 3, -1 / 3])
    np.testing.assert_array_equal(
        mae([[1.0, 3.0], [0.0, 0.0]], np.zeros((2, 2)), reduction="none"), [2.0, 0.0]
    )
    with pytest.raises(InputError, match=r"differ in shape: \(2,\) vs \(3,\)"):
        mae([1.0, 2.0], [1.0, 2.0, 3.0])


def test_huber_and_smooth_l1_pieces_and_factor():
    # e = 0.5 (quadratic): ½·0.25 = 0.125; e = 3 (linear, δ = 1): 1·(3 − 0.5) = 2.5
    assert huber([0.5, 3.0], [0.0, 0.0], reduction="sum") == 2.625
    np.testing.assert_array_equal(
        huber.grad([0.5, 3.0, -3.0], [0, 0, 0], reduction="sum"), [0.5, 1.0, -1.0]
    )
    # huber(δ) = δ · smooth_l1(β = δ)
    e = np.array([0.1, -0.7, 2.0, -5.0])
    for d in (0.5, 2.0):
        assert huber(e, 0 * e, delta=d) == pytest.approx(d * smooth_l1(e, 0 * e, beta=d), 1e-15)
    # β = 0 is the L1 loss, gradient included
    assert smooth_l1(e, 0 * e, beta=0.0) == mae(e, 0 * e)
    np.testing.assert_array_equal(smooth_l1.grad(e, 0 * e, beta=0), mae.grad(e, 0 * e))


@pytest.mark.parametrize(
    ("loss", "option", "message"),
    [
        (huber, {"delta": 0.0}, r"--delta must be a finite number > 0, got 0.0"),
        (smooth_l1, {"beta": -1.0}, r"--beta must be a finite number ≥ 0, got -1.0"),
    ],
)
def test_width_options_are_checked(loss, option, message):
    with pytest.raises(UsageError, match=message):
        loss([1.0], [0.0], **option)


def test_rmse_value_gradient_and_sample_weights():
    # errors 3, 4: mse 12.5, rmse √12.5; gradient e/(N·rmse)
    assert rmse([3.0, 4.0], [0.0, 0.0]) == math.sqrt(12.5)
    np.testing.assert_allclose(rmse.grad([3.0, 4.0], [0, 0]), np.array([3, 4]) / (2 * 12.5**0.5))
    # none: √ of each row's own mean
    np.testing.assert_allclose(
        rmse([[3.0, 4.0], [1.0, 1.0]], np.zeros((2, 2)), reduction="none"), [math.sqrt(12.5), 1.0]
    )
    # weights 1, 3 on squared errors 9, 16: √((9 + 48)/4), scikit-learn's weighted RMSE
    assert rmse([3.0, 4.0], [0, 0], sample_weights=[1, 3]) == math.sqrt(57 / 4)
    with pytest.raises(UsageError, match="unknown reduction 'sum' for rmse"):
        rmse([1.0], [0.0], reduction="sum")


def test_rmse_gradient_undefined_at_a_perfect_fit():
    assert rmse([1.0, 2.0], [1.0, 2.0]) == 0.0  # the value is fine
    with pytest.raises(InputError, match="gradient of rmse is undefined here: every error is zero"):
        rmse.grad([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match=r"row 1 has all errors zero"):
        rmse.grad([[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [3.0, 4.0]], reduction="none")


# --------------------------------------------------------------------------- bce


def test_bce_probabilities_hand_derived_and_clamped_log():
    # −log 0.8 for y = 1, −log(1 − 0.2) for y = 0
    np.testing.assert_allclose(bce([0.8, 0.2], [1.0, 0.0], reduction="none"), [-math.log(0.8)] * 2)
    # gradient (p − y)/(p(1 − p)) / N
    np.testing.assert_allclose(bce.grad([0.8], [1.0]), [-0.2 / 0.16])
    with pytest.warns(LossCliWarning, match=r"1 predicted probability lies within 1e-12 of 0 or 1"):
        assert bce([0.0], [1.0]) == 100.0  # log 0 floored at −100, as PyTorch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bce([0.0, 1.0], [0.0, 1.0]) == 0.0  # exact hits are not clamped: no warning


def test_bce_logits_stable_and_pos_weight():
    assert bce([1e4, -1e4, 0.0], [0.0, 1.0, 1.0], logits=True, reduction="sum") == 2e4 + LOG2
    np.testing.assert_array_equal(bce.grad([1e4, -1e4], [0.0, 1.0], logits=True), [0.5, -0.5])
    # pos_weight 3 triples the positive term: 3·log 2 at z = 0, y = 1
    assert bce([0.0], [1.0], logits=True, pos_weight=3.0) == pytest.approx(3 * LOG2, 1e-15)
    # one per column, also from text (the CLI's --pos-weight 1,3)
    z, y = np.zeros((2, 2)), np.ones((2, 2))
    expected = bce(z, y, logits=True, pos_weight=[1.0, 3.0], reduction="none")
    np.testing.assert_allclose(expected, [2 * LOG2, 2 * LOG2])
    np.testing.assert_array_equal(
        bce(z, y, logits=True, pos_weight="1,3", reduction="none"), expected
    )


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        (
            ([0.5], [2.0]),
            {},
            InputError,
            r"bce targets must lie in \[0, 1\], found 2.0 at \(row 0\) — they are the probability",
        ),
        (
            ([1.5], [1.0]),
            {},
            InputError,
            r"probabilities must lie in \[0, 1\], found 1.5 at \(row 0\) — pass --logits",
        ),
        (([0.5], [1.0]), {"pos_weight": 2.0}, UsageError, r"--pos-weight needs --logits"),
        (
            ([[0.5, 0.5]], [[1.0, 1.0]]),
            {"logits": True, "pos_weight": [1, 2, 3]},
            InputError,
            r"--pos-weight takes one value or one per column \(2\), got 3",
        ),
        (
            ([0.5], [1.0]),
            {"logits": True, "pos_weight": "2,x"},
            InputError,
            r"'2,x' is neither a comma-separated list of numbers nor a file",
        ),
    ],
)
def test_bce_bad_input(args, options, error, message):
    with pytest.raises(error, match=message):
        bce(*args, **options)


# --------------------------------------------------------------------------- ce options


Z = np.zeros((3, 3))  # uniform logits: every −log p is log 3


def test_ce_class_weights_mean_divides_by_target_weights():
    # rows weigh w[y] = 2, 1, 3; each −log p = log 3: Σ w log 3 / Σ w = log 3
    w = [1.0, 2.0, 3.0]
    y = [1, 0, 2]
    assert cross_entropy(Z, y, logits=True, class_weights=w) == pytest.approx(math.log(3), 1e-15)
    assert cross_entropy(Z, y, logits=True, class_weights=w, reduction="sum") == pytest.approx(
        6 * math.log(3), 1e-15
    )
    np.testing.assert_allclose(
        cross_entropy(Z, y, logits=True, class_weights=w, reduction="none"),
        np.array([2.0, 1.0, 3.0]) * math.log(3),
    )


def test_ce_ignore_index_drops_rows_from_sum_and_denominator():
    y = [0, -100, 2]
    value = cross_entropy(Z, y, logits=True)
    assert value == pytest.approx(math.log(3), 1e-15)  # (log 3 + log 3) / 2
    g = cross_entropy.grad(Z, y, logits=True)
    np.testing.assert_array_equal(g[1], [0, 0, 0])
    np.testing.assert_allclose(g[0], np.array([1 / 3 - 1, 1 / 3, 1 / 3]) / 2)
    # another ignore index, and every row ignored: NaN with a warning, zero gradient
    assert cross_entropy(Z, [1, 1, 2], logits=True, ignore_index=1) == pytest.approx(math.log(3))
    with pytest.warns(LossCliWarning, match="the mean is NaN"):
        assert math.isnan(cross_entropy(Z, [1, 1, 1], logits=True, ignore_index=1))
    with pytest.raises(UsageError, match="--ignore-index applies to class-index targets only"):
        cross_entropy(Z, np.eye(3), logits=True, ignore_index=0)


def test_ce_label_smoothing_mixes_in_the_uniform_distribution():
    # z = [0, log 3]: p = [1/4, 3/4]; ε = 0.5, C = 2: target [0.75, 0.25] for class 0
    z = [[0.0, math.log(3.0)]]
    expected = -(0.75 * math.log(0.25) + 0.25 * math.log(0.75))
    assert cross_entropy(z, [0], logits=True, label_smoothing=0.5) == pytest.approx(expected, 1e-14)
    # the same as soft targets
    assert cross_entropy(z, [[0.75, 0.25]], logits=True) == pytest.approx(expected, 1e-14)
    # with class weights the smoothed part is weighted too: a = w·((1 − ε)[c = y] + ε/C)
    w = [2.0, 4.0]
    weighted = -(2 * 0.75 * math.log(0.25) + 4 * 0.25 * math.log(0.75)) / 2  # ÷ w[y] = 2
    assert cross_entropy(z, [0], logits=True, label_smoothing=0.5, class_weights=w) == (
        pytest.approx(weighted, 1e-14)
    )
    with pytest.raises(UsageError, match=r"--label-smoothing must lie in \[0, 1\], got 1.5"):
        cross_entropy(z, [0], logits=True, label_smoothing=1.5)


def test_class_weights_from_text_or_file(tmp_path):
    (tmp_path / "w.csv").write_text("1\n2\n3\n")
    y = [1, 0, 2]
    expected = cross_entropy(Z, y, logits=True, class_weights=[1.0, 2.0, 3.0], reduction="none")
    for given in ("1,2,3", " 1, 2 ,3"):
        np.testing.assert_array_equal(
            cross_entropy(Z, y, logits=True, class_weights=given, reduction="none"), expected
        )
    # A file of weights is read by the engine (losses know nothing of files).
    from losscli.engine import evaluate

    for given in ("1,2,3", str(tmp_path / "w.csv")):
        report = evaluate(cross_entropy, Z, y, logits=True, class_weights=given, reduction="none")
        np.testing.assert_array_equal(report.value, expected)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, 2.0], r"class weights have 2 values but the predictions have 3 classes"),
        ([1.0, -2.0, 1.0], r"must be finite and non-negative, found -2.0 for class 1"),
    ],
)
def test_bad_class_weights(weights, message):
    with pytest.raises(InputError, match=message) as info:
        cross_entropy(Z, [0, 1, 2], logits=True, class_weights=weights)
    assert info.value.role == "class weights"


def test_ce_probabilities_take_the_class_options():
    p = [[0.25, 0.75], [0.5, 0.5]]
    # class weights 2, 4 and targets 0, 1: (−2 log 0.25 − 4 log 0.5) / (2 + 4)
    expected = (-2 * math.log(0.25) - 4 * math.log(0.5)) / 6
    assert cross_entropy(p, [0, 1], class_weights=[2, 4]) == pytest.approx(expected, 1e-15)


# --------------------------------------------------------------------------- nll


def test_nll_picks_the_target_log_probability():
    x = [[-0.5, -1.5], [-2.0, -0.1]]
    assert nll(x, [0, 1]) == pytest.approx(0.3, 1e-15)  # (0.5 + 0.1)/2
    np.testing.assert_array_equal(nll.grad(x, [0, 1], reduction="sum"), [[-1, 0], [0, -1]])
    # weights 1, 3: (0.5·1 + 0.1·3) / 4; ignoring class 0 leaves row 1 alone
    assert nll(x, [0, 1], class_weights=[1, 3]) == pytest.approx(0.8 / 4, 1e-15)
    assert nll(x, [0, 1], ignore_index=0) == pytest.approx(0.1, 1e-15)


def test_nll_equals_ce_of_log_softmax():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    x = losscli.log_softmax(z)
    assert nll(x, y) == pytest.approx(cross_entropy(z, y, logits=True), 1e-14)


def test_nll_rejects_probabilities():
    with pytest.raises(
        InputError,
        match=r"nll's predictions are log-probabilities \(≤ 0\), found "
        r"0.7 at \(row 0, col 1\) — take the log of probabilities",
    ):
        nll([[-0.3, 0.7]], [1])


# --------------------------------------------------------------------------- kl


def test_kl_reductions_and_zero_targets():
    x = np.log([[0.5, 0.5], [0.25, 0.75]])
    q = np.array([[1.0, 0.0], [0.25, 0.75]])
    # row 0: 1·(0 − log 0.5) + 0 (0·log 0 = 0) = log 2; row 1: identical distributions, 0
    np.testing.assert_allclose(kl(x, q, reduction="none"), [LOG2, 0.0], atol=1e-16)
    assert kl(x, q, reduction="batchmean") == pytest.approx(LOG2 / 2, 1e-15)
    assert kl(x, q, reduction="mean") == pytest.approx(LOG2 / 4, 1e-15)  # ÷ N·C, not the KL
    assert kl(x, q, reduction="sum") == pytest.approx(LOG2, 1e-15)
    np.testing.assert_array_equal(kl.grad(x, q, reduction="batchmean"), -q / 2)
    # log targets give the same
    with np.errstate(divide="ignore"):
        logq = np.log(q)
    logq[0, 1] = -1e4  # exp underflows to 0
    np.testing.assert_allclose(
        kl(x, logq, log_target=True, reduction="none"), [LOG2, 0.0], atol=1e-16
    )


@pytest.mark.parametrize(
    ("x", "t", "options", "message"),
    [
        ([[0.5, 0.5]], [[0.5, 0.5]], {}, r"kl's predictions are log-probabilities"),
        (
            [[-1.0, -1.0]],
            [[1.5, 0.5]],
            {},
            r"kl targets \(probabilities\) must lie in \[0, 1\], found 1.5 at "
            r"\(row 0, col 0\) — pass --log-target",
        ),
        (
            [[-1.0, -1.0]],
            [[0.5, 0.5]],
            {"log_target": True},
            r"with --log-target the targets are log-probabilities .* drop --log-target",
        ),
    ],
)
def test_kl_bad_input(x, t, options, message):
    with pytest.raises(InputError, match=message):
        kl(x, t, **options)


def test_kl_warns_when_targets_are_not_distributions():
    with pytest.warns(LossCliWarning, match="1 of 1 target rows do not sum to 1"):
        kl([[-1.0, -1.0]], [[0.5, 0.2]])


# --------------------------------------------------------------------------- sample weights


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_sample_weights_are_a_weighted_mean_of_rows(name):
    """mean = Σ s_i L_i / Σ s_i (× the loss's own row weights) and sum = Σ s_i L_i for every
    loss; integer weights equal repeating rows."""
    loss = REGISTRY[name]
    preds, targets, options = loss.example
    s = [2, 1][: len(preds)]
    repeated_p = [preds[0], preds[0], *preds[1:]]
    repeated_t = [targets[0], targets[0], *targets[1:]]
    for reduction in set(loss.reductions) - {"none"}:
        weighted = loss(preds, targets, reduction=reduction, sample_weights=s, **options)
        plain = loss(repeated_p, repeated_t, reduction=reduction, **options)
        assert weighted == pytest.approx(plain, rel=1e-14), reduction
        g = loss.grad(preds, targets, reduction=reduction, sample_weights=s, **options)
        g_rep = loss.grad(repeated_p, repeated_t, reduction=reduction, **options)
        np.testing.assert_allclose(g[0], g_rep[0] + g_rep[1], rtol=1e-13)
        np.testing.assert_allclose(g[1:], g_rep[2:], rtol=1e-13)
