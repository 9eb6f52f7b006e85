"""The heap a started service keeps for good is frozen out of the cyclic collector's walks, and
every later collection's pause is measured (`rlexec.service.heap`)."""

from __future__ import annotations

import gc
import weakref

from prometheus_client import CollectorRegistry

from rlexec.service.heap import settle_heap
from rlexec.service.metrics import ServiceMetrics


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _pauses(registry: CollectorRegistry, generation: int) -> float | None:
    labels = {"generation": str(generation)}
    return registry.get_sample_value("rlexec_service_gc_pause_seconds_count", labels)


def test_settling_collects_then_freezes_what_lives_and_times_later_collections() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    assert [_pauses(registry, g) for g in range(3)] == [0.0, 0.0, 0.0]  # exported from zero
    kept = [Node() for _ in range(20_000)]  # what start-up built and keeps
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    gc.disable()  # no collection but the ones this test asks for
    try:
        watch = settle_heap(metrics)
        try:
            assert gone() is None  # collected first, not frozen with the rest
            frozen = gc.get_freeze_count()
            assert frozen >= len(kept)
            assert registry.get_sample_value("rlexec_service_gc_frozen_objects") == frozen
            later = Node()
            later_ref = weakref.ref(later)
            del later
            assert gc.collect() >= 1 and later_ref() is None  # made since: collected as before
            assert _pauses(registry, 2) == 1.0
            total = registry.get_sample_value(
                "rlexec_service_gc_pause_seconds_sum", {"generation": "2"}
            )
            assert total is not None and total > 0
            gc.collect(0)
            assert _pauses(registry, 0) == 1.0
        finally:
            watch.stop()
            gc.unfreeze()
    finally:
        gc.enable()
    assert watch not in gc.callbacks
    gc.collect()
    assert _pauses(registry, 2) == 1.0  # stopped: no longer watched
