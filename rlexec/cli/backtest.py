"""`rlexec backtest`: every algorithm on the same episodes, with a report.

By default on the evaluation plan's validation window; a window the plan marks as test is
refused unless `--allow-test` (a final evaluation), and then it is logged.
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlexec.cli.checks import input_file, output_folder
from rlexec.cli.progress import ProgressBar
from rlexec.market.errors import RlexecError

HELP = (
    "compare RL against TWAP, VWAP, POV, Almgren-Chriss, submit-and-leave, the passive variants "
    "and the best constant action on the same episodes"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default=None, nargs="+",
        help="LOBSTER message file(s) or folder(s) (default: the plan's validation data); "
        "several ticker-days are reported per ticker, per day and overall",
    )  # fmt: skip
    parser.add_argument("--model", default=None, help="ONNX policy (default: the shipped model)")
    parser.add_argument(
        "--ablation-model", default=None, metavar="ONNX",
        help="the signal ablation's arm: a policy trained as --model with the price-move signal; "
        "adds algo rl_signal on the same episodes (one --data file)",
    )  # fmt: skip
    parser.add_argument(
        "--algos",
        default=None,
        help="comma-separated (default: every baseline and rl; also: random)",
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--window", default=None,
        help="episodes start and end inside HH:MM-HH:MM (default: the plan's validation window)",
    )  # fmt: skip
    parser.add_argument(
        "--stats-window", default=None,
        help="window the baselines and sizes are calibrated on (default: the validation plan's)",
    )  # fmt: skip
    parser.add_argument(
        "--sizes", choices=("small", "large"), default="large",
        help="parent sizes: large = 5-30%% of expected volume over 10-60 min (default); "
        "small = 2-15%% over 5-20 min",
    )  # fmt: skip
    parser.add_argument(
        "--sensitivity", action="store_true",
        help="also run the standard sensitivity rows; writes sensitivity.json and sensitivity.md",
    )  # fmt: skip
    parser.add_argument(
        "--rows", default=None, help="comma-separated sensitivity rows (implies --sensitivity)"
    )
    parser.add_argument(
        "--allow-test", action="store_true",
        help="run on a test window of the evaluation plan (a final evaluation; it is logged)",
    )  # fmt: skip
    parser.add_argument(
        "--train-data",
        default=None,
        help="LOBSTER message file best_constant is selected on, in --stats-window (default: --data; "
        "needed when --window is --stats-window, e.g. another ticker's day)",
    )
    parser.add_argument(
        "--out", required=True, help="output folder for results.json, report.md and plots"
    )
    parser.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help="run the tasks on Ray (the scale extra): no ADDRESS starts a local Ray, 'auto' "
        "joins the cluster `ray start` made, or host:port / ray://host:10001",
    )  # fmt: skip
    parser.add_argument(
        "--ray-read", choices=("driver", "cluster"), default="driver",
        help="with --ray, who reads the data files: this process, shipping them once "
        "(default), or tasks on the cluster (the paths must be readable on every node)",
    )  # fmt: skip
    parser.add_argument(
        "--chunk", type=int, default=25, help="episodes per task (default 25): the unit of work"
    )


def run(args: argparse.Namespace) -> int:
    try:
        from rlexec.market.sample_data import data_dir
        from rlexec.models.backtest import ALGOS, backtest
        from rlexec.models.protocol import Guard, load_plan
        from rlexec.models.sensitivity import ROW_NAMES
    except ImportError as exc:
        raise RlexecError(
            f"backtest needs the train extra: pip install -e '.[train]' ({exc})"
        ) from None
    if args.episodes < 1:
        raise RlexecError(f"--episodes must be at least 1, got {args.episodes}")
    if args.chunk < 1:
        raise RlexecError(f"--chunk must be at least 1, got {args.chunk}")
    algos = [a.strip() for a in args.algos.split(",") if a.strip()] if args.algos else list(ALGOS)
    rows: list[str] | None = None
    if args.rows is not None:
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    elif args.sensitivity:
        rows = list(ROW_NAMES)
    ablation = input_file("--ablation-model", args.ablation_model) if args.ablation_model else None
    if ablation is not None and "rl_signal" not in algos:
        algos.append("rl_signal")
    model = input_file("--model", args.model) if args.model else None
    if args.train_data is not None:
        input_file("--train-data", args.train_data)
    output_folder("--out", args.out)
    _load_policies(model if "rl" in algos else None, ablation)
    bar = ProgressBar("backtest")
    with ExitStack() as stack:
        executor = stack.enter_context(_ray_executor(args)) if args.ray else None
        try:
            plan = load_plan()
            v = plan.validation
            data = args.data or [str(data_dir() / v.data)]
            window = args.window or v.window
            stats_window = args.stats_window or v.stats_window
            guard = Guard(plan, allow_test=args.allow_test)
            several = len(data) > 1 or Path(data[0]).is_dir()
            if several:
                from rlexec.models.multi import multi_backtest

                if rows is not None or ablation is not None:
                    raise RlexecError(
                        "--sensitivity, --rows and --ablation-model run on one --data file"
                    )
                doc = multi_backtest(
                    data, Path(args.out), algos, model, args.episodes, args.seed, window,
                    stats_window,
                    progress=lambda done, total: bar.update(done / total, f"{done}/{total} runs"),
                    sizes=args.sizes, guard=guard, train_data=args.train_data,
                    executor=executor, chunk=args.chunk,
                )["overall"]  # fmt: skip
            else:
                doc = backtest(
                    data[0], Path(args.out), algos, model, args.episodes, args.seed, window,
                    stats_window,
                    progress=lambda done, total: bar.update(done / total, f"{done}/{total} runs"),
                    sizes=args.sizes, rows=rows, guard=guard, train_data=args.train_data,
                    executor=executor, chunk=args.chunk, ablation_model=ablation,
                )  # fmt: skip
        except ValueError as exc:
            bar.close()
            raise RlexecError(str(exc)) from None
    bar.close()
    summary = {name: {k: v for k, v in s.items() if k != "vs"} for name, s in doc["algos"].items()}
    report: dict[str, object] = {"out": args.out, "algos": summary}
    if executor is not None:
        report["ray"] = asdict(executor.stats)
    print(json.dumps(report, indent=1))
    return 0


def _load_policies(model: Path | None, ablation: Path | None) -> None:
    """Load the policy files now: a bad one is refused before any episode runs, not minutes in."""
    from rlexec.models.policy import OnnxPolicy

    if model is not None:
        OnnxPolicy(model)
    if ablation is not None and OnnxPolicy(ablation).signal is None:
        raise RlexecError(f"--ablation-model {ablation}: was trained without the price-move signal")


def _ray_executor(args: argparse.Namespace) -> Any:
    """Imported only when asked for: the local path never imports Ray."""
    try:
        from rlexec.scale.executor import RayExecutor
    except ImportError as exc:
        raise RlexecError(
            f"--ray needs the scale extra: pip install -e '.[scale]' ({exc})"
        ) from None
    return RayExecutor(args.ray, read=args.ray_read)
