"""What runs inside a Ray worker process: one backtest task against data shipped once.

Each process turns a shipped file (numpy columns in the object store) into its
`ReplayData` once and keeps the last few; the model file arrives as bytes once per node
and is written under the node's temporary folder by content hash.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray

from rlexec.models.backtest_tasks import BacktestTask, TaskResult, run_task
from rlexec.simulator.data import ReplayData, ReplayFile

CACHED_FILES = 4
"""ReplayData kept per worker process (AAPL's day is ~30 MB of lists, AMZN level 5 ~100 MB)."""
_replays: OrderedDict[str, ReplayData] = OrderedDict()


@dataclass(frozen=True, slots=True)
class ShippedModel:
    digest: str
    """sha256 over the files: their folder's name on every node."""
    name: str
    """The policy's file name."""
    files: dict[str, Any]
    """File name → ObjectRef of its bytes: the policy and what it finds beside itself (its
    price-move signal). Inside a dict, Ray passes the references, not the bytes, per task."""


def replay_for(ref: Any) -> ReplayData:
    key = ref.hex()
    data = _replays.get(key)
    if data is None:
        file: ReplayFile = ray.get(ref)
        data = file.replay_data()
        del file  # releases the object store's buffers; the lists are this process's own
        _replays[key] = data
        while len(_replays) > CACHED_FILES:
            _replays.popitem(last=False)
    else:
        _replays.move_to_end(key)
    return data


def model_path(model: ShippedModel) -> str:
    """The policy written once per node, its companions beside it, as on the driver."""
    folder = Path(tempfile.gettempdir()) / "rlexec-models" / model.digest
    for name, ref in model.files.items():
        path = folder / name
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{name}.{os.getpid()}.tmp"
            partial.write_bytes(ray.get(ref))
            os.replace(partial, path)  # atomic: processes of one node may race here
    return str(folder / model.name)


def read_file(path: str) -> ReplayFile:
    """On a node that can read `path`: the file parsed, into that node's object store."""
    return ReplayFile.read(path)


def execute(
    index: int,
    task: BacktestTask,
    files: dict[str, Any],
    model: ShippedModel | None,
    board: Any,
    report_every_s: float = 0.0,
) -> tuple[TaskResult, str]:
    """Run task `index` on the shipped `files` (path → object reference; refs inside a dict
    reach the task as references, fetched here only when this process has not built that
    file's replay yet). Returns the result, with the task as the driver planned it, and the
    node it ran on."""
    node = ray.get_runtime_context().get_node_id()
    attempt = str(os.getpid())
    if board is not None:
        board.report.remote(index, 0, task.size, node, attempt)
    local = (
        task
        if model is None
        else replace(task, context=replace(task.context, model=Path(model_path(model))))
    )
    done = 0
    last = time.monotonic()

    def tick() -> None:
        nonlocal done, last
        done += 1
        now = time.monotonic()
        if board is not None and (done == task.size or now - last >= report_every_s):
            board.report.remote(index, done, task.size, node, attempt)
            last = now

    result = run_task(local, on_episode=tick, files=lambda path: replay_for(files[path]))
    result.task = task
    return result, node
