"""A scripted FIX counterparty for session tests.

It speaks FIX over a real loopback socket but follows no session rules of its own, so a test
can send exactly the (possibly wrong) message a FIX session test case calls for and assert on
the session's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from rlexec.gateway.application import Application
from rlexec.gateway.clock import utc_timestamp
from rlexec.gateway.codec import FieldValue, FixFramer, encode_pairs
from rlexec.gateway.message import FixMessage
from rlexec.gateway.session import FixSession

TIMEOUT = 3.0


class PeerClosedError(Exception):
    """The session closed the connection."""


class FixPeer:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sender: str = "CLIENT",
        target: str = "VENUE",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.sender = sender
        self.target = target
        self.seq = 1
        self._framer = FixFramer()
        self._inbox: list[FixMessage] = []
        self.garbled: list[object] = []

    @classmethod
    async def connect(cls, port: int, sender: str = "CLIENT", target: str = "VENUE") -> FixPeer:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, sender, target)

    def build(
        self,
        msg_type: str,
        fields: Sequence[tuple[int, FieldValue]] = (),
        *,
        seq: int | None = None,
        sender: str | None = None,
        target: str | None = None,
        begin: str = "FIX.4.4",
        sending_time: bytes | None = None,
        poss_dup: bool = False,
        orig_sending_time: bytes | None = None,
        omit: Sequence[int] = (),
    ) -> bytes:
        if seq is None:
            seq = self.seq
            self.seq += 1
        header: list[tuple[int, FieldValue]] = [
            (8, begin),
            (35, msg_type),
            (49, sender or self.sender),
            (56, target or self.target),
            (34, seq),
        ]
        if poss_dup:
            header.append((43, "Y"))
        header.append((52, sending_time or utc_timestamp()))
        if orig_sending_time is not None:
            header.append((122, orig_sending_time))
        pairs = [p for p in [*header, *fields] if p[0] not in omit]
        return encode_pairs(pairs)

    async def send(
        self, msg_type: str, fields: Sequence[tuple[int, FieldValue]] = (), **kw: object
    ) -> bytes:
        raw = self.build(msg_type, fields, **kw)  # type: ignore[arg-type]
        await self.send_raw(raw)
        return raw

    async def send_raw(self, raw: bytes) -> None:
        self.writer.write(raw)
        async with asyncio.timeout(TIMEOUT):
            await self.writer.drain()

    async def receive(self, within: float = TIMEOUT) -> FixMessage:
        async with asyncio.timeout(within):
            while not self._inbox:
                data = await self.reader.read(65536)
                if not data:
                    raise PeerClosedError("session closed the connection")
                for item in self._framer.feed(data):
                    if isinstance(item, bytes):
                        self._inbox.append(FixMessage.decode(item))
                    else:
                        self.garbled.append(item)
            return self._inbox.pop(0)

    async def expect(self, msg_type: str, within: float = TIMEOUT) -> FixMessage:
        msg = await self.receive(within)
        assert msg.msg_type == msg_type.encode(), f"expected MsgType {msg_type}, got {msg!r}"
        return msg

    async def expect_closed(self, within: float = TIMEOUT) -> list[FixMessage]:
        """Read until the session closes the connection; return what arrived before."""
        got: list[FixMessage] = []
        try:
            while True:
                got.append(await self.receive(within))
        except PeerClosedError:
            return got

    async def expect_silence(self, seconds: float) -> None:
        try:
            msg = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {msg!r}")

    async def logon(
        self,
        heartbeat: float | int = 5,
        reset: bool = False,
        extra: Sequence[tuple[int, FieldValue]] = (),
        **kw: object,
    ) -> FixMessage:
        fields: list[tuple[int, FieldValue]] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        fields.extend(extra)
        await self.send("A", fields, **kw)
        return await self.expect("A")

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.writer.wait_closed()
        except (ConnectionError, TimeoutError):
            pass


class PeerServer:
    """A scripted acceptor: our initiator connects to it and the test drives the FixPeer."""

    def __init__(self, sender: str = "VENUE", target: str = "CLIENT") -> None:
        self.sender = sender
        self.target = target
        self.connections: asyncio.Queue[FixPeer] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.connections.put(FixPeer(reader, writer, self.sender, self.target))

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def next_peer(self, within: float = TIMEOUT) -> FixPeer:
        async with asyncio.timeout(within):
            return await self.connections.get()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            while not self.connections.empty():
                await self.connections.get_nowait().close()
            await self._server.wait_closed()


@dataclass
class Recorder(Application):
    """Records every callback; `messages` gets each application message as it arrives."""

    messages: asyncio.Queue[FixMessage] = field(default_factory=asyncio.Queue)
    received: list[FixMessage] = field(default_factory=list)
    logons: int = 0
    logouts: list[str] = field(default_factory=list)
    refuse_resend: bool = False

    def on_logon(self, session: FixSession) -> None:
        self.logons += 1

    def on_logout(self, session: FixSession, reason: str) -> None:
        self.logouts.append(reason)

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        self.received.append(message)
        self.messages.put_nowait(message)

    def allow_resend(self, session: FixSession, message: FixMessage) -> bool:
        return not self.refuse_resend

    async def next(self, within: float = TIMEOUT) -> FixMessage:
        async with asyncio.timeout(within):
            return await self.messages.get()


class DroppingProxy:
    """A loopback TCP proxy that forwards whole FIX frames and can lose one on purpose,
    so two real sessions can be shown to recover from a lost message."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropped = 0
        self._pattern: bytes | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    def drop_next(self, pattern: bytes) -> None:
        self._pattern = pattern

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        for src, dst, filtered in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pump(src, dst, filtered))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, filtered: bool
    ) -> None:
        framer = FixFramer()
        try:
            while data := await src.read(65536):
                for item in framer.feed(data):
                    assert isinstance(item, bytes)
                    if filtered and self._pattern is not None and self._pattern in item:
                        self._pattern = None
                        self.dropped += 1
                        continue
                    dst.write(item)
                await dst.drain()
        except ConnectionError:
            pass
        finally:
            dst.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
