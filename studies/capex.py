"""Plan capex: every family at every scale, priced and timed, with a recommendation per scale.

:func:`plan_capex` builds each (family, GPU count) from one :class:`~studies.design.FabricDesign`
(the same servers for every family), evaluates it with :func:`studies.evaluate.evaluate_fabric`
(the function ``fabric compare`` uses too), and returns a :class:`CapexPlan` that
:mod:`reports` renders as HTML or JSON. :func:`recommendations` and
:func:`rail_only_comparisons` are the plan's conclusions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collectives.calibration import ModelCalibration
from collectives.names import canonical
from collectives.workload import Workload, default_workload
from fabric.catalog import Catalog, default_catalog
from fabric.cost import BillOfMaterials
from measure.calibration import Calibration
from studies.design import FabricDesign, check_options_used, design_for_family, for_study
from studies.evaluate import DEFAULT_SIZES, FabricResult, evaluate_design

__all__ = [
    "DEFAULT_FAMILIES",
    "PUBLISHED_RAIL_ONLY_REDUCTION",
    "CapexPlan",
    "MeasuredPoint",
    "RailComparison",
    "Recommendation",
    "measured_points",
    "plan_capex",
    "rail_only_comparisons",
    "recommendations",
]

DEFAULT_FAMILIES: tuple[str, ...] = ("rail-optimized", "rail-only", "clos")
#: Network cost reduction of rail-only vs rail-optimized reported by Wang et al., "Rail-only: A
#: Low-Cost High-Performance Network for Training LLMs with Trillion Parameters" (arXiv:2307.12169
#: v5, 2024, §4.1): 38-77 % lower network cost.
PUBLISHED_RAIL_ONLY_REDUCTION = (0.38, 0.77)
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


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
        """Whether ``fabric_reduction`` lies in Wang et al.'s 38-77 %."""
        low, high = PUBLISHED_RAIL_ONLY_REDUCTION
        return low <= self.fabric_reduction <= high


@dataclass(**_FROZEN)
class Recommendation:
    """The fabric recommended at one requested scale, and why."""

    requested_gpus: int
    label: str
    reason: str


@dataclass(**_FROZEN)
class CapexPlan:
    """A capex plan: the evaluated fabrics and what they were evaluated with.

    ``generated_at`` is printed by reports only when given (same input, same bytes).
    """

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


def measured_points(calibration: Calibration, label: str) -> tuple[MeasuredPoint, ...]:
    """A calibration's fit points as measured-vs-predicted points with its band."""
    out = []
    for p in calibration.fit_points:
        low, high = calibration.band(p.predicted_time_s)
        out.append(MeasuredPoint(
            label=label, collective=canonical(p.operation), size_bytes=int(p.size_bytes),
            measured_time_s=float(p.measured_time_s), predicted_time_s=float(p.predicted_time_s),
            predicted_low_s=float(low), predicted_high_s=float(high)))
    return tuple(sorted(out, key=lambda p: (p.collective, p.size_bytes)))


def plan_capex(
    gpu_counts: Sequence[int],
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    base: FabricDesign | None = None,
    catalog: Catalog | None = None,
    workload: Workload | None = None,
    calibration: ModelCalibration | None = None,
    calibration_label: str = "",
    sizes_bytes: Sequence[int] | None = None,
    collectives: Sequence[str] = ("all-reduce",),
    flavor: str = "ideal",
    title: str = "Fabric capex planning report",
    generated_at: str | None = None,
    command: str = "",
    progress: Callable[[FabricResult], None] | None = None,
) -> CapexPlan:
    """Build every family at every GPU count, evaluate each, and return a :class:`CapexPlan`.

    Parameters
    ----------
    gpu_counts : sequence of int
        Scales to plan for.
    families : sequence of str
        Family names.
    base : FabricDesign or None
        Options shared by every family (switch, GPU, GPUs per server, scale-up ...); unset
        server options take :data:`studies.design.STUDY_SERVER`. An option a family does not
        take is left out for that family.
    catalog, workload, calibration, sizes_bytes, collectives, flavor
        As :func:`studies.evaluate.evaluate_fabric` (``workload`` None: the built-in one).
    calibration_label, title, generated_at, command
        What the report prints about its inputs.
    progress : callable or None
        Called with each (family, scale)'s result.

    Raises
    ------
    ValueError
        An unknown family or collective, or a bad option. A family that cannot hold a GPU
        count is not an error: its result says why.
    """
    if not gpu_counts:
        raise ValueError("give at least one GPU count to plan for")
    if not families:
        raise ValueError("give at least one family to plan")
    cat = default_catalog() if catalog is None else catalog
    w = default_workload() if workload is None else workload
    sizes = DEFAULT_SIZES if sizes_bytes is None else tuple(int(s) for s in sizes_bytes)
    names = tuple(canonical(c) for c in collectives)
    base = base or FabricDesign(family=families[0])
    check_options_used(base, families)
    results = []
    for family in families:
        for n in gpu_counts:
            design = for_study(design_for_family(base, family, int(n), cat))
            result = evaluate_design(design, requested_gpus=int(n), catalog=cat, workload=w,
                                     collectives=names, sizes_bytes=sizes,
                                     calibration=calibration, flavor=flavor)
            results.append(result)
            if progress is not None:
                progress(result)
    measured = (measured_points(calibration, calibration_label or "calibration")
                if isinstance(calibration, Calibration) else ())
    return CapexPlan(fabrics=tuple(results), workload=w, catalog=cat, title=title,
                     measured=measured, calibration_label=calibration_label, flavor=flavor,
                     generated_at=generated_at, command=command)


