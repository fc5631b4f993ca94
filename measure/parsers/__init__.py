"""Import the benchmark logs people already have: nccl-tests, OSU Micro-Benchmarks, IMB-MPI1.

:func:`parse_log` detects the format from the text (the first marker line of any format wins:
an nccl-tests column header or ``# nThread`` line, an ``# OSU ... Test`` banner or ``# Size``
header, an IMB ``# Benchmarking`` or ``#bytes #repetitions`` line; with no marker at all, a
whole nccl-tests data row, as in a headerless fragment) and returns a
:class:`ParsedLog` of :class:`measure.records.Record`. Each format's conventions (which printed
time becomes ``time_s``, how sizes map to nccl-tests' meaning) are in its module's docstring.

>>> log = parse_log('''# OSU MPI Allreduce Latency Test v7.4
... # Size       Avg Latency(us)
... 8                      29.52''', num_ranks=2, num_hosts=2)
>>> log.format, log.operations, log.records[0].time_s, log.records[0].placement
('osu', ('all-reduce',), 2.952e-05, 'inter-host')
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from pathlib import Path

from measure.parsers.common import (
    FORMATS,
    RANKS_ADVICE,
    LogFormatError,
    ParsedLog,
    SkippedLine,
    shorten,
    split_lines,
)
from measure.parsers.imb import looks_like_imb, parse_imb
from measure.parsers.nccl_tests import (
    looks_like_nccl_tests,
    looks_like_nccl_tests_row,
    parse_nccl_tests,
)
from measure.parsers.osu import looks_like_osu, parse_osu

__all__ = [
    "FORMATS",
    "RANKS_ADVICE",
    "ParsedLog",
    "SkippedLine",
    "LogFormatError",
    "detect_format",
    "parse_log",
    "parse_log_file",
]

_PARSERS = {"nccl-tests": parse_nccl_tests, "osu": parse_osu, "imb": parse_imb}
_DETECTORS = (
    ("nccl-tests", looks_like_nccl_tests),
    ("osu", looks_like_osu),
    ("imb", looks_like_imb),
)
_MAX_BINARY_FRACTION = 0.05


def detect_format(text: str) -> str | None:
    """The format of the first marker line in ``text``, or None if no line is a marker.

    >>> detect_format("# Benchmarking PingPong")
    'imb'
    >>> detect_format("hello") is None
    True
    """
    lines = split_lines(text)
    for _, line in lines:
        for fmt, looks in _DETECTORS:
            if looks(line):
                return fmt
    for _, line in lines:
        if looks_like_nccl_tests_row(line):
            return "nccl-tests"
    return None


def parse_log(
    text: str,
    *,
    name: str = "<log>",
    format: str = "auto",
    num_ranks: int | None = None,
    num_hosts: int | None = None,
    operation: str | None = None,
) -> ParsedLog:
    """Parse a benchmark log into records.

    Parameters
    ----------
    text
        The whole log as text.
    name
        The log's name in messages (a file name).
    format
        ``"auto"`` (detect), ``"nccl-tests"``, ``"osu"`` or ``"imb"``.
    num_ranks, num_hosts
        Rank and host counts for logs that do not print them (OSU, IMB, nccl-tests excerpts
        without ``#  Rank`` lines); without them they come from a launcher line in the log or,
        for nccl-tests, busbw/algbw. Point-to-point OSU/IMB tests default to 2 ranks.
    operation
        The collective for a table whose log does not name it and whose columns do not tell
        (all-gather from all-to-all; all-reduce from send-recv on 2 ranks).

    Returns
    -------
    ParsedLog
        At least one record; ``inferred`` lists what was inferred and from what.

    Raises
    ------
    ValueError
        One line: an unknown format, no data lines (``LOG: no nccl-tests, OSU or IMB data lines
        found (line N: why)``; with ``format`` given, ``no IMB data lines found``, and what the
        log reads as when that is another format), or counts the log needs and lacks.
    """
    if format != "auto" and format not in _PARSERS:
        raise ValueError(f"format must be auto or one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(text, str):
        raise ValueError(f"{name}: a log must be text, got {type(text).__name__}")
    fmt = detect_format(text) if format == "auto" else format
    if fmt is None:
        raise LogFormatError(f"{name}: no nccl-tests, OSU or IMB data lines found"
                             f"{_first_line_hint(text)}")
    try:
        return _PARSERS[fmt](text, name=name, num_ranks=num_ranks, num_hosts=num_hosts,
                             operation=operation)
    except LogFormatError:
        raise
    except ValueError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if f"no {_LABEL[fmt]} data lines found" in message:
            if format == "auto":
                raise LogFormatError(message.replace(
                    f"no {_LABEL[fmt]} data lines found",
                    "no nccl-tests, OSU or IMB data lines found")) from None
            # the format was given: say so, and what the log reads as when that is another
            found = detect_format(text)
            hint = (f"; it reads as {_LABEL[found]} (drop --format {format}, or give "
                    f"--format {found})" if found is not None and found != format else "")
            raise LogFormatError(message + hint) from None
        raise ValueError(message) from None


_LABEL = {"nccl-tests": "nccl-tests", "osu": "OSU", "imb": "IMB"}


def _first_line_hint(text: str) -> str:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return f" (line {number}: {shorten(line, 60)!r} is not a benchmark line)"
    return " (the log is empty)"


#: The most bytes a compressed log may expand to (a log is kilobytes; this stops a bomb).
_MAX_UNPACKED = 256 << 20


def _unwrapped(path: Path, data: bytes) -> bytes:
    """``data`` decompressed when it is a gzip file (a log kept as ``.log.gz``)."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
            out = packed.read(_MAX_UNPACKED + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise LogFormatError(f"{path}: a gzip file that does not decompress ({err})") from None
    if len(out) > _MAX_UNPACKED:
        raise LogFormatError(f"{path}: decompresses to more than {_MAX_UNPACKED >> 20} MiB; "
                             f"not a benchmark log")
    return out


def parse_log_file(
    path: str | Path,
    *,
    format: str = "auto",
    num_ranks: int | None = None,
    num_hosts: int | None = None,
    operation: str | None = None,
) -> ParsedLog:
    """Read ``path`` (UTF-8, or UTF-16 with its byte-order mark; undecodable bytes replaced;
    gzip-compressed read through) and :func:`parse_log` it.

    Raises
    ------
    ValueError
        If the file cannot be read, looks binary (NUL bytes or many undecodable bytes), or
        :func:`parse_log` fails; the message starts with the path.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the log ({err.strerror or err})") from err
    data = _unwrapped(path, data)
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # PowerShell's ">" writes these
        text = data.decode("utf-16", errors="replace")
        data = text.encode("utf-8")
    nul = data.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise LogFormatError(f"{path}: not a text log (NUL byte at offset {nul})")
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad and bad > _MAX_BINARY_FRACTION * max(len(text), 1):
        raise LogFormatError(f"{path}: not a text log ({bad} bytes are not UTF-8)")
    return parse_log(text, name=str(path), format=format, num_ranks=num_ranks,
                     num_hosts=num_hosts, operation=operation)
