"""The numeric core: hand-derived values, shapes, validation messages and properties.

Reference values here are derived by hand in the comments; the PyTorch comparison is in
test_reference.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from losscli.errors import InputError, LossCliWarning, UsageError
from losscli.gradcheck import gradcheck
from losscli.losses import REGISTRY, cross_entropy, get_loss, log_softmax, mse, softmax
from losscli.losses.classification import resolve_class_targets
from losscli.losses.regression import squared_error_sum

# --------------------------------------------------------------------------- mse


def test_mse_scalar_case():
    # (3 − 1)² = 4
    assert mse([3.0], [1.0]) == 4.0
    # d/dŷ (ŷ − y)² = 2(ŷ − y) = 4
    np.testing.assert_array_equal(mse.grad([3.0], [1.0]), [4.0])


def test_mse_batched_every_reduction():
    p = [[1.0, 2.0], [3.0, 4.0]]
    t = [[0.0, 0.0], [0.0, 0.0]]
    # squared errors 1, 4, 9, 16: rows (1+4)/2 = 2.5 and (9+16)/2 = 12.5
    assert mse(p, t) == 7.5  # 30 / 4 elements
    assert mse(p, t, reduction="sum") == 30.0
    np.testing.assert_array_equal(mse(p, t, reduction="none"), [2.5, 12.5])
    # gradients: 2e/(N·D) = e/2; 2e; per row 2e/D = e
    np.testing.assert_array_equal(mse.grad(p, t), [[0.5, 1.0], [1.5, 2.0]])
    np.testing.assert_array_equal(mse.grad(p, t, reduction="sum"), [[2.0, 4.0], [6.0, 8.0]])
    np.testing.assert_array_equal(mse.grad(p, t, reduction="none"), [[1.0, 2.0], [3.0, 4.0]])


def test_mse_shape_mismatch_names_both_shapes():
    with pytest.raises(InputError, match=r"differ in shape: \(2, 2\) vs \(2, 3\)"):
        mse(np.zeros((2, 2)), np.zeros((2, 3)))


def test_mse_rejects_non_finite_and_bad_reduction():
    with pytest.raises(InputError, match=r"1 NaN or infinite values \(first at \(row 1\)\)"):
        mse([1.0, float("nan")], [0.0, 0.0])
    with pytest.raises(UsageError, match="unknown reduction 'avg' for mse"):
        mse([1.0], [0.0], reduction="avg")
    with pytest.raises(UsageError, match="mse does not take option"):
        mse([1.0], [0.0], delta=2.0)


def test_sample_weights_weighted_mean():
    # rows 2.5 and 12.5 with weights 1 and 3: (2.5 + 37.5) / 4 = 10
    p, t = [[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]
    assert mse(p, t, sample_weights=[1.0, 3.0]) == 10.0
    with pytest.raises(InputError, match="sample weights have 3 values but the predictions"):
        mse(p, t, sample_weights=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="must be non-negative, found -1.0"):
        mse(p, t, sample_weights=[1.0, -1.0])


# --------------------------------------------------------------------------- cross-entropy


def test_ce_extreme_logits_are_exact():
    # log_softmax([1000, 0])[1] = 0 − 1000 − log(1 + e^−1000) = −1000 to double precision
    assert cross_entropy([[1000.0, 0.0]], [1], logits=True) == 1000.0
    # gradient softmax − onehot = [1, 0] − [0, 1]
    np.testing.assert_array_equal(
        cross_entropy.grad([[1000.0, 0.0]], [1], logits=True), [[1.0, -1.0]]
    )
    value = cross_entropy([[1e4, -1e4, 0.0]], [1], logits=True)
    assert value == 2e4
    assert np.isfinite(cross_entropy.grad([[1e5, -1e5]], [1], logits=True)).all()


def test_ce_probabilities_hand_derived():
    # −log 0.5 = log 2; rows: −log 0.7 and −log 0.8
    assert cross_entropy([[0.5, 0.5]], [0]) == pytest.approx(math.log(2), rel=1e-15)
    p = [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
    expected = -(math.log(0.7) + math.log(0.8)) / 2
    assert cross_entropy(p, [0, 2]) == pytest.approx(expected, rel=1e-15)
    # −y/p / N: −1/(0.7·2) at (0, 0), −1/(0.8·2) at (1, 2)
    g = cross_entropy.grad(p, [0, 2])
    np.testing.assert_allclose(g, [[-1 / 1.4, 0, 0], [0, 0, -1 / 1.6]], rtol=1e-15)


def test_ce_one_hot_equals_indices():
    z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    onehot = np.eye(3)[[2, 0]]
    assert cross_entropy(z, onehot, logits=True) == pytest.approx(
        cross_entropy(z, [2, 0], logits=True), rel=1e-15
    )
    np.testing.assert_allclose(
        cross_entropy.grad(z, onehot, logits=True),
        cross_entropy.grad(z, [2, 0], logits=True),
        rtol=1e-15,
    )


def test_ce_soft_targets_not_summing_to_one_use_general_gradient():
    z = np.array([[0.0, 0.0]])
    y = np.array([[0.3, 0.4]])  # Σy = 0.7
    with pytest.warns(LossCliWarning, match="general form"):
        g = cross_entropy.grad(z, y, logits=True)
    # softmax = [0.5, 0.5]; 0.5·0.7 − y = [0.05, −0.05]
    np.testing.assert_allclose(g, [[0.05, -0.05]], atol=1e-16)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([0, -1], r"class index -1 at \(row 1\) is negative; class indices run from 0 to 2"),
        ([0, 1.5], r"class index 1.5 at \(row 1\) is not a whole number"),
        ([0, 3], r"class index 3 at \(row 1\) is out of range for 3 classes \(valid: 0 to 2\)"),
        ([0, 1, 2], r"inconsistent numbers of rows \(predictions, targets\): \[2, 3\]"),
    ],
)
def test_ce_bad_class_indices(targets, message):
    with pytest.raises(InputError, match=message):
        cross_entropy(np.zeros((2, 3)), targets, logits=True)


def test_ce_probabilities_outside_unit_interval_suggest_logits():
    with pytest.raises(
        InputError, match=r"found 1.5 at \(row 0, col 1\) — pass --logits if these are raw scores"
    ):
        cross_entropy([[0.2, 1.5]], [0])


def test_ce_warns_on_rows_not_summing_to_one_and_on_clipping():
    with pytest.warns(LossCliWarning, match=r"1 of 1 prediction rows do not sum to 1"):
        cross_entropy([[0.2, 0.3]], [0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = cross_entropy([[0.0, 1.0], [0.0, 1.0]], [0, 0], clip=1e-12)
    messages = [str(w.message) for w in caught]
    assert any("clipped 2 predicted probabilities below 1e-12" in m for m in messages)
    assert value == pytest.approx(-math.log(1e-12), rel=1e-15)  # finite, at the floor
    # below the floor the gradient is 0 (as torch.clamp's backward)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(
            cross_entropy.grad([[0.0, 1.0]], [0], clip=1e-12), [[0.0, 0.0]]
        )


def test_ce_vector_predictions_are_an_error():
    with pytest.raises(InputError, match="needs a matrix of N rows × C classes"):
        cross_entropy([0.1, 0.9], [1])


@pytest.mark.parametrize(
    ("targets", "mode", "kind"),
    [
        ([0, 2], "auto", "index"),
        ([[0.0], [2.0]], "auto", "index"),
        ([[1.0, 0, 0], [0, 0, 1.0]], "auto", "prob"),
        ([[0.2, 0.3, 0.5], [0, 0, 1.0]], "prob", "prob"),
    ],
)
def test_target_kind_detection(targets, mode, kind):
    _, detected = resolve_class_targets(np.zeros((2, 3)), np.asarray(targets, float), mode)
    assert detected == kind


def test_forced_target_kind_mismatch_is_explained():
    with pytest.raises(InputError, match=r"--targets prob needs N × C probability rows"):
        resolve_class_targets(np.zeros((2, 3)), np.array([0.0, 1.0]), "prob")
    with pytest.raises(InputError, match=r"--targets index needs one column of class indices"):
        resolve_class_targets(np.zeros((2, 3)), np.eye(3)[:2], "index")


def test_softmax_and_log_softmax_stable():
    z = np.array([[1e4, 0.0, -1e4]])
    np.testing.assert_array_equal(softmax(z), [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(log_softmax(z), [[0.0, -1e4, -2e4]])


def test_registry_lookup():
    assert get_loss("mse") is mse
    assert get_loss("cross-entropy") is cross_entropy
    with pytest.raises(KeyError, match="unknown loss 'nope'"):
        get_loss("nope")


# --------------------------------------------------------------------------- properties

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@st.composite
def matrix_pair(draw, max_rows=6, max_cols=5):
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_cols))
    a = draw(arrays(np.float64, (n, d), elements=finite))
    b = draw(arrays(np.float64, (n, d), elements=finite))
    return a, b


@settings(max_examples=60, deadline=None)
@given(matrix_pair(), st.sampled_from(["mean", "sum", "none"]))
def test_mse_gradient_matches_finite_differences(pair, reduction):
    p, t = pair
    result = gradcheck(mse, p, t, reduction=reduction)
    assert result.passed, (result.max_abs_err, result.max_rel_err)


@settings(max_examples=60, deadline=None)
@given(matrix_pair(max_cols=6), st.sampled_from(["mean", "sum", "none"]), st.data())
def test_ce_logits_gradient_matches_finite_differences(pair, reduction, data):
    z, _ = pair
    n, c = z.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    assert gradcheck(cross_entropy, z, labels, reduction=reduction, logits=True).passed
    soft = data.draw(arrays(np.float64, (n, c), elements=st.floats(0, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        # one class of soft targets equal to 1.0 would read as class indices: say prob
        result = gradcheck(
            cross_entropy, z, soft, reduction=reduction, logits=True, target_type="prob"
        )
    assert result.passed


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(2, 5), st.data())
def test_ce_probabilities_gradient_matches_finite_differences(n, c, data):
    p = data.draw(arrays(np.float64, (n, c), elements=st.floats(0.05, 0.95)))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        assert gradcheck(cross_entropy, p, labels).passed


@settings(max_examples=60, deadline=None)
@given(matrix_pair(max_cols=6), finite, st.data())
def test_ce_unchanged_by_adding_a_constant_to_a_row_of_logits(pair, shift, data):
    z, _ = pair
    n, c = z.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    row = data.draw(st.integers(0, n - 1))
    shifted = z.copy()
    shifted[row] += shift
    before = cross_entropy(z, labels, logits=True, reduction="none")
    after = cross_entropy(shifted, labels, logits=True, reduction="none")
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(matrix_pair(), st.sampled_from(["mean", "sum", "none"]))
def test_mse_symmetric(pair, reduction):
    a, b = pair
    np.testing.assert_array_equal(mse(a, b, reduction=reduction), mse(b, a, reduction=reduction))


def test_every_registered_loss_is_documented():
    for name, loss in REGISTRY.items():
        assert loss.name == name
        assert loss.formula and loss.gradient_formula
        assert loss.reference.startswith(("torch", "sklearn", "optax", "keras")), name
        assert loss.__doc__ and ">>>" in loss.__doc__, name


# --- mse's sum kernel (the streamed mean and sum) ---


def test_squared_error_sum_is_close_to_the_sum_of_squares():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(70_001, 3)), rng.normal(size=(70_001, 3))
    assert squared_error_sum(p, t) == pytest.approx(
        math.fsum(((p - t) ** 2).ravel().tolist()), rel=1e-14
    )
    prepared = mse.prepare_inputs(p, t)
    assert mse.row_total(prepared) == pytest.approx(
        float(mse.row_values(prepared).sum()), rel=1e-14
    )


@pytest.mark.parametrize("vecdot", [True, False])  # False: numpy < 2, a dot per row
@pytest.mark.parametrize("size", [1, 8191, 8192, 65_536, 3 * 65_536 + 12_345])
def test_squared_error_sum_is_the_fsum_of_8192_element_dot_products(size, vecdot, monkeypatch):
    # the kernel's documented blocks, written out: bit-equal, whatever its own batching
    if not vecdot:
        monkeypatch.setattr("losscli.losses.regression._vecdot", None)
    rng = np.random.default_rng(size)
    p, t = rng.normal(size=size) * 1e3, rng.normal(size=size)
    d = p - t
    dots = [float(np.dot(d[i : i + 8192], d[i : i + 8192])) for i in range(0, size, 8192)]
    assert squared_error_sum(p, t) == math.fsum(dots)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_squared_error_sum_is_not_finite_when_an_input_is_not(bad):
    p, t = np.zeros(50_000), np.zeros(50_000)
    for a in (p, t):
        a[31_337] = bad
        assert not math.isfinite(squared_error_sum(p, t))
        a[31_337] = 0.0
    p[7] = t[7] = np.inf  # inf − inf is NaN
    assert math.isnan(squared_error_sum(p, t))
