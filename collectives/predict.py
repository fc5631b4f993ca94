"""Predict a collective on a fabric: the one entry point, for every flavor.

:func:`predict_many` checks what it is given (collective, sizes, flavor, calibration) and hands
the question to a flavor: ``ideal`` (:func:`collectives.model.predict_ideal`, alpha-beta on the
flow model), ``mpi`` (the same flow model with an MPI calibration) or ``nccl``
(:func:`collectives.nccl_bridge.predict_nccl`, NCCL's tuner with the graph's bandwidths). All
answer with :class:`collectives.results.Prediction`.

A :class:`~collectives.calibration.CorrectingCalibration` then corrects each time (its regimes,
or the plain alpha-beta fit where that fitted better) and sets the band with
``scoped_band``: wider outside the sizes, rank counts and link classes it was fitted on
(:func:`link_classes_of` says which classes a prediction loads).

>>> import topologies
>>> G = topologies.build("single-hop", num_gpus=8, gpus_per_node=1, scaleup=None)
>>> p = predict(G, "all-reduce", 1 << 30, algorithm="ring")
>>> p.algorithm, p.num_ranks, round(p.busbw_bytes_per_s / p.algbw_bytes_per_s, 2)
('ring', 8, 1.75)
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Sequence

import networkx as nx

from collectives.calibration import (
    FLAVORS,
    CorrectingCalibration,
    ModelCalibration,
    StaticCalibration,
    check_calibration,
)
from collectives.model import predict_ideal
from collectives.names import canonical
from collectives.nccl_bridge import predict_nccl
from collectives.results import Prediction
from fabric.links import HOST_LINK, NETWORK_LINK
from fabric.routing import DEFAULT_ROUTING, ROUTING_POLICIES, check_routing

__all__ = ["FLAVORS", "ROUTING_POLICIES", "link_classes_of", "predict", "predict_many"]


def link_classes_of(p: Prediction) -> tuple[str, ...]:
    """The link classes a prediction loads: ``host-internal`` when two ranks share a scale-up
    domain, ``network`` when there are several domains."""
    out = []
    if p.num_ranks > p.num_domains:
        out.append(HOST_LINK)
    if p.num_domains > 1:
        out.append(NETWORK_LINK)
    return tuple(out)


def _corrected(p: Prediction, cal: ModelCalibration | None, flavor: str) -> Prediction:
    """``p`` with the calibration's correction and scoped band applied (and its flavor)."""
    if isinstance(cal, CorrectingCalibration):
        time_s = cal.correct_time(collective=p.collective, size_bytes=p.size_bytes,
                                  num_ranks=p.num_ranks, time_s=p.time_s, latency_s=p.latency_s)
        low, high = cal.scoped_band(time_s, size_bytes=p.size_bytes, num_ranks=p.num_ranks,
                                    link_classes=link_classes_of(p), collective=p.collective,
                                    algorithm=p.algorithm_label)
    elif cal is not None and flavor == "mpi":
        time_s = p.time_s
        low, high = cal.band(time_s)
    else:
        return p
    ratio = time_s / p.time_s
    return dataclasses.replace(
        p, time_s=time_s, time_low_s=low, time_high_s=high, flavor=flavor,
        time_p99_s=None if p.time_p99_s is None else p.time_p99_s * ratio,
        algbw_bytes_per_s=p.algbw_bytes_per_s / ratio,
        busbw_bytes_per_s=p.busbw_bytes_per_s / ratio,
        bottleneck_utilization=min(1.0, p.bottleneck_utilization / ratio),
        bound_ratio=p.bound_ratio * ratio)


