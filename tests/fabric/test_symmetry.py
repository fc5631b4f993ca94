"""Routing one destination class per orbit (fabric/symmetry.py) against routing every class.

The builders record swaps of pods, leaves, scalable units and rails; ``fabric.symmetry`` keeps
those that are automorphisms of the graph as indexed, and a direct all-to-all routes one class
per orbit of the swaps that leave its demand unchanged. The general path (every class routed,
what a copy of the graph gets: a copy has no swaps) is the oracle: the link loads of both must
agree to 1e-9 on every family, for whole and partial placements, after an edit, and with swaps
that are wrong.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import collectives.patterns as patterns
import topologies
from collectives.communicator import placed_ranks
from collectives.registry import phases
from fabric.routing import fabric_index
from fabric.symmetry import symmetry

FABRICS = {
    "fat-tree k=8": lambda: topologies.build("fat-tree", k=8),
    "fat-tree k=8, 4-GPU servers": lambda: topologies.build(
        "fat-tree", k=8, gpus_per_node=4, scaleup="nvswitch-h100"),
    "clos 2 tiers": lambda: topologies.build("clos", num_gpus=1024),
    "clos 3 tiers, partial last pod": lambda: topologies.build("clos", num_gpus=2560, tiers=3),
    "clos 3:1": lambda: topologies.build("clos", num_gpus=2048, oversubscription=3),
    "rail-optimized 2 tiers": lambda: topologies.build("rail-optimized", num_nodes=128),
    "rail-optimized 3 tiers, reserved ports": lambda: topologies.build(
        "rail-optimized", num_nodes=48, su_size=2, reserved_leaf_ports=8),
    "rail-only 2 tiers": lambda: topologies.build("rail-only", num_nodes=96),
    "rail-only 3 tiers": lambda: topologies.build("rail-only", num_nodes=2100),
}


@pytest.fixture(autouse=True)
def _symmetry_at_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "SYMMETRY_MIN_CLASSES", 0)


def _routed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Classes handed to the router per call of the direct all-to-all."""
    seen: list[int] = []
    general = patterns._propagate_all

    def spy(index, hop_ids, cls_ids, amount, load):  # type: ignore[no-untyped-def]
        seen.append(len(cls_ids))
        return general(index, hop_ids, cls_ids, amount, load)

    monkeypatch.setattr(patterns, "_propagate_all", spy)
    return seen


def _direct(G: nx.DiGraph, ranks: object = None, placement: str = "packed") -> tuple:
    on = placed_ranks(G, ranks, placement, seed=3)  # type: ignore[arg-type]
    (phase,) = phases(on, "all-to-all", "direct")
    load = np.zeros(G.number_of_edges())
    load[phase.edges] = phase.load
    return load, phase.latency_s


def _assert_same(G: nx.DiGraph, ranks: object = None, placement: str = "packed") -> bool:
    """The loads of both paths agree (True), or both refuse alike (False: a rail-only
    placement whose traffic between rails has no proxy)."""
    try:
        oracle, oracle_latency = _direct(G.copy(), ranks, placement)  # a copy has no swaps
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err)):
            _direct(G, ranks, placement)
        return False
    fast, fast_latency = _direct(G, ranks, placement)
    assert oracle.max() > 0
    np.testing.assert_allclose(fast, oracle, rtol=1e-9, atol=1e-12 * oracle.max())
    assert fast_latency == pytest.approx(oracle_latency, rel=1e-12)
    return True


