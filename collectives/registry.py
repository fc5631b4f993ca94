"""The algorithm registry: one record per collective algorithm, everything the model knows of it.

An :class:`Algorithm` names the collectives it implements (one closed form each, from
:mod:`collectives.algorithms`), its flow-pattern builder (:mod:`collectives.patterns`), when it
applies (a power-of-two rank count, a rule on the placement and the fabric) and its source.
The ideal model (:mod:`collectives.model`), the NCCL flavor's bridge
(:mod:`collectives.nccl_bridge`) and calibration read algorithms only from here:

* :func:`algorithms_for` lists the algorithms of a collective, in registry order;
* :func:`closed_form` is an algorithm's contention-free time;
* :func:`phases` builds (and memoizes in the fabric index) its phases on placed ranks;
* :func:`candidates` lists those tried when none is named: every one that applies, or NCCL's own
  (``auto``) for a calibration fitted to NCCL runs.

Adding an algorithm is adding one record to :data:`ALGORITHMS`.

>>> ALGORITHMS["rabenseifner"].collectives, ALGORITHMS["rabenseifner"].power_of_two
(('all-reduce',), True)
>>> algorithms_for("all-gather")
['ring', 'recursive-doubling', 'bruck', 'multi-leader', 'pat']
>>> ALGORITHMS["recursive-halving"].unfit("reduce-scatter", 6)
"algorithm 'recursive-halving' needs a power-of-two number of ranks, got 6"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

import networkx as nx

from collectives import algorithms as cf
from collectives import patterns
from collectives.algorithms import is_power_of_two
from collectives.calibration import ALGORITHM_SETS
from collectives.communicator import Communicator, PlacedRanks
from collectives.names import COLLECTIVES, canonical
from collectives.patterns import Exchange, Phase
from fabric.catalog import default_catalog

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "ClosedForm",
    "PhaseBuilder",
    "PlacementRule",
    "PlanBuilder",
    "StepCounter",
    "algorithm_for",
    "algorithms_for",
    "candidates",
    "closed_form",
    "phases",
    "plan",
    "reduces_in_network",
    "software_steps",
]

#: ``f(n, size_bytes, *, alpha_s, beta_s_per_byte, gamma_s_per_byte) -> seconds``.
ClosedForm = Callable[..., float]
#: ``f(on, collective) -> phases`` for a collective the algorithm serves, on ranks it applies to.
PhaseBuilder = Callable[[PlacedRanks, str], list[Phase]]
#: ``f(comm, collective) -> plan``: the steps, before routing, of an algorithm made of exchanges.
PlanBuilder = Callable[[Communicator, str], list[Exchange]]
#: ``f(comm, collective) -> steps``: the software steps (alpha terms) an algorithm's phases
#: charge, known before routing.
StepCounter = Callable[[Communicator, str], float]
#: ``f(on) -> reason``: why the algorithm does not apply to these ranks on this fabric, or "".
PlacementRule = Callable[[PlacedRanks], str]

_MEMO_KEY = (__name__, "phases")
_MEMO_LIMIT = 256  # (ranks, collective, algorithm) entries kept per fabric index


@dataclass(frozen=True, slots=True, kw_only=True)
class Algorithm:
    """One collective algorithm.

    Attributes
    ----------
    name
        The name users pass (``--algorithm``).
    summary
        One line for listings.
    source
        Where the algorithm (and its cost) is published.
    closed_forms
        Collective -> contention-free cost (:data:`ClosedForm`); its keys are the collectives the
        algorithm implements, in the order listings show them.
    build_phases
        The flow-pattern builder (:data:`PhaseBuilder`).
    power_of_two
        The algorithm needs a power-of-two number of ranks.
    placement_rule
        Further conditions on the placement and the fabric (:data:`PlacementRule`), or None.
    auto
        One of NCCL's own algorithms: the only ones tried when none is named under a
        calibration fitted to NCCL runs (:data:`collectives.calibration.ALGORITHM_SETS`).
    opt_in
        Needs the fabric's software to enable it (SHARP's collective plug-in, NCCL_COLLNET_ENABLE):
        modeled only when named, never tried by the default choice.
    build_plan
        For an algorithm made only of exchanges with one partner per step: its plan
        (:data:`PlanBuilder`; :class:`collectives.patterns.Exchange`), which ``build_phases``
        routes. A floor of its cost then needs no routing, so the fastest algorithm at given
        sizes can be found without routing it (:func:`collectives.model.exchange_floor`).
    phases_from
        Collective -> (another collective of this algorithm, factor): its phases are the other's
        with every ``repeat`` times the factor (reduce-scatter's ring moves all-gather's bytes,
        reversed; a ring all-reduce is both back to back).
    count_steps
        For an algorithm without a plan whose phases charge many software steps (a ring's
        ``2(n - 1)``): how many (:data:`StepCounter`), so that a floor of its latency needs no
        routing (:func:`software_steps`).
    """

    name: str
    summary: str
    source: str
    closed_forms: Mapping[str, ClosedForm]
    build_phases: PhaseBuilder
    power_of_two: bool = False
    placement_rule: PlacementRule | None = None
    auto: bool = False
    opt_in: bool = False
    phases_from: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    build_plan: PlanBuilder | None = None
    count_steps: StepCounter | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.closed_forms if c not in COLLECTIVES]
        if unknown or not self.closed_forms:
            raise ValueError(
                f"algorithm {self.name!r}: closed_forms must map canonical collectives "
                f"({', '.join(COLLECTIVES)}), got {', '.join(map(repr, self.closed_forms))}"
            )
        for coll, (base, _) in self.phases_from.items():
            if coll not in self.closed_forms or base not in self.closed_forms or base == coll:
                raise ValueError(
                    f"algorithm {self.name!r}: phases_from must map one of its collectives to "
                    f"another, got {coll!r} -> {base!r}"
                )
        object.__setattr__(self, "closed_forms", MappingProxyType(dict(self.closed_forms)))
        object.__setattr__(self, "phases_from", MappingProxyType(dict(self.phases_from)))

    @property
    def collectives(self) -> tuple[str, ...]:
        """The collectives this algorithm implements."""
        return tuple(self.closed_forms)

    def unfit(self, collective: str, num_ranks: int, on: PlacedRanks | None = None) -> str:
        """Why the algorithm does not apply, or ``""`` when it does.

        Without ``on`` (the contention-free closed form) only the collective and the rank
        count are checked; with it, the placement rule too.
        """
        if collective not in self.closed_forms:
            return _does_not_serve(self.name, collective)
        if self.power_of_two and not is_power_of_two(num_ranks):
            return (
                f"algorithm {self.name!r} needs a power-of-two number of ranks, got {num_ranks}"
            )
        if on is not None and self.placement_rule is not None:
            return self.placement_rule(on)
        return ""


def _does_not_serve(algorithm: str, collective: str) -> str:
    return (
        f"algorithm {algorithm!r} does not serve {collective}; use one of "
        f"{', '.join(algorithms_for(collective))}"
    )


# -- placement rules -------------------------------------------------------------------------
def _one_gpu_per_domain(on: PlacedRanks) -> str:
    if any(len(g) > 1 for g in on.comm.groups):
        return "PAT runs with one GPU per node (NCCL); this placement has more"
    return ""


def _equal_domains(on: PlacedRanks) -> str:
    groups = on.comm.groups
    sizes = {len(g) for g in groups}
    if len(groups) < 2 or len(sizes) != 1 or sizes == {1}:
        return (
            "the two-level algorithms (hierarchical, multi-leader) need >= 2 scale-up "
            "domains with the same number of ranks (>= 2) each"
        )
    return ""


def reduces_in_network(G: nx.DiGraph, switch: str) -> bool:
    """Whether ``switch`` reduces in the network (NVLS on an NVSwitch, SHARP on a leaf): its own
    ``in_network_reduction`` node attribute, else its catalog model's."""
    data = G.nodes[switch]
    if "in_network_reduction" in data:
        return bool(data["in_network_reduction"])
    switches = default_catalog().switches
    model = data.get("model")
    return bool(model in switches and switches[model].in_network_reduction)


