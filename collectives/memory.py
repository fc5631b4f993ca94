"""What one GPU of an inference instance holds: its share of the weights, the KV cache and the
activations of one prefill step.

* **Weights**: every parameter (embedding and LM head included) in ``weight_dtype``, split
  evenly over the instance's TP x PP GPUs (experts too: expert parallelism spreads them over the
  same GPUs).
* **KV cache**: :func:`collectives.prefill.kv_size`'s bytes per GPU (the caller passes them).
* **Activations**: the working set of one layer for the tokens of one forward pass, which is a
  prefill chunk, or the request's tokens (context x batch) when there are fewer (inference
  keeps no activations for a backward pass, and a pipeline stage runs one layer at a time):
  the residual stream and its normalized copy, the attention output and the layer output
  (4 x hidden, replicated over TP), this GPU's query/key/value heads, and the MLP's two
  intermediate tensors (gate and up, split by TP). The MLP width is estimated from the
  active parameters as ``(active - embedding) / (3 x hidden x layers)``, counting the attention
  parameters as MLP: about 20% over the true width for Llama 3.1 405B (65k against 53,248), so
  the estimate errs on the side of not fitting.
* **Usable memory** is 90% of the GPU's: vLLM's ``gpu_memory_utilization`` default, which leaves
  the rest to the CUDA context, NCCL buffers and fragmentation (vLLM engine arguments,
  https://docs.vllm.ai/en/stable/configuration/engine_args.html, 2025).
* **Prefill chunk**: 8,192 tokens by default, vLLM V1's ``max_num_batched_tokens`` for its
  OpenAI-compatible server on GPUs with at least 70 GiB other than A100 (2,048 on smaller ones;
  vllm-project/vllm ``vllm/engine/arg_utils.py``, 2025; chunked prefill:
  https://docs.vllm.ai/en/stable/configuration/optimization.html).

>>> from collectives.llm import load_model
>>> m = load_model("llama-3.1-405b")
>>> round(weight_bytes_per_gpu(m, "bf16", tp=8, pp=1) / 1e9, 1)
101.5
"""

from __future__ import annotations

from dataclasses import dataclass

from collectives.llm import WEIGHT_DTYPE_BYTES, ModelSpec

__all__ = [
    "DEFAULT_PREFILL_CHUNK_TOKENS",
    "USABLE_FRACTION",
    "WEIGHT_DTYPE_BYTES",
    "GpuMemory",
    "activation_bytes_per_gpu",
    "gpu_memory",
    "prefill_pass_tokens",
    "weight_bytes_per_gpu",
]

#: Share of a GPU's memory a serving engine uses (vLLM's gpu_memory_utilization default).
USABLE_FRACTION = 0.9
#: Tokens of one prefill forward pass (vLLM V1's max_num_batched_tokens for its server on
#: 70 GiB-class GPUs; 2,048 on smaller ones).
DEFAULT_PREFILL_CHUNK_TOKENS = 8192
_ACTIVATION_BYTES = 2  # bf16 activations


