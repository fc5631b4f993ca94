"""KV-cache sizes, prefill->decode transfer over the fabric, tiers versus recompute, and TTFT.

Sources: Mooncake (Qin et al., FAST 2025, https://www.usenix.org/conference/fast25/presentation/qin;
PD benchmark tables and transfer-engine docs in https://github.com/kvcache-ai/Mooncake, 2025) for
the load-or-recompute criterion and the transfer fits; the prefill-wall figures from Lightbits Labs
(2026, https://www.lightbitslabs.com/blog/10-million-tokens-in-production-using-lightinferra-lightbits-labs-breaks-the-gpu-memory-wall-for-low-memory-accelerators/);
vendor datasheets for tier bandwidths. The TTFT model (fetch, then prefill, then PD transfer) is
this project's composition of those; each default below names its own source.

This module loads a cache from a storage tier (:func:`tier`, :func:`fetch`), weighs loading it
against recomputing it (:func:`ttft`) and moves it from a prefill to a decode instance over the
fabric (:func:`place`, :func:`pd_transfer`). Sizes and prefill compute (:func:`kv_size`,
:func:`prefill`, :func:`breakeven_bandwidth`, ...) live in :mod:`collectives.prefill` and are
re-exported here, so ``collectives.kv`` stays the one import for the whole KV model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import networkx as nx
import numpy as np

from collectives.llm import ModelSpec
from collectives.prefill import (
    BreakEven,
    Compute,
    KVSize,
    Prefill,
    breakeven_bandwidth,
    check_int,
    check_tokens,
    compute_for,
    kv_bytes_per_token,
    kv_size,
    layer_kv_bytes,
    prefill,
    prefill_flops,
    stage_slices,
)
from fabric.catalog import Catalog, default_catalog
from fabric.errors import InfeasibleError
from fabric.flows import TransferResult, transfer
from fabric.routing import fabric_index

__all__ = [
    "DEFAULT_ALPHA_S",
    "DEFAULT_EFFICIENCY",
    "PCIE_COPY_SHARE",
    "TIERS",
    "KVSize",
    "Compute",
    "Prefill",
    "BreakEven",
    "Tier",
    "Fetch",
    "TTFT",
    "Placement",
    "PDTransfer",
    "kv_bytes_per_token",
    "layer_kv_bytes",
    "kv_size",
    "compute_for",
    "prefill_flops",
    "prefill",
    "breakeven_bandwidth",
    "tier",
    "fetch",
    "ttft",
    "place",
    "pd_transfer",
]

#: Fixed cost per PD transfer, on 8 x CX7 RoCE: this project's fit to the PD tables in
#: docs/source/performance/vllm/vllm-v1-pd-performance.md of github.com/kvcache-ai/Mooncake (2025).
DEFAULT_ALPHA_S = 0.6e-3
#: Achieved fraction of the fabric's fair-share rate for large KV transfers: 71-82% of line rate
#: at >= 4 GB in the Mooncake PD tables (https://github.com/kvcache-ai/Mooncake, 2025).
DEFAULT_EFFICIENCY = 0.8
#: Share of a GPU's PCIe link that host-to-GPU copies reach: 54 GB/s pinned H2D on PCIe Gen5 x16
#: of its 63 GB/s per direction (PCI-SIG PCIe 5.0, 2019, https://pcisig.com/specifications;
#: catalog ``links.pcie5x16``). The 54 GB/s is an ASSUMPTION: it was credited to
#: "gahow/agentic-kvc", which could not be found (no such public GitHub repository or page in
#: a search on 2026-12-06). It rests on the copy reaching about 86% of the link, a little above
#: the 81-82% that CUDA's bandwidthTest shows for pinned H2D on a PCIe Gen4 x16 A100 (25.8-26.2
#: of 32 GB/s at 1 GB; https://github.com/jdh4/della-gpu-A100 README, read 2026-12-06). This
#: project applies the same share to every GPU's own link (Gen4 x16: 27.4 of 32 GB/s); a
#: derivation, not a measurement.
PCIE_COPY_SHARE = 54e9 / 63e9


# --- tiers -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """Where a persisted KV cache lives and the path it is loaded over.

    ``gpu_bandwidth_bytes_per_s`` is each GPU's own path (PCIe, NIC) on an H100's PCIe Gen5 x16
    host link, used when the GPU is not known; ``pcie_share`` > 0 makes the path the GPU's own
    PCIe link times that share when it is (host DRAM and local drives are copied over it), and
    with ``pcie_share`` 0 the GPU's link caps ``gpu_bandwidth_bytes_per_s`` (a NIC behind it:
    GPUDirect traffic crosses the GPU's PCIe link). ``shared_bandwidth_bytes_per_s`` is what
    GPUs share: per client node (``shared_by="node"``: host DRAM, local drives) or per storage
    server (``shared_by="server"``). ``resident`` means already in HBM (no load).
    """

    name: str
    gpu_bandwidth_bytes_per_s: float
    shared_bandwidth_bytes_per_s: float
    shared_by: str
    latency_s: float
    resident: bool = False
    source: str = ""
    pcie_share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gpu_bandwidth_bytes_per_s", "shared_bandwidth_bytes_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"tier {self.name}: {name} must be > 0, got {getattr(self, name)!r}"
                )
        if not self.latency_s >= 0:
            raise ValueError(f"tier {self.name}: latency_s must be >= 0, got {self.latency_s!r}")
        if self.shared_by not in ("node", "server"):
            raise ValueError(
                f"tier {self.name}: shared_by must be 'node' or 'server', got {self.shared_by!r}"
            )
        if not 0 <= self.pcie_share <= 1:
            raise ValueError(f"tier {self.name}: pcie_share must be in [0, 1], "
                             f"got {self.pcie_share!r}")

    def gpu_path_bytes_per_s(self, pcie_bytes_per_s: float | None = None) -> float:
        """One GPU's load path given its PCIe link's rate (None: not known, the H100 figure).

        >>> TIERS["dram"].gpu_path_bytes_per_s(32e9) / 1e9   # PCIe Gen4 x16: L40S, A100
        27.428571428571427
        >>> TIERS["remote"].gpu_path_bytes_per_s(32e9) / 1e9  # the 400G NIC behind Gen4 x16
        32.0
        """
        if self.resident:
            return math.inf
        if pcie_bytes_per_s is None:
            return self.gpu_bandwidth_bytes_per_s
        if self.pcie_share > 0:
            return pcie_bytes_per_s * self.pcie_share
        return min(self.gpu_bandwidth_bytes_per_s, pcie_bytes_per_s)


#: Default tiers; each names its public source (override any field with :func:`tier`).
TIERS: dict[str, Tier] = {
    "hbm": Tier(
        name="hbm",
        gpu_bandwidth_bytes_per_s=3.35e12,
        shared_bandwidth_bytes_per_s=math.inf,
        shared_by="node",
        latency_s=0.0,
        resident=True,
        source="HBM3 H100 3.35 TB/s (NVIDIA H100 datasheet, 2023); a hit needs no load",
    ),
    "dram": Tier(
        name="dram",
        gpu_bandwidth_bytes_per_s=54e9,
        shared_bandwidth_bytes_per_s=282e9,
        shared_by="node",
        latency_s=10e-6,
        source="PCIe Gen5 x16 ~54 GB/s pinned H2D (assumption: 86% of the link; "
        "collectives.kv.PCIE_COPY_SHARE), the same share of the "
        "GPU's own PCIe link when it is known (catalog gpus.*.pcie); host DRAM "
        "282 GB/s per node (Xeon 8559C DDR5, Mooncake EFA transport doc, github.com/kvcache-ai/"
        "Mooncake, 2025); "
        "latency: assumption",
        pcie_share=PCIE_COPY_SHARE,
    ),
    "nvme": Tier(
        name="nvme",
        gpu_bandwidth_bytes_per_s=54e9,
        shared_bandwidth_bytes_per_s=53.0 * 2**30,
        shared_by="node",
        latency_s=100e-6,
        source="4 x Gen5 NVMe RAID0 via GDS 53.0 GiB/s read per node (gds-report); per GPU "
        "its PCIe link as for dram; NVMe 4K read ~100 us (spheron.network GDS guide, secondary)",
        pcie_share=PCIE_COPY_SHARE,
    ),
    "remote": Tier(
        name="remote",
        gpu_bandwidth_bytes_per_s=0.96 * 50e9,
        shared_bandwidth_bytes_per_s=43.4 * 2**30,
        shared_by="server",
        latency_s=100e-6,
        source="NFSoRDMA over 400GbE: 43.4 GiB/s per storage server to 4 GPUs, 96% of "
        "line rate (VAST, FarmGPU GDS report, https://gds-report.pages.dev/gdsio/, 2026), capped "
        "by the GPU's PCIe link; latency: "
        "NVMe read ~100 us (spheron.network GDS guide, secondary)",
    ),
}


def tier(name: str, **overrides: Any) -> Tier:
    """A default tier by name (``hbm``, ``dram``, ``nvme``, ``remote``) with fields overridden.

    >>> tier("nvme", shared_bandwidth_bytes_per_s=14.5e9).shared_bandwidth_bytes_per_s
    14500000000.0
    """
    if name not in TIERS:
        raise ValueError(f"unknown tier {name!r}; known tiers: {', '.join(TIERS)}")
    try:
        return replace(TIERS[name], **overrides)
    except TypeError as err:
        raise ValueError(f"tier {name}: {err}") from err


def _host_link(
    G: nx.DiGraph, gpu: str, catalog: Catalog | None
) -> tuple[str, float, bool] | None:
    """``gpu``'s PCIe link in the catalog: (link key, bytes/s per direction, whether the GPU has
    a scale-up link), or None for a GPU model the catalog does not know or gives no link."""
    cat = catalog if catalog is not None else default_catalog()
    spec = cat.gpus.get(str(G.nodes[gpu].get("model", "")))
    if spec is None or not spec.pcie or spec.pcie not in cat.links:
        return None
    scaleup = bool(spec.nvlink) and spec.nvlink_num_links > 0
    return spec.pcie, cat.links[spec.pcie].bandwidth_bytes_per_s, scaleup


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetch:
    """Loading a persisted KV cache onto an instance's GPUs from a tier."""

    tier: str
    kv_bytes_moved: int
    time_s: float
    latency_s: float
    bandwidth_bytes_per_s: float
    bottleneck: str


