"""Parse NVIDIA nccl-tests output (``all_reduce_perf`` and friends) into records.

Layout (NVIDIA/nccl-tests ``src/util.cu``): a header
(``# nccl-tests version``, ``# Collective test starting: X_perf``, ``# nThread .. nGpus ..``, one
``#  Rank  r Group g Pid p on HOST device d`` line per rank), a column header naming the columns,
then one line per size: ``size count type [redop] [root]`` followed by the out-of-place and the
in-place halves ``time algbw busbw #wrong`` (old builds: ``error``, a relative error, not a count),
plus any per-iteration columns a build adds (``-I``). Each half becomes one record.

What the log does not state is inferred per run (:mod:`measure.parsers.nccl_infer`): the
collective from the ``redop``/``root`` columns, busbw/algbw and count against size; the rank
count from complete rank lines, ``--ranks``, an ``mpirun -np``/``srun -n`` line (x ``nThread``
x ``nGpus``), the ``nThread``/``nGpus`` header of a single process, the last rank line of a list
cut to its tail, or busbw/algbw. Rows of a summary table with label columns before ``size``
(a ``p4dn`` node count) are separate runs. Every record passes :mod:`measure.record_checks`
or the log is refused, naming the line.

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
    RANKS_ADVICE,
    Launch,
    ParsedLog,
    Placement,
    SkippedLine,
    check_count,
    find_launches,
    launch_before,
    parse_int,
    parse_number,
    parse_scaled,
    placement_from_counts,
    placement_of,
    shorten,
    split_lines,
)
from measure.parsers.nccl_infer import RankSource, RowEvidence, resolve, row_evidence
from measure.record_checks import DTYPE_BYTES, check_record
from measure.records import Record

__all__ = ["parse_nccl_tests", "looks_like_nccl_tests", "looks_like_nccl_tests_row"]

_VERSION = re.compile(r"^#\s*nccl-tests version\s+(\S+)(?:.*?nccl-library=(\d+))?")
_STARTING = re.compile(r"^#\s*Collective test starting:\s*(\w+)")
_CONCLUDED = re.compile(r"^#\s*Collective test concluded")
_NTHREAD = re.compile(r"^#?\s*nThread\s+(\d+)\s+nGpus\s+(\d+)(.*)$")
_RANK = re.compile(r"^#?\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device"
                   r"(?:\s+\d+\s+\[[^\]]*\]\s*(.*))?")
_COLUMNS = re.compile(r"^#?\s*(?:[A-Za-z][\w.-]{0,20}\s+){0,2}size\s+count\s+type\s")
_BINARY = re.compile(r"\b([a-z_]{3,30}?)_perf(?:_mpi)?\b")
_DATA = re.compile(r"^\s*\d+\s+\d+\s+\S")
# a row whose size or count is not a plain integer: a number-like first token, then a count and
# one of nccl-tests' type names (so an NCCL INFO line of host "10-0-1-5" is not one)
_NEAR_DATA = re.compile(r"^\s*\d\S*\s+\S+\s+(?:u?int(?:8|32|64)|half|float|double|bfloat16|"
                        r"f8e4m3|f8e5m2|fp8\w*)\s+\S")
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


def looks_like_nccl_tests_row(line: str) -> bool:
    """Whether a line is a whole nccl-tests data row (for fragments without any header).

    ``size count type [redop] [root]`` then two ``time algbw busbw #wrong|error`` halves: 11 to
    13 tokens, two integers, a type name nccl-tests prints, numbers after it.

    >>> looks_like_nccl_tests_row("  4294967296  1073741824  float  sum  -1  23192  185.19"
    ...                           "  347.23  0  23209  185.06  346.99  0")
    True
    """
    tokens = line.split()
    if len(tokens) not in _DEFAULT_COLUMNS or not (tokens[0].isdigit() and tokens[1].isdigit()):
        return False
    if tokens[2].lower() not in DTYPE_BYTES:
        return False
    tail = tokens[-8:]
    try:
        for token in tail:
            if token != "N/A":
                float(token)
    except ValueError:
        return False
    return True


@dataclass
class _Run:
    """State of one benchmark run inside the log (a log may hold several)."""

    operation: str | None = None
    operation_error: str = ""
    ranks: dict[int, str] = field(default_factory=dict)
    devices: dict[str, None] = field(default_factory=dict)  # device names of the rank lines
    gpus_per_process: int | None = None
    iterations: int = 0
    warmup_iterations: int = 0
    columns: list[str] | None = None
    has_header: bool = False
    has_data: bool = False
    header_line: int = 0
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    library: dict[str, str] | None = None  # versions printed before the run's first row


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
        Used for runs whose header has no complete ``#  Rank`` list (an excerpt).
    operation
        Used only for runs whose collective the log does not name.

    Returns
    -------
    ParsedLog
        ``format="nccl-tests"``; ``time_s`` is the printed time (us) in seconds; ``size_bytes``
        the printed size; ``num_wrong`` the ``#wrong`` count (None for ``N/A`` and for old logs,
        whose ``error`` column is kept in ``extra["max_rel_error"]``). What the log did not
        state and was inferred (:mod:`measure.parsers.nccl_infer`) is in ``inferred`` and in
        each record's ``inferred``.

    Raises
    ------
    ValueError
        If no data line can be read (the message names the first unreadable line and why:
        the candidate collectives and ``--operation``, or ``--ranks``), or if a record fails a
        sanity check (:mod:`measure.record_checks`; the message names the line).
    """
    num_ranks = check_count(num_ranks, "num_ranks")
    num_hosts = check_count(num_hosts, "num_hosts")
    default_op = canonical(operation) if operation else None
    lines = split_lines(text)
    library: dict[str, str] = {}
    env: dict[str, str] = {}
    for _, line in lines:
        _scan_metadata(line, library, env)
    out = _Output(name=name, library=library, env=env, launches=find_launches(text),
                  num_ranks=num_ranks, num_hosts=num_hosts, default_op=default_op)
    run = _Run()
    pending_op: str | None = None
    # the versions seen so far: each run's records carry those printed before its rows (two
    # runs pasted into one file keep their own)
    current: dict[str, str] = {}
    for number, line in lines:
        if not line:
            continue
        if "nccl-tests" in current and _VERSION.match(line):  # the header of another run
            current = {}
        _scan_metadata(line, current, {})
        match = _STARTING.match(line)
        if match:
            out.finish(run)
            run = _Run()
            _set_operation(run, match.group(1))
            continue
        if _CONCLUDED.match(line):
            out.finish(run)
            run = _Run()
            continue
        match = _NTHREAD.match(line)
        if match:
            if run.has_data or run.gpus_per_process is not None:
                out.finish(run)
                run = _Run()
            if run.operation is None and not run.operation_error and pending_op:
                _set_operation(run, pending_op)
            run.gpus_per_process = int(match.group(1)) * int(match.group(2))
            run.header_line = number
            rest = match.group(3)
            warm = _WARMUP.search(rest)
            run.warmup_iterations = int(warm.group(1)) if warm else 0
            iters = _ITERS.search(rest[warm.end():] if warm else rest)
            run.iterations = int(iters.group(1)) if iters else 0
            continue
        match = _RANK.match(line)
        if match:
            if run.has_data:
                out.finish(run)
                run = _Run(operation=run.operation, operation_error=run.operation_error)
            run.ranks[int(match.group(1))] = match.group(2)
            out.hosts.setdefault(match.group(2), None)
            if match.group(3) and match.group(3).strip():
                run.devices.setdefault(match.group(3).strip(), None)
            continue
        if _COLUMNS.match(line):
            if run.has_data:
                out.finish(run)
                run = _Run(operation=run.operation, operation_error=run.operation_error,
                           ranks=dict(run.ranks), devices=dict(run.devices),
                           gpus_per_process=run.gpus_per_process,
                           iterations=run.iterations, warmup_iterations=run.warmup_iterations)
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
                    out.skipped.append(SkippedLine(line_number=number, text=shorten(line),
                                                   reason="numbers outside an nccl-tests table"))
                    continue
                run.columns = default.split()
            if not run.has_data:
                run.library = dict(current)
            run.has_data = True
            if run.operation is None and not run.operation_error and pending_op:
                _set_operation(run, pending_op)
            run.rows.append((number, tokens))
            continue
        if run.has_header and _NEAR_DATA.match(line):
            # a row of the table that does not read as one (thousands separators, a size
            # with a unit): said, not dropped without a word
            out.skipped.append(SkippedLine(
                line_number=number, text=shorten(line),
                reason="not a data row: size and count must be plain integers"))
            continue
        binary = _BINARY.search(line)
        if binary and "NCCL INFO" not in line:
            pending_op = binary.group(1)
            if run.has_data:
                out.finish(run)
                run = _Run()
    out.finish(run)
    records, skipped = out.records, out.skipped
    if not records:
        if skipped and skipped[0].reason in out.run_reasons:
            raise ValueError(f"{name}:{skipped[0].line_number}: {skipped[0].reason}")
        detail = f" (line {skipped[0].line_number}: {skipped[0].reason})" if skipped else ""
        raise ValueError(f"{name}: no nccl-tests data lines found{detail}")
    warnings = list(out.warnings)
    if any(r.placement == "" for r in records):
        warnings.append(f"{name}: the log does not say which hosts ran the ranks; "
                        "recorded as 1 host (pass --hosts H)")
    return ParsedLog(name=name, format="nccl-tests", records=tuple(records),
                     skipped=tuple(sorted(skipped, key=lambda s: s.line_number)),
                     hosts=tuple(out.hosts), warnings=tuple(warnings), library=library, env=env,
                     num_zero_size_rows=out.zero_rows, inferred=tuple(out.inferred))


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


