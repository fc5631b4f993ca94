"""Collective names, aliases and nccl-tests' bus-bandwidth factors.

Sizes follow nccl-tests' ``size`` column (NVIDIA/nccl-tests ``doc/PERFORMANCE.md``): the per-rank
buffer for all-reduce, broadcast, reduce and send-recv; the *total* gathered / scattered buffer
for all-gather and reduce-scatter; the total per-rank send buffer for all-to-all.

>>> canonical("allreduce"), canonical("all_gather"), canonical("alltoall")
('all-reduce', 'all-gather', 'all-to-all')
>>> busbw_factor("all-reduce", 8)
1.75
"""

from __future__ import annotations

__all__ = ["COLLECTIVES", "canonical", "busbw_factor"]

COLLECTIVES = (
    "all-reduce",
    "all-gather",
    "reduce-scatter",
    "all-to-all",
    "broadcast",
    "reduce",
    "send-recv",
)

_ALIASES = {
    "allreduce": "all-reduce",
    "allgather": "all-gather",
    "reducescatter": "reduce-scatter",
    "alltoall": "all-to-all",
    "bcast": "broadcast",
    "broadcast": "broadcast",
    "reduce": "reduce",
    "sendrecv": "send-recv",
    "p2p": "send-recv",
    "pingpong": "send-recv",
}


def canonical(name: str) -> str:
    """Canonical collective name for ``name`` (``all_reduce``, ``AllReduce``, ``allreduce``...).

    Raises
    ------
    ValueError
        If the name is not a known collective; the message lists the known ones.
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key.endswith("perf"):
        key = key[: -len("perf")]
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown collective {name!r}; known: {', '.join(COLLECTIVES)}")


def busbw_factor(collective: str, num_ranks: int) -> float:
    """nccl-tests' busbw / algbw factor (``doc/PERFORMANCE.md``).

    all-reduce 2(n-1)/n; all-gather, reduce-scatter, all-to-all (n-1)/n; others 1.
    """
    name = canonical(collective)
    n = int(num_ranks)
    if n < 1:
        raise ValueError(f"num_ranks must be >= 1, got {num_ranks!r}")
    if name == "all-reduce":
        return 2.0 * (n - 1) / n
    if name in ("all-gather", "reduce-scatter", "all-to-all"):
        return (n - 1) / n
    return 1.0