def fetch(
    size: KVSize,
    where: Tier,
    *,
    gpus_per_node: int = 8,
    num_servers: int = 1,
    G: nx.DiGraph | None = None,
    gpus: Sequence[str] = (),
    storage_gpus: Sequence[str] = (),
    background: Sequence[tuple[str, str, float]] = (),
    efficiency: float = DEFAULT_EFFICIENCY,
    catalog: Catalog | None = None,
) -> Fetch:
    """Time to load ``size`` (every GPU its own shard) from tier ``where``.

    Parameters
    ----------
    size
        The cache, its per-GPU shards included.
    where
        The tier.
    gpus_per_node
        GPUs sharing a node's tier bandwidth (``shared_by="node"``).
    num_servers
        Storage servers sharing the load (``shared_by="server"``).
    G, gpus, storage_gpus, background
        Networked storage over the fabric: the instance's GPUs, the storage server's GPU
        endpoints (a node of ``G`` standing in for the server) and competing flows. The flows
        are routed on ``G`` (:func:`fabric.flows.transfer`) and the time is the larger of the
        fabric time over ``efficiency`` and the servers' shared rate. With ``G`` and ``gpus``,
        each GPU's own path is :meth:`Tier.gpu_path_bytes_per_s` of its catalog PCIe link
        (``gpus.<model>.pcie`` of ``catalog``, default the built-in one).

    Returns
    -------
    Fetch

    Notes
    -----
    ``T_fetch = latency + max(shard / gpu path, node or server bytes / shared rate)``
    (the slowest hop bounds the path, ``BW_path = min over hops``); 0 for a resident (HBM) hit.
    """
    moved = size.kv_bytes_moved
    if where.resident:
        return Fetch(
            tier=where.name,
            kv_bytes_moved=moved,
            time_s=0.0,
            latency_s=0.0,
            bandwidth_bytes_per_s=math.inf,
            bottleneck="resident in HBM",
        )
    check_int("gpus_per_node", gpus_per_node)
    check_int("num_servers", num_servers)
    shards = size.shards()
    if G is not None and gpus:
        if len(gpus) != len(shards):
            raise ValueError(f"gpus must list the instance's {len(shards)} GPUs, got {len(gpus)}")
        links = [_host_link(G, gpu, catalog) for gpu in gpus]
        paths = [where.gpu_path_bytes_per_s(None if link is None else link[1]) for link in links]
    else:
        paths = [where.gpu_bandwidth_bytes_per_s] * len(shards)
    per_gpu = max(b / path for b, path in zip(shards, paths, strict=True))
    if where.shared_by == "node":
        per_node = [
            sum(shards[i : i + gpus_per_node]) for i in range(0, len(shards), gpus_per_node)
        ]
        shared = max(per_node) / where.shared_bandwidth_bytes_per_s
    else:
        shared = moved / (num_servers * where.shared_bandwidth_bytes_per_s)
    times = {"gpu path": per_gpu, f"shared per {where.shared_by}": shared}
    latency = where.latency_s
    if G is not None and storage_gpus:
        if len(gpus) != len(shards):
            raise ValueError(f"gpus must list the instance's {len(shards)} GPUs, got {len(gpus)}")
        demands = [
            (storage_gpus[i % len(storage_gpus)], gpu, b)
            for i, (gpu, b) in enumerate(zip(gpus, shards, strict=True))
        ]
        res = _transfer(G, demands, background)
        times[f"fabric {res.bottleneck}"] = (res.time_s - res.latency_s) / efficiency
        latency += res.latency_s
    bottleneck = max(times, key=times.__getitem__)
    t = latency + times[bottleneck]
    return Fetch(
        tier=where.name,
        kv_bytes_moved=moved,
        time_s=t,
        latency_s=latency,
        bandwidth_bytes_per_s=moved / (t - latency) if t > latency else math.inf,
        bottleneck=bottleneck,
    )


