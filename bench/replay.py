"""Benchmark: a full LOBSTER day through reader → L2 book → features (the streaming path).

Prints one JSON object. `events` counts LOBSTER message rows (one market event each, as the
issue counts them); `market_events` counts the trades and level updates they expand into.
Medians over --repeat runs; the machine is a noisy 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from rlexec.market.book_replay import BookReplay
from rlexec.market.features import ExecutionState, FeatureBuilder
from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side

DATA = Path(
    os.environ.get("RLEXEC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/data/lobster")
)
AAPL = DATA / "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
AMZN5 = DATA / "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz"


def _replay(pair: LobsterPair) -> tuple[float, BookReplay]:
    replay = BookReplay(pair)
    t0 = time.perf_counter()
    replay.run()
    return time.perf_counter() - t0, replay


def _vector_us(features: FeatureBuilder, n: int = 20_000) -> float:
    state = ExecutionState(
        Side.BUY, 10_000, 0, 10**12, 5_850_000.0, filled=2_500, notional=2_500 * 5_851_000.0
    )
    now = features.now_ns
    t0 = time.perf_counter()
    for _ in range(n):
        features.vector(state, now)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    aapl = LobsterPair.from_message(AAPL)
    amzn = LobsterPair.from_message(AMZN5)
    _replay(aapl)  # warm the page cache and imports
    runs = [_replay(aapl) for _ in range(args.repeat)]
    seconds = statistics.median(r[0] for r in runs)
    replay = runs[0][1]
    read = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for _row in aapl.tuples():
            pass
        read.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    arrays = aapl.load()
    load_s = time.perf_counter() - t0
    amzn_s = statistics.median(_replay(amzn)[0] for _ in range(max(1, args.repeat // 2)))
    result = {
        "benchmark": "replay",
        "data": AAPL.name,
        "events": replay.rows,
        "market_events": replay.events,
        "seconds": round(seconds, 4),
        "events_per_s": round(replay.rows / seconds),
        "runs_s": [round(r[0], 4) for r in runs],
        "reader_only_events_per_s": round(replay.rows / statistics.median(read)),
        "numpy_loader_s": round(load_s, 4),
        "numpy_loader_rows": arrays.rows,
        "feature_vector_us": round(_vector_us(replay.features), 3),
        "amzn_level5_events_per_s": round(155_935 / amzn_s),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
