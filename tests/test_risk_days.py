"""The daily-loss period follows the trading day: it rolls at local midnight, a restart today
goes on from the stored baseline, and a new day never counts yesterday's P&L, gain or loss."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlexec.market.orders import Side
from rlexec.risk import KillState
from rlexec.risk.day import DayRecord
from rlexec.risk.testing import MID, NY, T0, ManualClock, S, limits, overlay
from rlexec.risk.window import day_start_ns, local_day
from rlexec.service.recovery import rebuilt_positions
from tests.oms_support import filled_child

MIDNIGHT = int(datetime(2012, 6, 22, 0, 0, tzinfo=NY).timestamp()) * S
"""The 21st ends, New York time (04:00 UTC)."""
D2_OPEN = int(datetime(2012, 6, 22, 9, 30, tzinfo=NY).timestamp()) * S
D1, D2 = date(2012, 6, 21), date(2012, 6, 22)


def test_local_day_ends_at_local_midnight_across_a_clock_change() -> None:
    assert local_day(MIDNIGHT - 1, "America/New_York") == (D1, MIDNIGHT)
    assert local_day(MIDNIGHT, "America/New_York")[0] == D2
    spring = day_start_ns(date(2026, 3, 8), "America/New_York")  # 23 hours long
    assert local_day(spring, "America/New_York")[1] - spring == 23 * 3600 * S


def test_without_start_days_the_period_never_rolls() -> None:
    """Backtests and tests that drive the overlay by hand keep the old behaviour."""
    ov = overlay()
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", float(MID + 50_000), D2_OPEN)
    assert ov.trading_day is None
    assert ov.daily_pnl == pytest.approx(500.0)


def test_the_period_rolls_at_local_midnight_from_the_last_marks() -> None:
    records: list[DayRecord] = []
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.start_days(None, records.append, T0)
    assert records == [DayRecord(D1, 0.0)]
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", float(MID - 60_000), MIDNIGHT - 1)
    assert ov.trading_day == D1 and ov.daily_pnl == pytest.approx(-600.0)
    ov.on_market("AAPL", float(MID - 70_000), MIDNIGHT)  # the 22nd: counts from -600
    assert ov.trading_day == D2 and ov.daily_pnl == pytest.approx(-100.0)
    assert records[-1] == DayRecord(D2, pytest.approx(-600.0))  # type: ignore[arg-type]
    last = ov.audit[-1]
    assert (last.action, last.who, last.why) == ("new_day", "risk", "trading day 2012-06-22 began")


def test_the_timer_rolls_the_day_at_midnight_with_no_message() -> None:
    """A quiet night: no mark, check or fill after midnight; the service's timer still starts
    the new day (what `GET /v1/risk` and the day gauge show)."""
    records: list[DayRecord] = []
    ov = overlay()
    ov.on_time(T0)  # before start_days: nothing to roll
    assert ov.trading_day is None and records == []
    ov.start_days(None, records.append, T0)
    ov.on_time(MIDNIGHT - 1)
    assert ov.trading_day == D1 and len(records) == 1
    ov.on_time(MIDNIGHT)
    assert ov.trading_day == D2 and records[-1].day == D2
    ov.on_time(MIDNIGHT + 1)
    assert len(records) == 2, "once per day"


def test_yesterdays_gain_does_not_loosen_todays_loss_limit() -> None:
    """$2,000 made on the 21st; on the 22nd a $1,100 loss breaches the $1,000 limit. Counted
    since the service started it would read +$900 and trade on."""
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.start_days(None, None, T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_fill("AAPL", Side.SELL, 100, MID + 200_000, now_ns=T0 + S)
    assert ov.daily_pnl == pytest.approx(2000.0)
    ov.on_market("AAPL", float(MID), D2_OPEN)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=D2_OPEN)
    ov.on_market("AAPL", float(MID - 110_000), D2_OPEN + S)
    assert ov.daily_pnl == pytest.approx(-1100.0)
    assert ov.state is KillState.HALTED
    assert "DAILY_LOSS: loss=1100.00 > max=1000.00" in ov.history[-1].why


def test_a_breach_yesterday_stays_halted_today() -> None:
    """A new day does not lift HALTED: a person resumes."""
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.start_days(None, None, T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", float(MID - 110_000), T0 + S)
    assert ov.state is KillState.HALTED
    ov.on_market("AAPL", float(MID - 110_000), D2_OPEN)
    assert (ov.trading_day, ov.daily_pnl, ov.state) == (D2, 0.0, KillState.HALTED)


def test_a_restart_today_goes_on_from_the_stored_baseline() -> None:
    records: list[DayRecord] = []
    ov = overlay()
    ov.start_days(None, records.append, T0)
    fills = [(Side.BUY, 100, MID), (Side.SELL, 100, MID + 200_000)]  # +$2,000 on the 21st
    for side, qty, price in fills:
        ov.on_fill("AAPL", side, qty, price, now_ns=T0)
    ov.on_market("AAPL", float(MID), D2_OPEN)
    fills.append((Side.BUY, 100, MID))
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=D2_OPEN)
    ov.on_market("AAPL", float(MID - 30_000), D2_OPEN + S)
    assert ov.daily_pnl == pytest.approx(-300.0)

    clock = ManualClock(D2_OPEN + 2 * S)
    restarted = overlay(clock=clock, mid=None)
    children = [filled_child(n, *fill) for n, fill in enumerate(fills)]
    for symbol, (pos, avg, realised) in rebuilt_positions(children).items():
        restarted.reconcile_position(symbol, pos, avg, realised=realised, who="t", why="t")
    restarted.start_days(records[-1], records.append, clock.now_ns)
    restarted.on_market("AAPL", float(MID - 30_000), clock.now_ns)
    assert restarted.trading_day == D2
    assert restarted.daily_pnl == pytest.approx(-300.0)
    assert restarted.audit[-1].action == "day_restored"
    assert records[-1] == DayRecord(D2, pytest.approx(2000.0))  # type: ignore[arg-type]


@pytest.mark.parametrize("overnight", [+40_000, -40_000])
def test_a_position_carried_into_a_new_day_counts_from_its_first_mark(overnight: int) -> None:
    """Long 100 from the 21st, marked $4 away from its cost at the close; the service restarts
    on the 22nd. Neither yesterday's gain nor its loss is today's."""
    records: list[DayRecord] = []
    restarted = overlay(clock=ManualClock(D2_OPEN), mid=None)
    restarted.reconcile_position("AAPL", 100, float(MID), realised=0.0, who="t", why="t")
    restarted.start_days(DayRecord(D1, 0.0), records.append, D2_OPEN)
    assert records == [DayRecord(D2, 0.0, (("AAPL", 100, float(MID)),))]
    restarted.on_market("AAPL", float(MID + overnight), D2_OPEN + S)
    assert restarted.daily_pnl == pytest.approx(0.0)
    assert records[-1] == DayRecord(D2, overnight / 100)
    restarted.on_market("AAPL", float(MID + overnight - 30_000), D2_OPEN + 2 * S)
    assert restarted.daily_pnl == pytest.approx(-300.0)


@pytest.mark.parametrize("overnight", [+150_000, -150_000])
def test_a_restart_before_the_first_mark_still_keeps_the_overnight_move_out(
    overnight: int,
) -> None:
    """The day began with the position unmarked, then the service restarted before its first
    mark: the stored record must still say the position opens at that mark."""
    lim = limits(max_daily_loss=1000.0)
    records: list[DayRecord] = []
    for at in (D2_OPEN, D2_OPEN + S):  # the first run, then the restart
        ov = overlay(lim, clock=ManualClock(at), mid=None)
        ov.reconcile_position("AAPL", 100, float(MID), realised=0.0, who="t", why="t")
        ov.start_days(records[-1] if records else DayRecord(D1, 0.0), records.append, at)
    assert ov.audit[-1].action == "day_restored"
    ov.on_market("AAPL", float(MID + overnight), D2_OPEN + 2 * S)
    assert ov.daily_pnl == pytest.approx(0.0) and ov.state is KillState.ACTIVE
    ov.on_market("AAPL", float(MID + overnight - 110_000), D2_OPEN + 3 * S)
    assert ov.daily_pnl == pytest.approx(-1100.0) and ov.state.name == "HALTED"


def test_a_restore_with_an_unmarked_position_waits_for_its_mark_to_judge_the_loss() -> None:
    """The record counts from long 100 worth $1,500 over cost; until the restarted overlay
    marks it, it is carried at cost, which must not read as a $1,500 loss and halt."""
    ov = overlay(limits(max_daily_loss=1000.0), clock=ManualClock(D2_OPEN), mid=None)
    ov.reconcile_position("AAPL", 100, float(MID), realised=0.0, who="t", why="t")
    ov.start_days(DayRecord(D2, 1500.0), None, D2_OPEN)
    assert ov.state is KillState.ACTIVE
    ov.on_market("AAPL", float(MID + 150_000), D2_OPEN + S)
    assert ov.daily_pnl == pytest.approx(0.0) and ov.state is KillState.ACTIVE


def test_a_roll_with_the_pnl_unknown_still_leaves_yesterday_behind() -> None:
    """+$3,000 on the 21st, then a fill at a bad price (P&L unknown, HALTED); the day rolls;
    the position is reconciled the next day: today's P&L is 0, not yesterday's +$3,000."""
    records: list[DayRecord] = []
    ov = overlay()
    ov.start_days(None, records.append, T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_fill("AAPL", Side.SELL, 100, MID + 300_000, now_ns=T0)
    ov.on_fill("AAPL", Side.BUY, 100, math.nan, now_ns=T0 + S)
    assert ov.state is KillState.HALTED and math.isnan(ov.daily_pnl)
    ov.on_market("AAPL", float(MID), D2_OPEN)
    assert records[-1].day == D2 and records[-1].baseline == pytest.approx(3000.0)
    ov.reconcile_position("AAPL", 100, float(MID), realised=3000.0 * 10_000, who="t", why="t")
    assert ov.daily_pnl == pytest.approx(0.0)


def test_a_carried_position_sold_before_any_mark_opens_at_the_fill() -> None:
    """Long 100 carried in at cost $100; sold at $95 before the first mark: the $5 drop
    happened overnight, so today's P&L is 0; a new position then counts in full."""
    ov = overlay(clock=ManualClock(D2_OPEN), mid=None)
    ov.reconcile_position("AAPL", 100, float(MID), realised=0.0, who="t", why="t")
    ov.start_days(DayRecord(D1, 0.0), None, D2_OPEN)
    ov.on_fill("AAPL", Side.SELL, 100, MID - 50_000, now_ns=D2_OPEN + S)
    assert ov.daily_pnl == pytest.approx(0.0)
    ov.on_fill("AAPL", Side.BUY, 100, MID - 50_000, now_ns=D2_OPEN + 2 * S)
    ov.on_market("AAPL", float(MID - 100_000), D2_OPEN + 3 * S)
    assert ov.daily_pnl == pytest.approx(-500.0)


