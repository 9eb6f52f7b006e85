"""Train, choose, validate and export the price-move signal (needs the train extra + sklearn).

The protocol, fixed before any number was seen:

1. The dataset (`signal_data`) covers the training window only (AAPL 09:35–13:00). Its
   last part (12:20–13:00) is the validation window; the fit part is every sample whose
   label ends by 12:20. The test windows (AAPL 13:00–15:55, AMZN) are not read at all.
2. Each model family (`signal_fit`) is scored by blocked, purged cross-validation inside
   the fit part (contiguous folds; training samples whose label interval touches the
   held-out fold are dropped), because the validation window alone holds only ~160
   independent 15-second moves. The family with the best mean fold Spearman IC ships
   (least squares competes too: a richer model must beat it to ship); inference cost is
   measured and reported beside it.
3. The chosen family is fitted on the whole fit part and scored once on the validation
   window, next to the baselines: zero, the microprice offset alone (scaled by least
   squares on the fit part), and least squares on every feature.
4. The ONNX export must reproduce the fitted model's predictions (checked on the
   validation rows), and carries its contract, normaliser, horizon, data and numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rlexec.market.errors import RlexecError
from rlexec.market.sample_data import default_data
from rlexec.market.signal_features import SIGNAL_FEATURE_NAMES, SignalConfig
from rlexec.models.contract import (
    META_FEATURES,
    META_OBS_CLIP,
    META_OBS_MEAN,
    META_OBS_STD,
    META_OUTPUT,
    META_TRAINING,
    Normaliser,
)
from rlexec.models.market_stats import Window
from rlexec.models.signal import (
    ARTIFACTS,
    KIND,
    META_FEATURE_CONFIG,
    META_HORIZON,
    META_KIND,
    META_VALIDATION,
    OUTPUT,
    SignalModel,
)
from rlexec.models.signal_card import NAME, card
from rlexec.models.signal_data import SignalDataset, build
from rlexec.models.signal_fit import FAMILIES, fit
from rlexec.simulator.data import ReplayData

_NS = 1_000_000_000
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SignalSettings:
    data: str
    window: str = "09:35-13:00"
    validation: str = "12:20-13:00"
    horizon_s: float = 15.0
    step_s: float = 1.0
    warmup_s: float = 180.0
    seed: int = 0
    folds: int = 4
    family: str = "auto"
    """"auto": the best cross-validated family; or one of `signal_fit.FAMILIES`."""
    short_s: float = 5.0
    long_s: float = 30.0
    reversion_s: float = 300.0

    def check(self) -> tuple[Window, Window]:
        window, validation = Window.parse(self.window), Window.parse(self.validation)
        if not (window.start_ns < validation.start_ns < validation.end_ns <= window.end_ns):
            raise ValueError(
                f"validation {validation} must be the last part of the training window {window}"
            )
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be positive, got {self.horizon_s}")
        if self.family != "auto" and self.family not in FAMILIES:
            raise ValueError(f"family must be auto or one of {', '.join(FAMILIES)}")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        return window, validation


# -- metrics ----------------------------------------------------------------------------------


def metrics(
    pred: F64, y: F64, ts: npt.NDArray[np.int64], horizon_s: float, seed: int = 0
) -> dict[str, Any]:
    """IC (Spearman, Pearson), sign hit rate, R², and a block-bootstrap 95 % CI of the
    Spearman IC (blocks of 4 horizons: the labels overlap)."""
    from scipy.stats import pearsonr, spearmanr

    pred = np.asarray(pred, dtype=np.float64)
    flat = np.ptp(pred) == 0
    sp = float("nan") if flat else float(spearmanr(pred, y)[0])
    pe = float("nan") if flat else float(pearsonr(pred, y)[0])
    moved = (y != 0) & (pred != 0)
    hit = float(np.mean(np.sign(pred[moved]) == np.sign(y[moved]))) if moved.any() else float("nan")
    r2 = 1.0 - float(np.sum((y - pred) ** 2)) / float(np.sum((y - y.mean()) ** 2))
    span_s = (int(ts.max()) - int(ts.min())) / _NS + horizon_s if len(ts) else 0.0
    out: dict[str, Any] = {
        "n": len(y), "independent_moves": int(span_s // horizon_s), "spearman_ic": sp,
        "pearson_ic": pe, "hit_rate": hit, "r2": r2,
    }  # fmt: skip
    if not flat:
        block = (ts - ts.min()) // round(4 * horizon_s * _NS)
        groups = [np.flatnonzero(block == b) for b in np.unique(block)]
        rng = np.random.default_rng(seed)
        ics = []
        for _ in range(500):
            pick = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
            ics.append(spearmanr(pred[pick], y[pick])[0])
        lo, hi = np.nanpercentile(ics, [2.5, 97.5])
        out["spearman_ic_ci95"] = [float(lo), float(hi)]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _normalised(norm: Normaliser, x: F64) -> npt.NDArray[np.float32]:
    return (
        np.stack([norm(row) for row in x]) if len(x) else np.zeros((0, len(norm.mean)), np.float32)
    )


def fit_normaliser(x: F64) -> Normaliser:
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
    return Normaliser(np.where(np.isfinite(mean), mean, 0.0), std)


def folds(ds: SignalDataset, k: int) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """Contiguous folds in time; a training sample is purged if its label interval overlaps
    the held-out fold's."""
    h = round(ds.horizon_s * _NS)
    edges = np.linspace(ds.ts_ns.min(), ds.ts_ns.max() + 1, k + 1).astype(np.int64)
    out = []
    for i in range(k):
        test = (ds.ts_ns >= edges[i]) & (ds.ts_ns < edges[i + 1])
        lo, hi = ds.ts_ns[test].min(), ds.ts_ns[test].max()
        train = ~test & ((ds.ts_ns + h < lo) | (ds.ts_ns > hi + h))
        out.append((train, test))
    return out


