"""``fabric measure mpi|torch``: run the probes under a launcher and write JSON Lines records.

Run as ``mpiexec -n N fabric measure mpi -o run.jsonl`` or ``torchrun --no-python
--nproc-per-node N fabric measure torch -o run.jsonl`` (``--no-python``: ``fabric`` is a program,
not a Python file). Every rank runs the command; only rank 0 prints (an
nccl-tests-like table, row by row as sizes finish, or one JSON document with ``--json``) and
writes the file, one fsynced line per finished (operation, size). A check failure ends the run
with exit 1 and one line; an unexpected error on any rank prints one line from that rank and
aborts the whole job (``MPI_Abort``) so that no rank hangs.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from typing import Any

import click

from fabric.cli.common import (
    LOG,
    FiniteFloatRange,
    SizeListType,
    emit_result,
    hidden_alias,
    json_flag,
    one_line,
)
from fabric.units import format_size
from measure.launch import detect_launch
from measure.probe_core import DEFAULT_SIZES, DTYPES, OPERATIONS
from measure.records import Record, RecordWriter

_HEADER = (
    f"{'operation':<15} {'placement':<10} {'ranks':<9} {'size':>9} {'count':>11} {'type':>7} "
    f"{'time(us)':>11} {'min(us)':>11} {'max(us)':>11} {'algbw(GB/s)':>11} "
    f"{'busbw(GB/s)':>11} {'#wrong':>6}"
)


def _ranks(record: Record) -> str:
    """The ranks that took part: a send-recv pair ``a,b`` (one row per pair under
    ``--pairs matrix``), or ``0..n-1`` for a collective over all of them."""
    pair = record.extra.get("ranks") if isinstance(record.extra, dict) else None
    if isinstance(pair, list) and len(pair) == 2:
        return f"{pair[0]},{pair[1]}"
    return f"0..{record.num_ranks - 1}"


def _row(record: Record) -> str:
    itemsize = {"float32": 4, "int32": 4, "float64": 8, "int64": 8}.get(record.dtype, 1)
    wrong = "-" if record.num_wrong is None else str(record.num_wrong)
    return (
        f"{record.operation:<15} {record.placement:<10} {_ranks(record):<9} "
        f"{format_size(record.size_bytes):>9} "
        f"{record.size_bytes // itemsize:>11} {record.dtype:>7} {record.time_s * 1e6:>11.2f} "
        f"{(record.time_min_s or 0) * 1e6:>11.2f} {(record.time_max_s or 0) * 1e6:>11.2f} "
        f"{record.algbw_bytes_per_s / 1e9:>11.3f} {record.busbw_bytes_per_s / 1e9:>11.3f} "
        f"{wrong:>6}"
    )


def _probe_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags both probes share."""
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False),
            default=None,
            help="JSON Lines file of records (rank 0 writes it, one line per finished size).",
        ),
        click.option(
            "--collectives",
            "ops",
            default="all",
            show_default=True,
            help=f"Comma-separated operations: {', '.join(OPERATIONS)}, or all.",
        ),
        hidden_alias("ops", "--ops"),
        click.option(
            "--sizes",
            type=SizeListType(),
            default=DEFAULT_SIZES,
            show_default=True,
            help="nccl-tests sizes: MIN:MAX (x2), MIN:MAX:FACTOR or a comma list (8,1MiB).",
        ),
        click.option(
            "--iters",
            "iterations",
            type=click.IntRange(min=1),
            default=None,
            help="Timed iterations per size [default: scaled by size, ~1 s per size].",
        ),
        click.option(
            "--warmup",
            type=click.IntRange(min=0),
            default=None,
            help="Warm-up iterations per size [default: iterations/10, 2..20].",
        ),
        click.option(
            "--pairs",
            type=click.Choice(["auto", "matrix"]),
            default="auto",
            show_default=True,
            help="send-recv pairs: one intra- and one inter-host pair, or every pair.",
        ),
        click.option(
            "--dtype",
            type=click.Choice(DTYPES),
            default="float32",
            show_default=True,
            help="Element type (reductions are sums).",
        ),
        click.option(
            "--time-budget-s",
            type=FiniteFloatRange(min=0, min_open=True),
            default=1.0,
            show_default=True,
            help="Rough bound on one size's timed loop without --iters.",
        ),
        click.option(
            "--no-check",
            "check",
            is_flag=True,
            flag_value=False,
            default=True,
            help="Skip checking the received values.",
        ),
        json_flag,
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _Output:
    """Rank 0's side of a run: the records file, the progressive table, the final document."""

    def __init__(self, path: str | None, as_json: bool, title: str) -> None:
        if path == "":
            raise ValueError("-o '': give a file name for the records (or leave -o out)")
        self.writer = RecordWriter(path) if path else None
        self.path = path
        self.as_json = as_json
        self.title = title
        self.started = False
        self.written = 0

    def __call__(self, record: Record) -> None:
        if self.writer is not None:
            self.writer.write(record)
            self.written += 1
        if not self.as_json:
            if not self.started:
                click.echo(f"# {self.title}")
                click.echo(_HEADER)
                self.started = True
            click.echo(_row(record))
            sys.stdout.flush()

    def abandon(self) -> None:
        """The run failed: keep the records written so far (each a whole line), and no file
        at all if there are none."""
        if self.writer is None:
            return
        self.writer.close()
        if self.written == 0 and self.path:
            try:
                # a regular file only: -o /dev/null (or a pipe) is not this run's to remove (as
                # root, unlinking /dev/null broke it for the whole machine)
                if stat.S_ISREG(os.stat(self.path).st_mode):
                    os.unlink(self.path)
            except OSError:
                pass

    def finish(self, records: list[Record]) -> None:
        if not records:  # nothing measured: no file (the run then fails, _finish_checks)
            self.abandon()
            return
        if self.writer is not None:
            self.writer.close()
        if self.as_json:
            ctx = click.get_current_context()
            emit_result(
                " ".join(ctx.command_path.split()[1:]),
                None,
                {
                    "records": [r.to_dict() for r in records],
                    "output": self.path,
                    "num_wrong": sum(r.num_wrong or 0 for r in records),
                },
            )


