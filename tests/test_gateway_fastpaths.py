"""The receive path's shortcuts answer exactly what the long way answers.

CheckSum by Adler-32, the SendingTime check that skips the fraction, exact nanosecond
timestamps, and the market-data client reading a one-entry incremental straight from the
message's field map: each is checked against the plain computation over many inputs.
"""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rlexec.gateway import tags as fix
from rlexec.gateway import values
from rlexec.gateway.application import Application
from rlexec.gateway.clock import (
    parse_utc_timestamp,
    parse_utc_timestamp_ns,
    utc_timestamp,
    within_latency,
)
from rlexec.gateway.codec import FieldValue, FixFramer, checksum, encode_pairs
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.errors import FieldError, NotLoggedOnError
from rlexec.gateway.execution import ExecutionEvent, parse_execution_report
from rlexec.gateway.md_client import MarketDataClient, MarketDataListener
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.gateway.values import format_price, parse_price, parse_qty
from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.instrument import price_from_text

# -- CheckSum --------------------------------------------------------------------------------


@given(st.binary(max_size=1500), st.data())
def test_checksum_is_the_byte_sum_modulo_256(data: bytes, draw: st.DataObject) -> None:
    start = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(start, len(data)))
    assert checksum(data) == sum(data) & 255
    assert checksum(data, start, end) == sum(data[start:end]) & 255
    assert checksum(bytearray(data), start, end) == sum(data[start:end]) & 255


def test_checksum_of_spans_at_the_adler_limit() -> None:
    for size in (255, 256, 257, 512, 513, 70_000):
        worst = b"\xff" * size  # the largest sum a span can have
        assert checksum(worst) == sum(worst) & 255


def test_a_read_holding_several_messages_yields_each_once() -> None:
    one = encode_pairs([(8, "FIX.4.4"), (35, "0"), (34, 1)])
    two = encode_pairs([(8, "FIX.4.4"), (35, "0"), (34, 2)])
    framer = FixFramer()
    assert framer.feed(one + two + two[:10]) == [one, two]
    assert framer.feed(two[10:]) == [two]
    assert framer.pending == 0


# -- timestamps ------------------------------------------------------------------------------

_moments = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2090, 12, 31))
_fractions = st.sampled_from(["", ".{:03d}", ".{:06d}", ".{:09d}", ".{:d}x", ".", ".{:010d}"])


def _stamp(moment: dt.datetime, fraction: str, digits: int) -> bytes:
    return (moment.strftime("%Y%m%d-%H:%M:%S") + fraction.format(digits)).encode()


@given(_moments, _fractions, st.integers(0, 999_999_999))
def test_nanosecond_timestamps_are_exact(moment: dt.datetime, fraction: str, n: int) -> None:
    value = _stamp(moment, fraction, n)
    try:
        seconds = parse_utc_timestamp(value)
    except ValueError:
        with pytest.raises(ValueError):
            parse_utc_timestamp_ns(value)
        return
    ns = parse_utc_timestamp_ns(value)
    epoch = calendar.timegm(moment.timetuple())
    digits = value[18:]
    assert ns == epoch * 10**9 + (int(digits) * 10 ** (9 - len(digits)) if digits else 0)
    assert abs(ns / 1e9 - seconds) < 1e-6


@given(st.lists(st.floats(631_152_000, 3_786_912_000), min_size=1, max_size=20), st.data())
def test_stamping_reuses_a_millisecond_only_within_it(
    moments: list[float], draw: st.DataObject
) -> None:
    """Stamps taken in any order, the same instant again or a nearby one, each read back as
    the millisecond it was taken in (the per-millisecond reuse never leaks into another)."""
    for now in moments + [m + draw.draw(st.floats(-0.002, 0.002)) for m in moments]:
        stamp = utc_timestamp(now)
        expected = dt.datetime.fromtimestamp(int(now * 1000) / 1000, dt.UTC)
        assert stamp == expected.strftime("%Y%m%d-%H:%M:%S.%f")[:-3].encode()
        assert 0 <= now - parse_utc_timestamp(stamp) < 0.001 + 1e-6


