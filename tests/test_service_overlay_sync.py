"""What the risk overlay holds for working orders matches what can still fill at the venue,
through the paths the OMS alone sees: a replace overtaken by a fill, and a restart."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import hotpath
from rlexec.gateway.execution import ExecKind
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import Approval, Denial, Reason
from rlexec.service.config import ServiceSettings
from rlexec.service.oms import ChildOrder, ChildState
from rlexec.service.recovery import Recovery
from rlexec.service.runtime import Service
from rlexec.service.state import StoredState
from tests.oms_support import cancel_reject, report

P = hotpath.MID - hotpath.TICK


def limit(side: Side, qty: int, price: int) -> OrderIntent:
    return OrderIntent("AAPL", side, qty, OrderType.LIMIT, price, TimeInForce.DAY)


async def test_a_growing_replace_overtaken_by_a_full_fill_leaves_nothing_reserved() -> None:
    """The old 100 fill while a replace to 150 is in flight; the venue then refuses the
    replace (too late). The overlay must not keep the 50 of growth, nor the order."""
    rig = await hotpath.build(7, parent=False, horizon_s=60.0)
    service = rig.service
    overlay, now = service.overlay, service.clock.now_ns
    service.gate.next_id = lambda parent_id: service.client.next_cl_ord_id()  # no parent here
    approval = overlay.check(limit(Side.BUY, 100, P), now())
    assert isinstance(approval, Approval), approval
    child = service.gate.send(approval)
    cl = child.cl_ord_id
    service.on_execution(report(ExecKind.NEW, cl, order_qty=100, price=P))
    grow = overlay.check_replace(child.current_cl_ord_id, 150, P, now())
    assert isinstance(grow, Approval), grow
    request = service.gate.replace(grow, child)
    assert overlay.position("AAPL").working_buy_qty == 150
    service.on_execution(report(ExecKind.FILL, cl, order_qty=100, last_qty=100, last_px=P,
                                cum_qty=100, avg_px=P, price=P))  # fmt: skip
    assert child.state is ChildState.FILLED
    service.on_cancel_reject(cancel_reject(request, cl, replace=True, text="too late"))
    view = overlay.position("AAPL")
    assert (view.position, view.working_buy_qty, overlay.working_orders) == (100, 0, 0)
    assert not overlay.holds(cl) and not overlay.holds(request)
    assert overlay.n_unknown_order_events == 0
    # a sell at that price is no longer refused as crossing a buy of ours that is gone
    assert isinstance(overlay.check(limit(Side.SELL, 100, P), now()), Approval)


MID = 580 * 10_000
NY_10AM_NS = int(datetime(2012, 6, 21, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000_000


def restored(cl: str, side: Side, qty: int, price: int, **kw: object) -> ChildOrder:
    child = ChildOrder(cl_ord_id=cl, current_cl_ord_id=cl, parent_id=None, symbol="AAPL",
                       side=side, quantity=qty, price=price, time_in_force=TimeInForce.DAY,
                       order_type=OrderType.LIMIT, created_ns=0, updated_ns=0,
                       state=ChildState.NEW, accepted=True)  # fmt: skip
    for key, value in kw.items():
        setattr(child, key, value)
    return child


async def test_after_a_restart_the_overlay_counts_every_child_still_working() -> None:
    """The restarted overlay approved none of the last process's orders; until their cancels
    are confirmed (for good, if one is refused) they can fill, so they are held."""
    service = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    await service.store.open()
    await service.store.load()
    service.clock.observe(NY_10AM_NS)
    overlay = service.overlay
    overlay.on_market("AAPL", MID, service.clock.now_ns())
    children = [
        restored("A-1", Side.BUY, 61_000, MID - 100, cum_qty=10_000),
        restored("A-2", Side.BUY, 30_000, MID - 200, state=ChildState.PENDING_REPLACE,
                 pending_cl_ord_id="A-3", pending_quantity=40_000, pending_price=MID - 50),
        restored("A-4", Side.SELL, 500, MID + 300, state=ChildState.FILLED, cum_qty=500),
    ]  # fmt: skip
    for child in children:
        service.oms.restore(child)
        service.gate.risk_ids[child.cl_ord_id] = child.current_cl_ord_id
    recovery = Recovery(service, StoredState({}, {}, {}, None, ()))
    recovery.reserve_working()
    recovery.reserve_working()  # twice changes nothing
    view = overlay.position("AAPL")
    assert overlay.working_orders == 2
    assert view.working_buy_qty == 51_000 + 40_000  # a replace in flight: its larger terms
    # default limits: 100,000 long; 91,000 held, so 10,000 more would pass it
    denial = overlay.check(limit(Side.BUY, 10_000, MID - 300), service.clock.now_ns())
    assert isinstance(denial, Denial) and denial.reason is Reason.MAX_LONG_POSITION, denial
    crossing = overlay.check(limit(Side.SELL, 100, MID - 50), service.clock.now_ns())
    assert isinstance(crossing, Denial) and crossing.reason is Reason.SELF_MATCH, crossing
    # the cancels confirmed: nothing is held any more
    for cl in ("A-1", "A-2"):
        done = service.oms.get(cl)
        assert done is not None
        done.state = ChildState.CANCELED
        service.on_done(done)
    view = overlay.position("AAPL")
    assert (overlay.working_orders, view.working_buy_qty) == (0, 0)
    assert overlay.n_unknown_order_events == 0
