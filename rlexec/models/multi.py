"""A backtest over many LOBSTER files (ticker-days), reported per ticker, per day and overall.

Each file is its own set of tasks (`backtest_tasks.plan`) with its own seed, derived from
the run's seed and the file's ticker and day, so adding a file never changes another
file's episodes. The paired statistics pool every episode of every file: episodes are
renumbered run-wide so that each one is paired with itself across algorithms only.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rlexec.market.errors import DataError
from rlexec.market.lobster import LobsterName, LobsterPair
from rlexec.models.algo_registry import ALGOS, KNOWN, AlgoContext, prepare_context
from rlexec.models.algos import TACTICS
from rlexec.models.backtest_tasks import (
    DEFAULT_ROW,
    BacktestTask,
    Executor,
    LocalExecutor,
    load_data,
    merge,
    plan,
)
from rlexec.models.best_constant import RiskAdjusted
from rlexec.models.episodes import distribution
from rlexec.models.evaluation import Bootstrap, EpisodeResult, fmt_p, results_document
from rlexec.models.market_stats import Window, estimate
from rlexec.models.objective import RISK_AVERSION
from rlexec.models.protocol import PLAN_PATH, Guard, load_plan
from rlexec.models.report import write_outputs
from rlexec.models.runner import replay_config

UNDATED = "undated"


@dataclass(frozen=True, slots=True)
class DataFile:
    path: Path
    symbol: str
    date: str
    levels: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class FileResults:
    file: DataFile
    seed: int
    first_episode: int
    """Its episodes are numbered from here run-wide."""
    by_algo: dict[str, list[EpisodeResult]]
    fallbacks: dict[str, int]
    algos_meta: dict[str, object]
    """How the algorithms were built for this file (VWAP profile, λ, best constant…)."""

    def meta(self, episodes: int) -> dict[str, object]:
        f = self.file
        return {
            "data": f.name, "symbol": f.symbol, "date": f.date, "levels": f.levels,
            "seed": self.seed, "episodes": episodes, "first_episode": self.first_episode,
            "policy_fallbacks": self.fallbacks, **self.algos_meta,
        }  # fmt: skip


def find_files(paths: Sequence[str | Path]) -> tuple[list[DataFile], list[str]]:
    """LOBSTER message files named or inside the folders named, one per ticker-day.

    Where a ticker-day comes at several depths (AMZN level 1 and level 5), the deepest is
    kept: counting it twice would weigh that ticker-day double. Returns the files and a
    line per file left out.
    """
    messages: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_message(p))
            if not found:
                raise DataError(str(path), "no LOBSTER message files (*_message_*.csv[.gz]) here")
            messages += found
        else:
            messages.append(path)
    chosen: dict[tuple[str, str], DataFile] = {}
    skipped: list[str] = []
    for message in dict.fromkeys(messages):  # a file named twice counts once
        pair = LobsterPair.from_message(message)
        name = LobsterName.parse(pair.message)
        file = DataFile(pair.message, pair.symbol, name.date if name else UNDATED, pair.levels)
        key = (file.symbol, file.date)
        other = chosen.get(key)
        if other is None or file.levels > other.levels:
            if other is not None:
                skipped.append(_left_out(other, file))
            chosen[key] = file
        else:
            skipped.append(_left_out(file, other))
    return list(chosen.values()), skipped


def _left_out(file: DataFile, kept: DataFile) -> str:
    return f"{file.name}: left out, {kept.name} is the same ticker-day with {kept.levels} levels"


def _is_message(path: Path) -> bool:
    return path.is_file() and "_message_" in path.name and path.name.endswith((".csv", ".csv.gz"))


@dataclass(frozen=True, slots=True)
class Preparation:
    """What one file's `AlgoContext` is estimated from (its training window only)."""

    data: str
    window: str
    train_window: str
    algos: tuple[str, ...]
    model: Path | None
    seed: int
    train_data: str | None
    sizes: str
    risk_aversion: float


def prepare(job: Preparation) -> AlgoContext:
    """As `backtest` prepares its algorithms: statistics, VWAP's profile from the same day's
    other tickers beside the file, best_constant's selection (the costly part: ~20 CPU-s)."""
    data = load_data(job.data)
    test, train = Window.parse(job.window), Window.parse(job.train_window)
    stats = estimate(data, train, bucket_s=1800)
    chosen_on = load_data(job.train_data) if job.train_data is not None else None
    return prepare_context(job.algos, data=data, test=test, train=train, stats=stats,
                           seed=job.seed, model=job.model, train_data=chosen_on,
                           config=replay_config(), criterion=RiskAdjusted(job.risk_aversion),
                           dist=distribution(job.sizes))  # fmt: skip


