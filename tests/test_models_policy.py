"""The ONNX policy runtime: contract checks on load, argmax decisions, fail-safe outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper

from rlexec.market.features import FEATURE_NAMES
from rlexec.market.orders import Side
from rlexec.models.contract import (
    ACTIONS,
    META_ACTIONS,
    META_FEATURES,
    META_OBS_MEAN,
    META_OBS_STD,
    META_OUTPUT,
    Normaliser,
    actions_json,
)
from rlexec.models.policy import OnnxPolicy, PolicyError

N, A = len(FEATURE_NAMES), len(ACTIONS)


def linear_model(
    path: Path, weights: npt.NDArray[Any], bias: npt.NDArray[Any], **meta: str
) -> Path:
    """scores = x @ W + b, with the rlexec contract in its metadata (overridable)."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["obs", "W", "b"], ["scores"])],
        "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, weights.shape[0]])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, weights.shape[1]])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, weights.shape, weights.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {
        META_FEATURES: json.dumps(list(FEATURE_NAMES)),
        META_ACTIONS: actions_json(),
        META_OBS_MEAN: json.dumps([0.0] * weights.shape[0]),
        META_OBS_STD: json.dumps([1.0] * weights.shape[0]),
        META_OUTPUT: "action_scores",
        **meta,
    }
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def test_decides_by_argmax_after_normalising(tmp_path: Path) -> None:
    weights = np.zeros((N, A), dtype=np.float32)
    weights[0, 7] = 1.0  # spread_ticks votes for action 7
    weights[1, 3] = 1.0  # imbalance votes for action 3
    mean = [0.0] * N
    mean[0] = 10.0
    path = linear_model(tmp_path / "m.onnx", weights, np.zeros(A, np.float32),
                        **{META_OBS_MEAN: json.dumps(mean)})  # fmt: skip
    policy = OnnxPolicy(path)
    obs = [0.0] * N
    obs[0], obs[1] = 15.0, 2.0  # normalised spread 5 beats imbalance 2
    decision = policy.decide(obs)
    assert decision is not None and decision.index == 7 and decision.action == ACTIONS[7]
    obs[0] = 11.0  # normalised 1 < 2
    decision = policy.decide(obs)
    assert decision is not None and decision.index == 3


def test_non_finite_features_are_imputed_as_in_training(tmp_path: Path) -> None:
    """One NaN rule for training and live: a missing feature is its training mean (0 after
    normalising), ±inf is ±clip — exactly what `ExecutionEnv` fed the policy in training."""
    weights = np.zeros((N, A), dtype=np.float32)
    weights[4, 5] = 1.0  # feature 4 votes for action 5 ...
    bias = np.zeros(A, np.float32)
    bias[9] = 0.5  # ... against a constant 0.5 for action 9
    mean = [0.0] * N
    mean[4] = 3.0
    path = linear_model(tmp_path / "m.onnx", weights, bias, **{META_OBS_MEAN: json.dumps(mean)})
    policy = OnnxPolicy(path)
    env_rule = Normaliser(mean, [1.0] * N)
    obs = [0.0] * N
    obs[4] = math.nan  # imputed at its mean: normalised 0 < 0.5
    decision = policy.decide(obs)
    assert decision is not None and decision.index == 9 and policy.last_imputed == 1
    assert np.array_equal(policy.normalise(obs), env_rule(obs))
    obs[4] = math.inf  # clipped at +10 > 0.5
    decision = policy.decide(obs)
    assert decision is not None and decision.index == 5
    assert np.array_equal(policy.normalise(obs), env_rule(obs))


def test_non_finite_output_or_wrong_length_gives_no_decision(tmp_path: Path) -> None:
    bias = np.zeros(A, np.float32)
    policy = OnnxPolicy(linear_model(tmp_path / "m.onnx", np.ones((N, A), np.float32), bias))
    assert policy.decide([0.0] * N) is not None
    assert policy.decide([0.0] * (N - 1)) is None
    bias[2] = np.inf
    broken = OnnxPolicy(linear_model(tmp_path / "inf.onnx", np.ones((N, A), np.float32), bias))
    assert broken.decide([0.0] * N) is None


