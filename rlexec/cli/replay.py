"""`rlexec replay`: stream a LOBSTER day through the book and features and summarise it."""

from __future__ import annotations

import argparse
import json
import time
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt

from rlexec.cli.checks import positive_int
from rlexec.cli.progress import ProgressBar
from rlexec.market.book import L2Book
from rlexec.market.book_replay import BookReplay
from rlexec.market.features import FeatureConfig
from rlexec.market.instrument import PRICE_SCALE
from rlexec.market.lobster import LobsterName, LobsterPair, RawRow

HELP = "replay a LOBSTER message/orderbook pair through the L2 book and feature builder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="LOBSTER message file (.csv or .csv.gz)")
    parser.add_argument("--orderbook", help="its orderbook file (default: found beside it by name)")
    parser.add_argument("--levels", type=int, help="book depth (default: from the file name)")
    parser.add_argument(
        "--tick-size", type=int, default=100, help="tick in 1e-4 price units (default 100 = $0.01)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    if args.levels is not None:
        positive_int("--levels", args.levels)
    positive_int("--tick-size", args.tick_size)
    pair = LobsterPair.from_message(args.data, args.orderbook, args.levels)
    replay = BookReplay(pair, FeatureConfig(tick_size=args.tick_size))
    name = LobsterName.parse(pair.message)
    start_ns = (name.start_ms if name else 34_200_000) * 1_000_000
    end_ns = (name.end_ms if name else 57_600_000) * 1_000_000
    span = max(1, end_ns - start_ns)
    bar = ProgressBar(f"replay {pair.message.name}")
    spreads = array("q")
    imbalances = array("d")
    mids = array("d")

    def on_row(row: RawRow, book: L2Book) -> None:
        bid, ask = book.best_bid, book.best_ask
        if bid is not None and ask is not None:
            spreads.append(ask - bid)
            bs, asz = book.best_bid_size, book.best_ask_size
            imbalances.append((bs - asz) / (bs + asz))
            mids.append((bid + ask) / 2)
        if not replay.rows % 4096:
            bar.update((row[0] - start_ns) / span, f"{replay.rows:,} rows")

    t0 = time.perf_counter()
    replay.run(on_row)
    seconds = time.perf_counter() - t0
    bar.close()
    summary = _summary(pair, replay, seconds, spreads, imbalances, mids, args.tick_size)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_human(summary)
    return 0


def _stats(values: npt.NDArray[Any], scale: float = 1.0) -> dict[str, float]:
    if not len(values):
        return {}
    v = values / scale
    q = np.percentile(v, [5, 50, 95])
    return {
        "mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4),
        "p5": round(float(q[0]), 4), "median": round(float(q[1]), 4),
        "p95": round(float(q[2]), 4), "min": round(float(v.min()), 4),
        "max": round(float(v.max()), 4),
    }  # fmt: skip


def _summary(
    pair: LobsterPair,
    replay: BookReplay,
    seconds: float,
    spreads: array[int],
    imbalances: array[float],
    mids: array[float],
    tick: int,
) -> dict[str, object]:
    spread_arr = np.frombuffer(spreads, dtype=np.int64).astype(np.float64)
    mid_arr = np.frombuffer(mids, dtype=np.float64) / PRICE_SCALE
    return {
        "symbol": pair.symbol,
        "levels": pair.levels,
        "rows": replay.rows,
        "events": replay.events,
        "trades": replay.trades,
        "hidden_trades": replay.hidden_trades,
        "seconds": round(seconds, 3),
        "events_per_s": round(replay.events / seconds) if seconds else None,
        "rows_per_s": round(replay.rows / seconds) if seconds else None,
        "spread_ticks": _stats(spread_arr, tick),
        "imbalance_l1": _stats(np.frombuffer(imbalances, dtype=np.float64)),
        "mid": {"min": float(mid_arr.min()), "max": float(mid_arr.max())} if len(mid_arr) else {},
        "volatility_bps_at_close": round(replay.features.volatility_bps, 4),
    }


def _print_human(s: dict[str, object]) -> None:
    sp = s["spread_ticks"]
    im = s["imbalance_l1"]
    mid = s["mid"]
    assert isinstance(sp, dict) and isinstance(im, dict) and isinstance(mid, dict)
    print(f"{s['symbol']} level {s['levels']}: {s['rows']:,} rows → {s['events']:,} events "
          f"({s['trades']:,} trades, {s['hidden_trades']:,} hidden)")  # fmt: skip
    print(f"  {s['seconds']} s  ·  {s['events_per_s']:,} events/s  ·  {s['rows_per_s']:,} rows/s")
    if sp:
        print(f"  spread (ticks): mean {sp['mean']:.2f}  median {sp['median']:.0f}  "
              f"p5 {sp['p5']:.0f}  p95 {sp['p95']:.0f}  max {sp['max']:.0f}")  # fmt: skip
    if im:
        print(f"  L1 imbalance:   mean {im['mean']:+.3f}  std {im['std']:.3f}  "
              f"p5 {im['p5']:+.3f}  p95 {im['p95']:+.3f}")  # fmt: skip
    if mid:
        print(f"  mid range:      ${mid['min']:.2f} – ${mid['max']:.2f}")
