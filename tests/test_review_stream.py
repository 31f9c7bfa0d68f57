"""Review of the streamed stdin / --against paths: cases the features' own tests missed."""

from __future__ import annotations

import gzip
import tempfile

import pytest
from typer.testing import CliRunner

import losscli.sources as sources
from losscli.cli import app

runner = CliRunner()


@pytest.fixture(params=["whole", "streamed"])
def mode(request, monkeypatch, tmp_path):
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    if request.param == "streamed":
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 64)
    return folder


def test_gzip_piped_to_stdin_is_one_clear_error(tmp_path, mode):
    # Before: 'Error: <stdin>: file is not UTF-8 text; save it as UTF-8' (misleading).
    (tmp_path / "t.csv").write_text("1\n2\n3\n")
    data = gzip.compress(b"1.5\n2\n2.5\n")
    r = runner.invoke(app, ["mse", "-", str(tmp_path / "t.csv"), "-f", "plain"], input=data)
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: <stdin>: gzip-compressed data on stdin; decompress it first "
        "(e.g. `gunzip -c FILE.gz | losscli …`), or give the .gz file by name\n"
    )
    assert r.stdout == ""
    assert list(mode.iterdir()) == []  # no spool left behind


@pytest.mark.parametrize(
    ("extra", "ids"),
    [
        ([], None),  # one number: no per-row array for ids to run beside
        (["--top", "1"], None),  # the top entry carries its own "id"
        (["--grad"], ["a", "b", "c"]),
        (["--reduction", "none"], ["a", "b", "c"]),
    ],
)
def test_json_ids_only_beside_a_per_row_array_whole_or_streamed(tmp_path, mode, extra, ids):
    # Before: a run read whole printed every row's id beside a single mean; streamed, none.
    import json

    table = tmp_path / "s.csv"
    table.write_text("id,yhat,y\na,1,0\nb,2,0\nc,4,1\n")
    args = ["mse", str(table), "--pred-col", "yhat", "--target-col", "y", "--id-col", "id"]
    r = runner.invoke(app, [*args, *extra, "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc.get("ids") == ids
    if extra == ["--top", "1"]:
        assert doc["top"][0]["id"] == "c" and doc["top"][0]["loss"] == 9.0  # (4 − 1)²
    if not extra:
        assert doc["value"] == pytest.approx(14 / 3, rel=1e-15)  # (1 + 4 + 9) / 3


@pytest.mark.parametrize(
    ("compress", "kind", "command", "suffix"),
    [
        ("bz2", "bzip2", "bunzip2 -c FILE.bz2", "bz2"),
        ("lzma", "xz", "xz -dc FILE.xz", "xz"),
    ],
)
def test_other_compressed_data_piped_to_stdin_is_one_clear_error(
    tmp_path, mode, compress, kind, command, suffix
):
    import importlib

    data = importlib.import_module(compress).compress(b"1,2\n3,4\n" * 50)
    (tmp_path / "t.csv").write_text("1,2\n3,4\n" * 50)
    r = runner.invoke(app, ["mse", "-", str(tmp_path / "t.csv")], input=data)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: <stdin>: {kind}-compressed data on stdin; decompress it first "
        f"(e.g. `{command} | losscli …`), or give the .{suffix} file by name\n"
    )
    assert list(mode.iterdir()) == []  # refused before any copy was made


def test_a_csv_starting_with_the_letters_bzh_is_text(tmp_path, mode):
    # "BZh" alone is no bzip2 stream (its level and block magic follow): a header is text
    (tmp_path / "t.csv").write_text("BZh\n0\n3\n")
    r = runner.invoke(
        app, ["mse", "-", str(tmp_path / "t.csv"), "-f", "plain"], input="BZh\n1\n1\n"
    )
    assert (r.exit_code, r.stdout) == (0, "2.5\n"), r.output  # ((1 − 0)² + (1 − 3)²) / 2
