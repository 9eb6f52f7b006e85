"""Turn LOBSTER rows into the market-data events any feed produces (level updates and trades).

The orderbook file is the L2 truth: each row is diffed against the previous one and the
changed levels become `BookLevelUpdate`s, exactly what a FIX incremental refresh carries.
That covers the quirks in one place: levels revealed from beyond the stored depth,
levels that fall off it, dummy empty levels (±9999999999, size 0), and type-5 hidden
executions (a `Trade` with hidden=True and no level change). Executions (types 4, 5
and 6) become `Trade`s; the aggressor is the opposite of the resting order's direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.events import BookLevelUpdate, MarketEvent, Trade
from rlexec.market.lobster import CROSS, EXECUTE, EXECUTE_HIDDEN, LobsterRow
from rlexec.market.orders import Side

_TRADES = frozenset({EXECUTE, EXECUTE_HIDDEN, CROSS})


def side_levels(book: tuple[int, ...], side: Side) -> dict[int, int]:
    """Price → size of one side of a LOBSTER orderbook row, without dummy empty levels."""
    start = 2 if side is Side.BUY else 0
    empty = LOBSTER_EMPTY_BID if side is Side.BUY else LOBSTER_EMPTY_ASK
    return {
        book[i]: book[i + 1]
        for i in range(start, len(book), 4)
        if book[i + 1] > 0 and book[i] != empty
    }


def _diff(
    ts: int, side: Side, old: dict[int, int], new: dict[int, int], out: list[MarketEvent]
) -> None:
    for price in old:
        if price not in new:
            out.append(BookLevelUpdate(ts, side, price, 0))
    for price, size in new.items():
        if old.get(price) != size:
            out.append(BookLevelUpdate(ts, side, price, size))


class LobsterFeed:
    """Stateful converter: one call per row returns the events that row means, in order."""

    __slots__ = ("_asks", "_bids", "_prev")

    def __init__(self) -> None:
        self._prev: tuple[int, ...] = ()
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}

    def events(self, row: LobsterRow) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        if row.event_type in _TRADES:
            out.append(
                Trade(row.ts_ns, row.price, row.size, Side(-row.direction),
                      row.event_type == EXECUTE_HIDDEN)
            )  # fmt: skip
        book = row.book
        prev = self._prev
        if book != prev:
            ts = row.ts_ns
            # Compare each side's cells first: most rows change one side only.
            for k in range(0, len(book), 4):
                if book[k : k + 2] != prev[k : k + 2]:
                    new_asks = side_levels(book, Side.SELL)
                    _diff(ts, Side.SELL, self._asks, new_asks, out)
                    self._asks = new_asks
                    break
            for k in range(2, len(book), 4):
                if book[k : k + 2] != prev[k : k + 2]:
                    new_bids = side_levels(book, Side.BUY)
                    _diff(ts, Side.BUY, self._bids, new_bids, out)
                    self._bids = new_bids
                    break
            self._prev = book
        return out


def replay_events(rows: Iterable[LobsterRow]) -> Iterator[MarketEvent]:
    """Flatten a row stream into one market-data event stream."""
    feed = LobsterFeed()
    for row in rows:
        yield from feed.events(row)
