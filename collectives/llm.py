"""Model descriptions for the KV-cache model: layers, attention kind per layer, heads, parameters.

A :class:`ModelSpec` holds what the KV sizes and the prefill FLOPs depend on. It is built from
Hugging Face ``config.json`` fields (their HF names), so the built-in models
(``collectives/data/models.toml``, each with its source) and a user's ``config.json`` or YAML of
the same fields go through one parser and give the same answer.

>>> m = load_model("llama-3.1-70b")
>>> m.num_layers, m.num_kv_heads, m.head_dim, m.kv_elements_per_token
(80, 8, 128, 2048)
>>> scout = load_model("llama-4-scout")
>>> scout.num_global_layers, scout.num_local_layers, scout.layer_windows_tokens[0]
(12, 36, 8192)
>>> round(scout.num_params_active_nonembedding / 1e9, 1)
15.1
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "KV_DTYPE_BYTES",
    "LAYER_TYPES",
    "WEIGHT_DTYPE_BYTES",
    "ModelSpec",
    "model_from_config",
    "builtin_models",
    "load_model",
    "known_models",
]

#: Bytes per KV element for each KV-cache dtype (``b_kv`` in ``2 H_kv d_head b_kv``).
KV_DTYPE_BYTES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1, "int8": 1}
#: Bytes per parameter of each weight dtype (4-bit formats pack two per byte; their scales are
#: left out).
WEIGHT_DTYPE_BYTES: dict[str, float] = {**KV_DTYPE_BYTES, "fp4": 0.5, "int4": 0.5}
#: Attention kinds per layer, named as in HF ``layer_types``.
LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")

_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32",
                 "float": "fp32", "float8_e4m3fn": "fp8", "bf16": "bf16", "fp16": "fp16",
                 "fp32": "fp32", "fp8": "fp8", "int8": "int8"}
_UNGATED_MLP = {"opt", "gpt2", "gpt_neox", "gptj", "bloom", "falcon", "gpt_bigcode"}
#: ``quantization_config`` values that name an 8-bit float format (HF transformers' FP8 and
#: FBGEMM-FP8 methods; DeepSeek-V3's ``"fmt": "e4m3"``).
_FP8_METHODS = {"fp8", "fbgemm_fp8"}
_FP8_FORMATS = {"e4m3", "e5m2", "float8_e4m3fn", "float8_e5m2"}
#: The published checkpoints' ``quantization_config`` of built-in models whose entry in
#: ``collectives/data/models.toml`` leaves it out: DeepSeek-V3 is published in FP8
#: (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json, 2024-12).
_PUBLISHED_QUANTIZATION: dict[str, dict[str, Any]] = {
    "deepseek-v3": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                    "weight_block_size": [128, 128]},
}


def _positive_int(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """One transformer's KV-relevant architecture and parameter counts.

    Attributes
    ----------
    key, name, source
        Short name (``llama-3.1-70b``), display name, and where the figures come from.
    num_layers, num_attention_heads, num_kv_heads
        Decoder layers, query heads and KV heads (``num_kv_heads == num_attention_heads``: MHA;
        fewer: GQA). For MLA, ``num_kv_heads`` is the head count of the decompressed K/V.
    head_dim, v_head_dim
        Per-head width of K (and Q) and of V. For MLA ``head_dim`` is qk_nope + qk_rope.
    hidden_size
        Model width.
    attention
        ``"gqa"`` (covers MHA) or ``"mla"`` (DeepSeek-V2/V3 latent attention).
    kv_lora_rank, qk_rope_head_dim
        MLA latent width and decoupled RoPE key width (0 for GQA).
    layer_types
        One of :data:`LAYER_TYPES` per layer.
    sliding_window_tokens, attention_chunk_tokens
        Window of ``sliding_attention`` layers and chunk of ``chunked_attention`` layers
        (0 when the model has none).
    kv_dtype
        Default KV-cache dtype, a key of :data:`KV_DTYPE_BYTES`.
    num_params_total, num_params_active, num_params_embedding
        Parameter counts (``None`` when the description lacks what they need); active counts
        the experts a token uses (MoE); embedding counts the input embedding and the LM head.
    weight_dtype
        The published weights' dtype when a ``quantization_config`` gives it (``fp8``,
        ``int8``, ``int4``), a key of :data:`WEIGHT_DTYPE_BYTES`; None: ``kv_dtype``
        (``torch_dtype``).
    weight_dtype_note
        What was read of ``quantization_config`` (or why it was not); empty without one.
    """

    key: str
    name: str
    source: str = ""
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    hidden_size: int
    attention: str = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    layer_types: tuple[str, ...]
    sliding_window_tokens: int = 0
    attention_chunk_tokens: int = 0
    kv_dtype: str = "bf16"
    num_params_total: float | None = None
    num_params_active: float | None = None
    num_params_embedding: float | None = None
    weight_dtype: str | None = None
    weight_dtype_note: str = ""

    def __post_init__(self) -> None:
        owner = f"model {self.key!r}"
        for name in ("num_layers", "num_attention_heads", "num_kv_heads", "head_dim",
                     "v_head_dim", "hidden_size"):
            _positive_int(owner, name, getattr(self, name))
        for name in ("kv_lora_rank", "qk_rope_head_dim", "sliding_window_tokens",
                     "attention_chunk_tokens"):
            _positive_int(owner, name, getattr(self, name), allow_zero=True)
        if self.attention not in ("gqa", "mla"):
            raise ValueError(f"{owner}: attention must be 'gqa' or 'mla', got {self.attention!r}")
        if self.attention == "mla" and self.kv_lora_rank < 1:
            raise ValueError(f"{owner}: an MLA model needs kv_lora_rank >= 1, "
                             f"got {self.kv_lora_rank}")
        heads, kv_heads = self.num_attention_heads, self.num_kv_heads
        if kv_heads > heads or heads % kv_heads:
            raise ValueError(f"{owner}: num_kv_heads must divide num_attention_heads, got "
                             f"{self.num_kv_heads} KV heads for {self.num_attention_heads} heads")
        if len(self.layer_types) != self.num_layers:
            raise ValueError(f"{owner}: layer_types must have num_layers = {self.num_layers} "
                             f"entries, got {len(self.layer_types)}")
        for kind in set(self.layer_types):
            if kind not in LAYER_TYPES:
                raise ValueError(f"{owner}: layer type {kind!r} is not supported; use one of "
                                 f"{', '.join(LAYER_TYPES)}")
        if "sliding_attention" in self.layer_types and self.sliding_window_tokens < 1:
            raise ValueError(f"{owner}: sliding_attention layers need sliding_window_tokens >= 1")
        if "chunked_attention" in self.layer_types and self.attention_chunk_tokens < 1:
            raise ValueError(f"{owner}: chunked_attention layers need attention_chunk_tokens >= 1")
        if self.kv_dtype not in KV_DTYPE_BYTES:
            raise ValueError(f"{owner}: kv_dtype must be one of {', '.join(KV_DTYPE_BYTES)}, "
                             f"got {self.kv_dtype!r}")
        for name in ("num_params_total", "num_params_active", "num_params_embedding"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
        if self.weight_dtype is not None and self.weight_dtype not in WEIGHT_DTYPE_BYTES:
            raise ValueError(f"{owner}: weight_dtype must be one of "
                             f"{', '.join(WEIGHT_DTYPE_BYTES)}, got {self.weight_dtype!r}")

    @property
    def default_weight_dtype(self) -> str:
        """The weights' dtype as published: :attr:`weight_dtype`, else :attr:`kv_dtype`."""
        return self.weight_dtype or self.kv_dtype

    @property
    def kv_elements_per_token(self) -> int:
        """KV elements one token adds in one layer.

        GQA/MHA: ``H_kv * (d_k + d_v)``; MLA: ``kv_lora_rank + qk_rope_head_dim`` (one latent).
        """
        if self.attention == "mla":
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.num_kv_heads * (self.head_dim + self.v_head_dim)

    @property
    def layer_windows_tokens(self) -> tuple[int, ...]:
        """Tokens each layer keeps: its window or chunk, 0 for full attention (keeps all)."""
        window = {"full_attention": 0, "sliding_attention": self.sliding_window_tokens,
                  "chunked_attention": self.attention_chunk_tokens}
        return tuple(window[kind] for kind in self.layer_types)

    @property
    def num_global_layers(self) -> int:
        """Full-attention layers (their KV grows with the context)."""
        return self.layer_types.count("full_attention")

    @property
    def num_local_layers(self) -> int:
        """Sliding-window and chunked layers (their KV is capped at the window)."""
        return self.num_layers - self.num_global_layers

    @property
    def attention_kind(self) -> str:
        """``MHA``, ``GQA`` or ``MLA``, with ``+sliding``/``+chunked`` for hybrid models."""
        kind = "MLA" if self.attention == "mla" else (
            "MHA" if self.num_kv_heads == self.num_attention_heads else "GQA")
        extra = sorted({t.split("_")[0] for t in self.layer_types} - {"full"})
        return "+".join([kind, *extra])

    @property
    def num_params_active_nonembedding(self) -> float | None:
        """Active parameters without embedding and LM head: the ``N`` of ``2*N*n``."""
        if self.num_params_active is None or self.num_params_embedding is None:
            return None
        return self.num_params_active - self.num_params_embedding


