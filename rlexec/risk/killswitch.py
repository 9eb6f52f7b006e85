"""The kill switch: ACTIVE → REDUCING → HALTED as a `market.fsm` transition table, latched and persisted.

- ACTIVE: every check applies.
- REDUCING: only orders that reduce the position (worst case, counting working orders).
- HALTED: no new orders at all; the service cancels every working order. Cancels always pass.

Going stricter is always allowed (`reduce`, `halt`; repeating one is a no-op, so a kill
button can be pressed twice). Going back needs a person: `re_enable` lifts REDUCING and
only `resume` lifts HALTED (to ACTIVE, or to REDUCING: two events of the table). Anything
else raises `IllegalTransitionError`. Every transition
records who, why and when, and is saved through a `KillSwitchStore` before it is reported:
a loosening one is saved *before* it takes effect (no save, no loosening), a tightening one
takes effect first (a store failure never keeps the switch open). A tightening whose save
failed leaves the switch *unsaved* (`persisted` is False) until a save succeeds: pressing the
same button again retries it, and so does `save_pending` (the service's timer); until then a
restart would come back in the last state the store holds. A switch whose store
holds HALTED comes back HALTED; one whose store is empty, unreadable or inconsistent comes
back HALTED too, unless a first start says so explicitly (`initialise=True`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from rlexec.market.fsm import StateMachine, TransitionTable
from rlexec.risk.errors import IllegalTransitionError


class KillState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def strictness(self) -> int:
        """0 ACTIVE, 1 REDUCING, 2 HALTED: a move to a higher one tightens, to a lower one loosens."""
        return _STRICTNESS[self]


_STRICTNESS = {KillState.ACTIVE: 0, KillState.REDUCING: 1, KillState.HALTED: 2}


class KillAction(StrEnum):
    """The events of the switch; the value is what a `Transition` records as its action."""

    REDUCE = "reduce"
    HALT = "halt"
    RE_ENABLE = "re_enable"
    RESUME = "resume"
    """HALTED → ACTIVE."""
    RESUME_REDUCING = "resume_reducing"
    """HALTED → REDUCING: a person lets the service only unwind."""


_A, _R, _H = KillState.ACTIVE, KillState.REDUCING, KillState.HALTED

TRANSITIONS: TransitionTable[KillState, KillAction] = TransitionTable(
    "kill switch",
    {
        (_A, KillAction.REDUCE): _R,
        (_A, KillAction.HALT): _H,
        (_R, KillAction.HALT): _H,
        (_R, KillAction.RE_ENABLE): _A,
        (_H, KillAction.RESUME): _A,
        (_H, KillAction.RESUME_REDUCING): _R,
    },
)
"""(state, action) → next state. Pairs not listed are illegal."""

FAIL_CLOSED = "fail_closed"
"""The action recorded when a switch comes up HALTED because its persisted state is missing,
unreadable or inconsistent."""
INITIALISE = "initialise"
"""The action recorded when a first start (`initialise=True`) saves ACTIVE into an empty store."""


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: KillState | None
    """None only for a `fail_closed` or `initialise` record: there was no known state before."""
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
    """The latched, persisted state machine. Every public change needs a who and a why.

    Start-up fails closed. With a store, the switch comes back in the saved state only if the
    snapshot is well-formed and consistent (the state is where its last transition led, and
    each transition follows from the one before); anything else — nothing saved, a store
    that raises, returns the wrong type or contradicts itself — comes back HALTED with a
    `fail_closed` record saying why, and only `resume` lifts it. A first start is explicit:
    `initialise=True` saves ACTIVE (an `initialise` record) into an *empty* store; a store
    that already holds a state keeps it, whatever the flag (so a restart never lifts HALTED).
    `store=None` is a pure in-memory switch (tests, backtests): nothing is persisted, so it
    starts ACTIVE.
    """

    def __init__(
        self,
        store: KillSwitchStore | None = None,
        *,
        clock: Callable[[], int],
        history_limit: int = 1000,
        initialise: bool = False,
    ) -> None:
        self._clock = clock
        self._history_limit = history_limit
        self._listeners: list[Listener] = []
        self._history: list[Transition] = []
        self._unsaved = False
        if store is None:
            self._store: KillSwitchStore = MemoryKillSwitchStore()
            self._machine = StateMachine(TRANSITIONS, KillState.ACTIVE)
            return
        self._store = store
        self._machine = StateMachine(TRANSITIONS, KillState.HALTED)
        try:
            loaded = store.load()
            if loaded is None:
                if not initialise:
                    self._fail_closed(
                        "no persisted kill-switch state (a first start needs initialise=True)"
                    )
                    return
                self._initialise()
                return
            state, history = _consistent(loaded)
        except Exception as exc:  # fail closed on anything the store throws at us
            self._fail_closed(f"kill-switch store unreadable: {type(exc).__name__}: {exc}")
            return
        self._machine.state = state
        self._history = history

    def _initialise(self) -> None:
        record = Transition(
            None,
            KillState.ACTIVE,
            INITIALISE,
            "risk",
            "first start: no persisted state",
            self._clock(),
        )
        try:
            self._store.save(KillSwitchSnapshot(KillState.ACTIVE, (record,)))
        except Exception as exc:  # no save, no ACTIVE
            self._fail_closed(f"first start could not save ACTIVE: {type(exc).__name__}: {exc}")
            return
        self._machine.state = KillState.ACTIVE
        self._history = [record]

    def _fail_closed(self, why: str) -> None:
        self._machine.state = KillState.HALTED
        self._history = [
            Transition(None, KillState.HALTED, FAIL_CLOSED, "risk", why, self._clock())
        ]

    @property
    def state(self) -> KillState:
        return self._machine.state

    @property
    def history(self) -> tuple[Transition, ...]:
        return tuple(self._history)

    @property
    def last(self) -> Transition | None:
        """The most recent transition, if any."""
        return self._history[-1] if self._history else None

    def snapshot(self) -> KillSwitchSnapshot:
        return KillSwitchSnapshot(self.state, tuple(self._history))

    def add_listener(self, listener: Listener) -> None:
        """Called after every transition (e.g. the service cancels every working order on HALTED)."""
        self._listeners.append(listener)

    # -- the table -----------------------------------------------------------------------

    def transition(
        self,
        to: KillState,
        *,
        action: KillAction | str,
        who: str,
        why: str,
        now_ns: int | None = None,
    ) -> Transition:
        """Take one transition of the table; anything not in it raises `IllegalTransitionError`.

        `to` is stated as well as `action` so that a caller's intent is checked, not assumed.
        """
        frm = self.state
        legal = [e for e in TRANSITIONS.events(frm) if TRANSITIONS.next(frm, e) is to]
        if not legal:
            raise IllegalTransitionError(f"kill switch: {frm} → {to} is not a legal transition")
        if action not in legal:
            raise IllegalTransitionError(
                f"kill switch: {frm} → {to} is taken by {legal[0].value!r}, not by {str(action)!r}"
            )
        event = KillAction(action)
        who, why = _attributed(event, who, why)
        at_ns = self._clock() if now_ns is None else now_ns
        if type(at_ns) is not int:
            raise IllegalTransitionError(
                f"kill switch: {event}: time must be integer ns, got {at_ns!r}"
            )
        record = Transition(frm, to, event.value, who, why, at_ns)
        history = [*self._history, record][-self._history_limit :]
        snapshot = KillSwitchSnapshot(to, tuple(history))
        if to.strictness < frm.strictness:
            # Loosening: persist first, so that a store failure leaves the switch closed.
            self._store.save(snapshot)
            self._unsaved = False
            self._machine.fire(event)
            self._history = history
            self._notify(record)
        else:
            # Tightening: take effect (and tell the listeners) even if the store fails.
            self._machine.fire(event)
            self._history = history
            self._unsaved = True
            try:
                self._store.save(snapshot)
                self._unsaved = False
            finally:
                self._notify(record)
        return record

    @property
    def persisted(self) -> bool:
        """False while a tightening has taken effect that the store has not saved."""
        return not self._unsaved

    def save_pending(self) -> bool:
        """Save the current state if a tightening's save failed; True once it is saved.
        Raises what the store raises (the switch stays as it is, unsaved)."""
        if self._unsaved:
            self._store.save(self.snapshot())
            self._unsaved = False
        return True

    def _notify(self, record: Transition) -> None:
        for listener in self._listeners:
            listener(record)

    # -- the named actions ---------------------------------------------------------------

    def halt(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        """ACTIVE/REDUCING → HALTED; None if already HALTED (an unsaved HALTED is saved
        again: pressing the button twice must not report success that a restart would undo)."""
        if self.state is KillState.HALTED:
            _attributed(KillAction.HALT, who, why)
            self.save_pending()
            return None
        return self.transition(
            KillState.HALTED, action=KillAction.HALT, who=who, why=why, now_ns=now_ns
        )

    def reduce(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        """ACTIVE → REDUCING; None if already REDUCING; from HALTED it raises (use resume)."""
        if self.state is KillState.REDUCING:
            _attributed(KillAction.REDUCE, who, why)
            self.save_pending()
            return None
        return self.transition(
            KillState.REDUCING, action=KillAction.REDUCE, who=who, why=why, now_ns=now_ns
        )

    def re_enable(self, who: str, why: str, now_ns: int | None = None) -> Transition:
        """REDUCING → ACTIVE, by a person."""
        return self.transition(
            KillState.ACTIVE, action=KillAction.RE_ENABLE, who=who, why=why, now_ns=now_ns
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
        if self.state is not KillState.HALTED:
            raise IllegalTransitionError(
                f"kill switch: resume lifts HALTED only; the state is {self.state}"
            )
        action = KillAction.RESUME_REDUCING if to is KillState.REDUCING else KillAction.RESUME
        return self.transition(to, action=action, who=who, why=why, now_ns=now_ns)


def _consistent(loaded: object) -> tuple[KillState, list[Transition]]:
    """The state and history of a loaded snapshot, or ValueError saying why they cannot be trusted."""
    if type(loaded) is not KillSwitchSnapshot:
        raise ValueError(f"the store returned {type(loaded).__name__}, not a KillSwitchSnapshot")
    state = loaded.state
    if not isinstance(state, KillState):
        raise ValueError(f"the saved state {state!r} is not a KillState")
    history = list(loaded.history) if isinstance(loaded.history, tuple) else None
    if history is None or not all(type(t) is Transition for t in history):
        raise ValueError("the saved history is not a sequence of transitions")
    if not history:
        if state is KillState.HALTED:
            return state, history
        raise ValueError(f"the saved state is {state} but no transition led to it")
    previous: Transition | None = None
    for record in history:
        frm = record.from_state
        if frm is None:
            if record.action not in (FAIL_CLOSED, INITIALISE):
                raise ValueError(
                    f"a {record.action!r} transition at {record.at_ns} has no from-state"
                )
        elif not any(TRANSITIONS.next(frm, e) is record.to_state for e in TRANSITIONS.events(frm)):
            raise ValueError(
                f"the saved history holds an illegal transition {frm} → {record.to_state} "
                f"at {record.at_ns}"
            )
        elif previous is not None and frm is not previous.to_state:
            raise ValueError(
                f"the saved history is broken: {previous.to_state} at {previous.at_ns}, "
                f"then a transition from {frm} at {record.at_ns}"
            )
        previous = record
    last = history[-1]
    if last.to_state is not state:
        raise ValueError(
            f"the saved state is {state} but the last transition ({last.action} by {last.who} "
            f"at {last.at_ns}) led to {last.to_state}"
        )
    return state, history


def _attributed(action: KillAction, who: str, why: str) -> tuple[str, str]:
    if not isinstance(who, str) or not who.strip():
        raise IllegalTransitionError(f"kill switch: {action} needs who (a non-empty name)")
    if not isinstance(why, str) or not why.strip():
        raise IllegalTransitionError(f"kill switch: {action} needs why (a non-empty reason)")
    return who.strip(), why.strip()