def _bom(f: FabricResult) -> BillOfMaterials:
    if f.bom is None:
        raise ValueError(f"{f.label} at {f.requested_gpus} GPUs has no bill of materials")
    return f.bom


def _fabric_cost(bom: BillOfMaterials) -> float:
    c = bom.cost_by_category
    return c["switch"] + c["transceiver"] + c["cable"]


def _scaleout_switches(bom: BillOfMaterials) -> int:
    return bom.quantity("switch") - bom.quantity("switch", tier="scale-up")


def rail_only_comparisons(fabrics: Sequence[FabricResult]) -> list[RailComparison]:
    """Pair rail-only and rail-optimized results of the same GPU count and compare their cost.

    Notes
    -----
    Wang et al. (arXiv:2307.12169 v5, §4.1) report 38-77 % lower network cost and 37-75 % lower
    network power for rail-only; their price table is not published, so the reduction here is
    computed from this catalog's prices.
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
            links_rail_optimized=a.quantity("cable"), links_rail_only=b.quantity("cable"),
            fabric_reduction=1 - _fabric_cost(b) / _fabric_cost(a) if _fabric_cost(a) else 0.0,
            network_reduction=1 - b.network_cost_usd / a.network_cost_usd
            if a.network_cost_usd else 0.0,
            power_reduction=1 - b.network_power_w / a.network_power_w if a.network_power_w else 0.0,
        ))
    return out


def recommendations(plan: CapexPlan) -> list[Recommendation]:
    """Per requested scale, the fabric with the lowest cost per useful GPU-hour (or, without a
    workload result, the lowest network cost per GPU), with the numbers that decided it."""
    out = []
    for n in sorted({f.requested_gpus for f in plan.fabrics}):
        group = [f for f in plan.fabrics if f.requested_gpus == n and f.bom is not None]
        if not group:
            continue
        timed = [(f, f.workload) for f in group if f.workload is not None]
        if timed:
            ranked = sorted(timed, key=lambda fw: (fw[1].cost.cost_per_useful_gpu_hour_usd,
                                                   fw[0].label))
            best, wb = ranked[0]
            reason = (f"lowest cost per useful GPU-hour: {wb.cost.cost_per_useful_gpu_hour_usd:.3f}"
                      f" USD at {100 * wb.step.gpu_utilization:.1f} % GPU utilization; network "
                      f"{100 * _bom(best).network_cost_share:.1f} % of capex")
            if len(ranked) > 1:
                second, ws = ranked[1]
                gap = (ws.cost.cost_per_useful_gpu_hour_usd
                       / wb.cost.cost_per_useful_gpu_hour_usd - 1)
                reason += (f"; next: {second.label} at {ws.cost.cost_per_useful_gpu_hour_usd:.3f}"
                           f" USD ({100 * gap:.1f} % more), utilization "
                           f"{100 * ws.step.gpu_utilization:.1f} %")
        else:
            best = sorted(group, key=lambda f: (_bom(f).network_cost_per_gpu_usd, f.label))[0]
            reason = (f"lowest network cost per GPU ({_bom(best).network_cost_per_gpu_usd:,.0f} "
                      f"USD); no workload result to compare utilization")
        out.append(Recommendation(requested_gpus=n, label=best.label, reason=reason))
    return out
