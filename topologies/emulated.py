"""The small fabric of the emulated cluster: hosts on Linux bridges, one rank per host.

:class:`measure.emulate.EmulatedCluster` lays such a graph out on one machine (network
namespaces, veth pairs, bridges, ``tbf`` shaping) and runs MPI inside it, so that measured
collective times can be compared with the model's prediction for the very same graph. It is not
a topology family (:mod:`topologies.registry`): its hosts, bridges and veths are not catalog
models, so it is built only here.

>>> G = emulated_fabric("flat", num_hosts=2)
>>> sorted(G.nodes), G.graph["topology"]
(['leaf0', 'node0/gpu0', 'node1/gpu0'], 'emulated')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from fabric.catalog import default_catalog
from fabric.graph import FabricGraph, validate_graph

__all__ = [
    "EMULATED_TOPOLOGY",
    "EMULATED_KINDS",
    "DEFAULT_LINK_RATE_BYTES_PER_S",
    "DEFAULT_LATENCY_S",
    "MAX_HOSTS",
    "emulated_fabric",
]

#: ``G.graph["topology"]`` of an emulated fabric.
EMULATED_TOPOLOGY = "emulated"
#: The layouts :func:`emulated_fabric` builds.
EMULATED_KINDS = ("flat", "tree")
#: 200 Mbit/s: what a 2-core machine shapes with MTU 9000 while also running the ranks (measured
#: for :mod:`measure.emulate`; above it the CPU, not the shaping, sets the times).
DEFAULT_LINK_RATE_BYTES_PER_S = 25e6
#: No added latency: the veths' own is what there is.
DEFAULT_LATENCY_S = 0.0
#: Hosts per fabric (a /24 subnet, one address per host, and the bridges' port budget).
MAX_HOSTS = 64
_BRIDGE_RADIX = 64


def emulated_fabric(
    kind: str = "flat",
    *,
    num_hosts: int = 4,
    link_rate_bytes_per_s: float = DEFAULT_LINK_RATE_BYTES_PER_S,
    trunk_rate_bytes_per_s: float | None = None,
    latency_s: float = DEFAULT_LATENCY_S,
) -> nx.DiGraph:
    """A small fabric graph that :class:`measure.emulate.EmulatedCluster` can lay out.

    Parameters
    ----------
    kind : {"flat", "tree"}
        ``flat``: every host on one bridge ``leaf0``. ``tree``: two bridges ``leaf0`` and
        ``leaf1``, half the hosts on each, joined by one trunk.
    num_hosts : int
        Hosts, one rank each (2..64; even for ``tree``).
    link_rate_bytes_per_s : float
        Shaped rate of every host link, per direction.
    trunk_rate_bytes_per_s : float or None
        Shaped rate of the trunk per direction (``tree`` only); default half the link rate, so
        the trunk is oversubscribed ``num_hosts / 2 : 0.5`` (2 hosts per leaf: 4:1).
    latency_s : float
        ``latency_s`` of every edge (the path latency is the sum over its edges).

    Returns
    -------
    networkx.DiGraph
        Nodes ``node<i>/gpu0`` (kind ``gpu``, ``node=i``, ``local=0``, model ``emulated-host``)
        and ``leaf<j>`` (kind ``switch``, tier 1, model ``linux-bridge``, radix 64); two directed
        edges per cable with ``bandwidth_bytes_per_s``, ``latency_s``, ``num_links=1`` and
        ``link="veth"``. ``G.graph`` has ``topology="emulated"``, ``params`` and ``catalog``.

    Raises
    ------
    ValueError
        On an unknown ``kind``, too few or too many hosts, an odd host count for ``tree``, a
        non-positive rate or a negative latency.

    Examples
    --------
    >>> G = emulated_fabric("tree", num_hosts=4, link_rate_bytes_per_s=25e6)
    >>> G.number_of_nodes(), G.number_of_edges()
    (6, 10)
    >>> G["leaf0"]["leaf1"]["bandwidth_bytes_per_s"]
    12500000.0
    """
    if kind not in EMULATED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EMULATED_KINDS)}, got {kind!r}")
    if (not isinstance(num_hosts, int) or isinstance(num_hosts, bool)
            or not 2 <= num_hosts <= MAX_HOSTS):
        raise ValueError(f"num_hosts must be an integer in 2..{MAX_HOSTS}, got {num_hosts!r}")
    if kind == "tree" and num_hosts % 2:
        raise ValueError(f"num_hosts must be even for a tree (two equal leaves), got {num_hosts}")
    if not link_rate_bytes_per_s > 0:
        raise ValueError(f"link_rate_bytes_per_s must be > 0, got {link_rate_bytes_per_s!r}")
    if trunk_rate_bytes_per_s is None:
        trunk_rate_bytes_per_s = link_rate_bytes_per_s / 2
    if not trunk_rate_bytes_per_s > 0:
        raise ValueError(f"trunk_rate_bytes_per_s must be > 0, got {trunk_rate_bytes_per_s!r}")
    if not latency_s >= 0:
        raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
    num_leaves = 1 if kind == "flat" else 2
    per_leaf = num_hosts // num_leaves
    G = FabricGraph()
    G.graph.update(
        topology=EMULATED_TOPOLOGY,
        params={"kind": kind, "num_hosts": num_hosts,
                "link_rate_bytes_per_s": float(link_rate_bytes_per_s),
                "trunk_rate_bytes_per_s": float(trunk_rate_bytes_per_s) if kind == "tree" else None,
                "latency_s": float(latency_s)},
        catalog=default_catalog().version,
    )
    G.add_nodes_from(
        (f"node{i}/gpu0", {"kind": "gpu", "model": "emulated-host", "node": i, "local": 0})
        for i in range(num_hosts))
    G.add_nodes_from(
        (f"leaf{j}", {"kind": "switch", "tier": 1, "model": "linux-bridge",
                      "radix": _BRIDGE_RADIX})
        for j in range(num_leaves))
    G.add_edges_from(
        edge
        for i in range(num_hosts)
        for edge in _cable(f"node{i}/gpu0", f"leaf{i // per_leaf}", link_rate_bytes_per_s,
                           latency_s))
    if kind == "tree":
        G.add_edges_from(_cable("leaf0", "leaf1", trunk_rate_bytes_per_s, latency_s))
    return validate_graph(G)


def _cable(u: str, v: str, rate_bytes_per_s: float,
           latency_s: float) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Both directions of one veth cable between ``u`` and ``v``."""
    attrs = {"bandwidth_bytes_per_s": float(rate_bytes_per_s), "latency_s": float(latency_s),
             "num_links": 1, "link": "veth"}
    yield u, v, dict(attrs)
    yield v, u, dict(attrs)
