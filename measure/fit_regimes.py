"""Regimes: piecewise corrections of a model's latency and transfer time, breakpoints from the data.

Real curves bend where the library switches protocol or algorithm: NCCL's LL / LL128 / Simple
protocols and ring / tree (NVIDIA, "NCCL environment variables", ``NCCL_PROTO`` and
``NCCL_ALGO``, https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html), MPI's
eager / rendezvous threshold and algorithm switches (Open MPI ``coll_tuned`` decision rules,
https://docs.open-mpi.org/en/v5.0.x/tuning-apps/coll-tuned.html). A regime is a size range of
one collective where the measured time follows

    ``t = a x L + g x T``

with L the model's latency and T = time - L its transfer time at the calibrated parameters, so the
correction rides on the flow model and carries to another fabric with it (T comes from that
fabric's links). ``a >= 0`` scales the latency; ``g >= g_min`` scales the transfer time, where
``g_min`` keeps every effective link efficiency <= 1 (``efficiency / g``). A regime with one free
parameter scales both together (``a = g``).

:func:`fit_regimes` chooses the breakpoints (between measured sizes, at most
:data:`MAX_REGIMES` regimes per collective) and each regime's parameter count by leave-one-out
error on the fit points (:func:`measure.fit_linear.fit_relative`); the number of regimes by
that error with a BIC-like charge per extra regime (:data:`BREAK_PENALTY`), since searching
breakpoints flatters leave-one-out error.

>>> import numpy as np
>>> sizes = np.array([2.0 ** k for k in range(10, 30, 2)])
>>> lat, tr = np.full(10, 1e-5), sizes / 1e10
>>> measured = np.where(sizes < 2 ** 20, 3 * lat + tr, lat + 2 * tr)
>>> fit = fit_regimes(["all-reduce"] * 10, sizes, measured, lat + tr, lat, 0.5)
>>> [(r.low_size_bytes, round(r.latency_scale, 3), round(r.bandwidth_factor, 3))
...  for r in fit.regimes]
[(0, 3.0, 1.0), (524288, 1.0, 2.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from measure.fit_linear import LinearFit, fit_relative

__all__ = ["MAX_REGIMES", "BREAK_PENALTY", "Regime", "RegimeFit", "fit_regimes", "regime_time"]

#: At most this many regimes per collective.
MAX_REGIMES = 4
#: What an extra regime costs in the selection score, in units of log(points) (a breakpoint
#: and its regime's parameters; BIC charges log(points) per parameter).
BREAK_PENALTY = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Regime:
    """One size range ``[low_size_bytes, high_size_bytes)`` of a collective (None: unbounded).

    ``time = latency_scale x L + bandwidth_factor x T`` for the model's latency L and transfer
    time T; standard errors NaN where unknown; ``num_parameters`` is 1 (one common scale) or 2.
    """

    operation: str
    low_size_bytes: int
    high_size_bytes: int | None
    latency_scale: float
    bandwidth_factor: float
    latency_scale_stderr: float = math.nan
    bandwidth_factor_stderr: float = math.nan
    num_points: int = 0
    num_parameters: int = 2
    first_fitted_size_bytes: int = 0
    last_fitted_size_bytes: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.latency_scale) or self.latency_scale < 0:
            raise ValueError(f"latency_scale must be a finite number >= 0, got "
                             f"{self.latency_scale!r}")
        if not math.isfinite(self.bandwidth_factor) or self.bandwidth_factor <= 0:
            raise ValueError(f"bandwidth_factor must be a finite number > 0, got "
                             f"{self.bandwidth_factor!r}")
        if self.high_size_bytes is not None and self.high_size_bytes <= self.low_size_bytes:
            raise ValueError(f"high_size_bytes ({self.high_size_bytes}) must exceed "
                             f"low_size_bytes ({self.low_size_bytes})")

    def contains(self, size_bytes: float) -> bool:
        """Whether ``size_bytes`` falls in this regime's range."""
        high = math.inf if self.high_size_bytes is None else self.high_size_bytes
        return self.low_size_bytes <= size_bytes < high

    def time_s(self, time_s: float, latency_s: float) -> float:
        """The corrected time of a model time ``time_s`` whose latency part is ``latency_s``."""
        lat = min(max(latency_s, 0.0), time_s)
        return self.latency_scale * lat + self.bandwidth_factor * (time_s - lat)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegimeFit:
    """Fitted regimes and each fit point's leave-one-out relative error (inf: undetermined)."""

    regimes: tuple[Regime, ...]
    loo_relative_errors: np.ndarray
    relative_errors: np.ndarray


