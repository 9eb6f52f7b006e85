"""Paired statistics, risk measures, buckets and the report files, on results whose answers are known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.models.evaluation import (
    Bootstrap,
    EpisodeResult,
    bootstrap_ci,
    cvar,
    paired,
    results_document,
    summarise,
)
from rlexec.models.report import write_outputs


def result(
    algo: str, episode: int, is_bps: float, participation: float | None = None
) -> EpisodeResult:
    return EpisodeResult(
        algo=algo, episode=episode, side=1, quantity=1000, start_ns=(10 + episode % 6) * 3_600 * 10**9,
        horizon_s=600.0, arrival_mid=100.0, filled=1000, avg_price=100.0 * (1 + is_bps / 1e4),
        is_bps=is_bps, impact_bps=is_bps / 2, forced_qty=100 if episode % 2 else 0,
        remaining_path=[1.0, 0.5, 0.0], participation=participation,
    )  # fmt: skip


def test_paired_comparison_of_a_uniformly_cheaper_algo() -> None:
    base = [result("twap", e, 10.0 + e % 5) for e in range(40)]
    rl = [result("rl", e, 8.0 + e % 5 - (e % 3) * 0.1) for e in range(40)]
    c = paired(rl, base)
    assert c["n"] == 40
    assert c["win_rate"] == 1.0
    diff = c["mean_diff_bps"]
    assert isinstance(diff, float)
    assert diff == pytest.approx(sum(-2.0 - (e % 3) * 0.1 for e in range(40)) / 40, abs=1e-4)
    p, frac, ci = c["wilcoxon_p"], c["improvement_frac_of_baseline_cost"], c["mean_diff_ci95"]
    assert isinstance(p, float) and p < 1e-6
    assert isinstance(frac, float) and frac == pytest.approx(-diff / 12.0, abs=1e-3)
    # Every difference lies in [-2.2, -2.0], so every resampled mean does too.
    assert isinstance(ci, list) and -2.2 - 1e-9 <= ci[0] <= diff <= ci[1] <= -2.0 + 1e-9


def test_no_difference_is_not_significant() -> None:
    base = [result("twap", e, float(e % 7)) for e in range(30)]
    same = [result("rl", e, float(e % 7) + (0.5 if e % 2 else -0.5)) for e in range(30)]
    c = paired(same, base)
    p, ci = c["wilcoxon_p"], c["mean_diff_ci95"]
    assert c["win_rate"] == 0.5 and isinstance(p, float) and p > 0.5
    assert isinstance(ci, list) and ci[0] < 0 < ci[1]


def test_undefined_statistics_are_none_not_nan() -> None:
    """A costless baseline has no 'fraction of its cost'; nine episodes make no Wilcoxon test,
    one episode no confidence interval."""
    base = [result("twap", e, -1.0 - e) for e in range(9)]
    rl = [result("rl", e, -2.0 - e) for e in range(9)]
    c = paired(rl, base)
    assert c["improvement_frac_of_baseline_cost"] is None
    assert c["wilcoxon_p"] is None
    assert c["win_rate"] == 1.0
    single = paired(rl[:1], base[:1])
    assert single["mean_diff_ci95"] is None and single["risk_adjusted_diff_ci95"] is None


def test_bootstrap_ci_is_the_direct_percentile_computation() -> None:
    """Same seed, same resample indices: the 2.5th and 97.5th percentiles of the resampled
    means, computed by hand, and the interval contains the sample mean."""
    rng = np.random.default_rng(3)
    diff = rng.standard_t(3, 57) * 4 - 0.7
    boot = Bootstrap(resamples=2_500, seed=99)
    got = bootstrap_ci((diff,), lambda x, axis=-1: np.mean(x, axis=axis), boot)

    idx = np.random.default_rng(99).integers(0, len(diff), (2_500, len(diff)))
    means = sorted(float(sum(diff[i] for i in row)) / len(row) for row in idx)

    def percentile(q: float) -> float:  # linear interpolation between order statistics
        pos = q * (len(means) - 1)
        lo = math.floor(pos)
        return means[lo] + (pos - lo) * (means[min(lo + 1, len(means) - 1)] - means[lo])

    assert got is not None
    assert got[0] == pytest.approx(percentile(0.025), abs=1e-4)
    assert got[1] == pytest.approx(percentile(0.975), abs=1e-4)
    assert got[0] < diff.mean() < got[1]


def test_paired_bootstrap_resamples_episodes_not_algorithms() -> None:
    """The risk-adjusted difference's CI resamples whole episodes: with identical results for
    both algorithms every resample gives exactly zero."""
    base = [result("twap", e, float((e * 7) % 11)) for e in range(25)]
    twin = [result("rl", e, float((e * 7) % 11)) for e in range(25)]
    c = paired(twin, base)
    assert c["risk_adjusted_diff_ci95"] == [0.0, 0.0] and c["mean_diff_ci95"] == [0.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=300))
def test_cvar95_is_the_mean_of_the_worst_five_percent(values: list[float]) -> None:
    worst_first = sorted(values, reverse=True)
    k = max(1, math.ceil(0.05 * len(values) - 1e-9))
    assert cvar(values) == pytest.approx(sum(worst_first[:k]) / k, rel=1e-12, abs=1e-9)
    assert cvar(values) >= np.mean(values) - 1e-9


def test_cvar95_on_a_known_sample() -> None:
    values = list(range(1, 101))  # the worst 5 % of 1..100 are 96..100
    assert cvar(values) == 98.0
    assert cvar(values[:19]) == 19.0  # fewer than 20 values: the single worst


def test_summary_and_outputs(tmp_path: Path) -> None:
    by_algo = {
        "twap": [result("twap", e, 10.0 + e % 3) for e in range(12)],
        "rl": [result("rl", e, 9.0 + e % 3) for e in range(12)],
    }
    s = summarise(by_algo["twap"], risk_aversion=0.5)
    assert (s.n, s.mean_is_bps, s.median_is_bps, s.mean_forced_frac) == (12, 11.0, 11.0, 0.05)
    var = np.var([10.0 + e % 3 for e in range(12)], ddof=1)
    assert s.risk_adjusted_bps == pytest.approx(11.0 + 0.5 * var, abs=1e-4)
    assert s.std_is_bps == pytest.approx(math.sqrt(var), abs=1e-4)
    assert s.cvar95_is_bps == 12.0
    doc = write_outputs(tmp_path, by_algo, {"data": "test"}, {"twap": "t", "rl": "r"})
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(doc))
    assert saved["algos"]["rl"]["vs"]["twap"]["win_rate"] == 1.0
    for name in (
        "report.md",
        "is_distribution.png",
        "inventory.png",
        "is_by_time.png",
        "episodes.json",
    ):
        assert (tmp_path / name).stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    first_table = report[report.index("|") :].split("\n\n")[0]
    assert first_table.splitlines()[0] == (
        "| algo | IS (bps) | market-impact cost (bps) | timing risk (std IS, bps) |"
    )
    assert "| twap | 11.00 | 5.50 |" in first_table
    assert "| rl | 12 |" in report


def test_results_are_reported_per_size_bucket() -> None:
    edges = (0.05, 0.10, 0.20, 0.30)
    parts = [0.06, 0.12, 0.25, 0.29, 0.15, 0.07, 0.30, 0.05]  # 0.30 closes the last bucket
    by_algo = {
        "twap": [result("twap", e, 10.0 + e, p) for e, p in enumerate(parts)],
        "rl": [result("rl", e, 10.0 + e - (3.0 if p >= 0.2 else 0.0), p) for e, p in enumerate(parts)],
    }  # fmt: skip
    doc = results_document(by_algo, {}, bucket_edges=edges)
    buckets = doc["buckets"]
    assert isinstance(buckets, dict)
    assert list(buckets) == ["5–10 %", "10–20 %", "20–30 %"]
    n = {k: v["algos"]["twap"]["n"] for k, v in buckets.items()}
    assert n == {"5–10 %": 3, "10–20 %": 2, "20–30 %": 3}
    large = buckets["20–30 %"]["algos"]
    assert large["twap"]["mean_is_bps"] == pytest.approx(np.mean([12.0, 13.0, 16.0]), abs=1e-4)
    assert large["rl"]["vs"]["twap"]["mean_diff_bps"] == -3.0
    assert buckets["5–10 %"]["algos"]["rl"]["vs"]["twap"]["mean_diff_bps"] == 0.0
    meta = doc["meta"]
    assert isinstance(meta, dict) and meta["size_bucket_edges"] == list(edges)


def test_model_card_renders_every_split_and_the_targets(tmp_path: Path) -> None:
    from rlexec.models.ship import card

    parts = [0.06, 0.12, 0.25] * 4
    by_algo = {
        "twap": [result("twap", e, -1.0 + e % 3, parts[e]) for e in range(12)],
        "rl": [result("rl", e, -2.0 + e % 3, parts[e]) for e in range(12)],
    }
    splits = {}
    for name in ("time_split", "ticker_split"):
        doc = write_outputs(tmp_path / name, by_algo, {"symbol": "AAPL", "test_window": "13:00-15:55",
                                                       "episodes": 12, "seed": 1,
                                                       "policy_fallbacks": {"rl": 3}},
                            {"twap": "t", "rl": "r"}, bucket_edges=(0.05, 0.10, 0.20, 0.30))  # fmt: skip
        plain = json.loads(json.dumps(doc))
        splits[name] = {"doc": plain, "sensitivity": {"rows": {"default": plain}, "skipped": {}}}
    record = {
        "settings": {"data": "/x/AAPL_day.csv.gz", "window": "09:35-13:00", "algorithm": "ppo",
                     "seed": 7, "timesteps": 1000, "sizes": "large", "risk_aversion": 0.01},
        "versions": {"stable_baselines3": "2", "torch": "2.13.0"},
        "symbol": "AAPL", "episodes": 10, "train_seconds": 60.0,
        "distribution": {"name": "large", "participation": [0.05, 0.3],
                         "horizons_s": [600.0, 3600.0]},
    }  # fmt: skip
    protocol = {"plan": "evaluation_plan.json", "plan_sha256": "ab" * 32, "log": "log.jsonl",
                "test_runs": 4, "evaluated_model_sha256": "cd" * 32, "make_model_seconds": 90.0,
                "planned_timesteps": 900_000, "planned_episodes": 600,
                "train_minutes": [1.0, 1.25], "evaluation_minutes": 1.5, "trained_here": False,
                "tasks_ran": "on a local Ray"}  # fmt: skip
    text = card(record, splits, "usage line", protocol)
    assert text.count("| rl | -1.00 | -0.50 | 0.85 |") == 2  # seed's table, once per split
    assert "n/a (baseline mean IS ≤ 0)" in text  # TWAP's mean IS is negative here
    assert "usage line" in text and "at 3 decisions" in text
    assert "**4**" in text
    assert (
        "training 1.0 min and 1.2 min (the signal arm) (trained before `--skip-train`), then "
        "export, the evaluation of every split and this card 1.5 min (tasks on a local Ray"
    ) in text
    assert "not the plan's" in text  # 1,000 steps is not the planned 900,000
    # Ten non-zero differences of -1: RL below TWAP with p < 0.01 in the one row.
    assert "below every baseline's with p < 0.01 in every one of the 1" in text
    assert (
        "largest bucket (20–30 %): TWAP costs 1.00 bps (target ≥ 3: not met), RL 0.00 bps "
        "(100% below TWAP; target ≥ 25 % below: met)" in text
    )
