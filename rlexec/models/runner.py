"""Run one episode of one algorithm in a fresh in-process replay."""

from __future__ import annotations

from rlexec.models.algos import Algo
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.evaluation import EpisodeResult
from rlexec.models.execution import ParentExecution
from rlexec.models.signal import SignalModel
from rlexec.simulator.config import DepthConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay

_NS = 1_000_000_000


SWEEP_LEVELS = 2_000
"""Synthetic levels a sweep may walk past the stored depth. The simulator's default (20, about
4,000 AAPL shares) runs dry long before a large parent's remainder is done, and the horizon's
market order must complete, charged at every price it walks through: 2,000 levels hold the
largest `large` parent (30 % of an hour of AAPL, ~130,000 shares) many times over."""


def replay_config(tick_size: int = 100) -> ReplayConfig:
    """The simulator settings every episode uses (market data on, 30 s of warm-up history,
    synthetic depth deep enough for the horizon's market order to complete)."""
    return ReplayConfig(
        tick_size=tick_size, market_data=True, warmup_s=30.0,
        depth=DepthConfig(max_levels=SWEEP_LEVELS),
    )  # fmt: skip


FEATURE_WARMUP_S = 180.0
"""Market the features watch before an episode starts, as a live service has watched it: the
volatility EWMA and the trade window are then in their steady state at the first decision,
not ramping up from zero (which would make training and backtests see features live never does)."""


def start_execution(
    data: ReplayData,
    spec: EpisodeSpec,
    config: ReplayConfig,
    warmup_s: float = FEATURE_WARMUP_S,
    signal: SignalModel | None = None,
) -> ParentExecution:
    """`signal`: the observation carries the price-move signal (a policy trained with it)."""
    begin = max(data.start_ns, spec.start_ns - round(warmup_s * _NS))
    replay = MarketReplay(data, config, start_ns=begin)
    ex = ParentExecution(replay, spec.side, spec.quantity, spec.horizon_s, signal=signal)
    if begin < spec.start_ns:
        ex.advance_to(spec.start_ns)
        ex.start_now(spec.horizon_s)
    return ex


def run_episode(
    data: ReplayData,
    spec: EpisodeSpec,
    algo: Algo,
    config: ReplayConfig | None = None,
    signal: SignalModel | None = None,
) -> EpisodeResult:
    ex = start_execution(data, spec, config or replay_config(), signal=signal)
    steps = spec.steps
    algo.start(ex, steps, spec.interval_s)
    path = [1.0]
    start = ex.state.start_ns
    for step in range(steps):
        ex.mark_decision()
        algo.decide(ex, step, steps)
        ex.advance_to(start + round((step + 1) * spec.interval_s * _NS))
        path.append(ex.remaining / spec.quantity)
    ex.complete()
    path[-1] = 0.0
    c = ex.costs()
    return EpisodeResult(
        algo=algo.name, episode=spec.episode, side=int(spec.side), quantity=spec.quantity,
        start_ns=start, horizon_s=spec.horizon_s, arrival_mid=ex.state.arrival_mid,
        filled=c.filled, avg_price=c.avg_price, is_bps=c.is_bps, impact_bps=c.impact_bps,
        forced_qty=c.forced_qty, remaining_path=path, participation=spec.participation,
    )  # fmt: skip
