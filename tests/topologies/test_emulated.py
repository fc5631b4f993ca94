"""The emulated cluster's fabric (topologies.emulated): counts, rates, rejected arguments.

Reference numbers are closed forms of the layout: one cable (two directed edges) per host plus,
for a tree, one trunk; the trunk's default rate is half the link rate.
"""

from __future__ import annotations

import pytest

from fabric.graph import validate_graph
from topologies.emulated import DEFAULT_LINK_RATE_BYTES_PER_S, MAX_HOSTS, emulated_fabric


@pytest.mark.parametrize(("kind", "num_hosts", "num_switches", "num_edges"),
                         [("flat", 2, 1, 4), ("flat", 4, 1, 8), ("tree", 4, 2, 10),
                          ("tree", 8, 2, 18)])
def test_emulated_fabric_counts(kind: str, num_hosts: int, num_switches: int,
                                num_edges: int) -> None:
    # counts: one cable (two directed edges) per host, plus the trunk (2 edges) for a tree
    G = emulated_fabric(kind, num_hosts=num_hosts, link_rate_bytes_per_s=25e6)
    gpus = [n for n, k in G.nodes(data="kind") if k == "gpu"]
    switches = [n for n, k in G.nodes(data="kind") if k == "switch"]
    assert len(gpus) == num_hosts
    assert len(switches) == num_switches
    assert G.number_of_edges() == num_edges
    assert [G.nodes[g]["node"] for g in gpus] == list(range(num_hosts))
    assert all(G.nodes[g]["local"] == 0 for g in gpus)
    assert {d["link"] for _, _, d in G.edges(data=True)} == {"veth"}
    assert G.graph["topology"] == "emulated"
    assert G.graph["params"]["kind"] == kind


def test_emulated_fabric_tree_trunk_is_oversubscribed() -> None:
    G = emulated_fabric("tree", num_hosts=4, link_rate_bytes_per_s=25e6)
    # 2 hosts per leaf at 25 MB/s = 50 MB/s offered, trunk at 25/2 MB/s: 4:1
    assert G["leaf0"]["leaf1"]["bandwidth_bytes_per_s"] == pytest.approx(12.5e6)
    assert G["node0/gpu0"]["leaf0"]["bandwidth_bytes_per_s"] == pytest.approx(25e6)
    assert G["node3/gpu0"]["leaf1"]["bandwidth_bytes_per_s"] == pytest.approx(25e6)
    G2 = emulated_fabric("tree", num_hosts=4, link_rate_bytes_per_s=25e6,
                         trunk_rate_bytes_per_s=5e6)
    assert G2["leaf1"]["leaf0"]["bandwidth_bytes_per_s"] == pytest.approx(5e6)


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"kind": "ring"}, "kind"),
    ({"num_hosts": 1}, "num_hosts"),
    ({"kind": "tree", "num_hosts": 5}, "even"),
    ({"link_rate_bytes_per_s": 0.0}, "link_rate_bytes_per_s"),
    ({"kind": "tree", "trunk_rate_bytes_per_s": -1.0}, "trunk_rate_bytes_per_s"),
    ({"latency_s": -1e-6}, "latency_s"),
])
def test_emulated_fabric_rejects(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        emulated_fabric(**kwargs)


@pytest.mark.parametrize("num_hosts", [1, MAX_HOSTS + 1, 4.0, True])
def test_emulated_fabric_host_count_bounds(num_hosts) -> None:
    with pytest.raises(ValueError, match=f"num_hosts must be an integer in 2..{MAX_HOSTS}"):
        emulated_fabric(num_hosts=num_hosts)


def test_emulated_fabric_defaults_and_record() -> None:
    G = emulated_fabric()
    assert validate_graph(G) is G
    assert G.graph["params"] == {"kind": "flat", "num_hosts": 4,
                                 "link_rate_bytes_per_s": DEFAULT_LINK_RATE_BYTES_PER_S,
                                 "trunk_rate_bytes_per_s": None, "latency_s": 0.0}
    # the recorded params rebuild the same graph
    params = dict(G.graph["params"])
    kind = params.pop("kind")
    again = emulated_fabric(kind, **params)
    assert list(again.nodes(data=True)) == list(G.nodes(data=True))
    assert list(again.edges(data=True)) == list(G.edges(data=True))


def test_emulated_fabric_latency_on_every_edge() -> None:
    G = emulated_fabric("tree", num_hosts=4, latency_s=2e-6)
    assert {d["latency_s"] for _, _, d in G.edges(data=True)} == {2e-6}
    assert all(d["num_links"] == 1 for _, _, d in G.edges(data=True))
    # hosts i < num_hosts/2 on leaf0, the rest on leaf1
    assert [next(iter(G.succ[f"node{i}/gpu0"])) for i in range(4)] == [
        "leaf0", "leaf0", "leaf1", "leaf1"]