def test_refuses_a_model_whose_features_differ_and_names_them(tmp_path: Path) -> None:
    names = list(FEATURE_NAMES)
    names[2] = "queue_position"
    path = linear_model(tmp_path / "m.onnx", np.zeros((N, A), np.float32), np.zeros(A, np.float32),
                        **{META_FEATURES: json.dumps(names)})  # fmt: skip
    with pytest.raises(PolicyError) as info:
        OnnxPolicy(path)
    message = str(info.value)
    assert "queue_position" in message and "depth_imbalance" in message
    assert "cannot build" in message and "not trained on" in message


def test_refuses_reordered_features(tmp_path: Path) -> None:
    names = list(FEATURE_NAMES)
    names[0], names[1] = names[1], names[0]
    path = linear_model(tmp_path / "m.onnx", np.zeros((N, A), np.float32), np.zeros(A, np.float32),
                        **{META_FEATURES: json.dumps(names)})  # fmt: skip
    with pytest.raises(PolicyError, match="order differs from position 0"):
        OnnxPolicy(path)


def test_refuses_missing_metadata_or_a_broken_file(tmp_path: Path) -> None:
    graph_only = linear_model(
        tmp_path / "m.onnx", np.zeros((N, A), np.float32), np.zeros(A, np.float32)
    )
    model = onnx.load(str(graph_only))
    del model.metadata_props[:]
    onnx.save(model, str(graph_only))
    with pytest.raises(PolicyError, match=r"metadata lacks rlexec\.feature_names"):
        OnnxPolicy(graph_only)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(PolicyError, match="not a loadable ONNX model"):
        OnnxPolicy(junk)
    with pytest.raises(PolicyError, match="no such model file"):
        OnnxPolicy(tmp_path / "absent.onnx")
    for names in ("5", '{"a": 1}', '["spread", 3]'):  # valid JSON, not a list of names
        odd = linear_model(tmp_path / "odd.onnx", np.zeros((N, A), np.float32),
                           np.zeros(A, np.float32), **{META_FEATURES: names})  # fmt: skip
        with pytest.raises(PolicyError, match=r"unreadable contract metadata.*list of names"):
            OnnxPolicy(odd)


def test_refuses_a_different_action_table(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "m.onnx", np.zeros((N, 2), np.float32), np.zeros(2, np.float32),
                        **{META_ACTIONS: actions_json(ACTIONS[:2])})  # fmt: skip
    with pytest.raises(PolicyError, match="action table differs"):
        OnnxPolicy(path)


def test_the_shipped_model_is_the_default_and_fits_the_live_contract(aapl_message: Path) -> None:
    """The artifact the service runs by default loads against today's feature builder and
    decides on real observations from the venue replay."""
    from rlexec.models.execution import ParentExecution
    from rlexec.models.runner import replay_config
    from rlexec.simulator.replay import MarketReplay

    policy = OnnxPolicy()
    assert policy.feature_names == FEATURE_NAMES
    replay = MarketReplay(aapl_message, replay_config(), start_ns=40_000 * 10**9)
    ex = ParentExecution(replay, Side.BUY, 2_000, 300.0)
    decisions = []
    for step in range(10):
        ex.advance_to(ex.state.start_ns + (step + 1) * 15 * 10**9)
        decision = policy.decide(ex.observation())
        assert decision is not None
        decisions.append(decision.action)
    assert all(a in ACTIONS for a in decisions)
    training = json.loads(policy.metadata["rlexec.training"])
    assert training["settings"]["window"] == "09:35-13:00" and training["symbol"] == "AAPL"
    evaluation = json.loads(policy.metadata["rlexec.evaluation"])
    assert set(evaluation) == {"time_split", "ticker_split", "protocol"}
    from rlexec.models.protocol import load_plan

    assert evaluation["protocol"]["plan_sha256"] == load_plan().sha256  # judged by this plan


def test_refuses_a_model_that_does_not_run_on_its_own_contract(tmp_path: Path) -> None:
    """The graph takes 12 inputs while its metadata names 11 features: refused at load."""
    path = linear_model(tmp_path / "m.onnx", np.ones((N + 1, A), np.float32), np.zeros(A, np.float32),
                        **{META_OBS_MEAN: json.dumps([0.0] * N), META_OBS_STD: json.dumps([1.0] * N)})  # fmt: skip
    with pytest.raises(PolicyError, match="does not run on a 11-feature observation"):
        OnnxPolicy(path)
