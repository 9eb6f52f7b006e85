"""Score a trained policy on a validation window, for choosing between training runs.

Model selection must not see the test data: the validation window lies after the
training window and before the test window (the shipped protocol trains on 09:35-13:00
and tests on 13:00-15:55, so a sweep trains on 09:35-12:20 and validates on 12:20-13:00),
and `check_windows` refuses any overlap. The score is paired: the policy's IS minus
TWAP's on the same episodes, at the decision interval the policy was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlexec.models.algo_registry import AlgoContext, make_algos
from rlexec.models.episodes import EpisodeDistribution, draw_many
from rlexec.models.evaluation import paired, summarise
from rlexec.models.market_stats import Window, estimate
from rlexec.models.runner import run_episode
from rlexec.simulator.data import ReplayData


@dataclass(frozen=True, slots=True)
class ValidationPlan:
    train_window: str = "09:35-12:20"
    validation_window: str = "12:20-13:00"
    test_window: str = "13:00-15:55"
    """Held out: only checked against, never run."""
    episodes: int = 60
    seed: int = 404


def _overlap(a: Window, b: Window) -> bool:
    return a.start_ns < b.end_ns and b.start_ns < a.end_ns


def check_windows(plan: ValidationPlan) -> None:
    """ValueError naming the windows when validation touches training or test time."""
    train, val, test = (Window.parse(w) for w in
                        (plan.train_window, plan.validation_window, plan.test_window))  # fmt: skip
    if _overlap(val, train):
        raise ValueError(f"validation window {val} overlaps the training window {train}")
    if _overlap(val, test):
        raise ValueError(f"validation window {val} overlaps the test window {test}")
    if _overlap(train, test):
        raise ValueError(f"training window {train} overlaps the test window {test}")
    if plan.episodes < 1:
        raise ValueError(f"validation episodes must be at least 1, got {plan.episodes}")


def validate(
    model: Path, data: ReplayData, plan: ValidationPlan, interval_s: float
) -> dict[str, float | int | None]:
    """RL and TWAP on the plan's seeded validation episodes; flat numbers for a sweep table."""
    check_windows(plan)
    train = Window.parse(plan.train_window)
    stats = estimate(data, train, bucket_s=1800)
    dist = EpisodeDistribution(interval_s=interval_s)
    specs = draw_many(plan.episodes, plan.seed, Window.parse(plan.validation_window), stats, dist)
    context = AlgoContext(stats=stats, seed=plan.seed, model=model, interval_s=interval_s)
    twap, rl = make_algos(["twap", "rl"], context)
    rl_results = [run_episode(data, spec, rl) for spec in specs]
    twap_results = [run_episode(data, spec, twap) for spec in specs]
    vs = paired(rl_results, twap_results)
    return {
        "validation_rl_minus_twap_bps": vs["mean_diff_bps"],
        "validation_win_rate": vs["win_rate"],
        "validation_wilcoxon_p": vs["wilcoxon_p"],
        "validation_rl_mean_is_bps": summarise(rl_results).mean_is_bps,
        "validation_twap_mean_is_bps": summarise(twap_results).mean_is_bps,
        "validation_episodes": len(specs),
        "policy_fallbacks": getattr(rl, "fallbacks", 0),
    }
