"""What collectives derives from a graph lives in the graph's fabric index and follows its edits.

Communicators, phases (:mod:`collectives.registry`) and the KV module's node lists and solved
transfers are kept in ``fabric_index(G).memo``; the index is rebuilt when the graph changes, so
an edit in place must give the same answer as a fresh graph with the same edit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import topologies
from collectives import kv
from collectives.llm import load_model
from collectives.predict import predict
from fabric.routing import fabric_index

GIB = 1 << 30
PACKAGE = Path(__file__).resolve().parents[2] / "collectives"


def _double_every_link(G) -> None:
    """Twice the bandwidth and three times the latency on every edge, in place."""
    for _, _, data in G.edges(data=True):
        data["bandwidth_bytes_per_s"] *= 2
        data["latency_s"] *= 3


def _fabric():
    return topologies.build("rail-optimized", num_nodes=4)


@pytest.mark.parametrize(
    ("collective", "algorithm"),
    [("all-reduce", "ring"), ("all-reduce", None), ("all-to-all", "direct"),
     ("reduce-scatter", "ring")],
)
def test_an_edit_in_place_changes_the_prediction_like_a_fresh_graph(collective, algorithm):
    G = _fabric()
    before = predict(G, collective, GIB, algorithm=algorithm)
    memo = fabric_index(G).memo
    assert any(isinstance(k, tuple) and str(k[0]).startswith("collectives.") for k in memo)
    _double_every_link(G)
    after = predict(G, collective, GIB, algorithm=algorithm)
    fresh = _fabric()
    _double_every_link(fresh)
    expected = predict(fresh, collective, GIB, algorithm=algorithm)
    assert after.time_s == pytest.approx(expected.time_s, rel=1e-12)
    assert after.time_s < before.time_s
    if algorithm is not None:  # same algorithm: twice the bandwidth halves the transfer time
        transfer_before = before.time_s - before.latency_s
        assert after.time_s - after.latency_s == pytest.approx(transfer_before / 2, rel=1e-9)


def test_kv_transfer_follows_an_edit_in_place():
    model = load_model("llama-3.1-70b")
    G = _fabric()
    before = kv.pd_transfer(G, model, 32768, tp=8, streaming="request")
    _double_every_link(G)
    after = kv.pd_transfer(G, model, 32768, tp=8, streaming="request")
    fresh = _fabric()
    _double_every_link(fresh)
    expected = kv.pd_transfer(fresh, model, 32768, tp=8, streaming="request")
    assert after.fabric_time_s == pytest.approx(expected.fabric_time_s, rel=1e-12)
    assert after.fabric_time_s < before.fabric_time_s


def test_kv_placement_follows_new_gpus():
    G = _fabric()
    assert kv.place(G, 8).decode_gpus[0] == "node3/gpu0"
    # a GPU on a fifth node, wired like node3/gpu0 (the last node moves)
    G.add_node("node4/gpu0", **{**G.nodes["node3/gpu0"], "node": 4})
    for u, v, data in list(G.edges(data=True)):
        if u == "node3/gpu0":
            G.add_edge("node4/gpu0", v, **data)
        if v == "node3/gpu0":
            G.add_edge(u, "node4/gpu0", **data)
    assert kv.place(G, 1).decode_gpus == ("node4/gpu0",)


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_module_level_cache_keyed_on_a_graph(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "weakref" not in imported, f"{path.name}: keep graph-derived data in the index memo"
