"""The ideal flavor: algorithm steps as flows, flows as link loads, loads as time.

Each algorithm of the registry (:mod:`collectives.registry`: closed forms, flow patterns and
applicability in one record each) is a list of *phases* (:mod:`collectives.patterns`); a phase
is one synchronized step repeated ``repeat`` times, whose flows are routed over the graph
(:mod:`fabric.routing`, ECMP) and whose time is
``alpha_s * alpha_steps + path latency + S * max_e(load_e / capacity_e)`` (:mod:`fabric.flows`).
Loads are linear in the size S, so an algorithm on a placement reduces to
``time(S) = latency_s + seconds_per_byte * S``: computed once (phases are memoized in the fabric
index) and then O(1) per size.

:func:`collectives.predict.predict_many` is the entry point for both flavors; this module is the
ideal one, and :func:`algorithm_costs` the per-algorithm costs calibration fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import cast

import networkx as nx
import numpy as np

from collectives.bounds import bandwidth_lower_bound_s
from collectives.calibration import ModelParams, check_calibration
from collectives.communicator import Communicator, PlacedRanks, placed_ranks
from collectives.names import busbw_factor, canonical
from collectives.patterns import Exchange, Phase
from collectives.registry import algorithm_for, candidates, phases, plan, software_steps
from collectives.results import AlgorithmCost, Prediction
from fabric.flows import SampledStep, edge_name, hash_samples, hash_step, sampled_step
from fabric.links import SCALEOUT_CLASSES, SCALEUP_CLASSES
from fabric.routing import (
    DEFAULT_ROUTING,
    HASH_ANALYTIC_FLOWS,
    HASH_ANALYTIC_SAMPLES,
    FabricIndex,
    check_routing,
    fabric_index,
    placement_of,
)

__all__ = ["algorithm_costs", "predict_ideal"]

_MEMO_KEY = (__name__, "warm")
_MEMO_LIMIT = 256  # distinct (collective, ranks, placement, algorithm, params) kept per index


def _request_key(
    collective: str,
    ranks: int | Sequence[str] | None,
    placement: str | Sequence[str],
    algorithm: str | None,
    params: ModelParams,
    seed: int,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> Hashable:
    """What an ideal prediction's costs depend on besides the fabric, as a hashable key
    (routing policy and hash seed included, so no policy reads another's costs)."""
    return (
        routing,
        routing_seed,
        collective,
        ranks if ranks is None or isinstance(ranks, int) else tuple(ranks),
        placement if isinstance(placement, str) else tuple(placement),
        algorithm,
        params.alpha_s,
        tuple(sorted(params.efficiency_by_link.items())),
        params.default_efficiency,
        params.algorithm_set,
        seed,
    )


def _warm_costs(
    G: nx.DiGraph,
    collective: str,
    ranks: int | Sequence[str] | None,
    placement: str | Sequence[str],
    algorithm: str | None,
    params: ModelParams,
    seed: int,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
    sizes: Sequence[int] | None = None,
) -> tuple[Communicator, tuple[AlgorithmCost, ...], float, tuple[np.ndarray | None, ...]]:
    """The communicator, candidate costs, per-byte bound and per-sample seconds per byte
    (``ecmp-hash``; None otherwise) of a request, memoized.

    The memo lives in the fabric index's ``memo``, so it dies with the index when the graph
    changes (:func:`fabric.routing.fabric_index`); a repeated request (another size, the same
    collective on the same ranks) costs one dictionary lookup. Failed requests are not kept, and
    nothing kept refers to the graph (the index is cached weakly on it).

    With ``sizes``, only the candidates that can be the fastest at one of them are placed
    (:func:`_settle`): under a per-flow placement (``adaptive``, ``pack``, ``ecmp-hash``) any
    candidate, under the fluid split the algorithms made of exchanges (whose floor needs no
    routing: :func:`exchange_floor`; at 131,072 GPUs and 1 GiB recursive doubling and
    Rabenseifner are never routed). The others wait in the memo with their floors, and a later
    call at other sizes places those it needs. The fastest per size is the same as with every
    candidate placed: a hashed phase shared by several algorithms draws its paths from its own
    pairs (:func:`_unit_seed`), not from the order in which algorithms are placed.
    """
    memo = cast("dict[Hashable, _Request]", fabric_index(G).memo.setdefault(_MEMO_KEY, {}))
    key = _request_key(collective, ranks, placement, algorithm, params, seed, routing,
                       routing_seed)
    found = memo.get(key)
    if found is None:
        on = placed_ranks(G, ranks, placement, seed=seed)
        refined: set[str] = set()
        done, floors, order = _costs(on, collective, algorithm, params, routing, routing_seed,
                                     sizes, refined)
        found = _Request(comm=on.comm, order=order, done=dict(done), floors=floors,
                         bound_per_byte=bandwidth_lower_bound_s(on.index, on.comm, collective,
                                                                1.0), refined=refined)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = found
    elif found.floors and sizes is not None:
        shared: dict[tuple[int, int, bool], SampledStep] = {}
        again: list[PlacedRanks] = []  # the ranks placed again, once, if a candidate is needed
        rooms: list[_ExchangeRoom] = []

        def placed() -> PlacedRanks:
            if not again:
                again.append(placed_ranks(G, ranks, placement, seed=seed))
            return again[0]

        def evaluate(a: str) -> tuple[AlgorithmCost, np.ndarray | None]:
            return _evaluate(placed(), phases(placed(), collective, a), a, params, routing,
                             routing_seed, shared)

        def room() -> _ExchangeRoom:
            if not rooms:
                rooms.append(_ExchangeRoom(placed(), params))
            return rooms[0]

        def refine(a: str) -> AlgorithmCost | None:
            return _tighter_floor(placed(), collective, a, params, routing, room)

        _settle(found.done, found.floors, sizes, evaluate, [], refine, found.refined)
    costs = tuple(found.done[a][0] for a in found.order if a in found.done)
    samples = tuple(found.done[a][1] for a in found.order if a in found.done)
    return found.comm, costs, found.bound_per_byte, samples


@dataclass(slots=True, kw_only=True)
class _Request:
    """A memoized request: its candidates in registry order, the costs of those evaluated,
    the floors of those not yet placed, and which of those floors are the tighter ones
    (:func:`_settle`)."""

    comm: Communicator
    order: tuple[str, ...]
    done: dict[str, tuple[AlgorithmCost, np.ndarray | None]]
    floors: dict[str, AlgorithmCost]
    bound_per_byte: float
    refined: set[str] = dataclasses.field(default_factory=set)


def _time(cost: AlgorithmCost, size: int) -> float:
    return cost.latency_s + cost.seconds_per_byte * size


#: A floor within this relative distance of the best time is placed all the same (the floor
#: and the placed cost sum the same loads in another order).
_FLOOR_SLACK = 1e-9


def _settle(done: dict[str, tuple[AlgorithmCost, np.ndarray | None]],
            floors: dict[str, AlgorithmCost], sizes: Sequence[int],
            evaluate: Callable[[str], tuple[AlgorithmCost, np.ndarray | None]],
            errors: list[str],
            refine: Callable[[str], AlgorithmCost | None] | None = None,
            refined: set[str] | None = None) -> None:
    """Evaluate, at each of ``sizes``, the waiting candidates whose floor is not above the
    best evaluated time there (lowest floor first); each one evaluated leaves ``floors``. A
    candidate that fails (its flows find no path) leaves ``floors`` too, its reason in
    ``errors``: it cannot be the fastest.

    ``refine(a)`` is a tighter floor of ``a`` that costs more than the first but far less
    than evaluating it (None: none): asked once per candidate, when its first floor would
    have it evaluated and another candidate already has a time to beat; ``refined`` holds
    the candidates whose floor is the tighter one already (kept across calls by the caller)."""
    refined = set() if refined is None else refined
    for size in sizes:
        while floors:
            best = min((_time(c, size) for c, _ in done.values()), default=math.inf)
            a = min(floors, key=lambda name: _time(floors[name], size))
            if _time(floors[a], size) > best * (1 + _FLOOR_SLACK):
                break
            if refine is not None and a not in refined and math.isfinite(best):
                refined.add(a)
                try:
                    tighter = refine(a)
                except ValueError as err:  # e.g. its flows find no path: it cannot win
                    del floors[a]
                    errors.append(f"{a}: {err}")
                    continue
                if tighter is not None:
                    floors[a] = tighter
                    continue
            del floors[a]
            try:
                done[a] = evaluate(a)
            except ValueError as err:
                errors.append(f"{a}: {err}")


def _placement_floor(on: PlacedRanks, steps: list[Phase], params: ModelParams) -> float:
    """A floor of an algorithm's seconds per byte under every per-flow placement.

    A placement chooses among equal-cost paths, but some loads it cannot move: a GPU's bytes
    to other scale-up domains leave over its own scale-out edges and arrive over the
    destination's whatever their path, and pairs inside a scale-up domain cross it as in the
    fluid routing. So per phase, the busiest of (a GPU's non-scale-up out-edges together, its
    in-edges together, each scale-up edge) under the fluid loads is no busier than the busiest
    cable of any placement (a group's load over its capacity is at most its busiest
    member's). Phases that :func:`_evaluate` keeps fluid count their exact fluid time.
    """
    index = on.index
    eff = _efficiency(index, params)
    cap = index.edge_capacity_bytes_per_s
    groups = _floor_groups(index)
    total = 0.0
    for ph in steps:
        if len(ph.edges) == 0:
            continue
        e = ph.edges
        c_e = cap[e] * (eff[e] if eff is not None else 1.0)
        if ph.flows is None and ph.flows_later is None:  # kept fluid (flows not built here)
            total += ph.repeat * float((ph.load / c_e).max())
            continue
        group = groups[e]
        keep = group >= 0
        if not keep.any():
            continue
        kept = group[keep]  # summed per group by counting, in edge order: no sort
        used = np.bincount(kept) > 0
        load = np.bincount(kept, weights=ph.load[keep])[used]
        room = np.bincount(kept, weights=c_e[keep])[used]
        total += ph.repeat * float((load / room).max())
    return total


def _floor_groups(index: FabricIndex) -> np.ndarray:
    """Per edge, its group in :func:`_placement_floor` (memoized on the index): a scale-up
    edge its own (``2 n + edge``), a GPU's other out-edges their source (``src``), its other
    in-edges their destination (``n + dst``), -1 for the rest (n nodes)."""
    key = (__name__, "floor-groups")
    found = index.memo.get(key)
    if isinstance(found, np.ndarray):
        return found
    n = index.num_nodes
    src, dst = index.edge_src, index.edge_dst
    up = index.is_scaleup[src] | index.is_scaleup[dst]
    out = ~up & index.is_gpu[src]
    into = ~up & ~out & index.is_gpu[dst]
    groups = np.where(up, 2 * n + np.arange(index.num_edges),
                      np.where(out, src, np.where(into, n + dst, -1)))
    index.memo[key] = groups
    return groups


class _ExchangeRoom:
    """What :func:`exchange_floor` reads of a placement, once per request: each edge's capacity
    in bytes/s (efficiency applied), each GPU's scale-out capacity out and in, and the floor of
    each partner map, shared by the algorithms that exchange with the same partners (recursive
    doubling and halving, Rabenseifner)."""

    def __init__(self, on: PlacedRanks, params: ModelParams) -> None:
        index = on.index
        eff = _efficiency(index, params)
        self.on = on
        self.cap_bytes_per_s = index.edge_capacity_bytes_per_s * (eff if eff is not None
                                                                  else 1.0)
        src, dst = index.edge_src, index.edge_dst
        out_e = index.is_gpu[src] & index.transit[dst]
        in_e = index.transit[src] & index.is_gpu[dst]
        self.out_bytes_per_s = np.bincount(src[out_e], weights=self.cap_bytes_per_s[out_e],
                                           minlength=index.num_nodes)
        self.in_bytes_per_s = np.bincount(dst[in_e], weights=self.cap_bytes_per_s[in_e],
                                          minlength=index.num_nodes)
        self._units: dict[tuple[int, bool], tuple[float, float]] = {}
        self._paths: dict[tuple[int, bool], float] = {}

    def _pairs(self, distance: int, xor: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The GPUs of each rank and its partner at ``distance`` (pairs of one GPU left out),
        and which pairs share a scale-up switch."""
        index, c = self.on.index, self.on.comm
        ranks = np.arange(c.n)
        partner = ranks ^ distance if xor else (ranks + distance) % c.n
        src, dst = c.pos, c.pos[partner]
        moving = src != dst
        src, dst = src[moving], dst[moving]
        su = index.scaleup_switch
        return src, dst, (su[src] >= 0) & (su[src] == su[dst])

    def unit(self, distance: int, xor: bool) -> tuple[float, float]:
        """(path latency floor in s, seconds per byte floor) of one byte from every rank to
        its partner at ``distance``: the latency of its scale-up pairs only."""
        found = self._units.get((distance, xor))
        if found is not None:
            return found
        index = self.on.index
        src, dst, intra = self._pairs(distance, xor)
        least_bytes_per_s, path_s = math.inf, 0.0
        if intra.any():
            up, down = index.up_edge[src[intra]], index.down_edge[dst[intra]]
            cap = self.cap_bytes_per_s
            least_bytes_per_s = float(min(cap[up].min(), cap[down].min()))
            path_s = float((index.edge_latency_s[up] + index.edge_latency_s[down]).max())
        if not intra.all():
            least_bytes_per_s = min(least_bytes_per_s,
                                    float(self.out_bytes_per_s[src[~intra]].min()),
                                    float(self.in_bytes_per_s[dst[~intra]].min()))
        found = (path_s, 1.0 / least_bytes_per_s if least_bytes_per_s > 0 else math.inf)
        self._units[(distance, xor)] = found
        return found

    def path(self, distance: int, xor: bool) -> float:
        """The path latency (s) of the step :meth:`unit` floors, network pairs included: as
        :func:`fabric.routing.route` takes it (the longest pair: first hop, least-latency
        transit path from its far end to the destination's last switch, last hop), exactly
        where a GPU has one scale-out link. From a GPU with several, its least over them
        (the router takes the longest of those towards the destination), so still a floor.
        Pairs without a path count nothing (routing them fails, as it should)."""
        found = self._paths.get((distance, xor))
        if found is not None:
            return found
        index = self.on.index
        src, dst, intra = self._pairs(distance, xor)
        path_s = self.unit(distance, xor)[0]
        src, dst = src[~intra], dst[~intra]
        cls = index.class_of[dst]
        src, dst, cls = src[cls >= 0], dst[cls >= 0], cls[cls >= 0]
        if len(src):
            node_of = index.transit_graph().node_of
            single = index.single_out[src]
            one = single >= 0
            edge = single[one]
            ends = index.edge_latency_s[edge] + index.in_latency[dst[one]]
            total = ends + index.lats_at(index.distance_rows(cls[one]),
                                         node_of[index.t_of[index.edge_dst[edge]]])
            if (~one).any():
                owner, edge = index.out_edges_of.expand(src[~one])
                ends = index.edge_latency_s[edge] + index.in_latency[dst[~one][owner]]
                each = ends + index.lats_at(index.distance_rows(cls[~one])[owner],
                                            node_of[index.t_of[index.edge_dst[edge]]])
                least = np.full(int((~one).sum()), np.inf)
                np.minimum.at(least, owner, each)
                total = np.concatenate([total, least])
            total = total[np.isfinite(total)]
            if len(total):
                path_s = max(path_s, float(total.max()))
        self._paths[(distance, xor)] = path_s
        return path_s


def exchange_floor(on: PlacedRanks, steps: list[Exchange], params: ModelParams,
                   name: str = "", room: _ExchangeRoom | None = None, *,
                   paths: bool = False) -> AlgorithmCost:
    """A floor of the cost of an algorithm made of exchanges, from its plan, before routing:
    its latency and seconds per byte under every routing policy are at least these.

    Routing fixes two things whatever the policy: a pair on one scale-up switch crosses the
    source's edge up to it and the destination's edge down (:func:`fabric.routing.route`), and
    a GPU never forwards, so a byte to another scale-up domain leaves over its source's
    scale-out out-edges and arrives over its destination's scale-out in-edges. Per step, the
    busiest of those (one flow per rank) is no busier than the busiest cable of any routing;
    the latency floor counts the software steps and the scale-up pairs' path latency (with
    ``paths``, every pair's: :meth:`_ExchangeRoom.path`, a vector of the step's pairs, the
    routed latency itself where each GPU has one scale-out link). A rank with no scale-out
    capacity to send or receive makes the floor infinite (its flows have no path). ``room`` is
    what one request's floors share (:class:`_ExchangeRoom`; built here if None).
    """
    room = room if room is not None else _ExchangeRoom(on, params)
    latency_s = seconds_per_byte = 0.0
    for e in steps:
        path_s, unit_s_per_byte = room.unit(e.distance, e.xor)
        if paths:
            path_s = room.path(e.distance, e.xor)
        latency_s += e.repeat * (path_s + params.alpha_s)
        seconds_per_byte += e.repeat * e.rel * unit_s_per_byte
    return AlgorithmCost(algorithm=name, latency_s=latency_s, seconds_per_byte=seconds_per_byte,
                         bottleneck="", bytes_sent_per_rank_per_byte=0.0)


def _efficiency(index: FabricIndex, params: ModelParams) -> np.ndarray | None:
    """Per-edge capacity factor: link keys first, then link classes for the other edges.

    A key that is no edge's link type but names a class of :mod:`fabric.links` applies to that
    class: ``scale-up`` / ``host-internal`` (edges into or out of a tier-0 switch) and
    ``scale-out`` / ``network`` (all others). So a calibration fitted on the generic two-level
    fabric of a log (whose links are ``host-internal`` and ``network``) carries over to a built
    fabric's NVLink and NICs.
    """
    if not params.efficiency_by_link and params.default_efficiency == 1.0:
        return None
    # one fit evaluates every group of points with the same values: kept for the last few
    key = (params.default_efficiency, tuple(params.efficiency_by_link.items()))
    kept = cast("dict[Hashable, np.ndarray]", index.memo.setdefault(_EFFICIENCY_KEY, {}))
    found = kept.get(key)
    if found is None:
        found = _efficiency_of(index, params)
        found.flags.writeable = False
        if len(kept) >= 16:
            kept.clear()
        kept[key] = found
    return found


_EFFICIENCY_KEY = (__name__, "efficiency")


def _efficiency_of(index: FabricIndex, params: ModelParams) -> np.ndarray:
    """:func:`_efficiency`, computed."""
    codes, code_of, scaleup = _edge_links(index)
    # each edge's link type's value, NaN where no key names its link type
    per_code = np.full(len(code_of), np.nan)
    for link, value in params.efficiency_by_link.items():
        if link in code_of:
            per_code[code_of[link]] = value
    eff = per_code[codes]
    exact = ~np.isnan(eff)
    eff[~exact] = params.default_efficiency
    for link, value in params.efficiency_by_link.items():
        if link in SCALEUP_CLASSES:
            eff[scaleup & ~exact] = value
        elif link in SCALEOUT_CLASSES:
            eff[~scaleup & ~exact] = value
    return eff


_EDGE_LINKS_KEY = (__name__, "edge links")


def _edge_links(index: FabricIndex) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
    """Each edge's link type as a code, the code of each link type, and which edges touch a
    scale-up switch: read once per fabric index (a calibration's fit asks for the efficiency
    of every candidate parameter vector, and comparing link names edge by edge was half of a
    fit on many records)."""
    found = index.memo.get(_EDGE_LINKS_KEY)
    if found is None:
        code_of: dict[str, int] = {}
        for i, name in enumerate(index.link_names):
            code_of.setdefault(str(name), i)
        # a name listed twice keeps its first code
        codes = np.asarray([code_of[str(n)] for n in index.link_names],
                           dtype=np.int64)[index.edge_link_id]
        scaleup = index.is_scaleup[index.edge_src] | index.is_scaleup[index.edge_dst]
        found = (codes, code_of, scaleup)
        index.memo[_EDGE_LINKS_KEY] = found
    return cast("tuple[np.ndarray, dict[str, int], np.ndarray]", found)


def _evaluate(
    on: PlacedRanks,
    steps: list[Phase],
    algorithm: str,
    params: ModelParams,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
    placed: dict[tuple[int, int, bool], SampledStep] | None = None,
) -> tuple[AlgorithmCost, np.ndarray | None]:
    """An algorithm's cost under a routing policy, and its per-sample seconds per byte.

    ``ecmp-ideal`` (and ``policy``'s latency objective) use the phases' fluid loads. The others
    place each phase's flows on single paths (:func:`fabric.flows.sampled_step`); ``ecmp-hash``
    draws ``hash_samples`` independent hashes per phase with one generator seeded by
    ``routing_seed`` and returns the sum over phases per sample (the cost's
    ``seconds_per_byte`` is their mean). Phases without flows keep their fluid loads.

    ``placed`` keeps the placement of each unit phase (:attr:`collectives.patterns.Phase.unit`)
    across the phases and algorithms of one request: a phase scaled from a unit already placed
    (with as many samples) is that placement times its scale. The same pairs exchanging again
    (Rabenseifner's halving and doubling, recursive doubling) take the same paths, as one
    connection's flows hash alike; the mean is unchanged and the 99th percentile is that of
    correlated phases.
    """
    index = on.index
    eff = _efficiency(index, params)
    cap = index.edge_capacity_bytes_per_s
    placement = placement_of(routing)
    per_flow = placement != "ecmp-ideal"
    hashed = placement == "ecmp-hash"
    flows = [ph.step_flows() if per_flow and len(ph.edges) else None for ph in steps]
    su = index.scaleup_switch
    network_flows = sum(int(((su[f[0]] < 0) | (su[f[0]] != su[f[1]])).sum())
                        for f in flows if f is not None) if hashed else 0
    # many flows: each cable's load distribution instead of drawn hashes (within a few percent
    # of sampling, docs/routing.md; one more fluid routing per step instead of 16 walks)
    analytic = network_flows >= HASH_ANALYTIC_FLOWS
    num_samples = (HASH_ANALYTIC_SAMPLES if analytic else hash_samples(network_flows)
                   ) if hashed else 1

    def place(step: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int,
              phase: Phase) -> SampledStep:
        if analytic:
            return hash_step(index, *step, samples=num_samples, seed=seed, efficiency=eff,
                             fluid=(phase.edges, phase.load))
        return sampled_step(index, *step, placement=placement, samples=num_samples, seed=seed,
                            efficiency=eff)

    samples = np.zeros(num_samples)
    rng = np.random.default_rng(routing_seed)
    latency_s = 0.0
    worst_edge, worst_part = -1, -1.0
    sent = 0.0
    gpu_out = index.edge_from_gpu
    for ph, step_flows in zip(steps, flows, strict=True):
        if len(ph.edges) == 0:
            latency_s += ph.repeat * ph.alpha_steps * params.alpha_s
            continue
        latency_s += ph.repeat * (ph.latency_s + ph.alpha_steps * params.alpha_s)
        sent += ph.repeat * float(ph.load[gpu_out[ph.edges]].sum())
        if step_flows is not None:
            seed = int(rng.integers(1 << 62))
            scale = 1.0
            if placed is not None and ph.unit is not None:
                key = (id(ph.unit), num_samples, analytic)
                unit_got = placed.get(key)
                if unit_got is None:
                    unit_flows = ph.unit.step_flows()
                    assert unit_flows is not None  # a unit phase keeps its flows
                    unit_got = place(unit_flows, _unit_seed(routing_seed, unit_flows), ph.unit)
                    placed[key] = unit_got
                got, scale = unit_got, ph.scale
            else:
                got = place(step_flows, seed, ph)
            samples += ph.repeat * scale * got.seconds_per_byte
            part = ph.repeat * scale * float(got.seconds_per_byte.mean())
            edge = got.bottleneck_edge
        else:
            c_e = cap[ph.edges] * (eff[ph.edges] if eff is not None else 1.0)
            ratio = ph.load / c_e
            k = int(np.argmax(ratio))
            samples += ph.repeat * float(ratio[k])
            part, edge = ph.repeat * float(ratio[k]), int(ph.edges[k])
        if part > worst_part:
            worst_part, worst_edge = part, edge
    cost = AlgorithmCost(
        algorithm=algorithm,
        latency_s=latency_s,
        seconds_per_byte=float(samples.mean()),
        bottleneck=edge_name(index, worst_edge),
        bytes_sent_per_rank_per_byte=sent / on.comm.n,
    )
    return cost, (samples if hashed else None)


def _unit_seed(routing_seed: int, flows: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
    """The hash seed of a unit phase (:attr:`collectives.patterns.Phase.unit`): drawn from the
    routing seed and the unit's pairs, so that every algorithm that exchanges with the same
    partners draws the same paths for them (as one connection's flows hash alike), whichever
    algorithm is placed first and whichever sizes were asked."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(str(int(routing_seed)).encode())
    for part in flows[:2]:
        digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
    return int.from_bytes(digest.digest(), "little") >> 2


def _tighter_floor(on: PlacedRanks, collective: str, algorithm: str, params: ModelParams,
                   routing: str, room: Callable[[], _ExchangeRoom]) -> AlgorithmCost | None:
    """The second floor :func:`_settle` asks before it places a waiting candidate, or None
    (evaluate it). A plan's: its floor with each step's network path latency (a step's latency
    does not depend on the routing policy: :func:`exchange_floor`). A candidate that waited
    with its software steps alone: under a per-flow placement, its fluid latency and placement
    floor (:func:`_placement_floor`; its phases are routed here, and kept); under the fluid
    split, None."""
    steps = plan(on, collective, algorithm)
    if steps is not None:
        return exchange_floor(on, steps, params, algorithm, room(), paths=True)
    if placement_of(routing) == "ecmp-ideal" or software_steps(on, collective, algorithm) is None:
        return None
    built = phases(on, collective, algorithm)
    fluid = _evaluate(on, built, algorithm, params)[0]
    return dataclasses.replace(fluid, seconds_per_byte=_placement_floor(on, built, params))


def _costs(
    on: PlacedRanks,
    collective: str,
    algorithm: str | None,
    params: ModelParams,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
    sizes: Sequence[int] | None = None,
    refined: set[str] | None = None,
) -> tuple[list[tuple[str, tuple[AlgorithmCost, np.ndarray | None]]], dict[str, AlgorithmCost],
           tuple[str, ...]]:
    """Evaluated candidates ``(name, (cost, samples))`` in registry order, the floors of those
    left waiting (only with ``sizes``: see :func:`_warm_costs`), and every candidate's name in
    registry order. ``refined`` collects the candidates whose floor is the tighter one
    (:func:`_settle`)."""
    placed: dict[tuple[int, int, bool], SampledStep] = {}
    if algorithm is not None:
        algorithm_for(collective, algorithm)  # unknown, or not serving: say so first
        got = _evaluate(on, phases(on, collective, algorithm), algorithm, params, routing,
                        routing_seed, placed)
        return [(algorithm, got)], {}, (algorithm,)
    errors = []
    built: dict[str, list[Phase]] = {}
    mode = placement_of(routing)
    names = candidates(on, collective, params.algorithm_set)
    # at given sizes, an algorithm made of exchanges waits unrouted with its plan's floor
    planned = sizes is not None and len(names) > 1
    asked: Sequence[int] = sizes if sizes is not None else ()
    floors: dict[str, AlgorithmCost] = {}
    order = []
    rooms: list[_ExchangeRoom] = []  # built once, for the first plan

    def room() -> _ExchangeRoom:
        if not rooms:
            rooms.append(_ExchangeRoom(on, params))
        return rooms[0]

    for a in names:
        try:
            exchanges = plan(on, collective, a) if planned else None
            count = software_steps(on, collective, a) if planned and exchanges is None else None
            if exchanges is not None:
                floors[a] = exchange_floor(on, exchanges, params, a, room())
            elif count is not None:  # waits unrouted with its software steps' floor
                floors[a] = AlgorithmCost(algorithm=a, latency_s=count * params.alpha_s,
                                          seconds_per_byte=0.0, bottleneck="",
                                          bytes_sent_per_rank_per_byte=0.0)
            else:
                built[a] = phases(on, collective, a)
            order.append(a)
        except ValueError as err:
            errors.append(f"{a}: {err}")
    bounds: dict[str, AlgorithmCost] = {}
    if mode == "ecmp-hash" and len(built) > 1 and not planned:
        # Hashing never beats the fluid split on average: the expected load of a cable is its
        # fluid share, and E[max] >= max E (Jensen), phase by phase. So an algorithm whose fluid
        # cost is no better in latency and seconds per byte than an algorithm's hashed cost
        # loses at every size and is not hashed at all.
        for a, steps in built.items():
            bounds[a] = _evaluate(on, steps, a, params)[0]
    done: dict[str, tuple[AlgorithmCost, np.ndarray | None]] = {}
    if planned:
        # only the candidates that can win at one of ``sizes``: under a per-flow placement
        # every candidate waits with its floor (a floor of every sample's time under hashing);
        # under the fluid split those without a plan are evaluated (their floor would cost
        # what evaluating them does)
        for a, steps in built.items():
            if mode != "ecmp-ideal":
                fluid = _evaluate(on, steps, a, params)[0]
                floors[a] = dataclasses.replace(
                    fluid, seconds_per_byte=_placement_floor(on, steps, params))
            else:
                try:
                    done[a] = _evaluate(on, steps, a, params, routing, routing_seed, placed)
                except ValueError as err:
                    errors.append(f"{a}: {err}")

        def evaluate(a: str) -> tuple[AlgorithmCost, np.ndarray | None]:
            steps = built[a] if a in built else phases(on, collective, a)
            return _evaluate(on, steps, a, params, routing, routing_seed, placed)

        def refine(a: str) -> AlgorithmCost | None:
            return _tighter_floor(on, collective, a, params, routing, room)

        _settle(done, floors, asked, evaluate, errors, refine, refined)
        errors.sort(key=lambda e: names.index(e.split(":")[0]))  # in registry order
    else:
        for a in sorted(built, key=lambda a: bounds[a].seconds_per_byte if bounds else 0.0):
            low = bounds.get(a)
            if low is not None and any(
                    c.latency_s <= low.latency_s and c.seconds_per_byte <= low.seconds_per_byte
                    for c, _ in done.values()):
                continue
            try:
                done[a] = _evaluate(on, built[a], a, params, routing, routing_seed, placed)
            except ValueError as err:
                errors.append(f"{a}: {err}")
    if not done:
        raise ValueError(
            f"no algorithm for {collective} works on this placement: {'; '.join(errors)}"
        )
    return [(a, done[a]) for a in order if a in done], floors, tuple(order)


def algorithm_costs(
    G: nx.DiGraph,
    collective: str,
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    params: ModelParams | None = None,
    seed: int = 0,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> list[AlgorithmCost]:
    """Latency and seconds-per-byte of each candidate algorithm (or the named one).

    Candidates are the registry's (:func:`collectives.registry.candidates`): algorithms that do
    not apply on this placement and fabric are left out when none was named, and so are those
    whose flows find no path (a rail-only fabric without forwarding). Under ``ecmp-hash``, so are
    those that cannot be the fastest at any size (their fluid cost, a lower bound of their
    hashed mean, is no better in latency and seconds per byte than another's hashed cost).

    Raises
    ------
    ValueError
        Unknown collective or algorithm, one that does not serve the collective or does not
        apply, fewer than 2 ranks, or no candidate that works.
    """
    name = canonical(collective)
    check_routing(routing)
    on = placed_ranks(G, ranks, placement, seed=seed)
    evaluated, _, _ = _costs(on, name, algorithm, params or ModelParams(), routing,
                             routing_seed)
    return [c for _, (c, _) in evaluated]


def predict_ideal(
    G: nx.DiGraph,
    collective: str,
    sizes: Sequence[int],
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    calibration: object | None = None,
    seed: int = 0,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> list[Prediction]:
    """Ideal-flavor predictions, the fastest algorithm per size (or the named one).

    The contract is :func:`collectives.predict.predict_many`'s (call that); ``calibration`` must
    be a :class:`~collectives.calibration.ModelCalibration` of the ideal flavor. Under
    ``ecmp-hash`` the time is the mean over the hash samples and ``time_p99_s`` their 99th
    percentile (the fastest algorithm by mean).
    """
    name = canonical(collective)
    check_routing(routing)
    cal = check_calibration(calibration, flavor="ideal")
    params = cal.params if cal is not None else ModelParams()
    # costs and bound are linear in the size: computed once per request, memoized per index
    c, costs, bound_per_byte, samples = _warm_costs(G, name, ranks, placement, algorithm,
                                                    params, seed, routing, routing_seed, sizes)
    out = []
    for size in sizes:
        at = min(range(len(costs)),
                 key=lambda i: _time(costs[i], size))
        best = costs[at]
        time_s = _time(best, size)
        spread = samples[at]
        p99_s = (best.latency_s + float(np.quantile(spread, 0.99)) * size
                 if spread is not None else time_s)
        low, high = cal.band(time_s) if cal is not None else (time_s, time_s)
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
                routing=routing,
                time_p99_s=p99_s,
            )
        )
    return out
