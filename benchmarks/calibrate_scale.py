"""How long ``fabric calibrate`` takes on many records at once (prints medians; no assertions).

    python benchmarks/calibrate_scale.py                 # every nccl-tests log, 3 repeats
    python benchmarks/calibrate_scale.py --repeats 5 --flavor nccl

The records are every public nccl-tests log of ``tests/data/logs/nccl-tests`` imported as one
file (724 records of 23 logs: 1 to 360 hosts, all-reduce, broadcast, all-to-all, send-recv), as
a user would calibrate a directory of runs. Physically they mix clusters, which a real user
would not; what is measured is the cost of a fit over many records, groups and rank counts. Each
repeat runs ``fabric calibrate`` in its own process (``/usr/bin/time`` style: wall time and the
child's peak RSS) and the calibration files of every repeat must be the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "data" / "logs" / "nccl-tests"


def _fabric() -> list[str]:
    return [sys.executable, "-c", "import sys; from fabric.cli import main; sys.argv[0] = "
            "'fabric'; main()"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--flavor", default="ideal", choices=["ideal", "nccl"])
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"# load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "all.jsonl"
        logs = sorted(str(p) for p in LOGS.iterdir() if p.is_file())
        subprocess.run([*_fabric(), "-q", "import", *logs, "-o", str(records)], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        num = sum(1 for _ in records.open())
        times, digests = [], set()
        for i in range(args.repeats):
            out = Path(tmp) / f"cal{i}.json"
            start = time.perf_counter()
            subprocess.run([*_fabric(), "-q", "calibrate", str(records), "--flavor", args.flavor,
                            "-o", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest()[:16])
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"calibrate --flavor {args.flavor}: {num} records of {len(logs)} logs, "
          f"{args.repeats} repeats")
    print(f"  median {statistics.median(times):.2f} s (min {min(times):.2f}, max "
          f"{max(times):.2f}), peak RSS {peak:.0f} MiB, calibration "
          f"{'identical' if len(digests) == 1 else 'DIFFERS'} ({', '.join(sorted(digests))})")


if __name__ == "__main__":
    main()
