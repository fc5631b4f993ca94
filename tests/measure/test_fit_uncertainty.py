"""Robust losses' weights and the uncertainty of a least-squares solution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from measure.fit_uncertainty import LOSSES, check_loss, fit_uncertainty, jacobian, loss_weights

# rho(z) of scipy.optimize.least_squares' losses, as its documentation defines them
RHO = {
    "linear": lambda z: z,
    "soft_l1": lambda z: 2.0 * (math.sqrt(1.0 + z) - 1.0),
    "huber": lambda z: z if z <= 1.0 else 2.0 * math.sqrt(z) - 1.0,
    "cauchy": lambda z: math.log1p(z),
}


@pytest.mark.parametrize("loss", LOSSES)
def test_weights_are_the_losses_derivatives(loss: str) -> None:
    f_scale = 0.1
    r = np.array([-0.35, -0.05, 0.0, 0.02, 0.08, 0.12, 0.4])  # z from 0 to 16, not at huber's kink
    weights = loss_weights(r, loss, f_scale)
    for ri, w in zip(r, weights, strict=True):
        z, h = (ri / f_scale) ** 2, 1e-6
        derivative = (RHO[loss](z + h) - RHO[loss](max(z - h, 0.0))) / (z + h - max(z - h, 0.0))
        assert w == pytest.approx(derivative, rel=1e-5)


class _Linear:
    """Residuals A x - y: least squares with a textbook answer."""

    def __init__(self, a: np.ndarray, y: np.ndarray) -> None:
        self.a, self.y = a, y
        self.measured = y

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self.a @ x - self.y


def test_linear_loss_gives_the_textbook_standard_errors() -> None:
    rng = np.random.default_rng(4)
    a = np.column_stack([np.ones(12), np.linspace(0.0, 3.0, 12)])
    y = a @ np.array([1.0, 2.0]) + rng.normal(0.0, 0.1, 12)
    x, *_ = np.linalg.lstsq(a, y, rcond=None)
    problem = _Linear(a, y)
    out = fit_uncertainty(problem, x, np.full(2, -10.0), np.full(2, 10.0), "linear", 1.0)
    # ordinary least squares: C = s^2 (A^T A)^-1 with s^2 = RSS / (m - p)
    rss = float(np.sum((a @ x - y) ** 2))
    cov = rss / 10 * np.linalg.inv(a.T @ a)
    assert out.stderr == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-6)
    assert out.residual_log_rms == pytest.approx(math.sqrt(rss / 10), rel=1e-12)
    spread = np.sqrt(np.max(np.einsum("ij,jk,ik->i", a, cov, a)))
    assert out.parameter_log_spread == pytest.approx(spread, rel=1e-6)


def test_jacobian_is_one_sided_at_a_bound() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    problem = _Linear(a, np.zeros(3))
    x = np.array([0.0, 1.0])
    assert jacobian(problem, x, np.array([0.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(a)


def test_parameter_nothing_depends_on_has_no_standard_error() -> None:
    a = np.column_stack([np.linspace(1.0, 2.0, 6), np.zeros(6)])
    problem = _Linear(a, np.array([1.0, 1.3, 1.35, 1.7, 1.8, 2.1]))
    out = fit_uncertainty(problem, np.array([1.0, 0.0]), np.full(2, -5.0), np.full(2, 5.0),
                          "soft_l1", 0.1)
    assert math.isfinite(out.stderr[0]) and out.stderr[0] > 0
    assert math.isnan(out.stderr[1])


def test_as_many_points_as_parameters() -> None:
    problem = _Linear(np.eye(2), np.array([1.0, 2.0]))
    out = fit_uncertainty(problem, np.array([1.0, 2.0]), np.zeros(2), np.full(2, 5.0), "linear",
                          1.0)
    assert np.isnan(out.stderr).all()
    assert (out.parameter_log_spread, out.residual_log_rms) == (0.0, 0.0)


@pytest.mark.parametrize(("loss", "f_scale_log", "message"), [
    ("l2", 0.1, "loss must be one of linear, soft_l1, huber, cauchy, got 'l2'"),
    ("huber", 0.0, "f_scale_log must be > 0, got 0.0"),
    ("huber", float("nan"), "f_scale_log must be > 0"),
])
def test_check_loss(loss: str, f_scale_log: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_loss(loss, f_scale_log)
    check_loss("huber", 0.1)  # fine
