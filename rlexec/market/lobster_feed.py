"""Turn LOBSTER rows into the market-data events any feed produces (level updates and trades).

The orderbook file is the L2 truth: each row is diffed against the previous one and the
changed levels become level updates, exactly what a FIX incremental refresh carries. That
covers the quirks in one place: levels revealed from beyond the stored depth, levels that
fall off it, dummy empty levels (±9999999999, size 0), and type-5 hidden executions (a
hidden `Trade` with no level change). Executions (types 4, 5 and 6) become `Trade`s; the
aggressor is the opposite of the resting order's direction.

The diff writes into a sink `(side, price, size)`: `events()` collects event objects for
generic consumers, while the replay hot path passes `L2Book.set_level` and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.events import BookLevelUpdate, MarketEvent, Trade
from rlexec.market.lobster import CROSS, EXECUTE, EXECUTE_HIDDEN, LobsterRow
from rlexec.market.orders import Side

TRADE_TYPES = frozenset({EXECUTE, EXECUTE_HIDDEN, CROSS})
LevelSink = Callable[[Side, int, int], None]
_BUY, _SELL = Side.BUY, Side.SELL


def side_levels(book: tuple[int, ...], side: Side) -> dict[int, int]:
    """Price → size of one side of a LOBSTER orderbook row, without dummy empty levels."""
    start = 2 if side is Side.BUY else 0
    empty = LOBSTER_EMPTY_BID if side is Side.BUY else LOBSTER_EMPTY_ASK
    return {
        book[i]: book[i + 1]
        for i in range(start, len(book), 4)
        if book[i + 1] > 0 and book[i] != empty
    }


class LobsterFeed:
    """Stateful row differ: feed it rows in order; it reports what changed."""

    __slots__ = ("_asks", "_bids", "_prev")

    def __init__(self) -> None:
        self._prev: tuple[int, ...] = ()
        self._asks: dict[int, int] = {}
        self._bids: dict[int, int] = {}

    def diff(self, book: tuple[int, ...], sink: LevelSink) -> int:
        """Send every level that differs from the previous row to `sink`; returns how many."""
        prev = self._prev
        if book == prev:
            return 0
        self._prev = book
        if len(book) == 4 and prev:  # level 1: one price per side, no dicts needed
            ap, asz, bp, bsz = book
            oap, oasz, obp, obsz = prev
            n = 0
            if ap != oap:
                if oasz > 0 and oap != LOBSTER_EMPTY_ASK:
                    sink(_SELL, oap, 0)
                    n += 1
                if asz > 0 and ap != LOBSTER_EMPTY_ASK:
                    sink(_SELL, ap, asz)
                    n += 1
            elif asz != oasz:
                sink(_SELL, ap, asz)
                n += 1
            if bp != obp:
                if obsz > 0 and obp != LOBSTER_EMPTY_BID:
                    sink(_BUY, obp, 0)
                    n += 1
                if bsz > 0 and bp != LOBSTER_EMPTY_BID:
                    sink(_BUY, bp, bsz)
                    n += 1
            elif bsz != obsz:
                sink(_BUY, bp, bsz)
                n += 1
            return n
        asks = side_levels(book, _SELL)
        bids = side_levels(book, _BUY)
        n = _diff_side(_SELL, self._asks, asks, sink) + _diff_side(_BUY, self._bids, bids, sink)
        self._asks, self._bids = asks, bids
        return n

    def events(self, row: LobsterRow) -> list[MarketEvent]:
        """The events one row means, trade first (it caused the level change that follows)."""
        out: list[MarketEvent] = []
        if row.event_type in TRADE_TYPES:
            hidden = row.event_type == EXECUTE_HIDDEN
            out.append(Trade(row.ts_ns, row.price, row.size, Side(-row.direction), hidden))
        ts = row.ts_ns
        self.diff(
            row.book, lambda side, price, size: out.append(BookLevelUpdate(ts, side, price, size))
        )
        return out


def _diff_side(side: Side, old: dict[int, int], new: dict[int, int], sink: LevelSink) -> int:
    n = 0
    if old != new:
        for price in old:
            if price not in new:
                sink(side, price, 0)
                n += 1
        for price, size in new.items():
            if old.get(price) != size:
                sink(side, price, size)
                n += 1
    return n


def replay_events(rows: Iterable[LobsterRow]) -> Iterator[MarketEvent]:
    """Flatten a row stream into one market-data event stream."""
    feed = LobsterFeed()
    for row in rows:
        yield from feed.events(row)
