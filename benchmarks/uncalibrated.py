"""Uncalibrated accuracy: the described cluster against the repository's public logs (prints
figures; no assertions).

    python benchmarks/uncalibrated.py

For every log of ``tests/data/logs/CATALOG.json`` whose system ``tests/data/logs/CLUSTERS.json``
describes (GPU or CPU ranks, GPUs per server, NIC and NICs per server, each with its public
source), it builds the generic fabric of that cluster at the log's node count
(:func:`topologies.generic.generic_fabric` with a :class:`topologies.generic.ClusterDescription`,
no calibration) and predicts the bus bandwidth of the log's largest size, for each collective and
node count the log holds. It prints the per-log relative error of the ideal flavor and, for
nccl-tests / rccl-tests logs, of the nccl flavor, and their medians (issue 10 goal: uncalibrated
prediction within 15 % median).

Multi-server logs of systems whose NIC is not described are left out: their network link would
be a default, not the cluster (issue 10: "never a silent 50 GB/s default").
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectives.predict import predict_many  # noqa: E402
from measure.parsers import parse_log_file  # noqa: E402
from measure.records import Record  # noqa: E402
from topologies.generic import CPU_RANKS, ClusterDescription, generic_fabric  # noqa: E402

LOGS = ROOT / "tests" / "data" / "logs"
NCCL_FORMATS = ("nccl-tests", "rccl-tests")


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One log, collective and node count: measured and predicted busbw at the largest size."""

    file: str
    operation: str
    num_hosts: int
    num_ranks: int
    size_bytes: int
    measured_busbw_bytes_per_s: float
    ideal_busbw_bytes_per_s: float
    nccl_busbw_bytes_per_s: float | None
    default_busbw_bytes_per_s: float
    gpu: str
    cpu: bool
    nccl_log: bool
    assumed: bool

    @property
    def ideal_error(self) -> float:
        """(predicted - measured) / measured, ideal flavor."""
        return self.ideal_busbw_bytes_per_s / self.measured_busbw_bytes_per_s - 1.0

    @property
    def default_error(self) -> float:
        """(predicted - measured) / measured on the undescribed generic fabric (H100 NVLink,
        one NDR 400G per GPU): what the tool predicted before the cluster could be described."""
        return self.default_busbw_bytes_per_s / self.measured_busbw_bytes_per_s - 1.0

    @property
    def nccl_error(self) -> float | None:
        """(predicted - measured) / measured, nccl flavor (None where not predicted)."""
        if self.nccl_busbw_bytes_per_s is None:
            return None
        return self.nccl_busbw_bytes_per_s / self.measured_busbw_bytes_per_s - 1.0


