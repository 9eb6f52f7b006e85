"""bench/scale.py runs end to end on its loopback cluster and reports what it says (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.train]


def test_the_scale_benchmark_reports_local_and_cluster_runs_and_overheads() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scale.py"), "--episodes", "2", "--chunk", "2"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for run in ("local", "cluster_cold", "cluster_warm"):
        assert result[run]["episodes"] == 2 * 2 * 2 and result[run]["tasks"] == 4
        assert result[run]["cpu_ms_per_episode"] > 0
    assert sum(result["cluster_warm"]["tasks_per_node"]) == 4
    overhead = result["overhead"]
    assert overhead["file_mb"] > 1 and overhead["per_task_us"] > 0
    assert result["cluster_warm"]["bytes_shipped"] > overhead["file_mb"] * 1e6


def test_bad_counts_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "scale.py"), "--chunk", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "must be positive" in done.stderr
