"""Fabric builders, one module per family, each returning a validated ``nx.DiGraph``.

The families and their options are recorded once, in :mod:`topologies.registry`;
:func:`build` and :func:`for_gpus` build one by name. :mod:`topologies.spec` reads and writes
a user's own cluster as a spec file. :mod:`topologies.generic` and :mod:`topologies.emulated`
build the two fabrics that are not families: the generic two-level fabric of a benchmark log
and the small fabric of the emulated cluster.

>>> sorted(FAMILIES)
['clos', 'fat-tree', 'rail-only', 'rail-optimized', 'single-hop']
>>> G = for_gpus("fat-tree", 100)  # the smallest k-ary fat-tree holding 100 GPUs: k=8
>>> G.graph["params"]["k"], sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")
(8, 128)
>>> FAMILIES["clos"].size_parameter, family("rail-only").options["gpus_per_node"].default
('num_gpus', 8)
"""

from __future__ import annotations

from topologies.clos import clos
from topologies.fat_tree import fat_tree
from topologies.rail import rail_only, rail_optimized
from topologies.registry import FAMILIES, Family, FamilyOption, build, family, for_gpus
from topologies.single_hop import single_hop

__all__ = [
    "FAMILIES",
    "Family",
    "FamilyOption",
    "family",
    "build",
    "for_gpus",
    "fat_tree",
    "clos",
    "rail_optimized",
    "rail_only",
    "single_hop",
]
