"""Ready-made simulator settings for evaluation: every fidelity choice named, calibrated on the
training window only.

`ReplayConfig()`'s defaults are the replay the venue, training and the shipped model were
built on (overlay fills, unknown volume ahead, no impact, uniform synthetic depth). An
evaluation that claims execution quality uses `evaluation_config`, whose defaults are the
conservative, calibrated models, and varies one choice at a time for its sensitivity rows.
"""

from __future__ import annotations

from typing import Literal

from rlexec.simulator.calibration import WindowLike, depth_profile, impact_inputs
from rlexec.simulator.config import DepthConfig, ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData

SQRT_Y = 0.7
"""Y of the square-root law: the middle of the 0.5–1 the literature reports (impact.py)."""
SQRT_PERMANENT_FRACTION = 2 / 3
"""Impact relaxes to about two thirds of its peak (Farmer et al. 2013; Said et al. 2017)."""
SQRT_HALF_LIFE_S = 300.0
"""Half-life of the transient third: a stated choice of the order of a child-order schedule's
span (impact decays over a time comparable to the metaorder's duration), not a measurement."""


def impact_off() -> ImpactConfig:
    return ImpactConfig()


def impact_sqrt(
    data: ReplayData,
    train_window: WindowLike,
    *,
    scale: float = 1.0,
    y: float = SQRT_Y,
    permanent_fraction: float = SQRT_PERMANENT_FRACTION,
    half_life_s: float = SQRT_HALF_LIFE_S,
) -> ImpactConfig:
    """The square-root law with σ and V measured on `train_window` of `data`."""
    inputs = impact_inputs(data, train_window)
    return ImpactConfig(
        enabled=True,
        model="sqrt",
        scale=scale,
        y=y,
        permanent_fraction=permanent_fraction,
        transient_half_life_s=half_life_s,
        daily_sigma=inputs.daily_sigma,
        daily_volume=inputs.daily_volume,
        reference_price=inputs.reference_price,
    )


def impact_linear(*, scale: float = 1.0) -> ImpactConfig:
    """The old linear-per-share model (ImpactConfig's coefficients), switched on."""
    return ImpactConfig(enabled=True, model="linear", scale=scale)


def depth_calibrated(
    data: ReplayData, train_window: WindowLike | None = None, tick_size: int = 100
) -> DepthConfig:
    """The measured depth profile: from the data itself when it stores more than one level
    (its training window), else the committed AMZN level-5 defaults."""
    if data.levels < 2 or train_window is None:
        return DepthConfig(model="profile")
    profile = depth_profile(data, train_window, tick_size)
    return DepthConfig(
        model="profile",
        profile_ticks=profile.ticks(),
        profile_sizes=tuple(round(r, 3) for r in profile.size_ratio),
    )


def evaluation_config(
    data: ReplayData,
    train_window: WindowLike,
    *,
    passive: Literal["overlay", "consume"] = "consume",
    unknown_queue: Literal["ahead", "by_id"] = "by_id",
    impact: Literal["sqrt", "linear", "off"] = "sqrt",
    impact_scale: float = 1.0,
    hidden_fills: bool = True,
    depth: Literal["calibrated", "uniform"] = "calibrated",
    base: ReplayConfig | None = None,
) -> ReplayConfig:
    """The simulator an evaluation runs on, one keyword per sensitivity axis; `base` carries
    everything else (tick size, market data, warm-up: the runner's `replay_config()`)."""
    cfg = base or ReplayConfig(market_data=True, warmup_s=30.0)
    if impact == "sqrt":
        impact_cfg = impact_sqrt(data, train_window, scale=impact_scale)
    elif impact == "linear":
        impact_cfg = impact_linear(scale=impact_scale)
    elif impact == "off":
        impact_cfg = impact_off()
    else:
        raise ValueError(f"impact={impact!r}: choose sqrt, linear or off")
    if depth not in ("calibrated", "uniform"):
        raise ValueError(f"depth={depth!r}: choose calibrated or uniform")
    depth_cfg = (
        depth_calibrated(data, train_window, cfg.tick_size)
        if depth == "calibrated"
        else DepthConfig()
    )
    return ReplayConfig.model_validate(
        {
            **cfg.model_dump(),
            "passive_fill_model": passive,
            "unknown_queue": unknown_queue,
            "impact": impact_cfg.model_dump(),
            "hidden_fills": hidden_fills,
            "depth": depth_cfg.model_dump(),
        }
    )
