"""Routing's two exact shortcuts against their oracles: twin switches merged, and distances
searched once per orbit of twin leaves.

:func:`fabric.routing._merge_twins` merges transit nodes with identical neighbourhoods (a
fat-tree's core groups, a Clos's spines) before the fluid ECMP walk and shares the merged
edges' loads out equally. Both ways must give the same link loads (within 1e-9 relative), the
same per-demand path latencies and hop counts, and the same predictions for every collective and
algorithm, on every family, on multi-plane fabrics and on edited (asymmetric) graphs.

:meth:`fabric.routing.FabricIndex.prepare` searches the distances to one leaf of each set of
twin leaves (the same in- and out-neighbours over cables of equal latency) and reads the
others' with the two leaves swapped, an automorphism of the transit graph; the fluid routing
finds next hops once per searched row and node (:class:`fabric.routing._NextHops`) and applies
the swap. Against a search per leaf (``orbits=False``) it must give the same results too.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import fabric.routing as routing
import topologies
from collectives.model import algorithm_costs
from fabric.graph import FabricGraph
from fabric.routing import FabricIndex, route

GRAPHS = [
    ("rail-optimized", {"num_nodes": 6}),
    ("rail-optimized", {"num_nodes": 70, "su_size": 4}),
    ("rail-optimized", {"num_nodes": 16, "planes": 2}),
    ("rail-only", {"num_nodes": 20}),
    ("clos", {"num_gpus": 320, "oversubscription": 2.0}),
    ("clos", {"num_gpus": 256, "gpus_per_node": 1, "scaleup": None}),
    ("fat-tree", {"k": 6}),
    ("fat-tree", {"k": 8}),
    ("single-hop", {"num_gpus": 16, "planes": 2}),
]


def _ids(p: tuple[str, dict]) -> str:
    return f"{p[0]}-{'-'.join(map(str, p[1].values()))}"


def _widened(G: nx.DiGraph) -> nx.DiGraph:
    """A copy with one scale-out cable bundle doubled: the switches at its ends lose their
    twins, the rest keep them."""
    H = nx.DiGraph(G)
    for u, v, d in H.edges(data=True):
        if H.nodes[u]["kind"] == "switch" and H.nodes[v]["kind"] == "switch":
            if H.nodes[u].get("tier", 0) >= 1 and H.nodes[v].get("tier", 0) >= 1:
                d["num_links"] = d["num_links"] * 2
                H.edges[v, u]["num_links"] = H.edges[v, u]["num_links"] * 2
                return H
    return H


def _demand_sets(index: FabricIndex) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    gpus = index.gpu_ids
    n = len(gpus)
    rng = np.random.default_rng(3)
    sets = [(gpus, np.roll(gpus, -shift), np.ones(n)) for shift in (1, 3, n // 2)]
    sets.append((gpus, rng.permutation(gpus), rng.uniform(0.5, 2.0, n)))
    a, b = np.meshgrid(gpus, gpus)
    sets.append((a.ravel(), b.ravel(), rng.uniform(0.5, 2.0, a.size)))  # all pairs
    return sets


def _assert_routes_alike(oracle: FabricIndex, index: FabricIndex,
                         sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Loads within 1e-9 of the largest, latencies within 1e-12, equal hops and losses."""
    for src, dst, size in sets:
        want = route(oracle, src, dst, size)
        got = route(index, src, dst, size)
        scale = max(float(want.load_bytes.max()), 1e-300)
        np.testing.assert_allclose(got.load_bytes, want.load_bytes, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(got.path_latency_s, want.path_latency_s, rtol=1e-12,
                                   equal_nan=True)
        assert (got.max_hops, got.unroutable) == (want.max_hops, want.unroutable)


@pytest.mark.parametrize("edited", [False, True], ids=["built", "edited"])
@pytest.mark.parametrize(("family", "options"), GRAPHS, ids=[_ids(p) for p in GRAPHS])
def test_merged_twins_route_like_every_switch(family: str, options: dict, edited: bool) -> None:
    G = topologies.build(family, **options)
    if edited:
        G = _widened(G)
    every = FabricIndex(G, merge_twins=False)
    merged = FabricIndex(G, merge_twins=True)
    assert every.transit_graph().num == every.num_transit  # the oracle merges nothing
    _assert_routes_alike(every, merged, _demand_sets(every))


def test_fat_tree_core_groups_are_merged() -> None:
    """A k-ary fat-tree's (k/2)^2 cores fall into k/2 groups of twins (each group meets the
    same aggregation switch of every pod); nothing else is merged."""
    k = 8
    index = FabricIndex(topologies.build("fat-tree", k=k))
    assert index.num_transit - index.transit_graph().num == (k // 2) ** 2 - k // 2


def test_switches_differing_in_one_edge_are_not_merged() -> None:
    """Equal neighbours are not enough: a different latency on one cable splits the twins."""
    G = topologies.build("clos", num_gpus=256, gpus_per_node=1, scaleup=None)
    twins = FabricIndex(G).transit_graph().num
    H = FabricGraph(G)
    u, v = next((u, v) for u, v in H.edges if H.nodes[u].get("tier") == 2)
    H.edges[u, v]["latency_s"] *= 3
    assert FabricIndex(H).transit_graph().num == twins + 1


PREDICTED = [GRAPHS[1], GRAPHS[2], GRAPHS[4], GRAPHS[7],
             ("clos", {"num_gpus": 2048, "tiers": 3, "switch": "qm9700"})]


@pytest.mark.parametrize("flag", ["MERGE_TWINS", "USE_ORBITS"])
@pytest.mark.parametrize(("family", "options"), PREDICTED, ids=[_ids(p) for p in PREDICTED])
def test_predictions_do_not_depend_on_the_shortcuts(family: str, options: dict, flag: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate algorithm of every collective costs the same with and without each
    shortcut (the direct all-to-all and the shared XOR and shift phases included)."""
    costs = {}
    for on in (False, True):
        monkeypatch.setattr(routing, flag, on)
        G = topologies.build(family, **options)  # a fresh graph: a fresh index
        costs[on] = {
            coll: [(c.algorithm, c.latency_s, c.seconds_per_byte) for c in
                   algorithm_costs(G, coll)]
            for coll in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
        }
    for coll, want in costs[False].items():
        got = costs[True][coll]
        assert [g[0] for g in got] == [w[0] for w in want]
        for (_, lat, spb), (_, lat_w, spb_w) in zip(got, want, strict=True):
            assert lat == pytest.approx(lat_w, rel=1e-12)
            assert spb == pytest.approx(spb_w, rel=1e-9)


BLOCKED = [("rail-optimized", {"num_nodes": 70, "su_size": 4}), ("fat-tree", {"k": 12})]


@pytest.mark.parametrize(("family", "options"), BLOCKED, ids=[_ids(p) for p in BLOCKED])
def test_direct_all_to_all_in_blocks_equals_one_pass(family: str, options: dict,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct all-to-all hands (first hop, class) pairs to the router a block of classes
    at a time (bounded memory at 131k GPUs): one pair per block gives the loads of one pass
    (PXN on 8-GPU servers and plain single-GPU nodes alike)."""
    from collectives import patterns
    from collectives.communicator import placed_ranks

    got = {}
    for block in (1, 1 << 40):
        monkeypatch.setattr(patterns, "PROPAGATE_BLOCK", block)
        G = topologies.build(family, **options)
        assert len(FabricIndex(G).class_preds) > 64  # more than one block of 64 classes
        (phase,) = patterns.direct_phases(placed_ranks(G, None, "packed"), "all-to-all")
        load = np.zeros(FabricIndex(G).num_edges)
        load[phase.edges] = phase.load
        got[block] = (load, phase.latency_s)
    np.testing.assert_allclose(got[1][0], got[1 << 40][0], rtol=1e-12, atol=0)
    assert got[1][1] == got[1 << 40][1]


# -- distances per orbit of twin leaves ------------------------------------------------------
ORBIT_GRAPHS = [*GRAPHS, ("clos", {"num_gpus": 2048, "tiers": 3, "switch": "qm9700"})]


def _slower_uplink(G: nx.DiGraph) -> FabricGraph:
    """A copy with one leaf's uplink three times slower: that leaf has no twin any more."""
    H = FabricGraph(G)
    for u, v in list(H.edges):
        if H.nodes[u].get("tier") == 1 and H.nodes[v].get("tier") == 2:
            H.edges[u, v]["latency_s"] *= 3
            H.edges[v, u]["latency_s"] *= 3
            break
    return H


@pytest.mark.parametrize("edited", [False, True], ids=["built", "edited"])
@pytest.mark.parametrize(("family", "options"), ORBIT_GRAPHS,
                         ids=[_ids(p) for p in ORBIT_GRAPHS])
def test_orbits_route_like_a_search_per_leaf(family: str, options: dict, edited: bool) -> None:
    G = topologies.build(family, **options)
    if edited:
        G = _slower_uplink(G)
    every = FabricIndex(G, orbits=False)
    orbit = FabricIndex(G, orbits=True)
    sets = _demand_sets(every)
    _assert_routes_alike(every, orbit, sets if len(every.gpu_ids) <= 512 else sets[:-1])
    # the oracle searched every target once and stored every set of several targets once,
    # the least of its targets' rows (multi-homed classes on the same switches share one
    # row); the orbits no more
    prepared = np.flatnonzero(every._row >= 0).tolist()
    node_of = every.transit_graph().node_of
    target_sets = {frozenset(node_of[every.class_preds[c]].tolist()) for c in prepared}
    targets = set().union(*target_sets)
    assert every._num_searched == len(targets) + sum(len(t) > 1 for t in target_sets)
    assert len(np.unique(every._row_base[every._row[prepared]])) == len(target_sets)
    assert orbit._num_searched <= every._num_searched
    # and every class's distances, read through its swap, are the searched ones
    classes = np.arange(len(every.class_preds))
    for c in classes[:: max(1, len(classes) // 40)].tolist():
        np.testing.assert_array_equal(orbit.class_distance(c), every.class_distance(c))
        np.testing.assert_allclose(orbit.class_latency(c), every.class_latency(c), rtol=1e-12)


@pytest.mark.parametrize("edited", [False, True], ids=["built", "edited"])
@pytest.mark.parametrize(("family", "options"), ORBIT_GRAPHS,
                         ids=[_ids(p) for p in ORBIT_GRAPHS])
def test_per_flow_walks_share_candidates_per_searched_row(family: str, options: dict,
                                                          edited: bool) -> None:
    """The hashed, adaptive and packed walks keep next-hop candidates per (searched row,
    node) where a class's swap leaves the node and its next nodes alone: every charge is the
    same, bit for bit, as with a search per leaf (no swaps), and both kinds of key occur."""
    G = topologies.build(family, **options)
    if edited:
        G = _slower_uplink(G)
    every = FabricIndex(G, orbits=False)
    orbit = FabricIndex(G, orbits=True)
    gpus = every.gpu_ids
    rng = np.random.default_rng(5)
    # every GPU to the same local rank of other servers (a path on every family, rail-only
    # included) and, where the fabric joins rails, to a random GPU
    local = np.array([G.nodes[name].get("local", 0) for name in every.gpu_names])
    src, dst = [], []
    for r in np.unique(local):
        mine = gpus[local == r]
        for shift in (1, len(mine) // 2):
            src.append(mine)
            dst.append(np.roll(mine, -shift))
    if family != "rail-only":
        src.append(gpus)
        dst.append(rng.permutation(gpus))
    src, dst = np.concatenate(src), np.concatenate(dst)
    size = rng.choice([1.0, 2.0], len(src))
    for placement in ("ecmp-hash", "adaptive", "pack"):
        want = routing.place_flows(every, src, dst, size, placement=placement, samples=24,
                                   seed=11)
        got = routing.place_flows(orbit, src, dst, size, placement=placement, samples=24,
                                  seed=11)
        np.testing.assert_array_equal(got.fixed_units, want.fixed_units)
        np.testing.assert_array_equal(got.fixed_bytes, want.fixed_bytes)
        assert len(got.chunks) == len(want.chunks)
        for g, w in zip(got.chunks, want.chunks, strict=True):
            for a, b in zip(g, w, strict=True):
                np.testing.assert_array_equal(a, b)
    keys = routing._Candidates.of(orbit).keys
    assert (keys >= 0).any() or len(keys) == 0  # one hop (single-hop): nothing to choose
    used = orbit._row[orbit._row >= 0]
    if len(keys) and (orbit._row_swap[used, 0] >= 0).any():  # classes read by swaps: own keys
        assert (keys < 0).any()
        shared = int((keys >= 0).sum())
        assert shared < len(routing._Candidates.of(every).keys)


@pytest.mark.parametrize("edited", [False, True], ids=["built", "edited"])
def test_twin_leaves_share_one_search(edited: bool) -> None:
    """A rail-optimized fabric of 64 servers (2 units of 32) has 16 leaves, one per rail and
    unit: every leaf meets every spine, so they are all twins and one search serves them;
    a leaf with a slower uplink is searched on its own."""
    G = topologies.build("rail-optimized", num_nodes=64)
    index = FabricIndex(_slower_uplink(G) if edited else G)
    route(index, index.gpu_ids, np.roll(index.gpu_ids, -8), np.ones(len(index.gpu_ids)))
    assert len(index.class_preds) == 16
    assert index._num_searched == (2 if edited else 1)


@pytest.mark.parametrize(("memo", "budget"),
                         [(1, 1 << 18), (200, 1 << 18), (1 << 23, 3), (200, 3)])
def test_small_memo_and_level_budget_give_the_same_loads(memo: int, budget: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The next-hop memo starting over (also while a request mixes kept and new next hops)
    and a front expanded a few entries at a time give the loads of one pass."""
    G = topologies.build("fat-tree", k=8)
    index = FabricIndex(G)
    sets = _demand_sets(index)
    want = [route(index, *demands) for demands in sets]
    monkeypatch.setattr(routing, "NEXT_HOP_MEMO", memo)
    monkeypatch.setattr(routing, "LEVEL_BUDGET", budget)
    fresh = FabricIndex(G)
    for demands, expected in zip(sets, want, strict=True):
        got = route(fresh, *demands)
        np.testing.assert_allclose(got.load_bytes, expected.load_bytes, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(got.path_latency_s, expected.path_latency_s)


def test_next_hop_memo_starting_over_keeps_every_key_of_the_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A request with kept and new keys whose new keys overflow the memo: it starts over and
    the kept keys of that request are searched again, so every span is right."""
    index = FabricIndex(topologies.build("fat-tree", k=8))
    src, dst, size = _demand_sets(index)[0]
    route(index, src, dst, size)  # one searched row, its next hops kept
    memo = index._next_hops
    assert memo is not None
    flat_hops = index._hops.reshape(-1)
    num = index.transit_graph().num
    kept = np.flatnonzero(memo.count[:num] >= 0)
    new = np.flatnonzero(memo.count[:num] < 0)
    keys = np.concatenate([kept, new[:4]])
    fresh = routing._NextHops(index.transit_graph())
    want_start, want_count = fresh.spans(keys, flat_hops)
    monkeypatch.setattr(routing, "NEXT_HOP_MEMO", memo._used)  # any new key overflows
    start, count = memo.spans(keys, flat_hops)
    np.testing.assert_array_equal(count, want_count)
    for s, c, ws in zip(start.tolist(), count.tolist(), want_start.tolist(), strict=True):
        np.testing.assert_array_equal(memo.slot[s:s + c], fresh.slot[ws:ws + c])


@pytest.mark.parametrize(("count", "bound", "num"), [
    (400_000, 800_000, 1000),  # dense
    (50_000, 1_000_000, 1000),  # counting
    (5_000, 4096 * 6176, 6176),  # two radix passes
    (50, 4096 * 6176, 6176),
])
def test_level_sums_are_in_arrival_order_on_every_path(count: int, bound: int,
                                                       num: int) -> None:
    """The routing sums each level's bytes per (row, node) position, in the order they came:
    in a dense array, by counting or by two radix passes, depending on how many positions
    there are. Each path gives the sums of adding them one by one."""
    rng = np.random.default_rng(count)
    at = rng.integers(0, bound // 50, count) * 47 % bound  # repeats, spread over the bound
    sent = rng.uniform(1e-3, 1e3, count)
    parts = [(at[:count // 3], sent[:count // 3]), (at[count // 3:], sent[count // 3:])]
    want: dict[int, float] = {}
    for p, x in zip(at.tolist(), sent.tolist(), strict=True):
        want[p] = want.get(p, 0.0) + x
    front, got = routing._summed(parts, bound, num)
    assert front.tolist() == sorted(want)
    assert got.tolist() == [want[p] for p in sorted(want)]


def _two_leaves_per_gpu() -> nx.DiGraph:
    """4 leaves x 2 spines; each GPU cabled to two leaves (leaf0+leaf1 or leaf2+leaf3), so a
    spine is one hop from both targets of every GPU."""
    G = nx.DiGraph()
    cable = {"bandwidth_bytes_per_s": 50e9, "latency_s": 1e-7, "num_links": 1,
             "link": "ndr400"}
    for s in range(2):
        G.add_node(f"spine{s}", kind="switch", tier=2, model="qm9700", radix=64)
    for leaf in range(4):
        G.add_node(f"leaf{leaf}", kind="switch", tier=1, model="qm9700", radix=64)
        for s in range(2):
            G.add_edge(f"leaf{leaf}", f"spine{s}", **cable)
            G.add_edge(f"spine{s}", f"leaf{leaf}", **cable)
    for g in range(8):
        name = f"node{g}/gpu0"
        G.add_node(name, kind="gpu", node=g, local=0, model="h100", rail=0)
        for leaf in ((0, 1) if g < 4 else (2, 3)):
            G.add_edge(name, f"leaf{leaf}", **cable)
            G.add_edge(f"leaf{leaf}", name, **cable)
    return G


@pytest.mark.parametrize(("family", "options"), [
    ("clos", {"num_gpus": 256, "planes": 2}), ("clos", {"num_gpus": 2048, "tiers": 3}),
    ("rail-optimized", {"num_nodes": 64, "su_size": 32}), (None, {})])
@pytest.mark.parametrize("orbits", [False, True])
def test_candidates_into_targets_are_the_edges_a_scan_keeps(family: str | None, options: dict,
                                                             orbits: bool) -> None:
    """The candidates of a node one hop from a class, found from the class's targets, are the
    edges a scan of the node's edges keeps (far end at distance 0), in the same order."""
    G = topologies.build(family, **options) if family else _two_leaves_per_gpu()
    index = FabricIndex(G, orbits=orbits)
    classes = np.arange(len(index.class_preds))
    index.prepare(classes)
    dist = index.class_distances(classes)
    walk = routing._Walk(index, routing.hash_units(index), None, classes, classes, classes,
                         np.ones(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                         index.distance_rows(classes), [], ([], []))
    # the walk reads distances where it goes: those of the matrix
    slots, nodes = np.divmod(np.arange(dist.size), dist.shape[1])
    np.testing.assert_array_equal(walk.dist(slots, nodes), dist.reshape(-1))
    slot, node = np.nonzero(dist == 1)
    got, slots = walk._into_targets(slot, node)
    want_owner, want_slots = [], []
    for i, (k, u) in enumerate(zip(slot.tolist(), node.tolist(), strict=True)):
        for at in range(index.t_indptr[u], index.t_indptr[u + 1]):
            if dist[k, index.t_dst[at]] == 0:
                want_owner.append(i)
                want_slots.append(at)
    np.testing.assert_array_equal(got, want_owner)
    np.testing.assert_array_equal(slots, want_slots)
    if family is None:  # a spine one hop from both leaves of every GPU: order matters
        assert (np.bincount(got, minlength=len(slot)) == 2).any()
