"""One contract for the service's state store, run against memory and real Redis (DB from
RLEXEC_TEST_REDIS_URL). A Redis outage is a real one: the store talks to Redis through a
loopback TCP relay that the test shuts and reopens."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlexec.risk.day import DayRecord
from rlexec.risk.killswitch import KillState, KillSwitch
from rlexec.service.state import IdBlock, StateError, ids_to_ask
from rlexec.service.state_ids import ClOrdIdAllocator, IdsExhausted
from rlexec.service.state_memory import MemoryBackend, MemoryStateStore
from rlexec.service.state_redis import RedisStateStore
from rlexec.service.state_writer import WriteBehindStore
from tests.conftest import REDIS_URL


class Relay:
    """A loopback TCP relay to Redis, in its own threads (the kill switch's synchronous
    client blocks the event loop, so the relay must not live on it). `down()` drops every
    connection and stops listening; `up()` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Env:
    """A backend shared by every store it makes (a restart = a new store on it), with a
    switch for an outage."""

    def __init__(self, kind: str, redis_url: str | None, relayed: bool = True) -> None:
        """`relayed` False: straight to Redis, for a test with no outage (a relay's threads
        add scheduling delay that a loaded 2-core machine can stretch past the timeout)."""
        self.kind = kind
        self.memory = MemoryBackend()
        self.relay: Relay | None = None
        self.namespace = f"t{uuid.uuid4().hex[:8]}"
        if redis_url is not None:
            self.url = redis_url
            if relayed:
                parts = urlsplit(redis_url)
                self.relay = Relay((parts.hostname or "127.0.0.1", parts.port or 6379))
                self.relay.up()
                self.url = f"redis://127.0.0.1:{self.relay.port}{parts.path}"
            self.direct = redis.Redis.from_url(redis_url)

    def store(self, **kw: Any) -> WriteBehindStore:
        kw.setdefault("retry_min_s", 0.01)
        kw.setdefault("retry_max_s", 0.05)
        if self.kind == "memory":
            return MemoryStateStore(self.memory, **kw)
        return RedisStateStore(self.url, self.namespace, timeout_s=0.5 if self.relay else 5.0, **kw)

    async def opened(self, **kw: Any) -> WriteBehindStore:
        s = self.store(**kw)
        await s.open()
        await s.load()
        return s

    def outage(self) -> None:
        if self.kind == "memory":
            self.memory.available = False
        else:
            assert self.relay is not None, "an outage needs the relay"
            self.relay.down()

    def restore(self) -> None:
        if self.kind == "memory":
            self.memory.available = True
        else:
            assert self.relay is not None, "an outage needs the relay"
            self.relay.up()

    def corrupt_child(self, key: str, text: str) -> None:
        if self.kind == "memory":
            self.memory.data.children[key] = text
        else:
            self.direct.hset(f"{self.namespace}:state:children", key, text)

    def corrupt_meta(self, key: str, text: str) -> None:
        if self.kind == "memory":
            self.memory.data.meta[key] = text
        else:
            self.direct.hset(f"{self.namespace}:state:meta", key, text)

    def close(self) -> None:
        if self.relay is not None:
            self.relay.down()
        if self.kind != "memory":
            self.direct.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    e = Env(request.param, url)
    yield e
    e.close()


@pytest.fixture
async def store(env: Env) -> AsyncIterator[WriteBehindStore]:
    s = await env.opened()
    yield s
    with suppress(StateError):
        await s.close()


async def reopened(env: Env, old: WriteBehindStore) -> tuple[WriteBehindStore, Any]:
    await old.close()
    new = env.store()
    await new.open()
    return new, await new.load()


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not true within {within_s}s")


def clock() -> int:
    clock.now += 1  # type: ignore[attr-defined]
    return clock.now  # type: ignore[attr-defined,no-any-return]


clock.now = 0  # type: ignore[attr-defined]


# -- round trips and order --------------------------------------------------------------------


async def test_a_new_store_is_empty(store: WriteBehindStore) -> None:
    state = store.snapshot()
    assert (state.parents, state.children, state.fills, state.id_blocks) == ({}, {}, {}, ())
    assert store.healthy()[0]


