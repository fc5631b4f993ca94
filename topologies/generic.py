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
per GPU in the model, and logs with one GPU per host cannot tell the two apart. That is the
default; servers with fewer NICs than GPUs (4 x HDR for 8 A100s, 4 x 100G EFA on a p4d, one NIC
for many MPI ranks) are described with a :class:`ClusterDescription`, and then each shared NIC
is a node of its own (below). DGX BasePOD:
https://docs.nvidia.com/dgx-basepod/reference-architecture-infrastructure-foundation-enterprise-ai/latest/core-components.html

Default bandwidths come from the built-in catalog (H100: 18 NVLink4 links x 25 GB/s = 450
GB/s per direction inside a host; NDR 400G = 50 GB/s per GPU on the network).

>>> G = generic_fabric(2, 8)
>>> sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu"), G.graph["topology"]
(16, 'generic-two-level')
>>> sorted({d["link"] for _, _, d in G.edges(data=True)})
['host-internal', 'network']

A :class:`ClusterDescription` says what one server of the real cluster is, independent of how
many there are: its GPU (catalog key; ``"cpu"`` for MPI ranks on CPU cores), its NICs (a catalog
link or NIC key and how many per server) and whether its GPUs reach each other over PCIe
peer-to-peer. From it the host link is the GPU's scale-up bandwidth (NVLink/xGMI links x their
rate), its PCIe link (peer-to-peer), half its PCIe link (staged through host memory) or one
core's shared-memory copy (CPU ranks); the network link is the described NIC's. A NIC shared by
several GPUs (or ranks) is a real ``kind="nic"`` node between them and the network switch, so the
sharing shows as contention:

