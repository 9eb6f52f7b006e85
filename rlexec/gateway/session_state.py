"""The session state machine: an explicit transition table that refuses anything else, loudly."""

from __future__ import annotations

from enum import Enum
from typing import Final

from rlexec.gateway.errors import SessionStateError
from rlexec.market.fsm import TransitionTable


class SessionState(Enum):
    DISCONNECTED = "disconnected"
    AWAITING_LOGON = "awaiting_logon"
    """Acceptor: connected, the counterparty's Logon has not arrived yet."""
    LOGON_SENT = "logon_sent"
    """Initiator: connected, our Logon is out, the answer has not arrived yet."""
    ACTIVE = "active"
    """Logged on: application messages flow."""
    LOGOUT_SENT = "logout_sent"
    """We asked to log out and wait for the counterparty's Logout (or the timeout)."""
    DISCONNECTING = "disconnecting"
    """The connection is being closed; nothing more is processed from it."""


class SessionEvent(Enum):
    CONNECTED_AS_INITIATOR = "connected_as_initiator"
    CONNECTED_AS_ACCEPTOR = "connected_as_acceptor"
    LOGON_COMPLETED = "logon_completed"
    LOGOUT_SENT = "logout_sent"
    LOGOUT_RECEIVED = "logout_received"
    DISCONNECT = "disconnect"
    CONNECTION_LOST = "connection_lost"


_S = SessionState
_E = SessionEvent

TRANSITIONS: Final = TransitionTable[SessionState, SessionEvent](
    "session",
    {
        (_S.DISCONNECTED, _E.CONNECTED_AS_INITIATOR): _S.LOGON_SENT,
        (_S.DISCONNECTED, _E.CONNECTED_AS_ACCEPTOR): _S.AWAITING_LOGON,
        (_S.LOGON_SENT, _E.LOGON_COMPLETED): _S.ACTIVE,
        (_S.AWAITING_LOGON, _E.LOGON_COMPLETED): _S.ACTIVE,
        (_S.ACTIVE, _E.LOGOUT_SENT): _S.LOGOUT_SENT,
        (_S.LOGON_SENT, _E.LOGOUT_SENT): _S.LOGOUT_SENT,
        (_S.AWAITING_LOGON, _E.LOGOUT_SENT): _S.LOGOUT_SENT,
        (_S.ACTIVE, _E.LOGOUT_RECEIVED): _S.DISCONNECTING,
        (_S.LOGON_SENT, _E.LOGOUT_RECEIVED): _S.DISCONNECTING,
        (_S.LOGOUT_SENT, _E.LOGOUT_RECEIVED): _S.DISCONNECTING,
        (_S.AWAITING_LOGON, _E.DISCONNECT): _S.DISCONNECTING,
        (_S.LOGON_SENT, _E.DISCONNECT): _S.DISCONNECTING,
        (_S.ACTIVE, _E.DISCONNECT): _S.DISCONNECTING,
        (_S.LOGOUT_SENT, _E.DISCONNECT): _S.DISCONNECTING,
        (_S.DISCONNECTING, _E.DISCONNECT): _S.DISCONNECTING,
        (_S.AWAITING_LOGON, _E.CONNECTION_LOST): _S.DISCONNECTED,
        (_S.LOGON_SENT, _E.CONNECTION_LOST): _S.DISCONNECTED,
        (_S.ACTIVE, _E.CONNECTION_LOST): _S.DISCONNECTED,
        (_S.LOGOUT_SENT, _E.CONNECTION_LOST): _S.DISCONNECTED,
        (_S.DISCONNECTING, _E.CONNECTION_LOST): _S.DISCONNECTED,
    },
)
"""(state, event) -> next state. A pair that is not here is a bug, and raises."""


class SessionStateMachine:
    """Holds the current state; `fire()` moves it along TRANSITIONS or raises SessionStateError."""

    __slots__ = ("name", "state")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.state = SessionState.DISCONNECTED

    def fire(self, event: SessionEvent) -> SessionState:
        if not TRANSITIONS.allows(self.state, event):
            raise SessionStateError(
                f"session {self.name}: event {event.value} is not allowed in state "
                f"{self.state.value}"
            )
        self.state = TRANSITIONS.next(self.state, event)
        return self.state

    def can(self, event: SessionEvent) -> bool:
        return TRANSITIONS.allows(self.state, event)
