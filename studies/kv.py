"""KV-cache scenarios: a model's cache, its prefill->decode transfer on a fabric, load vs recompute.

:func:`kv_scenario` is what ``fabric kv`` answers: it sizes the cache, picks a default fabric
that holds two instances when none is given, places the prefill and decode instances, moves the
cache between them over the fabric, and weighs loading a persisted cache from a tier against
recomputing it. The physics is in :mod:`collectives.kv` and :mod:`collectives.prefill`.

>>> s = kv_scenario("llama-3.1-70b", 131072, tp=8)
>>> s.size.kv_bytes_per_token, s.topology
(327680, 'rail-optimized')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import topologies
from collectives import kv as kvm
from collectives.llm import ModelSpec, load_model
from collectives.memory import (
    DEFAULT_PREFILL_CHUNK_TOKENS,
    USABLE_FRACTION,
    GpuMemory,
    gpu_memory,
    prefill_pass_tokens,
)
from collectives.prefill import Compute, KVSize, compute_for, kv_size
from fabric.catalog import Catalog, load_catalog
from studies.design import FabricDesign, build_fabric

__all__ = ["NO_PARAMS", "KvScenario", "default_kv_design", "kv_scenario", "memory_advice",
           "takes_default_size"]

#: What a model without parameter counts leaves out, and what would give it.
NO_PARAMS = ("weights, activations, prefill (TTFT), the PD transfer and tier loads need the "
             "model's parameter count: give intermediate_size and vocab_size, or "
             "num_params_active")


@dataclass(frozen=True, slots=True, kw_only=True)
class KvScenario:
    """The answers of one KV scenario (see :func:`kv_scenario`).

    For a model without parameter counts only the cache and the memory it takes are known:
    ``topology``, ``compute``, ``transfer``, ``tier`` and ``ttft`` are None (no fabric is
    built) and ``not_computed`` says what is missing (:attr:`kv_only`).
    """

    model: ModelSpec
    context_tokens: int
    batch: int
    tp: int
    pp: int
    mfu: float
    streaming: str
    size: KVSize
    gpu: str
    gpu_memory_bytes: float
    topology: str | None
    compute: Compute | None
    transfer: kvm.PDTransfer | None
    tier: kvm.Tier | None
    ttft: kvm.TTFT | None
    memory: GpuMemory
    weight_dtype: str
    #: Where ``weight_dtype`` comes from: ``--weight-dtype`` (given), ``torch_dtype``, or what
    #: was read of the model's ``quantization_config``.
    weight_dtype_source: str
    chunk_tokens: int
    advice: tuple[str, ...] = ()
    not_computed: str = ""

    @property
    def fits_gpu_memory(self) -> bool:
        """Whether one GPU's weights, KV cache and activations fit its usable memory."""
        return self.memory.fits

    @property
    def kv_only(self) -> bool:
        """Whether only the KV cache is known (a model without parameter counts)."""
        return self.transfer is None

    def as_dict(self) -> dict[str, Any]:
        """Flat JSON data with unit-suffixed keys (what ``fabric kv --json`` prints)."""
        size = self.size
        head = {
            "model": self.model.key, "attention": self.model.attention_kind,
            "context_tokens": self.context_tokens, "batch": self.batch, "tp": self.tp,
            "pp": self.pp, "dtype": size.dtype, "kv_bytes_per_token": size.kv_bytes_per_token,
            "kv_bytes": size.kv_bytes, "kv_bytes_moved": size.kv_bytes_moved,
            "kv_bytes_per_gpu": size.kv_bytes_per_gpu,
            "replication_factor": size.replication_factor,
            "weight_dtype": self.weight_dtype, "prefill_chunk_tokens": self.chunk_tokens,
            "weights_bytes_per_gpu": self.memory.weights_bytes,
            "activations_bytes_per_gpu": self.memory.activations_bytes,
            "memory_bytes_per_gpu": self.memory.total_bytes,
            "usable_memory_bytes": self.memory.usable_bytes,
            "fits_gpu_memory": self.fits_gpu_memory, "memory_advice": list(self.advice),
            "gpu": self.gpu, "gpu_memory_bytes": self.gpu_memory_bytes,
            "topology": self.topology,
        }
        pd, t, compute, where = self.transfer, self.ttft, self.compute, self.tier
        if pd is None or t is None or compute is None or where is None:
            return {**head, "transfer_time_s": None, "ttft_recompute_s": None,
                    "ttft_cached_s": None, "breakeven_bandwidth_bytes_per_s": None,
                    "note": f"KV cache only: {self.not_computed}"}
        return {
            **head,
            "prefill_gpus": list(pd.prefill_gpus), "decode_gpus": list(pd.decode_gpus),
            "streaming": self.streaming, "transfer_time_s": pd.transfer_time_s,
            "transfer_exposed_s": pd.exposed_time_s,
            "transfer_bandwidth_bytes_per_s": pd.bandwidth_bytes_per_s,
            "transfer_alpha_s": pd.alpha_s, "transfer_efficiency": pd.efficiency,
            "transfer_latency_s": pd.latency_s, "transfer_bottleneck": pd.bottleneck,
            "transfer_bottleneck_utilization": pd.bottleneck_utilization,
            "prefill_flops_per_s": compute.flops_per_s, "prefill_num_gpus": compute.num_gpus,
            "mfu": self.mfu, "ttft_recompute_s": t.ttft_recompute_s, "ttft_pd_s": pd.ttft_s,
            "tier": where.name, "tier_source": where.source,
            "cached_tokens": t.cached_tokens, "fetch_time_s": t.fetch_time_s,
            "fetch_exposed_s": t.fetch_exposed_s,
            "fetch_bandwidth_bytes_per_s": t.fetch_bandwidth_bytes_per_s,
            "ttft_cached_s": t.ttft_cached_s, "load_beats_recompute": t.load_beats_recompute,
            "breakeven_bandwidth_bytes_per_s": t.breakeven_bandwidth_bytes_per_s,
            "weight_dtype_source": self.weight_dtype_source,
        }


