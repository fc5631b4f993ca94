"""``fabric predict`` and ``fabric compare``: collective times on a fabric, and fabrics side by
side.
"""

from __future__ import annotations

import math
from typing import Any

import click
from click.core import ParameterSource

from collectives.placement import PLACEMENTS
from collectives.predict import predict_many
from collectives.workload import default_workload, load_workload
from fabric import units
from fabric.cli.common import (
    LOG,
    CountType,
    SizeListType,
    emit_result,
    format_table,
    heading,
    hidden_alias,
    json_option,
    progress,
    refuse_unless,
)
from fabric.cli.options import (
    CLUSTER_OPTION_NAMES,
    check_routing_flags,
    cluster_from_options,
    cluster_options,
    design_from_options,
    fabric_options,
    load_catalog_option,
    routing_options,
)
from fabric.routing import fabric_index
from measure.calibration import load_calibration
from studies.compare import DEFAULT_COLLECTIVES, DEFAULT_FAMILIES, compare_fabrics
from studies.design import DesignError, build_fabric
from studies.evaluate import FabricResult
from topologies.generic import (
    CPU_RANKS,
    GENERIC_TOPOLOGY,
    cluster_links,
    cluster_of_params,
    generic_fabric,
    rebuild_generic_fabric,
)

__all__ = ["predict_command", "compare_command"]


def _load_calibration(path: str | None) -> Any:
    return None if path is None else load_calibration(path)


_GENERIC_NAMES = ("generic", GENERIC_TOPOLOGY)
#: Fabric flags the generic fabric takes (the rest are family flags).
_GENERIC_FLAGS = ("nodes", "gpus", "gpus_per_node", "gpu", "catalog") + CLUSTER_OPTION_NAMES


def _generic(options: dict[str, Any], cal: Any) -> tuple[Any, list[str]]:
    """``--topology generic``: the generic fabric of the cluster flags at ``--nodes`` servers, or
    the calibration's generic fabric (its servers) at another node count; and warnings.

    Raises
    ------
    studies.design.DesignError
        (exit 2) Family flags, no node count, or a GPU count that is not whole servers.
    """
    family = [n for n, v in options.items() if v not in (None, False) and n not in _GENERIC_FLAGS]
    if family:
        flags = ", ".join("--" + n.replace("_", "-") for n in family)
        raise DesignError(f"--topology generic takes --nodes, --gpus-per-node, --gpu and the "
                          f"cluster flags, not {flags}")
    fitted = cal.graph.get("params", {}) if cal is not None and cal.graph.get(
        "topology") == GENERIC_TOPOLOGY else {}
    # each flag replaces its own field of the calibration's servers
    cluster = cluster_from_options(options, base=cluster_of_params(fitted) if fitted else None)
    per = options.get("cpu_ranks") or options.get("gpus_per_node") or fitted.get(
        "gpus_per_host") or 8
    nodes = options.get("nodes")
    if options.get("gpus") is not None:
        if options["gpus"] % per:
            raise DesignError(f"--gpus {options['gpus']} is not whole servers of {per} GPUs")
        if nodes is not None and nodes * per != options["gpus"]:
            raise DesignError(f"--gpus {options['gpus']} and --nodes {nodes} x {per} disagree")
        nodes = options["gpus"] // per
    if nodes is None:
        nodes = fitted.get("num_hosts")
    if nodes is None:
        raise DesignError("--topology generic needs --nodes (or --gpus)")
    notes = []
    if cluster is None and fitted:
        G = rebuild_generic_fabric(fitted, num_hosts=int(nodes), gpus_per_host=int(per))
        described = bool(fitted.get("nic"))
        if nodes > 1 and not described and int(fitted.get("num_hosts", 1)) == 1:
            notes.append("the calibration was fitted on one host with no NIC described: its "
                         "network link was never measured and is the generic default (one NDR "
                         "400G per GPU); describe the servers with --nic and --nics-per-node")
        return G, notes
    G = generic_fabric(int(nodes), int(per), cluster=cluster,
                       catalog=load_catalog_option(options.get("catalog")))
    if nodes > 1 and (cluster is None or not cluster.nic_described):
        share = cluster_links(cluster, int(per)) if cluster is not None else None
        rate = (share.network_bandwidth_per_gpu_bytes_per_s if share else 50e9) / 1e9
        count = cluster.nics_per_node if cluster is not None else None
        cpu = cluster is not None and cluster.gpu == CPU_RANKS
        nics = (f"{count} NDR 400G per server" if count is not None
                else "one NDR 400G per server" if cpu else "one NDR 400G per GPU")
        unit = "rank" if cpu else "GPU"
        notes.append(f"no --nic given: the network link is the generic default, {nics} "
                     f"({rate:g} GB/s per {unit}); describe the servers with --nic and "
                     f"--nics-per-node")
    return G, notes


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
        "sent_per_rank_bytes": p.bytes_sent_per_rank,
    }
    if p.time_low_s != p.time_s or p.time_high_s != p.time_s:
        row["time_low_s"], row["time_high_s"] = p.time_low_s, p.time_high_s
    if p.routing != "ecmp-ideal":
        row["routing"] = p.routing
        if p.routing == "ecmp-hash":
            row["time_p99_s"] = p.time_p99_s
    return row


