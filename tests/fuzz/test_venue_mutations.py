"""Mutation fuzzing of valid order-entry messages against a live venue over loopback.

Hypothesis takes valid NewOrderSingle, OrderCancelRequest, MarketDataRequest and
ResendRequest bodies and mutates them (drop, duplicate, replace or add fields, with values
that have broken parsers before: huge integers, signs, exponents, non-ASCII, empty). The
gateway's own initiator sends them, correctly framed, to a real `Venue` on port 0. Each
must be answered (any message back other than a heartbeat: an ExecutionReport, a reject of
any kind, a snapshot, a gap fill...), the venue must report no unhandled error, and a normal
client must still log on and trade afterwards.

`make test` runs a few examples; `make fuzz` sets RLEXEC_FUZZ_EXAMPLES for a long run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlexec.gateway.codec import encode_fields
from rlexec.gateway.config import SessionConfig
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue import Venue
from rlexec.simulator.venue_config import VenueConfig

EXAMPLES = int(os.environ.get("RLEXEC_FUZZ_EXAMPLES", "12"))
ANSWER_WITHIN = 3.0
QUIET = {b"0", b"1"}  # heartbeats and test requests answer nothing

Fields = list[tuple[int, bytes]]
VALID: dict[bytes, Fields] = {
    b"D": [(11, b"o1"), (55, b"AAPL"), (54, b"1"), (60, b"20120621-14:00:00"), (38, b"100"),
           (40, b"2"), (44, b"580"), (59, b"0")],
    b"F": [(41, b"o1"), (11, b"c1"), (55, b"AAPL"), (54, b"1"), (60, b"20120621-14:00:00")],
    b"V": [(262, b"md1"), (263, b"1"), (264, b"1"), (265, b"1"), (267, b"2"), (269, b"0"),
           (269, b"1"), (146, b"1"), (55, b"AAPL")],
    b"2": [(7, b"1"), (16, b"0")],
}  # fmt: skip
BODY_TAGS = sorted({tag for body in VALID.values() for tag, _ in body} | {37, 1, 58, 100, 9999})
NASTY = [b"", b"0", b"-1", b"-0", b"1e26", b"NaN", b"inf", b"1" * 5000, b"9" * 40,
         b"580.00001", b"0.0001", b" 1", b"\xff\xfe", b"A" * 300, b"=", b"AAPL", b"5", b"Y"]  # fmt: skip
values = st.one_of(
    st.sampled_from(NASTY),
    st.binary(max_size=24).filter(lambda v: b"\x01" not in v),
    st.integers(-(10**30), 10**30).map(lambda n: str(n).encode()),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, Fields]:
    msg_type = draw(st.sampled_from(sorted(VALID)))
    fields = list(VALID[msg_type])
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "dup", "replace", "add"]))
        i = draw(st.integers(0, max(0, len(fields) - 1)))
        if op == "drop" and fields:
            del fields[i]
        elif op == "dup" and fields:
            fields.insert(i, fields[i])
        elif op == "replace" and fields:
            fields[i] = (fields[i][0], draw(values))
        else:
            fields.insert(i, (draw(st.sampled_from(BODY_TAGS)), draw(values)))
    return msg_type, fields


def _inbound(session: FixSession) -> int:
    """Every message the client has received that answers something (not heartbeats)."""
    counts = session.metrics.messages_in
    return sum(n for t, n in counts.items() if t not in QUIET)


async def _answer(session: FixSession, before: int) -> None:
    """Wait until something answers (or the venue logs us out); fail after ANSWER_WITHIN."""
    async with asyncio.timeout(ANSWER_WITHIN):
        # Polled: session-level Rejects and gap fills reach no application callback.
        while _inbound(session) == before and session.is_logged_on:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def _must_answer(msg_type: bytes, fields: Fields, last_sent: int) -> bool:
    """FIX requires an answer to every message here: an order, cancel or market-data request
    gets a report or a reject, and a ResendRequest gets the messages, a GapFill, or a
    Reject when its range holds nothing we sent (373=5, naming BeginSeqNo)."""
    return True


async def _client(venue: Venue, comp_id: str) -> tuple[FixSession, FixInitiator]:
    config = SessionConfig(comp_id, "VENUE", heartbeat_interval=30, reconnect_min=0.05)
    session = FixSession(config, MemoryStore())
    initiator = FixInitiator(session, "127.0.0.1", venue.port)
    await initiator.start()
    async with asyncio.timeout(3):
        await session.wait_logged_on()
    return session, initiator


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    derandomize=EXAMPLES <= 50,  # the short run in `make test` is the same run every time
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(mutated(), min_size=1, max_size=8))
async def test_the_venue_answers_every_mutated_message_and_stays_up(
    aapl: ReplayData, caplog: pytest.LogCaptureFixture, messages: list[tuple[bytes, Fields]]
) -> None:
    caplog.clear()
    config = VenueConfig.model_validate(
        {"data": "unused", "port": 0, "autoplay": False, "start": "10:00",
         "clients": [{"comp_id": "FUZZ"}, {"comp_id": "NORMAL"}]}
    )  # fmt: skip
    venue = Venue(config, aapl)
    await venue.start()
    try:
        with caplog.at_level(logging.ERROR):
            session, initiator = await _client(venue, "FUZZ")
            for msg_type, fields in messages:
                if not session.is_logged_on:
                    break  # the venue logged us out (a header tag in the body): that is an answer
                before = _inbound(session)
                last_sent = session.next_target_seq - 1
                session.send(msg_type, encode_fields(fields))
                if _must_answer(msg_type, fields, last_sent):
                    await _answer(session, before)
            await initiator.stop(grace=0.5)
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert not [e for e in errors if "application_error" in e or "Traceback" in e], errors
            normal, normal_initiator = await _client(venue, "NORMAL")
            before = _inbound(normal)
            normal.send(b"D", encode_fields(VALID[b"D"]))
            await _answer(normal, before)
            assert normal.is_logged_on
            await normal_initiator.stop(grace=0.5)
    finally:
        await venue.stop(grace=0.5)
