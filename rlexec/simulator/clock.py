"""Replay time against wall time: as fast as possible, or real time × a speed factor.

The core never sleeps; a clock only says how long the caller (the venue's event loop, a
live demo) should wait before the next recorded event is due.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def delay_s(self, ts_ns: int) -> float:
        """Wall-clock seconds to wait before replay time ts_ns is due (0 = now)."""
        ...


class AsFastAsPossible:
    """Tests, training and backtests: the next event is always due."""

    def delay_s(self, ts_ns: int) -> float:
        return 0.0


class RealTimeClock:
    """Replay time runs at `speed` × wall time, anchored at the first event asked about."""

    __slots__ = ("_anchor_ns", "_anchor_wall", "_monotonic", "speed")

    def __init__(self, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.speed = speed
        self._monotonic = monotonic
        self._anchor_ns: int | None = None
        self._anchor_wall = 0.0

    def start(self, ts_ns: int) -> None:
        """Replay time ts_ns is now."""
        self._anchor_ns = ts_ns
        self._anchor_wall = self._monotonic()

    def now_ns(self) -> int | None:
        """Replay time due now (None before the clock is anchored)."""
        if self._anchor_ns is None:
            return None
        return self._anchor_ns + round((self._monotonic() - self._anchor_wall) * self.speed * 1e9)

    def delay_s(self, ts_ns: int) -> float:
        if self._anchor_ns is None:
            self.start(ts_ns)
            return 0.0
        due = self._anchor_wall + (ts_ns - self._anchor_ns) / 1e9 / self.speed
        return max(0.0, due - self._monotonic())


def make_clock(speed: float | None) -> Clock:
    """None or 0 → as fast as possible; otherwise real time × speed."""
    return AsFastAsPossible() if not speed else RealTimeClock(speed)
