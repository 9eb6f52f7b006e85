"""Helpers for tests and benchmarks of the overlay: roomy limits, a fixed trading day, a clock.

`limits()` gives limits loose enough that every order below passes, so a test tightens only
the limit it is about (`limits(max_working_orders=3)`, `limits(AAPL={"max_order_qty": 10})`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rlexec.market.orders import OrderIntent, OrderType, Side
from rlexec.risk.killswitch import KillSwitchStore
from rlexec.risk.limits import RiskLimits, validate_limits
from rlexec.risk.overlay import RiskOverlay

NY = ZoneInfo("America/New_York")
T0 = int(datetime(2012, 6, 21, 10, 0, tzinfo=NY).timestamp()) * 1_000_000_000
"""10:00 New York on the day of the LOBSTER sample: inside the default trading window."""
MS = 1_000_000
S = 1_000_000_000
MID = 1_000_000
"""$100.00 in integer price units."""
SYMBOLS = ("AAPL", "MSFT")

_ROOMY_SYMBOL: dict[str, Any] = {
    "max_position": 1_000_000,
    "max_order_qty": 100_000,
    "max_order_notional": 1e12,
}
_ROOMY: dict[str, Any] = {
    "max_gross_position": 10_000_000,
    "max_daily_loss": 1e12,
    "max_working_orders": 1000,
    "max_orders_per_s": 1000,
    "max_messages_per_s": 2000,
    "duplicate_window_ms": 500,
    "max_reference_age_ms": 1000,
    "max_fills": 1000,
    "fill_window_ms": 1000,
}


def limits(**overrides: Any) -> RiskLimits:
    """Roomy limits for AAPL and MSFT; a keyword named after a symbol updates that symbol."""
    data: dict[str, Any] = {**_ROOMY, "symbols": {s: dict(_ROOMY_SYMBOL) for s in SYMBOLS}}
    for key, value in overrides.items():
        if key in SYMBOLS or key.isupper():
            data["symbols"].setdefault(key, dict(_ROOMY_SYMBOL)).update(value)
        else:
            data[key] = value
    return validate_limits(data)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, ns: int) -> int:
        self.now_ns += ns
        return self.now_ns


def overlay(
    lim: RiskLimits | None = None,
    *,
    store: KillSwitchStore | None = None,
    clock: ManualClock | None = None,
    mid: float | None = MID,
    initialise: bool = True,
) -> RiskOverlay:
    """An overlay on `lim` (default roomy), with a fresh mid for every symbol at the clock's now.

    `initialise` defaults to True here (a test's store starts empty on purpose).
    """
    clock = clock if clock is not None else ManualClock()
    lim = lim if lim is not None else limits()
    ov = RiskOverlay(lim, store=store, clock=clock, initialise=initialise)
    if mid is not None:
        for symbol in ov.limits.symbols:
            ov.on_market(symbol, mid, clock.now_ns)
    return ov


def buy(qty: int, price: int | None = MID, symbol: str = "AAPL") -> OrderIntent:
    if price is None:
        return OrderIntent(symbol, Side.BUY, qty, OrderType.MARKET)
    return OrderIntent(symbol, Side.BUY, qty, OrderType.LIMIT, price)


def sell(qty: int, price: int | None = MID, symbol: str = "AAPL") -> OrderIntent:
    if price is None:
        return OrderIntent(symbol, Side.SELL, qty, OrderType.MARKET)
    return OrderIntent(symbol, Side.SELL, qty, OrderType.LIMIT, price)
