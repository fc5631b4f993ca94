"""Equal-cost multipath routing of GPU-to-GPU demands, as link loads.

Routing rules (see :mod:`fabric.graph` for the conventions):

* Two GPUs that hang off the same scale-up (tier-0) switch talk through it (NVLink); their
  traffic never enters the scale-out network.
* Everything else is routed over the scale-out network: every node except tier-0 switches, with
  GPUs as end points only (a GPU never forwards). Forwarding through a peer GPU (PXN, rail-only)
  is the caller's rewrite of a demand into two demands (see :mod:`collectives.model`).
* Among equal-cost (fewest-hop) paths, traffic splits at every hop over the next hops in
  proportion to their parallel cables (``num_links``): the fluid limit of per-flow ECMP hashing.

Demands to GPUs with the same scale-out neighbours (a *destination class*, e.g. every GPU on one
leaf) share one shortest-path DAG, so routing is done per class, all classes at once, level by
level: the work grows with (classes x DAG edges reached), not with GPU pairs. Source GPUs are
aggregated the same way (their first hop is charged to their own links).
"""

from __future__ import annotations

import operator
import weakref
from dataclasses import dataclass
from itertools import chain
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra, shortest_path

from fabric.graph import graph_version, is_tracked

__all__ = ["FabricIndex", "fabric_index", "LinkLoads", "route"]

_UNREACHABLE = np.iinfo(np.int32).max // 4


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkLoads:
    """Bytes per directed edge (indexed as :attr:`FabricIndex.edge_src`) and path latencies.

    ``path_latency_s`` has one entry per demand given (per injection for :func:`propagate`):
    that demand's own path latency, cables plus switches, 0 for a demand that was ignored and
    NaN for one with no path. ``max_latency_s`` is the largest of them (0 if none);
    ``max_hops`` the most switches a path crosses; ``unroutable`` counts demands with no path
    (their bytes are not in ``load_bytes``).
    """

    load_bytes: np.ndarray
    max_latency_s: float
    max_hops: int
    unroutable: int
    path_latency_s: np.ndarray


