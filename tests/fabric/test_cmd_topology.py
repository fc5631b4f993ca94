"""``fabric topology build|show|export`` through the real root command."""

from __future__ import annotations

import json
from pathlib import Path

import click
import networkx as nx
import pytest
import yaml
from click.testing import CliRunner

import topologies
from fabric.cli import cli
from studies.design import DesignError, FabricDesign, build_fabric
from topologies.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def one_line_error(result, code: int) -> str:
    """The failure printed exactly one line (on stderr) and nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def gpu_count(G: nx.DiGraph) -> int:
    return sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")


# k-ary fat-tree counts (Al-Fares et al., SIGCOMM 2008): k^3/4 GPUs,
# k^2/2 leaves, k^2/2 spines, (k/2)^2 cores, 5k^2/4 switches, k^3/4 cables per layer.
@pytest.mark.parametrize(
    ("k", "gpus", "leaf", "spine", "core"),
    [
        (4, 16, 8, 8, 4),
        pytest.param(48, 27_648, 1_152, 1_152, 576, marks=pytest.mark.slow),
    ],
)
def test_show_fat_tree_json_counts(run, k, gpus, leaf, spine, core):
    result = run("topology", "show", "fat-tree", "--k", k, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["results"]
    assert data["num_gpus"] == gpus
    assert data["num_nodes"] == gpus  # one GPU per server by default
    assert data["num_switches"] == leaf + spine + core == 5 * k * k // 4
    assert data["switches_by_tier"] == {"leaf": leaf, "spine": spine, "core": core}
    assert data["cables_by_tier"] == {"gpu-leaf": gpus, "leaf-spine": gpus, "spine-core": gpus}
    assert data["cables_by_link"] == {"ndr400": 3 * gpus}
    # full bisection: half the GPUs x 400 Gb/s (50e9 bytes/s, catalog ndr400) one way
    assert data["bisection_bandwidth_bytes_per_s"] == pytest.approx(gpus / 2 * 50e9)
    assert data["injection_bandwidth_bytes_per_s"] == pytest.approx(50e9)
    assert data["hop_diameter"] == 5  # leaf, spine, core, spine, leaf
    # every leaf, spine and core uses k ports: k/2 down and k/2 up (cores: k down)
    assert data["ports_used_by_tier"] == {"leaf": k * leaf, "spine": k * spine, "core": k * core}
    assert list(data) == sorted(data)


def test_show_table_is_human(run):
    result = run("topology", "show", "fat-tree", "--k", "4")
    assert result.exit_code == 0
    out = result.stdout
    assert "GB/s" in out and "Tb/s" in out
    assert "NVIDIA Quantum-2 QM9700" in out  # model names from the catalog
    assert "InfiniBand NDR 400G" in out
    assert "3.20 Tb/s" in out  # 8 GPUs x 400 Gb/s cross the bisection one way
    assert "{" not in out


@pytest.mark.parametrize(
    ("args", "gpus"),
    [
        (["fat-tree", "--gpus", "100"], 128),  # smallest k that fits: k=8 -> 8^3/4 = 128
        (["rail-only", "--gpus", "20"], 24),  # ceil(20 / 8) = 3 servers of 8
        (["rail-optimized", "--gpus", "100", "--gpus-per-node", "4", "--su-size", "4"], 100),
        (["clos", "--gpus", "64", "--tiers", "2"], 64),
        (["single-hop", "--gpus", "32", "--planes", "2"], 32),
        (["rail-only", "--nodes", "2", "--gpus-per-node", "4"], 8),
    ],
)
def test_show_family_flags(run, args, gpus):
    result = run("topology", "show", *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"]["num_gpus"] == gpus


@pytest.mark.parametrize("flag", [["--scaleup", "none"], ["--no-scaleup"], ["--scaleup", "None"]])
def test_no_scaleup(run, flag):
    base = ["topology", "show", "rail-optimized", "--nodes", 2, "--su-size", 2]
    with_up = json.loads(run(*base, "--json").stdout)["results"]
    # 18 NVLink 4 links x 25 GB/s per H100 (catalog nvlink4, NVIDIA H100 page)
    assert with_up["scaleup_bandwidth_bytes_per_s"] == pytest.approx(450e9)
    result = run(*base, *flag, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["results"]
    assert data["scaleup_bandwidth_bytes_per_s"] == 0
    assert "scale-up" not in data["switches_by_tier"]


def test_show_spec_files(run):
    result = run("topology", "show", EXAMPLES / "small_cluster.yaml", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["results"]
    assert data["num_gpus"] == 8 and data["num_nodes"] == 2
    assert data["switches_by_tier"] == {"scale-up": 2, "leaf": 2, "spine": 1}
    assert data["cables_by_tier"] == {"gpu-leaf": 8, "gpu-scale-up": 8 * 18, "leaf-spine": 8}
    result = run("topology", "show", EXAMPLES / "rail_optimized_2su.yaml", "--json")
    assert json.loads(result.stdout)["results"]["num_gpus"] == 512  # 64 servers x 8 GPUs


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
def test_build_writes_a_spec_that_loads_back(run, tmp_path, fmt):
    out = tmp_path / f"rail.{fmt}"
    result = run("topology", "build", "rail-optimized", "--nodes", 8, "--su-size", 4, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    G = load_spec(out)
    H = topologies.build("rail-optimized", num_nodes=8, su_size=4)
    assert list(G.nodes(data=True)) == list(H.nodes(data=True))
    assert nx.utils.edges_equal(G.edges(data=True), H.edges(data=True))
    assert G.graph == H.graph


def test_build_format_flag_overrides_suffix(run, tmp_path):
    out = tmp_path / "ft.txt"
    result = run("topology", "build", "fat-tree", "--k", 4, "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())["nodes"]) == 16 + 20  # GPUs + switches (k=4)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_to_stdout(run, fmt):
    result = run("topology", "export", "fat-tree", "--k", 4, "--format", fmt)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    assert len(data["links"]) == 3 * 16  # 3 layers x k^3/4 cables (Al-Fares 2008)
    assert data["topology"] == "fat-tree"


def test_export_spec_file_to_graphml(run, tmp_path):
    out = tmp_path / "small.graphml"
    result = run("topology", "export", EXAMPLES / "custom_links.json", "-o", out)
    assert result.exit_code == 0, result.output
    G, H = load_spec(out), load_spec(EXAMPLES / "custom_links.json")
    assert list(G.nodes(data=True)) == list(H.nodes(data=True))
    assert G.graph == H.graph and G.graph["name"] == "roce-lab"


def test_catalog_flag(run, tmp_path):
    catalog = tmp_path / "prices.toml"
    catalog.write_text('[switches.qm9700]\nradix = 32\nsource = "test"\n')
    result = run("topology", "show", "fat-tree", "--k", 48, "--catalog", catalog)
    assert "radix 32" in one_line_error(result, 1)
    result = run(
        "topology", "show", EXAMPLES / "small_cluster.yaml", "--catalog", catalog, "--json"
    )
    assert result.exit_code == 0, result.output


def all_commands(group: click.Group, path: tuple[str, ...] = ()):
    for name in group.list_commands(None):  # type: ignore[arg-type]
        command = group.get_command(None, name)  # type: ignore[arg-type]
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))


@pytest.mark.parametrize("path", [(), *all_commands(cli)], ids=lambda p: " ".join(p) or "fabric")
def test_every_command_answers_h(run, path):
    result = run(*path, "-h")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_topology_commands_are_registered():
    assert {
        ("topology",),
        ("topology", "build"),
        ("topology", "show"),
        ("topology", "export"),
    } <= set(all_commands(cli))


BAD_SPECS = {
    "malformed.yaml": ("nodes:\n  - {id: a, kind: gpu\n", "not valid YAML"),
    "malformed.json": ('{"nodes": [}', "not valid JSON"),
    "malformed.graphml": ("<graphml><graph>", "not valid GraphML"),
    "dangling.yaml": (
        "nodes:\n  - {id: g, kind: gpu, node: 0, local: 0}\n"
        "links:\n  - {a: g, b: leaf7, link: ndr400}\n",
        "dangling link",
    ),
}


@pytest.mark.parametrize("command", ["show", "export"])
@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_spec_files_fail_in_one_line(run, tmp_path, command, name):
    text, words = BAD_SPECS[name]
    spec = tmp_path / name
    spec.write_text(text)
    out = tmp_path / "out.json"
    extra = ["-o", out] if command == "export" else []
    line = one_line_error(run("topology", command, spec, *extra), 1)
    assert words in line and name in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["fat-tree", "--k", "5"], 1, "k must be an even integer"),
        (["fat-tree", "--k", "0"], 2, "--k': 0 is not in the range x>=2"),
        (["rail-only", "--nodes", "0"], 2, "--nodes': 0 is not in the range x>=1"),
        (["clos", "--gpus", "-8"], 2, "--gpus': count must look like 131072, 128k or 1M"),
        (["clos", "--gpus", "0"], 2, "--gpus': count must be a whole number >= 1"),
        (["fat-tree", "--k", "66"], 1, "radix 64"),  # qm9700: 64 ports (catalog)
        (["torus", "--k", "4"], 1, "unknown topology family 'torus'"),
        (["fat-tree", "--k", "4", "--switch", "qm9999"], 1, "unknown switch model 'qm9999'"),
        (["fat-tree", "--k", "4", "--scaleup", "qm9700"], 1, "scale-up"),
        (["missing.yaml"], 1, "spec file 'missing.yaml' not found"),
        (["rail-only", "--k", "4"], 2, "rail-only does not take --k; it takes --gpus, --nodes"),
        (["clos", "--gpus", "64", "--su-size", "2"], 2, "clos does not take --su-size"),
        (["fat-tree"], 2, "fat-tree needs --k (or --gpus)"),
        (["clos"], 2, "clos needs --gpus"),
        (["fat-tree", "--k", "4", "--gpus", "16"], 2, "give --k or --gpus, not both"),
        (["rail-only", "--nodes", "2", "--gpus", "16"], 2, "give --nodes or --gpus, not both"),
        (["rail-only", "--nodes", "2", "--scaleup", "x", "--no-scaleup"], 2, "not both"),
    ],
)
def test_bad_flags_fail_in_one_line(run, tmp_path, args, code, words):
    assert words in one_line_error(run("topology", "show", *args), code)
    out = tmp_path / "out.yaml"
    if args[0] != "missing.yaml":
        build = run("topology", "build", *args, "-o", out)
        assert words in one_line_error(build, code) or "unknown family" in build.stderr
    assert not out.exists()


def test_flags_with_a_spec_file_are_usage_errors(run):
    line = one_line_error(run("topology", "show", EXAMPLES / "small_cluster.yaml", "--k", "4"), 2)
    assert "--k describe a family" in line


@pytest.mark.parametrize(
    "command", [["build", "fat-tree", "--k", "4"], ["export", "fat-tree", "--k", "4"]]
)
def test_missing_output_folder(run, tmp_path, command):
    out = tmp_path / "no" / "such" / "ft.yaml"
    line = one_line_error(run("topology", *command, "-o", out), 1)
    assert "does not exist" in line
    assert not (tmp_path / "no").exists()


def test_build_unknown_suffix_and_spec_file(run, tmp_path):
    assert "must end in" in one_line_error(
        run("topology", "build", "fat-tree", "--k", 4, "-o", tmp_path / "ft.txt"), 1
    )
    assert "unknown family" in one_line_error(
        run("topology", "build", EXAMPLES / "small_cluster.yaml", "-o", tmp_path / "x.yaml"), 1
    )
    assert list(tmp_path.iterdir()) == []


def test_export_to_stdout_needs_format(run):
    assert "--format" in one_line_error(run("topology", "export", "fat-tree", "--k", 4), 2)


def test_designs_build_as_a_library():
    G = build_fabric(FabricDesign(family="fat-tree", k=4, switch="q3400"))
    assert gpu_count(G) == 16 and G.graph["params"]["switch"] == "q3400"
    with pytest.raises(DesignError, match="single-hop does not take --su-size"):
        build_fabric(FabricDesign(family="single-hop", num_gpus=8, su_size=4))
    with pytest.raises(ValueError, match="'ring'"):
        build_fabric(FabricDesign(family="ring", num_gpus=8))


def test_export_to_an_xml_file_writes_the_nccl_topology(tmp_path):
    out = tmp_path / "topo.xml"
    result = CliRunner().invoke(cli, ["topology", "export", "clos", "--gpus", "64", "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<system")
