"""The intraday volume profile VWAP follows: expected share of the day's volume by time of day.

A VWAP baseline is only as good as its profile. Estimated from the training window alone,
the profile knows nothing about the afternoon, and VWAP degenerates to TWAP on a time split.
Volume has a strong, well-documented U-shape across the day (heavy open, quiet lunch, heavy
close) that is shared across stocks, so the profile here is estimated **across tickers**:

- the other tickers' normalised volume curve over the whole session (30-min buckets), which
  carries the U-shape, including the hours this ticker is tested on;
- blended (weight `own_weight`) with this ticker's own buckets from its training window only,
  level-matched to the cross-ticker curve over the buckets they share.

It never reads the traded ticker outside the window it is given (the caller passes the
training window, never one overlapping the test window). Another ticker's same-day volume
is information a live trader would only have as a multi-day historical average; here it
stands in for that average, and if anything it flatters VWAP — a harder baseline, not an
easier one. Rates between bucket centres are linearly interpolated so that slices within one
bucket still follow the curve (a step profile makes VWAP equal TWAP inside a bucket).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rlexec.market.lobster import EXECUTE, EXECUTE_HIDDEN
from rlexec.models.market_stats import MarketStats, Window
from rlexec.simulator.data import ReplayData

_NS = 1_000_000_000
SESSION = Window(34_200 * _NS, 57_600 * _NS)
"""The regular Nasdaq session, 09:30-16:00 New York time."""
OWN_WEIGHT = 0.5
"""Weight of the traded ticker's own training-window buckets against the cross-ticker curve:
an even shrinkage of one noisy day of one ticker towards the shared shape."""


@dataclass(frozen=True, slots=True)
class IntradayProfile:
    """Share of the day's volume per consecutive `bucket_s` bucket from `start_ns` (time of
    day); `shares` sum to 1."""

    start_ns: int
    bucket_s: int
    shares: tuple[float, ...]
    source: str
    """What it was estimated from, for the report."""

    def __post_init__(self) -> None:
        if self.bucket_s <= 0:
            raise ValueError(f"profile bucket_s must be positive, got {self.bucket_s}")
        if not self.shares or any(not math.isfinite(x) or x < 0 for x in self.shares):
            raise ValueError(
                "profile shares must be a non-empty list of finite, non-negative numbers"
            )
        if abs(sum(self.shares) - 1.0) > 1e-9:
            raise ValueError(f"profile shares must sum to 1, got {sum(self.shares)}")

    @property
    def centres_ns(self) -> npt.NDArray[np.float64]:
        k = np.arange(len(self.shares), dtype=np.float64)
        return self.start_ns + (k + 0.5) * float(self.bucket_s * _NS)

    def rate(self, t_ns: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Expected share of the day's volume per second at time of day `t_ns`: linear between
        bucket centres, constant before the first centre and after the last."""
        rates = np.asarray(self.shares, dtype=np.float64) / self.bucket_s
        out: npt.NDArray[np.float64] = np.interp(
            np.asarray(t_ns, dtype=np.float64), self.centres_ns, rates
        ).astype(np.float64)
        return out

    def weights(self, start_ns: int, slices: int, slice_s: float) -> list[float]:
        """Expected volume weights of consecutive slices from `start_ns` (time of day), taken at
        each slice's midpoint."""
        mids = start_ns + (np.arange(slices) + 0.5) * slice_s * _NS
        return [float(x) for x in self.rate(mids)]

    def as_meta(self) -> dict[str, object]:
        return {
            "source": self.source,
            "start": f"{self.start_ns // _NS // 3600:02d}:{self.start_ns // _NS % 3600 // 60:02d}",
            "bucket_s": self.bucket_s,
            "shares": [round(x, 4) for x in self.shares],
        }

    @classmethod
    def from_stats(cls, stats: MarketStats) -> IntradayProfile:
        """The training window's own buckets only, flat beyond them (what VWAP had before a
        cross-ticker profile; what the live service has when given only statistics)."""
        window = Window.parse(stats.window)
        n = len(stats.profile)
        last_s = window.seconds - (n - 1) * stats.bucket_s  # the last bucket may be partial
        rates = [*stats.profile[:-1], stats.profile[-1] * stats.bucket_s / last_s]
        total = sum(rates)
        shares = tuple(r / total for r in rates) if total > 0 else (1.0 / n,) * n
        source = f"{stats.symbol} {stats.window} ({stats.bucket_s // 60}-min buckets), flat beyond"
        return cls(window.start_ns, stats.bucket_s, shares, source)


