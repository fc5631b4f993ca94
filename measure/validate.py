"""Check a calibration on measured points: predicted vs measured, per point and in summary.

:func:`validate` predicts every usable record with a :class:`~measure.calibration.Calibration`
of either flavor (its band included), marks which points the calibration was fitted on, and
reports the median / worst relative error over all points, the held-out ones and the fitted ones
(:class:`ValidationReport` of :class:`ValidationPoint`). The fit is :mod:`measure.calibrate`,
holdout specs :mod:`measure.holdout`, the calibration file :mod:`measure.calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from collectives.predict import link_classes_of
from collectives.results import Prediction
from fabric.links import SCALEOUT_CLASSES, SCALEUP_CLASSES
from measure.calibrate_nccl import TUNED
from measure.calibration import Calibration, describe_graph
from measure.fit_data import glitch_notes, select_records, usable_records
from measure.generic_fabric import generic_fabric_for_records
from measure.holdout import Holdout, parse_holdout
from measure.predict_records import predict_records
from measure.records import Record, check_records
from topologies.generic import GENERIC_TOPOLOGY

__all__ = ["ValidationPoint", "ValidationReport", "validate", "scope_notes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationPoint:
    """Predicted vs measured for one point; ``fitted`` if the calibration used this measurement."""

    operation: str
    size_bytes: int
    num_ranks: int
    num_hosts: int
    measured_time_s: float
    predicted_time_s: float
    time_low_s: float
    time_high_s: float
    algorithm: str
    fitted: bool

    @property
    def relative_error(self) -> float:
        """predicted / measured - 1 (signed)."""
        return self.predicted_time_s / self.measured_time_s - 1.0

    @property
    def within_band(self) -> bool:
        """Whether the measured time lies inside the calibration's band."""
        return self.time_low_s <= self.measured_time_s <= self.time_high_s


def _stats(points: Sequence[ValidationPoint]) -> tuple[float, float]:
    if not points:
        return float("nan"), float("nan")
    errors = np.abs([q.relative_error for q in points])
    return float(np.median(errors)), float(np.max(errors))


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Per-point comparison and error summaries (all points, held-out only, fitted only).

    Errors are ``|predicted / measured - 1|``; a summary over no points is NaN.
    """

    points: tuple[ValidationPoint, ...]
    graph: dict[str, Any]
    notes: tuple[str, ...] = ()
    median_relative_error: float = field(init=False)
    worst_relative_error: float = field(init=False)
    held_out_median_relative_error: float = field(init=False)
    held_out_worst_relative_error: float = field(init=False)
    fitted_median_relative_error: float = field(init=False)
    fitted_worst_relative_error: float = field(init=False)
    fraction_within_band: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a validation report needs at least one point")
        held = [q for q in self.points if not q.fitted]
        fitted = [q for q in self.points if q.fitted]
        for prefix, group in (("", self.points), ("held_out_", held), ("fitted_", fitted)):
            median, worst = _stats(group)
            object.__setattr__(self, f"{prefix}median_relative_error", median)
            object.__setattr__(self, f"{prefix}worst_relative_error", worst)
        inside = sum(q.within_band for q in self.points) / len(self.points)
        object.__setattr__(self, "fraction_within_band", inside)

    @property
    def num_held_out(self) -> int:
        """Points the calibration did not use."""
        return sum(not q.fitted for q in self.points)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, each point with its relative error and band verdict."""
        out = {k: getattr(self, k) for k in (
            "graph", "median_relative_error", "worst_relative_error",
            "held_out_median_relative_error", "held_out_worst_relative_error",
            "fitted_median_relative_error", "fitted_worst_relative_error",
            "fraction_within_band", "num_held_out")}
        out["notes"] = list(self.notes)
        out["points"] = [{**asdict(q), "relative_error": q.relative_error,
                          "within_band": q.within_band} for q in self.points]
        return out


def _fit_point_keys(cal: Calibration) -> set[tuple[Any, ...]]:
    return {(p.operation, p.size_bytes, p.num_ranks, p.num_hosts, p.measured_time_s)
            for p in cal.fit_points}


def _graph_for(cal: Calibration, records: Sequence[Record]) -> nx.DiGraph:
    if cal.graph.get("topology") != GENERIC_TOPOLOGY:
        raise ValueError(f"the calibration was fitted on a {cal.graph.get('topology')!r} fabric; "
                         f"pass that fabric (G / --topology) to validate on it")
    return generic_fabric_for_records(records, cal.graph.get("params", {}))


def scope_notes(calibration: Calibration, preds: Sequence[Prediction]) -> list[str]:
    """What ``preds`` (made with ``calibration``) ask of it that its fit points never showed:
    link classes it never measured, rank counts outside the fitted ones, algorithms no fit
    point ran; each widens the band (:meth:`~measure.calibration.Calibration.scoped_band`)."""
    notes = []
    unmeasured = sorted({c for p in preds
                         for c in calibration.unmeasured_link_classes(link_classes_of(p))})
    if unmeasured:
        notes.append(f"link class(es) {', '.join(unmeasured)} never measured by this "
                     f"calibration: their default bandwidth was used and the band is wider")
    outside = sorted({p.num_ranks for p in preds} - set(calibration.fitted_num_ranks))
    if outside and calibration.fitted_num_ranks:
        notes.append(f"rank count(s) {', '.join(map(str, outside))} outside the fitted "
                     f"{', '.join(map(str, calibration.fitted_num_ranks))}: the band is wider")
    unseen = sorted({f"{p.algorithm_label} ({p.collective})" for p in preds
                     if calibration.unseen_algorithm(p.collective, p.algorithm_label)})
    if unseen:
        notes.append(f"algorithm(s) {', '.join(unseen)} never run by the fit points: their "
                     f"latency and bandwidth were not measured and the band is wider")
    if calibration.chosen_fit == "naive" and outside:
        notes.append("the naive alpha-beta fit does not carry to other rank counts: the model "
                     "with its regimes predicts those")
    return notes


