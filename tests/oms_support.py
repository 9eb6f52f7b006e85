"""Builders for the OMS tests: execution reports as the gateway parses them, and a listener
that writes down every call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Final

from rlexec.gateway.execution import CancelRejectEvent, ExecKind, ExecutionEvent
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.service.oms import ChildOrder, ChildState, NullOmsListener

PX: Final = 5_800_000
"""$580.00 in integer units."""
TICK: Final = 100

_CODES: Final[dict[ExecKind, tuple[str, str]]] = {
    ExecKind.PENDING_NEW: ("A", "A"),
    ExecKind.NEW: ("0", "0"),
    ExecKind.PARTIAL_FILL: ("F", "1"),
    ExecKind.FILL: ("F", "2"),
    ExecKind.CANCELED: ("4", "4"),
    ExecKind.REPLACED: ("5", "0"),
    ExecKind.PENDING_CANCEL: ("6", "6"),
    ExecKind.PENDING_REPLACE: ("E", "E"),
    ExecKind.REJECTED: ("8", "8"),
    ExecKind.EXPIRED: ("C", "C"),
    ExecKind.DONE_FOR_DAY: ("3", "3"),
    ExecKind.ORDER_STATUS: ("I", "0"),
    ExecKind.RESTATED: ("D", "0"),
    ExecKind.TRADE_CORRECT: ("G", "1"),
    ExecKind.TRADE_CANCEL: ("H", "0"),
}
"""ExecType (150) and the usual OrdStatus (39) of each kind."""

_exec_ids = itertools.count(1)


def report(
    kind: ExecKind,
    cl_ord_id: str,
    *,
    order_id: str = "V1",
    exec_id: str | None = None,
    ord_status: str | None = None,
    symbol: str = "AAPL",
    side: Side = Side.BUY,
    order_qty: int = 100,
    last_qty: int = 0,
    last_px: int | None = None,
    cum_qty: int = 0,
    leaves_qty: int | None = None,
    avg_px: int | None = None,
    price: int | None = PX,
    orig_cl_ord_id: str | None = None,
    text: str | None = None,
    poss_dup: bool = False,
    received_ns: int = 0,
) -> ExecutionEvent:
    """An ExecutionReport as `parse_execution_report` would give it (a fresh ExecID by default)."""
    exec_type, status = _CODES[kind]
    if leaves_qty is None:
        leaves_qty = 0 if kind.is_terminal else max(0, order_qty - cum_qty)
    return ExecutionEvent(
        kind,
        cl_ord_id,
        order_id,
        exec_id if exec_id is not None else f"E{next(_exec_ids)}",
        exec_type,
        ord_status if ord_status is not None else status,
        symbol,
        side,
        order_qty,
        last_qty,
        last_px,
        cum_qty,
        leaves_qty,
        avg_px,
        price,
        orig_cl_ord_id,
        text,
        None,
        poss_dup,
        received_ns,
    )


def fill(
    cl_ord_id: str,
    qty: int,
    cum_qty: int,
    order_qty: int = 100,
    px: int = PX,
    exec_id: str | None = None,
    poss_dup: bool = False,
) -> ExecutionEvent:
    """A fill of `qty` at `px`; FILL when the venue's cum reaches order_qty, else PARTIAL_FILL."""
    kind = ExecKind.FILL if cum_qty >= order_qty else ExecKind.PARTIAL_FILL
    return report(
        kind,
        cl_ord_id,
        order_qty=order_qty,
        last_qty=qty,
        last_px=px,
        cum_qty=cum_qty,
        avg_px=px,
        exec_id=exec_id,
        poss_dup=poss_dup,
    )


def cancel_reject(
    request: str, orig: str, replace: bool = False, text: str = "TOO_LATE"
) -> CancelRejectEvent:
    return CancelRejectEvent(request, orig, "V1", "0", "2" if replace else "1", 0, text, 0)


def intent(
    qty: int = 100,
    price: int | None = PX,
    side: Side = Side.BUY,
    tif: TimeInForce = TimeInForce.DAY,
    symbol: str = "AAPL",
) -> OrderIntent:
    otype = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderIntent(symbol, side, qty, otype, price, tif)


@dataclass
class Recorder(NullOmsListener):
    """Every listener call, in order, with the child's state at the time of the call."""

    calls: list[tuple[object, ...]] = field(default_factory=list)

    def on_accepted(self, child: ChildOrder) -> None:
        self.calls.append(("accepted", child.cl_ord_id, child.state))

    def on_fill(self, child: ChildOrder, qty: int, price: int, exec_id: str, ts_ns: int) -> None:
        self.calls.append(("fill", child.cl_ord_id, qty, price, exec_id))

    def on_replaced(self, child: ChildOrder) -> None:
        self.calls.append(("replaced", child.cl_ord_id, child.quantity, child.price))

    def on_replace_rejected(self, child: ChildOrder, reason: str) -> None:
        self.calls.append(("replace_rejected", child.cl_ord_id, reason))

    def on_cancel_rejected(self, child: ChildOrder, reason: str) -> None:
        self.calls.append(("cancel_rejected", child.cl_ord_id, reason))

    def on_unknown_order(self, child: ChildOrder) -> None:
        self.calls.append(("unknown_order", child.cl_ord_id))

    def on_done(self, child: ChildOrder) -> None:
        self.calls.append(("done", child.cl_ord_id, child.state))

    def on_alert(self, child: ChildOrder | None, code: str, detail: str) -> None:
        self.calls.append(("alert", child.cl_ord_id if child else None, code, detail))

    def kinds(self) -> list[object]:
        return [c[0] for c in self.calls]

    def alerts(self, code: str | None = None) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == "alert" and (code is None or c[2] == code)]

    def fills(self, cl_ord_id: str | None = None) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == "fill" and (cl_ord_id in (None, c[1]))]

    def done(self) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == "done"]

    def clear(self) -> None:
        self.calls.clear()


def filled_child(n: int, side: Side, qty: int, price: int, at_ns: int = 0) -> ChildOrder:
    """A child `C{n}` of parent P1 on AAPL, filled in full at `price` (what recovery reads)."""
    return ChildOrder(
        cl_ord_id=f"C{n}", current_cl_ord_id=f"C{n}", parent_id="P1", symbol="AAPL", side=side,
        quantity=qty, price=price, time_in_force=TimeInForce.DAY, order_type=OrderType.LIMIT,
        created_ns=at_ns, updated_ns=at_ns, state=ChildState.FILLED, cum_qty=qty,
        notional=qty * price, accepted=True,
    )  # fmt: skip
