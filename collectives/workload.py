"""Training-step time, GPU utilization and cost per useful GPU-hour of a workload on a fabric.

A :class:`Workload` describes one training step (model size, tokens per step, parallel degrees,
compute efficiency) and :class:`Economics` the money side (amortization, electricity, PUE).
Every assumption is a visible field with a default that names its source or says "assumption".

The step model is deliberately simple (all terms per GPU, per step):

``compute_s = 6 * num_params * tokens_per_step / (num_gpus * peak_flops * mfu)``
    The 6ND rule for forward + backward FLOPs of a dense transformer (Kaplan et al. 2020,
    "Scaling Laws for Neural Language Models", §2.1); ``num_params`` are the parameters each
    token passes through (the active ones of an MoE). ``mfu`` is the fraction of peak the
    kernels reach, communication excluded.
``bubble_s = compute_s * (pp - 1) / num_microbatches``
    The 1F1B pipeline bubble (Narayanan et al., SC 2021, "Efficient Large-Scale Language Model
    Training on GPU Clusters Using Megatron-LM", §2.2.1).
``dp_exposed_s = (1 - dp_overlap_fraction) * T_dp``
    ``T_dp`` is the predicted time of the gradient all-reduce (or reduce-scatter + all-gather)
    of ``gradient_params * gradient_bytes_per_param / (tp * pp)`` bytes over one data-parallel
    group of the fabric; the rest hides behind the backward pass.
``tp_s = 4 * (num_layers / pp) * num_microbatches * T_ar(B_tp)``
    with ``B_tp = micro_batch_size * sequence_length * hidden_size * activation_bytes``.
    Megatron tensor parallelism: two all-reduces in the forward and two in the backward pass of
    every layer (Shoeybi et al. 2019, "Megatron-LM", §3), not overlapped.
``ep_s = 4 * (moe_layers / pp) * num_microbatches * T_a2a(B_tp * moe_top_k / tp)``
    MoE dispatch and combine all-to-alls, forward and backward, not overlapped. With
    tensor parallelism each rank dispatches its own 1/tp of the tokens: Megatron-Core requires
    sequence parallelism with TP and EP together ("When using expert parallelism and tensor
    parallelism, sequence parallelism must be used", ``TransformerConfig`` in
    megatron/core/transformer/transformer_config.py, https://github.com/NVIDIA/Megatron-LM,
    read 2026-12), so the tp ranks of a replica run tp all-to-alls of 1/tp each at once.

``step_s = compute_s + bubble_s + dp_exposed_s + tp_s + ep_s``; GPU utilization =
``compute_s / step_s`` (so the model FLOPs utilization of the step is ``mfu * utilization``).

Ranks are laid out tensor-parallel fastest, then pipeline, then data parallel, over the fabric's
GPUs in builder order (node-major), so a TP group of ``tp <= gpus_per_node`` stays inside one
NVLink domain and a DP group takes one GPU per server (one rail on rail fabrics). One group of each
kind is predicted; the other groups run at the same time on other GPUs and are assumed not to
slow it (exact for rail-aligned groups, optimistic where groups share uplinks).

Money: ``hourly_usd = capex_usd / (amortization_years * 8760) + power_w * pue / 1000 *
usd_per_kwh``; cost per GPU-hour = hourly / num_gpus; cost per *useful* GPU-hour = cost per
GPU-hour / utilization; cost per token = hourly / tokens per hour.

>>> w = default_workload()
>>> w.tokens_per_step
16777216
>>> w.parallelism(1024).data_parallel, w.parallelism(1024).num_microbatches
(128, 32)
>>> round(w.compute_time_s(1024, 989e12), 2)  # 6 x 70e9 x 16.8M / (1024 x 989 TFLOP/s x 0.4)
17.39
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from collectives.calibration import ModelCalibration
from collectives.predict import predict as default_predict
from fabric.catalog import Catalog, default_catalog
from fabric.errors import InfeasibleError
from fabric.graph import gpu_nodes

__all__ = [
    "DP_COLLECTIVES",
    "Economics",
    "Workload",
    "Parallelism",
    "StepTime",
    "CostPerformance",
    "WorkloadResult",
    "default_workload",
    "load_workload",
    "workload_from_dict",
    "step_time",
    "cost_performance",
    "evaluate",
]

DP_COLLECTIVES = ("all-reduce", "reduce-scatter+all-gather")
HOURS_PER_YEAR = 8760.0
_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


def _number(owner: str, name: str, value: Any, *, low: float, high: float = math.inf,
            low_open: bool = False, integer: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = isinstance(value, int)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        kind = "an integer" if integer else "a number"
        rule = f"{'>' if low_open else '>='} {low:g}"
        rule += f" and <= {high:g}" if high < math.inf else ""
        raise ValueError(f"{owner}: {name} must be {kind} {rule}, got {value!r}")


@dataclass(**_FROZEN)
class Economics:
    """How capex and power turn into cost per hour.

    Attributes
    ----------
    amortization_years
        Straight-line depreciation of all hardware (assumption: 4 years; 3 to 6 is the range
        operators quote).
    usd_per_kwh
        Electricity price (assumption: 0.08 USD/kWh, an industrial rate).
    pue
        Power usage effectiveness, facility power / IT power (1.1: assumption, a figure common
        in public power-model scripts; no primary source).
    source
        Where these figures come from.
    """

    amortization_years: float = 4.0
    usd_per_kwh: float = 0.08
    pue: float = 1.1
    source: str = ("assumptions: 4-year straight-line amortization, 0.08 USD/kWh; "
                   "PUE 1.1 (assumption; no primary source)")

    def __post_init__(self) -> None:
        _number("economics", "amortization_years", self.amortization_years, low=0, low_open=True)
        _number("economics", "usd_per_kwh", self.usd_per_kwh, low=0)
        _number("economics", "pue", self.pue, low=1.0)


@dataclass(**_FROZEN)
class Parallelism:
    """The parallel layout of a workload on ``num_gpus`` GPUs.

    ``global_batch_size`` is the batch actually run: the workload's, rounded up to whole
    micro-batches per data-parallel replica.
    """

    num_gpus: int
    data_parallel: int
    tensor_parallel: int
    pipeline_parallel: int
    expert_parallel: int
    num_microbatches: int
    global_batch_size: int


@dataclass(**_FROZEN)
class Workload:
    """One training step: model, batch, parallel degrees and efficiency.

    Attributes
    ----------
    name
        A label for reports.
    num_params
        Parameters each token passes through (active parameters of an MoE); 6 x this x tokens
        is the step's FLOPs.
    num_layers, hidden_size
        Transformer layers and width (TP and EP message sizes).
    sequence_length
        Tokens per sequence.
    global_batch_size
        Sequences per step (tokens per step = global_batch_size x sequence_length).
    micro_batch_size
        Sequences per micro-batch of one data-parallel replica.
    tensor_parallel, pipeline_parallel, expert_parallel
        Parallel degrees; ``expert_parallel`` splits the data-parallel ranks.
    data_parallel
        Data-parallel degree, or None to fill the cluster: ``num_gpus / (tp * pp)``.
    mfu
        Fraction of peak FLOP/s the compute kernels reach, in (0, 1] (assumption: 0.40).
    gradient_params
        Parameters whose gradients are reduced across data-parallel ranks; None for
        ``num_params`` (for an MoE give the total here if its experts are data-parallel).
    gradient_bytes_per_param
        Bytes per gradient element on the wire (2: bf16).
    activation_bytes
        Bytes per activation element for TP and EP messages (2: bf16).
    dp_collective
        ``"all-reduce"`` or ``"reduce-scatter+all-gather"`` (sharded optimizer, ZeRO-1/FSDP).
    dp_overlap_fraction
        Share of the DP collective hidden behind the backward pass, in [0, 1] (assumption 0.5).
    moe_layers, moe_top_k
        MoE layers (0: dense) and experts per token.
    gpu
        Catalog GPU whose ``peak_flops`` is used; None for the fabric's own GPU model.
    economics
        Amortization, electricity and PUE (:class:`Economics`).
    source
        Where the figures come from.
    """

    name: str = "dense 70B (Llama-3.1-70B-like)"
    num_params: float = 70.0e9
    num_layers: int = 80
    hidden_size: int = 8192
    sequence_length: int = 4096
    global_batch_size: int = 4096
    micro_batch_size: int = 1
    tensor_parallel: int = 8
    pipeline_parallel: int = 1
    expert_parallel: int = 1
    data_parallel: int | None = None
    mfu: float = 0.40
    gradient_params: float | None = None
    gradient_bytes_per_param: float = 2.0
    activation_bytes: float = 2.0
    dp_collective: str = "all-reduce"
    dp_overlap_fraction: float = 0.5
    moe_layers: int = 0
    moe_top_k: int = 1
    gpu: str | None = None
    economics: Economics = field(default_factory=Economics)
    source: str = ("assumption: a Llama-3.1-70B-sized dense model (80 layers, width 8192; "
                   "collectives/data/models.toml), 16M-token batches, TP 8 inside the node")

    def __post_init__(self) -> None:
        owner = f"workload {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"workload: name must be a non-empty string, got {self.name!r}")
        _number(owner, "num_params", self.num_params, low=0, low_open=True)
        for name in ("num_layers", "hidden_size", "sequence_length", "global_batch_size",
                     "micro_batch_size", "tensor_parallel", "pipeline_parallel",
                     "expert_parallel", "moe_top_k"):
            _number(owner, name, getattr(self, name), low=1, integer=True)
        _number(owner, "moe_layers", self.moe_layers, low=0, high=self.num_layers, integer=True)
        if self.data_parallel is not None:
            _number(owner, "data_parallel", self.data_parallel, low=1, integer=True)
        _number(owner, "mfu", self.mfu, low=0, high=1, low_open=True)
        if self.gradient_params is not None:
            _number(owner, "gradient_params", self.gradient_params, low=0)
        _number(owner, "gradient_bytes_per_param", self.gradient_bytes_per_param, low=0,
                low_open=True)
        _number(owner, "activation_bytes", self.activation_bytes, low=0, low_open=True)
        _number(owner, "dp_overlap_fraction", self.dp_overlap_fraction, low=0, high=1)
        if self.dp_collective not in DP_COLLECTIVES:
            raise ValueError(f"{owner}: dp_collective must be one of {', '.join(DP_COLLECTIVES)}, "
                             f"got {self.dp_collective!r}")
        if self.pipeline_parallel > self.num_layers:
            raise ValueError(f"{owner}: pipeline_parallel must be <= num_layers = "
                             f"{self.num_layers}, got {self.pipeline_parallel}")
        if not isinstance(self.economics, Economics):
            raise ValueError(f"{owner}: economics must be an Economics, got "
                             f"{type(self.economics).__name__}")

    @property
    def tokens_per_step(self) -> int:
        """Global batch times sequence length."""
        return self.global_batch_size * self.sequence_length

    @property
    def flops_per_step(self) -> float:
        """6 x num_params x tokens per step (Kaplan et al. 2020)."""
        return 6.0 * self.num_params * self.tokens_per_step

    def parallelism(self, num_gpus: int) -> Parallelism:
        """Resolve the parallel layout on ``num_gpus`` GPUs.

        Raises
        ------
        InfeasibleError
            If tp x pp x dp != num_gpus, dp is not a multiple of ep, or micro-batches of more
            than one sequence do not divide the global batch over the replicas.

        Notes
        -----
        Each replica runs ``ceil(global_batch_size / (dp * micro_batch_size))`` micro-batches,
        so a batch that does not split evenly is rounded up (the step's tokens follow it).
        """
        _number("parallelism", "num_gpus", num_gpus, low=1, integer=True)
        tp, pp, ep = self.tensor_parallel, self.pipeline_parallel, self.expert_parallel
        model = tp * pp
        if num_gpus % model:
            raise InfeasibleError(f"{num_gpus} GPUs do not split into tensor_parallel x "
                                  f"pipeline_parallel = {tp} x {pp} = {model} GPU groups")
        dp = self.data_parallel if self.data_parallel is not None else num_gpus // model
        if dp * model != num_gpus:
            raise InfeasibleError(f"data_parallel x tensor_parallel x pipeline_parallel = "
                                  f"{dp} x {tp} x {pp} = {dp * model} != {num_gpus} GPUs; "
                                  f"set data_parallel to null to fill the cluster")
        if dp % ep:
            raise InfeasibleError(f"expert_parallel {ep} must divide data_parallel {dp}")
        per_step = dp * self.micro_batch_size
        if self.micro_batch_size > 1 and self.global_batch_size % per_step:
            # Megatron-LM asserts the global batch divides by micro_batch_size x data_parallel
            # (ConstantNumMicroBatchesCalculator, megatron/core/num_microbatches_calculator.py,
            # https://github.com/NVIDIA/Megatron-LM, read 2026-12): rounding up instead ran a
            # larger batch than the workload's (up to twice, when the batch is just over one
            # round) and made its compute look cheaper per byte of gradients. With
            # micro-batches of one sequence the batch is rounded up to whole rounds (said in the
            # step's notes): more replicas than sequences leave no smaller micro-batch.
            fits = [b for b in range(self.micro_batch_size - 1, 0, -1)
                    if self.global_batch_size % (dp * b) == 0]
            hint = (f"micro_batch_size {fits[0]} divides it" if fits else
                    f"micro_batch_size 1 rounds it up to whole rounds of {dp}")
            raise InfeasibleError(
                f"global_batch_size {self.global_batch_size} is not a multiple of "
                f"micro_batch_size x data_parallel = {self.micro_batch_size} x {dp} = "
                f"{per_step}: {hint} (or give a global batch that is a multiple)")
        m = -(-self.global_batch_size // per_step)
        return Parallelism(num_gpus=num_gpus, data_parallel=dp, tensor_parallel=tp,
                           pipeline_parallel=pp, expert_parallel=ep, num_microbatches=m,
                           global_batch_size=m * per_step)

    def compute_time_s(self, num_gpus: int, peak_flops: float, *,
                       global_batch_size: int | None = None) -> float:
        """6ND FLOPs of one step (of ``global_batch_size`` sequences if given) over ``num_gpus``
        GPUs of ``peak_flops`` at ``mfu``."""
        _number("compute_time_s", "peak_flops", peak_flops, low=0, low_open=True)
        batch = self.global_batch_size if global_batch_size is None else global_batch_size
        flops = 6.0 * self.num_params * batch * self.sequence_length
        return flops / (num_gpus * peak_flops * self.mfu)

    @property
    def gradient_bytes(self) -> float:
        """Gradient bytes one data-parallel rank reduces per step, before the tp x pp split."""
        params = self.num_params if self.gradient_params is None else self.gradient_params
        return params * self.gradient_bytes_per_param

    @property
    def tp_message_bytes(self) -> int:
        """Bytes of one TP all-reduce: a micro-batch's activations of one layer."""
        return int(self.micro_batch_size * self.sequence_length * self.hidden_size
                   * self.activation_bytes)

    @property
    def ep_message_bytes(self) -> int:
        """Bytes one GPU sends in one MoE all-to-all: its tokens x top-k x width, its tokens
        being 1/tp of the micro-batch's under sequence parallelism (see the module notes)."""
        return self.tp_message_bytes * self.moe_top_k // self.tensor_parallel


_FIELDS = {f.name for f in dataclasses.fields(Workload)} - {"economics"}
_ECON_FIELDS = {f.name for f in dataclasses.fields(Economics)}
_FLOAT_FIELDS = {"num_params", "gradient_params", "mfu", "gradient_bytes_per_param",
                 "activation_bytes", "dp_overlap_fraction", "amortization_years", "usd_per_kwh",
                 "pue"}


def _coerce(name: str, value: Any) -> Any:
    """YAML 1.1 reads ``70e9`` as a string: accept numeric strings for float fields."""
    if name in _FLOAT_FIELDS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def workload_from_dict(data: Mapping[str, Any], *, origin: str = "workload") -> Workload:
    """Build a :class:`Workload` from plain data (a parsed YAML/JSON file).

    Top-level keys are :class:`Workload` fields; an optional ``economics`` mapping holds
    :class:`Economics` fields. Missing keys take the defaults of :func:`default_workload`.

    Raises
    ------
    ValueError
        Unknown keys (listing the valid ones) or invalid values (naming the field).

    >>> workload_from_dict({"name": "w", "global_batch_size": -1})
    Traceback (most recent call last):
    ...
    ValueError: workload 'w': global_batch_size must be an integer >= 1, got -1
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: must be a mapping of workload fields, got "
                         f"{type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS - {"economics"})
    if unknown:
        raise ValueError(f"{origin}: unknown field(s) {', '.join(map(str, unknown))}; known: "
                         f"{', '.join(sorted(_FIELDS | {'economics'}))}")
    econ_raw = data.get("economics", {}) or {}
    if not isinstance(econ_raw, Mapping):
        raise ValueError(f"{origin}: economics must be a mapping, got {type(econ_raw).__name__}")
    bad = sorted(set(econ_raw) - _ECON_FIELDS)
    if bad:
        raise ValueError(f"{origin}: unknown economics field(s) {', '.join(map(str, bad))}; "
                         f"known: {', '.join(sorted(_ECON_FIELDS))}")
    try:
        econ = Economics(**{k: _coerce(k, v) for k, v in econ_raw.items()})
        fields = {k: _coerce(k, v) for k, v in data.items() if k != "economics"}
        return Workload(economics=econ, **fields)
    except (TypeError, ValueError) as err:
        text = str(err)
        raise ValueError(text if text.startswith(origin) else f"{origin}: {text}") from err


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key given twice is an error (the last would win)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"field {key!r} is given twice")
        out[key] = value
    return out


def _yaml_without_repeats(text: str) -> Any:
    """YAML as ``yaml.safe_load`` reads it, but a mapping key given twice is an error (PyYAML
    keeps the last one without a word)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ValueError(f"field {key!r} is given twice (line {line})")
            seen.add(key)
        return loader.construct_mapping(node)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_workload(path: str | Path) -> Workload:
    """Read a workload from a YAML or JSON file (see :func:`workload_from_dict`).

    Raises
    ------
    ValueError
        The file cannot be read or parsed, is empty (no field at all), or a field is unknown
        or invalid; the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read workload file {str(path)!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_no_repeats)
        else:
            data = _yaml_without_repeats(text)
    except (ValueError, ImportError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not valid JSON/YAML: {err}") from err
    except Exception as err:  # yaml.YAMLError has no common stdlib base
        raise ValueError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
    if data is None or (isinstance(data, Mapping) and not data):
        # an empty file is a mistake (a truncated copy, the wrong path), not "use the defaults":
        # running on the built-in workload would answer a question the user did not ask
        raise ValueError(f"{path}: the workload file is empty; give at least one workload field "
                         f"(known: {', '.join(sorted(_FIELDS | {'economics'}))}) or leave out "
                         f"--workload for the built-in one")
    return workload_from_dict(data, origin=str(path))


def default_workload() -> Workload:
    """The built-in workload: a 70B dense model, 16M-token steps, TP 8, DP over the rest."""
    return Workload()


@dataclass(**_FROZEN)
class StepTime:
    """One training step on one fabric, term by term (seconds per step)."""

    topology: str
    num_gpus: int
    parallelism: Parallelism
    compute_time_s: float
    bubble_time_s: float
    dp_time_s: float
    dp_exposed_time_s: float
    tp_time_s: float
    ep_time_s: float
    step_time_s: float
    gpu_utilization: float
    tokens_per_s: float
    dp_bottleneck: str = ""
    notes: tuple[str, ...] = ()

    @property
    def communication_exposed_time_s(self) -> float:
        """Communication the GPUs wait for: exposed DP plus TP plus EP."""
        return self.dp_exposed_time_s + self.tp_time_s + self.ep_time_s


@dataclass(**_FROZEN)
class CostPerformance:
    """Capex, power and what a useful GPU-hour and a token cost."""

    capex_usd: float
    it_power_w: float
    facility_power_w: float
    capex_per_hour_usd: float
    energy_per_hour_usd: float
    cost_per_hour_usd: float
    cost_per_gpu_hour_usd: float
    cost_per_useful_gpu_hour_usd: float
    useful_gpu_hours_per_kusd: float
    cost_per_million_tokens_usd: float
    economics: Economics


@dataclass(**_FROZEN)
class WorkloadResult:
    """Step time and cost of one workload on one fabric."""

    step: StepTime
    cost: CostPerformance


Predictor = Callable[..., Any]


def _group_time(predict: Predictor, G: nx.DiGraph, collective: str, size_bytes: float,
                ranks: Sequence[str], options: Mapping[str, Any]) -> tuple[float, str]:
    if len(ranks) < 2 or size_bytes <= 0:
        return 0.0, ""
    pred = predict(G, collective, int(math.ceil(size_bytes)), ranks=list(ranks), **options)
    return float(pred.time_s), str(getattr(pred, "bottleneck", "") or "")


def step_time(
    G: nx.DiGraph,
    workload: Workload | None = None,
    *,
    catalog: Catalog | None = None,
    calibration: ModelCalibration | None = None,
    flavor: str = "ideal",
    predictor: Predictor | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> StepTime:
    """Time one training step of ``workload`` on fabric ``G`` (see the module docstring).

    Parameters
    ----------
    G : nx.DiGraph
        A fabric graph; its GPUs in builder order are the ranks.
    workload : Workload or None
        None for :func:`default_workload`.
    catalog : Catalog or None
        For the GPU's ``peak_flops``; None for the built-in catalog.
    calibration, flavor, routing, routing_seed
        Passed to the collective model (:func:`collectives.predict.predict`); the routing
        policy only when it is not the default ``ecmp-ideal``.
    predictor : callable or None
        The collective model; None for :func:`collectives.predict.predict`.

    Returns
    -------
    StepTime

    Raises
    ------
    InfeasibleError
        If the workload's parallel layout does not fit the fabric's GPU count.
    """
    w = default_workload() if workload is None else workload
    cat = default_catalog() if catalog is None else catalog
    gpus = gpu_nodes(G)
    if not gpus:
        raise ValueError("the fabric has no GPUs")
    layout = w.parallelism(len(gpus))
    gpu_key = w.gpu or str(G.nodes[gpus[0]]["model"])
    peak = cat.gpus[gpu_key].peak_flops
    predict = default_predict if predictor is None else predictor
    options: dict[str, Any] = {"flavor": flavor}
    if calibration is not None:
        options["calibration"] = calibration
    if routing != "ecmp-ideal":
        options.update(routing=routing, routing_seed=routing_seed)
    tp, pp, dp, ep, m = (layout.tensor_parallel, layout.pipeline_parallel, layout.data_parallel,
                         layout.expert_parallel, layout.num_microbatches)
    stride = tp * pp
    notes: list[str] = []
    compute = w.compute_time_s(len(gpus), peak, global_batch_size=layout.global_batch_size)
    if layout.global_batch_size != w.global_batch_size:
        notes.append(f"global batch rounded up from {w.global_batch_size} to "
                     f"{layout.global_batch_size} sequences ({m} micro-batches per replica)")
    bubble = compute * (pp - 1) / m
    grad_bytes = w.gradient_bytes / stride
    dp_ranks = gpus[0::stride][:dp]
    if w.dp_collective == "all-reduce":
        dp_time, bottleneck = _group_time(predict, G, "all-reduce", grad_bytes, dp_ranks, options)
    else:
        rs, bottleneck = _group_time(predict, G, "reduce-scatter", grad_bytes, dp_ranks, options)
        ag, _ = _group_time(predict, G, "all-gather", grad_bytes, dp_ranks, options)
        dp_time = rs + ag
    tp_time = 0.0
    if tp > 1:
        one, _ = _group_time(predict, G, "all-reduce", w.tp_message_bytes, gpus[:tp], options)
        tp_time = 4 * (w.num_layers / pp) * m * one
        node = {G.nodes[g].get("node") for g in gpus[:tp]}
        if len(node) > 1:
            notes.append(f"a tensor-parallel group of {tp} spans {len(node)} servers")
    ep_time = 0.0
    if ep > 1 and w.moe_layers > 0:
        one, _ = _group_time(predict, G, "all-to-all", w.ep_message_bytes,
                             gpus[0::stride][:ep], options)
        ep_time = 4 * (w.moe_layers / pp) * m * one
    exposed = (1.0 - w.dp_overlap_fraction) * dp_time
    total = compute + bubble + exposed + tp_time + ep_time
    return StepTime(
        topology=str(G.graph.get("topology", "custom")), num_gpus=len(gpus), parallelism=layout,
        compute_time_s=compute, bubble_time_s=bubble, dp_time_s=dp_time,
        dp_exposed_time_s=exposed, tp_time_s=tp_time, ep_time_s=ep_time, step_time_s=total,
        gpu_utilization=compute / total,
        tokens_per_s=layout.global_batch_size * w.sequence_length / total,
        dp_bottleneck=bottleneck, notes=tuple(notes),
    )


def cost_performance(capex_usd: float, power_w: float, step: StepTime,
                     economics: Economics | None = None) -> CostPerformance:
    """Cost per GPU-hour, per useful GPU-hour and per token from capex, power and a step time.

    >>> from collectives.workload import Parallelism, StepTime
    >>> lay = Parallelism(num_gpus=8, data_parallel=1, tensor_parallel=8, pipeline_parallel=1,
    ...                   expert_parallel=1, num_microbatches=1, global_batch_size=1)
    >>> step = StepTime(topology="t", num_gpus=8, parallelism=lay, compute_time_s=1.0,
    ...                 bubble_time_s=0, dp_time_s=0, dp_exposed_time_s=0, tp_time_s=1.0,
    ...                 ep_time_s=0, step_time_s=2.0, gpu_utilization=0.5, tokens_per_s=1e6)
    >>> c = cost_performance(350400.0, 10000.0, step, Economics(usd_per_kwh=0.1, pue=1.0))
    >>> c.capex_per_hour_usd, c.energy_per_hour_usd  # 350,400 / (4 x 8760); 10 kW x 0.1
    (10.0, 1.0)
    >>> c.cost_per_gpu_hour_usd, c.cost_per_useful_gpu_hour_usd
    (1.375, 2.75)
    """
    econ = Economics() if economics is None else economics
    _number("cost_performance", "capex_usd", capex_usd, low=0)
    _number("cost_performance", "power_w", power_w, low=0)
    facility = power_w * econ.pue
    capex_h = capex_usd / (econ.amortization_years * HOURS_PER_YEAR)
    energy_h = facility / 1000.0 * econ.usd_per_kwh
    hourly = capex_h + energy_h
    per_gpu = hourly / step.num_gpus
    util = step.gpu_utilization
    per_useful = per_gpu / util if util > 0 else math.inf
    tokens_h = step.tokens_per_s * 3600.0
    return CostPerformance(
        capex_usd=float(capex_usd), it_power_w=float(power_w), facility_power_w=facility,
        capex_per_hour_usd=capex_h, energy_per_hour_usd=energy_h, cost_per_hour_usd=hourly,
        cost_per_gpu_hour_usd=per_gpu, cost_per_useful_gpu_hour_usd=per_useful,
        useful_gpu_hours_per_kusd=1000.0 / per_useful if per_useful > 0 else math.inf,
        cost_per_million_tokens_usd=hourly / tokens_h * 1e6 if tokens_h > 0 else math.inf,
        economics=econ,
    )


def evaluate(
    G: nx.DiGraph,
    workload: Workload | None = None,
    *,
    capex_usd: float,
    power_w: float,
    catalog: Catalog | None = None,
    calibration: ModelCalibration | None = None,
    flavor: str = "ideal",
    predictor: Predictor | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
) -> WorkloadResult:
    """:func:`step_time` and :func:`cost_performance` together.

    ``capex_usd`` and ``power_w`` are the cluster's (e.g. ``bill_of_materials(G).cost_usd`` and
    ``.power_w``); the workload's :class:`Economics` turns them into an hourly cost.
    """
    w = default_workload() if workload is None else workload
    step = step_time(G, w, catalog=catalog, calibration=calibration, flavor=flavor,
                     predictor=predictor, routing=routing, routing_seed=routing_seed)
    return WorkloadResult(step=step, cost=cost_performance(capex_usd, power_w, step, w.economics))
