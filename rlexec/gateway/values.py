"""Conversions between FIX decimal text and rlexec's integer prices and whole quantities."""

from __future__ import annotations

from typing import Final

from rlexec.gateway import tags as fix
from rlexec.gateway.errors import FieldError
from rlexec.market.instrument import PRICE_SCALE, price_from_text

_PRICES_KEPT: Final = 4096
_MAX_KEPT_TEXT: Final = 24
_price_texts: dict[int, bytes] = {}
"""The text of each price formatted lately: an algo works a handful of price levels."""


def format_price(price: int) -> bytes:
    """Integer price units as a FIX decimal price: 5853300 -> b"585.33"."""
    text = _price_texts.get(price)
    if text is None:
        whole, frac = divmod(abs(price), PRICE_SCALE)
        text = b"%d" % whole if not frac else (b"%d.%04d" % (whole, frac)).rstrip(b"0")
        if price < 0:
            text = b"-" + text
        if len(text) <= _MAX_KEPT_TEXT:
            if len(_price_texts) >= _PRICES_KEPT:
                _price_texts.clear()
            _price_texts[price] = text
    return text


_prices: dict[bytes, int] = {}
"""Integer price by its text: the same few prices come back all the time (a fill's LastPx and
AvgPx, a book's levels), and reading one costs ~1 µs, a lookup ~0.1 µs."""


def parse_price(value: bytes, tag: int = fix.PRICE, msg_type: bytes = b"") -> int:
    """A FIX decimal price as integer units; more than 4 decimals is rounded half-up."""
    price = _prices.get(value)
    if price is None:
        try:
            price = price_from_text(value)
        except ValueError:
            raise FieldError(tag, f"not a price: {value[:32]!r}", msg_type) from None
        if len(value) <= _MAX_KEPT_TEXT:
            if len(_prices) >= _PRICES_KEPT:
                _prices.clear()
            _prices[value] = price
    return price


def parse_qty(value: bytes, tag: int, msg_type: bytes = b"8") -> int:
    """Quantities are whole shares in rlexec; "100.0" is accepted, "100.5" is not."""
    if value.isdigit():
        return int(value)
    whole, _, frac = value.partition(b".")
    if whole.isdigit() and frac.strip(b"0") == b"" and frac.isdigit():
        return int(whole)
    raise FieldError(tag, f"not a whole quantity: {value[:32]!r}", msg_type)
