"""A parent's resting orders while something else of it is in flight, and a limit parent held
away from the market.

- A schedule's slice rests even though the catch-up take it sent a moment earlier (an IOC,
  not yet answered) or a child being cancelled is still open: neither will ever rest, so
  neither may stand in for the slice (they used to, and a TWAP that fell behind once rested
  nothing again: every later slice was crossed).
- A limit parent that the market never reaches rests its schedule at its limit and keeps it
  there, through the horizon takes, instead of cancelling it for IOCs that cannot fill.

The first part runs on a real Service that is never logged on (the plan is what is checked;
the send then fails); the second against `rlexec venue` over FIX on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.gateway.execution import ExecKind
from rlexec.market.features import ExecutionState
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.models.port import ChildView, New, plan_rest
from rlexec.service.config import ParentSpec
from rlexec.service.live_execution import LiveExecution
from rlexec.service.parents import Parent, ParentState
from rlexec.service.runtime import Service
from tests.oms_support import report
from tests.service_support import (
    ASK,
    BID,
    NY_10AM_NS,
    Venue,
    cancel_and_settle,
    limit_away,
    monitor_actions,
    offline_service,
    settings,
    start_venue,
    wait_for,
    warm_up,
)

S = 1_000_000_000


def _parent(svc: Service) -> tuple[Parent, LiveExecution]:
    parent = svc.parents.submit(
        ParentSpec(symbol="AAPL", side="buy", quantity=5_000, horizon_s=600.0, algo="twap")
    )
    state = ExecutionState(Side.BUY, 5_000, NY_10AM_NS, NY_10AM_NS + 600 * S, (BID + ASK) / 2)
    parent.ex = svc.parents.execution(parent, svc.markets["AAPL"], state)
    return parent, parent.ex


def _child(svc: Service, parent: Parent, cl: str, tif: TimeInForce, price: int) -> None:
    """A child of 500 recorded as sent (PENDING_NEW: the venue has not answered yet)."""
    intent = OrderIntent("AAPL", Side.BUY, 500, OrderType.LIMIT, price, tif, parent.id)
    svc.oms.record_new(cl, intent, parent.id, NY_10AM_NS)


def _planned_news(ex: LiveExecution) -> list[New]:
    log = ex.reset_log()
    return [s for plan in log.plans for s in plan if isinstance(s, New)]


async def test_the_slice_rests_while_the_catch_up_ioc_is_unanswered() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc)
    _child(svc, parent, "T1", TimeInForce.IOC, ASK + 200)  # the take, just sent
    ex.rest(500, BID)
    assert [(n.quantity, n.price, n.time_in_force) for n in _planned_news(ex)] == [
        (500, BID, TimeInForce.DAY)
    ]


async def test_the_slice_rests_while_an_old_child_is_being_cancelled() -> None:
    svc = await offline_service()
    parent, ex = _parent(svc)
    _child(svc, parent, "R1", TimeInForce.DAY, BID - 100)
    svc.on_execution(report(ExecKind.NEW, "R1", order_qty=500, price=BID - 100))
    svc.oms.record_cancel("R1", "X1", NY_10AM_NS)  # its cancel is in flight
    ex.rest(500, BID)
    assert [(n.quantity, n.price) for n in _planned_news(ex)] == [(500, BID)]


async def test_an_unanswered_resting_child_still_counts_and_nothing_overfills() -> None:
    """A DAY child not yet acknowledged will rest: the plan adds nothing next to it. And what
    rests beside an IOC in flight is capped by the parent's remaining less all that is open."""
    svc = await offline_service()
    parent, ex = _parent(svc)
    _child(svc, parent, "D1", TimeInForce.DAY, BID)
    ex.rest(500, BID)
    assert _planned_news(ex) == []
    _child(svc, parent, "T1", TimeInForce.IOC, ASK + 200)
    for n in range(8):  # with these, 5,000 are open: the whole parent
        _child(svc, parent, f"F{n}", TimeInForce.IOC, ASK + 200)
    ex.rest(1_000, BID)  # 500 more at BID wanted: no room
    outcomes = ex.reset_log().outcomes
    assert [o.result for o in outcomes] == ["skipped"], outcomes


def test_plan_rest_counts_only_what_will_rest() -> None:
    ioc = ChildView("T1", ASK + 200, 300, 0, pending=True, rests=False)
    cancelling = ChildView("C1", BID, 200, 0, pending=True, rests=False)
    replacing = ChildView("R1", BID, 100, 0, pending=True)
    assert plan_rest([ioc, cancelling, replacing], 500, BID) == [New(400, BID)]


# -- against the venue ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.mark.slow
@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_a_limit_parent_away_from_the_market_rests_at_its_limit(
    venue: Venue, side: str
) -> None:
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        parent = service.parents.submit(limit_away(service, side, "twap"))
        await wait_for("the parent to start", lambda: parent.ex is not None)
        ex = parent.ex
        assert ex is not None and ex.limit_price is not None
        limit = ex.limit_price
        await wait_for("three horizon takes", lambda: parent.horizon_takes >= 3, within=60)
        children = [c for c in service.oms.all() if c.parent_id == parent.id]
        assert parent.state is ParentState.WORKING and parent.filled == 0
        # every slice rested at the limit, none cancelled for an IOC that could not fill, and
        # the horizon takes rested what was left there too (an IOC behind the far touch dies)
        assert {(c.time_in_force, c.price) for c in children} == {(TimeInForce.DAY, limit)}
        resting = sum(c.quantity - c.cum_qty for c in children if not c.is_terminal)
        if monitor_actions(service) == 0:
            assert resting == 2_000
        else:  # a dynamic-risk monitor (a spread blowout, say) scaled some orders down
            assert 0 < resting <= 2_000
        assert parent.denials == 0
        await cancel_and_settle(service, parent)
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0
