"""The live service end to end against `rlexec venue` in a subprocess: real FIX over loopback,
the venue's own Prometheus counters as the independent record of what traded."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.gateway.message import FixMessage
from rlexec.market.errors import RlexecError
from rlexec.service.config import ParentSpec, ServiceSettings
from rlexec.service.oms import ChildState
from rlexec.service.parents import ParentState
from rlexec.service.runtime import Service
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up

pytestmark = pytest.mark.slow

FILLED = "rlexec_venue_filled_shares_total"
CANCELS = "rlexec_venue_cancels_total"


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


def _disconnect_cancels(venue: Venue) -> float:
    """Orders the venue cancelled because CLIENT went away while they were working."""
    return venue.sample(CANCELS, client="CLIENT", cause="disconnect")


def _requested_cancels(venue: Venue) -> float:
    return venue.sample(CANCELS, client="CLIENT", cause="request")


async def test_parents_complete_and_every_record_of_the_fills_agrees(venue: Venue) -> None:
    before = venue.sample(FILLED, client="CLIENT", side="buy")
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        rl, twap = submit(service, "rl"), submit(service, "twap")
        await wait_for("both parents to finish", lambda: rl.state.is_terminal
                       and twap.state.is_terminal, within=50)  # fmt: skip
        assert rl.state is ParentState.COMPLETED, rl.reason
        assert twap.state is ParentState.COMPLETED, twap.reason
        assert rl.filled == twap.filled == 3_000
        oms_filled = sum(c.cum_qty for c in service.oms.all())
        position = service.overlay.position("AAPL").position
        assert oms_filled == position == rl.filled + twap.filled
        assert rl.decisions >= 1 and twap.decisions >= 1
        for p in (rl, twap):  # one latency per decision or horizon take, none per idle update
            assert len(p.latencies_ns) == p.decisions + p.horizon_takes
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0
    venue_filled = venue.sample(FILLED, client="CLIENT", side="buy") - before
    assert venue_filled == oms_filled


async def test_graceful_stop_cancels_working_children(venue: Venue) -> None:
    cancels_before = _disconnect_cancels(venue)
    requested_before = _requested_cancels(venue)
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 5.0)
        parent = submit(service, "twap", quantity=20_000, horizon_s=600.0)
        await wait_for("working child orders", lambda: bool(service.oms.working()))
        assert parent.state is ParentState.WORKING
    finally:
        stopped = await service.stop()
    # `cancels_sent` counts only stop()'s own sweep; pause_all (run first) already asked for
    # the cancels, so the venue's count is the real record.
    assert _requested_cancels(venue) > requested_before
    assert stopped["left_working"] == 0
    assert service.oms.working() == []
    # nothing was left for the venue's cancel-on-disconnect to clean up
    await _sleep(0.5)
    assert _disconnect_cancels(venue) == cancels_before


def test_sigterm_stops_the_server_cleanly(venue: Venue) -> None:
    cancels_before = _disconnect_cancels(venue)
    api = _free_port()
    proc = _serve_until_an_order(venue, api)
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    stopped = [json.loads(line) for line in err.splitlines() if '"service_stopped"' in line]
    assert len(stopped) == 1, err[-2000:]
    assert stopped[0]["left_working"] == "0"
    # Every log line is whole JSON (one writer: nothing interleaves), the parent's summary too.
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    summaries = [line for line in lines if line.get("event") == "parent_summary"]
    assert len(summaries) == 1 and summaries[0]["algo"] == "twap", err[-2000:]
    time.sleep(0.5)
    # whatever was still working at SIGTERM was cancelled by the service, not by the venue's
    # cancel-on-disconnect (the child may also have filled first: no cancel count asserted)
    assert _disconnect_cancels(venue) == cancels_before


@pytest.mark.parametrize(
    ("api", "tokens", "error"),
    [
        ("taken", "", "cannot listen there: Address already in use"),
        ("nonexistent.invalid:18080", "", "api nonexistent.invalid:18080: cannot listen there"),
        ("127.0.0.1:0", "trader", "RLEXEC_API_TOKENS entry 1: expected role:token"),
    ],
)
async def test_a_bad_api_address_or_token_stops_the_start_before_any_logon(
    api: str, tokens: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLEXEC_API_TOKENS", tokens)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if api == "taken":
            api = f"127.0.0.1:{taken.getsockname()[1]}"
        service = Service(ServiceSettings(venue="127.0.0.1:1", symbols=("AAPL",), api=api))
        started = time.monotonic()
        with pytest.raises(RlexecError, match=error):
            await service.start()
    assert time.monotonic() - started < 10.0  # not after the 15 s wait for a venue not there
    assert service.order_session.state.value == "disconnected"  # never even tried


def test_sigterm_while_waiting_for_the_logon_stops_at_once() -> None:
    """No venue answers: SIGTERM ends the wait for the logon (15 s) there, exit 0."""
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "serve", "--venue", f"127.0.0.1:{_free_port()}",
        "--clock", "venue", "--symbols", "AAPL", "--api", f"127.0.0.1:{_free_port()}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        for line in proc.stderr:  # it is past its imports and waiting for the venue
            if "fix_connect" in line or "connect" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert took < 5.0, f"{took:.1f} s after SIGTERM"
    assert "waiting for the FIX logon" in err and "Traceback" not in err, err[-2000:]


def test_a_parent_given_to_a_halted_service_is_refused_and_it_stops_cleanly(
    aapl_message: Path, redis_url: str
) -> None:
    """An empty Redis state without --initialise starts HALTED: `--parent` is refused with a
    log line, and the service (here with --exit-when-done) stops gracefully, exit 0.

    Its own venue: with Redis state the FIX sequence numbers are durable, so a fresh store
    logs on at 1 without a reset, which the shared venue (its CLIENT session already used by
    the tests before) rightly refuses as too low."""
    venues = start_venue(aapl_message)
    venue = next(venues)
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "serve", "--venue", f"127.0.0.1:{venue.port}",
        "--clock", "venue", "--symbols", "AAPL", "--api", f"127.0.0.1:{_free_port()}",
        "--state", redis_url, "--parent", "buy 100 AAPL 60s twap", "--exit-when-done",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    finally:
        venues.close()  # stops the venue
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "parent_refused"]
    assert len(refused) == 1 and "HALTED" in refused[0]["error"], done.stderr[-2000:]
    assert any(line.get("event") == "service_stopped" for line in lines)
    # started: the heap it keeps for good (the model, the libraries) frozen out of gc's walks
    frozen = [line for line in lines if line.get("event") == "gc_frozen"]
    assert len(frozen) == 1 and int(frozen[0]["objects"]) > 10_000, frozen


def test_sigusr1_halts_without_the_http_api_and_says_so(venue: Venue) -> None:
    api = _free_port()
    proc = _serve_until_an_order(venue, api)
    try:
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while 'rlexec_risk_state{state="HALTED"} 1.0' not in _metrics(api):
            assert time.monotonic() < deadline, "SIGUSR1 did not halt"
            time.sleep(0.1)
        halted_at = _new_orders_sent(api)
        time.sleep(1.5)  # a minute of market at 40x: several decisions would have been due
        assert _new_orders_sent(api) == halted_at, "an order went out after the kill"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    signals = [json.loads(line) for line in err.splitlines() if '"kill_signal"' in line]
    assert len(signals) == 1 and signals[0]["state"] == "HALTED", err[-2000:]
    assert signals[0]["parents_cancelled"] == "1"
    stopped = [json.loads(line) for line in err.splitlines() if '"service_stopped"' in line]
    assert stopped and stopped[0]["left_working"] == "0"


def _serve_until_an_order(venue: Venue, api: int) -> subprocess.Popen[str]:
    """`rlexec serve` with a TWAP parent, returned once it has sent a child order."""
    cmd = [
        sys.executable, "-m", "rlexec.cli.main", "serve", "--venue", f"127.0.0.1:{venue.port}",
        "--clock", "venue", "--symbols", "AAPL", "--parent", "buy 20000 AAPL 600s twap",
        "--api", f"127.0.0.1:{api}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 45
    while _new_orders_sent(api) < 1:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(
                f"rlexec serve never sent a child order: {proc.communicate()[1][-2000:]}"
            )
        time.sleep(0.2)
    return proc


def _metrics(api: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _free_port() -> int:
    from tests.service_support import free_port

    return free_port()


def _new_orders_sent(api: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    found = re.search(r'^rlexec_service_child_orders_total\{kind="new"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _gap_message(rpt_seq: int) -> FixMessage:
    """A real MarketDataIncrementalRefresh whose RptSeq skips ahead: what a lost packet looks like."""
    return FixMessage([
        (35, b"X"), (268, b"1"), (279, b"0"), (269, b"0"), (55, b"AAPL"),
        (270, b"580.00"), (271, b"100"), (83, str(rpt_seq).encode()),
    ])  # fmt: skip


async def test_stale_market_data_pauses_decisions_until_the_snapshot(venue: Venue) -> None:
    service = Service(settings(venue, decision_interval_s=2.0))
    await service.start()
    try:
        await warm_up(service, 5.0)
        parent = submit(service, "twap", quantity=20_000, horizon_s=600.0)
        await wait_for("the first child", lambda: service.gate.sent >= 1)
        gaps = service.md.gaps
        service.md.on_message(service.md_session, _gap_message(10**12))
        assert service.md.gaps == gaps + 1
        assert "AAPL" in service.md.stale
        assert service.markets["AAPL"].stale_reason is not None
        sent = service.gate.sent
        decisions = parent.decisions
        # While stale (until the snapshot is applied) nothing new may go out.
        while "AAPL" in service.md.stale:
            assert service.gate.sent == sent
            assert parent.decisions == decisions
            await _sleep(0.005)
        await wait_for("decisions to resume", lambda: parent.decisions > decisions, within=20)
        assert service.markets["AAPL"].stale_reason is None
        assert service.gate.sent >= sent
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


async def test_a_kill_while_a_replace_is_in_flight_still_cancels_that_child(venue: Venue) -> None:
    """One request at a time per order: the kill's sweep skips a child whose replace is in
    flight, and the service cancels it as soon as the venue answers the replace."""
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 5.0)
        mid = service.markets["AAPL"].book.mid
        assert mid is not None
        spec = ParentSpec(symbol="AAPL", side="buy", quantity=2_000, horizon_s=600.0,
                          algo="twap", limit_price=round(mid * 0.98 / 10_000, 2))  # fmt: skip
        parent = service.parents.submit(spec)
        await wait_for("a resting child", lambda: any(
            c.state is ChildState.NEW for c in service.oms.working(parent.id)))  # fmt: skip
        child = next(c for c in service.oms.working(parent.id) if c.state is ChildState.NEW)
        smaller = max(100, child.quantity - child.cum_qty - 100)
        approval = service.overlay.check_replace(
            service.gate.risk_id(child), smaller, child.price, service.clock.now_ns()
        )
        assert approval.approved, approval
        service.gate.replace(approval, child)
        assert child.state is ChildState.PENDING_REPLACE
        killed = service.control.kill("test", "kill with a replace in flight")
        assert killed.state == "HALTED"
        await wait_for("every child cancelled", lambda: not service.oms.working(), within=20)
    finally:
        await service.stop(grace_s=2.0)
