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

import math
import operator
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import networkx as nx
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, shortest_path

from fabric.arrays import spans
from fabric.graph import fabric_arrays, graph_version, is_tracked

__all__ = [
    "DEFAULT_ROUTING",
    "FabricIndex",
    "HashUnits",
    "LinkLoads",
    "OBJECTIVE_PLACEMENT",
    "ROUTING_POLICIES",
    "TRAFFIC_OBJECTIVES",
    "check_routing",
    "fabric_index",
    "FlowPlacement",
    "flows_to_place",
    "hash_units",
    "place_flows",
    "placement_of",
    "route",
    "route_all_pairs",
]

_UNREACHABLE = np.iinfo(np.int32).max // 4
#: Most (class, node, out-edge) entries one level of the fluid routing expands at once (about
#: 20 MB of work arrays): a larger front is expanded in pieces.
LEVEL_BUDGET = 1 << 18
#: Whether new indexes route over the transit graph with twin switches merged (exact; see
#: :func:`_merge_twins`). False routes over every switch: the reference the tests compare with.
MERGE_TWINS = True
#: Whether new indexes search distances once per orbit of twin targets and derive the rest by
#: a swap (exact; see :meth:`FabricIndex.prepare`). False searches every target: the reference
#: the tests compare with.
USE_ORBITS = True


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
    merge_twins : whether the fluid routing merges twin switches (:func:`_merge_twins`);
        None (the default) reads :data:`MERGE_TWINS`.
    orbits : whether distances are searched once per orbit of twin targets
        (:meth:`prepare`); None (the default) reads :data:`USE_ORBITS`.
    tracked : :func:`fabric.graph.is_tracked` of ``G`` if the caller has just checked it.
    """

    def __init__(self, G: nx.DiGraph, *, merge_twins: bool | None = None,
                 orbits: bool | None = None, tracked: bool | None = None) -> None:
        self.memo: dict[object, object] = {}
        # the builder's claimed automorphisms (fabric.symmetry checks them before any use)
        self.swaps: tuple[tuple[tuple[str, ...], ...], ...] = tuple(
            getattr(G, "swaps", ()))
        # shared with validation, the summary and the bill of materials
        arrays = fabric_arrays(G, tracked=tracked)
        self.nodes = arrays.nodes
        self.index = arrays.pos
        num = len(self.nodes)
        node_data = list(G._node.values())
        code = arrays.code  # 0 GPU, 1 NIC, 2 + tier for a switch
        self.kind = np.minimum(code, 2).astype(np.int8)  # 0 GPU, 1 NIC, 2 switch
        self.tier = np.where(code >= 2, code - 2, -1).astype(np.int8)  # -1: GPUs and NICs
        self.is_gpu = self.kind == 0
        self.is_scaleup = self.tier == 0
        # edges in G.edges order: (node, successors) in node order
        num_edges = len(arrays.src)
        self.edge_src = arrays.src
        self.edge_dst = arrays.dst
        self.edge_latency_s = arrays.latency_s
        self.edge_num_links = arrays.num_links.astype(float)
        self.edge_capacity_bytes_per_s = arrays.bandwidth_bytes_per_s * self.edge_num_links
        self.edge_link = np.asarray(arrays.link_names, dtype=object)[arrays.link]
        self.edge_link_id = arrays.link
        self.link_names = arrays.link_names  # edge_link_id -> link key, in order of first use
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
        self.merge_twins = MERGE_TWINS if merge_twins is None else merge_twins
        self._transit_graph: _TransitGraph | None = None
        self.rail = np.zeros(num, dtype=np.int64)
        self.rail[self.gpu_ids] = _rails(list(map(node_data.__getitem__, self.gpu_ids.tolist())))

        # GPU attachments: scale-out in/out edges and the scale-up switch per GPU.
        gpu_out = self.is_gpu[self.edge_src] & transit[self.edge_dst]
        gpu_in = transit[self.edge_src] & self.is_gpu[self.edge_dst]
        self.out_edges_of = _EdgesByNode(np.flatnonzero(gpu_out), self.edge_src, num)
        self.in_edges_of = _EdgesByNode(np.flatnonzero(gpu_in), self.edge_dst, num)
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
        # per class, over the transit graph's nodes, its distance *row* ``_row[c]``: classes
        # with the same one target share one (``_row_of_target``), a multi-target set or a
        # set of several targets (a multi-target or multi-homed class) has one (``_row_of``).
        # A row is a searched row of ``_hops`` (fewest hops to a target) and ``_lats`` (least
        # latency, s), ``_row_base[r]``, read with the two nodes ``_row_swap[r]`` swapped (-1:
        # none)
        self._row = np.full(len(self.class_preds), -1, dtype=np.int64)
        self._row_of: dict[tuple[int, ...], int] = {}
        self._last_edge_keys: tuple[np.ndarray, np.ndarray] | None = None
        self._row_of_target: np.ndarray | None = None
        # the one target of single-homed classes with one predecessor (-1 otherwise)
        single_pred = np.fromiter(map(len, self.class_preds), dtype=np.int64,
                                  count=len(self.class_preds)) == 1
        single_pred[list(self.class_last_edges)] = False
        self._one_pred = np.full(len(self.class_preds), -1, dtype=np.int64)
        if single_pred.any():
            self._one_pred[single_pred] = np.concatenate(
                [self.class_preds[c] for c in np.flatnonzero(single_pred).tolist()])
        self._row_base = np.zeros(0, dtype=np.int64)
        self._row_swap = np.zeros((0, 2), dtype=np.int64)
        self._hops = np.zeros((0, 0), dtype=np.int32)
        self._lats = np.zeros((0, 0))
        self._num_searched = 0
        self._orbit_rep: np.ndarray | None = None
        self.orbits = USE_ORBITS if orbits is None else orbits
        self._next_hops: _NextHops | None = None

    def transit_graph(self) -> _TransitGraph:
        """The graph the fluid routing runs on: the transit graph with twins merged
        (:func:`_merge_twins`; the transit graph itself when ``merge_twins`` is False or
        there are none). Built on first use."""
        if self._transit_graph is None:
            self._transit_graph = _transit_graph(self, self.merge_twins)
        return self._transit_graph

    # -- per-class distances ---------------------------------------------------------------
    def prepare(self, classes: np.ndarray) -> None:
        """Compute hop and latency distances of several destination classes in one pass.

        A class whose one target node (its last switch on the transit graph) has an *orbit
        twin* already searched (:func:`_orbit_reps`: the same in- and out-neighbours over
        edges of equal latency) takes that search's distances with the two nodes swapped, an
        automorphism of the graph, instead of a search of its own: on a symmetric fabric the
        searches drop from one per leaf to one per kind of leaf.
        """
        classes = np.asarray(classes, dtype=np.int64)
        missing = _unique(classes[self._row[classes] < 0], len(self.class_preds))[0]
        if len(missing) == 0:
            return
        tg = self.transit_graph()
        one = self._one_pred[missing] >= 0
        # classes with one target node, all at once
        simple = missing[one]
        self._row[simple] = self.target_rows(tg.node_of[self._one_pred[simple]])
        # multi-target sets and multi-homed classes: one row per set of targets (the routing
        # charges a multi-homed class's last hop from the row's arrival split)
        rest = missing[~one].tolist()
        if not rest:
            return
        node_of, known = tg.node_of.tolist(), self._row_of
        keys = [tuple(sorted({node_of[int(x)] for x in self.class_preds[c]})) for c in rest]
        need = [t for t in dict.fromkeys(keys) if t not in known]
        one = [t for t in need if len(t) == 1]
        if one:  # one target (twins merged): its own row, where that was searched
            own = self.target_rows(np.array([t[0] for t in one], dtype=np.int64))
            known.update((t, int(r)) for t, r in zip(one, own.tolist(), strict=True)
                         if self._row_swap[r, 0] < 0)
            need = [t for t in need if t not in known]
        if need:
            hops, lat = self._set_distances([list(t) for t in need])
            rows = self._add_rows(self._search_rows(hops, lat), np.full((len(need), 2), -1))
            known.update(zip(need, rows.tolist(), strict=True))
        self._row[rest] = [known[key] for key in keys]

    def target_rows(self, target: np.ndarray) -> np.ndarray:
        """The distance row towards each one transit-graph node ``target[i]``, prepared: a
        search per orbit of twin targets, the rest derived by a swap (:meth:`prepare`)."""
        tg = self.transit_graph()
        if self._row_of_target is None:
            self._row_of_target = np.full(tg.num, -1, dtype=np.int64)
        by_target = self._row_of_target
        target = np.asarray(target, dtype=np.int64)
        fresh = _unique(target[by_target[target] < 0], tg.num)[0]
        if len(fresh):
            rep = self._orbit_reps()[fresh] if self.orbits else fresh
            search = _unique(rep[by_target[rep] < 0], tg.num)[0]
            if len(search):
                hops, lat = self._search(search, tg)
                by_target[search] = self._add_rows(self._search_rows(hops, lat),
                                                   np.full((len(search), 2), -1))
            derive = fresh[by_target[fresh] < 0]
            if len(derive):  # the swap of twins: an automorphism
                via = rep[by_target[fresh] < 0]
                by_target[derive] = self._add_rows(self._row_base[by_target[via]],
                                                   np.stack([derive, via], axis=1))
        return by_target[target]

    def _set_distances(self, sets: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Fewest hops and least latency from every node to each set of target nodes: the
        least over its nodes' own rows (:meth:`target_rows`: a search per orbit of twin
        targets, so the sets of a multi-plane fabric's multi-homed GPUs, one leaf per plane,
        cost a search per kind of leaf, not one per set). The same numbers as a search from
        the set: a distance to a set is the least of the distances to its nodes."""
        num = self.transit_graph().num
        flat = np.fromiter(chain.from_iterable(sets), dtype=np.int64)
        rows = self.target_rows(flat)
        ends = np.cumsum([len(t) for t in sets])
        hops = np.empty((len(sets), num), dtype=np.int32)
        lat = np.empty((len(sets), num))
        nodes = np.arange(num)
        step = max(1, (1 << 22) // max(1, num))  # target rows read at a time
        first = 0
        while first < len(sets):
            start = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, start + step, "right")))
            r = rows[start:ends[last - 1]]
            at = (self._row_base[r][:, None], self._swapped(r[:, None], nodes[None, :]))
            cut = np.concatenate([[0], ends[first:last - 1] - start])
            hops[first:last] = np.minimum.reduceat(self._hops[at], cut, axis=0)
            lat[first:last] = np.minimum.reduceat(self._lats[at], cut, axis=0)
            first = last
        return hops, lat

    @staticmethod
    def _search(targets: np.ndarray, tg: _TransitGraph) -> tuple[np.ndarray, np.ndarray]:
        """Fewest hops and least latency from every node to each target node: one
        breadth-first and one Dijkstra search per target (sets of targets:
        :meth:`_set_distances`)."""
        hops = np.atleast_2d(shortest_path(tg.rev_hops, unweighted=True, indices=targets))
        hops[~np.isfinite(hops)] = _UNREACHABLE
        return hops.astype(np.int32), np.atleast_2d(dijkstra(tg.rev_lat, indices=targets))

    def _search_rows(self, hops: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Store searched distances at the end of the matrices (grown by half again when
        full); returns their rows there."""
        first, count = self._num_searched, len(hops)
        if first + count > len(self._hops):
            cap = max(first + count, len(self._hops) * 3 // 2)
            grown_hops = np.empty((cap, hops.shape[1]), dtype=np.int32)
            grown_lats = np.empty((cap, hops.shape[1]))
            if first:
                grown_hops[:first] = self._hops[:first]
                grown_lats[:first] = self._lats[:first]
            self._hops, self._lats = grown_hops, grown_lats
        self._hops[first:first + count] = hops
        self._lats[first:first + count] = lat
        self._num_searched = first + count
        return np.arange(first, first + count)

    def _add_rows(self, base: np.ndarray, swap: np.ndarray) -> np.ndarray:
        """New distance rows, each a searched row read with two nodes swapped; their ids."""
        first = len(self._row_base)
        self._row_base = np.concatenate([self._row_base, base])
        self._row_swap = np.concatenate([self._row_swap, swap.astype(np.int64)])
        return np.arange(first, len(self._row_base))

    def _swapped(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Each node as its row's searched row sees it: with the row's two nodes swapped."""
        a, b = self._row_swap[rows, 0], self._row_swap[rows, 1]
        return np.where(nodes == a, b, np.where(nodes == b, a, nodes))

    def _flat_at(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Positions in the flattened distance matrices of (row, node) pairs."""
        return self._row_base[rows] * self._hops.shape[1] + self._swapped(rows, nodes)

    def hops_at(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Fewest hops from transit-graph node ``nodes[i]`` to the targets of row ``rows[i]``."""
        return self._hops.reshape(-1)[self._flat_at(rows, nodes)]

    def lats_at(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Least latency (s) from ``nodes[i]`` to the targets of row ``rows[i]``."""
        return self._lats.reshape(-1)[self._flat_at(rows, nodes)]

    def _orbit_reps(self) -> np.ndarray:
        """Per transit-graph node, the first node with the same in- and out-neighbours over
        edges of equal latency (itself if none): swapping two such nodes maps the graph onto
        itself, hops and latencies included, so distances to one are those to the other with
        the two swapped."""
        if self._orbit_rep is None:
            tg = self.transit_graph()
            src = np.repeat(np.arange(tg.num), np.diff(tg.indptr))
            lat_id = np.unique(tg.lat, return_inverse=True)[1].reshape(-1).astype(np.uint64)
            span = np.uint64(int(lat_id.max(initial=0)) + 1)
            reps = _twin_reps(
                tg.num,
                (src, tg.dst.astype(np.uint64) * span + lat_id),
                (tg.dst, src.astype(np.uint64) * span + lat_id),
                salt_base=np.uint64(max(tg.num, 1)),
            ) if tg.num > 1 else None
            self._orbit_rep = np.arange(tg.num) if reps is None else reps
        return self._orbit_rep

    def distance_rows(self, classes: np.ndarray) -> np.ndarray:
        """The distance row of each class (:meth:`hops_at`, :meth:`lats_at`), prepared."""
        classes = np.asarray(classes, dtype=np.int64)
        self.prepare(classes)
        return self._row[classes]

    def last_edges(self, cls: np.ndarray, node: np.ndarray) -> np.ndarray:
        """The in-edge from transit node ``node[i]`` (local id, one of the class's
        predecessors) into the GPU of multi-homed class ``cls[i]``."""
        if self._last_edge_keys is None:
            homed = list(self.class_last_edges)
            keys = np.concatenate([c * self.num_transit + self.class_preds[c] for c in homed])
            edges = np.concatenate([self.class_last_edges[c] for c in homed])
            order = np.argsort(keys, kind="stable")
            self._last_edge_keys = (keys[order], edges[order])
        keys, edges = self._last_edge_keys
        return edges[np.searchsorted(keys, cls * self.num_transit + node)]

    def class_distance(self, cls: int) -> np.ndarray:
        """Fewest hops from every transit node (local id) to a predecessor of class ``cls``."""
        return self.class_distances(np.array([cls]))[0]

    def class_distances(self, classes: np.ndarray) -> np.ndarray:
        """:meth:`class_distance` of several classes at once, one row each."""
        node_of = self.transit_graph().node_of
        rows = self.distance_rows(classes)
        base = self._row_base[rows]
        out = self._hops[base[:, None], node_of]
        # rows read through a swap of two nodes a and b: their searched row, with the columns
        # of a's transit nodes and b's exchanged
        swapped = np.flatnonzero(self._row_swap[rows, 0] >= 0)
        if len(swapped):
            a, b = self._row_swap[rows[swapped], 0], self._row_swap[rows[swapped], 1]
            at_a, at_b = self._hops[base[swapped], a], self._hops[base[swapped], b]
            for node, value in ((a, at_b), (b, at_a)):
                owner, columns = _merged_into(self.transit_graph(), node)
                out[swapped[owner], columns] = value[owner]
        return out

    def class_latency(self, cls: int) -> np.ndarray:
        """Least latency (s) from each transit node (local id) to a predecessor of class
        ``cls``."""
        return self._class_row(cls, self.lats_at)

    def _class_row(self, cls: int, read: Callable[[np.ndarray, np.ndarray], np.ndarray]
                   ) -> np.ndarray:
        node_of = self.transit_graph().node_of
        return read(np.full(len(node_of), self.distance_rows(np.array([cls]))[0]), node_of)


@dataclass(frozen=True, slots=True, kw_only=True)
class _TransitGraph:
    """The scale-out transit graph the fluid routing walks, as CSR arrays by source node.

    Nodes are the transit nodes with *twins* merged: ``node_of[t]`` is transit node t's node
    here, ``size[q]`` how many transit nodes node q stands for. Edge ids index ``weight``
    (parallel cables, the ECMP split weight) and the load array routing fills: ``num_edges``
    of them. ``expand`` is None when nothing was merged (edge ids are then the index's own edge
    positions and loads go straight into its load array); otherwise ``(edges, of, share)``: the
    index's transit edge ``edges[i]`` carries ``share[i]`` of merged edge ``of[i]``'s load.
    ``lat[i]`` is the latency (s) of the edge in CSR slot i (as ``dst``). ``rev_hops`` and
    ``rev_lat`` are the reversed graph (distances *to* a node) for csgraph; ``connected`` says
    whether every node reaches every other.
    """

    num: int
    node_of: np.ndarray
    size: np.ndarray
    indptr: np.ndarray
    edge: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    lat: np.ndarray
    num_edges: int
    expand: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    rev_hops: csr_matrix
    rev_lat: csr_matrix
    connected: bool


def _reversed(num: int, src: np.ndarray, dst: np.ndarray, lat: np.ndarray
              ) -> tuple[csr_matrix, csr_matrix]:
    hops = csr_matrix((np.ones(len(src)), (dst, src)), shape=(num, num))
    # a zero latency would be an absent edge to csgraph: nudge only those, so path latencies
    # stay exact sums of the catalog's cable and switch latencies
    lat_m = csr_matrix((np.where(lat > 0, lat, 1e-15), (dst, src)), shape=(num, num))
    return hops, lat_m


def _transit_graph(index: FabricIndex, merge_twins: bool) -> _TransitGraph:
    num_t = index.num_transit
    node_of = _merge_twins(index) if merge_twins else None
    if node_of is None:
        t_lat = index.edge_latency_s[index.t_edges]
        rev_hops, rev_lat = _reversed(num_t, index.t_src, index.t_dst, t_lat)
        return _TransitGraph(
            num=num_t, node_of=np.arange(num_t), size=np.ones(num_t, dtype=np.int64),
            indptr=index.t_indptr, edge=index.t_edges, dst=index.t_dst,
            weight=index.edge_num_links, lat=t_lat, num_edges=index.num_edges, expand=None,
            rev_hops=rev_hops, rev_lat=rev_lat, connected=_connected(rev_hops))
    num_q = int(node_of.max()) + 1
    size = np.bincount(node_of, minlength=num_q)
    q_src, q_dst = node_of[index.t_src], node_of[index.t_dst]
    pair, of = np.unique(q_src * num_q + q_dst, return_inverse=True)
    of = of.reshape(-1)
    src, dst = np.divmod(pair, num_q)  # sorted by source: CSR order
    weight = np.bincount(of, weights=index.edge_num_links[index.t_edges], minlength=len(pair))
    lat = np.zeros(len(pair))
    lat[of] = index.edge_latency_s[index.t_edges]  # twins' edges have equal latencies
    share = 1.0 / np.bincount(of, minlength=len(pair))[of]
    rev_hops, rev_lat = _reversed(num_q, src, dst, lat)
    return _TransitGraph(
        num=num_q, node_of=node_of, size=size,
        indptr=np.concatenate([[0], np.cumsum(np.bincount(src, minlength=num_q))]),
        edge=np.arange(len(pair)), dst=dst, weight=weight, lat=lat, num_edges=len(pair),
        expand=(index.t_edges, of, share), rev_hops=rev_hops, rev_lat=rev_lat,
        connected=_connected(rev_hops))


def _connected(graph: csr_matrix) -> bool:
    return graph.shape[0] > 0 and connected_components(graph, connection="strong")[0] == 1


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer over uint64 (wrapping): a well-spread hash of each value."""
    with np.errstate(over="ignore"):
        x = (x + _MIX[0]) & np.uint64(0xFFFFFFFFFFFFFFFF)
        x = (x ^ (x >> np.uint64(30))) * _MIX[1]
        x = (x ^ (x >> np.uint64(27))) * _MIX[2]
        return x ^ (x >> np.uint64(31))


def _merge_twins(index: FabricIndex) -> np.ndarray | None:
    """Transit nodes numbered so that *twins* share a number, or None if there are none.

    Twins are transit nodes with the same neighbours on the same kind of edges, both ways:
    the same in- and out-neighbours, each over edges of equal bandwidth, latency, cable count
    and link type (the cores of one group in a fat-tree, the spines of a two-tier Clos). Fluid
    ECMP treats twins alike: every predecessor splits equally between them and each splits on
    in the same proportions, so each twin carries 1/m of what the m of them carry together, on
    edges that mirror each other. Routing on the graph with each twin set merged (cables
    summed) and sharing the merged edges' loads out equally gives the loads of routing on the
    whole graph (to rounding), for any demands: twins never send or receive demands.
    Candidates are grouped by a hash of their edge multisets and then compared exactly.
    """
    num_t = index.num_transit
    if num_t < 2:
        return None
    # an id per edge attribute tuple, one column at a time (1-D uniques) folded into one id:
    # np.unique(axis=0) over the rows took 12 ms at 4k GPUs
    attr = np.zeros(index.num_edges, dtype=np.int64)
    bound = 1
    for column in (index.edge_capacity_bytes_per_s, index.edge_latency_s,
                   index.edge_num_links, index.edge_link_id):
        values, inverse = np.unique(column, return_inverse=True)
        attr = attr * len(values) + inverse.reshape(-1)
        bound *= len(values)
        if bound > 1 << 40:  # keep the folded id small
            attr = np.unique(attr, return_inverse=True)[1].reshape(-1)
            bound = int(attr.max(initial=0)) + 1
    attr = _unique(attr, bound)[1].astype(np.uint64)
    span = np.uint64(int(attr.max(initial=0)) + 1)
    src, dst = index.edge_src, index.edge_dst
    node_of = _twin_reps(
        num_t,
        (index.t_of[src], dst.astype(np.uint64) * span + attr),  # an edge seen from its source
        (index.t_of[dst], src.astype(np.uint64) * span + attr),  # and from its destination
        salt_base=np.uint64(index.num_nodes),
        extra=[index.kind[index.t_nodes].astype(np.uint64)],
    )
    if node_of is None:
        return None
    return np.unique(node_of, return_inverse=True)[1].reshape(-1)


def _twin_reps(num: int, *sides: tuple[np.ndarray, np.ndarray], salt_base: np.uint64,
               extra: list[np.ndarray] | None = None) -> np.ndarray | None:
    """Per node ``0..num-1``, the first node with exactly the same edge keys on every side, or
    None when no two nodes match.

    Each side is ``(owner, key)`` per edge: the node (-1: none) that sees the edge as ``key``
    (a non-negative id below ``salt_base``, which folds the two hash salts in). Nodes are
    grouped by a hash of each side's key multiset, their degrees and the ``extra`` columns, and
    every member is then compared with its group's first member key by key (sorted), so the
    result is exact.
    """
    columns = []
    sorted_sides = []
    for owner, key in sides:
        on = owner >= 0
        own, k = owner[on], key[on]
        for salt in (np.uint64(1), np.uint64(2)):
            h = np.zeros(num, dtype=np.uint64)
            np.add.at(h, own, _mix(k * salt_base + salt))
            columns.append(h)
        degree = np.bincount(own, minlength=num)
        columns.append(degree.astype(np.uint64))
        order = np.lexsort((k, own))
        sorted_sides.append((k[order], np.concatenate([[0], np.cumsum(degree)]), degree))
    columns.extend(extra or [])
    _, first, group = np.unique(np.stack(columns, axis=1), axis=0, return_index=True,
                                return_inverse=True)
    if len(first) == num:
        return None
    rep = first[group.reshape(-1)]
    # exact check of every member against its group's first, all at once
    member = np.flatnonzero(rep != np.arange(num))
    same = np.ones(len(member), dtype=bool)
    for keys, ptr, degree in sorted_sides:
        r = rep[member]
        same &= degree[member] == degree[r]
        cand = np.flatnonzero(same)
        owner, pos = spans(ptr[member[cand]], degree[member[cand]])
        other = pos - ptr[member[cand]][owner] + ptr[r[cand]][owner]
        differs = np.zeros(len(cand), dtype=bool)
        differs[owner[keys[pos] != keys[other]]] = True
        same[cand[differs]] = False
    out = np.arange(num)
    out[member[same]] = rep[member[same]]
    if not same.any():
        return None
    return out


class _EdgesByNode(Mapping[int, np.ndarray]):
    """Edges grouped by one end node, as a read-only mapping node -> its edges (in edge order;
    nodes without such edges are not keys). Kept as CSR arrays: one slice per lookup, nothing
    per node up front (a dict of ``np.split`` pieces cost 5 ms per 4,096-GPU index)."""

    __slots__ = ("_edges", "_ptr", "_keys")

    def __init__(self, edges: np.ndarray, end: np.ndarray, num_nodes: int) -> None:
        nodes = end[edges]
        order = np.argsort(nodes, kind="stable")
        self._edges = edges[order]
        counts = np.bincount(nodes, minlength=num_nodes)
        self._ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._keys = np.flatnonzero(counts)

    def __getitem__(self, node: int) -> np.ndarray:
        if not 0 <= node < len(self._ptr) - 1 or self._ptr[node] == self._ptr[node + 1]:
            raise KeyError(node)
        return self._edges[self._ptr[node]:self._ptr[node + 1]]

    def expand(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The edges of every node in ``nodes``, in one pass: ``(owner, edges)``, edge j
        belonging to ``nodes[owner[j]]`` (nodes in order, each one's edges in edge order; a
        node without edges has none)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        start = self._ptr[nodes]
        owner, pos = spans(start, self._ptr[nodes + 1] - start)
        return owner, self._edges[pos]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys.tolist())

    def __len__(self) -> int:
        return len(self._keys)


def _single_edge(edges: np.ndarray, end: np.ndarray, num: int) -> np.ndarray:
    """Per node, its one edge among ``edges`` (by ``end``), or -1 if it has none or several."""
    count = np.bincount(end[edges], minlength=num)
    out = np.full(num, -1, dtype=np.int64)
    one = edges[count[end[edges]] == 1]
    out[end[one]] = one
    return out


_EDGE_FIELDS = operator.itemgetter("bandwidth_bytes_per_s", "latency_s", "num_links", "link")
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


_GET_RAIL = operator.itemgetter("rail")


def _rails(gpus: list[dict[str, Any]]) -> np.ndarray:
    """Each GPU's ``rail`` (else its ``local`` index, else 0) as int64: read at C speed when
    every GPU has an integer ``rail`` (every builder's GPUs do), else one GPU at a time."""
    try:
        rails = list(map(_GET_RAIL, gpus))
        if set(map(type, rails)) <= {int}:
            return np.fromiter(rails, dtype=np.int64, count=len(rails))
    except KeyError:
        pass
    return np.fromiter((int(d.get("rail", d.get("local", 0))) for d in gpus), dtype=np.int64,
                       count=len(gpus))


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
        cached = _Cached(index=FabricIndex(G, tracked=True), version=version, state=None)
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
    power: int = 1,
) -> LinkLoads:
    """Route demands ``src[i] -> dst[i]`` of ``size_bytes[i]`` (node positions of GPUs).

    Returns the bytes each directed edge carries under fluid ECMP and each demand's path
    latency. Demands with ``src == dst`` or no bytes are ignored (latency 0).

    ``power`` 2 charges each edge ``size * p**2`` instead of ``size * p``, p the fraction of
    the demand that crosses it (the split factors squared): summed over demands of size s
    routed with ``s**2``, it is the sum of ``(s p)**2`` that :func:`fabric.flows.hash_step`
    needs for the variance of an edge's load under per-flow hashing.

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
    several = np.flatnonzero(~one & ~lost)
    if len(several):
        # sources with several scale-out links (one per plane, or bonded NICs): the bytes
        # split over those whose far end is fewest hops from the class, by num_links
        owner, edges = index.out_edges_of.expand(src[several])
        tg = index.transit_graph()
        far = tg.node_of[index.t_of[index.edge_dst[edges]]]
        d = index.hops_at(index.distance_rows(cls[several])[owner], far)
        best = np.full(len(several), _UNREACHABLE, dtype=d.dtype)
        np.minimum.at(best, owner, d)
        dead = best >= _UNREACHABLE
        if dead.any():
            unroutable += int(dead.sum())
            demand_bytes[several[dead]] = 0.0
            path_latency_s[ids[several[dead]]] = np.nan
        pick = (d == best[owner]) & ~dead[owner]
        owner, edges, far = owner[pick], edges[pick], far[pick]
        w = index.edge_num_links[edges].astype(float)
        frac = w / np.bincount(owner, weights=w, minlength=len(several))[owner]
        np.add.at(load, edges, demand_bytes[several[owner]] * frac ** power)
        if power != 1:
            # the bytes that enter twins merged into one node enter it as one share: its
            # power is that of their sum (the probability of reaching any of them)
            _, first, group = np.unique(owner * tg.num + far, return_index=True,
                                        return_inverse=True)
            frac = np.bincount(group.reshape(-1), weights=frac)
            owner, edges = owner[first], edges[first]
        demand = several[owner]
        state_node.append(index.edge_dst[edges])
        state_cls.append(cls[demand])
        state_amount.append(demand_bytes[demand] * frac ** power)
        state_demand.append(demand)
        state_ends_s.append(index.edge_latency_s[edges] + index.in_latency[dst[demand]])
    np.add.at(arrivals, dst, demand_bytes)
    if state_node:
        result = propagate(
            index,
            np.concatenate(state_node),
            np.concatenate(state_cls),
            np.concatenate(state_amount),
            load,
            power=power,
        )
        max_hops = max(max_hops, result.max_hops)
        unroutable += result.unroutable
        demand = np.concatenate(state_demand)
        per_demand = np.full(len(src), -np.inf)
        np.maximum.at(per_demand, demand, np.concatenate(state_ends_s) + result.path_latency_s)
        routed = np.flatnonzero(per_demand != -np.inf)  # the demands with an injection (NaN too)
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
    tg = index.transit_graph()
    if tg.connected:  # every transit node reaches every other
        return np.ones(len(cls), dtype=bool)
    return index.hops_at(index.distance_rows(cls), tg.node_of[t_node]) < _UNREACHABLE


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
    power: int = 1,
) -> LinkLoads:
    """Carry ``amount[i]`` bytes from transit ``node[i]`` to destination class ``cls[i]``.

    Adds the bytes each transit edge carries to ``load`` (fluid ECMP over fewest-hop paths) and
    returns, per injection i, the least latency from ``node[i]`` to a last switch of class
    ``cls[i]`` (``path_latency_s``, NaN if there is none; the transit part only, without the
    first and last hops) and the most switches crossed. The last hop into GPUs with one
    scale-out link is the caller's (:func:`deliver`), into GPUs with several it is charged
    here, on the in-edges where the bytes arrive. Every class is routed in the same pass.
    ``power`` raises every split factor to that power (see :func:`route`).
    """
    t_node = index.t_of[np.asarray(node, dtype=np.int64)]
    cls = np.asarray(cls, dtype=np.int64)
    amount = np.asarray(amount, dtype=float)
    if (t_node < 0).any():
        raise ValueError("propagate starts only from scale-out switches or NICs")
    if len(cls) == 0:
        return _link_loads(load, np.full(0, np.nan), 0, 0)
    rows = index.distance_rows(cls)
    loads, reach, q_node = _propagate_rows(index, t_node, rows, amount, load, power)
    multi: list[int] = []
    if index.class_last_edges:
        homed = np.zeros(len(index.class_preds), dtype=bool)
        homed[list(index.class_last_edges)] = True
        mine = cls[reach]
        multi = _unique(mine[homed[mine]], len(homed))[0].tolist()
    if multi:  # multi-homed GPUs: the last hop, from each row's arrival split
        _last_hops(index, np.asarray(multi), cls[reach], rows[reach], q_node[reach],
                   amount[reach], load, power)
    return loads


def _propagate_rows(index: FabricIndex, t_node: np.ndarray, rows: np.ndarray,
                    amount: np.ndarray, load: np.ndarray, power: int
                    ) -> tuple[LinkLoads, np.ndarray, np.ndarray]:
    """:func:`propagate`'s transit part, from transit node ``t_node[i]`` (local id) towards
    the targets of distance row ``rows[i]``: the loads (last hops not charged), which
    injections reach a target, and each one's transit-graph node."""
    tg = index.transit_graph()
    num = tg.num
    transit_s = np.full(len(t_node), np.nan)
    q_node = tg.node_of[t_node]
    level = index.hops_at(rows, q_node)
    reach = level < _UNREACHABLE
    lost = int((~reach).sum())
    transit_s[reach] = index.lats_at(rows[reach], q_node[reach])
    max_hops = int(level[reach].max()) + 1 if reach.any() else 0
    # merged twins: route into an array of the merged edges, shared out at the end
    q_load = load if tg.expand is None else np.zeros(tg.num_edges)
    # positions (row, node) over the rows used here only, numbered 0..: small work arrays
    used, local = _unique(rows[reach], len(index._row_base))
    pos = local * num + q_node[reach]
    _propagate_levels(index, used, pos, level[reach], amount[reach], q_load, power)
    if tg.expand is not None:
        edges, of, share = tg.expand
        load[edges] += q_load[of] * share ** power
    return _link_loads(load, transit_s, max_hops, lost), reach, q_node


#: (source group x link x distance row) entries :func:`route_all_pairs` works on at once
#: (several arrays of that many entries), and (first-hop node x row) injections it propagates
#: at once.
ALL_PAIRS_BLOCK = 1 << 22
ALL_PAIRS_INJECTIONS = 1 << 20


def route_all_pairs(index: FabricIndex, gpus: np.ndarray, domain: np.ndarray,
                    size_bytes: float, *, receivers: np.ndarray | None = None,
                    weight: np.ndarray | None = None) -> LinkLoads:
    """Every GPU ``gpus[i]`` sends ``size_bytes`` to every GPU ``gpus[j]`` of another domain
    (``domain[i] != domain[j]``) over the scale-out network: the loads :func:`route` gives those
    pairs, without listing them (the pairs of a 16,384-GPU all-to-all are 268 million).
    ``receivers`` (positions in ``gpus``; default all) limits the destinations, each receiving
    ``weight[j]`` times as much (default 1): a caller that knows the fabric's symmetries routes
    one destination per orbit, weighted by the orbit's size. Domains are unions of scale-up
    domains (pairs on one tier-0 switch are NVLink's, left to the caller). Memory grows with
    the pairs inside domains (one entry each): scale-up domains of 8-72 GPUs cost little.

    Sources with the same scale-out links (far ends, ``num_links`` and latency; e.g. one leaf
    per plane) form a group, which splits its bytes towards a distance row over the same links
    from every member; destinations are counted per distance row (multi-homed GPUs on the
    same last switches share one). The work is groups x links x rows, plus one entry per
    pair inside a domain (the pairs left out), not one per pair:

    - first hops: each source's links carry, per row, the row's destinations outside its
      domain, split over its links as :func:`route` splits one demand;
    - transit: the bytes of every group entering at each (first-hop node, row), propagated
      once; from a node that reaches only one of a row's last switches (a multi-homed GPU's
      leaf in another plane is out of reach) towards that switch alone (:func:`_one_target`);
    - last hops: per row, the share of one destination's bytes arriving at each of its last
      switches (:func:`_shares`), less what its own domain's sources would have sent,
      charged to each multi-homed destination's in-edges; single-homed destinations take their
      arrivals over their one in-edge (as :func:`deliver`).

    ``path_latency_s`` is empty; ``max_latency_s`` is the longest path a pair takes (first
    hop, transit, last hop) and ``unroutable`` counts the pairs without one (they carry
    nothing; weighted). The loads are :func:`route`'s over the listed pairs, to rounding
    (``tests/fabric/test_routing.py`` compares them).

    Raises
    ------
    ValueError
        A GPU without a scale-out link in or out, or bad ``receivers`` or ``weight``.
    """
    gpus = np.asarray(gpus, dtype=np.int64)
    n = len(gpus)
    load = np.zeros(index.num_edges)
    dom = np.unique(np.asarray(domain), return_inverse=True)[1].reshape(-1)
    recv = np.arange(n) if receivers is None else np.asarray(receivers, dtype=np.int64)
    wgt = np.ones(len(recv)) if weight is None else np.asarray(weight, dtype=float)
    if len(wgt) != len(recv) or len(np.unique(recv)) != len(recv) or (
            len(recv) and (recv.min() < 0 or recv.max() >= n)) or not (
            np.isfinite(wgt).all() and (wgt >= 0).all()):
        raise ValueError("receivers must be distinct positions in gpus, with one finite "
                         "weight >= 0 each")
    if len(np.unique(gpus)) != n:
        raise ValueError("route_all_pairs needs each GPU once in gpus")
    if not (math.isfinite(size_bytes) and size_bytes >= 0):
        raise ValueError(f"size_bytes must be a finite number >= 0, got {size_bytes!r}")
    owner, edges = index.out_edges_of.expand(gpus)
    num_links = np.bincount(owner, minlength=n)
    if (index.class_of[gpus] < 0).any() or (num_links == 0).any():
        raise ValueError("route_all_pairs needs a scale-out link into and out of every GPU")
    if n < 2 or dom.max() == 0 or len(recv) == 0 or size_bytes == 0:
        return LinkLoads(load_bytes=load, max_latency_s=0.0, max_hops=0, unroutable=0,
                         path_latency_s=np.zeros(0))
    tg = index.transit_graph()
    # each source's links by far end, padded with -1: a (sources x m) table
    edges = edges[np.lexsort((index.edge_dst[edges], owner))]  # owner stays ascending
    m = int(num_links.max())
    link = np.full((n, m), -1, dtype=np.int64)
    link[np.repeat(np.arange(n), num_links),
         np.arange(len(edges)) - np.repeat(np.cumsum(num_links) - num_links, num_links)] = edges
    has = link >= 0
    safe = np.maximum(link, 0)
    far = np.where(has, index.edge_dst[safe], index.num_nodes)
    width = np.where(has, index.edge_num_links[safe], 0).astype(np.int64)
    lat_ids, lat_id = np.unique(index.edge_latency_s[safe], return_inverse=True)
    lat_id = np.where(has, lat_id.reshape(n, m), 0)
    first, grp, gsize = _group(
        [far[:, p] for p in range(m)] + [width[:, p] for p in range(m)]
        + [lat_id[:, p] for p in range(m)],
        [index.num_nodes + 1] * m + [int(width.max()) + 1] * m + [len(lat_ids)] * m)
    num_g = len(first)
    g_has, g_link = has[first], safe[first]
    g_head = np.where(g_has, tg.node_of[index.t_of[index.edge_dst[g_link]]], 0)
    g_weight = np.where(g_has, index.edge_num_links[g_link], 0.0)
    g_lat = index.edge_latency_s[g_link]
    heads, h_first, h_of = np.unique(g_head[g_has], return_index=True, return_inverse=True)
    head_node = index.edge_dst[g_link[g_has]][h_first]  # a node of each (merged) head
    g_hidx = np.zeros((num_g, m), dtype=np.int64)
    g_hidx[g_has] = h_of.reshape(-1)
    # receivers by distance row
    cls = index.class_of[gpus[recv]]
    cls_ids, cls_idx = np.unique(cls, return_inverse=True)
    row_ids, row_first, row_of_cls = np.unique(index.distance_rows(cls_ids),
                                               return_index=True, return_inverse=True)
    num_r = len(row_ids)
    dest_row = row_of_cls.reshape(-1)[cls_idx.reshape(-1)]
    per_row = np.bincount(dest_row, weights=wgt, minlength=num_r)
    row_cls = cls_ids[row_first]  # a class of each row
    homed = np.zeros(len(index.class_preds), dtype=bool)
    homed[list(index.class_last_edges)] = True
    row_homed = homed[row_cls]  # rows of multi-homed GPUs (a row holds one kind only)
    # pairs inside a domain (self included), left out: per (group, row) and (source, row)
    # weighted, per (group, receiver) counted
    by_dom = np.argsort(dom, kind="stable")
    dsize = np.bincount(dom)
    b, at = spans((np.cumsum(dsize) - dsize)[dom[recv]], dsize[dom[recv]])
    a = by_dom[at]
    (gr_g, gr_r), gr_c = _pair_counts(grp[a], dest_row[b], num_r, wgt[b])
    (ar_a, ar_r), ar_c = _pair_counts(a, dest_row[b], num_r, wgt[b])
    (gb_g, gb_b), gb_c = _pair_counts(grp[a], b, len(recv), None)
    gb_r = dest_row[gb_b]
    inside_only = gb_c >= gsize[gb_g]  # the group lies inside the receiver's domain
    in_last = _last_hop_latency(index.in_latency[gpus[recv]], wgt > 0, dest_row, num_r, num_g,
                                gb_g[inside_only], gb_b[inside_only])
    first_hop = np.zeros((n, m))  # per source and link: its receivers' bytes, split
    group_hop = np.zeros((num_g, m))
    alive = np.zeros(num_r)  # per row: sources that reach it
    own_alive = np.zeros(len(recv))  # per receiver: its domain's sources that reach its row
    lost, latency_s, max_hops = 0.0, 0.0, 0
    step = max(1, min(ALL_PAIRS_BLOCK // (num_g * m), ALL_PAIRS_INJECTIONS // len(heads)))
    for r0 in range(0, num_r, step):
        rr = np.arange(r0, min(num_r, r0 + step))
        nb = len(rr)
        rows = np.broadcast_to(row_ids[rr], (num_g, m, nb))
        nodes = np.broadcast_to(g_head[:, :, None], (num_g, m, nb))
        d = np.where(g_has[:, :, None], index.hops_at(rows.reshape(-1), nodes.reshape(-1))
                     .reshape(num_g, m, nb), _UNREACHABLE)
        best = d.min(axis=1)
        dead = best >= _UNREACHABLE
        w = np.where((d == best[:, None, :]) & ~dead[:, None, :], g_weight[:, :, None], 0.0)
        total = w.sum(axis=1, keepdims=True)
        frac = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        pairs = gsize[:, None] * per_row[rr][None, :]
        inside = (gr_r >= r0) & (gr_r < r0 + nb)
        np.subtract.at(pairs, (gr_g[inside], gr_r[inside] - r0), gr_c[inside])
        last_s = in_last(rr)  # -inf: no pair from the group to the row (all in its domain)
        pairs[np.isneginf(last_s)] = 0.0  # not a rounding remainder of the weights
        lost += float(pairs[dead].sum())
        alive[rr] = (gsize[:, None] * ~dead).sum(axis=0)
        group_hop += (frac * per_row[rr][None, None, :]).sum(axis=2)
        mine = (ar_r >= r0) & (ar_r < r0 + nb)
        np.subtract.at(first_hop, ar_a[mine],
                       ar_c[mine, None] * frac[grp[ar_a[mine]], :, ar_r[mine] - r0])
        mine = (gb_r >= r0) & (gb_r < r0 + nb)
        np.add.at(own_alive, gb_b[mine], gb_c[mine] * ~dead[gb_g[mine], gb_r[mine] - r0])
        g_i, p_i, j_i = np.nonzero(frac)
        if len(g_i) == 0:
            continue
        inject = np.bincount(g_hidx[g_i, p_i] * nb + j_i,
                             weights=frac[g_i, p_i, j_i] * pairs[g_i, j_i],
                             minlength=len(heads) * nb)
        # the longest path: first hop, transit from its far end, last hop
        ends = g_lat[g_i, p_i] + index.lats_at(rows[g_i, p_i, j_i], g_head[g_i, p_i])
        longest = np.full(num_g * nb, -np.inf)
        np.maximum.at(longest, g_i * nb + j_i, ends)
        sent = (pairs > 0).reshape(-1) & ~dead.reshape(-1)
        if sent.any():
            latency_s = max(latency_s, float(
                (longest.reshape(num_g, nb) + last_s).reshape(-1)[sent].max()))
        at_i = np.flatnonzero(inject)
        route_rows = row_ids[rr[at_i % nb]]
        homed_at = np.flatnonzero(row_homed[rr[at_i % nb]])
        if len(homed_at):  # towards the one last switch an injection reaches, if one
            own = _one_target(index, route_rows[homed_at], heads[at_i[homed_at] // nb])[1]
            route_rows[homed_at[own >= 0]] = own[own >= 0]
        got = _propagate_rows(index, index.t_of[head_node[at_i // nb]], route_rows,
                              inject[at_i] * size_bytes, load, 1)[0]
        max_hops = max(max_hops, got.max_hops)
        multi_j = np.flatnonzero(row_homed[rr])
        if len(multi_j):
            in_block = (dest_row >= r0) & (dest_row < r0 + nb)
            _all_pairs_last_hops(index, frac, row_ids[rr], multi_j, (g_hidx, gsize, heads),
                                 (gb_g, gb_b, gb_c), np.where(in_block, dest_row - r0, -1),
                                 cls, wgt * size_bytes, load)
    total = group_hop[grp]
    first_hop += total
    first_hop[first_hop <= 1e-9 * total] = 0.0  # its pairs all inside its domain: rounding
    np.add.at(load, link[has], first_hop[has] * size_bytes)
    # single-homed receivers: what reaches them crosses their one in-edge
    single = ~row_homed[dest_row]
    arrived = ((alive[dest_row] - own_alive) * wgt * size_bytes)[single]
    into = index.single_in[gpus[recv[single]]]
    np.add.at(load, into[arrived > 0], arrived[arrived > 0])
    return LinkLoads(load_bytes=load, max_latency_s=latency_s, max_hops=max_hops,
                     unroutable=int(round(lost)), path_latency_s=np.zeros(0))


def _one_target(index: FabricIndex, rows: np.ndarray, node: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Per (searched distance row ``rows[i]``, transit-graph node ``node[i]``): the column
    (rank among the row's targets, ascending) of the one target the node reaches and that
    target's own row (:meth:`FabricIndex.target_rows`), or -1 and -1 where it reaches several
    or none; and the most targets a row has. Bytes from a node that reaches one target take
    the paths towards that target alone (every node on them reaches only it) and all arrive
    there: a multi-homed GPU's row on a multi-plane fabric (one leaf per plane, the planes
    separate networks) is routed as its plane's leaf, whose row a twin's swap gives."""
    if (index._row_swap[rows, 0] >= 0).any():
        raise ValueError("one target: searched rows only")
    col = np.full(len(rows), -1, dtype=np.int64)
    own = np.full(len(rows), -1, dtype=np.int64)
    if len(rows) == 0:
        return col, own, 1
    used, inv = np.unique(rows, return_inverse=True)
    targets = _row_targets(index, index._row_base[used])
    width = max(len(t) for t in targets)
    table = np.full((len(used), width), -1, dtype=np.int64)
    for i, t in enumerate(targets):
        table[i, :len(t)] = t
    at = table[inv.reshape(-1)]
    ok = at >= 0
    own_rows = np.full(at.shape, -1, dtype=np.int64)
    own_rows[ok] = index.target_rows(at[ok])
    reach = np.zeros(at.shape, dtype=bool)
    reach[ok] = index.hops_at(own_rows[ok], np.broadcast_to(node[:, None], at.shape)[ok]
                              ) < _UNREACHABLE
    one = np.flatnonzero(reach.sum(axis=1) == 1)
    col[one] = np.argmax(reach[one], axis=1)
    own[one] = own_rows[one, col[one]]
    return col, own, width


def _merged_into(tg: _TransitGraph, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transit nodes merged into each transit-graph node ``q[i]``, laid end to end:
    (i of each, its local transit id), in ascending transit ids per node."""
    order = np.argsort(tg.node_of, kind="stable")
    first = np.searchsorted(tg.node_of[order], np.arange(tg.num + 1))
    owner, at = spans(first[q], first[q + 1] - first[q])
    return owner, order[at]


def _row_targets(index: FabricIndex, searched: np.ndarray) -> list[np.ndarray]:
    """The targets (transit-graph nodes at distance 0, ascending) of each searched row."""
    num = index.transit_graph().num
    flat = index._hops.reshape(-1)
    return [np.flatnonzero(flat[b * num:(b + 1) * num] == 0) for b in searched.tolist()]


def _shares(index: FabricIndex, rows: np.ndarray, node: np.ndarray) -> np.ndarray:
    """:func:`_arrival_shares` (power 1), with every column a row has: all of it at the one
    target where a node reaches one (:func:`_one_target`), walked down elsewhere."""
    col, _, width = _one_target(index, rows, node)
    many = np.flatnonzero(col < 0)
    walked = _arrival_shares(index, rows[many], node[many], 1) if len(many) else None
    share = np.zeros((len(rows), max(width, 0 if walked is None else walked.shape[1])))
    one = np.flatnonzero(col >= 0)
    share[one, col[one]] = 1.0
    if walked is not None:
        share[many, :walked.shape[1]] = walked
    return share


def _last_hop_latency(in_lat: np.ndarray, live: np.ndarray, row: np.ndarray, num_r: int,
                      num_g: int, no_g: np.ndarray, no_b: np.ndarray
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """For :func:`route_all_pairs`: the longest last hop into a row's receivers (``in_lat``,
    ``live``: weight > 0, ``row``) that a source group sends to, as a function of the rows
    ``rr`` giving a (groups x rows) array (-inf: none); group ``no_g[i]`` sends nothing to
    receiver ``no_b[i]`` (it lies inside the receiver's domain); ``rr`` consecutive."""
    top = np.full(num_r, -np.inf)
    np.maximum.at(top, row[live], in_lat[live])
    # a (group, row) whose longest receiver is one it does not send to: the longest of the rest
    hit = live[no_b] & (in_lat[no_b] >= top[row[no_b]])
    fixes: dict[tuple[int, int], float] = {}
    if hit.any():
        skip: dict[tuple[int, int], set[int]] = {}
        for g, b in zip(no_g.tolist(), no_b.tolist(), strict=True):
            skip.setdefault((g, int(row[b])), set()).add(b)
        order = np.lexsort((-in_lat, row))
        starts = np.searchsorted(row[order], np.arange(num_r + 1))
        for g, r in {(int(g), int(row[b])) for g, b in zip(no_g[hit], no_b[hit], strict=True)}:
            out = skip[(g, r)]
            fixes[(g, r)] = next((float(in_lat[b]) for b in order[starts[r]:starts[r + 1]].tolist()
                                  if live[b] and b not in out), -np.inf)

    def at(rr: np.ndarray) -> np.ndarray:
        out = np.repeat(top[rr][None, :], num_g, axis=0)
        for (g, r), value in fixes.items():
            if rr[0] <= r <= rr[-1]:
                out[g, r - rr[0]] = value
        return out

    return at


def _pair_counts(x: np.ndarray, y: np.ndarray, bound: int, weight: np.ndarray | None
                 ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Distinct pairs ``(x[i], y[i])`` (``y < bound``) and how often each occurs (or the sum
    of their ``weight``)."""
    key, inv = np.unique(x * bound + y, return_inverse=True)
    count = np.bincount(inv.reshape(-1), weights=weight, minlength=len(key)).astype(float)
    return (key // bound, key % bound), count


def _all_pairs_last_hops(index: FabricIndex, frac: np.ndarray, rows: np.ndarray,
                         multi_j: np.ndarray, groups: tuple[np.ndarray, np.ndarray, np.ndarray],
                         inside: tuple[np.ndarray, np.ndarray, np.ndarray],
                         dest_row: np.ndarray, dest_cls: np.ndarray, size_bytes: np.ndarray,
                         load: np.ndarray) -> None:
    """:func:`route_all_pairs`' last hops into multi-homed destinations, for the rows
    ``rows[multi_j]`` of one block (``frac[g, p, j]``: group g's split over its link p towards
    ``rows[j]``; ``groups``: each group's head index per link, its size and the heads;
    ``inside``: (group, destination, pairs) inside a domain; ``dest_row[i]``: destination i's
    position in ``rows`` or -1; ``dest_cls`` its class, ``size_bytes`` the bytes of each of its
    pairs). Per row, one destination's bytes from every group arrive at its last switches in
    the shares :func:`_shares` gives; each destination takes them less those of its own
    domain's sources."""
    g_hidx, gsize, heads = groups
    num_j = len(multi_j)
    sub = frac[:, :, multi_j]
    g_i, p_i, j_i = np.nonzero(sub)
    per_dest = np.bincount(g_hidx[g_i, p_i] * num_j + j_i,
                           weights=sub[g_i, p_i, j_i] * gsize[g_i],
                           minlength=len(heads) * num_j)
    at = np.flatnonzero(per_dest)
    share = _shares(index, rows[multi_j][at % num_j], heads[at // num_j])
    slot = np.full(len(heads) * num_j, -1, dtype=np.int64)
    slot[at] = np.arange(len(at))
    arrive = np.zeros((num_j, share.shape[1]))
    np.add.at(arrive, at % num_j, per_dest[at, None] * share)
    local = np.full(len(rows), -1, dtype=np.int64)
    local[multi_j] = np.arange(num_j)
    dest_j = np.where(dest_row >= 0, local[np.maximum(dest_row, 0)], -1)
    dest = np.flatnonzero(dest_j >= 0)
    got = arrive[dest_j[dest]]
    whole = got.copy()
    gb_g, gb_b, gb_c = inside
    where = np.full(len(dest_row), -1, dtype=np.int64)
    where[dest] = np.arange(len(dest))
    mine = where[gb_b] >= 0
    gb_g, gb_b, gb_c = gb_g[mine], gb_b[mine], gb_c[mine]
    gb_j = dest_j[gb_b]
    m = frac.shape[1]
    split = sub[gb_g[:, None], np.arange(m)[None, :], gb_j[:, None]]  # (pairs, links)
    e_i, p_i = np.nonzero(split)
    np.subtract.at(got, where[gb_b[e_i]], (gb_c[e_i] * split[e_i, p_i])[:, None]
                   * share[slot[g_hidx[gb_g[e_i], p_i] * num_j + gb_j[e_i]]])
    got[got <= 1e-9 * whole] = 0.0  # a destination only its own domain reaches: rounding
    _charge_last_hops(index, dest_cls[dest], got * size_bytes[dest, None], load, 1)


def _last_hops(index: FabricIndex, multi: np.ndarray, cls: np.ndarray, rows: np.ndarray,
               node: np.ndarray, amount: np.ndarray, load: np.ndarray, power: int) -> None:
    """Charge the in-edges of multi-homed classes ``multi``: injection i (``amount[i]`` bytes
    of class ``cls[i]`` at transit-graph node ``node[i]``, distance row ``rows[i]``) delivers
    its share (:func:`_arrival_shares`) of them to each of the row's last switches, shared out
    over the transit nodes merged there, each crossing the class's in-edge from it. Classes
    with the same last switches share a row, so they are routed together and told apart only
    here."""
    slot = np.full(len(index.class_preds), -1, dtype=np.int64)
    slot[multi] = np.arange(len(multi))
    mine = np.flatnonzero(slot[cls] >= 0)
    # per class, the bytes arriving at each of its last switches
    share = _arrival_shares(index, rows[mine], node[mine], power)
    arrived = np.zeros((len(multi), share.shape[1]))
    np.add.at(arrived, slot[cls[mine]], amount[mine, None] * share)
    _charge_last_hops(index, multi, arrived, load, power)


def _charge_last_hops(index: FabricIndex, multi: np.ndarray, arrived: np.ndarray,
                      load: np.ndarray, power: int) -> None:
    """Charge ``arrived[i, j]`` bytes of multi-homed class ``multi[i]``, arrived at the j-th
    of its last switches (ascending, as its row's targets), to its in-edges: shared out over
    the transit nodes merged there, each crossing the class's in-edge from it."""
    tg = index.transit_graph()
    # per class, its last switches in ascending order (its row's targets)
    preds = [index.class_preds[c] for c in multi.tolist()]
    owner = np.repeat(np.arange(len(multi)), [len(p) for p in preds])
    at_node = tg.node_of[np.concatenate(preds)]
    uniq, col = np.unique(owner * tg.num + at_node, return_inverse=True)
    col = col.reshape(-1) - np.searchsorted(uniq // tg.num, owner)  # rank within the class
    # each GPU's own in-edges: no edge twice
    last = np.concatenate([index.class_last_edges[c] for c in multi.tolist()])
    load[last] += arrived[owner, col] / tg.size[at_node] ** power


def _arrival_shares(index: FabricIndex, rows: np.ndarray, node: np.ndarray, power: int
                    ) -> np.ndarray:
    """Per (searched distance row ``rows[i]``, transit-graph node ``node[i]``): the share of
    bytes injected there that the fluid routing delivers to each of the row's targets
    (columns: the targets in ascending order, padded with zeros), every split factor raised
    to ``power`` as :func:`propagate` charges it. Down from the injections over the next hops
    the routing takes (the positions it visits, no others), then summed back up level by
    level from the targets."""
    tg = index.transit_graph()
    num = tg.num
    memo = _next_hops(index)
    flat_hops = index._hops.reshape(-1)
    base = index._row_base[rows]
    if (index._row_swap[rows, 0] >= 0).any():
        raise ValueError("arrival shares read searched rows only")
    start = base * num + node  # positions in the searched matrices
    level = flat_hops[start]
    top = int(level.max()) if len(level) else 0
    fronts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * (top + 1)
    links: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    below = np.zeros(0, dtype=np.int64)
    for h in range(top, -1, -1):  # down: the positions bytes reach, per level
        front = np.unique(np.concatenate([start[level == h], below]))
        fronts[h] = front
        if h == 0:
            break
        starts, counts = memo.spans(front, flat_hops)
        rep, at = spans(starts, counts)
        child = front[rep] - front[rep] % num + memo.node_of[at]
        weight = tg.weight[tg.edge[memo.slot[at]]]
        frac = weight / np.bincount(rep, weights=weight, minlength=len(front))[rep]
        links.append((rep, child, frac if power == 1 else frac ** power))
        below = child
    # up: each target's column among its row's targets
    targets = fronts[0]
    row_start = targets - targets % num
    width = 1
    col = np.zeros(len(targets), dtype=np.int64)
    if len(targets):
        # every target of the rows reached (not only those reached) fixes the columns
        used = np.unique(row_start)
        all_t = [t + r for t, r in zip(_row_targets(index, used // num), used.tolist(),
                                       strict=True)]
        width = max(len(t) for t in all_t)
        full = np.concatenate(all_t)
        rank = np.concatenate([np.arange(len(t)) for t in all_t])
        col = rank[np.searchsorted(full, targets)]
    share = np.zeros((len(targets), width))
    share[np.arange(len(targets)), col] = 1.0
    shares = [share]
    for h in range(1, top + 1):
        rep, child, frac = links[top - h]
        got = frac[:, None] * shares[h - 1][np.searchsorted(fronts[h - 1], child)]
        shares.append(np.stack([np.bincount(rep, weights=got[:, j], minlength=len(fronts[h]))
                                for j in range(width)], axis=1))
    out = np.zeros((len(rows), width))
    for h in range(top + 1):  # each injection, read at its own level
        at = np.flatnonzero(level == h)
        if len(at):
            out[at] = shares[h][np.searchsorted(fronts[h], start[at])]
    return out


#: Next-hop entries the fluid routing keeps per fabric index (16 bytes each, plus 12 per
#: searched row and transit node for the lookup); past it the memo starts over.
NEXT_HOP_MEMO = 1 << 23


def _next_hops(index: FabricIndex) -> _NextHops:
    """The index's :class:`_NextHops` (made on first use)."""
    if index._next_hops is None:
        index._next_hops = _NextHops(index.transit_graph())
    return index._next_hops


class _NextHops:
    """The next hops one level closer, per (searched distance row, transit-graph node), kept
    for the index's lifetime: the out-edge slots of ``node`` whose far end is one hop closer
    to the row's targets, in slot order. A key is ``row * nodes + node``; key k's entries are
    ``node_of[start[k]:start[k] + count[k]]`` (the far ends) and ``slot`` (the edges' CSR
    slots), ``count[k]`` -1 while not searched. ``start`` and ``count`` are dense over the
    searched rows (12 bytes per row and node, as the distance matrices). Also looks up the
    slot of an edge by its two ends."""

    def __init__(self, tg: _TransitGraph) -> None:
        self.tg = tg
        self.start = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int32)
        self._reset()
        src = np.repeat(np.arange(tg.num, dtype=np.int64), np.diff(tg.indptr))
        pair = src * tg.num + tg.dst
        self._pair_order = np.argsort(pair, kind="stable")
        self._pairs = pair[self._pair_order]

    def _reset(self) -> None:
        self.count[:] = -1
        self.node_of = np.zeros(0, dtype=np.int64)
        self.slot = np.zeros(0, dtype=np.int64)
        self._used = 0  # entries of node_of and slot in use (the rest is room to grow)

    def slot_of(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """CSR slot of edge ``u[i] -> w[i]`` (each must exist)."""
        return self._pair_order[np.searchsorted(self._pairs, u * self.tg.num + w)]

    def has(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Whether edge ``u[i] -> w[i]`` exists."""
        key = u * self.tg.num + w
        if len(self._pairs) == 0:
            return np.zeros(len(key), dtype=bool)
        return self._pairs[np.minimum(np.searchsorted(self._pairs, key),
                                      len(self._pairs) - 1)] == key

    def spans(self, key: np.ndarray, flat_hops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, count) of each key's entries, searching the keys not yet kept."""
        if len(flat_hops) > len(self.count):  # more searched rows: room for their keys
            grown = np.full(len(flat_hops), -1, dtype=np.int32)
            grown[:len(self.count)] = self.count
            self.count = grown
            self.start = np.concatenate(
                [self.start, np.zeros(len(flat_hops) - len(self.start), dtype=np.int64)])
        count = self.count[key]
        miss = count < 0
        if miss.any() and self._add(_unique(key[miss], len(self.count))[0], flat_hops):
            # the memo started over: every key of this request again, whatever it takes
            self._add(_unique(key, len(self.count))[0], flat_hops, may_reset=False)
        if miss.any():
            count = self.count[key]
        return self.start[key], count.astype(np.int64)

    def _add(self, new: np.ndarray, flat_hops: np.ndarray, may_reset: bool = True) -> bool:
        """Search the next hops of keys ``new``; True if the memo started over first."""
        tg = self.tg
        num = tg.num
        row_base = new - new % num
        node = new - row_base
        owner, slots = spans(tg.indptr[node], tg.indptr[node + 1] - tg.indptr[node])
        ok = flat_hops[row_base[owner] + tg.dst[slots]] == flat_hops[new[owner]] - 1
        owner, slots = owner[ok], slots[ok]
        count = np.bincount(owner, minlength=len(new))
        reset = may_reset and self._used + len(slots) > NEXT_HOP_MEMO
        if reset:
            self._reset()
        used, end = self._used, self._used + len(slots)
        if end > len(self.node_of):  # grown to twice: appends stay linear
            cap = max(end, len(self.node_of) * 2, 1 << 16)
            for name in ("node_of", "slot"):
                grown = np.empty(cap, dtype=np.int64)
                grown[:used] = getattr(self, name)[:used]
                setattr(self, name, grown)
        self.start[new] = used + np.cumsum(count) - count
        self.count[new] = count
        self.node_of[used:end] = tg.dst[slots]
        self.slot[used:end] = slots
        self._used = end
        return reset


def _propagate_levels(
    index: FabricIndex, rows: np.ndarray, pos: np.ndarray, level: np.ndarray,
    amount: np.ndarray, load: np.ndarray, power: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Push bytes ``amount[i]`` injected at ``pos[i]`` (k x transit-graph nodes + node, for
    distance row ``rows[k]``; ``level[i]`` hops from the row's targets) down the distance
    levels; returns what arrives at distance 0 (sorted positions, bytes).

    Level by level from the farthest: the bytes at a node ``level`` hops from its class split
    over the next hops one level closer (by ``num_links``). Only the (row, node) positions the
    bytes reach are kept, as lists per level: a level's bytes are summed per position in the
    order they came (injections first, then the level above in ascending position), so the
    sums do not depend on how many classes travel together, and the work grows with the
    shortest-path DAG edges reached, not with classes x transit nodes. The next hops come from
    :class:`_NextHops`, found once per searched row and node: a row derived by a swap of twins
    (:meth:`FabricIndex.prepare`) reads its searched row's next hops with the swap applied, so
    a symmetric fabric searches next hops for one leaf of each kind. A level's front is
    expanded in pieces of at most :data:`LEVEL_BUDGET` entries.
    """
    tg = index.transit_graph()
    num = tg.num
    flat_hops = index._hops.reshape(-1)  # searched rows: the memo's next hops
    bound = len(rows) * num
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0))
    if len(pos) == 0:
        return empty
    memo = _next_hops(index)
    top = int(level.max())
    order = np.argsort(level, kind="stable")  # injections by level, in their order
    cuts = np.searchsorted(level[order], np.arange(top + 2))
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(pos[order[cuts[h]:cuts[h + 1]]], amount[order[cuts[h]:cuts[h + 1]]])]
        if cuts[h + 1] > cuts[h] else [] for h in range(top + 1)]
    t_edges, num_links = tg.edge, tg.weight
    # a level that many bytes reach is summed in one dense array over every position
    dense: dict[int, np.ndarray] = {}
    for h in range(top, -1, -1):
        if h in dense:
            total = dense.pop(h)
            front = np.flatnonzero(total)
            got = total[front]
        elif pending[h]:
            front, got = _summed(pending[h], bound, num)
        else:
            continue
        pending[h] = []
        live = got > 0
        front, got = front[live], got[live]
        if h == 0:
            return front, got
        k = front // num
        u = front - k * num
        row = rows[k]
        base_row = index._row_base[row]
        swap_a, swap_b = index._row_swap[row, 0], index._row_swap[row, 1]
        swapped = swap_a >= 0
        su = np.where(u == swap_a, swap_b, np.where(u == swap_b, swap_a, u))
        # the swap touches an entry's next hops only if it leaves from a swapped node or one
        # of them is one hop closer in the searched row (the row's target itself at level 1)
        touched = swapped & ((su != u) | (h == 1) | (
            flat_hops[base_row * num + np.maximum(swap_a, 0)] == h - 1))
        starts, counts = memo.spans(base_row * num + su, flat_hops)
        ends = np.cumsum(counts)
        if len(ends) and 4 * int(ends[-1]) >= bound:  # bytes in order: injections first
            below = dense[h - 1] = np.zeros(bound)
            for at, sent in pending[h - 1]:
                np.add.at(below, at, sent)
            pending[h - 1] = []
        first = 0
        while first < len(front):  # pieces of at most LEVEL_BUDGET expansions
            base = ends[first - 1] if first else 0
            last = max(first + 1, int(np.searchsorted(ends, base + LEVEL_BUDGET, "right")))
            piece = slice(first, last)
            rep, at_memo = spans(starts[piece], counts[piece])
            mapped, slots = memo.node_of[at_memo], memo.slot[at_memo]
            fix = np.flatnonzero(touched[piece][rep])
            if len(fix):  # edges the swap moves: from u, to the swapped far end
                w, owner = mapped[fix], rep[fix]
                a, b = swap_a[piece][owner], swap_b[piece][owner]
                far = np.where(w == a, b, np.where(w == b, a, w))
                mapped = mapped.copy()
                mapped[fix] = far
                slots = slots.copy()
                slots[fix] = memo.slot_of(u[piece][owner], far)
            edges = t_edges[slots]
            target = (front[piece] - u[piece])[rep] + mapped
            wgt = num_links[edges]
            total_w = np.bincount(rep, weights=wgt, minlength=last - first)
            frac = wgt / total_w[rep]
            share = got[piece][rep] * (frac if power == 1 else frac ** power)
            np.add.at(load, edges, share)
            if h - 1 in dense:
                np.add.at(dense[h - 1], target, share)
            else:
                below_parts = pending[h - 1]
                below_parts.append((target, share))
                # sum what came so far once it outgrows the sums already made: bounded
                # memory, and each entry is summed a few times at most
                fresh = sum(len(t) for t, _ in below_parts[1:])
                if fresh > max(LEVEL_BUDGET, len(below_parts[0][0])):
                    pending[h - 1] = [_summed(below_parts, bound, num)]
            first = last
    return empty


def _summed(parts: list[tuple[np.ndarray, np.ndarray]], bound: int, num: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(positions, bytes) pieces summed per position, in the order they came: ascending
    positions and their totals (positions ``k * num + node`` below ``bound``)."""
    at = np.concatenate([p for p, _ in parts])
    sent = np.concatenate([a for _, a in parts])
    if 4 * len(at) >= bound:  # dense: one array over every position
        total = np.bincount(at, weights=sent, minlength=bound)
        front = np.flatnonzero(total)
        return front, total[front]
    if bound <= 16 * len(at) + (1 << 20) or num > 1 << 16 or bound // num > 1 << 16:
        front, inverse = _unique(at, bound)
    else:  # sorted by node, then by k: two 16-bit radix passes, no comparison sort
        k, node = np.divmod(at, num)
        order = np.argsort(node.astype(np.uint16), kind="stable")
        order = order[np.argsort(k.astype(np.uint16)[order], kind="stable")]
        ranked = at[order]
        change = np.empty(len(ranked), dtype=bool)
        change[:1] = True
        np.not_equal(ranked[1:], ranked[:-1], out=change[1:])
        front = ranked[change]
        inverse = np.empty(len(at), dtype=np.int64)
        inverse[order] = np.cumsum(change) - 1
    return front, np.bincount(inverse, weights=sent, minlength=len(front))


# -- routing policies ----------------------------------------------------------------------
#: Routing policies of the flow model (``--routing``); :func:`route` is ``ecmp-ideal``.
ROUTING_POLICIES = ("ecmp-ideal", "ecmp-hash", "adaptive", "policy")
#: Default routing policy: today's fluid split.
DEFAULT_ROUTING = "ecmp-ideal"
#: Objective of each traffic class under ``policy`` routing (the Arrcus-style steering of the
#: issue: latency-sensitive inference, throughput-bound training, background storage).
TRAFFIC_OBJECTIVES = {"kv-transfer": "latency", "training": "throughput", "storage": "power"}
#: How each objective places a class's flows: ``latency`` sprays packets over every equal-cost
#: path (the fluid split, no flow waits behind another's collision), ``throughput`` takes the
#: least-loaded path per flow (``adaptive``), ``power`` packs flows onto the first equal-cost
#: path so the fewest links carry traffic (``pack``; the others can idle).
OBJECTIVE_PLACEMENT = {"latency": "ecmp-ideal", "throughput": "adaptive", "power": "pack"}
#: Hash samples (seeds) of ``ecmp-hash`` per request: at most ``HASH_MAX_SAMPLES``, fewer
#: when its steps have many network flows (``HASH_BUDGET`` flow-samples in all), never under
#: ``HASH_MIN_SAMPLES``. Large fabrics need few: the busiest of ~10^5 cables varies little
#: from one hash to the next.
HASH_MAX_SAMPLES = 4000
HASH_MIN_SAMPLES = 16
HASH_BUDGET = 1 << 19
#: From this many network flows in a request's steps (where sampling would be down to
#: ``HASH_MIN_SAMPLES`` hashes), ``ecmp-hash`` takes each cable's load distribution instead of
#: drawn hashes (:func:`fabric.flows.hash_step`), with ``HASH_ANALYTIC_SAMPLES`` quantiles.
HASH_ANALYTIC_FLOWS = HASH_BUDGET // HASH_MIN_SAMPLES
HASH_ANALYTIC_SAMPLES = 256
#: Candidate next-hop units kept per fabric index for the per-flow placements (8 bytes each,
#: plus 24 bytes per (class, node)); past it the memo starts over.
CANDIDATE_MEMO_UNITS = 1 << 23


def check_routing(routing: str) -> str:
    """``routing`` if it is a routing policy, else a ValueError that lists them."""
    if routing not in ROUTING_POLICIES:
        raise ValueError(f"unknown routing {routing!r}; use one of {', '.join(ROUTING_POLICIES)}")
    return routing


def placement_of(routing: str, traffic_class: str = "training") -> str:
    """How ``routing`` places the flows of ``traffic_class``: ``ecmp-ideal``, ``ecmp-hash``,
    ``adaptive`` or ``pack`` (``policy`` resolves through :data:`TRAFFIC_OBJECTIVES`)."""
    check_routing(routing)
    if routing != "policy":
        return routing
    if traffic_class not in TRAFFIC_OBJECTIVES:
        raise ValueError(f"unknown traffic class {traffic_class!r}; use one of "
                         f"{', '.join(TRAFFIC_OBJECTIVES)}")
    return OBJECTIVE_PLACEMENT[TRAFFIC_OBJECTIVES[traffic_class]]


@dataclass(frozen=True, slots=True)
class HashUnits:
    """The units a flow is hashed onto: one per parallel cable of a scale-out edge
    (``num_links`` of them), one per scale-up edge (NVLink sprays over its links).

    ``offset[e]`` is edge e's first unit, ``count[e]`` its units; ``edge[u]`` the edge of unit u
    and ``capacity[u]`` its bytes/s (the edge's capacity / its units).
    """

    offset: np.ndarray
    count: np.ndarray
    edge: np.ndarray
    capacity: np.ndarray


def hash_units(index: FabricIndex) -> HashUnits:
    """The :class:`HashUnits` of a fabric index (memoized in ``index.memo``)."""
    key = (__name__, "units")
    found = index.memo.get(key)
    if isinstance(found, HashUnits):
        return found
    scaleup = index.is_scaleup[index.edge_src] | index.is_scaleup[index.edge_dst]
    count = np.where(scaleup, 1, np.maximum(index.edge_num_links.round(), 1)).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    edge = np.repeat(np.arange(index.num_edges), count)
    units = HashUnits(offset=offset, count=count, edge=edge,
                      capacity=index.edge_capacity_bytes_per_s[edge] / count[edge])
    index.memo[key] = units
    return units


def _expand_units(units: HashUnits, edges: np.ndarray, ptr: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Candidate units of candidate edge lists (CSR ``ptr`` over ``edges``): (unit_ptr, units)."""
    counts = units.count[edges]
    per_list = np.add.reduceat(counts, ptr[:-1]) if len(edges) else np.zeros(0, dtype=np.int64)
    per_list = np.where(np.diff(ptr) > 0, per_list, 0)
    unit_ptr = np.concatenate([[0], np.cumsum(per_list)]).astype(np.int64)
    return unit_ptr, spans(units.offset[edges], counts)[1]


#: Flows per state up to which a round of the adaptive deal picks each flow's unit by a pass
#: over the candidates' loads instead of sorting them (:func:`_deal`).
_DEAL_PICKS = 4


def _padded(cand: np.ndarray, start: np.ndarray, n: np.ndarray, pad: int) -> np.ndarray:
    """Candidate lists ``cand[start[i]:start[i] + n[i]]`` as rows, padded to the widest with
    unit ``pad``."""
    width = int(n.max())
    col = np.arange(width)
    fits = start <= len(cand) - width  # rows read as windows of ``cand``, one copy each
    if fits.all():
        rows = sliding_window_view(cand, width)[start]
    else:
        rows = cand[np.minimum(start[:, None] + col, len(cand) - 1)]
    rows[col >= n[:, None]] = pad
    return rows


def _deal(load: np.ndarray, units: np.ndarray, n: np.ndarray, count: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round of the adaptive deal: state i (of distinct nodes, so no unit is shared) sends
    ``count[i]`` flows over its ``n[i]`` candidates, row i of ``units`` (padded with a unit
    whose ``load`` is infinite, so it sorts last), one each in turn from the least loaded
    (stable: ties in candidate order). Returns ``(state, unit, flows)`` for the units that get
    flows, by state and then load."""
    key = load[units]
    most = int(count.max())
    if most <= _DEAL_PICKS and most < int(n.min()):
        # fewer flows than candidates everywhere: flow j of a state goes to its j-th least
        # loaded unit, found as the first least (as a stable sort orders ties) of those not
        # taken yet; no sort of the whole row
        rows = np.arange(len(n))
        pick = np.empty((len(n), most), dtype=np.int64)
        for j in range(most):
            pick[:, j] = np.argmin(key, axis=1)
            key[rows, pick[:, j]] = np.inf
        # a unit taken twice: every unit left had an infinite load (bytes past float range),
        # where the first least is one already taken; the sort below orders those right
        twice = any(bool((pick[:, i] == pick[:, j]).any())
                    for i in range(most) for j in range(i + 1, most))
        if not twice:
            hit = np.arange(most) < count[:, None]
            owner = np.broadcast_to(rows[:, None], hit.shape)[hit]
            return owner, units[owner, pick[hit]], np.ones(len(owner), dtype=count.dtype)
        key = load[units]
    by_load = np.argsort(key, axis=1, kind="stable")
    units = np.take_along_axis(units, by_load, axis=1)
    col = np.arange(units.shape[1])
    c = count[:, None]
    flows = np.where(col < n[:, None], c // n[:, None] + (col < c % n[:, None]), 0)
    hit = flows > 0
    owner = np.broadcast_to(np.arange(len(n))[:, None], hit.shape)[hit]
    return owner, units[hit], flows[hit]


def _deal_uneven(load: np.ndarray, cand: np.ndarray, start: np.ndarray, n: np.ndarray,
                 count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_deal` for widths too uneven to pad: one sort over every (state, candidate),
    state i's candidates being ``cand[start[i]:start[i] + n[i]]``."""
    owner, pos = spans(start, n)
    units = cand[pos]
    by_load = np.lexsort((np.arange(len(units)), load[units], owner))
    units = units[by_load]
    place = np.arange(len(units)) - np.repeat(np.cumsum(n) - n, n)
    c = count[owner]
    flows = c // n[owner] + (place < c % n[owner])
    hit = flows > 0
    return owner[hit], units[hit], flows[hit]


def _even(n: np.ndarray) -> bool:
    """Whether candidate lists of lengths ``n`` pad to the widest at little waste."""
    return len(n) * int(n.max()) <= 4 * int(n.sum()) + (1 << 16)


class _Chooser:
    """Splits each state's ``count`` equal flows over its candidate units.

    ``ecmp-hash``: every flow picks a unit uniformly at random (a multinomial split, drawn as
    a chain of binomials); ``adaptive``: greedy in flow order within each node (its states in
    order), every flow on the least-loaded unit so far, so a state's flows are dealt one per
    unit from the least loaded; ``pack``: all on the first unit.
    """

    def __init__(self, mode: str, rng: np.random.Generator | None, num_units: int) -> None:
        self.mode, self.rng = mode, rng
        # adaptive: each unit's load so far, and one more unit, never a candidate, whose
        # infinite load pads the rows of a deal (:func:`_deal`)
        self.load = np.append(np.zeros(num_units), np.inf) if mode == "adaptive" else None

    def charge(self, unit: np.ndarray, amount: np.ndarray) -> None:
        """Flows sent on ``unit`` with no choice (the same in every sample): ``adaptive``
        counts their bytes in the loads it balances."""
        if self.load is not None:
            np.add.at(self.load, unit, amount)

    def split(self, start: np.ndarray, total: np.ndarray, cand: np.ndarray, group: np.ndarray,
              count: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(state, unit, flows) for every unit that gets flows of a state; state i's
        candidates are ``cand[start[i]:start[i] + total[i]]``."""
        states = np.arange(len(start))
        if self.mode == "pack":
            return states, cand[start], count
        if self.mode == "ecmp-hash":
            assert self.rng is not None
            one = total == 1
            # fewer flows than units: one uniform pick per flow, then counted per unit
            few = np.flatnonzero(~one & (count <= total))
            rep = np.repeat(few, count[few])
            offset = (self.rng.random(len(rep)) * total[rep]).astype(np.int64)
            width = int(total.max()) if len(total) else 1
            if len(few) * width <= 4 * len(rep) + (1 << 20):
                # flows counted per (state, unit) in a dense table: no sort
                pos = np.repeat(np.arange(len(few)), count[few])
                table = np.bincount(pos * width + offset, minlength=len(few) * width)
                cell = np.flatnonzero(table)
                owner, picked = few[cell // width], cell % width
                out_s, out_c = [states[one], owner], [count[one], table[cell]]
                out_u = [cand[start[one]], cand[start[owner] + picked]]
            else:
                # one row per flow: flows of a state on the same unit are summed downstream
                # (the walk merges the states they become, charges are added up per unit)
                out_s = [states[one], rep]
                out_u = [cand[start[one]], cand[start[rep] + offset]]
                out_c = [count[one], np.ones(len(rep), dtype=count.dtype)]
            # more flows than units: a multinomial split, as a chain of binomials
            rest = np.flatnonzero(~one & (count > total))
            left = count[rest].copy()
            for j in range(int(total.max()) if len(rest) else 0):
                live = (total[rest] > j) & (left > 0)
                rest, left = rest[live], left[live]
                if len(rest) == 0:
                    break
                k = total[rest] - j
                got = np.where(k == 1, left, self.rng.binomial(left, 1.0 / k))
                hit = got > 0
                out_s.append(rest[hit])
                out_u.append(cand[start[rest[hit]] + j])
                out_c.append(got[hit])
                left = left - got
            return np.concatenate(out_s), np.concatenate(out_u), np.concatenate(out_c)
        assert self.load is not None
        load = self.load
        one = total == 1
        out_s, out_u, out_c = [states[one]], [cand[start[one]]], [count[one]]
        np.add.at(load, cand[start[one]], count[one] * size[one])
        many = np.flatnonzero(~one)
        if len(many) == 0:
            return np.concatenate(out_s), np.concatenate(out_u), np.concatenate(out_c)
        # round r deals the r-th state of every node (a node's units are its own: no conflict)
        order = many[_stable_order(group[many])]
        g = group[order]
        first = np.concatenate([[0], np.flatnonzero(np.diff(g)) + 1])
        rank = np.arange(len(order)) - np.repeat(first, np.diff(np.append(first, len(order))))
        by_rank = _stable_order(rank)
        bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2)).tolist()
        turn = order[by_rank]  # rounds are consecutive slices of these
        t_start, t_total, t_count, t_size = start[turn], total[turn], count[turn], size[turn]
        pad = len(load) - 1  # a unit whose load is infinite
        rows = _padded(cand, t_start, t_total, pad) if _even(t_total) else None
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if rows is not None:
                owner, units, flows = _deal(load, rows[a:b], t_total[a:b], t_count[a:b])
            elif _even(t_total[a:b]):
                owner, units, flows = _deal(load, _padded(cand, t_start[a:b], t_total[a:b], pad),
                                            t_total[a:b], t_count[a:b])
            else:
                owner, units, flows = _deal_uneven(load, cand, t_start[a:b], t_total[a:b],
                                                   t_count[a:b])
            load[units] += flows * t_size[a:b][owner]
            out_s.append(turn[a:b][owner])
            out_u.append(units)
            out_c.append(flows)
        return np.concatenate(out_s), np.concatenate(out_u), np.concatenate(out_c)


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for keys >= 0, as a radix sort where they fit 16
    bits."""
    if len(keys) and int(keys.max()) < 1 << 16 and int(keys.min()) >= 0:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def _csr(keys: np.ndarray, edges: np.ndarray, num_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges grouped by pair id ``keys`` (0..num_pairs-1): (ptr, edges)."""
    order = np.argsort(keys, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=num_pairs))]).astype(np.int64)
    return ptr, edges[order]


def flows_to_place(index: FabricIndex, src: np.ndarray, dst: np.ndarray, size_bytes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The flows a placement places (``src != dst``, some bytes) as arrays, and which of them
    are pairs on one scale-up switch (crossing it with no choice): (src, dst, size, intra)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    size = np.asarray(size_bytes, dtype=float)
    keep = (src != dst) & (size > 0)
    src, dst, size = src[keep], dst[keep], size[keep]
    su_a, su_b = index.scaleup_switch[src], index.scaleup_switch[dst]
    return src, dst, size, (su_a >= 0) & (su_a == su_b)


def place_flows(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    size_bytes: np.ndarray,
    *,
    placement: str,
    samples: int = 1,
    seed: int = 0,
) -> FlowPlacement:
    """Each flow ``src[i] -> dst[i]`` on one fewest-hop path, ``samples`` times.

    ``placement`` is ``ecmp-hash`` (every switch hashes the flow onto one of its equal-cost
    next-hop cables, uniformly and independently; an independent hash per sample),
    ``adaptive`` (every switch sends the flow on its least-loaded next-hop cable so far, flows
    in order: greedy hop by hop, as switch-local adaptive routing does per flow or flowlet) or
    ``pack`` (always the first). Pairs on one scale-up switch cross it as in :func:`route`
    (NVLink sprays over its links).

    Flows of equal size from one GPU to one destination class (one leaf) take the same hops
    until their last one, so they travel as one group of ``count`` flows: a hash splits a
    group over the next hops as a multinomial draw (exactly as ``count`` independent flows
    would), ``adaptive`` deals its flows one per cable from the least loaded.

    Returns a :class:`FlowPlacement`: charges on the :func:`hash_units` of the index that
    every sample shares, and per chunk of samples those of each sample. ``adaptive`` and
    ``pack`` are deterministic: one sample (0) stands for all.

    Raises
    ------
    ValueError
        A flow with no path, or an unknown placement.
    """
    if placement not in ("ecmp-hash", "adaptive", "pack"):
        raise ValueError(f"unknown flow placement {placement!r}; use ecmp-hash, adaptive or pack")
    units = hash_units(index)
    src, dst, size, intra = flows_to_place(index, src, dst, size_bytes)
    fixed_units = [units.offset[index.up_edge[src[intra]]],
                   units.offset[index.down_edge[dst[intra]]]]
    fixed_bytes = [size[intra], size[intra]]
    src, dst, size = src[~intra], dst[~intra], size[~intra]
    cls = index.class_of[dst]
    if (cls < 0).any():
        raise ValueError(f"{int((cls < 0).sum())} flow(s) have no path in the fabric "
                         "(a GPU with no scale-out link)")
    # last hops with no choice (one in-edge of one cable) are charged here, once; the other
    # flows keep their destination through the walk
    last = index.single_in[dst]
    fixed_last = (last >= 0) & (units.count[np.maximum(last, 0)] == 1)
    fixed_units.append(units.offset[last[fixed_last]])
    fixed_bytes.append(size[fixed_last])
    walk_dst = np.where(fixed_last, -1, dst)
    # groups: (source, class, size, destination if its last hop is chosen)
    size_id = np.unique(size, return_inverse=True)[1].reshape(-1)
    first, group_of, count = _group(
        [src, cls, walk_dst + 1, size_id],
        [index.num_nodes, index.num_nodes, index.num_nodes + 1, int(size_id.max(initial=0)) + 1])
    g_src, g_cls, g_dst, g_size = src[first], cls[first], walk_dst[first], size[first]
    f_units, f_bytes = np.concatenate(fixed_units), np.concatenate(fixed_bytes)
    draws = 1 if placement != "ecmp-hash" else samples
    per_chunk = max(1, (4 * HASH_BUDGET) // max(1, len(first)))
    rng = np.random.default_rng(seed) if placement == "ecmp-hash" else None
    chooser = _Chooser(placement, rng, len(units.edge))
    chunks = [range(start, min(start + per_chunk, draws)) for start in range(0, draws, per_chunk)]
    (c_units, c_bytes), walked = _walk(index, units, chooser, g_src, g_dst, g_cls, count, g_size,
                                       chunks)
    out = [(got_sample, got_units, got_bytes) for got_units, got_bytes, got_sample in walked]
    return FlowPlacement(fixed_units=np.concatenate([f_units, c_units]),
                         fixed_bytes=np.concatenate([f_bytes, c_bytes]), chunks=out,
                         samples=draws)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowPlacement:
    """What :func:`place_flows` returns: ``(fixed_units, fixed_bytes)`` are charged in every
    sample (NVLink pairs, last hops with no choice); each chunk ``(sample, unit, bytes)`` holds
    the other charges of some of the ``samples`` samples."""

    fixed_units: np.ndarray
    fixed_bytes: np.ndarray
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    samples: int


def _unique(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` for keys in ``0..bound-1``, by counting (no sort)
    when ``bound`` is not much larger than the keys."""
    if bound > 16 * len(key) + (1 << 20):
        uniq, inv = np.unique(key, return_inverse=True)
        return uniq, inv.reshape(-1)
    present = np.zeros(bound, dtype=bool)
    present[key] = True
    uniq = np.flatnonzero(present)
    rank = np.empty(bound, dtype=np.int64)  # written (and read) only where present
    rank[uniq] = np.arange(len(uniq))
    return uniq, rank[key]


def _group(columns: list[np.ndarray], bounds: list[int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of equal ``columns``: (first row of each group, group of each row, group sizes),
    groups in lexicographic order; columns folded into one int64 key when they fit."""
    if float(np.prod(np.asarray(bounds, dtype=float))) < 2.0**62:
        flat = np.zeros(len(columns[0]), dtype=np.int64)
        for col, bound in zip(columns, bounds, strict=True):
            flat = flat * bound + col
        _, first, inverse, count = np.unique(flat, return_index=True, return_inverse=True,
                                             return_counts=True)
    else:
        _, first, inverse, count = np.unique(np.stack(columns), axis=1, return_index=True,
                                             return_inverse=True, return_counts=True)
    return first, inverse.reshape(-1), count


def _merge(keys: list[np.ndarray], count: np.ndarray,
           bounds: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """States with equal ``keys`` merged: (index of one state per merged state, summed count).

    ``bounds`` (each key in ``0..bound-1``) lets the keys fold into one int64 when they fit.
    """
    if bounds is not None and float(np.prod(np.asarray(bounds, dtype=float))) < 2.0**62:
        flat = np.zeros(len(count), dtype=np.int64)
        for k, bound in zip(keys, bounds, strict=True):
            flat = flat * bound + k
        order = np.argsort(flat, kind="stable")  # timsort: states come in runs of one sample
        ranked = flat[order]
        change = np.ones(len(order), dtype=bool)
        change[1:] = ranked[1:] != ranked[:-1]
        starts = np.flatnonzero(change)
        if len(starts) == len(order):  # nothing to merge
            return order, count[order]
        return order[starts], np.add.reduceat(count[order], starts) if len(order) else count[:0]
    order = np.lexsort(keys[::-1])
    sorted_keys = [k[order] for k in keys]
    change = np.zeros(len(order), dtype=bool)
    if len(order):
        change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    return order[starts], np.add.reduceat(count[order], starts) if len(order) else count[:0]


#: (unit, bytes, sample) of the charges a walk made in one chunk of samples
_Charges = tuple[np.ndarray, np.ndarray, np.ndarray]


def _transit_slots(index: FabricIndex, keys: np.ndarray) -> np.ndarray:
    """Position in the transit CSR (``t_edges``) of each edge ``src * num_transit + dst``
    (local transit ids), -1 where there is none (the sorted keys memoized)."""
    memo_key = (__name__, "transit-slots")
    found = index.memo.get(memo_key)
    if not isinstance(found, tuple):
        pairs = index.t_src * index.num_transit + index.t_dst
        order = np.argsort(pairs, kind="stable")
        found = (pairs[order], order)
        index.memo[memo_key] = found
    pairs, order = found
    if len(pairs) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(pairs, keys), len(pairs) - 1)
    return np.where(pairs[at] == keys, order[at], -1)


class _Candidates:
    """Next-hop units per (distance row, transit node), kept for the index's lifetime: ``keys``
    sorted, each with its ``num`` candidate units at ``pool[off:off + num]``. A key >= 0 is
    (searched row * transit nodes + node), shared by the classes read from that row; a key < 0
    is -1 - (class id * transit nodes + node), one class's own (:meth:`_Walk.candidates`).
    Dropped whole past :data:`CANDIDATE_MEMO_UNITS` units."""

    __slots__ = ("keys", "off", "num", "pool", "used")

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.off = np.zeros(0, dtype=np.int64)
        self.num = np.zeros(0, dtype=np.int64)
        self.pool = np.zeros(1 << 16, dtype=np.int64)  # grown by doubling; used: its filled part
        self.used = 0

    @staticmethod
    def of(index: FabricIndex) -> _Candidates:
        """The memo of ``index`` (a new one past the size limit)."""
        key = (__name__, "candidates")
        found = index.memo.get(key)
        if not isinstance(found, _Candidates) or found.used > CANDIDATE_MEMO_UNITS:
            found = _Candidates()
            index.memo[key] = found
        return found

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(known, off, num) of sorted ``keys``; off and num are 0 where unknown."""
        if len(self.keys) == 0:
            nothing = np.zeros(len(keys), dtype=np.int64)
            return np.zeros(len(keys), dtype=bool), nothing, nothing.copy()
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = self.keys[at] == keys
        return hit, np.where(hit, self.off[at], 0), np.where(hit, self.num[at], 0)

    def add(self, keys: np.ndarray, unit_ptr: np.ndarray, cand: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
        """Keep new sorted ``keys`` with their candidates (CSR); their (off, num)."""
        off = self.used + unit_ptr[:-1]
        num = np.diff(unit_ptr)
        end = self.used + len(cand)
        if end > len(self.pool):
            grown = np.empty(max(end, 2 * len(self.pool)), dtype=np.int64)
            grown[:self.used] = self.pool[:self.used]
            self.pool = grown
        self.pool[self.used:end] = cand
        self.used = end
        order = np.argsort(np.concatenate([self.keys, keys]), kind="stable")  # two sorted runs
        self.keys = np.concatenate([self.keys, keys])[order]
        self.off = np.concatenate([self.off, off])[order]
        self.num = np.concatenate([self.num, num])[order]
        return off, num


@dataclass(slots=True)
class _States:
    """Flows in flight in :func:`_walk`: state i is ``cnt[i]`` flows of group ``grp[i]`` standing
    at transit node ``node[i]`` in hash sample ``smp[i]``. ``smp`` is None before the first hop
    with a choice: up to there every sample stands at the same place."""

    grp: np.ndarray
    cnt: np.ndarray
    node: np.ndarray
    smp: np.ndarray | None


@dataclass(slots=True)
class _Walk:
    """What :func:`_walk` keeps while its groups travel: per group its class slot, size,
    destination and (size, destination) id; per class slot its distance row; and the charges,
    common to all samples or per sample of the chunk being walked."""

    index: FabricIndex
    units: HashUnits
    chooser: _Chooser
    classes: np.ndarray
    cls: np.ndarray
    cls_slot: np.ndarray
    size: np.ndarray
    dst: np.ndarray
    size_dst: np.ndarray
    rows: np.ndarray
    bounds: list[int]
    common: tuple[list[np.ndarray], list[np.ndarray]]
    drawn: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] | None = None

    def dist(self, slot: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Fewest hops from transit node ``node[i]`` (local id) to the targets of class slot
        ``slot[i]``, read where the walk goes (as a matrix of classes x transit nodes it was
        168 MiB for the 16,384 classes of a two-plane 16k Clos)."""
        index = self.index
        return index.hops_at(self.rows[slot], index.transit_graph().node_of[node])

    def charge(self, states: _States, which: np.ndarray, unit: np.ndarray,
               flows: np.ndarray) -> None:
        """``flows`` flows of states ``which`` crossed ``unit``."""
        amount = flows * self.size[states.grp[which]]
        if states.smp is None:
            self.chooser.charge(unit, amount)
            self.common[0].append(unit)
            self.common[1].append(amount)
        else:
            assert self.drawn is not None
            self.drawn[0].append(unit)
            self.drawn[1].append(amount)
            self.drawn[2].append(states.smp[which])

    def merge(self, states: _States) -> _States:
        """States at the same node for the same sample, class and (size, destination) as one."""
        keys = [self.cls_slot[states.grp], states.node, self.size_dst[states.grp]]
        bounds = self.bounds[1:]
        if states.smp is not None:
            keys, bounds = [states.smp, *keys], self.bounds
        keep, cnt = _merge(keys, states.cnt, bounds)
        return _States(states.grp[keep], cnt, states.node[keep],
                       None if states.smp is None else states.smp[keep])

    def candidates(self, slot: np.ndarray, node: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Next-hop units towards class slots ``slot`` from transit nodes ``node``, per state:
        ``(start, num, pool)``, state i's candidates being ``pool[start[i]:start[i] + num[i]]``
        (the memo's own array, read before the next call can grow it).

        The candidates of a (class, node) depend on the fabric alone, and the phases of one
        request visit mostly the same ones: they are kept in the index's memo
        (:class:`_Candidates`) and only the new ones are computed. A class whose distances are
        a searched row read through a swap of twins (:meth:`FabricIndex.prepare`) has, at a
        node the swap leaves alone with all its next nodes, the searched row's own candidates:
        those are kept once per (searched row, node), so the classes of one kind share them,
        as the fluid routing's next hops do (:class:`_NextHops`)."""
        index = self.index
        num_t = index.num_transit
        key = slot * num_t + node
        if len(key) and bool((key[1:] >= key[:-1]).all()):  # merged states come sorted
            change = np.empty(len(key), dtype=bool)
            change[0] = True
            np.not_equal(key[1:], key[:-1], out=change[1:])
            uniq, inv = key[change], np.cumsum(change) - 1
        else:
            uniq, inv = _unique(key, len(self.classes) * num_t)
        k_u, u_u = np.divmod(uniq, num_t)
        memo = _Candidates.of(index)
        base, clean = self._shared_rows(self.classes[k_u], u_u)
        # keys >= 0: (searched row, node), shared by classes; < 0: (class, node), its own
        keys = np.where(clean, base * num_t + u_u, -1 - (self.classes[k_u] * num_t + u_u))
        hit, off, num = memo.find(keys)
        miss = np.flatnonzero(~hit)
        if len(miss):
            new, first, back = np.unique(keys[miss], return_index=True, return_inverse=True)
            at = miss[first]
            u_m = u_u[at]
            shared = clean[at]
            hops = index._hops
            node_of = index.transit_graph().node_of
            row_of = np.where(shared, base[at], 0)
            # hops to the targets: the searched row's where shared, the class's own otherwise
            here = np.where(shared, hops[row_of, node_of[u_m]], self.dist(k_u[at], u_m)) - 1
            # a class's own key one hop from its targets: the edges from the node into them
            # (below); the others: the edges to a node one hop closer, of all the node's
            near = ~shared & (here == 0)
            wide = np.flatnonzero(~near)
            starts = index.t_indptr[u_m[wide]]
            rep, slots = spans(starts, index.t_indptr[u_m[wide] + 1] - starts)
            rep = wide[rep]
            far = index.t_dst[slots]
            there = np.empty(len(rep), dtype=hops.dtype)
            own = ~shared[rep]
            there[~own] = hops.reshape(-1)[row_of[rep[~own]] * hops.shape[1] + node_of[far[~own]]]
            there[own] = self.dist(k_u[at][rep[own]], far[own])
            ok = there == here[rep]
            rep, slots = rep[ok], slots[ok]
            if near.any():
                into = np.flatnonzero(near)
                got, got_slots = self._into_targets(k_u[at][into], u_m[into])
                rep, slots = np.concatenate([rep, into[got]]), np.concatenate([slots, got_slots])
            ptr, cand_edges = _csr(rep, index.t_edges[slots], len(at))
            unit_ptr, cand = _expand_units(self.units, cand_edges, ptr)
            new_off, new_num = memo.add(new, unit_ptr, cand)
            back = back.reshape(-1)
            off[miss], num[miss] = new_off[back], new_num[back]
        return off[inv], num[inv], memo.pool

    def _into_targets(self, slot: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The transit edges from ``node[i]`` into a target of class slot ``slot[i]`` (a node
        at distance 0), as (i, edge slot in the transit CSR), by i and then slot: the
        candidates of a node one hop from the class, without reading its other edges."""
        index = self.index
        num_t = index.num_transit
        # per class slot asked, its nodes at distance 0: its searched row's targets, through
        # its swap, and the transit nodes merged into each
        kinds, slot = np.unique(slot, return_inverse=True)
        slot = slot.reshape(-1)
        rows = self.rows[kinds]
        bases, base_of = np.unique(index._row_base[rows], return_inverse=True)
        base_targets = _row_targets(index, bases)
        b_ptr = np.concatenate([[0], np.cumsum([len(t) for t in base_targets])]).astype(np.int64)
        base_of = base_of.reshape(-1)
        kind, at = spans(b_ptr[base_of], b_ptr[base_of + 1] - b_ptr[base_of])
        q = index._swapped(rows[kind], np.concatenate(base_targets)[at])
        which, target = _merged_into(index.transit_graph(), q)
        k = kind[which]  # by kind, as spans lay them out
        ptr = np.concatenate([[0], np.cumsum(np.bincount(k, minlength=len(kinds)))])
        owner, pos = spans(ptr[slot], ptr[slot + 1] - ptr[slot])
        found = _transit_slots(index, node[owner] * num_t + target[pos])
        owner, found = owner[found >= 0], found[found >= 0]
        order = np.lexsort((found, owner))
        return owner[order], found[order]

    def _shared_rows(self, cls: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (class, transit node): the class's searched distance row, and whether the
        class's next hops at the node are that row's (no swap, or one that moves neither the
        node nor any node it has an edge to)."""
        index = self.index
        tg = index.transit_graph()
        row = index._row[cls]
        base = index._row_base[row]
        a, b = index._row_swap[row, 0], index._row_swap[row, 1]
        q = tg.node_of[node]
        hops = _next_hops(index)
        clean = a < 0
        swapped = np.flatnonzero(~clean)
        if len(swapped):
            qs = q[swapped]
            moved = (qs == a[swapped]) | (qs == b[swapped])
            for end in (a[swapped], b[swapped]):
                moved |= hops.has(qs, end)
            clean[swapped] = ~moved
        return base, clean

    def hops(self, states: _States) -> _States:
        """Walk ``states`` until each stands at its class's last switch. States not yet split
        into samples stop, unmoved, before the first hop with a choice."""
        index = self.index
        while True:
            states = self.merge(states)
            done = self.dist(self.cls_slot[states.grp], states.node) <= 0
            if done.all():
                return states
            moving = np.flatnonzero(~done)
            grp = states.grp[moving]
            start, num, pool = self.candidates(self.cls_slot[grp], states.node[moving])
            if states.smp is None:
                if (num != 1).any():
                    return states
                st, unit, got = np.arange(len(moving)), pool[start], states.cnt[moving]
            else:
                st, unit, got = self.chooser.split(start, num, pool,
                                                   index.t_nodes[states.node[moving]],
                                                   states.cnt[moving], self.size[grp])
            self.charge(states, moving[st], unit, got)
            rest = np.flatnonzero(done)
            states = _States(
                np.concatenate([states.grp[rest], grp[st]]),
                np.concatenate([states.cnt[rest], got]),
                np.concatenate([states.node[rest],
                                index.t_of[index.edge_dst[self.units.edge[unit]]]]),
                None if states.smp is None else np.concatenate(
                    [states.smp[rest], states.smp[moving[st]]]))

    def last_hop(self, states: _States) -> None:
        """The hop into destination GPUs whose in-edge has a choice (several cables or
        in-edges); the others were charged by the caller."""
        index = self.index
        open_ = np.flatnonzero(self.dst[states.grp] >= 0)
        if len(open_) == 0:
            return
        g = states.grp[open_]
        last = index.single_in[self.dst[g]]
        homed = np.flatnonzero(last < 0)
        if len(homed):
            last[homed] = index.last_edges(self.cls[g[homed]], states.node[open_[homed]])
        uniq, inv = np.unique(last, return_inverse=True)
        unit_ptr, cand = _expand_units(self.units, uniq, np.arange(len(uniq) + 1))
        inv = inv.reshape(-1)
        st, unit, got = self.chooser.split(unit_ptr[inv], unit_ptr[inv + 1] - unit_ptr[inv],
                                           cand, self.dst[g], states.cnt[open_], self.size[g])
        self.charge(states, open_[st], unit, got)


def _tile(states: _States, chunk: range) -> _States:
    """Untiled states, once per sample of ``chunk``."""
    k, n = len(chunk), len(states.grp)
    return _States(np.tile(states.grp, k), np.tile(states.cnt, k), np.tile(states.node, k),
                   np.repeat(np.arange(chunk.start, chunk.stop), n))


def _walk(index: FabricIndex, units: HashUnits, chooser: _Chooser, src: np.ndarray,
          dst: np.ndarray, cls: np.ndarray, count: np.ndarray, size: np.ndarray,
          chunks: list[range]) -> tuple[tuple[np.ndarray, np.ndarray], list[_Charges]]:
    """Walk groups of flows hop by hop, once per sample.

    Returns the charges common to every sample, ``(unit, bytes)``, and per chunk of samples
    (``chunks``, consecutive ranges of sample ids from 0) its own ``(unit, bytes, sample)``.
    ``dst[i]`` is -1 for a group whose last hop is charged by the caller.

    Hops with no choice before the first that has one (a GPU's one NIC cable) are the same in
    every sample: they are walked once, for the groups, and charged as common. The walk splits
    into samples at the first hop with a choice (``ecmp-hash`` draws there, ``adaptive``
    decides by load). After each hop the states at the same node, for the same class, size,
    destination and sample merge: what happens to them next depends on nothing else.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(src) == 0:
        return (empty, np.zeros(0)), [(empty, np.zeros(0), empty) for _ in chunks]
    classes, cls_slot = np.unique(cls, return_inverse=True)
    cls_slot = cls_slot.reshape(-1)
    # what a state's future depends on besides its node: one id per (size, destination)
    size_id = np.unique(size, return_inverse=True)[1].reshape(-1)
    size_dst = _group([size_id, dst + 1], [len(size_id), index.num_nodes + 1])[1]
    bounds = [max(r.stop for r in chunks), len(classes), index.num_transit,
              int(size_dst.max()) + 1]
    walk = _Walk(index, units, chooser, classes, cls, cls_slot, size, dst, size_dst,
                 index.distance_rows(classes), bounds, ([], []))
    # first hop: candidates per (source GPU, class)
    uniq, inv = _unique(src * len(classes) + cls_slot, index.num_nodes * len(classes))
    p_src, p_slot = np.divmod(uniq, len(classes))
    p_keys, p_edges = [], []
    single = index.single_out[p_src]
    simple = single >= 0
    if simple.any():
        ok = walk.dist(p_slot[simple], index.t_of[index.edge_dst[single[simple]]]) < _UNREACHABLE
        p_keys.append(np.flatnonzero(simple)[ok])
        p_edges.append(single[simple][ok])
    several = np.flatnonzero(~simple)
    if len(several):  # several scale-out links: those fewest hops from the class
        owner, edges = index.out_edges_of.expand(p_src[several])
        d = walk.dist(p_slot[several][owner], index.t_of[index.edge_dst[edges]])
        best = np.full(len(several), _UNREACHABLE, dtype=d.dtype)
        np.minimum.at(best, owner, d)
        good = (d == best[owner]) & (d < _UNREACHABLE)
        p_keys.append(several[owner[good]])
        p_edges.append(edges[good])
    ptr, cand_edges = _csr(np.concatenate(p_keys), np.concatenate(p_edges), len(uniq))
    lost = np.diff(ptr)[inv] == 0
    if lost.any():
        raise ValueError(f"{int(count[lost].sum())} flow(s) have no path in the fabric "
                         "(a GPU with no scale-out link, or a disconnected network)")
    unit_ptr, cand = _expand_units(units, cand_edges, ptr)
    groups = np.arange(len(src))
    sources = _States(groups, count, np.full(len(src), -1), None)
    start: _States | None = None
    if (np.diff(unit_ptr)[inv] == 1).all():  # one cable out of every source: common
        unit = cand[unit_ptr[inv]]
        walk.charge(sources, groups, unit, count)
        start = walk.hops(_States(groups, count, index.t_of[index.edge_dst[units.edge[unit]]],
                                  None))
    out = []
    for chunk in chunks:
        walk.drawn = ([empty], [np.zeros(0)], [empty])
        if start is None:  # the first hop has a choice: every sample starts at the sources
            states = _tile(sources, chunk)
            assert states.smp is not None
            k = len(chunk)
            at = np.tile(inv, k)
            st, unit, got = chooser.split(unit_ptr[at], unit_ptr[at + 1] - unit_ptr[at], cand,
                                          np.tile(src, k), np.tile(count, k), np.tile(size, k))
            walk.charge(states, st, unit, got)
            states = _States(states.grp[st], got,
                             index.t_of[index.edge_dst[units.edge[unit]]], states.smp[st])
        else:
            states = _tile(start, chunk)
        walk.last_hop(walk.hops(states))
        out.append((np.concatenate(walk.drawn[0]), np.concatenate(walk.drawn[1]),
                    np.concatenate(walk.drawn[2])))
    common = (np.concatenate([empty, *walk.common[0]]),
              np.concatenate([np.zeros(0), *walk.common[1]]))
    return common, out
