"""The matching engine on its own: participants trading with each other, no replayed market."""

from __future__ import annotations

import pytest

from rlexec.market.errors import IllegalTransitionError
from rlexec.market.instrument import Instrument
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.engine import MatchingEngine
from rlexec.simulator.orders import (
    CancelReject,
    ExecReport,
    ExecType,
    Liquidity,
    Order,
    OrderStatus,
    RejectCode,
    Report,
    SelfMatchPolicy,
)

BUY, SELL = Side.BUY, Side.SELL
PX = 1_000_000  # $100.00


def engine(policy: SelfMatchPolicy = SelfMatchPolicy.CANCEL_RESTING) -> MatchingEngine:
    return MatchingEngine(Instrument("TEST", tick_size=100), self_match=policy)


def execs(reports: list[Report]) -> list[ExecReport]:
    assert all(isinstance(r, ExecReport) for r in reports)
    return [r for r in reports if isinstance(r, ExecReport)]


def fills(reports: list[Report]) -> list[tuple[str, int, int, Liquidity | None]]:
    return [
        (r.client_id, r.last_qty, r.last_price, r.liquidity) for r in execs(reports) if r.is_fill
    ]


def new_id(reports: list[Report]) -> int:
    first = reports[0]
    assert isinstance(first, ExecReport) and first.exec_type is ExecType.NEW
    return first.order_id


def book_state(e: MatchingEngine) -> tuple[object, ...]:
    return (
        tuple(e.levels(BUY)),
        tuple(e.levels(SELL)),
        tuple((o.order_id, o.leaves, o.status, o.price) for o in e.orders.values()),
    )


def test_price_then_time_priority() -> None:
    e = engine()
    first = new_id(e.submit("A", SELL, 100, PX + 200))
    second = new_id(e.submit("B", SELL, 100, PX + 100))  # better price, later
    third = new_id(e.submit("C", SELL, 100, PX + 100))  # same price, later still
    out = e.submit("D", BUY, 250, PX + 200)
    assert fills(out) == [
        ("B", 100, PX + 100, Liquidity.ADDED),
        ("D", 100, PX + 100, Liquidity.REMOVED),
        ("C", 100, PX + 100, Liquidity.ADDED),
        ("D", 100, PX + 100, Liquidity.REMOVED),
        ("A", 50, PX + 200, Liquidity.ADDED),
        ("D", 50, PX + 200, Liquidity.REMOVED),
    ]
    assert e.orders[second].status is OrderStatus.FILLED
    assert e.orders[third].status is OrderStatus.FILLED
    assert e.orders[first].status is OrderStatus.PARTIALLY_FILLED
    assert e.levels(SELL) == [(PX + 200, 50)]
    last = execs(out)[-1]
    assert last.cum_qty == 250 and last.leaves_qty == 0 and last.status is OrderStatus.FILLED
    assert last.avg_price == pytest.approx((200 * (PX + 100) + 50 * (PX + 200)) / 250)


def test_limit_never_trades_through_its_price_and_rests_the_rest() -> None:
    e = engine()
    e.submit("A", SELL, 100, PX)
    e.submit("A", SELL, 100, PX + 300)
    out = e.submit("B", BUY, 300, PX + 100)
    assert fills(out) == [("A", 100, PX, Liquidity.ADDED), ("B", 100, PX, Liquidity.REMOVED)]
    assert e.levels(BUY) == [(PX + 100, 200)]
    assert e.levels(SELL) == [(PX + 300, 100)]


def test_market_order_takes_what_there_is_and_cancels_the_rest() -> None:
    e = engine()
    e.submit("A", SELL, 100, PX)
    e.submit("A", SELL, 50, PX + 500)
    out = e.submit("B", BUY, 200, order_type=OrderType.MARKET)
    reports = execs(out)
    assert [r.exec_type for r in reports] == [
        ExecType.NEW, ExecType.TRADE, ExecType.TRADE, ExecType.TRADE, ExecType.TRADE,
        ExecType.CANCELED,
    ]  # fmt: skip
    final = reports[-1]
    assert final.cum_qty == 150 and final.leaves_qty == 0 and final.status is OrderStatus.CANCELED
    assert final.avg_price == pytest.approx((100 * PX + 50 * (PX + 500)) / 150)
    order = e.orders[final.order_id]
    assert order.cum_qty + order.leaves + order.canceled_qty == order.quantity
    assert e.levels(SELL) == [] and e.levels(BUY) == []


def test_ioc_limit_cancels_its_remainder_and_never_rests() -> None:
    e = engine()
    e.submit("A", BUY, 40, PX)
    out = e.submit("B", SELL, 100, PX, time_in_force=TimeInForce.IOC)
    reports = execs(out)
    assert fills(out)[-1] == ("B", 40, PX, Liquidity.REMOVED)
    assert reports[-1].exec_type is ExecType.CANCELED and reports[-1].leaves_qty == 0
    assert "IOC" in (reports[-1].reason or "")
    assert e.levels(SELL) == [] and e.levels(BUY) == []