# --- parsing HF configs ------------------------------------------------------------------------


class _Fields:
    """A config mapping that names its origin in every error."""

    def __init__(self, raw: Mapping[str, Any], origin: str) -> None:
        self.raw = raw
        self.origin = origin

    def get(self, name: str, default: Any = None) -> Any:
        value = self.raw.get(name)
        return default if value is None else value

    def int(self, name: str, default: int | None = None, *, allow_zero: bool = False) -> int:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                raise ValueError(f"{self.origin}: field {name!r} is missing")
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        low = 0 if allow_zero else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{self.origin}: field {name!r} must be an integer >= {low}, "
                             f"got {value!r}")
        return value


def _layer_types(f: _Fields, num_layers: int) -> tuple[str, ...]:
    """Per-layer attention kind from HF ``layer_types`` / Llama-4 / sliding-window fields."""
    given = f.get("layer_types")
    if given is not None:
        if not isinstance(given, list) or len(given) != num_layers:
            raise ValueError(f"{f.origin}: field 'layer_types' must list {num_layers} layer "
                             f"types, got {given!r:.80}")
        for kind in given:
            if kind not in LAYER_TYPES:
                raise ValueError(f"{f.origin}: field 'layer_types' has {kind!r}; supported: "
                                 f"{', '.join(LAYER_TYPES)}")
        return tuple(given)
    if f.get("attention_chunk_size") is not None:
        # Llama 4: layers that use RoPE are chunked, NoPE layers are global. An empty
        # no_rope_layers is derived from no_rope_layer_interval (transformers Llama4TextConfig).
        flags = f.get("no_rope_layers") or []
        if not flags:
            interval = f.int("no_rope_layer_interval", 4)
            flags = [int((i + 1) % interval != 0) for i in range(num_layers)]
        if not isinstance(flags, list) or len(flags) != num_layers:
            raise ValueError(f"{f.origin}: field 'no_rope_layers' must have {num_layers} entries")
        return tuple("chunked_attention" if flag else "full_attention" for flag in flags)
    window = f.get("sliding_window")
    if window is not None and f.get("use_sliding_window", True):
        # Qwen2 style: layers from max_window_layers on use the window; Mistral: every layer.
        first = f.int("max_window_layers", 0, allow_zero=True)
        return tuple("sliding_attention" if i >= first else "full_attention"
                     for i in range(num_layers))
    return ("full_attention",) * num_layers


