"""One broken parent, one failing timer step, one dead background task, one lost connection:
each is contained, against a real `rlexec venue` over loopback FIX (no mocks).

- A parent whose start or decision raises fails with the reason and its children cancelled;
  it never raises into the market-data callback, and the other parents carry on (a limit of
  1e305 once overflowed at every market update and killed the housekeeping timer).
- A housekeeping step that raises is logged, counted, and the timer goes on.
- `Service.stop()` completes though a background task died with an exception.
- POV on the live clock, where decision steps are skipped, keeps deciding.
- A kill (or a parent's cancel) while the order session is down: its cancels could not be
  sent; they go out when the session logs on again, on a venue that keeps a disconnected
  client's orders (cancel-on-disconnect off).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.models.algos import Algo
from rlexec.models.port import ExecutionPort
from rlexec.risk import KillState
from rlexec.service.config import ParentSpec
from rlexec.service.metrics import HOUSEKEEPING_STEPS
from rlexec.service.oms import ChildState
from rlexec.service.parents import ParentState
from rlexec.service.runtime import Service
from rlexec.service.state_ids import ClOrdIdAllocator
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up

pytestmark = pytest.mark.slow
CANCELS = "rlexec_venue_cancels_total"


@pytest.fixture(scope="module")
def venue(aapl_message: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """Keeps our orders working when the order session drops, as many real venues do."""
    config = tmp_path_factory.mktemp("venue") / "venue.toml"
    config.write_text('[[clients]]\ncomp_id = "CLIENT"\ncancel_on_disconnect = false\n\n'
                      '[[clients]]\ncomp_id = "CLIENT-MD"\n', encoding="utf-8")  # fmt: skip
    yield from start_venue(aapl_message, speed=40.0, config=config)


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"event={event}" in r.getMessage()]


def parents_in(service: Service, state: str) -> float | None:
    return service.registry.get_sample_value("rlexec_service_parents", {"state": state})


class BreaksAtStep:
    """An algo that works as `inner` until `step`, then raises (a bug in a decision)."""

    def __init__(self, inner: Algo, step: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.step = step

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self.inner.start(ex, steps, interval_s)

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        if step >= self.step:
            raise RuntimeError(f"broken at step {step}")
        self.inner.decide(ex, step, steps)


async def test_a_parent_whose_start_raises_fails_and_the_others_carry_on(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 5.0)
        good = submit(service, "twap", quantity=20_000, horizon_s=600.0)
        # a spec the API now refuses (limit_price > MAX_LIMIT_PRICE), as a stored one from
        # before the bound or any other bug at the start would be: its start raises
        bad_spec = ParentSpec.model_construct(symbol="AAPL", side="buy", quantity=2_000,
                                              horizon_s=600.0, algo="twap", limit_price=1e305)  # fmt: skip
        bad = service.parents.submit(bad_spec)
        after = submit(service, "twap", quantity=2_000, horizon_s=600.0)  # queued behind it
        await wait_for("the broken parent to fail", lambda: bad.state is ParentState.FAILED)
        assert bad.reason.startswith("start failed: OverflowError"), bad.reason
        decided = good.decisions
        await wait_for("the good parent's next decisions", lambda: good.decisions >= decided + 3)
        await wait_for("the parent behind it to start", lambda: after.decisions > 0)
        assert good.state is after.state is ParentState.WORKING
        assert parents_in(service, "failed") == 1.0
        assert events(caplog, "parent_failed") and bad.id in events(caplog, "parent_failed")[0]
        assert events(caplog, "parent_error")
        assert not events(caplog, "application_error"), "nothing raised into a FIX callback"
        assert not events(caplog, "housekeeping_error")
    finally:
        await service.stop(grace_s=5.0)
    assert events(caplog, "service_stopped")


async def test_a_stored_parent_beyond_the_bounds_fails_at_the_restart_which_goes_on(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    """A store written before the bounds holds a pending parent with a limit of 1e305: the
    restart must neither refuse to start over it nor work it."""
    caplog.set_level(logging.INFO, logger="rlexec.service")
    backend = MemoryBackend()
    seed = MemoryStateStore(backend)
    await seed.open()
    await seed.load()
    writer = asyncio.create_task(seed.run())
    spec = {"symbol": "AAPL", "side": "buy", "quantity": 2_000, "horizon_s": 600.0,
            "algo": "twap", "limit_price": 1e305, "max_participation": None, "client_id": "old"}  # fmt: skip
    seed.put_parent("P1-1", {"id": "P1-1", "spec": spec, "state": "pending", "created_ns": 1,
                             "steps": 40, "interval_ns": 15 * 10**9, "execution": None})  # fmt: skip
    await seed.close()
    await writer
    service = Service(settings(venue), store=MemoryStateStore(backend))
    await service.start()
    try:
        old = service.parents.parents["P1-1"]
        assert old.state is ParentState.FAILED
        assert old.reason.startswith("stored order no longer valid: limit_price"), old.reason
        assert events(caplog, "parent_spec_refused")
        await warm_up(service, 5.0)
        fresh = submit(service, "twap", quantity=2_000, horizon_s=600.0)
        await wait_for("a new parent's decision", lambda: fresh.decisions > 0)
        assert old.state is ParentState.FAILED and not events(caplog, "application_error")
    finally:
        await service.stop(grace_s=5.0)
    archived = [day["parents"] for day in backend.archives.values()]  # over, so archived
    stored = next(p["P1-1"] for p in (backend.data.parents, *archived) if "P1-1" in p)
    assert json.loads(stored)["state"] == "failed", "stored as failed"


async def test_a_parent_whose_decision_raises_fails_with_its_children_cancelled(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue))
    make = service.parents.make_algo
    service.parents.make_algo = lambda spec: (
        BreaksAtStep(make(spec), 2) if spec.client_id == "breaks" else make(spec)
    )
    await service.start()
    try:
        await warm_up(service, 5.0)
        spec = ParentSpec(symbol="AAPL", side="buy", quantity=20_000, horizon_s=600.0,
                          algo="twap", client_id="breaks")  # fmt: skip
        broken = service.parents.submit(spec)
        other = submit(service, "twap", quantity=20_000, horizon_s=600.0)
        await wait_for("the broken parent to fail", lambda: broken.state is ParentState.FAILED)
        assert broken.reason == "decision failed: RuntimeError: broken at step 2", broken.reason
        assert broken.children > 0, "it had children working when it broke"
        mine = [c for c in service.oms.all() if c.parent_id == broken.id]
        await wait_for("its children to end", lambda: all(c.is_terminal for c in mine))
        assert any(c.state is ChildState.CANCELED for c in mine)
        decided = other.decisions
        await wait_for("the other parent's next decision", lambda: other.decisions > decided)
        assert other.state is ParentState.WORKING
        assert not events(caplog, "application_error")
        assert any(broken.id in line for line in events(caplog, "parent_failed"))
    finally:
        await service.stop(grace_s=5.0)


async def test_a_failing_housekeeping_step_is_logged_counted_and_the_timer_goes_on(
    venue: Venue, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue))
    await service.start()
    errors = "rlexec_service_housekeeping_errors_total"
    try:
        await warm_up(service, 5.0)
        parent = submit(service, "twap", quantity=20_000, horizon_s=600.0)

        def broken(now_ns: int) -> None:
            raise RuntimeError("day roll bug")

        later: list[int] = []  # a step after the broken one
        on_time = service.monitors.on_time

        def watched(now_ns: int) -> None:
            later.append(now_ns)
            on_time(now_ns)

        monkeypatch.setattr(service, "_housekeep_day", broken)  # the overlay's day roll
        monkeypatch.setattr(service.monitors, "on_time", watched)
        step = {"step": "day"}
        await wait_for("ten failed ticks", lambda: (service.registry.get_sample_value(errors, step)
                                                    or 0) >= 10)  # fmt: skip
        for other in set(HOUSEKEEPING_STEPS) - {"day"}:  # every step's series, at 0
            assert service.registry.get_sample_value(errors, {"step": other}) == 0.0, other
        assert len(events(caplog, "housekeeping_error")) == 1, "logged once, not every 100 ms"
        assert "step=day" in events(caplog, "housekeeping_error")[0]
        assert len(later) >= 10, "the steps after the broken one still run"
        decided = parent.decisions
        await wait_for("the parent's next decisions", lambda: parent.decisions > decided)
        monkeypatch.undo()
        count = service.registry.get_sample_value(errors, step)
        await asyncio.sleep(0.5)
        assert service.registry.get_sample_value(errors, step) == count
    finally:
        await service.stop(grace_s=5.0)
    assert events(caplog, "service_stopped")


async def test_the_stop_completes_though_a_background_task_died(
    venue: Venue, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue))
    await service.start()
    stopped = False
    try:
        await warm_up(service, 5.0)

        async def unreachable(self: ClOrdIdAllocator) -> None:
            raise ConnectionResetError("the store went away")

        monkeypatch.setattr(ClOrdIdAllocator, "start", unreachable)
        submit(service, "twap", quantity=2_000, horizon_s=600.0)  # its id block task dies
        await asyncio.sleep(0.3)
        result = await service.stop(grace_s=5.0)
        stopped = True
    finally:
        if not stopped:
            monkeypatch.undo()
            await service.stop(grace_s=5.0)
    assert result["left_working"] == 0
    assert service.stopped.is_set() and not service.order_session.is_logged_on
    assert any("ConnectionResetError" in line for line in events(caplog, "background_task_failed"))
    assert events(caplog, "service_stopped")


async def test_pov_keeps_deciding_when_decision_steps_are_skipped(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    """At 40× speed a 2 s decision interval passes several times between two market updates
    or timer ticks: steps are skipped, which POV's schedule used to index past."""
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue, decision_interval_s=2.0))
    await service.start()
    try:
        await warm_up(service, 5.0)
        spec = ParentSpec(symbol="AAPL", side="buy", quantity=20_000, horizon_s=600.0,
                          algo="pov", max_participation=0.01)  # fmt: skip
        parent = service.parents.submit(spec)  # capped: it works all along, it cannot finish
        await wait_for("skipped steps", lambda: parent.skipped_steps > 0)
        decided = parent.decisions
        await wait_for("decisions after them", lambda: parent.decisions >= decided + 5)
        assert parent.state is ParentState.WORKING, parent.reason
        assert not events(caplog, "application_error")
        assert not events(caplog, "parent_error")
    finally:
        await service.stop(grace_s=5.0)


