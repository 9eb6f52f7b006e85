"""The FIX tag=value codec on the hot path: join-based encoding and split-on-SOH parsing.

simplefix is the reference implementation, but it walks bytes one at a time in Python
(~20 µs to encode a NewOrderSingle, ~77 µs to parse an ExecutionReport); splitting on SOH
and joining pre-formatted fields does the same work in C and is 5-20 times faster. The
property tests in tests/test_gateway_codec.py prove this codec byte-identical to simplefix.

Framing is strict: 8 first, 9 second with the exact body length, 35 third, 10 last with the
right checksum. Anything else is reported as `Garbled` and never raises out of the framer,
so one bad frame costs one log line, not the connection.
"""

from __future__ import annotations

import heapq
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Final, NamedTuple
from zlib import adler32

from rlexec.gateway.tags import RAW_DATA_PAIRS

SOH: Final = b"\x01"
FieldValue = bytes | str | int | float | Decimal
"""What an encoded field's value may be given as: bytes pass through, str is UTF-8, the rest `str()`."""

_CHECKSUM_FIELDS: Final = tuple(b"10=%03d\x01" % i for i in range(256))
_TAG_PREFIX: Final = {i: b"%d=" % i for i in range(1, 10_000)}
_RAW_LENGTH_TAGS: Final = frozenset(length for length, _ in RAW_DATA_PAIRS)
_RAW_DATA_TAG_FOR: Final = dict(RAW_DATA_PAIRS)
# Raw-data length tags are deliberately absent: a miss sends the frame to the careful parser.
_TAG_INTS: Final = {str(i).encode(): i for i in range(1, 10_000) if i not in _RAW_LENGTH_TAGS}
_BEGIN_MARK: Final = b"8=FIX"
MAX_BEGIN_STRING: Final = 16
"""Longest BeginString we look for the end of before calling the header garbled."""
DEFAULT_MAX_BODY_LENGTH: Final = 1 << 20
MAX_INT_DIGITS: Final = 18
"""Longest integer field read (below 2**63). int() refuses more than 4,300 digits with a
ValueError, and long ones cost time: every integer read from the wire is capped first."""


# -- encoding --------------------------------------------------------------------------------


def value_bytes(value: FieldValue) -> bytes:
    """A field value as wire bytes, converted exactly as simplefix converts it."""
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode()
    return str(value).encode("ascii")


def tag_bytes(tag: int) -> bytes:
    """`b"<tag>="`, cached for every tag below 10,000."""
    prefix = _TAG_PREFIX.get(tag)
    if prefix is None:
        if tag <= 0:
            raise ValueError(f"FIX tag must be a positive integer, got {tag}")
        prefix = b"%d=" % tag
    return prefix


def encode_fields(pairs: Iterable[tuple[int, FieldValue]]) -> bytes:
    """Serialise (tag, value) pairs as `tag=value<SOH>...` with no header or trailer."""
    return b"".join([tag_bytes(tag) + value_bytes(value) + SOH for tag, value in pairs])


_ADLER_SPAN: Final = 256
"""Bytes per Adler-32 call in `checksum`: 255 * 256 + 1 stays below Adler's modulus 65521."""


def checksum(data: bytes | bytearray, start: int = 0, end: int | None = None) -> int:
    """The FIX CheckSum of `data[start:end]`: the byte sum modulo 256.

    `sum()` walks the bytes one Python int at a time (~0.5 µs for a 150-byte message, paid
    on every message sent and received); Adler-32's first half is 1 + the byte sum modulo
    65521, computed by zlib in C, and is the exact sum while a span holds at most 256 bytes.
    """
    stop = len(data) if end is None else end
    adler32 = zlib.adler32
    if stop - start <= _ADLER_SPAN:
        return (adler32(data[start:stop]) - 1) & 255
    total = 0
    with memoryview(data) as view:
        for at in range(start, stop, _ADLER_SPAN):
            total += (adler32(view[at : min(at + _ADLER_SPAN, stop)]) & 0xFFFF) - 1
    return total & 255


def frame(begin_string: bytes, type_and_body: bytes) -> bytes:
    """Wrap `35=...<SOH>...<SOH>` into a complete message with BodyLength and CheckSum."""
    message = b"".join(
        (b"8=", begin_string, b"\x019=", b"%d" % len(type_and_body), SOH, type_and_body)
    )
    if len(message) <= _ADLER_SPAN:  # `checksum`, inline for the usual short message
        return message + _CHECKSUM_FIELDS[(adler32(message) - 1) & 255]
    return message + _CHECKSUM_FIELDS[checksum(message)]


