"""The replay's switchable fill models on the real sample days: aggressor consumption,
queue position of unknown order ids, hidden-execution fills."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rlexec.market.events import Trade
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.book import BookSide, HistOrder
from rlexec.simulator.config import ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import ExecReport, ExecType, Liquidity, Order, OrderStatus, Report
from rlexec.simulator.replay import MarketReplay, fills

BUY, SELL = Side.BUY, Side.SELL
TICK = 100
S = 10**9
START_ROWS = (1_000, 14_200, 55_000, 92_880, 118_000)
WINDOWS_S = [int(s) for s in np.linspace(36_000, 56_000, 40)]
"""Fixed one-minute windows across the AAPL day (chosen before looking at any result)."""

Passive = Literal["overlay", "consume"]
Unknown = Literal["ahead", "by_id"]


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


def book_arrays(data: ReplayData) -> dict[str, npt.NDArray[Any]]:
    book = np.asarray(data.book).reshape(data.rows, data.width)
    return {
        "et": np.asarray(data.event_type),
        "dir": np.asarray(data.direction),
        "px": np.asarray(data.price),
        "size": np.asarray(data.size),
        "ask": book[:, 0],
        "bid": book[:, 2],
    }


def new_order(reports: list[Report]) -> int:
    first = reports[0]
    assert isinstance(first, ExecReport) and first.exec_type is ExecType.NEW, first
    return first.order_id


def check_side(side: BookSide) -> None:
    """Running totals agree with the orders; nothing negative; spared shares are tracked."""
    own_total = 0
    for lvl in side.iter_levels():
        hist, sim, own = lvl.anon_hist, lvl.anon_sim, 0
        assert lvl.anon_hist >= 0 and lvl.anon_sim >= 0, lvl
        spared = lvl.anon_sim > lvl.anon_hist
        for key, entry in lvl.orders.items():
            if key > 0:
                assert isinstance(entry, HistOrder) and entry.level is lvl
                assert entry.hist >= 0 and entry.sim >= 0, lvl
                assert entry.hist or entry.sim, "a spent historical order left behind"
                hist += entry.hist
                sim += entry.sim
                spared |= entry.sim > entry.hist
            else:
                assert isinstance(entry, Order) and entry.level is lvl and entry.leaves > 0
                own += entry.leaves
        assert (lvl.hist, lvl.sim, lvl.own) == (hist, sim, own), lvl
        assert lvl.hist or lvl.sim or lvl.own, "empty level left behind"
        assert not spared or lvl.price in side.spared, "spared shares nobody tracks"
        own_total += own
    assert side.own_total == own_total


def check_replay(replay: MarketReplay, data: ReplayData, reports: Sequence[Report]) -> None:
    check_side(replay.engine.bids)
    check_side(replay.engine.asks)
    bid, ask = replay.best_bid, replay.best_ask
    if bid is not None and ask is not None:
        assert bid < ask, "simulated book crossed"
    if replay.row:
        cells = data.book_row(replay.row - 1)
        assert replay.hist_levels(SELL, 1) == ([(cells[0], cells[1])] if cells[1] else [])
        assert replay.hist_levels(BUY, 1) == ([(cells[2], cells[3])] if cells[3] else [])
    for order in replay.engine.orders.values():
        assert order.cum_qty + order.leaves + order.canceled_qty == order.quantity
    for r in reports:
        if isinstance(r, ExecReport) and r.is_fill:
            order = replay.engine.orders[r.order_id]
            if order.price is not None:
                assert r.last_price <= order.price if r.side is BUY else r.last_price >= order.price
            if r.liquidity is Liquidity.ADDED:
                assert r.last_price == order.price


# -- configuration ---------------------------------------------------------------------------


def test_defaults_are_the_replay_as_it_was() -> None:
    cfg = ReplayConfig()
    assert cfg.passive_fill_model == "overlay" and cfg.unknown_queue == "ahead"
    assert cfg.hidden_fills and not cfg.impact.enabled and cfg.depth.model == "uniform"


def test_an_unknown_mode_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="passive_fill_model"):
        ReplayConfig.model_validate({"passive_fill_model": "double"})
    with pytest.raises(ValidationError, match="unknown_queue"):
        ReplayConfig.model_validate({"unknown_queue": "behind"})


# -- aggressor consumption -------------------------------------------------------------------


def _inside_execution_row(aapl: ReplayData) -> int:
    """First execution at the bid of ≥ 50 shares while the spread is ≥ 3 ticks, after 10:00,
    by an order resting since before the row (a known id)."""
    a = book_arrays(aapl)
    prev_spread = np.roll(a["ask"] - a["bid"], 1)
    ts = np.asarray(aapl.ts_ns)
    ok = (a["et"] == 4) & (a["dir"] == 1) & (a["size"] >= 50) & (prev_spread >= 300)
    return int(np.flatnonzero(ok & (ts > 36_000 * S))[0])


@pytest.mark.parametrize("passive", ["overlay", "consume"])
def test_an_order_alone_inside_the_spread_fills_the_same_what_follows_differs(
    aapl: ReplayData, passive: Passive
) -> None:
    j = _inside_execution_row(aapl)
    bid = aapl.book_row(j - 1)[2]
    size = aapl.size[j]
    cfg = ReplayConfig(passive_fill_model=passive, market_data=True)
    replay = MarketReplay(aapl, cfg, start_row=j)
    replay.market_events()
    oid = new_order(replay.buy("me", 40, bid + TICK))
    got = fills(replay.step())
    # Ahead of everything the aggressor could reach: filled in either model.
    assert [(f.order_id, f.last_qty, f.last_price) for f in got] == [(oid, 40, bid + TICK)]
    prints = [e for e in replay.market_events() if isinstance(e, Trade)]
    recorded = replay.hist_levels(BUY, 1)
    simulated = replay.levels(BUY, 1)
    if passive == "overlay":  # the aggressor's shares counted twice
        assert sum(t.size for t in prints) == size + 40
        assert simulated == recorded
    else:  # the aggressor had `size` shares: 40 met us, the rest reached the bid
        assert sum(t.size for t in prints) == size
        assert replay.stats.spared_shares == 40
        assert simulated[0][0] == bid and simulated[0][1] == (
            recorded[0][1] + 40 if recorded and recorded[0][0] == bid else 40
        )


def test_re_posting_inside_the_spread_fills_less_when_the_aggressor_is_consumed(
    aapl: ReplayData,
) -> None:
    """A passive schedule alone inside the spread: each filled child is replaced by a new one
    one tick inside. Overlay lets every aggressor fill us and still hit the recorded bid;
    consume leaves the recorded buyers it spared in the book, competing with our next child."""

    def shares(passive: Passive) -> int:
        total = 0
        for start in WINDOWS_S:
            replay = MarketReplay(
                aapl, ReplayConfig(passive_fill_model=passive), start_ns=start * S
            )
            working: int | None = None
            while replay.now_ns < (start + 60) * S and not replay.finished:
                if working is None or replay.order(working).leaves == 0:  # type: ignore[union-attr]
                    bid, ask = replay.best_bid, replay.best_ask
                    if bid is None or ask is None:
                        break
                    price = bid + TICK if ask - bid > TICK else bid
                    working = new_order(replay.buy("me", 100, price))
                got = fills(replay.step())
                total += sum(f.last_qty for f in got if f.client_id == "me")
        return total

    overlay, consume = shares("overlay"), shares("consume")
    assert consume < 0.9 * overlay, (overlay, consume)


def test_a_later_order_queues_behind_the_shares_an_earlier_fill_spared(aapl: ReplayData) -> None:
    j = _inside_execution_row(aapl)
    bid = aapl.book_row(j - 1)[2]

    def first_fill_of_second(passive: Passive) -> int:
        replay = MarketReplay(aapl, ReplayConfig(passive_fill_model=passive), start_row=j)
        replay.buy("A", 40, bid + TICK)
        replay.step()  # A is filled by the execution at the bid
        second = new_order(replay.buy("B", 100, bid))  # joins the recorded bid's queue
        while not replay.finished:
            if any(f.order_id == second for f in fills(replay.step())):
                return replay.row
        raise AssertionError("never filled")

    assert first_fill_of_second("consume") >= first_fill_of_second("overlay")


sides = st.sampled_from([BUY, SELL])
limit = st.tuples(
    st.just("limit"), st.sampled_from(["A", "B"]), sides, st.integers(1, 600),
    st.integers(-3, 12), st.booleans(),
)  # fmt: skip
market = st.tuples(st.just("market"), st.sampled_from(["A", "B"]), sides, st.integers(1, 800))
cancel = st.tuples(st.just("cancel"), st.integers(0, 1_000))
replace = st.tuples(
    st.just("replace"), st.integers(0, 1_000), st.integers(1, 600), st.integers(-2, 2)
)
wait = st.tuples(st.just("wait"), st.integers(1, 400))
scripts = st.lists(
    st.one_of(limit, limit, market, cancel, replace, wait, wait, wait), min_size=6, max_size=16
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.sampled_from(START_ROWS),
    unknown=st.sampled_from(["ahead", "by_id"]),
    impact=st.booleans(),
    hidden_fills=st.booleans(),
    script=scripts,
)
def test_random_participants_in_consume_mode_never_corrupt_the_replay(
    aapl: ReplayData,
    start: int,
    unknown: Unknown,
    impact: bool,
    hidden_fills: bool,
    script: list[tuple[object, ...]],
) -> None:
    cfg = ReplayConfig(
        passive_fill_model="consume",
        unknown_queue=unknown,
        hidden_fills=hidden_fills,
        impact=ImpactConfig(
            enabled=impact, permanent_ticks_per_share=0.002, transient_ticks_per_share=0.01
        ),
    )
    replay = MarketReplay(aapl, cfg, start_row=start)
    ids: list[int] = []
    for action in script:
        out: list[Report] = []
        touch = round((replay.reference_mid or 5_800_000) / TICK) * TICK
        kind = action[0]
        if kind == "limit":
            _, client, side, qty, ticks, ioc = action
            assert isinstance(side, Side) and isinstance(ticks, int) and isinstance(qty, int)
            tif = TimeInForce.IOC if ioc else TimeInForce.DAY
            price = touch - int(side) * ticks * TICK
            out = replay.submit(str(client), side, qty, price, time_in_force=tif)
        elif kind == "market":
            _, client, side, qty = action
            assert isinstance(side, Side) and isinstance(qty, int)
            out = replay.submit(str(client), side, qty, order_type=OrderType.MARKET)
        elif kind in ("cancel", "replace") and ids:
            pick = action[1]
            assert isinstance(pick, int)
            order = replay.engine.orders[ids[pick % len(ids)]]
            if kind == "cancel":
                out = replay.cancel(order.client_id, order.order_id)
            else:
                _, _, qty, shift = action
                assert isinstance(qty, int) and isinstance(shift, int)
                price = (order.price or touch) + shift * TICK
                out = replay.replace(order.client_id, order.order_id, quantity=qty, price=price)
        elif kind == "wait":
            rows = action[1]
            assert isinstance(rows, int)
            for _ in range(rows):
                if replay.finished:
                    break
                check_replay(replay, aapl, replay.step())
        ids += [r.order_id for r in out if isinstance(r, ExecReport) and r.order_id not in ids]
        check_replay(replay, aapl, out)
    event(f"spared shares: {bool(replay.stats.spared_shares)}")
    event(f"spared shares taken: {bool(replay.stats.spared_taken)}")


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.integers(2_000, 115_000),
    passive=st.sampled_from(["overlay", "consume"]),
    unknown=st.sampled_from(["ahead", "by_id"]),
    hidden_fills=st.booleans(),
    side=sides,
    orders=st.lists(st.tuples(st.integers(-2, 6), st.integers(1, 500)), min_size=1, max_size=4),
    rows=st.integers(50, 600),
)
def test_passive_fills_never_exceed_the_recorded_volume_at_prices_we_could_trade(
    aapl: ReplayData,
    start: int,
    passive: Passive,
    unknown: Unknown,
    hidden_fills: bool,
    side: Side,
    orders: list[tuple[int, int]],
    rows: int,
) -> None:
    """Resting orders on one side only: every share they get in a row comes from that row's
    recorded volume (an execution at our price or worse, or a submission crossing us) or from
    volume the orderbook row revealed; in consume mode the prints of an execution add up to
    no more than the recorded aggressor had."""
    cfg = ReplayConfig(
        passive_fill_model=passive,
        unknown_queue=unknown,
        hidden_fills=hidden_fills,
        market_data=True,
    )
    replay = MarketReplay(aapl, cfg, start_row=start)
    for k, (ticks, qty) in enumerate(orders):
        touch = replay.best_bid if side is BUY else replay.best_ask
        if touch is None:
            return
        replay.submit("me", side, qty, touch + int(side) * ticks * TICK)
        check_replay(replay, aapl, [])
        if k < len(orders) - 1:
            replay.step(20)
    replay.market_events()
    buy_side = 1 if side is BUY else -1  # LOBSTER direction of our resting side
    for _ in range(rows):
        if replay.finished:
            break
        i = replay.row
        revealed = replay.stats.revealed_shares
        working = [o.price for o in replay.engine.working_orders() if o.price is not None]
        out = replay.step()
        check_replay(replay, aapl, out)
        got = [f for f in fills(out) if f.liquidity is Liquidity.ADDED]
        et, size, px = aapl.event_type[i], aapl.size[i], aapl.price[i]
        ours = aapl.direction[i] == buy_side
        # volume revealed by the row, and recorded volume in view that crosses us
        extra = replay.stats.revealed_shares - revealed
        if working:
            cells = aapl.book_row(i)
            first = 0 if side is BUY else 2
            ours_best = max(working) if side is BUY else min(working)
            extra += sum(
                cells[k + 1]
                for k in range(first, aapl.width, 4)
                if (cells[k] <= ours_best if side is BUY else cells[k] >= ours_best)
            )
        allowed = extra
        if et in (4, 5) and ours and (et == 4 or hidden_fills):
            allowed += size
            for f in got:
                assert f.last_price >= px if side is BUY else f.last_price <= px
        elif et == 1 and not ours:
            allowed += size
        assert sum(f.last_qty for f in got) <= allowed, (i, et, size, got)
        prints = [e for e in replay.market_events() if isinstance(e, Trade)]
        if passive == "consume" and et in (4, 5) and not extra:
            assert sum(t.size for t in prints) <= size
    event(f"{passive}: filled {bool(replay.stats.passive_fills)}")


# -- queue position of unknown ids -----------------------------------------------------------


def _fill_path(aapl: ReplayData, unknown: Unknown, start: int, ticks_below: int) -> list[int]:
    replay = MarketReplay(aapl, ReplayConfig(unknown_queue=unknown), start_ns=start * S)
    bid = replay.best_bid
    assert bid is not None
    oid = new_order(replay.buy("me", 500, bid - ticks_below * TICK))
    path = []
    while replay.now_ns < (start + 300) * S and not replay.finished:
        replay.step()
        order = replay.order(oid)
        assert order is not None
        path.append(order.cum_qty)
    return path


def test_by_id_fills_earlier_than_ahead_and_never_later(aapl: ReplayData) -> None:
    """Five minutes of a 500-share bid at, 1 and 3 ticks below the touch, in 40 windows."""
    earlier = 0
    for start in WINDOWS_S:
        for below in (0, 1, 3):
            ahead = _fill_path(aapl, "ahead", start, below)
            by_id = _fill_path(aapl, "by_id", start, below)
            assert len(ahead) == len(by_id)
            assert all(b >= a for a, b in zip(ahead, by_id, strict=True)), (start, below)
            earlier += by_id != ahead
    assert earlier >= 5


def test_an_unknown_id_later_than_our_entry_queues_behind_us(aapl: ReplayData) -> None:
    """The first row where by_id fills a lone bid that ahead does not: an execution of an
    order never seen submitted, whose id is larger than any seen when we joined."""
    for start in WINDOWS_S:
        for below in (0, 1, 3):
            a = _fill_path(aapl, "ahead", start, below)
            b = _fill_path(aapl, "by_id", start, below)
            if a != b:
                k = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
                replay = MarketReplay(aapl, start_ns=start * S)
                entry_row = replay.row
                row = entry_row + k
                assert aapl.event_type[row] == 4 and aapl.direction[row] == 1
                oid = aapl.order_id[row]
                assert oid > aapl.max_id_before(entry_row)
                assert oid not in {aapl.order_id[i] for i in range(row) if aapl.event_type[i] == 1}
                return
    raise AssertionError("no window where by_id differs")


# -- hidden executions -----------------------------------------------------------------------


@pytest.mark.parametrize("passive", ["overlay", "consume"])
@pytest.mark.parametrize("hidden_fills", [True, False])
def test_hidden_fills_are_an_assumption_with_an_off_switch(
    aapl: ReplayData, passive: Passive, hidden_fills: bool
) -> None:
    a = book_arrays(aapl)
    prev_ask = np.roll(a["ask"], 1)
    ts = np.asarray(aapl.ts_ns)
    hits = (a["et"] == 5) & (a["dir"] == 1) & (a["px"] + 100 < prev_ask) & (a["size"] >= 20)
    j = int(np.flatnonzero(hits & (ts > 36_000 * S))[0])
    size = int(a["size"][j])
    price = -(-int(a["px"][j]) // TICK) * TICK
    cfg = ReplayConfig(hidden_fills=hidden_fills, passive_fill_model=passive, market_data=True)
    replay = MarketReplay(aapl, cfg, start_row=j)
    oid = new_order(replay.buy("me", 10, price))
    replay.market_events()
    got = fills(replay.step())
    hidden_prints = [e.size for e in replay.market_events() if isinstance(e, Trade) and e.hidden]
    if not hidden_fills:
        assert got == [] and hidden_prints == [size]
        return
    assert [(f.order_id, f.last_qty, f.last_price) for f in got] == [(oid, 10, price)]
    # consume: the hidden order kept what we took; overlay: printed in full as well
    assert hidden_prints == ([size - 10] if passive == "consume" else [size])
    order = replay.order(oid)
    assert order is not None and order.status is OrderStatus.FILLED


# -- recorded orders coming into view across a resting order ---------------------------------

BEYOND_ROW = 2_485
"""AAPL 09:33: 20 rows later the best ask is $585.85 (100 shares) with a known order for 100
at $585.86 behind it, beyond the level-1 file's depth; at row 2,515 the $585.85 order is
deleted and $585.86 comes into view without a message of its own."""


@pytest.mark.parametrize("passive", ["overlay", "consume"])
def test_a_known_order_coming_into_view_across_our_bid_trades_with_it(
    aapl: ReplayData, passive: Passive
) -> None:
    replay = MarketReplay(aapl, ReplayConfig(passive_fill_model=passive), start_row=BEYOND_ROW)
    replay.step(20)
    assert replay.best_ask == 5_858_500
    assert replay.engine.asks.levels[5_858_600].hist == 100  # known, but beyond the depth
    out = replay.buy("me", 101, 5_858_600)  # takes $585.85, rests 1 share at $585.86
    oid = new_order(out)
    assert sum(f.last_qty for f in fills(out)) == 100
    while replay.row <= 2_515:
        got = fills(replay.step())
        check_replay(replay, aapl, got)
    assert replay.row == 2_516
    assert [(f.order_id, f.last_qty, f.last_price) for f in got] == [(oid, 1, 5_858_600)]
