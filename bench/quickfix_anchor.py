"""The QuickFIX 1.16 anchor for bench/fix_roundtrip.py: the same workloads, QuickFIX on both ends.

QuickFIX's fastest settings: memory store (no persistence), no log factory (no logging), no
data dictionary (unless asked); its Python bindings on both ends, each end its own process, loopback TCP.
The acceptor acks and fully fills every NewOrderSingle with the same fields as the rlexec
benchmark's acceptor; the initiator sends the next order from its fill callback
(`sequential`, one in flight) or keeps `in_flight` orders outstanding (`pipelined`).

QuickFIX's acceptor binds every interface (1.16 has no SocketAcceptHost), so
`fix_roundtrip.py --quickfix` runs this script inside `unshare --net`, where the only
interface is loopback:

    quickfix_anchor.py run ORDERS IN_FLIGHT [dictionary]   one JSON object (`run_mode`'s keys)
    quickfix_anchor.py serve PORT [dictionary]             the acceptor; answers "cpu" on stdin

`dictionary` turns QuickFIX's data dictionary on (FIX44.xml validation, its default way
of running; ~15 % slower here): the headline anchor leaves it off.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Imported by name: the bindings ship no type information.
qf: Any = importlib.import_module("quickfix")
qf44: Any = importlib.import_module("quickfix44")
DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def settings(
    directory: str, role: str, port: int, sender: str, target: str, dictionary: bool
) -> Any:
    path = os.path.join(directory, f"{role}.cfg")
    with open(path, "w") as f:
        f.write(
            f"""[DEFAULT]
ConnectionType={role}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary={"Y" if dictionary else "N"}
DataDictionary={DICTIONARY}
HeartBtInt=30
ReconnectInterval=1
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
SocketAcceptPort={port}
SocketNodelay=Y
ResetOnLogon=Y

