"""A user's own cluster as a spec file: YAML, JSON or GraphML.

This module reads and writes the YAML/JSON spec format below; :func:`load_spec`,
:func:`dump_spec` and :func:`save_spec` hand ``.graphml`` files to :mod:`topologies.graphml`.

A YAML/JSON spec takes one of two forms.

Family form
    ``{family: <name>, params: {...}}`` is built with :func:`topologies.build`::

        family: rail-optimized
        params: {num_nodes: 64, su_size: 32}

Explicit form
    ``{name: ..., nodes: [...], links: [...]}`` lists every node and every cable::

        name: two-node lab
        nodes:
          - {id: leaf0, kind: switch, model: qm9700, tier: leaf}   # radix from the catalog
          - {id: node0/gpu0, kind: gpu, node: 0, local: 0, model: h100}
        links:
          - {a: node0/gpu0, b: leaf0, link: ndr400}                # a catalog link type
          - {a: node1/gpu0, b: leaf0, bandwidth: 400Gbps, latency: 1us, num_links: 2}

Nodes
    ``id`` and ``kind`` (``gpu``, ``nic``, ``switch``) are required. Switches need ``model`` (a
    catalog switch key) and ``tier`` (0..3 or ``scale-up``/``leaf``/``spine``/``core``; scale-up
    models default to 0); ``radix`` defaults to the model's. GPUs need ``node`` and ``local``
    (integers >= 0); ``model`` defaults to ``h100``. Any other scalar field (``rail``, ``su``,
    ``hostname`` ...) is kept as a node attribute.
Links
    ``a`` and ``b`` name two defined nodes; every cable becomes two directed edges. ``link`` is a
    catalog link key that gives the bandwidth and the cable latency; ``bandwidth`` (a rate string,
    ``400Gbps`` or ``50GB/s``) or ``bandwidth_bytes_per_s`` and ``latency`` (``1us``) or
    ``latency_s`` override it, or describe a custom link (then ``link`` is optional and only
    names it). ``num_links`` (default 1) counts parallel cables. As in the builders, the edge
    that enters a switch also carries that switch's latency; ``latency_ab_s`` / ``latency_ba_s``
    give a direction's full edge latency instead. ``attrs`` holds extra edge attributes and
    ``reverse`` overrides attributes of the b -> a edge (SI keys); saved files use both where
    needed so that a round trip is exact.
Graph
    ``topology`` (default ``custom``), ``params`` (default ``{}``), ``catalog`` (default: the
    catalog's version) and ``name`` go to ``G.graph``; ``graph`` holds any other graph attribute.

Human units in a file are converted at once with :mod:`fabric.units`; the graph holds SI only.
Validation stops at the first problem and names the file, the place in the document
(``links[3].b``) and, for YAML, the line.

>>> import tempfile, pathlib
>>> text = '''
... nodes:
...   - {id: leaf0, kind: switch, model: qm9700, tier: leaf}
...   - {id: gpu0, kind: gpu, node: 0, local: 0}
...   - {id: gpu1, kind: gpu, node: 1, local: 0}
... links:
...   - {a: gpu0, b: leaf0, bandwidth: 400Gbps, latency: 1us}
...   - {a: gpu1, b: leaf0, link: ndr400, num_links: 2}
... '''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "lab.yaml"
>>> _ = path.write_text(text)
>>> G = load_spec(path)
>>> G.number_of_nodes(), G.number_of_edges(), G["gpu0"]["leaf0"]["bandwidth_bytes_per_s"]
(3, 4, 50000000000.0)
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Set
from pathlib import Path
from typing import Any, NoReturn

import networkx as nx
import yaml

from fabric import units
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.fileio import atomic_write_text
from fabric.graph import KINDS, TIER_NAMES, validate_graph

__all__ = [
    "FORMATS",
    "SPEC_SUFFIXES",
    "SpecError",
    "load_spec",
    "dump_spec",
    "save_spec",
    "load_topology",
    "spec_format",
]

FORMATS = ("yaml", "json", "graphml")
SPEC_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".graphml": "graphml"}
SPEC_VERSION = 1

_TIERS_BY_NAME = {name: tier for tier, name in TIER_NAMES.items()}
_GRAPH_KEYS = ("topology", "params", "catalog", "name")
_EXPLICIT_KEYS = {"spec_version", "description", "graph", "nodes", "links", *_GRAPH_KEYS}
_FAMILY_KEYS = {"spec_version", "description", "family", "params", "name"}
_NODE_FIELDS = {"gpu": ("node", "local", "model"), "switch": ("model", "tier", "radix"), "nic": ()}
_LINK_KEYS = set(
    "a b link num_links bandwidth bandwidth_bytes_per_s latency latency_s latency_ab latency_ab_s "
    "latency_ba latency_ba_s attrs reverse".split()
)
_EDGE_CORE = ("bandwidth_bytes_per_s", "latency_s", "num_links", "link")
_SCALARS = (str, int, float, bool)
_INF = float("inf")

Location = tuple[str | int, ...]


class SpecError(ValueError):
    """A problem in a spec file, with where it is.

    Attributes
    ----------
    path
        The file.
    location
        The place in the document, such as ``links[3].b`` ("" for the whole file).
    line
        1-based line number where known, else None.
    """

    def __init__(self, message: str, *, path: str, location: str = "", line: int | None = None):
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {location}: {message}" if location else f"{where}: {message}")
        self.path = path
        self.location = location
        self.line = line


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (user data can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_location(loc: Location) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _resolve_catalog(catalog: Catalog | str | Path | None) -> Catalog:
    if catalog is None:
        return default_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    return load_catalog(catalog)


def spec_format(path: str | Path, format: str | None = None) -> str:
    """The spec format of ``path``: ``format`` if given, else from the suffix.

    >>> spec_format("cluster.yml"), spec_format("x.out", "json")
    ('yaml', 'json')

    Raises
    ------
    ValueError
        If ``format`` is not one of yaml, json, graphml, or the suffix is not a spec suffix.
    """
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise ValueError(f"spec file must end in {', '.join(SPEC_SUFFIXES)}, got {str(path)!r}")
    return SPEC_SUFFIXES[suffix]


# ------------------------------------------------------------------------------------ loading


def load_spec(path: str | Path, *, catalog: Catalog | str | Path | None = None) -> nx.DiGraph:
    """Load a fabric from a YAML, JSON or GraphML spec file.

    Parameters
    ----------
    path
        A ``.yaml``/``.yml``/``.json`` spec (family or explicit form, see the module docstring)
        or a ``.graphml`` file as written by :func:`save_spec` (or any GraphML whose nodes and
        edges follow :mod:`fabric.graph`'s conventions; an undirected file gets two directed
        edges per edge).
    catalog
        Catalog (or catalog TOML file) for model and link keys; default the built-in one.

    Returns
    -------
    nx.DiGraph
        A graph that passed :func:`fabric.graph.validate_graph`.

    Raises
    ------
    SpecError
        (a ValueError) For the first problem found: unreadable or malformed file, missing field,
        unknown kind/model/link, dangling link, non-positive bandwidth, duplicate id or cable,
        radix exceeded. The message is one line: ``file[:line]: location: problem``.
    """
    path = Path(path)
    fmt = spec_format(path)
    cat = _resolve_catalog(catalog)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read spec file: {err.strerror or err}", path=str(path)) from err
    if fmt == "graphml":
        from topologies.graphml import parse_graphml

        return parse_graphml(path, raw, cat)
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
    return _Reader(path, root, cat).read(data)


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
        raise SpecError(f"not valid YAML: {_one_line(problem)}", path=str(path), line=line) from err
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as err:
        # YAMLError without a mark; RecursionError for absurd nesting; ValueError/TypeError/
        # OverflowError from scalar constructors (an impossible timestamp, a huge integer).
        raise SpecError(
            f"not valid YAML: {_one_line(err) or type(err).__name__}", path=str(path)
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
        raise SpecError(_one_line(message), path=self.path, location=where, line=self.line(loc))

    # -- values

    def node_id(self, loc: Location, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            self.fail(loc, f"a node id must be a non-empty string, got {_short(value)}")
        return str(value)

    def integer(self, loc: Location, value: Any, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(loc, f"must be an integer >= {minimum}, got {_short(value)}")
        return int(value)

    def scalars(self, loc: Location, entry: Any, skip: Set[str] = frozenset()) -> dict[str, Any]:
        """The fields of mapping ``entry`` not in ``skip``; each must be a finite scalar."""
        if not isinstance(entry, dict):
            self.fail(loc, f"must be a mapping of attributes, got {_short(entry)}")
        out = {}
        for key, value in entry.items():
            if key in skip:
                continue
            if not isinstance(key, str) or not key:
                self.fail(loc, f"attribute names must be strings, got {_short(key)}")
            if not isinstance(value, _SCALARS) or value != value or value in (_INF, -_INF):
                self.fail(
                    loc + (key,),
                    f"attribute {key!r} must be a string, number or boolean, got {_short(value)}",
                )
            out[key] = value
        return out

    def model(self, loc: Location, model: Any, table: Mapping[str, Any], what: str) -> str:
        if not isinstance(model, str) or model not in table:
            known = ", ".join(sorted(table))
            self.fail(loc + ("model",), f"unknown {what} model {_short(model)}; known: {known}")
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
                f"{_short(text)}; use {si} for a number in SI units",
            )
        try:
            value = parse(text)
        except ValueError as err:
            self.fail(loc + (human,), str(err))
        if not (value > 0 if positive else value >= 0):
            self.fail(
                loc + (human,),
                f"{human} must be {'> 0' if positive else '>= 0'}, got {_short(text)}",
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
            self.fail(loc, f"{key} must be a number {rule}, got {_short(value)}")
        return float(value)

    def check_keys(self, loc: Location, entry: dict[str, Any], known: set[str], what: str) -> None:
        for key in entry:
            if key not in known:
                self.fail(
                    loc + (str(key),),
                    f"unknown field {_short(key)} in {what}; known: {', '.join(sorted(known))}",
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
        import topologies

        self.check_keys((), data, _FAMILY_KEYS, "a family spec")
        family = data["family"]
        if not isinstance(family, str) or family not in topologies.FAMILIES:
            known = ", ".join(topologies.FAMILIES)
            self.fail(("family",), f"unknown family {_short(family)}; known: {known}")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            self.fail(("params",), f"params must be a mapping of {family} parameters")
        if "catalog" in params:
            self.fail(
                ("params", "catalog"),
                "the catalog comes from the caller (--catalog FILE), not from the spec",
            )
        signature = inspect.signature(topologies.FAMILIES[family])
        try:
            signature.bind(**params, catalog=self.catalog)
        except TypeError as err:
            names = ", ".join(p for p in signature.parameters if p != "catalog")
            self.fail(("params",), f"{err}; {family} takes {names}")
        try:
            return topologies.build(family, **params, catalog=self.catalog)
        except ValueError as err:
            self.fail(("params",), str(err))

    def explicit(self, data: dict[str, Any]) -> nx.DiGraph:
        self.check_keys((), data, _EXPLICIT_KEYS, "an explicit spec")
        G = nx.DiGraph()
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
                self.fail(loc, f"a node must be a mapping with id and kind, got {_short(entry)}")
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
            self.fail(loc + ("kind",), f"unknown kind {_short(kind)}; known: {', '.join(KINDS)}")
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
                    self.fail(loc + ("tier",), f"unknown tier {_short(tier)}; known: {known}, 0..3")
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
            self.fail(loc, f"a link must be a mapping with a, b and link, got {_short(entry)}")
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
            self.fail(loc + ("link",), f"link must be a catalog link key, got {_short(name)}")
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
                f"unknown link {_short(name)}; known: {known} (or give "
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


# ------------------------------------------------------------------------------------- saving


def _plain(value: Any) -> Any:
    """Python scalars and containers only (numpy scalars become Python ones)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, _SCALARS):
        return item()
    return value


