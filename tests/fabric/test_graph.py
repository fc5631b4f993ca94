"""Fabric graphs (fabric.graph): the change-counting FabricGraph, indexes that cannot go stale,
and every rule of validate_graph.

Staleness is judged by predictions: a graph edited in place after a prediction must predict
what the same edit applied before any prediction (nothing cached) predicts, and differ from the
unedited graph (issue 9: doubling every link's bandwidth in place kept the old prediction).
"""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable

import networkx as nx
import pytest

import topologies
from collectives.predict import predict
from fabric.graph import (
    FabricGraph,
    _valid_at_c_speed,
    add_cables,
    cable_edges,
    fabric_arrays,
    graph_version,
    is_tracked,
    summarize,
    validate_graph,
)
from fabric.routing import fabric_index

SIZES = (1 << 10, 1 << 30)  # latency-bound and bandwidth-bound


def _times(G: nx.DiGraph) -> tuple[float, ...]:
    return tuple(predict(G, "all-reduce", size).time_s for size in SIZES)


def _build() -> nx.DiGraph:
    return topologies.build("rail-optimized", num_nodes=4)  # NVSwitches, rail leaves, spines


def _scale_out_edges(G: nx.DiGraph) -> list[tuple[str, str]]:
    return [(u, v) for u, v, link in G.edges(data="link") if not link.startswith("nvlink")]


def _leaf_of(G: nx.DiGraph, gpu: str) -> str:
    return next(v for v in G.successors(gpu) if G.nodes[v].get("tier") == 1)


# -- the edits: each a way to change a graph in place --------------------------------------


def double_bandwidth_by_item(G: nx.DiGraph) -> None:
    for u, v in _scale_out_edges(G):
        G.edges[u, v]["bandwidth_bytes_per_s"] *= 2


def latency_by_set_edge_attributes(G: nx.DiGraph) -> None:
    new = {(u, v): lat * 50 for u, v, lat in G.edges(data="latency_s")}
    nx.set_edge_attributes(G, new, "latency_s")


def slower_links_by_add_edge(G: nx.DiGraph) -> None:
    for u, v in _scale_out_edges(G):
        G.add_edge(u, v, bandwidth_bytes_per_s=G.edges[u, v]["bandwidth_bytes_per_s"] / 4)


def latency_by_dict_update(G: nx.DiGraph) -> None:
    for u, v in _scale_out_edges(G):
        G.edges[u, v].update(latency_s=1e-5)


def nvswitch_tier_by_item(G: nx.DiGraph) -> None:
    for n, tier in list(G.nodes(data="tier")):
        if tier == 0:
            G.nodes[n]["tier"] = 1


def nvswitch_tier_by_set_node_attributes(G: nx.DiGraph) -> None:
    nx.set_node_attributes(G, {n: 1 for n, t in G.nodes(data="tier") if t == 0}, "tier")


def slow_cable_removed_and_added(G: nx.DiGraph) -> None:
    """Same edge count and the same edges, one cable at 1/8 of its bandwidth."""
    u = "node0/gpu0"
    v = _leaf_of(G, u)
    forward, backward = dict(G.edges[u, v]), dict(G.edges[v, u])
    G.remove_edge(u, v)
    G.remove_edge(v, u)
    forward["bandwidth_bytes_per_s"] /= 8
    backward["bandwidth_bytes_per_s"] /= 8
    G.add_edge(u, v, **forward)
    G.add_edge(v, u, **backward)


def cable_moved_to_another_leaf(G: nx.DiGraph) -> None:
    """Same node and edge counts: GPU 0 of node 0 leaves its rail for the next rail's leaf."""
    u = "node0/gpu0"
    old, new = _leaf_of(G, u), _leaf_of(G, "node0/gpu1")
    forward, backward = dict(G.edges[u, old]), dict(G.edges[old, u])
    G.remove_edges_from([(u, old), (old, u)])
    G.add_edges_from([(u, new, forward), (new, u, backward)])


EDITS = [
    double_bandwidth_by_item,
    latency_by_set_edge_attributes,
    slower_links_by_add_edge,
    latency_by_dict_update,
    nvswitch_tier_by_item,
    nvswitch_tier_by_set_node_attributes,
    slow_cable_removed_and_added,
    cable_moved_to_another_leaf,
]


