"""The experiment's orders in rlexec, through the public replay API only."""

from __future__ import annotations

from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.crosscheck.experiment import NS, QUANTITY, WINDOW_S, Outcome, Placement
from rlexec.simulator.data import ReplayData
from rlexec.simulator.orders import ExecReport, ExecType
from rlexec.simulator.replay import MarketReplay

CLIENT = "crosscheck"


def run(data: ReplayData, config: ReplayConfig, orders: list[Placement]) -> list[Outcome]:
    """Each order in a replay of its own, started at the window (cold: every share resting at
    the start is anonymous and ahead of the order, as in hftbacktest's risk-averse model)."""
    out: list[Outcome] = []
    for p in orders:
        replay = MarketReplay(data, config, start_ns=p.start_ns)
        reports = replay.buy(CLIENT, QUANTITY, p.price)
        reports += replay.advance_to(p.start_ns + WINDOW_S * NS)
        filled = 0
        first: int | None = None
        for r in reports:
            if not isinstance(r, ExecReport):
                continue
            if r.exec_type is ExecType.REJECTED:
                raise RuntimeError(f"rlexec rejected the window {p.window} order: {r.reason}")
            if r.is_fill:
                filled += r.last_qty
                if first is None:
                    first = r.ts_ns
        out.append(Outcome(p.window, filled, first))
    return out
