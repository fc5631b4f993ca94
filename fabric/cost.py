"""Bill of materials, capex and power of a fabric graph.

:func:`bill_of_materials` walks any graph that follows the conventions of :mod:`fabric.graph` and
prices it from a :class:`~fabric.catalog.Catalog`: switches by model and tier, transceivers,
cables, NICs, and the servers (or bare GPUs) they connect. Every line item names the catalog entry
it was priced from, with that entry's source and year, and every rule the walk applied is written
into :attr:`BillOfMaterials.rules`, so a reader can see why a link is copper or optical.

Rules (each one a keyword argument). Sources: "SuperPOD H100 RA" is NVIDIA's DGX SuperPOD H100
reference architecture (RA-11333-001, 2023,
https://docs.nvidia.com/dgx-superpod/reference-architecture-scalable-infrastructure-h100/latest/network-fabrics.html);
"Meta RoCE" is Gangidi et al., SIGCOMM 2024, https://doi.org/10.1145/3651890.3672233; "LinkX"
is NVIDIA's LinkX cable and transceiver specs, https://docs.nvidia.com/networking/ (2024);
"Al-Fares" is Al-Fares et al., SIGCOMM 2008, https://doi.org/10.1145/1402958.1402967.

Cable length and medium
    A host link (GPU or NIC to a tier >= 1 switch) is *in rack* when the switch's hosts all fit in
    one rack: they span at most ``max(1, rack_gpus // gpus_per_node)`` servers. An in-rack link is
    ``in_rack_length_m`` long, any other link (every switch-to-switch link too: network switches
    sit in their own racks) ``row_length_m``. A link is copper (DAC, then ACC: the cheapest copper
    cable whose reach covers the length) when its length is at most ``copper_reach_m``, else
    optical: one fiber plus a transceiver at each end (LinkX; Meta's ToR-to-server links
    are DAC, Meta RoCE). A rail-optimized leaf serves one GPU of each of 32 servers (the DGX
    SuperPOD puts leaves in separate network racks, SuperPOD H100 RA), so its host links come out
    optical; a fat-tree edge switch whose 24 hosts share a rack comes out copper.
Transceivers
    One module per optical link end, of the link's rate and a reach that covers the length, the
    cheapest per link; none at the ports of a switch with ``co_packaged_optics`` (its cost and
    power include the optics). Switch side: a twin-port module (catalog ``ports = 2``) serves
    two links of the same switch and cable class where the catalog has one (LinkX; SuperPOD RA).
    Host side: single-port modules (``ports = 1``), unless ``twin_port_on_nodes`` (a DGX H100
    carries 4 twin-port OSFPs for its 8 GPUs, SuperPOD H100 RA), then twin modules shared by a
    server's links.
NICs
    One NIC port per host link: the catalog NIC whose ``link`` is the edge's link, else the
    cheapest NIC whose port rate is at least the link's (a faster NIC run at the link's speed).
    A multi-plane fabric (``G.graph["planes"]`` = N > 1, set by the rail-optimized and Clos
    builders) splits each NIC port into N planes: a GPU's N plane links share one port of the
    cheapest NIC of at least N x the link's rate (a ConnectX-8 800G as 2 x 400G in the DGX B300
    SuperPOD's twin planes), else take one NIC port each.
Servers
    GPUs grouped by their ``node`` attribute are priced as the catalog node whose ``gpu``,
    ``gpus_per_node`` and ``scaleup_switch`` match (first by key, or ``node_model``), less the
    NICs it includes (those are counted once, under ``nic``). With no match the GPUs are priced
    alone (category ``gpu``; CPUs, memory and chassis not counted) and the rules say so.
In-node links
    NVLink and PCIe edges (GPU to scale-up switch, GPU to NIC) are inside the server and priced
    with it; scale-up switches appear as line items at their catalog price (0 for NVSwitch
    baseboards, which the node price covers).

Four single-GPU servers on one QM9700 leaf in their rack: copper host links, no optics.

>>> import networkx as nx
>>> from fabric.catalog import default_catalog
>>> from fabric.graph import cable_edges, gpu_attrs, switch_attrs
>>> cat = default_catalog()
>>> G = nx.DiGraph(topology="custom", params={}, catalog=cat.version)
>>> G.add_node("leaf0", **switch_attrs(cat.switches["qm9700"], 1))
>>> G.add_nodes_from((f"node{n}/gpu0", gpu_attrs("h100", n, 0)) for n in range(4))
>>> G.add_edges_from(e for n in range(4)
...                  for e in cable_edges(f"node{n}/gpu0", "leaf0", cat.links["ndr400"]))
>>> bom = bill_of_materials(G)
>>> bom.quantity("switch"), bom.quantity("cable", "dac"), bom.quantity("transceiver")
(1, 4, 0)
>>> bom.network_cost_usd  # 36,000 + 4 x (150 DAC + 1,090 NIC) USD (catalog)
40960.0
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from fabric.cables import (
    NODE_CLASSES,
    class_name,
    group_sums,
    scaleout_cables,
)
from fabric.catalog import Cable, Catalog, LinkType, NodeModel, Transceiver, default_catalog
from fabric.graph import TIER_NAMES, adjacency, gpu_nodes, node_table, ports_held
from fabric.routing import fabric_index

__all__ = [
    "CATEGORIES",
    "NETWORK_CATEGORIES",
    "LineItem",
    "BillOfMaterials",
    "bill_of_materials",
]

CATEGORIES = ("switch", "transceiver", "cable", "nic", "node", "gpu")
NETWORK_CATEGORIES = ("switch", "transceiver", "cable", "nic")
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


def _price(owner: str, name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0, else a ValueError naming the entry."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"catalog {owner}: {name} must be a number >= 0 to price this fabric, got {value!r}"
        )
    return float(value)


@dataclass(**_FROZEN)
class LineItem:
    """One line of a bill of materials.

    ``tier`` is the switch tier name (``leaf``, ``spine``...) for switches, the cable class
    (``gpu-leaf``, ``leaf-spine``...) for transceivers, cables and NICs, and ``server`` for
    nodes and GPUs.
    """

    category: str
    key: str
    tier: str
    quantity: int
    unit_cost_usd: float
    unit_power_w: float
    name: str = ""
    source: str = ""
    year: int = 0

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(
                f"category must be one of {', '.join(CATEGORIES)}, got {self.category!r}"
            )
        if not isinstance(self.quantity, int) or self.quantity < 0:
            raise ValueError(f"quantity must be an integer >= 0, got {self.quantity!r}")
        _price(f"{self.category} {self.key}", "unit_cost_usd", self.unit_cost_usd)
        _price(f"{self.category} {self.key}", "unit_power_w", self.unit_power_w)

    @property
    def cost_usd(self) -> float:
        """Quantity times unit cost."""
        return self.quantity * self.unit_cost_usd

    @property
    def power_w(self) -> float:
        """Quantity times unit power."""
        return self.quantity * self.unit_power_w


@dataclass(**_FROZEN)
class BillOfMaterials:
    """The priced parts list of one fabric and the rules used to derive it.

    Network categories are switches, transceivers, cables and NICs; the cluster total adds the
    servers (or bare GPUs).
    """

    topology: str
    num_gpus: int
    num_nodes: int
    catalog_version: str
    items: tuple[LineItem, ...]
    ports_used_by_tier: Mapping[str, int] = field(default_factory=dict)
    ports_available_by_tier: Mapping[str, int] = field(default_factory=dict)
    links_by_medium: Mapping[str, int] = field(default_factory=dict)
    rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.num_gpus, int) or self.num_gpus < 1:
            raise ValueError(f"num_gpus must be an integer >= 1, got {self.num_gpus!r}")

    def _sum(self, attr: str, categories: Iterable[str]) -> float:
        wanted = set(categories)
        return float(sum(getattr(i, attr) for i in self.items if i.category in wanted))

    @property
    def cost_usd(self) -> float:
        """Cluster capex: network plus servers."""
        return self._sum("cost_usd", CATEGORIES)

    @property
    def power_w(self) -> float:
        """Cluster power: network plus servers (IT load, before PUE)."""
        return self._sum("power_w", CATEGORIES)

    @property
    def network_cost_usd(self) -> float:
        """Switches, transceivers, cables and NICs."""
        return self._sum("cost_usd", NETWORK_CATEGORIES)

    @property
    def network_power_w(self) -> float:
        """Power of switches, transceivers, cables and NICs."""
        return self._sum("power_w", NETWORK_CATEGORIES)

    @property
    def cost_by_category(self) -> dict[str, float]:
        """Cost per category, every category present (0.0 where none)."""
        return {c: self._sum("cost_usd", [c]) for c in CATEGORIES}

    @property
    def power_by_category(self) -> dict[str, float]:
        """Power per category, every category present (0.0 where none)."""
        return {c: self._sum("power_w", [c]) for c in CATEGORIES}

    @property
    def network_cost_per_gpu_usd(self) -> float:
        """Network cost divided by the GPU count."""
        return self.network_cost_usd / self.num_gpus

    @property
    def network_power_per_gpu_w(self) -> float:
        """Network power divided by the GPU count."""
        return self.network_power_w / self.num_gpus

    @property
    def network_cost_share(self) -> float:
        """Network cost as a fraction of the cluster's (0 for an unpriced cluster)."""
        total = self.cost_usd
        return self.network_cost_usd / total if total > 0 else 0.0

    @property
    def network_power_share(self) -> float:
        """Network power as a fraction of the cluster's."""
        total = self.power_w
        return self.network_power_w / total if total > 0 else 0.0

    def quantity(self, category: str, key: str | None = None, tier: str | None = None) -> int:
        """Units of ``category`` (optionally one catalog ``key`` and one ``tier``)."""
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {', '.join(CATEGORIES)}, got {category!r}")
        return sum(
            i.quantity
            for i in self.items
            if i.category == category
            and (key is None or i.key == key)
            and (tier is None or i.tier == tier)
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON: items with their totals, and the cluster totals."""
        items = [
            {
                "category": i.category,
                "key": i.key,
                "tier": i.tier,
                "quantity": i.quantity,
                "unit_cost_usd": i.unit_cost_usd,
                "unit_power_w": i.unit_power_w,
                "cost_usd": i.cost_usd,
                "power_w": i.power_w,
                "name": i.name,
                "source": i.source,
                "year": i.year,
            }
            for i in self.items
        ]
        return {
            "topology": self.topology,
            "num_gpus": self.num_gpus,
            "num_nodes": self.num_nodes,
            "catalog_version": self.catalog_version,
            "items": items,
            "ports_used_by_tier": dict(self.ports_used_by_tier),
            "ports_available_by_tier": dict(self.ports_available_by_tier),
            "links_by_medium": dict(self.links_by_medium),
            "rules": list(self.rules),
            "cost_usd": self.cost_usd,
            "power_w": self.power_w,
            "network_cost_usd": self.network_cost_usd,
            "network_power_w": self.network_power_w,
            "network_cost_per_gpu_usd": self.network_cost_per_gpu_usd,
            "network_power_per_gpu_w": self.network_power_per_gpu_w,
            "network_cost_share": self.network_cost_share,
            "network_power_share": self.network_power_share,
            "cost_by_category_usd": self.cost_by_category,
            "power_by_category_w": self.power_by_category,
        }


def _tier_name(data: Mapping[str, Any]) -> str:
    return TIER_NAMES[int(data["tier"])]


def _pick_cable(catalog: Catalog, kind: str, length_m: float) -> Cable | None:
    fits = [c for c in catalog.cables.values() if c.kind == kind and c.reach_m >= length_m]
    return min(fits, key=lambda c: (c.cost_usd, c.key)) if fits else None


def _pick_transceiver(
    catalog: Catalog, link: LinkType, length_m: float, *, twin: bool, what: str
) -> Transceiver:
    rate = [
        t
        for t in catalog.transceivers.values()
        if math.isclose(t.link_rate_bytes_per_s, link.bandwidth_bytes_per_s, rel_tol=1e-9)
    ]
    if not rate:
        known = (
            ", ".join(
                f"{k} ({t.link_rate_bytes_per_s:g} B/s)"
                for k, t in sorted(catalog.transceivers.items())
            )
            or "(none)"
        )
        raise ValueError(
            f"link {link.key!r} ({link.bandwidth_bytes_per_s:g} bytes/s) needs a "
            f"transceiver of that rate for {what}; the catalog has none: {known}"
        )
    reach = [t for t in rate if t.reach_m >= length_m]
    if not reach:
        raise ValueError(
            f"link {link.key!r}: no transceiver of its rate reaches {length_m:g} m "
            f"for {what}; longest: {max(t.reach_m for t in rate):g} m"
        )
    preferred = [t for t in reach if (t.ports >= 2) == twin] or reach
    return min(
        preferred,
        key=lambda t: (_price(f"transceiver {t.key}", "cost_usd", t.cost_usd) / t.ports, t.key),
    )


def _pick_planar_nic(catalog: Catalog, link: LinkType, planes: int) -> tuple[str, str] | None:
    """The cheapest NIC of at least ``planes`` x the link's rate, split into the planes."""
    rate = planes * link.bandwidth_bytes_per_s
    fits = [
        n for n in catalog.nics.values()
        if catalog.links[n.link].bandwidth_bytes_per_s >= rate * (1 - 1e-9)
    ]
    if not fits:
        return None
    best = min(fits, key=lambda n: (_price(f"nic {n.key}", "cost_usd", n.cost_usd), n.key))
    return best.key, (
        f"multi-plane: each port of NIC {best.key} ({best.link}) split into {planes} planes of "
        f"{link.key}"
    )


def _pick_nic(catalog: Catalog, link: LinkType) -> tuple[str, str]:
    exact = sorted(k for k, n in catalog.nics.items() if n.link == link.key)
    if exact:
        return exact[0], ""
    faster = [
        n
        for n in catalog.nics.values()
        if catalog.links[n.link].bandwidth_bytes_per_s >= link.bandwidth_bytes_per_s
    ]
    if not faster:
        raise ValueError(
            f"link {link.key!r} needs a NIC of at least its rate "
            f"({link.bandwidth_bytes_per_s:g} bytes/s); the catalog has none: "
            f"{', '.join(sorted(catalog.nics)) or '(none)'}"
        )
    best = min(faster, key=lambda n: (_price(f"nic {n.key}", "cost_usd", n.cost_usd), n.key))
    return best.key, (
        f"NIC {best.key} ({best.link}) run at {link.key}: the catalog has no {link.key} NIC"
    )


def _match_node(
    catalog: Catalog, gpu: str, count: int, scaleup: str | None, node_model: str | None
) -> NodeModel | None:
    if node_model is not None:
        node = catalog.nodes[node_model]
        if node.gpu != gpu or node.gpus_per_node != count:
            raise ValueError(
                f"node_model {node_model!r} has {node.gpus_per_node} x {node.gpu}, "
                f"but the graph's servers have {count} x {gpu}"
            )
        return node
    for key in sorted(catalog.nodes):
        node = catalog.nodes[key]
        if node.gpu == gpu and node.gpus_per_node == count and node.scaleup_switch == scaleup:
            return node
    return None


def _reserved_links(
    G: nx.DiGraph,
    cat: Catalog,
    length_m: float,
    copper_reach_m: float,
    switch_optics: Counter[tuple[str, str, str]],
    host_optics: Counter[tuple[Any, str, str]],
    media: Counter[str],
    add: Any,
) -> int:
    """Cable the ports a builder reserved on its switches (``reserved_ports``); return how many."""
    total = 0
    for n, d in G.nodes(data=True):
        count = int(d.get("reserved_ports", 0) or 0) if d["kind"] == "switch" else 0
        if count <= 0:
            continue
        total += count
        model = cat.switches[d["model"]]
        ltype = cat.links[model.port_link]
        cls = f"appliance-{_tier_name(d)}"
        copper = _pick_cable(cat, "copper", length_m) if length_m <= copper_reach_m else None
        cable = copper or _pick_cable(cat, "fiber", length_m)
        if cable is None:
            raise ValueError(f"no fiber cable in the catalog reaches {length_m:g} m ({cls} links)")
        add(
            "cable",
            cable.key,
            cls,
            count,
            _price(f"cable {cable.key}", "cost_usd", cable.cost_usd),
            _price(f"cable {cable.key}", "power_w", cable.power_w),
            cable,
        )
        media["copper" if copper else "optical"] += count
        if copper is None:
            what = f"{count} reserved port(s) of {n}"
            t = _pick_transceiver(cat, ltype, length_m, twin=True, what=what)
            switch_optics[(n, _tier_name(d), t.key)] += count
            t = _pick_transceiver(cat, ltype, length_m, twin=False, what=what)
            host_optics[(f"appliance:{n}", "host", t.key)] += count
    return total


@dataclass(**_FROZEN)
class _HostShare:
    """What a server holds besides its GPUs and NICs, priced for a server of no catalog node."""

    key: str
    name: str
    cost_usd: float
    power_w: float
    source: str
    year: int


def _host_share(cat: Catalog, gpus_per_node: int) -> _HostShare | None:
    """The median non-GPU, non-NIC share (CPUs, memory, chassis, baseboard, power supplies) of
    the catalog's nodes of ``gpus_per_node`` GPUs (node price less its GPUs and NICs at their
    catalog prices), or that median per GPU of every node times ``gpus_per_node``; None when
    no node gives a positive share. Without it, an H200 or MI300X cluster (no catalog node)
    was priced as bare GPUs and came out cheaper than the same H100 cluster."""
    shares = []
    for node in cat.nodes.values():
        gpu, nic = cat.gpus.get(node.gpu), cat.nics.get(node.nic)
        if gpu is None or nic is None or node.cost_usd is None or node.power_w is None:
            continue
        cost = node.cost_usd - node.gpus_per_node * (gpu.cost_usd or 0.0) - (
            node.nics_per_node * (nic.cost_usd or 0.0))
        power = node.power_w - node.gpus_per_node * (gpu.power_w or 0.0) - (
            node.nics_per_node * (nic.power_w or 0.0))
        if cost > 0 and power > 0:
            shares.append((node.gpus_per_node, node.key, cost, power))
    same = [(c, p, k) for n, k, c, p in shares if n == gpus_per_node]
    used = [k for _, _, k in same] if same else [k for _, k, _, _ in shares]
    if same:
        cost, power = statistics.median(c for c, _, _ in same), statistics.median(
            p for _, p, _ in same)
        keys = ", ".join(sorted(k for _, _, k in same))
        how = f"the median of {keys}"
    elif shares:
        cost = gpus_per_node * statistics.median(c / n for n, _, c, _ in shares)
        power = gpus_per_node * statistics.median(p / n for n, _, _, p in shares)
        keys = ", ".join(sorted(k for _, k, _, _ in shares))
        how = f"{gpus_per_node} x the median per GPU of {keys}"
    else:
        return None
    return _HostShare(
        key=f"host-{gpus_per_node}-gpu", name=f"the host of a {gpus_per_node}-GPU server",
        cost_usd=float(cost), power_w=float(power),
        source=(f"assumption: the non-GPU, non-NIC share of {how} (catalog node price and "
                f"power less its GPUs and NICs at their catalog figures)"),
        year=max((cat.nodes[k].year for k in used), default=0))


def _entry_source(entry: Any) -> tuple[str, str, int]:
    return entry.name, entry.source, int(entry.year)


def bill_of_materials(
    G: nx.DiGraph,
    *,
    catalog: Catalog | None = None,
    copper_reach_m: float = 3.0,
    rack_gpus: int = 32,
    in_rack_length_m: float = 2.0,
    row_length_m: float = 30.0,
    twin_port_on_nodes: bool = False,
    node_model: str | None = None,
) -> BillOfMaterials:
    """Price a fabric graph: switches, transceivers, cables, NICs and servers.

    Parameters
    ----------
    G : nx.DiGraph
        A fabric following :mod:`fabric.graph`'s conventions (any builder's output).
    catalog : Catalog or None
        Prices and power; None for :func:`fabric.catalog.default_catalog`. A user catalog
        (:func:`fabric.catalog.load_catalog`) changes the totals.
    copper_reach_m : float
        Longest link that is copper (DAC ≤ about 2–3 m, LinkX specs); longer links are optical.
    rack_gpus : int
        GPUs per rack: a switch whose hosts fit in one rack is a top-of-rack switch (assumption:
        4 DGX H100 = 32 GPUs; Meta's racks hold 16, Meta RoCE).
    in_rack_length_m, row_length_m : float
        Length of a host-to-ToR link, and of every other link (network racks in a row).
    twin_port_on_nodes : bool
        Host side uses twin-port modules shared by a server's links (DGX H100 style, SuperPOD RA).
    node_model : str or None
        Catalog node to price every server as; None picks the first (by key) that matches.

    Returns
    -------
    BillOfMaterials
        Line items sorted by category, tier and key, and the rules applied.

    Raises
    ------
    ValueError
        A catalog entry the graph needs is missing or unpriced (the message names it): an unknown
        switch/link/GPU model, a link rate with no transceiver or NIC, a non-numeric price; or a
        bad keyword value.

    Notes
    -----
    Counting rules are in the module docstring. Twin-port modules per switch and cable class are
    ``ceil(optical ports / 2)`` (a twin-port 800G OSFP, 2x400G, serves 2 links, LinkX; derived
    from the SuperPOD H100 RA's Table 4, the 1-SU build has 382 switch-side modules for 764 ports).

    Examples
    --------
    See the module docstring; the k=48 Al-Fares fat-tree of 3,000 USD switches costs 8.64 M USD
    in switches (Al-Fares, tests/fabric/test_cost.py).
    """
    cat = default_catalog() if catalog is None else catalog
    for name, value in (
        ("copper_reach_m", copper_reach_m),
        ("in_rack_length_m", in_rack_length_m),
        ("row_length_m", row_length_m),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if isinstance(rack_gpus, bool) or not isinstance(rack_gpus, int) or rack_gpus < 1:
        raise ValueError(f"rack_gpus must be an integer >= 1, got {rack_gpus!r}")
    gpus = gpu_nodes(G)
    if not gpus:
        raise ValueError("the graph has no GPUs to price")
    rules: list[str] = [f"copper when a link is <= {copper_reach_m:g} m, else optics + fiber"]
    lines: dict[tuple[str, str, str], list[Any]] = {}

    def add(
        category: str, key: str, tier: str, qty: int, cost: float, power: float, entry: Any
    ) -> None:
        slot = lines.get((category, key, tier))
        if slot is None:
            lines[(category, key, tier)] = [qty, cost, power, *_entry_source(entry)]
        else:
            slot[0] += qty

    # Switches and ports.
    index = fabric_index(G)
    out_links = np.bincount(index.edge_src, weights=index.edge_num_links,
                            minlength=index.num_nodes)
    used: Counter[str] = Counter()
    avail: Counter[str] = Counter()
    switch_ids = np.flatnonzero(index.kind == 2)
    node_attrs = node_table(G)
    kinds: Counter[tuple[str, str]] = Counter()  # (model, tier) -> switches, in first-seen order
    for i, links in zip(switch_ids.tolist(), np.round(out_links[switch_ids]).tolist(),
                        strict=True):
        d = node_attrs[index.nodes[i]]
        tier = _tier_name(d)
        kinds[(d["model"], tier)] += 1
        used[tier] += int(links) + ports_held(d)
        avail[tier] += int(d["radix"])
    for (key, tier), count in kinds.items():
        model = cat.switches[key]
        add(
            "switch",
            model.key,
            tier,
            count,
            _price(f"switch {model.key}", "cost_usd", model.cost_usd),
            _price(f"switch {model.key}", "power_w", model.power_w),
            model,
        )

    # Links: medium, cables, transceivers, NICs. Picks depend only on (link, length, side): memoize.
    picks: dict[tuple[Any, ...], Any] = {}
    planes = G.graph.get("planes", 1)
    planes = planes if isinstance(planes, int) and not isinstance(planes, bool) else 1
    links_per_nic_port: dict[str, int] = {}  # NIC key -> host links per port (planes split it)

    def pick(kind: str, *key: Any, what: str = "") -> Any:
        slot = (kind, *key)
        if slot not in picks:
            if kind == "cable":
                picks[slot] = _pick_cable(cat, key[0], key[1])
            elif kind == "transceiver":
                picks[slot] = _pick_transceiver(
                    cat, cat.links[key[0]], key[1], twin=key[2], what=what
                )
            else:
                planar = (
                    _pick_planar_nic(cat, cat.links[key[0]], planes) if planes > 1 else None
                )
                picks[slot] = planar or _pick_nic(cat, cat.links[key[0]])
                links_per_nic_port[picks[slot][0]] = planes if planar else 1
        return picks[slot]

    cables, server_names = scaleout_cables(
        G,
        index,
        cat,
        rack_gpus=rack_gpus,
        in_rack_length_m=in_rack_length_m,
        row_length_m=row_length_m,
        rules=rules,
    )
    media: Counter[str] = Counter()
    switch_optics: Counter[tuple[str, str, str]] = Counter()  # (switch, tier, transceiver)
    host_optics: Counter[tuple[Any, str, str]] = Counter()  # (server, class, transceiver)
    nic_notes: set[str] = set()
    # Bundles of one (link, class, length) are priced alike: one pick per group, in the order
    # the groups first appear among the edges (so the first problem is the one reported).
    num_classes = len(NODE_CLASSES) ** 2
    group = (cables.link * num_classes + cables.cls) * 2 + cables.in_rack
    keys, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    totals = np.bincount(inverse, weights=cables.num_links, minlength=len(keys))
    is_host = cables.host >= 0
    # per bundle: switch-side transceiver (one per switch end), host-side one, NIC (-1: none)
    sw_t = np.full(len(keys), -1, dtype=np.int64)
    host_t = np.full(len(keys), -1, dtype=np.int64)
    nic_of = np.full(len(keys), -1, dtype=np.int64)
    t_keys: dict[str, int] = {}
    nic_keys: dict[str, int] = {}
    for g in np.argsort(first).tolist():
        lid, rest = divmod(int(keys[g]), num_classes * 2)
        link_key = index.link_names[lid]
        cls_name = class_name(rest // 2)
        length = in_rack_length_m if rest % 2 else row_length_m
        count = int(round(totals[g]))
        cat.links[link_key]  # an unknown link type fails here, naming the known ones
        copper = pick("cable", "copper", length) if length <= copper_reach_m else None
        cable = copper or pick("cable", "fiber", length)
        if cable is None:
            raise ValueError(
                f"no fiber cable in the catalog reaches {length:g} m ({cls_name} links)"
            )
        media["copper" if copper is not None else "optical"] += count
        add(
            "cable",
            cable.key,
            cls_name,
            count,
            _price(f"cable {cable.key}", "cost_usd", cable.cost_usd),
            _price(f"cable {cable.key}", "power_w", cable.power_w),
            cable,
        )
        hosts = bool(is_host[first[g]])
        if copper is None:
            what = f"{int(cables.num_links[first[g]])} optical {cls_name} link(s)"
            for twin, slots in ((True, sw_t), (twin_port_on_nodes, host_t)):
                if slots is host_t and not hosts:
                    continue
                t = pick("transceiver", link_key, length, twin, what=what)
                slots[g] = t_keys.setdefault(t.key, len(t_keys))
        if hosts:
            nic_key, note = pick("nic", link_key)
            if note:
                nic_notes.add(note)
            nic_of[g] = nic_keys.setdefault(nic_key, len(nic_keys))
    t_names, nic_names = list(t_keys), list(nic_keys)
    # switch ends: both ends of a switch-to-switch bundle, the switch end of a host bundle
    sw_end = np.concatenate([np.where(cables.host == cables.u, -1, cables.u),
                             np.where(cables.host == cables.v, -1, cables.v)])
    sw_tid = np.concatenate([sw_t[inverse], sw_t[inverse]])
    end_ports = np.concatenate([cables.num_links, cables.num_links])
    ok = (sw_end >= 0) & (sw_tid >= 0)
    wide = max(1, len(t_names))
    cpo_ports = 0
    attrs = node_table(G)
    for code, n in zip(*group_sums(sw_end[ok] * wide + sw_tid[ok], end_ports[ok]), strict=True):
        node = index.nodes[code // wide]
        if cat.switches[attrs[node]["model"]].co_packaged_optics:
            cpo_ports += n  # optics in the switch package, priced and powered with it
            continue
        switch_optics[(node, _tier_name(attrs[node]), t_names[code % wide])] += n
    if cpo_ports:
        rules.append(
            f"{cpo_ports} optical switch port(s) on co-packaged-optics switches: no pluggable "
            f"module, the switch's cost and power include the optics"
        )
    h_tid = host_t[inverse]
    ok = is_host & (h_tid >= 0)
    for code, n in zip(*group_sums(cables.server[ok] * wide + h_tid[ok], cables.num_links[ok]),
                       strict=True):
        host_optics[(server_names[code // wide], "host", t_names[code % wide])] += n
    # NIC ports: per host, class and NIC model, rounded up to whole NICs
    nic_id = nic_of[inverse]
    ok = is_host & (nic_id >= 0)
    wide_nic = max(1, len(nic_names))
    host_key = (cables.host[ok] * num_classes + cables.cls[ok]) * wide_nic + nic_id[ok]
    nic_lines: Counter[tuple[str, str]] = Counter()
    per_nic = [cat.nics[k].ports * links_per_nic_port[k] for k in nic_names]
    codes, links = group_sums(host_key, cables.num_links[ok])
    host_cls, nid = np.divmod(np.asarray(codes, dtype=np.int64), wide_nic)
    whole = -(-np.asarray(links, dtype=np.int64) // np.asarray(per_nic, dtype=np.int64)[nid])
    line_codes, line_nics = group_sums((host_cls % num_classes) * wide_nic + nid, whole)
    for code, n in zip(np.asarray(line_codes).tolist(), np.asarray(line_nics).tolist(),
                       strict=True):
        cls_code, nid_one = divmod(code, wide_nic)
        nic_lines[(class_name(cls_code), nic_names[nid_one])] += int(n)
    reserved = _reserved_links(
        G, cat, row_length_m, copper_reach_m, switch_optics, host_optics, media, add
    )
    if reserved:
        rules.append(
            f"{reserved} leaf port(s) reserved for management appliances (UFM) are "
            f"cabled and priced like host links, without NICs (the DGX SuperPOD H100 RA counts "
            f"their cables)"
        )
    for table in (switch_optics, host_optics):
        for (_, cls, key), ports in table.items():
            t = cat.transceivers[key]
            add(
                "transceiver",
                key,
                cls,
                -(-ports // t.ports),
                _price(f"transceiver {key}", "cost_usd", t.cost_usd),
                _price(f"transceiver {key}", "power_w", t.power_w),
                t,
            )
    for (cls, key), quantity in nic_lines.items():
        nic = cat.nics[key]
        add(
            "nic",
            key,
            cls,
            quantity,
            _price(f"nic {key}", "cost_usd", nic.cost_usd),
            _price(f"nic {key}", "power_w", nic.power_w),
            nic,
        )
    rules.extend(sorted(nic_notes))
    if switch_optics:
        rules.append(
            "switch side: twin-port modules serve 2 links of one switch where the "
            "catalog has them (NVIDIA LinkX twin-port OSFP)"
        )
    if host_optics:
        rules.append(
            "host side: "
            + (
                "twin-port modules shared by a server's links"
                if twin_port_on_nodes
                else "one single-port module per link"
            )
        )

    # Servers.
    servers: dict[Any, list[str]] = defaultdict(list)
    attrs, succ = node_table(G), adjacency(G)
    for g in gpus:
        servers[attrs[g].get("node", g)].append(g)
    groups: Counter[tuple[str, int, str | None]] = Counter()
    for members in servers.values():
        scaleup = next(
            (
                attrs[s]["model"]
                for s in succ[members[0]]
                if attrs[s]["kind"] == "switch" and attrs[s]["tier"] == 0
            ),
            None,
        )
        groups[(str(attrs[members[0]]["model"]), len(members), scaleup)] += 1
    for (gpu_key, count, scaleup), num in sorted(groups.items(), key=lambda kv: str(kv[0])):
        node = _match_node(cat, gpu_key, count, scaleup, node_model)
        if node is not None:
            nic = cat.nics[node.nic]
            cost = _price(
                f"node {node.key}", "cost_usd", node.cost_usd
            ) - node.nics_per_node * _price(f"nic {nic.key}", "cost_usd", nic.cost_usd)
            power = _price(
                f"node {node.key}", "power_w", node.power_w
            ) - node.nics_per_node * _price(f"nic {nic.key}", "power_w", nic.power_w)
            add("node", node.key, "server", num, max(cost, 0.0), max(power, 0.0), node)
            rules.append(
                f"servers of {count} x {gpu_key}: priced as node {node.key} less its "
                f"{node.nics_per_node} x {nic.key} NICs (counted under nic)"
            )
        else:
            gpu = cat.gpus[gpu_key]
            add(
                "gpu",
                gpu_key,
                "server",
                num * count,
                _price(f"gpu {gpu_key}", "cost_usd", gpu.cost_usd),
                _price(f"gpu {gpu_key}", "power_w", gpu.power_w),
                gpu,
            )
            host = _host_share(cat, count)
            if host is None:
                rules.append(
                    f"servers of {count} x {gpu_key} (scale-up {scaleup or 'none'}): no "
                    f"catalog node matches and none gives a host share, so GPUs are priced "
                    f"alone (host CPUs, memory and chassis not counted)")
            else:
                add("node", host.key, "server", num, host.cost_usd, host.power_w, host)
                rules.append(
                    f"servers of {count} x {gpu_key} (scale-up {scaleup or 'none'}): no "
                    f"catalog node matches, so each is its GPUs plus {host.name} "
                    f"({host.cost_usd:,.0f} USD, {host.power_w:,.0f} W; an assumption)")

    order = {c: i for i, c in enumerate(CATEGORIES)}
    tier_order = {"scale-up": 0, "leaf": 1, "spine": 2, "core": 3}
    items = tuple(
        LineItem(
            category=c,
            key=k,
            tier=t,
            quantity=int(v[0]),
            unit_cost_usd=v[1],
            unit_power_w=v[2],
            name=v[3],
            source=v[4],
            year=v[5],
        )
        for (c, k, t), v in sorted(
            lines.items(),
            key=lambda kv: (order[kv[0][0]], tier_order.get(kv[0][2], 9), kv[0][2], kv[0][1]),
        )
    )
    return BillOfMaterials(
        topology=str(G.graph.get("topology", "custom")),
        num_gpus=len(gpus),
        num_nodes=len(servers),
        catalog_version=cat.version,
        items=items,
        ports_used_by_tier=dict(used),
        ports_available_by_tier=dict(avail),
        links_by_medium=dict(sorted(media.items())),
        rules=tuple(rules),
    )
