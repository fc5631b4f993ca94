"""Sweep throughput: designs per second on 1 and 2 Dask workers against a plain loop.

Designs at 512-4,096 GPUs (rail-optimized and clos, 2 switches, 4 or 8 GPUs per server, each
design a fabric of its own); prints the median of ``--repeats`` runs. A sweep's time is a fixed
part (the cluster's start and stop, each worker's first imports and caches) plus a cost per
design: two spaces of 120 and 456 designs give both, so Dask's throughput per core is its
marginal rate as a share of the plain loop's, and 10,000 designs are projected from both parts
on 2 cores. ``--full`` also runs 10,776 designs (GPU counts in steps of 8, 3 GPU models) on 2
workers and prints the time measured. Goal (issue 14): >= 95% of the loop per core, 10,000
small designs in < 10 minutes on 2 cores.

    .venv/bin/python benchmarks/sweep.py --repeats 1
    .venv/bin/python benchmarks/sweep.py --repeats 1 --full   # about 10 more minutes
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from studies.sweep import evaluate_point, run_sweep
from studies.sweep_space import SweepSpace, space_from_dict


def _space(step: int, gpus: tuple[str, ...] = ("h100",)) -> SweepSpace:
    """Rail-optimized and Clos at 512-4,096 GPUs in steps of ``step``, 2 switches, 4 or 8 GPUs
    per server: every design a fabric of its own (the sweep's per-worker cache never hits)."""
    return space_from_dict({
        "axes": {"family": ["rail-optimized", "clos"], "num_gpus": list(range(512, 4097, step)),
                 "switch": ["qm9700", "sn5600-800"], "gpus_per_node": [4, 8], "gpu": list(gpus)},
        "collectives": ["all-reduce"], "sizes_bytes": [1 << 30]})


def _dask_s(space: SweepSpace, workers: int, repeats: int) -> tuple[float, float]:
    """Median (whole run, cluster start and stop included; evaluation alone) in seconds."""
    times, working = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            summary = run_sweep(space, Path(folder) / "r.db", workers=workers)
        times.append(summary.elapsed_s)
        working.append(summary.evaluating_s)
    return statistics.median(times), statistics.median(working)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="also run a 10,776-design space (GPU counts in steps of 8, 3 GPU "
                             "models) on 2 workers and print its measured time")
    args = parser.parse_args()
    small, large = _space(256), _space(64)
    n_small, n_large = len(small.designs()), len(large.designs())
    loop_s = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for values in large.designs():
            evaluate_point(values, large)
        loop_s.append(time.perf_counter() - t0)
    loop_rate = n_large / statistics.median(loop_s)
    failed = sum(1 for values in small.designs() if evaluate_point(values, small).get("error"))
    print(f"designs at 512-4096 GPUs, each its own fabric ({failed} of {n_small} infeasible, "
          f"kept as error rows); plain loop: {loop_rate:.2f} designs/s "
          f"({1e3 / loop_rate:.0f} ms each)")
    for workers in (1, 2):
        whole_s, eval_small = _dask_s(small, workers, args.repeats)
        _, eval_large = _dask_s(large, workers, args.repeats)
        # evaluation time = warm-up + designs x marginal cost: two space sizes give both
        marginal_s = (eval_large - eval_small) / (n_large - n_small)
        fixed_s = (whole_s - eval_small) + max(0.0, eval_small - n_small * marginal_s)
        print(f"dask {workers} worker(s): {n_small} designs in {whole_s:.1f} s with the "
              f"cluster's start and stop; marginal {1 / marginal_s:.2f} designs/s = "
              f"{1 / marginal_s / workers / loop_rate:.0%} of the loop per core; fixed "
              f"{fixed_s:.1f} s (cluster start and stop, worker warm-up); 10,000 designs ~ "
              f"{(fixed_s + 10_000 * marginal_s) / 60:.1f} min")
    if args.full:
        space = _space(8, ("h100", "h200", "b200"))
        with tempfile.TemporaryDirectory() as folder:
            summary = run_sweep(space, Path(folder) / "r.db", workers=2)
        print(f"measured: {summary.written} designs ({summary.failed} error rows) on 2 workers "
              f"in {summary.elapsed_s / 60:.1f} min, cluster start and stop included")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (client process): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
