"""FIX market data for the venue: MarketDataRequest (V) subscriptions, a snapshot (W), then
incremental refreshes (X) carrying every book change and trade of the simulated market.

Each subscription remembers the top-of-book it last showed, so an incremental entry is
exactly the difference a subscriber needs (new, change or delete at a price), whatever
depth it asked for. Every incremental entry carries RptSeq (83), consecutive within the
subscription; a snapshot carries the RptSeq of the last entry it includes, so a client that
detects a gap can ask for a snapshot (263=0) and resume from it.
"""

from __future__ import annotations

from typing import Final

from rlexec.gateway import tags as fix
from rlexec.gateway.codec import MAX_INT_DIGITS, parse_uint
from rlexec.gateway.codes import SIDE_CODES
from rlexec.gateway.message import FixMessage
from rlexec.gateway.values import format_price
from rlexec.market.events import Trade
from rlexec.market.orders import Side

BID: Final = b"0"
OFFER: Final = b"1"
TRADE: Final = b"2"
_ENTRY_TYPES: Final = frozenset({BID, OFFER, TRADE})

# MDReqRejReason (281)
UNKNOWN_SYMBOL: Final = 0
DUPLICATE_MD_REQ_ID: Final = 1
INSUFFICIENT_BANDWIDTH: Final = 2
UNSUPPORTED_SUBSCRIPTION_TYPE: Final = 4
UNSUPPORTED_MARKET_DEPTH: Final = 5
UNSUPPORTED_UPDATE_TYPE: Final = 6
UNSUPPORTED_ENTRY_TYPE: Final = 8


class MarketDataError(Exception):
    def __init__(self, reason: int, text: str) -> None:
        self.reason = reason
        self.text = text
        super().__init__(text)


class Subscription:
    __slots__ = ("depth", "md_req_id", "rpt_seq", "shown", "types")

    def __init__(self, md_req_id: bytes, depth: int, types: frozenset[bytes]) -> None:
        self.md_req_id = md_req_id
        self.depth = depth
        self.types = types
        self.shown: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
        self.rpt_seq = 0
        """RptSeq of the last incremental entry sent."""

    def wants(self, side: Side) -> bool:
        return (BID if side is Side.BUY else OFFER) in self.types

    def snapshot(
        self,
        symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        rpt_seq: int | None = None,
    ) -> bytes:
        """MarketDataSnapshotFullRefresh (W) body; remembers what it showed. `rpt_seq` names
        the last incremental the snapshot includes (default: this subscription's)."""
        entries: list[bytes] = []
        for side, levels, code in ((Side.BUY, bids, BID), (Side.SELL, asks, OFFER)):
            if not self.wants(side):
                continue
            top = levels[: self.depth]
            self.shown[side] = dict(top)
            entries += [
                b"269=" + code + b"\x01270=" + format_price(p) + b"\x01271=%d\x01" % s
                for p, s in top
            ]
        rpt = self.rpt_seq if rpt_seq is None else rpt_seq
        return (
            b"262=" + self.md_req_id + b"\x0155=" + symbol.encode() + b"\x0183=%d" % rpt
            + b"\x01268=%d\x01" % len(entries) + b"".join(entries)
        )  # fmt: skip

    def book_entries(self, side: Side, levels: list[tuple[int, int]], symbol: bytes) -> list[bytes]:
        """Incremental entries turning what this subscriber last saw into `levels` (best first)."""
        if not self.wants(side):
            return []
        code = BID if side is Side.BUY else OFFER
        old = self.shown[side]
        new = dict(levels[: self.depth])
        if new == old:
            return []
        out: list[bytes] = []
        for price in old:
            if price not in new:
                self.rpt_seq += 1
                out.append(b"279=2\x01269=" + code + b"\x0155=" + symbol + b"\x01270="
                           + format_price(price) + b"\x0183=%d\x01" % self.rpt_seq)  # fmt: skip
        for price, size in new.items():
            was = old.get(price)
            if was != size:
                action = b"0" if was is None else b"1"
                self.rpt_seq += 1
                out.append(b"279=" + action + b"\x01269=" + code + b"\x0155=" + symbol
                           + b"\x01270=" + format_price(price)
                           + b"\x01271=%d\x0183=%d\x01" % (size, self.rpt_seq))  # fmt: skip
        self.shown[side] = new
        return out

    def trade_entry(self, trade: Trade, symbol: bytes) -> list[bytes]:
        if TRADE not in self.types:
            return []
        self.rpt_seq += 1
        return [
            b"279=0\x01269=2\x0155=" + symbol + b"\x01270=" + format_price(trade.price)
            + b"\x01271=%d\x0154=" % trade.size + SIDE_CODES[trade.aggressor]
            + b"\x0183=%d\x01" % self.rpt_seq
        ]  # fmt: skip


