"""A tiny mpi4py program for the emulated-cluster tests (run under mpiexec, not by pytest).

    mpiexec -n N python _emulate_pingpong.py stream PEER SIZE ITERS
        rank 0 sends SIZE bytes to rank PEER, which answers with 1 byte; median over ITERS.
    mpiexec -n N python _emulate_pingpong.py coll OP SIZE[,SIZE...] ITERS
        OP is allreduce or alltoall; time per call is the max over ranks of each rank's median.

Rank 0 prints one JSON object per line on stdout: {"mode", "size_bytes", "time_s", "hosts"}.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import time

import numpy as np
from mpi4py import MPI


def _hosts(comm: MPI.Comm) -> list[str]:
    return comm.allgather(socket.gethostname())


def stream(comm: MPI.Comm, peer: int, size_bytes: int, iters: int) -> float | None:
    rank = comm.Get_rank()
    buf = np.zeros(size_bytes, dtype=np.uint8)
    ack = np.zeros(1, dtype=np.uint8)
    times = []
    for i in range(iters + 1):
        comm.Barrier()
        t0 = time.perf_counter()
        if rank == 0:
            comm.Send(buf, dest=peer, tag=1)
            comm.Recv(ack, source=peer, tag=2)
        elif rank == peer:
            comm.Recv(buf, source=0, tag=1)
            comm.Send(ack, dest=0, tag=2)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) if rank == 0 else None


def collective(comm: MPI.Comm, op: str, size_bytes: int, iters: int) -> float:
    n = comm.Get_size()
    count = size_bytes // 4
    if op == "alltoall":
        count -= count % n
    send = np.ones(count, dtype=np.float32)
    recv = np.empty_like(send)
    times = []
    for i in range(iters + 1):
        comm.Barrier()
        t0 = time.perf_counter()
        if op == "allreduce":
            comm.Allreduce(send, recv, op=MPI.SUM)
        else:
            comm.Alltoall(send, recv)
        if i:
            times.append(time.perf_counter() - t0)
    return comm.allreduce(statistics.median(times), op=MPI.MAX)


def main(argv: list[str]) -> None:
    comm = MPI.COMM_WORLD
    hosts = _hosts(comm)
    mode = argv[0]
    if mode == "stream":
        peer, size, iters = int(argv[1]), int(argv[2]), int(argv[3])
        t = stream(comm, peer, size, iters)
        if comm.Get_rank() == 0:
            print(json.dumps({"mode": mode, "peer": peer, "size_bytes": size, "time_s": t,
                              "hosts": hosts}), flush=True)
    else:
        op, iters = argv[1], int(argv[3])
        for size in (int(s) for s in argv[2].split(",")):
            t = collective(comm, op, size, iters)
            if comm.Get_rank() == 0:
                print(json.dumps({"mode": op, "size_bytes": size, "time_s": t, "hosts": hosts}),
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
