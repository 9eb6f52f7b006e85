"""Metric families that cost an attribute increment on the hot path and are read at scrape time.

prometheus-client's own metrics take a lock on every `inc`/`observe` (about a microsecond
each), and a decision touches a dozen of them. The service is one asyncio thread, so its
counters, gauges and histograms here are plain numbers; `TallyCollector` turns them into
Prometheus families when `/metrics` is scraped — the pattern the risk overlay uses
(`risk/metrics.py`). Same interface as prometheus-client for what the service calls:
`inc`, `set`, `observe`, `labels(**values)`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry


class Value:
    """One counter or gauge child."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value


class Buckets:
    """One histogram child: counts per bucket (upper bounds inclusive, as Prometheus's `le`)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value


C = TypeVar("C", Value, Buckets)


class Family(ABC, Generic[C]):
    """A named metric with optional labels; unlabelled families act as their only child."""

    kind = ""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self.children: dict[tuple[str, ...], C] = {}
        self._default: C | None = self._new() if not self.labelnames else None

    @abstractmethod
    def _new(self) -> C:
        """A fresh child of this kind."""

    def labels(self, **values: str) -> C:
        key = tuple(str(values[n]) for n in self.labelnames if n in values)
        child = self.children.get(key)
        if child is None:
            if set(values) != set(self.labelnames):
                raise ValueError(f"{self.name}: labels must be {', '.join(self.labelnames)}")
            child = self.children[key] = self._new()
        return child

    def only(self) -> C:
        if self._default is None:
            raise ValueError(f"{self.name} has labels: call labels() first")
        return self._default

    def items(self) -> list[tuple[tuple[str, ...], C]]:
        items = list(self.children.items())
        if self._default is not None:
            items.append(((), self._default))
        return items


class ValueFamily(Family[Value]):
    """A counter or a gauge."""

    def __init__(self, kind: str, name: str, doc: str, labelnames: Sequence[str] = ()) -> None:
        if kind not in ("counter", "gauge"):
            raise ValueError(f"unknown metric kind {kind!r}")
        if kind == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]
        self.kind = kind
        super().__init__(name, doc, labelnames)

    def _new(self) -> Value:
        return Value()

    def inc(self, amount: float = 1) -> None:
        self.only().value += amount

    def set(self, value: float) -> None:
        self.only().value = value

    def value(self, **labels: str) -> float:
        """The current value (for tests and summaries)."""
        return (self.labels(**labels) if self.labelnames else self.only()).value

    def collect(self) -> Metric:
        family_type = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        fam = family_type(self.name, self.doc, labels=self.labelnames)
        for key, child in self.items():
            fam.add_metric(list(key), child.value)
        return fam


class HistogramFamily(Family[Buckets]):
    kind = "histogram"

    def __init__(
        self, name: str, doc: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        self.buckets = tuple(sorted(buckets))
        super().__init__(name, doc, labelnames)

    def _new(self) -> Buckets:
        return Buckets(self.buckets)

    def observe(self, value: float) -> None:
        self.only().observe(value)

    def collect(self) -> Metric:
        hist = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        for key, child in self.items():
            cumulative, running = [], 0
            for bound, n in zip((*child.bounds, math.inf), child.counts, strict=True):
                running += n
                cumulative.append((_le(bound), float(running)))
            hist.add_metric(list(key), cumulative, child.sum)
        return hist


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


class TallyCollector(Collector):
    def __init__(self, families: list[ValueFamily | HistogramFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.collect()


class Tally:
    """Creates families and registers them, once, with a registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families: list[ValueFamily | HistogramFamily] = []
        registry.register(TallyCollector(self.families))

    def counter(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> ValueFamily:
        family = ValueFamily("counter", name, doc, labelnames)
        self.families.append(family)
        return family

    def gauge(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> ValueFamily:
        family = ValueFamily("gauge", name, doc, labelnames)
        self.families.append(family)
        return family

    def histogram(
        self, name: str, doc: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> HistogramFamily:
        family = HistogramFamily(name, doc, buckets, labelnames)
        self.families.append(family)
        return family