def cross_validate(family: str, ds: SignalDataset, k: int, seed: int) -> dict[str, Any]:
    from scipy.stats import spearmanr

    ics = []
    pred = np.full(len(ds), np.nan)
    for train, test in folds(ds, k):
        norm = fit_normaliser(ds.x[train])
        model = fit(family, _normalised(norm, ds.x[train]), ds.y[train], seed)
        pred[test] = model.predict(_normalised(norm, ds.x[test]))
        flat = np.ptp(pred[test]) == 0  # a constant prediction carries no information
        ics.append(0.0 if flat else float(spearmanr(pred[test], ds.y[test])[0]))
    return {
        "fold_spearman_ic": [round(v, 4) for v in ics],
        "mean_spearman_ic": round(float(np.mean(ics)), 4),
    }


# -- inference cost -------------------------------------------------------------------------


def inference_us(model: SignalModel, rows: F64, repeats: int = 20_000) -> dict[str, float]:
    """Median and p99 of one `predict` call (normalise + one ORT run), µs."""
    samples = np.empty(repeats)
    clock = time.perf_counter_ns
    lists = [list(map(float, r)) for r in rows[: min(len(rows), 256)]]
    for i in range(repeats):
        row = lists[i % len(lists)]
        t0 = clock()
        model.predict(row)
        samples[i] = clock() - t0
    return {"median_us": round(float(np.median(samples)) / 1e3, 2),
            "p99_us": round(float(np.percentile(samples, 99)) / 1e3, 2)}  # fmt: skip


# -- the whole run ----------------------------------------------------------------------------