def test_a_clock_that_steps_back_does_not_take_the_day_back() -> None:
    ov = overlay()
    ov.start_days(None, None, D2_OPEN)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=D2_OPEN)
    ov.on_market("AAPL", float(MID - 10_000), MIDNIGHT - S)  # a wall clock stepped back
    assert ov.trading_day == D2 and ov.daily_pnl == pytest.approx(-100.0)
    ov.on_market("AAPL", float(MID - 10_000), D2_OPEN + S)
    assert ov.trading_day == D2 and ov.daily_pnl == pytest.approx(-100.0)


def test_a_venue_clock_that_has_not_ticked_waits_for_the_first_time() -> None:
    records: list[DayRecord] = []
    ov = overlay(mid=None)
    ov.start_days(None, records.append, 0)
    assert (ov.trading_day, records) == (None, [])
    ov.on_market("AAPL", float(MID), T0)
    assert (ov.trading_day, records) == (D1, [DayRecord(D1, 0.0)])


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ([], "must be an object"),
        ({"baseline": 1.0}, "day must be a YYYY-MM-DD string"),
        ({"day": "2012-13-01", "baseline": 1.0}, "is not a YYYY-MM-DD date"),
        ({"day": "2012-06-21", "baseline": "1"}, "baseline must be a finite number"),
        ({"day": "2012-06-21", "baseline": math.inf}, "baseline must be a finite number"),
        ({"day": "2012-06-21", "baseline": True}, "baseline must be a finite number"),
        ({"day": "2012-06-21", "baseline": 0, "pending": ["AAPL"]}, "pending must be"),
        ({"day": "2012-06-21", "baseline": 0, "pending": [["AAPL", 1.5, 1]]}, "pending must be"),
    ],
)
def test_a_bad_day_record_is_refused_naming_the_field(raw: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        DayRecord.from_dict(raw)


_event = st.one_of(
    st.tuples(
        st.just("fill"),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 300),
        st.integers(-200, 200).map(lambda ticks: MID + 100 * ticks),
    ),
    st.tuples(st.just("mark"), st.integers(-200, 200).map(lambda t: float(MID + 100 * t))),
    st.tuples(st.just("wait"), st.integers(1, 30 * 3600)),
)