def _exposed_after(first: np.ndarray, second: np.ndarray) -> float:
    """Time after ``sum(first)`` until a layer pipeline ``first[j] -> second[j]`` ends.

    Layer ``j`` of the second activity starts when layer ``j`` of the first and layer ``j-1``
    of the second are done: end = max_j (cumsum(first)_j + sum(second[j:])).
    """
    if len(first) == 0:
        return 0.0
    suffix = np.cumsum(second[::-1])[::-1]
    return float(max(0.0, np.max(np.cumsum(first) + suffix) - first.sum()))


@dataclass(frozen=True, slots=True, kw_only=True)
class TTFT:
    """Time to first token with and without a persisted KV cache.

    ``ttft_recompute_s`` prefills the whole context; ``ttft_cached_s`` loads the cached prefix
    (``fetch_time_s``, of which ``fetch_exposed_s`` is not hidden behind the prefill of the
    ``context_tokens - cached_tokens`` new tokens) and prefills the rest.
    """

    context_tokens: int
    cached_tokens: int
    tier: str
    ttft_recompute_s: float
    ttft_cached_s: float
    fetch_time_s: float
    fetch_exposed_s: float
    prefill_new_time_s: float
    breakeven_bandwidth_bytes_per_s: float
    fetch_bandwidth_bytes_per_s: float

    @property
    def load_beats_recompute(self) -> bool:
        """Whether loading the cache gives the earlier first token (as Mooncake's Conductor)."""
        return self.ttft_cached_s < self.ttft_recompute_s

    @property
    def speedup(self) -> float:
        """Recompute TTFT over cached TTFT."""
        return self.ttft_recompute_s / self.ttft_cached_s if self.ttft_cached_s > 0 else math.inf