def _reduces(on: PlacedRanks, node_pos: int) -> bool:
    return reduces_in_network(on.G, on.index.nodes[node_pos])


def _reducing_switches(on: PlacedRanks) -> str:
    index, c = on.index, on.comm
    if len(c.groups) == 1 and c.domain[0] >= 0:
        if not _reduces(on, int(c.domain[0])):
            return "in-network reduction needs an NVSwitch with NVLS (in_network_reduction)"
        return ""
    first = index.single_out[c.pos]
    if (first < 0).any() or not all(
        _reduces(on, int(index.edge_dst[e])) for e in set(first.tolist())
    ):
        return (
            "in-network reduction (SHARP) needs every rank on a switch with "
            "in_network_reduction (e.g. qm9700); this fabric's leaves lack it"
        )
    return ""


def _without_reduction(func: ClosedForm) -> ClosedForm:
    """The closed form with ``gamma_s_per_byte = 0`` (broadcast shares reduce's closed form;
    only reduce reduces)."""

    def closed(n: int, size_bytes: float, **kw: float) -> float:
        return func(n, size_bytes, **{**kw, "gamma_s_per_byte": 0.0})

    return closed


_MPICH = "MPICH src/mpi/coll (Thakur, Rabenseifner & Gropp, IJHPCA 19(1), 2005)"

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            name="ring",
            summary="ring (one ring per NIC/rail channel, rail-aligned with PXN)",
            source="Patarasuk & Yuan, 'Bandwidth optimal all-reduce algorithms for clusters of "
            "workstations', JPDC 69(2), 2009; NCCL rings and PXN (NVIDIA/nccl src/graph); "
            f"{_MPICH}: allgather_intra_ring.c, reduce_scatter_block_intra_pairwise.c",
            closed_forms={
                "all-reduce": cf.ring_all_reduce,
                "all-gather": cf.ring_all_gather,
                "reduce-scatter": cf.ring_reduce_scatter,
                "broadcast": _without_reduction(cf.pipelined_ring_broadcast),
                "reduce": cf.pipelined_ring_broadcast,
            },
            build_phases=patterns.ring_phases,
            auto=True,
            phases_from={"reduce-scatter": ("all-gather", 1), "all-reduce": ("all-gather", 2)},
            count_steps=patterns.ring_steps,
        ),
        Algorithm(
            name="tree",
            summary="double binary tree across domains, chains inside",
            source="Sanders, Speck & Träff, 'Two-tree algorithms for full bandwidth broadcast, "
            "reduction and scan', Parallel Computing 35(12), 2009; NVIDIA/nccl src/graph/trees.cc",
            closed_forms={"all-reduce": cf.double_binary_tree_all_reduce},
            build_phases=patterns.tree_phases,
            auto=True,
        ),
        Algorithm(
            name="recursive-doubling",
            summary="recursive doubling (pairwise exchange at distance 2^k)",
            source=f"{_MPICH}: allreduce_intra_recursive_doubling.c, "
            "allgather_intra_recursive_doubling.c",
            closed_forms={
                "all-reduce": cf.recursive_doubling_all_reduce,
                "all-gather": cf.recursive_doubling_all_gather,
            },
            build_phases=patterns.recursive_doubling_phases,
            build_plan=patterns.recursive_doubling_plan,
            power_of_two=True,
        ),
        Algorithm(
            name="recursive-halving",
            summary="recursive halving",
            source=f"{_MPICH}: reduce_scatter_intra_recursive_halving.c",
            closed_forms={"reduce-scatter": cf.recursive_halving_reduce_scatter},
            build_phases=patterns.recursive_halving_phases,
            build_plan=patterns.recursive_halving_plan,
            power_of_two=True,
        ),
        Algorithm(
            name="rabenseifner",
            summary="reduce-scatter by halving + all-gather by doubling",
            source="Rabenseifner, 'Optimization of collective reduction operations', ICCS 2004; "
            f"{_MPICH}: allreduce_intra_reduce_scatter_allgather.c",
            closed_forms={"all-reduce": cf.rabenseifner_all_reduce},
            build_phases=patterns.rabenseifner_phases,
            build_plan=patterns.rabenseifner_plan,
            power_of_two=True,
        ),
        Algorithm(
            name="binomial",
            summary="binomial tree",
            source=f"{_MPICH}: bcast_intra_binomial.c, reduce_intra_binomial.c",
            closed_forms={
                "broadcast": _without_reduction(cf.binomial_broadcast),
                "reduce": cf.binomial_broadcast,
            },
            build_phases=patterns.binomial_phases,
        ),
        Algorithm(
            name="bruck",
            summary="Bruck (log steps)",
            source="Bruck et al., 'Efficient algorithms for all-to-all communications in "
            "multiport message-passing systems', IEEE TPDS 8(11), 1997; "
            f"{_MPICH}: alltoall_intra_brucks.c, allgather_intra_brucks.c",
            closed_forms={
                "all-to-all": cf.bruck_all_to_all,
                "all-gather": cf.recursive_doubling_all_gather,
            },
            build_phases=patterns.bruck_phases,
            build_plan=patterns.bruck_plan,
        ),
        Algorithm(
            name="pairwise",
            summary="pairwise exchange, n-1 steps",
            source=f"{_MPICH}: alltoall_intra_pairwise.c",
            closed_forms={"all-to-all": cf.pairwise_all_to_all},
            build_phases=patterns.pairwise_phases,
            build_plan=patterns.pairwise_plan,
        ),
        Algorithm(
            name="direct",
            summary="all pairs at once (PXN when domains exist)",
            source="NCCL grouped send/recv (NVIDIA/nccl docs, 'Point-to-point communication: "
            "all-to-all'); PXN: NVIDIA technical blog, 'Doubling all2all performance with "
            "NVIDIA Collective Communication Library 2.12', 2022",
            closed_forms={"all-to-all": cf.direct_all_to_all, "send-recv": cf.send_recv},
            build_phases=patterns.direct_phases,
            auto=True,
        ),
        Algorithm(
            name="hierarchical",
            summary="reduce-scatter in domain, ring all-reduce per rail, all-gather in domain",
            source="Jia et al., 'Highly scalable deep learning training system with "
            "mixed-precision: training ImageNet in four minutes', arXiv:1807.11205, 2018 "
            "(hierarchical all-reduce); NCCL's multi-node rings (NVIDIA/nccl src/graph)",
            closed_forms={"all-reduce": cf.ring_all_reduce},
            build_phases=patterns.hierarchical_phases,
            placement_rule=_equal_domains,
            auto=True,
        ),
        Algorithm(
            name="multi-leader",
            summary="ring per rail across domains, ring inside each domain (every GPU leads "
            "its rail)",
            source="Kandalla, Subramoni, Santhanaraman, Koop & Panda, 'Designing "
            "multi-leader-based Allgather algorithms for multi-core clusters', IPDPS 2009 "
            "(CAC workshop), https://nbcl.cse.ohio-state.edu/publication/818/bibtex; Open MPI "
            "coll/han (hierarchical allgather, ompi/mca/coll/han/coll_han_allgather.c, "
            "https://github.com/open-mpi/ompi, read 2026-12-05)",
            closed_forms={"all-gather": cf.ring_all_gather,
                          "reduce-scatter": cf.ring_reduce_scatter},
            build_phases=patterns.multi_leader_phases,
            placement_rule=_equal_domains,
        ),
        Algorithm(
            name="in-network",
            summary="switch reduction: NVLS in an NVSwitch domain, SHARP across it",
            source="Graham et al., 'Scalable Hierarchical Aggregation Protocol (SHArP)', "
            "COMHPC 2016; NVLink SHARP (NVLS) in NCCL 2.17+ (NVIDIA/nccl release notes)",
            closed_forms={"all-reduce": cf.in_network_all_reduce},
            build_phases=patterns.in_network_phases,
            placement_rule=_reducing_switches,
            opt_in=True,
        ),
        Algorithm(
            name="pat",
            summary="PAT (Bruck-like, 1 GPU per node; arXiv 2506.20252)",
            source="Jeaugey, 'PAT: a new algorithm for all-gather and reduce-scatter operations "
            "at scale', arXiv:2506.20252, 2025 (NCCL 2.23+)",
            closed_forms={
                "all-gather": cf.recursive_doubling_all_gather,
                "reduce-scatter": cf.recursive_halving_reduce_scatter,
            },
            build_phases=patterns.bruck_phases,
            build_plan=patterns.bruck_plan,
            placement_rule=_one_gpu_per_domain,
            auto=True,
            phases_from={"reduce-scatter": ("all-gather", 1)},
        ),
    )
}


