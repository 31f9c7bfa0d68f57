"""Honest output (issue 9): the JSON contract (schema, details, NaN vs ±inf, warnings), hints for
the usual mistakes, loss names as the frameworks spell them, typo suggestions, help that fits
80 columns. Driven through the real app; exact stdout/stderr pinned. Expected numbers are
hand-derived in the comments.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from losscli.cli import app
from losscli.losses import REGISTRY, get_loss

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- JSON contract


def test_json_has_schema_details_and_warnings_for_every_loss_object(tmp_path):
    p = write(tmp_path / "p.csv", "1,2\n3,4\n")
    t = write(tmp_path / "t.csv", "0,0\n0,0\n")
    r = run("mse", p, t, "-f", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    # (1 + 4 + 9 + 16) / 4 = 7.5
    assert json.loads(r.stdout) == {
        "schema": 1,
        "loss": "mse",
        "reduction": "mean",
        "shape": [2, 2],
        "value": 7.5,
        "inputs": {"predictions": str(p), "targets": str(t)},
        "details": {},
        "warnings": [],
    }
    assert list(json.loads(r.stdout))[0] == "schema"


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "smooth-l1", "rmse"])
def test_details_present_for_the_regression_losses(tmp_path, loss):
    p = write(tmp_path / "p.csv", "1\n2\n")
    t = write(tmp_path / "t.csv", "0\n0\n")
    doc = json.loads(run(loss, p, t, "-f", "json").stdout)
    assert doc["details"] == {} and doc["warnings"] == []


def test_json_tells_inf_from_nan_and_carries_the_warnings(tmp_path):
    p = write(tmp_path / "p.csv", "-1e308\n")
    t = write(tmp_path / "t.csv", "0\n")
    r = run("mse", p, t, "-g", "-f", "json")
    warning = (
        "the loss overflowed float64 to inf: the inputs are too large in magnitude; rescale them"
    )
    assert r.exit_code == 0
    assert (
        r.stderr == f"Warning: {warning}\nWarning: " + warning.replace("loss", "gradient", 1) + "\n"
    )
    doc = json.loads(r.stdout)
    # (−1e308)² = inf; gradient 2·(−1e308) = −inf
    assert (doc["value"], doc["value_nonfinite"]) == (None, "inf")
    assert doc["grad"] == [None]
    assert doc["grad_nonfinite"] == [{"index": [0], "value": "-inf"}]
    assert doc["warnings"] == [warning, warning.replace("loss", "gradient", 1)]


def test_json_nan_mean_when_every_row_is_ignored(tmp_path):
    p = write(tmp_path / "p.csv", "0,0\n0,0\n")
    t = write(tmp_path / "t.csv", "-100\n-100\n")
    r = run("ce", p, t, "--logits", "-f", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert (doc["value"], doc["value_nonfinite"]) == (None, "nan")  # 0 / 0
    assert doc["warnings"] == [line.removeprefix("Warning: ") for line in r.stderr.splitlines()]
    assert len(doc["warnings"]) == 1
    assert doc["details"]["ignored_rows"] == 2


def test_json_per_row_values_list_their_nonfinite_elements(tmp_path):
    p = write(tmp_path / "p.csv", "1e200\n3\n")
    t = write(tmp_path / "t.csv", "0\n1\n")
    doc = json.loads(run("mse", p, t, "-r", "none", "-f", "json").stdout)
    assert doc["value"] == [None, 4.0]  # (3 − 1)² = 4
    assert doc["value_nonfinite"] == [{"index": [0], "value": "inf"}]


def test_json_check_fields_say_which_nonfinite(tmp_path):
    p = write(tmp_path / "p.csv", "1e200\n")
    t = write(tmp_path / "t.csv", "0\n")
    doc = json.loads(run("mse", p, t, "-c", "-f", "json").stdout)
    worst = doc["check"]["worst"][0]
    # value inf at x ± h: (inf − inf) / 2h = nan
    assert (worst["numeric"], worst["numeric_nonfinite"]) == (None, "nan")
    assert worst["analytic"] == 2e200
    assert doc["check"]["max_abs_err_nonfinite"] == "nan"


# --------------------------------------------------------------------------- hints


@pytest.fixture
def cls(tmp_path):
    write(tmp_path / "labels.csv", "0\n2\n1\n")
    write(tmp_path / "labels1.csv", "1\n3\n2\n")
    write(tmp_path / "probs.csv", "0.1,0.2,0.7\n0.5,0.3,0.2\n0.2,0.2,0.6\n")
    write(tmp_path / "scores01.csv", "0.1,0.3,0.4\n0.5,0.2,0.1\n0.2,0.2,0.1\n")
    write(tmp_path / "hard.csv", "1\n0\n1\n")
    write(tmp_path / "soft.csv", "0.8\n0.3\n0.6\n")
    return tmp_path


def test_hint_labels_given_as_predictions(cls):
    r = run("ce", cls / "labels.csv", cls / "probs.csv")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {cls}/labels.csv: needs a matrix of N rows × C classes, got a vector of 3 "
        "values (a CSV with one column); give one column per class — PREDS holds whole numbers "
        "(like labels) and TARGETS a matrix of scores (3 × 3): are the two swapped? (the order "
        "is PREDS TARGETS)\n"
    )


def test_hint_bce_arguments_swapped(cls):
    r = run("bce", cls / "hard.csv", cls / "soft.csv", "--logits")
    assert r.exit_code == 0
    assert r.stderr == (
        "Warning: the predictions are all 0 or 1 (like labels) and the targets are fractions in "
        "[0, 1] (like scores): are PREDS and TARGETS swapped? (the order is PREDS TARGETS)\n"
    )
    assert run("bce", cls / "soft.csv", cls / "hard.csv").stderr == ""  # the right order


def test_hint_one_based_labels(cls):
    r = run("ce", cls / "probs.csv", cls / "labels1.csv")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {cls}/labels1.csv: class index 3 at (row 1) is out of range for 3 classes "
        "(valid: 0 to 2); the labels look 1-based (they run from 1 to 3): subtract 1 so they "
        "run from 0 to 2\n"
    )


def test_no_one_based_hint_when_a_label_is_zero(cls):
    write(cls / "big.csv", "0\n3\n")
    write(cls / "two.csv", "0.5,0.5,0\n0.5,0.5,0\n")
    r = run("ce", cls / "two.csv", cls / "big.csv")
    assert r.stderr == (
        f"Error: {cls}/big.csv: class index 3 at (row 1) is out of range for 3 classes "
        "(valid: 0 to 2)\n"
    )


def test_hint_logits_in_unit_interval_taken_as_probabilities(cls):
    r = run("ce", cls / "scores01.csv", cls / "labels.csv")
    assert r.exit_code == 0
    # rows sum to 0.8, 0.8, 0.5
    assert r.stderr == (
        "Warning: 3 of 3 prediction rows do not sum to 1 (first: row 0 sums to 0.8); used as "
        "given, not renormalised (if they are raw scores, pass --logits)\n"
    )


def test_hint_double_softmax(cls):
    r = run("ce", cls / "probs.csv", cls / "labels.csv", "--logits")
    assert r.exit_code == 0
    assert r.stderr == (
        "Warning: every prediction row lies in [0, 1] and sums to 1: these look like "
        "probabilities, and --logits applies a softmax to them a second time; drop --logits if "
        "they are probabilities\n"
    )
    assert run("ce", cls / "probs.csv", cls / "labels.csv").stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-r", "mena"],
            "Invalid value for '--reduction' / '-r': 'mena' is not one of 'mean', 'sum', "
            "'none'. Did you mean 'mean'?",
        ),
        (
            ["--format", "JSON"],
            "Invalid value for '--format' / '-f': 'JSON' is not one of 'table', 'plain', "
            "'json', 'csv'. Did you mean 'json'?",
        ),
        (
            ["--format", "xml"],
            "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'plain', "
            "'json', 'csv'.",
        ),
    ],
)
def test_typo_in_an_option_value_suggests_the_nearest(cls, args, message):
    r = run("ce", cls / "probs.csv", cls / "labels.csv", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


def test_typo_in_a_loss_name():
    r = run("explain", "huberr")
    assert (r.exit_code, r.stdout) == (2, "")
    known = ", ".join(REGISTRY)  # every registered loss, in registry order
    assert r.stderr == f"Error: unknown loss 'huberr' (did you mean 'huber'?); known: {known}\n"
    r = run("huberr")
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: No such command 'huberr'. Did you mean 'huber'?\n",
    )


FRAMEWORK_SPELLINGS = [
    ("cross_entropy", "ce"),
    ("CrossEntropyLoss", "ce"),
    ("CE", "ce"),
    ("categorical_crossentropy", "ce"),
    ("mse_loss", "mse"),
    ("MSELoss", "mse"),
    ("mean_squared_error", "mse"),
    ("l1_loss", "mae"),
    ("mean_absolute_error", "mae"),
    ("huber_loss", "huber"),
    ("smooth_l1_loss", "smooth-l1"),
    ("SmoothL1Loss", "smooth-l1"),
    ("nll_loss", "nll"),
    ("NLLLoss", "nll"),
    ("binary_cross_entropy", "bce"),
    ("BCELoss", "bce"),
    ("BCEWithLogits", "bce"),
    ("binary_cross_entropy_with_logits", "bce"),
    ("kl_div", "kl"),
    ("KLDivLoss", "kl"),
]


@pytest.mark.parametrize(("spelling", "name"), FRAMEWORK_SPELLINGS)
def test_framework_spellings_resolve(spelling, name):
    assert get_loss(spelling).name == name


@pytest.mark.parametrize(("spelling", "name"), FRAMEWORK_SPELLINGS)
def test_framework_spellings_are_commands(tmp_path, spelling, name):
    """The same run under the framework's name and under losscli's gives the same output."""
    p = write(tmp_path / "p.csv", "0.2,0.8\n0.6,0.4\n")
    t = write(tmp_path / "t.csv", "0,1\n1,0\n")
    extra = ["--logits"] if "logits" in spelling.lower() else []
    if name == "nll":
        write(tmp_path / "p.csv", "-0.2,-1.8\n-0.6,-0.9\n")
        write(tmp_path / "t.csv", "1\n0\n")
    if name == "kl":
        write(tmp_path / "p.csv", "-0.2,-1.8\n-0.6,-0.9\n")
    theirs = run(spelling, p, t, "-f", "json")
    ours = run(name, p, t, "-f", "json", *extra)
    assert theirs.exit_code == ours.exit_code == 0, theirs.stderr
    assert (theirs.stdout, theirs.stderr) == (ours.stdout, ours.stderr)


def test_explain_takes_framework_spellings():
    theirs = run("explain", "smooth_l1_loss", "-f", "plain")
    assert theirs.exit_code == 0 and theirs.stdout.startswith("# smooth-l1 — smooth L1 loss\n")
    assert theirs.stdout == run("explain", "smooth-l1", "-f", "plain").stdout


def test_bce_with_logits_spelling_turns_logits_on(tmp_path):
    p = write(tmp_path / "p.csv", "0\n")
    t = write(tmp_path / "t.csv", "1\n")
    # −log σ(0) = log 2
    assert run("BCEWithLogitsLoss", p, t).stdout == "0.6931471805599453\n"


# --------------------------------------------------------------------------- help


def help_text(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "losscli", *args, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80", "NO_COLOR": "1"},
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


HELP_SCREENS = [["mse"], ["ce"], ["bce"], ["kl"], [], ["list"], ["explain"]]


@pytest.mark.parametrize("args", HELP_SCREENS)
def test_help_fits_80_columns_without_cuts_or_bool_types(args):
    text = help_text(*args)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not re.search(r"\S…\s*[│┃]", text), text  # rich ends a cut cell with "…"
    assert "<bool>" not in text and "<str>" not in text


@pytest.mark.parametrize("loss", ["mse", "ce", "bce", "huber", "smooth-l1", "kl", "nll"])
def test_help_states_each_default_once(loss):
    text = help_text(loss)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "[default:" in line:  # the option's own help (lines above, up to the previous
            start = i  # option) must not say its default in words too
            while start > 0 and not lines[start].lstrip("│ ").startswith("--"):
                start -= 1
            said = " ".join(lines[start:i])
            assert not re.search(r"default(?::| is\b)", said, re.I), "\n".join(lines[start : i + 1])


def test_preds_help_names_parquet_and_compressed_inputs():
    text = " ".join(" ".join(help_text("mse").split()).split("│"))
    text = " ".join(text.split())
    assert (
        "CSV, TSV, NPY or Parquet file (CSV and TSV also compressed: .gz, .bz2, .xz, .zst)" in text
    )


@pytest.mark.parametrize("args", [[], ["list"]])
def test_top_level_and_list_help_have_examples(args):
    text = help_text(*args)
    assert "Examples:" in text
    examples = [line.strip() for line in text.splitlines() if line.strip().startswith("$ losscli")]
    assert len(examples) >= 3


def test_gradient_table_fits_80_columns_and_counts_the_columns_not_shown(tmp_path):
    z = write(tmp_path / "z.csv", ",".join(["0"] * 12) + "\n")
    y = write(tmp_path / "y.csv", "0\n")
    r = run("ce", z, y, "--logits", "-g", "-f", "table", env={"COLUMNS": "80"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    start = lines.index("Gradient of the mean loss w.r.t. the predictions")
    # softmax(0) = 1/12 in each of 12 classes; minus the one-hot of class 0. Cells of 9
    # characters: 5 fit beside the row number and "… 7 more" (18 + 12·5 = 78 ≤ 80).
    assert lines[start + 2].split("┃")[1:-1] == [
        " row ",
        *(f" {j:>9} " for j in range(5)),
        " … 7 more ",
    ]
    assert lines[start + 4].split("│")[1:-1] == [
        "   0 ",
        " -0.916667 ",
        *([" 0.0833333 "] * 4),
        " …        ",
    ]
