"""What the dashboards show, as plain data: no Grafana library needed to read it.

`generate.py` turns these into dashboard JSON; `queries.py` hands every expression to the
tests that evaluate them against a real Prometheus. Metric names are the ones the code
exports (`rlexec_service_*`, `rlexec_fix_*`, `rlexec_risk_*`, `rlexec_venue_*`); jobs are
`rlexec` (the service) and `venue`. Counters that have no series until their first event
end in `or on() vector(0)`, so a quiet system shows 0 instead of "No data".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PanelKind = Literal["timeseries", "stat", "bargauge", "heatmap", "table", "state-timeline"]

SVC = 'job="rlexec"'
VENUE = 'job="venue"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    unit: str = ""
    description: str = ""
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[float, str], ...] = ()
    """Steps above the base (green): (value, colour)."""
    mappings: tuple[tuple[str, str, str], ...] = ()
    """Value → (text, colour) for stat panels: (value, text, colour)."""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = field(default=("rlexec",))

    @property
    def slug(self) -> str:
        return self.uid.removeprefix("rlexec-")


def q(expr: str, legend: str = "", *, instant: bool = False, heatmap: bool = False) -> Query:
    return Query(expr, legend, instant, heatmap)


def _quantiles(metric: str) -> tuple[Query, ...]:
    return tuple(
        q(
            f"histogram_quantile({p}, sum by (le) (rate({metric}_bucket{{{SVC}}}[5m])))",
            f"p{round(p * 100)}",
        )
        for p in (0.5, 0.9, 0.99)
    )


EXECUTION = Dashboard(
    uid="rlexec-execution",
    title="rlexec / Execution",
    description="Parent orders, how much they filled, what it cost, and the child orders it took.",
    rows=(
        Row(
            "Parents",
            (
                Panel(
                    "Parents by state",
                    "bargauge",
                    (
                        q(
                            f"sum by (state) (rlexec_service_parents{{{SVC}}})",
                            "{{state}}",
                            instant=True,
                        ),
                    ),
                    width=8,
                ),
                Panel(
                    "Parents by state over time",
                    "timeseries",
                    (q(f"sum by (state) (rlexec_service_parents{{{SVC}}})", "{{state}}"),),
                    width=16,
                ),
                Panel(
                    "Filled shares by symbol and algo",
                    "timeseries",
                    (
                        q(
                            f"sum by (symbol, algo) (rlexec_service_filled_shares_total{{{SVC}}})",
                            "{{symbol}} {{algo}}",
                        ),
                    ),
                    unit="short",
                    description="Cumulative shares filled since the service started.",
                ),
                Panel(
                    "Fill rate by symbol and algo",
                    "timeseries",
                    (
                        q(
                            f"sum by (symbol, algo) (rate(rlexec_service_filled_shares_total{{{SVC}}}[1m]))",
                            "{{symbol}} {{algo}}",
                        ),
                    ),
                    unit="short",
                    description="Shares per second, 1-minute rate.",
                ),
                Panel(
                    "Implementation shortfall by algo",
                    "timeseries",
                    (
                        q(
                            f"max by (symbol, algo) (rlexec_service_shortfall_bps{{{SVC}}})",
                            "{{symbol}} {{algo}}",
                        ),
                    ),
                    unit="bps",
                    description="Filled part vs the arrival mid; positive is a cost.",
                    width=24,
                ),
                Panel(
                    "Schedule gap by symbol and algo",
                    "timeseries",
                    (
                        q(
                            f"sum by (symbol, algo) (rlexec_service_schedule_gap_shares{{{SVC}}})",
                            "{{symbol}} {{algo}}",
                        ),
                    ),
                    unit="short",
                    description="Working parents' filled shares minus their schedule's: a "
                    "schedule algo's own targets (re-planned after a resume), an even (TWAP) "
                    "schedule for rl. Negative is behind.",
                ),
                Panel(
                    "Parents expired or re-planned (1 d)",
                    "timeseries",
                    (
                        q(
                            "sum by (state) (increase("
                            f"rlexec_service_parents_expired_total{{{SVC}}}[1d]))",
                            "expired while {{state}}",
                        ),
                        q(
                            f"sum(increase(rlexec_service_parents_replanned_total{{{SVC}}}[1d]))",
                            "re-planned on resume",
                        ),
                    ),
                    unit="short",
                    description="Ended cancelled because the horizon passed while paused, or "
                    "before they could start (market data never fresh); resumed parents whose "
                    "rest was spread over the time left.",
                ),
            ),
        ),
        Row(
            "Child orders",
            (
                Panel(
                    "Child-order messages by kind",
                    "timeseries",
                    (
                        q(
                            f"sum by (kind) (rate(rlexec_service_child_orders_total{{{SVC}}}[1m]))",
                            "{{kind}}",
                        ),
                    ),
                    unit="reqps",
                    width=8,
                ),
                Panel(
                    "Fill ratio",
                    "stat",
                    (
                        q(
                            f"sum(increase(rlexec_service_fills_total{{{SVC}}}[15m])) / "
                            f'clamp_min(sum(increase(rlexec_service_child_orders_total{{{SVC}, kind="new"}}[15m])), 1)',
                            "fills per new order",
                        ),
                    ),
                    description="Fills per new child order over 15 minutes (partial fills count each).",
                    width=8,
                ),
                Panel(
                    "Decisions by algo",
                    "timeseries",
                    (
                        q(
                            f"sum by (algo) (rate(rlexec_service_decisions_total{{{SVC}}}[5m]))",
                            "{{algo}}",
                        ),
                    ),
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Venue rejects, send failures and OMS alerts",
                    "timeseries",
                    (
                        q(
                            f"sum(increase(rlexec_service_rejects_total{{{SVC}}}[5m]))",
                            "venue rejects",
                        ),
                        q(
                            f"sum(increase(rlexec_service_send_failures_total{{{SVC}}}[5m]))",
                            "send failures",
                        ),
                        q(
                            f"sum by (code) (increase(rlexec_service_alerts_total{{{SVC}}}[5m])) or on() vector(0)",
                            "OMS alert {{code}}",
                        ),
                    ),
                    unit="short",
                    description="Per 5 minutes.",
                    width=24,
                ),
            ),
        ),
    ),
)

LATENCY = Dashboard(
    uid="rlexec-latency",
    title="rlexec / Latency",
    description="Tick-to-order (market-data bytes in to order bytes out) and policy inference.",
    rows=(
        Row(
            "Tick to order",
            (
                Panel(
                    "Tick-to-order percentiles",
                    "timeseries",
                    _quantiles("rlexec_service_tick_to_order_seconds"),
                    unit="s",
                    thresholds=((200e-6, "red"),),
                    description="Target: p99 under 200 µs.",
                ),
                Panel(
                    "Tick-to-order distribution",
                    "heatmap",
                    (
                        q(
                            f"sum by (le) (increase(rlexec_service_tick_to_order_seconds_bucket{{{SVC}}}[1m]))",
                            "{{le}}",
                            heatmap=True,
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Tick-to-order mean and rate",
                    "timeseries",
                    (
                        q(
                            f"sum(rate(rlexec_service_tick_to_order_seconds_sum{{{SVC}}}[5m])) / "
                            f"sum(rate(rlexec_service_tick_to_order_seconds_count{{{SVC}}}[5m]))",
                            "mean",
                        ),
                    ),
                    unit="s",
                    width=12,
                ),
                Panel(
                    "Orders timed per second",
                    "timeseries",
                    (
                        q(
                            f"sum(rate(rlexec_service_tick_to_order_seconds_count{{{SVC}}}[1m]))",
                            "orders/s",
                        ),
                    ),
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Hot-path modules compiled",
                    "stat",
                    (q(f"min(rlexec_service_compiled_modules{{{SVC}}})", "modules"),),
                    description="How many of the hot path's 12 Python modules (rlexec/native.py) "
                    "run compiled by mypyc; fewer when built without a compiler or run with "
                    "RLEXEC_PURE_PYTHON=1, and tick-to-order is then about 40 % slower.",
                    width=4,
                ),
            ),
        ),
        Row(
            "Policy inference",
            (
                Panel(
                    "Inference percentiles",
                    "timeseries",
                    _quantiles("rlexec_service_policy_inference_seconds"),
                    unit="s",
                ),
                Panel(
                    "Inference distribution",
                    "heatmap",
                    (
                        q(
                            f"sum by (le) (increase(rlexec_service_policy_inference_seconds_bucket{{{SVC}}}[1m]))",
                            "{{le}}",
                            heatmap=True,
                        ),
                    ),
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Policy runs compiled",
                    "stat",
                    (q(f"min(rlexec_service_policy_compiled{{{SVC}}})", "compiled"),),
                    description="1: the policy kernel (policy_kernel.c, checked against ONNX "
                    "Runtime at load) runs every decision; 0: ONNX Runtime does, and the "
                    "service_started log line says why. Inference is several times slower on 0.",
                    width=4,
                ),
            ),
        ),
        Row(
            "Garbage collector",
            (
                Panel(
                    "Longest collector pause by generation",
                    "timeseries",
                    (
                        q(
                            "histogram_quantile(1, sum by (generation, le) (increase("
                            f"rlexec_service_gc_pause_seconds_bucket{{{SVC}}}[5m])))",
                            "gen {{generation}}",
                        ),
                    ),
                    unit="s",
                    description="The event loop, and with it the market data and the orders, "
                    "waits for every cyclic collection. What the service built to start is "
                    "frozen out of them (event=gc_frozen), so a full collection walks only "
                    "what trading made since. Upper bound of the bucket the longest fell in.",
                ),
                Panel(
                    "Collections per minute, and objects frozen at start",
                    "timeseries",
                    (
                        q(
                            "sum by (generation) (increase("
                            f"rlexec_service_gc_pause_seconds_count{{{SVC}}}[1m]))",
                            "gen {{generation}}",
                        ),
                        q(f"max(rlexec_service_gc_frozen_objects{{{SVC}}})", "frozen objects"),
                    ),
                    unit="short",
                ),
            ),
        ),
        Row(
            "Venue",
            (
                Panel(
                    "Venue replay lag",
                    "timeseries",
                    (q(f"max(rlexec_venue_replay_lag_seconds{{{VENUE}}})", "lag"),),
                    unit="s",
                    description="How far the simulator's replay runs behind its schedule.",
                    width=24,
                ),
            ),
        ),
    ),
)

KILL_MAPPINGS = (("0", "ACTIVE", "green"), ("1", "REDUCING", "orange"), ("2", "HALTED", "red"))

RISK = Dashboard(
    uid="rlexec-risk",
    title="rlexec / Risk",
    description="The pre-trade overlay: kill switch, denials, limit usage, position and loss.",
    rows=(
        Row(
            "Kill switch",
            (
                Panel(
                    "Kill switch",
                    "stat",
                    (
                        q(
                            f'max(rlexec_risk_state{{{SVC}, state="REDUCING"}}) + '
                            f'2 * max(rlexec_risk_state{{{SVC}, state="HALTED"}})',
                            "state",
                        ),
                    ),
                    mappings=KILL_MAPPINGS,
                    width=6,
                ),
                Panel(
                    "Kill-switch state",
                    "state-timeline",
                    (q(f"max by (state) (rlexec_risk_state{{{SVC}}})", "{{state}}"),),
                    width=12,
                ),
                Panel(
                    "Kill-switch transitions (1 h)",
                    "stat",
                    (
                        q(
                            f"sum(increase(rlexec_service_kill_switch_transitions_total{{{SVC}}}[1h])) "
                            "or on() vector(0)",
                            "transitions",
                        ),
                    ),
                    width=6,
                ),
            ),
        ),
        Row(
            "Checks and denials",
            (
                Panel(
                    "Pre-trade checks",
                    "timeseries",
                    (
                        q(f"sum(rate(rlexec_risk_checks_total{{{SVC}}}[1m]))", "checks"),
                        q(f"sum(rate(rlexec_risk_approvals_total{{{SVC}}}[1m]))", "approved"),
                        q(f"sum(rate(rlexec_risk_cancels_total{{{SVC}}}[1m]))", "cancels"),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Denials by reason",
                    "timeseries",
                    (
                        q(
                            f"sum by (reason) (increase(rlexec_risk_denials_total{{{SVC}}}[5m]))",
                            "{{reason}}",
                        ),
                    ),
                    unit="short",
                    description="Per 5 minutes.",
                ),
            ),
        ),
        Row(
            "Limits, position and loss",
            (
                Panel(
                    "Limit utilisation",
                    "bargauge",
                    (
                        q(
                            f"max by (limit, symbol) (rlexec_risk_limit_utilisation_ratio{{{SVC}}})",
                            "{{limit}} {{symbol}}",
                            instant=True,
                        ),
                    ),
                    unit="percentunit",
                    min=0,
                    max=1,
                    thresholds=((0.8, "orange"), (1.0, "red")),
                ),
                Panel(
                    "Limit utilisation over time",
                    "timeseries",
                    (
                        q(
                            f"max by (limit, symbol) (rlexec_risk_limit_utilisation_ratio{{{SVC}}})",
                            "{{limit}} {{symbol}}",
                        ),
                    ),
                    unit="percentunit",
                    thresholds=((0.8, "orange"), (1.0, "red")),
                ),
                Panel(
                    "Position (share of its limit)",
                    "timeseries",
                    (
                        q(
                            f"max by (limit, symbol) (rlexec_risk_limit_utilisation_ratio{{{SVC}, "
                            'limit=~"long_position|short_position|gross_position"})',
                            "{{limit}} {{symbol}}",
                        ),
                    ),
                    unit="percentunit",
                    description="The overlay exports position as a share of its limit.",
                ),
                Panel(
                    "Daily loss (share of its limit)",
                    "timeseries",
                    (
                        q(
                            f'max(rlexec_risk_limit_utilisation_ratio{{{SVC}, limit="daily_loss"}})',
                            "daily loss",
                        ),
                    ),
                    unit="percentunit",
                    thresholds=((0.8, "orange"), (1.0, "red")),
                ),
                Panel(
                    "Fills and kill-switch save errors",
                    "timeseries",
                    (
                        q(f"sum(increase(rlexec_risk_fills_total{{{SVC}}}[5m]))", "fills"),
                        q(
                            f"sum(increase(rlexec_risk_store_errors_total{{{SVC}}}[5m]))",
                            "store errors",
                        ),
                    ),
                    unit="short",
                    width=24,
                ),
            ),
        ),
        Row(
            "Position and P&L",
            (
                Panel(
                    "Position by symbol",
                    "timeseries",
                    (
                        q(
                            f"max by (symbol) (rlexec_service_position_shares{{{SVC}}})",
                            "{{symbol}}",
                        ),
                    ),
                    unit="short",
                ),
                Panel(
                    "Daily P&L",
                    "timeseries",
                    (q(f"max(rlexec_service_daily_pnl_dollars{{{SVC}}})", "P&L"),),
                    unit="currencyUSD",
                ),
                Panel(
                    "Trading day the daily P&L counts",
                    "stat",
                    (
                        q(
                            f"max(rlexec_service_trading_day_start_timestamp_seconds{{{SVC}}}) "
                            "* 1000",
                            "day",
                            instant=True,
                        ),
                    ),
                    unit="dateTimeAsIso",
                    description="Local midnight (the trading window's time zone) of the day "
                    "the daily loss limit counts from; it moves at midnight.",
                ),
            ),
        ),
        Row(
            "State store",
            (
                Panel(
                    "Write-behind queue and write errors",
                    "timeseries",
                    (
                        q(f"max(rlexec_service_state_store_queue_depth{{{SVC}}})", "queued"),
                        q(
                            f"sum(increase(rlexec_service_state_store_errors_total{{{SVC}}}[5m]))",
                            "errors (5 m)",
                        ),
                    ),
                    unit="short",
                    description="Over 1,000 queued alerts; over the bound, trading halts.",
                ),
                Panel(
                    "Archived as a trading day began (1 d)",
                    "timeseries",
                    (
                        q(
                            "sum by (kind) (increase("
                            f"rlexec_service_state_archived_total{{{SVC}}}[1d])) or on() vector(0)",
                            "{{kind}}",
                        ),
                    ),
                    unit="short",
                    description="Parents and child orders over before the day, and their fills, "
                    "moved out of what a restart reads.",
                ),
            ),
        ),
        Row(
            "Dynamic risk monitors (they only tighten)",
            (
                Panel(
                    "Size multiplier by symbol",
                    "timeseries",
                    (
                        q(
                            f"min by (symbol) (rlexec_risk_monitor_size_multiplier{{{SVC}}})",
                            "{{symbol}}",
                        ),
                    ),
                    unit="percentunit",
                    min=0,
                    max=1,
                    description="1 = untouched; every monitor can only lower it.",
                ),
                Panel(
                    "Paused / policy distrusted",
                    "state-timeline",
                    (
                        q(
                            f"max by (symbol) (rlexec_risk_monitor_paused{{{SVC}}})",
                            "paused {{symbol}}",
                        ),
                        q(
                            f"max by (symbol) (rlexec_risk_monitor_policy_distrusted{{{SVC}}})",
                            "distrusted {{symbol}}",
                        ),
                    ),
                    mappings=(("0", "no", "green"), ("1", "yes", "orange")),
                ),
                Panel(
                    "Monitor levels",
                    "timeseries",
                    (
                        q(
                            f"min by (monitor, kind) (rlexec_risk_monitor_level{{{SVC}}})",
                            "{{monitor}} {{kind}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Monitor actions by reason (5 m)",
                    "timeseries",
                    (
                        q(
                            f"sum by (code) (increase(rlexec_risk_monitor_actions_total{{{SVC}}}[5m])) "
                            "or on() vector(0)",
                            "{{code}}",
                        ),
                    ),
                    unit="short",
                ),
            ),
        ),
        Row(
            "Control API",
            (
                Panel(
                    "Answers by status (5 m)",
                    "timeseries",
                    (
                        q(
                            "sum by (status) (increase("
                            f"rlexec_service_api_requests_total{{{SVC}}}[5m]))",
                            "{{status}}",
                        ),
                    ),
                    unit="short",
                    width=8,
                    description="Every answer of the control API, health checks and scrapes "
                    "included.",
                ),
                Panel(
                    "Refused by route (5 m)",
                    "timeseries",
                    (
                        q(
                            "sum by (route, status) (increase(rlexec_service_api_requests_total"
                            f'{{{SVC}, status=~"401|403"}}[5m])) or on() vector(0)',
                            "{{status}} {{route}}",
                        ),
                    ),
                    unit="short",
                    width=8,
                    thresholds=((20, "orange"),),
                    description="401: no known token; 403: the token's role may not do it. Over "
                    "20 in 5 minutes alerts (RlexecApiRefusals): a client with a wrong token, "
                    "or someone trying tokens.",
                ),
                Panel(
                    "Limit tightenings (1 d)",
                    "stat",
                    (
                        q(
                            "sum(increase(rlexec_service_limit_changes_total"
                            f"{{{SVC}}}[1d])) or on() vector(0)",
                            "tightenings",
                            instant=True,
                        ),
                    ),
                    unit="short",
                    width=8,
                    description="POST /v1/risk/limits accepted in the last day; each is an "
                    "event=limits_tightened log line naming who and why.",
                ),
            ),
        ),
    ),
)

SESSIONS = Dashboard(
    uid="rlexec-sessions",
    title="rlexec / Sessions & venue",
    description="FIX sessions, sequence numbers, resends and rejects, market data, the venue.",
    rows=(
        Row(
            "FIX sessions",
            (
                Panel(
                    "Logged on",
                    "state-timeline",
                    (q(f"max by (session) (rlexec_fix_logged_on{{{SVC}}})", "{{session}}"),),
                    mappings=(("0", "down", "red"), ("1", "logged on", "green")),
                    width=24,
                    height=6,
                ),
                Panel(
                    "Next sequence numbers",
                    "timeseries",
                    (
                        q(
                            f"max by (session) (rlexec_fix_next_sender_seq{{{SVC}}})",
                            "{{session}} sender",
                        ),
                        q(
                            f"max by (session) (rlexec_fix_next_target_seq{{{SVC}}})",
                            "{{session}} target",
                        ),
                    ),
                    unit="short",
                ),
                Panel(
                    "Messages by type",
                    "timeseries",
                    (
                        q(
                            f"sum by (session, direction, msg_type) (rate(rlexec_fix_messages_total{{{SVC}}}[1m]))",
                            "{{session}} {{direction}} {{msg_type}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Resends and gap fills",
                    "timeseries",
                    (
                        q(
                            f"sum by (session, direction) (increase(rlexec_fix_resend_requests_total{{{SVC}}}[5m]))",
                            "resend {{session}} {{direction}}",
                        ),
                        q(
                            f"sum by (session, direction) (increase(rlexec_fix_gap_fills_total{{{SVC}}}[5m]))",
                            "gap fill {{session}} {{direction}}",
                        ),
                    ),
                    unit="short",
                    width=8,
                ),
                Panel(
                    "Rejects",
                    "timeseries",
                    (
                        q(
                            f"sum by (session, direction) (increase(rlexec_fix_session_rejects_total{{{SVC}}}[5m]))",
                            "session reject {{session}} {{direction}}",
                        ),
                        q(
                            f"sum(increase(rlexec_service_rejects_total{{{SVC}}}[5m]))",
                            "order rejects",
                        ),
                        q(
                            f"sum by (kind, reason) (increase(rlexec_venue_rejects_total{{{VENUE}}}[5m])) "
                            "or on() vector(0)",
                            "venue {{kind}} {{reason}}",
                        ),
                    ),
                    unit="short",
                    width=8,
                ),
                Panel(
                    "Disconnects by reason",
                    "timeseries",
                    (
                        q(
                            f"sum by (reason) (increase(rlexec_fix_disconnects_total{{{SVC}}}[15m]))",
                            "{{reason}}",
                        ),
                        q(
                            f"sum(increase(rlexec_fix_garbled_messages_total{{{SVC}}}[15m]))",
                            "garbled",
                        ),
                    ),
                    unit="short",
                    width=8,
                ),
            ),
        ),
        Row(
            "Market data",
            (
                Panel(
                    "Market-data age",
                    "timeseries",
                    (
                        q(
                            f"max by (symbol) (rlexec_service_market_data_age_seconds{{{SVC}}})",
                            "{{symbol}}",
                        ),
                    ),
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Stale books",
                    "state-timeline",
                    (
                        q(
                            f"max by (symbol) (rlexec_service_market_data_stale{{{SVC}}})",
                            "{{symbol}}",
                        ),
                    ),
                    mappings=(("0", "fresh", "green"), ("1", "stale", "red")),
                    width=8,
                ),
                Panel(
                    "Book updates",
                    "timeseries",
                    (
                        q(
                            f"sum by (symbol) (rate(rlexec_service_market_data_updates_total{{{SVC}}}[1m]))",
                            "{{symbol}}",
                        ),
                    ),
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Market-data anomalies (5 m)",
                    "timeseries",
                    (
                        q(
                            "sum by (kind) (increase("
                            f"rlexec_fix_market_data_anomalies_total{{{SVC}}}[5m])) or on() vector(0)",
                            "{{kind}}",
                        ),
                    ),
                    unit="short",
                    width=24,
                    description="RptSeq gaps and steps back and books an update left crossed "
                    "(each rebuilt from a snapshot), messages refused (an unreadable or non-positive price: "
                    "rebuilt too), and venue timestamps held back: over 60 s ahead until three "
                    "in a row agree, or far behind the venue clock. Each is an event=md_* log "
                    "line.",
                ),
            ),
        ),
        Row(
            "Venue",
            (
                Panel(
                    "Scrape targets up",
                    "state-timeline",
                    (q('up{job=~"rlexec|venue"}', "{{job}} {{instance}}"),),
                    mappings=(("0", "down", "red"), ("1", "up", "green")),
                    width=12,
                ),
                Panel(
                    "Venue clients and subscriptions",
                    "timeseries",
                    (
                        q(f"max(rlexec_venue_clients_logged_on{{{VENUE}}})", "clients logged on"),
                        q(
                            f"max(rlexec_venue_market_data_subscriptions{{{VENUE}}})",
                            "subscriptions",
                        ),
                    ),
                    unit="short",
                    width=12,
                ),
                Panel(
                    "Venue orders and fills",
                    "timeseries",
                    (
                        q(
                            f"sum by (client, outcome) (rate(rlexec_venue_orders_total{{{VENUE}}}[1m]))",
                            "orders {{client}} {{outcome}}",
                        ),
                        q(
                            f"sum by (client, liquidity) (rate(rlexec_venue_fills_total{{{VENUE}}}[1m]))",
                            "fills {{client}} {{liquidity}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Venue replay",
                    "timeseries",
                    (
                        q(
                            f"sum(rate(rlexec_venue_replay_events_total{{{VENUE}}}[1m]))",
                            "events/s",
                        ),
                        q(f"max(rlexec_venue_replay_lag_seconds{{{VENUE}}})", "lag (s)"),
                    ),
                    unit="short",
                ),
            ),
        ),
    ),
)

MODEL = Dashboard(
    uid="rlexec-model",
    title="rlexec / Model",
    description="The RL policy: what it chose, when it fell back, and how far its inputs drifted.",
    rows=(
        Row(
            "Policy",
            (
                Panel(
                    "Loaded model",
                    "table",
                    (
                        q(
                            f"max by (name, sha256, training_window) (rlexec_service_model_info{{{SVC}}})",
                            instant=True,
                        ),
                    ),
                    width=24,
                    height=5,
                ),
                Panel(
                    "Tactics chosen",
                    "timeseries",
                    (
                        q(
                            f'sum by (tactic) (increase(rlexec_service_decisions_total{{{SVC}, algo="rl"}}[5m]))',
                            "{{tactic}}",
                        ),
                    ),
                    unit="short",
                    description="RL decisions per 5 minutes, by tactic.",
                ),
                Panel(
                    "Actions",
                    "bargauge",
                    (
                        q(
                            f"sum by (action) (increase(rlexec_service_policy_actions_total{{{SVC}}}[15m]))",
                            "action {{action}}",
                            instant=True,
                        ),
                    ),
                    unit="short",
                    description="Policy actions over 15 minutes, by index in the model's action table.",
                ),
                Panel(
                    "Fallbacks and imputed features",
                    "timeseries",
                    (
                        q(
                            f"sum by (reason) (increase(rlexec_service_policy_fallbacks_total{{{SVC}}}[5m]))",
                            "fallback {{reason}}",
                        ),
                        q(
                            f"sum(increase(rlexec_service_features_imputed_total{{{SVC}}}[5m]))",
                            "imputed",
                        ),
                    ),
                    unit="short",
                    width=24,
                ),
            ),
        ),
        Row(
            "Feature drift",
            (
                Panel(
                    "Drift by feature",
                    "bargauge",
                    (
                        q(
                            f"max by (feature) (rlexec_service_feature_drift_ratio{{{SVC}}})",
                            "{{feature}}",
                            instant=True,
                        ),
                    ),
                    description="|live EWMA mean − training mean| / training std; the alert fires above 3.",
                    thresholds=((1.0, "orange"), (3.0, "red")),
                ),
                Panel(
                    "Drift over time",
                    "timeseries",
                    (
                        q(
                            f"max by (feature) (rlexec_service_feature_drift_ratio{{{SVC}}})",
                            "{{feature}}",
                        ),
                    ),
                    thresholds=((3.0, "red"),),
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (EXECUTION, LATENCY, RISK, SESSIONS, MODEL)
