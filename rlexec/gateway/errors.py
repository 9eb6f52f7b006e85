"""Gateway errors. Those a person can meet subclass RlexecError so the CLI prints one line."""

from __future__ import annotations

from rlexec.market.errors import IllegalTransitionError, RlexecError


class GatewayError(RlexecError):
    """Base of every error the FIX gateway raises on purpose."""


class ConfigError(GatewayError):
    """A session setting is invalid: names the setting and why."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"FIX session config {key}: {reason}")


class FieldError(GatewayError):
    """A field of a FIX message is missing or malformed: names the tag."""

    def __init__(self, tag: int, reason: str, msg_type: bytes = b"") -> None:
        self.tag = tag
        self.reason = reason
        self.msg_type = msg_type
        where = f" in MsgType {msg_type.decode(errors='replace')}" if msg_type else ""
        super().__init__(f"tag {tag}{where}: {reason}")


class SessionStateError(GatewayError, IllegalTransitionError):
    """An event arrived that the session state machine does not allow in its current state."""


class StoreError(GatewayError):
    """The session store cannot be read or written: names the backend and the location."""


class NotLoggedOnError(GatewayError):
    """An application message was sent while the session is not logged on."""