@dataclass
class _Output:
    """What the runs of one log add up to, and how each finished run becomes records."""

    name: str
    library: dict[str, str]
    env: dict[str, str]
    launches: list[Launch]
    num_ranks: int | None
    num_hosts: int | None
    default_op: str | None
    records: list[Record] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)
    hosts: dict[str, None] = field(default_factory=dict)
    inferred: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_reasons: set[str] = field(default_factory=set)
    zero_rows: int = 0

    def skip_all(self, rows: list[tuple[int, list[str]]], reason: str) -> None:
        self.run_reasons.add(reason)
        for number, tokens in rows:
            self.skipped.append(SkippedLine(line_number=number, text=shorten(" ".join(tokens)),
                                            reason=reason))

    def finish(self, run: _Run) -> None:
        """Turn a run's rows into records (rows grouped by any label columns before size)."""
        if not run.rows:
            return
        columns = run.columns or []
        layout = _layout(columns)
        if layout is None or "size" not in columns:
            self.skip_all(run.rows, f"column header {' '.join(columns)!r} has no "
                                    "out-of-place/in-place times")
            return
        if run.operation_error:
            self.skip_all(run.rows, run.operation_error)
            return
        labels = columns.index("size")
        groups: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}
        for number, tokens in run.rows:
            groups.setdefault(tuple(tokens[:labels]), []).append((number, tokens))
        for rows in groups.values():
            self._finish_group(run, columns, layout, rows)

    def _finish_group(self, run: _Run, columns: list[str], layout: tuple[int, int, int],
                      rows: list[tuple[int, list[str]]]) -> None:
        first, second, half = layout
        labels = columns.index("size")
        parsed: list[tuple[int, list[str], int, int]] = []
        evidence = []
        redops: set[str] = set()
        roots: set[int] = set()
        for number, tokens in rows:
            try:
                if len(tokens) < second + half:
                    raise ValueError(f"{len(tokens)} columns, the header names {len(columns)}")
                size_bytes = parse_int(tokens[labels], "size")
                count = parse_int(tokens[labels + 1], "count")
            except ValueError as err:
                self.skipped.append(SkippedLine(line_number=number, text=shorten(" ".join(tokens)),
                                                reason=str(err)))
                continue
            if size_bytes == 0:
                self.zero_rows += 1
                continue
            cells = dict(zip(columns[:first], tokens[:first], strict=False))
            if "redop" in cells:
                redops.add(cells["redop"])
            root = cells.get("root", "")
            if root.lstrip("-").isdigit() and len(root) < 12:
                roots.add(int(root))
            pairs = []
            for start in (first, second):
                half_cells = dict(zip(columns[start:start + half], tokens[start:start + half],
                                      strict=False))
                if "algbw" in half_cells and "busbw" in half_cells:
                    pairs.append((half_cells["algbw"], half_cells["busbw"]))
            evidence.append(row_evidence(line_number=number, size_bytes=size_bytes, count=count,
                                         dtype=cells.get("type", ""), bandwidth_tokens=pairs))
            parsed.append((number, tokens, size_bytes, count))
        if not parsed:
            return
        for row in evidence:
            _check_size_and_count(row, self.name)
        named = run.operation or self.default_op
        sources, hosts_by_source = self._rank_sources(run, parsed[0][0])
        try:
            found = resolve(evidence, redops=redops, roots=roots, has_root_column="root" in columns,
                            named_operation=named, rank_sources=sources)
        except ValueError as err:
            self.skip_all([(n, t) for n, t, _, _ in parsed], str(err))
            return
        if found.num_ranks is None:
            self.skip_all([(n, t) for n, t, _, _ in parsed],
                          "the log has no '#  Rank' lines and its rank count cannot be inferred "
                          f"from busbw/algbw; {RANKS_ADVICE}")
            return
        if found.contradicted:
            self.warnings.append(f"{self.name}:{parsed[0][0]}: {found.contradicted}")
        rank_hosts = _rank_hosts(run)
        inferred = dict(found.inferred)
        if rank_hosts and len(rank_hosts) == found.num_ranks:
            placement = placement_of(rank_hosts)
        else:
            rank_hosts = []
            hosts = self.num_hosts or hosts_by_source.get(found.ranks_from)
            if hosts is not None and hosts > found.num_ranks:
                hosts = None
            if hosts is not None and self.num_hosts is None:
                inferred["num_hosts"] = found.ranks_from
            placement = placement_from_counts(found.num_ranks, hosts)
        where = f"{self.name}:{parsed[0][0]}"
        for key, evidence_text in inferred.items():
            value = {"operation": found.operation, "num_ranks": found.num_ranks,
                     "num_hosts": placement.num_hosts}[key]
            self.inferred.append(f"{where}: {key} {value} inferred from {evidence_text}")
        for number, tokens, size_bytes, count in parsed:
            try:
                new = _records_from_row(tokens, columns, layout, run, self, found.operation,
                                        placement, rank_hosts, inferred, size_bytes, count)
            except ValueError as err:
                self.skipped.append(SkippedLine(line_number=number, text=shorten(" ".join(tokens)),
                                                reason=str(err)))
                continue
            for record in new:
                check_record(record, where=f"{self.name}:{number}")
            self.records.extend(new)

    def _rank_sources(self, run: _Run, first_line: int,
                      ) -> tuple[list[RankSource], dict[str, int | None]]:
        """Rank counts the log states for this run, most trusted first, and their host counts."""
        sources: list[RankSource] = []
        hosts: dict[str, int | None] = {}
        floor = max(run.ranks) + 1 if run.ranks else 0
        complete = bool(run.ranks) and sorted(run.ranks) == list(range(len(run.ranks)))
        if complete:
            sources.append(RankSource(num_ranks=len(run.ranks), evidence="the rank lines",
                                      inferred=False, floor=floor))
        if self.num_ranks is not None:
            sources.append(RankSource(num_ranks=self.num_ranks, evidence="--ranks",
                                      inferred=False, floor=floor, forced=True))
        launch = launch_before(self.launches, first_line)
        per_process = run.gpus_per_process or 1
        if launch is not None:
            evidence = (f"the launcher line {launch.line_number} ({launch.num_ranks} processes"
                        f"{f' x {per_process} GPUs' if per_process > 1 else ''})")
            sources.append(RankSource(num_ranks=launch.num_ranks * per_process,
                                      evidence=evidence, floor=floor))
            hosts[evidence] = launch.num_hosts
        elif per_process > 1 and not run.ranks:
            sources.append(RankSource(num_ranks=per_process, floor=floor,
                                      evidence=f"the nThread x nGpus header (line "
                                               f"{run.header_line}, one process)"))
        if run.ranks and not complete:
            last = max(run.ranks)
            sources.append(RankSource(num_ranks=floor, floor=floor,
                                      evidence=f"the last rank line (rank {last})"))
        if not sources and floor:
            sources.append(RankSource(num_ranks=floor, evidence="the rank lines", floor=floor))
        return sources, hosts


