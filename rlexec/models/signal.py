"""The short-horizon price-move signal at run time: onnxruntime and numpy only.

A signal model predicts the mid move over the next decision interval, in bps, from the
order-book features of `market.signal_features`. Its ONNX metadata carries the same
discipline as the policy's: the feature list in order, the normalisation, the feature
windows, the horizon, what it was trained and validated on. Loading refuses a model whose
feature list differs from `SIGNAL_FEATURE_NAMES`, naming the difference.

A policy that takes the signal sees one more feature, `signal_adverse_bps`: the prediction
signed for the parent's side (+ = the price is expected to move against us), computed only
when an algo asks for an observation (at a decision), never per market-data message. The
policy's metadata records which signal model (by sha256) it was trained with; see
`models.policy`. Training: `python -m rlexec.models.signal train --out DIR`.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from rlexec.market.book import L2Book
from rlexec.market.errors import RlexecError
from rlexec.market.features import ExecutionState, FeatureBuilder, FeatureConfig
from rlexec.market.orders import Side
from rlexec.market.signal_features import (
    SIGNAL_FEATURE_NAMES,
    SignalConfig,
    SignalFeatureBuilder,
)
from rlexec.models.contract import (
    META_FEATURES,
    META_OBS_MEAN,
    META_OBS_STD,
    META_OUTPUT,
    checked_normaliser,
    contract_differences,
    read_normalisation,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEFAULT_SIGNAL = ARTIFACTS / "rlexec-signal-aapl.onnx"

# ONNX metadata keys of a signal model (metadata_props), all JSON-encoded strings; the
# policy's keys (contract.py) where the two mean the same: features, normalisation, output
# ("mid_move_bps" here), training record.
META_KIND = "rlexec.kind"  # "price_move_signal"
META_FEATURE_CONFIG = "rlexec.feature_config"  # SignalConfig.as_json()
META_HORIZON = "rlexec.horizon_s"
META_VALIDATION = "rlexec.validation"
KIND = "price_move_signal"
OUTPUT = "mid_move_bps"
REQUIRED_META = (
    META_KIND, META_FEATURES, META_FEATURE_CONFIG, META_OBS_MEAN, META_OBS_STD, META_HORIZON,
    META_OUTPUT,
)  # fmt: skip


class SignalError(RlexecError):
    """The signal model cannot be used: says which file and why."""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SignalModel:
    """A loaded, contract-checked signal model (one intra-op thread, preallocated input)."""

    def __init__(
        self, path: str | Path = DEFAULT_SIGNAL, feature_names: Sequence[str] = SIGNAL_FEATURE_NAMES
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SignalError(f"{self.path}: no such signal model file")
        self.sha256 = file_sha256(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SignalError(f"{self.path}: not a loadable ONNX model ({exc})") from None
        meta = dict(self._session.get_modelmeta().custom_metadata_map)
        self.metadata = meta
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise SignalError(
                f"{self.path}: not a signal model, metadata lacks {', '.join(missing)}"
            )
        try:
            names = json.loads(meta[META_FEATURES])
            mean, std, clip = read_normalisation(meta)
            config = SignalConfig(**json.loads(meta[META_FEATURE_CONFIG]))
            horizon = float(json.loads(meta[META_HORIZON]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SignalError(f"{self.path}: unreadable signal metadata ({exc})") from None
        problems = contract_differences(names, feature_names)
        if meta[META_KIND] != KIND:
            problems.append(f"kind is {meta[META_KIND]!r}, not {KIND!r}")
        if meta[META_OUTPUT] != OUTPUT:
            problems.append(f"unknown output {meta[META_OUTPUT]!r}")
        n = len(names)
        normaliser = checked_normaliser(mean, std, clip, n, problems)
        if problems or normaliser is None:
            raise SignalError(f"{self.path}: refused — " + "; ".join(problems))
        self.feature_names: tuple[str, ...] = tuple(names)
        self.feature_config = config
        self.horizon_s = horizon
        self.normaliser = normaliser
        self._n = n
        self._buffer = np.zeros((1, n), dtype=np.float32)
        self._feed = {self._session.get_inputs()[0].name: self._buffer}
        self._outputs = [self._session.get_outputs()[0].name]
        try:  # ORT plans on its first run: do it now, not on the first live decision
            self._session.run(self._outputs, self._feed)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SignalError(
                f"{self.path}: refused — it does not run on a {n}-feature input ({exc})"
            ) from None

    @property
    def identity(self) -> dict[str, str]:
        """What a policy trained with this signal records (and is checked against)."""
        return {"name": self.path.name, "sha256": self.sha256}

    def predict(self, raw: Sequence[float]) -> float | None:
        """Predicted mid move over the horizon (bps), or None for a wrong-length input or a
        non-finite output."""
        if len(raw) != self._n:
            return None
        self.normaliser.into(raw, self._buffer[0])
        out = self._session.run(self._outputs, self._feed)[0]
        value = float(out.reshape(-1)[0])
        return value if math.isfinite(value) else None

    def predict_batch(self, raw: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Predictions for many raw feature rows (offline evaluation, tests)."""
        x = np.stack([self.normaliser(row) for row in np.asarray(raw, dtype=np.float64)])
        out = self._session.run(self._outputs, {self._session.get_inputs()[0].name: x})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def features(self, book: L2Book, config: FeatureConfig | None = None) -> SignalFeatureBuilder:
        """The feature builder this model needs, over `book` (policy features included)."""
        return SignalFeatureBuilder(book, config, self.feature_config)

    def adverse_bps(self, features: SignalFeatureBuilder, side: Side, now_ns: int) -> float:
        """The policy feature: the prediction signed for `side`; NaN when there is none
        (the policy's normaliser imputes it at its training mean)."""
        predicted = self.predict(features.signal_vector(now_ns))
        return math.nan if predicted is None else int(side) * predicted


def observation(
    features: FeatureBuilder, state: ExecutionState, now_ns: int, signal: SignalModel | None
) -> list[float]:
    """The policy's observation: the feature contract, plus the signal when there is one.
    Both execution adapters (replay and live) build it here."""
    obs = features.vector(state, now_ns)
    if signal is not None:
        if not isinstance(features, SignalFeatureBuilder):
            raise TypeError("a signal needs a SignalFeatureBuilder (see SignalModel.features)")
        obs.append(signal.adverse_bps(features, state.side, now_ns))
    return obs


def main(argv: list[str] | None = None) -> int:
    """`python -m rlexec.models.signal train|evaluate …` (the training needs the train extra)."""
    from rlexec.models.signal_train import main as train_main

    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
