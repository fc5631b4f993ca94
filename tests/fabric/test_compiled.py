"""The array passes over a compiled fabric against plain per-edge networkx loops.

The fabric index (:class:`fabric.routing.FabricIndex`), the summary (:func:`fabric.graph.summarize`)
and the bill of materials (:func:`fabric.cost.bill_of_materials`) read a graph as arrays; each
check here recomputes what they report the slow, obvious way, on every family at small sizes and
on multi-plane and edited graphs.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
import pytest

import topologies
from fabric.cost import bill_of_materials
from fabric.graph import TIER_NAMES, cable_class, summarize
from fabric.routing import fabric_index

GRAPHS = [
    ("rail-optimized", {"num_nodes": 6}),
    ("rail-optimized", {"num_nodes": 70, "su_size": 4}),
    ("rail-only", {"num_nodes": 20}),
    ("clos", {"num_gpus": 320, "oversubscription": 2.0}),
    ("fat-tree", {"k": 6}),
    ("single-hop", {"num_gpus": 16, "planes": 2}),
    ("single-hop", {"num_gpus": 12, "gpus_per_node": 4, "planes": 3}),
]


@pytest.fixture(params=GRAPHS, ids=lambda p: f"{p[0]}-{'-'.join(map(str, p[1].values()))}")
def graph(request) -> nx.DiGraph:
    family, options = request.param
    return topologies.build(family, **options)


def _edited(G: nx.DiGraph) -> nx.DiGraph:
    """A plain DiGraph copy with one cable bundle widened (a user edit)."""
    H = nx.DiGraph(G)
    u, v = max(((u, v) for u, v in H.edges() if H.nodes[u]["kind"] == "switch"
                and H.nodes[u]["tier"] >= 1 and H.nodes[v].get("tier", 1) >= 1),
               key=lambda e: H.nodes[e[1]]["kind"] == "switch")  # switch to switch if any
    H.edges[u, v]["num_links"] += 1
    H.edges[v, u]["num_links"] += 1
    for n in (u, v):
        if H.nodes[n]["kind"] == "switch":
            H.nodes[n]["radix"] += 1
    return H


def _check_index(G: nx.DiGraph) -> None:
    index = fabric_index(G)
    edges = list(G.edges(data=True))
    position = {n: i for i, n in enumerate(G)}
    assert index.edge_src.tolist() == [position[u] for u, _, _ in edges]
    assert index.edge_dst.tolist() == [position[v] for _, v, _ in edges]
    assert index.edge_capacity_bytes_per_s.tolist() == [
        d["bandwidth_bytes_per_s"] * d["num_links"] for _, _, d in edges]
    assert index.edge_latency_s.tolist() == [d["latency_s"] for _, _, d in edges]
    assert [index.link_names[i] for i in index.edge_link_id] == [d["link"] for _, _, d in edges]
    kinds = {"gpu": 0, "nic": 1, "switch": 2}
    assert index.kind.tolist() == [kinds[d["kind"]] for _, d in G.nodes(data=True)]
    # scale-out in-edges of each GPU, and its class: GPUs share one exactly when they have the
    # same single scale-out predecessor
    preds: dict[int, list[int]] = {}
    for e, (u, v, _) in enumerate(edges):
        if G.nodes[v]["kind"] == "gpu" and not (
                G.nodes[u]["kind"] == "gpu"
                or (G.nodes[u]["kind"] == "switch" and G.nodes[u]["tier"] == 0)):
            preds.setdefault(position[v], []).append(e)
    assert {g: e.tolist() for g, e in index.in_edges_of.items()} == preds
    for g, e in preds.items():
        assert index.single_in[g] == (e[0] if len(e) == 1 else -1)
        assert index.in_latency[g] == max(edges[i][2]["latency_s"] for i in e)
    gpus = [position[g] for g, k in G.nodes(data="kind") if k == "gpu"]
    for a in gpus:
        for b in gpus[:40]:
            if a in preds and b in preds:
                shared = (len(preds[a]) == 1 and len(preds[b]) == 1
                          and edges[preds[a][0]][0] == edges[preds[b][0]][0])
                assert (index.class_of[a] == index.class_of[b]) == (shared or a == b)
    seen = [int(index.class_of[g]) for g in gpus if index.class_of[g] >= 0]
    first = list(dict.fromkeys(seen))
    assert first == list(range(len(first)))  # numbered in order of first appearance


def test_the_index_arrays_are_the_graph_read_edge_by_edge(graph):
    _check_index(graph)
    _check_index(_edited(graph))


def _check_summary(G: nx.DiGraph) -> None:
    s = summarize(G)
    position = {n: i for i, n in enumerate(G)}
    by_class: Counter[str] = Counter()
    by_link: Counter[str] = Counter()
    for u, v, d in G.edges(data=True):
        if position[u] < position[v]:
            by_class[cable_class(G, u, v)] += d["num_links"]
            by_link[d["link"]] += d["num_links"]
    assert s.cables_by_tier == dict(sorted(by_class.items()))
    assert s.cables_by_link == dict(sorted(by_link.items()))
    used: Counter[str] = Counter()
    for n, d in G.nodes(data=True):
        if d["kind"] == "switch":
            used[TIER_NAMES[d["tier"]]] += sum(e["num_links"] for e in G.succ[n].values()) + int(
                d.get("reserved_ports", 0)) + int(d.get("uplink_extra_ports", 0))
    assert s.ports_used_by_tier == dict(used)


def test_the_summary_counts_are_the_graph_read_edge_by_edge(graph):
    _check_summary(graph)
    _check_summary(_edited(graph))


def test_bill_of_materials_cables_and_nics_follow_the_graph(graph):
    """Every scale-out cable bundle is priced once under its class, every host link needs a NIC
    port, and a widened bundle adds its cable to the bill."""
    G = graph
    bom = bill_of_materials(G)
    summary = summarize(G)
    in_node = {"nvlink", "pcie"}
    from fabric.catalog import default_catalog

    links = default_catalog().links
    position = {n: i for i, n in enumerate(G)}
    scaleout: Counter[str] = Counter()
    host_links = 0
    for u, v, d in G.edges(data=True):
        if position[u] < position[v] and links[d["link"]].medium not in in_node:
            kinds = {G.nodes[u]["kind"], G.nodes[v]["kind"]}
            if kinds <= {"gpu", "nic"}:
                continue
            scaleout[cable_class(G, u, v)] += d["num_links"]
            host_links += d["num_links"] if kinds & {"gpu", "nic"} else 0
    cables = Counter()
    for item in bom.items:
        if item.category == "cable" and not item.tier.startswith("appliance"):
            cables[item.tier] += item.quantity
    assert cables == scaleout
    assert sum(summary.cables_by_tier[c] for c in scaleout) == sum(scaleout.values())
    nic_ports = sum(i.quantity * default_catalog().nics[i.key].ports
                    for i in bom.items if i.category == "nic")
    assert host_links <= nic_ports < host_links + bom.num_gpus * 2
    wider = bill_of_materials(_edited(G))
    assert wider.quantity("cable") == bom.quantity("cable") + 1


def test_array_passes_agree_on_a_larger_fabric():
    G = topologies.build("fat-tree", k=12)
    _check_summary(G)
    index = fabric_index(G)
    assert int(np.bincount(index.class_of[index.class_of >= 0]).max()) == 6  # k/2 per edge
