"""Liquidity beyond the stored depth: synthetic levels an aggressive order can walk into.

A level-N LOBSTER file shows only the best N prices; what rests behind them is unknown
(known orders there may have been cancelled without a record). An order that sweeps past
the N-th level meets *synthetic* levels instead: every `gap` price units beyond the worst
stored level, `size` shares each (by default the day's mean displayed level size on that
side), at most `max_levels` of them; past those there is no liquidity and a market
order's remainder is cancelled. Synthetic levels are never displayed.

What a participant takes from a synthetic level is remembered: the next sweep finds that
much less there, and when the real level comes into view, the taken amount is removed
from what the data reveals (the simulation already traded it).
"""

from __future__ import annotations

from collections.abc import Iterator


class SyntheticDepth:
    __slots__ = ("ask_size", "bid_size", "gap", "max_levels", "taken")

    def __init__(self, gap: int, bid_size: int, ask_size: int, max_levels: int) -> None:
        if gap <= 0:
            raise ValueError(f"synthetic depth gap must be positive, got {gap}")
        if bid_size < 0 or ask_size < 0:
            raise ValueError("synthetic level sizes must not be negative")
        if max_levels < 0:
            raise ValueError(f"max synthetic levels must not be negative, got {max_levels}")
        self.gap = gap
        self.bid_size = bid_size
        self.ask_size = ask_size
        self.max_levels = max_levels
        self.taken: dict[tuple[bool, int], int] = {}
        """Shares taken so far, by (is_bid, price). Public so the replay's hot loop can test it
        for emptiness without a call; change it only through `take` and `settle`."""

    def prices(self, is_bid: bool, bound: int) -> Iterator[int]:
        """Synthetic prices beyond `bound` on one side, best first."""
        step = -self.gap if is_bid else self.gap
        for k in range(1, self.max_levels + 1):
            yield bound + k * step

    def available(self, is_bid: bool, price: int) -> int:
        size = self.bid_size if is_bid else self.ask_size
        return max(0, size - self.taken.get((is_bid, price), 0))

    def offers(self, is_bid: bool, bound: int, limit: int | None) -> list[tuple[int, int]]:
        """(price, shares still there) of the synthetic levels an order limited at `limit`
        (None: no limit) can reach beyond `bound`, best first."""
        size = self.bid_size if is_bid else self.ask_size
        taken = self.taken
        out: list[tuple[int, int]] = []
        for price in self.prices(is_bid, bound):
            if limit is not None and (price < limit if is_bid else price > limit):
                break
            left = size - taken.get((is_bid, price), 0) if taken else size
            if left > 0:
                out.append((price, left))
        return out

    def take(self, is_bid: bool, price: int, qty: int) -> None:
        key = (is_bid, price)
        self.taken[key] = self.taken.get(key, 0) + qty

    @property
    def has_taken(self) -> bool:
        return bool(self.taken)

    def settle(self, is_bid: bool, within: int) -> list[tuple[int, int]]:
        """Forget and return (price, qty) taken at prices that are now inside the stored depth."""
        done = [
            (price, qty)
            for (bid, price), qty in self.taken.items()
            if bid is is_bid and (price >= within if is_bid else price <= within)
        ]
        for price, _ in done:
            del self.taken[(is_bid, price)]
        return done
