"""The venue's FIX 4.4 vocabulary: inbound order requests parsed strictly, engine records encoded.

Parsing never raises past its caller: a bad field becomes a `RequestError` naming the tag
and what is wrong with it, which the venue turns into the answer a real venue gives
(ExecutionReport Rejected, OrderCancelReject or BusinessMessageReject).
"""

from __future__ import annotations

import time
import zoneinfo
from datetime import datetime
from typing import Final, NamedTuple

from rlexec.gateway import tags as fix
from rlexec.gateway.clock import utc_timestamp
from rlexec.gateway.codes import (
    ORD_TYPE_CODES,
    ORD_TYPE_NAMES,
    ORD_TYPES,
    SIDE_CODES,
    SIDE_NAMES,
    SIDES,
    TIF_CODES,
    TIF_NAMES,
    TIFS,
    supported,
)
from rlexec.gateway.message import FixMessage
from rlexec.gateway.values import format_price
from rlexec.market.instrument import PRICE_SCALE, price_from_text
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.orders import (
    CancelReject,
    ExecReport,
    ExecType,
    Liquidity,
    OrderStatus,
    RejectCode,
)

LAST_LIQUIDITY_IND: Final = 851
BUSINESS_REJECT_REASON: Final = 380
BUSINESS_REJECT_REF_ID: Final = 379
MAX_INT_DIGITS: Final = 18
"""Longest integer field the venue reads (int() refuses more than 4,300 digits by raising)."""

EXEC_TYPE_CODES: Final[dict[ExecType, bytes]] = {
    ExecType.NEW: b"0",
    ExecType.TRADE: b"F",
    ExecType.CANCELED: b"4",
    ExecType.REPLACED: b"5",
    ExecType.REJECTED: b"8",
    ExecType.EXPIRED: b"C",
}
ORD_STATUS_CODES: Final[dict[OrderStatus, bytes]] = {
    OrderStatus.NEW: b"0",
    OrderStatus.PARTIALLY_FILLED: b"1",
    OrderStatus.FILLED: b"2",
    OrderStatus.CANCELED: b"4",
    OrderStatus.EXPIRED: b"C",
    OrderStatus.REJECTED: b"8",
}
ORD_REJ_REASONS: Final[dict[RejectCode, int]] = {
    RejectCode.UNKNOWN_SYMBOL: 1,
    RejectCode.MARKET_CLOSED: 2,
    RejectCode.UNKNOWN_ORDER: 5,
    RejectCode.DUPLICATE_ORDER: 6,
    RejectCode.BAD_ORDER: 11,  # unsupported order characteristic
    RejectCode.BAD_QUANTITY: 13,
    RejectCode.BAD_PRICE: 99,  # FIX 4.4 has no code for a bad price: Other, with the reason
    RejectCode.ORDER_DONE: 99,
    RejectCode.SELF_MATCH: 99,
}
CXL_REJ_REASONS: Final[dict[RejectCode, int]] = {
    RejectCode.ORDER_DONE: 0,  # too late to cancel
    RejectCode.UNKNOWN_ORDER: 1,
    RejectCode.MARKET_CLOSED: 2,
    RejectCode.DUPLICATE_ORDER: 6,
}

_NY = zoneinfo.ZoneInfo("America/New_York")


class RequestError(Exception):
    """A request the venue refuses before it reaches the engine."""

    def __init__(self, code: RejectCode, text: str, tag: int | None = None) -> None:
        self.code = code
        self.text = text
        self.tag = tag
        super().__init__(f"{code.value}: {text}")


class OrderRequest(NamedTuple):
    cl_ord_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price: int | None
    time_in_force: TimeInForce


