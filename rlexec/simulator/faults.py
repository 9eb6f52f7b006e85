"""Fault injection on a client's connection, so tests can watch a client recover.

Disconnects and delays are done by the venue itself (they need no access to the wire).
Skipping or garbling an outbound message must happen *after* the session has numbered
and stored it, so this wraps the connection's transport: the session still believes it
sent the message, the client never reads it intact, sees a sequence gap at the next one
and asks for a resend, which the session answers from its store.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, Final

from rlexec.gateway.tags import ADMIN_MSG_TYPES

_FRAME: Final = re.compile(rb"8=FIX.*?\x0110=\d{3}\x01", re.DOTALL)
_MSG_TYPE: Final = re.compile(rb"\x0135=([^\x01]*)\x01")


def garble(frame: bytes) -> bytes:
    """The same frame with a wrong checksum: any FIX engine discards it as garbled."""
    checksum = int(frame[-4:-1])
    return frame[:-4] + b"%03d\x01" % ((checksum + 1) % 256)


class FaultyTransport:
    """Wraps an asyncio transport; drops or garbles the N-th outbound application message."""

    def __init__(
        self,
        inner: asyncio.Transport,
        skip_message: int | None,
        garble_message: int | None,
        on_fault: Callable[[str, int], None],
    ) -> None:
        self._inner = inner
        self._skip = skip_message
        self._garble = garble_message
        self._on_fault = on_fault
        self.app_messages = 0
        """Application messages written through this connection so far."""

    def write(self, data: bytes) -> None:
        last = max(self._skip or 0, self._garble or 0)
        if self.app_messages >= last:
            self._inner.write(data)
            return
        out: list[bytes] = []
        for match in _FRAME.finditer(data):
            frame = match.group(0)
            kind = _MSG_TYPE.search(frame)
            if kind is not None and kind.group(1) not in ADMIN_MSG_TYPES:
                self.app_messages += 1
                n = self.app_messages
                if n == self._skip:
                    self._on_fault("skip_outbound", n)
                    continue
                if n == self._garble:
                    self._on_fault("garble_outbound", n)
                    frame = garble(frame)
            out.append(frame)
        if out:
            self._inner.write(b"".join(out))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