def regime_time(regimes: Sequence[Regime], operation: str, size_bytes: float, time_s: float,
                latency_s: float) -> float:
    """``time_s`` corrected by the regimes of ``operation`` (as is when it has none).

    Inside a regime's fitted sizes (or beyond the first or last regime) that regime applies.
    Between the last fitted size of one regime and the first of the next, where nothing was
    measured, the two corrected times are blended geometrically, linearly in log size: the
    breakpoint is somewhere in the gap, and a wide gap (a log measured only at its ends) is not
    handed to either side's extrapolation. Each side brings what it can vouch for
    (:func:`_edge_ratio`).
    """
    mine = sorted((r for r in regimes if r.operation == operation),
                  key=lambda r: r.low_size_bytes)
    if not mine:
        return time_s
    for left, right in zip(mine, mine[1:], strict=False):
        lo, hi = left.last_fitted_size_bytes, right.first_fitted_size_bytes
        if 0 < lo < size_bytes < hi:
            w = math.log(size_bytes / lo) / math.log(hi / lo)
            t_left = time_s * _edge_ratio(left, lo, size_bytes, time_s, latency_s)
            t_right = time_s * _edge_ratio(right, hi, size_bytes, time_s, latency_s)
            return math.exp((1 - w) * math.log(t_left) + w * math.log(t_right))
    for r in mine:
        if r.contains(size_bytes):
            return r.time_s(time_s, latency_s)
    return time_s


#: Transfer share of the model's time at a regime's fitted edge from which its transfer factor
#: is carried into a gap as fitted (below it, the factor it put on the time at the edge is).
EDGE_TRANSFER_SHARE = 0.25


def _edge_ratio(regime: Regime, edge_bytes: int, size_bytes: float, time_s: float,
                latency_s: float) -> float:
    """The factor ``regime`` puts on the model's time at a size in the gap beyond its fitted
    edge ``edge_bytes``.

    Where the model's transfer made at least :data:`EDGE_TRANSFER_SHARE` of the time at the
    edge (the transfer there is ``size``'s scaled to the edge: transfer is linear in the size),
    the regime's transfer factor was seen at work and is carried as fitted. Below it, the
    factor was fitted on a sliver of the time and is not trusted on a size where the transfer
    is all of it (three points of an MI300X log fitted 18.6, which made the middle sizes 68%
    slow): the regime's factor on the whole time at the edge is carried instead."""
    transfer = max(time_s - latency_s, 0.0) * edge_bytes / size_bytes
    at_edge = latency_s + transfer
    if at_edge <= 0:
        return 1.0
    if transfer >= EDGE_TRANSFER_SHARE * at_edge:  # the factor was seen at work: carry it
        return regime.time_s(time_s, latency_s) / time_s
    return regime.time_s(at_edge, latency_s) / at_edge


def _segment_fit(lat: np.ndarray, tr: np.ndarray, measured: np.ndarray,
                 floor: float) -> tuple[LinearFit, int]:
    """Best of the one- and two-parameter fits of one segment by LOO error: (fit, parameters)."""
    one = fit_relative(((lat + tr) / measured)[:, None], np.array([floor]))
    if len(np.unique(tr / np.maximum(lat, 1e-300))) < 2 or len(measured) < 3:
        return one, 1
    two = fit_relative(np.column_stack([lat / measured, tr / measured]), np.array([0.0, floor]))
    return (two, 2) if two.loo_sse < one.loo_sse * (1 - 1e-9) else (one, 1)


