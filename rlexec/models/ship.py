"""Produce the shipped policy end to end: train, export, evaluate out of sample, write the card.

`make model` runs this, and everything it does comes from the committed evaluation plan
(`artifacts/evaluation_plan.json`): the training settings and seed, the test splits with
their seeds, the episode count, the size distribution, the algorithms, the sensitivity
rows, λ and the bootstrap. Train on the training ticker's training window only; report on
(a) a time split — the later hours of the same day — and (b) a ticker split — another
ticker over the training hours, each under every sensitivity row. Each split's evaluation
is logged in `artifacts/test_evaluations.jsonl`, which the card counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rlexec.market.sample_data import data_dir
from rlexec.models.algo_registry import ABLATION
from rlexec.models.backtest import ALGOS, backtest
from rlexec.models.backtest_tasks import Executor
from rlexec.models.episodes import SIZES
from rlexec.models.evaluation import Bootstrap, fmt_ci
from rlexec.models.export import export
from rlexec.models.protocol import (
    ARTIFACTS,
    LOG_PATH,
    PLAN_PATH,
    EvaluationPlan,
    Guard,
    load_plan,
    read_log,
    sha256_file,
)
from rlexec.models.report import paired_table, risk_table, seed_table
from rlexec.models.sensitivity import ROW_NAMES
from rlexec.models.train import TrainSettings, train

NAME = "rlexec-ppo-aapl"


def check_plan(plan: EvaluationPlan) -> None:
    """Fail before a half-hour of training, not after it."""
    where = f"evaluation plan {plan.path}"
    unknown = [a for a in plan.algos if a not in (*ALGOS, ABLATION)]
    if unknown or "rl" not in plan.algos:
        raise ValueError(
            f"{where}: field 'algos' must include 'rl' and only {(*ALGOS, ABLATION)} "
            f"(got {unknown})"
        )
    bad_rows = [r for r in plan.rows if r not in ROW_NAMES]
    if bad_rows or "default" not in plan.rows:
        raise ValueError(f"{where}: field 'rows' must include 'default' and only {ROW_NAMES}")
    if plan.sizes not in SIZES:
        raise ValueError(f"{where}: field 'sizes' must be one of {tuple(SIZES)}")
    if plan.ablation_signal is not None and not (ARTIFACTS / plan.ablation_signal).is_file():
        raise ValueError(
            f"{where}: field 'ablation.signal': no {plan.ablation_signal} among the artifacts"
        )


def training_settings(plan: EvaluationPlan, data: Path, timesteps: int | None) -> TrainSettings:
    fields = dict(plan.training)
    fields["data"] = str(data / fields["data"])
    if timesteps is not None:
        fields["timesteps"] = timesteps
    try:
        return TrainSettings(**fields)
    except TypeError as exc:
        raise ValueError(f"evaluation plan {plan.path}: field 'training': {exc}") from None


def main(
    argv: list[str] | None = None, executor: Executor | None = None, where: str | None = None
) -> int:
    """`executor`: where the evaluation's tasks run (default: this process, one after another;
    `python -m rlexec.scale.ship` passes Ray's), `where` says so in the card. The results are
    the same either way, episode for episode."""
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", type=Path, default=PLAN_PATH)
    parser.add_argument("--log", type=Path, default=LOG_PATH, help="test-evaluation log")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help="where the model ships")
    parser.add_argument("--timesteps", type=int, default=None, help="default: the plan's")
    parser.add_argument("--episodes", type=int, default=None, help="default: the plan's")
    parser.add_argument("--usage-episodes", type=int, default=60, help="for the card's action mix")
    parser.add_argument("--out", default="runs/ship")
    parser.add_argument("--skip-train", action="store_true", help="reuse OUT/train")
    args = parser.parse_args(argv)
    plan = load_plan(args.plan)
    check_plan(plan)
    out = Path(args.out)
    run = out / "train"
    data = data_dir()
    settings = training_settings(plan, data, args.timesteps)
    arms = {run: settings}
    if plan.ablation_signal is not None:
        arms[out / "train-signal"] = replace(settings, signal=ARTIFACTS / plan.ablation_signal)
    if not args.skip_train:
        for folder, arm in arms.items():
            train(
                arm,
                folder,
                lambda s, t, m: print(f"\r{s:,}/{t:,} IS−TWAP {m}", end="", file=sys.stderr),
            )
    evaluation_started = time.perf_counter()
    model = export(run, out / f"{NAME}.onnx")
    evaluated_sha = sha256_file(model)
    ablation = (
        export(out / "train-signal", out / f"{NAME}-signal.onnx")
        if plan.ablation_signal is not None
        else None
    )
    guard = Guard(plan, args.log, allow_test=True, command="ship")
    episodes = args.episodes if args.episodes is not None else plan.episodes
    splits = {}
    for name, split in plan.test.items():
        folder = out / name
        doc = backtest(data / split.data, folder, plan.algos, model, episodes, seed=split.seed,
                       window=split.window, train_window=split.stats_window, sizes=plan.sizes,
                       rows=list(plan.rows), guard=guard, risk_aversion=plan.risk_aversion,
                       boot=Bootstrap(**plan.bootstrap),
                       train_data=data / plan.training["data"], executor=executor,
                       ablation_model=ablation)  # fmt: skip
        sensitivity = json.loads((folder / "sensitivity.json").read_text())
        splits[name] = {"doc": doc, "sensitivity": sensitivity}
    summary = {name: _summary(s["doc"]) for name, s in splits.items()}
    summary["protocol"] = {"plan_sha256": plan.sha256, "evaluated_model_sha256": evaluated_sha}
    model = export(run, out / f"{NAME}.onnx", summary)  # again, now carrying its evaluation
    record = json.loads((run / "training.json").read_text())
    args.artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, args.artifacts / f"{NAME}.onnx")
    signal = plan.ablation_signal
    if ablation is not None and signal is not None:  # the arm beside its signal, as it ran
        shutil.copy(ablation, args.artifacts / ablation.name)
        if not (args.artifacts / signal).exists():
            shutil.copy(ARTIFACTS / signal, args.artifacts / signal)
    usage = action_usage(model, plan, args.usage_episodes)
    seconds = time.perf_counter() - started
    train_minutes = [
        json.loads((folder / "training.json").read_text())["train_seconds"] / 60 for folder in arms
    ]
    protocol = {
        "plan": plan.path.name, "plan_sha256": plan.sha256, "log": args.log.name,
        "test_runs": len(read_log(args.log)), "evaluated_model_sha256": evaluated_sha,
        "make_model_seconds": round(seconds, 1), "planned_timesteps": plan.training["timesteps"],
        "planned_episodes": plan.episodes, "train_minutes": train_minutes,
        "evaluation_minutes": (time.perf_counter() - evaluation_started) / 60,
        "trained_here": not args.skip_train, "tasks_ran": where,
    }  # fmt: skip
    (args.artifacts / f"{NAME}.md").write_text(card(record, splits, usage, protocol))
    print(json.dumps(summary, indent=1))
    print(f"make model: {seconds / 60:.1f} min (training {record['train_seconds'] / 60:.1f} min)",
          file=sys.stderr)  # fmt: skip
    return 0


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    algos = doc["algos"]
    return {
        "meta": {k: doc["meta"][k] for k in ("symbol", "test_window", "episodes", "seed", "sizes")},
        "mean_is_bps": {name: s["mean_is_bps"] for name, s in algos.items()},
        "risk_adjusted_bps": {name: s["risk_adjusted_bps"] for name, s in algos.items()},
        "rl_vs": algos.get("rl", {}).get("vs", {}),
    }


def action_usage(model: Path, plan: EvaluationPlan, episodes: int = 60) -> str:
    """How often the policy picks each tactic, and its average rate early and late in the
    horizon, on the time split's first episodes (part of the logged evaluation)."""
    from collections import Counter

    from rlexec.models.algos import PolicyAlgo
    from rlexec.models.contract import ACTIONS
    from rlexec.models.episodes import distribution, draw_many
    from rlexec.models.market_stats import Window, estimate
    from rlexec.models.policy import OnnxPolicy
    from rlexec.models.runner import run_episode
    from rlexec.simulator.data import ReplayData

    split = next(iter(plan.test.values()))
    replay_data = ReplayData.load(data_dir() / split.data)
    stats = estimate(replay_data, Window.parse(split.stats_window), bucket_s=1800)
    policy = OnnxPolicy(model)
    tactics: Counter[str] = Counter()
    rates: dict[bool, list[float]] = {True: [], False: []}

    def choose(obs: Any) -> int | None:
        decision = policy.decide(obs)
        if decision is not None:
            tactics[decision.action.tactic.value] += 1
            rates[obs[8] < 0.5].append(decision.action.rate)
        return None if decision is None else decision.index

    specs = draw_many(episodes, split.seed, Window.parse(split.window), stats,
                      distribution(plan.sizes))  # fmt: skip
    for spec in specs:
        run_episode(replay_data, spec, PolicyAlgo("rl", choose))
    total = sum(tactics.values()) or 1
    shares = ", ".join(
        f"{t} {tactics[t] / total:.0%}" for t in (a.tactic.value for a in ACTIONS[:3])
    )
    early = sum(rates[True]) / max(1, len(rates[True]))
    late = sum(rates[False]) / max(1, len(rates[False]))
    return (f"{episodes} {split.name.replace('_', ' ')} episodes, {total} decisions: tactics {shares}; "
            f"mean rate {early:.2f}× the even rate in the first half of the horizon, {late:.2f}× in the second")  # fmt: skip


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def targets(name: str, split: dict[str, Any], p_max: float = 0.01) -> list[str]:
    """The issue's targets, checked on one split: said as they are, met or not."""
    lines = []
    label = name.replace("_", " ")
    misses = []
    rows = split["sensitivity"]["rows"]
    for row, doc in rows.items():
        for base, c in doc["algos"].get("rl", {}).get("vs", {}).items():
            if base == ABLATION:
                continue  # the signal arm is an ablation of RL, not a baseline
            p = c["wilcoxon_p"]
            if not (c["mean_diff_bps"] < 0 and p is not None and p < p_max):
                misses.append(f"{base} in {row} ({c['mean_diff_bps']:+.2f} bps, p {_p(p)})")
    if misses:
        lines.append(f"- {label}: RL is **not** below every baseline with p < {p_max} in every "
                     f"row; it misses against " + "; ".join(misses) + ".")  # fmt: skip
    else:
        lines.append(f"- {label}: RL's mean IS is below every baseline's with p < {p_max} in "
                     f"every one of the {len(rows)} sensitivity rows.")  # fmt: skip
    buckets = split["doc"].get("buckets", {})
    if buckets:
        top, bucket = list(buckets.items())[-1]
        algos = bucket["algos"]
        rl, twap = algos.get("rl"), algos.get("twap")
        if rl and twap:
            cut = 1 - rl["mean_is_bps"] / twap["mean_is_bps"] if twap["mean_is_bps"] > 0 else None
            risk = rl["std_is_bps"] / twap["std_is_bps"] - 1 if twap["std_is_bps"] else None
            lines.append(
                f"- {label}, largest bucket ({top}): TWAP costs {twap['mean_is_bps']:.2f} bps "
                f"(target ≥ 3: {'met' if twap['mean_is_bps'] >= 3 else 'not met'}), RL "
                f"{rl['mean_is_bps']:.2f} bps ("
                + (f"{abs(cut):.0%} {'below' if cut >= 0 else 'above'} TWAP; target ≥ 25 % below: "
                   f"{'met' if cut >= 0.25 else 'not met'}"
                   if cut is not None else "no fraction: TWAP's mean cost ≤ 0")
                + f"); RL's timing risk is {rl['std_is_bps']:.2f} against TWAP's "
                f"{twap['std_is_bps']:.2f} bps"
                + (f" ({risk:+.0%}; target ≤ +10 %: {'met' if risk <= 0.10 else 'not met'})"
                   if risk is not None else "")
                + "."
            )  # fmt: skip
    return lines


