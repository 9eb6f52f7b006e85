"""Typed order-entry events parsed from ExecutionReport (8), OrderCancelReject (9) and
OrderMassCancelReport (r), and the FIX enumerations they come from.

NamedTuples because one is built per execution report on the hot path: immutable, typed, and
cheaper to create than a dataclass. Prices are integers in 1e-4 units, as everywhere inside
rlexec; quantities are integers.
"""

from __future__ import annotations

__all__ = [
    "CancelRejectEvent",
    "ExecKind",
    "ExecutionEvent",
    "MassCancelReport",
    "format_price",
    "parse_cancel_reject",
    "parse_execution_report",
    "parse_mass_cancel_report",
    "parse_price",
    "parse_qty",
]

from enum import Enum
from typing import Final, NamedTuple

from rlexec.gateway import tags as fix
from rlexec.gateway.codes import SIDES
from rlexec.gateway.errors import FieldError
from rlexec.gateway.message import FixMessage
from rlexec.gateway.values import format_price, parse_price, parse_qty
from rlexec.market.orders import Side


class ExecKind(Enum):
    """What an execution report says happened, from ExecType (150) and OrdStatus (39)."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCELED = "canceled"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    ORDER_STATUS = "order_status"
    RESTATED = "restated"
    TRADE_CORRECT = "trade_correct"
    TRADE_CANCEL = "trade_cancel"

    @property
    def is_terminal(self) -> bool:
        """The order can trade no more after this report."""
        return self in _TERMINAL


_TERMINAL: Final = frozenset(
    {ExecKind.FILL, ExecKind.CANCELED, ExecKind.REJECTED, ExecKind.EXPIRED, ExecKind.DONE_FOR_DAY}
)
_EXEC_TYPES: Final[dict[bytes, ExecKind]] = {
    b"A": ExecKind.PENDING_NEW,
    b"0": ExecKind.NEW,
    b"4": ExecKind.CANCELED,
    b"5": ExecKind.REPLACED,
    b"6": ExecKind.PENDING_CANCEL,
    b"E": ExecKind.PENDING_REPLACE,
    b"8": ExecKind.REJECTED,
    b"C": ExecKind.EXPIRED,
    b"3": ExecKind.DONE_FOR_DAY,
    b"I": ExecKind.ORDER_STATUS,
    b"D": ExecKind.RESTATED,
    b"G": ExecKind.TRADE_CORRECT,
    b"H": ExecKind.TRADE_CANCEL,
}


class ExecutionEvent(NamedTuple):
    """One ExecutionReport, typed."""

    kind: ExecKind
    cl_ord_id: str
    order_id: str
    exec_id: str
    exec_type: str
    """ExecType (150) as sent, for anything `kind` does not capture."""
    ord_status: str
    symbol: str
    side: Side
    order_qty: int
    last_qty: int
    last_px: int | None
    cum_qty: int
    leaves_qty: int
    avg_px: int | None
    price: int | None
    orig_cl_ord_id: str | None
    text: str | None
    reject_reason: int | None
    poss_dup: bool
    received_ns: int


class CancelRejectEvent(NamedTuple):
    """An OrderCancelReject (9): the cancel or replace of `orig_cl_ord_id` was refused."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: str
    response_to: str
    """"1" a cancel request, "2" a cancel/replace request (CxlRejResponseTo, 434)."""
    reason: int | None
    text: str | None
    received_ns: int


class MassCancelReport(NamedTuple):
    """An OrderMassCancelReport (r)."""

    cl_ord_id: str
    response: str
    """MassCancelResponse (531): "0" rejected, else the scope that was cancelled."""
    affected: int | None
    reject_reason: int | None
    text: str | None
    received_ns: int


_new_event: Final = tuple.__new__
_QTY_DIGITS: Final = 18
"""Whole quantities of up to this many digits are read inline; longer ones go to parse_qty."""


def _opt(fields: dict[int, bytes], tag: int) -> str | None:
    value = fields.get(tag)
    return None if value is None else value.decode(errors="replace")


def _int_or_none(fields: dict[int, bytes], tag: int, msg_type: bytes) -> int | None:
    value = fields.get(tag)
    if value is None:
        return None
    if not value.isdigit():
        raise FieldError(tag, f"not an integer: {value[:32]!r}", msg_type)
    return int(value)


