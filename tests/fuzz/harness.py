"""What the fuzzers check, as plain functions: the atheris scripts call them with generated
bytes, and tests/fuzz/test_corpus.py replays the corpus through them.

A check raises (AssertionError or whatever escaped the code under test) when an input finds a
bug; returning means the input was handled as FIX says (parsed, rejected or ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

from rlexec.gateway import codec
from rlexec.gateway.clock import utc_timestamp
from rlexec.gateway.codec import (
    FixFramer,
    Garbled,
    GarbledError,
    encode,
    parse_field_map,
    parse_fields,
)
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore

BEGIN = b"FIX.4.4"


def logon(seq: int = 1) -> bytes:
    """A valid Logon from CLIENT to VENUE, the usual first message of a fuzzed stream."""
    body = b"49=CLIENT\x0156=VENUE\x0134=%d\x0152=%s\x0198=0\x01108=30\x01" % (seq, utc_timestamp())
    return encode(BEGIN, b"A", body)


def chunks(data: bytes, sizes: bytes) -> Iterator[bytes]:
    """`data` cut into reads whose lengths come from `sizes` (1..256 bytes each, cycling)."""
    pos = 0
    i = 0
    while pos < len(data):
        step = (sizes[i % len(sizes)] + 1) if sizes else len(data)
        yield data[pos : pos + step]
        pos += step
        i += 1


def _checksum_ok(frame: bytes) -> bool:
    tail = frame.rfind(b"\x0110=")
    return (
        tail > 0
        and frame.endswith(b"\x01")
        and frame[tail + 4 : -1] == b"%03d" % (sum(frame[: tail + 1]) % 256)
    )


def check_compiled_loops(data: bytes) -> None:
    """The compiled receive loops (receive_loops.c) answer as their Python reference does."""
    if not codec.COMPILED:
        return
    from rlexec.gateway import receive_loops

    fast = receive_loops.field_map(data)
    if fast is not None:
        assert fast == codec._field_map(data)
    for start in (0, data.find(b"8=FIX", 1)):
        if start >= 0:
            ends = [
                end(data, start, len(data), 1 << 20)
                for end in (receive_loops.whole_message_end, codec._whole_message_end_py)
            ]
            assert ends[0] == ends[1], ends


def check_codec(data: bytes) -> None:
    """Parsers raise only GarbledError; the framer never raises, emits only checksummed frames
    starting with BeginString, and frames the same messages however the bytes are split."""
    for parse in (parse_fields, parse_field_map, FixMessage.decode):
        with contextlib.suppress(GarbledError):
            parse(data)
    if data:
        try:
            pairs = parse_fields(data)
        except GarbledError:
            pass
        else:
            fields, count = parse_field_map(data)
            assert count == len(pairs) and fields == dict(pairs)
    check_compiled_loops(data)
    split = data[:1]
    stream = data[1:]
    whole = [f for f in FixFramer().feed(stream) if type(f) is bytes]
    framer = FixFramer()
    pieces: list[bytes | Garbled] = []
    for chunk in chunks(stream, split * 3):
        pieces += framer.feed(chunk)
    cut = [f for f in pieces if type(f) is bytes]
    for frame in whole + cut:
        assert frame.startswith(b"8=FIX") and _checksum_ok(frame), frame[:60]
    assert cut == whole, "framing depends on how the bytes were split"


class _LoopErrors(logging.Handler):
    """Errors the event loop logged (an exception out of a protocol callback or a task)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "application_error" in record.getMessage():
            self.seen.append(record.getMessage())


async def _session_run(data: bytes, sizes: bytes, with_logon: bool) -> None:
    config = SessionConfig(
        "VENUE", "CLIENT", role=Role.ACCEPTOR, logon_timeout=5, max_latency=None
    )  # no SendingTime window: a corpus file must mean the same next year
    session = FixSession(config, MemoryStore())
    await session.open()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    conn = FixConnection(session)
    transport, _ = await loop.create_connection(lambda: conn, sock=ours)
    try:
        stream = (logon() if with_logon else b"") + data
        for chunk in chunks(stream, sizes):
            if transport.is_closing():
                break
            conn.data_received(chunk)  # what the transport calls: an exception here is the bug
            with contextlib.suppress(BlockingIOError):
                theirs.recv(1 << 20)  # keep the socket drained, as a reading peer does
        await asyncio.sleep(0)  # let resend tasks started by the input run
        await asyncio.sleep(0)
    finally:
        await session.close()
        transport.close()
        theirs.close()
        await asyncio.sleep(0)


_loop: asyncio.AbstractEventLoop | None = None
_errors = _LoopErrors()


def check_session(data: bytes) -> None:
    """Bytes from a counterparty into an acceptor session's receive path (after a valid Logon
    when the first byte is odd), cut into reads by the second byte: nothing may escape."""
    global _loop
    if len(data) < 2:
        return
    if _loop is None:
        _loop = asyncio.new_event_loop()
    # Only errors are of interest (and the session's warnings about bad input are many); the
    # logging is put back after each run, so a later test's caplog still sees every record.
    root, ours = logging.getLogger(), logging.getLogger("rlexec")
    level = ours.level
    root.addHandler(_errors)
    ours.setLevel(logging.ERROR)
    _errors.seen.clear()
    try:
        _loop.run_until_complete(_session_run(data[2:], data[1:2] * 2, bool(data[0] & 1)))
    finally:
        root.removeHandler(_errors)
        ours.setLevel(level)
    assert not _errors.seen, _errors.seen
