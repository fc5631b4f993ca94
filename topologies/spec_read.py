"""Reading a YAML or JSON spec file into a fabric graph (the schema of :mod:`topologies.spec`).

:func:`parse_spec` turns the bytes of a spec in the family form (``{family, params}``, built
with :func:`topologies.registry.build`) or the explicit form (``{nodes, links}``) into a
validated graph, or raises :class:`~topologies.spec_common.SpecError` naming the file, the place
in the document (``links[3].b``) and, for YAML, the line of the first problem. The format itself
is described in :mod:`topologies.spec`.

>>> from pathlib import Path
>>> from fabric.catalog import default_catalog
>>> G = parse_spec(Path("f.json"), b'{"family": "fat-tree", "params": {"k": 4}}', "json",
...                default_catalog())
>>> G.graph["topology"], G.number_of_nodes()
('fat-tree', 36)
>>> try:
...     parse_spec(Path("f.yaml"), b"family: fat-tree\\nparams: {k: 4, radix: 8}\\n", "yaml",
...                default_catalog())
... except SpecError as err:
...     print(err.line, err.location, str(err).split("; ")[0])
2 params f.yaml:2: params: unknown parameter 'radix'
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Set
from pathlib import Path
from typing import Any, NoReturn

import networkx as nx
import yaml

from fabric import units
from fabric.catalog import Catalog
from fabric.gcpause import gc_paused
from fabric.graph import KINDS, TIER_NAMES, FabricGraph, validate_graph
from topologies.registry import FAMILIES, build
from topologies.spec_common import (
    GRAPH_KEYS,
    SCALARS,
    SPEC_VERSION,
    SpecError,
    one_line,
    short,
)

__all__ = ["parse_spec"]

_TIERS_BY_NAME = {name: tier for tier, name in TIER_NAMES.items()}
_EXPLICIT_KEYS = {"spec_version", "description", "graph", "nodes", "links", *GRAPH_KEYS}
_FAMILY_KEYS = {"spec_version", "description", "family", "params", "name"}
_NODE_FIELDS = {"gpu": ("node", "local", "model"), "switch": ("model", "tier", "radix"), "nic": ()}
_LINK_KEYS = set(
    "a b link num_links bandwidth bandwidth_bytes_per_s latency latency_s latency_ab latency_ab_s "
    "latency_ba latency_ba_s attrs reverse".split()
)
_INF = float("inf")

Location = tuple[str | int, ...]


@gc_paused()
def parse_spec(path: Path, raw: bytes, fmt: str, catalog: Catalog) -> nx.DiGraph:
    """The fabric in the YAML or JSON spec bytes ``raw`` read from ``path``.

    Parameters
    ----------
    path
        The file (only names it in errors).
    raw
        Its bytes (UTF-8 text).
    fmt
        ``"yaml"`` or ``"json"``.
    catalog
        Catalog for model and link keys.

    Returns
    -------
    nx.DiGraph
        A graph that passed :func:`fabric.graph.validate_graph`.

    Raises
    ------
    SpecError
        (a ValueError) For the first problem found: not UTF-8, malformed YAML/JSON, missing
        field, unknown kind/model/link/family/parameter, dangling link, non-positive bandwidth,
        duplicate id or cable, radix exceeded. One line: ``file[:line]: location: problem``.
    ValueError
        If ``fmt`` is neither yaml nor json.
    """
    if fmt not in ("yaml", "json"):
        raise ValueError(f"fmt must be yaml or json, got {fmt!r}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"not UTF-8 text (byte {err.start})", path=str(path)) from err
    root = None
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(
                f"not valid JSON: {err.msg} (column {err.colno})", path=str(path), line=err.lineno
            ) from err
        except RecursionError as err:
            raise SpecError("not valid JSON: nested too deeply", path=str(path)) from err
    else:
        root, data = _parse_yaml(path, text)
    return _Reader(path, root, catalog).read(data)


def _format_location(loc: Location) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """``yaml.safe_load`` that keeps the node tree (for line numbers in later errors)."""
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context or "parse error"
        raise SpecError(f"not valid YAML: {one_line(problem)}", path=str(path), line=line) from err
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as err:
        # YAMLError without a mark; RecursionError for absurd nesting; ValueError/TypeError/
        # OverflowError from scalar constructors (an impossible timestamp, a huge integer).
        raise SpecError(
            f"not valid YAML: {one_line(err) or type(err).__name__}", path=str(path)
        ) from err
    finally:
        loader.dispose()
    return root, data


class _Reader:
    """Turns a parsed YAML/JSON spec into a graph; names the file and place of the first problem.

    ``root`` is the YAML node tree (for line numbers), None for JSON.
    """

    def __init__(self, path: Path, root: yaml.Node | None, catalog: Catalog) -> None:
        self.path, self.root, self.catalog = str(path), root, catalog

    def line(self, loc: Location) -> int | None:
        """1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
        node = self.root
        if node is None or not loc:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next(
                    (v for k, v in node.value if getattr(k, "value", None) == str(part)), None
                )
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                child = node.value[part] if 0 <= part < len(node.value) else None
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def fail(self, loc: Location, message: str) -> NoReturn:
        where = _format_location(loc)
        raise SpecError(one_line(message), path=self.path, location=where, line=self.line(loc))

    # -- values

    def node_id(self, loc: Location, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            self.fail(loc, f"a node id must be a non-empty string, got {short(value)}")
        return str(value)

    def integer(self, loc: Location, value: Any, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(loc, f"must be an integer >= {minimum}, got {short(value)}")
        return int(value)

    def scalars(self, loc: Location, entry: Any, skip: Set[str] = frozenset()) -> dict[str, Any]:
        """The fields of mapping ``entry`` not in ``skip``; each must be a finite scalar."""
        if not isinstance(entry, dict):
            self.fail(loc, f"must be a mapping of attributes, got {short(entry)}")
        out = {}
        for key, value in entry.items():
            if key in skip:
                continue
            if not isinstance(key, str) or not key:
                self.fail(loc, f"attribute names must be strings, got {short(key)}")
            if not isinstance(value, SCALARS) or value != value or value in (_INF, -_INF):
                self.fail(
                    loc + (key,),
                    f"attribute {key!r} must be a string, number or boolean, got {short(value)}",
                )
            out[key] = value
        return out

    def model(self, loc: Location, model: Any, table: Mapping[str, Any], what: str) -> str:
        if not isinstance(model, str) or model not in table:
            known = ", ".join(sorted(table))
            self.fail(loc + ("model",), f"unknown {what} model {short(model)}; known: {known}")
        return model

    def quantity(
        self,
        loc: Location,
        entry: dict[str, Any],
        human: str,
        si: str,
        parse: Callable[[str], float],
        *,
        positive: bool,
    ) -> float | None:
        """``entry[human]`` (text with a unit) or ``entry[si]`` (a number) in SI, or None."""
        if human in entry and si in entry:
            self.fail(loc + (si,), f"give {human} or {si}, not both")
        if si in entry:
            return self.number(loc + (si,), entry[si], si, positive=positive)
        if human not in entry:
            return None
        text = entry[human]
        if not isinstance(text, str):
            self.fail(
                loc + (human,),
                f"{human} needs a unit (such as '400Gbps' or '1us'), got "
                f"{short(text)}; use {si} for a number in SI units",
            )
        try:
            value = parse(text)
        except ValueError as err:
            self.fail(loc + (human,), str(err))
        if not (value > 0 if positive else value >= 0):
            self.fail(
                loc + (human,),
                f"{human} must be {'> 0' if positive else '>= 0'}, got {short(text)}",
            )
        return value

    def number(self, loc: Location, value: Any, key: str, *, positive: bool) -> float:
        """A number in SI units; numeric text is accepted (YAML 1.1 reads ``5e10`` as text)."""
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        if not ok or not (value > 0 if positive else value >= 0):
            rule = "> 0" if positive else ">= 0"
            self.fail(loc, f"{key} must be a number {rule}, got {short(value)}")
        return float(value)

    def check_keys(self, loc: Location, entry: dict[str, Any], known: set[str], what: str) -> None:
        for key in entry:
            if key not in known:
                self.fail(
                    loc + (str(key),),
                    f"unknown field {short(key)} in {what}; known: {', '.join(sorted(known))}",
                )

    # -- documents

    def read(self, data: Any) -> nx.DiGraph:
        if not isinstance(data, dict):
            self.fail((), f"a spec must be a mapping, got {type(data).__name__}")
        version = data.get("spec_version", SPEC_VERSION)
        if version != SPEC_VERSION:
            self.fail(("spec_version",), f"spec_version must be {SPEC_VERSION}, got {version!r}")
        if "family" in data:
            return self.family(data)
        if "nodes" in data:
            return self.explicit(data)
        self.fail(
            (),
            "a spec needs 'family' (a topology family) or 'nodes' and 'links' (an explicit fabric)",
        )

    def family(self, data: dict[str, Any]) -> nx.DiGraph:
        self.check_keys((), data, _FAMILY_KEYS, "a family spec")
        name = data["family"]
        if not isinstance(name, str) or name not in FAMILIES:
            known = ", ".join(FAMILIES)
            self.fail(("family",), f"unknown family {short(name)}; known: {known}")
        record = FAMILIES[name]
        params = data.get("params") or {}
        if not isinstance(params, dict):
            self.fail(("params",), f"params must be a mapping of {name} parameters")
        if "catalog" in params:
            self.fail(
                ("params", "catalog"),
                "the catalog comes from the caller (--catalog FILE), not from the spec",
            )
        takes = ", ".join(p for p in record.parameters if p != "catalog")
        unknown = [str(key) for key in params if not record.accepts(str(key))]
        if unknown:
            self.fail(("params",), f"unknown parameter {unknown[0]!r}; {name} takes {takes}")
        if record.size_parameter not in params:
            self.fail(
                ("params",), f"missing parameter {record.size_parameter!r}; {name} takes {takes}"
            )
        try:
            return build(name, **params, catalog=self.catalog)
        except ValueError as err:
            self.fail(("params",), str(err))

    def explicit(self, data: dict[str, Any]) -> nx.DiGraph:
        self.check_keys((), data, _EXPLICIT_KEYS, "an explicit spec")
        G = FabricGraph()
        extra = data.get("graph") or {}
        if not isinstance(extra, dict):
            self.fail(("graph",), "graph must be a mapping of graph attributes")
        G.graph.update(
            extra,
            topology=data.get("topology", "custom"),
            params=data.get("params", {}),
            catalog=data.get("catalog", self.catalog.version),
        )
        if "name" in data:
            G.graph["name"] = data["name"]
        if not isinstance(G.graph["params"], dict):
            self.fail(("params",), "params must be a mapping")
        nodes = data["nodes"]
        if not isinstance(nodes, list) or not nodes:
            self.fail(("nodes",), "nodes must be a non-empty list of {id, kind, ...} entries")
        position: dict[str, int] = {}
        for i, entry in enumerate(nodes):
            loc: Location = ("nodes", i)
            if not isinstance(entry, dict) or "id" not in entry:
                self.fail(loc, f"a node must be a mapping with id and kind, got {short(entry)}")
            node_id = self.node_id(loc + ("id",), entry["id"])
            if node_id in position:
                first = position[node_id]
                self.fail(loc + ("id",), f"duplicate node id {node_id!r} (first at nodes[{first}])")
            position[node_id] = i
            G.add_node(node_id, **self.node_attrs(loc, entry))
        links = data.get("links", [])
        if not isinstance(links, list):
            self.fail(("links",), "links must be a list of {a, b, link, ...} entries")
        cables: dict[tuple[str, str], int] = {}
        ports_used: dict[str, int] = {}
        G.add_edges_from(
            edge
            for j, entry in enumerate(links)
            for edge in self.link_edges(j, entry, G, cables, ports_used)
        )
        for node_id, i in position.items():
            if G.nodes[node_id]["kind"] == "gpu" and G.out_degree(node_id) == 0:
                self.fail(("nodes", i), f"GPU {node_id!r} has no links (dangling GPU)")
        try:
            return validate_graph(G)
        except ValueError as err:
            self.fail((), str(err))

    def node_attrs(self, loc: Location, entry: dict[str, Any]) -> dict[str, Any]:
        if "kind" not in entry:
            self.fail(loc, "missing field 'kind' (gpu, nic or switch)")
        kind, model = entry["kind"], entry.get("model")
        if kind not in KINDS:
            self.fail(loc + ("kind",), f"unknown kind {short(kind)}; known: {', '.join(KINDS)}")
        attrs: dict[str, Any] = {"kind": kind}
        if kind == "switch":
            if model is None:
                self.fail(loc, "missing field 'model' (a catalog switch key)")
            spec = self.catalog.switches[self.model(loc, model, self.catalog.switches, "switch")]
            tier = entry.get("tier", 0 if spec.tier_kind == "scale-up" else None)
            if tier is None:
                self.fail(loc, "missing field 'tier' (1 leaf, 2 spine, 3 core; 0 scale-up)")
            if isinstance(tier, str):
                if tier not in _TIERS_BY_NAME:
                    known = ", ".join(_TIERS_BY_NAME)
                    self.fail(loc + ("tier",), f"unknown tier {short(tier)}; known: {known}, 0..3")
                tier = _TIERS_BY_NAME[tier]
            tier = self.integer(loc + ("tier",), tier, minimum=0)
            if tier > 3:
                self.fail(loc + ("tier",), f"must be 0..3, got {tier}")
            radix = self.integer(loc + ("radix",), entry.get("radix", spec.radix), minimum=1)
            attrs.update(tier=tier, model=model, radix=radix)
        elif kind == "gpu":
            for key in ("node", "local"):
                if key not in entry:
                    self.fail(loc, f"missing field {key!r} (an integer >= 0) for a GPU")
                attrs[key] = self.integer(loc + (key,), entry[key], minimum=0)
            gpu = "h100" if model is None else model
            attrs["model"] = self.model(loc, gpu, self.catalog.gpus, "GPU")
        elif model is not None:
            attrs["model"] = self.model(loc, model, self.catalog.nics, "NIC")
        attrs.update(self.scalars(loc, entry, {"id", "kind", "model", *_NODE_FIELDS[kind]}))
        return attrs

    def link_edges(
        self,
        j: int,
        entry: Any,
        G: nx.DiGraph,
        cables: dict[tuple[str, str], int],
        ports_used: dict[str, int],
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The two directed edges of links[j]; tracks duplicate cables and switch ports."""
        loc: Location = ("links", j)
        if not isinstance(entry, dict):
            self.fail(loc, f"a link must be a mapping with a, b and link, got {short(entry)}")
        self.check_keys(loc, entry, _LINK_KEYS, "a link")
        for key in ("a", "b"):
            if key not in entry:
                self.fail(loc, f"missing field {key!r}")
            node_id = self.node_id(loc + (key,), entry[key])
            if node_id not in G:
                self.fail(loc + (key,), f"dangling link: node {node_id!r} is not defined in nodes")
        a, b = str(entry["a"]), str(entry["b"])
        if a == b:
            self.fail(loc, f"a link needs two different ends, got {a!r} twice")
        pair = (a, b) if a < b else (b, a)
        if pair in cables:
            self.fail(
                loc,
                f"duplicate cable between {a!r} and {b!r} (first at links"
                f"[{cables[pair]}]); use num_links for parallel cables",
            )
        cables[pair] = j

        name = entry.get("link")
        if name is not None and (not isinstance(name, str) or not name):
            self.fail(loc + ("link",), f"link must be a catalog link key, got {short(name)}")
        link = self.catalog.links.get(name) if name is not None else None
        rate = self.quantity(
            loc, entry, "bandwidth", "bandwidth_bytes_per_s", units.parse_rate, positive=True
        )
        if rate is None and link is not None:
            rate = link.bandwidth_bytes_per_s
        elif rate is None and name is None:
            self.fail(loc, "missing field 'link' (a catalog link key) or 'bandwidth' (400Gbps)")
        elif rate is None:
            known = ", ".join(sorted(self.catalog.links))
            self.fail(
                loc + ("link",),
                f"unknown link {short(name)}; known: {known} (or give "
                "bandwidth for a custom link)",
            )
        cable_s = self.quantity(
            loc, entry, "latency", "latency_s", units.parse_time, positive=False
        )
        if cable_s is None:
            cable_s = link.latency_s if link is not None else 0.0
        num_links = self.integer(loc + ("num_links",), entry.get("num_links", 1), minimum=1)
        for node_id in (a, b):
            node = G.nodes[node_id]
            if node["kind"] == "switch":
                used = ports_used[node_id] = ports_used.get(node_id, 0) + num_links
                if used > node["radix"]:
                    self.fail(
                        loc,
                        f"switch {node_id!r} would use {used} ports but its radix "
                        f"is {node['radix']} (radix exceeded)",
                    )

        common = {
            "bandwidth_bytes_per_s": rate,
            "num_links": num_links,
            "link": name if name is not None else "custom",
            **self.scalars(loc + ("attrs",), entry.get("attrs") or {}),
        }
        latency = {}
        for end, enters in (("ab", b), ("ba", a)):
            given = self.quantity(
                loc, entry, f"latency_{end}", f"latency_{end}_s", units.parse_time, positive=False
            )
            node = G.nodes[enters]
            switch_s = (
                self.catalog.switches[node["model"]].latency_s if node["kind"] == "switch" else 0.0
            )
            latency[end] = given if given is not None else cable_s + switch_s
        reverse = self.scalars(loc + ("reverse",), entry.get("reverse") or {})
        if "num_links" in reverse:
            self.fail(loc + ("reverse", "num_links"), "a cable has one num_links")
        for key, positive in (("bandwidth_bytes_per_s", True), ("latency_s", False)):
            if key in reverse:
                where = loc + ("reverse", key)
                reverse[key] = self.number(where, reverse[key], key, positive=positive)
        forward = {**common, "latency_s": latency["ab"]}
        backward = {**common, "latency_s": latency["ba"], **reverse}
        return [(a, b, forward), (b, a, backward)]
