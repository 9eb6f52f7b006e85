"""Order-level (L3) book: price levels holding a FIFO of resting orders, one ladder per side.

A level mixes two kinds of resting liquidity in one time-priority queue:

- historical orders from the replayed data (`HistOrder`, keyed by their positive Nasdaq
  order id), each with two sizes: `hist`, what the recorded market still has, and `sim`,
  what is left of it in the simulation after participants took some (`sim <= hist`);
- participant orders (`Order`, keyed by the negative of their engine order id).

Volume that the data shows at a level but whose orders were never seen (revealed from
beyond the stored depth, or present before the first message) is *anonymous*: it has no
order ids and sits at the front of the queue (`anon_hist` / `anon_sim`). Keeping both
`hist` and `sim` is what lets a replay stay exactly on the recorded book while the
simulated book differs by what participants did: `sim < hist` where participants took
shares, and (only in the replay's `consume` mode) `sim > hist` where their passive fills
spared shares that the recorded market lost. A historical order whose recorded size is
gone but whose spared shares are not stays in its queue with `hist == 0` until they are.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

from rlexec.simulator.orders import Order

ASK_ALL = 1 << 62
"""Ask-side bound meaning 'every price is known' (nothing lies beyond the stored depth)."""
BID_ALL = -(1 << 62)


class HistOrder:
    """A resting order of the replayed market."""

    __slots__ = ("hist", "level", "sim")

    def __init__(self, size: int, level: Level) -> None:
        self.hist = size
        self.sim = size
        self.level = level


class Level:
    """One price on one side. Invariants: own = Σ leaves; sim <= hist and anon_sim <= anon_hist
    except for spared shares (see the module docstring)."""

    __slots__ = ("anon_hist", "anon_sim", "hist", "orders", "own", "price", "sim")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: dict[int, HistOrder | Order] = {}
        """Time priority is insertion order: hist orders by +id, participants by -order_id."""
        self.hist = 0
        """Recorded size: anon_hist + Σ HistOrder.hist."""
        self.sim = 0
        """Simulated historical size still resting: anon_sim + Σ HistOrder.sim."""
        self.anon_hist = 0
        self.anon_sim = 0
        self.own = 0
        """Participants' resting size."""

    @property
    def displayed(self) -> int:
        return self.sim + self.own

    @property
    def is_empty(self) -> bool:
        return not self.hist and not self.own

    def __repr__(self) -> str:
        return (
            f"Level({self.price} hist={self.hist} sim={self.sim} anon={self.anon_hist}/"
            f"{self.anon_sim} own={self.own} orders={len(self.orders)})"
        )


class BookSide:
    """The levels of one side, with prices kept sorted ascending (few levels: bisect beats a tree).

    `bound` is the worst price the data shows on this side: beyond it the replayed book is
    not known (historical orders there may have been cancelled unseen), so it is neither
    displayed nor traded against; the depth model stands in for it.
    """

    __slots__ = ("bound", "is_bid", "levels", "own_levels", "own_total", "prices", "spared")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []
        """Ascending: the best bid is last, the best ask first."""
        self.bound = BID_ALL if is_bid else ASK_ALL
        self.own_total = 0
        """Participants' resting size on this side."""
        self.own_levels: dict[int, Level] = {}
        """The levels where participants rest (few), so nothing has to scan for them."""
        self.spared: set[int] = set()
        """Prices of levels that may hold spared shares (sim > hist); a superset, pruned lazily."""

    def level(self, price: int) -> Level:
        lvl = self.levels.get(price)
        if lvl is None:
            lvl = self.levels[price] = Level(price)
            insort(self.prices, price)
        return lvl

    def discard(self, level: Level) -> None:
        """Drop a level once nothing historical, spared or participant rests in it."""
        if (
            not level.hist
            and not level.own
            and not level.sim
            and self.levels.get(level.price) is level
        ):
            del self.levels[level.price]
            prices = self.prices
            del prices[bisect_left(prices, level.price)]

    def better(self, a: int, b: int) -> bool:
        """Is price a strictly better (for this side's resting orders) than b?"""
        return a > b if self.is_bid else a < b

    def within_bound(self, price: int) -> bool:
        return price >= self.bound if self.is_bid else price <= self.bound

    def iter_levels(self) -> Iterator[Level]:
        """Levels best first. Each step finds the next price by bisection, so callers may add
        or drop levels while iterating, and nothing is copied (stale levels can be many)."""
        prices = self.prices
        levels = self.levels
        if self.is_bid:
            i = len(prices)
            while i:
                price = prices[i - 1]
                yield levels[price]
                i = bisect_left(prices, price)
        else:
            i = 0
            while i < len(prices):
                price = prices[i]
                yield levels[price]
                i = bisect_right(prices, price)

    def best_level(self) -> Level | None:
        if not self.prices:
            return None
        return self.levels[self.prices[-1] if self.is_bid else self.prices[0]]

    def own_beyond_bound(self) -> list[Level]:
        """Levels beyond the stored depth where participants rest, best first."""
        bound = self.bound
        if self.is_bid:
            found = [lvl for p, lvl in self.own_levels.items() if p < bound]
            found.sort(key=lambda lvl: -lvl.price)
        else:
            found = [lvl for p, lvl in self.own_levels.items() if p > bound]
            found.sort(key=lambda lvl: lvl.price)
        return found

    def all_known(self) -> bool:
        return self.bound == (BID_ALL if self.is_bid else ASK_ALL)
