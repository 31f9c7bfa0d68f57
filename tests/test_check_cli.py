"""The finite-difference check from the command line: its table (exact, at 80 columns), the
kink and clamped statuses and their exit codes, and a sampled check saying so."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli.cli import app

runner = CliRunner()


def run(*args, columns: int = 80):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


@pytest.fixture
def kinked(tmp_path):
    """mae on [[0.5, 1], [2, -3]] against [[0.5, 0], [1, 1]]: e = 0 (a kink), 1, 1, −4."""
    (tmp_path / "p.csv").write_text("0.5,1.0\n2.0,-3.0\n")
    (tmp_path / "t.csv").write_text("0.5,0.0\n1.0,1.0\n")
    return tmp_path


def test_check_table_exact_at_80_columns(kinked):
    r = run("mae", kinked / "p.csv", kinked / "t.csv", "-c", "-f", "table")
    assert (r.exit_code, r.stderr) == (0, "")
    table = r.stdout.split("Gradient check")[1]
    # sign(e)/4 (mean over 4 elements; 0 at the kink, whose interval is [−1/4, 1/4]); the
    # error bar is the rounding part, k·4ε·(|e| + |x·sign(e)|)/h/4, h = 2^⌊log2(1e-6·max(1, |x|))⌋,
    # k = 3 in row 0 (extrapolated, for its kink), 1 in row 1 (one step: every element passes
    # by far): at (0, 1) 3·4ε·(1 + 1)·2^20/4 = 1.4e-09, at (1, 0) 4ε·(1 + 2)·2^19/4 = 3.5e-10.
    # Every ratio is 0 (exact differences), so the order is that of the elements.
    assert table == (
        " (worst first, by ratio: see below)\n"
        "┏━━━━━━━━┳━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━┳━━━━━━━━┓\n"
        "┃  index ┃ input ┃ analytic ┃       numeric ┃   ± err ┃ ratio ┃ status ┃\n"
        "┡━━━━━━━━╇━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━╇━━━━━━━━┩\n"
        "│ (0, 0) │   0.5 │        0 │ [-0.25, 0.25] │ 1.2e-09 │     0 │ kink   │\n"
        "│ (0, 1) │     1 │     0.25 │          0.25 │ 1.4e-09 │     0 │ ok     │\n"
        "│ (1, 0) │     2 │     0.25 │          0.25 │ 3.5e-10 │     0 │ ok     │\n"
        "│ (1, 1) │    -3 │    -0.25 │         -0.25 │ 8.1e-10 │     0 │ ok     │\n"
        "└────────┴───────┴──────────┴───────────────┴─────────┴───────┴────────┘\n"
        "ratio = |analytic − numeric| ÷ (atol + rtol·|numeric| + ± err), > 1 fails\n"
        "kink: analytic within [left, right]; clamped: never a failure\n"
        "columns not shown: rel err, step, abs err (--format csv has them)\n"
        "PASS: 4 elements checked, 0 failed, 1 kink\n"
        "max abs err 0 at (0, 0), max rel err 0 at (0, 0)\n"
        "step eps·max(1, |x|), eps 1e-06; rtol 0.001, atol 1e-05\n"
    )


def test_wider_terminal_shows_every_column(kinked):
    r = run("mae", kinked / "p.csv", kinked / "t.csv", "-c", "-f", "table", columns=160)
    header = r.stdout.split("Gradient check")[1].splitlines()[2]
    names = [cell.strip() for cell in header.strip("┃").split("┃")]
    expected = ["index", "input", "analytic", "numeric", "± err", "step", "abs err", "rel err"]
    assert names == expected + ["ratio", "status"]
    assert "columns not shown" not in r.stdout


def test_gradient_and_check_tables_fit_80_columns(tmp_path):
    rng = np.random.default_rng(5)
    np.save(tmp_path / "z.npy", rng.normal(size=(30, 100)) * 1e3)
    np.save(tmp_path / "y.npy", rng.integers(0, 100, size=30).astype(float))
    r = run("ce", tmp_path / "z.npy", tmp_path / "y.npy", "--logits", "-g", "-c", "-f", "table")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # the columns of the gradient left out are counted, and so are its rows
    assert re.search(r"┃ … 9\d more ┃", r.stdout)
    assert "… 10 more rows" in r.stdout
    assert "2980 more elements not shown" in r.stdout


def test_kink_is_reported_in_json_and_exits_0(kinked):
    r = run("mae", kinked / "p.csv", kinked / "t.csv", "-c", "-f", "json")
    assert r.exit_code == 0
    check = json.loads(r.stdout)["check"]
    assert (check["passed"], check["failed"], check["kinks"], check["clamped"]) == (True, 0, 1, 0)
    kink = check["worst"][0]
    assert kink["index"] == [0, 0] and kink["status"] == "kink" and kink["ok"] is True
    assert (kink["analytic"], kink["left"], kink["right"]) == (0.0, -0.25, 0.25)
    assert {e["status"] for e in check["worst"][1:]} == {"ok"}
    assert check["order"] == "ratio" and check["sampled"] is False


def test_clamped_bce_element_is_labelled_and_exits_0(tmp_path):
    (tmp_path / "p.csv").write_text("0.0,0.5\n")
    (tmp_path / "t.csv").write_text("1,0\n")
    r = run("bce", tmp_path / "p.csv", tmp_path / "t.csv", "-c", "-f", "csv")
    assert r.exit_code == 0
    rows = r.stdout.split("\n\n")[1].splitlines()
    # p = 0 with y = 1: log p floored at −100, the gradient's p(1 − p) at 1e-12
    assert rows[1].startswith("0,0,0.0,-500000001")
    assert rows[1].split(",")[7:9] == ["true", "clamped"]
    assert rows[2].split(",")[7:9] == ["true", "ok"]


def test_wrong_gradient_fails_in_the_table(tmp_path, wrong_mse_gradient):
    (tmp_path / "p.csv").write_text("1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "-c", "-f", "table")
    assert r.exit_code == 1
    assert "FAIL: 4 elements checked, 4 failed\n" in r.stdout
    # 1% off: |a − n| = 0.01·n over atol + rtol·n: n = 2 (at (1, 1)) is the worst, ratio ≈ 9.5
    first = r.stdout.split("┡")[1].splitlines()[1]
    assert first.startswith("│ (1, 1) │") and first.rstrip("│ ").endswith("FAIL")


def test_sampled_check_says_so_on_stderr_and_in_json(tmp_path, monkeypatch):
    gradcheck = importlib.import_module("losscli.gradcheck")
    monkeypatch.setattr(gradcheck, "MAX_CHECKED", 120)
    rng = np.random.default_rng(2)
    np.save(tmp_path / "z.npy", rng.normal(size=(40, 12)))
    np.save(tmp_path / "y.npy", rng.integers(0, 12, size=40).astype(float))
    args = ["ce", tmp_path / "z.npy", tmp_path / "y.npy", "--logits", "-c"]
    r = run(*args, "-f", "json")
    assert r.exit_code == 0
    check = json.loads(r.stdout)["check"]
    assert check["sampled"] is True and check["seed"] == 0
    assert check["population"] == 480 and check["population_rows"] == 40
    assert check["checked"] == 12 * check["sample_rows"] and 0 < check["sample_rows"] < 40
    assert r.stderr == (
        f"Note: the check covered a seeded sample of {check['sample_rows']} of 40 rows "
        f"({check['checked']} of 480 elements, seed 0), as inputs of more than 120 elements "
        "are sampled\n"
    )
    table = run(*args, "-f", "table").stdout
    assert (
        f"a seeded sample: {check['sample_rows']} of 40 rows ({check['checked']} of 480 "
        "elements), seed 0" in table
    )
    plain = run(*args).stdout.split("\n\n")[1]
    assert plain.endswith(
        f"sampled=true sample_rows={check['sample_rows']} population=480 population_rows=40 "
        "seed=0\n"
    )


def test_the_table_in_docs_is_real_output(kinked):
    """docs/check.md shows the table of test_check_table_exact_at_80_columns."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "check.md").read_text()
    shown = doc.split("```\nGradient check", 1)[1].split("```", 1)[0]
    r = run("mae", kinked / "p.csv", kinked / "t.csv", "-c", "-f", "table")
    assert "Gradient check" + shown == "Gradient check" + r.stdout.split("Gradient check")[1]


def test_float32_npy_of_large_magnitude_passes(tmp_path):
    """float32 predictions 3e9..1.2e10 (NPY): with an absolute step of 1e-6 the old check
    failed all four elements with exit 1 (max rel err 0.51); the scaled step passes."""
    np.save(tmp_path / "p.npy", (np.arange(1, 5, dtype=np.float32) * np.float32(3e9)).reshape(2, 2))
    np.save(tmp_path / "t.npy", np.zeros((2, 2), dtype=np.float32))
    r = run("mse", tmp_path / "p.npy", tmp_path / "t.npy", "-c", "-f", "json")
    assert (r.exit_code, r.stderr) == (0, "")
    check = json.loads(r.stdout)["check"]
    assert check["passed"] and check["failed"] == 0 and check["max_rel_err"] < 1e-9
