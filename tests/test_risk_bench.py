"""`bench/risk.py` runs and prints the one JSON object it promises (a small run; not the timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "risk.py"


def test_bench_prints_one_json_object() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--checks", "3000", "--runs", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"checks_per_s", "p50_us", "p99_us"} <= set(result)
    assert result["checks_per_s"] > 0
    assert 0 < result["p50_us"] <= result["p99_us"]
