"""Prometheus metrics of the FIX venue: `rlexec_venue_*`, base units, bounded labels.

Labels are the client's CompID (from the configured allow-list), outcomes and reason
codes: never an order id. Updated per request and per dispatch, never per replayed row.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class VenueMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.orders = Counter(
            "rlexec_venue_orders_total",
            "NewOrderSingles by client and outcome (accepted, rejected)",
            ["client", "outcome"],
            registry=r,
        )
        self.rejects = Counter(
            "rlexec_venue_rejects_total",
            "Refused requests by client, request kind and reason code",
            ["client", "kind", "reason"],
            registry=r,
        )
        self.cancels = Counter(
            "rlexec_venue_cancels_total",
            "Orders cancelled or expired, by client and cause",
            ["client", "cause"],
            registry=r,
        )
        self.fills = Counter(
            "rlexec_venue_fills_total",
            "Fills reported, by client and liquidity (added, removed)",
            ["client", "liquidity"],
            registry=r,
        )
        self.filled_shares = Counter(
            "rlexec_venue_filled_shares_total",
            "Shares filled, by client and side",
            ["client", "side"],
            registry=r,
        )
        self.throttled = Counter(
            "rlexec_venue_throttled_messages_total",
            "Messages over a client's rate limit, by the action taken (reject, logout)",
            ["client", "action"],
            registry=r,
        )
        self.faults = Counter(
            "rlexec_venue_faults_injected_total",
            "Injected faults, by client and kind",
            ["client", "fault"],
            registry=r,
        )
        self.market_data_messages = Counter(
            "rlexec_venue_market_data_messages_total",
            "Market-data messages sent, by client and kind (snapshot, incremental, reject)",
            ["client", "kind"],
            registry=r,
        )
        self.refused_requests = Counter(
            "rlexec_venue_refused_requests_total",
            "Requests refused by a venue bound, by client and bound "
            "(price_band, subscriptions, integer_field)",
            ["client", "bound"],
            registry=r,
        )
        self.replay_events = Counter(
            "rlexec_venue_replay_events_total", "LOBSTER messages replayed", registry=r
        )
        self.replay_time = Gauge(
            "rlexec_venue_replay_time_seconds",
            "The replay clock: seconds after midnight, exchange (New York) time",
            registry=r,
        )
        self.replay_lag = Gauge(
            "rlexec_venue_replay_lag_seconds",
            "Wall-clock seconds the replay is behind its schedule",
            registry=r,
        )
        self.clients_logged_on = Gauge(
            "rlexec_venue_clients_logged_on", "Client sessions logged on", registry=r
        )
        self.subscriptions = Gauge(
            "rlexec_venue_market_data_subscriptions", "Active market-data subscriptions", registry=r
        )
