"""A dependency-free progress bar for long commands, drawn on stderr only when it is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self._last_draw = 0.0
        self._start = time.perf_counter()

    def update(self, fraction: float, detail: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and fraction < 1.0:
            return
        self._last_draw = now
        fraction = min(1.0, max(0.0, fraction))
        filled = int(self.width * fraction)
        bar = "█" * filled + "·" * (self.width - filled)
        elapsed = now - self._start
        self.stream.write(f"\r{self.label} {bar} {fraction:6.1%} {elapsed:5.1f}s {detail}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(1.0)
            self.stream.write("\n")
            self.stream.flush()
