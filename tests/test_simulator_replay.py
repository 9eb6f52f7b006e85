"""The market replay on the real LOBSTER sample days, with and without our orders in the book."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from rlexec.market.book import L2Book
from rlexec.market.events import BookLevelUpdate, Trade
from rlexec.market.orders import Side, TimeInForce
from rlexec.simulator.config import DepthConfig, ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import (
    CancelReject,
    ExecReport,
    ExecType,
    Liquidity,
    OrderStatus,
    RejectCode,
    Report,
)
from rlexec.simulator.replay import MarketReplay, fills

BUY, SELL = Side.BUY, Side.SELL
TICK = 100
PX_580 = 5_800_000
DEEP_QUEUE_ROW = 92_892
"""AAPL 15:19:48.54: the $580.00 bid holds 22,244 shares; over the next 1.4 s it is executed
and cancelled away, ending in one seller sweeping 43 resting orders."""
SWEEP_ROW = 93_495
"""AAPL: first row of that 43-order sweep (2,035 shares left at $580.00 just before it)."""


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def amzn5(amzn5_message: Path) -> ReplayData:
    return ReplayData.load(amzn5_message)


def row_levels(data: ReplayData, i: int, side: Side) -> list[tuple[int, int]]:
    cells = data.book_row(i)
    first = 2 if side is BUY else 0
    return [(cells[k], cells[k + 1]) for k in range(first, data.width, 4) if cells[k + 1] > 0]


def new_order(reports: list[Report]) -> int:
    first = reports[0]
    assert isinstance(first, ExecReport) and first.exec_type is ExecType.NEW, first
    return first.order_id


def first_row(data: ReplayData, condition: npt.NDArray[Any], after_s: float = 36_000.0) -> int:
    """First row (after a time) satisfying a boolean condition over rows."""
    ts = np.asarray(data.ts_ns)
    idx = np.flatnonzero(condition & (ts > after_s * 1e9))
    assert len(idx), "the sample data has no such moment"
    return int(idx[0])


def arrays(data: ReplayData) -> dict[str, npt.NDArray[Any]]:
    book = np.asarray(data.book).reshape(data.rows, data.width)
    return {
        "et": np.asarray(data.event_type),
        "dir": np.asarray(data.direction),
        "px": np.asarray(data.price),
        "size": np.asarray(data.size),
        "ask": book[:, 0],
        "bid": book[:, 2],
    }


# -- the replay alone reproduces the orderbook file ---------------------------------------


@pytest.mark.parametrize("name", ["aapl", "amzn5"])
def test_replay_reproduces_the_orderbook_file_row_by_row(
    name: str, request: pytest.FixtureRequest
) -> None:
    data: ReplayData = request.getfixturevalue(name)
    replay = MarketReplay(data)
    n = data.levels
    for i in range(data.rows):
        assert replay.step() == []
        for side in (BUY, SELL):
            assert replay.levels(side, n) == row_levels(data, i, side), (i, side)
    # the quirks were met and handled: orders never seen submitted, levels revealed
    stats = replay.stats
    assert stats.unknown_events > 5_000
    assert stats.unmatched_events == 0
    assert stats.revealed_shares > 0
    # The messages did the work: the row had to correct a price already in view only rarely
    # (ignoring any one event type would need tens of thousands of corrections).
    assert stats.corrected_in_view < data.rows / 100


def test_replay_started_mid_day_from_the_orderbook_row(aapl: ReplayData) -> None:
    start = aapl.row_after(45_000 * 10**9)
    replay = MarketReplay(aapl, start_ns=45_000 * 10**9)
    assert replay.row == start and replay.now_ns == 45_000 * 10**9
    for side in (BUY, SELL):
        assert replay.levels(side) == row_levels(aapl, start - 1, side)
    for i in range(start, start + 20_000):
        replay.step()
        for side in (BUY, SELL):
            assert replay.levels(side, 1) == row_levels(aapl, i, side)
    assert replay.stats.unknown_events > 0  # orders submitted before the start


def test_warmup_names_more_resting_orders_than_a_cold_start(aapl: ReplayData) -> None:
    start = 45_000 * 10**9
    cold = MarketReplay(aapl, start_ns=start)
    warm = MarketReplay(aapl, ReplayConfig(warmup_s=300), start_ns=start)
    assert warm.row == cold.row and warm.now_ns == cold.now_ns
    for side in (BUY, SELL):
        assert warm.levels(side) == cold.levels(side) == row_levels(aapl, cold.row - 1, side)
    warm_before = warm.stats.unknown_events
    cold.step(3_000)
    warm.step(3_000)
    assert warm.levels(BUY) == cold.levels(BUY) and warm.levels(SELL) == cold.levels(SELL)
    assert warm.stats.unknown_events - warm_before < cold.stats.unknown_events


def test_bad_configuration_names_the_field() -> None:
    with pytest.raises(ValidationError, match="tick_size"):
        ReplayConfig(tick_size=0)
    with pytest.raises(ValidationError, match="transient_half_life_s"):
        ImpactConfig(transient_half_life_s=-1)
    with pytest.raises(ValidationError, match="extra"):
        ReplayConfig.model_validate({"tick_sise": 100})


def test_start_outside_the_data_is_refused(aapl: ReplayData) -> None:
    with pytest.raises(ValueError, match="start_row"):
        MarketReplay(aapl, start_row=aapl.rows + 1)


# -- queue position ------------------------------------------------------------------------


def test_passive_buy_in_a_deep_queue_fills_only_after_the_volume_ahead_has_gone(
    aapl: ReplayData,
) -> None:
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    assert replay.levels(BUY, 1) == [(PX_580, 22_244)]
    oid = new_order(replay.buy("me", 100, PX_580))
    ahead0 = replay.queue_ahead(oid)
    assert ahead0 == 22_244  # the back of the queue
    a = arrays(aapl)
    executed_at_price_before_fill = 0
    gone_at_price = 0  # executed or cancelled at $580.00 since we joined
    fill_row = None
    for i in range(DEEP_QUEUE_ROW, DEEP_QUEUE_ROW + 1_000):
        ahead = replay.queue_ahead(oid)
        got = fills(replay.step())
        at_our_bid = a["px"][i] == PX_580 and a["dir"][i] == 1
        if at_our_bid and a["et"][i] in (2, 3, 4):
            gone_at_price += int(a["size"][i])
        if got:
            fill_row = i
            assert a["et"][i] == 4 and at_our_bid
            assert int(a["size"][i]) > ahead  # this execution reached past what was ahead
            assert [(f.last_qty, f.last_price, f.liquidity) for f in got] == [
                (100, PX_580, Liquidity.ADDED)
            ]
            break
        if a["et"][i] == 4 and at_our_bid:
            executed_at_price_before_fill += int(a["size"][i])
    assert fill_row is not None
    assert gone_at_price >= ahead0  # everything ahead of us had traded or been cancelled
    # A model without a queue would have filled us at the very first execution at $580.00.
    assert executed_at_price_before_fill > 4_000
    assert replay.order(oid).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_only_events_of_orders_ahead_move_us_up(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    oid = new_order(replay.buy("me", 100, PX_580))
    ids = aapl.order_id
    a = arrays(aapl)
    submitted_after_us: set[int] = set()
    moved_ahead = moved_behind = 0
    for i in range(DEEP_QUEUE_ROW, SWEEP_ROW - 50):
        before = replay.queue_ahead(oid)
        replay.step()
        after = replay.queue_ahead(oid)
        ours = a["px"][i] == PX_580 and a["dir"][i] == 1
        if a["et"][i] == 1 and ours:
            submitted_after_us.add(ids[i])
            assert after == before  # joins behind us
        elif a["et"][i] in (2, 3, 4) and ours:
            if ids[i] in submitted_after_us:
                assert after == before  # behind us: no effect
                moved_behind += a["et"][i] != 4
            else:
                assert after == before - a["size"][i]  # ahead of us: we move up exactly
                moved_ahead += 1
        else:
            assert after == before
    assert moved_ahead > 100 and moved_behind > 5  # both cases really happened


def test_replace_keeps_priority_only_for_a_smaller_size_at_the_same_price(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    mine = new_order(replay.buy("me", 100, PX_580, client_order_id="m1"))
    theirs = new_order(replay.buy("them", 100, PX_580))
    assert replay.queue_ahead(theirs) == 22_244 + 100
    out = replay.replace("me", mine, new_client_order_id="m2", quantity=60)
    assert isinstance(out[0], ExecReport) and out[0].exec_type is ExecType.REPLACED
    assert out[0].orig_client_order_id == "m1" and out[0].client_order_id == "m2"
    assert replay.queue_ahead(mine) == 22_244 and replay.queue_ahead(theirs) == 22_244 + 60
    replay.replace("me", mine, quantity=200)  # larger: to the back
    assert replay.queue_ahead(mine) == 22_244 + 100
    replay.replace("me", mine, price=PX_580 - TICK)  # new price: the back of that level
    order = replay.order(mine)
    assert order is not None and order.price == PX_580 - TICK and order.leaves == 200


# -- aggressive orders ---------------------------------------------------------------------


def test_market_order_walks_the_stored_levels_at_the_right_average_price(amzn5: ReplayData) -> None:
    start = amzn5.row_after(40_000 * 10**9)
    replay = MarketReplay(amzn5, start_row=start)
    asks = replay.levels(SELL)
    assert len(asks) == 5
    qty = asks[0][1] + asks[1][1] + asks[2][1] + 1
    out = replay.buy("me", qty)
    got = fills(out)
    expected_notional = sum(p * s for p, s in asks[:3]) + asks[3][0]
    assert sum(f.last_qty for f in got) == qty
    assert [f.last_price for f in got] == sorted(f.last_price for f in got)
    assert {f.last_price for f in got} == {p for p, _ in asks[:4]}
    last = got[-1]
    assert last.status is OrderStatus.FILLED and last.cum_qty == qty and last.leaves_qty == 0
    assert last.avg_price == pytest.approx(expected_notional / qty)
    assert replay.levels(SELL, 2) == [(asks[3][0], asks[3][1] - 1), asks[4]]


def test_sweep_past_the_stored_depth_meets_synthetic_levels(aapl: ReplayData) -> None:
    start = aapl.row_after(40_000 * 10**9)
    cfg = ReplayConfig(depth=DepthConfig(gap_ticks=2, max_levels=3))
    replay = MarketReplay(aapl, cfg, start_row=start)
    ((p1, s1),) = replay.levels(SELL)
    size = aapl.mean_ask_size
    assert 100 < size < 200
    out = replay.buy("me", s1 + 2 * size + 10)
    got = [(f.last_qty, f.last_price) for f in fills(out)]
    assert got == [(s1, p1), (size, p1 + 200), (size, p1 + 400), (10, p1 + 600)]
    assert out[-1].avg_price == pytest.approx(  # type: ignore[union-attr]
        (s1 * p1 + size * (p1 + 200) + size * (p1 + 400) + 10 * (p1 + 600)) / (s1 + 2 * size + 10)
    )
    # What was taken out there stays taken: a second sweep finds the rest, then runs dry.
    again = replay.buy("me", 10 * size)
    got2 = [(f.last_qty, f.last_price) for f in fills(again)]
    assert got2 == [(size - 10, p1 + 600)]
    final = again[-1]
    assert isinstance(final, ExecReport) and final.exec_type is ExecType.CANCELED
    assert final.cum_qty == size - 10 and "unfilled remainder cancelled" in (final.reason or "")
    assert replay.levels(SELL) == []  # the synthetic levels are never displayed


def test_taken_liquidity_is_reconciled_not_replayed_twice(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, ReplayConfig(market_data=True), start_row=SWEEP_ROW - 1)
    assert replay.levels(BUY, 1) == [(PX_580, 2_035)]
    replay.market_events()
    out = replay.sell("me", 500, PX_580, time_in_force=TimeInForce.IOC)
    assert sum(f.last_qty for f in fills(out)) == 500
    assert replay.levels(BUY, 1) == [(PX_580, 1_535)]
    assert replay.hist_levels(BUY, 1) == [(PX_580, 2_035)]  # the recorded market still has it
    replay.market_events()
    a = arrays(aapl)
    end = SWEEP_ROW + 44  # the sweep and the last execution that empties $580.00
    executed = int(a["size"][SWEEP_ROW - 1 : end][(a["et"][SWEEP_ROW - 1 : end] == 4)].sum())
    replay.step(end - replay.row)
    prints = [e for e in replay.market_events() if isinstance(e, Trade) and e.price == PX_580]
    assert executed == 2_035
    assert sum(t.size for t in prints) == executed - 500
    assert replay.hist_levels(BUY, 1) == row_levels(aapl, end - 1, BUY)


def test_aggressive_order_takes_anonymous_volume_before_later_orders(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    level = replay.engine.bids.levels[PX_580]
    assert level.anon_sim == 22_244 and level.hist == 22_244
    replay.sell("me", 300, PX_580, time_in_force=TimeInForce.IOC)
    assert level.anon_sim == 22_244 - 300 and level.anon_hist == 22_244


# -- recorded flow filling our resting orders ----------------------------------------------


def test_recorded_execution_below_our_better_bid_fills_us_at_our_price(aapl: ReplayData) -> None:
    a = arrays(aapl)
    prev_spread = np.roll(a["ask"] - a["bid"], 1)
    j = first_row(aapl, (a["et"] == 4) & (a["dir"] == 1) & (a["size"] >= 50) & (prev_spread >= 300))
    bid = aapl.book_row(j - 1)[2]
    assert a["px"][j] == bid
    replay = MarketReplay(aapl, start_row=j)
    oid = new_order(replay.buy("me", 40, bid + TICK))
    got = fills(replay.step())
    assert [(f.order_id, f.last_qty, f.last_price, f.liquidity) for f in got] == [
        (oid, 40, bid + TICK, Liquidity.ADDED)
    ]
    assert replay.hist_levels(BUY, 1) == row_levels(aapl, j, BUY)  # history replayed unchanged


def test_recorded_order_crossing_our_resting_sell_trades_with_it(aapl: ReplayData) -> None:
    a = arrays(aapl)
    prev_bid = np.roll(a["bid"], 1)
    prev_ask = np.roll(a["ask"], 1)
    j = first_row(
        aapl,
        (a["et"] == 1) & (a["dir"] == 1) & (a["px"] >= prev_bid + 200) & (a["px"] < prev_ask)
        & (a["size"] >= 20),
    )  # fmt: skip
    bid = aapl.book_row(j - 1)[2]
    size = int(a["size"][j])
    replay = MarketReplay(aapl, start_row=j)
    oid = new_order(replay.sell("me", size + 50, bid + TICK))
    got = fills(replay.step())
    assert [(f.order_id, f.last_qty, f.last_price) for f in got] == [(oid, size, bid + TICK)]
    assert replay.hist_levels(BUY, 1) == [(int(a["px"][j]), size)]  # recorded: it rests
    # Simulated: we took it, and the old best bid is now below the stored depth (unknown).
    assert replay.levels(BUY, 1) == []
    assert replay.levels(SELL, 1) == [(bid + TICK, 50)]


@pytest.mark.parametrize("hidden_fills", [True, False])
def test_hidden_executions_inside_the_spread_fill_our_better_bid(
    aapl: ReplayData, hidden_fills: bool
) -> None:
    a = arrays(aapl)
    prev_ask = np.roll(a["ask"], 1)
    j = first_row(aapl, (a["et"] == 5) & (a["dir"] == 1) & (a["px"] + 100 < prev_ask))
    price = -(-int(a["px"][j]) // TICK) * TICK  # on the grid, at or above the hidden price
    replay = MarketReplay(aapl, ReplayConfig(hidden_fills=hidden_fills), start_row=j)
    oid = new_order(replay.buy("me", 1_000, price))
    got = fills(replay.step())
    if hidden_fills:
        assert [(f.order_id, f.last_qty, f.last_price) for f in got] == [
            (oid, int(a["size"][j]), price)
        ]
    else:
        assert got == []


# -- the cancel / fill race ----------------------------------------------------------------


def _first_fill_row(aapl: ReplayData, qty: int) -> int:
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    replay.buy("me", qty, PX_580)
    while not replay.finished:
        if fills(replay.step()):
            return replay.row - 1
    raise AssertionError("never filled")


def test_cancel_that_arrives_before_the_fill_wins(aapl: ReplayData) -> None:
    j = _first_fill_row(aapl, 100)
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    oid = new_order(replay.buy("me", 100, PX_580))
    replay.step(j - replay.row)  # everything before the filling execution
    out = replay.cancel("me", oid)
    assert isinstance(out[0], ExecReport) and out[0].exec_type is ExecType.CANCELED
    assert out[0].cum_qty == 0
    assert fills(replay.step(50)) == []


def test_cancel_that_arrives_after_the_fill_is_too_late(aapl: ReplayData) -> None:
    j = _first_fill_row(aapl, 100)
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    oid = new_order(replay.buy("me", 100, PX_580))
    replay.step(j - replay.row + 1)
    out = replay.cancel("me", oid)
    assert isinstance(out[0], CancelReject)
    assert out[0].reject_code is RejectCode.ORDER_DONE and out[0].status is OrderStatus.FILLED


def test_cancel_after_a_partial_fill_cancels_the_rest(aapl: ReplayData) -> None:
    j = _first_fill_row(aapl, 5_000)
    replay = MarketReplay(aapl, start_row=DEEP_QUEUE_ROW)
    oid = new_order(replay.buy("me", 5_000, PX_580))
    filled = sum(f.last_qty for f in fills(replay.step(j - replay.row + 1)))
    assert 0 < filled < 5_000
    out = replay.cancel("me", oid)
    assert isinstance(out[0], ExecReport) and out[0].exec_type is ExecType.CANCELED
    order = replay.order(oid)
    assert order is not None
    assert (order.cum_qty, order.leaves, order.canceled_qty) == (filled, 0, 5_000 - filled)


# -- participants among themselves ---------------------------------------------------------


def test_self_match_prevention_and_cross_client_matching_in_the_replay(aapl: ReplayData) -> None:
    start = aapl.row_after(40_000 * 10**9)
    replay = MarketReplay(aapl, start_row=start)
    bid, ask = replay.best_bid, replay.best_ask
    assert bid is not None and ask is not None and ask - bid >= 3 * TICK
    inside = bid + TICK
    resting = new_order(replay.sell("A", 100, inside))
    out = replay.buy("A", 50, inside)
    assert not fills(out)
    cancelled = [r for r in out if isinstance(r, ExecReport) and r.exec_type is ExecType.CANCELED]
    assert [r.order_id for r in cancelled] == [resting]
    assert cancelled[0].reject_code is RejectCode.SELF_MATCH
    assert replay.levels(BUY, 1) == [(inside, 50)]
    out = replay.sell("B", 30, inside)
    assert sorted((f.client_id, f.last_qty, f.last_price, f.liquidity) for f in fills(out)) == [
        ("A", 30, inside, Liquidity.ADDED),
        ("B", 30, inside, Liquidity.REMOVED),
    ]


def test_orders_expire_at_the_end_of_the_day_and_the_venue_closes(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, start_row=aapl.rows - 100)
    bid = replay.best_bid
    assert bid is not None
    oid = new_order(replay.buy("me", 100, bid - 50 * TICK))
    out = replay.run()
    assert replay.finished and replay.now_ns == aapl.end_ns == 57_600 * 10**9
    expired = [r for r in out if isinstance(r, ExecReport) and r.exec_type is ExecType.EXPIRED]
    assert [r.order_id for r in expired] == [oid]
    late = replay.buy("me", 100, bid)
    assert isinstance(late[0], ExecReport) and late[0].reject_code is RejectCode.MARKET_CLOSED


def test_same_input_same_output(aapl: ReplayData) -> None:
    def session() -> list[Report]:
        replay = MarketReplay(aapl, start_ns=50_000 * 10**9)
        out: list[Report] = []
        for k in range(30):
            bid = replay.best_bid or 5_800_000
            out += replay.buy("A", 100 + k, bid)
            out += replay.advance_by(2.0)
            if k % 3 == 0:
                out += replay.sell("B", 50)
            out += replay.cancel_all("A")
        return out

    assert session() == session()


# -- market data ---------------------------------------------------------------------------


def test_market_events_rebuild_the_simulated_book(aapl: ReplayData) -> None:
    replay = MarketReplay(aapl, ReplayConfig(market_data=True), start_row=DEEP_QUEUE_ROW)
    book = L2Book()
    book.apply_snapshot(replay.snapshot())
    trades = 0
    for k in range(300):
        if k == 100:
            replay.buy("me", 100, PX_580 + TICK)
        if k == 200:
            replay.sell("me", 400)
        replay.step()
        for event in replay.market_events():
            book.apply(event)
            trades += isinstance(event, Trade)
            if isinstance(event, BookLevelUpdate):
                assert event.size >= 0
        assert book.levels(BUY, 1) == replay.levels(BUY, 1)
        assert book.levels(SELL, 1) == replay.levels(SELL, 1)
    assert trades > 50
