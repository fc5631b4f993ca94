"""Fabric builders, one module per family, each returning a validated ``nx.DiGraph``.

>>> sorted(FAMILIES)
['clos', 'fat-tree', 'rail-only', 'rail-optimized', 'single-hop']
>>> G = for_gpus("fat-tree", 100)  # the smallest k-ary fat-tree holding 100 GPUs: k=8
>>> G.graph["params"]["k"], sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")
(8, 128)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import networkx as nx

from fabric.catalog import default_catalog
from fabric.errors import InfeasibleError
from topologies.clos import clos
from topologies.common import ceil_div, check_int
from topologies.fat_tree import fat_tree
from topologies.rail import rail_only, rail_optimized
from topologies.single_hop import single_hop

__all__ = [
    "FAMILIES",
    "build",
    "for_gpus",
    "fat_tree",
    "clos",
    "rail_optimized",
    "rail_only",
    "single_hop",
]

FAMILIES: dict[str, Callable[..., nx.DiGraph]] = {
    "fat-tree": fat_tree,
    "clos": clos,
    "rail-optimized": rail_optimized,
    "rail-only": rail_only,
    "single-hop": single_hop,
}


def _builder(family: str) -> Callable[..., nx.DiGraph]:
    try:
        return FAMILIES[family]
    except (KeyError, TypeError):
        raise ValueError(f"unknown topology family {family!r}; known: "
                         f"{', '.join(sorted(FAMILIES))}") from None


def _check_params(family: str, builder: Callable[..., nx.DiGraph], params: dict[str, Any]) -> None:
    known = list(inspect.signature(builder).parameters)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {family}; known: "
                         f"{', '.join(known)}")


def build(family: str, **params: Any) -> nx.DiGraph:
    """Build a fabric of ``family`` (a key of :data:`FAMILIES`) from the builder's parameters.

    ``build(G.graph["topology"], **G.graph["params"])`` rebuilds a graph from its record.

    Raises
    ------
    ValueError
        Unknown family or parameter, or the builder's own ValueError / InfeasibleError.

    >>> build("single-hop", num_gpus=64).graph["topology"]
    'single-hop'
    """
    builder = _builder(family)
    _check_params(family, builder, params)
    return builder(**params)


def _default(builder: Callable[..., nx.DiGraph], name: str) -> Any:
    return inspect.signature(builder).parameters[name].default


def for_gpus(family: str, num_gpus: int, **params: Any) -> nx.DiGraph:
    """The smallest fabric of ``family`` holding at least ``num_gpus`` GPUs.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    num_gpus : int
        GPUs the fabric must hold (>= 1).
    **params
        The builder's keyword parameters (not its size: ``k``, ``num_gpus`` or ``num_nodes``).

    Returns
    -------
    nx.DiGraph
        fat-tree: the smallest even k with ``k**3 / 4 >= num_gpus`` and ``k / 2`` a multiple of
        ``gpus_per_node`` (one GPU per host port, capex §1.1); clos and single-hop: ``num_gpus``
        rounded up to whole servers; rail-optimized and rail-only: ``ceil(num_gpus /
        gpus_per_node)`` servers.

    Raises
    ------
    ValueError
        Unknown family or parameter, a size given in ``params``, bad values.
    InfeasibleError
        If the family cannot hold ``num_gpus`` GPUs with this switch; the message says what
        would (a larger radix, another family).
    """
    builder = _builder(family)
    num_gpus = check_int("num_gpus", num_gpus)
    size = next(iter(inspect.signature(builder).parameters))
    if size in params:
        raise ValueError(f"for_gpus picks {size} for {family}; do not pass it")
    _check_params(family, builder, params)
    gpus_per_node = check_int("gpus_per_node",
                              params.get("gpus_per_node", _default(builder, "gpus_per_node")))
    if family == "fat-tree":
        catalog = params.get("catalog") or default_catalog()
        switch = params.get("switch", _default(builder, "switch"))
        radix = catalog.switches[switch].radix
        k = 2 * gpus_per_node
        while k**3 // 4 < num_gpus:
            k += 2 * gpus_per_node
        if k > radix:
            largest = radix - radix % (2 * gpus_per_node)
            raise InfeasibleError(f"a fat-tree of {num_gpus} GPUs needs k >= {k}, but {switch} has "
                                  f"radix {radix} (at most {largest**3 // 4} GPUs); use a switch "
                                  f"with radix >= {k} or the clos family")
        return builder(k, **params)
    if family in ("rail-optimized", "rail-only"):
        return builder(ceil_div(num_gpus, gpus_per_node), **params)
    return builder(ceil_div(num_gpus, gpus_per_node) * gpus_per_node, **params)
