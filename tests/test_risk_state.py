"""The overlay's own state: approvals, working orders, fills, P&L, loss halt, fill throttle, metrics."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import (
    Approval,
    ApprovalError,
    ApprovalIssuer,
    Denial,
    KillState,
    Reason,
    RiskError,
    RiskOverlay,
)
from rlexec.risk.testing import MID, MS, T0, ManualClock, buy, limits, overlay, sell

A, R, H = KillState.ACTIVE, KillState.REDUCING, KillState.HALTED


def approve(ov: RiskOverlay, intent: Any, now: int = T0) -> Approval:
    d = ov.check(intent, now)
    assert isinstance(d, Approval), d
    return d


# -- approvals ------------------------------------------------------------------------------


FIELDS = ("AAPL", Side.BUY, 10, OrderType.LIMIT, MID, TimeInForce.DAY, None, 1, T0)


def test_an_approval_cannot_be_built_outside_the_overlay() -> None:
    with pytest.raises(TypeError, match=r"issued only by RiskOverlay\.check"):
        Approval(object(), *FIELDS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"issued only by RiskOverlay\.check"):
        Approval(None, *FIELDS)  # type: ignore[arg-type]


def test_an_approval_built_with_another_issuer_is_refused() -> None:
    ov = overlay()
    approve(ov, buy(10))  # seq 1 is outstanding: same number, not the same approval
    forged = Approval(ApprovalIssuer(), *FIELDS)
    with pytest.raises(ApprovalError, match="not issued by this overlay"):
        ov.on_order_sent(forged, "c1", T0)
    assert ov.release(forged) is False


def test_a_forged_approval_is_refused_by_the_send_path() -> None:
    ov = overlay()
    real = approve(ov, buy(10))
    forged = object.__new__(Approval)
    with pytest.raises(ApprovalError, match="not issued by this overlay"):
        ov.on_order_sent(forged, "c1", T0)
    copy = object.__new__(Approval)
    for slot in Approval.__slots__:
        object.__setattr__(copy, slot, getattr(real, slot))
    with pytest.raises(ApprovalError):
        ov.on_order_sent(copy, "c1", T0)  # same fields, not the same approval
    other = overlay()
    with pytest.raises(ApprovalError):
        other.on_order_sent(real, "c1", T0)  # issued by another overlay
    ov.on_order_sent(real, "c1", T0)


def test_an_approval_is_used_once() -> None:
    ov = overlay()
    a = approve(ov, buy(10))
    ov.on_order_sent(a, "c1", T0)
    with pytest.raises(ApprovalError):
        ov.on_order_sent(a, "c2", T0)
    assert ov.working_orders == 1


def test_an_approval_is_read_only() -> None:
    a = approve(overlay(), buy(10))
    with pytest.raises(AttributeError):
        a.intent = buy(10**6)  # type: ignore[misc]
    assert a.approved is True
    assert a.intent == buy(10)


def test_an_approval_reserves_until_sent_or_released() -> None:
    ov = overlay(limits(AAPL={"max_position": 100}))
    a = approve(ov, buy(100))
    d = ov.check(buy(1, MID - 100), T0)
    assert isinstance(d, Denial) and d.reason is Reason.MAX_LONG_POSITION
    assert ov.release(a) is True
    assert ov.release(a) is False
    assert ov.working_orders == 0
    approve(ov, buy(1, MID - 100))


@pytest.mark.parametrize(("delay_ms", "ok"), [(999, True), (1000, True), (1001, False)])
def test_an_unsent_approval_expires(delay_ms: int, ok: bool) -> None:
    ov = overlay(limits(approval_ttl_ms=1000))
    a = approve(ov, buy(10))
    if ok:
        ov.on_order_sent(a, "c1", T0 + delay_ms * MS)
        assert ov.working_orders == 1
    else:
        with pytest.raises(ApprovalError, match="expired"):
            ov.on_order_sent(a, "c1", T0 + delay_ms * MS)
        assert ov.working_orders == 0


def test_expired_reservations_are_dropped_by_later_checks() -> None:
    ov = overlay(limits(approval_ttl_ms=100, max_working_orders=1))
    approve(ov, buy(10))
    d = ov.check(buy(11), T0 + 100 * MS)
    assert isinstance(d, Denial) and d.reason is Reason.MAX_WORKING_ORDERS
    approve(ov, buy(12), T0 + 100 * MS + 1)


def test_halting_or_tightening_voids_outstanding_approvals() -> None:
    ov = overlay()
    a = approve(ov, buy(10))
    ov.halt("alice", "stop")
    with pytest.raises(ApprovalError):
        ov.on_order_sent(a, "c1", T0)
    assert ov.working_orders == 0
    ov.resume("alice", "go")
    b = approve(ov, buy(11))
    ov.tighten(who="ops", why="narrow", max_working_orders=999)
    with pytest.raises(ApprovalError):
        ov.on_order_sent(b, "c2", T0)
    c = approve(ov, buy(12))
    ov.reduce("ops", "unwind")
    with pytest.raises(ApprovalError):
        ov.on_order_sent(c, "c3", T0)


def test_an_order_id_is_never_reused() -> None:
    ov = overlay()
    ov.on_order_sent(approve(ov, buy(10)), "c1", T0)
    b = approve(ov, buy(11))
    with pytest.raises(ApprovalError, match="already working"):
        ov.on_order_sent(b, "c1", T0)
    assert ov.working_orders == 1


# -- working orders and fills ---------------------------------------------------------------


def test_partial_and_full_fills_move_working_into_position() -> None:
    ov = overlay()
    ov.on_order_sent(approve(ov, buy(100)), "b1", T0)
    ov.on_order_accepted("b1", T0)
    ov.on_fill("AAPL", Side.BUY, 30, MID, order_id="b1", now_ns=T0)
    p = ov.position("AAPL")
    assert (p.position, p.working_buy_qty) == (30, 70)
    assert ov.working_orders == 1
    ov.on_fill("AAPL", Side.BUY, 70, MID, order_id="b1", now_ns=T0)
    p = ov.position("AAPL")
    assert (p.position, p.working_buy_qty) == (100, 0)
    assert ov.working_orders == 0 and ov.working_order_ids() == []
    assert ov.gross_position == 100


def test_cancel_and_reject_release_what_is_left() -> None:
    ov = overlay()
    ov.on_order_sent(approve(ov, sell(100)), "s1", T0)
    ov.on_order_sent(approve(ov, sell(50, MID + 100)), "s2", T0)
    ov.on_fill("AAPL", Side.SELL, 40, MID, order_id="s1", now_ns=T0)
    ov.on_cancelled("s1", T0)
    ov.on_rejected("s2", T0)
    p = ov.position("AAPL")
    assert (p.position, p.working_sell_qty) == (-40, 0)
    assert ov.working_orders == 0
    assert ov.gross_position == 40
    ov.on_cancelled("s1", T0)  # late duplicate: counted, harmless
    ov.on_order_accepted("nope", T0)
    assert ov.n_unknown_order_events == 2


def test_average_cost_realised_and_unrealised_pnl() -> None:
    ov = overlay()
    ov.on_fill("AAPL", Side.BUY, 100, 1_000_000, now_ns=T0)  # 100 @ 100.00
    ov.on_fill("AAPL", Side.BUY, 100, 1_100_000, now_ns=T0)  # 100 @ 110.00 → avg 105.00
    assert ov.position("AAPL").avg_price == pytest.approx(105.0)
    ov.on_fill("AAPL", Side.SELL, 150, 1_200_000, now_ns=T0)  # realise 150 × 15.00
    p = ov.position("AAPL")
    assert p.position == 50
    assert p.realised_pnl == pytest.approx(2250.0)
    ov.on_market("AAPL", 1_300_000.0, T0)
    assert ov.position("AAPL").unrealised_pnl == pytest.approx(50 * 25.0)
    assert ov.daily_pnl == pytest.approx(2250.0 + 1250.0)
    ov.on_fill("AAPL", Side.SELL, 100, 1_000_000, now_ns=T0)  # close 50 at -5.00, open -50 @ 100
    p = ov.position("AAPL")
    assert p.position == -50
    assert p.avg_price == pytest.approx(100.0)
    assert p.realised_pnl == pytest.approx(2250.0 - 250.0)
    assert p.unrealised_pnl == pytest.approx(-50 * 30.0)
    ov.on_fill("AAPL", Side.BUY, 50, 1_300_000, now_ns=T0)
    p = ov.position("AAPL")
    assert (p.position, p.avg_price, p.unrealised_pnl) == (0, 0.0, 0.0)
    # total = cash flow, whatever the cost method
    cash = -100 * 100 - 100 * 110 + 150 * 120 + 100 * 100 - 50 * 130
    assert ov.daily_pnl == pytest.approx(cash)


def test_fills_for_a_symbol_not_on_the_allow_list_are_still_tracked() -> None:
    ov = overlay()
    ov.on_fill("TSLA", Side.BUY, 10, 2_000_000, now_ns=T0)
    assert ov.position("TSLA").position == 10
    assert ov.gross_position == 10
    assert "TSLA" in ov.symbols()
    assert ov.state is R  # a position we may not hold at all
    assert ov.history[-1].why == (
        "POSITION_LIMIT: TSLA position=10 > max long=0 (not on the allow-list)"
    )


# -- fills that break a limit (issue 13, item 9) ---------------------------------------------


@pytest.mark.parametrize(("qty", "state"), [(19_999, A), (20_000, A), (20_001, R)])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_filled_position_past_its_limit_reduces(qty: int, state: KillState, side: Side) -> None:
    ov = overlay(limits(AAPL={"max_position": 20_000}))
    for part in (qty // 2, qty - qty // 2):
        ov.on_fill("AAPL", side, part, MID, now_ns=T0)
    assert ov.state is state
    if state is R:
        which = "long=20000" if side is Side.BUY else "short=20000"
        signed = qty if side is Side.BUY else -qty
        assert ov.history[-1].why == f"POSITION_LIMIT: AAPL position={signed} > max {which}"
        assert ov.history[-1].who == "risk"
        d = ov.check(OrderIntent("AAPL", side, 1, OrderType.LIMIT, MID), T0)
        assert isinstance(d, Denial) and d.reason is Reason.REDUCE_ONLY
        approve(ov, OrderIntent("AAPL", side.opposite, 1, OrderType.LIMIT, MID))


def test_fills_to_30000_against_20000_reduce() -> None:
    ov = overlay(limits(AAPL={"max_position": 20_000}))
    for _ in range(30):
        ov.on_fill("AAPL", Side.BUY, 1000, MID, now_ns=T0)
    assert ov.state is R
    assert ov.history[-1].why == "POSITION_LIMIT: AAPL position=21000 > max long=20000"
    assert len(ov.history) == 1  # tripped once, not once a fill


@pytest.mark.parametrize(("msft", "state"), [(399, A), (400, A), (401, R)])
def test_a_filled_gross_past_its_limit_reduces(msft: int, state: KillState) -> None:
    ov = overlay(limits(max_gross_position=1000))
    ov.on_fill("AAPL", Side.BUY, 600, MID, now_ns=T0)
    ov.on_fill("MSFT", Side.SELL, msft, MID, now_ns=T0)
    assert ov.state is state
    if state is R:
        assert ov.history[-1].why == "POSITION_LIMIT: filled gross=1001 > max=1000"


@pytest.mark.parametrize(("fill", "state"), [(99, A), (100, A), (101, H)])
def test_an_overfill_halts(fill: int, state: KillState) -> None:
    ov = overlay()
    ov.on_order_sent(approve(ov, buy(100)), "b1", T0)
    ov.on_fill("AAPL", Side.BUY, fill, MID, order_id="b1", now_ns=T0)
    assert ov.state is state
    if state is H:
        assert ov.history[-1].why == "OVERFILL: AAPL BUY fill qty=101 > open qty=100 of order 'b1'"
    assert ov.position("AAPL").position == fill  # the position is what the venue did


def test_an_approval_for_1_share_then_a_5000_share_fill_halts() -> None:
    ov = overlay(limits(AAPL={"max_position": 20_000}))
    ov.on_order_sent(approve(ov, sell(1)), "s1", T0)
    ov.on_fill("AAPL", Side.SELL, 1, MID, order_id="s1", now_ns=T0)  # done
    ov.on_order_sent(approve(ov, sell(1, MID + 100)), "s2", T0)
    ov.on_fill("AAPL", Side.SELL, 5000, MID, order_id="s2", now_ns=T0)
    assert ov.state is H
    assert "OVERFILL: AAPL SELL fill qty=5000 > open qty=1 of order 's2'" in ov.history[-1].why
    assert (ov.working_orders, ov.position("AAPL").working_sell_qty) == (0, 0)


def test_a_breach_while_halted_or_reducing_adds_no_transition() -> None:
    ov = overlay(limits(AAPL={"max_position": 100}))
    ov.reduce("ops", "drill")
    ov.on_fill("AAPL", Side.BUY, 200, MID, now_ns=T0)
    ov.halt("ops", "drill")
    ov.on_fill("AAPL", Side.BUY, 200, MID, now_ns=T0)
    assert [t.action for t in ov.history] == ["reduce", "halt"]


def test_limits_tightened_under_working_orders_reduce_when_they_fill() -> None:
    ov = overlay(limits(AAPL={"max_position": 1000}))
    ov.on_order_sent(approve(ov, buy(800)), "b1", T0)
    ov.tighten(who="ops", why="smaller", symbols={"AAPL": {"max_long_position": 500}})
    ov.on_fill("AAPL", Side.BUY, 500, MID, order_id="b1", now_ns=T0)
    assert ov.state is A
    ov.on_fill("AAPL", Side.BUY, 1, MID, order_id="b1", now_ns=T0)
    assert ov.state is R


# -- an approval is a copy (issue 13, item 10) -----------------------------------------------


def test_changing_the_intent_after_approval_changes_nothing() -> None:
    ov = overlay(limits(AAPL={"max_position": 20_000, "max_order_qty": 20_000}))
    intent = buy(20_000)
    a = approve(ov, intent)
    object.__setattr__(intent, "quantity", 44_890)
    object.__setattr__(intent, "price", MID * 2)
    assert (a.quantity, a.price) == (20_000, MID)
    assert a.intent == buy(20_000)
    ov.on_order_sent(a, "b1", T0)
    assert ov.position("AAPL").working_buy_qty == 20_000
    ov.on_fill("AAPL", Side.BUY, 20_000, MID, order_id="b1", now_ns=T0)
    assert (ov.working_orders, ov.position("AAPL").working_buy_qty) == (0, 0)
    ov.on_fill("AAPL", Side.BUY, 4_890, MID, order_id="b1", now_ns=T0)  # the rest: not ours
    assert ov.state is R and ov.n_unknown_order_events == 1


def test_the_intent_of_an_approval_is_a_fresh_copy_each_time() -> None:
    a = approve(overlay(), buy(10))
    first = a.intent
    object.__setattr__(first, "quantity", 10**6)
    assert a.intent == buy(10) and a.intent is not a.intent


# -- daily loss -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mid", "state"),
    [(900_100.0, A), (900_000.0, A), (899_999.0, H)],  # loss 999, 1000, 1000.01 on max 1000
)
def test_daily_loss_breach_halts(mid: float, state: KillState) -> None:
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", mid, T0 + MS)
    assert ov.state is state
    if state is H:
        last = ov.history[-1]
        assert (last.who, last.at_ns) == ("risk", T0 + MS)
        assert last.why == "DAILY_LOSS: loss=1000.01 > max=1000.00"


def test_a_realised_loss_halts_on_the_fill() -> None:
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_fill("AAPL", Side.SELL, 100, MID - 100_001, now_ns=T0)
    assert ov.state is H
    assert ov.position("AAPL").realised_pnl == pytest.approx(-1000.01)


def test_after_a_resume_in_breach_only_reducing_orders_pass() -> None:
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", 800_000.0, T0)
    assert ov.state is H
    ov.resume("risk-manager", "flatten AAPL", to=A)
    ov.on_market("AAPL", 790_000.0, T0)  # still in breach: no new trip, no new orders
    assert ov.state is A
    d = ov.check(buy(1, 790_000), T0)
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_LOSS
    assert "loss=2100.00 > max=1000.00" in d.message
    approve(ov, sell(100, 790_000))
    d = ov.check(sell(1, 790_100), T0)
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_LOSS


def test_a_new_day_counts_from_the_current_marks() -> None:
    ov = overlay(limits(max_daily_loss=1000.0))
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_market("AAPL", 950_000.0, T0)
    assert ov.daily_pnl == pytest.approx(-500.0)
    ov.new_day("ops", "session start")
    assert ov.daily_pnl == pytest.approx(0.0)
    ov.on_market("AAPL", 850_000.0, T0)
    assert ov.daily_pnl == pytest.approx(-1000.0)
    assert ov.state is A
    assert ov.audit[-1].action == "new_day"


def test_a_fill_at_a_bad_price_halts_and_pnl_stays_unknown_until_reconciled() -> None:
    ov = overlay()
    ov.on_fill("AAPL", Side.BUY, 100, math.nan, now_ns=T0)
    assert ov.state is H
    assert "NON_FINITE" in ov.history[-1].why
    assert ov.position("AAPL").position == 100  # the quantity is still known
    assert math.isnan(ov.daily_pnl)
    ov.resume("ops", "checking")
    d = ov.check(buy(10), T0)
    assert isinstance(d, Denial) and d.reason is Reason.NON_FINITE
    assert "daily P&L is unknown" in d.message
    ov.on_market("AAPL", float(MID), T0)  # a market move does not make it known
    assert math.isnan(ov.daily_pnl)
    ov.reconcile_position("AAPL", 100, MID, who="ops", why="venue position report")
    assert ov.daily_pnl == pytest.approx(0.0)
    approve(ov, buy(10))


@pytest.mark.parametrize(
    ("side", "qty", "price"),
    [
        (Side.BUY, math.nan, MID),
        (Side.BUY, -5, MID),
        (Side.BUY, 0, MID),
        ("BUY", 5, MID),
        (Side.BUY, 5, -1),
        (Side.BUY, 5, math.inf),
        (Side.BUY, 5, 0),
    ],
)
def test_fills_that_cannot_be_understood_halt(side: Any, qty: Any, price: Any) -> None:
    ov = overlay()
    ov.on_fill("AAPL", side, qty, price, now_ns=T0)
    assert ov.state is H


def test_reconcile_refuses_nonsense() -> None:
    ov = overlay()
    with pytest.raises(RiskError):
        ov.reconcile_position("AAPL", 10, math.nan, who="a", why="b")
    with pytest.raises(RiskError):
        ov.reconcile_position("AAPL", 10, 0, who="a", why="b")
    with pytest.raises(RiskError):
        ov.reconcile_position("AAPL", 1.5, MID, who="a", why="b")
    with pytest.raises(RiskError):
        ov.reconcile_position("AAPL", 1, MID, who="", why="b")
    with pytest.raises(RiskError, match="realised"):
        ov.reconcile_position("AAPL", 0, 0, realised=math.nan, who="a", why="b")


def test_reconciled_positions_count_against_the_limits() -> None:
    ov = overlay(limits(AAPL={"max_position": 100}))
    ov.reconcile_position("AAPL", 90, MID, who="ops", why="restart")
    approve(ov, buy(10))
    d = ov.check(buy(1, MID - 100), T0)
    assert isinstance(d, Denial) and d.reason is Reason.MAX_LONG_POSITION


# -- repeated-execution throttle ------------------------------------------------------------


@pytest.mark.parametrize(("fills", "state"), [(2, A), (3, A), (4, R)])
def test_fill_throttle(fills: int, state: KillState) -> None:
    ov = overlay(limits(max_fills=3, fill_window_ms=1000))
    for i in range(fills):
        ov.on_fill("AAPL", Side.BUY, 1, MID, now_ns=T0 + i * 300 * MS)
    assert ov.state is state
    if state is R:
        assert ov.history[-1].why == "FILL_THROTTLE: fills=4 in 1000 ms > max=3"


def test_fills_outside_the_window_do_not_count() -> None:
    ov = overlay(limits(max_fills=3, fill_window_ms=1000))
    for i in range(10):
        ov.on_fill("AAPL", Side.BUY, 1, MID, now_ns=T0 + i * 334 * MS)
    assert ov.state is A


def test_the_throttle_holds_until_a_person_re_enables() -> None:
    clock = ManualClock()
    ov = overlay(limits(max_fills=1, fill_window_ms=1000), clock=clock)
    ov.on_fill("AAPL", Side.BUY, 1, MID, now_ns=T0)
    ov.on_fill("AAPL", Side.BUY, 1, MID, now_ns=T0)
    assert ov.state is R
    later = T0 + 60_000 * MS
    ov.on_market("AAPL", MID, later)
    assert ov.state is R
    d = ov.check(buy(1), later)
    assert isinstance(d, Denial) and d.reason is Reason.REDUCE_ONLY
    approve(ov, sell(2), later)
    ov.re_enable("frank", "fills were a venue replay")
    assert ov.state is A
    approve(ov, buy(1, MID - 100), later)


# -- metrics --------------------------------------------------------------------------------


def test_metrics_are_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    clock = ManualClock()
    ov = RiskOverlay(
        limits(
            max_gross_position=1000,
            max_daily_loss=1000.0,
            max_working_orders=4,
            max_orders_per_s=10,
            order_burst=10,
            AAPL={"max_position": 500},
        ),
        clock=clock,
        registry=registry,
    )
    ov.on_market("AAPL", MID, T0)
    ov.on_market("MSFT", MID, T0)
    ov.on_fill("AAPL", Side.BUY, 100, MID, now_ns=T0)
    ov.on_order_sent(approve(ov, buy(150)), "b1", T0)
    ov.check(buy(10**9), T0)
    ov.check(buy(10, symbol="TSLA"), T0)
    ov.on_market("AAPL", 990_000.0, T0)  # loss 100 × 1.00 = 100 of 1000

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("rlexec_risk_checks_total") == 3
    assert value("rlexec_risk_approvals_total") == 1
    assert value("rlexec_risk_denials_total", reason="MAX_ORDER_QTY") == 1
    assert value("rlexec_risk_denials_total", reason="SYMBOL_NOT_ALLOWED") == 1
    assert value("rlexec_risk_denials_total", reason="HALTED") == 0
    assert value("rlexec_risk_state", state="ACTIVE") == 1
    assert value("rlexec_risk_state", state="HALTED") == 0
    util = "rlexec_risk_limit_utilisation_ratio"
    assert value(util, limit="long_position", symbol="AAPL") == pytest.approx(250 / 500)
    assert value(util, limit="short_position", symbol="AAPL") == 0
    assert value(util, limit="gross_position", symbol="") == pytest.approx(250 / 1000)
    assert value(util, limit="daily_loss", symbol="") == pytest.approx(100 / 1000)
    assert value(util, limit="working_orders", symbol="") == pytest.approx(1 / 4)
    assert value(util, limit="order_rate", symbol="") == pytest.approx(1 / 10)
    clock.advance(1000 * MS)
    assert value(util, limit="order_rate", symbol="") == 0
    ov.halt("ops", "metrics test")
    assert value("rlexec_risk_state", state="HALTED") == 1
    assert value("rlexec_risk_state", state="ACTIVE") == 0
    assert b"rlexec_risk_denials_total" in generate_latest(registry)


def test_two_overlays_cannot_share_a_registry_by_accident() -> None:
    registry = CollectorRegistry()
    RiskOverlay(limits(), registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        RiskOverlay(limits(), registry=registry)


def test_an_event_with_a_bad_timestamp_is_still_recorded_at_the_clock() -> None:
    clock = ManualClock()
    ov = overlay(clock=clock)
    bad: Any = math.nan
    ov.on_order_sent(approve(ov, buy(10)), "b1", bad)
    ov.on_fill("AAPL", Side.BUY, 10, MID, order_id="b1", now_ns=bad)
    assert ov.position("AAPL").position == 10
    assert ov.working_orders == 0
