"""The launch lines the README and `fabric measure --help` print work as printed, and a probe run
without a launcher says that it measured one rank (issue 13)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from measure.probe_core import CORRUPT_ENV
from measure.records import read_records

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
              "MASTER_PORT", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID",
              "SLURM_NTASKS", CORRUPT_ENV)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _readme_line(program: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    (line,) = {m for m in re.findall(r"`([^`]*)`", text)
               if m.startswith(program + " ") and "fabric measure" in m}
    return shlex.split(line.replace(" N ", " 2 "))


@pytest.mark.torch
@pytest.mark.usefixtures("torch_installed")
def test_readme_torchrun_line_runs_as_printed(tmp_path: Path) -> None:
    command = _readme_line("torchrun")
    assert "--no-python" in command  # without it torchrun opens `fabric` as a Python file
    result = subprocess.run([*command, "--backend", "gloo", "--sizes", "4KiB", "--iters", "2",
                             "--warmup", "1", "--collectives", "all-reduce"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_records(tmp_path / "run.jsonl")
    assert records and {r.num_ranks for r in records} == {2}


def test_readme_mpirun_line_runs_as_printed(tmp_path: Path) -> None:
    command = _readme_line("mpirun")
    launcher = BIN / "mpiexec"
    if not launcher.exists():
        pytest.fail("mpiexec from the mpich wheel is missing: pip install -e '.[test]'")
    command[0] = str(launcher)  # the wheel's hydra launcher answers to mpiexec
    result = subprocess.run([*command, "--sizes", "4KiB", "--iters", "2", "--warmup", "1",
                             "--collectives", "all-reduce"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "one rank" not in result.stderr
    records = read_records(tmp_path / "run.jsonl")
    assert records and {r.num_ranks for r in records} == {2}


def test_one_rank_without_a_launcher_warns(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "fabric"), "measure", "mpi", "-o", "run.jsonl",
                             "--sizes", "4KiB", "--iters", "2", "--warmup", "1",
                             "--collectives", "all-reduce"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "one rank and no launcher seen" in result.stderr
    assert "mpiexec -n N fabric measure mpi" in result.stderr


@pytest.mark.torch
@pytest.mark.usefixtures("torch_installed")
def test_readme_srun_line_runs_under_sruns_environment(tmp_path: Path) -> None:
    # Slurm is not installable on CI: the README's srun line runs as printed after `srun -n 2`,
    # in two processes with the variables srun gives each task (Slurm's srun manual, "OUTPUT
    # ENVIRONMENT VARIABLES": SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE;
    # https://slurm.schedmd.com/srun.html) and $(hostname) as the sbatch shell would expand it.
    command = _readme_line("srun")
    assert command[:3] == ["srun", "-n", "2"]
    command = [c if c != "$(hostname)" else "127.0.0.1" for c in command[3:]]
    port = 29500 + os.getpid() % 1000
    procs = []
    for rank in range(2):
        env = _env() | {"SLURM_PROCID": str(rank), "SLURM_NTASKS": "2",
                        "SLURM_LOCALID": str(rank), "SLURM_NTASKS_PER_NODE": "2"}
        procs.append(subprocess.Popen(
            [*command, "--master-port", str(port), "--backend", "gloo", "--sizes", "4KiB",
             "--iters", "2", "--warmup", "1", "--collectives", "all-reduce"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "one rank" not in err
    records = read_records(tmp_path / "run.jsonl")
    assert records and {r.num_ranks for r in records} == {2}
