"""Properties every builder's graph has, for random small parameters; build() and for_gpus()."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.catalog import default_catalog
from fabric.errors import InfeasibleError
from fabric.graph import gpu_nodes, validate_graph
from topologies import FAMILIES, build, for_gpus

SCALEUP = st.sampled_from([None, "nvswitch-h100"])
GPN = st.sampled_from([1, 2, 4, 8])


@st.composite
def fat_tree_case(draw):
    k = draw(st.sampled_from([2, 4, 6, 8]))
    gpn = draw(st.sampled_from([g for g in (1, 2, 4) if (k // 2) % g == 0]))
    params = {"k": k, "gpus_per_node": gpn, "scaleup": draw(SCALEUP)}
    return "fat-tree", params, k**3 // 4


@st.composite
def clos_case(draw):
    gpn = draw(GPN)
    num_gpus = gpn * draw(st.integers(1, 48))
    params = {"num_gpus": num_gpus, "gpus_per_node": gpn, "scaleup": draw(SCALEUP),
              "tiers": draw(st.sampled_from([None, 2, 3])),
              "oversubscription": draw(st.sampled_from([1, 1.5, 3, 7]))}
    return "clos", params, num_gpus


@st.composite
def rail_optimized_case(draw):
    gpn = draw(GPN)
    su_size = draw(st.integers(1, 32))
    params = {"num_nodes": draw(st.integers(1, 80)), "gpus_per_node": gpn, "su_size": su_size,
              "reserved_leaf_ports": draw(st.integers(0, (su_size - 1) * gpn)),
              "scaleup": draw(SCALEUP)}
    return "rail-optimized", params, params["num_nodes"] * gpn


@st.composite
def rail_only_case(draw):
    gpn = draw(GPN)
    params = {"num_nodes": draw(st.integers(1, 160)), "gpus_per_node": gpn}
    return "rail-only", params, params["num_nodes"] * gpn


@st.composite
def single_hop_case(draw):
    gpn = draw(GPN)
    num_gpus = gpn * draw(st.integers(1, 512 // gpn))
    params = {"num_gpus": num_gpus, "gpus_per_node": gpn, "planes": draw(st.integers(1, 3)),
              "scaleup": draw(SCALEUP)}
    return "single-hop", params, num_gpus


CASES = st.one_of(fat_tree_case(), clos_case(), rail_optimized_case(), rail_only_case(),
                  single_hop_case())


def check_invariants(G: nx.DiGraph, family: str, params: dict, num_gpus: int) -> None:
    assert validate_graph(G) is G
    assert G.graph["topology"] == family and G.graph["catalog"] == default_catalog().version
    nodes = G.nodes
    # every edge has its reverse, with the same cable bundle
    for u, v, d in G.edges(data=True):
        back = G.edges[v, u]
        assert (back["num_links"], back["link"], back["bandwidth_bytes_per_s"]) == (
            d["num_links"], d["link"], d["bandwidth_bytes_per_s"])
    # GPU count and canonical order: node-major, then local index
    gpus = gpu_nodes(G)
    assert len(gpus) == num_gpus
    gpn = params.get("gpus_per_node", 1)
    assert gpus == [f"node{i // gpn}/gpu{i % gpn}" for i in range(num_gpus)]
    # switch port use within radix, counting ports held for appliances and the extra ports
    # that uplinks faster than the switch's own take
    for n, d in nodes(data=True):
        if d["kind"] == "switch":
            used = (sum(e["num_links"] for e in G.succ[n].values()) + d.get("reserved_ports", 0)
                    + d.get("uplink_extra_ports", 0))
            assert used <= d["radix"]
    # one scale-out link per plane (single-hop) or rail, one NVLink edge when scaleup is set
    planes = params.get("planes", 1)
    # the builder records the scale-up switch it used ("auto" resolves to one, or to None for
    # a GPU without NVLink or one GPU per node)
    scaleup = G.graph["params"].get("scaleup")
    if params.get("scaleup") not in (None, "auto"):
        assert scaleup == params["scaleup"]
    for g in gpus:
        out = [(v, e) for v, e in G.succ[g].items()]
        scale_out = [(v, e) for v, e in out if nodes[v]["tier"] > 0]
        assert len(scale_out) == planes and all(e["num_links"] == 1 for _, e in scale_out)
        assert all(nodes[v]["tier"] == 1 for v, _ in scale_out)
        nvlink = [v for v, _ in out if nodes[v]["tier"] == 0]
        assert nvlink == ([f"node{nodes[g]['node']}/nvswitch"] if scaleup else [])
        assert nodes[g]["rail"] == nodes[g]["local"]
    # the scale-out network (no GPUs, no tier-0 switches) joins every pair of GPUs, except
    # rail-only across rails
    fabric = G.subgraph(n for n, d in nodes(data=True) if d["kind"] == "switch" and d["tier"] > 0)
    component = {}
    for i, comp in enumerate(nx.weakly_connected_components(fabric)):
        component.update(dict.fromkeys(comp, i))
    reach = {g: {component[v] for v, e in G.succ[g].items() if nodes[v]["tier"] > 0} for g in gpus}
    if family == "rail-only":
        by_rail: dict[int, set] = {}
        for g in gpus:
            by_rail.setdefault(nodes[g]["rail"], set()).update(reach[g])
        assert all(len(c) == 1 for c in by_rail.values())
        assert len(set().union(*by_rail.values())) == len(by_rail)
    else:
        assert set.intersection(*reach.values())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CASES)
def test_invariants(case):
    family, params, num_gpus = case
    G = build(family, **params)
    check_invariants(G, family, params, num_gpus)
    # G.graph records the call: rebuilding from it gives the same graph
    again = build(G.graph["topology"], **G.graph["params"])
    assert list(again.nodes(data=True)) == list(G.nodes(data=True))
    assert list(again.edges(data=True)) == list(G.edges(data=True))


@pytest.mark.parametrize(
    ("family", "num_gpus", "params", "expected"),
    [
        ("fat-tree", 16, {}, 16),  # k=4
        ("fat-tree", 17, {}, 54),  # k=6: 6^3/4
        ("fat-tree", 100, {"gpus_per_node": 2}, 128),  # k must be a multiple of 4: k=8
        ("clos", 100, {}, 104),  # 13 servers of 8
        ("rail-optimized", 250, {}, 256),  # 32 servers
        ("rail-only", 9, {"gpus_per_node": 4}, 12),
        ("single-hop", 500, {}, 504),
    ],
)
def test_for_gpus_builds_the_smallest_that_holds(family, num_gpus, params, expected):
    G = for_gpus(family, num_gpus, **params)
    assert len(gpu_nodes(G)) == expected
    assert G.graph["topology"] == family


@pytest.mark.parametrize(
    ("family", "num_gpus", "params", "message"),
    [
        ("fat-tree", 70000, {}, "a fat-tree of 70000 GPUs needs k >= 66, but qm9700 has radix 64 "
                                "(at most 65536 GPUs); use a switch with radix >= 66"),
        ("single-hop", 1024, {}, "single-hop for 1024 GPUs needs a switch radix >= 1024; th6-200 "
                                 "has 512"),
        ("rail-only", 8 * 70000, {}, "3 tiers of radix-64 switches hold at most 64 pods"),
    ],
)
def test_for_gpus_infeasible(family, num_gpus, params, message):
    with pytest.raises(InfeasibleError) as err:
        for_gpus(family, num_gpus, **params)
    assert message in str(err.value)


def test_families_and_build_errors():
    assert sorted(FAMILIES) == ["clos", "fat-tree", "rail-only", "rail-optimized", "single-hop"]
    with pytest.raises(ValueError, match="unknown topology family 'torus'; known: clos, fat-tree, "
                                         "rail-only, rail-optimized, single-hop"):
        build("torus", num_gpus=8)
    with pytest.raises(ValueError, match="unknown parameter.s. radix for clos; known: num_gpus"):
        build("clos", num_gpus=8, radix=64)
    with pytest.raises(ValueError, match="for_gpus picks k for fat-tree; do not pass it"):
        for_gpus("fat-tree", 16, k=4)
    with pytest.raises(ValueError, match="num_gpus must be an integer >= 1, got 0"):
        for_gpus("clos", 0)


NVL72 = {"gpus_per_node": 72, "scaleup": "nvlink-switch-tray", "gpu": "b200"}


@pytest.mark.parametrize(
    ("family", "params", "num_gpus"),
    [
        # NVL72 racks (NVIDIA GB200 NVL72) as the scale-up domain of each family; a fat-tree needs
        # k/2 to be a multiple of 72 (k >= 144), too large for a test
        ("clos", {"num_gpus": 288, "switch": "q3400", **NVL72}, 288),
        ("rail-optimized", {"num_nodes": 4, **NVL72}, 288),
        ("rail-only", {"num_nodes": 4, **NVL72}, 288),
        ("single-hop", {"num_gpus": 288, **NVL72}, 288),
        ("fat-tree", {"k": 8, "gpus_per_node": 4, "scaleup": "nvswitch-b200", "gpu": "b200"}, 128),
    ],
)
def test_scale_up_domains_compose_with_every_family(family, params, num_gpus):
    G = build(family, **params)
    check_invariants(G, family, params, num_gpus)
    gpn = params["gpus_per_node"]
    nvlink = G.edges["node0/gpu0", "node0/nvswitch"]
    assert (nvlink["num_links"], nvlink["link"]) == (18, "nvlink5")  # B200: 18 NVLink5 links
    assert G.nodes["node0/nvswitch"]["tier"] == 0
    assert G.out_degree("node0/nvswitch") == gpn
