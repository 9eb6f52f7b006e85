"""Turn per-episode results into the numbers and report a claim of better execution rests on.

Every algorithm runs the same episodes, so comparisons are paired: per episode, RL's
shortfall minus the baseline's, summarised by mean difference, win rate and a Wilcoxon
signed-rank test. Needs scipy and matplotlib (the `train` extra).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass(slots=True)
class EpisodeResult:
    """One parent order worked by one algorithm."""

    algo: str
    episode: int
    side: int
    quantity: int
    start_ns: int
    horizon_s: float
    arrival_mid: float
    filled: int
    avg_price: float
    is_bps: float
    """Implementation shortfall, bps of arrival mid, positive = cost."""
    impact_bps: float
    """Cost against the mid prevailing at each fill (spread paid + impact), qty-weighted."""
    forced_qty: int = 0
    """Quantity completed aggressively at the horizon."""
    remaining_path: list[float] = field(default_factory=list)
    """Fraction of the parent still to do at each decision step (starting at 1)."""


@dataclass(frozen=True, slots=True)
class AlgoSummary:
    n: int
    mean_is_bps: float
    median_is_bps: float
    std_is_bps: float
    mean_impact_bps: float
    mean_forced_frac: float


def summarise(results: Sequence[EpisodeResult]) -> AlgoSummary:
    is_bps = np.array([r.is_bps for r in results], dtype=np.float64)
    impact = np.array([r.impact_bps for r in results], dtype=np.float64)
    forced = np.array([r.forced_qty / r.quantity for r in results], dtype=np.float64)
    return AlgoSummary(
        n=len(results),
        mean_is_bps=_r(is_bps.mean()),
        median_is_bps=_r(np.median(is_bps)),
        std_is_bps=_r(is_bps.std(ddof=1)) if len(is_bps) > 1 else 0.0,
        mean_impact_bps=_r(impact.mean()),
        mean_forced_frac=_r(forced.mean()),
    )


def paired(
    candidate: Sequence[EpisodeResult], baseline: Sequence[EpisodeResult]
) -> dict[str, float | None]:
    """Candidate vs baseline on the same episodes: negative mean_diff = candidate cheaper.

    `wilcoxon_p` is None with fewer than 10 non-zero differences, and the improvement as a
    fraction of the baseline's cost is None when the baseline has no cost (mean IS ≤ 0).
    """
    from scipy.stats import wilcoxon

    a = {r.episode: r.is_bps for r in candidate}
    b = {r.episode: r.is_bps for r in baseline}
    common = sorted(a.keys() & b.keys())
    diff = np.array([a[e] - b[e] for e in common], dtype=np.float64)
    if not len(diff):
        raise ValueError("no common episodes to compare")
    nonzero = diff[diff != 0]
    p = float(f"{wilcoxon(nonzero).pvalue:.3g}") if len(nonzero) >= 10 else None
    base_mean = float(np.mean([b[e] for e in common]))
    frac = _r(-diff.mean() / base_mean) if base_mean > 0 else None
    return {
        "n": len(common),
        "mean_diff_bps": _r(diff.mean()),
        "median_diff_bps": _r(np.median(diff)),
        "win_rate": _r(float((diff < 0).mean())),
        "wilcoxon_p": p,
        "improvement_frac_of_baseline_cost": frac,
    }


def fmt_p(p: float | None) -> str:
    return "n/a (< 10 non-zero differences)" if p is None else f"{p:.3g}"


def fmt_frac(frac: float | None) -> str:
    return "n/a (baseline mean IS ≤ 0)" if frac is None else f"{frac:+.1%}"


def _r(x: float | np.floating) -> float:
    return round(float(x), 4)


def results_document(
    by_algo: dict[str, list[EpisodeResult]], meta: dict[str, object], candidate: str = "rl"
) -> dict[str, object]:
    doc: dict[str, object] = {"meta": meta, "algos": {}}
    algos: dict[str, object] = {}
    for name, results in by_algo.items():
        entry: dict[str, object] = asdict(summarise(results))
        if name == candidate:
            entry["vs"] = {
                other: paired(results, base) for other, base in by_algo.items() if other != name
            }
        algos[name] = entry
    doc["algos"] = algos
    return doc


def write_outputs(
    out: Path,
    by_algo: dict[str, list[EpisodeResult]],
    meta: dict[str, object],
    tactics: dict[str, str],
    candidate: str = "rl",
) -> dict[str, object]:
    """results.json, episodes.json, report.md and the three PNG plots."""
    out.mkdir(parents=True, exist_ok=True)
    doc = results_document(by_algo, meta, candidate)
    (out / "results.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
    episodes = [asdict(r) for results in by_algo.values() for r in results]
    (out / "episodes.json").write_text(json.dumps(episodes))
    plots = _plots(out, by_algo)
    (out / "report.md").write_text(_report(doc, tactics, plots, candidate))
    return doc


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


def _report(
    doc: dict[str, object], tactics: dict[str, str], plots: list[str], candidate: str
) -> str:
    algos = doc["algos"]
    assert isinstance(algos, dict)
    meta = doc["meta"]
    lines = ["# Backtest report", ""]
    if isinstance(meta, dict):
        lines += [f"- **{k}**: {v}" for k, v in meta.items()]
    lines += [
        "",
        "IS = implementation shortfall in bps of the arrival mid, positive = cost; impact = cost "
        "against the mid prevailing at each fill; timing risk = std of IS.",
        "",
        "| algo | n | mean IS | median IS | std IS (timing risk) | mean impact | forced at end |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in algos.items():
        lines.append(
            f"| {name} | {s['n']} | {s['mean_is_bps']:.2f} | {s['median_is_bps']:.2f} | "
            f"{s['std_is_bps']:.2f} | {s['mean_impact_bps']:.2f} | {s['mean_forced_frac']:.1%} |"
        )
    cand = algos.get(candidate)
    if isinstance(cand, dict) and "vs" in cand:
        lines += [
            "",
            f"## {candidate} against each baseline (paired, same episodes)",
            "",
            "| baseline | mean diff (bps) | win rate | Wilcoxon p | improvement (fraction of baseline cost) |",
            "|---|---:|---:|---:|---:|",
        ]
        for other, c in cand["vs"].items():
            lines.append(
                f"| {other} | {c['mean_diff_bps']:+.2f} | {c['win_rate']:.1%} | "
                f"{fmt_p(c['wilcoxon_p'])} | {fmt_frac(c['improvement_frac_of_baseline_cost'])} |"
            )
    lines += ["", "## Child-order tactics", ""]
    lines += [f"- **{k}**: {v}" for k, v in tactics.items()]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
