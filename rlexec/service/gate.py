"""OrderGate: the only way a new order or a replace reaches the wire.

It takes the risk overlay's `Approval` — a type nobody else can build — and nothing else:
assigns the ClOrdID, records the order in the OMS *before* its bytes leave, tells the
overlay it was sent, sends, and rolls all of it back if the send fails (not logged on, a
socket error). Cancels always pass: they reduce risk. A test walks the service's code to
prove no other path calls `OrderClient.new_order` or `OrderClient.replace`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rlexec.gateway.errors import GatewayError
from rlexec.gateway.order_client import OrderClient
from rlexec.market.errors import RlexecError
from rlexec.market.orders import OrderIntent
from rlexec.risk import Approval, ApprovalError, RiskOverlay
from rlexec.service.metrics import ServiceMetrics
from rlexec.service.oms import ChildOrder, Oms, OmsError

log = logging.getLogger("rlexec.service")


class SendError(RlexecError):
    """The order was not sent; nothing of it remains recorded."""


def _approved_intent(approval: Approval) -> OrderIntent:
    """The approval's order; a forged instance (no fields) is refused, not a traceback."""
    try:
        return approval.intent
    except AttributeError:
        raise SendError(
            "a forged Approval (not built by the risk overlay) cannot be sent"
        ) from None


class OrderGate:
    def __init__(
        self,
        client: OrderClient,
        oms: Oms,
        overlay: RiskOverlay,
        clock: Callable[[], int],
        metrics: ServiceMetrics,
    ) -> None:
        self.client = client
        self.oms = oms
        self.overlay = overlay
        self.clock = clock
        self.metrics = metrics
        self.sent = 0
        """New orders sent so far (the tick-to-order metric compares it around a decision)."""
        self.first_sent_at = 0.0
        """`perf_counter()` as the first new order's bytes left since the caller zeroed it
        (the tick-to-order metric's end: not the decision's cancels and bookkeeping after)."""
        self.pending_replaces: dict[str, str] = {}
        """Child (original ClOrdID) → the ClOrdID of its replace request in flight."""
        self.risk_ids: dict[str, str] = {}
        """Child (original ClOrdID) → the id the risk overlay knows it by (changes on replace)."""
        self.next_id: Callable[[str | None], str] = lambda parent_id: client.next_cl_ord_id()
        """The next ClOrdID for a parent's order or request (the service hands out ids from
        durably reserved blocks; raises when none is left, and the order is not sent)."""
        self.persist: Callable[[ChildOrder], None] = lambda child: None
        """The state store's write-behind for a child whose record changed."""

    def send(self, approval: Approval, parent_id: str | None = None) -> ChildOrder:
        """Send an approved new order; raises SendError (and keeps nothing) if it cannot go."""
        if type(approval) is not Approval:
            raise SendError(f"only an Approval from the risk overlay can be sent, not {approval!r}")
        try:
            intent = approval.intent
        except AttributeError:
            intent = _approved_intent(approval)  # a forged one: refused there, with the reason
        now = self.clock()
        try:
            cl = self.next_id(parent_id)
        except RlexecError as exc:
            self.overlay.release(approval)
            raise SendError(f"no ClOrdID: {exc}") from None
        try:
            child = self.oms.record_new(cl, intent, parent_id, now)
        except OmsError as exc:  # e.g. a ClOrdID already in use: nothing recorded, nothing sent
            self.overlay.release(approval)
            raise SendError(f"{cl}: not recorded: {exc}") from None
        try:
            self.overlay.on_order_sent(approval, cl, now)
        except ApprovalError as exc:
            self.oms.forget(cl)
            raise SendError(f"{cl}: {exc}") from None
        try:
            self.client.new_order(intent, cl)
        except (GatewayError, OSError) as exc:
            self.oms.forget(cl)
            self.overlay.on_rejected(cl, now)
            self.metrics.send_failures.inc()
            log.warning("event=send_failed cl_ord_id=%s symbol=%s error=%r", cl, intent.symbol,
                        str(exc))  # fmt: skip
            raise SendError(f"{cl}: not sent: {exc}") from None
        if not self.first_sent_at:
            self.first_sent_at = time.perf_counter()
        self.metrics.sent_new.inc()
        self.sent += 1
        self.risk_ids[cl] = cl
        self.persist(child)  # queued in the same synchronous step as the send: see recovery.py
        return child

    def replace(self, approval: Approval, child: ChildOrder) -> str:
        """Send an approved replace of `child` (new total quantity = filled + approved leaves)."""
        if type(approval) is not Approval:
            raise SendError(f"only an Approval from the risk overlay can be sent, not {approval!r}")
        intent = _approved_intent(approval)
        now = self.clock()
        current = child.current_cl_ord_id
        risk_id = self.risk_ids.get(child.cl_ord_id, child.cl_ord_id)
        try:
            new_cl = self.next_id(child.parent_id)
        except RlexecError as exc:
            self.overlay.release(approval)
            raise SendError(f"no ClOrdID: {exc}") from None
        quantity = child.cum_qty + intent.quantity
        self.oms.record_replace(child.cl_ord_id, new_cl, quantity, intent.price, now)
        try:
            self.overlay.on_replace_sent(approval, risk_id, new_cl, now)
        except ApprovalError as exc:
            self.oms.forget_request(new_cl)
            raise SendError(f"{new_cl}: {exc}") from None
        try:
            self.client.replace(current, quantity, intent.price, request_id=new_cl)
        except (GatewayError, OSError) as exc:
            self.oms.forget_request(new_cl)
            self.overlay.on_replace_rejected(new_cl, now)
            self.metrics.send_failures.inc()
            raise SendError(f"{new_cl}: replace not sent: {exc}") from None
        self.metrics.sent_replace.inc()
        self.pending_replaces[child.cl_ord_id] = new_cl
        self.persist(child)
        return new_cl

    def cancel(self, child: ChildOrder) -> str | None:
        """Ask the venue to cancel `child`; None if it is done, already being cancelled, or the
        session is down (the venue's cancel-on-disconnect and the restart recovery cover it)."""
        if child.state.is_terminal or child.pending_cl_ord_id is not None:
            return None
        now = self.clock()
        # A cancel is not an order: its id needs to be unique, not recoverable, so it never
        # waits for a reserved block (a kill must always get its cancels out).
        request = self.client.next_cl_ord_id()
        self.oms.record_cancel(child.cl_ord_id, request, now)
        try:
            self.client.cancel(child.current_cl_ord_id, request_id=request)
        except (GatewayError, OSError) as exc:
            self.oms.forget_request(request)
            log.warning("event=cancel_not_sent cl_ord_id=%s error=%r", child.cl_ord_id, str(exc))
            return None
        self.overlay.on_cancel_sent(self.risk_id(child), now)
        self.metrics.sent_cancel.inc()
        self.persist(child)
        return request

    def risk_id(self, child: ChildOrder) -> str:
        """The id the risk overlay knows `child` by."""
        return self.risk_ids.get(child.cl_ord_id, child.cl_ord_id)

    def replaced(self, child: ChildOrder) -> str | None:
        """The venue confirmed `child`'s replace: the overlay now knows it by the new id."""
        request = self.pending_replaces.pop(child.cl_ord_id, None)
        if request is not None:
            self.risk_ids[child.cl_ord_id] = request
        return request

    def done(self, child: ChildOrder) -> str:
        """`child` is finished: forget its bookkeeping; returns its risk id."""
        self.pending_replaces.pop(child.cl_ord_id, None)
        return self.risk_ids.pop(child.cl_ord_id, child.cl_ord_id)
