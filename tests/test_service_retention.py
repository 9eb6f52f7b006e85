"""Retention: what ended before today leaves the live state, and nothing a restart rebuilds
from it changes (positions, realised P&L), while anything that may still trade stays."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlexec.market.orders import Side
from rlexec.service.config import ServiceSettings
from rlexec.service.oms import ChildState
from rlexec.service.parents import ParentState
from rlexec.service.recovery import rebuilt_positions
from rlexec.service.retention import add_fills, select
from rlexec.service.runtime import Service
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from rlexec.service.state_redis import RedisStateStore
from tests.oms_support import filled_child
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up

DAY_NS = 86_400 * 10**9
TODAY = 100 * DAY_NS


def parent(pid: str, state: ParentState, finished_ns: int | None, created_ns: int = 0) -> Any:
    """What `select` reads of a parent: id, state, when it was created and ended."""
    return SimpleNamespace(id=pid, state=state, finished_ns=finished_ns, created_ns=created_ns)


def child(n: int, pid: str | None, state: ChildState, at_ns: int = TODAY - DAY_NS) -> Any:
    c = filled_child(n, Side.BUY, 100, 5_850_000, at_ns)
    c.parent_id, c.state = pid, state
    return c


def test_only_what_ended_before_today_with_every_child_done_is_selected() -> None:
    done_yesterday = parent("A", ParentState.COMPLETED, TODAY - 1)
    cancelled_yesterday = parent("B", ParentState.CANCELLED, TODAY - DAY_NS)
    done_today = parent("C", ParentState.FAILED, TODAY)
    busy_yesterday = parent("D", ParentState.CANCELLED, TODAY - 5)  # a child still working
    working = parent("E", ParentState.WORKING, None)
    paused = parent("F", ParentState.PAUSED, None)
    no_end_time = parent("G", ParentState.COMPLETED, None, created_ns=TODAY - DAY_NS)
    children = [
        child(1, "A", ChildState.FILLED), child(2, "A", ChildState.CANCELED),
        child(3, "C", ChildState.FILLED), child(4, "D", ChildState.FILLED),
        child(5, "D", ChildState.PENDING_CANCEL), child(6, "E", ChildState.FILLED),
        child(7, None, ChildState.FILLED),  # adopted, no parent: ended yesterday
        child(8, None, ChildState.FILLED, at_ns=TODAY),  # ended today
        child(9, None, ChildState.NEW),  # still working
        child(10, "gone", ChildState.EXPIRED),  # its parent's record is lost
    ]  # fmt: skip
    everyone = [done_yesterday, cancelled_yesterday, done_today, busy_yesterday, working, paused,
                no_end_time]  # fmt: skip
    chosen = select(everyone, children, TODAY)
    assert [p.id for p in chosen.parents] == ["A", "B", "G"]
    assert sorted(c.cl_ord_id for c in chosen.children) == ["C1", "C10", "C2", "C7"]


_fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 500),
        st.integers(-300, 300).map(lambda ticks: 5_850_000 + 100 * ticks),
        st.integers(0, 3),  # which archiving pass takes it (3: still live)
    ),
    min_size=1,
    max_size=30,
)


@given(fills=_fills)
def test_positions_rebuilt_from_the_carry_and_the_rest_are_those_from_everything(
    fills: list[tuple[Side, int, int, int]],
) -> None:
    children = [filled_child(n, side, qty, price) for n, (side, qty, price, _) in enumerate(fills)]
    carry: dict[str, Any] = {}
    for archiving in range(3):  # three days' passes, each adding to the carry
        carry = add_fills(
            carry, [c for c, f in zip(children, fills, strict=True) if f[3] == archiving]
        )
    live = [c for c, f in zip(children, fills, strict=True) if f[3] == 3]
    split = rebuilt_positions(live, carry)
    whole = rebuilt_positions(children)
    assert split.keys() == whole.keys()
    for symbol, (pos, avg, realised) in whole.items():
        assert split[symbol][0] == pos
        assert math.isclose(split[symbol][1], avg, rel_tol=1e-12, abs_tol=1e-9)
        assert math.isclose(split[symbol][2], realised, rel_tol=1e-12, abs_tol=1e-3)


# -- a real service, restarted on the next day ----------------------------------------------


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message, speed=40.0)


ARCHIVED = "rlexec_service_state_archived_total"


@pytest.mark.slow
async def test_a_parent_over_before_today_is_archived_and_positions_survive(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    backend = MemoryBackend()
    first = Service(settings(venue), store=MemoryStateStore(backend))
    await first.start()
    try:
        await warm_up(first, 5.0)
        done = submit(first, "twap", quantity=600, horizon_s=30.0)
        await wait_for("the parent to end", lambda: done.state.is_terminal, within=30)
        assert done.state is ParentState.COMPLETED, done.reason
        live = submit(first, "twap", quantity=100_000, horizon_s=3_000.0)  # still working
        await wait_for("a fill of the working parent", lambda: live.filled > 0, within=30)
        first.parents.pause(live.id)
        await wait_for("its children cancelled", lambda: not first.oms.working(), within=10)
        kept = {c.cl_ord_id for c in first.oms.all() if c.parent_id == live.id}
        position = first.overlay.position("AAPL")
    finally:
        await first.stop(grace_s=5.0)
    done_children = {c.cl_ord_id for c in first.oms.all() if c.parent_id == done.id}
    assert done_children and kept
    # The finished parent ended yesterday: its record says so (the venue replays one day).
    record = json.loads(backend.data.parents[done.id])
    record["finished_ns"] -= DAY_NS
    backend.data.parents[done.id] = json.dumps(record)

    second = Service(settings(venue), store=MemoryStateStore(backend))
    await second.start()
    try:
        await wait_for("the archiving pass", lambda: done.id not in second.parents.parents)
        assert live.id in second.parents.parents, "a paused parent may still trade"
        assert {c.cl_ord_id for c in second.oms.all()} == kept
        assert all(second.oms.get(cl) is None for cl in done_children)
        after = second.overlay.position("AAPL")
        assert after.position == position.position
        assert math.isclose(after.avg_price, position.avg_price, rel_tol=1e-12)
        assert math.isclose(after.realised_pnl, position.realised_pnl, abs_tol=1e-6)
        for kind, n in (("parent", 1), ("child", len(done_children))):
            assert second.registry.get_sample_value(ARCHIVED, {"kind": kind}) == n
        assert (second.registry.get_sample_value(ARCHIVED, {"kind": "fill"}) or 0) >= 1
        assert any("event=state_archived day=2012-06-21 parents=1" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
        await second.store.flush()
    finally:
        await second.stop(grace_s=5.0)
    assert done.id not in backend.data.parents
    assert not done_children & set(backend.data.children)
    archive = backend.archives["2012-06-21"]
    assert done.id in archive["parents"] and done_children == set(archive["children"])
    bought = sum(json.loads(f)["qty"] for f in archive["fills"].values())
    assert bought == 600
    assert json.loads(backend.data.meta["carry"])["AAPL"][0] == 600

    third = Service(settings(venue), store=MemoryStateStore(backend))  # and once more
    await third.start()
    try:
        assert set(third.parents.parents) == {live.id}
        third_position = third.overlay.position("AAPL")
        assert third_position.position == position.position
        assert math.isclose(third_position.realised_pnl, position.realised_pnl, abs_tol=1e-6)
        assert third.registry.get_sample_value(ARCHIVED, {"kind": "parent"}) in (None, 0.0)
    finally:
        await third.stop(grace_s=5.0)


@pytest.mark.redis
def test_the_service_gives_redis_its_archive_retention(redis_url: str) -> None:
    for days, ttl in ((2, 2 * 86_400), (0, None)):
        service = Service(ServiceSettings(symbols=("AAPL",), state=redis_url,
                                          state_archive_days=days))  # fmt: skip
        assert isinstance(service.store, RedisStateStore)
        assert service.store.backend.archive_ttl_s == ttl
