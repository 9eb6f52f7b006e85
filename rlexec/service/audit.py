"""The decision audit: every decision, appended as one JSON line, written off the hot path.

A record holds what the algo saw (time, parent, observation, working children, touch
prices), what it chose (action or schedule), what it planned, what the risk overlay said
and which orders went out — enough for `models.parity` to replay the observation through
the backtest's code and get the same action and plan.

`append` only puts a dict on a queue; `flush` (called by a background task, and at
shutdown) serialises and writes. A full queue drops the oldest record and counts it:
the audit must never block trading.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger("rlexec.service")


def render(record: dict[str, Any]) -> dict[str, Any]:
    """A record as JSON-ready data: the decision's objects become lists here, off the hot path."""
    decision = record.pop("decision", None)
    if decision is not None:
        record.update(decision.to_json())
    cleaned: dict[str, Any] = _clean(record)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class AuditLog:
    def __init__(self, path: Path | None, capacity: int = 100_000) -> None:
        self.path = path
        self._queue: deque[dict[str, Any]] = deque()
        self._capacity = capacity
        self.dropped = 0
        self.written = 0
        self.records: list[dict[str, Any]] = []
        """Kept in memory too when there is no file (the demo's summary reads them)."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(record)

    def flush(self) -> int:
        if not self._queue:
            return 0
        batch = [render(r) for r in self._queue]
        self._queue.clear()
        if self.path is None:
            self.records.extend(batch)
        else:
            lines = "".join(
                json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in batch
            )
            with self.path.open("a", encoding="utf-8") as f:
                f.write(lines)
        self.written += len(batch)
        return len(batch)


def read_audit(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not a JSON audit record ({exc.msg})") from None
    return records
