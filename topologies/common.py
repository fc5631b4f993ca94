"""Shared parts of the fabric builders: argument checks, catalog look-ups, scale-up domains and
the switch layers above the leaves of a (folded) Clos.

Every family module validates its arguments with :func:`check_int` and :func:`resolve_hardware`,
adds its GPUs (and their NVLink domains) with :func:`add_gpus`, attaches them to its leaves with
:func:`attach_gpus`, and, where it has spines, sizes them with :func:`plan_clos` and adds them with
:func:`add_upper_tiers`. Reference counts come from Al-Fares et al.
(SIGCOMM 2008, https://doi.org/10.1145/1402958.1402967) and the NVIDIA DGX SuperPOD reference
architectures (H100 2023, B200 2024; https://docs.nvidia.com/dgx-superpod/).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabric.catalog import Catalog, Gpu, LinkType, SwitchModel, default_catalog
from fabric.errors import InfeasibleError
from fabric.graph import FabricGraph, add_cables, gpu_attrs, switch_attrs
from fabric.symmetry import Swap

__all__ = [
    "check_int",
    "smallest_divisor_at_least",
    "MAX_PLANES",
    "check_planes",
    "plane_prefixes",
    "Hardware",
    "resolve_hardware",
    "new_graph",
    "gpu_id",
    "add_gpus",
    "attach_gpus",
    "ceil_div",
    "ClosPlan",
    "plan_clos",
    "add_upper_tiers",
    "adjacent_swaps",
    "clos_swaps",
    "unit_below",
]


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``, else a ValueError naming it.

    >>> check_int("num_nodes", 4)
    4
    >>> check_int("num_nodes", 0)
    Traceback (most recent call last):
    ...
    ValueError: num_nodes must be an integer >= 1, got 0
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def smallest_divisor_at_least(n: int, lower: int) -> int | None:
    """The smallest divisor of ``n`` that is >= ``lower``, or None if ``lower > n``.

    Used to spread a switch's ``n`` uplinks evenly over a group of upper switches: with ``g``
    switches in the group every switch gets ``n // g`` links from every lower switch.

    >>> smallest_divisor_at_least(32, 12)
    16
    """
    for d in range(max(1, lower), n + 1):
        if n % d == 0:
            return d
    return None


#: Most scale-out planes a build takes (shipped systems use 2-8: DGX B300 twin planes,
#: Alibaba HPN's dual plane, an 800G port as 8 x 100G lanes at most).
MAX_PLANES = 64


def check_planes(planes: Any) -> int:
    """``planes`` as an ``int`` in ``1 .. MAX_PLANES``, else a ValueError naming the range.

    >>> check_planes(2)
    2
    >>> check_planes(0)
    Traceback (most recent call last):
    ...
    ValueError: planes must be an integer from 1 to 64 (independent scale-out planes), got 0
    """
    if not isinstance(planes, numbers.Integral) or isinstance(planes, bool) or not (
        1 <= int(planes) <= MAX_PLANES
    ):
        raise ValueError(
            f"planes must be an integer from 1 to {MAX_PLANES} (independent scale-out "
            f"planes), got {planes!r}"
        )
    return int(planes)


def plane_prefixes(planes: int) -> list[tuple[str, dict[str, int]]]:
    """Per plane, the prefix of its switch ids and the attributes its switches carry.

    One plane keeps the single-plane ids (no prefix, no ``plane`` attribute); with more, plane
    ``p``'s switches are ``"plane{p}/..."`` and carry ``plane=p``.

    >>> plane_prefixes(1), plane_prefixes(2)[1]
    ([('', {})], ('plane1/', {'plane': 1}))
    """
    if planes == 1:
        return [("", {})]
    return [(f"plane{p}/", {"plane": p}) for p in range(planes)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardware:
    """The catalog entries one build uses, looked up and checked once.

    ``link`` is the scale-out switch's port link (also each GPU's NIC rate); ``scaleup`` and
    ``scaleup_link`` are None when the build has no NVLink domain.
    """

    catalog: Catalog
    switch: SwitchModel
    link: LinkType
    gpu: Gpu
    scaleup: SwitchModel | None
    scaleup_link: LinkType | None


def auto_scaleup(cat: Catalog, gpu: Any, gpus_per_node: int) -> str | None:
    """The scale-up switch ``scaleup="auto"`` means: the smallest catalog scale-up switch on the
    GPU's NVLink generation that holds ``gpus_per_node`` GPUs; None for a GPU without NVLink or a
    single GPU per node.

    >>> from fabric.catalog import default_catalog
    >>> cat = default_catalog()
    >>> auto_scaleup(cat, cat.gpus["h100"], 8), auto_scaleup(cat, cat.gpus["b200"], 72)
    ('nvswitch-h100', 'nvlink-switch-tray')
    >>> auto_scaleup(cat, cat.gpus["l40s"], 4) is None
    True
    """
    if gpu.nvlink_num_links < 1 or not gpu.nvlink or gpus_per_node < 2:
        return None
    ports = gpus_per_node * gpu.nvlink_num_links
    fits = [
        m
        for m in cat.switches.values()
        if m.tier_kind == "scale-up" and m.port_link == gpu.nvlink and m.radix >= ports
    ]
    if not fits:
        raise ValueError(
            f"no catalog scale-up switch on {gpu.nvlink} holds {gpus_per_node} GPUs x "
            f"{gpu.nvlink_num_links} links; build without one (--no-scaleup; scaleup=None "
            f"in Python), use fewer GPUs per server, or add a switch to the catalog"
        )
    return min(fits, key=lambda m: (m.radix, m.key)).key


def resolve_hardware(
    *,
    catalog: Catalog | None,
    switch: str,
    gpu: str,
    scaleup: str | None,
    gpus_per_node: int,
) -> Hardware:
    """Look up and check the switch, GPU and scale-up models of a build.

    Raises
    ------
    ValueError
        Unknown key (the catalog's message lists the valid ones); ``switch`` not a scale-out
        model or ``scaleup`` not a scale-up model; a scale-up switch whose radix cannot hold
        ``gpus_per_node`` GPUs x the GPU's ``nvlink_num_links``, or whose NVLink generation is
        not the GPU's.
    """
    cat = default_catalog() if catalog is None else catalog
    sw = cat.switches[switch]
    if sw.tier_kind != "scale-out":
        valid = ", ".join(sorted(k for k, m in cat.switches.items() if m.tier_kind == "scale-out"))
        raise ValueError(
            f"switch must be a scale-out switch model, got {switch!r} "
            f"(tier_kind {sw.tier_kind!r}); scale-out models: {valid}"
        )
    gpu_model = cat.gpus[gpu]
    if scaleup == "auto":
        scaleup = auto_scaleup(cat, gpu_model, gpus_per_node)
    up: SwitchModel | None = None
    up_link: LinkType | None = None
    if scaleup is not None:
        up = cat.switches[scaleup]
        if up.tier_kind != "scale-up":
            valid = ", ".join(
                sorted(k for k, m in cat.switches.items() if m.tier_kind == "scale-up")
            )
            raise ValueError(
                f"scaleup must be a scale-up switch model or None, got {scaleup!r} "
                f"(tier_kind {up.tier_kind!r}); scale-up models: {valid}"
            )
        if gpu_model.nvlink_num_links < 1 or gpu_model.nvlink != up.port_link:
            raise ValueError(
                f"scaleup {scaleup!r} uses {up.port_link} but gpu {gpu!r} has "
                f"{gpu_model.nvlink or 'no NVLink'}; pick a matching scale-up switch "
                f"or build without one (--no-scaleup; scaleup=None in Python)"
            )
        ports = gpus_per_node * gpu_model.nvlink_num_links
        if up.radix < ports:
            raise ValueError(
                f"scaleup {scaleup!r} has radix {up.radix}, too small for "
                f"gpus_per_node={gpus_per_node} x {gpu_model.nvlink_num_links} NVLink "
                f"links = {ports} ports; use at most "
                f"{up.radix // gpu_model.nvlink_num_links} GPUs per node"
            )
        up_link = cat.links[up.port_link]
    return Hardware(
        catalog=cat,
        switch=sw,
        link=cat.links[sw.port_link],
        gpu=gpu_model,
        scaleup=up,
        scaleup_link=up_link,
    )


def new_graph(topology: str, params: Mapping[str, Any], hw: Hardware) -> nx.DiGraph:
    """An empty fabric graph with ``topology``, ``params`` (a plain dict) and ``catalog`` set."""
    G = FabricGraph()
    G.graph.update(topology=topology, params=dict(params), catalog=hw.catalog.version)
    return G


def gpu_id(node: int, local: int) -> str:
    """The id of GPU ``local`` of server ``node``: ``"node3/gpu5"``."""
    return f"node{node}/gpu{local}"


def add_gpus(
    G: nx.DiGraph,
    hw: Hardware,
    num_nodes: int,
    gpus_per_node: int,
    gpu_indices: Callable[[int, int], Mapping[str, int]] | None = None,
) -> None:
    """Add the GPUs (canonical rank order: node-major, then local index) and their NVLink domains.

    Every GPU gets ``node``, ``local``, ``model``, ``rail`` (= ``local``: GPU ``local`` uses NIC
    ``local``) and whatever ``gpu_indices(node, local)`` returns (``su``, ``pod``...). With a
    scale-up model, each node also gets a tier-0 switch ``"node{n}/nvswitch"`` and one edge pair
    to each of its GPUs carrying the GPU's ``nvlink_num_links`` links of the switch's port link.
    """
    model = hw.gpu.key

    def gpus() -> Iterator[tuple[str, dict[str, Any]]]:
        for n in range(num_nodes):
            for g in range(gpus_per_node):
                extra = gpu_indices(n, g) if gpu_indices is not None else {}
                yield gpu_id(n, g), gpu_attrs(model, n, g, rail=g, **extra)

    G.add_nodes_from(gpus())
    up, up_link = hw.scaleup, hw.scaleup_link
    if up is None or up_link is None:
        return
    G.add_nodes_from((f"node{n}/nvswitch", switch_attrs(up, 0, node=n)) for n in range(num_nodes))
    num_links = hw.gpu.nvlink_num_links
    add_cables(G, ((gpu_id(n, g), f"node{n}/nvswitch") for n in range(num_nodes)
                   for g in range(gpus_per_node)),
               up_link, num_links=num_links, v_latency_s=up.latency_s)


def attach_gpus(G: nx.DiGraph, hw: Hardware, pairs: Iterable[tuple[str, str]], *,
                per_gpu: int = 1) -> None:
    """Cable each ``(gpu, switch)`` pair with one link of the switch's port link (the GPU's NIC).

    ``per_gpu`` is how many such cables each GPU gets in all (its planes). What they carry
    together is bounded by the GPU's host link (its catalog ``pcie``), which GPUDirect RDMA
    crosses from GPU memory to the NIC: an H100 (PCIe Gen5 x16, 63 GB/s) behind two 800G ports
    moves 63 GB/s, not 200, while a B300 (Gen6 x16 to its ConnectX-8) keeps its 100. The cable
    stays the link's (its ``link`` key, so the bill of materials prices it); only the edge's
    bandwidth is the GPU's share.
    """
    link = hw.link
    pcie = hw.catalog.host_link(hw.gpu.key)
    if pcie is not None and link.bandwidth_bytes_per_s * per_gpu > pcie.bandwidth_bytes_per_s:
        link = dataclasses.replace(link, bandwidth_bytes_per_s=pcie.bandwidth_bytes_per_s
                                   / per_gpu)
    add_cables(G, pairs, link, v_latency_s=hw.switch.latency_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosPlan:
    """How many switches sit above ``num_leaves`` leaves, and how they are cabled.

    Tier 1 is the leaves. With 2 tiers every leaf reaches every spine over
    ``links_per_leaf_spine`` cables. With 3 tiers the leaves form ``num_pods`` pods of
    ``leaves_per_pod`` leaves (the last one may be partial) with ``spines_per_pod`` spines each;
    spine ``j`` of every pod reaches each of the ``cores_per_group`` cores of core group ``j`` over
    ``links_per_spine_core`` cables (core ``i``'s ports go to pods in turn, Al-Fares 2008).
    """

    tiers: int
    num_leaves: int
    uplinks_per_leaf: int
    leaves_per_pod: int
    num_pods: int
    spines_per_pod: int
    links_per_leaf_spine: int
    uplinks_per_spine: int
    cores_per_group: int
    links_per_spine_core: int

    @property
    def num_spines(self) -> int:
        """Spines in the whole fabric."""
        return self.spines_per_pod * self.num_pods

    @property
    def num_cores(self) -> int:
        """Core switches (0 below 3 tiers)."""
        return self.spines_per_pod * self.cores_per_group if self.tiers == 3 else 0


def plan_clos(
    num_leaves: int,
    uplinks_per_leaf: int,
    radix: int,
    *,
    tiers: int | None = None,
    max_leaves_per_pod: int | None = None,
    pod_multiple: int = 1,
    what: str = "the fabric",
) -> ClosPlan:
    """Size the spine (and core) layers above ``num_leaves`` leaves of ``uplinks_per_leaf`` uplinks.

    Parameters
    ----------
    num_leaves, uplinks_per_leaf
        Leaves (tier 1) and the uplinks each one has (all leaves alike).
    radix
        Ports per spine and core switch.
    tiers
        1 (a single leaf, no uplinks used), 2, 3, or None for the fewest that fit.
    max_leaves_per_pod
        3 tiers only: the most leaves in a pod; default ``radix // 2`` (the most a pod's spines
        can take). The leaves are spread over as few pods as that allows, as evenly as
        ``pod_multiple`` allows.
    pod_multiple
        3 tiers only: pods hold a multiple of this many leaves (the leaves of whole scalable
        units), except the last.
    what
        How error messages name the fabric.

    Returns
    -------
    ClosPlan

    Raises
    ------
    InfeasibleError
        If the leaves do not fit in the requested (or any) number of tiers.

    Notes
    -----
    2 tiers: spines = the smallest divisor ``s`` of ``u`` with ``s * radix >= L * u``,
    so each leaf reaches each spine over the same ``u / s`` cables; fits while ``L <= radix``.
    3 tiers: pods of ``P = ceil(L / ceil(L / max_leaves_per_pod))`` leaves (rounded up to
    ``pod_multiple``), or more, up to ``max_leaves_per_pod``, where that needs fewer switches
    (then fewer spine-core cables; then the smaller pod); pod spines run 1:1 (at most ``radix /
    2`` down, as many up); a pod has the smallest divisor ``s`` of ``u`` with ``s * radix / 2 >=
    P * u`` spines, each with ``P * u / s`` uplinks; core groups (one per spine index) have the
    smallest divisor ``c`` of those uplinks with ``c * radix >= pods * uplinks``; fits while
    ``pods <= radix``. Every pod, the last (possibly partial) one included, has the same spines,
    provisioned as in a full pod. Three tiers asked for leaves that one pod holds make two pods.

    >>> plan = plan_clos(128, 32, 64)  # NVIDIA DGX SuperPOD B200 RA, 2024, 16 SU: 128 / 128 / 64
    >>> plan.tiers, plan.num_spines, plan.num_cores
    (3, 128, 64)
    """
    L, u, k = num_leaves, uplinks_per_leaf, radix
    if tiers is None:
        tiers = 1 if L == 1 else 2 if L <= k else 3
    if tiers == 1:
        if L != 1:
            raise InfeasibleError(f"{what} needs {L} leaves, more than 1 tier holds; use tiers=2")
        return ClosPlan(
            tiers=1,
            num_leaves=1,
            uplinks_per_leaf=0,
            leaves_per_pod=1,
            num_pods=1,
            spines_per_pod=0,
            links_per_leaf_spine=0,
            uplinks_per_spine=0,
            cores_per_group=0,
            links_per_spine_core=0,
        )
    if tiers == 2:
        spines = smallest_divisor_at_least(u, ceil_div(L * u, k))
        if spines is None:
            raise InfeasibleError(
                f"{what} needs {L} leaves, but 2 tiers of radix-{k} switches "
                f"hold at most {k}; use tiers=3 or a switch with radix >= {L}"
            )
        return ClosPlan(
            tiers=2,
            num_leaves=L,
            uplinks_per_leaf=u,
            leaves_per_pod=L,
            num_pods=1,
            spines_per_pod=spines,
            links_per_leaf_spine=u // spines,
            uplinks_per_spine=0,
            cores_per_group=0,
            links_per_spine_core=0,
        )
    half = k // 2
    largest = half if max_leaves_per_pod is None else max_leaves_per_pod
    if L > 1 and L <= largest:
        # three tiers asked for leaves that one pod holds: two pods, so that the cores carry
        # traffic between them (one pod under cores that join nothing is two tiers and idle
        # switches)
        largest = ceil_div(ceil_div(L, 2), max(1, pod_multiple)) * max(1, pod_multiple)
    pods = ceil_div(L, max(1, largest))
    even = min(largest, ceil_div(ceil_div(L, pods), pod_multiple) * pod_multiple)
    # the pod size: the even spread, or a larger one (up to a full pod) when it needs fewer
    # switches: each core group takes a divisor of a spine's uplinks, so a pod size with a
    # large prime factor (31 leaves of 32 uplinks) would buy 31 cores per group, most idle
    best: tuple[int, int, int, int, int, int] | None = None  # (switches, links, pod, ...)
    failure = ""
    for pod in range(max(1, even), max(even, largest) + 1, max(1, pod_multiple)):
        n_pods = ceil_div(L, pod)
        spines = smallest_divisor_at_least(u, ceil_div(pod * u, half)) if half >= 1 else None
        if spines is None:
            failure = failure or (f"{what}: a pod of {pod} leaves with {u} uplinks each does "
                                  f"not fit radix-{k} spines; use a switch with radix >= "
                                  f"{2 * pod}")
            continue
        spine_up = pod * u // spines
        cores = smallest_divisor_at_least(spine_up, ceil_div(n_pods * spine_up, k))
        if cores is None:
            failure = failure or (f"{what} needs {L} leaves ({n_pods} pods of {pod}), but 3 "
                                  f"tiers of radix-{k} switches hold at most {k} pods "
                                  f"({k * pod} leaves); use a larger-radix switch or more "
                                  f"oversubscription")
            continue
        key = (n_pods * spines + spines * cores, n_pods * spines * spine_up, pod, n_pods,
               spines, cores)
        if best is None or key[:3] < best[:3]:
            best = key
        if pod == even and n_pods * spine_up <= k:  # one core per group: nothing to save
            break
    if best is None:
        raise InfeasibleError(failure or f"{what}: no pod size fits radix-{k} switches")
    _, _, pod, pods, spines, cores = best
    spine_up = pod * u // spines
    return ClosPlan(
        tiers=3,
        num_leaves=L,
        uplinks_per_leaf=u,
        leaves_per_pod=pod,
        num_pods=pods,
        spines_per_pod=spines,
        links_per_leaf_spine=u // spines,
        uplinks_per_spine=spine_up,
        cores_per_group=cores,
        links_per_spine_core=spine_up // cores,
    )


def add_upper_tiers(
    G: nx.DiGraph,
    hw: Hardware,
    plan: ClosPlan,
    leaves: list[str],
    *,
    prefix: str = "",
    spine_name: str = "spine",
    indices: Mapping[str, int] | None = None,
    leaf_latency_s: float | None = None,
) -> list[list[str]]:
    """Add the spines and cores of ``plan`` above ``leaves`` (in pod order) and cable them;
    return each pod's spines (none below 2 tiers).

    Spines and cores are ``hw.switch``, cabled with ``hw.link`` (also the leaves' uplinks);
    ``leaf_latency_s`` is the leaves' switch latency where their model is another one (default
    ``hw.switch``'s). Ids: 2 tiers ``"{prefix}{spine_name}{j}"``; 3 tiers
    ``"{prefix}pod{p}/{spine_name}{j}"`` and ``"{prefix}core{i}"`` (core group ``j`` is cores
    ``j * cores_per_group ...``). Spines carry ``pod`` with 3 tiers; every switch carries
    ``indices`` (e.g. ``rail``).
    """
    if plan.tiers < 2:
        return []
    extra = dict(indices or {})
    sw, link, latency_s = hw.switch, hw.link, hw.switch.latency_s
    leaf_s = latency_s if leaf_latency_s is None else leaf_latency_s
    per_pod = plan.leaves_per_pod
    if plan.tiers == 2:
        spines = [[f"{prefix}{spine_name}{j}" for j in range(plan.spines_per_pod)]]
        G.add_nodes_from((s, switch_attrs(sw, 2, **extra)) for s in spines[0])
    else:
        spines = [
            [f"{prefix}pod{p}/{spine_name}{j}" for j in range(plan.spines_per_pod)]
            for p in range(plan.num_pods)
        ]
        G.add_nodes_from(
            (s, switch_attrs(sw, 2, pod=p, **extra))
            for p, group in enumerate(spines)
            for s in group
        )
    add_cables(G, ((leaf, spine) for p, group in enumerate(spines)
                   for leaf in leaves[p * per_pod : (p + 1) * per_pod] for spine in group),
               link, num_links=plan.links_per_leaf_spine, u_latency_s=leaf_s,
               v_latency_s=latency_s)
    if plan.tiers < 3:
        return spines
    c = plan.cores_per_group
    cores = [f"{prefix}core{i}" for i in range(plan.num_cores)]
    G.add_nodes_from((core, switch_attrs(sw, 3, **extra)) for core in cores)
    add_cables(G, ((spine, core) for group in spines for j, spine in enumerate(group)
                   for core in cores[j * c : (j + 1) * c]),
               link, num_links=plan.links_per_spine_core, u_latency_s=latency_s,
               v_latency_s=latency_s)
    return spines


def unit_below(hw: Hardware, gpus_per_node: int, first_gpu: int, end_gpu: int) -> list[str]:
    """What hangs below a leaf (or a scalable unit) in a swap block of :func:`clos_swaps`: GPUs
    ``first_gpu .. end_gpu - 1`` (canonical rank order), then the scale-up switches of the
    servers wholly among them.

    >>> from fabric.catalog import default_catalog
    >>> hw = resolve_hardware(catalog=default_catalog(), switch="qm9700", gpu="h100",
    ...                       scaleup="nvswitch-h100", gpus_per_node=2)
    >>> unit_below(hw, 2, 1, 5)
    ['node0/gpu1', 'node1/gpu0', 'node1/gpu1', 'node2/gpu0', 'node1/nvswitch']
    """
    gpus = [gpu_id(i // gpus_per_node, i % gpus_per_node) for i in range(first_gpu, end_gpu)]
    if hw.scaleup is None:
        return gpus
    servers = range(ceil_div(first_gpu, gpus_per_node), end_gpu // gpus_per_node)
    return gpus + [f"node{n}/nvswitch" for n in servers]


def adjacent_swaps(blocks: Sequence[Sequence[str]]) -> list[Swap]:
    """Each block swapped with the next, element by element (:data:`fabric.symmetry.Swap`):
    together these generate every permutation of the blocks. Blocks of unequal size (a
    partial last unit) are not swapped."""
    return [(tuple(a), tuple(b)) for a, b in zip(blocks[:-1], blocks[1:], strict=True)
            if len(a) == len(b) and len(a) > 0]


def clos_swaps(
    plan: ClosPlan,
    leaves: Sequence[Sequence[str]],
    below: Sequence[Sequence[str]],
    spines: Sequence[Sequence[Sequence[str]]],
    *,
    leaves_per_unit: int = 1,
) -> list[Swap]:
    """Automorphisms of a folded Clos built by :func:`add_upper_tiers`, as adjacent swaps
    (:mod:`fabric.symmetry`): pod ``p`` with pod ``p + 1``, and unit ``u`` with unit ``u + 1``
    inside the first, second and last pods (all units with 2 tiers). A unit is ``leaves_per_unit``
    consecutive leaves of each plane and what hangs below them alone: one leaf and its
    servers in a Clos, one scalable unit's rail leaves and servers in a rail-optimized fabric.

    ``leaves[plane][i]`` is leaf ``i`` of each plane; ``below[u]`` what hangs below unit ``u``
    (its GPUs and their servers' scale-up switches, in the same order in every unit);
    ``spines[plane][p]`` pod ``p``'s spines of each plane. The swaps are only a claim:
    :func:`fabric.symmetry.symmetry` keeps those that are automorphisms of the graph as it is
    when routed.
    """
    if plan.tiers < 2:
        return []
    m = leaves_per_unit
    num = len(below)
    per_pod = max(1, plan.leaves_per_pod // m)

    def unit(u: int) -> list[str]:
        return [plane[i] for plane in leaves for i in range(u * m, (u + 1) * m)] + list(below[u])

    pods = plan.num_pods if plan.tiers == 3 else 1
    swaps = adjacent_swaps([
        [v for u in range(p * per_pod, min((p + 1) * per_pod, num)) for v in unit(u)]
        + [s for plane in spines for s in plane[p]]
        for p in range(pods)
    ]) if pods > 1 else []
    # the first pod may be irregular (ports held back in it) and the last partial: units are
    # swapped inside both and inside the second, whose swaps the pod swaps carry to the rest
    for p in sorted({0, min(1, pods - 1), pods - 1}):
        swaps += adjacent_swaps([unit(u) for u in range(p * per_pod, min((p + 1) * per_pod, num))])
    return swaps


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for non-negative integers.

    >>> ceil_div(127 * 8, 32)
    32
    """
    return -(-a // b)