def ttft(
    model: ModelSpec,
    context_tokens: int,
    *,
    compute: Compute,
    where: Tier,
    new_tokens: int = 0,
    tp: int = 1,
    pp: int = 1,
    batch: int = 1,
    dtype: str | None = None,
    overlap: bool = True,
    gpus_per_node: int = 8,
    num_servers: int = 1,
    G: nx.DiGraph | None = None,
    gpus: Sequence[str] = (),
    storage_gpus: Sequence[str] = (),
    background: Sequence[tuple[str, str, float]] = (),
    efficiency: float = DEFAULT_EFFICIENCY,
    page_tokens: int = 1,
    catalog: Catalog | None = None,
) -> TTFT:
    """TTFT recomputing the context versus loading its cached prefix from ``where``.

    Parameters
    ----------
    new_tokens
        Tokens at the end of the context that are not cached (the new turn); the first
        ``context_tokens - new_tokens`` are loaded.
    gpus_per_node, num_servers, G, gpus, storage_gpus, background, efficiency, catalog
        Passed to :func:`fetch` (networked storage over the fabric when ``G`` and
        ``storage_gpus`` are given; ``gpus`` are the instance's GPUs, whose PCIe links bound
        their own load paths).
    page_tokens
        KV page (block) size: the cached prefix is loaded in whole pages, as :func:`kv_size`
        and :func:`pd_transfer` count it.
    overlap
        Load layer by layer, each layer's prefill starting once its KV is in (visible
        ~ max(T_fetch / L, T_fetch - (L-1)/L T_prefill)); else load, then prefill.

    Raises
    ------
    ValueError
        Bad counts (``new_tokens`` must be < ``context_tokens``).

    >>> from collectives.llm import load_model
    >>> h100 = compute_for("h100")
    >>> t = ttft(load_model("llama-3.1-70b"), 10**6, compute=h100, where=tier("dram"), tp=8)
    >>> round(t.ttft_recompute_s / 60, 1), round(t.ttft_cached_s, 2)   # 50% MFU: 6.1 min
    (6.1, 1.16)
    """
    check_tokens(context_tokens, batch)  # before any arithmetic: numpy int64 would wrap
    check_int("new_tokens", new_tokens, 0)
    if new_tokens >= context_tokens:
        raise ValueError(f"new_tokens must be < context_tokens {context_tokens}, got {new_tokens}")
    cached = context_tokens - new_tokens
    full = prefill(model, context_tokens, compute=compute, batch=batch)
    rest = prefill(model, context_tokens, compute=compute, cached_tokens=cached, batch=batch)
    size = kv_size(
        model, cached, batch=batch, dtype=dtype, tp=tp, pp=pp, page_tokens=page_tokens
    )
    got = fetch(
        size,
        where,
        gpus_per_node=gpus_per_node,
        num_servers=num_servers,
        G=G,
        gpus=gpus,
        storage_gpus=storage_gpus,
        background=background,
        efficiency=efficiency,
        catalog=catalog,
    )
    if overlap and got.time_s > 0:
        share = np.asarray(size.layer_bytes, dtype=np.float64) / max(sum(size.layer_bytes), 1)
        loads = share * (got.time_s - got.latency_s)
        tail = _exposed_after(loads, np.asarray(rest.layer_time_s))
        exposed = got.latency_s + loads.sum() + tail - rest.time_s
    else:
        exposed = got.time_s
    return TTFT(
        context_tokens=context_tokens,
        cached_tokens=cached,
        tier=where.name,
        ttft_recompute_s=full.time_s,
        ttft_cached_s=float(exposed + rest.time_s),
        fetch_time_s=got.time_s,
        fetch_exposed_s=float(exposed),
        prefill_new_time_s=rest.time_s,
        breakeven_bandwidth_bytes_per_s=size.kv_bytes_moved / full.time_s,
        fetch_bandwidth_bytes_per_s=got.bandwidth_bytes_per_s,
    )


