"""Execution algorithms as decision rules over the execution port: the baselines and RL.

Written once against `port.ExecutionPort`, they run unchanged in the replay (training,
backtests) and in the live service. Each `decide` call is one decision point: it may
cross, rest or cancel child orders, and the runner then lets the market run until the
next one. The tactics are stated here and
copied into every backtest report:

- schedule algos (TWAP, VWAP, Almgren–Chriss, POV): at each decision, first take (IOC
  limit through the far touch) whatever earlier slices left unfilled, then rest the
  current slice at our touch; anything left at the horizon is completed at market. (Live,
  a limit price that holds the take back to the resting price makes the take pointless:
  the shortfall then rests with the slice, keeping its queue position.)
- twap_inside: the same, resting one tick inside the spread instead of at the touch.
- passive_first: TWAP targets, everything due by the end of the slice resting one tick
  inside; it takes only the part of its deficit beyond a tolerance (10 % of the parent).
- submit-and-leave: one limit order at the touch for the whole parent at the start,
  never re-priced; the remainder crossed at the horizon (Nevmyvaka, Feng & Kearns 2006).
- RL: the policy picks a multiple of the even rate and a tactic (rest at the touch, rest
  one tick inside, or take) at each decision; a missing or invalid answer falls back to
  the TWAP rule for that decision. best_constant is the same with one fixed action.

Live only (the replay has no pause): a parent resumed after a pause calls `replan` before
its next decision. A schedule algo then spreads what is left over the slices that are left
(VWAP by the profile of the time left, Almgren–Chriss by a new trajectory, POV from its
expected volume again); what the pause missed is not caught up. The RL rate is a multiple of
what is left over the time left already; its TWAP fallback is re-planned the same way.
`ScheduleAlgo.planned` is a schedule algo's own target, what a parent's progress is
reported against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Protocol, runtime_checkable

import numpy as np

from rlexec.models.contract import ACTIONS, Action, Tactic
from rlexec.models.market_stats import MarketStats
from rlexec.models.port import ExecutionPort
from rlexec.models.schedules import almgren_chriss, pov_quantity, twap, vwap
from rlexec.models.signal import SignalModel
from rlexec.models.volume_profile import IntradayProfile

PASSIVE_FIRST_TOLERANCE = 0.10
"""How far (fraction of the parent) passive_first may fall behind its TWAP targets before it
takes anything."""
TAKE = "take (IOC, 2 ticks through the far touch)"
HORIZON = "market order for the rest at the horizon"
SCHEDULE_TACTIC = (
    f"rest the slice at our touch; {TAKE} earlier slices' unfilled shares at the next "
    f"decision; {HORIZON}"
)
TACTICS: dict[str, str] = {
    "twap": "equal slices; " + SCHEDULE_TACTIC,
    "twap_inside": "equal slices; rest the slice one tick inside the spread (at our touch when "
    f"the spread is one tick); {TAKE} earlier slices' unfilled shares at the next decision; "
    + HORIZON,
    "passive_first": "TWAP targets; rest everything due by the end of the current slice one "
    "tick inside the spread (at our touch when the spread is one tick), earlier shortfall "
    f"included; {TAKE} only the part of the shortfall beyond "
    f"{PASSIVE_FIRST_TOLERANCE:.0%} of the parent, never the rest; " + HORIZON,
    "vwap": "slices ∝ an intraday volume profile by time of day: the other tickers' whole-session "
    "curve (30-min buckets, interpolated between bucket centres) blended with this ticker's "
    "training-window buckets, never its test window (sources in meta); " + SCHEDULE_TACTIC,
    "pov": "slice = participation × the market volume of the last interval (rate = parent / "
    "expected horizon volume); " + SCHEDULE_TACTIC,
    "ac": "Almgren–Chriss trajectory (σ, η from the training window; risk aversion λ set so "
    "that κT = 1 on the shortest episode horizon, κT ≥ 1 on all; λ, κ in meta); " + SCHEDULE_TACTIC,
    "ac_neutral": "Almgren–Chriss with λ = 0: the linear trajectory, which in this model is "
    "exactly TWAP's schedule, worked with TWAP's tactic — identical to twap by construction "
    "(a check of the Almgren–Chriss machinery, not a separate strategy); " + SCHEDULE_TACTIC,
    "sal": f"submit and leave: one limit at our touch for the whole parent, never re-priced; {HORIZON}",
    "best_constant": "one of the 15 policy actions (rate × even rate, tactic) taken at every "
    "decision: the one that scored best as a fixed rule on training-window episodes (choice, "
    f"criterion and every action's score in meta); no other catch-up; {HORIZON}",
    "rl": "policy: rate ∈ {0, ½, 1, 1½, 2} × even rate, tactic ∈ {rest at touch, rest one tick "
    f"inside, take}}; TWAP rule if the policy has no valid answer; {HORIZON}",
    "rl_signal": "the ablation arm: rl's training (same settings, seed, steps) with the "
    "price-move signal's prediction as one more observation feature; rl's tactic otherwise",
    "random": "uniformly random policy actions (a sanity floor)",
}


PolicyFn = Callable[[Sequence[float]], int | None]
"""Observation (the feature contract, raw) → action index, or None for no valid answer."""


class Algo(Protocol):
    name: str

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None: ...
    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None: ...


@runtime_checkable
class Replanning(Protocol):
    """An algo that can start over from a later step (live: a parent resumed after a pause)."""

    def replan(self, ex: ExecutionPort, step: int, steps: int, interval_s: float) -> None:
        """Before the decision of `step`: what is left over steps `step`..`steps` - 1, with
        nothing behind (the steps before it are not caught up)."""


def action_quantity(action: Action, remaining: int, step: int, steps: int, lot: int) -> int:
    """What one RL action's `rate` means in shares: `rate` × the even rate, in whole lots."""
    left = max(1, steps - step)
    want = action.rate * remaining / left
    qty = round(want / lot) * lot if remaining >= lot else remaining
    return min(qty, remaining)


