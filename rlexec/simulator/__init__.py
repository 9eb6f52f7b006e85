"""The venue: a price-time matching engine that replays LOBSTER order flow with our orders in it.

One engine serves the FIX venue process, the RL training environment and the backtester,
so fills are equally (un)kind everywhere. May import `market` and `gateway`.

The pure core is importable from here (no asyncio, no FIX); the FIX venue lives in
`rlexec.simulator.venue`.
"""

from rlexec.simulator.config import DepthConfig, ImpactConfig, ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.engine import MatchingEngine
from rlexec.simulator.orders import (
    CancelReject,
    ExecReport,
    ExecType,
    Liquidity,
    OrderStatus,
    RejectCode,
    Report,
    SelfMatchPolicy,
)
from rlexec.simulator.replay import MarketReplay, ReplayStats, fills

__all__ = [
    "CancelReject",
    "DepthConfig",
    "ExecReport",
    "ExecType",
    "ImpactConfig",
    "Liquidity",
    "MarketReplay",
    "MatchingEngine",
    "OrderStatus",
    "RejectCode",
    "ReplayConfig",
    "ReplayData",
    "ReplayStats",
    "Report",
    "SelfMatchPolicy",
    "fills",
]
