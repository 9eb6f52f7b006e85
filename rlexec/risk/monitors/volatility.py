"""1. Volatility forecast: HAR-style EWMAs of the feed's mid returns against the day's baseline.

Mid returns are sampled on a fixed grid (`vol_sample_s`); three EWMAs of the per-second
return variance (short, medium, long half-lives) are blended into a forecast, and σ_1m of
that forecast is compared with the day's baseline (the mean per-second variance since the
first sample, floored). Above `vol_start_ratio` × baseline the size multiplier falls as
start_ratio / ratio, rounded down to `vol_step`: 3× the baseline → size × 0.5.
"""

from __future__ import annotations

import math

from rlexec.risk.monitors.config import MonitorConfig
from rlexec.risk.monitors.latch import Kind
from rlexec.risk.monitors.sink import Sink

NAME = "volatility"
CODE = "VOL_REGIME"


class _SymbolVol:
    __slots__ = ("baseline_sum", "elapsed_s", "last_mid", "last_ns", "var")

    def __init__(self) -> None:
        self.last_mid = 0.0
        self.last_ns = 0
        self.var = [0.0, 0.0, 0.0]
        self.baseline_sum = 0.0
        self.elapsed_s = 0.0


class VolatilityMonitor:
    def __init__(self, config: MonitorConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.sample_ns = round(config.vol_sample_s * 1e9)
        self._state: dict[str, _SymbolVol] = {}

    def baseline_var_per_s(self, symbol: str) -> float:
        """The day's mean per-second variance of mid returns (bps²), floored; for MID_JUMP."""
        floor = self.config.vol_min_baseline_bps**2 / 60.0
        s = self._state.get(symbol)
        if s is None or s.elapsed_s <= 0:
            return floor
        return max(floor, s.baseline_sum / s.elapsed_s)

    def forecast_sigma_1m_bps(self, symbol: str) -> float:
        s = self._state.get(symbol)
        if s is None:
            return 0.0
        w = self.config.vol_weights
        return math.sqrt(60.0 * (w[0] * s.var[0] + w[1] * s.var[1] + w[2] * s.var[2]))

    def due_ns(self, symbol: str) -> int:
        """When `on_mid` next does anything for `symbol` (0: at the next mid): a caller may
        skip the calls before (`MonitorSet` does, on every market-data message)."""
        s = self._state.get(symbol)
        return 0 if s is None or s.last_ns == 0 else s.last_ns + self.sample_ns

    def on_mid(self, symbol: str, mid: float, now_ns: int) -> None:
        s = self._state.get(symbol)
        if s is None:
            s = self._state[symbol] = _SymbolVol()
        if s.last_ns == 0:
            s.last_mid, s.last_ns = mid, now_ns
            return
        if now_ns - s.last_ns < self.sample_ns:
            return
        dt = (now_ns - s.last_ns) / 1e9
        r = (mid - s.last_mid) / s.last_mid * 1e4
        per_s = r * r / dt
        for i, halflife in enumerate(self.config.vol_halflives_s):
            a = 1.0 - 0.5 ** (dt / halflife)
            s.var[i] += a * (per_s - s.var[i])
        s.baseline_sum += r * r
        s.elapsed_s += dt
        s.last_mid, s.last_ns = mid, now_ns
        self._evaluate(symbol, s, now_ns)

    def _evaluate(self, symbol: str, s: _SymbolVol, now_ns: int) -> None:
        c = self.config
        if s.elapsed_s < c.vol_warmup_s:
            return
        sigma = self.forecast_sigma_1m_bps(symbol)
        baseline = math.sqrt(60.0 * self.baseline_var_per_s(symbol))
        ratio = sigma / baseline
        if ratio <= c.vol_start_ratio:
            self.sink.want(NAME, symbol, Kind.SIZE, 1.0, CODE, "", now_ns)
            return
        level = math.floor(c.vol_start_ratio / ratio / c.vol_step) * c.vol_step
        level = max(c.vol_min_multiplier, level)
        reason = (
            f"{CODE}: sigma_1m={sigma:.1f}bps > {c.vol_start_ratio:g}×baseline={baseline:.1f}bps "
            f"(ratio {ratio:.2f}) → size×{level:g}"
        )
        self.sink.want(NAME, symbol, Kind.SIZE, level, CODE, reason, now_ns)
