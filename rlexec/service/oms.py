"""The OMS: the service's record of every child order, and the one consumer of execution reports.

A child order moves only along `CHILD_TRANSITIONS` (the shared `market.fsm` table). Two kinds
of input reach it, and they fail differently:

- **our own requests** (`record_new`, `record_cancel`, `record_replace`, `forget*`): a request
  the table or the record does not allow is a bug in the service, and raises
  (`IllegalTransitionError`, `OmsError`) before anything is changed;
- **the venue's reports** (`on_execution`, `on_cancel_reject`): the counterparty is not
  trusted, so nothing it sends raises. A duplicate (same ExecID) is counted once; a stale
  report that merely arrived late is ignored; anything a person must look at (an overfill,
  a fill on a finished order, an unknown order, a report that contradicts the record)
  becomes `OmsListener.on_alert` with a code a dashboard can group by.

Fills are recorded as the venue says they happened, even beyond the order's quantity or on a
finished order: the position must be the venue's truth, and the alert (OVERFILL) is what
halts the service. Whether a fill completes the order is decided by our own arithmetic
(`cum_qty >= quantity`), not by the report's OrdStatus, so that fills arriving out of order
never finish an order early.

Pure and synchronous: no asyncio, no I/O, no logging; it is on the execution-report path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Final, Protocol

from mypy_extensions import mypyc_attr

from rlexec.gateway.execution import CancelRejectEvent, ExecKind, ExecutionEvent
from rlexec.market.errors import IllegalTransitionError, RlexecError
from rlexec.market.fsm import TransitionTable
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce

__all__ = [
    "CHILD_TRANSITIONS",
    "AlertCode",
    "ChildEvent",
    "ChildOrder",
    "ChildState",
    "NullOmsListener",
    "Oms",
    "OmsCounters",
    "OmsError",
    "OmsListener",
    "from_dict",
    "to_dict",
]


class OmsError(RlexecError):
    """The service asked the OMS for something its record does not allow (a bug of ours)."""


class ChildState(Enum):
    PENDING_NEW = "pending_new"
    """Recorded, sent (or about to be); the venue has not acknowledged it yet."""
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    """Our cancel request is in flight."""
    PENDING_REPLACE = "pending_replace"
    """Our cancel/replace request is in flight; the old terms still apply."""
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    # Members are singletons compared by identity: hash them in C, not through Enum's Python
    # __hash__ (set membership of a state is on the decision path).
    __hash__ = object.__hash__

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL: Final = frozenset(
    {ChildState.FILLED, ChildState.CANCELED, ChildState.REJECTED, ChildState.EXPIRED}
)


class ChildEvent(Enum):
    ACKNOWLEDGED = "acknowledged"
    """The venue accepted the order (ExecType New)."""
    PARTIALLY_FILLED = "partially_filled"
    """A fill that leaves some quantity."""
    FILLED = "filled"
    """A fill that completes the quantity."""
    CANCEL_REQUESTED = "cancel_requested"
    REPLACE_REQUESTED = "replace_requested"
    RESUMED_PENDING_NEW = "resumed_pending_new"
    """The request in flight ended (rejected, rolled back) before the venue acknowledged."""
    RESUMED_NEW = "resumed_new"
    """The request in flight ended (replaced, rejected, rolled back); nothing is filled."""
    RESUMED_PARTIALLY_FILLED = "resumed_partially_filled"
    """The request in flight ended (replaced, rejected, rolled back); part is filled."""
    CANCELED = "canceled"
    """Cancelled at the venue: on our request, or on its own (IOC rest, disconnect)."""
    EXPIRED = "expired"
    REJECTED = "rejected"


_S = ChildState
_E = ChildEvent

CHILD_TRANSITIONS: Final = TransitionTable[ChildState, ChildEvent](
    "child order",
    {
        (_S.PENDING_NEW, _E.ACKNOWLEDGED): _S.NEW,
        (_S.PENDING_NEW, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,  # fill before the ack
        (_S.PENDING_NEW, _E.FILLED): _S.FILLED,
        (_S.PENDING_NEW, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_S.PENDING_NEW, _E.CANCELED): _S.CANCELED,
        (_S.PENDING_NEW, _E.EXPIRED): _S.EXPIRED,
        (_S.PENDING_NEW, _E.REJECTED): _S.REJECTED,
        (_S.NEW, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.NEW, _E.FILLED): _S.FILLED,
        (_S.NEW, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_S.NEW, _E.REPLACE_REQUESTED): _S.PENDING_REPLACE,
        (_S.NEW, _E.CANCELED): _S.CANCELED,
        (_S.NEW, _E.EXPIRED): _S.EXPIRED,
        (_S.PARTIALLY_FILLED, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.PARTIALLY_FILLED, _E.FILLED): _S.FILLED,
        (_S.PARTIALLY_FILLED, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_S.PARTIALLY_FILLED, _E.REPLACE_REQUESTED): _S.PENDING_REPLACE,
        (_S.PARTIALLY_FILLED, _E.CANCELED): _S.CANCELED,
        (_S.PARTIALLY_FILLED, _E.EXPIRED): _S.EXPIRED,
        (_S.PENDING_CANCEL, _E.ACKNOWLEDGED): _S.PENDING_CANCEL,  # cancel sent before the ack
        (_S.PENDING_CANCEL, _E.PARTIALLY_FILLED): _S.PENDING_CANCEL,  # late fill
        (_S.PENDING_CANCEL, _E.FILLED): _S.FILLED,  # too late to cancel
        (_S.PENDING_CANCEL, _E.RESUMED_PENDING_NEW): _S.PENDING_NEW,
        (_S.PENDING_CANCEL, _E.RESUMED_NEW): _S.NEW,
        (_S.PENDING_CANCEL, _E.RESUMED_PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.PENDING_CANCEL, _E.CANCELED): _S.CANCELED,
        (_S.PENDING_CANCEL, _E.EXPIRED): _S.EXPIRED,
        (_S.PENDING_CANCEL, _E.REJECTED): _S.REJECTED,  # cancelled before the venue refused it
        (_S.PENDING_REPLACE, _E.PARTIALLY_FILLED): _S.PENDING_REPLACE,  # fill on the old terms
        (_S.PENDING_REPLACE, _E.FILLED): _S.FILLED,
        (_S.PENDING_REPLACE, _E.RESUMED_NEW): _S.NEW,
        (_S.PENDING_REPLACE, _E.RESUMED_PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_S.PENDING_REPLACE, _E.CANCELED): _S.CANCELED,
        (_S.PENDING_REPLACE, _E.EXPIRED): _S.EXPIRED,
    },
)
"""(state, event) -> next state. One request in flight at a time; terminal states have no exits."""


class AlertCode(StrEnum):
    """Why a person must look (`OmsListener.on_alert`); a string, so a metric label as is."""

    OVERFILL = "OVERFILL"
    """A fill beyond the order's quantity or on a finished order: the service halts."""
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """A report or cancel reject for a ClOrdID (or request) this OMS never recorded."""
    MISSED_FILL = "MISSED_FILL"
    """An OrderStatus answer shows more filled than we know; the rest was synthesised."""
    REPORT_MISMATCH = "REPORT_MISMATCH"
    """A report contradicts the record (side, symbol, a finished order working, ...)."""
    BAD_REPORT = "BAD_REPORT"
    """A report that cannot be applied (a fill without a quantity or a price)."""
    UNHANDLED_REPORT = "UNHANDLED_REPORT"
    """Restatements and trade corrections/busts: not applied automatically."""