def bucket_volume(
    data: ReplayData, start_ns: int, bucket_s: int, buckets: int, within: Window | None = None
) -> npt.NDArray[np.float64]:
    """Executed shares (visible and hidden) per bucket; only executions inside `within` count."""
    ts = np.asarray(data.ts_ns, dtype=np.int64)
    etype = np.asarray(data.event_type)
    size = np.asarray(data.size, dtype=np.float64)
    end_ns = start_ns + buckets * bucket_s * _NS
    keep = (ts >= start_ns) & (ts < end_ns) & ((etype == EXECUTE) | (etype == EXECUTE_HIDDEN))
    if within is not None:
        keep &= (ts >= within.start_ns) & (ts < within.end_ns)
    idx = (ts[keep] - start_ns) // (bucket_s * _NS)
    return np.bincount(idx, weights=size[keep], minlength=buckets)[:buckets].astype(np.float64)


def intraday_profile(
    others: Sequence[ReplayData],
    own: ReplayData | None = None,
    own_window: Window | None = None,
    *,
    session: Window = SESSION,
    bucket_s: int = 1800,
    own_weight: float = OWN_WEIGHT,
) -> IntradayProfile:
    """The cross-ticker profile (module docstring). `others` are other tickers' days (their
    whole session is used); `own` is the traded ticker, read only inside `own_window`."""
    if not 0.0 <= own_weight <= 1.0:
        raise ValueError(f"own_weight must be in [0, 1], got {own_weight}")
    if (own is None) != (own_window is None):
        raise ValueError("give the traded ticker's data and its training window together")
    buckets = math.ceil(session.seconds / bucket_s)
    parts: list[str] = []
    curve: npt.NDArray[np.float64] | None = None
    if others:
        curves = []
        for other in others:
            if own is not None and other.symbol == own.symbol:
                raise ValueError(
                    f"profile source {other.source} is the traded ticker {own.symbol}: only other "
                    "tickers' whole sessions may be used"
                )
            v = bucket_volume(other, session.start_ns, bucket_s, buckets)
            if v.sum() <= 0:
                raise ValueError(f"profile source {other.source} has no executions in {session}")
            curves.append(v / v.sum())
        curve = np.mean(curves, axis=0)
        names = "+".join(sorted(o.symbol for o in others))
        parts.append(f"{names} {session} ({bucket_s // 60}-min buckets)")
    shares = _with_own(curve, own, own_window, session, bucket_s, buckets, own_weight, parts)
    return IntradayProfile(session.start_ns, bucket_s, tuple(float(x) for x in shares),
                           " blended with ".join(parts))  # fmt: skip


def _with_own(
    curve: npt.NDArray[np.float64] | None,
    own: ReplayData | None,
    own_window: Window | None,
    session: Window,
    bucket_s: int,
    buckets: int,
    own_weight: float,
    parts: list[str],
) -> npt.NDArray[np.float64]:
    if own is None or own_window is None:
        if curve is None:
            raise ValueError(
                "a profile needs other tickers' data or the traded ticker's own window"
            )
        return curve
    starts = session.start_ns + np.arange(buckets) * bucket_s * _NS
    covered = (
        np.clip(np.minimum(starts + bucket_s * _NS, own_window.end_ns)
                - np.maximum(starts, own_window.start_ns), 0, None) / _NS
    )  # fmt: skip
    mine = covered >= bucket_s / 2  # buckets the training window covers at least half of
    if not mine.any():
        raise ValueError(
            f"own window {own_window} covers no {bucket_s // 60}-min bucket of {session}"
        )
    volume = bucket_volume(own, session.start_ns, bucket_s, buckets, within=own_window)
    rate = np.where(mine, volume / np.where(mine, covered, 1.0), 0.0)
    if curve is None:  # no other ticker: own buckets, flat (nearest own bucket) beyond them
        idx = np.flatnonzero(mine)
        nearest = idx[np.abs(np.arange(buckets)[:, None] - idx[None, :]).argmin(axis=1)]
        out = rate[nearest]
        parts.append(f"{own.symbol} {own_window} ({bucket_s // 60}-min buckets), flat beyond")
        return out / out.sum() if out.sum() > 0 else np.full(buckets, 1.0 / buckets)
    parts.append(f"{own.symbol} {own_window} (weight {own_weight:g})")
    level = curve[mine].sum()
    own_shares = rate * (level / rate[mine].sum()) if rate[mine].sum() > 0 else curve
    blended: npt.NDArray[np.float64] = np.where(
        mine, own_weight * own_shares + (1 - own_weight) * curve, curve
    )
    return blended / float(blended.sum())
