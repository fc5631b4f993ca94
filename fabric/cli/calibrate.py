"""``fabric calibrate`` and ``fabric validate``: fit the model to measurements, check the fit.

Both read a records file (JSON Lines from ``fabric import`` / ``fabric measure``) or a benchmark
log directly (nccl-tests, OSU, IMB). Without ``--topology`` (or with ``--topology generic``) they
use the generic two-level fabric built from the records (:mod:`measure.generic_fabric`), its
servers described by the cluster flags (``--gpu a100 --nic hdr200 --nics-per-node 4``,
``--cpu-ranks``; :func:`fabric.cli.options.cluster_options`); ``validate`` rebuilds the one the
calibration was fitted on, servers included.
"""

from __future__ import annotations

import math
from typing import Any

import click

from fabric import units
from fabric.cli.common import (
    LOG,
    FabricGroup,
    FlagError,
    emit_result,
    format_table,
    heading,
    json_option,
    progress,
    refuse_unless,
    status,
)
from fabric.cli.options import (
    CLUSTER_OPTION_NAMES,
    cluster_from_options,
    cluster_options,
    design_from_options,
    fabric_options,
)
from studies.design import build_fabric
from topologies.generic import GENERIC_TOPOLOGY, ClusterDescription, cluster_of_params

__all__ = ["calibrate_command", "validate_command"]

_ = FabricGroup  # the root group turns ValueError into one line and exit 1

_HOLDOUT_HELP = ("Sizes left out: none, half, every:K (hold out every K-th size), fit-every:K (fit "
                 "every K-th, hold out the rest), fraction:F, or sizes:1MiB,4MiB.")


_GENERIC_NAMES = ("generic", GENERIC_TOPOLOGY)
#: Flags of the generic fabric's servers (besides the cluster flags): the rest are family flags.
_SERVER_FLAGS = ("gpu", "catalog")


def _flags(names: list[str]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


def _fabric(topology: str | None,
            options: dict[str, Any]) -> tuple[Any, ClusterDescription | None]:
    """The fabric ``--topology`` names (None: the generic one from the records) and the
    described cluster (None when no cluster flag was given)."""
    given = [name for name, value in options.items() if value not in (None, False)]
    cluster_given = [n for n in given if n in CLUSTER_OPTION_NAMES]
    if topology is None or topology in _GENERIC_NAMES:
        family = [n for n in given if n not in CLUSTER_OPTION_NAMES + _SERVER_FLAGS]
        if family:
            raise FlagError(f"family flags ({_flags(family)}) need --topology FAMILY; the "
                            f"generic fabric takes its sizes from the records")
        return None, cluster_from_options(options)
    if cluster_given:
        raise FlagError(f"cluster flags ({_flags(cluster_given)}) describe the generic fabric's "
                        f"servers; drop --topology {topology} or give --topology generic")
    family_options = {k: v for k, v in options.items() if k not in CLUSTER_OPTION_NAMES}
    return build_fabric(design_from_options(topology, family_options)), None


def _over_recorded(options: dict[str, Any], flags: ClusterDescription | None,
                   measurements: Any) -> ClusterDescription | None:
    """The cluster of the generic fabric: the records' recorded description with each cluster
    flag given replacing its own field (the flags alone when the records hold none, or
    describe several clusters)."""
    from measure.generic_fabric import cluster_of_records

    try:
        recorded = cluster_of_records(measurements)
    except ValueError:
        if flags is None:
            raise
        return flags
    if flags is None or recorded is None:
        return flags or recorded
    return cluster_from_options(options, base=recorded)


def _pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value * 100:.1f}%"


def _buffers(in_place: bool, both: bool) -> bool | None:
    if in_place and both:
        raise click.UsageError("give --in-place or --both-buffers, not both")
    return None if both else in_place


@click.command("calibrate")
@click.argument("records", metavar="RECORDS", type=click.Path(dir_okay=False))
@click.option("--topology", metavar="FILE|FAMILY",
              help="The fabric the measurements ran on (default: a generic two-level fabric "
                   "built from the records' hosts, its servers described by --gpu, --nic, "
                   "--nics-per-node, --peer-to-peer, --nvls, --cpu-ranks).")
@fabric_options()
@cluster_options()
@click.option("--holdout", default="none", show_default=True, metavar="SPEC", help=_HOLDOUT_HELP)
@click.option("--in-place", is_flag=True, help="Fit the in-place points (default: out-of-place).")
@click.option("--both-buffers", is_flag=True, help="Fit in-place and out-of-place points.")
@click.option("--loss", type=click.Choice(["soft_l1", "huber", "cauchy", "linear"]),
              default="soft_l1", show_default=True, help="Robust loss on log time.")
@click.option("--flavor", type=click.Choice(["ideal", "nccl", "mpi"]), default="ideal",
              show_default=True,
              help="ideal: alpha and link efficiencies; nccl: NCCL tuner's bandwidth scales, "
                   "latency scale, cost per call and network latency; mpi: the ideal fit for "
                   "OSU/IMB/mpi4py records.")
