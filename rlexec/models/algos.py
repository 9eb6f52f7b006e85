"""Execution algorithms as decision rules over the execution port: the baselines and RL.

Written once against `port.ExecutionPort`, they run unchanged in the replay (training,
backtests) and in the live service. Each `decide` call is one decision point: it may
cross, rest or cancel child orders, and the runner then lets the market run until the
next one. The tactics are stated here and
copied into every backtest report:

- schedule algos (TWAP, VWAP, Almgren–Chriss, POV): at each decision, first take (IOC
  limit through the far touch) whatever earlier slices left unfilled, then rest the
  current slice at our touch; anything left at the horizon is completed at market.
- submit-and-leave: one limit order at the touch for the whole parent at the start,
  never re-priced; the remainder crossed at the horizon (Nevmyvaka, Feng & Kearns 2006).
- RL: the policy picks a multiple of the even rate and a tactic (rest at the touch, rest
  one tick inside, or take) at each decision; a missing or invalid answer falls back to
  the TWAP rule for that decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Protocol

import numpy as np

from rlexec.models.contract import ACTIONS, Action, Tactic
from rlexec.models.market_stats import MarketStats
from rlexec.models.port import ExecutionPort
from rlexec.models.schedules import almgren_chriss, pov_quantity, twap, vwap
from rlexec.models.signal import SignalModel

SCHEDULE_TACTIC = "rest the slice at our touch; take earlier slices' unfilled shares (IOC, 2 ticks through the far touch) at the next decision; market order for the rest at the horizon"
TACTICS: dict[str, str] = {
    "twap": "equal slices; " + SCHEDULE_TACTIC,
    "vwap": "slices ∝ the training window's intraday volume profile (30-min buckets, flat outside it); "
    + SCHEDULE_TACTIC,
    "pov": "slice = participation × the market volume of the last interval (rate = parent / expected horizon volume); "
    + SCHEDULE_TACTIC,
    "ac": "Almgren–Chriss trajectory (σ, η from the training window; risk aversion stated in meta); "
    + SCHEDULE_TACTIC,
    "sal": "submit and leave: one limit at our touch for the whole parent, never re-priced; market order for the rest at the horizon",
    "rl": "policy: rate ∈ {0, ½, 1, 1½, 2} × even rate, tactic ∈ {rest at touch, rest one tick inside, take}; TWAP rule if the policy has no valid answer; market order for the rest at the horizon",
    "random": "uniformly random policy actions (a sanity floor)",
}


PolicyFn = Callable[[Sequence[float]], int | None]
"""Observation (the feature contract, raw) → action index, or None for no valid answer."""


class Algo(Protocol):
    name: str

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None: ...
    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None: ...


def action_quantity(action: Action, remaining: int, step: int, steps: int, lot: int) -> int:
    """What one RL action's `rate` means in shares: `rate` × the even rate, in whole lots."""
    left = max(1, steps - step)
    want = action.rate * remaining / left
    qty = round(want / lot) * lot if remaining >= lot else remaining
    return min(qty, remaining)


def apply_action(ex: ExecutionPort, action: Action, step: int, steps: int, lot: int) -> None:
    """What one RL action means: `rate` × the even rate, worked by `tactic`."""
    ex.work(action_quantity(action, ex.remaining, step, steps, lot), action.tactic)


class ScheduleAlgo:
    """Follow a per-slice schedule; catch up aggressively on what earlier slices missed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.slices: list[int] = []
        self._targets: list[int] = []

    def schedule(self, ex: ExecutionPort, steps: int, interval_s: float) -> list[int]:
        return twap(ex.state.quantity, steps)

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self.slices = self.schedule(ex, steps, interval_s)
        self._targets = [0, *accumulate(self.slices)]

    def slice_for(self, ex: ExecutionPort, step: int) -> int:
        return self.slices[step]

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        behind = self._targets[step] - ex.state.filled
        if behind > 0:
            ex.work(behind, Tactic.CROSS)
        current = self.slice_for(ex, step)
        ex.rest(current, ex.price_for(Tactic.PASSIVE))


class VwapAlgo(ScheduleAlgo):
    def __init__(self, stats: MarketStats, window_start_ns: int) -> None:
        super().__init__("vwap")
        self.stats = stats
        self.window_start_ns = window_start_ns

    def schedule(self, ex: ExecutionPort, steps: int, interval_s: float) -> list[int]:
        weights = self.stats.profile_weights(
            ex.state.start_ns, steps, interval_s, self.window_start_ns
        )
        return vwap(ex.state.quantity, weights)


class AlmgrenChrissAlgo(ScheduleAlgo):
    def __init__(self, stats: MarketStats, risk_aversion: float) -> None:
        super().__init__("ac")
        self.stats = stats
        self.risk_aversion = risk_aversion

    def schedule(self, ex: ExecutionPort, steps: int, interval_s: float) -> list[int]:
        s = self.stats
        return almgren_chriss(ex.state.quantity, steps, interval_s, s.sigma_per_sqrt_s, s.eta,
                              self.risk_aversion)  # fmt: skip


class PovAlgo(ScheduleAlgo):
    """Participate in the volume the market just traded; targets grow with the market."""

    def __init__(self, stats: MarketStats) -> None:
        super().__init__("pov")
        self.stats = stats
        self.rate = 0.1
        self._interval_s = 15.0
        self._last_volume = 0
        self._last_filled = 0

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        expected = self.stats.volume_per_s * steps * interval_s
        self.rate = min(0.3, max(0.005, ex.state.quantity / expected)) if expected else 0.1
        self._interval_s = interval_s
        self._last_volume = ex.market_volume
        self._last_filled = ex.state.filled
        self.slices = []
        self._targets = [0]

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        if step == 0:
            traded = round(self.stats.volume_per_s * self._interval_s)
        else:
            ours = ex.state.filled - self._last_filled
            traded = max(0, ex.market_volume - self._last_volume - ours)
        self._last_volume = ex.market_volume
        self._last_filled = ex.state.filled
        planned = self._targets[-1]
        slice_qty = pov_quantity(traded, self.rate, ex.state.quantity - planned)
        self.slices.append(slice_qty)
        self._targets.append(planned + slice_qty)
        super().decide(ex, step, steps)


class SubmitAndLeave:
    name = "sal"

    def start(self, ex: ExecutionPort, steps: int, interval_s: float) -> None:
        self._price: int | None = None

    def decide(self, ex: ExecutionPort, step: int, steps: int) -> None:
        if step == 0:
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


def random_policy(seed: int) -> PolicyFn:
    rng = np.random.default_rng(seed)

    def choose(observation: Sequence[float]) -> int | None:
        return int(rng.integers(len(ACTIONS)))

    return choose
