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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from fabric.catalog import default_catalog, gpu_of_device
from measure.records import Record
from topologies.generic import (
    GENERIC_TOPOLOGY,
    ClusterDescription,
    cluster_links,
    cluster_of_params,
    generic_fabric,
    generic_links,
    rebuild_generic_fabric,
)

__all__ = [
    "RankLayout",
    "rank_layouts",
    "generic_fabric_from_records",
    "generic_fabric_for_records",
    "undescribed_network_note",
    "device_note",
    "with_cluster",
    "cluster_of_records",
    "LayoutGpus",
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


def generic_fabric_from_records(records: Sequence[Record], *,
                                cluster: ClusterDescription | None = None) -> nx.DiGraph:
    """The :func:`topologies.generic.generic_fabric` that holds every record's ranks, bandwidths
    fitted to the data.

    Hosts = distinct hosts over all records; GPUs per host = most ranks any record put on one
    host. Each link class starts at the catalog figure (the described ``cluster``'s, or the
    H100 / NDR 400G defaults), raised to the highest bus bandwidth (nccl-tests' busbw) of the
    records that use it (one-host records: ``host-internal``; multi-host records with one rank
    per host: a GPU's ``network`` share) when that is higher.

    Parameters
    ----------
    records : sequence of Record
        The measurements.
    cluster : ClusterDescription or None
        What the servers are (GPU, NICs, peer-to-peer); recorded in the graph's params so that
        :func:`generic_fabric_for_records` and
        :func:`topologies.generic.rebuild_generic_fabric` rebuild the same servers.

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
    _check_cluster(cluster)
    if not records:
        raise ValueError("records must hold at least one record")
    layouts = rank_layouts(records)
    num_hosts = max(max(x.rank_hosts) for x in layouts) + 1
    per_host = max(x.gpus_per_host for x in layouts)
    if cluster is None:
        links = generic_links()
        host_bw, net_bw = links.host_bandwidth_bytes_per_s, links.network_bandwidth_bytes_per_s
    else:
        cl = cluster_links(cluster, per_host)
        host_bw, net_bw = cl.host_bandwidth_bytes_per_s, cl.network_bandwidth_per_gpu_bytes_per_s
    for record, layout in zip(records, layouts, strict=True):
        if record.size_bytes <= 0:
            continue
        busbw = record.busbw_bytes_per_s
        if layout.num_hosts == 1:
            host_bw = max(host_bw, busbw)
        elif layout.gpus_per_host == 1:
            net_bw = max(net_bw, busbw)
    return generic_fabric(num_hosts, per_host, host_bandwidth_bytes_per_s=host_bw,
                          network_bandwidth_bytes_per_s=net_bw, cluster=cluster)


def generic_fabric_for_records(records: Sequence[Record],
                               params: Mapping[str, Any]) -> nx.DiGraph:
    """The generic fabric a calibration was fitted on (its ``graph["params"]``), grown to hold
    ``records``: the same servers (cluster, recorded bandwidths) with as many hosts and GPUs per
    host as the records or the calibration used, whichever is more.

    For ``validate`` on a calibration's own generic fabric, and for carrying a calibration to
    another node count (:func:`topologies.generic.rebuild_generic_fabric`).

    Raises
    ------
    ValueError
        No records, a record that cannot be laid out, or params of another fabric.

    Examples
    --------
    >>> r = Record(operation="all-reduce", size_bytes=2**20, time_s=1e-4, num_ranks=32,
    ...            num_hosts=4, ranks_per_host=8)
    >>> a100 = ClusterDescription(gpu="a100", nic="hdr200", nics_per_node=4)
    >>> G = generic_fabric_from_records([r], cluster=a100)
    >>> r16 = Record(operation="all-reduce", size_bytes=2**20, time_s=1e-4, num_ranks=128,
    ...              num_hosts=16, ranks_per_host=8)
    >>> H = generic_fabric_for_records([r16], G.graph["params"])
    >>> H.graph["params"]["num_hosts"], H.graph["params"]["nic"]
    (16, 'hdr200')
    """
    if not records:
        raise ValueError("records must hold at least one record")
    layouts = rank_layouts(records)
    hosts = max(max(max(x.rank_hosts) + 1 for x in layouts), int(params.get("num_hosts", 1)))
    per = max(max(x.gpus_per_host for x in layouts), int(params.get("gpus_per_host", 1)))
    return rebuild_generic_fabric(params, num_hosts=hosts, gpus_per_host=per)


def undescribed_network_note(graph: Mapping[str, Any]) -> str:
    """One line when ``graph`` (a fabric's ``G.graph``, or a calibration's ``graph``) is a
    generic fabric whose network link was neither measured (one host) nor described (no NIC), so
    that it is the NDR 400G default; else ``""``.

    Examples
    --------
    >>> undescribed_network_note(generic_fabric(1, 8).graph)[:40]
    'the records ran on one host, so nothing '
    >>> G = generic_fabric(1, 8, cluster=ClusterDescription(nic="hdr200"))
    >>> undescribed_network_note(G.graph)
    ''
    """
    if graph.get("topology") != GENERIC_TOPOLOGY:
        return ""
    params = graph.get("params", {})
    if int(params.get("num_hosts", 1)) > 1 or params.get("nic"):
        return ""
    share = float(params.get("network_bandwidth_bytes_per_s", 0.0))
    return (f"the records ran on one host, so nothing measured the network, and no NIC was "
            f"described: the network link is the generic default ({share / 1e9:g} GB/s per "
            f"GPU, one NDR 400G each); describe it with --nic and --nics-per-node")


def device_note(records: Sequence[Record], cluster: ClusterDescription | None) -> str:
    """One line when the GPUs the records name (nccl-tests' and rccl-tests' rank lines,
    ``extra["device"]``) are not the servers' GPU: the ``cluster`` described, or the generic
    fabric's H100 defaults when none was; else ``""``. Catalog entries that are the same GPU
    under two keys (``a100`` and ``a100-80gb``) count as one.

    Examples
    --------
    >>> r = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2, num_hosts=1,
    ...            extra={"device": "Tesla V100-SXM2-16GB"})
    >>> device_note([r], None)[:56]
    'the records ran on Tesla V100-SXM2-16GB (catalog v100-16'
    >>> device_note([r], ClusterDescription(gpu="v100-16gb"))
    ''
    """
    names: dict[str, None] = {}
    for record in records:
        found = record.extra.get("device")
        if isinstance(found, str):
            for name in found.split("; "):
                if name.strip():
                    names.setdefault(name.strip(), None)
    # names the catalog does not know (an engineering sample's "NVIDIA Graphics Device", an
    # H800) say nothing either way: only GPUs the catalog names are compared
    known = {name: key for name in names if (key := gpu_of_device(name)) is not None}
    kinds = set(known.values())
    if len(kinds) > 1:
        return (f"the records ran on {len(kinds)} kinds of GPU ({', '.join(names)}), and one "
                f"fabric is fitted to all of them: calibrate each system's records on their own")
    if cluster is not None and cluster.cpu:
        return (f"the servers are described as CPU ranks (--cpu-ranks), but the records ran on "
                f"GPUs ({', '.join(names)}); describe them with --gpu") if names else ""
    gpu = "h100" if cluster is None else cluster.gpu
    if gpu not in default_catalog().gpus:  # a GPU of the user's own catalog: not compared
        return ""
    other = {name: key for name, key in known.items() if not _same_gpu(key, gpu)}
    if not other:
        return ""
    shown = ", ".join(f"{name} (catalog {key})" for name, key in other.items())
    hint = f"--gpu {next(iter(other.values()))}"
    if cluster is None:
        return (f"the records ran on {shown}, but no cluster was described: the fabric has the "
                f"generic default's H100 servers; describe them with {hint} (and --nic, "
                f"--nics-per-node)")
    return (f"the servers are described with --gpu {gpu} (or in the records), but the records "
            f"ran on {shown}; check --gpu")


def _same_gpu(a: str, b: str) -> bool:
    """Whether catalog GPU keys ``a`` and ``b`` are one GPU (an alias: every figure equal)."""
    if a == b:
        return True
    gpus = default_catalog().gpus
    if a not in gpus or b not in gpus:
        return False
    return (replace(gpus[a], key="", name="", source="")
            == replace(gpus[b], key="", name="", source=""))


#: The key of ``Record.extra`` that holds the described cluster (``fabric import`` writes it).
CLUSTER_KEY = "cluster"


def with_cluster(records: Sequence[Record], cluster: ClusterDescription | None) -> list[Record]:
    """``records`` with ``cluster`` recorded in each one's ``extra["cluster"]`` (unchanged for
    None), so that ``calibrate`` builds the same servers without the flags again.

    Examples
    --------
    >>> r = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2, num_hosts=2)
    >>> cluster_of_records(with_cluster([r], ClusterDescription(gpu="v100", nic="edr100"))).nic
    'edr100'
    """
    _check_cluster(cluster)
    if cluster is None:
        return list(records)
    return [replace(r, extra={**r.extra, CLUSTER_KEY: cluster.as_dict()}) for r in records]


def _check_cluster(cluster: Any) -> None:
    if cluster is not None and not isinstance(cluster, ClusterDescription):
        raise TypeError(f"cluster must be a topologies.generic.ClusterDescription or None, got a "
                        f"{type(cluster).__name__} (ClusterDescription(**fields) makes one)")


def cluster_of_records(records: Sequence[Record]) -> ClusterDescription | None:
    """The cluster :func:`with_cluster` recorded in ``records``; None when none holds one.

    Raises
    ------
    ValueError
        Records that describe different clusters, or a recorded description that is invalid.
    """
    found = {_cluster_key(r.extra[CLUSTER_KEY]) for r in records if CLUSTER_KEY in r.extra}
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"the records describe {len(found)} different clusters; import them "
                         f"separately or give the cluster flags (--gpu, --nic, ...)")
    (key,) = found
    cluster = cluster_of_params(dict(key))
    if cluster is None:
        raise ValueError(f"a record's cluster names no gpu: {dict(key)}")
    return cluster


def _cluster_key(data: Any) -> tuple[tuple[str, Any], ...]:
    """A hashable form of a flat mapping (a recorded cluster).

    Raises
    ------
    ValueError
        ``data`` is not a mapping.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a record's cluster must be a mapping, got {type(data).__name__}")
    return tuple(sorted(data.items()))


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
    return _layout_gpus(_gpus_by_node(G), layout)


