"""What a hostile or broken counterparty can do to the FIX layer (issue 13, items 1-6).

Each test reproduces one attack over real loopback sockets (or, for the framer, on the
framer itself) and asserts that the FIX layer answers it as the FIX rules say and stays
bounded: no traceback out of the receive path, no unbounded buffer, no quadratic work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.codec import FieldValue, FixFramer, Garbled, encode_pairs
from rlexec.gateway.config import AcceptorConfig, Role, SessionConfig
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from tests.gateway.peer import FixPeer, PeerClosedError, Recorder

ORDER: list[tuple[int, FieldValue]] = [
    (11, "ord-1"),
    (55, "AAPL"),
    (54, "1"),
    (38, 100),
    (40, "2"),
    (44, "585.33"),
]
HUGE = "9" * 5_000
"""More digits than int() converts (4,300): today's int() raised out of the receive path."""


class Venue:
    def __init__(self, acceptor: FixAcceptor, session: FixSession, app: Recorder) -> None:
        self.acceptor = acceptor
        self.session = session
        self.app = app

    @property
    def port(self) -> int:
        return self.acceptor.port

    async def peer(self, sender: str = "CLIENT") -> FixPeer:
        return await FixPeer.connect(self.port, sender=sender)

    def refused(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "rlexec_fix_connections_refused_total", {"reason": reason}
        )
        return value or 0.0

    @property
    def metrics(self) -> GatewayMetrics:
        return self.acceptor.metrics


async def start_venue(limits: AcceptorConfig | None = None, **overrides: object) -> Venue:
    settings_: dict[str, object] = {"role": Role.ACCEPTOR, "logon_timeout": 2.0}
    settings_.update(overrides)
    config = SessionConfig("VENUE", "CLIENT", **settings_)  # type: ignore[arg-type]
    app = Recorder()
    metrics = GatewayMetrics()
    session = FixSession(config, MemoryStore(), app, metrics)
    acceptor = FixAcceptor([session], limits=limits or AcceptorConfig(unbound_timeout=2.0))
    await acceptor.start()
    return Venue(acceptor, session, app)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    v = await start_venue()
    yield v
    await v.acceptor.stop(grace=0.5)


async def logged_on(venue: Venue, heartbeat: float = 5) -> FixPeer:
    peer = await venue.peer()
    await peer.logon(heartbeat)
    async with asyncio.timeout(2):
        await venue.session.wait_logged_on()
    return peer


async def until_closed(peer: FixPeer, within: float = 3.0) -> list[FixMessage]:
    """What arrives before the session closes; a reset (we had sent unread data) ends it too,
    and may swallow the last messages, so callers check the session's own record as well."""
    got: list[FixMessage] = []
    try:
        while True:
            got.append(await peer.receive(within))
    except (PeerClosedError, ConnectionResetError):
        return got


async def disconnected(session: FixSession) -> None:
    async with asyncio.timeout(3):
        await session.wait_disconnected()


# -- 1. the framer is linear in the bytes received -----------------------------------------


def test_feeding_a_message_one_byte_at_a_time_is_linear_work() -> None:
    big = encode_pairs([(8, "FIX.4.4"), (35, "D"), (34, 1), (58, "x" * 50_000)])
    # Inner 8=FIX marks make the old look-ahead rescan everything on every read.
    tricky = encode_pairs([(8, "FIX.4.4"), (35, "D"), (34, 2), (58, "8=FIX.4.4\x01" * 2_000)])
    for wire in (big, tricky):
        framer = FixFramer()
        out: list[bytes | Garbled] = []
        for i in range(len(wire)):
            out += framer.feed(wire[i : i + 1])
        assert out == [wire]
        assert framer.work <= 8 * len(wire), f"{framer.work} units of work for {len(wire)} bytes"


