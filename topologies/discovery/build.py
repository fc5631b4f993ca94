"""From a parsed discovery dump to a fabric graph that follows :mod:`fabric.graph`'s conventions.

What the dump gives is kept: every switch, every cable with the width and speed it trained at
(edge attributes ``width``, ``speed`` and ``slow_links``, the cables of a bundle slower than its
fastest one). What it does not give is inferred and said so in ``G.graph["import_notes"]``:

* **Servers.** A channel adapter's NodeDescription names its host (``"dgx01 mlx5_0"`` -> host
  ``dgx01``); a host's cabled ports each carry one GPU (the one-NIC-per-GPU layout of DGX/HGX
  servers, as in :mod:`topologies.generic`), of catalog model ``gpu``. A server description
  (:class:`ServerDescription`, from an NCCL topology dump or ``nvidia-smi topo -m``) replaces
  that guess: its GPU count, and its NVLink count as a tier-0 switch per server.
* **Tiers.** Leaves are the switches with hosts; spines are one switch hop above a leaf; core
  the rest (graph distance from the leaves).
* **Switch models.** From the NodeDescription where the catalog knows the product
  (``Quantum-2``/``MQM9700`` -> ``qm9700``, ``Quantum-X800``/``Q3400`` -> ``q3400``,
  ``SN5600``/``Spectrum-4`` -> ``sn5600-*``). Any other switch is a *generic* switch: the
  catalog's entry of the same medium (``qm9700`` for InfiniBand, ``sn5600-400`` for Ethernet)
  for latency and price, with the radix it reports (node attributes ``generic: true`` and
  ``description``).
* **Rates.** From width x lane speed (``4x NDR`` = 400 Gb/s) or the LLDP MAU type; tables that
  carry none take ``default_rate_gbps``.

>>> from topologies.discovery.ibnetdiscover import parse_ibnetdiscover
>>> text = '''
... Switch  64 "S-0000000000000a01"  # "MF0;spine1:MQM9700/U1" base port 0 lid 1 lmc 0
... [1]  "S-0000000000000b01"[33]      # "MF0;leaf1:MQM9700/U1" lid 2 4xNDR
... Switch  64 "S-0000000000000b01"  # "MF0;leaf1:MQM9700/U1" base port 0 lid 2 lmc 0
... [1]  "H-0000000000000c01"[1](c01)  # "node1 mlx5_0" lid 3 4xNDR
... [2]  "H-0000000000000c02"[1](c02)  # "node1 mlx5_1" lid 4 2xNDR
... '''
>>> result = discovery_fabric(parse_ibnetdiscover(text))
>>> G = result.graph
>>> G.nodes["leaf1"]["tier"], G.nodes["spine1"]["tier"], G.nodes["leaf1"]["model"]
(1, 2, 'qm9700')
>>> sorted(n for n, k in G.nodes(data="kind") if k == "gpu")
['node1/gpu0', 'node1/gpu1']
>>> G["node1/gpu1"]["leaf1"]["width"], G["node1/gpu1"]["leaf1"]["bandwidth_bytes_per_s"]
(2, 25000000000.0)
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from fabric import units
from fabric.catalog import Catalog, default_catalog
from fabric.graph import FabricGraph, gpu_attrs, validate_graph
from topologies.common import auto_scaleup
from topologies.discovery.model import Cable, Device, Discovery, DiscoveryError, speed_rank

__all__ = [
    "IMPORTED_TOPOLOGY",
    "ServerDescription",
    "ImportResult",
    "discovery_fabric",
    "host_of",
    "select_hosts",
    "switch_model_of",
]

#: ``G.graph["topology"]`` of an imported fabric.
IMPORTED_TOPOLOGY = "imported"
#: Cable latency when the link is not a catalog link: the catalog's InfiniBand/RoCE figure
#: (propagation over ~10 m).
_CABLE_LATENCY_S = 0.05e-6
_IB_LINKS = {100.0: "edr100", 200.0: "hdr200", 400.0: "ndr400", 800.0: "xdr800"}
_ETH_LINKS = {100.0: "roce100", 200.0: "roce200", 400.0: "roce400", 800.0: "roce800"}
_GENERIC = {"infiniband": "qm9700", "ethernet": "sn5600-400"}
_MODELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Quantum-X800|\bQ3[24]00|MQ3[24]00", re.I), "q3400"),
    (re.compile(r"Quantum-2|\bM?QM97\d\d", re.I), "qm9700"),
    (re.compile(r"SN5600|Spectrum-4", re.I), "sn5600"),
)
_HCA = re.compile(
    r"^(?P<host>\S+)\s+(?P<hca>mlx\d+_\d+|HCA-\d+|hfi\d+_\d+|qib\d+|mthca\d+|irdma\d+|"
    r"bnxt_re\d+|efa_\d+|ib\w*\d+)$"
)
_MF0 = re.compile(r"^MF0;(?P<name>[^:]+):(?P<model>[^/\s]+)")
_ID_SAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerDescription:
    """One server's insides, applied to every imported host.

    Attributes
    ----------
    num_gpus
        GPUs per server.
    nvlink_links_per_gpu
        NVLink links from each GPU to the server's NVLink switch (0: none, GPUs talk over PCIe
        or the network).
    num_nics
        Network ports (NICs) the dump showed, for the record.
    gpu
        Catalog GPU key.
    source
        Where it came from (file and format).
    """

    num_gpus: int
    nvlink_links_per_gpu: int = 0
    num_nics: int = 0
    gpu: str = "h100"
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.num_gpus, int) or self.num_gpus < 1:
            raise ValueError(f"num_gpus must be an integer >= 1, got {self.num_gpus!r}")
        if self.nvlink_links_per_gpu < 0:
            raise ValueError(
                f"nvlink_links_per_gpu must be >= 0, got {self.nvlink_links_per_gpu!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """An imported fabric and what was inferred to build it.

    Attributes
    ----------
    graph
        The validated fabric.
    format
        The dump's format.
    num_switches, num_hosts, num_cables
        As found in the dump (each cable once).
    notes
        What could not be read from the dump and was inferred or assumed, one sentence each.
    """

    graph: nx.DiGraph
    format: str
    num_switches: int
    num_hosts: int
    num_cables: int
    notes: list[str] = field(default_factory=list)


def host_of(device: Device) -> str | None:
    """The host name a channel adapter's description gives (``"dgx01 mlx5_0"`` -> ``dgx01``).

    >>> host_of(Device(key="1", kind="host", description="node018 HCA-1"))
    'node018'
    >>> host_of(Device(key="2", kind="host", description="MT23108 InfiniHost Mellanox"))
    """
    text = device.description.strip()
    match = _HCA.match(text)
    if match:
        return match.group("host")
    if text and " " not in text:
        return text
    return None


def switch_model_of(description: str, rate_gbps: float | None, catalog: Catalog) -> str | None:
    """The catalog switch key a NodeDescription names, or None.

    >>> from fabric.catalog import default_catalog
    >>> switch_model_of("MF0;leaf-1:MQM9790/U1", 400.0, default_catalog())
    'qm9700'
    >>> switch_model_of("SwitchIB Mellanox Technologies", 100.0, default_catalog()) is None
    True
    """
    for pattern, key in _MODELS:
        if pattern.search(description):
            if key == "sn5600":
                key = "sn5600-800" if (rate_gbps or 0) >= 800 else "sn5600-400"
            return key if key in catalog.switches else None
    return None


def select_hosts(discovery: Discovery, pattern: str) -> Discovery:
    """The dump with only the hosts whose name matches ``pattern`` (a regular expression,
    searched), and their cables: compute nodes without the login, storage and management hosts.

    >>> from topologies.discovery.model import Cable, Device, Discovery
    >>> d = Discovery(format="x", medium="infiniband", devices={
    ...     "s": Device(key="s", kind="switch", description="sw"),
    ...     "a": Device(key="a", kind="host", description="gpu001 mlx5_0"),
    ...     "b": Device(key="b", kind="host", description="login01 mlx5_0")},
    ...     cables=(Cable(a="s", a_port="1", b="a", b_port="1"),
    ...             Cable(a="s", a_port="2", b="b", b_port="1")))
    >>> sorted(select_hosts(d, r"^gpu").devices)
    ['a', 's']

    Raises
    ------
    ValueError
        If ``pattern`` is not a regular expression, or matches no host of the dump.
    """
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"hosts pattern {pattern!r} is not a regular expression: {err}") from err
    drop = {
        key for key, dev in discovery.devices.items()
        if dev.kind == "host" and not regex.search(host_of(dev) or dev.description or key)
    }
    if not drop:
        return discovery
    hosts = [dev for dev in discovery.devices.values() if dev.kind == "host"]
    if len(drop) == len(hosts):
        shown = sorted({host_of(dev) or dev.description or dev.key for dev in hosts})
        raise ValueError(f"--hosts {pattern!r} matches none of the dump's {len(shown)} host(s) "
                         f"(e.g. {', '.join(repr(h) for h in shown[:3])}); the pattern is a "
                         f"regular expression searched in each host's name")
    note = (f"{len(drop)} host adapter(s) not matching {pattern!r} left out with their cables")
    return Discovery(
        format=discovery.format, medium=discovery.medium,
        devices={k: d for k, d in discovery.devices.items() if k not in drop},
        cables=tuple(c for c in discovery.cables if c.a not in drop and c.b not in drop),
        notes=(*discovery.notes, note))


def _safe(name: str) -> str:
    return _ID_SAFE.sub("_", name.strip()) or "unnamed"


def _switch_names(discovery: Discovery) -> dict[str, str]:
    """Switch key -> node id: the MF0 name, else a unique one-word description, else the GUID."""
    raw: dict[str, str] = {}
    for key, dev in discovery.devices.items():
        if dev.kind != "switch":
            continue
        mf0 = _MF0.match(dev.description)
        desc = dev.description.strip()
        if mf0:
            raw[key] = _safe(mf0.group("name"))
        elif discovery.medium == "ethernet" or (desc and " " not in desc):
            raw[key] = _safe(desc or key)
        elif desc and sum(d.description == desc for d in discovery.devices.values()) == 1:
            raw[key] = _safe(desc)
        else:
            raw[key] = f"switch-{key[-6:]}"
    counts = Counter(raw.values())
    return {k: (v if counts[v] == 1 else f"{v}-{k}") for k, v in raw.items()}


def _rate(cable: Cable, default_rate_gbps: float | None) -> float:
    if cable.rate_gbps is not None:
        return cable.rate_gbps
    if default_rate_gbps is None:
        raise DiscoveryError(
            f"the cable {cable.a}:{cable.a_port} - {cable.b}:{cable.b_port} has no rate in the "
            f"dump; give a default link rate (--rate-gbps)", line=cable.line or None)
    return default_rate_gbps


def _link_key(rate_gbps: float, cable: Cable, medium: str) -> str:
    table = _IB_LINKS if medium == "infiniband" else _ETH_LINKS
    if rate_gbps in table:
        return table[rate_gbps]
    if cable.width and cable.speed:
        return f"ib-{cable.width}x{cable.speed.lower()}"
    return f"{'ib' if medium == 'infiniband' else 'eth'}-{rate_gbps:g}g"


def _tiers(G_switch: dict[str, set[str]], leaves: set[str]) -> dict[str, int]:
    """Switch -> hop distance from the nearest leaf (BFS over switch-switch cables)."""
    dist = {s: 0 for s in leaves}
    queue = deque(leaves)
    while queue:
        s = queue.popleft()
        for t in G_switch[s]:
            if t not in dist:
                dist[t] = dist[s] + 1
                queue.append(t)
    return dist


def discovery_fabric(
    discovery: Discovery,
    *,
    catalog: Catalog | None = None,
    gpu: str = "h100",
    default_rate_gbps: float | None = None,
    server: ServerDescription | None = None,
    name: str = "",
) -> ImportResult:
    """Build the fabric graph of a parsed discovery dump.

    Parameters
    ----------
    discovery
        A parser's result (:func:`topologies.discovery.parse_discovery`).
    catalog
        Catalog for switch, link and GPU keys; default the built-in one.
    gpu
        Catalog GPU model of the GPUs placed on each host port (ignored with ``server``).
    default_rate_gbps
        Rate of cables the dump gives none for (LLDP tables); None refuses such cables.
    server
        What one server holds (GPUs, NVLink); default one GPU per cabled host port, no NVLink.
    name
        The fabric's name (``G.graph["name"]``).

    Returns
    -------
    ImportResult
        The validated graph (``G.graph["topology"] == "imported"``) and the notes.

    Raises
    ------
    DiscoveryError
        A cable without a rate and no ``default_rate_gbps``, or a dump with no host.
    ValueError
        An unknown ``gpu`` key, or a graph that fails :func:`fabric.graph.validate_graph`.
    """
    cat = catalog if catalog is not None else default_catalog()
    gpu_model = server.gpu if server is not None else gpu
    if gpu_model not in cat.gpus:
        raise ValueError(f"unknown GPU model {gpu_model!r}; known: {', '.join(cat.gpus)}")
    notes = list(discovery.notes)
    devices = discovery.devices
    names = _switch_names(discovery)
    # hosts: group channel adapters by the host their description names
    host_name: dict[str, str] = {}
    unnamed = 0
    for key, dev in devices.items():
        if dev.kind == "host":
            found = host_of(dev)
            if found is None:
                unnamed += 1
                found = f"host-{key[-6:]}"
            host_name[key] = _safe(found)
    if unnamed:
        notes.append(f"{unnamed} channel adapter(s) whose description names no host: each "
                     f"taken as a server of its own")
    if not host_name:
        raise DiscoveryError(
            "no host in the dump (every device is a switch), so no GPU to place: the dump must "
            "include the hosts' side (ibnetdiscover of the whole subnet, LLDP from the servers "
            "or switch tables that list them)", source="")
    # cables per host port and switch adjacency
    switch_adj: dict[str, set[str]] = defaultdict(set)
    host_ports: dict[str, list[tuple[str, str, Cable]]] = defaultdict(list)
    rates: dict[str, list[float]] = defaultdict(list)
    for cable in discovery.cables:
        rate = _rate(cable, default_rate_gbps)
        for end in (cable.a, cable.b):
            rates[end].append(rate)
        a_sw, b_sw = devices[cable.a].kind == "switch", devices[cable.b].kind == "switch"
        if a_sw and b_sw:
            switch_adj[cable.a].add(cable.b)
            switch_adj[cable.b].add(cable.a)
        if not a_sw:
            host_ports[host_name[cable.a]].append((cable.a, cable.a_port, cable))
        if not b_sw:
            host_ports[host_name[cable.b]].append((cable.b, cable.b_port, cable))
    if unrated := [c for c in discovery.cables if c.rate_gbps is None]:
        notes.append(f"{len(unrated)} cable(s) without a rate in the dump: taken at "
                     f"{default_rate_gbps:g} Gb/s")
    loops = sum(1 for c in discovery.cables if c.a == c.b)
    if loops:
        notes.append(f"{loops} loopback cable(s) (two ports of one switch cabled together) "
                     f"left out: no route uses them")
    leaves = {
        s for c in discovery.cables for s, o in ((c.a, c.b), (c.b, c.a))
        if devices[s].kind == "switch" and devices[o].kind == "host"
    }
    switch_keys = [k for k, d in devices.items() if d.kind == "switch"]
    dist = _tiers(switch_adj, leaves)
    far = [k for k in switch_keys if dist.get(k, 0) > 2]
    if far:
        notes.append(f"{len(far)} switch(es) more than two hops above the leaves: put in the "
                     f"core tier (3)")
    orphan = [k for k in switch_keys if k not in dist]
    if orphan:
        notes.append(f"{len(orphan)} switch(es) with no path to a host: put in the leaf tier")
    G = FabricGraph(topology=IMPORTED_TOPOLOGY, catalog=cat.version,
                    params={"format": discovery.format, "medium": discovery.medium})
    if name:
        G.graph["name"] = name
    # switches
    generic: Counter[str] = Counter()
    used_ports: Counter[str] = Counter()
    for cable in discovery.cables:
        used_ports[cable.a] += 1
        used_ports[cable.b] += 1
    switch_latency: dict[str, float] = {}
    for key in switch_keys:
        dev = devices[key]
        top_rate = max(rates.get(key, [0.0]))
        model = switch_model_of(dev.description, top_rate, cat)
        attrs: dict[str, Any] = {"kind": "switch", "tier": min(dist.get(key, 0) + 1, 3)}
        if model is None:
            model = _GENERIC[discovery.medium]
            generic[dev.description or "(no description)"] += 1
            radix = max(dev.num_ports or 0, used_ports[key])
            attrs.update(model=model, radix=radix, generic=True)
        else:
            radix = max(cat.switches[model].radix, used_ports[key])
            attrs.update(model=model, radix=radix)
        attrs["description"] = dev.description
        if discovery.medium == "infiniband":
            attrs["guid"] = key
        switch_latency[key] = cat.switches[model].latency_s
        G.add_node(names[key], **attrs)
    if generic:
        shown = ", ".join(f"'{d}'" for d in list(generic)[:3]) + (", ..." if len(generic) > 3
                                                                   else "")
        notes.append(
            f"{sum(generic.values())} switch(es) not in the catalog ({shown}): generic "
            f"{_GENERIC[discovery.medium]}-class switches (its latency and price) with the "
            f"radix each reports")
    # servers and GPUs
    port_gpu: dict[tuple[str, str], str] = {}
    gpu_nodes: list[tuple[str, dict[str, Any]]] = []
    nic_nodes: list[tuple[str, dict[str, Any]]] = []
    host_edges: list[tuple[str, str, dict[str, Any]]] = []
    pcie = cat.links.get("pcie5x16")
    # servers numbered in natural order (gpu2 before gpu10): the builders' order, which packed
    # placement fills and the bisection halves follow; text order scattered a leaf's servers
    plane_of = _planes(switch_adj, switch_keys)
    multiport = 0
    for index, host in enumerate(sorted(host_ports, key=_natural)):
        ports = sorted(host_ports[host], key=lambda p: (p[0], _port_order(p[1])))
        num_gpus = server.num_gpus if server is not None else len(ports)
        gpus = [f"{host}/gpu{i}" for i in range(num_gpus)]
        for i, gid in enumerate(gpus):
            gpu_nodes.append((gid, {**gpu_attrs(gpu_model, index, i), "hostname": host}))
        if server is None or num_gpus == len(ports):
            for i, (dev_key, port, _) in enumerate(ports):
                port_gpu[(dev_key, port)] = gpus[i]
        elif len(ports) % num_gpus == 0:
            # several ports per GPU (one per plane, or a multi-port NIC each): every GPU gets
            # its share of each plane's ports, as the builders cable a multi-plane fabric
            multiport += 1
            for (dev_key, port), gid in _ports_to_gpus(ports, gpus, plane_of).items():
                port_gpu[(dev_key, port)] = gid
        else:  # NICs shared by (or fewer than) the GPUs: each port a NIC node
            for j, (dev_key, port, _) in enumerate(ports):
                nic = f"{host}/nic{j}"
                nic_nodes.append((nic, {"kind": "nic", "node": index, "local": j}))
                port_gpu[(dev_key, port)] = nic
            for i, gid in enumerate(gpus):
                nic = f"{host}/nic{i % len(ports)}"
                bw = pcie.bandwidth_bytes_per_s if pcie else units.gbps_to_bytes_per_s(512)
                lat = pcie.latency_s if pcie else 0.0
                data = {"bandwidth_bytes_per_s": bw, "latency_s": lat, "num_links": 1,
                        "link": pcie.key if pcie else "pcie"}
                host_edges += [(gid, nic, dict(data)), (nic, gid, dict(data))]
        if server is not None and server.nvlink_links_per_gpu > 0 and num_gpus > 1:
            _add_nvswitch(G, cat, host, index, gpus, server, host_edges)
    G.add_nodes_from(gpu_nodes)
    G.add_nodes_from(nic_nodes)
    G.add_edges_from(host_edges)
    if server is None:
        notes.append(f"GPUs: one {gpu_model} per cabled host port, no NVLink between a host's "
                     f"GPUs (the dump does not show a server's insides; give a server "
                     f"description from an NCCL topology dump or nvidia-smi topo -m)")
    else:
        notes.append(f"servers: {server.num_gpus} x {server.gpu}, {server.nvlink_links_per_gpu} "
                     f"NVLink link(s) per GPU, from {server.source or 'the server description'}")
    if multiport:
        notes.append(f"{multiport} server(s) with more cabled ports than GPUs (planes or "
                     f"multi-port NICs): each GPU takes an equal share of every plane's ports")
    _add_cables(G, discovery, names, port_gpu, switch_latency, default_rate_gbps)
    _bound_by_host_link(G, cat)
    validate_graph(G)
    G.graph["import_notes"] = notes
    return ImportResult(graph=G, format=discovery.format, num_switches=len(switch_keys),
                        num_hosts=len(host_ports), num_cables=len(discovery.cables),
                        notes=notes)


def _planes(switch_adj: dict[str, set[str]], switch_keys: list[str]) -> dict[str, int]:
    """Each switch's plane: the connected component of the switch graph it is in (planes of a
    multi-plane fabric share no switch), numbered in order of ``switch_keys``."""
    plane: dict[str, int] = {}
    for start in switch_keys:
        if start in plane:
            continue
        number, todo = len(set(plane.values())), [start]
        plane[start] = number
        while todo:
            for peer in switch_adj.get(todo.pop(), ()):
                if peer not in plane:
                    plane[peer] = number
                    todo.append(peer)
    return plane


def _ports_to_gpus(ports: list[tuple[str, str, Cable]], gpus: list[str],
                   plane_of: dict[str, int]) -> dict[tuple[str, str], str]:
    """Host ports (in port order) to GPUs when there are k times as many as GPUs: each plane's
    ports split over the GPUs in order, so that every GPU reaches every plane; ports in k
    consecutive runs when the planes do not split evenly."""
    by_plane: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for dev_key, port, cable in ports:
        peer = cable.b if cable.a == dev_key else cable.a
        by_plane[plane_of.get(peer, -1)].append((dev_key, port))
    n = len(gpus)
    if all(len(group) % n == 0 for group in by_plane.values()):
        return {p: gpus[j * n // len(group)] for group in by_plane.values()
                for j, p in enumerate(group)}
    k = len(ports) // n
    return {(dev_key, port): gpus[j // k] for j, (dev_key, port, _) in enumerate(ports)}


def _bound_by_host_link(G: nx.DiGraph, cat: Catalog) -> None:
    """Scale each GPU's scale-out cables down to what its host link (catalog ``pcie``) carries,
    as the builders do (:func:`topologies.common.attach_gpus`): an H100 behind 2 x 400G moves
    63 GB/s over its PCIe Gen5 x16."""
    for g, data in list(G.nodes(data=True)):
        pcie = cat.host_link(str(data.get("model"))) if data["kind"] == "gpu" else None
        if pcie is None:
            continue
        out = [v for v in G[g] if G.nodes[v]["kind"] == "switch" and G.nodes[v]["tier"] >= 1]
        total = sum(G[g][v]["bandwidth_bytes_per_s"] * G[g][v]["num_links"] for v in out)
        if total <= pcie.bandwidth_bytes_per_s:
            continue
        scale = pcie.bandwidth_bytes_per_s / total
        for v in out:
            G[g][v]["bandwidth_bytes_per_s"] *= scale
            G[v][g]["bandwidth_bytes_per_s"] *= scale


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a host name with its numbers compared as numbers: ``node2`` < ``node10``.

    >>> sorted(["gpu10", "gpu2", "gpu1", "rack1-gpu3"], key=_natural)
    ['gpu1', 'gpu2', 'gpu10', 'rack1-gpu3']
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"(\d+)", name) if part)


def _port_order(port: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", port)
    return (int(digits[-1]) if digits else 0, port)


def _add_nvswitch(
    G: nx.DiGraph, cat: Catalog, host: str, index: int, gpus: list[str],
    server: ServerDescription, edges: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """A tier-0 switch joining a server's GPUs with their NVLink links (as the builders do):
    the scale-up switch of the GPU's own NVLink generation (:func:`topologies.common.
    auto_scaleup`; a B200 server gets NVLink 5, not an H100's NVSwitch)."""
    key = None
    with contextlib.suppress(ValueError, KeyError):
        key = auto_scaleup(cat, cat.gpus[server.gpu], len(gpus))
    model = (cat.switches[key] if key is not None else cat.switches.get("nvswitch-h100")
             or next(s for s in cat.switches.values() if s.tier_kind == "scale-up"))
    link = cat.links[model.port_link]
    sw = f"{host}/nvswitch"
    G.add_node(sw, kind="switch", tier=0, model=model.key,
               radix=max(model.radix, len(gpus) * server.nvlink_links_per_gpu), node=index)
    for gid in gpus:
        up = {"bandwidth_bytes_per_s": link.bandwidth_bytes_per_s,
              "latency_s": link.latency_s + model.latency_s,
              "num_links": server.nvlink_links_per_gpu, "link": link.key}
        down = dict(up, latency_s=link.latency_s)
        edges += [(gid, sw, up), (sw, gid, down)]


def _add_cables(
    G: nx.DiGraph,
    discovery: Discovery,
    names: dict[str, str],
    port_gpu: dict[tuple[str, str], str],
    switch_latency: dict[str, float],
    default_rate_gbps: float | None,
) -> None:
    """Every cable as an edge pair; parallel cables between one pair become one bundle."""
    bundles: dict[tuple[str, str], list[tuple[Cable, float]]] = defaultdict(list)
    for cable in discovery.cables:
        u = names.get(cable.a) or port_gpu[(cable.a, cable.a_port)]
        v = names.get(cable.b) or port_gpu[(cable.b, cable.b_port)]
        if u == v:
            continue  # a loopback cable: no path uses it
        pair = (u, v) if u < v else (v, u)
        bundles[pair].append((cable, _rate(cable, default_rate_gbps)))
    edges = []
    lat_of = {names[k]: lat for k, lat in switch_latency.items()}
    for (u, v), cables in bundles.items():
        top = max(rate for _, rate in cables)
        total = sum(rate for _, rate in cables)
        keys = Counter(_link_key(rate, c, discovery.medium) for c, rate in cables)
        link = keys.most_common(1)[0][0]
        data: dict[str, Any] = {
            "bandwidth_bytes_per_s": units.gbps_to_bytes_per_s(total / len(cables)),
            "num_links": len(cables),
            "link": link,
        }
        if discovery.medium == "infiniband":
            rated = [c for c, _ in cables if c.width]
            if rated:
                data["width"] = min(c.width or 0 for c in rated)
                data["speed"] = min((c.speed for c in rated), key=speed_rank)
            data["slow_links"] = sum(1 for _, rate in cables if rate < top)
        edges.append((u, v, dict(data, latency_s=_CABLE_LATENCY_S + lat_of.get(v, 0.0))))
        edges.append((v, u, dict(data, latency_s=_CABLE_LATENCY_S + lat_of.get(u, 0.0))))
    G.add_edges_from(edges)
