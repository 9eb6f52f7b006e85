"""Interop scenarios between rlexec's FIX engine and QuickFIX 1.16 (C++, Python bindings).

Run as a script with one scenario name; prints one JSON object of what each side saw.
The QuickFIX acceptor cannot be told which address to bind (it listens on every interface),
so tests run this script inside a fresh network namespace (`unshare --net`) whose only
interface is loopback.

    qf_acceptor   our initiator + order client  ->  QuickFIX acceptor that acks and fills
    qf_initiator  QuickFIX initiator sending an order  ->  our acceptor that acks and fills
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

# Imported by name: the bindings ship no type information, and may be absent where mypy runs.
qf: Any = importlib.import_module("quickfix")
qf44: Any = importlib.import_module("quickfix44")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rlexec.gateway.acceptor import FixAcceptor  # noqa: E402
from rlexec.gateway.config import Role, SessionConfig  # noqa: E402
from rlexec.gateway.execution import ExecutionEvent  # noqa: E402
from rlexec.gateway.initiator import FixInitiator  # noqa: E402
from rlexec.gateway.order_client import OrderClient, OrderEvents  # noqa: E402
from rlexec.gateway.session import FixSession  # noqa: E402
from rlexec.gateway.store import MemoryStore  # noqa: E402
from rlexec.market.orders import OrderIntent, OrderType, Side  # noqa: E402
from tests.gateway.venue import ScriptedVenue  # noqa: E402

DATA_DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_file(directory: str, role: str, port: int, sender: str, target: str) -> str:
    path = os.path.join(directory, f"{role}.cfg")
    with open(path, "w") as f:
        f.write(
            f"""[DEFAULT]
ConnectionType={role}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={DATA_DICTIONARY}
HeartBtInt=1
ReconnectInterval=1
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
SocketAcceptPort={port}
ResetOnLogon=N
FileLogPath={directory}/log

[SESSION]
BeginString=FIX.4.4
SenderCompID={sender}
TargetCompID={target}
"""
        )
    return path


class QuickFixSide(qf.Application):  # type: ignore[misc]
    """Records what QuickFIX sees; as acceptor it acks and fills every NewOrderSingle."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fill_orders: bool) -> None:
        super().__init__()
        self.loop = loop
        self.fill_orders = fill_orders
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.admin_in: dict[str, int] = {}
        self.app_in: list[dict[str, str]] = []
        self.logons = 0
        self.logouts = 0
        self.session_id: Any = None
        self.order_ids = 0

    def _emit(self, kind: str, detail: str = "") -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, detail))

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 - QuickFIX's names
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logons += 1
        self._emit("logon")

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.logouts += 1
        self._emit("logout")

    def toAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: Any, session_id: Any) -> None:  # noqa: N802
        msg_type = message.getHeader().getField(35)
        self.admin_in[msg_type] = self.admin_in.get(msg_type, 0) + 1
        self._emit("admin", msg_type)

    def toApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        return None

    def fromApp(self, message: Any, session_id: Any) -> None:  # noqa: N802
        msg_type = message.getHeader().getField(35)
        fields = {"35": msg_type}
        for tag in (11, 17, 37, 39, 150, 14, 151, 31, 32, 55):
            if message.isSetField(tag):
                fields[str(tag)] = message.getField(tag)
        self.app_in.append(fields)
        self._emit("app", msg_type)
        if msg_type == "D" and self.fill_orders:
            self._ack_and_fill(message, session_id)

    def _ack_and_fill(self, order: Any, session_id: Any) -> None:
        self.order_ids += 1
        cl = order.getField(11)
        qty = float(order.getField(38))
        px = float(order.getField(44))
        side = order.getField(54)
        for exec_type, status, cum, last in (("0", "0", 0.0, 0.0), ("F", "2", qty, qty)):
            report = qf44.ExecutionReport()
            report.setField(qf.OrderID(f"QO{self.order_ids}"))
            report.setField(qf.ExecID(f"QE{self.order_ids}{exec_type}"))
            report.setField(qf.ExecType(exec_type))
            report.setField(qf.OrdStatus(status))
            report.setField(qf.Side(side))
            report.setField(qf.LeavesQty(qty - cum))
            report.setField(qf.CumQty(cum))
            report.setField(qf.AvgPx(px if cum else 0.0))
            report.setField(qf.ClOrdID(cl))
            report.setField(qf.Symbol(order.getField(55)))
            report.setField(qf.OrderQty(qty))
            if last:
                report.setField(qf.LastQty(last))
                report.setField(qf.LastPx(px))
            qf.Session.sendToTarget(report, session_id)


async def wait_for(side: QuickFixSide, kind: str, detail: str | None = None) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            got_kind, got_detail = await side.events.get()
            if got_kind == kind and (detail is None or got_detail == detail):
                return


class Executions(OrderEvents):
    def __init__(self) -> None:
        self.events: asyncio.Queue[ExecutionEvent] = asyncio.Queue()

    def on_execution(self, event: ExecutionEvent) -> None:
        self.events.put_nowait(event)


