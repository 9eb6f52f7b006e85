"""Chaos: kill -9 the live service at random moments while parents work; it must lose no order.

The venue (`rlexec venue`) and the service (`rlexec serve --state redis://…`) run as separate
processes against the real Redis; the FIX sessions keep their sequence numbers in file stores
(`--fix-store`), whose writes reach the kernel before the message reaches the socket, so a
killed process loses none of them (see the README on the Redis session store). The service is SIGKILLed `CHAOS_KILLS` times (20 by
default; `make chaos` runs more) at random moments, restarted each time with the same
command (its parents carry client ids, so a restart finds them instead of adding new ones),
then left to finish. Afterwards, from the venue's own counters and the service's store:
the service's fills equal the venue's for the client, side by side; the position equals the
sum of fills; no ClOrdID was used twice (the venue refuses a duplicate); nothing is left
working; no parent filled more than its quantity. The counts are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.service.state_redis import RedisStateStore
from tests.service_support import Venue, start_venue

pytestmark = [pytest.mark.slow, pytest.mark.redis]

KILLS = int(os.environ.get("CHAOS_KILLS", "20"))
SEED = int(os.environ.get("CHAOS_SEED", "20261129"))
PARENTS = ("buy 8000 AAPL 60m rl id=chaos-rl", "sell 8000 AAPL 60m twap id=chaos-twap")
"""An hour of market at 40× real time: 90 s of wall time, long enough for every kill."""


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message, speed=40.0)


def serve(venue: Venue, state: str, log: Path, fix_store: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "serve", "--venue", f"127.0.0.1:{venue.port}",
        "--clock", "venue", "--symbols", "AAPL", "--state", state, "--initialise",
        "--fix-store", str(fix_store),
        "--resume-parents", "--api", "127.0.0.1:0", "--exit-when-done",
        *(arg for p in PARENTS for arg in ("--parent", p)),
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out)


def venue_total(venue: Venue, name: str, **labels: str) -> float:
    """Sum of a venue counter over the label values not given."""
    total = 0.0
    for key, value in venue.metrics().items():
        if key.startswith(name + "{") and all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


def test_kill_9_twenty_times_loses_no_order(venue: Venue, redis_url: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    log = tmp_path / "serve.log"
    fix_store = tmp_path / "fix"
    fix_store.mkdir()
    kills = 0
    started = time.monotonic()
    while kills < KILLS:
        proc = serve(venue, redis_url, log, fix_store)
        time.sleep(rng.uniform(0.3, 2.0))
        if proc.poll() is not None:  # finished (or failed) before its kill
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    final = serve(venue, redis_url, log, fix_store)
    try:
        code = final.wait(timeout=240)
    finally:
        if final.poll() is None:
            final.kill()
    text = log.read_text(errors="replace")
    assert code == 0, f"the last run exited {code}: {text[-3000:]}"

    state = asyncio.run(_load(redis_url))
    children = list(state.children.values())
    by_side = {"BUY": 0, "SELL": 0}
    for child in children:
        by_side[child["side"]] += int(child["cum_qty"])
    fills_by_side = {"BUY": 0, "SELL": 0}
    for fill in state.fills.values():
        fills_by_side[fill["side"]] += int(fill["qty"])
    venue_buy = venue_total(venue, "rlexec_venue_filled_shares_total", client="CLIENT", side="buy")
    venue_sell = venue_total(
        venue, "rlexec_venue_filled_shares_total", client="CLIENT", side="sell"
    )
    duplicates = venue_total(venue, "rlexec_venue_rejects_total", client="CLIENT",
                             reason="DUPLICATE_ORDER")  # fmt: skip
    working = [c["cl_ord_id"] for c in children if c["state"] not in
               ("filled", "canceled", "rejected", "expired")]  # fmt: skip
    parents = {p["spec"]["client_id"]: p for p in state.parents.values()}
    filled = {
        cid: sum(int(c["cum_qty"]) for c in children if c["parent_id"] == p["id"])
        for cid, p in parents.items()
    }
    summary = {
        "kills": kills, "seconds": round(time.monotonic() - started, 1),
        "child_orders": len(children), "fills": len(state.fills),
        "service_filled": by_side, "venue_filled": {"BUY": venue_buy, "SELL": venue_sell},
        "duplicate_clordids": duplicates, "left_working": len(working),
        "parents": {cid: {"state": p["state"], "filled": filled[cid],
                          "quantity": p["spec"]["quantity"]} for cid, p in parents.items()},
        "recoveries": text.count("event=recovered") + text.count('"event": "recovered"'),
        "adopted": text.count("order_adopted"),
    }  # fmt: skip
    report = json.dumps(summary)
    print(report)
    assert kills == KILLS, f"the service finished after {kills} kills: {report}"
    assert by_side == {"BUY": venue_buy, "SELL": venue_sell}, report
    assert fills_by_side == by_side, report
    assert duplicates == 0, report
    assert not working, report
    assert set(parents) == {"chaos-rl", "chaos-twap"}, report
    for cid, p in parents.items():
        assert filled[cid] <= p["spec"]["quantity"], report
        assert p["state"] in ("completed", "failed"), report


async def _load(url: str):  # type: ignore[no-untyped-def]
    store = RedisStateStore(url)
    await store.open()
    try:
        return await store.load()
    finally:
        await store.close()
