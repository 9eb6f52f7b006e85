"""Schedules sum exactly, in lots, and have the shapes their theory says."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.models.schedules import (
    ac_kappa,
    ac_risk_aversion,
    allocate,
    almgren_chriss,
    pov_quantity,
    twap,
    vwap,
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.sampled_from([1, 10, 100]),
)
def test_allocation_sums_exactly_in_lots(lots: int, weights: list[float], lot: int) -> None:
    quantity = lots * lot
    out = allocate(quantity, weights, lot)
    assert sum(out) == quantity
    assert len(out) == len(weights)
    assert all(q >= 0 and q % lot == 0 for q in out)
    total = sum(weights)
    if total > 0:  # each slice within one lot of its exact share
        assert all(abs(q - quantity * w / total) <= lot for q, w in zip(out, weights, strict=True))


def test_twap_and_vwap() -> None:
    assert twap(1000, 4) == [250, 250, 250, 250]
    assert twap(1001, 4) == [251, 250, 250, 250]
    assert vwap(1000, [1, 3]) == [250, 750]
    assert vwap(100, [0, 0]) == [50, 50]  # no profile information: even
    with pytest.raises(ValueError, match="lot"):
        twap(1005, 2, lot=10)


def test_almgren_chriss_front_loads_with_risk_aversion() -> None:
    neutral = almgren_chriss(10_000, 10, 30.0, sigma=2e-4, eta=1e-7, risk_aversion=0.0)
    assert neutral == twap(10_000, 10)
    averse = almgren_chriss(10_000, 10, 30.0, sigma=2e-4, eta=1e-7, risk_aversion=1e-3)
    assert sum(averse) == 10_000
    assert averse == sorted(averse, reverse=True) and averse[0] > averse[-1] * 2
    more = almgren_chriss(10_000, 10, 30.0, sigma=2e-4, eta=1e-7, risk_aversion=1e-2)
    assert more[0] > averse[0]


@settings(max_examples=200, deadline=None)
@given(
    kappa=st.floats(1e-5, 0.05),
    slice_s=st.floats(1.0, 120.0),
    sigma=st.floats(1e-6, 1e-3),
    eta=st.floats(1e-9, 1e-2),
)
def test_ac_risk_aversion_inverts_kappa(
    kappa: float, slice_s: float, sigma: float, eta: float
) -> None:
    lam = ac_risk_aversion(kappa, slice_s, sigma, eta)
    assert lam >= 0
    assert ac_kappa(slice_s, sigma, eta, lam) == pytest.approx(kappa, rel=1e-6)


def test_ac_risk_aversion_needs_volatility() -> None:
    with pytest.raises(ValueError, match="sigma"):
        ac_risk_aversion(0.01, 15.0, 0.0, 1e-4)


def test_pov() -> None:
    assert pov_quantity(900, 0.1, 10_000) == 100  # 100 of 1000 total = 10 %
    assert pov_quantity(900, 0.1, 40) == 40
    assert pov_quantity(905, 0.1, 10_000, lot=100) == 100
    with pytest.raises(ValueError, match="participation"):
        pov_quantity(100, 1.5, 10)
