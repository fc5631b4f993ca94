"""Al-Fares k-ary fat-tree: exact closed-form counts, wiring, and bad input (Al-Fares 2008)."""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from fabric.catalog import default_catalog
from fabric.graph import summarize
from topologies import fat_tree

EVEN_K = list(range(4, 66, 2))


LAYERS = {(-1, 1): "gpu-leaf", (1, 2): "leaf-spine", (2, 3): "spine-core", (-1, 0): "gpu-scale-up"}


def census(G: nx.DiGraph) -> tuple[Counter, Counter, set]:
    """Switches per tier, cables per layer, and the set of port counts of every switch."""
    tier = {n: d.get("tier", -1) for n, d in G.nodes(data=True)}
    tiers = Counter(t for t in tier.values() if t >= 0)
    cables: Counter = Counter()
    for u, nbrs in G.succ.items():
        for v, d in nbrs.items():
            if tier[u] < tier[v]:
                cables[LAYERS[tier[u], tier[v]]] += d["num_links"]
    ports = {sum(d["num_links"] for d in G.succ[n].values()) for n, t in tier.items() if t >= 0}
    return tiers, cables, ports


@pytest.mark.parametrize("k", [pytest.param(k, marks=pytest.mark.slow) if k > 32 else k
                               for k in EVEN_K])
def test_al_fares_counts(k):
    # Al-Fares 2008: k^3/4 hosts; k^2/2 edge, k^2/2 aggregation, (k/2)^2 core = 5k^2/4 switches;
    # every switch uses its k ports; k^3/4 cables per layer.
    G = fat_tree(k)
    tiers, cables, ports = census(G)
    assert sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu") == k**3 // 4
    assert tiers == {1: k * k // 2, 2: k * k // 2, 3: (k // 2) ** 2}
    assert sum(tiers.values()) == 5 * k * k // 4
    assert ports == {k}
    assert cables == {"gpu-leaf": k**3 // 4, "leaf-spine": k**3 // 4, "spine-core": k**3 // 4}


@pytest.mark.slow
def test_k48_is_the_papers_27648_hosts_and_2880_switches():
    # Al-Fares abstract: 27,648 hosts from 48-port switches; 2,880 switches,
    # not the 3,456 a calculator page claims.
    G = fat_tree(48, switch="gige48")
    tiers, _, _ = census(G)
    assert sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu") == 27_648
    assert sum(tiers.values()) == 2_880
    assert tiers[1] + tiers[2] == 2_304


@pytest.mark.parametrize("k", [4, 6, 8])
def test_core_i_port_j_goes_to_pod_j_and_aggs_stride_k_over_2(k):
    # Al-Fares 2008 wiring rule: core i has one link to each pod; aggregation switch a of every pod
    # reaches cores a*k/2 .. a*k/2 + k/2 - 1.
    G = fat_tree(k)
    half = k // 2
    for i in range(half * half):
        pods = sorted(G.nodes[v]["pod"] for v in G.succ[f"core{i}"])
        assert pods == list(range(k))
        assert all(v.endswith(f"/agg{i // half}") for v in G.succ[f"core{i}"])
    for p in range(k):
        for a in range(half):
            cores = sorted(int(v[4:]) for v in G.succ[f"pod{p}/agg{a}"] if v.startswith("core"))
            assert cores == list(range(a * half, (a + 1) * half))


@pytest.mark.parametrize("k", [4, 6, 8])
def test_equal_cost_paths_between_pods_are_k_over_2_squared(k):
    # Al-Fares 2008: (k/2)^2 equal-cost shortest paths between hosts in different pods.
    G = fat_tree(k)
    src, dst = "node0/gpu0", f"node{k**3 // 4 - 1}/gpu0"
    assert G.nodes[src]["pod"] != G.nodes[dst]["pod"]
    paths = list(nx.all_shortest_paths(G, src, dst))
    assert len(paths) == (k // 2) ** 2
    assert {len(p) for p in paths} == {7}  # GPU, edge, agg, core, agg, edge, GPU


def test_servers_share_an_edge_switch_and_their_nvswitch():
    G = fat_tree(8, gpus_per_node=4, scaleup="nvswitch-h100")
    for n in range(8**3 // 4 // 4):
        edges = {v for g in range(4) for v in G.succ[f"node{n}/gpu{g}"]
                 if G.nodes[v]["tier"] == 1}
        assert len(edges) == 1
        assert G.edges[f"node{n}/gpu0", f"node{n}/nvswitch"]["num_links"] == 18  # H100: 18 NVLink4
    assert list(G)[:5] == ["node0/gpu0", "node0/gpu1", "node0/gpu2", "node0/gpu3", "node1/gpu0"]


def test_edge_latency_charges_the_switch_entered():
    cat = default_catalog()
    G = fat_tree(4)
    link, sw = cat.links["ndr400"], cat.switches["qm9700"]
    up = G.edges["node0/gpu0", "pod0/edge0"]
    assert up["latency_s"] == pytest.approx(link.latency_s + sw.latency_s)
    assert G.edges["pod0/edge0", "node0/gpu0"]["latency_s"] == pytest.approx(link.latency_s)
    assert G.edges["pod0/edge0", "node0/gpu0"]["bandwidth_bytes_per_s"] == 50e9  # NDR 400 Gb/s


def test_summary_of_k4():
    s = summarize(fat_tree(4))
    assert s.switches_by_tier == {"leaf": 8, "spine": 8, "core": 4}
    assert s.cables_by_tier == {"gpu-leaf": 16, "leaf-spine": 16, "spine-core": 16}
    assert s.hop_diameter == 5
    # non-blocking bisection = N/2 x 400 Gb/s = 8 x 50 GB/s
    assert s.bisection_bandwidth_bytes_per_s == pytest.approx(8 * 50e9)
    assert s.params == {"k": 4, "switch": "qm9700", "gpus_per_node": 1, "scaleup": None,
                        "gpu": "h100"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 5}, "k must be an even integer >= 2, got 5"),
        ({"k": 0}, "k must be an even integer >= 2, got 0"),
        ({"k": 4.0}, "k must be an even integer >= 2, got 4.0"),
        ({"k": True}, "k must be an even integer >= 2, got True"),
        ({"k": 66}, "switch 'qm9700' has radix 64, too small for k=66; its radix allows k <= 64"),
        ({"k": 8, "gpus_per_node": 3}, "gpus_per_node must divide k/2 = 4"),
        ({"k": 4, "gpus_per_node": 0}, "gpus_per_node must be an integer >= 1, got 0"),
        ({"k": 4, "switch": "nope"}, "unknown switch model 'nope'; known: "),
        ({"k": 4, "gpu": "nope"}, "unknown gpu 'nope'; known: a100, a100-40gb"),
        ({"k": 4, "switch": "nvswitch-h100"}, "switch must be a scale-out switch model"),
        ({"k": 4, "scaleup": "qm9700"}, "scaleup must be a scale-up switch model or None"),
        ({"k": 4, "scaleup": "nvlink-switch-tray"}, "uses nvlink5 but gpu 'h100' has nvlink4"),
        ({"k": 48, "gpus_per_node": 12, "scaleup": "nvswitch-h100"},
         "radix 144, too small for gpus_per_node=12 x 18 NVLink links = 216 ports"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=None) as err:
        fat_tree(**kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