def apply_action(ex: ExecutionPort, action: Action, step: int, steps: int, lot: int) -> None:
    """What one RL action means: `rate` × the even rate, worked by `tactic`."""
    ex.work(action_quantity(action, ex.remaining, step, steps, lot), action.tactic)


def _take_cannot_cross(ex: ExecutionPort) -> bool:
    """Whether a take would go out behind the far touch: only a parent's limit price (live)
    holds it there, and an IOC there cannot fill (it dies, spending messages and the rate
    budget, and cancels what rests for it). Never true in the replay (no limit: a take is
    priced through the far touch)."""
    price = ex.price_for(Tactic.CROSS)
    return price is not None and not ex.marketable(price)


class ScheduleAlgo:
    """Follow a per-slice schedule; catch up aggressively on what earlier slices missed."""

    def __init__(self, name: str, rest_tactic: Tactic = Tactic.PASSIVE) -> None:
        self.name = name
        self.rest_tactic = rest_tactic
        self.slices: list[int] = []
        self._targets: list[int] = []

    def schedule(self, ex: ExecutionPort, steps: int, interval_s: float) -> list[int]:
        return self.plan(ex, ex.state.quantity, 0, steps, interval_s)

    def plan(
        self, ex: ExecutionPort, quantity: int, first: int, steps: int, interval_s: float
    ) -> list[int]:
        """The slices of steps `first`..`steps` - 1 that work `quantity`."""
        return twap(quantity, steps - first)

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self.slices = self.schedule(ex, steps, interval_s)
        self._targets = [0, *accumulate(self.slices)]

    def replan(self, ex: ExecutionPort, step: int, steps: int, interval_s: float) -> None:
        filled = ex.state.filled
        tail = self.plan(ex, ex.state.quantity - filled, step, steps, interval_s)
        self.slices = [*self.slices[:step], *tail]
        self._targets = [*self._targets[:step], *accumulate(tail, initial=filled)]

    def planned(self, elapsed_steps: float) -> int | None:
        """What the schedule has filled `elapsed_steps` slices in (in proportion inside a
        slice; what is planned so far beyond that); None before it starts."""
        targets = self._targets
        if not targets:
            return None
        elapsed_steps = max(0.0, elapsed_steps)
        k = int(elapsed_steps)
        if k + 1 >= len(targets):
            return targets[-1]
        return round(targets[k] + (targets[k + 1] - targets[k]) * (elapsed_steps - k))

    def slice_for(self, ex: ExecutionPort, step: int) -> int:
        return self.slices[step]

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        behind = self._targets[step] - ex.state.filled
        current = self.slice_for(ex, step)
        if behind > 0:
            if _take_cannot_cross(ex):  # the shortfall rests with the slice, at its price
                ex.rest(behind + current, ex.price_for(self.rest_tactic))
                return
            ex.work(behind, Tactic.CROSS)
        ex.rest(current, ex.price_for(self.rest_tactic))  # the book after the take (replay)


