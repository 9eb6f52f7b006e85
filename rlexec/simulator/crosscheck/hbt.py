"""The experiment's orders in hftbacktest: LOBSTER converted to its event arrays, its
risk-averse queue model, zero latency.

Conversion (what hftbacktest sees of a LOBSTER day). hftbacktest replays market-by-price
data: depth events set the size at a price, trade events report prints with the aggressor's
side. Per LOBSTER row, in this order:

- a visible execution (type 4) and, when `hidden=True`, a hidden execution (type 5) become a
  trade at the row's price and size; the aggressor is the opposite of the resting order's
  direction (direction 1, a bid hit → a sell trade);
- the orderbook row becomes depth events: every stored level whose size changed, and size 0
  for every price hftbacktest holds inside the row's range (at or better than its deepest
  stored level, or the whole side when the row has fewer levels) that the row no longer
  shows.

What is lost: order ids and so the FIFO order within a level (hftbacktest's queue model
works on level sizes only); submissions and cancellations below the stored depth (the size
hftbacktest holds for a price that dropped out of view is the last one seen until the
price comes back into view); the book before the first row. Cancellations inside a level
are indistinguishable from executions except through the trade events.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any

import numpy as np
import numpy.typing as npt
from hftbacktest import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    GTC,
    LIMIT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
    event_dtype,
)

from rlexec.market.lobster import CROSS, EXECUTE, EXECUTE_HIDDEN
from rlexec.market.lobster_feed import side_levels
from rlexec.market.orders import Side
from rlexec.simulator.crosscheck.experiment import NS, QUANTITY, WINDOW_S, Outcome, Placement
from rlexec.simulator.data import ReplayData

PRICE_SCALE = 10_000
"""LOBSTER prices are dollars × 10⁴; hftbacktest takes float prices."""
_VALID = EXCH_EVENT | LOCAL_EVENT
_FILLED = 3  # hftbacktest.order.FILLED
_END_OF_DATA = 1


class _Side:
    """The sizes hftbacktest holds on one side of the book, to emit only what changed."""

    __slots__ = ("flag", "is_bid", "prices", "sizes")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.flag = BUY_EVENT if is_bid else SELL_EVENT
        self.sizes: dict[int, int] = {}
        self.prices: list[int] = []
        """Ascending."""

    def update(self, ts: int, row: list[tuple[int, int]], levels: int, out: list[Any]) -> None:
        sizes = self.sizes
        for price, size in row:
            if sizes.get(price) != size:
                if price not in sizes:
                    insort(self.prices, price)
                sizes[price] = size
                out.append((DEPTH_EVENT | self.flag | _VALID, ts, ts, price / PRICE_SCALE, size))
        # Prices inside the row's range that it no longer shows are empty.
        prices = self.prices
        if len(row) < levels:
            lo, hi = 0, len(prices)
        elif self.is_bid:
            lo, hi = bisect_left(prices, row[-1][0]), len(prices)
        else:
            lo, hi = 0, bisect_right(prices, row[-1][0])
        if hi - lo > len(row):
            shown = {price for price, _ in row}
            gone = [p for p in prices[lo:hi] if p not in shown]
            for price in gone:
                del sizes[price]
                prices.remove(price)
                out.append((DEPTH_EVENT | self.flag | _VALID, ts, ts, price / PRICE_SCALE, 0))


def events(data: ReplayData, *, hidden: bool) -> npt.NDArray[Any]:
    """The whole LOBSTER day as one hftbacktest event array (see the module doc)."""
    trades = {EXECUTE, CROSS} | ({EXECUTE_HIDDEN} if hidden else set())
    bids, asks = _Side(True), _Side(False)
    width, levels, book = data.width, data.levels, data.book
    out: list[Any] = []
    last: tuple[int, ...] = ()
    rows = zip(data.ts_ns, data.event_type, data.size, data.price, data.direction, strict=True)
    for i, (ts, et, size, price, direction) in enumerate(rows):
        if et in trades:
            aggressor = SELL_EVENT if direction == 1 else BUY_EVENT
            out.append((TRADE_EVENT | aggressor | _VALID, ts, ts, price / PRICE_SCALE, size))
        cells = tuple(book[i * width : (i + 1) * width])
        if cells != last:
            asks.update(ts, list(side_levels(cells, Side.SELL).items()), levels, out)
            bids.update(ts, list(side_levels(cells, Side.BUY).items()), levels, out)
        last = cells
    arr = np.zeros(len(out), dtype=event_dtype)
    if out:
        cols = list(zip(*out, strict=True))
        for name, col in zip(("ev", "exch_ts", "local_ts", "px", "qty"), cols, strict=True):
            arr[name] = col
    return arr


def run(day: npt.NDArray[Any], orders: list[Placement], tick: float = 0.01) -> list[Outcome]:
    """One backtest over the day; each order lives alone in its window, then is cancelled.

    `no_partial_fill_exchange`: the first print that reaches the order fills all of it.
    hftbacktest 2.4.4's `partial_fill_exchange` stops with error 14 on AAPL when a partly
    filled order meets a second print; both exchanges fill at the same moment (the queue
    ahead is exhausted, or a print or the ask is through the order's price), so fill rates
    and first-fill times are those of either, and only the quantities are not rlexec's."""
    asset = (
        BacktestAsset()
        .data(day)
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .tick_size(tick)
        .lot_size(1.0)
    )
    hbt = HashMapMarketDepthBacktest([asset])
    out: list[Outcome] = []
    try:
        hbt.elapse(0)  # the clock starts at the first event
        for oid, p in enumerate(orders, start=1):
            if p.start_ns < hbt.current_timestamp:
                raise ValueError(f"window {p.window} starts before the previous one ended")
            _check(hbt.elapse(p.start_ns - hbt.current_timestamp), "elapse", p)
            code = hbt.submit_buy_order(0, oid, p.price / PRICE_SCALE, QUANTITY, GTC, LIMIT, False)
            _check(code, "submit_buy_order", p)
            end = p.start_ns + WINDOW_S * NS
            first: int | None = None
            filled = 0
            while True:
                now = hbt.current_timestamp
                code = _check(hbt.wait_order_response(0, oid, max(end - now, 0)), "wait", p)
                order = hbt.orders(0).get(oid)
                filled = round(QUANTITY - order.leaves_qty)
                if first is None and filled > 0:
                    first = int(order.exch_timestamp)
                if order.status == _FILLED or code == _END_OF_DATA or hbt.current_timestamp >= end:
                    break
            if order.status != _FILLED:
                _check(hbt.cancel(0, oid, True), "cancel", p)
            hbt.clear_inactive_orders(0)
            out.append(Outcome(p.window, filled, first))
    finally:
        hbt.close()
    return out


def _check(code: int, call: str, p: Placement) -> int:
    """hftbacktest answers with codes: 0 done, 1 end of data, anything else an error."""
    if code not in (0, _END_OF_DATA):
        raise RuntimeError(f"hftbacktest {call} failed with code {code} in window {p.window}")
    return code
