"""Errors of the risk overlay; each says which key, which state or which approval is at fault."""

from __future__ import annotations

from rlexec.market.errors import IllegalTransitionError as IllegalTransitionError
from rlexec.market.errors import RlexecError


class RiskError(RlexecError):
    """Base of every error the risk overlay raises."""


class RiskConfigError(RiskError):
    """A missing, malformed or out-of-range limit: start-up stops, naming the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"risk config: {key}: {reason}")


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
