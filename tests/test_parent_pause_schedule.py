"""A parent's schedule: what its progress is reported against, what a resume re-plans, and a
pause that outlasts the horizon.

On a real Service that is never logged on (its decisions are made and their sends fail), on
the venue clock moved by hand: the schedules are what is checked. The same over FIX against
`rlexec venue` is in `test_parent_pause_horizon.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rlexec.market.orders import Side
from rlexec.models.algos import ScheduleAlgo
from rlexec.service.config import ParentSpec, ServiceSettings
from rlexec.service.control import Control
from rlexec.service.parents import Parent, ParentState
from rlexec.service.runtime import Service

NY_10AM_NS = int(datetime(2012, 6, 21, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
BID, ASK = 5_799_900, 5_800_100
S = 1_000_000_000
INTERVAL = 15 * S
QUANTITY, HORIZON_S = 6_000, 600.0  # 40 slices of 15 s


async def _service() -> Service:
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    await svc.store.open()
    await svc.store.load()
    book = svc.md.books["AAPL"]
    book.set_level(Side.BUY, BID, 1_000)
    book.set_level(Side.SELL, ASK, 1_000)
    svc.markets["AAPL"].stale_reason = None
    _at(svc, NY_10AM_NS)
    svc.parents.ready = lambda parent: True
    return svc


def _at(svc: Service, now: int) -> None:
    """The venue's clock at `now`, with a fresh book: every decision due there is made."""
    svc.clock.observe(now)
    svc.markets["AAPL"].on_book(now)
    svc.overlay.on_market("AAPL", (BID + ASK) / 2, now)
    svc.parents.on_market("AAPL", now)


def _submit(svc: Service, algo: str) -> Parent:
    spec = ParentSpec(symbol="AAPL", side="buy", quantity=QUANTITY, horizon_s=HORIZON_S,
                      algo=algo)  # type: ignore[arg-type]  # fmt: skip
    parent = svc.parents.submit(spec)
    assert parent.state is ParentState.WORKING and parent.decisions == 1
    return parent


def _state(parent: Parent) -> ParentState:
    return parent.state  # read again (mypy keeps the state an assert saw)


def _gap(svc: Service, algo: str) -> float | None:
    return svc.registry.get_sample_value(
        "rlexec_service_schedule_gap_shares", {"symbol": "AAPL", "algo": algo}
    )


