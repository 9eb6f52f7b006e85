"""Benchmark: what the monitors add to the hot path per market-data message.

Replays `--minutes` of AAPL from 10:00 through a `MonitorSet` as the service feeds it
(one `on_book` per timestamp, every print, the timer every 100 ms of market time) and
times each `on_book` call alone with perf_counter_ns. Prints one JSON object: calls,
`p50_ns`, `p99_ns`, mean, and how many actions the calm market caused.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.risk.monitors import MonitorSet, load_monitor_config
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay

DATA = Path("/work/shared/data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.gz")
NS = 1_000_000_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--minutes", type=float, default=30.0)
    args = ap.parse_args(argv)
    data = ReplayData.load(args.data)
    start = 10 * 3600 * NS
    replay = MarketReplay(data, ReplayConfig(market_data=True), start_ns=start)
    replay.advance_to(start + round(args.minutes * 60 * NS))
    events = replay.market_events()
    m = MonitorSet(load_monitor_config({"max_daily_loss": 250_000.0}), [data.symbol])
    book = L2Book()  # the replay's first events are its initial view, as level updates
    timings: list[int] = []
    timer = 0
    symbol = data.symbol
    clock = time.perf_counter_ns
    for i, event in enumerate(events):
        ts = event.ts_ns
        if ts - timer >= NS // 10:
            timer = ts
            m.on_time(ts)
        if type(event) is Trade:
            m.on_trade(symbol, event, ts)
            continue
        book.apply(event)
        nxt = events[i + 1] if i + 1 < len(events) else None
        if nxt is not None and nxt.ts_ns == ts and type(nxt) is not Trade:
            continue
        t0 = clock()
        m.on_book(symbol, book, ts)
        timings.append(clock() - t0)
    timings.sort()
    out = {
        "data": args.data.name,
        "minutes": args.minutes,
        "on_book_calls": len(timings),
        "p50_ns": timings[len(timings) // 2],
        "p99_ns": timings[int(len(timings) * 0.99)],
        "mean_ns": round(statistics.mean(timings)),
        "actions": len(m.actions),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
