"""Evaluate one fabric: what it holds, what it costs, how fast its collectives and workload run.

:func:`evaluate_fabric` is the one answer to "what does this fabric cost and how fast is it";
``fabric compare``, ``fabric report`` and sweeps all call it, so they cannot disagree about the
same fabric. :func:`evaluate_design` builds a :class:`~studies.design.FabricDesign` first and
turns a family that cannot hold the GPUs into a result that says why.

>>> from studies.design import FabricDesign
>>> r = evaluate_design(FabricDesign(family="rail-optimized", num_gpus=64, gpus_per_node=8),
...                     collectives=("all-reduce",), sizes_bytes=(1 << 30,), workload=None)
>>> r.num_gpus, r.curves[0].collective, r.curves[0].time_s[0] > 0, r.bom.num_gpus
(64, 'all-reduce', True, 64)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from collectives.calibration import ModelCalibration
from collectives.names import canonical
from collectives.predict import predict_many
from collectives.results import Prediction
from collectives.workload import Workload, WorkloadResult, evaluate
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.cost import BillOfMaterials, bill_of_materials
from fabric.errors import InfeasibleError, first_line
from fabric.graph import TopologySummary, fabric_arrays, summarize
from studies.design import FabricDesign, build_fabric, design_label

__all__ = [
    "DEFAULT_SIZES",
    "EXACT_BISECTION_MAX_GPUS",
    "CollectiveCurve",
    "FabricResult",
    "evaluate_fabric",
    "evaluate_design",
    "failed_fabric",
    "first_line",
]

#: Default message sizes of collective curves: 1 KiB to 4 GiB, x4.
DEFAULT_SIZES: tuple[int, ...] = tuple(2**k for k in range(10, 33, 2))
#: Up to this many GPUs the bisection is an exact max-flow (about 0.1 s at 65,536); above it is
#: not computed (shown as "-").
EXACT_BISECTION_MAX_GPUS = 1 << 18
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_FROZEN)
class CollectiveCurve:
    """Predictions of one collective over a range of sizes on one fabric.

    ``predictions`` run over the sizes; the tuple properties read one field of each.
    ``error`` says why there are none (an algorithm or placement the fabric cannot hold).
    """

    collective: str
    predictions: tuple[Prediction, ...] = ()
    error: str = ""

    @property
    def num_ranks(self) -> int:
        """Ranks of the communicator (0 without predictions)."""
        return self.predictions[0].num_ranks if self.predictions else 0

    @property
    def sizes_bytes(self) -> tuple[int, ...]:
        """Message sizes (nccl-tests' meaning)."""
        return tuple(int(p.size_bytes) for p in self.predictions)

    @property
    def time_s(self) -> tuple[float, ...]:
        """Predicted times."""
        return tuple(float(p.time_s) for p in self.predictions)

    @property
    def busbw_bytes_per_s(self) -> tuple[float, ...]:
        """Bus bandwidths (nccl-tests' definition)."""
        return tuple(float(p.busbw_bytes_per_s) for p in self.predictions)

    @property
    def algorithm(self) -> tuple[str, ...]:
        """The algorithm chosen at each size."""
        return tuple(str(p.algorithm) for p in self.predictions)


@dataclass(**_FROZEN)
class FabricResult:
    """Everything a study knows about one fabric at one requested scale.

    ``error`` is set (and ``bom``, ``summary`` are None) when the fabric could not be built.
    ``cost_error`` is set (and ``bom`` None) when it was built but could not be priced (e.g. no
    transceiver of a link's rate in the catalog); its times still stand. ``num_gpus`` is what
    was built, which can exceed ``requested_gpus`` (a fat-tree comes in sizes of k^3/4): costs
    per GPU are per built GPU, and ``notes`` says so.
    """

    label: str
    family: str
    requested_gpus: int
    num_gpus: int
    params: Mapping[str, Any] = field(default_factory=dict)
    summary: TopologySummary | None = None
    bom: BillOfMaterials | None = None
    cost_error: str = ""
    curves: tuple[CollectiveCurve, ...] = ()
    workload: WorkloadResult | None = None
    error: str = ""
    notes: tuple[str, ...] = ()

    @property
    def built(self) -> bool:
        """Whether the fabric was built (``error`` is empty)."""
        return not self.error

    def curve(self, collective: str) -> CollectiveCurve:
        """The curve of ``collective`` (any spelling :func:`collectives.names.canonical` takes)."""
        name = canonical(collective)
        for c in self.curves:
            if c.collective == name:
                return c
        raise ValueError(f"{self.label} has no {name} curve; it has "
                         f"{', '.join(c.collective for c in self.curves) or 'none'}")


def failed_fabric(family: str, requested_gpus: int, error: BaseException | str, *,
                  label: str | None = None) -> FabricResult:
    """A :class:`FabricResult` for a fabric that could not be built at ``requested_gpus``."""
    return FabricResult(label=label or family, family=family, requested_gpus=requested_gpus,
                        num_gpus=0, error=first_line(error) or "infeasible")


def _curve(G: nx.DiGraph, collective: str, sizes: Sequence[int], *, ranks: int | None,
           placement: Any, flavor: str, calibration: ModelCalibration | None,
           routing: str, routing_seed: int) -> CollectiveCurve:
    name = canonical(collective)
    try:
        preds = predict_many(G, name, [int(s) for s in sizes], ranks=ranks, placement=placement,
                             flavor=flavor, calibration=calibration, routing=routing,
                             routing_seed=routing_seed)
    except InfeasibleError as err:  # e.g. an algorithm family that needs what G lacks
        return CollectiveCurve(collective=name, error=first_line(err))
    return CollectiveCurve(collective=name, predictions=tuple(preds))


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
    placement: str | Sequence[str] = "packed",
    calibration: ModelCalibration | None = None,
    flavor: str = "ideal",
    bom_options: Mapping[str, Any] | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> FabricResult:
    """Summarize and price ``G``, predict its collective curves, time a workload.

    Parameters
    ----------
    G : nx.DiGraph
        A built, validated fabric.
    family, requested_gpus, label
        How results name it (defaults: ``G.graph["topology"]``, its GPU count, the family).
    catalog : Catalog or None
        Prices, power and GPU peak FLOP/s; None for the built-in catalog.
    workload : Workload or None
        A training step to time (:func:`collectives.workload.evaluate`); None skips it.
    collectives, sizes_bytes
        Curves to predict (nccl-tests' size meaning), over ``requested_gpus`` GPUs placed by
        ``placement`` when the fabric holds more (a fat-tree comes in sizes of k^3/4), else over
        every GPU of ``G``.
    placement
        Rank placement of the collectives (:mod:`collectives.placement`).
    calibration, flavor, routing, routing_seed
        Passed to :func:`collectives.predict.predict_many` (curves and the workload's
        collectives alike; under ``ecmp-hash`` times are the mean over hash samples).
    bom_options
        Keyword arguments of :func:`fabric.cost.bill_of_materials`.

    Returns
    -------
    FabricResult
        ``cost_error`` set when the BOM cannot be priced (times still stand); ``workload`` None
        with a note when the workload's layout does not fit the fabric.

    Raises
    ------
    ValueError
        A bad collective name, placement or flavor (the user's mistake, not the fabric's).
    """
    cat = default_catalog() if catalog is None else catalog
    family = family or str(G.graph.get("topology", "custom"))
    summary = summarize(G, exact_bisection=sum(
        1 for _, kind in G.nodes(data="kind") if kind == "gpu") <= EXACT_BISECTION_MAX_GPUS)
    requested = summary.num_gpus if requested_gpus is None else int(requested_gpus)
    notes: list[str] = []
    ranks = requested if 2 <= requested < summary.num_gpus else None
    if summary.num_gpus != requested:
        over = (f"collectives run over the {requested:,} asked ({placement} placement); "
                if ranks is not None else "")
        notes.append(f"built {summary.num_gpus:,} GPUs for the {requested:,} asked "
                     f"({_size_text(G)}): {over}the workload and costs per GPU cover all "
                     f"{summary.num_gpus:,} built GPUs")
    capped = _host_link_note(G, cat)
    if capped:
        notes.append(capped)
    bom: BillOfMaterials | None = None
    cost_error = ""
    try:
        bom = bill_of_materials(G, catalog=cat, **dict(bom_options or {}))
    except ValueError as err:  # e.g. no transceiver of a link's rate: times still stand
        cost_error = first_line(err)
    curves = tuple(_curve(G, name, sizes_bytes, ranks=ranks, placement=placement, flavor=flavor,
                          calibration=calibration, routing=routing, routing_seed=routing_seed)
                   for name in collectives)
    result: WorkloadResult | None = None
    if workload is not None and bom is not None:
        try:
            result = evaluate(G, workload, capex_usd=bom.cost_usd, power_w=bom.power_w,
                              catalog=cat, calibration=calibration, flavor=flavor,
                              routing=routing, routing_seed=routing_seed)
            notes.extend(result.step.notes)
        except InfeasibleError as err:
            notes.append(f"workload not evaluated: {first_line(err)}")
    elif workload is not None:
        notes.append("workload not evaluated: the fabric has no price")
    return FabricResult(
        label=label or family, family=family, requested_gpus=requested,
        num_gpus=summary.num_gpus, params=dict(G.graph.get("params", {})), summary=summary,
        bom=bom, cost_error=cost_error, curves=curves, workload=result, notes=tuple(notes))


def _host_link_note(G: nx.DiGraph, cat: Catalog) -> str:
    """A note when the GPUs' scale-out cables carry less than their links' rate because the
    GPU's host link bounds them (:func:`topologies.common.attach_gpus`), else ``""``: so that
    faster NICs on a GPU that cannot feed them do not look like a free gain."""
    a = fabric_arrays(G)
    out = np.flatnonzero((a.code[a.src] == 0) & (a.code[a.dst] >= 3))
    if not len(out):
        return ""
    rated = np.array([cat.links[k].bandwidth_bytes_per_s if k in cat.links else 0.0
                      for k in a.link_names])[a.link[out]]
    short = np.flatnonzero(a.bandwidth_bytes_per_s[out] < rated * (1 - 1e-9))
    if not len(short):
        return ""
    edge, rate = int(out[short[0]]), float(rated[short[0]])
    gpu = str(G.nodes[a.nodes[int(a.src[edge])]].get("model", ""))
    link = a.link_names[int(a.link[edge])]
    pcie = cat.host_link(gpu)
    if pcie is None:
        return ""
    ports = int(np.count_nonzero(a.src[out] == a.src[edge]))
    return (f"{gpu} GPUs drive {ports} x {link} ({ports * rate / 1e9:g} GB/s) through "
            f"their {pcie.name} ({pcie.bandwidth_bytes_per_s / 1e9:g} GB/s): the network gets "
            f"what the host link carries from GPU memory to the NICs")


def _size_text(G: nx.DiGraph) -> str:
    params = G.graph.get("params", {})
    parts = [f"{key}={params[key]}" for key in ("k", "num_nodes", "num_gpus") if key in params]
    return ", ".join(parts) or str(G.graph.get("topology", "custom"))


def evaluate_design(
    design: FabricDesign,
    *,
    label: str | None = None,
    requested_gpus: int | None = None,
    **options: Any,
) -> FabricResult:
    """Build ``design`` and :func:`evaluate_fabric` it (``options`` are that function's).

    A family that cannot hold the GPUs (:class:`fabric.errors.InfeasibleError`) becomes a result
    with ``error`` set; any other error (a bad option) propagates.
    """
    name = design_label(design)
    asked = requested_gpus if requested_gpus is not None else design.num_gpus
    try:
        G = build_fabric(design)
    except InfeasibleError as err:
        return failed_fabric(name, int(asked or 0), err, label=label)
    catalog = options.pop("catalog", None)
    if catalog is None and design.catalog is not None:
        catalog = (design.catalog if isinstance(design.catalog, Catalog)
                   else load_catalog(design.catalog))
    return evaluate_fabric(G, family=name, requested_gpus=asked, label=label, catalog=catalog,
                           **options)
