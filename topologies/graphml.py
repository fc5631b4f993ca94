"""GraphML spec files: read a fabric from GraphML and write one as GraphML.

:func:`topologies.spec.load_spec`, :func:`~topologies.spec.dump_spec` and
:func:`~topologies.spec.save_spec` use this module for ``.graphml`` files. The format is
networkx's GraphML of a :mod:`fabric.graph` fabric. GraphML attributes are scalars, so ``G.graph``
values that are not (``params``) are stored as JSON strings and their names listed, as a JSON
list, in the graph attribute ``fabric_json_keys``; reading decodes them back. Reading also accepts
GraphML from elsewhere whose nodes and edges follow :mod:`fabric.graph`'s conventions: an
undirected file gets two directed edges per edge; parallel edges are refused.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx

from fabric.catalog import Catalog
from fabric.graph import FabricGraph, validate_graph
from topologies.spec_common import SCALARS, SpecError, one_line, plain, short

__all__ = ["parse_graphml", "graphml_text"]

_GRAPHML_ERRORS = (nx.NetworkXError, ValueError, KeyError, TypeError, IndexError, AttributeError)
_GRAPHML_JSON_KEYS = "fabric_json_keys"


def parse_graphml(path: Path, raw: bytes, catalog: Catalog) -> nx.DiGraph:
    """The fabric in GraphML bytes ``raw`` read from ``path`` (the path only names errors).

    Raises
    ------
    SpecError
        Not GraphML, a multigraph, a broken ``fabric_json_keys`` attribute, an unknown node
        model, or a graph that fails :func:`fabric.graph.validate_graph`.
    """
    where = str(path)
    try:
        G = nx.read_graphml(io.BytesIO(raw), node_type=str)
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise SpecError(f"not valid GraphML: {one_line(err)}", path=where, line=line) from err
    except (*_GRAPHML_ERRORS, RecursionError) as err:
        raise SpecError(
            f"not valid GraphML: {one_line(err) or type(err).__name__}", path=where
        ) from err
    twice = _node_given_twice(raw)
    if twice is not None:  # networkx keeps the last one's attributes: said, not merged
        raise SpecError(f"node id {short(twice)} is given twice; give each node once",
                        path=where)
    if G.is_multigraph():
        raise SpecError(
            "not a simple graph: parallel edges must be one edge with num_links", path=where
        )
    if not G.is_directed():
        G = G.to_directed()
    # networkx adds empty node_default / edge_default
    graph = {k: v for k, v in G.graph.items() if v or k not in ("node_default", "edge_default")}
    encoded = graph.pop(_GRAPHML_JSON_KEYS, None)
    if encoded is not None:
        try:
            for key in json.loads(encoded):
                graph[key] = json.loads(graph[key])
        except (ValueError, KeyError, TypeError) as err:
            raise SpecError(
                f"graph attribute {_GRAPHML_JSON_KEYS!r} is broken: {one_line(err)}", path=where
            ) from err
    G.graph = {"topology": "custom", "params": {}, "catalog": catalog.version, **graph}
    tables = {"switch": catalog.switches, "gpu": catalog.gpus, "nic": catalog.nics}
    for n, data in G.nodes(data=True):
        table, model = tables.get(data.get("kind"), {}), data.get("model")
        if table and model is not None and model not in table:
            known = ", ".join(sorted(table))
            raise SpecError(
                f"node {n!r}: unknown model {short(model)}; known: {known}", path=where
            )
    try:
        return validate_graph(FabricGraph(G))
    except ValueError as err:
        raise SpecError(one_line(err), path=where) from err


def _node_given_twice(raw: bytes) -> str | None:
    """The first node id that two ``<node>`` elements share, or None (read after networkx
    parsed the same bytes, so the XML is well formed)."""
    seen: set[str] = set()
    for _, element in ET.iterparse(io.BytesIO(raw), events=("start",)):
        if element.tag.rpartition("}")[2] == "node":
            node = element.get("id")
            if node is not None:
                if node in seen:
                    return node
                seen.add(node)
    return None


def graphml_text(G: nx.DiGraph) -> str:
    """The GraphML text of ``G``; ``G.graph`` values that are not scalars go in as JSON strings.

    Raises
    ------
    ValueError
        A node or edge attribute that GraphML cannot hold (a list, dict or None).
    """
    H = nx.DiGraph()
    encoded = []
    for key, value in G.graph.items():
        if isinstance(value, SCALARS):
            H.graph[key] = value
        else:
            H.graph[key] = json.dumps(plain(value))
            encoded.append(key)
    if encoded:
        H.graph[_GRAPHML_JSON_KEYS] = json.dumps(encoded)
    H.add_nodes_from((n, plain(d)) for n, d in G.nodes(data=True))
    H.add_edges_from((u, v, plain(d)) for u, v, d in G.edges(data=True))
    try:
        return "\n".join(nx.generate_graphml(H)) + "\n"
    except nx.NetworkXError as err:  # a list, dict or None attribute
        raise ValueError(f"cannot write GraphML: {err} (GraphML holds scalars only)") from err