def _explicit_data(G: nx.DiGraph) -> dict[str, Any]:
    """The explicit spec of ``G``: every node with all attributes, one entry per cable."""
    data: dict[str, Any] = {"spec_version": SPEC_VERSION}
    for key in _GRAPH_KEYS:
        if key in G.graph:
            data[key] = _plain(G.graph[key])
    extra = {k: _plain(v) for k, v in G.graph.items() if k not in _GRAPH_KEYS}
    if extra:
        data["graph"] = extra
    nodes = []
    for n, attrs in G.nodes(data=True):
        if "id" in attrs:
            raise ValueError(f"cannot save node {n!r}: it has an attribute named 'id'")
        nodes.append({"id": n, **_plain(attrs)})
    data["nodes"] = nodes
    position = {n: i for i, n in enumerate(G)}
    links = []
    for a, b, forward in G.edges(data=True):
        if position[a] > position[b]:
            continue
        backward = G.get_edge_data(b, a)
        if backward is None:
            raise ValueError(f"cannot save edge {a!r} -> {b!r}: it has no reverse edge")
        entry: dict[str, Any] = {"a": a, "b": b}
        for key in ("link", "num_links", "bandwidth_bytes_per_s"):
            if key in forward:
                entry[key] = _plain(forward[key])
        entry["latency_ab_s"] = _plain(forward.get("latency_s"))
        entry["latency_ba_s"] = _plain(backward.get("latency_s"))
        extra = {k: _plain(v) for k, v in forward.items() if k not in _EDGE_CORE}
        if extra:
            entry["attrs"] = extra
        if set(forward) != set(backward):
            raise ValueError(
                f"cannot save cable {a!r} - {b!r}: its two directions have "
                f"different attribute names"
            )
        reverse = {
            k: _plain(v) for k, v in backward.items() if k != "latency_s" and forward[k] != v
        }
        if reverse:
            entry["reverse"] = reverse
        links.append(entry)
    data["links"] = links
    return data