def _attention_params(f: _Fields, mla: bool, hidden: int, heads: int, kv_heads: int,
                      head_dim: int, v_dim: int) -> int:
    if not mla:
        return hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + heads * v_dim * hidden
    rope = f.int("qk_rope_head_dim")
    nope = f.int("qk_nope_head_dim")
    q_lora = f.int("q_lora_rank", 0, allow_zero=True)
    rank = f.int("kv_lora_rank")
    q_in = q_lora or hidden
    q = hidden * q_lora + q_in * heads * (nope + rope)
    return q + hidden * (rank + rope) + rank * heads * (nope + v_dim) + heads * v_dim * hidden


def _quantization(f: _Fields) -> tuple[str | None, str]:
    """(weight dtype, note) from ``quantization_config``: an FP8 method or format gives
    ``fp8`` (1 byte per weight; block scales left out), ``bits`` 8 or 4 gives ``int8`` or
    ``int4``; other methods leave the weights in ``torch_dtype`` and the note says so."""
    q = f.get("quantization_config")
    if q is None:
        return None, ""
    if not isinstance(q, Mapping):
        raise ValueError(f"{f.origin}: field 'quantization_config' must be a mapping, "
                         f"got {q!r:.80}")
    method = str(q.get("quant_method", "")).lower()
    fmt = str(q.get("fmt", "")).lower()
    bits = q.get("bits")
    read = ", ".join(f"{k} {v!r}" for k, v in (("quant_method", method), ("fmt", fmt),
                                                ("bits", bits)) if v not in ("", None))
    if method in _FP8_METHODS or fmt in _FP8_FORMATS:
        return "fp8", f"quantization_config {read}: fp8 weights"
    if bits in (4, 8) and not isinstance(bits, bool):
        dtype = "int4" if bits == 4 else "int8"
        return dtype, f"quantization_config {read}: {dtype} weights"
    return None, (f"quantization_config {read or 'without quant_method'} not read (no byte "
                  f"width given): weights counted in torch_dtype")


