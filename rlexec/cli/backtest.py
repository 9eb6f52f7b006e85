"""`rlexec backtest`: every algorithm on the same episodes, with a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlexec.cli.progress import ProgressBar
from rlexec.market.errors import RlexecError

HELP = (
    "compare RL against TWAP, VWAP, POV, Almgren-Chriss, submit-and-leave, the passive variants "
    "and the best constant action on the same episodes"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="LOBSTER message file to trade in")
    parser.add_argument("--model", default=None, help="ONNX policy (default: the shipped model)")
    parser.add_argument(
        "--algos",
        default=None,
        help="comma-separated (default: every baseline and rl; also: random)",
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--window", default="13:00-15:55", help="episode starts and ends inside HH:MM-HH:MM"
    )
    parser.add_argument(
        "--stats-window", default="09:35-13:00", help="window the baselines are calibrated on"
    )
    parser.add_argument(
        "--train-data",
        default=None,
        help="LOBSTER message file best_constant is selected on, in --stats-window (default: --data; "
        "needed when --window is --stats-window, e.g. another ticker's day)",
    )
    parser.add_argument(
        "--out", required=True, help="output folder for results.json, report.md and plots"
    )


def run(args: argparse.Namespace) -> int:
    try:
        from rlexec.models.backtest import ALGOS, backtest
    except ImportError as exc:
        raise RlexecError(
            f"backtest needs the train extra: pip install -e '.[train]' ({exc})"
        ) from None
    if args.episodes < 1:
        raise RlexecError(f"--episodes must be at least 1, got {args.episodes}")
    algos = [a.strip() for a in args.algos.split(",") if a.strip()] if args.algos else list(ALGOS)
    bar = ProgressBar("backtest")
    try:
        doc = backtest(
            args.data, Path(args.out), algos, Path(args.model) if args.model else None,
            args.episodes, args.seed, args.window, args.stats_window,
            progress=lambda done, total: bar.update(done / total, f"{done}/{total} runs"),
            train_data=args.train_data,
        )  # fmt: skip
    except ValueError as exc:
        raise RlexecError(str(exc)) from None
    bar.close()
    summary = {name: {k: v for k, v in s.items() if k != "vs"} for name, s in doc["algos"].items()}
    print(json.dumps({"out": args.out, "algos": summary}, indent=1))
    return 0