class PassiveFirstAlgo(ScheduleAlgo):
    """TWAP targets worked passively: a shortfall keeps resting, and only what exceeds the
    tolerance is taken, so the algo crosses the spread as little as its schedule allows."""

    def __init__(
        self,
        tolerance: float = PASSIVE_FIRST_TOLERANCE,
        rest_tactic: Tactic = Tactic.INSIDE,
        name: str = "passive_first",
    ) -> None:
        if not 0.0 <= tolerance < 1.0:
            raise ValueError(f"passive_first tolerance must be in [0, 1), got {tolerance}")
        super().__init__(name, rest_tactic)
        self.tolerance = tolerance

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        filled = ex.state.filled
        behind = self._targets[step] - filled
        excess = behind - int(self.tolerance * ex.state.quantity)
        if excess > 0 and _take_cannot_cross(ex):
            excess = 0  # it rests with the rest, at the slice's price
        if excess > 0:
            ex.work(excess, Tactic.CROSS)
        due = self._targets[step + 1] - filled - max(0, excess)
        ex.rest(due, ex.price_for(self.rest_tactic))  # the book after the take (replay)


class VwapAlgo(ScheduleAlgo):
    """Slices in proportion to the profile's expected volume over each slice."""

    def __init__(self, profile: IntradayProfile, name: str = "vwap") -> None:
        super().__init__(name)
        self.profile = profile

    def time_of_day_ns(self, ex: ExecutionPort) -> int:
        """The parent's start as nanoseconds after midnight (the replay's clock is exactly
        that; a live adapter on an epoch clock overrides this)."""
        return ex.state.start_ns

    def plan(
        self, ex: ExecutionPort, quantity: int, first: int, steps: int, interval_s: float
    ) -> list[int]:
        start = self.time_of_day_ns(ex) + round(first * interval_s * 1e9)
        return vwap(quantity, self.profile.weights(start, steps - first, interval_s))


class AlmgrenChrissAlgo(ScheduleAlgo):
    def __init__(self, stats: MarketStats, risk_aversion: float, name: str = "ac") -> None:
        super().__init__(name)
        self.stats = stats
        self.risk_aversion = risk_aversion

    def plan(
        self, ex: ExecutionPort, quantity: int, first: int, steps: int, interval_s: float
    ) -> list[int]:
        s = self.stats
        return almgren_chriss(quantity, steps - first, interval_s, s.sigma_per_sqrt_s, s.eta,
                              self.risk_aversion)  # fmt: skip


