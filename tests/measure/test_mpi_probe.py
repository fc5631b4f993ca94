"""``fabric measure mpi`` run for real under the venv's ``mpiexec`` (MPICH from PyPI).

No mocks: every test in the ``mpi`` group starts real ranks, and fails (never skips) when mpi4py
or ``mpiexec`` is missing (``mpi_installed`` in ``conftest.py``; the ``[test]`` extra installs
both). Sizes and iteration counts are tiny so the whole file runs in well under a minute on two
cores.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectives.names import busbw_factor
from fabric.cli import cli
from measure.probe_core import CORRUPT_ENV, MEMINFO_ENV, OPERATIONS, REGION_S
from measure.records import read_records

BIN = Path(sys.executable).parent
MPIEXEC = BIN / "mpiexec"
FABRIC = [str(BIN / "fabric")] if (BIN / "fabric").exists() else [
    sys.executable, "-c", "from fabric.cli import main; main()"]
SIZES = "100,4KiB"
TIMEOUT_S = 120


def mpi(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test as running real mpiexec, which must be installed (a failure, never a skip)."""
    return pytest.mark.mpi(pytest.mark.usefixtures("mpi_installed")(test))


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(CORRUPT_ENV, None)
    env.update(extra)
    return env


def _mpiexec(n: int, *args: str, env: dict[str, str] | None = None,
             timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MPIEXEC), "-n", str(n), *FABRIC, "measure", "mpi", *args],
                          capture_output=True, text=True, timeout=timeout, env=env or _env())


@mpi
@pytest.mark.parametrize("num_ranks", [2, 4])
def test_every_operation_and_size_is_recorded(tmp_path: Path, num_ranks: int) -> None:
    out = tmp_path / "run.jsonl"
    result = _mpiexec(num_ranks, "-o", str(out), "--sizes", SIZES, "--iters", "3", "--warmup", "1",
                      env=_env(MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM="ring"))
    assert result.returncode == 0, result.stderr
    records = read_records(out)
    # 100 bytes of float32 is 25 elements; gathered/scattered/all-to-all sizes round to whole
    # elements per rank as nccl-tests does: (25 // n) * n * 4 bytes.
    small = {op: 100 for op in OPERATIONS} | {
        op: (25 // num_ranks) * num_ranks * 4
        for op in ("all-gather", "reduce-scatter", "all-to-all")}
    expected = {(op, size) for op in OPERATIONS for size in (small[op], 4096)}
    assert {(r.operation, r.size_bytes) for r in records} == expected
    assert len(records) == len(expected)  # one host: one intra-host send-recv pair
    for record in records:
        assert record.num_wrong == 0
        assert record.source == "mpi-probe" and record.backend == "mpi"
        assert (record.iterations, record.warmup_iterations) == (3, 1)
        assert record.time_min_s <= record.time_s <= record.time_max_s
        assert record.library["mpi"].startswith("MPICH")
        assert record.env["MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM"] == "ring"
        assert record.algorithm == ("ring" if record.operation == "all-reduce" else "")
        if record.operation == "send-recv":
            assert (record.num_ranks, record.placement) == (2, "intra-host")
            assert record.extra["ranks"] == [0, 1]
        else:
            assert record.num_ranks == num_ranks
            assert len(record.hosts) == num_ranks and record.num_hosts == 1
            assert record.ranks_per_host == num_ranks
    # the file's derived bandwidths follow nccl-tests doc/PERFORMANCE.md
    for line in out.read_text().splitlines():
        data = json.loads(line)
        algbw = data["size_bytes"] / data["time_s"]
        assert data["algbw_bytes_per_s"] == pytest.approx(algbw)
        assert data["busbw_bytes_per_s"] == pytest.approx(
            algbw * busbw_factor(data["operation"], data["num_ranks"]))
    # only rank 0 prints: one title, one header, one row per record
    lines = result.stdout.splitlines()
    assert sum(line.startswith("# mpi probe") for line in lines) == 1
    assert sum(line.startswith("operation ") for line in lines) == 1
    assert len(lines) == 2 + len(records)


@mpi
def test_pair_matrix_rows_name_their_ranks(tmp_path: Path) -> None:
    # --pairs matrix gives one send-recv row per pair: the table says which pair each row is
    result = _mpiexec(3, "-o", str(tmp_path / "run.jsonl"), "--ops", "send-recv,all-reduce",
                      "--sizes", "64", "--iters", "2", "--warmup", "0", "--pairs", "matrix")
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split() for line in result.stdout.splitlines()[1:]]
    ranks = header.index("ranks")
    assert sorted(row[ranks] for row in rows if row[0] == "send-recv") == ["0,1", "0,2", "1,2"]
    assert [row[ranks] for row in rows if row[0] == "all-reduce"] == ["0..2"]