@pytest.fixture(scope="module")
def unedited_times() -> tuple[float, ...]:
    return _times(_build())


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__)
def test_an_edit_in_place_changes_the_prediction(
    edit: Callable[[nx.DiGraph], None], unedited_times: tuple[float, ...]
) -> None:
    G = _build()
    assert _times(G) == unedited_times  # everything about G is now cached
    counts = (G.number_of_nodes(), G.number_of_edges())
    edit(G)
    fresh = _build()
    edit(fresh)  # the same edit before any prediction: nothing cached to go stale
    assert (G.number_of_nodes(), G.number_of_edges()) == counts
    assert _times(G) == _times(fresh)
    assert _times(G) != unedited_times


def test_doubling_every_bandwidth_matches_a_fresh_graph() -> None:
    """The case of issue 9, on a whole fabric: every edge, scale-up included."""
    G = topologies.build("fat-tree", k=8)
    before = predict(G, "all-reduce", 1 << 30).time_s
    for _, _, data in G.edges(data=True):
        data["bandwidth_bytes_per_s"] *= 2
    fresh = topologies.build("fat-tree", k=8)
    for _, _, data in fresh.edges(data=True):
        data["bandwidth_bytes_per_s"] *= 2
    after = predict(G, "all-reduce", 1 << 30).time_s
    assert after == predict(fresh, "all-reduce", 1 << 30).time_s
    assert after < before


@pytest.mark.parametrize("edit", EDITS[:2] + EDITS[-2:], ids=lambda f: f.__name__)
def test_a_plain_digraph_is_not_stale_either(
    edit: Callable[[nx.DiGraph], None], unedited_times: tuple[float, ...]
) -> None:
    G = nx.DiGraph(_build())
    assert graph_version(G) is None
    assert _times(G) == unedited_times
    edit(G)
    fresh = nx.DiGraph(_build())
    edit(fresh)
    assert _times(G) == _times(fresh) != unedited_times


def test_an_unchanged_graph_reuses_its_index() -> None:
    G = _build()
    first = fabric_index(G)
    _times(G)
    # reading, copying, pickling and viewing the graph change nothing
    list(G.edges(data=True))
    _ = G.nodes["node0/gpu0"]["rail"]
    G.copy()
    pickle.dumps(G)
    G.subgraph(list(G)[:5])
    assert fabric_index(G) is first
    plain = nx.DiGraph(G)
    assert fabric_index(plain) is fabric_index(plain)


def test_an_edit_gives_a_new_index_with_an_empty_memo() -> None:
    G = _build()
    first = fabric_index(G)
    first.memo["derived"] = 1
    G.edges["node0/gpu0", _leaf_of(G, "node0/gpu0")]["latency_s"] = 1e-3
    second = fabric_index(G)
    assert second is not first
    assert "derived" not in second.memo
    assert fabric_index(G) is second


# -- FabricGraph ---------------------------------------------------------------------------


def _small() -> FabricGraph:
    G = FabricGraph()
    G.add_node("a", kind="gpu")
    G.add_edges_from([("a", "b", {"latency_s": 1.0}), ("b", "a", {"latency_s": 1.0})])
    return G


