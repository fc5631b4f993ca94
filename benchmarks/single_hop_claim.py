"""The single-hop claim (40% less network capex, 70% less network power) at 8k-64k GPUs.

Prints, per scale, each baseline's network cost and power per GPU and its 1 GiB all-reduce and
all-to-all times, the single-hop fabric's at today's per-port economics, and the break-even
single-hop port cost and power for the claimed cuts (:mod:`studies.single_hop_claim`), plus the
time it took. No assertions.

    .venv/bin/python benchmarks/single_hop_claim.py
    .venv/bin/python benchmarks/single_hop_claim.py --switch sn5600 --gpus 8192 65536
"""

from __future__ import annotations

import argparse
import resource
import time

from studies.single_hop_claim import single_hop_claim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[8192, 16384, 32768, 65536])
    parser.add_argument("--switch", default="qm9700")
    parser.add_argument("--families", default="fat-tree,rail-optimized")
    parser.add_argument("--collectives", default="all-reduce,all-to-all",
                        help="predicted at --size-mib on every fabric ('' for none)")
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    colls = tuple(c for c in args.collectives.split(",") if c)
    t0 = time.perf_counter()
    rows = single_hop_claim(args.gpus, baselines=tuple(args.families.split(",")),
                            switch=args.switch, collectives=colls,
                            size_bytes=args.size_mib << 20)
    elapsed = time.perf_counter() - t0
    first = rows[0]
    print(f"# baseline switch {args.switch}: {first.port_cost_usd:,.0f} USD and "
          f"{first.port_power_w:.1f} W per port; claim: -{first.cost_cut:.0%} capex, "
          f"-{first.power_cut:.0%} power (network, NICs and optics included)")
    heads = "".join(f"{c[:10] + ' ms':>14}" for c in colls)
    print(f"{'GPUs':>7}  {'fabric':<16}{'USD/GPU':>9}{'W/GPU':>8}{heads}   "
          "break-even single-hop port")

    def times(pairs: tuple[tuple[str, float], ...]) -> str:
        return "".join(f"{t * 1e3:14.4g}" for _, t in pairs)

    for r in rows:
        for b in r.baselines:
            built = f"   (built {b.num_gpus:,} GPUs)" if b.num_gpus not in (0, r.num_gpus) else ""
            text = b.error[:60] if b.error else (f"{b.network_cost_per_gpu_usd:9,.0f}"
                                                f"{b.network_power_per_gpu_w:8.1f}"
                                                f"{times(b.times_s)}{built}")
            print(f"{r.num_gpus:7,}  {b.family:<16}{text}")
        cost = (f"{r.breakeven_port_cost_usd:,.0f} USD "
                f"({'holds' if r.cost_claim_holds else 'needs cheaper ports'})")
        verdict = ("holds" if r.power_claim_holds else "needs leaner ports"
                   if r.power_claim_possible else "cannot hold")
        power = f"{r.breakeven_port_power_w:.1f} W ({verdict})"
        print(f"{r.num_gpus:7,}  {'single-hop':<16}{r.single_hop_network_cost_per_gpu_usd:9,.0f}"
              f"{r.single_hop_network_power_per_gpu_w:8.1f}{times(r.single_hop_times_s)}   "
              f"cost {cost}; power {power}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# {elapsed:.1f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
