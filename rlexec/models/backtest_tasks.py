"""A backtest as a list of independent tasks, so that where they run cannot change the result.

A task is (data file, test window, calibration window, one algorithm, a chunk of the seeded
episode list drawn from a named size distribution, a simulator setting). Every input is in
the task itself and every episode is drawn from the seed, so a task gives the same results
in this process, in a pool or on another machine; the backtest merges them in a fixed order. Executors (here the local
one; `rlexec.scale` adds Ray) decide only where tasks run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from rlexec.models.algo_registry import AlgoContext, make_algos
from rlexec.models.algos import PolicyAlgo
from rlexec.models.episodes import EpisodeSpec, distribution, draw_many
from rlexec.models.evaluation import EpisodeResult
from rlexec.models.market_stats import Window, estimate
from rlexec.models.runner import replay_config, run_episode
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData

Progress = Callable[[int, int], None]
"""(episodes finished, episodes in all)."""

DEFAULT_ROW = "default"
SEEDED_PER_EPISODE = frozenset({"random"})
"""Algorithms with a random stream; every other algorithm resets in `start` and is reused."""


@dataclass(frozen=True, slots=True)
class BacktestTask:
    data: str
    """Path of the LOBSTER message file (its orderbook file beside it)."""
    window: str
    """Episodes start and end inside this HH:MM-HH:MM window."""
    train_window: str
    """What the baselines are calibrated on (market statistics, profiles)."""
    algo: str
    context: AlgoContext
    """What building the algorithm may use (statistics, profile, chosen constant, model), all
    estimated once from training data by the backtest, so no task estimates anything."""
    episodes: int
    """Size of the whole seeded episode list the chunk is cut from."""
    seed: int
    first: int
    stop: int
    """This task runs episodes [first, stop) of that list."""
    row: str = DEFAULT_ROW
    """Sensitivity row this task belongs to."""
    config: ReplayConfig = field(default_factory=replay_config)
    sizes: str = "large"
    """Named episode distribution (`episodes.SIZES`) the seeded episode list is drawn from."""
    calibration_data: str | None = None
    """File the calibration and the episodes come from (None: `data`), so that a row replaying
    a deeper file of the same ticker and day trades the very same episodes."""
    index: int = 0
    """Position in the plan: results merge in this order."""

    @property
    def size(self) -> int:
        return self.stop - self.first


@dataclass(slots=True)
class TaskResult:
    task: BacktestTask
    results: list[EpisodeResult]
    fallbacks: int | None
    """Decisions where the policy had no valid answer (None for algorithms without a policy)."""


def plan(
    data: str | Path,
    window: str,
    train_window: str,
    algos: Sequence[str],
    context: AlgoContext,
    episodes: int,
    seed: int,
    chunk: int = 25,
    rows: dict[str, ReplayConfig] | None = None,
    sizes: str = "large",
    row_data: dict[str, str] | None = None,
    arm_models: Mapping[str, Path] | None = None,
) -> list[BacktestTask]:
    """Every (row, algorithm, chunk of episodes), in the order results are merged.

    `row_data` names, per row, another message file of the same ticker and day to replay
    (e.g. a deeper book); its episodes and calibration still come from `data`. `arm_models`:
    a policy arm's own model by algo name (the signal ablation's `rl_signal`), carried as
    its tasks' `context.model` so that an executor ships it like `rl`'s."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    # Fail here, not inside a worker.
    distribution(sizes).check_window(Window.parse(window))
    Window.parse(train_window)
    settings = rows if rows is not None else {DEFAULT_ROW: replay_config()}
    other = row_data or {}
    models = arm_models or {}
    contexts = {
        algo: replace(context, model=models[algo]) if algo in models else context for algo in algos
    }
    cells = [
        (row, config, algo, first)
        for row, config in settings.items()
        for algo in algos
        for first in range(0, episodes, chunk)
    ]
    return [
        BacktestTask(
            other.get(row, str(data)),
            window,
            train_window,
            algo,
            contexts[algo],
            episodes,
            seed,
            first,
            min(first + chunk, episodes),
            row,
            config,
            sizes,
            str(data) if row in other else None,
            index,
        )
        for index, (row, config, algo, first) in enumerate(cells)
    ]


