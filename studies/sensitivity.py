"""How a plan's answer moves with prices and oversubscription.

Two questions a planner asks before a budget meeting:

* **Prices.** If the network (switches, optics, cables, NICs) or the servers cost 20 % more or
  less than the catalog says, what does a useful GPU-hour cost, and does the recommended fabric
  change? :func:`repriced_cost` answers it from a bill of materials and a step time without
  rebuilding anything: capex is re-summed with one group of categories scaled, and the
  workload's :class:`~collectives.workload.Economics` turns it into cost per hour.
* **Oversubscription.** A family that takes ``oversubscription`` (the Clos) is rebuilt at
  1:1 .. 3:1 and priced and timed again (:func:`oversubscription_sweep`): fewer uplinks cost
  less, but traffic that crosses leaves (a wide MoE all-to-all) waits longer.

>>> from fabric.cost import BillOfMaterials, LineItem
>>> bom = BillOfMaterials(topology="t", num_gpus=8, num_nodes=1, catalog_version="v", items=(
...     LineItem(category="switch", key="s", tier="leaf", quantity=1, unit_cost_usd=1000.0,
...              unit_power_w=0.0),
...     LineItem(category="node", key="n", tier="server", quantity=1, unit_cost_usd=9000.0,
...              unit_power_w=0.0)))
>>> scaled_capex_usd(bom, network_factor=1.2), scaled_capex_usd(bom, server_factor=0.8)
(10200.0, 8200.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import topologies
from collectives.calibration import ModelCalibration
from collectives.workload import Workload, WorkloadResult, cost_performance, evaluate
from fabric.catalog import Catalog
from fabric.cost import BillOfMaterials, bill_of_materials
from fabric.errors import InfeasibleError
from studies.design import FabricDesign, build_fabric, design_for_family, design_label, for_study
from studies.evaluate import first_line

__all__ = [
    "OVERSUBSCRIPTION_RATIOS",
    "PRICE_FACTORS",
    "OversubscriptionPoint",
    "oversubscription_sweep",
    "repriced_cost",
    "scaled_capex_usd",
]

#: Price scenarios: -20 % and +20 % of the catalog's prices.
PRICE_FACTORS: tuple[float, float] = (0.8, 1.2)
#: Leaf down:up port ratios tried where a family takes ``oversubscription``.
OVERSUBSCRIPTION_RATIOS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


def scaled_capex_usd(bom: BillOfMaterials, *, network_factor: float = 1.0,
                     server_factor: float = 1.0) -> float:
    """Capex with network items (switches, optics, cables, NICs) and the rest scaled.

    Raises
    ------
    ValueError
        A factor that is not a finite number > 0.
    """
    for name, value in (("network_factor", network_factor), ("server_factor", server_factor)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a number > 0, got {value!r}")
    network = bom.network_cost_usd
    return network * network_factor + (bom.cost_usd - network) * server_factor


def repriced_cost(bom: BillOfMaterials, result: WorkloadResult, *, network_factor: float = 1.0,
                  server_factor: float = 1.0) -> float:
    """Cost per useful GPU-hour (USD) with prices scaled as :func:`scaled_capex_usd`.

    The step time does not change with prices; power does not either. Notes: cost per hour =
    capex / (years x 8,760 h) + IT power x PUE x USD/kWh, per GPU, divided by utilization
    (:func:`collectives.workload.cost_performance`).
    """
    capex = scaled_capex_usd(bom, network_factor=network_factor, server_factor=server_factor)
    return cost_performance(capex, bom.power_w, result.step,
                            result.cost.economics).cost_per_useful_gpu_hour_usd


@dataclass(**_FROZEN)
class OversubscriptionPoint:
    """One family rebuilt at one oversubscription ratio, priced and timed per workload.

    ``utilization`` and ``cost_per_useful_gpu_hour_usd`` run over the workloads in the order
    given (NaN where a workload's layout does not fit); ``error`` says why nothing was built.
    """

    family: str
    label: str
    requested_gpus: int
    num_gpus: int
    oversubscription: float
    network_cost_per_gpu_usd: float
    workload_names: tuple[str, ...]
    utilization: tuple[float, ...]
    cost_per_useful_gpu_hour_usd: tuple[float, ...]
    error: str = ""


def oversubscription_sweep(
    num_gpus: int,
    families: Sequence[str],
    workloads: Sequence[Workload],
    *,
    base: FabricDesign,
    catalog: Catalog,
    ratios: Sequence[float] = OVERSUBSCRIPTION_RATIOS,
    calibration: ModelCalibration | None = None,
    flavor: str = "ideal",
    progress: Callable[[OversubscriptionPoint], None] | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> tuple[OversubscriptionPoint, ...]:
    """Rebuild each family that takes ``oversubscription`` at each ratio; price and time it.

    Families that do not take the option are skipped (an empty result when none does).
    A ratio a family cannot build at ``num_gpus`` gives a point with ``error`` set.

    Raises
    ------
    ValueError
        A ratio below 1, or no workload.
    """
    if not workloads:
        raise ValueError("give at least one workload for the oversubscription sweep")
    bad = [r for r in ratios if not (isinstance(r, (int, float)) and r >= 1)]
    if bad:
        raise ValueError(f"oversubscription ratios must be numbers >= 1, got {bad[0]!r}")
    names = tuple(w.name for w in workloads)
    out: list[OversubscriptionPoint] = []
    for family in families:
        if not topologies.family(family).accepts("oversubscription"):
            continue
        for ratio in ratios:
            design = for_study(design_for_family(base.replace(oversubscription=float(ratio)),
                                                 family, int(num_gpus), catalog))
            label = design_label(design)
            try:
                G = build_fabric(design)
                bom = bill_of_materials(G, catalog=catalog)
            except (InfeasibleError, ValueError) as err:
                point = OversubscriptionPoint(
                    family=family, label=label, requested_gpus=int(num_gpus), num_gpus=0,
                    oversubscription=float(ratio), network_cost_per_gpu_usd=math.nan,
                    workload_names=names, utilization=(math.nan,) * len(names),
                    cost_per_useful_gpu_hour_usd=(math.nan,) * len(names),
                    error=first_line(err))
            else:
                utils, costs = [], []
                for w in workloads:
                    try:
                        r = evaluate(G, w, capex_usd=bom.cost_usd, power_w=bom.power_w,
                                     catalog=catalog, calibration=calibration, flavor=flavor,
                                     routing=routing, routing_seed=routing_seed)
                    except InfeasibleError:
                        utils.append(math.nan)
                        costs.append(math.nan)
                        continue
                    utils.append(r.step.gpu_utilization)
                    costs.append(r.cost.cost_per_useful_gpu_hour_usd)
                point = OversubscriptionPoint(
                    family=family, label=label, requested_gpus=int(num_gpus),
                    num_gpus=bom.num_gpus, oversubscription=float(ratio),
                    network_cost_per_gpu_usd=bom.network_cost_per_gpu_usd, workload_names=names,
                    utilization=tuple(utils), cost_per_useful_gpu_hour_usd=tuple(costs))
            out.append(point)
            if progress is not None:
                progress(point)
    return tuple(out)
