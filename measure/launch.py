"""Rank, world size and local rank from the launcher's environment.

A probe started by ``torchrun``, ``mpiexec`` (Open MPI or MPICH/hydra) or ``srun`` finds out who it
is from environment variables before any communication library is initialized. Launchers are tried
in this order, the first that names both a rank and a world size wins:

1. torchrun (and any ``env://`` launch): ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
   ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``;
2. Open MPI: ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_LOCAL_RANK``,
   ``OMPI_COMM_WORLD_LOCAL_SIZE``;
3. MPICH / Intel MPI (hydra, PMI): ``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``,
   ``MPI_LOCALNRANKS``;
4. Slurm: ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NTASKS_PER_NODE``
   (the last only when it is a single number).

MPI launchers come before Slurm because ``mpiexec`` run inside an allocation inherits the batch
step's ``SLURM_PROCID=0`` in every rank. With none of them set, the process is rank 0 of 1.

>>> info = detect_launch({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8",
...                       "OMPI_COMM_WORLD_LOCAL_RANK": "1"})
>>> info.launcher, info.rank, info.world_size, info.local_rank
('openmpi', 3, 8, 1)
>>> detect_launch({}).world_size
1
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, overload

__all__ = ["LAUNCHERS", "LaunchInfo", "detect_launch"]

LAUNCHERS = ("torchrun", "openmpi", "mpich", "slurm", "none")

# (launcher, rank, world size, local rank, local world size)
_SCHEMES = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
    (
        "openmpi",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchInfo:
    """Who this process is in a launched job.

    ``local_rank`` is the index among the ranks on this host (0 when the launcher does not say);
    ``local_world_size`` is 0 when unknown. ``master_addr`` / ``master_port`` are the rendezvous
    address torch.distributed uses, when the environment names them.
    """

    launcher: str
    rank: int
    world_size: int
    local_rank: int = 0
    local_world_size: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(
                f"launcher must be one of {', '.join(LAUNCHERS)}, got {self.launcher!r}"
            )
        if self.world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size={self.world_size}), got {self.rank}")
        if self.local_rank < 0:
            raise ValueError(f"local_rank must be >= 0, got {self.local_rank}")
        if self.local_world_size < 0:
            raise ValueError(f"local_world_size must be >= 0, got {self.local_world_size}")
        if self.master_port is not None and not 0 < self.master_port < 65536:
            raise ValueError(f"master_port must be in 1..65535, got {self.master_port}")


@overload
def _int(env: Mapping[str, str], name: str, *, required: Literal[True]) -> int: ...
@overload
def _int(env: Mapping[str, str], name: str, *, required: Literal[False]) -> int | None: ...
def _int(env: Mapping[str, str], name: str, *, required: bool) -> int | None:
    text = env.get(name)
    if text is None or text.strip() == "":
        if required:
            raise ValueError(f"environment variable {name} is not set")
        return None
    try:
        return int(text.strip())
    except ValueError as err:
        raise ValueError(f"environment variable {name} must be an integer, got {text!r}") from err


def detect_launch(env: Mapping[str, str] | None = None) -> LaunchInfo:
    """Find rank, world size and local rank in ``env`` (default: ``os.environ``).

    Parameters
    ----------
    env : mapping, optional
        The environment to read; ``os.environ`` when omitted.

    Returns
    -------
    LaunchInfo
        The first launcher (torchrun, Open MPI, MPICH/PMI, Slurm) whose rank and world-size
        variables are both set; ``launcher="none"``, rank 0 of 1 when none is.

    Raises
    ------
    ValueError
        If a launcher's variable is not an integer, or the rank is outside the world.

    Examples
    --------
    >>> detect_launch({"PMI_RANK": "1", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1"}).local_rank
    1
    >>> detect_launch({"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_NTASKS_PER_NODE": "8"}
    ...               ).local_world_size
    8
    """
    env = os.environ if env is None else env
    master_addr = env.get("MASTER_ADDR") or None
    master_port = _int(env, "MASTER_PORT", required=False)
    for launcher, rank_var, size_var, local_var, local_size_var in _SCHEMES:
        if rank_var not in env or size_var not in env:
            continue
        rank = _int(env, rank_var, required=True)
        world_size = _int(env, size_var, required=True)
        local_rank = _int(env, local_var, required=False)
        local_size_text = env.get(local_size_var, "")
        # Slurm writes e.g. "8(x2),4" for uneven nodes: only a plain number is a size.
        local_world_size = int(local_size_text) if local_size_text.strip().isdigit() else 0
        return LaunchInfo(
            launcher=launcher,
            rank=rank,
            world_size=world_size,
            local_rank=local_rank or 0,
            local_world_size=local_world_size,
            master_addr=master_addr,
            master_port=master_port,
        )
    return LaunchInfo(
        launcher="none",
        rank=0,
        world_size=1,
        local_rank=0,
        local_world_size=1,
        master_addr=master_addr,
        master_port=master_port,
    )
