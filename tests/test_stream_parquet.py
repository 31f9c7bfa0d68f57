"""Two-file runs with Parquet inputs (``losscli mse p.parquet t.parquet``, and Parquet beside NPY
or CSV) stream in lockstep, as two CSV/NPY files do (issue 8): each file read a batch at a time
through pyarrow's batch reader. Any block size gives the in-memory run's value, --grad-out,
--reduction none and --check; what the whole-file reader refuses (a column that is not numeric,
a null, NaN, different row counts) is refused with its message, word for word; the memory
does not grow with the file."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli.sources as sources
from losscli import engine
from losscli.cli import app

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()
BLOCKS = [1, 7, 64, 10_000]


def _parquet(path, columns: dict, row_group_size: int | None = None):
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def _run(monkeypatch, args, *, stream: bool, elements: int = 1 << 20, stdin=None):
    """The CLI, streamed (every two-file run, ``elements`` values a block) or held in memory;
    ``.streamed`` says which path the engine took."""
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements)
    calls = []
    real = engine._Run.streamed
    monkeypatch.setattr(engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k))
    r = runner.invoke(app, [str(a) for a in args], input=stdin)
    monkeypatch.setattr(engine._Run, "streamed", real)
    r.streamed = bool(calls)
    return r


@pytest.fixture
def pair(tmp_path):
    """mse inputs of 50 rows × 3: predictions as float64 and float32 columns, targets with an
    int64 column (rounded to float64 as the whole-file reader rounds it), row groups of 16."""
    rng = np.random.default_rng(8)
    p, t = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    t[:, 2] = rng.integers(-5, 5, 50)
    preds = {"a": p[:, 0], "b": p[:, 1].astype(np.float32), "c": p[:, 2]}
    targets = {"x": t[:, 0], "y": t[:, 1], "k": t[:, 2].astype(np.int64)}
    _parquet(tmp_path / "p.parquet", preds, 16)
    _parquet(tmp_path / "t.parquet", targets, 16)
    np.save(tmp_path / "t.npy", t)
    np.savetxt(tmp_path / "t.csv", t, delimiter=",")
    return tmp_path


def _same(got, one):
    np.testing.assert_allclose(got["value"], one["value"], rtol=1e-12, atol=0)
    if "grad" in one:
        np.testing.assert_allclose(got["grad"], one["grad"], rtol=1e-12, atol=1e-300)
    if "check" in one:
        assert got["check"]["passed"] == one["check"]["passed"] is True
        assert got["check"]["checked"] == one["check"]["checked"]
        for key in ("max_abs_err", "max_rel_err"):
            np.testing.assert_allclose(got["check"][key], one["check"][key], rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("targets", ["t.parquet", "t.npy", "t.csv"])
@pytest.mark.parametrize("elements", BLOCKS)
def test_two_parquet_files_stream_as_in_memory(monkeypatch, pair, targets, elements):
    p, t = pair / "p.parquet", pair / targets
    for extra in ([], ["--grad"], ["-r", "none"], ["-r", "none", "--grad"], ["--check"]):
        args = ["mse", p, t, *extra, "-f", "json"]
        one = _run(monkeypatch, args, stream=False)
        got = _run(monkeypatch, args, stream=True, elements=elements)
        assert (one.exit_code, got.exit_code) == (0, 0), (one.stderr, got.stderr)
        assert (one.streamed, got.streamed) == (False, True)
        _same(json.loads(got.stdout), json.loads(one.stdout))
    # --grad-out: the same file (NPY, scaled as written: the rows are known from the footer)
    one_out, out = pair / "one.npy", pair / f"g{elements}.npy"
    assert _run(monkeypatch, ["mse", p, t, "--grad-out", one_out], stream=False).exit_code == 0
    r = _run(monkeypatch, ["mse", p, t, "--grad-out", out], stream=True, elements=elements)
    assert r.exit_code == 0 and r.streamed, r.stderr
    np.testing.assert_allclose(np.load(out), np.load(one_out), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("elements", BLOCKS)
def test_parquet_logits_and_labels_stream_as_in_memory(monkeypatch, tmp_path, elements):
    # ce --logits from a Parquet of 4 logit columns and one of int labels; NPY labels too
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(40, 4)), rng.integers(0, 4, 40)
    _parquet(tmp_path / "z.parquet", {f"z{j}": z[:, j] for j in range(4)}, 9)
    _parquet(tmp_path / "y.parquet", {"label": y}, 9)
    np.save(tmp_path / "y.npy", y)
    for labels in ("y.parquet", "y.npy"):
        args = ["ce", tmp_path / "z.parquet", tmp_path / labels, "--logits", "--grad", "--check"]
        one = _run(monkeypatch, [*args, "-f", "json"], stream=False)
        got = _run(monkeypatch, [*args, "-f", "json"], stream=True, elements=elements)
        assert (one.exit_code, got.exit_code) == (0, 0), (one.stderr, got.stderr)
        assert got.streamed
        _same(json.loads(got.stdout), json.loads(one.stdout))


def _refused(monkeypatch, tmp_path, args, expected: str):
    """Streamed (blocks of one row) and in memory: the same one line, exit 2, nothing else."""
    out = tmp_path / "g.npy"
    for stream in (True, False):
        r = _run(monkeypatch, [*args, "--grad-out", out], stream=stream, elements=1)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", expected), stream
        assert not out.exists()


def test_a_null_deep_in_the_file_is_the_whole_file_readers_error(monkeypatch, tmp_path):
    # nulls at rows 37 and 41 of column "b" (row groups of 10; the first block holding one is
    # the 38th): counted over the file, as the whole-file reader counts them
    b = [float(i) for i in range(50)]
    b[37] = b[41] = None
    p = _parquet(tmp_path / "p.parquet", {"a": np.ones(50), "b": b}, 10)
    t = _parquet(tmp_path / "t.parquet", {"x": np.zeros(50), "y": np.zeros(50)})
    _refused(
        monkeypatch,
        tmp_path,
        ["mse", p, t],
        f'Error: {p}: column "b" has 2 missing values (first at row 37); remove or impute '
        "them; pick the numeric columns with --pred-col/--target-col\n",
    )


def test_nan_and_inf_are_the_whole_file_readers_error(monkeypatch, tmp_path):
    y = np.zeros(30)
    y[[12, 20]] = np.nan
    y[5] = np.inf  # NaN is named first, as the whole-file reader names it
    p = _parquet(tmp_path / "p.parquet", {"a": np.ones(30)})
    t = _parquet(tmp_path / "t.parquet", {"y": y}, 8)
    _refused(
        monkeypatch,
        tmp_path,
        ["mse", p, t],
        f'Error: {t}: column "y" contains 2 NaN values (first at row 12); remove or impute '
        "them; pick the numeric columns with --pred-col/--target-col\n",
    )


def test_a_column_that_is_not_numeric_is_refused_before_reading(monkeypatch, tmp_path):
    p = _parquet(tmp_path / "p.parquet", {"a": np.ones(4), "s": ["u", "v", "w", "x"]})
    t = _parquet(tmp_path / "t.parquet", {"x": np.zeros(4), "y": np.zeros(4)})
    _refused(
        monkeypatch,
        tmp_path,
        ["mse", p, t],
        f'Error: {p}: column "s" is not numeric (type string); numeric columns: a; pick the '
        "numeric columns with --pred-col/--target-col\n",
    )


def test_different_row_counts_are_refused_from_the_footers(monkeypatch, tmp_path):
    p = _parquet(tmp_path / "p.parquet", {"a": np.ones(30)})
    t = _parquet(tmp_path / "t.parquet", {"y": np.zeros(31)})
    _refused(
        monkeypatch,
        tmp_path,
        ["mse", p, t],
        f"Error: {p}, {t}: predictions and targets differ in shape: (30,) vs (31,)\n",
    )
    # beside a CSV, whose rows are counted as it is read
    (tmp_path / "t.csv").write_text("0\n" * 29)
    _refused(
        monkeypatch,
        tmp_path,
        ["mse", p, tmp_path / "t.csv"],
        f"Error: {p}, {tmp_path / 't.csv'}: predictions and targets differ in shape: (30,) vs "
        "(29,)\n",
    )


def test_a_damaged_parquet_file_is_one_line(monkeypatch, tmp_path):
    p = tmp_path / "p.parquet"
    p.write_bytes(b"PAR1" + b"\0" * 64)
    t = _parquet(tmp_path / "t.parquet", {"y": np.zeros(3)})
    r = _run(monkeypatch, ["mse", p, t], stream=True, elements=1)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: {p}: not a valid Parquet file (")
    assert len(r.stderr.splitlines()) == 1


def test_two_parquet_files_stream_in_bounded_memory(tmp_path):
    # 5M rows each (80 MB of float64 together, past the 64 MiB threshold as decoded; the files,
    # dictionary-encoded, are a few MB); held whole, the run holds the tables and their arrays
    n = 5_000_000
    rng = np.random.default_rng(0)
    _parquet(tmp_path / "p.parquet", {"yhat": np.round(rng.normal(size=n), 1)})
    _parquet(tmp_path / "t.parquet", {"y": np.round(rng.normal(size=n), 1)})
    assert sum(os.stat(tmp_path / f).st_size for f in ("p.parquet", "t.parquet")) < 64 << 20
    args = ["mse", str(tmp_path / "p.parquet"), str(tmp_path / "t.parquet")]
    streamed, value = peak_rss_mib(args, {"LOSSCLI_CHUNK_ELEMENTS": "64Ki"})
    whole, same = peak_rss_mib(args, {"LOSSCLI_STREAM_BYTES": "1T"})
    assert abs(float(value) - float(same)) <= 1e-12 * abs(float(same))
    assert streamed < 200 and streamed < whole - 100, (streamed, whole)


def test_parquet_on_stdin_streams_as_the_file(monkeypatch, pair):
    # stdin is copied to a file (its format from its first bytes, PAR1), then read as that file
    args = ["mse", "-", pair / "t.parquet", "--grad", "-f", "json"]
    one = _run(monkeypatch, ["mse", pair / "p.parquet", *args[2:]], stream=False)
    data = (pair / "p.parquet").read_bytes()
    got = _run(monkeypatch, args, stream=True, elements=7, stdin=data)
    assert (one.exit_code, got.exit_code) == (0, 0), got.stderr
    assert got.streamed
    _same(json.loads(got.stdout), json.loads(one.stdout))


def test_without_pyarrow_two_parquet_files_give_the_readers_error(monkeypatch, pair):
    import sys

    monkeypatch.setattr(sources, "_importable", lambda module: module != "pyarrow")
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import pyarrow raises ImportError
    r = _run(monkeypatch, ["mse", pair / "p.parquet", pair / "t.parquet"], stream=True)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {pair / 'p.parquet'}: reading Parquet needs pyarrow: pip install pyarrow (or, "
        "from a losscli checkout, pip install '.[parquet]')\n"
    )
