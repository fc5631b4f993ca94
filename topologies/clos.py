"""Leaf-spine(-core) Clos fabrics with top-of-rack leaves and oversubscription at the leaf."""

from __future__ import annotations

import math
import numbers

import networkx as nx

from fabric.catalog import Catalog
from fabric.errors import InfeasibleError
from fabric.gcpause import gc_paused
from fabric.graph import switch_attrs, validate_graph
from fabric.symmetry import record_swaps
from topologies.common import (
    add_gpus,
    add_upper_tiers,
    attach_gpus,
    ceil_div,
    check_int,
    check_planes,
    clos_swaps,
    gpu_id,
    new_graph,
    plan_clos,
    plane_prefixes,
    resolve_hardware,
    unit_below,
)

__all__ = ["clos", "leaf_ports"]


def leaf_ports(radix: int, oversubscription: float, gpus_per_node: int) -> tuple[int, int]:
    """Down- and up-ports ``(d, u)`` of a leaf: ``d : u <= oversubscription``, ``d + u <= radix``.

    ``d`` is the largest multiple of ``gpus_per_node`` not above ``radix * r / (1 + r)`` and
    ``u = ceil(d / r)`` (k=64 gives 32/32 at 1:1, 48/16 at 3:1, 56/8 at 7:1). When
    not even one server fits (a 72-GPU NVL72 rack on a radix-64 leaf), ``d`` is the largest
    divisor of ``gpus_per_node`` below that bound and each server spans ``gpus_per_node / d``
    leaves.

    >>> leaf_ports(64, 3.0, 8)
    (48, 16)
    >>> leaf_ports(64, 1.0, 72)  # an NVL72 rack over 3 leaves of 24 GPUs
    (24, 24)
    """
    bound = math.floor(radix * oversubscription / (1 + oversubscription) + 1e-9)
    d = bound - bound % gpus_per_node
    if d < 1:
        d = max(x for x in range(1, max(1, bound) + 1) if gpus_per_node % x == 0)
    return d, math.ceil(d / oversubscription - 1e-9)