@click.command("predict")
@click.option(
    "--topology",
    "topology",
    required=True,
    metavar="FILE|FAMILY",
    help="A spec file, a family (fat-tree, clos, rail-optimized, rail-only, single-hop) or "
    "generic (servers described by --gpu, --gpus-per-node, --nic, --nics-per-node, "
    "--peer-to-peer, --nvls, --cpu-ranks; with --calibration alone, the calibration's servers).",
)
@fabric_options()
@cluster_options()
@routing_options()
@click.option(
    "--collectives",
    default="all-reduce",
    show_default=True,
    help="Comma-separated: all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, "
    "reduce, send-recv.",
)
@hidden_alias("collectives", "--collective")
@click.option(
    "--sizes",
    type=SizeListType(),
    default="8B:8GiB",
    show_default=True,
    help="MIN:MAX (x2 steps), MIN:MAX:FACTOR or a list; K/M/G = x1024 as nccl-tests, "
    "KB/MB/GB = x1000.",
)
@hidden_alias("sizes", "--size", type=SizeListType())
@click.option("--ranks", type=CountType(),
              help="Ranks in the communicator (default: every GPU, or the --gpus asked when "
                   "the family builds more, as compare does); k = 1024.")
@click.option(
    "--placement",
    default="packed",
    show_default=True,
    help="packed, rail-aligned, spread, random, or a comma-separated list of GPU ids.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for --placement random.")
@click.option("--algorithm",
              help="Force an algorithm. Default: per size, the fastest that applies (ideal, "
              "mpi; in-network only when named; with a calibration fitted to measured runs, "
              "the fastest of NCCL's algorithms), or NCCL's tuner's choice (nccl).")
