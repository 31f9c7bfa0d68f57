"""--hess and --hess-out streamed (issue 11): any split of the rows into blocks gives the Hessian
diagonal of the one-block run held in memory, printed and written, for every loss with a
Hessian and every reduction, from CSV and NPY; --grad-out and --hess-out in one pass; a big
input is not read whole; a bad input leaves no file behind."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from test_engine import _inputs, _write
from typer.testing import CliRunner

import losscli
import losscli.sources as sources
from losscli.cli import app

runner = CliRunner()

CASES = [
    (name, reduction)
    for name, loss in losscli.REGISTRY.items()
    if loss.has_hess
    for reduction in loss.reductions
]


def _run(monkeypatch, args, *, stream: bool, elements: int | None) -> dict:
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    monkeypatch.setattr(sources, "MEMORY_BLOCK_ELEMENTS", 0)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _load(path) -> np.ndarray:
    path = str(path)
    return np.load(path) if path.endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)


@pytest.mark.parametrize("kind", ["csv", "npy"])
@pytest.mark.parametrize(("name", "reduction"), CASES, ids=["-".join(c) for c in CASES])
def test_streamed_hessian_is_the_one_block_one(tmp_path, monkeypatch, name, reduction, kind):
    rng = np.random.default_rng(abs(hash((name, reduction, "hess"))) % 2**32)
    p, t, options = _inputs(name, rng)
    files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
    common = [name, *files, *options, "-r", reduction, "-f", "json", "--hess"]
    ext = kind  # the written file in the inputs' format: NPY, or CSV (rescaled from a spool)
    one_h, one_g = tmp_path / f"h.{ext}", tmp_path / "g.npy"
    outs = ["--hess-out", str(one_h), "--grad-out", str(one_g)]
    expected = _run(monkeypatch, [*common, *outs], stream=False, elements=None)
    assert np.shape(expected["hess"])[0] == len(p)
    for elements in (1, 7, 64, 10_000):
        h, g = tmp_path / f"h{elements}.{ext}", tmp_path / f"g{elements}.npy"
        args = [*common, "--hess-out", str(h), "--grad-out", str(g)]
        got = _run(monkeypatch, args, stream=True, elements=elements)
        np.testing.assert_allclose(got["value"], expected["value"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(got["hess"], expected["hess"], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(_load(h), _load(one_h), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(np.load(g), np.load(one_g), rtol=1e-12, atol=1e-300)


def test_streamed_hess_out_of_mse_is_two_over_n_d(tmp_path, monkeypatch):
    # mse mean over N·D elements: ∂²/∂ŷ² of Σ(ŷ − y)²/(N·D) is 2/(N·D) everywhere
    # (hand-derived); CSV rows have no count up front, so the file is rescaled at the end.
    n = 500
    p = _write(tmp_path, "p", np.arange(2.0 * n).reshape(n, 2), "csv")
    t = _write(tmp_path, "t", np.zeros((n, 2)), "csv")
    out = tmp_path / "h.csv"
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 64)
    r = runner.invoke(app, ["mse", p, t, "--hess-out", str(out)])
    assert r.exit_code == 0, r.stderr
    assert r.stderr == f"Wrote the Hessian ({n}, 2) to {out}\n"
    np.testing.assert_array_equal(_load(out), np.full((n, 2), 2.0 / (2 * n)))


def test_a_bad_row_mid_stream_leaves_no_hess_out(tmp_path, monkeypatch):
    p = tmp_path / "p.csv"
    p.write_text("".join(f"{i}.5\n" for i in range(200)) + "x\n" + "1\n" * 50)
    t = tmp_path / "t.csv"
    t.write_text("0\n" * 251)
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 16)
    h, g = tmp_path / "h.npy", tmp_path / "g.csv"
    r = runner.invoke(app, ["mse", str(p), str(t), "--hess-out", str(h), "--grad-out", str(g)])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: {p}") and "201" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "t.csv"]  # no output, no temporary


def test_a_huge_streamed_hessian_points_to_hess_out(tmp_path, monkeypatch):
    from losscli import engine

    p = _write(tmp_path, "p", np.ones(100), "csv")
    t = _write(tmp_path, "t", np.zeros(100), "csv")
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 16)
    monkeypatch.setattr(engine, "WHOLE_ARRAY_MAX_BYTES", 256)
    r = runner.invoke(app, ["mse", p, t, "--hess"])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith("Error: the Hessian of this streamed input has ")
    assert r.stderr.endswith("write it with --hess-out FILE.npy instead of --hess\n")


def test_hess_out_streams_in_bounded_memory(tmp_path):
    n = 6_000_000  # 48 MB of float64 per input; blocks of 64 Ki values
    p = np.lib.format.open_memmap(tmp_path / "p.npy", "w+", np.float64, (n,))
    p[:] = 1.5
    p.flush()
    del p
    t = np.lib.format.open_memmap(tmp_path / "t.npy", "w+", np.float64, (n,))
    t[:] = 0.0
    t.flush()
    del t
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy")]
    out = tmp_path / "h.npy"
    env = {"LOSSCLI_CHUNK_ELEMENTS": "64Ki", "LOSSCLI_STREAM_BYTES": "1M"}
    streamed, _ = peak_rss_mib([*args, "--hess-out", str(out)], env)
    value_only, _ = peak_rss_mib(args, env)
    h = np.load(out, mmap_mode="r")
    assert h.shape == (n,) and h[0] == h[-1] == 2.0 / n  # 2/N (hand-derived, as above)
    # Written block by block: the run holds a few blocks, not the 48 MB Hessian nor the
    # 96 MB of inputs (the page cache of the memory map is not counted in VmHWM's anon part,
    # but the whole-array path would allocate the Hessian and its product arrays).
    assert streamed < value_only + 40, (streamed, value_only)


def test_targets_shorter_mid_stream_leave_no_hess_out(tmp_path, monkeypatch):
    p = _write(tmp_path, "p", np.arange(300.0), "csv")
    t = _write(tmp_path, "t", np.zeros(250), "csv")
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 16)
    h = tmp_path / "h.csv"
    r = runner.invoke(app, ["mse", p, t, "--hess-out", str(h)])
    assert (r.exit_code, r.stdout) == (2, "")
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: ")
    assert "300" in r.stderr and "250" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "t.csv"]


def test_python_hess_out_streams_without_holding_the_hessian(tmp_path, monkeypatch):
    # evaluate(hess_out=...) alone writes the file and keeps no Hessian in the report;
    # mse sum: ∂²/∂ŷ² Σ(ŷ − y)² = 2 (hand-derived).
    p = _write(tmp_path, "p", np.arange(40.0), "npy")
    t = _write(tmp_path, "t", np.zeros(40), "npy")
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 7)
    out = tmp_path / "h.npy"
    report = losscli.evaluate("mse", p, t, reduction="sum", hess_out=str(out))
    assert report.hess is None and report.hess_written == (40,)
    np.testing.assert_array_equal(np.load(out), np.full(40, 2.0))


@pytest.mark.parametrize("kind", ["csv", "npy"])
@pytest.mark.parametrize("elements", [1, 3, 1 << 20])  # 1 << 20: one block
def test_streamed_rmse_hessian_by_hand(tmp_path, monkeypatch, kind, elements):
    # rmse R = √(Σe²/N): ∂²R/∂ŷ_i² = 1/(N·R) − e_i²/(N²·R³) (hand-derived), with the merged
    # sum, known after the first pass; errors of 1e305 square beyond float64 (the state's
    # power-of-two scale), blocks of one row each have their own scale.
    e = np.array([3e305, 1e-3, 4e305, 2.0])
    n, r = 4, 2.5e305  # √((9 + 16)·1e610 / 4); the small errors add nothing at this scale
    expected = 1.0 / (n * r) - (e / r) ** 2 / (n * n * r)
    p, t = _write(tmp_path, "p", e, kind), _write(tmp_path, "t", np.zeros(4), kind)
    out = tmp_path / f"h.{kind}"
    args = ["rmse", p, t, "--hess", "--hess-out", str(out), "-f", "json"]
    got = _run(monkeypatch, args, stream=True, elements=elements)
    np.testing.assert_allclose(got["hess"], expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(_load(out).reshape(-1), expected, rtol=1e-14, atol=0)


def test_streamed_rmse_hessian_is_not_read_whole(tmp_path, monkeypatch):
    # R = √(Σe²/N) with e = 1, 2, …: the Hessian from blocks of 7 rows, the inputs never held
    # whole; the sum of squares Σ_{i ≤ 100} i² = 338350 (hand-derived)
    e = np.arange(1.0, 101.0)
    n, r = 100, np.sqrt(338350.0 / 100)
    p, t = _write(tmp_path, "p", e, "npy"), _write(tmp_path, "t", np.zeros(100), "npy")
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 7)

    def whole(self):
        raise AssertionError("read whole")

    monkeypatch.setattr(sources.MemoryInputs, "whole", whole)
    out = tmp_path / "h.npy"
    report = losscli.evaluate("rmse", p, t, hess_out=str(out), grad_out=str(tmp_path / "g.npy"))
    assert report.hess is None and report.hess_written == (100,)
    np.testing.assert_allclose(
        np.load(out), 1.0 / (n * r) - e**2 / (n * n * r**3), rtol=1e-14, atol=0
    )
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), e / (n * r), rtol=1e-14, atol=0)