def _say_sizes(ops: Any, sizes: list[int], num_ranks: int, dtype: str, rank: int) -> None:
    """Rank 0 says which asked sizes run smaller or not at all (whole elements per rank)."""
    if rank != 0:
        return
    import numpy as np

    from measure.probe_core import parse_operations, size_notes

    for note in size_notes(parse_operations(ops), sizes, num_ranks=num_ranks,
                           itemsize=np.dtype(dtype).itemsize):
        LOG.warning(f"{note} (whole {dtype} elements per rank)", extra={"prefix": "note"})


def _finish_checks(records: list[Record], rank: int) -> None:
    if not records:  # every size was left out (smaller than one element per rank)
        if rank != 0:
            sys.exit(1)
        raise click.ClickException("no size could be measured: each is smaller than one "
                                   "element per rank (see the notes); give larger --sizes")
    if rank == 0:
        for r in records:
            for problem in r.extra.get("problems", ()):
                LOG.warning("%s %s: %s (kept, with the problem in the record's "
                            "extra.problems)", r.operation, format_size(r.size_bytes), problem)
    wrong = [r for r in records if r.num_wrong]
    if not wrong:
        return
    if rank != 0:
        sys.exit(1)
    total = sum(r.num_wrong or 0 for r in wrong)
    first = wrong[0]
    raise click.ClickException(
        f"{total} wrong value(s) in {len(wrong)} record(s), first {first.operation} "
        f"{format_size(first.size_bytes)}: the results are not correct"
    )


def _checked_arguments(ops: str, sizes: list[int], iterations: int | None, warmup: int | None,
                       pairs: str, dtype: str, time_budget_s: float) -> None:
    """Validate the probe flags (every rank alike, before any communication)."""
    from measure.probe_core import check_probe_arguments

    check_probe_arguments(operations=ops, sizes=sizes, iterations=iterations, warmup=warmup,
                          pairs=pairs, dtype=dtype, time_budget_s=time_budget_s)


@click.group("measure", context_settings={"help_option_names": ["-h", "--help"]})
def measure() -> None:
    """Measure a real cluster with mpi4py or torch.distributed probes (run under a launcher)."""


@measure.command("mpi")
@_probe_options
@click.option("--back-to-back", is_flag=True,
              help="Time collectives back to back after one barrier (as nccl-tests and IMB do) "
                   "instead of one barrier before each.")
