"""``gaussian-nll --var FILE`` with one variance per row (or per element) beside inputs that
stream: the file is read beside the blocks (losscli.sources.RowOptionInputs), as a
``--var-col`` column is; before, the run was refused ("a --var per row or element is not
matched to chunks yet"). Expected values: the Gaussian NLL ½(log v + (μ − y)²/v) by numpy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli import sources
from losscli.cli import app

runner = CliRunner()
N, D = 40, 2


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    m, y = rng.normal(size=(N, D)), rng.normal(size=(N, D))
    v_row, v_el = rng.random(N) + 0.5, rng.random((N, D)) + 0.5
    paths = {}
    for name, a in (("m", m), ("y", y), ("vrow", v_row), ("vel", v_el), ("one", [2.0])):
        np.save(tmp_path / f"{name}.npy", np.asarray(a))
        paths[name] = str(tmp_path / f"{name}.npy")
    np.savetxt(tmp_path / "vrow.csv", v_row)
    paths["vrow.csv"] = str(tmp_path / "vrow.csv")
    return paths, m, y, {"vrow": v_row, "vrow.csv": v_row, "vel": v_el, "one": 2.0}


def run(*args, chunk=None):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def streamed(monkeypatch):
    def invoke(*args, chunk):
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", chunk)
        result = run(*args)
        monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
        return result

    return invoke


@pytest.mark.parametrize("var", ["vrow", "vrow.csv", "vel", "one"])
@pytest.mark.parametrize("chunk", [2, 14, 128, 10_000])
def test_streamed_var_file_equals_numpy_and_in_memory(data, streamed, var, chunk):
    paths, m, y, variances = data
    v = np.broadcast_to(np.asarray(variances[var]).reshape(-1, 1) if var != "vel" and var != "one"
                        else variances[var], (N, D))  # fmt: skip
    expected = np.mean(0.5 * (np.log(v) + (m - y) ** 2 / v))
    args = ["gaussian-nll", paths["m"], paths["y"], "--var", paths[var], "-f", "json", "--grad"]
    whole = json.loads(run(*args).stdout)
    r = streamed(*args, chunk=chunk)
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["value"] == pytest.approx(expected, rel=1e-13)
    assert got["value"] == pytest.approx(whole["value"], rel=1e-14)
    # ∂/∂μ of the mean: (μ − y)/(v·N·D)
    np.testing.assert_allclose(got["grad"], (m - y) / (v * N * D), rtol=1e-13)
    np.testing.assert_allclose(got["grad"], whole["grad"], rtol=1e-14)


def test_every_pass_gets_the_variances(data, streamed):
    paths, *_ = data
    args = ["gaussian-nll", paths["m"], paths["y"], "--var", paths["vrow"], "-f", "json"]
    for extra in (["--check"], ["-r", "none"], ["--top", "3"]):
        whole = json.loads(run(*args, *extra).stdout)
        got = json.loads(streamed(*args, *extra, chunk=6).stdout)
        if "check" in whole:
            assert got["check"]["passed"] and got["check"]["checked"] == whole["check"]["checked"]
        if extra[0] == "-r":
            np.testing.assert_allclose(got["value"], whole["value"], rtol=1e-15)
        if "top" in whole:
            assert [t["row"] for t in got["top"]] == [t["row"] for t in whole["top"]]


@pytest.mark.parametrize("rows, got", [(N - 3, N - 3), (N + 5, N + 5)])
@pytest.mark.parametrize("chunk", [2, 14, 10_000])
def test_a_var_file_of_other_rows_is_the_in_memory_error(
    tmp_path, data, streamed, rows, got, chunk
):
    paths, *_ = data
    np.save(tmp_path / "bad.npy", np.full(rows, 1.5))
    args = ["gaussian-nll", paths["m"], paths["y"], "--var", tmp_path / "bad.npy"]
    message = (
        f"Error: --var takes one number, one per element ({N * D}) or one per row ({N}), got "
        f"{got} values\n"
    )
    assert run(*args).stderr == message
    r = streamed(*args, chunk=chunk)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)


def test_a_bad_variance_in_a_later_block_names_its_row_in_the_file(tmp_path, data, streamed):
    paths, *_ = data
    v = np.full(N, 1.5)
    v[33] = -1.0
    np.save(tmp_path / "neg.npy", v)
    args = ["gaussian-nll", paths["m"], paths["y"], "--var", tmp_path / "neg.npy"]
    whole = run(*args)
    assert whole.exit_code == 2 and "(row 33)" in whole.stderr, whole.stderr
    r = streamed(*args, chunk=6)
    assert (r.exit_code, r.stderr) == (2, whole.stderr)
