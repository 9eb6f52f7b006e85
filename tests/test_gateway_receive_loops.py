"""The compiled receive loops (rlexec/gateway/receive_loops.c) against their Python reference in
`codec`: the same answer for every message, valid, mutated or made up byte by byte."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rlexec.gateway import codec
from rlexec.gateway.codec import FixFramer, GarbledError, encode, parse_field_map
from rlexec.gateway.tags import RAW_DATA_PAIRS

SOURCE = Path(codec.__file__).with_name("receive_loops.c")


def test_the_compiled_loops_are_built_from_this_source() -> None:
    """`make test` builds them (pip install -e . with a C compiler); a stale or missing build
    would test the Python fallback twice and ship the old C."""
    assert codec.COMPILED, (
        "rlexec.gateway.receive_loops is not built (run `pip install -e .`) or RLEXEC_FIX_CODEC=python"
    )
    from rlexec.gateway import receive_loops

    assert hashlib.sha256(SOURCE.read_bytes()).hexdigest() == receive_loops.SOURCE_SHA256, (
        "rlexec/gateway/receive_loops.c changed since it was built: run `pip install -e .`"
    )


def fast_field_map(message: bytes) -> tuple[dict[int, bytes], int] | None:
    from rlexec.gateway import receive_loops

    return receive_loops.field_map(message)


def reference_field_map(message: bytes) -> tuple[dict[int, bytes], int] | str:
    try:
        return codec._field_map(message)
    except GarbledError as exc:
        return f"GarbledError: {exc}"


def answer(message: bytes) -> tuple[dict[int, bytes], int] | str:
    try:
        return parse_field_map(message)
    except GarbledError as exc:
        return f"GarbledError: {exc}"


RAW_LENGTHS = [length for length, _ in RAW_DATA_PAIRS]
tag_texts = st.one_of(
    st.integers(1, 9999).map(lambda t: b"%d" % t),
    st.sampled_from([b"0", b"00", b"035", b"10000", b"99999", b"", b"1a", b"-1", b" 35", b"3 5"]),
    st.sampled_from(RAW_LENGTHS).map(lambda t: b"%d" % t),
    st.binary(max_size=6).filter(lambda b: b"=" not in b and b"\x01" not in b),
)
value_bytes = st.binary(max_size=12).filter(lambda b: b"\x01" not in b)
parts = st.one_of(
    st.builds(lambda t, v: t + b"=" + v, tag_texts, value_bytes),
    st.builds(lambda t: t, tag_texts),  # no '='
    st.builds(lambda t, v, w: t + b"=" + v + b"=" + w, tag_texts, value_bytes, value_bytes),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(parts, max_size=12), st.booleans())
@example([b"35=X", b"268=1", b"279=0"], True)
@example([b"95=3", b"96=a\x01b"], True)  # a raw-data field: only the careful parser reads it
@example([], True)
@example([b"35=X"], False)
def test_field_map_answers_as_the_python_reference(pieces: list[bytes], soh_end: bool) -> None:
    message = b"\x01".join(pieces) + (b"\x01" if soh_end else b"")
    fast = fast_field_map(message)
    reference = reference_field_map(message)
    if fast is not None:  # it answers only what the Python loop answers the same way
        assert fast == reference
        assert list(fast[0]) == list(reference[0])  # the same order
    assert answer(message) == reference


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_field_map_on_arbitrary_bytes(message: bytes) -> None:
    fast = fast_field_map(message)
    if fast is not None:
        assert fast == reference_field_map(message)
    assert answer(message) == reference_field_map(message)


def test_field_map_leaves_unusual_input_to_the_python_code() -> None:
    assert fast_field_map(b"35=X\x0195=2\x0196=\x01\x01\x01") is None  # raw data: careful parser
    assert fast_field_map(b"35=X\x01abc\x01") is None
    assert fast_field_map(b"35=X") is None  # no closing SOH: Python raises, naming it
    assert fast_field_map(bytearray(b"35=X\x01")) is None  # type: ignore[arg-type]
    with pytest.raises(GarbledError, match="does not end with SOH"):
        parse_field_map(b"35=X")
    assert fast_field_map(b"35=X\x0158=a=b\x0135=Y\x01") == ({35: b"Y", 58: b"a=b"}, 3)


def whole_message_ends(buf: bytes, start: int, size: int, limit: int) -> tuple[int, int]:
    from rlexec.gateway import receive_loops

    return (
        receive_loops.whole_message_end(buf, start, size, limit),
        codec._whole_message_end_py(buf, start, size, limit),
    )


def frame_of(body: list[bytes]) -> bytes:
    return encode(b"FIX.4.4", b"X", b"".join(f + b"\x01" for f in body))


bodies = st.lists(
    st.builds(lambda t, v: b"%d=" % t + v, st.integers(1, 999), value_bytes), max_size=30
)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(bodies, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
    st.integers(0, 40),
    st.integers(0, 10),
    st.sampled_from([1 << 20, 300, 40, 0]),
)
def test_whole_message_end_answers_as_the_python_reference(
    batch: list[list[bytes]],
    flips: list[tuple[int, int]],
    cut: int,
    start_shift: int,
    limit: int,
) -> None:
    """Valid frames back to back, then bytes changed, the end cut off, odd starting points
    and body-length limits: every offset the framer would ask about answers the same."""
    data = bytearray(b"".join(frame_of(b) for b in batch))
    for at, byte in flips:
        data[at % len(data)] = byte
    buf = bytes(data[: max(0, len(data) - cut)])
    for start in {0, start_shift, *(i for i in range(len(buf)) if buf.startswith(b"8=", i))}:
        c, py = whole_message_ends(buf, start, len(buf), limit)
        assert c == py, (buf, start, limit)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 70))
def test_whole_message_end_on_arbitrary_bytes(tail: bytes, start: int) -> None:
    for buf in (b"8=FIX" + tail, b"8=FIX.4.4\x019=" + tail, tail):
        c, py = whole_message_ends(buf, start, len(buf), 1 << 20)
        assert c == py


def test_whole_message_end_refuses_what_is_not_its_input() -> None:
    from rlexec.gateway import receive_loops

    with pytest.raises(TypeError, match="whole_message_end"):
        receive_loops.whole_message_end(bytearray(b"8=FIX"), 0, 5, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        receive_loops.whole_message_end(b"8=FIX", 0, 5)  # type: ignore[call-arg]


def test_the_framer_cuts_a_stream_the_same_either_way() -> None:
    """End to end through `FixFramer.feed`: a burst of frames, one garbled in the middle."""
    good = [frame_of([b"55=AAPL", b"268=1", b"279=%d" % i, b"270=585.%02d" % i]) for i in range(6)]
    bad = bytearray(good[3])
    bad[-3] ^= 1  # a wrong CheckSum
    stream = b"".join([*good[:3], bytes(bad), *good[4:]])
    compiled = FixFramer().feed(stream)
    with codec.python_loops():
        assert codec._whole_message_end is codec._whole_message_end_py
        python = FixFramer().feed(stream)
    from rlexec.gateway import receive_loops

    assert codec._whole_message_end is receive_loops.whole_message_end  # restored after
    assert compiled == python
    assert [f for f in compiled if type(f) is bytes] == [*good[:3], *good[4:]]


def test_the_python_reference_can_be_chosen_at_start() -> None:
    """RLEXEC_FIX_CODEC=python: the process runs the reference loops, and its metrics say so."""
    probe = (
        "from rlexec.gateway import codec\n"
        "from rlexec.gateway.metrics import GatewayMetrics\n"
        "m = GatewayMetrics()\n"
        "msg = codec.encode(b'FIX.4.4', b'0', b'49=A\\x0156=B\\x0134=7\\x01')\n"
        "fields, count = codec.parse_field_map(msg)\n"
        "print(codec.COMPILED, m.registry.get_sample_value('rlexec_fix_codec_compiled'),"
        " fields[34], count, codec._whole_message_end(msg, 0, len(msg), 99) == len(msg))\n"
    )
    out = {}
    for choice in ("python", ""):
        env = {**os.environ, "RLEXEC_FIX_CODEC": choice}
        run = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        out[choice] = run.stdout.split()
    assert out["python"] == ["False", "0.0", "b'7'", "7", "True"]
    assert out[""] == ["True", "1.0", "b'7'", "7", "True"]
