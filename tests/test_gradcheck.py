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
        full = [len(args[0]) for args, _ in calls]
        calls.clear()
        gradcheck(cross_entropy, None, None, prepared=prepared)
        checked = [len(args[0]) for args, _ in calls]
    finally:
        object.__setattr__(cross_entropy, "values", original)
    # The full estimate: the rows once, then C evaluations of the rows shifted by ±h and ±h/2
    # (stacked four times), not 4·N·C.
    assert full == [200] + [4 * 200] * 7
    # The check: the rows once, then C evaluations at ±h (the rows stacked twice); no row
    # needs the second step, as every element passes by far.
    assert checked == [200] + [2 * 200] * 7


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


# --------------------------------------------------------------------------- the estimator
# Test-only losses whose derivatives are known by hand. cube: p³ elementwise (a row is the
# mean of its elements); cube_rows: Σ_j p_j³ per row (a row loss, differenced column by
# column); wrong: mse's values with a gradient 1% off.


def _test_loss(name, values, grad, *, elementwise, **fields):
    from losscli.losses import Loss, Prepared

    def prepare(p, t, **options):
        return Prepared(p, t, options)

    return Loss(
        name=name,
        summary=name,
        formula="",
        gradient_formula="",
        reference="a test",
        values=values,
        grad_kernel=grad,
        prepare=prepare,
        elementwise=elementwise,
        **fields,
    )


cube = _test_loss("cube", lambda p, t: p**3, lambda p, t: 3 * p**2, elementwise=True)
cube_rows = _test_loss(
    "cube-rows", lambda p, t: (p**3).sum(axis=1), lambda p, t: 3 * p**2, elementwise=False
)
quintic = _test_loss("quintic", lambda p, t: p**5, lambda p, t: 5 * p**4, elementwise=True)
wrong = _test_loss(
    "wrong", lambda p, t: (p - t) ** 2, lambda p, t: 2.02 * (p - t), elementwise=True
)


def test_richardson_is_exact_for_a_cubic():
    """Central differences of x³: D(h) = 3x² + h² exactly, so (4·D(h/2) − D(h))/3 = 3x²; the
    error bar is the extrapolation's correction |D(h/2) − D(h)|/3 = h²/4 (plus rounding)."""
    from losscli.gradcheck import estimate

    x = np.array([[1.0, 2.0], [-1.5, 0.5]])
    # eps·max(1, |x|) = 0.25, 0.5, 0.375, 0.25, rounded down to powers of two
    h = np.array([[0.25, 0.5], [0.25, 0.25]])
    for loss in (cube, cube_rows):
        found = estimate(loss, loss.prepare_inputs(x, x), reduction="sum", eps=0.25)
        np.testing.assert_array_equal(found.step, h)
        np.testing.assert_allclose(found.numeric, 3 * x**2, rtol=1e-13)
        np.testing.assert_allclose(found.error, h**2 / 4, rtol=1e-9)


def test_richardson_leaves_an_error_of_order_h4():
    """x⁵: D(h) = 5x⁴ + 10x²h² + h⁴, so the extrapolation leaves exactly −h⁴/4."""
    from losscli.gradcheck import estimate

    found = estimate(quintic, quintic.prepare_inputs([1.0], [0.0]), reduction="sum", eps=0.125)
    assert found.step.tolist() == [0.125]
    np.testing.assert_allclose(found.numeric, [5.0 - 0.125**4 / 4], rtol=1e-14)
    # |D(h/2) − D(h)|/3 = (10·(3/4)h² + (15/16)h⁴)/3
    np.testing.assert_allclose(found.error, [(7.5 * 0.125**2 + 15 / 16 * 0.125**4) / 3], rtol=1e-9)


def test_one_sided_estimates_of_a_cubic():
    """(x + h)³ − x³ over h is 3x² + 3xh + h², so 2·D₊(h/2) − D₊(h) = 3x² − h²/2; the left
    side mirrors it."""
    from losscli.gradcheck import estimate

    found = estimate(cube, cube.prepare_inputs([2.0], [0.0]), reduction="sum", eps=0.25)
    h = 0.5
    np.testing.assert_allclose(found.sides.right, [12.0 - h**2 / 2], rtol=1e-14)
    np.testing.assert_allclose(found.sides.left, [12.0 - h**2 / 2], rtol=1e-14)


def test_coarse_step_passes_a_correct_gradient_and_fails_a_wrong_one():
    # The old rule, central differences at h = 0.25, is off by h² = 0.0625 > rtol·3x² here.
    x = np.array([[1.0, 2.0], [-1.5, 0.5]])
    # The error bar, h²/4, exceeds the tolerance: the check warns that it is weak there.
    with pytest.warns(UserWarning, match="error bar exceeds the tolerance at 4 of 4"):
        result = gradcheck(cube_rows, x, x, reduction="sum", eps=0.25)
    assert result.passed and result.status.tolist() == [["ok", "ok"], ["ok", "ok"]]
    wrong_grad = 3 * x**2 * 1.1  # 10% off: more than h²/4 + rtol·3x² at every element
    with pytest.warns(UserWarning, match="error bar"):
        assert (
            gradcheck(cube_rows, x, x, reduction="sum", eps=0.25, analytic=wrong_grad).failed == 4
        )


