"""The state store in Redis (production): redis-py's asyncio client for the write-behind and
the reservations, its synchronous client for the kill switch (the overlay saves synchronously;
a save is rare and off the hot path, and must be acknowledged before a loosening happens).

Keys under a namespace N (default `rlexec`):

- `N:state:parents`, `N:state:children` — hashes, id → JSON record;
- `N:state:fills` — hash, ExecID → JSON `[n, record]` (HSET is idempotent, so a batch
  retried after a lost reply cannot count a fill twice; n keeps the order);
- `N:state:meta` — hash, name → JSON record of the service's singletons (`day`: the risk
  overlay's trading day and the P&L it counts from, `risk.day.DayRecord`; `carry`: the
  archived fills' sums; `limits`: the risk limits as tightened through the API);
- `N:state:kill` — the kill-switch snapshot (`risk.killswitch.snapshot_to_json`);
- `N:state:seq` — hash, counter name → highest id reserved; `N:state:blocks` — hash,
  `name:start` → end for each open block (one Lua script bumps the counter and records the
  block, so neither exists without the other);
- `N:archive:DAY:parents|children|fills|seq` — hashes of what `archive` moved out of the
  live state on trading day DAY (fills as plain JSON records), never read at start; they
  expire after `archive_ttl_s` (None: kept until deleted);
- `N:fix:BEGIN:SENDER:TARGET:*` — the gateway's `RedisStore` for each FIX session (with
  N = `rlexec` these are the keys `RedisStore.for_session` uses).

Durability is the server's: with append-only persistence (compose runs Redis with it), an
acknowledged write survives a Redis restart up to its fsync policy.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from rlexec.gateway.store import SessionStore
from rlexec.gateway.store_redis import RedisStore
from rlexec.market.settings import redact_url
from rlexec.service.state import OverflowCallback, StateError
from rlexec.service.state_writer import (
    DEFAULT_BATCH,
    DEFAULT_MAX_QUEUE,
    ArchiveBatch,
    Batch,
    RawState,
    WriteBehindStore,
)

__all__ = ["RedisBackend", "RedisStateStore"]

log = logging.getLogger("rlexec.service")

_RESERVE: Final = """
local size = tonumber(ARGV[2])
local stop = redis.call('HINCRBY', KEYS[1], ARGV[1], size)
redis.call('HSET', KEYS[2], ARGV[1] .. ':' .. (stop - size + 1), stop)
return stop
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend:
    """One namespace in one Redis database; every RedisError becomes a StateError naming it."""

    def __init__(
        self,
        url: str,
        namespace: str = "rlexec",
        *,
        timeout_s: float = 2.0,
        archive_ttl_s: int | None = None,
    ) -> None:
        if archive_ttl_s is not None and archive_ttl_s <= 0:
            raise StateError(f"archive TTL must be positive seconds or None, got {archive_ttl_s}")
        self.archive_ttl_s = archive_ttl_s
        if not namespace or any(c.isspace() for c in namespace):
            raise StateError(f"Redis namespace must be non-empty without spaces, got {namespace!r}")
        options: dict[str, Any] = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            # One quick retry covers a pooled connection the server closed; longer outages are
            # the write-behind's to retry (with backoff), and the kill switch's to refuse.
            "retry": Retry(NoBackoff(), 1),
        }
        try:
            self._client = aioredis.Redis.from_url(url, **options)
            self._sync = redis.Redis.from_url(url, **options)
            self._sync.connection_pool.make_connection()  # built, not connected: checks options
        except (ValueError, TypeError) as exc:  # a bad part, or an unknown ?option=
            raise StateError(f"state store URL {redact_url(url)!r}: {exc}") from None
        kwargs = self._client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self.name = f"redis {where}/{kwargs.get('db', 0)} {namespace}"
        self.namespace = namespace
        base = f"{namespace}:state"
        self._parents = f"{base}:parents"
        self._children = f"{base}:children"
        self._fills = f"{base}:fills"
        self._kill = f"{base}:kill"
        self._meta = f"{base}:meta"
        self._seq = f"{base}:seq"
        self._blocks = f"{base}:blocks"
        self._reserve = self._client.register_script(_RESERVE)

    def _error(self, what: str, exc: Exception) -> StateError:
        return StateError(f"{self.name}: cannot {what}: {exc}")

    async def open(self) -> None:
        try:
            await self._client.ping()
        except RedisError as exc:
            raise self._error("connect", exc) from None
        if self._client.connection_pool.connection_kwargs.get("password"):
            await self._warn_if_password_unchecked()

    async def _warn_if_password_unchecked(self) -> None:
        """Redis 6+ accepts any password for a user with `nopass`: the URL's password then
        protects nothing, which whoever set it should hear (the connection still works)."""
        try:
            user = _text(await self._client.acl_whoami())
            info: Any = await self._client.acl_getuser(user)
        except RedisError:  # ACL not permitted to this user: nothing to learn, nothing wrong
            return
        flags = (info.get(b"flags") or info.get("flags") or []) if isinstance(info, dict) else []
        if any(_text(flag) == "nopass" for flag in flags):
            log.warning("event=state_store_password_unchecked store=%r user=%s detail=%r",
                        self.name, user, "the URL gives a password, but this Redis user has "
                        "none (nopass): any password is accepted; set one (requirepass / ACL)")  # fmt: skip

    async def read(self) -> RawState:
        pipe = self._client.pipeline(transaction=True)
        for key in (self._parents, self._children, self._fills, self._blocks, self._seq):
            pipe.hgetall(key)
        pipe.get(self._kill)
        pipe.hgetall(self._meta)
        try:
            parents, children, fills, blocks, seqs, kill, meta = await pipe.execute()
        except RedisError as exc:
            raise self._error("read state", exc) from None

        def texts(raw: dict[Any, Any]) -> dict[str, str]:
            return {_text(k): _text(v) for k, v in raw.items()}

        def numbers(raw: dict[Any, Any], key: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for k, v in raw.items():
                value = _text(v)
                if not value.lstrip("-").isdigit():
                    raise StateError(
                        f"{self.name}: {key} {_text(k)!r} holds {value!r}, not a number"
                    )
                out[_text(k)] = int(value)
            return out

        return RawState(
            parents=texts(parents),
            children=texts(children),
            fills=texts(fills),
            kill=None if kill is None else _text(kill),
            blocks=numbers(blocks, self._blocks),
            sequences=numbers(seqs, self._seq),
            meta=texts(meta),
        )

    async def write(self, batch: Batch) -> None:
        pipe = self._client.pipeline(transaction=True)
        for key, mapping in (
            (self._parents, batch.parents),
            (self._children, batch.children),
            (self._fills, batch.fills),
            (self._meta, batch.meta),
        ):
            if mapping:
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        if batch.closed_blocks:
            pipe.hdel(self._blocks, *batch.closed_blocks)
        if batch.archive is not None:
            self._archive(pipe, batch.archive)
        if not len(pipe):
            return
        try:
            await pipe.execute()
        except RedisError as exc:
            raise self._error("write state", exc) from None

    def _archive(self, pipe: Any, archive: ArchiveBatch) -> None:
        """Copy to `N:archive:DAY:*`, delete from the live hashes: in the batch's transaction,
        and idempotent, so a retry after a lost reply moves nothing twice."""
        base = f"{self.namespace}:archive:{archive.day}"
        for suffix, live, moved in (
            ("parents", self._parents, archive.parents),
            ("children", self._children, archive.children),
            ("fills", self._fills, archive.fills),
            ("seq", None, archive.sequences),  # copied: a live counter only ever grows
        ):
            if moved:
                pipe.hset(f"{base}:{suffix}", mapping=moved)
                if live is not None:
                    pipe.hdel(live, *moved)
                if self.archive_ttl_s is not None:
                    pipe.expire(f"{base}:{suffix}", self.archive_ttl_s)
        if archive.blocks:
            pipe.hdel(self._blocks, *archive.blocks)
        pipe.hset(self._meta, "carry", archive.carry)

    async def reserve(self, sequence: str, size: int) -> tuple[int, int]:
        try:
            end = int(await self._reserve(keys=[self._seq, self._blocks], args=[sequence, size]))
        except RedisError as exc:
            raise self._error(f"reserve {size} ids of {sequence!r}", exc) from None
        return end - size + 1, end

    def load_kill(self) -> str | None:
        try:
            value = self._sync.get(self._kill)
        except RedisError as exc:
            raise self._error("load the kill switch", exc) from None
        return None if value is None else _text(value)

    def save_kill(self, text: str) -> None:
        try:
            self._sync.set(self._kill, text)
        except RedisError as exc:
            raise self._error("save the kill switch", exc) from None

    def session_store(self, begin_string: str, sender: str, target: str) -> SessionStore:
        return RedisStore(self._client, f"{self.namespace}:fix:{begin_string}:{sender}:{target}")

    async def close(self) -> None:
        try:
            await self._client.aclose()
        finally:
            self._sync.close()


class RedisStateStore(WriteBehindStore):
    """The state store in Redis: `RedisStateStore("redis://127.0.0.1:6379/0", "rlexec")`."""

    def __init__(
        self,
        url: str,
        namespace: str = "rlexec",
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch: int = DEFAULT_BATCH,
        on_overflow: OverflowCallback | None = None,
        retry_min_s: float = 0.05,
        retry_max_s: float = 2.0,
        timeout_s: float = 2.0,
        archive_ttl_s: int | None = None,
    ) -> None:
        self.backend = RedisBackend(url, namespace, timeout_s=timeout_s,
                                    archive_ttl_s=archive_ttl_s)  # fmt: skip
        super().__init__(
            self.backend,
            max_queue=max_queue,
            batch=batch,
            on_overflow=on_overflow,
            retry_min_s=retry_min_s,
            retry_max_s=retry_max_s,
        )
