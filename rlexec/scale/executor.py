"""`RayExecutor`: a backtest's tasks on a Ray cluster, results in task order.

Each data file is read once on the driver and put in the object store once (numpy
columns, ~8 MB for the AAPL day); tasks carry a reference, so a node fetches a file once
and each worker process builds its replay once. The model goes the same way. Tasks are
submitted file by file, so the cluster works on the first file while the driver reads the
next, and spread over the nodes from the start (Ray would otherwise fill the driver's
node first while the others start their worker processes). Results do not depend on where
tasks ran: a task is a pure function of itself.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import ray
from ray.exceptions import RayError, RayTaskError

from rlexec.market.errors import RlexecError
from rlexec.models.backtest_tasks import BacktestTask, Progress, TaskResult, files_of
from rlexec.models.policy import OnnxPolicy
from rlexec.scale.cluster import RayConnection
from rlexec.scale.progress import Snapshot, start_board
from rlexec.scale.worker import ShippedModel, execute, read_file
from rlexec.simulator.data import ReplayFile

RETRY_EXCEPTIONS: list[type[BaseException]] = [OSError, MemoryError]
"""Application errors worth another attempt elsewhere (a full disk or memory on one node).
Bad data or a bad model fail the same way everywhere and are reported at once; a lost
worker or node (a system failure) is always retried, up to `max_retries`."""


READ_MODES = ("driver", "cluster")
T = TypeVar("T")
R = TypeVar("R")


class TaskFailedError(RlexecError):
    """A task failed for good: names the file, the algorithm, the row and the episodes."""


@dataclass(slots=True)
class RunStats:
    tasks: int = 0
    episodes: int = 0
    files: int = 0
    bytes_shipped: int = 0
    """Bytes the driver put in the object store (data files' numpy columns and models),
    once each; files read on the cluster are not counted."""
    seconds: float = 0.0
    retried: int = 0
    """Tasks seen running in more than one attempt (a worker or node lost, an error retried)."""
    nodes: dict[str, int] = field(default_factory=dict)
    """Tasks whose result came from each node (node id)."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Attempts started on each node, updated while the run goes on."""
    board_lost: str | None = None
    """Why per-episode progress stopped (then the bar counts finished tasks), if it did."""
    running: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per node, tasks running there now and their episodes done (while the run goes on)."""


def describe(task: BacktestTask) -> str:
    return (f"task {Path(task.data).name} algo={task.algo} row={task.row} "
            f"episodes {task.first}-{task.stop - 1}")  # fmt: skip


class RayExecutor:
    """The `Executor` protocol on Ray. `address` as `RayConnection` takes it.

    `read="driver"` (default): the driver parses each file and puts it in the object store;
    `read="cluster"`: a task on the cluster parses it (the path must be readable on every
    node, e.g. shared storage), so a run of many files is not bound by one driver's parsing.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 3,
        cpus_per_task: float = 1.0,
        poll_s: float = 0.2,
        episode_progress: bool = True,
        report_every_s: float = 0.25,
        read: str = "driver",
    ) -> None:
        if read not in READ_MODES:
            raise ValueError(f"read must be one of {', '.join(READ_MODES)}, got {read!r}")
        self.connection = RayConnection(address)
        self.max_retries = max_retries
        self.cpus_per_task = cpus_per_task
        self.poll_s = poll_s
        self.episode_progress = episode_progress
        self.report_every_s = report_every_s
        """A task tells the board at most this often (and when it starts and ends): one
        small actor must keep up with every core of the cluster."""
        self.read = read
        self.stats = RunStats()

    def __enter__(self) -> RayExecutor:
        self.connection.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def run(self, tasks: Sequence[BacktestTask], progress: Progress | None) -> list[TaskResult]:
        self.connection.open()
        started = time.perf_counter()
        stats = self.stats = RunStats(tasks=len(tasks), episodes=sum(t.size for t in tasks))
        board = start_board() if self.episode_progress else None
        remote = ray.remote(execute).options(
            num_cpus=self.cpus_per_task, max_retries=self.max_retries,
            retry_exceptions=RETRY_EXCEPTIONS, scheduling_strategy="SPREAD",
        )  # fmt: skip
        reader = ray.remote(read_file).options(
            num_cpus=1, max_retries=self.max_retries, scheduling_strategy="SPREAD"
        )
        watch = _Watch(tasks, board, progress, stats)
        refs: list[Any] = []
        shipped: dict[str, Any] = {}  # path → its object; referenced until every task is done
        models: dict[Path, ShippedModel] = {}
        try:
            for i, task in enumerate(tasks):
                for path in files_of(task):
                    if path not in shipped:
                        watch.poll(refs, 0.0)  # the cluster works while this file is read
                        shipped[path] = self._ship_file(path, reader)
                        stats.files += 1
                model = self._ship_model(task.context.model, models)
                needs = {path: shipped[path] for path in files_of(task)}
                refs.append(remote.remote(i, task, needs, model, board, self.report_every_s))
            watch.wait_all(refs, self.poll_s)
            results: list[TaskResult] = []
            for i, ref in enumerate(refs):
                try:
                    result, node = ray.get(ref)
                except RayTaskError as exc:
                    cause = exc.cause
                    raise TaskFailedError(
                        f"{describe(tasks[i])} failed: {type(cause).__name__}: {cause}"
                    ) from None
                except RayError as exc:
                    raise TaskFailedError(
                        f"{describe(tasks[i])} was lost after {self.max_retries} retries: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                results.append(result)
                stats.nodes[node] = stats.nodes.get(node, 0) + 1
        except BaseException:
            for ref in refs:
                ray.cancel(ref)
            raise
        finally:
            stats.seconds = round(time.perf_counter() - started, 3)
            if board is not None:
                ray.kill(board)
        return results

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Per-file work that reads files by path (a multi-file run's preparation of each
        file's algorithms): on the cluster when files are read there (`read="cluster"`), one
        task per item, else in this process. Results in the order of `items`."""
        if self.read != "cluster":
            return [fn(item) for item in items]
        self.connection.open()
        remote = ray.remote(fn).options(
            num_cpus=1, max_retries=self.max_retries, retry_exceptions=RETRY_EXCEPTIONS,
            scheduling_strategy="SPREAD",
        )  # fmt: skip
        refs = [remote.remote(item) for item in items]
        results: list[R] = []
        for item, ref in zip(items, refs, strict=True):
            try:
                results.append(ray.get(ref))
            except RayTaskError as exc:
                for other in refs:
                    ray.cancel(other)
                raise TaskFailedError(
                    f"{fn.__name__}({item}) failed: {type(exc.cause).__name__}: {exc.cause}"
                ) from None
        return results

    def _ship_file(self, path: str, reader: Any) -> Any:
        if self.read == "cluster":
            return reader.remote(path)
        file = ReplayFile.read(path)
        self.stats.bytes_shipped += file.nbytes
        return ray.put(file)

    def _ship_model(
        self, path: Path | None, models: dict[Path, ShippedModel]
    ) -> ShippedModel | None:
        if path is None:
            return None  # the model packaged with rlexec, on every node
        if path not in models:
            files = [path]
            signal = OnnxPolicy(path).signal  # refused here, not in a worker, if it cannot load
            if signal is not None and signal.path.parent.resolve() == path.parent.resolve():
                files.append(signal.path)  # found beside the policy: it must be beside it there
            digest = hashlib.sha256()
            refs: dict[str, Any] = {}
            for file in files:
                try:
                    content = file.read_bytes()
                except OSError as exc:
                    raise RlexecError(f"model {file}: {exc.strerror or exc}") from None
                digest.update(file.name.encode() + b"\0" + content)
                refs[file.name] = ray.put(content)
                self.stats.bytes_shipped += len(content)
            models[path] = ShippedModel(digest.hexdigest(), path.name, refs)
        return models[path]


class _Watch:
    """Turns finished tasks and the board's per-episode counts into a monotone progress."""

    def __init__(
        self, tasks: Sequence[BacktestTask], board: Any, progress: Progress | None, stats: RunStats
    ) -> None:
        self.tasks = tasks
        self.board = board
        self.progress = progress
        self.stats = stats
        self.total = sum(t.size for t in tasks)
        self.finished: set[int] = set()
        self.finished_episodes = 0
        self.reported = 0

    def poll(self, refs: list[Any], timeout: float) -> None:
        """`refs[i]` runs task i."""
        waiting = [r for i, r in enumerate(refs) if i not in self.finished]
        if waiting:
            ready, _ = ray.wait(waiting, num_returns=len(waiting), timeout=timeout)
            position = {r: i for i, r in enumerate(refs)}
            for ref in ready:
                i = position[ref]
                self.finished.add(i)
                self.finished_episodes += self.tasks[i].size
        done = self.finished_episodes
        if self.board is not None:
            try:
                snap: Snapshot = ray.get(self.board.snapshot.remote(), timeout=5)
                self.stats.retried, self.stats.attempts = snap.retried, snap.attempts
                self.stats.running = {
                    node: live
                    for node, tasks in snap.running.items()
                    if (live := {i: n for i, n in tasks.items() if i not in self.finished})
                }
                done = max(done, min(snap.episodes, self.total))
            except RayError as exc:  # the board is gone: count finished tasks from now on
                self.board = None
                self.stats.board_lost = f"{type(exc).__name__}: {exc}"[:300]
        if done > self.reported:
            self.reported = done
            if self.progress is not None:
                self.progress(done, self.total)

    def wait_all(self, refs: list[Any], poll_s: float) -> None:
        while len(self.finished) < len(refs):
            self.poll(refs, poll_s)
        self.poll(refs, 0.0)
