"""Warm ideal predictions come from a memo in the fabric index, and say what a cold one says.

The memo (:func:`collectives.model._warm_costs`, keyed on collective, ranks, placement,
algorithm, parameters and seed) lives in ``fabric_index(G).memo``: a second request on the same
graph must give exactly the numbers of the same request on a fresh graph, a different request
must not be served another's answer, and an edit in place must drop it.
"""

from __future__ import annotations

import gc
import weakref

import pytest

import topologies
from collectives.calibration import ModelParams, StaticCalibration
from collectives.model import predict_ideal
from fabric.routing import fabric_index

SIZES = [1 << 10, 1 << 20, 1 << 30]


def _fabric():
    return topologies.build("rail-optimized", num_nodes=4)


def _numbers(preds):
    return [(p.time_s, p.algorithm, p.bottleneck, p.bound_ratio, p.num_ranks) for p in preds]


def _memo_entries(G) -> int:
    memo = fabric_index(G).memo
    return sum(len(v) for k, v in memo.items() if k == ("collectives.model", "warm"))


@pytest.mark.parametrize(
    ("collective", "ranks", "placement", "algorithm"),
    [("all-reduce", None, "packed", None), ("all-to-all", 16, "spread", None),
     ("all-gather", 12, "rail-aligned", "ring"), ("reduce-scatter", 8, "random", None)],
)
def test_a_warm_prediction_equals_a_cold_one(collective, ranks, placement, algorithm):
    G = _fabric()
    cold = predict_ideal(G, collective, SIZES, ranks=ranks, placement=placement,
                         algorithm=algorithm)
    assert _memo_entries(G) == 1
    warm = predict_ideal(G, collective, [7 << 20, *SIZES], ranks=ranks, placement=placement,
                         algorithm=algorithm)
    assert _memo_entries(G) == 1  # served from the memo, not computed again
    assert _numbers(warm[1:]) == _numbers(cold)
    fresh = predict_ideal(_fabric(), collective, [7 << 20], ranks=ranks, placement=placement,
                          algorithm=algorithm)
    assert _numbers(warm[:1]) == _numbers(fresh)


def test_requests_that_differ_get_their_own_answer():
    G = _fabric()
    a = predict_ideal(G, "all-reduce", [1 << 30], ranks=8)
    b = predict_ideal(G, "all-reduce", [1 << 30], ranks=16)
    c = predict_ideal(G, "all-reduce", [1 << 30], ranks=8, placement="spread")
    slow = StaticCalibration(flavor="ideal", params=ModelParams(
        alpha_s=1e-3, efficiency_by_link={"ndr400": 0.5}))
    d = predict_ideal(G, "all-reduce", [1 << 30], ranks=8, calibration=slow)
    assert _memo_entries(G) == 4
    assert b[0].num_ranks == 16 and a[0].num_ranks == 8
    assert c[0].time_s != a[0].time_s
    assert d[0].time_s > a[0].time_s
    again = predict_ideal(G, "all-reduce", [1 << 30], ranks=8)
    assert again[0].time_s == a[0].time_s


def test_an_edit_in_place_drops_the_memo():
    G = _fabric()
    before = predict_ideal(G, "all-reduce", [1 << 30], algorithm="ring")
    for _, _, data in G.edges(data=True):
        data["bandwidth_bytes_per_s"] *= 2
    assert _memo_entries(G) == 0  # a new index, with an empty memo
    after = predict_ideal(G, "all-reduce", [1 << 30], algorithm="ring")
    transfer = before[0].time_s - before[0].latency_s
    assert after[0].time_s - after[0].latency_s == pytest.approx(transfer / 2, rel=1e-9)


def test_the_memo_does_not_keep_the_graph_alive():
    G = _fabric()
    predict_ideal(G, "all-reduce", [1 << 30])
    ref = weakref.ref(G)
    del G
    gc.collect()
    assert ref() is None
