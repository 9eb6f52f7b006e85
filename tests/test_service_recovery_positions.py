"""Positions rebuilt from child orders after a restart: the overlay's day P&L must come out as it
was (the daily loss limit reads it), however the day's buys and sells interleaved."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from rlexec.market.orders import Side
from rlexec.risk.testing import MID, T0, overlay
from rlexec.service.recovery import rebuilt_positions
from tests.oms_support import filled_child

_fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 500),
        st.integers(-300, 300).map(lambda ticks: MID + 100 * ticks),
    ),
    min_size=1,
    max_size=30,
)


@given(fills=_fills, mid_ticks=st.integers(-300, 300))
def test_the_rebuilt_day_pnl_is_the_days_pnl(
    fills: list[tuple[Side, int, int]], mid_ticks: int
) -> None:
    mid = float(MID + 100 * mid_ticks)
    lived = overlay()
    for side, qty, price in fills:  # as the day went, fill by fill
        lived.on_fill("AAPL", side, qty, price, now_ns=T0)
    lived.on_market("AAPL", mid, T0)
    restarted = overlay()
    restarted.on_market("AAPL", mid, T0)
    children = [filled_child(n, *fill) for n, fill in enumerate(fills)]
    for symbol, (pos, avg, realised) in rebuilt_positions(children).items():
        restarted.reconcile_position(symbol, pos, avg, realised=realised, who="t", why="t")
    assert restarted.position("AAPL").position == lived.position("AAPL").position
    assert math.isclose(restarted.daily_pnl, lived.daily_pnl, rel_tol=1e-9, abs_tol=1e-6)


def test_a_flat_symbol_keeps_the_loss_it_realised() -> None:
    """Bought 100 at MID, sold them 50 ticks lower: flat, $50 lost. A restart used to make
    the day's P&L 0 again, and the daily loss limit forgot the loss."""
    children = [filled_child(0, Side.BUY, 100, MID), filled_child(1, Side.SELL, 100, MID - 5_000)]
    ((pos, avg, realised),) = rebuilt_positions(children).values()
    assert (pos, avg, realised) == (0, 0.0, -500_000.0)
    restarted = overlay()
    restarted.reconcile_position("AAPL", pos, avg, realised=realised, who="t", why="t")
    assert restarted.daily_pnl == -50.0
