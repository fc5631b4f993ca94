"""Exports read back: ASTRA-sim's analytical network YAML and NCCL's topology XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import yaml
from click.testing import CliRunner

import topologies
from fabric.cli import cli
from fabric.graph import summarize
from topologies.discovery import detect_format, parse_server
from topologies.export_astra import (
    ASTRA_TOPOLOGIES,
    astra_network,
    astra_yaml,
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
