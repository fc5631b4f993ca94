"""Time and peak memory of building (and validating) every fabric family at scale.

Each run builds one fabric with ``topologies.for_gpus`` in a fresh Python process, so the peak
RSS is that run's own. Prints one table of medians (stdout); progress goes to stderr.

    python benchmarks/build_scale.py                      # 1,024 / 4,096 / 16,384 / 65,536 GPUs
    python benchmarks/build_scale.py --sizes 16384 --repeats 5 --families clos rail-only

Columns: ``build_s`` is for_gpus() end to end (builder + its closing validate_graph), wall
clock, and ``build_cpu_s`` the same in CPU seconds (the fairer figure on a shared machine);
``validate_s`` times one more validate_graph() on the finished graph, so ``build_s -
validate_s`` is the builder's own share; ``peak_mib`` is ru_maxrss at the end minus ru_maxrss
after the imports. single-hop beyond one 512-port plane is infeasible with the catalog's
Tomahawk 6 (512 x 200G, Broadcom 2025); those rows use a hypothetical flat switch of radix
65,536 from a benchmark-only catalog (marked ``*``) so the builder's scaling is still measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = ["fat-tree", "clos", "rail-optimized", "rail-only", "single-hop"]
FLAT_SWITCH = """
[switches.bench-flat]
name = "benchmark only: a hypothetical single-hop switch of 65,536 x 200G"
tier_kind = "scale-out"
radix = 65536
port_link = "roce200"
latency_s = 0.6e-6
cost_usd = 0
power_w = 0
chips = 1
in_network_reduction = false
source = "benchmark fixture, not hardware"
year = 2026
"""


def child(family: str, num_gpus: int, catalog_path: str | None) -> dict[str, object]:
    """Build one fabric in this process and return its timings and memory."""
    import fabric.graph as fgraph
    from fabric.catalog import load_catalog
    from topologies import for_gpus

    params: dict[str, object] = {}
    if catalog_path:
        params = {"catalog": load_catalog(catalog_path), "switch": "bench-flat"}
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    G = for_gpus(family, num_gpus, **params)
    build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    fgraph.validate_graph(G)
    validate_s = time.perf_counter() - start
    return {"family": family, "requested": num_gpus, "gpus": len(fgraph.gpu_nodes(G)),
            "nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "build_s": build_s,
            "build_cpu_s": build_cpu_s, "validate_s": validate_s,
            "peak_mib": (peak_kib - base_kib) / 1024}


def run_case(family: str, num_gpus: int, catalog_path: str | None) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", family, str(num_gpus)]
    if catalog_path:
        cmd += ["--catalog", catalog_path]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"family": family, "requested": num_gpus, "error": last}
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    parser.add_argument("--families", nargs="+", default=FAMILIES, choices=FAMILIES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-largest", type=int, default=1,
                        help="runs for sizes above 16,384 GPUs")
    parser.add_argument("--child", nargs=2, metavar=("FAMILY", "NUM_GPUS"), help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.catalog)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(tmp) / "flat.toml"
        flat.write_text(FLAT_SWITCH, encoding="utf-8")
        for family in args.families:
            for size in args.sizes:
                catalog = str(flat) if family == "single-hop" and size > 512 else None
                repeats = args.repeats if size <= 16384 else args.repeats_largest
                runs = []
                for i in range(repeats):
                    print(f"{family} {size} run {i + 1}/{repeats}", file=sys.stderr, flush=True)
                    runs.append(run_case(family, size, catalog))
                    if "error" in runs[-1]:
                        break
                ok = [r for r in runs if "error" not in r]
                if not ok:
                    rows.append([family, f"{size:,}", *["-"] * 6, runs[-1]["error"]])
                    continue
                first = ok[0]
                rows.append([
                    family + ("*" if catalog else ""), f"{size:,}", f"{first['gpus']:,}",
                    f"{first['nodes'] + first['edges']:,}",
                    f"{statistics.median(r['build_s'] for r in ok):.2f}",
                    f"{statistics.median(r['build_cpu_s'] for r in ok):.2f}",
                    f"{statistics.median(r['validate_s'] for r in ok):.2f}",
                    f"{statistics.median(r['peak_mib'] for r in ok):.0f}", str(len(ok)),
                ])
    header = ["family", "requested", "gpus", "nodes+edges", "build_s", "build_cpu_s", "validate_s",
              "peak_mib", "runs"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
