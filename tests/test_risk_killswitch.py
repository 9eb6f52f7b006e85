"""The kill switch: its transition table, attribution, persistence and restart behaviour."""

from __future__ import annotations

import itertools
import json

import pytest

from rlexec.market.errors import IllegalTransitionError as MarketIllegalTransitionError
from rlexec.market.fsm import TransitionTable
from rlexec.market.orders import Side
from rlexec.risk import (
    INITIALISE,
    TRANSITIONS,
    IllegalTransitionError,
    KillAction,
    KillState,
    KillSwitch,
    KillSwitchSnapshot,
    MemoryKillSwitchStore,
    Reason,
    RiskOverlay,
    Transition,
    snapshot_from_json,
    snapshot_to_json,
)
from rlexec.risk.decision import Denial
from rlexec.risk.killswitch import FAIL_CLOSED
from rlexec.risk.testing import T0, ManualClock, buy, limits, overlay

A, R, H = KillState.ACTIVE, KillState.REDUCING, KillState.HALTED


def switch_in(state: KillState, store: MemoryKillSwitchStore | None = None) -> KillSwitch:
    store = store if store is not None else MemoryKillSwitchStore()
    ks = KillSwitch(store, clock=ManualClock(), initialise=True)
    if state is R:
        ks.reduce("setup", "setup")
    elif state is H:
        ks.halt("setup", "setup")
    assert ks.state is state
    return ks


K = KillAction


def test_the_table_is_exactly_the_designed_one() -> None:
    assert isinstance(TRANSITIONS, TransitionTable)
    assert {(s, e): n for s, e, n in TRANSITIONS} == {
        (A, K.REDUCE): R,
        (A, K.HALT): H,
        (R, K.HALT): H,
        (R, K.RE_ENABLE): A,
        (H, K.RESUME): A,
        (H, K.RESUME_REDUCING): R,
    }


def test_the_table_refuses_with_the_shared_error() -> None:
    assert IllegalTransitionError is MarketIllegalTransitionError
    with pytest.raises(MarketIllegalTransitionError, match="kill switch: event resume"):
        TRANSITIONS.next(A, K.RESUME)


LEGAL = [(s, e, n) for s, e, n in TRANSITIONS]
REACHABLE = {(s, n) for s, _, n in LEGAL}


@pytest.mark.parametrize(("frm", "action", "to"), LEGAL)
def test_every_legal_transition_is_taken_and_recorded(
    frm: KillState, action: KillAction, to: KillState
) -> None:
    ks = switch_in(frm)
    record = ks.transition(to, action=action, who="carol", why="drill", now_ns=42)
    assert ks.state is to
    assert record == Transition(frm, to, action.value, "carol", "drill", 42)
    assert ks.history[-1] == record


@pytest.mark.parametrize(
    ("frm", "to"),
    [p for p in itertools.product(KillState, repeat=2) if p not in REACHABLE],
)
def test_every_other_pair_is_illegal(frm: KillState, to: KillState) -> None:
    ks = switch_in(frm)
    for action in KillAction:
        with pytest.raises(IllegalTransitionError, match="not a legal transition"):
            ks.transition(to, action=action, who="x", why="y")
    assert ks.state is frm


def test_the_wrong_action_for_a_legal_pair_is_illegal() -> None:
    ks = switch_in(H)
    with pytest.raises(IllegalTransitionError, match="taken by 'resume', not by 're_enable'"):
        ks.transition(A, action="re_enable", who="x", why="y")
    assert ks.state is H


@pytest.mark.parametrize(
    ("state", "call"),
    [
        (A, "re_enable"),
        (H, "re_enable"),
        (A, "resume"),
        (R, "resume"),
        (H, "reduce"),
    ],
)
def test_named_actions_from_the_wrong_state_raise(state: KillState, call: str) -> None:
    ks = switch_in(state)
    with pytest.raises(IllegalTransitionError):
        getattr(ks, call)("dave", "why not")
    assert ks.state is state


def test_pressing_halt_or_reduce_twice_is_a_no_op() -> None:
    ks = switch_in(A)
    assert ks.halt("a", "b") is not None
    n = len(ks.history)
    assert ks.halt("a", "again") is None
    assert len(ks.history) == n
    ks2 = switch_in(R)
    assert ks2.reduce("a", "again") is None