# --- prefill -> decode transfer over the fabric ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """GPUs of the prefill and the decode instance, in rank order (GPU ``s * tp + r``)."""

    prefill_gpus: tuple[str, ...]
    decode_gpus: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.prefill_gpus) != len(self.decode_gpus) or not self.prefill_gpus:
            raise ValueError(
                f"prefill and decode need the same number (>= 1) of GPUs, got "
                f"{len(self.prefill_gpus)} and {len(self.decode_gpus)}"
            )
        for name, gpus in (("prefill", self.prefill_gpus), ("decode", self.decode_gpus)):
            if len(set(gpus)) != len(gpus):
                raise ValueError(f"{name} GPUs must be distinct, got {', '.join(gpus)}")


# Derived from the graph, so kept in its fabric index's memo: it lives exactly as long as the
# index, which is rebuilt when the graph changes (fabric.routing.fabric_index).
_NODES_KEY = (__name__, "gpus_by_node")
_UNITS_KEY = (__name__, "unit_transfers")
_UNITS_LIMIT = 4096  # solved shapes kept per index; a long sweep of distinct shapes starts over


def _gpus_by_node(G: nx.DiGraph) -> dict[int, list[str]]:
    memo = fabric_index(G).memo
    found = memo.get(_NODES_KEY)
    if found is not None:
        return cast("dict[int, list[str]]", found)
    nodes: dict[int, list[tuple[int, str]]] = {}
    for n, data in G.nodes(data=True):
        if data.get("kind") == "gpu":
            nodes.setdefault(int(data.get("node", 0)), []).append((int(data.get("local", 0)), n))
    table = {k: [n for _, n in sorted(v)] for k, v in sorted(nodes.items())}
    memo[_NODES_KEY] = table
    return table


