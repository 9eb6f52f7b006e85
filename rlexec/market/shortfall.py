"""Implementation shortfall: the one definition every part of rlexec uses.

In basis points of the arrival mid, positive = cost. A buy that pays more than the arrival
mid, or a sell that receives less, has positive shortfall.
"""

from __future__ import annotations

from rlexec.market.orders import Side


def shortfall_bps(side: Side, avg_price: float, arrival_mid: float) -> float:
    """buy: (avg − arrival) / arrival × 1e4; sell: the opposite sign."""
    if arrival_mid <= 0:
        raise ValueError(f"arrival mid must be positive, got {arrival_mid}")
    return int(side) * (avg_price - arrival_mid) / arrival_mid * 1e4