@pytest.mark.parametrize("algo", ["twap", "vwap", "ac", "pov", "passive_first"])
async def test_a_schedule_algo_reports_progress_against_its_own_schedule(algo: str) -> None:
    svc = await _service()
    parent = _submit(svc, algo)
    for step in range(1, 10):
        _at(svc, NY_10AM_NS + step * INTERVAL)
    now = NY_10AM_NS + 10 * INTERVAL  # the start of step 10, not yet decided
    assert isinstance(parent.algo, ScheduleAlgo)
    own = sum(parent.algo.slices[:10])
    assert parent.schedule_filled(now) == own
    svc.clock.observe(now)
    assert Control(svc).view(parent).schedule_filled == own
    svc._risk_gauges(now)
    assert _gap(svc, algo) == parent.filled - own
    # half-way through a slice: half of it
    half = sum(parent.algo.slices[:9]) + parent.algo.slices[9] / 2
    assert parent.schedule_filled(now - INTERVAL // 2) == pytest.approx(half, abs=1)
    if algo in ("vwap", "ac"):  # neither is a straight line
        assert own != QUANTITY * 10 // 40


async def test_rl_reports_progress_against_twap() -> None:
    svc = await _service()
    parent = _submit(svc, "rl")
    assert parent.schedule_filled(NY_10AM_NS + 150 * S) == QUANTITY * 150 // 600
    assert parent.schedule_filled(NY_10AM_NS + 157 * S) == round(QUANTITY * 157 / 600)


@pytest.mark.parametrize("algo", ["twap", "vwap", "ac", "pov", "passive_first", "rl"])
async def test_a_resume_replans_the_rest_over_the_time_left(algo: str) -> None:
    svc = await _service()
    parent = _submit(svc, algo)
    svc.parents.pause(parent.id)
    resumed = NY_10AM_NS + 20 * INTERVAL + 3 * S  # half the horizon missed
    _at(svc, resumed)
    assert parent.decisions == 1  # nothing decided while paused
    svc.parents.resume(parent.id)
    assert parent.state is ParentState.WORKING and parent.decisions == 2
    assert svc.registry.get_sample_value("rlexec_service_parents_replanned_total") == 1
    algo_ = parent.algo
    if isinstance(algo_, ScheduleAlgo):
        # nothing behind at the resume: the schedule starts again from what is filled
        assert parent.schedule_filled(NY_10AM_NS + 20 * INTERVAL) == parent.filled
        if algo != "pov":  # the rest over the 20 slices left
            assert sum(algo_.slices[20:]) == QUANTITY - parent.filled
            assert parent.schedule_filled(NY_10AM_NS + 40 * INTERVAL) == QUANTITY
        if algo in ("twap", "passive_first"):
            assert set(algo_.slices[20:]) == {(QUANTITY - parent.filled) // 20}
    else:  # rl: the policy's rate is of what is left over the time left; TWAP reference
        assert parent.schedule_filled(resumed) == round(QUANTITY * (303 / 600))
    _at(svc, NY_10AM_NS + 21 * INTERVAL)
    assert parent.decisions == 3 and parent.state is ParentState.WORKING


async def test_a_parent_still_paused_at_its_horizon_ends_cancelled_by_the_timer() -> None:
    svc = await _service()
    parent = _submit(svc, "twap")
    svc.parents.pause(parent.id)
    assert parent.ex is not None
    end = parent.ex.state.end_ns
    _at(svc, end - 1)
    svc._housekeep(5 * S, {})
    assert parent.state is ParentState.PAUSED
    _at(svc, end)
    svc._housekeep(5 * S, {})
    assert _state(parent) is ParentState.CANCELLED
    assert parent.reason == f"horizon passed while paused; {QUANTITY} of {QUANTITY} left"
    assert parent.decisions == 1 and parent.horizon_takes == 0  # nothing taken
    assert (
        svc.registry.get_sample_value("rlexec_service_parents_expired_total", {"state": "paused"})
        == 1
    )
    assert Control(svc).view(parent).state == "cancelled"


async def test_a_resume_asked_after_the_horizon_ends_the_parent_instead() -> None:
    svc = await _service()
    parent = _submit(svc, "vwap")
    svc.parents.pause(parent.id, "HALTED by risk: venue trouble")
    assert parent.ex is not None
    svc.clock.observe(parent.ex.state.end_ns + 30 * S)  # before the timer looked
    svc.parents.resume(parent.id)
    assert parent.state is ParentState.CANCELLED
    assert parent.reason.startswith("horizon passed while paused;")
    assert parent.horizon_takes == 0


async def test_a_parent_working_at_its_horizon_still_takes_the_rest() -> None:
    svc = await _service()
    parent = _submit(svc, "twap")
    assert parent.ex is not None
    _at(svc, parent.ex.state.end_ns)
    svc._housekeep(5 * S, {})
    assert parent.state is ParentState.WORKING and parent.horizon_takes == 1


async def test_a_parent_that_never_starts_within_its_horizon_ends_cancelled() -> None:
    """Its market never fresh: before, it stayed PENDING and would have started whenever the
    data came back, working the order in a window the trader never asked for."""
    svc = await _service()
    svc.markets["AAPL"].stale_reason = "sequence gap"
    spec = ParentSpec(symbol="AAPL", side="buy", quantity=QUANTITY, horizon_s=HORIZON_S,
                      algo="twap")  # fmt: skip
    parent = svc.parents.submit(spec)
    assert parent.state is ParentState.PENDING
    svc.clock.observe(NY_10AM_NS + round(HORIZON_S * S) - 1)
    svc._housekeep(5 * S, {})
    assert parent.state is ParentState.PENDING
    svc.clock.observe(NY_10AM_NS + round(HORIZON_S * S))
    svc._housekeep(5 * S, {})
    assert _state(parent) is ParentState.CANCELLED
    assert parent.reason == (
        "horizon passed before it could start (600 s since it was submitted): market data "
        "for AAPL not fresh (sequence gap)"
    )
    assert parent.ex is None and parent.filled == 0
    labels = {"state": "pending"}
    assert svc.registry.get_sample_value("rlexec_service_parents_expired_total", labels) == 1
    # the data comes back: nothing starts
    _at(svc, NY_10AM_NS + round(HORIZON_S * S) + S)
    assert _state(parent) is ParentState.CANCELLED and parent.ex is None


async def test_a_parent_submitted_before_the_clock_had_a_time_is_not_expired_by_it() -> None:
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    await svc.store.open()
    await svc.store.load()
    spec = ParentSpec(symbol="AAPL", side="buy", quantity=QUANTITY, horizon_s=HORIZON_S,
                      algo="twap")  # fmt: skip
    parent = svc.parents.submit(spec)  # `serve --parent` on the venue clock, before any data
    assert parent.created_ns == 0
    svc.clock.observe(NY_10AM_NS)
    svc._housekeep(5 * S, {})
    assert parent.state is ParentState.PENDING
