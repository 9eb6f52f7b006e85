"""Participant orders, their status machine and the typed records the venue answers with.

A participant is anyone who is not the replayed history: FIX clients of the venue, the
training environment's agent, the backtester. Every change of an order's state goes
through `Order.transition`, which refuses what the status table does not allow: an
engine bug then fails loudly at the line that caused it instead of corrupting CumQty.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from rlexec.market.errors import IllegalTransitionError
from rlexec.market.fsm import TransitionTable
from rlexec.market.orders import OrderType, Side, TimeInForce


class OrderStatus(Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def is_done(self) -> bool:
        return self in _DONE


_DONE = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)

_O = OrderStatus
TRANSITIONS: TransitionTable[OrderStatus, OrderStatus] = TransitionTable(
    "order",
    {
        (frm, to): to
        for frm, targets in (
            # NEW → NEW is a replace that changed nothing that fills (FIX keeps OrdStatus=New).
            (_O.NEW, (_O.NEW, _O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.EXPIRED)),
            (_O.PARTIALLY_FILLED, (_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.EXPIRED)),
        )
        for to in targets
    },
)
"""(status, new status) → new status: the event is the status asked for; done states have none."""


class ExecType(Enum):
    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Liquidity(Enum):
    """FIX LastLiquidityInd: did our side of the fill rest (ADDED) or take (REMOVED)?"""

    ADDED = "ADDED"
    REMOVED = "REMOVED"


class RejectCode(Enum):
    """Why an order, cancel or replace was refused; the report's `reason` adds the numbers."""

    BAD_QUANTITY = "BAD_QUANTITY"
    BAD_PRICE = "BAD_PRICE"
    BAD_ORDER = "BAD_ORDER"  # inconsistent type / price / time in force
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"  # client order id already used by this client
    UNKNOWN_ORDER = "UNKNOWN_ORDER"  # no such order for this client
    ORDER_DONE = "ORDER_DONE"  # too late: filled, cancelled, expired
    MARKET_CLOSED = "MARKET_CLOSED"  # the replayed day is over
    SELF_MATCH = "SELF_MATCH"  # incoming order cancelled by self-match prevention


class SelfMatchPolicy(Enum):
    """What happens when a client's incoming order would trade with its own resting order."""

    CANCEL_RESTING = "CANCEL_RESTING"
    CANCEL_INCOMING = "CANCEL_INCOMING"
    CANCEL_BOTH = "CANCEL_BOTH"


class Order:
    """A participant's order. Prices are integer units (×1e4) in the market's own coordinates."""

    __slots__ = (
        "canceled_qty", "client_id", "client_order_id", "created_ns", "cum_qty", "key", "leaves",
        "level", "notional", "order_id", "order_type", "price", "quantity", "side", "status",
        "time_in_force",
    )  # fmt: skip

    def __init__(
        self,
        order_id: int,
        client_id: str,
        client_order_id: str,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        price: int | None,
        quantity: int,
        created_ns: int,
    ) -> None:
        self.order_id = order_id
        self.client_id = client_id
        self.client_order_id = client_order_id
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price = price
        self.quantity = quantity
        self.leaves = quantity
        self.cum_qty = 0
        self.canceled_qty = 0
        self.notional = 0
        """Σ fill price × fill qty, exact in integer units."""
        self.status = OrderStatus.NEW
        self.created_ns = created_ns
        self.key: int | None = None
        """Price of the book level the order rests at (differs from `price` under impact)."""
        self.level: object | None = None
        """The book level it rests in, None when not resting."""

    def transition(self, new: OrderStatus) -> None:
        if not TRANSITIONS.allows(self.status, new):
            raise IllegalTransitionError(
                f"order {self.order_id} ({self.client_id}/{self.client_order_id}): "
                f"{self.status.value} → {new.value} is not allowed"
            )
        self.status = new

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    @property
    def is_resting(self) -> bool:
        return self.level is not None

    def __repr__(self) -> str:
        px = "MKT" if self.price is None else str(self.price)
        return (
            f"Order({self.order_id} {self.client_id}/{self.client_order_id} {self.side.name} "
            f"{self.quantity}@{px} leaves={self.leaves} cum={self.cum_qty} {self.status.value})"
        )


class ExecReport(NamedTuple):
    """One change of one order's state, with the FIX ExecutionReport numbers it needs."""

    ts_ns: int
    client_id: str
    order_id: int
    client_order_id: str
    exec_type: ExecType
    status: OrderStatus
    side: Side
    order_type: OrderType
    price: int | None
    """The order's limit price (None for market orders)."""
    quantity: int
    last_qty: int
    last_price: int
    """Price of this fill (0 when this report is not a fill)."""
    cum_qty: int
    leaves_qty: int
    avg_price: float
    liquidity: Liquidity | None = None
    reject_code: RejectCode | None = None
    reason: str | None = None
    orig_client_order_id: str | None = None
    """For a replace or cancel: the client order id the order had before."""
    time_in_force: TimeInForce = TimeInForce.DAY

    @property
    def is_fill(self) -> bool:
        return self.exec_type is ExecType.TRADE


class CancelReject(NamedTuple):
    """A refused cancel or replace (FIX OrderCancelReject); the order, if any, is unchanged."""

    ts_ns: int
    client_id: str
    order_id: int | None
    client_order_id: str
    orig_client_order_id: str | None
    reject_code: RejectCode
    reason: str
    status: OrderStatus | None
    """The order's current status, None when there is no such order."""
    is_replace: bool


Report = ExecReport | CancelReject


def report(
    order: Order,
    ts_ns: int,
    exec_type: ExecType,
    last_qty: int = 0,
    last_price: int = 0,
    liquidity: Liquidity | None = None,
    reject_code: RejectCode | None = None,
    reason: str | None = None,
    orig_client_order_id: str | None = None,
) -> ExecReport:
    return ExecReport(
        ts_ns, order.client_id, order.order_id, order.client_order_id, exec_type, order.status,
        order.side, order.order_type, order.price, order.quantity, last_qty, last_price,
        order.cum_qty, order.leaves, order.avg_price, liquidity, reject_code, reason,
        orig_client_order_id, order.time_in_force,
    )  # fmt: skip
