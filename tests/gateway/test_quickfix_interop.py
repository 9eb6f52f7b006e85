"""rlexec's FIX engine against QuickFIX 1.16 (C++), as initiator and as acceptor.

Collected only when `quickfix` is installed (see conftest.py). Each scenario runs in its own
process inside a fresh network namespace, and reports what both engines saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HELPER = Path(__file__).with_name("quickfix_interop.py")


def run_scenario(name: str) -> dict[str, object]:
    command = f"ip link set lo up && exec {sys.executable} {HELPER} {name}"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def assert_clean_session(side: object) -> None:
    assert isinstance(side, dict)
    assert side["logged_on_after_heartbeats"] is True
    assert side["heartbeats_in"] >= 1 and side["heartbeats_out"] >= 1
    assert side["rejects_received"] == 0 and side["rejects_sent"] == 0
    assert side["garbled_received"] == 0
    assert side["disconnects_logout"] == 1


def test_our_initiator_trades_with_a_quickfix_acceptor() -> None:
    result = run_scenario("qf_acceptor")
    cl = result["cl_ord_id"]
    assert result["reports"] == [["new", cl, 0, None], ["fill", cl, 100, 5_853_300]]
    assert_clean_session(result["ours"])
    quickfix = result["quickfix"]
    assert isinstance(quickfix, dict)
    assert (quickfix["logons"], quickfix["logouts"]) == (1, 1)
    assert quickfix["admin_in"].get("0", 0) >= 1  # our heartbeats
    assert quickfix["admin_in"].get("3") is None  # QuickFIX never rejected anything of ours
    assert quickfix["app_in"] == [{"35": "D", "11": cl, "55": "AAPL"}]


def test_a_quickfix_initiator_trades_with_our_acceptor() -> None:
    result = run_scenario("qf_initiator")
    assert result["venue_received"] == ["D"]
    quickfix = result["quickfix"]
    assert isinstance(quickfix, dict)
    assert (quickfix["logons"], quickfix["logouts"]) == (1, 1)
    assert quickfix["admin_in"].get("3") is None
    reports = quickfix["app_in"]
    assert [(r["150"], r["39"], r["14"]) for r in reports] == [
        ("0", "0", "0"),
        ("F", "1", "50"),
        ("F", "2", "100"),
    ]
    assert all(r["11"] == "QF-1" for r in reports)
    assert_clean_session(result["ours"])
