"""One FIX vocabulary: the gateway and the venue read and write every code the same way
(issue 13, item 12: they disagreed on Side=5, sell short)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlexec.gateway import codes
from rlexec.gateway.codec import encode
from rlexec.gateway.errors import FieldError
from rlexec.gateway.execution import parse_execution_report
from rlexec.gateway.message import FixMessage
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.data import ReplayData
from rlexec.simulator.fix_messages import RequestError, parse_new_order
from tests.test_simulator_venue import nos, raw_peer, start_venue

# Every code either end knows, plus neighbours neither should.
CANDIDATES = sorted({*codes.SIDES, *codes.ORD_TYPES, *codes.TIFS, b"4", b"6", b"8", b"P", b"Z"})


def _order(side: bytes = b"2", ord_type: bytes = b"2", tif: bytes = b"0") -> FixMessage:
    body = b"11=c\x0155=AAPL\x0154=%s\x0160=20120621-14:00:00\x0138=100\x0140=%s\x0144=580\x0159=%s\x01"
    return FixMessage.decode(encode(b"FIX.4.4", b"D", body % (side, ord_type, tif)))


def _report(side: bytes) -> FixMessage:
    body = b"37=1\x0111=c\x0117=e\x01150=0\x0139=0\x0155=AAPL\x0154=%s\x0114=0\x01151=100\x01"
    return FixMessage.decode(encode(b"FIX.4.4", b"8", body % side))


def _venue_side(code: bytes) -> Side | None:
    try:
        return parse_new_order(_order(side=code)).side
    except RequestError as exc:
        assert exc.tag == 54
        return None


def _gateway_side(code: bytes) -> Side | None:
    try:
        return parse_execution_report(_report(code), 0).side
    except FieldError as exc:
        assert exc.tag == 54
        return None


@pytest.mark.parametrize("code", CANDIDATES, ids=lambda c: c.decode())
def test_both_ends_read_every_side_code_alike(code: bytes) -> None:
    assert _venue_side(code) == _gateway_side(code) == codes.SIDES.get(code)


def test_sell_short_is_a_sell_at_both_ends() -> None:
    assert _venue_side(b"5") is _gateway_side(b"5") is Side.SELL


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("ord_type", list(OrderType))
@pytest.mark.parametrize("tif", list(TimeInForce))
def test_what_the_gateway_writes_the_venue_reads_back(
    side: Side, ord_type: OrderType, tif: TimeInForce
) -> None:
    request = parse_new_order(
        _order(codes.SIDE_CODES[side], codes.ORD_TYPE_CODES[ord_type], codes.TIF_CODES[tif])
    )
    assert (request.side, request.order_type, request.time_in_force) == (side, ord_type, tif)
    assert _gateway_side(codes.SIDE_CODES[side]) is side


def test_every_code_has_a_name_for_error_messages() -> None:
    assert codes.SIDE_NAMES.keys() == codes.SIDES.keys()
    assert codes.ORD_TYPE_NAMES.keys() == codes.ORD_TYPES.keys()
    assert codes.TIF_NAMES.keys() == codes.TIFS.keys()
    assert codes.supported(codes.SIDE_NAMES) == "1 (buy), 2 (sell) or 5 (sell short)"


async def test_a_live_venue_fills_a_sell_short_and_reports_it_as_a_sell(
    aapl_message: Path,
) -> None:
    venue = await start_venue(ReplayData.load(aapl_message))
    try:
        peer = await raw_peer(venue)
        # a marketable sell, inside the venue's 25 % price band around the ~$586 reference
        await peer.send("D", nos("short-1", side="5", price="570"))
        reports = [await peer.expect("8")]
        while reports[-1].get(39) not in (b"2", b"4", b"8"):
            reports.append(await peer.expect("8"))
        assert reports[0].get(150) == b"0", reports[0].get_str(58)
        assert {r.get(54) for r in reports} == {b"2"}
        assert reports[-1].get(39) == b"2" and reports[-1].get(14) == b"100"
        await peer.close()
    finally:
        await venue.stop(grace=0.5)
