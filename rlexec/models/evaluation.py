"""Turn per-episode results into the numbers a claim of better execution rests on.

Every algorithm runs the same episodes, so comparisons are paired: per episode, RL's
shortfall minus the baseline's, summarised by the mean difference with a bootstrap 95 %
confidence interval (episodes resampled, fixed seed), the win rate and a Wilcoxon
signed-rank test. Per algorithm: mean / median / std IS (std = timing risk), CVaR95 (mean
of the worst 5 %), market-impact cost, forced fraction and the risk-adjusted objective
mean + λ·variance (`objective.py`). Everything again per size bucket. Needs scipy (the
`train` extra).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from rlexec.models.episodes import bucket_label
from rlexec.models.objective import RISK_AVERSION, risk_adjusted

FloatArray = npt.NDArray[np.float64]


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
    """Market-impact cost: against the mid prevailing at each decision (spread paid + impact),
    qty-weighted."""
    forced_qty: int = 0
    """Quantity completed aggressively at the horizon."""
    remaining_path: list[float] = field(default_factory=list)
    """Fraction of the parent still to do at each decision step (starting at 1)."""
    participation: float | None = None
    """The parent's share of the expected volume over its horizon (its size bucket)."""


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Percentile bootstrap over episodes (paired: one resample index picks both algos')."""

    resamples: int = 4_000
    seed: int = 20_251_129
    confidence: float = 0.95
    method: str = "percentile"
    max_batch_values: int = 2_000_000
    """Resamples are drawn in batches of at most this many indices (memory); a sample small
    enough for one batch gives exactly `rng.integers(0, n, (resamples, n))`."""

    def batch(self, n: int) -> int:
        return max(1, min(self.resamples, self.max_batch_values // max(1, n)))


@dataclass(frozen=True, slots=True)
class AlgoSummary:
    n: int
    mean_is_bps: float
    median_is_bps: float
    std_is_bps: float
    """Timing risk."""
    cvar95_is_bps: float
    mean_impact_bps: float
    mean_forced_frac: float
    risk_adjusted_bps: float
    """mean IS + λ·variance of IS."""


def cvar(values: Sequence[float] | FloatArray, level: float = 0.95) -> float:
    """Mean of the worst (largest-cost) ceil((1 − level)·n) values."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if not len(x):
        raise ValueError("CVaR of no values")
    k = max(1, math.ceil(round((1 - level) * len(x), 9)))
    return float(x[-k:].mean())


def summarise(
    results: Sequence[EpisodeResult], risk_aversion: float = RISK_AVERSION
) -> AlgoSummary:
    is_bps = np.array([r.is_bps for r in results], dtype=np.float64)
    impact = np.array([r.impact_bps for r in results], dtype=np.float64)
    forced = np.array([r.forced_qty / r.quantity for r in results], dtype=np.float64)
    var = float(is_bps.var(ddof=1)) if len(is_bps) > 1 else 0.0
    return AlgoSummary(
        n=len(results),
        mean_is_bps=_r(is_bps.mean()),
        median_is_bps=_r(np.median(is_bps)),
        std_is_bps=_r(math.sqrt(var)),
        cvar95_is_bps=_r(cvar(is_bps)),
        mean_impact_bps=_r(impact.mean()),
        mean_forced_frac=_r(forced.mean()),
        risk_adjusted_bps=_r(risk_adjusted(float(is_bps.mean()), var, risk_aversion)),
    )


def bootstrap_ci(
    data: tuple[FloatArray, ...],
    statistic: object,
    settings: Bootstrap,
    paired: bool = False,
) -> tuple[float, float] | None:
    """Percentile CI of `statistic` over resampled episodes; None with fewer than 2 episodes."""
    from scipy.stats import bootstrap

    n = len(data[0])
    if n < 2:
        return None
    res = bootstrap(
        data, statistic, n_resamples=settings.resamples, confidence_level=settings.confidence,
        method=settings.method, paired=paired, vectorized=True, batch=settings.batch(n),
        rng=np.random.default_rng(settings.seed),
    )  # fmt: skip
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return _r(lo), _r(hi)


def paired(
    candidate: Sequence[EpisodeResult],
    baseline: Sequence[EpisodeResult],
    risk_aversion: float = RISK_AVERSION,
    boot: Bootstrap | None = None,
) -> dict[str, object]:
    """Candidate vs baseline on the same episodes: negative mean_diff = candidate cheaper.

    `wilcoxon_p` is None with fewer than 10 non-zero differences, a CI None with fewer than
    2 episodes, and the improvement as a fraction of the baseline's
    cost None when the baseline has no cost (mean IS ≤ 0). The risk-adjusted difference is
    (mean + λ·var) of the candidate minus the baseline's, its CI from the same resamples.
    """
    from scipy.stats import wilcoxon

    settings = boot or Bootstrap()
    a = {r.episode: r.is_bps for r in candidate}
    b = {r.episode: r.is_bps for r in baseline}
    common = sorted(a.keys() & b.keys())
    if not common:
        raise ValueError("no common episodes to compare")
    xa = np.array([a[e] for e in common], dtype=np.float64)
    xb = np.array([b[e] for e in common], dtype=np.float64)
    diff = xa - xb
    nonzero = diff[diff != 0]
    p = float(f"{wilcoxon(nonzero).pvalue:.3g}") if len(nonzero) >= 10 else None
    base_mean = float(xb.mean())
    frac = _r(-diff.mean() / base_mean) if base_mean > 0 else None
    lam = risk_aversion

    def mean(x: FloatArray, axis: int = -1) -> FloatArray:
        return np.asarray(np.mean(x, axis=axis))

    def objective_diff(x: FloatArray, y: FloatArray, axis: int = -1) -> FloatArray:
        return np.asarray(
            x.mean(axis=axis)
            - y.mean(axis=axis)
            + lam * (x.var(axis=axis, ddof=1) - y.var(axis=axis, ddof=1))
        )

    ra = objective_diff(xa, xb) if len(common) > 1 else diff.mean()
    return {
        "n": len(common),
        "mean_diff_bps": _r(diff.mean()),
        "mean_diff_ci95": _ci(bootstrap_ci((diff,), mean, settings)),
        "median_diff_bps": _r(np.median(diff)),
        "win_rate": _r(float((diff < 0).mean())),
        "wilcoxon_p": p,
        "improvement_frac_of_baseline_cost": frac,
        "risk_adjusted_diff_bps": _r(float(ra)),
        "risk_adjusted_diff_ci95": _ci(
            bootstrap_ci((xa, xb), objective_diff, settings, paired=True)
        ),
    }


def _ci(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [ci[0], ci[1]]


def fmt_p(p: float | None) -> str:
    return "n/a (< 10 non-zero differences)" if p is None else f"{p:.3g}"


def fmt_frac(frac: float | None) -> str:
    return "n/a (baseline mean IS ≤ 0)" if frac is None else f"{frac:+.1%}"


def fmt_ci(ci: Sequence[float] | None) -> str:
    return "n/a" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _r(x: float | np.floating) -> float:
    return round(float(x), 4)


def _algos_block(
    by_algo: dict[str, list[EpisodeResult]],
    candidate: str,
    risk_aversion: float,
    boot: Bootstrap,
) -> dict[str, object]:
    algos: dict[str, object] = {}
    for name, results in by_algo.items():
        entry: dict[str, object] = asdict(summarise(results, risk_aversion))
        if name == candidate:
            entry["vs"] = {
                other: paired(results, base, risk_aversion, boot)
                for other, base in by_algo.items()
                if other != name
            }
        algos[name] = entry
    return algos


def results_document(
    by_algo: dict[str, list[EpisodeResult]],
    meta: dict[str, object],
    candidate: str = "rl",
    risk_aversion: float = RISK_AVERSION,
    bucket_edges: tuple[float, ...] | None = None,
    boot: Bootstrap | None = None,
) -> dict[str, object]:
    """{"meta", "algos": {name: summary (+ "vs" for the candidate)}, "buckets": {label: {"algos"}}}.

    The statistics' settings (λ, bootstrap, bucket edges) are recorded in meta."""
    settings = boot or Bootstrap()
    meta = {
        **meta,
        "risk_aversion_per_bps": risk_aversion,
        "bootstrap": asdict(settings),
        "cvar_level": 0.95,
    }
    doc: dict[str, object] = {
        "meta": meta,
        "algos": _algos_block(by_algo, candidate, risk_aversion, settings),
    }
    buckets: dict[str, object] = {}
    if bucket_edges:
        meta["size_bucket_edges"] = list(bucket_edges)
        for label in _labels(bucket_edges):
            part = {
                name: [r for r in rs if bucket_label(r.participation, bucket_edges) == label]
                for name, rs in by_algo.items()
            }
            if all(part.values()) and part:
                buckets[label] = {"algos": _algos_block(part, candidate, risk_aversion, settings)}
    doc["buckets"] = buckets
    return doc


def _labels(edges: tuple[float, ...]) -> list[str]:
    out = []
    for lo in edges[:-1]:
        label = bucket_label(lo, edges)
        assert label is not None
        out.append(label)
    return out
