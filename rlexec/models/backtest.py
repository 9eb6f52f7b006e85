"""Run every algorithm on the same episodes and write the comparison (results, report, plots).

With sensitivity rows, each row is the same episodes under another simulator assumption
(`sensitivity.py`); the default row gets the full report, every row a results document in
`sensitivity.json` and a line per baseline in `sensitivity.md`. A run on a test window of
the evaluation plan must be asked for and is logged (`protocol.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlexec.models.algo_registry import ABLATION, ALGOS, KNOWN, prepare_context
from rlexec.models.algos import TACTICS
from rlexec.models.backtest_tasks import (
    DEFAULT_ROW,
    Executor,
    LocalExecutor,
    load_data,
    merge,
    plan,
)
from rlexec.models.best_constant import RiskAdjusted
from rlexec.models.episodes import distribution
from rlexec.models.evaluation import Bootstrap, results_document
from rlexec.models.market_stats import Window, estimate
from rlexec.models.objective import RISK_AVERSION
from rlexec.models.policy import DEFAULT_MODEL
from rlexec.models.protocol import PLAN_PATH, Guard, load_plan, sha256_file
from rlexec.models.report import sensitivity_markdown, write_outputs
from rlexec.models.sensitivity import Row, select, skipped_rows, standard_rows

__all__ = ["ALGOS", "backtest"]


def backtest(
    data_path: str | Path,
    out: Path,
    algos: Sequence[str] = ALGOS,
    model: Path | None = None,
    episodes: int = 200,
    seed: int = 11,
    window: str = "11:25-13:00",
    train_window: str = "09:35-11:25",
    progress: Callable[[int, int], None] | None = None,
    train_data: str | Path | None = None,
    profile_data: Sequence[str | Path] | None = None,
    executor: Executor | None = None,
    chunk: int = 25,
    sizes: str = "large",
    rows: Sequence[str] | None = None,
    guard: Guard | None = None,
    risk_aversion: float = RISK_AVERSION,
    boot: Bootstrap | None = None,
    ablation_model: Path | None = None,
) -> dict[str, Any]:
    """Every algorithm on the same seeded episodes; the tasks run wherever `executor` puts them.

    train_data: where best_constant is selected (default: data_path; another ticker's file
    when the test window is the training window). profile_data: other tickers' days for VWAP's
    profile (default: the same day's other tickers next to data_path).
    `rows`: sensitivity rows to run besides the default (`sensitivity.ROW_NAMES`; None = the
    default row only, with no sensitivity files). `guard` (default: the committed plan and
    log) refuses or logs a run on a test window. `ablation_model`: the `rl_signal` arm's
    policy (trained as `model` with the price-move signal). Returns the default row's document.
    """
    unknown = [n for n in algos if n not in KNOWN]
    if unknown:
        raise ValueError(f"unknown algo {unknown[0]!r}; choose from {', '.join(KNOWN)}")
    if (ABLATION in algos) != (ablation_model is not None):
        raise ValueError(
            f"algo {ABLATION!r} and an ablation model go together: pass both or neither"
        )
    g = guard if guard is not None else Guard(load_plan(PLAN_PATH))
    split = g.check(data_path, window)
    dist = distribution(sizes)
    chosen = _rows(data_path, rows, train_window)
    data = load_data(str(data_path))
    test = Window.parse(window)
    train = Window.parse(train_window)
    stats = estimate(data, train, bucket_s=1800)
    context = prepare_context(
        algos, data=data, test=test, train=train, stats=stats, seed=seed, model=model,
        train_data=load_data(str(train_data)) if train_data is not None else None,
        profile_data=[load_data(str(p)) for p in profile_data] if profile_data is not None else None,
        config=next(r.config for r in chosen if r.name == DEFAULT_ROW), criterion=RiskAdjusted(risk_aversion), dist=dist,
    )  # fmt: skip
    tasks = plan(data_path, window, train_window, algos, context, episodes, seed, chunk,
                 rows={r.name: r.config for r in chosen}, sizes=sizes,
                 row_data={r.name: r.data for r in chosen if r.data},
                 arm_models={ABLATION: ablation_model} if ablation_model else None)  # fmt: skip
    model_file = model if model is not None else DEFAULT_MODEL
    model_sha = sha256_file(model_file) if "rl" in algos else None
    arm: dict[str, object] = (
        {
            "ablation_model": str(ablation_model),
            "ablation_model_sha256": sha256_file(ablation_model),
        }
        if ablation_model is not None
        else {}
    )
    settings = boot or Bootstrap()
    if split is not None:
        g.record(split, data=Path(data_path).name, window=window, stats_window=train_window,
                 episodes=episodes, sizes=sizes, algos=list(algos), rows=[r.name for r in chosen],
                 seeds={"episodes": seed, "bootstrap": settings.seed},
                 model=str(model_file) if "rl" in algos else None, model_sha256=model_sha,
                 **arm)  # fmt: skip
    done = (executor or LocalExecutor()).run(tasks, progress)
    by_row, fallbacks = merge(tasks, done)
    meta: dict[str, object] = {
        "data": Path(data.source).name,
        "symbol": data.symbol,
        "test_window": str(test),
        "stats_window": str(train),
        "episodes": episodes,
        "seed": seed,
        "sizes": sizes,
        "size_distribution": asdict(dist),
        "test_split": split.name if split is not None else None,
        "model": str(model) if model is not None else ("default" if "rl" in algos else None),
        "model_sha256": model_sha,
        **arm,
        **context.meta,
        "stats": {k: v for k, v in asdict(stats).items() if k != "profile"},
    }
    tactics = {name: TACTICS[name] for name in by_row[DEFAULT_ROW]}

    def row_meta(row: Row) -> dict[str, object]:
        return {
            **meta,
            "row": row.name,
            "row_description": row.description,
            "replay_data": Path(row.data).name if row.data else meta["data"],
            "replay_config": row.config.model_dump(mode="json"),
            "policy_fallbacks": fallbacks.get(row.name, {}),
        }

    docs: dict[str, dict[str, object]] = {}
    for row in chosen:
        if row.name == DEFAULT_ROW:
            docs[row.name] = write_outputs(out, by_row[row.name], row_meta(row), tactics, "rl",
                                           risk_aversion, dist.bucket_edges, settings)  # fmt: skip
        else:
            docs[row.name] = results_document(by_row[row.name], row_meta(row), "rl",
                                              risk_aversion, dist.bucket_edges, settings)  # fmt: skip
    if rows is not None:
        sensitivity = {"rows": docs, "skipped": skipped_rows(chosen)}
        (out / "sensitivity.json").write_text(json.dumps(sensitivity, indent=2, allow_nan=False))
        (out / "sensitivity.md").write_text(sensitivity_markdown(sensitivity, "rl"))
    return docs[DEFAULT_ROW]


def _rows(data_path: str | Path, names: Sequence[str] | None, train_window: str) -> list[Row]:
    """The default row, plus the named sensitivity rows this data can run."""
    Window.parse(train_window)
    available = standard_rows(data_path, load_data(str(data_path)), train_window, load_data)
    if names is None:
        return [r for r in available if r.name == DEFAULT_ROW]
    return select(available, list(dict.fromkeys([DEFAULT_ROW, *names])))
