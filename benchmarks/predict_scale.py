"""Speed and peak memory of the collective model at scale (prints medians; no assertions).

    python benchmarks/predict_scale.py                 # everything, 5 repeats
    python benchmarks/predict_scale.py --repeats 3 --only cold warm a2a many compare

Cases (targets from the model's brief; this is a 2-core box shared with other jobs, so check
``uptime`` and re-run when the load is low):

* ``cold``: one all-reduce prediction on a freshly built 16,384-GPU rail-optimized fabric
  (2,048 nodes), index and routing included (fresh graph per repeat);
* ``warm``: the same graph again with another size (phases cached): target < 10 ms;
* ``a2a``: a congestion-aware direct all-to-all over the 16,384 GPUs, cold: target < 2 s;
* ``many``: 1,000 (size, family, collective) predictions on 512-GPU fabrics: target < 10 s;
* ``compare``: ``fabric compare --gpus 16384`` end to end in a subprocess: target < 10 s.

Peak memory is ru_maxrss of this process (the compare subprocess reports its own).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = ("cold", "warm", "a2a", "many", "compare")


def _rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _timed(func, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=CASES, default=list(CASES))
    args = parser.parse_args()

    import topologies
    from collectives.predict import predict

    print(
        f"# load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, {os.cpu_count()} CPUs",
        flush=True,
    )
    rows = []
    start = time.perf_counter()
    G = topologies.build("rail-optimized", num_nodes=2048)
    print(
        f"# built rail-optimized 16,384 GPUs in {time.perf_counter() - start:.2f} s "
        f"(not counted), rss {_rss_mib():.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    if "cold" in args.only:
        times = []
        for _ in range(args.repeats):
            fresh = topologies.build("rail-optimized", num_nodes=2048)
            t0 = time.perf_counter()
            predict(fresh, "all-reduce", 1 << 30)
            times.append(time.perf_counter() - t0)
            del fresh
        rows.append(("cold all-reduce 16k (index+routing)", times, "-"))
    if "warm" in args.only:
        predict(G, "all-reduce", 1 << 30)
        sizes = iter(range(1000, 10**9, 7919))
        rows.append(
            (
                "warm all-reduce 16k, another size",
                _timed(lambda: predict(G, "all-reduce", next(sizes)), max(args.repeats, 20)),
                "10 ms",
            )
        )
    if "a2a" in args.only:
        times = []
        for _ in range(args.repeats):
            fresh = topologies.build("rail-optimized", num_nodes=2048)
            t0 = time.perf_counter()
            predict(fresh, "all-to-all", 1 << 30, algorithm="direct")
            times.append(time.perf_counter() - t0)
            del fresh
        rows.append(("cold direct all-to-all 16k", times, "2 s"))
    if "many" in args.only:
        fams = {
            f: topologies.for_gpus(f, 512)
            for f in ("rail-optimized", "rail-only", "clos", "fat-tree", "single-hop")
        }
        colls = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
        jobs = [
            (1 << (3 + i % 28), f, c)
            for i, (f, c) in enumerate((f, c) for _ in range(50) for f in fams for c in colls)
        ][:1000]

        def many() -> None:
            for size, fam, coll in jobs:
                predict(fams[fam], coll, size)

        rows.append(
            (
                f"{len(jobs)} predictions (size, family, collective) at 512 GPUs",
                _timed(many, args.repeats),
                "10 s",
            )
        )
    if "compare" in args.only:
        cmd = [sys.executable, "-m", "fabric.cli", "compare", "--gpus", "16384", "--json"]
        times = []
        for _ in range(max(1, args.repeats // 2)):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        rows.append(("fabric compare --gpus 16384 (subprocess)", times, "10 s"))
        print(
            f"# compare subprocess peak rss {_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB",
            flush=True,
        )
    print(f"{'case':52s} {'median_s':>10s} {'min_s':>9s} {'runs':>5s}  target")
    for name, times, target in rows:
        print(
            f"{name:52s} {statistics.median(times):10.4f} {min(times):9.4f} "
            f"{len(times):5d}  {target}"
        )
    print(f"# peak rss {_rss_mib():.0f} MiB; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
