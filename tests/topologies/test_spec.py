"""Spec files: round trips, human units, located errors, garbage input."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topologies
from fabric.catalog import default_catalog
from fabric.graph import cable_edges, gpu_attrs, switch_attrs
from topologies.spec import SpecError, dump_spec, load_spec, load_topology, save_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CAT = default_catalog()


def assert_same_graph(G: nx.DiGraph, H: nx.DiGraph) -> None:
    """Same nodes in the same order with the same attributes, same edges, same G.graph."""
    assert list(H.nodes(data=True)) == list(G.nodes(data=True))
    assert {(u, v): d for u, v, d in H.edges(data=True)} == {
        (u, v): d for u, v, d in G.edges(data=True)
    }
    assert dict(H.graph) == dict(G.graph)


def hand_built() -> nx.DiGraph:
    """Two GPUs on one leaf, with an asymmetric custom edge and extra attributes."""
    G = nx.DiGraph(
        topology="custom", params={"note": [1, 2]}, catalog="test", name="hand", site="lab 3"
    )
    leaf = CAT.switches["qm9700"]
    G.add_node("leaf0", **switch_attrs(leaf, 1, su=0))
    G.add_node("g0", **gpu_attrs("h100", 0, 0, rail=0))
    G.add_node("g1", **gpu_attrs("h200", 1, 0, rail=0, hostname="dgx-01"))
    G.add_edges_from(
        cable_edges("g0", "leaf0", CAT.links["ndr400"], num_links=2, v_latency_s=leaf.latency_s)
    )
    G.add_edges_from(cable_edges("g1", "leaf0", CAT.links["xdr800"], v_latency_s=1e-7))
    G["g1"]["leaf0"]["bandwidth_bytes_per_s"] = 12.5e9  # asymmetric on purpose
    for u, v in (("g0", "leaf0"), ("leaf0", "g0")):
        G[u][v]["optics"] = "osfp-800g-2xsr4"
    return G


FAMILY_CASES = [
    ("fat-tree", {"k": 4}),
    ("clos", {"num_gpus": 64}),
    ("clos", {"num_gpus": 256, "tiers": 3, "oversubscription": 3.0}),
    ("rail-optimized", {"num_nodes": 8, "su_size": 4}),
    ("rail-only", {"num_nodes": 4}),
    ("single-hop", {"num_gpus": 32, "planes": 2}),
]


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
@pytest.mark.parametrize(("family", "params"), FAMILY_CASES)
def test_round_trip_built_graphs(tmp_path, family, params, fmt):
    G = topologies.build(family, **params)
    path = save_spec(G, tmp_path / f"fabric.{fmt}")
    assert_same_graph(G, load_spec(path))


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
@pytest.mark.parametrize("example", ["small_cluster.yaml", "custom_links.json"])
def test_round_trip_explicit_examples(tmp_path, example, fmt):
    G = load_spec(EXAMPLES / example)
    path = save_spec(G, tmp_path / f"again.{fmt}")
    assert_same_graph(G, load_spec(path))


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
def test_round_trip_hand_built_asymmetric(tmp_path, fmt):
    G = hand_built()
    H = load_spec(save_spec(G, tmp_path / f"hand.{fmt}"))
    assert_same_graph(G, H)
    assert H["g1"]["leaf0"]["bandwidth_bytes_per_s"] == 12.5e9
    assert H["leaf0"]["g1"]["bandwidth_bytes_per_s"] == CAT.links["xdr800"].bandwidth_bytes_per_s


@pytest.mark.parametrize("fmt", ["yaml", "json", "graphml"])
def test_save_is_deterministic(fmt):
    G = topologies.build("rail-only", num_nodes=2)
    assert dump_spec(G, fmt) == dump_spec(topologies.build("rail-only", num_nodes=2), fmt)


def test_saved_yaml_is_explicit_with_si_keys(tmp_path):
    G = topologies.build("fat-tree", k=4)
    data = yaml.safe_load(save_spec(G, tmp_path / "ft.yaml").read_text())
    assert data["topology"] == "fat-tree" and data["params"]["k"] == 4
    assert len(data["nodes"]) == G.number_of_nodes()
    # one entry per cable: k^3/4 cables per layer x 3 layers (Al-Fares 2008) = 48
    assert len(data["links"]) == 48
    assert {
        "a",
        "b",
        "link",
        "num_links",
        "bandwidth_bytes_per_s",
        "latency_ab_s",
        "latency_ba_s",
    } <= set(data["links"][0])


def test_small_cluster_example_units_and_catalog_defaults():
    G = load_spec(EXAMPLES / "small_cluster.yaml")
    assert G.graph["name"] == "small-lab" and G.graph["topology"] == "custom"
    assert G.graph["catalog"] == CAT.version
    assert sum(1 for _, k in G.nodes(data="kind") if k == "gpu") == 8
    assert G.nodes["leaf0"]["radix"] == 64  # qm9700: 64 x NDR 400G (catalog, NVIDIA QM97xx manual)
    assert G.nodes["node0/nvswitch"]["tier"] == 0
    up = G["leaf0"]["spine0"]
    # "400Gbps" is decimal bits: 400e9 / 8 = 50e9 bytes/s (DESIGN.md, Units)
    assert up["bandwidth_bytes_per_s"] == pytest.approx(50e9)
    # the cable's 500 ns plus the latency of the switch the edge enters (qm9700, catalog)
    assert up["latency_s"] == pytest.approx(500e-9 + CAT.switches["qm9700"].latency_s)
    assert up["num_links"] == 4 and G["spine0"]["leaf0"]["num_links"] == 4
    nv = G["node0/gpu0"]["node0/nvswitch"]
    assert nv["num_links"] == 18 and nv["link"] == "nvlink4"
    assert nv["bandwidth_bytes_per_s"] == CAT.links["nvlink4"].bandwidth_bytes_per_s
    assert G["node0/nvswitch"]["node0/gpu0"]["latency_s"] == CAT.links["nvlink4"].latency_s


def test_custom_links_example():
    G = load_spec(EXAMPLES / "custom_links.json")
    edge = G["host0/nic0"]["leaf0"]
    assert edge["link"] == "lab-roce-200"
    assert edge["bandwidth_bytes_per_s"] == pytest.approx(25e9)  # 200 Gb/s / 8
    assert edge["latency_s"] == pytest.approx(1e-6 + CAT.switches["sn5600-400"].latency_s)
    assert G["leaf0"]["host0/nic0"]["latency_s"] == pytest.approx(1e-6)
    assert G.nodes["spine0"]["radix"] == 64  # given in the file, overriding the catalog's 128


def test_family_spec_example():
    G = load_spec(EXAMPLES / "rail_optimized_2su.yaml")
    # 64 servers x 8 GPUs (the file's params)
    assert sum(1 for _, k in G.nodes(data="kind") if k == "gpu") == 512
    assert G.graph["topology"] == "rail-optimized" and G.graph["params"]["su_size"] == 32


def test_family_spec_json(tmp_path):
    path = tmp_path / "ft.json"
    path.write_text(json.dumps({"family": "fat-tree", "params": {"k": 4}}))
    assert_same_graph(topologies.build("fat-tree", k=4), load_spec(path))


def test_latency_overrides_and_attrs(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "nodes:\n"
        "  - {id: s, kind: switch, model: qm9700, tier: 1}\n"
        "  - {id: g, kind: gpu, node: 0, local: 0}\n"
        "links:\n"
        "  - {a: g, b: s, link: ndr400, latency_ab: 2us, latency_ba_s: 3.0e-6,\n"
        "     attrs: {optics: sr4}, reverse: {bandwidth_bytes_per_s: 1.0e9}}\n"
    )
    G = load_spec(path)
    assert G["g"]["s"]["latency_s"] == pytest.approx(2e-6)
    assert G["s"]["g"]["latency_s"] == pytest.approx(3e-6)
    assert G["g"]["s"]["optics"] == G["s"]["g"]["optics"] == "sr4"
    assert G["s"]["g"]["bandwidth_bytes_per_s"] == 1e9
    assert G["g"]["s"]["bandwidth_bytes_per_s"] == 50e9
    assert G.nodes["g"]["model"] == "h100"  # the default GPU model


def test_yaml_exponent_without_sign_is_a_number(tmp_path):
    # YAML 1.1 reads 5e10 as text (its floats need a dot and a signed exponent)
    path = tmp_path / "x.yaml"
    path.write_text(
        HEAD.replace("link: ndr400}", "link: x, bandwidth_bytes_per_s: 5e10}")
        + "  - {a: g1, b: leaf0, link: ndr400}\n"
    )
    assert load_spec(path)["g0"]["leaf0"]["bandwidth_bytes_per_s"] == 5e10


HEAD = (
    "nodes:\n"
    "  - {id: leaf0, kind: switch, model: qm9700, tier: 1}\n"
    "  - {id: g0, kind: gpu, node: 0, local: 0}\n"
    "  - {id: g1, kind: gpu, node: 1, local: 0}\n"
    "links:\n"
    "  - {a: g0, b: leaf0, link: ndr400}\n"
)

# (text, location, words in the message, YAML line)
BAD_YAML = [
    (HEAD + "  - {a: g1, b: leaf9, link: ndr400}\n", "links[1].b", "dangling link", 7),
    (HEAD + "  - {a: g1, link: ndr400}\n", "links[1]", "missing field 'b'", 7),
    (HEAD + "  - {a: g1, b: leaf0, link: ndr999}\n", "links[1].link", "unknown link 'ndr999'", 7),
    (HEAD + "  - {a: g1, b: leaf0, bandwidth: 0Gbps}\n", "links[1].bandwidth", "> 0", 7),
    (
        HEAD + "  - {a: g1, b: leaf0, bandwidth_bytes_per_s: -5}\n",
        "links[1].bandwidth_bytes_per_s",
        "> 0",
        7,
    ),
    (HEAD + "  - {a: g1, b: leaf0, bandwidth: 400}\n", "links[1].bandwidth", "needs a unit", 7),
    (
        HEAD + "  - {a: g1, b: leaf0, bandwidth: 400Gbps, bandwidth_bytes_per_s: 5}\n",
        "links[1].bandwidth_bytes_per_s",
        "not both",
        7,
    ),
    (HEAD + "  - {a: g1, b: leaf0, latency: fast, link: ndr400}\n", "links[1].latency", "time", 7),
    (
        HEAD + "  - {a: g1, b: leaf0, link: ndr400, reverse: {bandwidth_bytes_per_s: 0}}\n",
        "links[1].reverse.bandwidth_bytes_per_s",
        "> 0",
        7,
    ),
    (HEAD + "  - {a: g1, b: leaf0, link: ndr400, num_links: 0}\n", "links[1].num_links", ">= 1", 7),
    (
        HEAD + "  - {a: g1, b: leaf0, link: ndr400, bandwith: 1}\n",
        "links[1].bandwith",
        "unknown field",
        7,
    ),
    (HEAD + "  - {a: leaf0, b: g0, link: ndr400}\n", "links[1]", "duplicate cable", 7),
    (HEAD + "  - {a: g1, b: g1, link: ndr400}\n", "links[1]", "two different ends", 7),
    (HEAD, "nodes[2]", "dangling GPU", 4),
    (
        HEAD.replace("model: qm9700", "model: qm9999"),
        "nodes[0].model",
        "unknown switch model 'qm9999'",
        2,
    ),
    (HEAD.replace("kind: switch", "kind: router"), "nodes[0].kind", "unknown kind 'router'", 2),
    (HEAD.replace("id: g1", "id: g0"), "nodes[2].id", "duplicate node id 'g0'", 4),
    (HEAD.replace(", tier: 1", ""), "nodes[0]", "missing field 'tier'", 2),
    (HEAD.replace("tier: 1", "tier: attic"), "nodes[0].tier", "unknown tier", 2),
    (HEAD.replace("node: 1, ", ""), "nodes[2]", "missing field 'node'", 4),
    (
        HEAD.replace("local: 0}\n  - {id: g1", "local: 0, model: tpu}\n  - {id: g1"),
        "nodes[1].model",
        "unknown GPU model 'tpu'",
        3,
    ),
    (
        HEAD.replace("tier: 1}", "tier: 1, radix: 1}") + "  - {a: g1, b: leaf0, link: ndr400}\n",
        "links[1]",
        "radix exceeded",
        7,
    ),
    (HEAD.replace("tier: 1}", "tier: 1, tags: [a, b]}"), "nodes[0].tags", "string, number", 2),
    ("links: []\n", "", "needs 'family'", None),
    ("- 1\n- 2\n", "", "must be a mapping", None),
    ("nodes: []\n", "nodes", "non-empty list", 1),
    ("family: torus\n", "family", "unknown family 'torus'", 1),
    ("family: fat-tree\nparams: {k: 5}\n", "params", "k must be an even integer", 2),
    ("family: fat-tree\nparams: {k: 4, radix: 8}\n", "params", "fat-tree takes k", 2),
    ("family: clos\nparams: {radix: 2}\n", "params",
     "unknown parameter 'radix'; clos takes num_gpus, tiers, switch, oversubscription", 2),
    ("family: rail-only\nparams: {gpus_per_node: 4}\n", "params",
     "missing parameter 'num_nodes'; rail-only takes num_nodes, gpus_per_node", 2),
    ("family: clos\nparams: {num_gpus: 8, catalog: x.toml}\n", "params.catalog",
     "the catalog comes from the caller", 2),
    ("family: fat-tree\nnodes: []\n", "nodes", "unknown field", 2),
    ("spec_version: 7\nfamily: fat-tree\n", "spec_version", "must be 1", 1),
]


@pytest.mark.parametrize(("text", "location", "words", "line"), BAD_YAML)
def test_bad_yaml_spec_names_first_problem(tmp_path, text, location, words, line):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.location == location
    assert words in str(err)
    assert err.line == line
    assert len(str(err).splitlines()) == 1
    prefix = f"{path}:{line}: " if line else f"{path}: "
    assert str(err).startswith(prefix)


def test_json_errors_carry_path_not_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "nodes": [{"id": "g", "kind": "gpu", "node": 0, "local": 0}],
                "links": [{"a": "g", "b": "nowhere", "link": "ndr400"}],
            }
        )
    )
    with pytest.raises(SpecError, match=r"bad\.json: links\[0\]\.b: dangling link"):
        load_spec(path)


@pytest.mark.parametrize(
    ("name", "text", "words", "line"),
    [
        ("bad.yaml", "nodes:\n  - {id: a, kind: gpu\nlinks: [\n", "not valid YAML", 3),
        ("bad.yaml", "a: b: c\n", "not valid YAML", 1),
        ("bad.json", '{"nodes": [\n  {"id": "a",}\n]}', "not valid JSON", 2),
        ("bad.graphml", "<graphml><graph><node id='a'></graph>", "not valid GraphML", 1),
        ("bad.graphml", "<?xml version='1.0'?><root/>", "not valid GraphML", None),
    ],
)
def test_malformed_files(tmp_path, name, text, words, line):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert words in str(info.value)
    assert info.value.line == line
    assert len(str(info.value).splitlines()) == 1


def test_graphml_must_follow_the_conventions(tmp_path):
    G = nx.DiGraph()
    G.add_edge("a", "b")
    path = tmp_path / "foreign.graphml"
    nx.write_graphml(G, path)
    with pytest.raises(SpecError, match="invalid fabric graph: node 'a' has kind None"):
        load_spec(path)


def test_graphml_with_a_node_given_twice_is_refused(tmp_path):
    # networkx keeps the second <node> and its attributes without a word; YAML refuses the same
    text = dump_spec(topologies.build("clos", num_gpus=16), format="graphml")
    first = text.index('<node id="leaf0">')
    block = text[first:text.index("</node>", first) + len("</node>")]
    path = tmp_path / "twice.graphml"
    path.write_text(text.replace(block, block + block, 1))
    with pytest.raises(SpecError, match="node id 'leaf0' is given twice"):
        load_spec(path)


def test_undirected_graphml_gets_both_directions(tmp_path):
    G = topologies.build("rail-only", num_nodes=2)
    U = nx.Graph(G)  # one edge per cable
    U.graph.clear()
    path = tmp_path / "undirected.graphml"
    nx.write_graphml(U, path)
    H = load_spec(path)
    assert set(H.edges) == set(G.edges)
    assert H.graph["topology"] == "custom"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing.yaml", "cannot read spec file"),
        ("cluster.txt", "must end in .yaml, .yml, .json, .graphml"),
    ],
)
def test_unreadable_paths(tmp_path, name, words):
    with pytest.raises(ValueError, match=words):
        load_spec(tmp_path / name)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


def test_save_failures_write_nothing(tmp_path):
    G = topologies.build("fat-tree", k=4)
    with pytest.raises(ValueError, match="does not exist"):
        save_spec(G, tmp_path / "no" / "such" / "ft.yaml")
    G.nodes["core0" if "core0" in G else next(iter(G))]["tags"] = ["a", "b"]
    with pytest.raises(ValueError, match="GraphML holds scalars only"):
        save_spec(G, tmp_path / "ft.graphml")
    with pytest.raises(ValueError, match="format must be one of"):
        save_spec(G, tmp_path / "ft.yaml", format="toml")
    assert list(tmp_path.iterdir()) == []


def test_load_topology(tmp_path):
    path = save_spec(topologies.build("rail-only", num_nodes=2), tmp_path / "r.json")
    assert load_topology(str(path)).graph["topology"] == "rail-only"
    G = load_topology("fat-tree", k=4, switch=None, scaleup=None)  # None values dropped
    assert sum(1 for _, k in G.nodes(data="kind") if k == "gpu") == 16  # k^3/4 (Al-Fares 2008)
    with pytest.raises(
        ValueError,
        match=r"^topology must be a spec file \(.yaml, .yml, .json, "
        r".graphml\) or a family \(fat-tree, clos",
    ):
        load_topology("torus")
    with pytest.raises(ValueError, match="spec file 'gone.yaml' not found"):
        load_topology("gone.yaml")
    folder = path.parent / "specs.yaml"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"spec file '.*specs.yaml' is a folder; give the file"):
        load_topology(str(folder))
    with pytest.raises(ValueError, match="apply to a family"):
        load_topology(str(path), k=4)


SUFFIXES = [".yaml", ".json", ".graphml"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_garbage_text_is_a_value_error(tmp_path, text, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(ValueError):
        load_spec(path)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "nodes",
                        "links",
                        "id",
                        "kind",
                        "a",
                        "b",
                        "family",
                        "params",
                        "model",
                        "tier",
                        "node",
                        "local",
                        "link",
                        "bandwidth",
                        "num_links",
                    ]
                )
                | st.text(max_size=4),
                children,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
def test_garbage_structures_are_value_errors(tmp_path, data):
    path = tmp_path / "garbage.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError):
        load_spec(path)