def predict_many(
    G: nx.DiGraph,
    collective: str,
    sizes: Sequence[int],
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    flavor: str = "ideal",
    calibration: ModelCalibration | None = None,
    seed: int = 0,
    nccl_version: str | None = None,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> list[Prediction]:
    """Predictions for several sizes of one collective on one placement (one flow solution).

    Parameters
    ----------
    G
        A validated fabric graph.
    collective
        all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, reduce or send-recv
        (aliases of :mod:`collectives.names` accepted).
    sizes
        Sizes in bytes, nccl-tests' meaning (:mod:`collectives.names`); each must be > 0.
    ranks
        Number of ranks (placed by ``placement``) or an explicit list of GPU node ids; None = all.
    placement
        packed, rail-aligned, spread, random (with ``seed``) or a list
        (:mod:`collectives.placement`).
    algorithm
        Force one algorithm (ideal, mpi: a name of :data:`collectives.registry.ALGORITHMS`; nccl:
        NCCL's names). None picks, per size, the fastest algorithm that applies
        (:func:`collectives.registry.candidates`; among NCCL's own when the calibration's
        ``params.algorithm_set`` is ``nccl``, as fits to measured runs are), or NCCL's
        tuner's choice (nccl flavor).
    flavor
        ``ideal`` (alpha-beta on the flow model), ``mpi`` (the same model with an MPI
        calibration) or ``nccl`` (NCCL's tuner, bandwidths from the graph).
    calibration
        A :class:`~collectives.calibration.ModelCalibration` fitted for ``flavor`` (for example
        ``measure``'s fitted calibration, or a
        :class:`~collectives.calibration.StaticCalibration`); None = the default parameters.
    seed
        Seed of the ``random`` placement.
    nccl_version
        NCCL release of the nccl flavor's tables; None = the calibration's, else the default.
    routing
        Routing policy of the flow model (ideal and mpi flavors;
        :data:`fabric.routing.ROUTING_POLICIES`): ``ecmp-ideal`` (fluid split over equal-cost
        paths), ``ecmp-hash`` (each flow hashed onto one path: mean and 99th percentile over
        hash seeds, ``time_p99_s``), ``adaptive`` (least-loaded next hop per flow) or
        ``policy`` (collectives are the ``training`` class: throughput, i.e. adaptive). The
        nccl flavor takes only ``ecmp-ideal``.
    routing_seed
        Seed of the ``ecmp-hash`` samples.

    Returns
    -------
    list of Prediction
        One per size, in order.

    Raises
    ------
    ValueError
        Unknown collective, algorithm, flavor or placement; a size <= 0; a calibration that is
        not a ModelCalibration or was fitted for the other flavor; an algorithm that does not
        apply (e.g. a power-of-two algorithm on 6 ranks). :class:`fabric.InfeasibleError` when
        the ranks do not fit.
    TypeError
        ``G`` not a graph, or a size that is not a whole number of bytes (``"1M"``, ``1.5``).
    """
    if not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a fabric graph (networkx.DiGraph, e.g. "
                        f"topologies.for_gpus('fat-tree', 1024)), got a {type(G).__name__}")
    name = canonical(collective)
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
    check_routing(routing)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise TypeError(f"sizes must be a list of byte counts, got {sizes!r}")
    sizes = list(sizes)
    for s in sizes:
        whole = (isinstance(s, numbers.Integral)
                 or (isinstance(s, numbers.Real) and float(s).is_integer()))
        if not whole or isinstance(s, bool):
            hint = (" (fabric.units.parse_size reads '1M' and the like)"
                    if isinstance(s, str) else "")
            raise TypeError(f"a size must be a whole number of bytes, got {s!r}{hint}")
    if flavor == "nccl" and routing != DEFAULT_ROUTING:
        raise ValueError(f"--routing {routing} needs the ideal or mpi flavor (the nccl flavor "
                         f"uses NCCL's tuner, which has no routing model)")
    checked = [int(s) for s in sizes]
    for s in checked:
        if s <= 0:
            raise ValueError(f"size must be > 0 bytes, got {s}")
    cal = check_calibration(calibration, flavor=flavor)
    if flavor == "nccl":
        out = predict_nccl(
            G,
            name,
            checked,
            ranks=ranks,
            placement=placement,
            algorithm=algorithm,
            calibration=cal,
            seed=seed,
            version=nccl_version,
        )
    else:
        base = cal
        if flavor == "mpi":
            base = None if cal is None else StaticCalibration(params=cal.params)
        out = predict_ideal(
            G,
            name,
            checked,
            ranks=ranks,
            placement=placement,
            algorithm=algorithm,
            calibration=base,
            seed=seed,
            routing=routing,
            routing_seed=routing_seed,
        )
        if flavor == "mpi" and cal is None:
            out = [dataclasses.replace(p, flavor="mpi") for p in out]
    return [_corrected(p, cal, flavor) for p in out]


def predict(
    G: nx.DiGraph,
    collective: str,
    size_bytes: int,
    *,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    algorithm: str | None = None,
    flavor: str = "ideal",
    calibration: ModelCalibration | None = None,
    seed: int = 0,
    nccl_version: str | None = None,
    routing: str = DEFAULT_ROUTING,
    routing_seed: int = 0,
) -> Prediction:
    """One prediction; see :func:`predict_many` for the parameters."""
    return predict_many(
        G,
        collective,
        [size_bytes],
        ranks=ranks,
        placement=placement,
        algorithm=algorithm,
        flavor=flavor,
        calibration=calibration,
        seed=seed,
        nccl_version=nccl_version,
        routing=routing,
        routing_seed=routing_seed,
    )[0]
