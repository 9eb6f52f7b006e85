"""The initiator: connects, logs on, and reconnects with backoff until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rlexec.gateway.config import Role
from rlexec.gateway.connection import FixConnection
from rlexec.gateway.errors import ConfigError
from rlexec.gateway.session import FixSession

log = logging.getLogger("rlexec.gateway")


class FixInitiator:
    """Keeps one initiator-role session connected to host:port.

    After any disconnect other than our own `stop()` it reconnects, waiting `reconnect_min`
    seconds, doubling up to `reconnect_max` while connections keep failing, back to the
    minimum once a logon succeeds.
    """

    def __init__(self, session: FixSession, host: str, port: int) -> None:
        if session.config.role is not Role.INITIATOR:
            raise ConfigError("role", f"session {session.name} is not an initiator session")
        self.session = session
        self.host = host
        self.port = port
        self.connections = 0
        """Connections made so far (tests and probes read it)."""
        self.last_connect_error: str | None = None
        """Why the last connection attempt failed, if it did."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._conn: FixConnection | None = None

    async def start(self) -> None:
        await self.session.open()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, logout: bool = True, grace: float = 2.0) -> None:
        """Log out (waiting up to `grace` seconds for the answer), stop reconnecting, close the store."""
        self._stopping = True
        session = self.session
        if logout and session.is_logged_on:
            try:
                await asyncio.wait_for(session.logout(), grace)
            except TimeoutError:
                log.warning("event=logout_timeout session=%s timeout_s=%s", session.name, grace)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await session.close()

    async def __aenter__(self) -> FixInitiator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        cfg = self.session.config
        delay = cfg.reconnect_min
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                _, conn = await loop.create_connection(
                    lambda: FixConnection(
                        session=self.session, max_body_length=cfg.max_body_length
                    ),
                    self.host,
                    self.port,
                )
            except OSError as exc:
                self.last_connect_error = exc.strerror or str(exc)
                log.warning(
                    "event=connect_failed session=%s host=%s port=%d error=%r retry_in_s=%.2f",
                    self.session.name,
                    self.host,
                    self.port,
                    exc.strerror or str(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, cfg.reconnect_max)
                continue
            self.connections += 1
            self._conn = conn
            try:
                await asyncio.shield(conn.closed)
            finally:
                self._conn = None
            if self._stopping:
                break
            delay = (
                cfg.reconnect_min
                if self.session.was_logged_on
                else min(delay * 2, cfg.reconnect_max)
            )
            log.info(
                "event=reconnect_scheduled session=%s retry_in_s=%.2f", self.session.name, delay
            )
            await asyncio.sleep(delay)
