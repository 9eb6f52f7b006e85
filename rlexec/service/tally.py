"""Metric families that cost an attribute increment on the hot path and are read at scrape time.

prometheus-client's own metrics take a lock on every `inc`/`observe` (about a microsecond
each), and a decision touches a dozen of them. The service is one asyncio thread, so its
counters, gauges and histograms here are plain numbers; `TallyCollector` turns them into
Prometheus families when `/metrics` is scraped — the pattern the risk overlay uses
(`risk/metrics.py`). Same interface as prometheus-client for what the service calls:
`inc`, `set`, `observe`, `labels(**values)`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

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


class Family:
    """A named metric with optional labels; unlabelled families act as their only child."""

    def __init__(
        self,
        kind: str,
        name: str,
        doc: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
    ) -> None:
        if kind not in ("counter", "gauge", "histogram"):
            raise ValueError(f"unknown metric kind {kind!r}")
        if kind == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]
        self.kind = kind
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        self.children: dict[tuple[str, ...], Value | Buckets] = {}
        self._default = self._new() if not self.labelnames else None

    def _new(self) -> Value | Buckets:
        return Buckets(self.buckets) if self.kind == "histogram" else Value()

    def labels(self, **values: str) -> Value | Buckets:
        key = tuple(str(values[n]) for n in self.labelnames)
        child = self.children.get(key)
        if child is None:
            if set(values) != set(self.labelnames):
                raise ValueError(f"{self.name}: labels must be {', '.join(self.labelnames)}")
            child = self.children[key] = self._new()
        return child

    def _only(self) -> Value | Buckets:
        if self._default is None:
            raise ValueError(f"{self.name} has labels: call labels() first")
        return self._default

    def inc(self, amount: float = 1) -> None:
        child = self._only()
        assert isinstance(child, Value)
        child.value += amount

    def set(self, value: float) -> None:
        child = self._only()
        assert isinstance(child, Value)
        child.value = value

    def observe(self, value: float) -> None:
        child = self._only()
        assert isinstance(child, Buckets)
        child.observe(value)

    def value(self, **labels: str) -> float:
        """The current value of a counter or gauge child (for tests and summaries)."""
        child = self.labels(**labels) if self.labelnames else self._only()
        assert isinstance(child, Value)
        return child.value

    def collect(self) -> Metric:
        items: list[tuple[tuple[str, ...], Value | Buckets]] = list(self.children.items())
        if self._default is not None:
            items.append(((), self._default))
        if self.kind == "histogram":
            hist = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
            for key, child in items:
                assert isinstance(child, Buckets)
                cumulative, running = [], 0
                for bound, n in zip((*child.bounds, float("inf")), child.counts, strict=True):
                    running += n
                    cumulative.append((_le(bound), float(running)))
                hist.add_metric(list(key), cumulative, child.sum)
            return hist
        family_type = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        fam = family_type(self.name, self.doc, labels=self.labelnames)
        for key, child in items:
            assert isinstance(child, Value)
            fam.add_metric(list(key), child.value)
        return fam


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class TallyCollector(Collector):
    def __init__(self, families: Sequence[Family]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.collect()


class Tally:
    """Creates families and registers them, once, with a registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families: list[Family] = []
        registry.register(TallyCollector(self.families))

    def counter(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> Family:
        return self._add(Family("counter", name, doc, labelnames))

    def gauge(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> Family:
        return self._add(Family("gauge", name, doc, labelnames))

    def histogram(
        self, name: str, doc: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> Family:
        return self._add(Family("histogram", name, doc, labelnames, buckets))

    def _add(self, family: Family) -> Family:
        self.families.append(family)
        return family
