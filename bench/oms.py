"""Benchmark: the OMS applying one execution report (`Oms.on_execution`).

Prints one JSON object: `reports_per_s`, `p50_us`, `p99_us` (the median over `--runs` runs),
plus how it was run. Each order goes through the common life of a working child: recorded,
acknowledged, two partial fills, a cancel request, cancelled. Only the four reports are
timed, each alone with perf_counter_ns; the listener is a no-op, so this is the OMS's own
cost (the service's listener — risk overlay, parents, metrics — comes on top).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time

from rlexec.gateway.execution import ExecKind, ExecutionEvent
from rlexec.market.orders import OrderIntent, OrderType, Side
from rlexec.service.oms import NullOmsListener, Oms

PX = 5_800_000


def _report(
    kind: ExecKind, cl: str, exec_id: str, status: str, last_qty: int = 0, cum: int = 0
) -> ExecutionEvent:
    exec_type = {ExecKind.NEW: "0", ExecKind.CANCELED: "4"}.get(kind, "F")
    return ExecutionEvent(
        kind, cl, "V" + cl, exec_id, exec_type, status, "AAPL", Side.BUY, 300, last_qty,
        PX if last_qty else None, cum, 300 - cum, PX if cum else None, PX,
        "C" + cl[1:] if kind is ExecKind.CANCELED else None, None, None, False, 0,
    )  # fmt: skip


def one_run(n: int) -> list[int]:
    oms = Oms(NullOmsListener(), time.monotonic_ns)
    intent = OrderIntent("AAPL", Side.BUY, 300, OrderType.LIMIT, PX)
    clock_ns = time.perf_counter_ns
    on_execution = oms.on_execution
    samples: list[int] = []
    append = samples.append
    gc.collect()
    for i in range(n):
        cl = f"C{i}"
        reports = [
            _report(ExecKind.NEW, cl, f"{i}a", "0"),
            _report(ExecKind.PARTIAL_FILL, cl, f"{i}b", "1", 100, 100),
            _report(ExecKind.PARTIAL_FILL, cl, f"{i}c", "1", 100, 200),
        ]
        oms.record_new(cl, intent, "P1", 0)
        for r in reports:
            t0 = clock_ns()
            on_execution(r)
            append(clock_ns() - t0)
        oms.record_cancel(cl, f"X{i}", 0)
        done = _report(ExecKind.CANCELED, f"X{i}", f"{i}d", "4", 0, 200)
        t0 = clock_ns()
        on_execution(done)
        append(clock_ns() - t0)
    if oms.working() or oms.counters.alerts or oms.counters.cancels != n:
        raise SystemExit(f"bench orders did not end as expected: {oms.counters}")
    return samples


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=50_000, help="orders per run")
    parser.add_argument("--runs", type=int, default=5, help="runs; the median run is reported")
    args = parser.parse_args(argv)
    one_run(min(args.orders, 5_000))  # warm-up
    p50s: list[float] = []
    p99s: list[float] = []
    rates: list[float] = []
    for _ in range(args.runs):
        samples = one_run(args.orders)
        samples.sort()
        p50s.append(percentile(samples, 0.50))
        p99s.append(percentile(samples, 0.99))
        rates.append(len(samples) / (sum(samples) / 1e9))
    result = {
        "bench": "oms.on_execution",
        "reports_per_s": round(statistics.median(rates)),
        "p50_us": round(statistics.median(p50s), 3),
        "p99_us": round(statistics.median(p99s), 3),
        "reports_per_run": 4 * args.orders,
        "runs": args.runs,
        "mix": "ack, partial fill, partial fill, requested cancel (per order)",
        "timer": "perf_counter_ns around each report (includes ~0.05 us of timer overhead)",
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
