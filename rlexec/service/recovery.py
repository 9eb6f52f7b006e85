"""Parents to and from the state store, and the restart recovery that loses no order.

On start the service loads its state, rebuilds its child orders (OMS) and parents (paused),
logs on with its stored FIX sequence numbers (the venue resends what it missed), then:

1. asks the venue (OrderStatusRequest) about every non-terminal child, and about every
   ClOrdID of the open id blocks that no record names — an order whose record had not
   reached the store when the process died is found this way and adopted by its parent
   (each parent has its own id counter, so an id says whose it is);
2. rebuilds every parent's progress and the risk overlay's positions from the children;
3. counts whatever is still working in the restarted overlay (it approved none of it, yet it
   can fill until cancelled), cancels it, closes the old id blocks, and resumes the parents —
   or leaves them paused (`resume_parents`).

A kill switch that was HALTED stays HALTED: it is the overlay's own persisted state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rlexec.gateway.execution import ExecKind, ExecutionEvent
from rlexec.market.features import ExecutionState
from rlexec.market.fsm import StateMachine
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.service.config import ParentSpec
from rlexec.service.oms import ChildOrder, ChildState, from_dict
from rlexec.service.parents import PARENT_TRANSITIONS, Parent, ParentState
from rlexec.service.retention import add_fills
from rlexec.service.state import Carry, StoredState, ids_to_ask

if TYPE_CHECKING:
    from rlexec.service.runtime import Service

log = logging.getLogger("rlexec.service")


def id_prefix(parent_id: str) -> str:
    """A parent's ClOrdIDs are `{parent id}.{n}`: unique (parent ids are) and self-describing."""
    return f"{parent_id}."


def id_sequence(parent_id: str) -> str:
    return f"clordid.{parent_id}"


def parent_record(p: Parent) -> dict[str, Any]:
    ex = p.ex
    return {
        "id": p.id, "spec": p.spec.model_dump(mode="json"), "state": p.state.value,
        "created_ns": p.created_ns, "steps": p.steps, "interval_ns": p.interval_ns,
        "next_step": p.next_step, "skipped_steps": p.skipped_steps, "decisions": p.decisions,
        "children": p.children, "fills": p.fills, "denials": p.denials,
        "horizon_phase": p.horizon_phase, "reason": p.reason, "finished_ns": p.finished_ns,
        "execution": None if ex is None else {
            "start_ns": ex.state.start_ns, "end_ns": ex.state.end_ns,
            "arrival_mid": ex.state.arrival_mid, "others_volume": ex.others_volume,
        },
    }  # fmt: skip


def restore_parent(service: Service, record: dict[str, Any]) -> Parent:
    """A parent as it was, paused if it was working (recovery resumes it at the end); failed
    if its stored order is no longer a valid `ParentSpec` (a bound added since: a limit of
    1e305 must not stop the restart, nor be worked again)."""
    manager = service.parents
    pid = str(record["id"])
    stored = state = ParentState(record["state"])
    refused = None
    try:
        spec = ParentSpec.model_validate(record["spec"])
    except ValidationError as exc:  # stored before a bound was added (a limit of 1e305)
        err = exc.errors()[0]
        refused = f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
        spec = ParentSpec.model_construct(**record["spec"])
        log.error("event=parent_spec_refused parent=%s error=%r action=%s", pid, refused,
                  "keep" if state.is_terminal else "fail")  # fmt: skip
    if state is ParentState.WORKING:
        state = ParentState.PAUSED
    if refused is not None and not state.is_terminal:  # never worked again; recovery cancels
        state = ParentState.FAILED  # its children, as those of every parent not working
    fsm = StateMachine(PARENT_TRANSITIONS, state, pid)
    parent = Parent(pid, spec, service.make_algo(spec), fsm, int(record["steps"]),
                    int(record["interval_ns"]), int(record["created_ns"]))  # fmt: skip
    for key in ("next_step", "skipped_steps", "decisions", "children", "fills", "denials"):
        setattr(parent, key, int(record.get(key, 0)))
    parent.horizon_phase = bool(record.get("horizon_phase", False))
    parent.reason = str(record.get("reason", ""))
    parent.finished_ns = record.get("finished_ns")
    if state is not stored and state is ParentState.FAILED:
        parent.reason = f"stored order no longer valid: {refused}"
        parent.finished_ns = service.clock.now_ns()
    execution = record.get("execution")
    if execution is not None and refused is None and spec.symbol in service.markets:
        es = ExecutionState(parent.side, spec.quantity, int(execution["start_ns"]),
                            int(execution["end_ns"]), float(execution["arrival_mid"]))  # fmt: skip
        parent.ex = manager.execution(parent, service.markets[spec.symbol], es)
        parent.ex.others_before = int(execution.get("others_volume", 0))
        parent.algo.start(parent.ex, parent.steps, parent.interval_ns / 1e9)
    manager.adopt(parent)
    if state is ParentState.FAILED and stored is not state:
        service.persist_parent(parent)  # failed now, and so stored
    return parent


