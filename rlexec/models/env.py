"""The Gymnasium environment the policy is trained in: the venue's engine, in process.

One episode is one parent order (see episodes.py). Each step is one decision: the action
(`contract.ACTIONS`) sets how much to have working over the next interval and how, the
replay then runs to the next decision. Whatever is left at the horizon is taken at market
in the last step and charged there, at the prices its sweep walks through.

The reward is risk-adjusted, with the report's λ (`objective.RISK_AVERSION`, per bps): minus
the shortfall the step's fills added (bps of the whole parent, inventory marked to mid)
minus the Almgren–Chriss inventory penalty λ·σ²·Δt·(x/X)², x the shares still held at the
end of the interval (before the horizon's market order), σ the calibration window's mid
volatility in bps per √s, Δt the decision interval. So an episode's rewards sum to
−(IS + λ·R), R = Σ σ²·Δt·(x_k/X)² the variance of the shortfall that holding inventory
adds (≈ σ²T/3 for an even schedule). With `benchmark`, TWAP's same quantity on the same
episode is added back (a control variate with the same optimum): the sum is
−[(IS + λR) − (IS_TWAP + λR_TWAP)].

The observation is the feature contract in its named order, normalised with the fixed
mean and standard deviation the exported model will carry, clipped, NaN → 0 (the mean):
`contract.Normaliser`, the very rule the live runtime applies.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlexec.models.algos import ScheduleAlgo, apply_action
from rlexec.models.contract import ACTIONS, Normaliser, Obs, observation_names
from rlexec.models.episodes import EpisodeDistribution, EpisodeSpec, draw
from rlexec.models.execution import ParentExecution
from rlexec.models.market_stats import MarketStats, Window
from rlexec.models.objective import RISK_AVERSION, inventory_risk_bps2
from rlexec.models.runner import start_execution
from rlexec.models.sensitivity import base_config
from rlexec.models.signal import SignalModel
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData

_NS = 1_000_000_000
__all__ = ["ExecutionEnv", "Normaliser", "Obs", "observation_stats"]


class ExecutionEnv(gym.Env[Obs, np.int64]):
    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium's documented class attribute

    def __init__(
        self,
        data: ReplayData,
        window: Window,
        stats: MarketStats,
        normaliser: Normaliser | None = None,
        distribution: EpisodeDistribution | None = None,
        episodes: list[EpisodeSpec] | None = None,
        benchmark: bool = False,
        risk_aversion: float = RISK_AVERSION,
        config: ReplayConfig | None = None,
        signal: SignalModel | None = None,
    ) -> None:
        """`signal`: the observation ends with the price-move signal (`signal_adverse_bps`)."""
        if not risk_aversion >= 0:
            raise ValueError(f"risk_aversion must be ≥ 0, got {risk_aversion}")
        self.data = data
        self.signal = signal
        self.benchmark = benchmark
        self.risk_aversion = risk_aversion
        self.window = window
        self.stats = stats
        n = len(observation_names(signal is not None))
        self.normaliser = normaliser or Normaliser.identity(n)
        if len(self.normaliser.mean) != n:
            raise ValueError(f"the normaliser has {len(self.normaliser.mean)} features, the "
                             f"observation {n}")  # fmt: skip
        self.distribution = distribution or EpisodeDistribution()
        self.episodes = episodes
        self._next_listed = 0
        self.config = config if config is not None else base_config(data, str(window))
        """The evaluation's simulator, calibrated on the training window (`sensitivity.py`)."""
        clip = self.normaliser.clip
        self.observation_space = gym.spaces.Box(-clip, clip, (n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.ex: ParentExecution | None = None
        self.shadow: ParentExecution | None = None
        self._twap = ScheduleAlgo("twap")
        self.spec_: EpisodeSpec | None = None
        self._step = 0
        self._cost = 0.0
        self._shadow_cost = 0.0
        self._risk = 0.0
        self._shadow_risk = 0.0
        self._count = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "episode" in options:
            spec = options["episode"]
        elif self.episodes:
            spec = self.episodes[self._next_listed % len(self.episodes)]
            self._next_listed += 1
        else:
            spec = draw(self.np_random, self._count, self.window, self.stats, self.distribution)
        self._count += 1
        self.spec_ = spec
        self.ex = start_execution(self.data, spec, self.config, signal=self.signal)
        if self.benchmark:
            self.shadow = start_execution(self.data, spec, self.config)
            self._twap.start(self.shadow, spec.steps, spec.interval_s)
        self._step = 0
        self._cost = 0.0
        self._shadow_cost = 0.0
        self._risk = 0.0
        self._shadow_risk = 0.0
        self.ex.mark_decision()
        return self.normaliser(self.ex.observation()), {"episode": spec}

    def step(self, action: np.int64 | int) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        ex, spec = self.ex, self.spec_
        if ex is None or spec is None:
            raise RuntimeError("call reset() before step()")
        steps = spec.steps
        apply_action(ex, ACTIONS[int(action)], self._step, steps, self.distribution.lot)
        shadow = self.shadow if self.benchmark else None
        if shadow is not None:
            shadow.mark_decision()
            self._twap.decide(shadow, self._step, steps)
        self._step += 1
        until = ex.state.start_ns + round(self._step * spec.interval_s * _NS)
        terminated = self._step >= steps
        cost, risk = self._advance(ex, until, terminated, spec.interval_s)
        lam = self.risk_aversion
        reward = -(cost - self._cost) - lam * risk
        self._cost = cost
        self._risk += risk
        if shadow is not None:
            shadow_cost, shadow_risk = self._advance(shadow, until, terminated, spec.interval_s)
            reward += shadow_cost - self._shadow_cost + lam * shadow_risk
            self._shadow_cost = shadow_cost
            self._shadow_risk += shadow_risk
        ex.mark_decision()
        info: dict[str, Any] = {}
        if terminated:
            c = ex.costs()
            info = {
                "is_bps": c.is_bps, "forced_qty": c.forced_qty, "impact_bps": c.impact_bps,
                "risk_bps2": self._risk, "objective_bps": c.is_bps + lam * self._risk,
            }  # fmt: skip
            if shadow is not None:
                b = shadow.costs().is_bps
                info["benchmark_is_bps"] = b
                info["benchmark_risk_bps2"] = self._shadow_risk
                info["benchmark_objective_bps"] = b + lam * self._shadow_risk
        return self.normaliser(ex.observation()), float(reward), terminated, False, info

    def _advance(
        self, ex: ParentExecution, until: int, terminated: bool, interval_s: float
    ) -> tuple[float, float]:
        """Run to `until` (and complete at the horizon): (marked cost so far in bps, the
        interval's inventory risk in bps²)."""
        ex.advance_to(until)
        held = ex.remaining / ex.state.quantity
        risk = inventory_risk_bps2(self.stats.sigma_per_sqrt_s, held, interval_s)
        if terminated:
            ex.complete()
        return ex.marked_cost_bps(), risk


def observation_stats(
    env: ExecutionEnv, episodes: int, seed: int
) -> tuple[list[float], list[float]]:
    """Mean and std of raw observations under a random policy: the fixed normalisation."""
    rng = np.random.default_rng(seed)
    rows: list[list[float]] = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        assert env.ex is not None
        done = False
        while not done:
            rows.append(env.ex.observation())
            _, _, done, _, _ = env.step(int(rng.integers(len(ACTIONS))))
    x = np.asarray(rows, dtype=np.float64)
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return mean.tolist(), std.tolist()