@gc_paused()
def clos(
    num_gpus: int,
    *,
    tiers: int | None = None,
    switch: str = "qm9700",
    oversubscription: float = 1.0,
    planes: int = 1,
    gpus_per_node: int = 8,
    scaleup: str | None = "auto",
    gpu: str = "h100",
    catalog: Catalog | None = None,
) -> nx.DiGraph:
    """Return a folded Clos (leaf-spine, or leaf-spine-core) of ``num_gpus`` GPUs.

    Parameters
    ----------
    num_gpus : int
        GPUs; a multiple of ``gpus_per_node``.
    tiers : int or None
        1 (one switch), 2 (leaf-spine) or 3 (leaf-spine-core); None for the fewest that fit.
    switch : str
        Catalog scale-out switch model of every tier; its port link is every cable's link.
    oversubscription : float
        Down-to-up port ratio r >= 1 at the leaves (spines and cores run 1:1).
    planes : int
        Independent scale-out planes, each a Clos of every GPU (its own leaves, spines and
        cores); every GPU has one port per plane at the switch's port rate, so a NIC of
        ``planes`` x that rate split into ``planes`` ports (Alibaba HPN's dual plane).
    gpus_per_node : int
        GPUs per server; a server's GPUs share one leaf (top of rack), or span several when
        one leaf cannot hold them (an NVL72 rack of 72 GPUs on radix-64 leaves: 3 leaves).
    scaleup : str or None
        Catalog scale-up switch per server (NVLink); None for none.
    gpu : str
        Catalog GPU model.
    catalog : Catalog or None
        Hardware catalog; None for the built-in one.

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{n}/gpu{g}"``; leaves ``"leaf{i}"`` (tier 1); spines ``"spine{j}"`` (2 tiers)
        or ``"pod{p}/spine{j}"`` (3 tiers, tier 2); cores ``"core{i}"`` (tier 3); scale-up
        switches ``"node{n}/nvswitch"`` (tier 0). With ``planes > 1`` every switch id of plane
        ``p`` starts ``"plane{p}/"`` and the switch carries ``plane=p``.

        Node attributes: GPUs ``kind="gpu"``, ``model``, ``node``, ``local``, ``rail``
        (= ``local``), ``pod`` (3 tiers); switches ``kind="switch"``, ``tier``, ``model``,
        ``radix``, ``pod`` (leaves and spines with 3 tiers), ``node`` (scale-up).
        Edge attributes: ``bandwidth_bytes_per_s``, ``latency_s`` (cable plus the switch
        entered), ``num_links`` (parallel cables), ``link``.
        ``G.graph``: ``topology="clos"``, ``params``, ``catalog``, ``planes``.

    Raises
    ------
    ValueError
        Bad sizes, ``oversubscription < 1``, ``tiers`` not 1, 2, 3 or None, unknown catalog keys.
    InfeasibleError
        If the GPUs do not fit the requested number of tiers (the message says what would).

    Notes
    -----
    Each leaf has ``d`` GPU ports and ``u`` uplinks with ``d : u <= r`` (:func:`leaf_ports`);
    ``ceil(num_gpus / d)`` leaves, the last possibly partial but with all ``u`` uplinks. 2 tiers:
    spines = the smallest divisor of ``u`` that gives the leaves' uplinks enough spine ports, each
    leaf reaching each spine over ``u / spines`` cables; up to ``radix * d`` GPUs (B200 SuperPOD:
    k=64 gives 2,048 GPUs / 64 leaves / 32 spines at 1:1, 3,072 / 16 spines at 3:1, 3,584 / 8
    spines at 7:1). 3 tiers: pods of ``radix / 2`` leaves and their spines, cores joining spine j of
    every pod (NVIDIA DGX SuperPOD B200 RA, 2024: k=64 and 4,096 GPUs give 128 / 128 / 64). See
    :func:`topologies.common.plan_clos`.

    Examples
    --------
    >>> G = clos(2048)  # QM9700, 1:1, 8 GPUs per node
    >>> sorted(n for n, d in G.nodes(data=True) if d.get("tier") == 2)[:2]
    ['spine0', 'spine1']
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("tier") in (1, 2))
    96
    """
    num_gpus = check_int("num_gpus", num_gpus)
    gpus_per_node = check_int("gpus_per_node", gpus_per_node)
    planes = check_planes(planes)
    if num_gpus % gpus_per_node:
        raise ValueError(
            f"num_gpus must be a multiple of gpus_per_node={gpus_per_node}, got {num_gpus}"
        )
    if tiers is not None and (
        not isinstance(tiers, numbers.Integral) or isinstance(tiers, bool) or tiers not in (1, 2, 3)
    ):
        raise ValueError(f"tiers must be 1, 2, 3 or None, got {tiers!r}")
    if (
        not isinstance(oversubscription, numbers.Real)
        or isinstance(oversubscription, bool)
        or not math.isfinite(oversubscription)
        or oversubscription < 1
    ):
        raise ValueError(
            f"oversubscription must be a number >= 1 (down:up ports at the leaf), "
            f"got {oversubscription!r}"
        )
    hw = resolve_hardware(
        catalog=catalog, switch=switch, gpu=gpu, scaleup=scaleup, gpus_per_node=gpus_per_node
    )
    radix = hw.switch.radix
    if tiers == 1 or (tiers is None and num_gpus <= radix - radix % gpus_per_node):
        down, up = radix - radix % gpus_per_node, 0
        if num_gpus > down:
            raise InfeasibleError(
                f"one radix-{radix} switch holds at most {down} GPUs, got "
                f"num_gpus={num_gpus}; use tiers=2 or None"
            )
    else:
        down, up = leaf_ports(radix, float(oversubscription), gpus_per_node)
    num_leaves = ceil_div(num_gpus, down)
    plan = plan_clos(
        num_leaves, up, radix, tiers=1 if up == 0 else tiers, what=f"a Clos of {num_gpus} GPUs"
    )
    params = {
        "tiers": tiers,
        "switch": switch,
        "oversubscription": oversubscription,
        "planes": planes,
        "gpus_per_node": gpus_per_node,
        "scaleup": hw.scaleup.key if hw.scaleup else None,
        "gpu": gpu,
    }
    G = new_graph("clos", {"num_gpus": num_gpus, **params}, hw)
    leaf_pod = plan.leaves_per_pod

    def leaf_of(n: int, g: int) -> int:  # down is a multiple or a divisor of gpus_per_node
        return (n * gpus_per_node + g) // down


    def pod_of(leaf: int) -> dict[str, int]:
        return {"pod": leaf // leaf_pod} if plan.tiers == 3 else {}

    num_nodes = num_gpus // gpus_per_node
    add_gpus(G, hw, num_nodes, gpus_per_node, lambda n, g: pod_of(leaf_of(n, g)))
    G.graph["planes"] = planes
    leaves_by_plane, spines_by_plane = [], []
    for prefix, plane in plane_prefixes(planes):
        leaves = [f"{prefix}leaf{i}" for i in range(num_leaves)]
        leaves_by_plane.append(leaves)
        G.add_nodes_from(
            (leaf, switch_attrs(hw.switch, 1, **pod_of(i), **plane))
            for i, leaf in enumerate(leaves)
        )
        attach_gpus(
            G,
            hw,
            (
                (gpu_id(n, g), leaves[leaf_of(n, g)])
                for n in range(num_nodes)
                for g in range(gpus_per_node)
            ),
            per_gpu=planes,
        )
        spines_by_plane.append(add_upper_tiers(G, hw, plan, leaves, prefix=prefix,
                                               indices=plane))
    below = [unit_below(hw, gpus_per_node, leaf * down, min((leaf + 1) * down, num_gpus))
             for leaf in range(num_leaves)]
    record_swaps(G, clos_swaps(plan, leaves_by_plane, below, spines_by_plane))
    return validate_graph(G)
