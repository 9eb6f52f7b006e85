"""FIX round trip: our initiator against an acceptor built from our session layer, over loopback.

The acceptor runs in its own process (the machine has two cores: one per side) and answers
every NewOrderSingle with an ExecutionReport New and an ExecutionReport Fill. Both sides
persist sequence numbers and sent messages in the append-only file store (each send, corked
burst or batch of replies is appended with one write before its socket write; fsync at most
once a second on a worker thread), and run on rlexec's event loop (uvloop where installed,
rlexec/gateway/eventloop.py). Latencies run from just before the order is encoded to the
execution report's callback.

`sequential`: send one order, wait for its fill, repeat. `pipelined`: keep 100 orders in
flight (each burst that fits the window goes out corked, in one write). Prints one JSON
object; `--repeat N` runs each mode N times and reports the median run (by orders/s) with
every run's orders/s alongside, and the CPU each side spent per order (which, unlike
orders/s, does not depend on what else the machine is running).

`--busy-poll-us N` has both of our ends (not QuickFIX's) poll for N µs after FIX traffic
instead of sleeping until the kernel wakes them (rlexec.gateway.busy_poll): it needs a free
core per end, and the JSON says which way it ran.

`same_process` repeats both modes with the acceptor on the same event loop as the initiator
(one core, no cross-process wake-ups), the other common way engines are benchmarked.

`--quickfix` adds the anchor (issue 13): QuickFIX 1.16 on both ends through its Python
bindings at its fastest settings (no persistence, no logging, no data dictionary), the same
two workloads, each end its own process (bench/quickfix_anchor.py, inside `unshare --net`:
QuickFIX's acceptor binds every interface). Its runs interleave with ours, repeat by repeat,
so that both see the same machine; `ratio_sequential` / `ratio_pipelined` are our median
orders/s over QuickFIX's, `ratios_*_by_repeat` the ratios of the runs made side by side, and
`cpu_ratio_*` QuickFIX's CPU per order (both ends) over ours, in the median runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rlexec.gateway import busy_poll, eventloop  # noqa: E402
from rlexec.gateway.acceptor import FixAcceptor  # noqa: E402
from rlexec.gateway.application import Application  # noqa: E402
from rlexec.gateway.config import Role, SessionConfig  # noqa: E402
from rlexec.gateway.execution import ExecutionEvent  # noqa: E402
from rlexec.gateway.initiator import FixInitiator  # noqa: E402
from rlexec.gateway.message import FixMessage  # noqa: E402
from rlexec.gateway.order_client import OrderClient, OrderEvents  # noqa: E402
from rlexec.gateway.session import FixSession  # noqa: E402
from rlexec.gateway.store_file import FileStore  # noqa: E402
from rlexec.market.orders import OrderIntent, Side  # noqa: E402

# -- the acceptor process ------------------------------------------------------------------------


class AckAndFill(Application):
    """Acks and fully fills every NewOrderSingle at its limit price."""

    def __init__(self) -> None:
        self.order_ids = 0

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        if message.msg_type != b"D":
            return
        f = message.fields
        self.order_ids += 1
        oid = b"%d" % self.order_ids
        qty = f[38]
        px = f.get(44, b"0") or b"0"
        common = b"".join(
            (b"37=", oid, b"\x0111=", f[11], b"\x0155=", f[55], b"\x0154=", f[54], b"\x0138=", qty)
        )
        session.send(
            b"8",
            b"".join(
                (
                    common,
                    b"\x0117=N",
                    oid,
                    b"\x01150=0\x0139=0\x0114=0\x01151=",
                    qty,
                    b"\x016=0\x01",
                )
            ),
        )
        session.send(
            b"8",
            b"".join(
                (
                    common,
                    b"\x0117=F",
                    oid,
                    b"\x01150=F\x0139=2\x0131=",
                    px,
                    b"\x0132=",
                    qty,
                    b"\x0114=",
                    qty,
                    b"\x01151=0\x016=",
                    px,
                    b"\x01",
                )
            ),
        )


def bench_acceptor(store_dir: str) -> FixAcceptor:
    config = SessionConfig("BENCHVENUE", "BENCHCLIENT", Role.ACCEPTOR, heartbeat_interval=30)
    store = FileStore.for_session(store_dir, "FIX.4.4", "BENCHVENUE", "BENCHCLIENT")
    return FixAcceptor([FixSession(config, store, AckAndFill())])


async def serve(store_dir: str) -> None:
    acceptor = bench_acceptor(store_dir)
    await acceptor.start()
    print(acceptor.port, flush=True)
    # Serve until the parent closes our stdin; answer "cpu" with our CPU seconds so far.
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "cpu":
            print(time.process_time(), flush=True)
    await acceptor.stop(grace=1.0)


# -- the initiator side ----------------------------------------------------------------------------


class Latencies(OrderEvents):
    """Records order→ack and order→fill latencies as execution reports come back."""

    def __init__(self) -> None:
        self.sent_at: dict[str, int] = {}
        self.ack_ns: list[int] = []
        self.fill_ns: list[int] = []
        self.filled = 0
        self.in_flight = 0
        self.waiter: asyncio.Future[None] | None = None

    def on_execution(self, event: ExecutionEvent) -> None:
        now = time.perf_counter_ns()
        sent = self.sent_at.get(event.cl_ord_id)
        if sent is None:
            return
        if event.exec_type == "0":
            self.ack_ns.append(now - sent)
        elif event.exec_type == "F" and event.leaves_qty == 0:
            self.fill_ns.append(now - sent)
            self.filled += 1
            del self.sent_at[event.cl_ord_id]
            self.in_flight -= 1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def venue_cpu(venue: subprocess.Popen[str] | None) -> float:
    if venue is None:  # same process: the client's CPU time already includes the venue's
        return 0.0
    assert venue.stdin is not None and venue.stdout is not None
    venue.stdin.write("cpu\n")
    venue.stdin.flush()
    return float(venue.stdout.readline())


async def run_mode(
    venue: subprocess.Popen[str] | None,
    port: int,
    store_dir: str,
    orders: int,
    in_flight: int,
    run_id: str,
) -> dict[str, float]:
    events = Latencies()
    config = SessionConfig("BENCHCLIENT", "BENCHVENUE", heartbeat_interval=30, reset_on_logon=True)
    store = FileStore.for_session(store_dir, "FIX.4.4", "BENCHCLIENT", "BENCHVENUE")
    client = OrderClient(FixSession(config, store), events, clordid_prefix=run_id)
    initiator = FixInitiator(client.session, "127.0.0.1", port)
    await initiator.start()
    async with asyncio.timeout(10):
        await client.session.wait_logged_on()
    intent = OrderIntent("AAPL", Side.BUY, 100, price=5_853_300)
    loop = asyncio.get_running_loop()
    perf = time.perf_counter_ns
    spinner = busy_poll.spinner_for(loop)
    polls0 = 0 if spinner is None else spinner.polls
    cpu0, venue_cpu0 = time.process_time(), venue_cpu(venue)
    t0 = time.perf_counter()
    async with asyncio.timeout(300):
        if in_flight <= 1:
            for _ in range(orders):
                events.waiter = loop.create_future()
                cl = client.next_cl_ord_id()
                events.sent_at[cl] = perf()
                client.new_order(intent, cl_ord_id=cl)
                await events.waiter
        else:
            sent = 0
            while events.filled < orders:
                burst = min(in_flight - events.in_flight, orders - sent)
                if burst > 0:
                    # Everything that fits in the window goes out in one write.
                    with client.session.corked():
                        for _ in range(burst):
                            cl = client.next_cl_ord_id()
                            events.sent_at[cl] = perf()
                            client.new_order(intent, cl_ord_id=cl)
                    sent += burst
                    events.in_flight += burst
                events.waiter = loop.create_future()
                await events.waiter
    seconds = time.perf_counter() - t0
    cpu, venue_cpu1 = time.process_time() - cpu0, venue_cpu(venue) - venue_cpu0
    await initiator.stop(grace=2.0)
    assert events.filled == orders, f"only {events.filled} of {orders} orders filled"
    result = {
        "orders_per_s": round(orders / seconds, 1),
        "ack_p50_us": round(percentile(events.ack_ns, 0.5), 1),
        "fill_p50_us": round(percentile(events.fill_ns, 0.5), 1),
        "fill_p99_us": round(percentile(events.fill_ns, 0.99), 1),
        "client_cpu_us_per_order": round(cpu / orders * 1e6, 1),
        "venue_cpu_us_per_order": round(venue_cpu1 / orders * 1e6, 1),
        # loop iterations our client spent polling for the replies (0: it slept)
        "client_busy_polls": 0 if spinner is None else spinner.polls - polls0,
    }
    if venue is None:
        result["cpu_us_per_order"] = result.pop("client_cpu_us_per_order")
        del result["venue_cpu_us_per_order"]
    return result


async def run_same_process(
    store_dir: str, orders: int, in_flight: int, run_id: str
) -> dict[str, float]:
    acceptor = bench_acceptor(os.path.join(store_dir, "venue"))
    await acceptor.start()
    try:
        return await run_mode(
            None, acceptor.port, os.path.join(store_dir, "client"), orders, in_flight, run_id
        )
    finally:
        await acceptor.stop(grace=1.0)


ANCHOR = Path(__file__).with_name("quickfix_anchor.py")


def quickfix_run(orders: int, in_flight: int, dictionary: bool) -> dict[str, float]:
    """One QuickFIX anchor run in a private network namespace (only loopback inside)."""
    extra = " dictionary" if dictionary else ""
    command = f"ip link set lo up && exec {sys.executable} {ANCHOR} run {orders} {in_flight}{extra}"
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"QuickFIX anchor failed: {proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def rate(run: dict[str, object]) -> float:
    value = run["orders_per_s"]
    assert isinstance(value, float)
    return value


def cpu(run: dict[str, object]) -> float:
    """Client plus venue CPU microseconds per order."""
    client, venue = run["client_cpu_us_per_order"], run["venue_cpu_us_per_order"]
    assert isinstance(client, float) and isinstance(venue, float)
    return client + venue


def median_run(runs: list[dict[str, float]]) -> dict[str, object]:
    ranked = sorted(runs, key=lambda r: r["orders_per_s"])
    result: dict[str, object] = dict(ranked[len(ranked) // 2])
    result["runs_orders_per_s"] = [r["orders_per_s"] for r in runs]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--quickfix", action="store_true", help="interleave the QuickFIX 1.16 anchor's runs"
    )
    parser.add_argument(
        "--quickfix-dictionary",
        action="store_true",
        help="run the anchor with QuickFIX's data dictionary on (its default; slower)",
    )
    parser.add_argument(
        "--busy-poll-us",
        type=int,
        default=0,
        metavar="US",
        help="both of our ends busy-poll for US µs after FIX traffic (rlexec.gateway.busy_poll); "
        "0 (default): they block between events, as QuickFIX does",
    )
    parser.add_argument("--serve", metavar="STORE_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    spin = args.busy_poll_us
    if args.serve:
        eventloop.run(serve(args.serve), busy_poll_us=spin)
        return 0
    sequential: list[dict[str, float]] = []
    pipelined: list[dict[str, float]] = []
    same_sequential: list[dict[str, float]] = []
    same_pipelined: list[dict[str, float]] = []
    qf_sequential: list[dict[str, float]] = []
    qf_pipelined: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="rlexec-fix-bench-") as tmp:
        venue = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                os.path.join(tmp, "venue"),
                "--busy-poll-us",
                str(spin),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert venue.stdout is not None
            port = int(venue.stdout.readline())
            client_dir = os.path.join(tmp, "client")
            for i in range(args.repeat):
                sequential.append(
                    eventloop.run(
                        run_mode(venue, port, client_dir, args.orders, 1, f"s{i}-"),
                        busy_poll_us=spin,
                    )
                )
                pipelined.append(
                    eventloop.run(
                        run_mode(venue, port, client_dir, args.orders, args.in_flight, f"p{i}-"),
                        busy_poll_us=spin,
                    )
                )
                if args.quickfix:
                    qf = args.quickfix_dictionary
                    qf_sequential.append(quickfix_run(args.orders, 1, qf))
                    qf_pipelined.append(quickfix_run(args.orders, args.in_flight, qf))
        finally:
            if venue.stdin is not None:
                venue.stdin.close()
            venue.wait(timeout=10)
        for i in range(args.repeat):
            same_dir = os.path.join(tmp, f"same{i}")
            same_sequential.append(
                eventloop.run(run_same_process(same_dir, args.orders, 1, f"S{i}-"))
            )
            same_pipelined.append(
                eventloop.run(run_same_process(same_dir, args.orders, args.in_flight, f"P{i}-"))
            )
    anchor: dict[str, object] = {}
    if args.quickfix:
        ours_seq, ours_pipe = median_run(sequential), median_run(pipelined)
        qf_seq, qf_pipe = median_run(qf_sequential), median_run(qf_pipelined)
        anchor = {
            "quickfix": {
                "settings": "QuickFIX 1.16 Python bindings on both ends, memory store, no log, "
                + (
                    "FIX44.xml data dictionary"
                    if args.quickfix_dictionary
                    else "no data dictionary"
                )
                + ", each end its own process",
                "sequential": qf_seq,
                "pipelined": qf_pipe,
            },
            "ratio_sequential": round(rate(ours_seq) / rate(qf_seq), 2),
            "ratio_pipelined": round(rate(ours_pipe) / rate(qf_pipe), 2),
            "ratios_sequential_by_repeat": [
                round(a["orders_per_s"] / b["orders_per_s"], 2)
                for a, b in zip(sequential, qf_sequential, strict=True)
            ],
            # CPU per order, both ends summed, QuickFIX's over ours: unlike orders/s it does
            # not depend on what else the machine is running.
            "cpu_ratio_sequential": round(cpu(qf_seq) / cpu(ours_seq), 2),
            "cpu_ratio_pipelined": round(cpu(qf_pipe) / cpu(ours_pipe), 2),
            "ratios_pipelined_by_repeat": [
                round(a["orders_per_s"] / b["orders_per_s"], 2)
                for a, b in zip(pipelined, qf_pipelined, strict=True)
            ],
        }
    print(
        json.dumps(
            {
                "benchmark": "fix_roundtrip",
                "orders": args.orders,
                "in_flight": args.in_flight,
                "repeats": args.repeat,
                "loop": eventloop.loop_name(),
                "busy_poll_us": spin,
                "persistence": "file store on both sides: one append write per batch before the "
                "socket write, fsync at most every 1 s on a worker thread",
                "sequential": median_run(sequential),
                "pipelined": median_run(pipelined),
                "same_process": {
                    "sequential": median_run(same_sequential),
                    "pipelined": median_run(same_pipelined),
                },
                **anchor,
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
