"""A one-file table the fast (pyarrow) reader hands back to the exact reader streams: the
exact reader's rules and errors (losscli.frame.text_frames / ScannedFrame, the same cell and
number code as the whole-file reader) a chunk at a time. Each case runs streamed (small
blocks, many of them; reading the file whole fails the test) and in memory (a huge
TABLE_STREAM_BYTES) and must print the same, exit the same. Written independently of
tests/test_table_exact_stream.py (by a second engineer against a second implementation of
the same change), kept as a second set of cases: values pyarrow refuses, which error wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from peak_rss import peak_rss_mib
from typer.testing import CliRunner

import losscli.sources as sources
from losscli.cli import app

runner = CliRunner()

N = 200  # rows of each table


def _table(tmp_path: Path, bad_row: int | None, cell: str, *, sep: str = ",") -> Path:
    rng = np.random.default_rng(7)
    lines = [sep.join(["id", "yhat", "y"])]
    for i in range(N):
        lines.append(sep.join([f"r{i}", repr(float(rng.normal())), repr(float(rng.normal()))]))
    if bad_row is not None:
        lines[1 + bad_row] = cell.replace("ID", f"r{bad_row}")
    path = tmp_path / ("t.tsv" if sep == "\t" else "t.csv")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _never_whole(self):
    raise AssertionError("the table was read whole")


def _run(monkeypatch, path: Path, stream: bool, block: int = 7, args=()):
    if stream:
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1)
        monkeypatch.setattr(sources, "STREAM_BYTES", 1)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block)
        monkeypatch.setattr(sources._TableFile, "_read_exact", _never_whole)
    else:
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1 << 50)
        monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 50)
    r = runner.invoke(
        app,
        ["mse", str(path), "--pred-col", "yhat", "--target-col", "y", "--id-col", "id", *args],
    )
    monkeypatch.undo()
    return r.exit_code, r.stdout, r.stderr


# (bad cell as the whole line, the error after "Error: predictions file <path>: ")
KINDS = {
    "empty": ("ID,,0.5", 'column "yhat" has an empty value at line {line}'),
    "nan": (
        "ID,nan,0.5",
        'column "yhat" contains 1 NaN value (first at line {line}); remove or impute them',
    ),
    "text": (
        "ID,abc,0.5",
        "column \"yhat\" is not numeric ('abc' at line {line}); numeric columns: y",
    ),
    "fields": ("ID,0.5", "line {line} has 2 fields, expected 3 (as on line 1)"),
    "infinite": (  # pyarrow reads 1e5000 as inf, as float() does
        "ID,0.5,1e5000",
        'column "y" contains 1 infinite value (first at line {line}); remove or impute them',
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("row", [0, N // 2, N - 1])
@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_errors_are_the_in_memory_ones(tmp_path, monkeypatch, kind, row, block):
    cell, message = KINDS[kind]
    path = _table(tmp_path, row, cell)
    got = _run(monkeypatch, path, True, block)
    want = _run(monkeypatch, path, False)
    assert got == want
    assert got[0] == 2
    error = f"Error: {path}: {message.format(line=row + 2)}"
    assert " ".join(got[2].split()) == error


@pytest.mark.parametrize("row", [0, N // 2, N - 1])
@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_a_value_only_the_exact_reader_takes(tmp_path, monkeypatch, row, block):
    # a no-break space after the number: pyarrow refuses "1.5\xa0", the exact reader strips it
    # (str.strip) and reads 1.5; and a digit of another script ("\u0661" is 1 to float())
    path = _table(tmp_path, row, "ID,1.5\u00a0,0.25")
    if row != N - 1:
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[N] = "r199,\u0661,0.5"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = _run(monkeypatch, path, True, block, ["-r", "none", "-f", "plain", "--grad"])
    want = _run(monkeypatch, path, False, args=["-r", "none", "-f", "plain", "--grad"])
    assert got == want
    assert got[0] == 0
    assert f"r{row},1.5625\n" in got[1]
    assert f"r{row},2.5\n" in got[1]  # its gradient 2 (1.5 - 0.25)
    if row != N - 1:
        assert "r199,0.25\n" in got[1]  # (1 - 0.5)²


def test_errors_first_in_the_file_by_the_whole_readers_rules(tmp_path, monkeypatch):
    # a NaN early and an empty cell late in the same column: the empty cell is named (cells
    # that are no numbers come before NaN); a field-count mismatch comes before both
    path = _table(tmp_path, 3, "ID,nan,0.5")
    lines = path.read_text().splitlines()
    lines[150] = "r149,,0.5"
    path.write_text("\n".join(lines) + "\n")
    got = _run(monkeypatch, path, True, 7)
    assert got == _run(monkeypatch, path, False)
    assert 'column "yhat" has an empty value at line 151' in " ".join(got[2].split())
    lines[190] = "r189,1"
    path.write_text("\n".join(lines) + "\n")
    got = _run(monkeypatch, path, True, 7)
    assert got == _run(monkeypatch, path, False)
    assert "line 191 has 2 fields, expected 3 (as on line 1)" in " ".join(got[2].split())


def test_nan_counted_over_the_whole_file(tmp_path, monkeypatch):
    path = _table(tmp_path, 5, "ID,0.5,nan")
    lines = path.read_text().splitlines()
    lines[180] = "r179,0.5,nan"
    path.write_text("\n".join(lines) + "\n")
    got = _run(monkeypatch, path, True, 7)
    assert got == _run(monkeypatch, path, False)
    message = 'column "y" contains 2 NaN values (first at line 7); remove or impute them'
    assert message in " ".join(got[2].split())


@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_whitespace_table_streams_as_in_memory(tmp_path, monkeypatch, block):
    path = _table(tmp_path, None, "", sep=" ")
    lines = path.read_text().splitlines()
    path.write_text("\n\n" + "\n".join(line.replace(" ", "   ") for line in lines) + "\n")
    got = _run(monkeypatch, path, True, block, ["-r", "none", "-f", "plain", "--grad"])
    want = _run(monkeypatch, path, False, args=["-r", "none", "-f", "plain", "--grad"])
    assert got == want
    assert got[0] == 0
    assert got[1].count("\n") >= 2 * N


def test_an_empty_cell_near_the_end_is_refused_in_bounded_memory(tmp_path):
    rows = 400_000
    rng = np.random.default_rng(1)
    values = rng.normal(size=(rows, 2))
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write("id,yhat,y\n")
        for i in range(0, rows, 50_000):
            part = values[i : i + 50_000]
            f.write("".join(f"{i + k},{a!r},{b!r}\n" for k, (a, b) in enumerate(part.tolist())))
    with open(path, "a") as f:
        f.write(f"{rows},,0.5\n")
    args = ["mse", str(path), "--pred-col", "yhat", "--target-col", "y", "--id-col", "id"]
    env = {"LOSSCLI_TABLE_STREAM_BYTES": "1", "LOSSCLI_CHUNK_ELEMENTS": "30000"}
    streamed_mib, _ = peak_rss_mib(args, env)
    whole_mib, _ = peak_rss_mib(args, {"LOSSCLI_TABLE_STREAM_BYTES": str(1 << 50)})
    baseline_mib, _ = peak_rss_mib(["--version"], {})
    # the whole-file reader holds ~50 bytes per byte of the 16 MB file; the scan a piece
    assert streamed_mib - baseline_mib < 120, (streamed_mib, whole_mib, baseline_mib)
    assert whole_mib - baseline_mib > 2 * (streamed_mib - baseline_mib)


@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_weight_column_and_index_stream_as_in_memory(tmp_path, monkeypatch, block):
    # a pandas index column ("" header, counting 0, 1, …) and a weight column, one cell of
    # which only the exact reader takes; then an index that skips a row (the index error)
    rng = np.random.default_rng(3)
    lines = [",yhat,y,w"]
    for i in range(N):
        a, b, w = rng.normal(), rng.normal(), rng.uniform(0.5, 2)
        lines.append(f"{i},{a!r},{b!r},{w!r}")
    lines[100] = "99,0.5,0.25,2\u00a0"
    path = tmp_path / "w.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["mse", str(path), "--pred-col", "yhat", "--target-col", "y", "--weight-col", "w"]

    def run(stream):
        if stream:
            monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1)
            monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block)
            monkeypatch.setattr(sources._TableFile, "_read_exact", _never_whole)
        else:
            monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1 << 50)
        r = runner.invoke(app, [*args, "-r", "none", "-f", "plain"])
        monkeypatch.undo()
        return r.exit_code, r.stdout, r.stderr

    got = run(True)
    assert got == run(False)
    assert got[0] == 0
    assert "\n0.125\n" in got[1]  # row 99: 2 · (0.5 − 0.25)²
    lines[150] = "150" + lines[150][3:]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = run(True)
    assert got == run(False)
    assert got[0] == 2
    assert "data row 150 holds 150, not 149" in " ".join(got[2].split())
