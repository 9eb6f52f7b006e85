"""2. Market anomalies: named detectors, each with its own latch and reason code.

Cheap checks (crossed / locked book, quote-message rate, trade-through) run per event;
the rest (spread blow-out, one-sided book, mid jump) on a 100 ms grid; the stale feed on
the set's timer. Baselines (spread, quote rate) are slow EWMAs that stop learning while
their detector fires, so a long anomaly cannot become the new normal and lift itself.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.orders import Side
from rlexec.risk.monitors.config import MonitorConfig
from rlexec.risk.monitors.latch import Kind
from rlexec.risk.monitors.sink import Sink

MID_JUMP = "MID_JUMP"
SPREAD_BLOWOUT = "SPREAD_BLOWOUT"
ONE_SIDED_BOOK = "ONE_SIDED_BOOK"
QUOTE_RATE_SURGE = "QUOTE_RATE_SURGE"
TRADE_THROUGH = "TRADE_THROUGH"
CROSSED_BOOK = "CROSSED_BOOK"
STALE_FEED = "STALE_FEED"
DETECTORS = (
    MID_JUMP, SPREAD_BLOWOUT, ONE_SIDED_BOOK, QUOTE_RATE_SURGE, TRADE_THROUGH, CROSSED_BOOK,
    STALE_FEED,
)  # fmt: skip
"""Reason codes; the monitor label of each is the code in lower case."""


class _SymbolMarket:
    __slots__ = (
        "bucket_n", "bucket_start", "crossed", "first_ns", "grid_ns", "last_mid", "last_update",
        "mids", "one_sided_since", "rate", "rate_flag", "spread", "spread_flag",
    )  # fmt: skip

    def __init__(self, now_ns: int) -> None:
        self.first_ns = now_ns
        self.last_update = now_ns
        self.grid_ns = 0
        self.last_mid: float | None = None
        self.mids: deque[tuple[int, float]] = deque()
        self.spread: float | None = None
        self.spread_flag = False
        self.one_sided_since: int | None = None
        self.bucket_start = now_ns
        self.bucket_n = 0
        self.rate: float | None = None
        self.rate_flag = False
        self.crossed = False
        """Whether the last book was crossed or locked (the clear is only told on a change)."""


class AnomalyMonitor:
    def __init__(
        self, config: MonitorConfig, sink: Sink, baseline_var_per_s: Callable[[str], float]
    ) -> None:
        self.config = config
        self.sink = sink
        self.baseline_var_per_s = baseline_var_per_s
        self.grid_ns = round(config.anomaly_grid_s * 1e9)
        self.warmup_ns = round(config.anomaly_warmup_s * 1e9)
        self.window_ns = round(config.jump_window_s * 1e9)
        self.stale_ns = round(config.stale_after_s * 1e9)
        self._state: dict[str, _SymbolMarket] = {}

    def _want(
        self, code: str, symbol: str, kind: Kind, level: float, reason: str, now: int
    ) -> None:
        self.sink.want(code.lower(), symbol, kind, level, code, reason, now)

    # -- per event -------------------------------------------------------------------------

    def on_book(self, symbol: str, book: L2Book, now_ns: int) -> None:
        self.on_touch(symbol, book, book.best_bid, book.best_ask, now_ns)

    def on_touch(
        self, symbol: str, book: L2Book, bid: int | None, ask: int | None, now_ns: int
    ) -> None:
        """`on_book` with the book's best bid and ask already read (the monitor set reads
        them once for every monitor)."""
        st = self._state.get(symbol)
        if st is None:
            st = self._state[symbol] = _SymbolMarket(now_ns)
        st.last_update = now_ns
        st.bucket_n += 1
        if now_ns - st.bucket_start >= 1_000_000_000:  # the quote-rate bucket is full
            self._quote_rate(symbol, st, now_ns)
        if bid is not None and ask is not None and bid >= ask:
            what = "locked" if bid == ask else "crossed"
            st.crossed = True
            self._want(CROSSED_BOOK, symbol, Kind.PAUSE, 0.0,
                       f"{CROSSED_BOOK}: {what} bid={bid} ≥ ask={ask} → pause", now_ns)  # fmt: skip
            return
        if st.crossed:
            st.crossed = False
            self._want(CROSSED_BOOK, symbol, Kind.PAUSE, 1.0, "", now_ns)
        if bid is not None and ask is not None:
            st.last_mid = (bid + ask) / 2
        if now_ns - st.grid_ns >= self.grid_ns:
            st.grid_ns = now_ns
            self._spread(symbol, st, bid, ask, now_ns)
            self._one_sided(symbol, st, book, now_ns)
            if st.last_mid is not None:
                self._jump(symbol, st, st.last_mid, now_ns)

    def on_trade(self, symbol: str, trade: Trade, now_ns: int) -> None:
        st = self._state.get(symbol)
        if st is None or st.last_mid is None:
            return
        mid = st.last_mid
        away = abs(trade.price - mid) / mid * 1e4
        if away > self.config.collar_bps:
            reason = (f"{TRADE_THROUGH}: print={trade.price} is {away:.1f}bps from mid={mid:.0f} "
                      f"> collar={self.config.collar_bps:g}bps → pause")  # fmt: skip
            self._want(TRADE_THROUGH, symbol, Kind.PAUSE, 0.0, reason, now_ns)
        else:
            self._want(TRADE_THROUGH, symbol, Kind.PAUSE, 1.0, "", now_ns)

    def on_time(self, now_ns: int) -> None:
        limit = self.config.stale_after_s
        for symbol, st in self._state.items():
            age = now_ns - st.last_update
            if age > self.stale_ns:
                reason = f"{STALE_FEED}: no book update for {age / 1e9:.1f}s > {limit:g}s → pause"
                self._want(STALE_FEED, symbol, Kind.PAUSE, 0.0, reason, now_ns)
            else:
                self._want(STALE_FEED, symbol, Kind.PAUSE, 1.0, "", now_ns)

    # -- detectors -------------------------------------------------------------------------

    def _quote_rate(self, symbol: str, st: _SymbolMarket, now_ns: int) -> None:
        """A full one-second bucket (this message counted): its rate against the baseline."""
        elapsed = now_ns - st.bucket_start
        c = self.config
        rate = st.bucket_n / (elapsed / 1e9)
        st.bucket_start, st.bucket_n = now_ns, 0
        base = st.rate
        warm = now_ns - st.first_ns >= self.warmup_ns
        st.rate_flag = (
            warm and base is not None and rate > c.quote_rate_multiple * base
            and rate > c.quote_rate_min_per_s
        )  # fmt: skip
        if st.rate_flag:
            assert base is not None
            level = c.quote_rate_multiplier
            reason = (f"{QUOTE_RATE_SURGE}: rate={rate:.0f}/s > {c.quote_rate_multiple:g}×"
                      f"baseline={base:.0f}/s → size×{level:g}")  # fmt: skip
            self._want(QUOTE_RATE_SURGE, symbol, Kind.SIZE, level, reason, now_ns)
            return
        a = 1.0 - 0.5 ** ((elapsed / 1e9) / c.quote_rate_halflife_s)
        st.rate = rate if base is None else base + a * (rate - base)
        self._want(QUOTE_RATE_SURGE, symbol, Kind.SIZE, 1.0, "", now_ns)

    def _spread(self, symbol: str, st: _SymbolMarket, bid: int | None, ask: int | None,
                now_ns: int) -> None:  # fmt: skip
        if bid is None or ask is None:
            return
        c = self.config
        ticks = (ask - bid) / c.tick_size
        base = st.spread
        warm = now_ns - st.first_ns >= self.warmup_ns
        st.spread_flag = (
            warm and base is not None and ticks > c.spread_multiple * base
            and ticks >= c.spread_min_ticks
        )  # fmt: skip
        if st.spread_flag:
            assert base is not None
            level = c.spread_multiplier
            reason = (f"{SPREAD_BLOWOUT}: spread={ticks:.0f}ticks > {c.spread_multiple:g}×"
                      f"baseline={base:.2f}ticks → size×{level:g}")  # fmt: skip
            self._want(SPREAD_BLOWOUT, symbol, Kind.SIZE, level, reason, now_ns)
            return
        a = 1.0 - 0.5 ** (c.anomaly_grid_s / c.spread_halflife_s)
        st.spread = ticks if base is None else base + a * (ticks - base)
        self._want(SPREAD_BLOWOUT, symbol, Kind.SIZE, 1.0, "", now_ns)

    def _one_sided(self, symbol: str, st: _SymbolMarket, book: L2Book, now_ns: int) -> None:
        c = self.config
        n = c.one_sided_levels
        bids = sum(size for _, size in book.levels(Side.BUY, n))
        asks = sum(size for _, size in book.levels(Side.SELL, n))
        thin, thick = min(bids, asks), max(bids, asks)
        if thick == 0 or thin >= c.one_sided_ratio * thick:
            st.one_sided_since = None
            self._want(ONE_SIDED_BOOK, symbol, Kind.SIZE, 1.0, "", now_ns)
            return
        if st.one_sided_since is None:
            st.one_sided_since = now_ns
        held = (now_ns - st.one_sided_since) / 1e9
        if held >= c.one_sided_min_s:
            level = c.one_sided_multiplier
            reason = (f"{ONE_SIDED_BOOK}: bid_depth={bids} ask_depth={asks} ratio="
                      f"{thin / thick:.3f} < {c.one_sided_ratio:g} for {held:.1f}s → size×{level:g}")  # fmt: skip
            self._want(ONE_SIDED_BOOK, symbol, Kind.SIZE, level, reason, now_ns)

    def _jump(self, symbol: str, st: _SymbolMarket, mid: float, now_ns: int) -> None:
        c = self.config
        mids = st.mids
        mids.append((now_ns, mid))
        horizon = now_ns - self.window_ns
        while mids and mids[0][0] < horizon:
            mids.popleft()
        low = min(m for _, m in mids)
        high = max(m for _, m in mids)
        move = max(mid - low, high - mid) / mid * 1e4
        sigma = math.sqrt(self.baseline_var_per_s(symbol) * c.jump_window_s)
        limit = max(c.jump_k_sigma * sigma, c.jump_min_bps)
        if move > limit:
            reason = (f"{MID_JUMP}: mid moved {move:.1f}bps in {c.jump_window_s:g}s > "
                      f"max({c.jump_k_sigma:g}σ={c.jump_k_sigma * sigma:.1f}bps, "
                      f"{c.jump_min_bps:g}bps) → pause")  # fmt: skip
            self._want(MID_JUMP, symbol, Kind.PAUSE, 0.0, reason, now_ns)
        else:
            self._want(MID_JUMP, symbol, Kind.PAUSE, 1.0, "", now_ns)
