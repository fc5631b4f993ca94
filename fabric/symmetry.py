"""Symmetries a builder records, checked before the routing trusts them.

A fabric of identical pods, leaves and servers is mapped onto itself by permuting them:
swapping pod 3 with pod 4 (their leaves, GPUs, servers and spines, in the same positions) keeps
every edge an edge with the same bandwidth, latency and link. Such a node permutation is an
*automorphism*. The builders record a few as :data:`Swap` s (:func:`record_swaps`), and
:class:`Symmetry` uses only those that really are automorphisms of the fabric as indexed now:
a graph edited after it was built, or a swap that a builder got wrong, loses them, and the
routing takes its general path.

What this buys: when a group of automorphisms leaves a demand unchanged, the load it puts on
an edge is the same on every edge of the edge's orbit, and the demand towards a destination
class is an image of the demand towards any class of its orbit. So one class per orbit is
routed, and each orbit of edges shares what those classes put on it (:meth:`Symmetry.spread`).
With ``T_K`` the load of the classes of orbit ``K``, for an edge ``e`` of orbit ``O``:
``T_K(e) = |K| * sum(load_rep(O)) / |O|``. At 65,536 GPUs a direct all-to-all routes 1 of
2,048 leaves instead of all of them (:func:`collectives.patterns.direct_phases`).

The group used is the one the kept swaps generate (orbits are the connected components of
"x and its image" over them), so a builder records adjacent swaps only (pod p with pod p + 1,
unit u with unit u + 1 of a pod): they generate every permutation of the pods and units, and
each moves two of them, so checking it costs their edges, not the whole fabric's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fabric.arrays import spans
from fabric.graph import FabricGraph
from fabric.routing import FabricIndex

__all__ = ["Generator", "Swap", "Symmetry", "record_swaps", "symmetry"]

#: Two or more equally long, disjoint tuples of node ids (blocks): node ``blocks[i][j]`` goes to
#: ``blocks[i + 1][j]``, the last block's to the first's. Two blocks trade places.
Swap = tuple[tuple[str, ...], ...]


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
    """The recorded swaps of an indexed fabric (:func:`symmetry`), each checked to be an
    automorphism the first time a demand it keeps asks for it."""

    def __init__(self, index: FabricIndex) -> None:
        self.index = index
        self._moves: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._checked: dict[int, Generator | None] = {}
        self._edges: _Edges | None = None
        # edge orbits per set of generators: (moved edges, orbit label of each, orbit sizes)
        self._edge_orbits: dict[tuple[int | bool, ...],
                                tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- the generators ----------------------------------------------------------------------
    def moves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each recorded swap as node positions ``(moved, image)``, ``moved`` sorted; a swap
        naming a node the fabric lacks, or a node twice, moves nothing."""
        if self._moves is None:
            pos = self.index.index
            self._moves = []
            for blocks in self.index.swaps:
                self._moves.append(_positions(pos, blocks))
        return self._moves

    def generator(self, i: int) -> Generator | None:
        """Swap ``i`` as a checked automorphism, or None if it is not one (memoized)."""
        if i not in self._checked:
            moved, image = self.moves()[i]
            if self._edges is None and len(moved):
                self._edges = _Edges(self.index)
            self._checked[i] = (_checked(self.index, self._edges, moved, image)
                                if self._edges is not None and len(moved) else None)
        return self._checked[i]

    @property
    def generators(self) -> list[Generator]:
        """Every recorded swap that is an automorphism."""
        return [g for g in map(self.generator, range(len(self.moves()))) if g is not None]

    def kept(self, keeps: Callable[[np.ndarray, np.ndarray], bool]) -> list[Generator]:
        """The automorphisms among the swaps for which ``keeps(moved, image)`` holds (asked
        first: only those are checked to be automorphisms)."""
        out = []
        for i, (moved, image) in enumerate(self.moves()):
            if len(moved) and keeps(moved, image):
                gen = self.generator(i)
                if gen is not None:
                    out.append(gen)
        return out

    def keeping(self, hops: np.ndarray, classes: np.ndarray, amount: np.ndarray
                ) -> list[Generator]:
        """The generators under which a demand ``amount[f, k]`` from transit node ``hops[f]``
        to class ``classes[k]`` is unchanged (``hops`` and ``classes`` sorted, unique): each
        maps both sets onto themselves and moves the amounts with them."""
        kept = []
        for gen in self.generators:
            h_img = gen.node_map(hops)
            h_at = np.minimum(np.searchsorted(hops, h_img), len(hops) - 1)
            if not ((hops[h_at] == h_img).all() and self.maps_onto(gen, classes)):
                continue
            c_at = np.searchsorted(classes, gen.class_map(classes))
            # only the moved rows and columns can differ: compare those
            rows = np.flatnonzero(h_at != np.arange(len(hops)))
            cols = np.flatnonzero(c_at != np.arange(len(classes)))
            if len(rows) and not np.array_equal(amount[rows][:, c_at], amount[h_at[rows]]):
                continue
            if len(cols) and not np.array_equal(amount[:, cols][h_at], amount[:, c_at[cols]]):
                continue
            kept.append(gen)
        return kept

    # -- orbits --------------------------------------------------------------------------------
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

    def spread(self, generators: list[Generator], load: np.ndarray, *,
               from_gpus: bool = False) -> np.ndarray:
        """Every edge's mean of ``load`` over its orbit under ``generators`` (an edge no
        generator moves is an orbit of its own). Only edges out of transit nodes are averaged,
        all that :func:`fabric.routing.propagate` charges: a GPU's own out-edges and NVLink
        edges keep their values, unless ``from_gpus`` (edges out of GPUs averaged too, for
        loads with first hops, :func:`fabric.routing.route_all_pairs`)."""
        key = (*(id(g) for g in generators), from_gpus)
        orbits = self._edge_orbits.get(key)
        if orbits is None:
            routed = self.index.transit[self.index.edge_src]
            if from_gpus:
                routed = routed | self.index.is_gpu[self.index.edge_src]
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


