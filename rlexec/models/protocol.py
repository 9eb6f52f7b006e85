"""The pre-registered evaluation: a committed plan, a guard on the test windows, and a log.

`artifacts/evaluation_plan.json` fixes, before any final evaluation, the test splits (data,
window, calibration window, seed), the validation window development runs use instead,
the episode count and size distribution, the algorithms, the sensitivity rows, λ, the
bootstrap and the training settings `make model` uses. A backtest whose data and window
overlap a test split is refused unless asked for explicitly (`allow_test`), and then it is
appended — before it runs, so a run that is stopped still counts — to
`artifacts/test_evaluations.jsonl` (UTC time, git commit, model and plan sha256, seeds,
rows), which the model card counts.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rlexec.market.lobster import LobsterName
from rlexec.models.market_stats import Window

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PLAN_PATH = ARTIFACTS / "evaluation_plan.json"
LOG_PATH = ARTIFACTS / "test_evaluations.jsonl"


class RefusedTestDataError(ValueError):
    """A development run asked for a test window."""


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    data: str
    """Message file name (looked up in the data folder)."""
    window: str
    stats_window: str
    seed: int


@dataclass(frozen=True, slots=True)
class EvaluationPlan:
    path: Path
    sha256: str
    test: dict[str, Split]
    validation: Split
    validation_train_window: str
    episodes: int
    sizes: str
    algos: tuple[str, ...]
    rows: tuple[str, ...]
    risk_aversion: float
    bootstrap: dict[str, Any]
    training: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)
    ablation_signal: str | None = None
    """The price-move signal model (a file among the artifacts) the `rl_signal` arm is trained
    with, otherwise as `training` says; None: the plan has no signal ablation."""

    def test_split(self, data: str | Path, window: str) -> Split | None:
        """The test split a run on (data, window) would touch: same ticker and day, and an
        overlapping window."""
        w = Window.parse(window)
        for split in self.test.values():
            if not _same_day(Path(data).name, split.data):
                continue
            t = Window.parse(split.window)
            if w.start_ns < t.end_ns and t.start_ns < w.end_ns:
                return split
        return None


def _same_day(a: str, b: str) -> bool:
    na, nb = LobsterName.parse(Path(a)), LobsterName.parse(Path(b))
    if na is None or nb is None:
        return a == b
    return (na.symbol, na.date) == (nb.symbol, nb.date)


def load_plan(path: Path = PLAN_PATH) -> EvaluationPlan:
    """Read and check the plan; a missing or malformed field is named."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"evaluation plan {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"evaluation plan {path}: not JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    where = f"evaluation plan {path}"

    def get(obj: Any, key: str, kind: type | tuple[type, ...], ctx: str = "") -> Any:
        name = f"{ctx}{key}"
        if not isinstance(obj, dict) or key not in obj:
            raise ValueError(f"{where}: missing field {name!r}")
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"{where}: field {name!r} has the wrong type ({type(value).__name__})")
        return value

    def split(name: str, obj: Any, ctx: str) -> Split:
        s = Split(name, get(obj, "data", str, ctx), get(obj, "window", str, ctx),
                  get(obj, "stats_window", str, ctx), get(obj, "seed", int, ctx))  # fmt: skip
        for key in ("window", "stats_window"):
            try:
                Window.parse(getattr(s, key))
            except ValueError as exc:
                raise ValueError(f"{where}: field '{ctx}{key}': {exc}") from None
        return s

    tests = get(raw, "test", dict)
    if not tests:
        raise ValueError(f"{where}: field 'test' names no split")
    validation = get(raw, "validation", dict)
    plan = EvaluationPlan(
        path=path,
        sha256=hashlib.sha256(text).hexdigest(),
        test={k: split(k, v, f"test.{k}.") for k, v in tests.items()},
        validation=split("validation", validation, "validation."),
        validation_train_window=get(validation, "train_window", str, "validation."),
        episodes=get(raw, "episodes", int),
        sizes=get(raw, "sizes", str),
        algos=tuple(get(raw, "algos", list)),
        rows=tuple(get(raw, "rows", list)),
        risk_aversion=float(get(raw, "risk_aversion_per_bps", (int, float))),
        bootstrap=get(raw, "bootstrap", dict),
        training=get(raw, "training", dict),
        raw=raw,
        ablation_signal=get(raw["ablation"], "signal", str, "ablation.")
        if "ablation" in raw
        else None,
    )
    if ("rl_signal" in plan.algos) != (plan.ablation_signal is not None):
        raise ValueError(f"{where}: algo 'rl_signal' and field 'ablation' go together")
    if plan.episodes < 600:
        raise ValueError(f"{where}: field 'episodes' is {plan.episodes}; the protocol needs ≥ 600")
    if plan.test_split(plan.validation.data, plan.validation.window) is not None:
        raise ValueError(f"{where}: the validation window overlaps a test split")
    return plan


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_state(repo: Path = ARTIFACTS) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked files outside the artifacts folder differ from it)."""
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    dirty = any("rlexec/models/artifacts/" not in line for line in status.splitlines())
    return commit, dirty


@dataclass(frozen=True, slots=True)
class Guard:
    """Refuses development runs on test data and logs the runs that are allowed."""

    plan: EvaluationPlan
    log: Path = LOG_PATH
    allow_test: bool = False
    command: str = "backtest"

    def check(self, data: str | Path, window: str) -> Split | None:
        split = self.plan.test_split(data, window)
        if split is not None and not self.allow_test:
            v = self.plan.validation
            raise RefusedTestDataError(
                f"{Path(data).name} {window} overlaps the test split {split.name!r} of the "
                f"evaluation plan ({split.data} {split.window}); development runs use the "
                f"validation window ({v.data} {v.window}, calibrated on {v.stats_window}). "
                "A final evaluation passes --allow-test and is logged in "
                f"{self.log.name}."
            )
        return split

    def record(self, split: Split, **details: Any) -> dict[str, Any]:
        """Append one entry for a run on a test split; returns it."""
        commit, dirty = git_state()
        entry = {
            "utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": self.command,
            "split": split.name,
            "git_commit": commit,
            "git_dirty": dirty,
            "plan_sha256": self.plan.sha256,
            **details,
        }
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry


def read_log(path: Path = LOG_PATH) -> list[dict[str, Any]]:
    """Every logged test-data run (a missing log is an empty one)."""
    if not path.exists():
        return []
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path} line {lineno}: not a JSON object") from None
    return out
