"""The acceptor: a TCP server that routes each connection to its session by CompID."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from rlexec.gateway.config import Role
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.message import FixMessage
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
        unbound_timeout: float = 10.0,
    ) -> None:
        self._sessions: dict[tuple[bytes, bytes], FixSession] = {}
        for session in sessions:
            cfg = session.config
            if cfg.role is not Role.ACCEPTOR:
                raise ConfigError("role", f"session {session.name} is not an acceptor session")
            key = (cfg.target_comp_id.encode(), cfg.sender_comp_id.encode())
            if key in self._sessions:
                raise ConfigError("sender_comp_id", f"session {session.name} is configured twice")
            self._sessions[key] = session
        if not self._sessions:
            raise ConfigError("sessions", "an acceptor needs at least one session")
        self.host = host
        self._port = port
        self._unbound_timeout = unbound_timeout
        self._server: asyncio.Server | None = None
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
                unbound_timeout=self._unbound_timeout,
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

    def _route(self, conn: FixConnection, first: FixMessage) -> FixSession | None:
        sender = first.get(SENDER_COMP_ID, b"") or b""
        target = first.get(TARGET_COMP_ID, b"") or b""
        session = self._sessions.get((sender, target))
        if session is None:
            log.warning(
                "event=unknown_comp_id peer=%s sender_comp_id=%r target_comp_id=%r action=disconnect",
                conn.peer,
                sender.decode(errors="replace"),
                target.decode(errors="replace"),
            )
            return None
        if session.connection is not None:
            log.warning(
                "event=connection_refused session=%s peer=%s reason=already_connected",
                session.name,
                conn.peer,
            )
            return None
        return session
