"""Sanity checks on one measured or imported record: could the hardware have produced it?

Three checks, shared by the log importers (:mod:`measure.parsers`, which refuse a failing
record naming the log line) and the probes (which keep a failing record, as it was measured,
with its problems in ``extra["problems"]`` and a warning; :func:`measure.probe_core.make_record`):

- **size against count x type size.** A record that carries the element count it was printed
  with (nccl-tests' ``count`` column in ``extra["count"]``) and a known ``dtype`` must have
  ``size_bytes = count x type size`` (all-reduce, broadcast, reduce, send-recv) or
  ``count x type size x num_ranks`` (all-gather, reduce-scatter, all-to-all: nccl-tests prints
  the per-rank count; NVIDIA/nccl-tests ``doc/PERFORMANCE.md`` and ``src/*.cu``). A log with the
  size and count columns swapped fails here.
- **time within physical bounds**: above :data:`TIME_FLOOR_S` (50 ns; no collective or message
  completes faster than one trip through a NIC or NVLink port, whose latency alone is ~100 ns -
  NVIDIA H100 and NVLink data sheets, 2023) and below :data:`TIME_CEILING_S` (one hour per
  iteration; benchmark logs time single operations, not jobs).
- **bus bandwidth below the fastest link**: ``busbw`` (nccl-tests' convention, see
  :attr:`measure.records.Record.busbw_bytes_per_s`) at most :data:`BANDWIDTH_MARGIN` times the
  fastest per-GPU bandwidth in the hardware catalog, read at run time (the scale-up links of the
  fastest GPU, e.g. NVLink 5: 18 x 50 GB/s per direction = 900 GB/s for a B200, NVIDIA NVLink
  page, 2024). The margin leaves room for NVLink SHARP and 2-node tree all-reduce, whose busbw
  exceeds the wire rate (NVIDIA/nccl-tests issues #212, #196).

>>> from measure.records import Record
>>> ok = Record(operation="all-reduce", size_bytes=1024, time_s=10e-6, num_ranks=8, num_hosts=1,
...             dtype="float", extra={"count": 256})
>>> record_problems(ok)
[]
>>> swapped = Record(operation="all-reduce", size_bytes=256, time_s=10e-6, num_ranks=8,
...                  num_hosts=1, dtype="float", extra={"count": 1024})
>>> record_problems(swapped)
['size 256 B is not count 1024 x 4 B (float) = 4096 B (are the size and count columns swapped?)']
"""

from __future__ import annotations

import functools
from typing import Any

from fabric.catalog import Catalog, default_catalog
from measure.records import Record

__all__ = [
    "TIME_FLOOR_S",
    "TIME_CEILING_S",
    "BANDWIDTH_MARGIN",
    "DTYPE_BYTES",
    "fastest_link_bytes_per_s",
    "record_problems",
    "check_record",
]

TIME_FLOOR_S = 0.05e-6
TIME_CEILING_S = 3600.0
BANDWIDTH_MARGIN = 1.5

# Element sizes of the type names nccl-tests/rccl-tests print (src/common.cu test_typenames).
DTYPE_BYTES = {
    "int8": 1, "uint8": 1, "char": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "f8e4m3": 1, "f8e5m2": 1,
    "half": 2, "float16": 2, "bfloat16": 2, "bf16": 2,
    "int32": 4, "uint32": 4, "int": 4, "float": 4, "float32": 4,
    "int64": 8, "uint64": 8, "double": 8, "float64": 8,
}
_PER_RANK_COUNT = ("all-gather", "reduce-scatter", "all-to-all")


def fastest_link_bytes_per_s(catalog: Catalog | None = None) -> float:
    """The fastest per-GPU bandwidth (one direction) in ``catalog`` (default: the built-in one).

    The larger of any GPU's scale-up bandwidth (its link's rate x its number of links) and the
    fastest single link of any kind.
    """
    if catalog is None:
        return _default_fastest()
    return _fastest(catalog)


@functools.lru_cache(maxsize=1)
def _default_fastest() -> float:
    return _fastest(default_catalog())


def _fastest(catalog: Catalog) -> float:
    best = max((link.bandwidth_bytes_per_s for link in catalog.links.values()), default=0.0)
    for gpu in catalog.gpus.values():
        link = catalog.links.get(gpu.nvlink) if gpu.nvlink else None
        if link is not None:
            best = max(best, link.bandwidth_bytes_per_s * max(gpu.nvlink_num_links, 1))
    if best <= 0:
        raise ValueError("the catalog has no link with a bandwidth > 0")
    return best


def record_problems(record: Record, *, fastest_bytes_per_s: float | None = None) -> list[str]:
    """One line per check ``record`` fails (empty: it passes them all).

    Parameters
    ----------
    record
        The record to check.
    fastest_bytes_per_s
        The fastest per-GPU link to compare bus bandwidth with (default: the built-in catalog's,
        :func:`fastest_link_bytes_per_s`).
    """
    problems = []
    size = _size_problem(record)
    if size:
        problems.append(size)
    if record.time_s < TIME_FLOOR_S:
        problems.append(f"time {_us(record.time_s)} us is below the physical floor of "
                        f"{_us(TIME_FLOOR_S)} us")
    elif record.time_s > TIME_CEILING_S:
        problems.append(f"time {_us(record.time_s)} us is above the ceiling of one hour")
    else:
        fastest = fastest_bytes_per_s or fastest_link_bytes_per_s()
        busbw = record.busbw_bytes_per_s
        if busbw > BANDWIDTH_MARGIN * fastest:
            problems.append(f"bus bandwidth {busbw / 1e9:.4g} GB/s is above {BANDWIDTH_MARGIN}x "
                            f"the fastest link in the catalog ({fastest / 1e9:.4g} GB/s per GPU)")
    return problems


def check_record(record: Record, *, where: str = "",
                 fastest_bytes_per_s: float | None = None) -> None:
    """Raise ValueError naming the first failed check (``where``: a ``file:line`` prefix).

    Probes call this before writing a record; importers call it per log line.
    """
    problems = record_problems(record, fastest_bytes_per_s=fastest_bytes_per_s)
    if problems:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}{problems[0]}")


def _size_problem(record: Record) -> str:
    count: Any = record.extra.get("count")
    type_bytes = DTYPE_BYTES.get(record.dtype.lower()) if record.dtype else None
    if type_bytes is None or not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return ""
    ranks = record.num_ranks if record.operation in _PER_RANK_COUNT else 1
    expected = count * type_bytes * ranks
    if record.size_bytes == expected:
        return ""
    rank_part = f" x {ranks} ranks" if ranks > 1 else ""
    hint = " (are the size and count columns swapped?)" if record.size_bytes < count else ""
    return (f"size {record.size_bytes} B is not count {count} x {type_bytes} B ({record.dtype})"
            f"{rank_part} = {expected} B{hint}")


def _us(time_s: float) -> str:
    return f"{time_s * 1e6:.6g}"