@mpi
def test_json_output_is_one_document(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = _mpiexec(2, "--ops", "all-reduce,send-recv", "--sizes", "8,64", "--iters", "2",
                      "--warmup", "0", "--json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)["results"]
    assert document["num_wrong"] == 0 and document["output"] == str(out)
    assert [(r["operation"], r["size_bytes"]) for r in document["records"]] == [
        ("all-reduce", 8), ("all-reduce", 64), ("send-recv", 8), ("send-recv", 64)]
    assert len(read_records(out)) == 4


@mpi
@pytest.mark.parametrize(("flags", "timing"),
                         [([], "barrier"), (["--back-to-back"], "back-to-back")])
def test_timing_mode_is_recorded(flags: list[str], timing: str) -> None:
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "1KiB", "--iters", "3", "--warmup",
                      "1", "--json", *flags)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)["results"]["records"]
    assert record["extra"]["timing"] == timing and record["num_wrong"] == 0


@mpi
@pytest.mark.parametrize(("loop", "flags"), [("native", []), ("native", ["--back-to-back"]),
                                             ("python", [])])
def test_small_sizes_are_timed_as_the_c_benchmarks_time_them(loop: str, flags: list[str]) -> None:
    # (issue 12, item 9) Microsecond iterations back to back are timed in batches, as OSU and
    # IMB's PingPong time them. In C nothing is subtracted, and a collective with a barrier
    # before each call is timed call by call, as IMB-MPI1 does (-sync on). In Python a batched
    # collective subtracts what the same mpi4py call costs on empty buffers; the ping-pong
    # (persistent requests) subtracts nothing. Large sizes are timed one by one. On a host
    # busy with other work, the two ranks' 8-byte calls can take longer than a timed region
    # (REGION_S) throughout the warmup: then they are timed one by one too, as they should be,
    # and only what holds either way is checked.
    result = _mpiexec(2, "--ops", "all-reduce,send-recv", "--sizes", "8,4MiB", "--iters", "200",
                      "--warmup", "10", "--json", "--timing-loop", loop, *flags)
    assert result.returncode == 0, result.stderr
    records = {(r["operation"], r["size_bytes"]): r
               for r in json.loads(result.stdout)["results"]["records"]}
    assert {r["extra"]["timing_loop"] for r in records.values()} == {loop}
    for operation in ("all-reduce", "send-recv"):
        small, large = records[(operation, 8)], records[(operation, 4 << 20)]
        call_by_call = loop == "native" and not flags and operation == "all-reduce"
        batched = "batch" in small["extra"]
        if call_by_call:
            assert not batched
        elif small["time_s"] < REGION_S / 4:  # microsecond calls, as on an idle host
            assert batched and small["extra"]["batch"] > 1
        assert small["time_s"] > 0 and small["num_wrong"] == 0
        assert small["time_min_s"] <= small["time_s"] <= small["time_max_s"]
        assert "batch" not in large["extra"] and "call_overhead_s" not in large["extra"]
        if loop == "python" and operation == "all-reduce" and batched:
            assert 1e-8 < small["extra"]["call_overhead_s"] < 1e-4  # measured, not assumed
        else:
            assert "call_overhead_s" not in small["extra"]


@mpi
@pytest.mark.parametrize("num_ranks", [2, 3])
def test_native_and_python_loops_move_the_same_data(num_ranks: int) -> None:
    # both loops check every receive buffer afterwards; a corrupted contribution is caught by each
    ops = ",".join(OPERATIONS)
    for loop in ("native", "python"):
        clean = _mpiexec(num_ranks, "--ops", ops, "--sizes", "64,64KiB", "--iters", "20",
                         "--warmup", "2", "--json", "--timing-loop", loop)
        assert clean.returncode == 0, clean.stderr
        records = json.loads(clean.stdout)["results"]["records"]
        assert records and all(r["num_wrong"] == 0 for r in records)
        corrupt = _mpiexec(num_ranks, "--ops", "all-reduce,all-to-all", "--sizes", "4KiB",
                           "--iters", "20", "--json", "--timing-loop", loop,
                           env=_env(**{CORRUPT_ENV: "1"}))
        assert corrupt.returncode != 0 and "wrong value" in corrupt.stderr


