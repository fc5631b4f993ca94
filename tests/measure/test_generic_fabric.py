"""Rank layouts of records and the generic fabric built from them (:mod:`measure.generic_fabric`).

Moved out of ``test_calibrate.py``; the builder itself is tested in
``tests/topologies/test_generic.py``.
"""

from __future__ import annotations

import pytest

from fabric.catalog import default_catalog
from measure.generic_fabric import (
    RankLayout,
    generic_fabric_for_records,
    generic_fabric_from_records,
    gpus_for_layout,
    rank_layouts,
    undescribed_network_note,
)
from measure.records import Record
from topologies.generic import ClusterDescription, generic_fabric


def test_generic_fabric_from_records_hosts_and_bandwidth():
    # 3 hosts over two records; host "b" is shared, so it is one node
    a = Record(operation="all-reduce", size_bytes=2**30, time_s=1e-3, num_ranks=4, num_hosts=2,
               hosts=["a", "a", "b", "b"])
    b = Record(operation="all-reduce", size_bytes=2**30, time_s=2e-3, num_ranks=2, num_hosts=2,
               hosts=["b", "c"])
    G = generic_fabric_from_records([a, b])
    assert G.graph["params"]["num_hosts"] == 3
    assert G.graph["params"]["gpus_per_host"] == 2
    # record b: all-reduce over 2 hosts at 1 GiB in 2 ms -> busbw 2(n-1)/n x S/t = 536.9 GB/s,
    # above NDR's 50 GB/s, so the network class starts there
    assert G.graph["params"]["network_bandwidth_bytes_per_s"] == pytest.approx(2**30 / 2e-3)
    assert G.graph["params"]["host_bandwidth_bytes_per_s"] == 450e9  # 18 x NVLink4 25 GB/s


def test_rank_layout_without_hosts_is_blocked():
    r = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=4, num_hosts=2)
    (layout,) = rank_layouts([r])
    assert layout.rank_hosts == (0, 0, 1, 1) and not layout.known
    bad = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=3, num_hosts=2)
    with pytest.raises(ValueError, match="cannot lay out 3 ranks on 2 hosts"):
        rank_layouts([bad])


def test_gpus_for_layout_needs_room():
    G = generic_fabric(1, 4)
    with pytest.raises(ValueError, match="need 2 hosts; the fabric has 1 nodes"):
        gpus_for_layout(G, RankLayout(rank_hosts=(0, 1), rank_locals=(0, 0), known=True))


def _allreduce(hosts: int, per_host: int, time_s: float = 1e-2) -> Record:
    return Record(operation="all-reduce", size_bytes=2**26, time_s=time_s,
                  num_ranks=hosts * per_host, num_hosts=hosts, ranks_per_host=per_host)


def test_a_described_cluster_sets_the_starting_bandwidths():
    """V100 SXM2 x 4 with 2 x EDR per server (ABCI V-node): NVLink2 6 x 25 GB/s inside, a GPU's
    share 2 x 12.5 / 4 GB/s outside; the slow records (busbw ~12 GB/s) raise neither."""
    v100 = ClusterDescription(gpu="v100-16gb", nic="edr100", nics_per_node=2)
    G = generic_fabric_from_records([_allreduce(2, 4)], cluster=v100)
    cat = default_catalog()
    params = G.graph["params"]
    assert params["host_bandwidth_bytes_per_s"] == 6 * cat.links["nvlink2"].bandwidth_bytes_per_s
    assert params["network_bandwidth_bytes_per_s"] == 2 * 12.5e9 / 4
    assert (params["gpu"], params["nic"], params["nics_per_node"]) == ("v100-16gb", "edr100", 2)
    assert G.nodes["node1/nic1"]["kind"] == "nic"


def test_a_one_host_busbw_above_the_catalog_raises_the_host_link():
    # 8 ranks on one host, 64 MiB in 0.1 ms: busbw 2(n-1)/n x S/t = 1,174 GB/s > A100's 300 GB/s
    a100 = ClusterDescription(gpu="a100", nic="hdr200", nics_per_node=4)
    fast = _allreduce(1, 8, time_s=1e-4)
    G = generic_fabric_from_records([fast], cluster=a100)
    assert G.graph["params"]["host_bandwidth_bytes_per_s"] == pytest.approx(
        fast.busbw_bytes_per_s)


def test_the_calibration_fabric_grows_to_the_records_with_its_servers():
    a100 = ClusterDescription(gpu="a100", nic="hdr200", nics_per_node=4)
    G = generic_fabric_from_records([_allreduce(4, 8)], cluster=a100)
    H = generic_fabric_for_records([_allreduce(16, 8)], G.graph["params"])
    assert H.graph["params"]["num_hosts"] == 16
    assert (H.graph["params"]["gpu"], H.graph["params"]["nic"]) == ("a100", "hdr200")
    assert H.edges["node15/nic3", "network"]["bandwidth_bytes_per_s"] == 25e9
    # fewer hosts in the records than in the calibration: the calibration's size stays
    assert generic_fabric_for_records([_allreduce(2, 8)], G.graph["params"]).graph["params"][
        "num_hosts"] == 4
    with pytest.raises(ValueError, match="at least one record"):
        generic_fabric_for_records([], G.graph["params"])


