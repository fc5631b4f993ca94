"""Leaf-spine(-core) Clos: k^2/2 and k^3/4 counts, partial builds, tiers and bad input."""

from __future__ import annotations

from collections import Counter

import pytest

from fabric.errors import InfeasibleError
from fabric.graph import summarize
from topologies import clos
from topologies.clos import leaf_ports


def switches_by_tier(G) -> dict[int, int]:
    return dict(Counter(d["tier"] for _, d in G.nodes(data=True) if d.get("tier", 0) > 0))


def uplinks(G, n) -> Counter:
    """Links from switch n to each switch of the tier above, as a multiset of bundle sizes."""
    tier = G.nodes[n]["tier"]
    return Counter(d["num_links"] for v, d in G.succ[n].items()
                   if G.nodes[v].get("tier") == tier + 1)


@pytest.mark.parametrize(
    ("oversubscription", "num_gpus", "down", "up", "spines"),
    [
        # derived; matches the NVIDIA DGX SuperPOD B200 RA, 2024 8-SU row:
        # k=64 1:1 -> 2,048 GPUs / 64 leaves / 32 spines; 3:1 -> d=48, u=16, 3,072 GPUs, 16
        # spines; 7:1 -> d=56, u=8, 3,584 GPUs, 8 spines.
        (1, 2048, 32, 32, 32),
        (3, 3072, 48, 16, 16),
        (7, 3584, 56, 8, 8),
    ],
)
def test_two_tier_k64(oversubscription, num_gpus, down, up, spines):
    assert leaf_ports(64, oversubscription, 8) == (down, up)
    G = clos(num_gpus, oversubscription=oversubscription)
    assert switches_by_tier(G) == {1: 64, 2: spines}
    for i in range(64):
        gpus = [v for v in G.succ[f"leaf{i}"] if G.nodes[v]["kind"] == "gpu"]
        assert len(gpus) == down
        assert uplinks(G, f"leaf{i}") == {1: spines}  # one cable to every spine
    assert all(sum(d["num_links"] for d in G.succ[f"spine{j}"].values()) == 64
               for j in range(spines))


@pytest.mark.parametrize(
    ("num_gpus", "leaves", "spines", "cores"),
    [
        # derived; matches the NVIDIA DGX SuperPOD B200 RA, 2024 16-SU / 64-SU rows
        (4096, 128, 128, 64),
        (16384, 512, 512, 256),
        pytest.param(32768, 1024, 1024, 512, marks=pytest.mark.slow),
    ],
)
def test_three_tier_k64(num_gpus, leaves, spines, cores):
    G = clos(num_gpus)
    assert switches_by_tier(G) == {1: leaves, 2: spines, 3: cores}
    # non-blocking: N cables per tier
    s = Counter()
    for u, v, d in G.edges(data=True):
        tu, tv = G.nodes[u].get("tier", -1), G.nodes[v].get("tier", -1)
        if tu < tv and tu != 0 and tv != 0:
            s[tu, tv] += d["num_links"]
    assert s == {(-1, 1): num_gpus, (1, 2): num_gpus, (2, 3): num_gpus}
    # cores join one spine per pod, with equal bundles
    pods = leaves // 32
    assert all(len(G.succ[f"core{i}"]) == pods for i in range(cores))


def test_partial_build_rounds_leaves_up_and_keeps_uplinks_equal():
    G = clos(1000)  # 125 servers of 8; 4 servers per 1:1 leaf -> 32 leaves (the last one half)
    assert switches_by_tier(G) == {1: 32, 2: 16}
    assert {tuple(uplinks(G, f"leaf{i}").items()) for i in range(32)} == {((2, 16),)}
    assert sum(1 for v in G.succ["leaf31"] if G.nodes[v]["kind"] == "gpu") == 1000 - 31 * 32


def test_tiers_none_picks_the_fewest():
    assert switches_by_tier(clos(64)) == {1: 1}
    assert switches_by_tier(clos(2048)) == {1: 64, 2: 32}
    assert max(switches_by_tier(clos(2056))) == 3


def test_three_tiers_never_buy_idle_cores_and_cost_grows_with_the_gpus():
    """An even spread of 124 leaves is 4 pods of 31: 31 leaves x 32 uplinks over 32 spines
    gives each spine 31 core uplinks, and a core group must take a divisor of 31: 31 cores a
    group, 992 cores at 6% of their ports (3,968 GPUs cost 2.2x 4,096). The pod size is the one
    that needs fewest switches (here 32 leaves: 2 cores a group)."""
    counts = {n: switches_by_tier(clos(n)) for n in (2176, 2304, 2944, 3072, 3968, 4096)}
    assert counts[3968][3] <= 64 and counts[2176][3] <= 64
    totals = [sum(c.values()) for c in counts.values()]
    assert totals == sorted(totals)  # more GPUs never fewer switches
    over = {r: sum(switches_by_tier(clos(4096, oversubscription=r)).values()) for r in (1, 3, 4)}
    assert over[1] > over[3] > over[4]  # fewer uplinks, fewer switches
    G = clos(3968)
    busy = Counter(len(G.succ[n]) for n in G if n.startswith("core"))
    assert min(busy) >= 2  # every core joins spines of several pods


