"""Parse the tables NCCL prints with ``NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=TUNING``.

:func:`parse_tuning_log` turns rank 0's latency / bandwidth table of a real run into
:class:`collectives.nccl_tuning.NcclTuneTable` objects, comparable with
:func:`collectives.nccl.tune`'s port of NCCL's tuner.
"""

from __future__ import annotations

import math
import re

from collectives.names import canonical
from collectives.nccl_tables import ALGORITHMS, PROTOCOLS
from collectives.nccl_tuning import NcclTuneEntry, NcclTuneTable

__all__ = ["parse_tuning_log"]

_ALGO_ALIASES = {a.lower(): a for a in ALGORITHMS} | {"collnet": "CollNetDirect"}
_PROTO_ALIASES = {p.lower(): p for p in PROTOCOLS}
_CELL = re.compile(r"^\s*(-?\d+(?:\.\d+)?|-?nan|-?inf)\s*/\s*(-?\d+(?:\.\d+)?|-?nan|-?inf)\s*$",
                   re.IGNORECASE)
_FUNCS = {"broadcast", "reduce", "allgather", "reducescatter", "allreduce"}


def _body(line: str) -> str:
    """The message after ``NCCL INFO`` (host/pid/rank prefixes dropped)."""
    idx = line.find("NCCL INFO")
    return line[idx + len("NCCL INFO"):] if idx >= 0 else line


def parse_tuning_log(text: str) -> dict[str, NcclTuneTable]:
    """NCCL's latency/bandwidth tables from an ``NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=TUNING`` log.

    Reads both layouts rank 0 prints: the one-line ``Latency/AlgBw | Tree/LL | ...`` header
    (up to 2.18) and the ``Algorithm | ... / Protocol | ...`` blocks (2.19+); cells are
    ``"%8.1f/%6.1f"`` (µs / GB/s). When the log holds several communicators' tables, the last one
    is returned.

    Returns
    -------
    dict[str, NcclTuneTable]
        Keyed by canonical collective name; a 0.0 bandwidth is ``None`` (unavailable);
        ``version`` is ``"log"``.

    Raises
    ------
    ValueError
        If no table is found.

    >>> log = '''x:1:2 [0] NCCL INFO   Algorithm   |            Tree |  Ring |
    ... x:1:2 [0] NCCL INFO   Protocol    | LL | LL128 | Simple | LL | LL128 | Simple |
    ... x:1:2 [0] NCCL INFO     AllReduce |    10.4/  40.0 |    19.2/ 120.0 |    28.4/ 300.0 |\
        10.2/  60.0 |    20.0/ 180.0 |    56.0/ 205.7 |'''
    >>> t = parse_tuning_log(log)["all-reduce"]
    >>> t.entries[("Ring", "Simple")]
    NcclTuneEntry(latency_s=5.6e-05, algbw_bytes_per_s=205700000000.0)
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    tables: list[dict[str, dict[tuple[str, str], NcclTuneEntry]]] = []
    current: dict[str, dict[tuple[str, str], NcclTuneEntry]] = {}
    algos: list[str] = []
    columns: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = _body(raw)
        if "|" not in line:
            continue
        head, _, rest = line.partition("|")
        label = head.strip()
        cells = [x.strip() for x in rest.split("|")]
        if label in ("Algorithm", "Latency/AlgBw"):
            if label == "Algorithm":
                algos = [_ALGO_ALIASES.get(x.lower(), "") for x in cells if x]
                columns = []
            else:
                columns = []
                for x in cells:
                    a_txt, _, p_txt = x.partition("/")
                    algo = _ALGO_ALIASES.get(a_txt.strip().lower())
                    proto = _PROTO_ALIASES.get(p_txt.strip().lower())
                    if algo and proto:
                        columns.append((algo, proto))
                algos = list(dict.fromkeys(a for a, _ in columns))
            if algos[:1] == [ALGORITHMS[0]] and current:
                tables.append(current)
                current = {}
            continue
        if label == "Protocol":
            protos = [_PROTO_ALIASES.get(x.lower(), "") for x in cells if x]
            k = len(PROTOCOLS)
            columns = [(algos[i // k], protos[i]) for i in range(min(len(protos), k * len(algos)))]
            continue
        key = label.replace(" ", "").lower()
        if key not in _FUNCS or not columns:
            continue
        coll = canonical(key)
        row = current.setdefault(coll, {})
        for (a, p), cell in zip(columns, cells, strict=False):
            m = _CELL.match(cell)
            if not (a and p and m):
                continue
            lat_us, bw_gbps = float(m.group(1)), float(m.group(2))
            ok = math.isfinite(bw_gbps) and bw_gbps > 0
            row[(a, p)] = NcclTuneEntry(
                latency_s=lat_us * 1e-6 if math.isfinite(lat_us) else 0.0,
                algbw_bytes_per_s=bw_gbps * 1e9 if ok else None,
            )
    if current:
        tables.append(current)
    if not tables:
        raise ValueError("no NCCL tuning table found (run with NCCL_DEBUG=INFO "
                         "NCCL_DEBUG_SUBSYS=TUNING; rank 0 prints it)")
    return {coll: NcclTuneTable(collective=coll, version="log", entries=entries)
            for coll, entries in tables[-1].items()}