@pytest.mark.parametrize("how", ["kill", "parent_cancel"])
async def test_cancels_not_sent_while_the_order_session_was_down_go_out_at_its_logon(
    venue: Venue, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 5.0)
        mid = service.markets["AAPL"].book.mid
        assert mid is not None
        limit = round(mid * 0.996 / 10_000, 2)  # 40 bps under the mid: it rests, unfilled
        spec = ParentSpec(symbol="AAPL", side="buy", quantity=5_000, horizon_s=6_000.0,
                          algo="sal", limit_price=limit)  # fmt: skip
        parent = service.parents.submit(spec)
        await wait_for("a child resting at the venue",
                       lambda: any(c.accepted for c in service.oms.working()))  # fmt: skip
        resting = service.oms.working()
        before = venue.sample(CANCELS, client="CLIENT", cause="request")
        session = service.order_session
        connection = session.connection
        assert connection is not None
        connection.abort()  # the link drops; the venue keeps the orders
        await asyncio.wait_for(session.wait_disconnected(), 5.0)
        if how == "kill":
            service.halt("test", "kill while the order session is down")
            assert service.overlay.state is KillState.HALTED
        else:
            service.parents.cancel(parent.id)
        assert events(caplog, "cancel_not_sent")
        assert all(c.pending_cl_ord_id is None and not c.is_terminal for c in resting)
        await wait_for("the order session back", lambda: session.is_logged_on, within=15.0)
        await wait_for("the resting children cancelled",
                       lambda: all(c.is_terminal for c in resting), within=10.0)  # fmt: skip
        assert all(c.state is ChildState.CANCELED for c in resting)
        assert venue.sample(CANCELS, client="CLIENT", cause="request") - before == len(resting)
        assert events(caplog, "cancel_after_logon")
    finally:
        stopped = await service.stop(grace_s=5.0)
    assert stopped["left_working"] == 0
