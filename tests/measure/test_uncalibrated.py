"""Uncalibrated prediction on described clusters against the repository's public logs.

For the logs of ``tests/data/logs/CATALOG.json`` whose servers ``tests/data/logs/CLUSTERS.json``
describes (GPU, GPUs per server, NIC and NIC count, each with a public source), the generic
fabric of that cluster predicts the bus bandwidth of the log's largest size with no calibration.
The figures (per-log error, medians) are printed by ``benchmarks/uncalibrated.py``; this test
asserts what must hold: the A100 logs are no longer modelled with H100 NVLink, shared NICs bound
the network, and describing the cluster brings the predictions closer to the logs than the
undescribed default (H100 NVLink, one NDR 400G per GPU) does.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from collectives.predict import predict_many
from measure.parsers import parse_log_file
from measure.records import Record
from topologies.generic import CPU_RANKS, ClusterDescription, generic_fabric

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
CATALOG = json.loads((LOGS / "CATALOG.json").read_text(encoding="utf-8"))
CLUSTERS = {k: v for k, v in json.loads((LOGS / "CLUSTERS.json").read_text(
    encoding="utf-8")).items() if not k.startswith("_")}
#: NVIDIA A100 datasheet (2021): NVLink 600 GB/s bidirectional = 300 GB/s per direction.
A100_NVLINK_BYTES_PER_S = 300e9
#: NVIDIA H100 datasheet: NVLink 900 GB/s bidirectional = 450 GB/s per direction.
H100_NVLINK_BYTES_PER_S = 450e9


def _cluster(desc: dict[str, Any]) -> ClusterDescription:
    return ClusterDescription(gpu=CPU_RANKS if desc.get("cpu") else desc["gpu"],
                              nic=desc.get("nic"), nics_per_node=desc.get("nics_per_node"),
                              nvls=desc.get("nvls"))


def _largest(log: dict[str, Any]) -> list[Record]:
    """Out-of-place records of the largest size, one per (operation, hosts, ranks); none for a
    log the parsers cannot read even with CATALOG's counts (the row counts below guard that)."""
    operation = None if "+" in log["collective"] else log["collective"]
    try:
        records = parse_log_file(LOGS / log["file"], operation=operation).records
    except ValueError:
        try:
            records = parse_log_file(LOGS / log["file"], operation=operation,
                                     num_ranks=log["num_ranks"],
                                     num_hosts=log["num_hosts"]).records
        except ValueError:
            return []
    best: dict[tuple[str, int, int], Record] = {}
    for r in records:
        key = (r.operation, r.num_hosts, r.num_ranks)
        if not r.in_place and r.num_ranks > 1 and (
                key not in best or r.size_bytes > best[key].size_bytes):
            best[key] = r
    return list(best.values())


def _described_nccl_logs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(log, CLUSTERS[log["system"]]) for log in CATALOG
            if log["system"] in CLUSTERS and log["format"] in ("nccl-tests", "rccl-tests")
            and not CLUSTERS[log["system"]].get("cpu")]


def _servers(r: Record, gpus_per_node: int) -> tuple[int, int]:
    """(servers, GPUs per server) holding a record; (0, 0) when the described servers cannot.
    A log that does not say its hosts (the parser's 1) with more ranks than one server holds
    runs on ``ranks / gpus_per_node`` servers (the NCCL issue 527 p4d summary)."""
    if r.num_hosts == 1 and r.num_ranks <= gpus_per_node:
        return 1, r.num_ranks
    hosts = r.num_hosts if r.num_hosts > 1 else r.num_ranks // gpus_per_node
    return (hosts, gpus_per_node) if r.num_ranks == hosts * gpus_per_node else (0, 0)


def _busbw(G, r: Record) -> float:
    return predict_many(G, r.operation, [r.size_bytes], ranks=r.num_ranks)[0].busbw_bytes_per_s


def _rows() -> list[tuple[Record, float, float, bool]]:
    """(record, described busbw, default busbw, NIC count assumed) of every described log."""
    out = []
    for log, desc in _described_nccl_logs():
        cluster = _cluster(desc)
        for r in _largest(log):
            hosts, per = _servers(r, int(desc["gpus_per_node"]))
            if hosts == 0 or (hosts > 1 and not cluster.nic):
                continue
            described = _busbw(generic_fabric(hosts, per, cluster=cluster), r)
            default = _busbw(generic_fabric(hosts, per), r)
            out.append((r, described, default, bool(desc.get("assumed"))))
    return out


