"""The fit of the ideal flavor: ``alpha_s`` and one efficiency per link class.

The ideal flavor predicts ``time(S) = latency_s + seconds_per_byte * S`` per algorithm and rank
placement (:func:`collectives.model.algorithm_costs`). :func:`calibrate_ideal` fits its
parameters (:class:`collectives.calibration.ModelParams`): ``alpha_s``, the software cost of one
algorithm step, and one efficiency per link class (the edges' ``link`` key) that the measured
points load, with :func:`scipy.optimize.least_squares` (bounded, trust-region reflective, robust
loss on the log of time, so a 10 % miss weighs the same at 8 B and at 8 GiB). Each evaluation
re-prices the cached routing with new parameters, so a fit of a few hundred points takes well
under a second. :func:`ideal_times` prices points with given parameters (for validation).
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
from scipy.optimize import least_squares

from collectives.calibration import ModelParams
from collectives.model import algorithm_costs
from measure.calibration import Calibration, FitPoint, describe_graph, residual_log_rms_of
from measure.fit_data import (
    PredictedTimes,
    glitch_notes,
    group_points,
    ideal_algorithm,
    select_records,
    usable_records,
)
from measure.fit_uncertainty import check_loss, fit_uncertainty
from measure.generic_fabric import generic_fabric_from_records
from measure.holdout import Holdout, parse_holdout
from measure.records import Record

__all__ = ["calibrate_ideal", "ideal_times"]

_ALPHA_MAX_US = 1.0e4  # 10 ms per algorithm step: anything slower is not a network
_EFF_MIN, _EFF_MAX = 1.0e-3, 1.5  # ModelParams accepts (0, 1.5]


class _IdealProblem:
    """Points grouped by (operation, GPUs, algorithm); times for a parameter vector.

    The vector is x = (alpha in us, efficiency of each of ``links``).
    """

    def __init__(self, G: nx.DiGraph, records: Sequence[Record], links: Sequence[str]) -> None:
        self.G = G
        self.links = list(links)
        self.records = list(records)
        self.groups = group_points(G, self.records, ideal_algorithm)
        # A measured run used its library's choice, not the fastest the fabric allows: the fit
        # (and what its calibration predicts) chooses among NCCL's algorithms. Choosing among
        # all of them fits MPI logs worse (docs/accuracy.md, OSU all-reduce on ABCI A100, fit on
        # 4 nodes and predict 16: 23.2% median vs 10.9%), since the model's fastest is not what
        # MPICH or Open MPI picked.
        self.algorithm_set = "nccl"
        self.size = np.array([r.size_bytes for r in self.records], dtype=float)
        self.measured = np.array([r.time_s for r in self.records], dtype=float)

    def params(self, x: np.ndarray) -> ModelParams:
        eff = {
            k: float(np.clip(v, _EFF_MIN, _EFF_MAX)) for k, v in zip(self.links, x[1:], strict=True)
        }
        return ModelParams(alpha_s=max(float(x[0]), 0.0) * 1e-6, efficiency_by_link=eff,
                           algorithm_set=self.algorithm_set)

    def times(self, x: np.ndarray) -> np.ndarray:
        return self._price(self.params(x), None)

    def predicted(self, params: ModelParams) -> PredictedTimes:
        chosen = [""] * len(self.size)
        return PredictedTimes(self._price(params, chosen), chosen)

    def _price(self, params: ModelParams, chosen: list[str] | None) -> np.ndarray:
        """Each point's time: the fastest of its group's algorithms (named in ``chosen``)."""
        out = np.empty(len(self.size))
        for g in self.groups:
            costs = algorithm_costs(
                self.G, g.operation, ranks=list(g.gpus), algorithm=g.algorithm, params=params
            )
            lat = np.array([c.latency_s for c in costs])
            spb = np.array([c.seconds_per_byte for c in costs])
            t = lat[:, None] + spb[:, None] * self.size[g.points][None, :]
            best = np.argmin(t, axis=0)
            out[g.points] = t[best, np.arange(len(g.points))]
            if chosen is not None:
                for j, p in enumerate(g.points):
                    chosen[p] = costs[best[j]].algorithm
        return out

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.log(self.times(x)) - np.log(self.measured)


def ideal_times(G: nx.DiGraph, records: Sequence[Record], params: ModelParams) -> PredictedTimes:
    """Times of ``records`` on ``G`` under the ideal flavor with ``params``, and the algorithms.

    Each record runs its named algorithm (:func:`measure.fit_data.ideal_algorithm`) or the
    fastest the model has for its size.

    Raises
    ------
    ValueError
        A record the model cannot price on ``G`` (filter with
        :func:`measure.fit_data.usable_records` first).
    """
    return _IdealProblem(G, records, list(params.efficiency_by_link)).predicted(params)


def _loaded_links(problem: _IdealProblem, x0: np.ndarray) -> list[str]:
    """Link keys whose efficiency changes at least one predicted time (the identifiable ones)."""
    base = problem.times(x0)
    keep = []
    for i, link in enumerate(problem.links):
        x = x0.copy()
        x[1 + i] *= 0.5
        if np.any(np.abs(problem.times(x) / base - 1) > 1e-9):
            keep.append(link)
    return keep


def calibrate_ideal(
    records: Sequence[Record],
    G: nx.DiGraph | None = None,
    *,
    holdout: str | Holdout | None = None,
    in_place: bool | None = False,
    loss: str = "soft_l1",
    f_scale_log: float = 0.1,
    flavor: str = "ideal",
) -> Calibration:
    """Fit ``alpha_s`` and per-link-class efficiencies of the ideal model to measured points.

    Parameters
    ----------
    records, G, holdout, in_place, loss, f_scale_log
        As in :func:`measure.calibrate.calibrate`.
    flavor
        ``ideal``, or ``mpi`` for MPI measurements (the same fit, recorded as the mpi flavor).

    Returns
    -------
    Calibration
        ``flavor`` as given, the fitted values in ``params``.

    Raises
    ------
    ValueError
        An unknown loss, a bad holdout, no usable records, a fabric that cannot hold the
        records' ranks, or a single fit point (the message says 2 are needed).

    Notes
    -----
    Minimizes ``sum rho((log t_model,i - log t_measured,i)^2 / f^2)`` over x = (alpha in us,
    efficiency per link) with bounds alpha in [0, 1e4] us and efficiency in [1e-3, 1.5]
    (``least_squares(method="trf")``, Branch, Coleman & Li 1999). With fewer points than
    parameters (at least 2) the efficiencies are dropped, host-internal first (a note names
    each). Link classes that no point
    loads are not fitted; one that no point depends on at the solution keeps its value with a
    NaN standard error and a note. The start is the best of a 3 x 3 grid of (alpha,
    efficiency). No per-link latency is fitted: path latencies come from the graph's
    ``latency_s`` and :class:`~collectives.calibration.ModelParams` has no term for a fitted one,
    so ``alpha_s`` absorbs the fixed cost of every step. Standard errors:
    :func:`measure.fit_uncertainty.fit_uncertainty`.
    """
    if flavor not in ("ideal", "mpi"):
        raise ValueError(f"flavor must be 'ideal' or 'mpi' for this fit, got {flavor!r}")
    check_loss(loss, f_scale_log)
    chosen = select_records(records, in_place=in_place)
    if not chosen:
        raise ValueError(
            f"no usable records among {len(records)} (need correct results, "
            f"size > 0, >= 2 ranks, {'in' if in_place else 'out-of'}-place)"
        )
    split = parse_holdout(holdout).split([r.size_bytes for r in chosen])
    fit_sizes = set(split.fitted_sizes_bytes)
    graph = generic_fabric_from_records(chosen) if G is None else G
    usable = usable_records(graph, [r for r in chosen if r.size_bytes in fit_sizes])
    points = list(usable.records)
    notes = glitch_notes(records, in_place=in_place) + list(usable.notes)
    if not points:
        why = "; ".join(notes) or "the holdout takes every size"
        raise ValueError(f"no fit point left: {why}")
    links = sorted({str(d["link"]) for _, _, d in graph.edges(data=True)})
    problem = _IdealProblem(graph, points, links)
    x_probe = np.array([2.0] + [1.0] * len(links))
    fitted_links = _loaded_links(problem, x_probe)
    problem = _IdealProblem(graph, points, fitted_links)
    m = len(points)
    if m < 2:
        wanted = ", ".join(["alpha_s"] + [f"efficiency of {k}" for k in fitted_links][-1:])
        raise ValueError(f"calibration needs at least 2 points for 2 parameters ({wanted}); "
                         f"got {m}")
    while 1 + len(fitted_links) > m and fitted_links:
        # fewer points than parameters: fit fewer (the network's efficiency last to go)
        kept = fitted_links.pop(0)
        notes.append(f"only {m} point(s): efficiency of {kept} not fitted (kept at 1)")
    problem = _IdealProblem(graph, points, fitted_links)
    p = 1 + len(fitted_links)
    lower = np.array([0.0] + [_EFF_MIN] * len(fitted_links))
    upper = np.array([_ALPHA_MAX_US] + [_EFF_MAX] * len(fitted_links))
    starts = [
        np.array([a] + [e] * len(fitted_links)) for a in (1.0, 5.0, 20.0) for e in (0.3, 0.6, 1.0)
    ]
    x0 = min(starts, key=lambda x: float(np.sum(np.abs(problem.residuals(x)))))
    res = least_squares(
        problem.residuals,
        x0,
        bounds=(lower, upper),
        method="trf",
        loss=loss,
        f_scale=f_scale_log,
        x_scale=np.maximum(x0, 0.1),
    )
    spread = fit_uncertainty(problem, res.x, lower, upper, loss, f_scale_log)
    stderr = spread.stderr
    names = ["alpha_s", *fitted_links]
    if m == p:
        notes.append(f"as many points as parameters ({p}): no standard errors, and the fit "
                     f"measured none of its own error (the band is a default x1.5)")
    # a standard error 100x the value says the same: the points do not pin this parameter
    loose = ~np.isfinite(stderr) | (stderr > 100.0 * np.maximum(np.abs(res.x), 1e-12))
    for k in np.flatnonzero(loose & (m > p)):
        notes.append(
            f"{names[k]} is not determined by these points (changing it alters no fitted "
            f"time); kept at {res.x[k]:.3g}, standard error unknown"
        )
    params = problem.params(res.x)
    times, algos = problem.predicted(params)
    rel = np.abs(times / problem.measured - 1.0)
    bandwidths: dict[str, float] = {}
    for _, _, d in graph.edges(data=True):
        bandwidths.setdefault(str(d["link"]), float(d["bandwidth_bytes_per_s"]))
    return Calibration(
        params=params,
        alpha_s_stderr=float(stderr[0]) * 1e-6,
        efficiency_stderr_by_link=dict(zip(fitted_links, map(float, stderr[1:]), strict=True)),
        bandwidth_by_link_bytes_per_s={k: bandwidths[k] for k in fitted_links},
        num_points=m,
        fitted_sizes_bytes=tuple(sorted({r.size_bytes for r in points})),
        held_out_sizes_bytes=split.held_out_sizes_bytes,
        median_relative_error=float(np.median(rel)),
        worst_relative_error=float(np.max(rel)),
        residual_log_rms=residual_log_rms_of(m, p, spread.residual_log_rms),
        parameter_log_spread=spread.parameter_log_spread,
        graph=describe_graph(graph),
        fit_points=tuple(
            FitPoint(
                operation=rec.operation,
                size_bytes=rec.size_bytes,
                num_ranks=rec.num_ranks,
                num_hosts=rec.num_hosts,
                measured_time_s=rec.time_s,
                predicted_time_s=float(t),
                algorithm=a,
            )
            for rec, t, a in zip(points, times, algos, strict=True)
        ),
        flavor=flavor,
        loss=loss,
        notes=tuple(notes),
    )