@mpi
def test_without_a_compiler_auto_falls_back_and_native_is_refused(tmp_path: Path) -> None:
    env = _env(FABRIC_MPICC=str(tmp_path / "no-such-mpicc"), FABRIC_CACHE_DIR=str(tmp_path))
    auto = _mpiexec(2, "--ops", "all-reduce", "--sizes", "8", "--iters", "20", "--json", env=env)
    assert auto.returncode == 0, auto.stderr
    (record,) = json.loads(auto.stdout)["results"]["records"]
    assert record["extra"]["timing_loop"] == "python" and record["num_wrong"] == 0
    warnings = [line for line in auto.stderr.splitlines() if "native timing loop" in line]
    assert len(warnings) == 1 and "no-such-mpicc" in warnings[0]  # rank 0 only, with the cause
    out = tmp_path / "native.jsonl"
    native = _mpiexec(2, "--ops", "all-reduce", "--sizes", "8", "--iters", "20",
                      "--timing-loop", "native", "-o", str(out), env=env)
    assert native.returncode != 0
    assert "Traceback" not in native.stderr
    errors = [line for line in native.stderr.splitlines() if line.startswith("Error:")]
    assert errors and all("no native timing loop" in line for line in errors)
    assert not out.exists()  # refused before any record: no empty file left behind


@mpi
def test_a_helper_linked_to_another_mpi_is_not_used(tmp_path: Path) -> None:
    # an mpicc of another MPI (here a wrapper whose library reports another version) must not be
    # mixed into mpi4py's process: the probe refuses it and times in Python
    fake = tmp_path / "fake.c"
    fake.write_text(textwrap.dedent("""
        #include <string.h>
        int fabric_collective_loop(void) { return 1; }
        int fabric_pingpong_loop(void) { return 1; }
        int fabric_library_version(char *out, int size) {
            strncpy(out, "Other MPI 9.9", (size_t)size); return 0; }
    """))
    wrapper = tmp_path / "other-mpicc"
    wrapper.write_text(f"#!/bin/sh\n[ \"$1\" = -show ] && exit 0\n"
                       f"exec cc -O2 -shared -fPIC -o \"$5\" {fake}\n")
    wrapper.chmod(0o755)
    env = _env(FABRIC_MPICC=str(wrapper), FABRIC_CACHE_DIR=str(tmp_path / "cache"))
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "8", "--iters", "20", "--json",
                      "--timing-loop", "native", env=env)
    assert result.returncode != 0
    assert "another MPI library (Other MPI 9.9)" in result.stderr


@mpi
def test_the_helper_is_built_once_and_reused(tmp_path: Path) -> None:
    env = _env(FABRIC_CACHE_DIR=str(tmp_path))
    stamps = []
    for _ in range(2):  # 4 ranks start with an empty cache, then find it filled
        result = _mpiexec(4, "--ops", "all-reduce", "--sizes", "8", "--iters", "20", "--json",
                          "--timing-loop", "native", env=env)
        assert result.returncode == 0, result.stderr
        built = sorted(tmp_path.iterdir())
        assert [p.suffix for p in built] == [".so"]  # one helper, no temporary left behind
        stamps.append((built[0].name, built[0].stat().st_mtime_ns))
    assert stamps[0] == stamps[1]  # the second run loaded it, nothing was rebuilt


@mpi
@pytest.mark.parametrize(("asked", "recorded"), [(None, "funneled"), ("multiple", "multiple")])
def test_thread_level_is_funneled_unless_the_environment_says(asked: str | None,
                                                               recorded: str) -> None:
    # mpi4py's default (multiple) puts a lock around every MPICH call; the probe asks for
    # funneled, and MPI4PY_RC_THREAD_LEVEL still overrides it
    env = _env()
    env.pop("MPI4PY_RC_THREAD_LEVEL", None)
    if asked:
        env["MPI4PY_RC_THREAD_LEVEL"] = asked
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "8", "--iters", "5", "--json", env=env)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)["results"]["records"]
    assert record["library"]["thread_level"] == recorded


@mpi
def test_wrong_results_exit_nonzero_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "64", "--iters", "2", "-o", str(out),
                      env=_env(**{CORRUPT_ENV: "1"}))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "wrong value" in errors[0]
    (record,) = read_records(out)
    # rank 1 adds 1000 to element 0 of its contribution: element 0 is wrong on both ranks
    assert record.num_wrong == 2


