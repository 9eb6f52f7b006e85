"""The fixed experiment: which orders are placed where, and what is measured of them.

Both engines receive the same `Placement`s, computed once from the recorded book, so a
difference in the results can only come from how each engine fills a resting order.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.errors import DataError
from rlexec.simulator.data import ReplayData

NS = 1_000_000_000
QUANTITY = 100
"""Shares per order: small against the level sizes (AAPL's mean touch is ~200 shares)."""
WINDOW_S = 60
"""How long an order rests, never re-priced; a fill after this does not count."""
FIRST_START_S = 10 * 3600
"""10:00 New York time: the first window starts half an hour after the open (no auction noise)."""
LAST_END_S = 15 * 3600 + 30 * 60
"""15:30: windows are spread over [10:00, 15:30), clear of the close."""
FULL_WINDOWS = 100
"""Windows per file in the full experiment (`make validate-sim`)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A passive buy `ticks_inside` ticks above the best bid at the window's start."""

    name: str
    ticks_inside: int


SCENARIOS = (Scenario("touch", 0), Scenario("inside", 1))


@dataclass(frozen=True, slots=True)
class Placement:
    window: int
    """Index of the window in the file's sequence (pairs the engines' outcomes)."""
    start_ns: int
    price: int
    """Limit price in LOBSTER units (dollars × 10⁴)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one order within its window."""

    window: int
    filled_qty: int
    first_fill_ns: int | None
    """Time of the first fill after the order's entry; None when it never filled."""


def window_starts(data: ReplayData, n: int) -> list[int]:
    """n window starts evenly spaced over [10:00, 15:30) of the file's day, in ns after midnight."""
    if n < 1:
        raise ValueError(f"windows={n}: need at least one window")
    spacing = (LAST_END_S - FIRST_START_S) * NS // n
    starts = [FIRST_START_S * NS + k * spacing for k in range(n)]
    first, last = data.ts_ns[0], data.ts_ns[-1]
    if starts[0] <= first or starts[-1] + WINDOW_S * NS > last:
        raise DataError(
            data.source,
            f"the experiment's windows (10:00 to 15:30) need events from {starts[0] / NS:.0f} s "
            f"to {(starts[-1] + WINDOW_S * NS) / NS:.0f} s after midnight; the file covers "
            f"{first / NS:.0f}–{last / NS:.0f} s",
        )
    return starts


def placements(
    data: ReplayData, scenario: Scenario, starts: list[int], tick: int
) -> tuple[list[Placement], int]:
    """The orders of one scenario and how many windows were skipped (the spread left no room
    `ticks_inside` ticks above the bid, or a side was empty)."""
    out: list[Placement] = []
    skipped = 0
    width = data.width
    for k, start in enumerate(starts):
        row = data.row_after(start) - 1
        ask, ask_size, bid, bid_size = data.book[row * width : row * width + 4]
        if not ask_size or not bid_size or ask == LOBSTER_EMPTY_ASK or bid == LOBSTER_EMPTY_BID:
            skipped += 1
            continue
        price = bid + scenario.ticks_inside * tick
        if price >= ask:
            skipped += 1
            continue
        out.append(Placement(k, start, price))
    return out, skipped
