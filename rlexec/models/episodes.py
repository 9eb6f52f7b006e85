"""Episodes: one parent order each (side, size, start, horizon, decision interval).

Every algorithm in a backtest runs the same list of episodes, drawn once from a seed, so
that comparisons are paired. Sizes are a participation of the expected volume over the
horizon, the expectation taken from the training window only.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    rate = float(rng.uniform(*dist.participation))
    raw = rate * stats.volume_per_s * horizon
    quantity = max(dist.min_quantity, int(raw // dist.lot) * dist.lot)
    return EpisodeSpec(episode, start, side, quantity, horizon, dist.interval_s)


def draw_many(
    n: int, seed: int, window: Window, stats: MarketStats, dist: EpisodeDistribution | None = None
) -> list[EpisodeSpec]:
    rng = np.random.default_rng(seed)
    d = dist or EpisodeDistribution()
    return [draw(rng, i, window, stats, d) for i in range(n)]
