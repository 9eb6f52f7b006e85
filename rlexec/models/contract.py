"""The policy contract: what the observation holds and what each action means.

An exported policy carries this contract in its ONNX metadata; the runtime compares it
with the live feature builder and the action table below and refuses any mismatch, so a
model can never be fed features in an order it was not trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

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
REQUIRED_META = (META_FEATURES, META_ACTIONS, META_OBS_MEAN, META_OBS_STD, META_OUTPUT)
