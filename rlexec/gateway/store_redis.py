"""Redis backend of the session store (redis.asyncio), write-behind.

Keys, for a session key K: `K:state` (hash: sender, target, created) and `K:msgs` (hash:
seq -> raw message). The mutators only buffer; `flush()` starts (or leaves running) one
writer task that sends everything buffered as one MULTI/EXEC pipeline, so the hot path never
waits for a Redis round trip. The price: a crash loses what was buffered in the last few
milliseconds, which the counterparty's resend recovers. If Redis is unreachable the writer
keeps the buffer, logs one line per outage and retries with backoff; `sync()` raises.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rlexec.gateway.errors import StoreError
from rlexec.gateway.store import StoredState, checked_seq

log = logging.getLogger("rlexec.gateway")


class RedisStore:
    """Session store in Redis; see the module docstring for keys and write-behind."""

    def __init__(
        self,
        client_or_url: aioredis.Redis | str,
        key: str,
        retry_max_delay: float = 2.0,
    ) -> None:
        if not key:
            raise StoreError("Redis session store key must not be empty")
        if isinstance(client_or_url, str):
            self._client = aioredis.Redis.from_url(client_or_url)
            self._owns_client = True
        else:
            self._client = client_or_url
            self._owns_client = False
        self.key = key
        self._state_key = f"{key}:state"
        self._msgs_key = f"{key}:msgs"
        self._retry_max_delay = retry_max_delay
        self._sender = 1
        self._target = 1
        self._creation_time = time.time()
        self._pending_msgs: dict[int, bytes] = {}
        self._pending_reset = False
        self._state_dirty = False
        self._writer: asyncio.Task[None] | None = None
        self._failing = False
        self._opened = False
        self._write_lock = asyncio.Lock()

    @classmethod
    def for_session(
        cls, client_or_url: aioredis.Redis | str, begin_string: str, sender: str, target: str
    ) -> RedisStore:
        return cls(client_or_url, f"rlexec:fix:{begin_string}:{sender}:{target}")

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    async def open(self) -> StoredState:
        try:
            state = await self._client.hgetall(self._state_key)
        except RedisError as exc:
            raise StoreError(f"redis {self.key}: cannot load session state: {exc}") from None
        if state:
            try:
                self._sender = int(state[b"sender"])
                self._target = int(state[b"target"])
                self._creation_time = float(state[b"created"])
            except (KeyError, ValueError):
                raise StoreError(f"redis {self._state_key}: unreadable session state") from None
        else:
            self._pending_reset = True
            self._state_dirty = True
            await self._write_pending()
        self._opened = True
        return StoredState(self._sender, self._target, self._creation_time)

    # -- hot path --------------------------------------------------------------------------

    def save_message(self, seq: int, raw: bytes) -> None:
        self._pending_msgs[checked_seq("MsgSeqNum", seq)] = raw
        self._sender = seq + 1
        self._state_dirty = True

    def set_next_sender_seq(self, seq: int) -> None:
        self._sender = checked_seq("next sender seq", seq)
        self._state_dirty = True

    def set_next_target_seq(self, seq: int) -> None:
        self._target = checked_seq("next target seq", seq)
        self._state_dirty = True

    def reset(self) -> None:
        self._sender = self._target = 1
        self._creation_time = time.time()
        self._pending_msgs.clear()
        self._pending_reset = True
        self._state_dirty = True

    def flush(self) -> None:
        if not self._state_dirty or (self._writer is not None and not self._writer.done()):
            return
        self._writer = asyncio.get_running_loop().create_task(self._write_behind())

    # -- writer ----------------------------------------------------------------------------

    async def _write_behind(self) -> None:
        delay = 0.05
        while self._state_dirty:
            try:
                await self._write_pending()
            except RedisError as exc:
                if not self._failing:
                    log.error(
                        "event=store_write_failed backend=redis key=%s error=%r", self.key, exc
                    )
                    self._failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_delay)
                continue
            if self._failing:
                log.warning("event=store_write_recovered backend=redis key=%s", self.key)
                self._failing = False
            delay = 0.05

    async def _write_pending(self) -> None:
        async with self._write_lock:
            if self._state_dirty:
                await self._write_batch()

    async def _write_batch(self) -> None:
        msgs, self._pending_msgs = self._pending_msgs, {}
        reset, self._pending_reset = self._pending_reset, False
        self._state_dirty = False
        pipe = self._client.pipeline(transaction=True)
        if reset:
            pipe.delete(self._msgs_key)
        if msgs:
            pipe.hset(self._msgs_key, mapping=msgs)  # type: ignore[arg-type]
        pipe.hset(
            self._state_key,
            mapping={
                "sender": self._sender,
                "target": self._target,
                "created": repr(self._creation_time),
            },
        )
        try:
            await pipe.execute()
        except BaseException:
            # Put the batch back in front of anything buffered since, so nothing is lost;
            # unless a reset came meanwhile: its epoch must not inherit the old messages.
            if not self._pending_reset:
                msgs.update(self._pending_msgs)
                self._pending_msgs = msgs
                self._pending_reset = reset
            self._state_dirty = True
            raise

    # -- reading back ----------------------------------------------------------------------

    async def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        await self.sync()
        try:
            if end - begin > 10_000:
                stored = await self._client.hkeys(self._msgs_key)
                seqs = sorted(s for s in map(int, stored) if begin <= s <= end)
            else:
                seqs = list(range(begin, end + 1))
            if not seqs:
                return []
            values = await self._client.hmget(self._msgs_key, seqs)
        except RedisError as exc:
            raise StoreError(f"redis {self.key}: cannot read stored messages: {exc}") from None
        return [
            (s, v if isinstance(v, bytes) else v.encode())
            for s, v in zip(seqs, values, strict=True)
            if v is not None
        ]

    async def sync(self) -> None:
        if self._state_dirty:
            try:
                await self._write_pending()
            except RedisError as exc:
                raise StoreError(f"redis {self.key}: cannot write session state: {exc}") from None

    async def close(self) -> None:
        try:
            if self._opened:
                await self.sync()
        finally:
            if self._writer is not None and not self._writer.done():
                self._writer.cancel()
            if self._owns_client:
                await self._client.aclose()