def test_an_unmeasured_undescribed_network_is_said():
    one_host = generic_fabric_from_records([_allreduce(1, 8)])
    note = undescribed_network_note(one_host.graph)
    assert "one host" in note and "50 GB/s per GPU" in note and "--nic" in note
    assert "\n" not in note
    described = generic_fabric_from_records([_allreduce(1, 8)],
                                            cluster=ClusterDescription(nic="hdr200"))
    assert undescribed_network_note(described.graph) == ""
    assert undescribed_network_note(generic_fabric_from_records([_allreduce(2, 8)]).graph) == ""
    assert undescribed_network_note({"topology": "fat-tree", "params": {}}) == ""


def test_the_gpu_the_rank_lines_name_is_checked_against_the_servers(tmp_path) -> None:
    """nccl-tests names each rank's device; a fabric of other GPUs gets one warning that says
    which GPU ran and how to describe it (import with a contradicting --gpu, calibrate with
    none), and none once the servers are described with it."""
    import dataclasses
    from pathlib import Path

    from click.testing import CliRunner

    from fabric.cli import cli
    from measure.generic_fabric import device_note
    from measure.parsers import parse_log_file

    log = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
           / "abci_vnode-v100_2node_all_reduce.log")
    records = parse_log_file(log).records
    assert {r.extra["device"] for r in records} == {"Tesla V100-SXM2-16GB"}
    assert "--gpu v100-16gb" in device_note(records, None)
    assert device_note(records, ClusterDescription(gpu="v100-16gb", nic="edr100")) == ""
    assert "check --gpu" in device_note(records, ClusterDescription(gpu="a100"))
    assert "(--cpu-ranks), but the records ran on GPUs" in device_note(
        records, ClusterDescription(gpu="cpu"))
    assert device_note([], ClusterDescription(gpu="cpu")) == ""
    unknown = [dataclasses.replace(r, extra={**r.extra, "device": "NVIDIA Graphics Device"})
               for r in records[:2]]
    assert device_note(unknown, ClusterDescription(gpu="gb200")) == ""  # not in the rules
    assert device_note(unknown, None) == ""
    a100 = [dataclasses.replace(r, extra={**r.extra, "device": "A100-SXM4-40GB"})
            for r in records[:2]]
    assert "2 kinds of GPU" in device_note([*records, *a100], ClusterDescription(gpu="v100-16gb"))

    runner = CliRunner()
    plain, described = tmp_path / "plain.jsonl", tmp_path / "v100.jsonl"
    wrong = runner.invoke(cli, ["import", str(log), "-o", str(tmp_path / "h.jsonl"),
                                "--gpu", "h100"])
    assert wrong.exit_code == 0 and "ran on Tesla V100-SXM2-16GB" in wrong.stderr
    assert runner.invoke(cli, ["import", str(log), "-o", str(plain)]).exit_code == 0
    assert runner.invoke(cli, ["import", str(log), "-o", str(described), "--gpu", "v100-16gb",
                               "--nic", "edr100", "--nics-per-node", "2"]).exit_code == 0
    fit = runner.invoke(cli, ["calibrate", str(plain)])
    assert fit.exit_code == 0
    assert "describe them with --gpu v100-16gb" in fit.stderr
    fit = runner.invoke(cli, ["calibrate", str(described)])
    assert fit.exit_code == 0 and "ran on" not in fit.stderr


def test_a_cluster_flag_replaces_its_own_field_of_the_recorded_servers(tmp_path) -> None:
    """--nic on records imported as V100 servers keeps their V100s and NIC count; predict's
    --nics-per-node over a calibration keeps its GPU and NIC (they were dropped for the
    defaults: H100, one NIC per GPU)."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from fabric.cli import cli

    log = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
           / "abci_vnode-v100_2node_all_reduce.log")
    runner = CliRunner()
    records, cal = tmp_path / "v100.jsonl", tmp_path / "cal.json"
    assert runner.invoke(cli, ["import", str(log), "-o", str(records), "--gpu", "v100-16gb",
                               "--nic", "edr100", "--nics-per-node", "2"]).exit_code == 0
    fit = runner.invoke(cli, ["calibrate", str(records), "--nic", "hdr200", "-o", str(cal),
                              "--json"])
    assert fit.exit_code == 0, fit.output
    params = json.loads(fit.stdout)["results"]["graph"]["params"]
    assert (params["gpu"], params["nic"], params["nics_per_node"]) == ("v100-16gb", "hdr200", 2)
    got = runner.invoke(cli, ["predict", "--topology", "generic", "--calibration", str(cal),
                              "--sizes", "1G", "--nics-per-node", "4", "--json"])
    assert got.exit_code == 0, got.output
    params = json.loads(got.stdout)["results"]["params"]
    assert (params["gpu"], params["nic"], params["nics_per_node"]) == ("v100-16gb", "hdr200", 4)
    # another GPU drops what was said of the old one's NVSwitch: H100 servers recorded with
    # NVLS, fitted as A100s (whose switch has none) or as CPU ranks
    h100 = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
            / "issue290_srun_h100_2node_all_reduce.log")
    nvls = tmp_path / "nvls.jsonl"
    assert runner.invoke(cli, ["import", str(h100), "-o", str(nvls), "--gpu", "h100",
                               "--nvls"]).exit_code == 0
    for flags in (["--gpu", "a100-80gb"], ["--cpu-ranks", "8"]):
        fit = runner.invoke(cli, ["calibrate", str(nvls), *flags])
        assert fit.exit_code == 0, fit.output
