"""`python -m rlexec.simulator.crosscheck --out DIR`: the fill-model cross-check (make validate-sim).

Exits 0 when every fill rate agrees within the tolerance, 1 when one does not (the report
is written either way), 2 on bad input (one line naming the file or argument).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rlexec.market.errors import RlexecError
from rlexec.market.sample_data import data_dir
from rlexec.simulator.crosscheck import FULL_WINDOWS, failures, run_experiment
from rlexec.simulator.crosscheck.report import markdown
from rlexec.simulator.data import ReplayData

SAMPLE_FILES = {
    "AAPL L1": "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz",
    "AMZN L1": "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz",
    "AMZN L5": "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m rlexec.simulator.crosscheck",
        description="Run the same passive-order experiment in rlexec and hftbacktest and compare "
        "fill rates (writes crosscheck.json and crosscheck.md).",
    )
    p.add_argument("--out", type=Path, required=True, help="directory for the report")
    p.add_argument(
        "--message",
        action="append",
        type=Path,
        help="a LOBSTER message file (repeatable); default: the AAPL and AMZN sample days in "
        "$RLEXEC_DATA_DIR",
    )
    p.add_argument(
        "--windows",
        type=int,
        default=FULL_WINDOWS,
        help=f"windows per file (default {FULL_WINDOWS})",
    )
    args = p.parse_args(argv)
    if args.windows < 1:
        p.error(f"--windows must be at least 1, got {args.windows}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.message:
            paths = {path.name: path for path in args.message}
        else:
            paths = {label: data_dir() / name for label, name in SAMPLE_FILES.items()}
        started = time.perf_counter()
        files = {label: ReplayData.load(path) for label, path in paths.items()}
        doc = run_experiment(files, args.windows)
        doc["seconds"] = round(time.perf_counter() - started, 1)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "crosscheck.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / "crosscheck.md").write_text(markdown(doc))
    except (RlexecError, OSError) as exc:
        print(f"crosscheck: error: {exc}", file=sys.stderr)
        return 2
    print(markdown(doc))
    bad = failures(doc)
    for line in bad:
        print(f"crosscheck: outside the tolerance: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
