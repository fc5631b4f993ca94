"""Link sharing (fabric.flows): synchronized step cost and max-min fair transfers.

Reference numbers are hand computations on one switch whose ports run at the catalog's roce200
rate (25 GB/s, fabric/data/catalog.toml) with 0.05 us cables and a 0.6 us switch (th6-200).
"""

from __future__ import annotations

import numpy as np
import pytest

import topologies
from fabric.flows import max_min_rates, step_cost, transfer
from fabric.routing import fabric_index

B = 25e9
PATH_S = 0.05e-6 + 0.6e-6 + 0.05e-6  # cable + switch + cable
S = 1e9


@pytest.fixture(scope="module")
def switch():
    return topologies.build("single-hop", num_gpus=8, gpus_per_node=1, scaleup=None)


def gpu(i: int) -> str:
    return f"node{i}/gpu0"


def test_a_flow_alone_gets_the_link(switch) -> None:
    r = transfer(switch, [(gpu(0), gpu(1), S)])
    assert r.rates_bytes_per_s == (pytest.approx(B),)
    assert r.time_s == pytest.approx(PATH_S + S / B, rel=1e-12)
    assert r.latency_s == pytest.approx(PATH_S, rel=1e-12)
    assert r.bottleneck_utilization == pytest.approx(1.0)


def test_two_flows_sharing_a_link_get_half_each(switch) -> None:
    r = transfer(switch, [(gpu(0), gpu(2), S), (gpu(1), gpu(2), S)])
    assert r.rates_bytes_per_s == (pytest.approx(B / 2), pytest.approx(B / 2))
    assert r.time_s == pytest.approx(PATH_S + 2 * S / B, rel=1e-12)
    assert r.bottleneck == "plane0->node2/gpu0"


def test_disjoint_flows_do_not_interfere(switch) -> None:
    r = transfer(switch, [(gpu(0), gpu(1), S), (gpu(2), gpu(3), S)])
    assert r.rates_bytes_per_s == (pytest.approx(B), pytest.approx(B))
    assert r.time_s == pytest.approx(PATH_S + S / B, rel=1e-12)


def test_background_traffic_slows_a_demand(switch) -> None:
    # Both at B/2 until the background's S/2 is done at t = S/B; the demand has S/2 left and
    # finishes at full rate S/(2B) later: 1.5 S/B in all.
    r = transfer(switch, [(gpu(0), gpu(2), S)], background=[(gpu(1), gpu(2), S / 2)])
    assert r.rates_bytes_per_s == (pytest.approx(B / 2),)
    assert r.time_s == pytest.approx(PATH_S + 1.5 * S / B, rel=1e-12)
    alone = transfer(switch, [(gpu(0), gpu(2), S)])
    assert r.time_s > alone.time_s


def test_unequal_flows_finish_in_turn(switch) -> None:
    # three flows into one GPU of S, 2S, 3S: B/3 each until S done (3S/B), then B/2 until the
    # second is done (+2S/B), then B (+S/B): 6 S/B = total bytes / B
    r = transfer(switch, [(gpu(0), gpu(3), S), (gpu(1), gpu(3), 2 * S), (gpu(2), gpu(3), 3 * S)])
    assert r.time_s == pytest.approx(PATH_S + 6 * S / B, rel=1e-12)
    assert r.bandwidth_bytes_per_s == pytest.approx(B, rel=1e-12)


def test_max_min_rates_progressive_filling() -> None:
    # edge 0 (cap 10) carries flows a, b; edge 1 (cap 4) carries b, c -> b = c = 2, a = 8
    incidence = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    rates = max_min_rates(incidence, np.array([10.0, 4.0]))
    np.testing.assert_allclose(rates, [8.0, 2.0, 2.0])


def test_max_min_rates_with_ecmp_fractions() -> None:
    # one flow split 1/2, 1/2 over two edges of 3 and a second flow on the first edge only:
    # both grow at r; edge 0 carries r/2 + r = 3 -> r = 2; then edge 1 has 2 left, flow 0 is frozen
    incidence = np.array([[0.5, 1.0], [0.5, 0.0]])
    rates = max_min_rates(incidence, np.array([3.0, 3.0]))
    np.testing.assert_allclose(rates, [2.0, 2.0])


@pytest.mark.parametrize(("demands", "message"), [
    ([], "at least one demand"),
    ([("plane0", gpu(1), S)], "not a GPU"),
    ([(gpu(0), "nowhere", S)], "not a GPU"),
    ([(gpu(0), gpu(1), 0)], "must be > 0"),
    ([(gpu(0), gpu(1), -5)], "must be > 0"),
])
def test_transfer_bad_input(switch, demands, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        transfer(switch, demands)


def test_transfer_without_a_path() -> None:
    G = topologies.build("rail-only", num_nodes=2)
    with pytest.raises(ValueError, match="no path"):
        transfer(G, [("node0/gpu0", "node1/gpu1", S)])


def test_step_cost_is_the_busiest_link(switch) -> None:
    index = fabric_index(switch)
    src = np.array([index.index[gpu(i)] for i in (0, 1, 2)])
    dst = np.array([index.index[gpu(3)]] * 3)
    cost = step_cost(index, src, dst, np.array([1.0, 1.0, 0.5]))
    assert cost.seconds_per_byte == pytest.approx(2.5 / B, rel=1e-12)
    assert cost.bottleneck == "plane0->node3/gpu0"
    assert cost.latency_s == pytest.approx(PATH_S, rel=1e-12)
    assert cost.bytes_injected_per_byte == pytest.approx(2.5)
    # a calibration efficiency of 0.5 on every edge doubles the time per byte
    slow = step_cost(index, src, dst, np.array([1.0, 1.0, 0.5]),
                     efficiency=np.full(index.num_edges, 0.5))
    assert slow.seconds_per_byte == pytest.approx(5.0 / B, rel=1e-12)


def test_step_cost_matches_transfer_for_a_symmetric_step(switch) -> None:
    index = fabric_index(switch)
    order = np.array([index.index[gpu(i)] for i in range(8)])
    cost = step_cost(index, order, np.roll(order, -1), np.ones(8))
    r = transfer(switch, [(gpu(i), gpu((i + 1) % 8), S) for i in range(8)])
    assert cost.latency_s + cost.seconds_per_byte * S == pytest.approx(r.time_s, rel=1e-12)
