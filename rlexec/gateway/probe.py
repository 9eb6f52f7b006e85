"""The connectivity probe behind `rlexec fix-probe`: log on, send N limit orders, wait for their
execution reports, cancel what is still working, log out, and report what happened."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from rlexec.gateway.config import SessionConfig
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.execution import CancelRejectEvent, ExecKind, ExecutionEvent
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.order_client import OrderClient, OrderEvents
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.gateway.store_file import FileStore
from rlexec.market.orders import OrderIntent, OrderType, Side


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    host: str
    port: int
    sender: str
    target: str
    symbol: str = "AAPL"
    price: int = 1_000_000
    """Limit price in integer units (1e-4)."""
    quantity: int = 1
    side: Side = Side.BUY
    orders: int = 1
    store_dir: Path | None = None
    """Persist sequence numbers here; without it the probe logs on with ResetSeqNumFlag=Y."""
    reset: bool = False
    heartbeat: float = 30.0
    logon_timeout: float = 10.0
    answer_timeout: float = 10.0
    fill_wait: float = 0.5
    """After every order is answered, how long to wait for fills of orders still working."""
    cancel_working: bool = True
    username: str | None = None
    password: str | None = None
    begin_string: str = "FIX.4.4"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError("port", f"must be 1..65535, got {self.port}")
        if self.orders < 1:
            raise ConfigError("orders", f"must be at least 1, got {self.orders}")
        if self.quantity < 1:
            raise ConfigError("quantity", f"must be at least 1, got {self.quantity}")
        if self.price <= 0:
            raise ConfigError("price", "must be positive")
        if not 0 < self.heartbeat < math.inf:  # NaN fails too
            raise ConfigError("heartbeat_interval", f"must be > 0 seconds, got {self.heartbeat}")
        for key in ("answer_timeout", "logon_timeout"):
            if not 0 < getattr(self, key) < math.inf:
                raise ConfigError(key, "must be a positive number of seconds")


@dataclass
class _Tracker(OrderEvents):
    sent_ns: dict[str, int] = field(default_factory=dict)
    ack_us: list[float] = field(default_factory=list)
    fill_us: list[float] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)
    acks: int = 0
    fills: int = 0
    partial_fills: int = 0
    rejects: int = 0
    canceled: int = 0
    cancel_rejects: int = 0
    reject_texts: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_execution(self, event: ExecutionEvent) -> None:
        now = time.perf_counter_ns()
        cl = event.cl_ord_id
        sent = self.sent_ns.get(cl)
        kind = event.kind
        if sent is not None and cl not in self.answered:
            self.answered.add(cl)
            if kind is not ExecKind.REJECTED:
                self.ack_us.append((now - sent) / 1000)
        if kind is ExecKind.NEW:
            self.acks += 1
        elif kind is ExecKind.REJECTED:
            self.rejects += 1
            if event.text:
                self.reject_texts.append(event.text)
        elif kind is ExecKind.PARTIAL_FILL:
            self.partial_fills += 1
        elif kind is ExecKind.FILL:
            self.fills += 1
            if sent is not None:
                self.fill_us.append((now - sent) / 1000)
        elif kind is ExecKind.CANCELED:
            self.canceled += 1
        self.changed.set()

    def on_cancel_reject(self, event: CancelRejectEvent) -> None:
        self.cancel_rejects += 1
        self.changed.set()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def run_probe(options: ProbeOptions) -> dict[str, object]:
    """Run the probe; the result is the JSON object `rlexec fix-probe` prints."""
    config = SessionConfig(
        options.sender,
        options.target,
        begin_string=options.begin_string,
        heartbeat_interval=options.heartbeat,
        reset_on_logon=options.reset or options.store_dir is None,
        logon_timeout=options.logon_timeout,
        username=options.username,
        password=options.password,
        reconnect_min=min(1.0, options.logon_timeout),
    )
    store: SessionStore
    if options.store_dir is not None:
        store = FileStore.for_session(
            options.store_dir, options.begin_string, options.sender, options.target
        )
    else:
        store = MemoryStore()
    session = FixSession(config, store)
    tracker = _Tracker()
    client = OrderClient(session, tracker)
    initiator = FixInitiator(session, options.host, options.port)
    result: dict[str, object] = {
        "host": options.host,
        "port": options.port,
        "sender_comp_id": options.sender,
        "target_comp_id": options.target,
        "logged_on": False,
        "logon_ms": None,
    }
    started = time.perf_counter()
    sent: list[str] = []
    await initiator.start()
    try:
        try:
            async with asyncio.timeout(options.logon_timeout):
                await session.wait_logged_on()
        except TimeoutError:
            why = f"connections made: {initiator.connections}"
            if initiator.last_connect_error:
                why += f", last connect error: {initiator.last_connect_error}"
            result["error"] = f"no logon within {options.logon_timeout:g} s ({why})"
        else:
            result["logged_on"] = True
            result["logon_ms"] = round((time.perf_counter() - started) * 1000, 1)
            await _trade(client, tracker, options, sent)
    finally:
        await initiator.stop(grace=2.0)
    return _finish(result, session, tracker, sent)


async def _trade(
    client: OrderClient, tracker: _Tracker, options: ProbeOptions, sent: list[str]
) -> None:
    intent = OrderIntent(
        options.symbol, options.side, options.quantity, OrderType.LIMIT, options.price
    )
    for _ in range(options.orders):
        cl = client.next_cl_ord_id()
        tracker.sent_ns[cl] = time.perf_counter_ns()
        client.new_order(intent, cl_ord_id=cl)
        sent.append(cl)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.answer_timeout
    await _wait(tracker, lambda: len(tracker.answered) >= len(sent), deadline)
    if client.working and options.fill_wait > 0:
        fill_deadline = min(deadline, loop.time() + options.fill_wait)
        await _wait(tracker, lambda: not client.working, fill_deadline)
    if client.working and options.cancel_working and client.session.is_logged_on:
        for cl in list(client.working):
            client.cancel(cl)
        cancel_deadline = loop.time() + min(options.answer_timeout, 5.0)
        await _wait(
            tracker,
            lambda: not client.working or tracker.cancel_rejects >= len(client.working),
            cancel_deadline,
        )


async def _wait(tracker: _Tracker, condition: object, deadline: float) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        tracker.changed.clear()
        try:
            async with asyncio.timeout(remaining):
                await tracker.changed.wait()
        except TimeoutError:
            return


def _finish(
    result: dict[str, object], session: FixSession, tracker: _Tracker, sent: list[str]
) -> dict[str, object]:
    counts = session.metrics.counts()
    unanswered = [cl for cl in sent if cl not in tracker.answered]
    disconnects = {
        name.removeprefix("disconnects_"): n
        for name, n in counts.items()
        if name.startswith("disconnects_") and n
    }
    result.update(
        {
            "orders_sent": len(sent),
            "answered": len(sent) - len(unanswered),
            "unanswered": len(unanswered),
            "acks": tracker.acks,
            "partial_fills": tracker.partial_fills,
            "fills": tracker.fills,
            "rejects": tracker.rejects,
            "canceled_by_probe": tracker.canceled,
            "cancel_rejects": tracker.cancel_rejects,
            "ack_p50_us": _percentile(tracker.ack_us, 0.5),
            "ack_p99_us": _percentile(tracker.ack_us, 0.99),
            "fill_p50_us": _percentile(tracker.fill_us, 0.5),
            "fill_p99_us": _percentile(tracker.fill_us, 0.99),
            "session_errors": {
                "rejects_received": counts["rejects_received"],
                "rejects_sent": counts["rejects_sent"],
                "garbled_received": counts["garbled_received"],
                "resend_requests_sent": counts["resend_requests_sent"],
                "disconnects": disconnects,
            },
            "next_sender_seq": session.next_sender_seq,
            "next_target_seq": session.next_target_seq,
        }
    )
    if tracker.reject_texts:
        result["reject_reasons"] = sorted(set(tracker.reject_texts))[:5]
    result["ok"] = bool(sent) and not unanswered
    return result


def probe_succeeded(result: dict[str, object]) -> bool:
    return result.get("ok") is True
