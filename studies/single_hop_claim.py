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
from typing import Any

import networkx as nx

from collectives.predict import predict_many
from collectives.results import Prediction
from fabric.catalog import Catalog, SwitchModel, default_catalog
from fabric.cost import bill_of_materials
from fabric.errors import InfeasibleError
from studies.design import FabricDesign, build_fabric, design_for_family, for_study
from studies.evaluate import FabricResult, first_line

__all__ = ["ClaimBaseline", "ClaimRow", "claim_from_results", "single_hop_claim",
           "CLAIM_COST_CUT", "CLAIM_POWER_CUT"]

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
    times_s: tuple[tuple[str, float], ...] = ()  # (collective, seconds) at the study's size


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
    single_hop_times_s: tuple[tuple[str, float], ...] = ()
    size_bytes: int = 0

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

    @property
    def power_claim_possible(self) -> bool:
        """Whether any single-hop port power gives the claimed cut: not when the GPU side alone
        (NIC, its optics, the cable) draws more than the cut allows (break-even below 0 W)."""
        return self.breakeven_port_power_w >= 0


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
    collectives: Sequence[str] = (),
    size_bytes: int = 1 << 30,
) -> tuple[ClaimRow, ...]:
    """The break-even study at each GPU count (module docstring).

    ``port_cost_usd`` and ``port_power_w`` price the single-hop switch's ports (default: the
    baseline ``switch``'s cost and power per port); the break-even does not depend on them.
    ``collectives`` (e.g. all-reduce, all-to-all) are predicted at ``size_bytes`` over the
    requested GPUs of every fabric (ideal flavor, ECMP fluid split, the fastest algorithm):
    what the single-hop fabric does to the times beside its cost.

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
                num_switches=sum(1 for _, k in G.nodes(data="kind") if k == "switch"),
                times_s=_times(G, collectives, int(n), bom.num_gpus, size_bytes)))
        rows.append(_row(int(n), built, design, cat, switch, port_cost, port_power, cost_cut,
                         power_cut, collectives, size_bytes))
    return tuple(rows)


def claim_from_results(
    results: Sequence[FabricResult],
    *,
    base: FabricDesign | None = None,
    catalog: Catalog | None = None,
    baselines: Sequence[str] = ("fat-tree", "rail-optimized"),
    size_bytes: int = 1 << 30,
    **options: Any,
) -> tuple[ClaimRow, ...]:
    """The break-even study over fabrics already evaluated (a report's): at every requested GPU
    count where a ``baselines`` family was built and priced, its cost, power and collective
    times (its curves at ``size_bytes``, or at the largest size of the curves when none has it)
    are the baseline, and only the single-hop fabric is built, priced and predicted here, with
    the same collectives at the same size. The hypothetical switch takes the per-port
    economics of the baselines' switch (their ``switch`` parameter). ``options`` (flavor,
    calibration, routing, routing_seed) are those the results were predicted with. Empty when
    no baseline was built.
    """
    cat = default_catalog() if catalog is None else catalog
    by_count: dict[int, list[FabricResult]] = {}
    for f in results:
        if f.family in baselines and f.bom is not None:
            by_count.setdefault(f.requested_gpus, []).append(f)
    rows = []
    for n, found in sorted(by_count.items()):
        switch = str(found[0].params.get("switch", ""))
        if switch not in cat.switches:
            continue
        sw = cat.switches[switch]
        colls = tuple(dict.fromkeys(c.collective for f in found for c in f.curves))
        sizes = [p.size_bytes for f in found for c in f.curves for p in c.predictions]
        at = size_bytes if size_bytes in sizes or not sizes else max(sizes)
        built = []
        for f in found:
            assert f.bom is not None
            built.append(ClaimBaseline(
                family=f.family, num_gpus=f.num_gpus,
                network_cost_per_gpu_usd=f.bom.network_cost_per_gpu_usd,
                network_power_per_gpu_w=f.bom.network_power_per_gpu_w,
                num_switches=f.summary.num_switches if f.summary is not None else 0,
                times_s=tuple((c.collective, _time_at(c.predictions, at)) for c in f.curves)))
        design = (base or FabricDesign(family=found[0].family)).replace(switch=switch,
                                                                        catalog=cat)
        rows.append(_row(n, built, design, cat, switch, sw.cost_usd / sw.radix,
                         sw.power_w / sw.radix, CLAIM_COST_CUT, CLAIM_POWER_CUT, colls, at,
                         **options))
    return tuple(rows)


def _time_at(predictions: Sequence[Prediction], size_bytes: int) -> float:
    """The predicted time at ``size_bytes`` (NaN if the curve has no such size)."""
    return next((p.time_s for p in predictions if p.size_bytes == size_bytes), math.nan)


def _row(n: int, built: list[ClaimBaseline], design: FabricDesign, cat: Catalog, switch: str,
         port_cost: float, port_power: float, cost_cut: float, power_cut: float,
         collectives: Sequence[str], size_bytes: int, **options: Any) -> ClaimRow:
    """One scale of the study: the single-hop fabric built, priced and timed beside ``built``."""
    hypo = _hypothetical(cat, switch, n, port_cost, port_power)
    G = build_fabric(for_study(design_for_family(
        design.replace(switch=_HYPOTHETICAL, catalog=hypo), "single-hop", n, hypo)))
    bom = bill_of_materials(G, catalog=hypo)
    gpus = bom.num_gpus
    hop_cost, hop_power = bom.network_cost_per_gpu_usd, bom.network_power_per_gpu_w
    # per GPU: one port of the single-hop switch plus everything else the BOM prices
    other_cost = hop_cost - port_cost * n / gpus
    other_power = hop_power - port_power * n / gpus
    ok = [b for b in built if not b.error]
    best_cost = min((b.network_cost_per_gpu_usd for b in ok), default=math.nan)
    best_power = min((b.network_power_per_gpu_w for b in ok), default=math.nan)
    return ClaimRow(
        num_gpus=gpus, baselines=tuple(built), port_cost_usd=port_cost,
        port_power_w=port_power, single_hop_network_cost_per_gpu_usd=hop_cost,
        single_hop_network_power_per_gpu_w=hop_power,
        breakeven_port_cost_usd=((1 - cost_cut) * best_cost - other_cost) * gpus / n,
        breakeven_port_power_w=((1 - power_cut) * best_power - other_power) * gpus / n,
        cost_cut=cost_cut, power_cut=power_cut,
        single_hop_times_s=_times(G, collectives, n, gpus, size_bytes, **options),
        size_bytes=int(size_bytes))


def _times(G: nx.DiGraph, collectives: Sequence[str], requested: int, built: int,
           size_bytes: int, **options: Any) -> tuple[tuple[str, float], ...]:
    """Each collective's predicted time over the requested GPUs of ``G`` (NaN if none fits);
    ``options`` go to :func:`collectives.predict.predict_many` (flavor, calibration, routing)."""
    ranks = requested if requested < built else None
    out = []
    for name in collectives:
        try:
            (p,) = predict_many(G, name, [int(size_bytes)], ranks=ranks, **options)
            out.append((name, p.time_s))
        except InfeasibleError:
            out.append((name, math.nan))
    return tuple(out)
