"""The LOBSTER reader on the real sample data and on every kind of broken file."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from rlexec.market.errors import DataError
from rlexec.market.lobster import LobsterPair, LobsterRow
from tests.lobster_files import BOOKS, MESSAGES, write_pair

AAPL_TYPES = {1: 54818, 2: 252, 3: 28437, 4: 23658, 5: 11332}


def test_aapl_day_matches_the_data_readme(aapl_message: Path) -> None:
    pair = LobsterPair.from_message(aapl_message)
    assert (pair.levels, pair.symbol) == (1, "AAPL")
    rows = list(pair.rows())
    assert len(rows) == 118_497
    assert rows[0].ts_ns == 34_200_004_241_176
    assert rows[-1].ts_ns == 57_599_913_117_637
    assert Counter(r.event_type for r in rows) == AAPL_TYPES
    # Quirk: hidden executions carry order id 0 and never change the book.
    hidden = [(prev, row) for prev, row in itertools.pairwise(rows) if row.event_type == 5]
    assert all(row.order_id == 0 for _, row in hidden)
    assert all(prev.book == row.book for prev, row in hidden)
    # Quirk: ids first seen as a cancel, delete or execution are accepted, not rejected.
    # (The data README counts 67,399 distinct ids including 0; the 12,580 are real ids.)
    first_seen: dict[int, int] = {}
    for row in rows:
        first_seen.setdefault(row.order_id, row.event_type)
    assert len(first_seen) == 67_399
    assert first_seen[0] == 5
    assert sum(t != 1 for oid, t in first_seen.items() if oid) == 12_580
    # Quirk: same-timestamp bursts keep their file order.
    same = sum(a.ts_ns == b.ts_ns for a, b in itertools.pairwise(rows))
    assert same == 11_870


def test_timestamps_are_exact_nanoseconds(aapl_message: Path) -> None:
    """Every time equals an exact decimal parse of the text (no float rounding slips)."""
    text = gzip.decompress(aapl_message.read_bytes()).decode().splitlines()
    expected = [int(Decimal(line.split(",", 1)[0]) * 1_000_000_000) for line in text]
    got = [row[0] for row in LobsterPair.from_message(aapl_message).tuples()]
    assert got == expected


@pytest.mark.parametrize("name", ["AAPL_2012-06-21_34200000_57600000_message_1.csv.gz",
                                  "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz"])  # fmt: skip
def test_numpy_loader_agrees_with_the_stream(data_dir: Path, name: str) -> None:
    pair = LobsterPair.from_message(data_dir / name)
    arrays = pair.load()
    rows = list(pair.rows())
    assert arrays.rows == len(rows)
    assert arrays.book.shape == (len(rows), 4 * pair.levels)
    assert np.array_equal(arrays.ts_ns, [r.ts_ns for r in rows])
    assert np.array_equal(arrays.event_type, [r.event_type for r in rows])
    assert np.array_equal(arrays.order_id, [r.order_id for r in rows])
    assert np.array_equal(arrays.size, [r.size for r in rows])
    assert np.array_equal(arrays.price, [r.price for r in rows])
    assert np.array_equal(arrays.direction, [r.direction for r in rows])
    assert np.array_equal(arrays.book, [r.book for r in rows])


@pytest.mark.parametrize("gz", [False, True])
def test_small_pair_plain_and_gzip(tmp_path: Path, gz: bool) -> None:
    rows = list(LobsterPair.from_message(write_pair(tmp_path, gz=gz)).rows())
    assert rows[0] == LobsterRow(34_200_004_241_176, 1, 16113575, 18, 5853300, 1,
                                 (9999999999, 0, 5853300, 18))  # fmt: skip
    assert rows[3].ts_ns == 34_200_201_781_000
    assert rows[-1].book == (9999999999, 0, -9999999999, 0)


def test_pair_found_with_an_explicit_orderbook_and_unconventional_names(tmp_path: Path) -> None:
    msg = tmp_path / "m.csv"
    book = tmp_path / "b.csv"
    msg.write_text("\n".join(MESSAGES) + "\n")
    book.write_text("\n".join(BOOKS) + "\n")
    pair = LobsterPair.from_message(msg, book)
    assert pair.levels == 1
    assert len(list(pair.rows())) == 5


def test_batches_larger_than_one_chunk_stay_aligned(tmp_path: Path) -> None:
    """More rows than one parse batch, so batch boundaries are crossed on both files."""
    n = 10_000
    messages = [f"{34200 + i / 1000:.3f},1,{i + 1},10,{5_000_000 + i % 7},1" for i in range(n)]
    books = [f"5100000,{i + 1},5000000,{i + 2}" for i in range(n)]
    rows = list(LobsterPair.from_message(write_pair(tmp_path, messages, books)).rows())
    assert len(rows) == n
    assert all(r.order_id == i + 1 and r.book[1] == i + 1 for i, r in enumerate(rows))


def _error(tmp_path: Path, messages: list[str] | None = None, books: list[str] | None = None,
           levels: int = 1) -> DataError:  # fmt: skip
    path = write_pair(tmp_path, messages, books, levels=levels)
    with pytest.raises(DataError) as info:
        list(LobsterPair.from_message(path).rows())
    return info.value


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    bad = [*MESSAGES[:2], "34200.3,1,5,5,5", *MESSAGES[3:]]
    err = _error(tmp_path, bad)
    assert err.line == 3 and err.path.endswith("_message_1.csv")
    assert "5 columns, a message row has 6" in str(err)


def test_unparseable_field_is_named(tmp_path: Path) -> None:
    bad = [*MESSAGES[:3], "34200.3,1,77,ten,5853300,1", MESSAGES[4]]
    err = _error(tmp_path, bad)
    assert err.line == 4
    assert "column 'size' is not a valid integer: 'ten'" in str(err)


def test_unparseable_time_is_named(tmp_path: Path) -> None:
    err = _error(tmp_path, ["9:30:00,1,1,1,1,1", *MESSAGES[1:]])
    assert err.line == 1 and "column 'time'" in str(err)


def test_time_going_backwards(tmp_path: Path) -> None:
    bad = [*MESSAGES[:2], "34200.0001,3,16120456,18,5859100,-1", *MESSAGES[3:]]
    err = _error(tmp_path, bad)
    assert err.line == 3 and "time goes backwards" in str(err)


def test_unknown_event_type_and_direction(tmp_path: Path) -> None:
    err = _error(tmp_path, [*MESSAGES[:1], "34200.1,9,1,1,1,1", *MESSAGES[2:]])
    assert err.line == 2 and "unknown event type 9" in str(err)
    err = _error(tmp_path, [*MESSAGES[:4], "34200.3,4,1,1,1,0"])
    assert err.line == 5 and "direction must be 1 or -1" in str(err)


def test_row_counts_differ(tmp_path: Path) -> None:
    err = _error(tmp_path, books=BOOKS[:4])
    assert err.path.endswith("_orderbook_1.csv")
    assert "ends at row 4" in str(err) and "row counts differ" in str(err)


def test_level_width_mismatch(tmp_path: Path) -> None:
    path = write_pair(tmp_path, levels=2)  # files say level 2 but rows have 4 columns
    with pytest.raises(DataError, match="has 4 columns but level 2 needs 8"):
        LobsterPair.from_message(path)


def test_bad_orderbook_row(tmp_path: Path) -> None:
    err = _error(tmp_path, books=[*BOOKS[:2], "5859100,18,5853300", *BOOKS[3:]])
    assert err.line == 3 and "has 3 columns but level 1 needs 4" in str(err)
    err = _error(tmp_path, books=[*BOOKS[:2], "5859100,18,x,1", *BOOKS[3:]])
    assert err.line == 3 and "unparseable integer" in str(err)


def test_wrong_pair_by_name(tmp_path: Path) -> None:
    msg = write_pair(tmp_path, symbol="AAPL")
    other = write_pair(tmp_path, symbol="AMZN")
    book = other.with_name(other.name.replace("_message_", "_orderbook_"))
    with pytest.raises(DataError, match="symbol is 'AMZN' here but 'AAPL' in the message file"):
        LobsterPair.from_message(msg, book)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        LobsterPair.from_message(tmp_path / "nope_message_1.csv")
    with pytest.raises(DataError, match="is a folder; pass a LOBSTER message file in it"):
        LobsterPair.from_message(tmp_path)  # said "no such file" of a folder that exists
    msg = write_pair(tmp_path)
    msg.with_name(msg.name.replace("_message_", "_orderbook_")).unlink()
    with pytest.raises(DataError, match="no orderbook file beside it"):
        LobsterPair.from_message(msg)


def test_truncated_gzip(tmp_path: Path) -> None:
    n = 3000
    messages = [f"{34200 + i / 1000:.3f},1,{i + 1},10,5000000,1" for i in range(n)]
    books = [f"5100000,{i + 1},5000000,{i + 2}" for i in range(n)]
    msg = write_pair(tmp_path, messages, books, gz=True)
    data = msg.read_bytes()
    msg.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        list(LobsterPair.from_message(msg).rows())
    assert info.value.path == str(msg)


def test_numpy_loader_reports_the_same_errors(tmp_path: Path) -> None:
    path = write_pair(tmp_path, [*MESSAGES[:3], "34200.3,1,77,ten,5853300,1", MESSAGES[4]])
    with pytest.raises(DataError, match="column 'size'") as info:
        LobsterPair.from_message(path).load()
    assert info.value.line == 4
