"""The execution port: what an algo sees and the one place that turns its intent into orders.

An algo (TWAP, VWAP, POV, Almgren–Chriss, submit-and-leave, RL) is written once against
`ExecutionPort`. Two adapters implement it: the in-process replay (`models.execution`,
used by the training environment and the backtests) and the live service's adapter
(OMS + OrderGate over FIX). Both inherit `PlannedExecution`, so the tactic pricing and the
cancel / replace / new logic below are literally the same code in training and live:
what is trained is what is run.

`plan()` is a pure function of the working child orders and the target. Its contract:

- `rest(q, price)`: have `q` shares resting at `price`. Orders at another price are
  cancelled; orders at the price are kept oldest first (they hold the best queue
  positions), the one that straddles `q` is shrunk in place by a replace (a size decrease
  keeps priority), later ones cancelled; the shortfall is a new order at `price`.
- `take(q, price)`: cancel everything, then one IOC limit for `q` at `price` — except
  children of ours already resting at `price` (a limit price clamped the take back to
  where they rest, live): they are as good as the IOC and hold their queue position, so
  they are kept as `rest` keeps them (oldest first, the straddler shrunk, later ones
  cancelled) and the IOC is only for what they do not cover, if anything. Nothing of ours
  rests through the far touch, so without a limit (the replay) a take is as it always was.
- A child with a cancel or replace already in flight (`pending`) is left alone. If it will
  keep resting (a replace in flight, an order not yet acknowledged), its open quantity
  counts against what `rest` adds; one that will not rest (an IOC, say the take that
  `work(…, CROSS)` just sent, or a child being cancelled) does not, or a schedule's slice
  would never rest after a catch-up take. A take counts, of what is in flight, only what
  will still be taking or resting at its price: an IOC (an earlier take, unanswered) and an
  unacknowledged order or a replace at that price; a child being cancelled does not shrink
  it (in the replay its cancel is instant and the take is whole: what is trained is what
  is run). The live adapter caps every new order by the parent's remaining quantity less
  everything open, cancels in flight included, so the parent is never over-committed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from mypy_extensions import mypyc_attr

from rlexec.market.book import L2Book
from rlexec.market.features import ExecutionState
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.models.contract import Tactic


class ChildView(NamedTuple):
    """A working child order as an algo sees it (a tuple: built for every child at every
    decision)."""

    id: str
    price: int | None
    leaves: int
    cum_qty: int
    pending: bool = False
    """A cancel or replace for it is in flight (live only): it cannot be changed now."""
    rests: bool = True
    """It stays on the book once what is in flight is answered (live only): False for an IOC
    (it never rests) and for a child whose cancel is in flight. Such a child is left alone
    and is not counted as resting; the live adapter still counts its open quantity against
    the parent's, so it cannot overfill the parent."""
    ioc: bool = False
    """An IOC (live only): a take; one in flight counts against the next take's quantity."""


@dataclass(frozen=True, slots=True)
class Cancel:
    id: str


@dataclass(frozen=True, slots=True)
class Replace:
    id: str
    quantity: int
    """The new total order quantity (FIX OrderQty: filled shares included)."""
    price: int | None


@dataclass(frozen=True, slots=True)
class New:
    quantity: int
    price: int | None
    time_in_force: TimeInForce = TimeInForce.DAY
    order_type: OrderType = OrderType.LIMIT


PlanStep = Cancel | Replace | New
_CROSS = Tactic.CROSS
_INSIDE = Tactic.INSIDE
_BUY = Side.BUY


def _keep(keep: list[ChildView], quantity: int, price: int | None, steps: list[PlanStep]) -> int:
    """Keep children at `price`, oldest first, up to `quantity`: the one that straddles it is
    shrunk in place (a size decrease keeps priority), later ones cancelled. What rests."""
    resting = 0
    for child in keep:
        if resting + child.leaves <= quantity:
            resting += child.leaves
        elif resting < quantity:
            steps.append(Replace(child.id, child.cum_qty + (quantity - resting), price))
            resting = quantity
        else:
            steps.append(Cancel(child.id))
    return resting


def plan_rest(working: Sequence[ChildView], quantity: int, price: int | None) -> list[PlanStep]:
    steps: list[PlanStep] = []
    keep: list[ChildView] = []
    in_flight = 0
    for child in working:
        if not child.rests:  # an IOC or a cancel in flight: gone soon, never resting here
            continue
        if child.pending:
            in_flight += child.leaves
        elif child.price != price or quantity <= 0:
            steps.append(Cancel(child.id))
        else:
            keep.append(child)
    add = quantity - _keep(keep, quantity, price, steps) - in_flight
    if add > 0 and price is not None:
        steps.append(New(add, price))
    return steps


