"""The matching core: participants' orders against everything resting, in price-time priority.

Synchronous and I/O-free: callers (the market replay, the FIX venue, the training
environment) hand it requests and get back the typed reports they caused. Every request
is validated completely before anything changes, so a refused request leaves the book
exactly as it was.

Rules:
- Limit and market orders, DAY and IOC. A market order, and an IOC order's remainder, never
  rest: what does not fill is cancelled.
- An incoming order walks the opposite side best price first and, within a price, oldest
  first: anonymous historical volume (always the oldest), then historical and participant
  orders in arrival order. It trades at the resting order's price, never beyond its limit.
- Beyond the stored depth (`BookSide.bound`) historical orders are not trusted; the
  `SyntheticDepth` model supplies liquidity there instead (see depth.py), interleaved by
  price with any participant orders resting out there.
- Replace keeps time priority only when the price is unchanged and the quantity does not
  grow; otherwise the order goes to the back of its (new) level and may trade at once.
- Self-match prevention: an incoming order never trades with a resting order of the same
  client; by default the resting one is cancelled (`SelfMatchPolicy`).
- Prices seen by participants are book prices + `offset` (the impact model's shift).
"""

from __future__ import annotations

from rlexec.market.events import MarketEvent, Trade
from rlexec.market.instrument import Instrument, price_to_float
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.book import BookSide, HistOrder, Level
from rlexec.simulator.depth import SyntheticDepth
from rlexec.simulator.orders import (
    CancelReject,
    ExecType,
    Liquidity,
    Order,
    OrderStatus,
    RejectCode,
    Report,
    SelfMatchPolicy,
    report,
)

DEFAULT_MAX_QUANTITY = 10_000_000


def _is_int(value: object) -> bool:
    return type(value) is int


