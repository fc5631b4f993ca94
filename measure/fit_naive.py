"""The plain alpha-beta fit: ``time = latency_s + seconds_per_byte x size`` per collective.

The yardstick a calibrated model must beat (Hockney, "The communication challenge for MPP:
Intel Paragon and Meiko CS-2", *Parallel Computing* 20(3), 1994): two parameters per
(operation, rank count), both >= 0, fitted by least squares on relative error
(:func:`measure.fit_linear.fit_relative`). It knows nothing of the fabric, so it predicts only the
collective and rank count it was fitted on; :func:`naive_time` returns None elsewhere.

>>> fits, _ = fit_naive([("all-reduce", 8, s, 1e-5 + s / 1e10) for s in (1 << 10, 1 << 20,
...                      1 << 30)])
>>> round(fits[0].latency_s * 1e6, 3), round(1 / fits[0].seconds_per_byte / 1e9, 3)
(10.0, 10.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from measure.fit_linear import fit_relative

__all__ = ["NaiveFit", "fit_naive", "naive_time"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NaiveFit:
    """An alpha-beta fit for one (operation, rank count), with standard errors (NaN: unknown)."""

    operation: str
    num_ranks: int
    latency_s: float
    seconds_per_byte: float
    latency_s_stderr: float = math.nan
    seconds_per_byte_stderr: float = math.nan
    num_points: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_s", "seconds_per_byte"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def time_s(self, size_bytes: float) -> float:
        """latency_s + seconds_per_byte x size_bytes."""
        return self.latency_s + self.seconds_per_byte * size_bytes


def fit_naive(
    points: Sequence[tuple[str, int, int, float]],
) -> tuple[tuple[NaiveFit, ...], np.ndarray]:
    """Fit alpha-beta per (operation, rank count) to ``(operation, num_ranks, size, time_s)``.

    Returns
    -------
    fits, loo_relative_errors
        One :class:`NaiveFit` per group (ordered by first point), and each point's
        leave-one-out relative error (inf where a group has too few sizes to leave one out).

    Raises
    ------
    ValueError
        No points, or a time or size that is not > 0.
    """
    if not points:
        raise ValueError("fit_naive needs at least one point")
    groups: dict[tuple[str, int], list[int]] = {}
    for i, (op, n, size_bytes, time_s) in enumerate(points):
        if not size_bytes > 0 or not time_s > 0:
            raise ValueError(f"point {i}: size and time must be > 0, got {size_bytes!r}, "
                             f"{time_s!r}")
        groups.setdefault((op, int(n)), []).append(i)
    loo = np.full(len(points), math.inf)
    fits = []
    for (op, num_ranks), ix in groups.items():
        size = np.array([points[i][2] for i in ix], dtype=float)
        measured = np.array([points[i][3] for i in ix], dtype=float)
        scale = float(np.median(size / measured))  # columns of similar magnitude
        X = np.column_stack([1.0 / measured, size / measured / scale])
        fit = fit_relative(X, np.zeros(2))
        loo[ix] = fit.loo_relative_errors
        fits.append(NaiveFit(
            operation=op, num_ranks=num_ranks, latency_s=fit.params[0],
            seconds_per_byte=fit.params[1] / scale, latency_s_stderr=fit.stderr[0],
            seconds_per_byte_stderr=fit.stderr[1] / scale, num_points=len(ix)))
    return tuple(fits), loo


def naive_time(
    fits: Sequence[NaiveFit], operation: str, num_ranks: int, size_bytes: float
) -> float | None:
    """The naive fit's time for this operation and rank count; None if it was not fitted."""
    for f in fits:
        if f.operation == operation and f.num_ranks == num_ranks:
            return f.time_s(size_bytes)
    return None
