"""Work one parent order inside an in-process venue replay: the replay adapter of the
execution port (`models.port`).

The training environment, every backtest baseline and the RL policy trade through this one
class, so they all meet the same queue model, the same fills and the same costs; the live
service's adapter shares its planning code (`PlannedExecution`). It sees the market as the
live service does — level updates and prints of the simulated displayed book, applied to a
`market` L2 book and feature builder — never the replay's internals.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.features import ExecutionState, FeatureBuilder, FeatureConfig
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.market.signal_features import SignalConfig, SignalFeatureBuilder
from rlexec.models.port import Cancel, ChildView, New, PlannedExecution, PlanStep, Replace
from rlexec.models.signal import SignalModel, observation
from rlexec.simulator.orders import ExecReport, Report
from rlexec.simulator.replay import MarketReplay

AGENT = "agent"


@dataclass(frozen=True, slots=True)
class ExecutionCosts:
    filled: int
    avg_price: float
    is_bps: float
    impact_bps: float
    forced_qty: int


class ParentExecution(PlannedExecution):
    """A parent order being worked in the replay: place child orders, advance time, account
    for fills."""

    def __init__(
        self,
        replay: MarketReplay,
        side: Side,
        quantity: int,
        horizon_s: float,
        features: FeatureConfig | None = None,
        take_collar_ticks: int = 2,
        signal: SignalModel | None = None,
        signal_features: SignalConfig | None = None,
    ) -> None:
        """`signal`: the policy takes the price-move signal (its observation gains
        `signal_adverse_bps`); `signal_features`: keep the signal's features without a model
        (the signal's own dataset)."""
        if not replay.config.market_data:
            raise ValueError("the replay must collect market data (ReplayConfig.market_data=True)")
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, got {quantity}")
        self.replay = replay
        self.side = side
        self.tick = replay.config.tick_size
        self.collar = take_collar_ticks * self.tick
        self.book = L2Book()
        self.market_volume = 0
        """Shares printed since the start, ours included."""
        config = features or FeatureConfig(tick_size=self.tick)
        self.signal = signal
        if signal is not None and signal_features is None:
            signal_features = signal.feature_config
        self.features = (
            FeatureBuilder(self.book, config)
            if signal_features is None
            else SignalFeatureBuilder(self.book, config, signal_features)
        )
        # Like a market-data subscriber: a snapshot first, then the incremental updates.
        snapshot = replay.snapshot()
        replay.market_events()
        self.book.apply_snapshot(snapshot)
        self.features.on_event(snapshot)
        arrival = self.book.mid if self.book.mid is not None else replay.reference_mid
        if arrival is None:
            raise ValueError("no two-sided market at the start of the episode")
        self._working: set[int] = set()
        self.rejects = 0
        self.state = self._begin(quantity, horizon_s, float(arrival))

    def _begin(self, quantity: int, horizon_s: float, arrival: float) -> ExecutionState:
        now = self.replay.now_ns
        self.decision_mid = arrival
        self._mark = arrival
        self._impact_num = 0.0
        self.forced_qty = 0
        return ExecutionState(self.side, quantity, now, now + round(horizon_s * 1e9), arrival)

    def start_now(self, horizon_s: float) -> None:
        """Start the parent order's clock here, after the features have watched the market
        for a while: arrival mid, horizon and costs all count from now."""
        if self.state.filled or self._working:
            raise RuntimeError("the parent order has already traded; it cannot restart")
        arrival = self.book.mid if self.book.mid is not None else self.replay.reference_mid
        if arrival is None:
            raise ValueError("no two-sided market at the start of the episode")
        self.state = self._begin(self.state.quantity, horizon_s, float(arrival))

    # -- views -----------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        return self.replay.now_ns

    @property
    def done(self) -> bool:
        return self.remaining <= 0

    def observation(self) -> list[float]:
        return observation(self.features, self.state, self.now_ns, self.signal)

    def costs(self) -> ExecutionCosts:
        s = self.state
        avg = s.avg_price or 0.0
        return ExecutionCosts(
            filled=s.filled,
            avg_price=avg,
            is_bps=s.shortfall_bps(),
            impact_bps=self._impact_num / (s.filled * s.arrival_mid) * 1e4 if s.filled else 0.0,
            forced_qty=self.forced_qty,
        )

    def marked_cost_bps(self) -> float:
        """Shortfall of the fills so far plus what remains marked to the mid, in bps of the
        whole parent: it ends equal to the IS once everything is filled."""
        s = self.state
        mid = self.book.mid
        if mid is not None:
            self._mark = mid
        filled = s.shortfall_bps() * s.filled / s.quantity
        marked = int(self.side) * (self._mark - s.arrival_mid) / s.arrival_mid * 1e4
        return filled + marked * self.remaining / s.quantity

    # -- actions ---------------------------------------------------------------------------

    def mark_decision(self) -> None:
        """Remember the mid at which the coming child orders are decided (for impact cost)."""
        mid = self.book.mid
        if mid is not None:
            self.decision_mid = mid

    def working(self) -> list[ChildView]:
        views: list[ChildView] = []
        for oid in sorted(self._working):  # oldest first: they hold the best queue positions
            order = self.replay.order(oid)
            if order is None or order.status.is_done:
                self._working.discard(oid)
                continue
            views.append(ChildView(str(oid), order.price, order.leaves, order.cum_qty))
        return views

    def execute(self, steps: list[PlanStep]) -> None:
        replay = self.replay
        cancels = [s.id for s in steps if type(s) is Cancel]
        last = steps[-1] if steps else None
        take = type(last) is New and last.time_in_force is TimeInForce.IOC
        if take and cancels and len(cancels) == len(self._working):
            self.cancel_all()  # a take clears the side in one mass cancel
            steps = [s for s in steps if type(s) is not Cancel]
        for step in steps:
            if type(step) is Cancel:
                self._absorb(replay.cancel(AGENT, int(step.id)))
            elif type(step) is Replace:
                self._absorb(replay.replace(AGENT, int(step.id), quantity=step.quantity))
            elif type(step) is New:
                self._absorb(replay.submit(AGENT, self.side, step.quantity, step.price,
                                           step.order_type, step.time_in_force))  # fmt: skip

    def cancel_all(self) -> None:
        if self._working:
            self._absorb(self.replay.cancel_all(AGENT))
            self._working.clear()

    def advance_to(self, ts_ns: int) -> None:
        self._absorb(self.replay.advance_to(ts_ns))

    def complete(self, patience_s: int = 300) -> None:
        """At the horizon: cancel what rests and take the remainder at market (charged).

        A sweep can exhaust the displayed and synthetic depth; the rest is then taken as the
        market refills, one second at a time, for up to `patience_s` — all of it charged.
        """
        self.cancel_all()
        self.mark_decision()
        for _ in range(patience_s + 1):
            before = self.remaining
            if not before:
                return
            self._absorb(self.replay.submit(AGENT, self.side, before, None, OrderType.MARKET,
                                            TimeInForce.IOC))  # fmt: skip
            self.forced_qty += before - self.remaining
            if self.remaining:
                self.advance_to(self.now_ns + 1_000_000_000)
        raise RuntimeError(
            f"could not complete {self.remaining} shares within {patience_s} s of the horizon"
        )

    # -- bookkeeping -----------------------------------------------------------------------

    def _absorb(self, reports: list[Report]) -> None:
        side = int(self.side)
        for r in reports:
            if type(r) is not ExecReport or r.client_id != AGENT:
                continue
            if r.is_fill:
                self.state.record_fill(r.last_price, r.last_qty)
                self._impact_num += side * (r.last_price - self.decision_mid) * r.last_qty
            if r.status.is_done:
                self._working.discard(r.order_id)
                if r.reject_code is not None:
                    self.rejects += 1
            else:  # an IOC's NEW is followed in the same batch by its done report
                self._working.add(r.order_id)
        self._absorb_market()

    def _absorb_market(self) -> None:
        apply = self.book.apply
        on_event = self.features.on_event
        for event in self.replay.market_events():
            apply(event)
            on_event(event)
            if type(event) is Trade:
                self.market_volume += event.size
