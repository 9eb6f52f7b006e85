"""Benchmark: the in-process replay under its default models and under the evaluation preset.

Prints one JSON object: seconds for the full AAPL day alone and with a scripted agent
(a 100-share bid one tick below the mid, replaced every 100 events, as bench/venue.py), for
`ReplayConfig()` and for `presets.evaluation_config` (consume, by_id, square-root impact,
profile depth). The two configurations alternate within one process and medians are
reported: the machine is a noisy shared VM.

    .venv/bin/python bench/replay_modes.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import ExecReport
from rlexec.simulator.presets import evaluation_config
from rlexec.simulator.replay import MarketReplay

DATA = Path(
    os.environ.get("RLEXEC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/data/lobster")
)
AAPL = DATA / "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
TRAIN = (34_500 * 10**9, 46_800 * 10**9)
TICK = 100


def alone(data: ReplayData, cfg: ReplayConfig) -> float:
    replay = MarketReplay(data, cfg)
    t0 = time.perf_counter()
    replay.run()
    return time.perf_counter() - t0


def with_agent(data: ReplayData, cfg: ReplayConfig, every: int = 100) -> float:
    replay = MarketReplay(data, cfg)
    working: int | None = None
    t0 = time.perf_counter()
    while not replay.finished:
        replay.step(every)
        if working is not None:
            replay.cancel("agent", working)
        mid = replay.reference_mid
        if mid is None:
            working = None
            continue
        first = replay.buy("agent", 100, int(mid // TICK) * TICK - TICK)[0]
        working = first.order_id if isinstance(first, ExecReport) else None
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    data = ReplayData.load(AAPL)
    configs = {
        "default": ReplayConfig(),
        "evaluation": evaluation_config(data, TRAIN, base=ReplayConfig()),
    }
    runs: dict[str, dict[str, list[float]]] = {k: {"alone": [], "agent": []} for k in configs}
    for _ in range(args.repeat):
        for name, cfg in configs.items():
            runs[name]["alone"].append(alone(data, cfg))
            runs[name]["agent"].append(with_agent(data, cfg))
    result: dict[str, object] = {
        "benchmark": "replay_modes",
        "data": AAPL.name,
        "events": data.rows,
    }
    for name, by in runs.items():
        for what, xs in by.items():
            result[f"{name}_{what}_s"] = round(statistics.median(xs), 4)
            result[f"{name}_{what}_events_per_s"] = round(data.rows / statistics.median(xs))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
