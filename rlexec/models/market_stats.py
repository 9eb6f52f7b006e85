"""Statistics of a training window that the baselines and episode sizes are calibrated on.

Everything here is estimated from the training window only, so that a backtest on later
hours or another ticker uses no information from the data it is judged on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rlexec.market.lobster import EXECUTE, EXECUTE_HIDDEN
from rlexec.simulator.data import ReplayData

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Window:
    """A time-of-day window, in nanoseconds after midnight."""

    start_ns: int
    end_ns: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """'HH:MM-HH:MM' → Window; raises ValueError naming what is wrong."""
        try:
            a, b = text.split("-")
            start = _hhmm(a)
            end = _hhmm(b)
        except ValueError:
            raise ValueError(f"window {text!r} is not HH:MM-HH:MM") from None
        if end <= start:
            raise ValueError(f"window {text!r} ends before it starts")
        return cls(start, end)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / _NS

    def overlaps(self, other: Window) -> bool:
        return self.start_ns < other.end_ns and other.start_ns < self.end_ns

    def __str__(self) -> str:
        return f"{_fmt(self.start_ns)}-{_fmt(self.end_ns)}"


def _hhmm(text: str) -> int:
    h, m = text.strip().split(":")
    hours, minutes = int(h), int(m)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError
    return (hours * 3600 + minutes * 60) * _NS


def _fmt(ns: int) -> str:
    s = ns // _NS
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


@dataclass(frozen=True, slots=True)
class MarketStats:
    symbol: str
    window: str
    volume_per_s: float
    """Executed shares (visible + hidden) per second."""
    profile: tuple[float, ...]
    """Share of the window's volume in each `bucket_s` bucket from the window start."""
    bucket_s: int
    sigma_per_sqrt_s: float
    """Std of mid returns (fraction) over one second, scaled as a Brownian motion."""
    mean_spread_frac: float
    eta: float
    """Linear temporary impact: fraction of price per (share per second)."""


def estimate(data: ReplayData, window: Window, bucket_s: int = 300) -> MarketStats:
    ts = np.asarray(data.ts_ns, dtype=np.int64)
    etype = np.asarray(data.event_type)
    size = np.asarray(data.size, dtype=np.float64)
    inside = (ts >= window.start_ns) & (ts < window.end_ns)
    trades = inside & ((etype == EXECUTE) | (etype == EXECUTE_HIDDEN))
    volume = float(size[trades].sum())
    seconds = window.seconds
    buckets = math.ceil(seconds / bucket_s)
    idx = ((ts[trades] - window.start_ns) // (bucket_s * _NS)).astype(np.int64)
    per_bucket = np.bincount(idx, weights=size[trades], minlength=buckets)[:buckets]
    profile = per_bucket / per_bucket.sum() if per_bucket.sum() else np.full(buckets, 1.0 / buckets)
    book = np.asarray(data.book, dtype=np.int64).reshape(-1, data.width)
    ask, bid = book[:, 0].astype(np.float64), book[:, 2].astype(np.float64)
    mid = (ask + bid) / 2
    # Mid sampled once a second (the last row at or before each second).
    grid = np.arange(window.start_ns, window.end_ns, _NS)
    rows = np.searchsorted(ts, grid, side="right") - 1
    rows = rows[rows >= 0]
    sampled = mid[rows]
    returns = np.diff(sampled) / sampled[:-1]
    sigma = float(returns.std()) if len(returns) > 1 else 0.0
    spread_frac = float(np.mean((ask[inside] - bid[inside]) / mid[inside]))
    rate = volume / seconds if seconds else 0.0
    # Trading at 1 % of the market's rate costs half the spread (a stated rule of thumb).
    eta = (spread_frac / 2) / (0.01 * rate) if rate else 1e-6
    return MarketStats(
        symbol=data.symbol, window=str(window), volume_per_s=rate,
        profile=tuple(float(x) for x in profile), bucket_s=bucket_s,
        sigma_per_sqrt_s=sigma, mean_spread_frac=spread_frac, eta=eta,
    )  # fmt: skip
