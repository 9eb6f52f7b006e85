"""The impact model, the clock and the depth model beyond the stored levels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rlexec.market.orders import Side, TimeInForce
from rlexec.simulator.clock import AsFastAsPossible, RealTimeClock, make_clock
from rlexec.simulator.config import ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.impact import NEVER, ImpactModel
from rlexec.simulator.orders import ExecReport, ExecType, Liquidity
from rlexec.simulator.replay import MarketReplay, fills

BUY, SELL = Side.BUY, Side.SELL
TICK = 100
S = 10**9


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


# -- impact --------------------------------------------------------------------------------


def test_impact_model_permanent_plus_decaying_transient() -> None:
    model = ImpactModel(0.002, 0.006, half_life_s=10.0)
    assert model.offset_ticks == 0 and model.next_change_ns == NEVER
    assert model.on_taken(0, 500) == 4  # 1 permanent + 3 transient
    # 1 + 3·2^(−t/h) falls below 3.5 (rounds to 3) after h·log2(3/2.5)
    t_change = 10 * S * math.log2(3 / 2.5)
    assert model.next_change_ns == pytest.approx(t_change, abs=2)
    assert model.on_time(model.next_change_ns - 2) == 4
    assert model.on_time(model.next_change_ns) == 3
    assert model.on_time(10 * S) == 3  # 1 + 1.5 rounds half up
    assert model.on_time(20 * S) == 2  # 1 + 0.75
    assert model.on_time(500 * S) == 1  # only the permanent part is left
    assert model.next_change_ns == NEVER
    assert model.on_taken(500 * S, -500) == -3  # selling back: permanent 0, transient −3
    assert model.on_time(10_000 * S) == 0


def test_impact_off_leaves_prices_alone(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_ns=40_000 * S)
    replay.buy("me", 1_000)
    assert replay.engine.offset == 0
    replay.advance_by(1.0)
    assert replay.levels(BUY, 1) == replay.hist_levels(BUY, 1)


def test_impact_on_shifts_the_market_after_our_trade_then_decays(aapl: ReplayData) -> None:
    cfg = ReplayConfig(
        impact=ImpactConfig(
            enabled=True,
            permanent_ticks_per_share=0.002,
            transient_ticks_per_share=0.006,
            transient_half_life_s=10.0,
        )
    )
    replay = MarketReplay(aapl, cfg, start_ns=40_000 * S)
    ((ask, ask_size),) = replay.levels(SELL)
    ((bid, _),) = replay.levels(BUY)
    assert ask - bid >= 4 * TICK and ask_size < 500
    # Another participant rests a sell 2 ticks above the bid; we then buy 500 shares.
    resting = replay.sell("other", 100, bid + 2 * TICK)[0]
    assert isinstance(resting, ExecReport)
    out = replay.buy("me", 500)
    mine = [f for f in fills(out) if f.client_id == "me"]
    assert mine[0].last_price == bid + 2 * TICK  # the first fill is before any impact
    assert replay.engine.offset == 4 * TICK
    # Every price we see is the recorded one + 4 ticks.
    hist_bid = replay.hist_levels(BUY, 1)[0]
    assert replay.levels(BUY, 1) == [(hist_bid[0] + 4 * TICK, hist_bid[1])]
    assert replay.reference_mid is not None
    replay.advance_by(10.0)
    assert replay.engine.offset == 3 * TICK  # 1 + 1.5 → 3 after one half-life
    hist_bid = replay.hist_levels(BUY, 1)[0]
    assert replay.levels(BUY, 1)[-1] == (hist_bid[0] + 3 * TICK, hist_bid[1])
    replay.advance_by(300.0)
    assert replay.engine.offset == 1 * TICK  # the permanent part stays


def test_impact_moving_the_market_through_a_resting_order_fills_it(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_ns=40_000 * S)
    ((bid, bid_size),) = replay.levels(BUY)
    ((ask, ask_size),) = replay.levels(SELL)
    spread = (ask - bid) // TICK
    # Taking the ask level (ask_size shares) will move the market up spread + 1 ticks.
    per_share = (spread + 1) / ask_size
    cfg = ReplayConfig(
        impact=ImpactConfig(
            enabled=True, permanent_ticks_per_share=0.0, transient_ticks_per_share=per_share
        )
    )
    replay = MarketReplay(aapl, cfg, start_ns=40_000 * S)
    qty = min(50, bid_size)
    replay.sell("B", qty, ask + TICK)  # resting one tick above the recorded ask
    out = replay.buy("A", ask_size, ask, time_in_force=TimeInForce.IOC)
    assert replay.engine.offset == (spread + 1) * TICK
    # The recorded bid, shifted, is now at B's price: B sells to it, at its own price.
    b_fills = [f for f in fills(out) if f.client_id == "B"]
    assert [(f.last_qty, f.last_price, f.liquidity) for f in b_fills] == [
        (qty, ask + TICK, Liquidity.ADDED)
    ]
    remaining = [(ask + TICK, bid_size - qty)] if bid_size > qty else []
    assert replay.levels(BUY, 1) == remaining
    assert replay.hist_levels(BUY, 1) == [(bid, bid_size)]  # history itself is untouched


# -- depth beyond the stored level ---------------------------------------------------------


def test_synthetic_shares_taken_come_off_the_real_level_when_it_is_revealed(
    aapl: ReplayData,
) -> None:
    book = np.asarray(aapl.book).reshape(aapl.rows, 4)
    ask, ask_size = book[:, 0], book[:, 1]
    et = np.asarray(aapl.event_type)
    revealed = (np.roll(ask, 1) + 200 == ask) & (et == 4) & (ask_size >= 100)
    j = int(np.flatnonzero(revealed & (np.asarray(aapl.ts_ns) > 40_000 * S))[0])
    p1, s1 = int(book[j - 1, 0]), int(book[j - 1, 1])
    replay = MarketReplay(aapl, start_row=j)
    out = replay.buy("me", s1 + 50)
    assert [(f.last_qty, f.last_price) for f in fills(out)] == [(s1, p1), (50, p1 + 200)]
    replay.step()  # history empties p1; the next level, 2 ticks up, comes into view
    assert replay.hist_levels(SELL, 1) == [(p1 + 200, int(ask_size[j]))]
    assert replay.levels(SELL, 1) == [(p1 + 200, int(ask_size[j]) - 50)]


def test_no_synthetic_depth_means_the_sweep_stops_at_the_stored_level(aapl: ReplayData) -> None:
    cfg = ReplayConfig.model_validate({"depth": {"max_levels": 0}})
    replay = MarketReplay(aapl, cfg, start_ns=40_000 * S)
    ((p1, s1),) = replay.levels(SELL)
    out = replay.buy("me", s1 + 100)
    assert [(f.last_qty, f.last_price) for f in fills(out)] == [(s1, p1)]
    last = out[-1]
    assert isinstance(last, ExecReport) and last.exec_type is ExecType.CANCELED


# -- clock ---------------------------------------------------------------------------------


def test_clock_as_fast_as_possible_and_real_time_times_speed() -> None:
    assert AsFastAsPossible().delay_s(123) == 0.0
    assert isinstance(make_clock(None), AsFastAsPossible)
    assert isinstance(make_clock(0), AsFastAsPossible)
    wall = [100.0]
    clock = RealTimeClock(speed=2.0, monotonic=lambda: wall[0])
    assert clock.delay_s(34_200 * S) == 0.0  # anchors replay time to now
    assert clock.delay_s(34_210 * S) == pytest.approx(5.0)  # 10 s of replay at 2×
    wall[0] += 1.5
    assert clock.delay_s(34_210 * S) == pytest.approx(3.5)
    wall[0] += 10
    assert clock.delay_s(34_210 * S) == 0.0  # late: due now
    with pytest.raises(ValueError, match="speed"):
        RealTimeClock(speed=0)