@settings(max_examples=300)
@given(
    _moments,
    _fractions,
    st.integers(0, 999_999_999),
    st.floats(-300, 300),
    st.floats(0.5, 200),
    st.booleans(),
)
@example(dt.datetime(2020, 1, 1), ".{:03d}", 999, -9.5, 10.0, True)  # late in a second ahead
@example(dt.datetime(2020, 1, 1), ".{:03d}", 1, 10.5, 10.0, True)  # early in a second behind
def test_the_latency_check_agrees_with_parsing_the_whole_timestamp(
    moment: dt.datetime, fraction: str, n: int, skew: float, limit: float, warm: bool
) -> None:
    value = _stamp(moment, fraction, n)
    now = calendar.timegm(moment.timetuple()) + skew
    if warm:  # the second already parsed: the shortcut may answer
        parse_utc_timestamp(value[:17])
    try:
        expected = abs(now - parse_utc_timestamp(value)) <= limit
    except ValueError:
        expected = False  # not a timestamp: never "within" (validation names the reason)
    assert within_latency(value, now, limit) == expected


# -- one-entry incrementals ------------------------------------------------------------------


class Log(MarketDataListener):
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def on_book(self, symbol: str, book: L2Book) -> None:
        self.calls.append(("book", symbol, book.best_bid, book.best_ask, book.bid_total))

    def on_trade(self, symbol: str, trade: Trade) -> None:
        self.calls.append(("trade", symbol, trade.price, trade.size, trade.aggressor))

    def on_stale(self, symbol: str, reason: str) -> None:
        self.calls.append(("stale", symbol, reason))


def _client() -> tuple[MarketDataClient, Log]:
    log = Log()
    md = MarketDataClient(FixSession(SessionConfig("C", "V"), MemoryStore()), log)
    for symbol in ("AAPL", "MSFT"):
        md.subscribe(symbol)
        # A snapshot including RptSeq 2: an entry with RptSeq 1 is old, 3 is next, 7 a gap.
        snapshot = [(8, "FIX.4.4"), (35, "W"), (55, symbol), (83, "2"), (268, 1)]
        snapshot += [(269, "0"), (270, 5), (271, 1)]
        md.on_message(md.session, FixMessage.decode(encode_pairs(snapshot)))
    log.calls.clear()
    return md, log


_entry_fields = st.lists(
    st.sampled_from(
        [
            (269, "0"),
            (269, "1"),
            (269, "2"),
            (270, "585.33"),
            (270, "x"),
            (271, "300"),
            (271, "2.5"),
            (55, "AAPL"),
            (55, "MSFT"),
            (55, "IBM"),
            (83, "1"),
            (83, "3"),
            (83, "7"),
            (54, "1"),
            (272, "20120621"),
            (273, "14:00:00.123456"),
            (273, "bad"),
            (58, "not an entry tag: ends the entry"),
        ]
    ),
    max_size=8,
    unique_by=lambda f: f[0],
)


@settings(max_examples=500)
@given(
    st.lists(
        st.tuples(st.sampled_from(["0", "1", "2", "9"]), _entry_fields), min_size=1, max_size=3
    ),
    st.lists(st.sampled_from([(55, "AAPL"), (83, "1"), (83, "3"), (58, "note")]), max_size=2),
    st.sampled_from(["1", "2", "0"]),
)
def test_a_one_entry_incremental_reads_as_the_group_walk_reads_it(
    entries: list[tuple[str, list[tuple[int, str]]]],
    before: list[tuple[int, str]],
    count: str,
) -> None:
    """The same message twice: as sent, and with a trailing non-entry field that ends the
    group early and so sends it the long way. Whatever one client does, the other does."""
    pairs: list[tuple[int, str]] = [(8, "FIX.4.4"), (35, "X"), (262, "r"), *before, (268, count)]
    for action, fields in entries:
        pairs += [(279, action), *fields]
    plain = FixMessage.decode(encode_pairs(pairs))
    long_way = FixMessage.decode(encode_pairs([*pairs, (58, "end")]))
    outcomes = []
    for msg in (plain, long_way):
        md, log = _client()
        try:
            md.on_message(md.session, msg)
            error = ""
        except NotLoggedOnError:  # a gap asks for a snapshot: not logged on here
            error = "snapshot requested"
        books = {s: (b.best_bid, b.best_ask, b.bid_total, b.ask_total) for s, b in md.books.items()}
        state = (sorted(md.stale), md.venue_time_ns, dict(md._next_rpt))
        outcomes.append((log.calls, books, state, error))
    assert outcomes[0] == outcomes[1]


