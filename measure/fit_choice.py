"""After a flavor's fit: its regimes, the plain alpha-beta fit, and the choice between them.

:func:`add_corrections` takes a flavor's :class:`~measure.calibration.Calibration` (the flow
model's or NCCL's parameters) and, on the same fit points,

1. fits regimes on top of it (:func:`measure.fit_regimes.fit_regimes`): breakpoints, and per
   regime a latency scale and a bandwidth factor, bounded so that no effective link efficiency
   exceeds the flavor's own bound (:func:`bandwidth_floor`);
2. fits the plain alpha-beta model per collective and rank count
   (:func:`measure.fit_naive.fit_naive`);
3. chooses the one with the lower median absolute leave-one-out relative error on the fit points
   (``model_cv_error`` vs ``naive_cv_error``; only fit points are used, so held-out points stay
   unseen), and records both, the choice and each fit point's time under it. The band's
   residual term becomes the chosen fit's leave-one-out log RMS (an honest out-of-sample
   spread).

Leave-one-out refits the linear corrections with the flavor's parameters kept, so the model's
figure is slightly optimistic by the flavor's few parameters; the naive fit's is exact.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import networkx as nx
import numpy as np

from measure.calibration import NO_EVIDENCE_RESIDUAL_LOG_RMS, Calibration
from measure.fit_data import select_records
from measure.fit_naive import fit_naive
from measure.fit_regimes import fit_regimes
from measure.generic_fabric import generic_fabric_from_records
from measure.predict_records import predict_records
from measure.records import Record

__all__ = ["EFFICIENCY_MAX", "add_corrections", "bandwidth_floor"]

_BW_KEYS = ("bw_intra_scale", "bw_inter_scale")
#: The largest effective efficiency (or bandwidth scale) each flavor's own fit accepts:
#: ModelParams' (0, 1.5] of a link's nominal rate; NCCL's scales up to 2 of the per-channel
#: bandwidth NCCL's search reports (:mod:`measure.calibrate_nccl`). A generic fabric's nominal
#: rate is the catalog figure raised to the best bus bandwidth the log shows, so a figure above
#: 1 says the model moves fewer bytes over its bottleneck than busbw assumes, not that a link
#: beat its line rate.
EFFICIENCY_MAX = {"ideal": 1.5, "mpi": 1.5, "nccl": 2.0}


def _cv_error(errors: np.ndarray) -> float:
    """Median absolute leave-one-out error (the figure the held-out goals use)."""
    return float(np.median(np.abs(errors))) if len(errors) else math.nan


def _log_rms(errors: np.ndarray) -> float:
    """RMS of log(1 + e): the band's residual term (NaN when some error is undetermined)."""
    if not len(errors) or not np.all(np.isfinite(errors)):
        return math.nan
    return float(np.sqrt(np.mean(np.square(np.log1p(np.maximum(errors, -0.9))))))


def bandwidth_floor(cal: Calibration) -> float:
    """Smallest regime bandwidth factor that keeps every effective efficiency in bounds.

    Ideal and mpi: the largest fitted link efficiency over :data:`EFFICIENCY_MAX`
    (``efficiency / g <= 1.5``, ModelParams' bound); nccl: the largest fitted bandwidth scale
    over 2. A neutral 1 when none was fitted.
    """
    if cal.flavor == "nccl":
        values = [cal.nccl[k] for k in _BW_KEYS if k in cal.nccl_stderr]
    else:
        values = list(cal.params.efficiency_by_link.values())
    return max(values, default=1.0) / EFFICIENCY_MAX[cal.flavor]


def _percent(error: float) -> str:
    """A leave-one-out error, or why there is none (too few points to leave one out)."""
    return f"{error:.1%}" if math.isfinite(error) else "not measurable (too few points)"


def _key(op: str, size: int, ranks: int, hosts: int, time_s: float) -> tuple[object, ...]:
    return (op, size, ranks, hosts, time_s)


