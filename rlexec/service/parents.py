"""Parent orders: their state machine, their decision timers, and the manager that runs them.

A parent is one instruction from a trader (symbol, side, quantity, horizon, algo, optional
limit price and max participation). Its algo — the same object the backtester runs —
decides every `decision_interval_s` on the service's clock, inside the market-data message
that makes the decision due (no await between the tick and the order). At the horizon it
cancels what rests and takes the rest through the far touch, every 2 s, until done or
until `completion_patience_s` has passed (then it fails, and says how much is left). A limit
parent never takes through its limit: what rests at the limit (the market away) stays there.

The horizon is the trader's instruction, and a pause does not move it. A parent still paused
when its horizon passes ends CANCELLED ("horizon passed while paused; N of Q left"), its
working children cancelled, and takes nothing: the sweep at the horizon is for a parent that
was working. (The 100 ms housekeeping timer checks, `expire`; a resume asked after the
horizon ends the parent the same way.) A parent resumed before its horizon re-plans what is
left over the time that is left at its next decision (`Replanning.replan`): what the pause
missed is spread over the remaining slices, not caught up at once through the far touch.
Resumed inside its last slice, it goes on to its horizon completion like any parent.

Progress (`schedule_filled`, the API view, the schedule-gap gauge) is against the parent's
own schedule: a schedule algo's targets (TWAP, VWAP, Almgren–Chriss, POV's so far;
re-planned on a resume), in proportion inside a slice; an even (TWAP) schedule over the
horizon for RL and the other policy algos and for submit-and-leave, which have none.

Several parents may work at once, on different symbols or the same one; the risk overlay's
self-match check keeps opposite parents on one symbol from trading with each other.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rlexec.market.errors import RlexecError
from rlexec.market.features import ExecutionState
from rlexec.market.fsm import StateMachine, TransitionTable
from rlexec.market.orders import Side
from rlexec.market.shortfall import shortfall_bps
from rlexec.models.algos import Algo, PolicyAlgo, Replanning, ScheduleAlgo
from rlexec.models.contract import ACTIONS
from rlexec.models.port import New
from rlexec.models.signal import SignalModel
from rlexec.risk import KillState, RiskOverlay
from rlexec.risk.monitors import MonitorSet
from rlexec.service.audit import AuditLog
from rlexec.service.config import ParentSpec
from rlexec.service.gate import OrderGate
from rlexec.service.live_execution import LiveExecution
from rlexec.service.market import SymbolMarket
from rlexec.service.metrics import ServiceMetrics
from rlexec.service.oms import ChildOrder, Oms

log = logging.getLogger("rlexec.service")
_NS = 1_000_000_000
HORIZON_TAKE_EVERY_NS = 2 * _NS
"""After the horizon, what is left is taken this often (outside the overlay's duplicate window)."""


class ClientIdConflictError(RlexecError):
    """A `client_id` already names a parent submitted with a different order."""


class TradingHaltedError(RlexecError):
    """The kill switch is HALTED: no new parent (it would only run up denials, then catch up
    its whole schedule at once on the resume)."""


class ParentState(Enum):
    PENDING = "pending"
    WORKING = "working"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (ParentState.COMPLETED, ParentState.CANCELLED, ParentState.FAILED)


class ParentEvent(Enum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    CANCEL = "cancel"
    FAIL = "fail"


_P, _E = ParentState, ParentEvent
PARENT_TRANSITIONS: TransitionTable[ParentState, ParentEvent] = TransitionTable(
    "parent",
    {
        (_P.PENDING, _E.START): _P.WORKING,
        (_P.PENDING, _E.CANCEL): _P.CANCELLED,
        (_P.PENDING, _E.FAIL): _P.FAILED,
        (_P.WORKING, _E.PAUSE): _P.PAUSED,
        (_P.WORKING, _E.COMPLETE): _P.COMPLETED,
        (_P.WORKING, _E.CANCEL): _P.CANCELLED,
        (_P.WORKING, _E.FAIL): _P.FAILED,
        (_P.PAUSED, _E.RESUME): _P.WORKING,
        (_P.PAUSED, _E.COMPLETE): _P.COMPLETED,  # late fills finished it
        (_P.PAUSED, _E.CANCEL): _P.CANCELLED,
        (_P.PAUSED, _E.FAIL): _P.FAILED,
    },
)


@dataclass(slots=True)
class Parent:
    id: str
    spec: ParentSpec
    algo: Algo
    fsm: StateMachine[ParentState, ParentEvent]
    steps: int
    interval_ns: int
    created_ns: int
    ex: LiveExecution | None = None
    next_step: int = 0
    skipped_steps: int = 0
    decisions: int = 0
    children: int = 0
    fills: int = 0
    denials: int = 0
    horizon_phase: bool = False
    last_take_ns: int = 0
    horizon_takes: int = 0
    finished_ns: int | None = None
    reason: str = ""
    replan: bool = False
    """Resumed: its next decision re-plans what is left first (not kept in the state: a
    restart resumes through `resume` again)."""
    latencies_ns: list[int] = field(default_factory=list)
    """Wall time of each decision and horizon take this process made (not kept in the state);
    the market updates that found nothing due are not in it."""

    @property
    def state(self) -> ParentState:
        return self.fsm.state

    @property
    def side(self) -> Side:
        return Side.BUY if self.spec.side == "buy" else Side.SELL

    @property
    def filled(self) -> int:
        return self.ex.state.filled if self.ex is not None else 0

    @property
    def avg_price(self) -> float | None:
        """In currency (floats only at the edges)."""
        if self.ex is None or self.ex.state.avg_price is None:
            return None
        return self.ex.state.avg_price / 10_000

    @property
    def is_bps(self) -> float | None:
        if self.ex is None or not self.ex.state.filled:
            return None
        s = self.ex.state
        return shortfall_bps(s.side, s.notional / s.filled, s.arrival_mid)

    def schedule_filled(self, now_ns: int) -> int:
        """What the parent's own schedule would have filled by now: a schedule algo's targets
        (in proportion inside a slice), an even (TWAP) schedule for RL and the others."""
        if self.ex is None:
            return 0
        s = self.ex.state
        algo = self.algo
        if isinstance(algo, ScheduleAlgo):
            planned = algo.planned((now_ns - s.start_ns) / self.interval_ns)
            if planned is not None:
                return planned
        frac = (now_ns - s.start_ns) / max(1, s.end_ns - s.start_ns)
        return round(self.spec.quantity * min(1.0, max(0.0, frac)))

    def summary(self, now_ns: int) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state.value, "symbol": self.spec.symbol,
            "side": self.spec.side, "quantity": self.spec.quantity, "filled": self.filled,
            "avg_price": self.avg_price, "is_bps": self.is_bps, "algo": self.spec.algo,
            "children": self.children, "fills": self.fills, "denials": self.denials,
            "decisions": self.decisions, "schedule_filled": self.schedule_filled(now_ns),
            "arrival_mid": self.ex.state.arrival_mid / 10_000 if self.ex else None,
            "reason": self.reason,
        }  # fmt: skip


AlgoFactory = Callable[[ParentSpec], Algo]
_PENDING = ParentState.PENDING
_WORKING = ParentState.WORKING


class ParentManager:
    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        oms: Oms,
        gate: OrderGate,
        overlay: RiskOverlay,
        clock: Callable[[], int],
        metrics: ServiceMetrics,
        audit: AuditLog,
        make_algo: AlgoFactory,
        *,
        decision_interval_s: float = 15.0,
        stale_after_s: float = 5.0,
        tick: int = 100,
        lot: int = 100,
        completion_patience_s: float = 300.0,
    ) -> None:
        self.markets = markets
        self.oms = oms
        self.gate = gate
        self.overlay = overlay
        self.clock = clock
        self.metrics = metrics
        self.audit = audit
        self.make_algo = make_algo
        self.monitors: MonitorSet | None = None
        """Dynamic risk (issue 14): handed to every parent's `LiveExecution`."""
        self.signal: SignalModel | None = None
        """The price-move signal the policy takes, if any: the RL observation carries it."""
        self.interval_ns = round(decision_interval_s * _NS)
        self.stale_after_ns = round(stale_after_s * _NS)
        self.tick = tick
        self.lot = lot
        self.patience_ns = round(completion_patience_s * _NS)
        self.parents: dict[str, Parent] = {}
        self.live_on: dict[str, tuple[Parent, ...]] = {}
        """Symbol → its parents not yet terminal, in submission order: what a market-data
        message walks (a tuple, replaced on change, so a parent may finish mid-walk).
        Read-only outside this class."""
        self._ids = itertools.count(1)
        self._prefix = f"P{time.time_ns() // 1_000_000:x}-"
        self._by_client_id: dict[str, str] = {}
        self.paused_for_stale: set[str] = set()
        self.persist: Callable[[Parent], None] = _nothing
        """Called whenever a parent's state or progress changes (the state store's write-behind)."""
        self.on_new: Callable[[Parent], None] = _nothing
        """Called for a new parent (the service reserves its ClOrdID block)."""
        self.ready: Callable[[Parent], bool] = _always
        self.on_policy: Callable[[str, list[float], int | None, int], None] = _ignore_policy
        """After a decision the policy made (symbol, observation, action or None, time): the
        drift monitor and the model-trust monitor, off the tick-to-order path."""
        """Whether a pending parent may start (its ClOrdIDs are reserved)."""

    # -- commands ------------------------------------------------------------------------

    def submit(self, spec: ParentSpec) -> Parent:
        """A new parent, PENDING until its symbol's book is fresh; idempotent by client id."""
        if spec.client_id is not None and spec.client_id in self._by_client_id:
            first = self.parents[self._by_client_id[spec.client_id]]
            if first.spec != spec:
                raise ClientIdConflictError(
                    f"client_id {spec.client_id!r} is parent {first.id}, submitted with a "
                    f"different order ({first.spec.side} {first.spec.quantity} "
                    f"{first.spec.symbol} {first.spec.horizon_s:g}s {first.spec.algo})"
                )
            return first
        if spec.symbol not in self.markets:
            raise ValueError(f"symbol {spec.symbol!r} is not subscribed (--symbols)")
        if self.overlay.state is KillState.HALTED:
            raise TradingHaltedError("the kill switch is HALTED: resume trading before "
                                     "submitting a parent")  # fmt: skip
        algo = self.make_algo(spec)
        pid = f"{self._prefix}{next(self._ids)}"
        steps = max(1, round(spec.horizon_s * _NS / self.interval_ns))
        fsm = StateMachine(PARENT_TRANSITIONS, ParentState.PENDING, pid)
        parent = Parent(pid, spec, algo, fsm, steps, self.interval_ns, self.clock())
        self.adopt(parent)
        self.on_new(parent)
        self.persist(parent)
        log.info("event=parent_submitted parent=%s symbol=%s side=%s quantity=%d horizon_s=%g "
                 "algo=%s steps=%d", pid, spec.symbol, spec.side, spec.quantity, spec.horizon_s,
                 spec.algo, steps)  # fmt: skip
        self._gauge()
        self.on_market(spec.symbol, self.clock())
        return parent

    def adopt(self, parent: Parent) -> None:
        """Register a parent (new, or restored after a restart)."""
        self.parents[parent.id] = parent
        if parent.spec.client_id is not None:
            self._by_client_id[parent.spec.client_id] = parent.id
        if not parent.state.is_terminal:  # terminal states are final: such a parent never trades
            symbol = parent.spec.symbol
            self.live_on[symbol] = (*self.live_on.get(symbol, ()), parent)

    def discard(self, parents: Iterable[Parent]) -> None:
        """Forget parents that are over and archived: they leave the API's list, and their
        client ids may be used again."""
        gone = list(parents)
        for parent in gone:
            if self.parents.get(parent.id) is not parent:
                raise KeyError(parent.id)
            if not parent.state.is_terminal:
                raise ValueError(f"parent {parent.id} is {parent.state.value}: only a parent "
                                 "that is over can be archived")  # fmt: skip
        for parent in gone:
            del self.parents[parent.id]
            client_id = parent.spec.client_id
            if client_id is not None and self._by_client_id.get(client_id) == parent.id:
                del self._by_client_id[client_id]
            self.paused_for_stale.discard(parent.id)
        self._gauge()

    def execution(
        self, parent: Parent, market: SymbolMarket, state: ExecutionState
    ) -> LiveExecution:
        spec = parent.spec
        limit = None
        if spec.limit_price is not None:  # on the tick grid, never beyond the given price
            limit = round(spec.limit_price * 10_000)
            limit = (
                limit // self.tick if spec.side == "buy" else -(-limit // self.tick)
            ) * self.tick
        return LiveExecution(
            parent.id, market, state, self.oms, self.gate, self.overlay, self.clock,
            self.metrics, self.tick, limit_price=limit, max_participation=spec.max_participation,
            monitors=self.monitors, signal=self.signal,
        )  # fmt: skip

    def pause(self, pid: str, why: str = "requested") -> Parent:
        parent = self.parents[pid]
        parent.fsm.fire(ParentEvent.PAUSE)
        parent.reason = why  # kept in the state: an operator's pause outlives a restart
        if parent.ex is not None:
            parent.ex.cancel_all()
        log.info("event=parent_paused parent=%s why=%r", pid, why)
        self.persist(parent)
        self._gauge()
        return parent

    def resume(self, pid: str) -> Parent:
        """Back to work, re-planning what is left at the next decision; a parent whose
        horizon passed while it was paused ends instead (CANCELLED, `expire`)."""
        parent = self.parents[pid]
        now_ns = self.clock()
        if parent.state is ParentState.PAUSED and self._expired(parent, now_ns):
            self._expire(parent)
            return parent
        parent.fsm.fire(ParentEvent.RESUME)
        parent.reason = ""
        parent.replan = parent.ex is not None
        log.info("event=parent_resumed parent=%s", pid)
        self.persist(parent)
        self._gauge()
        self.on_market(parent.spec.symbol, self.clock())
        return parent

    def cancel(self, pid: str, why: str = "requested") -> Parent:
        parent = self.parents[pid]
        if not parent.state.is_terminal:
            self._finish(parent, ParentEvent.CANCEL, why)
        return parent

    def cancel_all(self, why: str) -> int:
        n = 0
        for parent in list(self.parents.values()):
            if not parent.state.is_terminal:
                self._finish(parent, ParentEvent.CANCEL, why)
                n += 1
        return n

    def pause_all(self, why: str) -> None:
        for parent in self.parents.values():
            if parent.state is ParentState.WORKING:
                self.pause(parent.id, why)

    def expire(self, now_ns: int) -> int:
        """End every parent still paused past its horizon, and every one still pending a horizon
        after it was submitted (its market never fresh): the trader's window is over, and a
        late start would work the order in another. The housekeeping timer's, never market
        data's; how many ended."""
        paused = [
            p
            for parents in self.live_on.values()
            for p in parents
            if p.fsm.state is ParentState.PAUSED and self._expired(p, now_ns)
        ]
        for parent in paused:
            self._expire(parent)
        pending = [
            p
            for parents in self.live_on.values()
            for p in parents
            if p.fsm.state is _PENDING and self._never_started(p, now_ns)
        ]
        for parent in pending:
            self._expire_pending(parent)
        return len(paused) + len(pending)

    def active(self) -> list[Parent]:
        return [p for p in self.parents.values() if not p.state.is_terminal]

    # -- events --------------------------------------------------------------------------

    def on_market(self, symbol: str, now_ns: int) -> None:
        """Run every decision of `symbol` that is due. Synchronous: the hot path."""
        market = self.markets.get(symbol)
        if market is None:
            return
        for parent in self.live_on.get(symbol, ()):
            state = parent.fsm.state
            try:  # free unless it raises: one broken parent must not stop the market data
                if state is _WORKING:
                    self._step(parent, market, now_ns)
                elif (
                    state is _PENDING
                    and market.fresh(now_ns, self.stale_after_ns)
                    and self.ready(parent)
                ):
                    self._start(parent, market, now_ns)
            except Exception as exc:
                self._broken(parent, "start" if state is _PENDING else "decision", exc)

    def on_fill(self, child: ChildOrder, qty: int, price: int) -> None:
        parent = self.parents.get(child.parent_id or "")
        if parent is None or parent.ex is None:
            return
        parent.ex.state.record_fill(price, qty)
        parent.ex.note_fill(qty)
        parent.fills += 1
        self.persist(parent)
        if parent.ex.state.filled >= parent.spec.quantity and not parent.state.is_terminal:
            if parent.ex.state.filled > parent.spec.quantity:
                log.error("event=parent_overfilled parent=%s filled=%d quantity=%d", parent.id,
                          parent.ex.state.filled, parent.spec.quantity)  # fmt: skip
            self._finish(parent, ParentEvent.COMPLETE, "filled")

    # -- internals -----------------------------------------------------------------------

    def _start(self, parent: Parent, market: SymbolMarket, now_ns: int) -> None:
        mid = market.book.mid
        if mid is None:
            return
        spec = parent.spec
        state = ExecutionState(parent.side, spec.quantity, now_ns,
                               now_ns + round(spec.horizon_s * _NS), float(mid))  # fmt: skip
        parent.ex = self.execution(parent, market, state)
        parent.fsm.fire(ParentEvent.START)
        self.persist(parent)
        parent.algo.start(parent.ex, parent.steps, parent.interval_ns / _NS)
        log.info("event=parent_started parent=%s arrival_mid=%.4f", parent.id, mid / 10_000)
        self._gauge()
        self._step(parent, market, now_ns)

    def _step(self, parent: Parent, market: SymbolMarket, now_ns: int) -> None:
        ex = parent.ex
        assert ex is not None
        state = ex.state
        if state.quantity - state.filled <= 0:  # ex.remaining
            return
        due = (now_ns - state.start_ns) // parent.interval_ns
        if due < parent.next_step and not parent.horizon_phase:
            return
        if not market.fresh(now_ns, self.stale_after_ns):
            if parent.id not in self.paused_for_stale:
                self.paused_for_stale.add(parent.id)
                log.warning("event=decision_paused parent=%s reason=%r", parent.id,
                            market.unfresh_reason(now_ns, self.stale_after_ns))  # fmt: skip
            if now_ns > state.end_ns + self.patience_ns:  # the end needs no market data
                self._horizon(parent, ex, now_ns)
            return
        if parent.id in self.paused_for_stale:
            self.paused_for_stale.discard(parent.id)
            log.info("event=decision_resumed parent=%s", parent.id)
        started = time.perf_counter_ns()
        if due >= parent.steps:
            if not self._horizon(parent, ex, now_ns):
                return  # nothing decided (between takes): not a latency sample
        else:
            if due > parent.next_step:
                parent.skipped_steps += due - parent.next_step
            if parent.replan:
                self._replan(parent, ex, int(due))
            self._decide(parent, ex, int(due), now_ns)
            parent.next_step = int(due) + 1
            self.persist(parent)
        parent.latencies_ns.append(time.perf_counter_ns() - started)

    def _replan(self, parent: Parent, ex: LiveExecution, step: int) -> None:
        """The first decision after a resume: what is left over the slices that are left."""
        parent.replan = False
        algo = parent.algo
        if isinstance(algo, Replanning):
            algo.replan(ex, step, parent.steps, parent.interval_ns / _NS)
        self.metrics.parents_replanned.inc()
        log.info("event=parent_replanned parent=%s step=%d steps=%d remaining=%d", parent.id,
                 step, parent.steps, ex.remaining)  # fmt: skip

    def _decide(self, parent: Parent, ex: LiveExecution, step: int, now_ns: int) -> None:
        bids, asks = ex.book.bid_prices, ex.book.ask_prices
        touch = (bids[-1] if bids else None, asks[0] if asks else None)  # best bid, best ask
        remaining = ex.state.quantity - ex.state.filled  # ex.remaining
        algo = parent.algo
        distrusted = algo.distrusted if isinstance(algo, PolicyAlgo) else 0
        algo.decide(ex, step, parent.steps)
        # everything below runs after the decision's orders are on the wire
        parent.decisions += 1
        record = self._record(parent, ex, step, now_ns, remaining, touch)
        if isinstance(algo, PolicyAlgo):
            record["observation"] = algo.last_observation
            record["action"] = algo.last_action
            consulted = algo.distrusted == distrusted
            # why an RL parent traded as it did: its policy's action, or the schedule because
            # the risk monitors distrust the policy, or because its output was unusable
            record["policy"] = (
                "distrusted" if not consulted
                else "invalid" if algo.last_action is None
                else "consulted"
            )  # fmt: skip
            if consulted:
                self.on_policy(parent.spec.symbol, algo.last_observation, algo.last_action, now_ns)
            if not consulted:
                self.metrics.fallback_distrusted.inc()
            elif algo.last_action is None:
                self.metrics.fallback_invalid.inc()
            else:
                self.metrics.action_children[algo.last_action].inc()
                self.metrics.decisions_by_tactic[ACTIONS[algo.last_action].tactic].inc()
        else:
            counter = self.metrics.decision_schedule.get(parent.spec.algo)
            if counter is not None:
                counter.inc()
        self.audit.append(record)

    def _horizon(self, parent: Parent, ex: LiveExecution, now_ns: int) -> bool:
        """Past the last slice: take what is left, at most every `HORIZON_TAKE_EVERY_NS`;
        whether it took (every market update asks, and most are between takes)."""
        if now_ns > ex.state.end_ns + self.patience_ns:
            self._finish(parent, ParentEvent.FAIL,
                         f"horizon passed with {ex.remaining} of {parent.spec.quantity} left")  # fmt: skip
            return False
        first = not parent.horizon_phase
        if not first and now_ns - parent.last_take_ns < HORIZON_TAKE_EVERY_NS:
            return False
        parent.horizon_phase = True
        parent.horizon_takes += 1
        parent.last_take_ns = now_ns
        touch = (ex.book.best_bid, ex.book.best_ask)
        remaining = ex.remaining
        ex.take_rest()
        record = self._record(parent, ex, parent.steps, now_ns, remaining, touch)
        record["horizon"] = True
        self.audit.append(record)
        return True

    @staticmethod
    def _expired(parent: Parent, now_ns: int) -> bool:
        return parent.ex is not None and now_ns >= parent.ex.state.end_ns

    def _expire(self, parent: Parent) -> None:
        """Paused past its horizon: CANCELLED, its children cancelled, nothing taken."""
        left = parent.spec.quantity - parent.filled
        why = f"horizon passed while paused; {left} of {parent.spec.quantity} left"
        log.warning("event=parent_expired parent=%s state=paused left=%d quantity=%d "
                    "paused_for=%r", parent.id, left, parent.spec.quantity,
                    parent.reason)  # fmt: skip
        self.metrics.parents_expired.labels(state="paused").inc()
        self._finish(parent, ParentEvent.CANCEL, why)

    @staticmethod
    def _never_started(parent: Parent, now_ns: int) -> bool:
        """Pending a whole horizon since it was submitted (a parent submitted before the
        clock had a time, `created_ns` 0, is not judged: its window has no start)."""
        created = parent.created_ns
        return created > 0 and now_ns >= created + round(parent.spec.horizon_s * _NS)

    def _expire_pending(self, parent: Parent) -> None:
        """Never started within its horizon: CANCELLED, with what kept it waiting."""
        symbol = parent.spec.symbol
        market = self.markets.get(symbol)
        waiting = market.stale_reason if market is not None else None
        why = (f"horizon passed before it could start ({parent.spec.horizon_s:g} s since it "
               f"was submitted): " + (f"market data for {symbol} not fresh ({waiting})"
                                      if waiting else "not ready to trade"))  # fmt: skip
        log.warning("event=parent_expired parent=%s state=pending quantity=%d waiting=%r",
                    parent.id, parent.spec.quantity, waiting)  # fmt: skip
        self.metrics.parents_expired.labels(state="pending").inc()
        self._finish(parent, ParentEvent.CANCEL, why)

    def _record(
        self, parent: Parent, ex: LiveExecution, step: int, now_ns: int, remaining: int,
        touch: tuple[int | None, int | None],
    ) -> dict[str, Any]:  # fmt: skip
        log_ = ex.reset_log()
        outcomes = log_.outcomes
        sent = sum(1 for o in outcomes if o.result == "sent" and type(o.step) is New)
        denied = sum(1 for o in outcomes if o.result == "denied")
        parent.children += sent
        parent.denials += denied
        return {
            "ts_ns": now_ns, "parent": parent.id, "symbol": parent.spec.symbol,
            "side": parent.spec.side, "algo": parent.spec.algo, "step": step,
            "steps": parent.steps, "remaining": remaining, "lot": self.lot,
            "bid": touch[0], "ask": touch[1], "tick": ex.tick, "collar": ex.collar,
            "limit_price": ex.limit_price, "decision": log_,
        }  # fmt: skip

    def _broken(self, parent: Parent, stage: str, exc: Exception) -> None:
        """`parent`'s start or decision raised: it fails (its working children cancelled), the
        error is logged with its traceback, and the other parents carry on."""
        why = f"{stage} failed: {type(exc).__name__}: {exc}"
        log.error("event=parent_error parent=%s stage=%s error=%r", parent.id, stage,
                  f"{type(exc).__name__}: {exc}", exc_info=exc)  # fmt: skip
        if parent.state.is_terminal:  # it raised after it had finished: nothing left to end
            return
        try:
            self._finish(parent, ParentEvent.FAIL, why)
        except Exception as again:  # never into the caller (the market-data callback)
            log.error("event=parent_fail_error parent=%s error=%r", parent.id,
                      f"{type(again).__name__}: {again}", exc_info=again)  # fmt: skip

    def _finish(self, parent: Parent, event: ParentEvent, why: str) -> None:
        parent.fsm.fire(event)
        symbol = parent.spec.symbol
        rest = tuple(p for p in self.live_on.get(symbol, ()) if p is not parent)
        if rest:
            self.live_on[symbol] = rest
        else:  # no parent works the symbol now: market data need not ask
            self.live_on.pop(symbol, None)
        parent.reason = why
        parent.finished_ns = self.clock()
        if parent.ex is not None:
            parent.ex.cancel_all()
        log.info("event=parent_%s parent=%s filled=%d quantity=%d is_bps=%s why=%r",
                 parent.state.value, parent.id, parent.filled, parent.spec.quantity,
                 None if parent.is_bps is None else round(parent.is_bps, 3), why)  # fmt: skip
        self.persist(parent)
        self._gauge()

    def _gauge(self) -> None:
        counts = dict.fromkeys(ParentState, 0)
        for p in self.parents.values():
            counts[p.state] += 1
        for state, n in counts.items():
            self.metrics.parents.labels(state=state.value).set(n)


def _nothing(parent: Parent) -> None:
    return None


def _always(parent: Parent) -> bool:
    return True


def _ignore_policy(symbol: str, observation: list[float], action: int | None, now_ns: int) -> None:
    return None
