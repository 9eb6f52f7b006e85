"""Venue simulator throughput. Prints one JSON object.

Engine: the full AAPL day through the matching engine, alone (`events_per_s`) and with a
scripted agent placing and cancelling an order every 100 events (`events_per_s_with_agent`).
An event is one LOBSTER message row; loading the day (once per process) is reported apart.

FIX path (`fix`): a real `rlexec venue` process (real-time replay from 10:00) and, in this
process, two clients over loopback using the gateway's OrderClient: MAKER rests a large
sell inside the spread, BENCH sends limit buys at that price, each answered by an
ExecutionReport New and a Fill (and a partial fill to MAKER). `fills_per_s` counts BENCH's
fill answers, one order at a time (sequential) and with 100 orders in flight (pipelined).

    .venv/bin/python bench/venue.py [--data MESSAGE_FILE] [--repeat 5] [--no-fix]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rlexec.gateway import eventloop
from rlexec.gateway.config import SessionConfig
from rlexec.gateway.execution import ExecKind, ExecutionEvent
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.order_client import OrderClient, OrderEvents
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.market.orders import OrderIntent, OrderType, Side
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


# -- the FIX path ----------------------------------------------------------------------------


class Fills(OrderEvents):
    def __init__(self) -> None:
        self.sent_at: dict[str, int] = {}
        self.fill_ns: list[int] = []
        self.filled = 0
        self.waiter: asyncio.Future[None] | None = None
        self.window: asyncio.Semaphore | None = None

    def on_execution(self, event: ExecutionEvent) -> None:
        if event.kind is not ExecKind.FILL:
            return
        sent = self.sent_at.pop(event.cl_ord_id, None)
        if sent is None:
            return
        self.fill_ns.append(time.perf_counter_ns() - sent)
        self.filled += 1
        if self.window is not None:
            self.window.release()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def start_venue_process(data: Path, workdir: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    config = Path(workdir) / "venue.json"
    unthrottled = {"throttle_reject_per_s": None, "throttle_logout_per_s": None}
    config.write_text(
        json.dumps(
            {
                "clients": [
                    {"comp_id": "BENCH", **unthrottled},
                    {"comp_id": "MAKER", **unthrottled},
                ],
                "replay": {"max_order_quantity": 10_000_000},
            }
        )
    )
    log = Path(workdir) / "venue.log"
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(data), "--config",
        str(config), "--port", "0", "--speed", "1", "--start", "10:00", "--log-level", "WARNING",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=log.open("wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on [\d.]+:(\d+)", log.read_text())
        if found:
            return proc, int(found.group(1)), log
        if proc.poll() is not None:
            raise RuntimeError(f"rlexec venue exited: {log.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("rlexec venue did not start listening within 60 s")


async def connect(
    port: int, comp_id: str, events: OrderEvents, prefix: str
) -> tuple[OrderClient, FixInitiator]:
    config = SessionConfig(
        comp_id, "VENUE", heartbeat_interval=30, max_latency=None, reset_on_logon=True
    )
    client = OrderClient(FixSession(config, MemoryStore()), events, clordid_prefix=prefix)
    initiator = FixInitiator(client.session, "127.0.0.1", port)
    await initiator.start()
    async with asyncio.timeout(10):
        await client.session.wait_logged_on()
    return client, initiator


async def fix_run(port: int, orders: int, in_flight: int, run_id: str) -> dict[str, float]:
    maker_events = OrderEvents()
    maker, maker_init = await connect(port, "MAKER", maker_events, f"m{run_id}-")
    fills = Fills()
    bench, bench_init = await connect(port, "BENCH", fills, f"b{run_id}-")
    # The maker rests a big sell one tick above the 10:00 best bid ($585.90): inside the spread.
    price = 5_859_100
    maker.new_order(OrderIntent("AAPL", Side.SELL, 9_000_000, OrderType.LIMIT, price))
    await asyncio.sleep(0.2)
    intent = OrderIntent("AAPL", Side.BUY, 100, OrderType.LIMIT, price)
    loop = asyncio.get_running_loop()
    perf = time.perf_counter_ns
    t0 = time.perf_counter()
    async with asyncio.timeout(300):
        if in_flight <= 1:
            for _ in range(orders):
                fills.waiter = loop.create_future()
                fills.sent_at[bench.new_order(intent)] = perf()
                await fills.waiter
        else:
            window = asyncio.Semaphore(in_flight)
            fills.window = window
            for _ in range(orders):
                await window.acquire()
                fills.sent_at[bench.new_order(intent)] = perf()
            while fills.filled < orders:
                fills.waiter = loop.create_future()
                await fills.waiter
    seconds = time.perf_counter() - t0
    maker.mass_cancel()
    await asyncio.sleep(0.1)
    await bench_init.stop(grace=2.0)
    await maker_init.stop(grace=2.0)
    ordered = sorted(fills.fill_ns)
    return {
        "fills_per_s": round(orders / seconds, 1),
        "fill_p50_us": round(ordered[len(ordered) // 2] / 1000, 1),
        "fill_p99_us": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / 1000, 1),
    }


def fix_path(data: Path, repeat: int, sequential: int, pipelined: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="rlexec-venue-bench-") as tmp:
        proc, port, _ = start_venue_process(data, tmp)
        try:
            seq = [eventloop.run(fix_run(port, sequential, 1, f"s{i}")) for i in range(repeat)]
            pipe = [eventloop.run(fix_run(port, pipelined, 100, f"p{i}")) for i in range(repeat)]
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    def median(runs: list[dict[str, float]]) -> dict[str, object]:
        ranked = sorted(runs, key=lambda r: r["fills_per_s"])
        out: dict[str, object] = dict(ranked[len(ranked) // 2])
        out["runs_fills_per_s"] = [r["fills_per_s"] for r in runs]
        return out

    return {
        "venue": "rlexec venue subprocess, real-time replay from 10:00",
        "sequential": {"orders": sequential, **median(seq)},
        "pipelined": {"orders": pipelined, "in_flight": 100, **median(pipe)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=AAPL, help="LOBSTER message file")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measurement (median quoted)"
    )
    parser.add_argument("--no-fix", action="store_true", help="skip the FIX-path measurement")
    parser.add_argument(
        "--fix-orders", type=int, default=10_000, help="pipelined FIX orders per run"
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
        "fix": None
        if args.no_fix
        else fix_path(args.data, min(args.repeat, 3), 1_000, args.fix_orders),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