def ablation_lines(name: str, split: dict[str, Any]) -> list[str]:
    """The signal's effect: RL with it − RL without it, on the same episodes, per row."""
    cells = []
    for row, doc in split["sensitivity"]["rows"].items():
        c = doc["algos"].get("rl", {}).get("vs", {}).get(ABLATION)
        if c is None:
            continue
        ci95 = c["mean_diff_ci95"]
        ci = fmt_ci(None if ci95 is None else [-ci95[1], -ci95[0]])
        cells.append(f"{row} {-c['mean_diff_bps']:+.2f} {ci}, p {_p(c['wilcoxon_p'])}")
    if not cells:
        return []
    return [f"- {name.replace('_', ' ')}, signal ablation (RL with the signal − RL without, "
            "bps of IS; negative = the signal helps): " + "; ".join(cells) + "."]  # fmt: skip


def card(
    record: dict[str, Any],
    splits: dict[str, dict[str, Any]],
    usage: str,
    protocol: dict[str, Any],
) -> str:
    s = record["settings"]
    v = record["versions"]
    dist = record.get("distribution", {})
    lines = [
        f"# Model card: {NAME}",
        "",
        "An execution policy for working a parent order: at each decision (every 15 s) it picks "
        "how much to have working (0, ½, 1, 1½ or 2 × the even rate) and how (rest at the touch, "
        "rest one tick inside the spread, or take through the far touch). Whatever is left at the "
        "horizon is completed at market by the algo around it, at the prices that sweep walks through.",
        "",
        "## Training",
        "",
        f"- data: `{Path(s['data']).name}` ({record['symbol']}), window {s['window']} only",
        f"- algorithm: {s['algorithm'].upper()} (stable-baselines3 {v['stable_baselines3']}, torch {v['torch']}), "
        f"MLP 64×64, seed {s['seed']}, {s['timesteps']:,} steps, {record['episodes']:,} episodes, "
        f"{record['train_seconds'] / 60:.1f} min of training on one CPU core (torch, one thread)",
        "- environment: the venue's matching engine replaying the LOBSTER day in process, features "
        "from `rlexec.market.features`",
        f"- episodes: the `{dist.get('name', s.get('sizes'))}` distribution — buy or sell, "
        f"{dist.get('participation', ['?', '?'])[0]:.0%}–{dist.get('participation', ['?', '?'])[1]:.0%} "
        "of the expected volume (from the training window) over "
        + ", ".join(f"{h / 60:g}" for h in dist.get("horizons_s", []))
        + " minutes",
        f"- reward: risk-adjusted with λ = {s['risk_aversion']} per bps — minus each step's "
        "contribution to implementation shortfall (inventory marked to mid) minus the "
        "Almgren–Chriss inventory penalty λ·σ²·Δt·(x/X)² (σ of the training window, x the shares "
        "still held), less TWAP's same on the same episode (a control variate): an episode's "
        "return is −[(IS + λ·R) − (IS_TWAP + λ·R_TWAP)]",
        "- observation: the named features, normalised with means/stds measured under a random "
        "policy (stored in the ONNX metadata)",
        "- `make model` on this machine (2 cores): training "
        + " and ".join(
            f"{m:.1f} min" + (" (the signal arm)" if k else "")
            for k, m in enumerate(protocol["train_minutes"])
        )
        + ("" if protocol["trained_here"] else " (trained before `--skip-train`)")
        + f", then export, the evaluation of every split and this card "
        f"{protocol['evaluation_minutes']:.1f} min"
        + (f" (tasks {protocol['tasks_ran']})" if protocol.get("tasks_ran") else "")
        + f"; the plan's settings are {protocol['planned_timesteps']:,} steps and "
        f"{protocol['planned_episodes']} episodes per split"
        + (
            ""
            if s["timesteps"] == protocol["planned_timesteps"]
            else f" — **this model was trained with {s['timesteps']:,} steps, not the plan's**"
        ),
        "",
        "## Evaluation protocol",
        "",
        f"- Everything below follows `{protocol['plan']}` (sha256 `{protocol['plan_sha256'][:16]}…`), "
        "committed before the evaluation: test seeds, windows, episodes, algorithms, sensitivity "
        "rows, λ, bootstrap. Development used the validation window only.",
        f"- Evaluations on test data logged in `{protocol['log']}`: **{protocol['test_runs']}** "
        "(each split of each `make model` run counts one, this one included).",
        f"- Evaluated model file sha256 `{protocol['evaluated_model_sha256'][:16]}…` (the shipped "
        "file carries the evaluation in its metadata as well).",
        "",
        "## Out-of-sample evaluation",
        "",
        "IS in bps of the arrival mid, positive = cost; market-impact cost against the mid at each "
        "decision; timing risk = std of IS. Every algorithm trades the same episodes; differences "
        "are paired (RL − baseline; negative = RL cheaper) with bootstrap 95 % CIs.",
    ]
    for name, split in splits.items():
        doc = split["doc"]
        meta = doc["meta"]
        lines += ["", f"### {name.replace('_', ' ')}: {meta['symbol']} {meta['test_window']}, "
                  f"{meta['episodes']} episodes, seed {meta['seed']}", ""]  # fmt: skip
        lines += [*seed_table(doc["algos"]), "", *risk_table(doc["algos"])]
        vs = doc["algos"].get("rl", {}).get("vs", {})
        if vs:
            lines += ["", *paired_table(vs, "rl")]
        for label, bucket in doc.get("buckets", {}).items():
            lines += ["", f"Size bucket {label}:", "", *seed_table(bucket["algos"])]
        rows = split["sensitivity"]["rows"]
        lines += ["", "Sensitivity (RL − baseline, mean diff [95 % CI], Wilcoxon p):", ""]
        baselines = [b for b in doc["algos"] if b != "rl"]
        lines += ["| row | " + " | ".join(baselines) + " |", "|---|" + "---:|" * len(baselines)]
        for row, rdoc in rows.items():
            rvs = rdoc["algos"].get("rl", {}).get("vs", {})
            cells = " | ".join(
                f"{rvs[b]['mean_diff_bps']:+.2f} {fmt_ci(rvs[b]['mean_diff_ci95'])}, "
                f"p {_p(rvs[b]['wilcoxon_p'])}"
                if b in rvs else "n/a"
                for b in baselines
            )  # fmt: skip
            lines.append(f"| {row} | {cells} |")
        skipped = split["sensitivity"].get("skipped", {})
        if skipped:
            lines += [
                "",
                "Rows not run: " + "; ".join(f"{k} ({w})" for k, w in skipped.items()) + ".",
            ]
    lines += ["", "## Reading the numbers (the issue's targets)", ""]
    for name, split in splits.items():
        lines += targets(name, split)
        lines += ablation_lines(name, split)
        fb = split["doc"]["meta"].get("policy_fallbacks", {}).get("rl", 0)
        lines.append(f"- {name.replace('_', ' ')}: the policy gave no valid answer at {fb} decisions "
                     "(a non-finite feature, e.g. a one-sided book), which fell back to the TWAP rule.")  # fmt: skip
    lines += [
        f"- What the policy chooses ({usage}); the schedules instead rest their slice at the "
        "touch and cross whatever each slice left.",
        "",
        "## Limits",
        "",
        "- One trading day per ticker (2012-06-21): the time split is the same day's afternoon, the "
        "ticker split AMZN over the training hours. Regimes not in that day are untested, and both "
        "test windows were looked at during earlier development (fresh seeds, same data).",
        "- Results depend on the simulator's stated choices (queue model, passive-fill model, "
        "impact, depth beyond the data); the sensitivity rows show by how much.",
        "- On the ticker split the baselines' statistics are AMZN's own over the test hours (an "
        "advantage to the baselines).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