def _resolve(
    G: nx.DiGraph,
    spec: str | Sequence[str],
    num_gpus: int,
    by_node: dict[int, list[str]],
    what: str,
) -> tuple[str, ...]:
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
    else:
        parts = [str(p) for p in spec]
    if len(parts) == 1 and parts[0].lstrip("-").isdigit():
        node = int(parts[0])
        order = sorted(by_node)
        if node < 0:
            node = order[node] if -node <= len(order) else -1
        if node not in by_node:
            raise ValueError(
                f"{what} node {parts[0]} is not in the fabric; nodes are {order[0]}..{order[-1]}"
            )
        pool = [g for k in order if k >= node for g in by_node[k]]
        if len(pool) < num_gpus:
            raise InfeasibleError(
                f"{what} needs {num_gpus} GPUs from node {node} on, only "
                f"{len(pool)} there; pick an earlier node or a larger fabric"
            )
        return tuple(pool[:num_gpus])
    for gpu in parts:
        if G.nodes.get(gpu, {}).get("kind") != "gpu":
            raise ValueError(
                f"{what} GPU {gpu!r} is not a GPU of the fabric (ids look like "
                f"{next(iter(by_node.values()))[0]!r})"
            )
    if len(parts) != num_gpus:
        raise ValueError(f"{what} must name tp x pp = {num_gpus} GPUs, got {len(parts)}")
    return tuple(parts)


def place(
    G: nx.DiGraph,
    num_gpus: int,
    *,
    prefill_at: str | Sequence[str] | None = None,
    decode_at: str | Sequence[str] | None = None,
) -> Placement:
    """Place a prefill and a decode instance of ``num_gpus`` GPUs each on ``G``.

    ``prefill_at`` / ``decode_at``: a node index (the instance takes that node's first GPUs,
    spilling to the next nodes), or GPU ids (a comma-separated string or a sequence). Default:
    node 0 for prefill and the last node for decode.

    Raises
    ------
    ValueError
        Unknown node or GPU, wrong count, overlapping instances.
    InfeasibleError
        Too few GPUs from the given node on.

    >>> import topologies
    >>> place(topologies.build("rail-optimized", num_nodes=4), 2).decode_gpus
    ('node3/gpu0', 'node3/gpu1')
    """
    check_int("num_gpus", num_gpus)
    by_node = _gpus_by_node(G)
    if not by_node:
        raise ValueError("the fabric has no GPUs")
    last, held = max(by_node), 0
    for node in sorted(by_node, reverse=True):  # the last nodes that hold the instance
        last, held = node, held + len(by_node[node])
        if held >= num_gpus:
            break
    prefill_gpus = _resolve(
        G, "0" if prefill_at is None else prefill_at, num_gpus, by_node, "prefill"
    )
    decode_gpus = _resolve(
        G, str(last) if decode_at is None else decode_at, num_gpus, by_node, "decode"
    )
    if set(prefill_gpus) & set(decode_gpus):
        raise InfeasibleError(
            f"prefill and decode instances overlap on "
            f"{', '.join(sorted(set(prefill_gpus) & set(decode_gpus)))}"
        )
    return Placement(prefill_gpus=prefill_gpus, decode_gpus=decode_gpus)


def _transfer(
    G: nx.DiGraph,
    demands: Sequence[tuple[str, str, float]],
    background: Sequence[tuple[str, str, float]],
) -> TransferResult:
    """:func:`fabric.flows.transfer`, reusing a solved shape when there is no background.

    Without background every finish time of the fluid max-min model scales with the demand sizes,
    so a solved set of (src, dst) pairs with the same relative sizes is rescaled exactly.
    """
    demands = [(a, b, float(s)) for a, b, s in demands if s > 0]
    if background or not demands:
        return transfer(G, demands, background=background)
    scale = max(s for _, _, s in demands) / 1e9  # solve at 1 GB for the largest demand
    key = tuple((a, b, round(s / scale, 3)) for a, b, s in demands)
    cache = cast(
        "dict[tuple[tuple[str, str, float], ...], TransferResult]",
        fabric_index(G).memo.setdefault(_UNITS_KEY, {}),
    )
    unit = cache.get(key)
    if unit is None:
        if len(cache) >= _UNITS_LIMIT:
            cache.clear()
        unit = transfer(G, [(a, b, s / scale) for a, b, s in demands])
        cache[key] = unit
    # rates and bandwidth do not depend on the sizes; the transfer part of the time scales
    return replace(unit, time_s=unit.latency_s + (unit.time_s - unit.latency_s) * scale)


