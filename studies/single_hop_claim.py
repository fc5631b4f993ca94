"""Does a single-hop fabric cut network capex and power as claimed? A break-even study.

Eridu (out of stealth March 2026) claims that high-radix switches flattening the network to
one hop cut network cost by up to 40% and network power by up to 70%
(https://eridu.ai/news/a-vision-to-address-the-ai-network-wall; interview with its founders,
https://tfir.io/eridu-ai-network-bottleneck-gpu-utilization/, 2026). It has published no radix,
price or power for its switch, so the claim cannot be priced directly. This study asks what the
claim needs instead:

* the **baselines** are fabrics built from the catalog at each scale (a 3-tier fat-tree and
  rail-optimized by default, with the catalog switch ``switch``), priced by
  :func:`fabric.cost.bill_of_materials`;
* the **single-hop** fabric gives every GPU one port on one switch of ``num_gpus`` ports (a
  hypothetical switch, marked ``status = "announced"`` and ``source`` "assumption") with the
  baseline switch's port rate, and the baseline switch's cost and power **per port** (today's
  per-port economics);
* the **break-even** is the highest cost and power per single-hop port at which the single-hop
  fabric's network cost (power) per GPU is at most (1 - claim) x the cheapest baseline's. Its
  other parts per GPU (NIC, the GPU's optics, the cable) stay as the bill of materials prices
  them.

The claim holds at a scale where that break-even port cost (power) is at or above today's per-port
figure: a single-hop port may then cost as much as a leaf port does now. Below it, the claim needs
single-hop ports cheaper than today's, by the factor the study prints.

>>> rows = single_hop_claim([1024], baselines=("fat-tree",))
>>> rows[0].single_hop_network_cost_per_gpu_usd < rows[0].baselines[0].network_cost_per_gpu_usd
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from fabric.catalog import Catalog, SwitchModel, default_catalog
from fabric.cost import bill_of_materials
from fabric.errors import InfeasibleError
from studies.design import FabricDesign, build_fabric, design_for_family, for_study
from studies.evaluate import first_line

__all__ = ["ClaimBaseline", "ClaimRow", "single_hop_claim", "CLAIM_COST_CUT", "CLAIM_POWER_CUT"]

#: The claimed cuts of network capex and power (Eridu, 2026; module docstring).
CLAIM_COST_CUT = 0.40
CLAIM_POWER_CUT = 0.70
_HYPOTHETICAL = "single-hop-hypothetical"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimBaseline:
    """A baseline fabric at one scale: its network cost and power per GPU, or why it failed."""

    family: str
    num_gpus: int
    network_cost_per_gpu_usd: float
    network_power_per_gpu_w: float
    num_switches: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRow:
    """One scale: the baselines, the single-hop fabric at today's per-port economics, and the
    break-even single-hop port cost and power for the claimed cuts."""

    num_gpus: int
    baselines: tuple[ClaimBaseline, ...]
    port_cost_usd: float
    port_power_w: float
    single_hop_network_cost_per_gpu_usd: float
    single_hop_network_power_per_gpu_w: float
    breakeven_port_cost_usd: float
    breakeven_port_power_w: float
    cost_cut: float
    power_cut: float

    @property
    def best_baseline(self) -> ClaimBaseline | None:
        """The cheapest baseline that was built."""
        built = [b for b in self.baselines if not b.error]
        return min(built, key=lambda b: b.network_cost_per_gpu_usd) if built else None

    @property
    def cost_claim_holds(self) -> bool:
        """Whether a single-hop port at today's per-port cost already gives the claimed cut."""
        return self.breakeven_port_cost_usd >= self.port_cost_usd

    @property
    def power_claim_holds(self) -> bool:
        """Whether a single-hop port at today's per-port power already gives the claimed cut."""
        return self.breakeven_port_power_w >= self.port_power_w


def _hypothetical(catalog: Catalog, switch: str, ports: int, port_cost_usd: float,
                  port_power_w: float) -> Catalog:
    base = catalog.switches[switch]
    hypo = SwitchModel(
        key=_HYPOTHETICAL,
        name=f"hypothetical single-hop switch, {ports:,} x {base.port_link}",
        tier_kind="scale-out", radix=ports, port_link=base.port_link,
        latency_s=base.latency_s, cost_usd=port_cost_usd * ports,
        power_w=port_power_w * ports, chips=1, in_network_reduction=False,
        source="assumption: no published figure; cost and power per port as given (default: "
               f"{switch}'s)",
        year=2026, status="announced", co_packaged_optics=base.co_packaged_optics)
    return dataclasses.replace(catalog, switches={**catalog.switches, _HYPOTHETICAL: hypo})


