"""The market-data client: subscribes with MarketDataRequest (V) and keeps one `L2Book` per
symbol from snapshots (W) and incremental refreshes (X).

Applying a refresh and telling the listener is one synchronous call chain inside the
session's receive path: no await between the bytes arriving and the decision they trigger.

Gaps: every incremental entry carries RptSeq (83), consecutive per symbol. When one is
skipped the book is declared stale (the listener hears it), incrementals for it are dropped,
and a fresh snapshot is requested; the snapshot may carry RptSeq (83) at the top level to
say which incremental it includes, and incrementals up to that one are then ignored.
Without it, updates resume from the next incremental: level updates set absolute sizes, so
replaying one already in the snapshot is harmless. Session-level gaps are the session's job.
An incremental behind the sequence but after the snapshot (a duplicate, or the venue's
numbering going backwards) is dropped, logged and counted.

The venue's clock (`venue_time_ns`) never goes backwards, and a stamp more than
`max_clock_jump_s` ahead of it moves it only once `clock_jump_confirmations` stamps in a row
agree: one bogus far-future stamp must not carry every parent past its horizon.

A bid, offer or trade at a price of zero or below is refused like any unreadable entry: the
message is rejected and the book rebuilt from a snapshot. Every such event is one log line
(`event=md_...`) and one count in `rlexec_fix_market_data_anomalies_total{session,kind}`.
"""

from __future__ import annotations

import itertools
import logging
import time

from rlexec.gateway import tags as fix
from rlexec.gateway.application import Application
from rlexec.gateway.clock import parse_utc_timestamp_ns
from rlexec.gateway.errors import FieldError
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import MD_ANOMALY_KINDS
from rlexec.gateway.session import FixSession
from rlexec.gateway.tags import MsgType
from rlexec.gateway.values import parse_price, parse_qty
from rlexec.market.book import L2Book
from rlexec.market.events import BookSnapshot, Trade
from rlexec.market.orders import Side

log = logging.getLogger("rlexec.gateway")

_BID = b"0"
_OFFER = b"1"
_TRADE = b"2"
_ACTION_NEW = b"0"
_ACTION_CHANGE = b"1"
_ACTION_DELETE = b"2"
_SET_ACTIONS = (_ACTION_CHANGE, _ACTION_NEW)
_MD_ENTRY_DATE = 272
# Module constants rather than `fix.X` attribute reads on the per-message path.
_NO_MD_ENTRIES = fix.NO_MD_ENTRIES
_MD_UPDATE_ACTION = fix.MD_UPDATE_ACTION
_MD_ENTRY_TYPE = fix.MD_ENTRY_TYPE
_MD_ENTRY_PX = fix.MD_ENTRY_PX
_MD_ENTRY_SIZE = fix.MD_ENTRY_SIZE
_MD_ENTRY_TIME = fix.MD_ENTRY_TIME
_SYMBOL = fix.SYMBOL
_RPT_SEQ = fix.RPT_SEQ
_MSG_TYPE = fix.MSG_TYPE
_X = MsgType.MARKET_DATA_INCREMENTAL
_BUY = Side.BUY
_SELL = Side.SELL
_PRICED = (_BID, _OFFER, _TRADE)
"""Entry types whose MDEntryPx must be positive (a book level or a print)."""
_ENTRY_TAGS = frozenset(
    {
        fix.MD_UPDATE_ACTION,
        fix.MD_ENTRY_TYPE,
        fix.MD_ENTRY_PX,
        fix.MD_ENTRY_SIZE,
        fix.MD_ENTRY_TIME,
        fix.SYMBOL,
        fix.RPT_SEQ,
        fix.SIDE,
        272,
        275,
        276,
        277,
        278,
        280,
        290,
        346,
    }
)


def _positive_price(px: bytes, msg_type: bytes) -> int:
    """MDEntryPx of a book level or a print: a price above zero, or a FieldError naming 270."""
    price = parse_price(px, _MD_ENTRY_PX, msg_type)
    if price <= 0:
        raise _not_positive(px, msg_type)
    return price


def _not_positive(px: bytes, msg_type: bytes) -> FieldError:
    return FieldError(_MD_ENTRY_PX, f"not a positive price: {px[:32]!r}", msg_type)


