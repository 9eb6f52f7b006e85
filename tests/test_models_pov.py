"""POV with decision steps that had no decision: the live service skips the steps whose time
passed without one (a late timer, a burst of venue time, a restart), the replay never does.
POV built its schedule one slice per call but read it by step, so the first skipped step
raised IndexError on every market update after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlexec.market.orders import Side
from rlexec.models.algos import PovAlgo
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.execution import ParentExecution
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.runner import replay_config, run_episode, start_execution
from rlexec.models.schedules import pov_quantity
from rlexec.simulator.data import ReplayData

TRAIN = Window.parse("09:35-13:00")
SPEC = EpisodeSpec(0, Window.parse("10:30-11:00").start_ns, Side.BUY, 6_000, 300.0, 15.0)


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.fixture(scope="module")
def stats(aapl: ReplayData) -> MarketStats:
    return estimate(aapl, TRAIN, bucket_s=1800)


def decide_at(
    data: ReplayData, algo: PovAlgo, steps: list[int]
) -> tuple[ParentExecution, dict[int, tuple[int, int]]]:
    """The replay adapter, deciding only at `steps` (each at its own time, as the live
    service does); (market volume, filled) before each decision."""
    ex = start_execution(data, SPEC, replay_config())
    algo.start(ex, SPEC.steps, SPEC.interval_s)
    seen: dict[int, tuple[int, int]] = {}
    for step in steps:
        ex.advance_to(ex.state.start_ns + round(step * SPEC.interval_s * 1e9))
        ex.mark_decision()
        seen[step] = (ex.market_volume, ex.state.filled)
        algo.decide(ex, step, SPEC.steps)
    return ex, seen


def test_skipped_steps_get_empty_slices_and_the_next_slice_takes_their_volume(
    aapl: ReplayData, stats: MarketStats
) -> None:
    algo = PovAlgo(stats)
    ex, seen = decide_at(aapl, algo, [0, 1, 4, 5, 9, SPEC.steps - 1])
    assert len(algo.slices) == SPEC.steps  # one per step, read by step as every schedule's
    assert [algo.slices[s] for s in (2, 3, 6, 7, 8)] == [0] * 5
    # step 4's slice: participation in what the others traded since step 1's decision
    (volume_1, filled_1), (volume_4, filled_4) = seen[1], seen[4]
    traded = volume_4 - volume_1 - (filled_4 - filled_1)
    assert traded > 0
    expected = pov_quantity(traded, algo.rate, SPEC.quantity - sum(algo.slices[:4]))
    assert algo.slices[4] == expected > 0
    assert sum(algo.slices) <= SPEC.quantity
    assert ex.state.filled <= SPEC.quantity


def test_a_first_decision_after_a_restart_may_be_any_step(
    aapl: ReplayData, stats: MarketStats
) -> None:
    """A restored parent's algo starts afresh and first decides at the step it resumes at."""
    algo = PovAlgo(stats)
    decide_at(aapl, algo, [7, 8])
    assert algo.slices[:7] == [0] * 7 and len(algo.slices) == 9


def test_a_step_decided_twice_is_refused(aapl: ReplayData, stats: MarketStats) -> None:
    algo = PovAlgo(stats)
    with pytest.raises(ValueError, match="step 3 was decided already"):
        decide_at(aapl, algo, [0, 4, 3])


def test_a_replay_that_decides_every_step_is_unchanged(
    aapl: ReplayData, stats: MarketStats
) -> None:
    """The backtest's runner decides every step: nothing is padded, and its schedule is the
    one deciding at every step's own time gives (the live service on time)."""
    algo = PovAlgo(stats)
    result = run_episode(aapl, SPEC, algo)
    assert len(algo.slices) == SPEC.steps and sum(algo.slices) > 0
    assert result.filled == SPEC.quantity
    on_time = PovAlgo(stats)
    decide_at(aapl, on_time, list(range(SPEC.steps)))
    assert on_time.slices == algo.slices
