"""The backtest's files: results.json, episodes.json, report.md and three plots.

The report opens with the seed's table — IS, market-impact cost, timing risk per
algorithm — then the risk-adjusted view, the paired comparisons with their bootstrap CIs,
and the same per size bucket. Needs matplotlib (the `train` extra).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rlexec.models.evaluation import (
    Bootstrap,
    EpisodeResult,
    fmt_ci,
    fmt_frac,
    fmt_p,
    results_document,
)
from rlexec.models.objective import RISK_AVERSION


def write_outputs(
    out: Path,
    by_algo: dict[str, list[EpisodeResult]],
    meta: dict[str, object],
    tactics: dict[str, str],
    candidate: str = "rl",
    risk_aversion: float = RISK_AVERSION,
    bucket_edges: tuple[float, ...] | None = None,
    boot: Bootstrap | None = None,
) -> dict[str, object]:
    """results.json, episodes.json, report.md and the three PNG plots; returns the document."""
    out.mkdir(parents=True, exist_ok=True)
    doc = results_document(by_algo, meta, candidate, risk_aversion, bucket_edges, boot)
    (out / "results.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
    episodes = [asdict(r) for results in by_algo.values() for r in results]
    (out / "episodes.json").write_text(json.dumps(episodes))
    plots = _plots(out, by_algo)
    (out / "report.md").write_text(report(doc, tactics, plots, candidate))
    return doc


def seed_table(algos: Mapping[str, Any]) -> list[str]:
    """The seed's columns: IS, market-impact cost, timing risk."""
    lines = [
        "| algo | IS (bps) | market-impact cost (bps) | timing risk (std IS, bps) |",
        "|---|---:|---:|---:|",
    ]
    for name, s in algos.items():
        lines.append(
            f"| {name} | {s['mean_is_bps']:.2f} | {s['mean_impact_bps']:.2f} | {s['std_is_bps']:.2f} |"
        )
    return lines


