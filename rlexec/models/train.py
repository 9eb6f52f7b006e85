"""Train the execution policy with stable-baselines3 on the in-process venue (CPU, seeded).

Needs the `train` extra. Writes into the output folder: `model.zip` (the SB3 model),
`training.json` (everything export needs: data, window, normalisation, seed, versions,
curve) and `training_curve.png`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rlexec.models.env import ExecutionEnv, Normaliser, observation_stats
from rlexec.models.episodes import EpisodeDistribution, distribution
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.objective import RISK_AVERSION
from rlexec.models.signal import SignalError, SignalModel
from rlexec.simulator.data import ReplayData

ALGORITHMS = ("ppo", "dqn")


@dataclass(frozen=True, slots=True)
class TrainSettings:
    data: str
    window: str = "09:35-13:00"
    timesteps: int = 200_000
    seed: int = 7
    algorithm: str = "ppo"
    n_envs: int = 4
    subprocess: bool = False
    """Step environments in worker processes (measured here: no faster on 2 cores)."""
    calibration_episodes: int = 40
    sizes: str = "large"
    """Named episode distribution (`episodes.SIZES`) the training episodes are drawn from."""
    risk_aversion: float = RISK_AVERSION
    """λ of the risk-adjusted reward, per bps (`objective.py`); the report uses the same."""
    signal: Path | None = None
    """A price-move signal model (`models.signal`): the policy's observation then ends with
    `signal_adverse_bps`, and the exported policy names the signal by sha256."""
    learning_rate: float | None = None
    """None: the algorithm's own (PPO 3e-4, DQN 5e-4). The fields from here on are what a
    hyperparameter sweep varies (`rlexec sweep`)."""
    ent_coef: float = 0.005
    """PPO's entropy bonus."""
    net_arch: tuple[int, ...] = (64, 64)
    interval_s: float | None = None
    """Seconds between decisions in the training episodes (None: the size distribution's)."""

    @property
    def episode_distribution(self) -> EpisodeDistribution:
        dist = distribution(self.sizes)
        return dist if self.interval_s is None else replace(dist, interval_s=self.interval_s)


def load_signal(settings: TrainSettings) -> SignalModel | None:
    return SignalModel(settings.signal) if settings.signal is not None else None


def build_env(
    data: ReplayData, settings: TrainSettings, signal: SignalModel | None = None
) -> tuple[ExecutionEnv, MarketStats, Normaliser]:
    window = Window.parse(settings.window)
    dist = settings.episode_distribution
    dist.check_window(window)
    stats = estimate(data, window, bucket_s=1800)
    calibration = ExecutionEnv(data, window, stats, distribution=dist, signal=signal)
    mean, std = observation_stats(calibration, settings.calibration_episodes, settings.seed)
    normaliser = Normaliser(mean, std)
    env = ExecutionEnv(data, window, stats, normaliser, distribution=dist,
                       risk_aversion=settings.risk_aversion, signal=signal)  # fmt: skip
    return env, stats, normaliser


