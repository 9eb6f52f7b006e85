"""The event loop rlexec runs on: uvloop where it is installed, asyncio's own loop otherwise.

uvloop (libuv, in Cython) is a drop-in asyncio loop whose socket reads, writes and callback
dispatch cost a fraction of the pure-Python loop's: a sequential FIX round trip over loopback
(bench/fix_roundtrip.py) spends ~74 µs of CPU on both ends on it against ~108 µs on asyncio's,
and its median round trip is 68 µs against 86–107 µs.
The service, the venue, the CLI and the benchmarks all start their loop here, and the test
suite runs on the same loop (tests/conftest.py), so what is tested is what runs. Where
uvloop is absent (Windows, a minimal install) everything runs unchanged on asyncio's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from rlexec.gateway import busy_poll

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new event loop: uvloop's when importable, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    """Which loop `run` uses here, "uvloop" or "asyncio" (benchmarks print it)."""
    return "asyncio" if loop_factory() is asyncio.new_event_loop else "uvloop"


def run(main: Coroutine[Any, Any, T], busy_poll_us: int = 0) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` makes; `busy_poll_us` > 0 keeps it
    polling for that long after each FIX read or write (rlexec.gateway.busy_poll)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        loop = runner.get_loop()
        if busy_poll_us > 0:
            busy_poll.install(loop, busy_poll_us)
        try:
            return runner.run(main)
        finally:
            busy_poll.uninstall(loop)
