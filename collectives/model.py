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

from collections.abc import Hashable, Sequence
from typing import cast

import networkx as nx
import numpy as np

from collectives.bounds import bandwidth_lower_bound_s
from collectives.calibration import ModelParams, check_calibration
from collectives.communicator import Communicator, PlacedRanks, placed_ranks
from collectives.names import busbw_factor, canonical
from collectives.patterns import Phase
from collectives.registry import algorithm_for, candidates, phases
from collectives.results import AlgorithmCost, Prediction
from fabric.flows import SampledStep, edge_name, hash_samples, sampled_step
from fabric.links import SCALEOUT_CLASSES, SCALEUP_CLASSES
from fabric.routing import DEFAULT_ROUTING, FabricIndex, check_routing, fabric_index, placement_of

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
) -> tuple[Communicator, tuple[AlgorithmCost, ...], float, tuple[np.ndarray | None, ...]]:
    """The communicator, candidate costs, per-byte bound and per-sample seconds per byte
    (``ecmp-hash``; None otherwise) of a request, memoized.

    The memo lives in the fabric index's ``memo``, so it dies with the index when the graph
    changes (:func:`fabric.routing.fabric_index`); a repeated request (another size, the same
    collective on the same ranks) costs one dictionary lookup. Failed requests are not kept, and
    nothing kept refers to the graph (the index is cached weakly on it).
    """
    memo = cast(
        "dict[Hashable, tuple[Communicator, tuple[AlgorithmCost, ...], float, "
        "tuple[np.ndarray | None, ...]]]",
        fabric_index(G).memo.setdefault(_MEMO_KEY, {}),
    )
    key = _request_key(collective, ranks, placement, algorithm, params, seed, routing,
                       routing_seed)
    found = memo.get(key)
    if found is not None:
        return found
    on = placed_ranks(G, ranks, placement, seed=seed)
    evaluated = _costs(on, collective, algorithm, params, routing, routing_seed)
    costs = tuple(c for c, _ in evaluated)
    samples = tuple(s for _, s in evaluated)
    bound_per_byte = bandwidth_lower_bound_s(on.index, on.comm, collective, 1.0)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = (on.comm, costs, bound_per_byte, samples)
    return on.comm, costs, bound_per_byte, samples


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
    on: PlacedRanks,
    steps: list[Phase],
    algorithm: str,
    params: ModelParams,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
    placed: dict[tuple[int, int], SampledStep] | None = None,
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
    num_samples = hash_samples(sum(
        int(((su[f[0]] < 0) | (su[f[0]] != su[f[1]])).sum())
        for f in flows if f is not None)) if hashed else 1
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
                key = (id(ph.unit), num_samples)
                unit_got = placed.get(key)
                if unit_got is None:
                    unit_flows = ph.unit.step_flows()
                    assert unit_flows is not None  # a unit phase keeps its flows
                    unit_got = sampled_step(index, *unit_flows, placement=placement,
                                            samples=num_samples, seed=seed, efficiency=eff)
                    placed[key] = unit_got
                got, scale = unit_got, ph.scale
            else:
                got = sampled_step(index, *step_flows, placement=placement,
                                   samples=num_samples, seed=seed, efficiency=eff)
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


def _costs(
    on: PlacedRanks,
    collective: str,
    algorithm: str | None,
    params: ModelParams,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> list[tuple[AlgorithmCost, np.ndarray | None]]:
    placed: dict[tuple[int, int], SampledStep] = {}
    if algorithm is not None:
        algorithm_for(collective, algorithm)  # unknown, or not serving: say so first
        return [_evaluate(on, phases(on, collective, algorithm), algorithm, params, routing,
                          routing_seed, placed)]
    errors = []
    built: dict[str, list[Phase]] = {}
    for a in candidates(on, collective, params.algorithm_set):
        try:
            built[a] = phases(on, collective, a)
        except ValueError as err:
            errors.append(f"{a}: {err}")
    bounds: dict[str, AlgorithmCost] = {}
    if placement_of(routing) == "ecmp-hash" and len(built) > 1:
        # Hashing never beats the fluid split on average: the expected load of a cable is its
        # fluid share, and E[max] >= max E (Jensen), phase by phase. So an algorithm whose fluid
        # cost is no better in latency and seconds per byte than an algorithm's hashed cost
        # loses at every size and is not hashed at all.
        for a, steps in built.items():
            bounds[a] = _evaluate(on, steps, a, params)[0]
    done: dict[str, tuple[AlgorithmCost, np.ndarray | None]] = {}
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
    costs = [done[a] for a in built if a in done]  # registry order
    if not costs:
        raise ValueError(
            f"no algorithm for {collective} works on this placement: {'; '.join(errors)}"
        )
    return costs


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
    return [c for c, _ in _costs(on, name, algorithm, params or ModelParams(), routing,
                                 routing_seed)]


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
                                                    params, seed, routing, routing_seed)
    out = []
    for size in sizes:
        at = min(range(len(costs)),
                 key=lambda i: costs[i].latency_s + costs[i].seconds_per_byte * size)
        best = costs[at]
        time_s = best.latency_s + best.seconds_per_byte * size
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
