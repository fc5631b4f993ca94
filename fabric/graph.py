"""Graph conventions for fabrics, their validation and their summary.

A fabric is an ``nx.DiGraph``. Every full-duplex cable is two directed edges (contention is per
direction); parallel cables between one pair are one edge pair with ``num_links``.

Nodes
    ``kind`` is ``gpu``, ``nic`` or ``switch``. Switches carry ``tier`` (0 scale-up / NVSwitch,
    1 leaf, 2 spine, 3 core), ``model`` (a catalog switch key) and ``radix`` (ports at the
    model's port rate). GPUs carry ``node`` (the server or rack index), ``local`` (index inside
    the node) and ``model`` (a catalog GPU key); builders add ``rail``, ``plane``, ``pod``, ``su``
    where they mean something. Ids are stable strings: ``"node3/gpu5"``, ``"su1/leaf2"``.
Edges
    ``bandwidth_bytes_per_s`` (per link, per direction), ``latency_s`` (the cable plus the switch
    the edge enters), ``num_links`` (parallel cables) and ``link`` (a catalog link key).
Graph
    ``G.graph`` records ``topology`` (the family), ``params`` (the builder call) and ``catalog``
    (the catalog version).

GPUs never forward traffic in the scale-out network: routes run GPU -> switches -> GPU.
Forwarding through a peer GPU over NVLink (PXN, rail-only) is modeled explicitly by the flow
layer, not by routing through GPU nodes.

Builders and loaders return a :class:`FabricGraph`, an ``nx.DiGraph`` that counts its own
changes, so that what is derived from a graph (:func:`fabric.routing.fabric_index`) can tell in
O(1) that nothing changed since. Any ``nx.DiGraph`` is a valid fabric; a plain one is only
slower to check.
"""

from __future__ import annotations

import operator
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Any

import networkx as nx
import numpy as np
from networkx.classes.reportviews import (
    DiDegreeView,
    InDegreeView,
    InEdgeView,
    OutDegreeView,
    OutEdgeView,
)

from fabric.catalog import LinkType, SwitchModel

__all__ = [
    "FabricGraph",
    "graph_version",
    "is_tracked",
    "KINDS",
    "TIER_NAMES",
    "cable_edges",
    "add_cables",
    "switch_attrs",
    "ports_held",
    "gpu_attrs",
    "validate_graph",
    "FabricArrays",
    "fabric_arrays",
    "gpu_nodes",
    "node_table",
    "adjacency",
    "cable_class",
    "NODE_CLASSES",
    "TopologySummary",
    "summarize",
]

# -- a graph that counts its own changes ------------------------------------------------------


class _Version:
    """The change count of one :class:`FabricGraph`, shared by its dicts."""

    __slots__ = ("count", "attr_dict", "node_table", "typed_edges_at")

    def __init__(self) -> None:
        self.count = 0
        # the count up to which every edge attribute was written by add_cable_pairs from
        # checked values (FabricGraph.edge_attributes_typed); any other change leaves it behind
        self.typed_edges_at = 0
        # this graph's own dict classes: the class attribute ``version`` points back here, so a
        # dict finds its graph's count without a reference per dict, and networkx creates dicts
        # by calling the class (C speed)
        namespace = {"__slots__": (), "version": self}
        self.attr_dict: type[_TrackedDict] = type("_AttrDict", (_TrackedDict,), namespace)
        self.node_table: type[_TrackedDict] = type("_NodeTable", (_NodeTable,), namespace)

    def __reduce__(self) -> tuple[type[_Version], tuple[()]]:
        return (_Version, ())  # a copy or an unpickled graph starts counting afresh


class _TrackedDict(dict[Any, Any]):
    """A dict that counts every change in its graph's :class:`_Version` (class attribute).

    The count moves *after* the change: a reader that notes the count before reading the
    graph can never pair an old count with content that misses a change.
    """

    __slots__ = ()
    version: _Version

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self.version.count += 1

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self.version.count += 1

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self, *args, **kwargs)
        self.version.count += 1

    def __ior__(self, other: Any) -> _TrackedDict:  # type: ignore[misc]
        self.update(other)
        return self

    def pop(self, *args: Any) -> Any:
        try:
            return dict.pop(self, *args)
        finally:
            self.version.count += 1

    def popitem(self) -> tuple[Any, Any]:
        try:
            return dict.popitem(self)
        finally:
            self.version.count += 1

    def setdefault(self, key: Any, default: Any = None) -> Any:
        try:
            return dict.setdefault(self, key, default)
        finally:
            self.version.count += 1

    def clear(self) -> None:
        dict.clear(self)
        self.version.count += 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_dict, (self.version, isinstance(self, _NodeTable), dict(self)))


