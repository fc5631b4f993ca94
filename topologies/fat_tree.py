"""The k-ary fat-tree of Al-Fares, Loukissas and Vahdat (SIGCOMM 2008)."""

from __future__ import annotations

import numbers

import networkx as nx

from fabric.catalog import Catalog
from fabric.gcpause import gc_paused
from fabric.graph import switch_attrs, validate_graph
from fabric.symmetry import record_swaps
from topologies.common import (
    add_gpus,
    add_upper_tiers,
    attach_gpus,
    check_int,
    clos_swaps,
    gpu_id,
    new_graph,
    plan_clos,
    resolve_hardware,
    unit_below,
)

__all__ = ["fat_tree"]


@gc_paused()
def fat_tree(
    k: int,
    *,
    switch: str = "qm9700",
    gpus_per_node: int = 1,
    scaleup: str | None = None,
    gpu: str = "h100",
    catalog: Catalog | None = None,
) -> nx.DiGraph:
    """Return the k-ary fat-tree of k-port switches with one GPU per host port.

    Parameters
    ----------
    k : int
        Ports per switch used by the tree; an even integer >= 2.
    switch : str
        Catalog switch model of every edge, aggregation and core switch; its radix must be >= k
        (ports beyond k stay unused) and its port link is every cable's link.
    gpus_per_node : int
        GPUs per server. A server's GPUs are consecutive hosts of one edge switch, so ``k / 2``
        must be a multiple of it.
    scaleup : str or None
        Catalog scale-up switch (e.g. ``"nvswitch-h100"``) joining each server's GPUs over NVLink;
        None for none.
    gpu : str
        Catalog GPU model.
    catalog : Catalog or None
        Hardware catalog; None for :func:`fabric.catalog.default_catalog`.

    Returns
    -------
    nx.DiGraph
        ``k**3 / 4`` GPUs, ``k**2 / 2`` edge switches ``"pod{p}/edge{e}"`` (tier 1),
        ``k**2 / 2`` aggregation switches ``"pod{p}/agg{a}"`` (tier 2) and ``(k / 2)**2`` core
        switches ``"core{i}"`` (tier 3); every switch uses exactly k ports.

        Node attributes: GPUs ``kind="gpu"``, ``model``, ``node``, ``local``, ``rail``
        (= ``local``), ``pod``; switches ``kind="switch"``, ``tier``, ``model``, ``radix``
        (the model's), ``pod`` (edge and aggregation); scale-up switches ``"node{n}/nvswitch"``
        (tier 0) carry ``node``.
        Edge attributes (one pair per cable bundle): ``bandwidth_bytes_per_s``, ``latency_s``
        (the cable plus the switch the edge enters), ``num_links`` (1 in the tree; the GPU's
        ``nvlink_num_links`` on NVLink edges), ``link``.
        ``G.graph``: ``topology="fat-tree"``, ``params``, ``catalog``.

    Raises
    ------
    ValueError
        If k is not an even integer >= 2, the switch radix is below k, ``k / 2`` is not a
        multiple of ``gpus_per_node``, or a catalog key is unknown.

    Notes
    -----
    Al-Fares et al. (SIGCOMM 2008, https://doi.org/10.1145/1402958.1402967):
    k pods of k/2 edge and k/2 aggregation switches, each edge
    switch serving k/2 hosts and reaching every aggregation switch of its pod; core switch i's
    port j goes to pod j, aggregation switch a of every pod reaching cores ``a * k/2`` to
    ``a * k/2 + k/2 - 1``. Totals: ``k**3/4`` hosts, ``5 k**2 / 4`` switches, ``k**3/4`` cables
    per layer. k=48 gives 27,648 hosts and 2,880 switches (not the 3,456 of a calculator page
    that counts k**2 edge plus aggregation switches).

    Examples
    --------
    >>> G = fat_tree(4)
    >>> sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")
    16
    >>> sum(1 for _, kind in G.nodes(data="kind") if kind == "switch")
    20
    >>> G.number_of_edges()  # 3 k**3 / 4 cables, two directions each
    96
    """
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 2 or k % 2:
        raise ValueError(f"k must be an even integer >= 2, got {k!r}")
    k = int(k)
    gpus_per_node = check_int("gpus_per_node", gpus_per_node)
    half = k // 2
    if half % gpus_per_node:
        raise ValueError(
            f"gpus_per_node must divide k/2 = {half} (a server's GPUs share one edge "
            f"switch), got {gpus_per_node}"
        )
    hw = resolve_hardware(
        catalog=catalog, switch=switch, gpu=gpu, scaleup=scaleup, gpus_per_node=gpus_per_node
    )
    radix = hw.switch.radix
    if radix < k:
        raise ValueError(
            f"switch {switch!r} has radix {radix}, too small for k={k}; its radix "
            f"allows k <= {radix - radix % 2}"
        )
    params = {
        "k": k,
        "switch": switch,
        "gpus_per_node": gpus_per_node,
        "scaleup": hw.scaleup.key if hw.scaleup else None,
        "gpu": gpu,
    }
    G = new_graph("fat-tree", params, hw)
    hosts_per_pod = half * half
    num_nodes = k * hosts_per_pod // gpus_per_node
    add_gpus(
        G, hw, num_nodes, gpus_per_node, lambda n, g: {"pod": n * gpus_per_node // hosts_per_pod}
    )
    edges = [f"pod{p}/edge{e}" for p in range(k) for e in range(half)]
    G.add_nodes_from(
        (leaf, switch_attrs(hw.switch, 1, pod=i // half)) for i, leaf in enumerate(edges)
    )
    attach_gpus(
        G,
        hw,
        (
            (gpu_id(host // gpus_per_node, host % gpus_per_node), leaf)
            for i, leaf in enumerate(edges)
            for host in range(i * half, (i + 1) * half)
        ),
    )
    plan = plan_clos(len(edges), half, k, tiers=3, what=f"fat-tree k={k}")
    aggs = add_upper_tiers(G, hw, plan, edges, spine_name="agg")
    below = [unit_below(hw, gpus_per_node, i * half, (i + 1) * half) for i in range(len(edges))]
    record_swaps(G, clos_swaps(plan, [edges], below, [aggs]))
    return validate_graph(G)
