"""``fabric predict`` and ``fabric compare``: collective times on a fabric, and fabrics side by
side.
"""

from __future__ import annotations

import math
import os
from typing import Any

import click

from fabric import units
from fabric.cliutil import (
    FabricGroup,
    SizeListType,
    SizeType,
    emit_json,
    format_table,
    json_option,
    one_line,
)
from fabric.cmd_topology import family_options, topology_from_options

__all__ = ["COMMANDS", "DEFAULT_FAMILIES", "DEFAULT_COLLECTIVES", "compare_fabrics"]

DEFAULT_FAMILIES = ("rail-optimized", "rail-only", "clos", "fat-tree", "single-hop")
DEFAULT_COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
_ = FabricGroup  # the root group turns ValueError into one line


def _load_calibration(path: str | None) -> Any:
    if path is None:
        return None
    from measure.calibrate import load_calibration

    return load_calibration(path)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _prediction_row(p: Any) -> dict[str, Any]:
    row = {
        "collective": p.collective,
        "size_bytes": p.size_bytes,
        "num_ranks": p.num_ranks,
        "time_s": p.time_s,
        "algbw_bytes_per_s": p.algbw_bytes_per_s,
        "busbw_bytes_per_s": p.busbw_bytes_per_s,
        "algorithm": p.algorithm,
        "protocol": p.protocol,
        "flavor": p.flavor,
        "latency_s": p.latency_s,
        "bottleneck": p.bottleneck,
        "bottleneck_utilization": p.bottleneck_utilization,
        "bound_ratio": p.bound_ratio,
        "bytes_sent_per_rank": p.bytes_sent_per_rank,
    }
    if p.time_low_s != p.time_s or p.time_high_s != p.time_s:
        row["time_low_s"], row["time_high_s"] = p.time_low_s, p.time_high_s
    return row


@click.command("predict")
@click.option(
    "--topology",
    "topology",
    required=True,
    metavar="FILE|FAMILY",
    help="A spec file or a family (fat-tree, clos, rail-optimized, rail-only, single-hop).",
)
@family_options
@click.option(
    "--collective",
    default="all-reduce",
    show_default=True,
    help="all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, reduce, send-recv.",
)
@click.option(
    "--sizes",
    type=SizeListType(),
    default="8B:8GiB",
    show_default=True,
    help="MIN:MAX (x2 steps), MIN:MAX:FACTOR or a list (nccl-tests' meaning of size).",
)
@click.option("--ranks", type=int, help="Ranks in the communicator (default: every GPU).")
@click.option(
    "--placement",
    default="packed",
    show_default=True,
    help="packed, rail-aligned, spread, random, or a comma-separated list of GPU ids.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --placement random.")
