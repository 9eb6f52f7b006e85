"""`rlexec.risk` imports nothing of ours but `rlexec.market`: checked in the source and at run time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import rlexec.risk

RISK_DIR = Path(rlexec.risk.__file__).resolve().parent
FORBIDDEN = ("service", "models", "gateway", "simulator", "cli")


def _our_imports(path: Path) -> list[str]:
    """Every `rlexec.*` module a file imports (relative imports resolved against rlexec.risk)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.split(".")[0] == "rlexec")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["rlexec", "risk"][: max(0, 2 - (node.level - 1))]
                module = ".".join([*base, *([node.module] if node.module else [])])
                found.append(module)
                if not node.module:
                    found.extend(f"{module}.{a.name}" for a in node.names)
            elif node.module and node.module.split(".")[0] == "rlexec":
                found.append(node.module)
                if node.module == "rlexec":
                    found.extend(f"rlexec.{a.name}" for a in node.names)
    return found


def test_risk_sources_import_only_market_and_themselves() -> None:
    files = sorted(RISK_DIR.glob("*.py"))
    assert len(files) >= 5
    bad: list[str] = []
    for path in files:
        for module in _our_imports(path):
            parts = module.split(".")
            if parts == ["rlexec"] or parts[1] in ("market", "risk"):
                continue
            bad.append(f"{path.name}: {module}")
    assert not bad, f"rlexec.risk must import only rlexec.market: {bad}"


def test_the_ast_walker_would_notice_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "import rlexec.gateway.codec\nfrom rlexec.service import x\nfrom .. import models\n"
        "def f():\n    from rlexec.simulator import engine\n",
        encoding="utf-8",
    )
    found = _our_imports(sample)
    assert {"rlexec.gateway.codec", "rlexec.service", "rlexec.models", "rlexec.simulator"} <= set(
        found
    )


def test_importing_risk_loads_no_forbidden_package() -> None:
    code = (
        "import json, sys\n"
        "import rlexec.risk, rlexec.risk.testing, rlexec.risk.metrics\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    everything = json.loads(out.stdout)
    loaded = [m for m in everything if m.split(".")[0] == "rlexec"]
    assert "rlexec.risk.overlay" in loaded
    offenders = [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in FORBIDDEN]
    assert not offenders, f"importing rlexec.risk loaded {offenders}"
    assert not any(m.split(".")[0] in ("redis", "aiohttp", "onnxruntime") for m in everything)
