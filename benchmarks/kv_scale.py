"""Time the KV-cache model over 1,000 (model, context, placement) cases.

Each case sizes the cache, routes the prefill->decode shards over a fabric (max-min fair flows),
computes the prefill, the layer-streaming overlap, a tier load and the TTFT comparison.
Prints the median time per case, the total and the peak memory (peak RSS of the process).

    python benchmarks/kv_scale.py [--cases 1000]
"""

from __future__ import annotations

import os

# The flow solver's matrices are small: BLAS worker threads only add wake-ups, and on a loaded
# machine they made the wall time 8x the CPU time. One thread, unless the caller says otherwise.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import topologies  # noqa: E402
from collectives import kv  # noqa: E402
from collectives.llm import builtin_models  # noqa: E402

TP = {"llama-3.1-8b": (1, 2, 4, 8), "llama-3.1-70b": (2, 4, 8), "llama-3.1-405b": (8,),
      "qwen2.5-7b": (1, 2, 4), "qwen3-235b-a22b": (4, 8), "mixtral-8x7b": (2, 4, 8),
      "deepseek-v3": (8,), "llama-4-scout": (4, 8)}
CONTEXTS = (4096, 32768, 131072, 10**6)
TIERS = ("dram", "nvme", "remote")


def cases(num_cases: int):
    fabrics = [topologies.build("rail-optimized", num_nodes=8),
               topologies.build("clos", num_gpus=128, oversubscription=3)]
    models = builtin_models()
    combos = itertools.cycle(
        (key, tp, context, f, decode, streaming)
        for key in sorted(TP) for tp in TP[key] for context in CONTEXTS for f in range(2)
        for decode in ("last", "1", "4") for streaming in ("layer", "request"))
    for i, (key, tp, context, f, decode, streaming) in zip(range(num_cases), combos, strict=False):
        yield models[key], tp, context, fabrics[f], decode, streaming, TIERS[i % 3]


def one(model, tp, context, G, decode, streaming, tier_name) -> float:
    compute = kv.compute_for("h100", num_gpus=tp, mfu=0.5)
    placement = kv.place(G, tp, decode_at=None if decode == "last" else decode)
    pd = kv.pd_transfer(G, model, context, tp=tp, placement=placement, compute=compute,
                        streaming=streaming)
    t = kv.ttft(model, context, compute=compute, where=kv.tier(tier_name), tp=tp, new_tokens=512)
    return pd.ttft_s + t.ttft_cached_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    work = list(cases(args.cases))
    times = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for case in work:
        t0 = time.perf_counter()
        one(*case)
        times.append(time.perf_counter() - t0)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"cases: {len(work)}")
    print(f"median per case: {statistics.median(times) * 1e3:.3f} ms")
    print(f"p95 per case: {sorted(times)[int(0.95 * len(times))] * 1e3:.3f} ms")
    print(f"total: {total:.2f} s wall, {cpu:.2f} s CPU (wall includes other processes' load)")
    print(f"peak memory (max RSS): {peak_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