@given(before=st.lists(_event, max_size=25), after=st.lists(_event, max_size=10))
def test_a_restart_the_same_day_keeps_the_days_pnl(
    before: list[tuple[object, ...]], after: list[tuple[object, ...]]
) -> None:
    """Fills and marks over several days, then a restart (positions rebuilt from the children,
    the last stored record): from the first mark on, the restarted overlay's daily P&L is the
    one that lived through it all."""
    clock = ManualClock(T0)
    records: list[DayRecord] = []
    lived = overlay(clock=clock)
    lived.start_days(None, records.append, clock.now_ns)
    fills: list[tuple[Side, int, int]] = []
    mid = float(MID)

    def play(ov_list: list[object], event: tuple[object, ...], record: bool) -> float:
        nonlocal mid
        kind = event[0]
        if kind == "wait":
            clock.advance(int(event[1]) * S)  # type: ignore[call-overload]
            for ov in ov_list:
                ov.on_market("AAPL", mid, clock.now_ns)  # type: ignore[attr-defined]
        elif kind == "mark":
            mid = float(event[1])  # type: ignore[arg-type]
            for ov in ov_list:
                ov.on_market("AAPL", mid, clock.now_ns)  # type: ignore[attr-defined]
        else:
            _, side, qty, price = event
            if record:
                fills.append((side, qty, price))  # type: ignore[arg-type]
            for ov in ov_list:
                ov.on_fill("AAPL", side, qty, price, now_ns=clock.now_ns)  # type: ignore[attr-defined]
        return mid

    for event in before:
        play([lived], event, True)
    restarted = overlay(clock=clock, mid=None)
    children = [filled_child(n, *fill) for n, fill in enumerate(fills)]
    for symbol, (pos, avg, realised) in rebuilt_positions(children).items():
        restarted.reconcile_position(symbol, pos, avg, realised=realised, who="t", why="t")
    restarted.start_days(records[-1], None, clock.now_ns)
    restarted.on_market("AAPL", mid, clock.now_ns)
    assert restarted.trading_day == lived.trading_day
    assert math.isclose(restarted.daily_pnl, lived.daily_pnl, rel_tol=1e-9, abs_tol=1e-6)
    for event in after:
        play([lived, restarted], event, False)
        assert restarted.trading_day == lived.trading_day
        assert math.isclose(restarted.daily_pnl, lived.daily_pnl, rel_tol=1e-9, abs_tol=1e-6)