@runtime_checkable
class Mapper(Protocol):
    """An executor that can also run per-file preparation where it reads files."""

    def map(
        self, fn: Callable[[Preparation], AlgoContext], items: Sequence[Preparation]
    ) -> list[AlgoContext]: ...


def file_seed(seed: int, file: DataFile) -> int:
    """The run's seed and the ticker-day, mixed (CRC-32): stable across runs and machines."""
    return zlib.crc32(f"{seed}:{file.symbol}:{file.date}".encode())


def multi_backtest(
    paths: Sequence[str | Path],
    out: Path,
    algos: Sequence[str] = ALGOS,
    model: Path | None = None,
    episodes: int = 200,
    seed: int = 11,
    window: str = "11:25-13:00",
    train_window: str = "09:35-11:25",
    progress: Callable[[int, int], None] | None = None,
    train_data: str | Path | None = None,
    executor: Executor | None = None,
    chunk: int = 25,
    sizes: str = "large",
    guard: Guard | None = None,
    risk_aversion: float = RISK_AVERSION,
    boot: Bootstrap | None = None,
) -> dict[str, Any]:
    """`episodes` per file; writes results.json, episodes.json, report.md and, for the
    pooled episodes, the single-file report with its plots in `out/overall/`.

    Each file's algorithms are prepared from its own training window as `backtest` prepares
    them (`train_data`, when given, is where best_constant is selected for every file). Every
    file passes the evaluation plan's `guard` as a single backtest would: a file on a test
    split is refused unless allowed, and then logged."""
    unknown = [n for n in algos if n not in KNOWN]
    if unknown:
        raise ValueError(f"unknown algo {unknown[0]!r}; choose from {', '.join(KNOWN)}")
    dist = distribution(sizes)
    dist.check_window(Window.parse(window))
    Window.parse(train_window)
    files, skipped = find_files(paths)
    g = guard if guard is not None else Guard(load_plan(PLAN_PATH))
    splits = {f.path: g.check(f.path, window) for f in files}
    seeds = {f.path: file_seed(seed, f) for f in files}
    chosen_on = str(train_data) if train_data is not None else None
    jobs = [Preparation(str(f.path), window, train_window, tuple(algos), model, seeds[f.path],
                        chosen_on, sizes, risk_aversion) for f in files]  # fmt: skip
    prepared = executor.map(prepare, jobs) if isinstance(executor, Mapper) else map(prepare, jobs)
    contexts = {job.data: context for job, context in zip(jobs, prepared, strict=True)}
    planned: dict[str, list[BacktestTask]] = {}
    for f in files:
        context = contexts[str(f.path)]
        planned[str(f.path)] = plan(
            f.path,
            window,
            train_window,
            algos,
            context,
            episodes,
            seeds[f.path],
            chunk,
            sizes=sizes,
        )
    settings = boot or Bootstrap()
    for f in files:
        split = splits[f.path]
        if split is not None:
            g.record(split, data=f.name, window=window, stats_window=train_window,
                     episodes=episodes, sizes=sizes, algos=list(algos), rows=[DEFAULT_ROW],
                     seeds={"episodes": seeds[f.path], "bootstrap": settings.seed},
                     model=str(model) if model is not None else None, multi_file=True)  # fmt: skip
    tasks = [t for file_tasks in planned.values() for t in file_tasks]
    done = iter((executor or LocalExecutor()).run(tasks, progress))  # in the order of `tasks`
    per_file: list[FileResults] = []
    for i, f in enumerate(files):
        mine = planned[str(f.path)]
        rows, fallbacks = merge(mine, [next(done) for _ in mine])
        first = i * episodes
        renumbered = {
            algo: [replace(r, episode=first + r.episode) for r in results]
            for algo, results in rows[DEFAULT_ROW].items()
        }
        per_file.append(FileResults(f, seeds[f.path], first, renumbered,
                                    fallbacks.get(DEFAULT_ROW, {}), contexts[str(f.path)].meta))  # fmt: skip
    meta: dict[str, object] = {
        "files": [
            {**r.meta(episodes), "test_split": getattr(splits[r.file.path], "name", None)}
            for r in per_file
        ],
        "skipped": skipped,
        "test_window": str(Window.parse(window)),
        "stats_window": str(Window.parse(train_window)),
        "sizes": sizes,
        "seed": seed,
        "seeds": "per file: crc32('seed:symbol:date') (rlexec.models.multi.file_seed)",
        "model": str(model) if model is not None else ("default" if "rl" in algos else None),
    }
    candidate = "rl"
    overall = _pool(per_file)
    tactics = {name: TACTICS[name] for name in overall}
    write_outputs(out / "overall", overall, {**meta, "group": "overall"}, tactics, candidate,
                  risk_aversion, dist.bucket_edges, settings)  # fmt: skip

    def summary(by_algo: dict[str, list[EpisodeResult]]) -> dict[str, object]:
        """evaluation's document for one group, without the (run-wide) meta."""
        document = results_document(by_algo, {}, candidate, risk_aversion, dist.bucket_edges,
                                    settings)  # fmt: skip
        return {k: v for k, v in document.items() if k != "meta"}

    doc: dict[str, Any] = {
        "meta": {**meta, "risk_aversion_per_bps": risk_aversion, "bootstrap": asdict(settings)},
        "overall": summary(overall),
        "by_ticker": {
            s: summary(_pool([r for r in per_file if r.file.symbol == s]))
            for s in sorted({f.symbol for f in files})
        },
        "by_day": {
            d: summary(_pool([r for r in per_file if r.file.date == d]))
            for d in sorted({f.date for f in files})
        },
        "by_file": {r.file.name: summary(r.by_algo) for r in per_file},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
    labelled = [
        {"data": r.file.name, "symbol": r.file.symbol, "date": r.file.date, **asdict(e)}
        for r in per_file
        for results in r.by_algo.values()
        for e in results
    ]
    (out / "episodes.json").write_text(json.dumps(labelled))
    (out / "report.md").write_text(_report(doc, candidate))
    return doc


def _pool(parts: Sequence[FileResults]) -> dict[str, list[EpisodeResult]]:
    pooled: dict[str, list[EpisodeResult]] = {}
    for part in parts:
        for algo, results in part.by_algo.items():
            pooled.setdefault(algo, []).extend(results)
    return pooled


def _report(doc: dict[str, Any], candidate: str) -> str:
    meta = doc["meta"]
    lines = [
        "# Multi-file backtest report",
        "",
        f"- **files**: {len(meta['files'])} ticker-days, {meta['files'][0]['episodes']} episodes each "
        f"(per-file seeds from seed {meta['seed']}); test window {meta['test_window']}, "
        f"baselines calibrated on {meta['stats_window']}; model {meta['model']}",
    ]
    lines += [f"- skipped {s}" for s in meta["skipped"]]
    lines += [
        "",
        "IS = implementation shortfall in bps of the arrival mid, positive = cost. Groups pool "
        "episodes of different tickers: their IS scales differ, so read the per-ticker rows too. "
        f"Paired columns: {candidate} − TWAP on the same episodes (negative = {candidate} cheaper; "
        f"risk-adjusted: mean + λ·var, λ = {meta['risk_aversion_per_bps']}/bps). "
        "`overall/` holds the pooled report with its plots.",
        "",
    ]
    algos = list(doc["overall"]["algos"])
    header = "| group | n | " + " | ".join(f"{a} mean IS" for a in algos)
    has_pair = candidate in algos and "twap" in algos
    if has_pair:
        header += f" | {candidate}−twap (bps) | risk-adjusted | win rate | Wilcoxon p"
    lines += [header + " |", "|---|---:|" + "---:|" * (len(algos) + (4 if has_pair else 0))]
    sections: list[tuple[str, dict[str, Any]]] = [("overall", doc["overall"])]
    for kind, label in (("by_ticker", "ticker"), ("by_day", "day"), ("by_file", "file")):
        sections += [(f"{label} {key}", part) for key, part in doc[kind].items()]
    for label, part in sections:
        summaries = part["algos"]
        first = summaries[algos[0]]
        row = f"| {label} | {first['n']} | " + " | ".join(
            f"{summaries[a]['mean_is_bps']:.2f}" for a in algos
        )
        if has_pair:
            c = summaries[candidate]["vs"]["twap"]
            row += (f" | {c['mean_diff_bps']:+.2f} | {c['risk_adjusted_diff_bps']:+.2f} | "
                    f"{c['win_rate']:.1%} | {fmt_p(c['wilcoxon_p'])}")  # fmt: skip
        lines.append(row + " |")
    return "\n".join(lines) + "\n"
