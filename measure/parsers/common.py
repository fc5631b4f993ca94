"""Pieces shared by the log parsers: the result types, launcher prefixes, numbers, placement.

Launchers decorate every line a rank prints: Slurm's ``srun -l`` adds ``0: `` (padded to the
width of the largest task id), Open MPI's ``--tag-output`` adds ``[1,0]<stdout>:`` (after a date
with ``--timestamp-output``), some wrappers add ``[0]``. :func:`strip_launcher_prefix` removes one
such prefix so that the parsers see the benchmark's own text.

>>> strip_launcher_prefix(" 0:      8388608       2097152     float")
'     8388608       2097152     float'
>>> strip_launcher_prefix("[1,0]<stdout>:# OSU MPI Latency Test v5.0")
'# OSU MPI Latency Test v5.0'
>>> placement_of(["a", "a", "b", "b"])
Placement(num_ranks=4, num_hosts=2, ranks_per_host=2, placement='inter-host')

Logs pasted into documents are also quoted (``> ``) or indented inside Markdown lists;
:func:`split_lines` removes a quote marker, and the list marker and indentation before a ``#``
line, so that headers such as ``    # Benchmarking Allreduce`` are found. :func:`find_launches`
reads the rank and host counts of ``mpirun``/``mpiexec``/``srun`` command lines.

>>> split_lines("    - # Benchmarking Allreduce") + split_lines("> -np 4")
[(1, '# Benchmarking Allreduce'), (1, '-np 4')]
>>> find_launches("$ mpirun -n 144 -N 36 ./IMB-MPI1 -npmin 144 allreduce")
[Launch(line_number=1, num_ranks=144, num_hosts=4)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from measure.records import Record

__all__ = [
    "SkippedLine",
    "ParsedLog",
    "Placement",
    "strip_launcher_prefix",
    "split_lines",
    "parse_number",
    "parse_scaled",
    "placement_of",
    "LogFormatError",
    "Launch",
    "find_launches",
    "launch_before",
    "RANKS_ADVICE",
]

#: What a log that does not say its rank count asks of ``fabric import``; every parser ends
#: that message with it, and commands that take no --ranks (calibrate, validate) replace it
#: with the import line to run (:func:`measure.fit_data.load_measurements`).
RANKS_ADVICE = "pass --ranks N (and --hosts H)"

FORMATS = ("nccl-tests", "osu", "imb")

_SRUN = re.compile(r"^\s{0,8}\d{1,6}: ?")
_OMPI = re.compile(
    r"^(?:[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \d{4})?"
    r"\[\d{1,9},\d{1,9}\]<std(?:out|err)>: ?"
)
_BRACKET = re.compile(r"^\[\d{1,9}\] ?")
# what log collectors put before a program's own line: terminal colours, and kubectl's
# --prefix ("[pod/NAME/CONTAINER] ") and --timestamps (RFC 3339, "2024-05-01T12:00:00.1Z ")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_COLLECTOR = re.compile(
    r"^(?:\[pod/[^\]\s]+\] ?)?"
    r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)? )?"
    r"(?:\[pod/[^\]\s]+\] ?)?")
_QUOTE = re.compile(r"^\s{0,12}(?:> ?)+")
_HASH_LINE = re.compile(r"^\s{0,40}(?:(?:[-*+]|\d{1,3}[.)])\s{1,8})?(?=#)")
_LAUNCHER = re.compile(r"(?:^|[\s/$>])(mpirun|mpiexec(?:\.hydra)?|orterun|srun|prun|aprun)(?=\s|$)")
_BENCH_BINARY = re.compile(r"(?:_perf(?:_mpi)?|/osu_\w+|^osu_\w+|IMB-\w+)$")
_COUNT_OPTIONS = {
    # option -> (what, launchers it means that for); "ranks", "hosts" or "per-host"
    "-np": "ranks", "--np": "ranks", "-n": "ranks", "--n": "ranks", "--ntasks": "ranks",
    "-c": "", "--nodes": "hosts", "-npernode": "per-host", "--npernode": "per-host",
    "-ppn": "per-host", "--ppn": "per-host", "--ntasks-per-node": "per-host",
    "-perhost": "per-host",
}
_MAX_LINE_CHARS = 4000


class LogFormatError(ValueError):
    """A log that holds no data line any parser can read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedLine:
    """A line that looked like data but could not be turned into a record."""

    line_number: int
    text: str
    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.line_number, int) or self.line_number < 1:
            raise ValueError(f"line_number must be an integer >= 1, got {self.line_number!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """How ranks sit on hosts: counts and the record's ``placement`` word."""

    num_ranks: int
    num_hosts: int
    ranks_per_host: int
    placement: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedLog:
    """What a benchmark log held.

    ``records`` are in log order (for nccl-tests: out-of-place then in-place per size);
    ``skipped`` are data-like lines that could not be read, with their line numbers;
    ``hosts`` lists the distinct host names the log names, in order of first appearance;
    ``warnings`` are one-line notes for the user (assumed rank or host counts, unsupported tests);
    ``num_zero_size_rows`` counts size-0 rows, which carry no data and give no record;
    ``inferred`` lists one line per thing the log did not state and the parser inferred
    (the collective, the rank or host count), each naming the evidence.
    """

    name: str
    format: str
    records: tuple[Record, ...]
    skipped: tuple[SkippedLine, ...] = ()
    hosts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    library: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    num_zero_size_rows: int = 0
    inferred: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if not self.records:
            raise ValueError("a ParsedLog holds at least one record")

    @property
    def operations(self) -> tuple[str, ...]:
        """Canonical operation names in order of first appearance."""
        return tuple(dict.fromkeys(r.operation for r in self.records))

    @property
    def rank_counts(self) -> tuple[int, ...]:
        """Distinct ``num_ranks`` values, sorted."""
        return tuple(sorted({r.num_ranks for r in self.records}))

    @property
    def host_counts(self) -> tuple[int, ...]:
        """Distinct ``num_hosts`` values, sorted."""
        return tuple(sorted({r.num_hosts for r in self.records}))

    @property
    def min_size_bytes(self) -> int:
        return min(r.size_bytes for r in self.records)

    @property
    def max_size_bytes(self) -> int:
        return max(r.size_bytes for r in self.records)

    @property
    def wrong_records(self) -> tuple[Record, ...]:
        """Records whose log reported ``#wrong`` > 0 (validation failures)."""
        return tuple(r for r in self.records if r.num_wrong)


def strip_launcher_prefix(line: str) -> str:
    """Remove one launcher prefix (srun ``N:``, Open MPI ``[j,r]<stdout>:``, ``[r]``)."""
    match = _OMPI.match(line)
    if match:
        return line[match.end():]
    match = _SRUN.match(line)
    if match:
        return line[match.end():]
    match = _BRACKET.match(line)
    if match:
        return line[match.end():]
    return line


def split_lines(text: str) -> list[tuple[int, str]]:
    """``(line_number, text)`` for every line: terminal colours, a log collector's prefix
    (kubectl's pod name and timestamp) and a launcher's prefix removed, very long lines cut."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw[:_MAX_LINE_CHARS].replace("\x00", "")
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        line = _COLLECTOR.sub("", line, count=1)
        line = strip_launcher_prefix(line)
        line = _QUOTE.sub("", line, count=1)
        line = _HASH_LINE.sub("", line, count=1)
        out.append((number, line.rstrip()))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """The counts a launcher command line states (``num_hosts`` None: it does not say)."""

    line_number: int
    num_ranks: int
    num_hosts: int | None


def find_launches(text: str) -> list[Launch]:
    """Rank and host counts of every ``mpirun``/``mpiexec``/``srun``/``prun``/``aprun`` line.

    Reads ``-np N``, ``-n N`` (also ``-n2``), ``--ntasks=N`` for ranks; ``srun -N``/``--nodes``
    for hosts; ``mpirun -N``, ``-npernode``, ``-ppn``, ``--ntasks-per-node``, ``--map-by
    ppr:N:node`` for ranks per host. Lines continued with a trailing ``\\`` are joined. Options
    after the benchmark's own binary (``*_perf``, ``osu_*``, ``IMB-*``) are its options, not the
    launcher's, and are ignored. A line with no rank count gives no :class:`Launch`.
    """
    lines = split_lines(text)
    out: list[Launch] = []
    index = 0
    while index < len(lines):
        number, line = lines[index]
        while line.endswith("\\") and index + 1 < len(lines):
            index += 1
            line = line[:-1] + " " + lines[index][1]
        index += 1
        match = _LAUNCHER.search(line)
        if match:
            launch = _launch_counts(match.group(1), line[match.end():].split(), number)
            if launch is not None:
                out.append(launch)
    return out


def _launch_counts(launcher: str, tokens: list[str], number: int) -> Launch | None:
    found: dict[str, int] = {}
    for position, token in enumerate(tokens):
        if _BENCH_BINARY.search(token):
            break
        name, _, attached = token.partition("=")
        what = _COUNT_OPTIONS.get(name, None)
        if name == "-N":
            what = "hosts" if launcher == "srun" else "per-host"
        elif what is None and re.fullmatch(r"-n\d{1,7}|-N\d{1,7}", token):
            name, attached = token[:2], token[2:]
            what = "ranks" if name == "-n" else ("hosts" if launcher == "srun" else "per-host")
        elif name == "--map-by" and position + 1 < len(tokens):
            ppr = re.fullmatch(r"ppr:(\d{1,7}):node\S*", tokens[position + 1])
            if ppr:
                found.setdefault("per-host", int(ppr.group(1)))
            continue
        if not what:
            continue
        value = attached or (tokens[position + 1] if position + 1 < len(tokens) else "")
        if value.isdigit() and 0 < int(value) < 10**7:
            found.setdefault(what, int(value))
    ranks = found.get("ranks")
    if ranks is None:
        return None
    hosts = found.get("hosts")
    per_host = found.get("per-host")
    if hosts is None and per_host:
        hosts = -(-ranks // per_host)
    if hosts is not None and not 1 <= hosts <= ranks:
        hosts = None
    return Launch(line_number=number, num_ranks=ranks, num_hosts=hosts)


def launch_before(launches: Sequence[Launch], line_number: int) -> Launch | None:
    """The last launch stated at or before ``line_number`` (None: none)."""
    best = None
    for launch in launches:
        if launch.line_number <= line_number:
            best = launch
    return best


def parse_number(token: str, what: str) -> float:
    """A finite float from a printed token; ValueError naming ``what`` otherwise."""
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"{what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {token!r} is not finite")
    return value


def parse_scaled(token: str, exponent: int, what: str) -> float:
    """``token x 10**exponent`` rounded once, so ``"40838.9"`` us -> the float ``40838.9e-6``.

    >>> parse_scaled("40838.9", -6, "time") == 40838.9e-6
    True
    """
    parse_number(token, what)
    try:
        return float(Decimal(token).scaleb(exponent))
    except (InvalidOperation, OverflowError):
        raise ValueError(f"{what} {token!r} is not a number") from None


def parse_int(token: str, what: str) -> int:
    """A non-negative integer from a printed token."""
    if not token.isdigit() or len(token) > 30:
        raise ValueError(f"{what} {token!r} is not a non-negative integer")
    return int(token)


def placement_of(hosts: Sequence[str]) -> Placement:
    """Counts and placement word from the host name of every rank (rank order)."""
    if not hosts:
        raise ValueError("hosts must name at least one rank's host")
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    per_host = set(counts.values())
    return Placement(
        num_ranks=len(hosts),
        num_hosts=len(counts),
        ranks_per_host=per_host.pop() if len(per_host) == 1 else 0,
        placement="intra-host" if len(counts) == 1 else "inter-host",
    )


def placement_from_counts(num_ranks: int, num_hosts: int | None) -> Placement:
    """Placement from counts alone (``num_hosts`` None: unknown, recorded as 1 host, no word)."""
    if num_hosts is None:
        return Placement(num_ranks=num_ranks, num_hosts=1, ranks_per_host=0, placement="")
    if num_hosts > num_ranks:
        raise ValueError(f"hosts ({num_hosts}) cannot exceed ranks ({num_ranks})")
    return Placement(
        num_ranks=num_ranks,
        num_hosts=num_hosts,
        ranks_per_host=num_ranks // num_hosts if num_ranks % num_hosts == 0 else 0,
        placement="intra-host" if num_hosts == 1 else "inter-host",
    )


def check_count(value: int | None, what: str) -> int | None:
    """Validate an optional rank/host count given by the caller."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return value


def shorten(text: str, limit: int = 120) -> str:
    """One printable line of at most ``limit`` characters (for messages)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."
