"""The hard baselines on real AAPL / AMZN episodes: each does what its tactic says, and
nothing they are calibrated on comes from the test window."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pytest

from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side, TimeInForce
from rlexec.models.algo_registry import (
    ABLATION,
    AC_KAPPA_T,
    ALGOS,
    KNOWN,
    AlgoContext,
    ac_meta,
    make_algo,
    make_algos,
    prepare_context,
    same_day_tickers,
)
from rlexec.models.algos import (
    TACTICS,
    Algo,
    PassiveFirstAlgo,
    PolicyAlgo,
    ScheduleAlgo,
    VwapAlgo,
)
from rlexec.models.best_constant import RiskAdjusted, criterion_name, select_best_constant
from rlexec.models.contract import ACTIONS, Tactic
from rlexec.models.episodes import EpisodeDistribution, EpisodeSpec, draw_many
from rlexec.models.execution import ParentExecution
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.policy import DEFAULT_MODEL
from rlexec.models.port import ChildView, New, PlanStep
from rlexec.models.runner import FEATURE_WARMUP_S, replay_config, run_episode
from rlexec.models.schedules import twap
from rlexec.models.volume_profile import IntradayProfile, intraday_profile
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay
from tests.conftest import AMZN_1

TRAIN = Window.parse("09:35-13:00")
TEST = Window.parse("13:00-15:55")
SHORT = EpisodeDistribution(horizons_s=(120.0,))
TICK = 100


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def amzn(data_dir: Path) -> ReplayData:
    return ReplayData.load(data_dir / AMZN_1)


@pytest.fixture(scope="module")
def stats(aapl: ReplayData) -> MarketStats:
    return estimate(aapl, TRAIN, bucket_s=1800)


# -- a replay that records every plan an algo makes ------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One plan an algo handed to the port, with the quotes it was priced on."""

    side: Side
    bid: int | None
    ask: int | None
    steps: list[PlanStep]

    def inside_price(self) -> int | None:
        """One tick inside when the spread is wider than a tick, else our touch."""
        near, far = (self.bid, self.ask) if self.side is Side.BUY else (self.ask, self.bid)
        if near is None or far is None or abs(far - near) <= TICK:
            return near
        return near + TICK if self.side is Side.BUY else near - TICK

    @property
    def wide(self) -> bool:
        return self.bid is not None and self.ask is not None and self.ask - self.bid > TICK


class RecordingExecution(ParentExecution):
    def __init__(self, replay: MarketReplay, spec: EpisodeSpec) -> None:
        super().__init__(replay, spec.side, spec.quantity, spec.horizon_s)
        self.plans: list[Plan] = []

    def execute(self, steps: list[PlanStep]) -> None:
        self.plans.append(Plan(self.side, self.book.best_bid, self.book.best_ask, list(steps)))
        super().execute(steps)


@dataclass
class Decision:
    step: int
    filled: int
    """Before the decision."""
    plans: list[Plan] = field(default_factory=list)
    resting: list[ChildView] = field(default_factory=list)

    def news(self, tif: TimeInForce) -> list[tuple[Plan, New]]:
        return [
            (p, s) for p in self.plans for s in p.steps
            if type(s) is New and s.time_in_force is tif
        ]  # fmt: skip


def run_recorded(data: ReplayData, spec: EpisodeSpec, algo: Algo) -> list[Decision]:
    """`runner.run_episode`'s loop, keeping what the algo saw and did at each decision."""
    begin = max(data.start_ns, spec.start_ns - round(FEATURE_WARMUP_S * 1e9))
    ex = RecordingExecution(MarketReplay(data, replay_config(), start_ns=begin), spec)
    ex.advance_to(spec.start_ns)
    ex.start_now(spec.horizon_s)
    algo.start(ex, spec.steps, spec.interval_s)
    out = []
    for step in range(spec.steps):
        ex.mark_decision()
        d = Decision(step, ex.state.filled)
        ex.plans = d.plans
        algo.decide(ex, step, spec.steps)
        d.resting = ex.working()
        out.append(d)
        ex.advance_to(ex.state.start_ns + round((step + 1) * spec.interval_s * 1e9))
    return out


def short_episodes(stats: MarketStats, n: int = 6, seed: int = 3) -> list[EpisodeSpec]:
    return draw_many(n, seed, Window.parse("10:00-11:00"), stats, SHORT)


