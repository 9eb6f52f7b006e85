"""A real `rlexec venue` subprocess on loopback and a live Service on its clock, for the
service's end-to-end and parity tests (no mocks: FIX over sockets, the shipped ONNX policy)."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlexec.market.orders import Side
from rlexec.service.config import ParentSpec, ServiceSettings
from rlexec.service.parents import Parent, ParentState
from rlexec.service.runtime import Service

AlgoName = Literal[
    "rl", "twap", "twap_inside", "passive_first", "vwap", "pov", "ac", "ac_neutral", "sal"
]
LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")
SPEED = 40.0
WARMUP_S = 180.0
"""Venue seconds of market the features watch before a parent starts (as in training)."""


NY_10AM_NS = 1_340_287_200_000_000_000
"""2012-06-21 14:00 UTC (10:00 New York), the AAPL day's clock for an offline Service."""
BID, ASK = 5_799_900, 5_800_100
"""$579.99 / $580.01: the offline Service's book."""


async def offline_service() -> Service:
    """A real Service that is never logged on, its clock at `NY_10AM_NS`, a fresh two-sided
    AAPL book (`BID`/`ASK`, 1,000 each) and the overlay's mark: what a decision plans can be
    checked, and what it sends fails as not logged on."""
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    await svc.store.open()  # what Service.start does before anything is recorded
    await svc.store.load()
    svc.clock.observe(NY_10AM_NS)
    book = svc.md.books["AAPL"]
    book.set_level(Side.BUY, BID, 1_000)
    book.set_level(Side.SELL, ASK, 1_000)
    market = svc.markets["AAPL"]
    market.stale_reason = None
    market.on_book(NY_10AM_NS)
    svc.overlay.on_market("AAPL", (BID + ASK) / 2, NY_10AM_NS)
    return svc


def limit_away(service: Service, side: str, algo: AlgoName) -> ParentSpec:
    """2,000 AAPL over 60 s with a limit $3 (~50 bps) behind the mid: the market does not
    get there, so nothing fills and what the parent does at its limit can be watched."""
    mid = service.md.books["AAPL"].mid
    assert mid is not None, "no mid: warm the service up first"
    away = -3.0 if side == "buy" else 3.0
    return ParentSpec(symbol="AAPL", side=side, quantity=2_000, horizon_s=60.0,  # type: ignore[arg-type]
                      algo=algo, limit_price=round(mid / 10_000 + away, 2))  # fmt: skip


async def cancel_and_settle(service: Service, parent: Parent) -> None:
    """Cancel a parent that filled nothing, and wait until the venue has cancelled every child."""
    children = [c for c in service.oms.all() if c.parent_id == parent.id]
    cancelled = service.parents.cancel(parent.id)
    await wait_for("its children cancelled", lambda: all(c.is_terminal for c in children))
    assert cancelled.state is ParentState.CANCELLED and cancelled.filled == 0


def monitor_actions(service: Service) -> float:
    """How often the dynamic risk monitors acted (each may scale, or pause, what follows):
    a test of exact quantities against the real market holds them exactly only when 0."""
    return sum(
        sample.value
        for metric in service.registry.collect()
        if metric.name == "rlexec_risk_monitor_actions"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Venue:
    proc: subprocess.Popen[str]
    port: int
    metrics_port: int
    stderr: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """The venue's Prometheus samples, keyed by `name{labels}` as exposed."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    def sample(self, name: str, **labels: str) -> float:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return self.metrics().get(f"{name}{{{inner}}}", 0.0)


def start_venue(
    data: Path, speed: float = SPEED, port: int = 0, config: Path | None = None
) -> Generator[Venue, None, None]:
    """`port` 0: any free one (a restarted venue takes the port its predecessor had);
    `config`: a venue config file (`--config`) for what the flags do not set."""
    metrics_port = free_port()
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "venue", "--data", str(data),
        "--port", str(port),
        "--speed", str(speed), "--start", "10:00", "--clients", "CLIENT,CLIENT-MD",
        "--metrics-port", str(metrics_port), "--log-level", "INFO",
        *(["--config", str(config)] if config is not None else []),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    listening = None
    deadline = time.monotonic() + 60
    while listening is None:
        line = proc.stderr.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the venue did not start: {' / '.join(lines[-5:])}")
        lines.append(line.rstrip())
        found = LISTENING.search(line)
        if found:
            listening = int(found.group(2))
    venue = Venue(proc, listening, metrics_port, lines)
    stream = proc.stderr

    def drain() -> None:
        for text in stream:
            venue.stderr.append(text.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield venue
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def settings(venue: Venue, **kw: Any) -> ServiceSettings:
    base: dict[str, Any] = {
        "venue": f"127.0.0.1:{venue.port}", "clock": "venue", "symbols": ("AAPL",),
        "api": "127.0.0.1:0", "stale_after_s": 30.0, "decision_interval_s": 15.0,
    }  # fmt: skip
    return ServiceSettings(**(base | kw))


async def wait_for(what: str, cond: Any, within: float = 40.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def warm_up(service: Service, seconds: float = WARMUP_S) -> None:
    clock = service.clock
    await wait_for("market data from the venue", lambda: clock.now_ns() > 0)
    until = clock.now_ns() + int(seconds * 1e9)
    await wait_for("the warm-up", lambda: clock.now_ns() >= until)


def submit(
    service: Service, algo: AlgoName, quantity: int = 3_000, horizon_s: float = 120.0
) -> Parent:
    spec = ParentSpec(symbol="AAPL", side="buy", quantity=quantity, horizon_s=horizon_s, algo=algo)
    return service.parents.submit(spec)
