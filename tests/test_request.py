"""The run's argument checks live in losscli/request.py and are made by ``losscli.evaluate``
itself (issue 8): the Python API refuses the same requests as the CLI, with the same message,
raised as :class:`losscli.UsageError` (the CLI prints it as ``Error: …``, exit 2)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
from losscli.cli import app


def cli_error(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert (r.exit_code, r.stdout) == (2, "")
    return r.stderr


def api_error(*args, **kwargs) -> str:
    with pytest.raises(losscli.UsageError) as caught:
        losscli.evaluate(*args, **kwargs)
    return str(caught.value)


@pytest.fixture
def two_files(tmp_path):
    p, t = tmp_path / "p.npy", tmp_path / "t.npy"
    np.save(p, np.array([1.0, 2.0]))
    np.save(t, np.array([0.0, 0.0]))
    return p, t


def test_weight_col_needs_one_file(two_files):
    p, t = two_files
    message = api_error("mse", str(p), str(t), weight_col="w")
    assert message.startswith("--weight-col takes a column of the one file")
    assert cli_error("mse", p, t, "--weight-col", "w") == f"Error: {message}\n"


def test_one_input_from_stdin(two_files):
    p, _ = two_files
    message = api_error("mse", "-", "-")
    assert message == "only one of PREDS and TARGETS can be - (stdin)"
    assert cli_error("mse", "-", "-") == f"Error: {message}\n"
    message = api_error("mse", "-", str(p), against="-")
    assert message == "only one of PREDS and --against can be - (stdin)"
    assert cli_error("mse", "-", p, "--against", "-") == f"Error: {message}\n"
    # One table holding predictions and targets is one input, PREDS.
    message = api_error("mse", "-", pred_cols=["a"], target_cols=["b"], sample_weights="-")
    assert message == "only one of PREDS and --sample-weights can be - (stdin)"
    assert cli_error(
        "mse", "-", "--pred-col", "a", "--target-col", "b", "--sample-weights", "-"
    ) == (f"Error: {message}\n")


def test_hessian_options(two_files, tmp_path):
    p, t = two_files
    bad = tmp_path / "h.txt"
    message = api_error("mse", [1.0], [0.0], hess_out=bad)
    assert message == f"--hess-out must end in .npy, .csv or .tsv, got '{bad}'"
    assert cli_error("mse", p, t, "--hess-out", bad) == f"Error: {message}\n"
    blocks = tmp_path / "b.csv"
    message = api_error("ce", [[1.0, 2.0]], [1], logits=True, hess="full", hess_out=blocks)
    assert message == "--hess full writes N × C × C blocks: give --hess-out a .npy path"
    message = api_error("mse", [1.0], [0.0], hess="full")
    assert message.startswith("mse has no full Hessian blocks")
    assert cli_error("mse", p, t, "--hess", "full") == f"Error: {message}\n"
    assert not bad.exists() and not blocks.exists()


def test_hess_out_alone_writes_the_diagonal(tmp_path):
    # mse, mean over N=2: L = Σ (p-t)² / N, so d²L/dp_i² = 2/N = 1 for each row (by hand).
    out = tmp_path / "h.npy"
    report = losscli.evaluate("mse", [1.0, 2.0], [0.0, 0.0], hess_out=out)
    assert np.load(out).tolist() == [1.0, 1.0]
    assert report.hess_written == (2,)
