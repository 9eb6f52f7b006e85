"""What a check returns: an `Approval` the order path requires, or a `Denial` that explains itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce


class Reason(StrEnum):
    """Machine-readable denial codes; a dashboard groups by them (`rlexec_risk_denials_total`)."""

    HALTED = "HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    DAILY_LOSS = "DAILY_LOSS"
    NON_FINITE = "NON_FINITE"
    INVALID_ORDER = "INVALID_ORDER"
    BAD_REFERENCE = "BAD_REFERENCE"
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    OUTSIDE_TRADING_WINDOW = "OUTSIDE_TRADING_WINDOW"
    MIN_ORDER_QTY = "MIN_ORDER_QTY"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    NO_REFERENCE = "NO_REFERENCE"
    STALE_REFERENCE = "STALE_REFERENCE"
    PRICE_COLLAR = "PRICE_COLLAR"
    MAX_LONG_POSITION = "MAX_LONG_POSITION"
    MAX_SHORT_POSITION = "MAX_SHORT_POSITION"
    MAX_GROSS_POSITION = "MAX_GROSS_POSITION"
    MAX_WORKING_ORDERS = "MAX_WORKING_ORDERS"
    SELF_MATCH = "SELF_MATCH"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    ORDER_RATE = "ORDER_RATE"
    MESSAGE_RATE = "MESSAGE_RATE"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """A replace of an order id that is not working."""
    REPLACE_PENDING = "REPLACE_PENDING"
    """A replace of an order whose previous replace is approved or in flight."""


class ApprovalIssuer:
    """The capability to build an `Approval`: each `RiskOverlay` makes its own and keeps it.

    It is public so that no module imports a private name, and it guards nothing by itself:
    what makes an approval count is that the overlay which issued it still holds it pending
    (`on_order_sent` / `on_replace_sent` / `release` look it up by identity), so an approval
    built with an issuer made anywhere else is refused on the send path.
    """

    __slots__ = ()


class Approval:
    """The overlay's yes for one new order or one replace. Built only by `RiskOverlay`.

    Constructing one without an `ApprovalIssuer` raises; and even a forged one (say via
    `object.__new__`) is refused by the send path, which accepts only approvals it issued
    and has not yet seen sent, released or expired. It keeps its own copy of the approved
    fields (an `OrderIntent` changed after the check changes nothing here), and `intent`
    builds a fresh `OrderIntent` from that copy on every read: send what `intent` says.
    """

    __slots__ = (
        "_issued_ns",
        "_order_type",
        "_parent_id",
        "_price",
        "_quantity",
        "_replaces",
        "_seq",
        "_side",
        "_symbol",
        "_time_in_force",
    )

    approved: Literal[True] = True

    def __init__(
        self,
        issuer: ApprovalIssuer,
        symbol: str,
        side: Side,
        quantity: int,
        order_type: OrderType,
        price: int | None,
        time_in_force: TimeInForce,
        parent_id: str | None,
        seq: int,
        issued_ns: int,
        replaces: str | None = None,
    ) -> None:
        if type(issuer) is not ApprovalIssuer:
            raise TypeError("an Approval is issued only by RiskOverlay.check")
        self._symbol = symbol
        self._side = side
        self._quantity = quantity
        self._order_type = order_type
        self._price = price
        self._time_in_force = time_in_force
        self._parent_id = parent_id
        self._seq = seq
        self._issued_ns = issued_ns
        self._replaces = replaces

    @property
    def intent(self) -> OrderIntent:
        """The approved order (for a replace: the order after it), as a new object each time."""
        return OrderIntent(
            self._symbol,
            self._side,
            self._quantity,
            self._order_type,
            self._price,
            self._time_in_force,
            self._parent_id,
        )

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def side(self) -> Side:
        return self._side

    @property
    def quantity(self) -> int:
        """Shares of the new order; for a replace, the leaves after it."""
        return self._quantity

    @property
    def price(self) -> int | None:
        return self._price

    @property
    def replaces(self) -> str | None:
        """The order id a replace approval is for; None for a new order."""
        return self._replaces

    @property
    def seq(self) -> int:
        """The overlay's serial number for this approval."""
        return self._seq

    @property
    def issued_ns(self) -> int:
        return self._issued_ns

    def __repr__(self) -> str:
        what = "" if self._replaces is None else f", replaces={self._replaces!r}"
        return (
            f"Approval(seq={self._seq}, {self._symbol} {self._side.name} qty={self._quantity} "
            f"{self._order_type.value} price={self._price}{what}, issued_ns={self._issued_ns})"
        )


class Denial:
    """The overlay's no: a reason code and a message with the numbers (`CODE: key=value > max=...`)."""

    __slots__ = ("message", "reason")

    approved: Literal[False] = False

    def __init__(self, reason: Reason, message: str) -> None:
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Denial({self.reason.value}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Denial)
            and other.reason is self.reason
            and other.message == self.message
        )

    def __hash__(self) -> int:
        return hash((self.reason, self.message))
