"""A digest of what the model answers on a fixed set of fabrics, to compare two commits (prints;
no assertions).

    python benchmarks/result_digest.py > after.txt
    git stash; python benchmarks/result_digest.py > before.txt; git stash pop
    diff before.txt after.txt          # no output: the change kept every result bit for bit

For 7 fabrics (every family, planes, an oversubscribed Clos) it prints a hash of the built graph
(nodes, edges and attributes in order), the bill of materials and the summary, and for 6 of them
the time and 99th percentile of all-reduce, all-gather, reduce-scatter and all-to-all at 256 MiB
under ``ecmp-ideal``, ``ecmp-hash`` and ``adaptive`` (floats printed with ``repr``: every bit).
Speed-ups that must not change results are checked with it (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import topologies  # noqa: E402
from collectives.predict import predict  # noqa: E402
from fabric.cost import bill_of_materials  # noqa: E402
from fabric.graph import summarize  # noqa: E402

FABRICS: list[tuple[str, int, dict[str, Any]]] = [
    ("clos", 1024, {}),
    ("clos", 4096, {"switch": "sn5600-800"}),
    ("clos", 2048, {"oversubscription": 2.0}),
    ("rail-optimized", 2048, {}),
    ("rail-optimized", 512, {"planes": 2, "switch": "sn5600-400", "gpu": "b300", "su_size": 64}),
    ("fat-tree", 1024, {}),
    ("rail-only", 512, {}),
    ("single-hop", 256, {}),
]
PREDICTED = {"clos", "rail-optimized", "fat-tree", "rail-only"}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def main() -> None:
    for family, gpus, options in FABRICS:
        name = f"{family} {gpus} {json.dumps(options, sort_keys=True)}"
        G = topologies.for_gpus(family, gpus, **options)
        edges = [(u, v, list(d.items())) for u, v, d in G.edges(data=True)]
        graph = [list(G.nodes(data=True)), edges, G.graph]
        print(f"{name}: graph {_digest(graph)} bom {_digest(str(bill_of_materials(G)))} "
              f"summary {_digest(str(summarize(G)))}")
        if family not in PREDICTED or options.get("planes"):
            continue
        for collective in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
            for routing in ("ecmp-ideal", "ecmp-hash", "adaptive"):
                try:
                    p = predict(G, collective, 1 << 28, routing=routing)
                    got = f"{p.time_s!r} p99 {p.time_p99_s!r} {p.algorithm} {p.bottleneck}"
                except ValueError as err:
                    got = f"refused: {str(err)[:80]}"
                print(f"  {collective} {routing}: {got}")


if __name__ == "__main__":
    main()
