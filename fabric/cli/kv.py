"""``fabric kv``: KV-cache size, prefill->decode transfer on a fabric, and load versus recompute.

A thin command over :func:`studies.kv.kv_scenario`; see ``docs/kv.md`` for worked examples.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import click

from collectives import kv as kvm
from collectives.llm import ModelSpec, load_model
from collectives.memory import (
    USABLE_FRACTION,
    WEIGHT_DTYPE_BYTES,
    GpuMemory,
    gpu_memory,
    prefill_pass_tokens,
)
from collectives.prefill import kv_size
from fabric import units
from fabric.catalog import Catalog, default_catalog
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
from studies.design import FabricDesign, build_fabric
from studies.kv import KvScenario, default_kv_design, kv_scenario

__all__ = ["kv"]

#: Families whose size is a node count; the others are sized here by GPUs (``--gpus``).
_NODE_SIZED = ("rail-optimized", "rail-only")
_NO_PARAMS = ("weights, activations, prefill (TTFT), the PD transfer and tier loads need the "
              "model's parameter count: give intermediate_size and vocab_size, or "
              "num_params_active")


def _fmt_count(value: float) -> str:
    return f"{value:.3g}"


def _fmt_rate(bytes_per_s: float) -> str:
    """A rate in the largest of GB/s, MB/s, KB/s that keeps it above 1 (B/s below 1 KB/s)."""
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("KB/s", 1e3)):
        if not math.isfinite(bytes_per_s) or bytes_per_s >= scale:
            return f"{bytes_per_s / scale:.2f} {unit}"
    return f"{bytes_per_s:.0f} B/s"


def _fmt_share(share: float) -> str:
    """A share as a percentage with the digits that show it: 37%, 0.49%, 0.0017%."""
    percent = share * 100
    if percent >= 1 or percent <= 0:
        return f"{percent:.0f}%"
    return f"{percent:.{1 - math.floor(math.log10(percent))}f}%"


def _catalog(design: FabricDesign) -> Catalog:
    return design.catalog if isinstance(design.catalog, Catalog) else default_catalog()


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


def _why_nothing_fits(s: KvScenario, *, dtype: str | None, page_tokens: int,
                      catalog: Catalog) -> str:
    """Why no advice fits: the KV cache per GPU at the best TP or PP that studies.kv's
    memory_advice tries (each alone, up to x128), against the largest catalog GPU."""
    m, best, tried = s.model, None, {"tp": s.tp, "pp": s.pp}
    for name, base in (("tp", s.tp), ("pp", s.pp)):
        for k in range(8):
            degree = base * 2**k
            if name == "pp" and degree > m.num_layers:
                break
            change = {"tp": s.tp, "pp": s.pp, name: degree}
            try:
                size = kv_size(m, s.context_tokens, batch=s.batch, dtype=dtype,
                               page_tokens=page_tokens, **change)
            except ValueError:  # a TP that does not divide the heads
                continue
            tried[name] = degree
            if best is None or size.kv_bytes_per_gpu < best[0]:
                best = (size.kv_bytes_per_gpu, f"{name} {degree}")
    gpus = [(g.memory_bytes, key) for key, g in catalog.gpus.items() if g.status != "announced"]
    memory, largest = max(gpus) if gpus else (s.gpu_memory_bytes, s.gpu)
    usable = memory * USABLE_FRACTION
    ranges = f"tp up to {tried['tp']} and pp up to {tried['pp']} tried"
    if best is not None and best[0] > usable:
        return (f"nothing considered fits: the KV cache alone is {best[0] / 1e9:,.0f} GB per "
                f"GPU even at {best[1]} ({ranges}), over the {usable / 1e9:.0f} GB usable of "
                f"the largest catalog GPU ({largest}); shorten the context, or keep the KV "
                f"cache on a tier (--tier dram|nvme) with enough TP or PP for the weights")
    return (f"nothing considered fits: no single change of TP or PP ({ranges}), GPU or "
            f"weight dtype is enough; combine them")


def _advice(s: KvScenario, *, dtype: str | None, page_tokens: int,
            catalog: Catalog) -> tuple[str, ...]:
    """studies.kv's advice, its tier share printed with the digits that show it (0.49%, not
    0%), and one line saying why when nothing considered fits."""
    out = []
    room, kv_bytes = s.memory.kv_room_bytes, s.memory.kv_bytes
    for line in s.advice:
        if line.startswith("the KV cache on a tier") and room > 0 and kv_bytes > 0:
            line = (f"the KV cache on a tier, {_fmt_share(room / kv_bytes)} of it on the GPU "
                    f"(--tier dram|nvme)")
        out.append(line)
    if not out and not s.memory.fits and s.memory.complete:
        out.append(_why_nothing_fits(s, dtype=dtype, page_tokens=page_tokens, catalog=catalog))
    return tuple(out)


def _paged_ttft(s: KvScenario, design: FabricDesign, default_fabric: bool, *,
                dtype: str | None, page_tokens: int, new_tokens: int, efficiency: float,
                storage_at: str | None) -> KvScenario:
    """The scenario with its tier load counted in whole pages, as its size and PD transfer are.

    studies.kv.kv_scenario calls collectives.kv.ttft without the page size; this redoes that
    call on the same fabric (the same design, so the same graph) with it.
    """
    cat = _catalog(design)
    built = default_kv_design(s.size.num_gpus, design, cat) if default_fabric else design
    G = build_fabric(built.replace(catalog=cat))
    gpus = [(n, d) for n, d in G.nodes(data=True) if d.get("kind") == "gpu"]
    storage = () if storage_at is None else tuple(
        n for n, d in gpus if d.get("node") == int(storage_at))
    first = G.nodes[s.transfer.prefill_gpus[0]].get("node")
    per_node = max(1, sum(1 for _, d in gpus if d.get("node") == first))
    t = kvm.ttft(s.model, s.context_tokens, compute=s.compute, where=s.tier,
                 new_tokens=new_tokens, tp=s.tp, pp=s.pp, batch=s.batch, dtype=dtype,
                 gpus_per_node=per_node, G=G, gpus=s.transfer.prefill_gpus,
                 storage_gpus=storage, efficiency=efficiency, page_tokens=page_tokens)
    return replace(s, ttft=t)


def _kv_only(m: ModelSpec, context_tokens: int, *, batch: int, tp: int, pp: int,
             dtype: str | None, page_tokens: int, weight_dtype: str, chunk_tokens: int,
             design: FabricDesign, as_json: bool) -> None:
    """What a model without parameter counts allows: the KV cache and whether it alone fits."""
    cat = _catalog(design)
    gpu = design.gpu or "h100"  # the default fabric's GPU
    if gpu not in cat.gpus:
        raise ValueError(f"unknown gpu {gpu!r}; known GPUs: {', '.join(sorted(cat.gpus))}")
    size = kv_size(m, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp,
                   page_tokens=page_tokens)
    capacity = cat.gpus[gpu].memory_bytes
    mem = gpu_memory(m, size.kv_bytes_per_gpu, capacity_bytes=capacity, tp=tp, pp=pp,
                     weight_dtype=weight_dtype, chunk_tokens=chunk_tokens)
    note = f"KV cache only: {_NO_PARAMS}"
    if as_json:
        emit_result("kv", None, {
            "model": m.key, "attention": m.attention_kind, "context_tokens": context_tokens,
            "batch": batch, "tp": tp, "pp": pp, "dtype": size.dtype,
            "kv_bytes_per_token": size.kv_bytes_per_token, "kv_bytes": size.kv_bytes,
            "kv_bytes_moved": size.kv_bytes_moved, "kv_bytes_per_gpu": size.kv_bytes_per_gpu,
            "replication_factor": size.replication_factor, "weight_dtype": weight_dtype,
            "prefill_chunk_tokens": chunk_tokens, "weights_bytes_per_gpu": None,
            "activations_bytes_per_gpu": None, "memory_bytes_per_gpu": mem.total_bytes,
            "usable_memory_bytes": mem.usable_bytes, "fits_gpu_memory": mem.fits,
            "memory_advice": [], "gpu": gpu, "gpu_memory_bytes": capacity, "topology": None,
            "transfer_time_s": None, "ttft_recompute_s": None, "ttft_cached_s": None,
            "breakeven_bandwidth_bytes_per_s": None, "note": note,
        })
        return
    rows = [
        ["model", f"{m.name} ({m.attention_kind}, {m.num_layers} layers)"],
        ["context x batch", f"{context_tokens} x {batch} tokens, {size.dtype}"],
        ["KV per token", f"{size.kv_bytes_per_token:,} B"],
        ["KV (logical)", f"{size.kv_bytes / 1e9:.3f} GB"],
        ["KV moved (TP/PP copies)",
         f"{size.kv_bytes_moved / 1e9:.3f} GB (x{size.replication_factor:.2f})"],
        ["KV per GPU", f"{size.kv_bytes_per_gpu / 1e9:.3f} GB"],
        ["memory per GPU", _memory_line(mem, capacity, weight_dtype)],
        ["not computed", _NO_PARAMS],
    ]
    click.echo(format_table(["quantity", "value"], rows, align="ll"))


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
    import topologies  # the families (here, not at import: fabric's CLI loads fast)

    unsized = design.num_nodes is None and design.num_gpus is None and design.k is None
    default_fabric = topology is None or (unsized and design.family in topologies.FAMILIES)
    if default_fabric and design.family not in _NODE_SIZED:
        # studies.kv.default_kv_design sizes by nodes; size the other families by GPUs alike
        per_node = design.gpus_per_node or 8
        design = design.replace(num_gpus=per_node * max(4, 2 * -(-(tp * pp) // per_node)))
    m = load_model(model_name)
    wdtype = weight_dtype or m.default_weight_dtype
    chunk = prefill_pass_tokens(chunk_tokens, context_tokens * batch)
    if m.num_params_active_nonembedding is None:
        _kv_only(m, context_tokens, batch=batch, tp=tp, pp=pp, dtype=dtype,
                 page_tokens=page_tokens, weight_dtype=wdtype, chunk_tokens=chunk,
                 design=design, as_json=as_json)
        return
    s = kv_scenario(m, context_tokens, design=design, default_fabric=default_fabric,
                    batch=batch, tp=tp, pp=pp, dtype=dtype, page_tokens=page_tokens,
                    prefill_at=prefill_at, decode_at=decode_at, streaming=streaming,
                    alpha_s=alpha_s, efficiency=efficiency, tier_name=tier_name,
                    tier_bandwidth_bytes_per_s=tier_bandwidth,
                    storage_node=None if storage_at is None else int(storage_at),
                    new_tokens=new_tokens, num_gpus=prefill_gpus, mfu=mfu,
                    weight_dtype=wdtype, chunk_tokens=chunk)
    if page_tokens > 1:
        s = _paged_ttft(s, design, default_fabric, dtype=dtype, page_tokens=page_tokens,
                        new_tokens=new_tokens, efficiency=efficiency, storage_at=storage_at)
    s = replace(s, advice=_advice(s, dtype=dtype, page_tokens=page_tokens,
                                  catalog=_catalog(design)))
    source = "--weight-dtype" if weight_dtype is not None else (m.weight_dtype_note
                                                                 or "torch_dtype")
    data = {**s.as_dict(), "weight_dtype_source": source}
    size, pd, t, compute, model, where = s.size, s.transfer, s.ttft, s.compute, s.model, s.tier
    memory = s.gpu_memory_bytes
    if as_json:
        emit_result("kv", None, data)
        return
    rows = [
        ["model", f"{model.name} ({model.attention_kind}, {model.num_layers} layers)"],
        ["context x batch", f"{context_tokens} x {batch} tokens, {size.dtype}"],
        ["KV per token", f"{size.kv_bytes_per_token:,} B"],
        ["KV (logical)", f"{size.kv_bytes / 1e9:.3f} GB"],
        ["KV moved (TP/PP copies)",
         f"{size.kv_bytes_moved / 1e9:.3f} GB (x{size.replication_factor:.2f})"],
        ["KV per GPU", f"{size.kv_bytes_per_gpu / 1e9:.3f} GB"],
        *([["weight dtype", f"{s.weight_dtype} ({data['weight_dtype_source']})"]]
          if m.weight_dtype_note or weight_dtype is not None else []),
        ["memory per GPU", _memory_line(s.memory, memory, s.weight_dtype)],
        *([["would fit with", "; ".join(s.advice)]] if s.advice else []),
        ["placement", f"{pd.prefill_gpus[0]}.. -> {pd.decode_gpus[0]}.. on {data['topology']} "
                      f"(tp {tp}, pp {pp})"],
        ["PD transfer", f"{units.format_time(pd.transfer_time_s)} at "
                        f"{_fmt_rate(pd.bandwidth_bytes_per_s)} "
                        f"(bottleneck {pd.bottleneck})"],
        [f"PD exposed ({streaming} streaming)", units.format_time(pd.exposed_time_s)],
        ["prefill (recompute) TTFT", f"{units.format_time(t.ttft_recompute_s)} at "
                                     f"{_fmt_count(compute.flops_per_s)} FLOP/s"],
        ["PD TTFT (prefill + exposed)", units.format_time(pd.ttft_s)],
        [f"load from {where.name}", f"{units.format_time(t.fetch_time_s)} "
                                    f"({units.format_time(t.fetch_exposed_s)} exposed)"],
        ["TTFT with cache", units.format_time(t.ttft_cached_s)],
        ["break-even load rate", _fmt_rate(t.breakeven_bandwidth_bytes_per_s)],
    ]
    click.echo(format_table(["quantity", "value"], rows, align="ll"))
