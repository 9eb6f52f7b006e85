"""The process's heap after start-up, out of the cyclic garbage collector's way.

What `Service.start` builds — the ONNX session, the settings, the recovered state, every module
the libraries imported, ~85,000 tracked objects — lives as long as the process, yet CPython's
full (generation 2) collection walks all of it whenever it runs: 38 ms for a started service on
this machine, on the one thread that also reads the market data and sends the orders. A day's
fills, children and records make such collections happen while trading. `gc.freeze()` after
start-up moves those objects to a permanent generation the collector never walks (as
Instagram did for its web workers); what trading makes afterwards is collected as before. A
cycle among frozen objects that later becomes garbage is never reclaimed, which is acceptable
for objects built once at start.

A decision for the process, so the commands make it (`rlexec serve`, `rlexec demo`), not
`Service`: a test run that starts hundreds of services must not freeze each one's leftovers.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from rlexec.service.metrics import ServiceMetrics

log = logging.getLogger("rlexec.service")


class GcWatch:
    """Every cyclic collection's pause into `rlexec_service_gc_pause_seconds{generation}`."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._pauses = [metrics.gc_pause.labels(generation=str(g)) for g in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses[info["generation"]].observe(time.perf_counter() - self._started)

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def settle_heap(metrics: ServiceMetrics) -> GcWatch:
    """Collect once, freeze what is left, and watch every later collection's pause."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    metrics.gc_frozen.set(frozen)
    log.info("event=gc_frozen objects=%d seconds=%.3f", frozen, time.perf_counter() - started)
    watch = GcWatch(metrics)
    gc.callbacks.append(watch)
    return watch