class MatchingEngine:
    """One instrument's book and its participants' orders."""

    def __init__(
        self,
        instrument: Instrument,
        self_match: SelfMatchPolicy = SelfMatchPolicy.CANCEL_RESTING,
        depth: SyntheticDepth | None = None,
        max_quantity: int = DEFAULT_MAX_QUANTITY,
    ) -> None:
        self.instrument = instrument
        self.self_match = self_match
        self.depth = depth
        self.max_quantity = max_quantity
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.orders: dict[int, Order] = {}
        self._by_client_order_id: dict[tuple[str, str], Order] = {}
        self._next_order_id = 1
        self.offset = 0
        """Impact shift: participant price = book price + offset."""
        self.now_ns = 0
        self.closed = False
        self.trades: list[MarketEvent] | None = None
        """When a list, every simulated trade print is appended to it (market data)."""
        self.last_trade: Trade | None = None
        self.taken_signed = 0
        """Σ side × qty that participants took by aggressing (read and reset by the impact model)."""

    # -- requests --------------------------------------------------------------------------

    def submit(
        self,
        client_id: str,
        side: Side,
        quantity: int,
        price: int | None = None,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.DAY,
        client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> list[Report]:
        """A new order: NEW then any fills, or a single REJECTED report."""
        order_id = self._next_order_id
        self._next_order_id += 1
        clid = client_order_id if client_order_id is not None else str(order_id)
        problem = self._check_new(client_id, side, quantity, price, order_type, time_in_force)
        if problem is None and (client_id, clid) in self._by_client_order_id:
            problem = (RejectCode.DUPLICATE_ORDER, f"client_order_id={clid!r} already used")
        if problem is None and symbol is not None and symbol != self.instrument.symbol:
            problem = (
                RejectCode.UNKNOWN_SYMBOL,
                f"symbol={symbol!r}, this venue trades {self.instrument.symbol!r}",
            )
        if problem is not None:
            qty = quantity if _is_int(quantity) else 0
            px = price if _is_int(price) else None
            side_ = side if isinstance(side, Side) else Side.BUY
            order = Order(
                order_id, client_id, clid, side_, order_type, time_in_force, px, qty, self.now_ns
            )
            order.status = OrderStatus.REJECTED
            order.leaves = 0
            code, text = problem
            return [report(order, self.now_ns, ExecType.REJECTED, reject_code=code,
                           reason=f"{code.value}: {text}")]  # fmt: skip
        order = Order(
            order_id, client_id, clid, side, order_type, time_in_force, price, quantity, self.now_ns
        )
        self.orders[order_id] = order
        self._by_client_order_id[(client_id, clid)] = order
        out: list[Report] = [report(order, self.now_ns, ExecType.NEW)]
        self._enter(order, out)
        return out

    def cancel(
        self,
        client_id: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        new_client_order_id: str | None = None,
    ) -> list[Report]:
        """Cancel an order named by engine id or client order id: CANCELED, or a CancelReject."""
        order = self._find(client_id, order_id, client_order_id)
        problem = self._check_amend(
            client_id, order, order_id, client_order_id, new_client_order_id
        )
        if problem is not None:
            return [self._cancel_reject(client_id, order, client_order_id, new_client_order_id,
                                        problem, is_replace=False)]  # fmt: skip
        assert order is not None
        orig = self._rename(order, new_client_order_id)
        out: list[Report] = []
        self._cancel_order(order, out, reason=None, orig=orig)
        return out

    def replace(
        self,
        client_id: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        new_client_order_id: str | None = None,
        quantity: int | None = None,
        price: int | None = None,
    ) -> list[Report]:
        """Change a resting limit order's total quantity and/or price (None keeps it)."""
        order = self._find(client_id, order_id, client_order_id)
        problem = self._check_amend(
            client_id, order, order_id, client_order_id, new_client_order_id
        )
        if problem is None:
            assert order is not None
            new_qty = order.quantity if quantity is None else quantity
            new_px = order.price if price is None else price
            if order.order_type is not OrderType.LIMIT:
                problem = (RejectCode.BAD_ORDER, "only resting limit orders can be replaced")
            else:
                problem = self._check_quantity(new_qty) or self._check_price(new_px)
            if problem is None and new_qty <= order.cum_qty:
                problem = (
                    RejectCode.BAD_QUANTITY,
                    f"quantity={new_qty} is not above the filled quantity {order.cum_qty}",
                )
        if problem is not None:
            return [self._cancel_reject(client_id, order, client_order_id, new_client_order_id,
                                        problem, is_replace=True)]  # fmt: skip
        assert order is not None and new_px is not None
        orig = self._rename(order, new_client_order_id)
        out: list[Report] = []
        side = self.bids if order.side is Side.BUY else self.asks
        if new_px == order.price and new_qty <= order.quantity:
            cut = order.quantity - new_qty  # keeps its place in the queue
            order.quantity = new_qty
            order.leaves -= cut
            lvl = order.level
            assert isinstance(lvl, Level)
            lvl.own -= cut
            side.own_total -= cut
            order.transition(order.status)
            out.append(report(order, self.now_ns, ExecType.REPLACED, orig_client_order_id=orig))
            return out
        self._unrest(order)
        order.quantity = new_qty
        order.leaves = new_qty - order.cum_qty
        order.price = new_px
        order.transition(order.status)
        out.append(report(order, self.now_ns, ExecType.REPLACED, orig_client_order_id=orig))
        self._enter(order, out)
        return out

    def cancel_all(self, client_id: str, side: Side | None = None) -> list[Report]:
        """Mass cancel: every working order of a client (on one side, if given)."""
        out: list[Report] = []
        for order in self.working_orders(client_id):
            if side is None or order.side is side:
                self._cancel_order(order, out, reason=None)
        return out

    def expire_all(self) -> list[Report]:
        """End of the trading day: every working order expires; nothing new is accepted."""
        out: list[Report] = []
        for order in self.working_orders():
            self._unrest(order)
            order.canceled_qty += order.leaves
            order.leaves = 0
            order.transition(OrderStatus.EXPIRED)
            out.append(
                report(order, self.now_ns, ExecType.EXPIRED, reason="MARKET_CLOSED: end of data")
            )
        self.closed = True
        return out

    # -- queries ---------------------------------------------------------------------------

    def order_for(
        self, client_id: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order | None:
        return self._find(client_id, order_id, client_order_id)

    def working_orders(self, client_id: str | None = None) -> list[Order]:
        """Resting orders, oldest first."""
        return [
            o
            for o in self.orders.values()
            if o.level is not None and (client_id is None or o.client_id == client_id)
        ]

    def queue_ahead(self, order: Order) -> int:
        """Displayed volume ahead of a resting order at its price (historical and participant)."""
        lvl = order.level
        if not isinstance(lvl, Level):
            return 0
        side = self.bids if order.side is Side.BUY else self.asks
        trusted = side.within_bound(lvl.price)
        ahead = lvl.anon_sim if trusted else 0
        for key, entry in lvl.orders.items():
            if key == -order.order_id:
                break
            if key > 0:
                if trusted:
                    ahead += entry.sim  # type: ignore[union-attr]
            else:
                ahead += entry.leaves  # type: ignore[union-attr]
        return ahead

    # -- validation ------------------------------------------------------------------------

    def _check_new(
        self,
        client_id: str,
        side: Side,
        quantity: int,
        price: int | None,
        order_type: OrderType,
        time_in_force: TimeInForce,
    ) -> tuple[RejectCode, str] | None:
        if self.closed:
            return (RejectCode.MARKET_CLOSED, "the replayed trading day is over")
        if not isinstance(side, Side):
            return (RejectCode.BAD_ORDER, f"side={side!r} is not BUY or SELL")
        if not isinstance(order_type, OrderType):
            return (RejectCode.BAD_ORDER, f"order_type={order_type!r} is not LIMIT or MARKET")
        if not isinstance(time_in_force, TimeInForce):
            return (RejectCode.BAD_ORDER, f"time_in_force={time_in_force!r} is not DAY or IOC")
        problem = self._check_quantity(quantity)
        if problem is not None:
            return problem
        if order_type is OrderType.MARKET:
            if price is not None:
                return (RejectCode.BAD_ORDER, f"a market order carries no price, got price={price}")
            return None
        return self._check_price(price)

    def _check_quantity(self, quantity: object) -> tuple[RejectCode, str] | None:
        lot = self.instrument.lot_size
        if not _is_int(quantity):
            return (
                RejectCode.BAD_QUANTITY,
                f"quantity={quantity!r} is not a whole number of shares",
            )
        assert isinstance(quantity, int)
        if quantity <= 0:
            return (RejectCode.BAD_QUANTITY, f"quantity={quantity} must be positive")
        if quantity % lot:
            return (RejectCode.BAD_QUANTITY, f"quantity={quantity} is not a multiple of lot={lot}")
        if quantity > self.max_quantity:
            return (RejectCode.BAD_QUANTITY, f"quantity={quantity}, limit={self.max_quantity}")
        return None

    def _check_price(self, price: object) -> tuple[RejectCode, str] | None:
        tick = self.instrument.tick_size
        if price is None:
            return (RejectCode.BAD_PRICE, "a limit order needs a price")
        if not _is_int(price):
            return (RejectCode.BAD_PRICE, f"price={price!r} is not an integer number of 1e-4 units")
        assert isinstance(price, int)
        if price <= 0:
            return (RejectCode.BAD_PRICE, f"price={price_to_float(price)} must be positive")
        if price % tick:
            return (
                RejectCode.BAD_PRICE,
                f"price={price_to_float(price)} is off the tick grid, tick={price_to_float(tick)}",
            )
        return None

    def _find(
        self, client_id: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is not None:
            order = self.orders.get(order_id)
            return order if order is not None and order.client_id == client_id else None
        if client_order_id is not None:
            return self._by_client_order_id.get((client_id, client_order_id))
        return None

    def _check_amend(
        self,
        client_id: str,
        order: Order | None,
        order_id: int | None,
        client_order_id: str | None,
        new_client_order_id: str | None,
    ) -> tuple[RejectCode, str] | None:
        if order is None:
            named = (
                f"order_id={order_id}"
                if order_id is not None
                else f"client_order_id={client_order_id!r}"
            )
            return (RejectCode.UNKNOWN_ORDER, f"{named}: no such order for client {client_id!r}")
        if order.level is None:
            return (RejectCode.ORDER_DONE, f"order_id={order.order_id} is {order.status.value}")
        if self.closed:
            return (RejectCode.MARKET_CLOSED, "the replayed trading day is over")
        if (
            new_client_order_id is not None
            and new_client_order_id != order.client_order_id
            and (client_id, new_client_order_id) in self._by_client_order_id
        ):
            return (
                RejectCode.DUPLICATE_ORDER,
                f"client_order_id={new_client_order_id!r} already used",
            )
        return None

    def _cancel_reject(
        self,
        client_id: str,
        order: Order | None,
        client_order_id: str | None,
        new_client_order_id: str | None,
        problem: tuple[RejectCode, str],
        is_replace: bool,
    ) -> CancelReject:
        code, text = problem
        return CancelReject(
            self.now_ns,
            client_id,
            order.order_id if order is not None else None,
            new_client_order_id
            or client_order_id
            or (order.client_order_id if order is not None else ""),
            order.client_order_id if order is not None else client_order_id,
            code,
            f"{code.value}: {text}",
            order.status if order is not None else None,
            is_replace,
        )

    def _rename(self, order: Order, new_client_order_id: str | None) -> str:
        orig = order.client_order_id
        if new_client_order_id is not None and new_client_order_id != orig:
            order.client_order_id = new_client_order_id
            self._by_client_order_id[(order.client_id, new_client_order_id)] = order
        return orig

    # -- matching --------------------------------------------------------------------------

    def _enter(self, order: Order, out: list[Report]) -> None:
        """Trade what can trade, then rest (DAY limit) or cancel (market, IOC) the rest."""
        stopped = self._take(order, out)
        if not order.leaves or stopped:
            return
        if order.order_type is OrderType.LIMIT and order.time_in_force is TimeInForce.DAY:
            self._rest(order)
        else:
            why = "market order" if order.order_type is OrderType.MARKET else "IOC"
            self._cancel_order(order, out, reason=f"{why}: unfilled remainder cancelled")

    def _take(self, order: Order, out: list[Report]) -> bool:
        """Walk the opposite side; True if self-match prevention cancelled the incoming order."""
        buy = order.side is Side.BUY
        book = self.asks if buy else self.bids
        limit = None if order.price is None else order.price - self.offset
        for lvl in book.iter_levels():
            p = lvl.price
            if limit is not None and (p > limit if buy else p < limit):
                return False
            if not book.within_bound(p):
                break
            if self._take_level(order, lvl, True, out):
                return True
            if not order.leaves:
                return False
        if not order.leaves or book.all_known():
            return False
        # Beyond the stored depth: synthetic levels and participant orders, merged by price.
        depth = self.depth
        is_bid = book.is_bid
        synthetic = iter(depth.offers(is_bid, book.bound, limit) if depth is not None else ())
        offer = next(synthetic, None)
        own_levels = iter(book.own_beyond_bound())
        lvl_next = next(own_levels, None)
        while order.leaves:
            if offer is not None and (
                lvl_next is None or not book.better(lvl_next.price, offer[0])
            ):
                assert depth is not None
                sp, available = offer
                qty = min(order.leaves, available)
                depth.take(is_bid, sp, qty)
                self._fill_taker(order, qty, sp + self.offset, out)
                offer = next(synthetic, None)
            elif lvl_next is not None:
                p = lvl_next.price
                if limit is not None and (p > limit if buy else p < limit):
                    return False
                if lvl_next.own and self._take_level(order, lvl_next, False, out):
                    return True
                lvl_next = next(own_levels, None)
            else:
                return False
        return False

    def _take_level(self, order: Order, lvl: Level, trusted: bool, out: list[Report]) -> bool:
        """Trade with one level's queue in time order; True if self-match stopped the order."""
        price = lvl.price + self.offset
        if trusted and lvl.anon_sim:
            qty = min(order.leaves, lvl.anon_sim)
            lvl.anon_sim -= qty
            lvl.sim -= qty
            self._fill_taker(order, qty, price, out)
        for key, entry in list(lvl.orders.items()):
            if not order.leaves:
                break
            if key > 0:
                if not trusted:
                    continue
                assert isinstance(entry, HistOrder)
                qty = min(order.leaves, entry.sim)
                if qty:
                    entry.sim -= qty
                    lvl.sim -= qty
                    self._fill_taker(order, qty, price, out)
                continue
            assert isinstance(entry, Order)
            if entry.client_id == order.client_id:
                policy = self.self_match
                if policy is not SelfMatchPolicy.CANCEL_INCOMING:
                    self._cancel_order(
                        entry,
                        out,
                        reason=f"SELF_MATCH: cancelled to avoid trading with order {order.order_id}",
                    )
                if policy is not SelfMatchPolicy.CANCEL_RESTING:
                    self._cancel_order(
                        order,
                        out,
                        reason=f"SELF_MATCH: cancelled to avoid trading with order {entry.order_id}",
                    )
                    return True
                continue
            qty = min(order.leaves, entry.leaves)
            self.fill_resting(entry, qty, out, count_print=False)
            self._fill_taker(order, qty, price, out)
        return False

    def _fill_taker(self, order: Order, qty: int, price: int, out: list[Report]) -> None:
        order.leaves -= qty
        order.cum_qty += qty
        order.notional += qty * price
        order.transition(OrderStatus.FILLED if not order.leaves else OrderStatus.PARTIALLY_FILLED)
        out.append(report(order, self.now_ns, ExecType.TRADE, qty, price, Liquidity.REMOVED))
        self.taken_signed += qty if order.side is Side.BUY else -qty
        self.print_trade(price, qty, order.side)

    def fill_resting(
        self, order: Order, qty: int, out: list[Report], count_print: bool = True
    ) -> None:
        """A resting participant order trades `qty` at its own price (it provided liquidity)."""
        price = order.price
        assert price is not None and 0 < qty <= order.leaves
        lvl = order.level
        assert isinstance(lvl, Level)
        side = self.bids if order.side is Side.BUY else self.asks
        order.leaves -= qty
        lvl.own -= qty
        side.own_total -= qty
        order.cum_qty += qty
        order.notional += qty * price
        if not order.leaves:
            del lvl.orders[-order.order_id]
            order.level = None
            if not lvl.own:
                del side.own_levels[lvl.price]
            side.discard(lvl)
            order.transition(OrderStatus.FILLED)
        else:
            order.transition(OrderStatus.PARTIALLY_FILLED)
        out.append(report(order, self.now_ns, ExecType.TRADE, qty, price, Liquidity.ADDED))
        if count_print:
            self.print_trade(price, qty, order.side.opposite)

    def print_trade(self, price: int, qty: int, aggressor: Side, hidden: bool = False) -> None:
        trade = Trade(self.now_ns, price, qty, aggressor, hidden)
        self.last_trade = trade
        if self.trades is not None:
            self.trades.append(trade)

    # -- resting ---------------------------------------------------------------------------

    def _rest(self, order: Order) -> None:
        assert order.price is not None
        side = self.bids if order.side is Side.BUY else self.asks
        key = order.price - self.offset
        lvl = side.level(key)
        lvl.orders[-order.order_id] = order
        lvl.own += order.leaves
        side.own_total += order.leaves
        side.own_levels[key] = lvl
        order.level = lvl
        order.key = key

    def _unrest(self, order: Order) -> None:
        lvl = order.level
        if not isinstance(lvl, Level):
            return
        side = self.bids if order.side is Side.BUY else self.asks
        del lvl.orders[-order.order_id]
        lvl.own -= order.leaves
        side.own_total -= order.leaves
        if not lvl.own:
            del side.own_levels[lvl.price]
        order.level = None
        side.discard(lvl)

    def _cancel_order(
        self, order: Order, out: list[Report], reason: str | None, orig: str | None = None
    ) -> None:
        self._unrest(order)
        order.canceled_qty += order.leaves
        order.leaves = 0
        order.transition(OrderStatus.CANCELED)
        code = RejectCode.SELF_MATCH if reason and reason.startswith("SELF_MATCH") else None
        out.append(report(order, self.now_ns, ExecType.CANCELED, reject_code=code, reason=reason,
                          orig_client_order_id=orig))  # fmt: skip

    def rekey(self, order: Order) -> None:
        """Move a resting order to the level its price maps to under the current offset
        (impact moved the market under it); it joins the back of that level's queue."""
        self._unrest(order)
        self._rest(order)

    # -- views -----------------------------------------------------------------------------

    def levels(self, side: Side, n: int | None = None) -> list[tuple[int, int]]:
        """Displayed (price, size) best first: trusted historical volume plus participants'."""
        book = self.bids if side is Side.BUY else self.asks
        out: list[tuple[int, int]] = []
        offset = self.offset
        levels = book.levels
        bound = book.bound
        if book.is_bid:
            for p in reversed(book.prices):
                if p < bound:
                    break
                lvl = levels[p]
                size = lvl.sim + lvl.own
                if size:
                    out.append((p + offset, size))
                    if len(out) == n:
                        return out
        else:
            for p in book.prices:
                if p > bound:
                    break
                lvl = levels[p]
                size = lvl.sim + lvl.own
                if size:
                    out.append((p + offset, size))
                    if len(out) == n:
                        return out
        if book.own_levels:
            for lvl in book.own_beyond_bound():
                out.append((lvl.price + offset, lvl.own))
                if len(out) == n:
                    break
        return out
