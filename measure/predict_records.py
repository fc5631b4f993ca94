"""Predict measured points with a calibration, exactly as ``predict`` would.

:func:`predict_records` lays each record's ranks onto the fabric
(:func:`measure.fit_data.group_points`) and asks :func:`collectives.predict.predict_many`, so a
calibration's regimes, its choice of the plain alpha-beta fit and its scoped band apply here
as they do in ``fabric predict``, ``compare`` and ``report``. Validation and the corrections'
fit (:mod:`measure.fit_choice`) both use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from collectives.calibration import ModelCalibration
from collectives.predict import predict_many
from collectives.results import Prediction
from measure.calibrate_nccl import nccl_algorithm
from measure.fit_data import group_points, ideal_algorithm
from measure.records import Record

__all__ = ["predict_records"]


def predict_records(G: nx.DiGraph, records: Sequence[Record],
                    calibration: ModelCalibration) -> list[Prediction]:
    """One prediction per record, in order, with ``calibration`` on ``G``.

    Each record runs the algorithm it names (when the flavor knows it) or the fastest.

    Raises
    ------
    ValueError
        A record the flavor cannot price on ``G`` (filter with
        :func:`measure.fit_data.usable_records` first).
    """
    flavor = calibration.flavor
    algorithm_of = nccl_algorithm if flavor == "nccl" else ideal_algorithm
    out: list[Prediction | None] = [None] * len(records)
    version = calibration.nccl_version or None
    for g in group_points(G, records, algorithm_of):
        sizes = [records[i].size_bytes for i in g.points]
        preds = predict_many(G, g.operation, sizes, ranks=list(g.gpus), algorithm=g.algorithm,
                             flavor=flavor, calibration=calibration,
                             nccl_version=version if flavor == "nccl" else None)
        for i, p in zip(g.points, preds, strict=True):
            out[int(i)] = p
    return [p for p in out if p is not None]
