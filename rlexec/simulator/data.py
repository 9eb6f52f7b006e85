"""A LOBSTER day held in memory as plain Python lists, the shape the replay loop reads fastest.

Loading costs about a second for AAPL; after that, building a `MarketReplay` at any row
is O(stored depth), which is what lets a training environment reset thousands of times.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.lobster import LobsterArrays, LobsterName, LobsterPair


class ReplayData:
    __slots__ = (
        "_max_id", "book", "date", "direction", "end_ns", "event_type", "level1_ask_size",
        "level1_bid_size", "levels", "mean_ask_size", "mean_bid_size", "order_id", "price",
        "size", "source", "start_ns", "symbol", "ts_ns", "width",
    )  # fmt: skip

    def __init__(
        self,
        arrays: LobsterArrays,
        symbol: str,
        levels: int,
        source: str = "",
        session: tuple[int, int] | None = None,
        date: str | None = None,
    ) -> None:
        self.symbol = symbol
        self.date = date
        """Trading day (YYYY-MM-DD) when the file name says; times are New York time after midnight."""
        self.levels = levels
        self.width = 4 * levels
        self.source = source
        self.ts_ns: list[int] = arrays.ts_ns.tolist()
        self.event_type: list[int] = arrays.event_type.astype(np.int64).tolist()
        self.order_id: list[int] = arrays.order_id.tolist()
        self.size: list[int] = arrays.size.tolist()
        self.price: list[int] = arrays.price.tolist()
        self.direction: list[int] = arrays.direction.astype(np.int64).tolist()
        book = arrays.book
        if book.shape[1] != self.width:
            raise ValueError(f"book has {book.shape[1]} columns, level {levels} needs {self.width}")
        self.book: list[int] = book.reshape(-1).tolist()
        """Row i's orderbook cells are book[i·width : (i+1)·width]."""
        self.mean_ask_size = _mean_size(book[:, 1::4], book[:, 0::4], LOBSTER_EMPTY_ASK)
        self.mean_bid_size = _mean_size(book[:, 3::4], book[:, 2::4], LOBSTER_EMPTY_BID)
        self.level1_ask_size = _mean_size(book[:, 1:2], book[:, 0:1], LOBSTER_EMPTY_ASK)
        """The day's mean size of the best ask (what a depth profile's size ratios multiply)."""
        self.level1_bid_size = _mean_size(book[:, 3:4], book[:, 2:3], LOBSTER_EMPTY_BID)
        self._max_id: list[int] | None = None
        first = self.ts_ns[0] if self.ts_ns else 0
        last = self.ts_ns[-1] if self.ts_ns else 0
        self.start_ns, self.end_ns = session if session is not None else (first, last)

    @classmethod
    def load(cls, source: LobsterPair | str | Path) -> ReplayData:
        """Read a LOBSTER pair (or its message file, the orderbook file found beside it)."""
        return ReplayFile.read(source).replay_data()

    @property
    def rows(self) -> int:
        return len(self.ts_ns)

    def row_after(self, ts_ns: int) -> int:
        """Index of the first row later than ts_ns (= the number of rows at or before it)."""
        return bisect_right(self.ts_ns, ts_ns)

    def max_id_before(self, row: int) -> int:
        """The largest order id in rows before `row` (0 if none): Nasdaq assigns ids in
        increasing order, so an order first seen later with a larger id arrived after then."""
        if row <= 0:
            return 0
        if self._max_id is None:
            seen = np.asarray(self.order_id, dtype=np.int64)
            self._max_id = np.maximum.accumulate(seen).tolist() if len(seen) else []
        prefix = self._max_id
        return prefix[min(row, len(prefix)) - 1] if prefix else 0

    def book_row(self, i: int) -> list[int]:
        w = self.width
        return self.book[i * w : (i + 1) * w]


def _mean_size(sizes: npt.NDArray[Any], prices: npt.NDArray[Any], empty: int) -> int:
    real = (sizes > 0) & (prices != empty)
    return round(float(sizes[real].mean())) if real.any() else 0


@dataclass(frozen=True, slots=True)
class ReplayFile:
    """A LOBSTER pair as numpy columns plus what `ReplayData` needs beside them.

    The form to ship between processes: numpy buffers pickle without copies (Ray's object
    store maps them), where the lists `ReplayData` reads fastest would be copied element by
    element; each process then builds its `ReplayData` once.
    """

    arrays: LobsterArrays
    symbol: str
    levels: int
    source: str
    session: tuple[int, int] | None
    date: str | None

    @classmethod
    def read(cls, source: LobsterPair | str | Path) -> ReplayFile:
        pair = source if isinstance(source, LobsterPair) else LobsterPair.from_message(source)
        name = LobsterName.parse(pair.message)
        arrays = pair.load()
        session = None
        if name is not None:
            last = int(arrays.ts_ns[-1]) if arrays.rows else 0
            session = (name.start_ms * 1_000_000, max(name.end_ms * 1_000_000, last))
        date = name.date if name is not None else None
        return cls(arrays, pair.symbol, pair.levels, str(pair.message), session, date)

    @property
    def nbytes(self) -> int:
        return sum(int(column.nbytes) for column in self.arrays)

    def replay_data(self) -> ReplayData:
        return ReplayData(
            self.arrays, self.symbol, self.levels, self.source, self.session, self.date
        )
