"""Sweep throughput: designs per second on 1 and 2 Dask workers against a plain loop.

Designs at 512-4,096 GPUs (rail-optimized and clos, 2 switches, 4 sizes); prints the median of
``--repeats`` runs, Dask's throughput per core as a share of the plain loop's, the projected time
of 10,000 such designs on 2 cores, and peak memory. Goal (issue 14): >= 95% of the loop per core,
10,000 small designs in < 10 minutes on 2 cores.

    .venv/bin/python benchmarks/sweep.py --repeats 1
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from studies.sweep import evaluate_point, run_sweep
from studies.sweep_space import space_from_dict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide", action="store_true",
                        help="GPU counts 512-4,096 in steps of 256 (120 designs, so the "
                             "cluster's start weighs less) instead of powers of two (32)")
    args = parser.parse_args()
    space = space_from_dict({
        "axes": {"family": ["rail-optimized", "clos"],
                 "num_gpus": list(range(512, 4097, 256)) if args.wide else [512, 1024, 2048, 4096],
                 "switch": ["qm9700", "sn5600-800"], "gpus_per_node": [4, 8]},
        "collectives": ["all-reduce"], "sizes_bytes": [1 << 30]})
    designs = space.designs()
    loop_s = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for values in designs:
            evaluate_point(values, space)
        loop_s.append(time.perf_counter() - t0)
    loop_rate = len(designs) / statistics.median(loop_s)
    failed = sum(1 for values in designs if evaluate_point(values, space).get("error"))
    print(f"{len(designs)} designs ({failed} infeasible, kept as error rows), 512-4096 GPUs; "
          f"plain loop: {loop_rate:.2f} designs/s")
    for workers in (1, 2):
        times, working = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder:
                summary = run_sweep(space, Path(folder) / "r.db", workers=workers)
                times.append(summary.elapsed_s)
                working.append(summary.evaluating_s)
        rate = len(designs) / statistics.median(times)
        steady = len(designs) / statistics.median(working)
        start_s = statistics.median(times) - statistics.median(working)
        print(f"dask {workers} worker(s): {rate:.2f} designs/s with the cluster's start and "
              f"stop ({start_s:.1f} s), {steady:.2f} designs/s once running = "
              f"{steady / workers / loop_rate:.0%} of the loop per core; 10,000 designs ~ "
              f"{(start_s + 10_000 / steady) / 60:.1f} min")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (client process): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
