"""Prometheus metrics of the overlay, computed when scraped so that a check costs nothing extra.

The overlay keeps plain integer counters; this collector turns them into
`rlexec_risk_checks_total`, `rlexec_risk_denials_total{reason}`, `rlexec_risk_state{state}`
(1 for the current state, 0 for the others), `rlexec_risk_kill_switch_persisted` (0 while a
tightening has not reached the store: a restart would undo it) and
`rlexec_risk_limit_utilisation_ratio{limit,symbol}` (used / limit: position, gross position,
daily loss, working orders, order and message rate, fills; `symbol` empty for global limits).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rlexec.risk.decision import Reason
from rlexec.risk.killswitch import KillState

_PERSISTED_HELP = "1 if the kill switch's state is saved in its store, 0 while a save is retried"


class _Observed(Protocol):
    n_checks: int
    n_approved: int
    n_cancels: int
    n_fills: int
    n_store_errors: int

    @property
    def denials(self) -> Mapping[Reason, int]: ...

    @property
    def state(self) -> KillState: ...

    @property
    def kill_persisted(self) -> bool: ...

    def utilisation(self, now_ns: int | None = None) -> Iterable[tuple[str, str, float]]: ...


class RiskCollector(Collector):
    """Reads one overlay at scrape time."""

    def __init__(self, overlay: _Observed) -> None:
        self._overlay = overlay

    def describe(self) -> Iterable[Metric]:
        return [
            CounterMetricFamily("rlexec_risk_checks", "Pre-trade checks run"),
            CounterMetricFamily("rlexec_risk_approvals", "Pre-trade checks that approved"),
            CounterMetricFamily("rlexec_risk_denials", "Denials by reason", labels=["reason"]),
            CounterMetricFamily("rlexec_risk_cancels", "Cancels sent (counted, never blocked)"),
            CounterMetricFamily("rlexec_risk_fills", "Fills fed to the overlay"),
            CounterMetricFamily(
                "rlexec_risk_store_errors",
                "Kill-switch store saves that failed (an automatic trip, or a retry of an unsaved one)",
            ),
            GaugeMetricFamily("rlexec_risk_kill_switch_persisted", _PERSISTED_HELP),
            GaugeMetricFamily("rlexec_risk_state", "Kill-switch state", labels=["state"]),
            GaugeMetricFamily(
                "rlexec_risk_limit_utilisation_ratio",
                "Used / limit for each limit",
                labels=["limit", "symbol"],
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        o = self._overlay
        yield CounterMetricFamily("rlexec_risk_checks", "Pre-trade checks run", value=o.n_checks)
        yield CounterMetricFamily(
            "rlexec_risk_approvals", "Pre-trade checks that approved", value=o.n_approved
        )
        denials = CounterMetricFamily("rlexec_risk_denials", "Denials by reason", labels=["reason"])
        for reason in Reason:
            denials.add_metric([reason.value], o.denials.get(reason, 0))
        yield denials
        yield CounterMetricFamily(
            "rlexec_risk_cancels", "Cancels sent (counted, never blocked)", value=o.n_cancels
        )
        yield CounterMetricFamily("rlexec_risk_fills", "Fills fed to the overlay", value=o.n_fills)
        yield CounterMetricFamily(
            "rlexec_risk_store_errors",
            "Kill-switch store saves that failed (an automatic trip, or a retry of an unsaved one)",
            value=o.n_store_errors,
        )
        yield GaugeMetricFamily(
            "rlexec_risk_kill_switch_persisted",
            _PERSISTED_HELP,
            value=1.0 if o.kill_persisted else 0.0,
        )
        state = GaugeMetricFamily("rlexec_risk_state", "Kill-switch state", labels=["state"])
        current = o.state
        for s in KillState:
            state.add_metric([s.value], 1.0 if s is current else 0.0)
        yield state
        util = GaugeMetricFamily(
            "rlexec_risk_limit_utilisation_ratio",
            "Used / limit for each limit",
            labels=["limit", "symbol"],
        )
        for limit, symbol, ratio in o.utilisation():
            util.add_metric([limit, symbol], ratio)
        yield util
