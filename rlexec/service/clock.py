"""The clock port: wall time in production, the venue's time against a faster-than-real simulator.

Every time the service reasons about — decision intervals, parent horizons, staleness, the
risk overlay's rate windows and trading hours — comes from one `Clock`. Against
`rlexec venue --speed N` the service runs on `VenueClock`, fed the timestamps the venue puts
on its market data, so a 10-minute parent takes 10 minutes of *market* time (30 s of wall
time at speed 20) with the same decision interval as in training.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def observe(self, venue_ns: int) -> int:
        """A timestamp the venue stamped on a message; returns the time now (one call for the
        market-data path's two questions)."""


class WallClock:
    """Nanoseconds since the epoch; venue timestamps are ignored."""

    name = "wall"

    def now_ns(self) -> int:
        return time.time_ns()

    def observe(self, venue_ns: int) -> int:
        return time.time_ns()


class VenueClock:
    """The latest venue timestamp seen, never going backwards; 0 until the first one arrives."""

    name = "venue"

    __slots__ = ("_now",)

    def __init__(self) -> None:
        self._now = 0

    def now_ns(self) -> int:
        return self._now

    def observe(self, venue_ns: int) -> int:
        if venue_ns > self._now:
            self._now = venue_ns
        return self._now


def make_clock(kind: str) -> WallClock | VenueClock:
    if kind == "wall":
        return WallClock()
    if kind == "venue":
        return VenueClock()
    raise ValueError(f"clock must be 'wall' or 'venue', got {kind!r}")
