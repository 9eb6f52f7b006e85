"""The FIX venue: the market replay behind a FIX 4.4 acceptor built on the gateway's session layer.

One `Venue` owns the replay, the clock that drives it, and one acceptor-role `FixSession`
per allowed client CompID (optionally password-protected). Each client's `ClientHandler`
turns its requests into engine calls and every resulting report into the FIX answer a real
venue gives; every engine report is routed to the client that owns the order, so fills
caused by the replayed market or by another client reach the right session.

Everything here runs on the event loop inside the session callbacks: requests are handled
synchronously (the engine is pure and fast), replies are buffered by the session and
written once per loop turn. In real-time mode the replay is first brought up to the time
a request arrives, so a request meets the market as it is at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Final, cast

from prometheus_client import CollectorRegistry

from rlexec.gateway import tags as fix
from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.application import Application
from rlexec.gateway.codec import parse_uint
from rlexec.gateway.config import AcceptorConfig, Role, SessionConfig
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.gateway.store_file import FileStore
from rlexec.gateway.tags import MsgType
from rlexec.gateway.values import format_price
from rlexec.market.book import L2Book
from rlexec.market.events import BookLevelUpdate, Trade
from rlexec.market.orders import Side
from rlexec.simulator.clock import RealTimeClock, make_clock
from rlexec.simulator.data import ReplayData
from rlexec.simulator.faults import FaultyTransport
from rlexec.simulator.fix_messages import (
    RequestError,
    TransactClock,
    business_reject,
    cancel_reject,
    execution_report,
    parse_amend,
    parse_new_order,
    rejected_order_report,
)
from rlexec.simulator.market_data import (
    INSUFFICIENT_BANDWIDTH,
    MarketDataError,
    Subscription,
    incremental,
    parse_request,
)
from rlexec.simulator.market_data import reject as md_reject
from rlexec.simulator.orders import (
    CancelReject,
    ExecReport,
    ExecType,
    Liquidity,
    RejectCode,
    Report,
    report,
)
from rlexec.simulator.replay import MarketReplay
from rlexec.simulator.throttle import Throttle, Verdict
from rlexec.simulator.venue_config import ClientConfig, VenueConfig, VenueConfigError
from rlexec.simulator.venue_metrics import VenueMetrics

log = logging.getLogger("rlexec.simulator")

FAST_BATCH: Final = 2_000
"""Rows replayed between event-loop yields when running as fast as possible."""
_QUEUED_WHILE_AWAY: Final = frozenset(
    {MsgType.EXECUTION_REPORT, MsgType.ORDER_CANCEL_REJECT, MsgType.ORDER_MASS_CANCEL_REPORT}
)
"""Order-entry answers are kept for a client that is not logged on and sent at its next
logon; market data for it is dropped."""
_INT_TAGS: Final = ((fix.ORDER_QTY, "OrderQty"), (fix.PRICE, "Price"), (fix.ORDER_ID, "OrderID"))
_MAX_NUMBER_TEXT: Final = 32
"""Longest quantity, price or order id text read; the range checks and the price band judge
the value, this only keeps int() away from thousands of digits."""


class Venue:
    """The replay, the clock and the FIX acceptor, started and stopped together."""

    def __init__(
        self,
        config: VenueConfig,
        data: ReplayData | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.data = data if data is not None else ReplayData.load(config.data)
        _check_start(config, self.data)
        replay_config = config.replay.model_copy(
            update={"market_data": True, "view_levels": config.market_data_depth}
        )
        self.replay = MarketReplay(self.data, replay_config, start_ns=config.start_ns)
        self.symbol = self.data.symbol
        self.symbol_bytes = self.symbol.encode()
        self.clock = make_clock(config.speed)
        self.metrics = VenueMetrics(registry)
        self.book = L2Book()
        """The displayed book as market data has published it."""
        self._transact = TransactClock(self.data.date)
        self._exec_ids = itertools.count(1)
        self._mass_ids = itertools.count(1)
        self._rows_counted = self.replay.stats.rows
        self._driver: asyncio.Task[None] | None = None
        gateway_metrics = GatewayMetrics(self.metrics.registry)
        self.handlers: dict[str, ClientHandler] = {}
        sessions: list[FixSession] = []
        for client in config.clients:
            handler = ClientHandler(self, client)
            session = FixSession(
                SessionConfig(
                    config.comp_id,
                    client.comp_id,
                    Role.ACCEPTOR,
                    username=client.username,
                    password=client.password,
                ),
                self._store(client.comp_id),
                handler,
                gateway_metrics,
            )
            handler.session = session
            self.handlers[client.comp_id] = handler
            sessions.append(session)
        self.acceptor = FixAcceptor(
            sessions,
            config.host,
            config.port,
            limits=AcceptorConfig(
                max_connections=config.max_connections,
                max_failed_logons=config.max_failed_logons,
                lockout_s=config.logon_lockout_s,
            ),
            metrics=gateway_metrics,
        )

    def _store(self, client: str) -> SessionStore:
        if self.config.store_dir is None:
            return MemoryStore()
        return FileStore.for_session(
            str(self.config.store_dir), "FIX.4.4", self.config.comp_id, client
        )

    @property
    def port(self) -> int:
        return self.acceptor.port

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.acceptor.start()
        self.dispatch([])
        log.info(
            "event=venue_started host=%s port=%d comp_id=%s clients=%s symbol=%s levels=%d "
            "speed=%s replay_start_s=%.3f",
            self.config.host,
            self.port,
            self.config.comp_id,
            ",".join(self.handlers),
            self.symbol,
            self.data.levels,
            self.config.speed or "max",
            self.replay.now_ns / 1e9,
        )
        if self.config.autoplay:
            self._driver = asyncio.get_running_loop().create_task(self._drive())

    async def stop(self, grace: float = 2.0) -> None:
        """Stop the replay and log every client out."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None
        await self.acceptor.stop(logout=True, grace=grace)
        log.info("event=venue_stopped replay_time_s=%.3f", self.replay.now_ns / 1e9)

    async def __aenter__(self) -> Venue:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _drive(self) -> None:
        replay = self.replay
        clock = self.clock
        realtime = isinstance(clock, RealTimeClock)
        if isinstance(clock, RealTimeClock):
            clock.start(replay.now_ns)
        while not replay.finished:
            if isinstance(clock, RealTimeClock):
                due = replay.next_ts
                assert due is not None
                wait = clock.delay_s(due)
                if wait > 0:
                    await asyncio.sleep(min(wait, 0.25))
                    continue
                now = clock.now_ns()
                assert now is not None
                self.metrics.replay_lag.set(max(0.0, (now - due) / 1e9 / clock.speed))
                self.dispatch(replay.advance_to(now))
            else:
                self.dispatch(replay.step(FAST_BATCH))
            await asyncio.sleep(0)
        if realtime:
            await asyncio.sleep(clock.delay_s(self.data.end_ns))
        self.dispatch(replay.run())
        log.info("event=market_closed replay_time_s=%.3f", replay.now_ns / 1e9)

    # -- the replay ------------------------------------------------------------------------

    def sync_time(self) -> None:
        """Real time: bring the replay up to now before a request meets the book."""
        clock = self.clock
        if self.config.autoplay and isinstance(clock, RealTimeClock):
            now = clock.now_ns()
            if now is not None and now > self.replay.now_ns:
                self.dispatch(self.replay.advance_to(now))

    def advance_to(self, ts_ns: int) -> None:
        """Replay up to ts_ns and deliver what it caused (for embedding code and tests)."""
        self.dispatch(self.replay.advance_to(ts_ns))

    def step(self, rows: int = 1) -> None:
        self.dispatch(self.replay.step(rows))

    def dispatch(self, reports: list[Report]) -> None:
        """Route engine reports to their clients, then publish market data."""
        handlers = self.handlers
        for r in reports:
            if isinstance(r, ExecReport):
                handler = handlers.get(r.client_id)
                if handler is not None:
                    handler.execution(r)
        self._publish_market_data()
        rows = self.replay.stats.rows
        if rows != self._rows_counted:
            self.metrics.replay_events.inc(rows - self._rows_counted)
            self._rows_counted = rows
        self.metrics.replay_time.set(self.replay.now_ns / 1e9)

    def _publish_market_data(self) -> None:
        events = self.replay.market_events()
        if not events:
            return
        book = self.book
        subs = [(h, s) for h in self.handlers.values() for s in h.subscriptions.values()]
        pending: dict[int, list[bytes]] = {id(s): [] for _, s in subs}
        symbol = self.symbol_bytes
        for event in events:
            if type(event) is BookLevelUpdate:
                side = event.side
                book.set_level(side, event.price, event.size)
                for _, sub in subs:
                    if sub.wants(side):
                        pending[id(sub)] += sub.book_entries(
                            side, book.levels(side, sub.depth), symbol
                        )
            elif type(event) is Trade:
                for _, sub in subs:
                    pending[id(sub)] += sub.trade_entry(event, symbol)
        stamp = self.transact_time()
        for handler, sub in subs:
            entries = pending[id(sub)]
            if entries:
                body = incremental(sub.md_req_id, entries, stamp)
                handler.send(MsgType.MARKET_DATA_INCREMENTAL, body)
                handler.md_incremental.inc()

    # -- helpers for handlers --------------------------------------------------------------

    def next_exec_id(self) -> bytes:
        return b"%d" % next(self._exec_ids)

    def next_mass_id(self) -> bytes:
        return b"MC%d" % next(self._mass_ids)

    def transact_time(self, ts_ns: int | None = None) -> bytes:
        return self._transact.stamp(self.replay.now_ns if ts_ns is None else ts_ns)

    def price_band_problem(self, price: int) -> str | None:
        """Why a limit price is outside the band around the reference, or None."""
        band = self.config.price_band_pct
        if band is None or price <= 0:  # a non-positive price is the engine's to refuse
            return None
        replay = self.replay
        reference = replay.reference_mid or replay.mid
        if reference is None:
            trade = replay.last_trade
            if trade is None:
                return None
            reference = float(trade.price)
        if abs(price - reference) <= reference * band / 100:
            return None
        return (
            f"PRICE_BAND: Price (44)={format_price(price).decode()} is more than {band:g}% "
            f"from the reference {format_price(round(reference)).decode()}"
        )

    def update_subscription_gauge(self) -> None:
        self.metrics.subscriptions.set(sum(len(h.subscriptions) for h in self.handlers.values()))