@pytest.mark.parametrize("name", list(FABRICS))
def test_every_family_routes_one_class_with_the_loads_of_all(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    G = FABRICS[name]()
    index = fabric_index(G)
    sym = symmetry(index)
    assert G.swaps and len(sym.generators) == len(G.swaps), "every recorded swap is real"
    routed = _routed(monkeypatch)
    assert _assert_same(G)
    oracle, fast = routed[0], routed[1]
    assert oracle == len(np.unique(index.class_of[index.gpu_ids]))
    # the leaves of whole units are one orbit: only partial units stay apart
    assert fast <= 4 < oracle


@pytest.mark.parametrize("name", ["fat-tree k=8", "clos 3 tiers, partial last pod",
                                  "rail-optimized 3 tiers, reserved ports"])
@pytest.mark.parametrize("ranks, placement", [(100, "packed"), (64, "random"), (96, "spread")])
def test_partial_placements_keep_only_the_swaps_that_keep_their_demand(
        name: str, ranks: int, placement: str) -> None:
    assert _assert_same(FABRICS[name](), ranks, placement)


@pytest.mark.parametrize("ranks, placement, routable", [
    (96, "packed", True), (768, "packed", True), (100, "packed", False), (64, "random", False)])
def test_rail_only_placements(ranks: int, placement: str, routable: bool) -> None:
    """Whole servers are routed over their proxies; a partial server has no proxy on some
    rails, and both paths refuse it alike."""
    assert _assert_same(FABRICS["rail-only 2 tiers"](), ranks, placement) is routable


def _demand(G: nx.DiGraph, ranks: object, placement: str) -> tuple | None:
    """What the direct all-to-all hands to ``_propagate_blocks``: (hops, classes, amount,
    unchanged), or None if it hands nothing."""
    captured: list[tuple] = []
    real = patterns._propagate_blocks

    def capture(index, hop_ids, cls_ids, amount, load, unchanged=None):  # type: ignore
        captured.append((hop_ids, cls_ids, amount.copy(), unchanged))
        return real(index, hop_ids, cls_ids, amount, load, unchanged)

    patterns._propagate_blocks = capture  # type: ignore[assignment]
    try:
        _direct(G, ranks, placement)
    except ValueError:
        pass  # rail-only without a proxy on every rail: the demand was still built
    finally:
        patterns._propagate_blocks = real  # type: ignore[assignment]
    return captured[0] if captured else None


def test_the_ranks_rule_agrees_with_comparing_the_demand() -> None:
    """``_ranks_kept`` (what the all-to-all asks, from its ranks alone) keeps exactly the
    generators that the dense comparison of the demand with its image keeps."""
    seen = 0
    for name in ("rail-optimized 2 tiers", "fat-tree k=8, 4-GPU servers", "rail-only 2 tiers"):
        G = FABRICS[name]()
        sym = symmetry(fabric_index(G))
        for ranks, placement in ((None, "packed"), (512, "packed"), (200, "random"),
                                 (256, "spread")):
            demand = _demand(G, ranks, placement)
            if demand is None or demand[3] is None:
                continue  # no network demand, or several ranks per (domain, rail): dense check
            hop_ids, cls_ids, amount, unchanged = demand
            dense = {id(g) for g in sym.keeping(hop_ids, cls_ids, amount)}
            rule = {id(g) for g in sym.kept(unchanged) if sym.maps_onto(g, cls_ids)}
            assert rule == dense, (name, ranks, placement)
            seen += 1
    assert seen >= 8


def test_wrong_swaps_and_edits_are_not_trusted() -> None:
    G = topologies.build("fat-tree", k=8)
    good = len(G.swaps)
    gpu_a, gpu_b = "node0/gpu0", "node4/gpu0"  # on different leaves: not an automorphism
    G.swaps = G.swaps + ((("pod0/edge0",), ("pod0/agg0",)),  # a leaf for a spine
                         ((gpu_a,), (gpu_b,)),
                         (("pod0/edge0",), ("no-such-node",)))
    assert len(symmetry(fabric_index(G)).generators) == good
    _assert_same(G)
    # a cycle of three pods (a swap of more than two blocks) is an automorphism too
    recorded = G.swaps
    pods = [recorded[0][0], recorded[0][1], recorded[1][1]]  # pods 0, 1 and 2
    assert pods[1] == recorded[1][0]
    G.swaps = (tuple(pods),)
    assert len(symmetry(fabric_index(G)).generators) == 1
    _assert_same(G)
    G.swaps = ((pods[0], pods[2], pods[1][::-1]),)  # blocks out of step: not one
    assert symmetry(fabric_index(G)).generators == []
    G.swaps = recorded
    # an edited cable: the swaps that move it are dropped, and the loads still agree
    G.edges["pod1/edge0", "pod1/agg1"]["bandwidth_bytes_per_s"] *= 0.5
    kept = len(symmetry(fabric_index(G)).generators)
    assert 0 < kept < good
    _assert_same(G)


def test_the_comparison_catches_a_wrong_orbit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a generator trusted that changes the demand (every generator on a partial
    placement), the loads would differ from the oracle's: the tests above can fail."""
    G = topologies.build("clos", num_gpus=1024)
    trusted = patterns._propagate_blocks

    def trusting(index, hop_ids, cls_ids, amount, load, unchanged=None):  # type: ignore
        return trusted(index, hop_ids, cls_ids, amount, load, lambda moved, image: True)

    monkeypatch.setattr(patterns, "_propagate_blocks", trusting)
    with pytest.raises(AssertionError):
        _assert_same(G, 100, "packed")


def test_copies_and_plain_graphs_carry_no_swaps() -> None:
    G = topologies.build("rail-only", num_nodes=64)
    assert G.swaps
    assert G.copy().swaps == ()
    assert not hasattr(nx.DiGraph(G), "swaps")
    assert "swaps" not in G.graph  # nothing of them is exported


@pytest.mark.parametrize("family, options", [
    ("clos", {"num_gpus": 256, "planes": 2}),
    ("clos", {"num_gpus": 2048, "planes": 2}),  # 4.2 million pairs: never listed one by one
    ("rail-optimized", {"num_nodes": 32, "su_size": 8, "planes": 2}),
    ("rail-optimized", {"num_nodes": 64, "su_size": 4, "leaf_uplinks": 8}),
])
def test_multi_plane_and_tapered_fabrics_record_only_real_swaps(family: str,
                                                               options: dict) -> None:
    """Planes (each GPU homed on one leaf per plane: its own destination class, routed per
    source group and row, one receiver per orbit) and tapered leaves: every recorded swap is
    an automorphism, and the all-to-all agrees with the general path."""
    G = topologies.build(family, **options)
    assert G.swaps
    assert len(symmetry(fabric_index(G)).generators) == len(G.swaps)
    assert _assert_same(G)
