"""Training, ONNX export parity with SB3, and a short backtest producing a complete report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rlexec.models.backtest import backtest
from rlexec.models.contract import ACTIONS, OBSERVATION_NAMES
from rlexec.models.export import export, load_sb3
from rlexec.models.policy import OnnxPolicy
from rlexec.models.train import TrainSettings, train


@pytest.fixture(scope="module")
def trained(aapl_message: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    settings = TrainSettings(
        data=str(aapl_message), timesteps=2_048, seed=3, n_envs=2, calibration_episodes=4
    )
    record = train(settings, out)
    assert record["episodes"] > 0 and (out / "training_curve.png").stat().st_size > 0
    return out


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_onnx_export_picks_the_same_action_as_sb3(
    algorithm: str, trained: Path, aapl_message: Path, tmp_path: Path
) -> None:
    run = trained
    if algorithm == "dqn":
        run = tmp_path / "dqn"
        train(TrainSettings(data=str(aapl_message), timesteps=1_200, seed=3, algorithm="dqn",
                            n_envs=1, calibration_episodes=2), run)  # fmt: skip
    onnx_path = export(run, tmp_path / "policy.onnx")
    model, _ = load_sb3(run)
    rng = np.random.default_rng(0)
    obs = np.clip(rng.normal(0, 2.5, (10_000, len(OBSERVATION_NAMES))), -10, 10).astype(np.float32)
    sb3_actions, _ = model.predict(obs, deterministic=True)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"observation": obs})[0]
    assert scores.shape == (10_000, len(ACTIONS))
    # The same action everywhere, but where two actions tie to float32 rounding (torch and ORT
    # may sum in another order): there the SB3 action must score within 1e-5 of the best.
    differ = np.nonzero(scores.argmax(axis=1) != sb3_actions)[0]
    gaps = scores[differ].max(axis=1) - scores[differ, sb3_actions[differ]]
    assert len(differ) <= 5 and np.all(gaps <= 1e-5), (differ, gaps)
    policy = OnnxPolicy(onnx_path)  # the runtime accepts its contract
    assert policy.feature_names == OBSERVATION_NAMES


def test_short_backtest_writes_a_complete_report(
    trained: Path, aapl_message: Path, tmp_path: Path
) -> None:
    model = export(trained, tmp_path / "policy.onnx")
    out = tmp_path / "bt"
    backtest(aapl_message, out, ("twap", "vwap", "pov", "ac", "sal", "rl"), model, episodes=12,
             seed=1)  # the validation window, large orders  # fmt: skip
    doc = json.loads((out / "results.json").read_text())
    algos = doc["algos"]
    assert set(algos) == {"twap", "vwap", "pov", "ac", "sal", "rl"}
    for summary in algos.values():
        assert summary["n"] == 12
        for key in (
            "mean_is_bps",
            "median_is_bps",
            "std_is_bps",
            "mean_impact_bps",
            "cvar95_is_bps",
            "risk_adjusted_bps",
        ):
            assert np.isfinite(summary[key])
    assert set(algos["rl"]["vs"]) == {"twap", "vwap", "pov", "ac", "sal"}
    for comparison in algos["rl"]["vs"].values():
        assert {"mean_diff_bps", "mean_diff_ci95", "win_rate", "wilcoxon_p"} <= set(comparison)
    assert doc["meta"]["sizes"] == "large" and doc["meta"]["test_split"] is None
    for name in ("report.md", "is_distribution.png", "inventory.png", "is_by_time.png"):
        assert (out / name).stat().st_size > 0
    episodes = json.loads((out / "episodes.json").read_text())
    # Paired: every algorithm traded exactly the same parent orders.
    by_algo: dict[str, list[tuple[int, int, int]]] = {}
    for e in episodes:
        by_algo.setdefault(e["algo"], []).append((e["episode"], e["start_ns"], e["quantity"]))
    assert len({tuple(v) for v in by_algo.values()}) == 1
    assert all(e["filled"] == e["quantity"] for e in episodes)


def test_a_short_training_run_beats_a_random_policy(aapl_message: Path) -> None:
    """Large orders over five minutes, where waiting is expensive: a few thousand PPO steps
    must learn to do better than acting at random (averaged over random seeds)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rlexec.models.algos import PolicyAlgo, random_policy
    from rlexec.models.env import ExecutionEnv, Normaliser, observation_stats
    from rlexec.models.episodes import EpisodeDistribution, draw_many
    from rlexec.models.market_stats import Window, estimate
    from rlexec.models.runner import run_episode
    from rlexec.simulator.data import ReplayData

    torch.set_num_threads(1)
    data = ReplayData.load(aapl_message)
    window = Window.parse("09:35-13:00")
    stats = estimate(data, window, bucket_s=1800)
    dist = EpisodeDistribution(horizons_s=(300.0,), participation=(0.4, 0.5))
    episodes = draw_many(8, 5, window, stats, dist)
    mean, std = observation_stats(ExecutionEnv(data, window, stats, episodes=episodes), 8, 0)
    norm = Normaliser(mean, std)
    vec = DummyVecEnv(
        [lambda: ExecutionEnv(data, window, stats, norm, episodes=episodes, benchmark=True)] * 2
    )
    model = PPO("MlpPolicy", vec, seed=1, n_steps=128, batch_size=128, n_epochs=10, gamma=1.0,
                learning_rate=1e-3, ent_coef=0.0, device="cpu")  # fmt: skip
    model.learn(4_000)

    def choose(obs: object) -> int:
        action, _ = model.predict(norm(list(obs)), deterministic=True)  # type: ignore[call-overload]
        return int(action)

    trained = np.mean([run_episode(data, e, PolicyAlgo("rl", choose)).is_bps for e in episodes])
    random_means = [
        np.mean(
            [run_episode(data, e, PolicyAlgo("random", random_policy(k))).is_bps for e in episodes]
        )
        for k in range(5)
    ]
    assert trained < np.mean(random_means), (trained, random_means)


