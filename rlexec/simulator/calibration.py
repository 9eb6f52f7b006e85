"""What the simulator's models are calibrated on, measured from a LOBSTER day and a window.

Two measurements, both deterministic functions of (data, window):

- `impact_inputs`: the volatility σ and volume V the square-root impact law is scaled by
  (impact.py). Both are measured over the window and stated per trading day: realised
  variance of the mid sampled every `sample_s` seconds and executed shares (visible and
  hidden), each scaled by session length / window length. Only the ratio matters to the
  law (σ·√(Q/V) is the same per day or per window), so the choice of unit is cosmetic.
  V is the data's own venue volume (LOBSTER is Nasdaq only), which is the liquidity the
  simulated market has; consolidated volume would be 3–4× larger and impact ~half.
- `depth_profile`: how far levels 2…N sit from level 1 (ticks) and how large they are
  against level 1, from any file with more than one level; the defaults in `DepthConfig`
  are this measured on AMZN's level-5 sample over the training window (command below).

    python -m rlexec.simulator.calibration depth \\
        ../shared/data/lobster/AMZN_2012-06-21_34200000_57600000_message_5.csv.gz \\
        --window 09:35-13:00
    python -m rlexec.simulator.calibration impact <message file> --window 09:35-13:00
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.errors import RlexecError
from rlexec.market.lobster import EXECUTE, EXECUTE_HIDDEN
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue_config import parse_time_of_day

_NS = 1_000_000_000


class TimeWindow(Protocol):
    """Anything with a start and an end in nanoseconds after midnight (models' `Window` is one)."""

    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...


WindowLike = TimeWindow | tuple[int, int] | str
"""A `TimeWindow`, (start_ns, end_ns), or 'HH:MM-HH:MM'."""


def window_bounds(data: ReplayData, window: WindowLike | None) -> tuple[int, int]:
    """(start_ns, end_ns) of a window, the whole session for None; refuses an empty one."""
    if window is None:
        start, end = data.start_ns, data.end_ns
    elif isinstance(window, str):
        start, end = parse_window(window)
    elif isinstance(window, tuple):
        start, end = window
    else:
        start, end = window.start_ns, window.end_ns
    if end <= start:
        raise ValueError(f"window {start}..{end} ns is empty")
    return start, end


def parse_window(text: str) -> tuple[int, int]:
    """'HH:MM-HH:MM' (seconds allowed) as nanoseconds after midnight."""
    try:
        a, b = text.split("-")
        start, end = parse_time_of_day(a.strip()), parse_time_of_day(b.strip())
    except ValueError:
        raise ValueError(f"window {text!r} is not HH:MM-HH:MM") from None
    if end <= start:
        raise ValueError(f"window {text!r} ends before it starts")
    return start, end


# -- impact ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImpactInputs:
    daily_sigma: float
    """Volatility of the mid over one session, as a fraction of price."""
    daily_volume: float
    """Executed shares (visible + hidden) over one session."""
    reference_price: int
    """Mean mid over the window, in 1e-4 units: converts impact fractions to ticks."""
    window: tuple[int, int]
    session_s: float
    sample_s: float
    returns: int
    """Mid returns behind the σ estimate."""


def impact_inputs(
    data: ReplayData, window: WindowLike | None = None, sample_s: float = 60.0
) -> ImpactInputs:
    """σ and V per session from the window alone (nothing after it is read)."""
    start, end = window_bounds(data, window)
    ts = np.asarray(data.ts_ns, dtype=np.int64)
    book = np.asarray(data.book, dtype=np.int64).reshape(-1, data.width)
    ask, bid = book[:, 0], book[:, 2]
    two_sided = (book[:, 1] > 0) & (book[:, 3] > 0)
    mid = (ask + bid) / 2.0
    grid = np.arange(start, end + 1, round(sample_s * _NS), dtype=np.int64)
    rows = np.searchsorted(ts, grid, side="right") - 1
    rows = rows[(rows >= 0) & two_sided[np.maximum(rows, 0)]]
    if len(rows) < 3:
        raise ValueError(
            f"window {start}..{end} ns has {len(rows)} two-sided mid samples every "
            f"{sample_s} s; at least 3 are needed for a volatility"
        )
    sampled = mid[rows]
    returns = np.diff(np.log(sampled))
    window_s = (end - start) / _NS
    session_s = (data.end_ns - data.start_ns) / _NS
    if session_s <= 0:
        raise ValueError(f"{data.source or data.symbol}: the session has no length")
    scale = session_s / window_s
    et = np.asarray(data.event_type)
    inside = (ts >= start) & (ts < end) & ((et == EXECUTE) | (et == EXECUTE_HIDDEN))
    volume = float(np.asarray(data.size, dtype=np.float64)[inside].sum())
    if volume <= 0:
        raise ValueError(f"window {start}..{end} ns has no executions to estimate volume from")
    return ImpactInputs(
        daily_sigma=math.sqrt(float(np.sum(returns**2)) * scale),
        daily_volume=volume * scale,
        reference_price=round(float(sampled.mean())),
        window=(start, end),
        session_s=session_s,
        sample_s=sample_s,
        returns=len(returns),
    )


# -- depth -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthProfile:
    """Levels 2…N against level 1, both sides pooled (one day cannot tell the sides apart)."""

    distance_ticks_mean: tuple[float, ...]
    """Mean distance of level k (k = 2…N) from level 1, in ticks."""
    distance_ticks_median: tuple[float, ...]
    size_ratio: tuple[float, ...]
    """Mean size at level k / mean size at level 1 (a ratio of means: robust to a tiny level 1)."""
    size_ratio_median: tuple[float, ...]
    """Median over rows of size k / size 1, for reference."""
    level1_mean_size: float
    rows: int
    window: tuple[int, int]

    def ticks(self) -> tuple[int, ...]:
        """Mean distances rounded to whole ticks, strictly increasing (what `DepthConfig` takes)."""
        out: list[int] = []
        for d in self.distance_ticks_mean:
            out.append(max(round(d), out[-1] + 1 if out else 1))
        return tuple(out)


def depth_profile(
    data: ReplayData, window: WindowLike | None = None, tick_size: int = 100
) -> DepthProfile:
    """Gaps and sizes of the stored levels beyond the first, over the window's rows."""
    if data.levels < 2:
        raise ValueError(
            f"{data.source or data.symbol}: a level-{data.levels} file has no levels beyond "
            "the first to measure; use a deeper file (e.g. AMZN ..._orderbook_5)"
        )
    start, end = window_bounds(data, window)
    ts = np.asarray(data.ts_ns, dtype=np.int64)
    whole = np.asarray(data.book, dtype=np.int64).reshape(-1, data.width)
    book = whole[(ts >= start) & (ts < end)]
    if not len(book):
        raise ValueError(f"window {start}..{end} ns holds no rows")
    dist: list[list[npt.NDArray[Any]]] = [[] for _ in range(data.levels - 1)]
    size: list[list[npt.NDArray[Any]]] = [[] for _ in range(data.levels)]
    ratio: list[list[npt.NDArray[Any]]] = [[] for _ in range(data.levels - 1)]
    for first, empty, sign in ((0, LOBSTER_EMPTY_ASK, 1), (2, LOBSTER_EMPTY_BID, -1)):
        prices = book[:, first::4]
        sizes = book[:, first + 1 :: 4]
        real = (sizes > 0) & (prices != empty)
        size[0].append(sizes[real[:, 0], 0])
        for k in range(1, data.levels):
            both = real[:, 0] & real[:, k]
            dist[k - 1].append(sign * (prices[both, k] - prices[both, 0]) / tick_size)
            size[k].append(sizes[real[:, k], k])
            ratio[k - 1].append(sizes[both, k] / sizes[both, 0])
    level1 = float(np.concatenate(size[0]).mean())
    return DepthProfile(
        distance_ticks_mean=tuple(float(np.concatenate(d).mean()) for d in dist),
        distance_ticks_median=tuple(float(np.median(np.concatenate(d))) for d in dist),
        size_ratio=tuple(float(np.concatenate(s).mean()) / level1 for s in size[1:]),
        size_ratio_median=tuple(float(np.median(np.concatenate(r))) for r in ratio),
        level1_mean_size=level1,
        rows=len(book),
        window=(start, end),
    )


# -- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlexec.simulator.calibration",
        description="Measure the simulator's calibration inputs from a LOBSTER file (JSON out).",
    )
    parser.add_argument("what", choices=("depth", "impact"))
    parser.add_argument("data", help="LOBSTER message file (the orderbook file is found beside it)")
    parser.add_argument("--window", help="HH:MM-HH:MM (default: the whole session)")
    parser.add_argument("--tick", type=int, default=100, help="tick size in 1e-4 units")
    args = parser.parse_args(argv)
    try:
        window = parse_window(args.window) if args.window else None
        data = ReplayData.load(args.data)
        result: dict[str, object]
        if args.what == "depth":
            profile = depth_profile(data, window, args.tick)
            result = {**asdict(profile), "ticks": profile.ticks()}
        else:
            result = asdict(impact_inputs(data, window))
    except (OSError, ValueError, RlexecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result["data"] = data.source
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
