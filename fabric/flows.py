"""Flows on the fabric: link sharing in a fluid model.

Two solvers over the ECMP link loads of :mod:`fabric.routing`:

* :func:`step_cost` — a synchronized step (every flow starts together, the step ends when the
  last one ends, as in one step of a collective). Its time is
  ``latency + max_e load_e / capacity_e``: the busiest link must carry its load, and under
  max-min fair sharing in the fluid model no flow is slowed by anything but its most loaded link,
  so for the symmetric steps of collectives (equal flows, equal shares) the makespan equals that
  bound. Loads are linear in the step's size, so a step reduces to seconds-per-byte plus latency
  and every message size costs O(1) after the first.
* :func:`transfer` — a handful of flows (KV-cache shards, point-to-point) with optional background
  flows, solved exactly: max-min fair rates by progressive filling, recomputed each time a flow
  finishes, until the last demand is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from fabric.routing import (
    HASH_BUDGET,
    HASH_MAX_SAMPLES,
    HASH_MIN_SAMPLES,
    FabricIndex,
    fabric_index,
    hash_units,
    place_flows,
    route,
)

__all__ = [
    "StepCost",
    "step_cost",
    "SampledStep",
    "sampled_step",
    "hash_samples",
    "TransferResult",
    "transfer",
    "edge_name",
    "max_min_rates",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCost:
    """Cost of one synchronized step whose flows carry ``relative_bytes`` x S bytes each.

    ``seconds_per_byte`` x S is the step's transfer time; ``latency_s`` its path latency;
    ``bottleneck`` the busiest edge (``"u->v"``) and ``bottleneck_load_bytes_per_byte`` its load
    per byte of S.
    """

    seconds_per_byte: float
    latency_s: float
    bottleneck: str
    bottleneck_edge: int
    max_hops: int
    bytes_injected_per_byte: float


def edge_name(index: FabricIndex, edge: int) -> str:
    """``"u->v"`` for an edge position, or ``""`` for -1."""
    if edge < 0:
        return ""
    return f"{index.nodes[index.edge_src[edge]]}->{index.nodes[index.edge_dst[edge]]}"


def step_cost(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    relative_bytes: np.ndarray,
    *,
    efficiency: np.ndarray | None = None,
) -> StepCost:
    """Cost of one step of concurrent demands ``src[i] -> dst[i]`` of ``relative_bytes[i]`` x S.

    Parameters
    ----------
    index
        The fabric's :class:`~fabric.routing.FabricIndex`.
    src, dst
        Node positions (``index.index[node_id]``) of the sending and receiving GPUs.
    relative_bytes
        Bytes of each demand per byte of the collective's size S.
    efficiency
        Optional per-edge factor (0, 1] applied to capacity (from a calibration).

    Notes
    -----
    time(S) = latency_s + seconds_per_byte * S, with
    seconds_per_byte = max_e load_e / (capacity_e * efficiency_e) for a load of 1 byte of S.
    """
    loads = route(index, src, dst, relative_bytes)
    if loads.unroutable:
        raise ValueError(
            f"{loads.unroutable} flow(s) have no path in the fabric "
            f"(a GPU with no scale-out link, or a disconnected network)"
        )
    capacity = index.edge_capacity_bytes_per_s
    if efficiency is not None:
        capacity = capacity * efficiency
    ratio = loads.load_bytes / capacity
    edge = int(np.argmax(ratio)) if len(ratio) else -1
    worst = float(ratio[edge]) if edge >= 0 else 0.0
    rel = np.asarray(relative_bytes, dtype=float)
    keep = np.asarray(src) != np.asarray(dst)
    return StepCost(
        seconds_per_byte=worst,
        latency_s=loads.max_latency_s,
        bottleneck=edge_name(index, edge) if worst > 0 else "",
        bottleneck_edge=edge if worst > 0 else -1,
        max_hops=loads.max_hops,
        bytes_injected_per_byte=float(rel[keep].sum()),
    )


def hash_samples(num_flows: int) -> int:
    """Hash samples for a request of ``num_flows`` network flows (all its steps together):
    :data:`~fabric.routing.HASH_MAX_SAMPLES`, fewer for many flows (a budget of
    :data:`~fabric.routing.HASH_BUDGET` flow-samples), never under
    :data:`~fabric.routing.HASH_MIN_SAMPLES`."""
    return int(min(HASH_MAX_SAMPLES, max(HASH_MIN_SAMPLES, HASH_BUDGET // max(1, num_flows))))


@dataclass(frozen=True, slots=True, kw_only=True)
class SampledStep:
    """Seconds per byte of one synchronized step under a flow placement, per sample.

    ``seconds_per_byte[s]`` is ``max_u load_u / capacity_u`` over the hash units (cables) in
    sample s; ``bottleneck_edge`` the edge of the busiest unit in the worst sample.
    """

    seconds_per_byte: np.ndarray
    bottleneck_edge: int


def sampled_step(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    relative_bytes: np.ndarray,
    *,
    placement: str,
    samples: int,
    seed: int = 0,
    efficiency: np.ndarray | None = None,
) -> SampledStep:
    """A step's seconds per byte with each flow on one path (:func:`fabric.routing.place_flows`).

    The step ends when its busiest cable has carried its load (the same bound as
    :func:`step_cost`, per cable instead of per edge bundle), in each of ``samples`` independent
    hash draws (``ecmp-hash``; the deterministic placements give one value ``samples`` times).
    ``efficiency`` is the per-edge capacity factor of a calibration.
    """
    units = hash_units(index)
    cap = units.capacity if efficiency is None else units.capacity * efficiency[units.edge]
    placed = place_flows(index, src, dst, relative_bytes, placement=placement,
                         samples=samples, seed=seed)
    fixed = np.bincount(placed.fixed_units, weights=placed.fixed_bytes, minlength=len(cap)) / cap
    # every sample is at least as busy as the busiest unit's common charges (a chunk with no
    # drawn charge, where nothing had a choice, is exactly that)
    worst_unit = int(np.argmax(fixed)) if len(fixed) and fixed.max() > 0 else -1
    worst = float(fixed[worst_unit]) if worst_unit >= 0 else -1.0
    spb = np.full(placed.samples, max(worst, 0.0))
    num_units = len(cap)
    for sample, unit, amount in placed.chunks:
        if len(unit) == 0:
            continue
        present = np.zeros(num_units, dtype=bool)
        present[unit] = True
        touched = np.flatnonzero(present)
        col = (np.cumsum(present) - 1)[unit]
        first = int(sample.min()) if len(sample) else 0
        k = int(sample.max()) - first + 1 if len(sample) else 0
        ratio = np.bincount((sample - first) * len(touched) + col, weights=amount,
                            minlength=k * len(touched)).reshape(k, len(touched))
        ratio = ratio / cap[touched] + fixed[touched]
        at = np.argmax(ratio, axis=1)
        best = ratio[np.arange(k), at]
        # a unit with only common charges in this chunk is as busy in each of its samples
        rest = fixed.copy()
        rest[touched] = 0.0
        other = int(np.argmax(rest)) if len(rest) else -1
        if other >= 0 and rest[other] > 0:
            beaten = rest[other] >= best
            best = np.where(beaten, rest[other], best)
            at = np.where(beaten, -1, at)
        spb[first:first + k] = best
        j = int(np.argmax(best)) if k else 0
        if k and best[j] > worst:
            worst, worst_unit = float(best[j]), int(touched[at[j]]) if at[j] >= 0 else other
    if placed.samples < samples:  # a deterministic placement: one sample stands for all
        spb = np.full(samples, spb[0] if len(spb) else 0.0)
    return SampledStep(seconds_per_byte=spb,
                       bottleneck_edge=int(units.edge[worst_unit]) if worst_unit >= 0 else -1)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResult:
    """Outcome of :func:`transfer`.

    ``time_s`` is when the last demand finishes (latency included); ``rates_bytes_per_s`` the
    initial max-min fair rate of each demand; ``bandwidth_bytes_per_s`` total demand bytes over
    the transfer part of ``time_s``.
    """

    time_s: float
    latency_s: float
    bandwidth_bytes_per_s: float
    rates_bytes_per_s: tuple[float, ...]
    bottleneck: str
    bottleneck_utilization: float


def max_min_rates(incidence: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Max-min fair rates (bytes/s) of flows by progressive filling.

    ``incidence[e, f]`` is the fraction of flow f's bytes crossing edge e (ECMP splits give
    fractions); ``capacity[e]`` is bytes/s. All unfrozen flows grow at the same rate until an
    edge saturates; flows crossing it freeze; repeat.
    """
    num_edges, num_flows = incidence.shape
    rates = np.zeros(num_flows)
    active = np.ones(num_flows, dtype=bool)
    remaining = capacity.astype(float).copy()
    used = incidence.sum(axis=1) > 0
    while active.any():
        weight = incidence[:, active].sum(axis=1)
        live = used & (weight > 1e-12)
        if not live.any():
            rates[active] = np.inf
            break
        increment = np.min(remaining[live] / weight[live])
        rates[active] += increment
        remaining -= increment * weight
        saturated = live & (remaining <= 1e-9 * np.maximum(capacity, 1.0))
        frozen = (incidence[saturated] > 1e-12).any(axis=0) & active
        if not frozen.any():
            break
        active &= ~frozen
    return rates


