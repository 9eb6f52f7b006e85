"""Order-book features for the short-horizon price-move signal, maintained incrementally.

`SIGNAL_FEATURE_NAMES` is the signal model's contract, kept apart from the policy's
`FEATURE_NAMES` so the shipped policy keeps loading. `SignalFeatureBuilder` is a
`FeatureBuilder` (the policy's features are unchanged) that also keeps, O(1) amortised per
event:

- order-flow imbalance (Cont, Kukanov & Stoikov 2014) over a short and a long window: the
  signed change of best bid/ask size and price between consecutive touches, summed, then
  divided by the mean touch depth over the same window;
- prints: the trade imbalance and count over the long window, the signed volume that
  printed strictly inside the spread (hidden liquidity: not in the book, seen only as a
  print between the quotes) over the long window per share of touch depth, and where the
  last print was relative to the mid;
- the mid's return over the long window, its deviation from a time-decayed average
  (mean reversion), and the EWMA volatility of its returns (the policy feature's rule,
  half-life `FeatureConfig.vol_halflife` mid changes, on the coalesced mids).

The touch is read once per distinct timestamp: the book as it stands after the last event
at that time. One LOBSTER row, or one FIX message, can change a level in two steps (old
price removed, new one added) and a feed may split an instant's changes over several
messages; coalescing by time makes the features independent of how the changes were
split, so the replay (one call per level change) and the live service (one per message)
see the same flow. The latest timestamp counts as it stands when the vector is read.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

from rlexec.market.book import L2Book
from rlexec.market.events import MarketEvent, Trade
from rlexec.market.features import FeatureBuilder, FeatureConfig

SIGNAL_FEATURE_NAMES: tuple[str, ...] = (
    "ofi_short",  # order-flow imbalance over the short window / mean touch depth
    "ofi_long",  # the same over the long window
    "imbalance_l1",  # (bid size − ask size) / (bid size + ask size) at the touch
    "microprice_offset_bps",  # (microprice − mid) / mid × 1e4
    "spread_bps",  # (ask − bid) / mid × 1e4
    "trade_imbalance",  # (buyer − seller initiated shares) / shares printed, long window
    "trade_count",  # prints over the long window
    "inside_flow",  # signed shares printed strictly inside the spread, long window / touch depth
    "last_trade_offset_bps",  # (last print price − mid) / mid × 1e4
    "return_long_bps",  # mid now vs the mid the long window ago, bps
    "mid_deviation_bps",  # mid vs its time-decayed average (time constant reversion_s), bps
    "volatility_bps",  # EWMA volatility of mid returns per mid change (as the policy's)
)

Touch = tuple[int, int, int, int]
"""(best bid, bid size, best ask, ask size)."""


@dataclass(frozen=True, slots=True)
class SignalConfig:
    short_s: float = 5.0
    """Short order-flow window, seconds."""
    long_s: float = 30.0
    """Long window (order flow, prints, mid return), seconds."""
    reversion_s: float = 300.0
    """Time constant of the mid's decayed average, seconds."""

    def __post_init__(self) -> None:
        if not (self.short_s > 0 and math.isfinite(self.short_s)):
            raise ValueError(f"short_s must be positive, got {self.short_s}")
        if not (self.long_s >= self.short_s and math.isfinite(self.long_s)):
            raise ValueError(f"long_s must be at least short_s, got {self.long_s}")
        if not (self.reversion_s > 0 and math.isfinite(self.reversion_s)):
            raise ValueError(f"reversion_s must be positive, got {self.reversion_s}")

    def as_json(self) -> dict[str, float]:
        return {"short_s": self.short_s, "long_s": self.long_s, "reversion_s": self.reversion_s}


def ofi_increment(prev: Touch, cur: Touch) -> int:
    """Cont, Kukanov & Stoikov's e_n between two touches: bid-side flow minus ask-side flow.

    A bid that rises brings its whole size, one that falls takes its old size away, one that
    stays adds its size change; mirrored for the ask."""
    pb, qb, pa, qa = prev
    cb, cqb, ca, cqa = cur
    e = (cqb if cb >= pb else 0) - (qb if cb <= pb else 0)
    e -= (cqa if ca <= pa else 0) - (qa if ca >= pa else 0)
    return e


_COMPACT_EVERY = 4096


