"""A user's own cluster as a spec file: YAML, JSON or GraphML.

This module is the face of spec files: :func:`load_spec`, :func:`dump_spec`, :func:`save_spec`
and :func:`load_topology`. The YAML/JSON format is described below; :mod:`topologies.spec_read`
reads it, :mod:`topologies.spec_write` writes it and :mod:`topologies.graphml` does both for
``.graphml`` files (all three share :mod:`topologies.spec_common`).

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

from pathlib import Path
from typing import Any

import networkx as nx

from fabric.catalog import Catalog
from fabric.fileio import atomic_write_text
from topologies.graphml import graphml_text, parse_graphml
from topologies.registry import FAMILIES, build
from topologies.spec_common import (
    FORMATS,
    SPEC_SUFFIXES,
    SPEC_VERSION,
    SpecError,
    resolve_catalog,
    spec_format,
)
from topologies.spec_read import parse_spec
from topologies.spec_write import spec_text

__all__ = [
    "FORMATS",
    "SPEC_SUFFIXES",
    "SPEC_VERSION",
    "SpecError",
    "load_spec",
    "dump_spec",
    "save_spec",
    "load_topology",
    "spec_format",
]


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
    cat = resolve_catalog(catalog)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"cannot read spec file: {err.strerror or err}", path=str(path)) from err
    if fmt == "graphml":
        return parse_graphml(path, raw, cat)
    return parse_spec(path, raw, fmt, cat)


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
    >>> import yaml
    >>> cable = yaml.safe_load(text)["links"][0]
    >>> cable["num_links"], cable["bandwidth_bytes_per_s"], cable["latency_ab_s"]
    (1, 50000000000.0, 5e-08)
    """
    fmt = spec_format("", format)
    if fmt == "graphml":
        return graphml_text(G)
    return spec_text(G, fmt)


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
    if text in FAMILIES:
        return build(text, **given, catalog=resolve_catalog(catalog))
    if path.suffix.lower() in SPEC_SUFFIXES:
        if path.is_dir():
            raise ValueError(f"spec file {text!r} is a folder; give the file inside it")
        raise ValueError(f"spec file {text!r} not found")
    raise ValueError(
        f"topology must be a spec file ({', '.join(SPEC_SUFFIXES)}) or a "
        f"family ({', '.join(FAMILIES)}), got {text!r}"
    )
