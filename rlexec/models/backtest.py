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
from rlexec.models.episodes import EpisodeSpec, draw_many
from rlexec.models.evaluation import EpisodeResult, write_outputs
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.policy import OnnxPolicy
from rlexec.models.runner import run_episode
from rlexec.simulator.data import ReplayData

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

            algos.append(PolicyAlgo("rl", choose, signal=policy.signal))
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
) -> dict[str, Any]:
    data = ReplayData.load(data_path)
    test = Window.parse(window)
    train = Window.parse(train_window)
    stats = estimate(data, train, bucket_s=1800)
    specs: list[EpisodeSpec] = draw_many(episodes, seed, test, stats)
    runners = make_algos(algos, stats, train, model, seed)
    by_algo: dict[str, list[EpisodeResult]] = {}
    total = len(runners) * len(specs)
    done = 0
    for algo in runners:
        results = []
        for spec in specs:
            signal = algo.signal if isinstance(algo, PolicyAlgo) else None
            results.append(run_episode(data, spec, algo, signal=signal))
            done += 1
            if progress is not None:
                progress(done, total)
        by_algo[algo.name] = results
    fallbacks = {a.name: a.fallbacks for a in runners if isinstance(a, PolicyAlgo)}
    meta: dict[str, object] = {
        "data": Path(data.source).name,
        "symbol": data.symbol,
        "test_window": str(test),
        "stats_window": str(train),
        "episodes": len(specs),
        "seed": seed,
        "model": str(model) if model is not None else ("default" if "rl" in algos else None),
        "ac_risk_aversion": AC_RISK_AVERSION,
        "policy_fallbacks": fallbacks,
        "stats": {k: v for k, v in asdict(stats).items() if k != "profile"},
    }
    tactics = {a.name: TACTICS[a.name] for a in runners}
    return write_outputs(out, by_algo, meta, tactics, candidate="rl")
