"""Time ``fabric report`` for 3 families x 4 scales: median wall seconds and peak memory.

    python benchmarks/report_scale.py                      # 512,1024,2048,4096 GPUs, 3 runs
    python benchmarks/report_scale.py --gpus 1024,4096,16k --repeat 1

Each run is a fresh ``fabric report`` process (so imports and the plotly bundle count), writing
the HTML to a temporary folder. The default report times two workloads (dense and MoE), prices a
ladder of scales and sweeps the Clos oversubscription, so those count too. Peak memory is the
largest resident set of any run (``getrusage(RUSAGE_CHILDREN).ru_maxrss``). Prints one line per
run and a summary with the size of the one offline HTML file (plotly.js inline) and how much of
it is plotly.js; no timing is asserted anywhere (tests do not time).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", default="512,1024,2048,4096")
    parser.add_argument("--families", default="rail-optimized,rail-only,clos")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    fabric = Path(sys.executable).with_name("fabric")
    times = []
    size_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.html"
        for i in range(args.repeat):
            start = time.perf_counter()
            run = subprocess.run([str(fabric), "report", "--gpus", args.gpus, "--families",
                                  args.families, "-o", str(out)], capture_output=True, text=True,
                                 check=False)
            elapsed = time.perf_counter() - start
            if run.returncode != 0:
                print(run.stderr, file=sys.stderr)
                return run.returncode
            times.append(elapsed)
            size_bytes = out.stat().st_size
            print(f"run {i + 1}: {elapsed:.2f} s, {out.stat().st_size / 1e6:.2f} MB HTML")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    from plotly.offline import get_plotlyjs

    plotly_bytes = len(get_plotlyjs().encode("utf-8"))
    print(f"fabric report --gpus {args.gpus} --families {args.families}: median "
          f"{statistics.median(times):.2f} s over {len(times)} runs, peak RSS {peak_mib:.0f} MiB, "
          f"HTML {size_bytes / 1e6:.2f} MB in one offline file (plotly.js inline "
          f"{plotly_bytes / 1e6:.2f} MB, the report itself {(size_bytes - plotly_bytes) / 1e6:.2f}"
          f" MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