@pytest.fixture(scope="module")
def rows() -> list[tuple[Record, float, float, bool]]:
    return _rows()


def test_the_a100_logs_are_modelled_with_a100_nvlink():
    a100_logs = [(log, desc) for log, desc in _described_nccl_logs()
                 if desc["gpu"].startswith("a100")]
    assert len(a100_logs) >= 3  # ABCI A-node x 3, OCI BM.GPU4.8
    for log, desc in a100_logs:
        for r in _largest(log):
            per = int(desc["gpus_per_node"])
            one_server = generic_fabric(1, per, cluster=_cluster(desc))
            intra = predict_many(one_server, r.operation, [r.size_bytes], ranks=per)[0]
            assert intra.busbw_bytes_per_s <= A100_NVLINK_BYTES_PER_S * (1 + 1e-9), log["file"]
            h100 = predict_many(generic_fabric(1, per), r.operation, [r.size_bytes], ranks=per)[0]
            assert h100.busbw_bytes_per_s > A100_NVLINK_BYTES_PER_S  # the old model's H100
            assert "host-switch" in intra.bottleneck


def test_shared_nics_bound_the_multi_server_prediction(rows):
    """ABCI A-node: 4 x HDR 200G per 8 GPUs = 100 GB/s per server. A ring's busbw cannot beat
    a server's NICs, a tree's at most twice (each byte crosses a server's NICs once up and once
    down, split over two trees). The default fabric (8 x NDR 400G per server) predicted far
    above that. No GPU or NIC of these logs is faster than the default's (H100 NVLink, one NDR
    400G per GPU), so describing the servers can only lower a prediction here."""
    for r, described, default, _ in rows:
        assert described <= default * (1 + 1e-9), r
    desc = CLUSTERS["abci-anode"]
    nic_bound = desc["nics_per_node"] * 25e9  # HDR 200G = 25 GB/s per direction
    checked = 0
    for log in CATALOG:
        if log["system"] != "abci-anode" or log["format"] != "nccl-tests":
            continue
        for r in _largest(log):
            if r.operation != "all-reduce":
                continue
            G = generic_fabric(r.num_hosts, desc["gpus_per_node"], cluster=_cluster(desc))
            for algorithm, factor in (("ring", 1.0), ("tree", 2.0)):
                p = predict_many(G, r.operation, [r.size_bytes], ranks=r.num_ranks,
                                 algorithm=algorithm)[0]
                assert p.busbw_bytes_per_s <= factor * nic_bound * (1 + 1e-9), (log["file"], p)
            checked += 1
    assert checked >= 2  # the 4- and 16-server all-reduce logs


def test_describing_the_cluster_brings_predictions_closer_to_the_logs(rows):
    sourced = [x for x in rows if not x[3]]
    assert len(sourced) >= 10
    err_described = [abs(d / r.busbw_bytes_per_s - 1) for r, d, _, _ in sourced]
    err_default = [abs(d / r.busbw_bytes_per_s - 1) for r, _, d, _ in sourced]
    assert statistics.median(err_described) < statistics.median(err_default)
    # no log gets worse by describing its servers
    for (r, _, _, _), a, b in zip(sourced, err_described, err_default, strict=True):
        assert a <= b + 1e-9, r


def test_together_pods_are_described_without_nvls() -> None:
    """CLUSTERS.json describes Together's H100 pods with ``"nvls": false``: the same session's
    NVLS run (tests/data/evidence/SOURCES.md) measured Ring's bus bandwidth at every size from
    64 MiB, where NVLS on an HGX H100 reaches about 480 GB/s (NVIDIA/nccl issue 1455)."""
    assert CLUSTERS["together-h100"]["nvls"] is False
    evidence = Path(__file__).resolve().parents[1] / "data" / "evidence"
    ring = {r.size_bytes: r.busbw_bytes_per_s for r in parse_log_file(
        LOGS / "nccl-tests" / "together_h100_all_reduce_ring.out").records if not r.in_place}
    nvls = {r.size_bytes: r.busbw_bytes_per_s for r in parse_log_file(
        evidence / "together_h100_all_reduce_nvls.out").records if not r.in_place}
    large = [s for s in ring if s >= 64 << 20]
    assert len(large) == 8 and set(large) <= set(nvls)
    for size in large:
        assert nvls[size] == pytest.approx(ring[size], rel=0.02)
    assert max(nvls.values()) < 400e9
