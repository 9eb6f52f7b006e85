"""The kill switch: ACTIVE → REDUCING → HALTED as an explicit transition table, latched and persisted.

- ACTIVE: every check applies.
- REDUCING: only orders that reduce the position (worst case, counting working orders).
- HALTED: no new orders at all; the service cancels every working order. Cancels always pass.

Going stricter is always allowed (`reduce`, `halt`; repeating one is a no-op, so a kill
button can be pressed twice). Going back needs a person: `re_enable` lifts REDUCING and
only `resume` lifts HALTED. Anything else raises `IllegalTransitionError`. Every transition
records who, why and when, and is saved through a `KillSwitchStore` before it is reported:
a loosening one is saved *before* it takes effect (no save, no loosening), a tightening one
takes effect first (a store failure never keeps the switch open). A switch whose store
holds HALTED comes back HALTED, and one whose store cannot be read comes back HALTED too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from rlexec.risk.errors import IllegalTransitionError


class KillState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


_RANK = {KillState.ACTIVE: 0, KillState.REDUCING: 1, KillState.HALTED: 2}

TRANSITIONS: Mapping[tuple[KillState, KillState], str] = {
    (KillState.ACTIVE, KillState.REDUCING): "reduce",
    (KillState.ACTIVE, KillState.HALTED): "halt",
    (KillState.REDUCING, KillState.HALTED): "halt",
    (KillState.REDUCING, KillState.ACTIVE): "re_enable",
    (KillState.HALTED, KillState.ACTIVE): "resume",
    (KillState.HALTED, KillState.REDUCING): "resume",
}
"""(from, to) → the only action that may take it. Pairs not listed are illegal."""

FAIL_CLOSED = "fail_closed"
"""The action recorded when a switch comes up HALTED because its store could not be read."""


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: KillState | None
    """None only for a `fail_closed` record: the state before start-up was unknown."""
    to_state: KillState
    action: str
    who: str
    why: str
    at_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": None if self.from_state is None else self.from_state.value,
            "to": self.to_state.value,
            "action": self.action,
            "who": self.who,
            "why": self.why,
            "at_ns": self.at_ns,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Transition:
        if not isinstance(raw, dict):
            raise ValueError(f"a transition must be an object, got {raw!r}")
        frm = raw.get("from")
        at_ns = raw.get("at_ns")
        if type(at_ns) is not int:
            raise ValueError(f"transition at_ns must be an integer, got {at_ns!r}")
        for key in ("action", "who", "why"):
            if not isinstance(raw.get(key), str):
                raise ValueError(f"transition {key} must be a string, got {raw.get(key)!r}")
        to = raw.get("to")
        if not isinstance(to, str) or (frm is not None and not isinstance(frm, str)):
            raise ValueError(f"transition states must be strings, got {frm!r} → {to!r}")
        return cls(
            from_state=None if frm is None else KillState(frm),
            to_state=KillState(to),
            action=raw["action"],
            who=raw["who"],
            why=raw["why"],
            at_ns=at_ns,
        )


@dataclass(frozen=True, slots=True)
class KillSwitchSnapshot:
    """What a store keeps: the state and the transitions that led to it, oldest first."""

    state: KillState
    history: tuple[Transition, ...] = ()


def snapshot_to_json(snapshot: KillSwitchSnapshot) -> str:
    return json.dumps(
        {
            "version": 1,
            "state": snapshot.state.value,
            "history": [t.to_dict() for t in snapshot.history],
        },
        separators=(",", ":"),
    )


def snapshot_from_json(text: str | bytes) -> KillSwitchSnapshot:
    """Parse what `snapshot_to_json` wrote; anything else raises ValueError."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ValueError("not a version-1 kill-switch snapshot")
    history = raw.get("history")
    state = raw.get("state")
    if not isinstance(state, str):
        raise ValueError(f"kill-switch snapshot state must be a string, got {state!r}")
    if not isinstance(history, list):
        raise ValueError("kill-switch snapshot history must be a list")
    return KillSwitchSnapshot(
        state=KillState(state),
        history=tuple(Transition.from_dict(t) for t in history),
    )


class KillSwitchStore(Protocol):
    """Where the switch keeps its state across restarts (memory here; Redis in the service)."""

    def load(self) -> KillSwitchSnapshot | None:
        """The saved snapshot, or None if nothing was ever saved. May raise if unreadable."""
        ...

    def save(self, snapshot: KillSwitchSnapshot) -> None: ...


class MemoryKillSwitchStore:
    """Keeps the JSON text, so that it round-trips exactly as a persistent store would."""

    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.saves = 0

    def load(self) -> KillSwitchSnapshot | None:
        return None if self.text is None else snapshot_from_json(self.text)

    def save(self, snapshot: KillSwitchSnapshot) -> None:
        self.text = snapshot_to_json(snapshot)
        self.saves += 1


Listener = Callable[[Transition], None]