def _parse_venue_stamp(day: bytes, at: bytes) -> int:
    """Epoch ns of MDEntryDate (272) + MDEntryTime (273); a FieldError naming the bad one."""
    try:
        return parse_utc_timestamp_ns(day + b"-" + at)
    except ValueError as exc:
        try:
            parse_utc_timestamp_ns(day + b"-00:00:00")
        except ValueError:
            raise FieldError(_MD_ENTRY_DATE, f"not a UTCDateOnly: {day[:32]!r}", _X) from None
        raise FieldError(fix.MD_ENTRY_TIME, str(exc), _X) from None


def _lone_entry(msg: FixMessage) -> bool:
    """Whether the message's one entry (NoMDEntries=1 checked by the caller) runs from
    MDUpdateAction to the CheckSum and no entry tag comes before it: then `msg.fields` reads
    exactly as the entry `msg.group` would build, and no dict need be built for it.

    Market data is mostly one entry per message, in a few shapes (tag sequences) per venue:
    the answer is cached by shape. Anything else (a repeated tag, an entry tag outside the
    group, trailing non-entry fields) answers False and `msg.group` decides.
    """
    fields = msg.fields
    if len(fields) != msg.field_count:  # a tag repeats
        return False
    shape = tuple(fields)  # wire order, as no tag repeats
    if shape == _last_lone[0]:  # a feed repeats one shape: compared, not hashed and looked up
        return True
    lone = _LONE_SHAPES.get(shape)
    if lone is None:
        if len(_LONE_SHAPES) >= 64:
            _LONE_SHAPES.clear()
        lone = _LONE_SHAPES[shape] = _is_lone_shape(shape)
    if lone:
        _last_lone[0] = shape
    return lone


_LONE_SHAPES: dict[tuple[int, ...], bool] = {}
_last_lone: list[tuple[int, ...]] = [()]
"""The last shape found lone."""


def _is_lone_shape(keys: tuple[int, ...]) -> bool:
    if not keys or keys[-1] != fix.CHECKSUM or fix.NO_MD_ENTRIES not in keys:
        return False
    at = keys.index(fix.NO_MD_ENTRIES) + 1
    return (
        keys[at] == fix.MD_UPDATE_ACTION
        and _ENTRY_TAGS.issuperset(keys[at:-1])
        and _ENTRY_TAGS.isdisjoint(keys[:at])
    )


class MarketDataListener:
    """Receives book changes and trades; override what you need. Calls are synchronous."""

    def on_book(self, symbol: str, book: L2Book) -> None:
        """The book of `symbol` changed (after a whole message is applied) and is not stale."""

    def on_trade(self, symbol: str, trade: Trade) -> None:
        """A trade print."""

    def on_stale(self, symbol: str, reason: str) -> None:
        """The book of `symbol` cannot be trusted until the next snapshot."""

    def on_reject(self, md_req_id: str, reason: str | None, text: str | None) -> None:
        """The venue refused a MarketDataRequest (Y)."""