class LayoutGpus:
    """:func:`gpus_for_layout` over one graph for many records: the graph's GPUs per node are
    read once, and each distinct layout is laid out once (a log's records share a handful).

    >>> on = LayoutGpus(generic_fabric(2, 4))
    >>> on(RankLayout(rank_hosts=(0, 1), rank_locals=(0, 0), known=True))
    ('node0/gpu0', 'node1/gpu0')
    """

    def __init__(self, G: nx.DiGraph) -> None:
        self._nodes = _gpus_by_node(G)
        self._done: dict[RankLayout, tuple[str, ...]] = {}

    def __call__(self, layout: RankLayout) -> tuple[str, ...]:
        found = self._done.get(layout)
        if found is None:
            found = self._done[layout] = tuple(_layout_gpus(self._nodes, layout))
        return found


def _gpus_by_node(G: nx.DiGraph) -> list[list[str]]:
    """The GPU ids of each node of ``G`` (GPU ``node`` attribute), in the graph's GPU order."""
    by_node: dict[object, list[str]] = {}
    for n, data in G.nodes(data=True):
        if data.get("kind") == "gpu":
            by_node.setdefault(data.get("node", 0), []).append(n)
    return list(by_node.values())


def _layout_gpus(nodes: list[list[str]], layout: RankLayout) -> list[str]:
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