def plan_take(working: Sequence[ChildView], quantity: int, price: int | None) -> list[PlanStep]:
    steps: list[PlanStep] = []
    keep: list[ChildView] = []
    in_flight = 0
    for child in working:
        if child.pending:  # left alone; counted if it is a take or will rest at the price
            if child.ioc or (child.rests and child.price == price and price is not None):
                in_flight += child.leaves
        elif child.price != price or price is None or quantity <= 0 or not child.rests:
            steps.append(Cancel(child.id))
        else:  # resting at the take's price already: as good as the IOC, and first in line
            keep.append(child)
    resting = _keep(keep, quantity, price, steps) if keep else 0
    add = quantity - resting - in_flight
    if add > 0 and price is not None:
        steps.append(New(add, price, TimeInForce.IOC))
    return steps


def plan(
    working: Sequence[ChildView], quantity: int, tactic: Tactic, price: int | None
) -> list[PlanStep]:
    """The orders that make `quantity` work by `tactic` at `price`, given what is working."""
    if tactic is _CROSS:
        return plan_take(working, quantity, price)
    return plan_rest(working, quantity, price)


def tactic_price(book: L2Book, side: Side, tactic: Tactic, tick: int, collar: int) -> int | None:
    """The limit price a tactic means in the current book, None if the book cannot say."""
    bids, asks = book.bid_prices, book.ask_prices  # best_bid, best_ask without the calls
    bid = bids[-1] if bids else None
    ask = asks[0] if asks else None
    buy = side is _BUY
    near, far = (bid, ask) if buy else (ask, bid)
    if tactic is _CROSS:
        if far is None:
            return None
        return far + collar if buy else far - collar
    if near is None:
        if far is None:
            return None
        near = far - tick if buy else far + tick
    if tactic is _INSIDE and far is not None and abs(far - near) > tick:
        return near + tick if buy else near - tick
    return near


class ExecutionPort(Protocol):
    """Everything an algo may read or do; one decision = reads, then `work` / `rest` calls."""

    side: Side
    book: L2Book

    @property
    def market_volume(self) -> int:
        """Shares printed since the parent started watching the market, ours included."""

    @property
    def state(self) -> ExecutionState: ...
    @property
    def now_ns(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    def observation(self) -> list[float]: ...
    def price_for(self, tactic: Tactic) -> int | None: ...
    def marketable(self, price: int) -> bool:
        """Whether a limit order at `price` would trade against the far touch now."""

    def working(self) -> list[ChildView]: ...
    def work(self, quantity: int, tactic: Tactic) -> None: ...
    def rest(self, quantity: int, price: int | None) -> None: ...


@mypyc_attr(allow_interpreted_subclasses=True)  # the replay's adapter is plain Python
class PlannedExecution(ABC):
    """The shared half of both adapters: pricing and planning here, `execute` in the adapter."""

    side: Side
    book: L2Book
    tick: int
    collar: int
    state: ExecutionState

    @property
    def remaining(self) -> int:
        return self.state.quantity - self.state.filled

    @abstractmethod
    def working(self) -> list[ChildView]:
        """Working child orders, oldest first."""

    @abstractmethod
    def execute(self, steps: list[PlanStep]) -> None:
        """Carry the plan out, in order."""

    def price_for(self, tactic: Tactic) -> int | None:
        return tactic_price(self.book, self.side, tactic, self.tick, self.collar)

    def marketable(self, price: int) -> bool:
        book = self.book
        if self.side is _BUY:
            asks = book.ask_prices
            return bool(asks) and price >= asks[0]
        bids = book.bid_prices
        return bool(bids) and price <= bids[-1]

    def work(self, quantity: int, tactic: Tactic) -> None:
        """Have `quantity` working now by `tactic`: rest it passively (keeping queue position
        where the price is unchanged) or take it with an IOC limit through the far touch.

        A take held behind the far touch (live, by a parent's limit price; never in the
        replay, which has none) rests at that price instead, as a DAY order kept across
        decisions: as an IOC it could not fill, and it cancelled what rested elsewhere."""
        state = self.state
        remaining = state.quantity - state.filled  # self.remaining
        if quantity > remaining:
            quantity = remaining
        if quantity < 0:
            quantity = 0
        price = self.price_for(tactic)
        if tactic is _CROSS and price is not None and not self.marketable(price):
            self.execute(plan_rest(self.working(), quantity, price))
            return
        self.execute(plan(self.working(), quantity, tactic, price))

    def rest(self, quantity: int, price: int | None) -> None:
        quantity = max(0, min(quantity, self.remaining))
        self.execute(plan_rest(self.working(), quantity, price))