# -- twap_inside -----------------------------------------------------------------------------


def test_twap_inside_rests_one_tick_inside_when_the_spread_allows(
    aapl: ReplayData, stats: MarketStats
) -> None:
    wide = 0
    for spec in short_episodes(stats):
        for d in run_recorded(aapl, spec, make_algo("twap_inside", AlgoContext(stats))):
            for plan, order in d.news(TimeInForce.DAY):
                assert order.price == plan.inside_price(), (spec, d.step)
                wide += plan.wide
        for d in run_recorded(aapl, spec, make_algo("twap", AlgoContext(stats))):
            for plan, order in d.news(TimeInForce.DAY):
                assert order.price == (plan.bid if spec.side is Side.BUY else plan.ask)
    assert wide >= 5  # the wide-spread case was exercised, not only one-tick spreads


# -- passive_first ---------------------------------------------------------------------------


@pytest.mark.parametrize("tolerance", [0.02, 0.10])
def test_passive_first_takes_only_beyond_its_tolerance(
    aapl: ReplayData, stats: MarketStats, tolerance: float
) -> None:
    within = beyond = 0
    for spec in short_episodes(stats, n=8):
        targets = [0, *accumulate(twap(spec.quantity, spec.steps))]
        tol = int(tolerance * spec.quantity)
        for d in run_recorded(aapl, spec, PassiveFirstAlgo(tolerance)):
            behind = targets[d.step] - d.filled
            taken = [o.quantity for _, o in d.news(TimeInForce.IOC)]
            if behind <= tol:
                assert taken == [], (spec, d.step, behind, tol)
                within += 1
            else:  # the take is the decision's first plan (nothing to take into: no order)
                far = d.plans[0].ask if spec.side is Side.BUY else d.plans[0].bid
                assert taken == ([behind - tol] if far is not None else []), (spec, d.step)
                beyond += far is not None
            # what is due by the end of the slice rests, one tick inside (the last plan)
            due = targets[d.step + 1] - d.filled - max(0, behind - tol)
            rest = d.plans[-1]
            assert all(c.price == rest.inside_price() for c in d.resting), (spec, d.step)
            assert sum(c.leaves for c in d.resting) <= max(0, due)
    assert within > 0
    if tolerance == 0.02:
        assert beyond > 0  # a tight tolerance is exceeded on real data: the take branch ran


def test_passive_first_rejects_a_bad_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        PassiveFirstAlgo(1.5)


# -- best constant ---------------------------------------------------------------------------


def test_best_constant_selection_sees_only_training_episodes(
    aapl: ReplayData, stats: MarketStats
) -> None:
    train = Window.parse("10:00-11:00")
    index, table = select_best_constant(aapl, train, stats, episodes=3, seed=5, dist=SHORT)
    assert len(table.episode_starts_ns) == 3
    assert all(train.start_ns <= s for s in table.episode_starts_ns)
    assert all(e <= train.end_ns for e in table.episode_ends_ns)
    assert [r.index for r in table.rows] == list(range(len(ACTIONS)))
    assert index == min(table.rows, key=lambda r: (r.score, r.index)).index
    # rate 0 never trades before the horizon: its tactic cannot matter (real runs agree)
    assert len({r.mean_is_bps for r in table.rows if r.rate == 0}) == 1
    assert len({r.mean_is_bps for r in table.rows}) > 3  # the actions did differ
    again = select_best_constant(aapl, train, stats, episodes=3, seed=5, dist=SHORT)
    assert again == (index, table)  # deterministic


def test_best_constant_uses_the_criterion_it_is_given(aapl: ReplayData, stats: MarketStats) -> None:
    train = Window.parse("10:00-11:00")
    averse = RiskAdjusted(10.0)
    _, table = select_best_constant(aapl, train, stats, episodes=3, seed=5, dist=SHORT,
                                    criterion=averse)  # fmt: skip
    for r in table.rows:
        assert r.score == pytest.approx(r.mean_is_bps + 10.0 * r.std_is_bps**2)
    assert table.criterion == "mean IS + 10·var IS"

    def worst(x: npt.NDArray[Any]) -> float:
        return -float(x.mean())

    index, table = select_best_constant(aapl, train, stats, episodes=3, seed=5, dist=SHORT,
                                        criterion=worst)  # fmt: skip
    assert index == max(table.rows, key=lambda r: (r.mean_is_bps, -r.index)).index
    assert criterion_name(worst) == "worst"


