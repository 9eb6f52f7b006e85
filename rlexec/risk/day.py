"""The daily-loss period: which trading day it is and the P&L it counts from.

A day is a calendar date in the trading window's time zone. `baseline` is the overlay's total
P&L (realised + unrealised at mid, currency) when that day began, so today's P&L is the total
now minus it. The record is what a restart needs to go on counting the same day: without it,
a service restarted at 15:00 would forget the morning's losses (and a service restarted the
next morning would count yesterday's gains against today's limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class DayRecord:
    day: date
    baseline: float
    pending: tuple[tuple[str, int, float], ...] = ()
    """(symbol, shares, reference price units) of each position carried into the day with no
    price yet: `baseline` holds it at the reference (its cost) until its first price today
    replaces that, and a restart before then must still know it."""

    def to_dict(self) -> dict[str, Any]:
        pending = [list(p) for p in self.pending]
        return {"day": self.day.isoformat(), "baseline": self.baseline, "pending": pending}

    @classmethod
    def from_dict(cls, raw: object) -> DayRecord:
        """Parse what `to_dict` wrote; anything else raises ValueError naming the field."""
        if not isinstance(raw, dict):
            raise ValueError(f"trading-day record must be an object, got {raw!r}")
        text = raw.get("day")
        if not isinstance(text, str):
            raise ValueError(f"trading-day record: day must be a YYYY-MM-DD string, got {text!r}")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"trading-day record: day {text!r} is not a YYYY-MM-DD date") from None
        baseline = raw.get("baseline")
        if (
            isinstance(baseline, bool)
            or not isinstance(baseline, int | float)
            or not math.isfinite(baseline)
        ):
            raise ValueError(
                f"trading-day record: baseline must be a finite number, got {baseline!r}"
            )
        return cls(day, float(baseline), _pending(raw.get("pending", [])))


def _pending(raw: object) -> tuple[tuple[str, int, float], ...]:
    out: list[tuple[str, int, float]] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and type(item[1]) is int
            and isinstance(item[2], int | float)
            and not isinstance(item[2], bool)
            and math.isfinite(item[2])
        ):
            raise ValueError(
                f"trading-day record: pending must be [symbol, shares, reference] lists, "
                f"got {item!r}"
            )
        out.append((item[0], item[1], float(item[2])))
    return tuple(out)
