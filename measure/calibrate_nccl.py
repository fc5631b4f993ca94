"""Calibration of the NCCL flavor: NCCL's own tuner with fitted bandwidths and network latency.

The NCCL flavor (:mod:`collectives.nccl`, :mod:`collectives.nccl_bridge`) predicts with NCCL's
tuner fed by the graph. What a cluster changes in that model are the figures NCCL's topology
search produces, so those are what is fitted (each only when some point depends on it):

``bw_intra_scale``
    factor on the per-channel intra-node bandwidth the search finds (NVLink or PCIe);
``bw_inter_scale``
    factor on the per-channel inter-node bandwidth (the NICs, after the fabric factor);
``net_latency_s``
    the net plugin's latency (``graph->latencyInter``, 0 for InfiniBand in NCCL itself), added to
    every inter-node step;
``latency_scale``
    factor on every latency of NCCL's table: launch and synchronization cost as this cluster
    (and launch mode: one process per GPU or ``-g 8``) pays it;
``launch_s``
    a cost every call pays on top of the table's latency, whatever its algorithm and protocol.
    NCCL's table grows latency with the protocol (Ring on 8 Hopper GPUs: LL 15 us, Simple
    56 us); an 8 x H100 log has one 35 us floor at 8 B and the same intercept at 128 MiB. A
    scale alone fitted at both ends made Simple's latency 129 us, so the sizes between came
    out up to 75 % slow.

The fit is bounded least squares on log time with a robust loss, as for the ideal flavor
(:mod:`measure.fit_ideal`), and gives the same :class:`~measure.calibration.Calibration` with
``flavor="nccl"`` and the fitted values in ``nccl``. :func:`measure.calibrate.calibrate` calls
:func:`calibrate_nccl` for ``flavor="nccl"``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np
from scipy.optimize import least_squares

from collectives import nccl
from collectives.calibration import ModelParams
from collectives.nccl_bridge import NCCL_PARAMETERS, calibrated_system
from collectives.nccl_tables import MODELED_RELEASES, closest_modeled, release_key
from measure.calibration import Calibration, FitPoint, describe_graph, residual_log_rms_of
from measure.fit_data import PredictedTimes, glitch_notes, group_points, select_records
from measure.fit_uncertainty import check_loss, fit_uncertainty
from measure.generic_fabric import generic_fabric_from_records
from measure.holdout import Holdout, parse_holdout
from measure.records import Record

__all__ = ["MPI_SOURCES", "calibrate_nccl", "nccl_algorithm", "nccl_times", "TUNED"]

#: Record sources that are MPI measurements (OSU, IMB, the mpi4py probe), not NCCL's.
MPI_SOURCES = ("osu", "imb", "mpi-probe")

TUNED = ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce")

_BOUNDS = {"bw_intra_scale": (0.05, 2.0), "bw_inter_scale": (0.05, 2.0),
           "net_latency_s": (0.0, 1e-3), "latency_scale": (0.05, 50.0),
           "launch_s": (0.0, 1e-3)}
_UNIT = {"bw_intra_scale": 1.0, "bw_inter_scale": 1.0, "net_latency_s": 1e-6,  # x is in us
         "latency_scale": 1.0, "launch_s": 1e-6}
#: Which parameters a fit with fewer points than parameters keeps first.
_PRIORITY = ("bw_inter_scale", "bw_intra_scale", "latency_scale", "net_latency_s", "launch_s")
_NEUTRAL = {"bw_intra_scale": 1.0, "bw_inter_scale": 1.0, "net_latency_s": 0.0,
            "latency_scale": 1.0, "launch_s": 0.0}


def nccl_algorithm(record: Record) -> str | None:
    """The NCCL algorithm a record forces (its ``algorithm`` or ``NCCL_ALGO``), else None."""
    name = (record.algorithm or record.env.get("NCCL_ALGO", "")).strip()
    if not name or "," in name or name.startswith("^"):
        return None
    for known in nccl.ALGORITHMS:
        if known.lower() == name.lower().replace("_", ""):
            return known
    return None


class _NcclProblem:
    """Points grouped by (operation, GPUs, forced algorithm); NCCL times for a parameter vector."""

    def __init__(self, G: nx.DiGraph, records: Sequence[Record], version: str) -> None:
        self.G = G
        self.version = version
        self.records = list(records)
        self.groups = group_points(G, self.records, nccl_algorithm)
        self.size = [r.size_bytes for r in self.records]
        self.measured = np.array([r.time_s for r in self.records], dtype=float)
        self.names = list(NCCL_PARAMETERS)

    def values(self, x: np.ndarray) -> dict[str, float]:
        return {n: float(v) * _UNIT[n] for n, v in zip(self.names, x, strict=True)}

    def times(self, x: np.ndarray) -> np.ndarray:
        return self.predicted(x).times_s

    def predicted(self, x: np.ndarray) -> PredictedTimes:
        out = np.empty(len(self.records))
        chosen = [""] * len(self.records)
        values = self.values(x)
        for g in self.groups:
            system = calibrated_system(self.G, g.gpus, values, version=self.version)
            for p in g.points:
                pred = nccl.nccl_time(system, g.operation, self.size[p], version=self.version,
                                      algorithm=g.algorithm)
                out[p] = pred.time_s
                chosen[p] = f"{pred.algorithm}/{pred.protocol}"
        return PredictedTimes(out, chosen)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return np.log(self.times(x)) - np.log(self.measured)


def _version_for(records: Sequence[Record], version: str | None) -> tuple[str, str]:
    """The NCCL release whose tuner constants the fit uses, and a note on the choice: the one
    given, else the modeled release closest to (not newer than) the one the records state
    (nccl-tests prints it; every record mapping to the same modeled release), else the
    default."""
    if version is not None:
        return version, ""
    ran: dict[str, str] = {}  # release as printed -> library name
    for r in records:
        for lib in ("nccl", "rccl"):
            if r.library.get(lib):
                ran.setdefault(str(r.library[lib]), lib.upper())
    modeled = {closest_modeled(v) for v in ran} - {None}
    if len(modeled) != 1 or any(closest_modeled(v) is None for v in ran):
        return nccl.DEFAULT_VERSION, ""
    (chosen,) = modeled
    assert chosen is not None
    shown = ", ".join(f"{lib} {v}" for v, lib in sorted(ran.items()))
    known = MODELED_RELEASES
    keys = {v: k for v in ran if (k := release_key(v)) is not None}  # every one (above)
    release = min(keys, key=keys.__getitem__)
    oldest = release_key(known[0])
    if oldest is not None and keys[release] < oldest:
        how = (f"the oldest modeled release: {release} is older than every modeled one "
               f"({known[0]}-{known[-1]}), whose constants it may not share")
    else:
        how = "the newest modeled release not newer"
    return chosen, f"the records ran {shown}: the tuner's constants of NCCL {chosen} ({how})"


def calibrate_nccl(
    records: Sequence[Record],
    G: nx.DiGraph | None = None,
    *,
    holdout: str | Holdout | None = None,
    in_place: bool | None = False,
    loss: str = "soft_l1",
    f_scale_log: float = 0.1,
    version: str | None = None,
) -> Calibration:
    """Fit the NCCL flavor's bandwidth scales and network latency to measured points.

    Parameters are as for :func:`measure.calibrate.calibrate`; ``version`` picks NCCL's
    constants (default the newest). Parameters that no point depends on (no multi-node point:
    no ``bw_inter_scale`` nor ``net_latency_s``) are left at their neutral values and named in
    the notes.

    Raises
    ------
    ValueError
        No usable records, MPI records (OSU, IMB, the mpi4py probe: use the mpi flavor), a
        bad holdout or loss, or placements NCCL's model cannot price (unequal ranks per
        host). With fewer points than parameters the least telling ones are kept neutral
        (named in the notes).
    """
    check_loss(loss, f_scale_log)
    chosen = select_records(records, in_place=in_place)
    if not chosen:
        raise ValueError(f"no usable records among {len(records)} (need correct results, size > 0, "
                         f">= 2 ranks)")
    version, version_note = _version_for(chosen, version)
    mpi = sorted({r.source for r in chosen if r.source in MPI_SOURCES})
    if mpi:
        raise ValueError(f"the nccl flavor models NCCL, and these records are MPI measurements "
                         f"({', '.join(mpi)}): calibrate them with --flavor mpi")
    split = parse_holdout(holdout).split([r.size_bytes for r in chosen])
    fit_sizes = set(split.fitted_sizes_bytes)
    graph = generic_fabric_from_records(chosen) if G is None else G
    notes: list[str] = glitch_notes(records, in_place=in_place)
    if version_note:
        notes.append(version_note)
    usable = [r for r in chosen if r.size_bytes in fit_sizes and r.operation in TUNED]
    left = len([r for r in chosen if r.size_bytes in fit_sizes]) - len(usable)
    if left:
        notes.append(f"left out {left} point(s) of operations outside NCCL's tuner "
                     f"(all-to-all, send-recv): fit them with the ideal flavor")
    if not usable:
        raise ValueError("no point of a tuned collective (all-reduce, all-gather, reduce-scatter, "
                         "broadcast, reduce) to fit the nccl flavor on")
    problem = _NcclProblem(graph, usable, version)
    neutral = np.array([_NEUTRAL[n] / _UNIT[n] for n in problem.names])
    base = problem.times(neutral)
    free = []
    for k, name in enumerate(problem.names):
        probe = neutral.copy()
        probe[k] = 0.5 if name not in ("net_latency_s", "launch_s") else 20.0
        if np.any(np.abs(problem.times(probe) / base - 1) > 1e-9):
            free.append(k)
        else:
            notes.append(f"{name} is not seen by these points; kept at {neutral[k]:g}")
    m = len(usable)
    if not free:
        raise ValueError("no NCCL parameter changes any of these points' times")
    if m < 2:
        raise ValueError(f"nccl calibration needs at least 2 points for 2 parameters; got {m}")
    if m < len(free):  # fewer points than parameters: keep the most telling ones
        ranked = sorted(free, key=lambda k: _PRIORITY.index(problem.names[k]))
        for k in ranked[m:]:
            notes.append(f"only {m} point(s): {problem.names[k]} not fitted (kept at "
                         f"{neutral[k]:g})")
        free = sorted(ranked[:m])
    lower = np.array([_BOUNDS[n][0] / _UNIT[n] for n in problem.names])
    upper = np.array([_BOUNDS[n][1] / _UNIT[n] for n in problem.names])

    def full(y: np.ndarray) -> np.ndarray:
        x = neutral.copy()
        x[free] = y
        return x

    sub = _SubProblem(problem, full)
    res = least_squares(sub.residuals, _start(sub, problem.names, free, neutral),
                        bounds=(lower[free], upper[free]), method="trf", loss=loss,
                        f_scale=f_scale_log)
    stderr, spread, rms = fit_uncertainty(sub, res.x, lower[free], upper[free], loss,
                                          f_scale_log)
    x = full(res.x)
    times, algos = problem.predicted(x)
    rel = np.abs(times / problem.measured - 1.0)
    values = problem.values(x)
    errors = {problem.names[k]: float(s) * _UNIT[problem.names[k]] for k, s in zip(free, stderr,
                                                                                   strict=True)}
    loose = sorted(n for n, e in errors.items() if math.isfinite(e) and e > abs(values[n]))
    if loose:
        them = "it" if len(loose) == 1 else "them"
        notes.append(f"{', '.join(loose)}: standard error above the value (these points do not "
                     f"pin {them} down; predictions away from the fitted sizes and node counts "
                     f"that lean on {them} are less certain)")
    return Calibration(
        params=ModelParams(),
        alpha_s_stderr=float("nan"),
        efficiency_stderr_by_link={},
        bandwidth_by_link_bytes_per_s={},
        num_points=m,
        fitted_sizes_bytes=tuple(sorted({r.size_bytes for r in usable})),
        held_out_sizes_bytes=split.held_out_sizes_bytes,
        median_relative_error=float(np.median(rel)),
        worst_relative_error=float(np.max(rel)),
        residual_log_rms=residual_log_rms_of(m, len(free), rms),
        parameter_log_spread=spread,
        graph=describe_graph(graph),
        fit_points=tuple(
            FitPoint(operation=r.operation, size_bytes=r.size_bytes, num_ranks=r.num_ranks,
                     num_hosts=r.num_hosts, measured_time_s=r.time_s, predicted_time_s=float(t),
                     algorithm=a)
            for r, t, a in zip(usable, times, algos, strict=True)),
        flavor="nccl",
        loss=loss,
        notes=tuple(notes),
        nccl=values,
        nccl_version=version,
        nccl_stderr=errors,
    )


def _start(sub: _SubProblem, names: Sequence[str], free: Sequence[int],
           neutral: np.ndarray) -> np.ndarray:
    """The best start of a grid over the free bandwidth scales (0.25, 0.5, 1).

    NCCL's tuner picks the algorithm and protocol per size, so near the neutral values a
    bandwidth scale can change no time at all (the picked regime does not depend on it) while a
    smaller one does: a 4-node A100 log left ``bw_inter_scale`` at 1 with no standard error
    when started there. Starting from the grid point with the least absolute log error finds
    the basin the data are in.
    """
    base = neutral[list(free)] + np.where(neutral[list(free)] == 0, 1.0, 0.0)
    bw = [j for j, k in enumerate(free) if names[k] in ("bw_intra_scale", "bw_inter_scale")]
    scale = [j for j, k in enumerate(free) if names[k] == "latency_scale"]
    launch = [j for j, k in enumerate(free) if names[k] == "launch_s"]
    # the latency split between the table's scale and the cost per call: a protocol's table
    # latency is seen at the sizes it wins only, so a start near (1, 0) keeps the scale there
    splits = [(None, None)] + ([(a, b) for a in (0.1, 0.5, 1.0) for b in (0.0, 10.0, 30.0)]
                               if scale and launch else [])
    best, best_cost = base, float(np.sum(np.abs(sub.residuals(base))))
    for combo in itertools.product((0.25, 0.5, 1.0), repeat=len(bw)):
        for a, b in splits:
            y = base.copy()
            y[bw] = combo
            if a is not None:
                y[scale], y[launch] = a, b
            cost = float(np.sum(np.abs(sub.residuals(y))))
            if cost < best_cost - 1e-12:
                best, best_cost = y, cost
    return best


def nccl_times(G: nx.DiGraph, records: Sequence[Record], calibration: Calibration
               ) -> PredictedTimes:
    """Times (and NCCL algorithm/protocol) of ``records`` under an nccl-flavor calibration."""
    problem = _NcclProblem(G, records, calibration.nccl_version or nccl.DEFAULT_VERSION)
    values = {**_NEUTRAL, **calibration.nccl}
    return problem.predicted(np.array([values[n] / _UNIT[n] for n in problem.names]))


class _SubProblem:
    """The problem over the free parameters only (for the fit and its uncertainty)."""

    def __init__(self, problem: _NcclProblem, full: Callable[[np.ndarray], np.ndarray]) -> None:
        self.problem = problem
        self.full = full
        self.measured = problem.measured

    def residuals(self, y: np.ndarray) -> np.ndarray:
        return self.problem.residuals(self.full(y))

