"""DESIGN's import rules, checked on the source: which of our packages each package may use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "rlexec"
ALLOWED = {
    "market": set(),
    "gateway": {"market"},
    "risk": {"market"},
    "simulator": {"market", "gateway"},
    "models": {"market", "simulator"},
    "scale": {"market", "simulator", "models"},
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level >= 2:
            found.add("<relative import beyond its package>")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "rlexec" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package: str) -> None:
    violations = {
        str(path.relative_to(ROOT.parent)): sorted(bad)
        for path in (ROOT / package).rglob("*.py")
        if (bad := imported_packages(path) - ALLOWED[package] - {package})
    }
    assert violations == {}