@pytest.mark.parametrize(("who", "why"), [("", "x"), ("  ", "x"), ("x", ""), ("x", " \n")])
def test_every_transition_needs_who_and_why(who: str, why: str) -> None:
    ks = switch_in(H)
    with pytest.raises(IllegalTransitionError, match="needs"):
        ks.resume(who, why)
    with pytest.raises(IllegalTransitionError, match="needs"):
        ks.halt(who, why)  # even the no-op
    assert ks.state is H


def test_resume_to_reducing_lets_a_person_only_unwind() -> None:
    ks = switch_in(H)
    assert ks.resume("erin", "unwind only", to=R).action == "resume_reducing"
    assert ks.state is R
    ks.re_enable("erin", "all clear")
    assert ks.state is A


def test_history_records_who_why_and_when_in_order() -> None:
    clock = ManualClock(1000)
    ks = KillSwitch(clock=clock)  # in memory: starts ACTIVE with nothing recorded
    ks.reduce("risk", "FILL_THROTTLE")
    clock.advance(5)
    ks.halt("alice", "loss")
    clock.advance(5)
    ks.resume("bob", "reviewed")
    assert [(t.from_state, t.to_state, t.who, t.why, t.at_ns) for t in ks.history] == [
        (A, R, "risk", "FILL_THROTTLE", 1000),
        (R, H, "alice", "loss", 1005),
        (H, A, "bob", "reviewed", 1010),
    ]


def test_listeners_hear_every_transition() -> None:
    ks = switch_in(A)
    heard: list[Transition] = []
    ks.add_listener(heard.append)
    ks.halt("a", "b")
    ks.resume("c", "d")
    assert [(t.from_state, t.to_state) for t in heard] == [(A, H), (H, A)]


# -- persistence ----------------------------------------------------------------------------


def test_json_round_trip() -> None:
    snap = KillSwitchSnapshot(
        H,
        (
            Transition(A, R, "reduce", "risk", "fills=51 in 10000 ms", 1),
            Transition(R, H, "halt", "ops — ü", 'quote "x"', 2),
            Transition(None, H, FAIL_CLOSED, "risk", "store unreadable", 3),
        ),
    )
    text = snapshot_to_json(snap)
    assert json.loads(text)["state"] == "HALTED"
    assert snapshot_from_json(text) == snap
    assert snapshot_from_json(text.encode()) == snap


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        "[]",
        '{"version": 2, "state": "ACTIVE", "history": []}',
        '{"version": 1, "state": "OPEN", "history": []}',
        '{"version": 1, "state": "ACTIVE"}',
        '{"version": 1, "state": "ACTIVE", "history": [{"to": "HALTED"}]}',
        '{"version": 1, "state": 1, "history": []}',
    ],
)
def test_malformed_snapshots_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        snapshot_from_json(text)


@pytest.mark.parametrize("state", [R, H])
def test_state_survives_a_restart(state: KillState) -> None:
    store = MemoryKillSwitchStore()
    first = switch_in(state, store)
    again = KillSwitch(store, clock=ManualClock())
    assert again.state is state
    assert again.history == first.history


def test_a_halted_overlay_comes_back_halted() -> None:
    store = MemoryKillSwitchStore()
    ov = overlay(store=store)
    ov.halt("alice", "end of day")
    restarted = overlay(store=store)
    assert restarted.state is H
    d = restarted.check(buy(10), T0)
    assert isinstance(d, Denial) and d.reason is Reason.HALTED
    assert "alice: end of day" in d.message
    restarted.resume("bob", "morning checks done")
    assert overlay(store=store).state is A


def test_an_unreadable_store_comes_back_halted() -> None:
    store = MemoryKillSwitchStore("{not json")
    ov = RiskOverlay(limits(), store=store, clock=ManualClock())
    assert ov.state is H
    (record,) = ov.history
    assert record.action == FAIL_CLOSED and record.from_state is None
    assert "unreadable" in record.why
    ov.resume("ops", "store repaired")
    assert snapshot_from_json(store.text or "").state is A


