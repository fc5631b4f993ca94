"""The collective model on fabric graphs: exact analytic cases, fabric effects, bad input.

Reference formulas: Thakur, Rabenseifner & Gropp, IJHPCA 2005 (ring, recursive doubling,
pairwise), NCCL's algorithms (direct all-to-all with PXN, in-network reduction) and
NVIDIA/nccl-tests doc/PERFORMANCE.md (busbw factors). Link rates and
latencies come from the built-in catalog (fabric/data/catalog.toml).
"""

from __future__ import annotations

import numpy as np
import pytest

import topologies
from collectives.calibration import ModelParams, StaticCalibration
from collectives.communicator import PlacedRanks, communicator
from collectives.model import algorithm_costs
from collectives.placement import place
from collectives.predict import predict, predict_many
from collectives.registry import closed_form, phases  # phase loads, to inspect link usage
from fabric.catalog import default_catalog
from fabric.errors import InfeasibleError
from fabric.routing import fabric_index

CAT = default_catalog()
ROCE200 = CAT.links["roce200"]
TH6 = CAT.switches["th6-200"]
GIB = 1 << 30


def _single_hop(n: int):
    return topologies.build("single-hop", num_gpus=n, gpus_per_node=1, scaleup=None)


def _alpha(params: ModelParams) -> float:
    """alpha = software step cost + one GPU -> switch -> GPU path (two cables, one switch)."""
    return params.alpha_s + 2 * ROCE200.latency_s + TH6.latency_s


# -- exact analytic cases on one switch ---------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5, 8, 16])
@pytest.mark.parametrize("size", [8, 1 << 20, GIB])
def test_ring_all_reduce_single_switch_is_the_textbook_formula(n: int, size: int) -> None:
    # 2(n-1)·α + 2(n-1)/n·S/B (Patarasuk & Yuan, JPDC 2009)
    params = ModelParams(alpha_s=3e-6)
    alpha, rate = _alpha(params), ROCE200.bandwidth_bytes_per_s
    expected = 2 * (n - 1) * alpha + 2 * (n - 1) / n * size / rate
    G = _single_hop(n)
    cost = algorithm_costs(G, "all-reduce", algorithm="ring", params=params)[0]
    assert cost.latency_s + cost.seconds_per_byte * size == pytest.approx(expected, rel=1e-9)
    p = predict(G, "all-reduce", size, algorithm="ring")
    default = ModelParams()
    assert p.time_s == pytest.approx(
        2 * (n - 1) * _alpha(default) + 2 * (n - 1) / n * size / rate, rel=1e-9
    )


@pytest.mark.parametrize(
    ("collective", "algorithm", "n"),
    [
        ("all-reduce", "ring", 6),
        ("all-gather", "ring", 6),
        ("reduce-scatter", "ring", 7),
        ("all-reduce", "recursive-doubling", 8),
        ("all-gather", "recursive-doubling", 16),
        ("reduce-scatter", "recursive-halving", 8),
        ("all-reduce", "rabenseifner", 16),
        ("all-to-all", "pairwise", 7),
        ("all-to-all", "pairwise", 12),
        ("all-to-all", "direct", 6),
        ("all-to-all", "direct", 16),
        ("all-to-all", "bruck", 8),
        ("all-reduce", "tree", 8),
        ("broadcast", "ring", 5),
        ("broadcast", "binomial", 8),
        ("send-recv", "direct", 2),
    ],
)
@pytest.mark.parametrize("size", [64, 3 << 20, 2 * GIB])
def test_single_switch_equals_closed_form(
    collective: str, algorithm: str, n: int, size: int
) -> None:
    # closed forms of collectives.algorithms (Thakur et al. 2005, NCCL) with
    # alpha = alpha_s + path latency of one step and beta = 1 / link rate: the switch is
    # non-blocking, so the flow model must reproduce them exactly.
    params = ModelParams(alpha_s=1.5e-6)
    expected = closed_form(
        collective,
        algorithm,
        n,
        size,
        alpha_s=_alpha(params),
        beta_s_per_byte=1 / ROCE200.bandwidth_bytes_per_s,
    )
    cost = algorithm_costs(_single_hop(n), collective, algorithm=algorithm, params=params)[0]
    assert cost.latency_s + cost.seconds_per_byte * size == pytest.approx(expected, rel=1e-9)


