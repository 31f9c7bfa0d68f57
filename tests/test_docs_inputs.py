"""Every example in docs/inputs.md runs, its output compared.

The page's ```` ```text file=NAME ```` blocks are the files; each ``$ losscli …`` line of a
```` ```console ```` block is run through the real app (``cat F | losscli … -`` pipes F to
stdin) in a directory holding those files, and what follows it up to the next ``$`` is its
output: stderr, then stdout, as a terminal shows them. A line starting ``Error:`` means exit 2.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from losscli.cli import app

PAGE = Path(__file__).resolve().parents[1] / "docs" / "inputs.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)
runner = CliRunner()


def blocks():
    return [(m[1], m[2].strip(), m[3]) for m in BLOCK.finditer(PAGE.read_text())]


def examples() -> list[tuple[str, str]]:
    out = []
    for kind, _, body in blocks():
        if kind != "console":
            continue
        command, expected = None, []
        for line in body.splitlines():
            if line.startswith("$ "):
                if command:
                    out.append((command, "".join(expected)))
                command, expected = line[2:], []
            else:
                expected.append(line + "\n")
        out.append((command, "".join(expected)))
    return out


@pytest.fixture
def folder(tmp_path, monkeypatch):
    for _, info, body in blocks():
        if info.startswith("file="):
            (tmp_path / info[5:]).write_text(body)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_page_has_examples():
    assert len(examples()) >= 12


@pytest.mark.parametrize(("command", "expected"), examples(), ids=lambda x: x[:60])
def test_example(folder, command, expected):
    stdin = None
    if command.startswith("cat "):
        source, command = command[4:].split(" | ", 1)
        stdin = (folder / source).read_text()
    args = shlex.split(command)
    assert args[0] == "losscli"
    r = runner.invoke(app, args[1:], input=stdin)
    assert r.stderr + r.stdout == expected
    assert r.exit_code == (2 if "Error: " in expected else 0)
