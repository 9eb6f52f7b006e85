"""Recovery: an order sent just before a crash, whose record never reached the store, is found.

The first service's store is cut off (its backend refuses writes) after the parent's id block
is reserved, so the child order it sends next exists only at the venue; the process then
"dies" (sessions dropped, nothing flushed). A second service on the same store asks the venue
about every unused id of the open block, adopts the order into its parent, and rebuilds the
parent's progress and the overlay's position from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from rlexec.service.parents import ParentState
from rlexec.service.runtime import Service
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up

pytestmark = pytest.mark.slow
PAUSED, WORKING = ParentState.PAUSED, ParentState.WORKING


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message, speed=40.0)


async def crash(service: Service) -> None:
    """What kill -9 leaves: sockets closed, no logout, no flush, no cancels."""
    tasks = [*service._tasks, *([service._writer] if service._writer is not None else [])]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for initiator in service._initiators:
        await initiator.stop(logout=False, grace=0.1)
    if service._runner is not None:
        await service._runner.cleanup()


async def test_an_unrecorded_order_is_adopted_by_its_parent(venue: Venue) -> None:
    backend = MemoryBackend()
    first = Service(settings(venue), store=MemoryStateStore(backend))
    await first.start()
    await warm_up(first, 30.0)
    parent = submit(first, "twap", quantity=4_000, horizon_s=600.0)
    await wait_for("the parent's id block", lambda: first.ids_ready(parent))
    await first.store.flush()
    recorded = {c.cl_ord_id for c in first.oms.all()}
    backend.available = False  # from here the store holds nothing new
    before = first.gate.sent
    await wait_for("a new child order at the venue", lambda: first.gate.sent > before)
    sent = [c.cl_ord_id for c in first.oms.all() if c.cl_ord_id not in recorded]
    await crash(first)
    assert not set(sent) & set(backend.data.children), "the store never saw these orders"

    backend.available = True
    second = Service(settings(venue), store=MemoryStateStore(backend))
    await second.start()
    try:
        recovered = second.recovered
        assert recovered["adopted"] >= 1, recovered
        assert recovered["answered"] == recovered["asked"], recovered
        restored = second.parents.parents[parent.id]
        children = [c for c in second.oms.all() if c.parent_id == parent.id]
        assert {c.cl_ord_id for c in children} >= set(sent)
        filled = sum(c.cum_qty for c in children)
        assert restored.filled == filled
        assert second.overlay.position("AAPL").position == filled
        assert not second.oms.working() or all(
            c.pending_cl_ord_id is not None for c in second.oms.working()
        ), "whatever survived the crash is being cancelled"
    finally:
        await second.stop(grace_s=5.0)


async def test_halted_stays_halted_across_a_restart_until_a_person_resumes(venue: Venue) -> None:
    backend = MemoryBackend()
    first = Service(settings(venue), store=MemoryStateStore(backend))
    await first.start()
    killed = first.control.kill("alice", "test: halt before restart")
    assert killed.state == "HALTED"
    await first.stop(grace_s=2.0)

    second = Service(settings(venue), store=MemoryStateStore(backend))
    await second.start()
    try:
        assert second.overlay.state.value == "HALTED"
        assert second.overlay.history[-1].why == "test: halt before restart"
        risk = second.control.resume_trading("bob", "checked with the venue", "ACTIVE")
        assert risk.state == "ACTIVE"
    finally:
        await second.stop(grace_s=2.0)
    third = Service(settings(venue), store=MemoryStateStore(backend))
    assert third.overlay.state.value == "ACTIVE"  # the resume was saved before it took effect


async def test_an_operators_pause_outlives_a_restart_and_a_shutdowns_does_not(venue: Venue) -> None:
    backend = MemoryBackend()
    first = Service(settings(venue), store=MemoryStateStore(backend))
    await first.start()
    try:
        await warm_up(first, 30.0)
        held = submit(first, "twap", quantity=4_000, horizon_s=600.0)
        running = submit(first, "twap", quantity=4_000, horizon_s=600.0)
        await wait_for("both parents to work", lambda: held.state is running.state is WORKING)
        assert first.control.pause_parent(held.id).reason == "requested"
    finally:
        await first.stop(grace_s=5.0)  # pauses `running` too, for the shutdown

    second = Service(settings(venue, resume_parents=True), store=MemoryStateStore(backend))
    await second.start()
    try:
        restored = second.parents.parents
        assert (restored[held.id].state, restored[held.id].reason) == (PAUSED, "requested")
        assert restored[running.id].state is WORKING
        assert second.control.resume_parent(held.id).state == "working"
        assert restored[held.id].reason == ""
    finally:
        await second.stop(grace_s=5.0)


@pytest.mark.parametrize(
    ("stored_day", "daily_pnl", "audit"),
    [
        ("2012-06-21", -300.0, "day_restored"),  # the venue's day: the morning's loss stays
        ("2012-06-20", 0.0, "new_day"),  # yesterday's: today starts afresh
        (None, 0.0, "new_day"),  # a new store
    ],
)
async def test_the_daily_loss_period_is_the_venues_trading_day_across_a_restart(
    venue: Venue, stored_day: str | None, daily_pnl: float, audit: str
) -> None:
    """The store says the day's P&L counted from +$300 (what it held when the day began, now
    gone: $300 lost today before the restart). On the same day that loss still counts."""
    backend = MemoryBackend()
    if stored_day is not None:
        backend.data.meta["day"] = json.dumps({"day": stored_day, "baseline": 300.0})
    service = Service(settings(venue), store=MemoryStateStore(backend))
    await service.start()
    try:
        await warm_up(service, 1.0)
        assert service.overlay.trading_day == date(2012, 6, 21)
        assert service.overlay.daily_pnl == daily_pnl
        assert any(a.action == audit for a in service.overlay.audit)
        await service.store.flush()
        stored = json.loads(backend.data.meta["day"])  # a restore must not rewrite it
        expected: dict[str, object] = {"day": "2012-06-21", "baseline": 0.0, "pending": []}
        if daily_pnl:
            expected = {"day": "2012-06-21", "baseline": 300.0}  # as seeded
        assert stored == expected
        assert service.control.risk().trading_day == "2012-06-21"
        midnight_ny = 1_340_251_200.0  # 2012-06-21 00:00 New York
        gauge = "rlexec_service_trading_day_start_timestamp_seconds"
        await wait_for(gauge, lambda: service.registry.get_sample_value(gauge) == midnight_ny)
    finally:
        await service.stop(grace_s=5.0)
