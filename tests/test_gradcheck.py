"""The finite-difference checker: its batched numeric gradient against a brute-force one
written here, its pass/fail rule, and the ordering of the worst elements."""

from __future__ import annotations

import numpy as np
import pytest

from losscli.gradcheck import compare, gradcheck, numeric_gradient
from losscli.losses import cross_entropy, mse


def brute_force_gradient(loss, p, t, reduction, eps=1e-6, **options):
    """Two evaluations of the reduced loss per element: the definition, nothing batched."""
    p = np.asarray(p, dtype=float)
    grad = np.empty_like(p)
    for idx in np.ndindex(p.shape):
        plus, minus = p.copy(), p.copy()
        plus[idx] += eps
        minus[idx] -= eps
        if reduction == "none":  # gradient of each row's own loss
            row = idx[0]
            f_plus = loss(plus, t, reduction="none", **options)[row]
            f_minus = loss(minus, t, reduction="none", **options)[row]
        else:
            f_plus = loss(plus, t, reduction=reduction, **options)
            f_minus = loss(minus, t, reduction=reduction, **options)
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_batched_numeric_gradient_equals_brute_force(reduction):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    prepared = cross_entropy.prepare_inputs(z, labels, logits=True)
    batched = numeric_gradient(cross_entropy, prepared, reduction=reduction)
    brute = brute_force_gradient(cross_entropy, z, labels, reduction, logits=True)
    np.testing.assert_allclose(batched, brute, rtol=1e-7, atol=1e-10)

    p, t = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    batched = numeric_gradient(mse, mse.prepare_inputs(p, t), reduction=reduction)
    np.testing.assert_allclose(batched, brute_force_gradient(mse, p, t, reduction), rtol=1e-7)


def test_vector_inputs_are_checked_per_element():
    result = gradcheck(mse, [1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    # 2(ŷ − y)/N
    np.testing.assert_allclose(result.numeric, [2 / 3, 4 / 3, 2.0], rtol=1e-8)
    assert result.passed and result.checked == 3


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_row_loss_of_a_vector_is_checked(reduction):
    """kl takes a vector (N rows of one class, as torch does); the row-batched check used to
    index its missing second axis (IndexError, found by tests/test_fuzz.py)."""
    from losscli.losses import kl

    x, q = np.array([-1.0, -2.0, -0.5]), np.array([0.5, 0.2, 0.3])
    result = gradcheck(kl, x, q, reduction=reduction)
    assert result.passed and result.numeric.shape == (3,)
    np.testing.assert_allclose(result.numeric, brute_force_gradient(kl, x, q, reduction), rtol=1e-7)


def test_wrong_gradient_fails_and_is_ranked_first():
    p, t = np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2))
    wrong = mse.grad(p, t).copy()
    wrong[1, 0] *= 2  # one element off by a factor 2
    result = gradcheck(mse, p, t, analytic=wrong)
    assert not result.passed
    assert result.failed == 1
    assert result.worst(1) == [(1, 0)]
    assert result.ok.tolist() == [[True, True], [False, True]]


def test_pass_rule_is_torch_gradcheck_rule():
    inputs = np.zeros(3)
    numeric = np.array([1.0, 1.0, 0.0])
    # allowed error atol + rtol·|n| = 0.1 + 0.1·1 = 0.2 for the first two, 0.1 for the last
    analytic = np.array([1.2, 1.2000001, 0.1])
    result = compare(inputs, analytic, numeric, rtol=0.1, atol=0.1)
    assert result.ok.tolist() == [True, False, True]
    # relative error |a − n| / max(|a|, |n|, atol)
    np.testing.assert_allclose(result.rel_err, [0.2 / 1.2, 0.2000001 / 1.2000001, 1.0])


def test_nan_fails_the_check():
    result = compare(np.zeros(2), np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    assert not result.passed
    assert result.worst(1) == [(0,)]


def test_column_batched_check_on_large_input_is_cheap_in_evaluations(monkeypatch):
    calls = []
    original = cross_entropy.values

    def counting(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    z = np.random.default_rng(1).normal(size=(200, 7))
    labels = np.arange(200) % 7
    prepared = cross_entropy.prepare_inputs(z, labels, logits=True)
    object.__setattr__(cross_entropy, "values", counting)
    try:
        numeric_gradient(cross_entropy, prepared)
    finally:
        object.__setattr__(cross_entropy, "values", original)
    # C evaluations (of the rows shifted up and down, stacked), not 2·N·C
    assert len(calls) == 7
    assert {len(args[0]) for args, _ in calls} == {2 * 200}


def test_row_blocks_carry_per_row_options():
    # Enough rows for several row blocks; class weights and ignored rows give per-row options
    # that each block must slice along with the predictions.
    rng = np.random.default_rng(2)
    z = rng.normal(size=(25_000, 3))
    labels = rng.integers(0, 3, size=25_000)
    labels[::7] = -100
    result = gradcheck(
        cross_entropy,
        z,
        labels,
        logits=True,
        class_weights=[1.0, 2.0, 0.5],
        ignore_index=-100,
        reduction="sum",
    )
    assert result.passed
    assert result.checked == z.size
    np.testing.assert_array_equal(result.numeric[::7], 0.0)  # ignored rows do not move the loss
