"""The standard sensitivity grid: the same episodes under each simulator assumption.

A claim of better execution should survive the simulator's stated choices, so every
evaluation runs each row below on the very same seeded episodes (each row is a set of
backtest tasks with its own `ReplayConfig`):

- `default`: the evaluation's simulator (`base_config`);
- `no_hidden_fills`: recorded hidden executions cannot fill our resting orders;
- `other_fill_mode`: the other passive-fill model (aggressor consumption ↔ the overlay that
  applies every recorded execution in full even when it filled us);
- `impact_x0.5`, `impact_x2`: the square-root impact at half and twice its calibration;
- `real_depth`: the same ticker and day replayed from a deeper LOBSTER file (e.g. AMZN
  level 5) instead of synthetic depth, where such a file lies beside the data.

The rows are built here and nowhere else, from the simulator's evaluation preset
(`simulator.presets.evaluation_config`: aggressor consumption, unknown ids queued by id,
square-root impact and depth calibrated on the calibration window). Every row keeps sweeps
deep enough for the horizon's market order to complete (`deep_sweeps`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlexec.market.lobster import LobsterName
from rlexec.models.runner import SWEEP_LEVELS, replay_config
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.presets import evaluation_config

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
    settings training and every evaluation use."""
    return deep_sweeps(evaluation_config(data, train_window, base=replay_config()))


def deep_sweeps(config: ReplayConfig) -> ReplayConfig:
    """The same settings with at least `SWEEP_LEVELS` synthetic levels: a large remainder at
    the horizon must complete, at the prices it walks through, not run the market dry."""
    if config.depth.max_levels >= SWEEP_LEVELS:
        return config
    depth = config.depth.model_copy(update={"max_levels": SWEEP_LEVELS})
    return config.model_copy(update={"depth": depth})


def scale_impact(config: ReplayConfig, factor: float) -> tuple[ReplayConfig, str]:
    """The same impact model at `factor` × its calibrated size."""
    if not config.impact.enabled:
        raise ValueError("the evaluation's simulator has impact off: nothing to scale")
    impact = config.impact.model_copy(update={"scale": config.impact.scale * factor})
    return config.model_copy(update={"impact": impact}), (
        f"market impact at {factor:g} × the evaluation's calibrated {config.impact.model} model"
    )


def other_fill_mode(config: ReplayConfig) -> tuple[ReplayConfig, str]:
    """The same settings with the other passive-fill model."""
    if config.passive_fill_model == "consume":
        return config.model_copy(update={"passive_fill_model": "overlay"}), (
            "overlay: a recorded execution that filled us still reaches the recorded book in full"
        )
    return config.model_copy(update={"passive_fill_model": "consume"}), (
        "aggressor consumption: only what we left of a recorded aggressor reaches the recorded book"
    )


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
    other, what = other_fill_mode(cfg)
    rows.append(Row("other_fill_mode", what, deep_sweeps(other)))
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
