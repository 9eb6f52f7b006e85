"""The FIX session test cases, one test each, against our session over real loopback sockets.

A scripted counterparty (tests/gateway/peer.py) plays the other side and sends exactly the
message each case calls for; the session under test runs as the acceptor unless the case is
about the initiator.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.clock import utc_timestamp
from rlexec.gateway.codec import FieldValue
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.errors import ConfigError, NotLoggedOnError, SessionStateError
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.session import FixSession
from rlexec.gateway.session_state import SessionEvent, SessionState, SessionStateMachine
from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.gateway.store_file import FileStore
from rlexec.gateway.store_redis import RedisStore
from tests.gateway.peer import DroppingProxy, FixPeer, PeerServer, Recorder

ORDER: list[tuple[int, FieldValue]] = [
    (11, "ord-1"),
    (55, "AAPL"),
    (54, "1"),
    (38, 100),
    (40, "2"),
    (44, "585.33"),
]


@dataclass
class Venue:
    acceptor: FixAcceptor
    session: FixSession
    app: Recorder

    @property
    def port(self) -> int:
        return self.acceptor.port

    async def peer(self) -> FixPeer:
        return await FixPeer.connect(self.port)


async def start_venue(store: SessionStore | None = None, **overrides: object) -> Venue:
    settings: dict[str, object] = {
        "role": Role.ACCEPTOR,
        "logon_timeout": 2.0,
        "logout_timeout": 1.0,
    }
    settings.update(overrides)
    config = SessionConfig("VENUE", "CLIENT", **settings)  # type: ignore[arg-type]
    app = Recorder()
    session = FixSession(config, store or MemoryStore(), app)
    acceptor = FixAcceptor([session], unbound_timeout=2.0)
    await acceptor.start()
    return Venue(acceptor, session, app)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    v = await start_venue()
    yield v
    await v.acceptor.stop(grace=0.5)


@pytest.fixture
async def peer(venue: Venue) -> AsyncIterator[FixPeer]:
    p = await venue.peer()
    yield p
    await p.close()


async def logged_on(venue: Venue, peer: FixPeer, heartbeat: float = 5) -> None:
    await peer.logon(heartbeat)
    async with asyncio.timeout(2):
        await venue.session.wait_logged_on()


async def disconnected(session: FixSession) -> None:
    async with asyncio.timeout(3):
        await session.wait_disconnected()


# -- logon ---------------------------------------------------------------------------------


async def test_valid_logon_is_answered_with_a_logon(venue: Venue, peer: FixPeer) -> None:
    reply = await peer.logon(heartbeat=7)
    assert reply.get(49) == b"VENUE" and reply.get(56) == b"CLIENT"
    assert reply.get_int(34) == 1
    assert reply.get(108) == b"7"
    assert venue.session.is_logged_on
    assert venue.session.heartbeat_interval == 7
    assert venue.app.logons == 1
    assert venue.session.next_target_seq == 2


async def test_logon_with_seq_too_high_is_accepted_then_a_resend_is_requested(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.logon(seq=5)
    assert venue.session.is_logged_on
    request = await peer.expect("2")
    assert (request.get_int(7), request.get_int(16)) == (1, 0)
    # Everything before the Logon was admin: one gap fill, then the queued Logon is consumed.
    await peer.send("4", [(123, "Y"), (36, 5)], seq=1, poss_dup=True)
    await peer.send("D", ORDER, seq=6)
    msg = await venue.app.next()
    assert msg.get_int(34) == 6
    assert venue.session.next_target_seq == 7


async def test_logon_from_an_unknown_comp_id_is_disconnected_without_an_answer(
    venue: Venue,
) -> None:
    stranger = await FixPeer.connect(venue.port, sender="STRANGER")
    await stranger.send("A", [(98, 0), (108, 5)])
    assert await stranger.expect_closed() == []
    await stranger.close()
    assert venue.session.next_target_seq == 1
    # the real client still logs on afterwards
    client = await venue.peer()
    await client.logon()
    await client.close()


async def test_a_second_connection_for_a_logged_on_session_is_refused(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    intruder = await venue.peer()
    await intruder.send("A", [(98, 0), (108, 5)], seq=2)
    assert await intruder.expect_closed() == []
    await intruder.close()
    assert venue.session.is_logged_on
    await peer.send("D", ORDER)  # the first connection is untouched and keeps its numbers
    assert (await venue.app.next()).get_int(34) == 2


async def test_logon_with_a_bad_begin_string_is_logged_out(venue: Venue, peer: FixPeer) -> None:
    await peer.send("A", [(98, 0), (108, 5)], begin="FIX.4.2")
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert "Incorrect BeginString FIX.4.2" in (got[0].get_str(58) or "")
    assert not venue.session.is_logged_on


async def test_first_message_not_a_logon_is_disconnected(venue: Venue, peer: FixPeer) -> None:
    await peer.send("D", ORDER)
    assert await peer.expect_closed() == []
    assert venue.app.received == []


async def test_no_logon_within_the_logon_timeout_is_disconnected(venue: Venue) -> None:
    silent = await venue.peer()
    started = time.monotonic()
    assert await silent.expect_closed(within=4) == []
    assert 1.5 < time.monotonic() - started < 3.5
    await silent.close()


async def test_logon_credentials_are_checked_by_the_acceptor() -> None:
    venue = await start_venue(username="alice", password="s3cret")
    try:
        wrong = await venue.peer()
        await wrong.send("A", [(98, 0), (108, 5), (553, "alice"), (554, "guess")])
        got = await wrong.expect_closed()
        assert [m.msg_type for m in got] == [b"5"]
        assert got[0].get_str(58) == "Invalid username or password"
        await wrong.close()
        right = await venue.peer()
        await right.logon(extra=[(553, "alice"), (554, "s3cret")], seq=1)
        assert venue.session.is_logged_on
        await right.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


# -- CompIDs, BeginString, header -----------------------------------------------------------


async def test_message_with_wrong_comp_id_gets_reject_9_then_logout(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, sender="IMPOSTOR")
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"3", b"5"]
    assert got[0].get_int(373) == 9 and got[0].get_int(371) == 49 and got[0].get_int(45) == 2
    assert venue.app.received == []


async def test_message_with_wrong_begin_string_gets_logout(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, begin="FIX.4.3")
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert venue.app.received == []


async def test_sending_time_outside_two_minutes_gets_reject_10_then_logout(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, sending_time=utc_timestamp(time.time() - 600))
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"3", b"5"]
    assert got[0].get_int(373) == 10


# -- sequence numbers -----------------------------------------------------------------------


async def test_seq_too_high_queues_and_requests_a_resend_once(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", [(11, "c4"), *ORDER[1:]], seq=4)
    await peer.send("D", [(11, "c5"), *ORDER[1:]], seq=5)
    request = await peer.expect("2")
    assert (request.get_int(7), request.get_int(16)) == (2, 0)
    await peer.expect_silence(0.3)  # the range is still open: no second request
    assert venue.app.received == []
    await peer.send(
        "D", [(11, "c2"), *ORDER[1:]], seq=2, poss_dup=True, orig_sending_time=utc_timestamp()
    )
    await peer.send("4", [(123, "Y"), (36, 4)], seq=3, poss_dup=True)
    ids = [(await venue.app.next()).get_str(11) for _ in range(3)]
    assert ids == ["c2", "c4", "c5"]
    assert venue.session.next_target_seq == 6


async def test_seq_too_low_without_poss_dup_is_logged_out(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER)  # 2
    await venue.app.next()
    await peer.send("D", ORDER, seq=2)
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert got[0].get_str(58) == "MsgSeqNum too low, expecting 3 but received 2"
    assert len(venue.app.received) == 1


async def test_poss_dup_already_received_is_ignored(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    first = utc_timestamp()
    await peer.send("D", ORDER, sending_time=first)  # 2
    await venue.app.next()
    await peer.send("D", ORDER, seq=2, poss_dup=True, orig_sending_time=first)
    await peer.expect_silence(0.3)
    await peer.send("D", [(11, "next"), *ORDER[1:]])  # 3
    assert (await venue.app.next()).get_str(11) == "next"
    assert len(venue.app.received) == 2


async def test_poss_dup_not_yet_received_is_processed(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, poss_dup=True, orig_sending_time=utc_timestamp(time.time() - 1))
    msg = await venue.app.next()
    assert msg.get(43) == b"Y"
    assert venue.session.next_target_seq == 3


async def test_poss_dup_without_orig_sending_time_is_rejected(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, poss_dup=True)
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371), reject.get_int(45)) == (1, 122, 2)
    assert venue.session.next_target_seq == 3
    assert venue.app.received == []


async def test_poss_dup_with_later_orig_sending_time_is_rejected_and_logged_out(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    now = time.time()
    await peer.send(
        "D",
        ORDER,
        poss_dup=True,
        sending_time=utc_timestamp(now),
        orig_sending_time=utc_timestamp(now + 5),
    )
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"3", b"5"]
    assert got[0].get_int(373) == 10 and got[0].get_int(371) == 122


# -- garbled messages -------------------------------------------------------------------------


def _corrupt_checksum(raw: bytes) -> bytes:
    return raw[:-4] + b"%03d\x01" % ((int(raw[-4:-1]) + 1) % 256)


def _corrupt_body_length(raw: bytes) -> bytes:
    start = raw.index(b"\x019=") + 3
    end = raw.index(b"\x01", start)
    return raw[:start] + str(int(raw[start:end]) + 3).encode() + raw[end:]


def _swap_first_fields(raw: bytes) -> bytes:
    parts = raw.split(b"\x01")
    parts[1], parts[2] = parts[2], parts[1]
    return b"\x01".join(parts)


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_checksum, _corrupt_body_length, _swap_first_fields],
    ids=["bad_checksum", "bad_body_length", "first_three_fields_out_of_order"],
)
async def test_garbled_message_is_ignored_without_consuming_its_seq(
    venue: Venue, peer: FixPeer, corrupt: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(corrupt)
    await logged_on(venue, peer)
    bad = peer.build("D", [(11, "garbled"), *ORDER[1:]], seq=2)
    with caplog.at_level(logging.WARNING, "rlexec.gateway"):
        await peer.send_raw(corrupt(bad))
        await peer.send("D", [(11, "good"), *ORDER[1:]], seq=2)
        msg = await venue.app.next()
    assert msg.get_str(11) == "good"
    assert venue.session.next_target_seq == 3
    garbled_lines = [r for r in caplog.records if "event=garbled_message" in r.getMessage()]
    assert len(garbled_lines) == 1


async def test_garbage_bytes_and_non_numeric_tags_never_cost_a_seq(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    await peer.send_raw(b"\x00\xffhello world\x01\x01")
    non_numeric = peer.build("D", ORDER, seq=2).replace(b"\x0155=", b"\x01AB=")
    await peer.send_raw(
        non_numeric.replace(non_numeric[-4:-1], b"%03d" % (sum(non_numeric[:-7]) % 256))
    )
    await peer.send_raw(b"8=FIX.4.4\x019=-5\x0135=D\x01")
    await peer.send_raw(b"8=FIX.4.4\x019=10485760\x0135=D\x01" + b"z" * 200_000)
    await peer.send("D", [(11, "after"), *ORDER[1:]], seq=2)
    assert (await venue.app.next()).get_str(11) == "after"
    assert venue.session.next_target_seq == 3
    assert venue.session.is_logged_on


async def test_interleaved_junk_never_costs_a_message_or_a_seq(venue: Venue, peer: FixPeer) -> None:
    """Random junk of every kind between 150 valid orders: all orders arrive, in order."""
    await logged_on(venue, peer)
    rng = random.Random(20240621)

    def junk() -> bytes:
        good = peer.build("D", ORDER, seq=rng.randint(1, 10**6))
        kind = rng.randrange(6)
        if kind == 0:
            return bytes(rng.randrange(256) for _ in range(rng.randint(1, 80)))
        if kind == 1:
            return good[: rng.randint(1, len(good) - 1)]  # a truncated message
        if kind == 2:
            return _corrupt_checksum(good)
        if kind == 3:
            return _corrupt_body_length(good)
        if kind == 4:
            return b"8=FIX.4.4\x019=%d\x0135=D\x01" % rng.choice([-1, 999_999, 10**8])
        flipped = bytearray(good)
        flipped[rng.randrange(len(flipped))] ^= 0x20
        return bytes(flipped)

    stream = b""
    for i in range(150):
        stream += junk() + peer.build("D", [(11, f"c{i}"), *ORDER[1:]])
    for start in range(0, len(stream), 997):  # arbitrary chunking
        await peer.send_raw(stream[start : start + 997])
    await peer.send("0")  # one last valid message flushes anything still waiting
    ids = [(await venue.app.next()).get_str(11) for _ in range(150)]
    assert ids == [f"c{i}" for i in range(150)]
    assert venue.session.is_logged_on
    assert venue.session.metrics.counts()["rejects_sent"] == 0


async def test_half_a_message_then_disconnect_loses_nothing(venue: Venue) -> None:
    first = await venue.peer()
    await logged_on(venue, first)
    raw = first.build("D", ORDER)
    await first.send_raw(raw[: len(raw) // 2])
    await first.close()
    await disconnected(venue.session)
    assert venue.session.next_target_seq == 2
    second = await venue.peer()
    second.seq = 2
    await second.logon()
    assert venue.session.next_target_seq == 3
    await second.send("D", ORDER)
    assert (await venue.app.next()).get_int(34) == 3
    await second.close()


# -- semantic rejects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "msg_type", "reason", "ref_tag"),
    [
        ([(11, "a"), (55, "AAPL"), (11, "b")], "D", 13, 11),
        ([(11, "a"), (58, "")], "D", 4, 58),
        ([(11, "a")], "ZZ", 11, 35),
        ([(7, 1)], "2", 1, 16),
        ([(7, "x"), (16, 0)], "2", 6, 7),
    ],
    ids=[
        "repeated_tag",
        "empty_value",
        "invalid_msg_type",
        "missing_end_seq_no",
        "bad_begin_seq_no",
    ],
)
async def test_semantically_bad_messages_get_a_session_reject_and_consume_the_seq(
    venue: Venue,
    peer: FixPeer,
    fields: list[tuple[int, object]],
    msg_type: str,
    reason: int,
    ref_tag: int,
) -> None:
    await logged_on(venue, peer)
    await peer.send(msg_type, fields)  # type: ignore[arg-type]
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371), reject.get_int(45)) == (reason, ref_tag, 2)
    assert venue.session.next_target_seq == 3
    assert venue.session.is_logged_on
    assert venue.app.received == []


async def test_missing_sending_time_is_rejected(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER, omit=[52])
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371)) == (1, 52)


@pytest.mark.parametrize(
    ("msg_type", "fields", "ref_tag"),
    [
        ("D", [*ORDER, (43, "X")], 43),
        ("D", [*ORDER, (97, "y")], 97),
        ("0", [(43, "YES")], 43),
        ("A", [(98, 0), (108, 5), (141, "X")], 141),
    ],
    ids=["poss_dup_on_an_order", "poss_resend_on_an_order", "poss_dup_on_admin", "reset_flag"],
)
async def test_a_session_flag_neither_y_nor_n_gets_reject_5_and_consumes_the_seq(
    venue: Venue, peer: FixPeer, msg_type: str, fields: list[tuple[int, FieldValue]], ref_tag: int
) -> None:
    """Such a value was read as "not Y": an order with 43=X reached the application as new,
    a Logon with 141=X logged the session out."""
    await logged_on(venue, peer)
    await peer.send(msg_type, fields)
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371), reject.get_int(45)) == (5, ref_tag, 2)
    assert "must be Y or N" in (reject.get_str(58) or "")
    assert venue.session.is_logged_on and venue.session.next_target_seq == 3
    assert venue.app.received == []
    await peer.send("1", [(112, "after")])
    assert (await peer.expect("0")).get(112) == b"after"


async def test_a_gap_fill_flag_neither_y_nor_n_is_rejected_not_read_as_a_reset(
    venue: Venue, peer: FixPeer
) -> None:
    """123=X used to make a SequenceReset-Reset, which ignores MsgSeqNum and moves the expected
    number anywhere. Rejected, it moves nothing; the valid GapFill that follows does."""
    await logged_on(venue, peer)
    await peer.send("4", [(123, "X"), (36, 10)], seq=2, poss_dup=True)
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371), reject.get_int(45)) == (5, 123, 2)
    assert venue.session.next_target_seq == 2
    await peer.send("4", [(123, "Y"), (36, 10)], seq=2, poss_dup=True)
    await peer.send("D", ORDER, seq=10)
    assert (await venue.app.next()).get_int(34) == 10


async def test_a_logon_with_a_reset_flag_neither_y_nor_n_is_refused(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.send("A", [(98, 0), (108, 5), (141, "X")])
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    assert "ResetSeqNumFlag (141) must be Y or N" in (got[0].get_str(58) or "")
    assert not venue.session.was_logged_on


async def test_valid_poss_dup_and_poss_resend_values_are_delivered(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    for flag in [(43, "N"), (97, "Y"), (97, "N")]:
        await peer.send("D", [*ORDER, flag])
    assert [(await venue.app.next()).get_int(34) for _ in range(3)] == [2, 3, 4]
    assert venue.session.metrics.counts()["rejects_sent"] == 0


# -- heartbeats -----------------------------------------------------------------------------


async def test_silence_brings_heartbeat_then_test_request_then_disconnect(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer, heartbeat=0.5)
    started = time.monotonic()
    heartbeat = await peer.expect("0")
    assert 0.4 < time.monotonic() - started < 0.9
    test_request = await peer.expect("1")
    assert test_request.get(112)
    assert 0.5 < time.monotonic() - started < 1.0
    await peer.expect_closed()
    assert 1.1 < time.monotonic() - started < 1.8
    assert heartbeat.get(112) is None
    assert venue.app.logouts == ["heartbeat_timeout"]


async def test_test_request_is_answered_with_its_id(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("1", [(112, "PING-42")])
    heartbeat = await peer.expect("0")
    assert heartbeat.get(112) == b"PING-42"


async def test_answering_a_test_request_keeps_the_session_alive(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer, heartbeat=0.5)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        msg = await peer.receive(1.0)
        if msg.msg_type == b"1":
            await peer.send("0", [(112, msg.fields[112])])
    assert venue.session.is_logged_on


# -- resend ---------------------------------------------------------------------------------


async def test_resend_request_resends_application_and_gap_fills_admin_messages(
    venue: Venue, peer: FixPeer
) -> None:
    await logged_on(venue, peer)
    venue.session.send(b"8", b"11=x1\x01150=0\x01")  # 2
    await peer.expect("8")
    await peer.send("1", [(112, "T")])  # our Heartbeat answer is 3
    await peer.expect("0")
    venue.session.send(b"8", b"11=x2\x01150=0\x01")  # 4
    original = await peer.expect("8")
    await peer.send("2", [(7, 1), (16, 0)])
    got = [await peer.receive() for _ in range(4)]
    assert [(m.msg_type, m.get_int(34)) for m in got] == [
        (b"4", 1),
        (b"8", 2),
        (b"4", 3),
        (b"8", 4),
    ]
    assert got[0].get_int(36) == 2 and got[0].get(123) == b"Y" and got[0].get(43) == b"Y"
    assert got[2].get_int(36) == 4
    assert got[3].get(43) == b"Y"
    assert got[3].get(122) == original.get(52)
    assert got[3].get(11) == b"x2"
    assert venue.session.next_sender_seq == 5  # resending consumed no new numbers


async def test_resend_of_a_refused_message_becomes_a_gap_fill(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    venue.session.send(b"8", b"11=stale\x01150=0\x01")  # 2
    await peer.expect("8")
    venue.app.refuse_resend = True
    await peer.send("2", [(7, 2), (16, 2)])
    fill = await peer.expect("4")
    assert (fill.get_int(34), fill.get_int(36)) == (2, 3)


async def test_sequence_reset_gap_fill_moves_the_expected_seq(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("4", [(123, "Y"), (36, 10)], seq=2, poss_dup=True)
    await peer.send("D", ORDER, seq=10)
    assert (await venue.app.next()).get_int(34) == 10
    assert venue.session.next_target_seq == 11


async def test_gap_fill_that_would_lower_the_seq_is_rejected(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("4", [(123, "Y"), (36, 2)], seq=2)
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371)) == (5, 36)
    assert venue.session.next_target_seq == 3


async def test_gap_fill_with_seq_too_high_requests_a_resend(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("4", [(123, "Y"), (36, 9)], seq=5, poss_dup=True)
    request = await peer.expect("2")
    assert request.get_int(7) == 2


@pytest.mark.parametrize(("new_seq", "expected_after"), [(20, 20), (2, 2)], ids=["higher", "equal"])
async def test_sequence_reset_reset_moves_forward_or_does_nothing(
    venue: Venue, peer: FixPeer, new_seq: int, expected_after: int
) -> None:
    await logged_on(venue, peer)
    await peer.send("4", [(36, new_seq)], seq=999)
    await peer.send("D", ORDER, seq=expected_after)
    assert (await venue.app.next()).get_int(34) == expected_after
    assert venue.session.next_target_seq == expected_after + 1


async def test_sequence_reset_reset_to_a_lower_seq_is_rejected(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("D", ORDER)  # 2
    await venue.app.next()
    await peer.send("4", [(36, 2)], seq=3)
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371)) == (5, 36)
    assert venue.session.next_target_seq == 3


async def test_a_resend_request_for_numbers_not_yet_sent_is_rejected_and_the_session_goes_on(
    venue: Venue, peer: FixPeer
) -> None:
    """Nothing to resend and nothing to gap-fill (a GapFill may only cover numbers sent): a
    Reject 373=5 naming BeginSeqNo says so, counted and logged, and the session carries on."""
    await logged_on(venue, peer)
    venue.session.send(b"8", b"11=e1\x01150=0\x01")  # our 2
    await peer.expect("8")
    await peer.send("2", [(7, 50), (16, 0)])  # 2
    reject = await peer.expect("3")
    assert (reject.get(45), reject.get(371), reject.get(373)) == (b"2", b"7", b"5")
    assert "beyond the last message sent (2)" in (reject.get_str(58) or "")
    await peer.send("2", [(7, 2), (16, 1)])  # 3: an empty range inside what we sent
    reject = await peer.expect("3")
    assert "BeginSeqNo 2 is after EndSeqNo 1" in (reject.get_str(58) or "")
    assert venue.session.is_logged_on and venue.session.next_target_seq == 4
    assert venue.session.metrics.counts()["rejects_sent"] == 2
    await peer.send("1", [(112, "after")])
    assert (await peer.expect("0")).get(112) == b"after"


async def test_simultaneous_resend_requests_are_both_served(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    venue.session.send(b"8", b"11=e1\x01150=0\x01")  # our 2
    await peer.expect("8")
    # Their ResendRequest arrives with a gap before it: we must answer it and ask for ours.
    await peer.send("2", [(7, 2), (16, 0)], seq=5)
    got = [await peer.receive() for _ in range(2)]
    kinds = sorted((m.msg_type, m.get_int(34)) for m in got)
    assert kinds == [(b"2", 3), (b"8", 2)]
    resent = next(m for m in got if m.msg_type == b"8")
    assert resent.get(43) == b"Y"
    ours = next(m for m in got if m.msg_type == b"2")
    assert (ours.get_int(7), ours.get_int(16)) == (2, 0)
    await peer.send("4", [(123, "Y"), (36, 5)], seq=2, poss_dup=True)
    await peer.send("D", ORDER, seq=6)
    assert (await venue.app.next()).get_int(34) == 6
    assert venue.session.next_target_seq == 7


# -- logout ---------------------------------------------------------------------------------


async def test_unsolicited_logout_is_answered_and_disconnected(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    await peer.send("5", [(58, "end of day")])
    got = await peer.expect_closed()
    assert [m.msg_type for m in got] == [b"5"]
    await disconnected(venue.session)
    assert venue.app.logouts == ["logout"]


async def test_our_logout_waits_for_the_answer(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    task = asyncio.create_task(venue.session.logout("bye"))
    logout = await peer.expect("5")
    assert logout.get_str(58) == "bye"
    assert venue.session.state.value == "logout_sent"
    await peer.send("5")
    async with asyncio.timeout(2):
        await task
    assert venue.session.state is SessionState.DISCONNECTED


async def test_our_logout_gives_up_after_the_logout_timeout(venue: Venue, peer: FixPeer) -> None:
    await logged_on(venue, peer)
    started = time.monotonic()
    async with asyncio.timeout(3):
        await venue.session.logout("bye", grace=0.3)
    assert 0.25 < time.monotonic() - started < 1.5
    await peer.expect("5")
    await peer.expect_closed()


async def test_send_while_not_logged_on_is_refused(venue: Venue) -> None:
    with pytest.raises(NotLoggedOnError, match="cannot send MsgType D while disconnected"):
        venue.session.send(b"D", b"11=x\x01")


# -- reset and restart -----------------------------------------------------------------------


async def test_reset_seq_num_flag_starts_both_sides_at_one(venue: Venue) -> None:
    first = await venue.peer()
    await logged_on(venue, first)
    await first.send("D", ORDER)
    await venue.app.next()
    await first.send("5")
    await first.expect("5")
    await first.close()
    await disconnected(venue.session)
    assert venue.session.next_target_seq == 4
    second = await venue.peer()
    reply = await second.logon(reset=True, seq=1)
    assert reply.get(141) == b"Y" and reply.get_int(34) == 1
    assert venue.session.next_sender_seq == 2 and venue.session.next_target_seq == 2
    await second.close()


async def test_reset_logon_not_consuming_seq_numbers_from_one_again() -> None:
    venue = await start_venue(reset_logon_consumes_seq=False)
    try:
        peer = await venue.peer()
        await peer.logon(reset=True)
        await peer.send("D", ORDER, seq=1)
        assert (await venue.app.next()).get_int(34) == 1
        venue.session.send(b"8", b"11=r\x01150=0\x01")
        assert (await peer.expect("8")).get_int(34) == 1
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_reset_refused_when_not_accepted() -> None:
    venue = await start_venue(accept_reset=False)
    try:
        peer = await venue.peer()
        await peer.send("A", [(98, 0), (108, 5), (141, "Y")])
        got = await peer.expect_closed()
        assert got[0].get_str(58) == "ResetSeqNumFlag not accepted"
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_a_restarted_session_continues_its_sequence_numbers(tmp_path: Path) -> None:
    venue = await start_venue(FileStore(tmp_path / "venue.fixlog"))
    peer = await venue.peer()
    await logged_on(venue, peer)
    await peer.send("D", ORDER)
    await venue.app.next()
    venue.session.send(b"8", b"11=x\x01150=0\x01")
    await peer.expect("8")
    await venue.acceptor.stop(grace=0.5)
    await peer.close()
    assert venue.session.next_sender_seq == 4  # logon, exec report, logout

    again = await start_venue(FileStore(tmp_path / "venue.fixlog"))
    try:
        assert (again.session.next_sender_seq, again.session.next_target_seq) == (4, 3)
        peer = await again.peer()
        peer.seq = 3
        reply = await peer.logon()
        assert reply.get_int(34) == 4
        await peer.send("2", [(7, 2), (16, 2)])
        resent = await peer.expect("8")
        assert resent.get_int(34) == 2 and resent.get(43) == b"Y" and resent.get(11) == b"x"
        await peer.close()
    finally:
        await again.acceptor.stop(grace=0.5)


@pytest.mark.redis
async def test_a_session_on_redis_continues_and_resends_after_a_restart(redis_url: str) -> None:
    venue = await start_venue(RedisStore.for_session(redis_url, "FIX.4.4", "VENUE", "CLIENT"))
    peer = await venue.peer()
    await logged_on(venue, peer)
    venue.session.send(b"8", b"11=kept-in-redis\x01150=0\x01")
    await peer.expect("8")
    await venue.acceptor.stop(grace=0.3)
    await peer.close()

    again = await start_venue(RedisStore.for_session(redis_url, "FIX.4.4", "VENUE", "CLIENT"))
    try:
        assert (again.session.next_sender_seq, again.session.next_target_seq) == (4, 2)
        peer = await again.peer()
        peer.seq = 2
        await peer.logon()
        await peer.send("2", [(7, 1), (16, 0)])
        got = [await peer.receive() for _ in range(3)]
        assert [(m.msg_type, m.get_int(34)) for m in got] == [(b"4", 1), (b"8", 2), (b"4", 3)]
        assert got[1].get(11) == b"kept-in-redis" and got[1].get(43) == b"Y"
        await peer.close()
    finally:
        await again.acceptor.stop(grace=0.3)


async def test_outbound_messages_are_in_the_store_when_they_reach_the_wire(tmp_path: Path) -> None:
    path = tmp_path / "venue.fixlog"
    venue = await start_venue(FileStore(path, fsync="never"))
    try:
        peer = await venue.peer()
        await logged_on(venue, peer)
        venue.session.send(b"8", b"11=persisted\x01150=0\x01")
        await peer.expect("8")
        assert b"11=persisted" in path.read_bytes()
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


# -- initiator role --------------------------------------------------------------------------


async def test_initiator_logs_on_sends_and_reconnects_with_backoff() -> None:
    server = PeerServer()
    port = await server.start()
    app = Recorder()
    config = SessionConfig(
        "CLIENT", "VENUE", heartbeat_interval=5, reconnect_min=0.05, reconnect_max=0.2
    )
    initiator = FixInitiator(FixSession(config, MemoryStore(), app), "127.0.0.1", port)
    await initiator.start()
    try:
        venue = await server.next_peer()
        logon = await venue.expect("A")
        assert logon.get(108) == b"5" and logon.get_int(34) == 1
        await venue.send("A", [(98, 0), (108, 5)])
        async with asyncio.timeout(2):
            await initiator.session.wait_logged_on()
        initiator.session.send(b"D", b"11=i1\x0155=AAPL\x01")
        assert (await venue.expect("D")).get_int(34) == 2
        await venue.send("8", [(11, "i1"), (150, "0")])
        assert (await app.next()).get_str(11) == "i1"
        await venue.close()  # connection drops: the initiator comes back
        again = await server.next_peer()
        relogon = await again.expect("A")
        assert relogon.get_int(34) == 3, "sequence numbers continue across reconnects"
        assert initiator.connections == 2
        await again.close()
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def test_initiator_with_reset_on_logon_and_credentials() -> None:
    server = PeerServer()
    port = await server.start()
    config = SessionConfig(
        "CLIENT", "VENUE", reset_on_logon=True, username="bob", password="pw", heartbeat_interval=5
    )
    initiator = FixInitiator(FixSession(config, MemoryStore()), "127.0.0.1", port)
    await initiator.start()
    try:
        venue = await server.next_peer()
        logon = await venue.expect("A")
        assert (logon.get(141), logon.get(553), logon.get(554)) == (b"Y", b"bob", b"pw")
        await venue.send("A", [(98, 0), (108, 5), (141, "Y")])
        async with asyncio.timeout(2):
            await initiator.session.wait_logged_on()
        assert initiator.session.next_target_seq == 2
        await venue.close()
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def _initiator_against_a_peer(
    store: MemoryStore, app: Recorder | None = None
) -> tuple[FixInitiator, PeerServer, FixPeer]:
    server = PeerServer()
    port = await server.start()
    config = SessionConfig("CLIENT", "VENUE", heartbeat_interval=5, reconnect_min=5)
    initiator = FixInitiator(FixSession(config, store, app or Recorder()), "127.0.0.1", port)
    await initiator.start()
    return initiator, server, await server.next_peer()


async def test_initiator_confirms_a_reset_the_acceptor_made_unasked() -> None:
    """Our Logon (MsgSeqNum 5, no 141) is answered with 141=Y: the acceptor restarted both
    numberings. We used to restart only the inbound one and go on sending 6, 7… (a resend of
    which would replay the old epoch). Now ours restarts too and we confirm with Logon 141=Y
    MsgSeqNum 1, as QuickFIX, QuickFIX/J and OnixS do: both sides go on at 2."""
    store = MemoryStore()
    for seq in range(1, 5):
        store.save_message(seq, b"old epoch")
    store.set_next_target_seq(9)
    app = Recorder()
    initiator, server, venue = await _initiator_against_a_peer(store, app)
    session = initiator.session
    try:
        logon = await venue.expect("A")
        assert (logon.get_int(34), logon.get(141)) == (5, None)
        await venue.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
        confirm = await venue.expect("A")
        assert (confirm.get_int(34), confirm.get(141)) == (1, b"Y")
        assert session.is_logged_on
        assert (session.next_sender_seq, session.next_target_seq) == (2, 2)
        assert await store.messages(1, 10) == []
        session.send(b"D", b"11=n1\x0155=AAPL\x01")
        assert (await venue.expect("D")).get_int(34) == 2
        await venue.send("8", [(11, "n1"), (150, "0")], seq=2)
        assert (await app.next()).get_int(34) == 2
        await venue.send("2", [(7, 1), (16, 0)], seq=3)  # what may be resent: the new epoch only
        fill = await venue.expect("4")
        assert (fill.get_int(34), fill.get_int(36)) == (1, 2)
        assert (await venue.expect("D")).get_int(34) == 2
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def test_an_answer_to_our_reset_confirmation_is_not_answered_again() -> None:
    """A QuickFIX acceptor that resets unasked asks for our old numbers (its target restarted
    too), then takes our confirmation for a reset request and answers it with one more Logon
    141=Y, numbered 1 again. Answering that too looped for ever (QuickFIX 1.16, by probe)."""
    store = MemoryStore()
    store.set_next_sender_seq(5)
    initiator, server, venue = await _initiator_against_a_peer(store)
    session = initiator.session
    try:
        await venue.expect("A")
        await venue.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
        await venue.send("2", [(7, 1), (16, 0)], seq=2)
        assert (await venue.expect("A")).get_int(34) == 1  # our confirmation
        fill = await venue.expect("4")  # nothing of the new numbering to resend
        assert (fill.get_int(34), fill.get_int(36)) == (1, 2)
        await venue.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
        await venue.send("1", [(112, "sync")], seq=2)
        heartbeat = await venue.expect("0")  # not another Logon
        assert (heartbeat.get(112), heartbeat.get_int(34)) == (b"sync", 2)
        assert session.is_logged_on and session.next_target_seq == 3
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def test_an_unasked_reset_answering_our_logon_number_1_needs_no_confirmation() -> None:
    initiator, server, venue = await _initiator_against_a_peer(MemoryStore())
    session = initiator.session
    try:
        assert (await venue.expect("A")).get_int(34) == 1
        await venue.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
        await venue.send("1", [(112, "sync")], seq=2)
        heartbeat = await venue.expect("0")  # our Logon was 1 of the new numbering already
        assert (heartbeat.get(112), heartbeat.get_int(34)) == (b"sync", 2)
        assert (session.next_sender_seq, session.next_target_seq) == (3, 3)
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def test_initiator_logon_refused_by_logout() -> None:
    server = PeerServer()
    port = await server.start()
    config = SessionConfig("CLIENT", "VENUE", reconnect_min=5, reconnect_max=5)
    initiator = FixInitiator(FixSession(config, MemoryStore()), "127.0.0.1", port)
    await initiator.start()
    try:
        venue = await server.next_peer()
        await venue.expect("A")
        await venue.send("5", [(58, "not today")])
        await venue.expect_closed()
        assert not initiator.session.is_logged_on
        assert initiator.session.metrics.counts()["disconnects_logon_refused"] == 1
    finally:
        await initiator.stop(grace=0.2)
        await server.stop()


async def test_initiator_keeps_retrying_an_absent_acceptor() -> None:
    server = PeerServer()
    port = await server.start()
    await server.stop()  # nothing listens on the port any more
    config = SessionConfig("CLIENT", "VENUE", reconnect_min=0.05, reconnect_max=0.1)
    initiator = FixInitiator(FixSession(config, MemoryStore()), "127.0.0.1", port)
    await initiator.start()
    await asyncio.sleep(0.4)
    assert initiator.connections == 0
    assert initiator._task is not None and not initiator._task.done()
    await initiator.stop()


# -- our initiator against our acceptor --------------------------------------------------------


async def test_our_initiator_and_acceptor_recover_a_lost_message() -> None:
    venue = await start_venue()
    proxy = DroppingProxy(venue.port)
    proxy_port = await proxy.start()
    client_app = Recorder()
    config = SessionConfig("CLIENT", "VENUE", heartbeat_interval=5, reconnect_min=0.05)
    initiator = FixInitiator(FixSession(config, MemoryStore(), client_app), "127.0.0.1", proxy_port)
    await initiator.start()
    try:
        async with asyncio.timeout(2):
            await initiator.session.wait_logged_on()
        proxy.drop_next(b"\x0135=D\x01")
        initiator.session.send(b"D", b"11=lost\x0155=AAPL\x01")
        initiator.session.send(b"D", b"11=next\x0155=AAPL\x01")
        first, second = await venue.app.next(), await venue.app.next()
        assert (first.get_str(11), first.get(43)) == ("lost", b"Y")
        assert (second.get_str(11), second.get(43)) == ("next", None)
        assert proxy.dropped == 1
        assert venue.session.metrics.counts()["resend_requests_sent"] == 1
        assert venue.session.next_target_seq == initiator.session.next_sender_seq
    finally:
        await initiator.stop(grace=0.3)
        await venue.acceptor.stop(grace=0.3)
        await proxy.stop()


# -- state machine and config -------------------------------------------------------------------


def test_state_machine_refuses_illegal_transitions_loudly() -> None:
    sm = SessionStateMachine("S")
    with pytest.raises(
        SessionStateError, match="event logon_completed is not allowed in state disconnected"
    ):
        sm.fire(SessionEvent.LOGON_COMPLETED)
    assert sm.fire(SessionEvent.CONNECTED_AS_ACCEPTOR) is SessionState.AWAITING_LOGON
    assert sm.fire(SessionEvent.LOGON_COMPLETED) is SessionState.ACTIVE
    with pytest.raises(SessionStateError):
        sm.fire(SessionEvent.CONNECTED_AS_INITIATOR)
    assert sm.fire(SessionEvent.LOGOUT_SENT) is SessionState.LOGOUT_SENT
    assert sm.fire(SessionEvent.LOGOUT_RECEIVED) is SessionState.DISCONNECTING
    assert sm.fire(SessionEvent.CONNECTION_LOST) is SessionState.DISCONNECTED


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"sender_comp_id": ""}, "sender_comp_id"),
        ({"target_comp_id": "ME"}, "target_comp_id"),
        ({"heartbeat_interval": -1}, "heartbeat_interval"),
        ({"heartbeat_interval": float("nan")}, "heartbeat_interval"),
        ({"logon_timeout": 0}, "logon_timeout"),
        ({"reconnect_min": 2.0, "reconnect_max": 1.0}, "reconnect_max"),
        ({"password": "pass\x01word"}, "password"),
        ({"max_body_length": 10}, "max_body_length"),
    ],
)
def test_bad_config_names_the_key(overrides: dict[str, object], key: str) -> None:
    settings: dict[str, object] = {"sender_comp_id": "ME", "target_comp_id": "THEM"}
    settings.update(overrides)
    with pytest.raises(ConfigError, match=f"FIX session config {key}: "):
        SessionConfig(**settings)  # type: ignore[arg-type]


async def test_a_repeating_group_rlexec_does_not_read_is_delivered_not_rejected(
    venue: Venue, peer: FixPeer
) -> None:
    """MiscFees (136) in an ExecutionReport: a counterparty may always send it, and without a
    data dictionary its repeated 137/138/139 look like repeated tags. Rejecting it (373=13)
    consumed the report's sequence number, so the fill it carried was lost for good."""
    await logged_on(venue, peer)
    fees: list[tuple[int, str | int]] = [
        (136, 2), (137, "1.5"), (138, "USD"), (139, 4), (137, "0.2"), (138, "USD"), (139, 7),
    ]  # fmt: skip
    await peer.send("8", [(37, "O1"), (11, "C1"), (17, "E1"), (150, "F"), (39, "2"), (55, "AAPL"),
                          (54, "1"), (38, 100), (32, 100), (31, "10"), (14, 100), (151, 0),
                          (6, "10"), *fees])  # fmt: skip
    delivered = await venue.app.next()
    assert (delivered.msg_type, delivered.get_str(17), delivered.get_int(34)) == (b"8", "E1", 2)
    assert venue.session.next_target_seq == 3
    await peer.send("8", [(11, "C1"), (11, "C2"), (17, "E2")])  # a read tag repeats: ambiguous
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371)) == (13, 11)


