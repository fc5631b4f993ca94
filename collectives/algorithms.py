"""Closed-form alpha-beta-gamma costs of collective algorithms.

Sources: Thakur, Rabenseifner & Gropp, "Optimization of Collective Communication Operations in
MPICH", IJHPCA 2005, https://doi.org/10.1177/1094342005051521 ("Thakur et al. 2005"), and
NCCL's algorithms (https://github.com/NVIDIA/nccl). Notation: ``n`` ranks, ``size_bytes`` S in
nccl-tests' meaning (:mod:`collectives.names`), ``alpha_s`` per message, ``beta_s_per_byte`` = 1/B,
``gamma_s_per_byte`` reduction time per byte, ``lg`` = log2. These closed forms are the model on
an ideal, contention-free network; :mod:`collectives.model` maps the same algorithms' steps onto a
fabric graph, where the links each step crosses decide its bandwidth. Which closed form belongs to
which (collective, algorithm) is the algorithm registry's (:mod:`collectives.registry`,
:func:`~collectives.registry.closed_form`).

>>> round(ring_all_reduce(8, 1e9, alpha_s=1e-6, beta_s_per_byte=1 / 50e9), 9)  # 14 us + 35 ms
0.035014
"""

from __future__ import annotations

import math

__all__ = [
    "is_power_of_two",
    "ring_all_reduce",
    "ring_all_gather",
    "ring_reduce_scatter",
    "recursive_doubling_all_reduce",
    "recursive_doubling_all_gather",
    "recursive_halving_reduce_scatter",
    "rabenseifner_all_reduce",
    "double_binary_tree_all_reduce",
    "binomial_broadcast",
    "pipelined_ring_broadcast",
    "bruck_all_to_all",
    "pairwise_all_to_all",
    "direct_all_to_all",
    "in_network_all_reduce",
    "send_recv",
]


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, 8, ..."""
    return n >= 1 and n & (n - 1) == 0


def _lg(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


def ring_all_reduce(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Ring all-reduce: ``2(n-1)α + 2(n-1)/n·Sβ + (n-1)/n·Sγ``.

    Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations",
    JPDC 2009, https://doi.org/10.1016/j.jpdc.2008.09.002.
    """
    f = (n - 1) / n
    return (
        2 * (n - 1) * alpha_s
        + 2 * f * size_bytes * beta_s_per_byte
        + f * size_bytes * gamma_s_per_byte
    )


def ring_all_gather(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Ring all-gather (S = gathered total): ``(n-1)α + (n-1)/n·Sβ``.

    Source: MPICH ``allgather_intra_ring.c``.
    """
    return (n - 1) * alpha_s + (n - 1) / n * size_bytes * beta_s_per_byte


def ring_reduce_scatter(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Ring / pairwise reduce-scatter (S = input total): ``(n-1)α + (n-1)/n·S(β+γ)``.

    MPICH reduce_scatter_block_intra_pairwise.c (Thakur et al. 2005).
    """
    f = (n - 1) / n
    return (n - 1) * alpha_s + f * size_bytes * (beta_s_per_byte + gamma_s_per_byte)


def recursive_doubling_all_reduce(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Recursive doubling all-reduce: ``lg n·(α + Sβ + Sγ)`` (MPICH
    allreduce_intra_recursive_doubling.c).
    """
    return _lg(n) * (alpha_s + size_bytes * (beta_s_per_byte + gamma_s_per_byte))


def recursive_doubling_all_gather(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Recursive doubling (or Bruck) all-gather: ``lg n·α + (n-1)/n·Sβ`` (MPICH
    allgather_intra_*.c).
    """
    return _lg(n) * alpha_s + (n - 1) / n * size_bytes * beta_s_per_byte


def recursive_halving_reduce_scatter(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Recursive halving reduce-scatter: ``lg n·α + (n-1)/n·S(β+γ)`` (MPICH
    reduce_scatter_intra_recursive_halving.c).
    """
    return _lg(n) * alpha_s + (n - 1) / n * size_bytes * (beta_s_per_byte + gamma_s_per_byte)


def rabenseifner_all_reduce(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Rabenseifner (reduce-scatter halving + all-gather doubling): ``2 lg n·α + 2(n-1)/n·Sβ +
    (n-1)/n·Sγ``.

    MPICH allreduce_intra_reduce_scatter_allgather.c, power-of-two case (Thakur et al. 2005).
    """
    f = (n - 1) / n
    return (
        2 * _lg(n) * alpha_s
        + 2 * f * size_bytes * beta_s_per_byte
        + f * size_bytes * gamma_s_per_byte
    )


def double_binary_tree_all_reduce(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Double binary tree, pipelined: ``2 lg n·α + 2·Sβ + Sγ``.

    Two trees each carry half the data; every rank sends and receives about S in the reduce phase
    and again in the broadcast phase (Sanders, Speck & Träff 2009; NCCL
    src/graph/trees.cc).
    """
    return 2 * _lg(n) * alpha_s + 2 * size_bytes * beta_s_per_byte + size_bytes * gamma_s_per_byte


def binomial_broadcast(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Binomial tree broadcast / reduce: ``lg n·(α + Sβ)`` (+ ``lg n·Sγ`` for reduce) (MPICH
    bcast_intra_binomial.c).
    """
    return _lg(n) * (alpha_s + size_bytes * (beta_s_per_byte + gamma_s_per_byte))


def pipelined_ring_broadcast(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Pipelined chain broadcast with many chunks: ``(n-1)α + S(β+γ)`` (large-message limit of
    ``(n-1+k-1)(α + Sβ/k)``, Thakur et al. 2005).
    """
    return (n - 1) * alpha_s + size_bytes * (beta_s_per_byte + gamma_s_per_byte)


def bruck_all_to_all(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Bruck all-to-all (S = per-rank total send): ``lg n·α + (S/2) lg n·β`` (MPICH
    alltoall_intra_brucks.c).
    """
    return _lg(n) * alpha_s + size_bytes / 2 * _lg(n) * beta_s_per_byte


def pairwise_all_to_all(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Pairwise exchange all-to-all: ``(n-1)α + (n-1)/n·Sβ`` (MPICH alltoall_intra_pairwise.c; S
    per-rank total).
    """
    return (n - 1) * alpha_s + (n - 1) / n * size_bytes * beta_s_per_byte


def direct_all_to_all(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """All pairs at once (NCCL's grouped send/recv): ``α + (n-1)/n·Sβ`` on a non-blocking network
    (NCCL's P2P all-to-all).
    """
    return alpha_s + (n - 1) / n * size_bytes * beta_s_per_byte


def in_network_all_reduce(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Switch reduction (SHARP / NVLS): each rank sends S once and receives S once: ``2α + Sβ``.

    Half the ``2(n-1)/n·S`` a ring sends per rank; ideal algbw -> B (NCCL's NVLS and
    CollNet).
    """
    return 2 * alpha_s + size_bytes * beta_s_per_byte


def send_recv(
    n: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """One message: Hockney ``α + Sβ`` (Parallel Computing, 1994)."""
    return alpha_s + size_bytes * beta_s_per_byte