def _json_text(data: dict[str, Any]) -> str:
    """JSON with one node or link per line (diff-friendly, still one document)."""

    def block(items: list[Any]) -> str:
        if not items:
            return "[]"
        return "[\n" + ",\n".join("    " + json.dumps(i, allow_nan=False) for i in items) + "\n  ]"

    parts = []
    for key, value in data.items():
        body = block(value) if key in ("nodes", "links") else json.dumps(value, allow_nan=False)
        parts.append(f"  {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def dump_spec(G: nx.DiGraph, format: str) -> str:
    """The text of ``G`` as a ``yaml``, ``json`` or ``graphml`` spec (see :func:`save_spec`).

    >>> import networkx as nx
    >>> from fabric.catalog import default_catalog
    >>> from fabric.graph import cable_edges, gpu_attrs
    >>> G = nx.DiGraph(topology="custom", params={}, catalog="test")
    >>> G.add_nodes_from([("g0", gpu_attrs("h100", 0, 0)), ("g1", gpu_attrs("h100", 1, 0))])
    >>> G.add_edges_from(cable_edges("g0", "g1", default_catalog().links["ndr400"]))
    >>> text = dump_spec(G, "yaml")
    >>> print(text[: text.index("links:")].rstrip())
    spec_version: 1
    topology: custom
    params: {}
    catalog: test
    nodes:
    - {id: g0, kind: gpu, model: h100, node: 0, local: 0}
    - {id: g1, kind: gpu, model: h100, node: 1, local: 0}
    >>> cable = yaml.safe_load(text)["links"][0]
    >>> cable["num_links"], cable["bandwidth_bytes_per_s"], cable["latency_ab_s"]
    (1, 50000000000.0, 5e-08)
    """
    fmt = spec_format("", format)
    if fmt == "graphml":
        from topologies.graphml import graphml_text

        return graphml_text(G)
    data = _explicit_data(G)
    if fmt == "json":
        return _json_text(data)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        data,
        Dumper=dumper,
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=4096,
    )