def train_signal(settings: SignalSettings, out: Path, log: Any = None) -> dict[str, Any]:
    say = log or (lambda msg: print(msg, file=sys.stderr))
    window, validation = settings.check()
    config = SignalConfig(settings.short_s, settings.long_s, settings.reversion_s)
    data = ReplayData.load(settings.data)
    started = time.perf_counter()
    ds = build(data, window, settings.horizon_s, settings.step_s, settings.warmup_s,
               settings.seed, config)  # fmt: skip
    h = round(settings.horizon_s * _NS)
    if len(ds) == 0 or ds.ts_ns.min() < window.start_ns or ds.ts_ns.max() + h > window.end_ns:
        raise RlexecError(f"dataset left the training window {window}")  # never: build() keeps it
    fit_part = ds.between(window.start_ns, validation.start_ns)
    val = ds.between(validation.start_ns, validation.end_ns)
    say(f"dataset: {len(ds)} samples ({len(fit_part)} fit, {len(val)} validation) "
        f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    cv = {}
    for family in FAMILIES:
        cv[family] = cross_validate(family, fit_part, settings.folds, settings.seed)
        say(f"cv {family}: {cv[family]}")
    family = settings.family
    if family == "auto":
        family = max(FAMILIES, key=lambda f: cv[f]["mean_spearman_ic"])
    norm = fit_normaliser(fit_part.x)
    xf, xv = _normalised(norm, fit_part.x), _normalised(norm, val.x)
    out.mkdir(parents=True, exist_ok=True)
    validation_rows: dict[str, Any] = {}
    costs: dict[str, Any] = {}
    chosen_pred: F64 | None = None
    path = out / f"{NAME}.onnx"
    training = {
        "data": Path(settings.data).name, "symbol": data.symbol, "date": data.date,
        "window": str(window), "fit_window": f"{window.start_ns // _NS}s-{validation.start_ns // _NS}s",
        "validation_window": str(validation), "horizon_s": settings.horizon_s,
        "sampling": {"step_s": settings.step_s, "jitter": "uniform within each step",
                     "warmup_s": settings.warmup_s, "seed": settings.seed},
        "samples": {"fit": len(fit_part), "validation": len(val)},
        "label": "mid(t+h) − mid(t), bps of mid(t); trained on labels winsorised at 1/99 %",
        "feature_config": config.as_json(), "family": family, "cross_validation": cv,
        "versions": _versions(),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name in FAMILIES:
            model = fit(name, xf, fit_part.y, settings.seed)
            native = model.predict(xv)
            onnx_path = Path(tmp) / f"{name}.onnx"
            model.export(onnx_path)
            _write_metadata(onnx_path, norm, config, settings.horizon_s, {**training, "family": name,
                            "params": model.params}, {})  # fmt: skip
            runtime = SignalModel(onnx_path)
            via_onnx = runtime.predict_batch(val.x)
            gap = float(np.max(np.abs(via_onnx - native))) if len(native) else 0.0
            if gap > 1e-3:
                raise RlexecError(
                    f"{name}: ONNX export differs from the fitted model by {gap:.2g} bps"
                )
            validation_rows[name] = metrics(via_onnx, val.y, val.ts_ns, settings.horizon_s)
            costs[name] = {**inference_us(runtime, val.x), "onnx_bytes": onnx_path.stat().st_size}
            say(f"{name}: validation {validation_rows[name]} cost {costs[name]}")
            if name == family:
                chosen_pred = via_onnx
                training["params"] = model.params
                shutil.copy(onnx_path, path)
    assert chosen_pred is not None
    micro = SIGNAL_FEATURE_NAMES.index("microprice_offset_bps")
    mf, mv = np.nan_to_num(fit_part.x[:, micro]), np.nan_to_num(val.x[:, micro])
    slope = float(mf @ fit_part.y / (mf @ mf)) if mf.any() else 0.0
    baselines = {
        "zero": metrics(np.zeros(len(val)), val.y, val.ts_ns, settings.horizon_s),
        "microprice": {**metrics(slope * mv, val.y, val.ts_ns, settings.horizon_s),
                       "slope_bps_per_bps": round(slope, 4)},
        "linear": validation_rows["linear"],
    }  # fmt: skip
    report = {
        "chosen": family, "validation": validation_rows[family],
        "families": validation_rows, "baselines": baselines,
        "label_std_bps": {"fit": round(float(fit_part.y.std()), 4), "validation": round(float(val.y.std()), 4)},
    }  # fmt: skip
    # timings stay out of the model file: the same command rebuilds it byte for byte
    _write_metadata(path, norm, config, settings.horizon_s, training, report)
    report["inference"] = costs
    shipped = SignalModel(path)
    record = {"settings": asdict(settings), "training": training, "report": report,
              "model": shipped.identity, "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    (out / "signal.json").write_text(json.dumps(record, indent=1))
    (out / f"{NAME}.md").write_text(card(record))
    return record


def _write_metadata(
    path: Path, norm: Normaliser, config: SignalConfig, horizon_s: float,
    training: dict[str, Any], validation: dict[str, Any],
) -> None:  # fmt: skip
    import onnx

    proto = onnx.load(str(path))
    props = {
        META_KIND: KIND,
        META_FEATURES: json.dumps(list(SIGNAL_FEATURE_NAMES)),
        META_FEATURE_CONFIG: json.dumps(config.as_json()),
        META_OBS_MEAN: json.dumps(norm.mean.tolist()),
        META_OBS_STD: json.dumps(norm.std.tolist()),
        META_OBS_CLIP: json.dumps(norm.clip),
        META_HORIZON: json.dumps(horizon_s),
        META_OUTPUT: OUTPUT,
        META_TRAINING: json.dumps(training),
        META_VALIDATION: json.dumps(validation),
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "rlexec"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn
    import torch

    import rlexec

    return {"rlexec": rlexec.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlexec.models.signal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="build the dataset, fit, validate and export the signal")
    p.add_argument("--out", required=True, help="output folder (ONNX, signal.json, card)")
    p.add_argument("--data", default=None, help="LOBSTER message file (default: the AAPL day)")
    p.add_argument("--window", default="09:35-13:00")
    p.add_argument("--validation", default="12:20-13:00")
    p.add_argument("--horizon", type=float, default=15.0, help="prediction horizon, seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--family", default="auto", choices=("auto", *FAMILIES))
    p.add_argument(
        "--ship", action="store_true", help=f"also copy the model and card to {ARTIFACTS}"
    )
    args = parser.parse_args(argv)
    try:
        settings = SignalSettings(
            data=args.data or default_data(), window=args.window, validation=args.validation,
            horizon_s=args.horizon, seed=args.seed, family=args.family,
        )  # fmt: skip
        record = train_signal(settings, Path(args.out))
    except (RlexecError, ValueError) as exc:
        print(f"rlexec signal: error: {exc}", file=sys.stderr)
        return 2
    if args.ship:
        ARTIFACTS.mkdir(exist_ok=True)
        for suffix in (".onnx", ".md"):
            shutil.copy(Path(args.out) / f"{NAME}{suffix}", ARTIFACTS / f"{NAME}{suffix}")
    print(json.dumps({"out": args.out, "chosen": record["report"]["chosen"],
                      "validation": record["report"]["validation"],
                      "model": record["model"]}))  # fmt: skip
    return 0
