"""Market impact of participants' aggressive trading: a permanent and a decaying transient shift.

Every price the participants see (book, trades, their fills against the replayed orders)
is the recorded price plus an offset, a whole number of ticks,

    offset(t) = round(permanent + transient(t)),   transient(t) = transient(t0) · 2^(−(t − t0)/h)

moved each time participants take liquidity (buys up, sells down). The shift is applied
as a move of the market under the participants' resting orders, which join the back of
the queue at the level their price now maps to (replay.py). Only liquidity-taking fills
move the market: a passive fill is the market coming to the order, not the order pushing
the market (a stated simplification: passive metaorders also have impact, roughly half as
much, Said et al. 2017, "Market impact: a systematic study of limit orders"). Whole ticks
are the price grid: the rounding error is under half a tick (0.1–0.25 bps here).

Two laws, chosen by `ImpactConfig.model`, both multiplied by `ImpactConfig.scale`:

- `linear` (`ImpactModel`): q shares taken add p·q ticks to the permanent part and t·q to
  the transient part.
- `sqrt` (`SqrtImpactModel`), the square-root law: executing Q shares of a metaorder
  moves the price by I = Y·σ·√(Q/V) (σ, V: volatility and volume per session; Tóth et al.
  2011, "Anomalous price impact and the critical nature of liquidity", PRX 1 021006;
  Bouchaud, Bonart, Donier & Gould 2018, "Trades, Quotes and Prices", ch. 12; Almgren et
  al. 2005 measure a close exponent, 0.6). Y is of order one; 0.7 by default, the middle
  of the 0.5–1 usually reported. A fraction φ of it is permanent: impact relaxes to about
  two thirds of its peak once the metaorder ends (Farmer, Gerig, Lillo & Waelbroeck 2013,
  "How efficiency shapes market impact", the fair-pricing result; observed by Said et al.
  2017), so φ = 2/3 by default. With c = Y·σ·P / (tick·√V) ticks per √share,

      permanent = φ·c·s(C),   transient(t) = (1 − φ)·c·s(A(t)),   s(x) = sign(x)·√|x|

  where C is the signed volume taken so far and A the signed volume taken with a memory:
  A decays with half-life h/2, so the transient part of the price decays with half-life h.
  One child of Q shares from a quiet start moves the market by c·√Q; a metaorder executed
  within h moves it by about c·√(its volume), and relaxes to φ of that.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from rlexec.simulator.config import ImpactConfig

NEVER = 1 << 62


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _signed_sqrt(x: float) -> float:
    return math.copysign(math.sqrt(abs(x)), x)


class ImpactShift(ABC):
    """offset = round(permanent + transient0·2^(−(t − t0)/h)); subclasses say how trades move it."""

    __slots__ = (
        "_half_life_ns", "_t0", "next_change_ns", "offset_ticks", "permanent", "transient0",
    )  # fmt: skip

    def __init__(self, half_life_s: float) -> None:
        if not half_life_s > 0:
            raise ValueError(f"impact half-life must be positive, got {half_life_s}")
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

    @abstractmethod
    def on_taken(self, ts_ns: int, signed_qty: int) -> int:
        """Participants took `signed_qty` shares (buys positive) at ts_ns; returns the new offset."""

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


class ImpactModel(ImpactShift):
    """Linear: every share taken moves the market by a fixed number of ticks."""

    __slots__ = ("_permanent_per_share", "_transient_per_share")

    def __init__(
        self,
        permanent_ticks_per_share: float,
        transient_ticks_per_share: float,
        half_life_s: float,
    ) -> None:
        super().__init__(half_life_s)
        self._permanent_per_share = permanent_ticks_per_share
        self._transient_per_share = transient_ticks_per_share

    def on_taken(self, ts_ns: int, signed_qty: int) -> int:
        self.transient0 = self.transient(ts_ns) + self._transient_per_share * signed_qty
        self._t0 = ts_ns
        self.permanent += self._permanent_per_share * signed_qty
        return self._update(ts_ns)


class SqrtImpactModel(ImpactShift):
    """The square-root law (module docstring): c·√volume, a fraction of it permanent."""

    __slots__ = ("_k_permanent", "_k_transient", "taken")

    def __init__(
        self, ticks_per_sqrt_share: float, permanent_fraction: float, half_life_s: float
    ) -> None:
        super().__init__(half_life_s)
        if not 0 <= permanent_fraction <= 1:
            raise ValueError(f"permanent fraction must be in [0, 1], got {permanent_fraction}")
        if ticks_per_sqrt_share < 0:
            raise ValueError(f"impact coefficient must not be negative, got {ticks_per_sqrt_share}")
        self._k_permanent = permanent_fraction * ticks_per_sqrt_share
        self._k_transient = (1 - permanent_fraction) * ticks_per_sqrt_share
        self.taken = 0
        """C: signed shares taken so far."""

    def on_taken(self, ts_ns: int, signed_qty: int) -> int:
        k = self._k_transient
        if k:
            x = self.transient(ts_ns) / k  # = s(A(ts)): recover the decayed volume A
            self.transient0 = k * _signed_sqrt(math.copysign(x * x, x) + signed_qty)
            self._t0 = ts_ns
        self.taken += signed_qty
        self.permanent = self._k_permanent * _signed_sqrt(self.taken)
        return self._update(ts_ns)


def make_impact(config: ImpactConfig, tick_size: int) -> ImpactShift | None:
    """The impact model a replay config asks for (None when impact is off)."""
    if not config.enabled:
        return None
    scale = config.scale
    if config.model == "linear":
        return ImpactModel(
            config.permanent_ticks_per_share * scale,
            config.transient_ticks_per_share * scale,
            config.transient_half_life_s,
        )
    assert config.daily_sigma is not None and config.daily_volume is not None
    assert config.reference_price is not None  # the config's validator guarantees these
    c = config.y * config.daily_sigma * config.reference_price / tick_size
    c /= math.sqrt(config.daily_volume)
    return SqrtImpactModel(c * scale, config.permanent_fraction, config.transient_half_life_s)
