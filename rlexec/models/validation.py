"""Score a trained policy on a validation window, for choosing between training runs.

Model selection must not see the test data. The defaults are the committed evaluation
plan's (`artifacts/evaluation_plan.json`): train and calibrate on AAPL 09:35–11:25, validate
on 11:25–13:00 with the plan's validation seed, `large` orders, the plan's λ; the test
splits (AAPL 13:00–15:55, AMZN 09:35–13:00) are never run, and `check_windows` refuses a
validation window touching training time or a test split. The score is paired: the
policy's risk-adjusted objective (mean IS + λ·var) minus TWAP's on the same episodes, at the
decision interval the policy was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rlexec.models.algo_registry import AlgoContext, make_algos
from rlexec.models.episodes import distribution, draw_many
from rlexec.models.evaluation import paired, summarise
from rlexec.models.market_stats import Window, estimate
from rlexec.models.protocol import load_plan
from rlexec.models.runner import run_episode
from rlexec.simulator.data import ReplayData


@dataclass(frozen=True, slots=True)
class ValidationPlan:
    train_window: str
    validation_window: str
    seed: int
    sizes: str
    risk_aversion: float
    episodes: int = 60
    test_windows: tuple[str, ...] = ()
    """The test splits' windows on this data's ticker-day: checked against, never run."""

    @classmethod
    def from_evaluation_plan(cls, data: str | Path, episodes: int = 60) -> ValidationPlan:
        """The committed plan's validation settings, with the test windows `data` falls in."""
        plan = load_plan()
        v = plan.validation
        tests = tuple(s.window for s in plan.test.values() if _same_ticker_day(data, s.data))
        return cls(plan.validation_train_window, v.window, v.seed, plan.sizes,
                   plan.risk_aversion, episodes, tests)  # fmt: skip


def _same_ticker_day(a: str | Path, b: str) -> bool:
    from rlexec.market.lobster import LobsterName

    na, nb = LobsterName.parse(Path(a)), LobsterName.parse(Path(b))
    if na is None or nb is None:
        return Path(a).name == b
    return (na.symbol, na.date) == (nb.symbol, nb.date)


def _overlap(a: Window, b: Window) -> bool:
    return a.start_ns < b.end_ns and b.start_ns < a.end_ns


def check_windows(plan: ValidationPlan) -> None:
    """ValueError naming the windows when validation touches training or test time."""
    train, val = Window.parse(plan.train_window), Window.parse(plan.validation_window)
    if _overlap(val, train):
        raise ValueError(f"validation window {val} overlaps the training window {train}")
    for text in plan.test_windows:
        test = Window.parse(text)
        if _overlap(val, test):
            raise ValueError(f"validation window {val} overlaps the test window {test}")
        if _overlap(train, test):
            raise ValueError(f"training window {train} overlaps the test window {test}")
    if plan.episodes < 1:
        raise ValueError(f"validation episodes must be at least 1, got {plan.episodes}")
    distribution(plan.sizes).check_window(val)


def validate(
    model: Path, data: ReplayData, plan: ValidationPlan, interval_s: float | None = None
) -> dict[str, float | int | None]:
    """RL and TWAP on the plan's seeded validation episodes; flat numbers for a sweep table."""
    check_windows(plan)
    train = Window.parse(plan.train_window)
    stats = estimate(data, train, bucket_s=1800)
    dist = distribution(plan.sizes)
    if interval_s is not None:
        dist = replace(dist, interval_s=interval_s)
    specs = draw_many(plan.episodes, plan.seed, Window.parse(plan.validation_window), stats, dist)
    context = AlgoContext(stats=stats, seed=plan.seed, model=model, interval_s=dist.interval_s)
    twap, rl = make_algos(["twap", "rl"], context)
    rl_results = [run_episode(data, spec, rl) for spec in specs]
    twap_results = [run_episode(data, spec, twap) for spec in specs]
    vs = paired(rl_results, twap_results, plan.risk_aversion)
    return {
        "validation_rl_minus_twap_risk_adjusted_bps": _number(vs["risk_adjusted_diff_bps"]),
        "validation_rl_minus_twap_bps": _number(vs["mean_diff_bps"]),
        "validation_win_rate": _number(vs["win_rate"]),
        "validation_wilcoxon_p": _number(vs["wilcoxon_p"]),
        "validation_rl_mean_is_bps": summarise(rl_results).mean_is_bps,
        "validation_twap_mean_is_bps": summarise(twap_results).mean_is_bps,
        "validation_episodes": len(specs),
        "policy_fallbacks": getattr(rl, "fallbacks", 0),
    }


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
