"""A live Service on its own event-loop thread, so that synchronous clients (urllib,
schemathesis, `rlexec` subprocesses) can talk to its HTTP API while it trades."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rlexec.service.config import ServiceSettings
from rlexec.service.runtime import Service

T = TypeVar("T")
TOKENS = {
    "viewer": "viewer-token-0123456789",
    "trader": "trader-token-0123456789",
    "risk": "risk-token-0123456789ab",
}
WRONG_TOKEN = "nobody-token-0123456789"
TOKENS_ENV = ",".join(f"{role}:{token}" for role, token in TOKENS.items())


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveService:
    service: Service
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.api_port}"

    def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on the service's loop thread (the only safe place to read its state)."""

        async def call() -> T:
            return fn()

        return self.wait(call())

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str | None = None,
        token: str | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        headers = {"Content-Type": "application/json"}
        token = TOKENS[role] if role is not None else token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return Answer(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())


def live_service(settings: ServiceSettings) -> Iterator[LiveService]:
    """Start `Service(settings)` on a new loop thread with the test tokens; stop it after."""
    previous = os.environ.get("RLEXEC_API_TOKENS")
    os.environ["RLEXEC_API_TOKENS"] = TOKENS_ENV
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Service:
        service = Service(settings)
        await service.start()
        return service

    try:
        service = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        live = LiveService(service, loop)
        try:
            yield live
        finally:
            live.wait(service.stop(grace_s=5.0))
    finally:
        if previous is None:
            os.environ.pop("RLEXEC_API_TOKENS", None)
        else:
            os.environ["RLEXEC_API_TOKENS"] = previous
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
