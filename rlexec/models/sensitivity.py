"""The standard sensitivity grid: the same episodes under each simulator assumption.

A claim of better execution should survive the simulator's stated choices, so every
evaluation runs each row below on the very same seeded episodes (each row is a set of
backtest tasks with its own `ReplayConfig`):

- `default`: the evaluation's simulator (`base_config`);
- `no_hidden_fills`: recorded hidden executions cannot fill our resting orders;
- `other_fill_mode`: the other passive-fill model (overlay ↔ aggressor consumption) — only
  once the simulator has both (`other_fill_mode`);
- `impact_x0.5`, `impact_x2`: market impact at half and twice its coefficients;
- `real_depth`: the same ticker and day replayed from a deeper LOBSTER file (e.g. AMZN
  level 5) instead of synthetic depth, where such a file lies beside the data.

The rows are built here and nowhere else: `base_config`, `scale_impact` and
`other_fill_mode` are the three functions to point at the simulator's presets
(`simulator.presets.evaluation_config`). Whatever they return, every row keeps sweeps deep
enough for the horizon's market order to complete (`deep_sweeps`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlexec.market.lobster import LobsterName
from rlexec.models.runner import SWEEP_LEVELS, replay_config
from rlexec.simulator.config import ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData

ROW_NAMES = (
    "default",
    "no_hidden_fills",
    "other_fill_mode",
    "impact_x0.5",
    "impact_x2",
    "real_depth",
)
"""Every standard row, in report order (a row the data or simulator cannot run is skipped)."""


Loader = Callable[[str], ReplayData]


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    description: str
    config: ReplayConfig
    data: str | None = None
    """A different message file of the same ticker and day to replay (None: the backtest's)."""


def base_config(data: ReplayData, train_window: str) -> ReplayConfig:
    """The `default` row's simulator for `data`, calibrated on `train_window` only: the
    settings training and every evaluation use. Today the runner's; point at
    `presets.evaluation_config(data, train_window, base=replay_config())` once it lands."""
    return deep_sweeps(replay_config())


def deep_sweeps(config: ReplayConfig) -> ReplayConfig:
    """The same settings with at least `SWEEP_LEVELS` synthetic levels: a large remainder at
    the horizon must complete, at the prices it walks through, not run the market dry."""
    if config.depth.max_levels >= SWEEP_LEVELS:
        return config
    depth = config.depth.model_copy(update={"max_levels": SWEEP_LEVELS})
    return config.model_copy(update={"depth": depth})


def scale_impact(config: ReplayConfig, factor: float) -> tuple[ReplayConfig, str]:
    """Impact at `factor` × its coefficients; turned on (at `factor` × the defaults) if it was off."""
    impact = config.impact if config.impact.enabled else ImpactConfig(enabled=True)
    scaled = impact.model_copy(
        update={
            "enabled": True,
            "permanent_ticks_per_share": impact.permanent_ticks_per_share * factor,
            "transient_ticks_per_share": impact.transient_ticks_per_share * factor,
        }
    )
    what = "the evaluation's" if config.impact.enabled else "the default (off in `default`)"
    return config.model_copy(update={"impact": scaled}), (
        f"market impact on at {factor:g} × {what} coefficients"
    )


def other_fill_mode(config: ReplayConfig) -> tuple[ReplayConfig, str] | None:
    """The same settings with the other passive-fill model, or None while the simulator has
    only the overlay (aggressor consumption is being added to `ReplayConfig`)."""
    return None


def deeper_file(data: str | Path) -> str | None:
    """The deepest message file beside `data` of the same ticker, day and session, if it
    stores more levels than `data` does."""
    path = Path(data)
    name = LobsterName.parse(path)
    if name is None:
        return None
    best: tuple[int, Path] | None = None
    for other in path.parent.glob(f"{name.symbol}_{name.date}_*_message_*.csv*"):
        o = LobsterName.parse(other)
        if o is None or (o.start_ms, o.end_ms) != (name.start_ms, name.end_ms):
            continue
        if o.levels > name.levels and (best is None or o.levels > best[0]):
            best = (o.levels, other)
    return str(best[1]) if best is not None else None


def standard_rows(
    path: str | Path, data: ReplayData, train_window: str, load: Loader | None = None
) -> list[Row]:
    """The rows the message file at `path` (loaded: `data`) can run, in `ROW_NAMES` order;
    `load` reads a deeper file of the same day (for `real_depth`)."""
    cfg = base_config(data, train_window)
    rows = [
        Row("default", "the evaluation's simulator", cfg),
        Row(
            "no_hidden_fills",
            "recorded hidden executions do not fill our resting orders",
            cfg.model_copy(update={"hidden_fills": False}),
        ),
    ]
    other = other_fill_mode(cfg)
    if other is not None:
        rows.append(Row("other_fill_mode", other[1], deep_sweeps(other[0])))
    for name, factor in (("impact_x0.5", 0.5), ("impact_x2", 2.0)):
        config, what = scale_impact(cfg, factor)
        rows.append(Row(name, what, deep_sweeps(config)))
    deeper = deeper_file(path)
    if deeper is not None:
        levels = LobsterName.parse(Path(deeper))
        assert levels is not None
        what = f"the recorded {levels.levels}-level book ({Path(deeper).name}), not synthetic depth"
        deep_data = (load or ReplayData.load)(deeper)
        rows.append(Row("real_depth", what, base_config(deep_data, train_window), deeper))
    return rows


def skipped_rows(rows: list[Row]) -> dict[str, str]:
    """Standard rows not in `rows`, with why."""
    have = {r.name for r in rows}
    why = {
        "other_fill_mode": "the simulator has one passive-fill model so far",
        "real_depth": "no deeper file of this ticker and day beside the data",
    }
    return {name: why.get(name, "not requested") for name in ROW_NAMES if name not in have}


def select(rows: list[Row], names: list[str] | None) -> list[Row]:
    """The rows named (all when None); a name that is not a standard row is an error."""
    if names is None:
        return rows
    unknown = [n for n in names if n not in ROW_NAMES]
    if unknown:
        raise ValueError(f"unknown sensitivity rows {unknown}; choose from {', '.join(ROW_NAMES)}")
    return [r for r in rows if r.name in names]
