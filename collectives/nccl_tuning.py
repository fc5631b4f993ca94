"""NCCL's tuning table for one collective: latency and bandwidth per (algorithm, protocol).

The same table two ways: :func:`collectives.nccl.tune` computes it (a port of NCCL's
``ncclTopoTuneModel``) and :func:`collectives.nccl_log.parse_tuning_log` reads it from the log a
real run prints with ``NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=TUNING``, so the two compare directly.

>>> t = NcclTuneTable(collective="all-reduce", version="2.19", entries={
...     ("Tree", "LL"): NcclTuneEntry(latency_s=1e-5, algbw_bytes_per_s=None),
...     ("Ring", "LL"): NcclTuneEntry(latency_s=1e-5, algbw_bytes_per_s=6e10)})
>>> t.available()
[('Ring', 'LL')]
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NcclTuneEntry", "NcclTuneTable"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclTuneEntry:
    """One cell of NCCL's table: latency and algorithm bandwidth (``None``: unavailable)."""

    latency_s: float
    algbw_bytes_per_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclTuneTable:
    """NCCL's ``latencies``/``bandwidths`` for one collective, keyed by (algorithm, protocol)."""

    collective: str
    version: str
    entries: dict[tuple[str, str], NcclTuneEntry]

    def available(self) -> list[tuple[str, str]]:
        """The (algorithm, protocol) pairs NCCL may pick, in NCCL's order."""
        return [k for k, e in self.entries.items() if e.algbw_bytes_per_s is not None]
