"""What a hostile client can do to the venue (issue 13, items 2, 5 and 6), over real FIX."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from rlexec.gateway.codec import FieldValue
from rlexec.gateway.message import FixMessage
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue import Venue
from rlexec.simulator.venue_config import VenueConfig
from tests.gateway.peer import FixPeer
from tests.test_simulator_venue import metric, start_venue

HUGE = "9" * 5_000


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture
async def venue(aapl: ReplayData) -> AsyncIterator[Venue]:
    v = await start_venue(aapl, max_subscriptions_per_client=3, price_band_pct=10)
    yield v
    await v.stop(grace=0.5)


@pytest.fixture
async def peer(venue: Venue) -> AsyncIterator[FixPeer]:
    p = await FixPeer.connect(venue.port, sender="CLIENT")
    await p.logon()
    yield p
    await p.close()


def order(
    price: str = "580.00", qty: FieldValue = 100, cl: str = "o1"
) -> list[tuple[int, FieldValue]]:
    return [(11, cl), (55, "AAPL"), (54, "1"), (38, qty), (40, "2"), (44, price), (59, "0")]


async def report_for(peer: FixPeer) -> FixMessage:
    return await peer.expect("8")


async def test_an_order_with_a_huge_quantity_is_rejected_naming_the_field(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.send("D", order(qty=HUGE))
    er = await report_for(peer)
    assert (er.get(39), er.get(150)) == (b"8", b"8")
    assert "OrderQty (38)" in (er.get_str(58) or "")
    # The session is fine: a normal order next is accepted.
    await peer.send("D", order(cl="o2"))
    assert (await report_for(peer)).get(39) == b"0"


async def test_a_cancel_with_a_huge_order_id_is_refused(venue: Venue, peer: FixPeer) -> None:
    await peer.send("F", [(11, "c1"), (41, "o1"), (37, HUGE), (55, "AAPL"), (54, "1")])
    reject = await peer.expect("9")
    assert "OrderID (37)" in (reject.get_str(58) or "")


async def test_a_status_request_with_a_huge_order_id_is_answered(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.send("H", [(11, "nope"), (37, HUGE), (55, "AAPL"), (54, "1")])
    assert (await report_for(peer)).get(150) == b"I"


async def test_a_market_data_request_with_a_huge_depth_is_rejected(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.send("V", [(262, "md1"), (263, "1"), (264, HUGE), (146, 1), (55, "AAPL")])
    reject = await peer.expect("Y")
    assert "MarketDepth (264)" in (reject.get_str(58) or "")


async def test_an_order_outside_the_price_band_is_rejected_naming_price_and_band(
    venue: Venue, peer: FixPeer
) -> None:
    await peer.send("D", order(price="100000000000000000000000000"))  # a buy at 1e26
    er = await report_for(peer)
    assert er.get(39) == b"8"
    text = er.get_str(58) or ""
    assert "PRICE_BAND" in text and "100000000000000000000000000" in text and "10%" in text
    assert (
        metric(venue, "rlexec_venue_refused_requests_total", client="CLIENT", bound="price_band")
        == 1
    )
    # Inside the band (about 580 here) is accepted; so is a replace inside it, not one outside.
    await peer.send("D", order(price="575.00", cl="in"))
    assert (await report_for(peer)).get(39) == b"0"
    await peer.send(
        "G", [(11, "r1"), (41, "in"), (55, "AAPL"), (54, "1"), (38, 100), (40, "2"), (44, "900.00")]
    )
    reject = await peer.expect("9")
    assert "PRICE_BAND" in (reject.get_str(58) or "")


async def test_subscriptions_per_client_are_capped(venue: Venue, peer: FixPeer) -> None:
    for i in range(3):
        await peer.send("V", [(262, f"md{i}"), (263, "1"), (264, 1), (146, 1), (55, "AAPL")])
        await peer.expect("W")
    await peer.send("V", [(262, "md3"), (263, "1"), (264, 1), (146, 1), (55, "AAPL")])
    reject = await peer.expect("Y")
    assert reject.get(281) == b"2"
    assert "max_subscriptions_per_client=3" in (reject.get_str(58) or "")
    assert len(venue.handlers["CLIENT"].subscriptions) == 3
    # Unsubscribing frees a slot.
    await peer.send("V", [(262, "md0"), (263, "2"), (146, 1), (55, "AAPL")])
    await peer.send("V", [(262, "md4"), (263, "1"), (264, 1), (146, 1), (55, "AAPL")])
    await peer.expect("W")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_subscriptions_per_client", 0),
        ("price_band_pct", 0),
        ("max_connections", 0),
        ("max_failed_logons", 0),
        ("logon_lockout_s", -1),
    ],
)
def test_venue_bounds_are_validated(key: str, value: object) -> None:
    with pytest.raises(ValidationError, match=key):
        VenueConfig.model_validate({"data": "x", key: value})
