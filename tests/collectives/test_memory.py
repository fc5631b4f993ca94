"""What one GPU of an inference instance holds (collectives/memory.py) and what `fabric kv` says
of it: the issue's case (Llama 3.1 405B at 128K on 8 x H100 "fits" while its bf16 weights alone
are about 101 GB per GPU) and the advice when it does not fit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from collectives.llm import load_model, model_from_config
from collectives.memory import (
    USABLE_FRACTION,
    GpuMemory,
    activation_bytes_per_gpu,
    gpu_memory,
    prefill_pass_tokens,
    weight_bytes_per_gpu,
)
from fabric.catalog import load_catalog
from fabric.cli import cli
from studies.kv import kv_scenario, memory_advice


def test_weights_are_the_parameters_over_tp_and_pp() -> None:
    m = load_model("llama-3.1-405b")
    assert m.num_params_total == pytest.approx(405.85e9, rel=1e-3)
    assert weight_bytes_per_gpu(m, "bf16", tp=8, pp=1) == pytest.approx(
        m.num_params_total * 2 / 8)
    assert weight_bytes_per_gpu(m, "fp8", tp=4, pp=2) == pytest.approx(m.num_params_total / 8)
    assert weight_bytes_per_gpu(m, "fp4", tp=8, pp=1) == pytest.approx(m.num_params_total / 16)
    with pytest.raises(ValueError, match="weight dtype must be one of"):
        weight_bytes_per_gpu(m, "fp6", tp=8, pp=1)


def test_activation_estimate_errs_high_by_about_a_fifth_for_llama_405b() -> None:
    m = load_model("llama-3.1-405b")
    tokens, tp = 8192, 8
    # the true working set with Llama 3.1 405B's MLP width (53,248; its config.json)
    heads = (m.num_attention_heads + 2 * m.num_kv_heads) * m.head_dim
    true = tokens * (4 * m.hidden_size + heads / tp + 2 * 53248 / tp) * 2
    est = activation_bytes_per_gpu(m, tokens, tp=tp)
    assert est is not None
    assert 1.0 < est / true < 1.25
    assert activation_bytes_per_gpu(m, 2 * tokens, tp=tp) == pytest.approx(2 * est)


def test_the_issues_case_does_not_fit_and_says_what_would() -> None:
    s = kv_scenario("llama-3.1-405b", 128 * 1024, tp=8)
    m = s.memory
    assert m.weights_bytes == pytest.approx(101.46e9, rel=1e-3)
    assert m.total_bytes == pytest.approx(m.weights_bytes + m.kv_bytes + m.activations_bytes)
    # 81,559 MiB, the H100 80GB's total as nvidia-smi reports it (catalog source)
    assert m.usable_bytes == pytest.approx(81559 * 2**20 * USABLE_FRACTION)
    assert not s.fits_gpu_memory
    assert "tp 16" in s.advice and "pp 2" in s.advice
    assert any(a.startswith("h200 GPUs") for a in s.advice)
    assert any("fp8 weights" in a for a in s.advice)
    # each piece of advice does fit
    assert kv_scenario("llama-3.1-405b", 128 * 1024, tp=8, weight_dtype="fp8").fits_gpu_memory
    assert kv_scenario("llama-3.1-405b", 128 * 1024, tp=16).fits_gpu_memory
    assert m.capacity_bytes == 81559 * 2**20  # the default fabric's H100, as nvidia-smi says


def test_a_fitting_instance_has_no_advice() -> None:
    s = kv_scenario("llama-3.1-70b", 128 * 1024, tp=8)
    assert s.fits_gpu_memory and s.advice == ()
    assert s.memory.total_bytes < s.memory.usable_bytes


def test_when_only_the_kv_cache_overflows_a_tier_is_offered() -> None:
    m = load_model("llama-3.1-8b")
    cat = load_catalog()
    advice = memory_advice(m, 1 << 20, batch=8, tp=1, pp=1, dtype=None, page_tokens=1,
                           weight_dtype="bf16", chunk_tokens=8192, gpu="h100", catalog=cat)
    tier = [a for a in advice if "on a tier" in a]
    assert tier, advice
    mem = gpu_memory(m, 8 * (1 << 20) * 131072, capacity_bytes=80e9, tp=1)
    assert mem.kv_room_bytes > 0


def test_a_model_without_parameter_counts_leaves_weights_out_and_says_so() -> None:
    m = model_from_config({"num_hidden_layers": 32, "num_attention_heads": 32,
                           "hidden_size": 4096}, key="bare")
    mem = gpu_memory(m, 1e9, capacity_bytes=80e9, tp=1)
    assert mem.weights_bytes is None and mem.activations_bytes is None
    assert not mem.complete and mem.total_bytes == pytest.approx(1e9)


def test_bad_values_are_refused() -> None:
    m = load_model("llama-3.1-8b")
    with pytest.raises(ValueError, match="tp must be an integer >= 1"):
        weight_bytes_per_gpu(m, "bf16", tp=0, pp=1)
    with pytest.raises(ValueError, match="GPU memory must be > 0"):
        gpu_memory(m, 1.0, capacity_bytes=0)
    with pytest.raises(ValueError, match="tokens must be an integer >= 1"):
        activation_bytes_per_gpu(m, 0, tp=1)


def test_cli_prints_the_verdict_and_the_json_carries_every_part() -> None:
    runner = CliRunner()
    args = ["kv", "--model", "llama-3.1-405b", "--context", "128k", "--tp", "8"]
    text = runner.invoke(cli, args, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert "weights 101.5 (bf16)" in text.output and "does NOT fit" in text.output
    assert "would fit with" in text.output and "tp 16" in text.output
    out = runner.invoke(cli, [*args, "--json"], catch_exceptions=False)
    data = json.loads(out.output)["results"]
    assert data["fits_gpu_memory"] is False and data["memory_advice"]
    assert data["memory_bytes_per_gpu"] == pytest.approx(
        data["weights_bytes_per_gpu"] + data["kv_bytes_per_gpu"]
        + data["activations_bytes_per_gpu"])
    fp8 = runner.invoke(cli, [*args, "--weight-dtype", "fp8", "--json"], catch_exceptions=False)
    assert json.loads(fp8.output)["results"]["fits_gpu_memory"] is True
    whole = runner.invoke(cli, [*args, "--prefill-chunk", "128k", "--json"],
                          catch_exceptions=False)
    assert (json.loads(whole.output)["results"]["activations_bytes_per_gpu"]
            == pytest.approx(16 * data["activations_bytes_per_gpu"]))


# --- QA of `fabric kv`, items 3, 6 and 7 ---------------------------------------------------------


def test_activations_count_at_most_the_requests_tokens() -> None:
    m = load_model("llama-3.1-70b")
    assert prefill_pass_tokens(131072, 8192) == 8192 and prefill_pass_tokens(8192, 1000) == 1000
    at_8k = gpu_memory(m, 1e9, capacity_bytes=80e9, tp=8, chunk_tokens=8192)
    big_chunk = gpu_memory(m, 1e9, capacity_bytes=80e9, tp=8, chunk_tokens=131072,
                           max_tokens=8192)
    assert big_chunk.activations_bytes == at_8k.activations_bytes
    short = gpu_memory(m, 1e9, capacity_bytes=80e9, tp=8, max_tokens=1000)
    assert short.activations_bytes == pytest.approx(at_8k.activations_bytes * 1000 / 8192)
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1"):
        prefill_pass_tokens(8192, 0)


def test_an_unknown_part_never_fits() -> None:
    mem = GpuMemory(weights_bytes=None, kv_bytes=1e9, activations_bytes=None, capacity_bytes=80e9)
    assert mem.fits_known_parts and not mem.fits
    assert mem.unknown_parts == ("weights", "activations")


# DeepSeek-V3 is published in FP8: its config.json has "quantization_config":
# {"quant_method": "fp8", "fmt": "e4m3", ...}
# (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json, 2024-12)
def test_deepseek_v3_weights_default_to_its_published_fp8() -> None:
    m = load_model("deepseek-v3")
    assert m.weight_dtype == m.default_weight_dtype == "fp8" and m.kv_dtype == "bf16"
    assert "quant_method 'fp8'" in m.weight_dtype_note
    mem = gpu_memory(m, 1e9, capacity_bytes=141e9, tp=8)
    assert mem.weights_bytes == pytest.approx(m.num_params_total / 8)  # 1 byte per weight
    assert gpu_memory(m, 1e9, capacity_bytes=141e9, tp=8, weight_dtype="bf16").weights_bytes \
        == pytest.approx(m.num_params_total * 2 / 8)


_DENSE = {"num_hidden_layers": 32, "num_attention_heads": 32, "hidden_size": 4096,
          "intermediate_size": 11008, "vocab_size": 32000}


@pytest.mark.parametrize("quantization, dtype", [
    ({"quant_method": "fp8"}, "fp8"),
    ({"fmt": "e4m3", "activation_scheme": "dynamic"}, "fp8"),
    ({"quant_method": "awq", "bits": 4}, "int4"),
    ({"quant_method": "gptq", "bits": 8}, "int8"),
    ({"quant_method": "bitsandbytes"}, None),
])
def test_quantization_config_gives_the_weights_dtype(quantization, dtype) -> None:
    m = model_from_config({**_DENSE, "quantization_config": quantization}, key="q")
    assert m.weight_dtype == dtype
    assert m.default_weight_dtype == (dtype or "bf16")
    assert "quantization_config" in m.weight_dtype_note
    if dtype is None:
        assert "not read" in m.weight_dtype_note


def test_a_dense_model_with_only_its_active_count_has_known_weights() -> None:
    bare = {k: v for k, v in _DENSE.items() if k != "vocab_size"}
    m = model_from_config({**bare, "num_params_active": 7e9}, key="a")
    assert m.num_params_total == 7e9
    assert weight_bytes_per_gpu(m, "bf16", tp=1, pp=1) == pytest.approx(14e9)
    moe = model_from_config({**bare, "num_params_active": 7e9, "num_local_experts": 8,
                             "num_experts_per_tok": 2}, key="moe")
    assert moe.num_params_total is None  # the total of an MoE is not its active count
