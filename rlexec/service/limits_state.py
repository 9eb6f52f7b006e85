"""Risk limits tightened through the API survive a restart on the same configuration.

A tightening (`POST /v1/risk/limits`) is a person's decision, often made in a hurry, and an
unattended restart (a crash, compose's `unless-stopped`) must not quietly undo it. After each
one the store keeps the limits in force, with a fingerprint of the configured limits they
were tightened from. At start, the same fingerprint means the same configuration: the stored
limits are installed again, as a tightening of the configured ones (checked like any other).
A different fingerprint means the configuration was edited since, which is how limits are
loosened: the configured limits stand, and the record is cleared.
`restore_tightened_limits = false` starts on the configured limits whatever the store holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from rlexec.risk import RiskError, RiskLimits, RiskOverlay
from rlexec.service.state import StateError

__all__ = ["Restored", "cleared_record", "fingerprint", "limits_record", "restore_limits"]

VERSION = 1
Restored = Literal["none", "restored", "config_changed", "not_asked"]
"""What `restore_limits` did: nothing stored, installed, dropped for an edited config, or
dropped because the settings say so."""


def fingerprint(limits: RiskLimits) -> str:
    """Identifies a set of configured limits (any edit of the configuration changes it)."""
    return hashlib.sha256(limits.model_dump_json().encode()).hexdigest()[:16]


def limits_record(
    configured: RiskLimits, current: RiskLimits, who: str, why: str, at_ns: int
) -> dict[str, Any]:
    """What the store keeps after a tightening: the limits in force and where they came from."""
    return {
        "version": VERSION,
        "base": fingerprint(configured),
        "limits": current.model_dump(mode="json"),
        "who": who,
        "why": why,
        "at_ns": at_ns,
    }


def cleared_record(configured: RiskLimits, why: str, at_ns: int) -> dict[str, Any]:
    """What the store keeps once a tightening is dropped: none in force (so that going back to
    the old configuration later does not bring an old tightening back with it)."""
    return {"version": VERSION, "base": fingerprint(configured), "limits": None,
            "who": "restart", "why": why, "at_ns": at_ns}  # fmt: skip


def restore_limits(
    overlay: RiskOverlay,
    configured: RiskLimits,
    stored: Mapping[str, Any] | None,
    *,
    enabled: bool = True,
) -> Restored:
    """Install `stored` on `overlay` if it was tightened from `configured`. A record that is
    malformed, or that would loosen the configured limits, raises StateError naming it: the
    service does not start on risk limits it cannot account for."""
    if stored is None or (stored.get("version") == VERSION and stored.get("limits") is None):
        return "none"
    if not enabled:
        return "not_asked"
    if stored.get("version") != VERSION or not isinstance(stored.get("limits"), Mapping):
        raise StateError(f"meta 'limits': not a version-{VERSION} record of tightened limits")
    if stored.get("base") != fingerprint(configured):
        return "config_changed"
    limits = dict(stored["limits"])
    unknown = sorted(set(limits) - set(RiskLimits.model_fields))
    if unknown:
        raise StateError(f"meta 'limits': limits.{unknown[0]} is not a risk limit")
    symbols = limits.pop("symbols", None)
    if not isinstance(symbols, Mapping):
        raise StateError("meta 'limits': limits.symbols is not an object")
    by_symbol = {name: symbols.get(name) for name in {*configured.symbols, *symbols}}
    who, why = stored.get("who"), stored.get("why")
    try:
        overlay.tighten(
            who="restart",
            why=f"restored: tightened by {who} ({why}) before the restart",
            symbols=by_symbol,
            **limits,
        )
    except RiskError as exc:
        raise StateError(f"meta 'limits': cannot be installed again: {exc}") from None
    return "restored"
