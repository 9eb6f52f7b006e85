"""The monitors against a flash crash (replay) and inside the live service (real FIX venue)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import flash_crash as bench_flash_crash
from rlexec.models.algos import PolicyAlgo
from rlexec.service.runtime import Service
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay
from rlexec.simulator.scenarios import flash_crash
from tests.service_support import Venue, settings, start_venue, submit, wait_for, warm_up

S = 1_000_000_000
CRASH = 11 * 3600 * S


def test_the_scenario_drops_the_mid_five_percent_in_thirty_seconds(aapl_message: Path) -> None:
    data = ReplayData.load(aapl_message)
    original = list(data.price)
    crashed = flash_crash(data, CRASH)
    assert data.price == original  # the day itself is left as it was
    replay = MarketReplay(crashed, ReplayConfig(market_data=True), start_ns=CRASH - 60 * S)
    replay.advance_to(CRASH)
    before = replay.mid
    spread_before = replay.best_ask - replay.best_bid  # type: ignore[operator]
    replay.advance_to(CRASH + 15 * S)
    spread_mid = replay.best_ask - replay.best_bid  # type: ignore[operator]
    replay.advance_to(CRASH + 31 * S)
    after = replay.mid
    assert before is not None and after is not None
    assert -0.055 < (after - before) / before < -0.045
    assert spread_mid > spread_before + 20 * 100
    with pytest.raises(ValueError, match=r"drop=1\.5"):
        flash_crash(data, CRASH, drop=1.5)
    with pytest.raises(ValueError, match="after the data's last row"):
        flash_crash(data, data.ts_ns[-1] + S)


def test_flash_crash_bench_monitors_react_buy_less_and_never_loosen() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bench_flash_crash.main([])
    result = json.loads(out.getvalue())
    assert code == 0
    assert result["loosenings"] == 0
    assert result["bought_with_monitors"] < result["bought_without_monitors"]
    assert 0 < result["first_reaction_ms"] < 30_000
    assert {"volatility", "mid_jump"} <= set(result["reactions_ms"])
    assert result["held_back_by_monitors"] > 0


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.mark.slow
async def test_the_live_service_obeys_a_pause_and_a_distrust(venue: Venue) -> None:
    service = Service(settings(venue))
    await service.start()
    try:
        await warm_up(service, 30.0)
        free = submit(service, "twap", quantity=2_000, horizon_s=60.0)
        await wait_for("a child of the free parent", lambda: any(
            c.parent_id == free.id for c in service.oms.all()))  # fmt: skip
        service.parents.cancel(free.id)
        now = service.clock.now_ns()
        service.monitors.override("AAPL", "risk-desk", "test: pause AAPL", now, pause=True)
        paused = submit(service, "twap", quantity=2_000, horizon_s=60.0)
        await wait_for("two decisions", lambda: paused.decisions >= 2)
        assert not [c for c in service.oms.all() if c.parent_id == paused.id]
        assert paused.filled == 0
        service.parents.cancel(paused.id)

        service.monitors.override("AAPL", "risk-desk", "test: no policy", now, distrust=True)
        rl = submit(service, "rl", quantity=2_000, horizon_s=60.0)
        await wait_for("a decision", lambda: rl.decisions >= 1)
        assert isinstance(rl.algo, PolicyAlgo)
        assert rl.algo.distrusted >= 1 and rl.algo.last_action is None
        service.parents.cancel(rl.id)
    finally:
        await service.stop()
