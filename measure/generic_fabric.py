"""A two-level fabric built from measurement records alone, and rank layouts of records.

A user with nothing but a benchmark log still gets a fabric to calibrate against: each host
is one node of ``gpus_per_host`` GPUs joined by a tier-0 switch (link key ``host-internal``,
one link per GPU), and every GPU has its own link (key ``network``) to one tier-1 network
switch that joins all hosts.

Design choice: one network link per GPU, not one NIC per host shared by its GPUs. It is the
layout of the servers the logs come from (DGX/HGX H100: one 400G NIC per GPU, the same
convention the project's builders use, ``shared/reference/topologies_capex.md``), it keeps
NCCL-style rail rings and PXN all-to-all one link per GPU in the model, and logs with one GPU
per host cannot tell the two apart. A shared NIC would cap a host's network bandwidth at one
link whatever its GPU count; if your data shows that, pass your own topology file instead.

Starting bandwidths come from the built-in catalog (H100: 18 NVLink4 links x 25 GB/s = 450
GB/s per direction inside a host; NDR 400G = 50 GB/s per GPU on the network) and are raised to
the best bus bandwidth the records show when those exceed them, so that the calibrated
efficiency of each link class stays inside the model's range (0, 1.5].

>>> G = generic_fabric(2, 8)
>>> sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu"), G.graph["topology"]
(16, 'generic-two-level')
>>> sorted({d["link"] for _, _, d in G.edges(data=True)})
['host-internal', 'network']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

from fabric.catalog import default_catalog
from fabric.graph import gpu_attrs, validate_graph
from measure.records import Record

__all__ = [
    "GENERIC_TOPOLOGY",
    "HOST_LINK",
    "NETWORK_LINK",
    "RankLayout",
    "rank_layouts",
    "generic_fabric",
    "generic_fabric_from_records",
    "gpus_for_layout",
]

GENERIC_TOPOLOGY = "generic-two-level"
HOST_LINK = "host-internal"
NETWORK_LINK = "network"
_Edge = tuple[str, str, dict[str, object]]
_HOST_SWITCH_MODEL = "generic-host-switch"
_NETWORK_SWITCH_MODEL = "generic-network-switch"


def _defaults() -> tuple[float, float, float, float]:
    """(host bandwidth, host latency, network bandwidth, network latency) from the catalog."""
    cat = default_catalog()
    nvlink, nvswitch, ndr, leaf = (cat.links["nvlink4"], cat.switches["nvswitch-h100"],
                                   cat.links["ndr400"], cat.switches["qm9700"])
    host_bw = nvlink.bandwidth_bytes_per_s * cat.gpus["h100"].nvlink_num_links
    return (host_bw, nvlink.latency_s + nvswitch.latency_s, ndr.bandwidth_bytes_per_s,
            ndr.latency_s + leaf.latency_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class RankLayout:
    """Where the ranks of one record ran.

    ``rank_hosts[r]`` is the host index of rank r (hosts numbered in order of first appearance
    over all records of the call, so the same host name is the same index); ``rank_locals[r]``
    is the rank's position among its host's ranks. ``known`` is False when the record named no
    hosts and the layout was inferred from ``num_hosts`` / ``ranks_per_host``.
    """

    rank_hosts: tuple[int, ...]
    rank_locals: tuple[int, ...]
    known: bool

    @property
    def num_hosts(self) -> int:
        """Distinct hosts of the record."""
        return len(set(self.rank_hosts))

    @property
    def gpus_per_host(self) -> int:
        """Most ranks on one host."""
        return max(self.rank_locals) + 1


def _inferred(record: Record) -> tuple[list[int], bool]:
    n, h = record.num_ranks, record.num_hosts
    per = record.ranks_per_host or (n // h if n % h == 0 else 0)
    if per <= 0 or per * h < n:
        raise ValueError(f"cannot lay out {n} ranks on {h} hosts (ranks_per_host "
                         f"{record.ranks_per_host}); give host names or a ranks_per_host that fits")
    return [r // per for r in range(n)], False


def rank_layouts(records: Sequence[Record]) -> list[RankLayout]:
    """The :class:`RankLayout` of every record, host indices shared across records.

    Records with ``hosts`` (one host name per rank, as nccl-tests ``Rank r ... on HOST`` lines
    give) are laid out exactly; records without (OSU, IMB) put ranks on hosts
    ``0..num_hosts-1`` in blocks of ``ranks_per_host`` (or ``num_ranks / num_hosts``).

    Raises
    ------
    ValueError
        A record whose ``hosts`` list does not have ``num_ranks`` names, or whose ranks cannot
        be laid out on ``num_hosts`` hosts.

    Examples
    --------
    >>> a = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2, num_hosts=2,
    ...            hosts=["b", "c"])
    >>> b = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2, num_hosts=1,
    ...            hosts=["c", "c"])
    >>> [(x.rank_hosts, x.rank_locals) for x in rank_layouts([a, b])]
    [((0, 1), (0, 0)), ((1, 1), (0, 1))]
    """
    names: dict[str, int] = {}
    out = []
    for record in records:
        if record.hosts:
            if len(record.hosts) != record.num_ranks:
                raise ValueError(f"a record lists {len(record.hosts)} host names for "
                                 f"{record.num_ranks} ranks; expected one per rank")
            hosts = [names.setdefault(str(h), len(names)) for h in record.hosts]
            known = True
        else:
            hosts, known = _inferred(record)
        seen: dict[int, int] = {}
        locals_ = []
        for h in hosts:
            locals_.append(seen.get(h, 0))
            seen[h] = seen.get(h, 0) + 1
        out.append(RankLayout(rank_hosts=tuple(hosts), rank_locals=tuple(locals_), known=known))
    return out


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
        Per GPU, per direction; None for the catalog's H100 figures (450e9 NVLink4 x 18,
        50e9 NDR 400G).

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{h}/gpu{g}"`` (``kind="gpu"``, ``model="h100"``, ``node``, ``local``,
        ``rail`` = ``local``); host switches ``"node{h}/host-switch"`` (tier 0, radix
        ``gpus_per_host``); the network switch ``"network"`` (tier 1, radix = all GPUs). Edges
        GPU-host switch carry link ``host-internal``, GPU-network switch ``network``, one link
        each. ``G.graph``: ``topology="generic-two-level"``, ``params`` (the call) and
        ``catalog``.

    Raises
    ------
    ValueError
        A count < 1 or a bandwidth <= 0.

    Examples
    --------
    >>> G = generic_fabric(1, 8)
    >>> G.nodes["node0/host-switch"]["radix"], G.out_degree("node0/gpu0")
    (8, 2)
    """
    for name, value in (("num_hosts", num_hosts), ("gpus_per_host", gpus_per_host)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    host_bw, host_lat, net_bw, net_lat = _defaults()
    if host_bandwidth_bytes_per_s is not None:
        host_bw = float(host_bandwidth_bytes_per_s)
    if network_bandwidth_bytes_per_s is not None:
        net_bw = float(network_bandwidth_bytes_per_s)
    for label, bw in (("host_bandwidth_bytes_per_s", host_bw),
                      ("network_bandwidth_bytes_per_s", net_bw)):
        if not bw > 0 or bw == float("inf"):
            raise ValueError(f"{label} must be a finite number > 0, got {bw!r}")
    G = nx.DiGraph()
    G.graph.update(topology=GENERIC_TOPOLOGY, catalog=default_catalog().version, params={
        "num_hosts": num_hosts, "gpus_per_host": gpus_per_host,
        "host_bandwidth_bytes_per_s": host_bw, "network_bandwidth_bytes_per_s": net_bw})
    gpus = [(f"node{h}/gpu{g}", h, g) for h in range(num_hosts) for g in range(gpus_per_host)]
    G.add_nodes_from((gid, gpu_attrs("h100", h, g, rail=g)) for gid, h, g in gpus)
    edges = []
    if gpus_per_host > 1:
        G.add_nodes_from((f"node{h}/host-switch", {"kind": "switch", "tier": 0,
                                                   "model": _HOST_SWITCH_MODEL,
                                                   "radix": gpus_per_host, "node": h})
                         for h in range(num_hosts))
        edges += _cable(gpus, lambda h: f"node{h}/host-switch", host_bw, host_lat, HOST_LINK)
    G.add_node("network", kind="switch", tier=1, model=_NETWORK_SWITCH_MODEL, radix=len(gpus))
    edges += _cable(gpus, lambda h: "network", net_bw, net_lat, NETWORK_LINK)
    G.add_edges_from(edges)
    return validate_graph(G)


def _cable(gpus: list[tuple[str, int, int]], switch_of: Callable[[int], str],
           bandwidth_bytes_per_s: float, latency_s: float, link: str) -> list[_Edge]:
    out: list[_Edge] = []
    for gid, h, _ in gpus:
        sw = switch_of(h)
        attrs = {"bandwidth_bytes_per_s": bandwidth_bytes_per_s, "num_links": 1, "link": link}
        out.append((gid, sw, {**attrs, "latency_s": latency_s}))
        out.append((sw, gid, {**attrs, "latency_s": latency_s}))
    return out


def generic_fabric_from_records(records: Sequence[Record]) -> nx.DiGraph:
    """The :func:`generic_fabric` that holds every record's ranks, bandwidths fitted to the data.

    Hosts = distinct hosts over all records; GPUs per host = most ranks any record put on one
    host. Each link class starts at the catalog figure, raised to the highest bus bandwidth
    (nccl-tests' busbw) of the records that use it (one-host records: ``host-internal``;
    multi-host records with one rank per host: ``network``) when that is higher.

    Raises
    ------
    ValueError
        No records, or a record that cannot be laid out (:func:`rank_layouts`).

    Examples
    --------
    >>> r = Record(operation="all-to-all", size_bytes=2**20, time_s=1e-4, num_ranks=2,
    ...            num_hosts=2, hosts=["a", "b"])
    >>> generic_fabric_from_records([r]).graph["params"]["num_hosts"]
    2
    """
    if not records:
        raise ValueError("records must hold at least one record")
    layouts = rank_layouts(records)
    num_hosts = max(max(x.rank_hosts) for x in layouts) + 1
    per_host = max(x.gpus_per_host for x in layouts)
    host_bw, _, net_bw, _ = _defaults()
    for record, layout in zip(records, layouts, strict=True):
        if record.size_bytes <= 0:
            continue
        busbw = record.busbw_bytes_per_s
        if layout.num_hosts == 1:
            host_bw = max(host_bw, busbw)
        elif layout.gpus_per_host == 1:
            net_bw = max(net_bw, busbw)
    return generic_fabric(num_hosts, per_host, host_bandwidth_bytes_per_s=host_bw,
                          network_bandwidth_bytes_per_s=net_bw)


def gpus_for_layout(G: nx.DiGraph, layout: RankLayout) -> list[str]:
    """GPU ids of ``G`` for a layout: host index i -> the i-th node of ``G`` (GPU ``node``
    attribute, in the graph's GPU order), local index j -> that node's j-th GPU.

    Raises
    ------
    ValueError
        ``G`` has too few nodes, or a node too few GPUs, for the layout.

    Examples
    --------
    >>> G = generic_fabric(2, 4)
    >>> gpus_for_layout(G, RankLayout(rank_hosts=(0, 1), rank_locals=(0, 0), known=True))
    ['node0/gpu0', 'node1/gpu0']
    """
    by_node: dict[object, list[str]] = {}
    for n, data in G.nodes(data=True):
        if data.get("kind") == "gpu":
            by_node.setdefault(data.get("node", 0), []).append(n)
    nodes = list(by_node.values())
    out = []
    for h, j in zip(layout.rank_hosts, layout.rank_locals, strict=True):
        if h >= len(nodes):
            raise ValueError(f"the records need {max(layout.rank_hosts) + 1} hosts; the fabric "
                             f"has {len(nodes)} nodes")
        if j >= len(nodes[h]):
            raise ValueError(f"the records put {layout.gpus_per_host} ranks on one host; node {h} "
                             f"of the fabric has {len(nodes[h])} GPUs")
        out.append(nodes[h][j])
    return out