def algorithms_for(collective: str) -> list[str]:
    """Algorithm names that serve ``collective``, in registry order.

    Raises
    ------
    ValueError
        Unknown collective.
    """
    name = canonical(collective)
    return [a.name for a in ALGORITHMS.values() if name in a.closed_forms]


def algorithm_for(collective: str, algorithm: str) -> Algorithm:
    """The record of ``algorithm``, checked to serve ``collective`` (a canonical name).

    Raises
    ------
    ValueError
        Unknown algorithm (the message lists the known ones), or one that does not serve the
        collective (the message lists those that do).
    """
    record = ALGORITHMS.get(algorithm)
    if record is None:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if collective not in record.closed_forms:
        raise ValueError(_does_not_serve(algorithm, collective))
    return record


def closed_form(
    collective: str,
    algorithm: str,
    num_ranks: int,
    size_bytes: float,
    *,
    alpha_s: float,
    beta_s_per_byte: float,
    gamma_s_per_byte: float = 0.0,
) -> float:
    """Contention-free time of ``algorithm`` for ``collective`` (seconds).

    Raises
    ------
    ValueError
        Unknown collective or algorithm, an algorithm that does not serve the collective (the
        message lists those that do), or one that needs a power-of-two rank count when
        ``num_ranks`` is not one.

    >>> round(closed_form("all-reduce", "ring", 8, 1e9, alpha_s=1e-6, beta_s_per_byte=2e-11), 6)
    0.035014
    """
    name = canonical(collective)
    record = algorithm_for(name, algorithm)
    reason = record.unfit(name, num_ranks)
    if reason:
        raise ValueError(reason)
    return float(
        record.closed_forms[name](
            num_ranks,
            size_bytes,
            alpha_s=alpha_s,
            beta_s_per_byte=beta_s_per_byte,
            gamma_s_per_byte=gamma_s_per_byte,
        )
    )