def add_corrections(base: Calibration, records: Sequence[Record], G: nx.DiGraph | None = None, *,
                    in_place: bool | None = False) -> Calibration:
    """``base`` with regimes, the naive fit and the choice between them (module docstring).

    Parameters
    ----------
    base
        A flavor's calibration with no corrections (``regimes`` and ``naive_fits`` empty).
    records, G, in_place
        As given to :func:`measure.calibrate.calibrate` (the fit points are found again by
        their operation, size, ranks, hosts and time).

    Raises
    ------
    ValueError
        ``base`` already carries corrections, or its fit points are not among ``records``.
    """
    if base.regimes or base.naive_fits:
        raise ValueError("base already carries corrections; pass the flavor's own fit")
    chosen = select_records(records, in_place=in_place)
    graph = generic_fabric_from_records(chosen) if G is None else G
    wanted = {_key(p.operation, p.size_bytes, p.num_ranks, p.num_hosts, p.measured_time_s)
              for p in base.fit_points}
    seen: set[tuple[object, ...]] = set()
    points = []
    for r in chosen:
        k = _key(r.operation, r.size_bytes, r.num_ranks, r.num_hosts, r.time_s)
        if k in wanted and k not in seen:
            seen.add(k)
            points.append(r)
    if len(points) != len(wanted):
        raise ValueError(f"found {len(points)} of the calibration's {len(wanted)} fit points "
                         f"among the records")
    preds = predict_records(graph, points, base)
    measured = np.array([r.time_s for r in points])
    model = np.array([p.time_s for p in preds])
    latency = np.array([p.latency_s for p in preds])
    ops = [r.operation for r in points]
    sizes = np.array([r.size_bytes for r in points], dtype=float)
    regimes = fit_regimes(ops, sizes, measured, model, latency, bandwidth_floor(base))
    naive, naive_loo = fit_naive([(r.operation, r.num_ranks, r.size_bytes, r.time_s)
                                  for r in points])
    model_cv, naive_cv = _cv_error(regimes.loo_relative_errors), _cv_error(naive_loo)
    use_naive = naive_cv < model_cv
    chosen_rms = _log_rms(naive_loo if use_naive else regimes.loo_relative_errors)
    out = dataclasses.replace(base, regimes=regimes.regimes, naive_fits=naive,
                              chosen_fit="naive" if use_naive else "model",
                              model_cv_error=model_cv, naive_cv_error=naive_cv)
    times = np.array([out.correct_time(collective=r.operation, size_bytes=r.size_bytes,
                                       num_ranks=r.num_ranks, time_s=float(t), latency_s=float(la))
                      for r, t, la in zip(points, model, latency, strict=True)])
    by_key = {_key(r.operation, r.size_bytes, r.num_ranks, r.num_hosts, r.time_s): float(t)
              for r, t in zip(points, times, strict=True)}
    fit_points = tuple(
        dataclasses.replace(p, predicted_time_s=by_key[_key(p.operation, p.size_bytes,
                                                             p.num_ranks, p.num_hosts,
                                                             p.measured_time_s)])
        for p in base.fit_points)
    rel = np.abs(times / measured - 1.0)
    n_reg = len(regimes.regimes)
    note = (f"fit used: {'plain alpha-beta (naive)' if use_naive else 'the model'}; "
            f"leave-one-out error on the fit points: model with {n_reg} regime(s) "
            f"{_percent(model_cv)}, naive alpha-beta {_percent(naive_cv)}")
    return dataclasses.replace(out, fit_points=fit_points,
                               residual_log_rms=chosen_rms if math.isfinite(chosen_rms)
                               and base.residual_log_rms != NO_EVIDENCE_RESIDUAL_LOG_RMS
                               else base.residual_log_rms,
                               median_relative_error=float(np.median(rel)),
                               worst_relative_error=float(np.max(rel)),
                               notes=(*base.notes, note))
