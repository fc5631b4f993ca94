"""A fabric as ASTRA-sim's analytical network configuration (its network YAML).

ASTRA-sim's analytical backend describes a network as a few *dimensions*, each one basic
topology (``Ring``, ``Switch`` or ``FullyConnected``) of ``npus_count`` NPUs, with one
``bandwidth`` (GB/s per NPU link) and one ``latency`` (ns per hop) per dimension; the NPUs are the
product of the counts (astra-sim/astra-sim, ``examples/network/analytical/*.yml``, e.g.
``HGX-H100-validated.yml``: ``topology: [ Switch ]``, ``npus_count: [ 8 ]``, ``bandwidth:
[ 400.0 ]``, ``latency: [ 936.25 ]``; retrieved 2026-12-04).

A fabric maps to at most two dimensions, in rank order (GPU ``local`` fastest):

1. the scale-up domain (``Switch`` of the GPUs of one server, when they share a tier-0 switch;
   ``FullyConnected`` when they are cabled directly), the GPU's scale-up bandwidth;
2. the scale-out network (``Switch`` of the servers), the GPU's injection bandwidth.

What the format forces (also written as comments at the top of the file):

* every dimension is one ideal switch or ring: no oversubscription, tapering, rails or planes,
  no ECMP collisions; what the fabric's upper tiers lose is invisible;
* one bandwidth per dimension: the per-GPU injection, whatever the bisection behind it;
* one latency per dimension: the worst GPU-to-GPU path latency of that dimension;
* every server the same: the fabric's GPUs must divide evenly into servers.

>>> import topologies
>>> net = astra_network(topologies.clos(64, tiers=2))
>>> [d.topology for d in net.dims], [d.npus_count for d in net.dims]
(['Switch', 'Switch'], [8, 8])
>>> net.dims[1].bandwidth_gb_per_s
50.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import yaml

from fabric import units
from fabric.graph import gpu_nodes, summarize

__all__ = ["AstraDimension", "AstraNetwork", "astra_network", "astra_yaml", "npu_order",
           "read_astra_yaml",
           "ASTRA_TOPOLOGIES", "ASTRA_SIMPLIFICATIONS"]

#: The basic topologies of ASTRA-sim's analytical network.
ASTRA_TOPOLOGIES = ("Ring", "Switch", "FullyConnected")
#: What the format cannot hold, written at the top of every exported file.
ASTRA_SIMPLIFICATIONS = (
    "each dimension is one ideal switch: oversubscription, tapering, rails, planes and ECMP "
    "collisions of the fabric are not represented",
    "one bandwidth per dimension: the per-GPU link (injection), not the bisection behind it",
    "one latency per dimension: the worst GPU-to-GPU path of that dimension",
    "every server alike: GPUs divide evenly into servers",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AstraDimension:
    """One dimension of an ASTRA-sim analytical network."""

    topology: str
    npus_count: int
    bandwidth_gb_per_s: float
    latency_ns: float

    def __post_init__(self) -> None:
        if self.topology not in ASTRA_TOPOLOGIES:
            raise ValueError(f"topology must be one of {', '.join(ASTRA_TOPOLOGIES)}, "
                             f"got {self.topology!r}")
        if self.npus_count < 1 or self.bandwidth_gb_per_s <= 0 or self.latency_ns < 0:
            raise ValueError("npus_count must be >= 1, bandwidth > 0 and latency >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class AstraNetwork:
    """An ASTRA-sim analytical network: its dimensions, innermost first."""

    dims: tuple[AstraDimension, ...]

    @property
    def num_npus(self) -> int:
        """NPUs in the network: the product of the dimensions' counts."""
        total = 1
        for dim in self.dims:
            total *= dim.npus_count
        return total


def _worst_latency_s(G: nx.DiGraph, sources: list[str], targets: set[str],
                     allowed: set[str]) -> float:
    H = G.subgraph(allowed)
    worst = 0.0
    for source in sources:
        lengths = nx.single_source_dijkstra_path_length(H, source, weight="latency_s")
        found = [lengths[t] for t in targets if t in lengths and t != source]
        worst = max([worst, *found])
    return worst


def npu_order(G: nx.DiGraph, ranks: Sequence[str] | None = None) -> list[str]:
    """The GPUs that ASTRA-sim's NPUs 0, 1, ... stand for: ``ranks`` (a rank placement: GPU
    ids, one per rank; None = every GPU) ordered as its dimensions count them, the GPUs of one
    server consecutive (the innermost dimension), servers in order of their first rank.

    Raises
    ------
    ValueError
        No GPU, a rank that is not a GPU of ``G`` or named twice, or servers holding different
        numbers of the ranks (ASTRA-sim's dimensions need every server alike).
    """
    gpus = list(gpu_nodes(G)) if ranks is None else list(ranks)
    if not gpus:
        raise ValueError("the fabric has no GPU to export")
    for g in gpus:
        if g not in G or G.nodes[g].get("kind") != "gpu":
            raise ValueError(f"rank {g!r} is not a GPU of this fabric")
    if len(set(gpus)) != len(gpus):
        raise ValueError("the placement names a GPU twice")
    by_node: dict[object, list[str]] = {}
    for g in gpus:
        by_node.setdefault(G.nodes[g]["node"], []).append(g)
    sizes = {len(v) for v in by_node.values()}
    if len(sizes) != 1:
        raise ValueError(f"ASTRA-sim needs every server alike; this placement puts "
                         f"{', '.join(map(str, sorted(sizes)))} ranks on a server")
    return [g for group in by_node.values() for g in group]