def prefill_pass_tokens(chunk_tokens: int, max_tokens: int) -> int:
    """Tokens one prefill forward pass holds: the chunk, or fewer when the request(s) have
    fewer (``max_tokens``: context x batch).

    >>> prefill_pass_tokens(8192, 1000), prefill_pass_tokens(131072, 8192)
    (1000, 8192)
    """
    for name, value in (("chunk_tokens", chunk_tokens), ("max_tokens", max_tokens)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return min(chunk_tokens, max_tokens)


def _check_parallel(tp: int, pp: int) -> None:
    for name, value in (("tp", tp), ("pp", pp)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def weight_bytes_per_gpu(model: ModelSpec, weight_dtype: str, *, tp: int, pp: int) -> float | None:
    """One GPU's share of the weights (bytes), or None when the model has no parameter count.

    Raises
    ------
    ValueError
        Unknown dtype, or tp/pp below 1.
    """
    _check_parallel(tp, pp)
    if weight_dtype not in WEIGHT_DTYPE_BYTES:
        raise ValueError(f"weight dtype must be one of {', '.join(WEIGHT_DTYPE_BYTES)}, got "
                         f"{weight_dtype!r}")
    if model.num_params_total is None:
        return None
    return model.num_params_total * WEIGHT_DTYPE_BYTES[weight_dtype] / (tp * pp)


def activation_bytes_per_gpu(model: ModelSpec, tokens: int, *, tp: int) -> float | None:
    """One layer's working set for ``tokens`` tokens on one of ``tp`` GPUs (bytes), or None when
    the model has no parameter count (the MLP width is estimated from it; module docstring)."""
    _check_parallel(tp, 1)
    if not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f"tokens must be an integer >= 1, got {tokens!r}")
    active = model.num_params_active_nonembedding
    if active is None:
        return None
    hidden = model.hidden_size
    mlp_width = active / (3 * hidden * model.num_layers)
    heads = (model.num_attention_heads + 2 * model.num_kv_heads) * model.head_dim
    per_token = 4 * hidden + heads / tp + 2 * mlp_width / tp
    return tokens * per_token * _ACTIVATION_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuMemory:
    """One GPU's memory: what it holds and whether it fits (bytes; None = not known)."""

    weights_bytes: float | None
    kv_bytes: float
    activations_bytes: float | None
    capacity_bytes: float
    usable_fraction: float = USABLE_FRACTION

    @property
    def usable_bytes(self) -> float:
        """What a serving engine can use: capacity x usable fraction."""
        return self.capacity_bytes * self.usable_fraction

    @property
    def total_bytes(self) -> float:
        """Weights + KV + activations (unknown parts count as 0)."""
        return (self.weights_bytes or 0.0) + self.kv_bytes + (self.activations_bytes or 0.0)

    @property
    def complete(self) -> bool:
        """Whether every part is known (a model without parameter counts leaves two out)."""
        return self.weights_bytes is not None and self.activations_bytes is not None

    @property
    def fits(self) -> bool:
        """Whether every part is known and the total fits the usable memory (an unknown part
        never "fits": see :attr:`fits_known_parts`)."""
        return self.complete and self.total_bytes <= self.usable_bytes

    @property
    def fits_known_parts(self) -> bool:
        """Whether the known parts alone fit (all that can be said when a part is unknown)."""
        return self.total_bytes <= self.usable_bytes

    @property
    def unknown_parts(self) -> tuple[str, ...]:
        """The parts not known (``weights``, ``activations``)."""
        return tuple(name for name, value in (("weights", self.weights_bytes),
                                              ("activations", self.activations_bytes))
                     if value is None)

    @property
    def kv_room_bytes(self) -> float:
        """Memory left for the KV cache after weights and activations (may be negative)."""
        return self.usable_bytes - (self.weights_bytes or 0.0) - (self.activations_bytes or 0.0)


def gpu_memory(
    model: ModelSpec,
    kv_bytes_per_gpu: float,
    *,
    capacity_bytes: float,
    tp: int = 1,
    pp: int = 1,
    weight_dtype: str | None = None,
    chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS,
    usable_fraction: float = USABLE_FRACTION,
    max_tokens: int | None = None,
) -> GpuMemory:
    """What one GPU of a TP x PP instance holds (module docstring for each part).

    ``weight_dtype`` defaults to the model's published weights' dtype
    (:attr:`~collectives.llm.ModelSpec.default_weight_dtype`: its ``quantization_config``, else
    ``torch_dtype``); ``chunk_tokens`` is the tokens of one forward pass (a prefill chunk, or
    the whole prompt when chunking is off); ``max_tokens``, when given, the tokens there are
    (context x batch): a pass never holds more, so the activations count
    ``min(chunk_tokens, max_tokens)``.

    Raises
    ------
    ValueError
        Unknown dtype, tp/pp/chunk below 1, capacity <= 0 or a usable fraction outside (0, 1].
    """
    if not capacity_bytes > 0:
        raise ValueError(f"GPU memory must be > 0 bytes, got {capacity_bytes!r}")
    if not 0 < usable_fraction <= 1:
        raise ValueError(f"usable fraction must be in (0, 1], got {usable_fraction!r}")
    tokens = chunk_tokens if max_tokens is None else prefill_pass_tokens(chunk_tokens, max_tokens)
    return GpuMemory(
        weights_bytes=weight_bytes_per_gpu(model, weight_dtype or model.default_weight_dtype,
                                           tp=tp, pp=pp),
        kv_bytes=float(kv_bytes_per_gpu),
        activations_bytes=activation_bytes_per_gpu(model, tokens, tp=tp),
        capacity_bytes=float(capacity_bytes),
        usable_fraction=usable_fraction,
    )
