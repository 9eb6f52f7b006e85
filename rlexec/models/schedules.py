"""Classic execution schedules: how much of a parent order to do in each slice.

Pure functions of the order and a few market parameters, shared by the backtester's
baselines and the live algos. Every schedule is in whole lots and sums exactly to the
parent quantity (largest-remainder rounding), so no algo is credited with a quantity it
never traded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def allocate(quantity: int, weights: Sequence[float], lot: int = 1) -> list[int]:
    """Split `quantity` in proportion to `weights`, in whole lots, summing exactly."""
    if quantity < 0 or quantity % lot:
        raise ValueError(f"quantity {quantity} is not a non-negative multiple of lot {lot}")
    if not weights or any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError("weights must be a non-empty list of finite, non-negative numbers")
    total = sum(weights)
    lots = quantity // lot
    if total == 0:
        weights, total = [1.0] * len(weights), float(len(weights))
    raw = [lots * w / total for w in weights]
    base = [math.floor(r) for r in raw]
    short = lots - sum(base)
    # Hand the remaining lots to the largest fractional parts; ties go to earlier slices.
    order = sorted(range(len(raw)), key=lambda i: (base[i] - raw[i], i))
    for i in order[:short]:
        base[i] += 1
    return [b * lot for b in base]


def twap(quantity: int, slices: int, lot: int = 1) -> list[int]:
    """Equal slices."""
    return allocate(quantity, [1.0] * slices, lot)


def vwap(quantity: int, profile: Sequence[float], lot: int = 1) -> list[int]:
    """Slices in proportion to the expected market volume in each (an intraday profile)."""
    return allocate(quantity, profile, lot)


def almgren_chriss(
    quantity: int,
    slices: int,
    slice_s: float,
    sigma: float,
    eta: float,
    risk_aversion: float,
    lot: int = 1,
) -> list[int]:
    """The Almgren–Chriss (2000) optimal trajectory with linear temporary impact.

    sigma: volatility of the price, fraction per √second; eta: temporary impact, fraction of
    price per (share per second); risk_aversion: λ per unit of (fraction × share)². Holdings
    follow x(t) = X·sinh(κ(T−t))/sinh(κT); λ → 0 gives TWAP, a larger λ front-loads.
    """
    if sigma < 0 or eta <= 0 or risk_aversion < 0 or slice_s <= 0:
        raise ValueError("need sigma ≥ 0, eta > 0, risk_aversion ≥ 0 and slice_s > 0")
    kappa = ac_kappa(slice_s, sigma, eta, risk_aversion)
    if kappa * slices * slice_s < 1e-9:
        return twap(quantity, slices, lot)
    horizon = slices * slice_s
    holdings = [
        math.sinh(kappa * (horizon - j * slice_s)) / math.sinh(kappa * horizon)
        for j in range(slices + 1)
    ]
    weights = [holdings[j] - holdings[j + 1] for j in range(slices)]
    return allocate(quantity, weights, lot)


def ac_kappa(slice_s: float, sigma: float, eta: float, risk_aversion: float) -> float:
    """κ of the discrete-time solution: cosh(κτ) = 1 + κ̃²τ²/2 with κ̃² = λσ²/η."""
    kappa_tilde_sq = risk_aversion * sigma * sigma / eta
    return math.acosh(1.0 + kappa_tilde_sq * slice_s * slice_s / 2.0) / slice_s


def pov_quantity(market_volume: int, rate: float, remaining: int, lot: int = 1) -> int:
    """Participation: trade `rate` of the volume the market just traded, never past what remains."""
    if not 0 < rate < 1:
        raise ValueError(f"participation rate must be in (0, 1), got {rate}")
    want = int(market_volume * rate / (1 - rate))  # our share of the total, including us
    return min(remaining, want - want % lot)


def ac_risk_aversion(kappa: float, slice_s: float, sigma: float, eta: float) -> float:
    """The λ that gives urgency κ (per second) in the discrete solution: the inverse of
    `ac_kappa`, λ = 2η(cosh(κτ) − 1) / (σ²τ²)."""
    if kappa < 0 or slice_s <= 0 or eta <= 0 or sigma <= 0:
        raise ValueError("need kappa ≥ 0, slice_s > 0, eta > 0 and sigma > 0")
    return 2.0 * eta * (math.cosh(kappa * slice_s) - 1.0) / (sigma * sigma * slice_s * slice_s)
