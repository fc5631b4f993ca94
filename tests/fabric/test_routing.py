"""ECMP routing (fabric.routing) against a brute-force per-pair reference on small fabrics.

The reference routes each demand alone: the shortest paths of networkx.all_shortest_paths over
the scale-out graph (switches and NICs, plus the two end GPUs; tier-0 switches excluded), and at
every hop the bytes split over the next hops of those paths in proportion to ``num_links`` (the
fluid limit of per-flow ECMP hashing, fabric/routing.py docstring). Pairs on one tier-0 switch
go through it.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import pytest

import topologies
from fabric.routing import _rails, fabric_index, route, route_all_pairs

BW = 50e9


def _cable(
    G: nx.DiGraph,
    u: str,
    v: str,
    *,
    num_links: int = 1,
    latency_s: float = 1e-7,
    bandwidth: float = BW,
    link: str = "ndr400",
) -> None:
    for a, b in ((u, v), (v, u)):
        G.add_edge(
            a,
            b,
            bandwidth_bytes_per_s=bandwidth,
            latency_s=latency_s,
            num_links=num_links,
            link=link,
        )


def _gpu(G: nx.DiGraph, name: str, node: int, local: int) -> None:
    G.add_node(name, kind="gpu", node=node, local=local, model="h100", rail=local)


def _switch(G: nx.DiGraph, name: str, tier: int) -> None:
    G.add_node(name, kind="switch", tier=tier, model="qm9700", radix=64)


def _switches(leaves: int, spines: int) -> nx.DiGraph:
    """Every leaf cabled to every spine, leaf0-spine0 doubled."""
    G = nx.DiGraph()
    for s in range(spines):
        _switch(G, f"spine{s}", 2)
    for leaf in range(leaves):
        _switch(G, f"leaf{leaf}", 1)
        for s in range(spines):
            _cable(G, f"leaf{leaf}", f"spine{s}", num_links=2 if (leaf, s) == (0, 0) else 1)
    return G


def leaf_spine() -> nx.DiGraph:
    """2 leaves x 3 spines, leaf0-spine0 doubled; 3 GPUs per leaf, 2 with an NVSwitch."""
    G = _switches(leaves=2, spines=3)
    for leaf in range(2):
        _switch(G, f"nvs{leaf}", 0)
        for g in range(3):
            name = f"node{leaf}/gpu{g}"
            _gpu(G, name, leaf, g)
            _cable(G, name, f"leaf{leaf}")
            if g < 2:
                _cable(
                    G,
                    name,
                    f"nvs{leaf}",
                    num_links=18,
                    bandwidth=25e9,
                    link="nvlink4",
                    latency_s=5e-8,
                )
    return G


def multi_plane() -> nx.DiGraph:
    """4 GPUs on 2 planes (one with 3 parallel cables per GPU) and an uneven 3-tier corner."""
    G = nx.DiGraph()
    for p in range(2):
        _switch(G, f"plane{p}", 1)
    _switch(G, "top", 2)
    _cable(G, "plane0", "top", num_links=4)
    for g in range(4):
        name = f"node{g}/gpu0"
        _gpu(G, name, g, 0)
        _cable(G, name, "plane0")
        _cable(G, name, "plane1", num_links=3)
    _switch(G, "side", 1)
    _cable(G, "side", "top")
    _gpu(G, "node9/gpu0", 9, 0)
    _cable(G, "node9/gpu0", "side")
    return G


def dual_homed() -> nx.DiGraph:
    """3 leaves x 2 spines in one network (leaf0-spine0 doubled), GPUs cabled to two leaves
    each (one with 3 cables to a leaf) or to one: bytes towards a dual-homed GPU reach both
    of its leaves in fractions, and some sources are one of them."""
    G = _switches(leaves=3, spines=2)
    for g, (leaves, links) in enumerate([((0, 1), (1, 1)), ((1, 2), (1, 3)), ((2,), (1,)),
                                         ((0, 2), (3, 1)), ((0,), (1,))]):
        name = f"node{g}/gpu0"
        _gpu(G, name, g, 0)
        for leaf, n in zip(leaves, links, strict=True):
            _cable(G, name, f"leaf{leaf}", num_links=n)
    return G


def _brute_force(G: nx.DiGraph, src: str, dst: str, size: float) -> dict[tuple[str, str], float]:
    loads: dict[tuple[str, str], float] = defaultdict(float)
    up_s = {v for v in G.successors(src) if G.nodes[v].get("tier") == 0}
    up_d = {v for v in G.predecessors(dst) if G.nodes[v].get("tier") == 0}
    common = sorted(up_s & up_d)
    if common:
        loads[(src, common[0])] += size
        loads[(common[0], dst)] += size
        return loads
    keep = [
        n
        for n, d in G.nodes(data=True)
        if n in (src, dst) or (d["kind"] != "gpu" and d.get("tier") != 0)
    ]
    H = G.subgraph(keep)
    dag: dict[str, set[str]] = defaultdict(set)
    for path in nx.all_shortest_paths(H, src, dst):
        for a, b in zip(path, path[1:], strict=False):
            dag[a].add(b)
    depth = nx.single_source_shortest_path_length(H, src)
    amount = defaultdict(float, {src: size})
    for u in sorted(dag, key=lambda x: depth[x]):
        nxt = sorted(dag[u])
        weights = np.array([H.edges[u, v]["num_links"] for v in nxt], dtype=float)
        for v, w in zip(nxt, weights, strict=False):
            share = amount[u] * w / weights.sum()
            loads[(u, v)] += share
            amount[v] += share
    return loads


def _as_dict(G: nx.DiGraph, load: np.ndarray) -> dict[tuple[str, str], float]:
    index = fabric_index(G)
    return {
        (index.nodes[index.edge_src[e]], index.nodes[index.edge_dst[e]]): float(load[e])
        for e in np.flatnonzero(load)
    }


def _route_names(G: nx.DiGraph, demands: list[tuple[str, str, float]]):
    index = fabric_index(G)
    src = np.array([index.index[a] for a, _, _ in demands])
    dst = np.array([index.index[b] for _, b, _ in demands])
    size = np.array([s for _, _, s in demands])
    return route(index, src, dst, size)


@pytest.mark.parametrize("build", [leaf_spine, multi_plane, dual_homed])
def test_every_pair_matches_brute_force_ecmp(build) -> None:
    G = build()
    gpus = [n for n, d in G.nodes(data=True) if d["kind"] == "gpu"]
    for a in gpus:
        for b in gpus:
            if a == b:
                continue
            got = _as_dict(G, _route_names(G, [(a, b, 6.0)]).load_bytes)
            want = {k: v for k, v in _brute_force(G, a, b, 6.0).items() if v > 0}
            assert got.keys() == want.keys(), (a, b)
            for key, value in want.items():
                assert got[key] == pytest.approx(value, rel=1e-12), (a, b, key)


@pytest.mark.parametrize("build", [leaf_spine, multi_plane, dual_homed])
def test_many_demands_at_once_equal_the_sum_of_single_demands(build) -> None:
    G = build()
    gpus = [n for n, d in G.nodes(data=True) if d["kind"] == "gpu"]
    rng = np.random.default_rng(7)
    demands = [
        (gpus[i], gpus[j], float(rng.integers(1, 100)))
        for i, j in rng.integers(0, len(gpus), size=(40, 2))
        if i != j
    ]
    got = _route_names(G, demands).load_bytes
    total: dict[tuple[str, str], float] = defaultdict(float)
    for a, b, s in demands:
        for key, value in _brute_force(G, a, b, s).items():
            total[key] += value
    got_d = _as_dict(G, got)
    assert got_d.keys() == {k for k, v in total.items() if v > 0}
    for key, value in total.items():
        assert got_d[key] == pytest.approx(value, rel=1e-12)


def test_ecmp_splits_by_num_links() -> None:
    # leaf0 -> spines: spine0 has 2 cables, spine1 and spine2 one each: 1/2, 1/4, 1/4
    G = leaf_spine()
    load = _as_dict(G, _route_names(G, [("node0/gpu2", "node1/gpu2", 8.0)]).load_bytes)
    assert load[("leaf0", "spine0")] == pytest.approx(4.0)
    assert load[("leaf0", "spine1")] == pytest.approx(2.0)
    assert load[("leaf0", "spine2")] == pytest.approx(2.0)
    # multi-plane: the GPU's planes have 1 and 3 cables: 1/4 and 3/4 of the bytes
    P = multi_plane()
    load = _as_dict(P, _route_names(P, [("node0/gpu0", "node1/gpu0", 8.0)]).load_bytes)
    assert load[("node0/gpu0", "plane0")] == pytest.approx(2.0)
    assert load[("node0/gpu0", "plane1")] == pytest.approx(6.0)


def test_loads_conserve_bytes() -> None:
    """Every byte leaves its source once and enters its destination once; transit nodes
    forward what they receive."""
    G = topologies.build("clos", num_gpus=128, oversubscription=2)
    index = fabric_index(G)
    rng = np.random.default_rng(3)
    src = rng.choice(index.gpu_ids, 300)
    dst = rng.choice(index.gpu_ids, 300)
    size = rng.uniform(1, 10, 300)
    loads = route(index, src, dst, size)
    keep = src != dst
    out_of = np.bincount(index.edge_src, weights=loads.load_bytes, minlength=index.num_nodes)
    into = np.bincount(index.edge_dst, weights=loads.load_bytes, minlength=index.num_nodes)
    assert out_of[index.gpu_ids].sum() == pytest.approx(size[keep].sum(), rel=1e-12)
    assert into[index.gpu_ids].sum() == pytest.approx(size[keep].sum(), rel=1e-12)
    sent = np.bincount(src[keep], weights=size[keep], minlength=index.num_nodes)
    got = np.bincount(dst[keep], weights=size[keep], minlength=index.num_nodes)
    np.testing.assert_allclose(out_of[index.gpu_ids], sent[index.gpu_ids], rtol=1e-12)
    np.testing.assert_allclose(into[index.gpu_ids], got[index.gpu_ids], rtol=1e-12)
    switches = ~index.is_gpu
    np.testing.assert_allclose(out_of[switches], into[switches], rtol=1e-9, atol=1e-9)
    assert loads.unroutable == 0


def test_intra_domain_traffic_stays_on_nvlink() -> None:
    G = topologies.build("rail-optimized", num_nodes=2)
    index = fabric_index(G)
    server0 = [index.index[f"node0/gpu{g}"] for g in range(8)]
    src = np.repeat(server0, 8)
    dst = np.tile(server0, 8)
    loads = route(index, src, dst, np.ones(64))
    used = np.flatnonzero(loads.load_bytes)
    touches_nvswitch = (
        index.is_scaleup[index.edge_src[used]] | index.is_scaleup[index.edge_dst[used]]
    )
    assert touches_nvswitch.all()
    assert loads.load_bytes.sum() == pytest.approx(2 * 56)  # 56 pairs, up and down
    assert loads.max_hops == 1


def test_latency_is_the_sum_of_cable_and_switch_latencies() -> None:
    G = leaf_spine()  # gpu -> leaf -> spine -> leaf -> gpu: four edges of 1e-7 s
    loads = _route_names(G, [("node0/gpu2", "node1/gpu2", 1.0)])
    assert loads.max_latency_s == pytest.approx(4e-7, rel=1e-12)
    assert loads.max_hops == 3  # switches crossed


def test_unroutable_demands_are_counted() -> None:
    G = topologies.build("rail-only", num_nodes=2)  # rails are disconnected networks
    index = fabric_index(G)
    a, b = index.index["node0/gpu0"], index.index["node1/gpu3"]
    loads = route(index, np.array([a]), np.array([b]), np.array([1.0]))
    assert loads.unroutable == 1
    assert loads.load_bytes.sum() == 0.0  # LinkLoads: "their bytes are not in load_bytes"
    assert np.isnan(loads.path_latency_s[0])  # LinkLoads: NaN for a demand with no path
    assert loads.max_latency_s == 0.0


# -- every pair at once (the direct all-to-all) -------------------------------------------------
ALL_PAIRS = [
    leaf_spine, multi_plane, dual_homed,
    lambda: topologies.build("clos", num_gpus=256, planes=2, tiers=3),
    lambda: topologies.build("rail-optimized", num_nodes=12, su_size=4, planes=4,
                             gpus_per_node=4),
    lambda: topologies.build("rail-only", num_nodes=3),  # pairs across rails have no path
]


@pytest.mark.parametrize("build", ALL_PAIRS, ids=["leaf-spine", "multi-plane", "dual-homed",
                                                  "clos-3-tier-2-planes", "rail-4-planes",
                                                  "rail-only"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_pairs_at_once_equal_routing_each_pair(build, seed: int) -> None:
    """route_all_pairs counts pairs per source group and distance row; listing every pair
    across domains and routing them one by one gives the same loads, path latency and
    unroutable count. Domains are unions of scale-up domains (as the collectives form them),
    ranks a random subset (some groups and rows only partly used)."""
    G = build()
    index = fabric_index(G)
    rng = np.random.default_rng(seed)
    gpus = index.gpu_ids[rng.permutation(len(index.gpu_ids))]
    gpus = gpus[:max(2, int(len(gpus) * (1.0 if seed == 0 else 0.6)))]
    up = index.scaleup_switch[gpus]
    unit = np.where(up >= 0, up, index.num_nodes + gpus)  # a scale-up domain or the GPU alone
    label = rng.integers(0, max(2, len(set(unit.tolist())) // 2), size=index.num_nodes * 2)
    domain = label[unit]
    got = route_all_pairs(index, gpus, domain, 3.0)
    i, j = np.nonzero(domain[:, None] != domain[None, :])
    want = route(index, gpus[i], gpus[j], np.full(len(i), 3.0))
    np.testing.assert_allclose(got.load_bytes, want.load_bytes,
                               atol=1e-12 * want.load_bytes.max(), rtol=0)
    assert np.array_equal(got.load_bytes > 1e-12 * want.load_bytes.max(),
                          want.load_bytes > 0)
    assert got.unroutable == want.unroutable
    assert got.max_latency_s == pytest.approx(want.max_latency_s, rel=1e-12)
    assert got.max_hops == want.max_hops


@pytest.mark.parametrize("build", ALL_PAIRS[2:5], ids=["dual-homed", "clos-3-tier-2-planes",
                                                      "rail-4-planes"])
def test_all_pairs_row_by_row_equal_all_rows_at_once(build, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """Rows are worked on in blocks (bounded memory at 131k GPUs): one row per block gives
    the loads and latency of one block."""
    from fabric import routing

    index = fabric_index(build())
    gpus = index.gpu_ids
    domain = np.where(index.scaleup_switch[gpus] >= 0, index.scaleup_switch[gpus], gpus)
    whole = route_all_pairs(index, gpus, domain, 1.0)
    monkeypatch.setattr(routing, "ALL_PAIRS_BLOCK", 1)
    monkeypatch.setattr(routing, "ALL_PAIRS_INJECTIONS", 1)
    rows = route_all_pairs(index, gpus, domain, 1.0)
    np.testing.assert_allclose(rows.load_bytes, whole.load_bytes, rtol=1e-12, atol=0)
    assert rows.max_latency_s == whole.max_latency_s and rows.max_hops == whole.max_hops


def _two_leaves(gpus: list[tuple[str, str, float]], trunk_s: float = 1e-6) -> nx.DiGraph:
    """Two leaves under one spine, GPUs (name, leaf, cable latency) cabled to them."""
    G = nx.DiGraph()
    for name, tier in (("L1", 1), ("L2", 1), ("S", 2)):
        _switch(G, name, tier)
    _cable(G, "L1", "S", latency_s=trunk_s)
    _cable(G, "L2", "S", latency_s=trunk_s)
    for i, (name, leaf, lat) in enumerate(gpus):
        _gpu(G, name, i, 0)
        _cable(G, name, leaf, latency_s=lat)
    return G


def _pairs_compared(G: nx.DiGraph, names: str, domain: list[int], receivers=None, weight=None):
    index = fabric_index(G)
    gpus = np.array([index.index[x] for x in names])
    dom = np.asarray(domain)
    recv = np.arange(len(gpus)) if receivers is None else np.asarray(receivers)
    w = np.ones(len(recv)) if weight is None else np.asarray(weight, dtype=float)
    got = route_all_pairs(index, gpus, dom, 2.0, receivers=receivers, weight=weight)
    i, k = np.nonzero(dom[:, None] != dom[recv][None, :])
    want = route(index, gpus[i], gpus[recv[k]], 2.0 * w[k])
    np.testing.assert_allclose(got.load_bytes, want.load_bytes, rtol=1e-12, atol=1e-12)
    return got, want


@pytest.mark.parametrize("case", ["receiver-in-own-domain", "members-first-hops-differ",
                                  "float-weights-inside-a-domain"])
def test_all_pairs_latency_counts_only_pairs_that_exist(case: str) -> None:
    """The longest path is over the pairs there are: a slow last hop into a GPU that only its
    own domain would send to does not count; a source group's members with slower cables
    do; a (group, row) whose pairs are all inside a domain sends nothing, whatever rounding
    the receivers' weights leave (found by a second review)."""
    if case == "receiver-in-own-domain":
        G = _two_leaves([("a", "L1", 1e-7), ("b", "L2", 1e-5), ("c", "L2", 1e-7)])
        got, want = _pairs_compared(G, "abc", [0, 0, 1])
    elif case == "members-first-hops-differ":
        G = _two_leaves([("x", "L1", 1e-7), ("y", "L1", 1e-6), ("z", "L2", 1e-7)])
        got, want = _pairs_compared(G, "xyz", [0, 1, 2], receivers=np.array([2]))
    else:
        G = _two_leaves([("x", "L1", 1e-5), ("y", "L1", 1e-5), ("z", "L1", 1e-5),
                         ("w", "L2", 1e-7)], trunk_s=0.0)
        got, want = _pairs_compared(G, "xyzw", [0, 0, 0, 1], receivers=np.array([0, 1, 2]),
                                    weight=np.array([1.910885061964363, 0.8093601412916109,
                                                     0.12292057180858407]))
    assert got.max_latency_s == pytest.approx(want.max_latency_s, rel=1e-12)
    assert got.max_hops == want.max_hops and got.unroutable == want.unroutable


