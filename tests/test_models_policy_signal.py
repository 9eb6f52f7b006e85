"""A policy that takes the price-move signal: its contract (the signal named by sha256 and
refused when absent or different), and the observation `… + signal_adverse_bps` built the same
way in the training environment, the backtest path and the live service's market state."""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlexec.market.events import MarketEvent, Trade
from rlexec.market.orders import Side
from rlexec.market.signal_features import SignalFeatureBuilder
from rlexec.models.algo_registry import AlgoContext, make_algos
from rlexec.models.algos import PolicyAlgo
from rlexec.models.contract import OBSERVATION_NAMES, SIGNAL_FEATURE
from rlexec.models.env import ExecutionEnv
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.policy import DEFAULT_MODEL, OnnxPolicy, PolicyError
from rlexec.models.runner import replay_config, run_episode, start_execution
from rlexec.models.signal import SignalModel, observation
from rlexec.service.market import SymbolMarket
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay
from tests.signal_support import signal_model, signal_policy

TRAIN = Window.parse("09:35-13:00")
VOLATILITY = OBSERVATION_NAMES.index("volatility_bps")
_NS = 1_000_000_000


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def stats(aapl: ReplayData) -> MarketStats:
    return estimate(aapl, TRAIN, bucket_s=1800)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A signal model and, beside it, a policy trained with it."""
    signal = signal_model(tmp_path / "test-signal.onnx")
    return signal, signal_policy(tmp_path / "policy.onnx", signal)


# -- the contract -----------------------------------------------------------------------------


def test_a_signal_policy_finds_its_signal_beside_it(files: tuple[Path, Path]) -> None:
    signal, path = files
    policy = OnnxPolicy(path)
    assert policy.signal is not None and policy.signal.path == signal
    assert policy.feature_names == (*OBSERVATION_NAMES, SIGNAL_FEATURE)
    # the signal feature decides between the two actions it votes for
    obs = [0.0] * len(OBSERVATION_NAMES)
    assert policy.decide([*obs, 1.5]).index == 12  # type: ignore[union-attr]
    assert policy.decide([*obs, -1.5]).index == 2  # type: ignore[union-attr]
    assert policy.decide(obs) is None  # an observation without the signal is not valid


def test_refuses_to_run_without_the_signal_it_was_trained_with(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    signal, path = files
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(path, alone / "policy.onnx")
    with pytest.raises(PolicyError, match=r"needs the price-move signal test-signal\.onnx"):
        OnnxPolicy(alone / "policy.onnx")
    other = signal_model(tmp_path / "other.onnx", np.ones(12, np.float32))
    with pytest.raises(PolicyError, match=r"trained with signal test-signal\.onnx sha256"):
        OnnxPolicy(path, signal=other)
    with pytest.raises(PolicyError, match="trained with signal"):
        OnnxPolicy(path, signal=SignalModel(other))
    assert OnnxPolicy(alone / "policy.onnx", signal=signal).signal is not None


def test_a_policy_without_a_signal_refuses_one(files: tuple[Path, Path]) -> None:
    with pytest.raises(PolicyError, match="trained without a price-move signal"):
        OnnxPolicy(DEFAULT_MODEL, signal=files[0])
    assert OnnxPolicy(DEFAULT_MODEL).signal is None


# -- the observation, everywhere ---------------------------------------------------------------


def test_the_env_observation_ends_with_the_signal(
    aapl: ReplayData, stats: MarketStats, files: tuple[Path, Path]
) -> None:
    signal = SignalModel(files[0])
    env = ExecutionEnv(aapl, TRAIN, stats, signal=signal)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(OBSERVATION_NAMES) + 1,)
    spec = EpisodeSpec(0, 36_000 * _NS, Side.SELL, 2_000, 300.0, 15.0)
    obs, _ = env.reset(options={"episode": spec})
    assert obs.shape == (len(OBSERVATION_NAMES) + 1,)
    ex = env.ex
    assert ex is not None and isinstance(ex.features, SignalFeatureBuilder)
    raw = ex.observation()
    predicted = signal.predict(ex.features.signal_vector(ex.now_ns))
    assert predicted is not None and predicted != 0.0
    assert raw[-1] == pytest.approx(-predicted)  # a sell: a falling price is against us
    assert raw[:-1] == ex.features.vector(ex.state, ex.now_ns)
    # without a signal the environment is what it was
    plain = ExecutionEnv(aapl, TRAIN, stats)
    assert plain.reset(options={"episode": spec})[0].shape == (len(OBSERVATION_NAMES),)


def test_backtests_build_the_execution_with_the_policy_signal(
    aapl: ReplayData, stats: MarketStats, files: tuple[Path, Path]
) -> None:
    (algo,) = make_algos(["rl"], AlgoContext(stats=stats, model=files[1], seed=1))
    assert isinstance(algo, PolicyAlgo) and algo.signal is not None
    spec = EpisodeSpec(0, 37_000 * _NS, Side.BUY, 1_000, 120.0, 15.0)
    result = run_episode(aapl, spec, algo, signal=algo.signal)
    assert result.filled == 1_000
    assert len(algo.last_observation) == len(OBSERVATION_NAMES) + 1
    assert math.isfinite(algo.last_observation[-1])
    assert algo.fallbacks == 0  # every decision had a valid observation


def test_backtest_tasks_give_the_policy_its_signal(
    aapl_message: Path, stats: MarketStats, files: tuple[Path, Path]
) -> None:
    """The task path (local or Ray) replays with the signal the policy was trained with."""
    from rlexec.models.backtest_tasks import plan, run_task

    context = AlgoContext(stats=stats, model=files[1])
    (task,) = plan(aapl_message, "10:00-10:45", "09:35-10:00", ["rl"], context, 2, seed=1,
                   chunk=2, sizes="small")  # fmt: skip
    done = run_task(task)
    assert done.fallbacks == 0  # an observation without the signal would be refused → fallbacks
    assert [r.filled for r in done.results] == [r.quantity for r in done.results]


def test_live_market_state_gives_the_replay_observation(
    aapl: ReplayData, files: tuple[Path, Path]
) -> None:
    """The live service's `SymbolMarket` gets the venue's market data one FIX message at a
    time (here: every change of one instant at once); the replay adapter one event at a time.
    At each decision both observations, signal included, are the same."""
    signal = SignalModel(files[0])
    spec = EpisodeSpec(0, 38_000 * _NS, Side.BUY, 3_000, 300.0, 15.0)
    ex = start_execution(aapl, spec, replay_config(), signal=signal)
    # the same market data as the venue would publish it, from an identical replay
    venue = MarketReplay(aapl, replay_config(), start_ns=spec.start_ns - 180 * _NS)
    market = SymbolMarket("AAPL", ex.book.__class__(), 100, signal.feature_config)
    snapshot = venue.snapshot()
    venue.market_events()
    market.book.apply_snapshot(snapshot)
    market.on_book(snapshot.ts_ns)
    compared = 0
    for step in range(spec.steps):
        now = ex.state.start_ns + step * round(spec.interval_s * _NS)
        ex.advance_to(now)
        venue.advance_to(now)
        by_instant: dict[int, list[MarketEvent]] = defaultdict(list)
        for event in venue.market_events():
            by_instant[event.ts_ns].append(event)
        for ts, events in by_instant.items():  # one "message" per instant
            for event in events:
                if type(event) is Trade:
                    market.on_trade(ts, event.size, int(event.aggressor), event.price)
                else:
                    market.book.apply(event)
            if any(type(e) is not Trade for e in events):
                market.on_book(ts)
        assert market.book.lobster_row(1) == ex.book.lobster_row(1)
        live = observation(market.features, ex.state, now, signal)
        replayed = ex.observation()
        # The policy's own `volatility_bps` (FeatureBuilder, unchanged here) counts every
        # intermediate mid of an instant, so it depends on how a feed groups the changes;
        # the signal's features are read once per instant and do not.
        del live[VOLATILITY], replayed[VOLATILITY]
        assert live == pytest.approx(replayed, rel=1e-12, abs=1e-12), f"step {step}"
        assert math.isfinite(live[-1])
        compared += 1
    assert compared == spec.steps


@pytest.mark.train
@pytest.mark.slow
def test_train_and_export_a_policy_that_takes_the_signal(
    aapl_message: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    from rlexec.models.export import export, load_sb3
    from rlexec.models.signal import DEFAULT_SIGNAL
    from rlexec.models.train import TrainSettings, train

    signal = tmp_path / "signals" / DEFAULT_SIGNAL.name
    signal.parent.mkdir()
    shutil.copy(DEFAULT_SIGNAL, signal)
    settings = TrainSettings(
        data=str(aapl_message), timesteps=1_024, seed=3, n_envs=1, calibration_episodes=2,
        signal=signal,
    )  # fmt: skip
    record = train(settings, tmp_path / "run")
    assert record["signal"] == SignalModel(signal).identity
    assert len(record["normaliser"]["mean"]) == len(OBSERVATION_NAMES) + 1
    path = export(tmp_path / "run", tmp_path / "out" / "policy.onnx")
    assert (tmp_path / "out" / signal.name).is_file()  # exported beside the policy
    policy = OnnxPolicy(path)
    assert policy.signal is not None and policy.signal.identity == record["signal"]
    assert policy.feature_names[-1] == SIGNAL_FEATURE
    model, _ = load_sb3(tmp_path / "run")
    obs = np.random.default_rng(0).normal(0, 2, (2_000, len(OBSERVATION_NAMES) + 1))
    obs = np.clip(obs, -10, 10).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"observation": obs})[0]
    assert np.array_equal(scores.argmax(axis=1), model.predict(obs, deterministic=True)[0])
