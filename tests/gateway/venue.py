"""A small rule-based FIX venue for order-entry tests, built on our acceptor session.

Behaviour by symbol: FILL trades an order in two halves; REST only acknowledges it; NOCXL
acknowledges and refuses every cancel or replace. Quantities above 1,000,000 are rejected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from rlexec.gateway.application import Application
from rlexec.gateway.codec import FieldValue
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession


@dataclass
class VenueOrder:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: bytes
    qty: int
    price: bytes
    cum: int = 0
    status: str = "0"


@dataclass
class ScriptedVenue(Application):
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    received: list[FixMessage] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        self.received.append(message)
        handler = {
            b"D": self._new,
            b"F": self._cancel,
            b"G": self._replace,
            b"H": self._status,
            b"q": self._mass_cancel,
        }.get(message.msg_type)
        if handler is not None:
            handler(session, message)

    def _report(
        self,
        session: FixSession,
        order: VenueOrder,
        exec_type: str,
        status: str,
        last_qty: int = 0,
        extra: list[tuple[int, FieldValue]] | None = None,
    ) -> None:
        order.status = status
        fields: list[tuple[int, FieldValue]] = [
            (37, order.order_id),
            (11, order.cl_ord_id),
            (17, f"E{next(self.ids)}"),
            (150, exec_type),
            (39, status),
            (55, order.symbol),
            (54, order.side),
            (38, order.qty),
            (44, order.price),
            (32, last_qty),
            (31, order.price if last_qty else b"0"),
            (14, order.cum),
            (151, 0 if status in ("2", "4", "8") else order.qty - order.cum),
            (6, order.price if order.cum else b"0"),
        ]
        fields.extend(extra or [])
        session.send_fields(b"8", fields)

    def _new(self, session: FixSession, msg: FixMessage) -> None:
        cl = msg.text(11)
        order = VenueOrder(
            f"O{next(self.ids)}",
            cl,
            msg.text(55),
            msg[54],
            msg.get_int(38),
            msg.get(44) or b"0",
        )
        if order.qty > 1_000_000:
            self._report(session, order, "8", "8", extra=[(103, 3), (58, "quantity too large")])
            return
        self.orders[cl] = order
        self._report(session, order, "0", "0")
        if order.symbol == "FILL":
            half = order.qty // 2
            order.cum = half
            self._report(session, order, "F", "1", half)
            order.cum = order.qty
            self._report(session, order, "F", "2", order.qty - half)
            del self.orders[cl]

    def _cancel_reject(self, session: FixSession, msg: FixMessage, response_to: str) -> None:
        session.send_fields(
            b"9",
            [
                (37, msg.get_str(37) or "NONE"),
                (11, msg.text(11)),
                (41, msg.text(41)),
                (39, "0"),
                (434, response_to),
                (102, 1),
                (58, "too late to cancel"),
            ],
        )

    def _cancel(self, session: FixSession, msg: FixMessage) -> None:
        order = self.orders.get(msg.text(41))
        if order is None or order.symbol == "NOCXL":
            self._cancel_reject(session, msg, "1")
            return
        self._report(session, order, "6", "6", extra=[(41, order.cl_ord_id)])
        orig = order.cl_ord_id
        order.cl_ord_id = msg.text(11)
        self._report(session, order, "4", "4", extra=[(41, orig)])
        del self.orders[orig]

    def _replace(self, session: FixSession, msg: FixMessage) -> None:
        order = self.orders.get(msg.text(41))
        if order is None or order.symbol == "NOCXL":
            self._cancel_reject(session, msg, "2")
            return
        orig = order.cl_ord_id
        self._report(session, order, "E", "E", extra=[(41, orig)])
        del self.orders[orig]
        order.cl_ord_id = msg.text(11)
        order.qty = msg.get_int(38)
        order.price = msg.get(44) or order.price
        self.orders[order.cl_ord_id] = order
        self._report(session, order, "5", "0", extra=[(41, orig)])

    def _status(self, session: FixSession, msg: FixMessage) -> None:
        order = self.orders.get(msg.text(11))
        if order is not None:
            self._report(session, order, "I", order.status)

    def _mass_cancel(self, session: FixSession, msg: FixMessage) -> None:
        symbol = msg.get_str(55)
        victims = [o for o in self.orders.values() if symbol is None or o.symbol == symbol]
        session.send_fields(
            b"r",
            [
                (11, msg.text(11)),
                (37, "MASS"),
                (530, msg.text(530)),
                (531, msg.text(530)),
                (533, len(victims)),
            ],
        )
        for order in victims:
            self._report(session, order, "4", "4")
            del self.orders[order.cl_ord_id]
