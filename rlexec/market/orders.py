"""Sides, order types and the order intent that algos emit and the risk overlay judges."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Side(IntEnum):
    """Side of an order; the value is the sign of its effect on position (as LOBSTER's direction)."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"

    # Members are singletons compared by identity: hash them in C, not through Enum's Python
    # __hash__ (the order path looks codes up by them on every order).
    __hash__ = object.__hash__


class TimeInForce(Enum):
    DAY = "DAY"
    IOC = "IOC"

    __hash__ = object.__hash__  # as OrderType's


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What an algo wants to send; nothing reaches the venue without the risk overlay's approval."""

    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    price: int | None = None
    """Limit price in integer price units; None for a market order."""
    time_in_force: TimeInForce = TimeInForce.DAY
    parent_id: str | None = None

    def __post_init__(self) -> None:
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError(f"{self.symbol}: a limit order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError(f"{self.symbol}: a market order carries no price")

    @property
    def signed_quantity(self) -> int:
        return int(self.side) * self.quantity
