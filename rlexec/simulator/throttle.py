"""Per-client message throttle: over N messages a second rejected, over M logged out."""

from __future__ import annotations

from collections import deque
from enum import Enum


class Verdict(Enum):
    PASS = "pass"
    REJECT = "reject"
    LOGOUT = "logout"


class Throttle:
    """Counts messages in a sliding one-second window (times come from the caller's clock)."""

    __slots__ = ("_logout_above", "_reject_above", "_times", "_window")

    def __init__(
        self, reject_above: int | None, logout_above: int | None, window_s: float = 1.0
    ) -> None:
        self._reject_above = reject_above
        self._logout_above = logout_above
        self._window = window_s
        self._times: deque[float] = deque()

    def check(self, now: float) -> tuple[Verdict, int]:
        """Record one message at `now`; the verdict and the count in the last window."""
        if self._reject_above is None and self._logout_above is None:
            return Verdict.PASS, 0
        times = self._times
        times.append(now)
        horizon = now - self._window
        while times and times[0] <= horizon:
            times.popleft()
        n = len(times)
        if self._logout_above is not None and n > self._logout_above:
            return Verdict.LOGOUT, n
        if self._reject_above is not None and n > self._reject_above:
            return Verdict.REJECT, n
        return Verdict.PASS, n

    def reset(self) -> None:
        self._times.clear()