class FabricIndex:
    """Integer-indexed arrays of a fabric graph, built once and cached per graph object.

    Attributes
    ----------
    nodes : list of node ids; ``index`` maps id -> position.
    kind, tier : int8 arrays per node: 0 GPU, 1 NIC, 2 switch; the switch tier (-1 otherwise).
    edge_src, edge_dst : int arrays of directed edges; ``edge_capacity_bytes_per_s`` is
        bandwidth x num_links; ``edge_latency_s``; ``edge_num_links``; ``edge_link`` names the
        link type of each edge, ``edge_link_id`` numbers it (``link_names[id]`` is the key).
    gpu_ids : node positions of GPUs in the graph's GPU order.
    memo : dict for what other modules derive from this index (communicators, phases, node
        lists). It lives exactly as long as the index: when the graph changes, ``fabric_index``
        builds a new index with an empty memo, so nothing derived can go stale.
    """

    def __init__(self, G: nx.DiGraph) -> None:
        self.memo: dict[object, object] = {}
        self.nodes = list(G.nodes)
        self.index = dict(zip(self.nodes, range(len(self.nodes)), strict=True))
        num = len(self.nodes)
        node_data = list(G._node.values())
        kind_code = {"gpu": 0, "nic": 1, "switch": 2}
        kinds = np.fromiter((kind_code[d["kind"]] for d in node_data), dtype=np.int8, count=num)
        tiers = np.fromiter(
            (int(d.get("tier", -1)) if d["kind"] == "switch" else -1 for d in node_data),
            dtype=np.int8,
            count=num,
        )
        self.kind = kinds  # 0 GPU, 1 NIC, 2 switch
        self.tier = tiers  # switch tier, -1 for GPUs and NICs
        self.is_gpu = kinds == 0
        self.is_scaleup = tiers == 0
        # edges in G.edges order, read at C speed: (node, successors) in node order
        index, succ = self.index, G._succ
        counts = np.fromiter(map(len, succ.values()), dtype=np.int64, count=len(succ))
        num_edges = int(counts.sum())
        owners = np.fromiter(map(index.__getitem__, succ), dtype=np.int64, count=len(succ))
        self.edge_src = np.repeat(owners, counts)
        self.edge_dst = np.fromiter(
            map(index.__getitem__, chain.from_iterable(succ.values())),
            dtype=np.int64,
            count=num_edges,
        )
        data = list(chain.from_iterable(map(dict.values, succ.values())))
        bandwidth = np.fromiter(map(_BANDWIDTH, data), dtype=float, count=num_edges)
        self.edge_latency_s = np.fromiter(map(_LATENCY, data), dtype=float, count=num_edges)
        self.edge_num_links = np.fromiter(map(_NUM_LINKS, data), dtype=float, count=num_edges)
        self.edge_capacity_bytes_per_s = bandwidth * self.edge_num_links
        links = list(map(_LINK, data))
        self.edge_link = np.asarray(links, dtype=object)
        link_id: dict[str, int] = {}
        self.edge_link_id = np.fromiter(
            (link_id.setdefault(k, len(link_id)) for k in links), dtype=np.int64, count=len(links)
        )
        self.link_names = list(link_id)  # edge_link_id -> link key, in order of first use
        self.num_nodes = num
        self.num_edges = num_edges
        self.gpu_ids = np.flatnonzero(self.is_gpu)
        self.gpu_names = [self.nodes[g] for g in self.gpu_ids]
        self.edge_from_gpu = self.is_gpu[self.edge_src]
        self.egress_bytes_per_s = np.bincount(
            self.edge_src, weights=self.edge_capacity_bytes_per_s, minlength=num
        )

        # Transit graph: scale-out switches and NICs, indexed locally (0..T-1); GPUs never
        # forward, so they are not in it.
        transit = ~self.is_gpu & ~self.is_scaleup
        self.transit = transit
        self.t_nodes = np.flatnonzero(transit)
        self.t_of = np.full(num, -1, dtype=np.int64)
        self.t_of[self.t_nodes] = np.arange(len(self.t_nodes))
        num_t = len(self.t_nodes)
        self.num_transit = num_t
        tmask = transit[self.edge_src] & transit[self.edge_dst]
        t_edges = np.flatnonzero(tmask)
        t_src = self.t_of[self.edge_src[t_edges]]
        order = np.argsort(t_src, kind="stable")
        self.t_edges = t_edges[order]
        self.t_src = t_src[order]
        self.t_dst = self.t_of[self.edge_dst[self.t_edges]]
        self.t_indptr = np.concatenate([[0], np.cumsum(np.bincount(self.t_src, minlength=num_t))])
        ones = np.ones(len(self.t_edges))
        # reversed transit graph: distances *to* a node
        self._rev_hops = csr_matrix((ones, (self.t_dst, self.t_src)), shape=(num_t, num_t))
        # a zero latency would be an absent edge to csgraph: nudge only those, so path
        # latencies stay exact sums of the catalog's cable and switch latencies
        t_lat = self.edge_latency_s[self.t_edges]
        self._rev_lat = csr_matrix(
            (np.where(t_lat > 0, t_lat, 1e-15), (self.t_dst, self.t_src)), shape=(num_t, num_t)
        )
        self.rail = np.zeros(num, dtype=np.int64)
        self.rail[self.gpu_ids] = np.fromiter(
            (int(d.get("rail", d.get("local", 0))) for d in map(node_data.__getitem__,
                                                                self.gpu_ids.tolist())),
            dtype=np.int64,
            count=len(self.gpu_ids),
        )

        # GPU attachments: scale-out in/out edges and the scale-up switch per GPU.
        gpu_out = self.is_gpu[self.edge_src] & transit[self.edge_dst]
        gpu_in = transit[self.edge_src] & self.is_gpu[self.edge_dst]
        self.out_edges_of: dict[int, np.ndarray] = _edges_by_node(
            np.flatnonzero(gpu_out), self.edge_src
        )
        self.in_edges_of: dict[int, np.ndarray] = _edges_by_node(
            np.flatnonzero(gpu_in), self.edge_dst
        )
        # one scale-out link per GPU is the common case: keep it as an array for vectorized hops
        self.single_out = _single_edge(np.flatnonzero(gpu_out), self.edge_src, num)
        self.single_in = _single_edge(np.flatnonzero(gpu_in), self.edge_dst, num)
        self.in_latency = np.zeros(num)
        gpu_in_edges = np.flatnonzero(gpu_in)
        np.maximum.at(self.in_latency, self.edge_dst[gpu_in_edges],
                      self.edge_latency_s[gpu_in_edges])
        # the tier-0 switch of each GPU (one per GPU in every builder; the first if several)
        # and its two edges
        self.scaleup_switch = np.full(num, -1, dtype=np.int64)
        self.up_edge = np.full(num, -1, dtype=np.int64)
        self.down_edge = np.full(num, -1, dtype=np.int64)
        up = np.flatnonzero(self.is_gpu[self.edge_src] & self.is_scaleup[self.edge_dst])
        if len(up):
            first = up[np.unique(self.edge_src[up], return_index=True)[1]]
            self.scaleup_switch[self.edge_src[first]] = self.edge_dst[first]
            self.up_edge[self.edge_src[first]] = first
            down = np.flatnonzero(self.is_scaleup[self.edge_src] & self.is_gpu[self.edge_dst])
            mine = self.scaleup_switch[self.edge_dst[down]] == self.edge_src[down]
            self.down_edge[self.edge_dst[down[mine]]] = down[mine]
        # destination classes: GPUs with the same scale-out predecessors. A GPU with several
        # (multi-plane) is a class of its own, whose last hops are charged where its traffic
        # arrives (propagate), not split blindly over its in-edges.
        # Classes are numbered in order of first appearance over the GPUs: a single-homed GPU's
        # key is its one predecessor, a multi-homed GPU is a class of its own.
        self.class_of = np.full(num, -1, dtype=np.int64)
        self.class_preds: list[np.ndarray] = []
        self.class_last_edges: dict[int, np.ndarray] = {}  # multi-homed class -> in-edge per pred
        has_in = np.zeros(num, dtype=bool)
        has_in[self.edge_dst[gpu_in_edges]] = True
        homed = self.gpu_ids[has_in[self.gpu_ids]]
        single = self.single_in[homed] >= 0
        key = np.where(single, self.t_of[self.edge_src[self.single_in[homed]]],
                       num_t + np.arange(len(homed)))  # multi-homed: a key of its own
        if len(homed):
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            rank = np.empty(len(first), dtype=np.int64)
            rank[np.argsort(first, kind="stable")] = np.arange(len(first))
            self.class_of[homed] = rank[inverse.reshape(-1)]
            firsts = np.sort(first)
            for i, (g, one) in enumerate(zip(homed[firsts].tolist(), single[firsts].tolist(),
                                             strict=True)):
                if one:
                    self.class_preds.append(self.t_of[self.edge_src[[self.single_in[g]]]])
                    continue
                in_edges = self.in_edges_of[g]
                preds = self.t_of[self.edge_src[in_edges]]
                order = np.argsort(preds)
                self.class_preds.append(preds[order].astype(np.int64))  # local transit ids
                self.class_last_edges[i] = np.asarray(in_edges)[order]
        self._dist: dict[int, np.ndarray] = {}
        self._lat: dict[int, np.ndarray] = {}

    # -- per-class distances ---------------------------------------------------------------
    def prepare(self, classes: np.ndarray) -> None:
        """Compute hop and latency distances of several destination classes in one pass."""
        missing = [int(c) for c in classes if int(c) not in self._dist]
        if not missing:
            return
        preds = np.concatenate([self.class_preds[c] for c in missing])
        owner = np.concatenate(
            [np.full(len(self.class_preds[c]), i) for i, c in enumerate(missing)]
        )
        hops = np.atleast_2d(shortest_path(self._rev_hops, unweighted=True, indices=preds))
        lat = np.atleast_2d(dijkstra(self._rev_lat, indices=preds))
        for i, c in enumerate(missing):
            rows = owner == i
            raw = hops[rows].min(axis=0)
            self._dist[c] = np.where(np.isfinite(raw), raw, _UNREACHABLE).astype(np.int32)
            self._lat[c] = lat[rows].min(axis=0)

    def class_distance(self, cls: int) -> np.ndarray:
        """Fewest hops from every transit node (local id) to a predecessor of class ``cls``."""
        if cls not in self._dist:
            self.prepare(np.array([cls]))
        return self._dist[cls]

    def class_latency(self, cls: int) -> np.ndarray:
        """Least latency (s) from each transit node (local id) to a predecessor of class ``cls``."""
        if cls not in self._lat:
            self.prepare(np.array([cls]))
        return self._lat[cls]


