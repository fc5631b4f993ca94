"""The HTML planning report: capex, power, collective times and utilization per dollar.

:func:`evaluate_fabric` turns one fabric graph into a :class:`FabricResult` (bill of materials,
predicted collective curves, workload step time and cost); :func:`render_report` writes a
:class:`ReportInput` of those results as one self-contained HTML file.

The file works offline: plotly.js is embedded inline from plotly's offline bundle (no CDN), and
the bytes depend only on the input (fixed element ids, sorted JSON keys, no timestamp unless
``generated_at`` is given). Every string is HTML-escaped; JSON embedded in ``<script>`` has
``<``, ``>`` and ``&`` written as ``\\u003c``/``\\u003e``/``\\u0026`` so no text can close the
script element or open a comment.

>>> from fabric.catalog import default_catalog
>>> from collectives.workload import default_workload
>>> plan = ReportInput(fabrics=(), workload=default_workload(), catalog=default_catalog())
>>> page = render_report(plan)
>>> page.startswith("<!DOCTYPE html>"), "<script src" in page, page == render_report(plan)
(True, False, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from collectives.names import canonical
from collectives.workload import Workload, WorkloadResult, default_workload, evaluate
from fabric.catalog import Catalog, default_catalog
from fabric.cost import BillOfMaterials, bill_of_materials
from fabric.errors import InfeasibleError
from reports import figures
from reports.template import page

__all__ = [
    "DEFAULT_SIZES",
    "PUBLISHED_RAIL_ONLY_REDUCTION",
    "CollectiveCurve",
    "FabricResult",
    "MeasuredPoint",
    "RailComparison",
    "Recommendation",
    "ReportInput",
    "evaluate_fabric",
    "failed_fabric",
    "rail_only_comparisons",
    "recommendations",
    "report_data",
    "render_report",
]

#: Default message sizes of the collective curves: 1 KiB to 4 GiB, x4.
DEFAULT_SIZES: tuple[int, ...] = tuple(2**k for k in range(10, 33, 2))
#: Network cost reduction of rail-only vs rail-optimized, Wang et al. v5 (capex §4.1 [V]).
PUBLISHED_RAIL_ONLY_REDUCTION = (0.38, 0.77)
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_FROZEN)
class CollectiveCurve:
    """Predicted time and bus bandwidth of one collective over a range of sizes."""

    collective: str
    num_ranks: int
    sizes_bytes: tuple[int, ...]
    time_s: tuple[float, ...]
    busbw_bytes_per_s: tuple[float, ...]
    algorithm: tuple[str, ...]


@dataclass(**_FROZEN)
class FabricResult:
    """Everything the report shows about one fabric at one scale.

    ``error`` is set (and ``bom`` is None) when the family cannot be built at this scale.
    """

    label: str
    family: str
    requested_gpus: int
    num_gpus: int
    params: Mapping[str, Any] = field(default_factory=dict)
    bom: BillOfMaterials | None = None
    curves: tuple[CollectiveCurve, ...] = ()
    workload: WorkloadResult | None = None
    error: str = ""
    notes: tuple[str, ...] = ()


@dataclass(**_FROZEN)
class MeasuredPoint:
    """One measured time next to the model's prediction (and its calibrated band)."""

    label: str
    collective: str
    size_bytes: int
    measured_time_s: float
    predicted_time_s: float
    predicted_low_s: float
    predicted_high_s: float


@dataclass(**_FROZEN)
class RailComparison:
    """Rail-only vs rail-optimized at one scale: what is saved, and on what it depends.

    ``fabric_reduction`` counts switches, optics and cables; ``network_reduction`` adds the NICs
    (the same in both designs); ``power_reduction`` is the network power's.
    """

    num_gpus: int
    hb_domain_gpus: int
    switches_rail_optimized: int
    switches_rail_only: int
    links_rail_optimized: int
    links_rail_only: int
    fabric_reduction: float
    network_reduction: float
    power_reduction: float

    @property
    def in_published_range(self) -> bool:
        """Whether ``fabric_reduction`` lies in Wang et al.'s 38-77 % (capex §4.1)."""
        low, high = PUBLISHED_RAIL_ONLY_REDUCTION
        return low <= self.fabric_reduction <= high


@dataclass(**_FROZEN)
class Recommendation:
    """The fabric recommended at one requested scale, and why."""

    requested_gpus: int
    label: str
    reason: str


@dataclass(**_FROZEN)
class ReportInput:
    """What :func:`render_report` draws. ``generated_at`` is printed only when given."""

    fabrics: tuple[FabricResult, ...]
    workload: Workload
    catalog: Catalog
    title: str = "Fabric capex planning report"
    measured: tuple[MeasuredPoint, ...] = ()
    calibration_label: str = ""
    flavor: str = "ideal"
    generated_at: str | None = None
    command: str = ""
    notes: tuple[str, ...] = ()


def failed_fabric(family: str, requested_gpus: int, error: str, *,
                  label: str | None = None) -> FabricResult:
    """A :class:`FabricResult` for a family that cannot be built at ``requested_gpus``."""
    return FabricResult(label=label or family, family=family, requested_gpus=requested_gpus,
                        num_gpus=0,
                        error=str(error).splitlines()[0] if str(error) else "infeasible")