def _rank_transfer(
    G: nx.DiGraph,
    pairs: Sequence[tuple[str, str, float]],
    background: Sequence[tuple[str, str, float]],
    catalog: Catalog | None,
) -> TransferResult:
    """:func:`_transfer` of rank-to-rank shards, each bounded by the PCIe links it crosses.

    A shard that leaves its node, or moves between GPUs without a scale-up link, crosses the
    sending and the receiving GPU's PCIe link (GPUDirect RDMA: GPU -> PCIe -> NIC; a PCIe card
    without NVLink: GPU -> PCIe -> host). Fabrics that model the GPU's NIC attachment already
    bound it; those that give each GPU its own NIC port (rail-optimized, clos) do not, so the
    link's rate (``links.<gpus.model.pcie>`` of the catalog) is applied here as well.
    """
    res = _transfer(G, pairs, background)
    worst, where, worst_link = 0.0, "", ""
    for src, dst, size in pairs:
        if size <= 0 or src == dst:
            continue
        ends = [_host_link(G, src, catalog), _host_link(G, dst, catalog)]
        same_node = G.nodes[src].get("node") == G.nodes[dst].get("node")
        if any(e is None for e in ends) or (same_node and all(e[2] for e in ends if e)):
            continue  # unknown GPU model, or NVLink inside one node
        link, rate = min(((e[0], e[1]) for e in ends if e), key=lambda e: e[1])
        if size / rate > worst:
            worst, where, worst_link = size / rate, src, link
    if worst <= res.time_s - res.latency_s:
        return res
    return replace(
        res,
        time_s=res.latency_s + worst,
        bandwidth_bytes_per_s=sum(s for _, _, s in pairs) / worst,
        bottleneck=f"{where} {worst_link} host link",
        bottleneck_utilization=1.0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PDTransfer:
    """A KV cache moving from a prefill instance to a decode instance over the fabric.

    ``transfer_time_s`` is the whole transfer on its own: ``alpha_s`` plus the fabric time
    (:func:`fabric.flows.transfer`, max-min fair, background included) over ``efficiency``.
    ``exposed_time_s`` is what TTFT sees after the prefill: all of it when streaming by
    ``request``; with ``layer`` streaming each layer's shard leaves when its prefill ends.
    """

    streaming: str
    prefill_gpus: tuple[str, ...]
    decode_gpus: tuple[str, ...]
    kv_bytes_moved: int
    num_flows: int
    alpha_s: float
    efficiency: float
    fabric_time_s: float
    transfer_time_s: float
    prefill_time_s: float
    exposed_time_s: float
    latency_s: float
    bandwidth_bytes_per_s: float
    bottleneck: str
    bottleneck_utilization: float

    @property
    def ttft_s(self) -> float:
        """Prefill plus the exposed transfer (queueing and first decode step left out)."""
        return self.prefill_time_s + self.exposed_time_s


def pd_transfer(
    G: nx.DiGraph,
    model: ModelSpec,
    context_tokens: int,
    *,
    placement: Placement | None = None,
    tp: int = 1,
    pp: int = 1,
    batch: int = 1,
    dtype: str | None = None,
    compute: Compute | None = None,
    streaming: str = "layer",
    background: Sequence[tuple[str, str, float]] = (),
    alpha_s: float = DEFAULT_ALPHA_S,
    efficiency: float = DEFAULT_EFFICIENCY,
    page_tokens: int = 1,
    catalog: Catalog | None = None,
) -> PDTransfer:
    """Move the KV cache of a prefill to its decode instance, rank to rank, over ``G``.

    Parameters
    ----------
    G
        The fabric.
    model, context_tokens, tp, pp, batch, dtype, page_tokens
        What is moved (:func:`kv_size`); both instances run ``tp x pp``.
    placement
        The two instances' GPUs; default :func:`place` (node 0 and the last node).
    compute
        The prefill instance's compute; default the catalog peak of its GPUs' model at 50% MFU.
    streaming
        ``request``: the whole cache moves after the prefill; ``layer``: each layer's KV moves
        as soon as the prefill produced it, so only what outlasts the prefill is exposed.
    background
        Competing ``(src_gpu, dst_gpu, size_bytes)`` flows on the fabric.
    alpha_s, efficiency
        Fixed cost per transfer and achieved fraction of the fair-share rate (calibration sets
        them; defaults from the Mooncake PD table fits, github.com/kvcache-ai/Mooncake).
    catalog
        Where the GPUs' PCIe links are looked up (default the built-in catalog).

    Returns
    -------
    PDTransfer

    Raises
    ------
    ValueError
        Bad sizes or placement, ``streaming`` not ``request``/``layer``, efficiency not in (0, 1].

    Notes
    -----
    Rank ``i`` of the prefill sends its shard to rank ``i`` of the decode instance; the flows
    share links max-min fairly, so rails, oversubscription and background traffic count. A
    shard that leaves its node (or moves between PCIe cards) is also bounded by the sending and
    receiving GPUs' PCIe links (catalog ``gpus.<model>.pcie``).
    ``T = alpha + T_fabric / efficiency`` (T_pd). Layer streaming: a layer's
    transfer starts when its prefill ends and the previous layer's transfer is done; the exposed
    time is ``alpha + max_j(P_j + sum_{k>=j} x_k) - P_L`` (P: prefill layer ends, x: layer
    transfer times; stages of a pipeline send over their own GPUs), which is the
    ``max(T/L, T - (L-1)/L T_prefill)`` for equal layers.
    """
    if streaming not in ("request", "layer"):
        raise ValueError(f"streaming must be 'request' or 'layer', got {streaming!r}")
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], got {efficiency!r}")
    if not 0 <= alpha_s < math.inf:
        raise ValueError(f"alpha_s must be >= 0 and finite, got {alpha_s!r}")
    check_tokens(context_tokens, batch)  # before any arithmetic: numpy int64 would wrap
    size = kv_size(
        model, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp, page_tokens=page_tokens
    )
    placement = placement or place(G, size.num_gpus)
    if len(placement.prefill_gpus) != size.num_gpus:
        raise ValueError(
            f"placement must have tp x pp = {size.num_gpus} GPUs per instance, got "
            f"{len(placement.prefill_gpus)}"
        )
    if compute is None:
        gpu = G.nodes[placement.prefill_gpus[0]].get("model", "h100")
        compute = compute_for(gpu, num_gpus=size.num_gpus, mfu=0.5)
    pre = prefill(model, context_tokens, compute=compute, batch=batch)
    shards = size.shards()
    pairs = list(zip(placement.prefill_gpus, placement.decode_gpus, shards, strict=True))
    whole = _rank_transfer(G, pairs, background, catalog)
    fabric_time = whole.time_s
    transfer_time = alpha_s + fabric_time / efficiency
    if streaming == "request":
        exposed = transfer_time
    else:
        layer_bytes = np.asarray(size.layer_bytes, dtype=np.float64)
        x = np.zeros(model.num_layers)
        for s, sl in enumerate(stage_slices(model.num_layers, pp)):
            if pp == 1:
                stage_time = fabric_time
            else:
                stage_time = _rank_transfer(
                    G, pairs[s * tp : (s + 1) * tp], background, catalog
                ).time_s
            total = layer_bytes[sl].sum()
            if total > 0:
                x[sl] = stage_time / efficiency * layer_bytes[sl] / total
        exposed = alpha_s + _exposed_after(np.asarray(pre.layer_time_s), x)
    return PDTransfer(
        streaming=streaming,
        prefill_gpus=placement.prefill_gpus,
        decode_gpus=placement.decode_gpus,
        kv_bytes_moved=size.kv_bytes_moved,
        num_flows=sum(1 for a, b, s in pairs if a != b and s > 0),
        alpha_s=alpha_s,
        efficiency=efficiency,
        fabric_time_s=fabric_time,
        transfer_time_s=transfer_time,
        prefill_time_s=pre.time_s,
        exposed_time_s=float(exposed),
        latency_s=whole.latency_s,
        bandwidth_bytes_per_s=size.kv_bytes_moved / transfer_time,
        bottleneck=whole.bottleneck,
        bottleneck_utilization=whole.bottleneck_utilization,
    )
