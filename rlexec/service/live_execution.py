"""The live adapter of the execution port: an algo's plan becomes risk-checked FIX orders.

The planning (tactic prices, cancel / replace / new) is `models.port.PlannedExecution`, the
very code the replay adapter runs in training and backtests. Only `execute` differs: each
new order or replace goes through `RiskOverlay.check` / `check_replace` and, if approved,
through `OrderGate`; a cancel goes straight to the gate. Everything here is synchronous —
it runs inside the market-data message that triggered the decision.

Live-only guards, none of which can make an order bigger than the plan:
- a new order never takes the parent past its quantity counting every child still open
  (cancels in flight included), so a late fill cannot overfill the parent;
- the parent's limit price caps (buy) or floors (sell) every price;
- `max_participation` p caps what the parent may have filled plus working so that, were it
  all filled now, it would be at most p of the volume traded since the parent started (the
  others' volume, ours taken out, carried across a restart); p = 1 is no cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlexec.market.features import ExecutionState
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.models.contract import Tactic
from rlexec.models.port import (
    Cancel,
    ChildView,
    New,
    PlannedExecution,
    PlanStep,
    Replace,
    plan_rest,
    plan_take,
    tactic_price,
)
from rlexec.models.signal import SignalModel, observation
from rlexec.risk import Approval, RiskOverlay
from rlexec.risk.monitors import MonitorSet
from rlexec.service.gate import OrderGate, SendError
from rlexec.service.market import SymbolMarket
from rlexec.service.metrics import ServiceMetrics
from rlexec.service.oms import ChildOrder, ChildState, Oms

_PENDING = frozenset(
    {ChildState.PENDING_NEW, ChildState.PENDING_CANCEL, ChildState.PENDING_REPLACE}
)
_CANCELLING = ChildState.PENDING_CANCEL
_IOC = TimeInForce.IOC
_LIMIT = OrderType.LIMIT
_BUY = Side.BUY
_view = tuple.__new__
"""Builds a `ChildView` from a ready tuple in C (its generated `__new__` is a Python frame)."""


@dataclass(slots=True)
class StepOutcome:
    """What became of one plan step: for the decision audit (rendered off the hot path)."""

    step: PlanStep
    result: str
    """"sent", "denied", "capped", "skipped" or "failed"."""
    detail: str = ""
    cl_ord_id: str | None = None


@dataclass(slots=True)
class DecisionLog:
    outcomes: list[StepOutcome] = field(default_factory=list)
    plans: list[list[PlanStep]] = field(default_factory=list)
    working: list[list[ChildView]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The audit's view: the working children the first plan saw, those every later read
        of the same decision saw (a schedule's rest after its catch-up sees the catch-up in
        flight), every plan, outcomes."""
        first, *later = self.working or [[]]
        return {
            "working": _children_json(first),
            "working_later": [_children_json(views) for views in later],
            "plan": [plan_json(p) for p in self.plans],
            "outcomes": [
                [step_json(o.step), o.result, o.detail, o.cl_ord_id] for o in self.outcomes
            ],
        }


def _children_json(views: list[ChildView]) -> list[list[Any]]:
    return [[c.id, c.price, c.leaves, c.cum_qty, c.pending, c.rests] for c in views]


def step_json(s: PlanStep) -> list[Any]:
    """["Cancel", id] | ["Replace", id, qty, price] | ["New", qty, price, tif]."""
    if isinstance(s, Cancel):
        return ["Cancel", s.id]
    if isinstance(s, Replace):
        return ["Replace", s.id, s.quantity, s.price]
    return ["New", s.quantity, s.price, s.time_in_force.value]


def plan_json(steps: list[PlanStep]) -> list[list[Any]]:
    return [step_json(s) for s in steps]