def _fitting(on: PlacedRanks, collective: str, algorithm: str) -> tuple[str, Algorithm]:
    """The canonical collective and the algorithm's record, if it serves the collective and
    applies to these ranks on this fabric (else ValueError, saying why)."""
    name = canonical(collective)
    record = algorithm_for(name, algorithm)
    reason = record.unfit(name, on.comm.n, on)
    if reason:
        raise ValueError(reason)
    return name, record


def phases(on: PlacedRanks, collective: str, algorithm: str) -> list[Phase]:
    """The phases of ``algorithm`` for ``collective`` on ranks placed on a fabric.

    Memoized in the fabric index's ``memo`` (it lives as long as the index, which is rebuilt
    when the graph changes), keyed by ranks, collective and algorithm.

    Raises
    ------
    ValueError
        Unknown collective or algorithm, an algorithm that does not serve the collective or
        does not apply to these ranks on this fabric (the message says why), or flows with no
        path in the fabric.
    """
    name, record = _fitting(on, collective, algorithm)
    derived = record.phases_from.get(name)
    if derived is not None:
        base, factor = derived
        found = phases(on, base, algorithm)
        if factor == 1:
            return found
        return [dataclasses.replace(ph, repeat=factor * ph.repeat) for ph in found]
    memo = cast("dict[tuple[object, ...], list[Phase]]", on.index.memo.setdefault(_MEMO_KEY, {}))
    key = (on.comm.ranks, name, algorithm)
    built = memo.get(key)
    if built is None:
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        built = record.build_phases(on, name)
        memo[key] = built
    return built