async def qf_acceptor(tmp: str) -> dict[str, object]:
    """Our initiator logs on to a QuickFIX acceptor, trades one order, heartbeats, logs out."""
    port = free_port()
    loop = asyncio.get_running_loop()
    quickfix = QuickFixSide(loop, fill_orders=True)
    settings = qf.SessionSettings(settings_file(tmp, "acceptor", port, "QFVENUE", "RLCLIENT"))
    # QuickFIX keeps raw pointers to these: they must outlive the acceptor.
    store_factory = qf.MemoryStoreFactory()
    log_factory = qf.FileLogFactory(settings)
    acceptor = qf.ThreadedSocketAcceptor(quickfix, store_factory, settings, log_factory)
    acceptor.start()
    executions = Executions()
    session = FixSession(
        SessionConfig("RLCLIENT", "QFVENUE", heartbeat_interval=1, reconnect_min=0.2),
        MemoryStore(),
    )
    client = OrderClient(session, executions)
    initiator = FixInitiator(session, "127.0.0.1", port)
    try:
        await initiator.start()
        async with asyncio.timeout(TIMEOUT):
            await session.wait_logged_on()
        cl = client.new_order(OrderIntent("AAPL", Side.BUY, 100, OrderType.LIMIT, 5_853_300))
        reports: list[ExecutionEvent] = []
        async with asyncio.timeout(TIMEOUT):
            while len(reports) < 2:
                reports.append(await executions.events.get())
        await asyncio.sleep(2.6)  # a few heartbeats each way
        logged_on_after_heartbeats = session.is_logged_on
        await initiator.stop(grace=3.0)
        await wait_for(quickfix, "logout")
        return {
            "cl_ord_id": cl,
            "reports": [(r.kind.value, r.cl_ord_id, r.cum_qty, r.last_px) for r in reports],
            "ours": {
                "heartbeats_in": session.metrics.messages_in.get(b"0", 0),
                "heartbeats_out": session.metrics.messages_out.get(b"0", 0),
                "logged_on_after_heartbeats": logged_on_after_heartbeats,
                **session.metrics.counts(),
            },
            "quickfix": {
                "logons": quickfix.logons,
                "logouts": quickfix.logouts,
                "admin_in": quickfix.admin_in,
                "app_in": quickfix.app_in,
            },
        }
    finally:
        await loop.run_in_executor(None, acceptor.stop)
        del store_factory, log_factory


async def qf_initiator(tmp: str) -> dict[str, object]:
    """A QuickFIX initiator logs on to our acceptor, trades one order, heartbeats, logs out."""
    loop = asyncio.get_running_loop()
    venue = ScriptedVenue()
    ours = FixSession(SessionConfig("RLVENUE", "QFCLIENT", Role.ACCEPTOR), MemoryStore(), venue)
    acceptor = FixAcceptor([ours])
    await acceptor.start()
    quickfix = QuickFixSide(loop, fill_orders=False)
    settings = qf.SessionSettings(
        settings_file(tmp, "initiator", acceptor.port, "QFCLIENT", "RLVENUE")
    )
    # QuickFIX keeps raw pointers to these: they must outlive the initiator.
    store_factory = qf.MemoryStoreFactory()
    log_factory = qf.FileLogFactory(settings)
    initiator = qf.SocketInitiator(quickfix, store_factory, settings, log_factory)
    try:
        initiator.start()
        await wait_for(quickfix, "logon")
        order = qf44.NewOrderSingle()
        order.setField(qf.ClOrdID("QF-1"))
        order.setField(qf.Side("1"))
        order.setField(qf.TransactTime())
        order.setField(qf.OrdType("2"))
        order.setField(qf.Symbol("FILL"))
        order.setField(qf.OrderQty(100))
        order.setField(qf.Price(585.33))
        qf.Session.sendToTarget(order, quickfix.session_id)
        async with asyncio.timeout(TIMEOUT):
            while len(quickfix.app_in) < 3:
                await wait_for(quickfix, "app")
        await asyncio.sleep(2.6)
        logged_on_after_heartbeats = ours.is_logged_on
        await loop.run_in_executor(None, initiator.stop)
        async with asyncio.timeout(TIMEOUT):
            await ours.wait_disconnected()
        return {
            "venue_received": [m.msg_type.decode() for m in venue.received],
            "quickfix": {
                "logons": quickfix.logons,
                "logouts": quickfix.logouts,
                "admin_in": quickfix.admin_in,
                "app_in": quickfix.app_in,
            },
            "ours": {
                "heartbeats_in": ours.metrics.messages_in.get(b"0", 0),
                "heartbeats_out": ours.metrics.messages_out.get(b"0", 0),
                "logged_on_after_heartbeats": logged_on_after_heartbeats,
                **ours.metrics.counts(),
            },
        }
    finally:
        await acceptor.stop(grace=1.0)
        del store_factory, log_factory


def main() -> int:
    scenario = {"qf_acceptor": qf_acceptor, "qf_initiator": qf_initiator}[sys.argv[1]]
    with tempfile.TemporaryDirectory(prefix="rlexec-qf-") as tmp:
        result = asyncio.run(scenario(tmp))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
