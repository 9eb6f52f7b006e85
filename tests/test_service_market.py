"""SymbolMarket freshness: a book is not trusted before a timestamped update has arrived; the
service exports what its market-data client distrusts."""

from __future__ import annotations

from rlexec.gateway.metrics import MD_ANOMALY_KINDS
from rlexec.market.book import L2Book
from rlexec.market.features import FEATURE_NAMES
from rlexec.market.orders import Side
from rlexec.service.config import ServiceSettings
from rlexec.service.market import SymbolMarket
from rlexec.service.runtime import Service

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


def test_the_service_exports_the_market_data_anomalies_from_zero() -> None:
    """The market-data client counts what it refuses or distrusts on the service's registry
    (the Sessions dashboard and its /metrics), every kind from the start."""
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    session = svc.md_session.name
    for kind in MD_ANOMALY_KINDS:
        labels = {"session": session, "kind": kind}
        value = svc.registry.get_sample_value("rlexec_fix_market_data_anomalies_total", labels)
        assert value == 0, kind
    svc.md.anomalies["rpt_seq_gap"].inc()
    labels = {"session": session, "kind": "rpt_seq_gap"}
    assert svc.registry.get_sample_value("rlexec_fix_market_data_anomalies_total", labels) == 1