def software_steps(on: PlacedRanks, collective: str, algorithm: str) -> float | None:
    """The software steps (alpha terms) the phases of ``algorithm`` charge for ``collective``
    on these ranks, before routing, or None where the algorithm does not count them
    (:attr:`Algorithm.count_steps`).

    Raises
    ------
    ValueError
        As :func:`plan`.
    """
    name, record = _fitting(on, collective, algorithm)
    if record.count_steps is None:
        return None
    return record.count_steps(on.comm, name)


def plan(on: PlacedRanks, collective: str, algorithm: str) -> list[Exchange] | None:
    """The plan of ``algorithm`` for ``collective`` on these ranks (the steps
    :func:`phases` would route), or None where the algorithm is not made of exchanges.

    Raises
    ------
    ValueError
        As :func:`phases`, but for flows with no path (nothing is routed here).
    """
    name, record = _fitting(on, collective, algorithm)
    if record.build_plan is None:
        return None
    base, factor = record.phases_from.get(name, (name, 1.0))
    steps = record.build_plan(on.comm, base)
    if factor == 1:
        return steps
    return [dataclasses.replace(e, repeat=factor * e.repeat) for e in steps]


def candidates(on: PlacedRanks, collective: str, among: str = "all") -> list[str]:
    """Algorithms tried when none is named, in registry order: every algorithm that serves
    ``collective`` and applies to these ranks on this fabric (``among="all"``; power-of-two
    algorithms need a power-of-two rank count), or only NCCL's own among those
    (``among="nccl"``: the ``auto`` ones). In-network reduction is never tried unless named
    (``opt_in``: SHARP needs its plug-in enabled).

    Raises
    ------
    ValueError
        ``among`` is not one of :data:`collectives.calibration.ALGORITHM_SETS`.
    """
    if among not in ALGORITHM_SETS:
        raise ValueError(f"unknown algorithm set {among!r}; use one of {', '.join(ALGORITHM_SETS)}")
    name = canonical(collective)
    return [
        a.name
        for a in ALGORITHMS.values()
        if (a.auto or (among == "all" and not a.opt_in)) and name in a.closed_forms
        and not a.unfit(name, on.comm.n, on)
    ]
