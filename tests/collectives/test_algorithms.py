"""Closed-form collective costs (collectives.algorithms) against hand-evaluated formulas.

Formulas: Thakur, Rabenseifner & Gropp, IJHPCA 2005, https://doi.org/10.1177/1094342005051521
("Thakur et al. 2005"; MPICH comments), Patarasuk & Yuan, JPDC 2009 (ring), and NCCL's
algorithms, https://github.com/NVIDIA/nccl (double binary tree, in-network reduction, direct
all-to-all).
"""

from __future__ import annotations

import math

import pytest

import topologies
from collectives.algorithms import is_power_of_two
from collectives.communicator import placed_ranks
from collectives.registry import ALGORITHMS, algorithms_for, closed_form, phases, software_steps

ALPHA = 2.0e-6
BETA = 1 / 50e9
GAMMA = 1 / 500e9
S = 1 << 30


@pytest.mark.parametrize(
    ("collective", "algorithm", "n", "expected"),
    [
        # ring all-reduce 2(n-1)α + 2(n-1)/n·Sβ + (n-1)/n·Sγ (Patarasuk & Yuan 2009)
        ("all-reduce", "ring", 8, 14 * ALPHA + 2 * 7 / 8 * S * BETA + 7 / 8 * S * GAMMA),
        # ring all-gather (p-1)α + n(p-1)/p·β (MPICH allgather_intra_ring.c)
        ("all-gather", "ring", 8, 7 * ALPHA + 7 / 8 * S * BETA),
        # pairwise reduce-scatter (p-1)α + n(p-1)/p·(β+γ) (Thakur et al. 2005)
        ("reduce-scatter", "ring", 8, 7 * ALPHA + 7 / 8 * S * (BETA + GAMMA)),
        # recursive doubling all-reduce lg p·(α + nβ + nγ) (Thakur et al. 2005)
        ("all-reduce", "recursive-doubling", 16, 4 * (ALPHA + S * (BETA + GAMMA))),
        # recursive doubling all-gather lg p·α + n(p-1)/p·β (Thakur et al. 2005)
        ("all-gather", "recursive-doubling", 16, 4 * ALPHA + 15 / 16 * S * BETA),
        # recursive halving reduce-scatter lg p·α + n(p-1)/p·(β+γ) (Thakur et al. 2005)
        ("reduce-scatter", "recursive-halving", 16, 4 * ALPHA + 15 / 16 * S * (BETA + GAMMA)),
        # Rabenseifner 2 lg p·α + 2n(p-1)/p·β + n(p-1)/p·γ (Thakur et al. 2005)
        (
            "all-reduce",
            "rabenseifner",
            16,
            8 * ALPHA + 2 * 15 / 16 * S * BETA + 15 / 16 * S * GAMMA,
        ),
        # double binary tree 2 lg n·α + 2Sβ + Sγ (NCCL)
        ("all-reduce", "tree", 8, 6 * ALPHA + 2 * S * BETA + S * GAMMA),
        # Bruck all-to-all lg p·α + (n/2)·lg p·β (Thakur et al. 2005), ceil(lg 6) = 3
        ("all-to-all", "bruck", 6, 3 * ALPHA + S / 2 * 3 * BETA),
        # pairwise all-to-all with n = per-rank total: (p-1)α + (p-1)/p·nβ (Thakur 2005, NCCL)
        ("all-to-all", "pairwise", 6, 5 * ALPHA + 5 / 6 * S * BETA),
        # direct all-to-all α + (n-1)/n·Sβ (NCCL)
        ("all-to-all", "direct", 6, ALPHA + 5 / 6 * S * BETA),
        # in-network 2α + Sβ (NCCL NVLS/CollNet)
        ("all-reduce", "in-network", 64, 2 * ALPHA + S * BETA),
        # binomial broadcast lg p·α + n·lg p·β (Thakur et al. 2005)
        ("broadcast", "binomial", 5, 3 * (ALPHA + S * BETA)),
        # pipelined chain broadcast (p-1)α + nβ, large-message limit (Thakur et al. 2005)
        ("broadcast", "ring", 5, 4 * ALPHA + S * BETA),
        # Hockney α + Sβ (1994)
        ("send-recv", "direct", 2, ALPHA + S * BETA),
    ],
)
def test_closed_form_matches_reference_formula(
    collective: str, algorithm: str, n: int, expected: float
) -> None:
    got = closed_form(
        collective, algorithm, n, S, alpha_s=ALPHA, beta_s_per_byte=BETA, gamma_s_per_byte=GAMMA
    )
    assert got == pytest.approx(expected, rel=1e-12)