@mpi
def test_probe_takes_any_communicator(tmp_path: Path) -> None:
    script = tmp_path / "split.py"
    script.write_text(textwrap.dedent("""
        import json, sys
        from mpi4py import MPI
        from measure.mpi_probe import run_mpi_probe
        world = MPI.COMM_WORLD
        half = world.Split(world.rank % 2, world.rank)
        records = run_mpi_probe(half, operations="all-reduce,all-gather", sizes=[64],
                                iterations=2, warmup=0)
        # one writer: ranks printing at once can interleave on the shared stdout
        rows = world.gather([world.rank, [r.num_ranks for r in records],
                             [r.num_wrong for r in records]], root=0)
        if world.rank == 0:
            print(json.dumps(rows))
    """))
    result = subprocess.run([str(MPIEXEC), "-n", "4", sys.executable, str(script)],
                            capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
    assert result.returncode == 0, result.stderr
    rows = sorted(json.loads(result.stdout))
    # records come back on every rank of each 2-rank sub-communicator
    assert rows == [[rank, [2, 2], [0, 0]] for rank in range(4)]


def _rank_pid(root_pid: int, rank: int) -> int | None:
    """The pid of the process under ``mpiexec`` (pid ``root_pid``) that is MPI rank ``rank``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != root_pid:
            ancestor = parents.get(ancestor)
        if ancestor != root_pid:
            continue
        try:
            environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PMI_RANK={rank}".encode() in environ and str(pid) != str(root_pid):
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
            if b"measure" in cmdline:
                return pid
    return None


@mpi
def test_killed_rank_ends_the_run_and_keeps_records(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    command = [str(MPIEXEC), "-n", "2", *FABRIC, "measure", "mpi", "-o", str(out), "--ops",
               "all-reduce,all-gather,reduce-scatter,all-to-all", "--sizes", "8:4MiB",
               "--iters", "300", "--warmup", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the sweep ended before a rank could be killed"
        victim = _rank_pid(process.pid, 1)
        assert victim is not None, "rank 1's process was not found under mpiexec"
        os.kill(victim, signal.SIGKILL)
        # bounded: hydra notices the dead rank and tears the job down
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    records = read_records(out)  # every line is a complete record
    assert 1 <= len(records) < 4 * 20
    assert out.read_text().endswith("\n")
    assert all(r.num_wrong == 0 for r in records)


@mpi
def test_single_process_without_launcher(tmp_path: Path) -> None:
    out = tmp_path / "one.jsonl"
    result = subprocess.run([*FABRIC, "measure", "mpi", "--ops", "all-reduce,send-recv",
                             "--sizes", "64", "--iters", "2", "-o", str(out)],
                            capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
    assert result.returncode == 0, result.stderr
    (record,) = read_records(out)  # no pair for send-recv with one rank
    assert (record.operation, record.num_ranks, record.placement) == ("all-reduce", 1, "intra-host")


@mpi
def test_error_on_rank_zero_only_ends_every_rank(tmp_path: Path) -> None:
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "64", "-o",
                      str(tmp_path / "missing" / "run.jsonl"), timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [f"Error: cannot write '{tmp_path / 'missing' / 'run.jsonl'}': folder "
                      f"'{tmp_path / 'missing'}' does not exist"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--ops", "all-reduce,bogus"], 1, "unknown collective 'bogus'"),
        (["--ops", "reduce"], 1, "is not measured by the probes"),
        (["--sizes", "0"], 2, "size must be > 0"),
        (["--pairs", "ring"], 2, "'ring' is not one of"),
        (["--iters", "0"], 2, "x>=1"),
    ],
)
def test_bad_arguments_fail_before_mpi_starts(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(cli, ["measure", "mpi", *args])
    assert result.exit_code == code
    assert message in result.output


@pytest.mark.parametrize("command", [["measure"], ["measure", "mpi"], ["measure", "torch"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "-h"], catch_exceptions=False)
    assert result.exit_code == 0 and "Usage:" in result.output


@mpi
def test_sizes_under_one_element_are_said_and_a_run_of_none_fails(tmp_path: Path) -> None:
    """3 B is under one float32 element: it was dropped without a word (send-recv recorded
    0 bytes), and a run of only such sizes exited 0 with an empty file. Also: records into
    /dev/null, where fsync fails (the run failed at its first record and unlinked /dev/null)."""
    out = tmp_path / "run.jsonl"
    none = _mpiexec(2, "-o", str(out), "--sizes", "3", "--iters", "2")
    assert none.returncode != 0
    assert "no size could be measured" in none.stderr
    assert "send-recv: 3 B runs as 0 B and is left out" in none.stderr
    assert not out.exists()
    some = _mpiexec(2, "-o", str(out), "--sizes", "3,6,8", "--iters", "2", "--collectives",
                    "all-reduce,send-recv")
    assert some.returncode == 0, some.stderr
    assert "all-reduce: 3 B runs as 0 B and is left out; 6 B runs as 4 B" in some.stderr
    assert {r.size_bytes for r in read_records(out)} == {4, 8}  # never a 0-byte record
    null = _mpiexec(2, "-o", os.devnull, "--sizes", "8", "--iters", "2", "--collectives",
                    "all-reduce")
    assert null.returncode == 0, null.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_measure_options_are_checked_before_any_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fabric.cli import cli

    runner = CliRunner()
    for args, code, text in (
            (["--timeout-s", "nan"], 2, "'nan' is not a finite number"),
            (["--time-budget-s", "inf"], 2, "'inf' is not a finite number"),
            (["--collectives", "foo"], 1, "the probes measure send-recv"),
            (["--collectives", "reduce"], 1, "not measured by the probes; valid: send-recv"),
            (["-o", ""], 1, "give a file name for the records")):
        result = runner.invoke(cli, ["measure", "mpi", "--sizes", "8", *args])
        assert result.exit_code == code and text in result.output, (args, result.output)


def test_emulated_rates_and_the_nccl_backend_are_checked_up_front() -> None:
    """A rate with no unit is bytes/s: 100 shaped links to 800 bit/s (a 1 MiB message took
    3 hours) without a word; 1e12Gbps failed in tc. The nccl backend on a torch without CUDA
    GPUs failed after the rendezvous."""
    from click.testing import CliRunner

    from fabric.cli import cli

    runner = CliRunner()
    for rate in ("100", "1e12Gbps"):
        result = runner.invoke(cli, ["emulate", "up", "--hosts", "2", "--rate", rate])
        assert result.exit_code == 2 and "1 Mbit/s .. 400 Gbit/s" in result.output
    import torch

    if not torch.cuda.is_available():
        result = runner.invoke(cli, ["measure", "torch", "--backend", "nccl", "--sizes", "8"])
        assert result.exit_code == 1 and "use --backend gloo" in result.output


@mpi
def test_a_size_the_host_cannot_hold_is_refused_before_any_buffer(tmp_path: Path) -> None:
    # 1 TiB of all-reduce is 3 TiB a rank (send, receive, expected values): every rank agrees
    # on the reason at once, instead of the out-of-memory killer ending the run halfway
    out = tmp_path / "run.jsonl"
    result = _mpiexec(2, "--ops", "all-reduce", "--sizes", "1KiB,1TiB", "--iters", "2",
                      "-o", str(out))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors and errors[0].startswith("Error: the largest size needs about 6,144.0 GiB")
    assert "Traceback" not in result.stderr
    assert not out.exists()


@mpi
def test_every_rank_stops_when_one_hosts_memory_is_short(tmp_path: Path) -> None:
    # rank 1 alone sees a host of 1 MiB available (MPMD: its own environment): rank 0, whose
    # memory suffices, must stop too, not wait in the first collective for a rank that left
    small = tmp_path / "meminfo"
    small.write_text("MemTotal: 2048 kB\nMemAvailable: 1024 kB\n")
    out = tmp_path / "run.jsonl"
    args = [*FABRIC, "measure", "mpi", "--ops", "all-reduce", "--sizes", "1MiB", "--iters", "2",
            "-o", str(out), "--timeout-s", "60"]
    result = subprocess.run([str(MPIEXEC), "-n", "1", *args, ":", "-n", "1", "-env",
                             MEMINFO_ENV, str(small), *args], capture_output=True, text=True,
                            timeout=TIMEOUT_S, env=_env())
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    # one agreed line from rank 0, not a rank's own failure (that would say "rank N:")
    assert len(errors) == 1 and errors[0].startswith("Error: the largest size needs about")
    assert "more than its 0.0 GiB available" in errors[0] and "rank" not in errors[0][:12]
    assert not out.exists()
