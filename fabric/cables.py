"""The scale-out cable bundles of a fabric, classified, as arrays over its fabric index.

One pass over :class:`fabric.routing.FabricIndex`'s edge arrays finds every cable bundle outside
the servers (each full-duplex bundle once, in-node NVLink and PCIe left out), its cable class
(``gpu-leaf``, ``leaf-spine``...), whether it stays in a rack, its host end and that host's
server. :func:`fabric.cost.bill_of_materials` prices them; the rules (rack spread, lengths) are
the ones its module docstring states.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from fabric.arrays import unique_sorted
from fabric.catalog import Catalog
from fabric.graph import NODE_CLASSES
from fabric.routing import FabricIndex

__all__ = [
    "IN_NODE_MEDIA",
    "NODE_CLASSES",
    "ScaleoutCables",
    "class_name",
    "group_sums",
    "scaleout_cables",
    "server_codes",
]

#: Link media inside a server (priced with it, never cabled).
IN_NODE_MEDIA = ("nvlink", "xgmi", "pcie")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleoutCables:
    """The cable bundles of the scale-out network, classified: one entry per bundle, as arrays.

    ``u``, ``v`` are node positions of the fabric index (``u`` first in the graph), ``link``
    the index's link ids, ``cls`` a class code (:data:`NODE_CLASSES` ``lo * 6 + hi``),
    ``in_rack`` whether the bundle is ``in_rack_length_m`` long (else ``row_length_m``),
    ``host`` the GPU/NIC end (-1 for switch to switch) and ``server`` the code of its server.
    """

    u: np.ndarray
    v: np.ndarray
    link: np.ndarray
    num_links: np.ndarray
    cls: np.ndarray
    in_rack: np.ndarray
    host: np.ndarray
    server: np.ndarray


def class_name(code: int) -> str:
    """The cable class of a class code (``lo * 6 + hi`` of :data:`NODE_CLASSES` positions)."""
    lo, hi = divmod(int(code), len(NODE_CLASSES))
    return f"{NODE_CLASSES[lo]}-{NODE_CLASSES[hi]}"


def _server_of(G: nx.DiGraph, n: str) -> Any:
    """The server index of a GPU or NIC (NICs inherit it from a GPU neighbour if they lack it)."""
    data = G.nodes[n]
    if "node" in data:
        return data["node"]
    for m in G.successors(n):
        if G.nodes[m]["kind"] == "gpu":
            return G.nodes[m].get("node", m)
    return n


def server_codes(G: nx.DiGraph, index: FabricIndex) -> tuple[np.ndarray, list[Any]]:
    """Per node position, the code of its server (GPUs and NICs; -1 for switches), and the
    server of each code."""
    codes = np.full(index.num_nodes, -1, dtype=np.int64)
    seen: dict[Any, int] = {}
    nodes = index.nodes
    for i in np.flatnonzero(index.kind < 2).tolist():
        codes[i] = seen.setdefault(_server_of(G, nodes[i]), len(seen))
    return codes, list(seen)


def scaleout_cables(
    G: nx.DiGraph,
    index: FabricIndex,
    catalog: Catalog,
    *,
    rack_gpus: int,
    in_rack_length_m: float,
    row_length_m: float,
    rules: list[str],
) -> tuple[ScaleoutCables, list[Any]]:
    """Every cable bundle outside the servers, with its class and estimated length, and the
    server of each server code. One pass over the index's edge arrays."""
    kind, tier = index.kind, index.tier
    src, dst = index.edge_src, index.edge_dst
    server, server_names = server_codes(G, index)
    gpu_servers = np.bincount(server[index.gpu_ids], minlength=len(server_names))
    per_rack = max(1, rack_gpus // max(1, int(gpu_servers.max(initial=1))))
    # distinct servers behind each tier >= 1 switch (over every host -> switch edge)
    hosted = np.flatnonzero((kind[src] < 2) & (kind[dst] == 2) & (tier[dst] >= 1))
    pairs = unique_sorted(dst[hosted] * max(1, len(server_names)) + server[src[hosted]])
    num_servers = np.bincount(pairs // max(1, len(server_names)), minlength=index.num_nodes)
    und = np.flatnonzero(src <= dst)
    link = index.edge_link_id[und]
    first = np.unique(link, return_index=True)
    in_node = np.zeros(len(index.link_names), dtype=bool)
    for lid in first[0][np.argsort(first[1])].tolist():  # an unknown link fails in edge order
        in_node[lid] = catalog.links[index.link_names[lid]].medium in IN_NODE_MEDIA
    und = und[~in_node[link]]
    u, v = src[und], dst[und]
    host_u, host_v = kind[u] < 2, kind[v] < 2
    host = np.where(host_u, u, np.where(host_v, v, -1))
    sw = np.where(host_u, v, u)
    keep = (host < 0) | (kind[sw] == 2)  # GPU to NIC over another medium: inside the server
    und, u, v, host, sw = und[keep], u[keep], v[keep], host[keep], sw[keep]
    is_host = host >= 0
    in_rack = is_host & (num_servers[sw] <= per_rack)
    code = np.where(kind < 2, kind, 2 + tier).astype(np.int64)
    cu, cv = code[u], code[v]
    cls = np.minimum(cu, cv) * len(NODE_CLASSES) + np.maximum(cu, cv)
    num_links = index.edge_num_links[und].astype(np.int64)
    cables = ScaleoutCables(u=u, v=v, link=index.edge_link_id[und], num_links=num_links, cls=cls,
                     in_rack=in_rack, host=host,
                     server=np.where(is_host, server[np.maximum(host, 0)], -1))
    spread: Counter[tuple[str, bool]] = Counter()
    keys = cls[is_host] * 2 + in_rack[is_host]
    for key, n in zip(*group_sums(keys, num_links[is_host]), strict=True):
        spread[(class_name(key // 2), bool(key % 2))] += int(n)
    for (name, near), n in sorted(spread.items()):
        where = (
            f"in rack ({in_rack_length_m:g} m): the switch's hosts fit in one rack of "
            f"{rack_gpus} GPUs"
            if near
            else f"across racks ({row_length_m:g} m): the switch's hosts span more than "
            f"{per_rack} server(s) of a {rack_gpus}-GPU rack"
        )
        rules.append(f"{name}: {n} links {where}")
    return cables, server_names


def group_sums(keys: np.ndarray, values: np.ndarray) -> tuple[list[int], list[int]]:
    """Distinct ``keys`` (sorted) and the sum of ``values`` over each, as int lists."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=values, minlength=len(distinct))
    return distinct.tolist(), [int(round(x)) for x in sums.tolist()]
