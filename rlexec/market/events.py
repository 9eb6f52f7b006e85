"""Market-data events: what a feed (LOBSTER replay or FIX market data) hands to the book and features.

NamedTuples because they are created once per event on the hot path: immutable, typed and
about twice as cheap to build as a slotted dataclass.
"""

from __future__ import annotations

from typing import NamedTuple

from rlexec.market.orders import Side


class BookLevelUpdate(NamedTuple):
    """The aggregate size now resting at one price on one side; size 0 removes the level."""

    ts_ns: int
    side: Side
    price: int
    size: int


class Trade(NamedTuple):
    """A print. `aggressor` is the side that took liquidity; hidden means no displayed order traded."""

    ts_ns: int
    price: int
    size: int
    aggressor: Side
    hidden: bool = False


class BookSnapshot(NamedTuple):
    """Full depth replacing whatever the book held: bids best first, asks best first."""

    ts_ns: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


MarketEvent = BookLevelUpdate | Trade | BookSnapshot
