"""`rlexec train`: train the execution policy on the in-process venue (needs the train extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlexec.cli.checks import input_file, output_folder
from rlexec.cli.progress import ProgressBar
from rlexec.market.errors import RlexecError
from rlexec.market.sample_data import default_data

HELP = "train the RL execution policy with stable-baselines3 (CPU, seeded)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default=None, help="LOBSTER message file (default: the shared AAPL day)"
    )
    parser.add_argument(
        "--window", default="09:35-13:00", help="training window HH:MM-HH:MM (default 09:35-13:00)"
    )
    parser.add_argument(
        "--timesteps", type=int, default=600_000, help="environment steps (default 600000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--algorithm", choices=("ppo", "dqn"), default="ppo")
    parser.add_argument(
        "--sizes", choices=("small", "large"), default="large",
        help="episode distribution: large = 5-30%% of expected volume over 10-60 min (default)",
    )  # fmt: skip
    parser.add_argument(
        "--signal", default=None, metavar="ONNX",
        help="a price-move signal model (python -m rlexec.models.signal): the policy's "
        "observation then ends with signal_adverse_bps",
    )  # fmt: skip
    parser.add_argument("--out", default="runs/train", help="output folder (default runs/train)")


def run(args: argparse.Namespace) -> int:
    try:
        from rlexec.models.train import TrainSettings, train
    except ImportError as exc:
        raise RlexecError(
            f"training needs the train extra: pip install -e '.[train]' ({exc})"
        ) from None
    if args.timesteps <= 0:
        raise RlexecError(f"--timesteps must be positive, got {args.timesteps}")
    if args.data is not None:
        input_file("--data", args.data)
    if args.signal is not None:
        input_file("--signal", args.signal)
    output_folder("--out", args.out)
    settings = TrainSettings(
        data=args.data or default_data(), window=args.window, timesteps=args.timesteps,
        seed=args.seed, algorithm=args.algorithm, sizes=args.sizes,
        signal=Path(args.signal) if args.signal else None,
    )  # fmt: skip
    bar = ProgressBar("train")

    def progress(step: int, total: int, mean_is: float | None) -> None:
        detail = f"{step:,}/{total:,} steps" + (
            f"  recent IS {mean_is:+.2f} bps" if mean_is is not None else ""
        )
        bar.update(step / total, detail)

    try:
        record = train(settings, Path(args.out), progress)
    except ValueError as exc:
        raise RlexecError(str(exc)) from None
    bar.close()
    curve = record["curve"]
    tail = curve[-500:]
    print(json.dumps({
        "out": args.out, "timesteps": settings.timesteps, "episodes": record["episodes"],
        "train_seconds": record["train_seconds"],
        "last_500_mean_is_bps": round(sum(c[1] for c in tail) / len(tail), 3) if tail else None,
        "last_500_mean_is_minus_twap_bps": round(sum(c[2] for c in tail) / len(tail), 3) if tail else None,
    }))  # fmt: skip
    return 0