@pytest.mark.parametrize(("args", "message"), [
    ({"gpus": [0, 0]}, "each GPU once"),
    ({"weight": [np.nan]}, "finite weight"),
    ({"receivers": [0, 0]}, "distinct positions"),
    ({"size_bytes": float("inf")}, "size_bytes"),
])
def test_all_pairs_refuses_bad_input(args: dict, message: str) -> None:
    index = fabric_index(multi_plane())
    gpus = list(index.gpu_ids[:2])
    call = {"gpus": gpus, "domain": [0, 1], "size_bytes": 1.0, **args}
    if "weight" in args:
        call["receivers"] = [0]
    call["gpus"] = np.asarray([gpus[i] for i in call["gpus"]] if "gpus" in args
                              else call["gpus"])
    with pytest.raises(ValueError, match=message):
        route_all_pairs(index, call.pop("gpus"), np.asarray(call.pop("domain")), **call)


def test_all_pairs_inside_one_domain_load_nothing() -> None:
    index = fabric_index(multi_plane())
    got = route_all_pairs(index, index.gpu_ids, np.zeros(len(index.gpu_ids)), 1.0)
    assert not got.load_bytes.any() and got.unroutable == 0


# -- path latency per demand ---------------------------------------------------------------


def two_pairs() -> nx.DiGraph:
    """a -> b over one leaf with a 10 us first hop; c -> d over leaf1 -> spine -> leaf2, 2 us."""
    G = nx.DiGraph()
    for name in ("leaf0", "leaf1", "leaf2"):
        _switch(G, name, 1)
    _switch(G, "spine", 2)
    for i, name in enumerate("abcd"):
        _gpu(G, name, i, 0)
    for u, v in (("a", "leaf0"), ("b", "leaf0"), ("c", "leaf1"), ("d", "leaf2")):
        _cable(G, u, v, latency_s=0.0)
    for leaf in ("leaf1", "leaf2"):
        _cable(G, leaf, "spine", latency_s=1e-6)
    G.edges["a", "leaf0"]["latency_s"] = 10e-6
    return G