def validate(records: Sequence[Record], calibration: Calibration, G: nx.DiGraph | None = None, *,
             holdout: str | Holdout | None = None,
             in_place: bool | None = False) -> ValidationReport:
    """Predict every usable record with ``calibration`` and compare with the measurement.

    Parameters
    ----------
    records
        Measurements (filtered as :func:`~measure.fit_data.select_records`).
    calibration
        From :func:`~measure.calibrate.calibrate` or
        :func:`~measure.calibration.load_calibration`.
    G
        The fabric; None rebuilds the calibration's generic fabric (same bandwidths), grown to
        hold these records' hosts if needed.
    holdout
        If given, only the sizes this spec holds out are compared (e.g. the spec given to
        :func:`~measure.calibrate.calibrate`). Either way a point is marked ``fitted`` only if
        the calibration used that very measurement (same operation, size, ranks, hosts and time).
    in_place
        As in :func:`~measure.fit_data.select_records`.

    Raises
    ------
    ValueError
        No usable record, a fabric that cannot hold the records, or a calibration fitted on
        another topology with ``G`` None.
    """
    records = check_records(records)
    if not isinstance(calibration, Calibration):
        raise TypeError(f"calibration must be a Calibration, got a {type(calibration).__name__}"
                        f" (a file name? read it with measure.calibration.load_calibration)")
    if G is not None and not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a fabric graph (networkx.DiGraph) or None, got a "
                        f"{type(G).__name__}")
    chosen = select_records(records, in_place=in_place)
    if not chosen:
        raise ValueError(f"no usable records among {len(records)} to validate")
    split = parse_holdout(holdout).split([r.size_bytes for r in chosen])
    if holdout is not None and parse_holdout(holdout).kind != "none":
        keep = set(split.held_out_sizes_bytes)
        chosen = [r for r in chosen if r.size_bytes in keep]
        if not chosen:
            raise ValueError(f"no point to validate: holdout {holdout!r} holds out none of "
                             f"these records' sizes")
    graph = _graph_for(calibration, chosen) if G is None else G
    found = usable_records(graph, chosen)
    usable = list(found.records)
    notes = glitch_notes(records, in_place=in_place) + list(found.notes)
    if not usable:
        raise ValueError("no point to validate: " + "; ".join(notes))
    present = {str(d["link"]) for _, _, d in graph.edges(data=True)}
    classes = set(SCALEUP_CLASSES) | set(SCALEOUT_CLASSES)  # apply by class (fabric.links)
    absent = sorted(set(calibration.params.efficiency_by_link) - present - classes)
    if absent:
        notes.append(f"this fabric has no {', '.join(absent)} links, so their fitted efficiency "
                     f"does not apply (its links: {', '.join(sorted(present))})")
    if calibration.flavor == "nccl":
        left = [r for r in usable if r.operation not in TUNED]
        if left:
            notes.append(f"left out {len(left)} point(s) outside NCCL's tuner (all-to-all, "
                         f"send-recv)")
        usable = [r for r in usable if r.operation in TUNED]
        if not usable:
            raise ValueError("no point of a tuned collective to validate the nccl flavor on")
    preds = predict_records(graph, usable, calibration)
    notes += scope_notes(calibration, preds)
    fitted = _fit_point_keys(calibration)
    points = []
    for r, p in zip(usable, preds, strict=True):
        key = (r.operation, r.size_bytes, r.num_ranks, r.num_hosts, r.time_s)
        points.append(ValidationPoint(
            operation=r.operation, size_bytes=r.size_bytes, num_ranks=r.num_ranks,
            num_hosts=r.num_hosts, measured_time_s=r.time_s, predicted_time_s=p.time_s,
            time_low_s=p.time_low_s, time_high_s=p.time_high_s, algorithm=p.algorithm_label,
            fitted=key in fitted))
    spec = holdout if isinstance(holdout, str) else "this holdout"
    if holdout is not None and points and all(q.fitted for q in points):
        notes.append(f"every point {spec} selects was a fit point of this calibration, so none "
                     f"is held out (it was fitted with another --holdout): calibrate with "
                     f"--holdout {spec} to test it on sizes it has not seen")
    elif holdout is not None and any(q.fitted for q in points):
        fit = sum(q.fitted for q in points)
        notes.append(f"{fit} of the {len(points)} points {spec} selects were fit points of this "
                     f"calibration (it was fitted with another --holdout): their errors are not "
                     f"held-out errors (each point says 'fitted')")
    return ValidationReport(points=tuple(points), graph=describe_graph(graph), notes=tuple(notes))
