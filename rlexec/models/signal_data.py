"""The signal's dataset: (features at t, mid(t + h) − mid(t) in bps) on one window of a day.

The features come from the very code the policy's observation uses: a `ParentExecution`
(a parent that never trades) over the in-process replay, its book and feature builder fed
the replay's market data. The replay starts at the window's start and never runs past its
end: no row outside the window is read, for features or for labels. Sample times are a
fixed grid with a seeded jitter inside each step, from `warmup_s` after the window start
(the features' windows have filled) to the window end minus the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rlexec.market.orders import Side
from rlexec.market.signal_features import SIGNAL_FEATURE_NAMES, SignalConfig, SignalFeatureBuilder
from rlexec.models.execution import ParentExecution
from rlexec.models.market_stats import Window
from rlexec.models.runner import replay_config
from rlexec.simulator.data import ReplayData
from rlexec.simulator.replay import MarketReplay

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class SignalDataset:
    ts_ns: npt.NDArray[np.int64]
    """Sample times t."""
    x: npt.NDArray[np.float64]
    """Raw features at t, `SIGNAL_FEATURE_NAMES` order (NaN where the book was one-sided)."""
    y: npt.NDArray[np.float64]
    """mid(t + horizon) − mid(t), bps of mid(t)."""
    horizon_s: float

    def __len__(self) -> int:
        return len(self.ts_ns)

    def between(self, start_ns: int, end_ns: int) -> SignalDataset:
        """Samples whose whole label interval [t, t + h] lies in [start_ns, end_ns]."""
        h = round(self.horizon_s * _NS)
        keep = (self.ts_ns >= start_ns) & (self.ts_ns + h <= end_ns)
        return SignalDataset(self.ts_ns[keep], self.x[keep], self.y[keep], self.horizon_s)


def sample_times(
    window: Window, horizon_s: float, step_s: float, warmup_s: float, seed: int
) -> list[int]:
    """One time per `step_s` with a uniform seeded jitter inside the step; every t + h inside
    the window."""
    if step_s <= 0 or horizon_s <= 0 or warmup_s < 0:
        raise ValueError("step_s and horizon_s must be positive, warmup_s non-negative")
    rng = np.random.default_rng(seed)
    step = round(step_s * _NS)
    first = window.start_ns + round(warmup_s * _NS)
    last = window.end_ns - round(horizon_s * _NS)
    if last <= first:
        raise ValueError(f"window {window} is too short for {warmup_s:g} s of warm-up and a "
                         f"{horizon_s:g} s horizon")  # fmt: skip
    grid = np.arange(first, last, step, dtype=np.int64)
    jitter = rng.integers(0, step, size=len(grid), dtype=np.int64)
    times = grid + jitter
    return [int(t) for t in times if t <= last]


def build(
    data: ReplayData,
    window: Window,
    horizon_s: float = 15.0,
    step_s: float = 1.0,
    warmup_s: float = 180.0,
    seed: int = 0,
    config: SignalConfig | None = None,
) -> SignalDataset:
    times = sample_times(window, horizon_s, step_s, warmup_s, seed)
    h = round(horizon_s * _NS)
    cfg = replay_config(tick_size=100).model_copy(update={"warmup_s": 0.0})
    replay = MarketReplay(data, cfg, start_ns=window.start_ns)
    ex = ParentExecution(
        replay, Side.BUY, 1, window.seconds, signal_features=config or SignalConfig()
    )
    features = ex.features
    assert isinstance(features, SignalFeatureBuilder)
    # The mid at each label end, read from the same replayed book as the features: walk
    # the sample times and their t + h in time order.
    events = sorted(
        [(t, 0, i) for i, t in enumerate(times)] + [(t + h, 1, i) for i, t in enumerate(times)]
    )
    x = np.full((len(times), len(SIGNAL_FEATURE_NAMES)), np.nan)
    start_mid = np.full(len(times), np.nan)
    end_mid = np.full(len(times), np.nan)
    for ts, kind, i in events:
        if ts > window.end_ns:
            raise AssertionError(f"sample time {ts} past the window end {window.end_ns}")
        ex.advance_to(ts)
        mid = ex.book.mid
        if kind == 0:
            x[i] = features.signal_vector(ts)
            start_mid[i] = np.nan if mid is None else mid
        else:
            end_mid[i] = np.nan if mid is None else mid
    y = (end_mid - start_mid) / start_mid * 1e4
    ok = np.isfinite(y)
    return SignalDataset(np.asarray(times, dtype=np.int64)[ok], x[ok], y[ok], horizon_s)
