"""Time and peak memory of importing an ``ibnetdiscover`` dump of a known fabric.

The dump is generated from a built fabric (``topologies.discovery.synth``), written to a file,
and each run imports it in a fresh Python process (read, detect, parse, build, validate, write
the YAML spec), so the peak RSS is that run's own. Prints a table of medians (stdout); progress
on stderr. The goal (issue 16): the 2-tier fabric of 1,024 end nodes imports in < 5 s.

    python benchmarks/discovery_import.py                  # 2-tier 1,024 and 4,096-port 3-tier
    python benchmarks/discovery_import.py --repeats 5 --cases leaf-spine-1024

Columns: ``import_s`` is import_fabric() (read + parse + build + validate_graph), wall clock,
``import_cpu_s`` the same in CPU seconds; ``write_s`` the spec file; ``peak_mib`` ru_maxrss at
the end minus ru_maxrss after the imports; ``exact`` says whether the imported switch and cable
counts equal the built fabric's.
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
from collections import Counter
from pathlib import Path

#: name -> (builder, kwargs)
CASES = {
    "fat-tree-k8": ("fat_tree", {"k": 8}),
    "leaf-spine-1024": ("clos", {"num_gpus": 1024, "tiers": 2}),
    "clos-3tier-16384": ("clos", {"num_gpus": 16384, "tiers": 3}),
}


def _counts(G: object) -> tuple[dict[int, int], int]:
    nodes = G.nodes  # type: ignore[attr-defined]
    tiers = Counter(d["tier"] for _, d in nodes(data=True)
                    if d["kind"] == "switch" and d["tier"] >= 1)

    def network(n: str) -> bool:
        return nodes[n]["kind"] != "switch" or nodes[n]["tier"] >= 1

    cables = sum(d["num_links"] for u, v, d in G.edges(data=True)  # type: ignore[attr-defined]
                 if network(u) and network(v)) // 2
    return dict(sorted(tiers.items())), cables


def make_dump(case: str, folder: Path) -> tuple[Path, dict[str, object]]:
    """Build the case's fabric, write its ibnetdiscover dump; return the path and its counts."""
    import topologies
    from topologies.discovery.synth import ibnetdiscover_text

    builder, kwargs = CASES[case]
    G = getattr(topologies, builder)(**kwargs)
    path = folder / f"{case}.txt"
    path.write_text(ibnetdiscover_text(G), encoding="utf-8")
    tiers, cables = _counts(G)
    return path, {"tiers": tiers, "cables": cables, "bytes": path.stat().st_size}


def child(path: str, expected: str) -> dict[str, object]:
    """Import one dump in this process and return its timings, memory and counts."""
    from topologies.discovery import import_fabric
    from topologies.spec import save_spec

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    result = import_fabric(path)
    import_s, import_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    save_spec(result.graph, Path(path).with_suffix(".yaml"))
    write_s = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tiers, cables = _counts(result.graph)
    want = json.loads(expected)
    exact = {str(k): v for k, v in tiers.items()} == want["tiers"] and cables == want["cables"]
    return {"import_s": import_s, "import_cpu_s": import_cpu_s, "write_s": write_s,
            "peak_mib": (peak_kib - base_kib) / 1024, "exact": exact,
            "switches": sum(tiers.values()), "cables": cables,
            "hosts": result.num_hosts, "gpus": sum(
                1 for _, k in result.graph.nodes(data="kind") if k == "gpu")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["leaf-spine-1024", "clos-3tier-16384"],
                        choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "EXPECTED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1])))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            print(f"{case}: writing the dump", file=sys.stderr, flush=True)
            path, want = make_dump(case, Path(tmp))
            expected = json.dumps({"tiers": {str(k): v for k, v in want["tiers"].items()},
                                   "cables": want["cables"]})
            runs = []
            for i in range(args.repeats):
                print(f"{case} run {i + 1}/{args.repeats}", file=sys.stderr, flush=True)
                done = subprocess.run([sys.executable, __file__, "--child", str(path), expected],
                                      capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    break
                runs.append(json.loads(done.stdout))
            if not runs:
                rows.append([case, "-", "-", "-", "-", "-", "-", "-", "-", "failed"])
                continue
            first = runs[0]
            rows.append([
                case, f"{int(want['bytes']) / 1e6:.1f}", f"{first['hosts']:,}",
                f"{first['switches']:,}", f"{first['cables']:,}",
                f"{statistics.median(r['import_s'] for r in runs):.2f}",
                f"{statistics.median(r['import_cpu_s'] for r in runs):.2f}",
                f"{statistics.median(r['write_s'] for r in runs):.2f}",
                f"{statistics.median(r['peak_mib'] for r in runs):.0f}",
                "yes" if all(r["exact"] for r in runs) else "NO",
            ])
    header = ["case", "dump_MB", "hosts", "switches", "cables", "import_s", "import_cpu_s",
              "write_s", "peak_mib", "exact"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