def load_clusters() -> dict[str, dict[str, Any]]:
    """CLUSTERS.json without its ``_about`` note."""
    raw = json.loads((LOGS / "CLUSTERS.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def cluster_of(entry: dict[str, Any]) -> ClusterDescription:
    """The :class:`ClusterDescription` of one CLUSTERS.json entry."""
    return ClusterDescription(gpu=CPU_RANKS if entry.get("cpu") else entry["gpu"],
                              nic=entry.get("nic"), nics_per_node=entry.get("nics_per_node"),
                              nvls=entry.get("nvls"))


def parse(log: dict[str, Any]) -> list[Record]:
    """The log's records, parsed with the collective and counts CATALOG.json records."""
    operation = log["collective"] if "+" not in log["collective"] else None
    path = LOGS / log["file"]
    try:
        return list(parse_log_file(path, operation=operation).records)
    except ValueError:
        return list(parse_log_file(path, operation=operation, num_ranks=log.get("num_ranks"),
                                   num_hosts=log.get("num_hosts")).records)


def largest(records: list[Record]) -> list[Record]:
    """Per (operation, hosts, ranks): the out-of-place record of the largest size."""
    best: dict[tuple[str, int, int], Record] = {}
    for r in records:
        if r.in_place or r.size_bytes <= 0 or r.num_ranks < 2:
            continue
        key = (r.operation, r.num_hosts, r.num_ranks)
        if key not in best or r.size_bytes > best[key].size_bytes:
            best[key] = r
    return [best[k] for k in sorted(best)]


def servers(r: Record, gpus_per_node: int) -> tuple[int, int]:
    """(servers, GPUs per server) of a record on described servers of ``gpus_per_node``; (0, 0)
    when they cannot hold it. A record on one host with fewer ranks uses part of the server; a
    log that does not say its hosts (the parser's 1) with more ranks than a server holds is
    spread over ``ranks / gpus_per_node`` servers (the NCCL issue 527 summary: 8, 16, 24, 32
    ranks on 1-4 p4d instances)."""
    if r.num_hosts == 1 and r.num_ranks <= gpus_per_node:
        return 1, r.num_ranks
    hosts = r.num_hosts if r.num_hosts > 1 else r.num_ranks // gpus_per_node
    if r.num_ranks != hosts * gpus_per_node:
        return 0, 0
    return hosts, gpus_per_node


def rows_for(log: dict[str, Any], desc: dict[str, Any]) -> list[Row]:
    """The rows of one described log (empty when its servers cannot hold the ranks)."""
    cluster = cluster_of(desc)
    out = []
    for r in largest(parse(log)):
        hosts, per = servers(r, int(desc["gpus_per_node"]))
        if hosts == 0 or (hosts > 1 and not cluster.nic_described):
            continue
        G = generic_fabric(hosts, per, cluster=cluster)
        ideal = predict_many(G, r.operation, [r.size_bytes], ranks=r.num_ranks)[0]
        default = predict_many(generic_fabric(hosts, per), r.operation, [r.size_bytes],
                               ranks=r.num_ranks)[0]
        nccl = None
        if log["format"] in NCCL_FORMATS and not cluster.cpu:
            nccl = predict_many(G, r.operation, [r.size_bytes], ranks=r.num_ranks,
                                flavor="nccl")[0].busbw_bytes_per_s
        out.append(Row(file=log["file"], operation=r.operation, num_hosts=hosts,
                       num_ranks=r.num_ranks, size_bytes=r.size_bytes,
                       measured_busbw_bytes_per_s=r.busbw_bytes_per_s,
                       ideal_busbw_bytes_per_s=ideal.busbw_bytes_per_s,
                       nccl_busbw_bytes_per_s=nccl,
                       default_busbw_bytes_per_s=default.busbw_bytes_per_s, gpu=cluster.gpu,
                       cpu=cluster.cpu, nccl_log=log["format"] in NCCL_FORMATS,
                       assumed=bool(desc.get("assumed"))))
    return out


def all_rows() -> tuple[list[Row], list[str]]:
    """Rows of every described log, and one line per log left out."""
    clusters = load_clusters()
    catalog = json.loads((LOGS / "CATALOG.json").read_text(encoding="utf-8"))
    rows: list[Row] = []
    left_out = []
    for log in catalog:
        desc = clusters.get(log["system"])
        if desc is None:
            left_out.append(f"{log['file']}: system {log['system']} not described")
            continue
        try:
            got = rows_for(log, desc)
        except ValueError as err:
            left_out.append(f"{log['file']}: {err}")
            continue
        if not got:
            left_out.append(f"{log['file']}: no row its described servers hold")
        rows.extend(got)
    return rows, left_out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:+.1f}%"


def _median(values: list[float]) -> str:
    return f"{statistics.median(values) * 100:.1f}%" if values else "-"


def main() -> None:
    start = time.perf_counter()
    rows, left_out = all_rows()
    print(f"{'log':58} {'op':10} {'hosts':>5} {'ranks':>5} {'size':>11} {'meas':>7} "
          f"{'default':>8} {'ideal':>8} {'nccl':>8}   (busbw GB/s, error vs measured)")
    for r in rows:
        nccl = "-" if r.nccl_busbw_bytes_per_s is None else (
            f"{r.nccl_busbw_bytes_per_s / 1e9:.1f} {_pct(r.nccl_error)}")
        print(f"{r.file[:58]:58} {r.operation:10} {r.num_hosts:5d} {r.num_ranks:5d} "
              f"{r.size_bytes:11d} {r.measured_busbw_bytes_per_s / 1e9:7.2f} "
              f"{r.default_busbw_bytes_per_s / 1e9:.1f} {_pct(r.default_error)}  "
              f"{r.ideal_busbw_bytes_per_s / 1e9:.1f} {_pct(r.ideal_error)}  {nccl}"
              + ("  [NIC count assumed]" if r.assumed else ""))
    print()
    groups = (
        ("nccl-tests/rccl-tests logs, sourced servers",
         [r for r in rows if r.nccl_log and not r.assumed]),
        ("nccl-tests/rccl-tests logs, with assumed NIC counts",
         [r for r in rows if r.nccl_log]),
        ("MPI (OSU/IMB) logs on GPU buffers", [r for r in rows if not r.nccl_log and not r.cpu]),
        ("MPI (OSU/IMB) logs on CPU ranks", [r for r in rows if r.cpu]),
    )
    for label, chosen in groups:
        if not chosen:
            continue
        nccl_errors = [abs(e) for r in chosen if (e := r.nccl_error) is not None]
        print(f"{label}: {len(chosen)} rows; median |error| default fabric "
              f"{_median([abs(r.default_error) for r in chosen])}, described ideal "
              f"{_median([abs(r.ideal_error) for r in chosen])}, described nccl "
              f"{_median(nccl_errors)}")
    for line in left_out:
        print(f"left out: {line}")
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