def test_cancel_then_cancel_again_is_too_late() -> None:
    e = engine()
    oid = new_id(e.submit("A", BUY, 100, PX))
    out = e.cancel("A", oid)
    assert execs(out)[0].exec_type is ExecType.CANCELED
    assert e.levels(BUY) == []
    again = e.cancel("A", oid)
    assert len(again) == 1 and isinstance(again[0], CancelReject)
    assert again[0].reject_code is RejectCode.ORDER_DONE
    assert again[0].status is OrderStatus.CANCELED
    assert "CANCELED" in again[0].reason


def test_cancel_by_client_order_id_renames_the_order() -> None:
    e = engine()
    e.submit("A", BUY, 100, PX, client_order_id="c1")
    out = e.cancel("A", client_order_id="c1", new_client_order_id="c2")
    report = execs(out)[0]
    assert report.exec_type is ExecType.CANCELED
    assert report.client_order_id == "c2" and report.orig_client_order_id == "c1"


def test_partial_fill_then_cancel_conserves_quantity() -> None:
    e = engine()
    oid = new_id(e.submit("A", BUY, 100, PX))
    e.submit("B", SELL, 30, PX)
    out = e.cancel("A", oid)
    report = execs(out)[0]
    assert report.cum_qty == 30 and report.leaves_qty == 0
    order = e.orders[oid]
    assert (order.cum_qty, order.leaves, order.canceled_qty) == (30, 0, 70)


def test_replace_down_at_same_price_keeps_priority() -> None:
    e = engine()
    a = new_id(e.submit("A", BUY, 100, PX))
    e.submit("B", BUY, 100, PX)
    out = e.replace("A", a, quantity=60)
    assert execs(out)[0].exec_type is ExecType.REPLACED
    assert e.queue_ahead(e.orders[a]) == 0
    assert fills(e.submit("C", SELL, 60, PX))[0] == ("A", 60, PX, Liquidity.ADDED)


@pytest.mark.parametrize(("quantity", "price"), [(150, None), (100, PX - 100), (60, PX - 100)])
def test_replace_up_or_to_a_new_price_loses_priority(quantity: int, price: int | None) -> None:
    e = engine()
    a = new_id(e.submit("A", BUY, 100, PX))
    e.submit("B", BUY, 100, PX - 100 if price else PX)
    out = e.replace("A", a, quantity=quantity, price=price)
    assert execs(out)[0].exec_type is ExecType.REPLACED
    assert e.queue_ahead(e.orders[a]) == 100  # now behind B
    assert fills(e.submit("C", SELL, 100, PX - 100))[0][0] == "B"


def test_replace_to_a_marketable_price_trades_at_once() -> None:
    e = engine()
    e.submit("B", SELL, 100, PX + 100)
    a = new_id(e.submit("A", BUY, 100, PX))
    out = e.replace("A", a, price=PX + 100)
    assert [r.exec_type for r in execs(out)] == [ExecType.REPLACED, ExecType.TRADE, ExecType.TRADE]
    assert e.orders[a].status is OrderStatus.FILLED


def test_replace_of_a_partially_filled_order_counts_the_fill() -> None:
    e = engine()
    a = new_id(e.submit("A", BUY, 100, PX))
    e.submit("B", SELL, 40, PX)
    out = e.replace("A", a, quantity=70)
    report = execs(out)[0]
    assert (report.status, report.cum_qty, report.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED, 40, 30,
    )  # fmt: skip
    refused = e.replace("A", a, quantity=40)
    assert isinstance(refused[0], CancelReject)
    assert refused[0].reject_code is RejectCode.BAD_QUANTITY and "filled" in refused[0].reason


def test_replace_of_a_filled_order_is_refused_and_changes_nothing() -> None:
    e = engine()
    a = new_id(e.submit("A", BUY, 100, PX))
    e.submit("B", SELL, 100, PX)
    e.submit("B", SELL, 100, PX + 100)
    before = book_state(e)
    out = e.replace("A", a, quantity=200)
    assert len(out) == 1 and isinstance(out[0], CancelReject)
    assert out[0].reject_code is RejectCode.ORDER_DONE and out[0].is_replace
    assert out[0].status is OrderStatus.FILLED
    assert book_state(e) == before


