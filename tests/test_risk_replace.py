"""Cancel/replace through the overlay (issue 13, item 8): a replace passes a new order's checks
for what it adds, its worst case is reserved until the venue answers, and fills may name
either id meanwhile."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import Approval, ApprovalError, Denial, KillState, Reason, RiskError, RiskOverlay
from rlexec.risk.testing import MID, MS, T0, buy, limits, overlay, sell

A, R, H = KillState.ACTIVE, KillState.REDUCING, KillState.HALTED


def approve(ov: RiskOverlay, intent: OrderIntent, now: int = T0) -> Approval:
    d = ov.check(intent, now)
    assert isinstance(d, Approval), d
    return d


def working(ov: RiskOverlay, intent: OrderIntent, oid: str) -> str:
    ov.on_order_sent(approve(ov, intent), oid, T0)
    return oid


def replace_ok(
    ov: RiskOverlay, oid: str, leaves: int, price: int | None, now: int = T0
) -> Approval:
    d = ov.check_replace(oid, leaves, price, now)
    assert isinstance(d, Approval), d
    return d


def denied(d: Approval | Denial, reason: Reason) -> str:
    assert isinstance(d, Denial), d
    assert d.reason is reason, d
    assert d.message.startswith(reason.value + ": ")
    return d.message


def replaced(ov: RiskOverlay, oid: str, new_id: str, leaves: int, price: int | None) -> None:
    """Approved, sent and confirmed."""
    ov.on_replace_sent(replace_ok(ov, oid, leaves, price), oid, new_id, T0)
    ov.on_replaced(new_id, T0)


# -- what a replace is checked against ------------------------------------------------------


def test_a_replace_of_an_unknown_order_is_denied() -> None:
    ov = overlay()
    assert denied(ov.check_replace("nope", 10, MID, T0), Reason.UNKNOWN_ORDER) == (
        "UNKNOWN_ORDER: order_id='nope' is not a working order"
    )
    oid = working(ov, buy(10), "b1")
    ov.on_cancelled(oid, T0)
    denied(ov.check_replace(oid, 10, MID, T0), Reason.UNKNOWN_ORDER)
    bad: Any = None
    denied(ov.check_replace(bad, 10, MID, T0), Reason.UNKNOWN_ORDER)


THROUGH_50BPS = MID * 50 // 10_000


@pytest.mark.parametrize(("delta", "ok"), [(-1, True), (0, True), (1, False)])
def test_a_replace_cannot_move_the_price_through_the_collar(delta: int, ok: bool) -> None:
    ov = overlay(limits(AAPL={"price_collar_bps": 50}))
    oid = working(ov, buy(10, MID - 100), "b1")
    d = ov.check_replace(oid, 10, MID + THROUGH_50BPS + delta, T0)
    if ok:
        assert isinstance(d, Approval)
    else:
        assert "bps through mid=1e+06 > max=50 bps" in denied(d, Reason.PRICE_COLLAR)


def test_a_replace_to_a_market_order_is_checked_at_the_mid() -> None:
    ov = overlay(limits(AAPL={"max_order_notional": 100_000.0}))
    oid = working(ov, buy(500, MID - 100), "b1")
    a = replace_ok(ov, oid, 1000, None)
    assert a.intent == OrderIntent("AAPL", Side.BUY, 1000, OrderType.MARKET)
    ov.release(a)
    msg = denied(ov.check_replace(oid, 1001, None, T0), Reason.MAX_ORDER_NOTIONAL)
    assert msg == "MAX_ORDER_NOTIONAL: notional=100100.00 > max=100000.00"


@pytest.mark.parametrize(("leaves", "ok"), [(9_999, True), (10_000, True), (10_001, False)])
def test_a_replace_cannot_raise_the_quantity_past_max_order_qty(leaves: int, ok: bool) -> None:
    ov = overlay(limits(AAPL={"max_order_qty": 10_000}))
    oid = working(ov, buy(100), "b1")
    d = ov.check_replace(oid, leaves, MID, T0)
    if ok:
        assert isinstance(d, Approval)
    else:
        assert denied(d, Reason.MAX_ORDER_QTY) == "MAX_ORDER_QTY: qty=10001 > max=10000"


def test_a_price_change_is_held_to_min_order_qty_on_its_new_size() -> None:
    ov = overlay(limits(AAPL={"min_order_qty": 10}))
    oid = working(ov, buy(10), "b1")
    ov.on_fill("AAPL", Side.BUY, 5, MID, order_id=oid, now_ns=T0)
    denied(ov.check_replace(oid, 5, MID - 100, T0), Reason.MIN_ORDER_QTY)
    replace_ok(ov, oid, 4, MID)  # a pure decrease is not an order size question


@pytest.mark.parametrize(("leaves", "ok"), [(999, True), (1000, True), (1001, False)])
def test_a_replace_counts_its_delta_against_the_long_limit(leaves: int, ok: bool) -> None:
    ov = overlay(limits(AAPL={"max_position": 1000}))
    oid = working(ov, buy(600), "b1")
    d = ov.check_replace(oid, leaves, MID, T0)
    if ok:
        assert isinstance(d, Approval)
        assert ov.position("AAPL").working_buy_qty == leaves  # reserved at once
    else:
        assert denied(d, Reason.MAX_LONG_POSITION) == (
            "MAX_LONG_POSITION: AAPL position=0 + working buys=600 + replace 600→1001 adds "
            "qty=401 = 1001 > max=1000"
        )


def test_a_replace_counts_its_delta_against_the_short_and_gross_limits() -> None:
    ov = overlay(limits(AAPL={"max_position": 1000}, max_gross_position=1500))
    oid = working(ov, sell(600), "s1")
    msg = denied(ov.check_replace(oid, 1001, MID, T0), Reason.MAX_SHORT_POSITION)
    assert "replace 600→1001 adds qty=401) = 1001 > max=1000" in msg
    working(ov, buy(900, symbol="MSFT"), "m1")
    msg = denied(ov.check_replace(oid, 601, MID, T0), Reason.MAX_GROSS_POSITION)
    assert msg == "MAX_GROSS_POSITION: gross=1500 + 1 = 1501 > max=1500"


def test_a_replace_cannot_cross_our_own_order() -> None:
    ov = overlay()
    working(ov, sell(10, MID + 100), "s1")
    oid = working(ov, buy(10, MID - 100), "b1")
    replace_ok(ov, oid, 10, MID + 99)
    msg = denied(ov.check_replace(oid, 10, MID + 100, T0), Reason.REPLACE_PENDING)
    assert "already has a replace approved" in msg
    ov2 = overlay()
    working(ov2, sell(10, MID + 100), "s1")
    oid = working(ov2, buy(10, MID - 100), "b1")
    msg = denied(ov2.check_replace(oid, 10, MID + 100, T0), Reason.SELF_MATCH)
    assert (
        msg == f"SELF_MATCH: AAPL BUY price={MID + 100} would cross our working SELL at {MID + 100}"
    )


def test_a_replace_takes_an_order_and_a_message_token() -> None:
    ov = overlay(limits(max_orders_per_s=2, order_burst=2))
    oid = working(ov, buy(10, MID - 100), "b1")
    replaced(ov, oid, "b2", 10, MID - 200)
    denied(ov.check_replace("b2", 10, MID - 300, T0), Reason.ORDER_RATE)
    replace_ok(ov, "b2", 10, MID - 300, T0 + 500 * MS)


def test_a_replace_outside_the_trading_window_or_on_a_stale_mid_is_denied() -> None:
    ov = overlay(limits(max_reference_age_ms=1000))
    oid = working(ov, buy(10, MID - 100), "b1")
    denied(ov.check_replace(oid, 10, MID - 200, T0 + 1001 * MS), Reason.STALE_REFERENCE)
    denied(
        ov.check_replace(oid, 10, MID - 200, T0 - 10 * 3600 * 10**9), Reason.OUTSIDE_TRADING_WINDOW
    )


def test_replaces_do_not_count_as_new_working_orders() -> None:
    ov = overlay(limits(max_working_orders=1))
    oid = working(ov, buy(10, MID - 100), "b1")
    denied(ov.check(buy(10, MID - 300), T0), Reason.MAX_WORKING_ORDERS)
    replaced(ov, oid, "b2", 20, MID - 200)
    assert ov.working_orders == 1
    assert ov.working_order_ids() == ["b2"]


@pytest.mark.parametrize(
    ("leaves", "price", "text"),
    [
        (0, MID, "INVALID_ORDER: new_leaves=0 is not positive (cancel instead)"),
        (-5, MID, "INVALID_ORDER: new_leaves=-5 is not positive (cancel instead)"),
        (1.5, MID, "INVALID_ORDER: new_leaves=1.5 is not an integer (float)"),
        (math.nan, MID, "NON_FINITE: new_leaves=nan"),
        (10, 0, "INVALID_ORDER: new_price=0 is not positive"),
        (10, math.inf, "NON_FINITE: new_price=inf"),
        (10, "100", "INVALID_ORDER: new_price='100' is not an integer (str)"),
    ],
)
def test_bad_replace_terms_fail_closed(leaves: Any, price: Any, text: str) -> None:
    ov = overlay()
    oid = working(ov, buy(10), "b1")
    d = ov.check_replace(oid, leaves, price, T0)
    assert isinstance(d, Denial) and d.message == text
    assert ov.position("AAPL").working_buy_qty == 10


def test_a_bad_time_fails_closed() -> None:
    ov = overlay()
    oid = working(ov, buy(10), "b1")
    bad: Any = math.nan
    assert "now_ns=nan" in str(ov.check_replace(oid, 5, MID, bad))


# -- the pure decrease ----------------------------------------------------------------------


@pytest.mark.parametrize("state", [A, R])
def test_a_pure_decrease_is_approved_in_active_and_reducing(state: KillState) -> None:
    ov = overlay(limits(max_reference_age_ms=1000))
    oid = working(ov, buy(100), "b1")
    if state is R:
        ov.reduce("ops", "unwind")
    later = T0 + 60_000 * MS  # the mid is stale by now: a decrease does not need it
    a = replace_ok(ov, oid, 40, MID, later)
    assert (a.intent.quantity, a.intent.price, a.replaces) == (40, MID, "b1")
    assert isinstance(ov.check_replace(oid, 40, MID, later), Denial)  # one at a time


def test_a_pure_decrease_takes_a_message_token_but_is_never_refused() -> None:
    ov = overlay(limits(max_messages_per_s=2, message_burst=2))
    oid = working(ov, buy(100), "b1")  # message 1
    for i, leaves in enumerate([90, 80, 70, 60]):
        replaced(ov, oid if i == 0 else f"b{i + 1}", f"b{i + 2}", leaves, MID)
    assert ov.working_order_ids() == ["b5"]
    assert ov.position("AAPL").working_buy_qty == 60
    denied(ov.check(buy(1, MID - 100), T0), Reason.MESSAGE_RATE)  # the decreases were counted


def test_a_decrease_that_moves_the_price_is_a_full_check() -> None:
    ov = overlay()
    oid = working(ov, buy(100), "b1")
    ov.reduce("ops", "unwind")
    denied(ov.check_replace(oid, 50, MID - 100, T0), Reason.REDUCE_ONLY)


def test_halted_denies_every_replace() -> None:
    ov = overlay()
    oid = working(ov, buy(100), "b1")
    ov.halt("alice", "stop")
    assert denied(ov.check_replace(oid, 10, MID, T0), Reason.HALTED) == (
        "HALTED: no new orders (by alice: stop)"
    )


def test_reducing_allows_a_replace_that_still_only_reduces() -> None:
    ov = overlay()
    ov.on_fill("AAPL", Side.BUY, 150, MID, now_ns=T0)
    oid = working(ov, sell(100, MID + 500), "s1")
    ov.reduce("bob", "market looks wrong")
    a = replace_ok(ov, oid, 150, MID + 100)  # reprice and grow to the whole position
    ov.release(a)
    msg = denied(ov.check_replace(oid, 151, MID + 100, T0), Reason.REDUCE_ONLY)
    assert msg == (
        "REDUCE_ONLY: AAPL SELL replace 100→151 adds qty=51 + working=100 "
        "does not reduce position=150"
    )


# -- the approval and its life --------------------------------------------------------------


def test_the_approval_is_the_order_after_the_replace() -> None:
    ov = overlay()
    ov.on_order_sent(
        approve(ov, OrderIntent("AAPL", Side.SELL, 10, price=MID + 100, parent_id="p7")), "s1", T0
    )
    a = replace_ok(ov, "s1", 25, MID + 200)
    assert a.replaces == "s1"
    assert a.intent == OrderIntent(
        "AAPL", Side.SELL, 25, OrderType.LIMIT, MID + 200, TimeInForce.DAY, "p7"
    )


def test_send_paths_refuse_the_wrong_kind_of_approval() -> None:
    ov = overlay()
    oid = working(ov, buy(10, MID - 100), "b1")
    rep = replace_ok(ov, oid, 20, MID - 100)
    with pytest.raises(ApprovalError, match="for a replace of 'b1': send it with on_replace_sent"):
        ov.on_order_sent(rep, "b2", T0)
    assert ov.position("AAPL").working_buy_qty == 10  # the reservation went back
    new = approve(ov, buy(5, MID - 300))
    with pytest.raises(ApprovalError, match="for a new order: send it with on_order_sent"):
        ov.on_replace_sent(new, oid, "b2", T0)
    assert ov.working_orders == 1


def test_on_replace_sent_refuses_a_bad_send() -> None:
    ov = overlay(limits(approval_ttl_ms=1000))
    oid = working(ov, buy(10, MID - 100), "b1")
    other = working(ov, buy(10, MID - 200), "b9")
    with pytest.raises(ApprovalError, match="replaces order 'b1', not 'b9'"):
        ov.on_replace_sent(replace_ok(ov, oid, 20, MID - 100), other, "b2", T0)
    with pytest.raises(ApprovalError, match="'b9' is empty or already working"):
        ov.on_replace_sent(replace_ok(ov, oid, 20, MID - 100), oid, "b9", T0)
    with pytest.raises(ApprovalError, match="expired"):
        ov.on_replace_sent(replace_ok(ov, oid, 20, MID - 100), oid, "b2", T0 + 1001 * MS)
    a = replace_ok(ov, oid, 20, MID - 100)
    ov.on_replace_sent(a, oid, "b2", T0)
    with pytest.raises(ApprovalError, match="already sent"):
        ov.on_replace_sent(a, oid, "b3", T0)
    assert ov.position("AAPL").working_buy_qty == 30  # 20 in flight + 10 on b9


def test_release_gives_a_replace_back() -> None:
    ov = overlay(limits(AAPL={"max_position": 100}))
    oid = working(ov, buy(50), "b1")
    a = replace_ok(ov, oid, 100, MID)
    denied(ov.check(buy(1, MID - 100), T0), Reason.MAX_LONG_POSITION)
    assert ov.release(a) is True
    assert ov.release(a) is False
    assert ov.position("AAPL").working_buy_qty == 50
    replace_ok(ov, oid, 100, MID)  # and the order can be replaced again


def test_halting_voids_an_unsent_replace() -> None:
    ov = overlay()
    oid = working(ov, buy(50), "b1")
    a = replace_ok(ov, oid, 100, MID - 100)
    ov.halt("alice", "stop")
    with pytest.raises(ApprovalError):
        ov.on_replace_sent(a, oid, "b2", T0)
    p = ov.position("AAPL")
    assert p.working_buy_qty == 50
    assert ov.working_order_ids() == ["b1"]


def test_an_unsent_replace_of_an_order_that_finished_is_refused() -> None:
    ov = overlay()
    oid = working(ov, buy(50), "b1")
    a = replace_ok(ov, oid, 100, MID - 100)
    ov.on_cancelled(oid, T0)
    assert ov.position("AAPL").working_buy_qty == 0
    with pytest.raises(ApprovalError, match="no longer working"):
        ov.on_replace_sent(a, oid, "b2", T0)
    assert ov.release(a) is False
    assert (ov.position("AAPL").working_buy_qty, ov.working_orders) == (0, 0)


# -- in flight: worst case, fills on either id, the venue's answer ---------------------------


@pytest.mark.parametrize(("old", "new"), [(600, 1000), (600, 200)])
def test_the_worst_of_old_and_new_is_reserved_until_the_venue_answers(old: int, new: int) -> None:
    ov = overlay(limits(AAPL={"max_position": 1000}))
    oid = working(ov, buy(old), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, new, MID - 100), oid, "b2", T0)
    assert ov.position("AAPL").working_buy_qty == max(old, new)
    assert ov.working_order_ids() == ["b1"]  # one order, by the id the venue knows
    room = 1000 - max(old, new)
    if room:
        ov.release(approve(ov, buy(room, MID - 200)))
    denied(ov.check(buy(room + 1, MID - 200), T0), Reason.MAX_LONG_POSITION)


def test_confirmed_the_new_terms_hold() -> None:
    ov = overlay()
    oid = working(ov, buy(600, MID - 100), "b1")
    replaced(ov, oid, "b2", 200, MID - 300)
    assert ov.position("AAPL").working_buy_qty == 200
    assert ov.working_order_ids() == ["b2"]
    # the old price no longer blocks a sell (self-match), the new one does
    ov.release(approve(ov, sell(10, MID - 200)))
    denied(ov.check(sell(10, MID - 300), T0), Reason.SELF_MATCH)


def test_rejected_the_old_terms_hold() -> None:
    ov = overlay()
    oid = working(ov, buy(600, MID - 100), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, 900, MID - 50), oid, "b2", T0)
    ov.on_replace_rejected("b2", T0)
    assert ov.position("AAPL").working_buy_qty == 600
    assert ov.working_order_ids() == ["b1"]
    ov.release(approve(ov, sell(10, MID - 50)))  # the new price is gone
    denied(ov.check(sell(10, MID - 100), T0), Reason.SELF_MATCH)
    replace_ok(ov, oid, 900, MID - 50)  # and another replace may follow


@pytest.mark.parametrize("fill_id", ["b1", "b2"])
@pytest.mark.parametrize("answer", ["replaced", "rejected"])
def test_fills_on_either_id_while_in_flight(fill_id: str, answer: str) -> None:
    ov = overlay()
    oid = working(ov, buy(600, MID - 100), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, 1000, MID - 100), oid, "b2", T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID - 100, order_id=fill_id, now_ns=T0)
    p = ov.position("AAPL")
    assert (p.position, p.working_buy_qty) == (100, 900)
    if answer == "replaced":
        ov.on_replaced("b2", T0)
        assert ov.position("AAPL").working_buy_qty == 900
        assert ov.working_order_ids() == ["b2"]
    else:
        ov.on_replace_rejected("b2", T0)
        assert ov.position("AAPL").working_buy_qty == 500
        assert ov.working_order_ids() == ["b1"]
    assert ov.state is A and ov.n_unknown_order_events == 0


def test_a_fill_of_the_new_size_while_in_flight_is_not_an_overfill() -> None:
    ov = overlay()
    oid = working(ov, buy(10, MID - 100), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, 100, MID - 100), oid, "b2", T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID - 100, order_id="b2", now_ns=T0)
    assert ov.state is A
    assert (ov.working_orders, ov.working_order_ids()) == (0, [])
    ov.on_replaced("b2", T0)  # a late answer for an order that is done: counted, harmless
    assert ov.n_unknown_order_events == 1
    assert ov.position("AAPL").working_buy_qty == 0


def test_a_fill_beyond_both_terms_while_in_flight_halts() -> None:
    ov = overlay()
    oid = working(ov, buy(10, MID - 100), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, 100, MID - 100), oid, "b2", T0)
    ov.on_fill("AAPL", Side.BUY, 101, MID - 100, order_id="b1", now_ns=T0)
    assert ov.state is H
    assert ov.history[-1].why == "OVERFILL: AAPL BUY fill qty=101 > open qty=100 of order 'b1'"


@pytest.mark.parametrize("done_id", ["b1", "b2"])
@pytest.mark.parametrize("how", ["cancelled", "rejected"])
def test_done_on_either_id_releases_both_terms(done_id: str, how: str) -> None:
    ov = overlay()
    oid = working(ov, buy(600, MID - 100), "b1")
    ov.on_replace_sent(replace_ok(ov, oid, 1000, MID - 50), oid, "b2", T0)
    getattr(ov, f"on_{how}")(done_id, T0)
    p = ov.position("AAPL")
    assert (p.working_buy_qty, ov.working_orders, ov.working_order_ids()) == (0, 0, [])
    ov.release(approve(ov, sell(10, MID - 50)))  # neither price blocks a sell any more
    ov.on_replaced("b2", T0)
    assert ov.n_unknown_order_events == 1


def test_answers_for_unknown_replaces_are_counted() -> None:
    ov = overlay()
    oid = working(ov, buy(10), "b1")
    ov.on_replaced("zz", T0)
    ov.on_replace_rejected(oid, T0)  # an order with no replace in flight
    assert ov.n_unknown_order_events == 2
    assert ov.position("AAPL").working_buy_qty == 10


def test_an_order_filled_before_its_replace_is_sent_is_done() -> None:
    ov = overlay()
    oid = working(ov, buy(10, MID - 100), "b1")
    a = replace_ok(ov, oid, 100, MID - 100)
    assert ov.position("AAPL").working_buy_qty == 100  # reserved from the approval on
    ov.on_fill("AAPL", Side.BUY, 10, MID - 100, order_id=oid, now_ns=T0)
    assert ov.state is A
    assert (ov.working_orders, ov.position("AAPL").working_buy_qty) == (0, 0)
    with pytest.raises(ApprovalError, match="no longer working"):
        ov.on_replace_sent(a, oid, "b2", T0)


def test_before_the_replace_is_sent_only_the_old_terms_can_fill() -> None:
    ov = overlay()
    oid = working(ov, buy(10, MID - 100), "b1")
    replace_ok(ov, oid, 100, MID - 100)
    ov.on_fill("AAPL", Side.BUY, 11, MID - 100, order_id=oid, now_ns=T0)
    assert ov.state is H
    assert ov.history[-1].why == "OVERFILL: AAPL BUY fill qty=11 > open qty=10 of order 'b1'"


def test_a_fill_before_the_send_comes_off_the_new_leaves_too() -> None:
    ov = overlay()
    oid = working(ov, buy(100, MID - 100), "b1")
    a = replace_ok(ov, oid, 150, MID - 100)
    ov.on_fill("AAPL", Side.BUY, 30, MID - 100, order_id=oid, now_ns=T0)
    assert ov.position("AAPL").working_buy_qty == 120
    ov.on_replace_sent(a, oid, "b2", T0)
    ov.on_replaced("b2", T0)
    p = ov.position("AAPL")
    assert (p.position, p.working_buy_qty) == (30, 120)


# -- orders the overlay never approved (a restart's) ---------------------------------------------


def test_an_adopted_order_is_held_like_an_approved_one_until_it_ends() -> None:
    ov = overlay(limits(AAPL={"max_position": 150}, max_working_orders=2))
    ov.adopt_working("old-1", "AAPL", Side.BUY, 100, MID - 100)
    view = ov.position("AAPL")
    assert (ov.working_orders, view.working_buy_qty) == (1, 100)
    assert ov.holds("old-1") and not ov.holds("old-2")
    denied(ov.check(buy(100, MID - 200), T0), Reason.MAX_LONG_POSITION)  # 100 + 100 > 150
    denied(ov.check(sell(10, MID - 100), T0), Reason.SELF_MATCH)  # would cross it
    approve(ov, buy(50, MID - 200))
    denied(ov.check(sell(1, MID + 500), T0), Reason.MAX_WORKING_ORDERS)
    ov.on_fill("AAPL", Side.BUY, 40, MID - 100, order_id="old-1", now_ns=T0)
    assert ov.position("AAPL").working_buy_qty == 60 + 50 and ov.position("AAPL").position == 40
    ov.on_cancelled("old-1", T0)
    assert ov.working_orders == 1 and ov.position("AAPL").working_buy_qty == 50
    assert not ov.holds("old-1") and ov.n_unknown_order_events == 0
    approve(ov, sell(10, MID - 100))  # no longer crosses anything of ours


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"order_id": ""}, "empty or already working"),
        ({"order_id": "dup"}, "empty or already working"),
        ({"symbol": ""}, "symbol=''"),
        ({"side": "buy"}, "side='buy'"),
        ({"leaves": 0}, "leaves=0 is not positive"),
        ({"leaves": True}, "leaves=True"),
        ({"price": -5}, "price=-5 is not a price"),
    ],
)
def test_adopting_nonsense_is_refused_and_changes_nothing(kw: dict[str, Any], message: str) -> None:
    ov = overlay()
    ov.adopt_working("dup", "AAPL", Side.SELL, 10, None)
    before = (ov.working_orders, ov.position("AAPL").working_buy_qty)
    args: dict[str, Any] = {"order_id": "x", "symbol": "AAPL", "side": Side.BUY, "leaves": 5,
                            "price": MID} | kw  # fmt: skip
    with pytest.raises(RiskError, match=message):
        ov.adopt_working(**args)
    assert (ov.working_orders, ov.position("AAPL").working_buy_qty) == before