@click.option("--algorithm", help="Force an algorithm (default: the fastest per size).")
@click.option(
    "--flavor",
    type=click.Choice(["ideal", "nccl"]),
    default="ideal",
    show_default=True,
    help="ideal: alpha-beta on the flow model; nccl: NCCL's tuner with the graph's bandwidths.",
)
@click.option("--nccl-version", help="NCCL constants version for --flavor nccl (default: newest).")
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@json_option
def predict_command(
    topology: str,
    collective: str,
    sizes: list[int],
    ranks: int | None,
    placement: str,
    seed: int,
    algorithm: str | None,
    flavor: str,
    nccl_version: str | None,
    calibration: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Predict one collective over a range of sizes, as an nccl-tests-like table."""
    from collectives.model import predict_many

    G = topology_from_options(topology, **options)
    where: Any = placement if "," not in placement else _split(placement)
    cal = _load_calibration(calibration)
    preds = predict_many(
        G,
        collective,
        sizes,
        ranks=ranks,
        placement=where,
        algorithm=algorithm,
        flavor=flavor,
        calibration=cal,
        seed=seed,
        nccl_version=nccl_version,
    )
    if as_json:
        emit_json(
            {
                "topology": G.graph.get("topology"),
                "params": G.graph.get("params"),
                "rows": [_prediction_row(p) for p in preds],
            }
        )
        return
    p0 = preds[0]
    click.echo(
        f"# {p0.collective} on {G.graph.get('topology')}: {p0.num_ranks} ranks in "
        f"{p0.num_domains} scale-up domain(s), flavor {p0.flavor}"
        + (", calibrated" if cal is not None else "")
    )
    band = cal is not None
    headers = [
        "size",
        "time(us)",
        "algbw(GB/s)",
        "busbw(GB/s)",
        "algorithm",
        "protocol",
        "bottleneck",
    ]
    if band:
        headers[2:2] = ["low(us)", "high(us)"]
    rows = []
    for p in preds:
        row = [
            units.format_size(p.size_bytes),
            f"{p.time_s * 1e6:.2f}",
            f"{p.algbw_bytes_per_s / 1e9:.2f}",
            f"{p.busbw_bytes_per_s / 1e9:.2f}",
            p.algorithm,
            p.protocol,
            p.bottleneck,
        ]
        if band:
            row[2:2] = [f"{p.time_low_s * 1e6:.2f}", f"{p.time_high_s * 1e6:.2f}"]
        rows.append(row)
    click.echo(format_table(headers, rows, align="r" * (len(headers) - 3) + "lll"))


def compare_fabrics(
    num_gpus: int,
    families: list[str],
    collectives: list[str],
    size_bytes: int,
    *,
    placement: str = "packed",
    flavor: str = "ideal",
    calibration: Any = None,
    catalog: str | None = None,
    jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Build each family for ``num_gpus`` GPUs and predict each collective on all of them.

    A family that cannot hold the GPUs (e.g. single-hop beyond its switch radix) gets an
    ``error`` entry instead of numbers. Families are independent, so they run in up to ``jobs``
    worker processes (default: one per core, at most one per family); the result is the same,
    in the order of ``families``.
    """
    work = [(family, num_gpus, collectives, size_bytes, placement, flavor, calibration, catalog)
            for family in families]
    workers = min(len(work), jobs if jobs is not None else (os.cpu_count() or 1))
    if workers <= 1:
        return [_compare_one(*args) for args in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # the fat-tree (one GPU per server, a destination class per edge switch) routes longest:
    # start it first so the other families share the remaining workers meanwhile
    order = sorted(range(len(work)), key=lambda i: work[i][0] != "fat-tree")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {i: pool.submit(_compare_one, *work[i]) for i in order}
        return [futures[i].result() for i in range(len(work))]


def _compare_one(family: str, num_gpus: int, collectives: list[str], size_bytes: int,
                 placement: str, flavor: str, calibration: Any, catalog: str | None,
                 ) -> dict[str, Any]:
    from collectives.model import predict
    from fabric.cost import bill_of_materials
    from fabric.graph import summarize

    entry: dict[str, Any] = {"family": family}
    try:
        G = topology_from_options(family, gpus=num_gpus, catalog=catalog)
    except ValueError as err:
        entry["error"] = one_line(err)
        return entry
    summary = summarize(G, exact_bisection=num_gpus <= 16384)
    cost_usd: float | None = None
    power_w: float | None = None
    try:
        bom = bill_of_materials(G, catalog=_catalog(catalog) if catalog else None)
        cost_usd, power_w = bom.network_cost_usd, bom.network_power_w
    except ValueError as err:  # e.g. no transceiver of a link's rate: times still stand
        entry["cost_error"] = one_line(err)
    entry.update(
        {
            "num_gpus_built": summary.num_gpus,
            "switches_by_tier": summary.switches_by_tier,
            "num_switches": summary.num_switches,
            "cables": sum(summary.cables_by_tier.values())
            - summary.cables_by_tier.get("gpu-scale-up", 0),
            "bisection_bandwidth_bytes_per_s": summary.bisection_bandwidth_bytes_per_s,
            "hop_diameter": summary.hop_diameter,
            "network_cost_usd": cost_usd,
            "network_power_w": power_w,
            "network_cost_per_gpu_usd": None if cost_usd is None else cost_usd / summary.num_gpus,
            "results": {},
        }
    )
    for coll in collectives:
        try:
            p = predict(G, coll, size_bytes, ranks=num_gpus, placement=placement, flavor=flavor,
                        calibration=calibration)
            entry["results"][p.collective] = _prediction_row(p)
        except ValueError as err:
            entry["results"][coll] = {"error": one_line(err)}
    return entry


def _catalog(path: str) -> Any:
    from fabric.catalog import load_catalog

    return load_catalog(path)


@click.command("compare")
@click.option("--gpus", type=int, default=4096, show_default=True, help="GPUs in the cluster.")
@click.option(
    "--families",
    default=",".join(DEFAULT_FAMILIES),
    show_default=True,
    help="Comma-separated families to compare.",
)
@click.option(
    "--collectives",
    default=",".join(DEFAULT_COLLECTIVES),
    show_default=True,
    help="Comma-separated collectives.",
)
@click.option(
    "--size",
    "size_bytes",
    type=SizeType(),
    default="1GiB",
    show_default=True,
    help="Message size (nccl-tests' meaning).",
)
@click.option(
    "--placement", default="packed", show_default=True, help="packed, rail-aligned, spread, random."
)
@click.option("--flavor", type=click.Choice(["ideal", "nccl"]), default="ideal", show_default=True)
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@click.option(
    "--catalog", metavar="FILE", help="Catalog TOML laid over the built-in one (your prices)."
)
@json_option
def compare_command(
    gpus: int,
    families: str,
    collectives: str,
    size_bytes: int,
    placement: str,
    flavor: str,
    calibration: str | None,
    catalog: str | None,
    as_json: bool,
) -> None:
    """Compare fabric families for one cluster size: collective times, busbw, bottleneck, cost."""
    import topologies
    from collectives.names import canonical

    if gpus < 2:
        raise click.BadParameter(f"must be >= 2, got {gpus}", param_hint="--gpus")
    fams = _split(families)
    for fam in fams:
        if fam not in topologies.FAMILIES:
            raise ValueError(f"unknown family {fam!r}; known: {', '.join(topologies.FAMILIES)}")
    colls = [canonical(c) for c in _split(collectives)]
    cal = _load_calibration(calibration)
    entries = compare_fabrics(
        gpus,
        fams,
        colls,
        size_bytes,
        placement=placement,
        flavor=flavor,
        calibration=cal,
        catalog=catalog,
    )
    if as_json:
        emit_json(
            {
                "num_gpus": gpus,
                "size_bytes": size_bytes,
                "placement": placement,
                "flavor": flavor,
                "families": entries,
            }
        )
        return
    click.echo(
        f"# {gpus} GPUs, {units.format_size(size_bytes)} per collective, {placement} placement, "
        f"{flavor} flavor" + (", calibrated" if cal is not None else "")
    )
    rows = []
    for e in entries:
        if "error" in e:
            rows.append([e["family"], "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                e["family"],
                str(e["num_switches"]),
                str(e["cables"]),
                f"{e['bisection_bandwidth_bytes_per_s'] * 8 / 1e12:.0f}"
                if math.isfinite(e["bisection_bandwidth_bytes_per_s"])
                else "-",
                "-" if e["network_cost_usd"] is None else f"{e['network_cost_usd'] / 1e6:.1f}",
                "-" if e["network_cost_usd"] is None else f"{e['network_cost_per_gpu_usd']:,.0f}",
            ]
        )
    click.echo(
        format_table(
            ["family", "switches", "cables", "bisection(Tb/s)", "network(M USD)", "USD/GPU"],
            rows,
            align="lrrrrr",
        )
    )
    for e in entries:
        if "error" in e:
            click.echo(f"{e['family']}: infeasible: {e['error']}")
        elif e.get("cost_error"):
            click.echo(f"{e['family']}: no cost: {e['cost_error']}")
    click.echo("")
    headers = [
        "family",
        "collective",
        "time(ms)",
        "busbw(GB/s)",
        "algorithm",
        "bound",
        "bottleneck",
    ]
    rows = []
    for e in entries:
        if "error" in e:
            continue
        for coll, r in e["results"].items():
            if "error" in r:
                rows.append([e["family"], coll, "-", "-", "-", "-", r["error"]])
            else:
                rows.append(
                    [
                        e["family"],
                        coll,
                        f"{r['time_s'] * 1e3:.3f}",
                        f"{r['busbw_bytes_per_s'] / 1e9:.1f}",
                        r["algorithm"],
                        f"{r['bound_ratio']:.2f}x",
                        r["bottleneck"],
                    ]
                )
    click.echo(format_table(headers, rows, align="llrrlrl"))
    for e in entries:
        if "cost_error" in e:
            click.echo(f"{e['family']}: no cost: {e['cost_error']}", err=True)
    click.echo("\nbound = time / bandwidth-optimal lower bound; bottleneck = busiest link (u->v).")


COMMANDS = [predict_command, compare_command]