def _mlp_params(f: _Fields, num_layers: int, hidden: int) -> tuple[float, float] | None:
    """(total, active) MLP parameters over all layers, or None if the fields are missing."""
    if f.get("intermediate_size") is None:
        return None
    matrices = 2 if f.get("model_type") in _UNGATED_MLP else 3
    dense = f.int("intermediate_size")
    experts = f.get("num_local_experts") or f.get("num_experts") or f.get("n_routed_experts")
    if not experts:
        per_layer = matrices * hidden * dense
        return float(per_layer * num_layers), float(per_layer * num_layers)
    experts = f.int("num_local_experts" if f.get("num_local_experts") else
                    "num_experts" if f.get("num_experts") else "n_routed_experts")
    top_k = f.int("num_experts_per_tok")
    expert = f.int("moe_intermediate_size", dense)
    shared = f.int("n_shared_experts", 0, allow_zero=True) * expert
    shared += f.int("shared_expert_intermediate_size", 0, allow_zero=True)
    model_type = str(f.get("model_type", ""))
    if model_type.startswith("llama4"):
        shared = expert  # one shared expert of intermediate_size per MoE layer
        dense = f.int("intermediate_size_mlp", dense)
        step = f.int("interleave_moe_layer_step", 1)
        moe_layers = [(i + 1) % step == 0 for i in range(num_layers)]
    elif f.get("first_k_dense_replace") is not None:
        first = f.int("first_k_dense_replace", allow_zero=True)
        freq = f.int("moe_layer_freq", 1)
        moe_layers = [i >= first and i % freq == 0 for i in range(num_layers)]
    else:
        step = f.int("decoder_sparse_step", 1)
        only_mlp = set(f.get("mlp_only_layers", []))
        moe_layers = [(i + 1) % step == 0 and i not in only_mlp for i in range(num_layers)]
    num_moe = sum(moe_layers)
    dense_total = (num_layers - num_moe) * matrices * hidden * dense
    router = hidden * experts
    moe_total = num_moe * (matrices * hidden * (experts * expert + shared) + router)
    moe_active = num_moe * (matrices * hidden * (top_k * expert + shared) + router)
    return float(dense_total + moe_total), float(dense_total + moe_active)