def parse_execution_report(msg: FixMessage, received_ns: int) -> ExecutionEvent:
    """An ExecutionReport as an ExecutionEvent; FieldError names a missing or bad tag.

    One per report on the order client's receive path: whole-number quantities are read
    inline (`parse_qty` for anything else) and the tuple is built without its __new__."""
    f = msg.fields
    mt = b"8"
    try:
        exec_type = f[fix.EXEC_TYPE]
        cl_ord_id = f[fix.CL_ORD_ID]
        order_id = f[fix.ORDER_ID]
        exec_id = f[fix.EXEC_ID]
        ord_status = f[fix.ORD_STATUS]
        side_code = f[fix.SIDE]
        cum = f[fix.CUM_QTY]
        leaves = f[fix.LEAVES_QTY]
    except KeyError as exc:
        raise FieldError(exc.args[0], "required field is missing", mt) from None
    if exec_type == b"F":
        kind = ExecKind.FILL if ord_status == b"2" else ExecKind.PARTIAL_FILL
    else:
        found = _EXEC_TYPES.get(exec_type)
        if found is None:
            raise FieldError(fix.EXEC_TYPE, f"unknown ExecType {exec_type[:8]!r}", mt)
        kind = found
    side = SIDES.get(side_code)
    if side is None:
        raise FieldError(fix.SIDE, f"unsupported Side {side_code[:8]!r}", mt)
    get = f.get
    last_px = get(fix.LAST_PX)
    avg_px = get(fix.AVG_PX)
    price = get(fix.PRICE)
    order_qty = get(fix.ORDER_QTY)
    last_qty = get(fix.LAST_QTY)
    orig = get(fix.ORIG_CL_ORD_ID)
    text = get(fix.TEXT)
    reason = get(fix.ORD_REJ_REASON)
    return _new_event(
        ExecutionEvent,
        (
            kind,
            cl_ord_id.decode(errors="replace"),
            order_id.decode(errors="replace"),
            exec_id.decode(errors="replace"),
            exec_type.decode(errors="replace"),
            ord_status.decode(errors="replace"),
            get(fix.SYMBOL, b"").decode(errors="replace"),
            side,
            0
            if order_qty is None
            else int(order_qty)
            if order_qty.isdigit() and len(order_qty) <= _QTY_DIGITS
            else parse_qty(order_qty, fix.ORDER_QTY),
            0
            if last_qty is None
            else int(last_qty)
            if last_qty.isdigit() and len(last_qty) <= _QTY_DIGITS
            else parse_qty(last_qty, fix.LAST_QTY),
            None if last_px is None else parse_price(last_px, fix.LAST_PX, mt),
            int(cum) if cum.isdigit() and len(cum) <= _QTY_DIGITS else parse_qty(cum, fix.CUM_QTY),
            int(leaves)
            if leaves.isdigit() and len(leaves) <= _QTY_DIGITS
            else parse_qty(leaves, fix.LEAVES_QTY),
            None if avg_px is None else parse_price(avg_px, fix.AVG_PX, mt),
            None if price is None else parse_price(price, fix.PRICE, mt),
            None if orig is None else orig.decode(errors="replace"),
            None if text is None else text.decode(errors="replace"),
            None if reason is None else _int_or_none(f, fix.ORD_REJ_REASON, mt),
            get(fix.POSS_DUP_FLAG) == b"Y" or get(fix.POSS_RESEND) == b"Y",
            received_ns,
        ),
    )


def parse_cancel_reject(msg: FixMessage, received_ns: int) -> CancelRejectEvent:
    f = msg.fields
    mt = b"9"
    for tag in (
        fix.CL_ORD_ID,
        fix.ORIG_CL_ORD_ID,
        fix.ORDER_ID,
        fix.ORD_STATUS,
        fix.CXL_REJ_RESPONSE_TO,
    ):
        if tag not in f:
            raise FieldError(tag, "required field is missing", mt)
    return CancelRejectEvent(
        msg.text(fix.CL_ORD_ID),
        msg.text(fix.ORIG_CL_ORD_ID),
        msg.text(fix.ORDER_ID),
        msg.text(fix.ORD_STATUS),
        msg.text(fix.CXL_REJ_RESPONSE_TO),
        _int_or_none(f, fix.CXL_REJ_REASON, mt),
        _opt(f, fix.TEXT),
        received_ns,
    )


def parse_mass_cancel_report(msg: FixMessage, received_ns: int) -> MassCancelReport:
    f = msg.fields
    mt = b"r"
    for tag in (fix.CL_ORD_ID, fix.MASS_CANCEL_RESPONSE):
        if tag not in f:
            raise FieldError(tag, "required field is missing", mt)
    return MassCancelReport(
        msg.text(fix.CL_ORD_ID),
        msg.text(fix.MASS_CANCEL_RESPONSE),
        _int_or_none(f, fix.TOTAL_AFFECTED_ORDERS, mt),
        _int_or_none(f, fix.MASS_CANCEL_REJECT_REASON, mt),
        _opt(f, fix.TEXT),
        received_ns,
    )