@click.option("--nccl-version", metavar="RELEASE",
              help="--flavor nccl: the NCCL release whose tuner constants to fit (default: "
                   "the one the records state, else the newest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Calibration file to write (JSON; atomic, nothing written on error).")
@json_option
def calibrate_command(records: str, topology: str | None, holdout: str, in_place: bool,
                      both_buffers: bool, loss: str, flavor: str, nccl_version: str | None,
                      output: str | None, as_json: bool, **options: Any) -> None:
    """Fit the model to RECORDS (a records file or a benchmark log): alpha and per-link-class
    efficiency (ideal flavor), or NCCL's bandwidth scales, latency scale, cost per call and
    network latency (nccl flavor).

    Prints the fitted parameters with standard errors and the fit error; -o writes the file
    that predict, compare and report take with --calibration.
    """
    from fabric.fileio import check_output_path
    from measure.calibrate import calibrate
    from measure.calibration import save_calibration
    from measure.fit_data import load_measurements
    from measure.generic_fabric import (
        device_note,
        generic_fabric_from_records,
        undescribed_network_note,
    )

    buffers = _buffers(in_place, both_buffers)
    refuse_unless(nccl_version is None or flavor == "nccl", "--nccl-version",
                  f"applies to --flavor nccl only (got --flavor {flavor})")
    if nccl_version is not None:
        from collectives.nccl_tables import constants_for

        constants_for(nccl_version)  # an unknown release fails here, naming the known ones
    if output is not None:
        check_output_path(output, inputs=[records, options.get("catalog")])
    G, cluster = _fabric(topology, options)
    measurements = load_measurements(records)
    if G is None:  # flags over what `fabric import` recorded, field by field
        cluster = _over_recorded(options, cluster, measurements)
    if G is None and cluster is not None:
        G = generic_fabric_from_records(measurements, cluster=cluster)
    if topology is None or topology in _GENERIC_NAMES:
        mismatch = device_note(measurements, cluster)
        if mismatch:
            LOG.warning(mismatch)
    with progress(1, "fabric calibrate") as advance:  # one step: the fit has no progress hook
        cal = calibrate(measurements, G, flavor=flavor, holdout=holdout,
                        in_place=buffers, loss=loss, nccl_version=nccl_version)
        advance(1)
    unmeasured = undescribed_network_note(cal.graph)
    if unmeasured:
        LOG.warning(unmeasured)
    if output is not None:
        save_calibration(cal, output)
        status(f"wrote {output}")
    if as_json:
        body = cal.to_dict()
        effective = cal.effective_bandwidth_by_link_bytes_per_s
        body["effective_bandwidth_by_link_bytes_per_s"] = effective
        body["band_log_halfwidth"] = cal.band_log_halfwidth
        body["output"] = output
        emit_result("calibrate", None, body)
        return
    g = cal.graph
    heading(f"# {g['topology']} {_params(g['params'])}: {cal.num_points} points, "
            f"{len(cal.fitted_sizes_bytes)} sizes fitted, {len(cal.held_out_sizes_bytes)} "
            f"held out, loss {cal.loss}")
    rows = [["alpha (us per step)", f"{cal.params.alpha_s * 1e6:.3f}",
             f"{cal.alpha_s_stderr * 1e6:.3f}", ""]] if cal.flavor != "nccl" else []
    for name, value in sorted(cal.nccl.items()):
        err = cal.nccl_stderr.get(name, math.nan)
        scale, unit = (1e6, " us") if name.endswith("_s") else (1.0, "")
        rows.append([f"nccl {name}", f"{value * scale:.4g}{unit}", f"{err * scale:.3g}",
                     f"NCCL {cal.nccl_version} tuner"])
    effective = cal.effective_bandwidth_by_link_bytes_per_s
    for link, eff in sorted(cal.params.efficiency_by_link.items()):
        rows.append([f"efficiency {link}", f"{eff:.4f}",
                     f"{cal.efficiency_stderr_by_link.get(link, math.nan):.4f}",
                     f"{units.format_rate(effective[link])} of "
                     f"{units.format_rate(cal.bandwidth_by_link_bytes_per_s[link])}"])
    click.echo(format_table(["parameter", "value", "stderr", "effective bandwidth"], rows,
                            align="lrrl"))
    h = cal.band_log_halfwidth
    heading(f"\nfit error: median {_pct(cal.median_relative_error)}, worst "
            f"{_pct(cal.worst_relative_error)} over {cal.num_points} points; band: "
            f"x{math.exp(-h):.3f} .. x{math.exp(h):.3f} of a predicted time")
    _echo_fit_choice(cal)
    for note in cal.notes:
        LOG.warning(note, extra={"prefix": "note"})


