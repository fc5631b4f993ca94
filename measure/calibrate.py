"""Fit the collective model to measurements: one entry point for both flavors.

:func:`calibrate` selects the records a fit may use, leaves the held-out sizes out
(:mod:`measure.holdout`) and fits the flavor asked for:

``ideal``
    ``alpha_s`` and one efficiency per link class (:func:`measure.fit_ideal.calibrate_ideal`);
``nccl``
    NCCL's tuner with fitted bandwidth scales and latencies
    (:func:`measure.calibrate_nccl.calibrate_nccl`).

``mpi``
    the ideal fit on MPI measurements (OSU, IMB, mpi4py), recorded as the mpi flavor.

Then :func:`measure.fit_choice.add_corrections` fits regimes on top (breakpoints, per-regime
latency and bandwidth) and the plain alpha-beta fit on the same points, and keeps the one with
the lower leave-one-out error on the fit points (both errors and the choice are recorded).
Either way the result is a :class:`measure.calibration.Calibration`, which
:func:`measure.calibration.save_calibration` writes and the model reads.
:func:`measure.validate.validate` reports predicted vs measured per point, which points were
fitted, and the median / worst relative error. The pieces:

* :mod:`measure.fit_data` loads, selects, places and groups the measured points;
* :mod:`measure.fit_uncertainty` checks the robust loss and estimates standard errors;
* :mod:`measure.calibration` is the result type and its file.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from collectives.calibration import FLAVORS
from measure.calibrate_nccl import calibrate_nccl
from measure.calibration import Calibration
from measure.fit_choice import add_corrections
from measure.fit_data import select_records
from measure.fit_ideal import calibrate_ideal
from measure.generic_fabric import generic_fabric_from_records
from measure.holdout import Holdout
from measure.records import Record, check_records

__all__ = ["calibrate"]


def calibrate(
    records: Sequence[Record],
    G: nx.DiGraph | None = None,
    *,
    flavor: str = "ideal",
    holdout: str | Holdout | None = None,
    in_place: bool | None = False,
    loss: str = "soft_l1",
    f_scale_log: float = 0.1,
    corrections: bool = True,
    nccl_version: str | None = None,
) -> Calibration:
    """Fit the model's ``flavor`` to measured points, then its corrections.

    Parameters
    ----------
    records
        Measurements (:class:`measure.records.Record`); see
        :func:`measure.fit_data.select_records` for which are used. Each record's ranks are
        mapped onto ``G`` (host i -> node i, its ranks -> that node's GPUs in order); a record's
        ``algorithm`` (or ``NCCL_ALGO``) is used when it names one the model knows, else the
        model picks the fastest per size.
    G
        The fabric the measurements ran on; None builds
        :func:`measure.generic_fabric.generic_fabric_from_records`.
    flavor
        ``"ideal"`` (alpha_s and link efficiencies, :func:`measure.fit_ideal.calibrate_ideal`)
        or ``"nccl"`` (NCCL's tuner: bandwidth scales and network latency,
        :func:`measure.calibrate_nccl.calibrate_nccl`; it refuses MPI records) or ``"mpi"``
        (the ideal fit, for OSU / IMB / mpi4py records).
    holdout
        A holdout spec (:mod:`measure.holdout`) or :class:`~measure.holdout.Holdout`: sizes
        left out of the fit.
    in_place
        False: out-of-place records; True: in-place; None: both.
    loss, f_scale_log
        The robust loss of ``least_squares`` (linear, soft_l1, huber, cauchy) and its scale in
        log time (0.1 ~ 10 %).
    corrections
        Fit regimes and the naive alpha-beta fit and choose between them
        (:func:`measure.fit_choice.add_corrections`); False returns the flavor's fit alone.
    nccl_version
        The nccl flavor's tuner constants (``"2.27"``...); None: those of the release the
        records state, else the newest (:func:`measure.calibrate_nccl.calibrate_nccl`).

    Returns
    -------
    Calibration
        With ``flavor`` set; its ``fit_points`` are the points fitted, with the fitted model's
        time for each.

    Raises
    ------
    ValueError
        An unknown flavor or loss, a bad holdout, no usable records, a fabric that cannot hold
        the records' ranks, or fewer fit points than parameters (the message says how many are
        needed).

    Examples
    --------
    >>> from collectives.calibration import ModelParams, StaticCalibration
    >>> from collectives.predict import predict
    >>> from topologies.generic import generic_fabric
    >>> G = generic_fabric(1, 8)
    >>> truth = ModelParams(alpha_s=5e-6, efficiency_by_link={"host-internal": 0.8},
    ...                     algorithm_set="nccl")  # a fit chooses among NCCL's algorithms
    >>> recs = [Record(operation="all-reduce", size_bytes=s, num_ranks=8, num_hosts=1,
    ...                hosts=["h"] * 8, time_s=predict(G, "all-reduce", s, ranks=8,
    ...                calibration=StaticCalibration(params=truth)).time_s)
    ...         for s in (2**10, 2**16, 2**22, 2**28)]
    >>> cal = calibrate(recs, G)
    >>> round(cal.params.alpha_s * 1e6, 2), round(cal.params.efficiency_by_link["host-internal"], 3)
    (5.0, 0.8)
    """
    records = check_records(records)
    if nccl_version is not None and flavor != "nccl":
        raise ValueError(f"nccl_version applies to the nccl flavor only, got flavor {flavor!r}")
    if G is not None and not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a fabric graph (networkx.DiGraph) or None, got a "
                        f"{type(G).__name__}")
    if in_place is not None and not isinstance(in_place, bool):
        raise TypeError(f"in_place must be True, False or None, got {in_place!r}")
    if G is None and corrections and flavor in FLAVORS:
        # the flavor's fit and the corrections lay the records out on the same generic fabric:
        # built once (a log of 360 racks makes one of 10^5 GPUs, 1.3 s to build)
        chosen = select_records(records, in_place=in_place)
        if chosen:
            G = generic_fabric_from_records(chosen)
    if flavor == "nccl":
        base = calibrate_nccl(
            records, G, holdout=holdout, in_place=in_place, loss=loss, f_scale_log=f_scale_log,
            version=nccl_version,
        )
    elif flavor in ("ideal", "mpi"):
        base = calibrate_ideal(
            records, G, holdout=holdout, in_place=in_place, loss=loss, f_scale_log=f_scale_log,
            flavor=flavor,
        )
    else:
        raise ValueError(f"flavor must be {' or '.join(map(repr, FLAVORS))}, got {flavor!r}")
    return add_corrections(base, records, G, in_place=in_place) if corrections else base