class PovAlgo(ScheduleAlgo):
    """Participate in the volume the market just traded; targets grow with the market.

    Its schedule is built as it goes, one slice per decision, indexed by step as every
    schedule algo's is. A step with no decision (the live service skips the steps whose time
    passed without one: a late timer, a burst of venue time, a restart) gets an empty slice:
    the market volume of its interval is in the next decision's, which is measured since the
    last decision, not over one interval. Re-planned after a pause, it starts again from
    what is filled, its first slice from the expected volume (not the pause's).
    """

    def __init__(self, stats: MarketStats) -> None:
        super().__init__("pov")
        self.stats = stats
        self.rate = 0.1
        self._interval_s = 15.0
        self._last_volume = 0
        self._last_filled = 0
        self._afresh = False

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        expected = self.stats.volume_per_s * steps * interval_s
        self.rate = min(0.3, max(0.005, ex.state.quantity / expected)) if expected else 0.1
        self._interval_s = interval_s
        self._last_volume = ex.market_volume
        self._last_filled = ex.state.filled
        self.slices = []
        self._targets = [0]
        self._afresh = False

    def replan(self, ex: ExecutionPort, step: int, steps: int, interval_s: float) -> None:
        done = min(step, len(self.slices))
        planned = self._targets[done]
        self.slices = [*self.slices[:done], *[0] * (step - done)]
        self._targets = [*self._targets[:done], *[planned] * (step - done), ex.state.filled]
        self._afresh = True

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        if step < len(self.slices):
            raise ValueError(f"pov: step {step} was decided already (next is {len(self.slices)})")
        if step == 0 or self._afresh:
            self._afresh = False
            traded = round(self.stats.volume_per_s * self._interval_s)
        else:
            ours = ex.state.filled - self._last_filled
            traded = max(0, ex.market_volume - self._last_volume - ours)
        self._last_volume = ex.market_volume
        self._last_filled = ex.state.filled
        planned = self._targets[-1]
        while len(self.slices) < step:  # steps that had no decision: their volume is in `traded`
            self.slices.append(0)
            self._targets.append(planned)
        slice_qty = pov_quantity(traded, self.rate, ex.state.quantity - planned)
        self.slices.append(slice_qty)
        self._targets.append(planned + slice_qty)
        super().decide(ex, step, steps)


class SubmitAndLeave:
    name = "sal"

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self._price: int | None = None
        self._again = False

    def replan(self, ex: ExecutionPort, step: int, steps: int, interval_s: float) -> None:
        """Its order was cancelled by the pause: the rest is left again at the touch."""
        self._again = True

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        if step == 0 or self._again:
            self._again = False
            self._price = ex.price_for(Tactic.PASSIVE)
            ex.rest(ex.remaining, self._price)


class PolicyAlgo:
    """Any callable observation → action index (the ONNX runtime, an SB3 model, a sampler)."""

    def __init__(
        self,
        name: str,
        choose: PolicyFn,
        lot: int = 100,
        trusted: Callable[[], bool] | None = None,
        signal: SignalModel | None = None,
    ) -> None:
        self.name = name
        self.choose = choose
        self.lot = lot
        self.signal = signal
        """The price-move signal its observations must carry (a policy trained with one): the
        execution it works is built with it (`runner.run_episode(..., signal=)`)."""
        self.trusted = trusted
        """Asked before every decision: False (e.g. the risk monitors distrust the policy for
        this symbol) makes the decision the schedule's, without consulting the policy."""
        self.fallbacks = 0
        self.distrusted = 0
        self.last_observation: list[float] = []
        self.last_action: int | None = None
        """The action index of the last decision; None when it fell back to the schedule."""
        self._twap = ScheduleAlgo("twap")

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self._twap.start(ex, steps, interval_s)

    def replan(self, ex: ExecutionPort, step: int, steps: int, interval_s: float) -> None:
        self._twap.replan(ex, step, steps, interval_s)

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        self.last_observation = observation = ex.observation()
        if self.trusted is not None and not self.trusted():
            self.distrusted += 1
            self.last_action = None
            self._twap.decide(ex, step, steps)
            return
        index = self.choose(observation)
        if index is None or not 0 <= index < len(ACTIONS):
            self.fallbacks += 1
            self.last_action = None
            self._twap.decide(ex, step, steps)
            return
        self.last_action = index
        apply_action(ex, ACTIONS[index], step, steps, self.lot)


def constant_policy(index: int) -> PolicyFn:
    """The same action at every decision (a fixed rule over the policy's action table)."""
    if not 0 <= index < len(ACTIONS):
        raise ValueError(f"action index {index} is outside 0..{len(ACTIONS) - 1}")

    def choose(observation: Sequence[float]) -> int | None:
        return index

    return choose


def random_policy(seed: int) -> PolicyFn:
    rng = np.random.default_rng(seed)

    def choose(observation: Sequence[float]) -> int | None:
        return int(rng.integers(len(ACTIONS)))

    return choose
