"""`rlexec export`: write a trained policy as ONNX with its contract in the metadata."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlexec.market.errors import RlexecError

HELP = "export a trained policy to ONNX (opset 17) with feature names, actions and normalisation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run", default="runs/train", help="training output folder (default runs/train)"
    )
    parser.add_argument("--out", default=None, help="ONNX file (default RUN/policy.onnx)")
    parser.add_argument(
        "--evaluation",
        default=None,
        help="a backtest results.json to embed as the evaluation summary",
    )


def run(args: argparse.Namespace) -> int:
    try:
        from rlexec.models.export import export
    except ImportError as exc:
        raise RlexecError(
            f"export needs the train extra: pip install -e '.[train]' ({exc})"
        ) from None
    run_dir = Path(args.run)
    if not (run_dir / "model.zip").is_file() or not (run_dir / "training.json").is_file():
        raise RlexecError(
            f"{run_dir}: not a training output folder (needs model.zip and training.json)"
        )
    evaluation = None
    if args.evaluation:
        try:
            evaluation = json.loads(Path(args.evaluation).read_text())
        except (OSError, ValueError) as exc:
            raise RlexecError(f"{args.evaluation}: cannot read the evaluation ({exc})") from None
    out = export(run_dir, Path(args.out) if args.out else run_dir / "policy.onnx", evaluation)
    print(json.dumps({"onnx": str(out), "bytes": out.stat().st_size}))
    return 0
