"""The write-behind core shared by every state backend: mirror, ordered queue, batches, retry.

A backend only knows how to read everything, write one batch atomically, reserve a block
and keep the kill switch; ordering, coalescing, JSON, overflow, retry and health live here
once, so the memory and Redis stores cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from rlexec.gateway.store import SessionStore
from rlexec.risk.day import DayRecord
from rlexec.risk.killswitch import (
    KillSwitchSnapshot,
    KillSwitchStore,
    snapshot_from_json,
    snapshot_to_json,
)
from rlexec.service.state import (
    DEFAULT_SEQUENCE,
    Archived,
    Carry,
    IdBlock,
    OverflowCallback,
    StateError,
    StoredState,
)

log = logging.getLogger("rlexec.service")

__all__ = ["ArchiveBatch", "Batch", "RawState", "StateBackend", "WriteBehindStore"]

DEFAULT_MAX_QUEUE: Final = 100_000
DEFAULT_BATCH: Final = 500
_SEQUENCE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(slots=True)
class RawState:
    """What a backend holds, as text: JSON records, the kill snapshot, counters and blocks."""

    parents: dict[str, str] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    fills: dict[str, str] = field(default_factory=dict)
    """ExecID → JSON `[n, record]`, n giving the order they were added."""
    kill: str | None = None
    blocks: dict[str, int] = field(default_factory=dict)
    """`sequence:start` → end, for open blocks."""
    sequences: dict[str, int] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    """Name → JSON record of the service's singletons (`day`: the risk overlay's trading day;
    `carry`: the archived fills' sums)."""


@dataclass(slots=True)
class ArchiveBatch:
    """Records leaving the live state for the archive of `day`, as text (see `archive`)."""

    day: str
    parents: dict[str, str] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    fills: dict[str, str] = field(default_factory=dict)
    """ExecID → JSON record (the live hash's `[n, record]` without n)."""
    sequences: dict[str, int] = field(default_factory=dict)
    """The parents' id counters, copied (the live counters stay: they only ever grow)."""
    blocks: list[str] = field(default_factory=list)
    """Open blocks of those counters, closed."""
    carry: str = "{}"
    """The new `carry` meta record: the sums of every fill ever archived."""


@dataclass(slots=True)
class Batch:
    """One transaction: the latest record per key, new fills, blocks to close."""

    parents: dict[str, str] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    fills: dict[str, str] = field(default_factory=dict)
    closed_blocks: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    archive: ArchiveBatch | None = None
    """Written after everything else in the batch, which it always ends."""
    records: int = 0
    """How many queued records it covers (several puts of one key coalesce into one write)."""


class StateBackend(Protocol):
    """Storage for `WriteBehindStore`. Every failure is a StateError saying where and why."""

    name: str

    async def open(self) -> None: ...

    async def read(self) -> RawState: ...

    async def write(self, batch: Batch) -> None:
        """All of the batch or none of it."""
        ...

    async def reserve(self, sequence: str, size: int) -> tuple[int, int]:
        """Advance the counter and record the block as open, atomically."""
        ...

    def load_kill(self) -> str | None: ...

    def save_kill(self, text: str) -> None:
        """Synchronous; returns only once the backend has acknowledged the write."""
        ...

    def session_store(self, begin_string: str, sender: str, target: str) -> SessionStore: ...

    async def close(self) -> None: ...


_PARENT, _CHILD, _FILL, _META, _CLOSE, _ARCHIVE = 0, 1, 2, 3, 4, 5
_KINDS = ("parent", "child", "fill", "meta", "close_block", "archive")
_DAY = "day"
_CARRY = "carry"
_LIMITS = "limits"
_ARCHIVE_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class _KillStore:
    """risk's `KillSwitchStore` over a backend: synchronous, as the overlay calls it."""

    def __init__(self, backend: StateBackend) -> None:
        self._backend = backend

    def load(self) -> KillSwitchSnapshot | None:
        text = self._backend.load_kill()
        if text is None:
            return None
        try:
            return snapshot_from_json(text)
        except ValueError as exc:
            raise StateError(
                f"{self._backend.name}: unreadable kill-switch snapshot: {exc}"
            ) from None

    def save(self, snapshot: KillSwitchSnapshot) -> None:
        self._backend.save_kill(snapshot_to_json(snapshot))


