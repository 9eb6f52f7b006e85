"""The order-entry client against a rule-based venue, over a real FIX session on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.errors import FieldError, NotLoggedOnError
from rlexec.gateway.execution import (
    CancelRejectEvent,
    ExecKind,
    MassCancelReport,
    format_price,
    parse_price,
    parse_qty,
)
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.message import FixMessage
from rlexec.gateway.order_client import (
    OrderClient,
    OrderEntryError,
    default_clordid_prefix,
)
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from tests.gateway.order_events import QueuedEvents
from tests.gateway.venue import ScriptedVenue


@dataclass
class Setup:
    client: OrderClient
    events: QueuedEvents
    venue: ScriptedVenue
    venue_session: FixSession


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    venue = ScriptedVenue()
    venue_session = FixSession(
        SessionConfig("VENUE", "CLIENT", Role.ACCEPTOR), MemoryStore(), venue
    )
    acceptor = FixAcceptor([venue_session])
    await acceptor.start()
    events = QueuedEvents()
    session = FixSession(SessionConfig("CLIENT", "VENUE", heartbeat_interval=5), MemoryStore())
    client = OrderClient(session, events, clordid_prefix="T-")
    initiator = FixInitiator(session, "127.0.0.1", acceptor.port)
    await initiator.start()
    async with asyncio.timeout(3):
        await session.wait_logged_on()
    yield Setup(client, events, venue, venue_session)
    await initiator.stop(grace=0.5)
    await acceptor.stop(grace=0.5)


def limit(
    symbol: str, qty: int = 100, side: Side = Side.BUY, price: int = 5_853_300
) -> OrderIntent:
    return OrderIntent(symbol, side, qty, OrderType.LIMIT, price)


async def test_limit_day_order_is_acknowledged(setup: Setup) -> None:
    cl = setup.client.new_order(limit("REST"))
    assert cl == "T-1"
    (ack,) = await setup.events.executions(1)
    assert ack.kind is ExecKind.NEW
    assert (ack.cl_ord_id, ack.symbol, ack.side, ack.order_qty) == ("T-1", "REST", Side.BUY, 100)
    assert ack.price == 5_853_300 and ack.leaves_qty == 100 and ack.cum_qty == 0
    sent = setup.venue.received[-1]
    assert (sent.get(40), sent.get(44), sent.get(59), sent.get(54)) == (b"2", b"585.33", b"0", b"1")
    assert sent.get(60) is not None
    assert setup.client.working["T-1"].order_id == ack.order_id


async def test_market_ioc_order_carries_no_price(setup: Setup) -> None:
    setup.client.new_order(
        OrderIntent("REST", Side.SELL, 5, OrderType.MARKET, None, TimeInForce.IOC)
    )
    await setup.events.executions(1)
    sent = setup.venue.received[-1]
    assert (sent.get(40), sent.get(59), sent.get(54)) == (b"1", b"3", b"2")
    assert 44 not in sent


async def test_partial_fill_then_fill(setup: Setup) -> None:
    cl = setup.client.new_order(limit("FILL", qty=300))
    new, partial, fill = await setup.events.executions(3)
    assert [e.kind for e in (new, partial, fill)] == [
        ExecKind.NEW,
        ExecKind.PARTIAL_FILL,
        ExecKind.FILL,
    ]
    assert (partial.last_qty, partial.cum_qty, partial.leaves_qty) == (150, 150, 150)
    assert (fill.last_qty, fill.cum_qty, fill.leaves_qty) == (150, 300, 0)
    assert fill.last_px == 5_853_300 and fill.avg_px == 5_853_300
    assert fill.kind.is_terminal and not partial.kind.is_terminal
    assert cl not in setup.client.working


async def test_cancel_goes_through_pending_cancel(setup: Setup) -> None:
    cl = setup.client.new_order(limit("REST"))
    await setup.events.executions(1)
    cancel_id = setup.client.cancel(cl)
    pending, canceled = await setup.events.executions(2)
    assert pending.kind is ExecKind.PENDING_CANCEL
    assert canceled.kind is ExecKind.CANCELED and canceled.orig_cl_ord_id == cl
    assert canceled.cl_ord_id == cancel_id
    request = setup.venue.received[-1]
    assert (request.msg_type, request.get(41), request.get(38)) == (b"F", cl.encode(), b"100")
    assert request.get(37) == pending.order_id.encode()
    assert cl not in setup.client.working


async def test_replace_goes_through_pending_replace(setup: Setup) -> None:
    cl = setup.client.new_order(limit("REST"))
    await setup.events.executions(1)
    new_cl = setup.client.replace(cl, quantity=250, price=5_850_000)
    pending, replaced = await setup.events.executions(2)
    assert pending.kind is ExecKind.PENDING_REPLACE
    assert replaced.kind is ExecKind.REPLACED
    assert (replaced.cl_ord_id, replaced.orig_cl_ord_id) == (new_cl, cl)
    assert (replaced.order_qty, replaced.price) == (250, 5_850_000)
    request = setup.venue.received[-1]
    assert (request.msg_type, request.get(44), request.get(38)) == (b"G", b"585", b"250")
    assert cl not in setup.client.working
    working = setup.client.working[new_cl]
    assert (working.quantity, working.price) == (250, 5_850_000)


async def test_rejected_order(setup: Setup) -> None:
    cl = setup.client.new_order(limit("REST", qty=2_000_000))
    (rejected,) = await setup.events.executions(1)
    assert rejected.kind is ExecKind.REJECTED
    assert (rejected.reject_reason, rejected.text) == (3, "quantity too large")
    assert cl not in setup.client.working


async def test_cancel_reject(setup: Setup) -> None:
    cl = setup.client.new_order(limit("NOCXL"))
    await setup.events.executions(1)
    setup.client.cancel(cl)
    reject = await setup.events.next()
    assert isinstance(reject, CancelRejectEvent)
    assert (reject.orig_cl_ord_id, reject.response_to, reject.reason) == (cl, "1", 1)
    assert reject.text == "too late to cancel"
    setup.client.replace(cl, price=5_000_000)
    reject = await setup.events.next()
    assert isinstance(reject, CancelRejectEvent) and reject.response_to == "2"
    assert cl in setup.client.working


async def test_order_status_request(setup: Setup) -> None:
    cl = setup.client.new_order(limit("REST"))
    await setup.events.executions(1)
    setup.client.request_status(cl)
    (status,) = await setup.events.executions(1)
    assert status.kind is ExecKind.ORDER_STATUS and status.cl_ord_id == cl
    assert setup.venue.received[-1].msg_type == b"H"


async def test_mass_cancel(setup: Setup) -> None:
    a = setup.client.new_order(limit("REST"))
    b = setup.client.new_order(limit("REST", side=Side.SELL, price=5_860_000))
    await setup.events.executions(2)
    setup.client.mass_cancel()
    report = await setup.events.next()
    assert isinstance(report, MassCancelReport)
    assert (report.response, report.affected) == ("7", 2)
    canceled = await setup.events.executions(2)
    assert {e.cl_ord_id for e in canceled} == {a, b}
    assert all(e.kind is ExecKind.CANCELED for e in canceled)
    assert setup.client.working == {}
    assert setup.venue.received[-1].get(530) == b"7"
    setup.client.mass_cancel("REST")
    report = await setup.events.next()
    assert isinstance(report, MassCancelReport) and report.affected == 0
    assert setup.venue.received[-1].get(55) == b"REST"


async def test_a_malformed_execution_report_gets_a_business_reject(setup: Setup) -> None:
    setup.venue_session.send_fields(
        b"8", [(37, "O1"), (11, "T-9"), (17, "E1"), (39, "0"), (54, "1"), (14, 0), (151, 1)]
    )
    setup.venue_session.send_fields(
        b"8",
        [
            (37, "O1"),
            (11, "T-9"),
            (17, "E2"),
            (150, "0"),
            (39, "0"),
            (54, "1"),
            (14, "x"),
            (151, 1),
        ],
    )
    rejects: list[FixMessage] = []
    async with asyncio.timeout(3):
        while len(rejects) < 2:
            await asyncio.sleep(0.01)
            rejects = [m for m in setup.venue.received if m.msg_type == b"j"]
    assert rejects[0].get(380) == b"5" and b"tag 150" in (rejects[0].get(58) or b"")
    assert rejects[1].get(380) == b"0" and b"tag 14" in (rejects[1].get(58) or b"")
    assert setup.events.queue.empty()
    assert setup.client.session.is_logged_on


async def test_requests_for_unknown_orders_and_bad_quantities_are_refused(setup: Setup) -> None:
    with pytest.raises(OrderEntryError, match="no working order with ClOrdID nope"):
        setup.client.cancel("nope")
    with pytest.raises(OrderEntryError, match="quantity must be positive"):
        setup.client.new_order(OrderIntent("REST", Side.BUY, 0, OrderType.LIMIT, 1))
    cl = setup.client.new_order(limit("REST"))
    with pytest.raises(OrderEntryError, match="already in use"):
        setup.client.new_order(limit("REST"), cl_ord_id=cl)
    with pytest.raises(OrderEntryError, match="replacement quantity must be positive"):
        setup.client.replace(cl, quantity=0)


async def test_sending_while_logged_out_leaves_no_trace() -> None:
    session = FixSession(SessionConfig("CLIENT", "VENUE"), MemoryStore())
    await session.open()
    client = OrderClient(session)
    with pytest.raises(NotLoggedOnError):
        client.new_order(limit("REST"))
    assert client.working == {}


def test_clordids_are_unique_across_restarts() -> None:
    first = default_clordid_prefix()
    time.sleep(0.002)
    second = default_clordid_prefix()
    assert first != second
    assert first.endswith("-")
    session = FixSession(SessionConfig("CLIENT", "VENUE"), MemoryStore())
    a = OrderClient(session)
    ids = {a.next_cl_ord_id() for _ in range(1000)}
    assert len(ids) == 1000
    time.sleep(0.002)
    b = OrderClient(session)
    assert not ids & {b.next_cl_ord_id() for _ in range(1000)}


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_prices_survive_formatting_and_parsing(price: int) -> None:
    text = format_price(price)
    assert parse_price(text) == price
    assert float(text) == pytest.approx(price / 10_000)


def test_price_and_quantity_parsing_edge_cases() -> None:
    assert parse_price(b"585.33") == 5_853_300
    assert parse_price(b".5") == 5_000
    assert parse_price(b"1.00005") == 10_001
    assert parse_price(b"-0.0001") == -1
    with pytest.raises(FieldError, match="tag 44: not a price"):
        parse_price(b"1e5")
    with pytest.raises(FieldError, match="not a price"):
        parse_price(b"")
    assert parse_qty(b"100.0", 38) == 100
    with pytest.raises(FieldError, match="tag 38 in MsgType 8: not a whole quantity"):
        parse_qty(b"100.5", 38)
