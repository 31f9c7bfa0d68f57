"""Second derivatives: the Hessian diagonal of every loss, and the full softmax blocks.

Expected values come from tests/fixtures/hessians.json, generated once by
tests/make_hessian_fixtures.py with PyTorch (torch.autograd.functional.hessian, float64) on the
cases of tests/make_fixtures.py; compared to 1e-12 relative. Other expectations are derived by
hand in the comments next to them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import losscli
from losscli.errors import InputError, UsageError
from losscli.losses import REGISTRY, get_loss

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "hessians.json").read_text())
CASES = FIXTURES["cases"]
LOSS_NAMES = {"smooth_l1": "smooth-l1", "bce-logits": "bce"}
OPTION_NAMES = {"targets": "target_type"}
RTOL = 1e-12
ATOL = 1e-15


def _kwargs(case):
    options = {OPTION_NAMES.get(k, k): v for k, v in case["options"].items()}
    return dict(reduction=case["reduction"], sample_weights=case["sample_weights"], **options)


def _loss(case):
    return get_loss(LOSS_NAMES.get(case["loss"], case["loss"]))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_hessian_diagonal_matches_pytorch(case):
    loss = _loss(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hess = loss.hess(case["preds"], case["targets"], **_kwargs(case))
        value, grad, hess_too = loss.value_grad_hess(
            case["preds"], case["targets"], **_kwargs(case)
        )
        expected_grad = loss.grad(case["preds"], case["targets"], **_kwargs(case))
    np.testing.assert_allclose(hess, np.array(case["hess"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(hess_too, hess)
    np.testing.assert_array_equal(grad, expected_grad)


CE_BLOCK_CASES = [c for c in CASES if "hess_blocks" in c]


@pytest.mark.parametrize("case", CE_BLOCK_CASES, ids=[c["id"] for c in CE_BLOCK_CASES])
def test_softmax_blocks_match_pytorch(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blocks = losscli.cross_entropy.hess_blocks(case["preds"], case["targets"], **_kwargs(case))
    np.testing.assert_allclose(blocks, np.array(case["hess_blocks"]), rtol=RTOL, atol=ATOL)


def test_fixtures_cover_every_loss_and_the_blocks():
    assert FIXTURES["generator"] == "tests/make_hessian_fixtures.py"
    assert FIXTURES["torch_version"].startswith("2.")
    covered = {LOSS_NAMES.get(c["loss"], c["loss"]) for c in CASES}
    # the losses of the first release (later ones bring fixtures of their own)
    assert covered == {"mse", "mae", "huber", "smooth-l1", "rmse", "ce", "nll", "bce", "kl"}
    assert {c["reduction"] for c in CASES} == {"mean", "sum", "none", "batchmean"}
    assert len(CE_BLOCK_CASES) > 50
    assert any(c["sample_weights"] for c in CASES)


BCE_PROB_CASES = [c for c in CASES if "hess_torch_builtin" in c]


@pytest.mark.parametrize("case", BCE_PROB_CASES, ids=[c["id"] for c in BCE_PROB_CASES])
def test_bce_probabilities_differ_from_torch_builtin_only_by_its_eps(case):
    # torch's double backward of binary_cross_entropy divides by (p + 1e-12)²(1 − p + 1e-12)²;
    # losscli's (and the fixture's) is the exact derivative of the gradient: within 1e-9.
    hess = _loss(case).hess(case["preds"], case["targets"], **_kwargs(case))
    np.testing.assert_allclose(hess, np.array(case["hess_torch_builtin"]), rtol=1e-9, atol=0)


# ----------------------------------------------------------------------------- by hand


def test_hand_values():
    # mse: d²/dŷ² (ŷ − y)² = 2, over N·D = 4 elements under mean
    np.testing.assert_array_equal(losscli.mse.hess([[1.0, 2.0], [3.0, 4.0]], [[0.0] * 2] * 2), 0.5)
    # softmax of [0, 0] is ½: p(1 − p) = ¼ per element, times Σy = 1 and class weight 3
    h = losscli.cross_entropy.hess([[0.0, 0.0]], [0], logits=True, reduction="none")
    np.testing.assert_array_equal(h, [[0.25, 0.25]])
    h = losscli.cross_entropy.hess(
        [[0.0, 0.0]], [0], logits=True, reduction="sum", class_weights=[3, 1]
    )
    np.testing.assert_array_equal(h, [[0.75, 0.75]])
    # soft targets summing to 2: Σy = 2 multiplies the Hessian
    with pytest.warns(losscli.LossCliWarning, match="do not sum to 1"):
        h = losscli.cross_entropy.hess(
            [[0.0, 0.0]], [[1.5, 0.5]], logits=True, reduction="sum", target_type="prob"
        )
    np.testing.assert_array_equal(h, [[0.5, 0.5]])
    # bce from logits at 0: σ(1 − σ) = ¼; with pos_weight 3 and y = 1: (3 + 0)·¼
    np.testing.assert_array_equal(losscli.bce.hess([0.0], [1.0], logits=True), [0.25])
    np.testing.assert_array_equal(
        losscli.bce.hess([0.0], [1.0], logits=True, pos_weight="3"), [0.75]
    )
    # bce from probabilities: y/p² + (1 − y)/(1 − p)² = 1/0.25 at p = ½, y = 1
    np.testing.assert_allclose(losscli.bce.hess([0.5], [1.0]), [4.0], rtol=1e-15)
    # near p = y = 1 the sum form has no cancellation (p² − 2py + y over (p(1 − p))² gave 0 at
    # p = 1 − 1e-9): 1/p² = 1 + 2e-9 to first order
    h = losscli.bce.hess([1.0 - 1e-9, 1.0 - 1e-6, 1e-9], [1.0, 1.0, 0.0], reduction="sum")
    np.testing.assert_allclose(h, [1.0 + 2e-9, 1.0 + 2e-6, 1.0 + 2e-9], rtol=1e-11)
    # ... and the floor: p(1 − p) < 1e-12 holds the gradient at (p − y)/1e-12, slope 1/1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = losscli.bce.hess([1e-14], [0.0])
    assert h[0] == 1.0 / float(np.float32(1e-12))
    # ce from probabilities: y/p² at the target, 0 elsewhere and below the clip
    h = losscli.cross_entropy.hess([[0.5, 0.5]], [0], reduction="sum")
    np.testing.assert_array_equal(h, [[4.0, 0.0]])
    # huber: 1 inside |e| < δ, 0 beyond and at |e| = δ exactly (torch's choice)
    h = losscli.huber.hess([0.5, 1.0, 3.0], [0.0, 0.0, 0.0], delta=1.0, reduction="sum")
    np.testing.assert_array_equal(h, [1.0, 0.0, 0.0])
    h = losscli.smooth_l1.hess([0.25, 2.0], [0.0, 0.0], beta=0.5, reduction="sum")
    np.testing.assert_array_equal(h, [2.0, 0.0])
    np.testing.assert_array_equal(
        losscli.smooth_l1.hess([0.25, 0.0], [0.0, 0.0], beta=0.0, reduction="sum"), [0.0, 0.0]
    )
    # degenerate ones: mae, nll and kl are 0
    np.testing.assert_array_equal(losscli.mae.hess([1.0, -2.0], [0.0, 0.0]), [0.0, 0.0])
    np.testing.assert_array_equal(losscli.nll.hess([[-0.5, -1.0]], [0]), [[0.0, 0.0]])
    np.testing.assert_array_equal(losscli.kl.hess([[-0.5, -1.0]], [[0.5, 0.5]]), [[0.0, 0.0]])


def test_rmse_chain_rule_by_hand():
    # u = mean(e²) = (9 + 16)/2 = 12.5 for e = (3, 4); f = √u: f' = 1/(2√u), f'' = −1/(4u^1.5);
    # ∂u/∂e_j = e_j, ∂²u/∂e_j² = 1: H_jj = f''·e_j² + f'
    e = np.array([3.0, 4.0])
    u = 12.5
    expected = -0.25 / u**1.5 * e**2 + 0.5 / np.sqrt(u)
    np.testing.assert_allclose(losscli.rmse.hess(e, [0.0, 0.0]), expected, rtol=1e-15)
    # none on vectors: each row is |e|, whose second derivative is 0
    np.testing.assert_allclose(
        losscli.rmse.hess(e, [0.0, 0.0], reduction="none"), [0.0, 0.0], atol=1e-16
    )
    with pytest.raises(InputError, match="undefined"):
        losscli.rmse.hess([1.0, 2.0], [1.0, 2.0])


def test_reduction_scaling_matches_the_gradient():
    p, t = [[0.3, -1.2, 2.0], [0.1, 0.4, -0.5]], [2, 0]
    s = [2.0, 0.5]
    w = [1.0, 3.0, 0.5]
    rows = losscli.cross_entropy.hess(p, t, logits=True, reduction="none", class_weights=w)
    total = losscli.cross_entropy.hess(p, t, logits=True, reduction="sum", class_weights=w)
    mean = losscli.cross_entropy.hess(
        p, t, logits=True, class_weights=w, sample_weights=s, reduction="mean"
    )
    np.testing.assert_array_equal(rows, total)  # sum of rows: each row's own Hessian
    # mean with class and sample weights: Σ s_i w_{y_i} L_i / Σ s_i w_{y_i}; w_{y} = (0.5, 1)
    denominator = 2.0 * 0.5 + 0.5 * 1.0
    expected = rows * np.array(s)[:, None] / denominator
    np.testing.assert_allclose(mean, expected, rtol=1e-15)


def test_ignored_rows_have_zero_hessian():
    h = losscli.cross_entropy.hess(
        [[1.0, 2.0], [0.5, 0.0]], [1, -100], logits=True, reduction="sum"
    )
    assert (h[1] == 0).all() and (h[0] > 0).all()


def test_errors():
    with pytest.raises(
        UsageError,
        match="ce has no full Hessian blocks from probabilities: its Hessian is diagonal",
    ):
        losscli.cross_entropy.hess_blocks([[0.5, 0.5]], [0])
    with pytest.raises(UsageError, match="mse has no full Hessian blocks"):
        losscli.mse.hess_blocks([1.0], [0.0])
    no_hess = REGISTRY["mse"].__class__(
        **{
            **{f: getattr(REGISTRY["mse"], f) for f in ("name", "summary", "formula")},
            "gradient_formula": "",
            "reference": "",
            "values": REGISTRY["mse"].values,
            "grad_kernel": REGISTRY["mse"].grad_kernel,
            "prepare": REGISTRY["mse"].prepare,
        }
    )
    with pytest.raises(UsageError, match="mse has no Hessian"):
        no_hess.hess([1.0], [0.0])
    assert no_hess.hess_summary() == "none"


def test_listing_says_which_losses_have_a_hessian():
    infos = {loss.name: loss.info()["hessian"] for loss in REGISTRY.values()}
    assert infos["mse"] == "diagonal"
    assert infos["ce"].startswith("diagonal, full blocks (--hess full); logits: Σy·p(1 − p)")
    assert infos["mae"].startswith("diagonal; 0 almost everywhere")
    assert "C¹ but not C²" in infos["huber"]


def test_kinks():
    p, t = np.array([0.0, 1.0, 2.0]), np.zeros(3)
    assert losscli.mae.kinks(p, t).tolist() == [True, False, False]
    assert losscli.huber.kinks(p, t, delta=1.0).tolist() == [False, False, False]
    assert losscli.huber.hess_kinks(p, t, delta=1.0).tolist() == [False, True, False]
    assert losscli.smooth_l1.kinks(p, t, beta=0.0).tolist() == [True, False, False]
    assert losscli.smooth_l1.hess_kinks(p, t, beta=2.0).tolist() == [False, False, True]


def test_softmax_blocks_match_finite_differences_of_the_gradient():
    # column j of every row's block is ∂grad_row/∂z_j: central differences of the gradient
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, size=(6, 4))
    t = rng.integers(0, 4, size=6).astype(float)
    s = rng.uniform(0.5, 2, size=6)
    options = dict(logits=True, class_weights=[1.0, 2.0, 0.5, 1.5], label_smoothing=0.2)
    blocks = losscli.cross_entropy.hess_blocks(z, t, sample_weights=s, **options)
    h = 1e-6
    for j in range(4):
        up, down = z.copy(), z.copy()
        up[:, j] += h
        down[:, j] -= h
        column = (
            losscli.cross_entropy.grad(up, t, sample_weights=s, **options)
            - losscli.cross_entropy.grad(down, t, sample_weights=s, **options)
        ) / (2 * h)
        np.testing.assert_allclose(blocks[:, :, j], column, rtol=1e-6, atol=1e-9)
    # symmetric, and the diagonal is the diagonal kernel's to the bit
    np.testing.assert_array_equal(blocks, blocks.transpose(0, 2, 1))
    diagonal = losscli.cross_entropy.hess(z, t, sample_weights=s, **options)
    np.testing.assert_array_equal(np.einsum("ijj->ij", blocks), diagonal)
