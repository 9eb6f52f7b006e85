"""`bench/state.py` runs and prints the one JSON object it promises (a small run; not the timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL

BENCH = Path(__file__).resolve().parent.parent / "bench" / "state.py"


@pytest.mark.redis
def test_bench_prints_one_json_object(redis_url: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--records", "2000", "--runs", "1", "--redis", REDIS_URL],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for name in ("put_child", "add_fill", "next_id"):
        assert 0 < result[f"{name}_p50_us"] <= result[f"{name}_p99_us"]
    assert result["drain_memory_records_per_s"] > 0
    assert result["drain_redis_records_per_s"] > 0, "Redis answered, so it is measured"
