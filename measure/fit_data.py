"""The data a calibration fits: measurements loaded, selected, placed on a fabric and grouped.

Both flavors' fits (:mod:`measure.fit_ideal`, :mod:`measure.calibrate_nccl`) and the validation
(:mod:`measure.validate`) start here:

* :func:`load_measurements` reads a JSON Lines records file or a benchmark log;
* :func:`select_records` keeps the records a fit may use (correct results, one buffer mode,
  no glitch: see :func:`find_glitches`);
* :func:`usable_records` keeps those whose (operation, placement) the model can price on the
  fabric, with a note for each kind of point left out;
* :func:`group_points` groups points by (operation, GPUs, algorithm), so that each group's
  algorithm costs are computed once per parameter vector.

Each record's ranks are mapped onto the fabric by :func:`measure.generic_fabric.rank_layouts` and
:func:`measure.generic_fabric.gpus_for_layout` (host i -> node i, its ranks -> that node's GPUs in
order).
"""

from __future__ import annotations

import codecs
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import networkx as nx
import numpy as np

from collectives.model import algorithm_costs
from collectives.registry import ALGORITHMS
from measure.generic_fabric import LayoutGpus, rank_layouts
from measure.parsers import RANKS_ADVICE, parse_log_file
from measure.records import Record, read_records

__all__ = [
    "NCCL_ALGORITHM_NAMES",
    "PointGroup",
    "PredictedTimes",
    "UsableRecords",
    "group_points",
    "GLITCH_FACTOR",
    "find_glitches",
    "glitch_notes",
    "ideal_algorithm",
    "load_measurements",
    "select_records",
    "usable_records",
]

#: NCCL's algorithm names (``NCCL_ALGO`` spellings, lower case, no ``_`` or ``-``) -> the ideal
#: model's algorithm (:data:`collectives.registry.ALGORITHMS`).
NCCL_ALGORITHM_NAMES = {
    "ring": "ring",
    "tree": "tree",
    "nvls": "in-network",
    "nvlstree": "in-network",
    "collnetdirect": "in-network",
    "collnetchain": "in-network",
    "pat": "pat",
}


