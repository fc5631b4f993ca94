"""Sweep throughput: designs per second on 1 and 2 Dask workers against a plain loop.

Designs at 512-4,096 GPUs (rail-optimized and clos, 2 switches, 4 or 8 GPUs per server, each
design a fabric of its own). A sweep's time is a fixed part (the cluster's start and stop, each
worker's first imports and caches) plus a cost per design: two spaces of 120 and 456 designs give
both, so Dask's throughput per core is its marginal rate as a share of the plain loop's, and
10,000 designs are projected from both parts on 2 cores. Two plain loops run at once in two
processes (no Dask) show what this machine gives per core when both cores are busy: the ceiling
of any 2-worker sweep. Each of ``--repeats`` rounds measures every line in turn and the medians
of the rounds' ratios are printed, so a shared machine's drift falls on all lines alike.
``--full`` also runs 10,776 designs (GPU counts in steps of 8, 3 GPU models) on 2 workers and
prints the time measured. Goal (issue 14): >= 95% of the loop per core, 10,000 small designs in
< 10 minutes on 2 cores.

    .venv/bin/python benchmarks/sweep.py --repeats 1
    .venv/bin/python benchmarks/sweep.py --repeats 3 --full   # about 10 more minutes
"""

from __future__ import annotations

import argparse
import multiprocessing
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


def _dask_s(space: SweepSpace, workers: int) -> tuple[float, float]:
    """One sweep: (whole run, cluster start and stop included; evaluation alone) in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        summary = run_sweep(space, Path(folder) / "r.db", workers=workers)
    return summary.elapsed_s, summary.evaluating_s


def _loop_in_process(step: int, barrier: object) -> float:
    """One process's plain loop over ``_space(step)``, after a warm-up design; designs/s."""
    space = _space(step)
    designs = space.designs()
    evaluate_point(designs[0], space)
    barrier.wait()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for values in designs:
        evaluate_point(values, space)
    return len(designs) / (time.perf_counter() - t0)


def _concurrent_loops(step: int, processes: int) -> list[float]:
    """Designs/s of each of ``processes`` plain loops run at once (no Dask), each over the whole
    space: what the machine gives per core when every core is busy."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(processes) as pool:
        barrier = manager.Barrier(processes)
        return pool.starmap(_loop_in_process, [(step, barrier)] * processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="also run a 10,776-design space (GPU counts in steps of 8, 3 GPU "
                             "models) on 2 workers and print its measured time")
    args = parser.parse_args()
    small, large = _space(256), _space(64)
    n_small, n_large = len(small.designs()), len(large.designs())
    failed = sum(1 for values in small.designs() if evaluate_point(values, small).get("error"))
    print(f"designs at 512-4096 GPUs, each its own fabric ({failed} of {n_small} infeasible, "
          f"kept as error rows); {args.repeats} round(s), each measuring every line below in "
          "turn, so the shared machine's drift falls on all of them alike")
    rounds: list[dict[str, float]] = []
    for _ in range(args.repeats):
        got: dict[str, float] = {}
        t0 = time.perf_counter()
        for values in large.designs():
            evaluate_point(values, large)
        got["loop"] = n_large / (time.perf_counter() - t0)
        got["both"] = statistics.mean(_concurrent_loops(64, 2))
        for workers in (1, 2):
            whole_s, eval_small = _dask_s(small, workers)
            _, eval_large = _dask_s(large, workers)
            # evaluation time = warm-up + designs x marginal cost: two space sizes give both
            marginal_s = (eval_large - eval_small) / (n_large - n_small)
            got[f"rate{workers}"] = 1 / marginal_s
            got[f"whole{workers}"] = whole_s
            got[f"fixed{workers}"] = (whole_s - eval_small) + max(0.0, eval_small
                                                                 - n_small * marginal_s)
        rounds.append(got)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def share(key: str, over: str, per: int = 1) -> str:
        """The rounds' median of ``key / (over * per)``, with their spread."""
        values = [r[key] / (r[over] * per) for r in rounds]
        spread = f" ({min(values):.0%}-{max(values):.0%})" if len(values) > 1 else ""
        return f"{statistics.median(values):.0%}{spread}"

    print(f"plain loop: {median('loop'):.2f} designs/s ({1e3 / median('loop'):.0f} ms each)")
    print(f"two plain loops at once (2 processes, no Dask): {median('both'):.2f} designs/s each "
          f"= {share('both', 'loop')} of one loop: the machine's own ceiling per core when both "
          "cores are busy")
    for workers in (1, 2):
        rate, fixed_s = median(f"rate{workers}"), median(f"fixed{workers}")
        against = f"; {share('rate2', 'both', 2)} of two loops at once" if workers == 2 else ""
        print(f"dask {workers} worker(s): {n_small} designs in {median(f'whole{workers}'):.1f} s "
              f"with the cluster's start and stop; marginal {rate:.2f} designs/s = "
              f"{share(f'rate{workers}', 'loop', workers)} of the loop per core{against}; fixed "
              f"{fixed_s:.1f} s (cluster start and stop, worker warm-up); 10,000 designs ~ "
              f"{(fixed_s + 10_000 / rate) / 60:.1f} min")
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
