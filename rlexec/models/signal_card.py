"""The signal's model card (markdown), rendered from the training record (`signal.json`)."""

from __future__ import annotations

from typing import Any

from rlexec.market.signal_features import SIGNAL_FEATURE_NAMES

NAME = "rlexec-signal-aapl"


def _fmt(v: Any, percent: bool = False) -> str:
    if not isinstance(v, float):
        return str(v)
    if v != v:
        return "n/a"
    return f"{v:.1%}" if percent else f"{v:+.3f}"


def _validation_table(t: dict[str, Any], r: dict[str, Any]) -> str:
    rows = [(f"**{t['family']}** (shipped)", r["validation"])]
    rows += [(name, m) for name, m in r["families"].items() if name != t["family"]]
    rows += [(f"baseline: {name}", m) for name, m in r["baselines"].items() if name != "linear"]
    lines = [
        "| model | Spearman IC (95 % CI) | Pearson IC | hit rate | R² |",
        "|---|---|---|---|---|",
    ]
    for name, m in rows:
        ci = m.get("spearman_ic_ci95")
        ci_text = f" ({ci[0]:+.3f}…{ci[1]:+.3f})" if ci else ""
        lines.append(
            f"| {name} | {_fmt(m['spearman_ic'])}{ci_text} | {_fmt(m['pearson_ic'])} | "
            f"{_fmt(m['hit_rate'], percent=True)} | {_fmt(m['r2'])} |"
        )
    return "\n".join(lines)


def _weights(t: dict[str, Any]) -> str:
    """The least-squares weights by feature, when the shipped model is linear."""
    coef = t.get("params", {}).get("coef")
    if t["family"] != "linear" or not coef:
        return ""
    rows = "\n".join(
        f"| {name} | {c:+.3f} |" for name, c in zip(SIGNAL_FEATURE_NAMES, coef, strict=False)
    )
    return (
        "\n\n## Weights (bps of predicted move per training standard deviation of the feature)\n\n"
        f"| feature | weight |\n|---|---|\n{rows}\n| (intercept) | {coef[-1]:+.3f} |"
    )


def card(record: dict[str, Any]) -> str:
    t, r = record["training"], record["report"]
    val = r["validation"]
    k = len(next(iter(t["cross_validation"].values()))["fold_spearman_ic"])
    cv = "\n".join(
        f"| {f} | {c['mean_spearman_ic']:+.4f} | "
        + ", ".join(f"{v:+.3f}" for v in c["fold_spearman_ic"])
        + " |"
        for f, c in t["cross_validation"].items()
    )
    cost = "\n".join(
        f"| {f} | {c['median_us']} | {c['p99_us']} | {c['onnx_bytes']:,} |"
        for f, c in r["inference"].items()
    )
    fc, sampling = t["feature_config"], t["sampling"]
    return f"""# {NAME}: the short-horizon price-move signal

Predicts the mid move over the next {t["horizon_s"]:g} s (one decision interval), in bps of the mid, from
the order-book features `market.signal_features.SIGNAL_FEATURE_NAMES`: order-flow imbalance
(Cont, Kukanov & Stoikov 2014) over {fc["short_s"]:g} s and {fc["long_s"]:g} s, queue imbalance, microprice offset, spread,
trade imbalance and count, signed prints inside the spread, last print vs mid, mid return,
gap to a {fc["reversion_s"]:g}-s decayed mid average, volatility. A policy trained with it sees
`signal_adverse_bps` = prediction × side (+ = the price is expected to move against us).

- data: `{t["data"]}` ({t["symbol"]} {t["date"]}), training window {t["window"]} only;
  validation = {t["validation_window"]}, its last part; the test windows (13:00–15:55, AMZN) were not read
- dataset: one sample per {sampling["step_s"]:g} s (seeded jitter in the step, seed {sampling["seed"]}), features warmed up
  for {sampling["warmup_s"]:g} s inside the window, no label past its end; {t["samples"]["fit"]:,} fit samples,
  {t["samples"]["validation"]:,} validation samples (~{val["independent_moves"]} independent {t["horizon_s"]:g}-s moves)
- model: **{t["family"]}**, fitted on the fit part only (labels ending by the validation start),
  chosen among {", ".join(t["cross_validation"])} by the best mean Spearman IC of a blocked, purged
  {k}-fold cross-validation inside the fit part; hyperparameters fixed in `models/signal_fit.py`
- sha256 `{record["model"]["sha256"]}`

## Validation ({t["validation_window"]})

{_validation_table(t, r)}

Hit rate: share of the samples where the prediction and the move are both non-zero and of
the same sign. R²: 1 − SSE / Σ(y − ȳ)². The interval is a block bootstrap (blocks of four
horizons: the labels overlap). Label std: fit {r["label_std_bps"]["fit"]} bps, validation {r["label_std_bps"]["validation"]} bps.

## Cross-validation inside the fit part (Spearman IC)

| family | mean | folds |
|---|---|---|
{cv}{_weights(t)}

## Inference cost (one `SignalModel.predict`: normalise + one ONNX Runtime run, 1 thread)

| family | median µs | p99 µs | ONNX bytes |
|---|---|---|---|
{cost}

## Caveats

- The feature set was chosen by looking at feature/label correlations over the whole training
  window (validation part included), and least squares joined the candidate families after the
  first cross-validation showed it ahead of both richer ones: the validation numbers are not a
  clean out-of-sample figure; the test windows (untouched) are. One day, one ticker: at a
  {t["horizon_s"]:g}-s horizon the predictable part of the mid move is small (R² of a few hundredths at
  best) and the interval says how uncertain even that is. The microprice alone carries no
  information at this horizon on AAPL, whose spread is usually many ticks wide.
- Reproduce, byte for byte (same sha256): `python -m rlexec.models.signal train --out runs/signal --ship`
  (about a minute of CPU; `--ship` copies the model and this card into `rlexec/models/artifacts/`).
"""
