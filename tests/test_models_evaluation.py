"""Paired statistics and the report files, on results whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlexec.models.evaluation import EpisodeResult, paired, summarise, write_outputs


def result(algo: str, episode: int, is_bps: float) -> EpisodeResult:
    return EpisodeResult(
        algo=algo, episode=episode, side=1, quantity=1000, start_ns=(10 + episode % 6) * 3_600 * 10**9,
        horizon_s=600.0, arrival_mid=100.0, filled=1000, avg_price=100.0 * (1 + is_bps / 1e4),
        is_bps=is_bps, impact_bps=is_bps / 2, forced_qty=100 if episode % 2 else 0,
        remaining_path=[1.0, 0.5, 0.0],
    )  # fmt: skip


def test_paired_comparison_of_a_uniformly_cheaper_algo() -> None:
    base = [result("twap", e, 10.0 + e % 5) for e in range(40)]
    rl = [result("rl", e, 8.0 + e % 5 - (e % 3) * 0.1) for e in range(40)]
    c = paired(rl, base)
    assert c["n"] == 40
    assert c["win_rate"] == 1.0
    assert c["mean_diff_bps"] == pytest.approx(
        sum(-2.0 - (e % 3) * 0.1 for e in range(40)) / 40, abs=1e-4
    )
    p, frac, diff = c["wilcoxon_p"], c["improvement_frac_of_baseline_cost"], c["mean_diff_bps"]
    assert p is not None and p < 1e-6
    assert frac is not None and diff is not None
    assert frac == pytest.approx(-diff / 12.0, abs=1e-3)


def test_no_difference_is_not_significant() -> None:
    base = [result("twap", e, float(e % 7)) for e in range(30)]
    same = [result("rl", e, float(e % 7) + (0.5 if e % 2 else -0.5)) for e in range(30)]
    c = paired(same, base)
    p = c["wilcoxon_p"]
    assert c["win_rate"] == 0.5 and p is not None and p > 0.5


def test_undefined_statistics_are_none_not_nan() -> None:
    """A costless baseline has no 'fraction of its cost'; nine episodes make no Wilcoxon test."""
    base = [result("twap", e, -1.0 - e) for e in range(9)]
    rl = [result("rl", e, -2.0 - e) for e in range(9)]
    c = paired(rl, base)
    assert c["improvement_frac_of_baseline_cost"] is None
    assert c["wilcoxon_p"] is None
    assert c["win_rate"] == 1.0


def test_summary_and_outputs(tmp_path: Path) -> None:
    by_algo = {
        "twap": [result("twap", e, 10.0 + e % 3) for e in range(12)],
        "rl": [result("rl", e, 9.0 + e % 3) for e in range(12)],
    }
    s = summarise(by_algo["twap"])
    assert (s.n, s.mean_is_bps, s.median_is_bps, s.mean_forced_frac) == (12, 11.0, 11.0, 0.05)
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
    assert "| rl | 12 |" in (tmp_path / "report.md").read_text()


def test_model_card_renders_both_splits_from_results(tmp_path: Path) -> None:
    from rlexec.models.ship import card

    by_algo = {
        "twap": [result("twap", e, -1.0 + e % 3) for e in range(12)],
        "rl": [result("rl", e, -2.0 + e % 3) for e in range(12)],
    }
    splits = {}
    for name in ("time_split", "ticker_split"):
        doc = write_outputs(tmp_path / name, by_algo, {"symbol": "AAPL", "test_window": "13:00-15:55",
                                                       "episodes": 12, "seed": 1,
                                                       "policy_fallbacks": {"rl": 3}}, {"twap": "t", "rl": "r"})  # fmt: skip
        splits[name] = json.loads(json.dumps(doc))
    record = {
        "settings": {"data": "/x/AAPL_day.csv.gz", "window": "09:35-13:00", "algorithm": "ppo",
                     "seed": 7, "timesteps": 1000},
        "versions": {"stable_baselines3": "2", "torch": "2.13.0"},
        "symbol": "AAPL", "episodes": 10, "train_seconds": 60.0,
    }  # fmt: skip
    text = card(record, splits, "usage line")
    assert text.count("| rl | -1.00 |") == 2  # mean IS of rl, once per split
    assert "n/a (baseline mean IS ≤ 0)" in text  # TWAP's mean IS is negative here
    assert "usage line" in text and "at 3 decisions" in text
