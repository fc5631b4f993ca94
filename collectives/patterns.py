"""Flow patterns: each collective algorithm as a list of phases of link loads on the fabric.

A *phase* (:class:`Phase`) is one synchronized step of an algorithm, repeated ``repeat`` times:
every rank sends its share at once, the step's flows are routed over the graph
(:mod:`fabric.routing`, ECMP) and summed into a load per edge, in bytes per byte of the
collective's size S. :mod:`collectives.model` turns a phase into time,
``alpha_s * alpha_steps + latency_s + S * max_e(load_e / capacity_e)`` (:mod:`fabric.flows`):
``alpha_steps`` counts the software step costs and ``latency_s`` the path latency (a pipelined
chain or tree counts it once per hop its first chunk crosses). Symmetric steps are computed once
(a ring's 2(n-1) steps are one phase); pairwise all-to-all routes its NVLink-distance partners
and samples at most ``PAIRWISE_SAMPLES`` of its other shifts.

Each ``*_phases(on, collective)`` function builds one algorithm's phases for ranks placed on a
fabric (:class:`~collectives.communicator.PlacedRanks`). They are the flow-pattern builders of
the algorithm registry (:mod:`collectives.registry`), which checks first that the algorithm
serves the collective and applies to the placement, and memoizes the result: call
:func:`collectives.registry.phases`, not these.

Rings and trees follow NCCL's structure (NVIDIA/nccl ``src/graph``): one ring per NIC ("channel"),
entering each server at the GPU of that channel's rail and leaving through the same rail, with
the last hop forwarded over NVLink to that rail's GPU (PXN), so a rail-aligned placement keeps
every network hop on one rail. All-to-all crosses servers through the destination rail's GPU
(PXN) whenever servers have an NVLink domain; rail-only fabrics depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from collectives.algorithms import is_power_of_two
from collectives.communicator import Communicator, PlacedRanks
from fabric.arrays import unique_sorted
from fabric.routing import FabricIndex, LinkLoads, deliver, propagate, route, route_all_pairs
from fabric.symmetry import Generator, symmetry

__all__ = [
    "DIRECT_FLOW_LIMIT",
    "PAIRWISE_SAMPLES",
    "Exchange",
    "exchange_phases",
    "recursive_doubling_plan",
    "recursive_halving_plan",
    "rabenseifner_plan",
    "bruck_plan",
    "pairwise_plan",
    "Phase",
    "ring_phases",
    "ring_steps",
    "tree_phases",
    "recursive_doubling_phases",
    "recursive_halving_phases",
    "rabenseifner_phases",
    "binomial_phases",
    "bruck_phases",
    "pairwise_phases",
    "direct_phases",
    "hierarchical_phases",
    "multi_leader_phases",
    "in_network_phases",
]

#: Network-distance shifts of a pairwise all-to-all routed (evenly spaced; each weighs its share).
PAIRWISE_SAMPLES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """One synchronized step of an algorithm, ``repeat`` times.

    ``edges`` are the index positions of the edges with load, ``load`` their bytes per byte of
    the collective's size; ``latency_s`` is the step's path latency, ``alpha_steps`` how many
    software step costs it pays. ``flows`` are the step's flows ``(src, dst, relative bytes)``
    for the routing policies that place each flow on one path
    (:func:`fabric.flows.sampled_step`); None where the loads are fixed or aggregated (the
    policies then use ``load``, the fluid split). ``flows_later`` builds them on demand where
    keeping them would cost memory (a direct all-to-all's n^2 pairs); :meth:`step_flows` reads
    either. ``unit`` is the phase of one byte per flow that this one scales by ``scale`` (the
    exchanges several algorithms share, :func:`_unit_phase`): a flow placement computed
    for the unit serves every phase scaled from it.
    """

    repeat: float
    edges: np.ndarray
    load: np.ndarray
    latency_s: float
    alpha_steps: float
    flows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    flows_later: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    unit: Phase | None = None
    scale: float = 1.0

    def step_flows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The step's flows ``(src, dst, relative bytes)``, or None (fixed or aggregated)."""
        if self.flows is not None:
            return self.flows
        return self.flows_later() if self.flows_later is not None else None


@dataclass(frozen=True, slots=True)
class Exchange:
    """A step, before routing, in which every rank sends ``rel`` bytes per byte of the
    collective to one partner: rank XOR ``distance`` (``xor``) or rank + ``distance`` (mod n),
    ``repeat`` times, one software step each. An algorithm made only of such steps has a
    *plan* (a list of them): its phases are the plan routed (:func:`exchange_phases`), and a
    floor of its cost needs no routing (:func:`collectives.model.exchange_floor`)."""

    distance: int
    rel: float
    xor: bool = True
    repeat: float = 1.0


def _phase_from_flows(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    rel: np.ndarray,
    *,
    repeat: float,
    alpha_steps: float,
) -> Phase:
    loads, (src, dst, rel) = _routed(index, src, dst, rel)
    nz = np.flatnonzero(loads.load_bytes)
    return Phase(
        repeat=repeat,
        edges=nz,
        load=loads.load_bytes[nz],
        latency_s=loads.max_latency_s,
        alpha_steps=alpha_steps,
        flows=(np.asarray(src), np.asarray(dst), np.asarray(rel, dtype=float)),
    )


def _routed(index: FabricIndex, src: np.ndarray, dst: np.ndarray, rel: np.ndarray
            ) -> tuple[LinkLoads, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The flows routed, those the network cannot carry sent through a peer GPU
    (:func:`_through_peers`), and the flows as routed.

    Raises
    ------
    ValueError
        Flows with no path even through a peer."""
    loads = route(index, src, dst, rel)
    flows = (np.asarray(src), np.asarray(dst), np.asarray(rel, dtype=float))
    if loads.unroutable:
        peers = _through_peers(index, *flows, loads.path_latency_s)
        if peers is not None:
            flows = peers
            loads = route(index, *flows)
    if loads.unroutable:
        raise ValueError(
            f"{loads.unroutable} flow(s) have no path in this fabric (e.g. across rails "
            f"of a rail-only fabric without NVLink forwarding)"
        )
    return loads, flows


def _through_peers(index: FabricIndex, src: np.ndarray, dst: np.ndarray, rel: np.ndarray,
                   path_latency_s: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The flows with each one the network cannot carry (NaN path latency: across the rails of
    a rail-only fabric) sent through a peer, as NCCL's PXN does: over NVLink to the GPU of the
    source's scale-up domain on the destination's rail, then over that rail. None when a flow
    has no such peer (no scale-up domain, or none of its GPUs on that rail). Each leg is a
    flow of its own; the step's latency is the longer leg's, not their sum."""
    bad = np.flatnonzero(np.isnan(path_latency_s))
    su = index.scaleup_switch[src[bad]]
    if len(bad) == 0 or (su < 0).any():
        return None
    gpus = index.gpu_ids
    span = int(index.rail.max()) + 1
    keys = index.scaleup_switch[gpus] * span + index.rail[gpus]
    keep = index.scaleup_switch[gpus] >= 0
    table = dict(zip(keys[keep].tolist()[::-1], gpus[keep].tolist()[::-1], strict=True))
    proxy = np.array([table.get(k, -1) for k in (su * span + index.rail[dst[bad]]).tolist()],
                     dtype=np.int64)
    if (proxy < 0).any() or (proxy == src[bad]).any():
        return None
    good = np.ones(len(src), dtype=bool)
    good[bad] = False
    return (np.concatenate([src[good], src[bad], proxy]),
            np.concatenate([dst[good], proxy, dst[bad]]),
            np.concatenate([rel[good], rel[bad], rel[bad]]))


def _phase_from_loads(
    load: np.ndarray,
    latency_s: float,
    *,
    repeat: float,
    alpha_steps: float,
    flows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    flows_later: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> Phase:
    nz = np.flatnonzero(load)
    return Phase(
        repeat=repeat, edges=nz, load=load[nz], latency_s=latency_s, alpha_steps=alpha_steps,
        flows=flows, flows_later=flows_later,
    )


def _pipelined(parts: list[Phase]) -> Phase:
    """``parts`` run at once, chunk after chunk, as one pipeline (NCCL's CollNet Direct
    all-reduce gives the intra-domain scatter, the network reduction and the gather each its
    own group of threads, all at work on successive chunks: ``RunWorkColl`` for
    ``NCCL_ALGO_COLLNET_DIRECT`` in ``src/device/all_reduce.h``, https://github.com/NVIDIA/nccl,
    read 2026-12): in the steady state every stage is busy, so
    each edge carries the bytes of all of them at once, and the first chunk pays each stage's
    latency and software steps. The bandwidth term is then the busiest edge's summed load,
    not the sum of each stage's busiest: a stage on NVLink hides behind one on the NIC. A
    chunk's own cost (the pipeline filling) is left out, as for the ring's chunks. Flows are
    kept where every part has them (the per-flow routing policies hash them together)."""
    edges = np.concatenate([p.edges for p in parts])
    load = np.concatenate([p.repeat * p.load for p in parts])
    merged, at = np.unique(edges, return_inverse=True)
    summed = np.zeros(len(merged))
    np.add.at(summed, at, load)
    flows = [p.step_flows() for p in parts]
    joined = None
    if all(f is not None for f in flows):
        kept = [(f, p.repeat) for f, p in zip(flows, parts, strict=True) if f is not None]
        joined = (np.concatenate([f[0] for f, _ in kept]), np.concatenate([f[1] for f, _ in kept]),
                  np.concatenate([r * np.asarray(f[2], dtype=float) for f, r in kept]))
    return Phase(repeat=1, edges=merged, load=summed,
                 latency_s=sum(p.repeat * p.latency_s for p in parts),
                 alpha_steps=sum(p.repeat * p.alpha_steps for p in parts), flows=joined)


# -- flow patterns ---------------------------------------------------------------------------
def _ring_flows(c: Communicator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flows of one ring step (relative bytes 1/n per rank), channelled per rail with PXN."""
    n = c.n
    if len(c.groups) == 1 or all(len(g) == 1 for g in c.groups):
        order = c.pos
        return order, np.roll(order, -1), np.full(n, 1.0 / n)
    channels = min(len(g) for g in c.groups)
    src, dst = [], []
    rail_of = c.rail
    if len({len(g) for g in c.groups}) == 1:  # equal domains: one vectorized pass per channel
        table = np.stack(c.groups)
        rails = rail_of[table]
        for ch in range(channels):
            seq = np.roll(table, -ch, axis=1)
            src.append(c.pos[seq[:, :-1].ravel()])
            dst.append(c.pos[seq[:, 1:].ravel()])
            entry = np.roll(seq[:, 0], -1)
            exit_ = seq[:, -1]
            match = rails == rail_of[entry][:, None]
            has = match.any(axis=1)
            proxy = table[np.arange(len(table)), np.argmax(match, axis=1)]
            via = has & (proxy != exit_)
            src += [c.pos[exit_[via]], c.pos[proxy[via]], c.pos[exit_[~via]]]
            dst += [c.pos[proxy[via]], c.pos[entry[via]], c.pos[entry[~via]]]
        s, d = np.concatenate(src), np.concatenate(dst)
        return s, d, np.full(len(s), 1.0 / (n * channels))
    for ch in range(channels):
        seqs = [np.roll(g, -(ch % len(g))) for g in c.groups]
        for gi, seq in enumerate(seqs):
            src.append(c.pos[seq[:-1]])
            dst.append(c.pos[seq[1:]])
            entry = seqs[(gi + 1) % len(seqs)][0]
            exit_ = seq[-1]
            proxy = seq[rail_of[seq] == rail_of[entry]]
            if len(proxy) and proxy[0] != exit_:
                src.append(c.pos[[exit_, proxy[0]]])
                dst.append(c.pos[[proxy[0], entry]])
            else:
                src.append(c.pos[[exit_]])
                dst.append(c.pos[[entry]])
    s, d = np.concatenate(src), np.concatenate(dst)
    return s, d, np.full(len(s), 1.0 / (n * channels))


def _tree(index: FabricIndex, c: Communicator) -> list[Phase]:
    """Double binary tree over domains (heap order and its mirror), one tree pair per channel.

    A pipelined tree's first chunk crosses every level, so the phase latency is the chain's
    ``m - 1`` NVLink hops plus ``floor(lg domains)`` network hops, each at its path latency
    (the closed form's ``2 lg n·α`` per reduce + broadcast, as NCCL's trees).
    """
    groups = c.groups
    num = len(groups)
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=num)
    channels = int(sizes.min())
    flat = np.concatenate(groups)
    parts = []
    # intra-domain chains carry the data once per phase: each rank to the next of its domain
    same = np.repeat(np.arange(num), sizes)
    link = np.flatnonzero(same[1:] == same[:-1])
    chain = int(sizes.max()) - 1
    if len(link):
        parts.append((c.pos[flat[link]], c.pos[flat[link + 1]], np.ones(len(link)), chain))
    depth = math.floor(math.log2(num)) if num > 1 else 0
    if num > 1:
        src, dst, rel = [], [], []
        child = np.arange(1, num)
        parent = (child - 1) // 2
        offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for a, b in ((child, parent), (num - 1 - child, num - 1 - parent)):
            for ch in range(channels):
                src.append(c.pos[flat[offset[a] + ch % sizes[a]]])
                dst.append(c.pos[flat[offset[b] + ch % sizes[b]]])
                rel.append(np.full(len(a), 0.5 / channels))
        parts.append((np.concatenate(src), np.concatenate(dst), np.concatenate(rel), depth))
    if not parts:
        return []
    steps = depth + chain
    up = _phase_from_parts(index, parts, alpha_steps=steps)
    down = _phase_from_parts(index, [(d, s, r, k) for s, d, r, k in parts], alpha_steps=steps)
    return [up, down]


def _phase_from_parts(
    index: FabricIndex,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    *,
    alpha_steps: float,
) -> Phase:
    """One phase of several flow sets whose path latency counts ``k`` times each (pipelines)."""
    load = np.zeros(index.num_edges)
    latency_s = 0.0
    routed = []
    for s, d, r, k in parts:
        loads, flows_k = _routed(index, s, d, r)
        load += loads.load_bytes
        latency_s += k * loads.max_latency_s
        routed.append(flows_k)
    flows = tuple(np.concatenate([np.asarray(p[i], dtype=float if i == 2 else np.int64)
                                  for p in routed]) for i in range(3))
    return _phase_from_loads(load, latency_s, repeat=1, alpha_steps=alpha_steps,
                             flows=(flows[0], flows[1], flows[2]))


_UNIT_MEMO_KEY = (__name__, "unit-phases")
_UNIT_MEMO_LIMIT = 128  # (ranks, partner map) entries kept per fabric index


def _unit_phase(index: FabricIndex, c: Communicator, distance: int, *, xor: bool) -> Phase:
    """Every rank sending one byte to rank XOR ``distance`` (``xor``) or rank + ``distance``
    (mod n), memoized in the fabric index's memo.

    Algorithms that exchange with the same partners route the same pairs with other byte counts:
    recursive doubling and halving and Rabenseifner (XOR 2^k), Bruck's all-to-all and
    all-gather (shift 2^k), pairwise exchange and send-recv (shift or XOR d). Loads are linear
    in the bytes, so each partner map is routed once per fabric index and scaled
    (:func:`_scaled`).
    """
    memo = cast("dict[tuple[object, ...], Phase]", index.memo.setdefault(_UNIT_MEMO_KEY, {}))
    key = (c.ranks, distance, xor)
    found = memo.get(key)
    if found is None:
        if len(memo) >= _UNIT_MEMO_LIMIT:
            memo.clear()
        ranks = np.arange(c.n)
        partner = ranks ^ distance if xor else (ranks + distance) % c.n
        found = _phase_from_flows(index, c.pos, c.pos[partner], np.ones(c.n), repeat=1,
                                  alpha_steps=1)
        memo[key] = found
    return found


def _scaled(unit: Phase, rel: float, repeat: float = 1.0) -> Phase:
    """A phase of unit flows with every flow carrying ``rel`` bytes instead, ``repeat`` times
    (loads are linear in the bytes; the path latency is not)."""
    flows = unit.flows
    return dataclasses.replace(
        unit, load=unit.load * rel, repeat=repeat,
        flows=None if flows is None else (flows[0], flows[1], flows[2] * rel), unit=unit,
        scale=rel)


def exchange_phases(on: PlacedRanks, plan: list[Exchange]) -> list[Phase]:
    """A plan of exchanges routed: one phase per step, each its partner map's unit phase
    (routed once per fabric index) scaled."""
    return [_scaled(_unit_phase(on.index, on.comm, e.distance, xor=e.xor), e.rel, e.repeat)
            for e in plan]


def _shift_phase(
    index: FabricIndex, c: Communicator, shift: int, rel: float, repeat: float, *, xor: bool = False
) -> Phase:
    """Every rank sends to rank + shift (mod n), or to rank XOR shift (MPICH's pairwise exchange
    for a power-of-two n, alltoall_intra_pairwise.c)."""
    return _scaled(_unit_phase(index, c, shift, xor=xor), rel, repeat)


def _direct_all_to_all(index: FabricIndex, c: Communicator) -> Phase:
    """All pairs at once, relative bytes 1/n per pair; PXN through the destination rail's GPU."""
    n = c.n
    load = np.zeros(index.num_edges)
    dom, rail, pos = c.domain, c.rail, c.pos
    dom_ids, dom_idx = np.unique(dom, return_inverse=True)
    dom_size = np.bincount(dom_idx)
    # intra-domain pairs over the scale-up switch
    intra_peers = dom_size[dom_idx] - 1
    has_up = index.scaleup_switch[pos] >= 0
    np.add.at(load, index.up_edge[pos[has_up]], intra_peers[has_up] / n)
    np.add.at(load, index.down_edge[pos[has_up]], intra_peers[has_up] / n)
    # proxy per (domain, rail): the domain's member on that rail
    # PXN needs every domain to have a GPU on every rail in use (else direct, which may cross
    # rails)
    pxn = bool(
        has_up.all()
        and len(dom_ids) > 1
        and len(unique_sorted(dom_idx * (int(rail.max()) + 1) + rail))
        == len(dom_ids) * len(unique_sorted(rail))
    )
    cls = index.class_of[pos]
    if (cls < 0).any():
        raise ValueError(
            "a rank's GPU has no scale-out link: all-to-all across servers is impossible"
        )
    first_hop = index.single_out[pos]
    later = functools.partial(_direct_flows, c, False) if n * n <= DIRECT_FLOW_LIMIT else None
    if (first_hop < 0).any():
        # GPUs with several scale-out links (planes, multi-rail servers): every pair split
        # over its source's links as the router splits one flow, counted per group of
        # sources on the same links and per distance row, not per pair; no PXN
        receivers, weight, kept = _receivers_per_orbit(index, c, cls)
        got = route_all_pairs(index, pos, dom, 1.0 / n, receivers=receivers, weight=weight)
        if got.unroutable:
            raise ValueError("some all-to-all traffic has no path in this fabric")
        load += (got.load_bytes if kept is None
                 else symmetry(index).spread(kept, got.load_bytes, from_gpus=True))
        latency_s = max(got.max_latency_s, _nvlink_latency_s(index, pos, has_up)
                        if (dom_size > 1).any() else 0.0)
        return _phase_from_loads(load, latency_s, repeat=1, alpha_steps=1, flows_later=later)
    hop_node = index.edge_dst[first_hop]
    arrivals = np.zeros(index.num_nodes)
    outside = n - dom_size[dom_idx]  # peers outside my domain
    if pxn:
        # proxy per (domain, rail): the domain's first member on that rail
        num_rails = int(rail.max()) + 1
        key = dom_idx * num_rails + rail
        uniq, first = np.unique(key, return_index=True)
        proxy_of_key = np.full(len(dom_ids) * num_rails, -1, dtype=np.int64)
        proxy_of_key[uniq] = first
        proxy_of_rank = proxy_of_key[key]  # the proxy serving (my domain, my rail)
        hop_ids, hop_idx = np.unique(hop_node, return_inverse=True)
        cls_ids, cls_idx = np.unique(cls, return_inverse=True)
        # network bytes per (proxy first hop, destination class): a proxy (D, r) forwards for all
        # m_D members of D to every destination on rail r outside D
        cnt = np.zeros((num_rails, len(cls_ids)))
        np.add.at(cnt, (rail, cls_idx), 1.0)
        weight = np.zeros((len(hop_ids), num_rails))
        np.add.at(weight, (hop_idx[first], rail[first]), dom_size[dom_idx[first]])
        agg = weight @ cnt
        # minus destinations inside the proxy's own domain
        np.add.at(agg, (hop_idx[proxy_of_rank], cls_idx), -dom_size[dom_idx].astype(float))
        np.maximum(agg, 0.0, out=agg)  # in place: (first hops x classes) is 134 MB at 131k
        agg /= n
        agg[agg <= 1e-15] = 0.0
        # first hop of each proxy: all it forwards
        per_proxy = (
            dom_size[dom_idx[first]]
            * (
                cnt.sum(axis=1)[rail[first]]  # per rail, not a (proxies x classes) copy
                - np.bincount(key, minlength=len(proxy_of_key))[key[first]]
            )
            / n
        )
        np.add.at(load, first_hop[first], per_proxy)
        one_each = bool(np.bincount(key).max() == 1)  # one member per (domain, rail)
        result = _propagate_blocks(index, hop_ids, cls_ids, agg, load,
                                   _ranks_kept(index, c, pxn=True) if one_each else None)
        np.add.at(arrivals, pos, outside / n)
        # NVLink hop to the proxy: for each source, destinations outside whose rail differs
        rail_count = np.bincount(rail, minlength=num_rails)
        dom_rail = np.zeros((len(dom_ids), num_rails))
        np.add.at(dom_rail, (dom_idx, rail), 1)
        forwarded = (n - rail_count[rail]) - (dom_size[dom_idx] - dom_rail[dom_idx, rail])
        np.add.at(load, index.up_edge[pos], forwarded / n)
        # each proxy receives, from each of its domain peers, their traffic for its rail
        proxy_in = (dom_size[dom_idx] - 1) * (rail_count[rail] - dom_rail[dom_idx, rail]) / n
        is_proxy = np.zeros(n, dtype=bool)
        is_proxy[first] = True
        np.add.at(load, index.down_edge[pos[is_proxy]], proxy_in[is_proxy])
    else:
        # non-PXN: every pair outside a domain goes source -> network -> destination,
        # aggregated by (first-hop node, destination class)
        hop_ids, hop_idx = np.unique(hop_node, return_inverse=True)
        cls_ids, cls_idx = np.unique(cls, return_inverse=True)
        counts = np.outer(np.bincount(hop_idx), np.bincount(cls_idx)).astype(float)
        for g in c.groups:  # same-domain pairs (self included) stay off the network
            np.add.at(counts, (np.repeat(hop_idx[g], len(g)), np.tile(cls_idx[g], len(g))), -1.0)
        np.add.at(load, first_hop, outside / n)
        np.add.at(arrivals, pos, outside / n)
        result = _propagate_blocks(index, hop_ids, cls_ids, np.maximum(counts, 0.0) / n, load,
                                   _ranks_kept(index, c, pxn=False))
    deliver(index, arrivals, load)
    # path latency: the longest of an NVLink pair and a network pair (GPU -> first switch ->
    # ... -> last switch -> GPU), the latter after an NVLink hop to the proxy under PXN
    lat = index.edge_latency_s
    nvlink_latency_s = _nvlink_latency_s(index, pos, has_up)
    latency_s = nvlink_latency_s if (dom_size > 1).any() else 0.0
    if result is not None:
        if result.unroutable:
            raise ValueError("some all-to-all traffic has no path in this fabric")
        network_latency_s = result.max_latency_s + float(
            lat[first_hop].max() + index.in_latency[pos].max()
        )
        if pxn and (forwarded > 0).any():
            network_latency_s += nvlink_latency_s
        latency_s = max(latency_s, network_latency_s)
    if pxn and later is not None:
        later = functools.partial(_direct_flows, c, pxn)
    return _phase_from_loads(load, latency_s, repeat=1, alpha_steps=1, flows_later=later)


def _nvlink_latency_s(index: FabricIndex, pos: np.ndarray, has_up: np.ndarray) -> float:
    """The longest NVLink pair: a GPU's up-edge and another's down-edge (0 without any)."""
    if not has_up.any():
        return 0.0
    lat = index.edge_latency_s
    return float(lat[index.up_edge[pos[has_up]]].max() + lat[index.down_edge[pos[has_up]]].max())


def _receivers_per_orbit(index: FabricIndex, c: Communicator, cls: np.ndarray
                         ) -> tuple[np.ndarray | None, np.ndarray | None, list[Generator] | None]:
    """The ranks a direct all-to-all without PXN routes to, their weights, and the
    automorphisms that spread their loads over the rest (:func:`_propagate_blocks`): the
    ranks of one destination class per orbit, each weighted by its orbit's size, where the
    fabric's symmetries keep the demand; (None, None, None): every rank, once."""
    cls_ids = unique_sorted(cls)
    if len(cls_ids) < SYMMETRY_MIN_CLASSES or not index.swaps:
        return None, None, None
    sym = symmetry(index)
    kept = [g for g in sym.kept(_ranks_kept(index, c, pxn=False)) if sym.maps_onto(g, cls_ids)]
    label = sym.class_orbits(kept, cls_ids)
    _, reps, size = np.unique(label, return_index=True, return_counts=True)
    if len(reps) == len(cls_ids):
        return None, None, None
    per_class = np.zeros(len(cls_ids))
    per_class[reps] = size
    weight = per_class[np.searchsorted(cls_ids, cls)]
    receivers = np.flatnonzero(weight > 0)
    return receivers, weight[receivers], kept


def _ranks_kept(index: FabricIndex, c: Communicator, *, pxn: bool
                ) -> Callable[[np.ndarray, np.ndarray], bool]:
    """Whether an automorphism leaves a direct all-to-all's network demand unchanged, from
    its ranks alone (in the time of the GPUs it moves).

    The demand counts rank pairs by (first hop, destination class) outside a scale-up domain;
    an automorphism maps first hops, classes and domains onto themselves, so it keeps the
    demand when it maps the ranks' GPUs onto themselves. Under PXN the first hop is the
    proxy of the destination's rail in the source's domain: with one rank per (domain, rail)
    (the caller checks), the demand is kept when, besides, the rails of the moved ranks go to
    rails one for one, and a rail that keeps ranks in place keeps its number.
    """
    is_rank = np.zeros(index.num_nodes, dtype=bool)
    is_rank[c.pos] = True
    rail_of = index.rail
    num_rails = int(c.rail.max()) + 1 if c.n else 1
    ranks_per_rail = np.bincount(c.rail, minlength=num_rails)

    def kept(moved: np.ndarray, image: np.ndarray) -> bool:
        ranks = is_rank[moved]
        if not np.array_equal(ranks, is_rank[image]):
            return False
        if not pxn:
            return True
        r_from, r_to = rail_of[moved[ranks]], rail_of[image[ranks]]
        if (r_from >= num_rails).any() or (r_to >= num_rails).any():
            return False
        pairs = np.unique(r_from * num_rails + r_to)
        one, other = np.divmod(pairs, num_rails)
        if len(np.unique(one)) != len(one) or len(np.unique(other)) != len(other):
            return False
        stays = np.bincount(r_from, minlength=num_rails) < ranks_per_rail
        return not ((one != other) & stays[one]).any()

    return kept


#: (first hop, destination class) pairs a direct all-to-all hands to the router at once: the
#: pairs of a 131k-GPU fabric (thousands of first hops by thousands of classes) would otherwise
#: be several arrays of 10^7 entries each.
PROPAGATE_BLOCK = 1 << 20
#: Destination classes from which a direct all-to-all looks for symmetries to route one class
#: per orbit (:func:`_propagate_blocks`); below, checking them costs more than routing all.
SYMMETRY_MIN_CLASSES = 64


def _propagate_blocks(index: FabricIndex, hop_ids: np.ndarray, cls_ids: np.ndarray,
                      amount: np.ndarray, load: np.ndarray,
                      unchanged: Callable[[np.ndarray, np.ndarray], bool] | None = None
                      ) -> LinkLoads | None:
    """Route ``amount[f, k]`` bytes from transit node ``hop_ids[f]`` to class ``cls_ids[k]``
    (zeros skipped), a block of classes at a time (:data:`PROPAGATE_BLOCK` pairs at most; the
    router sums each class's bytes in the same order however the classes are grouped, to
    rounding where classes share a distance row, as multi-homed GPUs on the same leaves do);
    None if nothing moves.
    The result's ``path_latency_s`` is empty: ``max_latency_s``, ``max_hops`` and
    ``unroutable`` cover every block.

    Where automorphisms of the fabric (:func:`fabric.symmetry.symmetry`) leave the demand
    unchanged, only one class per orbit is routed, carrying its orbit's demand, and each orbit
    of edges shares the load (:meth:`fabric.symmetry.Symmetry.spread`): the same loads as
    routing every class, to rounding (``tests/fabric/test_symmetry.py`` checks it against this
    general path on every family). ``unroutable`` then counts the routed classes' demands.
    ``unchanged(moved, image)`` says whether a node permutation leaves the demand unchanged,
    where the caller knows it more cheaply than by comparing ``amount`` with its image
    (:meth:`fabric.symmetry.Symmetry.keeping`, the default)."""
    sym = symmetry(index) if len(cls_ids) >= SYMMETRY_MIN_CLASSES else None
    if sym is not None and index.swaps:
        kept = (sym.keeping(hop_ids, cls_ids, amount) if unchanged is None
                else [g for g in sym.kept(unchanged) if sym.maps_onto(g, cls_ids)])
        label = sym.class_orbits(kept, cls_ids)
        orbits, reps, size = np.unique(label, return_index=True, return_counts=True)
        if len(orbits) < len(cls_ids):
            part = np.zeros_like(load)
            got = _propagate_all(index, hop_ids, cls_ids[reps], amount[:, reps] * size, part)
            load += sym.spread(kept, part)
            return got
    return _propagate_all(index, hop_ids, cls_ids, amount, load)


def _propagate_all(index: FabricIndex, hop_ids: np.ndarray, cls_ids: np.ndarray,
                   amount: np.ndarray, load: np.ndarray) -> LinkLoads | None:
    """:func:`_propagate_blocks` for every class."""
    step = max(1, PROPAGATE_BLOCK // max(len(hop_ids), 1) // 64) * 64
    latency_s, hops, lost, moved = 0.0, 0, 0, False
    for start in range(0, len(cls_ids), step):
        block = amount[:, start:start + step]
        f_i, k_i = np.nonzero(block)
        if len(f_i) == 0:
            continue
        got = propagate(index, hop_ids[f_i], cls_ids[start + k_i], block[f_i, k_i], load)
        moved = True
        latency_s = max(latency_s, got.max_latency_s)
        hops, lost = max(hops, got.max_hops), lost + got.unroutable
    if not moved:
        return None
    return LinkLoads(load_bytes=load, max_latency_s=latency_s, max_hops=hops, unroutable=lost,
                     path_latency_s=np.zeros(0))


#: Direct all-to-all steps of at most this many pairs keep their flows for the routing policies
#: that place each flow on one path; larger ones use the fluid split (thousands of flows share
#: each link there, so per-flow collisions average out).
DIRECT_FLOW_LIMIT = 1 << 21


def _direct_flows(c: Communicator, pxn: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of a direct all-to-all as a flow of 1/n, one flow per pair: inside a domain
    over NVLink; across domains to the destination, through the proxy of the destination's
    rail in the source's domain under PXN (an NVLink flow to the proxy, a network flow from it).
    """
    n = c.n
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    dom, rail = c.domain, c.rail
    if not pxn:
        return c.pos[i], c.pos[j], np.full(len(i), 1.0 / n)
    num_rails = int(rail.max()) + 1
    key = np.unique(dom, return_inverse=True)[1].reshape(-1) * num_rails + rail
    proxy_of_key = np.full(int(key.max()) + 1, -1, dtype=np.int64)
    proxy_of_key[key[::-1]] = np.arange(n)[::-1]  # the first member on each (domain, rail)
    inside = dom[i] == dom[j]
    proxy = np.where(inside, i, proxy_of_key[key[i] - rail[i] + rail[j]])
    hop = ~inside & (proxy != i)
    src = np.concatenate([i[~hop], i[hop], proxy[hop]])
    dst = np.concatenate([j[~hop], proxy[hop], j[hop]])
    return c.pos[src], c.pos[dst], np.full(len(src), 1.0 / n)


# -- the builders, one per algorithm (the registry checks applicability first) ----------------
def ring_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """Ring (all-reduce, all-gather, reduce-scatter): one phase of ``n - 1`` (all-reduce:
    ``2(n - 1)``) steps over the per-rail channels; broadcast and reduce: a pipelined chain whose
    first chunk crosses all ``n - 1`` hops, ``(n - 1)·α`` (Thakur et al., IJHPCA 2005)."""
    index, c = on.index, on.comm
    n = c.n
    if collective in ("broadcast", "reduce"):
        s, d = c.pos[:-1], c.pos[1:]
        return [_phase_from_parts(index, [(s, d, np.ones(len(s)), n - 1)], alpha_steps=n - 1)]
    s, d, r = _ring_flows(c)
    repeat = 2 * (n - 1) if collective == "all-reduce" else n - 1
    return [_phase_from_flows(index, s, d, r, repeat=repeat, alpha_steps=1)]


def ring_steps(c: Communicator, collective: str) -> float:
    """The software steps :func:`ring_phases` charges, before routing: ``n - 1`` (all-reduce
    ``2(n - 1)``), one per step of the ring or hop of the chain."""
    return float(2 * (c.n - 1) if collective == "all-reduce" else c.n - 1)


def tree_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """Double binary tree across domains, chains inside: reduce up, broadcast down."""
    return _tree(on.index, on.comm)


def _lg(n: int) -> int:
    """log2 of a power of two (0 otherwise: the registry refuses other counts first)."""
    return int(round(math.log2(n))) if is_power_of_two(n) else 0


def recursive_doubling_plan(c: Communicator, collective: str) -> list[Exchange]:
    """Exchange with the partner at distance 2^k, k = 0..lg n - 1: the whole buffer each step
    (all-reduce) or the 2^k/n gathered so far (all-gather)."""
    n = c.n
    lg = _lg(n)
    if collective == "all-reduce":
        return [Exchange(1 << k, 1.0) for k in range(lg)]
    return [Exchange(1 << k, 2**k / n) for k in range(lg)]


def _halving(n: int) -> list[Exchange]:
    """Halving with the partner distance doubling: half the buffer to the nearest partner
    first (MPICH ``allreduce_intra_reduce_scatter_allgather.c``: ``mask`` from 1 up)."""
    lg = _lg(n)
    return [Exchange(1 << k, 2 ** (lg - 1 - k) / n) for k in range(lg)]


def recursive_halving_plan(c: Communicator, collective: str) -> list[Exchange]:
    """Reduce-scatter by halving: half of what is left each step, the farthest partner first
    (MPICH ``reduce_scatter_intra_recursive_halving.c``: the step with partner ``rank ^ mask``,
    ``mask`` from n/2 down to 1, sends ``mask`` of the n blocks). So the partner at distance d
    gets d/n of the buffer: the half to the farthest partner, which on a packed placement is
    the network, and 1/n to the nearest (Rabenseifner's reduce-scatter, :func:`_halving`, pairs
    them the other way round, as MPICH's all-reduce does)."""
    lg = _lg(c.n)
    return [Exchange(1 << k, 2**k / c.n) for k in reversed(range(lg))]


def rabenseifner_plan(c: Communicator, collective: str) -> list[Exchange]:
    """Reduce-scatter by recursive halving, then all-gather by recursive doubling."""
    return _halving(c.n) + _halving(c.n)


def recursive_doubling_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """:func:`recursive_doubling_plan` routed."""
    return exchange_phases(on, recursive_doubling_plan(on.comm, collective))


def recursive_halving_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """:func:`recursive_halving_plan` routed."""
    return exchange_phases(on, recursive_halving_plan(on.comm, collective))


def rabenseifner_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """:func:`rabenseifner_plan` routed."""
    return exchange_phases(on, rabenseifner_plan(on.comm, collective))


def binomial_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """Binomial tree: in step k the 2^k ranks holding the data send it to rank + 2^k."""
    index, c = on.index, on.comm
    n = c.n
    phases = []
    for k in range(math.ceil(math.log2(n)) if n > 1 else 0):
        senders = np.arange(min(2**k, n - 2**k))
        phases.append(
            _phase_from_flows(
                index,
                c.pos[senders],
                c.pos[senders + 2**k],
                np.ones(len(senders)),
                repeat=1,
                alpha_steps=1,
            )
        )
    return phases


def bruck_plan(c: Communicator, collective: str) -> list[Exchange]:
    """Bruck (and PAT, its one-GPU-per-node variant): ceil(lg n) shifts by 2^k, half the buffer
    each (all-to-all) or the min(2^k, n - 2^k)/n gathered so far."""
    n = c.n
    return [Exchange(2**k, 0.5 if collective == "all-to-all" else min(2**k, n - 2**k) / n,
                     xor=False)
            for k in range(math.ceil(math.log2(n)) if n > 1 else 0)]


def bruck_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """:func:`bruck_plan` routed."""
    return exchange_phases(on, bruck_plan(on.comm, collective))


def pairwise_plan(c: Communicator, collective: str) -> list[Exchange]:
    """Pairwise exchange: n - 1 steps, partner by XOR for a power-of-two n and by shift
    otherwise (MPICH alltoall_intra_pairwise.c).

    Stratified: the partners at distance 1 .. m - 1 (m the largest scale-up domain, where
    partners of a packed placement are NVLink peers) are routed each, the n - m others are
    sampled (:data:`PAIRWISE_SAMPLES`, evenly spaced, each weighing its share). Sampling all
    n - 1 evenly let distance 1, an NVLink step, stand for n/16 network steps: 3-5% too fast at
    256-1,024 GPUs against routing every step, and 0.0% this way.
    """
    n = c.n
    m = min(max(len(g) for g in c.groups), n)
    xor = is_power_of_two(n)
    far = np.unique(np.linspace(m, n - 1, min(n - m, PAIRWISE_SAMPLES)).round().astype(int))
    weight = (n - m) / len(far) if len(far) else 0.0
    return ([Exchange(k, 1.0 / n, xor=xor) for k in range(1, m)]
            + [Exchange(int(k), 1.0 / n, xor=xor, repeat=weight) for k in far])


def pairwise_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """:func:`pairwise_plan` routed."""
    return exchange_phases(on, pairwise_plan(on.comm, collective))


def direct_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """All pairs at once (all-to-all, PXN when domains exist), or rank i to rank i + 1
    (send-recv)."""
    if collective == "all-to-all":
        return [_direct_all_to_all(on.index, on.comm)]
    return [_shift_phase(on.index, on.comm, 1, 1.0, repeat=1)]


_RINGS_MEMO_KEY = (__name__, "two-level rings")


def _two_level_rings(on: PlacedRanks, inter_repeat: int) -> tuple[Phase, Phase]:
    """A ring inside each domain (m ranks, 1/m of the buffer per step, m - 1 steps) and a ring
    per rail across the domains (the ranks at the same place in every domain, 1/n per step,
    ``inter_repeat`` times per ring step count); domains of equal size m >= 2. Routed once per
    ranks and fabric index (the hierarchical all-reduce and the multi-leader all-gather and
    reduce-scatter share them: only the repeat differs)."""
    index, c = on.index, on.comm
    memo = cast("dict[tuple[str, ...], tuple[Phase, Phase]]",
                index.memo.setdefault(_RINGS_MEMO_KEY, {}))
    found = memo.get(c.ranks)
    if found is None:
        m, num = len(c.groups[0]), len(c.groups)
        table = np.stack(c.groups)  # (domains, m)
        intra_src = c.pos[table.ravel()]
        intra_dst = c.pos[np.roll(table, -1, axis=1).ravel()]
        intra = _phase_from_flows(index, intra_src, intra_dst,
                                  np.full(len(intra_src), 1.0 / m), repeat=m - 1, alpha_steps=1)
        inter_src = c.pos[table.T.ravel()]
        inter_dst = c.pos[np.roll(table, -1, axis=0).T.ravel()]
        inter = _phase_from_flows(index, inter_src, inter_dst,
                                  np.full(len(inter_src), 1.0 / (m * num)), repeat=num - 1,
                                  alpha_steps=1)
        if len(memo) >= _UNIT_MEMO_LIMIT:
            memo.clear()
        found = memo[c.ranks] = (intra, inter)
    intra, inter = found
    if inter_repeat != 1:
        inter = dataclasses.replace(inter, repeat=inter_repeat * inter.repeat)
    return intra, inter


def hierarchical_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """Reduce-scatter inside each domain (a ring of m), a ring all-reduce per rail across the
    domains, all-gather inside each domain; domains of equal size m >= 2."""
    intra, inter = _two_level_rings(on, 2)
    return [intra, inter, intra]


def multi_leader_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """All-gather: a ring all-gather per rail across the domains (every rank the leader of its
    rail: n/m ranks, 1/n of the buffer each), then a ring all-gather inside each domain of what
    its rail gathered (1/m each). Reduce-scatter: the same two rings the other way round.
    Domains of equal size m >= 2. Its network steps are n/m - 1, against the flat ring's
    n - 1, for the same bytes on every NIC."""
    intra, inter = _two_level_rings(on, 1)
    return [inter, intra] if collective == "all-gather" else [intra, inter]


def in_network_phases(on: PlacedRanks, collective: str) -> list[Phase]:
    """Switch reduction: in one NVSwitch domain every rank sends S up and receives S down (NVLS);
    across domains a reduce-scatter in each domain, 1/m of S up to the leaf and back (SHARP),
    and an all-gather in each domain, the three pipelined (:func:`_pipelined`, as NCCL's
    CollNet runs them): NVLink and the NIC are busy at once."""
    index, c = on.index, on.comm
    if len(c.groups) == 1 and c.domain[0] >= 0:
        load = np.zeros(index.num_edges)
        np.add.at(load, index.up_edge[c.pos], 1.0)
        np.add.at(load, index.down_edge[c.pos], 1.0)
        lat = float(
            index.edge_latency_s[index.up_edge[c.pos]].max()
            + index.edge_latency_s[index.down_edge[c.pos]].max()
        )
        return [_phase_from_loads(load, lat, repeat=1, alpha_steps=2)]
    first = index.single_out[c.pos]
    m = max(len(g) for g in c.groups)
    phases = []
    if m > 1:
        table_src, table_dst = [], []
        for g in c.groups:
            table_src.append(c.pos[g])
            table_dst.append(c.pos[np.roll(g, -1)])
        s, d = np.concatenate(table_src), np.concatenate(table_dst)
        phases.append(
            _phase_from_flows(index, s, d, np.full(len(s), 1.0 / m), repeat=m - 1, alpha_steps=1)
        )
    load = np.zeros(index.num_edges)
    np.add.at(load, first, 1.0 / m)
    np.add.at(load, index.single_in[c.pos], 1.0 / m)
    lat = 2 * float(index.edge_latency_s[first].max()) + 2 * float(index.edge_latency_s.max())
    phases.append(_phase_from_loads(load, lat, repeat=1, alpha_steps=2))
    if m > 1:
        phases.append(phases[0])
    return [_pipelined(phases)]
