"""Every example in README.md and docs/*.md runs, and prints what the page says.

- ``console`` blocks are terminal transcripts: each ``$ command`` line runs in bash, on a
  pseudo-terminal 80 columns wide (so the default format is the table, as a reader at a
  terminal sees it), in a fresh copy of ``examples/`` per page (later commands of a page see
  the files earlier ones wrote); the lines after it, up to the next ``$`` line, are what the
  terminal shows (stdout and stderr as they interleave). Colour is off (``NO_COLOR``) and
  escape codes are dropped.
- ``>>>`` examples (Python) run as doctests from the repository root.
- The set-up commands of the README are the ones ``.ci/run`` runs.

``python tests/test_docs.py`` rewrites the outputs in the pages from real runs (then review the
diff); the tests fail whenever a page and the program disagree.
"""

from __future__ import annotations

import doctest
import os
import pty
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```console\n(.*?)^```\n", re.S | re.M)
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def examples(text: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` for every ``$`` line of the page's console blocks."""
    found = []
    for block in FENCE.finditer(text):
        command, output = None, []
        for line in block.group(1).splitlines():
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, "\n".join(output)))
                command, output = line[2:], []
            elif command is not None:
                output.append(line)
        if command is not None:
            found.append((command, "\n".join(output)))
    return found


def _bin_dir() -> Path:
    """A folder with a ``losscli`` that runs this checkout, first on PATH."""
    folder = Path(tempfile.mkdtemp(prefix="losscli-bin-"))
    script = folder / "losscli"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from losscli.cli import main\n"
        # the guard a console script has: Dask's spawned workers import this file as __main__
        "if __name__ == '__main__':\n    main()\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def run_on_terminal(command: str, cwd: Path, bin_dir: Path) -> str:
    """What a terminal 80 columns wide shows for ``command`` (bash), escape codes dropped."""
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "COLUMNS": "80",
        "LINES": "200",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LOSSCLI_THREADS": "1",
        "PYTHONPATH": str(ROOT),  # Dask's worker processes import this checkout too
    }
    pid, fd = pty.fork()
    if pid == 0:  # the child: bash on the terminal
        os.chdir(cwd)
        os.execve("/bin/bash", ["bash", "--noprofile", "--norc", "-c", command], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    os.close(fd)
    text = ESCAPES.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")
    return "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n")).strip("\n")


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def run_page(page: Path) -> list[tuple[str, str, str]]:
    """``(command, expected, actual)`` for each example of ``page``."""
    work = Path(tempfile.mkdtemp(prefix="losscli-docs-"))
    bin_dir = _bin_dir()
    try:
        shutil.copytree(ROOT / "examples", work, dirs_exist_ok=True)
        return [
            (command, _normalise(expected), run_on_terminal(command, work, bin_dir))
            for command, expected in examples(page.read_text())
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(bin_dir, ignore_errors=True)


# docs/inputs.md makes its own files (odd delimiters, pandas indexes): tests/test_docs_inputs.py
# runs its examples.
OWN_HARNESS = {ROOT / "docs" / "inputs.md"}
PAGES_WITH_EXAMPLES = [p for p in PAGES if examples(p.read_text()) and p not in OWN_HARNESS]


NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
RULES = re.compile(r"[─━═]+")


def _shape_and_numbers(text: str) -> tuple[list[str], list[float]]:
    """The text with numbers taken out (box rules and padding collapsed), and the numbers."""
    numbers = [float(n) for n in NUMBER.findall(text)]
    shape = [" ".join(RULES.sub("─", NUMBER.sub("#", line)).split()) for line in text.split("\n")]
    return shape, numbers


def same_output(expected: str, actual: str) -> bool:
    """Equal, or equal but for the last bits of floats.

    numpy picks its exp/log kernels by CPU (AVX2, AVX-512), so a gradient's last digit and a
    sum's rounding (0.7275 vs 0.7274999999999999) can differ between machines; those numbers
    must agree to 1e-12 relative, and everything else (words, order, layout) exactly. Numbers
    both under 1e-8 are a check's rounding noise (``max_abs_err=2.0e-11``): same sign and
    within a factor of 10.
    """
    if actual == expected:
        return True
    (shape_e, nums_e), (shape_a, nums_a) = _shape_and_numbers(expected), _shape_and_numbers(actual)
    return (
        shape_e == shape_a
        and len(nums_e) == len(nums_a)
        and all(_close(e, a) for e, a in zip(nums_e, nums_a, strict=True))
    )


def _close(e: float, a: float) -> bool:
    if max(abs(e), abs(a)) < 1e-8:
        return (e > 0) == (a > 0) and (e == a or (e != 0 and a != 0 and 0.1 <= e / a <= 10))
    return abs(e - a) <= 1e-12 * max(abs(e), abs(a))


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shell_examples_print_what_the_page_says(page):
    for command, expected, actual in run_page(page):
        assert same_output(expected, actual), f"{page.name}: $ {command}\n{actual}"


def test_outputs_differing_beyond_float_noise_are_not_the_same():
    assert same_output("│ Value │ 0.7275 │", "│ Value │ 0.7274999999999999 │")
    assert not same_output("0.7275", "0.7276")
    assert not same_output("0.7275 ok", "0.7275 fail")
    assert not same_output("1,2", "2,1")
    assert same_output("max_abs_err=2.0e-11", "max_abs_err=3.7e-12")
    assert not same_output("max_abs_err=2.0e-11", "max_abs_err=2.0e-13")


# Pages the README links to that land from other branches of issue 9's round; empty this set
# once they are merged (then every link must resolve).
LANDING: set[str] = set()


def test_the_readme_has_shell_examples_and_a_docs_index():
    text = (ROOT / "README.md").read_text()
    assert len(examples(text)) >= 5
    links = re.findall(r"\]\((docs/[^)#]+)\)", text)
    assert {"docs/losses.md", "docs/json.md", "docs/performance.md"} <= set(links)
    for link in links:
        assert (ROOT / link).exists() or link in LANDING, link


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_examples_run(page):
    """Every ``>>>`` example of the page runs as shown (from the repository root)."""
    test = doctest.DocTestParser().get_doctest(page.read_text(), {}, page.name, str(page), 0)
    if not test.examples:
        return
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the examples read sample_data/
    try:
        runner.run(test)
    finally:
        os.chdir(cwd)
    assert runner.failures == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_example_is_a_console_block(page):
    """A losscli command shown in another kind of block would not be run: say so here."""
    language = None  # the language of the fenced block the line is in, None outside one
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language not in (None, "console"):
            words = line.lstrip("$ ").split()
            if words[:1] == ["losscli"] or "| losscli" in line:
                assert line == "pip install . && losscli ce --logits --grad", line


def test_readme_set_up_commands_are_the_ci_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "pip install '.[test]' && python -m pytest"
    assert test_command in ci and f"\n{test_command}\n" in readme
    assert "\npip install . && losscli ce --logits --grad\n" in readme
    assert "python3 -m venv .venv" in readme


def update(pages: list[Path]) -> None:
    """Rewrite the output under each ``$`` line of the console blocks from a real run."""
    for page in pages:
        text = page.read_text()
        runs = iter(run_page(page))

        def fill(block: re.Match, runs=runs) -> str:
            lines = []
            for line in block.group(1).splitlines():
                if line.startswith("$ "):
                    command, _, actual = next(runs)
                    assert command == line[2:]
                    lines.append(line)
                    if actual:
                        lines.append(actual)
            return "```console\n" + "\n".join(lines) + "\n```\n"

        new = FENCE.sub(fill, text)
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    update([Path(p).resolve() for p in sys.argv[1:]] or PAGES_WITH_EXAMPLES)
