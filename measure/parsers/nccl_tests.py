"""Parse NVIDIA nccl-tests output (``all_reduce_perf`` and friends) into records.

Layout (NVIDIA/nccl-tests ``src/util.cu``; ``shared/reference/nccl_models.md`` §2.2): a header
(``# nccl-tests version``, ``# Collective test starting: X_perf``, ``# nThread .. nGpus ..``, one
``#  Rank  r Group g Pid p on HOST device d`` line per rank), a column header naming the columns,
then one line per size: ``size count type [redop] [root]`` followed by the out-of-place and the
in-place halves ``time algbw busbw #wrong`` (old builds: ``error``, a relative error, not a count),
plus any per-iteration columns a build adds (``-I``). Each half becomes one record.

Semantics kept from nccl-tests: ``size`` is printed as the collective's size (the total gathered
buffer for all_gather, total input for reduce_scatter, total per-rank send for alltoall), ``time``
is in microseconds, averaged over ranks by default (``-a 1``), per iteration.

>>> text = '''# Collective test starting: all_reduce_perf
... # nThread 1 nGpus 2 minBytes 8 maxBytes 8 warmup iters: 5 iters: 20
... #  Rank  0 Group  0 Pid   1 on nodeA device  0 [0x1] GPU
... #  Rank  1 Group  0 Pid   1 on nodeA device  1 [0x2] GPU
... # size count type redop root time algbw busbw #wrong time algbw busbw #wrong
... 1048576 262144 float sum -1 25.00 41.94 41.94 0 24.00 43.69 43.69 N/A'''
>>> log = parse_nccl_tests(text)
>>> [(r.operation, r.size_bytes, r.time_s, r.in_place, r.num_wrong) for r in log.records]
[('all-reduce', 1048576, 2.5e-05, False, 0), ('all-reduce', 1048576, 2.4e-05, True, None)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from collectives.names import canonical
from measure.parsers.common import (
    ParsedLog,
    Placement,
    SkippedLine,
    check_count,
    parse_int,
    parse_number,
    parse_scaled,
    placement_from_counts,
    placement_of,
    shorten,
    split_lines,
)
from measure.records import Record

__all__ = ["parse_nccl_tests", "looks_like_nccl_tests"]

_VERSION = re.compile(r"^#\s*nccl-tests version\s+(\S+)(?:.*?nccl-library=(\d+))?")
_STARTING = re.compile(r"^#\s*Collective test starting:\s*(\w+)")
_CONCLUDED = re.compile(r"^#\s*Collective test concluded")
_NTHREAD = re.compile(r"^#?\s*nThread\s+(\d+)\s+nGpus\s+(\d+)(.*)$")
_RANK = re.compile(r"^#\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device")
_COLUMNS = re.compile(r"^#?\s*size\s+count\s+type\s")
_BINARY = re.compile(r"\b([a-z_]{3,30}?)_perf(?:_mpi)?\b")
_DATA = re.compile(r"^\s*\d+\s+\d+\s+\S")
_NCCL_VERSION = re.compile(r"\b(NCCL|RCCL) version\s+(\d+\.\d+\.\d+\S*)")
_ENV_SET = re.compile(r"\b(NCCL_[A-Z0-9_]+) set by environment to (\S+)")
_ENV_ASSIGN = re.compile(r"(?:^|[\s'\"])(NCCL_[A-Z0-9_]+)=([^\s'\"]+)")
_ITERS = re.compile(r"\biters:\s*(\d+)")
_WARMUP = re.compile(r"\bwarmup iters:\s*(\d+)")

# Default column sets when a data block has no column header (by token count).
_DEFAULT_COLUMNS = {
    13: "size count type redop root time algbw busbw #wrong time algbw busbw #wrong",
    12: "size count type redop time algbw busbw error time algbw busbw error",
    11: "size count type time algbw busbw error time algbw busbw error",
}


def looks_like_nccl_tests(line: str) -> bool:
    """Whether a (prefix-stripped) line is a marker of nccl-tests output."""
    return bool(_COLUMNS.match(line) or _STARTING.match(line) or _NTHREAD.match(line)
                or _VERSION.match(line))


@dataclass
class _Run:
    """State of one benchmark run inside the log (a log may hold several)."""

    operation: str | None = None
    operation_error: str = ""
    ranks: dict[int, str] = field(default_factory=dict)
    gpus_per_process: int | None = None
    iterations: int = 0
    warmup_iterations: int = 0
    columns: list[str] | None = None
    has_header: bool = False
    has_data: bool = False


def _decode_nccl_code(code: str) -> str:
    """``22602`` -> ``2.26.2``; ``2708`` -> ``2.7.8`` (NCCL_VERSION_CODE, ``nccl.h``)."""
    value = int(code)
    if value >= 10000:
        return f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    return f"{value // 1000}.{value % 1000 // 100}.{value % 100}"


def _set_operation(run: _Run, name: str) -> None:
    try:
        run.operation = canonical(name)
        run.operation_error = ""
    except ValueError:
        run.operation = None
        run.operation_error = f"collective {name!r} is not a modeled operation"


def _layout(columns: list[str]) -> tuple[int, int, int] | None:
    """(index of out-of-place time, index of in-place time, half width) or None."""
    times = [i for i, c in enumerate(columns) if c == "time"]
    if len(times) < 2:
        return None
    half = times[1] - times[0]
    if half < 2 or times[1] + half > len(columns):
        return None
    return times[0], times[1], half


def parse_nccl_tests(
    text: str,
    *,
    name: str = "<log>",
    num_ranks: int | None = None,
    num_hosts: int | None = None,
    operation: str | None = None,
) -> ParsedLog:
    """Read nccl-tests output; one record per size and per out-of-place / in-place half.

    Parameters
    ----------
    text
        The log (any noise lines, launcher prefixes and concatenated runs are fine).
    name
        The log's name for messages.
    num_ranks, num_hosts
        Used only for runs whose header has no ``#  Rank`` lines (an excerpt).
    operation
        Used only for runs whose collective the log does not name.

    Returns
    -------
    ParsedLog
        ``format="nccl-tests"``; ``time_s`` is the printed time (us) in seconds; ``size_bytes``
        the printed size; ``num_wrong`` the ``#wrong`` count (None for ``N/A`` and for old logs,
        whose ``error`` column is kept in ``extra["max_rel_error"]``).

    Raises
    ------
    ValueError
        If no data line can be read (the message names the first unreadable line), or if a run
        names neither its ranks nor its collective and none was passed.
    """
    num_ranks = check_count(num_ranks, "num_ranks")
    num_hosts = check_count(num_hosts, "num_hosts")
    default_op = canonical(operation) if operation else None
    lines = split_lines(text)
    library: dict[str, str] = {}
    env: dict[str, str] = {}
    for _, line in lines:
        _scan_metadata(line, library, env)
    records: list[Record] = []
    skipped: list[SkippedLine] = []
    warnings: list[str] = []
    hosts: dict[str, None] = {}
    zero_rows = 0
    run = _Run()
    pending_op: str | None = None
    for number, line in lines:
        if not line:
            continue
        match = _STARTING.match(line)
        if match:
            run = _Run()
            _set_operation(run, match.group(1))
            continue
        if _CONCLUDED.match(line):
            run = _Run()
            continue
        match = _NTHREAD.match(line)
        if match:
            if run.has_data or run.gpus_per_process is not None:
                run = _Run()
            if run.operation is None and not run.operation_error and pending_op:
                _set_operation(run, pending_op)
            run.gpus_per_process = int(match.group(1)) * int(match.group(2))
            rest = match.group(3)
            warm = _WARMUP.search(rest)
            run.warmup_iterations = int(warm.group(1)) if warm else 0
            iters = _ITERS.search(rest[warm.end():] if warm else rest)
            run.iterations = int(iters.group(1)) if iters else 0
            continue
        match = _RANK.match(line)
        if match:
            if run.has_data:
                run = _Run(operation=run.operation, operation_error=run.operation_error)
            run.ranks[int(match.group(1))] = match.group(2)
            hosts.setdefault(match.group(2), None)
            continue
        if _COLUMNS.match(line):
            if run.has_data:
                run = _Run(operation=run.operation, operation_error=run.operation_error,
                           ranks=dict(run.ranks))
            run.columns = line.lstrip("#").split()
            run.has_header = True
            continue
        if line.lstrip().startswith("#"):
            continue
        if _DATA.match(line):
            tokens = line.split()
            if run.columns is None:
                default = _DEFAULT_COLUMNS.get(len(tokens))
                if default is None:
                    skipped.append(SkippedLine(line_number=number, text=shorten(line),
                                               reason="numbers outside an nccl-tests table"))
                    continue
                run.columns = default.split()
            run.has_data = True
            if run.operation is None and not run.operation_error:
                if pending_op:
                    _set_operation(run, pending_op)
                elif default_op:
                    run.operation = default_op
            try:
                new, zero = _records_from_line(tokens, run, library, env,
                                               num_ranks=num_ranks, num_hosts=num_hosts)
            except ValueError as err:
                skipped.append(SkippedLine(line_number=number, text=shorten(line), reason=str(err)))
                continue
            records.extend(new)
            zero_rows += zero
            continue
        binary = _BINARY.search(line)
        if binary and "NCCL INFO" not in line:
            pending_op = binary.group(1)
            if run.has_data:
                run = _Run()
    if not records:
        detail = f" (line {skipped[0].line_number}: {skipped[0].reason})" if skipped else ""
        raise ValueError(f"{name}: no nccl-tests data lines found{detail}")
    if any(r.placement == "" for r in records):
        warnings.append(f"{name}: the log does not say which hosts ran the ranks; "
                        "recorded as 1 host (pass --hosts H)")
    return ParsedLog(name=name, format="nccl-tests", records=tuple(records), skipped=tuple(skipped),
                     hosts=tuple(hosts), warnings=tuple(warnings), library=library, env=env,
                     num_zero_size_rows=zero_rows)


def _scan_metadata(line: str, library: dict[str, str], env: dict[str, str]) -> None:
    match = _VERSION.match(line)
    if match:
        library["nccl-tests"] = match.group(1)
        if match.group(2) and "nccl" not in library:
            library["nccl"] = _decode_nccl_code(match.group(2))
        return
    match = _NCCL_VERSION.search(line)
    if match:
        library[match.group(1).lower()] = match.group(2)
    for found in _ENV_SET.finditer(line):
        env.setdefault(found.group(1), found.group(2))
    if "NCCL_" in line:
        for found in _ENV_ASSIGN.finditer(line):
            env.setdefault(found.group(1), found.group(2))


def _records_from_line(
    tokens: list[str],
    run: _Run,
    library: dict[str, str],
    env: dict[str, str],
    *,
    num_ranks: int | None,
    num_hosts: int | None,
) -> tuple[list[Record], int]:
    """Records of one data line (0, 1 or 2) and 1 if it was a size-0 row."""
    columns = run.columns or []
    if run.operation is None:
        if run.operation_error:
            raise ValueError(run.operation_error)
        raise ValueError("the log does not name the collective (no 'Collective test starting' "
                         "line or *_perf command); pass --operation")
    layout = _layout(columns)
    if layout is None:
        raise ValueError(f"column header {' '.join(columns)!r} has no out-of-place/in-place times")
    first, second, half = layout
    if len(tokens) < second + half:
        raise ValueError(f"{len(tokens)} columns, the header names {len(columns)}")
    size_bytes = parse_int(tokens[0], "size")
    count = parse_int(tokens[1], "count")
    if size_bytes == 0:
        return [], 1
    placement = _run_placement(run, num_ranks, num_hosts)
    preamble = dict(zip(columns[:first], tokens[:first], strict=False))
    common: dict[str, Any] = {"count": count}
    if "redop" in preamble:
        common["redop"] = preamble["redop"]
    if "root" in preamble:
        root = preamble["root"]
        common["root"] = int(root) if root.lstrip("-").isdigit() and len(root) < 12 else root
    records = []
    for start, in_place in ((first, False), (second, True)):
        cells = dict(zip(columns[start:start + half], tokens[start:start + half], strict=False))
        time_s = parse_scaled(cells["time"], -6, "time")
        if time_s <= 0:
            raise ValueError(f"time {cells['time']!r} us is not > 0")
        extra = dict(common)
        num_wrong = None
        for key, value in cells.items():
            if key == "time":
                continue
            if key in ("algbw", "busbw"):
                extra[f"printed_{key}_bytes_per_s"] = parse_scaled(value, 9, key)
            elif key == "#wrong":
                if value != "N/A":
                    wrong = parse_number(value, "#wrong")
                    if wrong < 0 or wrong != int(wrong):
                        raise ValueError(f"#wrong {value!r} is not a count")
                    num_wrong = int(wrong)
            elif key == "error":
                if value != "N/A":
                    extra["max_rel_error"] = parse_number(value, "error")
            else:
                try:
                    extra[key] = parse_number(value, key)
                except ValueError:
                    extra[key] = value
        records.append(Record(
            operation=run.operation, size_bytes=size_bytes, time_s=time_s,
            num_ranks=placement.num_ranks, num_hosts=placement.num_hosts, source="nccl-tests",
            ranks_per_host=placement.ranks_per_host, hosts=_rank_hosts(run),
            placement=placement.placement, iterations=run.iterations,
            warmup_iterations=run.warmup_iterations,
            backend="rccl" if "rccl" in library else "nccl",
            dtype=preamble.get("type", ""), in_place=in_place, num_wrong=num_wrong,
            algorithm=env.get("NCCL_ALGO", ""), library=dict(library), env=dict(env), extra=extra,
        ))
    return records, 0


def _rank_hosts(run: _Run) -> list[str]:
    if run.ranks and sorted(run.ranks) == list(range(len(run.ranks))):
        return [run.ranks[r] for r in range(len(run.ranks))]
    return []


def _run_placement(run: _Run, num_ranks: int | None, num_hosts: int | None) -> Placement:
    hosts = _rank_hosts(run)
    if hosts:
        return placement_of(hosts)
    if run.ranks:
        raise ValueError(f"rank lines name ranks {sorted(run.ranks)[:8]}, not 0..n-1")
    if num_ranks is None:
        raise ValueError("the log has no '#  Rank' lines; pass --ranks N (and --hosts H)")
    return placement_from_counts(num_ranks, num_hosts)
