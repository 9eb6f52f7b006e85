"""Per-episode progress of tasks running anywhere in the cluster, kept by one small actor.

Tasks report (task, episodes done in this attempt, task size, node, attempt) when they
start and after every episode, without waiting for an answer; the driver polls a
snapshot. A retried task restarts its count, so the board keeps each task's best count
(the bar never goes back) and remembers the attempts it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@dataclass(slots=True)
class Snapshot:
    episodes: int = 0
    retried: int = 0
    """Tasks seen in more than one attempt."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Attempts started per node."""
    running: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per node, the tasks whose latest attempt has not finished there: episodes done so far."""


@ray.remote(num_cpus=0, max_restarts=0)
class ProgressBoard:
    def __init__(self) -> None:
        self._done: dict[int, int] = {}
        self._attempts: dict[int, set[tuple[str, str]]] = {}
        self._running: dict[int, tuple[str, int]] = {}

    def report(self, task: int, done: int, size: int, node: str, attempt: str) -> None:
        """`done` = 0 when an attempt starts; `attempt` names the process running it."""
        self._done[task] = max(self._done.get(task, 0), done)
        self._attempts.setdefault(task, set()).add((node, attempt))
        if done < size:
            self._running[task] = (node, done)
        else:
            self._running.pop(task, None)

    def snapshot(self) -> Snapshot:
        snap = Snapshot(episodes=sum(self._done.values()))
        for seen in self._attempts.values():
            snap.retried += len(seen) > 1
            for node, _ in seen:
                snap.attempts[node] = snap.attempts.get(node, 0) + 1
        for task, (node, done) in self._running.items():
            snap.running.setdefault(node, {})[task] = done
        return snap


def start_board() -> Any:
    """On the driver's node, strictly (a soft affinity let Ray place it elsewhere, measured):
    losing a worker node must not lose it."""
    here = ray.get_runtime_context().get_node_id()
    strategy = NodeAffinitySchedulingStrategy(node_id=here, soft=False)
    return ProgressBoard.options(scheduling_strategy=strategy).remote()  # type: ignore[attr-defined]