# -- write batching ------------------------------------------------------------------------


class Transport:
    """Records each write (the peer end of a connection under test)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class TwoReplies(Application):
    def on_message(self, session: FixSession, message: FixMessage) -> None:
        for exec_type in (b"0", b"F"):
            session.send(b"8", b"11=" + message.fields[11] + b"\x01150=" + exec_type + b"\x01")


def _inbound(seq: int, msg_type: str, *fields: tuple[int, FieldValue]) -> bytes:
    header: list[tuple[int, FieldValue]] = [(8, "FIX.4.4"), (35, msg_type), (49, "CLIENT")]
    header += [(56, "VENUE"), (34, seq), (52, utc_timestamp())]
    return encode_pairs(header + list(fields))


async def _logged_on_venue() -> tuple[FixSession, Transport]:
    config = SessionConfig("VENUE", "CLIENT", Role.ACCEPTOR)
    session = FixSession(config, MemoryStore(), TwoReplies())
    await session.open()
    transport = Transport()
    FixConnection(session).connection_made(transport)  # type: ignore[arg-type]
    session.connection.data_received(_inbound(1, "A", (98, 0), (108, 30)))  # type: ignore[union-attr]
    assert session.is_logged_on
    transport.writes.clear()
    return session, transport


def _sent(transport: Transport) -> list[tuple[int, bytes]]:
    framer = FixFramer()
    frames = [m for w in transport.writes for m in framer.feed(w)]
    messages = [FixMessage.decode(m) for m in frames if isinstance(m, bytes)]
    assert len(messages) == len(frames)
    return [(int(m.fields[34]), m.fields[150]) for m in messages]


async def test_a_large_batch_of_replies_goes_out_in_bounded_writes_in_order() -> None:
    session, transport = await _logged_on_venue()
    orders = b"".join(_inbound(2 + i, "D", (11, f"o{i}")) for i in range(100))
    session.connection.data_received(orders)  # type: ignore[union-attr]
    # 200 replies: the peer gets the first WRITE_BATCH while the rest are being made.
    assert [len(list(FixFramer().feed(w))) for w in transport.writes] == [64, 64, 64, 8]
    assert _sent(transport) == [(2 + i, b"0F"[i % 2 : i % 2 + 1]) for i in range(200)]
    stored = await session.store.messages(2, 201)
    assert [seq for seq, _ in stored] == list(range(2, 202))


async def test_a_corked_burst_is_written_in_bounded_writes() -> None:
    session, transport = await _logged_on_venue()
    with session.corked():
        for i in range(70):
            session.send(b"8", b"11=c%d\x01150=0\x01" % i)
        assert len(transport.writes) == 1  # the first WRITE_BATCH, before the block ends
    assert [len(list(FixFramer().feed(w))) for w in transport.writes] == [64, 6]


# -- prices read once ------------------------------------------------------------------------

_price_texts = st.one_of(
    st.from_regex(rb"\A-?[0-9]{0,7}(\.[0-9]{0,7})?\Z"),
    st.binary(max_size=30),
    st.from_regex(rb"\A[0-9]{20,40}\.[0-9]{1,5}\Z"),  # valid, but too long to be kept
)


@settings(max_examples=400)
@given(st.lists(_price_texts, min_size=1, max_size=30))
def test_a_price_read_again_reads_as_it_did_the_first_time(texts: list[bytes]) -> None:
    for text in texts + texts:
        try:
            expected: int | None = price_from_text(text)
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(FieldError, match="tag 31 in MsgType 8: not a price"):
                parse_price(text, 31, b"8")
        else:
            assert parse_price(text, 31, b"8") == expected


@given(st.lists(st.integers(-(10**30), 10**30) | st.integers(-(10**9), 10**9), max_size=30))
def test_a_price_formatted_again_reads_as_it_did_the_first_time(prices: list[int]) -> None:
    for price in prices + prices:
        whole, frac = divmod(abs(price), 10_000)
        text = b"%d" % whole if not frac else (b"%d.%04d" % (whole, frac)).rstrip(b"0")
        assert format_price(price) == (b"-" + text if price < 0 else text)
        assert parse_price(format_price(price)) == price


def test_the_kept_prices_are_bounded() -> None:
    for i in range(3 * values._PRICES_KEPT):
        assert parse_price(b"%d.25" % i) == i * 10_000 + 2_500
    assert len(values._prices) <= values._PRICES_KEPT
    for i in range(3 * values._PRICES_KEPT):
        assert format_price(i * 10_000 + 2_500) == b"%d.25" % i
    assert len(values._price_texts) <= values._PRICES_KEPT
    assert parse_price(b"7" * 30 + b".5") == int("7" * 30) * 10_000 + 5_000
    assert b"7" * 30 + b".5" not in values._prices


# -- execution reports -----------------------------------------------------------------------

_qty_texts = st.one_of(
    st.integers(0, 10**12).map(lambda n: b"%d" % n),
    st.sampled_from([b"100.0", b"100.5", b"", b"-5", b"1e3", b"9" * 19, b"9" * 5000]),
)
_px_texts = st.one_of(
    st.sampled_from([b"585.33", b"0", b"-0.5", b"1.00005", b"x"]),
    _price_texts.filter(lambda text: b"\x01" not in text),  # a field value holds no SOH
)
_ER_TAGS = {
    "order_qty": fix.ORDER_QTY,
    "last_qty": fix.LAST_QTY,
    "cum_qty": fix.CUM_QTY,
    "leaves_qty": fix.LEAVES_QTY,
    "last_px": fix.LAST_PX,
    "avg_px": fix.AVG_PX,
    "price": fix.PRICE,
}


def _read_field(name: str, text: bytes | None) -> int | None:
    """What the ER field reads as, the long way: parse_qty / parse_price, or FieldError."""
    tag = _ER_TAGS[name]
    if text is None:
        return 0 if name in ("order_qty", "last_qty") else None
    if name.endswith("_px") or name == "price":
        return parse_price(text, tag, b"8")
    return parse_qty(text, tag)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {"cum_qty": _qty_texts, "leaves_qty": _qty_texts},
        optional={
            "order_qty": _qty_texts,
            "last_qty": _qty_texts,
            "last_px": _px_texts,
            "avg_px": _px_texts,
            "price": _px_texts,
        },
    ),
    st.sampled_from([b"0", b"F", b"4", b"Z"]),
)
def test_an_execution_report_reads_its_numbers_as_the_field_readers_do(
    numbers: dict[str, bytes], exec_type: bytes
) -> None:
    fields = [(37, b"O1"), (11, b"c1"), (17, b"E1"), (150, exec_type), (39, b"1"), (54, b"1")]
    fields += [(_ER_TAGS[name], text) for name, text in numbers.items()]
    raw = encode_pairs([(8, "FIX.4.4"), (35, "8"), *fields])
    msg = FixMessage.decode(raw)
    expected: dict[str, int | None] = {}
    error: FieldError | None = None
    # The report's numbers in the order the event holds them: the first bad one is named.
    for name in ("order_qty", "last_qty", "last_px", "cum_qty", "leaves_qty", "avg_px", "price"):
        try:
            expected[name] = _read_field(name, numbers.get(name))
        except FieldError as exc:
            error = error or exc
        except ValueError:  # int() of over 4,300 digits: parse_qty's own limit
            error = error or FieldError(_ER_TAGS[name], "too long", b"8")
    if exec_type == b"Z":
        with pytest.raises(FieldError, match="tag 150"):
            parse_execution_report(msg, 7)
        return
    if error is not None:
        with pytest.raises((FieldError, ValueError)):
            parse_execution_report(msg, 7)
        return
    event = parse_execution_report(msg, 7)
    assert {name: getattr(event, name) for name in expected} == expected
    assert (event.cl_ord_id, event.order_id, event.exec_id, event.received_ns) == (
        "c1",
        "O1",
        "E1",
        7,
    )
    assert type(event) is ExecutionEvent and event == ExecutionEvent(*event)
