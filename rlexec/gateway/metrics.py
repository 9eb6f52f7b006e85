"""Prometheus metrics of the FIX gateway, pre-bound per session so the hot path does no lookups.

One `GatewayMetrics` per registry holds the metric families; each session gets a
`SessionMetrics` with its labelled children already resolved. Labels are the session id,
direction, MsgType and disconnect reason: bounded sets, never an order id.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from rlexec.gateway.tags import ADMIN_MSG_TYPES, MsgType

DISCONNECT_REASONS = (
    "logout",
    "peer_closed",
    "heartbeat_timeout",
    "logon_timeout",
    "logon_refused",
    "protocol_error",
    "seq_too_low",
    "local_stop",
)
_COMMON_TYPES = (
    *sorted(ADMIN_MSG_TYPES),
    MsgType.NEW_ORDER_SINGLE,
    MsgType.EXECUTION_REPORT,
    MsgType.ORDER_CANCEL_REQUEST,
    MsgType.ORDER_CANCEL_REPLACE_REQUEST,
    MsgType.ORDER_CANCEL_REJECT,
    MsgType.MARKET_DATA_SNAPSHOT,
    MsgType.MARKET_DATA_INCREMENTAL,
)


class GatewayMetrics:
    """The metric families, registered once in `registry` (a fresh private one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "rlexec_fix_messages_total",
            "FIX messages by session, direction and MsgType",
            ["session", "direction", "msg_type"],
            registry=r,
        )
        self.resend_requests = Counter(
            "rlexec_fix_resend_requests_total",
            "ResendRequests sent (out) and answered (in)",
            ["session", "direction"],
            registry=r,
        )
        self.gap_fills = Counter(
            "rlexec_fix_gap_fills_total",
            "SequenceReset-GapFill messages sent (out) and received (in)",
            ["session", "direction"],
            registry=r,
        )
        self.rejects = Counter(
            "rlexec_fix_session_rejects_total",
            "Session-level Rejects (35=3) sent (out) and received (in)",
            ["session", "direction"],
            registry=r,
        )
        self.garbled = Counter(
            "rlexec_fix_garbled_messages_total",
            "Inbound frames ignored as garbled (no sequence number consumed)",
            ["session"],
            registry=r,
        )
        self.disconnects = Counter(
            "rlexec_fix_disconnects_total",
            "Connections ended, by reason",
            ["session", "reason"],
            registry=r,
        )
        self.logged_on = Gauge(
            "rlexec_fix_logged_on", "1 while the session is logged on", ["session"], registry=r
        )
        self.next_sender_seq = Gauge(
            "rlexec_fix_next_sender_seq",
            "MsgSeqNum of the next message we send",
            ["session"],
            registry=r,
        )
        self.next_target_seq = Gauge(
            "rlexec_fix_next_target_seq",
            "MsgSeqNum we expect next from the counterparty",
            ["session"],
            registry=r,
        )

    def for_session(self, session_id: str) -> SessionMetrics:
        return SessionMetrics(self, session_id)


class SessionMetrics:
    """One session's labelled children, resolved up front."""

    def __init__(self, family: GatewayMetrics, session_id: str) -> None:
        self._family = family
        self.session_id = session_id
        self.messages_in = {
            t: family.messages.labels(session_id, "in", t.decode()) for t in _COMMON_TYPES
        }
        self.messages_out = {
            t: family.messages.labels(session_id, "out", t.decode()) for t in _COMMON_TYPES
        }
        self.resend_requests_out = family.resend_requests.labels(session_id, "out")
        self.resend_requests_in = family.resend_requests.labels(session_id, "in")
        self.gap_fills_out = family.gap_fills.labels(session_id, "out")
        self.gap_fills_in = family.gap_fills.labels(session_id, "in")
        self.rejects_out = family.rejects.labels(session_id, "out")
        self.rejects_in = family.rejects.labels(session_id, "in")
        self.garbled = family.garbled.labels(session_id)
        self.disconnects = {r: family.disconnects.labels(session_id, r) for r in DISCONNECT_REASONS}
        self.logged_on = family.logged_on.labels(session_id)

    def count_in(self, msg_type: bytes) -> None:
        child = self.messages_in.get(msg_type)
        if child is None:
            child = self._new_type(self.messages_in, "in", msg_type)
        child.inc()

    def count_out(self, msg_type: bytes) -> None:
        child = self.messages_out.get(msg_type)
        if child is None:
            child = self._new_type(self.messages_out, "out", msg_type)
        child.inc()

    def _new_type(self, table: dict[bytes, Counter], direction: str, msg_type: bytes) -> Counter:
        # Only FIX-shaped MsgTypes get their own series, so garbage cannot explode cardinality.
        label = msg_type.decode() if msg_type.isalnum() and len(msg_type) <= 2 else "other"
        child: Counter = self._family.messages.labels(self.session_id, direction, label)
        if label != "other":
            table[msg_type] = child
        return child

    def track_sequences(self, sender: Callable[[], float], target: Callable[[], float]) -> None:
        """Read the next sequence numbers at scrape time instead of setting them per message."""
        self._family.next_sender_seq.labels(self.session_id).set_function(sender)
        self._family.next_target_seq.labels(self.session_id).set_function(target)
