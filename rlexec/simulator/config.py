"""Simulator settings, validated once when the replay is built (frozen: nothing re-reads them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rlexec.simulator.orders import SelfMatchPolicy


class ImpactConfig(BaseModel):
    """Permanent + transient market impact of participants' aggressive trading (impact.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    permanent_ticks_per_share: float = Field(default=0.0005, ge=0)
    """Lasting shift per share taken: 0.0005 = one tick per 2,000 shares."""
    transient_ticks_per_share: float = Field(default=0.002, ge=0)
    """Extra shift per share taken that decays away: 0.002 = one tick per 500 shares."""
    transient_half_life_s: float = Field(default=30.0, gt=0)


class DepthConfig(BaseModel):
    """Synthetic liquidity beyond the stored depth (depth.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gap_ticks: int = Field(default=2, ge=1)
    """Spacing of synthetic levels. AMZN's level-5 file has a mean gap of 1.8–2.4 ticks
    between consecutive stored levels (median 1); 2 is the rounded mean."""
    level_size: int | None = Field(default=None, ge=0)
    """Shares per synthetic level; None = the day's mean displayed level size on that side."""
    max_levels: int = Field(default=20, ge=0)
    """How far a sweep may walk past the stored depth before the market runs dry."""


class ReplayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tick_size: int = Field(default=100, gt=0)
    """Price grid in 1e-4 units (100 = $0.01)."""
    lot_size: int = Field(default=1, gt=0)
    max_order_quantity: int = Field(default=1_000_000, gt=0)
    self_match: SelfMatchPolicy = SelfMatchPolicy.CANCEL_RESTING
    hidden_fills: bool = True
    """Whether recorded hidden executions (type 5) can fill participants' resting orders."""
    depth: DepthConfig = DepthConfig()
    impact: ImpactConfig = ImpactConfig()
    market_data: bool = False
    """Collect book-level updates and trade prints for `MarketReplay.market_events()`."""
    view_levels: int | None = Field(default=None, ge=1)
    """Depth of the displayed book in market data; None = the data's stored depth."""
    warmup_s: float = Field(default=0.0, ge=0)
    """When starting mid-day, replay this much earlier history first so that more resting
    orders are known by id (better queue positions) rather than anonymous."""