async def test_a_resend_keeps_the_originals_poss_resend(venue: Venue, peer: FixPeer) -> None:
    """PossResend (97) tells the peer a message may duplicate one sent under another number;
    resent by the session it must still say so (the peer may not have seen the original)."""
    await logged_on(venue, peer)
    venue.session.send(b"8", b"97=Y\x0111=x1\x01150=0\x01")  # 2
    assert (await peer.expect("8")).get(97) == b"Y"
    venue.session.send(b"8", b"11=x2\x01150=0\x01")  # 3
    await peer.expect("8")
    await peer.send("2", [(7, 2), (16, 0)])
    got = [await peer.receive() for _ in range(2)]
    assert [(m.get(11), m.get(43), m.get(97)) for m in got] == [
        (b"x1", b"Y", b"Y"), (b"x2", b"Y", None),
    ]  # fmt: skip


async def test_a_malformed_sending_time_is_rejected_as_such(venue: Venue, peer: FixPeer) -> None:
    """It used to pass unchecked (and skip the accuracy check); QuickFIX rejects 373=6."""
    await logged_on(venue, peer)
    await peer.send("D", ORDER, sending_time=b"not-a-time")
    reject = await peer.expect("3")
    assert (reject.get_int(373), reject.get_int(371)) == (6, 52)
    assert venue.session.is_logged_on and venue.app.received == []


