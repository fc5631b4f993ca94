"""Measure point-to-point and collective times with mpi4py, one record per (operation, size).

Launch under ``mpiexec -n N`` (or ``srun``) and call :func:`run_mpi_probe` with a communicator, as
``mpi4py.bench`` does: the function returns data and never prints. mpi4py is imported inside the
functions only, so the rest of the package works without it.

Method (kept close to nccl-tests and IMB so the numbers compare):

- every rank fills its send buffer with ``rank + 1 + (i % 17)``
  (:func:`measure.probe_core.fill_values`);
- warm-up iterations, then timed iterations. Each collective iteration starts after an
  ``MPI_Barrier`` so that all ranks enter together and one iteration's stragglers do not leak into
  the next: the time is then one collective from a common start, not the pipelined rate of
  back-to-back calls that nccl-tests' averaged loop gives for tiny sizes (the barrier's exit skew,
  a few microseconds in shared memory, is included in small-size times);
- the timed loops run in C (:mod:`measure.native_loop`: ``native/timing_loop.c``, built on first
  use with the MPI library's own ``mpicc`` and called through ctypes), so a timed region holds
  MPI calls and the clock only, as in IMB-MPI1 and the OSU micro-benchmarks. mpi4py spends
  0.2-0.7 us of Python per call, as long as a whole 8-byte all-reduce between two ranks in
  shared memory; timing each such call from Python gave 5-9x IMB's time from 8 B to 2 KiB
  (issue 12). Where no ``mpicc`` builds the helper the probe times in Python and says so
  (``extra["timing_loop"]`` of every record is ``native`` or ``python``);
- with a barrier before each collective (the default), each call is timed alone, as IMB-MPI1
  times its collectives (its ``-sync on`` default). Back to back, and for the ping-pong, fast
  iterations of t seconds run ``batch = ceil(50 us / t)`` at a time inside one timed region (at
  most iterations / 10, so the median keeps 10 samples), as OSU and IMB's PingPong read the
  clock around a loop; region time / ``batch`` is one sample
  (:func:`measure.probe_core.batch_iterations`, ``extra["batch"]`` of the record);
- timed in Python, collectives are always batched and a region's time less ``batch`` times
  the measured cost of the same mpi4py call on empty buffers on ``MPI.COMM_SELF``
  (``extra["call_overhead_s"]``) makes the sample. That correction undershoots below about
  4 KiB, because the binding's cost overlaps the communication of back-to-back calls (0.2-0.9x
  IMB's time measured here, 1.2-2.3x without it). The Python ping-pong uses persistent
  requests (``Send_init`` / ``Recv_init``: mpi4py parses the buffers once) and subtracts
  nothing: 1.16-1.23x IMB's PingPong below 4 KiB on the same MPICH, where the C loop gives
  0.99-1.04x (``benchmarks/probe_overhead.py``);
- a rank that stops (SIGSTOP, a hung node) or disappears without closing its sockets would
  leave the others in a collective forever: with ``timeout_s`` a watchdog thread on every
  rank ends the job (``MPI_Abort``) when no size finishes for that long;
- the ping-pong is not barriered: each round trip synchronizes the pair, and the one-way time is
  half the round trip (``time_s`` of a send-recv record), as IMB's PingPong reports it;
- each rank takes the median of its iterations; a record's ``time_s`` is the max over ranks of
  those medians, ``time_min_s`` / ``time_max_s`` the fastest and slowest single iteration of any
  rank (:func:`measure.probe_core.combine_timings`);
- after the timed loop every rank checks its receive buffer against the expected values; a
  record's ``num_wrong`` is the number of wrong elements summed over ranks (nccl-tests' #wrong).

The MPI library picks its algorithms as it is configured: pinned algorithms in the environment
(``MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=ring``, ``OMPI_MCA_coll_tuned_*``) apply unchanged and are
copied to the record's ``algorithm`` and ``env``. mpi4py's thread level changes MPICH's timings
(5x for an 8-byte all-reduce at ``multiple``, mpi4py's default): :func:`world_communicator`, which
the CLI uses, asks for ``funneled`` unless ``MPI4PY_RC_THREAD_LEVEL`` says otherwise; the level in
force is recorded in ``library["thread_level"]``.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from measure.native_loop import NativeLoops, load_native_loops
from measure.probe_core import (
    HOSTNAME_ENV,
    Measured,
    Pair,
    RankTiming,
    available_memory_bytes,
    batch_iterations,
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

__all__ = ["run_mpi_probe", "mpi_library_info", "abort_job", "AgreedError", "TIMING_LOOPS"]

LOG = logging.getLogger(__name__)
#: ``timing_loop`` choices of :func:`run_mpi_probe`.
TIMING_LOOPS = ("auto", "native", "python")
#: ``native(regions, batch, barrier)``: seconds of each region of back-to-back calls, looped in C.
NativeRegions = Callable[[int, int, bool], np.ndarray]

_TAG = 0x4FAB
_IDLE_POLL_S = 1e-3
#: Seconds a rank waits, after printing why, before it ends the job with ``MPI_Abort``: the
#: launcher forwards a rank's output from a pipe, and its teardown after an abort can drop what
#: has not been forwarded yet (seen with MPICH's Hydra: an empty stderr).
_ABORT_GRACE_S = 0.5


#: The MPI thread level the CLI's probe asks for unless ``MPI4PY_RC_THREAD_LEVEL`` says otherwise.
THREAD_LEVEL = "funneled"


def world_communicator() -> Any:
    """``MPI.COMM_WORLD``, initializing MPI at thread level :data:`THREAD_LEVEL` when this call
    is the first to import ``mpi4py.MPI``.

    mpi4py asks for ``MPI_THREAD_MULTIPLE`` by default (``mpi4py.rc.thread_level``,
    https://mpi4py.readthedocs.io/en/4.0.2/mpi4py.html, read 2026-12), and MPICH then guards
    every call with a lock: an 8-byte all-reduce of 2 ranks in shared memory took 1.8-1.9 us
    there against 0.32 us at ``single``, and IMB-MPI1 with ``-thread_level multiple`` moved the
    same way (measured by this project, MPICH 5.0.2). The probe calls MPI from its main thread
    only (``funneled``; its watchdog's last-resort ``MPI_Abort`` is backed by ``os._exit``), as
    IMB and the OSU benchmarks run at ``MPI_Init``'s level. The environment variable
    ``MPI4PY_RC_THREAD_LEVEL`` still wins; the level in force is recorded in every record's
    ``library["thread_level"]``.

    Raises
    ------
    ValueError
        If mpi4py (or the MPI library under it) cannot be imported; the message says what
        to install.
    """
    try:
        if "mpi4py.MPI" not in sys.modules:
            import mpi4py

            mpi4py.rc.thread_level = THREAD_LEVEL
        from mpi4py import MPI
    except ImportError as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"mpi4py cannot be imported ({reason}); "
                         "install it: pip install 'fabric-modeler[mpi]'") from None
    return MPI.COMM_WORLD


def mpi_library_info() -> dict[str, str]:
    """Versions of the MPI library, mpi4py, numpy and Python, and the thread level in force.

    MPI is initialized by this call if it was not yet.
    """
    import mpi4py
    from mpi4py import MPI

    levels = {
        MPI.THREAD_SINGLE: "single",
        MPI.THREAD_FUNNELED: "funneled",
        MPI.THREAD_SERIALIZED: "serialized",
        MPI.THREAD_MULTIPLE: "multiple",
    }
    lines = [line.strip() for line in MPI.Get_library_version().splitlines() if line.strip()]
    version = " ".join(lines[0].split()) if lines else "unknown"
    return {
        "mpi": version,
        "mpi_standard": "{}.{}".format(*MPI.Get_version()),
        "mpi4py": str(mpi4py.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
        "thread_level": levels.get(MPI.Query_thread(), str(MPI.Query_thread())),
    }


class _Watchdog:
    """Ends the whole job when no record is finished for ``timeout_s`` (a stopped or lost rank).

    MPI has no timeout on a blocking call: a rank stopped with SIGSTOP, or lost without its
    socket closing, leaves the others waiting in a collective forever. A daemon thread on every
    rank watches the time since the last finished (operation, size); past ``timeout_s`` it
    prints one line, calls ``MPI_Abort`` (the launcher then kills every rank, stopped ones
    included) and, should the abort itself hang, leaves with ``os._exit(1)`` 5 s later.
    Records are written under the same lock, so the end never cuts a record in half.
    """

    def __init__(self, comm: Any, timeout_s: float) -> None:
        self.comm, self.timeout_s = comm, timeout_s
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + timeout_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="mpi-probe-watchdog", daemon=True)
        self.thread.start()

    def kick(self) -> None:
        """A record is finished: the next one has ``timeout_s`` again."""
        self.deadline = time.monotonic() + self.timeout_s

    def stop(self) -> None:
        """The run is over (or failed on its own): stop watching."""
        self.stopped.set()

    def _watch(self) -> None:
        poll_s = min(1.0, self.timeout_s / 4)
        while not self.stopped.wait(poll_s):
            if time.monotonic() <= self.deadline:
                continue
            self.lock.acquire(timeout=5.0)  # let a record being written finish its line
            rank = self.comm.Get_rank()
            sys.stderr.write(f"Error: rank {rank}: no measurement finished in "
                             f"{self.timeout_s:g} s (--timeout-s): a rank is stopped, hung or "
                             f"gone; ending the run\n")
            sys.stderr.flush()
            aborter = threading.Thread(target=abort_job, args=(self.comm, 1), daemon=True)
            aborter.start()
            aborter.join(5.0 + _ABORT_GRACE_S)
            os._exit(1)


class AgreedError(ValueError):
    """A failure every rank raises together, after agreeing on it (a collective decided it).

    No rank is left waiting on another, so the job ends by each rank exiting on its own:
    ``MPI_Abort`` is for a failure only some ranks saw, and its teardown can drop what the
    ranks printed last (MPICH's Hydra launcher may exit before it forwards their stderr).
    """


def abort_job(comm: Any, code: int = 1) -> None:
    """End the whole job from one rank (``MPI_Abort``) after what it printed had time to reach
    the launcher (:data:`_ABORT_GRACE_S`): for a failure the other ranks may not have seen."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_ABORT_GRACE_S)
    comm.Abort(code)


def _native_loops(comm: Any, timing_loop: str) -> NativeLoops | None:
    """The C timing loops when ``timing_loop`` allows them and every rank loaded them.

    Rank 0 builds (or finds the cached build) first, then the others load theirs (a build is
    renamed into place whole, so hosts sharing a home directory never read half a file; a host
    with its own cache builds its own); all ranks agree on the result, since mixing timing
    loops would mix methods in one record.
    """
    if timing_loop == "python":
        return None
    from mpi4py import MPI

    library_version = MPI.Get_library_version()
    # rank 0 builds first, so the others find the cached file rather than compile it too
    loops, why = load_native_loops(library_version) if comm.Get_rank() == 0 else (None, "")
    comm.Barrier()
    if comm.Get_rank() != 0:
        loops, why = load_native_loops(library_version)
    reasons = comm.allgather(why if loops is None else "")
    if all(not reason for reason in reasons):
        return loops
    failed = next(r for r, reason in enumerate(reasons) if reason)
    message = f"no native timing loop on rank {failed}: {reasons[failed]}"
    if timing_loop == "native":
        raise AgreedError(message)
    if comm.Get_rank() == 0:
        LOG.warning("%s; timing in Python instead (mpi4py's cost per call is subtracted from "
                    "batched collectives, which undershoots below about 4 KiB)", message)
    return None


def _idle_barrier(comm: Any) -> None:
    """A barrier that sleeps while it waits, so idle ranks leave the cores to the measured pair."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(_IDLE_POLL_S)


def _datatype(dtype: Any) -> Any:
    """The predefined MPI datatype of a numpy dtype (``MPI.FLOAT`` for float32...)."""
    from mpi4py import MPI

    return MPI._typedict[np.dtype(dtype).char]


def _typed(buffer: np.ndarray) -> list[Any]:
    """``[buffer, MPI datatype]``: mpi4py then skips inferring the type on every call (~0.5 us
    of the few microseconds a small collective takes)."""
    return [buffer, _datatype(buffer.dtype)]


def _collective_call(
    comm: Any, operation: str, send_array: np.ndarray, recv_array: np.ndarray, MPI: Any
) -> Callable[[], None]:
    # typed only where send and receive counts are the whole buffers (mpi4py divides a plain
    # buffer by the communicator size for the gathering and scattering calls)
    send, recv = send_array, recv_array
    if operation == "all-reduce":
        typed_send, typed_recv = _typed(send_array), _typed(recv_array)
        return lambda: comm.Allreduce(typed_send, typed_recv, op=MPI.SUM)
    if operation == "all-gather":
        return lambda: comm.Allgather(send, recv)
    if operation == "reduce-scatter":
        return lambda: comm.Reduce_scatter_block(send, recv, op=MPI.SUM)
    if operation == "all-to-all":
        return lambda: comm.Alltoall(send, recv)
    typed = _typed(recv_array)
    return lambda: comm.Bcast(typed, root=0)


def _time_loop(
    comm: Any,
    call: Callable[[], None] | None,
    count: int,
    *,
    barrier: bool,
    wtime: Callable[[], float],
    scale: float = 1.0,
    batch: int = 1,
    overhead_s: float = 0.0,
    native: NativeRegions | None = None,
) -> np.ndarray:
    """Per-iteration times of ``count`` calls, timed in regions of ``batch`` back-to-back calls.

    One sample per region: (region time - ``batch`` x ``overhead_s``) / batch, as OSU and IMB
    time their loops; ``overhead_s`` is what one iteration costs without communicating
    (:func:`_call_cost_s`), and at least a quarter of the region's time is kept (a noisy
    estimate never drives a time to zero). With ``barrier`` a barrier starts every region.
    With ``native`` (``native(regions, batch, barrier)``: the same calls looped in C,
    :mod:`measure.native_loop`) nothing is subtracted: a region holds no Python, and ``call``
    (None there) is not used.
    """
    if native is not None:
        regions = count if batch <= 1 else max(1, count // batch)
        return native(regions, max(batch, 1), barrier) / max(batch, 1) * scale
    assert call is not None, "the Python timing loop needs the call to time"
    if batch <= 1:
        times = np.empty(count)
        for i in range(count):
            if barrier:
                comm.Barrier()
            start = wtime()
            call()
            times[i] = (wtime() - start) * scale
        return times
    regions = max(1, count // batch)
    times = np.empty(regions)
    inner = range(batch)
    for i in range(regions):
        if barrier:
            comm.Barrier()
        start = wtime()
        for _ in inner:
            call()
        elapsed = wtime() - start
        # at most 3/4 of a region is the binding's: a larger estimate is the estimate's error
        times[i] = max(elapsed - batch * overhead_s, elapsed * _KEPT_AT_LEAST) / batch * scale
    return times


_CALL_COST_S: dict[tuple[str, str], float] = {}
#: The least share of a batched region's time kept after the binding's cost is subtracted.
_KEPT_AT_LEAST = 0.25


def _call_cost_s(key: tuple[str, str], empty: Callable[[], None],
                 wtime: Callable[[], float]) -> float:
    """What one iteration of a batched loop costs when it moves nothing: the loop step and the
    same mpi4py call on empty buffers (``empty``: on ``MPI.COMM_SELF``), the fastest of 5 loops
    of 1000, measured once per ``key``. Used by the Python timing loop only.

    The binding's own work per call (parsing the buffer arguments, 0.4-0.9 us for a collective
    with mpi4py 4.1) is Python's, not the network's or the MPI library's; IMB and OSU, written
    in C, do not pay it. MPICH's own cost of a call that moves nothing is a few tens of
    nanoseconds, also subtracted.
    """
    if key not in _CALL_COST_S:
        best = float("inf")
        inner = range(1000)
        for _ in range(5):
            start = wtime()
            for _ in inner:
                empty()
            best = min(best, (wtime() - start) / 1000)
        _CALL_COST_S[key] = best
    return _CALL_COST_S[key]


def _wrong_total(values: Iterable[int | None], check: bool) -> int | None:
    return sum(v for v in values if v is not None) if check else None


def _measure_collective(
    comm: Any,
    operation: str,
    size_bytes: int,
    *,
    dtype: str,
    iterations: int | None,
    warmup: int | None,
    budget_s: float,
    corrupt: bool,
    check: bool,
    barrier: bool = True,
    native: NativeLoops | None = None,
) -> Measured | None:
    from mpi4py import MPI

    rank, n = comm.Get_rank(), comm.Get_size()
    layout = buffer_layout(operation, size_bytes, num_ranks=n, itemsize=np.dtype(dtype).itemsize)
    if layout.size_bytes == 0:
        return None
    if operation == "broadcast":
        send = recv = fill_values(rank, layout.recv_count, dtype, corrupt=corrupt)
    else:
        send = fill_values(rank, layout.send_count, dtype, corrupt=corrupt)
        recv = np.zeros(layout.recv_count, dtype=dtype)
    call = _collective_call(comm, operation, send, recv, MPI)
    native_call: NativeRegions | None = None
    if native is not None:
        count = _native_count(operation, layout, n)
        datatype = _datatype(dtype)

        def native_call(regions: int, batch: int, barrier: bool) -> np.ndarray:
            return native.collective(comm, operation, send, recv, count, datatype, MPI.SUM,
                                     regions, batch, barrier)
        overhead_s = 0.0
    else:
        # the same call on empty buffers, alone on MPI.COMM_SELF: the binding's cost per call
        nothing = np.zeros(0, dtype=dtype)
        overhead_s = _call_cost_s(
            (operation, dtype), _collective_call(MPI.COMM_SELF, operation, nothing, nothing, MPI),
            MPI.Wtime)
    plan = plan_iterations(layout.size_bytes, iterations=iterations, warmup=warmup)
    if not barrier:
        comm.Barrier()
    # warmed up as it will be timed: back to back, a call's estimate holds no barrier (on a
    # busy host a barrier alone can take longer than a timed region)
    warm = _time_loop(comm, call, plan.warmup, barrier=barrier, wtime=MPI.Wtime,
                      native=native_call)
    if plan.warmup:
        # the slowest rank's estimate, so every rank runs the same regions (and barriers)
        estimate_s = comm.allreduce(warm_estimate(warm), op=MPI.MAX)
        fastest_s = comm.allreduce(warm_estimate(warm, least=True), op=MPI.MAX)
        if iterations is None:
            plan = bound_iterations(plan, estimate_s, budget_s)
        if native is None or not barrier:
            # in C with a barrier before each call, every call is timed alone, as IMB-MPI1 times
            # its collectives (-sync on, its default): Python's cost per call is what batching
            # spreads out, and the C loop has none
            plan = batch_iterations(plan, fastest_s)
    if not barrier:
        comm.Barrier()  # start together once, then back to back (nccl-tests and IMB time so)
    times = _time_loop(comm, call, plan.iterations, barrier=barrier, wtime=MPI.Wtime,
                       batch=plan.batch, overhead_s=overhead_s, native=native_call)
    wrong = (
        count_wrong(recv, expected_values(operation, rank=rank, layout=layout, dtype=dtype))
        if check
        else None
    )
    gathered = comm.allgather((rank_timing(times), wrong, overhead_s))
    return Measured(
        plan=plan,
        size_bytes=layout.size_bytes,
        timing=combine_timings([g[0] for g in gathered]),
        num_wrong=_wrong_total((g[1] for g in gathered), check),
        overhead_s=max(g[2] for g in gathered) if plan.batch > 1 else 0.0,
    )


def _measure_pingpong(
    comm: Any,
    pair: Pair,
    size_bytes: int,
    *,
    dtype: str,
    iterations: int | None,
    warmup: int | None,
    budget_s: float,
    corrupt: bool,
    check: bool,
    native: NativeLoops | None = None,
) -> Measured:
    from mpi4py import MPI

    rank = comm.Get_rank()
    layout = buffer_layout("send-recv", size_bytes, num_ranks=2, itemsize=np.dtype(dtype).itemsize)
    plan = plan_iterations(layout.size_bytes, iterations=iterations, warmup=warmup)
    timing: RankTiming | None = None
    wrong: int | None = None
    if rank in (pair.rank_a, pair.rank_b):
        peer = pair.rank_b if rank == pair.rank_a else pair.rank_a
        first = rank == pair.rank_a
        send = fill_values(rank, layout.send_count, dtype, corrupt=corrupt)
        recv = np.zeros(layout.recv_count, dtype=dtype)
        datatype = _datatype(dtype)
        native_call: NativeRegions | None = None
        once: Callable[[], None] | None = None
        requests: list[Any] = []
        if native is not None:

            def native_call(regions: int, batch: int, barrier: bool) -> np.ndarray:
                return native.pingpong(comm, peer, first, send, recv, len(recv), datatype,
                                       _TAG, regions, batch)
        else:
            # Persistent requests: mpi4py parses the buffers once, not on every call. Against
            # IMB-MPI1's PingPong on the same MPICH (2 ranks, 8 B-32 KiB), a bare loop of them
            # came 0.95-1.06x with nothing subtracted, where blocking Send/Recv came 1.12-1.38x
            # and subtracting the same calls to MPI.PROC_NULL undershot (0.76-0.98x).
            requests = [comm.Send_init([send, datatype], peer, _TAG),
                        comm.Recv_init([recv, datatype], peer, _TAG)]
            one, two = requests if first else requests[::-1]  # who sends first

            def once() -> None:
                one.Start()
                one.Wait()
                two.Start()
                two.Wait()

        try:
            warm = _time_loop(comm, once, plan.warmup, barrier=False, wtime=MPI.Wtime, scale=0.5,
                              native=native_call)
            if plan.warmup:
                # rank a's estimate decides, so both sides run the same number of round trips
                if first:
                    if iterations is None:
                        plan = bound_iterations(plan, 2.0 * warm_estimate(warm), budget_s)
                    plan = batch_iterations(plan, 2.0 * warm_estimate(warm, least=True))
                    comm.send(plan, peer, _TAG + 1)
                else:
                    plan = comm.recv(source=peer, tag=_TAG + 1)
            times = _time_loop(comm, once, plan.iterations, barrier=False, wtime=MPI.Wtime,
                               scale=0.5, batch=plan.batch, native=native_call)
        finally:
            for request in requests:
                request.Free()
        wrong = (
            count_wrong(
                recv, expected_values("send-recv", rank=rank, layout=layout, dtype=dtype, peer=peer)
            )
            if check
            else None
        )
        timing = rank_timing(times) if first else None
    _idle_barrier(comm)
    gathered = comm.allgather((timing, wrong, plan))
    first_rank = gathered[pair.rank_a]
    return Measured(
        plan=first_rank[2],
        size_bytes=layout.size_bytes,
        timing=combine_timings([first_rank[0]]),
        num_wrong=_wrong_total((g[1] for g in gathered), check),
    )


def _native_count(operation: str, layout: Any, num_ranks: int) -> int:
    """The count argument of the C call: per rank for all-gather and all-to-all, the received
    block for reduce-scatter, the whole buffer otherwise (as mpi4py derives it)."""
    if operation == "all-gather":
        return int(layout.send_count)
    if operation == "all-to-all":
        return int(layout.send_count) // num_ranks
    return int(layout.recv_count)  # reduce-scatter's block; all-reduce's and broadcast's buffer


def run_mpi_probe(
    comm: Any,
    *,
    operations: str | Iterable[str],
    sizes: Sequence[int],
    iterations: int | None = None,
    warmup: int | None = None,
    pairs: str = "auto",
    dtype: str = "float32",
    check: bool = True,
    on_record: Callable[[Record], None] | None = None,
    time_budget_s: float = 1.0,
    barrier: bool = True,
    timeout_s: float | None = None,
    timing_loop: str = "auto",
) -> list[Record]:
    """Measure ``operations`` at ``sizes`` on ``comm``; every rank calls it with the same arguments.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The communicator to measure (usually ``MPI.COMM_WORLD``).
    operations : str or iterable of str
        ``"all"`` or names among send-recv, all-reduce, all-gather, reduce-scatter, all-to-all,
        broadcast (aliases such as ``allreduce`` are accepted).
    sizes : sequence of int
        nccl-tests sizes in bytes (see :func:`measure.probe_core.buffer_layout`); sizes too small
        for one element per rank are skipped.
    iterations, warmup : int, optional
        Fixed counts; by default they scale with size (:func:`measure.probe_core.plan_iterations`)
        and the timed loop is cut to about ``time_budget_s`` per size.
    pairs : {"auto", "matrix"}
        Ping-pong pairs: one intra-host and one inter-host pair, or every pair.
    dtype : {"float32", "float64", "int32", "int64"}
        Element type; reductions are sums.
    check : bool
        Check every receive buffer after the timed loop (``num_wrong``); ``None`` when off.
    on_record : callable, optional
        Called on rank 0 with each record as soon as its (operation, size) is finished (a
        :class:`~measure.records.RecordWriter`'s ``write``, so a killed run keeps what it did).
    time_budget_s : float
        Rough bound on one size's timed loop when ``iterations`` is not given.
    barrier : bool
        True (default): a barrier before every timed collective, so each iteration is one
        collective from a common start (arrival skew included). False: one barrier, then the
        iterations back to back, as nccl-tests and IMB time them (consecutive collectives may
        overlap a little). Recorded in ``extra["timing"]``.
    timeout_s : float, optional
        End the whole job (``MPI_Abort``, exit 1) when no (operation, size) finishes for this
        long on some rank: a stopped, hung or lost rank cannot hang the run. None: no limit.
        Set it above the longest single size (its warm-up plus timed loop).
    timing_loop : {"auto", "native", "python"}
        Where the timed loop runs. ``"native"``: in C (:mod:`measure.native_loop`, built on
        first use with the MPI library's ``mpicc``), as IMB and OSU time; refused when it cannot
        be built. ``"python"``: mpi4py calls (the binding's cost per call subtracted from
        batched collectives). ``"auto"`` (default): native where every rank can load it, else
        Python with a warning. Recorded in every record's ``extra["timing_loop"]``.

    Returns
    -------
    list of Record
        The same records on every rank, in measuring order: for each operation, each size (and
        for send-recv each pair). Send-recv records have ``num_ranks=2``, the pair's hosts, and
        ``extra["ranks"]``; ``time_s`` is the one-way time.

    Raises
    ------
    ValueError
        If an argument is invalid (raised on every rank alike, before any communication), or
        the test-only :data:`measure.probe_core.CORRUPT_ENV` is set to something not a rank.
    AgreedError
        On every rank, before any buffer is made: some host cannot hold the largest size's
        buffers for all of its ranks (:func:`measure.probe_core.memory_problem`).

    Notes
    -----
    Fault injection for tests: with :data:`measure.probe_core.CORRUPT_ENV` set to a rank in the
    environment, that rank corrupts its contribution so the checks must fail.
    Timing statistics follow DESIGN.md ("max over ranks of the median over iterations");
    bandwidths follow nccl-tests ``doc/PERFORMANCE.md`` through the Record properties.
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
    if timeout_s is not None and not 0 < timeout_s < float("inf"):
        raise ValueError(f"timeout_s must be > 0 and finite, got {timeout_s!r}")
    if timing_loop not in TIMING_LOOPS:
        raise ValueError(f"timing_loop must be one of {', '.join(TIMING_LOOPS)}, "
                         f"got {timing_loop!r}")
    corrupt_rank = corrupting_rank(os.environ)
    rank = comm.Get_rank()
    from mpi4py import MPI

    host = os.environ.get(HOSTNAME_ENV) or MPI.Get_processor_name()
    hosts = comm.allgather(host)
    # before any buffer: a host whose ranks cannot hold the largest size ends the run with its
    # reason on every rank, not with the out-of-memory killer halfway through the sweep
    problems = comm.allgather(memory_problem(
        ops, sizes, hosts=hosts, rank=rank, itemsize=np.dtype(dtype).itemsize,
        available_bytes=available_memory_bytes(), check=check))
    problem = next((p for p in problems if p is not None), None)
    if problem is not None:
        raise AgreedError(problem)
    library = comm.bcast(mpi_library_info(), root=0)
    env = comm.bcast(collect_env(os.environ), root=0)
    corrupt = corrupt_rank is not None and rank == corrupt_rank
    native = _native_loops(comm, timing_loop)
    common = dict(source="mpi-probe", backend="mpi", dtype=dtype, library=library, env=env)
    records: list[Record] = []

    watchdog = _Watchdog(comm, timeout_s) if timeout_s is not None else None

    def emit(record: Record) -> None:
        records.append(record)
        if watchdog is not None:
            with watchdog.lock:
                if rank == 0 and on_record is not None:
                    on_record(record)
                watchdog.kick()
        elif rank == 0 and on_record is not None:
            on_record(record)

    def pingpong(pair: Any, size: int) -> Any:
        return _measure_pingpong(comm, pair, size, dtype=dtype, iterations=iterations,
                                 warmup=warmup, budget_s=time_budget_s, corrupt=corrupt,
                                 check=check, native=native)

    def collective(operation: str, size: int) -> Any:
        return _measure_collective(comm, operation, size, dtype=dtype, iterations=iterations,
                                   warmup=warmup, budget_s=time_budget_s, corrupt=corrupt,
                                   check=check, barrier=barrier, native=native)

    try:
        sweep(ops, sizes, hosts=hosts, pairs=pairs, measure_pingpong=pingpong,
              measure_collective=collective, emit=emit, in_place_operations=("broadcast",),
              common=common,
              collective_extra={"timing": "barrier" if barrier else "back-to-back"},
              record_extra={"timing_loop": "python" if native is None else "native"})
    finally:
        if watchdog is not None:
            watchdog.stop()
    return records