def single_hop_claim(
    gpu_counts: Sequence[int],
    *,
    baselines: Sequence[str] = ("fat-tree", "rail-optimized"),
    switch: str = "qm9700",
    base: FabricDesign | None = None,
    catalog: Catalog | None = None,
    cost_cut: float = CLAIM_COST_CUT,
    power_cut: float = CLAIM_POWER_CUT,
    port_cost_usd: float | None = None,
    port_power_w: float | None = None,
) -> tuple[ClaimRow, ...]:
    """The break-even study at each GPU count (module docstring).

    ``port_cost_usd`` and ``port_power_w`` price the single-hop switch's ports (default: the
    baseline ``switch``'s cost and power per port); the break-even does not depend on them.

    Raises
    ------
    ValueError
        An unknown switch or family, a cut outside (0, 1), a negative port figure, or no GPU
        count.
    """
    cat = default_catalog() if catalog is None else catalog
    if switch not in cat.switches:
        raise ValueError(f"unknown switch {switch!r}")
    if not gpu_counts:
        raise ValueError("give at least one GPU count")
    for name, cut in (("cost", cost_cut), ("power", power_cut)):
        if not 0 < cut < 1:
            raise ValueError(f"the claimed {name} cut must be in (0, 1), got {cut!r}")
    sw = cat.switches[switch]
    port_cost = sw.cost_usd / sw.radix if port_cost_usd is None else float(port_cost_usd)
    port_power = sw.power_w / sw.radix if port_power_w is None else float(port_power_w)
    if port_cost < 0 or port_power < 0:
        raise ValueError("single-hop port cost and power must be >= 0")
    design = (base or FabricDesign(family=baselines[0])).replace(switch=switch, catalog=cat)
    rows = []
    for n in gpu_counts:
        built: list[ClaimBaseline] = []
        for family in baselines:
            try:
                G = build_fabric(for_study(design_for_family(design, family, int(n), cat)))
                bom = bill_of_materials(G, catalog=cat)
            except (InfeasibleError, ValueError) as err:
                built.append(ClaimBaseline(family=family, num_gpus=0,
                                           network_cost_per_gpu_usd=math.nan,
                                           network_power_per_gpu_w=math.nan,
                                           error=first_line(err)))
                continue
            built.append(ClaimBaseline(
                family=family, num_gpus=bom.num_gpus,
                network_cost_per_gpu_usd=bom.network_cost_per_gpu_usd,
                network_power_per_gpu_w=bom.network_power_per_gpu_w,
                num_switches=sum(1 for _, k in G.nodes(data="kind") if k == "switch")))
        hypo = _hypothetical(cat, switch, int(n), port_cost, port_power)
        G = build_fabric(for_study(design_for_family(
            design.replace(switch=_HYPOTHETICAL, catalog=hypo), "single-hop", int(n), hypo)))
        bom = bill_of_materials(G, catalog=hypo)
        gpus = bom.num_gpus
        hop_cost, hop_power = bom.network_cost_per_gpu_usd, bom.network_power_per_gpu_w
        # per GPU: one port of the single-hop switch plus everything else the BOM prices
        other_cost = hop_cost - port_cost * int(n) / gpus
        other_power = hop_power - port_power * int(n) / gpus
        ok = [b for b in built if not b.error]
        best_cost = min((b.network_cost_per_gpu_usd for b in ok), default=math.nan)
        best_power = min((b.network_power_per_gpu_w for b in ok), default=math.nan)
        rows.append(ClaimRow(
            num_gpus=gpus, baselines=tuple(built), port_cost_usd=port_cost,
            port_power_w=port_power, single_hop_network_cost_per_gpu_usd=hop_cost,
            single_hop_network_power_per_gpu_w=hop_power,
            breakeven_port_cost_usd=((1 - cost_cut) * best_cost - other_cost) * gpus / int(n),
            breakeven_port_power_w=((1 - power_cut) * best_power - other_power) * gpus / int(n),
            cost_cut=cost_cut, power_cut=power_cut))
    return tuple(rows)
