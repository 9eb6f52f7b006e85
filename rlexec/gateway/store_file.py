"""Append-only file backend of the session store.

One log file per session. Records are appended in order and replayed at open. Every line
ends with ` <crc>`, the CRC32 (8 hex digits) of the text before it, and a message record
also carries the CRC32 of its payload, so a changed byte anywhere is found, not resent:

    RLEXECFIX 2 <creation_time> <crc>\\n                     first line, rewritten on reset
    M <seq> <length> <payload crc> <crc>\\n<raw message>\\n  an outbound application message
    S <seq> <crc>\\n                                         next sender seq
    T <seq> <crc>\\n                                         next target seq

Opening refuses (`StoreError` naming the file and byte offset) a record that is complete
but does not verify: silently dropping it and everything after would rewind sequence
numbers. The one record that may be dropped is a torn last one, which a crash mid-write
leaves: a header line without its newline, or a verified header whose payload runs past the
end of the file. A format-1 file (no checksums, written by older rlexec) is read strictly and
rewritten as format 2. Reading messages back for a resend verifies each payload again; one
that fails is left out, so the session gap-fills over it, and it is logged and counted.

Appends are buffered in memory and written with one `os.write` per flush (the session
flushes once per event-loop turn, before its socket write, so a message reaches the OS
before it reaches the wire). Durability against power loss is the fsync policy's job:
`always` fsyncs every flush on the calling thread, `interval` (default) fsyncs at most every
`fsync_interval` seconds on a worker thread, off the hot path; `never` leaves it to the OS.
An exclusive lock stops two processes from writing the same session.
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
from zlib import crc32

from prometheus_client import CollectorRegistry, Counter

from rlexec.gateway.errors import StoreError
from rlexec.gateway.store import StoredState, checked_seq, seqs_in_range

log = logging.getLogger("rlexec.gateway")

FsyncPolicy = Literal["never", "interval", "always"]
FORMAT_VERSION = 2
_MAGIC = b"RLEXECFIX "
_MAGIC_V1 = b"RLEXECFIX 1 "
_MAGIC_V2 = b"RLEXECFIX 2 "
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def session_file_name(begin_string: str, sender: str, target: str) -> str:
    """A file name for a session that cannot escape its directory."""
    return _SAFE_NAME.sub("_", f"{begin_string}-{sender}-{target}") + ".fixlog"


class FileStoreMetrics:
    """Corrupt records found by file stores, by session file (one label value per session)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.corrupt_records = Counter(
            "rlexec_fix_store_corrupt_records_total",
            "Stored messages whose checksum failed when read back for a resend (gap-filled)",
            ["store"],
            registry=self.registry,
        )


def _line(body: bytes) -> bytes:
    return b"%s %08x\n" % (body, crc32(body))


def _message_record(seq: int, raw: bytes, payload_crc: int) -> bytes:
    head = b"M %d %d %08x" % (seq, len(raw), payload_crc)
    return b"".join((head, b" %08x\n" % crc32(head), raw, b"\n"))


class _TornError(Exception):
    """The record at this offset is incomplete and runs to the end of the file."""


