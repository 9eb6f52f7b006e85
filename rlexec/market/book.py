"""The L2 (price-level) order book, maintained from level updates, snapshots or a LOBSTER row."""

from __future__ import annotations

from bisect import bisect_left, insort

from rlexec.market.events import BookLevelUpdate, BookSnapshot, MarketEvent, Trade
from rlexec.market.orders import Side

_BUY = Side.BUY  # a module constant: reading a member off the Enum class costs ~50 ns


class L2Book:
    """Aggregate size per price level on each side, with O(1) best prices and depth totals.

    Prices are kept in one ascending list per side (levels are few, so bisect beats a tree),
    sizes in a dict, and each side's total size is maintained incrementally so that depth
    imbalance costs nothing per event.
    """

    __slots__ = ("_asks", "_bids", "ask_prices", "ask_total", "bid_prices", "bid_total", "ts_ns")

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self.bid_prices: list[int] = []
        """Bid prices with size, ascending (best bid last). Public so hot paths can read the
        top of book without a call; read-only outside this class: `set_level` keeps it."""
        self.ask_prices: list[int] = []
        """Ask prices with size, ascending (best ask first); read-only, like `bid_prices`."""
        self.bid_total = 0
        self.ask_total = 0
        self.ts_ns = 0

    # -- updates ---------------------------------------------------------------------------

    def apply(self, event: MarketEvent) -> None:
        """Apply any market-data event; trades do not change an L2 book (the level update does)."""
        if type(event) is BookLevelUpdate:
            self.set_level(event.side, event.price, event.size)
            self.ts_ns = event.ts_ns
        elif type(event) is BookSnapshot:
            self.apply_snapshot(event)
        elif type(event) is Trade:
            self.ts_ns = event.ts_ns
        else:
            raise TypeError(f"not a market-data event: {event!r}")

    def set_level(self, side: Side, price: int, size: int) -> None:
        """Set the aggregate size at a price; 0 removes the level."""
        if size < 0:
            raise ValueError(f"negative size {size} at price {price}")
        if side is _BUY:
            levels, prices = self._bids, self.bid_prices
        else:
            levels, prices = self._asks, self.ask_prices
        old = levels.get(price)
        if size:
            if old is None:
                insort(prices, price)
                old = 0
            levels[price] = size
        elif old is not None:
            del levels[price]
            del prices[bisect_left(prices, price)]
        else:
            return
        if side is _BUY:
            self.bid_total += size - old
        else:
            self.ask_total += size - old

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        self.clear()
        for price, size in snapshot.bids:
            self.set_level(Side.BUY, price, size)
        for price, size in snapshot.asks:
            self.set_level(Side.SELL, price, size)
        self.ts_ns = snapshot.ts_ns

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.bid_prices.clear()
        self.ask_prices.clear()
        self.bid_total = 0
        self.ask_total = 0

    # -- queries ---------------------------------------------------------------------------

    @property
    def best_bid(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    @property
    def best_ask(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    @property
    def best_bid_size(self) -> int:
        return self._bids[self.bid_prices[-1]] if self.bid_prices else 0

    @property
    def best_ask_size(self) -> int:
        return self._asks[self.ask_prices[0]] if self.ask_prices else 0

    @property
    def is_two_sided(self) -> bool:
        return bool(self.bid_prices) and bool(self.ask_prices)

    @property
    def crossed(self) -> bool:
        """Best bid at or above best ask: possible transiently on a real feed, never in a sane book."""
        return self.is_two_sided and self.bid_prices[-1] >= self.ask_prices[0]

    @property
    def mid(self) -> float | None:
        if not (self.bid_prices and self.ask_prices):
            return None
        return (self.bid_prices[-1] + self.ask_prices[0]) / 2

    @property
    def spread(self) -> int | None:
        if not (self.bid_prices and self.ask_prices):
            return None
        return self.ask_prices[0] - self.bid_prices[-1]

    @property
    def microprice(self) -> float | None:
        """Size-weighted mid: leans towards the side with less size, where the price is going."""
        if not (self.bid_prices and self.ask_prices):
            return None
        bid, ask = self.bid_prices[-1], self.ask_prices[0]
        bid_size, ask_size = self._bids[bid], self._asks[ask]
        return (bid * ask_size + ask * bid_size) / (bid_size + ask_size)

    def size_at(self, side: Side, price: int) -> int:
        return (self._bids if side is Side.BUY else self._asks).get(price, 0)

    def depth(self, side: Side) -> int:
        """Number of price levels on a side."""
        return len(self.bid_prices if side is Side.BUY else self.ask_prices)

    def levels(self, side: Side, n: int | None = None) -> list[tuple[int, int]]:
        """Up to n levels of one side, best first, as (price, size)."""
        if side is Side.BUY:
            prices = self.bid_prices[::-1] if n is None else self.bid_prices[: -n - 1 : -1]
            return [(p, self._bids[p]) for p in prices]
        prices = self.ask_prices if n is None else self.ask_prices[:n]
        return [(p, self._asks[p]) for p in prices]

    def snapshot(self, n: int | None = None) -> BookSnapshot:
        return BookSnapshot(
            self.ts_ns, tuple(self.levels(Side.BUY, n)), tuple(self.levels(Side.SELL, n))
        )

    def lobster_row(self, n: int) -> tuple[int, ...]:
        """The book as a LOBSTER orderbook row of n levels (ask px, ask sz, bid px, bid sz per level),
        with LOBSTER's dummy values for missing levels."""
        asks = self.levels(Side.SELL, n)
        bids = self.levels(Side.BUY, n)
        row: list[int] = []
        for k in range(n):
            ask = asks[k] if k < len(asks) else (LOBSTER_EMPTY_ASK, 0)
            bid = bids[k] if k < len(bids) else (LOBSTER_EMPTY_BID, 0)
            row.extend((ask[0], ask[1], bid[0], bid[1]))
        return tuple(row)


LOBSTER_EMPTY_ASK = 9_999_999_999
LOBSTER_EMPTY_BID = -9_999_999_999