def test_busbw_on_one_switch_tends_to_the_link_rate() -> None:
    # nccl-tests busbw = algbw x 2(n-1)/n (nccl-tests PERFORMANCE.md) -> B for large S
    p = predict(_single_hop(16), "all-reduce", 16 * GIB, algorithm="ring")
    assert p.busbw_bytes_per_s == pytest.approx(ROCE200.bandwidth_bytes_per_s, rel=1e-3)
    assert p.busbw_bytes_per_s < ROCE200.bandwidth_bytes_per_s
    assert p.bound_ratio == pytest.approx(1.0, rel=1e-3)


# -- fabric effects -------------------------------------------------------------------------------
def test_all_to_all_on_3_to_1_clos_is_bounded_by_the_uplinks() -> None:
    full = topologies.build("clos", num_gpus=256, oversubscription=1)
    over = topologies.build("clos", num_gpus=256, oversubscription=3)
    t_full = predict(full, "all-to-all", GIB).time_s
    p = predict(over, "all-to-all", GIB)
    assert "spine" in p.bottleneck
    # Hand computation: qm9700 radix 64 at 3:1 -> 48 GPUs (6 servers) and 16 x 50 GB/s uplinks
    # per leaf; leaf0 sends 48 x (256-48)/256 x S out through 16 uplinks.
    rate = CAT.links[CAT.switches["qm9700"].port_link].bandwidth_bytes_per_s
    uplink_s = 48 * (256 - 48) / 256 * GIB / (16 * rate)
    assert p.time_s - p.latency_s == pytest.approx(uplink_s, rel=1e-9)
    # 1:1: each NIC carries (n - G)/n x S (NCCL PXN all-to-all)
    assert t_full == pytest.approx((256 - 8) / 256 * GIB / rate, rel=1e-3)
    # about a third of the 1:1 figure (2.8x; the rest is the intra-leaf share)
    assert 2.4 < p.time_s / t_full < 3.0


def test_rail_aligned_ring_on_rail_optimized_matches_a_full_clos() -> None:
    rail = topologies.build("rail-optimized", num_nodes=32)
    clos = topologies.build("clos", num_gpus=256, oversubscription=1)
    a = algorithm_costs(rail, "all-reduce", algorithm="ring", placement="rail-aligned")[0]
    b = algorithm_costs(clos, "all-reduce", algorithm="ring", placement="rail-aligned")[0]
    assert a.seconds_per_byte == pytest.approx(b.seconds_per_byte, rel=1e-12)
    # each NIC carries 2(n-1)/n x S/8 (NCCL hierarchical / multi-node ring)
    nic = CAT.links[CAT.switches["qm9700"].port_link].bandwidth_bytes_per_s
    assert a.seconds_per_byte == pytest.approx(2 * 255 / 256 / (8 * nic), rel=1e-12)
    # a rail-aligned ring never leaves its rail's leaf inside one SU: fewer hops than the Clos
    assert a.latency_s <= b.latency_s


def _nvlink_load(G, collective: str, algorithm: str, ranks: int) -> float:
    index = fabric_index(G)
    on = PlacedRanks(G=G, index=index, comm=communicator(index, place(G, ranks, "packed")))
    total = 0.0
    for ph in phases(on, collective, algorithm):
        up = index.is_scaleup[index.edge_src[ph.edges]] | index.is_scaleup[index.edge_dst[ph.edges]]
        total += ph.repeat * float(ph.load[up].sum())
    return total


