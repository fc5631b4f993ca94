"""Measure collectives and point-to-point times with torch.distributed (NCCL on GPUs, gloo on CPUs).

The same operations, sizes, statistics and checks as :mod:`measure.mpi_probe`, through
torch.distributed: ``all_reduce``, ``all_gather_single`` / ``all_gather_into_tensor``,
``reduce_scatter_single`` / ``reduce_scatter_tensor`` (torch 2.13 renamed them),
``all_to_all_single``, ``broadcast`` and a ``send``/``recv`` ping-pong. torch is imported inside
the functions only.

Method:

- rank, world size and local rank come from the launcher's environment
  (:func:`measure.launch.detect_launch`), so the probe runs under ``torchrun``, ``mpiexec`` or
  ``srun``. Under torchrun the process group joins torchrun's rendezvous (``env://``); otherwise
  rank 0 opens a ``TCPStore`` at ``master_addr:master_port`` (flags, else ``MASTER_ADDR`` /
  ``MASTER_PORT``, else ``127.0.0.1:29500``). ``timeout_s`` bounds the rendezvous and every
  collective, so ranks whose peer died give up instead of hanging;
- torch's all-reduce works in place: before each iteration the buffer is refilled (not timed),
  then a barrier, then the timed call. Records say ``in_place=True`` for all-reduce and broadcast;
- on GPUs (NCCL) each iteration is timed with CUDA events around the call and the device is
  synchronized before reading them; on CPUs (gloo) with ``time.perf_counter``;
- where a backend lacks a tensor collective (older gloo has no ``all_gather_into_tensor`` /
  ``reduce_scatter_tensor``) the probe falls back to the list form (``all_gather``,
  ``reduce_scatter``), and for reduce-scatter finally to an all-reduce of the whole buffer of
  which each rank keeps its block; the record's ``extra["fallback"]`` names what ran.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from measure.launch import detect_launch
from measure.probe_core import (
    HOSTNAME_ENV,
    IterationPlan,
    Measured,
    Pair,
    RankTiming,
    available_memory_bytes,
    bound_iterations,
    buffer_layout,
    check_probe_arguments,
    collect_env,
    combine_timings,
    corrupting_rank,
    count_wrong,
    expected_values,
    fill_values,
    memory_problem,
    plan_iterations,
    rank_timing,
    sweep,
    warm_estimate,
)
from measure.records import Record

__all__ = ["run_torch_probe", "torch_library_info", "default_backend", "check_backend"]

DEFAULT_MASTER_ADDR = "127.0.0.1"
DEFAULT_MASTER_PORT = 29500


def default_backend() -> str:
    """``nccl`` when torch sees a CUDA device, ``gloo`` otherwise."""
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def torch_library_info(backend: str) -> dict[str, str]:
    """Versions of torch, its NCCL / CUDA (when used), numpy and Python."""
    import torch

    info = {
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
        "backend": backend,
    }
    if backend == "nccl":
        info["cuda"] = str(torch.version.cuda)
        info["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    return info


class _Timer:
    """Times one call: CUDA events on GPUs, perf_counter on CPUs."""

    def __init__(self, device: Any) -> None:
        import torch

        self.cuda = device.type == "cuda"
        self.torch = torch
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def __call__(self, call: Callable[[], None]) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.start.record()
            call()
            self.end.record()
            self.end.synchronize()
            return float(self.start.elapsed_time(self.end)) * 1e-3
        start = time.perf_counter()
        call()
        return time.perf_counter() - start


def _init(
    backend: str, master_addr: str | None, master_port: int | None, timeout_s: float
) -> tuple[bool, Any]:
    """Join (or reuse) the default process group; return (created, device)."""
    import torch
    import torch.distributed as dist

    info = detect_launch()
    created = False
    if not dist.is_initialized():
        timeout = timedelta(seconds=timeout_s)
        if info.launcher == "torchrun" and master_addr is None and master_port is None:
            dist.init_process_group(
                backend,
                init_method="env://",
                rank=info.rank,
                world_size=info.world_size,
                timeout=timeout,
            )
        else:
            store = dist.TCPStore(
                master_addr or info.master_addr or DEFAULT_MASTER_ADDR,
                master_port or info.master_port or DEFAULT_MASTER_PORT,
                info.world_size,
                info.rank == 0,
                timeout=timeout,
            )
            dist.init_process_group(
                backend, store=store, rank=info.rank, world_size=info.world_size, timeout=timeout
            )
        created = True
    if backend == "nccl":
        device = torch.device("cuda", info.local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    return created, device


def _tensor_call(dist: Any, name: str, older: str) -> Callable[..., Any]:
    """The tensor form of a collective: ``name`` (torch >= 2.13) or its older spelling."""
    return getattr(dist, name, None) or getattr(dist, older)


class _Collective:
    """One operation's buffers, its (possibly fallback) call and the refill before each call."""

    def __init__(
        self, operation: str, layout: Any, rank: int, dtype: str, device: Any, corrupt: bool
    ) -> None:
        import torch

        self.operation = operation
        self.fallback = ""
        source = fill_values(rank, layout.send_count, dtype, corrupt=corrupt)
        self.source = torch.from_numpy(source).to(device)
        self.send = self.source.clone()
        self.recv = (
            self.send
            if operation in ("all-reduce", "broadcast")
            else torch.zeros(layout.recv_count, dtype=self.send.dtype, device=device)
        )
        self.layout = layout

    def prepare(self) -> None:
        if self.operation == "all-reduce":
            self.send.copy_(self.source)

    def call(self) -> None:
        import torch.distributed as dist

        op, send, recv = self.operation, self.send, self.recv
        n = self.layout.num_ranks
        if op in ("all-reduce", "broadcast"):
            if op == "all-reduce":
                dist.all_reduce(send)
            else:
                dist.broadcast(send, src=0)
        elif op == "all-to-all":
            dist.all_to_all_single(recv, send)
        elif op == "all-gather":
            if self.fallback:
                dist.all_gather(list(recv.chunk(n)), send)
            else:
                _tensor_call(dist, "all_gather_single", "all_gather_into_tensor")(recv, send)
        elif self.fallback == "all_reduce":
            full = send.clone()
            dist.all_reduce(full)
            recv.copy_(full.chunk(n)[dist.get_rank()])
        elif self.fallback == "reduce_scatter":
            dist.reduce_scatter(recv, list(send.chunk(n)))
        else:
            _tensor_call(dist, "reduce_scatter_single", "reduce_scatter_tensor")(recv, send)

    def first_call(self) -> None:
        """Call once, switching to the documented fallback if the backend lacks the operation."""
        chain = {"all-gather": ["all_gather"], "reduce-scatter": ["reduce_scatter", "all_reduce"]}
        options = chain.get(self.operation, [])
        while True:
            try:
                self.prepare()
                self.call()
                return
            except (RuntimeError, NotImplementedError, ValueError):
                if not options:
                    raise
                self.fallback = options.pop(0)


