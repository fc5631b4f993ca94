"""Pieces the MPI and torch.distributed probes share: buffers, iterations, statistics, checks.

Nothing here communicates: the probes (:mod:`measure.mpi_probe`, :mod:`measure.torch_probe`)
call these pure functions around their library's calls, so the arithmetic is tested without a
launcher.

Sizes follow nccl-tests (NVIDIA/nccl-tests ``doc/PERFORMANCE.md``): the per-rank buffer for
all-reduce, broadcast and send-recv, the *total* gathered buffer for all-gather and
reduce-scatter, and the total per-rank send buffer for all-to-all. Per-rank counts are rounded
down as nccl-tests' ``*GetCollByteCount`` functions do (``count / nranks``), so the reported
``size_bytes`` is what was really moved.

>>> buffer_layout("all-gather", 1000, num_ranks=3, itemsize=4).size_bytes
996
>>> combine_timings([rank_timing([3e-6, 1e-6, 2e-6]), rank_timing([5e-6, 4e-6, 9e-6])]).time_s
5e-06
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collectives.names import canonical
from measure.record_checks import record_problems
from measure.records import Record

__all__ = [
    "size_notes",
    "memory_per_rank_bytes",
    "available_memory_bytes",
    "memory_problem",
    "OPERATIONS",
    "DTYPES",
    "DEFAULT_SIZES",
    "ENV_PREFIXES",
    "CORRUPT_ENV",
    "HOSTNAME_ENV",
    "MEMINFO_ENV",
    "parse_operations",
    "check_probe_arguments",
    "corrupting_rank",
    "BufferLayout",
    "buffer_layout",
    "IterationPlan",
    "plan_iterations",
    "bound_iterations",
    "batch_iterations",
    "warm_estimate",
    "RankTiming",
    "rank_timing",
    "Timing",
    "combine_timings",
    "Measured",
    "HostLayout",
    "host_layout",
    "Pair",
    "ping_pong_pairs",
    "fill_values",
    "expected_values",
    "count_wrong",
    "collect_env",
    "pinned_algorithm",
    "make_record",
]

OPERATIONS = ("send-recv", "all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast")
DTYPES = ("float32", "float64", "int32", "int64")
DEFAULT_SIZES = "8:64MiB"
ENV_PREFIXES = (
    "NCCL_",
    "UCX_",
    "MPIR_CVAR_",
    "FI_",
    "OMPI_MCA_",
    "MPI4PY_",
    "GLOO_",
    "TORCH_NCCL_",
    "I_MPI_",
)
CORRUPT_ENV = "FABRIC_PROBE_CORRUPT_RANK"
"""Test-only fault injection: the rank named here adds 1000 to element 0 of its contribution, so
the checks must fail (read by :func:`corrupting_rank` when a probe starts; never set it in a run
whose numbers matter)."""
HOSTNAME_ENV = "FABRIC_HOSTNAME"
"""Overrides the host name a rank reports (network namespaces share the UTS host name)."""
MEMINFO_ENV = "FABRIC_MEMINFO"
"""A file read instead of ``/proc/meminfo`` for the memory a rank's host can give (tests give one
rank a small one to check that every rank agrees on a size its host cannot hold)."""

_PATTERN = (
    17  # values cycle through rank + 1 + (index % 17): exact in float32 up to ~2^24 / 17 ranks
)


def parse_operations(names: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical probe operations from ``"all-reduce,alltoall"``, ``"all"`` or a list.

    Raises
    ------
    ValueError
        If a name is unknown or not one the probes measure; the message lists the valid ones.

    >>> parse_operations("allreduce,send_recv")
    ('all-reduce', 'send-recv')
    >>> len(parse_operations("all"))
    6
    """
    items = (
        [s.strip() for s in names.split(",")] if isinstance(names, str) else [str(s) for s in names]
    )
    items = [s for s in items if s]
    if not items:
        raise ValueError(f"operations must name at least one of {', '.join(OPERATIONS)}")
    if items == ["all"]:
        return OPERATIONS
    out: list[str] = []
    for item in items:
        try:
            name = canonical(item)
        except ValueError:  # the probes' own list, not every collective the model knows
            raise ValueError(f"unknown collective {item!r}; the probes measure "
                             f"{', '.join(OPERATIONS)} (or all)") from None
        if name not in OPERATIONS:
            raise ValueError(
                f"operation {item!r} is not measured by the probes; valid: "
                f"{', '.join(OPERATIONS)}, all"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def check_probe_arguments(
    *,
    operations: str | Iterable[str],
    sizes: Sequence[int],
    iterations: int | None,
    warmup: int | None,
    pairs: str,
    dtype: str,
    time_budget_s: float,
) -> tuple[str, ...]:
    """Validate the probe arguments shared by the MPI and torch probes; return the operations.

    Raises
    ------
    ValueError
        Naming the argument, its value and the rule it breaks.
    """
    ops = parse_operations(operations)
    sizes = list(sizes)
    if not sizes or any(not isinstance(s, (int, np.integer)) or s <= 0 for s in sizes):
        raise ValueError(f"sizes must be a non-empty list of byte counts > 0, got {sizes!r}")
    if iterations is not None and iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if warmup is not None and warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if pairs not in ("auto", "matrix"):
        raise ValueError(f"pairs must be 'auto' or 'matrix', got {pairs!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be > 0, got {time_budget_s!r}")
    return ops


def corrupting_rank(env: Mapping[str, str]) -> int | None:
    """The rank that corrupts its contribution, from the test-only :data:`CORRUPT_ENV`, or None.

    Fault injection for the probes' own tests: the probes read it from the environment when a
    run starts, so no public signature carries it. A real run never sets it.

    Raises
    ------
    ValueError
        If the variable is set to something other than an integer rank.

    >>> corrupting_rank({CORRUPT_ENV: "1"}), corrupting_rank({})
    (1, None)
    """
    text = env.get(CORRUPT_ENV, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"{CORRUPT_ENV} must be a rank number, got {text!r}") from err


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferLayout:
    """Element counts of one operation at one size.

    ``send_count`` / ``recv_count`` are the elements in each rank's send and receive buffers;
    ``size_bytes`` is the nccl-tests size really measured after rounding; ``count`` its elements.
    """

    operation: str
    num_ranks: int
    itemsize: int
    send_count: int
    recv_count: int

    @property
    def count(self) -> int:
        """Elements of ``size_bytes`` (the nccl-tests ``count`` column)."""
        if self.operation in ("all-gather",):
            return self.recv_count
        return self.send_count

    @property
    def size_bytes(self) -> int:
        """The nccl-tests size of this layout in bytes."""
        return self.count * self.itemsize


def buffer_layout(
    operation: str, size_bytes: int, *, num_ranks: int, itemsize: int
) -> BufferLayout:
    """Send and receive counts for ``operation`` at nccl-tests size ``size_bytes``.

    Parameters
    ----------
    operation : str
        A probe operation (see :data:`OPERATIONS`).
    size_bytes : int
        Requested nccl-tests size.
    num_ranks : int
        Ranks taking part.
    itemsize : int
        Bytes per element.

    Returns
    -------
    BufferLayout
        ``size_bytes`` of the result may be smaller than asked (rounded to whole elements per
        rank) and is 0 when the size is too small for one element per rank.

    Raises
    ------
    ValueError
        If a count is negative or zero where it must be positive.

    Notes
    -----
    nccl-tests (``src/*.cu``, ``*GetCollByteCount``): with ``count = size / itemsize``,
    all-gather sends ``count / n`` and receives ``(count / n) * n``; reduce-scatter sends
    ``(count / n) * n`` and receives ``count / n``; all-to-all sends and receives
    ``(count / n) * n``; the others send and receive ``count``.

    >>> buffer_layout("reduce-scatter", 64, num_ranks=4, itemsize=4).recv_count
    4
    >>> buffer_layout("all-to-all", 8, num_ranks=4, itemsize=4).size_bytes
    0
    """
    operation = canonical(operation)
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    for name, value in (
        ("size_bytes", size_bytes),
        ("num_ranks", num_ranks),
        ("itemsize", itemsize),
    ):
        if not isinstance(value, (int, np.integer)) or value < (0 if name == "size_bytes" else 1):
            raise ValueError(
                f"{name} must be an integer >= {0 if name == 'size_bytes' else 1}, got {value!r}"
            )
    count = int(size_bytes) // int(itemsize)
    per_rank = count // num_ranks
    if operation == "all-gather":
        send, recv = per_rank, per_rank * num_ranks
    elif operation == "reduce-scatter":
        send, recv = per_rank * num_ranks, per_rank
    elif operation == "all-to-all":
        send = recv = per_rank * num_ranks
    else:
        send = recv = count
    return BufferLayout(
        operation=operation,
        num_ranks=int(num_ranks),
        itemsize=int(itemsize),
        send_count=send,
        recv_count=recv,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IterationPlan:
    """Timed iterations and untimed warm-up iterations for one size.

    ``batch`` iterations run back to back inside one timed region (one clock read before and
    after), as OSU and IMB time their loops; each region gives one sample, the region's time
    over ``batch``. 1: every iteration is timed on its own.
    """

    iterations: int
    warmup: int
    batch: int = 1

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not 1 <= self.batch <= self.iterations:
            raise ValueError(f"batch must be in [1, iterations={self.iterations}], "
                             f"got {self.batch}")


_BYTES_PER_SIZE = 256 * 1024**2
_MAX_ITERATIONS = 200
_MIN_ITERATIONS = 5


def plan_iterations(
    size_bytes: int, *, iterations: int | None = None, warmup: int | None = None
) -> IterationPlan:
    """Iterations scaled by size: many for small messages, few for large ones.

    Parameters
    ----------
    size_bytes : int
        The nccl-tests size.
    iterations, warmup : int, optional
        Fixed counts; either one given overrides its default.

    Returns
    -------
    IterationPlan
        By default ``iterations = clamp(256 MiB / size, 5, 200)`` and
        ``warmup = clamp(iterations / 10, 2, 20)``.

    Raises
    ------
    ValueError
        If a given count is below 1 (iterations) or 0 (warmup).

    >>> plan_iterations(8)
    IterationPlan(iterations=200, warmup=20, batch=1)
    >>> plan_iterations(64 * 1024**2)
    IterationPlan(iterations=5, warmup=2, batch=1)
    >>> plan_iterations(8, iterations=3, warmup=0)
    IterationPlan(iterations=3, warmup=0, batch=1)
    """
    if iterations is None:
        iterations = min(
            _MAX_ITERATIONS, max(_MIN_ITERATIONS, _BYTES_PER_SIZE // max(size_bytes, 1))
        )
    if warmup is None:
        warmup = min(20, max(2, iterations // 10))
    return IterationPlan(iterations=int(iterations), warmup=int(warmup))


def bound_iterations(
    plan: IterationPlan, time_per_iteration_s: float, budget_s: float
) -> IterationPlan:
    """Cut ``plan.iterations`` so the timed loop takes about ``budget_s`` at most.

    The probes call this after the warm-up with the slowest rank's :func:`warm_estimate`, and
    only when the user did not fix the iteration count. At least :data:`_MIN_ITERATIONS` (5) stay.

    >>> bound_iterations(IterationPlan(iterations=200, warmup=20), 0.01, 1.0).iterations
    100
    >>> bound_iterations(IterationPlan(iterations=200, warmup=20), 1.0, 1.0).iterations
    5
    """
    if not budget_s > 0:
        raise ValueError(f"budget_s must be > 0, got {budget_s!r}")
    if not (time_per_iteration_s > 0 and math.isfinite(time_per_iteration_s)):
        return plan
    fit = int(budget_s / time_per_iteration_s)
    iterations = max(min(plan.iterations, _MIN_ITERATIONS), min(plan.iterations, fit))
    return IterationPlan(iterations=iterations, warmup=plan.warmup,
                         batch=min(plan.batch, iterations))


#: A timed region should last at least this long, so that reading the clock, the barrier's
#: exit skew and the interpreter's loop (~1 us together) stay under a few percent of it.
REGION_S = 50e-6
#: Fewest samples (regions) a batched loop keeps for its median.
MIN_SAMPLES = 10


def warm_estimate(samples: Sequence[float] | np.ndarray, *, least: bool = False) -> float:
    """The time of one warmed-up iteration, from the warmup's per-iteration times: over their
    later half, the median (``least``: the fastest); NaN without any.

    The first calls pay for connections and first touches; one call preempted on a busy
    machine (a few milliseconds on a 2-core host running other work) must not decide alone how
    long the measurement runs (:func:`bound_iterations`, from the median). Whether calls are
    fast enough to batch (:func:`batch_iterations`) is what one uninterrupted call takes: the
    fastest, so that ranks preempted through most of a short warmup still batch calls that
    take microseconds.

    >>> warm_estimate([9e-5, 2e-6, 2e-6, 3e-3, 2e-6, 2e-6])
    2e-06
    >>> warm_estimate([9e-5, 2e-6, 3e-3, 3e-3, 3e-3, 2e-6], least=True)
    2e-06
    """
    values = np.asarray(samples, dtype=float).reshape(-1)[len(samples) // 2:]
    if len(values) == 0:
        return math.nan
    return float(values.min() if least else np.median(values))


def batch_iterations(plan: IterationPlan, time_per_iteration_s: float) -> IterationPlan:
    """Batch small, fast iterations into timed regions of about :data:`REGION_S`.

    OSU (``osu_latency``, ``osu_allreduce``) and IMB read the clock once around a loop of many
    back-to-back calls; timing each microsecond call on its own measures the clock and the
    interpreter. ``batch = ceil(REGION_S / t)``, at most ``iterations / MIN_SAMPLES`` (so the
    median has at least 10 samples) and at least 1.

    >>> batch_iterations(IterationPlan(iterations=200, warmup=20), 2e-6).batch
    20
    >>> batch_iterations(IterationPlan(iterations=200, warmup=20), 1e-3).batch
    1
    """
    if not (time_per_iteration_s > 0 and math.isfinite(time_per_iteration_s)):
        return plan
    wanted = math.ceil(REGION_S / time_per_iteration_s - 1e-9)  # 50 us / 2 us is 25, not 26
    batch = max(1, min(wanted, plan.iterations // MIN_SAMPLES))
    # whole regions only: the iterations run are the iterations recorded
    return IterationPlan(iterations=plan.iterations // batch * batch, warmup=plan.warmup,
                         batch=batch)


@dataclass(frozen=True, slots=True, kw_only=True)
class RankTiming:
    """One rank's statistics over its timed iterations (``mean_s`` compares with IMB / OSU)."""

    median_s: float
    min_s: float
    max_s: float
    mean_s: float = math.nan


def rank_timing(times_s: Sequence[float] | np.ndarray) -> RankTiming:
    """Median, min, max and mean of one rank's iteration times.

    Raises
    ------
    ValueError
        If there is no time or a time is not a finite number >= 0.

    >>> rank_timing([4e-6, 1e-6, 2e-6, 3e-6, 5e-6]).median_s
    3e-06
    """
    values = [float(t) for t in times_s]
    if not values:
        raise ValueError("times_s must hold at least one iteration time")
    if any(not math.isfinite(t) or t < 0 for t in values):
        raise ValueError(f"times_s must be finite and >= 0, got {values!r}")
    return RankTiming(
        median_s=statistics.median(values),
        min_s=min(values),
        max_s=max(values),
        mean_s=statistics.fmean(values),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Times over ranks: ``time_s`` the slowest rank's median, min/max over every iteration.

    ``time_mean_s`` is the slowest rank's mean: IMB's ``t_max`` and OSU's averages are means,
    which a few preempted iterations pull up where the median stays put.
    """

    time_s: float
    time_min_s: float
    time_max_s: float
    time_mean_s: float = math.nan


def combine_timings(per_rank: Sequence[RankTiming]) -> Timing:
    """Combine the ranks' statistics as nccl-tests and DESIGN.md say.

    Returns
    -------
    Timing
        ``time_s`` = max over ranks of each rank's median (a collective ends when its slowest
        rank ends); ``time_min_s`` = min over ranks of each rank's fastest iteration;
        ``time_max_s`` = max over ranks of each rank's slowest iteration; ``time_mean_s`` = max
        over ranks of each rank's mean (as IMB's ``t_max``).

    Raises
    ------
    ValueError
        If ``per_rank`` is empty.
    """
    if not per_rank:
        raise ValueError("per_rank must hold at least one rank's timing")
    return Timing(
        time_s=max(t.median_s for t in per_rank),
        time_min_s=min(t.min_s for t in per_rank),
        time_max_s=max(t.max_s for t in per_rank),
        time_mean_s=max(t.mean_s for t in per_rank),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """One measured (operation, size) after the ranks' statistics were gathered.

    ``fallback`` names the substitute call when the backend lacked the operation ("" if none);
    ``overhead_s`` is the per-call cost of the binding subtracted from batched iterations (0 if
    none was).
    """

    plan: IterationPlan
    size_bytes: int
    timing: Timing
    num_wrong: int | None
    fallback: str = ""
    overhead_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HostLayout:
    """Where ranks run: host of every rank, host count, ranks per host and the placement word."""

    hosts: list[str]
    num_hosts: int
    ranks_per_host: int
    placement: str
    ranks_by_host: dict[str, list[int]] = field(default_factory=dict)


def host_layout(hosts: Sequence[str]) -> HostLayout:
    """Summarize the host name of every rank (in rank order).

    ``ranks_per_host`` is 0 when hosts hold different numbers of ranks; ``placement`` is
    ``intra-host`` (one host), ``inter-host`` (one rank per host) or ``mixed``.

    >>> host_layout(["a", "a", "b", "b"]).placement, host_layout(["a", "b"]).placement
    ('mixed', 'inter-host')
    """
    if not hosts:
        raise ValueError("hosts must name the host of at least one rank")
    by_host: dict[str, list[int]] = {}
    for rank, host in enumerate(hosts):
        by_host.setdefault(str(host), []).append(rank)
    counts = {len(v) for v in by_host.values()}
    if len(by_host) == 1:
        placement = "intra-host"
    elif counts == {1}:
        placement = "inter-host"
    else:
        placement = "mixed"
    return HostLayout(
        hosts=[str(h) for h in hosts],
        num_hosts=len(by_host),
        ranks_per_host=counts.pop() if len(counts) == 1 else 0,
        placement=placement,
        ranks_by_host=by_host,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """Two ranks that ping-pong; ``placement`` is ``intra-host`` or ``inter-host``."""

    rank_a: int
    rank_b: int
    placement: str


def ping_pong_pairs(hosts: Sequence[str], mode: str = "auto") -> list[Pair]:
    """Rank pairs for the send-recv ping-pong.

    ``auto``: one intra-host pair (the first two ranks of the first host that has two) and one
    inter-host pair (the first rank of the first two hosts), whichever exist. ``matrix``: every
    pair ``a < b``.

    Raises
    ------
    ValueError
        If ``mode`` is not ``auto`` or ``matrix``.

    >>> [(p.rank_a, p.rank_b, p.placement) for p in ping_pong_pairs(["a", "a", "b", "b"])]
    [(0, 1, 'intra-host'), (0, 2, 'inter-host')]
    >>> len(ping_pong_pairs(["a", "a", "b", "b"], "matrix"))
    6
    """
    hosts = [str(h) for h in hosts]
    if mode == "matrix":
        return [
            Pair(
                rank_a=a, rank_b=b, placement="intra-host" if hosts[a] == hosts[b] else "inter-host"
            )
            for a in range(len(hosts))
            for b in range(a + 1, len(hosts))
        ]
    if mode != "auto":
        raise ValueError(f"pairs must be 'auto' or 'matrix', got {mode!r}")
    by_host = host_layout(hosts).ranks_by_host if hosts else {}
    pairs = []
    for ranks in by_host.values():
        if len(ranks) >= 2:
            pairs.append(Pair(rank_a=ranks[0], rank_b=ranks[1], placement="intra-host"))
            break
    firsts = [ranks[0] for ranks in by_host.values()]
    if len(firsts) >= 2:
        pairs.append(Pair(rank_a=firsts[0], rank_b=firsts[1], placement="inter-host"))
    return pairs


def fill_values(rank: int, count: int, dtype: str, *, corrupt: bool = False) -> np.ndarray:
    """The contribution of ``rank``: ``rank + 1 + (i % 17)``; ``corrupt`` adds 1000 to element 0.

    >>> fill_values(2, 4, "int32").tolist()
    [3, 4, 5, 6]
    """
    values = _periodic(rank + 1, 0, count, dtype)
    if corrupt and count:
        values[0] += 1000
    return values


def expected_values(
    operation: str, *, rank: int, layout: BufferLayout, dtype: str, peer: int | None = None
) -> np.ndarray:
    """What ``rank``'s receive buffer must hold after ``operation`` (root 0 for broadcast).

    Every rank contributes :func:`fill_values`; send-recv's ``peer`` is the rank it received from.

    Raises
    ------
    ValueError
        If send-recv is asked without ``peer``.

    >>> expected_values("all-reduce", rank=0, layout=buffer_layout("all-reduce", 12, num_ranks=2,
    ...                 itemsize=4), dtype="float32").tolist()
    [3.0, 5.0, 7.0]
    """
    n = layout.num_ranks
    operation = canonical(operation)
    if operation == "send-recv":
        if peer is None:
            raise ValueError("send-recv needs the peer rank to know the expected values")
        return fill_values(peer, layout.recv_count, dtype)
    if operation == "broadcast":
        return fill_values(0, layout.recv_count, dtype)
    per_rank = (
        layout.send_count // n
        if operation in ("reduce-scatter", "all-to-all")
        else layout.send_count
    )
    rank_sum = n * (n + 1) // 2
    if operation == "all-reduce":
        return _periodic(rank_sum, 0, layout.recv_count, dtype, step=n)
    if operation == "reduce-scatter":
        return _periodic(rank_sum, rank * per_rank, per_rank, dtype, step=n)
    out = np.empty(n * per_rank, dtype=dtype)  # filled block by block: no n-fold temporaries
    for r in range(n):
        # all-gather: block r is rank r's buffer; all-to-all: block `rank` of rank r's buffer
        out[r * per_rank:(r + 1) * per_rank] = (
            _periodic(r + 1, 0, per_rank, dtype) if operation == "all-gather"
            else _periodic(r + 1, rank * per_rank, per_rank, dtype))
    return out


def _periodic(base: int, start: int, count: int, dtype: str, *, step: int = 1) -> np.ndarray:
    """``base + step * (i % 17)`` for ``i`` in ``start .. start + count - 1``, as ``dtype``:
    one period computed and repeated, so that a buffer of any size costs itself and no int64
    temporaries (a 16 GiB float32 buffer once took 48 GiB more while it was filled)."""
    period = (base + step * ((start + np.arange(_PATTERN, dtype=np.int64)) % _PATTERN)
              ).astype(dtype)
    return np.resize(period, count) if count else np.zeros(0, dtype=dtype)


def count_wrong(received: np.ndarray, expected: np.ndarray) -> int:
    """Elements of ``received`` that differ from ``expected`` (exact: the values are integers).

    >>> count_wrong(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    1
    """
    received = np.asarray(received).reshape(-1)
    expected = np.asarray(expected).reshape(-1)
    if received.shape != expected.shape:
        return int(max(received.size, expected.size))
    return int(np.count_nonzero(received != expected))


def collect_env(
    environ: Mapping[str, str], prefixes: Sequence[str] = ENV_PREFIXES
) -> dict[str, str]:
    """The variables of ``environ`` whose names start with one of ``prefixes``, sorted.

    >>> collect_env({"NCCL_ALGO": "Ring", "HOME": "/root", "UCX_TLS": "tcp,self"})
    {'NCCL_ALGO': 'Ring', 'UCX_TLS': 'tcp,self'}
    """
    return {k: environ[k] for k in sorted(environ) if k.startswith(tuple(prefixes))}


_MPICH_CVAR = {
    "all-reduce": "ALLREDUCE",
    "all-gather": "ALLGATHER",
    "reduce-scatter": "REDUCE_SCATTER_BLOCK",
    "all-to-all": "ALLTOALL",
    "broadcast": "BCAST",
}


def pinned_algorithm(operation: str, env: Mapping[str, str]) -> str:
    """The algorithm the environment pins for ``operation``, or ``""`` (library default).

    Reads MPICH's ``MPIR_CVAR_<OP>_INTRA_ALGORITHM``, Open MPI's
    ``OMPI_MCA_coll_tuned_<op>_algorithm`` and NCCL's ``NCCL_ALGO``.

    >>> pinned_algorithm("all-reduce", {"MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM": "ring"})
    'ring'
    """
    key = _MPICH_CVAR.get(canonical(operation))
    if key is None:
        return ""
    for name in (
        f"MPIR_CVAR_{key}_INTRA_ALGORITHM",
        f"OMPI_MCA_coll_tuned_{key.lower()}_algorithm",
        "NCCL_ALGO",
    ):
        value = env.get(name, "").strip()
        if value and value.lower() != "auto":
            return value
    return ""


def make_record(
    *,
    source: str,
    backend: str,
    operation: str,
    size_bytes: int,
    num_ranks: int,
    timing: Timing,
    hosts: Sequence[str],
    plan: IterationPlan,
    dtype: str,
    num_wrong: int | None,
    library: Mapping[str, str],
    env: Mapping[str, str],
    placement: str | None = None,
    in_place: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Record:
    """A :class:`~measure.records.Record` from one measured (operation, size).

    ``hosts`` are the hosts of the ranks that took part; ``placement`` defaults to what
    :func:`host_layout` says of them. ``extra["time_mean_s"]`` keeps the slowest rank's mean.
    A record that fails the sanity checks of :mod:`measure.record_checks` (a time below the
    physical floor, a bus bandwidth above the fastest link) is kept, as it was measured, with
    one line per failed check in ``extra["problems"]``; the ``measure`` commands warn about it.
    """
    layout = host_layout(hosts)
    record = Record(
        operation=operation,
        size_bytes=int(size_bytes),
        time_s=timing.time_s,
        num_ranks=num_ranks,
        num_hosts=layout.num_hosts,
        source=source,
        ranks_per_host=layout.ranks_per_host,
        hosts=list(layout.hosts),
        placement=placement or layout.placement,
        time_min_s=timing.time_min_s,
        time_max_s=timing.time_max_s,
        iterations=plan.iterations,
        warmup_iterations=plan.warmup,
        backend=backend,
        dtype=dtype,
        in_place=in_place,
        num_wrong=num_wrong,
        algorithm=pinned_algorithm(operation, env),
        library=dict(library),
        env=dict(env),
        extra=({"time_mean_s": timing.time_mean_s} if math.isfinite(timing.time_mean_s) else {})
        | ({"batch": plan.batch} if plan.batch > 1 else {})
        | dict(extra or {}),
    )
    problems = record_problems(record)
    if problems:
        record = dataclasses.replace(record, extra={**record.extra, "problems": problems})
    return record


def _overhead(measured: Any) -> dict[str, float]:
    """``{"call_overhead_s": ...}`` where a probe subtracted its binding's cost per call."""
    overhead = float(getattr(measured, "overhead_s", 0.0) or 0.0)
    return {"call_overhead_s": overhead} if overhead > 0 else {}


def memory_per_rank_bytes(operations: Sequence[str], sizes: Sequence[int], *, num_ranks: int,
                          itemsize: int, send_copies: int = 1, check: bool = True) -> int:
    """Bytes one probe rank holds at once in host memory for its largest (operation, size):
    ``send_copies`` send buffers (the torch probe on CPU keeps a pristine copy too), the
    receive buffer (none more for broadcast, which works in place) and, with ``check``, the
    expected values its result is checked against (:func:`expected_values`), each as
    :func:`buffer_layout` lays them out (2 ranks for send-recv).

    >>> memory_per_rank_bytes(["all-reduce", "all-gather"], [1024], num_ranks=4, itemsize=4)
    3072
    >>> memory_per_rank_bytes(["all-reduce"], [1024], num_ranks=4, itemsize=4, check=False)
    2048
    """
    worst = 0
    for operation in operations:
        ranks = 2 if operation == "send-recv" else num_ranks
        for size in sizes:
            got = buffer_layout(operation, int(size), num_ranks=ranks, itemsize=itemsize)
            buffers = (got.recv_count if canonical(operation) == "broadcast"
                       else send_copies * got.send_count + got.recv_count)
            worst = max(worst, (buffers + (got.recv_count if check else 0)) * itemsize)
    return worst


def available_memory_bytes(meminfo: str | None = None) -> int | None:
    """The memory this host can give without swapping (Linux ``MemAvailable`` of ``meminfo``,
    default :data:`MEMINFO_ENV`'s file or ``/proc/meminfo``), or None where it does not say."""
    if meminfo is None:
        meminfo = os.environ.get(MEMINFO_ENV) or "/proc/meminfo"
    try:
        with open(meminfo, encoding="ascii") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_problem(operations: Sequence[str], sizes: Sequence[int], *, hosts: Sequence[str],
                   rank: int, itemsize: int, available_bytes: int | None,
                   send_copies: int = 1, check: bool = True) -> str | None:
    """Why the largest size cannot run on ``rank``'s host, or None: every rank of that host
    holds :func:`memory_per_rank_bytes` at once for a collective (the two ranks of a pair for
    send-recv, which runs one pair at a time), and more than ``available_bytes`` would swap or
    wake the kernel's out-of-memory killer in the middle of a run. None when the available
    memory is unknown."""
    if available_bytes is None:
        return None
    on_host = sum(1 for h in hosts if h == hosts[rank])
    need, ranks, per_rank = 0, 0, 0
    for operation in operations:
        held = memory_per_rank_bytes([operation], sizes, num_ranks=len(hosts), itemsize=itemsize,
                                     send_copies=send_copies, check=check)
        count = min(2, on_host) if canonical(operation) == "send-recv" else on_host
        if held * count > need:
            need, ranks, per_rank = held * count, count, held
    if need <= available_bytes:
        return None

    def gib(size: float) -> str:
        return f"{size / 2**30:,.1f} GiB"

    what = "send, receive and check buffers" if check else "send and receive buffers"
    return (f"the largest size needs about {gib(need)} on host {hosts[rank]!r} ({ranks} "
            f"rank{'s' if ranks != 1 else ''} x {gib(per_rank)} of {what}), more than its "
            f"{gib(available_bytes)} available; measure smaller --sizes")


def size_notes(operations: Sequence[str], sizes: Sequence[int], *, num_ranks: int,
               itemsize: int) -> list[str]:
    """What becomes of asked sizes that do not fit whole elements (of ``itemsize`` bytes) split
    over ``num_ranks`` ranks (2 for send-recv), as :func:`buffer_layout` lays them out: one line
    per operation for sizes run smaller, and for sizes that move nothing and are left out.

    >>> size_notes(["all-gather"], [8, 6, 3], num_ranks=2, itemsize=4)
    ['all-gather: 6 B runs as 0 B and is left out; 3 B runs as 0 B and is left out']
    """
    out = []
    for operation in operations:
        ranks = 2 if operation == "send-recv" else num_ranks
        said = []
        for size in sizes:
            got = buffer_layout(operation, int(size), num_ranks=ranks, itemsize=itemsize)
            if got.size_bytes != int(size):
                said.append(f"{size} B runs as {got.size_bytes} B"
                            + (" and is left out" if got.size_bytes == 0 else ""))
        if said:
            out.append(f"{operation}: {'; '.join(said)}")
    return out


def sweep(
    operations: Sequence[str],
    sizes: Sequence[int],
    *,
    hosts: Sequence[str],
    pairs: str,
    measure_pingpong: Callable[[Any, int], Any],
    measure_collective: Callable[[str, int], Any],
    emit: Callable[[Record], None],
    in_place_operations: Sequence[str],
    common: Mapping[str, Any],
    collective_extra: Mapping[str, Any] | None = None,
    record_extra: Mapping[str, Any] | None = None,
) -> None:
    """Run every (operation, size) of a probe and ``emit`` one record each, in order.

    ``measure_pingpong(pair, size)`` and ``measure_collective(operation, size)`` are the
    backend's (MPI or torch) measurements; they return an object with ``size_bytes``, ``timing``,
    ``plan``, ``num_wrong`` (and optionally ``fallback``), or None for a size that cannot run.
    Send-recv runs once per pair of :func:`ping_pong_pairs`, as a 2-rank record;
    ``collective_extra`` is added to every collective record's ``extra``, ``record_extra`` to
    every record's.
    """
    world_size = len(hosts)
    for operation in operations:
        if operation == "send-recv":
            for pair in ping_pong_pairs(hosts, pairs):
                for size in sizes:
                    m = measure_pingpong(pair, int(size))
                    if m is None or m.size_bytes == 0:  # less than one element: nothing moved
                        continue
                    emit(
                        make_record(
                            operation=operation,
                            size_bytes=m.size_bytes,
                            num_ranks=2,
                            timing=m.timing,
                            hosts=[hosts[pair.rank_a], hosts[pair.rank_b]],
                            placement=pair.placement,
                            plan=m.plan,
                            num_wrong=m.num_wrong,
                            extra={"ranks": [pair.rank_a, pair.rank_b], "world_size": world_size}
                            | _overhead(m) | dict(record_extra or {}),
                            **common,
                        )
                    )
            continue
        for size in sizes:
            m = measure_collective(operation, int(size))
            if m is None:
                continue
            extra: dict[str, Any] = {"root": 0} if operation == "broadcast" else {}
            extra.update(collective_extra or {})
            if getattr(m, "fallback", None):
                extra["fallback"] = m.fallback
            extra.update(_overhead(m))
            extra.update(record_extra or {})
            emit(
                make_record(
                    operation=operation,
                    size_bytes=m.size_bytes,
                    num_ranks=world_size,
                    timing=m.timing,
                    hosts=hosts,
                    plan=m.plan,
                    num_wrong=m.num_wrong,
                    in_place=operation in in_place_operations,
                    extra=extra,
                    **common,
                )
            )
