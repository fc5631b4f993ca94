"""``fabric kv``: KV-cache size, prefill->decode transfer on a fabric, and load versus recompute.

A thin command over :mod:`collectives.kv`; see ``docs/kv.md`` for worked examples.
"""

from __future__ import annotations

from typing import Any

import click

from fabric import units
from fabric.catalog import load_catalog
from fabric.cliutil import CountType, RateType, TimeType, emit_json, format_table, json_option
from fabric.cmd_topology import family_options, topology_from_options

__all__ = ["COMMANDS", "kv"]


def _fmt_count(value: float) -> str:
    return f"{value:.3g}"


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
@click.option("--page-tokens", default=1, show_default=True, type=click.IntRange(min=1),
              help="KV page (block) size; contexts round up to whole pages.")
@click.option("--topology", "target", metavar="FILE|FAMILY",
              help="Fabric spec file or family (default: rail-optimized, 4 nodes).")
@family_options
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
              help="Override the tier's shared rate (per node; per server for remote): 50GB/s.")
@click.option("--storage-at", metavar="NODE",
              help="remote tier: a node of the fabric standing in for the storage server.")
@click.option("--new-tokens", default=0, show_default=True, type=click.IntRange(min=0),
              help="Uncached tokens at the end of the context (the new turn).")
@click.option("--num-gpus", type=click.IntRange(min=1),
              help="GPUs computing the prefill (default: tp x pp).")
