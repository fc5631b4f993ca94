"""What merging twin switches saves in the fluid routing (prints medians; no assertions).

    python benchmarks/twins.py                        # 16,384 GPUs, four families
    python benchmarks/twins.py --gpus 4096 --families fat-tree --repeats 3

For each family, a fresh process builds the fabric for ``--gpus`` GPUs (the CLI's default
switch and 8-GPU servers, as ``fabric compare``) and predicts all-reduce, all-gather,
reduce-scatter and all-to-all at 1 GiB over the requested GPUs, cold (index, routing of every
candidate algorithm), once with twins merged (the default) and once routing over every switch
(``fabric.routing.MERGE_TWINS = False``). It prints the transit switches each routes, the CPU
seconds of the predictions (median of ``--repeats`` processes), the speed-up, the peak RSS, and
the largest relative difference of the predicted times (the two must agree: tests check 1e-9).
The machine is shared: check the load average printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import fabric.routing as routing
routing.MERGE_TWINS = {merge}
from collectives.predict import predict_many
from studies.design import FabricDesign, build_fabric, design_for_family, for_study
family, n = {family!r}, {gpus}
G = build_fabric(for_study(design_for_family(FabricDesign(family=family), family, n, None)))
built = sum(1 for _, k in G.nodes(data="kind") if k == "gpu")
ranks = n if n < built else None
t0 = time.process_time()
index = routing.fabric_index(G)
times = {{c: predict_many(G, c, [1 << 30], ranks=ranks)[0].time_s for c in {colls!r}}}
cpu = time.process_time() - t0
print(json.dumps({{"cpu_s": cpu, "times": times, "transit": index.num_transit,
                  "routed": index.transit_graph().num,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _run(family: str, gpus: int, merge: bool) -> dict:
    code = _CHILD.format(root=str(ROOT), merge=merge, family=family, gpus=gpus,
                         colls=COLLECTIVES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=16384)
    parser.add_argument("--families", default="fat-tree,rail-optimized,clos,rail-only")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg()[:2])}, "
          f"{os.cpu_count()} CPUs; {args.gpus:,} GPUs; cold predictions of "
          f"{', '.join(COLLECTIVES)} at 1 GiB (CPU seconds, median of {args.repeats})")
    print(f"{'family':<16}{'switches':>10}{'routed':>8}{'every switch':>14}{'merged':>9}"
          f"{'speed-up':>10}{'RSS MiB':>9}{'max diff':>10}")
    for family in args.families.split(","):
        runs = {merge: [_run(family, args.gpus, merge) for _ in range(args.repeats)]
                for merge in (False, True)}
        every, merged = (statistics.median(r["cpu_s"] for r in runs[m]) for m in (False, True))
        a, b = runs[False][0], runs[True][0]
        diff = max(abs(b["times"][c] - a["times"][c]) / a["times"][c] for c in COLLECTIVES)
        print(f"{family:<16}{a['transit']:>10,}{b['routed']:>8,}{every:>13.2f}s{merged:>8.2f}s"
              f"{every / merged:>9.1f}x{max(r['rss_mib'] for r in runs[True]):>9.0f}"
              f"{diff:>10.1e}")


if __name__ == "__main__":
    main()