def test_rail_only_all_to_all_pays_the_nvlink_forwarding_hop() -> None:
    rail_opt = topologies.build("rail-optimized", num_nodes=16)
    rail_only = topologies.build("rail-only", num_nodes=16)
    n, g = 128, 8
    t_opt = predict(rail_opt, "all-to-all", GIB, algorithm="direct").time_s
    t_only = predict(rail_only, "all-to-all", GIB, algorithm="direct").time_s
    assert t_only >= t_opt
    load_only = _nvlink_load(rail_only, "all-to-all", "direct", n)
    load_opt = _nvlink_load(rail_opt, "all-to-all", "direct", n)
    assert load_only >= load_opt
    # Intra-server pairs alone put n x (g-1)/n S on NVLink up and down; on rail-only every byte
    # for another server and rail also crosses NVLink once more (to the proxy on its rail).
    intra = 2 * n * (g - 1) / n
    forwarded = n * (n - n // g - (g - 1)) / n  # per source: other rails on other servers
    proxy_in = forwarded
    assert load_only == pytest.approx(intra + forwarded + proxy_in, rel=1e-9)
    # pairwise exchange crosses rails too: its pairs go through the peer on the destination's
    # rail (PXN), as every algorithm's flows do there; it had no path before
    pairwise = predict(rail_only, "all-to-all", GIB, algorithm="pairwise")
    assert pairwise.time_s >= t_only


def test_in_network_reduction_halves_bytes_sent_per_rank() -> None:
    # NVLS: each GPU sends S once instead of the ring's 2(n-1)/n S (NCCL NVLS)
    G = topologies.build("single-hop", num_gpus=8)  # one server, NVSwitch with NVLS
    inr = predict(G, "all-reduce", GIB, algorithm="in-network")
    ring = predict(G, "all-reduce", GIB, algorithm="ring")
    assert inr.bytes_sent_per_rank == pytest.approx(GIB, rel=1e-12)
    assert ring.bytes_sent_per_rank == pytest.approx(2 * 7 / 8 * GIB, rel=1e-12)
    assert inr.time_s < ring.time_s
    # SHARP across servers, one GPU each: each NIC injects S, not 2(n-1)/n S (NCCL CollNet)
    C = topologies.build("clos", num_gpus=64, gpus_per_node=1, scaleup=None)
    sharp = predict(C, "all-reduce", GIB, algorithm="in-network")
    ring = predict(C, "all-reduce", GIB, algorithm="ring")
    assert sharp.bytes_sent_per_rank == pytest.approx(GIB, rel=1e-12)
    assert ring.bytes_sent_per_rank == pytest.approx(2 * 63 / 64 * GIB, rel=1e-12)


def test_sharp_across_servers_is_one_pipeline_not_three_steps() -> None:
    # NCCL's CollNet Direct scatters inside the server, reduces in the leaf and gathers back on
    # chunk after chunk at once (src/device/all_reduce.h): NVLink and the NIC are busy
    # together, so the busier of the two sets the bandwidth term, not their sum
    G = topologies.build("clos", num_gpus=64, switch="qm9700")  # 8 per server, SHARP leaves
    nvlink = 18 * 25e9  # H100: 18 NVLink 4 links of 25 GB/s each way
    nic = 50e9  # one 400G NIC per GPU
    (sharp,) = algorithm_costs(G, "all-reduce", ranks=64, algorithm="in-network")
    # per GPU: 7/8 of S out on NVLink for the reduce-scatter and again for the all-gather; 1/8
    # of S up to the leaf
    busiest = max(2 * 7 / 8 / nvlink, 1 / 8 / nic)
    assert sharp.seconds_per_byte == pytest.approx(busiest, rel=1e-9)
    assert sharp.seconds_per_byte < 2 * 7 / 8 / nvlink + 1 / 8 / nic  # stages back to back
    # and so it beats the double binary tree at 1 GiB, whose NICs carry 2/8 of S
    assert predict(G, "all-reduce", GIB, algorithm="in-network").time_s < predict(
        G, "all-reduce", GIB, algorithm="tree").time_s


def test_in_network_needs_capable_switches() -> None:
    with pytest.raises(ValueError, match="in-network reduction"):
        predict(_single_hop(8), "all-reduce", GIB, algorithm="in-network")


def test_auto_picks_the_fastest_candidate_per_size() -> None:
    G = topologies.build("rail-optimized", num_nodes=4)
    costs = {c.algorithm: c for c in algorithm_costs(G, "all-reduce")}
    assert {"ring", "tree"} <= set(costs)
    for size in (8, 1 << 16, GIB, 16 * GIB):
        p = predict(G, "all-reduce", size)
        best = min(c.latency_s + c.seconds_per_byte * size for c in costs.values())
        assert p.time_s == pytest.approx(best, rel=1e-12)
        assert p.time_s == pytest.approx(
            costs[p.algorithm].latency_s + costs[p.algorithm].seconds_per_byte * size, rel=1e-12
        )


def test_predict_many_equals_predict() -> None:
    G = topologies.build("fat-tree", k=8)
    sizes = [8, 4096, 1 << 24]
    many = predict_many(G, "all-gather", sizes, ranks=64, placement="spread")
    for s, p in zip(sizes, many, strict=False):
        assert p == predict(G, "all-gather", s, ranks=64, placement="spread")
        assert p.busbw_bytes_per_s == pytest.approx(p.algbw_bytes_per_s * 63 / 64, rel=1e-12)


def test_efficiency_scales_the_bandwidth_term() -> None:
    G = _single_hop(8)
    base = algorithm_costs(G, "all-reduce", algorithm="ring")[0]
    half = algorithm_costs(
        G, "all-reduce", algorithm="ring", params=ModelParams(efficiency_by_link={"roce200": 0.5})
    )[0]
    assert half.seconds_per_byte == pytest.approx(2 * base.seconds_per_byte, rel=1e-12)
    assert half.latency_s == base.latency_s


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(collective="all-scatter", size_bytes=GIB), "unknown collective 'all-scatter'"),
        (
            dict(collective="all-reduce", size_bytes=GIB, algorithm="magic"),
            "unknown algorithm 'magic'",
        ),
        (
            dict(collective="all-to-all", size_bytes=GIB, algorithm="ring"),
            "'ring' does not serve all-to-all",
        ),
        (dict(collective="all-reduce", size_bytes=0), "size must be > 0 bytes, got 0"),
        (dict(collective="all-reduce", size_bytes=-1), "size must be > 0 bytes, got -1"),
        (
            dict(collective="all-reduce", size_bytes=GIB, ranks=6, algorithm="recursive-doubling"),
            "needs a power-of-two number of ranks, got 6",
        ),
        (
            dict(collective="all-reduce", size_bytes=GIB, ranks=6, algorithm="rabenseifner"),
            "needs a power-of-two number of ranks, got 6",
        ),
        (dict(collective="all-reduce", size_bytes=GIB, ranks=1), "at least 2 ranks"),
        (dict(collective="all-reduce", size_bytes=GIB, placement="diagonal"), "unknown placement"),
        (dict(collective="all-reduce", size_bytes=GIB, flavor="exact"), "unknown flavor"),
    ],
)
def test_bad_input_raises_value_error(kwargs: dict, message: str) -> None:
    G = _single_hop(16)
    with pytest.raises(ValueError, match=message):
        predict(G, kwargs.pop("collective"), kwargs.pop("size_bytes"), **kwargs)


