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
from collections.abc import Iterator
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
    for task in service._tasks:
        task.cancel()
    for task in service._tasks:
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
