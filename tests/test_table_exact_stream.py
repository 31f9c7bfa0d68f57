"""A streamed one-file table that the fast reader (pyarrow) cannot take — an empty cell, NaN,
a non-number, a row of another width mid-file, or a whitespace-separated table — is read by
the exact reader's rules a chunk of rows at a time (losscli.frame.text_frames), and its error
is the whole-file reader's, found by scanning the file (losscli.frame.ScannedFrame): before,
the whole file was read into memory (~50 bytes a byte of CSV) just to word one line.

Expected: the in-memory run of the same file (every error text pinned by hand below), and
the loss by numpy on the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from peak_rss import peak_rss_mib
from typer.testing import CliRunner

from losscli import sources
from losscli.cli import app

runner = CliRunner()
N = 300
COLS = ["--pred-col", "yhat", "--target-col", "y"]


def table(tmp_path, name="s.csv", sep=",", edit=None, index=False) -> tuple[str, list[list[str]]]:
    rng = np.random.default_rng(5)
    p, t = rng.normal(size=N), rng.normal(size=N)
    rows = [[f"r{i}", repr(float(p[i])), repr(float(t[i]))] for i in range(N)]
    if edit:
        edit(rows)
    head = ["id", "yhat", "y"]
    if index:
        head, rows = ["", *head], [[str(i), *r] for i, r in enumerate(rows)]
    path = tmp_path / name
    path.write_text("\n".join(sep.join(r) for r in [head, *rows]) + "\n")
    return str(path), rows


@pytest.fixture
def both(monkeypatch):
    """(in memory, streamed in blocks of ``chunk`` values and exact chunks of ``exact`` rows)"""

    def invoke(*args: str, chunk: int = 64, exact: int = 7):
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1 << 62)
        whole = runner.invoke(app, list(args))
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", chunk)
        monkeypatch.setattr(sources, "EXACT_CHUNK_ROWS", exact)
        streamed = runner.invoke(app, list(args))
        return whole, streamed

    return invoke


def cell(line: int, col: int, value: str):
    """Set the cell of file line ``line`` (the header is line 1), column ``col`` (0-based)."""

    def edit(rows):
        rows[line - 2][col] = value

    return edit


def both_cells(*edits):
    def edit(rows):
        for e in edits:
            e(rows)

    return edit


CASES = {
    # an empty yhat in the first block, mid-file, on the last line
    "empty-first": (cell(3, 1, ""), 'column "yhat" has an empty value at line 3'),
    "empty-mid": (cell(150, 1, ""), 'column "yhat" has an empty value at line 150'),
    "empty-last": (cell(N + 1, 2, ""), 'column "y" has an empty value at line 301'),
    # predictions are converted first: yhat's problem late is named before y's early one
    "order": (
        both_cells(cell(250, 1, ""), cell(10, 2, "")),
        'column "yhat" has an empty value at line 250',
    ),
    "not-a-number": (
        cell(200, 2, "abc"),
        "column \"y\" is not numeric ('abc' at line 200); numeric columns: yhat",
    ),
    # NaN counted over the whole file, the first named
    "nan": (
        both_cells(cell(120, 1, "nan"), cell(40, 1, "NaN"), cell(290, 1, "nan")),
        'column "yhat" contains 3 NaN values (first at line 40); remove or impute them',
    ),
    # a row of another width comes before any cell's problem, wherever it is
    "width": (
        both_cells(cell(20, 1, ""), lambda rows: rows[279].append("9")),
        "line 281 has 4 fields, expected 3 (as on line 1)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunk, exact", [(2, 1), (64, 7), (10_000, 64), (64, 10_000)])
def test_the_whole_file_readers_error_in_bounded_memory(tmp_path, both, case, chunk, exact):
    edit, message = CASES[case]
    path, _ = table(tmp_path, edit=edit)
    whole, streamed = both("mse", path, *COLS, chunk=chunk, exact=exact)
    assert (whole.exit_code, whole.stderr) == (2, f"Error: {path}: {message}\n")
    assert (streamed.exit_code, streamed.stdout, streamed.stderr) == (2, "", whole.stderr)


@pytest.mark.parametrize("chunk, exact", [(2, 1), (64, 7), (10_000, 64)])
def test_a_whitespace_table_streams_as_read_whole(tmp_path, both, chunk, exact):
    path, rows = table(tmp_path, sep=" ")
    args = ["mse", path, *COLS, "--id-col", "id", "--top", "3", "-f", "json"]
    whole, streamed = both(*args, chunk=chunk, exact=exact)
    assert whole.exit_code == 0 and streamed.exit_code == 0, streamed.stderr
    assert json.loads(streamed.stdout) == json.loads(whole.stdout)
    p = np.array([float(r[1]) for r in rows])
    t = np.array([float(r[2]) for r in rows])
    assert json.loads(streamed.stdout)["value"] == pytest.approx(np.mean((p - t) ** 2), rel=1e-14)


def test_a_pandas_index_is_checked_on_every_chunk(tmp_path, both):
    path, _ = table(tmp_path, index=True)
    whole, streamed = both("mse", path, *COLS, "-f", "plain")
    assert (streamed.exit_code, whole.exit_code) == (0, 0)
    assert float(streamed.stdout) == pytest.approx(float(whole.stdout), rel=1e-13)  # block sums
    # the index skips a value mid-file: the whole file's words, its data row counted from 1
    text = Path(path).read_text().replace("\n149,", "\n1500,")
    Path(path).write_text(text)
    whole, streamed = both("mse", path, *COLS, "-f", "plain")
    assert whole.exit_code == 2 and "data row 150 holds 1500, not 149" in whole.stderr, whole.stderr
    assert (streamed.exit_code, streamed.stderr) == (2, whole.stderr)


def test_an_empty_cell_near_the_end_of_a_big_table_is_refused_in_bounded_memory(tmp_path):
    n = 400_000  # 16 MB of CSV: read whole ~450 MiB, streamed ~140
    rng = np.random.default_rng(0)
    lines = [f"r{i},{x!r},{y!r}\n" for i, (x, y) in enumerate(rng.normal(size=(n, 2)).tolist())]
    lines[n - 5] = f"r{n - 5},,0.5\n"
    path = tmp_path / "big.csv"
    path.write_text("id,yhat,y\n" + "".join(lines))
    args = ["mse", str(path), *COLS]
    streamed_mib, _ = peak_rss_mib(args, {"LOSSCLI_TABLE_STREAM_BYTES": "0"})
    whole_mib, _ = peak_rss_mib(args, {"LOSSCLI_TABLE_STREAM_BYTES": str(1 << 40)})
    assert whole_mib > streamed_mib + 200, (whole_mib, streamed_mib)