def risk_table(algos: Mapping[str, Any]) -> list[str]:
    lines = [
        "| algo | n | mean IS | median IS | std IS | CVaR95 IS | impact | forced at end | mean + λ·var |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in algos.items():
        lines.append(
            f"| {name} | {s['n']} | {s['mean_is_bps']:.2f} | {s['median_is_bps']:.2f} | "
            f"{s['std_is_bps']:.2f} | {s['cvar95_is_bps']:.2f} | {s['mean_impact_bps']:.2f} | "
            f"{s['mean_forced_frac']:.1%} | {s['risk_adjusted_bps']:.2f} |"
        )
    return lines


def paired_table(vs: Mapping[str, Any], candidate: str) -> list[str]:
    lines = [
        f"| {candidate} vs | mean diff (bps) | 95 % CI | win rate | Wilcoxon p | "
        "risk-adjusted diff | 95 % CI | improvement (of baseline cost) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for other, c in vs.items():
        lines.append(
            f"| {other} | {c['mean_diff_bps']:+.2f} | {fmt_ci(c['mean_diff_ci95'])} | "
            f"{c['win_rate']:.1%} | {fmt_p(c['wilcoxon_p'])} | {c['risk_adjusted_diff_bps']:+.2f} | "
            f"{fmt_ci(c['risk_adjusted_diff_ci95'])} | {fmt_frac(c['improvement_frac_of_baseline_cost'])} |"
        )
    return lines


def report(
    doc: Mapping[str, Any], tactics: dict[str, str], plots: list[str], candidate: str
) -> str:
    algos = doc["algos"]
    meta = doc["meta"]
    lam = meta.get("risk_aversion_per_bps")
    lines = ["# Backtest report", ""]
    lines += [
        "IS = implementation shortfall in bps of the arrival mid, positive = cost; market-impact "
        "cost = cost against the mid prevailing at each decision (spread paid + impact); timing "
        "risk = std of IS across episodes.",
        "",
    ]
    lines += seed_table(algos)
    lines += [
        "",
        f"## Risk-adjusted (λ = {lam} per bps; CVaR95 = mean of the worst 5 % of episodes)",
        "",
    ]
    lines += risk_table(algos)
    cand = algos.get(candidate)
    if isinstance(cand, dict) and "vs" in cand:
        boot = meta.get("bootstrap", {})
        lines += [
            "",
            f"## {candidate} against each baseline (paired, same episodes)",
            "",
            f"Differences are {candidate} − baseline (negative = {candidate} cheaper); CIs from "
            f"a {boot.get('method', '')} bootstrap over episodes ({boot.get('resamples', '')} "
            f"resamples, seed {boot.get('seed', '')}).",
            "",
        ]
        lines += paired_table(cand["vs"], candidate)
    for label, bucket in doc.get("buckets", {}).items():
        b_algos = bucket["algos"]
        n = next(iter(b_algos.values()))["n"]
        lines += ["", f"## Size bucket {label} of the expected volume ({n} episodes)", ""]
        lines += risk_table(b_algos)
        b_cand = b_algos.get(candidate)
        if isinstance(b_cand, dict) and "vs" in b_cand:
            lines += ["", *paired_table(b_cand["vs"], candidate)]
    lines += ["", "## Settings", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta.items()]
    lines += ["", "## Child-order tactics", ""]
    lines += [f"- **{k}**: {v}" for k, v in tactics.items()]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plots(out: Path, by_algo: dict[str, list[EpisodeResult]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(by_algo)
    files = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.boxplot([[r.is_bps for r in by_algo[n]] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("implementation shortfall (bps, + = cost)")
    ax.set_title("IS distribution per algorithm (same episodes)")
    fig.tight_layout()
    fig.savefig(out / "is_distribution.png", dpi=110)
    plt.close(fig)
    files.append("is_distribution.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n in names:
        paths = [r.remaining_path for r in by_algo[n] if len(r.remaining_path) > 1]
        if not paths:
            continue
        grid = np.linspace(0, 1, 51)
        curves = [np.interp(grid, np.linspace(0, 1, len(p)), p) for p in paths]
        ax.plot(grid, np.mean(curves, axis=0), label=n)
    ax.plot([0, 1], [1, 0], "k--", lw=0.8, label="even schedule")
    ax.set_xlabel("fraction of horizon")
    ax.set_ylabel("fraction of parent remaining")
    ax.set_title("Average inventory trajectory")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "inventory.png", dpi=110)
    plt.close(fig)
    files.append("inventory.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n in names:
        hours = np.array([r.start_ns / 3.6e12 for r in by_algo[n]])
        values = np.array([r.is_bps for r in by_algo[n]])
        buckets = np.floor(hours * 2) / 2
        xs = sorted(set(buckets.tolist()))
        ax.plot(xs, [values[buckets == x].mean() for x in xs], marker="o", label=n)
    ax.set_xlabel("episode start (hour of day, 30-min buckets)")
    ax.set_ylabel("mean IS (bps)")
    ax.set_title("IS by time of day")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "is_by_time.png", dpi=110)
    plt.close(fig)
    files.append("is_by_time.png")
    return files


def sensitivity_markdown(sensitivity: Mapping[str, Any], candidate: str) -> str:
    """Per row: each algorithm's mean IS, and the candidate against each baseline."""
    rows: Mapping[str, Any] = sensitivity["rows"]
    names = list(next(iter(rows.values()))["algos"]) if rows else []
    baselines = [n for n in names if n != candidate]
    lines = [
        "# Sensitivity of the comparison to the simulator's assumptions",
        "",
        "The same episodes in every row. Mean IS in bps (+ = cost); below, "
        f"{candidate} − baseline: mean difference [bootstrap 95 % CI], Wilcoxon p.",
        "",
        "| row | what changes | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for row, doc in rows.items():
        algos = doc["algos"]
        cells = " | ".join(f"{algos[n]['mean_is_bps']:.2f}" for n in names)
        lines.append(f"| {row} | {doc['meta'].get('row_description', '')} | {cells} |")
    if baselines and all(candidate in doc["algos"] for doc in rows.values()):
        lines += ["", "| row | " + " | ".join(f"{candidate} vs {b}" for b in baselines) + " |",
                  "|---|" + "---:|" * len(baselines)]  # fmt: skip
        for row, doc in rows.items():
            vs = doc["algos"][candidate]["vs"]
            cells = " | ".join(
                f"{vs[b]['mean_diff_bps']:+.2f} {fmt_ci(vs[b]['mean_diff_ci95'])}, "
                f"p {fmt_p(vs[b]['wilcoxon_p'])}"
                for b in baselines
            )
            lines.append(f"| {row} | {cells} |")
    skipped = sensitivity.get("skipped", {})
    if skipped:
        lines += ["", "Rows not run: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    return "\n".join(lines) + "\n"
