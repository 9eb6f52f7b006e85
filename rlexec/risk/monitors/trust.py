"""3. Model trust: feature drift, the policy's action mix and its realised IS, each against
what the model showed before it shipped; beyond a threshold the symbol's RL algo falls back
to its schedule (the latch's DISTRUST)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from rlexec.risk.monitors.config import MonitorConfig
from rlexec.risk.monitors.latch import Kind
from rlexec.risk.monitors.sink import Sink

POLICY_DRIFT = "POLICY_DRIFT"
POLICY_ACTIONS = "POLICY_ACTIONS"
POLICY_IS = "POLICY_IS"


class TrustMonitor:
    def __init__(self, config: MonitorConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self._actions: dict[str, deque[int | None]] = {}
        self._is_z: dict[str, deque[float]] = {}

    def on_drift(self, symbols: Iterable[str], scores: Mapping[str, float], now_ns: int) -> None:
        """Drift is per model: a drifted input distrusts the policy on every symbol it trades."""
        if not scores:
            return
        feature, worst = max(scores.items(), key=lambda kv: kv[1])
        limit = self.config.drift_max
        for symbol in symbols:
            if worst > limit:
                reason = (f"{POLICY_DRIFT}: feature={feature} drift={worst:.2f}σ > "
                          f"{limit:g}σ → schedule")  # fmt: skip
                self.sink.want("policy_drift", symbol, Kind.DISTRUST, 0.0, POLICY_DRIFT, reason,
                               now_ns)  # fmt: skip
            else:
                self.sink.want("policy_drift", symbol, Kind.DISTRUST, 1.0, POLICY_DRIFT, "",
                               now_ns)  # fmt: skip

    def on_action(self, symbol: str, index: int | None, now_ns: int) -> None:
        """One policy decision (None: it had no valid answer)."""
        c = self.config
        ref = c.action_reference
        if ref is None:
            return
        window = self._actions.get(symbol)
        if window is None:
            window = self._actions[symbol] = deque(maxlen=c.action_window)
        window.append(index)
        if len(window) < c.action_min:
            return
        counts = [0] * len(ref)
        for a in window:
            if a is not None and 0 <= a < len(ref):
                counts[a] += 1
        n = len(window)
        # invalid answers count as mass outside the reference distribution
        tv = 0.5 * (sum(abs(k / n - p) for k, p in zip(counts, ref, strict=True))
                    + (n - sum(counts)) / n)  # fmt: skip
        if tv > c.action_tv_max:
            reason = (f"{POLICY_ACTIONS}: total_variation={tv:.2f} over {n} actions > "
                      f"{c.action_tv_max:g} → schedule")  # fmt: skip
            self.sink.want("policy_actions", symbol, Kind.DISTRUST, 0.0, POLICY_ACTIONS, reason,
                           now_ns)  # fmt: skip
        else:
            self.sink.want("policy_actions", symbol, Kind.DISTRUST, 1.0, POLICY_ACTIONS, "",
                           now_ns)  # fmt: skip

    def on_parent_done(self, symbol: str, is_bps: float, now_ns: int) -> None:
        """A finished parent's realised IS (bps, positive = cost) against the backtest's."""
        c = self.config
        ref = c.is_reference_bps
        if ref is None:
            return
        mean, std = ref
        window = self._is_z.get(symbol)
        if window is None:
            window = self._is_z[symbol] = deque(maxlen=c.is_window)
        window.append((is_bps - mean) / std)
        if len(window) < c.is_window:
            return
        z = sum(window) / len(window)
        if z > c.is_z_max:
            reason = (f"{POLICY_IS}: mean z={z:.2f} of the last {len(window)} parents' IS vs "
                      f"backtest {mean:.1f}±{std:.1f}bps > {c.is_z_max:g} → schedule")  # fmt: skip
            self.sink.want("policy_is", symbol, Kind.DISTRUST, 0.0, POLICY_IS, reason, now_ns)
        else:
            self.sink.want("policy_is", symbol, Kind.DISTRUST, 1.0, POLICY_IS, "", now_ns)