def evaluate_fabric(
    G: nx.DiGraph,
    *,
    family: str | None = None,
    requested_gpus: int | None = None,
    label: str | None = None,
    catalog: Catalog | None = None,
    workload: Workload | None = None,
    collectives: Sequence[str] = ("all-reduce",),
    sizes_bytes: Sequence[int] = DEFAULT_SIZES,
    calibration: Any = None,
    flavor: str = "ideal",
    bom_options: Mapping[str, Any] | None = None,
) -> FabricResult:
    """Price ``G``, predict its collective curves over all its GPUs, and time the workload.

    Parameters
    ----------
    G : nx.DiGraph
        A built fabric.
    family, requested_gpus, label
        How the report names it (defaults: ``G.graph["topology"]``, its GPU count, the family).
    catalog : Catalog or None
        Prices and GPU peak FLOP/s; None for the built-in catalog.
    workload : Workload or None
        None for :func:`collectives.workload.default_workload`.
    collectives, sizes_bytes
        Curves to predict (nccl-tests size meaning).
    calibration, flavor
        Passed to :func:`collectives.model.predict_many`.
    bom_options
        Keyword arguments of :func:`fabric.cost.bill_of_materials`.

    Returns
    -------
    FabricResult
        With ``workload`` None and a note when the workload's layout does not fit the fabric.

    Raises
    ------
    ValueError
        A catalog entry the BOM needs is missing or unpriced, or a bad collective name.
    """
    from collectives.model import predict_many

    cat = default_catalog() if catalog is None else catalog
    w = default_workload() if workload is None else workload
    family = family or str(G.graph.get("topology", "custom"))
    bom = bill_of_materials(G, catalog=cat, **dict(bom_options or {}))
    curves = []
    for name in collectives:
        preds = predict_many(G, canonical(name), [int(s) for s in sizes_bytes], flavor=flavor,
                             calibration=calibration)
        curves.append(CollectiveCurve(
            collective=canonical(name), num_ranks=preds[0].num_ranks if preds else 0,
            sizes_bytes=tuple(int(p.size_bytes) for p in preds),
            time_s=tuple(float(p.time_s) for p in preds),
            busbw_bytes_per_s=tuple(float(p.busbw_bytes_per_s) for p in preds),
            algorithm=tuple(str(p.algorithm) for p in preds)))
    notes: list[str] = []
    try:
        result: WorkloadResult | None = evaluate(
            G, w, capex_usd=bom.cost_usd, power_w=bom.power_w, catalog=cat,
            calibration=calibration, flavor=flavor)
        notes.extend(result.step.notes)  # type: ignore[union-attr]
    except InfeasibleError as err:
        result = None
        notes.append(f"workload not evaluated: {err}")
    return FabricResult(
        label=label or family, family=family,
        requested_gpus=bom.num_gpus if requested_gpus is None else int(requested_gpus),
        num_gpus=bom.num_gpus, params=dict(G.graph.get("params", {})), bom=bom,
        curves=tuple(curves), workload=result, notes=tuple(notes))


def _bom(f: FabricResult) -> BillOfMaterials:
    if f.bom is None:
        raise ValueError(f"{f.label} at {f.requested_gpus} GPUs has no bill of materials")
    return f.bom


def _result(f: FabricResult) -> WorkloadResult:
    if f.workload is None:
        raise ValueError(f"{f.label} at {f.requested_gpus} GPUs has no workload result")
    return f.workload


def _fabric_cost(bom: BillOfMaterials) -> float:
    c = bom.cost_by_category
    return c["switch"] + c["transceiver"] + c["cable"]


def _scaleout_switches(bom: BillOfMaterials) -> int:
    return bom.quantity("switch") - bom.quantity("switch", tier="scale-up")


def _cables(bom: BillOfMaterials) -> int:
    return bom.quantity("cable")


def rail_only_comparisons(fabrics: Sequence[FabricResult]) -> list[RailComparison]:
    """Pair rail-only and rail-optimized results of the same GPU count and compare their cost.

    Notes
    -----
    Wang et al. report 38-77 % lower network cost and 37-75 % lower network power for rail-only
    (capex §4.1 [V]); their price table was not retrieved (capex §4.2), so the reduction here is
    computed from this catalog's prices, following capex §4.3's method.
    """
    by_key: dict[tuple[str, int], FabricResult] = {}
    for f in fabrics:
        if f.bom is not None and f.family in ("rail-only", "rail-optimized"):
            by_key.setdefault((f.family, f.num_gpus), f)
    out = []
    for (family, n), ro in sorted(by_key.items()):
        if family != "rail-optimized" or ("rail-only", n) not in by_key:
            continue
        a, b = _bom(ro), _bom(by_key[("rail-only", n)])
        hb = int(ro.params.get("gpus_per_node", 0) or 0)
        out.append(RailComparison(
            num_gpus=n, hb_domain_gpus=hb,
            switches_rail_optimized=_scaleout_switches(a), switches_rail_only=_scaleout_switches(b),
            links_rail_optimized=_cables(a), links_rail_only=_cables(b),
            fabric_reduction=1 - _fabric_cost(b) / _fabric_cost(a) if _fabric_cost(a) else 0.0,
            network_reduction=1 - b.network_cost_usd / a.network_cost_usd
            if a.network_cost_usd else 0.0,
            power_reduction=1 - b.network_power_w / a.network_power_w if a.network_power_w else 0.0,
        ))
    return out