@dataclass(slots=True, eq=False)
class ChildOrder:
    """One child order as the OMS knows it. Prices in integer units (×1e4)."""

    cl_ord_id: str
    """The ClOrdID it was created with: its stable key."""
    current_cl_ord_id: str
    """The ClOrdID the venue knows it by now (changes with each replace or cancel)."""
    parent_id: str | None
    symbol: str
    side: Side
    quantity: int
    price: int | None
    time_in_force: TimeInForce
    order_type: OrderType
    created_ns: int
    updated_ns: int
    state: ChildState = ChildState.PENDING_NEW
    cum_qty: int = 0
    notional: int = 0
    """Σ fill qty × fill price, exact."""
    accepted: bool = False
    """The venue acknowledged it (or filled it, which says the same)."""
    venue_order_id: str | None = None
    pending_cl_ord_id: str | None = None
    """ClOrdID of the cancel or replace request in flight."""
    pending_quantity: int | None = None
    """The replace in flight: its quantity (None for a cancel)."""
    pending_price: int | None = None
    text: str | None = None
    """The last reject reason (order, cancel or replace)."""
    exec_ids: set[str] = field(default_factory=set)
    """Every ExecID applied to this order: a report seen again is a duplicate."""

    @property
    def leaves(self) -> int:
        """Quantity still working: 0 once finished, never negative."""
        if self.state in _TERMINAL:
            return 0
        left = self.quantity - self.cum_qty
        return left if left > 0 else 0

    @property
    def avg_px(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    @property
    def is_terminal(self) -> bool:
        return self.state in _TERMINAL


CXL_REJ_UNKNOWN_ORDER = 1
"""CxlRejReason (102) 1: the venue does not know the order."""


class OmsListener(Protocol):
    """What the service does with the OMS's news: risk overlay, parent manager, metrics, logs."""

    def on_accepted(self, child: ChildOrder) -> None:
        """The venue has the order (first ack, or first fill if that came first)."""

    def on_fill(self, child: ChildOrder, qty: int, price: int, exec_id: str, ts_ns: int) -> None:
        """A fill, once per ExecID, already applied to `child` (overfills included)."""

    def on_replaced(self, child: ChildOrder) -> None:
        """A replace took effect; `child` carries the new terms."""

    def on_replace_rejected(self, child: ChildOrder, reason: str) -> None: ...

    def on_cancel_rejected(self, child: ChildOrder, reason: str) -> None: ...

    def on_unknown_order(self, child: ChildOrder) -> None:
        """The venue rejected a cancel or replace of `child` as an unknown order (CxlRejReason
        1): its status must be asked for (the answer settles it)."""

    def on_done(self, child: ChildOrder) -> None:
        """The order reached a terminal state (filled, cancelled, rejected or expired)."""

    def on_alert(self, child: ChildOrder | None, code: str, detail: str) -> None:
        """Something a person must look at; `code` is an `AlertCode`."""


@mypyc_attr(allow_interpreted_subclasses=True)  # listeners elsewhere build on it
class NullOmsListener:
    """An `OmsListener` that ignores everything; subclass it and override what you need."""

    def on_accepted(self, child: ChildOrder) -> None:
        pass

    def on_fill(self, child: ChildOrder, qty: int, price: int, exec_id: str, ts_ns: int) -> None:
        pass

    def on_replaced(self, child: ChildOrder) -> None:
        pass

    def on_replace_rejected(self, child: ChildOrder, reason: str) -> None:
        pass

    def on_cancel_rejected(self, child: ChildOrder, reason: str) -> None:
        pass

    def on_unknown_order(self, child: ChildOrder) -> None:
        pass

    def on_done(self, child: ChildOrder) -> None:
        pass

    def on_alert(self, child: ChildOrder | None, code: str, detail: str) -> None:
        pass


@dataclass(slots=True)
class OmsCounters:
    """Monotonic counts for metrics (the service exports them; the OMS does no I/O)."""

    orders: int = 0
    reports: int = 0
    fills: int = 0
    filled_qty: int = 0
    rejects: int = 0
    cancels: int = 0
    """Cancelled on our request."""
    unsolicited_cancels: int = 0
    """Cancelled by the venue on its own (IOC rest, cancel on disconnect, mass cancel)."""
    expirations: int = 0
    replaces: int = 0
    cancel_rejects: int = 0
    replace_rejects: int = 0
    duplicates: int = 0
    stale: int = 0
    """Reports that arrived after the record had moved past them (a late ack, say)."""
    alerts: int = 0
    alerts_by_code: dict[str, int] = field(default_factory=dict)


_UNDER_THE_NEW_ID: Final = frozenset({
    ExecKind.NEW, ExecKind.PARTIAL_FILL, ExecKind.FILL, ExecKind.CANCELED, ExecKind.EXPIRED,
    ExecKind.DONE_FOR_DAY, ExecKind.ORDER_STATUS,
})  # fmt: skip
"""Reports that, naming a replace's ClOrdID, say the replace was applied (PENDING_REPLACE,
REPLACED and REJECTED are about the request itself)."""
_WORKING_STATUS: Final = frozenset({"0", "1", "6", "A", "E"})
"""OrdStatus values of an order the venue is still working."""
_STATUS_EXITS: Final = {"4": _E.CANCELED, "C": _E.EXPIRED, "3": _E.EXPIRED}


def _ids(child: ChildOrder) -> str:
    if child.current_cl_ord_id == child.cl_ord_id:
        return f"cl_ord_id={child.cl_ord_id}"
    return f"cl_ord_id={child.cl_ord_id} current={child.current_cl_ord_id}"


class Oms:
    """Child orders by ClOrdID, moved by our requests and the venue's reports."""

    def __init__(self, listener: OmsListener, clock: Callable[[], int]) -> None:
        self.listener = listener
        self.clock = clock
        self.counters = OmsCounters()
        self._children: dict[str, ChildOrder] = {}
        """Every child by its original ClOrdID, oldest first."""
        self._live: dict[str, ChildOrder] = {}
        self._live_by_parent: dict[str | None, dict[str, ChildOrder]] = {}
        """The same, per parent: an algo's decision reads only its own children."""
        """Non-terminal children by original ClOrdID, oldest first."""
        self._by_id: dict[str, ChildOrder] = {}
        """Every ClOrdID a child or one of its requests has used."""
        self._archived_ids: set[str] = set()
        self._archived_exec_ids: set[str] = set()
        """The ClOrdIDs and ExecIDs of children archived by this process (`discard`): a late
        fill on one is an overfill, a resent report of one a duplicate."""
        self._handlers: dict[ExecKind, Callable[[ChildOrder, ExecutionEvent, int], None]] = {
            ExecKind.PENDING_NEW: self._informational,
            ExecKind.NEW: self._ack,
            ExecKind.PARTIAL_FILL: self._fill,
            ExecKind.FILL: self._fill,
            ExecKind.CANCELED: self._canceled,
            ExecKind.EXPIRED: self._expired,
            ExecKind.DONE_FOR_DAY: self._expired,
            ExecKind.REPLACED: self._replaced,
            ExecKind.PENDING_CANCEL: self._pending_request,
            ExecKind.PENDING_REPLACE: self._pending_request,
            ExecKind.REJECTED: self._rejected,
            ExecKind.ORDER_STATUS: self._status,
            ExecKind.RESTATED: self._unhandled,
            ExecKind.TRADE_CORRECT: self._unhandled,
            ExecKind.TRADE_CANCEL: self._unhandled,
        }

    # -- queries ---------------------------------------------------------------------------

    def get(self, cl_ord_id: str) -> ChildOrder | None:
        """The child that an original, current or request ClOrdID belongs to."""
        return self._by_id.get(cl_ord_id)

    def working(self, parent_id: str | None = None) -> list[ChildOrder]:
        """Non-terminal children (of one parent, if given), oldest first."""
        if parent_id is None:
            return list(self._live.values())
        own = self._live_by_parent.get(parent_id)
        return list(own.values()) if own else []

    def live(self, parent_id: str) -> Iterable[ChildOrder]:
        """`working(parent_id)` without the copy, oldest first: for a reader that changes
        nothing while it iterates (the decision path's views)."""
        own = self._live_by_parent.get(parent_id)
        return own.values() if own else ()

    def all(self) -> list[ChildOrder]:
        return list(self._children.values())

    # -- our requests ----------------------------------------------------------------------

    def record_new(
        self,
        cl_ord_id: str,
        intent: OrderIntent,
        parent_id: str | None = None,
        now_ns: int | None = None,
    ) -> ChildOrder:
        """Record an order before its bytes leave (PENDING_NEW); `parent_id` defaults to the
        intent's."""
        if not cl_ord_id:
            raise OmsError("record_new: cl_ord_id is empty")
        if cl_ord_id in self._by_id:
            raise OmsError(f"record_new: ClOrdID {cl_ord_id} is already in use")
        if type(intent.quantity) is not int or intent.quantity <= 0:
            raise OmsError(
                f"record_new {cl_ord_id}: quantity must be a positive integer, "
                f"got {intent.quantity!r}"
            )
        now = self.clock() if now_ns is None else now_ns
        child = ChildOrder(
            cl_ord_id,
            cl_ord_id,
            parent_id if parent_id is not None else intent.parent_id,
            intent.symbol,
            intent.side,
            intent.quantity,
            intent.price,
            intent.time_in_force,
            intent.order_type,
            now,
            now,
        )
        self._children[cl_ord_id] = child
        self._live[cl_ord_id] = child
        self._live_by_parent.setdefault(child.parent_id, {})[cl_ord_id] = child
        self._by_id[cl_ord_id] = child
        self.counters.orders += 1
        return child

    def forget(self, cl_ord_id: str) -> None:
        """Roll back `record_new` for an order whose send failed."""
        child = self._require(cl_ord_id, "forget")
        if (
            child.state is not ChildState.PENDING_NEW
            or child.exec_ids
            or child.accepted
            or child.pending_cl_ord_id is not None
        ):
            raise OmsError(
                f"forget {cl_ord_id}: only an order with no reports can be forgotten; "
                f"state={child.state.value} reports={len(child.exec_ids)}"
            )
        del self._children[child.cl_ord_id]
        self._live.pop(child.cl_ord_id, None)
        own = self._live_by_parent.get(child.parent_id)
        if own is not None:
            own.pop(child.cl_ord_id, None)
        for key in [k for k, c in self._by_id.items() if c is child]:
            del self._by_id[key]
        self.counters.orders -= 1

    def discard(self, children: Iterable[ChildOrder]) -> int:
        """Drop terminal children that were archived (`service.retention`): no report can
        move them any more, so none of their ClOrdIDs is looked up here again."""
        gone: set[int] = set()
        for child in children:
            if self._children.get(child.cl_ord_id) is not child:
                raise OmsError(f"discard {child.cl_ord_id}: not a child of this OMS")
            if not child.is_terminal:
                raise OmsError(f"discard {child.cl_ord_id}: only a terminal child can be "
                               f"archived; state={child.state.value}")  # fmt: skip
            gone.add(id(child))
        if not gone:
            return 0
        self._children = {k: c for k, c in self._children.items() if id(c) not in gone}
        kept: dict[str, ChildOrder] = {}
        for key, child in self._by_id.items():
            if id(child) in gone:
                self._archived_ids.add(key)
                self._archived_exec_ids.update(child.exec_ids)
                if not self._live_by_parent.get(child.parent_id, True):
                    del self._live_by_parent[child.parent_id]
            else:
                kept[key] = child
        self._by_id = kept
        return len(gone)

    def record_cancel(
        self, cl_ord_id: str, cancel_cl_ord_id: str, now_ns: int | None = None
    ) -> ChildOrder:
        """Record a cancel request (PENDING_CANCEL); raises if the order cannot be cancelled."""
        child = self._require(cl_ord_id, "record_cancel")
        self._check_request_id(cancel_cl_ord_id, "record_cancel")
        self._move(child, _E.CANCEL_REQUESTED)
        child.pending_cl_ord_id = cancel_cl_ord_id
        child.updated_ns = self.clock() if now_ns is None else now_ns
        self._by_id[cancel_cl_ord_id] = child
        return child

    def record_replace(
        self,
        cl_ord_id: str,
        new_cl_ord_id: str,
        new_quantity: int | None,
        new_price: int | None,
        now_ns: int | None = None,
    ) -> ChildOrder:
        """Record a cancel/replace request (PENDING_REPLACE); None keeps quantity or price."""
        child = self._require(cl_ord_id, "record_replace")
        self._check_request_id(new_cl_ord_id, "record_replace")
        qty = child.quantity if new_quantity is None else new_quantity
        if type(qty) is not int or qty <= 0:
            raise OmsError(f"record_replace {cl_ord_id}: quantity must be positive, got {qty!r}")
        price = child.price if new_price is None else new_price
        if child.order_type is OrderType.LIMIT and price is None:
            raise OmsError(f"record_replace {cl_ord_id}: a limit order needs a price")
        self._move(child, _E.REPLACE_REQUESTED)
        child.pending_cl_ord_id = new_cl_ord_id
        child.pending_quantity = qty
        child.pending_price = price
        child.updated_ns = self.clock() if now_ns is None else now_ns
        self._by_id[new_cl_ord_id] = child
        return child

    def forget_request(self, request_cl_ord_id: str) -> ChildOrder:
        """Roll back `record_cancel` / `record_replace` for a request whose send failed."""
        child = self._by_id.get(request_cl_ord_id)
        if child is None or child.pending_cl_ord_id != request_cl_ord_id:
            raise OmsError(f"forget_request: no request {request_cl_ord_id} is in flight")
        self._end_request(child)
        del self._by_id[request_cl_ord_id]
        if not child.is_terminal:
            self._move(child, self._resume_event(child))
        return child

    def restore(self, child: ChildOrder) -> None:
        """Add a child rebuilt by `from_dict` (recovery); its ClOrdIDs must be new here."""
        keys = {child.cl_ord_id, child.current_cl_ord_id}
        if child.pending_cl_ord_id is not None:
            keys.add(child.pending_cl_ord_id)
        taken = sorted(k for k in keys if k in self._by_id)
        if taken:
            raise OmsError(f"restore {child.cl_ord_id}: ClOrdID {taken[0]} is already in use")
        self._children[child.cl_ord_id] = child
        if not child.is_terminal:
            self._live[child.cl_ord_id] = child
            self._live_by_parent.setdefault(child.parent_id, {})[child.cl_ord_id] = child
        for key in keys:
            self._by_id[key] = child

    def _require(self, cl_ord_id: str, what: str) -> ChildOrder:
        child = self._by_id.get(cl_ord_id)
        if child is None:
            raise OmsError(f"{what}: no child order with ClOrdID {cl_ord_id}")
        return child

    def _check_request_id(self, request_id: str, what: str) -> None:
        if not request_id:
            raise OmsError(f"{what}: the request's ClOrdID is empty")
        if request_id in self._by_id:
            raise OmsError(f"{what}: ClOrdID {request_id} is already in use")

    # -- the venue's reports ---------------------------------------------------------------

    def on_execution(self, event: ExecutionEvent) -> None:
        """Apply one ExecutionReport. Never raises for anything the venue sends."""
        self.counters.reports += 1
        child = self._by_id.get(event.cl_ord_id)
        if child is None and event.orig_cl_ord_id:
            child = self._by_id.get(event.orig_cl_ord_id)
        if child is None and (
            event.cl_ord_id in self._archived_ids or event.orig_cl_ord_id in self._archived_ids
        ):
            self._archived_report(event)
            return
        if child is None:
            self._alert(
                None,
                AlertCode.UNKNOWN_ORDER,
                f"execution report {event.kind.value} for unknown cl_ord_id={event.cl_ord_id} "
                f"orig={event.orig_cl_ord_id} exec_id={event.exec_id}",
            )
            return
        if event.kind is not ExecKind.ORDER_STATUS:
            if event.exec_id in child.exec_ids:
                self.counters.duplicates += 1
                return
            child.exec_ids.add(event.exec_id)
        if event.side is not child.side or (event.symbol and event.symbol != child.symbol):
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: report says {event.symbol} {event.side.name}, the order is "
                f"{child.symbol} {child.side.name}; not applied (exec_id={event.exec_id})",
            )
            return
        if child.venue_order_id is None and event.order_id and event.order_id != "NONE":
            child.venue_order_id = event.order_id
        now = self.clock()
        child.updated_ns = now
        if (
            child.state is ChildState.PENDING_REPLACE
            and event.cl_ord_id == child.pending_cl_ord_id
            and event.kind in _UNDER_THE_NEW_ID
            and event.ord_status != "8"
        ):
            # The venue reports the order under the replace's ClOrdID: the replace took effect
            # and its Replaced report never reached us (lost with a crash, or a session reset
            # that resent nothing). Apply it, then the report.
            self._apply_replace(child, event)
        self._handlers[event.kind](child, event, now)

    def _archived_report(self, event: ExecutionEvent) -> None:
        """A report on a child that was over before today and archived: a resend is a
        duplicate; a new fill cannot be booked on it and is an overfill (the service halts)."""
        if event.exec_id in self._archived_exec_ids:
            self.counters.duplicates += 1
            return
        if event.last_qty > 0:
            self._alert(
                None,
                AlertCode.OVERFILL,
                f"fill of {event.last_qty} at {event.last_px} on cl_ord_id={event.cl_ord_id}, "
                f"an order archived as finished; not booked (exec_id={event.exec_id})",
            )
            return
        self._archived_exec_ids.add(event.exec_id)
        self._alert(
            None,
            AlertCode.UNKNOWN_ORDER,
            f"execution report {event.kind.value} on cl_ord_id={event.cl_ord_id}, an order "
            f"archived as finished: nothing to apply (exec_id={event.exec_id})",
        )

    def on_cancel_reject(self, event: CancelRejectEvent) -> None:
        """Apply one OrderCancelReject: the request ends, the order works on as before."""
        self.counters.reports += 1
        child = self._by_id.get(event.cl_ord_id)
        if child is None:
            self._alert(
                self._by_id.get(event.orig_cl_ord_id),
                AlertCode.UNKNOWN_ORDER,
                f"cancel reject for unknown request cl_ord_id={event.cl_ord_id} "
                f"orig={event.orig_cl_ord_id}",
            )
            return
        if child.pending_cl_ord_id != event.cl_ord_id:
            self.counters.duplicates += 1  # that request already ended: a resend, or a repeat
            return
        self._request_refused(child, event.text or f"CxlRejReason={event.reason}", event.reason)

    def _request_refused(self, child: ChildOrder, reason: str, cxl_reason: int | None) -> None:
        """The venue refused the child's cancel or replace: the request ends, the order works on
        as before."""
        replace = child.pending_quantity is not None
        self._end_request(child)
        child.text = reason
        child.updated_ns = self.clock()
        if not child.is_terminal:
            self._move(child, self._resume_event(child))
        if replace:
            self.counters.replace_rejects += 1
            self.listener.on_replace_rejected(child, reason)
        else:
            self.counters.cancel_rejects += 1
            self.listener.on_cancel_rejected(child, reason)
        if cxl_reason == CXL_REJ_UNKNOWN_ORDER and not child.is_terminal:
            self.listener.on_unknown_order(child)

    # -- handlers, one per kind of report --------------------------------------------------

    def _informational(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        """PendingNew: says nothing the record does not already say."""

    def _ack(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        if child.accepted or not CHILD_TRANSITIONS.allows(child.state, _E.ACKNOWLEDGED):
            self.counters.stale += 1  # acked (or filled) already, or finished: a late ack
            return
        self._move(child, _E.ACKNOWLEDGED)
        self._accept(child)

    def _fill(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        qty, px = event.last_qty, event.last_px
        if qty <= 0 or px is None or px <= 0:
            self._alert(
                child,
                AlertCode.BAD_REPORT,
                f"{_ids(child)}: fill with LastQty={qty} LastPx={px} not applied "
                f"(exec_id={event.exec_id}, venue cum_qty={event.cum_qty})",
            )
            return
        self._apply_fill(child, qty, px, event.exec_id, now)

    def _apply_fill(self, child: ChildOrder, qty: int, px: int, exec_id: str, now: int) -> None:
        was = child.state
        child.cum_qty += qty
        child.notional += qty * px
        self.counters.fills += 1
        self.counters.filled_qty += qty
        done = False
        if not was.is_terminal:
            done = child.cum_qty >= child.quantity
            self._move(child, _E.FILLED if done else _E.PARTIALLY_FILLED)
            self._accept(child)
        self.listener.on_fill(child, qty, px, exec_id, now)
        if was.is_terminal:
            self._alert(
                child,
                AlertCode.OVERFILL,
                f"{_ids(child)}: fill of {qty} on a {was.value} order, cum_qty={child.cum_qty} "
                f"quantity={child.quantity} (exec_id={exec_id})",
            )
        elif child.cum_qty > child.quantity:
            self._alert(
                child,
                AlertCode.OVERFILL,
                f"{_ids(child)}: cum_qty={child.cum_qty} > quantity={child.quantity} "
                f"after a fill of {qty} (exec_id={exec_id})",
            )
        if done:
            self._finish(child)

    def _canceled(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        if self._finished_already(child, event, ChildState.CANCELED):
            return
        if child.state is ChildState.PENDING_CANCEL and child.pending_cl_ord_id == event.cl_ord_id:
            self.counters.cancels += 1
            child.current_cl_ord_id = event.cl_ord_id  # FIX: the cancel's ClOrdID names it now
        else:
            self.counters.unsolicited_cancels += 1
        if event.text:
            child.text = event.text
        self._exit(child, event, _E.CANCELED)

    def _expired(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        if self._finished_already(child, event, ChildState.EXPIRED):
            return
        self.counters.expirations += 1
        if event.text:
            child.text = event.text
        self._exit(child, event, _E.EXPIRED)

    def _exit(self, child: ChildOrder, event: ExecutionEvent, how: ChildEvent) -> None:
        """The venue finished the order (cancelled, expired): whatever was in flight is moot.
        Shares its CumQty has and we never heard of (their reports went with a crash) are
        booked first, as a missed fill: MISSED_FILL halts, except in a restart's recovery,
        where such reports are how lost fills come back."""
        self._end_request(child)
        missing = event.cum_qty - child.cum_qty
        if missing > 0:
            self._missed_fill(child, event, missing, self.clock())
            if child.is_terminal:  # those shares filled it
                return
        self._move(child, how)
        self._finish(child)

    def _finished_already(self, child: ChildOrder, event: ExecutionEvent, as_: ChildState) -> bool:
        """A terminal report on a finished order: a repeat if it agrees, an alert if not."""
        if not child.is_terminal:
            return False
        if child.state is as_:
            self.counters.stale += 1
        else:
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue says {event.kind.value}, the order is {child.state.value} "
                f"(exec_id={event.exec_id})",
            )
        return True

    def _rejected(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        request = child.pending_cl_ord_id
        if request is not None and event.cl_ord_id == request != child.current_cl_ord_id:
            # Some venues refuse a cancel or replace with ExecType 8 on the request's ClOrdID
            # rather than an OrderCancelReject: the same answer, so the same outcome.
            reason = event.text or f"OrdRejReason={event.reject_reason}"
            self._request_refused(child, reason, None)
            return
        if child.state is ChildState.REJECTED:
            self.counters.stale += 1
            return
        if child.accepted or not CHILD_TRANSITIONS.allows(child.state, _E.REJECTED):
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue rejects an order that is {child.state.value} "
                f"(accepted={child.accepted}, exec_id={event.exec_id})",
            )
            return
        self._reject(child, event.text or f"OrdRejReason={event.reject_reason}")

    def _reject(self, child: ChildOrder, reason: str) -> None:
        self.counters.rejects += 1
        child.text = reason
        self._end_request(child)
        self._move(child, _E.REJECTED)
        self._finish(child)

    def _replaced(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        if (
            child.state is not ChildState.PENDING_REPLACE
            or child.pending_cl_ord_id != event.cl_ord_id
        ):
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue reports a replace to cl_ord_id={event.cl_ord_id} that is "
                f"not in flight (state={child.state.value}, pending={child.pending_cl_ord_id})",
            )
            return
        self._apply_replace(child, event)

    def _apply_replace(self, child: ChildOrder, event: ExecutionEvent) -> None:
        """The venue has `child` under the replace's ClOrdID: its terms are the replace's."""
        asked_qty, asked_px = child.pending_quantity, child.pending_price
        child.quantity = event.order_qty if event.order_qty > 0 else (asked_qty or child.quantity)
        if event.price is not None:
            child.price = event.price
        elif child.order_type is OrderType.LIMIT:
            child.price = asked_px
        child.current_cl_ord_id = event.cl_ord_id
        self._end_request(child)
        self.counters.replaces += 1
        done = child.cum_qty >= child.quantity
        self._move(child, _E.FILLED if done else self._resume_event(child))
        self.listener.on_replaced(child)
        if child.quantity != asked_qty or (event.price is not None and event.price != asked_px):
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: replaced as quantity={child.quantity} price={child.price}, "
                f"asked quantity={asked_qty} price={asked_px}",
            )
        if child.cum_qty > child.quantity:
            self._alert(
                child,
                AlertCode.OVERFILL,
                f"{_ids(child)}: cum_qty={child.cum_qty} > quantity={child.quantity} "
                "after a replace",
            )
        if done:
            self._finish(child)

    def _pending_request(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        """PendingCancel / PendingReplace: the venue confirms a request we have in flight."""
        if child.pending_cl_ord_id is None and not child.is_terminal:
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue reports {event.kind.value} but no request is in flight",
            )

    def _unhandled(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        self._alert(
            child,
            AlertCode.UNHANDLED_REPORT,
            f"{_ids(child)}: {event.kind.value} (exec_id={event.exec_id} cum_qty={event.cum_qty} "
            f"last_qty={event.last_qty}) is not applied automatically",
        )

    def _status(self, child: ChildOrder, event: ExecutionEvent, now: int) -> None:
        """An OrderStatus answer: bring cum_qty and state in line with the venue's view."""
        status = event.ord_status
        if status == "8":  # the venue does not have it (never arrived, or refused)
            if child.state is ChildState.REJECTED:
                return
            if child.accepted or not CHILD_TRANSITIONS.allows(child.state, _E.REJECTED):
                self._alert(
                    child,
                    AlertCode.REPORT_MISMATCH,
                    f"{_ids(child)}: venue status says rejected/unknown, the order is "
                    f"{child.state.value} (accepted={child.accepted})",
                )
                if not child.is_terminal:  # the venue has forgotten it (a restart): not working
                    self.counters.unsolicited_cancels += 1
                    child.text = event.text or "the venue does not know the order"
                    self._end_request(child)
                    self._move(child, _E.CANCELED)
                    self._finish(child)
                return
            self._reject(child, event.text or "the venue does not know the order")
            return
        missing = event.cum_qty - child.cum_qty
        if missing > 0:
            self._missed_fill(child, event, missing, now)
        elif missing < 0:
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue status cum_qty={event.cum_qty} < ours {child.cum_qty}",
            )
        if child.is_terminal:
            if status in _WORKING_STATUS:
                self._alert(
                    child,
                    AlertCode.REPORT_MISMATCH,
                    f"{_ids(child)}: venue status {status} says working, the order is "
                    f"{child.state.value}",
                )
            return
        exit_event = _STATUS_EXITS.get(status)
        if exit_event is not None:
            if exit_event is _E.CANCELED:
                self.counters.unsolicited_cancels += 1
            else:
                self.counters.expirations += 1
            self._end_request(child)
            self._move(child, exit_event)
            self._finish(child)
        elif status == "2":
            self._alert(
                child,
                AlertCode.REPORT_MISMATCH,
                f"{_ids(child)}: venue status says filled with cum_qty={event.cum_qty}, "
                f"our quantity is {child.quantity}",
            )
        elif (
            status != "A"
            and not child.accepted
            and CHILD_TRANSITIONS.allows(child.state, _E.ACKNOWLEDGED)
        ):
            self._move(child, _E.ACKNOWLEDGED)
            self._accept(child)

    def _missed_fill(self, child: ChildOrder, event: ExecutionEvent, qty: int, now: int) -> None:
        px = _missing_price(child, event, qty)
        detail = (
            f"{_ids(child)}: venue status cum_qty={event.cum_qty} > ours "
            f"{child.cum_qty}; missing {qty}"
        )
        if px is None or px <= 0:
            self._alert(child, AlertCode.MISSED_FILL, f"{detail}, no price to record it at")
            return
        self._alert(child, AlertCode.MISSED_FILL, f"{detail} recorded at {px}")
        self._apply_fill(child, qty, px, f"{event.exec_id}:missed", now)

    # -- helpers ---------------------------------------------------------------------------

    def _move(self, child: ChildOrder, event: ChildEvent) -> None:
        try:
            child.state = CHILD_TRANSITIONS.next(child.state, event)
        except IllegalTransitionError as exc:
            raise IllegalTransitionError(f"{exc} ({_ids(child)})") from None

    @staticmethod
    def _resume_event(child: ChildOrder) -> ChildEvent:
        if child.cum_qty > 0:
            return _E.RESUMED_PARTIALLY_FILLED
        return _E.RESUMED_NEW if child.accepted else _E.RESUMED_PENDING_NEW

    @staticmethod
    def _end_request(child: ChildOrder) -> None:
        child.pending_cl_ord_id = None
        child.pending_quantity = None
        child.pending_price = None

    def _accept(self, child: ChildOrder) -> None:
        if not child.accepted:
            child.accepted = True
            self.listener.on_accepted(child)

    def _finish(self, child: ChildOrder) -> None:
        self._live.pop(child.cl_ord_id, None)
        own = self._live_by_parent.get(child.parent_id)
        if own is not None:
            own.pop(child.cl_ord_id, None)
        self.listener.on_done(child)

    def _alert(self, child: ChildOrder | None, code: AlertCode, detail: str) -> None:
        c = self.counters
        c.alerts += 1
        c.alerts_by_code[code] = c.alerts_by_code.get(code, 0) + 1
        self.listener.on_alert(child, code.value, f"{code.value}: {detail}")


# -- snapshots -------------------------------------------------------------------------------

_FIELDS: Final[dict[str, tuple[type, ...]]] = {
    "cl_ord_id": (str,),
    "current_cl_ord_id": (str,),
    "parent_id": (str, type(None)),
    "symbol": (str,),
    "side": (str,),
    "quantity": (int,),
    "price": (int, type(None)),
    "time_in_force": (str,),
    "order_type": (str,),
    "created_ns": (int,),
    "updated_ns": (int,),
    "state": (str,),
    "cum_qty": (int,),
    "notional": (int,),
    "accepted": (bool,),
    "venue_order_id": (str, type(None)),
    "pending_cl_ord_id": (str, type(None)),
    "pending_quantity": (int, type(None)),
    "pending_price": (int, type(None)),
    "text": (str, type(None)),
    "exec_ids": (list,),
}


def to_dict(child: ChildOrder) -> dict[str, Any]:
    """A JSON-safe snapshot of one child (strings, integers, booleans, None, a list)."""
    return {
        "cl_ord_id": child.cl_ord_id,
        "current_cl_ord_id": child.current_cl_ord_id,
        "parent_id": child.parent_id,
        "symbol": child.symbol,
        "side": child.side.name,
        "quantity": child.quantity,
        "price": child.price,
        "time_in_force": child.time_in_force.value,
        "order_type": child.order_type.value,
        "created_ns": child.created_ns,
        "updated_ns": child.updated_ns,
        "state": child.state.value,
        "cum_qty": child.cum_qty,
        "notional": child.notional,
        "accepted": child.accepted,
        "venue_order_id": child.venue_order_id,
        "pending_cl_ord_id": child.pending_cl_ord_id,
        "pending_quantity": child.pending_quantity,
        "pending_price": child.pending_price,
        "text": child.text,
        "exec_ids": sorted(child.exec_ids),
    }


def _enum(data: Mapping[str, Any], key: str, enum: type[Enum], by_name: bool = False) -> Any:
    raw = data[key]
    try:
        return enum[raw] if by_name else enum(raw)
    except (KeyError, ValueError):
        names = [m.name if by_name else m.value for m in enum]
        raise OmsError(
            f"child order snapshot: {key}={raw!r} is not one of {', '.join(names)}"
        ) from None


def from_dict(data: Mapping[str, Any]) -> ChildOrder:
    """Rebuild a child from `to_dict`; OmsError names the first field that is wrong."""
    if not isinstance(data, Mapping):
        raise OmsError(f"child order snapshot: expected an object, got {type(data).__name__}")
    for key, types in _FIELDS.items():
        if key not in data:
            raise OmsError(f"child order snapshot: field {key!r} is missing")
        value = data[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise OmsError(
                f"child order snapshot: field {key!r}={value!r} should be "
                + " or ".join("null" if t is type(None) else t.__name__ for t in types)
            )
    ids = data["exec_ids"]
    if not all(isinstance(x, str) for x in ids):
        raise OmsError("child order snapshot: field 'exec_ids' must hold strings only")
    for key in ("quantity", "cum_qty"):
        if data[key] < (1 if key == "quantity" else 0):
            raise OmsError(f"child order snapshot: field {key!r}={data[key]} is out of range")
    return ChildOrder(
        data["cl_ord_id"],
        data["current_cl_ord_id"],
        data["parent_id"],
        data["symbol"],
        _enum(data, "side", Side, by_name=True),
        data["quantity"],
        data["price"],
        _enum(data, "time_in_force", TimeInForce),
        _enum(data, "order_type", OrderType),
        data["created_ns"],
        data["updated_ns"],
        _enum(data, "state", ChildState),
        data["cum_qty"],
        data["notional"],
        data["accepted"],
        data["venue_order_id"],
        data["pending_cl_ord_id"],
        data["pending_quantity"],
        data["pending_price"],
        data["text"],
        set(ids),
    )


IMPLIED_PRICE_TOLERANCE = 50
"""1e-4 units: the most AvgPx's rounding (to 1e-4, ±0.5) may move an implied price."""


def _missing_price(child: ChildOrder, event: ExecutionEvent, qty: int) -> int | None:
    """The price of the `qty` shares the venue's status has and we do not: what makes our
    notional reach AvgPx × CumQty (AvgPx itself averages the fills we already booked), else
    AvgPx, LastPx or the child's limit when that is all there is. The implied price is used
    only where AvgPx's rounding cannot move it by more than half a cent (it is multiplied
    by CumQty / qty) and it is within the child's limit; AvgPx otherwise."""
    if event.avg_px:
        implied = round((event.avg_px * event.cum_qty - child.notional) / qty)
        precise = 0.5 * event.cum_qty / qty <= IMPLIED_PRICE_TOLERANCE
        limit = child.price
        within = limit is None or (implied <= limit if child.side is Side.BUY else implied >= limit)
        return implied if implied > 0 and precise and within else event.avg_px
    return event.last_px or child.price
