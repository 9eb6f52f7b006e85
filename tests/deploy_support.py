"""Shared by the deploy tests: where the files are, and running promtool with a clear failure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
METRIC = re.compile(r"\b(rlexec_[a-z0-9_]+|up)\b")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (scripts/ensure-promtool.sh)"
    return found


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label names and functions are not `rlexec_*`)."""
    return {m for m in METRIC.findall(expr) if m != "up"}