def _edges_by_node(edges: np.ndarray, end: np.ndarray) -> dict[int, np.ndarray]:
    """``edges`` grouped by their ``end`` node (in edge order within a node)."""
    if len(edges) == 0:
        return {}
    nodes = end[edges]
    order = np.argsort(nodes, kind="stable")
    nodes, edges = nodes[order], edges[order]
    cuts = np.flatnonzero(np.diff(nodes)) + 1
    return dict(zip(nodes[np.concatenate([[0], cuts])].tolist(), np.split(edges, cuts),
                    strict=True))


def _single_edge(edges: np.ndarray, end: np.ndarray, num: int) -> np.ndarray:
    """Per node, its one edge among ``edges`` (by ``end``), or -1 if it has none or several."""
    count = np.bincount(end[edges], minlength=num)
    out = np.full(num, -1, dtype=np.int64)
    one = edges[count[end[edges]] == 1]
    out[end[one]] = one
    return out


_EDGE_FIELDS = operator.itemgetter("bandwidth_bytes_per_s", "latency_s", "num_links", "link")
_BANDWIDTH = operator.itemgetter("bandwidth_bytes_per_s")
_LATENCY = operator.itemgetter("latency_s")
_NUM_LINKS = operator.itemgetter("num_links")
_LINK = operator.itemgetter("link")
_VALUES = operator.methodcaller("values")
_ITEMS = operator.methodcaller("items")