def _echo_fit_choice(cal: Any) -> None:
    """The regimes, and which fit predicts with both leave-one-out errors (issue 10)."""
    if cal.regimes:
        rows = [[r.operation, units.format_size(r.low_size_bytes) if r.low_size_bytes else "0",
                 "-" if r.high_size_bytes is None else units.format_size(r.high_size_bytes),
                 f"{r.latency_scale:.3g} +- {r.latency_scale_stderr:.2g}",
                 f"{r.bandwidth_factor:.3g} +- {r.bandwidth_factor_stderr:.2g}", str(r.num_points)]
                for r in cal.regimes]
        click.echo("\n" + format_table(["regime", "from", "to", "latency x", "transfer x",
                                        "points"], rows, align="lrrrrr"))
    used = "the model with its regimes" if cal.chosen_fit == "model" else "plain alpha-beta"
    heading(f"fit used: {used}; leave-one-out error on the fit points (median): model "
            f"{_pct(cal.model_cv_error)}, plain alpha-beta {_pct(cal.naive_cv_error)}")


def _params(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if not k.endswith("bytes_per_s")}
    return "(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")" if shown else ""


@click.command("validate")
@click.argument("records", metavar="RECORDS", type=click.Path(dir_okay=False))
@click.option("--calibration", "calibration_path", required=True, metavar="FILE",
              help="Calibration file from `fabric calibrate`.")
@click.option("--topology", metavar="FILE|FAMILY",
              help="The fabric (default: the generic fabric the calibration was fitted on; the "
                   "cluster flags describe other servers).")
@fabric_options()
@cluster_options()
@click.option("--holdout", default=None, metavar="SPEC",
              help="Compare only the sizes this spec holds out (the spec given to calibrate). "
                   + _HOLDOUT_HELP)
@click.option("--in-place", is_flag=True, help="Use the in-place points (default: out-of-place).")
@click.option("--both-buffers", is_flag=True, help="Use in-place and out-of-place points.")
@json_option
def validate_command(records: str, calibration_path: str, topology: str | None,
                     holdout: str | None, in_place: bool, both_buffers: bool, as_json: bool,
                     **options: Any) -> None:
    """Predict each point of RECORDS with a calibration: predicted vs measured, median and worst
    error, and which points the calibration was fitted on."""
    from measure.calibration import load_calibration
    from measure.fit_data import load_measurements
    from measure.generic_fabric import (
        device_note,
        generic_fabric_for_records,
        generic_fabric_from_records,
        undescribed_network_note,
    )
    from measure.validate import validate

    buffers = _buffers(in_place, both_buffers)
    cal = load_calibration(calibration_path)
    G, cluster = _fabric(topology, options)
    measurements = load_measurements(records)
    generic = cal.graph.get("topology") in (None, GENERIC_TOPOLOGY)
    if G is None and cluster is not None and generic:  # flags over the calibration's servers
        cluster = cluster_from_options(
            options, base=cluster_of_params(cal.graph.get("params", {})))
    if G is None and cluster is not None:
        G = generic_fabric_from_records(measurements, cluster=cluster)
    elif G is None and generic and "gpu" in cal.graph.get("params", {}):
        G = generic_fabric_for_records(measurements, cal.graph["params"])
    elif G is None and not generic:
        G = _rebuild(cal.graph)
    if (topology is None or topology in _GENERIC_NAMES) and generic:
        mismatch = device_note(measurements, cluster if cluster is not None
                               else cluster_of_params(cal.graph.get("params", {})))
        if mismatch:
            LOG.warning(mismatch)
    if G is None and any(r.num_hosts > 1 for r in measurements):
        unmeasured = undescribed_network_note(cal.graph)
        if unmeasured:
            LOG.warning(f"the calibration: {unmeasured}")
    with progress(1, "fabric validate") as advance:
        report = validate(measurements, cal, G, holdout=holdout, in_place=buffers)
        advance(1)
    if as_json:
        emit_result("validate", None, report.to_dict())
        return
    rows = []
    for q in report.points:
        rows.append([q.operation, units.format_size(q.size_bytes), str(q.num_ranks),
                     str(q.num_hosts), f"{q.measured_time_s * 1e6:.2f}",
                     f"{q.predicted_time_s * 1e6:.2f}", f"{q.time_low_s * 1e6:.2f}",
                     f"{q.time_high_s * 1e6:.2f}", f"{q.relative_error * 100:+.1f}%",
                     q.algorithm, "fitted" if q.fitted else "held out"])
    click.echo(format_table(["operation", "size", "ranks", "hosts", "measured(us)",
                             "predicted(us)", "low(us)", "high(us)", "error", "algorithm",
                             "point"], rows, align="lrrrrrrrrll"))
    heading(f"\nall {len(report.points)} points: median {_pct(report.median_relative_error)}, "
            f"worst {_pct(report.worst_relative_error)}; held out {report.num_held_out}: "
            f"median {_pct(report.held_out_median_relative_error)}, worst "
            f"{_pct(report.held_out_worst_relative_error)}; within band "
            f"{report.fraction_within_band * 100:.0f}%")
    for note in report.notes:
        LOG.warning(note, extra={"prefix": "note"})


def _rebuild(graph: dict[str, Any]) -> Any:
    """The builder fabric a calibration names, rebuilt from its recorded parameters."""
    import topologies

    family = graph.get("topology")
    if family not in topologies.FAMILIES:
        raise ValueError(f"the calibration was fitted on a {family!r} fabric; pass it with "
                         f"--topology FILE")
    return topologies.build(str(family), **graph.get("params", {}))
