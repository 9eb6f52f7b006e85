"""Tightened risk limits survive a restart on the same configuration, and only then."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlexec.risk import RiskOverlay
from rlexec.risk.testing import ManualClock
from rlexec.service.config import default_limits
from rlexec.service.limits_state import (
    cleared_record,
    fingerprint,
    limits_record,
    restore_limits,
)
from rlexec.service.runtime import Service
from rlexec.service.state import StateError
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from tests.service_support import Venue, settings, start_venue

CONFIGURED = default_limits(["AAPL", "MSFT"])


def fresh() -> RiskOverlay:
    return RiskOverlay(CONFIGURED, clock=ManualClock())


def tightened_record() -> dict[str, object]:
    before = fresh()
    now = before.tighten(who="ann (risk token)", why="venue wobbly", max_working_orders=20,
                         symbols={"AAPL": {"max_order_qty": 50}, "MSFT": None})  # fmt: skip
    return limits_record(CONFIGURED, now, "ann (risk token)", "venue wobbly", 123)


def test_a_tightening_comes_back_on_the_same_configuration() -> None:
    after = fresh()
    assert restore_limits(after, CONFIGURED, tightened_record()) == "restored"
    assert after.limits.max_working_orders == 20
    assert after.limits.symbols["AAPL"].max_order_qty == 50
    assert set(after.limits.symbols) == {"AAPL"}, "a symbol taken off stays off"
    [audit] = after.audit
    assert audit.who == "restart" and "tightened by ann (risk token) (venue wobbly)" in audit.why


def test_an_edited_configuration_wins_and_nothing_is_installed() -> None:
    edited = CONFIGURED.model_copy(update={"max_working_orders": 300})
    after = RiskOverlay(edited, clock=ManualClock())
    assert fingerprint(edited) != fingerprint(CONFIGURED)
    assert restore_limits(after, edited, tightened_record()) == "config_changed"
    assert after.limits == edited and not after.audit


def test_nothing_stored_or_not_asked_installs_nothing() -> None:
    after = fresh()
    assert restore_limits(after, CONFIGURED, None) == "none"
    assert restore_limits(after, CONFIGURED, tightened_record(), enabled=False) == "not_asked"
    assert after.limits == CONFIGURED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "not a version-1 record"),
        ({"limits": "tight"}, "not a version-1 record"),
        ({"limits": {"symbols": {}, "now_ns": 1}}, r"limits\.now_ns is not a risk limit"),
        ({"limits": {"max_working_orders": 20}}, "limits.symbols is not an object"),
        ({"limits": {"symbols": {"AAPL": None, "MSFT": None, "TSLA": {}}}}, "cannot be installed"),
        ({"limits": {"symbols": {"AAPL": {"max_order_qty": 10**9}}}}, "cannot be installed"),
    ],
)
def test_a_record_that_cannot_be_trusted_stops_the_start_naming_it(
    change: dict[str, object], message: str
) -> None:
    record = tightened_record() | change
    after = fresh()
    with pytest.raises(StateError, match=message):
        restore_limits(after, CONFIGURED, record)
    assert after.limits == CONFIGURED, "nothing half-installed"


async def test_the_record_round_trips_through_the_store() -> None:
    backend = MemoryBackend()
    store = MemoryStateStore(backend)
    await store.open()
    assert (await store.load()).limits is None
    record = tightened_record()
    store.put_limits(record)
    await store.flush()
    await store.close()
    again = MemoryStateStore(backend)
    await again.open()
    assert (await again.load()).limits == record
    await again.close()


def test_a_cleared_record_installs_nothing() -> None:
    after = fresh()
    assert restore_limits(after, CONFIGURED, cleared_record(CONFIGURED, "edited", 5)) == "none"
    assert after.limits == CONFIGURED


# -- a real service, restarted -------------------------------------------------------------------


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


async def started(venue: Venue, backend: MemoryBackend, **kw: Any) -> Service:
    service = Service(settings(venue, **kw), store=MemoryStateStore(backend))
    await service.start()
    return service


@pytest.mark.slow
async def test_a_tightening_survives_a_restart_until_dropped(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    backend = MemoryBackend()
    first = await started(venue, backend)
    configured = first.configured_limits
    try:
        first.control.tighten("ann (risk token)", "venue wobbly", {"max_working_orders": 7},
                              {"AAPL": {"max_order_qty": 40}})  # fmt: skip
        await first.store.flush()
    finally:
        await first.stop(grace_s=2.0)

    second = await started(venue, backend)  # same configuration: the tightening holds
    try:
        assert second.overlay.limits.max_working_orders == 7
        assert second.overlay.limits.symbols["AAPL"].max_order_qty == 40
        assert any("event=limits_restored who='ann (risk token)'" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
    finally:
        await second.stop(grace_s=2.0)

    third = await started(venue, backend, drop_tightened_limits=True)
    try:
        assert third.overlay.limits == configured
        await third.store.flush()
    finally:
        await third.stop(grace_s=2.0)
    fourth = await started(venue, backend)  # dropped for good, not only for that start
    try:
        assert fourth.overlay.limits == configured
    finally:
        await fourth.stop(grace_s=2.0)
    dropped = [r.getMessage() for r in caplog.records
               if "event=limits_tightening_dropped" in r.getMessage()]  # fmt: skip
    assert dropped == ["event=limits_tightening_dropped reason='drop_tightened_limits'"]