def astra_network(G: nx.DiGraph, ranks: Sequence[str] | None = None) -> AstraNetwork:
    """The ASTRA-sim analytical network that stands for fabric ``G`` (see the module notes),
    for the GPUs of a rank placement (``ranks``; None = every GPU): its dimensions count the
    placed ranks per server and the servers they use (:func:`npu_order`).

    Raises
    ------
    ValueError
        As :func:`npu_order`, or servers without a scale-up link holding several ranks.
    """
    gpus = npu_order(G, ranks)
    per_node = Counter(G.nodes[g]["node"] for g in gpus)
    gpus_per_node = next(iter(per_node.values()))
    summary = summarize(G, exact_bisection=False)
    dims = []
    first_node = [g for g in gpus if G.nodes[g]["node"] == G.nodes[gpus[0]]["node"]]
    tier0 = {n for n, d in G.nodes(data=True) if d["kind"] == "switch" and d["tier"] == 0}
    network = {n for n, d in G.nodes(data=True)
               if not (d["kind"] == "switch" and d["tier"] == 0)}
    if gpus_per_node > 1:
        scaleup_bw = summary.scaleup_bandwidth_bytes_per_s
        if scaleup_bw <= 0:
            raise ValueError("the GPUs of a server have no scale-up link: ASTRA-sim would need "
                             "one dimension per server; export a fabric with an NVLink domain")
        latency = _worst_latency_s(G, first_node[:1], set(first_node),
                                   set(first_node) | tier0)
        dims.append(AstraDimension(
            topology="Switch" if tier0 else "FullyConnected", npus_count=gpus_per_node,
            bandwidth_gb_per_s=units.bytes_per_s_to_gb_per_s(scaleup_bw),
            latency_ns=latency * 1e9))
    num_nodes = len(per_node)
    if num_nodes > 1:
        others = {g for g in gpus if G.nodes[g]["node"] != G.nodes[gpus[0]]["node"]}
        latency = _worst_latency_s(G, gpus[:1], others, network)
        dims.append(AstraDimension(
            topology="Switch", npus_count=num_nodes,
            bandwidth_gb_per_s=units.bytes_per_s_to_gb_per_s(
                summary.injection_bandwidth_bytes_per_s),
            latency_ns=latency * 1e9))
    if not dims:
        raise ValueError("a fabric of one GPU has no network to export")
    return AstraNetwork(dims=tuple(dims))


def astra_yaml(G: nx.DiGraph, ranks: Sequence[str] | None = None) -> str:
    """The ASTRA-sim analytical network YAML of ``G`` (for the GPUs of ``ranks``, a rank
    placement; None = every GPU), with its simplifications as comments; with ``ranks``, the
    GPU each NPU stands for is listed too (:func:`npu_order`)."""
    net = astra_network(G, ranks)

    def row(values: list[str]) -> str:
        return "[ " + ", ".join(values) + " ]"

    name = G.graph.get("name") or G.graph.get("topology", "fabric")
    lines = [f"# ASTRA-sim analytical network of {name} ({net.num_npus} NPUs), written by "
             f"fabric-modeler", "# Simplifications the format forces:"]
    lines += [f"#   - {s}" for s in ASTRA_SIMPLIFICATIONS]
    if ranks is not None:
        lines.append("# NPU -> GPU of the fabric (the rank placement):")
        lines += [f"#   {i}: {g}" for i, g in enumerate(npu_order(G, ranks))]
    lines += [
        f"topology: {row([d.topology for d in net.dims])}",
        f"npus_count: {row([str(d.npus_count) for d in net.dims])}",
        f"bandwidth: {row([f'{d.bandwidth_gb_per_s:.3f}' for d in net.dims])}  # GB/s",
        f"latency: {row([f'{d.latency_ns:.2f}' for d in net.dims])}  # ns",
    ]
    return "\n".join(lines) + "\n"


def read_astra_yaml(text: str) -> AstraNetwork:
    """Read an ASTRA-sim analytical network YAML back (its documented keys only).

    Raises
    ------
    ValueError
        A missing key, lists of different lengths, or a value outside the schema.
    """
    data = yaml.safe_load(text)
    keys = ("topology", "npus_count", "bandwidth", "latency")
    if not isinstance(data, dict) or any(not isinstance(data.get(k), list) for k in keys):
        raise ValueError(f"an ASTRA-sim network needs the lists {', '.join(keys)}")
    if len({len(data[k]) for k in keys}) != 1:
        raise ValueError("topology, npus_count, bandwidth and latency must have one entry "
                         "per dimension")
    return AstraNetwork(dims=tuple(
        AstraDimension(topology=t, npus_count=int(n), bandwidth_gb_per_s=float(b),
                       latency_ns=float(lat))
        for t, n, b, lat in zip(*(data[k] for k in keys), strict=True)))
