"""``fabric kv``: KV-cache size, prefill->decode transfer on a fabric, and load versus recompute.

A thin command over :func:`studies.kv.kv_scenario`; see ``docs/kv.md`` for worked examples.
"""

from __future__ import annotations

from typing import Any

import click

from collectives.memory import WEIGHT_DTYPE_BYTES, GpuMemory
from fabric import units
from fabric.cli.common import (
    CountType,
    RateType,
    TimeType,
    emit_result,
    format_table,
    hidden_alias,
    json_option,
)
from fabric.cli.options import design_from_options, fabric_options
from studies.kv import KvScenario, kv_scenario, takes_default_size

__all__ = ["kv"]


def _fmt_count(value: float) -> str:
    return f"{value:.3g}"


def _memory_line(m: GpuMemory, capacity_bytes: float, weight_dtype: str) -> str:
    """``weights 101.5 + KV 8.5 + activations 1.4 = 111.4 GB of 72 GB usable: does NOT fit``;
    a part not known is ``?`` and the verdict never says "fits" while one is."""
    def gb(value: float | None) -> str:
        return "?" if value is None else f"{value / 1e9:.1f}"

    unknown = " and ".join(m.unknown_parts)
    if m.fits:
        verdict = "fits"
    elif m.fits_known_parts:
        verdict = f"fit unknown ({unknown} unknown: the model's parameter counts are incomplete)"
    else:
        verdict = "does NOT fit" + (f" (even without the unknown {unknown})" if unknown else "")
    return (f"weights {gb(m.weights_bytes)} ({weight_dtype}) + KV {gb(m.kv_bytes)} + "
            f"activations {gb(m.activations_bytes)} = {m.total_bytes / 1e9:.1f} GB of "
            f"{m.usable_bytes / 1e9:.0f} GB usable ({capacity_bytes / 1e9:.0f} GB x "
            f"{m.usable_fraction:.0%}): {verdict}")


def _rows(s: KvScenario) -> list[list[str]]:
    """The table of a scenario: the cache and the memory it takes; then the transfer and the
    load versus recompute, or, for a model without parameter counts, what was not computed."""
    model, size = s.model, s.size
    rows = [
        ["model", f"{model.name} ({model.attention_kind}, {model.num_layers} layers)"],
        ["context x batch", f"{s.context_tokens} x {s.batch} tokens, {size.dtype}"],
        ["KV per token", f"{size.kv_bytes_per_token:,} B"],
        ["KV (logical)", f"{size.kv_bytes / 1e9:.3f} GB"],
        ["KV moved (TP/PP copies)",
         f"{size.kv_bytes_moved / 1e9:.3f} GB (x{size.replication_factor:.2f})"],
        ["KV per GPU", f"{size.kv_bytes_per_gpu / 1e9:.3f} GB"],
    ]
    pd, t, compute, where = s.transfer, s.ttft, s.compute, s.tier
    if pd is None or t is None or compute is None or where is None:
        return [*rows, ["memory per GPU", _memory_line(s.memory, s.gpu_memory_bytes,
                                                       s.weight_dtype)],
                ["not computed", s.not_computed]]
    return [
        *rows,
        *([["weight dtype", f"{s.weight_dtype} ({s.weight_dtype_source})"]]
          if s.weight_dtype_source != "torch_dtype" else []),
        ["memory per GPU", _memory_line(s.memory, s.gpu_memory_bytes, s.weight_dtype)],
        *([["would fit with", "; ".join(s.advice)]] if s.advice else []),
        ["placement", f"{pd.prefill_gpus[0]}.. -> {pd.decode_gpus[0]}.. on {s.topology} "
                      f"(tp {s.tp}, pp {s.pp})"],
        ["PD transfer", f"{units.format_time(pd.transfer_time_s)} at "
                        f"{units.format_rate(pd.bandwidth_bytes_per_s)} "
                        f"(bottleneck {pd.bottleneck})"],
        [f"PD exposed ({s.streaming} streaming)", units.format_time(pd.exposed_time_s)],
        ["prefill (recompute) TTFT", f"{units.format_time(t.ttft_recompute_s)} at "
                                     f"{_fmt_count(compute.flops_per_s)} FLOP/s"],
        ["PD TTFT (prefill + exposed)", units.format_time(pd.ttft_s)],
        [f"load from {where.name}", f"{units.format_time(t.fetch_time_s)} "
                                    f"({units.format_time(t.fetch_exposed_s)} exposed)"],
        ["TTFT with cache", units.format_time(t.ttft_cached_s)],
        ["break-even load rate", units.format_rate(t.breakeven_bandwidth_bytes_per_s)],
    ]


@click.command("kv", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_name", required=True, metavar="NAME|FILE",
              help="Built-in model (llama-3.1-70b, deepseek-v3, ...) or a HF config.json / YAML.")
@click.option("--context", "context_tokens", required=True, type=CountType(),
              help="Context tokens per request: 131072, 128k, 1M (k = 1024).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1),
              help="Requests.")
@click.option("--tp", default=1, show_default=True, type=click.IntRange(min=1),
              help="Tensor-parallel degree of each instance.")
