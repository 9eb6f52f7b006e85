"""Calibrated models: the square-root impact law, the measured depth profile, the evaluation
presets, and a level-5 file through the replay and a backtest episode."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from rlexec.market.orders import Side
from rlexec.models.algos import ScheduleAlgo
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.runner import replay_config, run_episode
from rlexec.simulator.calibration import depth_profile, impact_inputs, main, parse_window
from rlexec.simulator.config import (
    AMZN_DEPTH_SIZES,
    AMZN_DEPTH_TICKS,
    DepthConfig,
    ImpactConfig,
    ReplayConfig,
)
from rlexec.simulator.data import ReplayData
from rlexec.simulator.impact import NEVER, SqrtImpactModel, make_impact
from rlexec.simulator.presets import evaluation_config, impact_sqrt
from rlexec.simulator.replay import MarketReplay, fills

BUY, SELL = Side.BUY, Side.SELL
TICK = 100
S = 10**9
TRAIN = (34_500 * S, 46_800 * S)
"""09:35–13:00, the training window the models use."""


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def amzn5(amzn5_message: Path) -> ReplayData:
    return ReplayData.load(amzn5_message)


# -- the square-root law ---------------------------------------------------------------------


def test_sqrt_model_moves_the_market_by_the_square_root_of_the_volume() -> None:
    model = SqrtImpactModel(0.5, permanent_fraction=2 / 3, half_life_s=60.0)
    assert model.on_taken(0, 400) == 10  # 0.5·√400
    assert model.on_taken(0, 1_200) == 20  # the metaorder's 1,600 shares: 0.5·√1600
    # the transient third decays (half-life 60 s), the permanent two thirds stay
    assert model.on_time(60 * S) == round(20 * 2 / 3 + 20 / 3 / 2)
    assert model.on_time(3_600 * S) == round(20 * 2 / 3)
    assert model.next_change_ns == NEVER
    # selling it all back: the permanent part is gone, the sale's own transient remains
    assert model.on_taken(3_600 * S, -1_600) == round(-20 / 3)
    assert model.on_time(7_200 * S) == 0
    with pytest.raises(ValueError, match="permanent fraction"):
        SqrtImpactModel(0.5, permanent_fraction=1.5, half_life_s=60.0)


def test_sqrt_model_changes_offset_exactly_when_it_says() -> None:
    model = SqrtImpactModel(1.0, permanent_fraction=0.5, half_life_s=10.0)
    model.on_taken(0, 10_000)  # 50 permanent + 50 transient = 100 ticks
    t = model.next_change_ns
    assert model.on_time(t - 2) == 100
    assert model.on_time(t) == 99


def test_impact_inputs_come_from_the_window_alone(aapl: ReplayData) -> None:
    inputs = impact_inputs(aapl, TRAIN)
    assert inputs == impact_inputs(aapl, TRAIN) == impact_inputs(aapl, "09:35-13:00")
    # AAPL 2012-06-21: about 1 % a day and 2.5 M Nasdaq shares a day, at ~$585
    assert 0.005 < inputs.daily_sigma < 0.02
    assert 1e6 < inputs.daily_volume < 5e6
    assert 5_700_000 < inputs.reference_price < 5_950_000
    later = copy.copy(aapl)
    after = aapl.row_after(TRAIN[1])
    later.size = aapl.size[:after] + [s * 3 for s in aapl.size[after:]]
    later.book = aapl.book[: after * 4] + [0] * (len(aapl.book) - after * 4)
    assert impact_inputs(later, TRAIN) == inputs


def test_sqrt_without_calibration_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="daily_sigma, daily_volume, reference_price"):
        ImpactConfig(enabled=True, model="sqrt")
    with pytest.raises(ValidationError, match="scale"):
        ImpactConfig(scale=-1)


def _buy_in_children(aapl: ReplayData, impact: ImpactConfig, qty: int, children: int) -> float:
    """Notional paid for `qty` shares bought at market in back-to-back children (synthetic
    depth deep enough for all of them)."""
    cfg = ReplayConfig(impact=impact, depth=DepthConfig(max_levels=500))
    replay = MarketReplay(aapl, cfg, start_ns=48_000 * S)
    paid = filled = 0
    for _ in range(children):
        got = fills(replay.buy("me", qty // children))
        paid += sum(f.last_qty * f.last_price for f in got)
        filled += sum(f.last_qty for f in got)
    assert filled == qty
    return paid


def test_sqrt_impact_cost_grows_as_the_square_root_of_the_order(aapl: ReplayData) -> None:
    sqrt = impact_sqrt(aapl, TRAIN)
    extra = {}
    for qty in (1_000, 4_000, 16_000):
        base = _buy_in_children(aapl, ImpactConfig(), qty, 10)
        extra[qty] = (_buy_in_children(aapl, sqrt, qty, 10) - base) / qty  # per share
        assert extra[qty] > 0
    # 4× the shares costs ~2× more per share (whole ticks round the smallest)
    assert 1.7 < extra[4_000] / extra[1_000] < 2.4
    assert 1.8 < extra[16_000] / extra[4_000] < 2.2


def test_impact_scale_multiplies_the_coefficient(aapl: ReplayData) -> None:
    one, two = impact_sqrt(aapl, TRAIN), impact_sqrt(aapl, TRAIN, scale=2.0)
    a, b = make_impact(one, TICK), make_impact(two, TICK)
    assert isinstance(a, SqrtImpactModel) and isinstance(b, SqrtImpactModel)
    assert b.on_taken(0, 2_500) == pytest.approx(2 * a.on_taken(0, 2_500), abs=1)
    inputs = impact_inputs(aapl, TRAIN)
    c = 0.7 * inputs.daily_sigma * inputs.reference_price / TICK / math.sqrt(inputs.daily_volume)
    assert a.offset_ticks == round(c * 50)


def test_linear_impact_stays_a_mode(aapl: ReplayData) -> None:
    model = make_impact(ImpactConfig(enabled=True, scale=0.5), TICK)
    assert model is not None and model.on_taken(0, 2_000) == 3  # (0.0005 + 0.002)·0.5·2000 → 2.5
    assert make_impact(ImpactConfig(), TICK) is None


# -- depth -----------------------------------------------------------------------------------


def test_committed_depth_profile_is_what_the_amzn_level5_file_measures(amzn5: ReplayData) -> None:
    profile = depth_profile(amzn5, TRAIN)
    assert profile.ticks() == AMZN_DEPTH_TICKS
    assert tuple(round(r, 3) for r in profile.size_ratio) == AMZN_DEPTH_SIZES
    assert list(profile.distance_ticks_mean) == sorted(profile.distance_ticks_mean)
    assert profile.distance_ticks_median[0] >= 1


def test_depth_profile_needs_a_deeper_file(aapl: ReplayData) -> None:
    with pytest.raises(ValueError, match="level-1 file has no levels beyond the first"):
        depth_profile(aapl)


def test_calibration_cli_prints_json_and_names_bad_input(
    amzn5_message: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["depth", str(amzn5_message), "--window", "09:35-13:00"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert tuple(out["ticks"]) == AMZN_DEPTH_TICKS
    assert main(["depth", str(amzn5_message), "--window", "13:00-09:35"]) == 2
    assert "ends before it starts" in capsys.readouterr().err
    assert main(["impact", "/nonexistent/X_2012-06-21_1_2_message_1.csv"]) == 2
    assert "error:" in capsys.readouterr().err
    assert parse_window("09:35-13:00") == TRAIN


def test_profile_depth_sweeps_walk_the_measured_gaps(aapl: ReplayData) -> None:
    replay = MarketReplay(
        aapl, ReplayConfig(depth=DepthConfig(model="profile")), start_ns=40_000 * S
    )
    ((p1, s1),) = replay.levels(SELL)
    sizes = [round(r * aapl.level1_ask_size) for r in AMZN_DEPTH_SIZES]
    want = s1 + sum(sizes) + 10
    got = [(f.last_price, f.last_qty) for f in fills(replay.buy("me", want))]
    gaps = [t * TICK for t in AMZN_DEPTH_TICKS]
    last_gap = gaps[-1] - gaps[-2]
    assert got == [
        (p1, s1),
        *((p1 + g, n) for g, n in zip(gaps, sizes, strict=True)),
        (p1 + gaps[-1] + last_gap, 10),  # beyond the profile: its last gap, its last size
    ]
    assert replay.levels(SELL) == []  # never displayed


def test_a_level5_file_keeps_its_real_depth_and_extrapolates_beyond(amzn5: ReplayData) -> None:
    cfg = ReplayConfig(depth=DepthConfig(model="profile"))
    replay = MarketReplay(amzn5, cfg, start_ns=40_000 * S)
    asks = replay.levels(SELL)
    assert len(asks) == 5 and asks == replay.hist_levels(SELL)  # real depth, as recorded
    stored = sum(s for _, s in asks)
    got = fills(replay.buy("me", stored + 5))
    beyond = [(f.last_price, f.last_qty) for f in got][-1]
    last_gap = (AMZN_DEPTH_TICKS[-1] - AMZN_DEPTH_TICKS[-2]) * TICK
    assert beyond == (asks[-1][0] + last_gap, 5)
    assert sum(f.last_qty for f in got) == stored + 5


def test_a_backtest_episode_runs_on_the_level5_file(amzn5: ReplayData) -> None:
    cfg = evaluation_config(amzn5, TRAIN, base=replay_config())
    assert cfg.depth.model == "profile"  # measured from the file's own training window
    spec = EpisodeSpec(0, 50_000 * S, Side.SELL, 3_000, 300.0, 15.0)
    result = run_episode(amzn5, spec, ScheduleAlgo("twap"), cfg)
    assert result.filled == 3_000
    assert math.isfinite(result.is_bps) and result.impact_bps != 0


# -- presets ---------------------------------------------------------------------------------


def test_evaluation_config_names_every_choice(aapl: ReplayData) -> None:
    cfg = evaluation_config(aapl, TRAIN)
    assert cfg.passive_fill_model == "consume" and cfg.unknown_queue == "by_id"
    assert cfg.impact.enabled and cfg.impact.model == "sqrt" and cfg.impact.scale == 1.0
    assert cfg.hidden_fills and cfg.depth.model == "profile"
    assert cfg.depth.profile_ticks == AMZN_DEPTH_TICKS  # level-1 data: the committed profile
    assert cfg.market_data and cfg.warmup_s == 30.0
    grid = evaluation_config(
        aapl, TRAIN, passive="overlay", impact_scale=2.0, hidden_fills=False, depth="uniform",
        base=ReplayConfig(tick_size=100, market_data=True),
    )  # fmt: skip
    assert (grid.passive_fill_model, grid.impact.scale, grid.hidden_fills) == (
        "overlay",
        2.0,
        False,
    )
    assert grid.depth == DepthConfig() and grid.warmup_s == 0.0
    off = evaluation_config(aapl, TRAIN, impact="off")
    assert not off.impact.enabled
    with pytest.raises(ValidationError, match="passive_fill_model"):
        evaluation_config(aapl, TRAIN, passive="double")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="impact='big'"):
        evaluation_config(aapl, TRAIN, impact="big")  # type: ignore[arg-type]
