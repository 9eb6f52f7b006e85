"""bench/gc_pause.py runs end to end and freezes a built service's heap (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_gc_benchmark_freezes_a_service_heap_and_reports_both_ways() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gc_pause.py"), "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frozen_objects"] > 10_000  # the model, the settings, the libraries
    assert result["frozen_objects"] <= result["tracked_objects"]
    assert result["full_collection_ms_p50"] > 0
    assert result["frozen_full_collection_ms_max"] >= result["frozen_full_collection_ms_p50"] >= 0


def test_a_bad_repeat_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gc_pause.py"), "--repeat", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--repeat must be positive" in done.stderr
