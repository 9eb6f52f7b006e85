"""The FIX venue over real loopback FIX: the gateway's own clients and a scripted raw peer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rlexec.gateway.config import SessionConfig
from rlexec.gateway.execution import ExecKind, ExecutionEvent, MassCancelReport
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.md_client import MarketDataClient, MarketDataListener
from rlexec.gateway.order_client import OrderClient
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue import Venue
from rlexec.simulator.venue_config import VenueConfig
from tests.gateway.order_events import QueuedEvents
from tests.gateway.peer import FixPeer, PeerClosedError

DEEP_QUEUE_START = "15:19:48.54"
"""AAPL: the $580.00 bid holds 22,244 shares; the volume ahead of a new order there is
executed and cancelled away by 15:19:49.121."""
PX_580 = 5_800_000
TICK = 100


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@dataclass
class Client:
    orders: OrderClient
    events: QueuedEvents
    initiator: FixInitiator

    @property
    def session(self) -> FixSession:
        return self.orders.session


async def connect(venue: Venue, comp_id: str = "CLIENT", **session: Any) -> Client:
    config = SessionConfig(comp_id, "VENUE", heartbeat_interval=5, reconnect_min=0.05, **session)
    events = QueuedEvents()
    orders = OrderClient(FixSession(config, MemoryStore()), events, clordid_prefix=f"{comp_id}-")
    initiator = FixInitiator(orders.session, "127.0.0.1", venue.port)
    await initiator.start()
    async with asyncio.timeout(3):
        await orders.session.wait_logged_on()
    return Client(orders, events, initiator)


async def start_venue(data: ReplayData, **settings: Any) -> Venue:
    values: dict[str, Any] = {
        "data": "unused",
        "port": 0,
        "autoplay": False,
        "start": "10:00",
        "clients": [{"comp_id": "CLIENT"}, {"comp_id": "OTHER"}, {"comp_id": "MD"}],
    }
    values.update(settings)
    venue = Venue(VenueConfig.model_validate(values), data)
    await venue.start()
    return venue


@pytest.fixture
async def venue(aapl: ReplayData) -> AsyncIterator[Venue]:
    v = await start_venue(aapl)
    yield v
    await v.stop(grace=0.5)


@pytest.fixture
async def client(venue: Venue) -> AsyncIterator[Client]:
    c = await connect(venue)
    yield c
    await c.initiator.stop(grace=0.5)


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def metric(venue: Venue, name: str, **labels: str) -> float:
    value = venue.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def limit(
    qty: int, price: int, side: Side = Side.BUY, tif: TimeInForce = TimeInForce.DAY
) -> OrderIntent:
    return OrderIntent("AAPL", side, qty, OrderType.LIMIT, price, tif)


# -- order entry with the gateway's client -------------------------------------------------


async def test_order_lifecycle_end_to_end_with_the_gateway_client(
    venue: Venue, client: Client
) -> None:
    replay = venue.replay
    ((bid, _),) = replay.levels(Side.BUY)
    ((ask, ask_size),) = replay.levels(Side.SELL)
    # A resting limit buy, then a market buy that walks past the stored level.
    resting = client.orders.new_order(limit(100, bid - 5 * TICK))
    (new,) = await client.events.executions(1)
    assert (new.kind, new.cl_ord_id, new.order_qty, new.leaves_qty, new.price) == (
        ExecKind.NEW, resting, 100, 100, bid - 5 * TICK,
    )  # fmt: skip
    qty = ask_size + 50
    client.orders.new_order(OrderIntent("AAPL", Side.BUY, qty, OrderType.MARKET))
    ack, first, second = await client.events.executions(3)
    synthetic = ask + venue.config.replay.depth.gap_ticks * TICK
    assert ack.kind is ExecKind.NEW
    assert (first.kind, first.last_qty, first.last_px, first.cum_qty, first.leaves_qty) == (
        ExecKind.PARTIAL_FILL, ask_size, ask, ask_size, 50,
    )  # fmt: skip
    assert (second.kind, second.last_qty, second.last_px, second.cum_qty, second.leaves_qty) == (
        ExecKind.FILL, 50, synthetic, qty, 0,
    )  # fmt: skip
    assert second.avg_px == round((ask_size * ask + 50 * synthetic) / qty)
    # Replace the resting order down (keeps priority), then cancel it.
    replaced = client.orders.replace(resting, quantity=60)
    (rep,) = await client.events.executions(1)
    assert (rep.kind, rep.cl_ord_id, rep.orig_cl_ord_id, rep.order_qty, rep.leaves_qty) == (
        ExecKind.REPLACED, replaced, resting, 60, 60,
    )  # fmt: skip
    client.orders.request_status(replaced)
    (status,) = await client.events.executions(1)
    assert (status.kind, status.ord_status, status.leaves_qty) == (ExecKind.ORDER_STATUS, "0", 60)
    client.orders.cancel(replaced)
    (cxl,) = await client.events.executions(1)
    assert (cxl.kind, cxl.orig_cl_ord_id, cxl.cum_qty, cxl.leaves_qty) == (
        ExecKind.CANCELED, replaced, 0, 0,
    )  # fmt: skip
    assert replay.engine.working_orders("CLIENT") == []
    assert metric(venue, "rlexec_venue_orders_total", client="CLIENT", outcome="accepted") == 2
    assert metric(venue, "rlexec_venue_fills_total", client="CLIENT", liquidity="removed") == 2
    assert metric(venue, "rlexec_venue_filled_shares_total", client="CLIENT", side="buy") == qty


async def test_fills_caused_by_the_replayed_market_reach_the_client(aapl: ReplayData) -> None:
    venue = await start_venue(aapl, start=DEEP_QUEUE_START)
    client = await connect(venue)
    try:
        assert venue.replay.levels(Side.BUY, 1) == [(PX_580, 22_244)]
        cl = client.orders.new_order(limit(100, PX_580))
        (new,) = await client.events.executions(1)
        assert new.kind is ExecKind.NEW
        venue.advance_to(55_189_000_000_000)  # executions at $580.00, but the queue is ahead
        await client.events.silence()
        assert venue.replay.queue_ahead(int(new.order_id)) > 0
        venue.advance_to(55_190_000_000_000)  # ... and now it has traded away
        (fill,) = await client.events.executions(1)
        assert (fill.kind, fill.cl_ord_id, fill.last_qty, fill.last_px, fill.avg_px) == (
            ExecKind.FILL, cl, 100, PX_580, PX_580,
        )  # fmt: skip
        assert metric(venue, "rlexec_venue_fills_total", client="CLIENT", liquidity="added") == 1
    finally:
        await client.initiator.stop(grace=0.5)
        await venue.stop(grace=0.5)


async def test_several_clients_trade_with_each_other(venue: Venue, client: Client) -> None:
    other = await connect(venue, "OTHER")
    try:
        ((bid, _),) = venue.replay.levels(Side.BUY)
        inside = bid + TICK
        other.orders.new_order(limit(70, inside, Side.SELL))
        await other.events.executions(1)
        client.orders.new_order(limit(100, inside))
        ack, mine = await client.events.executions(2)
        (theirs,) = await other.events.executions(1)
        assert (mine.kind, mine.last_qty, mine.last_px, mine.leaves_qty) == (
            ExecKind.PARTIAL_FILL, 70, inside, 30,
        )  # fmt: skip
        assert (theirs.kind, theirs.last_qty, theirs.last_px) == (ExecKind.FILL, 70, inside)
        assert ack.kind is ExecKind.NEW
    finally:
        await other.initiator.stop(grace=0.5)


async def test_market_data_snapshot_then_incrementals_track_the_book(aapl: ReplayData) -> None:
    venue = await start_venue(aapl, start=DEEP_QUEUE_START)

    @dataclass
    class Seen(MarketDataListener):
        trades: list[Trade] = field(default_factory=list)
        books: int = 0

        def on_book(self, symbol: str, book: L2Book) -> None:
            self.books += 1

        def on_trade(self, symbol: str, trade: Trade) -> None:
            self.trades.append(trade)

    seen = Seen()
    session = FixSession(SessionConfig("MD", "VENUE", heartbeat_interval=5), MemoryStore())
    md = MarketDataClient(session, seen, depth=5)
    initiator = FixInitiator(session, "127.0.0.1", venue.port)
    trader = await connect(venue)
    try:
        await initiator.start()
        async with asyncio.timeout(3):
            await session.wait_logged_on()
        md.subscribe("AAPL")
        await eventually(lambda: "AAPL" not in md.stale)
        book = md.books["AAPL"]
        assert book.levels(Side.BUY) == venue.replay.levels(Side.BUY, 5)
        trader.orders.new_order(limit(300, PX_580 + TICK))  # a new best bid, ours
        await trader.events.executions(1)
        await eventually(lambda: book.levels(Side.BUY, 1) == [(PX_580 + TICK, 300)])
        venue.step(400)
        await eventually(lambda: book.levels(Side.BUY, 5) == venue.replay.levels(Side.BUY, 5))
        await eventually(lambda: book.levels(Side.SELL, 5) == venue.replay.levels(Side.SELL, 5))
        assert len(seen.trades) > 20
        assert md.gaps == 0
        assert (
            metric(venue, "rlexec_venue_market_data_messages_total", client="MD", kind="snapshot")
            == 1
        )
    finally:
        await trader.initiator.stop(grace=0.5)
        await initiator.stop(grace=0.5)
        await venue.stop(grace=0.5)


# -- raw FIX: what a real venue answers to bad input ---------------------------------------


async def raw_peer(venue: Venue, comp_id: str = "CLIENT") -> FixPeer:
    peer = await FixPeer.connect(venue.port, sender=comp_id)
    await peer.logon()
    return peer


def nos(
    cl: str, qty: str = "100", price: str | None = "580", **extra: str
) -> list[tuple[int, Any]]:
    fields: list[tuple[int, Any]] = [(11, cl), (55, extra.get("symbol", "AAPL")), (54, extra.get("side", "1")),
                                     (60, "20120621-14:00:00"), (38, qty), (40, extra.get("ord_type", "2"))]  # fmt: skip
    if price is not None:
        fields.append((44, price))
    if "tif" in extra:
        fields.append((59, extra["tif"]))
    return fields


@pytest.mark.parametrize(
    ("fields", "reason", "words"),
    [
        (nos("q0", qty="0"), b"13", "OrderQty (38)=0 must be positive"),
        (nos("q1", qty="-5"), b"13", "OrderQty (38)=-5 must be positive"),
        (nos("q2", qty="10.5"), b"13", "OrderQty (38)=10.5 is not a whole number of shares"),
        (nos("q3", qty="ten"), b"13", "is not a number"),
        (nos("p1", price="580.005"), b"99", "price=580.005 is off the tick grid, tick=0.01"),
        (nos("p2", price="580.00001"), b"99", "Price (44)=580.00001 has more than 4 decimals"),
        (nos("p3", price=None), b"99", "Price (44) is missing for a limit order"),
        (nos("p4", price="-1"), b"99", "must be positive"),
        (nos("s1", symbol="MSFT"), b"1", "symbol='MSFT', this venue trades 'AAPL'"),
        (nos("t1", tif="4"), b"11", "TimeInForce (59)='4' is not supported"),
        (nos("o1", ord_type="P"), b"11", "OrdType (40)='P' is not supported"),
        (nos("d1", side="8"), b"11", "Side (54)='8' is not supported"),
    ],
)
async def test_bad_orders_get_a_rejection_with_a_reason_and_the_book_is_unchanged(
    venue: Venue, fields: list[tuple[int, Any]], reason: bytes, words: str
) -> None:
    peer = await raw_peer(venue)
    before = (venue.replay.snapshot(), len(venue.replay.engine.orders))
    await peer.send("D", fields)
    er = await peer.expect("8")
    assert (er.get(150), er.get(39), er.get(103)) == (b"8", b"8", reason)
    assert er.get(11) == fields[0][1].encode() and er.get(37) == b"NONE"
    assert words in (er.get_str(58) or ""), er.get_str(58)
    assert (venue.replay.snapshot(), len(venue.replay.engine.orders)) == before
    assert metric(venue, "rlexec_venue_orders_total", client="CLIENT", outcome="rejected") == 1
    await peer.close()


async def test_duplicate_clordid_is_rejected(venue: Venue) -> None:
    peer = await raw_peer(venue)
    await peer.send("D", nos("dup", price="500"))
    assert (await peer.expect("8")).get(150) == b"0"
    await peer.send("D", nos("dup", price="500"))
    er = await peer.expect("8")
    assert (er.get(150), er.get(103)) == (b"8", b"6")
    await peer.close()


async def test_cancels_and_replaces_that_cannot_be_done_get_order_cancel_reject(
    venue: Venue,
) -> None:
    peer = await raw_peer(venue)
    other = await raw_peer(venue, "OTHER")
    await peer.send("D", nos("mine", price="500"))
    assert (await peer.expect("8")).get(39) == b"0"
    # someone else's order: unknown to them, and nothing changes
    await other.send(
        "F", [(41, "mine"), (11, "steal-1"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00")]
    )
    rej = await other.expect("9")
    assert (rej.get(434), rej.get(102), rej.get(39), rej.get(41)) == (b"1", b"1", b"8", b"mine")
    assert "no such order for client 'OTHER'" in (rej.get_str(58) or "")
    assert venue.replay.engine.working_orders("CLIENT")[0].client_order_id == "mine"
    # a cancel with OrigClOrdID missing
    await peer.send("F", [(11, "c0"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00")])
    rej = await peer.expect("9")
    assert rej.get(434) == b"1" and "OrigClOrdID (41) is missing" in (rej.get_str(58) or "")
    # cancel it, then cancel again and replace: too late
    await peer.send(
        "F", [(41, "mine"), (11, "c1"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00")]
    )
    cxl = await peer.expect("8")
    assert (cxl.get(150), cxl.get(39), cxl.get(11), cxl.get(41)) == (b"4", b"4", b"c1", b"mine")
    await peer.send(
        "F", [(41, "c1"), (11, "c2"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00")]
    )
    rej = await peer.expect("9")
    assert (rej.get(434), rej.get(102), rej.get(39)) == (b"1", b"0", b"4")
    await peer.send("G", [(41, "c1"), (11, "r1"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00"),
                          (38, "50"), (40, "2"), (44, "500")])  # fmt: skip
    rej = await peer.expect("9")
    assert (rej.get(434), rej.get(102), rej.get(39)) == (b"2", b"0", b"4")
    await peer.close()
    await other.close()


async def test_replace_of_a_filled_order_is_refused(venue: Venue) -> None:
    peer = await raw_peer(venue)
    await peer.send("D", nos("mkt", price=None, ord_type="1", qty="10"))
    assert (await peer.expect("8")).get(150) == b"0"
    fill = await peer.expect("8")
    assert (fill.get(150), fill.get(39), fill.get(851)) == (b"F", b"2", b"2")
    before = venue.replay.snapshot()
    await peer.send("G", [(41, "mkt"), (11, "r1"), (55, "AAPL"), (54, "1"), (60, "20120621-14:00:00"),
                          (38, "20"), (40, "2"), (44, "500")])  # fmt: skip
    rej = await peer.expect("9")
    assert (rej.get(434), rej.get(102), rej.get(39)) == (b"2", b"0", b"2")
    assert "FILLED" in (rej.get_str(58) or "")
    assert venue.replay.snapshot() == before
    await peer.close()


async def test_unsupported_or_incomplete_messages_get_business_message_reject(venue: Venue) -> None:
    peer = await raw_peer(venue)
    await peer.send("E", [(66, "list-1"), (68, "0")])  # NewOrderList
    bmr = await peer.expect("j")
    assert (bmr.get(372), bmr.get(380)) == (b"E", b"3")
    assert "not supported" in (bmr.get_str(58) or "")
    await peer.send(
        "D", [(55, "AAPL"), (54, "1"), (38, "100"), (40, "1"), (60, "20120621-14:00:00")]
    )
    bmr = await peer.expect("j")
    assert (bmr.get(372), bmr.get(380)) == (b"D", b"5") and "ClOrdID (11)" in (
        bmr.get_str(58) or ""
    )
    await peer.send("H", [(11, "nope"), (55, "AAPL"), (54, "1")])
    status = await peer.expect("8")
    assert (status.get(150), status.get(39)) == (b"I", b"8")
    await peer.send("q", [(11, "mc"), (530, "5"), (60, "20120621-14:00:00")])
    report = await peer.expect("r")
    assert report.get(531) == b"0" and "MassCancelRequestType" in (report.get_str(58) or "")
    await peer.send("V", [(262, "md1"), (263, "1"), (264, "1"), (265, "1"), (267, "1"), (269, "0"),
                          (146, "1"), (55, "MSFT")])  # fmt: skip
    md_rej = await peer.expect("Y")
    assert (md_rej.get(262), md_rej.get(281)) == (b"md1", b"0")
    await peer.close()


async def test_mass_cancel(venue: Venue, client: Client) -> None:
    for k in range(3):
        client.orders.new_order(limit(100, 5_000_000 + k * TICK))
    await client.events.executions(3)
    client.orders.mass_cancel("AAPL")
    report = await client.events.next()
    assert isinstance(report, MassCancelReport)
    assert (report.response, report.affected) == ("1", 3)
    cancels = await client.events.executions(3)
    assert {e.kind for e in cancels} == {ExecKind.CANCELED}
    assert metric(venue, "rlexec_venue_cancels_total", client="CLIENT", cause="mass_cancel") == 3


# -- sessions: who may connect, and what happens when they go ------------------------------


async def test_only_allowed_comp_ids_and_right_passwords_get_in(aapl: ReplayData) -> None:
    venue = await start_venue(aapl, clients=[{"comp_id": "CLIENT", "password": "s3cret"}])
    try:
        stranger = await FixPeer.connect(venue.port, sender="STRANGER")
        await stranger.send("A", [(98, 0), (108, 5)])
        with pytest.raises(PeerClosedError):
            await stranger.receive()
        wrong = await FixPeer.connect(venue.port)
        await wrong.send("A", [(98, 0), (108, 5), (554, "guess")])
        logout = await wrong.expect("5")
        assert "password" in (logout.get_str(58) or "")
        await wrong.expect_closed()
        right = await FixPeer.connect(venue.port)
        await right.send("A", [(98, 0), (108, 5), (554, "s3cret")])
        assert (await right.expect("A")).get(98) == b"0"
        await right.close()
    finally:
        await venue.stop(grace=0.5)


@pytest.mark.parametrize("cancel_on_disconnect", [True, False])
async def test_cancel_on_disconnect(aapl: ReplayData, cancel_on_disconnect: bool) -> None:
    venue = await start_venue(
        aapl, clients=[{"comp_id": "CLIENT", "cancel_on_disconnect": cancel_on_disconnect}]
    )
    try:
        peer = await raw_peer(venue)
        await peer.send("D", nos("rest", price="500"))
        assert (await peer.expect("8")).get(39) == b"0"
        await peer.close()  # the connection drops, no Logout
        await eventually(lambda: not venue.handlers["CLIENT"].session.is_logged_on)
        working = venue.replay.engine.working_orders("CLIENT")
        assert (working == []) is cancel_on_disconnect
        back = await FixPeer.connect(venue.port)
        back.seq = peer.seq  # the session continues
        await back.logon()
        if cancel_on_disconnect:  # the cancel is reported at the next logon
            cxl = await back.expect("8")
            assert (cxl.get(150), cxl.get(11)) == (b"4", b"rest")
            assert (
                metric(venue, "rlexec_venue_cancels_total", client="CLIENT", cause="disconnect")
                == 1
            )
        else:
            await back.expect_silence(0.2)
        await back.close()
    finally:
        await venue.stop(grace=0.5)


async def test_throttle_rejects_then_logs_out(aapl: ReplayData) -> None:
    venue = await start_venue(
        aapl,
        clients=[{"comp_id": "CLIENT", "throttle_reject_per_s": 3, "throttle_logout_per_s": 6}],
    )
    try:
        peer = await raw_peer(venue)
        for k in range(5):
            await peer.send("H", [(11, f"s{k}"), (55, "AAPL"), (54, "1")])
        answers = [await peer.receive() for _ in range(5)]
        assert [a.msg_type for a in answers] == [b"8", b"8", b"8", b"j", b"j"]
        assert "THROTTLED: 4 messages in 1 s, limit=3" in (answers[3].get_str(58) or "")
        for k in range(2):
            await peer.send("H", [(11, f"t{k}"), (55, "AAPL"), (54, "1")])
        replies = [await peer.receive(), await peer.receive()]
        assert [m.msg_type for m in replies] == [b"j", b"5"]  # the 6th rejected, the 7th: out
        assert "THROTTLED: 7 messages in 1 s, limit=6" in (replies[1].get_str(58) or "")
        await peer.send("5", [])
        assert await peer.expect_closed() == []
        assert (
            metric(venue, "rlexec_venue_throttled_messages_total", client="CLIENT", action="reject")
            == 3
        )
        assert (
            metric(venue, "rlexec_venue_throttled_messages_total", client="CLIENT", action="logout")
            == 1
        )
    finally:
        await venue.stop(grace=0.5)


# -- fault injection -----------------------------------------------------------------------


async def test_fault_disconnect_after_n_messages(aapl: ReplayData) -> None:
    venue = await start_venue(
        aapl, clients=[{"comp_id": "CLIENT", "faults": {"disconnect_after_messages": 2}}]
    )
    try:
        peer = await raw_peer(venue)
        await peer.send("D", nos("a", price="500"))
        await peer.expect("8")
        await peer.send("D", nos("b", price="500"))
        got = await peer.expect_closed()
        assert [m.msg_type for m in got] == [b"8"]  # the answer, then the connection goes
        assert (
            metric(venue, "rlexec_venue_faults_injected_total", client="CLIENT", fault="disconnect")
            == 1
        )
    finally:
        await venue.stop(grace=0.5)


async def test_fault_delayed_replies(aapl: ReplayData) -> None:
    venue = await start_venue(
        aapl, clients=[{"comp_id": "CLIENT", "faults": {"reply_delay_s": 0.3}}]
    )
    try:
        peer = await raw_peer(venue)
        t0 = time.monotonic()
        await peer.send("D", nos("a", price="500"))
        await peer.expect("8")
        assert time.monotonic() - t0 >= 0.3
    finally:
        await venue.stop(grace=0.5)


@pytest.mark.parametrize("fault", ["skip_outbound_message", "garble_outbound_message"])
async def test_fault_lost_outbound_message_is_recovered_by_a_resend(
    aapl: ReplayData, fault: str
) -> None:
    venue = await start_venue(aapl, clients=[{"comp_id": "CLIENT", "faults": {fault: 2}}])
    client = await connect(venue)
    try:
        client.orders.new_order(limit(100, 5_000_000))
        client.orders.new_order(limit(100, 5_000_100))  # its ack is the lost message
        first = await client.events.next()
        assert isinstance(first, ExecutionEvent) and first.kind is ExecKind.NEW
        await client.events.silence(0.2)  # nothing: the second ack never arrived intact
        client.orders.new_order(limit(100, 5_000_200))  # the next ack shows the gap
        second, third = await client.events.executions(2)
        assert [second.price, third.price] == [5_000_100, 5_000_200]
        assert second.poss_dup  # resent from the venue's store
        label = "skip_outbound" if fault.startswith("skip") else "garble_outbound"
        assert (
            metric(venue, "rlexec_venue_faults_injected_total", client="CLIENT", fault=label) == 1
        )
    finally:
        await client.initiator.stop(grace=0.5)
        await venue.stop(grace=0.5)


# -- the clock -------------------------------------------------------------------------------


async def test_real_time_clock_drives_the_replay_at_speed(aapl: ReplayData) -> None:
    venue = await start_venue(aapl, autoplay=True, speed=50.0)
    try:
        start = venue.replay.now_ns
        await asyncio.sleep(0.4)
        advanced_s = (venue.replay.now_ns - start) / 1e9
        assert 10 <= advanced_s <= 30  # 0.4 s of wall time at 50× ≈ 20 s of market time
        assert metric(venue, "rlexec_venue_replay_events_total") > 0
    finally:
        await venue.stop(grace=0.5)


async def test_as_fast_as_possible_runs_to_the_close_then_refuses_orders(aapl: ReplayData) -> None:
    venue = await start_venue(aapl, autoplay=True, speed=0.0, start="15:55")
    try:
        await eventually(lambda: venue.replay.engine.closed, within=10)
        peer = await raw_peer(venue)
        await peer.send("D", nos("late", price="580"))
        er = await peer.expect("8")
        assert (er.get(150), er.get(103)) == (b"8", b"2")
        assert "MARKET_CLOSED" in (er.get_str(58) or "")
        await peer.close()
    finally:
        await venue.stop(grace=0.5)


# -- the command line ------------------------------------------------------------------------


async def _read_line(stream: asyncio.StreamReader, contains: str, within: float = 20.0) -> str:
    async with asyncio.timeout(within):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"stream ended before {contains!r}")
            if contains in line:
                return line


async def test_rlexec_venue_serves_and_logs_everyone_out_on_sigterm(aapl_message: Path) -> None:
    import re
    import signal
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(aapl_message),
        "--port", "0", "--clients", "CLIENT,OTHER", "--speed", "1", "--start", "10:00",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        line = await _read_line(proc.stderr, "listening on")
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, line
        port = int(match.group(1))
        peer = await FixPeer.connect(port)
        await peer.logon()
        await peer.send("D", nos("cli-1", price="500"))
        ack = await peer.expect("8")
        assert (ack.get(150), ack.get(11)) == (b"0", b"cli-1")
        proc.send_signal(signal.SIGTERM)
        logout = await peer.expect("5", within=10)
        assert "shutting down" in (logout.get_str(58) or "")
        await peer.send("5", [])
        async with asyncio.timeout(15):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "port (from --port): Input should be less than or equal to 65535"),
        (
            ["--start", "9:61"],
            "start (from --start): must be a time of day HH:MM[:SS] (got '9:61')",
        ),
        (["--speed", "-1"], "speed (from --speed): Input should be greater than or equal to 0"),
    ],
)
async def test_rlexec_venue_bad_settings_get_one_clear_line(
    aapl_message: Path, args: list[str], words: str
) -> None:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(aapl_message), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    text = err.decode()
    assert proc.returncode == 2, text
    assert words in text and "Traceback" not in text
    assert text.count("\n") == 1
