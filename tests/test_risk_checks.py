"""Every pre-trade check just under, at and just over its limit, with its reason code and numbers."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import Approval, Denial, KillState, Reason, RiskOverlay
from rlexec.risk.testing import MID, MS, NY, T0, ManualClock, buy, limits, overlay, sell


def approved(decision: Approval | Denial) -> bool:
    return isinstance(decision, Approval)


def reason(decision: Approval | Denial) -> Reason | None:
    return decision.reason if isinstance(decision, Denial) else None


def fresh_check(intent: OrderIntent, now_ns: int = T0 + MS, **lim: Any) -> Approval | Denial:
    return overlay(limits(**lim)).check(intent, now_ns)


# -- allow-list and trading window ----------------------------------------------------------


def test_symbol_allow_list() -> None:
    ov = overlay()
    assert approved(ov.check(buy(10, symbol="AAPL"), T0))
    d = ov.check(buy(10, symbol="TSLA"), T0)
    assert reason(d) is Reason.SYMBOL_NOT_ALLOWED
    assert "symbol='TSLA'" in str(d)


def ns_at(hour: int, minute: int, second: int = 0, day: int = 21, month: int = 6) -> int:
    return int(datetime(2012, month, day, hour, minute, second, tzinfo=NY).timestamp()) * 10**9


@pytest.mark.parametrize(
    ("now_ns", "ok"),
    [
        (ns_at(9, 30) - 1, False),
        (ns_at(9, 30), True),
        (ns_at(9, 30) + 1, True),
        (ns_at(16, 0) - 1, True),
        (ns_at(16, 0), False),
        (ns_at(16, 0) + 1, False),
        (ns_at(3, 0), False),
        (ns_at(10, 0, day=22), True),  # the next day: the cached bounds move
        (ns_at(9, 29, 59, day=22), False),
        (ns_at(12, 0, day=15, month=1), True),  # winter time (UTC-5) as well as summer (UTC-4)
        (ns_at(16, 0, day=15, month=1), False),
    ],
)
def test_trading_window(now_ns: int, ok: bool) -> None:
    clock = ManualClock(now_ns)
    ov = overlay(clock=clock)
    d = ov.check(buy(10), now_ns)
    assert approved(d) is ok, d
    if not ok:
        assert reason(d) is Reason.OUTSIDE_TRADING_WINDOW
        assert "09:30:00–16:00:00 America/New_York" in str(d)


def test_trading_window_in_another_zone() -> None:
    lim = limits(trading_window={"start": "08:00", "end": "16:30", "tz": "Europe/London"})
    london = ZoneInfo("Europe/London")
    london_0800 = int(datetime(2012, 6, 21, 8, 0, tzinfo=london).timestamp()) * 10**9
    ov = overlay(lim, clock=ManualClock(london_0800))
    assert approved(ov.check(buy(10), london_0800))
    assert reason(ov.check(buy(11), london_0800 - 1)) is Reason.OUTSIDE_TRADING_WINDOW


# -- quantity and notional ------------------------------------------------------------------


@pytest.mark.parametrize(("qty", "ok"), [(9, False), (10, True), (11, True)])
def test_min_order_qty(qty: int, ok: bool) -> None:
    d = fresh_check(buy(qty), AAPL={"min_order_qty": 10})
    assert approved(d) is ok
    if not ok:
        assert str(d) == "MIN_ORDER_QTY: qty=9 < min=10"


@pytest.mark.parametrize(("qty", "ok"), [(9_999, True), (10_000, True), (10_001, False)])
def test_max_order_qty(qty: int, ok: bool) -> None:
    d = fresh_check(buy(qty), AAPL={"max_order_qty": 10_000})
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.MAX_ORDER_QTY


def test_max_order_qty_message_has_the_numbers() -> None:
    d = fresh_check(sell(15_000), AAPL={"max_order_qty": 10_000})
    assert str(d) == "MAX_ORDER_QTY: qty=15000 > max=10000"


@pytest.mark.parametrize(("qty", "ok"), [(999, True), (1000, True), (1001, False)])
@pytest.mark.parametrize("market", [False, True])
def test_max_order_notional(qty: int, ok: bool, market: bool) -> None:
    # $100.00 a share: 1000 shares is exactly $100,000 (a market order is valued at the mid).
    intent = buy(qty, None if market else MID)
    d = fresh_check(intent, AAPL={"max_order_notional": 100_000.0})
    assert approved(d) is ok
    if not ok:
        assert str(d) == "MAX_ORDER_NOTIONAL: notional=100100.00 > max=100000.00"


# -- reference price: collar, missing, stale ------------------------------------------------

THROUGH_50BPS = MID * 50 // 10_000  # 5000 units = $0.50 on $100.00


@pytest.mark.parametrize(
    ("intent", "ok"),
    [
        (buy(10, MID + THROUGH_50BPS - 1), True),
        (buy(10, MID + THROUGH_50BPS), True),
        (buy(10, MID + THROUGH_50BPS + 1), False),
        (sell(10, MID - THROUGH_50BPS + 1), True),
        (sell(10, MID - THROUGH_50BPS), True),
        (sell(10, MID - THROUGH_50BPS - 1), False),
        (buy(10, MID // 2), True),  # far from the market on the passive side is not "through"
        (sell(10, MID * 2), True),
    ],
)
def test_price_collar(intent: OrderIntent, ok: bool) -> None:
    d = fresh_check(intent, AAPL={"price_collar_bps": 50})
    assert approved(d) is ok, d
    if not ok:
        assert reason(d) is Reason.PRICE_COLLAR
        assert "bps through mid=1e+06 > max=50 bps" in str(d)


def test_price_collar_uses_the_global_default() -> None:
    one_pct = MID // 100
    assert approved(fresh_check(buy(10, MID + one_pct), price_collar_bps=100))
    assert not approved(fresh_check(buy(10, MID + one_pct + 1), price_collar_bps=100))


def test_collar_against_a_half_tick_mid() -> None:
    ov = overlay(limits(AAPL={"price_collar_bps": 50}), mid=None)
    ov.on_market("AAPL", 1_000_050.0, T0)  # (bid + ask) / 2 can fall between ticks
    assert approved(ov.check(buy(10, 1_005_050), T0))  # 49.9975 bps
    assert not approved(ov.check(buy(10, 1_005_100), T0))


@pytest.mark.parametrize("intent", [buy(10), buy(10, None), sell(10, None)])
def test_no_reference_no_order(intent: OrderIntent) -> None:
    ov = overlay(mid=None)
    d = ov.check(intent, T0)
    assert reason(d) is Reason.NO_REFERENCE
    assert str(d) == "NO_REFERENCE: no mid yet for AAPL"


@pytest.mark.parametrize(
    ("age_ns", "ok"), [(1000 * MS - 1, True), (1000 * MS, True), (1000 * MS + 1, False)]
)
def test_stale_reference(age_ns: int, ok: bool) -> None:
    ov = overlay(limits(max_reference_age_ms=1000))
    d = ov.check(buy(10), T0 + age_ns)
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.STALE_REFERENCE
        assert "max=1000 ms" in str(d)


@pytest.mark.parametrize(
    ("ahead_ns", "ok"), [(1000 * MS - 1, True), (1000 * MS, True), (1000 * MS + 1, False)]
)
def test_a_mid_from_the_future_is_not_fresh_forever(ahead_ns: int, ok: bool) -> None:
    ov = overlay(limits(max_reference_age_ms=1000))
    ov.on_market("AAPL", MID, T0 + ahead_ns)
    d = ov.check(buy(10), T0)
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.STALE_REFERENCE
        assert "in the future" in str(d)


def test_a_newer_mid_freshens_the_reference() -> None:
    ov = overlay(limits(max_reference_age_ms=1000))
    assert not approved(ov.check(buy(10), T0 + 2000 * MS))
    ov.on_market("AAPL", MID, T0 + 1500 * MS)
    assert approved(ov.check(buy(10), T0 + 2000 * MS))


# -- position limits, worst case of working orders ------------------------------------------


def filled(ov: RiskOverlay, side: Side, qty: int, price: int = MID, symbol: str = "AAPL") -> None:
    """An order approved, sent and filled in full."""
    intent = OrderIntent(symbol, side, qty, OrderType.LIMIT, price)
    d = ov.check(intent, T0)
    assert isinstance(d, Approval), d
    oid = f"fill-{ov.n_approved}"
    ov.on_order_sent(d, oid, T0)
    ov.on_fill(symbol, side, qty, price, order_id=oid, now_ns=T0)


def working(ov: RiskOverlay, side: Side, qty: int, price: int = MID, symbol: str = "AAPL") -> str:
    intent = OrderIntent(symbol, side, qty, OrderType.LIMIT, price)
    d = ov.check(intent, T0)
    assert isinstance(d, Approval), d
    oid = f"work-{ov.n_approved}"
    ov.on_order_sent(d, oid, T0)
    return oid


@pytest.mark.parametrize(("qty", "ok"), [(299, True), (300, True), (301, False)])
def test_max_long_counts_position_and_working_buys(qty: int, ok: bool) -> None:
    ov = overlay(limits(AAPL={"max_long_position": 1000, "max_short_position": 5000}))
    filled(ov, Side.BUY, 400)
    working(ov, Side.BUY, 300, MID - 100)
    d = ov.check(buy(qty, MID - 200), T0)
    assert approved(d) is ok
    if not ok:
        assert str(d) == (
            "MAX_LONG_POSITION: AAPL position=400 + working buys=300 + qty=301 = 1001 > max=1000"
        )


@pytest.mark.parametrize(("qty", "ok"), [(799, True), (800, True), (801, False)])
def test_max_short_counts_position_and_working_sells(qty: int, ok: bool) -> None:
    ov = overlay(limits(AAPL={"max_long_position": 5000, "max_short_position": 1000}))
    filled(ov, Side.SELL, 100)
    working(ov, Side.SELL, 100, MID + 100)
    d = ov.check(sell(qty, MID + 200), T0)
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.MAX_SHORT_POSITION
        assert "= 1001 > max=1000" in str(d)


def test_working_sells_do_not_offset_the_long_limit() -> None:
    # Worst case: the buys fill and the sells do not.
    ov = overlay(limits(AAPL={"max_position": 1000}))
    working(ov, Side.SELL, 900, MID + 100)
    assert approved(ov.check(buy(1000, MID - 100), T0))
    assert reason(ov.check(buy(1, MID - 200), T0)) is Reason.MAX_LONG_POSITION


def test_a_buy_while_short_is_measured_from_the_short_position() -> None:
    ov = overlay(limits(AAPL={"max_position": 1000}))
    filled(ov, Side.SELL, 500)
    assert approved(ov.check(buy(1500, MID - 100), T0))  # ends at +1000 in the worst case


@pytest.mark.parametrize(("qty", "ok"), [(399, True), (400, True), (401, False)])
def test_max_gross_position(qty: int, ok: bool) -> None:
    ov = overlay(limits(max_gross_position=1000))
    working(ov, Side.BUY, 600, symbol="AAPL")
    d = ov.check(sell(qty, symbol="MSFT"), T0)
    assert approved(d) is ok
    if not ok:
        assert str(d) == "MAX_GROSS_POSITION: gross=600 + 401 = 1001 > max=1000"


def test_gross_does_not_block_an_order_that_does_not_raise_the_worst_case() -> None:
    ov = overlay(limits(max_gross_position=1000))
    filled(ov, Side.BUY, 1000)
    ov.tighten(who="ops", why="test", max_gross_position=500)
    assert reason(ov.check(buy(1, MID - 100, symbol="MSFT"), T0)) is Reason.MAX_GROSS_POSITION
    assert approved(ov.check(sell(600, MID + 100), T0))  # worst case stays 1000 long


# -- working orders, rates, duplicates, self-match ------------------------------------------


def test_max_working_orders_just_under_at_over() -> None:
    ov = overlay(limits(max_working_orders=3))
    ids = [working(ov, Side.BUY, 10 + i, MID - 100 * i) for i in range(2)]  # under: 2 of 3
    assert approved(ov.check(buy(20, MID - 300), T0))  # at: the 3rd (approved = working)
    d = ov.check(buy(21, MID - 400), T0)  # over
    assert str(d) == "MAX_WORKING_ORDERS: working=3 + 1 > max=3"
    ov.on_cancelled(ids[0], T0)
    assert approved(ov.check(buy(22, MID - 500), T0))


def test_order_rate_token_bucket() -> None:
    ov = overlay(limits(max_orders_per_s=5, order_burst=5, max_working_orders=100))
    for i in range(5):
        assert approved(ov.check(buy(10 + i), T0)), i
    d = ov.check(buy(20), T0)
    assert reason(d) is Reason.ORDER_RATE
    assert "max=5/s, burst=5" in str(d)
    assert reason(ov.check(buy(21), T0 + 200 * MS - 1)) is Reason.ORDER_RATE  # just under 1 token
    assert approved(ov.check(buy(22), T0 + 200 * MS))  # exactly one token back
    assert reason(ov.check(buy(23), T0 + 200 * MS)) is Reason.ORDER_RATE


def test_denied_orders_take_no_tokens() -> None:
    ov = overlay(limits(max_orders_per_s=1, order_burst=1))
    for _ in range(5):
        assert reason(ov.check(buy(10**9), T0)) is Reason.MAX_ORDER_QTY
    assert approved(ov.check(buy(10), T0))


def test_message_rate_counts_cancels_but_never_blocks_them() -> None:
    ov = overlay(limits(max_messages_per_s=5, message_burst=5))
    oid = working(ov, Side.BUY, 10)  # 1 message
    for _ in range(3):
        ov.on_cancel_sent(oid, T0)  # 4 messages
    assert approved(ov.check(buy(11), T0))  # the 5th
    d = ov.check(buy(12), T0)
    assert reason(d) is Reason.MESSAGE_RATE
    for _ in range(20):
        ov.on_cancel_sent(oid, T0)  # cancels keep going out
    assert ov.n_cancels == 23
    # ... and run up a debt of at most one burst (5): one second's refill only repays it.
    ov.on_market("AAPL", MID, T0 + 1000 * MS)
    assert reason(ov.check(buy(13), T0 + 1000 * MS)) is Reason.MESSAGE_RATE
    assert approved(ov.check(buy(14), T0 + 1200 * MS))


@pytest.mark.parametrize(
    ("gap_ns", "ok"), [(500 * MS - 1, False), (500 * MS, True), (500 * MS + 1, True)]
)
def test_duplicate_order_window(gap_ns: int, ok: bool) -> None:
    ov = overlay(limits(duplicate_window_ms=500))
    assert approved(ov.check(buy(10), T0))
    d = ov.check(buy(10), T0 + gap_ns)
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.DUPLICATE_ORDER
        assert "< 500 ms" in str(d)


def test_duplicate_means_same_symbol_side_qty_and_price() -> None:
    ov = overlay()
    assert approved(ov.check(buy(10), T0))
    assert approved(ov.check(buy(11), T0))
    assert approved(ov.check(buy(10, MID - 100), T0))
    assert approved(ov.check(buy(10, symbol="MSFT"), T0))
    assert approved(ov.check(sell(10, MID + 100, symbol="MSFT"), T0))
    assert reason(ov.check(buy(10), T0)) is Reason.DUPLICATE_ORDER
    assert approved(ov.check(buy(10, None), T0))  # a market order is another order
    assert reason(ov.check(buy(10, None), T0)) is Reason.DUPLICATE_ORDER


@pytest.mark.parametrize(("delta", "ok"), [(-1, True), (0, False), (1, False)])
def test_self_match_buy_against_our_sell(delta: int, ok: bool) -> None:
    ov = overlay()
    working(ov, Side.SELL, 10, MID + 100)
    d = ov.check(buy(10, MID + 100 + delta), T0)
    assert approved(d) is ok
    if not ok:
        assert str(d) == (
            f"SELF_MATCH: AAPL BUY price={MID + 100 + delta} would cross our working SELL at {MID + 100}"
        )


@pytest.mark.parametrize(("delta", "ok"), [(1, True), (0, False), (-1, False)])
def test_self_match_sell_against_our_buy(delta: int, ok: bool) -> None:
    ov = overlay()
    working(ov, Side.BUY, 10, MID - 100)
    d = ov.check(sell(10, MID - 100 + delta), T0)
    assert approved(d) is ok
    if not ok:
        assert reason(d) is Reason.SELF_MATCH


def test_self_match_market_orders_and_release() -> None:
    ov = overlay()
    oid = working(ov, Side.SELL, 10, MID + 500)
    assert reason(ov.check(buy(10, None), T0)) is Reason.SELF_MATCH
    assert approved(ov.check(buy(10, MID - 100, symbol="MSFT"), T0))  # other symbol
    ov.on_cancelled(oid, T0)
    assert approved(ov.check(buy(10, None), T0))
    # our working market buy crosses any sell
    assert reason(ov.check(sell(10, MID + 10_000), T0)) is Reason.SELF_MATCH


# -- kill-switch states in the check --------------------------------------------------------


def test_halted_denies_everything_new_and_cancels_still_pass() -> None:
    ov = overlay()
    oid = working(ov, Side.BUY, 10)
    ov.halt("alice", "fat finger in the model")
    d = ov.check(buy(1), T0)
    assert reason(d) is Reason.HALTED
    assert str(d) == "HALTED: no new orders (by alice: fat finger in the model)"
    assert ov.working_order_ids() == [oid]
    ov.on_cancel_sent(oid, T0)  # counted, never blocked
    ov.on_cancelled(oid, T0)
    assert ov.working_orders == 0


@pytest.mark.parametrize(("qty", "ok"), [(99, True), (100, True), (101, False)])
def test_reducing_allows_only_what_reduces_the_position(qty: int, ok: bool) -> None:
    ov = overlay()
    filled(ov, Side.BUY, 150)
    working(ov, Side.SELL, 50, MID + 100)
    ov.reduce("bob", "market looks wrong")
    d = ov.check(sell(qty, MID + 200), T0)
    assert approved(d) is ok
    if not ok:
        assert str(d) == (
            "REDUCE_ONLY: AAPL SELL qty=101 + working=50 does not reduce position=150"
        )
    assert reason(ov.check(buy(1, MID - 100), T0)) is Reason.REDUCE_ONLY


def test_reducing_when_flat_allows_nothing() -> None:
    ov = overlay()
    ov.reduce("bob", "test")
    assert reason(ov.check(buy(1), T0)) is Reason.REDUCE_ONLY
    assert reason(ov.check(sell(1), T0)) is Reason.REDUCE_ONLY


def test_reducing_buy_while_short() -> None:
    ov = overlay()
    filled(ov, Side.SELL, 100)
    ov.reduce("bob", "test")
    assert approved(ov.check(buy(100, MID - 100), T0))
    assert reason(ov.check(buy(1, MID - 200), T0)) is Reason.REDUCE_ONLY


# -- fail closed ----------------------------------------------------------------------------


def raw_intent(**fields: Any) -> OrderIntent:
    """An intent with fields OrderIntent's own checks do not look at (as a buggy caller makes)."""
    base: dict[str, Any] = {
        "symbol": "AAPL",
        "side": Side.BUY,
        "quantity": 10,
        "order_type": OrderType.LIMIT,
        "price": MID,
    }
    base.update(fields)
    intent = object.__new__(OrderIntent)
    for key, value in base.items():
        object.__setattr__(intent, key, value)
    object.__setattr__(intent, "time_in_force", TimeInForce.DAY)
    object.__setattr__(intent, "parent_id", None)
    return intent


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"quantity": math.nan}, Reason.NON_FINITE, "NON_FINITE: qty=nan"),
        ({"quantity": math.inf}, Reason.NON_FINITE, "NON_FINITE: qty=inf"),
        ({"quantity": -math.inf}, Reason.NON_FINITE, "NON_FINITE: qty=-inf"),
        ({"price": math.nan}, Reason.NON_FINITE, "NON_FINITE: price=nan"),
        ({"price": math.inf}, Reason.NON_FINITE, "NON_FINITE: price=inf"),
        ({"price": -1}, Reason.INVALID_ORDER, "INVALID_ORDER: price=-1 is not positive"),
        ({"price": 0}, Reason.INVALID_ORDER, "INVALID_ORDER: price=0 is not positive"),
        ({"price": 100.5}, Reason.INVALID_ORDER, "is not an integer (float)"),
        ({"quantity": -5}, Reason.INVALID_ORDER, "INVALID_ORDER: qty=-5 is not positive"),
        ({"quantity": 0}, Reason.INVALID_ORDER, "INVALID_ORDER: qty=0 is not positive"),
        ({"quantity": 10.0}, Reason.INVALID_ORDER, "is not an integer (float)"),
        ({"quantity": True}, Reason.INVALID_ORDER, "is not an integer (bool)"),
        ({"quantity": "10"}, Reason.INVALID_ORDER, "is not an integer (str)"),
        ({"side": 1}, Reason.INVALID_ORDER, "side=1 is not a Side"),
        ({"price": None}, Reason.INVALID_ORDER, "price=None is not an integer"),
        ({"order_type": OrderType.MARKET}, Reason.INVALID_ORDER, "order_type="),
        ({"order_type": "LIMIT"}, Reason.INVALID_ORDER, "order_type="),
        ({"symbol": ["AAPL"]}, Reason.SYMBOL_NOT_ALLOWED, "symbol=['AAPL']"),
        ({"symbol": None}, Reason.SYMBOL_NOT_ALLOWED, "symbol=None"),
    ],
)
def test_bad_intents_fail_closed(fields: dict[str, Any], code: Reason, text: str) -> None:
    d = overlay().check(raw_intent(**fields), T0)
    assert reason(d) is code
    assert text in str(d)


