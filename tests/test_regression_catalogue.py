"""The losses of issue 10 through the Python API and the command line: hand-derived scalar and
batched values, shape mismatches, kinks and their subgradients, and every bad option value
(one ``Error:`` line, exit 2). Expected numbers are derived by hand in the comments (or computed
with ``math`` from the formula); the reference-library comparison is in
test_regression_losses.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_regression_losses import NEW_LOSSES
from typer.testing import CliRunner

import losscli
from losscli.cli import app
from losscli.errors import InputError, LossCliWarning, UsageError
from losscli.losses import REGISTRY

runner = CliRunner()
LOG2 = math.log(2.0)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(path, rows) -> str:
    path.write_text("\n".join(",".join(repr(float(v)) for v in np.atleast_1d(r)) for r in rows))
    return str(path)


# --------------------------------------------------------------------------- python names


def test_python_names_and_registry():
    pairs = {
        "log_cosh": "log-cosh",
        "pinball": "pinball",
        "mape": "mape",
        "msle": "msle",
        "poisson_nll": "poisson-nll",
        "gaussian_nll": "gaussian-nll",
        "tweedie": "tweedie",
        "poisson_deviance": "poisson-deviance",
        "gamma_deviance": "gamma-deviance",
        "cosine_similarity": "cosine-similarity",
        "cosine_embedding": "cosine-embedding",
        "margin_ranking": "margin-ranking",
        "hinge_embedding": "hinge-embedding",
        "dice": "dice",
        "tversky": "tversky",
    }
    for python_name, cli_name in pairs.items():
        assert getattr(losscli, python_name) is REGISTRY[cli_name]
        assert python_name in losscli.__all__
    assert losscli.get_loss("quantile") is losscli.pinball


# --------------------------------------------------------------------------- scalar and batched


def test_log_cosh_scalar_batched_and_extremes():
    assert losscli.log_cosh([0.0], [0.0]) == 0.0
    p, t = np.array([[0.5, 3.0], [-2.0, 1.0]]), np.array([[0.0, 0.0], [0.0, 1.5]])
    e = p - t
    expected = np.log(np.cosh(e))
    np.testing.assert_allclose(losscli.log_cosh(p, t, reduction="none"), expected.mean(1), 1e-15)
    np.testing.assert_allclose(losscli.log_cosh.grad(p, t, reduction="sum"), np.tanh(e), 1e-15)
    # no overflow: log cosh(1000) = 1000 − log 2; no cancellation: log cosh(1e-8) ≈ ½e²
    assert losscli.log_cosh([1000.0], [0.0]) == 1000.0 - LOG2
    assert losscli.log_cosh([1e-8], [0.0]) == pytest.approx(0.5e-16, rel=1e-12)
    h = losscli.log_cosh.hess_kernel(np.array([0.0, 30.0]), np.array([0.0, 0.0]))
    assert h[0] == 1.0 and h[1] == pytest.approx(4 * math.exp(-60), rel=1e-12)  # not 0


def test_pinball_values_kink_and_quantile():
    # q = 0.75: under-prediction by 1 costs 0.75, over-prediction by 1 costs 0.25
    p, t = [1.0, 3.0, 2.0], [2.0, 2.0, 2.0]
    np.testing.assert_array_equal(
        losscli.pinball(p, t, quantile=0.75, reduction="none"), [0.75, 0.25, 0.0]
    )
    # at the tie ŷ = y the subgradient is −q (sklearn's branch, LightGBM's gradient)
    g = losscli.pinball.grad(p, t, quantile=0.75, reduction="sum")
    np.testing.assert_array_equal(g, [-0.75, 0.25, -0.75])
    prepared = losscli.pinball.prepare_inputs(p, t, quantile=0.75)
    kinks = losscli.pinball.kinks(prepared.predictions, prepared.targets, **prepared.options)
    np.testing.assert_array_equal(kinks, [False, False, True])
    # q = 0.5 is half the mae
    assert losscli.pinball([[1.0, 4.0]], [[0.0, 0.0]]) == 0.5 * losscli.mae([[1.0, 4.0]], [[0, 0]])


def test_pinball_at_the_ends_of_the_closed_interval(tmp_path):
    # sklearn's alpha is in [0, 1]: q = 0 costs only over-prediction (ŷ − y)₊, q = 1 only
    # under-prediction (y − ŷ)₊; errors ŷ − y = −1, 2, 0
    p, t = [1.0, 4.0, 2.0], [2.0, 2.0, 2.0]
    np.testing.assert_array_equal(losscli.pinball(p, t, quantile=0.0, reduction="none"), [0, 2, 0])
    np.testing.assert_array_equal(losscli.pinball(p, t, quantile=1.0, reduction="none"), [1, 0, 0])
    # slopes −q below the kink (and at it), 1 − q above
    np.testing.assert_array_equal(
        losscli.pinball.grad(p, t, quantile=0.0, reduction="sum"), [0, 1, 0]
    )
    np.testing.assert_array_equal(
        losscli.pinball.grad(p, t, quantile=1.0, reduction="sum"), [-1, 0, -1]
    )
    r = run("pinball", write(tmp_path / "p", p), write(tmp_path / "t", t), "--quantile", "1")
    assert (r.exit_code, r.stdout) == (0, "0.3333333333333333\n")  # 1/3


def test_mape_fraction_percent_and_zero_target():
    assert losscli.mape([1.5, 1.0], [1.0, 2.0]) == 0.5
    assert losscli.mape([1.5, 1.0], [1.0, 2.0], percent=True, epsilon=1e-7) == 50.0
    np.testing.assert_array_equal(
        losscli.mape.grad([1.5, 1.0, 2.0], [1.0, 2.0, 2.0], reduction="sum"), [1.0, -0.5, 0.0]
    )
    with pytest.warns(LossCliWarning, match=r"1 target has \|y\| below --epsilon \(1e-07\)"):
        value = losscli.mape([0.5], [0.0], epsilon=1e-7)
    assert value == 0.5 / 1e-7


def test_msle_values_and_keras_floor():
    assert losscli.msle([3.0], [1.0]) == (math.log(4.0) - LOG2) ** 2
    # batched: rows are means of their elements
    np.testing.assert_allclose(
        losscli.msle([[0.0, 3.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]], reduction="none"),
        [(LOG2**2 + LOG2**2) / 2, 0.0],
        rtol=1e-15,
    )
    # --floor: −0.5 is raised to 1e-7 (gradient 0), a warning counts it
    with pytest.warns(LossCliWarning, match="1 prediction lies below --floor"):
        g = losscli.msle.grad([-0.5, 1.0], [0.0, 0.0], floor=1e-7, reduction="sum")
    # the target 0 is floored too: r = log 2 − log(1 + 1e-7), gradient 2r/(1 + 1)
    assert g[0] == 0.0 and g[1] == pytest.approx(LOG2 - math.log1p(1e-7), rel=1e-15)


def test_poisson_nll_forms_and_full():
    # log-rates 0: e^0 − y·0 = 1
    assert losscli.poisson_nll([0.0, 0.0], [1.0, 3.0]) == 1.0
    # rates λ = 2, y = 3: 2 − 3 log(2 + 1e-8)
    assert losscli.poisson_nll([2.0], [3.0], log_input=False) == pytest.approx(
        2 - 3 * math.log(2 + 1e-8), rel=1e-15
    )
    # Stirling's term only where y > 1: y = 3 adds 3 log 3 − 3 + ½ log 6π
    stirling = 3 * math.log(3) - 3 + 0.5 * math.log(6 * math.pi)
    full = losscli.poisson_nll([0.0, 0.0], [1.0, 3.0], full=True, reduction="none")
    np.testing.assert_allclose(full, [1.0, 1.0 + stirling], rtol=1e-15)
    np.testing.assert_array_equal(
        losscli.poisson_nll.hess_kernel(
            np.array([0.0, 1.0]), np.array([1.0, 1.0]), log_input=True, full=False, epsilon=1e-8
        ),
        [1.0, math.exp(1.0)],
    )


def test_gaussian_nll_variance_layouts():
    # one variance: ½(log 4 + (1 − 0)²/4)
    assert losscli.gaussian_nll([1.0], [0.0], var=4.0) == 0.5 * (math.log(4.0) + 0.25)
    # one per row of an N × D input (torch's var of shape (N,)); a file is read by the CLI
    rows = losscli.gaussian_nll(
        [[1.0, 1.0], [2.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]], var=[1.0, 4.0], reduction="none"
    )
    np.testing.assert_allclose(rows, [0.5, 0.5 * (math.log(4.0) + 1.0)], rtol=1e-15)
    g = losscli.gaussian_nll.grad(
        [[1.0, 1.0], [2.0, 2.0]], [[0, 0], [0, 0]], var="1,4", reduction="sum"
    )
    np.testing.assert_array_equal(g, [[1.0, 1.0], [0.5, 0.5]])
    # clamped below epsilon, with a warning
    with pytest.warns(LossCliWarning, match="1 variance is below --epsilon"):
        value = losscli.gaussian_nll([1.0], [0.0], var=1e-9, epsilon=1e-6)
    assert value == 0.5 * (math.log(1e-6) + 1e6)
    with pytest.warns(LossCliWarning, match="no --var given"):
        assert losscli.gaussian_nll([1.0], [0.0]) == 0.5


def test_tweedie_special_powers_and_family():
    assert losscli.tweedie([1.0, 3.0], [2.0, 2.0], power=0) == 1.0
    # power 1 at y = 0: 2(0 − 0 + μ) = 2μ
    assert losscli.tweedie([3.0], [0.0], power=1) == 6.0
    assert losscli.poisson_deviance([3.0], [0.0]) == 6.0
    # power 2: 2(log(μ/y) + y/μ − 1) at μ = 2, y = 1: 2 log 2 − 1
    assert losscli.gamma_deviance([2.0], [1.0]) == pytest.approx(2 * LOG2 - 1, rel=1e-15)
    assert losscli.tweedie([2.0], [1.0], power=2) == losscli.gamma_deviance([2.0], [1.0])
    # power 3 (inverse Gaussian): (y − μ)²/(y μ²) at μ = 2, y = 1: 1/4
    assert losscli.tweedie([2.0], [1.0], power=3) == pytest.approx(0.25, rel=1e-14)
    # the gradient 2μ^(−p)(μ − y) and Hessian 2μ^(−p−1)((1 − p)μ + py) at μ = 2, y = 1, p = 1.5
    g = losscli.tweedie.grad([2.0], [1.0], power=1.5)
    assert g[0] == pytest.approx(2 * 2**-1.5, rel=1e-15)
    h = losscli.tweedie.hess_kernel(np.array([2.0]), np.array([1.0]), power=1.5)
    assert h[0] == pytest.approx(2 * 2**-2.5 * (-0.5 * 2 + 1.5), rel=1e-15)


def test_cosine_similarity_rows_floor_and_scale_invariance():
    rows = losscli.cosine_similarity(
        [[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [0.0, -1.0]], reduction="none"
    )
    np.testing.assert_array_equal(rows, [-1.0, 1.0])
    p, t = np.array([[1.0, 2.0, 0.5]]), np.array([[0.0, 2.5, 1.0]])
    g = losscli.cosine_similarity.grad(p, t)
    assert abs((g @ p.T).item()) < 1e-15  # orthogonal to ŷ
    np.testing.assert_allclose(losscli.cosine_similarity.grad(3 * p, t), g / 3, rtol=1e-14)
    # a row below the norm floor ε: L = −ŷ·v/ε, gradient −v/ε
    g = losscli.cosine_similarity.grad([[0.01, 0.0]], [[0.0, 2.0]], epsilon=0.1)
    np.testing.assert_allclose(g, [[0.0, -10.0]], rtol=1e-15)


def test_cosine_embedding_pairs_and_margin():
    # orthogonal pair, dissimilar: max(0, 0 − (−0.5)) = 0.5; similar: 1 − 0 = 1
    p = [[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0]]
    np.testing.assert_array_equal(
        losscli.cosine_embedding(p, [-1, 1], margin=-0.5, reduction="none"), [0.5, 1.0]
    )
    # dissimilar below the margin: loss and gradient 0
    assert losscli.cosine_embedding([[1.0, 0.0, -1.0, 0.0]], [-1]) == 0.0
    np.testing.assert_array_equal(
        losscli.cosine_embedding.grad([[1.0, 0.0, -1.0, 0.0]], [-1]), [[0.0, 0.0, 0.0, 0.0]]
    )


def test_margin_ranking_layout_and_kink():
    p, y = [[1.0, 0.5], [0.25, 0.75]], [1, 1]
    np.testing.assert_array_equal(losscli.margin_ranking(p, y, reduction="none"), [0.0, 0.5])
    np.testing.assert_array_equal(
        losscli.margin_ranking.grad(p, y, reduction="sum"), [[0.0, 0.0], [-1.0, 1.0]]
    )
    # at z = 0 exactly the gradient flows (torch's clamp_min), and it is a kink
    g = losscli.margin_ranking.grad([[1.0, 1.0]], [-1], reduction="sum")
    np.testing.assert_array_equal(g, [[1.0, -1.0]])
    kinks = losscli.margin_ranking.kinks(np.array([[1.0, 1.0]]), np.array([-1.0]), margin=0.0)
    np.testing.assert_array_equal(kinks, [[True, True]])


def test_hinge_embedding_values_and_kink():
    np.testing.assert_array_equal(
        losscli.hinge_embedding([0.5, 0.25], [1, -1], reduction="none"), [0.5, 0.75]
    )
    # x = margin for y = −1: gradient −1 (torch), a kink
    np.testing.assert_array_equal(
        losscli.hinge_embedding.grad([1.0, 2.0], [-1, -1], reduction="sum"), [-1.0, 0.0]
    )


def test_dice_and_tversky_by_hand():
    assert losscli.dice([[1.0, 0.0]], [[1.0, 0.0]], smooth=0.0) == 0.0
    # I = 1, Σq = 2, Σy = 1: 1 − 1/1.5
    assert losscli.dice([[1.0, 1.0]], [[1.0, 0.0]], smooth=0.0) == 1 - 1 / 1.5
    # smooth 1: 1 − (1 + 1)/(1.5 + 1)
    assert losscli.dice([[1.0, 1.0]], [[1.0, 0.0]]) == pytest.approx(1 - 2 / 2.5, rel=1e-15)
    # tversky α weighs FP: one FP, α = 1, β = 0 → 1 − 1/2
    assert losscli.tversky([[1.0, 1.0]], [[1.0, 0.0]], alpha=1.0, beta=0.0, smooth=0.0) == 0.5
    assert losscli.tversky([[1.0, 1.0]], [[1.0, 0.0]], alpha=0.0, beta=1.0, smooth=0.0) == 0.0
    # logits: σ(0) = ½ everywhere
    assert losscli.dice([[0.0, 0.0]], [[1.0, 0.0]], logits=True, smooth=0.0) == pytest.approx(
        1 - 0.5 / 1.0, rel=1e-15
    )
    # a vector is N samples of one element
    np.testing.assert_allclose(
        losscli.dice([0.5, 1.0], [1.0, 1.0], reduction="none", smooth=0.0),
        [1 - 0.5 / 0.75, 0.0],
        rtol=1e-15,
    )


# --------------------------------------------------------------------------- bad input (API)


@pytest.mark.parametrize(
    "loss, p, t, options, error, message",
    [
        ("log-cosh", [1.0, 2.0], [1.0], {}, InputError, "differ in shape: (2,) vs (1,)"),
        ("pinball", [1.0], [1.0, 2.0], {}, InputError, "differ in shape: (1,) vs (2,)"),
        ("mape", [[1.0]], [1.0], {}, InputError, "differ in shape: (1, 1) vs (1,)"),
        ("msle", [1.0, 2.0], [1.0], {}, InputError, "differ in shape"),
        ("poisson-nll", [1.0], [1.0, 2.0], {}, InputError, "differ in shape"),
        # the shape is checked before the domain checks that compare elementwise
        (
            "poisson-nll",
            [0.0, 1.0],
            [1.0, 0.0, 3.0],
            {"log_input": False, "epsilon": 0.0},
            InputError,
            "differ in shape: (2,) vs (3,)",
        ),
        ("tweedie", [0.0, 1.0], [-1.0, 0.0, 3.0], {"power": 1.5}, InputError, "(2,) vs (3,)"),
        ("msle", [-2.0, 1.0], [1.0, 0.0, 3.0], {}, InputError, "(2,) vs (3,)"),
        ("gaussian-nll", [1.0], [1.0, 2.0], {"var": 1.0}, InputError, "differ in shape"),
        ("tweedie", [1.0], [1.0, 2.0], {}, InputError, "differ in shape"),
        ("poisson-deviance", [1.0], [1.0, 2.0], {}, InputError, "differ in shape"),
        ("gamma-deviance", [1.0], [1.0, 2.0], {}, InputError, "differ in shape"),
        ("cosine-similarity", [[1.0, 2.0]], [[1.0, 2.0, 3.0]], {}, InputError, "differ in shape"),
        ("cosine-embedding", [[1.0, 2.0]], [1.0, -1.0], {}, InputError, "rows"),
        ("margin-ranking", [[1.0, 2.0]], [1.0, 1.0], {}, InputError, "rows"),
        ("hinge-embedding", [1.0], [1.0, -1.0], {}, InputError, "differ in shape"),
        ("dice", [[0.5, 0.5]], [[1.0]], {}, InputError, "differ in shape"),
        ("tversky", [[0.5, 0.5]], [[1.0]], {}, InputError, "differ in shape"),
    ],
)
def test_shape_mismatch_names_both_shapes(loss, p, t, options, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        with pytest.raises(error, match=None) as info:
            REGISTRY[loss](p, t, **options)
    assert message in str(info.value)


# --------------------------------------------------------------------------- the command line


def test_cli_exact_values(tmp_path):
    """One exact run per loss, plain output: the value (and gradient) hand-derived."""
    f = lambda name, rows: write(tmp_path / name, rows)  # noqa: E731
    cases = [
        # log cosh(1000) = 1000 − log 2 (cosh itself would overflow); gradient tanh(1000) = 1
        (["log-cosh", f("a", [1000.0]), f("b", [0.0]), "--grad"], f"{1000.0 - LOG2!r}\n\n1.0\n"),
        # q = 0.75: (0.75·1 + 0.25·1)/2; gradient (−0.75, 0.25)/2
        (
            ["pinball", f("c", [1.0, 3.0]), f("d", [2.0, 2.0]), "--quantile", "0.75", "--grad"],
            "0.5\n\n-0.375\n0.125\n",
        ),
        (
            ["mape", f("e", [1.5, 1.0]), f("f", [1.0, 2.0]), "--percent", "--epsilon", "1e-7"],
            "50.0\n",
        ),
        (["msle", f("g", [3.0]), f("h", [1.0])], f"{(math.log1p(3.0) - math.log1p(1.0)) ** 2!r}\n"),
        (
            ["poisson-nll", f("i", [0.0, 0.0]), f("j", [1.0, 3.0]), "--grad", "-r", "sum"],
            "2.0\n\n0.0\n-2.0\n",
        ),
        # ½(0 + 1) and ½(0 + 4): mean 1.25; gradient (μ − y)/v / N
        (
            ["gaussian-nll", f("k", [1.0, 2.0]), f("l", [0.0, 0.0]), "--var", "1", "--grad"],
            "1.25\n\n0.5\n1.0\n",
        ),
        (["tweedie", f("m", [1.0, 3.0]), f("n", [2.0, 2.0]), "--power", "0"], "1.0\n"),
        (
            ["poisson-deviance", f("o", [2.0]), f("p", [1.0]), "--grad"],
            f"{2 * (math.log(0.5) - 1 + 2)!r}\n\n1.0\n",
        ),
        (["gamma-deviance", f("q", [2.0]), f("r", [2.0])], "0.0\n"),
        (
            [
                "cosine-similarity",
                f("s", [[1.0, 0.0], [0.0, 2.0]]),
                f("t", [[3.0, 0.0], [0.0, -1.0]]),
                "-r",
                "none",
            ],
            "-1.0\n1.0\n",
        ),
        (
            [
                "cosine-embedding",
                f("u", [[1.0, 0.0, 0.0, 1.0]]),
                f("v", [-1.0]),
                "--margin",
                "-0.5",
            ],
            "0.5\n",
        ),
        (
            ["margin-ranking", f("w", [[1.0, 0.5], [0.25, 0.75]]), f("x", [1.0, 1.0]), "--grad"],
            "0.25\n\n0.0,0.0\n-0.5,0.5\n",
        ),
        (["hinge-embedding", f("y", [0.5, 0.25]), f("z", [1.0, -1.0])], "0.625\n"),
        (
            ["dice", f("A", [[1.0, 1.0]]), f("B", [[1.0, 0.0]]), "--smooth", "0"],
            f"{1 - 1 / 1.5!r}\n",
        ),
        (
            [
                "tversky",
                f("C", [[1.0, 1.0]]),
                f("D", [[1.0, 0.0]]),
                "--alpha",
                "1",
                "--beta",
                "0",
                "--smooth",
                "0",
            ],
            "0.5\n",
        ),
    ]
    assert {c[0][0] for c in cases} == {name for name in REGISTRY if name in NEW_LOSSES}
    for args, expected in cases:
        r = run(*args, "-f", "plain")
        assert (r.exit_code, r.stdout, r.stderr) == (0, expected, ""), args


def test_cli_log_input_can_be_turned_off(tmp_path):
    p, t = write(tmp_path / "p.csv", [2.0]), write(tmp_path / "t.csv", [0.0])
    assert run("poisson-nll", p, t, "-f", "plain").stdout == f"{math.exp(2.0)!r}\n"
    assert run("poisson-nll", p, t, "--no-log-input", "-f", "plain").stdout == "2.0\n"


def test_cli_gaussian_variance_file_per_row(tmp_path):
    p = write(tmp_path / "p.csv", [[1.0, 1.0], [2.0, 2.0]])
    t = write(tmp_path / "t.csv", [[0.0, 0.0], [0.0, 0.0]])
    v = write(tmp_path / "v.csv", [1.0, 4.0])
    r = run("gaussian-nll", p, t, "--var", v, "-r", "sum", "--grad", "-f", "plain")
    # rows ½(0 + 1) = 0.5 and ½(log 4 + 1); sum over 4 elements = 2·(0.5 + ½(log 4 + 1))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{2 * (0.5 + 0.5 * (math.log(4.0) + 1.0))!r}\n\n1.0,1.0\n0.5,0.5\n"


@pytest.mark.parametrize(
    "args, stderr",
    [
        (
            ["pinball", "--quantile", "1.5"],
            "Error: --quantile must be a finite number in [0, 1], got 1.5",
        ),
        (
            ["pinball", "--quantile", "nan"],
            "Error: --quantile must be a finite number in [0, 1], got nan",
        ),
        (["mape", "--epsilon", "0"], "Error: --epsilon must be a finite number > 0, got 0.0"),
        (["msle", "--floor", "-1"], "Error: --floor must be a finite number > -1, got -1.0"),
        (
            ["poisson-nll", "--epsilon", "-1"],
            "Error: --epsilon must be a finite number ≥ 0, got -1.0",
        ),
        (
            ["gaussian-nll", "--var", "0"],
            "Error: variances must be finite and > 0, found 0.0 at (row 0, col 0) — give σ², "
            "not σ or log σ² (torch clamps a variance of 0 to --epsilon; give that value if you "
            "mean it)",
        ),
        (
            ["gaussian-nll", "--var", "1,2,3"],
            "Error: --var takes one number, one per element (24) or one per row (8), got 3 values",
        ),
        (
            ["gaussian-nll", "--var", "1", "--epsilon", "-1"],
            "Error: --epsilon must be a finite number ≥ 0, got -1.0",
        ),
        (
            ["tweedie", "--power", "0.5"],
            "Error: --power must be ≤ 0 or ≥ 1 (no Tweedie distribution has a power in (0, 1)), "
            "got 0.5",
        ),
        (["tweedie", "--power", "inf"], "Error: --power must be a finite number, got inf"),
        (
            ["cosine-similarity", "--epsilon", "-1"],
            "Error: --epsilon must be a finite number ≥ 0, got -1.0",
        ),
        (
            ["cosine-embedding", "--margin", "2"],
            "Error: --margin must be a finite number in [-1, 1], got 2.0",
        ),
        (["margin-ranking", "--margin", "inf"], "Error: --margin must be a finite number, got inf"),
        (
            ["hinge-embedding", "--margin", "nan"],
            "Error: --margin must be a finite number, got nan",
        ),
        (["dice", "--smooth", "-1"], "Error: --smooth must be a finite number ≥ 0, got -1.0"),
        (["tversky", "--alpha", "-0.5"], "Error: --alpha must be a finite number ≥ 0, got -0.5"),
        (["tversky", "--beta", "-1"], "Error: --beta must be a finite number ≥ 0, got -1.0"),
    ],
)
def test_cli_bad_option_values(args, stderr):
    """On the bundled sample data: one Error line, exit 2, nothing on stdout."""
    r = run(*args)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines()[-1] == stderr
    assert r.stderr.count("Error:") == 1


@pytest.mark.parametrize(
    "loss, preds, targets, extra, message",
    [
        (
            "msle",
            [-1.0],
            [0.0],
            [],
            "P: msle predictions must be > −1, found -1.0 at (row 0) — log(1 + x) needs x > −1 "
            "(pass --floor 1e-7 to floor values as Keras does)",
        ),
        (
            "poisson-nll",
            [0.0],
            [-1.0],
            [],
            "T: Poisson targets are counts (≥ 0), found -1.0 at (row 0) — check the targets file "
            "and column",
        ),
        (
            "poisson-nll",
            [-0.5],
            [1.0],
            ["--no-log-input"],
            "P: with --no-log-input the predictions are rates λ ≥ 0, found -0.5 at (row 0) — drop "
            "--no-log-input if these are log-rates",
        ),
        (
            "tweedie",
            [0.0],
            [1.0],
            ["--power", "1"],
            "P: the Tweedie deviance with power 1 needs predictions (means) > 0, found 0.0 at "
            "(row 0) — predict the mean on its natural scale (exponentiate log-link outputs)",
        ),
        (
            "tweedie",
            [1.0],
            [-1.0],
            ["--power", "1.5"],
            "T: the Tweedie deviance with power 1.5 needs targets ≥ 0, found -1.0 at (row 0) — "
            "check the targets",
        ),
        (
            "gamma-deviance",
            [1.0],
            [0.0],
            [],
            "T: the Tweedie deviance with power 2 needs targets > 0, found 0.0 at (row 0) — check "
            "the targets",
        ),
        (
            "cosine-similarity",
            [[0.0, 0.0]],
            [[1.0, 0.0]],
            [],
            "P: row 0 of the predictions is the zero vector, whose cosine is undefined — pass "
            "--epsilon to floor the norms (Keras uses 1e-7)",
        ),
        (
            "cosine-similarity",
            [1.0, 2.0],
            [1.0, 2.0],
            [],
            "P: cosine-similarity takes an N × D matrix, got a vector of 2 values (write one row "
            "per sample; a single sample as a one-row file)",
        ),
        (
            "cosine-embedding",
            [[1.0, 2.0, 3.0]],
            [1.0],
            [],
            "P: cosine-embedding takes predictions [x1 | x2] with an even number of columns (D "
            "for x1, then D for x2), got 3",
        ),
        (
            "cosine-embedding",
            [[1.0, 2.0]],
            [0.0],
            [],
            "T: cosine-embedding targets are labels −1 or 1, found 0.0 at (row 0) — write 1 for "
            "a similar (or correctly ordered) pair and −1 for the other",
        ),
        (
            "margin-ranking",
            [[1.0, 2.0, 3.0]],
            [1.0],
            [],
            "P: margin-ranking takes predictions with two columns, x1 and x2 (the scores of each "
            "pair), got 3 columns",
        ),
        (
            "margin-ranking",
            [[1.0, 2.0]],
            [2.0],
            [],
            "T: margin-ranking targets are labels −1 or 1, found 2.0 at (row 0) — write 1 for a "
            "similar (or correctly ordered) pair and −1 for the other",
        ),
        (
            "hinge-embedding",
            [1.0],
            [0.0],
            [],
            "T: hinge-embedding targets are labels −1 or 1, found 0.0 at (row 0) — write 1 for a "
            "similar (or correctly ordered) pair and −1 for the other",
        ),
        (
            "dice",
            [[1.5, 0.5]],
            [[1.0, 0.0]],
            [],
            "P: probabilities must lie in [0, 1], found 1.5 at (row 0, col 0) — pass --logits if "
            "these are raw scores",
        ),
        (
            "tversky",
            [[0.0, 0.0]],
            [[0.0, 0.0]],
            ["--smooth", "0"],
            "P: row 0 has a zero denominator I + α·FP + β·FN + s (an empty prediction and "
            "target?), where tversky is 0/0 — give --smooth > 0 (optax's default is 1)",
        ),
    ],
)
def test_cli_bad_input_names_the_file(tmp_path, monkeypatch, loss, preds, targets, extra, message):
    monkeypatch.chdir(tmp_path)
    p = preds if np.ndim(preds) == 2 else [[v] for v in preds]
    write(tmp_path / "P", p)
    t = targets if np.ndim(targets) == 2 else [[v] for v in targets]
    write(tmp_path / "T", t)
    r = run(loss, "P", "T", *extra)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


def test_usage_errors_are_usage_errors():
    with pytest.raises(UsageError):
        losscli.pinball([1.0], [1.0], quantile=-0.25)
    with pytest.raises(UsageError):
        losscli.tweedie([1.0], [1.0], power=0.25)
    with pytest.raises(InputError):
        losscli.gaussian_nll([1.0], [1.0], var=-1.0)


def test_a_variance_of_other_length_says_what_it_takes():
    # (streamed inputs read a per-row --var file beside their blocks: tests/test_var_file_stream)
    with pytest.raises(InputError) as e:
        losscli.gaussian_nll([1.0, 2.0], [0.0, 0.0], var=[1.0, 2.0, 3.0])
    assert e.value.message == "--var takes one number, one per element (2), got 3 values"


@pytest.mark.parametrize(
    "name, p, t, options, mask",
    [
        ("pinball", [1.0, 2.0], [1.0, 3.0], {}, [True, False]),
        ("mape", [1.0, 2.0], [1.0, 3.0], {}, [True, False]),
        ("msle", [0.5, 2.0], [1.0, 3.0], {"floor": 0.5}, [True, False]),
        ("msle", [0.5, 2.0], [1.0, 3.0], {}, [False, False]),
        ("hinge-embedding", [1.0, 1.0, 0.5], [-1.0, 1.0, -1.0], {}, [True, False, False]),
        # cos([1, 0], [0, 1]) = 0 = the margin for a dissimilar pair; the similar one is smooth
        (
            "cosine-embedding",
            [[1.0, 0.0, 0.0, 1.0]] * 2,
            [-1.0, 1.0],
            {},
            [[True] * 4, [False] * 4],
        ),
        (
            "margin-ranking",
            [[1.0, 1.0], [2.0, 1.0]],
            [1.0, 1.0],
            {},
            [[True, True], [False, False]],
        ),
        (
            "cosine-similarity",
            [[0.6, 0.8], [3.0, 4.0]],
            [[1.0, 0.0], [1.0, 0.0]],
            {"epsilon": 1.0},
            [[True, True], [False, False]],
        ),
    ],
)
def test_kinks_mark_the_points_without_a_derivative(name, p, t, options, mask):
    loss = REGISTRY[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossCliWarning)
        prepared = loss.prepare_inputs(p, t, **options)
    kinks = loss.kinks(prepared.predictions, prepared.targets, **prepared.options)
    assert kinks.shape == prepared.predictions.shape
    np.testing.assert_array_equal(kinks, mask)
