"""Drive reader → feed → book → features over a LOBSTER pair: the market-data half of the hot path."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from rlexec.market.book import L2Book
from rlexec.market.features import FeatureBuilder, FeatureConfig
from rlexec.market.lobster import LobsterPair, LobsterRow
from rlexec.market.lobster_feed import LobsterFeed


class MarketReplay:
    """One pass over a pair, keeping the book and features current after every row."""

    def __init__(self, pair: LobsterPair, config: FeatureConfig | None = None) -> None:
        self.pair = pair
        self.book = L2Book()
        self.features = FeatureBuilder(self.book, config)
        self.rows = 0
        self.events = 0

    def __iter__(self) -> Iterator[LobsterRow]:
        """Yield each row after the book and features have absorbed it."""
        feed = LobsterFeed()
        apply = self.book.apply
        on_event = self.features.on_event
        for row in self.pair.rows():
            for event in feed.events(row):
                apply(event)
                on_event(event)
                self.events += 1
            self.rows += 1
            yield row

    def run(self, on_row: Callable[[LobsterRow, L2Book], None] | None = None) -> int:
        """Replay everything; returns the number of rows."""
        if on_row is None:
            for _ in self:
                pass
        else:
            book = self.book
            for row in self:
                on_row(row, book)
        return self.rows
