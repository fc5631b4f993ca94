"""The family registry: records match their builders, round trips, sizing, errors."""

from __future__ import annotations

import inspect
import pickle
import re

import pytest

import topologies
from fabric.catalog import default_catalog
from fabric.errors import InfeasibleError
from fabric.graph import gpu_nodes
from topologies.registry import FAMILIES, Family, FamilyOption, build, family, for_gpus

#: The smallest build of every family (its size parameter only).
SMALL = {"fat-tree": {"k": 4}, "clos": {"num_gpus": 16}, "rail-optimized": {"num_nodes": 2},
         "rail-only": {"num_nodes": 2}, "single-hop": {"num_gpus": 16}}


def _documented_parameters(builder) -> list[str]:
    """Names in the numpydoc Parameters section of ``builder``'s docstring."""
    doc = inspect.getdoc(builder) or ""
    section = doc.split("Parameters\n----------\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^(\w+) :", section, flags=re.MULTILINE)


def test_the_package_exports_the_registry() -> None:
    assert topologies.FAMILIES is FAMILIES
    assert topologies.family is family and topologies.build is build
    assert topologies.for_gpus is for_gpus
    assert set(SMALL) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_record_matches_the_builder_signature(name: str) -> None:
    record = FAMILIES[name]
    assert isinstance(record, Family) and record.name == name
    params = list(inspect.signature(record.builder).parameters.values())
    size, rest = params[0], params[1:]
    assert record.size_parameter == size.name and size.default is inspect.Parameter.empty
    assert list(record.options) == [p.name for p in rest]
    for p in rest:
        option = record.options[p.name]
        assert isinstance(option, FamilyOption) and option.name == p.name
        assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert option.default == p.default
        assert option.help and "\n" not in option.help
    assert record.defaults() == {p.name: p.default for p in rest}
    assert record.summary and "\n" not in record.summary
    # and the builder documents every parameter the record lists, in the same order
    assert _documented_parameters(record.builder) == list(record.parameters)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_accepts_exactly_the_builder_parameters(name: str) -> None:
    record = FAMILIES[name]
    names = set(inspect.signature(record.builder).parameters)
    for candidate in names | {"k", "num_gpus", "num_nodes", "planes", "tiers", "radix", "su_size"}:
        assert record.accepts(candidate) == (candidate in names), candidate


@pytest.mark.parametrize("name", sorted(SMALL))
def test_round_trip_from_the_graph_record(name: str) -> None:
    G = FAMILIES[name](**SMALL[name])  # the record is callable
    assert G.graph["topology"] == name
    again = build(G.graph["topology"], **G.graph["params"])
    assert list(again.nodes(data=True)) == list(G.nodes(data=True))
    assert list(again.edges(data=True)) == list(G.edges(data=True))
    assert again.graph == G.graph


@pytest.mark.parametrize(("name", "params"), [
    ("fat-tree", {}), ("fat-tree", {"gpus_per_node": 2}), ("clos", {}),
    ("clos", {"gpus_per_node": 4}), ("rail-optimized", {}), ("rail-only", {"gpus_per_node": 4}),
    ("single-hop", {}),
])
@pytest.mark.parametrize("num_gpus", [1, 9, 64, 100])
def test_size_for_gpus_is_the_smallest_that_holds(name: str, params: dict, num_gpus: int) -> None:
    record = family(name)
    size = record.size_for_gpus(num_gpus, **params)
    G = record(size, **params)
    held = len(gpu_nodes(G))
    assert held >= num_gpus
    # one size step smaller holds fewer GPUs (or is not a valid size)
    step = 2 * params.get("gpus_per_node", 1) if name == "fat-tree" else (
        params.get("gpus_per_node", 8) if record.size_parameter == "num_gpus" else 1)
    if size - step >= 1:
        try:
            smaller = record(size - step, **params)
        except ValueError:
            return
        assert len(gpu_nodes(smaller)) < num_gpus


def test_size_for_gpus_uses_the_given_catalog_switch() -> None:
    # a 48-port switch caps a fat-tree at k=48: 27,648 GPUs (Al-Fares et al. 2008: k^3/4)
    record = family("fat-tree")
    assert record.size_for_gpus(27_648, switch="gige48") == 48
    with pytest.raises(InfeasibleError, match="needs k >= 50, but gige48 has radix 48"):
        record.size_for_gpus(27_649, switch="gige48", catalog=default_catalog())


