"""Writing a fabric graph as an explicit YAML or JSON spec (the form :mod:`topologies.spec`
reads back to the same graph).

>>> import networkx as nx
>>> from fabric.catalog import default_catalog
>>> from fabric.graph import cable_edges, gpu_attrs
>>> G = nx.DiGraph(topology="custom", params={}, catalog="test")
>>> G.add_nodes_from([("g0", gpu_attrs("h100", 0, 0)), ("g1", gpu_attrs("h100", 1, 0))])
>>> G.add_edges_from(cable_edges("g0", "g1", default_catalog().links["ndr400"]))
>>> [link["a"] + "-" + link["b"] for link in explicit_spec(G)["links"]]
['g0-g1']
>>> print(spec_text(G, "json").splitlines()[1])
  "spec_version": 1,
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx
import yaml

from topologies.spec_common import GRAPH_KEYS, SPEC_VERSION, plain

__all__ = ["explicit_spec", "spec_text"]

_EDGE_CORE = ("bandwidth_bytes_per_s", "latency_s", "num_links", "link")


def spec_text(G: nx.DiGraph, fmt: str) -> str:
    """The text of ``G``'s explicit spec in ``fmt`` (``"yaml"`` or ``"json"``).

    YAML lists one node or link per line in flow style; JSON puts one node or link per line
    (diff-friendly, still one document).

    Raises
    ------
    ValueError
        If ``fmt`` is neither, or ``G`` cannot be written (:func:`explicit_spec`).
    """
    if fmt not in ("yaml", "json"):
        raise ValueError(f"fmt must be yaml or json, got {fmt!r}")
    data = explicit_spec(G)
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


def explicit_spec(G: nx.DiGraph) -> dict[str, Any]:
    """The explicit spec of ``G`` as a document: every node with all attributes, one entry per
    cable (see :func:`topologies.spec.save_spec` for the layout).

    Raises
    ------
    ValueError
        A node with an attribute named ``id``, an edge without its reverse, or a cable whose
        two directions have different attribute names.
    """
    data: dict[str, Any] = {"spec_version": SPEC_VERSION}
    for key in GRAPH_KEYS:
        if key in G.graph:
            data[key] = plain(G.graph[key])
    extra = {k: plain(v) for k, v in G.graph.items() if k not in GRAPH_KEYS}
    if extra:
        data["graph"] = extra
    nodes = []
    for n, attrs in G.nodes(data=True):
        if "id" in attrs:
            raise ValueError(f"cannot save node {n!r}: it has an attribute named 'id'")
        nodes.append({"id": n, **plain(attrs)})
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
                entry[key] = plain(forward[key])
        entry["latency_ab_s"] = plain(forward.get("latency_s"))
        entry["latency_ba_s"] = plain(backward.get("latency_s"))
        extra = {k: plain(v) for k, v in forward.items() if k not in _EDGE_CORE}
        if extra:
            entry["attrs"] = extra
        if set(forward) != set(backward):
            raise ValueError(
                f"cannot save cable {a!r} - {b!r}: its two directions have "
                f"different attribute names"
            )
        reverse = {
            k: plain(v) for k, v in backward.items() if k != "latency_s" and forward[k] != v
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