def _graph_state(G: nx.DiGraph) -> tuple[list[Any], ...] | None:
    """What a :class:`FabricIndex` (and what others derive from it) reads of ``G``, as lists.

    Node ids in order with every node attribute (kind, tier, model, rail and the other builder
    indices), and per node in successor order its neighbours with each edge's
    ``bandwidth_bytes_per_s``, ``latency_s``, ``num_links`` and ``link``. Two states compare
    equal exactly when an index built from either would be the same. None when an edge lacks
    one of those (then the index cannot be built either, and says why). One O(N + E) pass at
    C speed.
    """
    nodes, succ = G._node, G._succ
    try:
        edge_fields = list(map(_EDGE_FIELDS, chain.from_iterable(map(_VALUES, succ.values()))))
    except (KeyError, TypeError):
        return None
    return (
        list(nodes),
        list(map(tuple, map(_ITEMS, nodes.values()))),
        list(succ),
        list(map(len, succ.values())),
        list(chain.from_iterable(succ.values())),
        edge_fields,
    )


@dataclass(slots=True, kw_only=True)
class _Cached:
    """A graph's index and how to tell it is still current."""

    index: FabricIndex
    version: int | None  # FabricGraph.version when indexed; None: compare ``state`` instead
    state: tuple[list[Any], ...] | None


_CACHE: weakref.WeakKeyDictionary[nx.DiGraph, _Cached] = weakref.WeakKeyDictionary()