def test_family_errors() -> None:
    with pytest.raises(ValueError, match="unknown topology family 'mesh'; known: clos, fat-tree"):
        family("mesh")
    with pytest.raises(ValueError, match="unknown topology family"):
        family(["clos"])  # type: ignore[arg-type]
    record = family("single-hop")
    with pytest.raises(ValueError, match="unknown parameter.s. radix, su_size for single-hop; "
                                         "known: num_gpus, planes, switch"):
        record.check_params({"radix": 1, "su_size": 2, "planes": 2})
    with pytest.raises(ValueError, match="for_gpus picks num_nodes for rail-only"):
        family("rail-only").size_for_gpus(8, num_nodes=1)
    with pytest.raises(ValueError, match="gpus_per_node must be an integer >= 1, got 0"):
        family("clos").size_for_gpus(8, gpus_per_node=0)


def test_records_are_read_only() -> None:
    record = family("clos")
    with pytest.raises(TypeError):
        record.options["planes"] = record.options["tiers"]  # type: ignore[index]
    with pytest.raises(TypeError):
        FAMILIES["torus"] = record  # type: ignore[index]
    with pytest.raises(AttributeError):
        record.name = "other"  # type: ignore[misc]


def test_option_and_family_validation() -> None:
    with pytest.raises(ValueError, match="help of option 'x' must be one non-empty line"):
        FamilyOption(name="x", help="", unit="", default=None)
    option = FamilyOption(name="x", help="an x", unit="", default=1)
    with pytest.raises(ValueError, match="option 'x' is filed under 'y'"):
        Family(name="f", builder=build, size_parameter="n", options={"y": option}, summary="s",
               size_rule=lambda n, o: n)
    with pytest.raises(ValueError, match="the size 'x' must not also be an option"):
        Family(name="f", builder=build, size_parameter="x", options={"x": option}, summary="s",
               size_rule=lambda n, o: n)


def test_records_pickle() -> None:
    # studies run builds in a process pool: a registered record comes back as the same record
    record = family("rail-only")
    assert pickle.loads(pickle.dumps(record)) is record
    option = FamilyOption(name="x", help="an x", unit="GPUs", default=1)
    other = Family(name="rail-only", builder=build, size_parameter="n", options={"x": option},
                   summary="not the registered one", size_rule=max)
    copy = pickle.loads(pickle.dumps(other))
    assert copy is not record and copy == other and copy.options["x"] == option
    assert len({record, family("rail-only"), family("clos")}) == 2  # records are hashable


# ------------------------------------------------------- absurd sizes refused first (issue 12)


@pytest.mark.parametrize(("name", "params", "words"), [
    ("rail-optimized", {"num_nodes": 10**12}, "num_nodes of rail-optimized must give < 1,000,000"),
    ("rail-only", {"num_nodes": 125_000}, "125,000 servers x 8 GPUs"),
    ("clos", {"num_gpus": 10**6}, "num_gpus of clos must give < 1,000,000"),
    ("single-hop", {"num_gpus": 2**63 - 1}, "< 1,000,000 GPUs"),
    ("fat-tree", {"k": 100_000}, "k of fat-tree must be <= 512"),
    ("fat-tree", {"k": 160}, "k=160: k^3/4 = 1,024,000 GPUs"),
])
def test_absurd_sizes_are_refused_before_building(name: str, params: dict[str, int],
                                                  words: str) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=re.escape(words)):
            build(name, **params)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 50 * 1024**2  # nothing was allocated for the fabric itself


def test_the_largest_accepted_size_is_just_under_the_limit() -> None:
    from topologies.registry import MAX_GPUS, check_scale

    check_scale("clos", {"num_gpus": MAX_GPUS - 1}, size_parameter="num_gpus")  # no error
    with pytest.raises(ValueError, match="must give < 1,000,000 GPUs"):
        check_scale("clos", {"num_gpus": MAX_GPUS}, size_parameter="num_gpus")


def test_for_gpus_refuses_a_million_gpus_even_with_a_switch_that_would_hold_them() -> None:
    with pytest.raises(ValueError, match="num_gpus must be < 1,000,000"):
        for_gpus("rail-optimized", 10**6, switch="th6-200")
    with pytest.raises(InfeasibleError):  # the sizing rule's reason comes first when it has one
        for_gpus("fat-tree", 10**6)
