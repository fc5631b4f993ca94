"""Rank discovery from launcher environments (torchrun, Open MPI, MPICH/hydra, Slurm)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from measure.launch import LaunchInfo, detect_launch

# Variable names as each launcher documents them: torchrun (torch.distributed.run docs),
# Open MPI mpirun(1) "Exported Environment Variables", MPICH hydra (PMI_RANK/PMI_SIZE and
# MPI_LOCALRANKID, checked with `mpiexec -n 2 env` from the mpich wheel), Slurm srun(1).
CASES = [
    ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
      "MASTER_ADDR": "node0", "MASTER_PORT": "29400"},
     ("torchrun", 5, 8, 1, 4, "node0", 29400)),
    ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
      "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
     ("openmpi", 2, 4, 0, 2, None, None)),
    ({"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "3", "MPI_LOCALNRANKS": "4"},
     ("mpich", 3, 4, 3, 4, None, None)),
    ({"SLURM_PROCID": "9", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1",
      "SLURM_NTASKS_PER_NODE": "8"},
     ("slurm", 9, 16, 1, 8, None, None)),
    ({"SLURM_PROCID": "9", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1",
      "SLURM_NTASKS_PER_NODE": "8(x1),4(x2)"},
     ("slurm", 9, 16, 1, 0, None, None)),
    ({}, ("none", 0, 1, 0, 1, None, None)),
    ({"PMI_RANK": "1", "PMI_SIZE": "2"}, ("mpich", 1, 2, 0, 0, None, None)),
]


@pytest.mark.parametrize(("env", "expected"), CASES)
def test_each_launcher(env: dict[str, str], expected: tuple) -> None:
    info = detect_launch(env)
    got = (info.launcher, info.rank, info.world_size, info.local_rank, info.local_world_size,
           info.master_addr, info.master_port)
    assert got == expected


def test_mpi_beats_slurm_inside_an_allocation() -> None:
    # mpiexec inside salloc: every rank inherits the batch step's SLURM_PROCID=0
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "PMI_RANK": "3", "PMI_SIZE": "4"}
    info = detect_launch(env)
    assert (info.launcher, info.rank, info.world_size) == ("mpich", 3, 4)


def test_torchrun_beats_mpi() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"}
    assert detect_launch(env).launcher == "torchrun"


def test_half_set_launcher_is_skipped() -> None:
    # RANK without WORLD_SIZE is not a torchrun launch; Open MPI's pair is complete
    env = {"RANK": "7", "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}
    assert (detect_launch(env).launcher, detect_launch(env).rank) == ("openmpi", 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PMI_RANK": "one", "PMI_SIZE": "2"}, "PMI_RANK must be an integer"),
        ({"PMI_RANK": "4", "PMI_SIZE": "4"}, "rank must be in"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "world_size must be >= 1"),
        ({"MASTER_PORT": "http"}, "MASTER_PORT must be an integer"),
        ({"MASTER_PORT": "70000"}, "master_port must be in"),
    ],
)
def test_bad_values_raise_named_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_launch(env)


def test_launchinfo_validates() -> None:
    with pytest.raises(ValueError, match="launcher must be one of"):
        LaunchInfo(launcher="pbs", rank=0, world_size=1)


@given(st.dictionaries(st.sampled_from(["RANK", "WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
                                        "SLURM_PROCID", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE",
                                        "MASTER_PORT", "LOCAL_RANK"]),
                       st.text(max_size=6)))
def test_garbage_environment_gives_info_or_value_error(env: dict[str, str]) -> None:
    try:
        info = detect_launch(env)
    except ValueError:
        return
    assert 0 <= info.rank < info.world_size