class FileStore:
    """Session store in an append-only log file; see the module docstring for the format."""

    def __init__(
        self,
        path: str | Path,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
        metrics: FileStoreMetrics | None = None,
    ) -> None:
        if fsync not in ("never", "interval", "always"):
            raise StoreError(f"fsync policy must be never, interval or always, got {fsync!r}")
        if fsync_interval <= 0:
            raise StoreError(f"fsync_interval must be positive, got {fsync_interval!r}")
        self.path = Path(path)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        metrics = metrics if metrics is not None else FileStoreMetrics()
        self._corrupt_metric = metrics.corrupt_records.labels(self.path.name)
        self.corrupt_records_skipped = 0
        """Stored messages left out of a resend because their checksum failed."""
        self._fd = -1
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._index: dict[int, tuple[int, int, int]] = {}
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
        metrics: FileStoreMetrics | None = None,
    ) -> FileStore:
        name = session_file_name(begin_string, sender, target)
        return cls(Path(directory) / name, fsync, fsync_interval, metrics)

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
            os.close(self._fd)
            self._fd = -1
            self._index.clear()
            self._sender = self._target = 1
            raise
        return StoredState(self._sender, self._target, self._creation_time)

    def _corrupt(self, offset: int, why: str) -> StoreError:
        return StoreError(
            f"{self.path}: corrupt record at byte offset {offset}: {why}; refusing to open "
            "(dropping it would rewind sequence numbers: repair or move the file aside)"
        )

    def _load(self) -> None:
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        if not data:
            self._rewrite(time.time())
            return
        if data.startswith(_MAGIC_V1):
            self._load_v1(data)
            return
        if not data.startswith(_MAGIC_V2):
            if data.startswith(_MAGIC):
                version = data[len(_MAGIC) : len(_MAGIC) + 8].split(b" ")[0]
                raise StoreError(
                    f"{self.path}: session store format {version[:8]!r} is not supported "
                    f"(this rlexec reads formats 1 and {FORMAT_VERSION})"
                )
            raise StoreError(f"{self.path}: not an rlexec FIX session store")
        first_nl = data.find(b"\n")
        if first_nl < 0:
            raise self._corrupt(0, "header line has no end")
        body = self._verified_line(data, 0, first_nl)
        try:
            self._creation_time = float(body[len(_MAGIC_V2) :])
        except ValueError:
            raise self._corrupt(0, "unreadable header line") from None
        pos = first_nl + 1
        size = len(data)
        while pos < size:
            try:
                pos = self._load_record(data, pos)
            except _TornError:
                log.warning(
                    "event=store_truncated path=%s kept_bytes=%d dropped_bytes=%d "
                    "reason=torn_last_record",
                    self.path,
                    pos,
                    size - pos,
                )
                os.ftruncate(self._fd, pos)
                size = pos
        self._size = size
        self._written_sender = self._sender
        self._written_target = self._target

    def _verified_line(self, data: bytes, pos: int, nl: int) -> bytes:
        """The body of the header line data[pos:nl] once its CRC checks."""
        if nl < 0:
            raise _TornError
        line = data[pos:nl]
        body, _, crc_text = line.rpartition(b" ")
        if not body or crc_text != b"%08x" % crc32(body):
            raise self._corrupt(pos, "record header checksum does not match")
        return body

    def _load_record(self, data: bytes, pos: int) -> int:
        """Apply the record at `pos`; the offset of the next one."""
        nl = data.find(b"\n", pos)
        parts = self._verified_line(data, pos, nl).split(b" ")
        kind = parts[0]
        try:
            seq = int(parts[1])
            if kind == b"M" and len(parts) == 4:
                length, payload_crc = int(parts[2]), int(parts[3], 16)
            elif kind in (b"S", b"T") and len(parts) == 2:
                length = payload_crc = 0
            else:
                raise ValueError(kind)
        except (IndexError, ValueError):
            raise self._corrupt(pos, f"unknown record {data[pos : min(nl, pos + 24)]!r}") from None
        if seq < 1 or length < 0:
            raise self._corrupt(pos, f"impossible sequence number or length in {kind!r} record")
        if kind == b"S":
            self._sender = seq
            return nl + 1
        if kind == b"T":
            self._target = seq
            return nl + 1
        start = nl + 1
        end = start + length
        if end + 1 > len(data):
            raise _TornError
        if data[end] != 0x0A:
            raise self._corrupt(pos, f"message seq={seq} does not end where its length says")
        if crc32(data[start:end]) != payload_crc:
            raise self._corrupt(pos, f"message seq={seq} payload checksum does not match")
        self._index[seq] = (start, length, payload_crc)
        self._sender = seq + 1
        return end + 1

    def _load_v1(self, data: bytes) -> None:
        """Read a format-1 file (no checksums) strictly, then rewrite it as format 2."""
        first_nl = data.find(b"\n")
        try:
            creation_time = float(data[len(_MAGIC_V1) : first_nl])
        except ValueError:
            raise self._corrupt(0, "unreadable header line") from None
        messages: dict[int, bytes] = {}
        sender = target = 1
        pos = first_nl + 1
        size = len(data)
        while pos < size:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # torn last record
            parts = data[pos:nl].split(b" ")
            try:
                kind, seq = parts[0], int(parts[1])
                if kind == b"M" and len(parts) == 3:
                    start = nl + 1
                    end = start + int(parts[2])
                    if end + 1 > size:
                        break  # torn last record
                    if data[end] != 0x0A:
                        raise ValueError(kind)
                    messages[seq] = data[start:end]
                    sender = seq + 1
                    pos = end + 1
                    continue
                if kind not in (b"S", b"T") or len(parts) != 2:
                    raise ValueError(kind)
            except (IndexError, ValueError):
                raise self._corrupt(pos, "unreadable format-1 record") from None
            if kind == b"S":
                sender = seq
            else:
                target = seq
            pos = nl + 1
        self._rewrite(creation_time, messages, sender, target)
        log.warning(
            "event=store_upgraded path=%s from_format=1 to_format=%d messages=%d",
            self.path,
            FORMAT_VERSION,
            len(messages),
        )

    def _rewrite(
        self,
        creation_time: float,
        messages: dict[int, bytes] | None = None,
        sender: int = 1,
        target: int = 1,
    ) -> None:
        """Start a fresh log in place: write a temp file, then rename it over the old one."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        chunks = [_line(_MAGIC_V2 + repr(creation_time).encode())]
        index: dict[int, tuple[int, int, int]] = {}
        size = len(chunks[0])
        for seq, raw in sorted((messages or {}).items()):
            payload_crc = crc32(raw)
            record = _message_record(seq, raw, payload_crc)
            index[seq] = (size + len(record) - len(raw) - 1, len(raw), payload_crc)
            chunks.append(record)
            size += len(record)
        if messages or (sender, target) != (1, 1):
            chunks += [_line(b"S %d" % sender), _line(b"T %d" % target)]
        content = b"".join(chunks)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            os.write(fd, content)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)
        self._size = len(content)
        self._creation_time = creation_time
        self._index = index
        self._sender = self._written_sender = sender
        self._target = self._written_target = target

    # -- hot path --------------------------------------------------------------------------

    def save_message(self, seq: int, raw: bytes) -> None:
        if type(seq) is not int or seq < 1:
            checked_seq("MsgSeqNum", seq)  # raises, naming it
        payload_crc = crc32(raw)
        record = _message_record(seq, raw, payload_crc)
        length = len(raw)
        self._index[seq] = (
            self._size + self._pending_size + len(record) - length - 1,
            length,
            payload_crc,
        )
        self._pending.append(record)
        self._pending_size += len(record)
        self._sender = self._written_sender = seq + 1

    def set_next_sender_seq(self, seq: int) -> None:
        self._sender = checked_seq("next sender seq", seq)

    def set_next_target_seq(self, seq: int) -> None:
        if type(seq) is not int or seq < 1:
            checked_seq("next target seq", seq)  # raises, naming it
        self._target = seq

    def flush(self) -> None:
        if self._sender != self._written_sender:
            self._pending.append(_line(b"S %d" % self._sender))
            self._pending_size += len(self._pending[-1])
            self._written_sender = self._sender
        if self._target != self._written_target:
            self._pending.append(_line(b"T %d" % self._target))
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
        """Stored messages in the range whose checksum still verifies; the others are logged,
        counted and left out, so a resend gap-fills over them instead of sending them."""
        self.flush()
        index = self._index
        out: list[tuple[int, bytes]] = []
        for seq in seqs_in_range(index.keys(), begin, end):
            offset, length, payload_crc = index[seq]
            raw = os.pread(self._fd, length, offset)
            if len(raw) != length or crc32(raw) != payload_crc:
                self.corrupt_records_skipped += 1
                self._corrupt_metric.inc()
                log.error(
                    "event=store_record_corrupt path=%s seq=%d offset=%d action=gap_fill",
                    self.path,
                    seq,
                    offset,
                )
                continue
            out.append((seq, raw))
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
