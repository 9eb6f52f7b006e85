"""4. Loss trajectory: per-symbol realised + unrealised P&L from the monitor's own ledger of
fills marked at the mid; its slope and its drawdown tighten size, a deep loss moves the kill
switch to REDUCING — all before the overlay's hard daily-loss limit would halt."""

from __future__ import annotations

from collections import deque

from rlexec.market.orders import Side
from rlexec.risk.monitors.config import MonitorConfig
from rlexec.risk.monitors.latch import Kind
from rlexec.risk.monitors.sink import Sink

LOSS_SLOPE = "LOSS_SLOPE"
LOSS_DRAWDOWN = "LOSS_DRAWDOWN"
LOSS_REDUCE = "LOSS_REDUCE"
SAMPLE_NS = 1_000_000_000


class _Ledger:
    __slots__ = ("cash", "history", "last_sample", "mid", "peak", "position", "reduced")

    def __init__(self) -> None:
        self.position = 0
        self.cash = 0.0
        self.mid: float | None = None
        self.peak = 0.0
        self.history: deque[tuple[int, float]] = deque()
        self.last_sample = 0
        self.reduced = False


class LossMonitor:
    def __init__(self, config: MonitorConfig, sink: Sink, max_loss: float) -> None:
        self.config = config
        self.sink = sink
        self.max_loss = max_loss
        """Currency: the overlay's hard daily-loss limit unless the config names its own."""
        self.window_ns = round(config.loss_window_s * 1e9)
        self._ledgers: dict[str, _Ledger] = {}

    def _ledger(self, symbol: str) -> _Ledger:
        ledger = self._ledgers.get(symbol)
        if ledger is None:
            ledger = self._ledgers[symbol] = _Ledger()
        return ledger

    def pnl(self, symbol: str) -> float:
        """Realised + unrealised (at the last mid), in currency."""
        lg = self._ledger(symbol)
        mark = lg.mid if lg.mid is not None else 0.0
        return (lg.cash + lg.position * mark) / self.config.price_scale

    def on_fill(self, symbol: str, side: Side, qty: int, price: int, now_ns: int) -> None:
        lg = self._ledger(symbol)
        signed = qty if side is Side.BUY else -qty
        lg.position += signed
        lg.cash -= signed * price
        if lg.mid is None:
            lg.mid = float(price)
        self._evaluate(symbol, lg, now_ns, force=True)

    def on_mid(self, symbol: str, mid: float, now_ns: int) -> None:
        lg = self._ledgers.get(symbol)
        if lg is None:
            lg = self._ledger(symbol)
        lg.mid = mid
        if lg.position or lg.cash:
            self._evaluate(symbol, lg, now_ns, force=False)

    def _evaluate(self, symbol: str, lg: _Ledger, now_ns: int, force: bool) -> None:
        if not force and now_ns - lg.last_sample < SAMPLE_NS:
            return
        lg.last_sample = now_ns
        c = self.config
        pnl = self.pnl(symbol)
        lg.peak = max(lg.peak, pnl)
        history = lg.history
        history.append((now_ns, pnl))
        while len(history) > 1 and history[1][0] <= now_ns - self.window_ns:
            history.popleft()
        limit = self.max_loss
        if pnl < -c.loss_reduce_fraction * limit and not lg.reduced:
            lg.reduced = True
            self.sink.reduce("loss_trajectory", symbol, LOSS_REDUCE,
                             f"{LOSS_REDUCE}: pnl={pnl:.0f} < -{c.loss_reduce_fraction:g}×"
                             f"max_daily_loss={limit:.0f} → kill switch REDUCING", now_ns)  # fmt: skip
        drawdown = lg.peak - pnl
        if drawdown > c.loss_drawdown_fraction * limit:
            reason = (f"{LOSS_DRAWDOWN}: drawdown={drawdown:.0f} > {c.loss_drawdown_fraction:g}×"
                      f"max_daily_loss={limit:.0f} → size×{c.loss_multiplier:g}")  # fmt: skip
            self.sink.want("loss_drawdown", symbol, Kind.SIZE, c.loss_multiplier, LOSS_DRAWDOWN,
                           reason, now_ns)  # fmt: skip
        else:
            self.sink.want("loss_drawdown", symbol, Kind.SIZE, 1.0, LOSS_DRAWDOWN, "", now_ns)
        t0, p0 = history[0]
        span = (now_ns - t0) / 1e9
        slope = (pnl - p0) / span if span >= c.loss_window_s / 2 else 0.0
        projected = pnl + slope * c.loss_horizon_s
        if slope < 0 and projected < -c.loss_slope_fraction * limit:
            reason = (f"{LOSS_SLOPE}: pnl={pnl:.0f} slope={slope:.1f}/s → {projected:.0f} in "
                      f"{c.loss_horizon_s:g}s < -{c.loss_slope_fraction:g}×max_daily_loss="
                      f"{limit:.0f} → size×{c.loss_multiplier:g}")  # fmt: skip
            self.sink.want("loss_slope", symbol, Kind.SIZE, c.loss_multiplier, LOSS_SLOPE, reason,
                           now_ns)  # fmt: skip
        else:
            self.sink.want("loss_slope", symbol, Kind.SIZE, 1.0, LOSS_SLOPE, "", now_ns)