def _memory_at(model: ModelSpec, context_tokens: int, *, batch: int, tp: int, pp: int,
               dtype: str | None, page_tokens: int, weight_dtype: str, chunk_tokens: int,
               capacity_bytes: float) -> GpuMemory:
    kv = kv_size(model, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp,
                 page_tokens=page_tokens)
    return gpu_memory(model, kv.kv_bytes_per_gpu, capacity_bytes=capacity_bytes, tp=tp, pp=pp,
                      weight_dtype=weight_dtype, chunk_tokens=chunk_tokens,
                      max_tokens=context_tokens * batch)


def _fmt_share(share: float) -> str:
    """A share as a percentage with the digits that show it: 37%, 0.49%, 0.0017%."""
    percent = share * 100
    if percent >= 1 or percent <= 0:
        return f"{percent:.0f}%"
    return f"{percent:.{1 - math.floor(math.log10(percent))}f}%"


def _why_nothing_fits(model: ModelSpec, context_tokens: int, *, batch: int, tp: int, pp: int,
                      dtype: str | None, page_tokens: int, gpu: str, catalog: Catalog) -> str:
    """Why no advice fits: the KV cache per GPU at the best TP or PP that :func:`memory_advice`
    tries (each alone, up to x128), against the largest catalog GPU."""
    best: tuple[float, str] | None = None
    tried = {"tp": tp, "pp": pp}
    for name, base in (("tp", tp), ("pp", pp)):
        for k in range(8):
            degree = base * 2**k
            if name == "pp" and degree > model.num_layers:
                break
            change = {"tp": tp, "pp": pp, name: degree}
            try:
                size = kv_size(model, context_tokens, batch=batch, dtype=dtype,
                               page_tokens=page_tokens, **change)
            except ValueError:  # a TP that does not divide the heads
                continue
            tried[name] = degree
            if best is None or size.kv_bytes_per_gpu < best[0]:
                best = (size.kv_bytes_per_gpu, f"{name} {degree}")
    gpus = [(g.memory_bytes, key) for key, g in catalog.gpus.items() if g.status != "announced"]
    memory, largest = max(gpus) if gpus else (catalog.gpus[gpu].memory_bytes, gpu)
    usable = memory * USABLE_FRACTION
    ranges = f"tp up to {tried['tp']} and pp up to {tried['pp']} tried"
    if best is not None and best[0] > usable:
        return (f"nothing considered fits: the KV cache alone is {best[0] / 1e9:,.0f} GB per "
                f"GPU even at {best[1]} ({ranges}), over the {usable / 1e9:.0f} GB usable of "
                f"the largest catalog GPU ({largest}); shorten the context, or keep the KV "
                f"cache on a tier (--tier dram|nvme) with enough TP or PP for the weights")
    return (f"nothing considered fits: no single change of TP or PP ({ranges}), GPU or "
            f"weight dtype is enough; combine them")


