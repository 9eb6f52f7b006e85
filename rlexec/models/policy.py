"""Run an exported execution policy: onnxruntime, one intra-op thread, one run per decision.

Loading checks the model's contract against the live feature builder and refuses a model
whose features or actions differ, saying exactly which. At run time the observation goes
through `contract.Normaliser`, the rule the model was trained with (a feature that cannot
be computed is imputed at its training mean) — inside the graph where it can be put there
(`policy_graph`), the same float32 arithmetic; a non-finite output, or an observation of
the wrong length, yields None: the algo then falls back to its schedule (and counts it),
and nothing odd reaches the venue.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from rlexec.market.errors import RlexecError
from rlexec.models.contract import (
    ACTIONS,
    META_ACTIONS,
    META_FEATURES,
    META_OUTPUT,
    META_SIGNAL,
    OBSERVATION_NAMES,
    REQUIRED_META,
    SIGNAL_FEATURE,
    Action,
    actions_from_json,
    checked_normaliser,
    contract_differences,
    imputed,
    read_normalisation,
)
from rlexec.models.policy_graph import with_normaliser
from rlexec.models.signal import ARTIFACTS as SIGNAL_ARTIFACTS
from rlexec.models.signal import SignalError, SignalModel

DEFAULT_MODEL = Path(__file__).resolve().parent / "artifacts" / "rlexec-ppo-aapl.onnx"


class PolicyError(RlexecError):
    """The model file cannot be used: says which file and why."""


@dataclass(frozen=True, slots=True)
class Decision:
    index: int
    action: Action


class OnnxPolicy:
    """A loaded, contract-checked policy."""

    def __init__(
        self,
        path: str | Path = DEFAULT_MODEL,
        feature_names: Sequence[str] = OBSERVATION_NAMES,
        actions: tuple[Action, ...] = ACTIONS,
        signal: SignalModel | str | Path | None = None,
    ) -> None:
        """`signal`: the price-move signal model, for a policy trained with one (its metadata
        names it by sha256). Left out, it is looked for by name beside the policy file, then
        among the shipped artifacts; a policy trained without a signal refuses one."""
        self.path = Path(path)
        if not self.path.is_file():
            raise PolicyError(f"{self.path}: no such model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise PolicyError(f"{self.path}: not a loadable ONNX model ({exc})") from None
        meta = self._session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise PolicyError(f"{self.path}: metadata lacks {', '.join(missing)}")
        try:
            model_features = json.loads(meta[META_FEATURES])
            if not isinstance(model_features, list) or not all(
                isinstance(f, str) for f in model_features
            ):
                raise ValueError(f"{META_FEATURES} must be a JSON list of names")
            model_actions = actions_from_json(meta[META_ACTIONS])
            mean, std, clip = read_normalisation(meta)
        except (ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"{self.path}: unreadable contract metadata ({exc})") from None
        self.signal = self._signal(meta, signal)
        if self.signal is not None:
            feature_names = (*feature_names, SIGNAL_FEATURE)
        problems = contract_differences(model_features, feature_names)
        if model_actions != actions:
            problems.append(
                f"action table differs: model has {len(model_actions)} actions "
                f"{[a.as_json() for a in model_actions]}, service expects {len(actions)}"
            )
        if meta[META_OUTPUT] != "action_scores":
            problems.append(f"unknown output kind {meta[META_OUTPUT]!r}")
        n = len(model_features)
        normaliser = checked_normaliser(mean, std, clip, n, problems)
        if problems or normaliser is None:
            raise PolicyError(f"{self.path}: refused — " + "; ".join(problems))
        self.feature_names: tuple[str, ...] = tuple(model_features)
        self.actions = model_actions
        self.normaliser = normaliser
        self.last_imputed = 0
        """Features of the last observation that were not finite (imputed at their mean)."""
        fused = self._normalising_session(options)
        self._in_graph = fused is not None
        """Whether the session normalises (see `policy_graph`); else `normaliser.into` does."""
        if fused is not None:
            self._session = fused
        self._means: list[float] = normaliser.mean.tolist()
        self._input = self._session.get_inputs()[0].name
        self._outputs = [self._session.get_outputs()[0].name]
        self._buffer = np.zeros((1, n), dtype=np.float32)
        self._row = self._buffer[0]
        self._feed = {self._input: self._buffer}
        self._n = n
        self._decisions = tuple(Decision(i, a) for i, a in enumerate(model_actions))
        # One inference now: ONNX Runtime's first run allocates and plans (hundreds of µs),
        # which must not land on the first live decision; and a model that cannot run on an
        # observation of its own contract is refused here, not at the first decision.
        try:
            first = self._session.run(self._outputs, self._feed)[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise PolicyError(
                f"{self.path}: refused — it does not run on a {n}-feature observation ({exc})"
            ) from None
        shape = (1, len(model_actions))
        if getattr(first, "shape", None) != shape or first.dtype != np.float32:
            raise PolicyError(
                f"{self.path}: refused — it outputs {getattr(first, 'dtype', '?')} scores of shape "
                f"{getattr(first, 'shape', '?')}, its action table needs float32 {shape}"
            )
        # The decision path runs through one IO binding: the input buffer (normalised in
        # place) and a preallocated output are bound once, so a run converts, validates and
        # allocates nothing in Python (about half of `InferenceSession.run`'s cost here).
        self._scores = np.zeros(shape, dtype=np.float32)
        self._score_row = self._scores[0]
        binding = self._session.io_binding()
        binding.bind_cpu_input(self._input, self._buffer)
        binding.bind_output(
            self._outputs[0], "cpu", 0, np.float32, list(shape), self._scores.ctypes.data
        )
        self._binding = binding
        self._run_options = ort.RunOptions()
        # "No graph capture", said explicitly: onnxruntime's `run_with_iobinding` looks this key
        # up on every run, and a missing key costs an exception inside it (~25 µs, 10× the run).
        self._run_options.add_run_config_entry("gpu_graph_id", "-1")
        self._run = self._bound_run()
        self._run()

    def _normalising_session(self, options: ort.SessionOptions) -> ort.InferenceSession | None:
        """The model with the normaliser in its graph (`policy_graph`), or None if it cannot be
        built or loaded (the numpy normaliser then runs before the model, as before)."""
        try:
            model = with_normaliser(self.path.read_bytes(), self.normaliser)
            if model is None:
                return None
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception:  # onnx and onnxruntime raise their own untyped errors
            return None

    def _bound_run(self) -> Callable[[], None]:
        """One inference on the bound buffers. `InferenceSession.run_with_iobinding` is a
        Python wrapper whose per-run work is WebGPU graph-capture bookkeeping (two more calls
        into the extension, ~0.4 µs of a ~2.3 µs run); where this onnxruntime has the objects
        it wraps, they are called directly, else the public method is (same result, tested)."""
        binding, options = self._binding, self._run_options
        native = getattr(self._session, "_sess", None)
        native_binding = getattr(binding, "_iobinding", None)
        if native is not None and native_binding is not None:
            return partial(native.run_with_iobinding, native_binding, options)
        return partial(self._session.run_with_iobinding, binding, options)

    def _signal(
        self, meta: dict[str, str], given: SignalModel | str | Path | None
    ) -> SignalModel | None:
        """The signal model this policy was trained with, checked by sha256; None if none."""
        if META_SIGNAL not in meta:
            if given is not None:
                raise PolicyError(f"{self.path}: refused — it was trained without a price-move "
                                  "signal, but one was given")  # fmt: skip
            return None
        try:
            wanted = json.loads(meta[META_SIGNAL])
            name, sha = str(wanted["name"]), str(wanted["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"{self.path}: unreadable signal metadata ({exc})") from None
        if given is None:
            found = [p for p in (self.path.parent / name, SIGNAL_ARTIFACTS / name) if p.is_file()]
            if not found:
                raise PolicyError(
                    f"{self.path}: refused — it needs the price-move signal {name} "
                    f"(sha256 {sha[:16]}…), found neither beside it nor in {SIGNAL_ARTIFACTS}"
                )
            given = found[0]
        try:
            model = given if isinstance(given, SignalModel) else SignalModel(given)
        except SignalError as exc:
            raise PolicyError(f"{self.path}: refused — its signal model: {exc}") from None
        if model.sha256 != sha:
            raise PolicyError(
                f"{self.path}: refused — it was trained with signal {name} sha256 {sha[:16]}…, "
                f"given {model.path.name} sha256 {model.sha256[:16]}…"
            )
        return model

    def normalise(self, observation: Sequence[float]) -> npt.NDArray[np.float32]:
        return self.normaliser(observation)

    def scores(self, observation: Sequence[float]) -> list[float] | None:
        """Raw action scores, or None when the observation has the wrong length or the
        output is not finite. (The decision path: the observation normalised into the bound
        input buffer, one run writing the bound output; no allocation but the list.)"""
        if len(observation) != self._n:
            return None
        # A sum is finite only if every term is (NaN and ±inf propagate); finite terms can
        # still overflow it, so a non-finite sum is counted exactly before imputing.
        finite = math.isfinite(sum(observation))
        self.last_imputed = 0 if finite else imputed(observation)
        if not self._in_graph:
            self.normaliser.into(observation, self._row, finite or not self.last_imputed)
        elif finite or not self.last_imputed:
            self._row[:] = observation
        else:  # the normaliser imputes a NaN at its mean (0 once normalised): so does this
            self._row[:] = [
                m if v != v else v for v, m in zip(observation, self._means, strict=True)
            ]
        self._run()
        scores: list[float] = self._score_row.tolist()
        # float32 scores summed in float64 cannot overflow: finite sum == every score finite
        if not math.isfinite(sum(scores)):
            return None
        return scores

    def decide(self, observation: Sequence[float]) -> Decision | None:
        scores = self.scores(observation)
        if scores is None:
            return None
        return self._decisions[scores.index(max(scores))]  # the first best, as numpy's argmax
