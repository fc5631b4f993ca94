"""The collective model on the fabric: algorithm steps as flows, flows as link loads, loads as time.

Each algorithm (see :mod:`collectives.algorithms` for the closed forms and their sources) is a
list of *phases*; a phase is one synchronized step repeated ``repeat`` times, whose flows are
routed over the graph (:mod:`fabric.routing`, ECMP) and whose time is
``alpha_s * alpha_steps + path latency + S * max_e(load_e / capacity_e)`` (:mod:`fabric.flows`).
Loads are linear in the size S, so an algorithm on a placement reduces to
``time(S) = latency_s + seconds_per_byte * S``: computed once (cached per graph, ranks and
algorithm) and then O(1) per size. Symmetric steps are computed once (a ring's 2(n-1) steps are
one phase); pairwise all-to-all samples at most ``PAIRWISE_SAMPLES`` of its n-1 shifts.

Rings and trees follow NCCL's structure (nccl_models.md §3.3): one ring per NIC ("channel"),
entering each server at the GPU of that channel's rail and leaving through the same rail, with
the last hop forwarded over NVLink to that rail's GPU (PXN), so a rail-aligned placement keeps
every network hop on one rail. All-to-all crosses servers through the destination rail's GPU
(PXN) whenever servers have an NVLink domain; rail-only fabrics depend on it.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from collectives.algorithms import ALGORITHMS, algorithms_for, is_power_of_two
from collectives.names import busbw_factor, canonical
from collectives.placement import place
from fabric.flows import edge_name
from fabric.routing import FabricIndex, deliver, fabric_index, propagate, route

__all__ = [
    "ModelParams",
    "Prediction",
    "predict",
    "predict_many",
    "algorithm_costs",
    "PAIRWISE_SAMPLES",
    "FLAVORS",
]

PAIRWISE_SAMPLES = 16
FLAVORS = ("ideal", "nccl")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelParams:
    """Parameters of the ideal flavor (calibration fits them).

    ``alpha_s`` is the software cost of one algorithm step (message setup, synchronization),
    on top of the path's cable and switch latency. ``efficiency_by_link`` scales the capacity of
    every edge whose ``link`` is the key (what fraction of the line rate a transfer achieves).
    """

    alpha_s: float = 2.0e-6
    efficiency_by_link: dict[str, float] = field(default_factory=dict)
    default_efficiency: float = 1.0

    def __post_init__(self) -> None:
        if not self.alpha_s >= 0:
            raise ValueError(f"alpha_s must be >= 0, got {self.alpha_s!r}")
        for key, value in {**self.efficiency_by_link, "default": self.default_efficiency}.items():
            if not 0 < value <= 1.5:
                raise ValueError(f"efficiency for {key!r} must be in (0, 1.5], got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """A predicted collective: nccl-tests quantities plus why.

    ``bound_ratio`` is time over the bandwidth-optimal lower bound (bytes that must leave each
    GPU and each scale-up domain over their links, no latency); ``time_low_s`` / ``time_high_s``
    bound the prediction when a calibration gives an error band (equal to ``time_s`` otherwise).
    """

    collective: str
    size_bytes: int
    num_ranks: int
    num_domains: int
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    algorithm: str
    protocol: str
    flavor: str
    latency_s: float
    bottleneck: str
    bottleneck_utilization: float
    bound_ratio: float
    bytes_sent_per_rank: float
    time_low_s: float
    time_high_s: float


@dataclass(frozen=True, slots=True)
class _Phase:
    repeat: float
    edges: np.ndarray  # edge positions with load
    load: np.ndarray  # bytes per byte of S on those edges
    latency_s: float
    alpha_steps: float


@dataclass(frozen=True, slots=True)
class _Comm:
    ranks: tuple[str, ...]
    pos: np.ndarray
    domain: np.ndarray  # per rank: scale-up switch position, or -1 - rank
    rail: np.ndarray
    groups: tuple[np.ndarray, ...]  # rank indices per domain, in order of first appearance

    @property
    def n(self) -> int:
        return len(self.ranks)


_COMM_CACHE: weakref.WeakKeyDictionary[nx.DiGraph, dict] = weakref.WeakKeyDictionary()


def _comm(G: nx.DiGraph, index: FabricIndex, ranks: Sequence[str]) -> _Comm:
    cache = _COMM_CACHE.setdefault(G, {})
    key = tuple(ranks)
    found = cache.get(key)
    if found is not None and found[0] is index:
        return found[1]
    if len(cache) > 64:
        cache.clear()
    comm = _build_comm(index, key)
    cache[key] = (index, comm)
    return comm


def _build_comm(index: FabricIndex, ranks: tuple[str, ...]) -> _Comm:
    pos = np.array([index.index[r] for r in ranks], dtype=np.int64)
    dom = index.scaleup_switch[pos].copy()
    lone = dom < 0
    dom[lone] = -1 - np.flatnonzero(lone)
    rail = index.rail[pos]
    order: dict[int, list[int]] = {}
    for i, d in enumerate(dom.tolist()):
        order.setdefault(d, []).append(i)
    groups = tuple(np.asarray(v, dtype=np.int64) for v in order.values())
    return _Comm(ranks=tuple(ranks), pos=pos, domain=dom, rail=rail, groups=groups)


def _phase_from_flows(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    rel: np.ndarray,
    *,
    repeat: float,
    alpha_steps: float,
) -> _Phase:
    loads = route(index, src, dst, rel)
    if loads.unroutable:
        raise ValueError(
            f"{loads.unroutable} flow(s) have no path in this fabric (e.g. across rails "
            f"of a rail-only fabric without NVLink forwarding)"
        )
    nz = np.flatnonzero(loads.load_bytes)
    return _Phase(repeat, nz, loads.load_bytes[nz], loads.max_latency_s, alpha_steps)


def _phase_from_loads(
    load: np.ndarray, latency_s: float, *, repeat: float, alpha_steps: float
) -> _Phase:
    nz = np.flatnonzero(load)
    return _Phase(repeat, nz, load[nz], latency_s, alpha_steps)


# -- flow patterns ---------------------------------------------------------------------------
def _ring_flows(c: _Comm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _tree_phases(index: FabricIndex, c: _Comm) -> list[_Phase]:
    """Double binary tree over domains (heap order and its mirror), one tree pair per channel.

    A pipelined tree's first chunk crosses every level, so the phase latency is the chain's
    ``m - 1`` NVLink hops plus ``floor(lg domains)`` network hops, each at its path latency
    (the closed form's ``2 lg n·α`` per reduce + broadcast, nccl_models.md §3.3).
    """
    groups = c.groups
    num = len(groups)
    channels = min(len(g) for g in groups)
    parts = []
    src, dst, rel = [], [], []
    for g in groups:  # intra-domain chains carry the data once per phase
        if len(g) > 1:
            src.append(c.pos[g[:-1]])
            dst.append(c.pos[g[1:]])
            rel.append(np.ones(len(g) - 1))
    chain = max(len(g) for g in groups) - 1
    if src:
        parts.append((np.concatenate(src), np.concatenate(dst), np.concatenate(rel), chain))
    depth = math.floor(math.log2(num)) if num > 1 else 0
    if num > 1:
        src, dst, rel = [], [], []
        child = np.arange(1, num)
        parent = (child - 1) // 2
        sizes = np.array([len(g) for g in groups])
        flat = np.concatenate(groups)
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
) -> _Phase:
    """One phase of several flow sets whose path latency counts ``k`` times each (pipelines)."""
    load = np.zeros(index.num_edges)
    latency = 0.0
    for s, d, r, k in parts:
        loads = route(index, s, d, r)
        if loads.unroutable:
            raise ValueError(f"{loads.unroutable} flow(s) have no path in this fabric")
        load += loads.load_bytes
        latency += k * loads.max_latency_s
    return _phase_from_loads(load, latency, repeat=1, alpha_steps=alpha_steps)


def _xor_phases(index: FabricIndex, c: _Comm, rel_of_step: list[float]) -> list[_Phase]:
    n = c.n
    ranks = np.arange(n)
    phases = []
    for k, rel in enumerate(rel_of_step):
        partner = ranks ^ (1 << k)
        phases.append(
            _phase_from_flows(
                index, c.pos, c.pos[partner], np.full(n, rel), repeat=1, alpha_steps=1
            )
        )
    return phases


def _shift_phase(
    index: FabricIndex, c: _Comm, shift: int, rel: float, repeat: float, *, xor: bool = False
) -> _Phase:
    """Every rank sends to rank + shift (mod n), or to rank XOR shift (MPICH's pairwise exchange
    for a power-of-two n, alltoall_intra_pairwise.c)."""
    n = c.n
    ranks = np.arange(n)
    dst = c.pos[ranks ^ shift] if xor else c.pos[(ranks + shift) % n]
    return _phase_from_flows(index, c.pos, dst, np.full(n, rel), repeat=repeat, alpha_steps=1)


def _direct_all_to_all(index: FabricIndex, c: _Comm) -> _Phase:
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
        and len(np.unique(dom_idx * (int(rail.max()) + 1) + rail))
        == len(dom_ids) * len(np.unique(rail))
    )
    cls = index.class_of[pos]
    if (cls < 0).any():
        raise ValueError(
            "a rank's GPU has no scale-out link: all-to-all across servers is impossible"
        )
    first_hop = index.single_out[pos]
    if (first_hop < 0).any():
        raise ValueError(
            "all-to-all over GPUs with several scale-out links is modeled per pair; "
            "use --algorithm pairwise"
        )
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
        agg = np.maximum(agg, 0.0) / n
        f_i, k_i = np.nonzero(agg > 1e-15)
        # first hop of each proxy: all it forwards
        per_proxy = (
            dom_size[dom_idx[first]]
            * (
                cnt[rail[first]].sum(axis=1)
                - np.bincount(key, minlength=len(proxy_of_key))[key[first]]
            )
            / n
        )
        np.add.at(load, first_hop[first], per_proxy)
        result = propagate(index, hop_ids[f_i], cls_ids[k_i], agg[f_i, k_i], load)
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
        f_i, k_i = np.nonzero(counts > 0)
        np.add.at(load, first_hop, outside / n)
        np.add.at(arrivals, pos, outside / n)
        result = (
            propagate(index, hop_ids[f_i], cls_ids[k_i], counts[f_i, k_i] / n, load)
            if len(f_i)
            else None
        )
    deliver(index, arrivals, load)
    # path latency: the longest of an NVLink pair and a network pair (GPU -> first switch ->
    # ... -> last switch -> GPU), the latter after an NVLink hop to the proxy under PXN
    lat = index.edge_latency_s
    nvlink = 0.0
    if has_up.any():
        nvlink = float(
            lat[index.up_edge[pos[has_up]]].max() + lat[index.down_edge[pos[has_up]]].max()
        )
    latency = nvlink if (dom_size > 1).any() else 0.0
    if result is not None:
        if result.unroutable:
            raise ValueError("some all-to-all traffic has no path in this fabric")
        network = result.max_latency_s + float(lat[first_hop].max() + index.in_latency[pos].max())
        if pxn and (forwarded > 0).any():
            network += nvlink
        latency = max(latency, network)
    return _phase_from_loads(load, latency, repeat=1, alpha_steps=1)


def _hierarchical_phases(index: FabricIndex, c: _Comm) -> list[_Phase]:
    sizes = {len(g) for g in c.groups}
    if len(c.groups) < 2 or len(sizes) != 1 or sizes == {1}:
        raise ValueError(
            "hierarchical all-reduce needs >= 2 scale-up domains with the same number "
            "of ranks (>= 2) each"
        )
    m, num = sizes.pop(), len(c.groups)
    table = np.stack(c.groups)  # (domains, m)
    intra_src = c.pos[table.ravel()]
    intra_dst = c.pos[np.roll(table, -1, axis=1).ravel()]
    rel_intra = np.full(len(intra_src), 1.0 / m)
    rs = _phase_from_flows(index, intra_src, intra_dst, rel_intra, repeat=m - 1, alpha_steps=1)
    inter_src = c.pos[table.T.ravel()]
    inter_dst = c.pos[np.roll(table, -1, axis=0).T.ravel()]
    inter = _phase_from_flows(
        index,
        inter_src,
        inter_dst,
        np.full(len(inter_src), 1.0 / (m * num)),
        repeat=2 * (num - 1),
        alpha_steps=1,
    )
    return [rs, inter, rs]


def _in_network_phases(G: nx.DiGraph, index: FabricIndex, c: _Comm) -> list[_Phase]:
    def capable(node_pos: int) -> bool:
        return bool(
            G.nodes[index.nodes[node_pos]].get(
                "in_network_reduction", _switch_inr(G, index, node_pos)
            )
        )

    if len(c.groups) == 1 and c.domain[0] >= 0:
        if not capable(int(c.domain[0])):
            raise ValueError(
                "in-network reduction needs an NVSwitch with NVLS (in_network_reduction)"
            )
        load = np.zeros(index.num_edges)
        np.add.at(load, index.up_edge[c.pos], 1.0)
        np.add.at(load, index.down_edge[c.pos], 1.0)
        lat = float(
            index.edge_latency_s[index.up_edge[c.pos]].max()
            + index.edge_latency_s[index.down_edge[c.pos]].max()
        )
        return [_phase_from_loads(load, lat, repeat=1, alpha_steps=2)]
    first = index.single_out[c.pos]
    if (first < 0).any() or not all(capable(int(index.edge_dst[e])) for e in set(first.tolist())):
        raise ValueError(
            "in-network reduction (SHARP) needs every rank on a switch with "
            "in_network_reduction (e.g. qm9700); this fabric's leaves lack it"
        )
    sizes = {len(g) for g in c.groups}
    m = max(sizes)
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
    return phases


def _switch_inr(G: nx.DiGraph, index: FabricIndex, node_pos: int) -> bool:
    from fabric.catalog import default_catalog

    model = G.nodes[index.nodes[node_pos]].get("model")
    switches = default_catalog().switches
    return bool(model in switches and switches[model].in_network_reduction)


def _phases(
    G: nx.DiGraph, index: FabricIndex, c: _Comm, collective: str, algorithm: str
) -> list[_Phase]:
    n = c.n
    if ALGORITHMS[algorithm].power_of_two and not is_power_of_two(n):
        raise ValueError(f"algorithm {algorithm!r} needs a power-of-two number of ranks, got {n}")
    lg = int(round(math.log2(n))) if is_power_of_two(n) else 0
    if collective in ("all-reduce", "all-gather", "reduce-scatter") and algorithm == "ring":
        s, d, r = _ring_flows(c)
        repeat = 2 * (n - 1) if collective == "all-reduce" else n - 1
        return [_phase_from_flows(index, s, d, r, repeat=repeat, alpha_steps=1)]
    if algorithm == "ring" and collective in ("broadcast", "reduce"):
        # pipelined chain: the first chunk crosses all n-1 hops, (n-1)·α (nccl_models.md §3.2)
        s, d = c.pos[:-1], c.pos[1:]
        return [_phase_from_parts(index, [(s, d, np.ones(len(s)), n - 1)], alpha_steps=n - 1)]
    if algorithm == "tree":
        return _tree_phases(index, c)
    if algorithm == "recursive-doubling" and collective == "all-reduce":
        return _xor_phases(index, c, [1.0] * lg)
    if algorithm == "recursive-doubling" and collective == "all-gather":
        return _xor_phases(index, c, [2**k / n for k in range(lg)])
    if algorithm == "recursive-halving":
        return _xor_phases(index, c, [2 ** (lg - 1 - k) / n for k in range(lg)])[::-1]
    if algorithm == "rabenseifner":
        halving = _xor_phases(index, c, [2 ** (lg - 1 - k) / n for k in range(lg)])
        return halving + halving
    if algorithm == "binomial":
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
    if algorithm == "pat" and any(len(g) > 1 for g in c.groups):
        raise ValueError("PAT runs with one GPU per node (NCCL); this placement has more")
    if algorithm in ("bruck", "pat"):
        phases = []
        for k in range(math.ceil(math.log2(n)) if n > 1 else 0):
            rel = 0.5 if collective == "all-to-all" else min(2**k, n - 2**k) / n
            phases.append(_shift_phase(index, c, 2**k, rel, repeat=1))
        return phases
    if algorithm == "pairwise":
        shifts = np.unique(np.linspace(1, n - 1, min(n - 1, PAIRWISE_SAMPLES)).round().astype(int))
        weight = (n - 1) / len(shifts)
        return [
            _shift_phase(index, c, int(k), 1.0 / n, repeat=weight, xor=is_power_of_two(n))
            for k in shifts
        ]
    if algorithm == "direct" and collective == "all-to-all":
        return [_direct_all_to_all(index, c)]
    if algorithm == "direct" and collective == "send-recv":
        return [_shift_phase(index, c, 1, 1.0, repeat=1)]
    if algorithm == "hierarchical":
        return _hierarchical_phases(index, c)
    if algorithm == "in-network":
        return _in_network_phases(G, index, c)
    raise ValueError(
        f"algorithm {algorithm!r} does not serve {collective}; use one of "
        f"{', '.join(algorithms_for(collective))}"
    )


# -- evaluation -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmCost:
    """``time(S) = latency_s + seconds_per_byte * S`` for one algorithm on one placement."""

    algorithm: str
    latency_s: float
    seconds_per_byte: float
    bottleneck: str
    bytes_sent_per_rank_per_byte: float


_PHASE_CACHE: weakref.WeakKeyDictionary[nx.DiGraph, dict] = weakref.WeakKeyDictionary()


# Collectives whose phases are another's: reduce-scatter's ring and PAT steps carry the same
# bytes as all-gather's (the same shifts, reversed), a ring all-reduce is both back to back.
_SAME_PHASES = {
    ("reduce-scatter", "ring"): ("all-gather", "ring"),
    ("reduce-scatter", "pat"): ("all-gather", "pat"),
}


def _cached_phases(
    G: nx.DiGraph, index: FabricIndex, c: _Comm, collective: str, algorithm: str
) -> list[_Phase]:
    cache = _PHASE_CACHE.setdefault(G, {})
    if (collective, algorithm) == ("all-reduce", "ring") and c.n > 1:
        half = _cached_phases(G, index, c, "all-gather", "ring")
        return [dataclasses.replace(ph, repeat=2 * ph.repeat) for ph in half]
    collective, algorithm = _SAME_PHASES.get((collective, algorithm), (collective, algorithm))
    key = (c.ranks, collective, algorithm)
    if key not in cache:
        if len(cache) > 256:
            cache.clear()
        cache[key] = _phases(G, index, c, collective, algorithm)
    return cache[key]


SCALEUP_CLASSES = ("scale-up", "host-internal")
SCALEOUT_CLASSES = ("scale-out", "network")


def _efficiency(index: FabricIndex, params: ModelParams) -> np.ndarray | None:
    """Per-edge capacity factor: link keys first, then link classes for the other edges.

    A key that is no edge's link type but names a class applies to that class: ``scale-up`` /
    ``host-internal`` (edges into or out of a tier-0 switch) and ``scale-out`` / ``network``
    (all others). So a calibration fitted on the generic two-level fabric of a log (whose links
    are ``host-internal`` and ``network``) carries over to a built fabric's NVLink and NICs.
    """
    if not params.efficiency_by_link and params.default_efficiency == 1.0:
        return None
    eff = np.full(index.num_edges, params.default_efficiency)
    exact = np.zeros(index.num_edges, dtype=bool)
    for link, value in params.efficiency_by_link.items():
        hit = index.edge_link == link
        eff[hit] = value
        exact |= hit
    scaleup = index.is_scaleup[index.edge_src] | index.is_scaleup[index.edge_dst]
    for link, value in params.efficiency_by_link.items():
        if link in SCALEUP_CLASSES:
            eff[scaleup & ~exact] = value
        elif link in SCALEOUT_CLASSES:
            eff[~scaleup & ~exact] = value
    return eff


def _evaluate(
    index: FabricIndex, c: _Comm, phases: list[_Phase], algorithm: str, params: ModelParams
) -> AlgorithmCost:
    eff = _efficiency(index, params)
    cap = index.edge_capacity_bytes_per_s
    latency = spb = 0.0
    worst_edge, worst_part = -1, -1.0
    sent = 0.0
    gpu_out = index.edge_from_gpu
    for ph in phases:
        if len(ph.edges) == 0:
            latency += ph.repeat * ph.alpha_steps * params.alpha_s
            continue
        c_e = cap[ph.edges] * (eff[ph.edges] if eff is not None else 1.0)
        ratio = ph.load / c_e
        k = int(np.argmax(ratio))
        step = float(ratio[k])
        latency += ph.repeat * (ph.latency_s + ph.alpha_steps * params.alpha_s)
        spb += ph.repeat * step
        if ph.repeat * step > worst_part:
            worst_part, worst_edge = ph.repeat * step, int(ph.edges[k])
        sent += ph.repeat * float(ph.load[gpu_out[ph.edges]].sum())
    return AlgorithmCost(
        algorithm=algorithm,
        latency_s=latency,
        seconds_per_byte=spb,
        bottleneck=edge_name(index, worst_edge),
        bytes_sent_per_rank_per_byte=sent / c.n,
    )


AUTO_ALGORITHMS = ("ring", "tree", "hierarchical", "pat", "direct")


def _candidates(collective: str, c: _Comm) -> list[str]:
    """Algorithms tried when none is named: the ones NCCL chooses among.

    MPI-style algorithms (recursive doubling/halving, Rabenseifner, Bruck, pairwise, binomial)
    and in-network reduction (it needs SHARP/NVLS enabled) are modeled when named.
    """
    out = []
    for a in algorithms_for(collective):
        if a not in AUTO_ALGORITHMS:
            continue
        if ALGORITHMS[a].power_of_two and not is_power_of_two(c.n):
            continue
        if a == "hierarchical" and (
            len(c.groups) < 2 or len({len(g) for g in c.groups}) != 1 or len(c.groups[0]) < 2
        ):
            continue
        if a == "pat" and any(len(g) > 1 for g in c.groups):
            continue
        if a == "pairwise" and c.n > 4096:
            continue
        out.append(a)
    return out


def algorithm_costs(
    G: nx.DiGraph,
    collective: str,
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    params: ModelParams | None = None,
    seed: int = 0,
) -> list[AlgorithmCost]:
    """Latency and seconds-per-byte of each candidate algorithm (or the named one).

    Algorithms that do not apply on this fabric (no in-network reduction, a rail-only path that
    needs forwarding the algorithm cannot do) are left out when none was named.
    """
    name = canonical(collective)
    params = params or ModelParams()
    index = fabric_index(G)
    if isinstance(ranks, (list, tuple)):
        chosen = place(G, None, ranks)
    else:
        chosen = place(G, ranks, placement, seed=seed)
    if len(chosen) < 2:
        raise ValueError(f"a collective needs at least 2 ranks, got {len(chosen)}")
    c = _comm(G, index, chosen)
    if algorithm is not None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
        if algorithm not in algorithms_for(name):
            raise ValueError(
                f"algorithm {algorithm!r} does not serve {name}; use one of "
                f"{', '.join(algorithms_for(name))}"
            )
        return [
            _evaluate(index, c, _cached_phases(G, index, c, name, algorithm), algorithm, params)
        ]
    costs = []
    errors = []
    for a in _candidates(name, c):
        try:
            costs.append(_evaluate(index, c, _cached_phases(G, index, c, name, a), a, params))
        except ValueError as err:
            errors.append(f"{a}: {err}")
    if not costs:
        raise ValueError(f"no algorithm for {name} works on this placement: {'; '.join(errors)}")
    return costs


def _lower_bound_s(
    G: nx.DiGraph, index: FabricIndex, c: _Comm, collective: str, size_bytes: float
) -> float:
    """Bandwidth-optimal time: bytes each GPU, and each scale-up domain, must move over its links.

    Two bounds, at the level of GPUs and of domains (a domain D has m_D of the n ranks):

    * some party moves the busbw factor x S (Patarasuk & Yuan's all-reduce bound 2(p-1)/p S,
      nccl_models.md §2.1/§3.2): at least that over the best-connected party's egress;
    * cut bounds, for every party: all-reduce S (every result outside D needs D's input),
      reduce-scatter and all-gather (n - m_D)/n S, all-to-all m_D (n - m_D)/n S, over its own
      egress.

    With equal parties both reduce to the busbw factor over one party's links.
    """
    n = c.n
    busbw = {
        "all-reduce": 2 * (n - 1) / n,
        "all-gather": (n - 1) / n,
        "reduce-scatter": (n - 1) / n,
        "all-to-all": (n - 1) / n,
    }.get(collective, 1.0)

    def bound(m: np.ndarray, egress: np.ndarray, parties: int) -> float:
        ok = egress > 0
        if not ok.any():
            return 0.0
        some = {"all-reduce": 2 * (parties - 1) / parties}.get(collective, 0.0)
        cut = {
            "all-reduce": np.ones_like(m),
            "all-gather": (n - m) / n,
            "reduce-scatter": (n - m) / n,
            "all-to-all": m * (n - m) / n,
        }.get(collective)
        if cut is None:
            return 0.0
        return max(
            some * size_bytes / float(egress[ok].max()),
            float((cut[ok] * size_bytes / egress[ok]).max()),
        )

    per_gpu_egress = index.egress_bytes_per_s[c.pos]
    if collective in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
        worst = bound(np.ones(n), per_gpu_egress, n)
    else:
        worst = busbw * size_bytes / float(per_gpu_egress.min())
    if len(c.groups) <= 1:
        return worst
    # scale-out egress per domain: GPU -> switch/NIC edges, summed over the domain's ranks
    out_edges = np.flatnonzero(index.is_gpu[index.edge_src] & index.transit[index.edge_dst])
    per_node = np.bincount(
        index.edge_src[out_edges],
        weights=index.edge_capacity_bytes_per_s[out_edges],
        minlength=index.num_nodes,
    )
    _, dom_idx = np.unique(c.domain, return_inverse=True)
    dom_egress = np.bincount(dom_idx, weights=per_node[c.pos])
    m = np.bincount(dom_idx).astype(float)
    return max(worst, bound(m, dom_egress, len(m)))


def predict_many(
    G: nx.DiGraph,
    collective: str,
    sizes: Sequence[int],
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    flavor: str = "ideal",
    calibration: object | None = None,
    seed: int = 0,
    nccl_version: str | None = None,
) -> list[Prediction]:
    """Predictions for several sizes of one collective on one placement (one flow solution).

    Parameters
    ----------
    G
        A validated fabric graph.
    collective
        all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, reduce or send-recv.
    sizes
        Sizes in bytes, nccl-tests' meaning (:mod:`collectives.names`); each must be > 0.
    ranks
        Number of ranks (placed by ``placement``) or an explicit list of GPU node ids; None = all.
    placement
        packed, rail-aligned, spread, random (with ``seed``) or a list
        (:mod:`collectives.placement`).
    algorithm
        Force one algorithm; None picks the fastest per size.
    flavor
        ``ideal`` (alpha-beta on the flow model) or ``nccl`` (NCCL's tuner, bandwidths from
        the graph).
    calibration
        A :class:`measure.calibrate.Calibration` (or anything with ``params`` and ``band``).

    Raises
    ------
    ValueError
        Unknown collective, algorithm, flavor or placement; a size <= 0; an algorithm that does not
        apply (e.g. a power-of-two algorithm on 6 ranks). :class:`fabric.InfeasibleError` when the
        ranks do not fit.
    """
    name = canonical(collective)
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
    sizes = [int(s) for s in sizes]
    for s in sizes:
        if s <= 0:
            raise ValueError(f"size must be > 0 bytes, got {s}")
    params = getattr(calibration, "params", None) or ModelParams()
    index = fabric_index(G)
    if flavor == "nccl":
        from collectives.nccl_bridge import predict_nccl

        return predict_nccl(
            G,
            name,
            sizes,
            ranks=ranks,
            placement=placement,
            algorithm=algorithm,
            calibration=calibration,
            seed=seed,
            version=nccl_version,
        )
    costs = algorithm_costs(
        G, name, ranks=ranks, placement=placement, algorithm=algorithm, params=params, seed=seed
    )
    chosen = (
        place(G, None, ranks)
        if isinstance(ranks, (list, tuple))
        else place(G, ranks, placement, seed=seed)
    )
    c = _comm(G, index, chosen)
    out = []
    bound_per_byte = _lower_bound_s(G, index, c, name, 1.0)  # linear in the size
    for size in sizes:
        best = min(costs, key=lambda a: a.latency_s + a.seconds_per_byte * size)
        time_s = best.latency_s + best.seconds_per_byte * size
        low, high = time_s, time_s
        band = getattr(calibration, "band", None)
        if callable(band):
            low, high = band(time_s)
        algbw = size / time_s
        bound = bound_per_byte * size
        transfer = best.seconds_per_byte * size
        out.append(
            Prediction(
                collective=name,
                size_bytes=size,
                num_ranks=c.n,
                num_domains=len(c.groups),
                time_s=time_s,
                algbw_bytes_per_s=algbw,
                busbw_bytes_per_s=algbw * busbw_factor(name, c.n),
                algorithm=best.algorithm,
                protocol="simple",
                flavor="ideal",
                latency_s=best.latency_s,
                bottleneck=best.bottleneck,
                bottleneck_utilization=transfer / time_s if time_s > 0 else 0.0,
                bound_ratio=time_s / bound if bound > 0 else float("nan"),
                bytes_sent_per_rank=best.bytes_sent_per_rank_per_byte * size,
                time_low_s=low,
                time_high_s=high,
            )
        )
    return out


def predict(G: nx.DiGraph, collective: str, size_bytes: int, **options: object) -> Prediction:
    """One prediction; see :func:`predict_many` for the options."""
    return predict_many(G, collective, [size_bytes], **options)[0]  # type: ignore[arg-type]
