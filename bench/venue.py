"""Venue simulator throughput: the full AAPL day through the matching engine, alone and with a
scripted agent. Prints one JSON object.

An event is one LOBSTER message row. Loading the day (once per process) is reported
separately: training and backtests load a day once and replay it many times.

    .venv/bin/python bench/venue.py [--data MESSAGE_FILE] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import ExecReport
from rlexec.simulator.replay import MarketReplay, fills

DATA_DIR = Path(
    os.environ.get(
        "RLEXEC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "lobster"
    )
)
AAPL = DATA_DIR / "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
TICK = 100


def replay_alone(data: ReplayData) -> float:
    replay = MarketReplay(data)
    t0 = time.perf_counter()
    replay.run()
    return time.perf_counter() - t0


def replay_with_agent(data: ReplayData, every: int = 100) -> tuple[float, int, int]:
    """Every `every` events: cancel the agent's working order, place a new bid at the touch."""
    replay = MarketReplay(data)
    working: int | None = None
    orders = filled = 0
    t0 = time.perf_counter()
    while not replay.finished:
        filled += len(fills(replay.step(every)))
        if working is not None:
            replay.cancel("agent", working)
        mid = replay.reference_mid
        if mid is None:
            working = None
            continue
        price = int(mid // TICK) * TICK
        out = replay.buy("agent", 100, price - TICK)
        orders += 1
        first = out[0]
        working = first.order_id if isinstance(first, ExecReport) else None
        filled += len(fills(out))
    replay.run()
    return time.perf_counter() - t0, orders, filled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=AAPL, help="LOBSTER message file")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measurement (median quoted)"
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = ReplayData.load(args.data)
    load_s = time.perf_counter() - t0
    alone = [replay_alone(data) for _ in range(args.repeat)]
    agent_runs = [replay_with_agent(data) for _ in range(args.repeat)]
    agent = [run[0] for run in agent_runs]
    _, orders, filled = agent_runs[0]
    rows = data.rows
    result = {
        "benchmark": "venue",
        "data": args.data.name,
        "events": rows,
        "load_s": round(load_s, 3),
        "repeat": args.repeat,
        "events_per_s": round(rows / statistics.median(alone)),
        "events_per_s_runs": [round(rows / s) for s in alone],
        "events_per_s_with_agent": round(rows / statistics.median(agent)),
        "events_per_s_with_agent_runs": [round(rows / s) for s in agent],
        "agent_orders": orders,
        "agent_fill_reports": filled,
        "target_events_per_s": 150_000,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