def test_training_is_reproducible_and_its_metadata_records_the_objective(
    trained: Path, aapl_message: Path, tmp_path: Path
) -> None:
    """`make model` must reproduce the shipped model: the same settings give the same weights;
    the exported metadata carries λ and the episode distribution."""
    import torch

    from rlexec.models.contract import META_TRAINING

    settings = TrainSettings(
        data=str(aapl_message), timesteps=2_048, seed=3, n_envs=2, calibration_episodes=4
    )
    again = train(settings, tmp_path / "again")
    first, _ = load_sb3(trained)
    second, _ = load_sb3(tmp_path / "again")
    a, b = first.policy.state_dict(), second.policy.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (
        json.loads(json.dumps(again["curve"]))
        == json.loads((trained / "training.json").read_text())["curve"]
    )
    onnx_path = export(trained, tmp_path / "p.onnx")
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    training = json.loads(meta[META_TRAINING])
    assert training["settings"]["sizes"] == "large"
    assert training["settings"]["risk_aversion"] == training["objective"]["risk_aversion_per_bps"]
    assert training["distribution"]["name"] == "large"
    assert training["distribution"]["participation"] == [0.05, 0.3]


def test_ship_evaluates_the_plan_logs_each_split_once_and_writes_the_card(
    trained: Path, aapl_message: Path, tmp_path: Path
) -> None:
    import shutil

    from rlexec.models.protocol import (
        ARTIFACTS,
        LOG_PATH,
        PLAN_PATH,
        load_plan,
        read_log,
        sha256_file,
    )
    from rlexec.models.ship import NAME, main

    raw = json.loads(PLAN_PATH.read_text())
    raw["algos"], raw["rows"] = ["twap", "rl", "rl_signal"], ["default", "no_hidden_fills"]
    for k, split in enumerate(raw["test"].values()):  # never draw the plan's own test episodes
        split["seed"] = 1000 + k
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(raw))
    out, log, artifacts = tmp_path / "ship", tmp_path / "log.jsonl", tmp_path / "artifacts"
    shutil.copytree(trained, out / "train")
    signal = ARTIFACTS / raw["ablation"]["signal"]
    settings = TrainSettings(data=str(aapl_message), timesteps=2_048, seed=3, n_envs=2,
                             calibration_episodes=4, signal=signal)  # fmt: skip
    train(settings, out / "train-signal")  # the ablation arm: the same training + the signal
    committed = LOG_PATH.read_bytes()
    code = main(["--skip-train", "--out", str(out), "--plan", str(plan_path), "--log", str(log),
                 "--artifacts", str(artifacts), "--episodes", "3", "--usage-episodes", "2"])  # fmt: skip
    assert code == 0
    plan = load_plan(plan_path)
    entries = read_log(log)
    assert [e["split"] for e in entries] == ["time_split", "ticker_split"]  # once per split
    for entry, split in zip(entries, plan.test.values(), strict=True):
        assert entry["command"] == "ship" and entry["seeds"]["episodes"] == split.seed
        assert entry["rows"] == ["default", "no_hidden_fills"] and entry["episodes"] == 3
        assert entry["plan_sha256"] == plan.sha256
        assert entry["algos"] == ["twap", "rl", "rl_signal"]
        assert entry["ablation_model_sha256"] == sha256_file(out / f"{NAME}-signal.onnx")
    assert entries[0]["model_sha256"] != sha256_file(artifacts / f"{NAME}.onnx")  # + evaluation
    card = (artifacts / f"{NAME}.md").read_text()
    assert "**2**" in card and "not the plan's" in card and "make model" in card
    assert card.count("signal ablation (RL with the signal − RL without") == 2
    # The arm ships beside its signal, so a backtest can run the ablation again from there.
    assert (artifacts / signal.name).read_bytes() == signal.read_bytes()
    assert OnnxPolicy(artifacts / f"{NAME}-signal.onnx").signal is not None
    for split in plan.test.values():
        assert f"seed {split.seed}" in card
        sens = json.loads((out / split.name / "sensitivity.json").read_text())
        assert list(sens["rows"]) == ["default", "no_hidden_fills"]
        for doc in sens["rows"].values():  # both policies on the same episodes, paired
            assert {"rl", "rl_signal"} <= set(doc["algos"])
            assert "rl_signal" in doc["algos"]["rl"]["vs"]
    assert LOG_PATH.read_bytes() == committed
