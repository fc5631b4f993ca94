"""Parse Intel MPI Benchmarks (IMB-MPI1) output into records.

Layout (intel/mpi-benchmarks ``src_c/IMB_output.c``):
blocks opened by ``# Benchmarking <Name>`` and ``# #processes = N``, a column header starting
with ``#bytes #repetitions``, one row per size.

Conventions of this importer:

- PingPong and PingPing print ``t[usec]``, which IMB already defines as half the measured round
  trip, i.e. the time of one message; it is ``time_s`` as printed (operation ``send-recv``,
  2 ranks; ``extra["benchmark"]`` tells PingPong, the uncontended one-way time, from PingPing,
  where both ranks send at once).
- Collectives print ``t_min``, ``t_max`` and ``t_avg`` over ranks. ``time_s`` is ``t_max``: the
  record schema's time is the max over ranks, and IMB derives its own bandwidth from ``t_max``.
  ``t_min`` / ``t_max`` go to ``time_min_s`` / ``time_max_s``, ``t_avg`` to
  ``extra["time_avg_s"]``, ``#repetitions`` to ``iterations``.
- ``Mbytes/sec`` is kept in ``extra["printed_mbytes_per_s"]`` as printed: IMB 2018 and later use
  1e6 B/s, older releases 2**20 B/s, so the importer derives nothing from it.
- Sizes follow nccl-tests' meaning (:mod:`collectives.names`): IMB's ``#bytes`` is the per-rank
  block for Allgather and the per-peer block for Alltoall, so both are multiplied by the number
  of processes (printed value in ``extra["printed_size_bytes"]``).
- Ranks come from ``# #processes = N``; hosts, which IMB does not print, from ``num_hosts`` or
  else an ``mpirun -n N -N K`` / ``-ppn K`` / ``srun -N H`` command line in the log (recorded in
  the records' ``inferred``). Headers indented or list-marked by a Markdown paste are found.
- ``#bytes 0`` rows move no data and give no record. Benchmarks without a modeled operation
  (Sendrecv, Exchange, Barrier, Gather, ``-multi`` variants ...) are reported as skipped.

>>> text = '''# Benchmarking PingPong
... # #processes = 2
...        #bytes #repetitions      t[usec]   Mbytes/sec
...          1024         1000         2.61       373.77'''
>>> [(r.operation, r.size_bytes, r.time_s, r.num_ranks) for r in parse_imb(text).records]
[('send-recv', 1024, 2.61e-06, 2)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from collectives.names import canonical
from measure.parsers.common import (
    RANKS_ADVICE,
    Launch,
    ParsedLog,
    SkippedLine,
    check_count,
    find_launches,
    launch_before,
    parse_int,
    parse_number,
    parse_scaled,
    placement_from_counts,
    shorten,
    split_lines,
)
from measure.record_checks import check_record
from measure.records import Record

__all__ = ["parse_imb", "looks_like_imb"]

_BENCHMARK = re.compile(r"^#\s*Benchmarking\s+(\S+)")
_PROCESSES = re.compile(r"^#\s*#processes\s*=\s*(\d+)")
_HEADER = re.compile(r"^\s*#bytes\s+#repetitions\s+(.*)$")
_VERSION = re.compile(r"Intel\s*\(R\)\s*MPI Benchmarks\s+(\S+?),?\s")
_DATA = re.compile(r"^\s*\d+\s+\d+\s+[-+\d.]")
_PT2PT = ("pingpong", "pingping")
_COLLECTIVES = {
    "allreduce": "all-reduce",
    "allgather": "all-gather",
    "reduce_scatter": "reduce-scatter",
    "alltoall": "all-to-all",
    "bcast": "broadcast",
    "reduce": "reduce",
}
_RANKS_UNKNOWN = f"the block has no '# #processes = N' line; {RANKS_ADVICE}"


def looks_like_imb(line: str) -> bool:
    """Whether a (prefix-stripped) line is a marker of IMB output."""
    return bool(_BENCHMARK.match(line) or _HEADER.match(line))


@dataclass
class _Block:
    benchmark: str = ""
    operation: str = ""
    unsupported: str = ""
    num_processes: int | None = None
    columns: tuple[str, ...] = ()


def _classify(block: _Block) -> None:
    key = block.benchmark.lower()
    if key in _PT2PT:
        block.operation = "send-recv"
    elif key in _COLLECTIVES:
        block.operation = canonical(_COLLECTIVES[key])
    else:
        block.unsupported = f"IMB benchmark {block.benchmark!r} is not a modeled operation"


def parse_imb(
    text: str,
    *,
    name: str = "<log>",
    num_ranks: int | None = None,
    num_hosts: int | None = None,
    operation: str | None = None,
) -> ParsedLog:
    """Read IMB-MPI1 output; one record per benchmark and size.

    Parameters
    ----------
    text
        The log (any number of ``# Benchmarking`` blocks; noise lines are ignored).
    name
        The log's name for messages.
    num_ranks
        Used for collective blocks without a ``#processes`` line.
    num_hosts
        Hosts of the run, which IMB does not print (unknown: 1 host, empty placement, warning).
    operation
        The operation of a table without its ``# Benchmarking`` line.

    Returns
    -------
    ParsedLog
        ``format="imb"``.

    Raises
    ------
    ValueError
        If no data line can be read (the message names the first unreadable line).
    """
    num_ranks = check_count(num_ranks, "num_ranks")
    num_hosts = check_count(num_hosts, "num_hosts")
    default_op = canonical(operation) if operation else None
    records: list[Record] = []
    skipped: list[SkippedLine] = []
    warnings: list[str] = []
    library: dict[str, str] = {}
    zero_rows = 0
    block: _Block | None = None
    launches = find_launches(text)
    inferred: dict[str, None] = {}
    for number, line in split_lines(text):
        match = _VERSION.search(line)
        if match:
            library["imb"] = match.group(1)
            continue
        match = _BENCHMARK.match(line)
        if match:
            block = _Block(benchmark=match.group(1))
            _classify(block)
            if block.unsupported:
                warnings.append(f"{name}:{number}: {block.unsupported}")
            continue
        match = _PROCESSES.match(line)
        if match and block is not None:
            block.num_processes = int(match.group(1))
            continue
        match = _HEADER.match(line)
        if match:
            if block is None or block.columns:
                block = _Block(
                    benchmark=block.benchmark if block else "",
                    operation=block.operation if block else (default_op or ""),
                    unsupported=block.unsupported if block else "",
                    num_processes=block.num_processes if block else None,
                )
            block.columns = tuple(match.group(1).split())
            continue
        if block is None or not block.columns or not _DATA.match(line):
            continue
        try:
            record = _record(line.split(), block, library, num_ranks, num_hosts,
                             launch_before(launches, number))
        except _ZeroSize:
            zero_rows += 1
            continue
        except ValueError as err:
            skipped.append(SkippedLine(line_number=number, text=shorten(line), reason=str(err)))
            continue
        check_record(record, where=f"{name}:{number}")
        for key, evidence in record.inferred.items():
            value = record.num_ranks if key == "num_ranks" else record.num_hosts
            inferred.setdefault(f"{name}: {key} {value} inferred from {evidence}")
        records.append(record)
    if not records:
        detail = f" (line {skipped[0].line_number}: {skipped[0].reason})" if skipped else ""
        raise ValueError(f"{name}: no IMB data lines found{detail}")
    if any(r.placement == "" for r in records):
        warnings.append(
            f"{name}: IMB logs do not say which hosts ran the ranks; "
            "recorded as 1 host (pass --hosts H)"
        )
    return ParsedLog(
        name=name,
        format="imb",
        records=tuple(records),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        library=library,
        num_zero_size_rows=zero_rows,
        inferred=tuple(inferred),
    )


class _ZeroSize(Exception):
    """A ``#bytes 0`` row."""


def _record(
    tokens: list[str],
    block: _Block,
    library: dict[str, str],
    num_ranks: int | None,
    num_hosts: int | None,
    launch: Launch | None,
) -> Record:
    if block.unsupported:
        raise ValueError(block.unsupported)
    if not block.operation:
        raise ValueError("the table has no '# Benchmarking X' line naming it; pass --operation")
    if len(tokens) < 2 + len(block.columns):
        raise ValueError(f"{len(tokens)} columns, the header names {2 + len(block.columns)}")
    size_bytes = parse_int(tokens[0], "#bytes")
    repetitions = parse_int(tokens[1], "#repetitions")
    if size_bytes == 0:
        raise _ZeroSize
    cells = list(zip(block.columns, tokens[2:], strict=False))
    values = {column: parse_number(token, column) for column, token in cells}
    seconds = {
        column: parse_scaled(token, -6, column)
        for column, token in cells
        if column.endswith("[usec]")
    }
    extra: dict[str, Any] = {"benchmark": block.benchmark}
    if "Mbytes/sec" in values:
        extra["printed_mbytes_per_s"] = values["Mbytes/sec"]
    ranks: int | None
    if block.operation == "send-recv":
        ranks = 2
        if "t[usec]" not in values:
            raise ValueError(f"no t[usec] column in {' '.join(block.columns)!r}")
        time_s = seconds["t[usec]"]
        time_min_s = time_max_s = None
    else:
        ranks = block.num_processes or num_ranks
        if ranks is None:
            raise ValueError(_RANKS_UNKNOWN)
        missing = [c for c in ("t_min[usec]", "t_max[usec]", "t_avg[usec]") if c not in values]
        if missing:
            raise ValueError(f"no {', '.join(missing)} column in {' '.join(block.columns)!r}")
        time_s = seconds["t_max[usec]"]
        time_min_s = seconds["t_min[usec]"]
        time_max_s = seconds["t_max[usec]"]
        extra["time_avg_s"] = seconds["t_avg[usec]"]
    if time_s <= 0:
        raise ValueError(f"time {time_s * 1e6!r} us is not > 0")
    inferred: dict[str, str] = {}
    hosts = num_hosts
    if (hosts is None and launch is not None and launch.num_hosts is not None
            and launch.num_ranks == ranks):
        hosts = launch.num_hosts
        inferred["num_hosts"] = (f"the launcher line {launch.line_number} ({launch.num_ranks} "
                                 f"processes on {launch.num_hosts} hosts)")
    placement = placement_from_counts(ranks, hosts if hosts is None or hosts <= ranks else ranks)
    record_size = size_bytes
    if block.operation in ("all-gather", "all-to-all"):
        record_size = size_bytes * ranks
        extra["printed_size_bytes"] = size_bytes
    return Record(
        operation=block.operation,
        size_bytes=record_size,
        time_s=time_s,
        num_ranks=ranks,
        num_hosts=placement.num_hosts,
        source="imb",
        ranks_per_host=placement.ranks_per_host,
        placement=placement.placement,
        time_min_s=time_min_s,
        time_max_s=time_max_s if time_min_s is not None else None,
        iterations=repetitions,
        backend="mpi",
        library=dict(library),
        extra=extra,
        inferred=inferred,
    )
