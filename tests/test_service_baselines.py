"""The new baselines run unchanged through the live adapter (`LiveExecution` over real FIX
against `rlexec venue`): each works its parent to completion, and every record of the
fills agrees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.models.market_stats import Window
from rlexec.service.parents import ParentState
from rlexec.service.runtime import Service, load_stats
from tests.service_support import AlgoName, Venue, settings, start_venue, submit, wait_for, warm_up

pytestmark = pytest.mark.slow

NEW_BASELINES: tuple[AlgoName, ...] = ("twap_inside", "passive_first", "vwap", "ac", "ac_neutral")


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


async def test_every_new_baseline_completes_through_the_live_port(
    venue: Venue, aapl_message: Path
) -> None:
    stats = load_stats(aapl_message)
    assert Window.parse(stats.window) == Window.parse("09:35-13:00")
    service = Service(settings(venue), stats=stats)
    await service.start()
    try:
        await warm_up(service, 30.0)
        parents = {name: submit(service, name, quantity=2_000) for name in NEW_BASELINES}
        await wait_for("every parent to finish",
                       lambda: all(p.state.is_terminal for p in parents.values()), within=60)  # fmt: skip
        for name, parent in parents.items():
            assert parent.state is ParentState.COMPLETED, (name, parent.reason)
            assert parent.filled == 2_000, name
            assert parent.decisions >= 1, name
            assert parent.algo.name == name
        oms_filled = sum(c.cum_qty for c in service.oms.all())
        assert oms_filled == service.overlay.position("AAPL").position == 2_000 * len(parents)
    finally:
        stopped = await service.stop()
    assert stopped["left_working"] == 0


def test_best_constant_is_not_offered_live() -> None:
    """It needs a selection run on training episodes; the live allow-list says so up front."""
    from pydantic import ValidationError

    from rlexec.service.config import ParentSpec

    with pytest.raises(ValidationError, match="algo"):
        ParentSpec(symbol="AAPL", side="buy", quantity=100, horizon_s=60.0, algo="best_constant")  # type: ignore[arg-type]
