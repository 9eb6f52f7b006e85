"""One finite-state-machine helper for every state machine in rlexec.

A machine is a transition table, `(state, event) -> next state`, and nothing else: a pair
that is not in the table is a bug or a broken counterparty, and `fire` refuses it loudly
with `IllegalTransitionError` naming the machine, the state and the event. The FIX session,
the kill switch, the venue's orders, the service's child orders and parent orders all use
it, so a table can be printed, tested exhaustively (every legal pair, every illegal one)
and read in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Generic, TypeVar

from rlexec.market.errors import IllegalTransitionError

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)

__all__ = ["IllegalTransitionError", "StateMachine", "TransitionTable"]


def _label(value: Enum) -> str:
    return str(value.value) if isinstance(value.value, str) else value.name


class TransitionTable(Generic[S, E]):
    """An immutable `(state, event) -> next state` table with a name for its error messages."""

    __slots__ = ("_table", "name")

    def __init__(self, name: str, table: Mapping[tuple[S, E], S]) -> None:
        self.name = name
        self._table: dict[tuple[S, E], S] = dict(table)

    def next(self, state: S, event: E) -> S:
        """The state `event` leads to from `state`; raises if the table has no such pair."""
        nxt = self._table.get((state, event))
        if nxt is None:
            raise IllegalTransitionError(
                f"{self.name}: event {_label(event)} is not allowed in state {_label(state)}"
            )
        return nxt

    def allows(self, state: S, event: E) -> bool:
        return (state, event) in self._table

    def events(self, state: S) -> list[E]:
        """The events legal in `state`, in table order."""
        return [e for (s, e) in self._table if s is state]

    def __iter__(self) -> Iterator[tuple[S, E, S]]:
        for (s, e), n in self._table.items():
            yield s, e, n

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, pair: object) -> bool:
        return pair in self._table


class StateMachine(Generic[S, E]):
    """The current state of one thing, moved only along its table."""

    __slots__ = ("state", "subject", "table")

    def __init__(self, table: TransitionTable[S, E], initial: S, subject: str = "") -> None:
        self.table = table
        self.state = initial
        self.subject = subject

    def fire(self, event: E) -> S:
        """Take `event`; raises `IllegalTransitionError` (naming the subject) if it is illegal."""
        nxt = self.table._table.get((self.state, event))
        if nxt is None:
            who = f"{self.table.name} {self.subject}".strip()
            raise IllegalTransitionError(
                f"{who}: event {_label(event)} is not allowed in state {_label(self.state)}"
            )
        self.state = nxt
        return nxt

    def can(self, event: E) -> bool:
        return (self.state, event) in self.table._table
