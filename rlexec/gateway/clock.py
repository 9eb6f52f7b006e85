"""UTC timestamps in FIX format (YYYYMMDD-HH:MM:SS.sss), cheap enough for every message.

`time.strftime` costs microseconds; the date-and-second prefix changes once a second, so it
is cached and only the milliseconds are formatted per call. Parsing caches the same way.
"""

from __future__ import annotations

import calendar
import time

_prefix_second = -1
_prefix = b""
_last_ms = -1
_last_text = b""
_day_text: dict[int, bytes] = {}
"""b"YYYYMMDD-" by epoch day: a live service's orders cross into a new second between most
decisions, and `time.strftime` would cost more than the rest of the stamp."""
_midnights: dict[bytes, int] = {}
"""Epoch seconds of 00:00:00 by b"YYYYMMDD": a venue clock's every decision is in a new second."""
_parsed: dict[bytes, int] = {}
"""Epoch seconds by "YYYYMMDD-HH:MM:SS" prefix: a session sees a handful of distinct seconds at
a time (SendingTime, and a venue's MDEntryTime on another clock), each parsed once."""
_NS_PER_DIGIT_UNIT: tuple[int, ...] = tuple(int(10 ** (9 - n)) for n in range(10))
"""Nanoseconds per unit of the last fractional digit, by the number of digits."""


def utc_timestamp(now: float | None = None) -> bytes:
    """`now` (epoch seconds, default the wall clock) as a FIX UTCTimestamp with milliseconds.

    Every message sent stamps one (a NewOrderSingle two): the text of the last millisecond is
    kept, so the many stamps of a busy millisecond cost a clock read and a compare."""
    global _prefix_second, _prefix, _last_ms, _last_text
    if now is None:
        now = time.time()
    ms = int(now * 1000)
    if ms == _last_ms:
        return _last_text
    second, fraction = divmod(ms, 1000)
    if second != _prefix_second:
        _prefix = _second_text(second)
        _prefix_second = second
    _last_ms = ms
    _last_text = _prefix + b".%03d" % fraction
    return _last_text


def _second_text(second: int) -> bytes:
    """b"YYYYMMDD-HH:MM:SS" of an epoch second, as `time.strftime` writes it."""
    day, rest = divmod(second, 86_400)
    text = _day_text.get(day)
    if text is None:
        text = time.strftime("%Y%m%d-", time.gmtime(day * 86_400)).encode()
        if len(_day_text) >= 16:
            _day_text.clear()
        _day_text[day] = text
    hour, rest = divmod(rest, 3600)
    minute, sec = divmod(rest, 60)
    return b"%s%02d:%02d:%02d" % (text, hour, minute, sec)


def parse_utc_timestamp(value: bytes) -> float:
    """Epoch seconds of a FIX UTCTimestamp (with 0, 3, 6 or 9 fractional digits).

    Raises ValueError naming the problem; the session turns that into a Reject.
    """
    epoch = _epoch_second(value)
    fraction = value[17:]
    if not fraction:
        return float(epoch)
    digits = fraction[1:]
    if fraction[:1] != b"." or not digits.isdigit() or len(digits) > 9:
        raise ValueError(f"not a UTCTimestamp: {value[:32]!r}")
    return epoch + int(digits) / float(10 ** len(digits))


def parse_utc_timestamp_ns(value: bytes) -> int:
    """Epoch nanoseconds of a FIX UTCTimestamp, exactly (a float of epoch seconds is only
    good to ~0.2 µs). Raises ValueError as `parse_utc_timestamp` does."""
    epoch = _parsed.get(value[:17])
    if epoch is None:
        epoch = _epoch_second(value)
    size = len(value)
    if size == 17:
        return epoch * 1_000_000_000
    digits = value[18:]
    if value[17] != 46 or size > 27 or not digits.isdigit():  # 46: "."
        raise ValueError(f"not a UTCTimestamp: {value[:32]!r}")
    return epoch * 1_000_000_000 + int(digits) * _NS_PER_DIGIT_UNIT[size - 18]


def _epoch_second(value: bytes) -> int:
    """Epoch seconds of the "YYYYMMDD-HH:MM:SS" prefix of `value` (cached)."""
    prefix = value[:17]
    epoch = _parsed.get(prefix)
    if epoch is None:
        if (
            len(prefix) != 17
            or prefix[8:9] != b"-"
            or prefix[11:12] != b":"
            or prefix[14:15] != b":"
            or not (prefix[:8] + prefix[9:11] + prefix[12:14] + prefix[15:17]).isdigit()
        ):
            raise ValueError(f"not a UTCTimestamp: {value[:32]!r}")
        hour, minute, sec = int(prefix[9:11]), int(prefix[12:14]), int(prefix[15:17])
        midnight = _midnights.get(prefix[:8])
        if midnight is None:
            year, month, day = int(prefix[0:4]), int(prefix[4:6]), int(prefix[6:8])
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise ValueError(f"not a UTCTimestamp: {value[:32]!r}")
            midnight = int(calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)))
            if len(_midnights) >= 16:
                _midnights.clear()
            _midnights[prefix[:8]] = midnight
        if not (hour < 24 and minute < 60 and sec <= 60):
            raise ValueError(f"not a UTCTimestamp: {value[:32]!r}")
        epoch = midnight + hour * 3600 + minute * 60 + sec
        if len(_parsed) >= 64:
            _parsed.clear()
        _parsed[prefix] = epoch
    return epoch


def within_latency(value: bytes, now: float, max_latency: float) -> bool:
    """Whether the UTCTimestamp `value` is within `max_latency` seconds of `now` (epoch s).

    The session's SendingTime accuracy check, on every inbound message: when the second
    is already parsed and every instant of it is close enough, the fraction is not read.
    A value that is not a UTCTimestamp is not within anything (`is_utc_timestamp` tells the
    two failures apart, for the Reject's reason).
    """
    epoch = _parsed.get(value[:17])
    if (
        epoch is not None
        and 1.0 - max_latency <= now - epoch <= max_latency
        and (len(value) == 17 or (value[17] == 46 and len(value) <= 27 and value[18:].isdigit()))
    ):  # 46: "."
        return True
    try:
        sent_at = parse_utc_timestamp(value)
    except ValueError:
        return False
    return abs(now - sent_at) <= max_latency


def is_utc_timestamp(value: bytes) -> bool:
    try:
        parse_utc_timestamp(value)
    except ValueError:
        return False
    return True