def test_path_latency_is_per_demand() -> None:
    """(10 us first hop + 0 transit) and (0 + 2 us transit) is 10 us, not 12 us (issue 9)."""
    G = two_pairs()
    loads = _route_names(G, [("a", "b", 1.0), ("c", "d", 1.0)])
    np.testing.assert_allclose(loads.path_latency_s, [10e-6, 2e-6], rtol=1e-9)
    assert loads.max_latency_s == pytest.approx(10e-6, rel=1e-9)
    # each demand alone has the same latency as in the batch
    assert _route_names(G, [("c", "d", 1.0)]).max_latency_s == pytest.approx(2e-6, rel=1e-9)


def _reference_latency_s(G: nx.DiGraph, src: str, dst: str) -> float:
    """Least-latency path by networkx: through a shared tier-0 switch, or else over the
    scale-out network (switches and NICs; GPUs only as the two ends; tier-0 excluded)."""
    up_s = {v for v in G.successors(src) if G.nodes[v].get("tier") == 0}
    up_d = {v for v in G.predecessors(dst) if G.nodes[v].get("tier") == 0}
    common = sorted(up_s & up_d)
    if common:
        return G.edges[src, common[0]]["latency_s"] + G.edges[common[0], dst]["latency_s"]
    keep = [
        n
        for n, d in G.nodes(data=True)
        if n in (src, dst) or (d["kind"] != "gpu" and d.get("tier") != 0)
    ]
    try:
        return nx.shortest_path_length(G.subgraph(keep), src, dst, weight="latency_s")
    except nx.NetworkXNoPath:
        return float("nan")


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("rail-optimized", {"num_nodes": 4}),  # NVLink pairs and rail leaves under spines
        ("clos", {"num_gpus": 64, "oversubscription": 2, "gpus_per_node": 1, "scaleup": None}),
        ("fat-tree", {"k": 4}),
        ("single-hop", {"num_gpus": 16, "planes": 2}),  # GPUs on two planes
    ],
)
def test_path_latency_matches_networkx_per_pair(family: str, params: dict) -> None:
    G = topologies.build(family, **params)
    index = fabric_index(G)
    gpus = index.gpu_names
    pairs = [(a, b) for a in gpus for b in gpus if a != b]
    loads = _route_names(G, [(a, b, 1.0) for a, b in pairs])
    want = np.array([_reference_latency_s(G, a, b) for a, b in pairs])
    np.testing.assert_allclose(loads.path_latency_s, want, rtol=1e-9, atol=1e-15)
    # the largest over any subset of demands is the largest of their own latencies
    rng = np.random.default_rng(5)
    for _ in range(5):
        pick = rng.choice(len(pairs), size=7, replace=False)
        subset = _route_names(G, [(*pairs[i], 1.0) for i in pick])
        assert subset.max_latency_s == pytest.approx(want[pick].max(), rel=1e-9)


def test_index_is_cached_per_graph_and_rebuilt_when_it_changes() -> None:
    G = leaf_spine()
    first = fabric_index(G)
    assert fabric_index(G) is first
    _switch(G, "extra", 1)
    _cable(G, "extra", "spine0")
    assert fabric_index(G) is not first


def test_rails_read_at_c_speed_match_the_one_at_a_time_reading():
    # builders' GPUs: integer rails, read in one pass
    G = topologies.rail_optimized(4, gpus_per_node=4)
    gpus = [d for _, d in G.nodes(data=True) if d["kind"] == "gpu"]
    assert _rails(gpus).tolist() == [d["rail"] for d in gpus] == [0, 1, 2, 3] * 4
    # a user's GPUs: no rail (their local index, else 0), or a rail read from text
    assert _rails([{"local": 3}, {"rail": 2}, {}]).tolist() == [3, 2, 0]
    assert _rails([{"rail": "4"}, {"rail": 1}]).tolist() == [4, 1]
    assert fabric_index(G).rail[fabric_index(G).gpu_ids].tolist() == [0, 1, 2, 3] * 4