class _Flow:
    """Cumulative order flow and touch depth after each committed transition: a window's
    sums are two differences, so a commit costs one append (window sums are found by
    bisection when the vector is read). Entries older than the long window are dropped
    every `_COMPACT_EVERY` appends; index 0 holds the totals before the first kept one."""

    __slots__ = ("compact_at", "cum", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = [-(1 << 62)]  # before any edge, even of a clock near 0
        self.cum: list[tuple[int, int]] = [(0, 0)]  # (Σ flow, Σ bid + ask size)
        self.compact_at = _COMPACT_EVERY

    def push(self, ts: int, flow: int, depth2: int, keep_from: int) -> None:
        f, d = self.cum[-1]
        self.ts.append(ts)
        self.cum.append((f + flow, d + depth2))
        if len(self.ts) >= self.compact_at:
            cut = bisect_right(self.ts, keep_from)
            if cut > 1:
                self.cum[0] = self.cum[cut - 1]
                del self.ts[1:cut], self.cum[1:cut]
            self.compact_at = len(self.ts) + _COMPACT_EVERY

    def window(self, edge: int) -> tuple[int, int, int]:
        """(Σ flow, Σ depth, count) of the transitions after `edge`."""
        j = bisect_right(self.ts, edge)
        f0, d0 = self.cum[j - 1]
        f1, d1 = self.cum[-1]
        return f1 - f0, d1 - d0, len(self.ts) - j


def _ofi(sums: tuple[int, int, int], extra: tuple[int, int] | None) -> float:
    """Σ flow / mean touch depth, counting one more (flow, depth) transition if given."""
    flow, depth2, count = sums
    if extra is not None:
        flow += extra[0]
        depth2 += extra[1]
        count += 1
    return flow * 2 * count / depth2 if count and depth2 > 0 else 0.0


class SignalFeatureBuilder(FeatureBuilder):
    """A `FeatureBuilder` that also keeps the signal's features; feed it exactly the same
    (with trade prices: `on_trade(ts, size, aggressor, price)`)."""

    __slots__ = (
        "_committed", "_ewma", "_ewma_mid", "_ewma_ts", "_flow", "_inside", "_inside_signed",
        "_last_print", "_long_ns", "_mid_compact_at", "_mid_ts", "_mids", "_pending",
        "_pending_ts", "_prints", "_prints_abs", "_prints_signed", "_short_ns", "_tau_ns",
        "_vol_alpha", "_vol_var", "signal_config",
    )  # fmt: skip

    def __init__(
        self,
        book: L2Book,
        config: FeatureConfig | None = None,
        signal: SignalConfig | None = None,
    ) -> None:
        super().__init__(book, config)
        self.signal_config = sc = signal or SignalConfig()
        self._short_ns = round(sc.short_s * 1e9)
        self._long_ns = round(sc.long_s * 1e9)
        self._flow = _Flow()
        self._tau_ns = sc.reversion_s * 1e9
        self._committed: Touch | None = None
        """The touch at the end of the last completed timestamp."""
        self._pending: Touch | None = None
        """The touch after the latest event (None: one-sided); its timestamp may not be over."""
        self._pending_ts = 0
        self._mid_ts: list[int] = []  # where the committed mid changed, and to what
        self._mids: list[float] = []
        self._mid_compact_at = _COMPACT_EVERY
        self._ewma: float | None = None  # decayed average of committed mids up to _ewma_ts
        self._ewma_mid = 0.0  # the committed mid since _ewma_ts
        self._ewma_ts = 0
        self._prints: deque[tuple[int, int]] = deque()  # (ts, signed size)
        self._prints_signed = 0
        self._prints_abs = 0
        self._inside: deque[tuple[int, int]] = deque()  # (ts, signed size) printed inside
        self._inside_signed = 0
        self._last_print: int | None = None
        self._vol_alpha: float = 1.0 - 0.5 ** (1.0 / (config or FeatureConfig()).vol_halflife)
        self._vol_var = 0.0

    # -- events ----------------------------------------------------------------------------

    def on_event(self, event: MarketEvent) -> None:
        if type(event) is Trade:
            self.on_trade(event.ts_ns, event.size, event.aggressor, event.price)
        else:
            self.on_book(event.ts_ns)

    def on_trade(self, ts_ns: int, size: int, aggressor: int, price: int | None = None) -> None:
        """A print; `price` (integer units) feeds the inside-spread flow and the last print
        (a print without a price counts only towards imbalance and count)."""
        FeatureBuilder.on_trade(self, ts_ns, size, aggressor)
        signed = size if aggressor > 0 else -size
        self._prints.append((ts_ns, signed))
        self._prints_signed += signed
        self._prints_abs += size
        if price is not None:
            self._last_print = price
            bids, asks = self.book.bid_prices, self.book.ask_prices
            if bids and asks and bids[-1] < price < asks[0]:
                self._inside.append((ts_ns, signed))
                self._inside_signed += signed
        self._expire_prints(ts_ns - self._long_ns)

    def _expire_prints(self, edge: int) -> None:
        prints = self._prints
        while prints and prints[0][0] <= edge:
            _, signed = prints.popleft()
            self._prints_signed -= signed
            self._prints_abs -= abs(signed)
        inside = self._inside
        while inside and inside[0][0] <= edge:
            self._inside_signed -= inside.popleft()[1]

    def on_book(self, ts_ns: int) -> None:
        FeatureBuilder.on_book(self, ts_ns)
        if ts_ns != self._pending_ts:
            self._commit()
            self._pending_ts = ts_ns
        book = self.book
        bids, asks = book.bid_prices, book.ask_prices
        if bids and asks:
            self._pending = (bids[-1], book.best_bid_size, asks[0], book.best_ask_size)
        else:
            self._pending = None

    def _commit(self) -> None:
        """The pending timestamp is over: its last touch becomes a transition. (Nothing to do
        when the touch did not change; a decayed average whose mid did not change needs no
        update either: decays compose.)"""
        cur = self._pending
        prev = self._committed
        if cur is None or cur == prev:
            return
        ts = self._pending_ts
        self._committed = cur
        if prev is not None:
            self._flow.push(ts, ofi_increment(prev, cur), cur[1] + cur[3], ts - self._long_ns)
        mid = (cur[0] + cur[2]) / 2
        mids = self._mids
        if mids:
            if mids[-1] == mid:
                return
            self._vol_var = self._variance(mids[-1], mid)
            self._ewma = self._decayed(ts)  # the previous mid, held until now
        else:
            self._ewma = mid
        self._ewma_mid, self._ewma_ts = mid, ts
        mids.append(mid)
        self._mid_ts.append(ts)
        if len(mids) >= self._mid_compact_at:
            # keep the last change at or before the long window's edge: the mid there
            cut = bisect_right(self._mid_ts, ts - self._long_ns) - 1
            if cut > 0:
                del self._mid_ts[:cut], mids[:cut]
            self._mid_compact_at = len(mids) + _COMPACT_EVERY

    def _decayed(self, ts: int) -> float:
        """The decayed average at `ts` (after the first commit): it moves towards the
        committed mid held since the last commit, time constant `reversion_s`."""
        ewma, held = self._ewma or 0.0, self._ewma_mid
        return held + (ewma - held) * math.exp(-(ts - self._ewma_ts) / self._tau_ns)

    def _variance(self, last: float, mid: float) -> float:
        """The volatility EWMA after a mid change from `last` to `mid`."""
        r = (mid - last) / last * 1e4
        return self._vol_var + self._vol_alpha * (r * r - self._vol_var)

    # -- reading ---------------------------------------------------------------------------

    def signal_vector(self, now_ns: int | None = None) -> list[float]:
        """The signal features in `SIGNAL_FEATURE_NAMES` order; NaN where the book is
        one-sided (or, for the last print's offset, before the first print)."""
        now = self.now_ns if now_ns is None else max(now_ns, self.now_ns)
        edge = now - self._long_ns
        self._expire_prints(edge)
        # the latest timestamp as it stands now, as if it were committed (if in the window)
        cur, prev, pending_ts = self._pending, self._committed, self._pending_ts
        extra = None
        if cur is not None and prev is not None and cur != prev:
            extra = (ofi_increment(prev, cur), cur[1] + cur[3])
        short_edge = now - self._short_ns
        ofi_short = _ofi(self._flow.window(short_edge), extra if pending_ts > short_edge else None)
        ofi_long = _ofi(self._flow.window(edge), extra if pending_ts > edge else None)
        prints = self._prints_abs
        trade_imb = self._prints_signed / prints if prints else 0.0
        nan = math.nan
        if cur is None:  # one-sided now
            return [ofi_short, ofi_long, nan, nan, nan, trade_imb, float(len(self._prints)),
                    nan, nan, nan, nan, math.sqrt(self._vol_var)]  # fmt: skip
        bid, bsz, ask, asz = cur
        mid = (bid + ask) / 2
        # The latest timestamp is a sample of the mid path like the committed ones: the mid
        # at the window's edge is the last sample at or before it (the oldest if none is).
        mids = self._mids
        then = mid
        if mids and pending_ts > edge:
            then = mids[max(0, bisect_right(self._mid_ts, edge) - 1)]
        average = mid
        if self._ewma is not None:
            decay = math.exp(-(now - pending_ts) / self._tau_ns)
            average = mid + (self._decayed(pending_ts) - mid) * decay
        variance = self._vol_var
        if mids and mids[-1] != mid:  # the latest instant moved the mid
            variance = self._variance(mids[-1], mid)
        last = self._last_print
        return [
            ofi_short, ofi_long,
            (bsz - asz) / (bsz + asz),
            ((bid * asz + ask * bsz) / (bsz + asz) - mid) / mid * 1e4,
            (ask - bid) / mid * 1e4,
            trade_imb, float(len(self._prints)),
            self._inside_signed * 2 / (bsz + asz),
            (last - mid) / mid * 1e4 if last is not None else nan,
            (mid / then - 1.0) * 1e4,
            (mid / average - 1.0) * 1e4,
            math.sqrt(variance),
        ]  # fmt: skip
