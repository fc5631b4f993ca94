"""The cluster flags (``--gpu``, ``--nic``, ``--nics-per-node``, ``--peer-to-peer``, ``--nvls``,
``--cpu-ranks``) on ``predict --topology generic``, ``calibrate`` and ``validate``, through the
real root command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.catalog import default_catalog
from fabric.cli import cli
from measure.parsers import parse_log_file
from measure.records import write_records

TOGETHER = (Path(__file__).resolve().parents[1] / "data" / "logs" / "nccl-tests"
            / "together_h100_all_reduce_ring.out")
A100_FLAGS = ("--gpu", "a100-40gb", "--nic", "hdr200", "--nics-per-node", "4")


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def one_host_records(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "together.jsonl"
    return write_records(parse_log_file(TOGETHER).records, path)


def _one_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_predict_builds_the_described_cluster(run):
    result = run("predict", "--topology", "generic", "--nodes", 4, *A100_FLAGS,
                 "--sizes", "1GiB", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # the NIC is described: no warning
    data = json.loads(result.stdout)["results"]
    params = data["params"]
    assert params["num_hosts"] == 4 and params["gpus_per_host"] == 8
    assert (params["gpu"], params["nic"], params["nics_per_node"]) == ("a100-40gb", "hdr200", 4)
    # A100: 12 NVLink3 links x 25 GB/s (NVIDIA A100 datasheet), not H100's 18 x NVLink4
    assert params["host_bandwidth_bytes_per_s"] == 300e9
    # 4 x HDR 200G for 8 GPUs: 12.5 GB/s per GPU; a ring over 4 servers cannot beat the NICs
    assert params["network_bandwidth_bytes_per_s"] == 12.5e9
    row = data["predictions"][0]
    assert row["num_ranks"] == 32
    assert row["busbw_bytes_per_s"] <= 2 * 4 * 25e9  # at most the tree's 2x over 4 NICs


def test_shared_nics_are_slower_than_one_per_gpu(run):
    def busbw(*flags: object) -> float:
        result = run("predict", "--topology", "generic", "--nodes", 4, "--gpu", "a100-40gb",
                     "--nic", "efa100", *flags, "--sizes", "1GiB", "--collective", "all-to-all",
                     "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["results"]["predictions"][0]["busbw_bytes_per_s"]

    shared, own = busbw("--nics-per-node", 4), busbw("--nics-per-node", 8)
    assert shared < own
    assert shared == pytest.approx(own / 2, rel=0.05)  # all-to-all is network-bound here


def test_predict_warns_when_the_network_is_a_default(run):
    result = run("predict", "--topology", "generic", "--nodes", 2, "--gpu", "v100",
                 "--sizes", "1MiB")
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: no --nic given")
    assert "one NDR 400G per GPU (50 GB/s per GPU)" in lines[0]
    shared = run("predict", "--topology", "generic", "--nodes", 2, "--gpu", "v100",
                 "--nics-per-node", 3, "--sizes", "1MiB")
    assert "3 NDR 400G per server (18.75 GB/s per GPU)" in shared.stderr
    one = run("predict", "--topology", "generic", "--nodes", 1, "--gpu", "v100", "--sizes", "1MiB")
    assert one.exit_code == 0 and one.stderr == ""  # one server: no network in use


def test_predict_cpu_ranks_and_pcie_without_peer_to_peer(run):
    result = run("predict", "--topology", "generic", "--nodes", 2, "--cpu-ranks", 36,
                 "--nic", "roce100", "--sizes", "1MiB", "--json")
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["results"]["params"]
    assert params["gpus_per_host"] == 36 and params["gpu"] == "cpu"
    assert params["host_bandwidth_bytes_per_s"] == default_catalog().links[
        "shm"].bandwidth_bytes_per_s

    def host_bw(*flags: object) -> float:
        r = run("predict", "--topology", "generic", "--nodes", 1, "--gpus-per-node", 4,
                "--gpu", "t4", *flags, "--sizes", "1MiB", "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["results"]["params"]["host_bandwidth_bytes_per_s"]

    assert host_bw() < host_bw("--peer-to-peer")
    assert host_bw() == host_bw("--no-peer-to-peer")


def test_predict_nvls_flag(run):
    def algorithm(*flags: object) -> str:
        r = run("predict", "--topology", "generic", "--nodes", 1, "--gpu", "h100", *flags,
                "--flavor", "nccl", "--collective", "all-reduce", "--sizes", "1GiB", "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["results"]["predictions"][0]["algorithm"]

    assert algorithm() == algorithm("--nvls") == "NVLS"
    assert algorithm("--no-nvls") == "Ring"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--nodes", 2, "--nic", "hdr300"), 1, "unknown nic 'hdr300'; known links and NICs:"),
    (("--nodes", 2, "--gpu", "a200"), 1, "unknown gpu 'a200'; known: a100"),
    (("--nodes", 2, "--gpu", "a100", "--cpu-ranks", 4), 2, "give --gpu a100 or --cpu-ranks 4"),
    (("--nodes", 1, "--gpu", "a100", "--nvls"), 1, "nvls needs an NVSwitch that reduces in"),
    (("--nodes", 2, "--k", 4), 2, "--topology generic takes --nodes"),
    (("--gpu", "a100",), 2, "--topology generic needs --nodes"),
    (("--gpus", 12, "--gpus-per-node", 8), 2, "--gpus 12 is not whole servers of 8 GPUs"),
])
def test_predict_generic_errors_are_one_line(run, args, code, message):
    line = _one_line(run("predict", "--topology", "generic", *args, "--sizes", "1MiB"), code)
    assert message in line


def test_cluster_flags_need_the_generic_fabric(run):
    line = _one_line(run("predict", "--topology", "fat-tree", "--k", 4, "--nic", "hdr200",
                         "--sizes", "1MiB"), 2)
    assert "--nic" in line and "generic" in line


def test_calibrate_on_one_host_without_a_nic_warns(run, one_host_records, tmp_path):
    result = run("calibrate", one_host_records, "-o", tmp_path / "cal.json")
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "nothing measured the network" in warnings[0]


def test_a_described_calibration_carries_its_servers_across_scale(run, one_host_records,
                                                                  tmp_path):
    cal = tmp_path / "cal.json"
    result = run("calibrate", one_host_records, "--gpu", "h100", "--nic", "ndr400",
                 "--nics-per-node", 8, "-o", cal, "--json")
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr
    graph = json.loads(cal.read_text())["graph"]
    assert graph["params"]["nic"] == "ndr400" and graph["params"]["nics_per_node"] == 8
    # predict at 16 servers with the calibration alone: its servers, no warning
    result = run("predict", "--topology", "generic", "--nodes", 16, "--calibration", cal,
                 "--sizes", "1GiB", "--json")
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr
    params = json.loads(result.stdout)["results"]["params"]
    assert params["num_hosts"] == 16
    assert {k: params[k] for k in ("gpu", "nic", "nics_per_node")} == {
        "gpu": "h100", "nic": "ndr400", "nics_per_node": 8}
    # validate rebuilds the calibration's described fabric
    result = run("validate", one_host_records, "--calibration", cal, "--json")
    assert result.exit_code == 0, result.output


def test_predict_with_an_undescribed_one_host_calibration_warns(run, one_host_records,
                                                                  tmp_path):
    cal = tmp_path / "cal.json"
    assert run("calibrate", one_host_records, "-o", cal).exit_code == 0
    result = run("predict", "--topology", "generic", "--nodes", 4, "--calibration", cal,
                 "--sizes", "1GiB")
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert len(lines) == 1 and "fitted on one host" in lines[0]


def test_calibrate_rejects_family_flags_and_cluster_flags_on_a_family(run, one_host_records):
    line = _one_line(run("calibrate", one_host_records, "--k", 4), 2)
    assert "--k" in line and "--topology" in line
    line = _one_line(run("calibrate", one_host_records, "--topology", "fat-tree", "--k", 4,
                         "--nic", "hdr200"), 2)
    assert "--nic" in line


def test_import_records_the_cluster_and_calibrate_uses_it(run, tmp_path):
    records = tmp_path / "rec.jsonl"
    result = run("import", TOGETHER, "-o", records, "--gpu", "h100", "--nic", "ndr400",
                 "--nics-per-node", 8)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert lines and all(x["extra"]["cluster"]["nic"] == "ndr400" for x in lines)
    cal = tmp_path / "cal.json"
    result = run("calibrate", records, "-o", cal)
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr  # the NIC came with the records
    params = json.loads(cal.read_text())["graph"]["params"]
    assert (params["gpu"], params["nic"], params["nics_per_node"]) == ("h100", "ndr400", 8)


def test_import_rejects_an_unknown_nic_in_one_line(run, tmp_path):
    line = _one_line(run("import", TOGETHER, "-o", tmp_path / "r.jsonl", "--nic", "hdr300"), 1)
    assert "unknown nic 'hdr300'" in line
    assert not (tmp_path / "r.jsonl").exists()


def test_validate_on_more_hosts_with_an_undescribed_one_host_calibration_warns(
        run, one_host_records, tmp_path):
    cal = tmp_path / "cal.json"
    assert run("calibrate", one_host_records, "-o", cal).exit_code == 0
    two_hosts = TOGETHER.parent / "xxrjun_h100_2node_alltoall_sendrecv.log"
    result = run("validate", two_hosts, "--calibration", cal)
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert len(lines) == 1 and "nothing measured the network" in lines[0]
    # described servers: no warning
    result = run("validate", two_hosts, "--calibration", cal, "--nic", "ndr400")
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr
