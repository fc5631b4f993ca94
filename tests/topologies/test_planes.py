"""Multi-plane scale-out fabrics: every GPU's NIC split over independent planes.

Published counts reproduced here:

- NVIDIA DGX SuperPOD B300 with Spectrum-X, "twin-planar" (each GPU's ConnectX-8 800G port as
  2 x 400G on two planes), Table 3 of
  https://docs.nvidia.com/dgx-superpod/reference-architecture/scalable-infrastructure-b300/latest/dgx-superpod-architecture.html
  (2025): 64-node SUs; 1 / 2 / 4 / 8 / 16 SU -> 16 / 32 / 64 / 128 / 256 leaves,
  8 / 16 / 32 / 64 / 128 spines, 512 node-leaf and 512 leaf-spine cables per SU.
- NVIDIA DGX SuperPOD B300 with Quantum-X800 (one plane of XDR 800G), Table 3 of
  https://docs.nvidia.com/dgx-superpod/reference-architecture/scalable-infrastructure-b300-xdr/latest/dgx-superpod-architecture.html
  (2025): 72-node SUs; 1 / 2 / 4 / 8 / 18 SU -> 8 / 16 / 32 / 64 / 144 leaves,
  4 / 8 / 18 / 36 / 72 spines, cables = GPUs per layer (the table's 18-SU GPU count, 9,216,
  is a typo for 1,296 x 8 = 10,368, the count its own cable columns give).
- Alibaba HPN (Qian et al., "Alibaba HPN: A Data Center Network for Large Language Model
  Training", SIGCOMM 2024, https://doi.org/10.1145/3651890.3672265; author copy
  https://ennanzhai.github.io/pub/sigcomm24-hpn.pdf, read 2026-12): a dual-plane pod of 15
  segments x 1,024 GPUs (Table 1: 15,360); 8 GPUs and 8 NICs of 2 x 200G per host; each NIC's
  two ports on two ToRs of two planes; a segment's 128 hosts on 16 ToRs (8 rails x 2 planes)
  of 51.2 Tb/s switches with 128 x 200G down (plus 8 for backup hosts, not modelled) and
  60 x 400G up, one to each of the 60 Aggs of its plane (p. 6, Fig. 7, p. 9), each Agg
  120 x 400G down.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from collectives.predict import predict
from fabric.cost import bill_of_materials
from fabric.graph import summarize
from topologies import build, clos, rail_optimized

LAYER = {(-1, 1): "gpu-leaf", (1, 2): "leaf-spine", (2, 3): "spine-core"}


def census(G: nx.DiGraph) -> tuple[dict[int, int], dict[str, int]]:
    """Scale-out switches per tier and scale-out links per layer."""
    tier = {n: d.get("tier", -1) for n, d in G.nodes(data=True)}
    switches = Counter(t for t in tier.values() if t > 0)
    links: Counter = Counter()
    for u, v, d in G.edges(data=True):
        if (tier[u], tier[v]) in LAYER:
            links[LAYER[tier[u], tier[v]]] += d["num_links"]
    return dict(switches), dict(links)


@pytest.mark.parametrize(
    ("sus", "leaves", "spines", "cables_per_layer"),
    [(1, 16, 8, 512), (2, 32, 16, 1024), (4, 64, 32, 2048), (8, 128, 64, 4096),
     pytest.param(16, 256, 128, 8192, marks=pytest.mark.slow)],
)
def test_dgx_b300_spectrum_x_twin_planar(sus, leaves, spines, cables_per_layer):
    G = rail_optimized(64 * sus, su_size=64, planes=2, switch="sn5600-400", gpu="b300")
    switches, links = census(G)
    assert switches == {1: leaves, 2: spines}
    # the RA counts 800G cables, each carrying one 400G link of each of the two planes (an
    # SN5600 OSFP cage holds 2 x 400G): links = 2 x cables in both layers
    assert links == {"gpu-leaf": 2 * cables_per_layer, "leaf-spine": 2 * cables_per_layer}
    planes = Counter(d["plane"] for _, d in G.nodes(data=True) if d.get("tier", 0) > 0)
    assert planes == {0: (leaves + spines) // 2, 1: (leaves + spines) // 2}
    # each plane is its own network: no link joins switches of two planes
    for u, v in G.edges:
        if G.nodes[u].get("tier", 0) > 0 and G.nodes[v].get("tier", 0) > 0:
            assert G.nodes[u]["plane"] == G.nodes[v]["plane"]


@pytest.mark.parametrize(
    ("sus", "leaves", "spines"),
    [(1, 8, 4), (2, 16, 8), (4, 32, 18), (8, 64, 36),
     pytest.param(18, 144, 72, marks=pytest.mark.slow)],
)
def test_dgx_b300_quantum_x800(sus, leaves, spines):
    G = rail_optimized(72 * sus, su_size=72, switch="q3400", gpu="b300")
    switches, links = census(G)
    assert switches == {1: leaves, 2: spines}
    assert links == {"gpu-leaf": 576 * sus, "leaf-spine": 576 * sus}


HPN_POD = {"su_size": 128, "planes": 2, "switch": "th5-200", "uplink_switch": "th5-400",
           "leaf_uplinks": 60, "gpu": "h100"}


def test_alibaba_hpn_dual_plane_pod():
    G = rail_optimized(15 * 128, **HPN_POD)
    gpus = [n for n, kind in G.nodes(data="kind") if kind == "gpu"]
    assert len(gpus) == 15 * 1024
    tors = {n: (d["plane"], d["su"], d["rail"]) for n, d in G.nodes(data=True)
            if d.get("tier") == 1}
    assert len(tors) == 15 * 16 and len(set(tors.values())) == len(tors)  # 16 ToRs a segment
    # every GPU: one 200G port on a ToR of each plane, 400G in all
    for gpu in ("node0/gpu0", "node1919/gpu7"):
        ups = [v for v in G.succ[gpu] if G.nodes[v].get("tier") == 1]
        assert sorted(G.nodes[v]["plane"] for v in ups) == [0, 1]
        assert {G.edges[gpu, v]["bandwidth_bytes_per_s"] for v in ups} == {25e9}
    assert summarize(G).injection_bandwidth_bytes_per_s == pytest.approx(50e9)
    switches, links = census(G)
    assert set(switches) == {1, 2}  # 2 tiers per plane: the pod has no core
    assert switches[1] == 240  # HPN: 15 segments x 16 ToRs
    assert switches[2] == 120  # HPN: 60 Aggs per plane, 120 per pod
    # each ToR: 128 x 200G down, 60 x 400G up, one to each Agg of its plane (1.067:1)
    for tor, (plane, _, _) in tors.items():
        up = {v: e for v, e in G.succ[tor].items() if G.nodes[v].get("tier") == 2}
        assert len(up) == 60 and {G.nodes[v]["plane"] for v in up} == {plane}
        assert {(e["num_links"], e["link"], e["bandwidth_bytes_per_s"]) for e in up.values()} \
            == {(1, "roce400", 50e9)}
    # each Agg: 120 x 400G down, one to each ToR of its plane (the 8 core ports stay free)
    aggs = [n for n, d in G.nodes(data=True) if d.get("tier") == 2]
    assert {sum(e["num_links"] for e in G.succ[a].values()) for a in aggs} == {120}
    assert {G.nodes[a]["model"] for a in aggs} == {"th5-400"}
    assert links["leaf-spine"] == 240 * 60
    # a ToR's 51.2 Tb/s: 128 x 200G + 60 x 400G = 248 of its 256 200G lanes (8 left for the
    # backup hosts, which are not modelled)
    assert summarize(G).ports_used_by_tier["leaf"] == 240 * 248
    bom = bill_of_materials(G)
    assert bom.quantity("switch", "th5-400") == 120 and bom.quantity("switch", "th5-200") == 240


def test_the_default_leaf_runs_its_uplinks_at_one_to_one():
    # without an uplink switch: 128 x 200G up, two to each of 64 spines per plane
    G = rail_optimized(15 * 128, su_size=128, planes=2, switch="th5-200", gpu="h100")
    switches, links = census(G)
    assert switches[2] == 2 * 64 and links["leaf-spine"] == 240 * 128
    # 400G uplinks, their count left to the builder: 64 (1:1 in bandwidth), 64 spines per plane
    fast = rail_optimized(15 * 128, **{**HPN_POD, "leaf_uplinks": None})
    assert census(fast) == ({1: 240, 2: 128}, {"gpu-leaf": 2 * 15 * 1024, "leaf-spine": 240 * 64})
    assert {d["uplink_extra_ports"] for _, d in fast.nodes(data=True) if d.get("tier") == 1} \
        == {64}


def test_the_hpn_pod_predicts_between_its_bandwidths():
    # the ToRs' 60 uplinks (1.067:1) make an all-to-all across segments slower than 64 (1:1)
    # do, by at most their ratio: only the traffic that leaves a ToR is slowed
    hpn = rail_optimized(2 * 128, **HPN_POD)
    full = rail_optimized(2 * 128, **{**HPN_POD, "leaf_uplinks": 64})
    a, b = (predict(G, "all-to-all", 1 << 30, algorithm="pairwise").time_s for G in (hpn, full))
    assert b * 1.01 < a <= b * 64 / 60 * (1 + 1e-9)


@pytest.mark.parametrize(("options", "message"), [
    ({"leaf_uplinks": 65}, "leaf_uplinks must be <= 64"),
    ({"uplink_switch": "th5-800", "leaf_uplinks": 33}, "leaf_uplinks must be <= 32"),
    ({"uplink_switch": "th6-100"}, "slower than the leaves' roce200"),
    ({"uplink_switch": "nvswitch-h100"}, "must be a scale-out switch model"),
])
def test_uplinks_beyond_the_leaf_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        rail_optimized(256, **{**HPN_POD, **options})


def test_planes_split_the_nic_and_keep_the_per_gpu_rate():
    one = rail_optimized(64, su_size=32, switch="sn5600-800", gpu="b300")
    two = rail_optimized(64, su_size=64, planes=2, switch="sn5600-400", gpu="b300")
    assert summarize(one).injection_bandwidth_bytes_per_s == pytest.approx(100e9)
    assert summarize(two).injection_bandwidth_bytes_per_s == pytest.approx(100e9)
    # BOM: one ConnectX-8 800G per GPU whose port is split over the 2 planes, not 2 NICs
    bom = bill_of_materials(two)
    assert bom.quantity("nic", "cx8-800") == 64 * 8
    assert bom.quantity("nic") == 64 * 8
    assert any("split into 2 planes" in rule for rule in bom.rules)
    # predictions follow: the same all-reduce on the twin-planar fabric is no slower than on
    # one 800G plane (same per-GPU rate), and slower on a single 400G plane
    single400 = rail_optimized(64, su_size=64, switch="sn5600-400", gpu="b300")
    size = 1 << 30
    t_two = predict(two, "all_reduce", size).time_s
    t_one = predict(one, "all_reduce", size).time_s
    t_half = predict(single400, "all_reduce", size).time_s
    assert t_two == pytest.approx(t_one, rel=0.05)
    assert t_half > 1.5 * t_two


def test_clos_planes_are_independent_copies():
    one = clos(2048, switch="sn5600-400")
    two = clos(2048, planes=2, switch="sn5600-400")
    s1, l1 = census(one)
    s2, l2 = census(two)
    assert s2 == {t: 2 * n for t, n in s1.items()} and l2 == {k: 2 * n for k, n in l1.items()}
    assert "plane1/spine0" in two and two.nodes["plane1/leaf0"]["plane"] == 1
    assert two.graph["planes"] == 2 and two.graph["params"]["planes"] == 2
    # the record rebuilds the graph
    again = build("clos", **two.graph["params"])
    assert sorted(again.nodes) == sorted(two.nodes)
    # 2 x 400G per H100, but its PCIe Gen5 x16 carries 63 GB/s from GPU memory to the NICs
    assert summarize(two).injection_bandwidth_bytes_per_s == pytest.approx(63e9)
    assert summarize(clos(2048, planes=2, switch="sn5600-400", gpu="b300")
                     ).injection_bandwidth_bytes_per_s == pytest.approx(100e9)  # PCIe Gen6


def test_nic_ports_beyond_the_gpus_host_link_carry_its_rate_and_say_so():
    # an H100 behind 800G (or 2 x 800G): what crosses its PCIe Gen5 x16, not the ports' sum;
    # the cables and NICs stay in the bill of materials, and evaluate says why they idle
    from studies.evaluate import evaluate_fabric

    for G in (clos(64, switch="sn5600-800"), clos(64, planes=2, switch="sn5600-800")):
        assert summarize(G).injection_bandwidth_bytes_per_s == pytest.approx(63e9)
    fast = evaluate_fabric(clos(64, planes=2, switch="sn5600-800"), collectives=("all-reduce",))
    assert any("h100 GPUs drive 2 x roce800 (200 GB/s) through their PCIe Gen5 x16 (63 GB/s)"
               in n for n in fast.notes)
    assert not any("PCIe" in n for n in evaluate_fabric(clos(64), collectives=()).notes)
    # a 400G NIC on an H100 is below its host link: untouched
    assert summarize(clos(64)).injection_bandwidth_bytes_per_s == pytest.approx(50e9)


def test_one_plane_keeps_the_single_plane_ids():
    G = rail_optimized(64)
    assert "su0/leaf0" in G and "spine0" in G
    assert all("plane" not in d for _, d in G.nodes(data=True))


@pytest.mark.parametrize("planes", [0, -1, 65, 1.5, True, "2"])
def test_bad_planes_are_one_clear_line(planes):
    for builder, size in ((rail_optimized, 32), (clos, 64)):
        with pytest.raises(ValueError, match="planes must be an integer from 1 to 64"):
            builder(size, planes=planes)


@pytest.mark.parametrize(
    ("nodes", "leaves", "spines", "leaf_spine"),
    # NVIDIA DGX SuperPOD H100 RA, Table 4 (https://docs.nvidia.com/dgx-superpod/
    # reference-architecture-scalable-infrastructure-h100/latest/network-fabrics.html, 2023):
    # a 31-node SU (one of 32 slots held for UFM) has 8 leaves and 4 spines; 2 / 3 / 4 SU
    # have 8 / 16 / 16 spines. --su-size 31 names that unit directly: its leaves take 32
    # uplinks (1:1 or better), not 31, so 31 prime does not force 31 spines.
    [(31, 8, 4, 256), (62, 16, 8, 512), (93, 24, 16, 768), (124, 32, 16, 1024)],
)
def test_h100_ra_31_node_unit(nodes, leaves, spines, leaf_spine):
    G = rail_optimized(nodes, su_size=31)
    switches, links = census(G)
    assert switches == {1: leaves, 2: spines}
    assert links == {"gpu-leaf": nodes * 8, "leaf-spine": leaf_spine}
    ports: Counter = Counter()
    for u, _v, d in G.edges(data=True):
        if G.nodes[u].get("tier") == 1:
            ports[u] += d["num_links"]
    assert max(ports.values()) <= 64  # 31 down + 32 up fit the QM9700


def test_su_size_beyond_half_the_radix_says_what_holds_it():
    with pytest.raises(ValueError, match=r"su_size must be <= radix/2 = 32 .*radix >= 128 "
                                         r"\(sn5600-400 \(128\),.* --planes"):
        rail_optimized(64, su_size=64, switch="sn5600-800", gpu="b300")


def test_single_hop_beyond_the_radix_names_the_catalog_switches_that_hold_it():
    with pytest.raises(ValueError, match=r"th6-200 has 512.*catalog: th6-100 \(1024\), "
                                         r"sn6800-200 \(2048, announced\)"):
        build("single-hop", num_gpus=1024)
    with pytest.raises(ValueError, match="none in the catalog; add one with --catalog"):
        build("single-hop", num_gpus=4096)


def test_planes_count_towards_the_size_limit():
    # 125,000 servers x 8 GPUs = 1,000,000 GPUs is refused; so is half of it on 2 planes
    with pytest.raises(ValueError, match=r"62,500 servers x 8 GPUs x 2 planes"):
        build("rail-optimized", num_nodes=62_500, planes=2)


def test_direct_all_to_all_uses_every_plane():
    # each pair is its own flow, split over the GPU's plane links: 2 x 400G moves an all-to-all
    # as fast as one 800G plane and twice as fast as one 400G plane
    size = 1 << 28
    two = rail_optimized(32, su_size=32, planes=2, switch="sn5600-400", gpu="b300")
    one = rail_optimized(32, su_size=32, switch="sn5600-800", gpu="b300")
    half = rail_optimized(32, su_size=32, switch="sn5600-400", gpu="b300")
    t_two, t_one, t_half = (predict(G, "all_to_all", size, algorithm="direct").time_s
                            for G in (two, one, half))
    assert t_two == pytest.approx(t_one, rel=0.05)
    assert t_half == pytest.approx(2 * t_two, rel=0.05)