class FlakyStore(MemoryKillSwitchStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def save(self, snapshot: KillSwitchSnapshot) -> None:
        if self.broken:
            raise OSError("store down")
        super().save(snapshot)


def test_a_failing_store_never_keeps_the_switch_open() -> None:
    store = FlakyStore()
    ks = KillSwitch(store, clock=ManualClock(), initialise=True)
    store.broken = True
    with pytest.raises(OSError):
        ks.halt("alice", "panic")
    assert ks.state is H  # tightening took effect first
    with pytest.raises(OSError):
        ks.resume("bob", "ok")
    assert ks.state is H  # loosening needs the save first
    store.broken = False
    ks.resume("bob", "ok")
    assert ks.state is A
    assert KillSwitch(store, clock=ManualClock()).state is A


def test_an_unsaved_tightening_is_retried_until_the_store_takes_it() -> None:
    store = FlakyStore()
    ks = KillSwitch(store, clock=ManualClock(), initialise=True)
    store.broken = True
    with pytest.raises(OSError):
        ks.reduce("alice", "wobble")
    assert ks.state is R and not ks.persisted
    with pytest.raises(OSError):  # pressing again is no false success while it cannot save
        ks.reduce("alice", "again")
    with pytest.raises(OSError):
        ks.halt("alice", "panic")
    with pytest.raises(OSError):
        ks.halt("alice", "panic again")
    with pytest.raises(OSError):
        ks.save_pending()
    assert ks.state is H and not ks.persisted
    assert KillSwitch(store, clock=ManualClock()).state is A, "the store still holds ACTIVE"
    store.broken = False
    assert ks.save_pending() and ks.persisted
    restarted = KillSwitch(store, clock=ManualClock())
    assert restarted.state is H
    assert [t.action for t in restarted.history][-2:] == ["reduce", "halt"]
    saves = store.saves
    assert ks.save_pending() and store.saves == saves, "nothing to save: nothing written"


def test_a_second_press_saves_an_unsaved_halt() -> None:
    store = FlakyStore()
    ks = KillSwitch(store, clock=ManualClock(), initialise=True)
    store.broken = True
    with pytest.raises(OSError):
        ks.halt("alice", "panic")
    store.broken = False
    assert ks.halt("alice", "panic, once more") is None  # no new transition: the old one saved
    assert ks.persisted and KillSwitch(store, clock=ManualClock()).state is H


def test_history_is_bounded() -> None:
    store = MemoryKillSwitchStore()
    ks = KillSwitch(store, clock=ManualClock(), history_limit=4, initialise=True)
    for _ in range(5):
        ks.halt("a", "b")
        ks.resume("c", "d")
    assert len(ks.history) == 4
    assert len(snapshot_from_json(store.text or "").history) == 4


def test_an_overlay_whose_store_fails_still_stops() -> None:
    store = FlakyStore()
    ov = RiskOverlay(
        limits(max_daily_loss=100.0), store=store, clock=ManualClock(), initialise=True
    )
    ov.on_market("AAPL", 1_000_000, T0)
    store.broken = True
    with pytest.raises(OSError):
        ov.halt("alice", "panic")
    d = ov.check(buy(10), T0)
    assert isinstance(d, Denial) and d.reason is Reason.HALTED
    store.broken = False
    ov.resume("alice", "store back")
    # an automatic trip with a broken store: halted all the same, counted, not raised
    store.broken = True
    ov.on_fill("AAPL", Side.BUY, 100, 1_000_000, now_ns=T0)
    ov.on_market("AAPL", 980_000, T0)
    assert ov.state is H
    assert ov.n_store_errors == 1 and "store down" in (ov.last_store_error or "")
    # the timer retries the save, counting each failure, until the store takes it
    assert not ov.kill_persisted
    ov.on_time(T0)
    assert ov.n_store_errors == 2 and not ov.kill_persisted
    store.broken = False
    ov.on_time(T0)
    assert ov.kill_persisted and ov.n_store_errors == 2
    assert KillSwitch(store, clock=ManualClock()).state is H


# -- start-up fails closed (issue 13, item 11) ----------------------------------------------


def test_a_missing_state_comes_back_halted() -> None:
    store = MemoryKillSwitchStore()
    ov = RiskOverlay(limits(), store=store, clock=ManualClock())
    assert ov.state is H
    (record,) = ov.history
    assert (record.action, record.from_state, record.to_state) == (FAIL_CLOSED, None, H)
    assert "no persisted kill-switch state" in record.why and "initialise=True" in record.why
    ov.on_market("AAPL", 1_000_000, T0)
    d = ov.check(buy(10), T0)
    assert isinstance(d, Denial) and d.reason is Reason.HALTED
    assert "no persisted kill-switch state" in d.message
    assert store.text is None  # nothing written on the way up
    ov.resume("ops", "first start, reviewed")
    assert snapshot_from_json(store.text or "").state is A


def test_a_first_start_is_explicit_and_saved() -> None:
    store = MemoryKillSwitchStore()
    ks = KillSwitch(store, clock=ManualClock(7), initialise=True)
    assert ks.state is A
    (record,) = ks.history
    assert (record.action, record.from_state, record.to_state, record.at_ns) == (
        INITIALISE,
        None,
        A,
        7,
    )
    assert snapshot_from_json(store.text or "") == ks.snapshot()
    assert KillSwitch(store, clock=ManualClock()).state is A  # later starts need no flag


def test_initialise_never_lifts_a_saved_halt() -> None:
    store = MemoryKillSwitchStore()
    switch_in(H, store)
    again = KillSwitch(store, clock=ManualClock(), initialise=True)
    assert again.state is H
    assert again.history[-1].action == "halt"


def test_a_first_start_that_cannot_save_stays_halted() -> None:
    store = FlakyStore()
    store.broken = True
    ks = KillSwitch(store, clock=ManualClock(), initialise=True)
    assert ks.state is H
    assert "first start could not save ACTIVE: OSError: store down" in ks.history[-1].why


def test_without_a_store_nothing_persists_and_it_starts_active() -> None:
    assert KillSwitch(clock=ManualClock()).state is A
    assert RiskOverlay(limits(), clock=ManualClock()).state is A


class FixedStore:
    """A store that returns whatever it was given, as a broken backend might."""

    def __init__(self, value: object) -> None:
        self.value = value

    def load(self) -> KillSwitchSnapshot | None:
        return self.value  # type: ignore[return-value]

    def save(self, snapshot: KillSwitchSnapshot) -> None:
        self.value = snapshot


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"state": "ACTIVE", "history": []}, "returned dict, not a KillSwitchSnapshot"),
        ('{"version": 1}', "returned str, not a KillSwitchSnapshot"),
        (KillSwitchSnapshot("ACTIVE", ()), "'ACTIVE' is not a KillState"),  # type: ignore[arg-type]
        (KillSwitchSnapshot(A, [1, 2]), "not a sequence of transitions"),  # type: ignore[arg-type]
        (KillSwitchSnapshot(A, ("x",)), "not a sequence of transitions"),  # type: ignore[arg-type]
    ],
)
def test_a_store_returning_the_wrong_type_fails_closed(value: object, why: str) -> None:
    ks = KillSwitch(FixedStore(value), clock=ManualClock(), initialise=True)
    assert ks.state is H
    (record,) = ks.history
    assert record.action == FAIL_CLOSED
    assert why in record.why


