"""Busy polling after FIX traffic: the loop spins for its window and then sleeps again, FIX
works over it end to end, and the flags that turn it on are checked like every setting."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rlexec.cli.serve_args import add_serve_arguments, settings_from_args
from rlexec.gateway import busy_poll, eventloop
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.market.errors import RlexecError
from rlexec.simulator.venue_config import load_venue_config

REPO = Path(__file__).resolve().parent.parent


def test_the_loop_spins_for_its_window_after_a_touch_and_then_sleeps() -> None:
    async def main() -> tuple[bool, bool, int, int, bool]:
        spinner = busy_poll.spinner_for(asyncio.get_running_loop())
        assert spinner is not None
        idle = spinner.spinning  # no traffic yet: no spinning
        spinner.touch()
        await asyncio.sleep(0.01)
        within = spinner.spinning
        await asyncio.sleep(0.3)  # the 200 ms window closed: the loop blocks again
        polls = spinner.polls
        await asyncio.sleep(0.05)  # and the count stands still
        return idle, within, polls, spinner.polls, spinner.spinning

    idle, within, polls, later, spinning = eventloop.run(main(), busy_poll_us=200_000)
    assert not idle and within and not spinning
    assert polls > 10 and later == polls


def test_a_touch_within_the_window_extends_it() -> None:
    async def main() -> list[bool]:
        spinner = busy_poll.spinner_for(asyncio.get_running_loop())
        assert spinner is not None
        seen = []
        spinner.touch()
        for _ in range(4):  # traffic every 80 ms keeps a 200 ms window open past 320 ms
            await asyncio.sleep(0.08)
            seen.append(spinner.spinning)
            spinner.touch()
        await asyncio.sleep(0.3)
        return [*seen, spinner.spinning]

    assert eventloop.run(main(), busy_poll_us=200_000) == [True, True, True, True, False]


def test_without_busy_polling_a_loop_has_no_spinner() -> None:
    async def main() -> busy_poll.Spinner | None:
        return busy_poll.spinner_for(asyncio.get_running_loop())

    assert eventloop.run(main()) is None


def test_a_window_must_be_positive() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="window_us=0 must be positive"):
            busy_poll.Spinner(loop, 0)
    finally:
        loop.close()


def test_the_metrics_show_the_window_and_the_polls() -> None:
    async def main() -> str:
        spinner = busy_poll.spinner_for(asyncio.get_running_loop())
        assert spinner is not None
        spinner.touch()
        await asyncio.sleep(0.01)
        registry = CollectorRegistry()
        GatewayMetrics(registry)
        return generate_latest(registry).decode()

    text = eventloop.run(main(), busy_poll_us=2_000)
    assert "rlexec_fix_busy_poll_window_seconds 0.002" in text
    polls = next(
        line
        for line in text.splitlines()
        if line.startswith("rlexec_fix_busy_poll_iterations_total")
    )
    assert float(polls.split()[1]) > 0


@pytest.mark.slow
def test_fix_round_trips_between_two_busy_polling_processes() -> None:
    """The benchmark's two ends, each its own process, both polling: every order is filled."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fix_roundtrip.py"), "--orders", "300",
         "--repeat", "1", "--busy-poll-us", "300"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["busy_poll_us"] == 300
    assert result["sequential"]["orders_per_s"] > 0 and result["pipelined"]["orders_per_s"] > 0
    # the client's connection touched its spinner: it polled for replies rather than slept
    assert result["sequential"]["client_busy_polls"] > 300


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(list(argv))


def test_serve_takes_the_window_from_its_flag_or_the_environment() -> None:
    assert settings_from_args(serve_args(), environ={}).busy_poll_us == 0
    assert settings_from_args(serve_args("--busy-poll-us", "250"), environ={}).busy_poll_us == 250
    env = {"RLEXEC_BUSY_POLL_US": "100"}
    assert settings_from_args(serve_args(), environ=env).busy_poll_us == 100


@pytest.mark.parametrize("bad", ["-1", "abc", "2000000"])
def test_a_bad_serve_window_names_the_flag(bad: str) -> None:
    with pytest.raises(RlexecError, match="--busy-poll-us"):
        settings_from_args(serve_args("--busy-poll-us", bad), environ={})


def test_a_bad_venue_window_names_the_flag(tmp_path: Path) -> None:
    data = tmp_path / "AAPL_message.csv"
    data.write_text("")
    assert load_venue_config(None, {"data": data, "busy_poll_us": 400}).busy_poll_us == 400
    with pytest.raises(RlexecError, match="--busy-poll-us"):
        load_venue_config(None, {"data": data, "busy_poll_us": -5})
