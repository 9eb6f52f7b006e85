"""`rlexec sweep`: training seeds × hyperparameters on Ray Tune, the best exported to ONNX."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rlexec.cli.progress import ProgressBar
from rlexec.market.errors import RlexecError
from rlexec.market.sample_data import default_data

HELP = "train a grid of seeds and hyperparameters on Ray Tune; pick on the validation window only"
T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--data", default=None, help="LOBSTER message file (default: the shared AAPL day)")
    a("--train-window", default=None,
      help="trials train here (default: the evaluation plan's, 09:35-11:25)")  # fmt: skip
    a("--validation-window", default=None,
      help="trials are scored here only (default: the plan's, 11:25-13:00); a window on a "
      "test split of the plan is refused")  # fmt: skip
    a("--sizes", choices=("small", "large"), default=None,
      help="parent sizes of training and validation episodes (default: the plan's, large)")  # fmt: skip
    a("--seeds", default="7,8", help="training seeds (default 7,8)")
    a("--learning-rates", default="3e-4,1e-3")
    a("--ent-coefs", default="0,0.005", help="PPO entropy coefficients")
    a("--net-sizes", default="64,128", help="width of the two hidden layers")
    a("--intervals", default="15,30", help="decision intervals in seconds")
    a("--timesteps", type=int, default=200_000, help="environment steps per trial")
    a("--algorithm", choices=("ppo", "dqn"), default="ppo")
    a("--n-envs", type=int, default=4, help="environments per trial")
    a("--calibration-episodes", type=int, default=40)
    a("--validation-episodes", type=int, default=60)
    a("--validation-seed", type=int, default=None, help="default: the plan's validation seed")
    a("--cpus-per-trial", type=float, default=1.0)
    a("--ray", nargs="?", const="local", default="local", metavar="ADDRESS",
      help="Ray to run on: none given starts a local Ray, 'auto' the cluster `ray start` made, "
      "or host:port / ray://host:10001")  # fmt: skip
    a("--storage", default=None,
      help="Tune's storage for checkpoints (default OUT/tune; on a multi-node cluster a shared "
      "path or bucket)")  # fmt: skip
    a("--out", default="runs/sweep", help="output folder (default runs/sweep)")


def _values(flag: str, text: str, kind: Callable[[str], T]) -> tuple[T, ...]:
    try:
        values = tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise RlexecError(f"{flag}: {text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise RlexecError(f"{flag} needs at least one value")
    return values


def run(args: argparse.Namespace) -> int:
    try:
        from rlexec.models.validation import ValidationPlan
        from rlexec.scale.sweep import METRIC, SweepSpec, sweep
    except ImportError as exc:
        raise RlexecError(
            f"sweep needs the train and scale extras: pip install -e '.[train,scale]' ({exc})"
        ) from None
    for flag, value in (("--timesteps", args.timesteps), ("--n-envs", args.n_envs),
                        ("--validation-episodes", args.validation_episodes),
                        ("--calibration-episodes", args.calibration_episodes)):  # fmt: skip
        if value < 1:
            raise RlexecError(f"{flag} must be at least 1, got {value}")
    data = args.data or default_data()
    try:
        base = ValidationPlan.from_evaluation_plan(data, args.validation_episodes)
    except ValueError as exc:
        raise RlexecError(str(exc)) from None
    plan = replace(
        base,
        train_window=args.train_window or base.train_window,
        validation_window=args.validation_window or base.validation_window,
        sizes=args.sizes or base.sizes,
        seed=base.seed if args.validation_seed is None else args.validation_seed,
    )
    spec = SweepSpec(
        data=data, plan=plan,
        seeds=_values("--seeds", args.seeds, int),
        learning_rates=_values("--learning-rates", args.learning_rates, float),
        ent_coefs=_values("--ent-coefs", args.ent_coefs, float),
        net_sizes=_values("--net-sizes", args.net_sizes, int),
        intervals_s=_values("--intervals", args.intervals, float),
        timesteps=args.timesteps, algorithm=args.algorithm, n_envs=args.n_envs,
        calibration_episodes=args.calibration_episodes, cpus_per_trial=args.cpus_per_trial,
    )  # fmt: skip
    bar = ProgressBar("sweep")
    bar.update(0.0, f"0/{spec.trials()} trials")
    try:
        outcome = sweep(
            spec, Path(args.out), args.ray, args.storage,
            progress=lambda done, total: bar.update(done / total, f"{done}/{total} trials"),
        )  # fmt: skip
    except ValueError as exc:
        raise RlexecError(str(exc)) from None
    bar.close()
    print(json.dumps({
        "model": str(outcome.model), "table": str(outcome.table), "trials": spec.trials(),
        "best": outcome.best, "metric": METRIC,
    }, indent=1))  # fmt: skip
    return 0