def _loop(
    timer: _Timer,
    prepare: Callable[[], None],
    call: Callable[[], None],
    count: int,
    *,
    barrier: bool,
    scale: float = 1.0,
) -> np.ndarray:
    import torch.distributed as dist

    times = np.empty(count)
    for i in range(count):
        prepare()
        if barrier:
            dist.barrier()
        times[i] = timer(call) * scale
    return times


def _max_over_ranks(value: float, device: Any) -> float:
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def _measure_collective(
    operation: str,
    size_bytes: int,
    *,
    rank: int,
    n: int,
    dtype: str,
    device: Any,
    iterations: int | None,
    warmup: int | None,
    budget_s: float,
    corrupt: bool,
    check: bool,
) -> Measured | None:
    import torch.distributed as dist

    layout = buffer_layout(operation, size_bytes, num_ranks=n, itemsize=np.dtype(dtype).itemsize)
    if layout.size_bytes == 0:
        return None
    coll = _Collective(operation, layout, rank, dtype, device, corrupt)
    timer = _Timer(device)
    plan = plan_iterations(layout.size_bytes, iterations=iterations, warmup=warmup)
    dist.barrier()
    coll.first_call()
    warm = _loop(timer, coll.prepare, coll.call, plan.warmup, barrier=True)
    if iterations is None and plan.warmup:
        plan = bound_iterations(plan, _max_over_ranks(warm_estimate(warm), device), budget_s)
    times = _loop(timer, coll.prepare, coll.call, plan.iterations, barrier=True)
    wrong = None
    if check:
        received = coll.recv.cpu().numpy()
        wrong = count_wrong(
            received, expected_values(operation, rank=rank, layout=layout, dtype=dtype)
        )
    gathered: list[Any] = [None] * n
    dist.all_gather_object(gathered, (rank_timing(times), wrong))
    return Measured(
        plan=plan,
        size_bytes=layout.size_bytes,
        timing=combine_timings([g[0] for g in gathered]),
        num_wrong=sum(g[1] for g in gathered) if check else None,
        fallback=coll.fallback,
    )