@pytest.mark.parametrize("now", [math.nan, math.inf, float(T0)])
def test_bad_time_fails_closed(now: Any) -> None:
    d = overlay().check(buy(10), now)
    assert reason(d) in (Reason.NON_FINITE, Reason.INVALID_ORDER)
    assert "now_ns=" in str(d)


def test_not_an_intent_is_a_denial_not_an_exception() -> None:
    ov = overlay()
    bad: Any = None
    assert reason(ov.check(bad, T0)) is Reason.INVALID_ORDER
    assert reason(ov.check(OrderIntent("AAPL", Side.BUY, 10, price=MID), T0)) is None


@pytest.mark.parametrize(
    ("mid", "code"),
    [
        (math.nan, Reason.NON_FINITE),
        (math.inf, Reason.NON_FINITE),
        (-math.inf, Reason.NON_FINITE),
        (-1.0, Reason.BAD_REFERENCE),
        (0, Reason.BAD_REFERENCE),
        ("1000000", Reason.BAD_REFERENCE),
    ],
)
def test_a_bad_mid_fails_closed_until_a_good_one(mid: Any, code: Reason) -> None:
    ov = overlay()
    ov.on_market("AAPL", mid, T0)
    d = ov.check(buy(10), T0)
    assert reason(d) is code
    assert repr(mid) in str(d)
    assert reason(ov.check(buy(10, None), T0)) is code
    assert approved(ov.check(buy(10, symbol="MSFT"), T0))  # other symbols go on
    ov.on_market("AAPL", float(MID), T0)
    assert approved(ov.check(buy(10), T0))


def test_a_bad_market_timestamp_fails_closed() -> None:
    ov = overlay()
    bad: Any = math.nan
    ov.on_market("AAPL", MID, bad)
    assert reason(ov.check(buy(10), T0)) is Reason.NON_FINITE


def test_check_never_raises() -> None:
    ov = overlay()

    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = None  # type: ignore[assignment]

    d = ov.check(raw_intent(symbol=Weird()), T0)
    assert reason(d) is Reason.SYMBOL_NOT_ALLOWED
    assert ov.state is KillState.ACTIVE
