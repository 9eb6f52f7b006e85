"""Per scenario and engine: fill rate, time to first fill, filled quantity; rlexec against
hftbacktest with the tolerance, and which windows differ in which direction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean, median
from typing import Any

from rlexec.simulator.crosscheck.experiment import NS, QUANTITY, Outcome, Placement

TOLERANCE = 0.10
"""Largest accepted |fill rate (rlexec) − fill rate (hftbacktest)| per scenario. It is the 95 %
binomial half-width of a fill rate measured on 100 windows (1.96·√(0.25/100) = 0.098): a model
difference below it is smaller than the noise of any fill-rate figure the project draws from an
experiment of this size, one above it would change such a figure."""

EXPLANATIONS = {
    "rlexec_earlier": (
        "FIFO by order id: rlexec knows which resting orders were ahead of ours, so their "
        "cancellations move it up; hftbacktest's risk-averse queue advances only on trades at "
        "its price or when the level shrinks below its position (a cancellation ahead is "
        "assumed to have been behind)."
    ),
    "rlexec_later": (
        "Volume revealed by the orderbook row: on level-1 data a price that drops out of view "
        "and comes back shows orders rlexec never saw submitted; rlexec puts them ahead of ours "
        "(ReplayConfig.unknown_queue='ahead'), hftbacktest never lets a size increase move an "
        "order back. Nasdaq ids say those orders came later; unknown_queue='by_id' ranks them so."
    ),
    "quantities": (
        "hftbacktest's no-partial-fill exchange fills all 100 shares at the first print that "
        "reaches the order; rlexec fills by the print's size, so its full-fill rate and mean "
        "quantity are lower at the same fill rate."
    ),
    "hidden": (
        "Hidden executions (LOBSTER type 5) are fed to hftbacktest as trades exactly when the "
        "rlexec mode fills on them (ReplayConfig.hidden_fills)."
    ),
}


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    skipped: int
    filled: int
    full: int
    mean_qty: float
    times_s: list[float]

    @classmethod
    def of(cls, outcomes: list[Outcome], orders: list[Placement], skipped: int) -> Summary:
        start = {p.window: p.start_ns for p in orders}
        times = [
            (o.first_fill_ns - start[o.window]) / NS
            for o in outcomes
            if o.first_fill_ns is not None
        ]
        return cls(
            n=len(outcomes),
            skipped=skipped,
            filled=len(times),
            full=sum(o.filled_qty >= QUANTITY for o in outcomes),
            mean_qty=fmean(o.filled_qty for o in outcomes) if outcomes else 0.0,
            times_s=times,
        )

    @property
    def fill_rate(self) -> float:
        return self.filled / self.n if self.n else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "skipped": self.skipped,
            "filled": self.filled,
            "fill_rate": _round(self.fill_rate),
            "fill_rate_ci95": [_round(x) for x in wilson(self.filled, self.n)],
            "full_fill_rate": _round(self.full / self.n) if self.n else None,
            "mean_filled_qty": _round(self.mean_qty),
            "mean_time_to_first_fill_s": _round(fmean(self.times_s)) if self.times_s else None,
            "median_time_to_first_fill_s": _round(median(self.times_s)) if self.times_s else None,
        }


def compare(rl: list[Outcome], hb: list[Outcome], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """rlexec against hftbacktest on the same windows."""
    if [o.window for o in rl] != [o.window for o in hb]:
        raise ValueError("the engines' outcomes are not for the same windows")
    n = len(rl)
    diff = (_filled(rl) - _filled(hb)) / n if n else 0.0
    windows: dict[str, list[int]] = {
        "rlexec_only": [],
        "hftbacktest_only": [],
        "rlexec_earlier": [],
        "rlexec_later": [],
    }
    gaps: list[float] = []
    for a, b in zip(rl, hb, strict=True):
        if a.first_fill_ns is None and b.first_fill_ns is None:
            continue
        if b.first_fill_ns is None:
            windows["rlexec_only"].append(a.window)
        elif a.first_fill_ns is None:
            windows["hftbacktest_only"].append(a.window)
        else:
            gaps.append((a.first_fill_ns - b.first_fill_ns) / NS)
            if a.first_fill_ns < b.first_fill_ns:
                windows["rlexec_earlier"].append(a.window)
            elif a.first_fill_ns > b.first_fill_ns:
                windows["rlexec_later"].append(a.window)
    return {
        "fill_rate_diff": _round(diff),
        "tolerance": tolerance,
        "within_tolerance": abs(diff) <= tolerance + 1e-12,
        "same_first_fill": n - sum(len(w) for w in windows.values()),
        "windows": windows,
        # rlexec − hftbacktest over the windows both filled; negative: rlexec filled earlier
        "mean_first_fill_gap_s": _round(fmean(gaps)) if gaps else None,
        "max_abs_first_fill_gap_s": _round(max(map(abs, gaps))) if gaps else None,
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (sound at 0 and 1, unlike Wald's)."""
    if not n:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def markdown(doc: dict[str, Any]) -> str:
    """The short table of crosscheck.json, one row per file × scenario × rlexec mode."""
    lines = [
        "# Fill-model cross-check: rlexec against hftbacktest",
        "",
        f"{doc['experiment']['windows']} one-minute windows per file from 10:00, a "
        f"{doc['experiment']['quantity']}-share passive buy at the touch and one tick inside, "
        f"never re-priced; hftbacktest {doc['hftbacktest_version']} with its risk-averse queue "
        f"and zero latency. Tolerance on the fill rate: ±{doc['tolerance']:.2f}.",
        "",
        "| file | scenario | rlexec mode | n | skipped | fill rate rlexec | fill rate hftbacktest "
        "| Δ | ok | mean t first fill (s) rlexec / hbt | mean qty rlexec / hbt | windows "
        "rlexec earlier / later / only / hbt only |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, f in doc["files"].items():
        for scenario, s in f["scenarios"].items():
            for mode, c in s["comparisons"].items():
                rl, hb = s["engines"][mode], s["engines"][c["hftbacktest"]]
                w = c["windows"]
                lines.append(
                    f"| {name} | {scenario} | {mode} | {rl['n']} | {rl['skipped']} "
                    f"| {_fmt(rl['fill_rate'])} | {_fmt(hb['fill_rate'])} "
                    f"| {c['fill_rate_diff']:+.2f} | {'yes' if c['within_tolerance'] else '**no**'} "
                    f"| {_fmt(rl['mean_time_to_first_fill_s'], 1)} / "
                    f"{_fmt(hb['mean_time_to_first_fill_s'], 1)} "
                    f"| {_fmt(rl['mean_filled_qty'], 1)} / {_fmt(hb['mean_filled_qty'], 1)} "
                    f"| {len(w['rlexec_earlier'])} / {len(w['rlexec_later'])} / "
                    f"{len(w['rlexec_only'])} / {len(w['hftbacktest_only'])} |"
                )
    lines += ["", "Why the engines differ:", ""]
    lines += [f"- **{key}**: {text}" for key, text in doc["explanations"].items()]
    return "\n".join(lines) + "\n"


def _filled(outcomes: list[Outcome]) -> int:
    return sum(o.first_fill_ns is not None for o in outcomes)


def _round(x: float) -> float:
    return round(x, 4)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"