async def test_records_round_trip_across_a_restart(env: Env, store: WriteBehindStore) -> None:
    parent = {"spec": {"symbol": "AAPL", "side": "buy", "quantity": 500}, "filled": 0, "ok": True}
    child = {"cl_ord_id": "C1", "state": "pending_new", "price": None, "exec_ids": ["E1"]}
    store.put_parent("P1", parent)
    store.put_child("C1", child)
    assert store.add_fill("E1", {"cl_ord_id": "C1", "qty": 100, "price": 1_234_500})
    assert store.queue_depth == 3
    store2, state = await reopened(env, store)
    assert state.parents == {"P1": parent}
    assert state.children == {"C1": child}
    assert state.fills == {"E1": {"cl_ord_id": "C1", "qty": 100, "price": 1_234_500}}
    assert state.kill is None
    await store2.close()


async def test_writes_land_in_order_last_one_wins(env: Env) -> None:
    s = await env.opened(batch=3)  # several batches, some coalescing inside one
    for i in range(20):
        s.put_child("C1", {"n": i})
        s.put_parent(f"P{i % 4}", {"n": i})
        s.add_fill(f"E{19 - i}", {"n": i})
    await s.flush()
    s2, state = await reopened(env, s)
    assert state.children == {"C1": {"n": 19}}
    assert state.parents == {f"P{k}": {"n": 16 + k} for k in range(4)}
    assert list(state.fills) == [f"E{19 - i}" for i in range(20)], "fills come back in order"
    await s2.close()


async def test_fills_are_deduplicated_by_exec_id_across_a_restart(env: Env) -> None:
    s = await env.opened()
    assert s.add_fill("E1", {"qty": 1}) is True
    assert s.add_fill("E1", {"qty": 999}) is False
    s2, state = await reopened(env, s)
    assert state.exec_ids == {"E1"}
    assert s2.add_fill("E1", {"qty": 999}) is False, "a resent report after restart"
    assert s2.add_fill("E2", {"qty": 2}) is True
    s3, state = await reopened(env, s2)
    assert list(state.fills.items()) == [("E1", {"qty": 1}), ("E2", {"qty": 2})]
    await s3.close()


async def test_bad_use_and_bad_records_are_refused(env: Env) -> None:
    s = env.store()
    await s.open()
    with pytest.raises(StateError, match="load"):
        s.put_child("C1", {})
    await s.load()
    with pytest.raises(StateError, match="child id"):
        s.put_child("", {})
    with pytest.raises(StateError, match="record must be a dict"):
        s.put_parent("P1", [1])  # type: ignore[arg-type]
    with pytest.raises(StateError, match="block size"):
        await s.reserve_block(0)
    with pytest.raises(StateError, match="sequence name"):
        await s.reserve_block(10, "a b")
    assert s.queue_depth == 0
    await s.close()


async def test_an_unwritable_record_is_counted_and_does_not_stall_the_rest(
    env: Env, store: WriteBehindStore
) -> None:
    store.put_child("C1", {"bad": object()})
    store.put_child("C2", {"ok": 1})
    await store.flush()
    assert store.errors == 1 and "C1" in (store.last_error or "")
    s2, state = await reopened(env, store)
    assert state.children == {"C2": {"ok": 1}}
    await s2.close()


async def test_an_unreadable_stored_record_names_its_key(env: Env) -> None:
    env.corrupt_child("C9", "{not json")
    s = env.store()
    await s.open()
    with pytest.raises(StateError, match=r"child 'C9'.*not JSON"):
        await s.load()
    await s.close()


async def test_the_trading_day_record_round_trips_and_the_latest_wins(
    env: Env, store: WriteBehindStore
) -> None:
    assert store.snapshot().day is None
    store.put_day(DayRecord(date(2012, 6, 21), 0.0))
    store.put_day(DayRecord(date(2012, 6, 22), -1234.5))
    assert store.snapshot().day == DayRecord(date(2012, 6, 22), -1234.5)
    store2, state = await reopened(env, store)
    assert state.day == DayRecord(date(2012, 6, 22), -1234.5)
    await store2.close()


