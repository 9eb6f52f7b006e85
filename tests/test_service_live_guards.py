"""The live adapter's own guards and the parent manager's bookkeeping around them, on a real
Service that is never started (nothing is logged on, so a send fails after the risk check):
participation caps, a capped-to-nothing order, the horizon take under a limit price, the end
of a parent while its market data is stale, and what is counted as a child order."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rlexec.gateway.execution import ExecKind
from rlexec.market.features import ExecutionState
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.models.contract import Tactic
from rlexec.models.port import New, Replace
from rlexec.service import runtime
from rlexec.service.config import ParentSpec
from rlexec.service.live_execution import LiveExecution, StepOutcome
from rlexec.service.parents import Parent, ParentState
from rlexec.service.recovery import parent_record, restore_parent
from rlexec.service.runtime import Service
from tests.oms_support import report
from tests.service_support import ASK, BID, NY_10AM_NS, offline_service

S = 1_000_000_000


def _parent(svc: Service, **spec: object) -> tuple[Parent, LiveExecution]:
    """A submitted parent (pending: a never-started service reserves no ids) and its live
    execution, built as the parent manager builds it."""
    fields: dict[str, object] = {"symbol": "AAPL", "side": "buy", "quantity": 5_000,
                                 "horizon_s": 600.0, "algo": "twap"}  # fmt: skip
    parent = svc.parents.submit(ParentSpec.model_validate(fields | spec))
    state = ExecutionState(Side.BUY, parent.spec.quantity, NY_10AM_NS, NY_10AM_NS + 600 * S,
                           (BID + ASK) / 2)  # fmt: skip
    parent.ex = svc.parents.execution(parent, svc.markets["AAPL"], state)
    return parent, parent.ex


def _fill(svc: Service, parent: Parent, qty: int) -> None:
    """A child of `qty` acknowledged and filled through the OMS (its listeners: the parent,
    the overlay), and the trade printed on the feed."""
    cl = f"F{len(svc.oms.all())}"
    intent = OrderIntent("AAPL", Side.BUY, qty, OrderType.LIMIT, ASK, TimeInForce.DAY, parent.id)
    svc.oms.record_new(cl, intent, parent.id, NY_10AM_NS)
    svc.on_execution(report(ExecKind.NEW, cl, order_qty=qty, price=ASK))
    svc.on_execution(report(ExecKind.FILL, cl, order_qty=qty, last_qty=qty, last_px=ASK,
                            cum_qty=qty, avg_px=ASK, price=ASK))  # fmt: skip
    svc.markets["AAPL"].on_trade(NY_10AM_NS + S, qty, int(Side.BUY), ASK)


def _outcomes(ex: LiveExecution) -> list[StepOutcome]:
    return ex.reset_log().outcomes


async def test_participation_counts_the_others_volume_not_our_own_prints() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc, max_participation=0.5)
    svc.markets["AAPL"].on_trade(NY_10AM_NS + S, 1_000, int(Side.SELL), BID)  # others: 1,000
    _fill(svc, parent, 1_000)  # ours: 1,000 — half of the 2,000 printed, the cap itself
    assert ex.market_volume == 2_000 and ex.others_volume == 1_000
    ex.rest(500, BID)
    (outcome,) = _outcomes(ex)
    assert outcome.result == "skipped" and "→ 0" in outcome.detail
    svc.markets["AAPL"].on_trade(NY_10AM_NS + 2 * S, 1_000, int(Side.SELL), BID)  # others: 2,000
    ex.rest(1_500, BID)  # 1,000 more would make 2,000 of 4,000: allowed, 1,500 is capped
    capped, failed = _outcomes(ex)
    assert (capped.result, capped.detail) == ("capped", "quantity 1500 → 1000")
    assert failed.result == "failed"  # past the caps and the risk check; nothing is logged on


async def test_a_participation_of_one_is_no_cap() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc, quantity=1_000, max_participation=1.0)
    _fill(svc, parent, 500)
    ex.rest(200, BID)
    assert [o.result for o in _outcomes(ex)] == ["failed"]  # not capped: it reached the send


async def test_the_others_volume_survives_a_restart() -> None:
    svc = await offline_service()
    parent, _ = _parent(svc, max_participation=0.2)
    svc.markets["AAPL"].on_trade(NY_10AM_NS + S, 10_000, int(Side.SELL), BID)
    _fill(svc, parent, 500)
    record = parent_record(parent)
    assert record["execution"]["others_volume"] == 10_000
    after = await offline_service()  # a new process: its market has printed nothing yet
    restored = restore_parent(after, record)
    assert restored.ex is not None and restored.ex.others_volume == 10_000
    restored.ex.state.record_fill(ASK, 500)  # what recovery rebuilds from the children
    restored.ex.rest(500, BID)  # 1,000 of 11,000 if filled: well inside 20 %
    assert [o.result for o in _outcomes(restored.ex)] == ["failed"]


async def test_a_new_order_capped_to_nothing_is_skipped_not_denied() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc, quantity=1_000)
    _fill(svc, parent, 600)
    intent = OrderIntent("AAPL", Side.BUY, 400, OrderType.LIMIT, BID, TimeInForce.DAY, parent.id)
    svc.oms.record_new("R1", intent, parent.id, NY_10AM_NS)  # the other 400 rest, acknowledged
    svc.on_execution(report(ExecKind.NEW, "R1", order_qty=400, price=BID))
    ex.work(100, Tactic.CROSS)  # take 100 now: its cancel of R1 is not confirmed yet
    new, cancel = _outcomes(ex)
    assert (new.result, type(cancel.step).__name__) == ("skipped", "Cancel")
    assert sum(svc.overlay.denials.values()) == 0  # the overlay was not asked


@pytest.mark.parametrize("limit", [None, 580.025, 581.0, 580.005, 579.95])
async def test_the_horizon_take_never_goes_through_the_limit_price(limit: float | None) -> None:
    svc = await offline_service()
    _, ex = _parent(svc, limit_price=limit)
    ex.take_rest()
    (step,) = ex.reset_log().plans[-1]
    assert isinstance(step, New) and step.quantity == ex.remaining
    if limit is None:  # as in the replay: the remainder at market
        assert (step.time_in_force, step.order_type, step.price) == (
            TimeInForce.IOC, OrderType.MARKET, None,
        )  # fmt: skip
        return
    on_grid = round(limit * 10_000) // 100 * 100
    assert step.order_type is OrderType.LIMIT
    assert step.price == min(ASK + ex.collar, on_grid)  # never above the limit
    if on_grid >= ASK:  # it can trade: the far touch plus the take collar, at most the limit
        assert step.time_in_force is TimeInForce.IOC
    else:  # an IOC behind the far touch could not fill: the rest waits at the limit instead
        assert step.time_in_force is TimeInForce.DAY


async def test_a_parent_past_its_patience_fails_even_with_stale_market_data() -> None:
    svc = await offline_service()
    svc.parents.ready = lambda parent: True  # its ids: reserved (the service does it live)
    parent = svc.parents.submit(
        ParentSpec(symbol="AAPL", side="buy", quantity=5_000, horizon_s=60.0, algo="twap")
    )
    assert parent.state is ParentState.WORKING and parent.ex is not None
    svc.markets["AAPL"].stale_reason = "RptSeq gap"
    end = parent.ex.state.end_ns
    svc.parents.on_market("AAPL", end + svc.parents.patience_ns // 2)
    states = [parent.state]  # stale inside its patience: it waits
    svc.parents.on_market("AAPL", end + svc.parents.patience_ns + S)
    states.append(parent.state)
    assert states == [ParentState.WORKING, ParentState.FAILED]
    assert "horizon passed" in parent.reason


async def test_a_replace_is_not_counted_as_a_child_order() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc)
    ex.log.outcomes += [
        StepOutcome(New(100, BID), "sent", cl_ord_id="C1"),
        StepOutcome(Replace("C1", 200, BID), "sent", cl_ord_id="C2"),
    ]
    svc.parents._record(parent, ex, 0, NY_10AM_NS, 5_000, (BID, ASK))
    assert parent.children == 1


async def test_the_schedule_gap_gauge_returns_to_zero_when_no_parent_works() -> None:
    svc = await offline_service()
    svc.parents.ready = lambda parent: True
    parent = svc.parents.submit(
        ParentSpec(symbol="AAPL", side="buy", quantity=5_000, horizon_s=60.0, algo="twap")
    )
    labels = {"symbol": "AAPL", "algo": "twap"}
    svc._risk_gauges(NY_10AM_NS + 30 * S)
    gap = svc.registry.get_sample_value("rlexec_service_schedule_gap_shares", labels)
    assert gap is not None and gap < 0  # behind its schedule half-way through
    svc.parents.cancel(parent.id)
    svc._risk_gauges(NY_10AM_NS + 31 * S)
    assert svc.registry.get_sample_value("rlexec_service_schedule_gap_shares", labels) == 0


async def test_a_rejected_cancel_of_a_child_that_must_go_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "CANCEL_RETRY_S", 0.01)
    svc = await offline_service()
    parent, _ = _parent(svc)
    intent = OrderIntent("AAPL", Side.BUY, 100, OrderType.LIMIT, BID, TimeInForce.DAY, parent.id)
    child = svc.oms.record_new("C1", intent, parent.id, NY_10AM_NS)
    svc.overlay.halt("test", "kill switch")
    caplog.set_level(logging.INFO, "rlexec.service")
    svc.on_cancel_rejected(child, "venue busy")
    assert "action=retry" in caplog.text
    await asyncio.sleep(0.1)
    # the retry asked the gate again (nothing is logged on here, so the gate says it could not)
    assert "event=cancel_not_sent cl_ord_id=C1" in caplog.text


async def test_a_rejected_cancel_of_a_wanted_child_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime, "CANCEL_RETRY_S", 0.01)
    svc = await offline_service()
    svc.parents.ready = lambda parent: True
    parent = svc.parents.submit(
        ParentSpec(symbol="AAPL", side="buy", quantity=5_000, horizon_s=60.0, algo="twap")
    )
    intent = OrderIntent("AAPL", Side.BUY, 100, OrderType.LIMIT, BID, TimeInForce.DAY, parent.id)
    child = svc.oms.record_new("C9", intent, parent.id, NY_10AM_NS)
    caplog.set_level(logging.INFO, "rlexec.service")
    svc.on_cancel_rejected(child, "too late")
    await asyncio.sleep(0.1)
    assert "action=none" in caplog.text and "cl_ord_id=C9 error" not in caplog.text


@pytest.mark.parametrize(
    ("side", "limit", "on_grid"),
    [("buy", 585.12345, 5_851_200), ("sell", 585.12345, 5_851_300), ("buy", 585.12, 5_851_200)],
)
async def test_a_limit_off_the_tick_grid_is_rounded_to_the_safe_side(
    side: str, limit: float, on_grid: int
) -> None:
    """The venue refuses an off-grid price, and every child's price is capped by the limit."""
    svc = await offline_service()
    _, ex = _parent(svc, side=side, limit_price=limit)
    assert ex.limit_price == on_grid
