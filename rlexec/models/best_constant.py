"""The best constant action: each of the policy's 15 actions tried as a fixed rule on the
training window, the best one kept as a baseline.

A policy that cannot beat the best fixed rule over its own action table has learnt nothing
state-dependent. The selection sees only training-window episodes (drawn from a fixed seed
with `episodes.draw_many`), every action runs the same episodes (paired), and ties go to the
lower action index, so the choice is a deterministic function of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rlexec.models.algos import PolicyAlgo, constant_policy
from rlexec.models.contract import ACTIONS
from rlexec.models.episodes import EpisodeDistribution, draw_many
from rlexec.models.market_stats import MarketStats, Window
from rlexec.models.runner import run_episode
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData

Criterion = Callable[[npt.NDArray[np.float64]], float]
"""Per-episode IS (bps) of one action → its score; lower is better."""


@dataclass(frozen=True, slots=True)
class RiskAdjusted:
    """mean IS + λ·variance of IS (bps, bps²); λ = 0 is plain mean IS."""

    lam: float = 0.0

    def __call__(self, is_bps: npt.NDArray[np.float64]) -> float:
        var = float(is_bps.var(ddof=1)) if len(is_bps) > 1 else 0.0
        return float(is_bps.mean()) + self.lam * var

    @property
    def name(self) -> str:
        return "mean IS" if self.lam == 0 else f"mean IS + {self.lam:g}·var IS"


MEAN_IS = RiskAdjusted(0.0)
BEST_CONSTANT_EPISODES = 60
BEST_CONSTANT_SEED = 4242
"""Fixed before any selection was run; distinct from every backtest and training seed."""


@dataclass(frozen=True, slots=True)
class ActionScore:
    index: int
    rate: float
    tactic: str
    mean_is_bps: float
    std_is_bps: float
    score: float

    def as_meta(self) -> dict[str, object]:
        return {
            "index": self.index,
            "rate": self.rate,
            "tactic": self.tactic,
            "mean_is_bps": round(self.mean_is_bps, 4),
            "std_is_bps": round(self.std_is_bps, 4),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class SelectionTable:
    """What the selection ran and how each action scored (for the report)."""

    window: str
    symbol: str
    seed: int
    criterion: str
    episode_starts_ns: tuple[int, ...]
    episode_ends_ns: tuple[int, ...]
    rows: tuple[ActionScore, ...]

    def as_meta(self, chosen: int) -> dict[str, object]:
        return {
            "chosen": chosen,
            "action": ACTIONS[chosen].as_json(),
            "criterion": self.criterion,
            "selected_on": f"{self.symbol} {self.window}",
            "episodes": len(self.episode_starts_ns),
            "seed": self.seed,
            "scores": [r.as_meta() for r in self.rows],
        }


def criterion_name(criterion: Criterion) -> str:
    name = getattr(criterion, "name", None) or getattr(criterion, "__name__", None)
    return str(name) if name else type(criterion).__name__


def select_best_constant(
    data: ReplayData,
    train_window: Window,
    stats: MarketStats,
    *,
    episodes: int = BEST_CONSTANT_EPISODES,
    seed: int = BEST_CONSTANT_SEED,
    config: ReplayConfig | None = None,
    criterion: Criterion = MEAN_IS,
    dist: EpisodeDistribution | None = None,
) -> tuple[int, SelectionTable]:
    """Run every action as a fixed rule on `episodes` training-window episodes; return the
    index of the best by `criterion` (ties → lower index) and the per-action table."""
    if episodes < 2:
        raise ValueError(f"best_constant needs at least 2 episodes, got {episodes}")
    specs = draw_many(episodes, seed, train_window, stats, dist)
    rows = []
    for index, action in enumerate(ACTIONS):
        algo = PolicyAlgo("best_constant", constant_policy(index))
        is_bps = np.array([run_episode(data, spec, algo, config).is_bps for spec in specs])
        score = float(criterion(is_bps))
        if not np.isfinite(score):
            raise ValueError(
                f"criterion {criterion_name(criterion)} gave {score} for action {index}"
            )
        rows.append(ActionScore(index, action.rate, action.tactic.value, float(is_bps.mean()),
                                float(is_bps.std(ddof=1)), score))  # fmt: skip
    best = min(rows, key=lambda r: (r.score, r.index)).index
    table = SelectionTable(
        str(train_window), data.symbol, seed, criterion_name(criterion),
        tuple(s.start_ns for s in specs),
        tuple(s.start_ns + round(s.horizon_s * 1e9) for s in specs), tuple(rows),
    )  # fmt: skip
    return best, table