async def test_the_tightened_limits_record_round_trips_and_the_latest_wins(
    env: Env, store: WriteBehindStore
) -> None:
    assert store.snapshot().limits is None
    store.put_limits({"version": 1, "base": "a", "limits": {"max_working_orders": 5}})
    store.put_limits({"version": 1, "base": "a", "limits": {"max_working_orders": 3}})
    store2, state = await reopened(env, store)
    assert state.limits == {"version": 1, "base": "a", "limits": {"max_working_orders": 3}}
    await store2.close()


async def test_an_unreadable_limits_record_names_it(env: Env) -> None:
    env.corrupt_meta("limits", "[1, 2]")
    s = env.store()
    await s.open()
    with pytest.raises(StateError, match=r"meta 'limits'.*not an object"):
        await s.load()
    await s.close()


async def test_an_unreadable_day_record_names_it(env: Env) -> None:
    env.corrupt_meta("day", '{"day": "2012-06-21", "baseline": "lots"}')
    s = env.store()
    await s.open()
    with pytest.raises(StateError, match=r"meta 'day'.*baseline must be a finite number"):
        await s.load()
    await s.close()


# -- archiving (service.retention) --------------------------------------------------------------


def archived(env: Env, day: str) -> dict[str, dict[str, str]]:
    """What the backend keeps under the archive of `day`: kind → key → text."""
    if env.kind == "memory":
        return env.memory.archives.get(day, {})
    out: dict[str, dict[str, str]] = {}
    for kind, suffix in (("parents", "parents"), ("children", "children"), ("fills", "fills"),
                         ("sequences", "seq")):  # fmt: skip
        raw: dict[bytes, bytes] = env.direct.hgetall(f"{env.namespace}:archive:{day}:{suffix}")  # type: ignore[assignment]
        if raw:
            out[kind] = {k.decode(): v.decode() for k, v in raw.items()}
    return out


async def test_archiving_moves_records_out_of_what_a_restart_loads(env: Env) -> None:
    store = await env.opened()
    alloc = ClOrdIdAllocator(store, "P1.", block=5, low_water=1, sequence="clordid.P1")
    await alloc.start()
    for n in (1, 2):
        cl = alloc.next()
        store.put_child(cl, {"cl_ord_id": cl, "current_cl_ord_id": cl, "state": "filled"})
        store.add_fill(f"E{n}", {"cl_ord_id": cl, "qty": 100, "price": 1_000_000})
    store.put_parent("P1", {"id": "P1", "state": "completed"})
    store.put_parent("P2", {"id": "P2", "state": "working"})
    store.put_child("P2.1", {"cl_ord_id": "P2.1", "current_cl_ord_id": "P2.1", "state": "new"})
    store.add_fill("E3", {"cl_ord_id": "P2.1", "qty": 50, "price": 1_000_100})
    carry = {"AAPL": (200, 200_000_000.0, 0, 0.0)}
    done = store.archive("2012-06-22", ["P1"], ["P1.1", "P1.2"], ["clordid.P1"], carry)
    assert (done.parents, done.children, done.fills) == (1, 2, 2)
    mirror = store.snapshot()
    assert set(mirror.parents) == {"P2"} and set(mirror.children) == {"P2.1"}
    assert set(mirror.fills) == {"E3"} and dict(mirror.carry) == carry
    assert mirror.sequences["clordid.P1"] == 5 and mirror.id_blocks == (), "counters only grow"
    store2, state = await reopened(env, store)
    assert set(state.parents) == {"P2"} and set(state.children) == {"P2.1"}
    assert set(state.fills) == {"E3"} and dict(state.carry) == carry
    assert state.id_blocks == () and state.sequences["clordid.P1"] == 5
    kept = archived(env, "2012-06-22")
    assert set(kept["parents"]) == {"P1"} and set(kept["children"]) == {"P1.1", "P1.2"}
    assert set(kept["fills"]) == {"E1", "E2"} and set(kept["sequences"]) == {"clordid.P1"}
    assert '"qty":100' in kept["fills"]["E1"]
    assert store2.archived == 0, "counts what this store moved"
    assert await store2.reserve_block(5, "clordid.P1") == (6, 10), "no ClOrdID is reused"
    await store2.close()