def test_ring_all_reduce_doctest_number() -> None:
    # 14 x 1 us + 2 x 7/8 x 1e9 B / 50e9 B/s = 14 us + 35 ms (ring formula)
    assert closed_form(
        "allreduce", "ring", 8, 1e9, alpha_s=1e-6, beta_s_per_byte=1 / 50e9
    ) == pytest.approx(0.035014, rel=1e-12)


def test_ring_is_bandwidth_optimal_and_tree_is_not() -> None:
    """Large S: ring 2(n-1)/n·S/B < tree 2·S/B; tiny S: tree's 2 lg n α < ring's 2(n-1)α."""
    big = dict(alpha_s=ALPHA, beta_s_per_byte=BETA)
    assert closed_form("all-reduce", "ring", 64, S, **big) < closed_form(
        "all-reduce", "tree", 64, S, **big
    )
    assert closed_form("all-reduce", "ring", 64, 8, **big) > closed_form(
        "all-reduce", "tree", 64, 8, **big
    )


@pytest.mark.parametrize("n", [1, 2, 4, 1024])
def test_is_power_of_two_true(n: int) -> None:
    assert is_power_of_two(n)


@pytest.mark.parametrize("n", [0, -2, 3, 6, 1023])
def test_is_power_of_two_false(n: int) -> None:
    assert not is_power_of_two(n)


@pytest.mark.parametrize("algorithm", [a for a, info in ALGORITHMS.items() if info.power_of_two])
def test_power_of_two_algorithm_rejects_six_ranks(algorithm: str) -> None:
    collective = ALGORITHMS[algorithm].collectives[0]
    with pytest.raises(ValueError, match="power-of-two number of ranks, got 6"):
        closed_form(collective, algorithm, 6, S, alpha_s=ALPHA, beta_s_per_byte=BETA)


def test_algorithm_that_does_not_serve_the_collective() -> None:
    with pytest.raises(
        ValueError, match=r"'ring' does not serve all-to-all; use one of .*pairwise"
    ):
        closed_form("all-to-all", "ring", 8, S, alpha_s=ALPHA, beta_s_per_byte=BETA)


def test_unknown_collective() -> None:
    with pytest.raises(ValueError, match="unknown collective"):
        algorithms_for("all-scatter")


def test_every_registered_algorithm_serves_what_it_claims() -> None:
    for name, info in ALGORITHMS.items():
        for coll in info.collectives:
            if coll in ("broadcast", "reduce") and name == "ring":
                continue
            assert name in algorithms_for(coll) or coll in ("broadcast", "reduce"), (name, coll)
        t = closed_form(info.collectives[0], name, 8, S, alpha_s=ALPHA, beta_s_per_byte=BETA)
        assert math.isfinite(t) and t > 0


@pytest.mark.parametrize("algorithm", [a for a, info in ALGORITHMS.items() if info.count_steps])
def test_counted_steps_are_the_steps_the_phases_charge(algorithm: str) -> None:
    """An algorithm that counts its software steps before routing (the floor a waiting
    candidate is left unrouted with) counts exactly the alpha terms its phases charge, for
    every collective it serves, on packed and scattered ranks of two fabrics."""
    for G in (topologies.build("clos", num_gpus=64),
              topologies.build("fat-tree", k=4, gpus_per_node=2, scaleup="nvswitch-h100")):
        for placement in ("packed", "random"):
            on = placed_ranks(G, 12, placement, seed=2)
            for coll in ALGORITHMS[algorithm].collectives:
                charged = sum(ph.repeat * ph.alpha_steps for ph in phases(on, coll, algorithm))
                assert software_steps(on, coll, algorithm) == charged, (coll, placement)
