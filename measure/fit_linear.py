"""Small bounded linear least squares on relative error, with leave-one-out residuals.

Both corrections a calibration may carry are linear in their parameters once the model's
latency and transfer time are known: the regimes of :mod:`measure.fit_regimes`
(``t = a L + g T`` per size range) and the plain alpha-beta fit of :mod:`measure.fit_naive`
(``t = a + b S``). Fitting ``t_i / m_i = 1`` for measured times ``m_i`` weighs a 10 % miss the
same at 8 B and at 8 GiB. :func:`fit_relative` solves it with lower bounds on the parameters
(an active-set search: the unconstrained solution, else the best with some parameters pinned at
their bound) and returns the leave-one-out relative errors from the hat matrix,
``e_i / (1 - h_ii)`` (Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*,
2nd ed., 2009, eq. 7.52), which is what chooses between fits using only the fit points.

>>> import numpy as np
>>> fit = fit_relative(np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 4.0]]) / np.array([[3.0], [5.0],
...                    [9.0]]), np.array([0.0, 0.0]))
>>> [round(v, 6) for v in fit.params]
[1.0, 2.0]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LinearFit", "fit_relative"]

_LEVERAGE_MAX = 1.0 - 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearFit:
    """Parameters, their standard errors (NaN without degrees of freedom) and LOO errors.

    ``loo_relative_errors`` is one leave-one-out error ``predicted / measured - 1`` per row
    (infinite where leaving a row out leaves a parameter undetermined); ``num_free`` counts the
    parameters not pinned at their bound.
    """

    params: tuple[float, ...]
    stderr: tuple[float, ...]
    relative_errors: tuple[float, ...]
    loo_relative_errors: tuple[float, ...]
    num_free: int

    @property
    def loo_sse(self) -> float:
        """Sum of squared leave-one-out errors (inf if any is undetermined)."""
        return float(np.sum(np.square(self.loo_relative_errors)))


def _solve(X: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    if X.shape[1] == 0:
        return np.zeros(0)
    beta, _, rank, _ = np.linalg.lstsq(X, target, rcond=None)
    return beta if rank == X.shape[1] else None


def fit_relative(X: np.ndarray, lower: np.ndarray) -> LinearFit:
    """Fit ``X @ p ~ 1`` with ``p >= lower`` (least squares); LOO errors from the hat matrix.

    Parameters
    ----------
    X
        (n, k): row i is each term's time over the measured time of point i.
    lower
        (k,) lower bounds (finite).

    Returns
    -------
    LinearFit

    Raises
    ------
    ValueError
        ``X`` not two-dimensional with finite entries and at least one row, or ``lower`` of the
        wrong length.
    """
    X = np.asarray(X, dtype=float)
    lower = np.asarray(lower, dtype=float)
    if X.ndim != 2 or X.shape[0] < 1 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite (n, k) array with n >= 1, got shape {X.shape}")
    if lower.shape != (X.shape[1],):
        raise ValueError(f"lower must have {X.shape[1]} entries, got {lower.shape}")
    n, k = X.shape
    ones = np.ones(n)
    best: tuple[float, np.ndarray, tuple[int, ...]] | None = None
    for num_pinned in range(k + 1):
        for pinned in itertools.combinations(range(k), num_pinned):
            cols = [j for j in range(k) if j not in pinned]
            p = lower.copy()
            rest = ones - X[:, list(pinned)] @ lower[list(pinned)]
            sol = _solve(X[:, cols], rest)
            if sol is None:
                continue
            p[cols] = sol
            if np.any(p < lower - 1e-12):
                continue
            sse = float(np.sum(np.square(X @ p - 1.0)))
            if best is None or sse < best[0] - 1e-15:
                best = (sse, p, tuple(cols))
        if best is not None:
            break  # fewest pinned parameters that give a feasible solution
    free: list[int] = []
    if best is None:
        p = lower.copy()
    else:
        _, p, free_t = best
        free = list(free_t)
    resid = X @ p - 1.0
    dof = n - len(free)
    stderr = np.full(k, math.nan)
    loo = np.full(n, math.inf)
    if free:
        Xf = X[:, free]
        gram_inv = np.linalg.pinv(Xf.T @ Xf)
        leverage = np.einsum("ij,jk,ik->i", Xf, gram_inv, Xf)
        ok = leverage < _LEVERAGE_MAX
        loo[ok] = resid[ok] / (1.0 - leverage[ok])
        if dof > 0:
            s2 = float(np.sum(resid**2)) / dof
            stderr[free] = np.sqrt(np.maximum(np.diag(gram_inv) * s2, 0.0))
    else:
        loo = resid.copy()
    return LinearFit(
        params=tuple(float(v) for v in p),
        stderr=tuple(float(v) for v in stderr),
        relative_errors=tuple(float(v) for v in resid),
        loo_relative_errors=tuple(float(v) for v in loo),
        num_free=len(free),
    )
