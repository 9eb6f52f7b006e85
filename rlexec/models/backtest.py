"""Run every algorithm on the same episodes and write the comparison (results, report, plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlexec.models.algo_registry import ALGOS, KNOWN, prepare_context
from rlexec.models.algos import TACTICS
from rlexec.models.backtest_tasks import (
    DEFAULT_ROW,
    Executor,
    LocalExecutor,
    load_data,
    merge,
    plan,
)
from rlexec.models.evaluation import write_outputs
from rlexec.models.market_stats import Window, estimate

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
    executor: Executor | None = None,
    chunk: int = 25,
) -> dict[str, Any]:
    """Every algorithm on the same seeded episodes; the tasks run wherever `executor` puts them.

    train_data: where best_constant is selected (default: data_path; another ticker's file
    when the test window is the training window). profile_data: other tickers' days for VWAP's
    profile (default: the same day's other tickers next to data_path)."""
    unknown = [n for n in algos if n not in KNOWN]
    if unknown:
        raise ValueError(f"unknown algo {unknown[0]!r}; choose from {', '.join(KNOWN)}")
    data = load_data(str(data_path))
    test = Window.parse(window)
    train = Window.parse(train_window)
    stats = estimate(data, train, bucket_s=1800)
    context = prepare_context(
        algos, data=data, test=test, train=train, stats=stats, seed=seed, model=model,
        train_data=load_data(str(train_data)) if train_data is not None else None,
        profile_data=[load_data(str(p)) for p in profile_data] if profile_data is not None else None,
    )  # fmt: skip
    tasks = plan(data_path, window, train_window, algos, context, episodes, seed, chunk)
    done = (executor or LocalExecutor()).run(tasks, progress)
    by_row, fallbacks = merge(tasks, done)
    by_algo = by_row[DEFAULT_ROW]
    meta: dict[str, object] = {
        "data": Path(data.source).name,
        "symbol": data.symbol,
        "test_window": str(test),
        "stats_window": str(train),
        "episodes": episodes,
        "seed": seed,
        "model": str(model) if model is not None else ("default" if "rl" in algos else None),
        **context.meta,
        "policy_fallbacks": fallbacks.get(DEFAULT_ROW, {}),
        "stats": {k: v for k, v in asdict(stats).items() if k != "profile"},
    }
    tactics = {name: TACTICS[name] for name in by_algo}
    return write_outputs(out, by_algo, meta, tactics, candidate="rl")