@click.option("--pp", default=1, show_default=True, type=click.IntRange(min=1),
              help="Pipeline-parallel degree of each instance.")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp8", "int8", "fp32"]),
              help="KV-cache dtype (default: the model's).")
@click.option("--weight-dtype", type=click.Choice(list(WEIGHT_DTYPE_BYTES)),
              help="Weights' dtype, for what fits on a GPU (default: the model's).")
@click.option("--prefill-chunk", "chunk_tokens", default="8k", show_default=True,
              type=CountType(), help="Tokens of one prefill forward pass (chunked prefill; the "
              "context for none), for the activations that must fit; at most context x batch.")
@click.option("--page-tokens", default=1, show_default=True, type=click.IntRange(min=1),
              help="KV page (block) size; contexts round up to whole pages.")
@click.option("--topology", "topology", metavar="FILE|FAMILY",
              help="Fabric spec file or family (default: rail-optimized, 4 nodes). A family "
              "without --nodes, --gpus or --k gets the default's size: room for both instances, "
              "at least 4 nodes of 8 GPUs.")
@fabric_options()
@click.option("--prefill-at", metavar="NODE|GPU,...",
              help="Prefill instance: a node index or GPU ids (default: node 0).")
@click.option("--decode-at", metavar="NODE|GPU,...",
              help="Decode instance: a node index or GPU ids (default: the last node).")
@click.option("--streaming", default="layer", show_default=True,
              type=click.Choice(["layer", "request"]),
              help="Send each layer's KV as it is produced, or the whole cache after prefill.")
@click.option("--alpha", "alpha_s", default="0.6ms", show_default=True, type=TimeType(),
              help="Fixed cost per transfer (Mooncake PD fit).")
@click.option("--efficiency", default=0.8, show_default=True,
              type=click.FloatRange(0, 1, min_open=True),
              help="Achieved fraction of the fabric's fair-share rate.")
@click.option("--tier", "tier_name", default="dram", show_default=True,
              type=click.Choice(["hbm", "dram", "nvme", "remote"]),
              help="Where the persisted cache is loaded from.")
@click.option("--tier-bandwidth", type=RateType(),
              help="Override the tier's shared rate (per node; per server for remote): 50GB/s. "
              "Not with --tier hbm (nothing is loaded).")
@click.option("--storage-at", metavar="NODE",
              help="remote tier: a node of the fabric standing in for the storage server.")
@click.option("--new-tokens", default=0, show_default=True, type=click.IntRange(min=0),
              help="Uncached tokens at the end of the context (the new turn).")
@click.option("--prefill-gpus", type=click.IntRange(min=1),
              help="GPUs computing the prefill (default: tp x pp; --gpus sizes the fabric).")
@hidden_alias("prefill_gpus", "--num-gpus", type=click.IntRange(min=1))
@click.option("--mfu", default=0.5, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Model FLOPs utilization of the prefill.")
@json_option
def kv(model_name: str, context_tokens: int, batch: int, tp: int, pp: int, dtype: str | None,
       weight_dtype: str | None, chunk_tokens: int, page_tokens: int, topology: str | None,
       prefill_at: str | None, decode_at: str | None,
       streaming: str, alpha_s: float, efficiency: float, tier_name: str,
       tier_bandwidth: float | None, storage_at: str | None, new_tokens: int,
       prefill_gpus: int | None, mfu: float, as_json: bool, **options: Any) -> None:
    """KV-cache size, its prefill->decode transfer over a fabric, and load versus recompute.

    \b
    Examples:
      fabric kv --model llama-3.1-70b --context 128k --tp 8
      fabric kv --model llama-4-scout --context 1000000 --gpu l40s --prefill-gpus 4 --mfu 0.3
      fabric kv --model config.json --context 32k --topology clos --gpus 128 --oversubscription 3
    """
    if storage_at is not None and not storage_at.strip().isdigit():
        raise click.BadParameter(f"must be a node index, got {storage_at!r}",
                                 param_hint="--storage-at")
    if storage_at is not None and tier_name != "remote":
        raise click.UsageError("--storage-at applies to --tier remote only")
    if tier_bandwidth is not None and tier_name == "hbm":
        raise click.UsageError("--tier-bandwidth applies to --tier dram, nvme or remote only "
                               "(hbm is resident: nothing is loaded)")
    design = design_from_options(topology or "rail-optimized", options)
    s = kv_scenario(model_name, context_tokens, design=design,
                    default_fabric=topology is None or takes_default_size(design),
                    batch=batch, tp=tp, pp=pp, dtype=dtype, page_tokens=page_tokens,
                    prefill_at=prefill_at, decode_at=decode_at, streaming=streaming,
                    alpha_s=alpha_s, efficiency=efficiency, tier_name=tier_name,
                    tier_bandwidth_bytes_per_s=tier_bandwidth,
                    storage_node=None if storage_at is None else int(storage_at),
                    new_tokens=new_tokens, num_gpus=prefill_gpus, mfu=mfu,
                    weight_dtype=weight_dtype, chunk_tokens=chunk_tokens)
    if as_json:
        emit_result("kv", None, s.as_dict())
        return
    click.echo(format_table(["quantity", "value"], _rows(s), align="ll"))