def fabric_index(G: nx.DiGraph) -> FabricIndex:
    """The :class:`FabricIndex` of ``G`` as it is now: cached, and rebuilt when ``G`` changed.

    The index (and its ``memo``) is reused exactly as long as the graph keeps its nodes, their
    attributes, its edges and their ``bandwidth_bytes_per_s``, ``latency_s``, ``num_links``
    and ``link``. A change of any of these, however it is made (``G.edges[u, v][key] = x``,
    ``nx.set_edge_attributes``, a removal and an addition that keep the counts), gives a new
    index with an empty memo.

    Notes
    -----
    How the check stays cheap: a :class:`fabric.graph.FabricGraph` (what the builders and
    loaders return) counts its own changes, so when its :attr:`~fabric.graph.FabricGraph.version`
    equals the one indexed, the cached index is returned at once (O(1), about a microsecond);
    any change of that graph rebuilds it. A plain ``nx.DiGraph`` or a view keeps no count: its
    content is compared on every call with what was indexed (one O(N + E) pass at C speed,
    about 0.1 s for the 100k edges of a 16k-GPU fabric), so it is never stale either, only
    slower. ``FabricGraph(G)`` converts one.
    """
    cached = _CACHE.get(G)
    version = graph_version(G)
    if cached is not None and version is not None and cached.version == version:
        return cached.index
    if version is not None and is_tracked(G):
        cached = _Cached(index=FabricIndex(G), version=version, state=None)
        _CACHE[G] = cached
        return cached.index
    state = _graph_state(G)
    if cached is None or state is None or state != cached.state:
        cached = _Cached(index=FabricIndex(G), version=None, state=state)
        _CACHE[G] = cached
    return cached.index