MUTATIONS: list[Callable[[FabricGraph], object]] = [
    lambda G: G.add_node("c"),
    lambda G: G.add_node("a", kind="nic"),
    lambda G: G.add_nodes_from(["c", "d"]),
    lambda G: G.add_edge("a", "c"),
    lambda G: G.add_edge("a", "b"),  # an existing edge, no attributes
    lambda G: G.add_edges_from([("a", "b")]),
    lambda G: G.add_weighted_edges_from([("a", "b", 2.0)]),
    lambda G: G.remove_edge("a", "b"),
    lambda G: G.remove_edges_from([("a", "b")]),
    lambda G: G.remove_node("b"),
    lambda G: G.remove_nodes_from(["b"]),
    lambda G: G.clear_edges(),
    lambda G: G.clear(),
    lambda G: G.update(edges=[("a", "z")]),
    lambda G: G.nodes["a"].update(kind="nic"),
    lambda G: G.nodes["a"].pop("kind"),
    lambda G: G.nodes["a"].popitem(),
    lambda G: G.nodes["a"].setdefault("rail", 0),
    lambda G: G.nodes["a"].clear(),
    lambda G: G.nodes["a"].__delitem__("kind"),
    lambda G: G.nodes["a"].__ior__({"kind": "nic"}),
    lambda G: G.edges["a", "b"].__setitem__("latency_s", 2.0),
    lambda G: G.edges["a", "b"].update(latency_s=2.0),
    lambda G: G.adj["a"]["b"].pop("latency_s"),
    lambda G: nx.set_edge_attributes(G, 3.0, "latency_s"),
    lambda G: nx.set_node_attributes(G, "switch", "kind"),
    lambda G: nx.relabel_nodes(G, {"b": "c"}, copy=False),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_every_way_of_changing_a_fabric_graph_moves_its_version(
    mutate: Callable[[FabricGraph], object],
) -> None:
    G = _small()
    before = G.version
    mutate(G)
    assert G.version > before
    assert is_tracked(G)


def test_graphs_count_their_own_changes_only() -> None:
    G, H = _small(), _small()
    before = G.version
    H.edges["a", "b"]["latency_s"] = 5.0
    H.add_edge("a", "q")
    assert G.version == before


@pytest.mark.parametrize(
    "derive",
    [
        lambda G: G.copy(),
        lambda G: pickle.loads(pickle.dumps(G)),
        lambda G: copy.deepcopy(G),
        lambda G: nx.relabel_nodes(G, {"a": "x"}),
        lambda G: FabricGraph(nx.DiGraph(G)),
        lambda G: G.to_directed(),
        lambda G: G.reverse(),
    ],
)
def test_copies_are_fabric_graphs_that_count_their_own_changes(derive: Callable) -> None:
    G = _small()
    H = derive(G)
    assert type(H) is FabricGraph and is_tracked(H)
    assert H.number_of_nodes() == 2 and H.number_of_edges() == 2
    g_before, h_before = G.version, H.version
    for node in H:
        H.nodes[node]["kind"] = "switch"
    assert H.version > h_before
    assert G.version == g_before
    assert G.nodes["a"]["kind"] == "gpu"  # the copy shares no dict with G


def test_views_and_plain_graphs_have_no_version() -> None:
    G = _small()
    assert graph_version(G) == G.version
    assert graph_version(G.subgraph(["a", "b"])) is None
    assert graph_version(nx.DiGraph(G)) is None
    assert not is_tracked(nx.DiGraph(G))


def test_a_plain_dict_put_in_privately_falls_back_to_comparing_content() -> None:
    G = _build()
    gpu = "node0/gpu0"
    leaf = _leaf_of(G, gpu)
    G._succ[gpu][leaf] = dict(G._succ[gpu][leaf])  # private: not counted, not a tracked dict
    assert not is_tracked(G)
    first = fabric_index(G)
    assert fabric_index(G) is first
    G._succ[gpu][leaf]["latency_s"] = 1e-3  # a change no counter sees
    second = fabric_index(G)
    assert second is not first
    assert second.edge_latency_s.max() == pytest.approx(1e-3)


# -- validate_graph: one case per rule ------------------------------------------------------


def _valid() -> nx.DiGraph:
    """Two GPUs on one leaf of radix 4: the smallest graph that follows the conventions."""
    G = FabricGraph(topology="custom", params={}, catalog="test")
    G.add_node("leaf", kind="switch", tier=1, model="qm9700", radix=4)
    for i in range(2):
        gpu = f"node{i}/gpu0"
        G.add_node(gpu, kind="gpu", model="h100", node=i, local=0)
        for u, v in ((gpu, "leaf"), ("leaf", gpu)):
            G.add_edge(
                u, v, bandwidth_bytes_per_s=50e9, latency_s=1e-7, num_links=1, link="ndr400"
            )
    return G


def _set_edge(key: str, value: object) -> Callable[[nx.DiGraph], None]:
    """Both directions of one cable, so that only the rule on ``key`` can fail."""

    def edit(G: nx.DiGraph) -> None:
        G.edges["node0/gpu0", "leaf"][key] = value
        G.edges["leaf", "node0/gpu0"][key] = value

    return edit


def _del_edge(key: str) -> Callable[[nx.DiGraph], None]:
    def edit(G: nx.DiGraph) -> None:
        del G.edges["node0/gpu0", "leaf"][key]
        del G.edges["leaf", "node0/gpu0"][key]

    return edit


def _set_node(node: str, key: str, value: object) -> Callable[[nx.DiGraph], None]:
    def edit(G: nx.DiGraph) -> None:
        G.nodes[node][key] = value

    return edit


def _del_node(node: str, key: str) -> Callable[[nx.DiGraph], None]:
    def edit(G: nx.DiGraph) -> None:
        del G.nodes[node][key]

    return edit


def _add_gpu_cables(num_links: int) -> Callable[[nx.DiGraph], None]:
    def edit(G: nx.DiGraph) -> None:
        G.add_node("node2/gpu0", kind="gpu", model="h100", node=2, local=0)
        for u, v in (("node2/gpu0", "leaf"), ("leaf", "node2/gpu0")):
            G.add_edge(
                u, v, bandwidth_bytes_per_s=50e9, latency_s=0.0, num_links=num_links, link="x"
            )

    return edit


INVALID: list[tuple[str, Callable[[nx.DiGraph], object], str]] = [
    ("graph attribute", lambda G: G.graph.pop("catalog"), "missing 'catalog'"),
    ("unknown kind", _set_node("node0/gpu0", "kind", "cpu"), "kind 'cpu'; expected one of"),
    ("no kind", _del_node("node0/gpu0", "kind"), "kind None"),
    ("tier out of range", _set_node("leaf", "tier", 4), "tier 4; expected an integer 0..3"),
    ("tier not an integer", _set_node("leaf", "tier", 1.0), "tier 1.0"),
    ("tier a bool", _set_node("leaf", "tier", True), "tier True"),
    ("switch without model", _del_node("leaf", "model"), "switch 'leaf' has no model"),
    ("radix zero", _set_node("leaf", "radix", 0), "radix 0; expected an integer >= 1"),
    ("radix a bool", _set_node("leaf", "radix", True), "radix True"),
    ("radix missing", _del_node("leaf", "radix"), "radix None"),
    ("bandwidth missing", _del_edge("bandwidth_bytes_per_s"), "bandwidth_bytes_per_s None"),
    ("bandwidth zero", _set_edge("bandwidth_bytes_per_s", 0.0), "bandwidth_bytes_per_s 0.0"),
    ("bandwidth negative", _set_edge("bandwidth_bytes_per_s", -1e9), "expected a number > 0"),
    ("bandwidth nan", _set_edge("bandwidth_bytes_per_s", float("nan")), "expected a number > 0"),
    ("bandwidth inf", _set_edge("bandwidth_bytes_per_s", float("inf")), "expected a number > 0"),
    ("bandwidth text", _set_edge("bandwidth_bytes_per_s", "50e9"), "bandwidth_bytes_per_s '50e9'"),
    ("bandwidth a bool", _set_edge("bandwidth_bytes_per_s", True), "bandwidth_bytes_per_s True"),
    ("latency negative", _set_edge("latency_s", -1e-9), "latency_s -1e-09; expected a number >= 0"),
    ("latency missing", _del_edge("latency_s"), "latency_s None"),
    ("latency a bool", _set_edge("latency_s", False), "latency_s False"),
    ("num_links zero", _set_edge("num_links", 0), "num_links 0; expected an integer >= 1"),
    ("num_links float", _set_edge("num_links", 1.0), "num_links 1.0"),
    ("link missing", _del_edge("link"), "has no link type"),
    ("link empty", _set_edge("link", ""), "has no link type"),
    ("self-loop", lambda G: G.add_edge("leaf", "leaf", **G.edges["leaf", "node0/gpu0"]),
     "'leaf' -> 'leaf' is a self-loop"),
    ("no reverse edge", lambda G: G.remove_edge("leaf", "node0/gpu0"), "has no reverse edge"),
    ("reverse num_links differs", lambda G: G.add_edge("leaf", "node0/gpu0", num_links=2),
     "has num_links 2 but its reverse has 1"),
    ("dangling GPU", lambda G: G.add_node("node9/gpu0", kind="gpu"), "'node9/gpu0' is dangling"),
    ("ports over radix", _add_gpu_cables(3), "switch 'leaf' uses 5 ports but its radix is 4"),
]


def test_the_valid_graph_is_valid() -> None:
    G = _valid()
    assert validate_graph(G) is G
    _add_gpu_cables(2)(G)  # exactly the radix
    validate_graph(G)


@pytest.mark.parametrize(
    ("edit", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_each_rule_is_enforced(edit: Callable[[nx.DiGraph], object], message: str) -> None:
    G = _valid()
    edit(G)
    with pytest.raises(ValueError, match="invalid fabric graph: .*" + re.escape(message)):
        validate_graph(G)


@pytest.mark.parametrize("graph", [nx.Graph(), nx.MultiDiGraph()], ids=["undirected", "multi"])
def test_only_simple_digraphs_are_fabrics(graph: nx.Graph) -> None:
    graph.graph.update(topology="custom", params={}, catalog="test")
    with pytest.raises(ValueError, match="must be a networkx DiGraph, got "):
        validate_graph(graph)


def test_a_bad_edge_is_found_after_an_identical_good_one() -> None:
    """Edges with equal attribute values are checked once: a bool must not pass as 1."""
    G = _valid()
    G.edges["leaf", "node1/gpu0"]["num_links"] = True
    G.edges["node1/gpu0", "leaf"]["num_links"] = True
    with pytest.raises(ValueError, match="num_links True"):
        validate_graph(G)


# -- the check at C speed: never passes what the loop refuses, passes what builders make -----


@pytest.mark.parametrize(
    "edit", [case[1] for case in INVALID if case[0] != "graph attribute"],
    ids=[case[0] for case in INVALID if case[0] != "graph attribute"],
)
def test_the_fast_check_refuses_every_broken_rule(edit: Callable[[nx.DiGraph], object]) -> None:
    """Each rule broken alone makes the vectorized pass hand over to the naming loop."""
    G = _valid()
    assert _valid_at_c_speed(G)
    edit(G)
    assert not _valid_at_c_speed(G)


def test_the_fast_check_sees_a_bool_hidden_among_equal_ints() -> None:
    G = _valid()
    G.edges["leaf", "node1/gpu0"]["num_links"] = True
    G.edges["node1/gpu0", "leaf"]["num_links"] = True
    assert not _valid_at_c_speed(G)


@pytest.mark.parametrize(("family", "gpus", "options"), [
    ("fat-tree", 16, {}), ("clos", 512, {}), ("rail-optimized", 256, {}),
    ("rail-optimized", 512, {"planes": 2, "su_size": 64, "switch": "sn5600-400", "gpu": "b300"}),
    ("rail-only", 64, {}), ("single-hop", 64, {}),
])
def test_builders_pass_the_fast_check(family: str, gpus: int, options: dict) -> None:
    """What the builders make is validated at C speed, and the arrays read on the way are the
    ones the summary and the routing index use (read once per build)."""
    G = topologies.for_gpus(family, gpus, **options)
    assert _valid_at_c_speed(G)
    arrays = fabric_arrays(G)
    assert fabric_arrays(G) is arrays
    assert fabric_index(G).edge_src is arrays.src
    G.edges[next(iter(G.edges))]["latency_s"] = 1e-3  # a counted change: read again
    assert fabric_arrays(G) is not arrays


def test_builders_pause_the_collector_and_give_it_back() -> None:
    """Builders run with the cyclic collector paused (fabric.gcpause) and restore it, also
    when they refuse their arguments; a caller's own pause is left in place."""
    import gc

    assert gc.isenabled()
    topologies.for_gpus("clos", 64)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        topologies.build("clos", num_gpus=63)
    assert gc.isenabled()
    gc.disable()
    try:
        topologies.for_gpus("clos", 64)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(("family", "options"), [
    ("rail-optimized", {"num_nodes": 32}), ("clos", {"num_gpus": 256}), ("fat-tree", {"k": 4}),
    ("rail-only", {"num_nodes": 16}), ("single-hop", {"num_gpus": 64})])
def test_builder_cables_are_typed_once_and_any_other_edge_change_loses_it(
        family: str, options: dict[str, int]) -> None:
    """Builders cable through add_cable_pairs with checked templates, so validate_graph skips its
    per-edge type checks; an in-place edit, add_edges_from, a copy or a pickle round trip makes
    the graph take the full checks again, and a bool written in place is still refused."""
    import pickle

    G = topologies.build(family, **options)
    assert G.edge_attributes_typed
    G.add_nodes_from([("extra", {"kind": "host"})])  # nodes do not touch edges
    assert G.edge_attributes_typed
    G.remove_node("extra")
    assert not G.edge_attributes_typed  # a removal may drop edges: not tracked as typed
    for changed in (pickle.loads(pickle.dumps(G)), G.copy()):
        assert not changed.edge_attributes_typed
    H = topologies.build(family, **options)
    u, v = next(iter(H.edges))
    H.edges[u, v]["num_links"] = True
    assert not H.edge_attributes_typed
    with pytest.raises(ValueError, match="num_links"):
        validate_graph(H)
    K = topologies.build(family, **options)
    K.add_cable_pairs([(u, v)], {**K.edges[u, v], "bandwidth_bytes_per_s": True},
                      dict(K.edges[v, u]))
    assert not K.edge_attributes_typed
    with pytest.raises(ValueError, match="bandwidth"):
        validate_graph(K)


def test_a_build_goes_to_the_oldest_generation_and_its_cycles_are_still_collected() -> None:
    """At the end of a pause the new objects move to the oldest generation unwalked
    (freeze + unfreeze), so the next young collection does not walk the whole fabric; a garbage
    cycle made inside is still freed by a full collection; a process's own frozen objects stay
    frozen (the move is skipped)."""
    import gc
    import weakref

    from fabric.gcpause import gc_paused

    class Node:
        pass

    with gc_paused():
        G = topologies.for_gpus("clos", 64)
        a, b = Node(), Node()
        a.other, b.other = b, a  # a garbage cycle once the names go
        cycle = weakref.ref(a)
        del a, b
    assert gc.get_count()[0] < 50  # nothing of the build left in the young generation
    edge_dict = G.edges[next(iter(G.edges))]
    assert any(o is edge_dict for o in gc.get_objects(generation=2))
    assert cycle() is not None
    gc.collect()
    assert cycle() is None
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            topologies.for_gpus("clos", 64)
        assert gc.get_freeze_count() >= frozen  # not unfrozen
    finally:
        gc.unfreeze()


def test_a_dropped_fabric_is_freed_without_the_cyclic_collector() -> None:
    """Its views are not kept in the graph (networkx's cached views hold the graph: a cycle),
    so its memory goes back the moment the last reference goes, not at some later collection."""
    import gc
    import weakref

    G = topologies.for_gpus("clos", 64)
    assert len(G.edges) > 0 and G.degree["node0/gpu0"] > 0 and len(G.in_edges) > 0
    assert G.out_degree["node0/gpu0"] == G.in_degree["node0/gpu0"]
    summarize(G)
    fabric_index(G)
    gone = weakref.ref(G)
    gc.disable()
    try:
        del G
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("cls", [FabricGraph, nx.DiGraph])
def test_add_cables_adds_what_cable_edges_describes(cls: type) -> None:
    """The builders' bulk path: both directions, each edge its own dict, counted once."""
    from fabric.catalog import default_catalog

    link = default_catalog().links["ndr400"]
    pairs = [("g0", "s0"), ("g1", "s0")]
    G = cls()
    G.add_edge("g0", "s0", num_links=9)  # an existing edge is updated, as add_edges_from does
    before = graph_version(G)
    add_cables(G, iter(pairs), link, num_links=2, u_latency_s=1e-7, v_latency_s=3e-7)
    want = nx.DiGraph()
    for u, v in pairs:
        want.add_edges_from(cable_edges(u, v, link, num_links=2, u_latency_s=1e-7,
                                        v_latency_s=3e-7))
    assert sorted(G.edges(data=True)) == sorted(want.edges(data=True))
    assert G.edges["g0", "s0"] is not G.edges["g1", "s0"]
    assert G.edges["g0", "s0"] is G.pred["s0"]["g0"]
    if before is not None:
        assert graph_version(G) == before + 1
        assert is_tracked(G)
