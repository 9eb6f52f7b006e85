"""Thresholds of the dynamic-risk monitors: one frozen model, validated once at start.

Defaults are stated on every field. Every threshold only decides *when* a monitor tightens;
no value here can make a monitor loosen a hard limit of the overlay.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rlexec.market.errors import RlexecError


class MonitorConfigError(RlexecError):
    """A monitor threshold is invalid: names the key and the reason."""


class MonitorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lot_size: Annotated[int, Field(gt=0)] = 100
    """Scaled quantities are rounded down to whole lots (default 100)."""
    tick_size: Annotated[int, Field(gt=0)] = 100
    """Price units per tick (LOBSTER price × 10⁴: 100 is one cent)."""
    price_scale: Annotated[float, Field(gt=0)] = 10_000.0
    """Integer price units per currency unit (LOBSTER: price × 10⁴)."""

    # -- 1. volatility forecast ------------------------------------------------------------
    vol_sample_s: Annotated[float, Field(gt=0)] = 1.0
    """Mid returns are sampled on this grid (default 1 s)."""
    vol_halflives_s: tuple[float, float, float] = (30.0, 300.0, 1800.0)
    """HAR-style components: EWMA half-lives of the per-second return variance."""
    vol_weights: tuple[float, float, float] = (0.6, 0.3, 0.1)
    """Weights of the three components in the forecast (sum 1)."""
    vol_warmup_s: Annotated[float, Field(ge=0)] = 120.0
    """No volatility action before this much sampled history (default 120 s)."""
    vol_min_baseline_bps: Annotated[float, Field(gt=0)] = 2.0
    """Floor of the day's baseline σ_1m, so a dead-quiet open cannot make noise look extreme."""
    vol_start_ratio: Annotated[float, Field(gt=1.0)] = 1.5
    """σ forecast / baseline above which size scales down: × start_ratio / ratio (3× → ×0.5)."""
    vol_step: Annotated[float, Field(gt=0, le=1.0)] = 0.25
    """Multipliers are rounded *down* to this step, so small wiggles do not churn actions."""
    vol_min_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    """The smallest size multiplier the volatility monitor asks for (default 0.25)."""
    vol_clear_s: Annotated[float, Field(ge=0)] = 60.0

    # -- 2. market anomalies ---------------------------------------------------------------
    jump_k_sigma: Annotated[float, Field(gt=0)] = 6.0
    """MID_JUMP: a mid move of more than k × σ(t) within `jump_window_s` pauses the symbol."""
    jump_window_s: Annotated[float, Field(gt=0)] = 10.0
    jump_min_bps: Annotated[float, Field(ge=0)] = 15.0
    """… and of at least this many bps (default 15)."""
    spread_multiple: Annotated[float, Field(gt=1.0)] = 4.0
    """SPREAD_BLOWOUT: spread > multiple × its slow EWMA (and ≥ spread_min_ticks) → size × spread_multiplier."""
    spread_min_ticks: Annotated[int, Field(ge=1)] = 4
    spread_halflife_s: Annotated[float, Field(gt=0)] = 600.0
    spread_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    one_sided_ratio: Annotated[float, Field(gt=0, lt=1.0)] = 0.02
    """ONE_SIDED_BOOK: thinner side / thicker side (top `one_sided_levels`) below this …"""
    one_sided_levels: Annotated[int, Field(ge=1)] = 5
    one_sided_min_s: Annotated[float, Field(ge=0)] = 10.0
    """… for this long (or one side empty) → size × one_sided_multiplier. Defaults (2 %, 10 s)
    are set so a level-1 feed's ordinary top-of-book asymmetry does not fire on normal days
    (`bench/monitors_backtest.py`)."""
    one_sided_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    quote_rate_multiple: Annotated[float, Field(gt=1.0)] = 5.0
    """QUOTE_RATE_SURGE: book messages in the last second > multiple × the slow EWMA rate …"""
    quote_rate_min_per_s: Annotated[float, Field(ge=0)] = 200.0
    """… and above this absolute rate → size × quote_rate_multiplier."""
    quote_rate_halflife_s: Annotated[float, Field(gt=0)] = 600.0
    quote_rate_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    collar_bps: Annotated[float, Field(gt=0)] = 50.0
    """TRADE_THROUGH: a print further than this from the mid before it pauses the symbol."""
    stale_after_s: Annotated[float, Field(gt=0)] = 15.0
    """STALE_FEED: no book update for this long pauses the symbol (default 15 s; the service's own
    freshness check pauses decisions after its `stale_after_s`)."""
    anomaly_grid_s: Annotated[float, Field(gt=0)] = 0.1
    """Spread, one-sided book and mid jumps are evaluated on this grid (default 100 ms)."""
    anomaly_warmup_s: Annotated[float, Field(ge=0)] = 60.0
    """Spread and quote-rate baselines need this much history before they judge."""
    anomaly_clear_s: Annotated[float, Field(ge=0)] = 30.0
    """A detector lifts its action only after its condition has been clear this long."""

    # -- 3. model trust --------------------------------------------------------------------
    drift_max: Annotated[float, Field(gt=0)] = 3.0
    """POLICY_DRIFT: any feature's drift score (training σ) above this → schedule fallback."""
    action_reference: tuple[float, ...] | None = None
    """The policy's action distribution in its backtest (one probability per action); None: off."""
    action_window: Annotated[int, Field(ge=1)] = 50
    action_min: Annotated[int, Field(ge=1)] = 20
    action_tv_max: Annotated[float, Field(gt=0, le=1.0)] = 0.5
    """POLICY_ACTIONS: total-variation distance of the last `action_window` actions above this."""
    is_reference_bps: tuple[float, float] | None = None
    """Realised IS of the backtest: (mean, std) in bps; None: off."""
    is_window: Annotated[int, Field(ge=1)] = 3
    is_z_max: Annotated[float, Field(gt=0)] = 3.0
    """POLICY_IS: mean z-score of the last `is_window` parents' IS above this."""
    trust_clear_s: Annotated[float, Field(ge=0)] = 300.0

    # -- 4. loss trajectory ----------------------------------------------------------------
    max_daily_loss: Annotated[float | None, Field(gt=0)] = None
    """The loss the monitor measures against; None: the overlay's hard `max_daily_loss`."""
    loss_window_s: Annotated[float, Field(gt=0)] = 60.0
    loss_horizon_s: Annotated[float, Field(gt=0)] = 300.0
    """LOSS_SLOPE: the P&L slope of the last window projected this far ahead …"""
    loss_slope_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """… below −fraction × max loss → size × loss_multiplier."""
    loss_drawdown_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    """LOSS_DRAWDOWN: drawdown from the day's peak beyond fraction × max loss → size × loss_multiplier."""
    loss_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    loss_reduce_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.6
    """LOSS_REDUCE: P&L below −fraction × max loss moves the kill switch to REDUCING."""
    loss_clear_s: Annotated[float, Field(ge=0)] = 120.0

    @model_validator(mode="after")
    def _consistent(self) -> MonitorConfig:
        if abs(sum(self.vol_weights) - 1.0) > 1e-9 or min(self.vol_weights) < 0:
            raise ValueError(f"vol_weights={self.vol_weights} must be ≥ 0 and sum to 1")
        if min(self.vol_halflives_s) <= 0:
            raise ValueError(f"vol_halflives_s={self.vol_halflives_s} must be > 0")
        ref = self.action_reference
        if ref is not None and (min(ref) < 0 or abs(sum(ref) - 1.0) > 1e-6):
            raise ValueError("action_reference must be probabilities that sum to 1")
        if self.is_reference_bps is not None and self.is_reference_bps[1] <= 0:
            raise ValueError(f"is_reference_bps std={self.is_reference_bps[1]} must be > 0")
        if self.action_min > self.action_window:
            raise ValueError(f"action_min={self.action_min} > action_window={self.action_window}")
        if self.loss_drawdown_fraction >= self.loss_reduce_fraction:
            raise ValueError("loss_drawdown_fraction must be below loss_reduce_fraction")
        return self


def load_monitor_config(values: dict[str, Any] | None = None) -> MonitorConfig:
    """Validate once; a bad value raises `MonitorConfigError` naming the key and the reason."""
    try:
        return MonitorConfig.model_validate(values or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "monitors"
        raise MonitorConfigError(f"monitors.{key}: {first['msg']}") from None