def _measure_pingpong(
    pair: Pair,
    size_bytes: int,
    *,
    rank: int,
    n: int,
    dtype: str,
    device: Any,
    iterations: int | None,
    warmup: int | None,
    budget_s: float,
    corrupt: bool,
    check: bool,
) -> Measured:
    import torch
    import torch.distributed as dist

    layout = buffer_layout("send-recv", size_bytes, num_ranks=2, itemsize=np.dtype(dtype).itemsize)
    plan = plan_iterations(layout.size_bytes, iterations=iterations, warmup=warmup)
    timing: RankTiming | None = None
    wrong: int | None = None
    if rank in (pair.rank_a, pair.rank_b):
        peer = pair.rank_b if rank == pair.rank_a else pair.rank_a
        send = torch.from_numpy(fill_values(rank, layout.send_count, dtype, corrupt=corrupt)).to(
            device
        )
        recv = torch.zeros_like(send)

        def once() -> None:
            if rank == pair.rank_a:
                dist.send(send, peer)
                dist.recv(recv, peer)
            else:
                dist.recv(recv, peer)
                dist.send(send, peer)

        timer = _Timer(device)
        warm = _loop(timer, lambda: None, once, plan.warmup, barrier=False, scale=0.5)
        if iterations is None and plan.warmup:
            count = torch.zeros(1, dtype=torch.int64, device=device)
            if rank == pair.rank_a:
                plan = bound_iterations(plan, 2.0 * warm_estimate(warm), budget_s)
                count[0] = plan.iterations
                dist.send(count, peer)
            else:
                dist.recv(count, peer)
                plan = IterationPlan(iterations=int(count.item()), warmup=plan.warmup)
        times = _loop(timer, lambda: None, once, plan.iterations, barrier=False, scale=0.5)
        if check:
            wrong = count_wrong(
                recv.cpu().numpy(),
                expected_values("send-recv", rank=rank, layout=layout, dtype=dtype, peer=peer),
            )
        if rank == pair.rank_a:
            timing = rank_timing(times)
    gathered: list[Any] = [None] * n
    dist.all_gather_object(gathered, (timing, wrong, plan))
    first = gathered[pair.rank_a]
    return Measured(
        plan=first[2],
        size_bytes=layout.size_bytes,
        timing=combine_timings([first[0]]),
        num_wrong=sum(g[1] for g in gathered if g[1] is not None) if check else None,
    )


