"""The order-entry client: order intents out as FIX, execution reports back as typed events.

It is the session's Application. Sending is synchronous and I/O-free (see `FixSession.send`),
so an approved intent becomes bytes on the wire within the same call chain that decided it.
The client keeps just enough about each working order (symbol, side, quantity, price, the
venue's OrderID) to build cancels and replaces; order state proper belongs to the OMS.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from rlexec.gateway import tags as fix
from rlexec.gateway.application import Application
from rlexec.gateway.clock import utc_timestamp
from rlexec.gateway.codes import ORD_TYPE_CODES, SIDE_CODES, TIF_CODES
from rlexec.gateway.errors import FieldError, GatewayError
from rlexec.gateway.execution import (
    CancelRejectEvent,
    ExecKind,
    ExecutionEvent,
    MassCancelReport,
    format_price,
    parse_cancel_reject,
    parse_execution_report,
    parse_mass_cancel_report,
)
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession
from rlexec.gateway.tags import MsgType
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce

log = logging.getLogger("rlexec.gateway")

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_NEW_ORDER_SINGLE = MsgType.NEW_ORDER_SINGLE


class OrderEntryError(GatewayError):
    """An order-entry request that cannot be sent (unknown order, bad quantity...)."""


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def default_clordid_prefix() -> str:
    """Milliseconds since the epoch and the pid, base 36: a restarted process (or a second one
    started in the same millisecond) never produces a ClOrdID an earlier one used."""
    return f"{_base36(time.time_ns() // 1_000_000)}{_base36(os.getpid())}-"


class NewOrderEncoder:
    """NewOrderSingle bodies filled into pre-built templates.

    What is fixed for a (symbol, side) and for an (order type, time in force) is encoded
    once; per order only the ClOrdID, TransactTime, quantity and price are filled in, with
    one format operation. Field order and bytes are those of the plain encoding (11, [1],
    55, 54, 60, 38, 40, [44], 59); a test holds it to that and to simplefix, byte for byte.
    """

    MAX_HEADS = 4096
    """(symbol, side) templates kept before the cache is cleared."""

    __slots__ = ("_account", "_heads", "_tails")

    def __init__(self, account: bytes = b"") -> None:
        self._account = account
        """`1=<account><SOH>`, or empty."""
        self._heads: dict[tuple[str, Side], bytes] = {}
        self._tails: dict[tuple[OrderType, TimeInForce], tuple[bytes, bytes]] = {}

    def body(self, cl_ord_id: str, intent: OrderIntent, transact_time: bytes) -> bytes:
        """The fields after the standard header, for `session.send(b"D", ...)`."""
        head = self._heads.get((intent.symbol, intent.side))
        if head is None:
            head = self._head(intent.symbol, intent.side)
        tail = self._tails.get((intent.order_type, intent.time_in_force))
        if tail is None:
            tail = self._tail(intent.order_type, intent.time_in_force)
        price = intent.price
        if price is None:
            return b"11=%s%s%s\x0138=%d%s%s" % (
                cl_ord_id.encode(), head, transact_time, intent.quantity, tail[0], tail[1]
            )  # fmt: skip
        return b"11=%s%s%s\x0138=%d%s44=%s\x01%s" % (
            cl_ord_id.encode(), head, transact_time, intent.quantity, tail[0],
            format_price(price), tail[1],
        )  # fmt: skip

    def _head(self, symbol: str, side: Side) -> bytes:
        """`<SOH>[1=…<SOH>]55=<symbol><SOH>54=<side><SOH>60=`: from the ClOrdID to TransactTime."""
        if len(self._heads) >= self.MAX_HEADS:
            self._heads.clear()
        head = b"\x01%s55=%s\x0154=%s\x0160=" % (self._account, symbol.encode(), SIDE_CODES[side])
        self._heads[(symbol, side)] = head
        return head

    def _tail(self, order_type: OrderType, tif: TimeInForce) -> tuple[bytes, bytes]:
        """`<SOH>40=<type><SOH>` and `59=<tif><SOH>`: around the price, if any."""
        tail = (
            b"\x0140=" + ORD_TYPE_CODES[order_type] + b"\x01",
            b"59=" + TIF_CODES[tif] + b"\x01",
        )
        self._tails[(order_type, tif)] = tail
        return tail


class OrderEvents:
    """Receives the client's typed events; override what you need."""

    def on_execution(self, event: ExecutionEvent) -> None:
        """Every ExecutionReport, in sequence order."""

    def on_cancel_reject(self, event: CancelRejectEvent) -> None:
        """An OrderCancelReject."""

    def on_mass_cancel_report(self, report: MassCancelReport) -> None:
        """An OrderMassCancelReport."""

    def on_session(self, logged_on: bool, reason: str) -> None:
        """The session logged on (True) or went away (False, with the reason)."""


