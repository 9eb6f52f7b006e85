"""The policy contract: what the observation holds and what each action means.

An exported policy carries this contract in its ONNX metadata; the runtime compares it
with the live feature builder and the action table below and refuses any mismatch, so a
model can never be fed features in an order it was not trained on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from rlexec.market.features import FEATURE_NAMES


class Tactic(Enum):
    """How a child order meets the market."""

    PASSIVE = "passive"  # join the touch on our side
    INSIDE = "inside"  # one tick inside the spread (at our touch if the spread is one tick)
    CROSS = "cross"  # marketable limit at the far touch


@dataclass(frozen=True, slots=True)
class Action:
    rate: float
    """Multiple of the even rate needed to finish on time (remaining qty / remaining steps)."""
    tactic: Tactic

    def as_json(self) -> dict[str, object]:
        return {"rate": self.rate, "tactic": self.tactic.value}


RATES = (0.0, 0.5, 1.0, 1.5, 2.0)
ACTIONS: tuple[Action, ...] = tuple(Action(r, t) for r in RATES for t in Tactic)
"""Index = the policy's discrete action."""

OBSERVATION_NAMES: tuple[str, ...] = FEATURE_NAMES

SIGNAL_FEATURE = "signal_adverse_bps"
"""The price-move signal as a policy feature (`models.signal`): its prediction of the mid
move over the next decision interval × the parent's side, bps, + = against us."""


def observation_names(signal: bool = False) -> tuple[str, ...]:
    """The observation a policy sees: the feature contract, then the signal if it takes one."""
    return (*OBSERVATION_NAMES, SIGNAL_FEATURE) if signal else OBSERVATION_NAMES


def actions_json(actions: tuple[Action, ...] = ACTIONS) -> str:
    return json.dumps([a.as_json() for a in actions])


def actions_from_json(text: str) -> tuple[Action, ...]:
    return tuple(Action(float(a["rate"]), Tactic(a["tactic"])) for a in json.loads(text))


# ONNX metadata keys (metadata_props), all JSON-encoded strings.
META_FEATURES = "rlexec.feature_names"
META_ACTIONS = "rlexec.actions"
META_OBS_MEAN = "rlexec.obs_mean"
META_OBS_STD = "rlexec.obs_std"
META_OBS_CLIP = "rlexec.obs_clip"
META_OUTPUT = "rlexec.output"  # "action_scores": argmax over the last axis picks the action
META_TRAINING = "rlexec.training"  # data, window, seed, timesteps, algorithm, library versions
META_EVALUATION = "rlexec.evaluation"  # out-of-sample summary
META_SIGNAL = "rlexec.signal"  # {"name", "sha256"} of the signal model a policy takes, if any
REQUIRED_META = (META_FEATURES, META_ACTIONS, META_OBS_MEAN, META_OBS_STD, META_OUTPUT)


Obs = npt.NDArray[np.float32]


class Normaliser:
    """The one observation rule for training, backtests and the live runtime.

    Affine scaling with the fixed mean and std the exported model carries, then clipping.
    A feature that cannot be computed (NaN: a one-sided book, no trade yet) becomes 0 —
    its training mean — and ±inf becomes ±clip: the policy was trained on exactly this, so
    the live service feeds it the same instead of refusing what training accepted.
    """

    __slots__ = ("_clip32", "_inv_std", "_neg_clip", "_neg_clip32", "clip", "mean", "std")

    def __init__(self, mean: npt.ArrayLike, std: npt.ArrayLike, clip: float = 10.0) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.ndim != 1 or self.std.shape != self.mean.shape:
            raise ValueError("normaliser needs one mean and one std per feature")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()):
            raise ValueError("normaliser means and stds must be finite")
        if not (self.std > 0).all():
            raise ValueError("normaliser stds must be positive")
        if not (math.isfinite(clip) and clip > 0):
            raise ValueError(f"normaliser clip must be finite and positive, got {clip}")
        self.clip = float(clip)
        self._neg_clip = -self.clip
        self._inv_std = (1.0 / self.std).astype(np.float32)
        # float32 scalars: the same values (both are exact in float32), one cast fewer per call
        self._clip32 = np.float32(self.clip)
        self._neg_clip32 = np.float32(self._neg_clip)

    @classmethod
    def identity(cls, n: int = len(OBSERVATION_NAMES)) -> Normaliser:
        return cls(np.zeros(n), np.ones(n))

    @property
    def inv_std(self) -> Obs:
        """1 / std in float32, the factor `into` multiplies by."""
        return self._inv_std

    def __call__(self, raw: Sequence[float]) -> Obs:
        x = np.asarray(raw, dtype=np.float32)
        return self.into(raw, x)

    def into(self, raw: Sequence[float], x: Obs, finite: bool | None = None) -> Obs:
        """Normalise `raw` into the float32 array `x` (same length), in place; returns `x`.
        `finite`: whether every value of `raw` is finite, when the caller already knows."""
        x[:] = raw
        np.subtract(x, self.mean, x)
        np.multiply(x, self._inv_std, x)
        if finite is None:
            finite = all(map(math.isfinite, raw))
        if not finite:  # the rare path: impute and clamp infinities
            np.nan_to_num(x, copy=False, nan=0.0, posinf=self.clip, neginf=self._neg_clip)
        np.minimum(x, self._clip32, out=x)
        np.maximum(x, self._neg_clip32, out=x)
        return x


def read_normalisation(meta: Mapping[str, str]) -> tuple[Obs, Obs, float]:
    """The (mean, std, clip) an ONNX model's metadata carries; ValueError, KeyError or TypeError
    when unreadable (the caller names the file)."""
    mean = np.asarray(json.loads(meta[META_OBS_MEAN]), dtype=np.float32)
    std = np.asarray(json.loads(meta[META_OBS_STD]), dtype=np.float32)
    return mean, std, float(json.loads(meta.get(META_OBS_CLIP, "10.0")))


def checked_normaliser(
    mean: Obs, std: Obs, clip: float, n: int, problems: list[str]
) -> Normaliser | None:
    """The normaliser for `n` features, or None with the reason appended to `problems`."""
    if mean.shape != (n,) or std.shape != (n,):
        problems.append(f"normalisation must be {n} finite means and positive stds")
        return None
    try:
        return Normaliser(mean, std, clip)
    except ValueError as exc:
        problems.append(f"normalisation: {exc}")
        return None


def imputed(raw: Sequence[float]) -> int:
    """How many features of an observation are not finite (the normaliser imputes them)."""
    return sum(1 for v in raw if not math.isfinite(v))


def contract_differences(model: Sequence[str], live: Sequence[str]) -> list[str]:
    """Human-readable differences between the model's feature list and the live one."""
    problems: list[str] = []
    missing = [n for n in model if n not in live]
    extra = [n for n in live if n not in model]
    if missing:
        problems.append(f"model needs features the service cannot build: {', '.join(missing)}")
    if extra:
        problems.append(f"service builds features the model was not trained on: {', '.join(extra)}")
    if not problems and list(model) != list(live):
        first = next(i for i, (a, b) in enumerate(zip(model, live, strict=True)) if a != b)
        problems.append(
            f"feature order differs from position {first}: model has {model[first]!r}, "
            f"service has {live[first]!r}"
        )
    return problems
