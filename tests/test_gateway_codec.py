"""The hand-written codec against simplefix, the reference: byte-identical output, same fields."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
import simplefix
import simplefix.data
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.gateway.codec import (
    FixFramer,
    Garbled,
    GarbledError,
    encode,
    encode_fields,
    encode_pairs,
    parse_field_map,
    parse_fields,
)
from rlexec.gateway.message import FixMessage
from rlexec.gateway.tags import RAW_DATA_PAIRS

# simplefix knows data fields from later FIX versions too; keep generated plain tags clear of them.
RAW_TAGS = (
    {t for pair in RAW_DATA_PAIRS for t in pair}
    | set(simplefix.data.RAW_LEN_TAGS)
    | set(simplefix.data.RAW_DATA_TAGS)
)
SPECIAL = {8, 9, 10, 35} | RAW_TAGS

tags = st.integers(min_value=1, max_value=99_999).filter(lambda t: t not in SPECIAL)
text_values = st.text(
    st.characters(exclude_characters="\x01", exclude_categories=["Cs"]), min_size=1
)
byte_values = st.binary(min_size=1, max_size=40).filter(lambda b: b"\x01" not in b)
values = st.one_of(
    text_values,
    byte_values,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
)
plain_field = st.tuples(tags, values).map(lambda p: [p])
raw_field = st.tuples(st.sampled_from(RAW_DATA_PAIRS), st.binary(min_size=1, max_size=30)).map(
    lambda p: [(p[0][0], len(p[1])), (p[0][1], p[1])]
)
begin_strings = st.sampled_from(["FIX.4.4", "FIX.4.2", "FIXT.1.1", "FIX.5.0SP2"])
msg_types = st.text(st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=2).filter(
    lambda s: s.isascii()
)


@st.composite
def messages(draw: st.DrawFn) -> list[tuple[int, object]]:
    body = [
        pair
        for chunk in draw(st.lists(st.one_of(plain_field, raw_field), max_size=25))
        for pair in chunk
    ]
    return [(8, draw(begin_strings)), (35, draw(msg_types)), *body]


def simplefix_encode(pairs: list[tuple[int, object]]) -> bytes:
    msg = simplefix.FixMessage()
    for tag, value in pairs:
        msg.append_pair(tag, value)
    return bytes(msg.encode())


def simplefix_parse(data: bytes) -> list[tuple[int, bytes]]:
    parser = simplefix.FixParser()
    parser.append_buffer(data)
    msg = parser.get_message()
    assert msg is not None
    return [(int(tag), bytes(value)) for tag, value in msg.pairs]


@settings(max_examples=300, deadline=None)
@given(messages())
def test_encoding_is_byte_identical_to_simplefix(pairs: list[tuple[int, object]]) -> None:
    assert encode_pairs(pairs) == simplefix_encode(pairs)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(messages())
def test_parsing_yields_the_same_fields_as_simplefix(pairs: list[tuple[int, object]]) -> None:
    wire = simplefix_encode(pairs)
    frames = FixFramer().feed(wire)
    assert frames == [wire]
    assert parse_fields(wire) == simplefix_parse(wire)
    parsed = parse_fields(wire)
    assert parse_field_map(wire) == (dict(parsed), len(parsed))


@settings(max_examples=150, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=5), st.data())
def test_framing_does_not_depend_on_how_the_stream_is_cut(
    batch: list[list[tuple[int, object]]], data: st.DataObject
) -> None:
    wires = [simplefix_encode(p) for p in batch]
    stream = b"".join(wires)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = FixFramer()
    out: list[bytes | Garbled] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        out.extend(framer.feed(stream[last:cut]))
        last = cut
    assert out == wires
    assert framer.pending == 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            messages().map(simplefix_encode),
            st.tuples(messages(), st.integers(0, 400), st.integers(0, 255)).map(
                lambda m: _flip(simplefix_encode(m[0]), m[1], m[2])
            ),
            st.binary(max_size=30),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_whole_reads_frame_as_byte_by_byte_reads_do(pieces: list[bytes]) -> None:
    """A read of whole messages takes the framer's short way, a byte at a time its careful
    way: both find the same messages and the same garbled stretches."""
    stream = b"".join(pieces)
    at_once = FixFramer(max_body_length=4096)
    whole = at_once.feed(stream)
    one_by_one = FixFramer(max_body_length=4096)
    careful = [item for i in range(len(stream)) for item in one_by_one.feed(stream[i : i + 1])]
    assert [i for i in whole if isinstance(i, bytes)] == [
        i for i in careful if isinstance(i, bytes)
    ]
    assert at_once.pending == one_by_one.pending


def _flip(wire: bytes, index: int, value: int) -> bytes:
    corrupted = bytearray(wire)
    corrupted[index % len(wire)] = value
    return bytes(corrupted)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.binary(max_size=40), max_size=5))
def test_the_framer_never_raises_on_garbage(garbage: bytes, chunks: list[bytes]) -> None:
    framer = FixFramer(max_body_length=4096)
    for chunk in [garbage, *chunks]:
        for item in framer.feed(chunk):
            if isinstance(item, bytes):
                assert int(item[-4:-1]) == sum(item[:-7]) % 256
                with contextlib.suppress(GarbledError):
                    FixMessage.decode(item)


@settings(max_examples=300, deadline=None)
@given(messages(), st.data())
def test_a_corrupted_message_is_garbled_or_still_valid(
    pairs: list[tuple[int, object]], data: st.DataObject
) -> None:
    wire = bytearray(simplefix_encode(pairs))
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] = data.draw(st.integers(0, 255))
    good = simplefix_encode(pairs)
    trailer = simplefix_encode([(8, "FIX.4.4"), (35, "0")])
    items = FixFramer().feed(bytes(wire) + trailer)
    assert items[-1] == trailer, "a good message after a corrupted one must still be framed"
    for item in items[:-1]:
        if isinstance(item, bytes):
            # Only a byte flip that keeps length and checksum valid can pass: then it parses.
            assert len(item) == len(good)
            assert sum(item[: item.rfind(b"10=")]) & 255 == int(item[-4:-1])


def test_encode_builds_body_length_and_zero_padded_checksum() -> None:
    wire = encode(b"FIX.4.4", b"0", b"49=A\x0156=B\x0134=1\x01")
    assert wire.startswith(b"8=FIX.4.4\x019=20\x0135=0\x01")
    assert wire[-7:-4] == b"10="
    assert len(wire[-4:-1]) == 3 and wire[-4:-1].isdigit()
    assert int(wire[-4:-1]) == sum(wire[:-7]) % 256
    assert FixFramer().feed(wire) == [wire]


def test_encode_fields_joins_with_soh() -> None:
    assert encode_fields([(55, "AAPL"), (44, Decimal("1.5")), (38, 100)]) == (
        b"55=AAPL\x0144=1.5\x0138=100\x01"
    )
    with pytest.raises(ValueError, match="positive"):
        encode_fields([(0, "x")])


def test_encode_pairs_names_the_missing_field() -> None:
    with pytest.raises(ValueError, match=r"MsgType \(35\)"):
        encode_pairs([(8, "FIX.4.4"), (55, "X")])
    with pytest.raises(ValueError, match=r"BeginString \(8\)"):
        encode_pairs([(35, "0")])


GOOD = encode(b"FIX.4.4", b"0", b"49=A\x0156=B\x0134=7\x0152=20240101-00:00:00.000\x01")


def _reasons(items: list[bytes | Garbled]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Garbled)]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (GOOD.replace(b"9=", b"9=-"), "BodyLength (9) is not a number"),
        (GOOD.replace(b"9=", b"9=x"), "BodyLength (9) is not a number"),
        (GOOD[:-4] + b"%03d\x01" % ((int(GOOD[-4:-1]) + 1) % 256), "CheckSum (10)"),
        (GOOD.replace(b"9=45", b"9=44"), "does not end at the CheckSum"),
        (
            GOOD.replace(b"\x019=45\x0135=0", b"\x0135=0\x019=45"),
            "BodyLength (9) is not the second",
        ),
        (b"8=FIX.4.4\x019=10485760\x0135=D\x01" + b"x" * 1000, "exceeds the limit"),
    ],
)
def test_garbled_frames_are_reported_and_the_next_message_still_gets_through(
    wire: bytes, reason: str
) -> None:
    items = FixFramer().feed(wire + GOOD)
    assert any(reason in r for r in _reasons(items)), items
    assert items[-1] == GOOD


def test_msg_type_must_be_third() -> None:
    body = b"49=A\x0135=0\x0156=B\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    wire = head + body + b"10=%03d\x01" % (sum(head + body) % 256)
    items = FixFramer().feed(wire + GOOD)
    assert _reasons(items) == ["MsgType (35) is not the third field"]
    assert items[-1] == GOOD


def test_too_long_body_length_does_not_hold_later_messages_hostage() -> None:
    bad = GOOD.replace(b"9=45", b"9=900")
    framer = FixFramer()
    items = framer.feed(bad + GOOD)
    assert "runs past the end" in _reasons(items)[0]
    assert items[-1] == GOOD


def test_a_huge_body_is_skipped_in_one_report_without_buffering_it() -> None:
    framer = FixFramer(max_body_length=1 << 20)
    items = framer.feed(b"8=FIX.4.4\x019=10485760\x0135=D\x01")
    for _ in range(100):
        items += framer.feed(b"y" * 100_000)
        assert framer.pending < 16
    items += framer.feed(GOOD)
    assert len(_reasons(items)) == 1
    assert items[-1] == GOOD


def test_a_half_message_waits_and_can_be_cleared() -> None:
    framer = FixFramer()
    assert framer.feed(GOOD[:30]) == []
    assert framer.pending == 30
    assert framer.clear() == GOOD[:30]
    assert framer.feed(GOOD) == [GOOD]


def test_non_numeric_tags_and_fields_without_equals_are_garbled() -> None:
    with pytest.raises(GarbledError, match="non-numeric tag"):
        parse_fields(b"8=FIX.4.4\x019=5\x0135=0\x01ab=1\x0110=000\x01")
    with pytest.raises(GarbledError, match="without '='"):
        parse_fields(b"8=FIX.4.4\x019=5\x0135=0\x0155\x01")
    with pytest.raises(GarbledError, match="end with SOH"):
        parse_fields(b"8=FIX.4.4\x019=5\x0135=0")


def test_data_fields_may_contain_soh() -> None:
    wire = encode_pairs([(8, "FIX.4.4"), (35, "B"), (95, 5), (96, b"a\x01b=c"), (58, "x")])
    assert FixFramer().feed(wire) == [wire]
    assert (96, b"a\x01b=c") in parse_fields(wire)
    assert parse_fields(wire) == simplefix_parse(wire)


def test_message_lookup_and_typed_getters() -> None:
    wire = encode_pairs(
        [(8, "FIX.4.4"), (35, "8"), (34, 12), (38, 100), (44, "585.33"), (58, "hi"), (39, "-3")]
    )
    msg = FixMessage.decode(wire)
    assert msg.msg_type == b"8"
    assert msg.seq_num == 12
    assert msg.get_int(38) == 100
    assert msg.get_int(39) == -3
    assert msg.get_float(44) == 585.33
    assert msg.text(58) == "hi"
    assert msg.get_str(1) is None
    assert 58 in msg and 1 not in msg
    with pytest.raises(Exception, match="tag 1 in MsgType 8: required field is missing"):
        msg[1]
    with pytest.raises(Exception, match="tag 58 in MsgType 8: not an integer"):
        msg.get_int(58)


def test_repeating_group_entries_and_repeated_tags() -> None:
    wire = encode_pairs(
        [
            (8, "FIX.4.4"),
            (35, "W"),
            (55, "AAPL"),
            (268, 2),
            (269, "0"),
            (270, "1.0"),
            (271, 5),
            (269, "1"),
            (270, "1.1"),
            (271, 7),
        ]
    )
    msg = FixMessage.decode(wire)
    assert msg.group(268, 269) == [
        {269: b"0", 270: b"1.0", 271: b"5"},
        {269: b"1", 270: b"1.1", 271: b"7"},
    ]
    assert msg.repeated_tags() == [269, 270, 271]
    short = FixMessage.decode(wire.replace(b"268=2", b"268=3"))
    with pytest.raises(Exception, match="tag 268 in MsgType W: says 3 entries but 2 follow"):
        short.group(268, 269)
