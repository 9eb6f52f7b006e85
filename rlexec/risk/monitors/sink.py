"""What a detector may ask for: a lower level for a latch, or the kill switch at REDUCING."""

from __future__ import annotations

from typing import Protocol

from rlexec.risk.monitors.latch import Kind


class Sink(Protocol):
    def want(
        self,
        monitor: str,
        symbol: str,
        kind: Kind,
        level: float,
        code: str,
        reason: str,
        now_ns: int,
    ) -> None:
        """Offer a level (1.0 = condition clear); the set's latch decides what takes effect."""

    def reduce(self, monitor: str, symbol: str, code: str, reason: str, now_ns: int) -> None:
        """Ask for the kill switch at REDUCING (only a person moves it back)."""
