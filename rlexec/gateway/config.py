"""Session settings, validated once when the session is built and frozen afterwards."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from rlexec.gateway.errors import ConfigError


class Role(Enum):
    """Who opens the connection: the initiator (rlexec's service) or the acceptor (a venue)."""

    INITIATOR = "initiator"
    ACCEPTOR = "acceptor"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One FIX session. Times are in seconds; fractions are allowed so tests can run fast.

    HeartBtInt is an integer on the wire in FIX; a fractional `heartbeat_interval` is sent as
    a decimal, which rlexec accepts from rlexec but mainstream engines will not.
    """

    sender_comp_id: str
    target_comp_id: str
    role: Role = Role.INITIATOR
    begin_string: str = "FIX.4.4"
    heartbeat_interval: float = 30.0
    """HeartBtInt the initiator proposes; an acceptor adopts whatever the initiator sends.
    Must be positive: rlexec's own sessions always heartbeat, since heartbeats are how a trading
    session notices a dead peer within seconds (a peer's HeartBtInt 0 is accepted, and then
    TCP keepalive finds a dead peer, in about a minute)."""
    reset_on_logon: bool = False
    """Initiator: send ResetSeqNumFlag=Y on every Logon (start each connection at 1)."""
    accept_reset: bool = True
    """Honour a counterparty's ResetSeqNumFlag=Y; if False such a Logon is refused."""
    reset_logon_consumes_seq: bool = True
    """After a mutual reset the Logons are seq 1, so the next message is 2 (FIX). Some
    counterparties number from 1 again after the Logon exchange: set False for them."""
    logon_timeout: float = 10.0
    logout_timeout: float = 2.0
    username: str | None = None
    """Initiator: sent as Username (553). Acceptor: required in the Logon when set."""
    password: str | None = None
    """Initiator: sent as Password (554). Acceptor: required in the Logon when set."""
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    max_latency: float | None = 120.0
    """SendingTime (52) must be within this many seconds of our clock; None disables the check."""
    max_body_length: int = 1 << 20
    validate_msg_type: bool = True
    """Reject (reason 11) MsgTypes FIX 4.4 does not define."""
    max_queued: int = 100_000
    """Out-of-order messages held while a gap is being filled before the session gives up."""
    max_queued_bytes: int = 16 << 20
    """...and their total size in bytes (a count alone lets 1 MiB messages pile up)."""
    max_resend_requests: int = 20
    """ResendRequests answered per `resend_window`; one more logs the counterparty out."""
    resend_window: float = 10.0
    max_write_buffer: int = 16 << 20
    """Bytes the socket may hold unsent before the counterparty is dropped as a slow consumer."""

    def __post_init__(self) -> None:
        for key in ("sender_comp_id", "target_comp_id", "begin_string"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value or not _is_fix_text(value):
                raise ConfigError(key, f"must be non-empty printable ASCII, got {value!r}")
        if self.sender_comp_id == self.target_comp_id:
            raise ConfigError("target_comp_id", "must differ from sender_comp_id")
        if not isinstance(self.role, Role):
            raise ConfigError("role", f"must be a Role, got {self.role!r}")
        for key in (
            "heartbeat_interval",
            "logon_timeout",
            "logout_timeout",
            "reconnect_min",
            "reconnect_max",
        ):
            _check_time(key, getattr(self, key), allow_zero=False)
        if self.reconnect_max < self.reconnect_min:
            raise ConfigError("reconnect_max", "must be at least reconnect_min")
        if self.max_latency is not None:
            _check_time("max_latency", self.max_latency, allow_zero=False)
        for key in ("username", "password"):
            value = getattr(self, key)
            if value is not None and (not value or not _is_fix_text(value)):
                raise ConfigError(key, "must be non-empty printable ASCII when given")
        if self.max_body_length < 256:
            raise ConfigError(
                "max_body_length", f"must be at least 256, got {self.max_body_length}"
            )
        for key in ("max_queued", "max_queued_bytes", "max_resend_requests"):
            _check_count(key, getattr(self, key), 1)
        _check_time("resend_window", self.resend_window, allow_zero=False)
        _check_count("max_write_buffer", self.max_write_buffer, 64 << 10)

    @property
    def session_id(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    def reversed(self, role: Role) -> SessionConfig:
        """The same session seen from the other side (handy for tests and the simulator)."""
        from dataclasses import replace

        return replace(
            self,
            sender_comp_id=self.target_comp_id,
            target_comp_id=self.sender_comp_id,
            role=role,
        )


@dataclass(frozen=True, slots=True)
class AcceptorConfig:
    """Bounds an acceptor keeps before and around logon, whoever connects."""

    unbound_timeout: float = 10.0
    """A connection that has not sent a routable Logon by then is closed."""
    max_connections: int = 256
    """Open connections at once; one more is closed as soon as it is accepted."""
    max_unauthenticated_bytes: int = 64 << 10
    """Bytes a connection may hold in a partial frame before it is logged on."""
    max_failed_logons: int = 5
    """Failed logons in a row, per CompID and per peer address, before a lockout."""
    lockout_s: float = 60.0
    """First lockout; it doubles with each further failure, up to 64 times this."""
    max_tracked_peers: int = 10_000
    """Peer addresses and CompIDs whose failures are remembered (the oldest are forgotten)."""

    def __post_init__(self) -> None:
        _check_time("unbound_timeout", self.unbound_timeout, allow_zero=False)
        _check_count("max_connections", self.max_connections, 1)
        _check_count("max_unauthenticated_bytes", self.max_unauthenticated_bytes, 1024)
        _check_count("max_failed_logons", self.max_failed_logons, 1)
        _check_time("lockout_s", self.lockout_s, allow_zero=True)
        _check_count("max_tracked_peers", self.max_tracked_peers, 1)


def _check_count(key: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, f"must be an integer of at least {minimum}, got {value!r}")


def _is_fix_text(value: str) -> bool:
    return value.isascii() and value.isprintable() and "\x01" not in value


def _check_time(key: str, value: object, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(key, f"must be a finite number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(key, f"must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")


def format_heartbeat(seconds: float) -> bytes:
    """HeartBtInt as sent: an integer when it is one, else a short decimal."""
    if float(seconds).is_integer():
        return b"%d" % int(seconds)
    return repr(float(seconds)).encode()