class MarketDataClient(Application):
    """Market data over one FIX session (it installs itself as the session's application)."""

    def __init__(
        self,
        session: FixSession,
        listener: MarketDataListener | None = None,
        depth: int = 0,
        *,
        max_clock_jump_s: float = 60.0,
        clock_jump_confirmations: int = 3,
    ) -> None:
        """`max_clock_jump_s`: a venue stamp further than this ahead of the venue's clock is
        suspect, and moves it only when `clock_jump_confirmations` stamps in a row agree; the
        clock starts the same way, on the first such run of stamps.
        Anomalies are counted with the session's gateway metrics (its registry)."""
        if depth < 0:
            raise ValueError(f"market depth must be >= 0 (0 = full book), got {depth}")
        if not max_clock_jump_s > 0:
            raise ValueError(f"max_clock_jump_s must be positive, got {max_clock_jump_s}")
        if clock_jump_confirmations < 1:
            raise ValueError(
                f"clock_jump_confirmations must be >= 1, got {clock_jump_confirmations}"
            )
        self.session = session
        session.application = self
        self.listener = listener if listener is not None else MarketDataListener()
        self.depth = depth
        self.books: dict[str, L2Book] = {}
        self.stale: set[str] = set()
        """Symbols whose book waits for a snapshot."""
        self.gaps = 0
        """RptSeq gaps detected so far."""
        self.venue_time_ns: int | None = None
        """The latest MDEntryDate (272) + MDEntryTime (273) the venue stamped on an
        incremental: the market's own clock (a simulator may run faster than real time).
        None until `clock_jump_confirmations` stamps in a row agree on where it starts."""
        self._second_day = b""
        self._second = b""
        self._second_ns = 0
        """The day, `HH:MM:SS.` and epoch ns of the last venue stamp's second (`_venue_time`)."""
        self._max_jump_ns = round(max_clock_jump_s * 1e9)
        self._confirmations = clock_jump_confirmations
        self._jump: tuple[int, int] | None = None
        """A suspect jump ahead, or the clock's first stamps: (the latest stamp, how many
        stamps in a row agreed on it)."""
        self._behind = False
        """Whether the last stamp was far behind the venue's clock (logged once per run)."""
        family = session.metrics.family.md_anomalies
        self.anomalies = {kind: family.labels(session.name, kind) for kind in MD_ANOMALY_KINDS}
        """Pre-bound children of `rlexec_fix_market_data_anomalies_total`, by kind."""
        self._crossing: set[str] = set()
        """Symbols whose book crossed and was sent for a rebuild, until it is seen uncrossed."""
        self._next_rpt: dict[str, int | None] = {}
        self._snapshot_rpt: dict[str, int] = {}
        self._subscriptions: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._prefix = f"md{time.time_ns() // 1_000_000:x}-"

    # -- requests --------------------------------------------------------------------------

    def subscribe(self, symbol: str) -> str:
        """Subscribe to book depth and trades for `symbol` (sent now if logged on, else at logon)."""
        if not symbol or "\x01" in symbol or not symbol.isprintable():
            raise ValueError(f"symbol is invalid: {symbol!r}")
        self.books.setdefault(symbol, L2Book())
        self.stale.add(symbol)
        md_req_id = self._subscriptions.get(symbol) or f"{self._prefix}{next(self._ids)}"
        self._subscriptions[symbol] = md_req_id
        if self.session.is_logged_on:
            self._send_request(symbol, md_req_id, b"1")
        return md_req_id

    def unsubscribe(self, symbol: str) -> None:
        md_req_id = self._subscriptions.pop(symbol, None)
        if md_req_id is not None and self.session.is_logged_on:
            self._send_request(symbol, md_req_id, b"2")
        self.stale.discard(symbol)

    def request_snapshot(self, symbol: str) -> str:
        """Ask for a one-off snapshot (263=0) of `symbol`; the answer is a W."""
        md_req_id = f"{self._prefix}{next(self._ids)}"
        self._send_request(symbol, md_req_id, b"0")
        return md_req_id

    def _send_request(self, symbol: str, md_req_id: str, request_type: bytes) -> None:
        body = (
            b"262="
            + md_req_id.encode()
            + b"\x01263="
            + request_type
            + b"\x01264=%d\x01" % self.depth
        )
        if request_type == b"1":
            body += b"265=1\x01"
        body += b"267=3\x01269=0\x01269=1\x01269=2\x01146=1\x0155=" + symbol.encode() + b"\x01"
        self.session.send(MsgType.MARKET_DATA_REQUEST, body)

    # -- Application -----------------------------------------------------------------------

    def on_logon(self, session: FixSession) -> None:
        # A fresh MDReqID per connection: the venue may still remember the old subscription.
        for symbol in self._subscriptions:
            md_req_id = f"{self._prefix}{next(self._ids)}"
            self._subscriptions[symbol] = md_req_id
            self._mark_stale(symbol, "resubscribing after logon")
            self._send_request(symbol, md_req_id, b"1")

    def on_logout(self, session: FixSession, reason: str) -> None:
        for symbol in self._subscriptions:
            self._mark_stale(symbol, f"session down: {reason}")

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        msg_type = message.fields.get(_MSG_TYPE)
        try:
            if msg_type == _X:
                self._on_incremental(message)
            elif msg_type == MsgType.MARKET_DATA_SNAPSHOT:
                self._on_snapshot(message)
            elif msg_type == MsgType.MARKET_DATA_REQUEST_REJECT:
                md_req_id = message.get_str(fix.MD_REQ_ID, "") or ""
                reason = message.get_str(fix.MD_REQ_REJ_REASON)
                text = message.get_str(fix.TEXT)
                log.error(
                    "event=md_request_rejected session=%s md_req_id=%s reason=%s text=%r",
                    session.name,
                    md_req_id,
                    reason,
                    text,
                )
                for symbol, req_id in list(self._subscriptions.items()):
                    if req_id == md_req_id:  # it will get no data: say why, even if stale
                        self.stale.add(symbol)
                        self.listener.on_stale(
                            symbol, f"market-data request rejected: {text or reason}"
                        )
                self.listener.on_reject(md_req_id, reason, text)
            else:
                log.warning(
                    "event=unexpected_message session=%s msg_type=%s",
                    session.name,
                    message.msg_type.decode(errors="replace"),
                )
        except FieldError as exc:
            self._bad_message(message, exc)

    # -- snapshots and incrementals ------------------------------------------------------

    def _on_snapshot(self, msg: FixMessage) -> None:
        symbol = msg.text(fix.SYMBOL)
        if symbol not in self._subscriptions and symbol not in self.books:
            return
        now = time.time_ns()
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        mt = MsgType.MARKET_DATA_SNAPSHOT
        for entry in msg.group(fix.NO_MD_ENTRIES, fix.MD_ENTRY_TYPE, _ENTRY_TAGS):
            entry_type = entry[fix.MD_ENTRY_TYPE]
            if entry_type not in (_BID, _OFFER):
                continue
            px, size = entry.get(fix.MD_ENTRY_PX), entry.get(fix.MD_ENTRY_SIZE)
            if px is None or size is None:
                missing = fix.MD_ENTRY_PX if px is None else fix.MD_ENTRY_SIZE
                raise FieldError(missing, "required in every book entry", mt)
            level = (_positive_price(px, mt), parse_qty(size, fix.MD_ENTRY_SIZE, mt))
            (bids if entry_type == _BID else asks).append(level)
        bids.sort(reverse=True)
        asks.sort()
        book = self.books.setdefault(symbol, L2Book())
        book.apply_snapshot(BookSnapshot(now, tuple(bids), tuple(asks)))
        rpt = msg.fields.get(fix.RPT_SEQ)
        if rpt is not None and rpt.isdigit():
            self._snapshot_rpt[symbol] = int(rpt)
            self._next_rpt[symbol] = int(rpt) + 1
        else:
            self._snapshot_rpt.pop(symbol, None)
            self._next_rpt[symbol] = None
        if not book.crossed:  # the venue's book is not: a crossing episode is over
            self._crossing.discard(symbol)
        self.stale.discard(symbol)
        self.listener.on_book(symbol, book)

    def _on_incremental(self, msg: FixMessage) -> None:
        now = time.time_ns()
        fields = msg.fields
        if fields.get(_NO_MD_ENTRIES) == b"1" and _lone_entry(msg):
            # The common case: the message's own field map is its one entry.
            self._venue_time(fields)
            symbol_text = fields.get(_SYMBOL)
            symbol = None if symbol_text is None else symbol_text.decode(errors="replace")
            book = self._apply_entry(fields, symbol, now)
            if book is not None:
                bids, asks = book.bid_prices, book.ask_prices
                if bids and asks and bids[-1] >= asks[0]:
                    if self._crossed(symbol, book):  # type: ignore[arg-type]
                        return
                elif self._crossing:
                    self._crossing.discard(symbol)
                self.listener.on_book(symbol, book)  # type: ignore[arg-type]
            return
        changed: dict[str, L2Book] = {}
        symbol_text = fields.get(_SYMBOL)
        symbol = None if symbol_text is None else symbol_text.decode(errors="replace")
        stamped = False
        for entry in msg.group(_NO_MD_ENTRIES, _MD_UPDATE_ACTION, _ENTRY_TAGS):
            if not stamped:
                stamped = True
                self._venue_time(entry)
            entry_symbol = entry.get(_SYMBOL)
            if entry_symbol is not None:
                symbol = entry_symbol.decode(errors="replace")
            book = self._apply_entry(entry, symbol, now)
            if book is not None:
                changed[symbol] = book  # type: ignore[index]
        for changed_symbol, book in changed.items():
            if changed_symbol in self.stale:  # a later entry of this message (a gap) made it so
                continue
            if book.crossed:
                if self._crossed(changed_symbol, book):
                    continue
            else:
                self._crossing.discard(changed_symbol)
            self.listener.on_book(changed_symbol, book)

    def _crossed(self, symbol: str, book: L2Book) -> bool:
        """The book is crossed or locked after an incremental. A venue's own book never is, so
        ours has left it (a delete lost, a level misapplied): it is rebuilt from a snapshot, as
        after a gap, and not handed on. Once per episode: a snapshot that is itself crossed is
        the venue's word, kept (the risk monitors pause on it) until the book uncrosses.
        Whether it asked for the rebuild (or one is already asked: a gap earlier in the
        message made the book stale)."""
        if symbol in self.stale:
            return True
        if symbol in self._crossing:
            return False
        self._crossing.add(symbol)
        bid, ask = book.bid_prices[-1], book.ask_prices[0]
        what = "locked" if bid == ask else "crossed"
        self.anomalies["crossed_book"].inc()
        log.warning(
            "event=md_crossed_book session=%s symbol=%s state=%s bid=%d ask=%d action=snapshot",
            self.session.name,
            symbol,
            what,
            bid,
            ask,
        )
        self._mark_stale(symbol, f"book {what} after an update: bid {bid} >= ask {ask}")
        self.request_snapshot(symbol)
        return True

    def _apply_entry(self, entry: dict[int, bytes], symbol: str | None, now: int) -> L2Book | None:
        """Apply one incremental entry for `symbol` (the entry's own or the one in effect);
        the book if a level changed, None if not (a trade, a stale book, an old RptSeq)."""
        mt = _X
        if symbol is None:
            raise FieldError(fix.SYMBOL, "missing from an incremental entry", mt)
        book = self.books.get(symbol)
        if book is None or symbol in self.stale:
            return None
        rpt_text = entry.get(_RPT_SEQ)
        if rpt_text is not None:
            next_rpt = self._next_rpt
            expected = next_rpt.get(symbol)
            if expected is not None and rpt_text.isdigit() and int(rpt_text) == expected:
                next_rpt[symbol] = expected + 1  # in sequence: the usual case
            elif not self._in_sequence(symbol, rpt_text):
                return None
        entry_type = entry.get(_MD_ENTRY_TYPE)
        px = entry.get(_MD_ENTRY_PX)
        if entry_type is None or px is None:
            raise FieldError(
                fix.MD_ENTRY_TYPE if entry_type is None else fix.MD_ENTRY_PX,
                "required in every incremental entry",
                mt,
            )
        price = parse_price(px, _MD_ENTRY_PX, mt)
        if price <= 0 and entry_type in _PRICED:
            raise _not_positive(px, mt)
        size_text = entry.get(_MD_ENTRY_SIZE)
        if entry_type == _BID:
            side = _BUY
        elif entry_type == _OFFER:
            side = _SELL
        elif entry_type == _TRADE:
            if size_text is None:
                raise FieldError(fix.MD_ENTRY_SIZE, "required in a trade entry", mt)
            aggressor = entry.get(fix.SIDE)
            if aggressor == b"1":
                side = _BUY
            elif aggressor == b"2":
                side = _SELL
            else:
                ask = book.best_ask
                side = _BUY if ask is not None and price >= ask else _SELL
            self.listener.on_trade(
                symbol, Trade(now, price, parse_qty(size_text, fix.MD_ENTRY_SIZE, mt), side)
            )
            return None
        else:
            return None
        action = entry[_MD_UPDATE_ACTION]
        if action == _ACTION_DELETE:
            size = 0
        elif action in _SET_ACTIONS:
            if size_text is None:
                raise FieldError(fix.MD_ENTRY_SIZE, "required for a new or changed level", mt)
            if size_text.isdigit():
                size = int(size_text)  # parse_qty's own first case, without the call
            else:
                size = parse_qty(size_text, fix.MD_ENTRY_SIZE, mt)
        else:
            raise FieldError(fix.MD_UPDATE_ACTION, f"unsupported action {action[:4]!r}", mt)
        book.set_level(side, price, size)
        book.ts_ns = now
        return book

    def _venue_time(self, entry: dict[int, bytes]) -> None:
        day, at = entry.get(_MD_ENTRY_DATE), entry.get(_MD_ENTRY_TIME)
        if day is None or at is None:
            return
        frac = at[9:]
        if at[:9] == self._second and day == self._second_day and len(frac) <= 9 and frac.isdigit():
            # The second of the last stamp (`HH:MM:SS.` and the day alike): its fraction only,
            # what `parse_utc_timestamp_ns` answers (a test holds the two to the same values).
            ns = self._second_ns + int(frac.ljust(9, b"0"))
        else:
            ns = _parse_venue_stamp(day, at)
            if at[8:9] == b".":
                self._second_day, self._second = day, at[:9]
                self._second_ns = ns - ns % 1_000_000_000
        now = self.venue_time_ns
        if now is not None and now < ns <= now + self._max_jump_ns:
            self.venue_time_ns = ns  # the usual case: a little ahead
            self._jump = None
            self._behind = False
        elif now is None:
            self._first_stamps(ns)
        elif ns > now:
            self._jumped(now, ns)
        elif now - ns > self._max_jump_ns:
            self._jump = None
            if not self._behind:
                self._behind = True
                self.anomalies["venue_time_behind"].inc()
                log.warning(
                    "event=md_venue_time_behind session=%s venue_time_ns=%d stamp_ns=%d "
                    "behind_s=%.3f action=keep_clock",
                    self.session.name,
                    now,
                    ns,
                    (now - ns) / 1e9,
                )
        else:  # at or a little behind the clock: it stands, and agrees with it
            self._jump = None
            self._behind = False

    def _in_a_row(self, ns: int) -> int:
        """How many stamps in a row, `ns` the last, agree (each within `max_clock_jump_s` of
        the one before) on where the clock should be: the rule for a start and for a jump."""
        jump = self._jump
        if jump is None or abs(ns - jump[0]) > self._max_jump_ns:
            return 1
        return jump[1] + 1

    def _first_stamps(self, ns: int) -> None:
        """The venue's clock starts once `clock_jump_confirmations` stamps in a row agree (each
        within `max_clock_jump_s` of the one before): a garbled first stamp (a year 2099) would
        otherwise be the clock for good, every true stamp after it "far behind" and the
        service's time frozen there."""
        jump = self._jump
        seen = self._in_a_row(ns)
        if jump is not None and seen == 1:  # it disagrees with the stamp before
            self.anomalies["venue_time_jump"].inc()
            log.warning(
                "event=md_venue_time_jump session=%s venue_time_ns=none stamp_ns=%d "
                "previous_stamp_ns=%d jump_s=%.3f confirmations=1 needed=%d action=hold_clock",
                self.session.name,
                ns,
                jump[0],
                (ns - jump[0]) / 1e9,
                self._confirmations,
            )
        if seen < self._confirmations:
            self._jump = (ns, seen)
            return
        self._jump = None
        self.venue_time_ns = ns
        log.info(
            "event=md_venue_clock_started session=%s venue_time_ns=%d confirmations=%d",
            self.session.name,
            ns,
            seen,
        )

    def _jumped(self, now: int, ns: int) -> None:
        """A stamp more than `max_clock_jump_s` ahead of the venue's clock: held until
        `clock_jump_confirmations` stamps in a row agree with it, then taken."""
        seen = self._in_a_row(ns)
        self._behind = False
        if seen >= self._confirmations:
            self._jump = None
            self.venue_time_ns = ns
            log.warning(
                "event=md_venue_time_jump session=%s from_ns=%d to_ns=%d jump_s=%.3f "
                "confirmations=%d action=accept",
                self.session.name,
                now,
                ns,
                (ns - now) / 1e9,
                seen,
            )
            return
        self._jump = (ns, seen)
        self.anomalies["venue_time_jump"].inc()
        log.warning(
            "event=md_venue_time_jump session=%s venue_time_ns=%d stamp_ns=%d jump_s=%.3f "
            "confirmations=%d needed=%d action=hold_clock",
            self.session.name,
            now,
            ns,
            (ns - now) / 1e9,
            seen,
            self._confirmations,
        )

    def _in_sequence(self, symbol: str, rpt_text: bytes | None) -> bool:
        """Whether to apply an entry; a skipped RptSeq, or one going back past the snapshot,
        makes the book stale and asks for a snapshot."""
        if rpt_text is None:
            return True
        if not rpt_text.isdigit():
            raise FieldError(fix.RPT_SEQ, f"not a number: {rpt_text[:16]!r}", b"X")
        rpt = int(rpt_text)
        expected = self._next_rpt.get(symbol)
        if expected is None:
            baseline = self._snapshot_rpt.get(symbol)
            if baseline is not None and rpt <= baseline:
                return False
            self._next_rpt[symbol] = rpt + 1
            return True
        if rpt == expected:
            self._next_rpt[symbol] = rpt + 1
            return True
        if rpt < expected:
            baseline = self._snapshot_rpt.get(symbol)
            if baseline is not None and rpt <= baseline and expected == baseline + 1:
                # In the snapshot the book was built from, and nothing newer applied yet: the
                # entries the snapshot overtook. (Once a newer one is applied, an entry the
                # snapshot covered can only be a venue starting its numbering again.)
                return False
            # Not in the snapshot and behind what was applied: a duplicate the session let
            # through, or the venue restarted its RptSeq. Either way the book's numbering no
            # longer says what it holds (after a restart every later entry would be "behind"
            # and dropped, the book frozen): rebuild it, as after a gap.
            self.anomalies["rpt_seq_behind"].inc()
            log.warning(
                "event=md_rpt_seq_behind session=%s symbol=%s expected_rpt_seq=%d "
                "received_rpt_seq=%d action=snapshot",
                self.session.name,
                symbol,
                expected,
                rpt,
            )
            self._mark_stale(symbol, f"RptSeq went back: expected {expected}, received {rpt}")
            self.request_snapshot(symbol)
            return False
        self.gaps += 1
        self.anomalies["rpt_seq_gap"].inc()
        log.warning(
            "event=md_gap session=%s symbol=%s expected_rpt_seq=%d received_rpt_seq=%d "
            "action=snapshot",
            self.session.name,
            symbol,
            expected,
            rpt,
        )
        self._mark_stale(symbol, f"RptSeq gap: expected {expected}, received {rpt}")
        self.request_snapshot(symbol)
        return False

    def _mark_stale(self, symbol: str, reason: str) -> None:
        self._next_rpt[symbol] = None
        self._snapshot_rpt.pop(symbol, None)
        if symbol not in self.stale:
            self.stale.add(symbol)
            self.listener.on_stale(symbol, reason)

    def _bad_message(self, msg: FixMessage, exc: FieldError) -> None:
        """A market-data message we cannot apply: reject it, distrust the book, start over."""
        self.anomalies["message_rejected"].inc()
        log.error(
            "event=md_message_rejected session=%s seq=%s msg_type=%s error=%r",
            self.session.name,
            msg.get_str(fix.MSG_SEQ_NUM, "-"),
            msg.msg_type.decode(errors="replace"),
            str(exc),
        )
        if self.session.is_logged_on:
            self.session.send(
                MsgType.BUSINESS_MESSAGE_REJECT,
                b"45="
                + msg.fields.get(fix.MSG_SEQ_NUM, b"0")
                + b"\x01372="
                + msg.msg_type
                + b"\x01380=%d\x0158="
                % (5 if "missing" in exc.reason or "required" in exc.reason else 0)
                + str(exc).encode(errors="replace")
                + b"\x01",
            )
        symbols = {e.decode(errors="replace") for t, e in msg.pairs if t == fix.SYMBOL}
        for symbol in symbols & set(self._subscriptions):
            self._mark_stale(symbol, f"unreadable {msg.msg_type.decode(errors='replace')}: {exc}")
            if self.session.is_logged_on:
                self.request_snapshot(symbol)
