"""Benchmark: one full cyclic garbage collection of a built service's heap, before and after
`gc.freeze()` (what `rlexec serve` does once started, `rlexec.service.heap.settle_heap`).

A real `Service` (the shipped model loaded, the state store opened) is built in process; then
`gc.collect()` is timed `--repeat` times as the heap stands, and again after the freeze. The
event loop waits for each such collection: market data and orders stall for its length.
Prints one JSON object; medians and maxima over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rlexec.service.config import ServiceSettings  # noqa: E402
from rlexec.service.runtime import Service  # noqa: E402


def full_collections(n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        gc.collect()
        out.append((time.perf_counter() - started) * 1e3)
    return out


async def run(repeat: int) -> dict[str, object]:
    service = Service(ServiceSettings(clock="venue", symbols=("AAPL",)))
    await service.store.open()
    await service.store.load()
    before = full_collections(repeat)
    tracked = len(gc.get_objects())  # counted last, so the freeze takes exactly these
    gc.freeze()
    frozen = gc.get_freeze_count()
    after = full_collections(repeat)
    gc.unfreeze()
    return {
        "bench": "service.gc_pause",
        "tracked_objects": tracked,
        "frozen_objects": frozen,
        "full_collection_ms_p50": round(statistics.median(before), 3),
        "full_collection_ms_max": round(max(before), 3),
        "frozen_full_collection_ms_p50": round(statistics.median(after), 3),
        "frozen_full_collection_ms_max": round(max(after), 3),
        "repeat": repeat,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7, help="collections timed each way")
    args = parser.parse_args(argv)
    if args.repeat <= 0:
        parser.error("--repeat must be positive")
    print(json.dumps(asyncio.run(run(args.repeat))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