def encode(begin_string: bytes, msg_type: bytes, fields: bytes) -> bytes:
    """A complete message from its type and its already-encoded header and body fields."""
    return frame(begin_string, b"35=" + msg_type + SOH + fields)


def encode_pairs(pairs: Iterable[tuple[int, FieldValue]]) -> bytes:
    """Encode like `simplefix.FixMessage.encode()`: 8, 9 and 35 first, 9 and 10 computed.

    As in simplefix, BeginString and MsgType are the last 8 and 35 given, and any 9 or 10
    given is dropped; every other pair keeps its order.
    """
    begin: bytes | None = None
    msg_type: bytes | None = None
    rest: list[bytes] = []
    for tag, value in pairs:
        raw = value_bytes(value)
        if tag == 8:
            begin = raw
        elif tag == 35:
            msg_type = raw
        if tag not in (8, 9, 10, 35):
            rest.append(tag_bytes(tag) + raw + SOH)
    if msg_type is None:
        raise ValueError("cannot encode a FIX message without MsgType (35)")
    if not begin:
        raise ValueError("cannot encode a FIX message without BeginString (8)")
    return encode(begin, msg_type, b"".join(rest))


# -- parsing ---------------------------------------------------------------------------------


def parse_uint(value: bytes | bytearray | None) -> int | None:
    """A non-negative FIX integer of at most MAX_INT_DIGITS digits, else None."""
    if value is None or len(value) > MAX_INT_DIGITS or not value.isdigit():
        return None
    return int(value)


class GarbledError(ValueError):
    """A frame whose fields cannot be read; the session ignores it without consuming a seq no."""


def parse_fields(message: bytes) -> list[tuple[int, bytes]]:
    """Every (tag, value) of a complete message, in wire order, including 8, 9 and 10.

    Values are bytes; an empty value is returned as b"" (the session rejects it with reason
    4), a field without '=' or with a non-numeric tag raises GarbledError.
    """
    parts = message.split(SOH)
    if parts.pop():
        raise GarbledError("message does not end with SOH")
    get = _TAG_INTS.get
    pairs: list[tuple[int, bytes]] = []
    append = pairs.append
    for part in parts:
        tag_text, sep, value = part.partition(b"=")
        tag = get(tag_text)
        if tag is None or not sep:
            return _parse_fields_slowly(message)
        append((tag, value))
    return pairs


def parse_field_map(message: bytes) -> tuple[dict[int, bytes], int]:
    """Tag -> value of a complete message (the last value when a tag repeats) and the number of
    fields. The hot path: no (tag, value) tuples are built; `parse_fields` gives the order.
    The compiled loop answers the usual message; anything else is decided here."""
    if _fast_field_map is not None:
        fast = _fast_field_map(message)
        if fast is not None:
            return fast
    return _field_map(message)


def _field_map(message: bytes) -> tuple[dict[int, bytes], int]:
    """`parse_field_map` in Python: the reference for the compiled loop."""
    parts = message.split(SOH)
    if parts.pop():
        raise GarbledError("message does not end with SOH")
    get = _TAG_INTS.get
    fields: dict[int, bytes] = {}
    for part in parts:
        tag_text, sep, value = part.partition(b"=")
        tag = get(tag_text)
        if tag is None or not sep:
            pairs = _parse_fields_slowly(message)
            return dict(pairs), len(pairs)
        fields[tag] = value
    return fields, len(parts)


