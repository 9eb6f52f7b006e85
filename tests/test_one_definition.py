"""Each thing defined once (issue 13, item 12): no module reaches into another's private
names (neither `from x import _y` nor `obj._attr` for an `_attr` its own module does not
define), and LOBSTER's empty-level price is written in one place."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "rlexec"
PENDING: set[tuple[str, str]] = set()
"""Known and being fixed on another branch (risk/ belongs to another helper): the lead
empties this set when that branch is merged."""


def _own_private_names(tree: ast.AST) -> set[str]:
    """Private names this module defines: attributes it assigns, slots, keywords, functions,
    classes."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            own.add(node.value)  # __slots__ entries
        elif isinstance(node, ast.keyword) and node.arg:
            own.add(node.arg)  # e.g. argparse's set_defaults(_command=...)
    return {name for name in own if name.startswith("_")}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _violations(source: str, where: str) -> set[tuple[str, str]]:
    tree = ast.parse(source, where)
    own = _own_private_names(tree)
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rlexec"):
            found |= {(where, a.name) for a in node.names if _private(a.name)}
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            found.add((where, node.attr))
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found: set[tuple[str, str]] = set()
    for path in sorted(ROOT.rglob("*.py")):
        found |= _violations(path.read_text(), str(path.relative_to(ROOT.parent)))
    assert found - PENDING == set()


def test_the_check_catches_both_kinds() -> None:
    source = (
        "from rlexec.risk.decision import _ISSUER\n\ndef f(book):\n    return book._bid_prices\n"
    )
    assert _violations(source, "probe.py") == {("probe.py", "_ISSUER"), ("probe.py", "_bid_prices")}
    assert _violations("class A:\n    def f(self, o):\n        self._x = o._x\n", "ok.py") == set()


def test_lobster_empty_price_is_written_once() -> None:
    where = {
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in (9_999_999_999, -9_999_999_999)
    }
    assert where == {"rlexec/market/book.py"}
