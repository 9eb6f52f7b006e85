"""One token bucket (order rate, message rate) in integer arithmetic, cheap enough for every check.

Levels are kept in token·1e9 units so that a refill is `elapsed_ns × rate` with no division
and no float: one token is `ONE`. A bucket starts full. `bench/risk.py` measures a full
check, both buckets included.
"""

from __future__ import annotations

from typing import Final

ONE: Final = 1_000_000_000
"""One token, in the bucket's units (token·ns per second)."""


class TokenBucket:
    """`rate` tokens a second up to `burst`; `refill(now)` then `level >= ONE` means one is there.

    Time that goes backwards refills nothing (and does not move the bucket's clock back), so
    a clock that jumps cannot mint tokens.
    """

    __slots__ = ("cap", "level", "rate", "t")

    def __init__(self, rate: int, burst: int) -> None:
        self.rate = rate
        self.cap = burst * ONE
        self.level = self.cap
        self.t = -(1 << 62)

    def configure(self, rate: int, burst: int) -> None:
        """New limits (a tightening): the level never exceeds the new depth."""
        self.rate = rate
        self.cap = burst * ONE
        if self.level > self.cap:
            self.level = self.cap

    def refill(self, now_ns: int) -> int:
        """Add what the time since the last refill earned; returns the level."""
        elapsed = now_ns - self.t
        if elapsed > 0:
            level = self.level + elapsed * self.rate
            self.level = level if level < self.cap else self.cap
            self.t = now_ns
        return self.level

    def take(self) -> None:
        """Spend one token that `refill` showed is there."""
        self.level -= ONE

    def force(self, now_ns: int) -> None:
        """Spend one token even if there is none (a cancel is never blocked), down to one burst of debt."""
        level = self.refill(now_ns) - ONE
        self.level = level if level > -self.cap else -self.cap

    def peek(self, now_ns: int) -> int:
        """The level at `now_ns` without changing anything (metrics)."""
        earned = max(0, now_ns - self.t) * self.rate
        return min(self.cap, self.level + earned)

    def describe(self, what: str) -> str:
        """`bucket=0.400 < 1 order (max=5/s, burst=5)` for a denial."""
        return (
            f"bucket={self.level / ONE:.3f} < 1 {what} (max={self.rate}/s, burst={self.cap // ONE})"
        )
