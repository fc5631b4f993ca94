"""``fabric measure torch`` with gloo on real processes (torchrun, mpiexec, hand-started ranks).

Every test needs torch (``torch_installed``: a skip only outside CI, a failure under it; see
``conftest.py``); the one under mpiexec needs MPI too (``mpi_installed``: never a skip).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectives.names import busbw_factor
from measure.probe_core import CORRUPT_ENV, OPERATIONS
from measure.records import read_records

BIN = Path(sys.executable).parent
FABRIC = [str(BIN / "fabric")] if (BIN / "fabric").exists() else [
    sys.executable, "-c", "from fabric.cli import main; main()"]
TIMEOUT_S = 180

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("torch_installed")]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (CORRUPT_ENV, "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _torchrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", "--no-python",
               *FABRIC, "measure", "torch", "--backend", "gloo", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=env or _env())


def test_gloo_under_torchrun_records_every_operation(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = _torchrun("-o", str(out), "--sizes", "100,4KiB", "--iters", "3", "--warmup", "1",
                       "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)["results"]  # only rank 0 printed, one document
    records = read_records(out)
    assert len(document["records"]) == len(records)
    # 100 B of float32 = 25 elements; per-rank rounding as nccl-tests: (25 // 2) * 2 * 4 = 96
    small = {op: 100 for op in OPERATIONS} | {
        op: 96 for op in ("all-gather", "reduce-scatter", "all-to-all")}
    assert {(r.operation, r.size_bytes) for r in records} == {
        (op, size) for op in OPERATIONS for size in (small[op], 4096)}
    for record in records:
        assert (record.source, record.backend, record.num_wrong) == ("torch-probe", "gloo", 0)
        assert record.num_ranks == 2 and record.num_hosts == 1
        assert record.time_min_s <= record.time_s <= record.time_max_s
        assert record.library["torch"].startswith("2.")
        assert record.in_place == (record.operation in ("all-reduce", "broadcast"))
    for data in document["records"]:
        # nccl-tests doc/PERFORMANCE.md: algbw = S / t, busbw = algbw * factor(op, n)
        algbw = data["size_bytes"] / data["time_s"]
        assert data["busbw_bytes_per_s"] == pytest.approx(
            algbw * busbw_factor(data["operation"], data["num_ranks"]))


def test_wrong_values_exit_nonzero(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = _torchrun("-o", str(out), "--ops", "reduce-scatter", "--sizes", "64", "--iters", "2",
                       env=_env(**{CORRUPT_ENV: "0"}))
    assert result.returncode != 0
    assert sum("wrong value" in line for line in result.stderr.splitlines()) == 1
    (record,) = read_records(out)
    # rank 0 corrupts element 0, which lands in rank 0's block only
    assert record.num_wrong == 1


@pytest.mark.usefixtures("mpi_installed")
def test_gloo_under_mpiexec_uses_pmi_ranks(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    command = [str(BIN / "mpiexec"), "-n", "2", *FABRIC, "measure", "torch", "--backend", "gloo",
               "--master-port", str(_free_port()), "--ops", "all-reduce,send-recv", "--sizes", "64",
               "--iters", "2", "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(r.operation, r.num_ranks) for r in read_records(out)] == [
        ("all-reduce", 2), ("send-recv", 2)]


def test_killed_rank_ends_the_others_within_the_timeout(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    port = str(_free_port())
    args = ["measure", "torch", "--backend", "gloo", "--timeout-s", "20", "-o", str(out),
            "--ops", "all-reduce,all-to-all,all-gather", "--sizes", "8:1MiB", "--iters", "200",
            "--warmup", "1"]
    ranks = [subprocess.Popen([*FABRIC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r),
                                                  MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(2)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ranks[0].poll() is None:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        assert ranks[0].poll() is None, "the sweep ended before a rank could be killed"
        os.kill(ranks[1].pid, signal.SIGKILL)
        start = time.monotonic()
        _, stderr = ranks[0].communicate(timeout=90)
        waited_s = time.monotonic() - start
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert ranks[0].returncode == 1, stderr[-2000:]
    assert waited_s < 90
    assert [line for line in stderr.splitlines() if line.startswith("Error:")][0].startswith(
        "Error: rank 0:")
    records = read_records(out)
    assert len(records) >= 1 and out.read_text().endswith("\n")


def test_a_size_the_host_cannot_hold_is_refused_before_any_buffer(tmp_path: Path) -> None:
    # gloo keeps a pristine copy of what it sends: 4 TiB a rank for 1 TiB of all-reduce
    out = tmp_path / "run.jsonl"
    result = _torchrun("-o", str(out), "--ops", "all-reduce", "--sizes", "1KiB,1TiB",
                       "--iters", "2")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2  # each rank says it and exits
    assert all("the largest size needs about 8,192.0 GiB" in line for line in errors)
    assert not out.exists()
