"""Fabric health: slow links, oversubscription per tier, asymmetric leaves, missing cables."""

from __future__ import annotations

import networkx as nx
import pytest

import topologies
from topologies.discovery import discovery_fabric, parse_discovery
from topologies.discovery.synth import ibnetdiscover_text
from topologies.health import check_fabric


def _imported(text: str) -> nx.DiGraph:
    return discovery_fabric(parse_discovery(text)).graph


@pytest.mark.parametrize("G", [
    pytest.param(topologies.fat_tree(8), id="fat-tree"),
    pytest.param(topologies.clos(1024, tiers=2), id="leaf-spine"),
    pytest.param(topologies.clos(512, tiers=3), id="clos-3"),
    pytest.param(topologies.rail_optimized(64), id="rail"),
])
def test_built_families_are_healthy(G: nx.DiGraph) -> None:
    report = check_fabric(G)
    assert report.num_problems == 0
    assert all(o.ratio == pytest.approx(1.0) for o in report.oversubscription)


@pytest.mark.parametrize("ratio", [3.0, 7.0])
def test_oversubscription_is_the_leaf_down_up_ratio(ratio: float) -> None:
    # leaf_ports(64, r, 8): 48/16 at 3:1, 56/8 at 7:1 (topologies.clos)
    G = topologies.clos(1024, tiers=2, oversubscription=ratio)
    leaf = check_fabric(G).oversubscription[0]
    assert leaf.tier == "leaf"
    assert leaf.worst_ratio == pytest.approx(ratio)


def test_a_cable_trained_at_2x_or_hdr_is_flagged() -> None:
    lines = ibnetdiscover_text(topologies.clos(256, tiers=2)).splitlines()
    # the first port line of spine0 and of spine1: two different leaf-spine bundles
    for name, trained in (("spine0", "2xNDR"), ("spine1", "4xHDR")):
        header = next(i for i, line in enumerate(lines)
                      if line.startswith("Switch") and f"MF0;{name}:" in line)
        lines[header + 1] = lines[header + 1].replace("4xNDR", trained)
    report = check_fabric(_imported("\n".join(lines)))
    assert sorted((s.trained, s.reason) for s in report.slow_links) == [
        ("2xNDR", "width"), ("4xHDR", "speed")]
    assert all(s.expected == "4xNDR" for s in report.slow_links)


def test_a_missing_cable_makes_a_leaf_asymmetric() -> None:
    G = topologies.clos(256, tiers=2)
    text = ibnetdiscover_text(G)
    # drop one leaf-spine cable: both of its port lines
    lines = text.splitlines()
    leaf_block = next(i for i, line in enumerate(lines) if line.startswith("Switch")
                      and "MF0;leaf0:" in line)
    uplink = next(line for line in lines[leaf_block + 1:] if '"MF0;spine' in line)
    port = uplink.split("]")[0].strip("[")
    spine_guid = uplink.split('"')[1]
    leaf_guid = lines[leaf_block].split('"')[1]
    kept = [line for line in lines if line != uplink]
    # the spine's line back to leaf0's port
    kept = [line for line in kept if f'"{leaf_guid}"[{port}]' not in line]
    H = _imported("\n".join(kept))
    report = check_fabric(H)
    assert [(a.leaf, a.expected_uplinks - a.num_uplinks) for a in report.asymmetric_leaves] == [
        ("leaf0", 1)]
    assert sum(m.count for m in report.missing_cables) == 1
    assert report.missing_cables[0].lower == "leaf0"
    assert spine_guid.startswith("S-")


def test_single_tier_has_nothing_to_compare() -> None:
    report = check_fabric(topologies.single_hop(64))
    assert report.oversubscription == []
    assert report.missing_cables == []


def test_public_ufm_lab_dump_links_below_their_switch() -> None:
    # NVIDIA UFM lab dump (tests/data/discovery/SOURCES.md): QDR and SDR adapters on an FDR
    # SX6012, an FDR adapter on an EDR SwitchIB; the SwitchIB-SX6012 cable runs FDR, the
    # best the SX6012 does, so it is not flagged
    from pathlib import Path

    from topologies.discovery import import_fabric

    data = Path(__file__).resolve().parents[1] / "data" / "discovery"
    G = import_fabric(data / "ibnetdiscover_nvidia_ufm_lab_2016.txt").graph
    slow = sorted((s.b, s.trained, s.expected) for s in check_fabric(G).slow_links)
    assert slow == [("r-ufm101/gpu0", "4xQDR", "4xFDR"), ("r-ufm101/gpu1", "4xQDR", "4xFDR"),
                    ("r-ufm111/gpu0", "4xFDR", "4xEDR"), ("r-ufm96/gpu0", "4xSDR", "4xFDR")]


def test_a_gpu_without_its_network_cable_is_a_problem() -> None:
    # the leaf/spine checks cannot see a GPU whose only cable to its leaf is gone
    G = topologies.build("clos", num_gpus=16)
    assert check_fabric(G).short_gpus == []
    (leaf,) = [v for v in G["node1/gpu3"] if G.nodes[v]["kind"] == "switch"
               and G.nodes[v]["tier"] >= 1]
    G.remove_edge("node1/gpu3", leaf)
    G.remove_edge(leaf, "node1/gpu3")
    report = check_fabric(G)
    assert [(g.gpu, g.num_links, g.expected_links) for g in report.short_gpus] == [
        ("node1/gpu3", 0, 1)]
    assert report.num_problems == 1
    # and a prediction over it names that GPU, once, not every algorithm's lost flows
    from collectives.predict import predict
    from fabric.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match=r"^node1/gpu3 has no network link") as err:
        predict(G, "all-reduce", 1 << 20)
    assert str(err.value).count("node1/gpu3") == 1
    # inside its own server it still works
    assert predict(G, "all-reduce", 1 << 20, ranks=["node1/gpu0", "node1/gpu3"]).time_s > 0
