"""A parent's numbers are bounded where they are read: a limit price whose 1/10,000 units
overflow (1e305 once broke the service until restart), a horizon that rounds to nothing, are
refused with the field named, never accepted and left to blow up at the parent's start."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rlexec.gateway.codec import MAX_INT_DIGITS
from rlexec.gateway.values import format_price, parse_price
from rlexec.market.instrument import PRICE_SCALE
from rlexec.service.config import (
    MAX_HORIZON_S,
    MAX_LIMIT_PRICE,
    MAX_PARENT_QUANTITY,
    MIN_HORIZON_S,
    MIN_LIMIT_PRICE,
    ParentSpec,
    parse_parent_option,
)

BASE: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "quantity": 100, "horizon_s": 60.0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limit_price": 1e305}, "limit_price"),
        ({"limit_price": MAX_LIMIT_PRICE * 1.000001}, "limit_price"),
        ({"limit_price": float("inf")}, "limit_price"),
        ({"limit_price": float("nan")}, "limit_price"),
        ({"limit_price": 0.0}, "limit_price"),
        ({"limit_price": 1e-12}, "limit_price"),
        ({"limit_price": -5.0}, "limit_price"),
        ({"limit_price": True}, "limit_price"),
        ({"horizon_s": 1e-300}, "horizon_s"),
        ({"horizon_s": MIN_HORIZON_S / 2}, "horizon_s"),
        ({"horizon_s": MAX_HORIZON_S + 1}, "horizon_s"),
        ({"quantity": MAX_PARENT_QUANTITY + 1}, "quantity"),
        ({"quantity": 10**400}, "quantity"),
        ({"max_participation": 0.0}, "max_participation"),
        ({"max_participation": 1.0000001}, "max_participation"),
        ({"max_participation": float("nan")}, "max_participation"),
    ],
)
def test_an_out_of_bounds_number_is_refused_naming_its_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ParentSpec.model_validate(BASE | change)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_the_bounds_themselves_are_accepted() -> None:
    for change in (
        {"limit_price": MIN_LIMIT_PRICE}, {"limit_price": MAX_LIMIT_PRICE},
        {"horizon_s": MIN_HORIZON_S}, {"horizon_s": MAX_HORIZON_S},
        {"quantity": MAX_PARENT_QUANTITY}, {"max_participation": 1.0},
        {"max_participation": 1e-300},  # trades little or nothing, breaks nothing
    ):  # fmt: skip
        ParentSpec.model_validate(BASE | change)


def test_the_largest_limit_is_an_exact_price_the_fix_format_carries() -> None:
    """What `ParentManager.execution` does with a limit: integer 1/10,000 units, on the tick
    grid; the result goes on the wire as a FIX price and must come back the same."""
    for price in (MAX_LIMIT_PRICE, MIN_LIMIT_PRICE):
        units = round(price * PRICE_SCALE)
        assert units / PRICE_SCALE == price  # exact: no float noise in the limit
        assert len(str(units)) <= MAX_INT_DIGITS
        assert parse_price(format_price(units)) == units


def test_the_text_form_names_the_bad_word() -> None:
    with pytest.raises(ValueError, match="'limit=1e305'"):
        parse_parent_option("buy 100 AAPL 10m twap limit=1e305")
    with pytest.raises(ValueError, match="horizon_s"):
        parse_parent_option("buy 100 AAPL 0.5s twap")
