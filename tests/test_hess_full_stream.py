"""--hess full (ce --logits: N × C × C numbers, at most hessian.HESS_FULL_MAX_ENTRIES) on inputs
that stream (issue 8): the rows are gathered from the source's blocks and refused as soon as
they exceed the limit — before reading when the source knows its rows (Parquet's footer) — so
a file of any size is refused in bounded memory; below the limit the report and --hess-out are
those of the run held in memory, for any block size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli.sources as sources
from losscli import hessian
from losscli.cli import app

runner = CliRunner()

TAIL = (
    "it is for small inputs (at most 16): use --hess for the diagonal, or "
    "losscli.cross_entropy.hess_blocks in Python\n"
)


def _table(tmp_path, n: int, sep: str = ",", ext: str = "csv"):
    rng = np.random.default_rng(n)
    z, y, w = rng.normal(size=(n, 2)).tolist(), rng.integers(0, 2, n).tolist(), rng.random(n)
    path = tmp_path / f"t.{ext}"
    if ext == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids = [f"r{i}" for i in range(n)]
        table = {"id": ids, "z0": [a for a, _ in z], "z1": [b for _, b in z], "label": y, "w": w}
        pq.write_table(pa.table(table), path)
        return path
    lines = [sep.join(["id", "z0", "z1", "label", "w"])]
    for i, ((a, b), c, d) in enumerate(zip(z, y, w.tolist(), strict=True)):
        lines.append(sep.join([f"r{i}", repr(a), repr(b), str(c), repr(d)]))
    path.write_text("\n".join(lines) + "\n")
    return path


COLUMNS = ["--pred-col", "z0,z1", "--target-col", "label", "--logits", "--hess", "full"]


def _invoke(monkeypatch, args, *, stream: bool, elements: int = 1 << 20, stdin=None):
    big = 1 << 62
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else big)
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0 if stream else big)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements)
    return runner.invoke(app, [str(a) for a in args], input=stdin)


@pytest.mark.parametrize("ext", ["csv", "tsv", "parquet"])
@pytest.mark.parametrize("elements", [1, 7, 64, 10_000])
def test_streamed_hess_full_is_the_in_memory_one(tmp_path, monkeypatch, ext, elements):
    path = _table(tmp_path, 40, sep="\t" if ext == "tsv" else ",", ext=ext)
    for extra in (["--id-col", "id", "--top", "3"], ["--weight-col", "w", "-r", "none", "--grad"]):
        args = ["ce", path, *COLUMNS, *extra, "-f", "json"]
        one = _invoke(monkeypatch, [*args, "--hess-out", tmp_path / "one.npy"], stream=False)
        assert one.exit_code == 0, one.stderr
        out = tmp_path / f"h{elements}.npy"
        got = _invoke(monkeypatch, [*args, "--hess-out", out], stream=True, elements=elements)
        assert got.exit_code == 0, got.stderr
        assert got.stdout == one.stdout  # the same bits: value, gradient, blocks, ids
        assert np.shape(json.loads(got.stdout)["hess_blocks"]) == (40, 2, 2)
        assert out.read_bytes() == (tmp_path / "one.npy").read_bytes()


def test_two_streamed_files_give_the_in_memory_hess_full(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    np.savetxt(tmp_path / "z.csv", rng.normal(size=(30, 3)), delimiter=",")
    np.savetxt(tmp_path / "y.csv", rng.integers(0, 3, 30), fmt="%d")
    args = [
        "ce",
        tmp_path / "z.csv",
        tmp_path / "y.csv",
        "--logits",
        "--hess",
        "full",
        "-f",
        "json",
    ]
    one = _invoke(monkeypatch, args, stream=False)
    got = _invoke(monkeypatch, args, stream=True, elements=7)
    assert (one.exit_code, got.exit_code) == (0, 0)
    assert got.stdout == one.stdout


@pytest.fixture
def rows_read(monkeypatch):
    """The rows the streamed sources' blocks hand out in the run (a list of block lengths)."""
    read: list[int] = []
    for cls in (sources.TableInputs, sources.StreamedInputs):

        def counted(self, rows=None, real=cls.blocks):
            for block in real(self, rows):
                read.append(len(block))
                yield block

        monkeypatch.setattr(cls, "blocks", counted)
    return read


def _refused_at(n: int) -> str:
    """The error once ``n`` rows of C = 2 (4n numbers) are read, the limit 16 (pyarrow parses
    64 KiB of text at a time: a block is ~1500 rows of these, whatever the block size)."""
    return (
        f"Error: --hess full would give at least {4 * n:,} numbers (N × C × C for shape ({n}, 2), "
        "the rows read so far); " + TAIL
    )


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_a_text_table_is_refused_once_its_rows_exceed_the_limit(
    tmp_path, monkeypatch, rows_read, ext
):
    # C = 2: 4 numbers a row, 16 allowed; the first block past the limit stops the read
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 16)
    path = _table(tmp_path, 20_000, sep="\t" if ext == "tsv" else ",", ext=ext)
    r = _invoke(monkeypatch, ["ce", path, *COLUMNS], stream=True, elements=2)
    assert (r.exit_code, r.stdout) == (2, "")
    assert len(rows_read) == 1 and rows_read[0] < 20_000  # one block of 20,000 rows
    assert r.stderr == _refused_at(rows_read[0])


