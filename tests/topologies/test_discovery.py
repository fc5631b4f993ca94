"""Importing racked fabrics: parsers on public samples, generated dumps of known fabrics, the CLI.

The public samples live in tests/data/discovery/ with their sources in SOURCES.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topologies
from fabric.cli import cli
from fabric.graph import validate_graph
from topologies.discovery import (
    DiscoveryError,
    detect_format,
    discovery_fabric,
    import_fabric,
    parse_discovery,
    parse_server,
)
from topologies.discovery.model import ib_rate_gbps, ib_speed_of_lane_gbps
from topologies.discovery.synth import ibnetdiscover_text
from topologies.spec import load_spec

DATA = Path(__file__).resolve().parents[1] / "data" / "discovery"


def _switch_tiers(G: nx.DiGraph) -> Counter[int]:
    return Counter(d["tier"] for _, d in G.nodes(data=True)
                   if d["kind"] == "switch" and d["tier"] >= 1)


def _network_cables(G: nx.DiGraph) -> int:
    """Scale-out cables (num_links summed), each counted once."""
    def network(n: str) -> bool:
        d = G.nodes[n]
        return d["kind"] != "switch" or d["tier"] >= 1
    return sum(d["num_links"] for u, v, d in G.edges(data=True)
               if network(u) and network(v)) // 2


# ----------------------------------------------------------------------------------- rates


@pytest.mark.parametrize(("width", "speed", "rate"), [
    (4, "NDR", 400.0), (4, "HDR", 200.0), (2, "NDR", 200.0), (4, "EDR", 100.0),
    (4, "XDR", 800.0), (1, "SDR", 2.5), (4, "QDR", 40.0),
])
def test_ib_rate_is_width_times_lane_rate(width: int, speed: str, rate: float) -> None:
    # InfiniBand Trade Association roadmap: per-lane SDR 2.5 ... NDR 100, XDR 200 Gb/s
    assert ib_rate_gbps(width, speed) == rate


@pytest.mark.parametrize(("lane", "speed"), [
    (106.25, "NDR"), (53.125, "HDR"), (25.78125, "EDR"), (25.78, "EDR"), (14.0625, "FDR"),
    (10.0, "QDR"), (5.0, "DDR"), (2.5, "SDR"), (212.5, "XDR"),
])
def test_iblinkinfo_signalling_rates_map_to_speed_names(lane: float, speed: str) -> None:
    assert ib_speed_of_lane_gbps(lane) == speed


def test_unknown_lane_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="no InfiniBand speed"):
        ib_speed_of_lane_gbps(33.0)


# ---------------------------------------------------------------------------- public samples


@pytest.mark.parametrize(("name", "fmt"), [
    ("ibnetdiscover_rdma_core_manpage.txt", "ibnetdiscover"),
    ("ibnetdiscover_ports_infiniband_exporter.txt", "ibnetdiscover"),
    ("ibnetdiscover_ibm_pcm_2009.txt", "ibnetdiscover"),
    ("ibnetdiscover_nvidia_ufm_lab_2016.txt", "ibnetdiscover"),
    ("ibnetdiscover_oracle_sun_dcs36.txt", "ibnetdiscover"),
    ("iblinkinfo_archwiki.txt", "iblinkinfo"),
    ("lldpctl_lldpd_test.json", "lldp-json"),
    ("lldp_eos_ntc_templates.txt", "lldp-table"),
    ("lldp_nxos_ntc_templates.txt", "lldp-table"),
    ("lldp_sonic_utilities.txt", "lldp-table"),
])
def test_every_sample_is_detected(name: str, fmt: str) -> None:
    assert detect_format((DATA / name).read_text()) == fmt


def test_manpage_topology_file_counts_and_degraded_links() -> None:
    # ibnetdiscover(8) example: 2 switches, 4 CAs (one with 2 ports), 9 link lines from the
    # switches of which 2 are the switch-switch cables seen from both ends -> 7 cables
    d = parse_discovery((DATA / "ibnetdiscover_rdma_core_manpage.txt").read_text())
    assert (d.num_switches, d.num_hosts, len(d.cables)) == (2, 4, 7)
    # the two ends of two cables disagree (4xSDR vs 1xSDR): the lower is kept
    assert sorted(c.width for c in d.cables) == [1, 1, 4, 4, 4, 4, 4]
    assert any("different widths" in n for n in d.notes)
    G = discovery_fabric(d).graph
    validate_graph(G)
    assert G.nodes["ISR9024_Voltaire"]["radix"] == 24  # "Switch  24" in the dump
    assert G.nodes["SW-6IB4_Voltaire"]["generic"] is True
    bundle = G["ISR9024_Voltaire"]["SW-6IB4_Voltaire"]
    assert (bundle["num_links"], bundle["width"], bundle["slow_links"]) == (2, 1, 1)
    # 1 x 2.5 Gb/s + 4 x 2.5 Gb/s over two cables = 6.25 Gb/s per cable on average
    assert bundle["bandwidth_bytes_per_s"] == pytest.approx(6.25e9 / 8)


@pytest.mark.parametrize(("name", "switches", "hosts", "cables"), [
    ("ibnetdiscover_ibm_pcm_2009.txt", 1, 2, 2),
    ("ibnetdiscover_oracle_sun_dcs36.txt", 1, 1, 1),
    # 9 + 5 switch port lines; 3 loopbacks and the SwitchIB-SX6012 cable listed twice
    ("ibnetdiscover_nvidia_ufm_lab_2016.txt", 2, 5, 10),
])
def test_public_topology_files_import(name: str, switches: int, hosts: int, cables: int) -> None:
    result = import_fabric(DATA / name)
    assert (result.num_switches, result.num_hosts, result.num_cables) == (switches, hosts, cables)
    validate_graph(result.graph)


def test_ufm_lab_dump_skips_the_timeout_line_and_loopbacks() -> None:
    result = import_fabric(DATA / "ibnetdiscover_nvidia_ufm_lab_2016.txt")
    notes = " ".join(result.notes)
    assert "1 tool diagnostic line" in notes and "3 loopback cable" in notes
    G = result.graph
    assert G.nodes["switch-de779e"]["description"] == "MF0;switch-de779e:SX6012/U1"
    assert G.nodes["switch-de779e"]["radix"] == 12  # "Switch 12"
    # r-ufm101 has two HCAs (HCA-1, HCA-2): one server with two GPUs
    assert sorted(n for n in G if n.startswith("r-ufm101/")) == [
        "r-ufm101/gpu0", "r-ufm101/gpu1"]
    assert G["switch-de779e"]["SwitchIB_Mellanox_Technologies"]["speed"] == "FDR"


def test_ports_report_skips_unconnected_ports_and_names_switches() -> None:
    d = parse_discovery((DATA / "ibnetdiscover_ports_infiniband_exporter.txt").read_text())
    # 7 link lines, 3 of them the reverse of another; the '???' port has no cable
    assert (d.num_switches, d.num_hosts, len(d.cables)) == (3, 3, 4)
    result = discovery_fabric(d)
    tiers = {n: t for n, t in result.graph.nodes(data="tier") if t is not None}
    assert tiers == {"ib-i1l1s01": 1, "ib-i4l1s01": 1, "ib-i1l2s01": 2}
    assert sorted(h for _, h in result.graph.nodes(data="hostname") if h) == [
        "o0001", "o0002", "p0001"]


def test_iblinkinfo_back_to_back_adapters() -> None:
    d = parse_discovery((DATA / "iblinkinfo_archwiki.txt").read_text())
    assert (d.num_switches, d.num_hosts, len(d.cables)) == (0, 2, 1)
    assert (d.cables[0].width, d.cables[0].speed, d.cables[0].rate_gbps) == (4, "DDR", 20.0)


def test_iblinkinfo_one_line_form() -> None:
    # the `iblinkinfo -l` layout (iblinkinfo(8) --line): node GUID and description on each line
    text = (
        '0x0002c90200404ad8 "SwitchX -  Mellanox Technologies"   4    3[  ] ==( 4X 25.78 Gbps '
        'Active/  LinkUp)==>  0x0002c903000e0b72     15    1[  ] "exe0002 HCA-1" ( )\n'
        '0x0002c90200404ad8 "SwitchX -  Mellanox Technologies"   4   17[  ] ==( 4X 25.78 Gbps '
        'Active/  LinkUp)==>  0x0011220300334455      5    1[  ] "exe0001 HCA-1" ( )\n'
        '0x0002c90200404ad8 "SwitchX -  Mellanox Technologies"   4   18[  ] ==(        Down/ '
        'Polling)==>             [  ] "" ( )\n'
        '0x0002c903000e0b72 "       exe0002 HCA-1"     15    1[  ] ==( 4X 25.78 Gbps Active/  '
        'LinkUp)==>  0x0002c90200404ad8      4    3[  ] "SwitchX -  Mellanox Technologies" ( )\n')
    d = parse_discovery(text, "iblinkinfo")
    assert (d.num_switches, d.num_hosts, len(d.cables)) == (1, 2, 2)
    assert {c.speed for c in d.cables} == {"EDR"}
    hosts = discovery_fabric(d).graph.nodes(data="hostname")
    assert sorted(h for _, h in hosts if h) == ["exe0001", "exe0002"]


def test_lldpd_json_reads_the_mau_rate() -> None:
    result = import_fabric(DATA / "lldpctl_lldpd_test.json")
    cable = [d for _, _, d in result.graph.edges(data=True)][0]
    assert cable["bandwidth_bytes_per_s"] == 10e9 / 8  # 10GigBaseCX4
    assert result.num_hosts == 2  # the Bridge capability is advertised but not enabled


def test_eos_table_skips_the_management_port() -> None:
    d = parse_discovery((DATA / "lldp_eos_ntc_templates.txt").read_text(), local_name="sw1")
    assert sorted((c.a_port, c.b) for c in d.cables) == [
        ("Ethernet1", "localhost"), ("Ethernet2", "localhost"),
        ("Ethernet3/1", "tg104.sjc.aristanetworks.com")]
    # EOS prints no capabilities: peers on switch-style ports (Ethernet1) are switches
    assert {k: v.kind for k, v in d.devices.items()} == {
        "sw1": "switch", "localhost": "switch", "tg104.sjc.aristanetworks.com": "switch"}


def test_nxos_table_with_spaced_capabilities() -> None:
    d = parse_discovery((DATA / "lldp_nxos_ntc_templates.txt").read_text(), local_name="n9k0")
    # mgmt0 skipped; the sample lists two neighbours on Eth1/2 (ports 1/2 and 1/3)
    assert sorted(c.a_port for c in d.cables) == ["Ethernet1/1", "Ethernet1/2", "Ethernet1/2"]
    assert sorted(c.b_port for c in d.cables) == ["Ethernet1/1", "Ethernet1/2", "Ethernet1/3"]
    assert d.devices["n9k1.cisconxapi.com"].kind == "switch"  # BR


@pytest.mark.parametrize("name", [
    "lldp_sonic_utilities.txt", "lldp_nxos_ntc_templates.txt", "lldp_eos_ntc_templates.txt"])
def test_switch_only_dumps_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(DiscoveryError, match="no host in the dump") as err:
        import_fabric(DATA / name, default_rate_gbps=400)
    assert "\n" not in str(err.value)


def test_lldp_table_without_rate_needs_one(tmp_path: Path) -> None:
    dump = tmp_path / "leaf1.txt"
    dump.write_text("Port       Neighbor Device ID   Neighbor Port ID   TTL\n"
                    "Et1        gpu-host-1           ens1f0np0          120\n"
                    "Et2        gpu-host-2           ens1f0np0          120\n")
    with pytest.raises(DiscoveryError, match="--rate-gbps"):
        import_fabric(dump)
    result = import_fabric(dump, default_rate_gbps=400)
    assert {d["link"] for _, _, d in result.graph.edges(data=True)} == {"roce400"}
    assert result.graph.nodes["leaf1"]["tier"] == 1  # the table's owner, named by the file


def test_prompted_tables_name_their_switch() -> None:
    text = ("leaf1# show lldp neighbors\n"
            "Port       Neighbor Device ID   Neighbor Port ID   TTL\n"
            "Et1        spine1               Ethernet1          120\n"
            "Et2        gpu-host-7           ens1f0np0          120\n"
            "spine1#show lldp neighbors\n"
            "Port       Neighbor Device ID   Neighbor Port ID   TTL\n"
            "Et1        leaf1                Ethernet1          120\n")
    d = parse_discovery(text)
    assert len(d.cables) == 2  # leaf1-spine1 seen from both ends
    result = discovery_fabric(d, default_rate_gbps=800)
    assert result.graph.nodes["leaf1"]["tier"] == 1
    assert result.graph.nodes["spine1"]["tier"] == 2
    assert result.graph["gpu-host-7/gpu0"]["leaf1"]["link"] == "roce800"


@pytest.mark.parametrize(("text", "line"), [
    ('Switch 8 "S-0000000000000001"  # "a" base port 0 lid 1 lmc 0\n[1] what is this\n', 2),
    ('vendid=0x2c9\nCa 1 "H-0000000000000002"  # "n1 mlx5_0"\n\nrandom words here\n', 4),
])
def test_unknown_lines_are_named_with_their_number(text: str, line: int) -> None:
    with pytest.raises(DiscoveryError, match=f":{line}: not an ibnetdiscover line"):
        parse_discovery(text, "ibnetdiscover", source="dump.txt")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400), fmt=st.sampled_from(
    ["auto", "ibnetdiscover", "iblinkinfo", "lldp-json", "lldp-table"]))
def test_garbage_gives_a_one_line_error_or_a_fabric(text: str, fmt: str) -> None:
    try:
        d = parse_discovery(text, fmt, source="g.txt")
    except DiscoveryError as err:
        assert "\n" not in str(err)
        return
    try:
        validate_graph(discovery_fabric(d, default_rate_gbps=100).graph)
    except DiscoveryError as err:
        assert "\n" not in str(err)


# ------------------------------------------------------------------------ generated dumps


@pytest.mark.parametrize("G", [
    pytest.param(topologies.fat_tree(8), id="fat-tree-k8"),
    pytest.param(topologies.clos(1024, tiers=2), id="leaf-spine-1024"),
    pytest.param(topologies.clos(512, tiers=3, switch="qm9700", oversubscription=3),
                 id="clos-3tier-3to1"),
])
def test_generated_dump_reproduces_switch_and_cable_counts(G: nx.DiGraph) -> None:
    result = import_fabric_text(ibnetdiscover_text(G))
    H = result.graph
    assert _switch_tiers(H) == _switch_tiers(G)
    assert _network_cables(H) == _network_cables(G)
    assert sum(1 for _, k in H.nodes(data="kind") if k == "gpu") == len(
        [n for n, k in G.nodes(data="kind") if k == "gpu"])
    assert {d["model"] for _, d in H.nodes(data=True) if d["kind"] == "switch"} == {"qm9700"}


def import_fabric_text(text: str, **kwargs: object) -> topologies.discovery.ImportResult:
    return discovery_fabric(parse_discovery(text), **kwargs)  # type: ignore[arg-type]


def test_k8_fat_tree_counts_are_the_closed_form() -> None:
    # Al-Fares et al. (SIGCOMM 2008): k^2/2 edge, k^2/2 aggregation, (k/2)^2 core switches,
    # k^3/4 hosts; 3 k^3/4 cables
    H = import_fabric_text(ibnetdiscover_text(topologies.fat_tree(8))).graph
    assert _switch_tiers(H) == Counter({1: 32, 2: 32, 3: 16})
    assert _network_cables(H) == 3 * 8**3 // 4


def test_server_description_restores_nvlink_domains() -> None:
    smi = "\tGPU0\tGPU1\tGPU2\tGPU3\tGPU4\tGPU5\tGPU6\tGPU7\tNIC0\n" + "".join(
        f"GPU{i}\t" + "\t".join(" X " if j == i else "NV18" for j in range(8)) + "\tPIX\n"
        for i in range(8))
    server = parse_server(smi, "auto")
    assert (server.num_gpus, server.nvlink_links_per_gpu) == (8, 18)
    G = topologies.clos(256, tiers=2)
    H = import_fabric_text(ibnetdiscover_text(G), server=server).graph
    assert Counter(d["tier"] for _, d in H.nodes(data=True) if d["kind"] == "switch") == Counter(
        d["tier"] for _, d in G.nodes(data=True) if d["kind"] == "switch")
    assert H["node0/gpu0"]["node0/nvswitch"]["num_links"] == 18


def test_nccl_xml_server_counts_gpus_nvlinks_and_nics() -> None:
    # layout of an NCCL_TOPO_DUMP_FILE (NVIDIA/nccl src/graph/xml.cc): nvlink counts to the
    # four NVSwitches of an HGX H100 sum to 18 per GPU
    gpus = "".join(
        f'<pci busid="0000:{i:02x}:00.0"><gpu dev="{i}" sm="90" rank="{i}" gdr="1">'
        '<nvlink target="0000:f5:00.0" count="5" tclass="0x068000"/>'
        '<nvlink target="0000:f4:00.0" count="5" tclass="0x068000"/>'
        '<nvlink target="0000:f3:00.0" count="4" tclass="0x068000"/>'
        '<nvlink target="0000:f6:00.0" count="4" tclass="0x068000"/></gpu></pci>'
        f'<pci busid="0000:{i:02x}:01.0"><nic><net name="mlx5_{i}" speed="400000"/></nic></pci>'
        for i in range(8))
    xml = f'<system version="1"><cpu numaid="0">{gpus}</cpu></system>'
    assert detect_format(xml) == "nccl-xml"
    server = parse_server(xml, "auto")
    assert (server.num_gpus, server.nvlink_links_per_gpu, server.num_nics, server.gpu) == (
        8, 18, 8, "h100")


# ------------------------------------------------------------------------------------ CLI


def test_cli_import_writes_a_spec_that_shows_and_checks(tmp_path: Path) -> None:
    dump = tmp_path / "fabric.txt"
    G = topologies.clos(256, tiers=2)
    text = ibnetdiscover_text(G)
    # one leaf-spine cable trained at 2x instead of 4x
    first = text.index("4xNDR", text.index('"MF0;spine'))
    dump.write_text(text[:first] + "2xNDR" + text[first + 5:])
    out = tmp_path / "cluster.yaml"
    runner = CliRunner()
    result = runner.invoke(cli, ["topology", "import", str(dump), "-o", str(out)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Not in the dump" in result.stderr
    assert load_spec(out).graph["topology"] == "imported"
    shown = runner.invoke(cli, ["topology", "show", str(out), "--json"], catch_exceptions=False)
    shown_doc = json.loads(shown.stdout)["results"]
    assert shown_doc.get("results", shown_doc)["num_gpus"] == 256  # with or without envelope
    check = runner.invoke(cli, ["topology", "show", str(out), "--check", "--json"],
                          catch_exceptions=False)
    report = json.loads(check.stdout)["results"]
    report = report.get("results", report)
    assert len(report["slow_links"]) == 1
    assert report["slow_links"][0]["trained"] == "2xNDR"
    assert report["missing_cables"] == []
    # as CSV, stdout holds the tables alone; the lines around them go to stderr
    csv_run = runner.invoke(cli, ["topology", "show", str(out), "--check", "--format", "csv"],
                            catch_exceptions=False)
    assert csv_run.exit_code == 0, csv_run.output
    rows = [line for line in csv_run.stdout.splitlines() if line]
    assert "Switch,Peer,Cables,Trained,Expected,Below in" in rows
    assert any("2xNDR" in r for r in rows)
    assert all("," in r for r in rows)
    assert "Problems found: 1" in csv_run.stderr and "Problems found" not in csv_run.stdout


def test_cli_import_refuses_garbage_in_one_line(tmp_path: Path) -> None:
    dump = tmp_path / "x.txt"
    dump.write_text("hello\nworld\n")
    result = CliRunner().invoke(cli, ["topology", "import", str(dump), "-o",
                                      str(tmp_path / "o.yaml")])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "x.txt:1: format not recognized" in result.stderr
    assert not (tmp_path / "o.yaml").exists()


def test_cli_import_with_server_flows_into_predict(tmp_path: Path) -> None:
    dump = tmp_path / "fabric.txt"
    dump.write_text(ibnetdiscover_text(topologies.clos(128, tiers=2)))
    server = tmp_path / "topo.txt"
    server.write_text("\tGPU0\tGPU1\tGPU2\tGPU3\tGPU4\tGPU5\tGPU6\tGPU7\n" + "".join(
        f"GPU{i}\t" + "\t".join(" X " if j == i else "NV18" for j in range(8)) + "\n"
        for i in range(8)))
    out = tmp_path / "cluster.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["topology", "import", str(dump), "--server", str(server),
                                 "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    G = load_spec(out)
    assert sum(1 for _, d in G.nodes(data=True) if d["kind"] == "switch" and d["tier"] == 0) == 16
    predicted = runner.invoke(cli, ["predict", "--topology", str(out), "--sizes", "1MiB",
                                    "--json"], catch_exceptions=False)
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)


def test_lldp_json_of_several_hosts_builds_their_leaf() -> None:
    # lldpd's layout (lldpd/lldpd tests/integration/test_lldpcli.py), one document per host
    def doc(port: str, mau: str) -> dict[str, object]:
        return {"lldp": {"interface": [{"ens1f0np0": {
            "chassis": {"leaf7": {"id": {"type": "mac", "value": "aa:bb:cc:00:00:07"},
                                  "capability": [{"type": "Bridge", "enabled": True}]}},
            "port": {"id": {"type": "ifname", "value": port}, "descr": port,
                     "auto-negotiation": {"current": mau}}}}]}}

    text = json.dumps({"gpu01": doc("swp1", "400GbaseCR8"), "gpu02": doc("swp2", "200GbaseCR4")})
    d = parse_discovery(text)
    assert d.devices["leaf7"].kind == "switch"
    assert sorted(c.rate_gbps or 0 for c in d.cables) == [200.0, 400.0]
    G = discovery_fabric(d).graph
    assert G["gpu01/gpu0"]["leaf7"]["link"] == "roce400"
    assert G["gpu02/gpu0"]["leaf7"]["link"] == "roce200"
    assert G.nodes["leaf7"]["tier"] == 1


def test_hosts_pattern_keeps_compute_nodes_only(tmp_path: Path) -> None:
    dump = tmp_path / "lab.txt"
    dump.write_text((DATA / "ibnetdiscover_nvidia_ufm_lab_2016.txt").read_text())
    out = tmp_path / "lab.yaml"
    result = CliRunner().invoke(cli, ["topology", "import", str(dump), "--hosts", "ufm10",
                                      "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    hosts = {h for _, h in load_spec(out).nodes(data="hostname") if h}
    assert hosts == {"r-ufm100", "r-ufm101"}
    assert "not matching 'ufm10' left out" in result.stderr
    bad = CliRunner().invoke(cli, ["topology", "import", str(dump), "--hosts", "(", "-o",
                                   str(out)])
    assert bad.exit_code == 1 and "not a regular expression" in bad.stderr
    none = CliRunner().invoke(cli, ["topology", "import", str(dump), "--hosts", "nomatch",
                                    "-o", str(tmp_path / "none.yaml")])
    assert none.exit_code == 1 and none.stderr.count("\n") == 1
    assert "--hosts 'nomatch' matches none of the dump's 5 host(s)" in none.stderr
    assert not (tmp_path / "none.yaml").exists()


def _hgx_xml(sm: int, links: int = 18) -> str:
    gpus = "".join(
        f'<pci busid="0000:{i:02x}:00.0"><gpu dev="{i}" sm="{sm}" rank="{i}" gdr="1">'
        f'<nvlink target="0000:f5:00.0" count="{links}" tclass="0x068000"/></gpu></pci>'
        f'<pci busid="0000:{i:02x}:01.0"><nic><net name="mlx5_{i}" speed="400000"/></nic></pci>'
        for i in range(8))
    return f'<system version="1"><cpu numaid="0">{gpus}</cpu></system>'


def test_servers_are_numbered_as_built_not_in_text_order() -> None:
    # node2 before node10: text order put node10 second, so packed ranks were scattered over
    # the leaves and an oversubscribed Clos predicted twice the all-reduce time it was built for
    from collectives.predict import predict

    G = topologies.build("clos", num_gpus=512, oversubscription=3)
    H = import_fabric_text(ibnetdiscover_text(G), server=parse_server(_hgx_xml(90), "auto")
                           ).graph
    assert {n: d["node"] for n, d in H.nodes(data=True) if d["kind"] == "gpu"} == {
        n: d["node"] for n, d in G.nodes(data=True) if d["kind"] == "gpu"}
    built, imported = (predict(F, "all-reduce", 1 << 30).time_s for F in (G, H))
    assert imported == pytest.approx(built, rel=1e-9)


def test_the_nvswitch_follows_the_servers_gpu() -> None:
    # an NCCL dump of B200 servers (sm 100): NVLink 5 through a B200 NVSwitch, not an H100's
    G = topologies.build("clos", num_gpus=16, gpu="b200")
    H = import_fabric_text(ibnetdiscover_text(G), server=parse_server(_hgx_xml(100), "auto")
                           ).graph
    assert H.nodes["node0/nvswitch"]["model"] == G.nodes["node0/nvswitch"]["model"]
    assert H["node0/gpu0"]["node0/nvswitch"]["link"] == G["node0/gpu0"]["node0/nvswitch"]["link"]


def test_a_gpu_named_for_the_dump_is_kept_if_its_generation_matches() -> None:
    xml = _hgx_xml(90)
    assert parse_server(xml, "auto").gpu == "h100"
    assert parse_server(xml, "auto", gpu="h200").gpu == "h200"  # sm 90 cannot tell them apart
    with pytest.raises(DiscoveryError, match=r"--gpu a100 is not a GPU of the dump's sm 90 "
                                             r"\(compute capability 9: h100, h100-pcie, h200\)"):
        parse_server(xml, "auto", gpu="a100")


def test_pcie_inside_a_server_is_no_cable_in_compare(tmp_path: Path) -> None:
    # 8-GPU servers behind 4 NICs: the imported fabric has GPU-NIC PCIe edges, which compare
    # counted as cables (report and the bill of materials do not)
    from topologies.spec import save_spec

    G = topologies.build("clos", num_gpus=64, gpus_per_node=4)
    H = import_fabric_text(ibnetdiscover_text(G), server=parse_server(_hgx_xml(90), "auto")
                           ).graph
    assert any(d["kind"] == "nic" for _, d in H.nodes(data=True))
    built, imported = tmp_path / "built.yaml", tmp_path / "imported.yaml"
    save_spec(G, built)
    save_spec(H, imported)
    result = CliRunner().invoke(cli, ["compare", "--gpus", "64", "--families",
                                      f"{built},{imported}", "--json"])
    assert result.exit_code == 0, result.output
    cables = [f["num_cables"] for f in json.loads(result.stdout)["results"]["fabrics"]]
    assert cables[0] == cables[1]  # the same cabling: host ports and leaf-spine links


@pytest.mark.parametrize(("gpu", "sm", "switch"), [("b300", 103, "sn5600-400"),
                                                    ("h100", 90, "qm9700")])
def test_a_twin_planar_dump_gives_every_gpu_a_port_on_each_plane(gpu: str, sm: int,
                                                                 switch: str) -> None:
    # 16 cabled ports per 8-GPU server: half used to reach no GPU and each GPU sat on one plane
    from collectives.predict import predict
    from fabric.graph import summarize

    G = topologies.build("clos", num_gpus=64, planes=2, switch=switch, gpu=gpu)
    H = import_fabric_text(ibnetdiscover_text(G), server=parse_server(_hgx_xml(sm), "auto")
                           ).graph
    for g, d in H.nodes(data=True):
        if d["kind"] == "gpu":  # switches keep their description's name: plane0_leaf0 ...
            leaves = [v for v in H[g] if H.nodes[v]["kind"] == "switch" and H.nodes[v]["tier"]]
            assert sorted(v.split("_")[0] for v in leaves) == ["plane0", "plane1"]
    built, imported = summarize(G), summarize(H)
    assert imported.injection_bandwidth_bytes_per_s == built.injection_bandwidth_bytes_per_s
    assert imported.bisection_bandwidth_bytes_per_s == built.bisection_bandwidth_bytes_per_s
    assert predict(H, "all-reduce", 1 << 30).time_s == pytest.approx(
        predict(G, "all-reduce", 1 << 30).time_s, rel=1e-3)


@pytest.mark.parametrize("gpu", ["l40s", "t4"])
def test_an_nccl_dump_of_an_ada_or_turing_server_keeps_its_gpu(gpu: str) -> None:
    # sm 89 and 75 were not mapped: the servers came back as H100s (and lost the PCIe cap)
    from topologies.export_nccl import nccl_topology_xml

    G = topologies.build("clos", num_gpus=16, gpu=gpu, gpus_per_node=4)
    assert parse_server(nccl_topology_xml(G), "nccl-xml").gpu == gpu


def test_gpus_sharing_a_nic_each_inject_their_share() -> None:
    # 8 GPUs behind 4 NICs of 400G: 25 GB/s each, not the whole NIC's 50
    from fabric.graph import summarize

    G = topologies.build("clos", num_gpus=64, gpus_per_node=4)
    H = import_fabric_text(ibnetdiscover_text(G), server=parse_server(_hgx_xml(90), "auto")
                           ).graph
    assert summarize(H).injection_bandwidth_bytes_per_s == pytest.approx(25e9)
