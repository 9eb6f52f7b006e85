"""Run an exported execution policy: one forward pass per decision.

The pass runs in the compiled kernel (`policy_kernel.c`) where the model is a chain of dense
layers the kernel reads (`policy_layers`) and the kernel agrees with ONNX Runtime on probe
observations at load; otherwise in ONNX Runtime (one intra-op thread). ONNX Runtime is always
loaded: it is the reference the kernel is checked against, and the fallback.
`RLEXEC_POLICY_RUNTIME=onnxruntime` runs it anyway (to rule the kernel out, or to measure it);
`runtime` and `runtime_reason` say which runs and why.

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
import os
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
from rlexec.models.policy_layers import UnsupportedGraphError, dense_layers
from rlexec.models.signal import ARTIFACTS as SIGNAL_ARTIFACTS
from rlexec.models.signal import SignalError, SignalModel

try:
    from rlexec.models.policy_kernel import DenseNet
except ImportError:  # built without a C compiler: ONNX Runtime runs every model
    DenseNet = None  # type: ignore[assignment, misc]

DEFAULT_MODEL = Path(__file__).resolve().parent / "artifacts" / "rlexec-ppo-aapl.onnx"
RUNTIMES = (None, "compiled", "onnxruntime")
RUNTIME_ENV = "RLEXEC_POLICY_RUNTIME"
"""`onnxruntime`: run the model in ONNX Runtime even where the compiled kernel could."""
PROBES = 128
"""Observations the kernel must agree with ONNX Runtime on before it runs a model."""
PROBE_SEED = 20261130
SCORE_TOLERANCE = 1e-4
"""|kernel − ONNX Runtime| allowed per score, relative to 1 + |score|: float32 rounding of two
summation orders and two tanh implementations is ~1e-6 here; a wrong weight is far above it."""


class PolicyError(RlexecError):
    """The model file cannot be used: says which file and why."""


def _runtime_from_environment() -> str | None:
    """`RLEXEC_POLICY_RUNTIME`: unset or empty for the kernel where it can run, "compiled" to
    insist on it, "onnxruntime" for ONNX Runtime; anything else is refused, not ignored."""
    value = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if not value:
        return None
    if value not in RUNTIMES:
        raise PolicyError(f"{RUNTIME_ENV}={value!r}: expected compiled or onnxruntime")
    return value


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
        runtime: str | None = None,
    ) -> None:
        """`signal`: the price-move signal model, for a policy trained with one (its metadata
        names it by sha256). Left out, it is looked for by name beside the policy file, then
        among the shipped artifacts; a policy trained without a signal refuses one.
        `runtime`: "onnxruntime" or "compiled" to insist on one (a model the kernel cannot run
        is then refused); left out, `RLEXEC_POLICY_RUNTIME` says, or else the kernel runs
        where it can."""
        if runtime not in RUNTIMES:
            raise PolicyError(
                f"runtime {runtime!r}: expected one of {', '.join(map(str, RUNTIMES))}"
            )
        asked = "asked for"
        if runtime is None:
            runtime = _runtime_from_environment()
            asked = f"{RUNTIME_ENV}={runtime}"
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
        if runtime == "onnxruntime":
            self._kernel, self.runtime_reason = None, asked
        else:
            self._kernel, self.runtime_reason = self._compiled_kernel(model_actions)
            if runtime == "compiled" and self._kernel is None:
                raise PolicyError(
                    f"{self.path}: refused — no compiled kernel: {self.runtime_reason}"
                )
        self.runtime = "onnxruntime" if self._kernel is None else "compiled"
        """Which runs the decisions: "compiled" (policy_kernel.c) or "onnxruntime"."""

    def _compiled_kernel(self, actions: tuple[Action, ...]) -> tuple[DenseNet | None, str]:
        """The compiled kernel for this model and why, or None and why not."""
        if DenseNet is None:
            return None, "the compiled kernel is not built (no C compiler at install)"
        try:
            layers = dense_layers(self.path.read_bytes())
        except UnsupportedGraphError as exc:
            return None, f"the kernel cannot run this graph: {exc}"
        except Exception as exc:  # onnx raises its own untyped errors
            return None, f"the graph could not be read for the kernel ({exc})"
        n_in, n_out = layers[0].weights.shape[0], layers[-1].weights.shape[1]
        if (n_in, n_out) != (self._n, len(actions)):
            return (
                None,
                f"the graph maps {n_in} inputs to {n_out} scores, not {self._n} to {len(actions)}",
            )
        normaliser = self.normaliser
        try:
            kernel = DenseNet(normaliser.mean.tobytes(), normaliser.inv_std.tobytes(),
                              normaliser.clip, [layer.as_kernel_args() for layer in layers])  # fmt: skip
        except ValueError as exc:  # e.g. a weight that is not finite
            return None, f"the kernel refused the graph's layers ({exc})"
        problem = self._disagreement(kernel)
        self.last_imputed = 0  # the probes' count is nobody's decision
        if problem:
            return None, problem
        return kernel, f"agrees with onnxruntime on {PROBES} probe observations"

    def _disagreement(self, kernel: DenseNet) -> str | None:
        """Why the kernel cannot stand in for ONNX Runtime on this model, or None: its scores
        must be within `SCORE_TOLERANCE` of the graph's on seeded probe observations (spread
        over ±4 standard deviations, some beyond the clip, some not finite), and its action
        the same wherever ONNX Runtime's best score is clear of the tolerance."""
        rng = np.random.default_rng(PROBE_SEED)
        mean, std = self.normaliser.mean.astype(np.float64), self.normaliser.std.astype(np.float64)
        probes = mean + std * rng.normal(0.0, 4.0, size=(PROBES, self._n))
        probes[: PROBES // 8] *= 1e3  # far beyond the clip, either way
        odd = rng.integers(0, self._n, size=PROBES // 8)
        for k, (row, col) in enumerate(zip(range(PROBES // 8, PROBES // 4), odd, strict=True)):
            probes[row, col] = (math.nan, math.inf, -math.inf)[k % 3]
        for row in probes.tolist():
            expected, got = self._onnxruntime_scores(row), kernel.scores(row)
            if got is not None and not math.isfinite(sum(got)):
                got = None
            if expected is None or got is None:
                if expected is None and got is None:
                    continue
                return (
                    "the compiled kernel and onnxruntime disagree on a probe's scores being finite"
                )
            worst = max(abs(a - b) / (1.0 + abs(a)) for a, b in zip(expected, got, strict=True))
            if worst > SCORE_TOLERANCE:
                return (f"the compiled kernel's scores differ from onnxruntime's by up to {worst:.2g} "
                        f"(relative), over the tolerance {SCORE_TOLERANCE:g}")  # fmt: skip
            chosen, best = expected[got.index(max(got))], max(expected)
            if best - chosen > SCORE_TOLERANCE * (1.0 + abs(best)):
                return "the compiled kernel chose another action than onnxruntime on a probe"
        return None

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
        output is not finite."""
        kernel = self._kernel
        if kernel is None:
            return self._onnxruntime_scores(observation)
        scores = kernel.scores(observation)
        self.last_imputed = kernel.imputed
        return scores if scores is not None and math.isfinite(sum(scores)) else None

    def _onnxruntime_scores(self, observation: Sequence[float]) -> list[float] | None:
        """`scores` in ONNX Runtime: the observation normalised into the bound input buffer,
        one run writing the bound output; no allocation but the list."""
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
        """The action of the first best score (as numpy's argmax), or None where `scores` is."""
        kernel = self._kernel
        if kernel is not None:
            index = kernel.argmax(observation)
            self.last_imputed = kernel.imputed
            return self._decisions[index] if index >= 0 else None
        scores = self._onnxruntime_scores(observation)
        if scores is None:
            return None
        return self._decisions[scores.index(max(scores))]
