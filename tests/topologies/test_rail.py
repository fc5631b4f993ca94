"""Rail-optimized (NVIDIA DGX SuperPOD RAs) and rail-only (Wang et al., arXiv 2307.12169) fabrics.

H100 RA: https://docs.nvidia.com/dgx-superpod/reference-architecture-scalable-infrastructure-h100/latest/network-fabrics.html
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from fabric.catalog import load_catalog
from fabric.graph import summarize
from topologies import clos, rail_only, rail_optimized

SCALE_OUT = {(-1, 1): "gpu-leaf", (1, 2): "leaf-spine", (2, 3): "spine-core"}


def census(G: nx.DiGraph) -> tuple[dict[int, int], dict[str, int], dict[int, int]]:
    """Scale-out switches per tier, scale-out cables per layer, ports used per tier."""
    tier = {n: d.get("tier", -1) for n, d in G.nodes(data=True)}
    switches = Counter(t for t in tier.values() if t > 0)
    cables: Counter = Counter()
    ports: Counter = Counter()
    for u, nbrs in G.succ.items():
        for v, d in nbrs.items():
            if tier[u] > 0:
                ports[tier[u]] += d["num_links"]
            if (tier[u], tier[v]) in SCALE_OUT:
                cables[SCALE_OUT[tier[u], tier[v]]] += d["num_links"]
    return dict(switches), dict(cables), dict(ports)


@pytest.mark.parametrize(
    ("nodes", "leaves", "spines", "node_leaf_cables", "spine_leaf_cables", "spine_ports"),
    [
        # NVIDIA DGX SuperPOD H100 RA, Table 4; spine ports used / capacity derived from it:
        # the 3-SU build has 25 % spare spine ports.
        (31, 8, 4, 252, 256, 256),
        (63, 16, 8, 508, 512, 512),
        (95, 24, 16, 764, 768, 1024),
        (127, 32, 16, 1020, 1024, 1024),
    ],
)
def test_superpod_h100_table4(nodes, leaves, spines, node_leaf_cables, spine_leaf_cables,
                              spine_ports):
    G = rail_optimized(nodes, reserved_leaf_ports=4)
    switches, cables, ports = census(G)
    gpus = sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")
    assert gpus == nodes * 8
    assert switches == {1: leaves, 2: spines}
    # "compute+UFM" cables = GPU cables + the 4 UFM ports held on SU 0's leaves (RA Table 4)
    assert cables["gpu-leaf"] == gpus
    assert cables["gpu-leaf"] + G.graph["reserved_leaf_ports"] == node_leaf_cables
    assert cables["leaf-spine"] == spine_leaf_cables
    # leaf ports used incl. UFM: 508 / 1,020 / 1,532 / 2,044 of 64 per leaf (from RA Table 4)
    reserved = sum(d.get("reserved_ports", 0) for _, d in G.nodes(data=True))
    assert ports[1] + reserved == node_leaf_cables + spine_leaf_cables
    assert leaves * 64 - (ports[1] + reserved) == 4
    assert spines * 64 == spine_ports


def test_reserved_ports_sit_on_su0_rails_and_take_one_server_slot():
    G = rail_optimized(63, reserved_leaf_ports=4)
    held = {n: d["reserved_ports"] for n, d in G.nodes(data=True) if d.get("tier") == 1}
    assert {n for n, h in held.items() if h} == {"su0/leaf0", "su0/leaf1", "su0/leaf2", "su0/leaf3"}
    assert sum(held.values()) == 4
    assert G.nodes["node30/gpu0"]["su"] == 0 and G.nodes["node31/gpu0"]["su"] == 1


def test_rail_r_of_every_server_goes_to_leaf_r_of_its_su():
    G = rail_optimized(64)
    for n in range(64):
        for g in range(8):
            (leaf,) = [v for v in G.succ[f"node{n}/gpu{g}"] if G.nodes[v]["tier"] == 1]
            assert leaf == f"su{n // 32}/leaf{g}"
    # every leaf reaches every spine over the same number of cables: 16 leaves x 32 uplinks on
    # 8 spines -> 4 cables per pair
    bundles = {d["num_links"] for u, v, d in G.edges(data=True)
               if G.nodes[u].get("tier") == 1 and G.nodes[v].get("tier") == 2}
    assert bundles == {4}


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        # NVIDIA DGX SuperPOD B200 RA, 2024 rows: 8 SU -> 64 leaf / 32 spine;
        # 16 SU -> 128 / 128 / 64 (4,096 GPUs); 64 SU -> 512 / 512 / 256 (16,384 GPUs)
        (256, {1: 64, 2: 32}),
        (512, {1: 128, 2: 128, 3: 64}),
        pytest.param(2048, {1: 512, 2: 512, 3: 256}, marks=pytest.mark.slow),
    ],
)
def test_superpod_b200_rows(nodes, expected):
    G = rail_optimized(nodes, gpu="b200", scaleup="nvswitch-b200")
    switches, cables, _ = census(G)
    assert switches == expected
    assert set(cables.values()) == {nodes * 8}  # non-blocking: N cables per layer
    if 3 in expected:  # pods hold whole SUs: 4 SUs of 8 rail leaves per pod of 32
        pods = {(d["su"], d["pod"]) for _, d in G.nodes(data=True) if d.get("tier") == 1}
        assert pods == {(s, s // 4) for s in range(nodes // 32)}


def test_xdr_radix_144_two_tiers_up_to_k_squared_over_2():
    # k=144 (Q3400 XDR) holds k^2/2 = 10,368 endpoints in 2 tiers; NVIDIA's DGX B300 RA: the
    # B300-XDR 18-SU build is 1,296 nodes x 8 = 10,368 GPUs (SUs of 72 nodes)
    G = rail_optimized(1296, switch="q3400", su_size=72, gpu="b300")  # DGX B300, NVLink 5
    switches, cables, _ = census(G)
    assert switches == {1: 144, 2: 72}
    assert cables == {"gpu-leaf": 10368, "leaf-spine": 10368}
    assert G.edges["su0/leaf0", "spine0"]["bandwidth_bytes_per_s"] == 100e9  # XDR 800 Gb/s


@pytest.mark.parametrize(
    ("num_gpus", "opt", "only"),
    [
        # derived here, not the paper's table (k=64, M=8; links incl. host cables):
        # rail-optimized vs rail-only
        # switches / links: 4,096 -> 320 / 12,288 vs 192 / 8,192; 16,384 -> 1,280 / 49,152 vs
        # 768 / 32,768 (40 % fewer switches, 33 % fewer links)
        (4096, (320, 12288), (192, 8192)),
        pytest.param(16384, (1280, 49152), (768, 32768), marks=pytest.mark.slow),
    ],
)
def test_rail_only_vs_rail_optimized(num_gpus, opt, only):
    for G in (rail_optimized(num_gpus // 8), clos(num_gpus)):
        switches, cables, _ = census(G)
        assert (sum(switches.values()), sum(cables.values())) == opt
    switches, cables, _ = census(rail_only(num_gpus // 8))
    assert (sum(switches.values()), sum(cables.values())) == only
    assert 1 - only[0] / opt[0] == pytest.approx(0.40)
    assert 1 - only[1] / opt[1] == pytest.approx(1 / 3)


GH200 = """
[switches.nvlink-gh200]
name = "test: DGX GH200 NVLink Switch System as one logical switch"
tier_kind = "scale-up"
radix = 4608
port_link = "nvlink4"
latency_s = 0.2e-6
cost_usd = 0
power_w = 0
chips = 36
in_network_reduction = true
source = "test fixture: 256-GPU NVLink domain, 900 GB/s per GPU (NVIDIA DGX GH200, 2023)"
year = 2023
"""


@pytest.mark.parametrize(
    ("num_nodes", "switches", "links"),
    [
        # derived here, M=256 (DGX GH200 HB domain): 16,384 GPUs -> 256 / 16,384;
        # 32,768 GPUs -> 1,536 / 65,536
        (64, 256, 16384),
        pytest.param(128, 1536, 65536, marks=pytest.mark.slow),
    ],
)
def test_rail_only_m256(tmp_path, num_nodes, switches, links):
    path = tmp_path / "gh200.toml"
    path.write_text(GH200)
    G = rail_only(num_nodes, gpus_per_node=256, scaleup="nvlink-gh200", catalog=load_catalog(path))
    counts, cables, _ = census(G)
    assert (sum(counts.values()), sum(cables.values())) == (switches, links)


def test_rail_only_has_no_path_between_rails_but_nvlink():
    G = rail_only(128)  # 128 nodes > radix 64 -> a 2-tier Clos per rail
    scale_out = G.subgraph(n for n, d in G.nodes(data=True) if d.get("tier") != 0)
    assert nx.has_path(scale_out, "node0/gpu0", "node127/gpu0")
    assert not nx.has_path(scale_out, "node0/gpu0", "node127/gpu1")
    assert nx.has_path(G, "node0/gpu0", "node127/gpu1")  # over node0's NVSwitch
    assert {d["rail"] for _, d in G.nodes(data=True) if d.get("tier") == 2} == set(range(8))
    switches, _, _ = census(G)
    assert switches == {1: 8 * 4, 2: 8 * 2}  # 4 leaves of 32 nodes, spines = 4 * 32 / 64


@pytest.mark.parametrize(
    ("builder", "kwargs", "message"),
    [
        (rail_optimized, {"num_nodes": 0}, "num_nodes must be an integer >= 1, got 0"),
        (rail_optimized, {"num_nodes": 4, "su_size": 33}, "su_size must be <= radix/2 = 32"),
        (rail_optimized, {"num_nodes": 4, "reserved_leaf_ports": 249},
         "reserved_leaf_ports must leave SU 0 at least one server slot (<= 248), got 249"),
        (rail_optimized, {"num_nodes": 4, "reserved_leaf_ports": -1},
         "reserved_leaf_ports must be an integer >= 0, got -1"),
        (rail_optimized, {"num_nodes": 4, "gpu": "x"}, "unknown gpu 'x'; known:"),
        (rail_only, {"num_nodes": 4, "scaleup": None}, "rail-only needs a scale-up switch"),
        (rail_only, {"num_nodes": 4, "gpus_per_node": 9, "scaleup": "nvswitch-h100"},
         "too small for gpus_per_node=9"),
        (rail_only, {"num_nodes": 4, "gpus_per_node": 9}, "no catalog scale-up switch on nvlink4"),
        (rail_only, {"num_nodes": 4, "gpu": "l40s"}, "rail-only needs a scale-up"),
    ],
)
def test_bad_input(builder, kwargs, message):
    with pytest.raises(ValueError) as err:
        builder(**kwargs)
    assert message in str(err.value)


def test_summaries():
    s = summarize(rail_optimized(31, reserved_leaf_ports=4))
    assert s.switches_by_tier == {"scale-up": 31, "leaf": 8, "spine": 4}
    assert s.cables_by_tier == {"gpu-leaf": 248, "gpu-scale-up": 248 * 18, "leaf-spine": 256}
    # RA Table 4 (1 SU): 508 of 512 leaf ports in use = 248 GPU + 256 spine + 4 reserved (UFM)
    assert s.ports_used_by_tier["leaf"] == 248 + 256 + 4
    assert s.hop_diameter == 3  # rail to rail goes over the spines (H100 RA)
    s = summarize(rail_only(16))
    assert s.switches_by_tier == {"scale-up": 16, "leaf": 8}
    assert s.cables_by_tier == {"gpu-leaf": 128, "gpu-scale-up": 128 * 18}
    assert s.hop_diameter == 1  # one rail switch; other rails are reached only over NVLink


def test_a_rail_optimized_fabric_too_large_for_its_switch_says_what_fits():
    """Too many SUs for 3 tiers of a radix-64 QM9700 (the default; 131,072 GPUs is one such
    case): the error names the most nodes it holds and the catalog's larger switches that hold
    them all. SUs of 4 nodes keep the sizes small: pods of 4 SUs, at most 64 pods."""
    from fabric.errors import InfeasibleError

    with pytest.raises(InfeasibleError) as err:
        rail_optimized(1500, su_size=4)
    text = str(err.value)
    most = int(text.split("hold at most ")[-1].split(" nodes")[0].replace(",", ""))
    rail_optimized(most, su_size=4)  # the stated limit builds ...
    with pytest.raises(InfeasibleError):
        rail_optimized(most + 1, su_size=4)  # ... and one more node does not
    named = text.split("hold them in 3 tiers: ")[1].split(", ")
    assert named and all("radix 64)" not in n for n in named)
    assert any(n.startswith("th6-800 ") for n in named)
    G = rail_optimized(1500, su_size=4, switch="th6-800")  # a named switch builds it
    assert sum(1 for _, k in G.nodes(data="kind") if k == "gpu") == 1500 * 8


@pytest.mark.parametrize("num_nodes", [1, 8, 16])
def test_one_unit_not_full_buys_uplinks_for_the_servers_it_has(num_nodes):
    """A single scalable unit with fewer servers than slots: each rail leaf's uplinks match
    its servers (1:1), not the 32 of a full unit (one server's 8 leaves had 32 uplinks each,
    256 leaf-spine cables for 8 GPUs, and 4 spines)."""
    G = rail_optimized(num_nodes)
    up = sum(d["num_links"] for u, v, d in G.edges(data=True)
             if G.nodes[u].get("tier") == 1 and G.nodes[v].get("tier") == 2)
    hosts = num_nodes * 8
    assert hosts <= up <= 2 * hosts
    full = rail_optimized(32)  # a full unit is as the reference architecture builds it
    assert sum(1 for _, d in full.nodes(data=True) if d.get("tier") == 2) == 4
