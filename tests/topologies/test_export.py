"""Exports read back: ASTRA-sim's analytical network YAML and NCCL's topology XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import yaml
from click.testing import CliRunner

import topologies
from collectives.placement import place
from fabric.cli import cli
from fabric.graph import summarize
from topologies.discovery import detect_format, parse_server
from topologies.export_astra import (
    ASTRA_TOPOLOGIES,
    astra_network,
    astra_yaml,
    npu_order,
    read_astra_yaml,
)
from topologies.export_nccl import nccl_topology_xml


@pytest.mark.parametrize("G", [
    pytest.param(topologies.clos(256, tiers=2), id="clos"),
    pytest.param(topologies.rail_optimized(32), id="rail"),
    pytest.param(topologies.fat_tree(8), id="fat-tree"),
])
def test_astra_yaml_follows_the_documented_schema_and_reads_back(G: nx.DiGraph) -> None:
    text = astra_yaml(G)
    data = yaml.safe_load(text)
    # astra-sim examples/network/analytical/*.yml: four lists, one entry per dimension
    assert set(data) == {"topology", "npus_count", "bandwidth", "latency"}
    assert len({len(v) for v in data.values()}) == 1
    assert set(data["topology"]) <= set(ASTRA_TOPOLOGIES)
    net = read_astra_yaml(text)
    built = astra_network(G)
    assert [(d.topology, d.npus_count) for d in net.dims] == [
        (d.topology, d.npus_count) for d in built.dims]
    for read, made in zip(net.dims, built.dims, strict=True):
        assert read.bandwidth_gb_per_s == pytest.approx(made.bandwidth_gb_per_s, abs=1e-3)
        assert read.latency_ns == pytest.approx(made.latency_ns, abs=1e-2)
    gpus = sum(1 for _, k in G.nodes(data="kind") if k == "gpu")
    assert net.num_npus == gpus
    summary = summarize(G, exact_bisection=False)
    assert net.dims[-1].bandwidth_gb_per_s == pytest.approx(
        summary.injection_bandwidth_bytes_per_s / 1e9, rel=1e-6)
    assert text.startswith("# ASTRA-sim") and "Simplifications" in text


def test_astra_dims_are_scaleup_then_scaleout() -> None:
    net = astra_network(topologies.rail_optimized(32))
    assert [(d.topology, d.npus_count) for d in net.dims] == [("Switch", 8), ("Switch", 32)]
    # H100: 18 NVLink4 links x 25 GB/s (catalog nvlink4) per direction
    assert net.dims[0].bandwidth_gb_per_s == pytest.approx(450.0)
    assert net.dims[0].latency_ns < net.dims[1].latency_ns


@pytest.mark.parametrize(("placement", "dims"), [
    ("packed", [("Switch", 8), ("Switch", 8)]),   # 64 ranks fill 8 servers
    ("spread", [("Switch", 64)]),                  # one rank on each of 64 servers
])
def test_astra_network_of_a_rank_placement(placement: str, dims: list) -> None:
    G = topologies.clos(1024, tiers=2)
    ranks = place(G, 64, placement)
    net = astra_network(G, ranks)
    assert [(d.topology, d.npus_count) for d in net.dims] == dims
    assert net.num_npus == 64
    order = npu_order(G, ranks)
    assert sorted(order) == sorted(ranks)
    # NPUs of one server are consecutive (the innermost dimension counts them)
    nodes = [G.nodes[g]["node"] for g in order]
    assert nodes == sorted(nodes, key=nodes.index)
    text = astra_yaml(G, ranks)
    assert read_astra_yaml(text).num_npus == 64
    listed = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("#   ")
              and ": " in line and line.split(":")[0].strip("# ").isdigit()]
    assert listed == order


def test_astra_placement_refusals() -> None:
    G = topologies.clos(256, tiers=2)
    with pytest.raises(ValueError, match="every server alike; this placement puts 1, 2 ranks"):
        astra_network(G, ["node0/gpu0", "node0/gpu1", "node1/gpu0"])
    with pytest.raises(ValueError, match="is not a GPU of this fabric"):
        astra_network(G, ["node0/gpu0", "leaf0"])
    with pytest.raises(ValueError, match="names a GPU twice"):
        astra_network(G, ["node0/gpu0", "node0/gpu0"])


def test_cli_export_placement_options(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["topology", "export", "clos", "--gpus", "1k", "--format",
                                 "astra-sim", "--ranks", "64", "--placement", "spread"])
    assert result.exit_code == 0, result.output
    assert read_astra_yaml(result.stdout).dims[0].npus_count == 64
    for args, message in (
        (["--format", "json", "--ranks", "4"], "--ranks/--placement apply to --format astra-sim"),
        (["--format", "astra-sim", "--seed", "3"], "--seed applies to --placement random only"),
        (["--format", "astra-sim", "--node", "1"], "--node applies to --format nccl-xml only"),
    ):
        bad = runner.invoke(cli, ["topology", "export", "clos", "--gpus", "64", *args])
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output


def test_astra_refuses_unequal_servers() -> None:
    G = topologies.clos(256, tiers=2)
    G.remove_node("node0/gpu7")
    with pytest.raises(ValueError, match="every server alike"):
        astra_network(G)


def test_nccl_xml_reads_back_as_the_server() -> None:
    G = topologies.rail_optimized(32)
    xml = nccl_topology_xml(G, node=3)
    root = ET.fromstring(xml)
    assert root.tag == "system" and root.get("version") == "1"
    assert [g.get("dev") for g in root.iter("gpu")] == [str(i) for i in range(8)]
    assert {n.get("speed") for n in root.iter("net")} == {"400000"}  # NDR 400G in Mb/s
    assert detect_format(xml) == "nccl-xml"
    server = parse_server(xml, "auto")
    assert (server.num_gpus, server.nvlink_links_per_gpu, server.num_nics) == (8, 18, 8)


def test_nccl_xml_refuses_a_gpu_nccl_does_not_drive() -> None:
    G = topologies.clos(16, tiers=1, gpu="mi300x", scaleup=None, gpus_per_node=1)
    with pytest.raises(ValueError, match="not an NVIDIA GPU"):
        nccl_topology_xml(G)


def test_cli_exports_both_formats(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "net.yml"
    result = runner.invoke(cli, ["topology", "export", "rail-optimized", "--nodes", "32",
                                 "--format", "astra-sim", "-o", str(out)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert read_astra_yaml(out.read_text()).num_npus == 256
    result = runner.invoke(cli, ["topology", "export", "rail-optimized", "--nodes", "32",
                                 "--format", "nccl-xml", "--node", "1"], catch_exceptions=False)
    assert result.exit_code == 0
    assert parse_server(result.stdout, "nccl-xml").num_gpus == 8


def test_nccl_xml_lists_a_port_per_plane_at_the_ports_rate() -> None:
    # twin-planar B300: one 800G NIC as two 400G ports, each a net device NCCL can use; it was
    # written as one 400G port, half the GPU's network
    G = topologies.build("rail-optimized", num_nodes=8, planes=2, switch="sn5600-400", gpu="b300")
    nets = ET.fromstring(nccl_topology_xml(G)).findall(".//net")
    assert len(nets) == 16 and {n.get("speed") for n in nets} == {"400000"}
    assert len({n.get("dev") for n in nets}) == 16
    assert parse_server(nccl_topology_xml(G), "nccl-xml").num_nics == 16
    # an H100 behind 800G carries its PCIe's 63 GB/s, but its port still runs at 800G
    H = topologies.build("clos", num_gpus=64, switch="sn5600-800")
    assert {n.get("speed") for n in ET.fromstring(nccl_topology_xml(H)).findall(".//net")} == {
        "800000"}
