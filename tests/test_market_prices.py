"""Decimal price text ↔ integer units, exactly, as FIX and the venue need it."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlexec.market.instrument import Instrument, price_from_float, price_from_text


@given(st.integers(-(10**12), 10**12))
def test_text_of_any_price_round_trips(units: int) -> None:
    text = str(Decimal(units).scaleb(-4)).encode()
    assert price_from_text(text) == units
    assert price_from_text(text, exact=True) == units


@given(
    st.decimals(
        min_value=-(10**6), max_value=10**6, places=7, allow_nan=False, allow_infinity=False
    )
)
def test_extra_decimals_round_half_up_or_are_refused(value: Decimal) -> None:
    text = f"{value:f}".encode()
    expected = int((abs(value) * 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert price_from_text(text) == (-expected if value < 0 else expected)
    if value != value.quantize(Decimal("0.0001")):
        with pytest.raises(ValueError, match="more than 4 decimals"):
            price_from_text(text, exact=True)


@pytest.mark.parametrize(
    "text", [b"", b"-", b".", b"1e5", b"nan", b"5,85", b"58 5", b"+5", b"5.3.3"]
)
def test_malformed_text_is_refused(text: bytes) -> None:
    with pytest.raises(ValueError, match="not a number"):
        price_from_text(text)


def test_float_prices_and_instruments() -> None:
    assert price_from_float(585.33) == 5_853_300
    with pytest.raises(ValueError, match="finite"):
        price_from_float(float("nan"))
    with pytest.raises(ValueError, match="precision"):
        price_from_float(585.333333)
    aapl = Instrument("AAPL", tick_size=100, lot_size=100)
    assert aapl.on_tick_grid(5_853_300) and not aapl.on_tick_grid(5_853_350)
    assert aapl.valid_quantity(200) and not aapl.valid_quantity(150) and not aapl.valid_quantity(0)
    assert aapl.to_ticks(1_500) == 15.0
    with pytest.raises(ValueError, match="tick_size"):
        Instrument("AAPL", tick_size=0)
