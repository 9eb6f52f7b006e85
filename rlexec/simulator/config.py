"""Simulator settings, validated once when the replay is built (frozen: nothing re-reads them).

The defaults are the replay as it has always run (the FIX venue, training, the shipped
model's backtests). The evaluation's choices are built by `presets.evaluation_config`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlexec.simulator.orders import SelfMatchPolicy

AMZN_DEPTH_TICKS: tuple[int, ...] = (3, 5, 7, 9)
"""Mean distance of book levels 2–5 from level 1, in ticks, rounded: AMZN's level-5 sample,
09:35–13:00, both sides pooled (means 2.91, 5.07, 7.05, 9.03; medians 2, 4, 6, 8). From
`python -m rlexec.simulator.calibration depth <AMZN ..._message_5.csv.gz> --window 09:35-13:00`."""
AMZN_DEPTH_SIZES: tuple[float, ...] = (0.614, 0.661, 0.693, 0.787)
"""Mean size of levels 2–5 over the mean size of level 1 (190.8 shares), same measurement."""


class ImpactConfig(BaseModel):
    """Permanent + transient market impact of participants' aggressive trading (impact.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    model: Literal["linear", "sqrt"] = "linear"
    """`linear`: ticks per share taken. `sqrt`: the square-root law, Y·σ·√(Q/V)."""
    scale: float = Field(default=1.0, ge=0)
    """Multiplies every impact coefficient (the sensitivity grid runs 0.5 and 2)."""
    permanent_ticks_per_share: float = Field(default=0.0005, ge=0)
    """linear: lasting shift per share taken: 0.0005 = one tick per 2,000 shares."""
    transient_ticks_per_share: float = Field(default=0.002, ge=0)
    """linear: extra shift per share taken that decays away: 0.002 = one tick per 500 shares."""
    transient_half_life_s: float = Field(default=30.0, gt=0)
    """Half-life of the transient part of the shift (both models)."""
    y: float = Field(default=0.7, ge=0)
    """sqrt: the prefactor Y of I = Y·σ·√(Q/V)."""
    permanent_fraction: float = Field(default=2 / 3, ge=0, le=1)
    """sqrt: the share of the impact that never decays."""
    daily_sigma: float | None = Field(default=None, gt=0)
    """sqrt: σ per session as a fraction of price (calibration.impact_inputs)."""
    daily_volume: float | None = Field(default=None, gt=0)
    """sqrt: V, shares per session (calibration.impact_inputs)."""
    reference_price: int | None = Field(default=None, gt=0)
    """sqrt: price (1e-4 units) that converts the impact fraction into ticks."""

    @model_validator(mode="after")
    def _sqrt_is_calibrated(self) -> Self:
        if self.enabled and self.model == "sqrt":
            missing = [
                name
                for name in ("daily_sigma", "daily_volume", "reference_price")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"impact model 'sqrt' needs {', '.join(missing)} "
                    "(measure them with rlexec.simulator.calibration.impact_inputs)"
                )
        return self


class DepthConfig(BaseModel):
    """Synthetic liquidity beyond the stored depth (depth.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Literal["uniform", "profile"] = "uniform"
    """`uniform`: every `gap_ticks` at one size. `profile`: levels where the measured
    profile puts them (`profile_ticks`, `profile_sizes`)."""
    gap_ticks: int = Field(default=2, ge=1)
    """uniform: spacing of synthetic levels (the median gap between AMZN's stored levels
    is 1 tick, the mean 1.8–2.4; 2 is the rounded mean)."""
    level_size: int | None = Field(default=None, ge=0)
    """uniform: shares per synthetic level; None = the day's mean displayed level size on
    that side. profile: the level-1 size the ratios multiply; None = the day's mean
    level-1 size on that side."""
    max_levels: int = Field(default=20, ge=0)
    """How far a sweep may walk past the stored depth before the market runs dry."""
    profile_ticks: tuple[int, ...] = AMZN_DEPTH_TICKS
    """profile: distance of book levels 2, 3, … from level 1, in ticks; deeper levels
    continue at the last measured gap."""
    profile_sizes: tuple[float, ...] = AMZN_DEPTH_SIZES
    """profile: size of book levels 2, 3, … as a multiple of level 1's; deeper levels keep
    the last one."""

    @model_validator(mode="after")
    def _profile_is_a_profile(self) -> Self:
        ticks, sizes = self.profile_ticks, self.profile_sizes
        if not ticks or len(ticks) != len(sizes):
            raise ValueError(
                f"profile_ticks ({len(ticks)} levels) and profile_sizes ({len(sizes)}) "
                "must describe the same levels, at least one"
            )
        if any(b <= a for a, b in zip((0, *ticks), ticks, strict=False)):
            raise ValueError(f"profile_ticks={ticks} must be positive and strictly increasing")
        if any(s < 0 for s in sizes):
            raise ValueError(f"profile_sizes={sizes} must not be negative")
        return self


class ReplayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tick_size: int = Field(default=100, gt=0)
    """Price grid in 1e-4 units (100 = $0.01)."""
    lot_size: int = Field(default=1, gt=0)
    max_order_quantity: int = Field(default=1_000_000, gt=0)
    self_match: SelfMatchPolicy = SelfMatchPolicy.CANCEL_RESTING
    hidden_fills: bool = True
    """Assumption: a recorded hidden execution (type 5) is an aggressor that would have met a
    participant's displayed order at that price or better first, so it can fill it.
    False: hidden prints never reach participants."""
    passive_fill_model: Literal["overlay", "consume"] = "overlay"
    """What a recorded execution that filled a participant does to the recorded book.
    `overlay`: it is applied in full as well (liquidity counted twice; the simulated book
    never leaves the recorded one). `consume`: only what the participants left of the
    aggressor reaches it; the order it spared keeps those shares (replay.py)."""
    unknown_queue: Literal["ahead", "by_id"] = "ahead"
    """Where volume of orders never seen submitted queues against a participant.
    `ahead`: always in front (risk-averse). `by_id`: executions of such an order rank by
    its Nasdaq id against the largest id seen when the participant joined."""
    depth: DepthConfig = DepthConfig()
    impact: ImpactConfig = ImpactConfig()
    market_data: bool = False
    """Collect book-level updates and trade prints for `MarketReplay.market_events()`."""
    view_levels: int | None = Field(default=None, ge=1)
    """Depth of the displayed book in market data; None = the data's stored depth."""
    warmup_s: float = Field(default=0.0, ge=0)
    """When starting mid-day, replay this much earlier history first so that more resting
    orders are known by id (better queue positions) rather than anonymous."""
