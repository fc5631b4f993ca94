"""KV-cache sizes and prefill compute: the bytes a prefill writes and the time it takes.

What :mod:`collectives.kv` builds on: the cache of a batch of requests on a ``tp x pp``
instance, the FLOPs and time of computing it, and the load bandwidth at which loading it and
recomputing it take equally long. :mod:`collectives.kv` re-exports the public names.

Sources: KV sizes from each model's published config.json (Hugging Face); the prefill FLOP
count is the standard ``2 N n`` linear term plus causal attention; the load-or-recompute
criterion is Mooncake's (Qin et al., FAST 2025, Eq. 2,
https://www.usenix.org/conference/fast25/presentation/qin). The 6 min / 8.3 h prefill figures
come from Lightbits Labs (2026, https://www.lightbitslabs.com/blog/); the GPU counts and MFU that
reproduce them (scenario A below) are this project's assumptions, not published inputs.

>>> from collectives.llm import load_model
>>> m = load_model("llama-3.1-70b")
>>> kv_bytes_per_token(m)                      # 80 layers x 8 KV heads x 128 x 2 x 2 B: 320 KiB
327680
>>> kv_size(m, 131072).kv_bytes                # 42.9 GB at 128K tokens
42949672960
>>> c = compute_for("h100", num_gpus=8, mfu=0.5)
>>> round(breakeven_bandwidth(m, 8192, compute=c, tp=8).bandwidth_bytes_per_s / 1e9, 1)  # 8K
8.8
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from collectives.llm import KV_DTYPE_BYTES, ModelSpec
from fabric.catalog import Catalog, default_catalog

__all__ = [
    "KVSize",
    "Compute",
    "Prefill",
    "BreakEven",
    "kv_bytes_per_token",
    "layer_kv_bytes",
    "kv_size",
    "compute_for",
    "prefill_flops",
    "prefill",
    "breakeven_bandwidth",
    "check_int",
    "check_tokens",
    "MAX_TOKENS",
    "stage_slices",
]


#: Most tokens a context (times its batch) may hold: 10^10, a thousand times the longest
#: published context window (10M tokens, Llama 4 Scout, Meta model card, April 2025). Byte and
#: FLOP counts stay far inside int64 / float64 below it (10^10 tokens x 10^6 KV bytes per token
#: = 10^16 bytes); above it numpy's int64 arithmetic would wrap around silently.
MAX_TOKENS = 10**10


def check_int(name: str, value: int, minimum: int = 1, maximum: int | None = None) -> None:
    """Refuse anything but an integer (not a bool) in ``[minimum, maximum]``, naming ``name``.

    Raises
    ------
    ValueError
        ``{name} must be an integer >= {minimum}, got {value!r}`` (or ``<= {maximum}``).

    >>> check_int("context_tokens", 2**40, maximum=MAX_TOKENS)
    Traceback (most recent call last):
    ...
    ValueError: context_tokens must be an integer <= 10,000,000,000, got 1099511627776
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum:,}, got {value!r}")


def check_tokens(context_tokens: int, batch: int = 1) -> None:
    """Refuse a context or a batch of contexts over :data:`MAX_TOKENS` tokens.

    Raises
    ------
    ValueError
        Naming ``context_tokens`` or ``batch`` and the limit.
    """
    check_int("context_tokens", context_tokens, maximum=MAX_TOKENS)
    check_int("batch", batch, maximum=MAX_TOKENS)
    if context_tokens * batch > MAX_TOKENS:
        raise ValueError(f"context_tokens x batch must be <= {MAX_TOKENS:,} tokens, got "
                         f"{context_tokens:,} x {batch:,}")


def _dtype(model: ModelSpec, dtype: str | None) -> str:
    name = model.kv_dtype if dtype is None else dtype
    if name not in KV_DTYPE_BYTES:
        raise ValueError(f"dtype must be one of {', '.join(KV_DTYPE_BYTES)}, got {name!r}")
    return name


# --- sizes -------------------------------------------------------------------------------------


def kv_bytes_per_token(model: ModelSpec, *, dtype: str | None = None) -> int:
    """KV bytes one token adds over all layers of one replica (logical, no replication).

    Notes
    -----
    ``B_tok = sum_layers e_layer * b_kv``; windowed layers count while the
    context is shorter than their window (Scout: 196,608 B with all layers counted).

    >>> from collectives.llm import load_model
    >>> ds = load_model("deepseek-v3")
    >>> kv_bytes_per_token(ds), kv_bytes_per_token(ds, dtype="fp8")
    (70272, 35136)
    """
    return model.num_layers * model.kv_elements_per_token * KV_DTYPE_BYTES[_dtype(model, dtype)]


