"""Regimes, the naive alpha-beta fit and their linear solver: recovery of known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from measure.fit_linear import fit_relative
from measure.fit_naive import NaiveFit, fit_naive, naive_time
from measure.fit_regimes import Regime, fit_regimes, regime_time

SIZES = np.array([2.0**k for k in range(3, 31)])  # 8 B .. 1 GiB, 28 sizes
LATENCY_S = 20e-6
SECONDS_PER_BYTE = 1 / 50e9


def _curve(switch_bytes: float, below: tuple[float, float], above: tuple[float, float],
           noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model (L, T) and measured times a L + g T with (a, g) switching at ``switch_bytes``."""
    lat = np.full(len(SIZES), LATENCY_S)
    tr = SIZES * SECONDS_PER_BYTE
    a = np.where(SIZES < switch_bytes, below[0], above[0])
    g = np.where(SIZES < switch_bytes, below[1], above[1])
    rng = np.random.default_rng(seed)
    measured = (a * lat + g * tr) * np.exp(rng.normal(0.0, noise, len(SIZES)))
    return lat, tr, measured


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_a_breakpoint_and_each_regimes_parameters(seed):
    # a protocol switch at 1 MiB: 3x the latency and the full bandwidth below, the model's
    # latency and half the bandwidth above (as NCCL's LL -> Simple switch looks on a curve)
    switch = 2.0**20
    lat, tr, measured = _curve(switch, (3.0, 1.0), (1.0, 2.0), noise=0.01, seed=seed)
    fit = fit_regimes(["all-reduce"] * len(SIZES), SIZES, measured, lat + tr, lat, 0.5)
    # the breakpoint closest to the switch lies between the measured sizes around it
    bounds = [r.low_size_bytes for r in fit.regimes[1:]]
    assert any(switch / 2 <= b <= switch for b in bounds), bounds
    low = next(r for r in fit.regimes if r.contains(1024))
    high = next(r for r in fit.regimes if r.contains(2**29))
    # within 4 standard errors (1 % noise)
    assert low.latency_scale == pytest.approx(3.0, abs=4 * low.latency_scale_stderr + 0.02)
    assert high.bandwidth_factor == pytest.approx(2.0, abs=4 * high.bandwidth_factor_stderr + 0.02)
    assert math.isfinite(high.bandwidth_factor_stderr) and high.bandwidth_factor_stderr < 0.05
    assert np.median(np.abs(fit.loo_relative_errors)) < 0.03


def test_one_regime_when_the_curve_has_no_break():
    lat, tr, measured = _curve(1.0, (1.0, 1.0), (1.5, 1.2), noise=0.005, seed=4)
    fit = fit_regimes(["all-gather"] * len(SIZES), SIZES, measured, lat + tr, lat, 0.5)
    assert len(fit.regimes) == 1
    r = fit.regimes[0]
    assert (r.low_size_bytes, r.high_size_bytes) == (0, None)
    assert r.latency_scale == pytest.approx(1.5, rel=0.03)
    assert r.bandwidth_factor == pytest.approx(1.2, rel=0.03)


def test_parameters_stay_physical():
    # measured faster than the model allows at large sizes: g is held at the floor
    lat, tr, measured = _curve(1.0, (1.0, 1.0), (0.0, 0.3), noise=0.0, seed=0)
    fit = fit_regimes(["all-reduce"] * len(SIZES), SIZES, measured, lat + tr, lat, 0.8)
    assert all(r.bandwidth_factor >= 0.8 - 1e-12 for r in fit.regimes)
    assert all(r.latency_scale >= 0 for r in fit.regimes)


def test_two_sizes_fit_one_parameter():
    lat, tr = np.array([LATENCY_S] * 2), np.array([8.0, 2.0**30]) * SECONDS_PER_BYTE
    measured = 1.3 * (lat + tr)
    fit = fit_regimes(["all-reduce"] * 2, np.array([8.0, 2.0**30]), measured, lat + tr, lat, 0.5)
    assert [(r.num_parameters, round(r.latency_scale, 6)) for r in fit.regimes] == [(1, 1.3)]


def test_regime_time_applies_the_right_regime_and_leaves_others_alone():
    regimes = [Regime(operation="all-reduce", low_size_bytes=0, high_size_bytes=100,
                      latency_scale=2.0, bandwidth_factor=1.0),
               Regime(operation="all-reduce", low_size_bytes=100, high_size_bytes=None,
                      latency_scale=1.0, bandwidth_factor=3.0)]
    assert regime_time(regimes, "all-reduce", 10, time_s=5.0, latency_s=1.0) == 6.0
    assert regime_time(regimes, "all-reduce", 1000, time_s=5.0, latency_s=1.0) == 13.0
    assert regime_time(regimes, "all-gather", 1000, time_s=5.0, latency_s=1.0) == 5.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"latency_scale": -1.0}, "latency_scale must be a finite number >= 0"),
    ({"bandwidth_factor": 0.0}, "bandwidth_factor must be a finite number > 0"),
    ({"high_size_bytes": 0}, "must exceed low_size_bytes"),
])
def test_regime_rejects_unphysical_values(kwargs, message):
    base = {"operation": "all-reduce", "low_size_bytes": 0, "high_size_bytes": None,
            "latency_scale": 1.0, "bandwidth_factor": 1.0}
    with pytest.raises(ValueError, match=message):
        Regime(**{**base, **kwargs})