def test_stdin_is_refused_once_its_rows_exceed_the_limit(tmp_path, monkeypatch, rows_read):
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 16)
    text = _table(tmp_path, 20_000).read_text()
    r = _invoke(monkeypatch, ["ce", "-", *COLUMNS], stream=True, elements=2, stdin=text)
    assert (r.exit_code, r.stdout) == (2, "")
    assert len(rows_read) == 1 and rows_read[0] < 20_000
    assert r.stderr == _refused_at(rows_read[0])


def test_two_text_files_are_refused_once_their_rows_exceed_the_limit(
    tmp_path, monkeypatch, rows_read
):
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 16)
    (tmp_path / "z.csv").write_text("0,1\n" * 100_000)
    (tmp_path / "y.csv").write_text("1\n" * 100_000)
    args = ["ce", tmp_path / "z.csv", tmp_path / "y.csv", "--logits", "--hess", "full"]
    r = _invoke(monkeypatch, args, stream=True, elements=2)
    assert (r.exit_code, r.stdout) == (2, "")
    assert len(rows_read) == 1 and rows_read[0] < 100_000
    assert r.stderr == _refused_at(rows_read[0])


def test_a_parquet_table_is_refused_from_its_footer(tmp_path, monkeypatch):
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 16)
    path = _table(tmp_path, 1000, ext="parquet")

    def blocks(self, rows=None):
        raise AssertionError("rows read")

    monkeypatch.setattr(sources.TableInputs, "blocks", blocks)
    r = _invoke(monkeypatch, ["ce", path, *COLUMNS], stream=True, elements=2)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: --hess full would give 4,000 numbers (N × C × C for shape (1000, 2)); " + TAIL
    )


def test_small_inputs_below_the_limit_are_unchanged(tmp_path, monkeypatch):
    # 4 rows × 2 × 2 = 16 numbers, the limit: allowed, streamed or not; ¼·[[1, −1], [−1, 1]]
    # per row at logits (0, 0) (softmax ½, ½), over N = 4 for the mean (hand-derived)
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 16)
    path = tmp_path / "t.csv"
    path.write_text("z0,z1,label\n" + "0,0,1\n" * 4)
    for stream in (False, True):
        r = _invoke(monkeypatch, ["ce", path, *COLUMNS, "-f", "json"], stream=stream, elements=2)
        assert r.exit_code == 0, r.stderr
        blocks = json.loads(r.stdout)["hess_blocks"]
        assert blocks == [[[0.0625, -0.0625], [-0.0625, 0.0625]]] * 4


def test_a_csv_many_times_the_limit_is_refused_in_bounded_memory(tmp_path):
    # 1.2M rows of 3 logits: 10.8M numbers, ten times the limit; a 22 MB file, read whole
    # (before) ~1.3 GB resident for a 73 MB one; now the first blocks past the limit
    path = tmp_path / "big.csv"
    path.write_text("z0,z1,z2,label\n" + "0.5,-1.25,2.0,1\n" * 1_200_000)
    args = ["ce", str(path), "--pred-col", "z0,z1,z2", "--target-col", "label", "--logits"]
    peak, out = peak_rss_mib([*args, "--hess", "full"])
    assert out == ""
    assert peak < 150, peak


def test_a_kdim_npy_is_gathered_and_refused_as_in_memory(tmp_path, monkeypatch):
    # (6, 3, 4) logits: the kernel's rows are the 6·4 positions, C = 3, so 24 × 3 × 3 = 216
    rng = np.random.default_rng(5)
    np.save(tmp_path / "z.npy", rng.normal(size=(6, 3, 4)))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, (6, 4)))
    args = ["ce", tmp_path / "z.npy", tmp_path / "y.npy", "--logits", "--hess", "full"]
    one = _invoke(monkeypatch, [*args, "-f", "json"], stream=False)
    got = _invoke(monkeypatch, [*args, "-f", "json"], stream=True, elements=12)
    assert (one.exit_code, got.exit_code) == (0, 0), got.stderr
    assert got.stdout == one.stdout
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 100)
    for stream in (False, True):
        r = _invoke(monkeypatch, args, stream=stream, elements=12)
        assert (r.exit_code, r.stdout) == (2, "")
        assert r.stderr == (
            "Error: --hess full would give 216 numbers (N × C × C for shape (24, 3)); it is for "
            "small inputs (at most 100): use --hess for the diagonal, or "
            "losscli.cross_entropy.hess_blocks in Python\n"
        )


def test_a_folder_of_shards_gives_the_one_files_hess_full(tmp_path, monkeypatch):
    # before: "--against takes one file of predictions, not a folder of shards" (read whole)
    (tmp_path / "s").mkdir()
    text = _table(tmp_path, 20).read_text().splitlines()
    (tmp_path / "s" / "a.csv").write_text("\n".join(text[:11]) + "\n")
    (tmp_path / "s" / "b.csv").write_text("\n".join([text[0], *text[11:]]) + "\n")
    args = [*COLUMNS, "--id-col", "id", "-f", "json"]
    one = _invoke(monkeypatch, ["ce", tmp_path / "t.csv", *args], stream=False)
    got = _invoke(monkeypatch, ["ce", tmp_path / "s", *args], stream=True, elements=7)
    assert (one.exit_code, got.exit_code) == (0, 0), got.stderr
    doc, expected = json.loads(got.stdout), json.loads(one.stdout)
    assert doc["hess_blocks"] == expected["hess_blocks"] and doc["value"] == expected["value"]
