"""Large-order episodes, the horizon's market order, and `rlexec backtest --sensitivity` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.models.algos import ScheduleAlgo
from rlexec.models.episodes import SIZES, EpisodeSpec, bucket_label, draw_many
from rlexec.models.evaluation import AlgoSummary
from rlexec.models.market_stats import Window, estimate
from rlexec.models.port import New
from rlexec.models.protocol import load_plan
from rlexec.models.runner import replay_config, run_episode, start_execution
from rlexec.models.sensitivity import ROW_NAMES
from rlexec.simulator.config import ImpactConfig
from rlexec.simulator.data import ReplayData

TRAIN = Window.parse("09:35-13:00")


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


def test_large_orders_are_5_to_30_percent_over_10_to_60_minutes_in_equal_buckets(
    aapl: ReplayData,
) -> None:
    stats = estimate(aapl, TRAIN, bucket_s=1800)
    dist = SIZES["large"]
    specs = draw_many(600, 4, Window.parse("13:00-15:55"), stats, dist)
    end = Window.parse("13:00-15:55").end_ns
    labels = [bucket_label(s.participation, dist.bucket_edges) for s in specs]
    counts = {label: labels.count(label) for label in set(labels)}
    assert set(counts) == {"5–10 %", "10–20 %", "20–30 %"}
    assert all(170 <= c <= 230 for c in counts.values()), counts  # 200 each, ± sampling
    assert {s.horizon_s for s in specs} == {600.0, 1200.0, 1800.0, 2400.0, 3000.0, 3600.0}
    for s in specs:
        assert s.participation is not None
        expected = s.participation * stats.volume_per_s * s.horizon_s  # calibration window only
        assert expected - 100 < s.quantity <= expected
        assert s.start_ns + s.horizon_s * 1e9 <= end


def test_small_orders_are_drawn_as_before(aapl: ReplayData) -> None:
    """Old seeds keep their episodes: the same generator calls in the same order."""
    stats = estimate(aapl, TRAIN, bucket_s=1800)
    window = Window.parse("13:00-15:55")
    rng = np.random.default_rng(101)
    for spec in draw_many(50, 101, window, stats, SIZES["small"]):
        horizon = float(rng.choice((300.0, 600.0, 900.0, 1200.0)))
        start = int(rng.integers(window.start_ns, window.end_ns - round(horizon * 1e9)))
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        rate = float(rng.uniform(0.02, 0.15))
        quantity = max(100, int(rate * stats.volume_per_s * horizon // 100) * 100)
        assert (spec.start_ns, spec.side, spec.quantity, spec.horizon_s) == (
            start, side, quantity, horizon,
        )  # fmt: skip


def test_every_planned_window_is_long_enough_for_its_horizons() -> None:
    plan = load_plan()
    dist = SIZES[plan.sizes]
    for split in (*plan.test.values(), plan.validation):
        dist.check_window(Window.parse(split.window))
    dist.check_window(Window.parse(plan.training["window"]))
    with pytest.raises(ValueError, match="too short for the 60-minute horizons"):
        dist.check_window(Window.parse("12:20-13:00"))  # the last 40 minutes would not do


def forced_fills(spec: EpisodeSpec, aapl: ReplayData, impact: bool) -> tuple[float, int]:
    """(average price of what the horizon's market order took, best ask just before it)."""
    linear = ImpactConfig(enabled=True, model="linear")
    config = replay_config().model_copy(update={"impact": linear}) if impact else replay_config()
    ex = start_execution(aapl, spec, config)
    # Take 3,000 shares at market at the start: with impact on, that moves the market for good.
    ex.execute([New(3_000, None, TimeInForce.IOC, OrderType.MARKET)])
    assert ex.state.filled == 3_000
    ex.advance_to(ex.state.start_ns + round(spec.horizon_s * 1e9))
    ask = ex.book.best_ask
    assert ask is not None
    filled, notional = ex.state.filled, ex.state.notional
    ex.complete()
    assert ex.remaining == 0 and ex.forced_qty == ex.state.filled - filled
    return (ex.state.notional - notional) / ex.forced_qty, ask


def test_the_horizons_market_order_walks_the_book_and_pays_the_impact(aapl: ReplayData) -> None:
    """What is left at the horizon is charged at the prices its sweep walks through (far past
    the touch for a large remainder), in a market our own earlier trading has moved."""
    spec = EpisodeSpec(0, TRAIN.start_ns + 7200 * 10**9, Side.BUY, 30_000, 120.0, 15.0)
    plain_avg, plain_ask = forced_fills(spec, aapl, impact=False)
    tick = 100
    assert plain_avg > plain_ask + 20 * tick  # ~27,000 shares: dozens of levels, not one price
    impacted_avg, impacted_ask = forced_fills(spec, aapl, impact=True)
    assert impacted_ask > plain_ask  # the earlier take moved the market (permanent impact)
    assert impacted_avg > plain_avg


def test_a_large_parent_completes_even_when_most_is_left_to_the_horizon(aapl: ReplayData) -> None:
    """30 % of an hour's volume, TWAP: the catch-ups leave a remainder that runs past the
    simulator's default 20 synthetic levels; the horizon's sweep still completes it."""
    stats = estimate(aapl, TRAIN, bucket_s=1800)
    q = int(0.3 * stats.volume_per_s * 3600 // 100 * 100)
    spec = EpisodeSpec(0, Window.parse("11:30-12:30").start_ns, Side.SELL, q, 3600.0, 15.0, 0.3)
    r = run_episode(aapl, spec, ScheduleAlgo("twap"))
    assert r.filled == q and r.forced_qty > 20 * 250  # more than the default depth could hold
    assert r.participation == 0.3


SUMMARY_KEYS = set(AlgoSummary.__slots__)
PAIRED_KEYS = {
    "n", "mean_diff_bps", "mean_diff_ci95", "median_diff_bps", "win_rate", "wilcoxon_p",
    "improvement_frac_of_baseline_cost", "risk_adjusted_diff_bps", "risk_adjusted_diff_ci95",
}  # fmt: skip


def test_sensitivity_end_to_end_writes_every_row_and_statistic(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlexec.cli.main import main

    amzn = data_dir / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"
    out = tmp_path / "bt"
    code = main(["backtest", "--data", str(amzn), "--window", "13:00-15:55", "--stats-window",
                 "13:00-15:55", "--algos", "twap,rl", "--episodes", "12", "--seed", "5",
                 "--sensitivity", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    sens = json.loads((out / "sensitivity.json").read_text())
    # Every standard row; AMZN has a level-5 file beside it.
    assert list(sens["rows"]) == list(ROW_NAMES)
    assert sens["skipped"] == {}
    default = json.loads((out / "results.json").read_text())
    assert sens["rows"]["default"] == default
    for name, doc in sens["rows"].items():
        assert doc["meta"]["row"] == name and doc["meta"]["risk_aversion_per_bps"] == 0.01
        for algo in ("twap", "rl"):
            summary = doc["algos"][algo]
            assert set(summary) >= SUMMARY_KEYS and summary["n"] == 12
        assert set(doc["algos"]["rl"]["vs"]["twap"]) == PAIRED_KEYS
        assert sum(b["algos"]["twap"]["n"] for b in doc["buckets"].values()) == 12
    real = sens["rows"]["real_depth"]["meta"]
    assert real["replay_data"].endswith("message_5.csv.gz")
    assert sens["rows"]["no_hidden_fills"]["meta"]["replay_config"]["hidden_fills"] is False
    base = sens["rows"]["default"]["meta"]["replay_config"]
    assert (base["passive_fill_model"], base["unknown_queue"]) == ("consume", "by_id")
    assert base["impact"]["enabled"] and base["impact"]["model"] == "sqrt"
    x2 = sens["rows"]["impact_x2"]["meta"]["replay_config"]["impact"]
    assert x2["scale"] == pytest.approx(2 * base["impact"]["scale"])
    other = sens["rows"]["other_fill_mode"]["meta"]["replay_config"]
    assert other["passive_fill_model"] == "overlay"
    # The rows differ (the assumptions matter), on the same episodes.
    means = {n: d["algos"]["twap"]["mean_is_bps"] for n, d in sens["rows"].items()}
    assert len(set(means.values())) > 1
    episodes = json.loads((out / "episodes.json").read_text())
    assert len({(e["episode"], e["quantity"], e["start_ns"]) for e in episodes}) == 12
    md = (out / "sensitivity.md").read_text()
    for row in sens["rows"]:
        assert f"| {row} |" in md


def test_every_row_sweeps_deep_enough_whatever_the_base(data_dir: Path) -> None:
    from rlexec.models.backtest_tasks import load_data
    from rlexec.models.runner import SWEEP_LEVELS
    from rlexec.models.sensitivity import deep_sweeps, standard_rows
    from rlexec.simulator.config import DepthConfig, ReplayConfig

    shallow = ReplayConfig(market_data=True, hidden_fills=False, depth=DepthConfig(gap_ticks=3))
    deep = deep_sweeps(shallow)
    assert deep.depth.max_levels == SWEEP_LEVELS and deep.depth.gap_ticks == 3
    assert deep.model_copy(update={"depth": shallow.depth}) == shallow  # nothing else changed
    path = str(data_dir / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz")
    rows = standard_rows(path, load_data(path), "09:35-13:00", load_data)
    assert [r.name for r in rows] == list(ROW_NAMES)
    assert all(r.config.depth.max_levels >= SWEEP_LEVELS for r in rows)
