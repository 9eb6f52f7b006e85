"""Benchmark: a buy parent working into a flash crash, with and without the risk monitors.

The scenario (`rlexec.simulator.scenarios.flash_crash`) drops AAPL's replayed price by 5 %
within 30 s from `--crash-at`, with the spread widening and the bid side thinning. The same
RL parent (the shipped ONNX policy, 10 minutes, 15 s decisions) starts `--lead-s` before
it. Prints one JSON object: `bought_with_monitors`, `bought_without_monitors`,
`first_reaction_ms` (market time from the crash's start to the first tightening),
`reactions` (first action per monitor, ms), `loosenings` (must be 0), IS both ways and the
kill-switch state the monitors left.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.monitored import run_monitored
from rlexec.market.orders import Side
from rlexec.models.algos import PolicyAlgo
from rlexec.models.episodes import EpisodeSpec
from rlexec.models.policy import OnnxPolicy
from rlexec.risk import RiskOverlay
from rlexec.risk.killswitch import MemoryKillSwitchStore
from rlexec.risk.monitors import MonitorConfig, MonitorSet
from rlexec.service.config import default_limits
from rlexec.simulator.data import ReplayData
from rlexec.simulator.scenarios import flash_crash

DATA = Path("/work/shared/data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.gz")
NS = 1_000_000_000
STRESS_S = 60.0
"""The scenario's 30 s fall plus its 30 s of spread and depth recovering."""


def rl_algo(policy: OnnxPolicy, monitors: MonitorSet | None, symbol: str) -> PolicyAlgo:
    def choose(obs: Sequence[float]) -> int | None:
        decision = policy.decide(obs)
        return None if decision is None else decision.index

    trusted = (lambda: monitors.trusted(symbol)) if monitors is not None else None
    return PolicyAlgo("rl", choose, trusted=trusted)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--crash-at", default="11:00:00", help="New York time of the crash's start")
    ap.add_argument("--lead-s", type=float, default=120.0, help="parent starts this much before")
    ap.add_argument("--quantity", type=int, default=6000)
    ap.add_argument("--horizon-s", type=float, default=600.0)
    args = ap.parse_args(argv)
    h, m, s = (int(x) for x in args.crash_at.split(":"))
    crash_ns = (h * 3600 + m * 60 + s) * NS
    data = flash_crash(ReplayData.load(args.data), crash_ns)
    spec = EpisodeSpec(0, crash_ns - round(args.lead_s * NS), Side.BUY, args.quantity,
                       args.horizon_s, 15.0)  # fmt: skip
    policy = OnnxPolicy()
    ex_without, without = run_monitored(data, spec, rl_algo(policy, None, data.symbol), None)
    limits = default_limits([data.symbol])
    overlay = RiskOverlay(limits, store=MemoryKillSwitchStore(), clock=lambda: spec.start_ns,
                          initialise=True)  # fmt: skip
    monitors = MonitorSet(MonitorConfig(), [data.symbol], overlay=overlay)
    algo = rl_algo(policy, monitors, data.symbol)
    ex_with, with_m = run_monitored(data, spec, algo, monitors, overlay)
    stress_end = crash_ns + round(STRESS_S * NS)
    tight = [a for a in monitors.actions if a.tightened and a.ts_ns >= crash_ns]
    before = [a for a in monitors.actions if a.tightened and a.ts_ns < crash_ns]
    reactions: dict[str, float] = {}
    for a in tight:
        reactions.setdefault(a.monitor, round((a.ts_ns - crash_ns) / 1e6, 1))
    loosenings = with_m.loosenings + monitors.early_lifts + int(overlay.limits != limits)
    out = {
        "scenario": "flash_crash drop=5% in 30s, spread +80 ticks, bids thinned 98%",
        "data": args.data.name,
        "crash_at": args.crash_at,
        "parent": {
            "side": "buy",
            "quantity": args.quantity,
            "horizon_s": args.horizon_s,
            "starts_before_crash_s": args.lead_s,
            "algo": "rl",
        },
        "bought_with_monitors": ex_with.filled_by(stress_end) - ex_with.filled_by(crash_ns),
        "bought_without_monitors": (
            ex_without.filled_by(stress_end) - ex_without.filled_by(crash_ns)
        ),
        "bought_counted": f"from the crash's start to {STRESS_S:g} s after it (fall + recovery)",
        "bought_by_horizon_with_monitors": with_m.filled,
        "bought_by_horizon_without_monitors": without.filled,
        "held_back_by_monitors": with_m.held_back,
        "is_bps_with_monitors": round(with_m.is_bps, 2),
        "is_bps_without_monitors": round(without.is_bps, 2),
        "first_reaction_ms": min(reactions.values()) if reactions else None,
        "reactions_ms": reactions,
        "actions_before_crash": len(before),
        "first_reasons": [a.reason for a in tight[:6]],
        "policy_distrusted_decisions": algo.distrusted,
        "kill_switch": overlay.state.value,
        "loosenings": loosenings,
    }
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0 if loosenings == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
