"""Dynamic risk: monitors that read the overlay's events and can only tighten.

    monitors = MonitorSet(load_monitor_config(values), symbols, overlay=overlay, registry=reg)
    monitors.on_book(symbol, book, now_ns); monitors.on_trade(...); monitors.on_fill(...)
    monitors.on_time(now_ns)                       # the timer: stale feed, lifts, log lines
    qty = monitors.scale(symbol, qty)              # ≤ qty; 0 when the symbol is paused
    monitors.trusted(symbol)                       # False: the RL algo uses its schedule

Outputs are tightenings only: a size multiplier in [0, 1] per symbol, a pause, a distrust,
or the kill switch moved to REDUCING. Imports `rlexec.market` and `rlexec.risk`'s public API.
"""

from rlexec.risk.monitors.config import MonitorConfig, MonitorConfigError, load_monitor_config
from rlexec.risk.monitors.latch import Kind, Latch, MonitorAction
from rlexec.risk.monitors.monitor_set import MonitorSet

__all__ = [
    "Kind",
    "Latch",
    "MonitorAction",
    "MonitorConfig",
    "MonitorConfigError",
    "MonitorSet",
    "load_monitor_config",
]
