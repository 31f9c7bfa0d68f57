"""The readers' dependency goes one way: ``tables`` ← ``io`` ← ``frame`` (issue 8: ``io`` and
``frame`` used to import each other)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "losscli"


def _imported(module: str) -> set[str]:
    """The losscli modules ``module`` imports (at the top or inside functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            name = node.module.removeprefix("losscli.")
            if node.level or node.module.startswith("losscli"):
                found.add(name.split(".")[0])
    return found


def test_io_does_not_import_frame():
    assert _imported("io") == {"errors", "tables"}


def test_tables_needs_only_the_errors():
    assert _imported("tables") == {"errors"}


def test_frame_builds_on_io_and_tables():
    assert _imported("frame") == {"io", "tables"}
