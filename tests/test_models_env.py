"""The training environment on the real AAPL day: Gymnasium's checker, determinism, rewards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from gymnasium.utils.env_checker import check_env

from rlexec.market.orders import Side
from rlexec.models.contract import ACTIONS, OBSERVATION_NAMES, Tactic
from rlexec.models.env import ExecutionEnv, Normaliser, observation_stats
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.simulator.data import ReplayData

TRAIN = Window.parse("09:35-13:00")


@pytest.fixture(scope="module")
def aapl_data(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def stats(aapl_data: ReplayData) -> MarketStats:
    return estimate(aapl_data, TRAIN, bucket_s=1800)


def test_passes_the_gymnasium_checker(aapl_data: ReplayData, stats: MarketStats) -> None:
    check_env(ExecutionEnv(aapl_data, TRAIN, stats), skip_render_check=True)


def rollout(
    env: ExecutionEnv, seed: int, actions: list[int]
) -> tuple[list[npt.NDArray[Any]], list[float], dict[str, Any]]:
    obs, _ = env.reset(seed=seed)
    observations, rewards, done, i = [obs], [], False, 0
    info: dict[str, Any] = {}
    while not done:
        obs, reward, done, _, info = env.step(actions[i % len(actions)])
        observations.append(obs)
        rewards.append(reward)
        i += 1
    return observations, rewards, info


def test_deterministic_for_a_seed(aapl_data: ReplayData, stats: MarketStats) -> None:
    env = ExecutionEnv(aapl_data, TRAIN, stats)
    first = rollout(env, 123, [1, 4, 8, 13])
    second = rollout(ExecutionEnv(aapl_data, TRAIN, stats), 123, [1, 4, 8, 13])
    assert all(np.array_equal(a, b) for a, b in zip(first[0], second[0], strict=True))
    assert first[1] == second[1] and first[2] == second[2]
    other = rollout(env, 124, [1, 4, 8, 13])
    assert other[1] != first[1]


def test_rewards_sum_to_minus_the_shortfall_without_risk_aversion(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    env = ExecutionEnv(aapl_data, TRAIN, stats, risk_aversion=0.0)
    for seed in range(3):
        _, rewards, info = rollout(env, seed, [seed, 14 - seed])
        assert sum(rewards) == pytest.approx(-info["is_bps"], abs=1e-9)
        assert env.ex is not None and env.ex.done


def test_rewards_sum_to_minus_the_risk_adjusted_shortfall(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    """−(IS + λ·R), R = Σ σ²·Δt·(x_k/X)² over the intervals, x_k the shares held at the end of
    interval k (the last one: what the horizon's market order takes), recomputed here from
    what the episode did."""
    lam = 0.02
    spec = EpisodeSpec(0, TRAIN.start_ns + 5400 * 10**9, Side.BUY, 6000, 300.0, 15.0)
    env = ExecutionEnv(aapl_data, TRAIN, stats, risk_aversion=lam)
    env.reset(options={"episode": spec})
    sigma_bps = stats.sigma_per_sqrt_s * 1e4
    rewards, held, done, i = [], [], False, 0
    info: dict[str, Any] = {}
    actions = [0, 4, 1, 9, 3, 0]  # mixed rates and tactics: some fills, some inventory left
    while not done:
        _, reward, done, _, info = env.step(actions[i % len(actions)])
        rewards.append(reward)
        assert env.ex is not None
        held.append(env.ex.remaining if not done else info["forced_qty"])
        i += 1
    risk = sum(sigma_bps**2 * 15.0 * (x / 6000) ** 2 for x in held)
    assert info["forced_qty"] > 0 and risk > 0  # the penalty is exercised, not zero
    assert info["risk_bps2"] == pytest.approx(risk, rel=1e-9)
    assert sum(rewards) == pytest.approx(-(info["is_bps"] + lam * risk), abs=1e-9)
    assert info["objective_bps"] == pytest.approx(info["is_bps"] + lam * risk, abs=1e-9)


def test_benchmark_rewards_sum_to_the_objective_against_twap(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    env = ExecutionEnv(aapl_data, TRAIN, stats, benchmark=True)
    for seed in range(3):
        _, rewards, info = rollout(env, seed, [7, 10, 4])
        expected = info["benchmark_objective_bps"] - info["objective_bps"]
        assert sum(rewards) == pytest.approx(expected, abs=1e-9)
        assert info["benchmark_risk_bps2"] > 0
        assert env.shadow is not None and env.shadow.done


def test_an_episode_is_one_parent_order_completed_by_the_horizon(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    spec = EpisodeSpec(0, TRAIN.start_ns + 3600 * 10**9, Side.SELL, 3000, 300.0, 15.0)
    env = ExecutionEnv(aapl_data, TRAIN, stats)
    env.reset(options={"episode": spec})
    zero_rate = next(i for i, a in enumerate(ACTIONS) if a.rate == 0 and a.tactic is Tactic.PASSIVE)
    steps = 0
    done = False
    info: dict[str, Any] = {}
    while not done:
        _, _, done, _, info = env.step(zero_rate)
        steps += 1
    assert steps == spec.steps == 20
    assert info["forced_qty"] == 3000  # did nothing until the horizon: all of it forced
    assert env.ex is not None and env.ex.state.filled == 3000
    assert env.ex.now_ns >= spec.start_ns + 300 * 10**9


def test_normalised_observations_stay_in_the_space(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    mean, std = observation_stats(ExecutionEnv(aapl_data, TRAIN, stats), 3, seed=5)
    env = ExecutionEnv(aapl_data, TRAIN, stats, Normaliser(mean, std))
    observations, _, _ = rollout(env, 9, [2, 5, 11])
    assert all(env.observation_space.contains(o) for o in observations)
    with pytest.raises(ValueError, match="positive"):
        Normaliser(mean, [0.0] * len(std))


def test_features_have_watched_the_market_before_the_first_decision(
    aapl_data: ReplayData, stats: MarketStats
) -> None:
    """No train/live skew at the start: the trade window and the volatility EWMA are already
    in their steady state, and the parent's clock and arrival mid start at the episode start."""
    from rlexec.models.runner import replay_config, start_execution

    spec = EpisodeSpec(0, TRAIN.start_ns + 3600 * 10**9, Side.BUY, 2000, 300.0, 15.0)
    ex = start_execution(aapl_data, spec, replay_config())
    features = dict(zip(OBSERVATION_NAMES, ex.observation(), strict=True))
    assert features["trade_count"] > 0 and features["volatility_bps"] > 0
    assert features["elapsed_frac"] == 0.0 and features["remaining_frac"] == 1.0
    assert ex.state.start_ns == spec.start_ns and ex.now_ns == spec.start_ns
    assert ex.state.arrival_mid == ex.book.mid
    cold = start_execution(aapl_data, spec, replay_config(), warmup_s=0.0)
    assert dict(zip(OBSERVATION_NAMES, cold.observation(), strict=True))["trade_count"] == 0
    ex.work(500, Tactic.CROSS)
    with pytest.raises(RuntimeError, match="already traded"):
        ex.start_now(300.0)
