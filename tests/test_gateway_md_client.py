"""The market-data client keeping L2 books from W and X over a real FIX session."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.codec import FieldValue, encode_pairs
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.md_client import MarketDataClient, MarketDataListener
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import MD_ANOMALY_KINDS, GatewayMetrics
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
    registry: CollectorRegistry

    def anomalies(self, kind: str) -> float:
        """`rlexec_fix_market_data_anomalies_total{kind}` as Prometheus would scrape it."""
        labels = {"session": self.md.session.name, "kind": kind}
        value = self.registry.get_sample_value("rlexec_fix_market_data_anomalies_total", labels)
        assert value is not None
        return value

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
    registry = CollectorRegistry()
    session = FixSession(
        SessionConfig("CLIENT", "VENUE", heartbeat_interval=5, reconnect_min=0.05),
        MemoryStore(),
        metrics=GatewayMetrics(registry),
    )
    md = MarketDataClient(session, seen, depth=10)
    md.subscribe("AAPL")
    initiator = FixInitiator(session, "127.0.0.1", acceptor.port)
    await initiator.start()
    async with asyncio.timeout(3):
        await session.wait_logged_on()
    yield Feed(md, seen, venue, requests, initiator, registry)
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


# -- review: the venue's clock, prices, RptSeq going backwards ---------------------------------

T0 = 1_340_287_200_000_000_000
"""2012-06-21 14:00:00 UTC in epoch ns."""


def stamped(rpt: int, day: str, at: str, px: str = "9.5") -> list[tuple[int, FieldValue]]:
    """A one-entry bid update stamped MDEntryDate (272) + MDEntryTime (273)."""
    return [*level("0", "0", px, 1, rpt), (272, day), (273, at)]


def start_clock(feed: Feed) -> int:
    """Stamps RptSeq 2-4 at 13:59:58, :59 and 14:00:00: the venue's clock starts at T0 on the
    third (three in a row agree). Returns the next RptSeq."""
    for rpt, at in ((2, "13:59:58.000"), (3, "13:59:59.000"), (4, "14:00:00.000")):
        feed.incremental([stamped(rpt, "20120621", at)])
    return 5


async def test_the_venue_clock_starts_when_three_stamps_agree(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """A garbled first stamp (2099) used to start the venue's clock there for good: every true
    stamp after it was "far behind", and the service's time stood still. The clock now starts
    only when three stamps in a row agree, and the outlier is said and counted."""
    caplog.set_level(logging.INFO, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([stamped(2, "20990621", "14:00:00.000")])
    feed.incremental([stamped(3, "20120621", "14:00:00.000")])
    feed.incremental([stamped(4, "20120621", "14:00:00.500")])
    await feed.settled()
    assert feed.md.venue_time_ns is None  # two agree so far: not yet
    assert feed.md.books["AAPL"].size_at(Side.BUY, 95_000) == 1  # the entries are applied
    feed.incremental([stamped(5, "20120621", "14:00:01.000")])
    await feed.settled()
    assert feed.md.venue_time_ns == T0 + 1_000_000_000
    assert feed.anomalies("venue_time_jump") == 1
    said = [r.getMessage() for r in caplog.records if "event=md_venue_" in r.getMessage()]
    assert said == [
        f"event=md_venue_time_jump session={feed.md.session.name} venue_time_ns=none "
        f"stamp_ns={T0} previous_stamp_ns=4085733600000000000 jump_s=-2745446400.000 "
        "confirmations=1 needed=3 action=hold_clock",
        f"event=md_venue_clock_started session={feed.md.session.name} "
        f"venue_time_ns={T0 + 1_000_000_000} confirmations=3",
    ]


async def test_one_far_future_venue_stamp_does_not_move_the_venue_clock(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """A single stamp in 2099 used to become the venue's time for good: on `clock="venue"`
    every parent was then past its horizon (failed, or swept the rest at market)."""
    caplog.set_level(logging.WARNING, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    rpt = start_clock(feed)
    feed.incremental([stamped(rpt, "20990621", "14:00:00.000", px="9.6")])
    feed.incremental([stamped(rpt + 1, "20120621", "14:00:01.000")])
    await feed.settled()
    assert feed.md.venue_time_ns == T0 + 1_000_000_000
    # the entry itself is applied: only its stamp is distrusted
    assert feed.md.books["AAPL"].size_at(Side.BUY, 96_000) == 1
    assert feed.md.stale == set()
    assert feed.anomalies("venue_time_jump") == 1
    assert [r.getMessage() for r in caplog.records if "md_venue_time_jump" in r.getMessage()] == [
        f"event=md_venue_time_jump session={feed.md.session.name} venue_time_ns={T0} "
        "stamp_ns=4085733600000000000 jump_s=2745446400.000 confirmations=1 needed=3 "
        "action=hold_clock"
    ]


async def test_a_venue_clock_jump_is_taken_once_stamps_in_a_row_agree(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """A real jump (a quiet market, a venue skipping ahead) is taken on the third stamp."""
    caplog.set_level(logging.WARNING, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    rpt = start_clock(feed)
    feed.incremental([stamped(rpt, "20120621", "15:00:00.000")])
    feed.incremental([stamped(rpt + 1, "20120621", "15:00:00.500")])
    await feed.settled()
    assert feed.md.venue_time_ns == T0
    feed.incremental([stamped(rpt + 2, "20120621", "15:00:01.000")])
    await feed.settled()
    assert feed.md.venue_time_ns == T0 + 3601 * 1_000_000_000
    assert feed.anomalies("venue_time_jump") == 2
    assert "action=accept" in caplog.records[-1].getMessage()
    # far behind the clock: it stands, said once for the run, counted once
    feed.incremental([stamped(rpt + 3, "20120621", "14:00:00.000")])
    feed.incremental([stamped(rpt + 4, "20120621", "14:00:00.100")])
    await feed.settled()
    assert feed.md.venue_time_ns == T0 + 3601 * 1_000_000_000
    assert feed.anomalies("venue_time_behind") == 1
    behind = [r for r in caplog.records if "event=md_venue_time_behind" in r.getMessage()]
    assert len(behind) == 1


@pytest.mark.parametrize(
    ("day", "at", "tag"),
    [
        ("2012062X", "14:00:02.000", 272),
        ("20121321", "14:00:02.000", 272),
        ("20120621", "14:0x:02.000", 273),
        ("20120621", "14:00:02.12x", 273),
    ],
)
async def test_a_garbled_venue_stamp_is_rejected_naming_its_tag(
    feed: Feed, day: str, at: str, tag: int
) -> None:
    """A garbled MDEntryDate was reported as tag 273 (MDEntryTime): the reject named the
    wrong field. Nothing of the message is applied and the venue's clock stands."""
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    rpt = start_clock(feed)
    feed.incremental([stamped(rpt, day, at, px="9.7")])
    reject = await feed.requests.next()
    assert reject.msg_type == b"j"
    assert reject.text(58).startswith(f"tag {tag} in MsgType X: ")
    await feed.request()  # a snapshot is asked for
    assert feed.md.venue_time_ns == T0
    assert feed.md.books["AAPL"].size_at(Side.BUY, 97_000) == 0
    assert feed.md.stale == {"AAPL"}
    assert feed.anomalies("message_rejected") == 1