HALT = Transition(A, H, "halt", "alice", "panic", 1)
RESUME = Transition(H, A, "resume", "bob", "ok", 2)
INIT = Transition(None, A, INITIALISE, "risk", "first start", 0)


@pytest.mark.parametrize(
    ("snapshot", "why"),
    [
        (KillSwitchSnapshot(A, (INIT, HALT)), "the saved state is ACTIVE but the last transition"),
        (KillSwitchSnapshot(R, (INIT,)), "the saved state is REDUCING but the last transition"),
        (KillSwitchSnapshot(A, ()), "the saved state is ACTIVE but no transition led to it"),
        (KillSwitchSnapshot(A, (INIT, RESUME)), "the saved history is broken"),
        (
            KillSwitchSnapshot(A, (Transition(H, H, "halt", "x", "y", 1), RESUME)),
            "illegal transition HALTED → HALTED",
        ),
        (
            KillSwitchSnapshot(A, (Transition(None, A, "resume", "x", "y", 1),)),
            "has no from-state",
        ),
    ],
)
def test_a_self_contradicting_snapshot_fails_closed(snapshot: KillSwitchSnapshot, why: str) -> None:
    store = MemoryKillSwitchStore(snapshot_to_json(snapshot))
    ov = RiskOverlay(limits(), store=store, clock=ManualClock(), initialise=True)
    assert ov.state is H
    assert ov.history[-1].action == FAIL_CLOSED
    assert why in ov.history[-1].why


@pytest.mark.parametrize(
    "snapshot",
    [
        KillSwitchSnapshot(H, ()),
        KillSwitchSnapshot(A, (INIT, HALT, RESUME)),
        KillSwitchSnapshot(A, (HALT, RESUME)),  # trimmed history: the chain starts anywhere
        KillSwitchSnapshot(R, (Transition(H, R, "resume", "x", "y", 1),)),  # older action name
        KillSwitchSnapshot(A, (Transition(None, H, FAIL_CLOSED, "risk", "unreadable", 1), RESUME)),
    ],
)
def test_a_consistent_snapshot_loads_as_saved(snapshot: KillSwitchSnapshot) -> None:
    ks = KillSwitch(MemoryKillSwitchStore(snapshot_to_json(snapshot)), clock=ManualClock())
    assert ks.state is snapshot.state
    assert ks.history == snapshot.history