def memory_advice(model: ModelSpec, context_tokens: int, *, batch: int, tp: int, pp: int,
                  dtype: str | None, page_tokens: int, weight_dtype: str, chunk_tokens: int,
                  gpu: str, catalog: Catalog) -> tuple[str, ...]:
    """What would fit when one GPU's weights, KV cache and activations do not: the smallest
    power-of-two TP (PP) that fits at the same PP (TP), the smallest catalog GPU that fits at
    the same TP x PP, 8-bit weights, or the KV cache kept on a tier (with the share of it the
    GPU holds, printed with the digits that show it: 0.49%, not 0%). When every part is known
    and none of these fits, one line saying why. Empty when it fits.

    The activations count at most ``context_tokens x batch`` tokens of ``chunk_tokens``.
    """
    def at(**change: Any) -> GpuMemory:
        args: dict[str, Any] = dict(batch=batch, tp=tp, pp=pp, dtype=dtype,
                                    page_tokens=page_tokens, weight_dtype=weight_dtype,
                                    chunk_tokens=chunk_tokens,
                                    capacity_bytes=catalog.gpus[gpu].memory_bytes)
        args.update(change)
        return _memory_at(model, context_tokens, **args)

    now = at()
    if now.fits:
        return ()
    out = []
    for name, base in (("tp", tp), ("pp", pp)):
        for k in range(1, 8):
            degree = base * 2**k
            if name == "pp" and degree > model.num_layers:
                break
            try:
                fits = at(**{name: degree}).fits
            except ValueError:  # a TP that does not divide the heads, ...
                continue
            if fits:
                out.append(f"{name} {degree}")
                break
    bigger = sorted((g.memory_bytes, key) for key, g in catalog.gpus.items()
                    if g.memory_bytes > catalog.gpus[gpu].memory_bytes
                    and g.status != "announced")
    for memory_bytes, key in bigger:
        if at(capacity_bytes=memory_bytes).fits:
            out.append(f"{key} GPUs ({memory_bytes / 1e9:.0f} GB)")
            break
    if weight_dtype in ("bf16", "fp16", "fp32") and at(weight_dtype="fp8").fits:
        out.append("fp8 weights (--weight-dtype fp8)")
    room = now.kv_room_bytes
    if room > 0 and now.kv_bytes > room:
        out.append(f"the KV cache on a tier, {_fmt_share(room / now.kv_bytes)} of it on the GPU "
                   f"(--tier dram|nvme)")
    if not out and now.complete:
        out.append(_why_nothing_fits(model, context_tokens, batch=batch, tp=tp, pp=pp,
                                     dtype=dtype, page_tokens=page_tokens, gpu=gpu,
                                     catalog=catalog))
    return tuple(out)


def takes_default_size(design: FabricDesign) -> bool:
    """Whether ``design`` is a known family given without a size (no ``num_nodes``, ``num_gpus``
    or ``k``): :func:`default_kv_design` then gives it the default fabric's size."""
    return (design.family in topologies.FAMILIES and design.num_nodes is None
            and design.num_gpus is None and design.k is None)