@pytest.mark.parametrize(
    "entry",
    [
        level("0", "0", "0", 5, 2),
        level("1", "1", "-3", 5, 2),
        [*level("0", "2", "0", 5, 2), (54, "1")],
    ],
    ids=["zero bid", "negative offer", "zero-priced trade"],
)
async def test_a_non_positive_price_is_refused_and_the_book_rebuilt(
    feed: Feed, entry: list[tuple[int, FieldValue]]
) -> None:
    """A bid at 0 or an offer at -3 used to go into the book: crossed, a mid of 3.50, and
    trusted (not stale), for the policy to act on."""
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([entry])
    reject = await feed.requests.next()
    assert reject.msg_type == b"j"
    assert reject.text(58).startswith("tag 270 in MsgType X: not a positive price")
    assert (await feed.request()).get(263) == b"0"
    book = feed.md.books["AAPL"]
    assert (book.levels(Side.BUY), book.levels(Side.SELL)) == ([(100_000, 5)], [(110_000, 5)])
    assert feed.md.stale == {"AAPL"} and feed.seen.trades == []
    assert feed.anomalies("message_rejected") == 1


async def test_a_snapshot_with_a_non_positive_price_is_refused(feed: Feed) -> None:
    await feed.request()
    feed.snapshot("AAPL", [("10", 5), ("0", 7)], [("11", 5)], rpt=1)
    reject = await feed.requests.next()
    assert reject.msg_type == b"j" and reject.text(372) == "W"
    assert reject.text(58) == "tag 270 in MsgType W: not a positive price: b'0'"
    assert feed.md.stale == {"AAPL"}
    assert feed.md.books["AAPL"].depth(Side.BUY) == 0


