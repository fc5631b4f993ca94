"""Rank layouts of measurement records, and the generic fabric that holds them.

A user with nothing but a benchmark log still gets a fabric to calibrate against:
:func:`generic_fabric_from_records` builds :func:`topologies.generic.generic_fabric` (hosts of
GPUs on a tier-0 switch, every GPU on one network switch; link classes ``host-internal`` and
``network`` of :mod:`fabric.links`) with as many hosts and GPUs per host as the records used.

Starting bandwidths come from the built-in catalog (:func:`topologies.generic.generic_links`) and
are raised to the best bus bandwidth the records show when those exceed them, so that the
calibrated efficiency of each link class stays inside the model's range (0, 1.5].

>>> r = Record(operation="all-reduce", size_bytes=2**20, time_s=1e-4, num_ranks=16, num_hosts=2,
...            ranks_per_host=8)
>>> G = generic_fabric_from_records([r])
>>> sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu"), G.graph["topology"]
(16, 'generic-two-level')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from measure.records import Record
from topologies.generic import generic_fabric, generic_links

__all__ = [
    "RankLayout",
    "rank_layouts",
    "generic_fabric_from_records",
    "gpus_for_layout",
]


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


def generic_fabric_from_records(records: Sequence[Record]) -> nx.DiGraph:
    """The :func:`topologies.generic.generic_fabric` that holds every record's ranks, bandwidths
    fitted to the data.

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
    links = generic_links()
    host_bw, net_bw = links.host_bandwidth_bytes_per_s, links.network_bandwidth_bytes_per_s
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
