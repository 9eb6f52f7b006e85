"""bench/kill.py runs end to end: the kill over HTTP cancels every child and says so (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_kill_benchmark_cancels_every_child() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "kill.py"), "--children", "30", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["children"] == 30
    for key in ("kill_to_last_cancel_p50_ms", "kill_to_last_cancel_p99_ms", "all_confirmed_p99_ms"):
        assert result[key] > 0
    assert result["all_confirmed_p99_ms"] >= result["kill_to_last_cancel_p99_ms"]


def test_bad_counts_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "kill.py"), "--children", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "must be positive" in done.stderr
