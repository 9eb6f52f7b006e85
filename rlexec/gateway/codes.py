"""The FIX 4.4 code vocabulary that both ends speak: the gateway's order entry and the venue.

One table per field, written once. `*_CODES` is what rlexec sends for each value; the reading
table is its inverse plus the aliases rlexec accepts. Sell short (54=5) is read as a sell:
for matching and for position it is one, so a venue fills it and reports it as 54=2.
"""

from __future__ import annotations

from typing import Final

from rlexec.market.orders import OrderType, Side, TimeInForce

SIDE_CODES: Final[dict[Side, bytes]] = {Side.BUY: b"1", Side.SELL: b"2"}
SIDES: Final[dict[bytes, Side]] = {b"1": Side.BUY, b"2": Side.SELL, b"5": Side.SELL}
"""Side (54) as read: buy, sell, and sell short (5), which is a sell."""
SIDE_NAMES: Final[dict[bytes, str]] = {b"1": "buy", b"2": "sell", b"5": "sell short"}

ORD_TYPE_CODES: Final[dict[OrderType, bytes]] = {OrderType.MARKET: b"1", OrderType.LIMIT: b"2"}
ORD_TYPES: Final[dict[bytes, OrderType]] = {code: t for t, code in ORD_TYPE_CODES.items()}
ORD_TYPE_NAMES: Final[dict[bytes, str]] = {b"1": "market", b"2": "limit"}

TIF_CODES: Final[dict[TimeInForce, bytes]] = {TimeInForce.DAY: b"0", TimeInForce.IOC: b"3"}
TIFS: Final[dict[bytes, TimeInForce]] = {code: t for t, code in TIF_CODES.items()}
TIF_NAMES: Final[dict[bytes, str]] = {b"0": "day", b"3": "IOC"}


def supported(names: dict[bytes, str]) -> str:
    """The codes of a field for an error message: "1 (buy), 2 (sell) or 5 (sell short)"."""
    shown = [f"{code.decode()} ({name})" for code, name in names.items()]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]