>>> a100 = ClusterDescription(gpu="a100-40gb", nic="hdr200", nics_per_node=4)
>>> G = generic_fabric(2, 8, cluster=a100)
>>> nics = sum(1 for _, kind in G.nodes(data="kind") if kind == "nic")
>>> nics, G.graph["params"]["host_bandwidth_bytes_per_s"]
(8, 300000000000.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from fabric.catalog import Catalog, default_catalog
from fabric.gcpause import gc_paused
from fabric.graph import FabricGraph, gpu_attrs, validate_graph
from fabric.links import HOST_LINK, NETWORK_LINK

__all__ = [
    "GENERIC_TOPOLOGY",
    "HOST_SWITCH_MODEL",
    "NETWORK_SWITCH_MODEL",
    "CPU_RANKS",
    "CLUSTER_FIELDS",
    "STAGED_PCIE_FRACTION",
    "GenericLinks",
    "generic_links",
    "ClusterDescription",
    "ClusterLinks",
    "cluster_links",
    "generic_fabric",
    "rebuild_generic_fabric",
    "cluster_of_params",
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


#: ``ClusterDescription.gpu`` of MPI ranks on CPU cores (no GPU): shared memory inside a host.
CPU_RANKS = "cpu"
#: The fields of a :class:`ClusterDescription`, as a generic fabric's params record them.
CLUSTER_FIELDS: tuple[str, ...] = ("gpu", "nic", "nics_per_node", "peer_to_peer", "nvls")
#: The share of a GPU's PCIe link that a transfer staged through host memory gets (no PCIe
#: peer-to-peer). Assumption, to calibrate: every byte crosses the root complex twice (device to
#: pinned host buffer, then host buffer to the peer), so NCCL's SHM transport carries about half
#: what a direct peer-to-peer write would.
STAGED_PCIE_FRACTION = 0.5
#: Scale-up switching latency added to a GPU's NVLink/xGMI cable (the NVSwitch figure of the
#: catalog's ``nvswitch-h100``; a direct xGMI mesh has none, the difference is below alpha).
_SCALEUP_SWITCH_LATENCY_S = 0.1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterDescription:
    """One server of a real cluster, independent of the server count and of the log.

    Attributes
    ----------
    gpu : str
        Catalog GPU key (``a100-40gb``, ``v100``, ``t4``, ``mi300x``, ...), or :data:`CPU_RANKS`
        (``"cpu"``) for MPI ranks on CPU cores.
    nic : str or None
        The network port: a catalog link key (``hdr200``, ``efa100``, ``tcpxo200``) or a
        catalog NIC key (its link x its ports). None: the generic default, one NDR 400G per GPU
        (one per host for CPU ranks); :attr:`nic_described` tells them apart.
    nics_per_node : int or None
        NICs per server; None: one per GPU (one per host for CPU ranks). Fewer NICs than GPUs
        share each NIC between ``gpus / nics`` GPUs.
    peer_to_peer : bool or None
        Whether GPUs of one server reach each other over PCIe directly; None: the catalog GPU's
        ``peer_to_peer``. Used only for GPUs without NVLink/xGMI.
    nvls : bool or None
        Whether the server's NVSwitch reduces in the network (NVLink SHARP, NCCL's NVLS and
        NVLSTree algorithms); None: whether the catalog has a scale-up switch with
        ``in_network_reduction`` on the GPU's NVLink generation (NVSwitch 3 and later: H100,
        H200, B200; not A100 or V100, not xGMI). False describes servers where NCCL does not
        use it although the switch could (``NCCL_NVLS_ENABLE=0``, or a container without
        NVLink multicast); True for a GPU whose switch cannot is refused.

    Examples
    --------
    >>> ClusterDescription(gpu="v100", nic="edr100", nics_per_node=2).nic_described
    True
    """

    gpu: str = "h100"
    nic: str | None = None
    nics_per_node: int | None = None
    peer_to_peer: bool | None = None
    nvls: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.gpu, str) or not self.gpu:
            raise ValueError(f"gpu must be a catalog GPU key or {CPU_RANKS!r}, got {self.gpu!r}")
        if self.nic is not None and (not isinstance(self.nic, str) or not self.nic):
            raise ValueError(f"nic must be a catalog link or NIC key, got {self.nic!r}")
        n = self.nics_per_node
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"nics_per_node must be an integer >= 1, got {n!r}")
        if self.peer_to_peer is not None and not isinstance(self.peer_to_peer, bool):
            raise ValueError(f"peer_to_peer must be True, False or None, got {self.peer_to_peer!r}")
        if self.nvls is not None and not isinstance(self.nvls, bool):
            raise ValueError(f"nvls must be True, False or None, got {self.nvls!r}")

    @property
    def cpu(self) -> bool:
        """True for MPI ranks on CPU cores."""
        return self.gpu == CPU_RANKS

    @property
    def nic_described(self) -> bool:
        """True when the network port was described (not the generic default)."""
        return self.nic is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain data (recorded in ``G.graph["params"]`` of :func:`generic_fabric`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterDescription:
        """The description :meth:`as_dict` wrote.

        Raises
        ------
        ValueError
            Unknown fields or invalid values.
        """
        known = set(CLUSTER_FIELDS)
        extra = sorted(set(data) - known)
        if extra:
            raise ValueError(f"unknown cluster field(s) {', '.join(extra)}; known: "
                             f"{', '.join(sorted(known))}")
        return cls(**dict(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterLinks:
    """The links a :class:`ClusterDescription` gives a server of ``gpus_per_host`` GPUs.

    Attributes
    ----------
    host_bandwidth_bytes_per_s, host_latency_s
        One GPU's (rank's) link to its host switch, per direction.
    host_path : str
        What the host link is (``"12 x nvlink3"``, ``"pcie4x16 peer-to-peer"``, ``"pcie3x16
        staged through host memory"``, ``"shm"``).
    nic_link : str
        The catalog link key of a NIC port.
    nic_ports : int
        Ports per NIC.
    nics_per_host : int
        NICs per server.
    nic_bandwidth_bytes_per_s : float
        One NIC, all ports, per direction.
    network_latency_s : float
        A NIC port's cable plus the network switch.
    attach_bandwidth_bytes_per_s : float
        A GPU's host interface towards a shared NIC (its PCIe link; a CPU rank: the NIC's
        rate); :func:`generic_fabric` caps it at the NIC's rate.
    network_bandwidth_per_gpu_bytes_per_s : float
        The network bandwidth one GPU gets when all of a host's GPUs send at once:
        ``nic_bandwidth x nics_per_host / gpus_per_host``.
    nic_described : bool
        False when the NIC is the generic default (one NDR 400G per GPU).
    in_network_reduction : bool
        Whether the host switch reduces in the network (:attr:`ClusterDescription.nvls`
        resolved).
    gpus_per_host : int
        The GPUs (ranks) per server these links were resolved for.
    """

    host_bandwidth_bytes_per_s: float
    host_latency_s: float
    host_path: str
    nic_link: str
    nic_ports: int
    nics_per_host: int
    nic_bandwidth_bytes_per_s: float
    network_latency_s: float
    attach_bandwidth_bytes_per_s: float
    network_bandwidth_per_gpu_bytes_per_s: float
    nic_described: bool
    in_network_reduction: bool
    gpus_per_host: int

    @property
    def shared_nics(self) -> bool:
        """True when a host has fewer NICs than GPUs (NIC nodes, contention between GPUs)."""
        return self.nics_per_host < self.gpus_per_host


def cluster_links(cluster: ClusterDescription, gpus_per_host: int, *,
                  catalog: Catalog | None = None) -> ClusterLinks:
    """Resolve a :class:`ClusterDescription` against the catalog for ``gpus_per_host`` GPUs.

    Parameters
    ----------
    cluster : ClusterDescription
        The server.
    gpus_per_host : int
        GPUs (or CPU ranks) per server, >= 1.
    catalog : Catalog or None
        The catalog (None: the built-in one).

    Returns
    -------
    ClusterLinks

    Raises
    ------
    ValueError
        An unknown GPU, link or NIC key (the message lists the known ones), or a GPU without
        a scale-up link and without a ``pcie`` link in the catalog.

    Notes
    -----
    Host link: NVLink/xGMI bandwidth x link count (NVIDIA A100 datasheet: 12 x 50 GB/s
    bidirectional = 300 GB/s per direction); without them the GPU's PCIe link, times
    :data:`STAGED_PCIE_FRACTION` when there is no peer-to-peer; CPU ranks: the catalog's ``shm``
    link. Network: the NIC port's link x ports; a NIC shared by several GPUs is a node of its
    own in :func:`generic_fabric`.

    Examples
    --------
    >>> v = cluster_links(ClusterDescription(gpu="v100", nic="edr100", nics_per_node=2), 4)
    >>> v.host_bandwidth_bytes_per_s, v.network_bandwidth_per_gpu_bytes_per_s
    (150000000000.0, 6250000000.0)
    """
    if not isinstance(gpus_per_host, int) or isinstance(gpus_per_host, bool) or gpus_per_host < 1:
        raise ValueError(f"gpus_per_host must be an integer >= 1, got {gpus_per_host!r}")
    cat = catalog if catalog is not None else default_catalog()
    nvls = False
    if cluster.cpu:
        shm = cat.links["shm"]
        host_bw, host_lat, path = shm.bandwidth_bytes_per_s, shm.latency_s, "shm"
        attach = None
    else:
        gpu = cat.gpus[cluster.gpu]
        if gpu.nvlink and gpu.nvlink_num_links > 0:
            up = cat.links[gpu.nvlink]
            host_bw = up.bandwidth_bytes_per_s * gpu.nvlink_num_links
            host_lat = up.latency_s + _SCALEUP_SWITCH_LATENCY_S
            path = f"{gpu.nvlink_num_links} x {gpu.nvlink}"
            nvls = any(m.tier_kind == "scale-up" and m.port_link == gpu.nvlink
                       and m.in_network_reduction for m in cat.switches.values())
        elif gpu.pcie:
            pcie = cat.links[gpu.pcie]
            p2p = gpu.peer_to_peer if cluster.peer_to_peer is None else cluster.peer_to_peer
            host_bw = pcie.bandwidth_bytes_per_s * (1.0 if p2p else STAGED_PCIE_FRACTION)
            host_lat = pcie.latency_s * (1 if p2p else 2)
            path = f"{gpu.pcie} " + ("peer-to-peer" if p2p else "staged through host memory")
        else:
            raise ValueError(f"gpu {gpu.key!r} has neither a scale-up link nor a pcie link in "
                             f"the catalog; add pcie = \"pcie4x16\" (or the right one) to it")
        attach = cat.links[gpu.pcie].bandwidth_bytes_per_s if gpu.pcie else None
    if cluster.nvls and not nvls:
        raise ValueError(f"nvls needs an NVSwitch that reduces in the network (in_network_"
                         f"reduction, NVLink 4 or later); {cluster.gpu!r} has none in the "
                         f"catalog: leave nvls unset or false")
    if cluster.nvls is not None:
        nvls = cluster.nvls
    if cluster.nic is None:
        link, ports = cat.links["ndr400"], 1
    elif cluster.nic in cat.nics:
        nic = cat.nics[cluster.nic]
        link, ports = cat.links[nic.link], nic.ports
    elif cluster.nic in cat.links:
        link, ports = cat.links[cluster.nic], 1
    else:
        known = ", ".join(sorted(set(cat.links) | set(cat.nics)))
        raise ValueError(f"unknown nic {cluster.nic!r}; known links and NICs: {known}")
    default_count = 1 if cluster.cpu else gpus_per_host
    nics = cluster.nics_per_node if cluster.nics_per_node is not None else default_count
    nic_bw = link.bandwidth_bytes_per_s * ports
    leaf = cat.switches["qm9700"]
    return ClusterLinks(
        host_bandwidth_bytes_per_s=host_bw, host_latency_s=host_lat, host_path=path,
        nic_link=link.key, nic_ports=ports, nics_per_host=nics, nic_bandwidth_bytes_per_s=nic_bw,
        network_latency_s=link.latency_s + leaf.latency_s,
        attach_bandwidth_bytes_per_s=attach if attach is not None else nic_bw,
        network_bandwidth_per_gpu_bytes_per_s=nic_bw * nics / gpus_per_host,
        nic_described=cluster.nic_described, in_network_reduction=nvls,
        gpus_per_host=gpus_per_host)


@gc_paused()
def generic_fabric(num_hosts: int, gpus_per_host: int, *,
                   host_bandwidth_bytes_per_s: float | None = None,
                   network_bandwidth_bytes_per_s: float | None = None,
                   cluster: ClusterDescription | None = None,
                   catalog: Catalog | None = None) -> nx.DiGraph:
    """Return the generic two-level fabric: hosts of GPUs on a tier-0 switch, one network switch.

    Parameters
    ----------
    num_hosts : int
        Hosts (servers), >= 1.
    gpus_per_host : int
        GPUs per host, >= 1; with 1 there is no host switch.
    host_bandwidth_bytes_per_s, network_bandwidth_bytes_per_s : float or None
        Per GPU, per direction; None for the cluster's (without ``cluster``:
        :func:`generic_links`' H100 figures, 450e9 NVLink4 x 18 and 50e9 NDR 400G). With shared
        NICs, ``network_bandwidth_bytes_per_s`` is a GPU's share and scales the NICs.
    cluster : ClusterDescription or None
        The server (:func:`cluster_links`); None keeps the H100 / one NDR 400G per GPU defaults.
    catalog : Catalog or None
        The catalog ``cluster`` is resolved against (None: the built-in one).

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{h}/gpu{g}"`` (``kind="gpu"``, ``model`` = the cluster's GPU key, ``"h100"``
        without one, ``node``, ``local``, ``rail`` = ``local``); host switches
        ``"node{h}/host-switch"`` (tier 0, model :data:`HOST_SWITCH_MODEL`, radix ``gpus_per_host``,
        ``node``, ``in_network_reduction``: NVLS, see :attr:`ClusterDescription.nvls`; False without
        ``cluster``); the network switch ``"network"`` (tier 1, model :data:`NETWORK_SWITCH_MODEL`).
        Edges GPU-host switch carry link ``host-internal``, all others ``network``. When a host has
        at least one NIC per GPU, each GPU has its own cable to the network switch (``num_links`` =
        its NIC ports); with fewer NICs than GPUs, NIC nodes ``"node{h}/nic{i}"`` (``kind="nic"``,
        ``node``, ``link``: the catalog link key of its ports) sit between them: GPU g of a host
        uses NIC ``g * nics // gpus`` over a link of the lower of its PCIe rate and the NIC's (a GPU
        cannot push more through a NIC than the NIC carries; NCCL's view of a GPU's NIC,
        :mod:`collectives.nccl_bridge`, is this link), and the NIC's ports go to the network switch.
        ``G.graph``: ``topology="generic-two-level"``, ``params`` (the call, bandwidths filled
        in; with ``cluster`` also its fields (:data:`CLUSTER_FIELDS`) and
        ``nic_bandwidth_bytes_per_s``, all scalars, so that a calibration
        file keeps them) and ``catalog``.

    Raises
    ------
    ValueError
        A count < 1, a bandwidth that is not a finite number > 0, or a cluster that does not
        resolve (:func:`cluster_links`).

    Examples
    --------
    >>> G = generic_fabric(1, 8)
    >>> G.nodes["node0/host-switch"]["radix"], G.out_degree("node0/gpu0")
    (8, 2)
    >>> p4d = ClusterDescription(gpu="a100-40gb", nic="efa100", nics_per_node=4)
    >>> G = generic_fabric(2, 8, cluster=p4d)
    >>> G.nodes["node0/nic0"]["kind"], G["node0/nic0"]["network"]["bandwidth_bytes_per_s"]
    ('nic', 12500000000.0)
    """
    for name, value in (("num_hosts", num_hosts), ("gpus_per_host", gpus_per_host)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    described = cluster if cluster is not None else ClusterDescription()
    cl = cluster_links(described, gpus_per_host, catalog=catalog)
    if cluster is None:  # the historical defaults, exactly
        legacy = generic_links()
        cl = _with(cl, host_bandwidth_bytes_per_s=legacy.host_bandwidth_bytes_per_s,
                   host_latency_s=legacy.host_latency_s)
    host_bw = cl.host_bandwidth_bytes_per_s
    # NVLS is a property of described servers: undescribed ones stand for any server
    nvls = cl.in_network_reduction and cluster is not None
    share = cl.network_bandwidth_per_gpu_bytes_per_s
    if host_bandwidth_bytes_per_s is not None:
        host_bw = float(host_bandwidth_bytes_per_s)
    net_share = share if network_bandwidth_bytes_per_s is None else float(
        network_bandwidth_bytes_per_s)
    for label, bw in (("host_bandwidth_bytes_per_s", host_bw),
                      ("network_bandwidth_bytes_per_s", net_share)):
        if not bw > 0 or bw == float("inf"):
            raise ValueError(f"{label} must be a finite number > 0, got {bw!r}")
    scale = net_share / share
    G = FabricGraph()
    params: dict[str, Any] = {
        "num_hosts": num_hosts, "gpus_per_host": gpus_per_host,
        "host_bandwidth_bytes_per_s": host_bw, "network_bandwidth_bytes_per_s": net_share}
    if cluster is not None:
        params.update(cluster.as_dict())
        params["nic_bandwidth_bytes_per_s"] = cl.nic_bandwidth_bytes_per_s * scale
    G.graph.update(topology=GENERIC_TOPOLOGY, catalog=default_catalog().version, params=params)
    gpus = [(f"node{h}/gpu{g}", h, g) for h in range(num_hosts) for g in range(gpus_per_host)]
    G.add_nodes_from((gid, gpu_attrs(described.gpu, h, g, rail=g)) for gid, h, g in gpus)
    edges: list[_Edge] = []
    if gpus_per_host > 1:
        G.add_nodes_from((f"node{h}/host-switch", {"kind": "switch", "tier": 0,
                                                   "model": HOST_SWITCH_MODEL,
                                                   "radix": gpus_per_host, "node": h,
                                                   "in_network_reduction": nvls})
                         for h in range(num_hosts))
        edges += _cables(gpus, lambda h, _: f"node{h}/host-switch", host_bw, cl.host_latency_s,
                         HOST_LINK)
    nics = cl.nics_per_host
    if nics >= gpus_per_host:
        per_gpu = net_share / (cl.nic_ports * nics // gpus_per_host)
        links = cl.nic_ports * nics // gpus_per_host
        if nics % gpus_per_host:  # an uneven share: one link of the share's rate
            per_gpu, links = net_share, 1
        G.add_node("network", kind="switch", tier=1, model=NETWORK_SWITCH_MODEL,
                   radix=len(gpus) * links)
        edges += _cables(gpus, lambda h, _: "network", per_gpu, cl.network_latency_s, NETWORK_LINK,
                         num_links=links)
    else:
        port_bw = cl.nic_bandwidth_bytes_per_s * scale / cl.nic_ports
        G.add_nodes_from((f"node{h}/nic{i}", {"kind": "nic", "node": h, "link": cl.nic_link})
                         for h in range(num_hosts) for i in range(nics))
        G.add_node("network", kind="switch", tier=1, model=NETWORK_SWITCH_MODEL,
                   radix=num_hosts * nics * cl.nic_ports)
        attach = min(cl.attach_bandwidth_bytes_per_s, port_bw * cl.nic_ports)
        edges += _cables(gpus, lambda h, g: f"node{h}/nic{g * nics // gpus_per_host}", attach,
                         0.0, NETWORK_LINK)
        nic_ends = [(f"node{h}/nic{i}", h, i) for h in range(num_hosts) for i in range(nics)]
        edges += _cables(nic_ends, lambda h, _: "network", port_bw, cl.network_latency_s,
                         NETWORK_LINK, num_links=cl.nic_ports)
    G.add_edges_from(edges)
    return validate_graph(G)


def rebuild_generic_fabric(params: Mapping[str, Any], *, num_hosts: int | None = None,
                           gpus_per_host: int | None = None,
                           catalog: Catalog | None = None) -> nx.DiGraph:
    """The generic fabric ``params`` (a ``G.graph["params"]`` of :func:`generic_fabric`)
    describes, at another host count or host size.

    Recorded bandwidths are kept per GPU (host link) and per NIC (network, when the params hold
    a cluster), so a calibration fitted on 4 hosts applies to the same servers at 16.

    Parameters
    ----------
    params : mapping
        ``num_hosts``, ``gpus_per_host``, the two bandwidths and, for a described cluster, its
        fields (:data:`CLUSTER_FIELDS`) and ``nic_bandwidth_bytes_per_s``.
    num_hosts, gpus_per_host : int or None
        The new sizes (None: the recorded ones).

    Raises
    ------
    ValueError
        Params that do not describe a generic fabric.

    Examples
    --------
    >>> G = generic_fabric(1, 8, cluster=ClusterDescription(gpu="a100", nic="hdr200",
    ...                                                     nics_per_node=4))
    >>> H = rebuild_generic_fabric(G.graph["params"], num_hosts=16)
    >>> H.graph["params"]["num_hosts"], H.graph["params"]["network_bandwidth_bytes_per_s"]
    (16, 12500000000.0)
    """
    hosts = int(num_hosts if num_hosts is not None else params.get("num_hosts", 1))
    per = int(gpus_per_host if gpus_per_host is not None else params.get("gpus_per_host", 1))
    host_bw = params.get("host_bandwidth_bytes_per_s")
    cluster = cluster_of_params(params)
    if cluster is None:
        return generic_fabric(hosts, per, host_bandwidth_bytes_per_s=host_bw,
                              network_bandwidth_bytes_per_s=params.get(
                                  "network_bandwidth_bytes_per_s"), catalog=catalog)
    cl = cluster_links(cluster, per, catalog=catalog)
    net = None
    nic_bw = params.get("nic_bandwidth_bytes_per_s")
    if nic_bw is not None:
        net = float(nic_bw) * cl.nics_per_host / per
    return generic_fabric(hosts, per, host_bandwidth_bytes_per_s=host_bw,
                          network_bandwidth_bytes_per_s=net, cluster=cluster, catalog=catalog)


def cluster_of_params(params: Mapping[str, Any]) -> ClusterDescription | None:
    """The :class:`ClusterDescription` a generic fabric's params record; None when it was
    built without one.

    Raises
    ------
    ValueError
        Recorded fields that are not a valid description.

    Examples
    --------
    >>> G = generic_fabric(1, 4, cluster=ClusterDescription(gpu="t4", nic="roce100"))
    >>> cluster_of_params(G.graph["params"]).nic, cluster_of_params(generic_fabric(1, 4).graph[
    ...     "params"])
    ('roce100', None)
    """
    if "gpu" not in params:
        return None
    return ClusterDescription.from_dict({k: params[k] for k in CLUSTER_FIELDS if k in params})


def _with(links: ClusterLinks, **changes: Any) -> ClusterLinks:
    return ClusterLinks(**{**asdict(links), **changes})


def _cables(ends: list[tuple[str, int, int]], switch_of: Callable[[int, int], str],
            bandwidth_bytes_per_s: float, latency_s: float, link: str, *,
            num_links: int = 1) -> Iterator[_Edge]:
    """Both directions of ``num_links`` cables from every end ``(id, host, index)`` to
    ``switch_of(host, index)``."""
    for gid, h, i in ends:
        sw = switch_of(h, i)
        attrs = {"bandwidth_bytes_per_s": bandwidth_bytes_per_s, "num_links": num_links,
                 "link": link}
        yield gid, sw, {**attrs, "latency_s": latency_s}
        yield sw, gid, {**attrs, "latency_s": latency_s}
