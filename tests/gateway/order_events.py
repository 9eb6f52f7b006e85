"""An `OrderEvents` that queues what the order-entry client reports, for tests to await."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rlexec.gateway.execution import CancelRejectEvent, ExecutionEvent, MassCancelReport
from rlexec.gateway.order_client import OrderEvents

Event = ExecutionEvent | CancelRejectEvent | MassCancelReport


@dataclass
class QueuedEvents(OrderEvents):
    """Execution reports, cancel rejects and mass-cancel reports in arrival order; session
    up/down notices in `sessions`."""

    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    sessions: list[tuple[bool, str]] = field(default_factory=list)

    def on_execution(self, event: ExecutionEvent) -> None:
        self.queue.put_nowait(event)

    def on_cancel_reject(self, event: CancelRejectEvent) -> None:
        self.queue.put_nowait(event)

    def on_mass_cancel_report(self, report: MassCancelReport) -> None:
        self.queue.put_nowait(report)

    def on_session(self, logged_on: bool, reason: str) -> None:
        self.sessions.append((logged_on, reason))

    async def next(self, within: float = 3.0) -> Event:
        async with asyncio.timeout(within):
            return await self.queue.get()

    async def executions(self, n: int) -> list[ExecutionEvent]:
        out = []
        for _ in range(n):
            event = await self.next()
            assert isinstance(event, ExecutionEvent), event
            out.append(event)
        return out

    async def silence(self, seconds: float = 0.2) -> None:
        """Wait, then assert that nothing arrived meanwhile."""
        await asyncio.sleep(seconds)
        assert self.queue.empty(), self.queue.get_nowait()