def test_more_ranks_than_gpus_is_infeasible() -> None:
    with pytest.raises(InfeasibleError, match="17 ranks do not fit: the fabric has 16 GPUs"):
        predict(_single_hop(16), "all-reduce", GIB, ranks=17)


def test_explicit_placement_list() -> None:
    G = _single_hop(16)
    ranks = ["node3/gpu0", "node0/gpu0", "node7/gpu0"]
    p = predict(G, "all-reduce", GIB, ranks=ranks, algorithm="ring")
    assert p.num_ranks == 3
    with pytest.raises(ValueError, match="not a GPU"):
        predict(G, "all-reduce", GIB, ranks=["plane0", "node0/gpu0"])


def test_costs_are_linear_in_size() -> None:
    G = topologies.build("rail-only", num_nodes=4)
    sizes = np.array([1 << 10, 1 << 20, 1 << 30])
    times = np.array(
        [p.time_s for p in predict_many(G, "all-reduce", sizes.tolist(), algorithm="ring")]
    )
    slope = np.diff(times) / np.diff(sizes)
    assert slope[0] == pytest.approx(slope[1], rel=1e-9)


@pytest.mark.parametrize(("family", "gpus"), [("rail-optimized", 256), ("clos", 1024),
                                              ("rail-optimized", 200)])