[SESSION]
BeginString=FIX.4.4
SenderCompID={sender}
TargetCompID={target}
"""
        )
    return qf.SessionSettings(path)


class AckAndFill(qf.Application):  # type: ignore[misc]
    """Acks and fully fills every NewOrderSingle at its limit price (as AckAndFill in
    fix_roundtrip.py: the same ExecutionReport fields)."""

    def __init__(self) -> None:
        super().__init__()
        self.order_ids = 0

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 - QuickFIX's names
        pass

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        pass

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        pass

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        if message.getHeader().getField(35) != "D":
            return
        self.order_ids += 1
        oid = str(self.order_ids)
        cl, sym, side = message.getField(11), message.getField(55), message.getField(54)
        qty, px = message.getField(38), message.getField(44)
        for exec_type, status, cum, leaves in (("0", "0", "0", qty), ("F", "2", qty, "0")):
            report = qf44.ExecutionReport()
            report.setField(37, oid)
            report.setField(11, cl)
            report.setField(55, sym)
            report.setField(54, side)
            report.setField(38, qty)
            report.setField(17, exec_type[0] + oid)
            report.setField(150, exec_type)
            report.setField(39, status)
            if exec_type == "F":
                report.setField(31, px)
                report.setField(32, qty)
            report.setField(14, cum)
            report.setField(151, leaves)
            report.setField(6, px if exec_type == "F" else "0")
            qf.Session.sendToTarget(report, session_id)


class Client(qf.Application):  # type: ignore[misc]
    """Sends orders and records order→ack and order→fill latencies from its callbacks."""

    def __init__(self, orders: int, in_flight: int) -> None:
        super().__init__()
        self.orders = orders
        self.in_flight = in_flight
        self.session_id: Any = None
        self.logged_on = threading.Event()
        self.done = threading.Event()
        self.sent = 0
        self.filled = 0
        self.sent_at: dict[str, int] = {}
        self.ack_ns: list[int] = []
        self.fill_ns: list[int] = []
        self.lock = threading.Lock()

    def onCreate(self, session_id: Any) -> None:  # noqa: N802
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        pass

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def send_one(self) -> None:
        self.sent += 1
        cl = f"q{self.sent}"
        order = qf44.NewOrderSingle()
        order.setField(11, cl)
        order.setField(54, "1")
        order.setField(qf.TransactTime())
        order.setField(40, "2")
        order.setField(55, "AAPL")
        order.setField(38, "100")
        order.setField(44, "585.33")
        self.sent_at[cl] = time.perf_counter_ns()
        qf.Session.sendToTarget(order, self.session_id)

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        now = time.perf_counter_ns()
        cl = message.getField(11)
        exec_type = message.getField(150)
        with self.lock:
            sent = self.sent_at.get(cl)
            if sent is None:
                return
            if exec_type == "0":
                self.ack_ns.append(now - sent)
            elif exec_type == "F" and message.getField(151) == "0":
                self.fill_ns.append(now - sent)
                del self.sent_at[cl]
                self.filled += 1
                if self.sent < self.orders:
                    self.send_one()
                elif self.filled == self.orders:
                    self.done.set()

    def start(self) -> None:
        with self.lock:
            for _ in range(min(self.in_flight, self.orders)):
                self.send_one()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def serve(port: int, dictionary: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="rlexec-qf-venue-") as tmp:
        app = AckAndFill()
        # QuickFIX keeps raw pointers to these: they must outlive the acceptor.
        store_factory = qf.MemoryStoreFactory()
        config = settings(tmp, "acceptor", port, "QFVENUE", "QFCLIENT", dictionary)
        acceptor = qf.SocketAcceptor(app, store_factory, config)
        acceptor.start()
        print("ready", flush=True)
        while line := sys.stdin.readline():
            if line.strip() == "cpu":
                print(time.process_time(), flush=True)
        acceptor.stop()
        del store_factory


def run(orders: int, in_flight: int, dictionary: bool) -> dict[str, float]:
    port = free_port()
    venue = subprocess.Popen(
        [sys.executable, __file__, "serve", str(port), *(["dictionary"] if dictionary else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert venue.stdin is not None and venue.stdout is not None
    try:
        assert venue.stdout.readline().strip() == "ready"

        def venue_cpu() -> float:
            assert venue.stdin is not None and venue.stdout is not None
            venue.stdin.write("cpu\n")
            venue.stdin.flush()
            return float(venue.stdout.readline())

        with tempfile.TemporaryDirectory(prefix="rlexec-qf-client-") as tmp:
            client = Client(orders, in_flight)
            store_factory = qf.MemoryStoreFactory()
            config = settings(tmp, "initiator", port, "QFCLIENT", "QFVENUE", dictionary)
            initiator = qf.SocketInitiator(client, store_factory, config)
            initiator.start()
            try:
                if not client.logged_on.wait(10):
                    raise RuntimeError("the QuickFIX initiator did not log on")
                cpu0, venue_cpu0 = time.process_time(), venue_cpu()
                t0 = time.perf_counter()
                client.start()
                if not client.done.wait(300):
                    raise RuntimeError(f"only {client.filled} of {orders} orders filled")
                seconds = time.perf_counter() - t0
                cpu, venue_cpu1 = time.process_time() - cpu0, venue_cpu() - venue_cpu0
            finally:
                initiator.stop()
                del store_factory
    finally:
        venue.stdin.close()
        venue.wait(timeout=10)
    return {
        "orders_per_s": round(orders / seconds, 1),
        "ack_p50_us": round(percentile(client.ack_ns, 0.5), 1),
        "fill_p50_us": round(percentile(client.fill_ns, 0.5), 1),
        "fill_p99_us": round(percentile(client.fill_ns, 0.99), 1),
        "client_cpu_us_per_order": round(cpu / orders * 1e6, 1),
        "venue_cpu_us_per_order": round(venue_cpu1 / orders * 1e6, 1),
    }


def main() -> int:
    dictionary = sys.argv[-1] == "dictionary"
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]), dictionary)
        return 0
    if sys.argv[1:2] == ["run"]:
        print(json.dumps(run(int(sys.argv[2]), int(sys.argv[3]), dictionary)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
