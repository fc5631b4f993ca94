"""Closed-form alpha-beta-gamma costs of collective algorithms.

Notation (``shared/reference/nccl_models.md`` §3): ``n`` ranks, ``size_bytes`` S in nccl-tests'
meaning (:mod:`collectives.names`), ``alpha_s`` per message, ``beta_s_per_byte`` = 1/B,
``gamma_s_per_byte`` reduction time per byte, ``lg`` = log2. These closed forms are the model on
an ideal, contention-free network; :mod:`collectives.model` maps the same algorithms' steps onto a
fabric graph, where the links each step crosses decide its bandwidth.

>>> round(ring_all_reduce(8, 1e9, alpha_s=1e-6, beta_s_per_byte=1 / 50e9), 9)  # 14 us + 35 ms
0.035014
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from collectives.names import canonical

__all__ = ["ALGORITHMS", "AlgorithmInfo", "algorithms_for", "closed_form", "is_power_of_two"]


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
    JPDC 2009 (nccl_models.md §3.2).
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

    MPICH reduce_scatter_block_intra_pairwise.c (nccl_models.md §3.2).
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

    MPICH allreduce_intra_reduce_scatter_allgather.c, power-of-two case (nccl_models.md §3.2).
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
    and again in the broadcast phase (Sanders, Speck & Träff 2009; NCCL trees.cc;
    nccl_models.md §3.3).
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
    ``(n-1+k-1)(α + Sβ/k)``, nccl_models.md §3.2).
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
    (nccl_models.md §3.3).
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

    Half the ``2(n-1)/n·S`` a ring sends per rank; ideal algbw -> B (nccl_models.md §3.3, NVLS and
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
    """One message: Hockney ``α + Sβ`` (nccl_models.md §3.1)."""
    return alpha_s + size_bytes * beta_s_per_byte


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmInfo:
    """An algorithm: whether it needs a power of two, a summary; its collectives are derived."""

    name: str
    power_of_two: bool
    summary: str

    @property
    def collectives(self) -> tuple[str, ...]:
        """The collectives this algorithm serves (those with a closed form for it)."""
        return tuple(c for (c, a) in _CLOSED if a == self.name)


ALGORITHMS: dict[str, AlgorithmInfo] = {
    info.name: info
    for info in (
        AlgorithmInfo(
            name="ring",
            power_of_two=False,
            summary="ring (one ring per NIC/rail channel, rail-aligned with PXN)",
        ),
        AlgorithmInfo(
            name="tree",
            power_of_two=False,
            summary="double binary tree across domains, chains inside",
        ),
        AlgorithmInfo(
            name="recursive-doubling",
            power_of_two=True,
            summary="recursive doubling (pairwise exchange at distance 2^k)",
        ),
        AlgorithmInfo(
            name="recursive-halving",
            power_of_two=True,
            summary="recursive halving",
        ),
        AlgorithmInfo(
            name="rabenseifner",
            power_of_two=True,
            summary="reduce-scatter by halving + all-gather by doubling",
        ),
        AlgorithmInfo(
            name="binomial",
            power_of_two=False,
            summary="binomial tree",
        ),
        AlgorithmInfo(
            name="bruck",
            power_of_two=False,
            summary="Bruck (log steps)",
        ),
        AlgorithmInfo(
            name="pairwise",
            power_of_two=False,
            summary="pairwise exchange, n-1 steps",
        ),
        AlgorithmInfo(
            name="direct",
            power_of_two=False,
            summary="all pairs at once (PXN when domains exist)",
        ),
        AlgorithmInfo(
            name="hierarchical",
            power_of_two=False,
            summary="reduce-scatter in domain, ring all-reduce per rail, all-gather in domain",
        ),
        AlgorithmInfo(
            name="in-network",
            power_of_two=False,
            summary="switch reduction: NVLS in an NVSwitch domain, SHARP across it",
        ),
        AlgorithmInfo(
            name="pat",
            power_of_two=False,
            summary="PAT (Bruck-like, 1 GPU per node; arXiv 2506.20252)",
        ),
    )
}

_CLOSED = {
    ("all-reduce", "ring"): ring_all_reduce,
    ("all-gather", "ring"): ring_all_gather,
    ("reduce-scatter", "ring"): ring_reduce_scatter,
    ("broadcast", "ring"): pipelined_ring_broadcast,
    ("reduce", "ring"): pipelined_ring_broadcast,
    ("all-reduce", "tree"): double_binary_tree_all_reduce,
    ("all-reduce", "recursive-doubling"): recursive_doubling_all_reduce,
    ("all-gather", "recursive-doubling"): recursive_doubling_all_gather,
    ("reduce-scatter", "recursive-halving"): recursive_halving_reduce_scatter,
    ("all-reduce", "rabenseifner"): rabenseifner_all_reduce,
    ("broadcast", "binomial"): binomial_broadcast,
    ("reduce", "binomial"): binomial_broadcast,
    ("all-to-all", "bruck"): bruck_all_to_all,
    ("all-gather", "bruck"): recursive_doubling_all_gather,
    ("all-to-all", "pairwise"): pairwise_all_to_all,
    ("all-to-all", "direct"): direct_all_to_all,
    ("send-recv", "direct"): send_recv,
    ("all-reduce", "hierarchical"): ring_all_reduce,
    ("all-reduce", "in-network"): in_network_all_reduce,
    ("all-gather", "pat"): recursive_doubling_all_gather,
    ("reduce-scatter", "pat"): recursive_halving_reduce_scatter,
}


def algorithms_for(collective: str) -> list[str]:
    """Algorithm names that serve ``collective``."""
    name = canonical(collective)
    return [a for (c, a) in _CLOSED if c == name]


def closed_form(
    collective: str,
    algorithm: str,
    num_ranks: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Contention-free time of ``algorithm`` for ``collective`` (seconds).

    Raises
    ------
    ValueError
        If the algorithm does not serve the collective (the message lists those that do), or it
        needs a power-of-two rank count and ``num_ranks`` is not one.
    """
    name = canonical(collective)
    func = _CLOSED.get((name, algorithm))
    if func is None:
        raise ValueError(
            f"algorithm {algorithm!r} does not serve {name}; use one of "
            f"{', '.join(algorithms_for(name))}"
        )
    info = ALGORITHMS[algorithm]
    if info.power_of_two and not is_power_of_two(num_ranks):
        raise ValueError(
            f"algorithm {algorithm!r} needs a power-of-two number of ranks, got {num_ranks}"
        )
    if name == "broadcast":  # broadcast and reduce share a closed form; only reduce reduces
        gamma_s_per_byte = 0.0
    return float(
        func(
            num_ranks,
            size_bytes,
            alpha_s=alpha_s,
            beta_s_per_byte=beta_s_per_byte,
            gamma_s_per_byte=gamma_s_per_byte,
        )
    )
