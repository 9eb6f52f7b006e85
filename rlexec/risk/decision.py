"""What a check returns: an `Approval` the order path requires, or a `Denial` that explains itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from rlexec.market.orders import OrderIntent


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


class _Token:
    __slots__ = ()


_ISSUER: Final = _Token()
"""Only the overlay module imports this; an `Approval` built without it raises."""


class Approval:
    """The overlay's yes for one intent. Built only by `RiskOverlay.check`.

    Constructing one elsewhere raises; and even a forged one (say via `object.__new__`)
    is refused by `RiskOverlay.on_order_sent`, which accepts only approvals it issued and
    has not yet seen sent, released or expired. Its fields are read-only.
    """

    __slots__ = ("_intent", "_issued_ns", "_seq")

    approved: Literal[True] = True

    def __init__(self, token: object, intent: OrderIntent, seq: int, issued_ns: int) -> None:
        if token is not _ISSUER:
            raise TypeError("an Approval is issued only by RiskOverlay.check")
        self._intent = intent
        self._seq = seq
        self._issued_ns = issued_ns

    @property
    def intent(self) -> OrderIntent:
        return self._intent

    @property
    def seq(self) -> int:
        """The overlay's serial number for this approval."""
        return self._seq

    @property
    def issued_ns(self) -> int:
        return self._issued_ns

    def __repr__(self) -> str:
        return f"Approval(seq={self._seq}, intent={self._intent!r}, issued_ns={self._issued_ns})"


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
