"""The session store port: sequence numbers and sent application messages that survive restarts.

Mutators are synchronous and only buffer, because they run on the hot path between
encoding a message and writing it to the socket; `flush()` hands the buffer to the backend
once per event-loop turn (the session calls it just before writing to the socket), and only
reading old messages back (for a ResendRequest) or waiting for durability is async.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from rlexec.gateway.errors import StoreError


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a session needs to continue where it left off."""

    next_sender_seq: int
    next_target_seq: int
    creation_time: float
    """Epoch seconds of the last reset: when this sequence-number epoch began."""


def checked_seq(name: str, seq: int) -> int:
    """Refuse a sequence number that cannot be right before it reaches any backend."""
    if type(seq) is not int or seq < 1:
        raise StoreError(f"{name} must be a positive integer, got {seq!r}")
    return seq


def seqs_in_range(stored: Collection[int], begin: int, end: int) -> list[int]:
    """The stored sequence numbers with begin <= seq <= end, ascending: a scan of what is
    stored when that is smaller than the range, a walk of the range otherwise."""
    if end - begin > len(stored):
        return sorted(s for s in stored if begin <= s <= end)
    return [s for s in range(begin, end + 1) if s in stored]


class SessionStore(Protocol):
    """Persistence for one FIX session (one SenderCompID/TargetCompID pair)."""

    @property
    def next_sender_seq(self) -> int: ...

    @property
    def next_target_seq(self) -> int: ...

    async def open(self) -> StoredState:
        """Load (or create) the stored state; must be called once before anything else."""
        ...

    def save_message(self, seq: int, raw: bytes) -> None:
        """Record an outbound application message sent as `seq`; next sender seq becomes seq+1."""
        ...

    def set_next_sender_seq(self, seq: int) -> None: ...

    def set_next_target_seq(self, seq: int) -> None: ...

    def reset(self) -> None:
        """Start a new epoch: both next sequence numbers 1, stored messages dropped."""
        ...

    def flush(self) -> None:
        """Hand buffered changes to the backend; cheap when nothing changed."""
        ...

    async def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored messages with begin <= seq <= end, in order (admin messages are never stored)."""
        ...

    async def sync(self) -> None:
        """Wait until everything flushed so far is durable in the backend."""
        ...

    async def close(self) -> None: ...


DEFAULT_MAX_MESSAGES = 100_000


class MemoryStore:
    """The embedded default and the test double: everything in dicts, lost with the process.

    Keeps only the newest `max_messages` sent messages, so a long-lived session does not
    grow without bound; a ResendRequest for older ones is answered with a GapFill (as the
    session does for any message it no longer has)."""

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError(f"max_messages must be a positive integer, got {max_messages!r}")
        self.max_messages = max_messages
        self._sender = 1
        self._target = 1
        self._messages: dict[int, bytes] = {}
        self._creation_time = time.time()

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    async def open(self) -> StoredState:
        return StoredState(self._sender, self._target, self._creation_time)

    def save_message(self, seq: int, raw: bytes) -> None:
        messages = self._messages
        messages[checked_seq("MsgSeqNum", seq)] = raw
        self._sender = seq + 1
        if len(messages) > self.max_messages:
            # Sequence numbers only grow within an epoch: the first key is the oldest.
            del messages[next(iter(messages))]

    def set_next_sender_seq(self, seq: int) -> None:
        self._sender = checked_seq("next sender seq", seq)

    def set_next_target_seq(self, seq: int) -> None:
        self._target = checked_seq("next target seq", seq)

    def reset(self) -> None:
        self._sender = 1
        self._target = 1
        self._messages.clear()
        self._creation_time = time.time()

    def flush(self) -> None:
        return None

    async def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        found = self._messages
        return [(s, found[s]) for s in seqs_in_range(found.keys(), begin, end)]

    async def sync(self) -> None:
        return None

    async def close(self) -> None:
        return None