def train(
    settings: TrainSettings,
    out: Path,
    progress: Callable[[int, int, float | None], None] | None = None,
    data: ReplayData | None = None,
) -> dict[str, Any]:
    """`data`: the file of `settings.data` already in memory (a sweep ships it to its trials)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if settings.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {settings.algorithm!r}")
    distribution(settings.sizes)  # an unknown name fails before anything is loaded
    torch.set_num_threads(1)
    torch.manual_seed(settings.seed)
    out.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else ReplayData.load(settings.data)
    try:
        signal = load_signal(settings)
    except SignalError as exc:
        raise ValueError(str(exc)) from None
    _, stats, normaliser = build_env(data, settings, signal)
    window = Window.parse(settings.window)

    dist = settings.episode_distribution

    def make(rank: int) -> Callable[[], gym.Env[Any, Any]]:
        return lambda: ExecutionEnv(data, window, stats, normaliser, distribution=dist,
                                    benchmark=True, risk_aversion=settings.risk_aversion,
                                    signal=signal)  # fmt: skip

    # Environments step in worker processes (both cores simulate while PPO waits); one
    # environment, or tests, stay in process.
    fns = [make(i) for i in range(settings.n_envs)]
    vec = SubprocVecEnv(fns, start_method="fork") if settings.subprocess else DummyVecEnv(fns)
    vec.seed(settings.seed)
    curve: list[tuple[int, float, float]] = []
    """(timestep, episode IS, IS − TWAP's IS on the same episode)"""

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "is_bps" in info:
                    vs_twap = float(info["is_bps"]) - float(info.get("benchmark_is_bps", 0.0))
                    curve.append((self.num_timesteps, float(info["is_bps"]), vs_twap))
            if progress is not None and self.num_timesteps % 512 < settings.n_envs:
                recent = [c[2] for c in curve[-400:]]
                progress(
                    self.num_timesteps,
                    settings.timesteps,
                    float(np.mean(recent)) if recent else None,
                )
            return True

    started = time.perf_counter()
    model: Any
    if settings.algorithm == "ppo":
        model = PPO(
            "MlpPolicy", vec, seed=settings.seed, device="cpu", n_steps=512, batch_size=512,
            n_epochs=10, gamma=1.0, gae_lambda=0.95, ent_coef=settings.ent_coef,
            learning_rate=settings.learning_rate or 3e-4,
            policy_kwargs={"net_arch": list(settings.net_arch)}, verbose=0,
        )  # fmt: skip
    else:
        model = DQN(
            "MlpPolicy", vec, seed=settings.seed, device="cpu",
            learning_rate=settings.learning_rate or 5e-4,
            buffer_size=100_000, learning_starts=5_000, batch_size=128, gamma=1.0,
            train_freq=4, target_update_interval=2_000, exploration_fraction=0.3,
            exploration_final_eps=0.02, policy_kwargs={"net_arch": list(settings.net_arch)},
            verbose=0,
        )  # fmt: skip
    model.learn(total_timesteps=settings.timesteps, callback=Curve())
    seconds = time.perf_counter() - started
    model.save(out / "model.zip")
    record = {
        "settings": asdict(settings),
        "symbol": data.symbol,
        "normaliser": {
            "mean": normaliser.mean.tolist(),
            "std": normaliser.std.tolist(),
            "clip": normaliser.clip,
        },
        "stats": asdict(stats),
        "distribution": {"name": settings.sizes, **asdict(dist)},
        "objective": {
            "risk_aversion_per_bps": settings.risk_aversion,
            "risk_term": "Almgren–Chriss inventory penalty: sigma_bps² · interval_s · "
            "(held/parent)² per decision interval, sigma from the training window",
        },
        "train_seconds": round(seconds, 1),
        "episodes": len(curve),
        "versions": _versions(),
        "curve": curve,
    }
    if signal is not None:
        record["signal"] = signal.identity
    (out / "training.json").write_text(json.dumps(record, default=str))
    _plot_curve(curve, out / "training_curve.png", settings)
    return record


def _versions() -> dict[str, str]:
    import gymnasium
    import stable_baselines3
    import torch

    import rlexec

    return {
        "rlexec": rlexec.__version__, "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__, "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
    }  # fmt: skip


def _plot_curve(curve: list[tuple[int, float, float]], path: Path, settings: TrainSettings) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if curve:
        steps = np.array([c[0] for c in curve])
        values = np.array([c[1] for c in curve])
        k = max(1, len(values) // 50)
        smooth = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps, values, ".", alpha=0.15, ms=2, label="episode IS")
        ax.plot(steps[k - 1 :], smooth, lw=2, label=f"moving mean ({k} episodes)")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("implementation shortfall (bps, + = cost)")
    ax.set_title(
        f"Training ({settings.algorithm.upper()}, seed {settings.seed}, window {settings.window})"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