def _parse_fields_slowly(message: bytes) -> list[tuple[int, bytes]]:
    """The careful path: tags outside the cache, and data fields whose value may hold SOH."""
    pairs: list[tuple[int, bytes]] = []
    pos = 0
    end = len(message)
    raw_length: int | None = None
    raw_tag = 0
    while pos < end:
        eq = message.find(b"=", pos)
        if eq < 0:
            raise GarbledError(f"field without '=' at byte {pos}")
        tag_text = message[pos:eq]
        if not tag_text.isdigit():  # bytes.isdigit() is ASCII-only
            raise GarbledError(f"non-numeric tag {tag_text[:20]!r} at byte {pos}")
        if len(tag_text) > 9:
            raise GarbledError(f"tag number of {len(tag_text)} digits at byte {pos}")
        tag = int(tag_text)
        if tag == 0:
            raise GarbledError(f"tag 0 at byte {pos}")
        start = eq + 1
        if raw_length is not None and tag == raw_tag:
            stop = start + raw_length
            if stop >= end or message[stop] != 1:
                raise GarbledError(f"data field {tag} is not {raw_length} bytes long")
        else:
            stop = message.find(SOH, start)
            if stop < 0:
                raise GarbledError(f"field {tag} is not terminated by SOH")
        value = message[start:stop]
        pairs.append((tag, value))
        raw_length = None
        if tag in _RAW_LENGTH_TAGS:
            length = parse_uint(value)
            if length is None:
                raise GarbledError(f"data length field {tag} is not a number: {value[:20]!r}")
            raw_length = length
            raw_tag = _RAW_DATA_TAG_FOR[tag]
        pos = stop + 1
    return pairs


def _whole_message_end_py(buf: bytes, start: int, size: int, max_body_length: int) -> int:
    """End offset of the complete, valid message at `start`, or -1 for anything else: not a
    message there, not all of it yet, or garbled (`FixFramer._parse_at` says which).

    The same rules as `_parse_at`, with one byte comparison for the whole CheckSum field:
    three digits equal to the computed sum are exactly its zero-padded text."""
    if not buf.startswith(_BEGIN_MARK, start):
        return -1
    soh = buf.find(SOH, start + 2, start + 2 + MAX_BEGIN_STRING)
    if soh < 0 or not buf.startswith(b"9=", soh + 1):
        return -1
    len_end = buf.find(SOH, soh + 3, soh + 13)
    length_text = buf[soh + 3 : len_end]
    if len_end < 0 or not length_text.isdigit():
        return -1
    body_length = int(length_text)
    body_end = len_end + 1 + body_length
    end = body_end + 7
    if (
        end > size
        or body_length > max_body_length
        or not buf.startswith(b"35=", len_end + 1)
        or buf[body_end - 1] != 1
    ):
        return -1
    if body_end - start <= _ADLER_SPAN:  # `checksum`, inline for the usual short message
        actual = (adler32(buf[start:body_end]) - 1) & 255
    else:
        actual = checksum(buf, start, body_end)
    return end if buf[body_end:end] == _CHECKSUM_FIELDS[actual] else -1


# The compiled loops (rlexec/gateway/receive_loops.c), where the build had a C compiler; the
# Python above is their reference and the fallback. RLEXEC_FIX_CODEC=python runs the reference
# anyway (to rule the C out, or to measure it). `COMPILED` says which one runs.
_fast_field_map: Callable[[bytes], tuple[dict[int, bytes], int] | None] | None = None
_whole_message_end: Callable[[bytes, int, int, int], int] = _whole_message_end_py
if os.environ.get("RLEXEC_FIX_CODEC", "").lower() != "python":
    try:
        from rlexec.gateway import receive_loops
    except ImportError:  # built without a compiler: the same rules in Python
        pass
    else:
        receive_loops.set_excluded_tags(sorted(_RAW_LENGTH_TAGS))
        _fast_field_map = receive_loops.field_map
        _whole_message_end = receive_loops.whole_message_end
COMPILED: Final = _fast_field_map is not None
"""Whether the receive path's per-message loops run compiled."""


@contextmanager
def python_loops() -> Iterator[None]:
    """Inside the block, the receive loops' Python reference runs even where the compiled
    loops are built: the benchmark's paired comparison (`bench/hotpath.py --fix-codec both`).
    Not thread-safe; a whole process uses RLEXEC_FIX_CODEC=python instead."""
    global _fast_field_map, _whole_message_end
    saved = _fast_field_map, _whole_message_end
    _fast_field_map, _whole_message_end = None, _whole_message_end_py
    try:
        yield
    finally:
        _fast_field_map, _whole_message_end = saved


class Garbled(NamedTuple):
    """A frame the framer refused: why, and the first bytes of it for the log line."""

    reason: str
    excerpt: bytes