def test_best_constant_is_never_selected_on_the_test_window(
    aapl: ReplayData, amzn: ReplayData, stats: MarketStats
) -> None:
    with pytest.raises(ValueError, match="train_data"):
        prepare_context(["best_constant"], data=amzn, test=TRAIN, train=TRAIN, stats=stats)
    context = prepare_context(["best_constant"], data=amzn, test=TRAIN, train=TRAIN, stats=stats,
                              train_data=aapl, best_constant_episodes=2)  # fmt: skip
    meta = context.meta["best_constant"]
    assert isinstance(meta, dict)
    assert meta["selected_on"] == "AAPL 09:35-13:00" and meta["chosen"] == context.best_constant
    algo = make_algo("best_constant", context)
    assert algo.name == "best_constant"


def test_best_constant_needs_its_selection() -> None:
    with pytest.raises(ValueError, match="best_constant"):
        make_algo("best_constant", AlgoContext())


# -- VWAP's profile --------------------------------------------------------------------------


def _afternoon_scaled(message: Path, factor: int, after: Window) -> ReplayData:
    """The same day with every size inside `after` multiplied: test data that differs."""
    pair = LobsterPair.from_message(message)
    arrays = pair.load()
    size = arrays.size.copy()
    inside = (arrays.ts_ns >= after.start_ns) & (arrays.ts_ns < after.end_ns)
    size[inside] *= factor
    original = ReplayData.load(message)
    return ReplayData(arrays._replace(size=size), pair.symbol, pair.levels, str(message),
                      (original.start_ns, original.end_ns), original.date)  # fmt: skip


def test_vwap_profile_follows_the_day_across_tickers_and_differs_from_flat(
    aapl: ReplayData, stats: MarketStats
) -> None:
    context = prepare_context(["vwap"], data=aapl, test=TEST, train=TRAIN, stats=stats)
    profile = context.profile
    assert profile is not None
    assert sum(profile.shares) == pytest.approx(1.0, abs=1e-12)
    assert "AMZN" in profile.source and "AAPL 09:35-13:00" in profile.source
    steps = round(TEST.seconds / 15)
    afternoon = profile.weights(TEST.start_ns, steps, 15.0)
    assert max(afternoon) > 2 * min(afternoon)  # the close is busier than the early afternoon
    # an episode in the last 40 minutes is weighted towards its end, unlike TWAP
    algo = make_algo("vwap", context)
    assert isinstance(algo, VwapAlgo)
    start = Window.parse("15:15-15:55")
    spec = EpisodeSpec(0, start.start_ns, Side.BUY, 20_000, 1200.0, 15.0)
    run_episode(aapl, spec, algo)
    assert sum(algo.slices) == 20_000
    assert algo.slices != twap(20_000, spec.steps)
    assert algo.slices[-1] > 1.3 * algo.slices[0]


def test_vwap_profile_never_reads_the_traded_tickers_test_window(
    aapl_message: Path, data_dir: Path, aapl: ReplayData, amzn: ReplayData, stats: MarketStats
) -> None:
    base = intraday_profile([amzn], aapl, TRAIN)
    changed = intraday_profile([amzn], _afternoon_scaled(aapl_message, 10, TEST), TRAIN)
    assert changed == base
    # the ticker split: the traded ticker's test window is its training window -> not read
    amzn_stats = estimate(amzn, TRAIN, bucket_s=1800)
    split = prepare_context(["vwap"], data=amzn, test=TRAIN, train=TRAIN, stats=amzn_stats)
    assert split.profile is not None and "AMZN" not in split.profile.source
    altered = _afternoon_scaled(data_dir / AMZN_1, 10, TRAIN)
    again = prepare_context(["vwap"], data=altered, test=TRAIN, train=TRAIN, stats=amzn_stats)
    assert again.profile == split.profile
    with pytest.raises(ValueError, match="traded ticker"):
        intraday_profile([aapl], aapl, TRAIN)


