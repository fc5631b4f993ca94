"""Symmetries a builder records, checked before the routing trusts them.

A fabric of identical pods, leaves and servers is mapped onto itself by swapping two of them:
swapping pod 3 with pod 4 (their leaves, GPUs, servers and spines, in the same positions) keeps
every edge an edge with the same bandwidth, latency and link. Such a node permutation is an
*automorphism*. The builders record a few, as :data:`Swap` s (:func:`record_swaps`), and
:func:`symmetry` keeps those that really are automorphisms of the fabric as indexed now: a
graph edited after it was built, or a swap that a builder got wrong, loses them, and the
routing then takes its general path.

What this buys (:func:`collectives.patterns.direct_phases`): when a demand is unchanged by a
group of automorphisms, the load it puts on an edge is the same on every edge of the edge's
orbit, and the demand towards a destination class is an image of the demand towards any class
of its orbit. So one class per orbit is routed, and each orbit of edges shares what those
classes put on it (:meth:`Symmetry.spread`). With ``T_K`` the load of the classes of orbit
``K``, for an edge ``e`` of orbit ``O``: ``T_K(e) = |K| * sum(load_rep(O)) / |O|``. At 65,536
GPUs a direct all-to-all routes 1 of 2,048 leaves instead of all of them.

The group used is the one the recorded swaps generate (orbits are the connected components of
"x and its image" over the generators), so a builder only records adjacent swaps (pod p with
p + 1, leaf l with l + 1 of the first pod, ...): they generate every permutation of them, and
the first pod's leaf swaps conjugated by the pod swaps reach every pod's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fabric.graph import FabricGraph
from fabric.routing import FabricIndex

__all__ = ["Generator", "Swap", "Symmetry", "record_swaps", "symmetry"]

#: Two equally long, disjoint tuples of node ids: node ``a[i]`` and node ``b[i]`` trade places.
Swap = tuple[tuple[str, ...], tuple[str, ...]]


def record_swaps(G: nx.DiGraph, swaps: Sequence[Swap]) -> None:
    """Record ``swaps`` (claimed automorphisms) on a :class:`fabric.graph.FabricGraph` as the
    builder made it; a plain graph keeps none. Nothing is exported with them, and a copy of
    the graph has none: the routing then takes its general path."""
    if isinstance(G, FabricGraph):
        G.swaps = tuple(swaps)


@dataclass(frozen=True, slots=True)
class Generator:
    """A checked automorphism, as what it moves: node ``node_from[i]`` goes to ``node_to[i]``
    (``node_from`` sorted), edge ``edge_from[i]`` to ``edge_to[i]``, destination class
    ``class_from[i]`` to ``class_to[i]`` (``class_from`` sorted); everything else stays."""

    node_from: np.ndarray
    node_to: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    class_from: np.ndarray
    class_to: np.ndarray

    def node_map(self, ids: np.ndarray) -> np.ndarray:
        """Images of node ids ``ids``."""
        return _image(ids, self.node_from, self.node_to)

    def class_map(self, ids: np.ndarray) -> np.ndarray:
        """Images of destination class ids ``ids``."""
        return _image(ids, self.class_from, self.class_to)


def _image(ids: np.ndarray, moved: np.ndarray, to: np.ndarray) -> np.ndarray:
    """``ids`` mapped by the sparse permutation ``moved[i] -> to[i]`` (``moved`` sorted)."""
    out = np.array(ids, dtype=np.int64, copy=True)
    if len(moved) == 0 or len(out) == 0:
        return out
    at = np.minimum(np.searchsorted(moved, out), len(moved) - 1)
    hit = moved[at] == out
    out[hit] = to[at[hit]]
    return out


class Symmetry:
    """The checked automorphisms of an indexed fabric (:func:`symmetry`)."""

    def __init__(self, index: FabricIndex, generators: list[Generator]) -> None:
        self.index = index
        self.generators = generators
        # edge orbits per set of generators: (moved edges, orbit label of each, orbit sizes)
        self._edge_orbits: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def keeping(self, hops: np.ndarray, classes: np.ndarray, amount: np.ndarray
                ) -> list[Generator]:
        """The generators under which a demand ``amount[f, k]`` from transit node ``hops[f]``
        to class ``classes[k]`` is unchanged (``hops`` and ``classes`` sorted, unique): each
        maps both sets onto themselves and moves the amounts with them."""
        kept = []
        for gen in self.generators:
            h_img = gen.node_map(hops)
            c_at = np.searchsorted(classes, gen.class_map(classes))
            h_at = np.minimum(np.searchsorted(hops, h_img), len(hops) - 1)
            if not ((hops[h_at] == h_img).all() and self.maps_onto(gen, classes)):
                continue
            # only the moved rows and columns can differ: compare those
            rows = np.flatnonzero(h_at != np.arange(len(hops)))
            cols = np.flatnonzero(c_at != np.arange(len(classes)))
            if len(rows) and not np.array_equal(amount[rows][:, c_at], amount[h_at[rows]]):
                continue
            if len(cols) and not np.array_equal(amount[:, cols][h_at], amount[:, c_at[cols]]):
                continue
            kept.append(gen)
        return kept

    @staticmethod
    def maps_onto(gen: Generator, classes: np.ndarray) -> bool:
        """Whether ``gen`` maps the sorted, unique ``classes`` onto themselves."""
        image = gen.class_map(classes)
        at = np.minimum(np.searchsorted(classes, image), len(classes) - 1)
        return bool((classes[at] == image).all())

    def class_orbits(self, generators: list[Generator], classes: np.ndarray) -> np.ndarray:
        """Orbit label of each of ``classes`` (sorted, unique) under ``generators``, which must
        map the set onto itself."""
        pairs = []
        for g in generators:
            at = np.minimum(np.searchsorted(classes, g.class_from), len(classes) - 1)
            used = classes[at] == g.class_from  # the others carry nothing of this demand
            pairs.append((at[used], np.searchsorted(classes, g.class_to[used])))
        return _components(len(classes), pairs)

    def spread(self, generators: list[Generator], load: np.ndarray) -> np.ndarray:
        """Every edge's mean of ``load`` over its orbit under ``generators`` (an edge no
        generator moves is an orbit of its own). Only edges out of transit nodes are
        averaged: ``load`` is what :func:`fabric.routing.propagate` charges, and it charges
        nothing else (a GPU's own out-edges and NVLink edges keep their values)."""
        key = tuple(id(g) for g in generators)
        orbits = self._edge_orbits.get(key)
        if orbits is None:
            routed = self.index.transit[self.index.edge_src]
            pairs = [(g.edge_from[routed[g.edge_from]], g.edge_to[routed[g.edge_from]])
                     for g in generators]
            hit = np.zeros(len(load), dtype=bool)
            for x, _ in pairs:
                hit[x] = True
            moved = np.flatnonzero(hit)
            local = np.cumsum(hit) - 1  # an edge's place among the moved ones
            label = _components(len(moved), [(local[x], local[y]) for x, y in pairs])
            orbits = (moved, label, np.bincount(label))
            self._edge_orbits[key] = orbits
        moved, label, size = orbits
        out = np.array(load, dtype=float, copy=True)
        out[moved] = (np.bincount(label, weights=load[moved], minlength=len(size)) / size)[label]
        return out


def _components(num: int, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected components of ``num`` items joined by each pair ``(x[i], y[i])``."""
    if not pairs or sum(len(x) for x, _ in pairs) == 0:
        return np.arange(num)
    x = np.concatenate([p[0] for p in pairs])
    y = np.concatenate([p[1] for p in pairs])
    joined = coo_matrix((np.ones(len(x), dtype=np.int8), (x, y)), shape=(num, num)).tocsr()
    return connected_components(joined, directed=False)[1]


def symmetry(index: FabricIndex) -> Symmetry:
    """The recorded swaps of the indexed fabric that are automorphisms of it (memoized on the
    index): each node trades places with a node of the same kind and tier, and each edge that
    touches a moved node goes to an edge with the same bandwidth, latency, parallel links and
    link. A swap that fails any of these is left out. Each check costs the edges of the nodes
    it moves, not the whole fabric."""
    key = (__name__, "symmetry")
    found = index.memo.get(key)
    if isinstance(found, Symmetry):
        return found
    generators: list[Generator] = []
    if index.swaps:
        edges = _Edges(index)
        for a, b in index.swaps:
            gen = _checked(index, edges, a, b)
            if gen is not None:
                generators.append(gen)
    found = Symmetry(index, generators)
    index.memo[key] = found
    return found


class _Edges:
    """The edges of an index by their two ends, and each node's out- and in-edges."""

    def __init__(self, index: FabricIndex) -> None:
        n = index.num_nodes
        keys = index.edge_src * n + index.edge_dst
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.by_dst = np.argsort(index.edge_dst, kind="stable")
        self.out_ptr = np.searchsorted(index.edge_src[np.argsort(index.edge_src, kind="stable")],
                                       np.arange(n + 1))
        self.out_order = np.argsort(index.edge_src, kind="stable")
        self.in_ptr = np.searchsorted(index.edge_dst[self.by_dst], np.arange(n + 1))

    def touching(self, nodes: np.ndarray) -> np.ndarray:
        """Ids of the edges with an end in ``nodes`` (each once)."""
        hit = np.zeros(len(self.keys), dtype=bool)
        hit[self.out_order[_ranges(self.out_ptr[nodes], self.out_ptr[nodes + 1])]] = True
        hit[self.by_dst[_ranges(self.in_ptr[nodes], self.in_ptr[nodes + 1])]] = True
        return np.flatnonzero(hit)

    def find(self, src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray | None:
        """Ids of edges ``src[i] -> dst[i]``, or None if one is missing."""
        want = src * n + dst
        at = np.minimum(np.searchsorted(self.keys, want), len(self.keys) - 1)
        if not (self.keys[at] == want).all():
            return None
        return self.order[at]


def _ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``start[i] .. stop[i] - 1`` for every i, end to end."""
    count = stop - start
    owner = np.repeat(np.arange(len(count)), count)
    return np.arange(len(owner)) + (start - (np.cumsum(count) - count))[owner]


def _checked(index: FabricIndex, edges: _Edges, a: tuple[str, ...], b: tuple[str, ...]
             ) -> Generator | None:
    """The generator of swap ``(a, b)`` if it is an automorphism of ``index``, else None."""
    pos = index.index
    if len(a) != len(b) or len(a) == 0:
        return None
    try:
        x = np.fromiter(map(pos.__getitem__, a), dtype=np.int64, count=len(a))
        y = np.fromiter(map(pos.__getitem__, b), dtype=np.int64, count=len(b))
    except KeyError:
        return None
    both = np.concatenate([x, y])
    order = np.argsort(both)
    moved, image = both[order], np.concatenate([y, x])[order]
    if (moved[1:] == moved[:-1]).any():
        return None
    if not (np.array_equal(index.kind[x], index.kind[y])
            and np.array_equal(index.tier[x], index.tier[y])):
        return None
    touched = edges.touching(moved)
    e_image = edges.find(_image(index.edge_src[touched], moved, image),
                         _image(index.edge_dst[touched], moved, image), index.num_nodes)
    if e_image is None:
        return None
    for values in (index.edge_capacity_bytes_per_s, index.edge_latency_s,
                   index.edge_num_links, index.edge_link_id):
        if not np.array_equal(values[touched], values[e_image]):
            return None
    # a class goes where its GPUs go: every moved GPU of one class to one class
    gpus = np.flatnonzero(index.class_of[moved] >= 0)
    c_from = index.class_of[moved[gpus]]
    c_to = index.class_of[image[gpus]]
    if (c_to < 0).any():
        return None
    num_classes = len(index.class_preds)
    pairs = np.unique(c_from * num_classes + c_to)
    c_from, c_to = np.divmod(pairs, num_classes)
    if len(np.unique(c_from)) != len(c_from) or len(np.unique(c_to)) != len(c_to):
        return None
    keep = c_from != c_to
    return Generator(node_from=moved, node_to=image, edge_from=touched, edge_to=e_image,
                     class_from=c_from[keep], class_to=c_to[keep])