def _segments(u: np.ndarray, size: np.ndarray, lat: np.ndarray, tr: np.ndarray,
              measured: np.ndarray, floor: float) -> list[tuple[int, int]]:
    """The best segmentation of the distinct sizes ``u`` as (first, last) index pairs."""
    n = len(u)
    where = [np.flatnonzero(size == s) for s in u]
    cost: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in range(i + 1 if n > 1 else i, n):
            ix = np.concatenate(where[i:j + 1])
            fit, _ = _segment_fit(lat[ix], tr[ix], measured[ix], floor)
            cost[(i, j)] = fit.loo_sse
    if n == 1:
        return [(0, 0)]
    # best[k][j]: least cost of sizes 0..j in k segments, and where the last segment starts
    best: list[dict[int, tuple[float, int]]] = [{}]
    best.append({j: (cost[(0, j)], 0) for j in range(1, n)})
    for k in range(2, MAX_REGIMES + 1):
        layer: dict[int, tuple[float, int]] = {}
        for j in range(2 * k - 1, n):
            options = [(best[k - 1][i - 1][0] + cost[(i, j)], i)
                       for i in range(2 * k - 2, j) if i - 1 in best[k - 1]]
            if options:
                layer[j] = min(options)
        best.append(layer)
    m = len(size)

    def score(k: int) -> float:
        # BIC-like: the search over breakpoints flatters leave-one-out error, so each extra
        # regime must pay for its breakpoint and parameters (Schwarz, Ann. Stat. 6(2), 1978)
        sse = best[k][n - 1][0] + m * 1e-12
        return m * math.log(sse / m) + BREAK_PENALTY * (k - 1) * math.log(m)

    chosen_k = 1
    for k in range(2, MAX_REGIMES + 1):
        if n - 1 in best[k] and score(k) < score(chosen_k):
            chosen_k = k
    out = []
    j = n - 1
    for k in range(chosen_k, 0, -1):
        i = best[k][j][1]
        out.append((i, j))
        j = i - 1
    return out[::-1]


def fit_regimes(operations: Sequence[str], sizes_bytes: np.ndarray, measured_s: np.ndarray,
                model_s: np.ndarray, latency_s: np.ndarray, bandwidth_floor: float) -> RegimeFit:
    """Fit regimes per collective to measured times given the model's time and latency part.

    Parameters
    ----------
    operations
        Each point's collective.
    sizes_bytes, measured_s, model_s, latency_s
        Each point's size, measured time, model time and the model's latency part of it.
    bandwidth_floor
        Lower bound ``g_min`` of each regime's ``bandwidth_factor`` (> 0).

    Returns
    -------
    RegimeFit

    Raises
    ------
    ValueError
        Arrays of different lengths, no points, a time that is not > 0, or a floor <= 0.
    """
    size = np.asarray(sizes_bytes, dtype=float)
    measured = np.asarray(measured_s, dtype=float)
    model = np.asarray(model_s, dtype=float)
    lat = np.clip(np.asarray(latency_s, dtype=float), 0.0, model)
    if not len(size) == len(measured) == len(model) == len(lat) == len(operations) >= 1:
        raise ValueError("fit_regimes needs one operation, size, measured, model and latency "
                         "per point, and at least one point")
    if not (np.all(measured > 0) and np.all(model > 0)):
        raise ValueError("measured and model times must be > 0")
    if not bandwidth_floor > 0:
        raise ValueError(f"bandwidth_floor must be > 0, got {bandwidth_floor!r}")
    tr = model - lat
    loo = np.full(len(size), math.inf)
    rel = np.zeros(len(size))
    regimes = []
    ops = np.array(list(operations))
    for op in dict.fromkeys(operations):
        at = np.flatnonzero(ops == op)
        u = np.unique(size[at])
        for i, j in _segments(u, size[at], lat[at], tr[at], measured[at], bandwidth_floor):
            ix = at[(size[at] >= u[i]) & (size[at] <= u[j])]
            fit, k = _segment_fit(lat[ix], tr[ix], measured[ix], bandwidth_floor)
            loo[ix] = fit.loo_relative_errors
            rel[ix] = fit.relative_errors
            a, g = (fit.params * 2) if k == 1 else fit.params
            sa, sg = (fit.stderr * 2) if k == 1 else fit.stderr
            low = 0 if i == 0 else int(round(math.sqrt(u[i - 1] * u[i])))
            high = None if j == len(u) - 1 else int(round(math.sqrt(u[j] * u[j + 1])))
            regimes.append(Regime(operation=str(op), low_size_bytes=low, high_size_bytes=high,
                                  latency_scale=a, bandwidth_factor=g, latency_scale_stderr=sa,
                                  bandwidth_factor_stderr=sg, num_points=len(ix),
                                  num_parameters=k, first_fitted_size_bytes=int(u[i]),
                                  last_fitted_size_bytes=int(u[j])))
    return RegimeFit(regimes=tuple(regimes), loo_relative_errors=loo, relative_errors=rel)