def test_cancel_of_someone_elses_order_is_unknown_and_changes_nothing() -> None:
    e = engine()
    a = new_id(e.submit("A", BUY, 100, PX, client_order_id="x"))
    before = book_state(e)
    for out in (
        e.cancel("B", a),
        e.cancel("B", client_order_id="x"),
        e.replace("B", a, quantity=50),
    ):
        assert len(out) == 1 and isinstance(out[0], CancelReject)
        assert out[0].reject_code is RejectCode.UNKNOWN_ORDER
        assert "'B'" in out[0].reason
    assert book_state(e) == before


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"quantity": 0}, RejectCode.BAD_QUANTITY, "quantity=0 must be positive"),
        ({"quantity": -5}, RejectCode.BAD_QUANTITY, "quantity=-5"),
        ({"quantity": 10.5}, RejectCode.BAD_QUANTITY, "quantity=10.5 is not a whole number"),
        ({"quantity": True}, RejectCode.BAD_QUANTITY, "not a whole number"),
        ({"quantity": 20_000_000}, RejectCode.BAD_QUANTITY, "limit=10000000"),
        ({"price": PX + 50}, RejectCode.BAD_PRICE, "off the tick grid, tick=0.01"),
        ({"price": 0}, RejectCode.BAD_PRICE, "must be positive"),
        ({"price": 100.5}, RejectCode.BAD_PRICE, "not an integer"),
        ({"price": None}, RejectCode.BAD_PRICE, "needs a price"),
        ({"symbol": "MSFT"}, RejectCode.UNKNOWN_SYMBOL, "symbol='MSFT', this venue trades 'TEST'"),
        ({"order_type": OrderType.MARKET}, RejectCode.BAD_ORDER, "carries no price"),
    ],
)
def test_bad_orders_are_rejected_with_a_reason_and_change_nothing(
    kwargs: dict[str, object], code: RejectCode, words: str
) -> None:
    e = engine()
    e.submit("A", SELL, 100, PX)
    before = book_state(e)
    args: dict[str, object] = {"quantity": 100, "price": PX} | kwargs
    out = e.submit("B", BUY, **args)  # type: ignore[arg-type]
    assert len(out) == 1
    report = execs(out)[0]
    assert report.exec_type is ExecType.REJECTED and report.status is OrderStatus.REJECTED
    assert report.reject_code is code
    assert report.reason is not None and words in report.reason
    assert report.reason.startswith(code.value + ":")
    assert book_state(e) == before


def test_duplicate_client_order_id_is_rejected() -> None:
    e = engine()
    e.submit("A", BUY, 100, PX, client_order_id="same")
    out = e.submit("A", BUY, 100, PX, client_order_id="same")
    assert execs(out)[0].reject_code is RejectCode.DUPLICATE_ORDER
    assert execs(e.submit("B", BUY, 100, PX, client_order_id="same"))[0].exec_type is ExecType.NEW


@pytest.mark.parametrize("policy", list(SelfMatchPolicy))
def test_self_match_prevention(policy: SelfMatchPolicy) -> None:
    e = engine(policy)
    other = new_id(e.submit("B", SELL, 50, PX))
    mine = new_id(e.submit("A", SELL, 100, PX))
    out = execs(e.submit("A", BUY, 120, PX))
    incoming = out[0].order_id
    traded_with = [r.client_id for r in out if r.is_fill and r.liquidity is Liquidity.ADDED]
    assert traded_with == ["B"]  # never A against A
    assert e.orders[other].status is OrderStatus.FILLED
    cancels = {r.order_id: r for r in out if r.exec_type is ExecType.CANCELED}
    resting_cancelled = mine in cancels
    incoming_cancelled = incoming in cancels
    assert resting_cancelled == (policy is not SelfMatchPolicy.CANCEL_INCOMING)
    assert incoming_cancelled == (policy is not SelfMatchPolicy.CANCEL_RESTING)
    for r in cancels.values():
        assert r.reject_code is RejectCode.SELF_MATCH and "SELF_MATCH" in (r.reason or "")
    if policy is SelfMatchPolicy.CANCEL_RESTING:
        assert e.levels(BUY) == [(PX, 70)] and e.levels(SELL) == []
    elif policy is SelfMatchPolicy.CANCEL_INCOMING:
        assert e.levels(BUY) == [] and e.levels(SELL) == [(PX, 100)]
    else:
        assert e.levels(BUY) == [] and e.levels(SELL) == []


def test_mass_cancel_and_end_of_day() -> None:
    e = engine()
    e.submit("A", BUY, 100, PX)
    e.submit("A", SELL, 100, PX + 100)
    e.submit("B", BUY, 100, PX - 100)
    out = execs(e.cancel_all("A", side=BUY))
    assert [r.side for r in out] == [BUY] and out[0].exec_type is ExecType.CANCELED
    expired = execs(e.expire_all())
    assert {r.client_id for r in expired} == {"A", "B"}
    assert all(r.exec_type is ExecType.EXPIRED and r.leaves_qty == 0 for r in expired)
    late = execs(e.submit("A", BUY, 100, PX))[0]
    assert late.reject_code is RejectCode.MARKET_CLOSED


def test_status_table_refuses_illegal_transitions() -> None:
    order = Order(1, "A", "1", BUY, OrderType.LIMIT, TimeInForce.DAY, PX, 100, 0)
    order.transition(OrderStatus.FILLED)
    with pytest.raises(IllegalTransitionError, match="FILLED → PARTIALLY_FILLED"):
        order.transition(OrderStatus.PARTIALLY_FILLED)
    with pytest.raises(IllegalTransitionError):
        order.transition(OrderStatus.CANCELED)
