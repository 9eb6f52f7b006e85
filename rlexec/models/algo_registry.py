"""Every algorithm by name, and what each needs to be built.

`make_algos(names, context)` builds them from an `AlgoContext` (training-window statistics,
the VWAP profile, the chosen best constant action, the model…). `prepare_context` is the
backtest's half: it estimates what the requested algos need — the cross-ticker VWAP profile,
the best constant action — from training data only, and returns it with the meta a report
records. The live service builds its algos from the same `make_algo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rlexec.market.lobster import LobsterName
from rlexec.models.algos import (
    Algo,
    AlmgrenChrissAlgo,
    PassiveFirstAlgo,
    PolicyAlgo,
    PovAlgo,
    ScheduleAlgo,
    SubmitAndLeave,
    VwapAlgo,
    constant_policy,
    random_policy,
)
from rlexec.models.best_constant import (
    BEST_CONSTANT_EPISODES,
    BEST_CONSTANT_SEED,
    MEAN_IS,
    Criterion,
    select_best_constant,
)
from rlexec.models.contract import Tactic
from rlexec.models.episodes import EpisodeDistribution
from rlexec.models.market_stats import MarketStats, Window, estimate
from rlexec.models.schedules import ac_kappa, ac_risk_aversion
from rlexec.models.volume_profile import IntradayProfile, intraday_profile
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData

if TYPE_CHECKING:
    from rlexec.models.policy import OnnxPolicy

ALGOS = (
    "twap", "twap_inside", "passive_first", "vwap", "pov", "ac", "ac_neutral", "sal",
    "best_constant", "rl",
)  # fmt: skip
"""What a backtest runs by default; `random` is also available by name."""
ABLATION = "rl_signal"
"""The signal ablation's arm: a policy trained as `rl` with the price-move signal in its
observation, run on the same episodes (its model is the backtest's `ablation_model`)."""
KNOWN = (*ALGOS, "random", ABLATION)
AC_KAPPA_T = 1.0
"""Almgren–Chriss urgency: λ is set so that κT = AC_KAPPA_T on the shortest episode horizon
(κ from the training window's σ and η), hence κT ≥ 1 on every horizon. A λ that gives κT ≪ 1
(0.05 gave ≈ 0.3) is TWAP in disguise."""
_DIST = EpisodeDistribution()


@dataclass(frozen=True, slots=True)
class AlgoContext:
    """What building the algos may use; all of it from training data."""

    stats: MarketStats | None = None
    """Training-window statistics (σ, η, volume rate, own profile); vwap, pov, ac and
    ac_neutral need them."""
    seed: int = 0
    model: Path | None = None
    """The ONNX policy for `rl` (for `rl_signal`: that arm's policy, set per task by
    `backtest_tasks.plan`); None = the shipped model."""
    profile: IntradayProfile | None = None
    """VWAP's profile; None = the training window's own buckets (flat beyond them)."""
    best_constant: int | None = None
    """The action index `prepare_context` selected; needed by `best_constant`."""
    interval_s: float = _DIST.interval_s
    shortest_horizon_s: float = min(_DIST.horizons_s)
    meta: dict[str, object] = field(default_factory=dict, compare=False)
    """What a report should record about how the algos were built."""


def _stats(name: str, context: AlgoContext) -> MarketStats:
    if context.stats is None:
        raise ValueError(f"algo {name!r} needs market statistics (volume profile, σ, η)")
    return context.stats


def ac_lambda(context: AlgoContext) -> float:
    """The stated Almgren–Chriss risk aversion: κT = AC_KAPPA_T on the shortest horizon."""
    s = _stats("ac", context)
    kappa = AC_KAPPA_T / context.shortest_horizon_s
    return ac_risk_aversion(kappa, context.interval_s, s.sigma_per_sqrt_s, s.eta)


def ac_meta(
    context: AlgoContext, horizons_s: Sequence[float] = _DIST.horizons_s
) -> dict[str, object]:
    lam = ac_lambda(context)
    s = _stats("ac", context)
    kappa = ac_kappa(context.interval_s, s.sigma_per_sqrt_s, s.eta, lam)
    return {
        "risk_aversion": lam,
        "kappa_per_s": kappa,
        "kappa_T": {f"{h:g}s": round(kappa * h, 4) for h in horizons_s},
        "rule": f"λ = 2η(cosh(κτ) − 1)/(σ²τ²) with κ = {AC_KAPPA_T:g}/{context.shortest_horizon_s:g} s, "
        f"τ = {context.interval_s:g} s",
    }


def make_algo(name: str, context: AlgoContext) -> Algo:
    """One algo by name; ValueError names what is unknown or missing."""
    if name == "twap":
        return ScheduleAlgo("twap")
    if name == "twap_inside":
        return ScheduleAlgo("twap_inside", Tactic.INSIDE)
    if name == "passive_first":
        return PassiveFirstAlgo()
    if name == "vwap":
        profile = context.profile
        return VwapAlgo(profile or IntradayProfile.from_stats(_stats(name, context)))
    if name == "pov":
        return PovAlgo(_stats(name, context))
    if name == "ac":
        return AlmgrenChrissAlgo(_stats(name, context), ac_lambda(context))
    if name == "ac_neutral":
        return AlmgrenChrissAlgo(_stats(name, context), 0.0, "ac_neutral")
    if name == "sal":
        return SubmitAndLeave()
    if name == "best_constant":
        if context.best_constant is None:
            raise ValueError("algo 'best_constant' needs the selected action (prepare_context)")
        return PolicyAlgo("best_constant", constant_policy(context.best_constant))
    if name == "rl":
        from rlexec.models.policy import OnnxPolicy

        return _policy_algo("rl", OnnxPolicy(context.model) if context.model else OnnxPolicy())
    if name == ABLATION:
        return _signal_arm(context)
    if name == "random":
        return PolicyAlgo("random", random_policy(context.seed))
    raise ValueError(f"unknown algo {name!r}; choose from {', '.join(KNOWN)}")


def _signal_arm(context: AlgoContext) -> Algo:
    from rlexec.models.policy import OnnxPolicy

    if context.model is None:
        raise ValueError(f"algo {ABLATION!r} needs its policy (backtest --ablation-model)")
    policy = OnnxPolicy(context.model)
    if policy.signal is None:
        raise ValueError(
            f"algo {ABLATION!r}: {context.model} was trained without the price-move signal"
        )
    return _policy_algo(ABLATION, policy)


def _policy_algo(name: str, policy: OnnxPolicy) -> PolicyAlgo:
    def choose(obs: Sequence[float], p: OnnxPolicy = policy) -> int | None:
        decision = p.decide(obs)
        return None if decision is None else decision.index

    return PolicyAlgo(name, choose, signal=policy.signal)


def make_algos(names: Sequence[str], context: AlgoContext) -> list[Algo]:
    return [make_algo(name, context) for name in names]


def same_day_tickers(message: Path) -> list[Path]:
    """The other tickers' message files of the same day in the same folder (lowest level of
    each: every level holds the same executions)."""
    own = LobsterName.parse(message)
    if own is None:
        return []
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(message.parent.iterdir()):
        name = LobsterName.parse(path)
        if name is None or name.kind != "message" or name.date != own.date:
            continue
        if name.symbol != own.symbol and name.levels < best.get(name.symbol, (1 << 30, path))[0]:
            best[name.symbol] = (name.levels, path)
    return [path for _, path in sorted(best.values(), key=lambda lp: lp[1].name)]


def _same_day_ticker(a: ReplayData, b: ReplayData) -> bool:
    return a.symbol == b.symbol and a.date == b.date


def prepare_context(
    names: Sequence[str],
    *,
    data: ReplayData,
    test: Window,
    train: Window,
    stats: MarketStats,
    seed: int = 0,
    model: Path | None = None,
    train_data: ReplayData | None = None,
    profile_data: Sequence[ReplayData] | None = None,
    config: ReplayConfig | None = None,
    best_constant_episodes: int = BEST_CONSTANT_EPISODES,
    criterion: Criterion = MEAN_IS,
    dist: EpisodeDistribution | None = None,
) -> AlgoContext:
    """Estimate what `names` need from training data only.

    data / test: what the backtest trades in. train_data (default `data`) / train: where the
    best constant is selected; refused if that is the test window of the same ticker and day.
    profile_data (default: the other tickers' files of the same day next to `data`): whole
    sessions for VWAP's cross-ticker curve; `data` itself is read only inside `train`, and not
    at all when `train` overlaps `test`.
    """
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ValueError(f"unknown algo {unknown[0]!r}; choose from {', '.join(KNOWN)}")
    d = dist or _DIST
    context = AlgoContext(stats=stats, seed=seed, model=model, interval_s=d.interval_s,
                          shortest_horizon_s=min(d.horizons_s))  # fmt: skip
    meta: dict[str, object] = {}
    if "vwap" in names:
        profile = _vwap_profile(data, test, train, profile_data)
        context = replace(context, profile=profile)
        meta["vwap_profile"] = profile.as_meta()
    if "ac" in names:
        meta["ac"] = ac_meta(context, d.horizons_s)
    if "ac_neutral" in names:
        meta["ac_neutral"] = {"risk_aversion": 0.0, "note": "linear trajectory = TWAP's schedule"}
    if "best_constant" in names:
        chosen_on = train_data or data
        if _same_day_ticker(chosen_on, data) and train.overlaps(test):
            raise ValueError(
                f"best_constant would be selected on the test data ({data.symbol} {train} overlaps "
                f"the test window {test}): pass the training ticker's file as train_data "
                "(rlexec backtest --train-data)"
            )
        selection_stats = stats if chosen_on is data else estimate(chosen_on, train, bucket_s=1800)
        index, table = select_best_constant(
            chosen_on, train, selection_stats, episodes=best_constant_episodes,
            seed=BEST_CONSTANT_SEED, config=config, criterion=criterion, dist=d,
        )  # fmt: skip
        context = replace(context, best_constant=index)
        meta["best_constant"] = table.as_meta(index)
    return replace(context, meta=meta)


def _vwap_profile(
    data: ReplayData, test: Window, train: Window, profile_data: Sequence[ReplayData] | None
) -> IntradayProfile:
    if profile_data is None:
        profile_data = [ReplayData.load(p) for p in same_day_tickers(Path(data.source))]
    others = [d for d in profile_data if d.symbol != data.symbol]
    if len(others) != len(profile_data):
        raise ValueError(f"VWAP profile data includes the traded ticker {data.symbol}")
    own_ok = not train.overlaps(test)
    if not others and not own_ok:
        raise ValueError(
            f"no VWAP profile without peeking: no other ticker's data next to {data.source} "
            f"and the training window {train} overlaps the test window {test}"
        )
    return intraday_profile(others, data if own_ok else None, train if own_ok else None)