@click.option(
    "--flavor",
    type=click.Choice(["ideal", "nccl", "mpi"]),
    default="ideal",
    show_default=True,
    help="ideal: alpha-beta on the flow model; nccl: NCCL's tuner with the graph's bandwidths; "
    "mpi: the flow model with an MPI calibration.",
)
@click.option("--nccl-version",
              help="NCCL constants version for --flavor nccl (default: newest); refused otherwise.")
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@json_option
def predict_command(
    topology: str,
    collectives: str,
    sizes: list[int],
    ranks: int | None,
    placement: str,
    seed: int,
    algorithm: str | None,
    flavor: str,
    nccl_version: str | None,
    calibration: str | None,
    as_json: bool,
    routing: str,
    routing_seed: int,
    **options: Any,
) -> None:
    """Predict collectives over a range of sizes, as nccl-tests-like tables."""
    refuse_unless(nccl_version is None or flavor == "nccl", "--nccl-version",
                  f"applies to --flavor nccl only (got --flavor {flavor})")
    check_routing_flags(flavor, routing)
    seed_given = click.get_current_context().get_parameter_source("seed") == \
        ParameterSource.COMMANDLINE
    refuse_unless(not seed_given or placement == "random", "--seed",
                  f"applies to --placement random only (got --placement {placement})")
    names = _split(collectives)
    if not names:
        raise click.BadParameter("name at least one collective", param_hint="--collectives")
    cal = _load_calibration(calibration)
    said: list[str] = []  # every note, also in --json's results

    def note(text: str, prefix: str | None = "note") -> None:
        said.append(text)
        LOG.warning(text, extra={"prefix": prefix} if prefix else None)

    if topology in _GENERIC_NAMES:
        G, notes = _generic(options, cal)
        for text in notes:
            note(text, None)
    else:
        cluster_given = [n for n in CLUSTER_OPTION_NAMES if options.get(n) is not None]
        if cluster_given:
            flags = ", ".join("--" + n.replace("_", "-") for n in cluster_given)
            raise DesignError(f"cluster flags ({flags}) describe --topology generic's servers")
        G = build_fabric(design_from_options(topology, options))
        if (G.graph.get("topology") == "fat-tree" and options.get("gpus_per_node") is None
                and options.get("scaleup") is None):
            note("fat-tree is built here as Al-Fares built it, one GPU per server and "
                 "no NVLink; compare and report build 8-GPU NVLink servers (add "
                 "--gpus-per-node 8 --scaleup auto for the same fabric)")
        asked = options.get("gpus")
        built = len(fabric_index(G).gpu_names)  # the index predict_many reads anyway
        if ranks is None and asked is not None and 2 <= int(asked) < built and "," not in placement:
            # a family that comes in sizes (a k-ary fat-tree) holds more GPUs than asked: the
            # collectives run over the GPUs asked, as compare and report run them
            ranks = int(asked)
            note(f"built {built:,} GPUs for the {ranks:,} asked: the collectives run "
                 f"over the {ranks:,} asked ({placement} placement; --ranks N for "
                 f"another count)")
    where: Any = placement if "," not in placement else _split(placement)
    by_collective = []
    with progress(len(names), "fabric predict") as advance:
        for name in names:
            by_collective.append(predict_many(
                G, name, sizes, ranks=ranks, placement=where, algorithm=algorithm,
                flavor=flavor, calibration=cal, seed=seed, nccl_version=nccl_version,
                routing=routing, routing_seed=routing_seed))
            advance(1)
    if cal is not None and cal.flavor == flavor:
        from measure.validate import scope_notes

        for text in scope_notes(cal, [p for preds in by_collective for p in preds]):
            note(text)
    if as_json:
        emit_result("predict", None, {
            "topology": G.graph.get("topology"),
            "params": {k: v for k, v in (G.graph.get("params") or {}).items() if k != "catalog"},
            "predictions": [_prediction_row(p) for preds in by_collective for p in preds],
            "notes": said,
        })
        return
    for i, preds in enumerate(by_collective):
        if i:
            heading("")
        _print_predictions(G, preds, cal is not None)


