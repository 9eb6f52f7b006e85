"""The replay adapter with the risk monitors wired in as the live service wires them.

`MonitoredReplay` tees the replay's market data into a `MonitorSet` (one `on_book` per
timestamp, every print, the 100 ms timer on market time); `MonitoredExecution` applies the
set to the plan as `LiveExecution` does: a New is scaled down (0 when paused), a Replace
may not grow beyond its scaled growth, and nothing new goes out once the kill switch has
left ACTIVE. Fills reach the monitors' loss ledger as the execution sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlexec.market.book import L2Book
from rlexec.market.events import MarketEvent, Trade
from rlexec.market.orders import OrderType, TimeInForce
from rlexec.models.algos import Algo
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.execution import ParentExecution
from rlexec.models.port import ChildView, New, PlanStep, Replace
from rlexec.models.runner import FEATURE_WARMUP_S, replay_config
from rlexec.risk import KillState, RiskOverlay
from rlexec.risk.monitors import MonitorSet
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay

NS = 1_000_000_000
TIMER_NS = 100_000_000
HORIZON_PATIENCE_S = 300
"""As `ParentExecution.complete`: the rest is taken for up to this long after the horizon."""


class MonitoredReplay(MarketReplay):
    monitors: MonitorSet | None = None
    symbol = ""
    _book: L2Book | None = None
    _timer_ns = 0

    def market_events(self) -> list[MarketEvent]:
        events = super().market_events()
        monitors = self.monitors
        if monitors is None:
            return events
        book = self._book
        if book is None:
            book = self._book = L2Book()
            book.apply_snapshot(self.snapshot())
        symbol = self.symbol
        pending_ts: int | None = None
        for event in events:
            ts = event.ts_ns
            if pending_ts is not None and ts != pending_ts:
                monitors.on_book(symbol, book, pending_ts)
                pending_ts = None
            if ts - self._timer_ns >= TIMER_NS:
                self._timer_ns = ts
                monitors.on_time(ts)
            if type(event) is Trade:
                monitors.on_trade(symbol, event, ts)
            else:
                book.apply(event)
                pending_ts = ts
        if pending_ts is not None:
            monitors.on_book(symbol, book, pending_ts)
        return events


class MonitoredExecution(ParentExecution):
    monitors: MonitorSet | None = None
    overlay: RiskOverlay | None = None
    symbol = ""
    held_back = 0
    """Shares the monitors (or a kill switch away from ACTIVE) kept off the market."""
    loosenings = 0
    """Steps sent larger than the plan asked: must stay 0."""
    timeline: list[tuple[int, int]]
    """(market time, shares filled so far) after every batch of fills."""

    def filled_by(self, ts_ns: int) -> int:
        return max((f for t, f in self.timeline if t <= ts_ns), default=0)

    def execute(self, steps: list[PlanStep]) -> None:
        out: list[PlanStep] = []
        views = {c.id: c for c in self.working()} if self.monitors is not None else {}
        for step in steps:
            capped = self._cap(step, views)
            if capped is not None:
                out.append(capped)
        before = (self.state.filled, (self.state.avg_price or 0.0) * self.state.filled)
        super().execute(out)
        self._report_fills(before)

    def advance_to(self, ts_ns: int) -> None:
        before = (self.state.filled, (self.state.avg_price or 0.0) * self.state.filled)
        super().advance_to(ts_ns)
        self._report_fills(before)

    def _cap(self, step: PlanStep, views: dict[str, ChildView]) -> PlanStep | None:
        m = self.monitors
        if m is None:
            return step
        blocked = self.overlay is not None and self.overlay.state is not KillState.ACTIVE
        if type(step) is New:
            qty = 0 if blocked else m.scale(self.symbol, step.quantity)
            self.held_back += step.quantity - qty
            self.loosenings += qty > step.quantity
            return None if qty <= 0 else New(qty, step.price, step.time_in_force, step.order_type)
        if type(step) is Replace:
            view = views.get(step.id)
            if view is None:
                return step
            current = view.cum_qty + view.leaves
            growth = step.quantity - current
            if growth <= 0:
                return step
            allowed = 0 if blocked else m.scale(self.symbol, growth)
            self.held_back += growth - allowed
            return None if allowed <= 0 else Replace(step.id, current + allowed, step.price)
        return step

    def _report_fills(self, before: tuple[int, float]) -> None:
        m = self.monitors
        filled = self.state.filled
        if filled <= before[0]:
            return
        self.timeline.append((self.now_ns, filled))
        if m is None:
            return
        qty = filled - before[0]
        notional = (self.state.avg_price or 0.0) * filled - before[1]
        m.on_fill(self.symbol, self.side, qty, round(notional / qty), self.now_ns)


@dataclass
class Outcome:
    filled: int
    is_bps: float
    held_back: int
    loosenings: int


def run_monitored(
    data: ReplayData,
    spec: EpisodeSpec,
    algo: Algo,
    monitors: MonitorSet | None,
    overlay: RiskOverlay | None = None,
) -> tuple[MonitoredExecution, Outcome]:
    """One episode as `models.runner.run_episode` runs it, with the monitors in the loop.

    At the horizon the unmonitored run completes at market (as the backtester does); the
    monitored run takes the rest through the same caps every second (for up to
    `HORIZON_PATIENCE_S`), as the live horizon phase repeats `LiveExecution.take_rest`.
    """
    begin = max(data.start_ns, spec.start_ns - round(FEATURE_WARMUP_S * NS))
    replay = MonitoredReplay(data, replay_config(), start_ns=begin)
    replay.symbol = data.symbol
    replay.monitors = monitors
    ex = MonitoredExecution(replay, spec.side, spec.quantity, spec.horizon_s)
    ex.symbol = data.symbol
    ex.timeline = []
    ex.monitors = monitors
    ex.overlay = overlay
    if begin < spec.start_ns:
        ex.advance_to(spec.start_ns)
        ex.start_now(spec.horizon_s)
    steps = spec.steps
    algo.start(ex, steps, spec.interval_s)
    start = ex.state.start_ns
    for step in range(steps):
        ex.mark_decision()
        algo.decide(ex, step, steps)
        ex.advance_to(start + round((step + 1) * spec.interval_s * NS))
    if monitors is None:
        ex.complete()
    else:  # the live horizon phase: cancel, then take the rest through the caps every second
        ex.cancel_all()
        for _ in range(HORIZON_PATIENCE_S):
            ex.execute([New(ex.remaining, None, TimeInForce.IOC, OrderType.MARKET)])
            if not ex.remaining:
                break
            ex.advance_to(ex.now_ns + NS)
    c = ex.costs()
    return ex, Outcome(c.filled, c.is_bps, ex.held_back, ex.loosenings)
