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