async def test_a_record_that_cannot_be_written_refuses_the_whole_archive(
    store: WriteBehindStore,
) -> None:
    store.put_child("C1", {"cl_ord_id": "C1"})
    store.put_child("C2", {"cl_ord_id": "C2", "bad": float("nan")})  # a bug of ours
    store.add_fill("E1", {"cl_ord_id": "C1", "qty": 1})
    with pytest.raises(StateError, match="cannot archive child C2: not JSON"):
        store.archive("2012-06-22", [], ["C1", "C2"], [], {"AAPL": (1, 1.0, 0, 0.0)})
    mirror = store.snapshot()
    assert set(mirror.children) == {"C1", "C2"} and set(mirror.fills) == {"E1"}
    assert dict(mirror.carry) == {}, "nothing moved, the carry unchanged"


async def test_an_archive_is_written_after_every_record_queued_before_it(env: Env) -> None:
    store = await env.opened(batch=3)  # the archive lands in a later batch than most records
    for n in range(7):
        store.put_child(f"C{n}", {"cl_ord_id": f"C{n}", "v": 1})
    store.put_child("C0", {"cl_ord_id": "C0", "v": 2})  # the latest record is the one archived
    store.archive("2012-06-22", [], ["C0", "C1"], [], {})
    store.put_child("C9", {"cl_ord_id": "C9", "v": 1})
    await store.flush()
    assert store.archived == 2
    store2, state = await reopened(env, store)
    assert set(state.children) == {f"C{n}" for n in (2, 3, 4, 5, 6, 9)}
    assert archived(env, "2012-06-22")["children"]["C0"] == '{"cl_ord_id":"C0","v":2}'
    await store2.close()


async def test_the_carry_accumulates_and_the_latest_wins(env: Env, store: WriteBehindStore) -> None:
    store.archive("2012-06-22", [], [], [], {"AAPL": (100, 1e8, 0, 0.0)})
    store.archive(
        "2012-06-23", [], [], [], {"AAPL": (100, 1e8, 50, 5.1e7), "MSFT": (0, 0.0, 7, 7.0)}
    )
    store2, state = await reopened(env, store)
    assert dict(state.carry) == {"AAPL": (100, 1e8, 50, 5.1e7), "MSFT": (0, 0.0, 7, 7.0)}
    await store2.close()


async def test_an_archive_survives_an_outage_and_moves_nothing_twice(env: Env) -> None:
    store = await env.opened()
    store.put_child("C1", {"cl_ord_id": "C1"})
    await store.flush()
    env.outage()
    store.archive("2012-06-22", [], ["C1"], [], {"AAPL": (1, 1.0, 0, 0.0)})
    with pytest.raises(StateError):
        await store.flush()
    env.restore()
    await store.flush()
    await store.flush()
    store2, state = await reopened(env, store)
    assert state.children == {} and dict(state.carry) == {"AAPL": (1, 1.0, 0, 0.0)}
    assert set(archived(env, "2012-06-22")["children"]) == {"C1"}
    await store2.close()


async def test_bad_archive_calls_are_refused(store: WriteBehindStore) -> None:
    with pytest.raises(StateError, match="YYYY-MM-DD"):
        store.archive("22/06/2012", [], [], [], {})
    with pytest.raises(StateError, match="AAPL sold shares is -1"):
        store.archive("2012-06-22", [], [], [], {"AAPL": (0, 0.0, -1, 0.0)})
    with pytest.raises(StateError, match="AAPL bought notional is nan"):
        store.archive("2012-06-22", [], [], [], {"AAPL": (0, float("nan"), 0, 0.0)})
    assert store.queue_depth == 0, "a refused archive changes nothing"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "not an object"),
        ('{"AAPL": [1, 2.0]}', r"AAPL: expected \[bought shares"),
        ('{"AAPL": [1.5, 2.0, 0, 0.0]}', "AAPL bought shares is 1.5"),
        ('{"AAPL": [1, "x", 0, 0.0]}', "AAPL bought notional is 'x', not a number"),
        ("{", "not JSON"),
    ],
)
async def test_an_unreadable_carry_names_it(env: Env, text: str, message: str) -> None:
    env.corrupt_meta("carry", text)
    s = env.store()
    await s.open()
    with pytest.raises(StateError, match=rf"meta 'carry'.*{message}"):
        await s.load()
    await s.close()