def test_forced_three_tiers_with_oversubscription():
    G = clos(3000, oversubscription=3, tiers=3)
    # d=48: 63 leaves in 2 pods of 32; 16 spines per pod (smallest divisor of u=16 taking
    # 32 leaves x 16 uplinks on 32 down-ports); spine uplinks 32 -> one core per group
    assert switches_by_tier(G) == {1: 63, 2: 32, 3: 16}
    assert {G.nodes[n]["pod"] for n in G if n.startswith("pod1/")} == {1}


def test_servers_stay_on_one_leaf():
    G = clos(256, gpus_per_node=8, oversubscription=7)  # d=56 -> 7 servers per leaf
    for n in range(32):
        leaves = {v for g in range(8) for v in G.succ[f"node{n}/gpu{g}"] if G.nodes[v]["tier"] == 1}
        assert leaves == {f"leaf{n // 7}"}


def test_summary_fields():
    s = summarize(clos(256))
    assert s.switches_by_tier == {"scale-up": 32, "leaf": 8, "spine": 4}
    assert s.cables_by_tier == {"gpu-leaf": 256, "gpu-scale-up": 256 * 18, "leaf-spine": 256}
    assert s.injection_bandwidth_bytes_per_s == 50e9  # one NDR 400G NIC per GPU
    assert s.scaleup_bandwidth_bytes_per_s == 18 * 25e9  # 900 GB/s bidirectional (NVIDIA H100)
    assert s.bisection_bandwidth_bytes_per_s == pytest.approx(128 * 50e9)  # N/2 x link


def test_three_tier_summary_has_spine_core_cables():
    # 4 leaves, which one pod holds, asked for 3 tiers: two pods of 2 leaves (2 spines each),
    # 2 cores, 1:1 at every tier; the cores carry the traffic between the pods (one pod under
    # cores that joined nothing was 2 tiers plus idle switches)
    s = summarize(clos(128, gpus_per_node=1, scaleup=None, tiers=3))
    assert s.switches_by_tier == {"leaf": 4, "spine": 4, "core": 2}
    assert s.cables_by_tier == {"gpu-leaf": 128, "leaf-spine": 128, "spine-core": 128}
    assert s.hop_diameter == 5  # leaf, spine, core, spine, leaf
    s = summarize(clos(4096, gpus_per_node=1, scaleup=None), exact_bisection=False)
    assert s.hop_diameter == 5  # 4 pods: leaf, spine, core, spine, leaf


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_gpus": 0}, ValueError, "num_gpus must be an integer >= 1, got 0"),
        ({"num_gpus": 12}, ValueError, "num_gpus must be a multiple of gpus_per_node=8, got 12"),
        ({"num_gpus": 64, "oversubscription": 0.5}, ValueError,
         "oversubscription must be a number >= 1"),
        ({"num_gpus": 64, "tiers": 4}, ValueError, "tiers must be 1, 2, 3 or None, got 4"),
        ({"num_gpus": 128, "tiers": 1}, InfeasibleError,
         "one radix-64 switch holds at most 64 GPUs"),
        ({"num_gpus": 4096, "tiers": 2}, InfeasibleError,
         "use tiers=3 or a switch with radix >= 128"),
        ({"num_gpus": 65536 * 2}, InfeasibleError,
         "3 tiers of radix-64 switches hold at most 64 pods"),
        ({"num_gpus": 64, "switch": "bogus"}, ValueError, "unknown switch model 'bogus'; known:"),
        ({"num_gpus": 64, "gpus_per_node": 72, "scaleup": None}, ValueError,
         "num_gpus must be a multiple of gpus_per_node=72"),
    ],
)
def test_bad_input(kwargs, error, message):
    with pytest.raises(error) as err:
        clos(**kwargs)
    assert message in str(err.value)


def test_a_server_larger_than_a_leaf_spans_several_leaves():
    # a GB200 NVL72 rack (72 GPUs behind one NVLink domain) on radix-64 QM9700 leaves: 24 GPU
    # ports and 24 uplinks per leaf at 1:1, each rack over 3 leaves
    assert leaf_ports(64, 1.0, 72) == (24, 24)
    G = clos(576, gpus_per_node=72, gpu="gb200")
    leaves = {n for n, d in G.nodes(data=True) if d.get("tier") == 1}
    assert len(leaves) == 24
    for n in range(8):
        racks = {v for g in range(72) for v in G.succ[f"node{n}/gpu{g}"]
                 if G.nodes[v].get("tier") == 1}
        assert racks == {f"leaf{3 * n + i}" for i in range(3)}
    per_leaf = {leaf: sum(1 for u in G.pred[leaf] if G.nodes[u]["kind"] == "gpu")
                for leaf in leaves}
    assert set(per_leaf.values()) == {24}
    assert summarize(G).injection_bandwidth_bytes_per_s == pytest.approx(50e9)


def test_bisection_cuts_between_servers():
    """125 servers: 62 on one side, 63 on the other. The cut went through the middle server
    and counted its NVLink: 1,016 GPUs gave 217.6 Tb/s, more than 1,024 GPUs' 204.8."""
    full = summarize(clos(1024)).bisection_bandwidth_bytes_per_s
    odd = summarize(clos(1000)).bisection_bandwidth_bytes_per_s
    assert odd == 62 * 8 * 50e9  # 62 servers' NICs, 400 Gb/s each
    assert odd < full == 64 * 8 * 50e9
    assert summarize(clos(1016)).bisection_bandwidth_bytes_per_s == 63 * 8 * 50e9
