"""State features for the execution policy, maintained incrementally (O(1) per event).

`FEATURE_NAMES` is the contract: its order is the order of `FeatureBuilder.vector`, it is
written into every exported policy's metadata, and the runtime refuses a model whose list
differs. Change it only together with a retrained model.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from mypy_extensions import mypyc_attr

from rlexec.market.book import L2Book
from rlexec.market.events import MarketEvent, Trade
from rlexec.market.orders import Side
from rlexec.market.shortfall import shortfall_bps

FEATURE_NAMES: tuple[str, ...] = (
    # market
    "spread_ticks",  # best ask − best bid, in ticks
    "imbalance_l1",  # (bid size − ask size) / (bid size + ask size) at the touch, in [−1, 1]
    "depth_imbalance",  # the same over every level the book holds
    "microprice_offset_bps",  # (microprice − mid) / mid × 1e4
    "volatility_bps",  # EWMA realised volatility of mid returns, bps per mid change
    "signed_volume",  # buyer- minus seller-initiated shares over the rolling window
    "trade_count",  # prints over the rolling window
    "time_since_trade_s",  # seconds since the last print (or since the first event)
    # execution state
    "elapsed_frac",  # fraction of the parent order's horizon elapsed, in [0, 1]
    "remaining_frac",  # fraction of the parent quantity still to do, in [0, 1]
    "shortfall_bps",  # cost so far of what is filled vs the arrival mid, bps, + = cost
)


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    tick_size: int = 100
    """Integer price units per tick (100 = $0.01)."""
    window_s: float = 30.0
    """Rolling window for signed volume and trade count."""
    vol_halflife: float = 50.0
    """Half-life of the volatility EWMA, in mid changes."""

    def __post_init__(self) -> None:
        if self.tick_size <= 0:
            raise ValueError(f"tick_size must be positive, got {self.tick_size}")
        if not self.window_s > 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        if not self.vol_halflife > 0:
            raise ValueError(f"vol_halflife must be positive, got {self.vol_halflife}")


@dataclass(slots=True)
class ExecutionState:
    """Progress of one parent order, as the algo working it sees it."""

    side: Side
    quantity: int
    start_ns: int
    end_ns: int
    arrival_mid: float
    filled: int = 0
    notional: float = 0.0
    """Σ fill price × fill qty, in integer price units × shares."""

    def record_fill(self, price: int, qty: int) -> None:
        self.filled += qty
        self.notional += price * qty

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled if self.filled else None

    def shortfall_bps(self) -> float:
        """Implementation shortfall of the filled part, bps of the arrival mid, positive = cost."""
        if not self.filled or self.arrival_mid <= 0:
            return 0.0
        return shortfall_bps(self.side, self.notional / self.filled, self.arrival_mid)


@mypyc_attr(allow_interpreted_subclasses=True)  # SignalFeatureBuilder is plain Python
class FeatureBuilder:
    """Feed it every event after the book has applied it; ask for `vector` at decision time."""

    __slots__ = (
        "_alpha", "_cfg", "_first_ns", "_last_mid", "_last_trade_ns", "_now_ns", "_trades",
        "_var", "_window_ns", "book", "signed_volume", "trade_count",
    )  # fmt: skip

    def __init__(self, book: L2Book, config: FeatureConfig | None = None) -> None:
        self.book = book
        self._cfg = config or FeatureConfig()
        self._window_ns = int(self._cfg.window_s * 1e9)
        self._alpha = 1.0 - 0.5 ** (1.0 / self._cfg.vol_halflife)
        self._trades: deque[tuple[int, int]] = deque()  # (ts_ns, signed size)
        self.signed_volume = 0
        self.trade_count = 0
        self._last_trade_ns: int | None = None
        self._first_ns: int | None = None
        self._now_ns = 0
        self._last_mid: float | None = None
        self._var = 0.0

    def on_event(self, event: MarketEvent) -> None:
        """Generic entry point: any event, after the book has applied it."""
        if type(event) is Trade:
            self.on_trade(event.ts_ns, event.size, event.aggressor)
        else:
            self.on_book(event.ts_ns)

    def on_trade(self, ts_ns: int, size: int, aggressor: int, price: int | None = None) -> None:
        """A print of `size` shares; `aggressor` is +1 (buyer-initiated) or −1. (`price` is
        for the signal's features, `market.signal_features`; these ignore it.)"""
        if self._first_ns is None:
            self._first_ns = ts_ns
        self._now_ns = ts_ns
        signed = size if aggressor > 0 else -size
        self._trades.append((ts_ns, signed))
        self.signed_volume += signed
        self.trade_count += 1
        self._last_trade_ns = ts_ns
        self._expire(ts_ns)

    def on_book(self, ts_ns: int) -> None:
        """The book changed: advance the clock and the volatility estimate."""
        if self._first_ns is None:
            self._first_ns = ts_ns
        self._now_ns = ts_ns
        if self._trades:
            self._expire(ts_ns)
        book = self.book
        bids, asks = book.bid_prices, book.ask_prices
        if bids and asks:
            mid = (bids[-1] + asks[0]) / 2
            last = self._last_mid
            if mid != last:
                if last is not None:
                    r = (mid - last) / last * 1e4
                    self._var += self._alpha * (r * r - self._var)
                self._last_mid = mid

    def _expire(self, now_ns: int) -> None:
        trades = self._trades
        horizon = now_ns - self._window_ns
        while trades and trades[0][0] <= horizon:
            _, signed = trades.popleft()
            self.signed_volume -= signed
            self.trade_count -= 1

    @property
    def now_ns(self) -> int:
        """Time of the last event seen: the builder's clock."""
        return self._now_ns

    @property
    def volatility_bps(self) -> float:
        return math.sqrt(self._var)

    def market_vector(self, now_ns: int | None = None) -> list[float]:
        """The market features in contract order; NaN where the book is one-sided."""
        now = self._now_ns if now_ns is None else max(now_ns, self._now_ns)
        return self._market(now)

    def _market(self, now: int) -> list[float]:
        if self._trades:
            self._expire(now)
        book = self.book
        bids, asks = book.bid_prices, book.ask_prices
        if bids and asks:
            bid, ask = bids[-1], asks[0]
            bsz, asz = book.best_bid_size, book.best_ask_size
            spread = (ask - bid) / self._cfg.tick_size
            imb1 = (bsz - asz) / (bsz + asz)
            mid = (bid + ask) / 2
            micro = ((bid * asz + ask * bsz) / (bsz + asz) - mid) / mid * 1e4
        else:
            spread = imb1 = micro = math.nan
        total = book.bid_total + book.ask_total
        depth_imb = (book.bid_total - book.ask_total) / total if total else math.nan
        since = self._last_trade_ns if self._last_trade_ns is not None else self._first_ns
        since_s = (now - since) / 1e9 if since is not None else 0.0
        return [
            spread, imb1, depth_imb, micro, math.sqrt(self._var),
            float(self.signed_volume), float(self.trade_count), since_s,
        ]  # fmt: skip

    def vector(self, execution: ExecutionState, now_ns: int | None = None) -> list[float]:
        """Every feature in `FEATURE_NAMES` order."""
        now = self._now_ns if now_ns is None else max(now_ns, self._now_ns)
        horizon = execution.end_ns - execution.start_ns
        elapsed = (now - execution.start_ns) / horizon if horizon > 0 else 1.0
        quantity = execution.quantity
        remaining = 1.0 - execution.filled / quantity if quantity else 0.0
        values = self._market(now)
        values += (
            1.0 if elapsed > 1.0 else (elapsed if elapsed > 0.0 else 0.0),  # clamped to [0, 1]
            1.0 if remaining > 1.0 else (remaining if remaining > 0.0 else 0.0),
            execution.shortfall_bps() if execution.filled else 0.0,
        )
        return values