@click.option(
    "--timeout-s",
    type=FiniteFloatRange(min=0, min_open=True, max=1e9),
    default=120.0,
    show_default=True,
    help="End the run (exit 1) when no size finishes for this long (a stopped or dead rank); "
         "keep it above the longest size's warm-up and timed loop.",
)
@click.option(
    "--timing-loop",
    type=click.Choice(["auto", "native", "python"]),
    default="auto",
    show_default=True,
    help="Where the timed loop runs: native = in C, built on first use with the MPI library's "
         "mpicc (as IMB and OSU time; $FABRIC_MPICC names the wrapper); python = mpi4py calls; "
         "auto = native where it builds, else python with a warning.",
)
def measure_mpi(
    back_to_back: bool,
    timeout_s: float,
    timing_loop: str,
    output: str | None,
    ops: str,
    sizes: list[int],
    iterations: int | None,
    warmup: int | None,
    pairs: str,
    dtype: str,
    time_budget_s: float,
    check: bool,
    as_json: bool,
) -> None:
    """Probe MPI with mpi4py: run as `mpiexec -n N fabric measure mpi -o run.jsonl`."""
    from measure.mpi_probe import AgreedError, abort_job, run_mpi_probe

    rank = detect_launch().rank
    try:
        _checked_arguments(ops, sizes, iterations, warmup, pairs, dtype, time_budget_s)
    except ValueError:
        if rank == 0:
            raise
        sys.exit(1)
    from measure.mpi_probe import world_communicator

    try:
        comm = world_communicator()
    except ValueError as err:
        raise click.ClickException(one_line(err)) from None
    sink: _Output | None = None
    problem = None
    if comm.Get_size() == 1:
        LOG.warning("one rank and no launcher seen: nothing crosses a link; run as "
                    "`mpiexec -n N fabric measure mpi ...` (or srun) to measure the fabric")
    if comm.Get_rank() == 0:
        try:
            sink = _Output(output, as_json, f"mpi probe, {comm.Get_size()} ranks")
        except (ValueError, OSError) as err:
            problem = (
                one_line(err) if isinstance(err, ValueError) else f"{err.strerror}: {output!r}"
            )
    problem = comm.bcast(problem, root=0)
    if problem is not None:
        if comm.Get_rank() == 0:
            raise click.ClickException(problem)
        sys.exit(1)
    _say_sizes(ops, sizes, comm.Get_size(), dtype, comm.Get_rank())
    try:
        records = run_mpi_probe(
            comm,
            operations=ops,
            sizes=sizes,
            iterations=iterations,
            warmup=warmup,
            pairs=pairs,
            dtype=dtype,
            check=check,
            on_record=sink,
            time_budget_s=time_budget_s,
            barrier=not back_to_back,
            timeout_s=timeout_s,
            timing_loop=timing_loop,
        )
    except AgreedError as err:  # every rank raised it: each ends on its own, rank 0 says why
        if sink is not None:
            sink.abandon()
        if comm.Get_rank() == 0:
            raise click.ClickException(one_line(err)) from None
        sys.exit(1)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - one rank's failure or
        # Ctrl-C (mpiexec forwards SIGINT) must end the whole job, not leave ranks waiting
        if sink is not None:
            sink.abandon()
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else one_line(err)
        click.echo(f"Error: rank {comm.Get_rank()}: {why}", err=True)
        abort_job(comm, 1)
        return
    if sink is not None:
        sink.finish(records)
    _finish_checks(records, comm.Get_rank())


@measure.command("torch")
@_probe_options
@click.option(
    "--backend",
    type=click.Choice(["nccl", "gloo"]),
    default=None,
    help="torch.distributed backend [default: nccl if CUDA is available, else gloo].",
)
@click.option(
    "--master-addr", default=None, help="Rendezvous host [default: $MASTER_ADDR, else 127.0.0.1]."
)
@click.option(
    "--master-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Rendezvous port [default: $MASTER_PORT, else 29500].",
)
@click.option(
    "--timeout-s",
    type=FiniteFloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="Give up when the rendezvous or one collective waits this long (a dead rank).",
)
def measure_torch(
    output: str | None,
    ops: str,
    sizes: list[int],
    iterations: int | None,
    warmup: int | None,
    pairs: str,
    dtype: str,
    time_budget_s: float,
    check: bool,
    as_json: bool,
    backend: str | None,
    master_addr: str | None,
    master_port: int | None,
    timeout_s: float,
) -> None:
    """Probe torch.distributed: run under torchrun, mpiexec or srun (one process per rank):
    `torchrun --no-python --nproc-per-node N fabric measure torch -o run.jsonl`."""
    # torch's C++ side logs a stack of frames on a failed rendezvous: its errors reach the
    # user as one line each (below), so only its own errors are printed
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    from measure.torch_probe import check_backend, run_torch_probe

    launch = detect_launch()
    rank = launch.rank
    if launch.world_size == 1:
        LOG.warning("one rank (launcher: %s): nothing crosses a link; run as `torchrun "
                    "--no-python --nproc-per-node N fabric measure torch ...`, mpiexec or srun "
                    "to measure the fabric", launch.launcher)
    try:
        _checked_arguments(ops, sizes, iterations, warmup, pairs, dtype, time_budget_s)
        check_backend(backend)
        sink = _Output(output, as_json, "torch probe") if rank == 0 else None
    except (ValueError, OSError):
        if rank == 0:
            raise
        sys.exit(1)
    _say_sizes(ops, sizes, launch.world_size, dtype, rank)
    try:
        records = run_torch_probe(
            backend=backend,
            operations=ops,
            sizes=sizes,
            iterations=iterations,
            warmup=warmup,
            pairs=pairs,
            dtype=dtype,
            check=check,
            on_record=sink,
            time_budget_s=time_budget_s,
            master_addr=master_addr,
            master_port=master_port,
            timeout_s=timeout_s,
        )
    except Exception as err:  # noqa: BLE001 - one line, then exit 1 on every failing rank
        if sink is not None:
            sink.abandon()
        click.echo(f"Error: rank {rank}: {one_line(err)}", err=True)
        sys.stderr.flush()
        # a wedged gloo/NCCL worker thread must not keep the process alive
        os._exit(1)
    if sink is not None:
        sink.finish(records)
    _finish_checks(records, rank)
