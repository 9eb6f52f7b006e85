"""Benchmark: what the risk monitors cost the RL policy on normal days (implementation shortfall).

Training-window episodes only (AAPL 09:35–13:00; the 13:00–15:55 test window and AMZN are
held out). The same episodes run twice with the shipped ONNX policy: without monitors (the
backtester's loop) and with a `MonitorSet` in the loop as the live service wires it. The
first run is the policy's "backtest" for the trust monitor: its action mix and its IS
(mean, std) become `action_reference` and `is_reference_bps` of the second.

Prints one JSON object: mean / median IS both ways, the paired difference with its standard
error, shares the monitors held back, shares left unfilled (a pause at the horizon), the
episodes with any action, and the actions by reason code.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from bench.monitored import run_monitored
from rlexec.models.algos import PolicyAlgo
from rlexec.models.contract import ACTIONS
from rlexec.models.episodes import draw_many
from rlexec.models.market_stats import Window, estimate
from rlexec.models.policy import OnnxPolicy
from rlexec.risk import RiskOverlay
from rlexec.risk.killswitch import MemoryKillSwitchStore
from rlexec.risk.monitors import MonitorSet, load_monitor_config
from rlexec.service.config import default_limits
from rlexec.simulator.data import ReplayData

DATA = Path("/work/shared/data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.gz")
TRAIN_WINDOW = "09:35-13:00"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if "AMZN" in args.data.name:
        ap.error("AMZN is held-out data: the monitors' cost is measured on AAPL's training window")
    data = ReplayData.load(args.data)
    window = Window.parse(TRAIN_WINDOW)
    stats = estimate(data, window, bucket_s=1800)
    specs = draw_many(args.episodes, args.seed, window, stats)
    policy = OnnxPolicy()
    actions: Counter[int] = Counter()
    monitors: MonitorSet | None = None

    def choose(obs: Sequence[float]) -> int | None:
        decision = policy.decide(obs)
        index = None if decision is None else decision.index
        if monitors is None:
            if index is not None:
                actions[index] += 1
        else:
            monitors.on_action(data.symbol, index, 0)
        return index

    base = [run_monitored(data, spec, PolicyAlgo("rl", choose), None)[1] for spec in specs]
    total = sum(actions.values())
    reference = tuple(actions.get(i, 0) / total for i in range(len(ACTIONS)))
    base_is = [o.is_bps for o in base]
    config = load_monitor_config({
        "action_reference": reference,
        "is_reference_bps": (statistics.mean(base_is), statistics.stdev(base_is)),
    })  # fmt: skip
    limits = default_limits([data.symbol])
    with_m = []
    codes: Counter[str] = Counter()
    touched = 0
    for spec in specs:
        overlay = RiskOverlay(limits, store=MemoryKillSwitchStore(), clock=lambda: 0,
                              initialise=True)  # fmt: skip
        current = MonitorSet(config, [data.symbol], overlay=overlay)
        monitors = current
        algo = PolicyAlgo("rl", choose, trusted=partial(current.trusted, data.symbol))
        _, outcome = run_monitored(data, spec, algo, current, overlay)
        current.on_parent_done(data.symbol, outcome.is_bps, spec.start_ns)
        with_m.append(outcome)
        tightenings = [a for a in current.actions if a.tightened and a.ts_ns >= spec.start_ns]
        touched += bool(tightenings)
        codes.update(a.code for a in tightenings)
    diffs = [w.is_bps - b.is_bps for w, b in zip(with_m, base, strict=True)]
    n = len(diffs)
    out = {
        "data": args.data.name,
        "window": TRAIN_WINDOW,
        "episodes": n,
        "seed": args.seed,
        "algo": "rl (shipped ONNX policy)",
        "is_bps_without_monitors": {
            "mean": round(statistics.mean(base_is), 3),
            "median": round(statistics.median(base_is), 3),
        },
        "is_bps_with_monitors": {
            "mean": round(statistics.mean(w.is_bps for w in with_m), 3),
            "median": round(statistics.median(w.is_bps for w in with_m), 3),
        },
        "is_cost_of_monitors_bps": {
            "mean": round(statistics.mean(diffs), 3),
            "stderr": round(statistics.stdev(diffs) / n**0.5, 3) if n > 1 else None,
            "max": round(max(diffs), 3),
        },
        "episodes_with_actions": touched,
        "actions_by_code": dict(codes.most_common()),
        "held_back_shares": sum(w.held_back for w in with_m),
        "unfilled_shares_with_monitors": sum(
            s.quantity - w.filled for s, w in zip(specs, with_m, strict=True)
        ),
        "loosenings": sum(w.loosenings for w in with_m),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
