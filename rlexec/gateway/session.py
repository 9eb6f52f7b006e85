"""The FIX 4.4 session layer, one implementation for the initiator and the acceptor role.

A session outlives its connections: it owns the sequence numbers (through the store), the
state machine and the timers, and is attached to one `FixConnection` at a time.

The send path has no await: `send()` encodes, records the message in the store's buffer,
flushes the store (one append write for the file store) and writes to the socket, all
before it returns, so a message is recorded before (never after) it reaches the wire.
Replies sent from inside an inbound callback, and anything sent inside `with
session.corked():`, are batched instead: one store write and one socket write per batch, or
per WRITE_BATCH messages of a larger one.

Inbound, every frame goes through: garbled check (ignored, no seq consumed) → header checks
(BeginString, CompIDs, SendingTime) → sequence number (queue + ResendRequest when too high,
Logout when too low, PossDup rules) → session-level validation (Reject 35=3) → dispatch.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Final

from rlexec.gateway import tags as fix
from rlexec.gateway.application import Application
from rlexec.gateway.clock import (
    is_utc_timestamp,
    parse_utc_timestamp,
    utc_timestamp,
    within_latency,
)
from rlexec.gateway.codec import (
    MAX_INT_DIGITS,
    SOH,
    FieldValue,
    Garbled,
    GarbledError,
    encode_fields,
    frame,
    parse_uint,
)
from rlexec.gateway.config import Role, SessionConfig, format_heartbeat
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.errors import NotLoggedOnError, StoreError
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import GatewayMetrics, SessionMetrics
from rlexec.gateway.resend import gap_fill, possdup_copy
from rlexec.gateway.session_state import SessionEvent, SessionState, SessionStateMachine
from rlexec.gateway.store import SessionStore
from rlexec.gateway.tags import MsgType
from rlexec.gateway.tags import SessionRejectReason as R
from rlexec.gateway.validation import (
    Problem,
    first_value,
    flag_problem,
    repeated_header_tag,
    session_problem,
)

log = logging.getLogger("rlexec.gateway")

TEST_REQUEST_FACTOR: Final = 1.2
"""Send a TestRequest after this many HeartBtInts of counterparty silence (as QuickFIX)."""
TIMEOUT_FACTOR: Final = 2.4
"""Disconnect after this many HeartBtInts of counterparty silence (as QuickFIX)."""
RESEND_CHUNK: Final = 1_000
"""Messages resent per socket write; the next chunk waits until the socket has drained."""
STORE_FLUSH_DELAY: Final = 0.001
"""When a batch of inbound messages produced nothing to send, the new target sequence number
is flushed to the store this much later, so that it usually shares the write of the next
outbound message instead of costing a write of its own."""

WRITE_BATCH: Final = 64
"""Most messages a batch (replies to one read, a corked block) holds before it is written
anyway: the peer starts on the first of a large burst while the rest are being produced,
instead of the two ends taking turns, each idle while the other works through a batch."""

_BAD_SEQ_TEXT: Final = f"MsgSeqNum (34) missing, not a number or over {MAX_INT_DIGITS} digits"
_ACTIVE = SessionState.ACTIVE
_LOGOUT_SENT = SessionState.LOGOUT_SENT
_DISCONNECTING = SessionState.DISCONNECTING
_ADMIN = fix.ADMIN_MSG_TYPES


class FixSession:
    """One FIX session (a SenderCompID/TargetCompID pair) in either role.

    Build it, `await open()` it (loads sequence numbers from the store), then hand it to a
    `FixInitiator` or a `FixAcceptor`. Application messages go out with `send()` while
    `is_logged_on`; inbound ones arrive at `application.on_message()` in sequence order.
    """

    def __init__(
        self,
        config: SessionConfig,
        store: SessionStore,
        application: Application | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.application = application if application is not None else Application()
        self.name = config.session_id
        family = metrics if metrics is not None else GatewayMetrics()
        self.metrics: SessionMetrics = family.for_session(self.name)
        self._sm = SessionStateMachine(self.name)
        self._begin = config.begin_string.encode()
        self._sender = config.sender_comp_id.encode()
        self._target = config.target_comp_id.encode()
        self._header_mid = b"\x0149=" + self._sender + b"\x0156=" + self._target + b"\x0134="
        self._next_sender = 1
        self._next_target = 1
        self._opened = False
        self._conn: FixConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: list[bytes] = []
        self._store_dirty = False
        self._store_timer: asyncio.TimerHandle | None = None
        self._dispatching = False
        self._corked = 0
        self._heartbeat = float(config.heartbeat_interval)
        self._last_sent = 0.0
        self._last_received = 0.0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._test_request_id: bytes | None = None
        self._test_request_ids = itertools.count(1)
        self._queue: dict[int, FixMessage] = {}
        self._queued_bytes = 0
        self._resend_times: deque[float] = deque()
        self.logon_observer: Callable[[FixConnection, bool], None] | None = None
        """Told of each credential check (connection, passed): the acceptor's lockout."""
        self._handled_early: set[int] = set()
        self._resend_until: int | None = None
        self._reset_sent = False
        self._logon_seq = 0
        self._echo_until = 0.0
        self._disconnect_reason = ""
        self._was_logged_on = False
        self._logged_on = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._resend_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the stored sequence numbers; a restarted session continues them."""
        if self._opened:
            return
        state = await self.store.open()
        self._next_sender = state.next_sender_seq
        self._next_target = state.next_target_seq
        self._opened = True
        self.metrics.track_sequences(lambda: self._next_sender, lambda: self._next_target)
        log.info(
            "event=session_opened session=%s role=%s next_sender_seq=%d next_target_seq=%d",
            self.name,
            self.config.role.value,
            self._next_sender,
            self._next_target,
        )

    async def close(self) -> None:
        """Drop any connection and close the store (after making it durable)."""
        if self._conn is not None:
            self._disconnect("local_stop", "session closed")
            async with asyncio.timeout(self.config.logout_timeout):
                await self.wait_disconnected()
        for task in list(self._resend_tasks):
            task.cancel()
        if self._opened:
            self._opened = False
            await self.store.close()

    @property
    def state(self) -> SessionState:
        return self._sm.state

    @property
    def is_logged_on(self) -> bool:
        return self._sm.state is _ACTIVE

    @property
    def next_sender_seq(self) -> int:
        return self._next_sender

    @property
    def next_target_seq(self) -> int:
        return self._next_target

    @property
    def heartbeat_interval(self) -> float:
        """The interval in force: ours as initiator, the initiator's as acceptor."""
        return self._heartbeat

    @property
    def was_logged_on(self) -> bool:
        """Whether the current (or last) connection completed the Logon exchange."""
        return self._was_logged_on

    @property
    def connection(self) -> FixConnection | None:
        return self._conn

    async def wait_logged_on(self) -> None:
        """Until the session is logged on (wrap in `asyncio.timeout()`)."""
        await self._logged_on.wait()

    async def wait_disconnected(self) -> None:
        """Until the session has no connection (wrap in `asyncio.timeout()`)."""
        await self._disconnected.wait()

    async def logout(self, text: str = "", grace: float | None = None) -> None:
        """Send Logout and wait for the counterparty's Logout (at most `grace` seconds, default
        the configured logout_timeout), then disconnect."""
        if self._sm.state is _ACTIVE:
            self._send_logout(text)
            self._sm.fire(SessionEvent.LOGOUT_SENT)
            self._flush()
            wait = self.config.logout_timeout if grace is None else grace
            self._set_timer("logout", wait, self._on_logout_timeout)
        elif self._conn is not None:
            self._disconnect("local_stop", "logout requested before logon completed")
        await self._disconnected.wait()

    # -- sending ---------------------------------------------------------------------------

    def send(self, msg_type: bytes, body: bytes) -> int:
        """Send an application message; `body` is its encoded fields after the standard header
        (`tag=value<SOH>...`). Returns its MsgSeqNum. No await: the message is recorded in the
        store and written to the socket before this returns, unless corked (see the module doc).
        Raises NotLoggedOnError (and consumes no sequence number) when not logged on."""
        if self._sm.state is not _ACTIVE:
            raise NotLoggedOnError(
                f"session {self.name}: cannot send MsgType {msg_type.decode(errors='replace')} "
                f"while {self._sm.state.value}"
            )
        seq = self._next_sender
        raw = self._frame(msg_type, seq, body)
        self._next_sender = seq + 1
        self.store.save_message(seq, raw)
        self._write(raw)
        self.metrics.count_out(msg_type)
        return seq

    def send_fields(self, msg_type: bytes, fields: list[tuple[int, FieldValue]]) -> int:
        """`send()` for callers holding (tag, value) pairs rather than encoded bytes."""
        return self.send(msg_type, encode_fields(fields))

    def _send_admin(self, msg_type: bytes, body: bytes = b"") -> int:
        seq = self._next_sender
        raw = self._frame(msg_type, seq, body)
        self._next_sender = seq + 1
        self.store.set_next_sender_seq(seq + 1)
        self._write(raw)
        self.metrics.count_out(msg_type)
        return seq

    def _frame(self, msg_type: bytes, seq: int, body: bytes) -> bytes:
        """The whole message sent as `seq`: standard header stamped now, body, trailer."""
        return frame(
            self._begin,
            b"".join(
                (
                    b"35=",
                    msg_type,
                    self._header_mid,
                    b"%d" % seq,
                    b"\x0152=",
                    utc_timestamp(),
                    SOH,
                    body,
                )
            ),
        )

    @contextmanager
    def corked(self) -> Iterator[None]:
        """Batch everything sent inside the block into one store write and one socket write."""
        self._corked += 1
        try:
            yield
        finally:
            self._corked -= 1
            if not self._corked and not self._dispatching and self._out:
                self._flush()

    def _write(self, raw: bytes) -> None:
        out = self._out
        out.append(raw)
        if (not self._dispatching and not self._corked) or len(out) >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        """Store first, then the socket: nothing reaches the wire that was not recorded."""
        self._store_dirty = False
        timer = self._store_timer
        if timer is not None:
            # The store is clean now: a timer left to fire for nothing would wake an idle
            # process (costly on a VM) once a millisecond while it waits for its peer.
            timer.cancel()
            self._store_timer = None
        try:
            self.store.flush()
        except (StoreError, OSError) as exc:
            self._out.clear()
            log.error("event=store_failed session=%s error=%r action=disconnect", self.name, exc)
            if self._conn is not None:
                self._disconnect("protocol_error", f"session store failed: {exc}", flush=False)
            return
        out = self._out
        if not out:
            return
        self._out = []
        conn = self._conn
        if conn is None:
            return
        conn.write(out[0] if len(out) == 1 else b"".join(out))
        if self._loop is not None:
            self._last_sent = self._loop.time()
        if conn.buffered > self.config.max_write_buffer:
            self._slow_consumer(conn)

    def _slow_consumer(self, conn: FixConnection) -> None:
        log.error(
            "event=slow_consumer session=%s peer=%s buffered_bytes=%d limit=%d action=disconnect",
            self.name,
            conn.peer,
            conn.buffered,
            self.config.max_write_buffer,
        )
        if not self._disconnect_reason:
            self._disconnect_reason = "slow_consumer"
        if self._sm.can(SessionEvent.DISCONNECT):
            self._sm.fire(SessionEvent.DISCONNECT)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        conn.abort()

    # -- connection events -----------------------------------------------------------------

    def connection_made(self, conn: FixConnection) -> None:
        if not self._opened:
            raise StoreError(f"session {self.name}: open() the session before connecting it")
        if self._conn is not None:
            log.warning(
                "event=connection_refused session=%s peer=%s reason=already_connected",
                self.name,
                conn.peer,
            )
            conn.close()
            return
        self._loop = asyncio.get_running_loop()
        self._conn = conn
        self._disconnected.clear()
        self._logged_on.clear()
        self._disconnect_reason = ""
        self._was_logged_on = False
        self._reset_sent = False
        self._echo_until = 0.0
        now = self._loop.time()
        self._last_sent = self._last_received = now
        log.info(
            "event=connected session=%s role=%s peer=%s",
            self.name,
            self.config.role.value,
            conn.peer,
        )
        self._set_timer("logon", self.config.logon_timeout, self._on_logon_timeout)
        if self.config.role is Role.INITIATOR:
            self._sm.fire(SessionEvent.CONNECTED_AS_INITIATOR)
            self._heartbeat = float(self.config.heartbeat_interval)
            self._send_logon(reset=self.config.reset_on_logon)
            self._flush()
        else:
            self._sm.fire(SessionEvent.CONNECTED_AS_ACCEPTOR)

    def connection_lost(self, conn: FixConnection, exc: Exception | None) -> None:
        if conn is not self._conn:
            return
        was_logged_on = self._was_logged_on and self._sm.state in (
            SessionState.ACTIVE,
            SessionState.LOGOUT_SENT,
            SessionState.DISCONNECTING,
        )
        self._sm.fire(SessionEvent.CONNECTION_LOST)
        reason = self._disconnect_reason or "peer_closed"
        self._conn = None
        self._out.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._forget_inbound_gaps()
        self._resend_times.clear()
        self._test_request_id = None
        try:
            self.store.flush()
        except (StoreError, OSError) as err:
            log.error("event=store_failed session=%s error=%r", self.name, err)
        self.metrics.disconnects[reason].inc()
        self.metrics.logged_on.set(0)
        log.info(
            "event=disconnected session=%s reason=%s error=%s next_sender_seq=%d "
            "next_target_seq=%d",
            self.name,
            reason,
            exc or "-",
            self._next_sender,
            self._next_target,
        )
        self._logged_on.clear()
        self._disconnected.set()
        if was_logged_on:
            self._call_app_logout(reason)

    def data_received(self, items: list[bytes | Garbled]) -> None:
        """Process a batch of frames from the connection; replies go out in one write after.

        Only a message that decodes counts as hearing from the peer (restarts the silence
        timer, settles a pending TestRequest): a peer sending nothing but junk times out."""
        heard = False
        self._dispatching = True
        try:
            for item in items:
                if self._conn is None or self._sm.state is _DISCONNECTING:
                    break
                if type(item) is bytes:
                    try:
                        msg = FixMessage.decode(item)
                    except GarbledError as exc:
                        self._garbled(str(exc), item[:40])
                        continue
                    if not heard:
                        heard = True
                        if self._loop is not None:
                            self._last_received = self._loop.time()
                        self._test_request_id = None
                    try:
                        self._on_message(msg)
                    except (ValueError, LookupError) as exc:
                        # A last line of defence: one bad message must not take the
                        # transport down with a traceback ("Fatal error on transport").
                        log.error(
                            "event=receive_error session=%s error=%r action=disconnect",
                            self.name,
                            exc,
                        )
                        self._logout_and_disconnect(
                            "Message could not be processed", "protocol_error"
                        )
                else:
                    assert isinstance(item, Garbled)
                    self._garbled(item.reason, item.excerpt)
        finally:
            self._dispatching = False
            if self._out:
                self._flush()
            else:
                self._store_dirty = True
                if self._store_timer is None and self._loop is not None:
                    self._store_timer = self._loop.call_later(STORE_FLUSH_DELAY, self._flush_store)

    def _flush_store(self) -> None:
        self._store_timer = None
        if self._store_dirty:
            self._flush()

    def _garbled(self, reason: str, excerpt: bytes) -> None:
        self.metrics.garbled.inc()
        log.warning(
            "event=garbled_message session=%s reason=%r excerpt=%r action=ignored",
            self.name,
            reason,
            excerpt,
        )

    # -- inbound: header and sequence checks -----------------------------------------------

    def _on_message(self, msg: FixMessage) -> None:
        fields = msg.fields
        msg_type = fields.get(fix.MSG_TYPE, b"")
        self.metrics.count_in(msg_type)
        if self._sm.state is _ACTIVE and msg_type not in _ADMIN and self._in_order(msg, msg_type):
            self._deliver(msg, msg_type, self._next_target)
            if self._queue:
                self._drain_queue()
            return
        self._on_message_checked(msg, msg_type)

    def _deliver(self, msg: FixMessage, msg_type: bytes, seq: int) -> None:
        """An in-order application message: consume its sequence number, hand it over."""
        self._next_target = seq + 1  # _advance, inline on the application path
        self.store.set_next_target_seq(seq + 1)
        try:
            self.application.on_message(self, msg)
        except Exception:
            log.exception(
                "event=application_error session=%s seq=%d msg_type=%s",
                self.name,
                seq,
                msg_type.decode(errors="replace"),
            )

    def _in_order(self, msg: FixMessage, msg_type: bytes) -> bool:
        """Whether an application message passes every header, sequence and session check as
        it stands: the next MsgSeqNum, our CompIDs and BeginString, a timely SendingTime, no
        PossDup, a valid PossResend, no empty or repeated field, a known MsgType. Such a
        message (nearly all of them) is dispatched at once; anything else takes the long way,
        `_on_message_checked`, which applies the same rules one by one and answers each
        failure as FIX says. The flags cost one lookup each, and a compare only when present."""
        fields = msg.fields
        get = fields.get
        seq_text = get(fix.MSG_SEQ_NUM)
        if (
            seq_text is None
            or len(seq_text) > MAX_INT_DIGITS
            or not seq_text.isdigit()
            or int(seq_text) != self._next_target
            or get(fix.BEGIN_STRING) != self._begin
            or get(fix.SENDER_COMP_ID) != self._target
            or get(fix.TARGET_COMP_ID) != self._sender
            or len(fields) != msg.field_count
            or ((dup := get(fix.POSS_DUP_FLAG)) is not None and dup != b"N")
            or ((resend := get(fix.POSS_RESEND)) is not None and resend != b"Y" and resend != b"N")
            or b"=\x01" in msg.raw
        ):
            return False
        cfg = self.config
        if cfg.validate_msg_type and msg_type not in fix.FIX44_MSG_TYPES:
            return False
        sending_time = get(fix.SENDING_TIME)
        if sending_time is None:
            return False
        max_latency = cfg.max_latency
        return max_latency is None or within_latency(sending_time, time.time(), max_latency)

    def _on_message_checked(self, msg: FixMessage, msg_type: bytes) -> None:
        fields = msg.fields
        state = self._sm.state
        if state is not _ACTIVE and state is not _LOGOUT_SENT:
            if msg_type == MsgType.LOGON:
                self._on_logon(msg)
            elif msg_type == MsgType.LOGOUT and state is SessionState.LOGON_SENT:
                self._on_logon_refused(msg)
            else:
                log.error(
                    "event=first_message_not_logon session=%s msg_type=%s action=disconnect",
                    self.name,
                    msg_type.decode(errors="replace"),
                )
                self._disconnect("protocol_error", "first message was not a Logon")
            return
        if msg_type == MsgType.LOGON and fields.get(fix.RESET_SEQ_NUM_FLAG) == b"Y":
            self._on_reset_logon(msg)
            return
        seq = self._check_header(msg, msg_type)
        if seq is None:
            return
        expected = self._next_target
        if seq == expected and msg_type != MsgType.SEQUENCE_RESET:
            self._process(msg, msg_type, seq)
            if self._queue:
                self._drain_queue()
        elif msg_type == MsgType.SEQUENCE_RESET and fields.get(fix.GAP_FILL_FLAG) != b"Y":
            self._on_sequence_reset(msg, seq)
        elif seq == expected:
            self._process(msg, msg_type, seq)
            if self._queue:
                self._drain_queue()
        elif seq > expected:
            self._too_high(msg, msg_type, seq)
        else:
            self._too_low(msg, msg_type, seq)

    def _check_header(self, msg: FixMessage, msg_type: bytes) -> int | None:
        """MsgSeqNum if the header is acceptable; otherwise act as FIX says and return None."""
        fields = msg.fields
        if fields.get(fix.BEGIN_STRING) != self._begin:
            begin = fields.get(fix.BEGIN_STRING, b"").decode(errors="replace")
            self._logout_and_disconnect(
                f"Incorrect BeginString {begin}, expected {self.config.begin_string}",
                "protocol_error",
            )
            return None
        seq_text = fields.get(fix.MSG_SEQ_NUM)
        if seq_text is None or len(seq_text) > MAX_INT_DIGITS or not seq_text.isdigit():
            self._logout_and_disconnect(_BAD_SEQ_TEXT, "protocol_error")
            return None
        seq = int(seq_text)  # parse_uint's rule, without the call on every message
        repeated = None if len(fields) == msg.field_count else repeated_header_tag(msg)
        if repeated is not None:
            # Sequenced by neither value: reject it under the first one, as it stands.
            first = parse_uint(first_value(msg, fix.MSG_SEQ_NUM))
            if first is None:
                self._logout_and_disconnect(_BAD_SEQ_TEXT, "protocol_error")
                return None
            self._reject(
                first,
                msg_type,
                R.TAG_APPEARS_MORE_THAN_ONCE,
                repeated,
                "Tag appears more than once",
            )
            if first == self._next_target:
                self._advance(first)
            return None
        if (
            fields.get(fix.SENDER_COMP_ID) != self._target
            or fields.get(fix.TARGET_COMP_ID) != self._sender
        ):
            bad_tag = (
                fix.SENDER_COMP_ID
                if fields.get(fix.SENDER_COMP_ID) != self._target
                else fix.TARGET_COMP_ID
            )
            self._reject(seq, msg_type, R.COMPID_PROBLEM, bad_tag, "CompID problem")
            if seq == self._next_target:
                self._advance(seq)
            self._logout_and_disconnect("CompID problem", "protocol_error")
            return None
        max_latency = self.config.max_latency
        if max_latency is not None:
            sending_time = fields.get(fix.SENDING_TIME)
            if (
                sending_time is not None
                and not within_latency(sending_time, time.time(), max_latency)
                and is_utc_timestamp(sending_time)  # a malformed one is a Reject of its own
            ):
                self._reject(
                    seq,
                    msg_type,
                    R.SENDING_TIME_ACCURACY,
                    fix.SENDING_TIME,
                    "SendingTime accuracy problem",
                )
                if seq == self._next_target:
                    self._advance(seq)
                self._logout_and_disconnect("SendingTime accuracy problem", "protocol_error")
                return None
        return seq

    def _advance(self, seq: int) -> None:
        self._next_target = seq + 1
        self.store.set_next_target_seq(seq + 1)

    def _too_high(self, msg: FixMessage, msg_type: bytes, seq: int) -> None:
        if msg_type == MsgType.LOGOUT:
            self._on_logout(msg)
            return
        if msg_type == MsgType.RESEND_REQUEST:
            # Answer it now, even with our own request outstanding (simultaneous resends);
            # when the gap is filled its sequence number is simply consumed.
            if self._validate(msg, msg_type) is None:
                self._on_resend_request(msg)
            self._handled_early.add(seq)
        cfg = self.config
        if len(self._queue) >= cfg.max_queued:
            self._logout_and_disconnect(
                f"more than {cfg.max_queued} messages queued behind a gap", "protocol_error"
            )
            return
        size = len(msg.raw)
        if self._queued_bytes + size > cfg.max_queued_bytes:
            self._logout_and_disconnect(
                f"more than {cfg.max_queued_bytes} bytes queued behind a gap", "protocol_error"
            )
            return
        old = self._queue.get(seq)
        self._queued_bytes += size - (len(old.raw) if old is not None else 0)
        self._queue[seq] = msg
        self._request_resend(self._next_target, seq)

    def _too_low(self, msg: FixMessage, msg_type: bytes, seq: int) -> None:
        fields = msg.fields
        if fields.get(fix.POSS_DUP_FLAG) == b"Y":
            if self._orig_sending_time_ok(msg, msg_type, seq, consume=False):
                log.debug(
                    "event=duplicate_ignored session=%s seq=%d expected=%d",
                    self.name,
                    seq,
                    self._next_target,
                )
            return
        text = f"MsgSeqNum too low, expecting {self._next_target} but received {seq}"
        if msg_type == MsgType.LOGOUT:
            self._on_logout(msg)
            return
        self._logout_and_disconnect(text, "seq_too_low")

    def _orig_sending_time_ok(
        self, msg: FixMessage, msg_type: bytes, seq: int, consume: bool
    ) -> bool:
        """PossDup rules: OrigSendingTime required (except on SequenceReset) and not later
        than SendingTime; a violation is rejected (and the latter logs out)."""
        fields = msg.fields
        orig = fields.get(fix.ORIG_SENDING_TIME)
        if orig is None:
            if msg_type == MsgType.SEQUENCE_RESET:
                return True
            self._reject(
                seq, msg_type, R.REQUIRED_TAG_MISSING, fix.ORIG_SENDING_TIME, "Required tag missing"
            )
            if consume:
                self._advance(seq)
            return False
        try:
            orig_at = parse_utc_timestamp(orig)
            sent_at = parse_utc_timestamp(fields.get(fix.SENDING_TIME, b""))
        except ValueError:
            self._reject(
                seq,
                msg_type,
                R.INCORRECT_DATA_FORMAT,
                fix.ORIG_SENDING_TIME,
                "Incorrect data format for value",
            )
            if consume:
                self._advance(seq)
            return False
        if orig_at > sent_at:
            self._reject(
                seq,
                msg_type,
                R.SENDING_TIME_ACCURACY,
                fix.ORIG_SENDING_TIME,
                "SendingTime accuracy problem",
            )
            if consume:
                self._advance(seq)
            self._logout_and_disconnect(
                "OrigSendingTime (122) later than SendingTime (52)", "protocol_error"
            )
            return False
        return True

    def _drain_queue(self) -> None:
        queue = self._queue
        while self._conn is not None and self._sm.state is not _DISCONNECTING:
            seq = self._next_target
            msg = queue.pop(seq, None)
            if msg is None:
                break
            self._queued_bytes -= len(msg.raw)
            if seq in self._handled_early:
                self._handled_early.discard(seq)
                self._advance(seq)
                continue
            self._process(msg, msg.fields.get(fix.MSG_TYPE, b""), seq)
        if queue:
            for stale in [s for s in queue if s < self._next_target]:
                self._queued_bytes -= len(queue.pop(stale).raw)
                self._handled_early.discard(stale)
        else:
            self._queued_bytes = 0

    def _request_resend(self, begin: int, seen: int) -> None:
        """Ask for everything from `begin` on, unless a request covering it is still open."""
        until = self._resend_until
        if until is not None and self._next_target <= until:
            self._resend_until = max(until, seen)
            return
        self._resend_until = seen
        self._send_admin(MsgType.RESEND_REQUEST, b"7=%d\x0116=0\x01" % begin)
        self.metrics.resend_requests_out.inc()
        log.info(
            "event=resend_request_sent session=%s begin=%d end=0 received_seq=%d",
            self.name,
            begin,
            seen,
        )

    # -- inbound: in-order processing ------------------------------------------------------

    def _process(self, msg: FixMessage, msg_type: bytes, seq: int) -> None:
        problem = session_problem(msg, msg_type, self.config.validate_msg_type)
        if problem is not None:
            reason, tag, text = problem
            self._reject(seq, msg_type, reason, tag, text)
            self._advance(seq)
            return
        if msg.fields.get(fix.POSS_DUP_FLAG) == b"Y" and not self._orig_sending_time_ok(
            msg, msg_type, seq, consume=True
        ):
            return
        if msg_type not in _ADMIN:
            self._deliver(msg, msg_type, seq)
            return
        if msg_type == MsgType.HEARTBEAT:
            self._advance(seq)
        elif msg_type == MsgType.TEST_REQUEST:
            self._advance(seq)
            self._send_admin(MsgType.HEARTBEAT, b"112=" + msg.fields[fix.TEST_REQ_ID] + b"\x01")
        elif msg_type == MsgType.RESEND_REQUEST:
            self._advance(seq)
            self._on_resend_request(msg)
        elif msg_type == MsgType.SEQUENCE_RESET:
            self._on_gap_fill(msg, seq)
        elif msg_type == MsgType.REJECT:
            self._advance(seq)
            self.metrics.rejects_in.inc()
            log.warning(
                "event=session_reject_received session=%s ref_seq=%s ref_tag=%s reason=%s text=%r",
                self.name,
                msg.get_str(fix.REF_SEQ_NUM),
                msg.get_str(fix.REF_TAG_ID, "-"),
                msg.get_str(fix.SESSION_REJECT_REASON, "-"),
                msg.get_str(fix.TEXT, ""),
            )
        elif msg_type == MsgType.LOGOUT:
            self._advance(seq)
            self._on_logout(msg)
        else:  # a second Logon while logged on
            self._advance(seq)
            self._logout_and_disconnect("Logon received while already logged on", "protocol_error")

    def _validate(self, msg: FixMessage, msg_type: bytes) -> Problem | None:
        return session_problem(msg, msg_type, self.config.validate_msg_type)

    def _reject(self, ref_seq: int, ref_type: bytes, reason: int, tag: int, text: str) -> None:
        body = b"45=%d\x01" % ref_seq
        if tag:
            body += b"371=%d\x01" % tag
        if ref_type and ref_type.isalnum():
            body += b"372=" + ref_type + b"\x01"
        body += b"373=%d\x0158=" % reason + text.encode() + b"\x01"
        self._send_admin(MsgType.REJECT, body)
        self.metrics.rejects_out.inc()
        log.warning(
            "event=session_reject_sent session=%s ref_seq=%d ref_msg_type=%s ref_tag=%d "
            "reason=%d text=%r",
            self.name,
            ref_seq,
            ref_type.decode(errors="replace"),
            tag,
            reason,
            text,
        )

    def _on_gap_fill(self, msg: FixMessage, seq: int) -> None:
        new_seq = int(msg.fields[fix.NEW_SEQ_NO])
        self.metrics.gap_fills_in.inc()
        if new_seq <= seq:
            self._reject(
                seq,
                MsgType.SEQUENCE_RESET,
                R.VALUE_INCORRECT,
                fix.NEW_SEQ_NO,
                f"attempt to lower sequence number, invalid value NewSeqNo={new_seq}",
            )
            self._advance(seq)
            return
        self._next_target = new_seq
        self.store.set_next_target_seq(new_seq)

    def _on_sequence_reset(self, msg: FixMessage, seq: int) -> None:
        """SequenceReset-Reset: its own MsgSeqNum is ignored; NewSeqNo may only move forward."""
        problem = self._validate(msg, MsgType.SEQUENCE_RESET)
        if problem is not None:
            self._reject(seq, MsgType.SEQUENCE_RESET, *problem)
            return
        new_seq = int(msg.fields[fix.NEW_SEQ_NO])
        expected = self._next_target
        if new_seq > expected:
            log.info("event=sequence_reset session=%s from=%d to=%d", self.name, expected, new_seq)
            self._next_target = new_seq
            self.store.set_next_target_seq(new_seq)
            self._drain_queue()
        elif new_seq == expected:
            log.warning(
                "event=sequence_reset_noop session=%s new_seq_no=%d reason=equals_expected",
                self.name,
                new_seq,
            )
        else:
            self._reject(
                seq,
                MsgType.SEQUENCE_RESET,
                R.VALUE_INCORRECT,
                fix.NEW_SEQ_NO,
                f"attempt to lower sequence number, invalid value NewSeqNo={new_seq}",
            )

    # -- logon / logout --------------------------------------------------------------------

    def _send_logon(self, reset: bool) -> None:
        if reset:
            self.store.reset()
            self._next_sender = self._next_target = 1
        self._reset_sent = reset
        body = b"98=0\x01108=" + format_heartbeat(self._heartbeat) + b"\x01"
        if reset:
            body += b"141=Y\x01"
        cfg = self.config
        if cfg.role is Role.INITIATOR:
            if cfg.username is not None:
                body += b"553=" + cfg.username.encode() + b"\x01"
            if cfg.password is not None:
                body += b"554=" + cfg.password.encode() + b"\x01"
        self._logon_seq = self._send_admin(MsgType.LOGON, body)

    def _on_logon(self, msg: FixMessage) -> None:
        fields = msg.fields
        cfg = self.config
        if fields.get(fix.BEGIN_STRING) != self._begin:
            begin = fields.get(fix.BEGIN_STRING, b"").decode(errors="replace")
            self._logout_and_disconnect(
                f"Incorrect BeginString {begin}, expected {cfg.begin_string}", "logon_refused"
            )
            return
        if (
            fields.get(fix.SENDER_COMP_ID) != self._target
            or fields.get(fix.TARGET_COMP_ID) != self._sender
        ):
            self._logout_and_disconnect("CompID problem", "logon_refused")
            return
        seq = parse_uint(fields.get(fix.MSG_SEQ_NUM))
        if seq is None:
            self._logout_and_disconnect(_BAD_SEQ_TEXT, "logon_refused")
            return
        repeated = repeated_header_tag(msg)
        if repeated is not None:
            self._logout_and_disconnect(
                f"Tag appears more than once: {repeated} in the Logon", "logon_refused"
            )
            return
        try:
            heartbeat = _heartbeat(fields.get(fix.HEART_BT_INT))
        except ValueError as exc:
            self._logout_and_disconnect(str(exc), "logon_refused")
            return
        bad_flag = flag_problem(fields, MsgType.LOGON)
        if bad_flag is not None:
            # No Reject before logon (FIX): the Logout names the tag instead.
            self._logout_and_disconnect(bad_flag.text, "logon_refused")
            return
        if cfg.role is Role.ACCEPTOR and (cfg.username is not None or cfg.password is not None):
            user = fields.get(fix.USERNAME, b"").decode(errors="replace")
            if (cfg.username is not None and user != cfg.username) or (
                cfg.password is not None
                and fields.get(fix.PASSWORD, b"").decode(errors="replace") != cfg.password
            ):
                log.warning(
                    "event=logon_refused session=%s peer=%s username=%r reason=bad_credentials",
                    self.name,
                    self._conn.peer if self._conn is not None else "?",
                    user,
                )
                self._observe_logon(passed=False)
                self._logout_and_disconnect("Invalid username or password", "logon_refused")
                return
            self._observe_logon(passed=True)
        reset = fields.get(fix.RESET_SEQ_NUM_FLAG) == b"Y"
        confirm = False
        if reset and not self._reset_sent:
            if not cfg.accept_reset:
                self._logout_and_disconnect("ResetSeqNumFlag not accepted", "logon_refused")
                return
            if cfg.role is Role.ACCEPTOR:
                self.store.reset()
                self._next_sender = 1
            else:
                confirm = self._reset_by_acceptor()
            self._next_target = 1
            self.store.set_next_target_seq(1)
            self._reset_sent = cfg.role is Role.ACCEPTOR
        expected = self._next_target
        if seq < expected:
            self._logout_and_disconnect(
                f"MsgSeqNum too low, expecting {expected} but received {seq}", "seq_too_low"
            )
            return
        if cfg.role is Role.ACCEPTOR:
            self._heartbeat = heartbeat
            self._send_logon_reply(reset)
        elif confirm:
            self._send_logon(reset=True)
        self._sm.fire(SessionEvent.LOGON_COMPLETED)
        self._was_logged_on = True
        self._cancel_timer("logon")
        if seq == expected:
            self._advance(seq)
        else:
            self._handled_early.add(seq)
            self._queue[seq] = msg
            self._queued_bytes += len(msg.raw)
            self._request_resend(expected, seq)
        if reset and not cfg.reset_logon_consumes_seq:
            self._numbers_from_one()
        if confirm and self._loop is not None:
            self._echo_until = self._loop.time() + cfg.logon_timeout
        self._start_heartbeat_timers()
        self.metrics.logged_on.set(1)
        log.info(
            "event=logged_on session=%s heartbeat_s=%s reset=%s next_sender_seq=%d "
            "next_target_seq=%d",
            self.name,
            self._heartbeat,
            reset,
            self._next_sender,
            self._next_target,
        )
        self._logged_on.set()
        try:
            self.application.on_logon(self)
        except Exception:
            log.exception("event=application_error session=%s callback=on_logon", self.name)

    def _reset_by_acceptor(self) -> bool:
        """The acceptor answered our Logon with ResetSeqNumFlag=Y though we did not ask: it
        restarted both numberings, so ours restarts too (our old messages are void: a resend of
        them would replay a past epoch). Our Logon already counts as message 1 of the new
        numbering if that was its number; otherwise we confirm with a Logon 141=Y numbered 1,
        as QuickFIX, QuickFIX/J and OnixS do. Either way our next outbound is 2. Returns
        whether to send that confirmation."""
        ours = self._logon_seq
        log.warning(
            "event=session_reset_by_peer session=%s at=logon requested=false our_logon_seq=%d "
            "action=%s",
            self.name,
            ours,
            "none" if ours == 1 else "confirm",
        )
        if ours != 1:
            return True  # _send_logon(reset=True) resets the store and numbers it 1
        self.store.reset()
        self._next_sender = 2
        self.store.set_next_sender_seq(2)
        return False

    def _on_reset_logon(self, msg: FixMessage) -> None:
        """A Logon with ResetSeqNumFlag=Y while logged on: the peer resets both sequence
        numbers in session (24-hour and weekly sessions do). As FIX and QuickFIX do: both
        sides start again at 1 and the answer is a Logon with 141=Y; anything queued for the
        old numbering is dropped."""
        fields = msg.fields
        cfg = self.config
        if (
            fields.get(fix.BEGIN_STRING) != self._begin
            or fields.get(fix.SENDER_COMP_ID) != self._target
            or fields.get(fix.TARGET_COMP_ID) != self._sender
        ):
            self._logout_and_disconnect("CompID or BeginString problem in a reset Logon",
                                        "protocol_error")  # fmt: skip
            return
        if not cfg.accept_reset:
            self._logout_and_disconnect("ResetSeqNumFlag not accepted", "protocol_error")
            return
        seq = parse_uint(fields.get(fix.MSG_SEQ_NUM))
        if seq != 1:
            self._logout_and_disconnect(
                f"a Logon with ResetSeqNumFlag=Y must have MsgSeqNum 1, got {seq}",
                "protocol_error",
            )
            return
        loop = self._loop
        if loop is not None and loop.time() < self._echo_until:
            # The answer to our confirmation of the acceptor's reset (a QuickFIX acceptor
            # answers it as if it were a request, restarting its numbering once more):
            # answering it in turn would start an endless exchange of Logons.
            self._echo_until = 0.0
            self._forget_inbound_gaps()
            self._advance(1)
            if not cfg.reset_logon_consumes_seq:
                self._numbers_from_one()
            log.info("event=reset_confirmation_answered session=%s action=none", self.name)
            return
        self.store.reset()
        self._forget_inbound_gaps()
        self._next_sender = 1
        self._next_target = 1
        self._advance(1)
        self._send_logon_reply(True)
        if not cfg.reset_logon_consumes_seq:
            self._numbers_from_one()
        log.warning("event=session_reset_by_peer session=%s next_sender_seq=%d "
                    "next_target_seq=%d", self.name, self._next_sender, self._next_target)  # fmt: skip

    def _forget_inbound_gaps(self) -> None:
        """Messages queued behind a gap, and what a resend was to fill: void once the
        connection or the numbering they belong to is gone."""
        self._queue.clear()
        self._queued_bytes = 0
        self._handled_early.clear()
        self._resend_until = None

    def _numbers_from_one(self) -> None:
        """After a reset Logon by a peer whose Logon does not consume a sequence number."""
        self._next_sender = self._next_target = 1
        self.store.set_next_sender_seq(1)
        self.store.set_next_target_seq(1)

    def _observe_logon(self, passed: bool) -> None:
        observer = self.logon_observer
        if observer is not None and self._conn is not None:
            observer(self._conn, passed)

    def _send_logon_reply(self, reset: bool) -> None:
        body = b"98=0\x01108=" + format_heartbeat(self._heartbeat) + b"\x01"
        if reset:
            body += b"141=Y\x01"
        self._send_admin(MsgType.LOGON, body)

    def _on_logon_refused(self, msg: FixMessage) -> None:
        log.error("event=logon_refused session=%s text=%r", self.name, msg.get_str(fix.TEXT, ""))
        self._sm.fire(SessionEvent.LOGOUT_RECEIVED)
        self._disconnect("logon_refused", "")

    def _on_logout(self, msg: FixMessage) -> None:
        text = msg.get_str(fix.TEXT, "")
        if self._sm.state is _ACTIVE:
            log.info("event=logout_received session=%s text=%r action=reply", self.name, text)
            self._send_logout("")
        else:
            log.info("event=logout_confirmed session=%s text=%r", self.name, text)
        self._sm.fire(SessionEvent.LOGOUT_RECEIVED)
        self._disconnect("logout", "")

    def _send_logout(self, text: str) -> None:
        body = b"58=" + text.encode() + b"\x01" if text else b""
        self._send_admin(MsgType.LOGOUT, body)

    def _logout_and_disconnect(self, text: str, reason: str) -> None:
        log.error(
            "event=session_error session=%s reason=%s text=%r action=logout_and_disconnect",
            self.name,
            reason,
            text,
        )
        self._send_logout(text)
        self._disconnect(reason, text)

    def _disconnect(self, reason: str, text: str, flush: bool = True) -> None:
        conn = self._conn
        if conn is None:
            return
        if self._sm.can(SessionEvent.DISCONNECT):
            self._sm.fire(SessionEvent.DISCONNECT)
        if not self._disconnect_reason:
            self._disconnect_reason = (
                reason if reason in self.metrics.disconnects else "protocol_error"
            )
        if text and reason not in ("logout", "local_stop"):
            log.debug("event=disconnecting session=%s reason=%s text=%r", self.name, reason, text)
        if flush:
            self._flush()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        conn.close()

    def _call_app_logout(self, reason: str) -> None:
        try:
            self.application.on_logout(self, reason)
        except Exception:
            log.exception("event=application_error session=%s callback=on_logout", self.name)

    # -- resend ----------------------------------------------------------------------------

    def _on_resend_request(self, msg: FixMessage) -> None:
        begin = int(msg.fields[fix.BEGIN_SEQ_NO])
        end = int(msg.fields[fix.END_SEQ_NO])
        self.metrics.resend_requests_in.inc()
        if not self._resend_allowed():
            return
        last = self._next_sender - 1
        if end == 0 or end > last:
            end = last
        log.info("event=resend_request_received session=%s begin=%d end=%d", self.name, begin, end)
        if begin < 1 or begin > end:
            # Nothing we sent is in that range: say so (a silent peer looks like a lost one).
            text = (
                f"BeginSeqNo {begin} is not a sequence number"
                if begin < 1
                else f"BeginSeqNo {begin} is beyond the last message sent ({last})"
                if begin > last
                else f"BeginSeqNo {begin} is after EndSeqNo {end}"
            )
            seq = msg.fields.get(fix.MSG_SEQ_NUM, b"0")
            self._reject(int(seq) if seq.isdigit() else 0, MsgType.RESEND_REQUEST,
                         R.VALUE_INCORRECT, fix.BEGIN_SEQ_NO, text)  # fmt: skip
            return
        conn = self._conn
        task = asyncio.get_running_loop().create_task(self._resend(begin, end, conn))
        self._resend_tasks.add(task)
        task.add_done_callback(self._resend_tasks.discard)

    def _resend_allowed(self) -> bool:
        """At most `max_resend_requests` answered per `resend_window`: one small request can
        ask for the whole history, so a flood of them is refused with a Logout."""
        cfg = self.config
        now = asyncio.get_running_loop().time()
        times = self._resend_times
        while times and now - times[0] > cfg.resend_window:
            times.popleft()
        if len(times) >= cfg.max_resend_requests:
            self.metrics.resend_requests_refused.inc()
            self._logout_and_disconnect(
                f"more than {cfg.max_resend_requests} ResendRequests in {cfg.resend_window} s",
                "protocol_error",
            )
            return False
        times.append(now)
        return True

    async def _resend(self, begin: int, end: int, conn: FixConnection | None) -> None:
        try:
            stored = await self.store.messages(begin, end)
        except StoreError as exc:
            log.error("event=resend_failed session=%s error=%s action=gap_fill", self.name, exc)
            stored = []
        if self._conn is not conn or conn is None:
            return
        now = utc_timestamp()
        seq = begin
        resent = gap_filled = 0
        for stored_seq, raw in stored:
            try:
                original = FixMessage.decode(raw)
            except GarbledError:
                continue
            try:
                allowed = self.application.allow_resend(self, original)
            except Exception:
                log.exception("event=application_error session=%s callback=allow_resend", self.name)
                allowed = True
            if not allowed:
                continue
            if stored_seq > seq:
                self._send_gap_fill(seq, stored_seq, now)
                gap_filled += 1
            self._out.append(possdup_copy(self._begin, self._header_mid, original, stored_seq, now))
            self.metrics.count_out(original.msg_type)
            resent += 1
            seq = stored_seq + 1
            if len(self._out) >= RESEND_CHUNK:
                # Bounded memory however long the history: write a chunk, wait for the socket.
                self._flush()
                await conn.drained()
                if self._conn is not conn:
                    return
        if seq <= end:
            self._send_gap_fill(seq, end + 1, now)
            gap_filled += 1
        log.info(
            "event=resend_done session=%s begin=%d end=%d resent=%d gap_fills=%d",
            self.name,
            begin,
            end,
            resent,
            gap_filled,
        )
        self._flush()

    def _send_gap_fill(self, seq: int, new_seq: int, now: bytes) -> None:
        self._out.append(gap_fill(self._begin, self._header_mid, seq, new_seq, now))
        self.metrics.count_out(MsgType.SEQUENCE_RESET)
        self.metrics.gap_fills_out.inc()

    # -- timers ----------------------------------------------------------------------------

    def _set_timer(self, name: str, delay: float, callback: object) -> None:
        assert callable(callback)
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(delay, callback)

    def _set_timer_at(self, name: str, when: float, callback: object) -> None:
        assert callable(callback)
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_at(when, callback)

    def _cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _start_heartbeat_timers(self) -> None:
        if self._heartbeat <= 0:
            # HeartBtInt 0: no heartbeats, no TestRequests, silence is never a timeout. A dead
            # peer would then hold the session (and its CompID) for ever: TCP keepalive, which
            # a quiet but live peer answers, finds it instead.
            if self._conn is not None:
                self._conn.keep_alive()
            return
        self._set_timer_at("heartbeat", self._last_sent + self._heartbeat, self._on_heartbeat_timer)
        self._set_timer_at(
            "receive",
            self._last_received + TEST_REQUEST_FACTOR * self._heartbeat,
            self._on_receive_timer,
        )

    def _on_heartbeat_timer(self) -> None:
        if self._conn is None or self._loop is None:
            return
        if self._sm.state in (_ACTIVE, SessionState.LOGOUT_SENT):
            if self._loop.time() - self._last_sent >= self._heartbeat * 0.999:
                self._send_admin(MsgType.HEARTBEAT)
                self._flush()
            self._set_timer_at(
                "heartbeat", self._last_sent + self._heartbeat, self._on_heartbeat_timer
            )

    def _on_receive_timer(self) -> None:
        if self._conn is None or self._loop is None:
            return
        silence = self._loop.time() - self._last_received
        hb = self._heartbeat
        if silence >= TIMEOUT_FACTOR * hb * 0.999:
            log.error(
                "event=heartbeat_timeout session=%s silence_s=%.3f heartbeat_s=%s action=disconnect",
                self.name,
                silence,
                hb,
            )
            self._disconnect("heartbeat_timeout", "")
            return
        if silence >= TEST_REQUEST_FACTOR * hb * 0.999:
            if self._test_request_id is None:
                self._test_request_id = b"TEST-%d" % next(self._test_request_ids)
                self._send_admin(MsgType.TEST_REQUEST, b"112=" + self._test_request_id + b"\x01")
                self._flush()
                log.info("event=test_request_sent session=%s silence_s=%.3f", self.name, silence)
            when = self._last_received + TIMEOUT_FACTOR * hb
        else:
            when = self._last_received + TEST_REQUEST_FACTOR * hb
        self._set_timer_at("receive", when, self._on_receive_timer)

    def _on_logon_timeout(self) -> None:
        if self._sm.state is not _ACTIVE and self._conn is not None:
            log.error(
                "event=logon_timeout session=%s timeout_s=%s action=disconnect",
                self.name,
                self.config.logon_timeout,
            )
            self._disconnect("logon_timeout", "")

    def _on_logout_timeout(self) -> None:
        if self._conn is not None:
            log.warning(
                "event=logout_timeout session=%s timeout_s=%s action=disconnect",
                self.name,
                self.config.logout_timeout,
            )
            self._disconnect("logout", "")


def _heartbeat(value: bytes | None) -> float:
    """HeartBtInt (108) as seconds, from 0 (FIX: no heartbeats) to below a day; a decimal is
    accepted (rlexec's own fractional heartbeats). Raises ValueError with the Logout text."""
    if value is None:
        raise ValueError("HeartBtInt (108) missing")
    seconds = math.nan
    if len(value) <= MAX_INT_DIGITS:
        with suppress(ValueError):
            seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError("HeartBtInt (108) invalid: not a number of seconds")
    if seconds < 0:
        raise ValueError(f"HeartBtInt (108) invalid: must not be negative, got {seconds:g}")
    if seconds >= 86_400:
        raise ValueError(f"HeartBtInt (108) invalid: must be below 86400 s, got {seconds:g}")
    return seconds