def save_spec(G: nx.DiGraph, path: str | Path, *, format: str | None = None) -> Path:
    """Write ``G`` as a spec file, atomically.

    Parameters
    ----------
    G
        A fabric graph (see :mod:`fabric.graph`).
    path
        Output file; its folder must exist.
    format
        ``yaml``, ``json`` or ``graphml``; default from the suffix of ``path``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the format is unknown, the folder does not exist, or ``G`` holds something the
        format cannot (a GraphML attribute that is not a scalar). Nothing is written then.

    Notes
    -----
    YAML and JSON get the explicit form: every node with all its attributes, one entry per
    cable with ``num_links``, rates and latencies as SI numbers under unit-suffixed keys
    (``bandwidth_bytes_per_s``, ``latency_ab_s``, ``latency_ba_s``) and ``G.graph``'s
    ``topology``/``params``/``catalog``. GraphML is networkx's, with ``G.graph`` values that
    are not scalars stored as JSON strings. Loading the file with :func:`load_spec` gives back
    the same nodes in the same order, the same edges and the same ``G.graph``.
    """
    return atomic_write_text(path, dump_spec(G, spec_format(path, format)))


def load_topology(
    target: str | Path, *, catalog: Catalog | str | Path | None = None, **params: Any
) -> nx.DiGraph:
    """A fabric from a spec file or a family name.

    Parameters
    ----------
    target
        An existing spec file (loaded with :func:`load_spec`), or a family name of
        :data:`topologies.FAMILIES` (built with :func:`topologies.build`).
    catalog
        Catalog (or catalog TOML file); default the built-in one.
    **params
        The family builder's parameters; ``None`` values are dropped (the builder's default
        applies). Not allowed with a spec file.

    Raises
    ------
    ValueError
        If ``target`` is neither, a spec file is not found, or params come with a spec file.
    """
    import topologies

    text = str(target)
    given = {k: v for k, v in params.items() if v is not None}
    path = Path(text)
    if path.is_file():
        if given:
            raise ValueError(
                f"parameters ({', '.join(sorted(given))}) apply to a family, not to "
                f"the spec file {text!r}"
            )
        return load_spec(path, catalog=catalog)
    if text in topologies.FAMILIES:
        return topologies.build(text, **given, catalog=_resolve_catalog(catalog))
    if path.suffix.lower() in SPEC_SUFFIXES:
        raise ValueError(f"spec file {text!r} not found")
    raise ValueError(
        f"topology must be a spec file ({', '.join(SPEC_SUFFIXES)}) or a "
        f"family ({', '.join(topologies.FAMILIES)}), got {text!r}"
    )