def recommendations(plan: ReportInput) -> list[Recommendation]:
    """Per requested scale, the fabric with the lowest cost per useful GPU-hour (or, without a
    workload result, the lowest network cost per GPU), with the numbers that decided it."""
    scales = sorted({f.requested_gpus for f in plan.fabrics})
    out = []
    for n in scales:
        group = [f for f in plan.fabrics if f.requested_gpus == n and f.bom is not None]
        if not group:
            continue
        timed = [f for f in group if f.workload is not None]
        if timed:
            ranked = sorted(timed, key=lambda f: (
                _result(f).cost.cost_per_useful_gpu_hour_usd, f.label))
            best = ranked[0]
            wb = _result(best)
            reason = (f"lowest cost per useful GPU-hour: {wb.cost.cost_per_useful_gpu_hour_usd:.3f}"
                      f" USD at {100 * wb.step.gpu_utilization:.1f} % GPU utilization; network "
                      f"{100 * _bom(best).network_cost_share:.1f} % of capex")
            if len(ranked) > 1:
                second = ranked[1]
                ws = _result(second)
                gap = (ws.cost.cost_per_useful_gpu_hour_usd
                       / wb.cost.cost_per_useful_gpu_hour_usd - 1)
                reason += (f"; next: {second.label} at {ws.cost.cost_per_useful_gpu_hour_usd:.3f}"
                           f" USD ({100 * gap:.1f} % more), utilization "
                           f"{100 * ws.step.gpu_utilization:.1f} %")
        else:
            ranked = sorted(group, key=lambda f: (_bom(f).network_cost_per_gpu_usd, f.label))
            best = ranked[0]
            reason = (f"lowest network cost per GPU ({_bom(best).network_cost_per_gpu_usd:,.0f} "
                      f"USD); no workload result to compare utilization")
        out.append(Recommendation(requested_gpus=n, label=best.label, reason=reason))
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def report_data(plan: ReportInput) -> dict[str, Any]:
    """The report's numbers as plain JSON data (what ``fabric report --json`` prints)."""
    fabrics = []
    for f in plan.fabrics:
        entry: dict[str, Any] = {
            "label": f.label, "family": f.family, "requested_gpus": f.requested_gpus,
            "num_gpus": f.num_gpus, "params": dict(f.params), "error": f.error,
            "notes": list(f.notes),
        }
        if f.bom is not None:
            entry["bom"] = f.bom.as_dict()
        entry["curves"] = [dataclasses.asdict(c) for c in f.curves]
        if f.workload is not None:
            step = dataclasses.asdict(f.workload.step)
            step["communication_exposed_time_s"] = f.workload.step.communication_exposed_time_s
            entry["step"] = step
            entry["cost"] = dataclasses.asdict(f.workload.cost)
        fabrics.append(entry)
    comparisons = []
    for c in rail_only_comparisons(plan.fabrics):
        d = dataclasses.asdict(c)
        d["in_published_range"] = c.in_published_range
        comparisons.append(d)
    return _finite({
        "title": plan.title, "flavor": plan.flavor, "catalog_version": plan.catalog.version,
        "workload": dataclasses.asdict(plan.workload), "fabrics": fabrics,
        "recommendations": [dataclasses.asdict(r) for r in recommendations(plan)],
        "rail_only_comparisons": comparisons,
        "published_rail_only_reduction": list(PUBLISHED_RAIL_ONLY_REDUCTION),
        "measured": [dataclasses.asdict(p) for p in plan.measured],
    })


def render_report(plan: ReportInput) -> str:
    """Render ``plan`` as one self-contained, deterministic HTML page.

    Parameters
    ----------
    plan : ReportInput

    Returns
    -------
    str
        The HTML text (UTF-8 when written). Figures: capex, power, collective time and busbw,
        utilization per dollar, and measured vs predicted when ``plan.measured`` is non-empty.
    """
    shown = [f for f in plan.fabrics if f.bom is not None]
    figs: list[tuple[str, dict[str, Any]]] = []
    if shown:
        figs.append(("fig-capex", figures.capex_figure(shown)))
        figs.append(("fig-power", figures.power_figure(shown)))
    if any(f.curves for f in shown):
        figs.append(("fig-collective-time", figures.collective_time_figure(shown)))
        figs.append(("fig-collective-busbw", figures.collective_busbw_figure(shown)))
    if any(f.workload is not None for f in shown):
        figs.append(("fig-utilization", figures.utilization_figure(shown)))
    if plan.measured:
        figs.append(("fig-measured", figures.measured_figure(plan.measured)))
    return page(plan, dict(figs), recommendations(plan), rail_only_comparisons(plan.fabrics))
