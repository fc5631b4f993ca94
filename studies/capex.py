"""Plan capex: every family at every scale, priced and timed, with a recommendation per scale.

:func:`plan_capex` builds each (family, GPU count) from one :class:`~studies.design.FabricDesign`
(the same servers for every family), evaluates it with :func:`studies.evaluate.evaluate_fabric`
(the function ``fabric compare`` uses too), and returns a :class:`CapexPlan` that
:mod:`reports` renders as HTML or JSON. :func:`recommendations` and
:func:`rail_only_comparisons` are the plan's conclusions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import topologies
from collectives.calibration import ModelCalibration
from collectives.names import canonical
from collectives.workload import Workload, WorkloadResult, default_workload, evaluate
from fabric.catalog import Catalog, default_catalog
from fabric.cost import BillOfMaterials, bill_of_materials
from fabric.errors import InfeasibleError
from measure.calibration import Calibration
from studies.design import (
    FabricDesign,
    build_fabric,
    check_options_used,
    design_for_family,
    design_label,
    for_study,
    is_spec_path,
)
from studies.evaluate import DEFAULT_SIZES, FabricResult, evaluate_fabric, failed_fabric, first_line
from studies.sensitivity import (
    PRICE_FACTORS,
    OversubscriptionPoint,
    oversubscription_sweep,
    repriced_cost,
)
from studies.single_hop_claim import ClaimRow, claim_from_results

__all__ = [
    "DEFAULT_FAMILIES",
    "PUBLISHED_RAIL_ONLY_REDUCTION",
    "SENSITIVITY_MAX_GPUS",
    "CapexPlan",
    "CostPoint",
    "MeasuredPoint",
    "PriceScenario",
    "RailComparison",
    "Recommendation",
    "StepPart",
    "WorkloadRun",
    "cost_vs_scale",
    "default_report_workloads",
    "measured_points",
    "moe_workload",
    "plan_capex",
    "price_scenarios",
    "rail_only_comparisons",
    "recommendations",
    "scale_ladder",
    "step_breakdown",
]

DEFAULT_FAMILIES: tuple[str, ...] = ("rail-optimized", "rail-only", "clos")
#: Network cost reduction of rail-only vs rail-optimized reported by Wang et al., "Rail-only: A
#: Low-Cost High-Performance Network for Training LLMs with Trillion Parameters" (arXiv:2307.12169
#: v5, 2024, abstract): 38-77 % lower network cost.
PUBLISHED_RAIL_ONLY_REDUCTION = (0.38, 0.77)
#: The oversubscription sweep runs at the largest planned count up to this many GPUs (each
#: ratio is a fabric built and timed again).
SENSITIVITY_MAX_GPUS = 16384
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
class WorkloadRun:
    """One workload on every fabric of a plan: ``results`` is aligned with ``plan.fabrics``
    (None where the fabric was not built or priced, or the workload's layout does not fit)."""

    workload: Workload
    results: tuple[WorkloadResult | None, ...]
    errors: tuple[str, ...] = ()  # why a result is None, aligned with ``results`` when given


@dataclass(**_FROZEN)
class CostPoint:
    """Capex and power per GPU of one family at one scale (cost-vs-scale lines)."""

    family: str
    label: str
    requested_gpus: int
    num_gpus: int
    network_cost_per_gpu_usd: float
    cost_per_gpu_usd: float
    network_power_per_gpu_w: float
    error: str = ""


@dataclass(**_FROZEN)
class StepPart:
    """One term of a training step: compute, pipeline bubble or an exposed collective."""

    name: str
    collective: str
    time_s: float


@dataclass(**_FROZEN)
class PriceScenario:
    """Cost per useful GPU-hour of one fabric and workload with prices moved +-20 %.

    ``network_low_usd`` / ``network_high_usd``: switches, optics, cables and NICs at the low and
    high factor; ``servers_low_usd`` / ``servers_high_usd``: servers and GPUs likewise.
    """

    label: str
    requested_gpus: int
    workload_name: str
    base_usd: float
    network_low_usd: float
    network_high_usd: float
    servers_low_usd: float
    servers_high_usd: float
    factors: tuple[float, float] = PRICE_FACTORS


@dataclass(**_FROZEN)
class CapexPlan:
    """A capex plan: the evaluated fabrics and what they were evaluated with.

    ``workload`` is the first workload (its results are ``FabricResult.workload``); ``runs``
    holds every workload's results (empty: only ``workload``'s, see :attr:`all_runs`).
    ``cost_curve`` and ``oversubscription`` are the cost-vs-scale and oversubscription studies.
    ``generated_at`` is printed by reports only when given (same input, same bytes).
    """

    fabrics: tuple[FabricResult, ...]
    workload: Workload
    catalog: Catalog
    runs: tuple[WorkloadRun, ...] = ()
    cost_curve: tuple[CostPoint, ...] = ()
    oversubscription: tuple[OversubscriptionPoint, ...] = ()
    title: str = "Fabric capex planning report"
    measured: tuple[MeasuredPoint, ...] = ()
    calibration_label: str = ""
    flavor: str = "ideal"
    generated_at: str | None = None
    command: str = ""
    notes: tuple[str, ...] = ()
    single_hop_claim: tuple[ClaimRow, ...] = ()

    @property
    def all_runs(self) -> tuple[WorkloadRun, ...]:
        """Every workload's results; ``runs`` when given, else ``workload``'s from the fabrics."""
        if self.runs:
            return self.runs
        return (WorkloadRun(workload=self.workload,
                            results=tuple(f.workload for f in self.fabrics)),)


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


def moe_workload() -> Workload:
    """The report's MoE workload: DeepSeek-V3-like sizes, one routed expert per GPU.

    37B parameters active per token (671B in all), 61 layers (58 MoE) of width 7168, 8 experts
    per token out of 256, each of the 256 GPUs of an expert-parallel group holding one
    (DeepSeek-AI, "DeepSeek-V3 Technical Report", arXiv:2412.19437 v2, 2025, §2.1 and §4.2).
    The expert-parallel group spans 32 servers, so its dispatch and combine all-to-alls cross
    leaves: this is the traffic where fabrics (and oversubscription) differ. Tensor and pipeline
    parallel degree 1, ZeRO-style sharded data parallel; MFU 0.30 and the 4,096-sequence batch
    are assumptions. Needs a multiple of 256 GPUs.
    """
    return Workload(
        name="MoE 37B active / 671B (DeepSeek-V3-like), EP 256",
        num_params=37.0e9, gradient_params=37.0e9, num_layers=61, hidden_size=7168,
        sequence_length=4096, global_batch_size=4096, micro_batch_size=1, tensor_parallel=1,
        pipeline_parallel=1, expert_parallel=256, moe_layers=58, moe_top_k=8, mfu=0.30,
        dp_collective="reduce-scatter+all-gather", dp_overlap_fraction=0.7,
        source=("DeepSeek-V3 sizes (arXiv:2412.19437 v2, 2025, §2.1, §4.2): 37B active, 61 "
                "layers, width 7168, 256 routed experts, top-8; MFU 0.30, batch 4,096 x 4,096 "
                "tokens and one expert per GPU are assumptions"))


def default_report_workloads() -> tuple[Workload, Workload]:
    """What ``fabric report`` times without ``--workload``: a dense and an MoE step.

    The dense one is :func:`collectives.workload.default_workload` (a 70B model, tensor
    parallel 8 inside the server, data parallel over the rest), the one ``fabric compare``
    uses, so the two commands agree; the MoE one (:func:`moe_workload`) adds a wide
    expert-parallel all-to-all.
    """
    return default_workload(), moe_workload()


def scale_ladder(gpu_counts: Sequence[int], *, top_gpus: int = 16384) -> tuple[int, ...]:
    """GPU counts of the cost-vs-scale lines: the asked counts and the powers of two between
    the smallest and the larger of the largest asked and ``min(2 x largest, top_gpus)`` (one
    doubling beyond the plan: what growing would cost).

    >>> scale_ladder([1024, 4096])
    (1024, 2048, 4096, 8192)
    >>> scale_ladder([64, 128])
    (64, 128, 256)
    """
    counts = sorted({int(n) for n in gpu_counts})
    if not counts:
        return ()
    low, high = counts[0], max(counts[-1], min(2 * counts[-1], top_gpus))
    k = max(0, math.ceil(math.log2(low)))
    ladder = set(counts)
    while 2**k <= high:
        ladder.add(2**k)
        k += 1
    return tuple(sorted(ladder))


def cost_vs_scale(
    gpu_counts: Sequence[int],
    families: Sequence[str],
    *,
    base: FabricDesign,
    catalog: Catalog,
    known: Sequence[FabricResult] = (),
) -> tuple[CostPoint, ...]:
    """Build and price (no timing) every family at every count: capex per GPU vs scale.

    ``known`` results (a plan's own fabrics) are reused instead of built again. A family that
    cannot hold a count gives a point with ``error`` set.
    """
    done = {(f.label, f.requested_gpus): f for f in known}
    out = []
    for family in families:
        for n in gpu_counts:
            design = for_study(design_for_family(base, family, int(n), catalog))
            label = design_label(design)
            old = done.get((label, int(n)))
            try:
                if old is not None and old.error:
                    raise InfeasibleError(old.error)
                bom = (old.bom if old is not None and old.bom is not None else
                       bill_of_materials(build_fabric(design), catalog=catalog))
            except (InfeasibleError, ValueError) as err:
                out.append(CostPoint(family=family, label=label, requested_gpus=int(n),
                                     num_gpus=0, network_cost_per_gpu_usd=math.nan,
                                     cost_per_gpu_usd=math.nan, network_power_per_gpu_w=math.nan,
                                     error=first_line(err)))
                continue
            out.append(CostPoint(family=family, label=label, requested_gpus=int(n),
                                 num_gpus=bom.num_gpus,
                                 network_cost_per_gpu_usd=bom.network_cost_per_gpu_usd,
                                 cost_per_gpu_usd=bom.cost_usd / bom.num_gpus,
                                 network_power_per_gpu_w=bom.network_power_per_gpu_w))
    return tuple(out)


def step_breakdown(result: WorkloadResult, workload: Workload) -> tuple[StepPart, ...]:
    """The step's terms: compute, pipeline bubble, and exposed communication per collective.

    The parts add up to ``result.step.step_time_s``.

    >>> from collectives.workload import Parallelism, StepTime, cost_performance
    >>> lay = Parallelism(num_gpus=8, data_parallel=1, tensor_parallel=8, pipeline_parallel=1,
    ...                   expert_parallel=1, num_microbatches=1, global_batch_size=1)
    >>> st = StepTime(topology="t", num_gpus=8, parallelism=lay, compute_time_s=1.0,
    ...               bubble_time_s=0, dp_time_s=0.4, dp_exposed_time_s=0.2, tp_time_s=0.3,
    ...               ep_time_s=0, step_time_s=1.5, gpu_utilization=2 / 3, tokens_per_s=1.0)
    >>> r = WorkloadResult(step=st, cost=cost_performance(1.0, 1.0, st))
    >>> parts = step_breakdown(r, default_workload())
    >>> [p.name for p in parts if p.time_s > 0], sum(p.time_s for p in parts)
    (['compute', 'DP gradients (exposed)', 'TP all-reduce'], 1.5)
    """
    s = result.step
    dp = "all-reduce" if workload.dp_collective == "all-reduce" else "reduce-scatter+all-gather"
    return (
        StepPart(name="compute", collective="", time_s=s.compute_time_s),
        StepPart(name="pipeline bubble", collective="", time_s=s.bubble_time_s),
        StepPart(name="DP gradients (exposed)", collective=dp, time_s=s.dp_exposed_time_s),
        StepPart(name="TP all-reduce", collective="all-reduce", time_s=s.tp_time_s),
        StepPart(name="EP all-to-all", collective="all-to-all", time_s=s.ep_time_s),
    )


def plan_capex(
    gpu_counts: Sequence[int],
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    base: FabricDesign | None = None,
    catalog: Catalog | None = None,
    workload: Workload | None = None,
    workloads: Sequence[Workload] | None = None,
    calibration: ModelCalibration | None = None,
    calibration_label: str = "",
    sizes_bytes: Sequence[int] | None = None,
    collectives: Sequence[str] = ("all-reduce",),
    flavor: str = "ideal",
    title: str = "Fabric capex planning report",
    generated_at: str | None = None,
    command: str = "",
    sensitivity: bool = True,
    progress: Callable[[FabricResult], None] | None = None,
    planned: Callable[[int], None] | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> CapexPlan:
    """Build every family at every GPU count, evaluate each, and return a :class:`CapexPlan`.

    Parameters
    ----------
    gpu_counts : sequence of int
        Scales to plan for.
    families : sequence of str
        Family names, and spec files (``.yaml``/``.json``/``.graphml``, e.g. from ``fabric
        topology import``): a spec is planned as it is, at its own GPU count, which joins
        ``gpu_counts`` so that every family is also built at that size beside it. Cost vs
        scale and the oversubscription study cover the families only.
    base : FabricDesign or None
        Options shared by every family (switch, GPU, GPUs per server, scale-up ...); unset
        server options take :data:`studies.design.STUDY_SERVER`. An option a family does not
        take is left out for that family.
    catalog, calibration, sizes_bytes, collectives, flavor, routing, routing_seed
        As :func:`studies.evaluate.evaluate_fabric` (every fabric, workload and study alike).
    workload, workloads
        The training steps to time: ``workloads`` (several), else ``workload`` (one), else
        :func:`default_report_workloads` (a dense and an MoE step). The first one's results
        are each fabric's ``workload``; all are in ``plan.runs``.
    calibration_label, title, generated_at, command
        What the report prints about its inputs.
    sensitivity : bool
        Also price every family over a ladder of scales (:func:`cost_vs_scale`) and rebuild
        the families that take ``oversubscription`` at 1:1 .. 3:1 at the largest count up to
        :data:`SENSITIVITY_MAX_GPUS` (:func:`studies.sensitivity.oversubscription_sweep`).
    progress : callable or None
        Called with each (family, scale)'s result.
    planned : callable or None
        Called once, before the first result, with the number of results to come.

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
    if workloads is not None:
        ws = tuple(workloads)
    elif workload is not None:
        ws = (workload,)
    else:
        ws = default_report_workloads()
    if not ws:
        raise ValueError("give at least one workload to plan with")
    sizes = DEFAULT_SIZES if sizes_bytes is None else tuple(int(s) for s in sizes_bytes)
    names = tuple(canonical(c) for c in collectives)
    specs = [f for f in dict.fromkeys(families) if is_spec_path(f)]
    kinds = [topologies.family(f).name for f in dict.fromkeys(families) if f not in specs]
    base = base or FabricDesign(family=kinds[0] if kinds else DEFAULT_FAMILIES[0])
    check_options_used(base, kinds, also=[Path(p).name for p in specs])
    racked = {p: build_fabric(FabricDesign(spec_path=p, catalog=cat)) for p in specs}
    spec_gpus = {p: sum(1 for _, d in G.nodes(data=True) if d.get("kind") == "gpu")
                 for p, G in racked.items()}
    counts = sorted({int(n) for n in gpu_counts} | set(spec_gpus.values()))
    work: list[tuple[FabricDesign, int]] = [
        (for_study(design_for_family(base, family, n, cat)), n)
        for family in kinds for n in counts]
    work += [(FabricDesign(spec_path=p, catalog=cat), spec_gpus[p]) for p in specs]
    if planned is not None:
        planned(len(work))
    results: list[FabricResult] = []
    extra: list[list[WorkloadResult | None]] = [[] for _ in ws[1:]]
    why: list[list[str]] = [[] for _ in ws]
    for design, n in work:
        label = design_label(design)
        try:
            G = racked[design.spec_path] if design.spec_path else build_fabric(design)
        except InfeasibleError as err:
            result = failed_fabric(label, int(n), err)
            for column in extra:
                column.append(None)
            for reasons in why:
                reasons.append(f"not built: {result.error}")
        else:
            result = evaluate_fabric(G, family=label, requested_gpus=int(n), catalog=cat,
                                     workload=ws[0], collectives=names, sizes_bytes=sizes,
                                     calibration=calibration, flavor=flavor, routing=routing,
                                     routing_seed=routing_seed)
            why[0].append("" if result.workload is not None else next(
                (n for n in result.notes if n.startswith("workload not evaluated")),
                "workload not evaluated"))
            for w, column, reasons in zip(ws[1:], extra, why[1:], strict=True):
                timed, reason = _evaluate_more(G, w, result, cat, calibration, flavor,
                                           routing, routing_seed)
                column.append(timed)
                reasons.append(reason)
        results.append(result)
        if progress is not None:
            progress(result)
    runs = (WorkloadRun(workload=ws[0], results=tuple(f.workload for f in results),
                        errors=tuple(why[0])),) + tuple(
        WorkloadRun(workload=w, results=tuple(column), errors=tuple(reasons))
        for w, column, reasons in zip(ws[1:], extra, why[1:], strict=True))
    curve: tuple[CostPoint, ...] = ()
    over: tuple[OversubscriptionPoint, ...] = ()
    if sensitivity and kinds:
        curve = cost_vs_scale(scale_ladder(counts), kinds, base=base, catalog=cat,
                              known=results)
        over_n = max((n for n in counts if n <= SENSITIVITY_MAX_GPUS), default=min(counts))
        over = oversubscription_sweep(over_n, kinds, ws, base=base, catalog=cat,
                                      calibration=calibration, flavor=flavor, routing=routing,
                                      routing_seed=routing_seed)
    measured = (measured_points(calibration, calibration_label or "calibration")
                if isinstance(calibration, Calibration) else ())
    # the single-hop claim (40% less network capex, 70% less power) against the fat-tree and
    # rail-optimized results of this plan, when single-hop is one of its families
    claim = claim_from_results(results, base=base, catalog=cat, calibration=calibration,
                               flavor=flavor, routing=routing,
                               routing_seed=routing_seed) if "single-hop" in kinds else ()
    return CapexPlan(fabrics=tuple(results), workload=ws[0], catalog=cat, runs=runs,
                     cost_curve=curve, oversubscription=over, title=title,
                     measured=measured, calibration_label=calibration_label, flavor=flavor,
                     generated_at=generated_at, command=command, single_hop_claim=claim)


def _evaluate_more(G: object, w: Workload, result: FabricResult, cat: Catalog,
                   calibration: ModelCalibration | None, flavor: str, routing: str,
                   routing_seed: int) -> tuple[WorkloadResult | None, str]:
    if result.bom is None:
        return None, "workload not evaluated: the fabric has no price"
    try:
        return evaluate(G, w, capex_usd=result.bom.cost_usd,  # type: ignore[arg-type]
                        power_w=result.bom.power_w, catalog=cat, calibration=calibration,
                        flavor=flavor, routing=routing, routing_seed=routing_seed), ""
    except InfeasibleError as err:
        return None, f"workload not evaluated: {first_line(err)}"


def price_scenarios(plan: CapexPlan) -> tuple[PriceScenario, ...]:
    """Every (fabric, workload) result repriced with network or server prices at -20 %/+20 %."""
    low, high = PRICE_FACTORS
    out = []
    for run in plan.all_runs:
        for f, r in zip(plan.fabrics, run.results, strict=True):
            if r is None or f.bom is None:
                continue
            out.append(PriceScenario(
                label=f.label, requested_gpus=f.requested_gpus, workload_name=run.workload.name,
                base_usd=r.cost.cost_per_useful_gpu_hour_usd,
                network_low_usd=repriced_cost(f.bom, r, network_factor=low),
                network_high_usd=repriced_cost(f.bom, r, network_factor=high),
                servers_low_usd=repriced_cost(f.bom, r, server_factor=low),
                servers_high_usd=repriced_cost(f.bom, r, server_factor=high)))
    return tuple(out)


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
    Wang et al. (arXiv:2307.12169 v5, abstract) report 38-77 % lower network cost and 37-75 % lower
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


def _scores(plan: CapexPlan, n: int, network_factor: float = 1.0,
            server_factor: float = 1.0) -> tuple[list[tuple[float, FabricResult]], list[str]]:
    """Mean cost per useful GPU-hour over the workloads every built fabric at ``n`` ran."""
    idx = [i for i, f in enumerate(plan.fabrics) if f.requested_gpus == n and f.bom is not None]
    runs = [run for run in plan.all_runs
            if idx and all(run.results[i] is not None for i in idx)]
    scored = []
    for i in idx:
        f = plan.fabrics[i]
        costs = [repriced_cost(_bom(f), run.results[i],  # type: ignore[arg-type]
                               network_factor=network_factor, server_factor=server_factor)
                 for run in runs]
        if costs:
            scored.append((sum(costs) / len(costs), f))
    scored.sort(key=lambda cf: (cf[0], cf[1].label))
    return scored, [run.workload.name for run in runs]


def _why_no_workload(plan: CapexPlan, group: list[FabricResult]) -> str:
    """Why no workload ran on the fabrics of ``group`` (the first reason per workload), or
    ""."""
    parts = []
    for run in plan.all_runs:
        reasons = [run.errors[plan.fabrics.index(f)] for f in group
                   if run.errors and run.results[plan.fabrics.index(f)] is None
                   and run.errors[plan.fabrics.index(f)]]
        if reasons:
            parts.append(f"{run.workload.name} could not run: {reasons[0]}")
    return "; ".join(parts)


def recommendations(plan: CapexPlan) -> list[Recommendation]:
    """Per requested scale, the fabric with the lowest cost per useful GPU-hour.

    Cost per useful GPU-hour is cost per GPU-hour (capex amortized plus energy) divided by GPU
    utilization, so it weighs how well a fabric feeds its GPUs against what it costs; with
    several workloads it is their mean (each workload weighted alike), over the workloads that
    every built fabric of the scale could run. Without any workload result, the lowest network
    cost per GPU. The reason gives the numbers that decided it and whether the choice holds
    with network prices 20 % lower or higher.
    """
    out = []
    low, high = PRICE_FACTORS
    for n in sorted({f.requested_gpus for f in plan.fabrics}):
        group = [f for f in plan.fabrics if f.requested_gpus == n and f.bom is not None]
        if not group:
            continue
        scored, names = _scores(plan, n)
        if scored:
            cost, best = scored[0]
            utils = []
            for run in plan.all_runs:
                if run.workload.name not in names:
                    continue
                r = run.results[plan.fabrics.index(best)]
                utils.append(f"{100 * r.step.gpu_utilization:.1f} % on {run.workload.name}"
                             if r is not None else "")
            what = "mean " if len(names) > 1 else ""
            reason = (f"lowest {what}cost per useful GPU-hour: {cost:.3f} USD (GPU utilization "
                      f"{'; '.join(u for u in utils if u)}); network "
                      f"{100 * _bom(best).network_cost_share:.1f} % of capex")
            if len(scored) > 1:
                second_cost, second = scored[1]
                reason += (f"; next: {second.label} at {second_cost:.3f} USD "
                           f"({100 * (second_cost / cost - 1):.1f} % more)")
            flips = []
            for factor in (low, high):
                moved = _scores(plan, n, network_factor=factor)[0]
                if moved and moved[0][1].label != best.label:
                    flips.append(f"{moved[0][1].label} wins with network prices "
                                 f"{100 * (factor - 1):+.0f} %")
            reason += ("; " + "; ".join(flips) if flips else
                       f"; holds with network prices {100 * (low - 1):+.0f} % and "
                       f"{100 * (high - 1):+.0f} %")
        else:
            best = sorted(group, key=lambda f: (_bom(f).network_cost_per_gpu_usd, f.label))[0]
            reason = (f"lowest network cost per GPU ({_bom(best).network_cost_per_gpu_usd:,.0f} "
                      f"USD); no workload result to compare utilization")
            failed = _why_no_workload(plan, group)
            if failed:
                reason += f" ({failed}): the utilization per dollar is not compared"
        out.append(Recommendation(requested_gpus=n, label=best.label, reason=reason))
    return out
