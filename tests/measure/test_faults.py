"""Faults during a real measurement run: a stopped rank, a killed rank, Ctrl-C on the launcher.

Each run (``mpiexec`` with MPICH from the venv, ``torchrun`` with gloo on CPU torch) must end with
a non-zero exit within a bounded time, and every record written before the fault must be whole
(the records file reads back line by line). No mocks: real launchers, real signals. The bound is
the test's ``communicate`` timeout; the probes' own limits (``--timeout-s``) are set low so a
stopped rank is noticed in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from measure.probe_core import CORRUPT_ENV
from measure.records import read_records

BIN = Path(sys.executable).parent
FABRIC = [str(BIN / "fabric")] if (BIN / "fabric").exists() else [
    sys.executable, "-c", "from fabric.cli import main; main()"]
#: The probes give up after this long without progress (a stopped rank).
PROBE_TIMEOUT_S = 5
#: The whole run must be over this long after the fault (launcher teardown included).
END_WITHIN_S = 90
SWEEP = ["--ops", "all-reduce,all-gather", "--sizes", "8:4MiB", "--iters", "300", "--warmup", "1",
         "--timeout-s", str(PROBE_TIMEOUT_S)]

FAULTS = ["stop-rank", "kill-rank", "sigint"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in (CORRUPT_ENV, "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}


def _mpi_command(out: Path) -> list[str]:
    return [str(BIN / "mpiexec"), "-n", "2", *FABRIC, "measure", "mpi", "-o", str(out), *SWEEP]


def _torch_command(out: Path) -> list[str]:
    return [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python",
            *FABRIC, "measure", "torch", "--backend", "gloo", "-o", str(out), *SWEEP]


def _descendants(root_pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != root_pid:
            ancestor = parents.get(ancestor)
        if ancestor == root_pid:
            found.append(pid)
    return found


def _rank_pid(root_pid: int, rank: int) -> int | None:
    """The process under the launcher whose environment says it is rank ``rank``."""
    wanted = {f"PMI_RANK={rank}".encode(), f"RANK={rank}".encode()}
    for pid in _descendants(root_pid):
        try:
            environ = set((Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0"))
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if environ & wanted and b"measure" in cmdline:
            return pid
    return None


def _run_with_fault(command: list[str], out: Path, fault: str) -> tuple[int, float, str]:
    """Start the run, wait for its first record, inject ``fault``; (exit code, seconds, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(), start_new_session=True)
    victim = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the sweep ended before the fault: " + str(
            process.communicate()[1])[-2000:]
        if fault == "sigint":
            process.send_signal(signal.SIGINT)
        else:
            victim = _rank_pid(process.pid, 1)
            assert victim is not None, "rank 1's process was not found under the launcher"
            os.kill(victim, signal.SIGSTOP if fault == "stop-rank" else signal.SIGKILL)
        start = time.monotonic()
        _, stderr = process.communicate(timeout=END_WITHIN_S)
        return process.returncode, time.monotonic() - start, stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        for pid in [victim] if victim else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _check_records(out: Path) -> None:
    records = read_records(out)  # every line parses: no record was cut in half
    assert records, "the record written before the fault is gone"
    assert out.read_text().endswith("\n")
    assert all(r.num_wrong == 0 for r in records)
    assert len(records) < 2 * 20  # the sweep (2 ops x 20 sizes) did not complete


@pytest.mark.mpi
@pytest.mark.usefixtures("mpi_installed")
@pytest.mark.parametrize("fault", FAULTS)
def test_mpiexec_run_ends_after_a_fault(tmp_path: Path, fault: str) -> None:
    out = tmp_path / "run.jsonl"
    code, _, stderr = _run_with_fault(_mpi_command(out), out, fault)
    assert code != 0, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    if fault == "stop-rank":  # the watchdog said why
        assert f"no measurement finished in {PROBE_TIMEOUT_S} s" in stderr, stderr[-2000:]
    _check_records(out)


@pytest.mark.torch
@pytest.mark.usefixtures("torch_installed")
@pytest.mark.parametrize("fault", FAULTS)
def test_torchrun_run_ends_after_a_fault(tmp_path: Path, fault: str) -> None:
    out = tmp_path / "run.jsonl"
    code, _, stderr = _run_with_fault(_torch_command(out), out, fault)
    assert code != 0, stderr[-2000:]
    _check_records(out)