def model_from_config(
    config: Mapping[str, Any],
    *,
    key: str,
    name: str | None = None,
    source: str = "",
    origin: str | None = None,
) -> ModelSpec:
    """Build a :class:`ModelSpec` from Hugging Face ``config.json`` fields.

    Parameters
    ----------
    config
        The HF fields: ``num_hidden_layers``, ``num_attention_heads``, ``hidden_size``
        (required); ``num_key_value_heads`` (HF default: as many as attention heads),
        ``head_dim`` (default ``hidden_size / num_attention_heads``), ``v_head_dim``,
        ``kv_lora_rank`` / ``qk_rope_head_dim`` / ``qk_nope_head_dim`` (MLA), ``layer_types``,
        ``sliding_window`` / ``use_sliding_window`` / ``max_window_layers``,
        ``attention_chunk_size`` / ``no_rope_layers`` / ``no_rope_layer_interval`` (Llama 4),
        ``torch_dtype``, ``quantization_config`` (the weights' dtype: ``quant_method``
        ``fp8`` or ``fmt`` ``e4m3`` gives fp8, ``bits`` 8 / 4 int8 / int4); for parameter
        counts ``intermediate_size``, ``vocab_size``, ``tie_word_embeddings`` and the MoE
        fields (``num_local_experts`` / ``num_experts`` / ``n_routed_experts``,
        ``num_experts_per_tok``, ``moe_intermediate_size``, ...). A nested ``text_config``
        (Llama 4, multimodal models) is read in place of the top level.
        ``num_params_total`` / ``num_params_active`` / ``num_params_embedding`` override the
        estimate.
    key, name, source
        Short name, display name and provenance of the result.
    origin
        What to name in errors (the file); defaults to ``key``.

    Returns
    -------
    ModelSpec

    Raises
    ------
    ValueError
        One line naming the origin and the missing or invalid field.

    Notes
    -----
    Parameters are estimated from the matrices of attention (GQA or MLA with its LoRA
    projections), a gated MLP (3 matrices; 2 for OPT/GPT-style), MoE experts plus shared experts
    and router, and the embedding (twice unless tied); norms and biases are left out (< 0.1%).
    """
    origin = origin or key
    if not isinstance(config, Mapping):
        raise ValueError(f"{origin}: expected a mapping of config fields, "
                         f"got {type(config).__name__}")
    raw = dict(config)
    text = raw.get("text_config")
    if isinstance(text, Mapping):
        raw = {**{k: v for k, v in raw.items() if k != "text_config"}, **text}
    f = _Fields(raw, origin)
    num_layers = f.int("num_hidden_layers")
    heads = f.int("num_attention_heads")
    hidden = f.int("hidden_size")
    kv_heads = f.int("num_key_value_heads", heads)
    mla = f.get("kv_lora_rank") is not None
    if mla:
        head_dim = f.int("qk_nope_head_dim") + f.int("qk_rope_head_dim")
        v_dim = f.int("v_head_dim")
    else:
        if f.get("head_dim") is None and hidden % heads:
            raise ValueError(f"{origin}: field 'head_dim' is missing and hidden_size {hidden} is "
                             f"not a multiple of num_attention_heads {heads}")
        head_dim = f.int("head_dim", hidden // heads)
        v_dim = f.int("v_head_dim", head_dim)
    dtype_name = str(f.get("kv_dtype", f.get("torch_dtype", "bfloat16"))).lower()
    if dtype_name not in _TORCH_DTYPES:
        raise ValueError(f"{origin}: field 'torch_dtype' {dtype_name!r} is not supported; use "
                         f"one of {', '.join(sorted(_TORCH_DTYPES))}")
    layer_types = _layer_types(f, num_layers)
    weight_dtype, weight_note = _quantization(f)
    mlp = _mlp_params(f, num_layers, hidden)
    total = active = embedding = None
    if mlp is not None and f.get("vocab_size") is not None:
        attn = num_layers * _attention_params(f, mla, hidden, heads, kv_heads, head_dim, v_dim)
        tied = f.get("tie_word_embeddings", True)
        embedding = float(f.int("vocab_size") * hidden * (1 if tied else 2))
        total = attn + mlp[0] + embedding
        active = attn + mlp[1] + embedding
    for field_name in ("num_params_total", "num_params_active", "num_params_embedding"):
        value = f.get(field_name)
        if isinstance(value, str):  # YAML 1.1 reads 1.0e8 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{origin}: field {field_name!r} must be a number >= 0, "
                                 f"got {value!r}")
            if field_name == "num_params_total":
                total = float(value)
            elif field_name == "num_params_active":
                active = float(value)
            else:
                embedding = float(value)
    if active is None and total is not None:
        active = total
    experts = f.get("num_local_experts") or f.get("num_experts") or f.get("n_routed_experts")
    if total is None and active is not None and not experts:
        total = active  # a dense model uses every parameter for each token
    if active is not None and embedding is None:
        embedding = 0.0
    try:
        return ModelSpec(
            key=key, name=name or key, source=source, num_layers=num_layers,
            num_attention_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, v_head_dim=v_dim,
            hidden_size=hidden, attention="mla" if mla else "gqa",
            kv_lora_rank=f.int("kv_lora_rank") if mla else 0,
            qk_rope_head_dim=f.int("qk_rope_head_dim") if mla else 0,
            layer_types=layer_types,
            sliding_window_tokens=f.int("sliding_window", 0, allow_zero=True)
            if "sliding_attention" in layer_types else 0,
            attention_chunk_tokens=f.int("attention_chunk_size", 0, allow_zero=True),
            kv_dtype=_TORCH_DTYPES[dtype_name], num_params_total=total, num_params_active=active,
            num_params_embedding=embedding, weight_dtype=weight_dtype,
            weight_dtype_note=weight_note,
        )
    except ValueError as err:
        raise ValueError(f"{origin}: {err}") from err


