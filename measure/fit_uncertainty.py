"""Robust least squares on log time: the losses, their weights, and the fit's uncertainty.

Both flavors' fits (:mod:`measure.fit_ideal`, :mod:`measure.calibrate_nccl`) minimize
``sum rho(r_i^2 / f^2)`` over log-time residuals ``r_i = log t_model,i - log t_measured,i`` with
:func:`scipy.optimize.least_squares` and one of its robust losses ``rho``. This module checks
the loss options and estimates the solution's uncertainty from the Jacobian of the residuals:
covariance ``s^2 (J^T W J)^-1`` with ``s^2 = sum(w r^2) / (m - p)`` for m points and p
parameters and W = diag(w) the loss's weights ``rho'((r/f)^2)`` (all 1 for ``loss="linear"``,
which gives the textbook ``s^2 (J^T J)^-1``; Bates & Watts, *Nonlinear Regression Analysis*,
1988, §2.3; scipy's ``curve_fit`` computes the same from ``least_squares``' Jacobian).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

__all__ = [
    "LOSSES",
    "FitProblem",
    "FitUncertainty",
    "check_loss",
    "fit_uncertainty",
    "jacobian",
    "loss_weights",
]

#: The robust losses of :func:`scipy.optimize.least_squares` a calibration accepts.
LOSSES = ("linear", "soft_l1", "huber", "cauchy")


class FitProblem(Protocol):
    """What the uncertainty estimate needs of a fit: measured times and log residuals."""

    measured: np.ndarray

    def residuals(self, x: np.ndarray) -> np.ndarray: ...


class FitUncertainty(NamedTuple):
    """The uncertainty of a least-squares solution.

    ``stderr`` has one standard error per parameter (NaN where no point depends on it);
    ``parameter_log_spread`` is the largest standard error of a point's log time
    (``sqrt(J_i C J_i^T)``); ``residual_log_rms`` is ``sqrt(sum r^2 / (m - p))``.
    """

    stderr: np.ndarray
    parameter_log_spread: float
    residual_log_rms: float


def check_loss(loss: str, f_scale_log: float) -> None:
    """Check a robust loss name and its scale in log time.

    Raises
    ------
    ValueError
        ``loss`` not in :data:`LOSSES`, or ``f_scale_log`` not > 0.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if not f_scale_log > 0:
        raise ValueError(f"f_scale_log must be > 0, got {f_scale_log!r}")


def loss_weights(r: np.ndarray, loss: str, f_scale: float) -> np.ndarray:
    """rho'(z) at z = (r / f_scale)^2: the IRLS weight of each residual (scipy's losses).

    >>> loss_weights(np.array([0.0, 0.3]), "cauchy", 0.1).round(3).tolist()
    [1.0, 0.1]
    """
    z = (r / f_scale) ** 2
    if loss == "soft_l1":
        return 1.0 / np.sqrt(1.0 + z)
    if loss == "huber":
        return np.where(z <= 1.0, 1.0, 1.0 / np.sqrt(np.maximum(z, 1.0)))
    if loss == "cauchy":
        return 1.0 / (1.0 + z)
    return np.ones_like(r)


def fit_uncertainty(
    problem: FitProblem,
    x: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    loss: str,
    f_scale: float,
) -> FitUncertainty:
    """Standard errors of ``x``, the largest log-time error of a point, the residual RMS.

    Parameters
    ----------
    problem
        The fit: ``residuals(x)`` are log-time residuals, one per measured point.
    x
        The solution.
    lower, upper
        The bounds of the fit (the Jacobian's differences stay inside them).
    loss, f_scale
        The robust loss and its scale, as given to ``least_squares``.

    Returns
    -------
    FitUncertainty
        Parameters whose Jacobian column vanishes (no point depends on them at the solution)
        get a NaN standard error; with as many points as parameters all are NaN and the spreads 0.
    """
    r = problem.residuals(x)
    m, p = len(r), len(x)
    if m <= p:
        return FitUncertainty(np.full(p, np.nan), 0.0, 0.0)
    jac = jacobian(problem, x, lower, upper)
    w = loss_weights(r, loss, f_scale)
    cov = float(np.sum(w * r**2)) / (m - p) * np.linalg.pinv(jac.T @ (w[:, None] * jac))
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    norms = np.linalg.norm(jac, axis=0)
    stderr[norms <= 1e-9 * max(float(norms.max()), 1e-300)] = np.nan
    spread = float(np.sqrt(np.max(np.einsum("ij,jk,ik->i", jac, cov, jac).clip(0.0))))
    return FitUncertainty(stderr, spread, float(np.sqrt(np.sum(r**2) / (m - p))))


def jacobian(
    problem: FitProblem, x: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Central differences of the log-time residuals, one-sided at a bound (m x p)."""
    jac = np.empty((len(problem.measured), len(x)))
    for k in range(len(x)):
        h = 1e-4 * max(abs(x[k]), 1e-2)
        lo, hi = max(x[k] - h, lower[k]), min(x[k] + h, upper[k])
        xa, xb = x.copy(), x.copy()
        xa[k], xb[k] = lo, hi
        jac[:, k] = (problem.residuals(xb) - problem.residuals(xa)) / (hi - lo)
    return jac
