"""A training sweep on Ray Tune: seeds × a small hyperparameter grid, chosen on validation only.

Every trial trains with `models.train` (the same code as `rlexec train`) on the training
window, exports to ONNX and is scored on the validation window (`models.validation`: the
policy's IS minus TWAP's on the same episodes). The test window is never run. The trial
with the lowest score (ties: the earlier row) is exported again with its whole record in
the ONNX metadata: its parameters, its validation scores, and the sha256 of the table of
all trials, saved beside it (`sweep.json`, `sweep.csv`). The data file is shipped to the
trials through the object store; checkpoints go to Tune's storage (on a real cluster, a
shared path or bucket: `--storage`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray import tune

from rlexec.market.errors import RlexecError
from rlexec.models.export import export
from rlexec.models.train import TrainSettings, train
from rlexec.models.validation import ValidationPlan, check_windows, validate
from rlexec.scale.cluster import RayConnection
from rlexec.simulator.data import ReplayFile

METRIC = "validation_rl_minus_twap_risk_adjusted_bps"
PARAMS = ("seed", "learning_rate", "ent_coef", "net_size", "interval_s")


@dataclass(frozen=True, slots=True)
class SweepSpec:
    data: str
    plan: ValidationPlan
    """Where trials train and are scored (`ValidationPlan.from_evaluation_plan`)."""
    seeds: tuple[int, ...] = (7, 8)
    learning_rates: tuple[float, ...] = (3e-4, 1e-3)
    ent_coefs: tuple[float, ...] = (0.0, 0.005)
    net_sizes: tuple[int, ...] = (64, 128)
    """Width of the policy's two hidden layers."""
    intervals_s: tuple[float, ...] = (15.0, 30.0)
    """Decision intervals; every horizon of the plan's sizes must hold one."""
    timesteps: int = 200_000
    algorithm: str = "ppo"
    n_envs: int = 4
    calibration_episodes: int = 40
    cpus_per_trial: float = 1.0

    def space(self) -> dict[str, list[Any]]:
        return {"seed": list(self.seeds), "learning_rate": list(self.learning_rates),
                "ent_coef": list(self.ent_coefs), "net_size": list(self.net_sizes),
                "interval_s": list(self.intervals_s)}  # fmt: skip

    def trials(self) -> int:
        count = 1
        for values in self.space().values():
            count *= len(values)
        return count

    def settings(self, params: dict[str, Any]) -> TrainSettings:
        return TrainSettings(
            data=self.data, window=self.plan.train_window, timesteps=self.timesteps,
            seed=int(params["seed"]), algorithm=self.algorithm, n_envs=self.n_envs,
            calibration_episodes=self.calibration_episodes, sizes=self.plan.sizes,
            risk_aversion=self.plan.risk_aversion,
            learning_rate=float(params["learning_rate"]), ent_coef=float(params["ent_coef"]),
            net_arch=(int(params["net_size"]),) * 2, interval_s=float(params["interval_s"]),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    model: Path
    table: Path
    best: dict[str, Any]
    record: dict[str, Any]


def run_trial(config: dict[str, Any], shipped: ReplayFile, spec: SweepSpec) -> None:
    """One Tune trial: train, export, validate, report with the run as its checkpoint."""
    data = shipped.replay_data()
    settings = spec.settings(config)
    work = Path(tempfile.mkdtemp(prefix="rlexec-trial-"))
    try:
        record = train(settings, work, data=data)
        model = export(work, work / "policy.onnx")
        scores = validate(model, data, spec.plan, settings.interval_s)
        metrics = {**scores, "train_seconds": record["train_seconds"],
                   "train_episodes": record["episodes"]}  # fmt: skip
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _TrialsDone(tune.Callback):
    def __init__(self, total: int, progress: Callable[[int, int], None]) -> None:
        self.total = total
        self.done = 0
        self.progress = progress

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        self.progress(self.done, self.total)


def sweep(
    spec: SweepSpec,
    out: Path,
    address: str | None = None,
    storage: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    name: str = "rlexec-sweep",
) -> SweepOutcome:
    check_windows(spec.plan)
    if spec.timesteps < 1:
        raise ValueError(f"timesteps must be positive, got {spec.timesteps}")
    for key, values in spec.space().items():
        if not values:
            raise ValueError(f"the sweep needs at least one value of {key}")
    shipped = ReplayFile.read(spec.data)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    connection = RayConnection(address)
    connection.open()
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, shipped=shipped, spec=spec),
            {"cpu": spec.cpus_per_trial},
        )
        callbacks: list[tune.Callback] = []
        if progress is not None:
            callbacks.append(_TrialsDone(spec.trials(), progress))
        tuner = tune.Tuner(
            trainable,
            param_space={k: tune.grid_search(v) for k, v in spec.space().items()},
            tune_config=tune.TuneConfig(metric=METRIC, mode="min"),
            run_config=tune.RunConfig(
                name=name, storage_path=storage or str(out / "tune"), verbose=0,
                callbacks=callbacks, failure_config=tune.FailureConfig(max_failures=2),
            ),
        )  # fmt: skip
        with contextlib.redirect_stdout(sys.stderr):  # Tune's banner; stdout is the caller's
            grid = tuner.fit()
        if grid.errors:
            raise RlexecError(f"{len(grid.errors)} sweep trial(s) failed; first: {grid.errors[0]}")
        rows: list[dict[str, Any]] = []
        checkpoints: dict[tuple[Any, ...], tune.Checkpoint | None] = {}
        for i in range(len(grid)):
            result = grid[i]
            config, metrics = result.config or {}, result.metrics or {}
            params = {k: config[k] for k in PARAMS}
            rows.append({**params, **{k: v for k, v in metrics.items() if _ours(k)}})
            checkpoints[tuple(params[k] for k in PARAMS)] = result.checkpoint
        rows.sort(key=lambda r: tuple(r[k] for k in PARAMS))
        for i, row in enumerate(rows):
            row["trial"] = i
        best = min(rows, key=lambda r: (r[METRIC], r["trial"]))
        table = _save_table(out, spec, rows)
        best_dir = out / "best"
        shutil.rmtree(best_dir, ignore_errors=True)
        checkpoint = checkpoints[tuple(best[k] for k in PARAMS)]
        if checkpoint is None:
            raise RlexecError(f"trial {best['trial']} left no checkpoint")
        checkpoint.to_directory(str(best_dir))
    finally:
        connection.close()
    record = {
        "sweep": {
            "trial": best["trial"],
            "params": {k: best[k] for k in PARAMS},
            "validation": {k: v for k, v in best.items() if k.startswith("validation_")},
            "plan": asdict(spec.plan),
            "metric": f"{METRIC} (min): RL's mean IS + λ·var minus TWAP's, same episodes",
            "trials": len(rows),
            "space": spec.space(),
            "timesteps": spec.timesteps,
            "table": table.name,
            "table_sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
        }
    }
    model = export(best_dir, out / f"{name}-best.onnx", evaluation=record)
    return SweepOutcome(model, table, best, record)


def _ours(key: str) -> bool:
    return key.startswith("validation_") or key in ("policy_fallbacks", "train_seconds",
                                                   "train_episodes")  # fmt: skip


def _save_table(out: Path, spec: SweepSpec, rows: list[dict[str, Any]]) -> Path:
    doc = {"data": Path(spec.data).name, "plan": asdict(spec.plan), "metric": METRIC,
           "timesteps": spec.timesteps, "algorithm": spec.algorithm, "trials": rows}  # fmt: skip
    path = out / "sweep.json"
    path.write_text(json.dumps(doc, indent=1, allow_nan=False))
    columns = ["trial", *PARAMS, *sorted({k for r in rows for k in r} - {"trial", *PARAMS})]
    with (out / "sweep.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path
