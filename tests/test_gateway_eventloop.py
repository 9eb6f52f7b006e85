"""The loop helper: uvloop where installed, and the test suite runs on the loop production runs on."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest

from rlexec.gateway import eventloop

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def test_async_tests_run_on_the_production_loop() -> None:
    loop = asyncio.get_running_loop()
    assert type(loop).__module__.split(".")[0] == eventloop.loop_name()


def test_uvloop_is_used_where_installed() -> None:
    assert eventloop.loop_name() == ("uvloop" if HAS_UVLOOP else "asyncio")


def test_without_uvloop_everything_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert eventloop.loop_factory() is asyncio.new_event_loop
    assert eventloop.loop_name() == "asyncio"

    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert type(eventloop.run(which())).__module__.startswith("asyncio.")


def test_run_returns_the_result_on_a_fresh_loop_each_time() -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first, second = eventloop.run(which()), eventloop.run(which())
    assert first is not second and first.is_closed() and second.is_closed()
    assert type(first).__module__.split(".")[0] == eventloop.loop_name()