@click.option("--mfu", default=0.5, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Model FLOPs utilization of the prefill.")
@json_option
def kv(model_name: str, context_tokens: int, batch: int, tp: int, pp: int, dtype: str | None,
       page_tokens: int, target: str | None, prefill_at: str | None, decode_at: str | None,
       streaming: str, alpha_s: float, efficiency: float, tier_name: str,
       tier_bandwidth: float | None, storage_at: str | None, new_tokens: int,
       num_gpus: int | None, mfu: float, as_json: bool, **options: Any) -> None:
    """KV-cache size, its prefill->decode transfer over a fabric, and load versus recompute.

    \b
    Examples:
      fabric kv --model llama-3.1-70b --context 128k --tp 8
      fabric kv --model llama-4-scout --context 1000000 --gpu l40s --num-gpus 4 --mfu 0.3
      fabric kv --model config.json --context 32k --topology clos --gpus 128 --oversubscription 3
    """
    from collectives import kv as kvm
    from collectives.llm import load_model

    model = load_model(model_name)
    size = kvm.kv_size(model, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp,
                       page_tokens=page_tokens)
    instance = size.num_gpus
    if target is None:
        target = "rail-optimized"
        if options.get("nodes") is None and options.get("gpus") is None:
            per_node = options.get("gpus_per_node") or 8
            options["nodes"] = max(4, 2 * -(-instance // per_node))
        gpu_key = options.get("gpu")
        if gpu_key and options.get("scaleup") is None and not options.get("no_scaleup"):
            known = load_catalog(options.get("catalog")).gpus
            if gpu_key in known and not known[gpu_key].nvlink:
                options["no_scaleup"] = True  # PCIe cards (L40S): no NVLink domain
    G = topology_from_options(target, **options)
    placement = kvm.place(G, instance, prefill_at=prefill_at, decode_at=decode_at)
    gpu = options.get("gpu") or G.nodes[placement.prefill_gpus[0]].get("model", "h100")
    catalog = load_catalog(options.get("catalog"))
    compute = kvm.compute_for(gpu, num_gpus=num_gpus or instance, mfu=mfu, catalog=catalog)
    pd = kvm.pd_transfer(G, model, context_tokens, placement=placement, tp=tp, pp=pp,
                         batch=batch, dtype=dtype, compute=compute, streaming=streaming,
                         alpha_s=alpha_s, efficiency=efficiency, page_tokens=page_tokens)
    overrides: dict[str, Any] = {}
    if tier_bandwidth is not None:
        overrides["shared_bandwidth_bytes_per_s"] = tier_bandwidth
    where = kvm.tier(tier_name, **overrides)
    storage: tuple[str, ...] = ()
    if storage_at is not None:
        if tier_name != "remote":
            raise click.UsageError("--storage-at applies to --tier remote only")
        if not storage_at.strip().isdigit():
            raise click.BadParameter(f"must be a node index, got {storage_at!r}",
                                     param_hint="--storage-at")
        storage = tuple(g for g, d in G.nodes(data=True)
                        if d.get("kind") == "gpu" and d.get("node") == int(storage_at))
        if not storage:
            raise ValueError(f"storage node {storage_at} is not a node of the fabric")
        if set(storage) & set(placement.prefill_gpus):
            raise click.UsageError("--storage-at must be a node outside the prefill instance")
    per_node = max(1, sum(1 for _, d in G.nodes(data=True) if d.get("kind") == "gpu"
                          and d.get("node") == G.nodes[placement.prefill_gpus[0]].get("node")))
    t = kvm.ttft(model, context_tokens, compute=compute, where=where, new_tokens=new_tokens,
                 tp=tp, pp=pp, batch=batch, dtype=dtype, gpus_per_node=per_node, G=G,
                 gpus=placement.prefill_gpus, storage_gpus=storage, efficiency=efficiency)
    memory = catalog.gpus[gpu].memory_bytes
    data = {
        "model": model.key,
        "attention": model.attention_kind,
        "context_tokens": context_tokens,
        "batch": batch,
        "tp": tp,
        "pp": pp,
        "dtype": size.dtype,
        "kv_bytes_per_token": size.kv_bytes_per_token,
        "kv_bytes": size.kv_bytes,
        "kv_bytes_moved": size.kv_bytes_moved,
        "kv_bytes_per_gpu": size.kv_bytes_per_gpu,
        "replication_factor": size.replication_factor,
        "fits_gpu_memory": size.kv_bytes_per_gpu <= memory,
        "gpu": gpu,
        "gpu_memory_bytes": memory,
        "topology": G.graph.get("topology", ""),
        "prefill_gpus": list(pd.prefill_gpus),
        "decode_gpus": list(pd.decode_gpus),
        "streaming": streaming,
        "transfer_time_s": pd.transfer_time_s,
        "transfer_exposed_s": pd.exposed_time_s,
        "transfer_bandwidth_bytes_per_s": pd.bandwidth_bytes_per_s,
        "transfer_alpha_s": pd.alpha_s,
        "transfer_efficiency": pd.efficiency,
        "transfer_latency_s": pd.latency_s,
        "transfer_bottleneck": pd.bottleneck,
        "transfer_bottleneck_utilization": pd.bottleneck_utilization,
        "prefill_flops_per_s": compute.flops_per_s,
        "prefill_num_gpus": compute.num_gpus,
        "mfu": mfu,
        "ttft_recompute_s": t.ttft_recompute_s,
        "ttft_pd_s": pd.ttft_s,
        "tier": where.name,
        "tier_source": where.source,
        "cached_tokens": t.cached_tokens,
        "fetch_time_s": t.fetch_time_s,
        "fetch_exposed_s": t.fetch_exposed_s,
        "fetch_bandwidth_bytes_per_s": t.fetch_bandwidth_bytes_per_s,
        "ttft_cached_s": t.ttft_cached_s,
        "load_beats_recompute": t.load_beats_recompute,
        "breakeven_bandwidth_bytes_per_s": t.breakeven_bandwidth_bytes_per_s,
    }
    if as_json:
        emit_json(data)
        return
    rows = [
        ["model", f"{model.name} ({model.attention_kind}, {model.num_layers} layers)"],
        ["context x batch", f"{context_tokens} x {batch} tokens, {size.dtype}"],
        ["KV per token", f"{size.kv_bytes_per_token:,} B"],
        ["KV (logical)", f"{size.kv_bytes / 1e9:.3f} GB"],
        ["KV moved (TP/PP copies)",
         f"{size.kv_bytes_moved / 1e9:.3f} GB (x{size.replication_factor:.2f})"],
        ["KV per GPU", f"{size.kv_bytes_per_gpu / 1e9:.3f} GB of {memory / 1e9:.0f} GB "
                       f"({'fits' if data['fits_gpu_memory'] else 'does NOT fit'})"],
        ["placement", f"{pd.prefill_gpus[0]}.. -> {pd.decode_gpus[0]}.. on {data['topology']} "
                      f"(tp {tp}, pp {pp})"],
        ["PD transfer", f"{units.format_time(pd.transfer_time_s)} at "
                        f"{units.format_rate(pd.bandwidth_bytes_per_s)} "
                        f"(bottleneck {pd.bottleneck})"],
        [f"PD exposed ({streaming} streaming)", units.format_time(pd.exposed_time_s)],
        ["prefill (recompute) TTFT", f"{units.format_time(t.ttft_recompute_s)} at "
                                     f"{_fmt_count(compute.flops_per_s)} FLOP/s"],
        ["PD TTFT (prefill + exposed)", units.format_time(pd.ttft_s)],
        [f"load from {where.name}", f"{units.format_time(t.fetch_time_s)} "
                                    f"({units.format_time(t.fetch_exposed_s)} exposed)"],
        ["TTFT with cache", units.format_time(t.ttft_cached_s)],
        ["break-even load rate", units.format_rate(t.breakeven_bandwidth_bytes_per_s)],
    ]
    click.echo(format_table(["quantity", "value"], rows, align="ll"))


COMMANDS = [kv]
