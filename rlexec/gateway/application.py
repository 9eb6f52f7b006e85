"""What a session calls back into: subclass `Application` and override what you need."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlexec.gateway.message import FixMessage

if TYPE_CHECKING:
    from rlexec.gateway.session import FixSession


class Application:
    """Session callbacks. They run on the event loop inside the receive path: keep them short,
    never block, and send replies with `session.send()` (it only buffers; the write happens once
    the current batch of inbound messages is processed)."""

    def on_logon(self, session: FixSession) -> None:
        """The session is logged on and application messages may be sent."""

    def on_logout(self, session: FixSession, reason: str) -> None:
        """The session left the logged-on state (logout, disconnect, timeout: see `reason`)."""

    def on_message(self, session: FixSession, message: FixMessage) -> None:
        """An application message, in sequence order, exactly once per sequence number."""

    def allow_resend(self, session: FixSession, message: FixMessage) -> bool:
        """Whether a stored message may be resent on a ResendRequest; False gap-fills over it
        (for example an order that is too old to be sent again)."""
        return True
