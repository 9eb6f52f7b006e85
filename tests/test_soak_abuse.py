"""Soak: a normal client keeps trading at the venue while abusive clients attack it.

Abusers (all on loopback): a byte trickler holding a partial frame, a ResendRequest flood,
a market-data subscription flood and a password guesser. The normal client's sequential
round trip (order out, execution report back) is measured quiet and under attack in the same
test, and the venue's traced memory before and after. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from rlexec.gateway.codec import FieldValue
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue import Venue
from tests.gateway.peer import FixPeer, PeerClosedError
from tests.test_simulator_venue import start_venue

pytestmark = pytest.mark.slow

ROUND_TRIPS = 300
ATTACK_S = 8.0


async def round_trips(peer: FixPeer, n: int, tag: str) -> list[float]:
    """Sequential limit orders far from the touch (they rest): seconds from send to the ack."""
    out: list[float] = []
    for i in range(n):
        fields: list[tuple[int, FieldValue]] = [
            (11, f"{tag}-{i}"), (55, "AAPL"), (54, "1"), (38, 1), (40, "2"), (44, "560.00"),
        ]  # fmt: skip
        started = time.perf_counter()
        await peer.send("D", fields)
        while (await peer.receive()).msg_type != b"8":
            pass
        out.append(time.perf_counter() - started)
    return out


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def forever(attack: Callable[[], Awaitable[None]], stop: asyncio.Event) -> int:
    """Run `attack` again and again until `stop`; how many times it ran."""
    runs = 0
    while not stop.is_set():
        with contextlib.suppress(OSError, PeerClosedError, TimeoutError):
            await attack()
        runs += 1
        await asyncio.sleep(0)
    return runs


async def test_a_normal_client_keeps_its_round_trip_under_abuse(aapl_message: Path) -> None:
    data = ReplayData.load(aapl_message)
    clients = [
        {"comp_id": "CLIENT", "throttle_reject_per_s": 100_000, "throttle_logout_per_s": 100_000},
        {"comp_id": "RESENDER"},
        {
            "comp_id": "SUBSCRIBER",
            "throttle_reject_per_s": 100_000,
            "throttle_logout_per_s": 100_000,
        },
        {"comp_id": "GUARDED", "password": "s3cret"},
    ]
    tracemalloc.start()
    venue: Venue = await start_venue(data, clients=clients, max_failed_logons=3)
    stop = asyncio.Event()
    try:
        normal = await FixPeer.connect(venue.port, sender="CLIENT")
        await normal.logon()
        await round_trips(normal, 50, "warm")
        quiet = await round_trips(normal, ROUND_TRIPS, "quiet")
        base_mem, _ = tracemalloc.get_traced_memory()

        async def trickle() -> None:
            peer = await FixPeer.connect(venue.port, sender="TRICKLER")
            try:
                # ~40 KB held (under the pre-logon cap), full of inner 8=FIX marks: the old
                # framer rescanned all of them on every 1-byte read.
                await peer.send_raw(b"8=FIX.4.4\x019=60000\x0135=A\x01" + b"8=FIX.4.4\x01" * 4_000)
                for _ in range(2_000):
                    if stop.is_set():
                        return
                    await peer.send_raw(b"x")
                    await asyncio.sleep(0.001)
            finally:
                await peer.close()

        async def resend_flood() -> None:
            peer = await FixPeer.connect(venue.port, sender="RESENDER")
            try:
                await peer.logon(reset=True)
                for _ in range(200):  # never reads
                    await peer.send("2", [(7, 1), (16, 0)])
                with contextlib.suppress(ConnectionResetError):
                    await peer.expect_closed()
            finally:
                await peer.close()

        async def subscription_flood() -> None:
            peer = await FixPeer.connect(venue.port, sender="SUBSCRIBER")
            try:
                await peer.logon(reset=True)
                for i in range(100):
                    await peer.send(
                        "V", [(262, f"md{i}"), (263, "1"), (264, 10), (146, 1), (55, "AAPL")]
                    )
                await asyncio.sleep(0.2)
            finally:
                await peer.close()

        async def bad_logons() -> None:
            peer = await FixPeer.connect(venue.port, sender="GUARDED")
            try:
                await peer.send("A", [(98, 0), (108, 5), (554, "guess")], seq=1)
                with contextlib.suppress(ConnectionResetError):
                    await peer.expect_closed()
            finally:
                await peer.close()

        attackers = [
            asyncio.create_task(forever(a, stop))
            for a in (trickle, trickle, trickle, resend_flood, subscription_flood, bad_logons)
        ]
        await asyncio.sleep(0.5)
        # The venue's clock advances while abused: replay rows between samples.
        attacked: list[float] = []
        deadline = time.monotonic() + ATTACK_S
        while time.monotonic() < deadline and len(attacked) < 3 * ROUND_TRIPS:
            attacked += await round_trips(normal, 50, f"busy{len(attacked)}")
        peak_mem, _ = tracemalloc.get_traced_memory()
        stop.set()
        runs = await asyncio.gather(*attackers)
        await normal.close()
    finally:
        stop.set()
        await venue.stop(grace=0.5)
        tracemalloc.stop()
    quiet_p99, attacked_p99 = p99(quiet), p99(attacked)
    # The machine is a noisy 2-core VM shared with other jobs: 2x the quiet p99 alone would
    # flake on scheduler noise, and so did quiet + 5 ms on a slow day (2026-11-30: attacked
    # p99 2.5-8.1 ms over eight runs, the same before and after that day's changes, one in
    # four over the bound), so the bound is max(2x quiet, quiet + 10 ms). A quadratic framer
    # or an unthrottled resend flood costs hundreds of ms and still fails it.
    limit = max(2 * quiet_p99, quiet_p99 + 0.010)
    summary = {
        "soak": "fix_abuse",
        "quiet_p99_ms": round(quiet_p99 * 1e3, 3),
        "attacked_p99_ms": round(attacked_p99 * 1e3, 3),
        "limit_ms": round(limit * 1e3, 3),
        "attacked_round_trips": len(attacked),
        "attack_runs": dict(
            zip(
                ["trickle1", "trickle2", "trickle3", "resend", "subscribe", "logon"],
                runs,
                strict=True,
            )
        ),
        "traced_memory_growth_mb": round((peak_mem - base_mem) / 1e6, 2),
    }
    print(json.dumps(summary))
    assert attacked_p99 <= limit, summary
    assert peak_mem - base_mem < 64e6, summary
