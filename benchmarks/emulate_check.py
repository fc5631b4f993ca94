"""Measured collective times on the emulated cluster against the model (needs root).

    python benchmarks/emulate_check.py [--kinds flat,tree] [--rate-mbps 200] [--mtu 9000]
        [--sizes 1MiB,2MiB,4MiB,8MiB] [--iters 5] [--repeat 1] [--env KEY=VALUE ...]

For each fabric kind: lay out ``emulated_fabric(kind)``, run ``fabric measure mpi`` (all-reduce,
all-to-all) inside it, and print per size the measured time, the model's prediction from the
graph's link rates alone (ring / pairwise, as pinned in the ranks' environment), the error, and the
CPU busy fraction during the run (the machine's, from /proc/stat, and the run's own processes').
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from collectives.predict import predict
from fabric.units import parse_size_list
from measure.emulate import EmulatedCluster
from measure.records import read_records
from topologies.emulated import emulated_fabric

ALGORITHM = {"all-reduce": "ring", "all-to-all": "pairwise"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="flat,tree")
    parser.add_argument("--rate-mbps", type=float, default=200.0)
    parser.add_argument("--mtu", type=int, default=9000)
    parser.add_argument("--sizes", default="1MiB,2MiB,4MiB,8MiB")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--env", nargs="*", default=[])
    parser.add_argument("--nice", type=int, default=-10)
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    fabric = Path(sys.executable).parent / "fabric"
    sizes = ",".join(str(s) for s in parse_size_list(args.sizes))
    print(f"machine: {os.cpu_count()} cores; rate {args.rate_mbps:g} Mbit/s, MTU {args.mtu}, "
          f"env {env or '{}'}")
    for kind in args.kinds.split(","):
        G = emulated_fabric(kind, num_hosts=4, link_rate_bytes_per_s=args.rate_mbps * 1e6 / 8)
        errors: dict[tuple[str, int], list[float]] = {}
        with EmulatedCluster(G, mtu_bytes=args.mtu) as cluster, tempfile.TemporaryDirectory() as d:
            for rep in range(args.repeat):
                out = os.path.join(d, f"{rep}.jsonl")
                run = cluster.run_mpi([str(fabric), "measure", "mpi", "-o", out, "--collectives",
                                       ",".join(ALGORITHM), "--sizes", sizes, "--iters",
                                       str(args.iters), "--warmup", "1"], env=env, nice=args.nice,
                                      timeout_s=600).check()
                cpu = run.cpu
                print(f"{kind} run {rep}: wall {run.wall_s:.1f} s, machine busy "
                      f"{cpu.busy_fraction:.0%}, run's processes {cpu.own_fraction:.0%} of "
                      f"{cpu.num_cores} cores")
                for r in read_records(out):
                    p = predict(G, r.operation, r.size_bytes, algorithm=ALGORITHM[r.operation])
                    err = r.time_s / p.time_s - 1
                    errors.setdefault((r.operation, r.size_bytes), []).append(err)
                    print(f"  {kind:5s} {r.operation:10s} {r.size_bytes / 2**20:5.1f} MiB "
                          f"measured {r.time_s * 1e3:8.1f} ms  model {p.time_s * 1e3:8.1f} ms "
                          f"error {err:+6.1%}")
        if args.repeat > 1:
            for (op, size), errs in sorted(errors.items()):
                print(f"  median over runs: {kind} {op} {size / 2**20:g} MiB "
                      f"{statistics.median(errs):+.1%}")


if __name__ == "__main__":
    main()
