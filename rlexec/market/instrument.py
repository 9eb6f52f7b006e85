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
    exact = value * PRICE_SCALE
    scaled = round(exact)
    if not math.isclose(scaled, exact, rel_tol=1e-12, abs_tol=1e-6):  # float noise only
        raise ValueError(f"price {value!r} has more precision than 1/{PRICE_SCALE}")
    return scaled


def price_from_text(value: bytes, *, exact: bool = False) -> int:
    """Decimal text as it comes on the wire (b"585.33", b"-0.5") → integer units, without floats.

    More than four decimals is rounded half-up, or refused with `exact=True` (a venue must
    not silently change a client's price). Raises ValueError saying what is wrong.
    """
    negative = value[:1] == b"-"
    body = value[1:] if negative else value
    whole, _, frac = body.partition(b".")
    if not (whole.isdigit() or (not whole and frac)) or (frac and not frac.isdigit()):
        raise ValueError("not a number")
    if exact and len(frac.rstrip(b"0")) > 4:
        raise ValueError("has more than 4 decimals")
    units = int(whole or b"0") * PRICE_SCALE
    if frac:
        units += int(frac[:4].ljust(4, b"0"))
        if len(frac) > 4 and frac[4:5] >= b"5":
            units += 1
    return -units if negative else units


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