def test_pairwise_sampling_matches_routing_every_step(family: str, gpus: int) -> None:
    """Pairwise all-to-all routes its NVLink-distance partners and samples the rest: its
    seconds per byte is that of routing all n - 1 steps (evenly sampled over every distance it
    was 3-5% fast, a 1-hop NVLink step standing for n/16 network steps)."""
    from collectives import patterns
    from collectives.calibration import ModelParams
    from collectives.communicator import placed_ranks
    from collectives.model import _evaluate

    G = topologies.for_gpus(family, gpus)
    on = placed_ranks(G, None, "packed")
    n = on.comm.n
    every = [patterns._shift_phase(on.index, on.comm, k, 1.0 / n, repeat=1.0,
                                   xor=patterns.is_power_of_two(n)) for k in range(1, n)]
    want = _evaluate(on, every, "pairwise", ModelParams())[0]
    got = _evaluate(on, patterns.pairwise_phases(on, "all-to-all"), "pairwise",
                    ModelParams())[0]
    assert got.seconds_per_byte == pytest.approx(want.seconds_per_byte, rel=0.005)
    assert got.latency_s == pytest.approx(want.latency_s, rel=0.02)


def _nic_and_nvlink(G) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """A GPU's scale-out (NIC) edge and its NVLink edge, with their attributes."""
    def edge(tier_ok):  # type: ignore[no-untyped-def]
        return next(d for u, v, d in G.edges(data=True)
                    if G.nodes[u]["kind"] == "gpu" and G.nodes[v]["kind"] == "switch"
                    and tier_ok(G.nodes[v]["tier"]))
    return edge(lambda t: t >= 1), edge(lambda t: t == 0)


@pytest.mark.parametrize(
    ("collective", "algorithm", "network_share"),
    [
        # MPICH reduce_scatter_intra_recursive_halving.c: mask from n/2 down, mask blocks each:
        # the farthest partner (another server) gets half the buffer
        ("reduce-scatter", "recursive-halving", 8 / 16),
        # MPICH allreduce_intra_reduce_scatter_allgather.c: mask from 1 up, halving the data:
        # the farthest partner gets 1/16 in each half of the all-reduce
        ("all-reduce", "rabenseifner", 2 / 16),
        # MPICH allgather_intra_recursive_doubling.c: mask from 1 up, doubling the data
        ("all-gather", "recursive-doubling", 8 / 16),
    ],
)
def test_halving_and_doubling_send_what_mpich_sends_to_each_partner(
        collective: str, algorithm: str, network_share: float) -> None:
    """Two 8-GPU servers behind NVLink, one NIC per GPU: only the step with the partner 8
    ranks away crosses the network, so the NIC carries exactly the share of the buffer that
    the source algorithm sends that partner (the other steps stay on NVLink)."""
    G = topologies.build("clos", num_gpus=16)
    cost = algorithm_costs(G, collective, algorithm=algorithm)[0]
    nic, nvlink = _nic_and_nvlink(G)
    nic_s = network_share / (nic["bandwidth_bytes_per_s"] * nic["num_links"])
    # the NVLink steps carry the rest: 7/16 (4 + 2 + 1 of 16 blocks), or 2 x 14/16
    nvlink_share = 2 * (1 - 2 / 16) if collective == "all-reduce" else 1 - 1 / 16 - 8 / 16
    nvlink_s = nvlink_share / (nvlink["bandwidth_bytes_per_s"] * nvlink["num_links"])
    assert cost.seconds_per_byte == pytest.approx(nic_s + nvlink_s, rel=1e-9)