def transfer(
    G: nx.DiGraph,
    demands: Sequence[tuple[str, str, float]],
    *,
    background: Sequence[tuple[str, str, float]] = (),
    efficiency: np.ndarray | None = None,
) -> TransferResult:
    """Time to move ``demands`` concurrently, sharing links max-min fairly with ``background``.

    Parameters
    ----------
    G
        A validated fabric graph.
    demands, background
        ``(src_gpu, dst_gpu, size_bytes)`` triples. Background flows start together with the
        demands and compete for links; the result times only the demands.
    efficiency
        Optional per-edge capacity factor (from a calibration).

    Raises
    ------
    ValueError
        If a node is not a GPU of ``G``, a size is not positive, or a demand has no path.
    """
    if not demands:
        raise ValueError("transfer needs at least one demand (src, dst, size_bytes)")
    index = fabric_index(G)
    flows = list(demands) + list(background)
    num_flows = len(flows)
    incidence = np.zeros((index.num_edges, num_flows))
    sizes = np.zeros(num_flows)
    latency_s = 0.0
    for f, (a, b, size) in enumerate(flows):
        for name in (a, b):
            if name not in index.index or not index.is_gpu[index.index[name]]:
                raise ValueError(f"{name!r} is not a GPU of this fabric")
        if not size > 0:
            raise ValueError(f"transfer size_bytes must be > 0, got {size!r}")
        sizes[f] = float(size)
        if a == b:
            continue
        loads = route(
            index, np.array([index.index[a]]), np.array([index.index[b]]), np.array([1.0])
        )
        if loads.unroutable:
            raise ValueError(f"no path from {a!r} to {b!r}")
        incidence[:, f] = loads.load_bytes
        if f < len(demands):
            latency_s = max(latency_s, loads.max_latency_s)
    capacity = index.edge_capacity_bytes_per_s
    if efficiency is not None:
        capacity = capacity * efficiency
    used = incidence.any(axis=1)
    inc, cap = incidence[used], capacity[used]
    edge_ids = np.flatnonzero(used)
    remaining = sizes.copy()
    remaining[[f for f, (a, b, _) in enumerate(flows) if a == b]] = 0.0
    primary = np.zeros(num_flows, dtype=bool)
    primary[: len(demands)] = True
    now = 0.0
    first_rates = None
    bottleneck, utilization = "", 0.0
    while (remaining[primary] > 0).any():
        live = remaining > 0
        rates = np.zeros(num_flows)
        rates[live] = max_min_rates(inc[:, live], cap)
        if first_rates is None:
            first_rates = rates.copy()
            util = (inc[:, live] @ rates[live]) / cap
            k = int(np.argmax(util))
            bottleneck, utilization = edge_name(index, int(edge_ids[k])), float(util[k])
        with np.errstate(divide="ignore", invalid="ignore"):
            finish = np.where(live, remaining / rates, np.inf)
        dt = float(finish.min())
        if not np.isfinite(dt):
            raise ValueError("a demand gets no bandwidth (zero-capacity path)")
        now += dt
        remaining = np.where(live, np.maximum(remaining - rates * dt, 0.0), 0.0)
        remaining[finish <= dt * (1 + 1e-12)] = 0.0
    total = float(sizes[primary].sum())
    if first_rates is None:  # every demand stays on its own GPU
        first_rates = np.full(num_flows, np.inf)
    return TransferResult(
        time_s=latency_s + now,
        latency_s=latency_s,
        bandwidth_bytes_per_s=total / now if now > 0 else float("inf"),
        rates_bytes_per_s=tuple(float(r) for r in first_rates[: len(demands)]),
        bottleneck=bottleneck,
        bottleneck_utilization=utilization,
    )
