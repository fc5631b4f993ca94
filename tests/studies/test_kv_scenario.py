"""studies.kv.kv_scenario called as a library: it gives what ``fabric kv`` prints (the page
size in the tier load, the prefill chunk capped at context x batch, the model's published
weight dtype and where it came from, the default size of a family given without one, the
advice text, the KV-cache-only answer of a model without parameter counts, and the PCIe links
of the catalog it is given)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectives.kv import PCIE_COPY_SHARE
from collectives.llm import load_model, model_from_config
from fabric.catalog import load_catalog
from fabric.cli import cli
from studies.design import FabricDesign
from studies.kv import default_kv_design, kv_scenario, memory_advice, takes_default_size

# PCIe Gen4 x16 = 32 GB/s per direction (PCI-SIG PCIe 4.0, https://pcisig.com/specifications;
# catalog links.pcie4x16); the H100 SXM is a Gen5 x16 part (catalog gpus.h100.pcie).
GEN4 = 32e9
_BARE = {"num_hidden_layers": 32, "num_attention_heads": 32, "hidden_size": 4096,
         "intermediate_size": 11008}


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["kv", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def test_the_tier_load_counts_whole_pages() -> None:
    one = kv_scenario("llama-3.1-70b", 300, tp=8, tier_name="nvme")
    paged = kv_scenario("llama-3.1-70b", 300, tp=8, tier_name="nvme", page_tokens=256)
    assert paged.size.kv_bytes == 512 * 327680  # 300 tokens round up to 2 pages of 256
    assert paged.ttft is not None and one.ttft is not None
    assert paged.ttft.fetch_time_s > 1.5 * one.ttft.fetch_time_s
    assert paged.ttft.breakeven_bandwidth_bytes_per_s == pytest.approx(
        paged.size.kv_bytes_moved / paged.ttft.ttft_recompute_s)
    # what the command prints is the library's answer, key for key
    assert paged.as_dict() == cli_json("--model", "llama-3.1-70b", "--context", "300",
                                       "--tp", "8", "--tier", "nvme", "--page-tokens", "256")


def test_the_prefill_chunk_is_capped_at_context_times_batch() -> None:
    short = kv_scenario("llama-3.1-70b", 1000, tp=8, batch=4)
    assert short.chunk_tokens == 4000 and short.as_dict()["prefill_chunk_tokens"] == 4000
    default = kv_scenario("llama-3.1-70b", 8192, tp=8)
    huge = kv_scenario("llama-3.1-70b", 8192, tp=8, chunk_tokens=131072)
    assert huge.chunk_tokens == default.chunk_tokens == 8192
    assert huge.memory.activations_bytes == default.memory.activations_bytes


def test_the_weight_dtype_defaults_to_the_published_one_and_says_where_from() -> None:
    v3 = kv_scenario("deepseek-v3", 32768, tp=8, design=FabricDesign(family="rail-optimized",
                                                                     gpu="h200"))
    assert v3.weight_dtype == "fp8" and "quant_method 'fp8'" in v3.weight_dtype_source
    assert v3.memory.weights_bytes is not None
    assert v3.memory.weights_bytes / 1e9 == pytest.approx(83.9, abs=0.1)  # 671e9 x 1 B / 8
    bf16 = kv_scenario("deepseek-v3", 32768, tp=8, weight_dtype="bf16",
                       design=FabricDesign(family="rail-optimized", gpu="h200"))
    assert bf16.weight_dtype_source == "--weight-dtype"
    assert bf16.as_dict()["weight_dtype_source"] == "--weight-dtype"
    llama = kv_scenario("llama-3.1-8b", 4096)
    assert (llama.weight_dtype, llama.weight_dtype_source) == ("bf16", "torch_dtype")


@pytest.mark.parametrize("family, field", [("rail-optimized", "num_nodes"),
                                           ("rail-only", "num_nodes"), ("clos", "num_gpus"),
                                           ("fat-tree", "num_gpus"), ("single-hop", "num_gpus")])
def test_a_family_without_a_size_gets_the_default_size(family: str, field: str) -> None:
    design = FabricDesign(family=family)
    assert takes_default_size(design)
    sized = default_kv_design(8, design, load_catalog())
    assert sized.given()[field] == (4 if field == "num_nodes" else 32)  # 4 servers of 8 GPUs
    assert default_kv_design(24, FabricDesign(family=family, gpus_per_node=4),
                             load_catalog()).given()[field] == (12 if field == "num_nodes"
                                                                else 48)
    s = kv_scenario("llama-3.1-70b", 131072, tp=8, design=design)
    assert s.topology == family
    assert s.transfer is not None and s.transfer.prefill_gpus[0] == "node0/gpu0"


def test_a_sized_design_or_a_spec_file_keeps_its_size() -> None:
    fat = FabricDesign(family="fat-tree", k=8)
    assert not takes_default_size(fat) and default_kv_design(8, fat, load_catalog()) == fat
    spec = FabricDesign(spec_path="fabric.yaml")
    assert not takes_default_size(spec) and default_kv_design(8, spec, load_catalog()) == spec


def test_the_advice_text_comes_from_the_study() -> None:
    m, cat = load_model("llama-3.1-70b"), load_catalog()
    args = dict(batch=1, pp=1, dtype=None, page_tokens=1, weight_dtype="bf16",
                chunk_tokens=8192, gpu="h100", catalog=cat)
    [why] = memory_advice(m, 1 << 30, tp=1, **args)
    assert why.startswith("nothing considered fits: the KV cache alone is 8,796 GB per GPU "
                          "even at pp 64"), why
    tiny = [a for a in memory_advice(m, 1 << 28, tp=8, **args) if "on a tier" in a]
    assert len(tiny) == 1 and "0.00" not in tiny[0] and "% of it on the GPU" in tiny[0]
    percent = float(tiny[0].split(", ")[1].split("%")[0])
    assert 0.1 < percent < 1  # printed with its digits, not as 0%


def test_a_model_without_parameter_counts_gives_the_kv_cache_alone(tmp_path: Path) -> None:
    m = model_from_config(_BARE, key="novocab")
    s = kv_scenario(m, 4096)
    assert s.kv_only and s.transfer is None and s.ttft is None and s.topology is None
    assert s.size.kv_bytes == 4096 * 32 * 2 * 4096 * 2  # MHA: 2 x hidden x 2 B per layer
    assert s.memory.weights_bytes is None and not s.fits_gpu_memory and s.advice == ()
    assert s.gpu == "h100" and "parameter count" in s.not_computed
    data = s.as_dict()
    assert data["note"].startswith("KV cache only: ") and data["ttft_recompute_s"] is None
    path = tmp_path / "novocab.json"
    path.write_text(json.dumps(_BARE))
    assert kv_scenario(str(path), 4096).as_dict() == cli_json("--model", str(path),
                                                              "--context", "4k")
    with pytest.raises(ValueError, match="unknown gpu 'nosuch'"):
        kv_scenario(m, 4096, design=FabricDesign(family="rail-optimized", gpu="nosuch"))


def _gen4_h100(tmp_path: Path) -> Path:
    path = tmp_path / "gen4.toml"
    path.write_text('[gpus.h100]\npcie = "pcie4x16"\n')
    return path


def test_the_catalog_given_sets_the_gpus_pcie_link(tmp_path: Path) -> None:
    cat = load_catalog(_gen4_h100(tmp_path))
    assert cat.gpus["h100"].pcie == "pcie4x16"
    built_in = kv_scenario("llama-3.1-8b", 131072, tp=4)
    assert built_in.ttft is not None
    assert built_in.ttft.fetch_bandwidth_bytes_per_s == pytest.approx(4 * 54e9)
    for s in (kv_scenario("llama-3.1-8b", 131072, tp=4, catalog=cat),
              kv_scenario("llama-3.1-8b", 131072, tp=4,
                          design=FabricDesign(family="rail-optimized", catalog=cat))):
        assert s.ttft is not None and s.transfer is not None
        assert s.ttft.fetch_bandwidth_bytes_per_s == pytest.approx(4 * GEN4 * PCIE_COPY_SHARE)
        assert s.transfer.bottleneck.endswith("pcie4x16 host link")
        assert s.transfer.bandwidth_bytes_per_s / 4 < GEN4
