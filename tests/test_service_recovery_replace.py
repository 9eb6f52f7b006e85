"""A crash while a replace is in flight: the store says PENDING_REPLACE, the venue has the
order under the replace's new ClOrdID. Recovery must learn which happened and leave nothing
working or stuck."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.risk import KillState
from rlexec.service.oms import ChildState
from rlexec.service.runtime import Service
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up
from tests.test_service_recovery import crash

pytestmark = pytest.mark.slow
CANCELS = "rlexec_venue_cancels_total"


@pytest.fixture(scope="module", params=["cancel_on_disconnect", "keeps_orders"])
def venue(
    aapl_message: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Venue]:
    """A venue that cancels a client's orders when it disconnects (the default), and one that
    keeps them working (many real venues do): the crash leaves the replaced order live."""
    config = None
    if request.param == "keeps_orders":
        config = tmp_path_factory.mktemp("venue") / "venue.toml"
        config.write_text('[[clients]]\ncomp_id = "CLIENT"\ncancel_on_disconnect = false\n\n'
                          '[[clients]]\ncomp_id = "CLIENT-MD"\n', encoding="utf-8")  # fmt: skip
    yield from start_venue(aapl_message, speed=40.0, config=config)


async def test_a_replace_in_flight_at_a_crash_is_recovered(
    venue: Venue, request: pytest.FixtureRequest
) -> None:
    backend = MemoryBackend()
    config = settings(venue)
    first = Service(config, store=MemoryStateStore(backend))
    await first.start()
    await warm_up(first, 5.0)
    parent = submit(first, "sal", quantity=100_000, horizon_s=6_000.0)  # one child, left alone
    live = (ChildState.NEW, ChildState.PARTIALLY_FILLED)
    await wait_for("a working child", lambda: any(c.state in live for c in first.oms.working()))
    child = next(c for c in first.oms.working() if c.state in live)
    assert child.price is not None
    price = child.price - 100  # a tick away from the touch: it rests
    decision = first.overlay.check_replace(child.current_cl_ord_id, child.quantity - child.cum_qty, price,
                                           first.clock.now_ns())  # fmt: skip
    new_id = first.gate.replace(decision, child)  # type: ignore[arg-type]
    await first.store.flush()  # stored: PENDING_REPLACE, new id in flight
    backend.available = False  # the venue's REPLACED never reaches the store
    await wait_for("the venue's confirmation", lambda: child.current_cl_ord_id == new_id)
    await crash(first)
    backend.available = True

    cancels = venue.sample(CANCELS, client="CLIENT", cause="request")
    second = Service(config, store=MemoryStateStore(backend))
    await second.start()
    try:
        recovered = second.recovered
        assert recovered["answered"] == recovered["asked"], recovered
        again = second.oms.get(child.cl_ord_id)
        assert again is not None
        assert second.oms.get(new_id) is again and again.price == price, "the replace's terms"
        assert second.overlay.state is KillState.ACTIVE, "nothing here is a reason to halt"
        await wait_for("the recovered child cancelled", lambda: again.is_terminal, within=10)
        assert again.state is ChildState.CANCELED
        assert second.parents.parents[parent.id].filled == sum(
            c.cum_qty for c in second.oms.all() if c.parent_id == parent.id
        )
    finally:
        stopped = await second.stop(grace_s=5.0)
    assert stopped["left_working"] == 0
    kept = request.node.callspec.params["venue"] == "keeps_orders"
    asked = venue.sample(CANCELS, client="CLIENT", cause="request") - cancels
    assert asked == (1 if kept else 0), "the order left working is cancelled, by its new id"
