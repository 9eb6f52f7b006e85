"""Venue outages: a venue that dies with our orders resting and one that stalls.

The venue dies (kill -9) with our orders resting and a new one, knowing none of them, takes its
port: the service reconnects, asks the status of every open child, ends the ones the venue does
not know (loudly: the kill switch halts, since what traded before the crash is not known), and
stops cleanly — it used to keep them "working", re-cancel them every 20 ms at shutdown, and
exit 1 with them left working."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pytest

from rlexec.service import runtime
from rlexec.service.runtime import Service
from tests.service_support import free_port, settings, start_venue, submit, wait_for, warm_up

pytestmark = pytest.mark.slow


async def test_orders_a_restarted_venue_forgot_are_ended_and_the_stop_is_clean(
    aapl_message: Path,
) -> None:
    port = free_port()
    first_run = start_venue(aapl_message, port=port)
    first = next(first_run)
    service = Service(settings(first))
    await service.start()
    second_run = None
    try:
        await warm_up(service, 30.0)
        submit(service, "twap", quantity=20_000, horizon_s=600.0)
        await wait_for("a child resting at the venue",
                       lambda: any(c.accepted and not c.is_terminal for c in service.oms.all()))  # fmt: skip
        resting = {c.cl_ord_id for c in service.oms.all() if not c.is_terminal}
        first.proc.kill()  # no cancel-on-disconnect: the process is gone
        first.proc.wait()
        with contextlib.suppress(StopIteration):
            next(first_run)
        second_run = start_venue(aapl_message, port=port)
        next(second_run)
        await wait_for("the forgotten children to end", lambda: all(
            service.oms.get(cl).is_terminal for cl in resting  # type: ignore[union-attr]
        ), within=60)  # fmt: skip
        assert service.overlay.state.value == "HALTED"
        assert all(service.oms.get(cl).state.value == "canceled" for cl in resting)  # type: ignore[union-attr]
    finally:
        stopped = await service.stop(grace_s=5.0)
        if second_run is not None:
            with contextlib.suppress(StopIteration):
                next(second_run)
    assert stopped["left_working"] == 0


async def test_a_stalled_venue_is_stale_on_the_wall_clock_though_its_clock_stands_still(
    aapl_message: Path,
) -> None:
    """With `--clock venue` the trading clock moves only with the venue's messages, so a
    stalled venue (SIGSTOP) froze it and the data never aged: stale now comes from wall time."""
    run = start_venue(aapl_message)
    venue = next(run)
    service = Service(settings(venue, stale_after_s=1.0))
    await service.start()
    market = service.markets["AAPL"]
    try:
        await warm_up(service, 10.0)
        assert market.stale_reason is None
        venue.proc.send_signal(signal.SIGSTOP)
        try:
            await wait_for("the market to go stale", lambda: market.stale_reason is not None,
                           within=10)  # fmt: skip
            assert "wall time" in (market.stale_reason or "")
            age = service.registry.get_sample_value(
                "rlexec_service_market_data_age_seconds", {"symbol": "AAPL"}
            )
            assert age is not None and age > 1.0
        finally:
            venue.proc.send_signal(signal.SIGCONT)
        await wait_for("fresh market data again", lambda: market.stale_reason is None, within=20)
    finally:
        await service.stop(grace_s=5.0)
        with contextlib.suppress(StopIteration):
            next(run)


async def test_a_status_question_goes_out_once_until_answered_or_overdue(
    aapl_message: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconnects and unknown-order rejects may ask about the same child many times over: one
    question is out at a time, asked again only once it is overdue (a venue may reject it)."""
    run = start_venue(aapl_message)
    service = Service(settings(next(run)))
    await service.start()
    asked = service.order_session.metrics.messages_out
    try:
        await warm_up(service, 30.0)
        submit(service, "twap", quantity=20_000, horizon_s=600.0)
        await wait_for("a child resting at the venue",
                       lambda: any(c.accepted and not c.is_terminal for c in service.oms.all()))  # fmt: skip
        child = next(c for c in service.oms.all() if c.accepted and not c.is_terminal)
        before = asked.get(b"H", 0)
        service.ask_status(child)
        service.ask_status(child)  # no answer can have come in between: not asked again
        assert asked.get(b"H", 0) == before + 1
        monkeypatch.setattr(runtime, "STATUS_ASK_AGAIN_S", 0.0)  # overdue at once
        service.ask_status(child)
        assert asked.get(b"H", 0) == before + 2
    finally:
        await service.stop(grace_s=5.0)
        with contextlib.suppress(StopIteration):
            next(run)