def test_a_trickled_too_long_body_length_is_still_garbled_with_linear_work() -> None:
    good = encode_pairs([(8, "FIX.4.4"), (35, "0"), (34, 5)])
    liar = b"8=FIX.4.4\x019=900000\x0135=D\x0158=" + b"y" * 20_000 + good
    framer = FixFramer()
    out: list[bytes | Garbled] = []
    for i in range(len(liar)):
        out += framer.feed(liar[i : i + 1])
    assert isinstance(out[0], Garbled) and "runs past the end" in out[0].reason
    assert out[-1] == good
    assert framer.work <= 8 * len(liar)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                encode_pairs([(8, "FIX.4.4"), (35, "0"), (34, 1)]),
                encode_pairs([(8, "FIX.4.4"), (35, "D"), (58, "8=FIX.4.4")]),
                b"8=FIX.4.4\x019=300\x0135=D\x01",
                b"garbage\x01",
                b"8=FIX",
            ]
        ),
        max_size=8,
    ),
    st.data(),
)
def test_trickling_gives_what_one_read_gives(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    whole = FixFramer(max_body_length=4096)
    expected = whole.feed(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = FixFramer(max_body_length=4096)
    got: list[bytes | Garbled] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        got += framer.feed(stream[last:cut])
        last = cut
    # Every complete message comes out either way, in order; so does the held tail.
    assert [m for m in got if isinstance(m, bytes)] == [m for m in expected if isinstance(m, bytes)]
    assert framer.pending == whole.pending


# -- 2. huge integers are rejected by the FIX rules, never raised ------------------------


async def test_a_logon_with_a_huge_msg_seq_num_is_logged_out_naming_the_tag(venue: Venue) -> None:
    peer = await venue.peer()
    await peer.send_raw(
        encode_pairs(
            [
                (8, "FIX.4.4"),
                (35, "A"),
                (49, "CLIENT"),
                (56, "VENUE"),
                (34, HUGE),
                (52, "20240101-00:00:00.000"),
                (98, 0),
                (108, 5),
            ]
        )
    )
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert "MsgSeqNum (34)" in (got[0].get_str(58) or "")
    await peer.close()
    # The session is unharmed: its owner logs on next.
    owner = await logged_on(venue)
    await owner.close()


async def test_a_logon_with_a_huge_heart_bt_int_is_refused(venue: Venue) -> None:
    peer = await venue.peer()
    await peer.send("A", [(98, 0), (108, HUGE)])
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert "HeartBtInt (108)" in (got[0].get_str(58) or "")
    await peer.close()


async def test_a_huge_msg_seq_num_after_logon_logs_out_without_a_traceback(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    peer = await logged_on(venue)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        await peer.send("0", seq=HUGE)
        got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert "MsgSeqNum (34)" in (got[0].get_str(58) or "")
    assert "Fatal error" not in caplog.text
    await peer.close()


async def test_huge_admin_integers_get_a_session_reject_naming_the_tag(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("2", [(7, HUGE), (16, 0)])
    reject = await peer.expect("3")
    assert (reject.get(371), reject.get(373)) == (b"7", b"6")
    await peer.send("4", [(123, "Y"), (36, HUGE)])
    reject = await peer.expect("3")
    assert reject.get(371) == b"36"
    # Still logged on and in sequence.
    await peer.send("1", [(112, "still-there")])
    assert (await peer.expect("0")).get(112) == b"still-there"
    await peer.close()


async def test_a_huge_tag_number_is_garbled_not_raised(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", [*ORDER, (int("9" * 30), "x")], seq=2)  # a tag outside the cache
    # Garbled: ignored without consuming its sequence number.
    await peer.send("1", [(112, "after")], seq=2)
    assert (await peer.expect("0")).get(112) == b"after"
    await peer.close()


# -- 3. resend amplification and write backpressure ---------------------------------------


async def test_a_resend_request_flood_is_throttled_and_disconnected() -> None:
    venue = await start_venue(max_resend_requests=3, resend_window=10.0)
    try:
        peer = await logged_on(venue)
        for i in range(20):
            venue.session.send(b"8", b"11=x%d\x01" % i)
        for _ in range(20):
            await peer.expect("8")
        for _ in range(30):
            await peer.send("2", [(7, 1), (16, 0)])
        got = await until_closed(peer)
        # At most the allowed requests are answered, then a Logout naming the limit.
        assert len([m for m in got if m.msg_type == b"8"]) <= 3 * 20
        logouts = [m.get_str(58) or "" for m in got if m.msg_type == b"5"]
        assert all("ResendRequests" in text for text in logouts)
        await peer.close()
        await disconnected(venue.session)
        counts = venue.session.metrics.counts()
        assert counts["disconnects_protocol_error"] == 1
        assert counts["resend_requests_received"] <= 30
        refused = venue.metrics.registry.get_sample_value(
            "rlexec_fix_resend_requests_refused_total", {"session": venue.session.name}
        )
        assert refused == 1
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_a_peer_that_does_not_read_is_disconnected_as_a_slow_consumer() -> None:
    venue = await start_venue(max_write_buffer=256 << 10)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", venue.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        peer = FixPeer(reader, writer)
        await peer.logon()
        async with asyncio.timeout(2):
            await venue.session.wait_logged_on()
        filler = b"58=" + b"z" * 1000 + b"\x01"
        for _ in range(20_000):
            if not venue.session.is_logged_on:
                break
            venue.session.send(b"8", filler)
            await asyncio.sleep(0)
        await disconnected(venue.session)
        assert venue.session.metrics.counts()["disconnects_slow_consumer"] == 1
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


# -- 4. the out-of-sequence queue is bounded in bytes ---------------------------------------


async def test_the_out_of_sequence_queue_is_bounded_in_bytes() -> None:
    venue = await start_venue(max_queued_bytes=100_000)
    try:
        peer = await logged_on(venue)
        for seq in range(10, 20):
            await peer.send("D", [*ORDER, (58, "q" * 20_000)], seq=seq)
        got = await until_closed(peer)
        assert got[0].msg_type == b"2"  # the ResendRequest for the gap
        await disconnected(venue.session)
        assert venue.session.metrics.counts()["disconnects_protocol_error"] == 1
        assert "bytes queued behind a gap" in " ".join(m.get_str(58) or "" for m in got) or (
            len(got) == 1  # the Logout was lost to the reset
        )
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


# -- 5. the memory store is trimmed; a resend of trimmed messages is a GapFill ---------------


async def test_memory_store_keeps_only_the_newest_messages() -> None:
    store = MemoryStore(max_messages=5)
    for seq in range(1, 11):
        store.save_message(seq, b"m%d" % seq)
    assert [s for s, _ in await store.messages(1, 10)] == [6, 7, 8, 9, 10]
    assert store.next_sender_seq == 11
    with pytest.raises(ValueError, match="max_messages"):
        MemoryStore(max_messages=0)


async def test_a_resend_of_trimmed_messages_is_answered_with_a_gap_fill() -> None:
    config = SessionConfig("VENUE", "CLIENT", Role.ACCEPTOR)
    session = FixSession(config, MemoryStore(max_messages=3), Recorder())
    acceptor = FixAcceptor([session])
    await acceptor.start()
    try:
        peer = await FixPeer.connect(acceptor.port)
        await peer.logon()
        for i in range(6):  # seq 2..7; only 5, 6, 7 are kept
            session.send(b"8", b"11=x%d\x01" % i)
        for _ in range(6):
            await peer.expect("8")
        await peer.send("2", [(7, 1), (16, 0)])
        fill = await peer.expect("4")
        assert (fill.get(34), fill.get(123), fill.get(36)) == (b"1", b"Y", b"5")
        assert [(await peer.expect("8")).get_int(34) for _ in range(3)] == [5, 6, 7]
        await peer.close()
    finally:
        await acceptor.stop(grace=0.5)


# -- 6. squatting, brute force, connection and buffer caps, duplicate header tags ---------


async def test_heart_bt_int_zero_means_no_heartbeats_and_no_silence_timeout(venue: Venue) -> None:
    """FIX allows HeartBtInt 0: neither side heartbeats, silence is no timeout. It used to
    be refused; TCP keepalive now finds a dead peer that would otherwise hold the session."""
    peer = await venue.peer()
    reply = await peer.logon(heartbeat=0)
    assert reply.get(108) == b"0"
    assert venue.session.is_logged_on and venue.session.heartbeat_interval == 0
    await peer.expect_silence(1.0)  # no Heartbeat, no TestRequest, no Logout
    assert venue.session.is_logged_on
    conn = venue.session.connection
    assert conn is not None and conn.transport is not None
    sock = conn.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    await peer.send("1", [(112, "quiet-but-alive")])
    assert (await peer.expect("0")).get(112) == b"quiet-but-alive"
    await peer.close()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-5, "must not be negative"),
        ("-0.5", "must not be negative"),
        ("soon", "not a number"),
        ("nan", "not a number"),
        (86_400, "below 86400"),
    ],
)
async def test_a_bad_heart_bt_int_is_refused_naming_the_reason(
    venue: Venue, value: FieldValue, reason: str
) -> None:
    peer = await venue.peer()
    await peer.send("A", [(98, 0), (108, value)])
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    text = got[0].get_str(58) or ""
    assert "HeartBtInt (108)" in text and reason in text
    assert not venue.session.was_logged_on
    await peer.close()


async def test_junk_is_no_sign_of_life(venue: Venue) -> None:
    """Only a message counts as hearing from the peer. Junk (bytes that frame into nothing,
    a frame with a bad CheckSum) used to restart the silence timer, so a babbling peer was
    never declared dead; now it gets a TestRequest, then is dropped after 2.4 heartbeats."""
    peer = await logged_on(venue, heartbeat=0.3)
    heartbeat = peer.build("0")
    bad_checksum = heartbeat[:-4] + b"%03d\x01" % ((int(heartbeat[-4:-1]) + 1) % 256)

    async def babble() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await peer.send_raw(b"garbage\x01" + bad_checksum)
                await asyncio.sleep(0.05)

    started = time.monotonic()
    task = asyncio.create_task(babble())
    try:
        await disconnected(venue.session)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert time.monotonic() - started < 1.5
    metrics = venue.session.metrics
    assert metrics.counts()["disconnects_heartbeat_timeout"] == 1
    assert metrics.messages_out.get(b"1", 0) == 1  # the TestRequest it never answered
    assert metrics.counts()["garbled_received"] > 0
    await peer.close()


async def test_a_silent_logged_on_peer_is_dropped_after_2_4_heartbeats(venue: Venue) -> None:
    peer = await logged_on(venue, heartbeat=0.2)
    started = time.monotonic()
    await disconnected(venue.session)  # the peer never answers the TestRequest
    assert time.monotonic() - started < 1.5
    assert venue.session.metrics.counts()["disconnects_heartbeat_timeout"] == 1
    await peer.close()


async def test_repeated_bad_passwords_lock_out_the_comp_id_and_the_peer() -> None:
    limits = AcceptorConfig(max_failed_logons=3, lockout_s=30.0)
    venue = await start_venue(limits, username="alice", password="s3cret")
    try:
        answered = 0
        for _ in range(10):
            peer = await venue.peer()
            await peer.send("A", [(98, 0), (108, 5), (553, "alice"), (554, "guess")], seq=1)
            got = await peer.expect_closed()
            answered += len(got)
            await peer.close()
        assert answered == 3  # one Logout each for the first three, silence after
        assert venue.refused("locked_out") == 7
        # During the lockout even the right password is not checked.
        peer = await venue.peer()
        await peer.send("A", [(98, 0), (108, 5), (553, "alice"), (554, "s3cret")], seq=1)
        assert await peer.expect_closed() == []
        assert not venue.session.was_logged_on
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_connections_beyond_the_cap_are_closed_at_once() -> None:
    venue = await start_venue(AcceptorConfig(max_connections=3))
    try:
        held = [await venue.peer() for _ in range(3)]
        extra = await venue.peer()
        assert await extra.expect_closed(within=2) == []
        assert venue.refused("too_many_connections") == 1
        for p in [*held, extra]:
            await p.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_unauthenticated_bytes_are_capped(venue: Venue) -> None:
    peer = await venue.peer()
    # A partial frame of ~200 KB that never completes, sent before any Logon.
    await peer.send_raw(b"8=FIX.4.4\x019=900000\x0135=A\x0158=" + b"a" * 200_000)
    assert await until_closed(peer, within=2) == []
    assert venue.refused("unauthenticated_bytes") == 1
    await peer.close()


async def test_a_duplicated_msg_seq_num_is_rejected_not_sequenced_by_its_last_value(
    venue: Venue,
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", [(34, 7), *ORDER], seq=2)
    reject = await peer.expect("3")
    assert (reject.get(45), reject.get(371), reject.get(373)) == (b"2", b"34", b"13")
    assert venue.session.next_target_seq == 3
    await peer.send("1", [(112, "in-seq")], seq=3)
    assert (await peer.expect("0")).get(112) == b"in-seq"
    assert venue.app.received == []
    await peer.close()


async def test_the_silent_unbound_connection_is_dropped(venue: Venue) -> None:
    limits = AcceptorConfig(unbound_timeout=0.3)
    quick = await start_venue(limits)
    try:
        peer = await quick.peer()
        started = time.monotonic()
        with pytest.raises(PeerClosedError):
            await peer.receive(within=2)
        assert time.monotonic() - started < 1.5
        await peer.close()
    finally:
        await quick.acceptor.stop(grace=0.5)


@pytest.mark.parametrize(
    ("settings_", "key"),
    [
        ({"max_queued_bytes": 0}, "max_queued_bytes"),
        ({"max_resend_requests": 0}, "max_resend_requests"),
        ({"resend_window": 0}, "resend_window"),
        ({"max_write_buffer": 10}, "max_write_buffer"),
    ],
)
def test_new_session_bounds_are_validated(settings_: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        SessionConfig("A", "B", **settings_)  # type: ignore[arg-type]
    assert err.value.key == key


@pytest.mark.parametrize(
    ("settings_", "key"),
    [
        ({"max_connections": 0}, "max_connections"),
        ({"max_unauthenticated_bytes": 10}, "max_unauthenticated_bytes"),
        ({"max_failed_logons": 0}, "max_failed_logons"),
        ({"lockout_s": -1}, "lockout_s"),
        ({"unbound_timeout": 0}, "unbound_timeout"),
    ],
)
def test_acceptor_bounds_are_validated(settings_: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        AcceptorConfig(**settings_)  # type: ignore[arg-type]
    assert err.value.key == key
