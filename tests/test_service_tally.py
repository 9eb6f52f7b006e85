"""The scrape-time metric families agree with prometheus-client's own metrics, sample for sample."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rlexec.service.metrics import LATENCY_BUCKETS
from rlexec.service.tally import Tally


def samples(registry: CollectorRegistry, name: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for metric in registry.collect():
        if metric.name == name:
            out += [
                (s.name, s.labels, s.value)
                for s in metric.samples
                if not s.name.endswith("_created")
            ]
    return sorted(out, key=repr)


observations = st.lists(
    st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 0.1, allow_nan=False)), max_size=60
)


@given(observations)
def test_histogram_matches_prometheus_client(values: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    h = Tally(ours).histogram("x_seconds", "doc", LATENCY_BUCKETS)
    ref = Histogram("x_seconds", "doc", registry=theirs, buckets=LATENCY_BUCKETS)
    for v in values:
        h.observe(v)
        ref.observe(v)
    a, b = samples(ours, "x_seconds"), samples(theirs, "x_seconds")
    assert [s[:2] for s in a] == [s[:2] for s in b]
    assert all(x[2] == pytest.approx(y[2]) for x, y in zip(a, b, strict=True))


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 5)), max_size=30))
def test_labelled_counter_and_gauge_match_prometheus_client(incs: list[tuple[str, int]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    t = Tally(ours)
    c, g = t.counter("y_total", "doc", ["k"]), t.gauge("z", "doc", ["k"])
    rc = Counter("y_total", "doc", ["k"], registry=theirs)
    rg = Gauge("z", "doc", ["k"], registry=theirs)
    for key, n in incs:
        c.labels(k=key).inc(n)
        rc.labels(k=key).inc(n)
        g.labels(k=key).set(n)
        rg.labels(k=key).set(n)
    assert samples(ours, "y") == samples(theirs, "y")
    assert samples(ours, "z") == samples(theirs, "z")


def test_labels_are_checked_and_unlabelled_families_need_none() -> None:
    t = Tally(CollectorRegistry())
    c = t.counter("w_total", "doc", ["reason"])
    with pytest.raises(ValueError, match="labels must be reason"):
        c.labels(code="x")
    with pytest.raises(ValueError, match="has labels"):
        c.inc()
    plain = t.counter("v_total", "doc")
    plain.inc(3)
    assert plain.value() == 3
