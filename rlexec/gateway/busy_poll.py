"""Busy polling: keep the event loop polling for a short window after FIX traffic, instead of
sleeping in epoll until the kernel wakes the process.

A sequential round trip (send, wait for the reply) pays the scheduler's wake-up on each
side: the process sleeps, the reply's packet arrives, and the kernel has to schedule it
again, often on the other core with its caches cold. On this machine the two wake-ups cost
more than both ends' CPython together (bench/fix_roundtrip.py). Low-latency engines trade a core
for it: they spin. Here the spin is bounded: every read or write of a FIX connection opens
a window (`window_us`) during which the loop polls with a zero timeout; when the window
closes with nothing new, the loop blocks again, so an idle process does not burn a core.

It is off by default (`rlexec serve --busy-poll-us`, `rlexec venue --busy-poll-us`): it
pays only where a core is free for each spinning process. On a machine with fewer free
cores than spinning processes, a spinner holds the core the other end needs, and round trips
get slower, not faster.
"""

from __future__ import annotations

import asyncio
import time
import weakref

_SPINNERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Spinner] = (
    weakref.WeakKeyDictionary()
)


class Spinner:
    """Keeps one loop polling until `window_us` after the last `touch`."""

    __slots__ = ("_clock", "_loop", "_until", "_window_ns", "polls", "spinning", "window_us")

    def __init__(self, loop: asyncio.AbstractEventLoop, window_us: int) -> None:
        if window_us <= 0:
            raise ValueError(f"busy-poll window_us={window_us} must be positive")
        self._loop = loop
        self.window_us = window_us
        self._window_ns = window_us * 1_000
        self._clock = time.perf_counter_ns
        self._until = 0
        self.spinning = False
        self.polls = 0
        """Loop iterations spent spinning (how much of a core the window costs)."""

    def touch(self) -> None:
        """Traffic: poll for another window from now."""
        self._until = self._clock() + self._window_ns
        if not self.spinning:
            self.spinning = True
            self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        # A ready callback makes the loop's next poll a zero-timeout one; rescheduling
        # ourselves keeps it so until the window closes.
        if self._clock() < self._until:
            self.polls += 1
            self._loop.call_soon(self._spin)
        else:
            self.spinning = False


def install(loop: asyncio.AbstractEventLoop, window_us: int) -> Spinner:
    """Busy-poll `loop` after FIX traffic (every `FixConnection` made on it touches it)."""
    spinner = Spinner(loop, window_us)
    _SPINNERS[loop] = spinner
    return spinner


def uninstall(loop: asyncio.AbstractEventLoop) -> None:
    """The loop blocks between events again (connections made from now on do not touch)."""
    _SPINNERS.pop(loop, None)


def spinner_for(loop: asyncio.AbstractEventLoop) -> Spinner | None:
    """The loop's spinner, None when it blocks between events (the default)."""
    return _SPINNERS.get(loop)


def spinners() -> list[Spinner]:
    """The spinner of every loop of this process that is still open (for the metrics)."""
    return [s for loop, s in list(_SPINNERS.items()) if not loop.is_closed()]
