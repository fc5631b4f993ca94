"""The collective model on the fabric: algorithm steps as flows, flows as link loads, loads as time.

Each algorithm (see :mod:`collectives.algorithms` for the closed forms and their sources) is a
list of *phases* (built by :mod:`collectives.patterns`, which also describes the flow patterns);
a phase is one synchronized step repeated ``repeat`` times, whose flows are routed over the graph
(:mod:`fabric.routing`, ECMP) and whose time is
``alpha_s * alpha_steps + path latency + S * max_e(load_e / capacity_e)`` (:mod:`fabric.flows`).
Loads are linear in the size S, so an algorithm on a placement reduces to
``time(S) = latency_s + seconds_per_byte * S``: computed once (cached per graph, ranks and
algorithm) and then O(1) per size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from collectives.algorithms import ALGORITHMS, algorithms_for, is_power_of_two
from collectives.names import busbw_factor, canonical
from collectives.patterns import PAIRWISE_SAMPLES, _cached_phases, _Comm, _comm, _Phase
from collectives.placement import place_ranks
from fabric.flows import edge_name
from fabric.routing import FabricIndex, fabric_index

__all__ = [
    "ModelParams",
    "Prediction",
    "predict",
    "predict_many",
    "algorithm_costs",
    "PAIRWISE_SAMPLES",
    "FLAVORS",
]

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


# -- evaluation -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmCost:
    """``time(S) = latency_s + seconds_per_byte * S`` for one algorithm on one placement."""

    algorithm: str
    latency_s: float
    seconds_per_byte: float
    bottleneck: str
    bytes_sent_per_rank_per_byte: float


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
    latency_s = seconds_per_byte = 0.0
    worst_edge, worst_part = -1, -1.0
    sent = 0.0
    gpu_out = index.edge_from_gpu
    for ph in phases:
        if len(ph.edges) == 0:
            latency_s += ph.repeat * ph.alpha_steps * params.alpha_s
            continue
        c_e = cap[ph.edges] * (eff[ph.edges] if eff is not None else 1.0)
        ratio = ph.load / c_e
        k = int(np.argmax(ratio))
        step = float(ratio[k])
        latency_s += ph.repeat * (ph.latency_s + ph.alpha_steps * params.alpha_s)
        seconds_per_byte += ph.repeat * step
        if ph.repeat * step > worst_part:
            worst_part, worst_edge = ph.repeat * step, int(ph.edges[k])
        sent += ph.repeat * float(ph.load[gpu_out[ph.edges]].sum())
    return AlgorithmCost(
        algorithm=algorithm,
        latency_s=latency_s,
        seconds_per_byte=seconds_per_byte,
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
    chosen = place_ranks(G, ranks, placement, seed=seed)
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
    fitted_for = getattr(calibration, "flavor", None)
    if isinstance(fitted_for, str) and fitted_for != flavor:
        raise ValueError(f"the calibration was fitted for the {fitted_for} flavor; predict with "
                         f"--flavor {fitted_for} (or calibrate with --flavor {flavor})")
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
    chosen = place_ranks(G, ranks, placement, seed=seed)
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
