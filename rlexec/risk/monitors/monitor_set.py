"""The monitors as one object the service feeds and asks: size multiplier, pause, trust.

Every detector only *offers* levels; the set keeps one `Latch` per (monitor, symbol, kind),
so the tighten-at-once / lift-after-clear rule lives in one place. A symbol's effective
posture is the tightest of its latches and of a person's override: the multiplier is the
minimum (never above 1), a pause or a distrust from any source wins. A person can only
override towards safety. The overlay is touched through its public API alone: its hard
daily-loss limit is read, and `reduce` moves the kill switch to REDUCING (never back).

Logging is queued on the event path and written by `on_time` (the service's timer), so no
log I/O sits between market-data bytes in and order bytes out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.orders import Side
from rlexec.risk import KillState, RiskError, RiskOverlay
from rlexec.risk.monitors.anomalies import AnomalyMonitor
from rlexec.risk.monitors.config import MonitorConfig, MonitorConfigError
from rlexec.risk.monitors.latch import Kind, Latch, MonitorAction
from rlexec.risk.monitors.loss import LossMonitor
from rlexec.risk.monitors.trust import TrustMonitor
from rlexec.risk.monitors.volatility import VolatilityMonitor

log = logging.getLogger("rlexec.risk.monitors")
Key = tuple[str, str, Kind]
HISTORY = 10_000


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.level = Gauge(
            "rlexec_risk_monitor_level",
            "Each monitor's latched level per symbol and kind: 1 clear, <1 size scaled, 0 paused/distrusted.",
            ["monitor", "symbol", "kind"], registry=registry,
        )  # fmt: skip
        self.actions = Counter(
            "rlexec_risk_monitor_actions_total",
            "Monitor actions by reason code (tightened: true, lifted after the clear time: false).",
            ["monitor", "code", "tightened"], registry=registry,
        )  # fmt: skip
        self.multiplier = Gauge(
            "rlexec_risk_monitor_size_multiplier",
            "Effective child-order size and participation multiplier per symbol (≤ 1).",
            ["symbol"], registry=registry,
        )  # fmt: skip
        self.paused = Gauge("rlexec_risk_monitor_paused",
                            "1 when the monitors pause new orders for the symbol.", ["symbol"],
                            registry=registry)  # fmt: skip
        self.distrusted = Gauge("rlexec_risk_monitor_policy_distrusted",
                                "1 when the RL algo falls back to its schedule for the symbol.",
                                ["symbol"], registry=registry)  # fmt: skip


class MonitorSet:
    def __init__(
        self,
        config: MonitorConfig,
        symbols: Iterable[str],
        *,
        overlay: RiskOverlay | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.symbols = list(symbols)
        self.overlay = overlay
        max_loss = config.max_daily_loss
        if max_loss is None and overlay is not None:
            max_loss = overlay.limits.max_daily_loss
        if max_loss is None:
            raise MonitorConfigError("monitors.max_daily_loss: required without an overlay")
        self.metrics = MonitorMetrics(registry if registry is not None else CollectorRegistry())
        self.volatility = VolatilityMonitor(config, self)
        self.anomalies = AnomalyMonitor(config, self, self.volatility.baseline_var_per_s)
        self.trust = TrustMonitor(config, self)
        self.loss = LossMonitor(config, self, max_loss)
        self._vol_due: dict[str, int] = {}
        """Symbol → `volatility.due_ns`: the calls before it would do nothing."""
        self._latches: dict[Key, Latch] = {}
        self._wanted: dict[Key, tuple[float, str, str]] = {}
        self._reasons: dict[Key, str] = {}
        self._multiplier: dict[str, float] = {}
        self._paused: set[str] = set()
        self._distrusted: set[str] = set()
        self._override: dict[str, tuple[float, bool, bool]] = {}
        self.actions: deque[MonitorAction] = deque(maxlen=HISTORY)
        """Recent actions, oldest first (tightenings, lifts, kill-switch moves)."""
        self._unlogged: list[MonitorAction] = []
        self.early_lifts = 0
        """Lifts before their clear time: 0 by construction; tests and the bench check it."""
        for symbol in self.symbols:
            self._publish(symbol)

    # -- what the service asks -------------------------------------------------------------

    def multiplier(self, symbol: str) -> float:
        return self._multiplier.get(symbol, 1.0)

    def paused(self, symbol: str) -> bool:
        return symbol in self._paused

    def trusted(self, symbol: str) -> bool:
        return symbol not in self._distrusted

    def scale(self, symbol: str, quantity: int) -> int:
        """`quantity` × the multiplier, rounded down to whole lots; never more, 0 when paused.

        A multiplier above 0 slows a parent and never starves it: the result is at least one
        lot, or the whole of a smaller quantity, so that a parent's last odd lot still goes
        out. Stopping is what a pause (or a multiplier of 0) is for."""
        if symbol in self._paused:
            return 0
        m = self._multiplier.get(symbol, 1.0)
        if m >= 1.0:
            return quantity
        if m <= 0.0:
            return 0
        lot = self.config.lot_size
        scaled = int(quantity * m)
        return min(quantity, max(scaled - scaled % lot, lot))

    def reasons(self, symbol: str) -> list[str]:
        """The reasons of every latch currently holding the symbol below 1."""
        return [
            self._reasons.get(key, "")
            for key, latch in self._latches.items()
            if key[1] == symbol and latch.level < 1.0
        ]

    # -- what the service feeds ------------------------------------------------------------

    def on_book(self, symbol: str, book: L2Book, now_ns: int) -> None:
        # Every market-data message: the touch is read once here for all three monitors.
        bids, asks = book.bid_prices, book.ask_prices
        bid = bids[-1] if bids else None
        ask = asks[0] if asks else None
        if bid is not None and ask is not None:
            mid = (bid + ask) / 2
            if now_ns >= self._vol_due.get(symbol, 0):  # its next sample (1 s apart by default)
                self.volatility.on_mid(symbol, mid, now_ns)
                self._vol_due[symbol] = self.volatility.due_ns(symbol)
            self.loss.on_mid(symbol, mid, now_ns)
        self.anomalies.on_touch(symbol, book, bid, ask, now_ns)

    def on_trade(self, symbol: str, trade: Trade, now_ns: int) -> None:
        self.anomalies.on_trade(symbol, trade, now_ns)

    def on_fill(self, symbol: str, side: Side, qty: int, price: int, now_ns: int) -> None:
        self.loss.on_fill(symbol, side, qty, price, now_ns)

    def on_drift(self, scores: Mapping[str, float], now_ns: int) -> None:
        self.trust.on_drift(self.symbols, scores, now_ns)

    def on_action(self, symbol: str, index: int | None, now_ns: int) -> None:
        self.trust.on_action(symbol, index, now_ns)

    def on_parent_done(self, symbol: str, is_bps: float, now_ns: int) -> None:
        self.trust.on_parent_done(symbol, is_bps, now_ns)

    def on_time(self, now_ns: int) -> None:
        """The timer: stale feeds, lifts that came due without an event, the log."""
        self.anomalies.on_time(now_ns)
        for key, (level, code, reason) in list(self._wanted.items()):
            latch = self._latches[key]
            old = latch.level
            if old < level and latch.update(level, now_ns):
                self._changed(key, latch, old, code, reason, now_ns)
        self.flush_log()

    def flush_log(self) -> None:
        pending, self._unlogged = self._unlogged, []
        for action in pending:
            (log.warning if action.tightened else log.info)(action.log_line())

    # -- a person, towards safety only -----------------------------------------------------

    def override(
        self, symbol: str, who: str, why: str, now_ns: int, *,
        multiplier: float | None = None, pause: bool = False, distrust: bool = False,
    ) -> None:  # fmt: skip
        """Tighten a symbol by hand; never loosens a monitor's latch (or an earlier override)."""
        if not who.strip() or not why.strip():
            raise ValueError("an override needs who and why")
        if multiplier is not None and not 0.0 <= multiplier <= 1.0:
            raise ValueError(f"override multiplier={multiplier} must be within [0, 1]")
        m, p, d = self._override.get(symbol, (1.0, False, False))
        new = (min(m, 1.0 if multiplier is None else multiplier), p or pause, d or distrust)
        self._override[symbol] = new
        reason = (f"OPERATOR: who={who} why={why!r} → size×{new[0]:g} pause={new[1]} "
                  f"distrust={new[2]}")  # fmt: skip
        self._record(MonitorAction(now_ns, "operator", symbol, "OPERATOR", "override", new[0],
                                   True, reason))  # fmt: skip
        self._publish(symbol)

    # -- Sink ------------------------------------------------------------------------------

    def want(
        self, monitor: str, symbol: str, kind: Kind, level: float, code: str, reason: str,
        now_ns: int,
    ) -> None:  # fmt: skip
        key = (monitor, symbol, kind)
        latch = self._latches.get(key)
        if latch is None:
            if level >= 1.0:
                return
            latch = self._latches[key] = Latch(self._clear_ns(monitor))
        self._wanted[key] = (level, code, reason)
        old = latch.level
        if latch.update(level, now_ns):
            self._changed(key, latch, old, code, reason, now_ns)

    def reduce(self, monitor: str, symbol: str, code: str, reason: str, now_ns: int) -> None:
        overlay = self.overlay
        self._record(MonitorAction(now_ns, monitor, symbol, code, "reduce", 0.0, True, reason))
        if overlay is None or overlay.state is not KillState.ACTIVE:
            return
        try:
            overlay.reduce(f"monitor:{monitor}", reason, now_ns)
        except RiskError as exc:  # took effect; only its save failed (a tightening goes first)
            log.error("event=monitor_reduce_not_saved error=%r", str(exc))

    # -- internals -------------------------------------------------------------------------

    def _clear_ns(self, monitor: str) -> int:
        c = self.config
        if monitor == "volatility":
            seconds = c.vol_clear_s
        elif monitor.startswith("policy_"):
            seconds = c.trust_clear_s
        elif monitor.startswith("loss_"):
            seconds = c.loss_clear_s
        else:
            seconds = c.anomaly_clear_s
        return round(seconds * 1e9)

    def _changed(
        self, key: Key, latch: Latch, old: float, code: str, reason: str, now_ns: int
    ) -> None:
        monitor, symbol, kind = key
        tightened = latch.level < old
        if tightened:
            self._reasons[key] = reason
        else:
            if now_ns - latch.set_ns < latch.clear_ns:
                self.early_lifts += 1
            reason = (f"{code}_CLEARED: clear for ≥{latch.clear_ns / 1e9:g}s → "
                      f"{kind.value}×{latch.level:g}")  # fmt: skip
        self.metrics.level.labels(monitor=monitor, symbol=symbol, kind=kind.value).set(latch.level)
        self._record(MonitorAction(now_ns, monitor, symbol, code, kind.value, latch.level,
                                   tightened, reason))  # fmt: skip
        self._publish(symbol)

    def _record(self, action: MonitorAction) -> None:
        self.actions.append(action)
        self._unlogged.append(action)
        self.metrics.actions.labels(monitor=action.monitor, code=action.code,
                                    tightened=str(action.tightened).lower()).inc()  # fmt: skip

    def _publish(self, symbol: str) -> None:
        m, paused, distrusted = self._override.get(symbol, (1.0, False, False))
        for (_, sym, kind), latch in self._latches.items():
            if sym != symbol or latch.level >= 1.0:
                continue
            if kind is Kind.SIZE:
                m = min(m, latch.level)
            elif kind is Kind.PAUSE:
                paused = True
            else:
                distrusted = True
        self._multiplier[symbol] = m
        (self._paused.add if paused else self._paused.discard)(symbol)
        (self._distrusted.add if distrusted else self._distrusted.discard)(symbol)
        self.metrics.multiplier.labels(symbol=symbol).set(m)
        self.metrics.paused.labels(symbol=symbol).set(1 if paused else 0)
        self.metrics.distrusted.labels(symbol=symbol).set(1 if distrusted else 0)