def _check_size_and_count(row: RowEvidence, name: str) -> None:
    """Refuse a row whose size is not count x type size (x ranks): garbled or swapped columns."""
    if row.type_bytes is None or row.count < 1:
        return
    element_bytes = row.count * row.type_bytes
    if row.size_bytes < element_bytes or row.size_bytes % element_bytes:
        hint = " (are the size and count columns swapped?)" if row.size_bytes < row.count else ""
        raise ValueError(f"{name}:{row.line_number}: size {row.size_bytes} B is not count "
                         f"{row.count} x {row.type_bytes} B or a multiple of it{hint}")


def _records_from_row(
    tokens: list[str],
    columns: list[str],
    layout: tuple[int, int, int],
    run: _Run,
    out: _Output,
    operation: str,
    placement: Placement,
    rank_hosts: list[str],
    inferred: dict[str, str],
    size_bytes: int,
    count: int,
) -> list[Record]:
    """The out-of-place and in-place records of one data row."""
    first, second, half = layout
    labels = columns.index("size")
    preamble = dict(zip(columns[:first], tokens[:first], strict=False))
    common: dict[str, Any] = {"count": count}
    if run.devices:  # what the rank lines name (fabric.catalog.gpu_of_device reads it)
        common["device"] = "; ".join(run.devices)
    for label in columns[:labels]:
        try:
            common[label] = parse_number(preamble[label], label)
        except ValueError:
            common[label] = preamble[label]
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
            operation=operation, size_bytes=size_bytes, time_s=time_s,
            num_ranks=placement.num_ranks, num_hosts=placement.num_hosts, source="nccl-tests",
            ranks_per_host=placement.ranks_per_host, hosts=list(rank_hosts),
            placement=placement.placement, iterations=run.iterations,
            warmup_iterations=run.warmup_iterations,
            backend="rccl" if "rccl" in (run.library or out.library) else "nccl",
            dtype=preamble.get("type", ""), in_place=in_place, num_wrong=num_wrong,
            algorithm=out.env.get("NCCL_ALGO", ""), library=dict(run.library or out.library),
            env=dict(out.env), extra=extra, inferred=dict(inferred),
        ))
    return records


def _rank_hosts(run: _Run) -> list[str]:
    if run.ranks and sorted(run.ranks) == list(range(len(run.ranks))):
        return [run.ranks[r] for r in range(len(run.ranks))]
    return []