class LiveExecution(PlannedExecution):
    def __init__(
        self,
        parent_id: str,
        market: SymbolMarket,
        state: ExecutionState,
        oms: Oms,
        gate: OrderGate,
        overlay: RiskOverlay,
        clock: Callable[[], int],
        metrics: ServiceMetrics,
        tick: int,
        take_collar_ticks: int = 2,
        limit_price: int | None = None,
        max_participation: float | None = None,
        monitors: MonitorSet | None = None,
        signal: SignalModel | None = None,
    ) -> None:
        self.parent_id = parent_id
        self.symbol = market.symbol
        self.market = market
        self.book = market.book
        self.side = state.side
        self.state = state
        self.oms = oms
        self.gate = gate
        self.overlay = overlay
        self.clock = clock
        self.metrics = metrics
        self.tick = tick
        self.collar = take_collar_ticks * tick
        self.limit_price = limit_price
        self.max_participation = max_participation
        self.monitors = monitors
        """Dynamic risk (issue 14): may shrink or skip a new order or a replace's growth."""
        self.signal = signal
        """The price-move signal (the policy takes it): computed only when the algo asks for
        an observation, i.e. at an RL decision, never per market-data message."""
        self.start_volume = market.volume
        self.own_volume = 0
        """Shares this parent filled since this object was built (`note_fill`)."""
        self.others_before = 0
        """Others' volume since the parent started, as recorded before a restart."""
        self.log = DecisionLog()
        self._open_at_plan = 0
        self._working_leaves = 0
        """Σ leaves of the views the last `working()` returned (what a plan is made from)."""
        self._limits: object = None
        self._max_order_qty: int | None = None
        """The symbol's max_order_qty from the overlay's limits (re-read when they change)."""

    # -- the port's reads ----------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        return self.clock()

    @property
    def market_volume(self) -> int:
        return self.market.volume - self.start_volume

    @property
    def others_volume(self) -> int:
        """The market's volume since the parent started, its own fills taken out (the prints
        of the market-data feed include ours)."""
        return max(0, self.others_before + self.market_volume - self.own_volume)

    def note_fill(self, qty: int) -> None:
        self.own_volume += qty

    def observation(self) -> list[float]:
        if self.signal is None:  # what `observation` builds without a signal, one call less
            return self.market.features.vector(self.state, self.clock())
        return observation(self.market.features, self.state, self.clock(), self.signal)

    def price_for(self, tactic: Tactic) -> int | None:
        price = tactic_price(self.book, self.side, tactic, self.tick, self.collar)
        return price if self.limit_price is None else self._within_limit(price)

    def _within_limit(self, price: int | None) -> int | None:
        limit = self.limit_price
        if price is None or limit is None:
            return price
        return min(price, limit) if self.side is Side.BUY else max(price, limit)

    def children(self) -> list[ChildOrder]:
        return self.oms.working(self.parent_id)

    def working(self) -> list[ChildView]:
        pending = _PENDING
        views: list[ChildView] = []
        append = views.append
        total = 0
        for c in self.oms.live(self.parent_id):  # non-terminal: leaves is what is not filled
            cum = c.cum_qty
            leaves = c.quantity - cum
            if leaves < 0:
                leaves = 0
            total += leaves
            state = c.state
            ioc = c.time_in_force is _IOC
            rests = state is not _CANCELLING and not ioc
            view = (c.cl_ord_id, c.price, leaves, cum, state in pending, rests, ioc)
            append(_view(ChildView, view))
        self._working_leaves = total
        self.log.working.append(views)
        return views

    def open_quantity(self) -> int:
        return sum(max(c.quantity - c.cum_qty, 0) for c in self.children())

    # -- the port's one write ------------------------------------------------------------

    def execute(self, steps: list[PlanStep]) -> None:
        """The plan's orders first, then its cancels. Both go out in this one synchronous step;
        the new order does not wait behind the cancels' encoding, and nothing is loosened by
        it: until the venue confirms a cancel, the parent's cap and the risk overlay count that
        child as open, exactly as they would had the cancel gone first."""
        log = self.log
        log.plans.append(list(steps))
        # what is open as the plan starts: the children it was made from (news go first)
        self._open_at_plan = self._working_leaves if log.working else self.open_quantity()
        for step in steps:
            if type(step) is New:
                self._new(step)
            elif type(step) is Replace:
                self._replace(step)
        for step in steps:
            if type(step) is Cancel:
                self._cancel(step)

    def cancel_all(self) -> int:
        sent = 0
        for child in self.children():
            if self.gate.cancel(child) is not None:
                sent += 1
        return sent

    def _cancel(self, step: Cancel) -> None:
        child = self.oms.get(step.id)
        request = self.gate.cancel(child) if child is not None else None
        result = "sent" if request is not None else "skipped"
        self.log.outcomes.append(StepOutcome(step, result, cl_ord_id=request))

    def _replace(self, step: Replace) -> None:
        child = self.oms.get(step.id)
        if child is None or child.state.is_terminal or child.state in _PENDING:
            self.log.outcomes.append(StepOutcome(step, "skipped", "child is done or busy"))
            return
        growth = step.quantity - child.quantity
        if self.monitors is not None and growth > 0:  # dynamic risk (issue 14): shrink growth
            allowed = self.monitors.scale(self.symbol, growth)
            if allowed < growth:
                detail = f"monitors: growth {growth} → {allowed}"
                self.log.outcomes.append(StepOutcome(step, "capped", detail))
                if allowed <= 0:
                    return
                step = Replace(step.id, child.quantity + allowed, step.price)
        leaves = step.quantity - child.cum_qty
        decision = self.overlay.check_replace(
            child.current_cl_ord_id, leaves, self._within_limit(step.price), self.clock()
        )
        if not decision.approved:
            self.metrics.risk_denied.labels(reason=decision.reason.value).inc()
            self.log.outcomes.append(StepOutcome(step, "denied", decision.message))
            return
        self._send_replace(decision, child, step)

    def _send_replace(self, approval: Approval, child: ChildOrder, step: Replace) -> None:
        try:
            cl = self.gate.replace(approval, child)
        except SendError as exc:
            self.log.outcomes.append(StepOutcome(step, "failed", str(exc)))
            return
        self.log.outcomes.append(StepOutcome(step, "sent", cl_ord_id=cl))

    def _new(self, step: New) -> None:
        quantity = step.quantity
        open_qty = self._open_at_plan
        state = self.state
        remaining = state.quantity - state.filled  # self.remaining
        room = remaining - open_qty
        p = self.max_participation
        if p is not None and p < 1:  # filled + open ≤ p × (others + filled + open)
            allowed = int(p / (1 - p) * self.others_volume)
            room = min(room, allowed - state.filled - open_qty)
        if room < quantity:
            quantity = max(0, room)
            if quantity == 0:  # nothing to ask the overlay for: not a denial, nothing sent
                self.log.outcomes.append(StepOutcome(
                    step, "skipped", f"quantity {step.quantity} → 0: the parent's quantity or "
                    "participation is taken by what is filled and open"
                ))  # fmt: skip
                return
            self.log.outcomes.append(
                StepOutcome(step, "capped", f"quantity {step.quantity} → {quantity}")
            )
        limits = self.overlay.limits
        if limits is not self._limits:  # read once per limits object, not per order
            symbol_limits = limits.symbols.get(self.symbol)
            self._max_order_qty = None if symbol_limits is None else symbol_limits.max_order_qty
            self._limits = limits
        max_qty = self._max_order_qty
        if max_qty is not None and quantity > max_qty:
            # One order per step, at most the largest the overlay allows: the rest waits
            # for the next decision (or the next horizon take), never a burst of clones.
            self.log.outcomes.append(StepOutcome(
                step, "capped", f"quantity {quantity} → max_order_qty {max_qty}"
            ))  # fmt: skip
            quantity = max_qty
        # -- dynamic risk monitors (issue 14): never more than the plan, nothing while paused
        if self.monitors is not None:
            scaled = self.monitors.scale(self.symbol, quantity)
            if scaled < quantity:
                result = "capped" if scaled > 0 else "skipped"
                detail = f"monitors: quantity {quantity} → {scaled}"
                self.log.outcomes.append(StepOutcome(step, result, detail))
                if scaled <= 0:
                    return
                quantity = scaled
        self._send_new(step, quantity)

    def _send_new(self, step: New, quantity: int) -> bool:
        order_type = step.order_type
        if order_type is not _LIMIT:
            price = None
        elif self.limit_price is None:
            price = step.price
        else:
            price = self._within_limit(step.price)
        intent = OrderIntent(
            self.symbol, self.side, quantity, order_type, price, step.time_in_force,
            self.parent_id,
        )  # fmt: skip
        decision = self.overlay.check(intent, self.clock())
        if not decision.approved:
            self.metrics.risk_denied.labels(reason=decision.reason.value).inc()
            self.log.outcomes.append(StepOutcome(step, "denied", decision.message))
            return False
        try:
            child = self.gate.send(decision, self.parent_id)
        except SendError as exc:
            self.log.outcomes.append(StepOutcome(step, "failed", str(exc)))
            return False
        self._open_at_plan += quantity
        self.log.outcomes.append(StepOutcome(step, "sent", cl_ord_id=child.cl_ord_id))
        return True

    def take_rest(self) -> None:
        """At the horizon: cancel what rests and take what is left at market (IOC), as the
        replay's `ParentExecution.complete` does — charged to the parent in both. A parent with
        a limit price takes it with an IOC limit order instead, at the far touch plus the take
        collar but never through its limit (a market order would ignore the limit): the take
        of `plan_take`, so children already resting at that price stay and the IOC is only
        for what they do not cover (and the open-quantity cap). When the limit holds that price
        behind the far touch, an IOC could not fill at all (it would die every horizon take,
        spending the rate budget): what is left rests at the limit instead (`plan_rest`, a DAY
        order kept across the horizon takes), first in line when the market comes to it."""
        working = self.working()
        if self.limit_price is None:
            steps: list[PlanStep] = [Cancel(c.id) for c in working if not c.pending]
            steps.append(New(self.remaining, None, TimeInForce.IOC, OrderType.MARKET))
        else:
            price = self.price_for(Tactic.CROSS)
            if price is None:
                price = self.limit_price
            if self.marketable(price):
                steps = plan_take(working, self.remaining, price)
            else:
                steps = plan_rest(working, self.remaining, price)
        self.execute(steps)

    def reset_log(self) -> DecisionLog:
        log, self.log = self.log, DecisionLog()
        return log
