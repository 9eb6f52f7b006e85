"""A take whose price is where children of ours already rest keeps them; one that cannot
cross rests.

A limit parent away from the market prices a take at its limit (the far touch plus the collar,
clamped): children resting at that very price are as good as an IOC there and hold their queue
position, so the plan keeps them (oldest first, as a rest does). It used to cancel them all and
send an IOC for the whole quantity at the limit. When the limit holds the take behind the far
touch, an IOC cannot fill at all: every RL "take" decision then sent one that died, spending
messages and the overlay's rate budget for nothing, so such a take now rests at the limit
(DAY). A take the limit lets through the far touch is still an IOC; a schedule algo behind
with such a limit rests its shortfall with the slice.

The plan is checked pure; on a real Service that is never logged on (the plan is what is
checked, the send then fails); and end to end against `rlexec venue` over FIX on loopback with
an `rl` parent whose policy (the shipped one, still consulted) is pinned to rest, then take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rlexec.gateway.execution import ExecKind
from rlexec.market.features import ExecutionState
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.models.algos import PolicyAlgo
from rlexec.models.contract import ACTIONS, Action, Tactic
from rlexec.models.port import Cancel, ChildView, New, Replace, plan_take
from rlexec.service.config import ParentSpec
from rlexec.service.live_execution import LiveExecution
from rlexec.service.oms import ChildState
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
    offline_service,
    settings,
    start_venue,
    wait_for,
    warm_up,
)

LIMIT = 5_790_000  # $579.00: a buy limit a dollar under the bid
S = 1_000_000_000
IOC = TimeInForce.IOC


# -- the plan ------------------------------------------------------------------------------


def test_a_take_keeps_what_rests_at_its_price_and_takes_only_the_rest() -> None:
    at_limit = ChildView("A", LIMIT, 300, 0)
    elsewhere = ChildView("B", LIMIT - 100, 200, 0)
    assert plan_take([at_limit, elsewhere], 500, LIMIT) == [Cancel("B"), New(200, LIMIT, IOC)]


def test_a_take_covered_by_what_rests_sends_no_ioc_and_shrinks_the_excess() -> None:
    older, straddles, later = (ChildView(i, LIMIT, 300, 100) for i in "ABC")
    # 500 wanted: A (300) kept whole, B shrunk in place to 200 open (keeps its priority)
    assert plan_take([older, straddles, later], 500, LIMIT) == [
        Replace("B", 300, LIMIT),
        Cancel("C"),
    ]
    assert plan_take([older], 300, LIMIT) == []
    assert plan_take([older], 0, LIMIT) == [Cancel("A")]  # nothing wanted: nothing kept


def test_a_take_counts_an_ioc_in_flight_but_not_a_child_being_cancelled() -> None:
    ioc = ChildView("T", LIMIT, 100, 0, pending=True, rests=False, ioc=True)
    cancelling = ChildView("X", LIMIT - 100, 200, 0, pending=True, rests=False)
    arriving = ChildView("N", LIMIT, 50, 0, pending=True)  # a DAY at the price, unacknowledged
    elsewhere = ChildView("R", LIMIT - 100, 70, 0, pending=True)  # a replace in flight
    steps = plan_take([ioc, cancelling, arriving, elsewhere], 500, LIMIT)
    assert steps == [New(350, LIMIT, IOC)]  # 500 - the IOC's 100 - the 50 arriving at the price


def test_without_our_children_at_its_price_a_take_is_what_it_was() -> None:
    """The replay's case (no limit: the take is through the far touch, where nothing of ours
    rests): cancel everything, one IOC for the whole quantity."""
    working = [ChildView("A", BID, 300, 0), ChildView("B", BID - 100, 200, 50)]
    assert plan_take(working, 800, ASK + 200) == [
        Cancel("A"),
        Cancel("B"),
        New(800, ASK + 200, IOC),
    ]


# -- on a Service --------------------------------------------------------------------------


def _limit_parent(svc: Service, limit: int = LIMIT) -> tuple[Parent, LiveExecution]:
    """A working TWAP buy of 2,000 with limit price `limit`, started on the offline book."""
    spec = ParentSpec(symbol="AAPL", side="buy", quantity=2_000, horizon_s=600.0, algo="twap",
                      limit_price=limit / 10_000)  # fmt: skip
    parent = svc.parents.submit(spec)
    state = ExecutionState(Side.BUY, 2_000, NY_10AM_NS, NY_10AM_NS + 600 * S, (BID + ASK) / 2)
    parent.ex = svc.parents.execution(parent, svc.markets["AAPL"], state)
    return parent, parent.ex


def _resting(svc: Service, parent: Parent, cl: str, qty: int, price: int) -> None:
    intent = OrderIntent("AAPL", Side.BUY, qty, OrderType.LIMIT, price, TimeInForce.DAY, parent.id)
    svc.oms.record_new(cl, intent, parent.id, NY_10AM_NS)
    svc.on_execution(report(ExecKind.NEW, cl, order_qty=qty, price=price))


async def test_a_take_clamped_behind_the_far_touch_rests_at_the_limit() -> None:
    """The limit holds the take a dollar under the bid: an IOC there could not fill. What the
    children resting at the limit do not cover rests there too (DAY), never an IOC."""
    svc = await offline_service()
    parent, ex = _limit_parent(svc)
    assert ex.price_for(Tactic.CROSS) == LIMIT  # ask + collar, clamped
    assert not ex.marketable(LIMIT)
    _resting(svc, parent, "R1", 500, LIMIT)
    _resting(svc, parent, "R2", 300, BID)  # not at the take's price: cancelled for it
    ex.work(700, Tactic.CROSS)
    log = ex.reset_log()
    assert log.plans == [[Cancel("R2"), New(200, LIMIT)]]
    r1 = svc.oms.get("R1")
    assert r1 is not None and r1.state is ChildState.NEW  # untouched: its queue position kept


async def test_a_take_the_limit_lets_through_the_far_touch_is_still_an_ioc() -> None:
    """A limit above the ask (a buy) leaves the take marketable: it is the IOC it was, for
    what the children already resting at its price do not cover."""
    svc = await offline_service()
    parent, ex = _limit_parent(svc, ASK + 5 * 100)
    take = ex.price_for(Tactic.CROSS)
    assert take is not None and take > ASK and ex.marketable(take)
    _resting(svc, parent, "R1", 500, take)
    ex.work(700, Tactic.CROSS)
    assert ex.reset_log().plans == [[New(200, take, IOC)]]


async def test_twap_behind_schedule_with_a_limit_inside_the_spread_sends_no_ioc() -> None:
    """A TWAP buy whose limit sits between the bid and the ask, behind its schedule: its take
    would be an IOC at the limit, under the ask, that cannot fill (and it cancelled the slice
    resting at the bid for it, every decision). The shortfall now rests with the slice."""
    svc = await offline_service()
    inside = BID + 100
    assert inside < ASK
    parent, ex = _limit_parent(svc, inside)
    algo = parent.algo
    algo.start(ex, 10, 60.0)
    _resting(svc, parent, "R1", 200, BID)  # the first slice, unfilled: 200 behind at step 1
    algo.decide(ex, 1, 10)
    (plan,) = ex.reset_log().plans
    assert plan == [New(200, BID)]  # 200 behind + 200 due, 200 of them already resting
    assert all(not (isinstance(s, New) and s.time_in_force is IOC) for s in plan)


# -- against the venue ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


def _rest_then_take(algo: PolicyAlgo) -> list[Tactic]:
    """Pin the shipped policy's action: the first decision rests (at the touch, i.e. at the
    limit), every later one takes, both at the even rate. The policy itself is still asked; the
    drift monitor's distrust (after a short warm-up it may flag trade_count) is set aside, or
    the schedule would decide instead of the pinned action."""
    real, tactics = algo.choose, list[Tactic]()
    algo.trusted = None
    rest, take = (
        ACTIONS.index(Action(1.0, Tactic.PASSIVE)),
        ACTIONS.index(Action(1.0, Tactic.CROSS)),
    )

    def choose(observation: Sequence[float]) -> int | None:
        real(observation)
        tactics.append(Tactic.PASSIVE if not tactics else Tactic.CROSS)
        return rest if len(tactics) == 1 else take

    algo.choose = choose
    return tactics


@pytest.mark.slow
@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_an_rl_take_at_the_limit_keeps_the_child_resting_there(
    venue: Venue, side: str
) -> None:
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        parent = service.parents.submit(limit_away(service, side, "rl"))
        assert isinstance(parent.algo, PolicyAlgo)
        tactics = _rest_then_take(parent.algo)
        await wait_for("four decisions", lambda: parent.decisions >= 4, within=60)
        ex = parent.ex
        assert ex is not None and ex.limit_price is not None
        limit = ex.limit_price
        assert tactics[:4] == [Tactic.PASSIVE, Tactic.CROSS, Tactic.CROSS, Tactic.CROSS]
        children = [c for c in service.oms.all() if c.parent_id == parent.id]
        assert {c.price for c in children} == {limit}  # never through the limit
        # the takes cannot cross: they rest at the limit with the first slice, no IOC at all
        assert all(c.time_in_force is TimeInForce.DAY for c in children), children
        first = min(children, key=lambda c: c.created_ns)
        assert not first.is_terminal  # the first decision's slice kept its place in the queue
        assert parent.state is ParentState.WORKING and parent.filled == 0
        assert sum(c.quantity for c in children if not c.is_terminal) <= 2_000
        assert parent.denials == 0
        await cancel_and_settle(service, parent)
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0