def _print_predictions(G: Any, preds: list[Any], calibrated: bool) -> None:
    p0 = preds[0]
    heading(
        f"# {p0.collective} on {G.graph.get('topology')}: {p0.num_ranks} ranks in "
        f"{p0.num_domains} scale-up domain(s), flavor {p0.flavor}"
        + (", calibrated" if calibrated else "")
        + (f", routing {p0.routing}" if p0.routing != "ecmp-ideal" else "")
    )
    band = calibrated
    hashed = p0.routing == "ecmp-hash"
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
    if hashed:
        headers[1:2] = ["mean(us)", "p99(us)"]
    rows = []
    for p in preds:
        row: list[Any] = [
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
        if hashed:
            row[2:2] = [f"{(p.time_p99_s or p.time_s) * 1e6:.2f}"]
        rows.append(row)
    click.echo(format_table(headers, rows, align="r" * (len(headers) - 3) + "lll"))


def _compare_rows(entry: FabricResult) -> list[dict[str, Any]]:
    """One prediction row per collective and size; a collective that failed: its error."""
    rows: list[dict[str, Any]] = []
    for curve in entry.curves:
        if curve.predictions:
            rows.extend(_prediction_row(p) for p in curve.predictions)
        else:
            rows.append({"collective": curve.collective, "error": curve.error or "no prediction"})
    return rows


def _compare_entry(f: FabricResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"family": f.family, "requested_gpus": f.requested_gpus,
                             "notes": list(f.notes)}
    s, bom, w = f.summary, f.bom, f.workload
    if f.error or s is None:
        entry["error"] = f.error or "not built"
        return entry
    entry.update({
        "num_gpus": f.num_gpus,
        "params": {k: v for k, v in f.params.items() if k != "catalog"},
        "switches_by_tier": s.switches_by_tier,
        "num_switches": s.num_switches,
        # cables between boxes: not NVLink to the NVSwitch, nor PCIe from a GPU to its NIC
        "num_cables": sum(n for k, n in s.cables_by_tier.items()
                          if k not in ("gpu-scale-up", "gpu-nic")),
        "bisection_bandwidth_bytes_per_s": s.bisection_bandwidth_bytes_per_s,
        "hop_diameter": s.hop_diameter,
        "network_cost_usd": None if bom is None else bom.network_cost_usd,
        "network_power_w": None if bom is None else bom.network_power_w,
        "network_cost_per_gpu_usd": None if bom is None else bom.network_cost_per_gpu_usd,
        "cost_error": f.cost_error or None,
        "gpu_utilization": None if w is None else w.step.gpu_utilization,
        "step_time_s": None if w is None else w.step.step_time_s,
        "cost_per_useful_gpu_hour_usd":
            None if w is None else w.cost.cost_per_useful_gpu_hour_usd,
        "predictions": _compare_rows(f),
    })
    return entry


@click.command("compare")
@click.option("--gpus", type=CountType(), default="4096", show_default=True,
              help="GPUs in the cluster (k = 1024: 16k = 16,384).")
@click.option("--families", default=",".join(DEFAULT_FAMILIES), show_default=True,
              help="Comma-separated families to compare, and spec files (.yaml/.json/"
                   ".graphml, e.g. from `fabric topology import`) compared as they are, "
                   "over all of their GPUs.")
@click.option("--collectives", default=",".join(DEFAULT_COLLECTIVES), show_default=True,
              help="Comma-separated collectives.")
@hidden_alias("collectives", "--collective")
@click.option("--sizes", type=SizeListType(), default="1GiB", show_default=True,
              help="Message size(s): one, a list or MIN:MAX[:FACTOR]; K/M/G = x1024 as "
                   "nccl-tests, KB/MB/GB = x1000.")
@hidden_alias("sizes", "--size", type=SizeListType())
@click.option("--placement", type=click.Choice(list(PLACEMENTS)), default="packed",
              show_default=True, help="Rank placement (compare builds each family itself, so "
                                      "it takes no list of GPU ids).")
@click.option("--flavor", type=click.Choice(["ideal", "nccl"]), default="ideal", show_default=True)
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@click.option("--workload", "workload_path", metavar="FILE",
              help="Workload YAML/JSON for utilization and USD per useful GPU-hour "
                   "(default: built-in 70B dense training step).")
@routing_options()
@fabric_options(sizes=False)
@json_option
def compare_command(gpus: int, families: str, collectives: str, sizes: list[int], placement: str,
                    flavor: str, calibration: str | None, workload_path: str | None,
                    as_json: bool, routing: str, routing_seed: int, **options: Any) -> None:
    """Compare fabric families for one cluster: cost, collective times, utilization per dollar.

    Every family is built with the same servers (8 GPUs behind NVLink unless --gpus-per-node /
    --scaleup say otherwise) and evaluated by the same function as `fabric report`.
    """
    if gpus < 2:
        raise click.BadParameter(f"must be >= 2, got {gpus}", param_hint="--gpus")
    check_routing_flags(flavor, routing)
    catalog = load_catalog_option(options.get("catalog"))
    base = design_from_options(None, options, catalog=catalog)
    cal = _load_calibration(calibration)
    w = load_workload(workload_path) if workload_path else default_workload()
    names = _split(families)
    with progress(len(names), "fabric compare") as advance:
        result = compare_fabrics(gpus, names, base=base, collectives=_split(collectives),
                                 sizes_bytes=tuple(sizes), placement=placement, flavor=flavor,
                                 calibration=cal, catalog=catalog, workload=w,
                                 progress=lambda _: advance(1), routing=routing,
                                 routing_seed=routing_seed)
    entries = [_compare_entry(f) for f in result.fabrics]
    if as_json:
        emit_result("compare", None, {"workload": w.name, "fabrics": entries})
    else:
        _print_comparison(gpus, sizes, placement, flavor, cal is not None, entries)
    if result.num_built == 0:
        raise click.ClickException("no family could be built for "
                                   f"{gpus:,} GPUs (see the lines above)")
    if workload_path and not any(f.workload is not None for f in result.fabrics):
        # the user's workload ran on no fabric (each built its own GPU count: a fat-tree may
        # hold more than asked): a failed request, not a table of dashes with exit 0
        reason = next((n.removeprefix("workload not evaluated: ") for f in result.fabrics
                       for n in f.notes if n.startswith("workload not evaluated")), "")
        raise click.ClickException(f"the workload of {workload_path} ran on none of the "
                                   f"fabrics: {reason}")


def _print_comparison(gpus: int, sizes: list[int], placement: str, flavor: str,
                      calibrated: bool, entries: list[dict[str, Any]]) -> None:
    shown = ", ".join(units.format_size(s) for s in sizes)
    heading(
        f"# {gpus:,} GPUs, {shown} per collective, {placement} placement, "
        f"{flavor} flavor" + (", calibrated" if calibrated else "")
    )
    rows = []
    for e in entries:
        if "error" in e:
            rows.append([e["family"], "-", "-", "-", "-", "-", "-", "-"])
            continue
        cost = e["network_cost_usd"]
        rows.append([
            e["family"], f"{e['num_gpus']:,}", f"{e['num_switches']:,}", f"{e['num_cables']:,}",
            f"{e['bisection_bandwidth_bytes_per_s'] * 8 / 1e12:.0f}"
            if math.isfinite(e["bisection_bandwidth_bytes_per_s"]) else "-",
            "-" if cost is None else f"{cost / 1e6:.1f}",
            "-" if cost is None else f"{e['network_cost_per_gpu_usd']:,.0f}",
            "-" if e["gpu_utilization"] is None else f"{100 * e['gpu_utilization']:.1f}",
        ])
    click.echo(format_table(
        ["family", "GPUs", "switches", "cables", "bisection(Tb/s)", "network(M USD)", "USD/GPU",
         "util %"], rows, align="lrrrrrrr"))
    for e in entries:
        if "error" in e:
            heading(f"{e['family']}: infeasible: {e['error']}")
        elif e.get("cost_error"):
            heading(f"{e['family']}: no cost: {e['cost_error']}")
        for note in e.get("notes", []):
            heading(f"{e['family']}: {note}")
    click.echo("")
    headers = ["family", "collective", "size", "time(ms)", "busbw(GB/s)", "algorithm", "bound",
               "bottleneck"]
    rows = []
    for e in entries:
        for r in e.get("predictions", []):
            if "error" in r:
                rows.append([e["family"], r["collective"], "-", "-", "-", "-", "-", r["error"]])
            else:
                rows.append([e["family"], r["collective"], units.format_size(r["size_bytes"]),
                             f"{r['time_s'] * 1e3:.3f}", f"{r['busbw_bytes_per_s'] / 1e9:.1f}",
                             r["algorithm"], f"{r['bound_ratio']:.2f}x", r["bottleneck"]])
    click.echo(format_table(headers, rows, align="llrrrlrl"))
    heading("\nbound = time / bandwidth-optimal lower bound; bottleneck = busiest link (u->v); "
            "util = GPU utilization of the workload's training step.")