def test_profile_from_training_stats_alone_is_flat_beyond_the_window(stats: MarketStats) -> None:
    profile = IntradayProfile.from_stats(stats)
    assert sum(profile.shares) == pytest.approx(1.0)
    late = profile.weights(Window.parse("14:00-15:00").start_ns, 40, 15.0)
    assert max(late) == pytest.approx(min(late))
    with pytest.raises(ValueError, match="sum to 1"):
        IntradayProfile(0, 1800, (0.5, 0.4), "bad")


def test_same_day_tickers_are_found_beside_the_data(aapl_message: Path, data_dir: Path) -> None:
    assert same_day_tickers(aapl_message) == [data_dir / AMZN_1]


# -- Almgren–Chriss --------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "AMZN"])
def test_almgren_chriss_risk_aversion_gives_kappa_t_at_least_one(
    symbol: str, aapl: ReplayData, amzn: ReplayData
) -> None:
    data = aapl if symbol == "AAPL" else amzn
    context = AlgoContext(estimate(data, TRAIN, bucket_s=1800))
    meta = ac_meta(context)
    kappa_t = meta["kappa_T"]
    assert isinstance(kappa_t, dict)
    assert min(kappa_t.values()) == pytest.approx(AC_KAPPA_T, rel=1e-6)
    assert all(v >= AC_KAPPA_T - 1e-9 for v in kappa_t.values())
    ac = make_algo("ac", context)
    spec = draw_many(1, 9, Window.parse("10:00-11:00"), context.stats or estimate(data, TRAIN),
                     EpisodeDistribution(horizons_s=(600.0,)))[0]  # fmt: skip
    run_episode(data, spec, ac)
    assert isinstance(ac, ScheduleAlgo)
    assert ac.slices[0] > 2.5 * ac.slices[-1]  # κT = 2: front-loaded by about cosh 2 ≈ 3.8


def test_risk_neutral_almgren_chriss_is_twap(aapl: ReplayData, stats: MarketStats) -> None:
    context = AlgoContext(stats)
    for spec in short_episodes(stats, n=3):
        neutral, plain = make_algos(["ac_neutral", "twap"], context)
        a, b = run_episode(aapl, spec, neutral), run_episode(aapl, spec, plain)
        assert isinstance(neutral, ScheduleAlgo) and isinstance(plain, ScheduleAlgo)
        assert neutral.slices == plain.slices
        assert (a.is_bps, a.avg_price, a.forced_qty) == (b.is_bps, b.avg_price, b.forced_qty)


# -- the registry ----------------------------------------------------------------------------


def test_every_name_builds_and_is_described(stats: MarketStats, tmp_path: Path) -> None:
    from tests.signal_support import signal_model, signal_policy

    arm = signal_policy(tmp_path / "arm.onnx", signal_model(tmp_path / "signal.onnx"))
    context = AlgoContext(stats, best_constant=7)
    plain = [n for n in KNOWN if n != ABLATION]
    algos = [*make_algos(plain, context), make_algo(ABLATION, replace(context, model=arm))]
    assert [a.name for a in algos] == list(KNOWN)
    ablation = algos[-1]
    assert isinstance(ablation, PolicyAlgo) and ablation.signal is not None
    # The ablation arm is a policy trained with the signal: the shipped one is refused.
    with pytest.raises(ValueError, match=r"rl_signal.*needs its policy"):
        make_algo(ABLATION, context)
    with pytest.raises(ValueError, match="trained without the price-move signal"):
        make_algo(ABLATION, replace(context, model=DEFAULT_MODEL))
    assert set(KNOWN) <= set(TACTICS)
    assert set(ALGOS) >= {"twap_inside", "passive_first", "ac_neutral", "best_constant"}
    with pytest.raises(ValueError, match=r"unknown algo 'vwop'.*twap_inside"):
        make_algo("vwop", context)
    with pytest.raises(ValueError, match="needs market statistics"):
        make_algo("ac", AlgoContext())


def test_twap_inside_and_passive_first_are_in_the_tactics_they_claim() -> None:
    assert "one tick inside" in TACTICS["twap_inside"]
    assert "10%" in TACTICS["passive_first"] and "one tick inside" in TACTICS["passive_first"]
    assert "identical to twap" in TACTICS["ac_neutral"]
    assert PassiveFirstAlgo().rest_tactic is Tactic.INSIDE
