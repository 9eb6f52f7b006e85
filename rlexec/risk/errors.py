"""Errors of the risk overlay; each says which key, which state or which approval is at fault."""

from __future__ import annotations

from rlexec.market.errors import IllegalTransitionError as IllegalTransitionError
from rlexec.market.errors import RlexecError
from rlexec.market.settings import SettingsError


class RiskError(RlexecError):
    """Base of every error the risk overlay raises."""


class RiskConfigError(RiskError, SettingsError):
    """A missing, malformed or out-of-range limit: start-up stops, naming the key, the source
    of its value (file or variable) and the reason."""

    what = "risk"


class LimitLooseningError(RiskError):
    """A run-time limit change that is not at least as strict as the limit in force."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(
            f"risk limits: {key}: {reason}; limits can only be tightened while running "
            "(loosen them in the config and restart)"
        )


class ApprovalError(RiskError):
    """An approval that this overlay did not issue, or that was already used, released or expired."""
