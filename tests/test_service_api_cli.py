"""`rlexec parents|kill|resume` as subprocesses against the live API of a Service trading
with `rlexec venue`: what a person at a terminal sees, and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_support import TOKENS, LiveService, live_service
from tests.service_support import Venue, start_venue
from tests.service_support import settings as service_settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.fixture
def live(venue: Venue) -> Iterator[LiveService]:
    yield from live_service(service_settings(venue, decision_interval_s=5.0))


def rlexec(
    live: LiveService, role: str | None, *args: str, api_last: bool = False
) -> subprocess.CompletedProcess[str]:
    """`api_last`: `--api` after everything else (after the action), as people type it."""
    env = {k: v for k, v in os.environ.items() if k not in ("RLEXEC_API_TOKEN", "RLEXEC_API")}
    env["PYTHONPATH"] = str(ROOT)
    if role is not None:
        env["RLEXEC_API_TOKEN"] = TOKENS[role]
    api = ["--api", f"127.0.0.1:{live.service.api_port}"]
    if api_last:
        cmd = [sys.executable, "-m", "rlexec.cli.main", *args, *api]
    else:
        cmd = [sys.executable, "-m", "rlexec.cli.main", *args[:1], *api, *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_submit_list_show_follow_and_cancel(live: LiveService) -> None:
    done = rlexec(live, "trader", "parents", "--json", "submit", "buy", "1000", "AAPL", "60s",
                  "twap", "id=cli-1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    pid = json.loads(done.stdout)["id"]
    listed = rlexec(live, "viewer", "parents", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "SIDE"]
    assert [r.split()[0] for r in rows] == [pid]
    after = rlexec(live, "viewer", "parents", "list", "--json", api_last=True)
    assert after.returncode == 0, after.stderr
    assert [p["id"] for p in json.loads(after.stdout)] == [pid]
    followed = rlexec(live, "viewer", "parents", "show", pid, "--follow", "--interval", "0.2")
    assert followed.returncode == 0, followed.stderr  # completed
    lines = followed.stdout.splitlines()
    assert lines[-1].startswith(f"{pid} completed") and "1000/1000" in lines[-1]
    shown = rlexec(live, "viewer", "parents", "show", pid)
    assert shown.returncode == 0 and "child " in shown.stdout
    other = rlexec(live, "trader", "parents", "--json", "submit", "sell 500 AAPL 10m twap")
    second = json.loads(other.stdout)["id"]
    cancelled = rlexec(live, "trader", "parents", "--json", "cancel", second)
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["state"] == "cancelled"


def test_kill_and_resume(live: LiveService) -> None:
    killed = rlexec(live, "trader", "kill", "--why", "cli test")
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.startswith("HALTED: 0 cancels sent")
    refused = rlexec(live, "trader", "resume", "--who", "ann", "--why", "done")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "HTTP 403" in refused.stderr
    resumed = rlexec(live, "risk", "resume", "--who", "ann", "--why", "done", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "ACTIVE"


@pytest.mark.parametrize(
    ("role", "args", "expect"),
    [
        (None, ("parents", "list"), "HTTP 401: no bearer token (set RLEXEC_API_TOKEN)"),
        ("viewer", ("kill", "--why", "x"), "HTTP 403: role viewer may not POST /v1/kill"),
        ("viewer", ("parents", "show", "P-none"), "HTTP 404: no parent 'P-none' [id]"),
        ("trader", ("parents", "submit", "buy", "10", "MSFT", "60s"), "HTTP 422:"),
        ("trader", ("parents", "submit", "hold", "10", "AAPL", "60s"), "side 'hold'"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    live: LiveService, role: str | None, args: tuple[str, ...], expect: str
) -> None:
    done = rlexec(live, role, *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert expect in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("env", "args", "expect"),
    [
        ({"RLEXEC_API": "127.0.0.1:18081x"}, ("parents", "list"), "expected HOST:PORT"),
        ({"RLEXEC_API": "ftp://127.0.0.1:1"}, ("parents", "list"), "expected HOST:PORT"),
        ({"RLEXEC_API_TOKEN": "bad\ntoken"}, ("parents", "list"), "control character"),
        ({}, ("serve", "--clock", "bogus"), "argument --clock: invalid choice"),
        ({}, ("parents", "frobnicate"), "invalid choice"),
        ({}, ("venue", "--metrics-port", "99999"), "port 99999 is outside 0..65535"),
    ],
)
def test_bad_addresses_tokens_and_arguments_are_one_line(
    env: dict[str, str], args: tuple[str, ...], expect: str
) -> None:
    """No service needed: these are refused before anything is sent."""
    base = {k: v for k, v in os.environ.items() if k not in ("RLEXEC_API_TOKEN", "RLEXEC_API")}
    cmd = [sys.executable, "-m", "rlexec.cli.main", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env=base | env | {"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and expect in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
