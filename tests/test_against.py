"""--against: a user's own gradient compared with losscli's analytic gradient and finite
differences, and the diagnosis of the usual mistakes (factors N, D, N·D, 2, a sign flip)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
import losscli.against
from losscli.against import compare_gradient, diagnose, match_shape
from losscli.cli import app
from losscli.errors import InputError

runner = CliRunner()
RNG = np.random.default_rng(7)
P = RNG.normal(size=(5, 3))  # N = 5, D = 3
T = RNG.normal(size=(5, 3))
G = losscli.mse.grad(P, T)  # 2(ŷ − y)/15


def test_module_doctest():
    assert doctest.testmod(losscli.against).failed == 0


# --------------------------------------------------------------------------- diagnosis


def test_matching_gradients_have_no_findings():
    assert diagnose(G, G) == []
    assert diagnose(G * (1 + 1e-6), G) == []  # within rtol


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (
            5,
            "every element is off by a factor of N = 5 (yours = 5 × losscli's): did you forget "
            "to divide by N, the mean over rows?",
        ),
        (
            3,
            "every element is off by a factor of D = 3 (yours = 3 × losscli's): did you forget "
            "to divide by D, the columns each row's loss averages?",
        ),
        (
            15,
            "every element is off by a factor of N·D = 15 (yours = 15 × losscli's): did you "
            "forget the mean over all N·D elements?",
        ),
        (
            2,
            "every element is off by a factor of 2 (yours = 2 × losscli's): a stray factor 2, "
            "e.g. 2e used for a loss of ½e², or a term counted twice?",
        ),
        (
            1 / 5,
            "every element is off by a factor of 1/N = 1/5 (yours = losscli's / 5): did you "
            "divide by N where the reduction does not (sum)?",
        ),
        (
            1 / 15,
            "every element is off by a factor of 1/(N·D) = 1/15 (yours = losscli's / 15): "
            "did you take the mean over all N·D elements where the reduction is sum?",
        ),
        (
            0.5,
            "every element is off by a factor of 1/2 (yours = losscli's / 2): did you forget "
            "the 2 in d(e²)/de = 2e?",
        ),
        (
            -1,
            "every element is off by a factor of −1 (yours = −1 × losscli's): the sign is "
            "flipped: did you use y − ŷ for ŷ − y, or differentiate w.r.t. the targets?",
        ),
        (
            -5,
            "every element is off by a factor of −N = −5 (yours = −5 × losscli's): the sign is "
            "flipped too, and did you forget to divide by N, the mean over rows?",
        ),
        (3.7, "every element is off by a constant factor of 3.7 (yours = 3.7 × losscli's)"),
    ],
)
def test_common_factors_are_named(factor, expected):
    assert diagnose(G * factor, G) == [expected]


def test_a_column_or_a_row_off_by_a_factor():
    yours = G.copy()
    yours[:, 2] *= 5
    assert diagnose(yours, G) == [
        "column 2 is off by a factor of N = 5 (yours = 5 × losscli's): did you forget to divide "
        "by N, the mean over rows?"
    ]
    yours = G.copy()
    yours[:, :2] *= 15
    assert diagnose(yours, G)[0].startswith("columns 0, 1 are off by a factor of N·D = 15")
    yours = G.copy()
    yours[3] *= -1
    assert diagnose(yours, G)[0].startswith("row 3 is off by a factor of −1 ")


def test_differences_without_a_factor_are_described():
    yours = G.copy()
    yours[1, 1] = 0.0
    assert diagnose(yours, G) == [
        "1 of 15 elements differ with no common factor (your gradient is 0 there)"
    ]
    yours = G + 1.0
    (finding,) = diagnose(yours, G)
    assert finding.startswith("15 of 15 elements differ with no common factor (e.g. at (row 0, ")


def test_shape_matching():
    assert match_shape([1.0, 2.0], (2, 1)).shape == (2, 1)
    assert match_shape([[1.0], [2.0]], (2,)).shape == (2,)
    with pytest.raises(
        InputError,
        match=r"shape \(3, 2\) but the predictions have shape "
        r"\(2, 3\) \(transposed\?\)",
    ):
        match_shape(np.zeros((3, 2)), (2, 3))


def test_compare_gradient_for_a_non_separable_loss_and_a_class_loss():
    prepared = losscli.rmse.prepare_inputs(P, T)
    good = losscli.rmse.grad(P, T)
    assert compare_gradient(losscli.rmse, prepared, good).passed
    result = compare_gradient(losscli.rmse, prepared, good * 2)
    assert not result.passed and result.findings[0].startswith(
        "every element is off by a factor of 2 "
    )
    z, y = P, np.array([0, 2, 1, 1, 0])
    prepared = losscli.cross_entropy.prepare_inputs(z, y, logits=True)
    summed = losscli.cross_entropy.grad(z, y, logits=True, reduction="sum")
    result = compare_gradient(losscli.cross_entropy, prepared, summed)  # forgot ÷ N
    assert result.findings[0].startswith("every element is off by a factor of N = 5 ")
    np.testing.assert_allclose(result.numeric, summed / 5, atol=1e-8)


def test_kinks_are_noted():
    p, t = np.array([1.0, 2.0]), np.array([1.0, 0.0])  # a tie: mae's gradient 0 by convention
    prepared = losscli.mae.prepare_inputs(p, t)
    result = compare_gradient(losscli.mae, prepared, losscli.mae.grad(p, t), eps=0.5)
    assert result.passed and result.reference_check.passed  # central differences: 0 at a tie
    # bce at p = 1e-13: the clamped denominator of PyTorch's gradient is a convention
    q, y = np.array([1e-13, 0.5]), [1.0, 1.0]
    with pytest.warns(losscli.LossCliWarning, match="within 1e-12 of 0 or 1"):
        prepared = losscli.bce.prepare_inputs(q, y)
        yours = losscli.bce.grad(q, y)
    result = compare_gradient(losscli.bce, prepared, yours)
    assert result.passed
    assert result.findings[-1].startswith(
        "note: losscli's analytic gradient and finite differences disagree at 1 element(s)"
    )


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def files(tmp_path):
    """p = [[1, 2], [3, 4]], t = 0: mse gradient 2(ŷ − y)/4 = ŷ/2."""
    (tmp_path / "p.csv").write_text("1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n")
    (tmp_path / "good.csv").write_text("0.5,1\n1.5,2\n")
    (tmp_path / "sum.csv").write_text("2,4\n6,8\n")  # the gradient of the sum: × N·D = 4
    (tmp_path / "col.csv").write_text("0.5,2\n1.5,4\n")  # column 1 × 2
    return tmp_path


def run(d, yours, *extra):
    return runner.invoke(
        app, ["mse", str(d / "p.csv"), str(d / "t.csv"), "--against", str(d / yours), *extra]
    )


def test_correct_gradient_passes_exit_0(files):
    r = run(files, "good.csv")
    assert r.exit_code == 0 and r.stderr == ""
    value, summary = r.stdout.strip().split("\n\n")
    assert value == "7.5"
    assert summary == (
        "against: PASS checked=4 failed=0 max_abs_err=0.0 max_rel_err=0.0 eps=1e-06 rtol=0.001 "
        "atol=1e-05"
    )


def test_wrong_gradient_fails_exit_1_with_the_hint(files):
    r = run(files, "sum.csv")
    assert r.exit_code == 1
    assert r.stdout.split("\n\n")[1].splitlines() == [
        "against: FAIL checked=4 failed=4 max_abs_err=6.0 max_rel_err=0.75 eps=1e-06 rtol=0.001 "
        "atol=1e-05",
        "hint: every element is off by a factor of N·D = 4 (yours = 4 × losscli's): did you "
        "forget the mean over all N·D elements?",
    ]
    assert run(files, "sum.csv", "--reduction", "sum").exit_code == 0


def test_against_json_and_csv(files):
    doc = json.loads(run(files, "col.csv", "-f", "json").stdout)
    against = doc["against"]
    assert against["passed"] is False and against["failed"] == 2
    (finding,) = against["findings"]  # N = D = 2 here: every reading of the factor is named
    assert finding == (
        "column 1 is off by a factor of N = D = 2 (yours = 2 × losscli's): did you forget to "
        "divide by N, the mean over rows; or did you forget to divide by D, the columns each "
        "row's loss averages; or a stray factor 2, e.g. 2e used for a loss of ½e², or a term "
        "counted twice?"
    )
    worst = against["worst"][0]
    assert worst["index"] == [1, 1] and worst["yours"] == 4.0 and worst["analytic"] == 2.0
    assert worst["numeric"] == pytest.approx(2.0, abs=1e-8) and worst["ok"] is False
    assert against["analytic_matches_numeric"] is True
    assert doc["inputs"]["gradient"] == str(files / "col.csv")
    csv = run(files, "col.csv", "-f", "csv").stdout.split("\n\n")
    rows = csv[1].splitlines()
    assert rows[0] == "row,col,input,yours,analytic,numeric,abs_err,rel_err,ok"
    assert rows[1].startswith("1,1,4.0,4.0,2.0,") and rows[1].endswith(",false")
    assert csv[2].splitlines()[0] == "finding"


def test_against_table(files):
    r = runner.invoke(
        app,
        [
            "mse",
            str(files / "p.csv"),
            str(files / "t.csv"),
            "--against",
            str(files / "sum.csv"),
            "-f",
            "table",
        ],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 1
    for text in (
        "Your gradient against losscli's (worst elements first)",
        "yours",
        "analytic",
        "numeric",
        "FAIL: 4 elements compared, 4 differ",
        "• every element is off by a factor of N·D = 4",
    ):
        assert text in r.stdout, text


def test_against_shape_mismatch_is_bad_input(files):
    (files / "short.csv").write_text("1,2\n")
    r = run(files, "short.csv")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {files / 'short.csv'}: the gradient has shape (1, 2) but the predictions have "
        "shape (2, 2); give one value per prediction\n"
    )


def test_against_with_check_and_sample_weights(files):
    (files / "s.csv").write_text("1\n3\n")
    # weighted mean: Σ s_i·(row mean of e²) / Σ s; gradient s_i·2e/(D·Σs) = s_i·e/4
    (files / "w.csv").write_text("0.25,0.5\n2.25,3\n")
    r = run(files, "w.csv", "--sample-weights", str(files / "s.csv"), "--check")
    assert r.exit_code == 0, r.stdout
    sections = r.stdout.strip().split("\n\n")
    assert sections[1].startswith("PASS checked=4") and sections[2].startswith("against: PASS")