@pytest.mark.parametrize("collective", ["all-gather", "reduce-scatter"])
def test_multi_leader_sends_one_shard_per_rail_step_over_the_nics(collective: str) -> None:
    """Four 8-GPU servers behind NVLink (n = 32, m = 8): every GPU leads its rail, so each NIC
    carries (4 - 1) shards of S/32 in 3 steps, and NVLink carries the domain ring's 7 steps of
    S/8; the two levels run one after the other, in 3 + 7 steps against the flat ring's 31."""
    G = topologies.build("clos", num_gpus=32)
    cost = algorithm_costs(G, collective, algorithm="multi-leader")[0]
    ring = algorithm_costs(G, collective, algorithm="ring")[0]
    nic, nvlink = _nic_and_nvlink(G)
    nic_s = 3 / 32 / (nic["bandwidth_bytes_per_s"] * nic["num_links"])
    nvlink_s = 7 / 8 / (nvlink["bandwidth_bytes_per_s"] * nvlink["num_links"])
    assert cost.seconds_per_byte == pytest.approx(nic_s + nvlink_s, rel=1e-9)
    assert cost.latency_s < ring.latency_s / 2


def test_two_level_rings_are_routed_once_for_both_algorithms(monkeypatch) -> None:
    """The hierarchical all-reduce and the multi-leader all-gather route the same two rings
    (in each server, and per rail across servers): routed once per ranks, the hierarchical
    one crossing the servers twice as often, with the same loads."""
    from collectives import patterns

    routed: list[int] = []
    route = patterns.route

    def counting(index, src, dst, size, **kw):
        routed.append(len(src))
        return route(index, src, dst, size, **kw)

    monkeypatch.setattr(patterns, "route", counting)
    G = topologies.build("clos", num_gpus=32)
    index = fabric_index(G)
    on = PlacedRanks(G=G, index=index, comm=communicator(index, index.gpu_names))
    intra, inter, _ = phases(on, "all-reduce", "hierarchical")
    assert len(routed) == 2
    inter_ml, intra_ml = phases(on, "all-gather", "multi-leader")
    assert len(routed) == 2  # nothing routed again
    assert intra_ml is intra and inter.repeat == 2 * inter_ml.repeat == 2 * 3
    assert np.array_equal(inter.load, inter_ml.load) and np.array_equal(inter.edges,
                                                                       inter_ml.edges)


def test_multi_leader_wins_where_the_flat_ring_pays_its_steps() -> None:
    """At 4,096 GPUs the flat ring's 4,095 steps cost more than the NVLink ring it saves; with
    NCCL's algorithms only (a calibration fitted to NCCL), it is not a candidate."""
    G = topologies.for_gpus("clos", 4096)
    for collective in ("all-gather", "reduce-scatter"):
        best = predict(G, collective, GIB)
        assert best.algorithm == "multi-leader", collective
        assert best.time_s < predict(G, collective, GIB, algorithm="ring").time_s
        nccl_only = StaticCalibration(params=ModelParams(algorithm_set="nccl"))
        assert predict(G, collective, GIB, calibration=nccl_only).algorithm != "multi-leader"
    lone = topologies.build("clos", num_gpus=64, gpus_per_node=1, scaleup=None)
    with pytest.raises(ValueError, match="two-level algorithms"):
        algorithm_costs(lone, "all-gather", algorithm="multi-leader")


def test_flows_across_rails_of_a_rail_only_fabric_go_through_a_peer() -> None:
    """Rank i to i + 1 crosses rails at each server's edge (GPU 7 to the next server's GPU 0):
    a rail-only network has no path, and NCCL sends through the peer on the destination's rail
    over NVLink (PXN). send-recv failed there, and broadcast fell back to a 63x-bound binomial
    tree because the ring's chain had no path."""
    from topologies import clos, rail_only

    G = rail_only(64)
    sr = predict(G, "send-recv", 1 << 30)
    assert sr.algorithm == "direct" and sr.time_s > 0
    ring = predict(G, "broadcast", 1 << 30, algorithm="ring")
    clos_ring = predict(clos(512), "broadcast", 1 << 30, algorithm="ring")
    assert ring.time_s == pytest.approx(clos_ring.time_s, rel=0.05)  # the same chain
    assert predict(G, "broadcast", 1 << 30).algorithm == "ring"
