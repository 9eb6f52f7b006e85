"""The L2 book: row-by-row equality with LOBSTER's own books, and a model-based property test."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.market.book import L2Book
from rlexec.market.book_replay import BookReplay
from rlexec.market.events import BookLevelUpdate, BookSnapshot, Trade
from rlexec.market.lobster import EXECUTE, LobsterPair
from rlexec.market.lobster_feed import LobsterFeed, replay_events
from rlexec.market.orders import Side
from tests.lobster_files import write_pair


@pytest.mark.parametrize(
    "name",
    [
        "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz",
        "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz",
    ],
)
def test_replay_reproduces_every_orderbook_row(data_dir: Path, name: str) -> None:
    pair = LobsterPair.from_message(data_dir / name)
    replay = BookReplay(pair)
    book = replay.book
    bad = [i for i, row in enumerate(replay) if book.lobster_row(pair.levels) != row[6]]
    assert replay.rows > 100_000
    assert bad == []
    assert not book.crossed


def test_generic_event_path_matches_the_fast_path(aapl_message: Path) -> None:
    """`replay_events` (event objects through `L2Book.apply`) ends in the same book state."""
    pair = LobsterPair.from_message(aapl_message)
    book = L2Book()
    rows = list(pair.rows())[:20_000]
    n_trades = 0
    for event in replay_events(rows):
        book.apply(event)
        n_trades += type(event) is Trade
    assert book.lobster_row(1) == rows[-1].book
    assert n_trades == sum(r.event_type in (4, 5, 6) for r in rows)


def test_executions_agree_with_the_book(aapl_message: Path) -> None:
    """Reader alignment check: a visible execution trades at the previous row's touch on the
    resting order's side, and removes exactly its size there unless the level emptied."""
    rows = list(LobsterPair.from_message(aapl_message).rows())
    checked = 0
    for prev, row in itertools.pairwise(rows):
        if row.event_type != EXECUTE:
            continue
        px_col, sz_col = (2, 3) if row.direction == 1 else (0, 1)
        assert prev.book[px_col] == row.price
        if row.book[px_col] == row.price:
            assert row.book[sz_col] == prev.book[sz_col] - row.size
        else:
            assert prev.book[sz_col] == row.size
        checked += 1
    assert checked == 23_658  # every type-4 row of the day


def test_dummy_empty_levels_are_no_levels(tmp_path: Path) -> None:
    messages = ["34200.1,1,1,10,5000000,1", "34200.2,1,2,5,5010000,-1", "34200.3,3,1,10,5000000,1"]
    books = [
        "9999999999,0,5000000,10,9999999999,0,-9999999999,0",
        "5010000,5,5000000,10,9999999999,0,-9999999999,0",
        "5010000,5,-9999999999,0,9999999999,0,-9999999999,0",
    ]
    pair = LobsterPair.from_message(write_pair(tmp_path, messages, books, levels=2))
    replay = BookReplay(pair)
    states = []
    for _row in replay:
        states.append((replay.book.best_bid, replay.book.best_ask, replay.book.mid))
    assert states == [(5000000, None, None), (5000000, 5010000, 5005000.0), (None, 5010000, None)]
    assert replay.book.lobster_row(2) == tuple(int(x) for x in books[-1].split(","))


def test_level1_feed_reveals_and_drops_levels() -> None:
    feed = LobsterFeed()
    out: list[tuple[Side, int, int]] = []
    sink = lambda side, price, size: out.append((side, price, size))  # noqa: E731
    assert feed.diff((101, 5, 99, 7), sink) == 2
    assert feed.diff((101, 5, 99, 7), sink) == 0
    assert feed.diff((101, 5, 100, 3), sink) == 2  # better bid: old level falls off the depth
    assert out[-2:] == [(Side.BUY, 99, 0), (Side.BUY, 100, 3)]
    assert feed.diff((102, 4, 100, 3), sink) == 2
    assert out[-2:] == [(Side.SELL, 101, 0), (Side.SELL, 102, 4)]


def test_queries_on_a_small_book() -> None:
    book = L2Book()
    book.apply_snapshot(BookSnapshot(5, ((100, 10), (99, 20)), ((103, 30), (104, 40))))
    assert (book.best_bid, book.best_ask, book.spread, book.mid) == (100, 103, 3, 101.5)
    assert book.microprice == pytest.approx((100 * 30 + 103 * 10) / 40)
    assert book.levels(Side.BUY) == [(100, 10), (99, 20)]
    assert book.levels(Side.SELL, 1) == [(103, 30)]
    assert (book.bid_total, book.ask_total) == (30, 70)
    book.apply(BookLevelUpdate(6, Side.BUY, 103, 5))
    assert book.crossed
    book.apply(BookLevelUpdate(7, Side.BUY, 103, 0))
    assert not book.crossed and book.ts_ns == 7
    with pytest.raises(ValueError, match="negative size"):
        book.set_level(Side.SELL, 103, -1)
    with pytest.raises(TypeError):
        book.apply("not an event")


updates = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 40), st.integers(0, 5)),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(updates)
def test_book_matches_a_plain_dict_model(ops: list[tuple[Side, int, int]]) -> None:
    book = L2Book()
    model: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
    for side, price, size in ops:
        book.set_level(side, price, size)
        if size:
            model[side][price] = size
        else:
            model[side].pop(price, None)
        bids, asks = model[Side.BUY], model[Side.SELL]
        assert book.best_bid == (max(bids) if bids else None)
        assert book.best_ask == (min(asks) if asks else None)
        assert book.bid_total == sum(bids.values())
        assert book.ask_total == sum(asks.values())
    assert book.levels(Side.BUY) == sorted(model[Side.BUY].items(), reverse=True)
    assert book.levels(Side.SELL) == sorted(model[Side.SELL].items())
    assert book.levels(Side.BUY, 3) == sorted(model[Side.BUY].items(), reverse=True)[:3]