@lru_cache(maxsize=8)
def load_data(path: str) -> ReplayData:
    """One parse per file per process: tasks of the same file share it."""
    return ReplayData.load(path)


_EPISODE_LISTS: dict[tuple[str, str, str, int, int, str], tuple[EpisodeSpec, ...]] = {}
_MEMO_SIZE = 32


def _episodes(task: BacktestTask, calibration: ReplayData) -> tuple[EpisodeSpec, ...]:
    """The seeded episode list, drawn from the calibration file's data as the task was given
    it (shipped to another process, the file may not be on disk there), kept per file and draw."""
    source = task.calibration_data or task.data
    key = (source, task.window, task.train_window, task.episodes, task.seed, task.sizes)
    if key not in _EPISODE_LISTS:
        if len(_EPISODE_LISTS) >= _MEMO_SIZE:
            _EPISODE_LISTS.pop(next(iter(_EPISODE_LISTS)))
        stats = estimate(calibration, Window.parse(task.train_window), bucket_s=1800)
        specs = draw_many(task.episodes, task.seed, Window.parse(task.window), stats,
                          distribution(task.sizes))  # fmt: skip
        _EPISODE_LISTS[key] = tuple(specs)
    return _EPISODE_LISTS[key]


def files_of(task: BacktestTask) -> tuple[str, ...]:
    """Every data file the task reads: the one it replays, and the one its episodes are
    calibrated on when that is another."""
    other = task.calibration_data
    return (task.data,) if other is None or other == task.data else (task.data, other)


def run_task(
    task: BacktestTask,
    data: ReplayData | None = None,
    on_episode: Callable[[], None] | None = None,
    files: Callable[[str], ReplayData] = load_data,
) -> TaskResult:
    """`files` turns a path the task names into its replay: read here by default (once per
    process); an executor that shipped the files passes its own. `data`: the task's own file,
    when the caller already has it."""
    replay = data if data is not None else files(task.data)
    source = task.calibration_data or task.data
    specs = _episodes(task, replay if source == task.data else files(source))
    context = replace(task.context, seed=task.seed)
    (algo,) = make_algos([task.algo], context)
    results: list[EpisodeResult] = []
    for spec in specs[task.first : task.stop]:
        if task.algo in SEEDED_PER_EPISODE:
            # Its random stream restarts per episode, so a chunk gives the same answers
            # wherever it is cut.
            (algo,) = make_algos([task.algo], replace(context, seed=task.seed + spec.episode))
        signal = algo.signal if isinstance(algo, PolicyAlgo) else None
        results.append(run_episode(replay, spec, algo, task.config, signal=signal))
        if on_episode is not None:
            on_episode()
    count = getattr(algo, "fallbacks", None)
    fallbacks = count if isinstance(count, int) and task.algo not in SEEDED_PER_EPISODE else None
    return TaskResult(task, results, fallbacks)


class Executor(Protocol):
    def run(self, tasks: Sequence[BacktestTask], progress: Progress | None) -> list[TaskResult]:
        """Results in the order of `tasks`."""
        ...


class LocalExecutor:
    """In this process, one task after another."""

    def run(self, tasks: Sequence[BacktestTask], progress: Progress | None) -> list[TaskResult]:
        total = sum(t.size for t in tasks)
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        return [run_task(task, on_episode=tick) for task in tasks]


def merge(
    tasks: Sequence[BacktestTask], results: Iterable[TaskResult]
) -> tuple[dict[str, dict[str, list[EpisodeResult]]], dict[str, dict[str, int]]]:
    """Per row, per algorithm, episodes in plan order (whatever order the tasks finished in);
    and the policy fallbacks per row and algorithm."""
    done = sorted(results, key=lambda r: r.task.index)
    if [r.task.index for r in done] != [t.index for t in tasks]:
        raise ValueError(f"{len(done)} task results do not answer the {len(tasks)} tasks planned")
    by_row: dict[str, dict[str, list[EpisodeResult]]] = {}
    fallbacks: dict[str, dict[str, int]] = {}
    for r in done:
        by_row.setdefault(r.task.row, {}).setdefault(r.task.algo, []).extend(r.results)
        if r.fallbacks is not None:
            row = fallbacks.setdefault(r.task.row, {})
            row[r.task.algo] = row.get(r.task.algo, 0) + r.fallbacks
    return by_row, fallbacks