def _positions(pos: dict, blocks: tuple[tuple[str, ...], ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(moved, image)`` of a swap's blocks, ``moved`` sorted; empty if it is not a valid
    permutation of named nodes."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if len(blocks) < 2 or len({len(b) for b in blocks}) != 1 or not blocks[0]:
        return empty
    try:
        ids = [np.fromiter(map(pos.__getitem__, b), dtype=np.int64, count=len(b))
               for b in blocks]
    except KeyError:
        return empty
    moved = np.concatenate(ids)
    image = np.concatenate(ids[1:] + ids[:1])
    order = np.argsort(moved)
    moved, image = moved[order], image[order]
    if (moved[1:] == moved[:-1]).any():
        return empty
    return moved, image


def _components(num: int, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected components of ``num`` items joined by each pair ``(x[i], y[i])``."""
    if not pairs or sum(len(x) for x, _ in pairs) == 0:
        return np.arange(num)
    x = np.concatenate([p[0] for p in pairs])
    y = np.concatenate([p[1] for p in pairs])
    joined = coo_matrix((np.ones(len(x), dtype=np.int8), (x, y)), shape=(num, num)).tocsr()
    return connected_components(joined, directed=False)[1]


def symmetry(index: FabricIndex) -> Symmetry:
    """The :class:`Symmetry` of an indexed fabric (memoized on the index). A swap is used
    only if each node goes to a node of the same kind and tier, and each edge that touches a
    moved node to an edge with the same bandwidth, latency, parallel links and link; each
    check costs the edges of the nodes it moves."""
    key = (__name__, "symmetry")
    found = index.memo.get(key)
    if not isinstance(found, Symmetry):
        found = Symmetry(index)
        index.memo[key] = found
    return found


class _Edges:
    """The edges of an index by their two ends, and each node's out- and in-edges."""

    def __init__(self, index: FabricIndex) -> None:
        n = index.num_nodes
        keys = index.edge_src * n + index.edge_dst
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.out_order = np.argsort(index.edge_src, kind="stable")
        self.out_ptr = np.searchsorted(index.edge_src[self.out_order], np.arange(n + 1))
        self.by_dst = np.argsort(index.edge_dst, kind="stable")
        self.in_ptr = np.searchsorted(index.edge_dst[self.by_dst], np.arange(n + 1))

    def touching(self, nodes: np.ndarray) -> np.ndarray:
        """Ids of the edges with an end in ``nodes`` (each once)."""
        hit = np.zeros(len(self.keys), dtype=bool)
        out_start, in_start = self.out_ptr[nodes], self.in_ptr[nodes]
        hit[self.out_order[spans(out_start, self.out_ptr[nodes + 1] - out_start)[1]]] = True
        hit[self.by_dst[spans(in_start, self.in_ptr[nodes + 1] - in_start)[1]]] = True
        return np.flatnonzero(hit)

    def find(self, src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray | None:
        """Ids of edges ``src[i] -> dst[i]``, or None if one is missing."""
        want = src * n + dst
        at = np.minimum(np.searchsorted(self.keys, want), len(self.keys) - 1)
        if not (self.keys[at] == want).all():
            return None
        return self.order[at]


def _checked(index: FabricIndex, edges: _Edges, moved: np.ndarray, image: np.ndarray
             ) -> Generator | None:
    """The generator of the permutation ``moved[i] -> image[i]`` if it is an automorphism of
    ``index``, else None."""
    if not (np.array_equal(index.kind[moved], index.kind[image])
            and np.array_equal(index.tier[moved], index.tier[image])):
        return None
    n = index.num_nodes
    perm = np.arange(n)
    perm[moved] = image
    touched = edges.touching(moved)
    e_image = edges.find(perm[index.edge_src[touched]], perm[index.edge_dst[touched]], n)
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
