"""Workload step time, utilization and cost per useful GPU-hour."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import topologies
from collectives.predict import predict
from collectives.workload import (
    Economics,
    Workload,
    cost_performance,
    default_workload,
    evaluate,
    load_workload,
    step_time,
    workload_from_dict,
)
from fabric.cost import bill_of_materials
from fabric.errors import InfeasibleError


@pytest.fixture(scope="module")
def rail256():
    return topologies.rail_optimized(32)


def test_compute_time_is_6nd_over_cluster_flops():
    w = Workload(num_params=1e9, global_batch_size=8, sequence_length=1000, mfu=0.5,
                 tensor_parallel=1)
    # 6 x 1e9 x 8,000 tokens / (8 GPUs x 1e15 x 0.5) = 0.012 s (Kaplan et al. 2020, 6ND)
    assert w.compute_time_s(8, 1e15) == pytest.approx(0.012)


def test_step_terms_add_up_and_match_the_collective_model(rail256):
    w = default_workload()
    s = step_time(rail256, w)
    assert s.step_time_s == pytest.approx(s.compute_time_s + s.bubble_time_s
                                          + s.dp_exposed_time_s + s.tp_time_s + s.ep_time_s)
    assert s.gpu_utilization == pytest.approx(s.compute_time_s / s.step_time_s)
    # DP group: one GPU per server (stride tp x pp = 8), gradients split over the TP group
    gpus = [f"node{n}/gpu0" for n in range(32)]
    dp = predict(rail256, "all-reduce", int(math.ceil(70e9 * 2 / 8)), ranks=gpus)
    assert s.dp_time_s == pytest.approx(dp.time_s)
    assert s.dp_exposed_time_s == pytest.approx(0.5 * dp.time_s)
    # TP: 4 all-reduces per layer per micro-batch (Megatron-LM), 80 layers, 4096/32 = 128 mb
    tp = predict(rail256, "all-reduce", 4096 * 8192 * 2, ranks=gpus[:0] + [
        f"node0/gpu{g}" for g in range(8)])
    assert s.parallelism.num_microbatches == 128
    assert s.tp_time_s == pytest.approx(4 * 80 * 128 * tp.time_s)


def test_overlap_and_pipeline_bubble(rail256):
    full = step_time(rail256, Workload(dp_overlap_fraction=1.0))
    none = step_time(rail256, Workload(dp_overlap_fraction=0.0))
    assert full.dp_exposed_time_s == 0 and none.dp_exposed_time_s == pytest.approx(none.dp_time_s)
    assert full.gpu_utilization > none.gpu_utilization
    pp = step_time(rail256, Workload(pipeline_parallel=4, tensor_parallel=8))
    m = pp.parallelism.num_microbatches
    # 1F1B bubble (p - 1) / m of compute (Narayanan et al. 2021)
    assert pp.bubble_time_s == pytest.approx(pp.compute_time_s * 3 / m)


def test_zero_style_dp_and_moe_all_to_all(rail256):
    w = Workload(dp_collective="reduce-scatter+all-gather", moe_layers=40, moe_top_k=2,
                 expert_parallel=8)
    s = step_time(rail256, w)
    assert s.ep_time_s > 0 and s.dp_time_s > 0
    assert step_time(rail256, Workload()).ep_time_s == 0


def test_batch_rounded_up_to_whole_microbatches(rail256):
    s = step_time(rail256, Workload(global_batch_size=100))  # dp 32 -> 4 micro-batches of 1
    assert s.parallelism.global_batch_size == 128
    assert any("rounded up" in n for n in s.notes)


def test_infeasible_layout():
    with pytest.raises(InfeasibleError, match="tensor_parallel"):
        Workload(tensor_parallel=16).parallelism(24)
    with pytest.raises(InfeasibleError, match="expert_parallel"):
        Workload(expert_parallel=3).parallelism(64)


def test_cost_per_useful_gpu_hour(rail256):
    bom = bill_of_materials(rail256)
    r = evaluate(rail256, capex_usd=bom.cost_usd, power_w=bom.power_w)
    econ = Economics()
    hourly = bom.cost_usd / (4 * 8760) + bom.power_w * 1.1 / 1000 * 0.08
    assert r.cost.cost_per_hour_usd == pytest.approx(hourly)
    assert r.cost.cost_per_useful_gpu_hour_usd == pytest.approx(
        hourly / 256 / r.step.gpu_utilization)
    assert r.cost.economics == econ
    tokens_h = r.step.tokens_per_s * 3600
    assert r.cost.cost_per_million_tokens_usd == pytest.approx(hourly / tokens_h * 1e6)


@pytest.mark.parametrize("field, value", [
    ("global_batch_size", -8), ("mfu", 1.5), ("mfu", 0), ("num_params", "lots"),
    ("dp_overlap_fraction", 2), ("tensor_parallel", 0), ("dp_collective", "tree"),
    ("moe_layers", 81),
])
def test_bad_fields_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        workload_from_dict({field: value})


def test_unknown_fields_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown field.*batch.*known:"):
        workload_from_dict({"batch": 8})
    with pytest.raises(ValueError, match="economics.*pue_x"):
        workload_from_dict({"economics": {"pue_x": 1}})
    with pytest.raises(ValueError, match="pue"):
        workload_from_dict({"economics": {"pue": 0.5}})


def test_yaml_and_json_files(tmp_path):
    y = tmp_path / "w.yaml"
    y.write_text("name: small\nnum_params: 7e9\nglobal_batch_size: 512\n"
                 "economics:\n  usd_per_kwh: 0.12\n")
    w = load_workload(y)
    assert w.num_params == 7e9 and w.economics.usd_per_kwh == 0.12
    j = tmp_path / "w.json"
    j.write_text(json.dumps({"name": "small", "num_params": 7e9, "global_batch_size": 512,
                             "economics": {"usd_per_kwh": 0.12}}))
    assert load_workload(j) == w
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_workload(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_workload(tmp_path / "missing.yaml")


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("workload_*.yaml"))


def test_the_documented_example_workloads_are_there():
    assert {p.name for p in EXAMPLES} >= {"workload_dense70b.yaml", "workload_moe.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path):
    # what the file declares, read here with plain YAML, against what loading gives
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    w = load_workload(path)
    for key, value in raw.items():
        if key == "economics":
            for k, v in value.items():
                assert getattr(w.economics, k) == pytest.approx(float(v), rel=1e-12), k
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert getattr(w, key) == pytest.approx(float(value), rel=1e-12), key
        else:
            assert getattr(w, key) == value, key
    default = Workload()
    for f in dataclasses.fields(Workload):  # what it leaves out keeps the defaults
        if f.name not in raw:
            assert getattr(w, f.name) == getattr(default, f.name), f.name
    # numbers computed here from the file: tokens per step, 6ND step FLOPs (Kaplan et al. 2020,
    # §2.1) and the gradient bytes one data-parallel rank reduces
    tokens = int(raw["global_batch_size"]) * int(raw["sequence_length"])
    assert w.tokens_per_step == tokens
    assert w.flops_per_step == pytest.approx(6 * float(raw["num_params"]) * tokens, rel=1e-12)
    grad_params = float(raw.get("gradient_params", raw["num_params"]))
    per_param = float(raw.get("gradient_bytes_per_param", default.gradient_bytes_per_param))
    assert w.gradient_bytes == pytest.approx(grad_params * per_param, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["mfu", "global_batch_size", "num_params", "pue",
                                        "tensor_parallel", "name", "economics"]),
                       st.one_of(st.integers(-5, 10), st.floats(allow_nan=True),
                                 st.text(max_size=5), st.none(),
                                 st.lists(st.integers(), max_size=2))))
def test_garbage_raises_value_error_or_builds(data):
    try:
        w = workload_from_dict(data)
    except ValueError:
        return
    assert w.tokens_per_step >= 1


def test_utilization_bounded_under_monotone_cost():
    s = step_time(topologies.rail_optimized(4), Workload(global_batch_size=64))
    c1 = cost_performance(1e6, 1e4, s)
    c2 = cost_performance(2e6, 1e4, s)
    assert 0 < s.gpu_utilization <= 1
    assert c2.cost_per_useful_gpu_hour_usd > c1.cost_per_useful_gpu_hour_usd


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_workload_file_is_refused_not_replaced_by_the_default(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"empty\.yaml: the workload file is empty"):
        load_workload(path)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("dup.yaml", b"name: x\nname: y\n", "field 'name' is given twice (line 2)"),
    ("dup.json", b'{"name": "x", "name": "y"}', "field 'name' is given twice"),
    ("bad.yaml", b"name: \xff\n", "not UTF-8 text"),
    ("econ.yaml", b"name: x\neconomics:\n  amortization_years: -1\n",
     "economics: amortization_years must be a number > 0"),
])
def test_a_bad_workload_file_is_named_in_one_line(tmp_path, name, content, message):
    """A key given twice (the last one silently won), bytes that are not UTF-8 and a bad
    economics figure name the file (the last two did not)."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        load_workload(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_micro_batches_that_do_not_divide_the_batch_are_refused():
    # dp 128 x micro_batch 64 = 8,192 sequences a round against a batch of 4,096: rounding up
    # would run twice the batch (and flatter utilization); Megatron-LM refuses it too
    with pytest.raises(InfeasibleError, match=r"global_batch_size 4096 is not a multiple of "
                                              r"micro_batch_size x data_parallel = 64 x 128 = "
                                              r"8192: micro_batch_size 32 divides it"):
        Workload(micro_batch_size=64).parallelism(1024)
    assert Workload(micro_batch_size=32).parallelism(1024).global_batch_size == 4096
    # just over one round was accepted and nearly doubled (65 -> 128): refused as well
    with pytest.raises(InfeasibleError, match="micro_batch_size 1 rounds it up"):
        Workload(global_batch_size=65, micro_batch_size=4).parallelism(128)
    # one sequence per micro-batch: rounded up to whole rounds, said in the notes
    assert Workload(global_batch_size=100).parallelism(1024).global_batch_size == 128


def test_expert_all_to_all_carries_each_tensor_parallel_ranks_share():
    # sequence parallelism (required by Megatron-Core with TP and EP together) splits the
    # tokens over the TP ranks: each dispatches 1/tp of them, not all of them
    one = Workload(tensor_parallel=1, moe_layers=4, expert_parallel=8)
    eight = Workload(tensor_parallel=8, moe_layers=4, expert_parallel=8)
    assert one.ep_message_bytes == 8 * eight.ep_message_bytes
    assert one.ep_message_bytes == one.tp_message_bytes * one.moe_top_k