async def test_a_reset_logon_in_session_resets_both_sides(venue: Venue, peer: FixPeer) -> None:
    """A 24-hour session resets in session: Logon 141=Y with MsgSeqNum 1 while logged on. It
    used to fall to the too-low check and end the session with a Logout."""
    await logged_on(venue, peer)
    await peer.send("D", ORDER)  # 2
    await venue.app.next()
    venue.session.send(b"8", b"11=x\x01150=0\x01")  # our 2
    await peer.expect("8")
    await peer.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
    answer = await peer.expect("A")
    assert (answer.get(141), answer.get_int(34)) == (b"Y", 1)
    assert venue.session.is_logged_on
    assert (venue.session.next_target_seq, venue.session.next_sender_seq) == (2, 2)
    peer.seq = 2
    await peer.send("D", ORDER)  # numbered afresh: in order
    assert (await venue.app.next()).get_int(34) == 2
    await peer.send("A", [(98, 0), (108, 5), (141, "Y")], seq=7)  # a reset must be 1
    closing = await peer.expect_closed()
    assert "must have MsgSeqNum 1" in (closing[0].get_str(58) or "")


async def test_an_in_session_reset_is_refused_when_resets_are_not_accepted() -> None:
    venue = await start_venue(accept_reset=False)
    try:
        peer = await venue.peer()
        await logged_on(venue, peer)
        await peer.send("A", [(98, 0), (108, 5), (141, "Y")], seq=1)
        got = await peer.expect_closed()
        assert got[0].get_str(58) == "ResetSeqNumFlag not accepted"
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)
