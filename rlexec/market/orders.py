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


_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_DAY = TimeInForce.DAY
_set = object.__setattr__


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

    def __init__(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType = _LIMIT,
        price: int | None = None,
        time_in_force: TimeInForce = _DAY,
        parent_id: str | None = None,
    ) -> None:
        # Written out (a dataclass keeps its class's own __init__): an intent is built twice
        # per order on the decision path, and the generated frozen __init__ (a global and an
        # attribute read per field, then __post_init__) costs ~40 % more.
        if order_type is _LIMIT:
            if price is None:
                raise ValueError(f"{symbol}: a limit order needs a price")
        elif order_type is _MARKET and price is not None:
            raise ValueError(f"{symbol}: a market order carries no price")
        _set(self, "symbol", symbol)
        _set(self, "side", side)
        _set(self, "quantity", quantity)
        _set(self, "order_type", order_type)
        _set(self, "price", price)
        _set(self, "time_in_force", time_in_force)
        _set(self, "parent_id", parent_id)

    @property
    def signed_quantity(self) -> int:
        return int(self.side) * self.quantity
