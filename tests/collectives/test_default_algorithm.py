"""The default algorithm is the fastest of the applicable candidates, checked by forcing each.

``predict``'s help promises "the fastest that applies, per size" for the ideal and mpi flavors;
a calibration fitted to measurements chooses among NCCL's algorithms (what the measured runs
could have used), and in-network reduction is only modeled when named.
"""

from __future__ import annotations

import functools

import pytest

import topologies
from collectives.calibration import ModelParams, StaticCalibration
from collectives.predict import predict
from collectives.registry import ALGORITHMS, algorithms_for

FABRICS = {
    "clos-128": dict(family="clos", num_gpus=128),
    "clos-96-3to1": dict(family="clos", num_gpus=96, oversubscription=3),
    "rail-optimized-16": dict(family="rail-optimized", num_nodes=16),
    "fat-tree-8": dict(family="fat-tree", k=8),
    "single-hop-flat-12": dict(family="single-hop", num_gpus=12, gpus_per_node=1, scaleup=None),
}
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast", "reduce")
SIZES = (8, 64 << 10, 16 << 20, 1 << 30)


@functools.cache
def fabric(name: str):
    spec = dict(FABRICS[name])
    return topologies.build(spec.pop("family"), **spec)


def forced_times(G, collective: str, size: int, **options) -> dict[str, float]:
    """Each algorithm's time when forced; those that do not apply are left out."""
    out = {}
    for name in algorithms_for(collective):
        try:
            out[name] = predict(G, collective, size, algorithm=name, **options).time_s
        except ValueError:
            continue
    return out


@pytest.mark.parametrize("name", sorted(FABRICS))
@pytest.mark.parametrize("collective", COLLECTIVES)
def test_default_is_the_fastest_forced_candidate(name: str, collective: str) -> None:
    G = fabric(name)
    for size in SIZES:
        forced = forced_times(G, collective, size)
        forced.pop("in-network", None)  # opt-in: never the default
        assert forced, (name, collective)
        default = predict(G, collective, size)
        fastest = min(forced.values())
        assert default.time_s == pytest.approx(fastest, rel=1e-12), (size, default.algorithm,
                                                                     forced)
        assert forced[default.algorithm] == pytest.approx(default.time_s, rel=1e-12)


def test_power_of_two_algorithms_count_on_power_of_two_ranks_only() -> None:
    G = fabric("clos-128")
    on_96 = forced_times(G, "all-reduce", 1 << 20, ranks=96)
    on_96.pop("in-network")
    assert "recursive-doubling" not in on_96 and "rabenseifner" not in on_96
    assert predict(G, "all-reduce", 1 << 20, ranks=96).time_s == pytest.approx(
        min(on_96.values()), rel=1e-12)
    on_128 = forced_times(G, "all-reduce", 8, ranks=128)
    assert {"recursive-doubling", "rabenseifner"} <= set(on_128)


def test_a_latency_bound_all_gather_is_not_left_to_the_ring() -> None:
    # The case in small: a ring's n - 1 steps cost more than log n exchanges once the
    # per-rank piece is small; the default must not stay on the ring then.
    G = fabric("rail-optimized-16")
    ring = predict(G, "all-gather", 64 << 10, algorithm="ring")
    default = predict(G, "all-gather", 64 << 10)
    assert default.algorithm != "ring"
    assert default.time_s < 0.5 * ring.time_s


def test_a_calibration_fitted_to_nccl_runs_chooses_among_nccls_algorithms() -> None:
    G = fabric("clos-128")
    nccl_only = StaticCalibration(params=ModelParams(algorithm_set="nccl"))
    for collective in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
        for size in SIZES:
            p = predict(G, collective, size, calibration=nccl_only)
            assert ALGORITHMS[p.algorithm].auto, (collective, size, p.algorithm)
    # the same request without it picks recursive doubling for a tiny all-reduce (log2 128 = 7
    # exchanges against the tree's 2 x 7 steps and the ring's 254)
    assert predict(G, "all-reduce", 8).algorithm == "recursive-doubling"
    assert predict(G, "all-reduce", 8, calibration=nccl_only).algorithm in ("tree", "ring",
                                                                            "hierarchical")


def test_in_network_is_modeled_only_when_named() -> None:
    G = fabric("clos-128")  # QM9700 switches reduce (SHARP)
    forced = predict(G, "all-reduce", 1 << 30, algorithm="in-network")
    default = predict(G, "all-reduce", 1 << 30)
    assert forced.algorithm == "in-network"
    assert default.algorithm != "in-network"


def test_unknown_algorithm_set_is_refused() -> None:
    with pytest.raises(ValueError, match="algorithm_set must be one of all, nccl"):
        ModelParams(algorithm_set="fastest")


@pytest.mark.parametrize("name", ["clos-128", "fat-tree-8", "rail-optimized-16"])
@pytest.mark.parametrize("collective", ["all-reduce", "all-to-all", "all-gather"])
def test_under_hashing_the_default_is_the_fastest_forced_candidate(name: str,
                                                                   collective: str) -> None:
    # Under ecmp-hash the default skips algorithms whose fluid cost (a lower bound of their
    # hashed mean) already loses to another's hashed cost. Forcing each one must not find a
    # faster one. Hash means of separate runs differ by sampling noise (a unit phase placed
    # once serves every algorithm of a request), hence the tolerance.
    G = fabric(name)
    for size in (8, 1 << 20, 1 << 30):
        forced = forced_times(G, collective, size, routing="ecmp-hash")
        forced.pop("in-network", None)
        default = predict(G, collective, size, routing="ecmp-hash")
        assert default.time_s <= min(forced.values()) * 1.03, (size, default.algorithm, forced)
        assert default.time_s >= min(forced.values()) * 0.97, (size, default.algorithm, forced)
