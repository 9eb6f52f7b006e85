"""Feature drift: how far each policy input's live distribution has moved from training's.

The model's metadata carries the mean and standard deviation of every feature over its
training episodes (the normaliser). The service keeps an exponentially weighted mean of
each live feature (over the observations the policy actually saw) and reports
`|live mean − training mean| / training std` per feature: 0 is home, 1 is a shift of one
training standard deviation. Observations are only queued on the decision path; the
arithmetic runs in the housekeeping task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class DriftMonitor:
    def __init__(
        self,
        names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        halflife: float = 200.0,
    ) -> None:
        if not (len(names) == len(mean) == len(std)):
            raise ValueError("drift monitor needs one mean and one std per feature")
        self.names = tuple(names)
        self.train_mean = [float(m) for m in mean]
        self.train_std = [float(s) if s > 0 else 1.0 for s in std]
        self.alpha = 1.0 - 0.5 ** (1.0 / halflife)
        self.live_mean: list[float | None] = [None] * len(self.names)
        self.observed = 0
        self._pending: list[Sequence[float]] = []

    def observe(self, observation: Sequence[float]) -> None:
        """Queue one observation (O(1): the decision path)."""
        self._pending.append(observation)

    def drain(self) -> None:
        pending, self._pending = self._pending, []
        alpha = self.alpha
        live = self.live_mean
        for obs in pending:
            if len(obs) != len(live):
                continue
            self.observed += 1
            for i, value in enumerate(obs):
                if not math.isfinite(value):
                    continue
                current = live[i]
                live[i] = value if current is None else current + alpha * (value - current)

    def scores(self) -> dict[str, float]:
        """Drift per feature, in training standard deviations; features never seen are absent."""
        self.drain()
        return {
            name: abs(live - m) / s
            for name, live, m, s in zip(
                self.names, self.live_mean, self.train_mean, self.train_std, strict=True
            )
            if live is not None
        }
