"""The file store's integrity: checksummed records, a corrupt record refuses to open, only a
torn last record is ever dropped, and a resend never sends a stored message that fails its
checksum (issue 13, item 7)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rlexec.gateway.errors import StoreError
from rlexec.gateway.store_file import FileStore, FileStoreMetrics
from tests.test_gateway_session import logged_on, start_venue

N = 100


def _order(seq: int) -> bytes:
    return b"8=FIX.4.4\x019=40\x0135=D\x0134=%d\x0111=o%d\x0138=100\x0110=000\x01" % (seq, seq)


async def _written(path: Path, n: int = N) -> list[int]:
    """A store with n messages, one flush each; the file offset where each record starts."""
    s = FileStore(path, fsync="never")
    await s.open()
    starts = []
    for seq in range(1, n + 1):
        starts.append(os.stat(path).st_size)
        s.save_message(seq, _order(seq))
        s.flush()
    await s.close()
    return starts


def _flip(path: Path, offset: int, new: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = new if new is not None else data[offset] ^ 0x01
    path.write_bytes(bytes(data))


async def _open(path: Path) -> tuple[FileStore, int]:
    s = FileStore(path)
    state = await s.open()
    return s, state.next_sender_seq


async def test_one_bad_header_byte_mid_file_refuses_to_open_naming_file_and_offset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.fixlog"
    starts = await _written(path)
    _flip(path, starts[9], ord("X"))  # record 10's kind byte: today 91 records vanish
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"{path}: corrupt record at byte offset {starts[9]}\b"):
        await FileStore(path).open()
    assert path.read_bytes() == before, "a refused store is left exactly as it was"


async def test_a_flipped_length_digit_mid_file_refuses_instead_of_rewinding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.fixlog"
    starts = await _written(path)
    header = path.read_bytes()[starts[9] :].split(b"\n", 1)[0]
    length_at = starts[9] + header.index(b" ", 2) + 1
    _flip(path, length_at, ord("9"))  # the declared length now runs past the end of the file
    with pytest.raises(StoreError, match=f"byte offset {starts[9]}"):
        await FileStore(path).open()


async def test_a_flipped_payload_byte_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    starts = await _written(path)
    at = path.read_bytes().index(b"38=100", starts[41])
    _flip(path, at + 3, ord("9"))  # 38=100 -> 38=900
    with pytest.raises(StoreError, match=f"byte offset {starts[41]}: message seq=42 payload"):
        await FileStore(path).open()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_any_flipped_byte_before_the_last_record_refuses_to_open(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("flip") / "s.fixlog"
    starts = await _written(path, 8)
    # drawn as a fraction: the header line's length (a float timestamp) varies from run to run
    offset = starts[0] + data.draw(st.integers(0, 10**6), label="k") % (starts[-1] - starts[0])
    bit = data.draw(st.integers(0, 7), label="bit")
    original = path.read_bytes()
    _flip(path, offset, original[offset] ^ (1 << bit))
    record_start = max(s for s in starts if s <= offset)
    with pytest.raises(StoreError, match=f"byte offset {record_start}:"):
        await FileStore(path).open()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_a_torn_last_record_is_the_only_thing_ever_dropped(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("torn") / "s.fixlog"
    starts = await _written(path, 6)
    size = path.stat().st_size
    cut = starts[-1] + 1 + data.draw(st.integers(0, 10**6), label="k") % (size - starts[-1] - 1)
    os.truncate(path, cut)
    s, next_sender = await _open(path)
    assert next_sender == 6
    assert [seq for seq, _ in await s.messages(1, 10)] == [1, 2, 3, 4, 5]
    s.save_message(6, _order(6))  # appending after the cut makes a readable file again
    await s.close()
    s, next_sender = await _open(path)
    assert next_sender == 7 and path.stat().st_size == size
    await s.close()


async def test_a_torn_tail_is_logged_when_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.fixlog"
    await _written(path, 3)
    os.truncate(path, path.stat().st_size - 5)
    with caplog.at_level(logging.WARNING, "rlexec.gateway"):
        s, next_sender = await _open(path)
    await s.close()
    assert next_sender == 3
    assert any("event=store_truncated" in r.getMessage() for r in caplog.records)


async def test_resend_leaves_out_a_record_corrupted_after_open_and_counts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.fixlog"
    registry = CollectorRegistry()
    s = FileStore(path, fsync="never", metrics=FileStoreMetrics(registry))
    await s.open()
    for seq in range(1, 6):
        s.save_message(seq, _order(seq))
    s.flush()
    at = path.read_bytes().index(b"11=o3\x0138=100") + 9
    fd = os.open(path, os.O_WRONLY)  # the disk changes under an open store
    os.pwrite(fd, b"9", at)
    os.close(fd)
    with caplog.at_level(logging.ERROR, "rlexec.gateway"):
        got = await s.messages(1, 5)
    assert [seq for seq, _ in got] == [1, 2, 4, 5]
    assert s.corrupt_records_skipped == 1
    value = registry.get_sample_value(
        "rlexec_fix_store_corrupt_records_total", {"store": "s.fixlog"}
    )
    assert value == 1
    assert any(
        "event=store_record_corrupt" in r.getMessage() and "seq=3" in r.getMessage()
        for r in caplog.records
    )
    await s.close()


async def test_a_session_gap_fills_over_a_stored_message_that_fails_its_checksum(
    tmp_path: Path,
) -> None:
    path = tmp_path / "venue.fixlog"
    store = FileStore(path, fsync="never")
    venue = await start_venue(store)
    try:
        peer = await venue.peer()
        await logged_on(venue, peer)
        venue.session.send(b"8", b"11=a\x01150=0\x0138=100\x01")
        venue.session.send(b"8", b"11=b\x01150=0\x0138=100\x01")
        venue.session.send(b"8", b"11=c\x01150=0\x0138=100\x01")
        for _ in range(3):
            await peer.expect("8")
        at = path.read_bytes().index(b"11=b\x01150=0\x0138=100") + 15
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, b"9", at)  # 38=100 -> 38=900 on disk
        os.close(fd)
        await peer.send("2", [(7, 2), (16, 4)])
        got = [await peer.receive() for _ in range(3)]
        assert [(m.msg_type, m.get_int(34)) for m in got] == [(b"8", 2), (b"4", 3), (b"8", 4)]
        assert got[1].get(123) == b"Y" and got[1].get_int(36) == 4
        assert got[0].get(38) == b"100" and got[2].get(38) == b"100"
        assert store.corrupt_records_skipped == 1
        await peer.close()
    finally:
        await venue.acceptor.stop(grace=0.5)


async def test_a_format_1_file_is_read_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    path.write_bytes(
        b"RLEXECFIX 1 1700000000.5\nM 1 3\none\nS 3\nM 3 5\nthree\nT 7\nM 4 2\nfo"  # torn tail
    )
    s = FileStore(path)
    state = await s.open()
    assert (state.next_sender_seq, state.next_target_seq, state.creation_time) == (
        4,
        7,
        1700000000.5,
    )
    assert await s.messages(1, 5) == [(1, b"one"), (3, b"three")]
    await s.close()
    assert path.read_bytes().startswith(b"RLEXECFIX 2 1700000000.5 ")
    s = FileStore(path)
    state = await s.open()
    assert (state.next_sender_seq, state.next_target_seq) == (4, 7)
    assert await s.messages(1, 5) == [(1, b"one"), (3, b"three")]
    await s.close()


async def test_a_format_1_file_with_a_bad_record_mid_file_refuses(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    content = b"RLEXECFIX 1 1700000000.5\nM 1 3\none\nX 3\nM 3 5\nthree\n"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="byte offset 35: unreadable format-1 record"):
        await FileStore(path).open()
    assert path.read_bytes() == content


async def test_an_unknown_format_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "s.fixlog"
    path.write_bytes(b"RLEXECFIX 3 1700000000.5 00000000\n")
    with pytest.raises(StoreError, match="format b'3' is not supported"):
        await FileStore(path).open()