class WriteBehindStore:
    """A `StateStore` over any `StateBackend`; see `rlexec.service.state` for the contract.

    `on_overflow(reason)` is called once each time the queue goes over `max_queue` (again
    only after it has drained below half of it); the service wires it to HALT trading, so
    that state which cannot be written stops new orders instead of being dropped.
    """

    def __init__(
        self,
        backend: StateBackend,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch: int = DEFAULT_BATCH,
        on_overflow: OverflowCallback | None = None,
        retry_min_s: float = 0.05,
        retry_max_s: float = 2.0,
    ) -> None:
        for name, value in (("max_queue", max_queue), ("batch", batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StateError(f"state store {name} must be a positive integer, got {value!r}")
        if not 0 < retry_min_s <= retry_max_s:
            raise StateError(
                f"state store retry delays must satisfy 0 < min <= max, got {retry_min_s}, {retry_max_s}"
            )
        self._backend = backend
        self.max_queue = max_queue
        self._batch_size = batch
        self.on_overflow = on_overflow
        self._retry_min = retry_min_s
        self._retry_max = retry_max_s
        self._queue: deque[tuple[int, str, Any]] = deque()
        self._inflight: Batch | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._opened = False
        self._loaded = False
        self._closing = False
        self._overflowed = False
        self._failing_since: float | None = None
        self._errors = 0
        self._last_error: str | None = None
        self.written = 0
        """Records written since start."""
        self._parents: dict[str, dict[str, Any]] = {}
        self._children: dict[str, dict[str, Any]] = {}
        self._fills: dict[str, dict[str, Any]] = {}
        self._fill_seq = 0
        self._blocks: dict[str, IdBlock] = {}
        self._sequences: dict[str, int] = {}
        self._day: DayRecord | None = None
        self._carry: dict[str, Carry] = {}
        self._limits: dict[str, Any] | None = None
        self._kill = _KillStore(backend)
        self.archived = 0
        """Records (parents, children, fills) moved to the archive since start."""

    # -- observability ----------------------------------------------------------------------

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def queue_depth(self) -> int:
        inflight = self._inflight.records if self._inflight is not None else 0
        return len(self._queue) + inflight

    @property
    def errors(self) -> int:
        return self._errors

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def healthy(self) -> tuple[bool, str]:
        name, depth = self._backend.name, self.queue_depth
        if not self._opened or self._closing:
            return False, f"{name}: not open"
        if self._failing_since is not None:
            since = time.monotonic() - self._failing_since
            return False, (
                f"{name}: writes failing for {since:.1f}s ({self._errors} errors), "
                f"{depth} records queued: {self._last_error}"
            )
        if depth > self.max_queue:
            return False, f"{name}: write-behind queue {depth} > max {self.max_queue}"
        return True, f"{name}: {depth} records queued"

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        await self._backend.open()
        self._opened = True
        self._closing = False

    async def load(self) -> StoredState:
        if not self._opened:
            raise StateError(f"{self._backend.name}: load() before open()")
        if self.queue_depth:
            raise StateError(
                f"{self._backend.name}: load() with {self.queue_depth} records not yet written"
            )
        raw = await self._backend.read()
        where = self._backend.name
        self._parents = {k: _object(where, "parent", k, v) for k, v in raw.parents.items()}
        self._children = {k: _object(where, "child", k, v) for k, v in raw.children.items()}
        self._fills, self._fill_seq = _fills_in_order(where, raw.fills)
        self._blocks = {}
        for key, end in raw.blocks.items():
            sequence, _, start = key.rpartition(":")
            if not sequence or not start.isdigit() or int(start) > end:
                raise StateError(f"{where}: open id block {key!r}→{end} is not sequence:start")
            self._blocks[key] = IdBlock(sequence, int(start), end)
        self._sequences = dict(raw.sequences)
        self._day = _day_record(where, raw.meta.get(_DAY))
        self._carry = _carry_record(where, raw.meta.get(_CARRY))
        limits = raw.meta.get(_LIMITS)
        self._limits = None if limits is None else _object(where, "meta", _LIMITS, limits)
        kill = self._kill.load()
        self._loaded = True
        return StoredState(
            parents=dict(self._parents),
            children=dict(self._children),
            fills=dict(self._fills),
            kill=kill,
            id_blocks=tuple(sorted(self._blocks.values())),
            sequences=dict(self._sequences),
            day=self._day,
            carry=dict(self._carry),
            limits=self._limits,
        )

    def snapshot(self) -> StoredState:
        return StoredState(
            parents=dict(self._parents),
            children=dict(self._children),
            fills=dict(self._fills),
            kill=None,
            id_blocks=tuple(sorted(self._blocks.values())),
            sequences=dict(self._sequences),
            day=self._day,
            carry=dict(self._carry),
            limits=self._limits,
        )

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        error: StateError | None = None
        try:
            if self._opened:
                await self.flush()
        except StateError as exc:
            error = exc
        finally:
            self._opened = False
            await self._backend.close()
        if error is not None:
            log.error("event=state_close_unwritten backend=%s records=%d error=%r",
                      self._backend.name, self.queue_depth, str(error))  # fmt: skip
            raise StateError(
                f"{self._backend.name}: closed with {self.queue_depth} records unwritten: {error}"
            )

    # -- the hot path: mirror and enqueue only -----------------------------------------------

    def put_parent(self, parent_id: str, record: dict[str, Any]) -> None:
        self._check(parent_id, record, "parent")
        self._parents[parent_id] = record
        self._enqueue((_PARENT, parent_id, record))

    def put_child(self, cl_ord_id: str, record: dict[str, Any]) -> None:
        self._check(cl_ord_id, record, "child")
        self._children[cl_ord_id] = record
        self._enqueue((_CHILD, cl_ord_id, record))

    def add_fill(self, exec_id: str, record: dict[str, Any]) -> bool:
        self._check(exec_id, record, "fill")
        if exec_id in self._fills:
            return False
        self._fills[exec_id] = record
        n = self._fill_seq
        self._fill_seq = n + 1
        self._enqueue((_FILL, exec_id, (n, record)))
        return True

    def put_day(self, record: DayRecord) -> None:
        if not self._loaded:
            raise StateError(f"{self._backend.name}: load() before writing")
        self._day = record
        self._enqueue((_META, _DAY, record.to_dict()))

    def put_limits(self, record: dict[str, Any]) -> None:
        if not self._loaded:
            raise StateError(f"{self._backend.name}: load() before writing")
        self._limits = record
        self._enqueue((_META, _LIMITS, record))

    def close_block(self, block: IdBlock) -> None:
        if not self._loaded:
            raise StateError(f"{self._backend.name}: load() before writing")
        if self._blocks.pop(block.key, None) is not None:
            self._enqueue((_CLOSE, block.key, None))

    def archive(
        self,
        day: str,
        parent_ids: Collection[str],
        child_ids: Collection[str],
        sequences: Collection[str],
        carry: Mapping[str, Carry],
    ) -> Archived:
        name = self._backend.name
        if not self._loaded:
            raise StateError(f"{name}: load() before archiving")
        if not isinstance(day, str) or not _ARCHIVE_DAY.fullmatch(day):
            raise StateError(f"archive day must be YYYY-MM-DD, got {day!r}")
        sums = {symbol: _carry(name, symbol, value) for symbol, value in carry.items()}
        wanted, retired = set(child_ids), set(sequences)
        parents = [k for k in parent_ids if k in self._parents]
        children = [k for k in child_ids if k in self._children]
        fills = [e for e, r in self._fills.items() if r.get("cl_ord_id") in wanted]
        # Everything as text first: a record that cannot be written refuses the whole archive
        # (nothing moved), never a half one whose fills are in the carry and still live.
        batch = ArchiveBatch(
            day,
            _texts(name, "parent", {k: self._parents[k] for k in parents}),
            _texts(name, "child", {k: self._children[k] for k in children}),
            _texts(name, "fill", {e: self._fills[e] for e in fills}),
            {k: self._sequences[k] for k in sequences if k in self._sequences},
            [k for k, b in self._blocks.items() if b.sequence in retired],
            json.dumps({s: list(v) for s, v in sums.items()}, separators=(",", ":")),
        )
        for key in parents:
            del self._parents[key]
        for key in children:
            del self._children[key]
        for exec_id in fills:
            del self._fills[exec_id]
        for key in batch.blocks:
            del self._blocks[key]
        self._carry = sums
        self._enqueue((_ARCHIVE, day, batch))
        return Archived(day, len(parents), len(children), len(fills))

    def kill_switch_store(self) -> KillSwitchStore:
        return self._kill

    def session_store(self, begin_string: str, sender: str, target: str) -> SessionStore:
        return self._backend.session_store(begin_string, sender, target)

    def _check(self, key: str, record: dict[str, Any], what: str) -> None:
        if not self._loaded:
            raise StateError(f"{self._backend.name}: load() before writing a {what}")
        if type(key) is not str or not key:
            raise StateError(f"{what} id must be a non-empty string, got {key!r}")
        if type(record) is not dict:
            raise StateError(f"{what} {key}: record must be a dict, got {type(record).__name__}")

    def _enqueue(self, op: tuple[int, str, Any]) -> None:
        queue = self._queue
        queue.append(op)
        if len(queue) > self.max_queue and not self._overflowed:
            self._overflow()
        if not self._wake.is_set():
            self._wake.set()

    def _overflow(self) -> None:
        self._overflowed = True
        reason = (
            f"state store {self._backend.name}: write-behind queue {len(self._queue)} "
            f"> max {self.max_queue} ({self._last_error or 'writer behind'})"
        )
        log.error("event=state_queue_overflow backend=%s depth=%d max=%d",
                  self._backend.name, len(self._queue), self.max_queue)  # fmt: skip
        if self.on_overflow is not None:
            try:
                self.on_overflow(reason)
            except Exception as exc:  # a failing callback must not break the caller's put
                log.error("event=state_overflow_callback_failed error=%r", exc)

    # -- ClOrdID blocks ----------------------------------------------------------------------

    async def reserve_block(self, size: int, sequence: str = DEFAULT_SEQUENCE) -> tuple[int, int]:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise StateError(f"id block size must be a positive integer, got {size!r}")
        if not isinstance(sequence, str) or not _SEQUENCE_NAME.fullmatch(sequence):
            raise StateError(f"sequence name must match [A-Za-z0-9_.-]{{1,64}}, got {sequence!r}")
        if not self._loaded:
            raise StateError(f"{self._backend.name}: load() before reserving ids")
        start, end = await self._backend.reserve(sequence, size)
        block = IdBlock(sequence, start, end)
        self._blocks[block.key] = block
        self._sequences[sequence] = max(end, self._sequences.get(sequence, 0))
        log.info("event=state_id_block_reserved backend=%s sequence=%s start=%d end=%d",
                 self._backend.name, sequence, start, end)  # fmt: skip
        return start, end

    # -- the writer --------------------------------------------------------------------------

    async def run(self) -> None:
        delay = self._retry_min
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # A cancel that landed inside a client library's write and was swallowed
                # there: honoured here, or whoever awaits this task after cancelling it
                # (a shutdown) would wait for ever.
                raise asyncio.CancelledError
            if not self.queue_depth:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                async with self._lock:
                    await self._write_once()
            except StateError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_min

    async def flush(self) -> None:
        async with self._lock:
            while self.queue_depth:
                await self._write_once()

    async def _write_once(self) -> None:
        """Write the batch in flight (or the next one); on failure it stays in flight."""
        batch = self._inflight
        if batch is None:
            batch = self._inflight = self._take_batch()
        try:
            await self._backend.write(batch)
        except Exception as exc:  # whatever a client library throws: retried, never fatal
            error = (
                exc
                if isinstance(exc, StateError)
                else StateError(f"{self._backend.name}: cannot write state: {exc!r}")
            )
            self._errors += 1
            self._last_error = str(error)
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.error("event=state_write_failed backend=%s queued=%d error=%r",
                          self._backend.name, self.queue_depth, str(error))  # fmt: skip
            raise error from None
        self._inflight = None
        self.written += batch.records
        if self._failing_since is not None:
            log.warning("event=state_write_recovered backend=%s after_s=%.3f errors=%d",
                        self._backend.name, time.monotonic() - self._failing_since,
                        self._errors)  # fmt: skip
            self._failing_since = None
        if self._overflowed and len(self._queue) <= self.max_queue // 2:
            self._overflowed = False

    def _take_batch(self) -> Batch:
        batch = Batch()
        queue = self._queue
        while queue and batch.records < self._batch_size:
            kind, key, value = queue.popleft()
            if kind == _ARCHIVE:
                if batch.records:  # it moves records: everything before it is written first
                    queue.appendleft((kind, key, value))
                    break
                batch.records += 1
                batch.archive = value
                self.archived += len(value.parents) + len(value.children) + len(value.fills)
                break
            batch.records += 1
            if kind == _CLOSE:
                batch.closed_blocks.append(key)
                continue
            text = self._json(kind, key, value)
            if text is not None:
                target = (batch.parents, batch.children, batch.fills, batch.meta)[kind]
                target[key] = text
        return batch

    def _json(self, kind: int, key: str, value: Any) -> str | None:
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            # A bug of ours that no retry can fix: say so loudly rather than stall every
            # later record behind it.
            self._errors += 1
            self._last_error = f"{_KINDS[kind]} {key}: not JSON-serialisable: {exc}"
            log.error("event=state_record_unwritable kind=%s key=%s error=%r",
                      _KINDS[kind], key, str(exc))  # fmt: skip
            return None


def _object(where: str, what: str, key: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StateError(f"{where}: {what} {key!r}: stored record is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StateError(f"{where}: {what} {key!r}: stored record is not an object")
    return value


def _day_record(where: str, text: str | None) -> DayRecord | None:
    if text is None:
        return None
    try:
        return DayRecord.from_dict(json.loads(text))
    except ValueError as exc:  # JSONDecodeError is one
        raise StateError(f"{where}: meta {_DAY!r}: {exc}") from None


def _texts(where: str, what: str, records: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in records.items():
        try:
            out[key] = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StateError(f"{where}: cannot archive {what} {key}: not JSON: {exc}") from None
    return out


def _carry(where: str, symbol: object, value: object) -> Carry:
    """One symbol's sums, checked: four finite numbers, the share counts whole and ≥ 0."""
    if not isinstance(symbol, str) or not symbol:
        raise StateError(f"{where}: meta {_CARRY!r}: symbol {symbol!r} is not a name")
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise StateError(f"{where}: meta {_CARRY!r}: {symbol}: expected [bought shares, "
                         f"bought notional, sold shares, sold notional], got {value!r}")  # fmt: skip
    for name, number in zip(("bought shares", "bought notional", "sold shares", "sold notional"),
                            value, strict=True):  # fmt: skip
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise StateError(
                f"{where}: meta {_CARRY!r}: {symbol} {name} is {number!r}, not a number"
            )
        if not math.isfinite(number) or (
            name.endswith("shares") and (number < 0 or number != int(number))
        ):
            raise StateError(f"{where}: meta {_CARRY!r}: {symbol} {name} is {number!r}")
    return int(value[0]), float(value[1]), int(value[2]), float(value[3])


def _carry_record(where: str, text: str | None) -> dict[str, Carry]:
    if text is None:
        return {}
    value = _object(where, "meta", _CARRY, text)
    return {symbol: _carry(where, symbol, sums) for symbol, sums in value.items()}


def _fills_in_order(where: str, raw: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], int]:
    """The fills in the order they were added, and the number for the next one."""
    numbered: list[tuple[int, str, dict[str, Any]]] = []
    for exec_id, text in raw.items():
        try:
            n, record = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise StateError(
                f"{where}: fill {exec_id!r}: stored record is unreadable: {exc}"
            ) from None
        if type(n) is not int or not isinstance(record, dict):
            raise StateError(f"{where}: fill {exec_id!r}: stored record is not [n, object]")
        numbered.append((n, exec_id, record))
    numbered.sort(key=lambda item: item[0])
    following = numbered[-1][0] + 1 if numbered else 0
    return {exec_id: record for _, exec_id, record in numbered}, following