# --- built-ins and loaders ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _builtin_raw() -> dict[str, Any]:
    text = resources.files("collectives").joinpath("data/models.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["models"]


@functools.lru_cache(maxsize=1)
def builtin_models() -> dict[str, ModelSpec]:
    """The built-in models by key (``collectives/data/models.toml``), each with its source."""
    out = {}
    for key, entry in _builtin_raw().items():
        config = dict(entry["config"])
        if key in _PUBLISHED_QUANTIZATION and "quantization_config" not in config:
            config["quantization_config"] = _PUBLISHED_QUANTIZATION[key]
        out[key] = model_from_config(config, key=key, name=entry["name"],
                                     source=entry["source"], origin=f"built-in model {key!r}")
    return out


def known_models() -> list[str]:
    """Keys of the built-in models, sorted."""
    return sorted(builtin_models())


def _aliases() -> dict[str, str]:
    table = {}
    for key, entry in _builtin_raw().items():
        table[key] = key
        table[entry["name"].lower()] = key
        table[entry["hf_repo"].lower()] = key
        table[entry["hf_repo"].split("/")[-1].lower()] = key
    return table


#: A config.json holds a few hundred values (a ``layer_types`` list per layer at most); a parsed
#: file with more is refused before any field is read. This bounds a YAML alias bomb
#: ("billion laughs": a few lines that expand to 10^9 strings when walked) to a fixed cost.
MAX_CONFIG_VALUES = 100_000
#: Deeper nesting than this is refused (a Hugging Face config nests 2-3 levels).
MAX_CONFIG_DEPTH = 64


def _check_config_size(path: Path, data: Any) -> None:
    """Refuse a parsed config with more than MAX_CONFIG_VALUES values or MAX_CONFIG_DEPTH levels.

    The walk counts every value as often as it is reached (an alias counts each time it is
    used), with an explicit stack, and stops at the first value over the budget: its cost is
    bounded whatever the file holds.
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_VALUES:
            raise ValueError(f"{path}: more than {MAX_CONFIG_VALUES:,} values (YAML aliases "
                             f"count each time they are used); not a model config")
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels; not a model "
                             f"config")
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def _load_file(path: Path) -> ModelSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read model file {str(path)!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file") from err
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
        except (RecursionError, ValueError, TypeError, OverflowError) as err:
            # absurd nesting; scalar constructors (an impossible date, a huge number)
            raise ValueError(f"{path}: not valid YAML: "
                             f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                             ) from err
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err.msg} at line {err.lineno} "
                             f"column {err.colno}") from err
        except RecursionError as err:
            raise ValueError(f"{path}: not valid JSON: nested too deeply") from err
        except ValueError as err:  # e.g. an integer with more digits than Python converts
            raise ValueError(f"{path}: not valid JSON: {str(err).splitlines()[0]}") from err
    _check_config_size(path, data)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of config fields, got {type(data).__name__}")
    key = str(data.get("name") or data.get("_name_or_path") or path.stem)
    return model_from_config(data, key=key, name=key, source=str(path), origin=str(path))


def load_model(name_or_path: str | Path) -> ModelSpec:
    """A built-in model by name, or a model described by a config file.

    Parameters
    ----------
    name_or_path
        A built-in key (``llama-3.1-70b``), its display name or Hugging Face repo id
        (case-insensitive), or the path of a Hugging Face ``config.json`` or of a YAML file
        (``.yaml``/``.yml``) with the same fields.

    Returns
    -------
    ModelSpec

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or a malformed file (one line
        naming the file and the field).

    >>> load_model("Qwen/Qwen2.5-7B").key
    'qwen2.5-7b'
    """
    text = str(name_or_path)
    path = Path(text)
    if isinstance(name_or_path, Path) or path.suffix.lower() in (".json", ".yaml", ".yml") \
            or path.is_file():
        return _load_file(path)
    key = _aliases().get(text.strip().lower())
    if key is None:
        raise ValueError(f"unknown model {text!r}; known models: {', '.join(known_models())} "
                         f"(or give a config.json / YAML path)")
    return builtin_models()[key]
