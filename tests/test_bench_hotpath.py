"""The hot-path benchmark runs end to end and really sends orders (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_hotpath_bench_prints_json_and_sends_orders() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "hotpath.py"), "--iterations", "60",
         "--repeat", "1", "--rebuild", "30", "--md-messages", "300", "--ort-iterations", "50",
         "--fix-codec", "both"],
        capture_output=True, text=True, timeout=300, check=True, cwd=REPO,
    )  # fmt: skip
    result = json.loads(out.stdout)
    for key in ("p50_us", "p99_us", "ort_p50_us", "ratio_p50_to_ort", "md_msgs_per_s",
                "ort_run_p50_us", "ratio_p50_to_ort_run", "md_parent_msgs_per_s"):  # fmt: skip
        assert key in result
    assert result["messages"] == 60
    assert result["decisions"] == 60  # every measured message made a decision due
    assert 0 < result["orders_sent"] <= 60
    assert result["p50_us"] > 0 and result["p99_us"] >= result["p50_us"]
    assert result["md_msgs_per_s"] > 0 and result["md_parent_msgs_per_s"] > 0
    assert result["ort_run_p50_us"] > 0
    # the compiled receive loops ran, and the same repeat ran again on their Python reference
    assert result["fix_codec"] == "compiled"
    # the service's decisions ran on the policy kernel; the ORT reference is ONNX Runtime's
    assert result["policy_runtime"] == "compiled"
    assert result["kernel_p50_us"] > 0 and result["ort_p50_us"] > 0
    python = result["python_codec"]
    assert python["p50_us"] > 0 and python["md_msgs_per_s"] > 0
    assert result["compiled_md_over_python"] > 0 and result["python_p50_over_compiled"] > 0


def test_hotpath_bench_refuses_bad_counts() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "hotpath.py"), "--iterations", "0"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--iterations must be positive" in out.stderr
    assert "Traceback" not in out.stderr
