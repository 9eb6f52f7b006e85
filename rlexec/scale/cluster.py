"""Joining a Ray cluster, or starting a local one, and leaving it as it was found."""

from __future__ import annotations

import logging

import ray

from rlexec.market.errors import RlexecError

LOCAL = "local"
"""Start a fresh single-machine Ray for this process (Ray's own name for it)."""


class RayConnection:
    """`ray.init` once; `close` shuts down only a Ray this object started or joined.

    `address`: None or "local" starts a local Ray (every core of this machine); "auto" joins
    the cluster `ray start` made on this machine (or `RAY_ADDRESS`); "host:port" joins that
    head; "ray://host:10001" goes through Ray Client. A process already connected (a test,
    a notebook) is used as it is and left connected.
    """

    def __init__(self, address: str | None = None) -> None:
        self.address = address or LOCAL
        self._owned = False

    def open(self) -> None:
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RlexecError(f"cannot reach a Ray cluster at {self.address!r}: {exc}") from None
        self._owned = True

    def close(self) -> None:
        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._owned = False
