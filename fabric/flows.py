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

And a step with each flow on one path (the ``ecmp-hash``, ``adaptive`` and ``pack`` routing
policies): :func:`sampled_step` places the flows (:func:`fabric.routing.place_flows`), per hash
sample; :func:`hash_step` gives the hashed step's distribution from each cable's load
distribution instead, for steps with too many flows to sample.
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
    flows_to_place,
    hash_units,
    place_flows,
    route,
)

__all__ = [
    "StepCost",
    "step_cost",
    "SampledStep",
    "sampled_step",
    "hash_step",
    "hash_moments",
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


#: Per-unit tail beyond which a hash unit cannot set the busiest cable (:func:`hash_step`).
_TAIL = 1e-13
#: Points at which :func:`hash_step` evaluates the busiest cable's distribution, at most.
_HASH_POINTS = 4096


def _binomial_cdf(k: np.ndarray, n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """P(N <= k) for N ~ Binomial(n, q), n real and q in (0, 1] (the regularized incomplete
    beta function, the binomial CDF's continuous extension in n)."""
    from scipy.special import betainc

    k, n, q = np.broadcast_arrays(np.floor(k), n, q)
    out = np.where(k >= n, 1.0, 0.0)
    mid = (k >= 0) & (k < n)
    if mid.any():
        out[mid] = betainc(n[mid] - k[mid], k[mid] + 1, 1 - q[mid])
    return out


def hash_moments(index: FabricIndex, src: np.ndarray, dst: np.ndarray, size: np.ndarray,
                 fluid: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per edge, over the flows ``src[i] -> dst[i]`` of ``size[i]`` bytes hashed per flow:
    ``(sum s p, sum s^2 p, sum s^2 p^2)``, p the probability that the flow crosses the edge
    (its fluid share). ``fluid`` is the first sum when the caller has it (per edge).

    The last sum routes ``s**2`` with every split factor squared (:func:`fabric.routing.route`,
    ``power=2``): squared probabilities add over flows and are multiplied by ``(1/k)**2`` at a
    split. That is exact as long as one flow's paths do not meet again before its last switch
    except at twins the routing merges (every built family). Into a GPU with one in-edge per
    plane or NIC the paths do meet at the last switches, and the in-edge's probability is
    taken as the same for every flow into that GPU (its bytes over all the GPU's: the plane
    was chosen at the first hop). Elsewhere (an edited fabric, a cable removed) the sum
    comes out low where paths meet, so the variance high: a conservative estimate."""
    src, dst, size, intra = flows_to_place(index, src, dst, size)
    if fluid is None:
        mean = route(index, src, dst, size)
        if mean.unroutable:
            raise ValueError(f"{mean.unroutable} flow(s) have no path in the fabric "
                             "(a GPU with no scale-out link, or a disconnected network)")
        fluid = mean.load_bytes
    m1 = fluid
    # pairs on one scale-up switch have no choice (as in place_flows): charged as they are
    ends = np.concatenate([index.up_edge[src[intra]], index.down_edge[dst[intra]]])
    s_in = np.tile(size[intra], 2)
    m1_in = np.bincount(ends, weights=s_in, minlength=index.num_edges)
    m2_in = np.bincount(ends, weights=s_in**2, minlength=index.num_edges)
    src, dst, size = src[~intra], dst[~intra], size[~intra]
    e2 = route(index, src, dst, size**2, power=2).load_bytes + m2_in
    if len(size) and bool(np.all(size == size[0])):
        net = m1 - m1_in
        net[np.abs(net) <= 1e-12 * m1] = 0.0
        m2 = size[0] * net + m2_in
    else:
        m2 = route(index, src, dst, size**2).load_bytes + m2_in
    if index.class_last_edges and len(size):
        # into a GPU with several in-edges (one per plane or NIC), a flow's paths over the
        # spines rejoin at each last switch, where the squared split sums its paths' squares
        # instead of squaring their sum. Each in-edge's probability is the same for every flow
        # into that GPU (the plane was chosen at its first hop): its bytes over all the GPU's.
        last = np.concatenate(list(index.class_last_edges.values()))
        into = np.bincount(dst, weights=size, minlength=index.num_nodes)[index.edge_dst[last]]
        got = into > 0
        last, into = last[got], into[got]
        e2[last] = m2[last] * (m1[last] - m1_in[last]) / into
    return m1, m2, e2


def _alike(edge: np.ndarray, columns: tuple[np.ndarray, ...], weight: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal in every column to about 9 digits: (first row of each kind, summed
    ``weight`` of its rows). Symmetric fabrics have a handful of kinds, found one at a time;
    past 16 the rest are sorted. Values a rounding boundary splits count as two kinds (the
    sums stay right)."""
    if any(len(col) != len(edge) for col in columns):
        raise ValueError("every column needs one value per row")
    parts = [np.frexp(col) for col in columns]
    keys = [exp.astype(np.int64) * (1 << 31) + np.rint(mant * (1 << 30)).astype(np.int64)
            for mant, exp in parts]
    firsts: list[np.ndarray] = []
    mults: list[np.ndarray] = []
    left = np.arange(len(edge))
    while len(left) and len(firsts) < 16:
        i = left[0]
        same = np.ones(len(left), dtype=bool)
        for key in keys:
            same &= key[left] == key[i]
        firsts.append(np.array([i]))
        mults.append(np.array([weight[left[same]].sum()]))
        left = left[~same]
    if len(left):
        _, first, inverse = np.unique(np.stack([key[left] for key in keys]), axis=1,
                                      return_index=True, return_inverse=True)
        firsts.append(left[first])
        mults.append(np.bincount(inverse.reshape(-1), weights=weight[left]))
    return np.concatenate(firsts), np.concatenate(mults)


def hash_step(
    index: FabricIndex,
    src: np.ndarray,
    dst: np.ndarray,
    relative_bytes: np.ndarray,
    *,
    samples: int,
    seed: int = 0,
    efficiency: np.ndarray | None = None,
    fluid: tuple[np.ndarray, np.ndarray] | None = None,
) -> SampledStep:
    """A step's seconds per byte under ``ecmp-hash``, from the load distribution of every
    cable instead of drawn hashes: what :func:`sampled_step` estimates by sampling, at the
    cost of one or two fluid routings, for steps with too many flows to sample well.

    Every switch hashes a flow onto one of its next-hop cables uniformly and independently,
    so flow f crosses cable u with the probability p its fluid split gives, independently of
    the other flows: a cable's load is a sum of independent Bernoulli terms. Its mean is the
    fluid load; its variance ``sum s**2 p (1 - p)`` comes from :func:`hash_moments`. Each
    cable's load is taken as ``r`` times a binomial count with that mean and variance (``r``
    the load-weighted flow size): exact moments for flows of one size (every collective's
    steps), an approximation that comes out low for flows of very different sizes. The
    cables are taken as independent, so the busiest one has the distribution
    ``prod_u P(load_u / capacity_u <= t)``. Cables alike in distribution are counted once
    with their multiplicity; cables whose far upper tail (12 standard deviations) is below
    the largest far lower tail of a cable (8) or the busiest cable with no choice, or whose
    chance of reaching it is under 1e-13, are dropped. The distribution is evaluated at
    every whole number of flows in between (on a grid of 4,096 points, rounded up, past
    that). ``fluid`` (edges, bytes) is the step's fluid load when the caller has it.

    Independence is what the estimate assumes. It counts twice a leaf's uplink to a spine
    and that spine's downlink to the one leaf all of those flows go to (one load, not two:
    the busiest cable comes out too busy), and it misses that the cables out of one switch
    share its flows (a multinomial split: when one gets more the others get fewer, so the
    busiest comes out not busy enough). On the steps of collectives the two nearly cancel
    except where the first dominates: shifts on fat-trees, a few percent high
    (docs/routing.md has the comparison).

    Returns ``samples`` values: the distribution's quantiles at the midpoints of ``samples``
    equal strata, in an order drawn from ``seed`` (two steps with different seeds combine as
    independent draws; one step reused keeps its order, as one placement reused would).
    """
    units = hash_units(index)
    given = None
    if fluid is not None:
        given = np.zeros(index.num_edges)
        given[fluid[0]] = fluid[1]
    m1, m2, e2 = hash_moments(index, src, dst, relative_bytes, given)
    # the edges with load, and per cable of each (a flow on edge e takes each of its c
    # cables with p / c)
    on = np.flatnonzero(m1 > 0)
    m1, m2, e2 = m1[on], m2[on], e2[on]
    c = units.count[on].astype(float)
    cap = index.edge_capacity_bytes_per_s[on] / c
    if efficiency is not None:
        cap = cap * efficiency[on]
    m = m1 / c
    # a cable's count of flows, as Binomial(n, q): n = M1^2 / E2 flows that may take it, each
    # with q = E2 / (c M2) (for equal flows of equal p: n of them, each with its p / c)
    r = m2 / m1  # load-weighted flow size
    q = np.minimum(e2 / (c * m2), 1.0)
    n = m1**2 / np.maximum(e2, np.finfo(float).tiny)
    fixed = m / cap
    rand = q < 1.0 - 1e-12
    floor = float(fixed[~rand].max()) if (~rand).any() else 0.0
    rng = np.random.default_rng(seed)
    if not rand.any():
        worst = int(np.argmax(fixed)) if len(fixed) else -1
        return SampledStep(seconds_per_byte=np.full(samples, max(floor, 0.0)),
                           bottleneck_edge=int(on[worst]) if worst >= 0 and floor > 0 else -1)
    edge = np.flatnonzero(rand)
    n, q, z = n[edge], q[edge], r[edge] / cap[edge]
    mu = n * q
    sd = np.sqrt(mu * (1.0 - q))
    # the busiest cable is at least the largest far lower tail of a cable (or the busiest
    # cable with no choice) and at most a cable's far upper tail (its last flow included)
    low = max(floor, float((z * np.maximum(mu - 8.0 * sd - 2.0, 0.0)).max()))
    top = np.minimum(np.ceil(n - 1e-9), np.ceil(mu + 12.0 * sd + 12.0))
    near = z * top >= low
    edge, z, q, n, top = edge[near], z[near], q[near], n[near], top[near]
    if len(edge) == 0:  # a cable with no choice is busier than any hashed one can get
        worst = int(np.argmax(np.where(rand, -np.inf, fixed)))
        return SampledStep(seconds_per_byte=np.full(samples, floor),
                           bottleneck_edge=int(on[worst]))
    # cables alike in distribution counted once
    first, mult = _alike(edge, (n, q, z), c[edge])
    edge, z, q, n, top = edge[first], z[first], q[first], n[first], top[first]
    tail = 1.0 - _binomial_cdf(np.full(len(z), 0.0) + np.floor(low / z), n, q)
    live = tail * mult > _TAIL
    if not live.any():
        return SampledStep(seconds_per_byte=np.full(samples, low),
                           bottleneck_edge=int(on[edge[np.argmax(z * top)]]))
    edge, z, q, n, top, mult = edge[live], z[live], q[live], n[live], top[live], mult[live]
    high = float((z * top).max())
    # the support: every multiple of a cable's flow size between the bounds
    lo_k, hi_k = np.ceil(low / z), top
    num = np.maximum(hi_k - lo_k + 1, 0).astype(np.int64)
    if int(num.sum()) <= _HASH_POINTS:
        owner = np.repeat(np.arange(len(z)), num)
        k = lo_k[owner] + np.arange(len(owner)) - np.repeat(np.cumsum(num) - num, num)
        points = np.unique(np.concatenate([[low], z[owner] * k]))
    else:
        points = np.linspace(low, high, _HASH_POINTS)
    log_cdf = np.zeros(len(points))
    step = max(1, (1 << 22) // max(1, len(z)))
    for at in range(0, len(points), step):
        t = points[at:at + step]
        cdf = _binomial_cdf(t[None, :] / z[:, None] * (1 + 1e-12), n[:, None], q[:, None])
        with np.errstate(divide="ignore"):
            log_cdf[at:at + step] = (mult[:, None] * np.log(cdf)).sum(axis=0)
    cdf = np.maximum.accumulate(np.exp(log_cdf))
    cdf[-1] = 1.0
    levels = (np.arange(samples) + 0.5) / samples
    values = points[np.minimum(np.searchsorted(cdf, levels), len(points) - 1)]
    rng.shuffle(values)
    # the bottleneck: the cable class most likely above the median
    median = points[min(int(np.searchsorted(cdf, 0.5)), len(points) - 1)]
    above = mult * (1.0 - _binomial_cdf(median / z * (1 - 1e-12), n, q))
    return SampledStep(seconds_per_byte=values,
                       bottleneck_edge=int(on[edge[np.argmax(above)]]))


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
