"""An external cross-check of the replay's fill model against hftbacktest (issue 12).

The same fixed experiment runs in both engines on the shared LOBSTER days: a 100-share
passive buy at the best bid and one tick above it (when the spread leaves room; otherwise
the window is skipped and counted), placed at fixed window starts (`experiment.py`), held
for one minute, never re-priced. Measured per scenario and engine: fill rate, time to
first fill, filled quantity. Every rlexec mode is compared with hftbacktest fed the same
trades (hidden executions or not), and the fill rates must agree within `TOLERANCE`;
`report.EXPLANATIONS` states the model choice behind each kind of difference.

`python -m rlexec.simulator.crosscheck --out DIR` (`make validate-sim`) runs the full
experiment and writes `crosscheck.json` and `crosscheck.md`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.crosscheck import hbt, rlexec_side
from rlexec.simulator.crosscheck.experiment import (
    FULL_WINDOWS,
    QUANTITY,
    SCENARIOS,
    WINDOW_S,
    Scenario,
    placements,
    window_starts,
)
from rlexec.simulator.crosscheck.report import EXPLANATIONS, TOLERANCE, Summary, compare
from rlexec.simulator.data import ReplayData

__all__ = ["FULL_WINDOWS", "TOLERANCE", "failures", "rlexec_modes", "run_experiment"]


@dataclass(frozen=True, slots=True)
class _HbtEngine:
    name: str
    hidden: bool


_HBT = (_HbtEngine("hftbacktest", True), _HbtEngine("hftbacktest-no-hidden", False))


def rlexec_modes() -> dict[str, ReplayConfig]:
    """Today's default, hidden fills off, and the fill-model switches ReplayConfig has."""
    modes = {"rlexec": ReplayConfig(), "rlexec-no-hidden": ReplayConfig(hidden_fills=False)}
    fields = ReplayConfig.model_fields
    if "passive_fill_model" in fields:
        modes["rlexec-consume"] = ReplayConfig.model_validate({"passive_fill_model": "consume"})
    if "unknown_queue" in fields:
        modes["rlexec-by-id"] = ReplayConfig.model_validate({"unknown_queue": "by_id"})
    return modes


def run_experiment(
    files: dict[str, ReplayData],
    windows: int = FULL_WINDOWS,
    modes: dict[str, ReplayConfig] | None = None,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """The experiment on each file; the crosscheck.json document."""
    modes = rlexec_modes() if modes is None else modes
    out: dict[str, Any] = {}
    for label, data in files.items():
        starts = window_starts(data, windows)
        days = {e.name: hbt.events(data, hidden=e.hidden) for e in _HBT}
        per_scenario: dict[str, Any] = {}
        for scenario in scenarios:
            ticks = {cfg.tick_size for cfg in modes.values()} or {ReplayConfig().tick_size}
            if len(ticks) != 1:
                raise ValueError(f"rlexec modes disagree on tick_size: {sorted(ticks)}")
            tick = ticks.pop()
            orders, skipped = placements(data, scenario, starts, tick)
            results = {e.name: hbt.run(days[e.name], orders, tick / hbt.PRICE_SCALE) for e in _HBT}
            results |= {name: rlexec_side.run(data, cfg, orders) for name, cfg in modes.items()}
            comparisons = {}
            for name, cfg in modes.items():
                other = _HBT[0] if cfg.hidden_fills else _HBT[1]
                c = compare(results[name], results[other.name], tolerance)
                comparisons[name] = {"hftbacktest": other.name, **c}
            per_scenario[scenario.name] = {
                "engines": {
                    name: Summary.of(res, orders, skipped).to_json()
                    for name, res in results.items()
                },
                "comparisons": comparisons,
            }
        out[label] = {"source": data.source, "levels": data.levels, "scenarios": per_scenario}
    return {
        "experiment": {
            "windows": windows,
            "window_s": WINDOW_S,
            "quantity": QUANTITY,
            "scenarios": {s.name: {"ticks_above_bid": s.ticks_inside} for s in scenarios},
            "window_starts": "evenly spaced over [10:00, 15:30) New York time",
        },
        "hftbacktest_version": version("hftbacktest"),
        "hftbacktest_setup": "risk_adverse_queue_model, no_partial_fill_exchange, "
        "constant_order_latency(0, 0), HashMapMarketDepthBacktest",
        "rlexec_modes": {name: cfg.model_dump(mode="json") for name, cfg in modes.items()},
        "tolerance": tolerance,
        "explanations": EXPLANATIONS,
        "files": out,
    }


def failures(doc: dict[str, Any]) -> list[str]:
    """Every comparison outside the tolerance, as 'file/scenario/mode: Δ=…'."""
    return [
        f"{name}/{scenario}/{mode}: fill rate Δ={c['fill_rate_diff']:+.2f} "
        f"(tolerance ±{c['tolerance']:.2f})"
        for name, f in doc["files"].items()
        for scenario, s in f["scenarios"].items()
        for mode, c in s["comparisons"].items()
        if not c["within_tolerance"]
    ]
