"""Liquidity beyond the stored depth: synthetic levels an aggressive order can walk into.

A level-N LOBSTER file shows only the best N prices; what rests behind them is unknown
(known orders there may have been cancelled without a record). An order that sweeps past
the N-th level meets *synthetic* levels instead, at fixed offsets beyond the worst stored
level, each of a fixed size per side; past the last one there is no liquidity and a
market order's remainder is cancelled. Synthetic levels are never displayed. Two shapes
(`DepthConfig.model`):

- `uniform`: every `gap` ticks, the day's mean displayed level size on that side;
- `profile`: book level N + j sits where the measured profile puts level N + j relative to
  level 1 and is as large as the profile says relative to the day's mean level-1 size
  (calibration.depth_profile; the defaults are AMZN's level-5 sample). Levels deeper than
  the profile continue at its last gap and its last size.

What a participant takes from a synthetic level is remembered: the next sweep finds that
much less there, and when the real level comes into view, the taken amount is removed
from what the data reveals (the simulation already traded it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence


class SyntheticDepth:
    __slots__ = ("ask_sizes", "bid_sizes", "offsets", "taken")

    def __init__(
        self, offsets: Sequence[int], bid_sizes: Sequence[int], ask_sizes: Sequence[int]
    ) -> None:
        if not len(offsets) == len(bid_sizes) == len(ask_sizes):
            raise ValueError("synthetic depth needs one bid and one ask size per offset")
        if any(b <= a for a, b in zip((0, *offsets), offsets, strict=False)):
            raise ValueError(f"synthetic offsets must be positive and increasing, got {offsets}")
        if any(s < 0 for s in (*bid_sizes, *ask_sizes)):
            raise ValueError("synthetic level sizes must not be negative")
        self.offsets = tuple(offsets)
        """Distance of each synthetic level beyond the stored depth, in price units, best first."""
        self.bid_sizes = tuple(bid_sizes)
        self.ask_sizes = tuple(ask_sizes)
        self.taken: dict[tuple[bool, int], int] = {}
        """Shares taken so far, by (is_bid, price). Public so the replay's hot loop can test it
        for emptiness without a call; change it only through `take` and `settle`."""

    @classmethod
    def uniform(cls, gap: int, bid_size: int, ask_size: int, max_levels: int) -> SyntheticDepth:
        """`max_levels` levels every `gap` price units, one size per side."""
        if gap <= 0:
            raise ValueError(f"synthetic depth gap must be positive, got {gap}")
        if max_levels < 0:
            raise ValueError(f"max synthetic levels must not be negative, got {max_levels}")
        n = range(1, max_levels + 1)
        return cls([k * gap for k in n], [bid_size] * max_levels, [ask_size] * max_levels)

    @classmethod
    def from_profile(
        cls,
        distance_ticks: Sequence[int],
        size_ratios: Sequence[float],
        stored_levels: int,
        tick: int,
        bid_level1: int,
        ask_level1: int,
        max_levels: int,
    ) -> SyntheticDepth:
        """Levels stored_levels + 1, + 2, … of a profile given for book levels 2, 3, …
        (distance from level 1 in ticks, size as a multiple of level 1's)."""
        if not distance_ticks or len(distance_ticks) != len(size_ratios):
            raise ValueError("a depth profile needs one distance and one size per level")
        dist = [0, *distance_ticks]  # dist[k - 1]: book level k's distance from level 1
        ratio = [1.0, *size_ratios]
        last_gap = dist[-1] - dist[-2]

        def at(level: int) -> tuple[int, float]:
            if level <= len(dist):
                return dist[level - 1], ratio[level - 1]
            return dist[-1] + (level - len(dist)) * last_gap, ratio[-1]

        base = at(stored_levels)[0]
        offsets, bids, asks = [], [], []
        for j in range(1, max_levels + 1):
            d, r = at(stored_levels + j)
            offsets.append((d - base) * tick)
            bids.append(round(r * bid_level1))
            asks.append(round(r * ask_level1))
        return cls(offsets, bids, asks)

    def prices(self, is_bid: bool, bound: int) -> Iterator[int]:
        """Synthetic prices beyond `bound` on one side, best first."""
        if is_bid:
            for off in self.offsets:
                yield bound - off
        else:
            for off in self.offsets:
                yield bound + off

    def levels(self, is_bid: bool, bound: int) -> list[tuple[int, int]]:
        """(price, full size) of every synthetic level beyond `bound`, best first."""
        sizes = self.bid_sizes if is_bid else self.ask_sizes
        return list(zip(self.prices(is_bid, bound), sizes, strict=True))

    def offers(self, is_bid: bool, bound: int, limit: int | None) -> list[tuple[int, int]]:
        """(price, shares still there) of the synthetic levels an order limited at `limit`
        (None: no limit) can reach beyond `bound`, best first."""
        sizes = self.bid_sizes if is_bid else self.ask_sizes
        taken = self.taken
        out: list[tuple[int, int]] = []
        for price, size in zip(self.prices(is_bid, bound), sizes, strict=True):
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
