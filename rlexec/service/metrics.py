"""The live service's own Prometheus metrics (`rlexec_service_*`); the gateway's and the risk
overlay's register on the same registry, so one `/metrics` shows the whole process.

Everything on the decision path is a pre-bound child (no `labels()` lookup per event).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rlexec.models.contract import ACTIONS, Tactic

LATENCY_BUCKETS = (
    10e-6, 20e-6, 30e-6, 40e-6, 50e-6, 60e-6, 80e-6, 100e-6, 150e-6, 200e-6, 300e-6,
    500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3,
)  # fmt: skip
"""Seconds: resolves 10–500 µs, where the tick-to-order path lives."""


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "rlexec_service_"
        self.tick_to_order = Histogram(
            p + "tick_to_order_seconds",
            "Market-data message received to the child order's bytes handed to the socket.",
            registry=registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.inference = Histogram(
            p + "policy_inference_seconds",
            "One ONNX policy evaluation (normalise + run + argmax).",
            registry=registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        decisions = Counter(
            p + "decisions_total", "Algo decisions, by algo and the tactic the policy chose.",
            ["algo", "tactic"], registry=registry,
        )  # fmt: skip
        self.decisions = decisions
        self.decisions_by_tactic = {t: decisions.labels(algo="rl", tactic=t.value) for t in Tactic}
        self.decision_schedule = {
            a: decisions.labels(algo=a, tactic="schedule")
            for a in ("twap", "vwap", "pov", "ac", "sal")
        }
        self.actions = Counter(
            p + "policy_actions_total", "Policy actions by index (see the model's action table).",
            ["action"], registry=registry,
        )  # fmt: skip
        self.action_children = [self.actions.labels(action=str(i)) for i in range(len(ACTIONS))]
        fallbacks = Counter(
            p + "policy_fallbacks_total",
            "Decisions where the policy gave no valid answer and the algo used its schedule.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.fallback_invalid = fallbacks.labels(reason="invalid_output")
        self.imputed = Counter(
            p + "features_imputed_total",
            "Policy input features that were not finite and were imputed at their training mean.",
            registry=registry,
        )  # fmt: skip
        orders = Counter(
            p + "child_orders_total", "Child-order messages sent, by kind.", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.sent_new = orders.labels(kind="new")
        self.sent_replace = orders.labels(kind="replace")
        self.sent_cancel = orders.labels(kind="cancel")
        self.send_failures = Counter(
            p + "send_failures_total", "Orders rolled back because the send failed.",
            registry=registry,
        )  # fmt: skip
        self.risk_denied = Counter(
            p + "risk_denials_total", "Child orders the risk overlay denied, by reason.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.fills = Counter(p + "fills_total", "Fills received.", registry=registry)
        self.filled_shares = Counter(
            p + "filled_shares_total", "Shares filled, by symbol and algo.", ["symbol", "algo"],
            registry=registry,
        )  # fmt: skip
        self.rejects = Counter(p + "rejects_total", "Child orders rejected by the venue.",
                               registry=registry)  # fmt: skip
        self.alerts = Counter(
            p + "alerts_total", "OMS alerts (overfill, unknown order, missed fill...).", ["code"],
            registry=registry,
        )  # fmt: skip
        self.parents = Gauge(p + "parents", "Parent orders by state.", ["state"],
                             registry=registry)  # fmt: skip
        self.is_bps = Gauge(
            p + "shortfall_bps", "Implementation shortfall so far of working and finished parents "
            "(filled part, bps of arrival mid, + = cost), by symbol and algo.",
            ["symbol", "algo"], registry=registry,
        )  # fmt: skip
        self.md_age = Gauge(
            p + "market_data_age_seconds", "Time since the symbol's book last changed.",
            ["symbol"], registry=registry,
        )  # fmt: skip
        self.md_stale = Gauge(
            p + "market_data_stale", "1 while the symbol's book is not trusted (gap, silence).",
            ["symbol"], registry=registry,
        )  # fmt: skip
        self.md_messages = Counter(
            p + "market_data_updates_total", "Book updates applied, by symbol.", ["symbol"],
            registry=registry,
        )  # fmt: skip
