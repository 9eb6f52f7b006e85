"""Property tests on the real AAPL day: random participants never corrupt the replay.

Whatever participants do, the recorded book (within the stored depth) stays exactly the
orderbook file, the simulated book is never crossed, quantities are conserved, every
fill respects its limit, and the book's running totals agree with its orders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.book import BookSide, HistOrder
from rlexec.simulator.config import ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import ExecReport, Liquidity, Order, Report
from rlexec.simulator.replay import MarketReplay

TICK = 100
START_ROWS = (1_000, 14_200, 55_000, 92_880, 118_000)


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


sides = st.sampled_from([Side.BUY, Side.SELL])
clients = st.sampled_from(["A", "B"])
limit = st.tuples(
    st.just("limit"), clients, sides, st.integers(1, 600), st.integers(-3, 12), st.booleans()
)
market = st.tuples(st.just("market"), clients, sides, st.integers(1, 800))
cancel = st.tuples(st.just("cancel"), st.integers(0, 1_000))
replace = st.tuples(
    st.just("replace"), st.integers(0, 1_000), st.integers(1, 600), st.integers(-2, 2)
)
wait = st.tuples(st.just("wait"), st.integers(1, 400))
scripts = st.lists(
    st.one_of(limit, limit, market, cancel, replace, wait, wait, wait), min_size=6, max_size=16
)


def _check_side(side: BookSide) -> None:
    own_total = 0
    for lvl in side.iter_levels():
        hist = lvl.anon_hist
        sim = lvl.anon_sim
        own = 0
        for key, entry in lvl.orders.items():
            if key > 0:
                assert isinstance(entry, HistOrder) and entry.level is lvl
                assert 0 <= entry.sim <= entry.hist
                hist += entry.hist
                sim += entry.sim
            else:
                assert isinstance(entry, Order) and entry.level is lvl and entry.leaves > 0
                own += entry.leaves
        assert (lvl.hist, lvl.sim, lvl.own) == (hist, sim, own), lvl
        assert 0 <= lvl.anon_sim <= lvl.anon_hist
        assert lvl.hist or lvl.own, "empty level left behind"
        own_total += own
        assert (side.own_levels.get(lvl.price) is lvl) == bool(own)
    assert side.own_total == own_total
    assert all(lvl.own and side.levels.get(p) is lvl for p, lvl in side.own_levels.items())


def _check(replay: MarketReplay, reports: list[Report]) -> None:
    bid, ask = replay.best_bid, replay.best_ask
    if bid is not None and ask is not None:
        assert bid < ask, "simulated book crossed"
    for order in replay.engine.orders.values():
        assert order.cum_qty + order.leaves + order.canceled_qty == order.quantity
        assert order.notional == 0 or order.cum_qty > 0
    for r in reports:
        if isinstance(r, ExecReport) and r.is_fill:
            order = replay.engine.orders[r.order_id]
            if order.price is not None:
                assert (
                    r.last_price <= order.price
                    if r.side is Side.BUY
                    else r.last_price >= order.price
                )
            if r.liquidity is Liquidity.ADDED:
                assert r.last_price == order.price


def _check_recorded(replay: MarketReplay, data: ReplayData) -> None:
    cells = data.book_row(replay.row - 1)
    asks = [(cells[0], cells[1])] if cells[1] else []
    bids = [(cells[2], cells[3])] if cells[3] else []
    assert replay.hist_levels(Side.SELL, 1) == asks
    assert replay.hist_levels(Side.BUY, 1) == bids


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.sampled_from(START_ROWS),
    impact=st.booleans(),
    hidden_fills=st.booleans(),
    script=scripts,
)
def test_participants_never_corrupt_the_replay(
    aapl: ReplayData, start: int, impact: bool, hidden_fills: bool, script: list[tuple[object, ...]]
) -> None:
    cfg = ReplayConfig(
        hidden_fills=hidden_fills,
        impact=ImpactConfig(
            enabled=impact, permanent_ticks_per_share=0.002, transient_ticks_per_share=0.01
        ),
    )
    replay = MarketReplay(aapl, cfg, start_row=start)
    ids: list[int] = []
    for action in script:
        kind = action[0]
        out: list[Report] = []
        ref = replay.reference_mid or 5_800_000
        touch = round(ref / TICK) * TICK
        if kind == "limit":
            _, client, side, qty, ticks, ioc = action
            assert isinstance(side, Side) and isinstance(ticks, int) and isinstance(qty, int)
            price = touch - int(side) * ticks * TICK
            tif = TimeInForce.IOC if ioc else TimeInForce.DAY
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
                new_price = (order.price or touch) + shift * TICK
                out = replay.replace(order.client_id, order.order_id, quantity=qty, price=new_price)
        elif kind == "wait":
            rows = action[1]
            assert isinstance(rows, int)
            for _ in range(rows):
                if replay.finished:
                    break
                step = replay.step()
                _check(replay, step)
                _check_recorded(replay, aapl)
        ids += [r.order_id for r in out if isinstance(r, ExecReport) and r.order_id not in ids]
        _check(replay, out)
        _check_side(replay.engine.bids)
        _check_side(replay.engine.asks)
        if replay.row:
            _check_recorded(replay, aapl)
