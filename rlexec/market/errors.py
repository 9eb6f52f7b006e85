"""Errors rlexec reports to a person as one line, never as a traceback."""

from __future__ import annotations


class RlexecError(Exception):
    """Base of every error that the command line prints as one clear line and exits non-zero."""


class DataError(RlexecError):
    """Bad input data: names the file and, where there is one, the line."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class IllegalTransitionError(RlexecError):
    """A state machine was asked to take a transition its table does not have (see `market.fsm`)."""
