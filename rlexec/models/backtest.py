"""Run every algorithm on the same episodes and write the comparison (results, report, plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlexec.models.algo_registry import ALGOS, make_algos, prepare_context
from rlexec.models.algos import TACTICS, PolicyAlgo
from rlexec.models.episodes import EpisodeSpec, draw_many
from rlexec.models.evaluation import EpisodeResult, write_outputs
from rlexec.models.market_stats import Window, estimate
from rlexec.models.runner import run_episode
from rlexec.simulator.data import ReplayData

__all__ = ["ALGOS", "backtest"]


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
    train_data: str | Path | None = None,
    profile_data: Sequence[str | Path] | None = None,
) -> dict[str, Any]:
    """train_data: where best_constant is selected (default: data_path; another ticker's file
    when the test window is the training window). profile_data: other tickers' days for VWAP's
    profile (default: the same day's other tickers next to data_path)."""
    data = ReplayData.load(data_path)
    test = Window.parse(window)
    train = Window.parse(train_window)
    stats = estimate(data, train, bucket_s=1800)
    specs: list[EpisodeSpec] = draw_many(episodes, seed, test, stats)
    context = prepare_context(
        algos, data=data, test=test, train=train, stats=stats, seed=seed, model=model,
        train_data=ReplayData.load(train_data) if train_data is not None else None,
        profile_data=[ReplayData.load(p) for p in profile_data] if profile_data is not None else None,
    )  # fmt: skip
    runners = make_algos(algos, context)
    by_algo: dict[str, list[EpisodeResult]] = {}
    total = len(runners) * len(specs)
    done = 0
    for algo in runners:
        results = []
        for spec in specs:
            results.append(run_episode(data, spec, algo))
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
        **context.meta,
        "policy_fallbacks": fallbacks,
        "stats": {k: v for k, v in asdict(stats).items() if k != "profile"},
    }
    tactics = {a.name: TACTICS[a.name] for a in runners}
    return write_outputs(out, by_algo, meta, tactics, candidate="rl")
