"""The live service's own Prometheus metrics (`rlexec_service_*`); the gateway's and the risk
overlay's register on the same registry, so one `/metrics` shows the whole process.

They are `tally` families — plain numbers read at scrape time, no lock per update — and
everything on the decision path is a pre-bound child (no `labels()` lookup per event).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from rlexec.models.contract import ACTIONS, Tactic
from rlexec.service.tally import Tally

LATENCY_BUCKETS = (
    10e-6, 20e-6, 30e-6, 40e-6, 50e-6, 60e-6, 80e-6, 100e-6, 150e-6, 200e-6, 300e-6,
    500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3,
)  # fmt: skip
"""Seconds: resolves 10–500 µs, where the tick-to-order path lives."""
GC_BUCKETS = (
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
)  # fmt: skip
"""Seconds: a young collection takes ~0.1 ms, a full one of a started service's heap ~40 ms."""
HOUSEKEEPING_STEPS = ("market", "audit", "drift", "day", "gauges", "monitors", "store")
"""The housekeeping timer's steps, each guarded on its own (`Service._housekeeping`): `market`
is one symbol's freshness and time-driven decisions, `day` the trading-day roll and archiving."""


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "rlexec_service_"
        t = Tally(registry)
        self.tick_to_order = t.histogram(
            p + "tick_to_order_seconds",
            "Market-data message received to the child order's bytes handed to the socket.",
            LATENCY_BUCKETS,
        )
        self.inference = t.histogram(
            p + "policy_inference_seconds",
            "One policy evaluation (normalise + forward pass + argmax), on the runtime "
            "rlexec_service_policy_compiled says.",
            LATENCY_BUCKETS,
        )
        decisions = t.counter(
            p + "decisions_total", "Algo decisions, by algo and the tactic the policy chose.",
            ["algo", "tactic"],
        )  # fmt: skip
        self.decisions = decisions
        self.decisions_by_tactic = {t: decisions.labels(algo="rl", tactic=t.value) for t in Tactic}
        self.decision_schedule = {
            a: decisions.labels(algo=a, tactic="schedule")
            for a in (
                "twap",
                "twap_inside",
                "passive_first",
                "vwap",
                "pov",
                "ac",
                "ac_neutral",
                "sal",
            )
        }
        self.actions = t.counter(
            p + "policy_actions_total", "Policy actions by index (see the model's action table).",
            ["action"],
        )  # fmt: skip
        self.action_children = [self.actions.labels(action=str(i)) for i in range(len(ACTIONS))]
        fallbacks = t.counter(
            p + "policy_fallbacks_total",
            "Decisions where the policy gave no valid answer and the algo used its schedule.",
            ["reason"],
        )  # fmt: skip
        self.fallback_invalid = fallbacks.labels(reason="invalid_output")
        self.fallback_distrusted = fallbacks.labels(reason="distrusted")
        self.imputed = t.counter(
            p + "features_imputed_total",
            "Policy input features that were not finite and were imputed at their training mean.",
        )  # fmt: skip
        orders = t.counter(
            p + "child_orders_total", "Child-order messages sent, by kind.", ["kind"],
        )  # fmt: skip
        self.sent_new = orders.labels(kind="new")
        self.sent_replace = orders.labels(kind="replace")
        self.sent_cancel = orders.labels(kind="cancel")
        self.send_failures = t.counter(
            p + "send_failures_total", "Orders rolled back because the send failed.",
        )  # fmt: skip
        self.risk_denied = t.counter(
            p + "risk_denials_total", "Child orders the risk overlay denied, by reason.",
            ["reason"],
        )  # fmt: skip
        self.fills = t.counter(p + "fills_total", "Fills received.")
        self.filled_shares = t.counter(
            p + "filled_shares_total", "Shares filled, by symbol and algo.", ["symbol", "algo"],
        )  # fmt: skip
        self.rejects = t.counter(p + "rejects_total", "Child orders rejected by the venue.")  # fmt: skip
        self.alerts = t.counter(
            p + "alerts_total", "OMS alerts (overfill, unknown order, missed fill...).", ["code"],
        )  # fmt: skip
        self.parents = t.gauge(p + "parents", "Parent orders by state.", ["state"])  # fmt: skip
        self.is_bps = t.gauge(
            p + "shortfall_bps", "Implementation shortfall so far of working and finished parents "
            "(filled part, bps of arrival mid, + = cost), by symbol and algo.",
            ["symbol", "algo"],
        )  # fmt: skip
        self.md_age = t.gauge(
            p + "market_data_age_seconds", "Time since the symbol's book last changed.",
            ["symbol"],
        )  # fmt: skip
        self.md_stale = t.gauge(
            p + "market_data_stale", "1 while the symbol's book is not trusted (gap, silence).",
            ["symbol"],
        )  # fmt: skip
        self.drift = t.gauge(
            p + "feature_drift_ratio",
            "Per policy input: |live EWMA mean − training mean| / training std.",
            ["feature"],
        )
        self.model_info = t.gauge(
            p + "model_info", "The loaded policy (value 1).", ["name", "sha256", "training_window"]
        )
        self.policy_compiled = t.gauge(
            p + "policy_compiled",
            "1 when the policy runs in the compiled kernel (policy_kernel.c, checked against "
            "ONNX Runtime at load), 0 when in ONNX Runtime (its reason is logged at start)",
        )
        self.compiled_modules = t.gauge(
            p + "compiled_modules",
            "How many of the hot path's Python modules (rlexec/native.py) run compiled by mypyc; "
            "fewer than all when built without a compiler or with RLEXEC_PURE_PYTHON=1.",
        )
        self.kill_transitions = t.counter(
            p + "kill_switch_transitions_total",
            "Kill-switch transitions, by the state entered.",
            ["to"],
        )
        self.limit_changes = t.counter(
            p + "limit_changes_total", "Risk-limit tightenings installed through the control API."
        )
        self.api_requests = t.counter(
            p + "api_requests_total",
            "Control-API requests answered, by method, route template and status (401 and 403 "
            "are failed authentications and authorisations).",
            ["method", "route", "status"],
        )
        self.position = t.gauge(
            p + "position_shares",
            "Signed position by symbol, as the risk overlay holds it.",
            ["symbol"],
        )
        self.pnl = t.gauge(
            p + "daily_pnl_dollars", "Realised + unrealised (at mid) P&L since the day started."
        )
        self.trading_day = t.gauge(
            p + "trading_day_start_timestamp_seconds",
            "Local midnight (trading window's time zone) of the day the daily P&L counts.",
        )
        self.schedule_gap = t.gauge(
            p + "schedule_gap_shares",
            "Working parents' filled minus their schedule's (negative: behind): a schedule algo's "
            "own targets, an even (TWAP) schedule for rl; by symbol and algo.",
            ["symbol", "algo"],
        )
        self.parents_expired = t.counter(
            p + "parents_expired_total",
            "Parents whose horizon passed while they were paused, or before they could start "
            "(pending: no fresh market data): ended cancelled, nothing taken; by that state.",
            ["state"],
        )
        for state in ("paused", "pending"):  # exported from 0, not from the first
            self.parents_expired.labels(state=state)
        self.parents_replanned = t.counter(
            p + "parents_replanned_total",
            "Parents resumed after a pause whose rest was re-planned over the time left.",
        )
        self.store_queue = t.gauge(
            p + "state_store_queue_depth",
            "Records waiting in the state store's write-behind queue.",
        )
        self.store_errors = t.counter(
            p + "state_store_errors_total",
            "State-store write failures (each retried; records are never dropped).",
        )
        self.state_archived = t.counter(
            p + "state_archived_total",
            "Records moved from the live state to the archive (parents and child orders over "
            "before a trading day began, and their fills), by kind.",
            ["kind"],
        )
        for kind in ("parent", "child", "fill"):  # 0 until the first archiving pass
            self.state_archived.labels(kind=kind)
        self.housekeeping_errors = t.counter(
            p + "housekeeping_errors_total",
            "Exceptions in the 100 ms housekeeping timer, by step (logged; the timer goes on).",
            ["step"],
        )
        for step in HOUSEKEEPING_STEPS:  # 0 until one fails
            self.housekeeping_errors.labels(step=step)
        self.gc_pause = t.histogram(
            p + "gc_pause_seconds",
            "Pauses of CPython's cyclic garbage collector, by generation (the event loop, and "
            "with it the market data and the orders, waits for each).",
            GC_BUCKETS,
            ["generation"],
        )
        for generation in ("0", "1", "2"):  # 0 until one runs
            self.gc_pause.labels(generation=generation)
        self.gc_frozen = t.gauge(
            p + "gc_frozen_objects",
            "Objects built at start-up and moved out of the collector's sight (gc.freeze).",
        )
        self.md_messages = t.counter(
            p + "market_data_updates_total", "Book updates applied, by symbol.", ["symbol"],
        )  # fmt: skip
