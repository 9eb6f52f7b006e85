"""The QuickFIX anchor of bench/fix_roundtrip.py runs both workloads and reports them.

Needs the `quickfix` bindings and `unshare --net` (QuickFIX's acceptor binds every
interface); skipped where either is missing.
"""

from __future__ import annotations

import pytest

from bench.fix_roundtrip import quickfix_run


@pytest.mark.parametrize("in_flight", [1, 20])
def test_the_anchor_fills_every_order_and_reports_its_costs(in_flight: int) -> None:
    result = quickfix_run(200, in_flight, dictionary=False)
    assert set(result) == {
        "orders_per_s",
        "ack_p50_us",
        "fill_p50_us",
        "fill_p99_us",
        "client_cpu_us_per_order",
        "venue_cpu_us_per_order",
    }
    assert result["orders_per_s"] > 0
    assert 0 < result["ack_p50_us"] <= result["fill_p50_us"] <= result["fill_p99_us"]
    assert result["client_cpu_us_per_order"] > 0 and result["venue_cpu_us_per_order"] > 0