def test_wrong_gradient_still_fails_at_every_step():
    p = np.array([[3.0e9, 0.5], [1.0, -2.0]], dtype=np.float32)
    t = np.zeros((2, 2))
    for eps in (1e-6, 1e-3):
        result = gradcheck(wrong, p, t, eps=eps)
        assert result.failed == 4 and not result.passed
        assert set(result.status.reshape(-1)) == {"FAIL"}


def test_float32_inputs_of_large_magnitude_pass():
    """float32 predictions of 3e9..1.2e10: an absolute step of 1e-6 is below their float64
    unit in the last place (4.8e-7..1.9e-6), and the old check failed all four elements
    (max rel err 0.51); the step scaled to |x| passes them."""
    p = (np.arange(1, 5, dtype=np.float32) * np.float32(3e9)).reshape(2, 2)
    result = gradcheck(mse, p, np.zeros((2, 2)))
    assert result.passed and result.max_rel_err < 1e-9
    np.testing.assert_array_equal(result.step, 2.0 ** np.floor(np.log2(1e-6 * p.astype(float))))


def test_float32_sized_step_passes_where_central_differences_failed():
    """--eps 1e-3 (about √ of float32's machine epsilon, a step for float32 models) on bce at
    p = 0.01: central differences are off by h²·|f'''|/6 ≈ 0.08 there (the old check failed),
    the extrapolated estimate by 1e-4."""
    from losscli.losses import bce

    p, y = np.array([0.01, 0.02, 0.5, 0.97]), np.array([1.0, 1.0, 0.0, 0.0])
    result = gradcheck(bce, p, y, eps=1e-3)
    assert result.passed and result.uncertain == 0
    # −1/p/N, 1/(1 − p)/N at N = 4 (hand-derived)
    expected = np.array([-1 / 0.01, -1 / 0.02, 1 / 0.5, 1 / 0.03]) / 4
    np.testing.assert_allclose(result.numeric, expected, rtol=1e-5)


def test_kink_of_mae_is_reported_not_failed():
    from losscli.losses import mae

    result = gradcheck(mae, [[1.0, 2.0], [0.5, 0.5]], [[1.0, 0.0], [0.5, 1.0]])
    assert result.passed and result.kinks == 2 and result.failed == 0
    assert result.status.tolist() == [["kink", "ok"], ["kink", "ok"]]
    # the subgradient interval of |e|/4 at e = 0 is [−1/4, 1/4]; torch's 0 lies inside
    np.testing.assert_allclose(result.left[result.status == "kink"], [-0.25, -0.25], rtol=1e-9)
    np.testing.assert_allclose(result.right[result.status == "kink"], [0.25, 0.25], rtol=1e-9)
    record = result.record_at((0, 0))
    assert (record.status, record.numeric, record.ok) == ("kink", 0.0, True)


def test_kink_outside_its_interval_fails():
    from losscli.losses import mae

    result = gradcheck(mae, [1.0, 2.0], [1.0, 0.0], reduction="sum", analytic=np.array([2.0, 1.0]))
    assert result.status.tolist() == ["FAIL", "ok"]  # 2 lies outside [−1, 1]


def test_kink_within_the_step_is_found_without_being_declared():
    """|e| at e = 1e-9 (not 0, so not marked by mae.kinks): the step straddles the kink, the
    one-sided derivatives disagree (−1 and 1), and sign(e) = 1 lies between them."""
    from losscli.losses import mae

    result = gradcheck(mae, [1e-9, 2.0], [0.0, 0.0], reduction="sum")
    assert result.status.tolist() == ["kink", "ok"] and result.passed


def test_clamped_bce_element_is_labelled_and_does_not_fail():
    from losscli.losses import bce

    with pytest.warns(UserWarning, match="within 1e-12 of 0 or 1"):
        result = gradcheck(bce, [0.0, 0.5], [1.0, 0.0])
    assert result.status.tolist() == ["clamped", "ok"] and result.passed
    assert result.clamped == 1
    # the maxima leave the clamped element out (its numbers are the clamp's)
    assert result.max_abs_err_at == (1,)


def test_clipped_ce_probability_is_labelled():
    with pytest.warns(UserWarning, match="clipped 1 predicted probability"):
        result = gradcheck(cross_entropy, [[0.0, 1.0], [0.5, 0.5]], [0, 1], clip=1e-12)
    assert result.status.tolist() == [["clamped", "ok"], ["ok", "ok"]] and result.passed


