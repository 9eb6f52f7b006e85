"""Instruments and integer prices.

Prices are integers in units of 1e-4 of the quote currency, exactly as LOBSTER writes them
(5853300 = $585.33). Floats appear only at the edges (FIX text, reports, features).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICE_SCALE = 10_000
"""Integer price units per currency unit."""


def price_to_float(price: int) -> float:
    return price / PRICE_SCALE


def price_from_float(value: float) -> int:
    """Convert a decimal price to integer units, refusing NaN, infinities and sub-unit precision."""
    if not math.isfinite(value):
        raise ValueError(f"price is not finite: {value!r}")
    scaled = round(value * PRICE_SCALE)
    if abs(scaled - value * PRICE_SCALE) > 1e-6 * max(1.0, abs(value * PRICE_SCALE)):
        raise ValueError(f"price {value!r} has more precision than 1/{PRICE_SCALE}")
    return scaled


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol with its price grid and lot size."""

    symbol: str
    tick_size: int = 100
    """Minimum price increment in integer price units (100 = $0.01)."""
    lot_size: int = 1
    """Quantities must be multiples of this."""

    def __post_init__(self) -> None:
        if not self.symbol or not self.symbol.isprintable() or " " in self.symbol:
            raise ValueError(f"instrument symbol is invalid: {self.symbol!r}")
        if self.tick_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size must be positive, got {self.tick_size}")
        if self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: lot_size must be positive, got {self.lot_size}")

    def on_tick_grid(self, price: int) -> bool:
        return price % self.tick_size == 0

    def valid_quantity(self, qty: int) -> bool:
        return qty > 0 and qty % self.lot_size == 0

    def to_ticks(self, price: int) -> float:
        """A price, or a price difference, expressed in ticks."""
        return price / self.tick_size
