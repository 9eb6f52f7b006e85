"""Property-based: arbitrary sequences of our requests and the venue's reports (acks, fills,
cancels, replaces, rejects, status answers, duplicates, reports held back and delivered out
of order, overfills, unknown orders) never raise out of the OMS and never break its books.

The test keeps its own ledger (which fills it delivered, which child was finished how) and
judges the OMS by it, not by the OMS's own counters.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from rlexec.gateway.execution import ExecKind, ExecutionEvent
from rlexec.market.errors import IllegalTransitionError
from rlexec.market.orders import TimeInForce
from rlexec.service.oms import (
    CHILD_TRANSITIONS,
    AlertCode,
    ChildEvent,
    ChildOrder,
    ChildState,
    Oms,
    OmsError,
)
from tests.oms_support import PX, TICK, Recorder, cancel_reject, intent, report

T0 = 1_000_000_000
index = st.integers(min_value=0, max_value=10_000)
prices = st.integers(min_value=-2, max_value=20).map(lambda k: PX + k * TICK)


class OmsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.rec = Recorder()
        self.oms = Oms(self.rec, lambda: self.now)
        self.n = 0
        self.ids: list[str] = []
        """Original ClOrdIDs of the children the OMS holds, oldest first."""
        self.sent: list[ExecutionEvent] = []
        self.held: list[ExecutionEvent] = []
        """Reports generated but held back, to be delivered later (out of order)."""
        self.delivered_fills: dict[str, dict[str, int]] = {}
        """Per child: ExecID -> qty of every well-formed fill the OMS was given."""
        self.final: dict[str, ChildState] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _child(self, i: int) -> ChildOrder:
        child = self.oms.get(self.ids[i % len(self.ids)])
        assert child is not None
        return child

    def _deliver(self, event: ExecutionEvent) -> None:
        self.now += 1_000
        child = self.oms.get(event.cl_ord_id) or self.oms.get(event.orig_cl_ord_id or "")
        fresh_fill = (
            child is not None
            and event.kind in (ExecKind.PARTIAL_FILL, ExecKind.FILL)
            and event.last_qty > 0
            and event.last_px is not None
            and event.last_px > 0
            and event.exec_id not in child.exec_ids
        )
        overfill_expected = False
        if child is not None and fresh_fill:
            overfill_expected = child.is_terminal or child.cum_qty + event.last_qty > child.quantity
            self.delivered_fills.setdefault(child.cl_ord_id, {})[event.exec_id] = event.last_qty
        before = len(self.rec.alerts(AlertCode.OVERFILL))
        self.oms.on_execution(event)
        raised = len(self.rec.alerts(AlertCode.OVERFILL)) - before
        if fresh_fill:
            assert raised == int(overfill_expected), (event, raised)

    def _send(self, event: ExecutionEvent, later: bool) -> None:
        self.sent.append(event)
        if later:
            self.held.append(event)
        else:
            self._deliver(event)

    # -- our requests ----------------------------------------------------------------------

    @initialize(qtys=st.lists(st.integers(1, 300), min_size=1, max_size=3))
    def first_orders(self, qtys: list[int]) -> None:
        for qty in qtys:
            self.new_order(qty, ioc=False)

    @rule(qty=st.integers(1, 300), ioc=st.booleans())
    def new_order(self, qty: int, ioc: bool) -> None:
        cl = self._next("C")
        tif = TimeInForce.IOC if ioc else TimeInForce.DAY
        child = self.oms.record_new(cl, intent(qty, tif=tif), f"P{self.n % 3}", self.now)
        assert child.state is ChildState.PENDING_NEW
        self.ids.append(cl)

    @precondition(lambda self: self.ids)
    @rule(i=index)
    def request_cancel(self, i: int) -> None:
        child = self._child(i)
        before = child.state
        request = self._next("X")
        if CHILD_TRANSITIONS.allows(before, ChildEvent.CANCEL_REQUESTED):
            self.oms.record_cancel(child.cl_ord_id, request, self.now)
            assert (child.state, child.pending_cl_ord_id) == (ChildState.PENDING_CANCEL, request)
        else:
            try:
                self.oms.record_cancel(child.cl_ord_id, request, self.now)
            except IllegalTransitionError:
                pass
            else:
                raise AssertionError(f"cancel allowed in {before}")
            assert child.state is before and self.oms.get(request) is None

    @precondition(lambda self: self.ids)
    @rule(i=index, qty=st.integers(1, 400), price=prices)
    def request_replace(self, i: int, qty: int, price: int) -> None:
        child = self._child(i)
        before = child.state
        request = self._next("R")
        if CHILD_TRANSITIONS.allows(before, ChildEvent.REPLACE_REQUESTED):
            self.oms.record_replace(child.cl_ord_id, request, qty, price, self.now)
            assert child.state is ChildState.PENDING_REPLACE
        else:
            try:
                self.oms.record_replace(child.cl_ord_id, request, qty, price, self.now)
            except IllegalTransitionError:
                pass
            else:
                raise AssertionError(f"replace allowed in {before}")
            assert child.state is before and self.oms.get(request) is None

    @precondition(lambda self: self.ids)
    @rule(i=index)
    def send_failed(self, i: int) -> None:
        """Roll back the last request (or the order itself) as if its send had failed."""
        child = self._child(i)
        if child.pending_cl_ord_id is not None:
            self.oms.forget_request(child.pending_cl_ord_id)
            assert child.pending_cl_ord_id is None and not child.state.name.startswith("PENDING_R")
            return
        if child.state is ChildState.PENDING_NEW and not child.exec_ids and not child.accepted:
            self.oms.forget(child.cl_ord_id)
            self.ids.remove(child.cl_ord_id)
            assert self.oms.get(child.cl_ord_id) is None
            return
        try:
            self.oms.forget(child.cl_ord_id)
        except OmsError:
            pass
        else:
            raise AssertionError(f"forgot a {child.state} order with reports")

    # -- the venue's reports ---------------------------------------------------------------

    @precondition(lambda self: self.ids)
    @rule(i=index, later=st.booleans())
    def ack(self, i: int, later: bool) -> None:
        child = self._child(i)
        self._send(report(ExecKind.NEW, child.current_cl_ord_id, order_qty=child.quantity), later)

    @precondition(lambda self: self.ids)
    @rule(i=index, qty=st.integers(1, 200), px=prices, old_id=st.booleans(), later=st.booleans())
    def fill(self, i: int, qty: int, px: int, old_id: bool, later: bool) -> None:
        child = self._child(i)
        cum = child.cum_qty + qty
        kind = ExecKind.FILL if cum >= child.quantity else ExecKind.PARTIAL_FILL
        cl = child.cl_ord_id if old_id else child.current_cl_ord_id
        event = report(
            kind, cl, order_qty=child.quantity, last_qty=qty, last_px=px, cum_qty=cum, avg_px=px
        )
        self._send(event, later)

    @precondition(lambda self: self.ids)
    @rule(i=index, qty=st.sampled_from([0, 5]), px=st.sampled_from([None, 0, -PX]))
    def malformed_fill(self, i: int, qty: int, px: int | None) -> None:
        child = self._child(i)
        event = report(ExecKind.PARTIAL_FILL, child.current_cl_ord_id, last_qty=qty, last_px=px)
        self._send(event, False)
        assert self.rec.calls[-1][2] == AlertCode.BAD_REPORT

    @precondition(lambda self: self.ids)
    @rule(i=index, solicited=st.booleans(), expire=st.booleans(), later=st.booleans())
    def venue_ends_it(self, i: int, solicited: bool, expire: bool, later: bool) -> None:
        child = self._child(i)
        kind = ExecKind.EXPIRED if expire else ExecKind.CANCELED
        if solicited and child.pending_cl_ord_id is not None and child.pending_quantity is None:
            event = report(
                kind, child.pending_cl_ord_id, orig_cl_ord_id=child.current_cl_ord_id,
                cum_qty=child.cum_qty,
            )  # fmt: skip
        else:
            event = report(kind, child.current_cl_ord_id, cum_qty=child.cum_qty)
        self._send(event, later)

    @precondition(lambda self: self.ids)
    @rule(i=index, change_qty=st.booleans(), later=st.booleans())
    def venue_replaces(self, i: int, change_qty: bool, later: bool) -> None:
        child = self._child(i)
        if child.pending_cl_ord_id is None or child.pending_quantity is None:
            return
        qty = child.pending_quantity + (7 if change_qty else 0)
        event = report(
            ExecKind.REPLACED, child.pending_cl_ord_id, orig_cl_ord_id=child.current_cl_ord_id,
            order_qty=qty, price=child.pending_price, cum_qty=child.cum_qty,
        )  # fmt: skip
        self._send(event, later)

    @precondition(lambda self: self.ids)
    @rule(i=index, stale=st.booleans())
    def venue_refuses_request(self, i: int, stale: bool) -> None:
        child = self._child(i)
        request = child.pending_cl_ord_id
        if request is None or stale:
            request = self._next("Z")
        replace = child.pending_quantity is not None
        self.now += 1_000
        self.oms.on_cancel_reject(cancel_reject(request, child.current_cl_ord_id, replace))
        assert child.pending_cl_ord_id is None or child.pending_cl_ord_id != request

    @precondition(lambda self: self.ids)
    @rule(i=index, later=st.booleans())
    def venue_rejects(self, i: int, later: bool) -> None:
        child = self._child(i)
        self._send(report(ExecKind.REJECTED, child.current_cl_ord_id, order_id="NONE"), later)

    @precondition(lambda self: self.ids)
    @rule(
        i=index,
        extra=st.integers(-5, 60),
        status=st.sampled_from(["0", "1", "2", "4", "6", "8", "A", "C", "E"]),
        avg=st.sampled_from([None, 0, PX]),
    )
    def status_answer(self, i: int, extra: int, status: str, avg: int | None) -> None:
        child = self._child(i)
        cum = max(0, child.cum_qty + extra)
        event = report(
            ExecKind.ORDER_STATUS, child.current_cl_ord_id, ord_status=status,
            order_qty=child.quantity, cum_qty=cum, avg_px=avg,
        )  # fmt: skip
        missing = cum - child.cum_qty if status != "8" else 0  # "8": the venue has no such order
        priced = (avg or child.price or 0) > 0
        overfill = (
            missing > 0
            and priced
            and (child.is_terminal or child.cum_qty + missing > child.quantity)
        )
        before = len(self.rec.alerts(AlertCode.OVERFILL))
        self._deliver(event)
        if missing > 0 and priced:
            synthetic = self.rec.fills(child.cl_ord_id)[-1]
            assert synthetic[2] == missing and str(synthetic[4]).endswith(":missed")
            assert self.rec.alerts(AlertCode.MISSED_FILL)
        assert len(self.rec.alerts(AlertCode.OVERFILL)) - before == int(overfill)

    @rule(later=st.booleans())
    def unknown_order(self, later: bool) -> None:
        before = len(self.rec.alerts(AlertCode.UNKNOWN_ORDER))
        self._send(report(ExecKind.NEW, self._next("U")), later)
        if not later:
            assert len(self.rec.alerts(AlertCode.UNKNOWN_ORDER)) == before + 1

    @precondition(lambda self: self.sent)
    @rule(i=index)
    def duplicate(self, i: int) -> None:
        event = self.sent[i % len(self.sent)]
        self._deliver(event._replace(poss_dup=True))

    @precondition(lambda self: self.held)
    @rule(i=index)
    def release_held(self, i: int) -> None:
        self._deliver(self.held.pop(i % len(self.held)))

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def leaves_never_negative_and_only_live_orders_have_any(self) -> None:
        for child in self.oms.all():
            assert child.leaves >= 0
            if child.is_terminal:
                assert child.leaves == 0
                # FILLED means our own arithmetic says so, whatever a report's OrdStatus said
                if child.state is ChildState.FILLED:
                    assert child.cum_qty >= child.quantity
            else:
                assert child.leaves == child.quantity - child.cum_qty > 0

    @invariant()
    def cum_qty_is_the_sum_of_distinct_accepted_fills(self) -> None:
        by_child: dict[str, dict[str, int]] = {}
        for _, cl, qty, _, exec_id in self.rec.fills():
            seen = by_child.setdefault(str(cl), {})
            assert exec_id not in seen, f"{exec_id} applied twice"
            seen[str(exec_id)] = int(str(qty))
        for child in self.oms.all():
            applied = by_child.get(child.cl_ord_id, {})
            assert child.cum_qty == sum(applied.values())
            delivered = self.delivered_fills.get(child.cl_ord_id, {})
            real = {k: v for k, v in applied.items() if not k.endswith(":missed")}
            assert real == delivered
            assert child.notional >= 0

    @invariant()
    def terminal_is_forever_and_done_is_said_once(self) -> None:
        done = [c[1] for c in self.rec.done()]
        assert len(done) == len(set(done))
        for child in self.oms.all():
            if child.cl_ord_id in self.final:
                assert child.state is self.final[child.cl_ord_id]
            elif child.is_terminal:
                self.final[child.cl_ord_id] = child.state
            assert (child.cl_ord_id in done) is child.is_terminal

    @invariant()
    def working_is_the_live_children_oldest_first(self) -> None:
        live = [c for c in self.oms.all() if not c.is_terminal]
        assert self.oms.working() == live
        assert [c.cl_ord_id for c in self.oms.all()] == self.ids
        accepted = [c[1] for c in self.rec.calls if c[0] == "accepted"]
        assert len(accepted) == len(set(accepted))

    @invariant()
    def a_request_in_flight_is_what_pending_states_mean(self) -> None:
        for child in self.oms.all():
            if child.state in (ChildState.PENDING_CANCEL, ChildState.PENDING_REPLACE):
                assert child.pending_cl_ord_id is not None
                assert (child.pending_quantity is not None) is (
                    child.state is ChildState.PENDING_REPLACE
                )
            elif not child.is_terminal:
                assert child.pending_cl_ord_id is None


OmsMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOmsStateMachine = OmsMachine.TestCase
