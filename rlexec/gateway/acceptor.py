"""The acceptor: a TCP server that routes each connection to its session by CompID.

Everything before a successful Logon is bounded here: connections open at once, bytes a
connection may buffer, the time it may take to send a Logon, and failed logons per CompID
and per peer address (then a lockout, refused without an answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from rlexec.gateway.config import AcceptorConfig, Role
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.logon_guard import LogonGuard
from rlexec.gateway.message import FixMessage
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.gateway.session import FixSession
from rlexec.gateway.tags import SENDER_COMP_ID, TARGET_COMP_ID

log = logging.getLogger("rlexec.gateway")


class FixAcceptor:
    """Listens on host:port (port 0 picks a free one) for the given acceptor-role sessions.

    A connection whose first message names no configured session (SenderCompID /
    TargetCompID) is logged and closed; one for a session that is already connected too.
    """

    def __init__(
        self,
        sessions: Iterable[FixSession],
        host: str = "127.0.0.1",
        port: int = 0,
        unbound_timeout: float | None = None,
        limits: AcceptorConfig | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        if limits is None:
            limits = AcceptorConfig()
        if unbound_timeout is not None:
            limits = replace(limits, unbound_timeout=unbound_timeout)
        self.limits = limits
        self._sessions: dict[tuple[bytes, bytes], FixSession] = {}
        for session in sessions:
            cfg = session.config
            if cfg.role is not Role.ACCEPTOR:
                raise ConfigError("role", f"session {session.name} is not an acceptor session")
            key = (cfg.target_comp_id.encode(), cfg.sender_comp_id.encode())
            if key in self._sessions:
                raise ConfigError("sender_comp_id", f"session {session.name} is configured twice")
            self._sessions[key] = session
            session.logon_observer = self._logon_checked
        if not self._sessions:
            raise ConfigError("sessions", "an acceptor needs at least one session")
        self.metrics = (
            metrics if metrics is not None else next(iter(self._sessions.values())).metrics.family
        )
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._open: set[FixConnection] = set()
        self._guard = LogonGuard(
            limits.max_failed_logons, limits.lockout_s, limits.max_tracked_peers
        )
        self._max_body = max(s.config.max_body_length for s in self._sessions.values())

    @property
    def sessions(self) -> list[FixSession]:
        return list(self._sessions.values())

    @property
    def port(self) -> int:
        """The port actually listened on (useful after binding port 0)."""
        if self._server is None:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        for session in self._sessions.values():
            await session.open()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: FixConnection(
                router=self._route,
                max_body_length=self._max_body,
                unbound_timeout=self.limits.unbound_timeout,
                max_unauthenticated_bytes=self.limits.max_unauthenticated_bytes,
                gate=self._admit,
                refused=self._refused,
                on_close=self._open.discard,
            ),
            self.host,
            self._port,
        )
        log.info(
            "event=acceptor_listening host=%s port=%d sessions=%d",
            self.host,
            self.port,
            len(self._sessions),
        )

    async def stop(self, logout: bool = True, grace: float = 2.0) -> None:
        """Stop listening, log every connected session out (or drop it), close the stores."""
        if self._server is not None:
            self._server.close()
        sessions = list(self._sessions.values())
        if logout:
            await asyncio.gather(
                *(
                    asyncio.wait_for(s.logout("acceptor shutting down"), grace)
                    for s in sessions
                    if s.is_logged_on
                ),
                return_exceptions=True,
            )
        for session in sessions:
            await session.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FixAcceptor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._open)

    def _admit(self, conn: FixConnection) -> bool:
        if len(self._open) >= self.limits.max_connections:
            return False
        self._open.add(conn)
        return True

    def _refused(self, conn: FixConnection, reason: str) -> None:
        self.metrics.connections_refused.labels(reason).inc()

    def _route(self, conn: FixConnection, first: FixMessage) -> FixSession | None:
        sender = first.get(SENDER_COMP_ID, b"") or b""
        target = first.get(TARGET_COMP_ID, b"") or b""
        now = asyncio.get_running_loop().time()
        host = _host(conn.peer)
        comp = sender.decode(errors="replace")
        locked = max(
            self._guard.locked_for("peer:" + host, now), self._guard.locked_for("comp:" + comp, now)
        )
        if locked > 0:
            log.warning(
                "event=connection_refused peer=%s sender_comp_id=%r reason=locked_out "
                "locked_for_s=%.1f",
                conn.peer,
                comp,
                locked,
            )
            self._refused(conn, "locked_out")
            return None
        session = self._sessions.get((sender, target))
        if session is None:
            log.warning(
                "event=unknown_comp_id peer=%s sender_comp_id=%r target_comp_id=%r action=disconnect",
                conn.peer,
                comp,
                target.decode(errors="replace"),
            )
            self._refused(conn, "unknown_comp_id")
            self._failed("peer:" + host, now)
            return None
        if session.connection is not None:
            log.warning(
                "event=connection_refused session=%s peer=%s reason=already_connected",
                session.name,
                conn.peer,
            )
            self._refused(conn, "already_connected")
            return None
        return session

    def _logon_checked(self, conn: FixConnection, passed: bool) -> None:
        """A session's verdict on a Logon's credentials: count failures, forgive success."""
        session = conn.session
        keys = ["peer:" + _host(conn.peer)]
        if session is not None:
            keys.append("comp:" + session.config.target_comp_id)
        if passed:
            for key in keys:
                self._guard.succeeded(key)
            return
        now = asyncio.get_running_loop().time()
        for key in keys:
            self._failed(key, now)

    def _failed(self, key: str, now: float) -> None:
        lockout = self._guard.failed(key, now)
        if lockout:
            log.warning("event=logon_locked_out key=%s lockout_s=%.1f", key, lockout)


def _host(peer: str) -> str:
    """The address part of "host:port" (the port changes with every connection)."""
    return peer.rpartition(":")[0] or peer
