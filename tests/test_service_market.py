"""SymbolMarket freshness: a book is not trusted before a timestamped update has arrived."""

from __future__ import annotations

from rlexec.market.book import L2Book
from rlexec.market.features import FEATURE_NAMES
from rlexec.market.orders import Side
from rlexec.service.market import SymbolMarket

STALE_NS = 5_000_000_000


def _two_sided() -> L2Book:
    book = L2Book()
    book.set_level(Side.BUY, 5_800_000, 100)
    book.set_level(Side.SELL, 5_800_100, 100)
    return book


def test_not_fresh_until_the_clock_has_a_time() -> None:
    """On the venue clock the first snapshot can arrive at now_ns == 0; a parent started
    then got start_ns 0 and failed at once ("horizon passed") — `rlexec serve --clock venue
    --parent ...` failed every parent it was started with."""
    market = SymbolMarket("AAPL", _two_sided(), 100)
    market.stale_reason = None
    market.on_book(0)
    assert not market.fresh(0, STALE_NS)
    now = 1_340_287_200_000_000_000
    market.on_book(now)
    assert market.fresh(now, STALE_NS)
    assert not market.fresh(now + STALE_NS + 1, STALE_NS)


def test_features_are_not_stamped_before_the_clock_has_a_time() -> None:
    """An update at now_ns == 0 used to start the feature clock at the epoch, so
    `time_since_trade_s` read decades until the first print (seen live as a drift of 3e8)."""
    market = SymbolMarket("AAPL", _two_sided(), 100)
    market.on_book(0)
    market.on_trade(0, 100, 1)
    assert market.volume == 0
    now = 1_340_287_200_000_000_000
    market.on_book(now)
    market.on_book(now + 2_000_000_000)
    names = list(FEATURE_NAMES)
    vector = market.features.market_vector(now + 2_000_000_000)
    assert vector[names.index("time_since_trade_s")] == 2.0


def test_why_a_market_is_not_fresh_is_said_as_it_is() -> None:
    """A one-sided book paused decisions with the reason "market data silent" while data flowed."""
    book = _two_sided()
    market = SymbolMarket("AAPL", book, 100)
    assert market.unfresh_reason(0, STALE_NS) == "no snapshot yet"
    market.stale_reason = None
    assert market.unfresh_reason(0, STALE_NS) == "no timestamped update yet"
    now = 1_340_287_200_000_000_000
    market.on_book(now)
    assert market.unfresh_reason(now + 2 * STALE_NS, STALE_NS) == "no update for 10.0 s"
    book.set_level(Side.SELL, 5_800_100, 0)  # the offers are gone
    market.on_book(now)
    assert not market.fresh(now, STALE_NS)
    assert market.unfresh_reason(now, STALE_NS) == "one-sided book"