class AmendRequest(NamedTuple):
    """OrderCancelRequest (F) or OrderCancelReplaceRequest (G)."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: int | None
    symbol: str | None
    quantity: int | None
    price: int | None


# -- parsing ---------------------------------------------------------------------------------


def _text(msg: FixMessage, tag: int, name: str) -> str:
    value = msg.fields.get(tag)
    if not value:
        raise RequestError(RejectCode.BAD_ORDER, f"{name} ({tag}) is missing", tag)
    return value.decode(errors="replace")


def parse_quantity(value: bytes | None, tag: int = fix.ORDER_QTY) -> int:
    if not value:
        raise RequestError(RejectCode.BAD_QUANTITY, f"OrderQty ({tag}) is missing", tag)
    shown = value[:24].decode(errors="replace")
    whole, dot, frac = value.partition(b".")
    sign = whole[:1] == b"-"
    digits = whole[1:] if sign else whole
    if not digits.isdigit() or (dot and frac and not frac.isdigit()):
        raise RequestError(
            RejectCode.BAD_QUANTITY, f"OrderQty ({tag})={shown!r} is not a number", tag
        )
    if len(digits) > MAX_INT_DIGITS:
        raise RequestError(
            RejectCode.BAD_QUANTITY,
            f"OrderQty ({tag}) has {len(digits)} digits, more than {MAX_INT_DIGITS}",
            tag,
        )
    if frac.strip(b"0"):
        raise RequestError(
            RejectCode.BAD_QUANTITY,
            f"OrderQty ({tag})={shown} is not a whole number of shares",
            tag,
        )
    qty = -int(digits) if sign else int(digits)
    if qty <= 0:
        raise RequestError(
            RejectCode.BAD_QUANTITY, f"OrderQty ({tag})={shown} must be positive", tag
        )
    return qty


def parse_price(value: bytes | None, tag: int = fix.PRICE) -> int:
    """A decimal price as integer units (×1e4); more precision than that is refused, not rounded."""
    if not value:
        raise RequestError(RejectCode.BAD_PRICE, f"Price ({tag}) is missing for a limit order", tag)
    shown = value[:24].decode(errors="replace")
    try:
        return price_from_text(value, exact=True)
    except ValueError as exc:
        text = f"{shown!r} is not a number" if str(exc) == "not a number" else f"{shown} {exc}"
        raise RequestError(RejectCode.BAD_PRICE, f"Price ({tag})={text}", tag) from None


def parse_new_order(msg: FixMessage) -> OrderRequest:
    """A NewOrderSingle; ClOrdID must be checked present by the caller (it names the answer)."""
    f = msg.fields
    cl = _text(msg, fix.CL_ORD_ID, "ClOrdID")
    symbol = _text(msg, fix.SYMBOL, "Symbol")
    side = SIDES.get(f.get(fix.SIDE) or b"")
    if side is None:
        raise RequestError(
            RejectCode.BAD_ORDER,
            f"Side (54)={_shown(f.get(fix.SIDE))} is not supported: {supported(SIDE_NAMES)}",
            fix.SIDE,
        )
    qty = parse_quantity(f.get(fix.ORDER_QTY))
    ord_type = ORD_TYPES.get(f.get(fix.ORD_TYPE) or b"")
    if ord_type is None:
        raise RequestError(
            RejectCode.BAD_ORDER,
            f"OrdType (40)={_shown(f.get(fix.ORD_TYPE))} is not supported: {supported(ORD_TYPE_NAMES)}",
            fix.ORD_TYPE,
        )
    price = None
    if ord_type is OrderType.LIMIT:
        price = parse_price(f.get(fix.PRICE))
    tif_code = f.get(fix.TIME_IN_FORCE)
    tif = TimeInForce.DAY if tif_code is None else TIFS.get(tif_code)
    if tif is None:
        raise RequestError(
            RejectCode.BAD_ORDER,
            f"TimeInForce (59)={_shown(tif_code)} is not supported: {supported(TIF_NAMES)}",
            fix.TIME_IN_FORCE,
        )
    return OrderRequest(cl, symbol, side, qty, ord_type, price, tif)


def parse_amend(msg: FixMessage, replace: bool) -> AmendRequest:
    f = msg.fields
    cl = _text(msg, fix.CL_ORD_ID, "ClOrdID")
    orig = _text(msg, fix.ORIG_CL_ORD_ID, "OrigClOrdID")
    order_id_text = f.get(fix.ORDER_ID)
    order_id = (
        int(order_id_text)
        if order_id_text and order_id_text.isdigit() and len(order_id_text) <= MAX_INT_DIGITS
        else None
    )
    symbol = f.get(fix.SYMBOL)
    qty = price = None
    if replace:
        qty = parse_quantity(f.get(fix.ORDER_QTY))
        ord_type = f.get(fix.ORD_TYPE)
        if ord_type is not None and ord_type != ORD_TYPE_CODES[OrderType.LIMIT]:
            raise RequestError(
                RejectCode.BAD_ORDER,
                f"OrdType (40)={_shown(ord_type)}: only limit orders (2) can be replaced",
                fix.ORD_TYPE,
            )
        if fix.PRICE in f:
            price = parse_price(f.get(fix.PRICE))
    return AmendRequest(
        cl, orig, order_id, symbol.decode(errors="replace") if symbol else None, qty, price
    )


def _shown(value: bytes | None) -> str:
    return "(missing)" if value is None else repr(value[:16].decode(errors="replace"))


# -- encoding --------------------------------------------------------------------------------


def format_avg(avg: float) -> bytes:
    """An average price (integer units, fractional) with up to 8 decimals in currency."""
    if not avg:
        return b"0"
    return (b"%.8f" % (avg / PRICE_SCALE)).rstrip(b"0").rstrip(b".")


class TransactClock:
    """TransactTime (60) from replay time: New York time of the trading day, sent as UTC."""

    def __init__(self, date: str | None) -> None:
        if date is None:
            self._midnight = float(int(time.time()) // 86_400 * 86_400)
        else:
            day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=_NY)
            self._midnight = day.timestamp()

    def stamp(self, ts_ns: int) -> bytes:
        return utc_timestamp(self._midnight + ts_ns / 1e9)


def execution_report(
    r: ExecReport,
    exec_id: bytes,
    symbol: str,
    transact_time: bytes,
    cl_ord_id: str | None = None,
    exec_type: bytes | None = None,
) -> bytes:
    """ExecutionReport (8) body for one engine report (or an order-status answer)."""
    body = [
        b"37=%d\x01" % r.order_id if r.status is not OrderStatus.REJECTED else b"37=NONE\x01",
        b"11=", (cl_ord_id if cl_ord_id is not None else r.client_order_id).encode(), b"\x01",
    ]  # fmt: skip
    if r.orig_client_order_id is not None and r.exec_type in (ExecType.REPLACED, ExecType.CANCELED):
        body += [b"41=", r.orig_client_order_id.encode(), b"\x01"]
    body += [
        b"17=", exec_id, b"\x01150=", exec_type or EXEC_TYPE_CODES[r.exec_type],
        b"\x0139=", ORD_STATUS_CODES[r.status], b"\x0155=", symbol.encode(),
        b"\x0154=", SIDE_CODES[r.side], b"\x0138=%d\x0140=" % r.quantity,
        ORD_TYPE_CODES[r.order_type], b"\x01",
    ]  # fmt: skip
    if r.price is not None:
        body += [b"44=", format_price(r.price), b"\x01"]
    body += [b"59=", TIF_CODES[r.time_in_force], b"\x01"]
    if r.last_qty:
        body += [b"32=%d\x0131=" % r.last_qty, format_price(r.last_price), b"\x01"]
        if r.liquidity is not None:
            body.append(b"851=1\x01" if r.liquidity is Liquidity.ADDED else b"851=2\x01")
    body += [
        b"14=%d\x01151=%d\x016=" % (r.cum_qty, r.leaves_qty), format_avg(r.avg_price),
        b"\x0160=", transact_time, b"\x01",
    ]  # fmt: skip
    if r.exec_type is ExecType.REJECTED and r.reject_code is not None:
        body.append(b"103=%d\x01" % ORD_REJ_REASONS[r.reject_code])
    if r.reason:
        body += [b"58=", _clean(r.reason), b"\x01"]
    return b"".join(body)


def rejected_order_report(
    cl_ord_id: str,
    symbol: str,
    side: bytes,
    error: RequestError,
    exec_id: bytes,
    transact_time: bytes,
) -> bytes:
    """ExecutionReport Rejected for a NewOrderSingle that never reached the engine."""
    return b"".join(
        [
            b"37=NONE\x0111=", cl_ord_id.encode(), b"\x0117=", exec_id,
            b"\x01150=8\x0139=8\x0155=", _clean(symbol), b"\x0154=", side if side in (b"1", b"2") else b"1",
            b"\x0114=0\x01151=0\x016=0\x0160=", transact_time,
            b"\x01103=%d\x0158=" % ORD_REJ_REASONS[error.code], _clean(str(error)), b"\x01",
        ]
    )  # fmt: skip


def cancel_reject(
    cr: CancelReject | None,
    cl_ord_id: str,
    orig_cl_ord_id: str,
    is_replace: bool,
    error: RequestError | None = None,
    status: OrderStatus | None = None,
    order_id: int | None = None,
) -> bytes:
    """OrderCancelReject (9), from an engine refusal or a request that failed to parse."""
    if cr is not None:
        code, text, status, order_id = cr.reject_code, cr.reason, cr.status, cr.order_id
    else:
        assert error is not None
        code, text = error.code, str(error)
    return b"".join(
        [
            b"37=", b"NONE" if order_id is None else b"%d" % order_id,
            b"\x0111=", cl_ord_id.encode(), b"\x0141=", orig_cl_ord_id.encode(),
            b"\x0139=", ORD_STATUS_CODES[status] if status is not None else b"8",
            b"\x01434=", b"2" if is_replace else b"1",
            b"\x01102=%d\x0158=" % CXL_REJ_REASONS.get(code, 99), _clean(text), b"\x01",
        ]
    )  # fmt: skip


def business_reject(msg: FixMessage, reason: int, text: str) -> bytes:
    """BusinessMessageReject (j): 0 other, 3 unsupported MsgType, 5 required field missing."""
    body = b"45=" + (msg.fields.get(fix.MSG_SEQ_NUM) or b"0") + b"\x01372=" + msg.msg_type + b"\x01"
    ref_id = msg.fields.get(fix.CL_ORD_ID) or msg.fields.get(fix.MD_REQ_ID)
    if ref_id:
        body += b"379=" + ref_id + b"\x01"
    body += b"380=%d\x01" % reason
    return body + b"58=" + _clean(text) + b"\x01"


def _clean(text: str) -> bytes:
    return text.replace("\x01", " ").encode("ascii", errors="replace")
