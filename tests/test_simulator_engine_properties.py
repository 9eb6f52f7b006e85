"""Property tests: the engine against a deliberately naive reference, plus book invariants."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.market.instrument import Instrument
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.engine import MatchingEngine
from rlexec.simulator.orders import ExecReport, ExecType, Liquidity, Report

PX = 1_000_000
TICK = 100
CLIENTS = ("A", "B", "C")


@dataclass
class RefOrder:
    oid: int
    client: str
    side: Side
    price: int
    leaves: int
    seq: int


class Reference:
    """A list of resting orders, sorted from scratch at every match: slow and obviously right."""

    def __init__(self) -> None:
        self.resting: list[RefOrder] = []
        self.seq = 0

    def _match(
        self, oid: int, client: str, side: Side, qty: int, limit: int | None
    ) -> tuple[list[tuple[int, int, int]], int]:
        """Returns fills (oid, qty, price) for both sides in engine order, and the remainder."""
        opp = [o for o in self.resting if o.side is not side]
        opp.sort(key=lambda o: (o.price if side is Side.BUY else -o.price, o.seq))
        out: list[tuple[int, int, int]] = []
        for o in opp:
            if not qty:
                break
            if limit is not None and (o.price > limit if side is Side.BUY else o.price < limit):
                break
            if o.client == client:  # self-match prevention: cancel the resting order
                self.resting.remove(o)
                continue
            q = min(qty, o.leaves)
            out += [(o.oid, q, o.price), (oid, q, o.price)]
            o.leaves -= q
            qty -= q
            if not o.leaves:
                self.resting.remove(o)
        return out, qty

    def submit(
        self, oid: int, client: str, side: Side, qty: int, price: int | None, ioc: bool
    ) -> list[tuple[int, int, int]]:
        out, left = self._match(oid, client, side, qty, price)
        if left and price is not None and not ioc:
            self.seq += 1
            self.resting.append(RefOrder(oid, client, side, price, left, self.seq))
        return out

    def cancel(self, oid: int) -> None:
        self.resting = [o for o in self.resting if o.oid != oid]

    def replace(
        self, oid: int, new_leaves: int, old_qty: int, new_qty: int, price: int
    ) -> list[tuple[int, int, int]]:
        order = next(o for o in self.resting if o.oid == oid)
        if price == order.price and new_qty <= old_qty:
            order.leaves = new_leaves
            return []
        self.resting.remove(order)
        return self.submit(oid, order.client, order.side, new_leaves, price, ioc=False)

    def queues(self, side: Side) -> list[tuple[int, list[int]]]:
        """Each price's order ids in time priority, best price first."""
        by_price: dict[int, list[RefOrder]] = {}
        for o in self.resting:
            if o.side is side:
                by_price.setdefault(o.price, []).append(o)
        return [
            (price, [o.oid for o in sorted(orders, key=lambda o: o.seq)])
            for price, orders in sorted(by_price.items(), reverse=side is Side.BUY)
        ]

    def levels(self, side: Side) -> list[tuple[int, int]]:
        sizes: dict[int, int] = {}
        for o in self.resting:
            if o.side is side:
                sizes[o.price] = sizes.get(o.price, 0) + o.leaves
        return sorted(sizes.items(), reverse=side is Side.BUY)


submit_action = st.tuples(
    st.just("submit"),
    st.sampled_from(CLIENTS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 300),
    st.one_of(st.none(), st.integers(-3, 3).map(lambda k: PX + k * TICK)),
    st.booleans(),
)
cancel_action = st.tuples(st.just("cancel"), st.integers(0, 10_000))
replace_action = st.tuples(
    st.just("replace"),
    st.integers(0, 10_000),
    st.integers(1, 300),
    st.one_of(st.none(), st.none(), st.integers(-3, 3).map(lambda k: PX + k * TICK)),
)
actions = st.lists(
    st.one_of(submit_action, submit_action, cancel_action, replace_action, replace_action),
    max_size=50,
)