async def test_rpt_seq_going_backwards_rebuilds_the_book(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """A duplicate or backward RptSeq after the snapshot used to be dropped without a word;
    the numbering no longer says what the book holds, so it is rebuilt as after a gap. Those
    the snapshot already includes are still dropped quietly."""
    caplog.set_level(logging.WARNING, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=10)
    feed.incremental([level("0", "0", "9", 1, 9)])  # in the snapshot: quiet
    feed.incremental([level("0", "0", "9.1", 1, 11)])
    feed.incremental([level("0", "0", "9.2", 1, 12)])
    feed.incremental([level("1", "0", "9.1", 4, 11)])  # behind: said, and a snapshot asked
    assert (await feed.request()).get(263) == b"0"
    assert feed.md.books["AAPL"].levels(Side.BUY) == [(100_000, 5), (92_000, 1), (91_000, 1)]
    assert feed.md.stale == {"AAPL"}
    assert feed.seen.stale == [("AAPL", "RptSeq went back: expected 13, received 11")]
    assert feed.anomalies("rpt_seq_behind") == 1
    assert feed.anomalies("rpt_seq_gap") == 0
    said = [r.getMessage() for r in caplog.records if "event=md_rpt_seq" in r.getMessage()]
    assert said == [
        f"event=md_rpt_seq_behind session={feed.md.session.name} symbol=AAPL "
        "expected_rpt_seq=13 received_rpt_seq=11 action=snapshot"
    ]
    feed.snapshot("AAPL", [("10", 6)], [("11", 5)], rpt=20)
    feed.incremental([level("0", "0", "9.5", 2, 21)])
    await feed.settled()
    assert feed.md.stale == set()
    assert feed.md.books["AAPL"].levels(Side.BUY) == [(100_000, 6), (95_000, 2)]
    feed.incremental([level("0", "0", "9.9", 1, 23)])  # a gap: counted as one
    await feed.request()
    assert feed.anomalies("rpt_seq_gap") == 1


async def test_a_venue_restarting_its_rpt_seq_is_one_rebuild_not_a_frozen_book(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """After a venue restart its RptSeq starts again at 1: every entry is then "behind" the
    book's. Dropping them one by one froze the book and wrote a warning per message; now the
    first is one warning and one snapshot request, and the book follows the new numbering."""
    caplog.set_level(logging.WARNING, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=500)
    feed.incremental([level("0", "0", "9.9", 1, 501)])
    for rpt in range(1, 6):  # the venue restarted
        feed.incremental([level("0", "0", "9.8", rpt, rpt)])
    assert (await feed.request()).get(263) == b"0"
    await feed.settled()
    assert feed.md.stale == {"AAPL"}
    assert feed.anomalies("rpt_seq_behind") == 1
    said = [r.getMessage() for r in caplog.records if "event=md_rpt_seq" in r.getMessage()]
    assert len(said) == 1 and "expected_rpt_seq=502 received_rpt_seq=1" in said[0]
    feed.snapshot("AAPL", [("10", 5), ("9.8", 5)], [("11", 5)], rpt=5)
    feed.incremental([level("1", "0", "9.8", 7, 6)])
    await feed.settled()
    assert feed.md.stale == set()
    assert feed.md.books["AAPL"].levels(Side.BUY) == [(100_000, 5), (98_000, 7)]
    await asyncio.sleep(0.05)  # anything else the client asked has reached the venue
    snapshots = [m for m in feed.requests.received if m.msg_type == b"V" and m.get(263) == b"0"]
    assert len(snapshots) == 1  # one snapshot asked, not one per message behind


async def test_a_book_crossed_by_an_update_is_rebuilt_not_handed_on(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    """A venue's own book is never crossed or locked: ours is when it has left the venue's (a
    delete lost). It used to be handed on as it was, for the features and the policy; it is
    now rebuilt from a snapshot, and the trading waits for it (the book is stale meanwhile)."""
    caplog.set_level(logging.WARNING, "rlexec.gateway")
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    await feed.settled()
    seen = len(feed.seen.books)
    feed.incremental([level("0", "0", "11", 3, 2)])  # a bid at the ask: locked
    assert (await feed.request()).get(263) == b"0"
    assert feed.md.stale == {"AAPL"}
    assert feed.seen.stale == [("AAPL", "book locked after an update: bid 110000 >= ask 110000")]
    assert len(feed.seen.books) == seen  # not handed on
    assert feed.anomalies("crossed_book") == 1
    said = [r.getMessage() for r in caplog.records if "event=md_crossed_book" in r.getMessage()]
    assert said == [
        f"event=md_crossed_book session={feed.md.session.name} symbol=AAPL state=locked "
        "bid=110000 ask=110000 action=snapshot"
    ]
    feed.snapshot("AAPL", [("10.5", 3), ("10", 5)], [("11", 5)], rpt=2)
    feed.incremental([level("0", "1", "11.5", 2, 3)])
    await feed.settled()
    assert feed.md.stale == set()
    assert feed.seen.books[-1] == ("AAPL", 105_000, 110_000)


async def test_a_crossed_snapshot_is_the_venues_word_one_rebuild_per_episode(
    feed: Feed,
) -> None:
    """If the venue's own snapshot is crossed, asking again would loop: the book is kept and
    handed on (the risk monitors pause on a crossed book) until it uncrosses; a later crossing
    is a new episode and asks again."""
    await feed.request()
    feed.snapshot("AAPL", [("11", 5)], [("10", 5)], rpt=1)  # crossed, as the venue says
    feed.incremental([level("1", "0", "11", 4, 2)])
    assert (await feed.request()).get(263) == b"0"  # the first crossing asks once
    feed.snapshot("AAPL", [("11", 5)], [("10", 5)], rpt=2)  # the venue says it again
    for rpt in (3, 4, 5):
        feed.incremental([level("1", "0", "11", rpt, rpt)])
    await feed.settled()
    assert feed.md.stale == set()
    assert feed.seen.books[-1] == ("AAPL", 110_000, 100_000)  # handed on: the venue's word
    assert feed.anomalies("crossed_book") == 1
    feed.incremental([level("2", "1", "10", None, 6), level("0", "1", "12", 5, 7)])  # uncrossed
    feed.incremental([level("0", "0", "12.5", 1, 8)])  # crossed again: a new episode
    assert (await feed.request()).get(263) == b"0"
    assert feed.anomalies("crossed_book") == 2
    await asyncio.sleep(0.05)  # anything else the client asked has reached the venue
    snapshots = [m for m in feed.requests.received if m.msg_type == b"V" and m.get(263) == b"0"]
    assert len(snapshots) == 2


async def test_an_uncrossed_snapshot_ends_the_crossing_episode(feed: Feed) -> None:
    """The rebuilt book is the venue's and is not crossed: the episode is over. The first
    update after it that crosses the book again is a new episode, rebuilt too (it was handed
    on crossed, the crossing still remembered from before the snapshot)."""
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([level("0", "0", "11", 3, 2)])  # locked: rebuilt
    assert (await feed.request()).get(263) == b"0"
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=2)  # the venue's book: not crossed
    await feed.settled()
    assert feed.md.stale == set()
    seen = len(feed.seen.books)
    feed.incremental([level("0", "0", "11.5", 3, 3)])  # crossed by the next update
    assert (await feed.request()).get(263) == b"0"
    assert feed.md.stale == {"AAPL"}
    assert len(feed.seen.books) == seen  # not handed on
    assert feed.anomalies("crossed_book") == 2


async def test_a_book_a_gap_made_stale_mid_message_is_not_asked_for_twice(
    feed: Feed,
) -> None:
    """An X whose first entry locks the book and whose second skips an RptSeq: the gap has
    already made the book stale and asked for a snapshot; the lock is not a second one."""
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    feed.incremental([level("0", "0", "11", 3, 2), level("0", "0", "10.5", 3, 5)])
    assert (await feed.request()).get(263) == b"0"
    await asyncio.sleep(0.05)  # anything else the client asked has reached the venue
    snapshots = [m for m in feed.requests.received if m.msg_type == b"V" and m.get(263) == b"0"]
    assert len(snapshots) == 1
    assert feed.anomalies("crossed_book") == 0
    assert feed.seen.stale == [("AAPL", "RptSeq gap: expected 3, received 5")]


async def test_a_book_a_later_entry_made_stale_is_not_handed_on(feed: Feed) -> None:
    """An X whose first entry applies and whose second skips an RptSeq: the book the first
    changed is stale by the message's end (the gap says entries are missing), so the listener
    hears that it is stale and is not handed the book as if it could be traded on."""
    await feed.request()
    feed.snapshot("AAPL", [("10", 5)], [("11", 5)], rpt=1)
    await feed.settled()
    seen = len(feed.seen.books)
    feed.incremental([level("0", "0", "9.5", 3, 2), level("0", "0", "9", 3, 5)])
    assert (await feed.request()).get(263) == b"0"
    assert feed.seen.stale == [("AAPL", "RptSeq gap: expected 3, received 5")]
    assert len(feed.seen.books) == seen


def test_anomaly_kinds_are_exported_from_zero() -> None:
    registry = CollectorRegistry()
    session = FixSession(
        SessionConfig("CLIENT", "VENUE"), MemoryStore(), metrics=GatewayMetrics(registry)
    )
    MarketDataClient(session)
    for kind in MD_ANOMALY_KINDS:
        labels = {"session": session.name, "kind": kind}
        assert registry.get_sample_value("rlexec_fix_market_data_anomalies_total", labels) == 0
    with pytest.raises(ValueError, match="max_clock_jump_s"):
        MarketDataClient(session, max_clock_jump_s=0)
    with pytest.raises(ValueError, match="clock_jump_confirmations"):
        MarketDataClient(session, clock_jump_confirmations=0)


_S = 1_000_000_000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30 * _S), min_size=1, max_size=20),
    st.integers(0, 19),
    st.integers(-(10**6) * _S, 10**9 * _S).filter(lambda d: abs(d) > 61 * _S),
)
def test_one_outlier_stamp_never_moves_the_venue_clock(
    steps: list[int], at: int, offset: int
) -> None:
    """Stamps moving forward by at most 30 s, with one outlier more than a minute off either
    way anywhere in the run, the very first included: the venue's clock never takes it. It
    starts once three good stamps in a row agree, and follows the good stamps from then on."""
    md = MarketDataClient(FixSession(SessionConfig("C", "V"), MemoryStore()))
    good = list(itertools.accumulate(steps, initial=T0))
    at = min(at, len(good))
    outlier = good[max(at - 1, 0)] + offset
    stamps = [*good[:at], outlier, *good[at:]]
    for seq, ns in enumerate(stamps, 1):
        seconds, frac = divmod(ns, _S)
        text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y%m%d-%H:%M:%S")
        day, at_text = text.split("-")
        pairs: list[tuple[int, FieldValue]] = [(8, "FIX.4.4"), (35, "X"), (34, seq), (268, 1)]
        pairs += [(279, "0"), (269, "0"), (55, "AAPL"), (270, "1"), (271, "1")]
        pairs += [(272, day), (273, f"{at_text}.{frac:09d}")]
        md.on_message(md.session, FixMessage.decode(encode_pairs(pairs)))
        assert md.venue_time_ns != outlier
    if at >= 3 or len(good) - at >= 3:  # three good stamps in a row on one side of it
        assert md.venue_time_ns == good[-1]
    else:
        assert md.venue_time_ns in (None, good[-1])
