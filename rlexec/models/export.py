"""Export a trained SB3 policy to ONNX with the rlexec contract in its metadata.

The graph maps a normalised observation to one score per action (PPO: the actor's
logits; DQN: Q-values); the runtime normalises, runs it and takes the argmax. Exported
with the TorchScript exporter (`dynamo=False`) at opset 17: the dynamo exporter of
torch 2.13 trips on SB3's distribution argument checks.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from rlexec.models.contract import (
    ACTIONS,
    META_ACTIONS,
    META_EVALUATION,
    META_FEATURES,
    META_OBS_CLIP,
    META_OBS_MEAN,
    META_OBS_STD,
    META_OUTPUT,
    META_SIGNAL,
    META_TRAINING,
    actions_json,
    observation_names,
)

OPSET = 17


def load_sb3(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    from stable_baselines3 import DQN, PPO

    record = json.loads((run_dir / "training.json").read_text())
    cls = PPO if record["settings"]["algorithm"] == "ppo" else DQN
    return cls.load(run_dir / "model.zip", device="cpu"), record


def scores_module(model: Any) -> Any:
    """A torch module: normalised observation → action scores, matching `model.predict`."""
    import torch
    from stable_baselines3 import DQN

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = model.policy

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            scores: torch.Tensor
            if isinstance(model, DQN):
                scores = self.policy.q_net(obs)
            else:
                features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
                scores = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
            return scores

    module = Scores()
    module.eval()
    return module


def export(run_dir: Path, out: Path, evaluation: dict[str, Any] | None = None) -> Path:
    import onnx
    import torch

    model, record = load_sb3(run_dir)
    module = scores_module(model)
    signal = record.get("signal")
    names = observation_names(signal is not None)
    n = len(names)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated but is the one that handles SB3 (see above).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module, (torch.zeros(1, n),), str(out), opset_version=OPSET, dynamo=False,
            input_names=["observation"], output_names=["action_scores"],
            dynamic_axes={"observation": {0: "batch"}, "action_scores": {0: "batch"}},
        )  # fmt: skip
    proto = onnx.load(str(out))
    norm = record["normaliser"]
    training = {k: v for k, v in record.items() if k not in ("curve", "normaliser")}
    props = {
        META_FEATURES: json.dumps(list(names)),
        META_ACTIONS: actions_json(ACTIONS),
        META_OBS_MEAN: json.dumps(norm["mean"]),
        META_OBS_STD: json.dumps(norm["std"]),
        META_OBS_CLIP: json.dumps(norm["clip"]),
        META_OUTPUT: "action_scores",
        META_TRAINING: json.dumps(training),
        META_EVALUATION: json.dumps(evaluation or {}),
    }
    if signal is not None:
        props[META_SIGNAL] = json.dumps(signal)
        source = Path(record["settings"].get("signal") or "")
        beside = out.parent / signal["name"]
        if source.is_file() and not beside.exists():  # the policy is found with its signal
            shutil.copy(source, beside)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "rlexec"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out
