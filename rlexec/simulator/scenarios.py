"""Market scenarios injected into the replayed data: the venue's fault module for prices.

`flash_crash` rewrites a LOBSTER day from a moment on, so the replay (and every participant
trading in it) meets a crash: the mid falls by `drop` within `duration_s`, the spread widens
by up to `spread_ticks` as bids fall away faster than offers, and the bid side thins to
`1 − bid_thin` of its size (a one-sided book). After the fall the price stays down while
spread and bid depth recover over another `duration_s`. Message prices move with their side,
so prints trade at the crashed prices; the replay re-syncs its book to the rewritten
orderbook rows, so the matching engine fills resting orders as the market falls through them.
"""

from __future__ import annotations

import copy

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.simulator.data import ReplayData

_NS = 1_000_000_000


def flash_crash(
    data: ReplayData,
    start_ns: int,
    *,
    drop: float = 0.05,
    duration_s: float = 30.0,
    spread_ticks: int = 80,
    bid_thin: float = 0.98,
    tick: int = 100,
) -> ReplayData:
    """A copy of `data` with a flash crash from `start_ns` (the original is left as it was)."""
    if not 0 < drop < 1:
        raise ValueError(f"drop={drop} must be within (0, 1)")
    if duration_s <= 0:
        raise ValueError(f"duration_s={duration_s} must be positive")
    if not 0 <= bid_thin < 1:
        raise ValueError(f"bid_thin={bid_thin} must be within [0, 1)")
    first = data.row_after(start_ns - 1)
    if first >= data.rows:
        raise ValueError(f"start_ns={start_ns} is after the data's last row")
    row = data.book_row(max(0, first - 1))
    mid0 = (row[0] + row[2]) / 2
    duration = round(duration_s * _NS)
    out = copy.copy(data)
    price, size, book = list(data.price), list(data.size), list(data.book)
    width, levels = data.width, data.levels
    for i in range(first, data.rows):
        elapsed = data.ts_ns[i] - start_ns
        fall = min(1.0, elapsed / duration)
        stress = fall if elapsed <= duration else max(0.0, 2.0 - elapsed / duration)
        shift = round(fall * drop * mid0 / tick) * tick
        widen = round(stress * spread_ticks) * tick
        keep = 1.0 - bid_thin * stress
        price[i] -= shift + widen if data.direction[i] == 1 else shift
        o = i * width
        for level in range(levels):
            c = o + 4 * level
            if book[c] != LOBSTER_EMPTY_ASK:
                book[c] -= shift
            if book[c + 2] != LOBSTER_EMPTY_BID:
                book[c + 2] -= shift + widen
                book[c + 3] = max(1, int(book[c + 3] * keep))
    out.price, out.size, out.book = price, size, book
    return out
