"""The overlay takes whatever its caller passes: a value of the wrong type fails closed (a denial,
an unknown-order count, `RiskError`, `ApprovalError`), never a `TypeError` from the call, and
never a reservation left behind. Compiled by mypyc (rlexec/native.py), declared types are
enforced at the call; these run compiled in `make test` and again on the source."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rlexec.market.orders import OrderIntent
from rlexec.risk import Approval, ApprovalError, Denial, Reason, RiskError, RiskOverlay
from rlexec.risk.testing import MID, T0, buy, overlay, sell

ODD: list[Any] = [None, 7, 1.5, b"b1", ["b1"], True]


def approve(ov: RiskOverlay, intent: OrderIntent) -> Approval:
    decision = ov.check(intent, T0)
    assert isinstance(decision, Approval), decision
    return decision


def forged(intent: OrderIntent, **fields: Any) -> OrderIntent:
    """`intent` with fields OrderIntent's own checks do not look at set to anything."""
    out = replace(intent)
    for key, value in fields.items():
        object.__setattr__(out, key, value)
    return out


@pytest.mark.parametrize(
    "fields",
    [{"parent_id": 1234}, {"parent_id": b"P1"}, {"time_in_force": "DAY"}, {"time_in_force": None}],
)
def test_a_bad_time_in_force_or_parent_is_denied_and_reserves_nothing(
    fields: dict[str, Any],
) -> None:
    ov = overlay()
    ov.on_market("AAPL", float(MID), T0)
    decision = ov.check(forged(buy(11, MID - 100), **fields), T0)
    assert isinstance(decision, Denial) and decision.reason is Reason.INVALID_ORDER, decision
    assert ov.working_orders == 0
    assert ov.position("AAPL").working_buy_qty == 0
    # nothing of it rests in the self-match book: a sell at its price passes
    approve(ov, sell(5, MID - 100))


@pytest.mark.parametrize("order_id", ODD)
def test_an_order_event_with_an_odd_id_is_an_unknown_order(order_id: Any) -> None:
    ov = overlay()
    ov.on_market("AAPL", float(MID), T0)
    ov.on_order_sent(approve(ov, buy(10)), "b1", T0)
    events = (ov.on_order_accepted, ov.on_cancelled, ov.on_rejected, ov.on_replaced,
              ov.on_replace_rejected)  # fmt: skip
    for event in events:
        event(order_id, T0)
    assert ov.n_unknown_order_events == len(events)
    assert not ov.holds(order_id)
    ov.on_cancel_sent(order_id, T0)  # counted as a message, whatever the id
    assert ov.holds("b1") and ov.working_orders == 1


@pytest.mark.parametrize("order_id", [7, b"b1", ["b1"]])
def test_a_fill_naming_an_odd_id_still_moves_the_position(order_id: Any) -> None:
    ov = overlay()
    ov.on_market("AAPL", float(MID), T0)
    ov.on_fill("AAPL", buy(1).side, 10, MID, order_id=order_id, now_ns=T0)
    assert ov.position("AAPL").position == 10
    assert ov.n_unknown_order_events == 1


@pytest.mark.parametrize("new_id", [None, 7, b"n1"])
def test_a_replace_sent_under_an_odd_id_is_refused_and_released(new_id: Any) -> None:
    ov = overlay()
    ov.on_market("AAPL", float(MID), T0)
    ov.on_order_sent(approve(ov, buy(10)), "b1", T0)
    approval = ov.check_replace("b1", 20, MID, T0)
    assert isinstance(approval, Approval), approval
    with pytest.raises(ApprovalError):
        ov.on_replace_sent(approval, "b1", new_id, T0)
    assert ov.position("AAPL").working_buy_qty == 10  # the replace's growth is not held
    with pytest.raises(ApprovalError):
        ov.on_replace_sent(approval, 7, "n1", T0)


@pytest.mark.parametrize(("who", "why"), [(None, "why"), ("who", 3), (b"ops", "why")])
def test_an_operator_action_without_text_attribution_is_a_risk_error(who: Any, why: Any) -> None:
    ov = overlay()
    with pytest.raises(RiskError, match="needs who and why"):
        ov.tighten(who=who, why=why, max_daily_loss=1.0)
    with pytest.raises(RiskError, match="needs who and why"):
        ov.new_day(who, why, T0)
    with pytest.raises(RiskError, match="needs who and why"):
        ov.reconcile_position("AAPL", 0, 0.0, who=who, why=why)
    assert ov.audit == ()


@pytest.mark.parametrize("symbol", [None, "", 7])
def test_reconciling_a_position_of_no_symbol_is_a_risk_error(symbol: Any) -> None:
    ov = overlay()
    with pytest.raises(RiskError, match="symbol"):
        ov.reconcile_position(symbol, 10, float(MID), who="ops", why="restart")
    assert ov.symbols() == ["AAPL", "MSFT"]


def test_an_odd_day_roll_time_is_the_clocks() -> None:
    ov = overlay()
    ov.on_market("AAPL", float(MID), T0)
    ov.on_cancel_sent("b1", 1.5)
    ov.on_order_accepted("b1", "now")
    assert ov.n_unknown_order_events == 1
    assert isinstance(ov.check(buy(10), T0), Approval)