def test_domain_edge_uses_the_one_sided_estimate():
    """bce at p = 1e-7: p − h < 0 is outside the domain (NaN); the right side is used."""
    from losscli.losses import bce

    result = gradcheck(bce, [1e-7, 0.5], [0.0, 1.0], reduction="sum")
    assert result.status.tolist() == ["ok", "ok"]
    np.testing.assert_allclose(result.numeric[0], 1 / (1 - 1e-7), rtol=1e-6)


def test_worst_first_is_by_ratio_to_the_allowed_error():
    inputs = np.zeros(3)
    numeric = np.array([100.0, 1.0, 0.0])
    # allowed = atol + rtol·|n| = 10.1, 0.2, 0.1: errors 5, 0.1, 0.09 are ratios 0.5, 0.5, 0.9
    analytic = np.array([105.0, 1.1, 0.09])
    result = compare(inputs, analytic, numeric, rtol=0.1, atol=0.1)
    assert result.worst(3) == [(2,), (1,), (0,)]
    assert result.max_abs_err_at == (0,)  # the largest error is the last in this order
    np.testing.assert_allclose([e.ratio for e in result.records(3)], [0.9, 0.5, 5 / 10.1])


def test_sampled_check_takes_seeded_rows_and_says_so():
    from losscli.gradcheck import row_sample

    rng = np.random.default_rng(3)
    z, labels = rng.normal(size=(1000, 4)), rng.integers(0, 4, size=1000)
    result = gradcheck(cross_entropy, z, labels, logits=True, max_elements=400, seed=7)
    assert result.sampled and result.population == 4000 and result.population_rows == 1000
    assert result.seed == 7 and result.checked == 4 * result.sample_rows
    rows = np.flatnonzero(row_sample(np.arange(1000), 0.1, 7))
    np.testing.assert_array_equal(result.rows, rows)
    assert 60 < len(rows) < 140
    # indices are those of the whole input; values match a full check of the same rows
    full = gradcheck(cross_entropy, z, labels, logits=True)
    for element in result.records(5):
        assert element.index[0] in rows
        assert element.numeric == pytest.approx(full.numeric[element.index], rel=1e-9)
    # the choice of a row depends on its index and the seed alone: any split agrees
    halves = np.concatenate(
        [row_sample(np.arange(500), 0.1, 7), row_sample(np.arange(500, 1000), 0.1, 7)]
    )
    np.testing.assert_array_equal(halves, row_sample(np.arange(1000), 0.1, 7))


def test_small_input_is_not_sampled():
    result = gradcheck(mse, [[1.0, 2.0]], [[0.0, 0.0]], max_elements=4)
    assert not result.sampled and result.population is None


def test_blocks_folded_into_a_streamed_check_agree_with_the_whole():
    """A check done block by block (check_rows over each block, folded into StreamedCheck)
    gives the counts, maxima and worst elements of the check of the whole input."""
    from losscli.gradcheck import StreamedCheck, check_rows
    from losscli.losses import mae

    rng = np.random.default_rng(4)
    p, t = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    t[::7, 1] = p[::7, 1]  # kinks
    wrong = mae.grad(p, t)
    wrong[[3, 30], [0, 2]] *= -1  # two failures
    whole = gradcheck(mae, p, t, analytic=wrong)
    folded = StreamedCheck(eps=1e-6, rtol=1e-3, atol=1e-5, keep=20)
    for rows in (np.arange(0, 17), np.arange(17, 50)):
        part = mae.prepare_inputs(p[rows], t[rows])
        result = check_rows(mae, part, wrong[rows], lambda g: g / 50)
        folded.add(result, rows, vector=False)
    assert (folded.checked, folded.failed, folded.kinks) == (150, 2, whole.kinks) == (150, 2, 8)
    assert folded.max_abs_err == whole.max_abs_err and folded.max_abs_err_at == whole.max_abs_err_at
    assert folded.worst(20) == whole.worst(20)
    assert folded.records(20) == whole.records(20)


@pytest.mark.parametrize("eps", [1e-6, 1e-3, 2.0**-40, 1e-310])  # 1e-310: subnormal steps
def test_steps_are_the_power_of_two_at_or_below_eps_times_max_1_x(eps):
    import math

    from losscli.gradcheck import steps

    x = np.array([0.0, -0.0, 0.5, 1.0, -3.0, 7.9e5, -1e300, 1.5e-300, 2.0**60])
    expected = [
        math.ldexp(0.5, math.frexp(eps * max(1.0, abs(v)))[1]) for v in x.tolist()
    ]  # the largest 2^k ≤ eps·max(1, |x|), element by element
    assert steps(x, eps).tolist() == expected
    assert steps(np.array(-3.0), 1e-6).tolist() == 2.0**-19  # 3e-6 → 2^-19 (1.9e-6)
