"""One TCP connection: an asyncio Protocol that frames bytes and hands them to a session.

A Protocol rather than streams because it is called with each chunk the kernel returns,
with no intermediate buffer or task switch; the framer does the buffering.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from rlexec.gateway.busy_poll import spinner_for
from rlexec.gateway.codec import FixFramer, Garbled
from rlexec.gateway.message import FixMessage

if TYPE_CHECKING:
    from rlexec.gateway.session import FixSession

log = logging.getLogger("rlexec.gateway")

Router = Callable[["FixConnection", FixMessage], "FixSession | None"]
"""Acceptor side: picks the session for a connection from its first message, or None."""
Gate = Callable[["FixConnection"], bool]
"""Acceptor side: whether a new connection may stay open (the connection cap)."""
Refused = Callable[["FixConnection", str], None]
"""Acceptor side: told when a connection is dropped before logon, with the reason."""

KEEPALIVE: Final = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
"""TCP keepalive for a session without heartbeats: first probe after 30 s idle, then every
10 s; 3 unanswered probes (a dead host, a half-open connection) close it, about a minute."""


class FixConnection(asyncio.Protocol):
    """Bytes in, frames out to the bound session; the session writes through `write()`."""

    def __init__(
        self,
        session: FixSession | None = None,
        router: Router | None = None,
        max_body_length: int = 1 << 20,
        unbound_timeout: float = 10.0,
        max_unauthenticated_bytes: int | None = None,
        gate: Gate | None = None,
        refused: Refused | None = None,
        on_close: Callable[[FixConnection], None] | None = None,
    ) -> None:
        if (session is None) == (router is None):
            raise ValueError("a FixConnection needs exactly one of session or router")
        self.session = session
        self._router = router
        self.framer = FixFramer(max_body_length)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._spinner = spinner_for(loop)
        """Busy polling after traffic (rlexec.gateway.busy_poll), None: off."""
        self._unbound_timeout = unbound_timeout
        self._unbound_timer: asyncio.TimerHandle | None = None
        self._max_unauthenticated = max_unauthenticated_bytes
        self._gate = gate
        self._refused = refused
        self._on_close = on_close
        self._writable: asyncio.Event | None = None
        """Set while the transport accepts more (None: never paused so far)."""

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        if self._gate is not None and not self._gate(self):
            self._refuse("too_many_connections")
            return
        if self.session is not None:
            self.session.connection_made(self)
        else:
            loop = asyncio.get_running_loop()
            self._unbound_timer = loop.call_later(self._unbound_timeout, self._unbound_timed_out)

    def data_received(self, data: bytes) -> None:
        if self._spinner is not None:
            self._spinner.touch()
        items = self.framer.feed(data)
        limit = self._max_unauthenticated
        if (
            limit is not None
            and self.framer.pending > limit
            and (self.session is None or not self.session.is_logged_on)
        ):
            self._refuse("unauthenticated_bytes")
            return
        if not items:
            return
        session = self.session
        if session is None:
            session = self._route(items)
            if session is None:
                return
        session.data_received(items)

    def pause_writing(self) -> None:
        """The socket is backed up: stop reading too, so a peer that does not read cannot
        make us produce more (resends, replies) than it takes."""
        if self._writable is None:
            self._writable = asyncio.Event()
        self._writable.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._writable is not None:
            self._writable.set()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    async def drained(self) -> None:
        """Until the transport takes writes again (at once if it is not paused)."""
        writable = self._writable
        if writable is not None and not writable.is_set():
            await writable.wait()

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
        if self._writable is not None:
            self._writable.set()
        if self.session is not None:
            self.session.connection_lost(self, exc)
        if self._on_close is not None:
            self._on_close(self)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- used by the session -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
            if self._spinner is not None:  # a reply is likely on its way
                self._spinner.touch()

    @property
    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def keep_alive(self) -> None:
        """Let the kernel probe the idle connection (see KEEPALIVE); options the platform
        lacks are skipped."""
        transport = self.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is None:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in KEEPALIVE:
                option = getattr(socket, name, None)
                if option is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError as exc:
            log.warning("event=keepalive_failed peer=%s error=%r", self.peer, exc)

    def close(self) -> None:
        """Close after the bytes already written have gone out."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping anything unsent (a peer that does not read)."""
        if self.transport is not None:
            self.transport.abort()

    def _refuse(self, reason: str) -> None:
        """Drop a connection that has not logged on, without an answer."""
        log.warning(
            "event=connection_refused peer=%s session=%s reason=%s buffered_bytes=%d",
            self.peer,
            self.session.name if self.session is not None else "unbound",
            reason,
            self.framer.pending,
        )
        if self._refused is not None:
            self._refused(self, reason)
        self.framer.clear()
        self.abort()

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
            if self._refused is not None:
                self._refused(self, "logon_timeout")
            self.close()
