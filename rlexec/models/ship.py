"""Produce the shipped policy end to end: train, export, evaluate out of sample, write the card.

`make model` runs this. The evaluation protocol: train on the training ticker's training
window only; report on (a) a time split — the later hours of the same day — and (b) a
ticker split — another ticker over the training hours. The card quotes only those.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from rlexec.market.sample_data import data_dir
from rlexec.models.backtest import ALGOS, backtest
from rlexec.models.evaluation import fmt_frac, fmt_p
from rlexec.models.export import export
from rlexec.models.train import TrainSettings, train

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NAME = "rlexec-ppo-aapl"
TRAIN_DATA = "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
TICKER_DATA = "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"
TRAIN_WINDOW = "09:35-13:00"
TIME_SPLIT = "13:00-15:55"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--out", default="runs/ship")
    parser.add_argument("--skip-train", action="store_true", help="reuse OUT/train")
    args = parser.parse_args(argv)
    out = Path(args.out)
    run = out / "train"
    data = data_dir()
    if not args.skip_train:
        settings = TrainSettings(data=str(data / TRAIN_DATA), window=TRAIN_WINDOW,
                                 timesteps=args.timesteps, seed=args.seed)  # fmt: skip
        train(
            settings,
            run,
            lambda s, t, m: print(f"\r{s:,}/{t:,} IS−TWAP {m}", end="", file=sys.stderr),
        )
    model = export(run, out / f"{NAME}.onnx")
    splits = {
        "time_split": backtest(data / TRAIN_DATA, out / "time_split", ALGOS, model, args.episodes,
                               seed=101, window=TIME_SPLIT, train_window=TRAIN_WINDOW),
        "ticker_split": backtest(data / TICKER_DATA, out / "ticker_split", ALGOS, model, args.episodes,
                                 seed=202, window=TRAIN_WINDOW, train_window=TRAIN_WINDOW,
                                 train_data=data / TRAIN_DATA),
    }  # fmt: skip
    summary = {name: _summary(doc) for name, doc in splits.items()}
    model = export(run, out / f"{NAME}.onnx", summary)  # again, now carrying its evaluation
    record = json.loads((run / "training.json").read_text())
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(model, ARTIFACTS / f"{NAME}.onnx")
    usage = action_usage(model, data / TRAIN_DATA)
    (ARTIFACTS / f"{NAME}.md").write_text(card(record, splits, usage))
    print(json.dumps(summary, indent=1))
    return 0


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    algos = doc["algos"]
    return {
        "meta": {k: doc["meta"][k] for k in ("symbol", "test_window", "episodes", "seed")},
        "mean_is_bps": {name: s["mean_is_bps"] for name, s in algos.items()},
        "rl_vs": algos.get("rl", {}).get("vs", {}),
    }


def action_usage(model: Path, data: Path, episodes: int = 60) -> str:
    """How often the policy picks each tactic, and its average rate early and late in the horizon."""
    from collections import Counter

    from rlexec.models.algos import PolicyAlgo
    from rlexec.models.contract import ACTIONS
    from rlexec.models.episodes import draw_many
    from rlexec.models.market_stats import Window, estimate
    from rlexec.models.policy import OnnxPolicy
    from rlexec.models.runner import run_episode
    from rlexec.simulator.data import ReplayData

    replay_data = ReplayData.load(data)
    stats = estimate(replay_data, Window.parse(TRAIN_WINDOW), bucket_s=1800)
    policy = OnnxPolicy(model)
    tactics: Counter[str] = Counter()
    rates: dict[bool, list[float]] = {True: [], False: []}

    def choose(obs: Any) -> int | None:
        decision = policy.decide(obs)
        if decision is not None:
            tactics[decision.action.tactic.value] += 1
            rates[obs[8] < 0.5].append(decision.action.rate)
        return None if decision is None else decision.index

    for spec in draw_many(episodes, 303, Window.parse(TIME_SPLIT), stats):
        run_episode(replay_data, spec, PolicyAlgo("rl", choose))
    total = sum(tactics.values()) or 1
    shares = ", ".join(
        f"{t} {tactics[t] / total:.0%}" for t in (a.tactic.value for a in ACTIONS[:3])
    )
    early = sum(rates[True]) / max(1, len(rates[True]))
    late = sum(rates[False]) / max(1, len(rates[False]))
    return (f"{episodes} time-split episodes, {total} decisions: tactics {shares}; mean rate "
            f"{early:.2f}× the even rate in the first half of the horizon, {late:.2f}× in the second")  # fmt: skip


def card(record: dict[str, Any], splits: dict[str, dict[str, Any]], usage: str = "") -> str:
    s = record["settings"]
    v = record["versions"]
    lines = [
        f"# Model card: {NAME}",
        "",
        "An execution policy for working a parent order: at each decision (every 15 s) it picks "
        "how much to have working (0, ½, 1, 1½ or 2 × the even rate) and how (rest at the touch, "
        "rest one tick inside the spread, or take through the far touch). Whatever is left at the "
        "horizon is completed at market by the algo around it.",
        "",
        "## Training",
        "",
        f"- data: `{Path(s['data']).name}` ({record['symbol']}), window {s['window']} only",
        f"- algorithm: {s['algorithm'].upper()} (stable-baselines3 {v['stable_baselines3']}, torch {v['torch']}), "
        f"MLP 64×64, seed {s['seed']}, {s['timesteps']:,} steps, {record['episodes']:,} episodes, "
        f"{record['train_seconds'] / 60:.1f} min on 2 CPU cores",
        "- environment: the venue's matching engine replaying the LOBSTER day in process (risk-averse "
        "queue model, hidden executions can fill us), features from `rlexec.market.features`",
        "- episodes: buy or sell, 2–15 % of the expected volume over a 5, 10, 15 or 20-minute horizon",
        "- reward: minus each step's contribution to implementation shortfall, inventory marked to mid, "
        "less TWAP's on the same episode (a control variate; sums to −(IS − IS_TWAP))",
        "- observation: the 11 named features, normalised with means/stds measured under a random "
        "policy (stored in the ONNX metadata)",
        "",
        "## Out-of-sample evaluation",
        "",
        "IS in bps of the arrival mid, positive = cost. Every algorithm trades the same episodes; "
        "differences are paired (RL − baseline; negative = RL cheaper).",
    ]
    for name, doc in splits.items():
        meta = doc["meta"]
        lines += ["", f"### {name.replace('_', ' ')}: {meta['symbol']} {meta['test_window']}, "
                  f"{meta['episodes']} episodes", "",
                  "| algo | mean IS | median IS | std IS | mean impact | forced at end |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for algo, st in doc["algos"].items():
            lines.append(f"| {algo} | {st['mean_is_bps']:.2f} | {st['median_is_bps']:.2f} | "
                         f"{st['std_is_bps']:.2f} | {st['mean_impact_bps']:.2f} | {st['mean_forced_frac']:.1%} |")  # fmt: skip
        vs = doc["algos"].get("rl", {}).get("vs", {})
        if vs:
            lines += ["", "| RL vs | mean diff (bps) | win rate | Wilcoxon p | improvement (of baseline cost) |",
                      "|---|---:|---:|---:|---:|"]  # fmt: skip
            for base, c in vs.items():
                lines.append(f"| {base} | {c['mean_diff_bps']:+.2f} | {c['win_rate']:.0%} | "
                             f"{fmt_p(c['wilcoxon_p'])} | {fmt_frac(c['improvement_frac_of_baseline_cost'])} |")  # fmt: skip
    lines += ["", "## Reading the numbers", ""]
    for name, doc in splits.items():
        algos = doc["algos"]
        rl, twap = algos.get("rl"), algos.get("twap")
        if rl and twap:
            lines.append(
                f"- {name.replace('_', ' ')}: RL's mean IS is {rl['mean_is_bps']:.2f} bps against TWAP's "
                f"{twap['mean_is_bps']:.2f}; its timing risk (std) is {rl['std_is_bps']:.2f} against "
                f"{twap['std_is_bps']:.2f}, and it leaves {rl['mean_forced_frac']:.0%} of the parent to the "
                f"horizon against TWAP's {twap['mean_forced_frac']:.0%}. The policy gave no valid answer "
                f"(a non-finite feature, e.g. a one-sided book) at {doc['meta']['policy_fallbacks'].get('rl', 0)} "
                "decisions, which fell back to the TWAP rule."
            )
    lines += [
        "- The gains are a fraction of a basis point to about half a basis point against the "
        "schedules: real and significant on both splits, far from the 'TWAP 15.2 → RL 8.1 bps' "
        "illustration. In this simulator small orders (2–15 % participation) cost TWAP under 1 bps, "
        "so there is little cost to remove.",
        f"- What the policy chooses ({usage}): TWAP instead rests its slice at the touch and crosses "
        "whatever each slice left.",
        "",
        "## Limits",
        "",
        "- One trading day per ticker (2012-06-21): the time split is the same day's afternoon, the "
        "ticker split AMZN over the training hours. Regimes not in that day are untested.",
        "- The simulator's queue model is conservative and its depth beyond level 1 is synthetic; "
        "results depend on both (see the simulator section of the README).",
        "- VWAP's profile comes from the training window (flat outside it); on the ticker split the "
        "baselines' statistics are AMZN's own over the test hours (an advantage to the baselines).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
