"""The generic two-level fabric: hosts of GPUs on a tier-0 switch, every GPU on one network switch.

A user with nothing but a benchmark log still gets a fabric to calibrate against
(:func:`measure.generic_fabric.generic_fabric_from_records` sizes this one from the log): each
host is one node of ``gpus_per_host`` GPUs joined by a tier-0 switch (link key
:data:`fabric.links.HOST_LINK`, one link per GPU), and every GPU has its own link (key
:data:`fabric.links.NETWORK_LINK`) to one tier-1 network switch that joins all hosts. It is not a
topology family (:mod:`topologies.registry`): its switches are not catalog models and it has no
price, so it is built only here.

Design choice: one network link per GPU, not one NIC per host shared by its GPUs. It is the
layout of the servers the logs come from (DGX/HGX H100: eight single-port 400G ConnectX-7 for
eight GPUs, the convention the project's builders use; NVIDIA DGX BasePOD reference
architecture, "Core Components"), it keeps NCCL-style rail rings and PXN all-to-all one link
per GPU in the model, and logs with one GPU per host cannot tell the two apart. A shared NIC
would cap a host's network bandwidth at one link whatever its GPU count; if your data shows
that, pass your own topology file instead. DGX BasePOD:
https://docs.nvidia.com/dgx-basepod/reference-architecture-infrastructure-foundation-enterprise-ai/latest/core-components.html

Default bandwidths come from the built-in catalog (H100: 18 NVLink4 links x 25 GB/s = 450
GB/s per direction inside a host; NDR 400G = 50 GB/s per GPU on the network).

>>> G = generic_fabric(2, 8)
>>> sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu"), G.graph["topology"]
(16, 'generic-two-level')
>>> sorted({d["link"] for _, _, d in G.edges(data=True)})
['host-internal', 'network']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabric.catalog import default_catalog
from fabric.graph import FabricGraph, gpu_attrs, validate_graph
from fabric.links import HOST_LINK, NETWORK_LINK

__all__ = [
    "GENERIC_TOPOLOGY",
    "HOST_SWITCH_MODEL",
    "NETWORK_SWITCH_MODEL",
    "GenericLinks",
    "generic_links",
    "generic_fabric",
]

#: ``G.graph["topology"]`` of the generic fabric.
GENERIC_TOPOLOGY = "generic-two-level"
#: ``model`` of the tier-0 host switches (not a catalog key).
HOST_SWITCH_MODEL = "generic-host-switch"
#: ``model`` of the one network switch (not a catalog key).
NETWORK_SWITCH_MODEL = "generic-network-switch"

_Edge = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericLinks:
    """The generic fabric's default links, per GPU and per direction.

    Attributes
    ----------
    host_bandwidth_bytes_per_s, host_latency_s
        A GPU's link to its host switch (``host-internal``).
    network_bandwidth_bytes_per_s, network_latency_s
        A GPU's link to the network switch (``network``).
    """

    host_bandwidth_bytes_per_s: float
    host_latency_s: float
    network_bandwidth_bytes_per_s: float
    network_latency_s: float


def generic_links() -> GenericLinks:
    """The default links of the generic fabric, from the built-in catalog.

    Host: an H100's 18 NVLink4 links (``nvlink4`` bandwidth x ``nvlink_num_links``), latency of
    the NVLink cable plus the H100 NVSwitch. Network: NDR 400G (``ndr400``), latency of the cable
    plus a QM9700 switch.

    >>> links = generic_links()
    >>> links.host_bandwidth_bytes_per_s, links.network_bandwidth_bytes_per_s
    (450000000000.0, 50000000000.0)
    """
    cat = default_catalog()
    nvlink, nvswitch = cat.links["nvlink4"], cat.switches["nvswitch-h100"]
    ndr, leaf = cat.links["ndr400"], cat.switches["qm9700"]
    return GenericLinks(
        host_bandwidth_bytes_per_s=nvlink.bandwidth_bytes_per_s * cat.gpus["h100"].nvlink_num_links,
        host_latency_s=nvlink.latency_s + nvswitch.latency_s,
        network_bandwidth_bytes_per_s=ndr.bandwidth_bytes_per_s,
        network_latency_s=ndr.latency_s + leaf.latency_s,
    )


def generic_fabric(num_hosts: int, gpus_per_host: int, *,
                   host_bandwidth_bytes_per_s: float | None = None,
                   network_bandwidth_bytes_per_s: float | None = None) -> nx.DiGraph:
    """Return the generic two-level fabric: hosts of GPUs on a tier-0 switch, one network switch.

    Parameters
    ----------
    num_hosts : int
        Hosts (servers), >= 1.
    gpus_per_host : int
        GPUs per host, >= 1; with 1 there is no host switch.
    host_bandwidth_bytes_per_s, network_bandwidth_bytes_per_s : float or None
        Per GPU, per direction; None for :func:`generic_links`' (the catalog's H100 figures:
        450e9 NVLink4 x 18, 50e9 NDR 400G).

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{h}/gpu{g}"`` (``kind="gpu"``, ``model="h100"``, ``node``, ``local``,
        ``rail`` = ``local``); host switches ``"node{h}/host-switch"`` (tier 0, model
        :data:`HOST_SWITCH_MODEL`, radix ``gpus_per_host``, ``node``); the network switch
        ``"network"`` (tier 1, model :data:`NETWORK_SWITCH_MODEL`, radix = all GPUs). Edges
        GPU-host switch carry link ``host-internal``, GPU-network switch ``network``, one link
        each, latencies from :func:`generic_links`. ``G.graph``: ``topology="generic-two-level"``,
        ``params`` (the call, bandwidths filled in) and ``catalog``.

    Raises
    ------
    ValueError
        A count < 1 or a bandwidth that is not a finite number > 0.

    Examples
    --------
    >>> G = generic_fabric(1, 8)
    >>> G.nodes["node0/host-switch"]["radix"], G.out_degree("node0/gpu0")
    (8, 2)
    """
    for name, value in (("num_hosts", num_hosts), ("gpus_per_host", gpus_per_host)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    links = generic_links()
    host_bw = links.host_bandwidth_bytes_per_s
    net_bw = links.network_bandwidth_bytes_per_s
    if host_bandwidth_bytes_per_s is not None:
        host_bw = float(host_bandwidth_bytes_per_s)
    if network_bandwidth_bytes_per_s is not None:
        net_bw = float(network_bandwidth_bytes_per_s)
    for label, bw in (("host_bandwidth_bytes_per_s", host_bw),
                      ("network_bandwidth_bytes_per_s", net_bw)):
        if not bw > 0 or bw == float("inf"):
            raise ValueError(f"{label} must be a finite number > 0, got {bw!r}")
    G = FabricGraph()
    G.graph.update(topology=GENERIC_TOPOLOGY, catalog=default_catalog().version, params={
        "num_hosts": num_hosts, "gpus_per_host": gpus_per_host,
        "host_bandwidth_bytes_per_s": host_bw, "network_bandwidth_bytes_per_s": net_bw})
    gpus = [(f"node{h}/gpu{g}", h, g) for h in range(num_hosts) for g in range(gpus_per_host)]
    G.add_nodes_from((gid, gpu_attrs("h100", h, g, rail=g)) for gid, h, g in gpus)
    edges: list[_Edge] = []
    if gpus_per_host > 1:
        G.add_nodes_from((f"node{h}/host-switch", {"kind": "switch", "tier": 0,
                                                   "model": HOST_SWITCH_MODEL,
                                                   "radix": gpus_per_host, "node": h})
                         for h in range(num_hosts))
        edges += _cables(gpus, lambda h: f"node{h}/host-switch", host_bw, links.host_latency_s,
                         HOST_LINK)
    G.add_node("network", kind="switch", tier=1, model=NETWORK_SWITCH_MODEL, radix=len(gpus))
    edges += _cables(gpus, lambda h: "network", net_bw, links.network_latency_s, NETWORK_LINK)
    G.add_edges_from(edges)
    return validate_graph(G)


def _cables(gpus: list[tuple[str, int, int]], switch_of: Callable[[int], str],
            bandwidth_bytes_per_s: float, latency_s: float, link: str) -> Iterator[_Edge]:
    """Both directions of one cable from every GPU to ``switch_of(its host)``."""
    for gid, h, _ in gpus:
        sw = switch_of(h)
        attrs = {"bandwidth_bytes_per_s": bandwidth_bytes_per_s, "num_links": 1, "link": link}
        yield gid, sw, {**attrs, "latency_s": latency_s}
        yield sw, gid, {**attrs, "latency_s": latency_s}
