"""Rail-aligned fabrics: NVIDIA's rail-optimized SuperPOD and Wang et al.'s rail-only network."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import networkx as nx

from fabric.catalog import Catalog
from fabric.errors import InfeasibleError
from fabric.gcpause import gc_paused
from fabric.graph import switch_attrs, validate_graph
from fabric.symmetry import record_swaps
from topologies.common import (
    ClosPlan,
    Hardware,
    add_gpus,
    add_upper_tiers,
    adjacent_swaps,
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

__all__ = ["rail_optimized", "rail_only"]


@dataclass(frozen=True, slots=True)
class _LeafPorts:
    """A leaf's ports: ``radix`` at its own rate, uplinks at ``ratio`` times that rate.

    ``fixed`` is the uplink count asked for (``leaf_uplinks``), None to choose it.
    """

    radix: int
    ratio: float = 1.0
    fixed: int | None = None

    def most_uplinks(self, su_size: int) -> int:
        """Uplinks the bandwidth left after ``su_size`` server ports holds."""
        return math.floor((self.radix - su_size) / self.ratio + 1e-9)

    def candidates(self, su_size: int) -> range:
        """Uplink counts to try: ``fixed``, else from 1:1 in bandwidth up to what the leaf
        holds, at most twice the 1:1 count."""
        if self.fixed is not None:
            return range(self.fixed, self.fixed + 1)
        least = math.ceil(su_size / self.ratio - 1e-9)
        return range(least, min(self.most_uplinks(su_size), 2 * least) + 1)


def _rail_plan(num_sus: int, gpus_per_node: int, su_size: int, leaf: _LeafPorts, radix: int,
               what: str) -> ClosPlan:
    """The Clos plan of ``num_sus`` scalable units' leaves (pods of whole SUs where they fit).

    ``radix`` is the spines' and cores' (the uplink switch's). A leaf has ``su_size`` server
    ports and ``u`` uplinks, 1:1 or better in bandwidth (``su_size <= u <= leaf radix -
    su_size`` at one port rate). ``u`` is the count that needs the fewest spines and cores, the
    fewest uplinks among equals: ``su_size`` itself when its divisors spread the leaves evenly
    over the spines (32, 64, 72), else a neighbour (31 is prime: 31 uplinks would need 31
    spines, 32 need 4, as the H100 RA's 31-node unit has). Candidates stop at twice the 1:1
    count; ``leaf.fixed`` is the only candidate where given.
    """
    half = radix // 2
    su_leaves = gpus_per_node if gpus_per_node <= half else 1
    best: ClosPlan | None = None
    error = InfeasibleError(f"{what}: su_size={su_size} leaves no uplink port on radix "
                            f"{leaf.radix}")
    first_error = True
    for uplinks in leaf.candidates(su_size):
        try:
            plan = plan_clos(
                num_sus * gpus_per_node,
                uplinks,
                radix,
                max_leaves_per_pod=half - half % su_leaves,
                pod_multiple=su_leaves,
                what=what,
            )
        except InfeasibleError as err:
            if first_error:  # the 1:1 plan's reason is the one to report
                error, first_error = err, False
            continue
        if best is None or plan.num_spines + plan.num_cores < best.num_spines + best.num_cores:
            best = plan
    if best is None:
        raise error
    return best


def _what_fits(
    hw: Hardware, up: Hardware, leaf: _LeafPorts, num_sus: int, gpus_per_node: int,
    su_size: int, first: int
) -> str:
    """Why a rail-optimized fabric of ``num_sus`` SUs does not fit, and what does: the most
    nodes the switches hold in 3 tiers, and the catalog's larger-radix scale-out switches that
    hold all of them (the model builds at most 3 switch tiers above the servers). With a
    separate uplink switch (``up`` is not ``hw``) the larger ones offered are uplink switches
    of its port rate; else switches for every tier."""
    separate = up.switch.key != hw.switch.key

    def fits(sus: int, radix: int) -> bool:
        ports = leaf if separate else _LeafPorts(radix, leaf.ratio, leaf.fixed)
        try:
            _rail_plan(sus, gpus_per_node, su_size, ports, radix, "")
        except InfeasibleError:
            return False
        return True

    radix = up.switch.radix
    low, high = 1, num_sus  # fits(low) (one SU always does), not fits(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid, radix) else (low, mid)
    most = first + (low - 1) * su_size
    larger = sorted(
        (m.radix, m.key)
        for m in hw.catalog.switches.values()
        if m.tier_kind == "scale-out" and m.radix > radix
        and (m.port_link == up.switch.port_link if separate else su_size <= m.radix // 2)
        and fits(num_sus, m.radix)
    )
    named = f"{hw.switch.key} leaves under {up.switch.key}" if separate else hw.switch.key
    held = (
        f"3 tiers of {named} (radix {radix}) hold at most {most:,} nodes of "
        f"{gpus_per_node} GPUs at su_size={su_size}; more needs a 4th switch tier, which "
        f"these builders do not build"
    )
    if not larger:
        return f"{held}; no switch of the catalog holds them in 3 tiers"
    names = ", ".join(f"{key} (radix {r})" for r, key in larger)
    kind = "uplink switches" if separate else "switches"
    return f"{held}; {kind} of the catalog that hold them in 3 tiers: {names}"


def _uplink_hardware(hw: Hardware, uplink_switch: str | None) -> Hardware:
    """``hw`` with the spines' and cores' switch: ``uplink_switch`` (a scale-out model whose
    ports run at least at the leaf's rate), or ``hw`` itself."""
    if uplink_switch is None or uplink_switch == hw.switch.key:
        return hw
    model = hw.catalog.switches[uplink_switch]
    if model.tier_kind != "scale-out":
        raise ValueError(f"uplink_switch must be a scale-out switch model, got "
                         f"{uplink_switch!r} (tier_kind {model.tier_kind!r})")
    link = hw.catalog.links[model.port_link]
    if link.bandwidth_bytes_per_s < hw.link.bandwidth_bytes_per_s:
        raise ValueError(
            f"uplink_switch {uplink_switch!r} runs {link.key} ports, slower than the leaves' "
            f"{hw.link.key}; leaf uplinks at least as fast as their server ports are accepted "
            f"(for slower ones, name the leaf switch in that port mode)"
        )
    return dataclasses.replace(hw, switch=model, link=link)


@gc_paused()
def rail_optimized(
    num_nodes: int,
    *,
    gpus_per_node: int = 8,
    su_size: int = 32,
    switch: str = "qm9700",
    reserved_leaf_ports: int = 0,
    planes: int = 1,
    uplink_switch: str | None = None,
    leaf_uplinks: int | None = None,
    scaleup: str | None = "auto",
    gpu: str = "h100",
    catalog: Catalog | None = None,
) -> nx.DiGraph:
    """Return a rail-optimized fabric of ``num_nodes`` servers in scalable units (DGX SuperPOD).

    Parameters
    ----------
    num_nodes : int
        Servers (DGX systems).
    gpus_per_node : int
        GPUs per server = rails: GPU (and NIC) ``r`` of every server is on rail ``r``.
    su_size : int
        Server slots per scalable unit (SU); at most ``radix / 2`` (leaves run 1:1).
    switch : str
        Catalog scale-out switch model of leaves, spines and cores.
    reserved_leaf_ports : int
        Leaf down-ports held in SU 0 for management appliances (UFM: 4 in NVIDIA's H100 RA).
        Port ``j`` sits on rail leaf ``j mod gpus_per_node`` in a server slot of its own, so they
        take ``ceil(reserved_leaf_ports / gpus_per_node)`` server slots from SU 0. They are not
        graph edges: leaves record them as ``reserved_ports`` and ``G.graph`` as
        ``reserved_leaf_ports`` (the total over planes).
    planes : int
        Independent scale-out planes, each a rail-optimized fabric of every server (its own
        leaves, spines and cores): every GPU has one port per plane at ``switch``'s port rate, a
        NIC of ``planes`` x that rate split into ``planes`` ports. The DGX B300 SuperPOD on
        Spectrum-X is ``planes=2`` of ``sn5600-400``: an 800G ConnectX-8 as 2 x 400G
        ("twin-planar"), so each plane's leaves have 128 ports and hold a 64-node unit.
    uplink_switch : str or None
        Catalog scale-out switch of the spines and cores, whose port rate the leaves' uplinks
        run at; None for ``switch``. It may be faster than the leaves' server ports: a leaf
        chip of ``radix`` ports at its own rate then spends ``rate ratio`` of them per uplink
        (Alibaba HPN's 51.2 Tb/s ToR: 128 x 200G down, 60 x 400G up, ``switch="th5-200"``,
        ``uplink_switch="th5-400"``). Slower uplinks are refused.
    leaf_uplinks : int or None
        Uplinks per leaf, at most what the leaf's bandwidth left after ``su_size`` server
        ports holds; None for the count from 1:1 up that needs the fewest spines and cores.
        Fewer than 1:1 oversubscribe the leaves (HPN's 60 x 400G over 128 x 200G, 1.067:1).
    scaleup : str or None
        Catalog scale-up switch per server (NVLink); None for none.
    gpu : str
        Catalog GPU model.
    catalog : Catalog or None
        Hardware catalog; None for the built-in one.

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{n}/gpu{g}"``; one leaf ``"su{s}/leaf{r}"`` per rail per SU (tier 1) per
        plane (with ``planes > 1`` every switch id of plane ``p`` starts ``"plane{p}/"`` and the
        switch carries ``plane=p``);
        spines ``"spine{j}"`` while the leaves fit one spine layer (at most ``radix`` leaves
        of the uplink switch),
        else pods of whole SUs with spines ``"pod{p}/spine{j}"`` (tier 2) and cores ``"core{i}"``
        (tier 3); scale-up switches ``"node{n}/nvswitch"`` (tier 0).

        Node attributes: GPUs ``kind="gpu"``, ``model``, ``node``, ``local``, ``rail``
        (= ``local``), ``su``, ``pod`` (3 tiers); leaves ``kind="switch"``, ``tier``, ``model``,
        ``radix``, ``su``, ``rail``, ``reserved_ports``, ``pod`` (3 tiers),
        ``uplink_extra_ports`` (with uplinks faster than the leaf's ports: the leaf ports they
        take beyond one each, 60 for HPN's 60 x 400G on a 200G-port ToR); spines ``pod``
        (3 tiers). Edge attributes: ``bandwidth_bytes_per_s``, ``latency_s`` (cable plus the
        switch entered), ``num_links`` (parallel cables), ``link``. ``G.graph``:
        ``topology="rail-optimized"``, ``params``, ``catalog``, ``reserved_leaf_ports``,
        ``planes``.

    Raises
    ------
    ValueError
        Bad sizes, ``su_size > radix / 2``, reserved ports that leave SU 0 no server slot,
        unknown catalog keys, an uplink switch slower than the leaves' ports, more
        ``leaf_uplinks`` than the leaf holds.
    InfeasibleError
        If the leaves exceed what 3 tiers of the switch hold; the message says how many nodes
        they hold and which scale-out switches of the catalog hold them all in 3 tiers (131,072
        GPUs of 8-GPU servers need a radix-128 switch).

    Notes
    -----
    NVIDIA DGX SuperPOD H100 RA (2023,
    https://docs.nvidia.com/dgx-superpod/reference-architecture-scalable-infrastructure-h100/latest/network-fabrics.html):
    SUs of 32 DGX, rail ``r`` of every server of an SU
    on leaf ``r`` of the SU, leaves 1:1 with ``su_size`` uplinks each; spines = the smallest
    divisor ``s`` of ``su_size`` with ``s * radix >= leaves * su_size``, so every leaf reaches
    every spine over ``su_size / s`` cables. RA Table 4 (1-4 SU, 4 UFM ports): 31 / 63 / 95 / 127
    nodes, 8 / 16 / 24 / 32 leaves, 4 / 8 / 16 / 16 spines, 252 / 508 / 764 / 1,020 node-leaf
    cables including UFM, 256 / 512 / 768 / 1,024 spine-leaf cables. Beyond ``radix`` leaves a
    core tier joins pods of whole SUs (NVIDIA DGX SuperPOD B200 RA, 2024: 16 SU -> 128 / 128 / 64,
    64 SU -> 512 / 512 / 256).

    A leaf's uplinks are the count from ``su_size`` up that needs the fewest spines (see
    ``_rail_plan``): ``su_size=31`` (the H100 RA's 31-node unit) gets 32 uplinks and 4 spines
    per SU, not 31. DGX SuperPOD B300 RAs (NVIDIA, 2025): Spectrum-X twin-planar, 64-node SU,
    ``planes=2`` of ``sn5600-400``: 1 / 2 / 4 / 8 / 16 SU -> 16 / 32 / 64 / 128 / 256 leaves and
    8 / 16 / 32 / 64 / 128 spines (https://docs.nvidia.com/dgx-superpod/reference-architecture/
    scalable-infrastructure-b300/latest/dgx-superpod-architecture.html, Table 3); Quantum-X800,
    72-node SU of ``q3400``: 1 / 2 / 4 / 8 / 18 SU -> 8 / 16 / 32 / 64 / 144 leaves and
    4 / 8 / 18 / 36 / 72 spines (.../scalable-infrastructure-b300-xdr/latest/
    dgx-superpod-architecture.html, Table 3).

    Alibaba HPN (Qian et al., SIGCOMM 2024, https://doi.org/10.1145/3651890.3672265): a pod
    of 15 segments of 128 dual-plane hosts, each ToR 128 x 200G down (plus 8 backup ports)
    and 60 x 400G up to the 60 aggregation switches of its plane (120 per pod, 120 x 400G
    down each) is ``rail_optimized(1920, su_size=128, planes=2, switch="th5-200",
    uplink_switch="th5-400", leaf_uplinks=60)``: 240 ToRs, 120 aggregation switches.

    Examples
    --------
    >>> G = rail_optimized(31, reserved_leaf_ports=4)  # 1 SU of DGX H100 with UFM
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("tier") == 1)
    8
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("tier") == 2)
    4
    >>> sum(1 for _, d in G.nodes(data=True) if d["kind"] == "gpu") + G.graph["reserved_leaf_ports"]
    252
    """
    num_nodes = check_int("num_nodes", num_nodes)
    gpus_per_node = check_int("gpus_per_node", gpus_per_node)
    su_size = check_int("su_size", su_size)
    reserved = check_int("reserved_leaf_ports", reserved_leaf_ports, minimum=0)
    planes = check_planes(planes)
    hw = resolve_hardware(
        catalog=catalog, switch=switch, gpu=gpu, scaleup=scaleup, gpus_per_node=gpus_per_node
    )
    radix = hw.switch.radix
    if su_size > radix // 2:
        fits = sorted(
            (m.radix, m.key)
            for m in hw.catalog.switches.values()
            if m.tier_kind == "scale-out" and m.radix >= 2 * su_size
        )
        names = ", ".join(f"{key} ({r})" for r, key in fits[:6]) or "none in the catalog"
        raise ValueError(
            f"su_size must be <= radix/2 = {radix // 2} (1:1 leaves of {switch!r}), got "
            f"{su_size}; a larger unit needs a switch of radix >= {2 * su_size} ({names}), "
            f"e.g. the same chip at a lower port rate with --planes (an 800G NIC as 2 x 400G "
            f"planes: each plane's leaves have twice the ports)"
        )
    held_slots = ceil_div(reserved, gpus_per_node)
    first = su_size - held_slots
    if first < 1:
        raise ValueError(
            f"reserved_leaf_ports must leave SU 0 at least one server slot "
            f"(<= {(su_size - 1) * gpus_per_node}), got {reserved}"
        )
    up = _uplink_hardware(hw, uplink_switch)
    leaf = _LeafPorts(radix, up.link.bandwidth_bytes_per_s / hw.link.bandwidth_bytes_per_s)
    if leaf_uplinks is not None:
        most = leaf.most_uplinks(su_size)
        leaf_uplinks = check_int("leaf_uplinks", leaf_uplinks)
        if leaf_uplinks > most:
            raise ValueError(
                f"leaf_uplinks must be <= {most}: a {switch} leaf (radix {radix}, "
                f"{hw.link.key}) with su_size={su_size} server ports has bandwidth left for "
                f"{most} uplinks of {up.link.key}, got {leaf_uplinks}"
            )
        leaf = dataclasses.replace(leaf, fixed=leaf_uplinks)
    params = {
        "num_nodes": num_nodes,
        "gpus_per_node": gpus_per_node,
        "su_size": su_size,
        "switch": switch,
        "reserved_leaf_ports": reserved,
        "planes": planes,
        "scaleup": hw.scaleup.key if hw.scaleup else None,
        "gpu": gpu,
    }
    # only when set, so that the params (and fingerprints) of other builds stay as they were
    if up is not hw:
        params["uplink_switch"] = up.switch.key
    if leaf_uplinks is not None:
        params["leaf_uplinks"] = leaf_uplinks
    num_sus = 1 + ceil_div(max(0, num_nodes - first), su_size)
    # one unit, not full: its leaves' uplinks for the server slots in use (and held), not for
    # 32 servers (one server's 8 leaves bought 32 uplinks each and 4 spines)
    in_use = su_size if num_sus > 1 or leaf.fixed is not None else min(su_size,
                                                                       num_nodes + held_slots)
    try:  # pods of whole SUs where they fit
        plan = _rail_plan(num_sus, gpus_per_node, in_use, leaf, up.switch.radix,
                          f"a rail-optimized fabric of {num_nodes} nodes")
    except InfeasibleError as err:
        raise InfeasibleError(
            f"{err}: {_what_fits(hw, up, leaf, num_sus, gpus_per_node, su_size, first)}"
        ) from err

    def su_of(n: int) -> int:
        return 0 if n < first else 1 + (n - first) // su_size

    def indices(n: int, g: int) -> dict[str, int]:
        su = su_of(n)
        if plan.tiers == 3:
            return {"su": su, "pod": (su * gpus_per_node + g) // plan.leaves_per_pod}
        return {"su": su}

    G = new_graph("rail-optimized", params, hw)
    G.graph["reserved_leaf_ports"] = reserved * planes
    G.graph["planes"] = planes
    add_gpus(G, hw, num_nodes, gpus_per_node, indices)

    # a faster uplink takes several of the leaf's own ports (lanes): the summary counts them
    wide = math.ceil(plan.uplinks_per_leaf * leaf.ratio - 1e-9) - plan.uplinks_per_leaf
    extra = {"uplink_extra_ports": wide} if wide > 0 else {}

    def leaf_attrs(i: int, plane: dict[str, int]) -> dict[str, object]:
        s, r = divmod(i, gpus_per_node)
        held = (reserved - r + gpus_per_node - 1) // gpus_per_node if s == 0 else 0
        pod = {"pod": i // plan.leaves_per_pod} if plan.tiers == 3 else {}
        return switch_attrs(hw.switch, 1, su=s, rail=r, reserved_ports=held, **pod, **plane,
                            **extra)

    leaves_by_plane, spines_by_plane = [], []
    for prefix, plane in plane_prefixes(planes):
        leaves = [f"{prefix}su{s}/leaf{r}" for s in range(num_sus) for r in range(gpus_per_node)]
        leaves_by_plane.append(leaves)
        G.add_nodes_from((leaf, leaf_attrs(i, plane)) for i, leaf in enumerate(leaves))
        attach_gpus(
            G,
            hw,
            (
                (gpu_id(n, g), leaves[su_of(n) * gpus_per_node + g])
                for n in range(num_nodes)
                for g in range(gpus_per_node)
            ),
            per_gpu=planes,
        )
        spines_by_plane.append(add_upper_tiers(G, up, plan, leaves, prefix=prefix,
                                               indices=plane, leaf_latency_s=hw.switch.latency_s))
    # symmetries: scalable units (their rail leaves and servers) and rails
    servers = [range(0, min(first, num_nodes))] + [
        range(first + (s - 1) * su_size, min(first + s * su_size, num_nodes))
        for s in range(1, num_sus)]
    below = [unit_below(hw, gpus_per_node, nodes.start * gpus_per_node,
                        nodes.stop * gpus_per_node) for nodes in servers]
    swaps = clos_swaps(plan, leaves_by_plane, below, spines_by_plane,
                       leaves_per_unit=gpus_per_node)
    swaps += adjacent_swaps([
        [plane[s * gpus_per_node + r] for plane in leaves_by_plane for s in range(num_sus)]
        + [gpu_id(n, r) for n in range(num_nodes)]
        for r in range(gpus_per_node)])
    record_swaps(G, swaps)
    return validate_graph(G)


@gc_paused()
def rail_only(
    num_nodes: int,
    *,
    gpus_per_node: int = 8,
    switch: str = "qm9700",
    scaleup: str = "auto",
    gpu: str = "h100",
    catalog: Catalog | None = None,
) -> nx.DiGraph:
    """Return a rail-only fabric: one independent Clos per rail and no spine between rails.

    Parameters
    ----------
    num_nodes : int
        Servers (each one NVLink / high-bandwidth domain).
    gpus_per_node : int
        GPUs per server = rails (M, the HB-domain size in Wang et al.).
    switch : str
        Catalog scale-out switch model of the rail switches.
    scaleup : str
        Catalog scale-up switch per server; required, since traffic between rails is forwarded
        over NVLink.
    gpu : str
        Catalog GPU model.
    catalog : Catalog or None
        Hardware catalog; None for the built-in one.

    Returns
    -------
    nx.DiGraph
        GPUs ``"node{n}/gpu{g}"``; per rail ``r`` a non-blocking Clos of ``num_nodes`` ports:
        one switch ``"rail{r}/leaf0"`` while ``num_nodes <= radix``, else leaves
        ``"rail{r}/leaf{i}"`` (``radix / 2`` GPUs each) under spines ``"rail{r}/spine{j}"`` (up to
        ``radix**2 / 2`` nodes) or ``"rail{r}/pod{p}/spine{j}"`` and cores ``"rail{r}/core{i}"``;
        scale-up switches ``"node{n}/nvswitch"`` (tier 0).

        Node attributes: GPUs ``kind="gpu"``, ``model``, ``node``, ``local``, ``rail``
        (= ``local``); switches ``kind="switch"``, ``tier``, ``model``, ``radix``, ``rail``
        (``pod`` on 3-tier spines). Edge attributes: ``bandwidth_bytes_per_s``, ``latency_s``,
        ``num_links``, ``link``. ``G.graph``: ``topology="rail-only"``, ``params``, ``catalog``.

    Raises
    ------
    ValueError
        Bad sizes, ``scaleup=None``, unknown catalog keys.
    InfeasibleError
        If one rail's nodes exceed what 3 tiers of the switch hold.

    Notes
    -----
    Wang et al., "Rail-only" (arXiv 2307.12169, 2024): the rail switches of a
    rail-optimized fabric are kept and the spine layer joining rails is removed. A derived
    comparison counts each rail as a Clos of ``num_nodes`` ports (1 tier if it fits one switch,
    2 tiers up to ``radix**2 / 2``, else 3) and counts host cables among the links: k=64, M=8,
    16,384 GPUs -> 768 switches / 32,768 cables; 4,096 GPUs -> 192 / 8,192.

    Examples
    --------
    >>> G = rail_only(64)  # 8 rails of one QM9700 each
    >>> sum(1 for _, d in G.nodes(data=True) if d.get("tier") == 1)
    8
    """
    num_nodes = check_int("num_nodes", num_nodes)
    gpus_per_node = check_int("gpus_per_node", gpus_per_node)
    if scaleup is None and gpus_per_node > 1:  # infeasible, not bad input: compare goes on
        raise InfeasibleError(
            "rail-only needs a scale-up switch (traffic between rails is forwarded over "
            "NVLink): it cannot be built without one (--no-scaleup, scaleup=None)"
        )
    hw = resolve_hardware(
        catalog=catalog, switch=switch, gpu=gpu, scaleup=scaleup, gpus_per_node=gpus_per_node
    )
    if hw.scaleup is None and gpus_per_node > 1:
        raise InfeasibleError(
            f"rail-only needs a scale-up (NVLink) domain, but gpu {gpu!r} with "
            f"gpus_per_node={gpus_per_node} has none: traffic between rails has no path"
        )
    radix = hw.switch.radix
    down = radix if num_nodes <= radix else radix // 2
    num_leaves = ceil_div(num_nodes, down)
    plan = plan_clos(
        num_leaves, radix - down, radix, what=f"one rail of {num_nodes} nodes (rail-only)"
    )
    params = {
        "num_nodes": num_nodes,
        "gpus_per_node": gpus_per_node,
        "switch": switch,
        "scaleup": hw.scaleup.key if hw.scaleup else None,
        "gpu": gpu,
    }
    G = new_graph("rail-only", params, hw)
    add_gpus(G, hw, num_nodes, gpus_per_node)
    leaves_by_rail, spines_by_rail = [], []
    for r in range(gpus_per_node):
        leaves = [f"rail{r}/leaf{i}" for i in range(num_leaves)]
        leaves_by_rail.append(leaves)
        G.add_nodes_from((leaf, switch_attrs(hw.switch, 1, rail=r)) for leaf in leaves)
        attach_gpus(G, hw, ((gpu_id(n, r), leaves[n // down]) for n in range(num_nodes)))
        spines_by_rail.append(add_upper_tiers(G, hw, plan, leaves, prefix=f"rail{r}/",
                                              indices={"rail": r}))
    # symmetries: a leaf of every rail with its servers (the rails as planes), and rails
    below = [unit_below(hw, gpus_per_node, i * down * gpus_per_node,
                        min((i + 1) * down, num_nodes) * gpus_per_node)
             for i in range(num_leaves)]
    swaps = clos_swaps(plan, leaves_by_rail, below, spines_by_rail)
    cores = plan.num_cores if plan.tiers == 3 else 0
    swaps += adjacent_swaps([
        leaves_by_rail[r] + [s for pod in spines_by_rail[r] for s in pod]
        + [f"rail{r}/core{i}" for i in range(cores)] + [gpu_id(n, r) for n in range(num_nodes)]
        for r in range(gpus_per_node)])
    record_swaps(G, swaps)
    return validate_graph(G)
