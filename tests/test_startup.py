"""Start-up guards: which modules each quick path imports (subprocess + ``sys.modules``).

The paths called from shell loops must stay cheap: ``--version`` imports neither numpy nor
pydantic; ``--help`` and a loss on small CSVs with plain output import numpy (the registry
and the computation need it) but not pandas, pydantic or rich.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "pydantic", "rich", "pyarrow", "torch", "scipy")


def imported(args: list[str], stdout_tty: bool = False) -> set[str]:
    code = (
        "import json, sys\n"
        "from losscli.cli import main\n"
        f"sys.argv = ['losscli', *{args!r}]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
    )
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def small_csvs(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    (d / "p.csv").write_text("\n".join(str(i / 10) for i in range(10)) + "\n")
    (d / "t.csv").write_text("\n".join(str(i / 7) for i in range(10)) + "\n")
    return d


def test_version_imports_nothing_heavy():
    assert imported(["--version"]) == set()


def test_help_imports_numpy_for_the_registry_and_rich_for_the_help_only():
    assert imported(["--help"]) <= {"numpy", "rich"}
    assert "pandas" not in imported(["mse", "--help"])


def test_small_loss_in_plain_output_imports_only_numpy(small_csvs):
    args = ["mse", str(small_csvs / "p.csv"), str(small_csvs / "t.csv")]
    assert imported(args) == {"numpy"}
    assert imported([*args, "-g", "-c", "-r", "none", "-f", "csv"]) == {"numpy"}
    assert imported(["ce", str(small_csvs / "p.csv"), str(small_csvs / "t.csv")]) == {"numpy"}


def test_unusual_option_values_still_go_through_typer(small_csvs):
    # A value the fast converter does not take is typer's to judge: same message as before.
    args = ["mse", str(small_csvs / "p.csv"), str(small_csvs / "t.csv")]
    r = subprocess.run(
        [sys.executable, "-m", "losscli", *args, "--eps", "abc"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (r.returncode, r.stderr) == (
        2,
        "Error: Invalid value for '--eps': Input should be a valid number, unable to parse "
        "string as a number\n",
    )
