"""Conversions between FIX decimal text and rlexec's integer prices and whole quantities."""

from __future__ import annotations

from rlexec.gateway import tags as fix
from rlexec.gateway.errors import FieldError
from rlexec.market.instrument import PRICE_SCALE


def format_price(price: int) -> bytes:
    """Integer price units as a FIX decimal price: 5853300 -> b"585.33"."""
    whole, frac = divmod(abs(price), PRICE_SCALE)
    text = b"%d" % whole if not frac else (b"%d.%04d" % (whole, frac)).rstrip(b"0")
    return b"-" + text if price < 0 else text


def parse_price(value: bytes, tag: int = fix.PRICE, msg_type: bytes = b"") -> int:
    """A FIX decimal price as integer units; more than 4 decimals is rounded half-up."""
    negative = value[:1] == b"-"
    body = value[1:] if negative else value
    whole, _, frac = body.partition(b".")
    if not (whole.isdigit() or (not whole and frac)) or (frac and not frac.isdigit()):
        raise FieldError(tag, f"not a price: {value[:32]!r}", msg_type)
    units = int(whole or b"0") * PRICE_SCALE
    if frac:
        units += int(frac[:4].ljust(4, b"0"))
        if len(frac) > 4 and frac[4:5] >= b"5":
            units += 1
    return -units if negative else units


def parse_qty(value: bytes, tag: int, msg_type: bytes = b"8") -> int:
    """Quantities are whole shares in rlexec; "100.0" is accepted, "100.5" is not."""
    if value.isdigit():
        return int(value)
    whole, _, frac = value.partition(b".")
    if whole.isdigit() and frac.strip(b"0") == b"" and frac.isdigit():
        return int(whole)
    raise FieldError(tag, f"not a whole quantity: {value[:32]!r}", msg_type)