def test_naive_fit_recovers_alpha_beta_per_group_and_predicts_only_those():
    points = [(op, n, int(s), a + s * b) for op, n, a, b in
              (("all-reduce", 8, 10e-6, 1e-10), ("all-reduce", 16, 30e-6, 2e-10))
              for s in SIZES[::3]]
    fits, loo = fit_naive(points)
    assert [(f.num_ranks, round(f.latency_s * 1e6, 6), round(f.seconds_per_byte * 1e10, 6))
            for f in fits] == [(8, 10.0, 1.0), (16, 30.0, 2.0)]
    assert np.max(np.abs(loo)) < 1e-9
    assert naive_time(fits, "all-reduce", 16, 1e9) == pytest.approx(30e-6 + 0.2)
    assert naive_time(fits, "all-reduce", 32, 1e9) is None
    with pytest.raises(ValueError, match="latency_s must be a finite number >= 0"):
        NaiveFit(operation="all-reduce", num_ranks=2, latency_s=-1.0, seconds_per_byte=0.0)


def test_linear_fit_leave_one_out_matches_refitting():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(12), np.linspace(0.1, 2.0, 12)]) * rng.uniform(0.5, 1.5, (12, 1))
    fit = fit_relative(X, np.array([-10.0, -10.0]))
    for i in range(12):
        keep = np.arange(12) != i
        p = np.linalg.lstsq(X[keep], np.ones(11), rcond=None)[0]
        assert fit.loo_relative_errors[i] == pytest.approx(X[i] @ p - 1.0, rel=1e-8, abs=1e-12)


def test_a_regime_keeps_its_edge_factor_across_a_gap():
    # a regime fitted on latency-bound sizes (up to 1 MiB) with a bandwidth factor it could not
    # check (18.6, as three points of an MI300X log gave) and a large-size one (from 256 MiB):
    # at 16 MiB, where the model's transfer is a quarter of its time, the left side brings the
    # factor it put on the time at 1 MiB (where the transfer was 1/16 of 16 MiB's and 2% of the
    # time), not 18.6 on all the transfer; the right side, whose transfer was most of the time
    # at 256 MiB, brings its parameters as fitted
    mib = 1 << 20
    left = Regime(operation="all-reduce", low_size_bytes=0, high_size_bytes=16 * mib,
                  latency_scale=0.7, bandwidth_factor=18.6, first_fitted_size_bytes=256 << 10,
                  last_fitted_size_bytes=mib)
    right = Regime(operation="all-reduce", low_size_bytes=16 * mib, high_size_bytes=None,
                   latency_scale=0.5, bandwidth_factor=1.04, first_fitted_size_bytes=256 * mib,
                   last_fitted_size_bytes=1 << 34)
    lat, transfer = 300e-6, 100e-6  # the model at 16 MiB: latency 300 us, transfer 100 us
    total = lat + transfer
    got = regime_time([left, right], "all-reduce", 16 * mib, total, lat)
    left_ratio = (0.7 * lat + 18.6 * transfer / 16) / (lat + transfer / 16)
    right_ratio = (0.5 * lat + 1.04 * transfer) / total
    assert got == pytest.approx(total * math.sqrt(left_ratio * right_ratio))  # w = 4/8 octaves
    # the parameters carried whole would have made it 2.2x slower
    assert math.sqrt(left.time_s(total, lat) * right.time_s(total, lat)) > 2.1 * got
    # inside a regime's own range, its parameters apply as fitted
    assert regime_time([left, right], "all-reduce", mib // 2, total, lat) == \
        pytest.approx(left.time_s(total, lat))
    # a regime whose transfer was a quarter of the time or more at its edge carries its factor
    busy = Regime(operation="all-reduce", low_size_bytes=0, high_size_bytes=16 * mib,
                  latency_scale=0.7, bandwidth_factor=1.6, first_fitted_size_bytes=256 << 10,
                  last_fitted_size_bytes=mib)
    lat = 10e-6  # at 1 MiB the transfer (100 us / 16) is 38% of the time
    total = lat + transfer
    right_ratio = (0.5 * lat + 1.04 * transfer) / total
    assert regime_time([busy, right], "all-reduce", 16 * mib, total, lat) == \
        pytest.approx(total * math.sqrt(busy.time_s(total, lat) / total * right_ratio))