class FixFramer:
    """Cut a byte stream into validated FIX messages, resynchronising after anything garbled.

    `feed()` returns, in order, each complete message (bytes, checksum verified) and a
    `Garbled` for each stretch it had to throw away. It never raises: bad bytes are data.

    Linear in the bytes received, however they are split: a partial message is held in a
    bytearray that grows by appending, the message at its head is re-examined only once
    enough bytes for it have arrived, and the look-ahead for a valid message inside a
    partial one (a too-large BodyLength) resumes where it stopped. `work` counts the bytes
    scanned, summed and copied, so tests can check this without timing anything.
    """

    __slots__ = (
        "_buffer",
        "_candidates",
        "_discarding",
        "_head_need",
        "_look_start",
        "_scanned",
        "max_body_length",
        "work",
    )

    def __init__(self, max_body_length: int = DEFAULT_MAX_BODY_LENGTH) -> None:
        self.max_body_length = max_body_length
        self._buffer = bytearray()
        self._discarding = False
        # The partial message at the head, offsets relative to its start: where its state
        # was built (-1: none), the bytes it needs, how far the look-ahead has searched,
        # and a heap of (bytes needed, offset) of inner messages still waiting for bytes.
        self._look_start = -1
        self._head_need = 0
        self._scanned = 1
        self._candidates: list[tuple[int, int]] = []
        self.work = 0

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a message."""
        return len(self._buffer)

    def clear(self) -> bytes:
        """Drop and return whatever partial message is held (the connection went away)."""
        held = bytes(self._buffer)
        self._buffer = bytearray()
        self._discarding = False
        self._look_start = -1
        return held

    def feed(self, data: bytes) -> list[bytes | Garbled]:
        held = self._buffer
        out: list[bytes | Garbled] = []
        start = 0
        if not held and type(data) is bytes:
            # The usual read is whole valid messages back to back: taken here (without a copy
            # when there is one), each looked at once; `_cut` takes whatever is left from the
            # first byte that is anything else.
            size = len(data)
            end = _whole_message_end(data, 0, size, self.max_body_length)
            if end == size:
                self._discarding = False
                self._look_start = -1
                self.work += size
                return [data]
            while end > 0:
                self._discarding = False
                self._look_start = -1
                out.append(data[start:end])
                self.work += end - start
                start = end
                end = _whole_message_end(data, start, size, self.max_body_length)
        buf: bytes | bytearray
        if held:
            held += data
            self.work += len(data)
            buf = held
        else:
            buf = data
        pos = self._cut(buf, out, start)
        if buf is held:
            if pos:
                del held[:pos]
                self.work += len(held)
        elif pos < len(buf):
            self._buffer = bytearray(buf[pos:])
            self.work += len(self._buffer)
        # Look-ahead state survives only for the message now at the head of what is held.
        self._look_start = 0 if self._look_start == pos and self._buffer else -1
        return out

    def _cut(self, buf: bytes | bytearray, out: list[bytes | Garbled], pos: int = 0) -> int:
        """Append what `buf` holds from `pos` on to `out`; the offset of the first byte
        still needed."""
        size = len(buf)
        while pos < size:
            if buf.startswith(_BEGIN_MARK, pos):
                self._discarding = False
            else:
                nxt = buf.find(_BEGIN_MARK, pos)
                if nxt < 0:
                    self.work += size - pos
                    # Keep a tail that may be the start of "8=FIX" split across reads.
                    keep = max(pos, size - len(_BEGIN_MARK) + 1)
                    if not self._discarding and buf[pos:keep].strip(b"\r\n\x01 "):
                        out.append(Garbled("bytes outside any message", bytes(buf[pos : pos + 40])))
                        self._discarding = True
                    pos = keep
                    break
                self.work += nxt - pos
                if not self._discarding and buf[pos:nxt].strip(b"\r\n\x01 "):
                    out.append(
                        Garbled("bytes before BeginString", bytes(buf[pos : min(nxt, pos + 40)]))
                    )
                self._discarding = False
                pos = nxt
            result = self._frame_at(buf, pos, size)
            if result is None:
                break
            if type(result) is int:
                piece = buf[pos:result]
                out.append(piece if type(piece) is bytes else bytes(piece))
                self.work += result - pos
                pos = result
            else:
                assert isinstance(result, Garbled)
                out.append(result)
                nxt = buf.find(_BEGIN_MARK, pos + 1)
                if nxt < 0:
                    self._discarding = True
                    pos = max(pos + 1, size - len(_BEGIN_MARK) + 1)
                    self.work += size - pos
                    break
                self.work += nxt - pos
                pos = nxt
        return pos

    def _frame_at(self, buf: bytes | bytearray, start: int, size: int) -> int | Garbled | None:
        """End offset of the valid message at `start`, a Garbled, or None to wait for bytes."""
        if self._look_start != start:
            self._look_start = start
            self._head_need = 0
            self._scanned = 1
            self._candidates = []
        if not self._head_need or size - start >= self._head_need:
            result = self._parse_at(buf, start, size)
            if result is None or type(result) is not int or result <= size:
                return result
            self._head_need = result - start
        return self._look_ahead(buf, start, size)

    def _look_ahead(self, buf: bytes | bytearray, start: int, size: int) -> Garbled | None:
        """A Garbled for the message at `start` (still waiting for bytes) if a complete, valid
        message starts inside it; otherwise None.

        Without this a too-large BodyLength would hold every later message hostage until
        enough bytes arrived. Each byte is searched once; an inner message that is itself
        incomplete is looked at again only once enough bytes for it have arrived."""
        heap = self._candidates
        scan = start + self._scanned
        while True:
            nxt = buf.find(_BEGIN_MARK, scan)
            if nxt < 0:
                break
            self.work += nxt + 1 - scan
            heapq.heappush(heap, (0, nxt - start))
            scan = nxt + 1
        self.work += max(0, size - scan)
        self._scanned = max(scan, size - len(_BEGIN_MARK) + 1) - start
        have = size - start
        while heap and heap[0][0] <= have:
            _, offset = heapq.heappop(heap)
            result = self._parse_at(buf, start + offset, size)
            if result is None:  # its header is still incomplete: only a few bytes from the end
                heapq.heappush(heap, (have + 1, offset))
            elif type(result) is int:
                if result <= size:
                    return Garbled(
                        "BodyLength (9) runs past the end of the message",
                        bytes(buf[start : start + 40]),
                    )
                heapq.heappush(heap, (result - start, offset))
        return None

    def _parse_at(self, buf: bytes | bytearray, start: int, size: int) -> int | Garbled | None:
        """End offset of the message at `start` (possibly beyond `size`: wait for it), a
        Garbled, or None when the header itself is still incomplete."""
        soh = buf.find(SOH, start + 2, start + 2 + MAX_BEGIN_STRING)
        if soh < 0:
            if size - start > 2 + MAX_BEGIN_STRING:
                return Garbled("BeginString not terminated", bytes(buf[start : start + 40]))
            return None
        if not buf.startswith(b"9=", soh + 1):
            if size - soh < 3:
                return None
            return Garbled("BodyLength (9) is not the second field", bytes(buf[start : start + 40]))
        len_start = soh + 3
        len_end = buf.find(SOH, len_start, len_start + 10)
        if len_end < 0:
            if size - len_start > 10:
                return Garbled("BodyLength (9) is not a number", bytes(buf[start : start + 40]))
            return None
        length_text = buf[len_start:len_end]
        if not length_text.isdigit():
            return Garbled(
                f"BodyLength (9) is not a number: {bytes(length_text)!r}", bytes(buf[start:len_end])
            )
        body_length = int(length_text)
        if body_length > self.max_body_length:
            return Garbled(
                f"BodyLength (9) {body_length} exceeds the limit {self.max_body_length}",
                bytes(buf[start:len_end]),
            )
        body_start = len_end + 1
        body_end = body_start + body_length
        end = body_end + 7
        if end > size:
            if not buf.startswith(b"35="[: size - body_start], body_start):
                return Garbled(
                    "MsgType (35) is not the third field", bytes(buf[start : start + 40])
                )
            return end
        if not buf.startswith(b"35=", body_start):
            return Garbled("MsgType (35) is not the third field", bytes(buf[start : start + 40]))
        if buf[body_end - 1] != 1 or not buf.startswith(b"10=", body_end) or buf[end - 1] != 1:
            return Garbled(
                f"BodyLength (9) {body_length} does not end at the CheckSum (10) field",
                bytes(buf[start : start + 40]),
            )
        checksum_text = buf[body_end + 3 : end - 1]
        if not checksum_text.isdigit():
            return Garbled(
                f"CheckSum (10) is not a number: {bytes(checksum_text)!r}",
                bytes(buf[start:end][-12:]),
            )
        self.work += body_end - start
        actual = checksum(buf, start, body_end)
        if int(checksum_text) != actual:
            return Garbled(
                f"CheckSum (10) {checksum_text.decode()} does not match the computed {actual:03d}",
                bytes(buf[start : start + 40]),
            )
        return end
