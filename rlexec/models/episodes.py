"""Episodes: one parent order each (side, size, start, horizon, decision interval).

Every algorithm in a backtest runs the same list of episodes, drawn once from a seed, so
that comparisons are paired. Sizes are a participation of the expected volume over the
horizon, the expectation taken from the calibration (training) window only.

Two named size distributions (`SIZES`): `small`, the original 2–15 % over 5–20 minutes
(drawn exactly as before, so old seeds give the same episodes), and `large`, 5–30 % over
10–60 minutes — the block the issue's claim is about, where impact and timing risk
dominate. `large` draws a size bucket first (each equally likely), then a participation
uniformly inside it, so every bucket is reported on a third of the episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rlexec.market.orders import Side
from rlexec.models.market_stats import MarketStats, Window

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    episode: int
    start_ns: int
    side: Side
    quantity: int
    horizon_s: float
    interval_s: float
    participation: float | None = None
    """Drawn share of the expected volume over the horizon (None for a hand-made episode)."""

    @property
    def steps(self) -> int:
        return max(1, round(self.horizon_s / self.interval_s))


@dataclass(frozen=True, slots=True)
class EpisodeDistribution:
    horizons_s: tuple[float, ...] = (300.0, 600.0, 900.0, 1200.0)
    interval_s: float = 15.0
    participation: tuple[float, float] = (0.02, 0.15)
    lot: int = 100
    min_quantity: int = 100
    bucket_edges: tuple[float, ...] = (0.02, 0.05, 0.10, 0.15)
    """Size buckets results are reported by: [edge_i, edge_i+1) of participation (an episode
    outside them is in no bucket)."""
    stratified: bool = False
    """Draw a bucket uniformly, then a participation inside it (else uniform over the range)."""

    def __post_init__(self) -> None:
        lo, hi = self.participation
        edges = self.bucket_edges
        if not 0 < lo < hi:
            raise ValueError(f"participation range {self.participation} must be 0 < low < high")
        if len(edges) < 2 or list(edges) != sorted(set(edges)):
            raise ValueError(f"bucket_edges {edges} must be at least two increasing numbers")
        if self.stratified and (edges[0] > lo or edges[-1] < hi):
            raise ValueError(
                f"bucket_edges {edges} do not cover participation {self.participation}"
            )
        if not self.horizons_s or min(self.horizons_s) < self.interval_s:
            raise ValueError("every horizon must hold at least one decision interval")

    def check_window(self, window: Window) -> None:
        """Fail before drawing if the longest horizon cannot fit in the window."""
        longest = max(self.horizons_s)
        if window.seconds <= longest:
            raise ValueError(
                f"window {window} ({window.seconds / 60:.0f} min) is too short for the "
                f"{longest / 60:.0f}-minute horizons of this size distribution"
            )


SIZES: dict[str, EpisodeDistribution] = {
    "small": EpisodeDistribution(),
    "large": EpisodeDistribution(
        horizons_s=(600.0, 1200.0, 1800.0, 2400.0, 3000.0, 3600.0),
        participation=(0.05, 0.30),
        bucket_edges=(0.05, 0.10, 0.20, 0.30),
        stratified=True,
    ),
}
"""The episode distributions by name (`--sizes`); `large` is the evaluation's default."""


def distribution(name: str) -> EpisodeDistribution:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(
            f"unknown size distribution {name!r}; choose from {', '.join(SIZES)}"
        ) from None


def bucket_label(participation: float | None, edges: tuple[float, ...]) -> str | None:
    """'5–10 %' for a participation in [0.05, 0.10); None outside every bucket or unknown."""
    if participation is None:
        return None
    for lo, hi in pairwise(edges):
        last = hi == edges[-1]
        if lo <= participation < hi or (last and participation == hi):
            return f"{lo * 100:g}–{hi * 100:g} %"
    return None


def draw(
    rng: np.random.Generator,
    episode: int,
    window: Window,
    stats: MarketStats,
    dist: EpisodeDistribution,
) -> EpisodeSpec:
    horizon = float(rng.choice(dist.horizons_s))
    latest = window.end_ns - round(horizon * _NS)
    if latest <= window.start_ns:
        raise ValueError(f"window {window} is shorter than a {horizon:.0f} s horizon")
    start = int(rng.integers(window.start_ns, latest))
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    if dist.stratified:
        edges = dist.bucket_edges
        k = int(rng.integers(len(edges) - 1))
        lo, hi = max(edges[k], dist.participation[0]), min(edges[k + 1], dist.participation[1])
        rate = float(rng.uniform(lo, hi))
    else:
        rate = float(rng.uniform(*dist.participation))
    raw = rate * stats.volume_per_s * horizon
    quantity = max(dist.min_quantity, int(raw // dist.lot) * dist.lot)
    return EpisodeSpec(episode, start, side, quantity, horizon, dist.interval_s, rate)


def draw_many(
    n: int, seed: int, window: Window, stats: MarketStats, dist: EpisodeDistribution | None = None
) -> list[EpisodeSpec]:
    rng = np.random.default_rng(seed)
    d = dist or EpisodeDistribution()
    d.check_window(window)
    return [draw(rng, i, window, stats, d) for i in range(n)]
