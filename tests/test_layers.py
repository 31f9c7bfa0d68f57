"""The readers' dependency goes one way: ``tables`` ← ``io`` ← ``frame`` (issue 8: ``io`` and
``frame`` used to import each other); ``layout``, the reading rules, is pure and imports
nothing of losscli but the errors."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "losscli"


def _imported(module: str) -> set[str]:
    """The losscli modules ``module`` imports (at the top or inside functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.module in (None, "losscli"):  # from . import layout
            found.update(alias.name for alias in node.names)
        elif node.level or node.module.startswith("losscli."):
            found.add(node.module.removeprefix("losscli.").split(".")[0])
    return found


def test_io_does_not_import_frame():
    assert _imported("io") == {"errors", "layout", "tables"}


def test_tables_needs_only_the_errors():
    assert _imported("tables") == {"errors"}


def test_frame_builds_on_io_and_tables():
    assert _imported("frame") == {"io", "layout", "tables"}


def test_layout_needs_only_the_errors():
    assert _imported("layout") <= {"errors"}
