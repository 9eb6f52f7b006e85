"""One TCP connection: an asyncio Protocol that frames bytes and hands them to a session.

A Protocol rather than streams because it is called with each chunk the kernel returns,
with no intermediate buffer or task switch; the framer does the buffering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from rlexec.gateway.codec import FixFramer, Garbled
from rlexec.gateway.message import FixMessage

if TYPE_CHECKING:
    from rlexec.gateway.session import FixSession

log = logging.getLogger("rlexec.gateway")

Router = Callable[["FixConnection", FixMessage], "FixSession | None"]
"""Acceptor side: picks the session for a connection from its first message, or None."""


class FixConnection(asyncio.Protocol):
    """Bytes in, frames out to the bound session; the session writes through `write()`."""

    def __init__(
        self,
        session: FixSession | None = None,
        router: Router | None = None,
        max_body_length: int = 1 << 20,
        unbound_timeout: float = 10.0,
    ) -> None:
        if (session is None) == (router is None):
            raise ValueError("a FixConnection needs exactly one of session or router")
        self.session = session
        self._router = router
        self.framer = FixFramer(max_body_length)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unbound_timeout = unbound_timeout
        self._unbound_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        if self.session is not None:
            self.session.connection_made(self)
        else:
            loop = asyncio.get_running_loop()
            self._unbound_timer = loop.call_later(self._unbound_timeout, self._unbound_timed_out)

    def data_received(self, data: bytes) -> None:
        items = self.framer.feed(data)
        if not items:
            return
        session = self.session
        if session is None:
            session = self._route(items)
            if session is None:
                return
        session.data_received(items)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._unbound_timer is not None:
            self._unbound_timer.cancel()
        held = self.framer.clear()
        if held:
            log.warning(
                "event=partial_message_dropped peer=%s bytes=%d reason=connection_closed",
                self.peer,
                len(held),
            )
        if self.session is not None:
            self.session.connection_lost(self, exc)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- used by the session -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        """Close after the bytes already written have gone out."""
        if self.transport is not None:
            self.transport.close()

    # -- acceptor routing ----------------------------------------------------------------

    def _route(self, items: list[bytes | Garbled]) -> FixSession | None:
        """Find the session from the first readable message; drop what comes before it."""
        assert self._router is not None
        while items:
            item = items[0]
            if isinstance(item, Garbled):
                log.warning(
                    "event=garbled_message peer=%s session=unbound reason=%r excerpt=%r",
                    self.peer,
                    item.reason,
                    item.excerpt,
                )
                del items[0]
                continue
            try:
                first = FixMessage.decode(item)
            except ValueError as exc:
                log.warning(
                    "event=garbled_message peer=%s session=unbound reason=%r", self.peer, str(exc)
                )
                del items[0]
                continue
            session = self._router(self, first)
            if session is None:
                self.close()
                return None
            if self._unbound_timer is not None:
                self._unbound_timer.cancel()
                self._unbound_timer = None
            self.session = session
            session.connection_made(self)
            return session
        return None

    def _unbound_timed_out(self) -> None:
        if self.session is None:
            log.warning(
                "event=logon_timeout peer=%s session=unbound timeout_s=%s",
                self.peer,
                self._unbound_timeout,
            )
            self.close()