def default_kv_design(instance_gpus: int, design: FabricDesign | None,
                      catalog: Catalog) -> FabricDesign:
    """The fabric of a scenario given no spec file or family, or a family without a size:
    rail-optimized unless a family is given, with room for two instances (at least 4 servers
    of ``gpus_per_node``, default 8), and no NVLink domain for a GPU that has none (PCIe cards).

    A family sized by servers (``num_nodes``: rail-optimized, rail-only) gets that many
    servers; the others (clos, fat-tree, single-hop) that many servers' GPUs (``num_gpus``).
    A design with a size keeps it, and a spec file is returned as it is.
    """
    base = design or FabricDesign(family="rail-optimized")
    if base.spec_path is not None:
        return base  # a spec file is the fabric it describes
    changes: dict[str, Any] = {}
    if base.num_nodes is None and base.num_gpus is None and base.k is None:
        per_node = base.gpus_per_node or 8
        num_nodes = max(4, 2 * -(-instance_gpus // per_node))
        family = topologies.FAMILIES.get(str(base.family))
        if family is None or family.size_parameter == "num_nodes":
            changes["num_nodes"] = num_nodes
        else:
            changes["num_gpus"] = per_node * num_nodes
    if base.gpu and base.scaleup is None and base.gpu in catalog.gpus \
            and not catalog.gpus[base.gpu].nvlink:
        changes["scaleup"] = "none"
    return base.replace(**changes) if changes else base


def _kv_only(m: ModelSpec, size: KVSize, *, design: FabricDesign | None, cat: Catalog,
             context_tokens: int, batch: int, tp: int, pp: int, mfu: float, streaming: str,
             weight_dtype: str, weight_dtype_source: str, chunk_tokens: int) -> KvScenario:
    """What a model without parameter counts allows: its KV cache and whether that alone fits
    the GPU (the design's, else the default fabric's H100); no fabric is built."""
    gpu = design.gpu if design is not None and design.gpu else "h100"
    if gpu not in cat.gpus:
        raise ValueError(f"unknown gpu {gpu!r}; known GPUs: {', '.join(sorted(cat.gpus))}")
    capacity = cat.gpus[gpu].memory_bytes
    memory = gpu_memory(m, size.kv_bytes_per_gpu, capacity_bytes=capacity, tp=tp, pp=pp,
                        weight_dtype=weight_dtype, chunk_tokens=chunk_tokens)
    return KvScenario(model=m, context_tokens=context_tokens, batch=batch, tp=tp, pp=pp,
                      mfu=mfu, streaming=streaming, size=size, gpu=gpu,
                      gpu_memory_bytes=capacity, topology=None, compute=None, transfer=None,
                      tier=None, ttft=None, memory=memory, weight_dtype=weight_dtype,
                      weight_dtype_source=weight_dtype_source, chunk_tokens=chunk_tokens,
                      not_computed=NO_PARAMS)


def kv_scenario(
    model: str | ModelSpec,
    context_tokens: int,
    *,
    design: FabricDesign | None = None,
    default_fabric: bool = True,
    batch: int = 1,
    tp: int = 1,
    pp: int = 1,
    dtype: str | None = None,
    page_tokens: int = 1,
    prefill_at: str | None = None,
    decode_at: str | None = None,
    streaming: str = "layer",
    alpha_s: float = 0.6e-3,
    efficiency: float = 0.8,
    tier_name: str = "dram",
    tier_bandwidth_bytes_per_s: float | None = None,
    storage_node: int | None = None,
    new_tokens: int = 0,
    num_gpus: int | None = None,
    mfu: float = 0.5,
    weight_dtype: str | None = None,
    chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS,
    catalog: Catalog | None = None,
) -> KvScenario:
    """Size a model's KV cache, move it prefill->decode over a fabric, and weigh load vs recompute.

    Parameters
    ----------
    model : str or ModelSpec
        A built-in model key, a HF ``config.json`` / YAML path, or a loaded model.
    context_tokens : int
        Context tokens per request.
    design : FabricDesign or None
        The fabric. With ``default_fabric`` (no design, or a family given without a size:
        :func:`takes_default_size`), :func:`default_kv_design` fills in a size that holds two
        instances.
    batch, tp, pp, dtype, page_tokens
        Requests, parallelism of each instance, KV dtype (default the model's), page size
        (contexts round up to whole pages: the size, the PD transfer and the tier load).
    prefill_at, decode_at
        Where the instances sit: a node index or GPU ids (:func:`collectives.kv.place`).
    streaming, alpha_s, efficiency
        Layer-wise or whole-request transfer, fixed cost per transfer, achieved share of the
        fair-share rate (:func:`collectives.kv.pd_transfer`).
    tier_name, tier_bandwidth_bytes_per_s, storage_node
        Where a persisted cache is loaded from (:func:`collectives.kv.tier`); ``storage_node``
        is a node of the fabric standing in for the storage server of the ``remote`` tier.
    new_tokens, num_gpus, mfu
        Uncached tokens of the new turn; GPUs computing the prefill (default ``tp * pp``) and
        their model FLOPs utilization.
    weight_dtype, chunk_tokens
        The weights' dtype (default the model's published one,
        :attr:`~collectives.llm.ModelSpec.default_weight_dtype`; where it came from is
        :attr:`KvScenario.weight_dtype_source`) and the tokens of one prefill forward pass,
        capped at ``context_tokens x batch`` (:func:`collectives.memory.prefill_pass_tokens`),
        for what one GPU holds (:mod:`collectives.memory`).
    catalog : Catalog or None
        Laid over the built-in catalog (GPU memory, FLOP/s and PCIe link); a catalog object in
        ``design.catalog`` takes its place.

    Returns
    -------
    KvScenario
        For a model without parameter counts, its KV cache and memory alone
        (:attr:`KvScenario.kv_only`; no fabric is built).

    Raises
    ------
    ValueError
        Bad values, a storage node that is not in the fabric or that the prefill instance uses,
        ``storage_node`` without the ``remote`` tier, an unknown GPU.
    """
    cat = catalog if catalog is not None else load_catalog(
        design.catalog if design is not None and not isinstance(design.catalog, Catalog)
        else None)
    if design is not None and isinstance(design.catalog, Catalog):
        cat = design.catalog
    m = load_model(model) if isinstance(model, str) else model
    size = kv_size(m, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp,
                   page_tokens=page_tokens)
    chunk = prefill_pass_tokens(chunk_tokens, context_tokens * batch)
    wdtype = weight_dtype or m.default_weight_dtype
    source = "--weight-dtype" if weight_dtype is not None else (m.weight_dtype_note
                                                                or "torch_dtype")
    if m.num_params_active_nonembedding is None:
        return _kv_only(m, size, design=design, cat=cat, context_tokens=context_tokens,
                        batch=batch, tp=tp, pp=pp, mfu=mfu, streaming=streaming,
                        weight_dtype=wdtype, weight_dtype_source=source, chunk_tokens=chunk)
    if default_fabric:
        design = default_kv_design(size.num_gpus, design, cat)
    if design is None:
        raise ValueError("a KV scenario needs a fabric design")
    G = build_fabric(design.replace(catalog=cat))
    placement = kvm.place(G, size.num_gpus, prefill_at=prefill_at, decode_at=decode_at)
    gpu = design.gpu or G.nodes[placement.prefill_gpus[0]].get("model", "h100")
    compute = compute_for(gpu, num_gpus=num_gpus or size.num_gpus, mfu=mfu, catalog=cat)
    pd = kvm.pd_transfer(G, m, context_tokens, placement=placement, tp=tp, pp=pp, batch=batch,
                         dtype=dtype, compute=compute, streaming=streaming, alpha_s=alpha_s,
                         efficiency=efficiency, page_tokens=page_tokens, catalog=cat)
    overrides: dict[str, Any] = {}
    if tier_bandwidth_bytes_per_s is not None:
        overrides["shared_bandwidth_bytes_per_s"] = tier_bandwidth_bytes_per_s
    where = kvm.tier(tier_name, **overrides)
    storage: tuple[str, ...] = ()
    if storage_node is not None:
        if tier_name != "remote":
            raise ValueError("a storage node applies to the remote tier only (--tier remote)")
        storage = tuple(g for g, d in G.nodes(data=True)
                        if d.get("kind") == "gpu" and d.get("node") == storage_node)
        if not storage:
            raise ValueError(f"storage node {storage_node} is not a node of the fabric")
        if set(storage) & set(placement.prefill_gpus):
            raise ValueError("the storage node must be outside the prefill instance")
    first_node = G.nodes[placement.prefill_gpus[0]].get("node")
    per_node = max(1, sum(1 for _, d in G.nodes(data=True)
                          if d.get("kind") == "gpu" and d.get("node") == first_node))
    t = kvm.ttft(m, context_tokens, compute=compute, where=where, new_tokens=new_tokens, tp=tp,
                 pp=pp, batch=batch, dtype=dtype, gpus_per_node=per_node, G=G,
                 gpus=placement.prefill_gpus, storage_gpus=storage, efficiency=efficiency,
                 page_tokens=page_tokens, catalog=cat)
    memory = gpu_memory(m, size.kv_bytes_per_gpu, capacity_bytes=cat.gpus[gpu].memory_bytes,
                        tp=tp, pp=pp, weight_dtype=wdtype, chunk_tokens=chunk)
    advice = memory_advice(m, context_tokens, batch=batch, tp=tp, pp=pp, dtype=dtype,
                           page_tokens=page_tokens, weight_dtype=wdtype, chunk_tokens=chunk,
                           gpu=gpu, catalog=cat)
    return KvScenario(model=m, context_tokens=context_tokens, batch=batch, tp=tp, pp=pp, mfu=mfu,
                      streaming=streaming, size=size, gpu=gpu,
                      gpu_memory_bytes=cat.gpus[gpu].memory_bytes,
                      topology=str(G.graph.get("topology", "")), compute=compute, transfer=pd,
                      tier=where, ttft=t, memory=memory, weight_dtype=wdtype,
                      weight_dtype_source=source, chunk_tokens=chunk, advice=advice)
