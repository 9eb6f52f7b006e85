"""The one rule every monitor obeys: tighten at once, lift only after a stated clear time.

A latch holds one monitor's level for one symbol and one kind of action (a size
multiplier in [0, 1]; 0/1 for a pause or a distrust). A lower wanted level takes effect
immediately; a higher one only after the wanted level has stayed above the current level
for `clear_ns` without a break, and then only up to the lowest level wanted in that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    SIZE = "size"
    """Child-order size and participation × level."""
    PAUSE = "pause"
    """No new orders for the symbol (level 0)."""
    DISTRUST = "distrust"
    """The RL algo falls back to its schedule for the symbol (level 0)."""


@dataclass(frozen=True, slots=True)
class MonitorAction:
    """One change of a latch (or a kill-switch move): what a log line and a metric report."""

    ts_ns: int
    monitor: str
    symbol: str
    code: str
    kind: str
    """"size", "pause", "distrust" or "reduce" (the kill switch)."""
    level: float
    """The new level: 1.0 lifted, < 1 scaled, 0.0 paused / distrusted."""
    tightened: bool
    reason: str

    def log_line(self) -> str:
        return (
            f"event=monitor_action monitor={self.monitor} symbol={self.symbol} code={self.code} "
            f"kind={self.kind} scale={self.level:g} tightened={str(self.tightened).lower()} "
            f"ts_ns={self.ts_ns} reason={self.reason!r}"
        )


class Latch:
    __slots__ = ("clear_ns", "eased_min", "eased_since", "level", "set_ns")

    def __init__(self, clear_ns: int) -> None:
        self.clear_ns = clear_ns
        self.level = 1.0
        self.set_ns = 0
        """When the level last went down."""
        self.eased_since: int | None = None
        self.eased_min = 1.0

    def update(self, wanted: float, now_ns: int) -> bool:
        """Offer a wanted level; True when the level changed."""
        wanted = min(1.0, max(0.0, wanted))
        level = self.level
        if wanted < level:
            self.level = wanted
            self.set_ns = now_ns
            self.eased_since = None
            return True
        if wanted == level:
            self.eased_since = None
            return False
        if self.eased_since is None:
            self.eased_since = now_ns
            self.eased_min = wanted
            return False
        if wanted < self.eased_min:
            self.eased_min = wanted
        if now_ns - self.eased_since >= self.clear_ns:
            self.level = self.eased_min
            self.eased_since = None
            return True
        return False