def _fills(reports: list[Report]) -> list[tuple[int, int, int]]:
    return [
        (r.order_id, r.last_qty, r.last_price)
        for r in reports
        if isinstance(r, ExecReport) and r.is_fill
    ]


def _queues(e: MatchingEngine, side: Side) -> list[tuple[int, list[int]]]:
    book = e.bids if side is Side.BUY else e.asks
    return [(lvl.price, [-key for key in lvl.orders]) for lvl in book.iter_levels()]


def _check_invariants(e: MatchingEngine, reports: list[Report]) -> None:
    bids, asks = e.levels(Side.BUY), e.levels(Side.SELL)
    if bids and asks:
        assert bids[0][0] < asks[0][0], "book crossed after matching"
    for order in e.orders.values():
        assert order.cum_qty + order.leaves + order.canceled_qty == order.quantity
        assert order.leaves >= 0 and order.cum_qty >= 0
    for r in reports:
        if isinstance(r, ExecReport) and r.is_fill:
            order = e.orders[r.order_id]
            if order.price is not None:  # never worse than the limit
                assert (
                    (r.last_price <= order.price)
                    if r.side is Side.BUY
                    else (r.last_price >= order.price)
                )
            if r.liquidity is Liquidity.ADDED:  # a resting order trades at its own price
                assert r.last_price == order.price


@settings(max_examples=300, deadline=None)
@given(actions)
def test_engine_matches_the_naive_reference(script: list[tuple[object, ...]]) -> None:
    e = MatchingEngine(Instrument("TEST", tick_size=TICK))
    ref = Reference()
    ids: list[int] = []
    for action in script:
        if action[0] == "submit":
            _, client, side, qty, price, ioc = action
            assert isinstance(client, str) and isinstance(side, Side) and isinstance(qty, int)
            assert price is None or isinstance(price, int)
            assert isinstance(ioc, bool)
            otype = OrderType.MARKET if price is None else OrderType.LIMIT
            tif = TimeInForce.IOC if ioc else TimeInForce.DAY
            out = e.submit(client, side, qty, price, otype, tif)
            first = out[0]
            assert isinstance(first, ExecReport) and first.exec_type is ExecType.NEW
            ids.append(first.order_id)
            expected = ref.submit(first.order_id, client, side, qty, price, ioc or price is None)
        elif action[0] == "cancel":
            if not ids:
                continue
            assert isinstance(action[1], int)
            oid = ids[action[1] % len(ids)]
            order = e.orders[oid]
            out = e.cancel(order.client_id, oid)
            if order.leaves == 0 and order.level is None and out and isinstance(out[0], ExecReport):
                ref.cancel(oid)
            expected = []
        else:
            if not ids:
                continue
            _, pick, qty, price = action
            assert isinstance(pick, int) and isinstance(qty, int)
            working_ids = [o.order_id for o in e.working_orders()]
            pool = working_ids if working_ids and pick % 4 else ids  # mostly working orders
            oid = pool[pick % len(pool)]
            order = e.orders[oid]
            if pick % 3 == 0:
                qty = max(1, order.quantity - qty % order.quantity)  # a decrease
            working = order.level is not None
            old_qty, cum = order.quantity, order.cum_qty
            new_price = order.price if price is None else price
            assert isinstance(new_price, int) or new_price is None
            out = e.replace(
                order.client_id, oid, quantity=qty, price=price if isinstance(price, int) else None
            )
            accepted = isinstance(out[0], ExecReport)
            assert accepted == (working and qty > cum)
            expected = (
                ref.replace(oid, qty - cum, old_qty, qty, order.price or 0) if accepted else []
            )
        assert _fills(out) == expected
        _check_invariants(e, out)
        assert e.levels(Side.BUY) == ref.levels(Side.BUY)
        assert e.levels(Side.SELL) == ref.levels(Side.SELL)
        assert _queues(e, Side.BUY) == ref.queues(Side.BUY)  # price-time priority, order by order
        assert _queues(e, Side.SELL) == ref.queues(Side.SELL)
