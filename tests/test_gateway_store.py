"""One contract for every session store backend: memory, append-only file and Redis."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis

from rlexec.gateway.errors import StoreError
from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.gateway.store_file import FileStore, session_file_name
from rlexec.gateway.store_redis import RedisStore

Factory = Callable[[], SessionStore]


def _factory(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Factory:
    if kind == "memory":
        return MemoryStore
    if kind == "file":
        return lambda: FileStore.for_session(tmp_path, "FIX.4.4", "ME", "THEM", fsync="always")
    url = request.getfixturevalue("redis_url")
    return lambda: RedisStore.for_session(url, "FIX.4.4", "ME", "THEM")


@pytest.fixture(
    params=["memory", "file", pytest.param("redis", marks=pytest.mark.redis)],
)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    return _factory(request.param, tmp_path, request)


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    return _factory(request.param, tmp_path, request)


@pytest.fixture
async def store(new_store: Factory) -> AsyncIterator[SessionStore]:
    s = new_store()
    await s.open()
    yield s
    await s.close()


# -- the contract ----------------------------------------------------------------------------


async def test_a_new_store_starts_both_sequences_at_one(new_store: Factory) -> None:
    s = new_store()
    state = await s.open()
    assert (state.next_sender_seq, state.next_target_seq) == (1, 1)
    assert state.creation_time > 0
    await s.close()


async def test_saved_messages_come_back_in_order_and_admin_gaps_stay_gaps(
    store: SessionStore,
) -> None:
    store.save_message(1, b"one")
    store.set_next_sender_seq(3)  # seq 2 was a heartbeat: never stored
    store.save_message(3, b"three\x01with soh")
    store.save_message(4, b"four")
    store.flush()
    assert store.next_sender_seq == 5
    assert await store.messages(1, 4) == [(1, b"one"), (3, b"three\x01with soh"), (4, b"four")]
    assert await store.messages(2, 3) == [(3, b"three\x01with soh")]
    assert await store.messages(5, 10) == []
    assert await store.messages(1, 1_000_000) == [
        (1, b"one"),
        (3, b"three\x01with soh"),
        (4, b"four"),
    ]


async def test_sequence_numbers_are_kept(store: SessionStore) -> None:
    store.set_next_target_seq(17)
    store.set_next_sender_seq(9)
    store.flush()
    await store.sync()
    assert (store.next_sender_seq, store.next_target_seq) == (9, 17)


async def test_reset_starts_a_new_epoch(store: SessionStore) -> None:
    store.save_message(1, b"old")
    store.set_next_target_seq(5)
    store.flush()
    store.reset()
    store.flush()
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
    assert await store.messages(1, 10) == []
    store.save_message(1, b"new")
    assert await store.messages(1, 1) == [(1, b"new")]


@pytest.mark.parametrize("bad", [0, -3])
async def test_impossible_sequence_numbers_are_refused(store: SessionStore, bad: int) -> None:
    with pytest.raises(StoreError, match="positive integer"):
        store.set_next_sender_seq(bad)
    with pytest.raises(StoreError, match="next target seq"):
        store.set_next_target_seq(bad)
    with pytest.raises(StoreError, match="MsgSeqNum"):
        store.save_message(bad, b"x")
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)


async def test_a_restarted_store_continues_where_it_stopped(durable_store: Factory) -> None:
    first = durable_store()
    await first.open()
    first.save_message(1, b"order-1")
    first.save_message(2, b"order-2")
    first.set_next_sender_seq(4)
    first.set_next_target_seq(8)
    first.flush()
    await first.close()

    second = durable_store()
    state = await second.open()
    assert (state.next_sender_seq, state.next_target_seq) == (4, 8)
    assert await second.messages(1, 3) == [(1, b"order-1"), (2, b"order-2")]
    second.reset()
    await second.close()

    third = durable_store()
    state = await third.open()
    assert (state.next_sender_seq, state.next_target_seq) == (1, 1)
    assert await third.messages(1, 3) == []
    await third.close()


async def test_unflushed_changes_are_written_by_close(durable_store: Factory) -> None:
    first = durable_store()
    await first.open()
    first.save_message(1, b"x")
    first.set_next_target_seq(3)
    await first.close()
    second = durable_store()
    state = await second.open()
    assert (state.next_sender_seq, state.next_target_seq) == (2, 3)
    await second.close()


# -- file backend specifics ------------------------------------------------------------------


async def test_file_store_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    s = FileStore(path, fsync="never")
    await s.open()
    s.save_message(1, b"complete")
    s.set_next_target_seq(2)
    await s.close()
    complete = path.stat().st_size
    s = FileStore(path, fsync="never")
    await s.open()
    s.save_message(2, b"a message whose write a crash interrupted")
    await s.close()
    os.truncate(path, path.stat().st_size - 10)  # torn: the last record ends mid-payload
    s = FileStore(path)
    state = await s.open()
    assert path.stat().st_size == complete
    assert state.next_sender_seq == 2 and state.next_target_seq == 2
    assert await s.messages(1, 5) == [(1, b"complete")]
    s.save_message(2, b"after")
    await s.close()
    s = FileStore(path)
    await s.open()
    assert await s.messages(1, 5) == [(1, b"complete"), (2, b"after")]
    await s.close()


async def test_file_store_refuses_a_second_writer_and_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    first = FileStore(path)
    await first.open()
    with pytest.raises(StoreError, match="in use by another process"):
        await FileStore(path).open()
    await first.close()
    foreign = tmp_path / "other"
    foreign.write_bytes(b"hello\n")
    with pytest.raises(StoreError, match="not an rlexec FIX session store"):
        await FileStore(foreign).open()
    assert foreign.read_bytes() == b"hello\n"


def test_file_store_rejects_bad_settings_and_unsafe_names(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="fsync policy"):
        FileStore(tmp_path / "x", fsync="sometimes")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="fsync_interval"):
        FileStore(tmp_path / "x", fsync_interval=0)
    assert "/" not in session_file_name("FIX.4.4", "../../etc", "x/y")


async def test_file_store_interval_fsync_runs_off_the_calling_thread(tmp_path: Path) -> None:
    s = FileStore(tmp_path / "s.fixlog", fsync="interval", fsync_interval=0.01)
    await s.open()
    for i in range(1, 50):
        s.save_message(i, b"m%d" % i)
        s.flush()
        await asyncio.sleep(0.001)
    await s.sync()
    assert len(await s.messages(1, 100)) == 49
    await s.close()


# -- Redis backend specifics -----------------------------------------------------------------


async def test_redis_store_reports_an_unreachable_server_as_a_store_error() -> None:
    s = RedisStore("redis://127.0.0.1:1/15", "rlexec:test")
    with pytest.raises(StoreError, match="cannot load session state"):
        await s.open()
    await s.close()


@pytest.mark.redis
async def test_redis_store_writes_behind_in_one_transaction(redis_url: str) -> None:
    s = RedisStore(redis_url, "rlexec:fix:wb")
    await s.open()
    for i in range(1, 101):
        s.save_message(i, b"msg%d" % i)
        s.flush()
    await s.sync()
    raw = redis.Redis.from_url(redis_url)
    assert raw.hlen("rlexec:fix:wb:msgs") == 100
    assert int(raw.hget("rlexec:fix:wb:state", "sender") or 0) == 101
    raw.close()
    await s.close()


async def test_redis_store_keeps_its_buffer_while_the_server_is_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = RedisStore("redis://127.0.0.1:1/15", "rlexec:fix:away", retry_max_delay=0.01)
    broken.save_message(1, b"pending")
    broken.flush()  # the write-behind task starts, fails and retries; the caller never waits
    await asyncio.sleep(0.1)
    with pytest.raises(StoreError, match="cannot write session state"):
        await broken.sync()
    assert broken.next_sender_seq == 2
    failures = [r for r in caplog.records if "store_write_failed" in r.getMessage()]
    assert len(failures) == 1, "one log line per outage, not one per retry"
    await broken.close()


class _GatedPipeline:
    """A Redis pipeline stand-in: records what it is asked to write; `execute` waits for the
    gate and fails while `client.failing` is set."""

    def __init__(self, client: _GatedRedis) -> None:
        self._client = client
        self._ops: list[tuple[str, object]] = []

    def delete(self, key: str) -> None:
        self._ops.append(("delete", key))

    def hset(self, key: str, mapping: dict[object, object]) -> None:
        self._ops.append((key, dict(mapping)))

    async def execute(self) -> None:
        await self._client.gate.wait()
        if self._client.failing:
            self._client.failing = False
            raise redis.exceptions.ConnectionError("connection lost")
        self._client.executed.extend(self._ops)
        self._client.written.set()


class _GatedRedis:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.failing = True
        self.executed: list[tuple[str, object]] = []
        self.written = asyncio.Event()

    def pipeline(self, transaction: bool = True) -> _GatedPipeline:
        return _GatedPipeline(self)


async def test_redis_store_failed_batch_does_not_outlive_a_reset_made_meanwhile() -> None:
    client = _GatedRedis()
    s = RedisStore(client, "rlexec:fix:race", retry_max_delay=0.01)  # type: ignore[arg-type]
    s.save_message(1, b"old epoch 1")
    s.save_message(2, b"old epoch 2")
    s.flush()  # the writer takes the batch and waits on the (failing) round trip
    await asyncio.sleep(0)
    s.reset()
    s.save_message(1, b"new epoch")
    client.gate.set()
    async with asyncio.timeout(3):
        await client.written.wait()
    assert ("delete", "rlexec:fix:race:msgs") in client.executed
    written = [m for key, m in client.executed if key == "rlexec:fix:race:msgs"]
    assert written == [{1: b"new epoch"}], "old-epoch message 2 must not be resent after a reset"
    await s.close()
