"""The command line, driven through the real app (CliRunner) and, for start-up, stdin and pipes,
as a subprocess. Exact stdout, stderr and exit codes are pinned.

Expected numbers are hand-derived in the comments.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def files(tmp_path):
    """preds [[1, 2], [3, 4]] and zero targets: squared errors 1, 4, 9, 16."""
    (tmp_path / "p.csv").write_text("1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n")
    return tmp_path


# --------------------------------------------------------------------------- formats


def test_plain_value(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"))
    assert (r.exit_code, r.stdout, r.stderr) == (0, "7.5\n", "")  # 30 / 4


def test_plain_sum_and_none(files):
    p, t = str(files / "p.csv"), str(files / "t.csv")
    assert run("mse", p, t, "--reduction", "sum").stdout == "30.0\n"
    assert run("mse", p, t, "-r", "none").stdout == "2.5\n12.5\n"


def test_plain_grad_is_csv_rows_after_a_blank_line(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "--grad")
    # 2(ŷ − y)/(N·D) = ŷ/2
    assert r.stdout == "7.5\n\n0.5,1.0\n1.5,2.0\n"


def test_none_with_grad_says_whose_gradient(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-r", "none", "-g")
    # each row's own loss: 2(ŷ − y)/D = ŷ
    assert r.stdout == "2.5\n12.5\n\n1.0,2.0\n3.0,4.0\n"
    assert r.stderr == "Note: with --reduction none the gradient is that of each row's own loss\n"


def test_json_contract(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-g", "-c", "-f", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["loss"] == "mse"
    assert doc["reduction"] == "mean"
    assert doc["shape"] == [2, 2]
    assert doc["value"] == 7.5
    assert doc["grad"] == [[0.5, 1.0], [1.5, 2.0]]
    assert doc["grad_of"] == "reduced"
    check = doc["check"]
    assert check["passed"] is True and check["checked"] == 4 and check["failed"] == 0
    assert set(check) >= {"max_abs_err", "max_rel_err", "eps", "rtol", "atol", "worst"}
    assert doc["inputs"] == {"predictions": str(files / "p.csv"), "targets": str(files / "t.csv")}


def test_json_numbers_round_trip_exactly(tmp_path):
    (tmp_path / "p.csv").write_text("0.1\n0.2\n0.7\n")
    (tmp_path / "t.csv").write_text("0.3\n0.0\n0.1\n")
    r = run("mse", str(tmp_path / "p.csv"), str(tmp_path / "t.csv"), "-f", "json", "-g")
    doc = json.loads(r.stdout)
    err = np.array([0.1, 0.2, 0.7]) - np.array([0.3, 0.0, 0.1])
    assert doc["value"] == float(np.mean(err**2))  # bit-identical, not approximately
    assert doc["grad"] == (2 * err / 3).tolist()


def test_json_none(files):
    doc = json.loads(
        run("mse", str(files / "p.csv"), str(files / "t.csv"), "-r", "none", "-f", "json").stdout
    )
    assert doc["value"] == [2.5, 12.5]
    assert "grad" not in doc and "check" not in doc


def test_csv_format(files):
    p, t = str(files / "p.csv"), str(files / "t.csv")
    assert run("mse", p, t, "-f", "csv").stdout == "loss,reduction,value\nmse,mean,7.5\n"
    assert run("mse", p, t, "-f", "csv", "-r", "none").stdout == "row,value\n0,2.5\n1,12.5\n"
    assert run("mse", p, t, "-f", "csv", "-g").stdout == (
        "loss,reduction,value\nmse,mean,7.5\n\nrow,grad_0,grad_1\n0,0.5,1.0\n1,1.5,2.0\n"
    )


def test_table_format_shows_summary_gradient_and_check(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-g", "-c", "-f", "table")
    assert r.exit_code == 0
    for text in (
        "Mean squared error",
        "Value",
        "7.5",
        "Gradient of the mean loss",
        "PASS: 4 elements checked, 0 failed",
    ):
        assert text in r.stdout


def test_table_truncates_large_gradients(tmp_path):
    np.save(tmp_path / "p.npy", np.ones((50, 2)))
    np.save(tmp_path / "t.npy", np.zeros((50, 2)))
    r = run("mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "-g", "-f", "table")
    assert "… 30 more rows" in r.stdout


# --------------------------------------------------------------------------- cross-entropy


def test_ce_extreme_logits_from_files(tmp_path):
    (tmp_path / "z.csv").write_text("1000,0\n")
    (tmp_path / "y.csv").write_text("1\n")
    r = run("ce", str(tmp_path / "z.csv"), str(tmp_path / "y.csv"), "--logits", "-g")
    assert r.stdout == "1000.0\n\n1.0,-1.0\n"


def test_ce_probabilities_with_one_hot_targets(tmp_path):
    (tmp_path / "p.csv").write_text("0.5,0.5\n0.25,0.75\n")
    (tmp_path / "y.csv").write_text("1,0\n0,1\n")
    r = run("ce", str(tmp_path / "p.csv"), str(tmp_path / "y.csv"), "-r", "none")
    assert r.stdout == f"{math.log(2)!r}\n{-math.log(0.75)!r}\n"


def test_ce_targets_option_forces_kind(tmp_path):
    (tmp_path / "z.csv").write_text("0,0\n")
    (tmp_path / "y.csv").write_text("1,0\n")
    r = run(
        "ce", str(tmp_path / "z.csv"), str(tmp_path / "y.csv"), "--logits", "--targets", "index"
    )
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {tmp_path / 'y.csv'}: --targets index needs one column of class indices, "
        "got shape (1, 2)\n"
    )


def test_ce_warnings_go_to_stderr(tmp_path):
    (tmp_path / "p.csv").write_text("0.2,0.3\n0,1\n")
    (tmp_path / "y.csv").write_text("0\n0\n")
    r = run("ce", str(tmp_path / "p.csv"), str(tmp_path / "y.csv"), "--clip", "1e-12")
    assert r.exit_code == 0
    assert r.stderr.splitlines() == [
        "Warning: 1 of 2 prediction rows do not sum to 1 (first: row 0 sums to 0.5); used as "
        "given, not renormalised (if they are raw scores, pass --logits)",
        "Warning: clipped 1 predicted probability below 1e-12 to 1e-12 before taking the log "
        "(set the floor with --clip)",
    ]
    # (−log 0.2 − log 1e-12) / 2
    assert float(r.stdout) == pytest.approx((-np.log(0.2) - np.log(1e-12)) / 2, rel=1e-15)


# --------------------------------------------------------------------------- check


def test_check_failure_exits_1(files, wrong_mse_gradient):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-c")
    assert r.exit_code == 1
    assert r.stdout.split("\n\n")[1].startswith("FAIL checked=4 failed=4 ")


def test_coarse_step_does_not_fail_a_correct_gradient(tmp_path):
    """--eps 0.5 used to fail this check (central differences off by O(h²)); the Richardson
    estimate and its error bar pass it, and a warning says the check is weak there."""
    (tmp_path / "z.csv").write_text("0,3\n1,-2\n")
    (tmp_path / "y.csv").write_text("0\n1\n")
    args = ["ce", str(tmp_path / "z.csv"), str(tmp_path / "y.csv"), "--logits", "-c"]
    assert (run(*args).exit_code, run(*args).stderr) == (0, "")
    r = run(*args, "--eps", "0.5")
    assert r.exit_code == 0
    assert r.stdout.split("\n\n")[1].startswith("PASS checked=4 failed=0 ")
    assert r.stderr.startswith(
        "Warning: the finite-difference error bar exceeds the tolerance at "
    ) and r.stderr.endswith("try a smaller --eps\n")


def test_check_plain_summary_line(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-c")
    value, summary = r.stdout.strip().split("\n\n")
    assert value == "7.5"
    assert summary.startswith("PASS checked=4 failed=0 max_abs_err=")
    assert summary.endswith(
        "eps=1e-06 rtol=0.001 atol=1e-05 kinks=0 clamped=0 uncertain=0 sampled=false"
    )


def test_check_csv_table(files):
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "-c", "-f", "csv")
    table = r.stdout.split("\n\n")[1].splitlines()
    assert table[0] == "row,col,input,analytic,numeric,abs_err,rel_err,ok,status,step,error,ratio"
    assert len(table) == 5
    assert all(",true,ok," in line for line in table[1:])
    # the steps: eps·max(1, |x|) rounded down to a power of two, x = 1, 2, 3, 4
    assert [float(line.split(",")[9]) for line in table[1:]] == [2**-20, 2**-19, 2**-19, 2**-18]


# --------------------------------------------------------------------------- inputs


def test_sample_data_default(files):
    r = run("mse")
    preds = np.loadtxt(SAMPLES / "regression_preds.csv", delimiter=",", skiprows=1)
    targets = np.loadtxt(SAMPLES / "regression_targets.csv", delimiter=",", skiprows=1)
    assert float(r.stdout) == pytest.approx(np.mean((preds - targets) ** 2), rel=1e-15)
    assert r.stderr.startswith("Using the bundled sample data: ")
    assert "regression_preds.csv and " in r.stderr


def test_sample_data_for_ce_logits_grad():
    r = run("ce", "--logits", "--grad", "-f", "json")
    doc = json.loads(r.stdout)
    z = np.loadtxt(SAMPLES / "classification_logits.csv", delimiter=",", skiprows=1)
    y = np.loadtxt(SAMPLES / "classification_labels.csv", skiprows=1).astype(int)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert doc["value"] == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-14)
    assert np.array(doc["grad"]).shape == z.shape
    assert "classification_logits.csv" in r.stderr


def test_stdin(files):
    r = run("mse", "-", str(files / "t.csv"), input="1,2\n3,4\n")
    assert (r.exit_code, r.stdout) == (0, "7.5\n")


def test_npy_and_csv_mixed(files):
    np.save(files / "p.npy", np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert run("mse", str(files / "p.npy"), str(files / "t.csv")).stdout == "7.5\n"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["mse", "{d}/p.csv", "{d}/wide.csv"],
            "{d}/p.csv, {d}/wide.csv: predictions and targets differ in shape: (2, 2) vs (2, 3)",
        ),
        (["mse", "{d}/nope.csv", "{d}/t.csv"], "{d}/nope.csv: file not found"),
        (
            ["mse", "{d}/p.csv"],
            "give both PREDS and TARGETS, or neither to use the bundled sample data (or PREDS "
            "alone with --pred-col/--target-col)",
        ),
        (["mse", "-", "-"], "only one of PREDS and TARGETS can be - (stdin)"),
        (
            ["mse", "-", "{d}/t.csv", "--against", "-"],
            "only one of PREDS and --against can be - (stdin)",
        ),
        (
            ["mse", "{d}/p.csv", "{d}/t.csv", "--format", "xml"],
            "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'plain', 'json', "
            "'csv'.",
        ),
        (
            ["mse", "{d}/p.csv", "{d}/t.csv", "--reduction", "avg"],
            "Invalid value for '--reduction' / '-r': 'avg' is not one of 'mean', 'sum', 'none'.",
        ),
        (
            ["ce", "{d}/p.csv", "{d}/labels_neg.csv", "--logits"],
            "{d}/labels_neg.csv: class index -1 at (row 1) is negative; class indices run from 0 "
            "to 1",
        ),
        (
            ["ce", "{d}/p.csv", "{d}/labels_frac.csv", "--logits"],
            "{d}/labels_frac.csv: class index 0.5 at (row 0) is not a whole number; class indices "
            "are integers in [0, 2) — for probability targets give N × 2 rows",
        ),
        (
            ["ce", "{d}/p.csv", "{d}/labels_big.csv", "--logits"],
            "{d}/labels_big.csv: class index 2 at (row 0) is out of range for 2 classes (valid: 0 "
            "to 1)",
        ),
        (
            ["ce", "{d}/p.csv", "{d}/labels.csv"],
            "{d}/p.csv: probabilities must lie in [0, 1], found 2.0 at (row 0, col 1) — pass "
            "--logits if these are raw scores",
        ),
        (
            ["mse", "{d}/p.csv", "{d}/t.csv", "--grad-out", "{d}/g.txt"],
            "--grad-out must end in .npy, .csv or .tsv, got '{d}/g.txt'",
        ),
    ],
)
def test_bad_input_one_line_exit_2(files, args, message):
    d = str(files)
    (files / "wide.csv").write_text("0,0,0\n0,0,0\n")
    (files / "labels.csv").write_text("0\n1\n")
    (files / "labels_neg.csv").write_text("0\n-1\n")
    (files / "labels_frac.csv").write_text("0.5\n1\n")
    (files / "labels_big.csv").write_text("2\n0\n")
    before = {p: p.read_bytes() for p in files.iterdir()}
    r = run(*[a.format(d=d) for a in args])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == f"Error: {message.format(d=d)}\n"
    assert {p: p.read_bytes() for p in files.iterdir()} == before  # nothing written or changed


def test_grad_out_writes_npy_and_csv(files):
    p, t = str(files / "p.csv"), str(files / "t.csv")
    r = run("mse", p, t, "--grad-out", str(files / "g.npy"))
    assert r.exit_code == 0 and r.stdout == "7.5\n"  # the gradient goes to the file only
    assert r.stderr == f"Wrote the gradient (2, 2) to {files / 'g.npy'}\n"
    np.testing.assert_array_equal(np.load(files / "g.npy"), [[0.5, 1.0], [1.5, 2.0]])
    run("mse", p, t, "--grad-out", str(files / "g.csv"))
    assert (files / "g.csv").read_text() == "0.5,1.0\n1.5,2.0\n"


def test_grad_out_refuses_to_overwrite_an_input(files):
    before = (files / "p.csv").read_bytes()
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"), "--grad-out", str(files / "p.csv"))
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: refusing to overwrite input file {files / 'p.csv'}; choose another --grad-out "
        "path\n"
    )
    assert (files / "p.csv").read_bytes() == before
    assert sorted(os.listdir(files)) == ["p.csv", "t.csv"]  # no temporary file left behind


# --------------------------------------------------------------------------- the program


def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, **kwargs
    )


def test_version_and_python_dash_m():
    from losscli import __version__

    r = _python("-m", "losscli", "--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"losscli {__version__}\n", "")


def test_help_has_examples_on_every_command():
    from losscli.losses import REGISTRY

    for name, loss in REGISTRY.items():
        r = run(name, "--help")
        assert r.exit_code == 0
        assert loss.examples[0] in r.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["mse", "--help"]])
def test_help_and_version_do_not_import_pandas(args):
    code = (
        "import sys\n"
        "from losscli.cli import main\n"
        f"sys.argv = ['losscli', *{args!r}]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS', file=sys.stderr)\n"
    )
    r = _python("-c", code)
    assert r.stderr.strip().endswith("NO-PANDAS")


def test_broken_pipe_is_quiet(tmp_path):
    np.save(tmp_path / "p.npy", np.ones((20000, 2)))
    np.save(tmp_path / "t.npy", np.zeros((20000, 2)))
    cmd = (
        f"{sys.executable} -m losscli mse {tmp_path}/p.npy {tmp_path}/t.npy -r none -g | head -n 1"
    )
    r = subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.stdout == "1.0\n"
    assert r.stderr == "Note: with --reduction none the gradient is that of each row's own loss\n"


def test_internal_errors_are_one_line(monkeypatch, files):
    import losscli.engine as engine

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(engine, "evaluate", boom)
    r = run("mse", str(files / "p.csv"), str(files / "t.csv"))
    assert r.exit_code == 3
    assert r.stderr == (
        "Error: internal error: RuntimeError: kaboom (rerun with --debug for the traceback, "
        "and please report it)\n"
    )