@functools.lru_cache(maxsize=256)
def _windows(model: ModelSpec) -> np.ndarray:
    return np.asarray(model.layer_windows_tokens, dtype=np.int64)


def layer_kv_bytes(
    model: ModelSpec, context_tokens: int, *, dtype: str | None = None, page_tokens: int = 1
) -> np.ndarray:
    """KV bytes of each layer for one request of ``context_tokens`` (windowed layers capped).

    ``B_req(n) = sum_layers min(n, W_layer) * e_layer * b_kv``, tokens rounded up to whole pages
    of ``page_tokens``.
    """
    check_int("context_tokens", context_tokens, maximum=MAX_TOKENS)
    check_int("page_tokens", page_tokens, maximum=MAX_TOKENS)
    windows = _windows(model)
    kept = np.where(windows > 0, np.minimum(context_tokens, windows), context_tokens)
    kept = -(-kept // page_tokens) * page_tokens
    return kept * (model.kv_elements_per_token * KV_DTYPE_BYTES[_dtype(model, dtype)])


def stage_slices(num_layers: int, pp: int) -> list[slice]:
    """The layers of each of ``pp`` pipeline stages, as even as whole layers allow.

    >>> stage_slices(10, 3)
    [slice(0, 3, None), slice(3, 7, None), slice(7, 10, None)]
    """
    bounds = [round(s * num_layers / pp) for s in range(pp + 1)]
    return [slice(bounds[s], bounds[s + 1]) for s in range(pp)]


def _rank_fraction(model: ModelSpec, tp: int) -> float:
    """Share of a layer's KV one TP rank holds (replicated heads / MLA latents count fully)."""
    if model.num_attention_heads % tp:
        raise ValueError(
            f"tp must divide the {model.num_attention_heads} attention heads of "
            f"{model.key}, got {tp}"
        )
    if model.attention == "mla":
        return 1.0
    if model.num_kv_heads % tp and tp % model.num_kv_heads:
        raise ValueError(
            f"tp must divide or be a multiple of the {model.num_kv_heads} KV heads "
            f"of {model.key}, got {tp}"
        )
    return max(model.num_kv_heads // tp, 1) / model.num_kv_heads


@dataclass(frozen=True, slots=True, kw_only=True)
class KVSize:
    """KV-cache bytes of a batch of requests on one instance of ``tp x pp`` GPUs.

    ``kv_bytes`` is logical (one copy); ``kv_bytes_moved`` what the instance's GPUs hold and
    move, replication included; ``stage_bytes_per_gpu[s]`` what each TP GPU of PP stage ``s``
    holds; ``layer_bytes`` the logical bytes of each layer for the whole batch.
    """

    model: str
    context_tokens: int
    batch: int
    dtype: str
    tp: int
    pp: int
    kv_bytes_per_token: int
    kv_bytes: int
    kv_bytes_moved: int
    replication_factor: float
    kv_bytes_per_gpu: int
    stage_bytes_per_gpu: tuple[int, ...]
    layer_bytes: tuple[int, ...]

    @property
    def num_gpus(self) -> int:
        """GPUs of the instance."""
        return self.tp * self.pp

    def shards(self) -> list[int]:
        """Bytes per GPU in rank order (stage-major: GPU ``s * tp + r``)."""
        return [b for b in self.stage_bytes_per_gpu for _ in range(self.tp)]


def kv_size(
    model: ModelSpec,
    context_tokens: int,
    *,
    batch: int = 1,
    dtype: str | None = None,
    tp: int = 1,
    pp: int = 1,
    page_tokens: int = 1,
) -> KVSize:
    """KV-cache size of ``batch`` requests of ``context_tokens`` under TP x PP.

    Parameters
    ----------
    model
        The model.
    context_tokens, batch
        Tokens per request and requests.
    dtype
        KV dtype (``bf16``, ``fp8``...); None for the model's default.
    tp, pp
        Tensor- and pipeline-parallel degrees of the instance holding the cache.
    page_tokens
        Page (block) size in tokens; contexts round up to whole pages.

    Returns
    -------
    KVSize

    Raises
    ------
    ValueError
        If a count is not a positive integer, ``tp`` does not divide the attention heads (or
        neither divides nor is a multiple of the KV heads), or ``pp`` exceeds the layers.

    Notes
    -----
    Replication: GQA ranks hold ``max(H_kv / tp, 1)`` heads, so
    ``R_tp = max(1, tp / H_kv)``; an MLA latent is held whole on every TP rank, ``R_tp = tp``.
    PP stages hold contiguous, near-equal runs of layers.

    >>> from collectives.llm import load_model
    >>> s = kv_size(load_model("qwen3-235b-a22b"), 32768, tp=8)  # Mooncake SGLang PD: 12.62 GB
    >>> s.kv_bytes_moved, s.replication_factor
    (12616466432, 2.0)
    """
    check_tokens(context_tokens, batch)
    check_int("tp", tp, maximum=MAX_TOKENS)
    check_int("pp", pp)
    if pp > model.num_layers:
        raise ValueError(f"pp must be <= the {model.num_layers} layers of {model.key}, got {pp}")
    layers = layer_kv_bytes(model, context_tokens, dtype=dtype, page_tokens=page_tokens) * batch
    fraction = _rank_fraction(model, tp)
    stage = [int(round(layers[s].sum() * fraction)) for s in stage_slices(model.num_layers, pp)]
    logical = int(layers.sum())
    moved = sum(stage) * tp
    return KVSize(
        model=model.key,
        context_tokens=context_tokens,
        batch=batch,
        dtype=_dtype(model, dtype),
        tp=tp,
        pp=pp,
        kv_bytes_per_token=kv_bytes_per_token(model, dtype=dtype),
        kv_bytes=logical,
        kv_bytes_moved=moved,
        replication_factor=moved / logical,
        kv_bytes_per_gpu=max(stage),
        stage_bytes_per_gpu=tuple(stage),
        layer_bytes=tuple(int(b) for b in layers),
    )


# --- prefill compute ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Compute:
    """GPUs computing a prefill: ``num_gpus`` x ``peak_flops`` x ``mfu`` FLOP/s."""

    gpu: str
    num_gpus: int
    peak_flops: float
    mfu: float

    def __post_init__(self) -> None:
        check_int("num_gpus", self.num_gpus)
        if not self.peak_flops > 0:
            raise ValueError(f"peak_flops must be > 0, got {self.peak_flops!r}")
        if not 0 < self.mfu <= 1:
            raise ValueError(f"mfu must be in (0, 1], got {self.mfu!r}")

    @property
    def flops_per_s(self) -> float:
        """Effective FLOP/s of the instance."""
        return self.num_gpus * self.peak_flops * self.mfu


def compute_for(
    gpu: str = "h100", *, num_gpus: int = 8, mfu: float = 0.5, catalog: Catalog | None = None
) -> Compute:
    """A :class:`Compute` from the catalog's dense BF16 peak of ``gpu``.

    >>> compute_for("l40s", num_gpus=4, mfu=0.3).flops_per_s  # scenario A: 4.34e14
    434400000000000.0
    """
    catalog = catalog or default_catalog()
    return Compute(gpu=gpu, num_gpus=num_gpus, peak_flops=catalog.gpus[gpu].peak_flops, mfu=mfu)


@functools.lru_cache(maxsize=256)
def _layer_kinds(model: ModelSpec) -> tuple[np.ndarray, tuple[tuple[int, bool], ...]]:
    """Each layer's index into the model's distinct (window, chunked) kinds, and those kinds."""
    per_layer = [
        (w, t == "chunked_attention")
        for w, t in zip(model.layer_windows_tokens, model.layer_types, strict=True)
    ]
    kinds = tuple(dict.fromkeys(per_layer))
    return np.array([kinds.index(k) for k in per_layer]), kinds


def _attention_pairs(n: int, window: int, chunked: bool) -> float:
    """(query, key) pairs of a causal layer over ``n`` tokens: full, sliding or chunked."""
    if window == 0 or n <= window:
        return n * (n + 1) / 2
    if chunked:
        q, r = divmod(n, window)
        return q * window * (window + 1) / 2 + r * (r + 1) / 2
    return window * (window + 1) / 2 + (n - window) * window


def _layer_flops(
    model: ModelSpec, context_tokens: int, cached_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer (linear, attention) FLOPs of computing tokens cached..context of one request."""
    nonembed = model.num_params_active_nonembedding
    if nonembed is None:
        raise ValueError(
            f"model {model.key!r} has no parameter count; its description needs "
            f"intermediate_size and vocab_size, or num_params_active"
        )
    new = context_tokens - cached_tokens
    linear = np.full(model.num_layers, 2.0 * nonembed / model.num_layers * new)
    index, kinds = _layer_kinds(model)
    per_pair = 2.0 * model.num_attention_heads * (model.head_dim + model.v_head_dim)
    pairs = np.array(
        [
            _attention_pairs(context_tokens, w, c) - _attention_pairs(cached_tokens, w, c)
            for w, c in kinds
        ]
    )
    return linear, per_pair * pairs[index]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prefill:
    """Prefill FLOPs and time of ``batch`` requests (tokens ``cached_tokens..context_tokens``)."""

    context_tokens: int
    cached_tokens: int
    batch: int
    linear_flops: float
    attention_flops: float
    flops_per_s: float
    layer_time_s: tuple[float, ...]

    @property
    def total_flops(self) -> float:
        """Linear plus attention FLOPs."""
        return self.linear_flops + self.attention_flops

    @property
    def time_s(self) -> float:
        """Prefill time: FLOPs over effective FLOP/s."""
        return self.total_flops / self.flops_per_s


def prefill_flops(
    model: ModelSpec, context_tokens: int, *, cached_tokens: int = 0, batch: int = 1
) -> tuple[float, float]:
    """(linear, attention) FLOPs of prefilling ``context_tokens`` given a cached prefix.

    Notes
    -----
    ``F(n|p) = 2 N_active_nonembed (n - p) + sum_layers 2 H_q (d_qk + d_v)
    (K(n) - K(p))``, with ``K`` the causal (query, key) pairs: ``n(n+1)/2`` for full layers,
    ``~n W`` for sliding windows, ``~n W / 2`` for chunks (exact sums here). For GQA this is
    the usual ``2 d_attn n^2``; for MLA ``d_qk = nope + rope``.

    >>> from collectives.llm import load_model
    >>> lin, att = prefill_flops(load_model("llama-3.1-70b"), 10**6)   # 1.37e17, 1.31e18
    >>> f"{lin:.3g} {att:.3g}"
    '1.37e+17 1.31e+18'
    """
    check_tokens(context_tokens, batch)
    check_int("cached_tokens", cached_tokens, 0)
    if cached_tokens > context_tokens:
        raise ValueError(
            f"cached_tokens must be <= context_tokens {context_tokens}, got {cached_tokens}"
        )
    linear, attention = _layer_flops(model, context_tokens, cached_tokens)
    return float(linear.sum()) * batch, float(attention.sum()) * batch


def prefill(
    model: ModelSpec,
    context_tokens: int,
    *,
    compute: Compute,
    cached_tokens: int = 0,
    batch: int = 1,
) -> Prefill:
    """Prefill time from FLOPs at ``compute``'s effective rate.

    >>> from collectives.llm import load_model
    >>> l40s = compute_for("l40s", num_gpus=4, mfu=0.3)
    >>> p = prefill(load_model("llama-4-scout"), 10**6, compute=l40s)
    >>> round(p.time_s / 60, 1)   # scenario A (Lightbits' 1M figure): 6.0 min
    6.0
    """
    prefill_flops(model, context_tokens, cached_tokens=cached_tokens, batch=batch)  # validates
    lin, att = _layer_flops(model, context_tokens, cached_tokens)
    layer_time = (lin + att) * batch / compute.flops_per_s
    return Prefill(
        context_tokens=context_tokens,
        cached_tokens=cached_tokens,
        batch=batch,
        linear_flops=float(lin.sum()) * batch,
        attention_flops=float(att.sum()) * batch,
        flops_per_s=compute.flops_per_s,
        layer_time_s=tuple(layer_time.tolist()),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakEven:
    """Load bandwidth at which fetching the KV cache takes as long as recomputing it."""

    context_tokens: int
    kv_bytes_moved: int
    recompute_time_s: float
    bandwidth_bytes_per_s: float


def breakeven_bandwidth(
    model: ModelSpec,
    context_tokens: int,
    *,
    compute: Compute,
    tp: int = 1,
    pp: int = 1,
    batch: int = 1,
    dtype: str | None = None,
) -> BreakEven:
    """``B_breakeven(p) = B_moved(p) / T_recompute(p)`` (after Mooncake, FAST 2025, Eq. 2).

    Falls as O(1/n) with context: compute is O(n^2), bytes O(n).

    >>> from collectives.llm import load_model
    >>> c = compute_for("h100", num_gpus=8, mfu=0.5)
    >>> b = breakeven_bandwidth(load_model("llama-3.1-70b"), 10**6, compute=c, tp=8)
    >>> round(b.bandwidth_bytes_per_s / 1e9, 1)
    0.9
    """
    size = kv_size(model, context_tokens, batch=batch, dtype=dtype, tp=tp, pp=pp)
    t = prefill(model, context_tokens, compute=compute, batch=batch).time_s
    return BreakEven(
        context_tokens=context_tokens,
        kv_bytes_moved=size.kv_bytes_moved,
        recompute_time_s=t,
        bandwidth_bytes_per_s=size.kv_bytes_moved / t,
    )
