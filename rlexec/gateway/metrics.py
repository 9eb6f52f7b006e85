"""Prometheus metrics of the FIX gateway, pre-bound per session so the hot path does no lookups.

One `GatewayMetrics` per registry holds the metric families; each session gets a
`SessionMetrics` with its labelled children already resolved. Labels are the session id,
direction, MsgType and disconnect reason: bounded sets, never an order id.

Messages by MsgType are counted in plain dicts (a dict increment, ~0.1 µs, instead of a
locked Counter.inc at ~1 µs, on every message) and turned into the
`rlexec_fix_messages_total` counter family only when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rlexec.gateway import busy_poll, codec
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
    "slow_consumer",
)
CONNECTION_REFUSALS = (
    "too_many_connections",
    "unauthenticated_bytes",
    "logon_timeout",
    "locked_out",
    "unknown_comp_id",
    "already_connected",
)
"""Why an acceptor dropped a connection before it was logged on (label values)."""
MD_ANOMALY_KINDS = (
    "rpt_seq_gap",
    "rpt_seq_behind",
    "message_rejected",
    "venue_time_jump",
    "venue_time_behind",
    "crossed_book",
)
"""What a market-data client refused or distrusted (label values)."""
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
        self._sessions: list[SessionMetrics] = []
        r.register(_MessageCollector(self._sessions))
        r.register(_BusyPollCollector())
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
        self.resend_requests_refused = Counter(
            "rlexec_fix_resend_requests_refused_total",
            "ResendRequests over the per-session rate limit (the counterparty is logged out)",
            ["session"],
            registry=r,
        )
        self.connections_refused = Counter(
            "rlexec_fix_connections_refused_total",
            "Connections an acceptor dropped before logon, by reason",
            ["reason"],
            registry=r,
        )
        for reason in CONNECTION_REFUSALS:
            self.connections_refused.labels(reason)
        self.md_anomalies = Counter(
            "rlexec_fix_market_data_anomalies_total",
            "Market-data events the client refused or distrusted, by kind: RptSeq gaps and "
            "backward steps, rejected messages, implausible venue timestamps",
            ["session", "kind"],
            registry=r,
        )
        self.codec_compiled = Gauge(
            "rlexec_fix_codec_compiled",
            "1 when the receive path's framing and field loops run compiled (receive_loops.c), "
            "0 when this install fell back to their Python reference (no C compiler at build)",
            registry=r,
        )
        self.codec_compiled.set(1 if codec.COMPILED else 0)
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
        for existing in self._sessions:
            if existing.session_id == session_id:
                return existing
        metrics = SessionMetrics(self, session_id)
        self._sessions.append(metrics)
        return metrics


class _BusyPollCollector(Collector):
    """How much of a core busy polling costs this process (rlexec.gateway.busy_poll)."""

    def collect(self) -> Iterator[Metric]:
        running = busy_poll.spinners()
        window = GaugeMetricFamily(
            "rlexec_fix_busy_poll_window_seconds",
            "How long the event loop polls after FIX traffic instead of sleeping (0: off)",
        )
        window.add_metric([], max((s.window_us for s in running), default=0) / 1e6)
        yield window
        polls = CounterMetricFamily(
            "rlexec_fix_busy_poll_iterations",
            "Event-loop iterations spent polling within a busy-poll window",
        )
        polls.add_metric([], sum(s.polls for s in running))
        yield polls


class _MessageCollector(Collector):
    """Exposes every session's per-MsgType message counts at scrape time."""

    def __init__(self, sessions: list[SessionMetrics]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "rlexec_fix_messages",
            "FIX messages by session, direction and MsgType",
            labels=["session", "direction", "msg_type"],
        )
        for session in self._sessions:
            for direction, counts in (("in", session.messages_in), ("out", session.messages_out)):
                merged: dict[str, int] = {}
                for msg_type, count in list(counts.items()):
                    label = _msg_type_label(msg_type)
                    merged[label] = merged.get(label, 0) + count
                for label, count in sorted(merged.items()):
                    family.add_metric([session.session_id, direction, label], count)
        yield family


_MAX_TYPES = 64


def _new_type(counts: dict[bytes, int], msg_type: bytes) -> tuple[bytes, int]:
    """A counter slot for a MsgType not seen before; beyond a bound, all share one ("other")."""
    if len(counts) >= _MAX_TYPES:
        return b"?", counts.get(b"?", 0)
    return msg_type, 0


def _msg_type_label(msg_type: bytes) -> str:
    # Only FIX-shaped MsgTypes get their own series, so garbage cannot explode cardinality.
    if msg_type.isalnum() and msg_type.isascii() and len(msg_type) <= 2:
        return msg_type.decode()
    return "other"


class SessionMetrics:
    """One session's labelled children, resolved up front."""

    def __init__(self, family: GatewayMetrics, session_id: str) -> None:
        self._family = family
        self.session_id = session_id
        self.messages_in: dict[bytes, int] = dict.fromkeys(_COMMON_TYPES, 0)
        self.messages_out: dict[bytes, int] = dict.fromkeys(_COMMON_TYPES, 0)
        self.resend_requests_out = family.resend_requests.labels(session_id, "out")
        self.resend_requests_in = family.resend_requests.labels(session_id, "in")
        self.gap_fills_out = family.gap_fills.labels(session_id, "out")
        self.gap_fills_in = family.gap_fills.labels(session_id, "in")
        self.rejects_out = family.rejects.labels(session_id, "out")
        self.rejects_in = family.rejects.labels(session_id, "in")
        self.garbled = family.garbled.labels(session_id)
        self.resend_requests_refused = family.resend_requests_refused.labels(session_id)
        self.disconnects = {r: family.disconnects.labels(session_id, r) for r in DISCONNECT_REASONS}
        self.logged_on = family.logged_on.labels(session_id)

    @property
    def family(self) -> GatewayMetrics:
        """The metric families this session's children belong to."""
        return self._family

    def count_in(self, msg_type: bytes) -> None:
        counts = self.messages_in
        n = counts.get(msg_type)
        if n is None:
            msg_type, n = _new_type(counts, msg_type)
        counts[msg_type] = n + 1

    def count_out(self, msg_type: bytes) -> None:
        counts = self.messages_out
        n = counts.get(msg_type)
        if n is None:
            msg_type, n = _new_type(counts, msg_type)
        counts[msg_type] = n + 1

    def counts(self) -> dict[str, int]:
        """The session-level counters as plain numbers (for probes, logs and tests)."""
        counters = {
            "rejects_received": self.rejects_in,
            "rejects_sent": self.rejects_out,
            "garbled_received": self.garbled,
            "resend_requests_sent": self.resend_requests_out,
            "resend_requests_received": self.resend_requests_in,
            "gap_fills_sent": self.gap_fills_out,
            "gap_fills_received": self.gap_fills_in,
        }
        out = {name: int(counter_value(c)) for name, c in counters.items()}
        for reason, child in self.disconnects.items():
            out[f"disconnects_{reason}"] = int(counter_value(child))
        return out

    def track_sequences(self, sender: Callable[[], float], target: Callable[[], float]) -> None:
        """Read the next sequence numbers at scrape time instead of setting them per message."""
        self._family.next_sender_seq.labels(self.session_id).set_function(sender)
        self._family.next_target_seq.labels(self.session_id).set_function(target)


def counter_value(counter: Counter) -> float:
    """The current value of a (labelled child) counter, through the public collect() API."""
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                return float(sample.value)
    return 0.0
