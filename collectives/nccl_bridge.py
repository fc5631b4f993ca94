"""The NCCL flavor on a fabric graph: NCCL's tuner fed with what the graph says.

:mod:`collectives.nccl` ports NCCL's tuner for a described system. This module describes the
system from the graph and the placement:

* ranks per scale-up domain -> NCCL's nodes and ``ppn`` (ranks must fill domains evenly);
* the GPU model -> NCCL's GPU generation (H100/H200 hopper, B200 blackwell, ...);
* a GPU's NVLink edge (bandwidth x num_links) -> the NVLink bandwidth NCCL's search sees;
* a GPU's scale-out edge -> the NIC rate, one NIC per GPU;
* NVSwitch with in-network reduction -> NVLS available; SHARP (CollNet) stays off, as it is in
  NCCL unless ``NCCL_COLLNET_ENABLE=1``;
* the fabric: NCCL's graph search assumes every NIC can run at line rate. The ideal flavor's ring
  on this fabric and placement tells how far the network falls short of that (oversubscription,
  rails crossed through spines): ``fabric_factor`` = (busiest GPU NIC load) / (busiest network
  link load, each over its capacity), at most 1, and NCCL's per-channel ``bwInter`` is scaled by
  it. On a non-blocking, rail-aligned fabric the factor is 1 and NCCL's own numbers stand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

import networkx as nx
import numpy as np

from collectives import nccl
from collectives.bounds import bandwidth_lower_bound_s
from collectives.calibration import check_calibration
from collectives.communicator import PlacedRanks, communicator, placed_ranks
from collectives.names import busbw_factor, canonical
from collectives.registry import phases, reduces_in_network
from collectives.results import Prediction
from fabric.routing import FabricIndex, fabric_index

__all__ = [
    "NCCL_PARAMETERS",
    "predict_nccl",
    "nccl_system",
    "calibrated_system",
    "fabric_factor",
]

_ARCH = {
    "h100": "hopper",
    "h200": "hopper",
    "b200": "blackwell",
    "b300": "blackwell",
    "gb200": "blackwell",
    "a100": "ampere",
    "l40s": "ampere",
    "v100": "volta",
}


def fabric_factor(
    on: PlacedRanks,
    *,
    collective: str = "all-reduce",
    algorithm: str = "ring",
) -> float:
    """How much of NCCL's assumed inter-node bandwidth the fabric delivers (<= 1).

    Computed on the ideal flavor's phases of ``algorithm`` (a ring for the tuned collectives,
    the direct exchange for all-to-all; :func:`collectives.registry.phases`).
    """
    index = on.index
    steps = phases(on, collective, algorithm)
    network = index.transit[index.edge_src] | index.transit[index.edge_dst]
    nic = network & (index.is_gpu[index.edge_src] | index.is_gpu[index.edge_dst])
    worst_net = worst_nic = 0.0
    for ph in steps:
        ratio = ph.load / index.edge_capacity_bytes_per_s[ph.edges]
        on_net = network[ph.edges]
        on_nic = nic[ph.edges]
        if on_net.any():
            worst_net = max(worst_net, float(ratio[on_net].max()))
        if on_nic.any():
            worst_nic = max(worst_nic, float(ratio[on_nic].max()))
    if worst_net <= 0 or worst_nic <= 0:
        return 1.0
    return min(1.0, worst_nic / worst_net)


def nccl_system(G: nx.DiGraph, ranks: Sequence[str]) -> tuple[nccl.NcclSystem, float]:
    """The :class:`collectives.nccl.NcclSystem` a placement on ``G`` presents, and its fabric
    factor.

    Raises
    ------
    ValueError
        If ranks do not fill the scale-up domains evenly (NCCL's model needs equal ``ppn``).
    """
    index = fabric_index(G)
    memo = cast("dict[tuple[str, ...], tuple[nccl.NcclSystem, float]]",
                index.memo.setdefault(_SYSTEM_KEY, {}))
    key = tuple(ranks)
    found = memo.get(key)
    if found is None:
        found = _nccl_system(G, index, ranks)
        if len(memo) >= 256:
            memo.clear()
        memo[key] = found
    return found


_SYSTEM_KEY = (__name__, "nccl system")


def _nccl_system(G: nx.DiGraph, index: FabricIndex, ranks: Sequence[str]
                 ) -> tuple[nccl.NcclSystem, float]:
    """:func:`nccl_system`, computed (memoized per fabric index and ranks: a calibration's fit
    asks for it at every parameter vector, and its fabric factor routes an all-to-all)."""
    comm = communicator(index, ranks)
    on = PlacedRanks(G=G, index=index, comm=comm)
    sizes = {len(g) for g in comm.groups}
    if len(sizes) != 1:
        raise ValueError(
            "the nccl flavor needs the same number of ranks in every server "
            f"(got {sorted(sizes)}); use --flavor ideal or another placement"
        )
    ppn = sizes.pop()
    first = comm.pos[0]
    gpu_model = str(G.nodes[index.nodes[first]].get("model", "h100")).lower()
    arch = next((a for key, a in _ARCH.items() if gpu_model.startswith(key)), "hopper")
    up = index.up_edge[first]
    nvlink = float(index.edge_capacity_bytes_per_s[up]) if up >= 0 else None
    out = index.out_edges_of.get(int(first))
    nic = float(index.edge_capacity_bytes_per_s[out].sum()) if out is not None else 0.0
    nvls = bool(up >= 0) and reduces_in_network(G, index.nodes[index.edge_dst[up]])
    system = nccl.NcclSystem(
        num_ranks=comm.n,
        num_nodes=len(comm.groups),
        gpu_arch=arch,
        nvlink_bandwidth_bytes_per_s=nvlink if ppn > 1 else None,
        nic_bandwidth_bytes_per_s=nic,
        nics_per_node=ppn if nic > 0 else 0,
        intra="nvlink" if nvlink else "pci",
        nvls=nvls and ppn > 1,
        nvswitch=nvlink is not None,
    )
    factor = fabric_factor(on) if len(comm.groups) > 1 else 1.0
    return system, factor


NCCL_PARAMETERS = ("bw_intra_scale", "bw_inter_scale", "net_latency_s", "latency_scale",
                   "launch_s")


def calibrated_system(
    G: nx.DiGraph,
    ranks: Sequence[str],
    values: Mapping[str, float] | None = None,
    *,
    collective: str = "all-reduce",
    version: str = nccl.DEFAULT_VERSION,
) -> nccl.NcclSystem:
    """The NCCL system of a placement with the fabric factor and calibrated figures applied.

    ``values`` (from a calibration of the nccl flavor, :mod:`measure.calibrate_nccl`) scale the
    per-channel bandwidths NCCL's search finds (``bw_intra_scale``, ``bw_inter_scale``) and every
    latency of NCCL's table (``latency_scale``), add a cost per call to each
    (``launch_s``), and set the net plugin's latency (``net_latency_s``); missing keys are
    neutral (1, 1, 0, 1, 0). The
    fabric factor (module docstring) scales the inter-node bandwidth: of the ring for tuned
    collectives, of the NICs for all-to-all.
    """
    values = dict(values or {})
    unknown = set(values) - set(NCCL_PARAMETERS)
    if unknown:
        raise ValueError(f"unknown nccl calibration value(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(NCCL_PARAMETERS)}")
    system, factor = nccl_system(G, ranks)
    intra = values.get("bw_intra_scale", 1.0)
    inter = values.get("bw_inter_scale", 1.0)
    latency = values.get("net_latency_s", 0.0)
    overrides: dict[str, object] = {}
    if values.get("latency_scale", 1.0) != 1.0:
        overrides["latency_scale"] = values["latency_scale"]
    if values.get("launch_s", 0.0) != 0.0:
        overrides["launch_s"] = values["launch_s"]
    if collective == "all-to-all":
        if system.num_nodes > 1:
            index = fabric_index(G)
            on = PlacedRanks(G=G, index=index, comm=communicator(index, ranks))
            a2a = fabric_factor(on, collective="all-to-all", algorithm="direct")
            overrides["nic_bandwidth_bytes_per_s"] = system.nic_bandwidth_bytes_per_s * min(
                a2a, 1.0) * inter
    elif intra != 1.0 or (system.num_nodes > 1 and (factor < 1.0 or inter != 1.0)):
        ring = nccl.search_graphs(system, version=version).graphs.get("Ring")
        if ring is not None:
            overrides["num_channels"] = ring.num_channels
            overrides["bw_intra_bytes_per_s"] = ring.bw_intra_bytes_per_s * intra
            if system.num_nodes > 1:
                overrides["bw_inter_bytes_per_s"] = ring.bw_inter_bytes_per_s * factor * inter
    if latency:
        overrides["net_latency_s"] = latency
    return replace(system, **overrides) if overrides else system  # type: ignore[arg-type]


def predict_nccl(
    G: nx.DiGraph,
    collective: str,
    sizes: Sequence[int],
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    calibration: object | None = None,
    seed: int = 0,
    version: str | None = None,
) -> list[Prediction]:
    """NCCL-flavored predictions (see the module docstring).

    The contract is :func:`collectives.predict.predict_many`'s (call that). ``algorithm`` takes
    NCCL's names (Ring, Tree, NVLS, NVLSTree, CollNetDirect, PAT), and ``ring``/``tree`` in any
    case. ``calibration`` must be a :class:`~collectives.calibration.ModelCalibration` of the nccl
    flavor; its values (``calibration.nccl``: :data:`NCCL_PARAMETERS`) are applied, with its NCCL
    version unless ``version`` is given.
    """
    collective = canonical(collective)
    cal = check_calibration(calibration, flavor="nccl")
    version = version or (cal.nccl_version if cal is not None else "") or nccl.DEFAULT_VERSION
    on = placed_ranks(G, ranks, placement, seed=seed)
    chosen = list(on.comm.ranks)
    values = dict(cal.nccl) if cal is not None else {}
    system = calibrated_system(G, chosen, values, collective=collective, version=version)
    _, factor = nccl_system(G, chosen)
    if collective == "all-to-all" and system.num_nodes > 1:
        factor = min(1.0, fabric_factor(on, collective="all-to-all", algorithm="direct"))
    comm = on.comm
    out = []
    for size in sizes:
        p = nccl.nccl_time(system, collective, size, version=version, algorithm=algorithm)
        low, high = cal.band(p.time_s) if cal is not None else (p.time_s, p.time_s)
        bound = bandwidth_lower_bound_s(on.index, comm, collective, size)
        out.append(
            Prediction(
                collective=collective,
                size_bytes=size,
                num_ranks=comm.n,
                num_domains=len(comm.groups),
                time_s=p.time_s,
                algbw_bytes_per_s=p.algbw_bytes_per_s,
                busbw_bytes_per_s=p.algbw_bytes_per_s * busbw_factor(collective, comm.n),
                algorithm=p.algorithm,
                protocol=p.protocol,
                flavor=f"nccl-{p.table_version}",
                latency_s=p.latency_s,
                bottleneck=f"network (fabric factor {factor:.2f})" if factor < 1 else "",
                bottleneck_utilization=float(np.clip((p.time_s - p.latency_s) / p.time_s, 0, 1)),
                bound_ratio=p.time_s / bound if bound > 0 else float("nan"),
                bytes_sent_per_rank=float("nan"),
                time_low_s=low,
                time_high_s=high,
            )
        )
    return out
