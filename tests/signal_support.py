"""Small hand-made ONNX files for the signal tests: a linear signal model and a linear policy
that takes the signal, each with the metadata the runtimes check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

from rlexec.market.signal_features import SIGNAL_FEATURE_NAMES, SignalConfig
from rlexec.models import contract
from rlexec.models import signal as sig
from rlexec.models.contract import (
    ACTIONS,
    META_ACTIONS,
    META_FEATURES,
    META_OBS_MEAN,
    META_OBS_STD,
    META_OUTPUT,
    META_SIGNAL,
    actions_json,
    observation_names,
)
from rlexec.models.policy import OnnxPolicy


def _gemm(
    path: Path, weights: npt.NDArray[Any], bias: npt.NDArray[Any], props: dict[str, str]
) -> Path:
    n, k = weights.shape
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", k])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, weights.shape, weights.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def signal_model(
    path: Path,
    weights: npt.NDArray[Any] | None = None,
    names: tuple[str, ...] = SIGNAL_FEATURE_NAMES,
    meta: dict[str, str] | None = None,
) -> Path:
    """prediction = normalised features @ weights (+ 0), with a signal model's metadata."""
    n = len(names)
    w = np.linspace(-1.0, 1.0, n, dtype=np.float32) if weights is None else weights
    props = {
        sig.META_KIND: sig.KIND,
        contract.META_FEATURES: json.dumps(list(names)),
        sig.META_FEATURE_CONFIG: json.dumps(SignalConfig().as_json()),
        contract.META_OBS_MEAN: json.dumps([0.0] * n),
        contract.META_OBS_STD: json.dumps([2.0] * n),
        sig.META_HORIZON: "15.0",
        contract.META_OUTPUT: sig.OUTPUT,
        **(meta or {}),
    }
    return _gemm(path, w.reshape(n, 1).astype(np.float32), np.zeros(1, np.float32), props)


def signal_policy(path: Path, signal: Path, vote: tuple[int, int] = (2, 12)) -> Path:
    """A policy over the contract + `signal_adverse_bps`: the signal feature votes for action
    `vote[1]` when positive and `vote[0]` when negative; the rest is zero. Its normaliser is
    the shipped policy's (the signal: mean 0, std 1 bps), so that the live drift monitor
    sees ordinary markets as ordinary."""
    shipped = OnnxPolicy().normaliser
    mean = [*shipped.mean.tolist(), 0.0]
    std = [*shipped.std.tolist(), 1.0]
    names = observation_names(True)
    n, a = len(names), len(ACTIONS)
    weights = np.zeros((n, a), dtype=np.float32)
    weights[-1, vote[1]] = 1.0
    weights[-1, vote[0]] = -1.0
    identity = {"name": signal.name, "sha256": sig.file_sha256(signal)}
    props = {
        META_FEATURES: json.dumps(list(names)),
        META_ACTIONS: actions_json(),
        META_OBS_MEAN: json.dumps(mean),
        META_OBS_STD: json.dumps(std),
        META_OUTPUT: "action_scores",
        META_SIGNAL: json.dumps(identity),
    }
    return _gemm(path, weights, np.zeros(a, np.float32), props)
