"""The market-data client keeping L2 books from W and X over a real FIX session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.codec import FieldValue
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.md_client import MarketDataClient, MarketDataListener
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.orders import Side
from tests.gateway.peer import Recorder


@dataclass
class Seen(MarketDataListener):
    books: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    trades: list[tuple[str, Trade]] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    rejects: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_book(self, symbol: str, book: L2Book) -> None:
        self.books.append((symbol, book.best_bid, book.best_ask))
        self.changed.set()

    def on_trade(self, symbol: str, trade: Trade) -> None:
        self.trades.append((symbol, trade))
        self.changed.set()

    def on_stale(self, symbol: str, reason: str) -> None:
        self.stale.append((symbol, reason))

    def on_reject(self, md_req_id: str, reason: str | None, text: str | None) -> None:
        self.rejects.append((md_req_id, reason, text))
        self.changed.set()


@dataclass
class Feed:
    md: MarketDataClient
    seen: Seen
    venue: FixSession
    requests: Recorder
    initiator: FixInitiator

    async def request(self) -> FixMessage:
        msg = await self.requests.next()
        assert msg.msg_type == b"V"
        return msg

    def snapshot(
        self,
        symbol: str,
        bids: list[tuple[str, int]],
        asks: list[tuple[str, int]],
        rpt: int | None = None,
    ) -> None:
        fields: list[tuple[int, FieldValue]] = [(262, "x"), (55, symbol)]
        if rpt is not None:
            fields.append((83, rpt))
        fields.append((268, len(bids) + len(asks)))
        for kind, levels in (("0", bids), ("1", asks)):
            for px, size in levels:
                fields += [(269, kind), (270, px), (271, size)]
        self.venue.send_fields(b"W", fields)

    def incremental(self, entries: list[list[tuple[int, FieldValue]]]) -> None:
        fields: list[tuple[int, FieldValue]] = [(268, len(entries))]
        for entry in entries:
            fields += entry
        self.venue.send_fields(b"X", fields)

    async def settled(self) -> None:
        """Wait until the listener has heard about everything the venue sent."""
        async with asyncio.timeout(3):
            # The session has no "caught up" hook; its sequence numbers say when it has.
            while self.md.session.next_target_seq < self.venue.next_sender_seq:  # noqa: ASYNC110
                await asyncio.sleep(0.005)


def level(
    action: str, kind: str, px: str, size: int | None, rpt: int, symbol: str = "AAPL"
) -> list[tuple[int, FieldValue]]:
    entry: list[tuple[int, FieldValue]] = [
        (279, action),
        (269, kind),
        (55, symbol),
        (83, rpt),
        (270, px),
    ]
    if size is not None:
        entry.append((271, size))
    return entry


@pytest.fixture
async def feed() -> AsyncIterator[Feed]:
    requests = Recorder()
    venue = FixSession(SessionConfig("VENUE", "CLIENT", Role.ACCEPTOR), MemoryStore(), requests)
    acceptor = FixAcceptor([venue])
    await acceptor.start()
    seen = Seen()
    session = FixSession(
        SessionConfig("CLIENT", "VENUE", heartbeat_interval=5, reconnect_min=0.05), MemoryStore()
    )
    md = MarketDataClient(session, seen, depth=10)
    md.subscribe("AAPL")
    initiator = FixInitiator(session, "127.0.0.1", acceptor.port)
    await initiator.start()
    async with asyncio.timeout(3):
        await session.wait_logged_on()
    yield Feed(md, seen, venue, requests, initiator)
    await initiator.stop(grace=0.5)
    await acceptor.stop(grace=0.5)


async def test_subscription_request_asks_for_depth_and_trades(feed: Feed) -> None:
    request = await feed.request()
    assert (request.get(263), request.get(264), request.get(265)) == (b"1", b"10", b"1")
    assert [v for t, v in request.pairs if t == 269] == [b"0", b"1", b"2"]
    assert (request.get(146), request.get(55)) == (b"1", b"AAPL")
    assert feed.md.stale == {"AAPL"}


async def test_snapshot_then_incrementals_maintain_the_book(feed: Feed) -> None:
    await feed.request()
    feed.snapshot("AAPL", [("585.30", 100), ("585.20", 200)], [("585.40", 300)], rpt=10)
    await feed.settled()
    book = feed.md.books["AAPL"]
    assert (book.best_bid, book.best_ask, book.bid_total, book.ask_total) == (
        5_853_000,
        5_854_000,
        300,
        300,
    )
    assert feed.md.stale == set()
    feed.incremental(
        [
            level("0", "0", "585.35", 50, 11),
            level("1", "1", "585.40", 120, 12),
            level("2", "0", "585.20", None, 13),
            [(279, "0"), (269, "2"), (55, "AAPL"), (83, 14), (270, "585.40"), (271, 30), (54, "1")],
        ]
    )
    await feed.settled()
    assert book.levels(Side.BUY) == [(5_853_500, 50), (5_853_000, 100)]
    assert book.levels(Side.SELL) == [(5_854_000, 120)]
    assert feed.seen.trades == [
        ("AAPL", Trade(feed.seen.trades[0][1].ts_ns, 5_854_000, 30, Side.BUY))
    ]
    assert feed.seen.books[-1] == ("AAPL", 5_853_500, 5_854_000)
    assert feed.md.gaps == 0


async def test_incrementals_already_in_the_snapshot_are_ignored(feed: Feed) -> None:
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=20)
    feed.incremental([level("2", "0", "10", None, 20)])  # already included: ignore
    feed.incremental([level("0", "0", "9", 7, 21)])
    await feed.settled()
    assert feed.md.books["AAPL"].levels(Side.BUY) == [(100_000, 5), (90_000, 7)]


async def test_a_gap_in_rpt_seq_brings_a_fresh_snapshot(feed: Feed) -> None:
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([level("0", "0", "9.5", 1, 2)])
    feed.incremental([level("0", "0", "9.9", 1, 4)])  # 3 is missing
    snapshot_request = await feed.request()
    assert (snapshot_request.get(263), snapshot_request.get(55)) == (b"0", b"AAPL")
    assert feed.md.stale == {"AAPL"} and feed.md.gaps == 1
    assert feed.seen.stale[-1] == ("AAPL", "RptSeq gap: expected 3, received 4")
    feed.incremental([level("0", "0", "9.8", 1, 5)])  # stale: dropped
    await feed.settled()
    assert 98_000 not in dict(feed.md.books["AAPL"].levels(Side.BUY))
    feed.snapshot("AAPL", [("10", 5), ("9.9", 1), ("9.8", 1)], [("11", 5)], rpt=5)
    feed.incremental([level("1", "1", "11", 9, 6)])
    await feed.settled()
    book = feed.md.books["AAPL"]
    assert feed.md.stale == set()
    assert book.levels(Side.BUY) == [(100_000, 5), (99_000, 1), (98_000, 1)]
    assert book.levels(Side.SELL) == [(110_000, 9)]


async def test_a_malformed_incremental_is_rejected_and_the_book_rebuilt(feed: Feed) -> None:
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([[(279, "0"), (269, "0"), (55, "AAPL"), (83, 2), (271, 5)]])  # no price
    reject = await feed.requests.next()
    assert reject.msg_type == b"j"
    assert reject.get(58) == b"tag 270 in MsgType X: required in every incremental entry"
    assert reject.get(380) == b"5"
    snapshot_request = await feed.request()
    assert snapshot_request.get(263) == b"0"
    assert "AAPL" in feed.md.stale
    assert feed.md.session.is_logged_on


async def test_market_data_request_reject_reaches_the_listener(feed: Feed) -> None:
    request = await feed.request()
    feed.venue.send_fields(b"Y", [(262, request.text(262)), (281, "0"), (58, "unknown symbol")])
    await feed.settled()
    assert feed.seen.rejects == [(request.text(262), "0", "unknown symbol")]
    # the symbol gets no data: it is stale, saying why (a parent on it waits, and /readyz says)
    assert ("AAPL", "market-data request rejected: unknown symbol") in feed.seen.stale


async def test_resubscribes_after_reconnecting(feed: Feed) -> None:
    first = await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)])
    await feed.settled()
    assert feed.md.stale == set()
    conn = feed.venue.connection
    assert conn is not None
    conn.close()
    again = await feed.request()
    assert again.get(262) != first.get(262) and again.get(263) == b"1"
    assert ("AAPL", "session down: peer_closed") in feed.seen.stale
    assert feed.md.stale == {"AAPL"}


async def test_several_symbols_in_one_incremental(feed: Feed) -> None:
    await feed.request()
    feed.md.subscribe("MSFT")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.snapshot("MSFT", [("20", 5)], [("21", 5)], rpt=7)
    feed.incremental([level("0", "0", "10.5", 3, 2, "AAPL"), level("0", "1", "20.5", 4, 8, "MSFT")])
    await feed.settled()
    assert feed.md.books["AAPL"].best_bid == 105_000
    assert feed.md.books["MSFT"].best_ask == 205_000


def test_bad_subscription_arguments() -> None:
    session = FixSession(SessionConfig("CLIENT", "VENUE"), MemoryStore())
    with pytest.raises(ValueError, match="market depth"):
        MarketDataClient(session, depth=-1)
    md = MarketDataClient(session)
    with pytest.raises(ValueError, match="symbol is invalid"):
        md.subscribe("A\x01B")
