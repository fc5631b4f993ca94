"""Parse OSU Micro-Benchmarks output (OMB 3.x to 7.x) into records.

Layout (OMB ``c/util/osu_util_mpi.c``): a banner
``# OSU MPI[-CUDA] <Name> Test vX.Y``, in 7.x a ``# Datatype: MPI_CHAR.`` line, a column header
``# Size`` followed by value columns, then one row per size.

Conventions of this importer:

- ``osu_latency`` (``Latency (us)``): one-way latency (half the ping-pong round trip), so
  ``time_s`` is the printed value; operation ``send-recv``.
- ``osu_bw`` (``Bandwidth (MB/s)``, decimal MB): ``time_s = size / (MB/s x 1e6)``, the time per
  message when messages stream back to back; the bandwidth stays in
  ``extra["bandwidth_bytes_per_s"]``.
- Collectives (``Avg Latency(us)``): ``time_s`` is the printed average over ranks of each rank's
  mean time; with ``-f`` the min / max over ranks go to ``time_min_s`` / ``time_max_s`` and the
  iteration count to ``iterations``.
- Sizes follow nccl-tests' meaning (:mod:`collectives.names`): OSU prints the per-rank message
  for ``osu_allgather`` and the per-peer message for ``osu_alltoall``; both are multiplied by the
  number of ranks (the printed value stays in ``extra["printed_size_bytes"]``).
- OSU does not print how many ranks ran or where. They come from ``num_ranks``/``num_hosts``
  (``--ranks``/``--hosts``), else from an ``mpirun -np N`` (``srun -n N -N H``, ``-npernode``
  ...) command line in the log, which is recorded in the records' ``inferred``; a collective
  with neither is refused (:data:`RANKS_UNKNOWN`). Point-to-point tests default to 2 ranks.
  Size-0 rows carry no data and give no record.

>>> text = '''# OSU MPI Latency Test v5.0
... # Size          Latency (us)
... 0                       1.84
... 1024                    2.18'''
>>> [(r.operation, r.size_bytes, r.time_s) for r in parse_osu(text).records]
[('send-recv', 1024, 2.18e-06)]
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

__all__ = ["parse_osu", "looks_like_osu", "RANKS_UNKNOWN"]

RANKS_UNKNOWN = ("OSU logs do not say how many ranks ran and this one has no mpirun -np line; "
                 f"{RANKS_ADVICE}")

_BANNER = re.compile(r"^#\s*OSU\s+([A-Za-z]+(?:-[A-Za-z0-9]+)?)\s+(.+?)\s+Test(?:\s+v(\S+))?\s*$")
_HEADER = re.compile(r"^#\s*Size\b\s*(.*)$")
_DATATYPE = re.compile(r"^#\s*Datatype:\s*(\S+?)\.?\s*$")
_DATA = re.compile(r"^\s*\d+\s+[-+\d.]")


def looks_like_osu(line: str) -> bool:
    """Whether a (prefix-stripped) line is a marker of OSU output."""
    return bool(_BANNER.match(line) or (_HEADER.match(line) and (
        "Latency" in line or "Bandwidth" in line)))


@dataclass
class _Test:
    name: str = ""
    variant: str = "MPI"
    version: str = ""
    kind: str = ""          # "latency", "bw", "collective" or "" (unsupported)
    operation: str = ""
    unsupported: str = ""
    dtype: str = ""
    columns: tuple[str, ...] = ()


def _classify(test: _Test, default_op: str | None) -> None:
    key = re.sub(r"[^a-z]", "", test.name.lower())
    test.kind, test.operation, test.unsupported = "", "", ""
    if "nonblocking" in key:
        test.unsupported = f"OSU test {test.name!r} (non-blocking) is not imported"
    elif key in ("latency", "multithreadedlatency", "latencymultithreaded"):
        test.kind, test.operation = "latency", "send-recv"
    elif key == "bandwidth":
        test.kind, test.operation = "bw", "send-recv"
    elif key.endswith("latency"):
        base = key[: -len("latency")].replace("personalizedexchange", "")
        try:
            test.kind, test.operation = "collective", canonical(base)
        except ValueError:
            test.unsupported = f"OSU test {test.name!r} is not a modeled operation"
    elif key == "" and default_op:
        test.kind, test.operation = "collective", default_op
    else:
        test.unsupported = f"OSU test {test.name!r} is not imported"


def _column_kind(name: str) -> str:
    low = name.lower().replace(" ", "")
    if low.startswith("avglatency"):
        return "avg"
    if low.startswith("minlatency"):
        return "min"
    if low.startswith("maxlatency"):
        return "max"
    if low.startswith("latency"):
        return "latency"
    if low.startswith("bandwidth"):
        return "bw"
    if low.startswith("iterations"):
        return "iterations"
    return name


def parse_osu(
    text: str,
    *,
    name: str = "<log>",
    num_ranks: int | None = None,
    num_hosts: int | None = None,
    operation: str | None = None,
) -> ParsedLog:
    """Read OSU Micro-Benchmarks output; one record per size.

    Parameters
    ----------
    text
        The log (several benchmarks may follow each other; noise lines are ignored).
    name
        The log's name for messages.
    num_ranks, num_hosts
        Ranks and hosts of the run, which OSU does not print. Point-to-point tests default to
        2 ranks; collectives need ``num_ranks``. Unknown hosts are recorded as 1 host with an
        empty placement and a warning.
    operation
        The collective, for a table without its ``# OSU ...`` banner.

    Returns
    -------
    ParsedLog
        ``format="osu"``.

    Raises
    ------
    ValueError
        If a collective table is found and ``num_ranks`` is None (:data:`RANKS_UNKNOWN`), or if
        no data line can be read.
    """
    num_ranks = check_count(num_ranks, "num_ranks")
    num_hosts = check_count(num_hosts, "num_hosts")
    default_op = canonical(operation) if operation else None
    records: list[Record] = []
    skipped: list[SkippedLine] = []
    warnings: list[str] = []
    library: dict[str, str] = {}
    zero_rows = 0
    test: _Test | None = None
    launches = find_launches(text)
    inferred: dict[str, None] = {}
    for number, line in split_lines(text):
        match = _BANNER.match(line)
        if match:
            test = _Test(variant=match.group(1), name=match.group(2), version=match.group(3) or "")
            _classify(test, default_op)
            if test.version:
                library["osu"] = test.version
            if test.unsupported:
                warnings.append(f"{name}:{number}: {test.unsupported}")
            continue
        match = _DATATYPE.match(line)
        if match and test is not None:
            test.dtype = match.group(1)
            continue
        match = _HEADER.match(line)
        if match:
            if test is None or test.columns:
                test = _Test(name=_name_from_columns(match.group(1)))
                _classify(test, default_op)
            test.columns = tuple(c for c in re.split(r"\s{2,}", match.group(1).strip()) if c)
            continue
        if test is None or not test.columns or not _DATA.match(line):
            continue
        launch = launch_before(launches, number)
        _check_given(name, launch, num_ranks, num_hosts)
        try:
            record = _record(line.split(), test, library, num_ranks, num_hosts, launch)
        except _ZeroSize:
            zero_rows += 1
            continue
        except ValueError as err:
            if str(err) == RANKS_UNKNOWN:
                raise ValueError(f"{name}: {RANKS_UNKNOWN}") from None
            skipped.append(SkippedLine(line_number=number, text=shorten(line), reason=str(err)))
            continue
        check_record(record, where=f"{name}:{number}")
        for key, evidence in record.inferred.items():
            value = record.num_ranks if key == "num_ranks" else record.num_hosts
            inferred.setdefault(f"{name}:{number}: {key} {value} inferred from {evidence}")
        records.append(record)
    if not records:
        detail = f" (line {skipped[0].line_number}: {skipped[0].reason})" if skipped else ""
        raise ValueError(f"{name}: no OSU data lines found{detail}")
    if any(r.placement == "" for r in records):
        warnings.append(f"{name}: OSU logs do not say which hosts ran the ranks; "
                        "recorded as 1 host (pass --hosts H)")
    return ParsedLog(name=name, format="osu", records=tuple(records), skipped=tuple(skipped),
                     warnings=tuple(warnings), library=library, num_zero_size_rows=zero_rows,
                     inferred=_first_per_key(inferred))


def _first_per_key(lines: dict[str, None]) -> tuple[str, ...]:
    """Inference lines, one per distinct (key, value, evidence) after the line number."""
    seen: dict[str, str] = {}
    for line in lines:
        seen.setdefault(line.split(": ", 1)[-1], line)
    return tuple(seen.values())


class _ZeroSize(Exception):
    """A size-0 row (no data moved)."""


def _name_from_columns(columns: str) -> str:
    low = columns.lower()
    if "avg latency" in low:
        return ""
    if "bandwidth" in low and "bi-" not in low:
        return "Bandwidth"
    if "latency" in low:
        return "Latency"
    return columns


def _check_given(name: str, launch: Launch | None, num_ranks: int | None,
                 num_hosts: int | None) -> None:
    """Refuse a ``num_ranks`` / ``num_hosts`` that the launcher line above the table states
    otherwise (the option would silently relabel the run)."""
    if launch is None:
        return
    where = f"{name}:{launch.line_number}"
    if num_ranks is not None and launch.num_ranks != num_ranks:
        raise ValueError(f"{where}: --ranks {num_ranks} contradicts the launcher line "
                         f"({launch.num_ranks} processes); drop --ranks, the log states them")
    if num_hosts is not None and launch.num_hosts is not None and launch.num_hosts != num_hosts:
        raise ValueError(f"{where}: --hosts {num_hosts} contradicts the launcher line "
                         f"({launch.num_hosts} hosts); drop --hosts, the log states them")


def _record(tokens: list[str], test: _Test, library: dict[str, str],
            num_ranks: int | None, num_hosts: int | None, launch: Launch | None) -> Record:
    if test.unsupported:
        raise ValueError(test.unsupported)
    if not test.operation:
        raise ValueError("the table has no '# OSU ... Test' banner naming it; pass --operation")
    size_bytes = parse_int(tokens[0], "size")
    if len(tokens) - 1 < len(test.columns):
        raise ValueError(f"{len(tokens)} columns, the header names {len(test.columns) + 1}")
    if size_bytes == 0:
        raise _ZeroSize
    ranks = num_ranks
    inferred: dict[str, str] = {}
    launch_text = (f"the launcher line {launch.line_number} ({launch.num_ranks} processes"
                   f"{f' on {launch.num_hosts} hosts' if launch.num_hosts else ''})"
                   if launch is not None else "")
    if ranks is None and launch is not None:
        ranks = launch.num_ranks
        inferred["num_ranks"] = launch_text
    if ranks is None:
        if test.kind == "collective":
            raise ValueError(RANKS_UNKNOWN)
        ranks = 2
    hosts = num_hosts
    if (hosts is None and launch is not None and launch.num_hosts is not None
            and launch.num_ranks == ranks):
        hosts = launch.num_hosts
        inferred["num_hosts"] = launch_text
    placement = placement_from_counts(ranks, hosts)
    values: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for column, token in zip(test.columns, tokens[1:], strict=False):
        kind = _column_kind(column)
        try:
            values[kind] = parse_number(token, column)
            if kind in ("avg", "latency", "min", "max"):
                seconds[kind] = parse_scaled(token, -6, column)
            elif kind == "bw":
                seconds[kind] = parse_scaled(token, 6, column)
        except ValueError:
            if kind in ("avg", "latency", "bw", "min", "max", "iterations"):
                raise
            values[kind] = token
    extra: dict[str, Any] = {"osu_test": test.name or test.operation}
    if test.variant != "MPI":
        extra["osu_variant"] = test.variant
    if test.kind == "bw":
        rate_mb_per_s = values.get("bw")
        if rate_mb_per_s is None or rate_mb_per_s <= 0:
            raise ValueError(f"bandwidth {rate_mb_per_s!r} MB/s is not > 0")
        time_s = size_bytes / seconds["bw"]
        extra["bandwidth_bytes_per_s"] = seconds["bw"]
    else:
        time_s = seconds.get("avg", seconds.get("latency", 0.0))
        if time_s <= 0:
            raise ValueError(f"latency {values.get('avg', values.get('latency'))!r} us is not > 0")
    for key, value in values.items():
        if key not in ("avg", "latency", "bw", "min", "max", "iterations"):
            extra[key] = value
    iterations = values.get("iterations", 0)
    if iterations and (iterations < 0 or iterations != int(iterations)):
        raise ValueError(f"iterations {iterations!r} is not a count")
    record_size = size_bytes
    if test.operation in ("all-gather", "all-to-all"):
        record_size = size_bytes * ranks
        extra["printed_size_bytes"] = size_bytes
    return Record(
        operation=test.operation, size_bytes=record_size, time_s=time_s, num_ranks=ranks,
        num_hosts=placement.num_hosts, source="osu", ranks_per_host=placement.ranks_per_host,
        placement=placement.placement,
        time_min_s=seconds.get("min"),
        time_max_s=seconds.get("max"),
        iterations=int(iterations), backend="mpi", dtype=test.dtype, library=dict(library),
        extra=extra, inferred=inferred,
    )