class ClientHandler(Application):
    """One client's session: its requests in, its reports and market data out."""

    session: FixSession

    def __init__(self, venue: Venue, config: ClientConfig) -> None:
        self.venue = venue
        self.config = config
        self.comp_id = config.comp_id
        self.throttle = Throttle(config.throttle_reject_per_s, config.throttle_logout_per_s)
        self.subscriptions: dict[bytes, Subscription] = {}
        self.received = 0
        """Application messages received on the current connection."""
        self._waiting: list[tuple[bytes, bytes]] = []
        self._delayed: deque[tuple[bytes, bytes]] = deque()
        self._cancel_cause: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        m = venue.metrics
        c = config.comp_id
        self._fills = {
            Liquidity.ADDED: m.fills.labels(c, "added"),
            Liquidity.REMOVED: m.fills.labels(c, "removed"),
        }
        self._shares = {
            Side.BUY: m.filled_shares.labels(c, "buy"),
            Side.SELL: m.filled_shares.labels(c, "sell"),
        }
        self._accepted = m.orders.labels(c, "accepted")
        self.md_incremental = m.market_data_messages.labels(c, "incremental")
        self._dispatch = {
            MsgType.NEW_ORDER_SINGLE: self._new_order,
            MsgType.ORDER_CANCEL_REQUEST: self._cancel,
            MsgType.ORDER_CANCEL_REPLACE_REQUEST: self._replace,
            MsgType.ORDER_STATUS_REQUEST: self._status,
            MsgType.ORDER_MASS_CANCEL_REQUEST: self._mass_cancel,
            MsgType.MARKET_DATA_REQUEST: self._market_data_request,
        }

    # -- session callbacks -----------------------------------------------------------------

    def on_logon(self, session: FixSession) -> None:
        self.received = 0
        self.throttle.reset()
        faults = self.config.faults
        conn = session.connection
        if (faults.skip_outbound_message or faults.garble_outbound_message) and conn is not None:
            transport = conn.transport
            if transport is not None:
                conn.transport = cast(
                    asyncio.Transport,
                    FaultyTransport(
                        transport,
                        faults.skip_outbound_message,
                        faults.garble_outbound_message,
                        self._fault,
                    ),
                )
        self.venue.metrics.clients_logged_on.inc()
        log.info(
            "event=client_logged_on client=%s queued_reports=%d", self.comp_id, len(self._waiting)
        )
        waiting, self._waiting = self._waiting, []
        for msg_type, body in waiting:
            self.send(msg_type, body)

    def on_logout(self, session: FixSession, reason: str) -> None:
        venue = self.venue
        venue.metrics.clients_logged_on.dec()
        self.subscriptions.clear()
        venue.update_subscription_gauge()
        log.info("event=client_logged_out client=%s reason=%s", self.comp_id, reason)
        if self.config.cancel_on_disconnect:
            self._cancel_cause = "disconnect"
            try:
                reports = venue.replay.cancel_all(self.comp_id)
                if reports:
                    log.info(
                        "event=cancel_on_disconnect client=%s orders=%d", self.comp_id, len(reports)
                    )
                venue.dispatch(reports)
            finally:
                self._cancel_cause = None

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        self.received += 1
        verdict, count = self.throttle.check(asyncio.get_running_loop().time())
        if verdict is Verdict.PASS:
            handle = self._dispatch.get(message.msg_type)
            if handle is None:
                mt = message.msg_type.decode(errors="replace")
                self._business_reject(
                    message, 3, f"UNSUPPORTED: MsgType {mt} is not supported here"
                )
            else:
                handle(message)
        elif verdict is Verdict.REJECT:
            limit = self.config.throttle_reject_per_s
            self.venue.metrics.throttled.labels(self.comp_id, "reject").inc()
            log.warning(
                "event=throttled client=%s messages_1s=%d limit=%s action=reject",
                self.comp_id, count, limit,
            )  # fmt: skip
            self._business_reject(
                message, 0, f"THROTTLED: {count} messages in 1 s, limit={limit}; not processed"
            )
        else:
            limit = self.config.throttle_logout_per_s
            self.venue.metrics.throttled.labels(self.comp_id, "logout").inc()
            log.error(
                "event=throttled client=%s messages_1s=%d limit=%s action=logout",
                self.comp_id, count, limit,
            )  # fmt: skip
            if session.is_logged_on:
                text = f"THROTTLED: {count} messages in 1 s, limit={limit}"
                self._spawn(session.logout(text))
            return
        limit_n = self.config.faults.disconnect_after_messages
        if limit_n is not None and self.received == limit_n:
            self._fault("disconnect", limit_n)
            conn = session.connection
            if conn is not None:
                asyncio.get_running_loop().call_soon(conn.close)  # after this batch's replies

    # -- sending ---------------------------------------------------------------------------

    def send(self, msg_type: bytes, body: bytes) -> None:
        delay = self.config.faults.reply_delay_s
        if delay:
            self._delayed.append((msg_type, body))
            asyncio.get_running_loop().call_later(delay, self._send_delayed)
        else:
            self._send_now(msg_type, body)

    def _send_delayed(self) -> None:
        msg_type, body = self._delayed.popleft()
        self._send_now(msg_type, body)

    def _send_now(self, msg_type: bytes, body: bytes) -> None:
        if self.session.is_logged_on:
            self.session.send(msg_type, body)
        elif msg_type in _QUEUED_WHILE_AWAY:
            self._waiting.append((msg_type, body))

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fault(self, fault: str, n: int) -> None:
        self.venue.metrics.faults.labels(self.comp_id, fault).inc()
        log.warning("event=fault_injected client=%s fault=%s message=%d", self.comp_id, fault, n)

    def _business_reject(self, message: FixMessage, reason: int, text: str) -> None:
        kind = message.msg_type.decode(errors="replace")
        self.venue.metrics.rejects.labels(self.comp_id, "business", str(reason)).inc()
        log.info(
            "event=business_reject client=%s msg_type=%s reason=%d text=%r",
            self.comp_id, kind, reason, text,
        )  # fmt: skip
        self.send(MsgType.BUSINESS_MESSAGE_REJECT, business_reject(message, reason, text))

    # -- reports ---------------------------------------------------------------------------

    def execution(self, r: ExecReport) -> None:
        """An engine report for one of this client's orders."""
        venue = self.venue
        self.send(
            MsgType.EXECUTION_REPORT,
            execution_report(r, venue.next_exec_id(), venue.symbol, venue.transact_time(r.ts_ns)),
        )
        et = r.exec_type
        if et is ExecType.TRADE:
            if r.liquidity is not None:
                self._fills[r.liquidity].inc()
            self._shares[r.side].inc(r.last_qty)
        elif et is ExecType.CANCELED or et is ExecType.EXPIRED:
            venue.metrics.cancels.labels(self.comp_id, self._cause(r)).inc()
        log.debug(
            "event=execution client=%s cl_ord_id=%s order_id=%d exec_type=%s status=%s "
            "last_qty=%d last_px=%d cum_qty=%d leaves_qty=%d",
            self.comp_id, r.client_order_id, r.order_id, et.value, r.status.value,
            r.last_qty, r.last_price, r.cum_qty, r.leaves_qty,
        )  # fmt: skip

    def _cause(self, r: ExecReport) -> str:
        if r.exec_type is ExecType.EXPIRED:
            return "expired"
        if r.reject_code is RejectCode.SELF_MATCH:
            return "self_match"
        if r.reason is not None:
            return "unfilled_remainder"
        return self._cancel_cause or "request"

    # -- requests --------------------------------------------------------------------------

    def _new_order(self, msg: FixMessage) -> None:
        venue = self.venue
        cl = msg.fields.get(fix.CL_ORD_ID)
        if not cl:
            self._business_reject(msg, 5, "ClOrdID (11) is missing")
            return
        try:
            self._check_numbers(msg)
            req = parse_new_order(msg)
            if req.price is not None:
                self._check_band(req.price)
        except RequestError as err:
            self._order_rejected(err.code)
            log.info(
                "event=order_rejected client=%s cl_ord_id=%s reason=%r", self.comp_id, cl, str(err)
            )
            self.send(
                MsgType.EXECUTION_REPORT,
                rejected_order_report(
                    cl.decode(errors="replace"),
                    msg.get_str(fix.SYMBOL, "") or "",
                    msg.fields.get(fix.SIDE) or b"1",
                    err,
                    venue.next_exec_id(),
                    venue.transact_time(),
                ),
            )
            return
        venue.sync_time()
        reports = venue.replay.submit(
            self.comp_id, req.side, req.quantity, req.price, req.order_type, req.time_in_force,
            req.cl_ord_id, req.symbol,
        )  # fmt: skip
        first = reports[0]
        if isinstance(first, ExecReport) and first.exec_type is ExecType.REJECTED:
            assert first.reject_code is not None
            self._order_rejected(first.reject_code)
            log.info(
                "event=order_rejected client=%s cl_ord_id=%s reason=%r",
                self.comp_id, req.cl_ord_id, first.reason,
            )  # fmt: skip
        else:
            self._accepted.inc()
        venue.dispatch(reports)

    def _check_numbers(self, msg: FixMessage) -> None:
        """Refuse an over-long number before anything converts it (int() of 4,301 digits
        raises, and long ones are slow)."""
        fields = msg.fields
        for tag, name in _INT_TAGS:
            value = fields.get(tag)
            if value is not None and len(value) > _MAX_NUMBER_TEXT:
                self.venue.metrics.refused_requests.labels(self.comp_id, "integer_field").inc()
                code = RejectCode.BAD_PRICE if tag == fix.PRICE else RejectCode.BAD_QUANTITY
                if tag == fix.ORDER_ID:
                    code = RejectCode.UNKNOWN_ORDER
                raise RequestError(
                    code,
                    f"{name} ({tag}) has {len(value)} characters, limit={_MAX_NUMBER_TEXT}",
                    tag,
                )

    def _check_band(self, price: int) -> None:
        problem = self.venue.price_band_problem(price)
        if problem is not None:
            self.venue.metrics.refused_requests.labels(self.comp_id, "price_band").inc()
            raise RequestError(RejectCode.BAD_PRICE, problem, fix.PRICE)

    def _order_rejected(self, code: RejectCode) -> None:
        m = self.venue.metrics
        m.orders.labels(self.comp_id, "rejected").inc()
        m.rejects.labels(self.comp_id, "order", code.value).inc()

    def _cancel(self, msg: FixMessage) -> None:
        self._amend(msg, replace=False)

    def _replace(self, msg: FixMessage) -> None:
        self._amend(msg, replace=True)

    def _amend(self, msg: FixMessage, replace: bool) -> None:
        venue = self.venue
        engine = venue.replay.engine
        kind = "replace" if replace else "cancel"
        cl = msg.fields.get(fix.CL_ORD_ID)
        if not cl:
            self._business_reject(msg, 5, "ClOrdID (11) is missing")
            return
        cl_text = cl.decode(errors="replace")
        orig_text = msg.get_str(fix.ORIG_CL_ORD_ID, "") or ""
        try:
            self._check_numbers(msg)
            req = parse_amend(msg, replace)
            if req.price is not None:
                self._check_band(req.price)
        except RequestError as err:
            order = engine.order_for(self.comp_id, client_order_id=orig_text) if orig_text else None
            venue.metrics.rejects.labels(self.comp_id, kind, err.code.value).inc()
            self.send(
                MsgType.ORDER_CANCEL_REJECT,
                cancel_reject(
                    None, cl_text, orig_text or "NONE", replace, err,
                    order.status if order is not None else None,
                    order.order_id if order is not None else None,
                ),
            )  # fmt: skip
            return
        venue.sync_time()
        order = engine.order_for(self.comp_id, client_order_id=req.orig_cl_ord_id)
        if order is None and req.order_id is not None:
            order = engine.order_for(self.comp_id, order_id=req.order_id)
        oid = order.order_id if order is not None else None
        clid = None if oid is not None else req.orig_cl_ord_id
        if replace:
            reports = venue.replay.replace(
                self.comp_id, oid, clid, req.cl_ord_id, req.quantity, req.price
            )
        else:
            reports = venue.replay.cancel(self.comp_id, oid, clid, req.cl_ord_id)
        refused = [r for r in reports if isinstance(r, CancelReject)]
        if refused:
            code = refused[0].reject_code
            venue.metrics.rejects.labels(self.comp_id, kind, code.value).inc()
            log.info(
                "event=%s_rejected client=%s cl_ord_id=%s orig_cl_ord_id=%s reason=%r",
                kind, self.comp_id, req.cl_ord_id, req.orig_cl_ord_id, refused[0].reason,
            )  # fmt: skip
            self.send(
                MsgType.ORDER_CANCEL_REJECT,
                cancel_reject(refused[0], req.cl_ord_id, req.orig_cl_ord_id, replace),
            )
            return
        venue.dispatch(reports)

    def _status(self, msg: FixMessage) -> None:
        venue = self.venue
        cl = msg.fields.get(fix.CL_ORD_ID)
        if not cl:
            self._business_reject(msg, 5, "ClOrdID (11) is missing")
            return
        cl_text = cl.decode(errors="replace")
        engine = venue.replay.engine
        order = engine.order_for(self.comp_id, client_order_id=cl_text)
        order_id = parse_uint(msg.fields.get(fix.ORDER_ID))
        if order is None and order_id is not None:
            order = engine.order_for(self.comp_id, order_id=order_id)
        if order is None:
            side = msg.fields.get(fix.SIDE) or b"1"
            err = RequestError(RejectCode.UNKNOWN_ORDER, f"no order {cl_text!r} for {self.comp_id}")
            body = rejected_order_report(
                cl_text, venue.symbol, side, err, venue.next_exec_id(), venue.transact_time()
            ).replace(b"\x01150=8\x01", b"\x01150=I\x01")
            self.send(MsgType.EXECUTION_REPORT, body)
            return
        state = report(order, venue.replay.now_ns, ExecType.NEW)
        self.send(
            MsgType.EXECUTION_REPORT,
            execution_report(
                state, venue.next_exec_id(), venue.symbol, venue.transact_time(),
                cl_ord_id=order.client_order_id, exec_type=b"I",
            ),
        )  # fmt: skip

    def _mass_cancel(self, msg: FixMessage) -> None:
        venue = self.venue
        f = msg.fields
        cl = f.get(fix.CL_ORD_ID)
        if not cl:
            self._business_reject(msg, 5, "ClOrdID (11) is missing")
            return
        scope = f.get(fix.MASS_CANCEL_REQUEST_TYPE, b"")
        head = b"11=" + cl + b"\x0137=" + venue.next_mass_id() + b"\x01530=" + scope + b"\x01"
        problem: tuple[int, str] | None = None
        if scope not in (b"1", b"7"):
            problem = (0, f"MassCancelRequestType (530)={scope.decode(errors='replace')!r}: "
                          "1 (by symbol) or 7 (all orders)")  # fmt: skip
        elif scope == b"1" and f.get(fix.SYMBOL) != venue.symbol_bytes:
            shown = msg.get_str(fix.SYMBOL, "(missing)")
            problem = (1, f"symbol {shown!r}: this venue trades {venue.symbol!r}")
        if problem is not None:
            reason, text = problem
            venue.metrics.rejects.labels(self.comp_id, "mass_cancel", str(reason)).inc()
            self.send(
                MsgType.ORDER_MASS_CANCEL_REPORT,
                head + b"531=0\x01532=%d\x0158=" % reason + text.encode() + b"\x01",
            )
            return
        venue.sync_time()
        self._cancel_cause = "mass_cancel"
        try:
            reports = venue.replay.cancel_all(self.comp_id)
            self.send(
                MsgType.ORDER_MASS_CANCEL_REPORT,
                head + b"531=" + scope + b"\x01533=%d\x01" % len(reports),
            )
            venue.dispatch(reports)
        finally:
            self._cancel_cause = None

    def _market_data_request(self, msg: FixMessage) -> None:
        venue = self.venue
        try:
            md_req_id, kind, sub = parse_request(msg, venue.symbol, venue.config.market_data_depth)
        except MarketDataError as err:
            md_req_id = msg.fields.get(fix.MD_REQ_ID) or b"NONE"
            venue.metrics.market_data_messages.labels(self.comp_id, "reject").inc()
            log.info(
                "event=market_data_rejected client=%s reason=%d text=%r",
                self.comp_id,
                err.reason,
                err.text,
            )
            self.send(MsgType.MARKET_DATA_REQUEST_REJECT, md_reject(md_req_id, err))
            return
        if sub is None:
            self.subscriptions.pop(md_req_id, None)
            venue.update_subscription_gauge()
            return
        if kind == 1 and md_req_id in self.subscriptions:
            dupe = MarketDataError(
                1, f"MDReqID (262)={md_req_id.decode(errors='replace')!r} is already subscribed"
            )
            self.send(MsgType.MARKET_DATA_REQUEST_REJECT, md_reject(md_req_id, dupe))
            return
        cap = venue.config.max_subscriptions_per_client
        if kind == 1 and len(self.subscriptions) >= cap:
            venue.metrics.refused_requests.labels(self.comp_id, "subscriptions").inc()
            venue.metrics.market_data_messages.labels(self.comp_id, "reject").inc()
            log.warning(
                "event=market_data_rejected client=%s reason=%d subscriptions=%d limit=%d",
                self.comp_id, INSUFFICIENT_BANDWIDTH, len(self.subscriptions), cap,
            )  # fmt: skip
            over = MarketDataError(
                INSUFFICIENT_BANDWIDTH,
                f"TOO_MANY_SUBSCRIPTIONS: {len(self.subscriptions)} held, "
                f"max_subscriptions_per_client={cap}",
            )
            self.send(MsgType.MARKET_DATA_REQUEST_REJECT, md_reject(md_req_id, over))
            return
        venue.sync_time()
        venue.dispatch([])  # the published book is current
        book = venue.book
        # A one-off snapshot (263=0) is how a client recovers from an RptSeq gap: it names
        # the last entry of that client's running subscription that it includes.
        running = list(self.subscriptions.values())
        rpt = running[-1].rpt_seq if kind == 0 and running else None
        snapshot = sub.snapshot(
            venue.symbol,
            book.levels(Side.BUY, sub.depth),
            book.levels(Side.SELL, sub.depth),
            rpt,
        )
        self.send(MsgType.MARKET_DATA_SNAPSHOT, snapshot)
        venue.metrics.market_data_messages.labels(self.comp_id, "snapshot").inc()
        if kind == 1:
            self.subscriptions[md_req_id] = sub
            venue.update_subscription_gauge()


def _check_start(config: VenueConfig, data: ReplayData) -> None:
    """A start after the day's last event would serve a closed market for ever: refused."""
    start = config.start_ns
    if start is None or not data.ts_ns or start <= data.ts_ns[-1]:
        return
    seconds = data.ts_ns[-1] // 1_000_000_000
    last = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    raise VenueConfigError(
        "start",
        f"{config.start} is after the last event of the data ({last} New York time in "
        f"{data.source or config.data}): the replay would have nothing to play",
    )