class Recovery:
    """The steps above, run once by `Service.start` after the FIX logons."""

    def __init__(self, service: Service, state: StoredState) -> None:
        self.service = service
        self.state = state
        self.asked: dict[str, tuple[str | None, str, Side]] = {}
        """ClOrdID asked about → (parent id, symbol, side)."""
        self.answered: set[str] = set()
        self.aliases: dict[str, str] = {}
        """A replace in flight's ClOrdID → the child's current one (the question asked): the
        venue answers with the former if it applied the replace."""
        self.adopted = 0
        self._done = asyncio.Event()

    def restore_records(self) -> None:
        service = self.service
        for record in self.state.children.values():
            child = from_dict(record)
            service.oms.restore(child)
            service.gate.risk_ids[child.cl_ord_id] = child.current_cl_ord_id
        for record in self.state.parents.values():
            restore_parent(service, record)
        log.info("event=state_loaded parents=%d children=%d fills=%d open_id_blocks=%d",
                 len(self.state.parents), len(self.state.children), len(self.state.fills),
                 len(self.state.id_blocks))  # fmt: skip

    async def run(self, timeout_s: float = 10.0) -> dict[str, int]:
        service = self.service
        for child in service.oms.working():
            service.client.adopt(child.current_cl_ord_id, child.symbol, child.side,
                                 child.quantity, child.order_type, child.price,
                                 child.time_in_force, child.venue_order_id, child.cum_qty)  # fmt: skip
            self.asked[child.current_cl_ord_id] = (child.parent_id, child.symbol, child.side)
            if child.pending_cl_ord_id is not None:
                self.aliases[child.pending_cl_ord_id] = child.current_cl_ord_id
        for pid, parent in service.parents.parents.items():
            for cl in ids_to_ask(self.state, id_prefix(pid), id_sequence(pid)):
                self.asked[cl] = (pid, parent.spec.symbol, parent.side)
        for cl, (_, symbol, side) in self.asked.items():
            service.client.request_status_of(cl, symbol, side)
        if self.asked:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._done.wait()
            except TimeoutError:
                log.error("event=recovery_status_timeout asked=%d answered=%d",
                          len(self.asked), len(self.answered))  # fmt: skip
        for block in self.state.id_blocks:
            service.store.close_block(block)
        await service.store.flush()  # asked once: a crash from here on does not ask again
        self._rebuild_progress()
        self.reserve_working()
        cancels = 0
        for child in service.oms.working():
            if service.gate.cancel(child) is not None:
                cancels += 1
        result = {"asked": len(self.asked), "answered": len(self.answered),
                  "adopted": self.adopted, "cancels_sent": cancels}  # fmt: skip
        log.info("event=recovered asked=%d answered=%d adopted=%d cancels_sent=%d",
                 *result.values())  # fmt: skip
        return result

    def reserve_working(self) -> None:
        """The overlay takes on every child still working at the venue: this process approved
        none of them, yet until their cancels are confirmed (or for good, if a cancel is
        refused) they can fill, so they count against the limits like orders it approved,
        with the worse terms of a replace still in flight."""
        service = self.service
        overlay = service.overlay
        for child in service.oms.working():
            risk_id = service.gate.risk_id(child)
            leaves = max(child.quantity, child.pending_quantity or 0) - child.cum_qty
            if leaves <= 0 or overlay.holds(risk_id):
                continue
            price = child.price if child.order_type is OrderType.LIMIT else None
            pending = child.pending_price
            if price is not None and pending is not None:  # the more aggressive of the two
                price = max(price, pending) if child.side is Side.BUY else min(price, pending)
            overlay.adopt_working(risk_id, child.symbol, child.side, leaves, price,
                                  child.time_in_force, child.parent_id)  # fmt: skip
            log.info("event=working_order_reserved cl_ord_id=%s symbol=%s side=%s leaves=%d",
                     child.current_cl_ord_id, child.symbol, child.side.name, leaves)  # fmt: skip

    def on_status(self, event: ExecutionEvent) -> bool:
        """An answer to one of our questions (True), handled here; anything else is the OMS's."""
        cl = self.aliases.get(event.cl_ord_id, event.cl_ord_id)
        asked = self.asked.get(cl)
        if asked is None or cl in self.answered:
            return False
        self.answered.add(cl)
        service = self.service
        known = service.oms.get(cl)
        if known is not None:
            service.oms.on_execution(event)
        elif event.kind is not ExecKind.REJECTED and event.ord_status != "8":
            self._adopt(event, asked[0])
        if len(self.answered) >= len(self.asked):
            self._done.set()
        return True

    def _adopt(self, event: ExecutionEvent, parent_id: str | None) -> None:
        """An order the venue holds and our records do not: make it the parent's child."""
        service = self.service
        now = service.clock.now_ns()
        terminal = event.leaves_qty == 0
        state = (ChildState.FILLED if event.cum_qty >= event.order_qty
                 else ChildState.CANCELED if terminal else ChildState.NEW)  # fmt: skip
        child = ChildOrder(
            cl_ord_id=event.cl_ord_id, current_cl_ord_id=event.cl_ord_id, parent_id=parent_id,
            symbol=event.symbol, side=event.side, quantity=event.order_qty, price=event.price,
            time_in_force=TimeInForce.DAY, order_type=OrderType.LIMIT if event.price is not None
            else OrderType.MARKET, created_ns=now, updated_ns=now, state=state,
            cum_qty=event.cum_qty, notional=(event.avg_px or 0) * event.cum_qty, accepted=True,
            venue_order_id=event.order_id,
        )  # fmt: skip
        service.oms.restore(child)
        service.gate.risk_ids[child.cl_ord_id] = child.cl_ord_id
        if not child.is_terminal:
            service.client.adopt(child.cl_ord_id, child.symbol, child.side, child.quantity,
                                 child.order_type, child.price, child.time_in_force,
                                 child.venue_order_id, child.cum_qty)  # fmt: skip
        service.persist_child(child)
        if child.cum_qty:  # its fills' own reports went with the crash: one ledger entry for them
            service.store.add_fill(f"{child.cl_ord_id}:adopted", {
                "cl_ord_id": child.cl_ord_id, "parent": parent_id, "symbol": child.symbol,
                "side": child.side.name, "qty": child.cum_qty,
                "price": round(child.notional / child.cum_qty), "ts_ns": now,
            })  # fmt: skip
        self.adopted += 1
        log.warning("event=order_adopted cl_ord_id=%s parent=%s filled=%d of=%d state=%s",
                    child.cl_ord_id, parent_id, child.cum_qty, child.quantity, state.value)  # fmt: skip

    def _rebuild_progress(self) -> None:
        """Parents' fills and the overlay's positions, from the children (the venue's truth)."""
        service = self.service
        by_parent: dict[str, list[ChildOrder]] = defaultdict(list)
        for child in service.oms.all():
            if child.parent_id is not None:
                by_parent[child.parent_id].append(child)
        for pid, parent in service.parents.parents.items():
            if parent.ex is None:
                continue
            children = by_parent.get(pid, [])
            parent.ex.state.filled = sum(c.cum_qty for c in children)
            parent.ex.state.notional = float(sum(c.notional for c in children))
            service.persist_parent(parent)
        for symbol, (pos, avg, realised) in rebuilt_positions(
            service.oms.all(), self.state.carry
        ).items():
            if symbol in service.overlay.limits.symbols:
                service.overlay.reconcile_position(
                    symbol, pos, avg, realised=realised, who="recovery",
                    why="rebuilt from child orders after restart",
                )  # fmt: skip


def rebuilt_positions(
    children: Iterable[ChildOrder], carry: Mapping[str, Carry] | None = None
) -> dict[str, tuple[int, float, float]]:
    """Symbol → (position, average price, realised P&L), price units, from the children's
    fills and those archived (`carry`). Their order is not kept, so the average is that of
    the side the position is on and the other side is realised against it: the day's P&L
    (realised + position × (mid − average)) comes out exact, which is what the daily loss
    limit reads; a flat symbol keeps its realised P&L (it used to restart at 0)."""
    out: dict[str, tuple[int, float, float]] = {}
    for symbol, (buy_qty, buy_cost, sell_qty, sell_value) in add_fills(
        carry or {}, children
    ).items():
        pos = buy_qty - sell_qty
        if pos > 0:
            avg = buy_cost / buy_qty
            out[symbol] = (pos, avg, sell_value - sell_qty * avg)
        elif pos < 0:
            avg = sell_value / sell_qty
            out[symbol] = (pos, avg, buy_qty * avg - buy_cost)
        else:
            out[symbol] = (0, 0.0, sell_value - buy_cost)
    return out