@pytest.mark.redis
async def test_a_password_redis_does_not_check_is_warned_about(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis 6+ takes any password for a `nopass` user: a URL's password then protects
    nothing. A user that has a password is not warned about."""
    parts = urlsplit(redis_url)
    where = f"{parts.hostname}:{parts.port or 6379}{parts.path}"
    direct = redis.Redis.from_url(redis_url)
    user = f"rlexec-test-{uuid.uuid4().hex[:8]}"
    direct.acl_setuser(user, enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    warned: dict[str, bool] = {}
    try:
        for name, url in (("wrong password, nopass user", f"redis://:wrong@{where}"),
                          ("no password", f"redis://{where}"),
                          ("real password", f"redis://{user}:s3cret@{where}")):  # fmt: skip
            caplog.clear()
            store = RedisStateStore(url, f"t{uuid.uuid4().hex[:8]}")
            await store.open()
            await store.close()
            warned[name] = any("state_store_password_unchecked" in r.getMessage()
                               for r in caplog.records)  # fmt: skip
    finally:
        direct.acl_deluser(user)
        direct.close()
    assert warned == {"wrong password, nopass user": True, "no password": False,
                      "real password": False}  # fmt: skip


@pytest.mark.redis
async def test_archived_days_expire_in_redis(redis_url: str) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}"
    store = RedisStateStore(redis_url, namespace, archive_ttl_s=3 * 86_400)
    await store.open()
    await store.load()
    store.put_child("C1", {"cl_ord_id": "C1"})
    store.archive("2012-06-22", [], ["C1"], [], {})
    await store.close()
    direct = redis.Redis.from_url(redis_url)
    try:
        ttl = direct.ttl(f"{namespace}:archive:2012-06-22:children")
        assert 3 * 86_400 - 60 < ttl <= 3 * 86_400
        assert direct.ttl(f"{namespace}:state:children") == -2, "the live hash is gone (empty)"
    finally:
        direct.close()
    with pytest.raises(StateError, match="archive TTL must be positive"):
        RedisStateStore(redis_url, namespace, archive_ttl_s=0)


async def test_archived_days_expire_in_the_memory_store_as_in_redis() -> None:
    now = [1_000.0]
    backend = MemoryBackend(archive_ttl_s=3 * 86_400, clock=lambda: now[0])
    store = MemoryStateStore(backend)
    await store.open()
    await store.load()
    for n, day in enumerate(("2012-06-21", "2012-06-22", "2012-06-25")):
        store.put_child(f"C{n}", {"cl_ord_id": f"C{n}"})
        store.archive(day, [], [f"C{n}"], [], {})
        await store.flush()
        now[0] += 2 * 86_400
    # Written at 1,000 s, 2 days and 4 days later: at the third, the first is 4 days old.
    assert set(backend.archives) == {"2012-06-22", "2012-06-25"}
    assert set(backend.archives["2012-06-25"]["children"]) == {"C2"}
    assert not backend.data.children, "archived children left the live state"
    await store.close()
    with pytest.raises(StateError, match="archive TTL must be positive"):
        MemoryBackend(archive_ttl_s=0)
    with pytest.raises(StateError, match="set it on the MemoryBackend"):
        MemoryStateStore(backend, archive_ttl_s=60)


# -- the kill switch ----------------------------------------------------------------------------


async def test_halted_survives_a_restart(env: Env, store: WriteBehindStore) -> None:
    switch = KillSwitch(store.kill_switch_store(), clock=clock, initialise=True)
    assert switch.state is KillState.ACTIVE
    switch.halt("ops", "test")
    store2, state = await reopened(env, store)
    assert state.kill is not None and state.kill.state is KillState.HALTED
    again = KillSwitch(store2.kill_switch_store(), clock=clock, initialise=True)
    assert again.state is KillState.HALTED
    assert [t.action for t in again.history] == ["initialise", "halt"]
    await store2.close()


async def test_a_loosening_that_cannot_be_saved_raises_and_stays_closed(
    env: Env, store: WriteBehindStore
) -> None:
    switch = KillSwitch(store.kill_switch_store(), clock=clock, initialise=True)
    switch.halt("ops", "test")
    env.outage()
    with pytest.raises(StateError, match="save the kill switch"):
        switch.resume("risk", "all clear")
    assert switch.state is KillState.HALTED
    env.restore()
    store2, state = await reopened(env, store)
    assert state.kill is not None and state.kill.state is KillState.HALTED
    switch = KillSwitch(store2.kill_switch_store(), clock=clock)
    switch.resume("risk", "all clear")
    assert KillSwitch(store2.kill_switch_store(), clock=clock).state is KillState.ACTIVE
    await store2.close()


async def test_an_unreachable_kill_store_starts_halted(env: Env, store: WriteBehindStore) -> None:
    KillSwitch(store.kill_switch_store(), clock=clock, initialise=True)
    env.outage()
    switch = KillSwitch(store.kill_switch_store(), clock=clock, initialise=True)
    assert switch.state is KillState.HALTED
    assert "load the kill switch" in switch.history[-1].why
    env.restore()


# -- ClOrdID blocks -------------------------------------------------------------------------------


async def test_blocks_never_overlap_across_restarts_and_stay_open_until_closed(env: Env) -> None:
    s = await env.opened()
    a = await s.reserve_block(100)
    b = await s.reserve_block(50)
    assert a == (1, 100) and b == (101, 150)
    s2, state = await reopened(env, s)
    assert state.id_blocks == (IdBlock("clordid", 1, 100), IdBlock("clordid", 101, 150))
    assert state.sequences == {"clordid": 150}
    c = await s2.reserve_block(10)
    assert c == (151, 160)
    s2.close_block(IdBlock("clordid", 1, 100))
    s3, state = await reopened(env, s2)
    assert [blk.start for blk in state.id_blocks] == [101, 151]
    assert await s3.reserve_block(1, "other") == (1, 1), "counters are independent by name"
    await s3.close()


async def test_two_concurrent_allocators_never_hand_out_the_same_id(env: Env) -> None:
    s1, s2 = await env.opened(), await env.opened()
    issued: list[str] = []

    async def use(allocator: ClOrdIdAllocator, n: int) -> None:
        await allocator.start()
        while n:
            try:
                issued.append(allocator.next())
                n -= 1
            except IdsExhausted:
                pass
            await asyncio.sleep(0)

    a1 = ClOrdIdAllocator(s1, "X", block=7, low_water=3)
    a2 = ClOrdIdAllocator(s2, "X", block=5, low_water=2)
    await asyncio.gather(use(a1, 300), use(a2, 300))
    assert len(issued) == 600 and len(set(issued)) == 600
    await s1.close()
    await s2.close()


async def test_allocator_says_exhausted_rather_than_reuse_and_recovers(env: Env) -> None:
    s = await env.opened()
    alloc = ClOrdIdAllocator(s, "A-", block=4, low_water=1, retry_s=0.01)
    await alloc.start()
    env.outage()
    ids = [alloc.next() for _ in range(4)]
    assert ids == ["A-1", "A-2", "A-3", "A-4"]
    await asyncio.sleep(0.05)  # the background reservation fails meanwhile
    with pytest.raises(IdsExhausted, match="1-4 used up"):
        alloc.next()
    assert alloc.last_error is not None
    env.restore()
    got: str | None = None
    async with asyncio.timeout(5):
        while got is None:  # each refused next() retries the reservation (at most every 10 ms)
            with suppress(IdsExhausted):
                got = alloc.next()
            await asyncio.sleep(0.005)
    assert got == "A-5"
    await s.close()


async def test_a_used_up_block_closes_behind_its_records(env: Env, store: WriteBehindStore) -> None:
    alloc = ClOrdIdAllocator(store, "A", block=3, low_water=1)
    await alloc.start()
    for _ in range(3):
        cl = alloc.next()
        store.put_child(cl, {"cl_ord_id": cl, "current_cl_ord_id": cl, "pending_cl_ord_id": None})
    await until(lambda: alloc.remaining == 3)  # the spare block 4-6 is reserved
    assert len(store.snapshot().id_blocks) == 2
    cl = alloc.next()  # moves to the next block: block 1-3 is closed behind the three children
    assert cl == "A4"
    store2, state = await reopened(env, store)
    assert state.id_blocks == (IdBlock("clordid", 4, 6),)
    assert set(state.children) == {"A1", "A2", "A3"}
    assert ids_to_ask(state, "A") == ["A4", "A5", "A6"], "A4 was handed out, never recorded"
    await store2.close()


async def test_ids_to_ask_skips_every_id_a_child_names(store: WriteBehindStore) -> None:
    await store.reserve_block(5)
    store.put_child("1", {"cl_ord_id": "1", "current_cl_ord_id": "3", "pending_cl_ord_id": "4"})
    assert ids_to_ask(store.snapshot(), "") == ["2", "5"]
    assert ids_to_ask(store.snapshot(), "", sequence="other") == []


# -- write-behind under pressure ---------------------------------------------------------------


async def test_overflow_calls_back_once_and_keeps_every_record(env: Env) -> None:
    reasons: list[str] = []
    s = await env.opened(max_queue=5, on_overflow=reasons.append)
    for i in range(20):  # no writer running: the queue only grows
        s.put_child(f"C{i}", {"i": i})
    assert len(reasons) == 1 and "write-behind queue 6 > max 5" in reasons[0]
    assert s.queue_depth == 20
    ok, detail = s.healthy()
    assert not ok and "20 > max 5" in detail
    await s.flush()
    assert s.healthy()[0]
    s2, state = await reopened(env, s)
    assert state.children == {f"C{i}": {"i": i} for i in range(20)}
    await s2.close()


async def test_an_outage_is_counted_queues_everything_and_writes_resume(env: Env) -> None:
    reasons: list[str] = []
    s = await env.opened(max_queue=30, batch=10, on_overflow=reasons.append)
    writer = asyncio.create_task(s.run())
    s.put_parent("P0", {"before": True})
    await until(lambda: s.queue_depth == 0)
    env.outage()
    for i in range(50):
        s.put_child(f"C{i}", {"i": i})
        s.add_fill(f"E{i}", {"i": i})
        await asyncio.sleep(0)
    await until(lambda: s.errors >= 2)
    ok, detail = s.healthy()
    assert not ok and "writes failing" in detail
    assert s.queue_depth == 100 and s.last_error is not None
    assert reasons, "an over-full queue halts trading"
    env.restore()
    await until(lambda: s.queue_depth == 0)
    assert s.healthy()[0]
    writer.cancel()
    s2, state = await reopened(env, s)
    assert state.parents == {"P0": {"before": True}}
    assert state.children == {f"C{i}": {"i": i} for i in range(50)}
    assert list(state.fills) == [f"E{i}" for i in range(50)]
    await s2.close()


async def test_close_says_how_many_records_it_could_not_write(env: Env) -> None:
    s = await env.opened()
    s.put_child("C1", {})
    env.outage()
    with pytest.raises(StateError, match="closed with 1 records unwritten"):
        await s.close()
    env.restore()


async def test_run_stops_after_close(store: WriteBehindStore) -> None:
    writer = asyncio.create_task(store.run())
    store.put_parent("P", {})
    await store.close()
    async with asyncio.timeout(2):
        await writer


async def test_fix_session_stores_live_in_the_same_backend(env: Env) -> None:
    s = await env.opened()
    fix = s.session_store("FIX.4.4", "ME", "VENUE")
    await fix.open()
    fix.save_message(1, b"35=D")
    await fix.sync()
    await fix.close()
    fix2 = s.session_store("FIX.4.4", "ME", "VENUE")
    state = await fix2.open()
    assert state.next_sender_seq == 2
    assert await fix2.messages(1, 1) == [(1, b"35=D")]
    await fix2.close()
    if env.kind == "redis":
        assert env.direct.exists(f"{env.namespace}:fix:FIX.4.4:ME:VENUE:msgs")
    await s.close()


def test_unreachable_redis_is_a_clear_error() -> None:
    async def scenario() -> None:
        s = RedisStateStore("redis://127.0.0.1:1/14", timeout_s=0.2)
        with pytest.raises(StateError, match=r"redis 127\.0\.0\.1:1/14 rlexec: cannot connect"):
            await s.open()
        await s.close()

    asyncio.run(scenario())


def test_an_unknown_url_option_is_refused_at_once_without_the_password() -> None:
    with pytest.raises(StateError, match=r"unexpected keyword argument 'foo'") as info:
        RedisStateStore("redis://user:s3cretpw@127.0.0.1:6379/14?foo=bar")
    assert "s3cretpw" not in str(info.value) and "user:***@" in str(info.value)


# -- a model check ------------------------------------------------------------------------------

_ids = st.sampled_from(["a", "b", "c", "d"])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("parent"), _ids, st.integers(0, 9)),
        st.tuples(st.just("child"), _ids, st.integers(0, 9)),
        st.tuples(st.just("fill"), _ids, st.integers(0, 9)),
        st.tuples(st.just("flush"), st.just(""), st.just(0)),
        st.tuples(st.just("restart"), st.just(""), st.just(0)),
    ),
    max_size=30,
)


def _model_check(make: Callable[[], Env], ops: list[tuple[str, str, int]]) -> None:
    async def scenario() -> None:
        env = make()
        parents: dict[str, dict[str, int]] = {}
        children: dict[str, dict[str, int]] = {}
        fills: dict[str, dict[str, int]] = {}
        s = await env.opened(batch=2)
        try:
            for op, key, value in ops:
                if op == "parent":
                    s.put_parent(key, {"v": value})
                    parents[key] = {"v": value}
                elif op == "child":
                    s.put_child(key, {"v": value})
                    children[key] = {"v": value}
                elif op == "fill":
                    assert s.add_fill(key, {"v": value}) is (key not in fills)
                    fills.setdefault(key, {"v": value})
                elif op == "flush":
                    await s.flush()
                else:
                    s, state = await reopened(env, s)
                    assert (state.parents, state.children) == (parents, children)
                    assert list(state.fills.items()) == list(fills.items())
            seen = s.snapshot()
            assert (seen.parents, seen.children) == (parents, children)
            assert list(seen.fills.items()) == list(fills.items())
        finally:
            await s.close()
            env.close()

    asyncio.run(scenario())


@settings(max_examples=150, deadline=None)
@given(ops=_ops)
def test_memory_store_matches_a_dict_model(ops: list[tuple[str, str, int]]) -> None:
    _model_check(lambda: Env("memory", None), ops)


@pytest.mark.redis
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops)
def test_redis_store_matches_a_dict_model(redis_url: str, ops: list[tuple[str, str, int]]) -> None:
    _model_check(lambda: Env("redis", REDIS_URL, relayed=False), ops)


class SwallowingBackend(MemoryBackend):
    """A client library that turns a cancel during a write into an error of its own, as some
    do: the writer must still stop when cancelled (a shutdown awaits it)."""

    async def write(self, batch: Any) -> None:
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            raise StateError("memory: connection reset during a write") from None
        await super().write(batch)


async def test_a_cancel_swallowed_inside_a_write_still_stops_the_writer() -> None:
    store = MemoryStateStore(SwallowingBackend(), retry_min_s=0.01, retry_max_s=0.02)
    await store.open()
    await store.load()
    writer = asyncio.create_task(store.run())
    store.put_child("C1", {"cl_ord_id": "C1"})
    await asyncio.sleep(0.05)  # the writer is inside the backend's write
    writer.cancel()
    done, _ = await asyncio.wait({writer}, timeout=2.0)
    assert done and writer.cancelled(), "the writer went on retrying after its cancel"
