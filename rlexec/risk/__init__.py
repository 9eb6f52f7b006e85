"""The pre-trade risk overlay: hard limits, checks and the kill switch, independent by construction.

It keeps its own position, P&L and rate state built from the fills it is fed and imports
nothing of ours but `market`, so that no bug above it — in a strategy, a model or the
gateway — can loosen a limit. A test enforces the import rule.

    limits = load_limits("rlexec.toml")                 # RiskConfigError names a bad key
    overlay = RiskOverlay(limits, store=store, registry=REGISTRY)  # HALTED if the store is empty
                                                        # (first start: initialise=True)
    decision = overlay.check(intent, now_ns)            # Approval | Denial, nothing else
    if decision.approved:
        overlay.on_order_sent(decision, cl_ord_id)      # ApprovalError: do not send
    decision = overlay.check_replace(cl_ord_id, new_leaves, new_price, now_ns)
    if decision.approved:                               # send decision.intent as the replace
        overlay.on_replace_sent(decision, cl_ord_id, new_cl_ord_id)
"""

from rlexec.risk.decision import Approval, ApprovalIssuer, Denial, Reason
from rlexec.risk.errors import (
    ApprovalError,
    IllegalTransitionError,
    LimitLooseningError,
    RiskConfigError,
    RiskError,
)
from rlexec.risk.killswitch import (
    FAIL_CLOSED,
    INITIALISE,
    TRANSITIONS,
    KillAction,
    KillState,
    KillSwitch,
    KillSwitchSnapshot,
    KillSwitchStore,
    MemoryKillSwitchStore,
    Transition,
    snapshot_from_json,
    snapshot_to_json,
)
from rlexec.risk.limits import (
    RiskLimits,
    SymbolLimits,
    TradingWindow,
    load_limits,
    tightened,
    validate_limits,
)
from rlexec.risk.overlay import AuditRecord, PositionView, RiskOverlay

__all__ = [
    "FAIL_CLOSED",
    "INITIALISE",
    "TRANSITIONS",
    "Approval",
    "ApprovalError",
    "ApprovalIssuer",
    "AuditRecord",
    "Denial",
    "IllegalTransitionError",
    "KillAction",
    "KillState",
    "KillSwitch",
    "KillSwitchSnapshot",
    "KillSwitchStore",
    "LimitLooseningError",
    "MemoryKillSwitchStore",
    "PositionView",
    "Reason",
    "RiskConfigError",
    "RiskError",
    "RiskLimits",
    "RiskOverlay",
    "SymbolLimits",
    "TradingWindow",
    "Transition",
    "load_limits",
    "snapshot_from_json",
    "snapshot_to_json",
    "tightened",
    "validate_limits",
]