class PredictedTimes(NamedTuple):
    """Model times of a list of points, in order, and the algorithm the model chose for each."""

    times_s: np.ndarray
    algorithms: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsableRecords:
    """The records the model can price on a fabric, and one note per kind of point left out."""

    records: tuple[Record, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PointGroup:
    """Points that share an operation, a set of GPUs and a forced algorithm (None: the fastest).

    ``points`` are indices into the list of records the groups were made from.
    """

    operation: str
    gpus: tuple[str, ...]
    algorithm: str | None
    points: np.ndarray


#: A point is a glitch when it took this many times longer than both of its neighbours.
GLITCH_FACTOR = 10.0


def _series(r: Record) -> tuple[object, ...]:
    return (r.operation, r.num_ranks, r.num_hosts, bool(r.in_place), r.extra.get("benchmark"),
            r.dtype, r.source)


def find_glitches(records: Sequence[Record]) -> dict[int, str]:
    """Isolated spikes and dips: points :data:`GLITCH_FACTOR` times off both size neighbours.

    Within one series (operation, ranks, hosts, buffer mode, benchmark, type), a point that took
    ten times longer than the next smaller AND the next larger message is a glitch of the run (a
    stalled progress thread, a retransmission; e.g. the 4-byte 2,113 us latency between 1.90 us
    and 1.25 us of https://github.com/openucx/ucx/issues/2111, 2017), not a property of the
    fabric. So is a point ten times faster than both: a message cannot move ten times faster
    than a smaller one of the same run (e.g. 160 us at 64 KiB between 3,214 us at 32 KiB and
    3,675 us at 128 KiB in a 144-rank OSU all-reduce of 10 iterations). A step that persists
    over several sizes is a regime (an MPI algorithm switch can cost 10x over a range of sizes)
    and is kept; so are the first and last sizes, which have one neighbour only.

    Returns
    -------
    dict
        Index in ``records`` -> a one-line reason naming the point and its neighbours.
    """
    by_series: dict[tuple[object, ...], list[int]] = {}
    for i, r in enumerate(records):
        if r.size_bytes > 0 and r.time_s > 0:
            by_series.setdefault(_series(r), []).append(i)
    found: dict[int, str] = {}
    for members in by_series.values():
        by_size: dict[int, list[int]] = {}
        for i in members:
            by_size.setdefault(records[i].size_bytes, []).append(i)
        sizes = sorted(by_size)
        fastest = {size: min(records[i].time_s for i in by_size[size]) for size in sizes}
        for before, size, after in zip(sizes, sizes[1:], sizes[2:], strict=False):
            floor = GLITCH_FACTOR * max(fastest[before], fastest[after])
            ceiling = min(fastest[before], fastest[after]) / GLITCH_FACTOR
            for i in by_size[size]:
                r = records[i]
                if r.time_s > floor or r.time_s < ceiling:
                    kind = "spike" if r.time_s > floor else "dip"
                    found[i] = (f"{r.operation} {size} B took {r.time_s * 1e6:.4g} us between "
                                f"{fastest[before] * 1e6:.4g} us ({before} B) and "
                                f"{fastest[after] * 1e6:.4g} us ({after} B): an isolated {kind}, "
                                f"left out as a glitch of the run")
    return found


def select_records(records: Sequence[Record], *, in_place: bool | None = False) -> list[Record]:
    """The records a fit may use: correct results, size > 0, not IMB PingPing, one buffer mode.

    Parameters
    ----------
    records
        Measurements.
    in_place
        False keeps out-of-place records (nccl-tests' left half), True in-place ones, None both.

    Returns
    -------
    list of Record
        In their order; records with ``num_wrong`` other than None or 0, size 0 or fewer than 2
        ranks are dropped, and so are records a probe flagged as failing the sanity checks
        (``extra["problems"]``, :func:`measure.probe_core.make_record`) and glitches
        (:func:`find_glitches`); :func:`glitch_notes` names the last two.
    """
    out = _eligible(records, in_place)
    glitches = find_glitches(out)
    return [r for i, r in enumerate(out) if i not in glitches]


def _usable(records: Sequence[Record], in_place: bool | None) -> list[Record]:
    return [r for r in records
            if r.num_wrong in (None, 0) and r.size_bytes > 0 and r.num_ranks >= 2
            and r.extra.get("benchmark") != "PingPing"
            and (in_place is None or bool(r.in_place) == in_place)]


def _eligible(records: Sequence[Record], in_place: bool | None) -> list[Record]:
    return [r for r in _usable(records, in_place) if not r.extra.get("problems")]


def glitch_notes(records: Sequence[Record], *, in_place: bool | None = False) -> list[str]:
    """Notes on the points :func:`select_records` leaves out: one for those whose results
    were wrong (``num_wrong``), one per point flagged by its probe or found a glitch."""
    wrong = [r for r in records if r.num_wrong and (in_place is None
                                                   or bool(r.in_place) == in_place)]
    failed = [f"{len(wrong)} point(s) left out: their results were wrong (#wrong > 0: "
              f"{', '.join(sorted({f'{r.operation} {r.size_bytes} B' for r in wrong})[:4])}"
              f"{', ...' if len(wrong) > 4 else ''})"] if wrong else []
    flagged = [f"{r.operation} {r.size_bytes} B left out: {'; '.join(r.extra['problems'])} "
               f"(flagged by the probe that measured it)"
               for r in _usable(records, in_place) if r.extra.get("problems")]
    return failed + flagged + list(find_glitches(_eligible(records, in_place)).values())


def load_measurements(path: str | Path) -> list[Record]:
    """Records from a JSON Lines records file, or from a benchmark log (nccl-tests, OSU, IMB).

    A file whose first non-blank character is ``{`` is read as records
    (:func:`measure.records.read_records`); anything else as a log
    (:func:`measure.parsers.parse_log_file`).

    Raises
    ------
    ValueError
        One line: a missing or unreadable file, a bad record line, a log with no data.
    """
    path = Path(path)
    try:
        head = path.read_bytes()[:4096]
    except OSError as err:
        raise ValueError(f"cannot read {str(path)!r}: {err.strerror or err}") from err
    if head.removeprefix(codecs.BOM_UTF8).lstrip()[:1] == b"{":
        return read_records(path)
    try:
        return list(parse_log_file(path).records)
    except ValueError as err:
        if RANKS_ADVICE not in str(err):
            raise
        # the counts are import's options: this command takes a records file with them
        raise ValueError(str(err).replace(
            RANKS_ADVICE, f"give them to import first: fabric import "
            f"{shlex.quote(str(path))} --ranks N [--hosts H] -o records.jsonl")) from None


def ideal_algorithm(record: Record) -> str | None:
    """The ideal model's algorithm a record names (its ``algorithm`` or ``NCCL_ALGO``), or None.

    None when the record names none, a list (``ring,tree``), or one the model does not know:
    the model then picks the fastest per size.

    >>> ideal_algorithm(Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=2,
    ...                        num_hosts=1, algorithm="NVLS"))
    'in-network'
    """
    name = (record.algorithm or record.env.get("NCCL_ALGO", "")).strip().lower()
    if not name or "," in name:
        return None
    if name in ALGORITHMS:
        return name
    return NCCL_ALGORITHM_NAMES.get(name.replace("_", "").replace("-", ""))


def group_points(
    G: nx.DiGraph,
    records: Sequence[Record],
    algorithm_of: Callable[[Record], str | None],
) -> list[PointGroup]:
    """Group ``records`` by (operation, GPUs of ``G`` their ranks run on, forced algorithm).

    Parameters
    ----------
    G
        The fabric; each record's ranks are laid out on its nodes' GPUs.
    records
        The points.
    algorithm_of
        The algorithm a record forces in the flavor being fitted (None: the model picks).

    Returns
    -------
    list of PointGroup
        In order of each group's first point.

    Raises
    ------
    ValueError
        A record whose ranks cannot be laid out, or a fabric too small for them.
    """
    keyed: dict[tuple[str, tuple[str, ...], str | None], list[int]] = {}
    on = LayoutGpus(G)
    for i, (r, layout) in enumerate(zip(records, rank_layouts(records), strict=True)):
        key = (r.operation, on(layout), algorithm_of(r))
        keyed.setdefault(key, []).append(i)
    return [
        PointGroup(operation=op, gpus=gpus, algorithm=algo, points=np.asarray(ix))
        for (op, gpus, algo), ix in keyed.items()
    ]


def usable_records(G: nx.DiGraph, records: Sequence[Record]) -> UsableRecords:
    """The records whose (operation, placement) the model can price on ``G``; notes on the rest.

    A point is left out when :func:`collectives.model.algorithm_costs` rejects its operation,
    GPUs and algorithm; one note per (operation, ranks, reason) says how many. A further note
    counts the points that do not say where their ranks ran (naming their sources: an OSU or
    IMB log, an nccl-tests excerpt without rank lines), which are taken as one
    host.

    Raises
    ------
    ValueError
        A record whose ranks cannot be laid out, or a fabric too small for them.
    """
    notes: list[str] = []
    ok: list[Record] = []
    dropped: dict[tuple[str, int, str], int] = {}
    cache: dict[tuple[str, tuple[str, ...], str | None], str] = {}
    on = LayoutGpus(G)
    for r, layout in zip(records, rank_layouts(records), strict=True):
        gpus = on(layout)
        key = (r.operation, gpus, ideal_algorithm(r))
        if key not in cache:
            try:
                algorithm_costs(G, r.operation, ranks=list(gpus), algorithm=key[2])
                cache[key] = ""
            except ValueError as err:
                cache[key] = str(err).splitlines()[0]
        if cache[key]:
            dropped.setdefault((r.operation, r.num_ranks, cache[key]), 0)
            dropped[(r.operation, r.num_ranks, cache[key])] += 1
        else:
            ok.append(r)
    for (op, n, why), count in dropped.items():
        notes.append(f"left out {count} {op} point(s) on {n} ranks: {why}")
    unplaced = [r for r, x in zip(ok, rank_layouts(ok), strict=True)
                if not x.known and r.num_hosts == 1 and not r.placement]
    if unplaced:
        sources = ", ".join(sorted({r.source for r in unplaced}))
        notes.append(
            f"{len(unplaced)} point(s) do not say where their ranks ran ({sources}); taken as "
            f"one host"
        )
    return UsableRecords(records=tuple(ok), notes=tuple(notes))
