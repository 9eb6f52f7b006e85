"""Run every algorithm on the same episodes and write the comparison (results, report, plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlexec.models.algos import (
    TACTICS,
    Algo,
    AlmgrenChrissAlgo,
    PolicyAlgo,
    PovAlgo,
    ScheduleAlgo,
    SubmitAndLeave,
    VwapAlgo,
    random_policy,
)
from rlexec.models.backtest_tasks import (
    DEFAULT_ROW,
    Executor,
    LocalExecutor,
    load_data,
    merge,
    plan,
)
from rlexec.models.evaluation import write_outputs
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.policy import OnnxPolicy

ALGOS = ("twap", "vwap", "pov", "ac", "sal", "rl")
AC_RISK_AVERSION = 0.05
"""λ of the Almgren–Chriss baseline, per (fraction of price × share)²: with the training
window's σ and η it front-loads a 10-minute order moderately (κT ≈ 0.5–1)."""


def make_algos(
    names: Sequence[str], stats: MarketStats, train_window: Window, model: Path | None, seed: int
) -> list[Algo]:
    algos: list[Algo] = []
    for name in names:
        if name == "twap":
            algos.append(ScheduleAlgo("twap"))
        elif name == "vwap":
            algos.append(VwapAlgo(stats, train_window.start_ns))
        elif name == "pov":
            algos.append(PovAlgo(stats))
        elif name == "ac":
            algos.append(AlmgrenChrissAlgo(stats, AC_RISK_AVERSION))
        elif name == "sal":
            algos.append(SubmitAndLeave())
        elif name == "rl":
            policy = OnnxPolicy(model) if model is not None else OnnxPolicy()

            def choose(obs: Sequence[float], p: OnnxPolicy = policy) -> int | None:
                decision = p.decide(obs)
                return None if decision is None else decision.index

            algos.append(PolicyAlgo("rl", choose))
        elif name == "random":
            algos.append(PolicyAlgo("random", random_policy(seed)))
        else:
            raise ValueError(f"unknown algo {name!r}; choose from {', '.join((*ALGOS, 'random'))}")
    return algos


def backtest(
    data_path: str | Path,
    out: Path,
    algos: Sequence[str] = ALGOS,
    model: Path | None = None,
    episodes: int = 200,
    seed: int = 11,
    window: str = "13:00-15:55",
    train_window: str = "09:35-13:00",
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
    chunk: int = 25,
) -> dict[str, Any]:
    """Every algorithm on the same seeded episodes; the tasks run wherever `executor` puts them."""
    for name in algos:
        if name not in (*ALGOS, "random"):
            raise ValueError(f"unknown algo {name!r}; choose from {', '.join((*ALGOS, 'random'))}")
    tasks = plan(data_path, window, train_window, algos, model, episodes, seed, chunk)
    done = (executor or LocalExecutor()).run(tasks, progress)
    by_row, fallbacks = merge(tasks, done)
    by_algo = by_row[DEFAULT_ROW]
    data = load_data(str(data_path))
    stats = estimate(data, Window.parse(train_window), bucket_s=1800)
    meta: dict[str, object] = {
        "data": Path(data.source).name,
        "symbol": data.symbol,
        "test_window": str(Window.parse(window)),
        "stats_window": str(Window.parse(train_window)),
        "episodes": episodes,
        "seed": seed,
        "model": str(model) if model is not None else ("default" if "rl" in algos else None),
        "ac_risk_aversion": AC_RISK_AVERSION,
        "policy_fallbacks": fallbacks.get(DEFAULT_ROW, {}),
        "stats": {k: v for k, v in asdict(stats).items() if k != "profile"},
    }
    tactics = {name: TACTICS[name] for name in by_algo}
    return write_outputs(out, by_algo, meta, tactics, candidate="rl")