def incremental(md_req_id: bytes, entries: list[bytes], stamp: bytes | None = None) -> bytes:
    """MarketDataIncrementalRefresh (X) body. `stamp` (a UTCTimestamp of the replay's time) goes
    on the first entry as MDEntryDate (272) + MDEntryTime (273): the market's clock, which a
    client running faster than real time keeps its own time by."""
    body = b"262=" + md_req_id + b"\x01268=%d\x01" % len(entries) + b"".join(entries)
    if stamp is None or not entries:
        return body
    first = len(body) - sum(len(e) for e in entries[1:])
    return body[:first] + b"272=" + stamp[:8] + b"\x01273=" + stamp[9:] + b"\x01" + body[first:]


def reject(md_req_id: bytes, error: MarketDataError) -> bytes:
    """MarketDataRequestReject (Y) body."""
    text = error.text.replace("\x01", " ").encode("ascii", errors="replace")
    return b"262=" + md_req_id + b"\x01281=%d\x0158=" % error.reason + text + b"\x01"


def parse_request(
    msg: FixMessage, symbol: str, max_depth: int
) -> tuple[bytes, int, Subscription | None]:
    """(MDReqID, SubscriptionRequestType, the subscription unless unsubscribing)."""
    f = msg.fields
    md_req_id = f.get(fix.MD_REQ_ID)
    if not md_req_id:
        raise MarketDataError(UNSUPPORTED_SUBSCRIPTION_TYPE, "MDReqID (262) is missing")
    kind_text = f.get(fix.SUBSCRIPTION_REQUEST_TYPE, b"")
    if kind_text not in (b"0", b"1", b"2"):
        raise MarketDataError(
            UNSUPPORTED_SUBSCRIPTION_TYPE,
            f"SubscriptionRequestType (263)={kind_text.decode(errors='replace')!r}: 0, 1 or 2",
        )
    kind = int(kind_text)
    if kind == 2:
        return md_req_id, kind, None
    depth_text = f.get(fix.MARKET_DEPTH, b"0")
    depth = parse_uint(depth_text)
    if depth is None:
        raise MarketDataError(
            UNSUPPORTED_MARKET_DEPTH,
            f"MarketDepth (264)={depth_text[:24].decode(errors='replace')!r}: "
            f"a whole number of at most {MAX_INT_DIGITS} digits",
        )
    depth = depth or max_depth
    update = f.get(fix.MD_UPDATE_TYPE)
    if kind == 1 and update not in (None, b"1"):
        raise MarketDataError(
            UNSUPPORTED_UPDATE_TYPE,
            f"MDUpdateType (265)={update.decode(errors='replace') if update else ''!r}: "
            "only incremental (1) is offered",
        )
    types = frozenset(value for tag, value in msg.pairs if tag == fix.MD_ENTRY_TYPE)
    if not types:
        types = _ENTRY_TYPES
    unsupported = types - _ENTRY_TYPES
    if unsupported:
        shown = ", ".join(sorted(t.decode(errors="replace") for t in unsupported))
        raise MarketDataError(
            UNSUPPORTED_ENTRY_TYPE, f"MDEntryType (269) {shown}: 0 bid, 1 offer, 2 trade"
        )
    symbols = [value.decode(errors="replace") for tag, value in msg.pairs if tag == fix.SYMBOL]
    if not symbols:
        raise MarketDataError(UNKNOWN_SYMBOL, "no Symbol (55) in NoRelatedSym (146)")
    for sym in symbols:
        if sym != symbol:
            raise MarketDataError(UNKNOWN_SYMBOL, f"symbol {sym!r}: this venue trades {symbol!r}")
    return md_req_id, kind, Subscription(md_req_id, min(depth, max_depth), types)
