"""The in-memory state store: the embedded default (`make demo`) and the contract's reference.

A `MemoryBackend` plays the server: stores opened on the same backend see each other's
writes, as two processes sharing one Redis would, so a "restart" inside one process (a new
store on the old backend) behaves as it does against Redis. Nothing survives the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.service.state import OverflowCallback, StateError
from rlexec.service.state_writer import (
    DEFAULT_BATCH,
    DEFAULT_MAX_QUEUE,
    Batch,
    RawState,
    WriteBehindStore,
)

__all__ = ["MemoryBackend", "MemoryStateStore"]

_NAME: Final = "memory"


class MemoryBackend:
    """Holds the text a persistent backend would. `available = False` makes every call fail
    as an unreachable server would (outage drills and tests).

    `archive_ttl_s` drops an archived day that long after its last write, as Redis's EXPIRE
    does (None keeps it): a long-lived process on the memory store does not grow for ever.
    """

    name = _NAME

    def __init__(
        self,
        archive_ttl_s: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if archive_ttl_s is not None and archive_ttl_s <= 0:
            raise StateError(f"archive TTL must be positive seconds or None, got {archive_ttl_s}")
        self.data = RawState()
        self.archives: dict[str, dict[str, dict[str, str]]] = {}
        """Day → "parents" / "children" / "fills" / "sequences" → key → text, as Redis keeps
        them under `N:archive:DAY:*`; never read back by `read`."""
        self.archive_ttl_s = archive_ttl_s
        self._clock = clock
        self._archived_at: dict[str, float] = {}
        """Day → when its archive was last written (the clock's seconds)."""
        self.available = True
        self._sessions: dict[tuple[str, str, str], MemoryStore] = {}

    def _reach(self, what: str) -> None:
        if not self.available:
            raise StateError(f"{_NAME}: cannot {what}: backend unavailable")

    async def open(self) -> None:
        self._reach("open")

    async def read(self) -> RawState:
        self._reach("read state")
        d = self.data
        return RawState(
            parents=dict(d.parents),
            children=dict(d.children),
            fills=dict(d.fills),
            kill=d.kill,
            blocks=dict(d.blocks),
            sequences=dict(d.sequences),
            meta=dict(d.meta),
        )

    async def write(self, batch: Batch) -> None:
        self._reach("write state")
        d = self.data
        d.parents.update(batch.parents)
        d.children.update(batch.children)
        d.fills.update(batch.fills)
        d.meta.update(batch.meta)
        for key in batch.closed_blocks:
            d.blocks.pop(key, None)
        archive = batch.archive
        if archive is not None:
            self._expire_archives()
            self._archived_at[archive.day] = self._clock()
            kept = self.archives.setdefault(archive.day, {})
            for name, live, moved in (
                ("parents", d.parents, archive.parents),
                ("children", d.children, archive.children),
                ("fills", d.fills, archive.fills),
            ):
                kept.setdefault(name, {}).update(moved)
                for key in moved:
                    live.pop(key, None)
            counters = kept.setdefault("sequences", {})
            for name, end in archive.sequences.items():  # copied: a live counter only grows
                counters[name] = str(end)
            for key in archive.blocks:
                d.blocks.pop(key, None)
            d.meta["carry"] = archive.carry

    def _expire_archives(self) -> None:
        if self.archive_ttl_s is None:
            return
        limit = self._clock() - self.archive_ttl_s
        for day in [d for d, at in self._archived_at.items() if at <= limit]:
            del self._archived_at[day]
            self.archives.pop(day, None)

    async def reserve(self, sequence: str, size: int) -> tuple[int, int]:
        self._reach("reserve ids")
        end = self.data.sequences.get(sequence, 0) + size
        self.data.sequences[sequence] = end
        start = end - size + 1
        self.data.blocks[f"{sequence}:{start}"] = end
        return start, end

    def load_kill(self) -> str | None:
        self._reach("load the kill switch")
        return self.data.kill

    def save_kill(self, text: str) -> None:
        self._reach("save the kill switch")
        self.data.kill = text

    def session_store(self, begin_string: str, sender: str, target: str) -> SessionStore:
        key = (begin_string, sender, target)
        store = self._sessions.get(key)
        if store is None:
            store = self._sessions[key] = MemoryStore()
        return store

    async def close(self) -> None:
        return None


class MemoryStateStore(WriteBehindStore):
    """The state store in memory: the same write-behind as Redis, lost with the process."""

    def __init__(
        self,
        backend: MemoryBackend | None = None,
        *,
        archive_ttl_s: int | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch: int = DEFAULT_BATCH,
        on_overflow: OverflowCallback | None = None,
        retry_min_s: float = 0.05,
        retry_max_s: float = 2.0,
    ) -> None:
        if backend is not None and archive_ttl_s is not None:
            raise StateError("archive_ttl_s is the backend's: set it on the MemoryBackend")
        self.backend = backend if backend is not None else MemoryBackend(archive_ttl_s)
        super().__init__(
            self.backend,
            max_queue=max_queue,
            batch=batch,
            on_overflow=on_overflow,
            retry_min_s=retry_min_s,
            retry_max_s=retry_max_s,
        )