class KillSwitch:
    """The latched, persisted state machine. Every public change needs a who and a why."""

    def __init__(
        self,
        store: KillSwitchStore | None = None,
        *,
        clock: Callable[[], int],
        history_limit: int = 1000,
    ) -> None:
        self._store: KillSwitchStore = store if store is not None else MemoryKillSwitchStore()
        self._clock = clock
        self._history_limit = history_limit
        self._listeners: list[Listener] = []
        try:
            loaded = self._store.load()
        except Exception as exc:  # fail closed on anything the store throws at us
            self._state = KillState.HALTED
            self._history: list[Transition] = [
                Transition(
                    None,
                    KillState.HALTED,
                    FAIL_CLOSED,
                    "risk",
                    f"kill-switch store unreadable: {type(exc).__name__}: {exc}",
                    clock(),
                )
            ]
        else:
            if loaded is None:
                self._state = KillState.ACTIVE
                self._history = []
            else:
                self._state = loaded.state
                self._history = list(loaded.history)

    @property
    def state(self) -> KillState:
        return self._state

    @property
    def history(self) -> tuple[Transition, ...]:
        return tuple(self._history)

    @property
    def last(self) -> Transition | None:
        """The most recent transition, if any."""
        return self._history[-1] if self._history else None

    def snapshot(self) -> KillSwitchSnapshot:
        return KillSwitchSnapshot(self._state, tuple(self._history))

    def add_listener(self, listener: Listener) -> None:
        """Called after every transition (e.g. the service cancels every working order on HALTED)."""
        self._listeners.append(listener)

    # -- the table -----------------------------------------------------------------------

    def transition(
        self, to: KillState, *, action: str, who: str, why: str, now_ns: int | None = None
    ) -> Transition:
        """Take one transition of the table; anything not in it raises `IllegalTransitionError`."""
        frm = self._state
        allowed = TRANSITIONS.get((frm, to))
        if allowed is None:
            raise IllegalTransitionError(f"kill switch: {frm} → {to} is not a legal transition")
        if action != allowed:
            raise IllegalTransitionError(
                f"kill switch: {frm} → {to} is taken by {allowed!r}, not by {action!r}"
            )
        who, why = _attributed(action, who, why)
        at_ns = self._clock() if now_ns is None else now_ns
        if type(at_ns) is not int:
            raise IllegalTransitionError(
                f"kill switch: {action}: time must be integer ns, got {at_ns!r}"
            )
        record = Transition(frm, to, action, who, why, at_ns)
        history = [*self._history, record][-self._history_limit :]
        snapshot = KillSwitchSnapshot(to, tuple(history))
        if _RANK[to] < _RANK[frm]:
            # Loosening: persist first, so that a store failure leaves the switch closed.
            self._store.save(snapshot)
            self._state, self._history = to, history
            self._notify(record)
        else:
            # Tightening: take effect (and tell the listeners) even if the store fails.
            self._state, self._history = to, history
            try:
                self._store.save(snapshot)
            finally:
                self._notify(record)
        return record

    def _notify(self, record: Transition) -> None:
        for listener in self._listeners:
            listener(record)

    # -- the named actions ---------------------------------------------------------------

    def halt(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        """ACTIVE/REDUCING → HALTED; None if already HALTED."""
        if self._state is KillState.HALTED:
            _attributed("halt", who, why)
            return None
        return self.transition(KillState.HALTED, action="halt", who=who, why=why, now_ns=now_ns)

    def reduce(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        """ACTIVE → REDUCING; None if already REDUCING; from HALTED it raises (use resume)."""
        if self._state is KillState.REDUCING:
            _attributed("reduce", who, why)
            return None
        return self.transition(KillState.REDUCING, action="reduce", who=who, why=why, now_ns=now_ns)

    def re_enable(self, who: str, why: str, now_ns: int | None = None) -> Transition:
        """REDUCING → ACTIVE, by a person."""
        return self.transition(
            KillState.ACTIVE, action="re_enable", who=who, why=why, now_ns=now_ns
        )

    def resume(
        self,
        who: str,
        why: str,
        now_ns: int | None = None,
        *,
        to: KillState = KillState.ACTIVE,
    ) -> Transition:
        """HALTED → ACTIVE (or → REDUCING, to let a person only unwind), by a person."""
        if self._state is not KillState.HALTED:
            raise IllegalTransitionError(
                f"kill switch: resume lifts HALTED only; the state is {self._state}"
            )
        return self.transition(to, action="resume", who=who, why=why, now_ns=now_ns)


def _attributed(action: str, who: str, why: str) -> tuple[str, str]:
    if not isinstance(who, str) or not who.strip():
        raise IllegalTransitionError(f"kill switch: {action} needs who (a non-empty name)")
    if not isinstance(why, str) or not why.strip():
        raise IllegalTransitionError(f"kill switch: {action} needs why (a non-empty reason)")
    return who.strip(), why.strip()
