"""The kill switch: its transition table, attribution, persistence and restart behaviour."""

from __future__ import annotations

import itertools
import json

import pytest

from rlexec.market.orders import Side
from rlexec.risk import (
    TRANSITIONS,
    IllegalTransitionError,
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
    ks = KillSwitch(store, clock=ManualClock())
    if state is R:
        ks.reduce("setup", "setup")
    elif state is H:
        ks.halt("setup", "setup")
    assert ks.state is state
    return ks


def test_the_table_is_exactly_the_designed_one() -> None:
    assert dict(TRANSITIONS) == {
        (A, R): "reduce",
        (A, H): "halt",
        (R, H): "halt",
        (R, A): "re_enable",
        (H, A): "resume",
        (H, R): "resume",
    }


@pytest.mark.parametrize(("frm", "to"), list(TRANSITIONS))
def test_every_legal_transition_is_taken_and_recorded(frm: KillState, to: KillState) -> None:
    ks = switch_in(frm)
    record = ks.transition(to, action=TRANSITIONS[(frm, to)], who="carol", why="drill", now_ns=42)
    assert ks.state is to
    assert record == Transition(frm, to, TRANSITIONS[(frm, to)], "carol", "drill", 42)
    assert ks.history[-1] == record


@pytest.mark.parametrize(
    ("frm", "to"),
    [p for p in itertools.product(KillState, repeat=2) if p not in TRANSITIONS],
)
def test_every_other_pair_is_illegal(frm: KillState, to: KillState) -> None:
    ks = switch_in(frm)
    for action in ("reduce", "halt", "re_enable", "resume"):
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
    ks.resume("erin", "unwind only", to=R)
    assert ks.state is R
    ks.re_enable("erin", "all clear")
    assert ks.state is A


def test_history_records_who_why_and_when_in_order() -> None:
    clock = ManualClock(1000)
    ks = KillSwitch(MemoryKillSwitchStore(), clock=clock)
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
    ks = KillSwitch(store, clock=ManualClock())
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


def test_history_is_bounded() -> None:
    store = MemoryKillSwitchStore()
    ks = KillSwitch(store, clock=ManualClock(), history_limit=4)
    for _ in range(5):
        ks.halt("a", "b")
        ks.resume("c", "d")
    assert len(ks.history) == 4
    assert len(snapshot_from_json(store.text or "").history) == 4


def test_an_overlay_whose_store_fails_still_stops() -> None:
    store = FlakyStore()
    ov = RiskOverlay(limits(max_daily_loss=100.0), store=store, clock=ManualClock())
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
