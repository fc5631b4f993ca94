"""How the model's cost grows with the fabric: 1k to 131k GPUs (prints medians; no assertions).

    python benchmarks/scale.py                         # 1k, 4k, 16k, 65k, 131k GPUs
    python benchmarks/scale.py --max-gpus 16384        # stop at 16k
    python benchmarks/scale.py --gpus 4096 16384 --no-compare --repeats 1

Each size runs in a fresh process (so its peak RSS is its own) and measures, on a rail-optimized
fabric of 8-GPU servers (``--switch``, default the radix-128 ``th6-800``, the smallest catalog
switch that holds 131,072 GPUs in 3 tiers):

* ``build``: the builder, validation included;
* ``cold``: one all-reduce prediction (1 GiB, ideal flavor, every GPU) on the new graph: fabric
  index, placement, routing of every candidate algorithm;
* ``warm``: the same request at another size (median of 50): the memoized costs;
* ``a2a``: a congestion-aware direct all-to-all (1 GiB), cold, on a second graph;
* ``floor``: the alpha-beta closed form of ring all-reduce (Patarasuk & Yuan, JPDC 2009) with
  beta from a GPU's whole egress on the same fabric and no alpha term, a floor no algorithm beats:
  its time to compute, and the model's answer over it (``model/floor``);
* ``compare``: ``python -m fabric.cli compare --gpus N --json`` end to end in a subprocess (the
  CLI's default families and switch), with that subprocess's peak RSS.

Then the fitted exponent of each stage (least squares on log time vs log GPUs) over all sizes
and from 16k up. This is a 2-core box shared with other jobs: check the load average printed
first, and re-run when it is low. Figures are tracked in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

SIZES = (1024, 4096, 16384, 65536, 131072)
STAGES = ("build", "cold", "warm", "a2a", "floor", "compare")
GPUS_PER_NODE = 8


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _one(num_gpus: int, switch: str, repeats: int) -> dict[str, float]:
    """Every in-process stage at one size; returns seconds per stage and the peak RSS (MiB)."""
    import topologies
    from collectives.algorithms import ring_all_reduce
    from collectives.predict import predict
    from fabric.routing import fabric_index

    out: dict[str, float] = {}
    num_nodes = num_gpus // GPUS_PER_NODE
    build_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        G = topologies.build("rail-optimized", num_nodes=num_nodes, switch=switch)
        build_s.append(time.perf_counter() - t0)
    out["build"] = statistics.median(build_s)
    t0 = time.perf_counter()
    cold = predict(G, "all-reduce", 1 << 30)
    out["cold"] = time.perf_counter() - t0
    sizes = iter(range(1 << 20, 1 << 40, 7919))
    warm_s = []
    for _ in range(50):
        t0 = time.perf_counter()
        predict(G, "all-reduce", next(sizes))
        warm_s.append(time.perf_counter() - t0)
    out["warm"] = statistics.median(warm_s)
    # the alpha-beta floor on the same fabric: ring all-reduce's bandwidth term over a GPU's
    # whole egress (NVLink and NIC), no latency term: no algorithm moves the bytes faster
    t0 = time.perf_counter()
    index = fabric_index(G)
    egress_bytes_per_s = float(index.egress_bytes_per_s[index.gpu_ids[0]])
    floor_s = ring_all_reduce(num_gpus, 1 << 30, alpha_s=0.0,
                              beta_s_per_byte=1 / egress_bytes_per_s)
    out["floor"] = time.perf_counter() - t0
    out["floor_time_s"] = floor_s
    out["model_time_s"] = cold.time_s
    del G, index
    G2 = topologies.build("rail-optimized", num_nodes=num_nodes, switch=switch)
    t0 = time.perf_counter()
    predict(G2, "all-to-all", 1 << 30, algorithm="direct")
    out["a2a"] = time.perf_counter() - t0
    out["rss_mib"] = _rss_mib()
    return out


def _compare(num_gpus: int) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of ``fabric compare --gpus N --json``."""
    cmd = [sys.executable, "-m", "fabric.cli", "compare", "--gpus", str(num_gpus), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall_s, usage.ru_maxrss / 1024, proc.returncode


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x (nan with fewer than 2 points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if y > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else float("nan")


def _fmt_s(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} us"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="*", default=list(SIZES),
                        help="GPU counts (multiples of 8)")
    parser.add_argument("--max-gpus", type=int, default=None, help="stop above this many GPUs")
    parser.add_argument("--switch", default="th6-800", help="scale-out switch of the builds")
    parser.add_argument("--repeats", type=int, default=1, help="builds per size (median)")
    parser.add_argument("--no-compare", action="store_true", help="skip fabric compare")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # the child: one size, one JSON line
        print(json.dumps(_one(args.one, args.switch, args.repeats)), flush=True)
        return
    sizes = [n for n in args.gpus if args.max_gpus is None or n <= args.max_gpus]
    load = os.getloadavg()
    print(f"# load average {load[0]:.2f} {load[1]:.2f}, {os.cpu_count()} CPUs; rail-optimized, "
          f"{GPUS_PER_NODE}-GPU servers, switch {args.switch}", flush=True)
    header = (f"{'GPUs':>7} {'build':>9} {'cold':>9} {'warm':>9} {'a2a':>9} {'floor':>9} "
              f"{'rss':>9} {'compare':>9} {'cmp rss':>9}  model/floor")
    print(header, flush=True)
    rows: list[dict[str, float]] = []
    for n in sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--switch", args.switch,
             "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(f"{n:>7} failed: {(child.stderr.strip().splitlines() or ['?'])[-1]}", flush=True)
            continue
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row["gpus"] = n
        cmp_text = rss_text = "-"
        if not args.no_compare:
            wall_s, rss_mib, status = _compare(n)
            row["compare"] = wall_s
            row["compare_rss_mib"] = rss_mib
            cmp_text = _fmt_s(wall_s) + ("" if status == 0 else f" (exit {status})")
            rss_text = f"{rss_mib:.0f} MiB"
        rows.append(row)
        print(f"{n:>7} {_fmt_s(row['build']):>9} {_fmt_s(row['cold']):>9} "
              f"{_fmt_s(row['warm']):>9} {_fmt_s(row['a2a']):>9} {_fmt_s(row['floor']):>9} "
              f"{row['rss_mib']:>5.0f} MiB {cmp_text:>9} {rss_text:>9}  "
              f"{row['model_time_s'] / row['floor_time_s']:.3f}", flush=True)
    if len(rows) < 2:
        return
    print("# fitted exponent (time ~ GPUs^k): all sizes / 16k and up")
    for stage in STAGES:
        have = [r for r in rows if stage in r]
        big = [r for r in have if r["gpus"] >= 16384]
        xs = [r["gpus"] for r in have]
        k_all = _slope(xs, [r[stage] for r in have])
        k_big = _slope([r["gpus"] for r in big], [r[stage] for r in big])
        print(f"#   {stage:<8} {k_all:5.2f} / {k_big:5.2f}")


if __name__ == "__main__":
    main()
