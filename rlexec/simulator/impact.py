"""Market impact of participants' aggressive trading: a permanent and a decaying transient shift.

After a participant takes q shares (buys positive), the replayed market is shifted by

    offset(t) = round(permanent + transient(t))  ticks
    permanent += permanent_ticks_per_share · q
    transient(t) = transient(t0) · 2^(−(t − t0) / half_life) + transient_ticks_per_share · q

and every price the participants see (book, trades, their fills against the replayed
orders) is the recorded price plus the offset. The shift is applied as a whole-tick
move of the market under the participants' resting orders, which join the back of the
queue at the level their price now maps to (see replay.py). Only liquidity-taking fills
move the market: a passive fill is the market coming to the order, not the order pushing
the market. Off by default; with zero coefficients it never moves.
"""

from __future__ import annotations

import math

NEVER = 1 << 62


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


class ImpactModel:
    __slots__ = (
        "_half_life_ns", "_permanent_per_share", "_t0", "_transient_per_share", "next_change_ns",
        "offset_ticks", "permanent", "transient0",
    )  # fmt: skip

    def __init__(
        self,
        permanent_ticks_per_share: float,
        transient_ticks_per_share: float,
        half_life_s: float,
    ) -> None:
        if not half_life_s > 0:
            raise ValueError(f"impact half-life must be positive, got {half_life_s}")
        self._permanent_per_share = permanent_ticks_per_share
        self._transient_per_share = transient_ticks_per_share
        self._half_life_ns = half_life_s * 1e9
        self.permanent = 0.0
        self.transient0 = 0.0
        self._t0 = 0
        self.offset_ticks = 0
        self.next_change_ns = NEVER
        """The first time at which decay alone changes `offset_ticks` (NEVER if it cannot)."""

    def transient(self, ts_ns: int) -> float:
        if not self.transient0:
            return 0.0
        return self.transient0 * math.pow(2.0, -(ts_ns - self._t0) / self._half_life_ns)

    def on_taken(self, ts_ns: int, signed_qty: int) -> int:
        """Participants took `signed_qty` shares (buys positive) at ts_ns; returns the new offset."""
        self.transient0 = self.transient(ts_ns) + self._transient_per_share * signed_qty
        self._t0 = ts_ns
        self.permanent += self._permanent_per_share * signed_qty
        return self._update(ts_ns)

    def on_time(self, ts_ns: int) -> int:
        """Let the transient part decay to ts_ns; returns the offset then."""
        return self._update(ts_ns)

    def _update(self, ts_ns: int) -> int:
        x = self.transient(ts_ns)
        self.offset_ticks = _round_half_up(self.permanent + x)
        self.next_change_ns = self._next_change(ts_ns, x)
        return self.offset_ticks

    def _next_change(self, ts_ns: int, x: float) -> int:
        """When does the decaying transient carry permanent + x across the next half tick?"""
        if x > 0:  # falling towards `permanent`: changes once strictly below offset − ½
            gap = self.offset_ticks - 0.5 - self.permanent
            if gap <= 0:
                return NEVER
            return ts_ns + max(1, math.ceil(self._half_life_ns * math.log2(x / gap)) + 1)
        if x < 0:  # rising towards `permanent`: changes on reaching offset + ½
            gap = self.offset_ticks + 0.5 - self.permanent
            if gap >= 0:
                return NEVER
            return ts_ns + max(1, math.ceil(self._half_life_ns * math.log2(x / gap)))
        return NEVER