def run_torch_probe(
    *,
    backend: str | None = None,
    operations: str | Iterable[str],
    sizes: Sequence[int],
    iterations: int | None = None,
    warmup: int | None = None,
    pairs: str = "auto",
    dtype: str = "float32",
    check: bool = True,
    on_record: Callable[[Record], None] | None = None,
    time_budget_s: float = 1.0,
    master_addr: str | None = None,
    master_port: int | None = None,
    timeout_s: float = 120.0,
) -> list[Record]:
    """Measure ``operations`` at ``sizes`` with torch.distributed; every rank calls it alike.

    Parameters
    ----------
    backend : {"nccl", "gloo"}, optional
        Default: :func:`default_backend`. Ignored when a process group already exists (its
        backend is used and the group is left open).
    operations, sizes, iterations, warmup, pairs, dtype, check, on_record, time_budget_s
        As in :func:`measure.mpi_probe.run_mpi_probe`.
    master_addr, master_port : optional
        Rendezvous for launches other than torchrun (default ``$MASTER_ADDR`` / ``$MASTER_PORT``,
        else ``127.0.0.1:29500``).
    timeout_s : float
        Bound on the rendezvous and on each collective's wait (a dead peer ends the run).

    Returns
    -------
    list of Record
        The same records on every rank; ``source="torch-probe"``, ``backend`` the backend name.

    Raises
    ------
    ValueError
        If an argument is invalid, or the test-only :data:`measure.probe_core.CORRUPT_ENV` is
        set to something not a rank.
    RuntimeError
        From torch.distributed when a peer fails or ``timeout_s`` passes.

    Notes
    -----
    Fault injection for tests: as in :func:`measure.mpi_probe.run_mpi_probe`, the rank named by
    :data:`measure.probe_core.CORRUPT_ENV` corrupts its contribution.
    """
    ops = check_probe_arguments(
        operations=operations,
        sizes=sizes,
        iterations=iterations,
        warmup=warmup,
        pairs=pairs,
        dtype=dtype,
        time_budget_s=time_budget_s,
    )
    if backend is not None and backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo', got {backend!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    corrupt_rank = corrupting_rank(os.environ)
    import torch.distributed as dist

    backend = str(dist.get_backend()) if dist.is_initialized() else (backend or default_backend())
    created, device = _init(backend, master_addr, master_port, timeout_s)
    rank, n = dist.get_rank(), dist.get_world_size()
    hosts: list[Any] = [None] * n
    dist.all_gather_object(hosts, os.environ.get(HOSTNAME_ENV) or socket.gethostname())
    # before any buffer, agreed by every rank: a host that cannot hold the largest size for all
    # of its ranks ends the run with the reason, not with the out-of-memory killer (on CPU the
    # probe also keeps a pristine copy of what it sends)
    problems: list[Any] = [None] * n
    dist.all_gather_object(problems, memory_problem(
        ops, sizes, hosts=hosts, rank=rank, itemsize=np.dtype(dtype).itemsize,
        available_bytes=available_memory_bytes(), send_copies=2 if device.type == "cpu" else 1,
        check=check))
    problem = next((p for p in problems if p is not None), None)
    if problem is not None:
        raise ValueError(problem)
    env = collect_env(os.environ)
    library = torch_library_info(backend)
    corrupt = corrupt_rank is not None and rank == corrupt_rank
    common = dict(source="torch-probe", backend=backend, dtype=dtype, library=library, env=env)
    records: list[Record] = []

    def emit(record: Record) -> None:
        records.append(record)
        if rank == 0 and on_record is not None:
            on_record(record)

    def pingpong(pair: Any, size: int) -> Any:
        return _measure_pingpong(pair, size, rank=rank, n=n, dtype=dtype, device=device,
                                 iterations=iterations, warmup=warmup, budget_s=time_budget_s,
                                 corrupt=corrupt, check=check)

    def collective(operation: str, size: int) -> Any:
        return _measure_collective(operation, size, rank=rank, n=n, dtype=dtype, device=device,
                                   iterations=iterations, warmup=warmup, budget_s=time_budget_s,
                                   corrupt=corrupt, check=check)

    # torch's all-reduce and broadcast work in place
    sweep(ops, sizes, hosts=hosts, pairs=pairs, measure_pingpong=pingpong,
          measure_collective=collective, emit=emit,
          in_place_operations=("all-reduce", "broadcast"), common=common)
    # only a successful run tears its group down: after a failure that can wait on the dead peer
    if created and dist.is_initialized():
        dist.destroy_process_group()
    return records


def check_backend(backend: str | None) -> None:
    """Refuse the nccl backend before any rendezvous where torch has no CUDA GPU or no NCCL.

    Raises
    ------
    ValueError
        ``"nccl"`` on such a torch (one line naming gloo).
    """
    if backend != "nccl":
        return
    import torch

    nccl = torch.distributed.is_available() and torch.distributed.is_nccl_available()
    if not torch.cuda.is_available() or not nccl:
        raise ValueError("--backend nccl needs CUDA GPUs and a torch built with NCCL (this "
                         "torch has " + ("no NCCL" if not nccl else "no GPU")
                         + "); use --backend gloo on CPUs")
