"""One symbol's market as the service sees it: the book, its features, its volume, freshness.

The book is the market-data client's `L2Book` (updated in place from FIX); the feature
builder is the same `market.FeatureBuilder` the training environment uses, fed the same
book and trade events, stamped with the service's clock.
"""

from __future__ import annotations

from typing import Any

from rlexec.market.book import L2Book
from rlexec.market.features import FeatureBuilder, FeatureConfig
from rlexec.market.signal_features import SignalConfig, SignalFeatureBuilder


class SymbolMarket:
    __slots__ = (
        "book", "features", "last_update_ns", "stale_reason", "symbol", "updates", "volume",
    )  # fmt: skip

    def __init__(
        self, symbol: str, book: L2Book, tick_size: int, signal: SignalConfig | None = None
    ) -> None:
        """`signal`: also keep the price-move signal's features (the policy takes the signal)."""
        self.symbol = symbol
        self.book = book
        config = FeatureConfig(tick_size=tick_size)
        self.features = (
            FeatureBuilder(book, config)
            if signal is None
            else SignalFeatureBuilder(book, config, signal)
        )
        self.volume = 0
        """Shares printed since the service subscribed, ours included."""
        self.last_update_ns = 0
        self.updates: Any = None
        """The pre-bound `rlexec_service_market_data_updates_total{symbol}` child."""
        self.stale_reason: str | None = "no snapshot yet"
        """Why new child orders are paused for this symbol; None when the book is trusted."""

    def on_book(self, now_ns: int) -> None:
        if now_ns <= 0:  # the venue's clock has not started: no time to stamp features with
            return
        self.features.on_book(now_ns)
        self.last_update_ns = now_ns

    def on_trade(self, now_ns: int, size: int, aggressor: int, price: int | None = None) -> None:
        if now_ns <= 0:
            return
        self.features.on_trade(now_ns, size, aggressor, price)
        self.volume += size
        self.last_update_ns = now_ns

    def unfresh_reason(self, now_ns: int, stale_after_ns: int) -> str:
        """Why `fresh` is False, in words (for the log line that pauses decisions)."""
        if self.stale_reason is not None:
            return self.stale_reason
        if self.last_update_ns <= 0:
            return "no timestamped update yet"
        if not (self.book.bid_prices and self.book.ask_prices):
            return "one-sided book"
        return f"no update for {(now_ns - self.last_update_ns) / 1e9:.1f} s"

    def fresh(self, now_ns: int, stale_after_ns: int) -> bool:
        # last_update_ns == 0: no timestamped update yet (on the venue clock a snapshot may
        # arrive before any venue time) — a parent started then would have start time 0.
        return (
            self.stale_reason is None
            and self.last_update_ns > 0
            and bool(self.book.bid_prices and self.book.ask_prices)  # book.is_two_sided
            and now_ns - self.last_update_ns <= stale_after_ns
        )
