"""A build's end with and without moving its objects to the oldest generation (prints medians).

``fabric.gcpause.gc_paused`` ends a builder's pause of the cyclic collector by moving every
tracked object to the oldest generation (``gc.freeze`` + ``gc.unfreeze``) instead of leaving the
new fabric in the young generation for the next collection to walk. This alternates builds with
``fabric.gcpause.PROMOTE`` on and off in one process, keeping the last 8 fabrics alive as the
sweep's per-worker cache does, and times each build plus 2,000 small allocations after it (which
trigger the pending young collection), in CPU seconds.

    python benchmarks/gc_promote.py [--servers 512] [--repeats 15]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fabric.gcpause as gcpause  # noqa: E402
import topologies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    alive = [topologies.build("rail-optimized", num_nodes=args.servers // 2, switch="qm9700")
             for _ in range(3)]
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for promote in (False, True):
            gcpause.PROMOTE = promote
            start = time.process_time()
            G = topologies.build("rail-optimized", num_nodes=args.servers, switch="qm9700")
            after = [{} for _ in range(2000)]
            times[promote].append(time.process_time() - start)
            del after
            alive = [*alive[-7:], G]
    for promote in (False, True):
        label = "promoted to the oldest generation" if promote else "left young (before)"
        median_ms = statistics.median(times[promote]) * 1e3
        print(f"{args.servers} servers, {label:34} median {median_ms:6.1f} ms, "
              f"fastest {min(times[promote]) * 1e3:6.1f} ms")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