class _NodeTable(_TrackedDict):
    """The node table (id -> attribute dict): attribute dicts put in become this graph's own.

    networkx itself puts plain dicts there (``relabel_nodes`` copies node data with
    ``dict.copy``); converting them keeps such copies counted.
    """

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        attr_dict = self.version.attr_dict
        if isinstance(value, dict) and type(value) is not attr_dict:
            value = attr_dict(value)
        _TrackedDict.__setitem__(self, key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value
        self.version.count += 1

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


def _restore_dict(version: _Version, node_table: bool, items: dict[Any, Any]) -> _TrackedDict:
    """Unpickle (or deep-copy) one dict of a :class:`FabricGraph` into the copy's own class."""
    cls = version.node_table if node_table else version.attr_dict
    restored = cls()
    dict.update(restored, items)
    return restored


def _fresh_view(view: type, name: str) -> property:
    """A property that makes networkx's ``view`` of the graph on each read (not cached)."""
    return property(view, doc=f"As ``nx.DiGraph.{name}``, made on each read.")


class FabricGraph(nx.DiGraph):
    """An ``nx.DiGraph`` that counts its own changes, so caches can trust it in O(1).

    It behaves as an ``nx.DiGraph`` in every way: copies, pickling, ``nx.relabel_nodes``,
    ``G.to_directed()`` and subgraph views keep working. What it adds is :attr:`version`, a
    number that moves on every change of the graph's nodes, edges, node attributes or edge
    attributes, whichever way it is made: ``G.edges[u, v][key] = x``, ``G.nodes[n][key] = x``,
    ``nx.set_edge_attributes``, ``G.add_edge`` on an existing edge, removals, ``G.clear()``.
    :func:`fabric.routing.fabric_index` compares it with the version it indexed.

    Notes
    -----
    How: networkx creates a graph's dicts through class-level factories. Each FabricGraph gets
    its own dict subclasses (made in ``__init__``) whose class attribute points at the graph's
    counter, and whose mutating methods (``__setitem__``, ``__delitem__``, ``update``, ``pop``,
    ``popitem``, ``setdefault``, ``clear``, ``|=``) move it. So creating a dict stays a C call,
    a dict needs no reference of its own to its graph, and one graph's change never disturbs
    another's caches. Node attribute dicts, the node table and edge attribute dicts are
    counted; the adjacency dicts (``G._succ``, ``G._pred``) are not, to keep building cheap:
    networkx adds an edge by updating its attribute dict (counted) and removes edges only in
    :meth:`remove_edge`, :meth:`remove_edges_from` and :meth:`clear_edges` (counted here) or
    with their nodes (the node table, counted). :meth:`add_nodes_from` and
    :meth:`add_edges_from`, which the builders call for every GPU, switch and cable, count
    once per call instead of once per dict write: counting every write made building a
    16k-GPU fabric about 40% slower; now it is about 10% (the garbage collector tracks dict
    subclass instances, plain attribute dicts it skips) and within noise at 4k GPUs.
    ``G.graph`` is a plain dict: nothing derived from a fabric reads it.

    Not seen: changes inside an attribute value (appending to a list stored as an attribute;
    the graph conventions use scalars only) and writes to the private ``G._succ`` / ``G._pred``.

    >>> G = FabricGraph()
    >>> G.add_edge("a", "b", latency_s=1e-6)
    >>> before = G.version
    >>> G.edges["a", "b"]["latency_s"] = 2e-6
    >>> G.version > before
    True
    """

    _swaps: tuple[tuple[tuple[str, ...], ...], ...] = ()

    @property
    def swaps(self) -> tuple[tuple[tuple[str, ...], ...], ...]:
        """Automorphisms the builder claims, as node swaps (:func:`fabric.symmetry.record_swaps`);
        a copy or a plain graph has none. Setting them counts as a change (a new index reads
        them)."""
        return self._swaps

    @swaps.setter
    def swaps(self, value: tuple[tuple[tuple[str, ...], ...], ...]) -> None:
        version = self._version
        typed = version.typed_edges_at == version.count  # no edge changes here
        self._swaps = tuple(value)
        version.count += 1
        if typed:
            version.typed_edges_at = version.count

    def __init__(self, incoming_graph_data: Any = None, **attr: Any) -> None:
        self._set_version(_Version())
        super().__init__(incoming_graph_data, **attr)

    def _set_version(self, version: _Version) -> None:
        self._version = version
        self.node_dict_factory = version.node_table  # type: ignore[assignment]
        self.node_attr_dict_factory = version.attr_dict  # type: ignore[assignment]
        self.edge_attr_dict_factory = version.attr_dict  # type: ignore[assignment]

    @property
    def version(self) -> int:
        """The graph's change count: equal values at two moments mean no change in between."""
        return self._version.count

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for factory in ("node_dict_factory", "node_attr_dict_factory", "edge_attr_dict_factory"):
            state.pop(factory, None)  # this graph's own classes: rebuilt from the version
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._set_version(state["_version"])
        self._version.typed_edges_at = -1  # restored dicts were not written by checked cables

    @property
    def edge_attributes_typed(self) -> bool:
        """True while every edge's attributes were written by :meth:`add_cable_pairs` from a
        template of the types the conventions name (checked once per call, not per edge) and
        nothing else changed an edge since: :func:`validate_graph` then skips its per-edge type
        checks. Any other way of adding or changing an edge (or a copy, or an unpickled graph)
        makes it False for good; value ranges and structure are always checked."""
        version = self._version
        return version.typed_edges_at == version.count

    def add_nodes_from(self, nodes_for_adding: Any, **attr: Any) -> None:
        """As :meth:`networkx.DiGraph.add_nodes_from`, counted once for the whole batch.

        The same loop as networkx's, with the node table and attribute dicts filled by the
        plain ``dict`` methods rather than the counting ones (see :meth:`add_edges_from`).
        """
        succ, pred, node = self._succ, self._pred, self._node
        attr_dict, inner = self._version.attr_dict, self.adjlist_inner_dict_factory
        fill, put = dict.update, dict.__setitem__
        typed = self.edge_attributes_typed  # adding nodes changes no edge
        try:
            for n in nodes_for_adding:
                try:
                    newnode = n not in node
                    newdict = attr
                except TypeError:
                    n, ndict = n
                    newnode = n not in node
                    newdict = attr.copy()
                    newdict.update(ndict)
                if newnode:
                    if n is None:
                        raise ValueError("None cannot be a node")
                    succ[n] = inner()
                    pred[n] = inner()
                    put(node, n, attr_dict())
                fill(node[n], newdict)
        finally:
            self._version.count += 1
            if typed:
                self._version.typed_edges_at = self._version.count
            super().add_nodes_from(())  # networkx's own bookkeeping after a change (its caches)

    def _add_bare_ends(self, *ends: Any) -> None:
        """Add those of ``ends`` not yet in the graph as nodes with no attributes."""
        for end in ends:
            if end not in self._succ:
                if end is None:
                    raise ValueError("None cannot be a node")
                self._succ[end] = self.adjlist_inner_dict_factory()
                self._pred[end] = self.adjlist_inner_dict_factory()
                dict.__setitem__(self._node, end, self._version.attr_dict())

    def add_edges_from(self, ebunch_to_add: Any, **attr: Any) -> None:
        """As :meth:`networkx.DiGraph.add_edges_from`, counted once for the whole batch.

        The same loop as networkx's, with the edge dicts filled by ``dict.update`` rather than
        their counting ``update`` (builders add every cable here; see the class notes).
        """
        succ, pred, attr_dict = self._succ, self._pred, self._version.attr_dict
        fill = dict.update
        try:
            for e in ebunch_to_add:
                ne = len(e)
                if ne == 3:
                    u, v, dd = e
                elif ne == 2:
                    u, v = e
                    dd = {}
                else:
                    raise nx.NetworkXError(f"Edge tuple {e} must be a 2-tuple or 3-tuple.")
                if u not in succ or v not in succ:
                    self._add_bare_ends(u, v)
                out = succ[u]
                datadict = out.get(v)
                if datadict is None:  # a new edge: its dict made from the attributes at once
                    datadict = attr_dict({**attr, **dd} if attr else dd)
                else:
                    fill(datadict, attr)
                    fill(datadict, dd)
                out[v] = datadict
                pred[v][u] = datadict
        finally:
            self._version.count += 1
            super().add_edges_from(())  # networkx's own bookkeeping after a change (its caches)

    def add_cable_pairs(self, pairs: Any, forward: Mapping[str, Any],
                        backward: Mapping[str, Any]) -> None:
        """Both directed edges of every ``(u, v)`` in ``pairs``: ``u -> v`` with the attributes
        ``forward``, ``v -> u`` with ``backward`` (as :meth:`add_edges_from` would add them,
        counted once). Each edge gets its own copy of the attributes, made at C speed; the
        builders cable every GPU and switch through here (:func:`add_cables`)."""
        succ, pred, attr_dict = self._succ, self._pred, self._version.attr_dict
        typed = self.edge_attributes_typed and _typed_cable(forward) and _typed_cable(backward)
        try:
            for u, v in pairs:
                if u not in succ or v not in succ:
                    self._add_bare_ends(u, v)
                for a, b, attrs in ((u, v, forward), (v, u, backward)):
                    out = succ[a]
                    datadict = out.get(b)
                    if datadict is None:
                        datadict = attr_dict(attrs)
                        out[b] = datadict
                        pred[b][a] = datadict
                    else:
                        dict.update(datadict, attrs)
        except BaseException:
            typed = False
            raise
        finally:
            self._version.count += 1
            if typed:
                self._version.typed_edges_at = self._version.count
            super().add_edges_from(())  # networkx's own bookkeeping after a change (its caches)

    def remove_edge(self, u: Any, v: Any) -> None:
        """As :meth:`networkx.DiGraph.remove_edge`, counted."""
        super().remove_edge(u, v)
        self._version.count += 1

    def remove_edges_from(self, ebunch: Any) -> None:
        """As :meth:`networkx.DiGraph.remove_edges_from`, counted."""
        super().remove_edges_from(ebunch)
        self._version.count += 1

    def clear_edges(self) -> None:
        """As :meth:`networkx.DiGraph.clear_edges`, counted."""
        super().clear_edges()
        self._version.count += 1

    # networkx keeps these views in the instance once read, and each holds the graph: a cycle
    # that leaves a dropped graph (all its dicts) to the cyclic collector. Made on each read,
    # they leave the graph to reference counting, freed the moment the last reference goes.
    edges = _fresh_view(OutEdgeView, "edges")  # type: ignore[assignment]
    out_edges = _fresh_view(OutEdgeView, "out_edges")  # type: ignore[assignment]
    in_edges = _fresh_view(InEdgeView, "in_edges")  # type: ignore[assignment]
    degree = _fresh_view(DiDegreeView, "degree")  # type: ignore[assignment]
    in_degree = _fresh_view(InDegreeView, "in_degree")  # type: ignore[assignment]
    out_degree = _fresh_view(OutDegreeView, "out_degree")  # type: ignore[assignment]

    def to_directed_class(self) -> type[nx.DiGraph]:
        """``G.to_directed()`` of a fabric graph is a fabric graph."""
        return FabricGraph


def graph_version(G: nx.DiGraph) -> int | None:
    """:attr:`FabricGraph.version` of ``G``, or None if ``G`` cannot vouch for its content.

    None for a plain ``nx.DiGraph``, a view (its node table is a filter), or a FabricGraph
    whose node table was replaced wholesale. O(1).
    """
    version = getattr(G, "_version", None)
    if type(version) is not _Version or type(G._node) is not version.node_table:
        return None
    return version.count


def is_tracked(G: nx.DiGraph) -> bool:
    """Whether every node and edge attribute dict of ``G`` counts its changes in ``G``.

    True for a :class:`FabricGraph` as networkx builds and copies it; False for a plain
    ``nx.DiGraph``, a view, or a FabricGraph into which a plain dict was put through a private
    attribute (``G._succ[u][v] = {...}``). O(N + E), at C speed.
    """
    if graph_version(G) is None:
        return False
    attr_dict = G._version.attr_dict
    if not set(map(type, G._node.values())) <= {attr_dict}:
        return False
    edges = chain.from_iterable(map(dict.values, G._succ.values()))
    return set(map(type, edges)) <= {attr_dict}


KINDS = ("gpu", "nic", "switch")
TIER_NAMES = {0: "scale-up", 1: "leaf", 2: "spine", 3: "core"}
EdgeTuple = tuple[str, str, dict[str, Any]]


def switch_attrs(model: SwitchModel, tier: int, **indices: int) -> dict[str, Any]:
    """Node attributes of a switch of catalog ``model`` at ``tier`` plus builder indices."""
    return {"kind": "switch", "tier": tier, "model": model.key, "radix": model.radix, **indices}


def ports_held(data: Mapping[str, Any]) -> int:
    """Ports of a switch taken beyond one per cable: ``reserved_ports`` (held for appliances)
    plus ``uplink_extra_ports`` (its own ports that uplinks faster than them take beyond one
    each: a 400G uplink of a 200G-port leaf takes two)."""
    return int(data.get("reserved_ports", 0) or 0) + int(data.get("uplink_extra_ports", 0) or 0)


def gpu_attrs(gpu_model: str, node: int, local: int, **indices: int) -> dict[str, Any]:
    """Node attributes of GPU ``local`` of server ``node``."""
    return {"kind": "gpu", "model": gpu_model, "node": node, "local": local, **indices}


def cable_edges(
    u: str,
    v: str,
    link: LinkType,
    *,
    num_links: int = 1,
    u_latency_s: float = 0.0,
    v_latency_s: float = 0.0,
) -> Iterator[EdgeTuple]:
    """The two directed edges of ``num_links`` parallel cables of type ``link`` between u and v.

    ``u_latency_s`` / ``v_latency_s`` is the switching latency of u / v (0 for GPUs and NICs),
    charged to the edge that enters it, so a path's latency is the sum of its edges'.
    """
    bw = link.bandwidth_bytes_per_s
    yield (
        u,
        v,
        {
            "bandwidth_bytes_per_s": bw,
            "latency_s": link.latency_s + v_latency_s,
            "num_links": num_links,
            "link": link.key,
        },
    )
    yield (
        v,
        u,
        {
            "bandwidth_bytes_per_s": bw,
            "latency_s": link.latency_s + u_latency_s,
            "num_links": num_links,
            "link": link.key,
        },
    )


def node_table(G: nx.DiGraph) -> Mapping[Any, dict[str, Any]]:
    """Node id -> attribute dict, read without networkx's views where the graph allows it.

    ``G.nodes[n]`` goes through a Python view object on every lookup (about 0.5 us); loops over
    every GPU or edge read the graph's own dict instead. A graph view (a filtered subgraph)
    has no such dict and keeps its view.
    """
    table = getattr(G, "_node", None)
    return table if isinstance(table, dict) else G.nodes


def adjacency(G: nx.DiGraph) -> Mapping[Any, Mapping[Any, Any]]:
    """Node id -> {successor: edge attribute dict}, read without networkx's views where the
    graph allows it (``G.succ[u]`` builds a view object per lookup; see :func:`node_table`)."""
    succ = getattr(G, "_succ", None)
    return succ if isinstance(succ, dict) else G.succ


def gpu_nodes(G: nx.DiGraph) -> list[str]:
    """GPU node ids in insertion order (the builders' canonical rank order)."""
    return [n for n, kind in G.nodes(data="kind") if kind == "gpu"]


def _fail(message: str) -> None:
    raise ValueError(f"invalid fabric graph: {message}")


def _check_edge(u: object, v: object, data: dict[str, Any]) -> None:
    bw = data.get("bandwidth_bytes_per_s")
    if (
        not isinstance(bw, (int, float, np.number))
        or isinstance(bw, bool)
        or not bw > 0
        or not np.isfinite(bw)
    ):
        _fail(f"edge {u!r} -> {v!r} has bandwidth_bytes_per_s {bw!r}; expected a number > 0")
    lat = data.get("latency_s")
    if (
        not isinstance(lat, (int, float, np.number))
        or isinstance(lat, bool)
        or not lat >= 0
        or not np.isfinite(lat)
    ):
        _fail(f"edge {u!r} -> {v!r} has latency_s {lat!r}; expected a number >= 0")
    num = data.get("num_links")
    if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 1:
        _fail(f"edge {u!r} -> {v!r} has num_links {num!r}; expected an integer >= 1")
    if not isinstance(data.get("link"), str) or not data["link"]:
        _fail(f"edge {u!r} -> {v!r} has no link type")


_GET_KIND = operator.methodcaller("get", "kind")
_GET_TIER = operator.methodcaller("get", "tier")
_GET_MODEL = operator.methodcaller("get", "model")
_GET_RADIX = operator.methodcaller("get", "radix")
_GET_EDGE = operator.methodcaller("get", "bandwidth_bytes_per_s")
_GET_LATENCY = operator.methodcaller("get", "latency_s")
_GET_NUM = operator.methodcaller("get", "num_links")
_GET_LINK = operator.methodcaller("get", "link")


def _typed_cable(attrs: Mapping[str, Any]) -> bool:
    """True when a cable's attribute template has exactly the types the conventions name
    (:func:`validate_graph` still checks the values' ranges on every edge)."""
    return (set(attrs) == {"bandwidth_bytes_per_s", "latency_s", "num_links", "link"}
            and type(attrs["bandwidth_bytes_per_s"]) in (int, float)
            and type(attrs["latency_s"]) in (int, float)
            and type(attrs["num_links"]) is int
            and type(attrs["link"]) is str and attrs["link"] != "")


def _valid_at_c_speed(G: nx.DiGraph) -> bool:
    """True when ``G`` certainly passes :func:`validate_graph`'s per-node and per-edge checks,
    found with passes at C speed over its dicts and its :func:`fabric_arrays` (which the
    summary, the bill of materials and the routing index then reuse). False when any value is
    out of range or of a type other than the plain ``int`` / ``float`` / ``str`` builders write:
    the caller's loop then finds the first problem and names it (or accepts the graph)."""
    node, succ = G._node, G._succ
    datas = list(node.values())
    kinds = list(map(_GET_KIND, datas))
    if not set(kinds) <= set(KINDS):
        return False
    switches = list(compress(datas, map("switch".__eq__, kinds)))
    tiers = list(map(_GET_TIER, switches))
    radix = list(map(_GET_RADIX, switches))
    if switches and (not set(map(type, tiers)) <= {int} or not set(map(type, radix)) <= {int}
                     or min(tiers) < 0 or max(tiers) > 3 or min(radix) < 1
                     or not all(map(_GET_MODEL, switches))):
        return False
    if not (isinstance(G, FabricGraph) and G.edge_attributes_typed):
        data = list(chain.from_iterable(map(dict.values, succ.values())))
        number = {int, float}
        if (not set(map(type, map(_GET_EDGE, data))) <= number
                or not set(map(type, map(_GET_LATENCY, data))) <= number
                or not set(map(type, map(_GET_NUM, data))) <= {int}):
            return False
        links = set(map(_GET_LINK, data))
        if not set(map(type, links)) <= {str} or "" in links:
            return False
    a = fabric_arrays(G)
    bw, lat, num = a.bandwidth_bytes_per_s, a.latency_s, a.num_links
    if not ((bw > 0).all() and np.isfinite(bw).all() and (lat >= 0).all()
            and np.isfinite(lat).all() and (num >= 1).all() and (a.src != a.dst).all()):
        return False
    # full duplex: every (u, v) has (v, u) with as many links
    n = len(a.nodes)
    key = a.src * n + a.dst
    order = np.argsort(key)
    at = np.minimum(np.searchsorted(key[order], a.dst * n + a.src), len(key) - 1)
    back = order[at] if len(key) else at
    if len(key) and ((key[back] != a.dst * n + a.src).any() or (num[back] != num).any()):
        return False
    degree = np.bincount(a.src, minlength=n)
    if (degree[a.gpus] == 0).any():
        return False
    used = np.bincount(a.src, weights=num, minlength=n)[np.flatnonzero(a.code >= 2)]
    return not (used > np.asarray(radix, dtype=float)).any()


def add_cables(
    G: nx.DiGraph,
    pairs: Iterable[tuple[Any, Any]],
    link: LinkType,
    *,
    num_links: int = 1,
    u_latency_s: float = 0.0,
    v_latency_s: float = 0.0,
) -> None:
    """Add :func:`cable_edges` for every ``(u, v)`` in ``pairs`` (all with the same link, cable
    count and switching latencies) to ``G``: through :meth:`FabricGraph.add_cable_pairs` for a
    FabricGraph (no dict per edge made and copied again), else ``add_edges_from``."""
    forward = {"bandwidth_bytes_per_s": link.bandwidth_bytes_per_s,
               "latency_s": link.latency_s + v_latency_s, "num_links": num_links,
               "link": link.key}
    backward = {**forward, "latency_s": link.latency_s + u_latency_s}
    if isinstance(G, FabricGraph):
        G.add_cable_pairs(pairs, forward, backward)
    else:
        G.add_edges_from(edge for u, v in pairs
                         for edge in ((u, v, dict(forward)), (v, u, dict(backward))))


def validate_graph(G: nx.DiGraph) -> nx.DiGraph:
    """Check ``G`` against the graph conventions and return it.

    Checks: a DiGraph (not a multigraph) with ``topology``/``params``/``catalog`` in
    ``G.graph``; every node has a known ``kind``; switches have an integer ``tier`` in 0..3, a
    ``model`` and an integer ``radix`` >= 1; every edge joins two different nodes, has a finite
    ``bandwidth_bytes_per_s`` > 0, a finite ``latency_s`` >= 0, an integer ``num_links`` >= 1
    and a ``link`` name, and has its reverse edge with the same ``num_links`` (full duplex); no
    GPU is dangling; no switch uses more ports than its radix.

    Raises
    ------
    ValueError
        On the first problem found, naming the node or edge.
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        _fail(f"must be a networkx DiGraph, got {type(G).__name__}")
    for key in ("topology", "params", "catalog"):
        if key not in G.graph:
            _fail(f"G.graph is missing {key!r}")
    if _valid_at_c_speed(G):
        return G
    checked: set[tuple[object, ...]] = set()
    succ = adjacency(G)  # not G.succ: its views made this loop 3x slower
    for n, data in G.nodes(data=True):
        kind = data.get("kind")
        if kind not in KINDS:
            _fail(f"node {n!r} has kind {kind!r}; expected one of {', '.join(KINDS)}")
        nbrs = succ[n]
        if kind == "switch":
            tier = data.get("tier")
            if (
                not isinstance(tier, (int, np.integer))
                or isinstance(tier, bool)
                or not 0 <= tier <= 3
            ):
                _fail(f"switch {n!r} has tier {tier!r}; expected an integer 0..3")
            if not data.get("model"):
                _fail(f"switch {n!r} has no model")
            radix = data.get("radix")
            if not isinstance(radix, (int, np.integer)) or isinstance(radix, bool) or radix < 1:
                _fail(f"switch {n!r} has radix {radix!r}; expected an integer >= 1")
        used = 0
        if n in nbrs:
            _fail(f"edge {n!r} -> {n!r} is a self-loop (a cable joins two different nodes)")
        for v, d in nbrs.items():
            num = d.get("num_links")
            # edges with the same attribute values need one check; the number types are part of
            # the key, as True == 1 and False == 0.0 would otherwise share a valid edge's
            bw, lat = d.get("bandwidth_bytes_per_s"), d.get("latency_s")
            edge_key = (bw, lat, num, d.get("link"), type(bw), type(lat), type(num))
            try:
                seen = edge_key in checked
            except TypeError:  # an unhashable value: let the full check name it
                seen = False
            if not seen:
                _check_edge(n, v, d)
                checked.add(edge_key)
            back = succ[v].get(n)
            if back is None:
                _fail(f"edge {n!r} -> {v!r} has no reverse edge (every cable is full duplex)")
            elif back.get("num_links") != num:
                _fail(
                    f"edge {n!r} -> {v!r} has num_links {num} "
                    f"but its reverse has {back.get('num_links')}"
                )
            used += num
        if kind == "gpu" and not nbrs:
            _fail(f"GPU {n!r} is dangling (no links)")
        if kind == "switch" and used > data["radix"]:
            _fail(f"switch {n!r} uses {used} ports but its radix is {data['radix']}")
    return G


def _node_class(data: dict[str, Any]) -> str:
    if data["kind"] == "switch":
        return TIER_NAMES[int(data["tier"])]
    return str(data["kind"])


_CLASS_ORDER = {"gpu": 0, "nic": 1, "scale-up": 2, "leaf": 3, "spine": 4, "core": 5}


def cable_class(G: nx.DiGraph, u: str, v: str) -> str:
    """Name of the cable class between u and v: ``gpu-leaf``, ``leaf-spine``, ``gpu-scale-up``..."""
    a, b = _node_class(G.nodes[u]), _node_class(G.nodes[v])
    if _CLASS_ORDER.get(a, 9) > _CLASS_ORDER.get(b, 9):
        a, b = b, a
    return f"{a}-{b}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologySummary:
    """Counts and capacities of a fabric, as ``fabric topology show`` prints them."""

    topology: str
    params: dict[str, Any]
    num_gpus: int
    num_nodes: int
    num_switches: int
    switches_by_tier: dict[str, int]
    switches_by_model: dict[str, int]
    cables_by_tier: dict[str, int]
    cables_by_link: dict[str, int]
    ports_used_by_tier: dict[str, int]
    ports_available_by_tier: dict[str, int]
    injection_bandwidth_bytes_per_s: float
    scaleup_bandwidth_bytes_per_s: float
    bisection_bandwidth_bytes_per_s: float
    hop_diameter: int
    catalog: str = ""
    notes: list[str] = field(default_factory=list)


def _scaleout_injection(G: nx.DiGraph, gpu: str) -> tuple[float, float]:
    out_bw = up_bw = 0.0
    for _, v, d in G.out_edges(gpu, data=True):
        bw = d["bandwidth_bytes_per_s"] * d["num_links"]
        vd = G.nodes[v]
        if vd["kind"] == "switch" and vd["tier"] == 0:
            up_bw += bw
        elif vd["kind"] == "nic":
            # a NIC shared by several GPUs gives each its share of the NIC's network links
            sharing = max(1, sum(1 for w in G.predecessors(v) if G.nodes[w]["kind"] == "gpu"))
            out_bw += min(
                bw,
                sum(
                    e["bandwidth_bytes_per_s"] * e["num_links"]
                    for _, w, e in G.out_edges(v, data=True)
                    if G.nodes[w]["kind"] == "switch"
                ) / sharing,
            )
        else:
            out_bw += bw
    return out_bw, up_bw


#: Node classes in cable-class order (``cable_class``): GPU, NIC, then switches by tier.
NODE_CLASSES = ("gpu", "nic", "scale-up", "leaf", "spine", "core")
_KIND_CODE = {"gpu": 0, "nic": 1}
_NUM_LINKS = operator.itemgetter("num_links")
_BANDWIDTH = operator.itemgetter("bandwidth_bytes_per_s")
_LINK = operator.itemgetter("link")


_LATENCY = operator.itemgetter("latency_s")


@dataclass(frozen=True, slots=True, kw_only=True)
class FabricArrays:
    """A fabric read once into arrays: what the summary, the bill of materials and the routing
    index (:class:`fabric.routing.FabricIndex`) all start from.

    ``nodes`` in graph order, ``pos`` each node's position; ``code`` each node's class
    (:data:`NODE_CLASSES`: 0 GPU, 1 NIC, 2 + tier for a switch, -1 an unknown kind); directed
    edges in ``G.edges`` order (``src``, ``dst`` positions) with their ``num_links``,
    ``bandwidth_bytes_per_s``, ``latency_s`` and link type id (``link_names``); ``gpus`` the GPU
    positions. Read-only: the arrays are shared by every caller of :func:`fabric_arrays`.
    """

    nodes: list[Any]
    pos: dict[Any, int]
    code: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    num_links: np.ndarray
    bandwidth_bytes_per_s: np.ndarray
    latency_s: np.ndarray
    link: np.ndarray
    link_names: list[str]
    gpus: np.ndarray


def _read_arrays(G: nx.DiGraph) -> FabricArrays:
    """:class:`FabricArrays` of ``G`` in one pass over its node and adjacency dicts (at C speed
    but for one small step per node and per edge)."""
    node, succ = G._node, G._succ
    nodes = list(node)
    pos = dict(zip(nodes, range(len(nodes)), strict=True))
    code = np.fromiter(
        (_KIND_CODE.get(d["kind"], -1) if d["kind"] != "switch" else 2 + int(d["tier"])
         for d in node.values()),
        dtype=np.int64,
        count=len(nodes),
    )
    counts = np.fromiter(map(len, succ.values()), dtype=np.int64, count=len(succ))
    num_edges = int(counts.sum())
    src = np.repeat(np.fromiter(map(pos.__getitem__, succ), dtype=np.int64, count=len(succ)),
                    counts)
    dst = np.fromiter(map(pos.__getitem__, chain.from_iterable(succ.values())), dtype=np.int64,
                      count=num_edges)
    data = list(chain.from_iterable(map(dict.values, succ.values())))
    num_links = np.fromiter(map(_NUM_LINKS, data), dtype=np.int64, count=num_edges)
    bandwidth = np.fromiter(map(_BANDWIDTH, data), dtype=float, count=num_edges)
    latency = np.fromiter(map(_LATENCY, data), dtype=float, count=num_edges)
    links = list(map(_LINK, data))
    ids = {name: i for i, name in enumerate(dict.fromkeys(links))}  # in order of first use
    link = np.fromiter(map(ids.__getitem__, links), dtype=np.int64, count=num_edges)
    for array in (code, src, dst, num_links, bandwidth, latency, link):
        array.flags.writeable = False
    return FabricArrays(nodes=nodes, pos=pos, code=code, src=src, dst=dst, num_links=num_links,
                        bandwidth_bytes_per_s=bandwidth, latency_s=latency, link=link,
                        link_names=list(ids), gpus=np.flatnonzero(code == 0))


_ARRAYS: weakref.WeakKeyDictionary[nx.DiGraph, tuple[int, FabricArrays]] = (
    weakref.WeakKeyDictionary())


def fabric_arrays(G: nx.DiGraph, *, tracked: bool | None = None) -> FabricArrays:
    """:class:`FabricArrays` of a validated ``G`` as it is now.

    Kept for a :class:`FabricGraph` and reused while its :attr:`~FabricGraph.version` stays
    the same and its dicts all still count their changes (:func:`is_tracked`, one pass at C
    speed, about a tenth of a read): a build's validation, summary, bill of materials and
    routing index read the graph once. Any other graph is read again on every call.
    ``tracked`` is :func:`is_tracked` of ``G`` when the caller has just checked it (None:
    check here).
    """
    version = graph_version(G)
    if tracked is None:
        tracked = version is not None and is_tracked(G)
    tracked = tracked and version is not None
    if tracked:
        found = _ARRAYS.get(G)
        if found is not None and found[0] == version:
            return found[1]
    arrays = _read_arrays(G)
    if tracked:
        assert version is not None
        _ARRAYS[G] = (version, arrays)
    return arrays


def bisection_bandwidth(G: nx.DiGraph, arrays: FabricArrays | None = None) -> float:
    """Max flow (bytes/s, one direction) from the first half of the GPUs to the second half.

    Halves follow the builders' GPU order (by node) and end at a server's edge: an odd number of
    servers puts the middle one on the second side (its NVLink is no bisection). A scale-up
    domain of several servers (an NVL72 rack) can still span the middle. Capacities are
    rounded to whole Mb/s for scipy's integer max-flow.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import maximum_flow

    a = fabric_arrays(G) if arrays is None else arrays
    gpus = a.gpus
    if len(gpus) < 2:
        return 0.0
    num = len(a.nodes)
    source, sink = num, num + 1
    scale = 1e6 / 8  # capacities in Mb/s
    keep = ~((a.code[a.src] == 0) & (a.code[a.dst] == 0))
    caps = (a.bandwidth_bytes_per_s[keep] * a.num_links[keep] / scale).astype(np.int64)
    half = _server_boundary(G, a, len(gpus) // 2)
    rest = len(gpus) - half
    big = int(caps.sum()) + 1
    rows = np.concatenate([a.src[keep], np.full(half, source), gpus[half:]])
    cols = np.concatenate([a.dst[keep], gpus[:half], np.full(rest, sink)])
    cap = np.concatenate([caps, np.full(half + rest, big, dtype=np.int64)])
    big_cap = min(int(cap.max()), 2**31 - 1)
    cap = np.minimum(cap, big_cap).astype(np.int32)
    matrix = coo_matrix((cap, (rows, cols)), shape=(num + 2, num + 2)).tocsr()
    matrix.sum_duplicates()
    flow = maximum_flow(matrix, source, sink)
    return float(flow.flow_value) * scale


def _server_boundary(G: nx.DiGraph, a: FabricArrays, half: int) -> int:
    """``half`` moved down to the first GPU of its server (GPUs carry their server in ``node``),
    so that an odd number of servers is cut between servers, not through one (whose NVLink would
    count as bisection); ``half`` itself when the GPUs name no server or one server holds
    every GPU up to it."""
    def server(i: int) -> Any:
        return G.nodes[a.nodes[int(a.gpus[i])]].get("node")

    at = half
    mark = server(at) if 0 < at < len(a.gpus) else None
    if mark is None:
        return half
    while at > 0 and server(at - 1) == mark:
        at -= 1
    return at if at > 0 else half


def hop_diameter(G: nx.DiGraph, *, samples: int = 16, arrays: FabricArrays | None = None) -> int:
    """Most switches on a shortest GPU-to-GPU route (GPUs do not forward), from sampled sources."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    a = fabric_arrays(G) if arrays is None else arrays
    gpus = a.gpus
    if len(gpus) < 2:
        return 0
    is_transit = a.code != 0
    t_of = np.cumsum(is_transit) - 1  # local id of each transit node
    m = int(is_transit.sum())
    both = is_transit[a.src] & is_transit[a.dst]
    adj = coo_matrix(
        (np.ones(int(both.sum())), (t_of[a.src[both]], t_of[a.dst[both]])), shape=(m, m)
    ).tocsr()
    gpu_of = np.full(len(a.nodes), -1, dtype=np.int64)
    gpu_of[gpus] = np.arange(len(gpus))
    out = np.flatnonzero((a.code[a.src] == 0) & is_transit[a.dst])
    out_gpu, out_t = gpu_of[a.src[out]], t_of[a.dst[out]]
    # in-neighbours of every GPU as a padded array, for a vectorized min over them
    inn = np.flatnonzero(is_transit[a.src] & (a.code[a.dst] == 0))
    in_gpu = gpu_of[a.dst[inn]]
    order = np.argsort(in_gpu, kind="stable")
    in_gpu, in_t = in_gpu[order], t_of[a.src[inn[order]]]
    per_gpu = np.bincount(in_gpu, minlength=len(gpus))
    width = int(per_gpu.max(initial=0))
    if width == 0:
        return 0
    rank = np.arange(len(in_gpu)) - np.repeat(np.cumsum(per_gpu) - per_gpu, per_gpu)
    pad = np.full((len(gpus), width), m, dtype=np.int64)
    pad[in_gpu, rank] = in_t
    step = max(1, len(gpus) // samples)
    positions = list(range(0, len(gpus), step))[:samples] + [len(gpus) - 1]
    worst = 0
    for i in positions:
        attach = out_t[out_gpu == i]
        if len(attach) == 0:
            continue
        dist = shortest_path(adj, unweighted=True, indices=attach).min(axis=0)
        dist = np.append(np.atleast_1d(dist), np.inf)
        hops = dist[pad].min(axis=1)
        hops[i] = np.nan
        finite = hops[np.isfinite(hops)]
        if len(finite):
            worst = max(worst, int(finite.max()) + 1)
    return worst


def _sums_by_name(keys: np.ndarray, values: np.ndarray, names: Any) -> Counter[str]:
    """Sum of ``values`` per distinct key, named by ``names(key)``."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=values, minlength=len(distinct))
    out: Counter[str] = Counter()
    for key, total in zip(distinct.tolist(), sums.tolist(), strict=True):
        out[names(key)] += int(round(total))
    return out


def summarize(G: nx.DiGraph, *, exact_bisection: bool = True) -> TopologySummary:
    """Counts, ports and capacities of a validated fabric (see :class:`TopologySummary`)."""
    a = fabric_arrays(G)
    gpus = [a.nodes[g] for g in a.gpus.tolist()]
    switches = [(n, d) for n, d in G.nodes(data=True) if d["kind"] == "switch"]
    by_tier = Counter(TIER_NAMES[int(d["tier"])] for _, d in switches)
    by_model = Counter(str(d["model"]) for _, d in switches)
    und = a.src < a.dst  # each full-duplex cable bundle once
    lo = np.minimum(a.code[a.src[und]], a.code[a.dst[und]])
    hi = np.maximum(a.code[a.src[und]], a.code[a.dst[und]])
    width = len(NODE_CLASSES)
    cables_by_tier = _sums_by_name(
        lo * width + hi, a.num_links[und],
        lambda k: f"{NODE_CLASSES[k // width]}-{NODE_CLASSES[k % width]}")
    cables_by_link = _sums_by_name(a.link[und], a.num_links[und], a.link_names.__getitem__)
    out_links = np.bincount(a.src, weights=a.num_links, minlength=len(a.nodes))
    used: Counter[str] = Counter()
    avail: Counter[str] = Counter()
    attrs = node_table(G)
    for i in np.flatnonzero(a.code >= 2).tolist():
        d = attrs[a.nodes[i]]
        name = TIER_NAMES[int(d["tier"])]
        used[name] += int(round(out_links[i])) + ports_held(d)
        avail[name] += int(d["radix"])
    injection, scaleup = _scaleout_injection(G, gpus[0]) if gpus else (0.0, 0.0)
    nodes = {attrs[g].get("node") for g in gpus}
    return TopologySummary(
        topology=str(G.graph.get("topology", "custom")),
        params=dict(G.graph.get("params", {})),
        num_gpus=len(gpus),
        num_nodes=len(nodes),
        num_switches=len(switches),
        switches_by_tier=dict(sorted(by_tier.items(), key=lambda kv: _CLASS_ORDER[kv[0]])),
        switches_by_model=dict(sorted(by_model.items())),
        cables_by_tier=dict(sorted(cables_by_tier.items())),
        cables_by_link=dict(sorted(cables_by_link.items())),
        ports_used_by_tier=dict(used),
        ports_available_by_tier=dict(avail),
        injection_bandwidth_bytes_per_s=injection,
        scaleup_bandwidth_bytes_per_s=scaleup,
        bisection_bandwidth_bytes_per_s=(
            bisection_bandwidth(G, a) if exact_bisection else float("nan")
        ),
        hop_diameter=hop_diameter(G, arrays=a),
        catalog=str(G.graph.get("catalog", "")),
    )
