"""``fabric kv``: JSON keys and values, the documented examples, and one-line errors."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabric.cli import cli

ROOT = Path(__file__).resolve().parents[2]
HF = ROOT / "tests" / "data" / "hf_configs"


def run(*args: str):
    return CliRunner().invoke(cli, ["kv", *args], catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def test_help():
    result = run("-h")
    assert result.exit_code == 0 and "--streaming" in result.stdout


@pytest.mark.parametrize("context, tokens", [("128k", 131072), ("131072", 131072), ("1M", 1048576)])
def test_json_keys_and_context_forms(context, tokens):
    data = run_json("--model", "llama-3.1-70b", "--context", context, "--tp", "8")
    assert data["context_tokens"] == tokens
    assert data["kv_bytes_per_token"] == 327680  # 80 x 8 x 128 x 2 x 2 B
    assert data["kv_bytes"] == tokens * 327680
    for key in ("transfer_time_s", "ttft_recompute_s", "ttft_cached_s", "fetch_time_s",
                "breakeven_bandwidth_bytes_per_s", "kv_bytes_moved", "transfer_exposed_s"):
        assert data[key] > 0, key
    assert data["prefill_gpus"][0] == "node0/gpu0" and data["decode_gpus"][0] == "node3/gpu0"


def test_breakeven_of_section_2_4():
    # derived: 4.2 GB/s at 128K for Llama-3.1-70B on 8 x H100 at 50% MFU
    data = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    assert data["breakeven_bandwidth_bytes_per_s"] / 1e9 == pytest.approx(4.2, rel=0.03)


@pytest.mark.parametrize("context, seconds", [("1000000", 6 * 60), ("10000000", 8.3 * 3600)])
def test_essay_example(context, seconds):
    # docs/kv.md, scenario A (Lightbits Labs blog, 2026): over six minutes at 1M, 8.3 h at 10M
    data = run_json("--model", "llama-4-scout", "--context", context, "--gpu", "l40s", "--tp", "4",
                    "--mfu", "0.3")
    assert data["ttft_recompute_s"] == pytest.approx(seconds, rel=0.10)
    assert data["prefill_flops_per_s"] == pytest.approx(4.344e14)


def test_hf_config_equals_builtin():
    builtin = run_json("--model", "deepseek-v3", "--context", "32k", "--tp", "8")
    from_file = run_json("--model", str(HF / "deepseek-v3.json"), "--context", "32k", "--tp", "8")
    assert from_file["kv_bytes_per_token"] == builtin["kv_bytes_per_token"] == 70272  # 61x576x2
    assert from_file["kv_bytes_moved"] == builtin["kv_bytes_moved"]
    assert from_file["replication_factor"] == 8.0


def test_fp8_halves_and_tiers_differ():
    bf16 = run_json("--model", "llama-3.1-8b", "--context", "32k")
    fp8 = run_json("--model", "llama-3.1-8b", "--context", "32k", "--dtype", "fp8")
    assert fp8["kv_bytes"] * 2 == bf16["kv_bytes"]
    hbm = run_json("--model", "llama-3.1-8b", "--context", "32k", "--tier", "hbm")
    nvme = run_json("--model", "llama-3.1-8b", "--context", "32k", "--tier", "nvme")
    assert hbm["fetch_time_s"] == 0 < nvme["fetch_time_s"]


def test_oversubscribed_clos_topology_flags():
    data = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8",
                    "--topology", "clos", "--gpus", "128", "--oversubscription", "3")
    assert data["topology"] == "clos"


def test_request_streaming_exposes_the_whole_transfer():
    layer = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    request = run_json("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8",
                       "--streaming", "request")
    assert request["transfer_exposed_s"] == request["transfer_time_s"]
    assert layer["transfer_exposed_s"] < request["transfer_exposed_s"] / 10


def test_table_output():
    result = run("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8")
    assert result.exit_code == 0
    assert "327,680 B" in result.stdout and "PD transfer" in result.stdout


@pytest.mark.parametrize("args, code, message", [
    (["--model", "gpt-9", "--context", "1k"], 1, "known models: deepseek-v3, llama-3.1-405b"),
    (["--model", "llama-3.1-70b", "--context", "0"], 2, "count must be a whole number >= 1"),
    (["--model", "llama-3.1-70b", "--context", "lots"], 2, "--context"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--tp", "3"], 1, "tp must divide the 64"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--prefill-at", "7"], 1, "prefill node 7"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--storage-at", "2"], 2, "--tier remote only"),
    (["--model", "llama-3.1-70b", "--context", "8k", "--tp", "8", "--tier", "hbm",
      "--tier-bandwidth", "5GB/s"], 2, "--tier-bandwidth applies to --tier dram, nvme or remote"),
    (["--model", "llama-3.1-70b", "--context", "1k", "--tier", "remote", "--storage-at", "9"], 1,
     "storage node 9"),
])
def test_errors_are_one_line(args, code, message):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1


def test_malformed_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"num_hidden_layers": 4, "hidden_size": 64')
    result = run("--model", str(path), "--context", "1k")
    assert result.exit_code == 1
    assert f"{path}: not valid JSON" in result.stderr
    path.write_text('{"num_hidden_layers": 4, "hidden_size": 64}')
    result = run("--model", str(path), "--context", "1k")
    assert result.exit_code == 1 and "field 'num_attention_heads' is missing" in result.stderr


def _documented_commands() -> list[str]:
    text = (ROOT / "docs" / "kv.md").read_text()
    return [line[2:] for line in text.splitlines() if line.startswith("$ fabric kv ")]


def _documented_ttft() -> dict[int, str]:
    """The scenario-A table of docs/kv.md: context tokens -> the ttft_recompute_s it states."""
    out = {}
    for line in (ROOT / "docs" / "kv.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].endswith(" tokens") and " s = " in cells[1]:
            out[int(cells[0].split()[0].replace(",", ""))] = cells[1].split()[0]
    return out


def test_docs_state_what_the_command_prints():
    # the figures docs/kv.md quotes for its scenario-A commands are what those commands print
    stated = _documented_ttft()
    assert sorted(stated) == [1_000_000, 10_000_000]
    for tokens, text in stated.items():
        data = run_json("--model", "llama-4-scout", "--context", str(tokens), "--gpu", "l40s",
                        "--tp", "4", "--mfu", "0.3")
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert f"{data['ttft_recompute_s']:,.{decimals}f}" == text, tokens
    big = run_json("--model", "llama-4-scout", "--context", "10000000", "--gpu", "l40s",
                   "--tp", "4", "--mfu", "0.3")
    text = (ROOT / "docs" / "kv.md").read_text()
    assert f"`kv_bytes` = {big['kv_bytes'] / 1e9:.1f} GB" in text
    assert f"({big['kv_bytes_per_gpu'] / 1e9:.0f} GB per GPU" in text
    assert big["fits_gpu_memory"] is False


@pytest.mark.parametrize("command", _documented_commands())
def test_documented_commands_run(command):
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


# --- QA of `fabric kv` ----------------------------------------------------------------------------
# PCIe Gen4 x16 = 32 GB/s per direction (PCI-SIG PCIe 4.0, https://pcisig.com/specifications;
# catalog links.pcie4x16); L40S is a Gen4 x16 card (catalog gpus.l40s.pcie).


def test_a_pcie4_gpu_loads_and_sends_over_its_own_link():
    data = run_json("--model", "llama-3.1-8b", "--context", "128k", "--gpu", "l40s")
    assert data["fetch_bandwidth_bytes_per_s"] == pytest.approx(32e9 * 54 / 63)  # was 54e9
    four = run_json("--model", "llama-3.1-8b", "--context", "128k", "--gpu", "l40s", "--tp", "4")
    assert four["transfer_bandwidth_bytes_per_s"] / 4 < 32e9  # was 40 GB/s per rank
    assert four["transfer_bottleneck"].endswith("pcie4x16 host link")
    h100 = run_json("--model", "llama-3.1-8b", "--context", "128k")
    assert h100["fetch_bandwidth_bytes_per_s"] == pytest.approx(54e9)


def test_page_tokens_round_the_tier_load_too():
    args = ("--model", "llama-3.1-70b", "--context", "300", "--tp", "8", "--tier", "nvme")
    one = run_json(*args, "--page-tokens", "1")
    paged = run_json(*args, "--page-tokens", "256")
    assert paged["kv_bytes"] == 512 * 327680
    assert paged["fetch_time_s"] > 1.5 * one["fetch_time_s"]
    assert paged["breakeven_bandwidth_bytes_per_s"] == pytest.approx(
        paged["kv_bytes_moved"] / paged["ttft_recompute_s"])


def test_prefill_chunk_is_capped_at_the_requests_tokens():
    default = run_json("--model", "llama-3.1-70b", "--tp", "8", "--context", "8k")
    huge = run_json("--model", "llama-3.1-70b", "--tp", "8", "--context", "8k",
                    "--prefill-chunk", "128k")
    assert huge["activations_bytes_per_gpu"] == default["activations_bytes_per_gpu"]
    assert huge["prefill_chunk_tokens"] == 8192
    short = run_json("--model", "llama-3.1-70b", "--tp", "8", "--context", "1000")
    assert short["prefill_chunk_tokens"] == 1000
    assert short["activations_bytes_per_gpu"] == pytest.approx(
        default["activations_bytes_per_gpu"] * 1000 / 8192)
    batch = run_json("--model", "llama-3.1-70b", "--tp", "8", "--context", "1000", "--batch", "4")
    assert batch["prefill_chunk_tokens"] == 4000


@pytest.mark.parametrize("family", ["rail-optimized", "rail-only", "clos", "fat-tree",
                                    "single-hop"])
def test_a_family_without_a_size_gets_the_default_size(family):
    result = run("--model", "llama-3.1-70b", "--context", "128k", "--tp", "8", "--topology",
                 family, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["results"]["topology"] == family
    assert doc["inputs"]["topology"] == family and "target" not in doc["inputs"]
    assert doc["results"]["prefill_gpus"][0] == "node0/gpu0"
    if family == "rail-optimized":  # the built-in default exactly
        assert doc["results"] == run_json("--model", "llama-3.1-70b", "--context", "128k",
                                          "--tp", "8")


def test_help_says_a_family_gets_the_default_size():
    text = " ".join(run("-h").stdout.split())
    assert "A family without --nodes, --gpus or --k gets the default's size" in text


# DeepSeek-V3's checkpoint is FP8: "quantization_config": {"quant_method": "fp8", "fmt": "e4m3"}
# (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json, 2024-12).
def test_deepseek_v3_counts_its_published_fp8_weights():
    args = ("--model", "deepseek-v3", "--context", "32k", "--tp", "8", "--gpu", "h200")
    data = run_json(*args)
    assert data["weight_dtype"] == "fp8" and "quant_method 'fp8'" in data["weight_dtype_source"]
    assert data["weights_bytes_per_gpu"] / 1e9 == pytest.approx(83.9, abs=0.1)  # 671e9 x 1 B / 8
    assert data["fits_gpu_memory"] is True
    bf16 = run_json(*args, "--weight-dtype", "bf16")
    assert bf16["weights_bytes_per_gpu"] == pytest.approx(2 * data["weights_bytes_per_gpu"])
    assert bf16["weight_dtype_source"] == "--weight-dtype"
    from_file = run_json("--model", str(HF / "deepseek-v3.json"), *args[2:])
    assert from_file["weights_bytes_per_gpu"] == data["weights_bytes_per_gpu"]
    assert "fp8 (quantization_config" in run(*args).stdout


def test_a_model_without_parameter_counts_gives_the_kv_cache_alone(tmp_path):
    import jsonschema

    path = tmp_path / "novocab.json"
    path.write_text('{"num_hidden_layers":32,"num_attention_heads":32,"hidden_size":4096,'
                    '"intermediate_size":11008}')
    result = run("--model", str(path), "--context", "4k")
    assert result.exit_code == 0, result.output
    assert "not computed" in result.stdout and "num_params_active" in result.stdout
    assert "fit unknown" in result.stdout and ": fits" not in result.stdout
    doc = json.loads(run("--model", str(path), "--context", "4k", "--json").stdout)
    schema = json.loads((ROOT / "docs" / "schemas" / "kv.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    data = doc["results"]
    assert data["kv_bytes"] == 4096 * 32 * 2 * 4096 * 2  # MHA: 2 x hidden x 2 B per layer
    assert data["weights_bytes_per_gpu"] is None and data["ttft_recompute_s"] is None
    assert data["fits_gpu_memory"] is False and "parameter count" in data["note"]


def test_an_active_count_gives_the_weights_and_unknowns_never_fit(tmp_path):
    dense = tmp_path / "dense.json"
    dense.write_text('{"num_hidden_layers":32,"num_attention_heads":32,"hidden_size":4096,'
                     '"intermediate_size":11008,"num_params_active":7e9}')
    data = run_json("--model", str(dense), "--context", "4k")
    assert data["weights_bytes_per_gpu"] == pytest.approx(14e9)  # 7e9 x 2 B (bf16)
    assert "weights 14.0 (bf16)" in run("--model", str(dense), "--context", "4k").stdout
    moe = tmp_path / "moe.json"
    moe.write_text('{"num_hidden_layers":32,"num_attention_heads":32,"hidden_size":4096,'
                   '"num_params_active":7e9,"num_local_experts":8,"num_experts_per_tok":2}')
    text = run("--model", str(moe), "--context", "4k").stdout
    assert "weights ?" in text and "fit unknown (weights unknown" in text
    assert ": fits" not in text
    assert run_json("--model", str(moe), "--context", "4k")["fits_gpu_memory"] is False


def test_at_huge_contexts_the_advice_says_why_nothing_fits():
    data = run_json("--model", "llama-3.1-70b", "--context", "1G")
    assert data["fits_gpu_memory"] is False
    [line] = data["memory_advice"]
    # 327,680 B/token x 2^30 tokens = 351,844 GB over 80 layers; pp 64 (the largest power of
    # two <= 80 layers) gives a stage 2 of the 80 layers: 8,796 GB (tp stops at 8 KV heads)
    assert line.startswith("nothing considered fits: the KV cache alone is 8,796 GB per GPU "
                           "even at pp 64"), line
    text = run("--model", "llama-3.1-70b", "--context", "1G").stdout
    assert "nothing considered fits" in text
    assert "break-even load rate          115.12 KB/s" in text  # was 0.00 GB/s
    assert data["breakeven_bandwidth_bytes_per_s"] == pytest.approx(115_123, rel=1e-4)


def test_a_tiny_share_on_the_gpu_is_printed_with_its_digits():
    data = run_json("--model", "llama-3.1-70b", "--context", "256M", "--tp", "8")
    tier = [a for a in data["memory_advice"] if "on a tier" in a]
    room = data["usable_memory_bytes"] - data["weights_bytes_per_gpu"] \
        - data["activations_bytes_per_gpu"]
    share = room / data["kv_bytes_per_gpu"]
    assert 0.001 < share < 0.01
    assert tier == [f"the KV cache on a tier, {share * 100:.2f}% of it on the GPU "
                    f"(--tier dram|nvme)"]


def test_a_catalog_file_that_changes_the_gpus_pcie_changes_the_tier_load(tmp_path):
    path = tmp_path / "gen4.toml"
    path.write_text('[gpus.h100]\npcie = "pcie4x16"\n')  # the H100 SXM on a Gen4 x16 link
    args = ("--model", "llama-3.1-8b", "--context", "128k", "--tp", "4")
    built_in = run_json(*args)
    ours = run_json(*args, "--catalog", str(path))
    assert built_in["fetch_bandwidth_bytes_per_s"] == pytest.approx(4 * 54e9)
    assert ours["fetch_bandwidth_bytes_per_s"] == pytest.approx(4 * 32e9 * 54 / 63)
    assert ours["fetch_time_s"] > built_in["fetch_time_s"]
    assert ours["transfer_bottleneck"].endswith("pcie4x16 host link")
