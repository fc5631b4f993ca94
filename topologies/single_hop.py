"""Single-hop fabrics: every GPU one switch away from every other, over parallel planes."""

from __future__ import annotations

import networkx as nx

from fabric.catalog import Catalog
from fabric.errors import InfeasibleError
from fabric.gcpause import gc_paused
from fabric.graph import switch_attrs, validate_graph
from topologies.common import add_gpus, attach_gpus, check_int, gpu_id, new_graph, resolve_hardware

__all__ = ["single_hop"]


@gc_paused()
def single_hop(
    num_gpus: int,
    *,
    planes: int = 1,
    switch: str = "th6-200",
    gpus_per_node: int = 8,
    scaleup: str | None = "auto",
    gpu: str = "h100",
    catalog: Catalog | None = None,
) -> nx.DiGraph:
    """Return a single-hop fabric: ``planes`` switches, each cabled to every GPU.

    Parameters
    ----------
    num_gpus : int
        GPUs; at most the switch radix, and a multiple of ``gpus_per_node``.
    planes : int
        Parallel planes (one switch each); every GPU has one NIC port per plane.
    switch : str
        Catalog scale-out switch model of every plane.
    gpus_per_node : int
        GPUs per server.
    scaleup : str or None
        Catalog scale-up switch per server (NVLink); None for none.
    gpu : str
        Catalog GPU model.
    catalog : Catalog or None
        Hardware catalog; None for the built-in one.

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{n}/gpu{g}"``; plane switches ``"plane{p}"`` (tier 1); scale-up switches
        ``"node{n}/nvswitch"`` (tier 0).

        Node attributes: GPUs ``kind="gpu"``, ``model``, ``node``, ``local``, ``rail``
        (= ``local``); plane switches ``kind="switch"``, ``tier=1``, ``model``, ``radix``,
        ``plane``. Edge attributes: ``bandwidth_bytes_per_s``, ``latency_s`` (cable plus the
        switch entered), ``num_links`` (1 per plane), ``link``. ``G.graph``:
        ``topology="single-hop"``, ``params``, ``catalog``.

    Raises
    ------
    ValueError
        Bad sizes, ``planes < 1``, ``num_gpus`` not a multiple of ``gpus_per_node``, unknown
        catalog keys.
    InfeasibleError
        If ``num_gpus`` exceeds the switch radix.

    Notes
    -----
    A true single hop traverses one switch chip, so a plane holds at most ``radix``
    GPUs and the per-GPU scale-out bandwidth is ``planes`` x the port rate (Tomahawk 6 as
    512 x 200G: 512 GPUs per plane; NVL72 is the NVLink case with 18 planes of 72 ports). Domains
    of 1k-2k GPUs need the largest radix: Tomahawk 6 as 1,024 x 100G (``th6-100``) or an
    announced multi-chip co-packaged-optics box as 2,048 x 200G (``sn6800-200``, catalog
    ``status = "announced"``: its figures are assumptions, override them with ``--catalog``).

    Examples
    --------
    >>> G = single_hop(512, planes=2)
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("tier") == 1)
    2
    >>> G.out_degree("node0/gpu0")  # two planes + its NVSwitch
    3
    """
    num_gpus = check_int("num_gpus", num_gpus)
    planes = check_int("planes", planes)
    gpus_per_node = check_int("gpus_per_node", gpus_per_node)
    if num_gpus % gpus_per_node:
        raise ValueError(
            f"num_gpus must be a multiple of gpus_per_node={gpus_per_node}, got {num_gpus}"
        )
    hw = resolve_hardware(
        catalog=catalog, switch=switch, gpu=gpu, scaleup=scaleup, gpus_per_node=gpus_per_node
    )
    radix = hw.switch.radix
    if num_gpus > radix:
        larger = sorted(
            (m.radix, m.key, m.status)
            for m in hw.catalog.switches.values()
            if m.tier_kind == "scale-out" and m.radix >= num_gpus
        )
        names = ", ".join(
            f"{key} ({r}{', announced' if status == 'announced' else ''})"
            for r, key, status in larger
        )
        raise InfeasibleError(
            f"single-hop for {num_gpus} GPUs needs a switch radix >= "
            f"{num_gpus}; {switch} has {radix}: use at most {radix} GPUs per "
            f"single-hop domain or a switch with a larger radix"
            + (f" (catalog: {names})" if names else " (none in the catalog; add one with "
               "--catalog)")
        )
    params = {
        "num_gpus": num_gpus,
        "planes": planes,
        "switch": switch,
        "gpus_per_node": gpus_per_node,
        "scaleup": hw.scaleup.key if hw.scaleup else None,
        "gpu": gpu,
    }
    G = new_graph("single-hop", params, hw)
    num_nodes = num_gpus // gpus_per_node
    add_gpus(G, hw, num_nodes, gpus_per_node)
    switches = [f"plane{p}" for p in range(planes)]
    G.add_nodes_from((s, switch_attrs(hw.switch, 1, plane=p)) for p, s in enumerate(switches))
    attach_gpus(
        G,
        hw,
        (
            (gpu_id(n, g), s)
            for n in range(num_nodes)
            for g in range(gpus_per_node)
            for s in switches
        ),
        per_gpu=planes,
    )
    return validate_graph(G)
