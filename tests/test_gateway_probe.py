"""`rlexec fix-probe` end to end: the real command in a subprocess against our acceptor."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.application import Application
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.probe import ProbeOptions, run_probe
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from tests.gateway.venue import ScriptedVenue


async def probe_cli(*args: str) -> tuple[int, dict[str, object] | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rlexec.cli.main",
        "fix-probe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    text = out.decode().strip()
    return proc.returncode, json.loads(text) if text else None, err.decode()


async def start(app: Application) -> FixAcceptor:
    session = FixSession(
        SessionConfig("VENUE", "PROBE", Role.ACCEPTOR, logon_timeout=5), MemoryStore(), app
    )
    acceptor = FixAcceptor([session])
    await acceptor.start()
    return acceptor


@pytest.fixture
async def venue() -> AsyncIterator[tuple[FixAcceptor, ScriptedVenue]]:
    app = ScriptedVenue()
    acceptor = await start(app)
    yield acceptor, app
    await acceptor.stop(grace=0.5)


def stored_sessions(directory: Path) -> list[Path]:
    return list(directory.glob("*.fixlog"))


def base(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port), "--sender", "PROBE", "--target", "VENUE"]


async def test_probe_reports_acks_fills_and_latencies(
    venue: tuple[FixAcceptor, ScriptedVenue], tmp_path: Path
) -> None:
    acceptor, _ = venue
    code, result, err = await probe_cli(
        *base(acceptor.port),
        "--orders",
        "5",
        "--symbol",
        "FILL",
        "--price",
        "585.33",
        "--qty",
        "10",
        "--store",
        str(tmp_path),
        "--timeout",
        "5",
    )
    assert code == 0, err
    assert result is not None
    assert result["logged_on"] is True and isinstance(result["logon_ms"], float)
    assert (result["orders_sent"], result["acks"], result["fills"], result["rejects"]) == (
        5,
        5,
        5,
        0,
    )
    assert result["unanswered"] == 0 and result["ok"] is True
    assert 0 < result["ack_p50_us"] <= result["ack_p99_us"]  # type: ignore[operator]
    assert 0 < result["fill_p50_us"] <= result["fill_p99_us"]  # type: ignore[operator]
    assert result["session_errors"] == {
        "rejects_received": 0,
        "rejects_sent": 0,
        "garbled_received": 0,
        "resend_requests_sent": 0,
        "disconnects": {"logout": 1},
    }
    assert stored_sessions(tmp_path), "sequence numbers were persisted in --store"


async def test_probe_cancels_orders_left_working(venue: tuple[FixAcceptor, ScriptedVenue]) -> None:
    acceptor, app = venue
    code, result, err = await probe_cli(*base(acceptor.port), "--orders", "3", "--symbol", "REST")
    assert code == 0, err
    assert result is not None
    assert (result["acks"], result["fills"], result["canceled_by_probe"]) == (3, 0, 3)
    assert app.orders == {}


async def test_rejected_orders_count_as_answered(venue: tuple[FixAcceptor, ScriptedVenue]) -> None:
    acceptor, _ = venue
    code, result, _ = await probe_cli(*base(acceptor.port), "--orders", "2", "--qty", "2000000")
    assert code == 0
    assert result is not None
    assert (result["rejects"], result["unanswered"]) == (2, 0)
    assert result["reject_reasons"] == ["quantity too large"]


class Silent(Application):
    """Accepts the logon and never answers an order."""


async def test_unanswered_orders_fail_the_probe() -> None:
    acceptor = await start(Silent())
    try:
        code, result, _ = await probe_cli(*base(acceptor.port), "--orders", "2", "--timeout", "1")
        assert code == 1
        assert result is not None
        assert (result["orders_sent"], result["unanswered"], result["ok"]) == (2, 2, False)
    finally:
        await acceptor.stop(grace=0.5)


async def test_no_venue_is_a_failed_logon_not_a_traceback(unused_port: int) -> None:
    code, result, err = await probe_cli(*base(unused_port), "--timeout", "1")
    assert code == 1
    assert result is not None
    assert result["logged_on"] is False
    assert "no logon within 1 s" in str(result["error"])
    assert "last connect error" in str(result["error"])
    assert err == "", "session log lines only with --verbose"
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--price", "abc", "--price: not a decimal price: 'abc'"),
        ("--price", "0", "--price: must be positive"),
        ("--orders", "0", "--orders: must be at least 1, got 0"),
        ("--qty", "-5", "--qty: must be at least 1, got -5"),
        ("--heartbeat", "0", "--heartbeat: must be > 0 seconds, got 0.0"),
        ("--heartbeat", "nan", "--heartbeat: must be > 0 seconds, got nan"),
        ("--timeout", "-1", "--timeout: must be a positive number of seconds"),
        ("--timeout", "inf", "--timeout: must be a positive number of seconds"),
        ("--symbol", "", "--symbol: not a symbol: ''"),
        ("--symbol", "A\x01B", "--symbol: not a symbol: 'A\\x01B'"),
        ("--sender", "", "--sender: must be non-empty printable ASCII, got ''"),
        ("--target", "PROBE", "--target: must differ from sender_comp_id"),
        ("--username", "", "--username: must be non-empty printable ASCII when given"),
    ],
)
async def test_bad_arguments_are_one_line_errors_naming_the_flag(
    flag: str, value: str, said: str
) -> None:
    """They used to name the probe's own field ("FIX session config quantity") rather than the
    flag the user typed (--qty)."""
    code, result, err = await probe_cli(*base(1), flag, value)
    assert (code, result) == (2, None)
    assert err.strip() == f"rlexec fix-probe: error: {said}"


def test_probe_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="port"):
        ProbeOptions("127.0.0.1", 0, "A", "B")
    with pytest.raises(ConfigError, match="price"):
        ProbeOptions("127.0.0.1", 1, "A", "B", price=0)


async def test_run_probe_in_process(venue: tuple[FixAcceptor, ScriptedVenue]) -> None:
    acceptor, _ = venue
    result = await run_probe(
        ProbeOptions("127.0.0.1", acceptor.port, "PROBE", "VENUE", symbol="FILL", orders=3)
    )
    assert (result["fills"], result["ok"]) == (3, True)


@pytest.fixture
async def unused_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port
