"""The classification losses of issue 10 (focal, poly-1, the margin family, Brier, sparsemax)
through the Python API and the command line: hand-derived values (derivations in the
comments), reductions, shapes, kinks and their subgradients, Hessian diagonals, and every bad
option or label as one ``Error:`` line with exit code 2.

Reference-library values for every loss and reduction are in test_classification_reference.py;
finite-difference checks of every gradient and Hessian in test_gradient_properties.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
from losscli.cli import app
from losscli.errors import InputError, LossCliWarning, UsageError
from losscli.losses import (
    REGISTRY,
    brier,
    categorical_hinge,
    hinge,
    multi_margin,
    multilabel_soft_margin,
    poly1,
    sigmoid_focal,
    soft_margin,
    softmax_focal,
    sparsemax,
    sparsemax_loss,
    squared_hinge,
)

LOG2 = math.log(2.0)
runner = CliRunner()

NEW = (
    sigmoid_focal,
    softmax_focal,
    poly1,
    hinge,
    squared_hinge,
    categorical_hinge,
    multi_margin,
    soft_margin,
    multilabel_soft_margin,
    brier,
    sparsemax_loss,
)


def kernels(loss, preds, targets, /, **options):
    """(grad kernel, hess kernel, kinks) on prepared inputs: per-row sums, no reduction."""
    prepared = loss.prepare_inputs(preds, targets, **options)
    args = (prepared.predictions, prepared.targets)
    kinks = None if loss.kinks is None else loss.kinks(*args, **prepared.options)
    return (
        loss.grad_kernel(*args, **prepared.options),
        loss.hess_kernel(*args, **prepared.options),
        kinks,
    )


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- registry


def test_registered_with_python_and_cli_names():
    names = {loss.name for loss in NEW}
    assert names <= set(REGISTRY)
    assert losscli.sigmoid_focal is sigmoid_focal and losscli.get_loss("focal") is sigmoid_focal
    assert losscli.get_loss("brier-score") is brier is losscli.brier
    assert losscli.sparsemax_loss is REGISTRY["sparsemax"]
    for loss in NEW:
        assert loss.hess_kernel is not None, loss.name
        assert loss.reductions == ("mean", "sum", "none")


# --------------------------------------------------------------------------- sigmoid focal


def test_sigmoid_focal_scalar_batched_reductions_and_alpha():
    # z = 0: p = ½, ce = log 2, 1 − p_t = ½, so (½)^γ log 2; α_t = α for y = 1, 1 − α for y = 0
    assert sigmoid_focal([0.0], [1.0]) == pytest.approx(0.25 * LOG2, rel=1e-15)
    assert sigmoid_focal([0.0], [1.0], gamma=3.0) == pytest.approx(LOG2 / 8, rel=1e-15)
    z, y = [[0.0, 0.0]], [[1.0, 0.0]]
    assert sigmoid_focal(z, y, alpha=0.25) == pytest.approx(0.5 * 0.25 * LOG2, rel=1e-15)
    assert sigmoid_focal(z, y, reduction="sum") == pytest.approx(0.5 * LOG2, rel=1e-15)
    np.testing.assert_allclose(sigmoid_focal(z * 2, y * 2, reduction="none"), [0.25 * LOG2] * 2)
    # γ = 0, no α: plain bce with logits
    zz, yy = [3.0, -1.0, 0.5], [1.0, 1.0, 0.2]
    assert sigmoid_focal(zz, yy, gamma=0.0) == pytest.approx(
        losscli.bce(zz, yy, logits=True), rel=1e-14
    )


def test_sigmoid_focal_gradient_and_hessian_by_hand():
    # z = 0, y = 1, γ = 2: q = ½, r = σ'/q = ½, 1 − 2y = −1:
    # FL' = ¼[(½ − 1) + 2·log2·(−1)·½] = −⅛ − ¼ log 2
    g, h, _ = kernels(sigmoid_focal, [0.0], [1.0])
    assert g[0] == pytest.approx(-0.125 - 0.25 * LOG2, rel=1e-15)
    # FL'' = ¼[¼ + 2·2·(−½)(−1)·½ + 2·1·log2·¼ + 0] = ¼(¼ + 1 + ½ log 2)
    assert h[0] == pytest.approx(0.25 * (1.25 + 0.5 * LOG2), rel=1e-15)
    # saturated logits: q underflows, everything is exactly 0 (no 0·∞)
    g, h, _ = kernels(sigmoid_focal, [800.0, -800.0], [1.0, 0.0], gamma=0.5)
    assert sigmoid_focal([800.0, -800.0], [1.0, 0.0], gamma=0.5) == 0.0
    np.testing.assert_array_equal(g, [0.0, 0.0])
    np.testing.assert_array_equal(h, [0.0, 0.0])
    assert not np.signbit(g).any() and not np.signbit(h).any()  # 0.0, not −0.0


def test_sigmoid_focal_bad_inputs():
    with pytest.raises(InputError, match=r"differ in shape: \(2,\) vs \(1,\)"):
        sigmoid_focal([0.0, 1.0], [1.0])
    with pytest.raises(UsageError, match=r"--gamma must be a finite number ≥ 0, got -1.0"):
        sigmoid_focal([0.0], [1.0], gamma=-1.0)
    with pytest.raises(UsageError, match=r"--alpha must lie in \[0, 1\], got 1.5"):
        sigmoid_focal([0.0], [1.0], alpha=1.5)
    with pytest.raises(InputError, match="sigmoid-focal targets must lie in"):
        sigmoid_focal([0.0], [2.0])


def test_sigmoid_focal_probabilities_by_hand():
    # p = ½ from probabilities is z = 0 from logits: ¼ log 2
    assert sigmoid_focal([0.5], [1.0], logits=False) == pytest.approx(0.25 * LOG2, rel=1e-15)
    # p = 0.8, y = 1, γ = 2: q = 0.2, ce = −log 0.8, ce' = −1/0.8, ce'' = 1/0.8², u = −1
    lg = math.log(0.8)
    assert sigmoid_focal([0.8], [1.0], logits=False) == pytest.approx(-0.04 * lg, rel=1e-15)
    g, h, _ = kernels(sigmoid_focal, [0.8], [1.0], logits=False)
    # FL' = q²[ce' + γ·u·ce/q] = 0.04[−1.25 + 2·(−1)(−log 0.8)/0.2] = 0.04(−1.25 + 10 log 0.8)
    assert g[0] == pytest.approx(0.04 * (-1.25 + 10 * lg), rel=1e-14)
    # FL'' = q²[ce'' + 2γ·u·ce'/q + γ(γ − 1)·u²·ce/q²] = 0.04(1.5625 + 25 − 50 log 0.8)
    assert h[0] == pytest.approx(0.04 * (1.5625 + 25.0 - 50.0 * lg), rel=1e-14)
    # y = 0, α = 0.25, γ = 1: p = 0.3: q = 0.3, ce = −log 0.7, α_t = 0.75, u = 1
    # FL' = 0.75·0.3·[1/0.7 + (−log 0.7)/0.3]
    g, h, _ = kernels(sigmoid_focal, [0.3], [0.0], logits=False, alpha=0.25, gamma=1.0)
    assert g[0] == pytest.approx(0.75 * (0.3 / 0.7 - math.log(0.7)), rel=1e-14)
    # FL'' = 0.75·0.3·[1/0.49 + 2·(1/0.7)/0.3] (γ(γ − 1) = 0)
    assert h[0] == pytest.approx(0.75 * (0.3 / 0.49 + 2 / 0.7), rel=1e-14)


def test_sigmoid_focal_probabilities_at_p_equal_to_y():
    # q = 0 and ce = 0: value, gradient and Hessian 0 (as torch's autograd for γ ≥ 1), no NaN
    for gamma in (0.5, 1.0, 2.0):
        p, y = [1.0, 0.0], [1.0, 0.0]
        assert sigmoid_focal(p, y, logits=False, gamma=gamma) == 0.0
        g, h, _ = kernels(sigmoid_focal, p, y, logits=False, gamma=gamma)
        np.testing.assert_array_equal(g, [0.0, 0.0])
        np.testing.assert_array_equal(h, [0.0, 0.0])
        assert not np.signbit(g).any() and not np.signbit(h).any()


def test_sigmoid_focal_default_is_still_logits():
    # logits that lie in [0, 1] are read as logits, as before --probabilities existed
    z, y = [0.3, 0.9], [1.0, 0.0]
    assert sigmoid_focal(z, y) == sigmoid_focal(z, y, logits=True)
    assert sigmoid_focal(z, y) != sigmoid_focal(z, y, logits=False)


def test_sigmoid_focal_label_smoothing_by_hand():
    # A = 1: every label is ½; z = 0: q = ½, ce = log 2, whatever the label
    np.testing.assert_allclose(
        sigmoid_focal([0.0, 0.0], [1.0, 0.0], label_smoothing=1.0, reduction="none"),
        [0.25 * LOG2, 0.25 * LOG2],
        rtol=1e-15,
    )
    # p = 0.8, y = 1, A = 0.2 → y = 0.9: q = 0.1·0.8 + 0.9·0.2 = 0.26,
    # ce = −(0.9 log 0.8 + 0.1 log 0.2), α_t = 0.25·0.9 + 0.75·0.1 = 0.3 (Keras smooths first)
    ce = -(0.9 * math.log(0.8) + 0.1 * math.log(0.2))
    got = sigmoid_focal([0.8], [1.0], logits=False, label_smoothing=0.2, alpha=0.25)
    assert got == pytest.approx(0.3 * 0.26**2 * ce, rel=1e-14)
    # gradient: α_t[q²·ce' + 2q·u·ce], ce' = (p − y)/(p(1 − p)) = −0.1/0.16, u = 1 − 2y = −0.8
    g, _, _ = kernels(sigmoid_focal, [0.8], [1.0], logits=False, label_smoothing=0.2, alpha=0.25)
    assert g[0] == pytest.approx(0.3 * (0.26**2 * (-0.625) + 2 * 0.26 * (-0.8) * ce), rel=1e-14)
    # from logits, z = 0, y = 1, A = 0.2 → y = 0.9: p = ½, q = ½, ce = log 2 − 0 = log 2;
    # FL' = q²[(p − y) + γ·ce·u·σ'/q] = ¼[−0.4 + 2·log 2·(−0.8)·½]
    g, _, _ = kernels(sigmoid_focal, [0.0], [1.0], label_smoothing=0.2)
    assert g[0] == pytest.approx(0.25 * (-0.4 - 0.8 * LOG2), rel=1e-14)


def test_sigmoid_focal_probabilities_bad_inputs_and_clamps():
    with pytest.raises(
        InputError,
        match=r"probabilities must lie in \[0, 1\], found 1.5 at \(row 1\) — pass --logits "
        r"\(the default\) if these are raw scores",
    ):
        sigmoid_focal([0.5, 1.5], [1.0, 0.0], logits=False)
    with pytest.raises(UsageError, match=r"--label-smoothing must lie in \[0, 1\], got 1.5"):
        sigmoid_focal([0.0], [1.0], label_smoothing=1.5)
    with pytest.warns(LossCliWarning, match="1 predicted probability lies within 1e-12 of 0 or 1"):
        sigmoid_focal([1.0, 1.0], [1.0, 0.0], logits=False)  # p = y = 1 is not clamped


# --------------------------------------------------------------------------- softmax focal


def test_softmax_focal_keras_doc_example_and_hand_values():
    # keras.losses.categorical_focal_crossentropy's docstring (float32 values, hence 1e-6)
    y = [[0, 1, 0], [0, 0, 1]]
    p = [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]
    np.testing.assert_allclose(
        softmax_focal(p, y, target_type="prob", reduction="none"),
        [2.63401289e-04, 6.75912094e-01],
        rtol=1e-6,
    )
    # [½, ½], class 0: α(1 − ½)^γ(−log ½) = 0.25·0.25·log 2
    assert softmax_focal([[0.5, 0.5]], [0]) == pytest.approx(LOG2 / 16, rel=1e-15)
    # logits 0, 0 are the same probabilities
    assert softmax_focal([[0.0, 0.0]], [0], logits=True) == pytest.approx(LOG2 / 16, rel=1e-15)
    # rows are divided by their sums (Keras): [1, 1] is [½, ½] — with a warning
    with pytest.warns(LossCliWarning, match="1 of 1 prediction rows do not sum to 1"):
        assert softmax_focal([[1.0, 1.0]], [0]) == pytest.approx(LOG2 / 16, rel=1e-15)
    # γ = 0, α = 1: cross-entropy of the probabilities
    assert softmax_focal([[0.2, 0.8]], [1], gamma=0.0, alpha=1.0) == pytest.approx(
        -math.log(0.8), rel=1e-15
    )


def test_softmax_focal_clips_like_keras_and_says_so():
    # o = 0 for the target class is clipped to 1e-7: α(1 − 1e-7)² · (−log 1e-7), gradient 0 there
    with pytest.warns(LossCliWarning, match=r"clipped 1 normalised probability .* 1e-07"):
        value = softmax_focal([[0.0, 1.0]], [0])
    assert value == pytest.approx(0.25 * (1 - 1e-7) ** 2 * -math.log(1e-7), rel=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        g, h, kinks = kernels(softmax_focal, [[0.0, 1.0]], [0])
    np.testing.assert_array_equal(g, [[0.0, 0.0]])
    assert not kinks.any()


def test_softmax_focal_logits_agree_with_probabilities_through_the_chain_rule():
    z = np.array([[1.0, -0.5, 2.0], [0.3, 0.3, -1.0]])
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = [2, 0]
    assert softmax_focal(z, y, logits=True) == pytest.approx(softmax_focal(s, y), rel=1e-14)
    # ∂L/∂z = J_softmaxᵀ ∂L/∂p (J = diag(s) − s sᵀ)
    gp = softmax_focal.grad(s, y)
    gz = softmax_focal.grad(z, y, logits=True)
    expected = s * (gp - (gp * s).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(gz, expected, rtol=1e-12)


def test_softmax_focal_bad_options():
    p = [[0.5, 0.5]]
    with pytest.raises(UsageError, match=r"--alpha must lie in \[0, 1\], got -0.1"):
        softmax_focal(p, [0], alpha=-0.1)
    with pytest.raises(UsageError, match=r"--alpha must be a number in \[0, 1\]"):
        softmax_focal(p, [0], alpha=None)
    with pytest.raises(UsageError, match=r"--gamma must be a finite number ≥ 0, got -2.0"):
        softmax_focal(p, [0], gamma=-2.0)
    with pytest.raises(UsageError, match=r"--clip must lie in \(0, 0.5\), got 0.6"):
        softmax_focal(p, [0], clip=0.6)
    with pytest.raises(UsageError, match=r"--label-smoothing must lie in \[0, 1\], got 2.0"):
        softmax_focal(p, [0], label_smoothing=2.0)
    with pytest.raises(InputError, match="prediction row 0 sums to 0"):
        softmax_focal([[0.0, 0.0]], [0])
    with pytest.raises(InputError, match="class index 2 at \\(row 0\\) is out of range"):
        softmax_focal(p, [2])
    with pytest.raises(InputError, match=r"differ in shape: \(1, 2\) vs \(1, 3\)"):
        softmax_focal(p, [[0.0, 1.0, 0.0]])


# --------------------------------------------------------------------------- poly-1


def test_poly1_by_hand_and_against_cross_entropy():
    # [0, 0], class 0: log 2 + ε·(1 − ½)
    assert poly1([[0.0, 0.0]], [0]) == pytest.approx(LOG2 + 1.0, rel=1e-15)
    assert poly1([[0.0, 0.0]], [0], epsilon=-1.0) == pytest.approx(LOG2 - 0.5, rel=1e-15)
    z = [[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]]
    assert poly1(z, [0, 2], epsilon=0.0) == pytest.approx(
        losscli.cross_entropy(z, [0, 2], logits=True), rel=1e-14
    )
    assert poly1(z, [0, 2], reduction="sum") == pytest.approx(
        poly1(z, [0, 2], reduction="none").sum(), rel=1e-15
    )
    # gradient at [0, 0], class 0: s = ½: (½ − 1) − 2·½·(1 − ½) = −1; hess: ¼ − 2·½·0·… = ¼
    g, h, _ = kernels(poly1, [[0.0, 0.0]], [0])
    np.testing.assert_allclose(g, [[-1.0, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(h, [[0.25, 0.25]], rtol=1e-15)


def test_poly1_bad_options():
    with pytest.raises(UsageError, match="--epsilon must be a finite number, got inf"):
        poly1([[0.0, 0.0]], [0], epsilon=float("inf"))
    with pytest.raises(InputError, match="needs a matrix of N rows × C classes"):
        poly1([0.0, 0.0], [0, 1])


# --------------------------------------------------------------------------- hinge family


def test_hinge_values_reductions_and_the_keras_label_mapping():
    # margins 1 − y·x: 0.5, −1, 0 (label 0 → −1, x = −1): (0.5 + 0 + 0)/3
    assert hinge([0.5, 2.0, -1.0], [1, 1, 0]) == 0.5 / 3
    assert hinge([0.5, 2.0, -1.0], [1, 1, -1]) == 0.5 / 3
    assert hinge([[0.5, 2.0], [0.0, 0.0]], [[1, 1], [0, 1]], reduction="sum") == 2.5
    np.testing.assert_array_equal(
        hinge([[0.5, 2.0], [0.0, 0.0]], [[1, 1], [0, 1]], reduction="none"), [0.25, 1.0]
    )


def test_hinge_subgradient_at_the_margin_is_half_and_flagged():
    g, h, kinks = kernels(hinge, [1.0, -1.0, 0.5, 3.0], [1, 0, 1, 1])
    np.testing.assert_array_equal(g, [-0.5, 0.5, -1.0, 0.0])  # jax's maximum at the tie
    np.testing.assert_array_equal(h, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(kinks, [True, True, False, False])


def test_squared_hinge_by_hand_with_its_hessian_jump():
    # margins 0.5 and 1 + 2 = 3: (0.25 + 9)/2
    assert squared_hinge([0.5, 2.0], [1, 0]) == 4.625
    g, h, kinks = kernels(squared_hinge, [0.5, 2.0, 1.0, 3.0], [1, 0, 1, 1])
    np.testing.assert_array_equal(g, [-1.0, 6.0, 0.0, 0.0])
    np.testing.assert_array_equal(h, [2.0, 2.0, 0.5, 0.0])  # ½ at the margin, as jax
    np.testing.assert_array_equal(kinks, [False, False, True, False])


@pytest.mark.parametrize("loss", [hinge, squared_hinge, soft_margin], ids=lambda x: x.name)
def test_signed_labels_are_checked(loss):
    with pytest.raises(InputError, match=rf"{loss.name} labels are −1 or 1 .* found 2.0 at"):
        loss([0.0, 1.0], [1, 2])
    with pytest.raises(InputError, match=rf"{loss.name} labels mix 0 and −1"):
        loss([0.0, 1.0, 2.0], [1, 0, -1])
    with pytest.raises(InputError, match=r"differ in shape: \(2,\) vs \(3,\)"):
        loss([0.0, 1.0], [1, 1, 1])


def test_categorical_hinge_by_hand_and_keras_zero_in_the_max():
    # neg = max(0·2, 1.5, 0) = 1.5, pos = 2: max(0, 1.5 − 2 + 1)
    assert categorical_hinge([[2.0, 1.5, 0.0]], [0]) == 0.5
    assert categorical_hinge([[2.0, 1.5, 0.0]], [[1.0, 0.0, 0.0]]) == 0.5
    # every other score negative: the true class's 0 is the max (Keras), so 0 − 0.5 + 1
    assert categorical_hinge([[0.5, -1.0, -2.0]], [0]) == 0.5
    g, h, kinks = kernels(categorical_hinge, [[2.0, 1.5, 0.0], [0.5, -1.0, -2.0]], [0, 0])
    np.testing.assert_array_equal(g, [[-1.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(h, np.zeros((2, 3)))
    assert not kinks.any()


def test_categorical_hinge_ties_and_margin_are_kinks_with_jax_subgradients():
    # tie of 0.3 and 0.3 in the max (margin 0.8): the argmax's 1 is shared; at the margin
    # (row 1: 0.5 − 1.5 + 1 = 0) half the gradient
    x = [[0.5, 0.3, 0.3], [1.5, 0.5, 0.2]]
    g, _, kinks = kernels(categorical_hinge, x, [0, 0])
    np.testing.assert_array_equal(g, [[-1.0, 0.5, 0.5], [-0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(kinks, [[False, True, True], [True, True, True]])
    with pytest.raises(InputError, match=r"class index 3 at \(row 0\) is out of range"):
        categorical_hinge(x, [3, 0])


def test_multi_margin_torch_doc_example_and_options():
    # torch's docstring: x = [0.1, 0.2, 0.4, 0.8], y = 3: (0.3 + 0.4 + 0.6)/4; torch gives the
    # same float64 number
    assert multi_margin([[0.1, 0.2, 0.4, 0.8]], [3]) == 0.32499999999999996
    # p = 2, x = [0, 0], y = 0: z_1 = 1, 1²/2; grad [−1, 1]; hess [1, 1]
    assert multi_margin([[0.0, 0.0]], [0], p=2) == 0.5
    g, h, _ = kernels(multi_margin, [[0.0, 0.0]], [0], p=2)
    np.testing.assert_array_equal(g, [[-1.0, 1.0]])
    np.testing.assert_array_equal(h, [[1.0, 1.0]])
    # weight of the target class multiplies; mean still divides by N (torch), not by Σ w_y
    assert multi_margin([[0.0, 0.0]], [1], class_weights=[1.0, 3.0]) == 1.5
    assert multi_margin([[0.0, 0.0], [0.0, 0.0]], [1, 1], class_weights="1,3") == 1.5
    assert multi_margin([[0.0, 0.0]], [0], margin=0.5) == 0.25


def test_multi_margin_kink_at_zero_has_torch_subgradient():
    # z_1 = 1 − 1 + 0 = 0: not counted (torch's z > 0); z_2 = 0.5
    g, _, kinks = kernels(multi_margin, [[1.0, 0.0, 0.5]], [0])
    np.testing.assert_allclose(g, [[-1 / 3, 0.0, 1 / 3]], rtol=1e-15)
    np.testing.assert_array_equal(kinks, [[True, True, False]])


def test_multi_margin_bad_options():
    x = [[0.0, 0.0]]
    with pytest.raises(UsageError, match=r"--p must be 1 or 2 \(as torch's multi_margin_loss\)"):
        multi_margin(x, [0], p=3)
    with pytest.raises(UsageError, match="--margin must be a finite number, got nan"):
        multi_margin(x, [0], margin=float("nan"))
    with pytest.raises(InputError, match="class weights have 3 values but the predictions"):
        multi_margin(x, [0], class_weights=[1, 2, 3])
    with pytest.raises(InputError, match="class index -1 at \\(row 0\\) is negative"):
        multi_margin(x, [-1])


def test_soft_margin_by_hand():
    assert soft_margin([0.0], [1.0]) == pytest.approx(LOG2, rel=1e-15)
    # 0/1 labels mapped: x = 3 with label 0 (−1): log(1 + e³)
    assert soft_margin([3.0, 0.0], [0, 1], reduction="sum") == pytest.approx(
        math.log1p(math.exp(3.0)) + LOG2, rel=1e-15
    )
    assert soft_margin([1e4], [-1.0]) == 1e4  # no overflow
    g, h, _ = kernels(soft_margin, [0.0], [1.0])
    assert (g[0], h[0]) == (-0.5, 0.25)


def test_multilabel_soft_margin_is_a_row_loss():
    # each element log 2; the row is their mean; sum adds rows (2 log 2), not elements
    x, y = [[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]
    assert multilabel_soft_margin(x, y) == pytest.approx(LOG2, rel=1e-15)
    assert multilabel_soft_margin(x, y, reduction="sum") == pytest.approx(2 * LOG2, rel=1e-15)
    # weights 1, 3: (log 2 + 3 log 2)/2
    assert multilabel_soft_margin(x[:1], y[:1], class_weights="1,3") == pytest.approx(
        2 * LOG2, rel=1e-15
    )
    g, h, _ = kernels(multilabel_soft_margin, [[0.0, 0.0]], [[1.0, 0.0]], class_weights=[1, 3])
    np.testing.assert_array_equal(g, [[-0.25, 0.75]])  # w(σ − y)/C
    np.testing.assert_array_equal(h, [[0.125, 0.375]])  # w σ(1 − σ)/C
    with pytest.raises(InputError, match="multilabel-soft-margin targets must lie in"):
        multilabel_soft_margin([[0.0]], [[2.0]])
    with pytest.raises(InputError, match="class weights have 3 values"):
        multilabel_soft_margin(x, y, class_weights="1,2,3")


# --------------------------------------------------------------------------- Brier


def test_brier_sklearn_doc_examples():
    # sklearn.metrics.brier_score_loss's docstring; sklearn 1.9 returns these same floats
    p, y = [0.1, 0.9, 0.8, 0.3], [0, 1, 1, 0]
    assert brier(p, y) == 0.03749999999999999
    assert brier(p, y, scale_by_half="false") == pytest.approx(0.075, rel=1e-15)
    # the 3-class example: rows 0.06, 0.14, 0.24, mean 0.44/3 (the docstring rounds to 0.146;
    # sklearn 1.9 returns 0.1466666666666667)
    probs = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.2, 0.2, 0.6]]
    assert brier(probs, [0, 1, 2]) == pytest.approx(0.44 / 3, rel=1e-14)
    assert brier(probs, np.eye(3)) == pytest.approx(0.44 / 3, rel=1e-14)


def test_brier_two_columns_equal_the_binary_form_and_weights_average():
    p = np.array([0.1, 0.9, 0.8, 0.3])
    two = np.stack([1 - p, p], axis=1)
    assert brier(two, [0, 1, 1, 0]) == pytest.approx(brier(p, [0, 1, 1, 0]), rel=1e-14)
    # rows 1 and 0 weighted 1 and 3: np.average → 1/4
    assert brier([1.0, 0.0], [0, 0], sample_weights=[1, 3]) == 0.25
    g, h, _ = kernels(brier, [1.0, 0.0], [0, 0])
    np.testing.assert_array_equal(g, [2.0, 0.0])
    np.testing.assert_array_equal(h, [2.0, 2.0])
    _, h, _ = kernels(brier, [[0.5, 0.3, 0.2]], [0])
    np.testing.assert_array_equal(h, [[2.0, 2.0, 2.0]])  # C ≥ 3: not halved


def test_brier_bad_inputs():
    with pytest.raises(InputError, match="brier labels of the binary form are 0 or 1, found 2.0"):
        brier([0.5, 0.5], [0, 2])
    with pytest.raises(InputError, match=r"brier predictions must lie in \[0, 1\], found 1.5"):
        brier([1.5], [1])
    with pytest.raises(InputError, match="--targets prob needs N × C predictions"):
        brier([0.5], [1.0], target_type="prob")
    with pytest.raises(UsageError, match="scale_by_half must be one of auto, true, false"):
        brier([0.5], [1.0], scale_by_half="maybe")


# --------------------------------------------------------------------------- sparsemax


def test_sparsemax_projection_and_loss_by_hand():
    # [2, 1, −1]: support {0}, τ = 1; [1, 0.8, 0]: support {0, 1}, τ = 0.4
    np.testing.assert_allclose(
        sparsemax(np.array([[2.0, 1.0, -1.0], [1.0, 0.8, 0.0]])),
        [[1.0, 0.0, 0.0], [0.6, 0.4, 0.0]],
        rtol=1e-15,
    )
    assert sparsemax_loss([[1.0, 0.0]], [0]) == 0.0  # p = y
    # [0, 0], class 0: p = [½, ½]: ⟨p, z − z_y⟩ + ½(1 − ½) = ¼
    assert sparsemax_loss([[0.0, 0.0]], [0]) == 0.25
    g, h, _ = kernels(sparsemax_loss, [[1.0, 0.8, 0.0]], [1])
    np.testing.assert_allclose(g, [[0.6, -0.6, 0.0]], rtol=1e-15)
    np.testing.assert_array_equal(h, [[0.5, 0.5, 0.0]])  # 1 − 1/|S| on the support
    # probability-row targets: 0 exactly when sparsemax(z) = y
    assert sparsemax_loss([[1.0, 0.8, 0.0]], [[0.6, 0.4, 0.0]]) == pytest.approx(0.0, abs=1e-16)


def test_sparsemax_binary_form_is_sparse_plus():
    # y = 1: sparse_plus(−z); y = 0: sparse_plus(z); ¼(x + 1)² inside (−1, 1)
    values = sparsemax_loss([0.0, 2.0, -2.0, 0.5], [1, 0, 0, 0], reduction="none")
    np.testing.assert_array_equal(values, [0.25, 2.0, 0.0, 0.5625])
    g, h, _ = kernels(sparsemax_loss, [0.0, 2.0, -2.0, 0.5], [1, 0, 0, 0])
    np.testing.assert_array_equal(g, [-0.5, 1.0, 0.0, 0.75])
    np.testing.assert_array_equal(h, [0.5, 0.0, 0.0, 0.5])
    assert not np.signbit(sparsemax_loss.grad([-3.0, 3.0], [0, 1])).any()  # 0.0, not −0.0
    with pytest.raises(InputError, match="sparsemax labels of the binary form are 0 or 1"):
        sparsemax_loss([0.0], [2.0])


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (("sigmoid-focal", "z2", "y10"), f"{0.17328679513998632!r}\n"),  # ¼ log 2
        (("sigmoid-focal", "z2", "y10", "--alpha", "0.25", "-r", "sum"), None),
        (("sigmoid-focal", "p2", "y10", "--probabilities"), f"{0.17328679513998632!r}\n"),
        (("sigmoid-focal", "z2", "y10", "--logits"), f"{0.17328679513998632!r}\n"),
        # A = 1: labels ½, z = 0: ¼ log 2 per element
        (("sigmoid-focal", "z2", "y10", "--label-smoothing", "1"), f"{0.17328679513998632!r}\n"),
        (("softmax-focal", "p2", "i0"), "0.04332169878499658\n"),  # log 2 / 16
        (("poly1", "z2", "i0"), "1.6931471805599454\n"),  # log 2 + 1
        (("hinge", "x3", "y3"), "0.16666666666666666\n"),  # 0.5/3
        (("squared-hinge", "x2", "y2"), "4.625\n"),
        (("categorical-hinge", "mm", "i3"), "0.6\n"),  # 0.4 − 0.8 + 1
        (("multi-margin", "mm", "i3"), "0.32499999999999996\n"),  # torch's doc example
        (("multi-margin", "z2", "i0", "--p", "2", "--margin", "2"), "2.0\n"),  # 2²/2
        (("soft-margin", "z1", "y1"), "0.6931471805599453\n"),
        (("multilabel-soft-margin", "z2", "y10", "--class-weights", "1,3"), None),
        (("brier", "pb", "yb"), "0.03749999999999999\n"),  # sklearn's doc example
        (("brier", "pb", "yb", "--scale-by-half", "false"), "0.07499999999999998\n"),
        (("sparsemax", "z2", "i0"), "0.25\n"),
    ],
)
def test_cli_values(tmp_path, args, stdout):
    files = {
        "z2": "0,0\n",
        "z1": "0\n",
        "y1": "1\n",
        "y10": "1,0\n",
        "p2": "0.5,0.5\n",
        "i0": "0\n",
        "x3": "0.5\n2\n-1\n",
        "y3": "1\n1\n0\n",
        "x2": "0.5\n2\n",
        "y2": "1\n0\n",
        "mm": "0.1,0.2,0.4,0.8\n",
        "i3": "3\n",
        "pb": "0.1\n0.9\n0.8\n0.3\n",
        "yb": "0\n1\n1\n0\n",
    }
    argv = [write(tmp_path / f"{a}.csv", files[a]) if a in files else a for a in args]
    r = run(*argv)
    assert (r.exit_code, r.stderr) == (0, "")
    if stdout is None:  # α = ¼ on y = 1, ¾ on y = 0: sum = ¼·¼ log 2 + ¾·¼ log 2 = ¼ log 2
        # multilabel with weights 1, 3: (1 + 3)·log 2 / 2
        expected = 0.25 * LOG2 if args[0] == "sigmoid-focal" else 2 * LOG2
        assert float(r.stdout) == pytest.approx(expected, rel=1e-15)
        assert r.stdout.count("\n") == 1
    else:
        assert r.stdout == stdout


def test_cli_hinge_gradient_at_the_margin(tmp_path):
    # third element: label 0 → −1, x = −1: on the margin, −y/2 = ½, divided by N = 3
    r = run(
        "hinge",
        write(tmp_path / "x.csv", "0.5\n2\n-1\n"),
        write(tmp_path / "y.csv", "1\n1\n0\n"),
        "--grad",
    )
    assert r.exit_code == 0
    assert r.stdout == "0.16666666666666666\n\n-0.3333333333333333\n0.0\n0.16666666666666666\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("sigmoid-focal", "z2", "y10", "--gamma", "-1"),
            "--gamma must be a finite number ≥ 0, got -1.0",
        ),
        (
            ("sigmoid-focal", "z2", "y10", "--gamma", "nan"),
            "--gamma must be a finite number ≥ 0, got nan",
        ),
        (("sigmoid-focal", "z2", "y10", "--alpha", "1.5"), "--alpha must lie in [0, 1], got 1.5"),
        (("sigmoid-focal", "z2", "y10", "--alpha", "-0.5"), "--alpha must lie in [0, 1], got -0.5"),
        (
            ("sigmoid-focal", "x3", "y3", "--probabilities"),
            "{x3}: probabilities must lie in [0, 1], found 2.0 at (row 1) — pass --logits (the "
            "default) if these are raw scores",
        ),
        (
            ("sigmoid-focal", "z2", "y10", "--label-smoothing", "-0.1"),
            "--label-smoothing must lie in [0, 1], got -0.1",
        ),
        (("softmax-focal", "p2", "i0", "--alpha", "-0.1"), "--alpha must lie in [0, 1], got -0.1"),
        (
            ("softmax-focal", "p2", "i0", "--alpha", "0.1,0.2,0.3"),
            "--alpha has 3 values but the predictions have 2 classes (columns); give one "
            "number, or one per class",
        ),
        (
            ("softmax-focal", "p2", "i0", "--alpha", "0.5,2"),
            "--alpha must lie in [0, 1], got 2.0 for class 1",
        ),
        (
            ("softmax-focal", "p2", "i0", "--gamma", "-2"),
            "--gamma must be a finite number ≥ 0, got -2.0",
        ),
        (("softmax-focal", "p2", "i0", "--clip", "0.6"), "--clip must lie in (0, 0.5), got 0.6"),
        (
            ("softmax-focal", "p2", "i0", "--label-smoothing", "2"),
            "--label-smoothing must lie in [0, 1], got 2.0",
        ),
        (
            ("softmax-focal", "p2", "i3"),
            "{i3}: class index 3 at (row 0) is out of range for 2 classes (valid: 0 to 1)",
        ),
        (("poly1", "z2", "i0", "--epsilon", "inf"), "--epsilon must be a finite number, got inf"),
        (
            ("hinge", "x3", "bad"),
            "{bad}: hinge labels are −1 or 1 (or 0/1, mapped to −1/1 as Keras does), found 2.0 at "
            "(row 1)",
        ),
        (
            ("hinge", "x3", "mix"),
            "{mix}: hinge labels mix 0 and −1 (first 0 at (row 1), first −1 at (row 2)); give ±1 "
            "labels, or 0/1 labels (mapped to −1/1 as Keras does)",
        ),
        (
            ("squared-hinge", "x3", "bad"),
            "{bad}: squared-hinge labels are −1 or 1 (or 0/1, mapped to −1/1 as Keras does), "
            "found 2.0 at (row 1)",
        ),
        (
            ("soft-margin", "x3", "bad"),
            "{bad}: soft-margin labels are −1 or 1 (or 0/1, mapped to −1/1 as Keras does), "
            "found 2.0 at (row 1)",
        ),
        (
            ("categorical-hinge", "z2", "i3"),
            "{i3}: class index 3 at (row 0) is out of range for 2 classes (valid: 0 to 1)",
        ),
        (
            ("multi-margin", "mm", "i3", "--p", "3"),
            "--p must be 1 or 2 (as torch's multi_margin_loss), got 3",
        ),
        (
            ("multi-margin", "mm", "i3", "--margin", "inf"),
            "--margin must be a finite number, got inf",
        ),
        (
            ("multi-margin", "mm", "i5"),
            "{i5}: class index 5 at (row 0) is out of range for 4 classes (valid: 0 to 3)",
        ),
        (
            ("multi-margin", "mm", "i3", "--class-weights", "1,2"),
            "class weights have 2 values but the predictions have 4 classes (columns); give one "
            "weight per class",
        ),
        (
            ("multilabel-soft-margin", "z2", "y12"),
            "{y12}: multilabel-soft-margin targets must lie in [0, 1], found 2.0 at (row 0, col 1) "
            "— they are 0/1 labels per class (or soft ones in [0, 1])",
        ),
        (
            ("brier", "pb", "yb2"),
            "{yb2}: brier labels of the binary form are 0 or 1, found 2.0 at (row 2) (for C "
            "classes give an N × C matrix of predictions)",
        ),
        (
            ("brier", "x3", "y3"),
            "{x3}: brier predictions must lie in [0, 1], found 2.0 at (row 1) — they are "
            "predicted probabilities (apply a sigmoid or softmax to raw scores)",
        ),
        (
            ("sparsemax", "x3", "bad"),
            "{bad}: sparsemax labels of the binary form are 0 or 1, found 2.0 at (row 1) (for C "
            "classes give an N × C matrix of predictions)",
        ),
    ],
)
def test_cli_bad_options_and_labels_are_one_error_line(tmp_path, args, error):
    files = {
        "z2": "0,0\n",
        "y10": "1,0\n",
        "y12": "1,2\n",
        "p2": "0.5,0.5\n",
        "i0": "0\n",
        "i3": "3\n",
        "i5": "5\n",
        "x3": "0.5\n2\n-1\n",
        "y3": "1\n1\n0\n",
        "bad": "1\n2\n0\n",
        "mix": "1\n0\n-1\n",
        "mm": "0.1,0.2,0.4,0.8\n",
        "pb": "0.1\n0.9\n0.8\n0.3\n",
        "yb2": "0\n1\n2\n0\n",
    }
    paths = {a: write(tmp_path / f"{a}.csv", files[a]) for a in args if a in files}
    r = run(*[paths.get(a, a) for a in args])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "Error: " + error.format(**paths) + "\n"


@pytest.mark.parametrize("loss", NEW, ids=lambda loss: loss.name)
def test_gradients_and_hessians_have_no_negative_zeros(loss):
    # −0.0 would print as "-0.0" in --grad output; extreme inputs make products of 0 and a sign
    preds, targets, options = loss.example
    p = np.asarray(preds, dtype=np.float64)
    scale = 1.0 if loss.name in ("brier", "softmax-focal") else 1000.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        for x in (p, p * scale if loss.name != "brier" else np.round(p)):
            g, h, _ = kernels(loss, x, targets, **options)
            for a in (g, h):
                assert not (np.signbit(a) & (a == 0)).any(), (loss.name, a)


@pytest.mark.parametrize(
    ("loss", "preds", "targets", "message"),
    [
        (sigmoid_focal, [0.0, 1.0], [1.0], r"differ in shape: \(2,\) vs \(1,\)"),
        (softmax_focal, [[0.5, 0.5]], [0, 1], r"inconsistent numbers of rows .*: \[1, 2\]"),
        (poly1, [[0.0, 0.0]], [[1.0, 0.0, 0.0]], r"differ in shape: \(1, 2\) vs \(1, 3\)"),
        (hinge, [[0.0, 1.0]], [[1.0]], r"differ in shape: \(1, 2\) vs \(1, 1\)"),
        (squared_hinge, [0.0, 1.0], [1.0, 1.0, 1.0], r"differ in shape: \(2,\) vs \(3,\)"),
        (categorical_hinge, [[0.0, 0.0]], [0, 1], r"inconsistent numbers of rows .*: \[1, 2\]"),
        (multi_margin, [[0.0, 0.0]], [0, 1], r"inconsistent numbers of rows .*: \[1, 2\]"),
        (soft_margin, [0.0, 1.0], [1.0], r"differ in shape: \(2,\) vs \(1,\)"),
        (
            multilabel_soft_margin,
            [[0.0, 0.0]],
            [[1.0, 0.0, 1.0]],
            r"differ in shape: \(1, 2\) vs \(1, 3\)",
        ),
        (brier, [0.5, 0.5], [1.0], r"differ in shape: \(2,\) vs \(1,\)"),
        (sparsemax_loss, [[0.0, 0.0]], [0, 1], r"inconsistent numbers of rows .*: \[1, 2\]"),
    ],
    ids=lambda x: getattr(x, "name", None),
)
def test_shape_mismatch_names_both_shapes(loss, preds, targets, message):
    with pytest.raises(InputError, match=message):
        loss(preds, targets)


@pytest.mark.parametrize("loss", NEW, ids=lambda loss: loss.name)
def test_reductions_are_consistent(loss):
    # mean·(its denominator) = sum = Σ of the none rows (times D for elementwise losses)
    preds, targets, options = loss.example
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        rows = loss(preds, targets, reduction="none", **options)
        total = loss(preds, targets, reduction="sum", **options)
        mean = loss(preds, targets, reduction="mean", **options)
    d = np.shape(preds)[1] if loss.elementwise and np.ndim(preds) == 2 else 1
    assert np.shape(rows) == (len(preds),)
    assert total == pytest.approx(rows.sum() * d, rel=1e-14)
    assert mean == pytest.approx(rows.mean(), rel=1e-14)


@pytest.mark.filterwarnings("ignore::losscli.errors.LossCliWarning")  # perturbed rows ≠ 1
@pytest.mark.parametrize("logits", [False, True])
def test_softmax_focal_per_class_alpha_gradient_matches_central_differences(logits):
    # central differences of the loss itself (step 1e-6, error O(h²) ≈ 1e-12), by hand
    loss = losscli.get_loss("softmax-focal")
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1.5, (4, 3))
    p = z if logits else rng.dirichlet(np.ones(3), 4)
    y = np.array([0.0, 2.0, 1.0, 2.0])
    opts = {"logits": logits, "alpha": [0.25, 0.5, 1.0], "gamma": 2.0}
    analytic = loss.grad(p, y, **opts)
    numeric = np.empty_like(p)
    h = 1e-6
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss(up, y, **opts) - loss(down, y, **opts)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    # a per-class alpha of all 0.5 is the scalar 0.5
    same = loss(p, y, **{**opts, "alpha": [0.5, 0.5, 0.5]})
    assert same == loss(p, y, **{**opts, "alpha": 0.5})