def route(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    size_bytes: np.ndarray,
    *,
    chunk_classes: int = 32,
) -> LinkLoads:
    """Route demands ``src[i] -> dst[i]`` of ``size_bytes[i]`` (node positions of GPUs).

    Returns the bytes each directed edge carries under fluid ECMP and each demand's path
    latency. Demands with ``src == dst`` or no bytes are ignored (latency 0).

    Notes
    -----
    A demand's path latency is that of its own path: its first hop (the largest over the first
    hops its bytes take when they split), the least-latency transit path from there to its
    destination's last switch, and its last hop. ``max_latency_s`` is the largest of these over
    the demands, so a demand with a slow first hop and another with a long transit path do not
    add up.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    demand_bytes = np.asarray(size_bytes, dtype=float)
    path_latency_s = np.zeros(len(src))
    keep = (src != dst) & (demand_bytes > 0)
    ids = np.flatnonzero(keep)  # input position of each demand still routed
    src, dst, demand_bytes = src[keep], dst[keep], demand_bytes[keep]
    load = np.zeros(index.num_edges)
    max_hops = 0
    unroutable = 0
    if len(src) == 0:
        return _link_loads(load, path_latency_s, max_hops, unroutable)

    # 1. scale-up pairs: both GPUs on the same tier-0 switch
    su_a, su_b = index.scaleup_switch[src], index.scaleup_switch[dst]
    intra = (su_a >= 0) & (su_a == su_b)
    if intra.any():
        up, down = index.up_edge[src[intra]], index.down_edge[dst[intra]]
        np.add.at(load, up, demand_bytes[intra])
        np.add.at(load, down, demand_bytes[intra])
        path_latency_s[ids[intra]] = index.edge_latency_s[up] + index.edge_latency_s[down]
        max_hops = 1
    src, dst, demand_bytes, ids = src[~intra], dst[~intra], demand_bytes[~intra], ids[~intra]
    if len(src) == 0:
        return _link_loads(load, path_latency_s, max_hops, unroutable)

    # 2. scale-out: first hop, per-class propagation, last hop
    cls = index.class_of[dst]
    bad = cls < 0
    unroutable += int(bad.sum())
    path_latency_s[ids[bad]] = np.nan
    src, dst, demand_bytes, cls, ids = (
        src[~bad],
        dst[~bad],
        demand_bytes[~bad],
        cls[~bad],
        ids[~bad],
    )
    # one entry per injection (a demand's bytes entering the network over one first hop): where
    # it enters, its class, bytes, demand (position in ``ids``) and first + last hop latency
    state_node, state_cls, state_amount, state_demand, state_ends_s = [], [], [], [], []
    arrivals = np.zeros(index.num_nodes)
    # first hop, vectorized for sources with one scale-out link (the common case)
    single = index.single_out[src]
    one = single >= 0
    lost = np.zeros(len(src), dtype=bool)
    if one.any():
        lost = one.copy()
        lost[one] = ~_reachable(index, index.t_of[index.edge_dst[single[one]]], cls[one])
        if lost.any():  # no path: charge nothing
            unroutable += int(lost.sum())
            demand_bytes[lost] = 0.0
            path_latency_s[ids[lost]] = np.nan
            one &= ~lost
    if one.any():
        e = single[one]
        np.add.at(load, e, demand_bytes[one])
        state_node.append(index.edge_dst[e])
        state_cls.append(cls[one])
        state_amount.append(demand_bytes[one])
        state_demand.append(np.flatnonzero(one))
        state_ends_s.append(index.edge_latency_s[e] + index.in_latency[dst[one]])
    for i in np.flatnonzero(~one & ~lost):
        edges = index.out_edges_of.get(int(src[i]))
        dist = index.class_distance(int(cls[i])) if edges is not None else None
        d = dist[index.t_of[index.edge_dst[edges]]] if dist is not None else None
        if edges is None or d is None or d.min() >= _UNREACHABLE:
            unroutable += 1
            demand_bytes[i] = 0.0
            path_latency_s[ids[i]] = np.nan
            continue
        pick = edges[d == d.min()]
        w = index.edge_num_links[pick]
        share = demand_bytes[i] * w / w.sum()
        load[pick] += share
        state_node.append(index.edge_dst[pick])
        state_cls.append(np.full(len(pick), cls[i]))
        state_amount.append(share)
        state_demand.append(np.full(len(pick), i))
        state_ends_s.append(index.edge_latency_s[pick] + index.in_latency[dst[i]])
    np.add.at(arrivals, dst, demand_bytes)
    if state_node:
        result = propagate(
            index,
            np.concatenate(state_node),
            np.concatenate(state_cls),
            np.concatenate(state_amount),
            load,
            chunk_classes=chunk_classes,
        )
        max_hops = max(max_hops, result.max_hops)
        unroutable += result.unroutable
        demand = np.concatenate(state_demand)
        per_demand = np.full(len(src), -np.inf)
        np.maximum.at(per_demand, demand, np.concatenate(state_ends_s) + result.path_latency_s)
        routed = np.unique(demand)
        path_latency_s[ids[routed]] = per_demand[routed]
    deliver(index, arrivals, load)
    return _link_loads(load, path_latency_s, max_hops, unroutable)


def _link_loads(
    load: np.ndarray, path_latency_s: np.ndarray, max_hops: int, unroutable: int
) -> LinkLoads:
    routed = path_latency_s[~np.isnan(path_latency_s)]
    return LinkLoads(
        load_bytes=load,
        max_latency_s=float(routed.max()) if len(routed) else 0.0,
        max_hops=max_hops,
        unroutable=unroutable,
        path_latency_s=path_latency_s,
    )


def _reachable(index: FabricIndex, t_node: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """Whether transit node ``t_node[i]`` (local id) has a path to class ``cls[i]``."""
    ok = np.ones(len(cls), dtype=bool)
    classes, inverse = np.unique(cls, return_inverse=True)
    index.prepare(classes)
    order = np.argsort(inverse.reshape(-1), kind="stable")  # demands grouped by class
    bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(classes) + 1))
    for i, c in enumerate(classes.tolist()):
        sel = order[bounds[i] : bounds[i + 1]]
        ok[sel] = index._dist[c][t_node[sel]] < _UNREACHABLE
    return ok


def deliver(index: FabricIndex, arrivals: np.ndarray, load: np.ndarray) -> None:
    """Add each destination GPU's received bytes (``arrivals`` per node) to its in-edge.

    GPUs with several scale-out in-edges are skipped: :func:`propagate` charged their last
    hops where the bytes arrived.
    """
    got = np.flatnonzero(arrivals)
    one = index.single_in[got]
    np.add.at(load, one[one >= 0], arrivals[got[one >= 0]])


def propagate(
    index: FabricIndex,
    node: np.ndarray,
    cls: np.ndarray,
    amount: np.ndarray,
    load: np.ndarray,
    *,
    chunk_classes: int = 32,
) -> LinkLoads:
    """Carry ``amount[i]`` bytes from transit ``node[i]`` to destination class ``cls[i]``.

    Adds the bytes each transit edge carries to ``load`` (fluid ECMP over fewest-hop paths) and
    returns, per injection i, the least latency from ``node[i]`` to a last switch of class
    ``cls[i]`` (``path_latency_s``, NaN if there is none; the transit part only, without the
    first and last hops) and the most switches crossed. The last hop into GPUs with one
    scale-out link is the caller's (:func:`deliver`), into GPUs with several it is charged
    here, on the in-edges where the bytes arrive.
    """
    num = index.num_transit
    max_hops, lost = 0, 0
    node = index.t_of[np.asarray(node, dtype=np.int64)]
    cls = np.asarray(cls, dtype=np.int64)
    transit_s = np.full(len(node), np.nan)
    if (node < 0).any():
        raise ValueError("propagate starts only from scale-out switches or NICs")
    classes = np.unique(cls)
    index.prepare(classes)
    slot = np.full(int(classes.max()) + 1, -1, dtype=np.int64)
    for start in range(0, len(classes), chunk_classes):
        chunk = classes[start : start + chunk_classes]
        slot[:] = -1
        slot[chunk] = np.arange(len(chunk))
        sel = np.flatnonzero(slot[cls] >= 0)
        k_of, v, amt = slot[cls[sel]], node[sel], amount[sel]
        dist = np.stack([index._dist[int(c)] for c in chunk])
        reach = dist[k_of, v] < _UNREACHABLE
        lost += int((~reach).sum())
        k_of, v, amt, sel = k_of[reach], v[reach], amt[reach], sel[reach]
        if len(v) == 0:
            continue
        lat_to = np.stack([index._lat[int(c)] for c in chunk])
        transit_s[sel] = lat_to[k_of, v]
        max_hops = max(max_hops, int(dist[k_of, v].max()) + 1)
        state = np.zeros(len(chunk) * num)
        np.add.at(state, k_of * num + v, amt)
        _propagate_levels(index, dist, state, load)
        for k, c in enumerate(chunk.tolist()):  # multi-homed GPUs: last hop where bytes arrived
            last = index.class_last_edges.get(c)
            if last is not None:
                load[last] += state[k * num + index.class_preds[c]]
    return _link_loads(load, transit_s, max_hops, lost)


def _propagate_levels(
    index: FabricIndex, dist: np.ndarray, state: np.ndarray, load: np.ndarray
) -> None:
    """Push ``state`` (classes x transit nodes, bytes) down the per-class distance levels.

    Level by level from the farthest: the bytes at a node ``level`` hops from its class split
    over the next hops one level closer (by ``num_links``). Only the nodes the bytes reach are
    visited: each level's front is where the injections and the level above sent bytes, in
    ascending position (so the sums are those of a dense sweep, bit for bit), and the work
    grows with the shortest-path DAG edges reached, not with classes x transit nodes.
    """
    num = index.num_transit
    flat_dist = dist.reshape(-1)
    live = np.flatnonzero(state)
    live = live[(flat_dist[live] > 0) & (flat_dist[live] < _UNREACHABLE)]
    if len(live) == 0:
        return
    live_level = flat_dist[live]
    top = int(live_level.max())
    pending: list[list[np.ndarray]] = [[] for _ in range(top + 1)]
    for level in np.unique(live_level).tolist():
        pending[level].append(live[live_level == level])
    indptr, t_edges, t_dst = index.t_indptr, index.t_edges, index.t_dst
    num_links = index.edge_num_links
    for level in range(top, 0, -1):
        if not pending[level]:
            continue
        at = np.unique(np.concatenate(pending[level]))
        front = at[state[at] > 0]
        if len(front) == 0:
            continue
        amount = state[front]
        k_front, u_front = np.divmod(front, num)
        starts = indptr[u_front]
        counts = indptr[u_front + 1] - starts
        rep = np.repeat(np.arange(len(front)), counts)
        offsets = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        slots = np.repeat(starts, counts) + offsets
        target = k_front[rep] * num + t_dst[slots]
        ok = flat_dist[target] == level - 1
        edges, target, rep = t_edges[slots[ok]], target[ok], rep[ok]
        w = num_links[edges]
        total_w = np.bincount(rep, weights=w, minlength=len(front))
        share = amount[rep] * w / total_w[rep]
        np.add.at(load, edges, share)
        np.add.at(state, target, share)
        if level > 1:
            pending[level - 1].append(target)
