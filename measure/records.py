"""Measurement records: one JSON object per line, one line per (operation, size, placement).

Every line carries at least ``operation``, ``size_bytes``, ``time_s``, ``num_ranks`` and
``num_hosts`` so that users can split and filter files with ordinary tools (``jq``, ``grep``).
Sizes follow nccl-tests' meaning of ``size`` (see :mod:`collectives.names`); ``time_s`` is the
max over ranks of each rank's median over iterations (probes) or what the log reports (imports).
For ``send-recv`` records ``time_s`` is the one-way time of one message of ``size_bytes``.

Writers append one complete line and flush, so an interrupted run leaves a valid file with every
finished record; whole files are written to a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any

from collectives.names import busbw_factor, canonical
from fabric.fileio import atomic_write_text, check_output_path, descriptor_of

__all__ = [
    "SCHEMA_VERSION",
    "Record",
    "record_from_dict",
    "read_records",
    "write_records",
    "RecordWriter",
    "check_records",
]

SCHEMA_VERSION = 1
SOURCES = ("mpi-probe", "torch-probe", "nccl-tests", "osu", "imb", "user")


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One measured point.

    ``placement`` is ``"intra-host"``, ``"inter-host"`` or ``"mixed"``; ``hosts`` lists the host
    name of every rank in rank order when known (an empty list otherwise).

    ``inferred`` is provenance: for each field the source did not state and an importer
    inferred (``"operation"``, ``"num_ranks"``, ``"num_hosts"``), the evidence, e.g.
    ``{"operation": "busbw/algbw ratio 1.75 with 8 ranks"}``. It is left out of the JSON line
    when empty, so records that infer nothing read and write as before.
    """

    operation: str
    size_bytes: int
    time_s: float
    num_ranks: int
    num_hosts: int
    source: str = "user"
    ranks_per_host: int = 0
    hosts: list[str] = field(default_factory=list)
    placement: str = ""
    time_min_s: float | None = None
    time_max_s: float | None = None
    iterations: int = 0
    warmup_iterations: int = 0
    backend: str = ""
    dtype: str = ""
    in_place: bool = False
    num_wrong: int | None = None
    algorithm: str = ""
    library: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    inferred: dict[str, str] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "operation", canonical(self.operation))
        if (
            not isinstance(self.size_bytes, int)
            or isinstance(self.size_bytes, bool)
            or self.size_bytes < 0
        ):
            raise ValueError(f"size_bytes must be an integer >= 0, got {self.size_bytes!r}")
        if (
            not isinstance(self.time_s, (int, float))
            or not math.isfinite(self.time_s)
            or self.time_s <= 0
        ):
            raise ValueError(f"time_s must be a finite number > 0, got {self.time_s!r}")
        for name in ("num_ranks", "num_hosts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.num_hosts > self.num_ranks:
            raise ValueError(
                f"num_hosts ({self.num_hosts}) cannot exceed num_ranks ({self.num_ranks})"
            )
        if self.hosts and (len(self.hosts) != self.num_ranks
                           or len(set(self.hosts)) != self.num_hosts):
            raise ValueError(
                f"hosts must name every rank's host ({self.num_ranks} names over "
                f"{self.num_hosts} hosts), got {len(self.hosts)} names over "
                f"{len(set(self.hosts))} hosts"
            )
        if not isinstance(self.inferred, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.inferred.items()
        ):
            raise ValueError(f"inferred must map field names to text, got {self.inferred!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.schema != SCHEMA_VERSION:
            raise ValueError(
                f"record schema {self.schema!r} is not supported "
                f"(this version reads {SCHEMA_VERSION})"
            )

    @property
    def algbw_bytes_per_s(self) -> float:
        """nccl-tests algorithm bandwidth: size / time."""
        return self.size_bytes / self.time_s

    @property
    def busbw_bytes_per_s(self) -> float:
        """nccl-tests bus bandwidth: algbw x the collective's factor."""
        return self.algbw_bytes_per_s * busbw_factor(self.operation, self.num_ranks)

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the derived bandwidths, keys sorted when dumped."""
        out = dataclasses.asdict(self)
        if not out["inferred"]:
            del out["inferred"]
        out["algbw_bytes_per_s"] = self.algbw_bytes_per_s
        out["busbw_bytes_per_s"] = self.busbw_bytes_per_s
        return out

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


_FIELDS = {f.name for f in dataclasses.fields(Record)}
_DERIVED = {"algbw_bytes_per_s", "busbw_bytes_per_s"}


def check_records(records: Any, name: str = "records") -> list[Record]:
    """``records`` as a list, or a TypeError saying what to pass instead (for the functions
    that take records: a path, a parsed log or loose dicts are common slips in a notebook).

    >>> try:
    ...     check_records("run.log")
    ... except TypeError as err:
    ...     print(str(err)[:48])
    records must be Record objects, got a str (a fil
    """
    if isinstance(records, (str, bytes, PurePath)):
        raise TypeError(f"{name} must be Record objects, got a {type(records).__name__} (a file "
                        f"name? read it with measure.fit_data.load_measurements)")
    if hasattr(records, "records") and not isinstance(records, Iterable):
        raise TypeError(f"{name} must be Record objects, got a {type(records).__name__}: pass "
                        f"its .records")
    if isinstance(records, Record) or not isinstance(records, Iterable):
        raise TypeError(f"{name} must be a sequence of Record objects, got a "
                        f"{type(records).__name__}")
    out = list(records)
    bad = next((r for r in out if not isinstance(r, Record)), None)
    if bad is not None:
        raise TypeError(f"{name} must be Record objects, got a {type(bad).__name__} among them "
                        f"(measure.records.record_from_dict turns a dict into one)")
    return out


def record_from_dict(data: Mapping[str, Any]) -> Record:
    """Build a :class:`Record` from parsed JSON, ignoring derived keys.

    Raises
    ------
    ValueError
        If a required key is missing, a key is unknown or a value breaks the schema.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a record must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - _FIELDS - _DERIVED
    if unknown:
        raise ValueError(f"unknown record field(s) {', '.join(sorted(unknown))}")
    missing = [
        k for k in ("operation", "size_bytes", "time_s", "num_ranks", "num_hosts") if k not in data
    ]
    if missing:
        raise ValueError(f"record is missing {', '.join(missing)}")
    values = {k: v for k, v in data.items() if k in _FIELDS}
    try:
        return Record(**values)
    except TypeError as err:
        raise ValueError(f"bad record: {err}") from err


def read_records(path: str | Path) -> list[Record]:
    """Read a JSON Lines file of records.

    Raises
    ------
    ValueError
        If the file cannot be read, is empty, or a line is not a valid record; the message gives
        the file and line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not data
    except OSError as err:
        raise ValueError(f"cannot read records file {str(path)!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file of JSON lines ({err.reason})") from err
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(record_from_dict(json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON record ({err.msg})") from err
        except ValueError as err:
            raise ValueError(f"{path}:{number}: {err}") from err
    if not records:
        raise ValueError(
            f"{path}: no records (expected JSON lines with operation, size_bytes, time_s, "
            f"num_ranks, num_hosts)"
        )
    return records


def write_records(records: Iterable[Record], path: str | Path) -> Path:
    """Write records to ``path`` atomically (temporary file in the same folder, then rename)."""
    return atomic_write_text(path, "".join(record.to_json() + "\n" for record in records))


class RecordWriter:
    """Append records to a JSON Lines file one complete line at a time, flushed and fsynced.

    Used by the probes' rank 0 so that a killed run keeps every finished record.
    """

    def __init__(self, path: str | Path, *, truncate: bool = True) -> None:
        self.path = check_output_path(path)
        fd = descriptor_of(self.path)
        if fd is not None:  # /dev/stdout: through the open descriptor (reopening truncates)
            self._handle: IO[str] | None = os.fdopen(os.dup(fd), "w", encoding="utf-8")
        else:
            self._handle = open(self.path, "w" if truncate else "a", encoding="utf-8")

    def write(self, record: Record) -> None:
        if self._handle is None:
            raise ValueError("RecordWriter is closed")
        self._handle.write(record.to_json() + "\n")
        self._handle.flush()
        try:
            os.fsync(self._handle.fileno())
        except OSError as err:  # a pipe, a terminal, /dev/null: nothing to sync
            if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EROFS):
                raise

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
