"""Benchmark: what the price-move signal costs, per decision and per market-data event.

Per decision (the live service runs the signal only when an RL decision asks for an
observation), on real observations from the AAPL day (a replay to 11:00):
- `signal_vector_us`: `SignalFeatureBuilder.signal_vector(now)` (the 12 features);
- `predict_us`: `SignalModel.predict` (normalise into the preallocated buffer + one ONNX
  Runtime run, one thread) — the shipped signal;
- `adverse_us`: both together, as the observation adds them;
- `policy_decide_us`: the shipped policy's `OnnxPolicy.decide`, for scale.
Per event: `BookReplay` over the whole AAPL day with the policy's `FeatureBuilder` and with
`SignalFeatureBuilder` (`replay_s`, `replay_signal_s`): the signal's incremental features
are paid on every event, but only where a policy takes the signal.

gc is disabled in the timing loops. Medians of `--repeat` runs (each of `--calls` calls); one
JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from rlexec.market.book_replay import BookReplay
from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side
from rlexec.market.sample_data import default_data
from rlexec.market.signal_features import SignalFeatureBuilder
from rlexec.models.market_stats import Window
from rlexec.models.policy import OnnxPolicy
from rlexec.models.signal import SignalModel
from rlexec.models.signal_data import build
from rlexec.simulator.data import ReplayData


def per_call_us(fn: Callable[[int], object], calls: int) -> float:
    gc.disable()
    try:
        clock = time.perf_counter_ns
        samples = []
        for i in range(calls):
            t0 = clock()
            fn(i)
            samples.append(clock() - t0)
    finally:
        gc.enable()
    return statistics.median(samples) / 1e3


def replay_seconds(pair: LobsterPair, signal: bool) -> float:
    replay = BookReplay(pair)
    if signal:
        replay.features = SignalFeatureBuilder(replay.book)
    gc.disable()
    try:
        t0 = time.perf_counter()
        replay.run()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = ReplayData.load(args.data)
    ds = build(data, Window.parse("10:00-11:00"), step_s=5.0)
    rows = [list(map(float, r)) for r in ds.x]
    signal = SignalModel()
    policy = OnnxPolicy()
    # a builder in its steady state, to time signal_vector on
    replay = BookReplay(LobsterPair.from_message(Path(args.data)))
    features = SignalFeatureBuilder(replay.book, signal=signal.feature_config)
    replay.features = features
    for row in replay:
        if row[0] >= 39_600 * 1_000_000_000:
            break
    now = features.now_ns
    observation = [0.0] * len(policy.feature_names)
    runs: dict[str, list[float]] = {k: [] for k in (
        "signal_vector_us", "predict_us", "adverse_us", "policy_decide_us",
        "replay_s", "replay_signal_s",
    )}  # fmt: skip
    pair = LobsterPair.from_message(Path(args.data))
    for _ in range(args.repeat):
        runs["signal_vector_us"].append(
            per_call_us(lambda i: features.signal_vector(now), args.calls)
        )
        runs["predict_us"].append(
            per_call_us(lambda i: signal.predict(rows[i % len(rows)]), args.calls)
        )
        runs["adverse_us"].append(
            per_call_us(lambda i: signal.adverse_bps(features, Side.BUY, now), args.calls)
        )
        runs["policy_decide_us"].append(
            per_call_us(lambda i: policy.decide(observation), args.calls)
        )
        runs["replay_s"].append(replay_seconds(pair, signal=False))
        runs["replay_signal_s"].append(replay_seconds(pair, signal=True))
    out: dict[str, object] = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    out["replay_overhead_ratio"] = round(
        statistics.median(runs["replay_signal_s"]) / statistics.median(runs["replay_s"]), 3
    )
    out["signal_model"] = {"family": json.loads(signal.metadata["rlexec.training"])["family"],
                           "sha256": signal.sha256[:16]}  # fmt: skip
    out["calls"], out["repeat"] = args.calls, args.repeat
    print(json.dumps(out))


if __name__ == "__main__":
    main()