@dataclass(slots=True)
class WorkingOrder:
    """What the client remembers about an order it sent and that is not finished."""

    cl_ord_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    price: int | None
    time_in_force: TimeInForce
    order_id: str | None = None
    cum_qty: int = 0


class OrderClient(Application):
    """Order entry over one FIX session (it installs itself as the session's application)."""

    def __init__(
        self,
        session: FixSession,
        events: OrderEvents | None = None,
        clordid_prefix: str | None = None,
        account: str | None = None,
    ) -> None:
        self.session = session
        session.application = self
        self.events = events if events is not None else OrderEvents()
        self.clordid_prefix = (
            clordid_prefix if clordid_prefix is not None else default_clordid_prefix()
        )
        if "\x01" in self.clordid_prefix or not self.clordid_prefix.isprintable():
            raise OrderEntryError(f"ClOrdID prefix is not printable: {self.clordid_prefix!r}")
        self._account = b"1=" + account.encode() + b"\x01" if account else b""
        self._new_orders = NewOrderEncoder(self._account)
        self._next_id = 0
        self.working: dict[str, WorkingOrder] = {}
        """Orders sent and not yet in a terminal state, by their current ClOrdID."""
        self._pending_replace: dict[str, tuple[str, int, int | None]] = {}

    def next_cl_ord_id(self) -> str:
        self._next_id += 1
        return f"{self.clordid_prefix}{self._next_id}"

    # -- requests ----------------------------------------------------------------------------

    def new_order(self, intent: OrderIntent, cl_ord_id: str | None = None) -> str:
        """Send a NewOrderSingle for an approved intent; returns its ClOrdID."""
        if intent.quantity <= 0:
            raise OrderEntryError(
                f"{intent.symbol}: quantity must be positive, got {intent.quantity}"
            )
        cl = cl_ord_id if cl_ord_id is not None else self.next_cl_ord_id()
        if cl in self.working:
            raise OrderEntryError(f"ClOrdID {cl} is already in use by a working order")
        self.session.send(_NEW_ORDER_SINGLE, self._new_orders.body(cl, intent, utc_timestamp()))
        self.working[cl] = WorkingOrder(
            cl,
            intent.symbol,
            intent.side,
            intent.quantity,
            intent.order_type,
            intent.price,
            intent.time_in_force,
        )
        return cl

    def cancel(self, cl_ord_id: str, request_id: str | None = None) -> str:
        """Send an OrderCancelRequest for a working order; returns the request's ClOrdID
        (`request_id` when the caller recorded one before sending)."""
        order = self._working(cl_ord_id)
        cl = request_id if request_id is not None else self.next_cl_ord_id()
        self.session.send(
            MsgType.ORDER_CANCEL_REQUEST,
            self._order_ref(order, cl) + b"38=%d\x01" % order.quantity,
        )
        return cl

    def replace(
        self,
        cl_ord_id: str,
        quantity: int | None = None,
        price: int | None = None,
        request_id: str | None = None,
    ) -> str:
        """Send an OrderCancelReplaceRequest changing quantity and/or limit price; returns the
        request's ClOrdID (`request_id` when the caller recorded one before sending)."""
        order = self._working(cl_ord_id)
        new_qty = order.quantity if quantity is None else quantity
        new_price = order.price if price is None else price
        if new_qty <= 0:
            raise OrderEntryError(
                f"{cl_ord_id}: replacement quantity must be positive, got {new_qty}"
            )
        if order.order_type is OrderType.LIMIT and new_price is None:
            raise OrderEntryError(f"{cl_ord_id}: a limit order needs a price")
        cl = request_id if request_id is not None else self.next_cl_ord_id()
        body = (
            self._order_ref(order, cl)
            + b"38=%d\x0140=" % new_qty
            + ORD_TYPE_CODES[order.order_type]
            + b"\x01"
        )
        if new_price is not None and order.order_type is OrderType.LIMIT:
            body += b"44=" + format_price(new_price) + b"\x01"
        body += b"59=" + TIF_CODES[order.time_in_force] + b"\x01"
        self.session.send(MsgType.ORDER_CANCEL_REPLACE_REQUEST, body)
        self._pending_replace[cl] = (cl_ord_id, new_qty, new_price)
        return cl

    def request_status(self, cl_ord_id: str) -> None:
        """Send an OrderStatusRequest; the answer is an ExecutionReport of kind ORDER_STATUS."""
        order = self._working(cl_ord_id)
        body = b"11=" + cl_ord_id.encode() + b"\x01"
        if order.order_id:
            body += b"37=" + order.order_id.encode() + b"\x01"
        body += b"55=" + order.symbol.encode() + b"\x0154=" + SIDE_CODES[order.side] + b"\x01"
        self.session.send(MsgType.ORDER_STATUS_REQUEST, body)

    def request_status_of(self, cl_ord_id: str, symbol: str, side: Side) -> None:
        """An OrderStatusRequest for a ClOrdID this client may not know (restart recovery:
        an order sent just before a crash); the venue answers or rejects it as unknown."""
        if "\x01" in cl_ord_id or "\x01" in symbol:
            raise OrderEntryError(f"status request: bad ClOrdID or symbol {cl_ord_id!r}")
        body = b"11=" + cl_ord_id.encode() + b"\x0155=" + symbol.encode()
        body += b"\x0154=" + SIDE_CODES[side] + b"\x01"
        self.session.send(MsgType.ORDER_STATUS_REQUEST, body)

    def adopt(
        self,
        cl_ord_id: str,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        price: int | None,
        time_in_force: TimeInForce,
        order_id: str | None = None,
        cum_qty: int = 0,
    ) -> None:
        """Track an order sent by an earlier process (recovery), so it can be cancelled."""
        self.working[cl_ord_id] = WorkingOrder(
            cl_ord_id, symbol, side, quantity, order_type, price, time_in_force, order_id, cum_qty
        )

    def mass_cancel(self, symbol: str | None = None) -> str:
        """Send an OrderMassCancelRequest for one symbol, or for every order when None."""
        cl = self.next_cl_ord_id()
        body = b"11=" + cl.encode() + b"\x01"
        if symbol is None:
            body += b"530=7\x01"
        else:
            body += b"530=1\x0155=" + symbol.encode() + b"\x01"
        body += b"60=" + utc_timestamp() + b"\x01"
        self.session.send(MsgType.ORDER_MASS_CANCEL_REQUEST, body)
        return cl

    def _working(self, cl_ord_id: str) -> WorkingOrder:
        order = self.working.get(cl_ord_id)
        if order is None:
            raise OrderEntryError(f"no working order with ClOrdID {cl_ord_id}")
        return order

    def _order_ref(self, order: WorkingOrder, cl: str) -> bytes:
        body = b"41=" + order.cl_ord_id.encode() + b"\x01"
        if order.order_id:
            body += b"37=" + order.order_id.encode() + b"\x01"
        return (
            body
            + b"11="
            + cl.encode()
            + b"\x01"
            + self._account
            + b"55="
            + order.symbol.encode()
            + b"\x0154="
            + SIDE_CODES[order.side]
            + b"\x0160="
            + utc_timestamp()
            + b"\x01"
        )

    # -- Application -----------------------------------------------------------------------

    def on_logon(self, session: FixSession) -> None:
        self.events.on_session(True, "logon")

    def on_logout(self, session: FixSession, reason: str) -> None:
        self.events.on_session(False, reason)

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        msg_type = message.fields.get(fix.MSG_TYPE)
        now = time.time_ns()
        try:
            if msg_type == MsgType.EXECUTION_REPORT:
                event = parse_execution_report(message, now)
                self._track(event)
                self.events.on_execution(event)
            elif msg_type == MsgType.ORDER_CANCEL_REJECT:
                reject = parse_cancel_reject(message, now)
                self._pending_replace.pop(reject.cl_ord_id, None)
                self.events.on_cancel_reject(reject)
            elif msg_type == MsgType.ORDER_MASS_CANCEL_REPORT:
                self.events.on_mass_cancel_report(parse_mass_cancel_report(message, now))
            elif msg_type == MsgType.BUSINESS_MESSAGE_REJECT:
                log.error(
                    "event=business_reject_received session=%s ref_seq=%s ref_msg_type=%s "
                    "reason=%s text=%r",
                    session.name,
                    message.get_str(fix.REF_SEQ_NUM, "-"),
                    message.get_str(fix.REF_MSG_TYPE, "-"),
                    message.get_str(380, "-"),
                    message.get_str(fix.TEXT, ""),
                )
            else:
                self._business_reject(
                    message, 3, f"unsupported MsgType {message.msg_type.decode(errors='replace')}"
                )
        except FieldError as exc:
            self._business_reject(message, 5 if "missing" in exc.reason else 0, str(exc))

    def _track(self, event: ExecutionEvent) -> None:
        kind = event.kind
        if kind is ExecKind.REPLACED:
            pending = self._pending_replace.pop(event.cl_ord_id, None)
            orig = event.orig_cl_ord_id or (pending[0] if pending else None)
            old = self.working.pop(orig, None) if orig else None
            if old is not None:
                old.cl_ord_id = event.cl_ord_id
                old.quantity = event.order_qty or (pending[1] if pending else old.quantity)
                old.price = (
                    event.price
                    if event.price is not None
                    else (pending[2] if pending else old.price)
                )
                old.order_id = event.order_id or old.order_id
                old.cum_qty = event.cum_qty
                if not kind.is_terminal and event.leaves_qty > 0:
                    self.working[event.cl_ord_id] = old
            return
        key = event.cl_ord_id
        order = self.working.get(key)
        if order is None:
            # A cancel's reports carry the cancel request's ClOrdID and the order's as Orig.
            key = event.orig_cl_ord_id or ""
            order = self.working.get(key)
            if order is None:
                return
        if order.order_id is None and event.order_id and event.order_id != "NONE":
            order.order_id = event.order_id
        order.cum_qty = event.cum_qty
        if kind.is_terminal or (kind is ExecKind.PARTIAL_FILL and event.leaves_qty == 0):
            del self.working[key]

    def _business_reject(self, message: FixMessage, reason: int, text: str) -> None:
        """Answer an application message we cannot use with a BusinessMessageReject (j)."""
        log.error(
            "event=business_reject_sent session=%s ref_seq=%s msg_type=%s reason=%d text=%r",
            self.session.name,
            message.get_str(fix.MSG_SEQ_NUM, "-"),
            message.msg_type.decode(errors="replace"),
            reason,
            text,
        )
        if not self.session.is_logged_on:
            return
        ref_seq = message.fields.get(fix.MSG_SEQ_NUM, b"0")
        self.session.send(
            MsgType.BUSINESS_MESSAGE_REJECT,
            b"45="
            + ref_seq
            + b"\x01372="
            + message.msg_type
            + b"\x01380=%d\x0158=" % reason
            + text.replace("\x01", " ").encode(errors="replace")
            + b"\x01",
        )
