"""Append-only file backend of the session store.

One log file per session. Records are appended in order and replayed at open:

    RLEXECFIX 1 <creation_time>\\n      first line, rewritten only on reset
    M <seq> <length>\\n<raw message>\\n  an outbound application message (next sender = seq+1)
    S <seq>\\n                          next sender seq (admin messages, resets)
    T <seq>\\n                          next target seq

Appends are buffered in memory and written with one `os.write` per flush (the session
flushes once per event-loop turn, before its socket write, so a message reaches the OS
before it reaches the wire). Durability against power loss is the fsync policy's job:
`always` fsyncs every flush on the calling thread, `interval` (default) fsyncs at most every
`fsync_interval` seconds on a worker thread, off the hot path; `never` leaves it to the OS.
A torn last record (crash mid-write) is cut off at open, so a restart never reads half a
message. An exclusive lock stops two processes from writing the same session.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import time
from pathlib import Path
from typing import Literal

from rlexec.gateway.errors import StoreError
from rlexec.gateway.store import StoredState, checked_seq, seqs_in_range

log = logging.getLogger("rlexec.gateway")

FsyncPolicy = Literal["never", "interval", "always"]
_MAGIC = b"RLEXECFIX 1 "
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def session_file_name(begin_string: str, sender: str, target: str) -> str:
    """A file name for a session that cannot escape its directory."""
    return _SAFE_NAME.sub("_", f"{begin_string}-{sender}-{target}") + ".fixlog"


class FileStore:
    """Session store in an append-only log file; see the module docstring for the format."""

    def __init__(
        self,
        path: str | Path,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
    ) -> None:
        if fsync not in ("never", "interval", "always"):
            raise StoreError(f"fsync policy must be never, interval or always, got {fsync!r}")
        if fsync_interval <= 0:
            raise StoreError(f"fsync_interval must be positive, got {fsync_interval!r}")
        self.path = Path(path)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._fd = -1
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._index: dict[int, tuple[int, int]] = {}
        self._sender = 1
        self._target = 1
        self._written_sender = 1
        self._written_target = 1
        self._creation_time = time.time()
        self._last_fsync = 0.0
        self._fsync_task: asyncio.Future[None] | None = None

    @classmethod
    def for_session(
        cls,
        directory: str | Path,
        begin_string: str,
        sender: str,
        target: str,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
    ) -> FileStore:
        name = session_file_name(begin_string, sender, target)
        return cls(Path(directory) / name, fsync, fsync_interval)

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    # -- opening ---------------------------------------------------------------------------

    async def open(self) -> StoredState:
        if self._fd >= 0:
            raise StoreError(f"{self.path}: store is already open")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open session store: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(f"{self.path}: session store is in use by another process") from None
        self._fd = fd
        try:
            self._load()
        except BaseException:
            self._fd = -1
            os.close(fd)
            raise
        return StoredState(self._sender, self._target, self._creation_time)

    def _load(self) -> None:
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        if not data:
            self._rewrite(time.time())
            return
        if not data.startswith(_MAGIC):
            raise StoreError(f"{self.path}: not an rlexec FIX session store")
        first_nl = data.find(b"\n")
        try:
            self._creation_time = float(data[len(_MAGIC) : first_nl])
        except ValueError:
            raise StoreError(f"{self.path}: unreadable header line") from None
        pos = first_nl + 1
        good = pos
        size = len(data)
        while pos < size:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            parts = data[pos:nl].split(b" ")
            try:
                kind = parts[0]
                seq = int(parts[1])
                if kind == b"M":
                    length = int(parts[2])
                    start = nl + 1
                    if start + length >= size or data[start + length] != 0x0A:
                        break
                    self._index[seq] = (start, length)
                    self._sender = seq + 1
                    pos = start + length + 1
                elif kind == b"S":
                    self._sender = seq
                    pos = nl + 1
                elif kind == b"T":
                    self._target = seq
                    pos = nl + 1
                else:
                    break
            except (IndexError, ValueError):
                break
            good = pos
        if good < size:
            log.warning(
                "event=store_truncated path=%s kept_bytes=%d dropped_bytes=%d "
                "reason=torn_or_corrupt_tail",
                self.path,
                good,
                size - good,
            )
            os.ftruncate(self._fd, good)
        self._size = good
        self._written_sender = self._sender
        self._written_target = self._target

    def _rewrite(self, creation_time: float) -> None:
        """Start a fresh log in place: write a temp file, then rename it over the old one."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        header = _MAGIC + repr(creation_time).encode() + b"\n"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            os.write(fd, header)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)
        self._size = len(header)
        self._creation_time = creation_time
        self._index.clear()
        self._sender = self._target = 1
        self._written_sender = self._written_target = 1

    # -- hot path --------------------------------------------------------------------------

    def save_message(self, seq: int, raw: bytes) -> None:
        record = b"M %d %d\n" % (checked_seq("MsgSeqNum", seq), len(raw))
        offset = self._size + self._pending_size + len(record)
        self._pending.append(record + raw + b"\n")
        self._pending_size += len(record) + len(raw) + 1
        self._index[seq] = (offset, len(raw))
        self._sender = self._written_sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        self._sender = checked_seq("next sender seq", seq)

    def set_next_target_seq(self, seq: int) -> None:
        self._target = checked_seq("next target seq", seq)

    def flush(self) -> None:
        if self._sender != self._written_sender:
            self._pending.append(b"S %d\n" % self._sender)
            self._pending_size += len(self._pending[-1])
            self._written_sender = self._sender
        if self._target != self._written_target:
            self._pending.append(b"T %d\n" % self._target)
            self._pending_size += len(self._pending[-1])
            self._written_target = self._target
        if not self._pending:
            return
        if self._fd < 0:
            raise StoreError(f"{self.path}: store is not open")
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:] if written else data)
        self._size += written
        if self.fsync == "always":
            os.fsync(self._fd)
        elif self.fsync == "interval":
            self._maybe_fsync_in_background()

    def _maybe_fsync_in_background(self) -> None:
        now = time.monotonic()
        if now - self._last_fsync < self.fsync_interval:
            return
        if self._fsync_task is not None and not self._fsync_task.done():
            return
        self._last_fsync = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            os.fsync(self._fd)
            return
        self._fsync_task = loop.run_in_executor(None, os.fsync, self._fd)
        self._fsync_task.add_done_callback(self._fsync_done)

    def _fsync_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("event=store_fsync_failed path=%s error=%r", self.path, exc)

    def reset(self) -> None:
        self._pending.clear()
        self._pending_size = 0
        self._rewrite(time.time())

    # -- reading back ----------------------------------------------------------------------

    async def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        self.flush()
        index = self._index
        out: list[tuple[int, bytes]] = []
        for seq in seqs_in_range(index.keys(), begin, end):
            offset, length = index[seq]
            out.append((seq, os.pread(self._fd, length, offset)))
        return out

    async def sync(self) -> None:
        self.flush()
        if self._fsync_task is not None and not self._fsync_task.done():
            await asyncio.wait([self._fsync_task])
        if self._fd >= 0 and self.fsync != "never":
            os.fsync(self._fd)

    async def close(self) -> None:
        if self._fd < 0:
            return
        try:
            await self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1
