"""A paused parent and its horizon, against `rlexec venue` over FIX on loopback.

- A parent still paused when its horizon passes ends CANCELLED ("horizon passed while paused;
  N of Q left"), its working children cancelled, without taking the rest: it used to stay
  paused for ever.
- A parent resumed mid-horizon re-plans what is left over the time that is left: it used to
  catch up its whole missed schedule at once, one IOC through the far touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.market.orders import TimeInForce
from rlexec.service.parents import ParentState
from rlexec.service.runtime import Service
from tests.service_support import (
    Venue,
    monitor_actions,
    settings,
    start_venue,
    submit,
    wait_for,
    warm_up,
)

S = 1_000_000_000


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.mark.slow
async def test_a_parent_paused_past_its_horizon_ends_cancelled_without_taking(
    venue: Venue,
) -> None:
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        parent = submit(service, "twap", quantity=3_000, horizon_s=60.0)
        await wait_for("the first decision", lambda: parent.decisions >= 1)
        service.parents.pause(parent.id)
        paused_at = len(service.oms.all())
        ex = parent.ex
        assert ex is not None
        end_ns = ex.state.end_ns
        left = parent.spec.quantity - parent.filled
        await wait_for("the horizon", lambda: service.clock.now_ns() > end_ns + 2 * S)
        await wait_for("the parent to end", lambda: parent.state.is_terminal, within=10)
        assert parent.state is ParentState.CANCELLED
        left = parent.spec.quantity - parent.filled
        assert parent.reason == f"horizon passed while paused; {left} of 3000 left"
        assert parent.finished_ns is not None and parent.finished_ns >= end_ns
        # nothing was sent after the pause: no sweep of the rest at the horizon
        assert len(service.oms.all()) == paused_at
        children = [c for c in service.oms.all() if c.parent_id == parent.id]
        await wait_for("its children done", lambda: all(c.is_terminal for c in children))
        assert (
            service.registry.get_sample_value(
                "rlexec_service_parents_expired_total", {"state": "paused"}
            )
            == 1
        )
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0


@pytest.mark.slow
async def test_a_resumed_schedule_replans_the_rest_instead_of_catching_up(
    venue: Venue,
) -> None:
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        parent = submit(service, "twap", quantity=4_000, horizon_s=120.0)  # 8 slices of 500
        await wait_for("the first decision", lambda: parent.decisions >= 1)
        service.parents.pause(parent.id)
        ex = parent.ex
        assert ex is not None
        resume_after = ex.state.start_ns + 62 * S  # steps 1-3 missed; step 4 of 8 is due
        await wait_for("a minute paused", lambda: service.clock.now_ns() >= resume_after)
        before = {c.cl_ord_id for c in service.oms.all()}
        filled = parent.filled
        service.parents.resume(parent.id)
        assert parent.state is ParentState.WORKING
        await wait_for("the decision on resume", lambda: parent.decisions >= 2)
        sent = [c for c in service.oms.all() if c.cl_ord_id not in before]
        # no catch-up take: the rest, spread over the four slices left, rests at the touch
        assert all(c.time_in_force is TimeInForce.DAY for c in sent), [
            (c.time_in_force.value, c.quantity) for c in sent
        ]
        due = (service.clock.now_ns() - ex.state.start_ns) // (15 * S)
        left = parent.steps - due
        if monitor_actions(service) == 0:
            assert len(sent) == 1
            assert sent[0].quantity == pytest.approx((4_000 - filled) / left, abs=100)
        else:  # a dynamic-risk monitor may scale the slice down (or pause it): never up
            assert sum(c.quantity for c in sent) <= (4_000 - filled) / left + 100
        service.parents.cancel(parent.id)
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0
