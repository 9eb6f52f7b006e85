"""Benchmark: what the state store costs the hot path, and how fast its writer drains.

Prints one JSON object. `put_child_*`, `add_fill_*`, `next_id_*`: the synchronous calls the
hot path makes (mirror + enqueue; an id from the current block), each timed alone with
perf_counter_ns, median over `--runs` runs; the enqueue path is the same code for every
backend. `drain_*_records_per_s`: records the write-behind writes per second (batches of
`--batch`, one transaction each) to memory and, when `--redis` answers, to Redis (its
namespace is deleted afterwards).
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
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rlexec.service.state import StateError  # noqa: E402
from rlexec.service.state_ids import ClOrdIdAllocator  # noqa: E402
from rlexec.service.state_memory import MemoryStateStore  # noqa: E402
from rlexec.service.state_redis import RedisStateStore  # noqa: E402
from rlexec.service.state_writer import WriteBehindStore  # noqa: E402


def child_record(i: int) -> dict[str, object]:
    """The shape of `oms.to_dict`: 21 JSON-safe fields."""
    cl = f"C{i}"
    return {
        "cl_ord_id": cl, "current_cl_ord_id": cl, "parent_id": "P1", "symbol": "AAPL",
        "side": "BUY", "quantity": 300, "price": 5_800_000, "time_in_force": "0",
        "order_type": "2", "created_ns": i, "updated_ns": i, "state": "new", "cum_qty": 0,
        "notional": 0, "accepted": True, "venue_order_id": "V" + cl, "pending_cl_ord_id": None,
        "pending_quantity": None, "pending_price": None, "text": None, "exec_ids": [],
    }  # fmt: skip


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


async def hot_path(n: int) -> dict[str, tuple[float, float]]:
    store = MemoryStateStore(max_queue=10 * n)
    await store.open()
    await store.load()
    alloc = ClOrdIdAllocator(store, "B", block=n + 1, low_water=0)
    await alloc.start()
    records = [child_record(i) for i in range(n)]
    fills = [{"cl_ord_id": f"C{i}", "qty": 100, "price": 5_800_000} for i in range(n)]
    clock = time.perf_counter_ns
    out: dict[str, list[int]] = {"put_child": [], "add_fill": [], "next_id": []}
    gc.collect()
    for i in range(n):
        t0 = clock()
        alloc.next()
        t1 = clock()
        store.put_child(f"C{i}", records[i])
        t2 = clock()
        store.add_fill(f"E{i}", fills[i])
        t3 = clock()
        out["next_id"].append(t1 - t0)
        out["put_child"].append(t2 - t1)
        out["add_fill"].append(t3 - t2)
    await store.close()
    result = {}
    for name, samples in out.items():
        samples.sort()
        result[name] = (pct(samples, 0.5), pct(samples, 0.99))
    return result


async def drain(store: WriteBehindStore, n: int) -> float:
    await store.open()
    await store.load()
    for i in range(n):
        store.put_child(f"C{i}", child_record(i))
    t0 = time.perf_counter()
    await store.flush()
    elapsed = time.perf_counter() - t0
    await store.close()
    return n / elapsed


async def redis_drain(url: str, n: int, batch: int) -> float | str:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    store = RedisStateStore(url, namespace, max_queue=2 * n, batch=batch)
    try:
        rate = await drain(store, n)
    except StateError as exc:
        return f"not measured: {exc}"
    import redis

    client = redis.Redis.from_url(url)
    client.delete(*client.keys(f"{namespace}:*"))
    client.close()
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    asyncio.run(hot_path(min(args.records, 5_000)))  # warm-up
    runs = [asyncio.run(hot_path(args.records)) for _ in range(args.runs)]
    result: dict[str, object] = {"bench": "state_store"}
    for name in ("put_child", "add_fill", "next_id"):
        result[f"{name}_p50_us"] = round(statistics.median(r[name][0] for r in runs), 3)
        result[f"{name}_p99_us"] = round(statistics.median(r[name][1] for r in runs), 3)
    memory = MemoryStateStore(max_queue=2 * args.records, batch=args.batch)
    result["drain_memory_records_per_s"] = round(asyncio.run(drain(memory, args.records)))
    redis_rate = asyncio.run(redis_drain(args.redis, args.records, args.batch))
    result["drain_redis_records_per_s"] = (
        round(redis_rate) if isinstance(redis_rate, float) else redis_rate
    )
    result.update(
        records_per_run=args.records,
        runs=args.runs,
        batch=args.batch,
        record="a 21-field child record (oms.to_dict shape), JSON-encoded by the writer",
        python=platform.python_version(),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
