"""``fabric report``: the HTML capex planning report over families and scales.

.. code-block:: console

    fabric report --gpus 1024,4096,16384 --families rail-optimized,rail-only,clos -o plan.html
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from fabric import units
from fabric.catalog import Catalog, load_catalog
from fabric.cliutil import SizeListType, emit_json, format_table, json_option
from fabric.errors import InfeasibleError
from fabric.fileio import atomic_write_text, check_output_path

__all__ = [
    "COMMANDS",
    "DEFAULT_FAMILIES",
    "parse_gpu_counts",
    "build_plan",
    "measured_points",
    "report",
]

DEFAULT_FAMILIES = ("rail-optimized", "rail-only", "clos")


def parse_gpu_counts(text: str) -> list[int]:
    """``"1024,4096,16k"`` -> ``[1024, 4096, 16384]`` (``k`` = 1024, as token counts).

    >>> parse_gpu_counts("1024, 4k")
    [1024, 4096]
    """
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"--gpus needs at least one GPU count, got {text!r}")
    counts = []
    for item in items:
        try:
            counts.append(units.parse_count(item))
        except ValueError as err:
            raise ValueError(f"--gpus: {err}") from err
    return sorted(set(counts))


def _families(text: str) -> list[str]:
    import topologies

    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise ValueError("--families needs at least one family")
    for name in names:
        if name not in topologies.FAMILIES:
            raise ValueError(
                f"unknown topology family {name!r}; known: {', '.join(sorted(topologies.FAMILIES))}"
            )
    return list(dict.fromkeys(names))


def _builder_params(
    family: str,
    *,
    gpus_per_node: int,
    scaleup: str | None,
    gpu: str | None,
    switch: str | None,
    catalog: Catalog,
) -> dict[str, Any]:
    """Servers alike in every family: ``gpus_per_node`` GPUs behind one scale-up switch."""
    import inspect

    import topologies

    accepted = inspect.signature(topologies.FAMILIES[family]).parameters
    params: dict[str, Any] = {"gpus_per_node": gpus_per_node, "catalog": catalog}
    if "scaleup" in accepted:
        params["scaleup"] = scaleup
    if gpu is not None:
        params["gpu"] = gpu
    if switch is not None:
        params["switch"] = switch
    return {k: v for k, v in params.items() if k in accepted}


def _load_calibration(path: str | None) -> Any:
    if path is None:
        return None
    try:
        from measure.calibrate import load_calibration
    except ImportError as err:
        raise ValueError(
            f"--calibration needs measure.calibrate, which is not available: {err}"
        ) from err
    return load_calibration(path)


def measured_points(calibration: Any, label: str) -> tuple[Any, ...]:
    """Measured-vs-predicted points of a calibration, if it carries them.

    Reads ``calibration.points`` (or ``.fit_points``, ``.held_out``): items with ``size_bytes``,
    a collective
    (``collective`` or ``operation``), a measured time (``measured_time_s`` or ``time_s``) and
    ``predicted_time_s`` (optionally ``predicted_low_s`` / ``predicted_high_s``). Items missing
    any of these are skipped.
    """
    from reports.html import MeasuredPoint

    items = (
        getattr(calibration, "points", None)
        or getattr(calibration, "fit_points", None)
        or getattr(calibration, "held_out", None)
        or ()
    )
    band = getattr(calibration, "band", None)
    out = []

    def get(item: Any, *names: str) -> Any:
        for name in names:
            value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
            if value is not None:
                return value
        return None

    for item in items:
        size, coll = get(item, "size_bytes"), get(item, "collective", "operation")
        measured = get(item, "measured_time_s", "time_s")
        predicted = get(item, "predicted_time_s")
        if None in (size, coll, measured, predicted):
            continue
        low = get(item, "predicted_low_s", "time_low_s")
        high = get(item, "predicted_high_s", "time_high_s")
        if (low is None or high is None) and callable(band):
            low, high = band(float(predicted))
        low = predicted if low is None else low
        high = predicted if high is None else high
        out.append(
            MeasuredPoint(
                label=label,
                collective=str(coll),
                size_bytes=int(size),
                measured_time_s=float(measured),
                predicted_time_s=float(predicted),
                predicted_low_s=float(low),
                predicted_high_s=float(high),
            )
        )
    return tuple(sorted(out, key=lambda p: (p.collective, p.size_bytes)))


def build_plan(
    gpu_counts: Sequence[int],
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    catalog: Catalog | None = None,
    workload: Any = None,
    calibration: Any = None,
    calibration_label: str = "",
    sizes_bytes: Sequence[int] | None = None,
    collectives: Sequence[str] = ("all-reduce",),
    flavor: str = "ideal",
    gpus_per_node: int = 8,
    scaleup: str | None = "auto",
    gpu: str | None = None,
    switch: str | None = None,
    title: str = "Fabric capex planning report",
    generated_at: str | None = None,
    command: str = "",
    progress: Any = None,
) -> Any:
    """Build every family at every scale, evaluate it, and return a ``ReportInput``.

    A family that cannot be built at a scale (:class:`fabric.errors.InfeasibleError`) becomes a
    row that says why; any other error propagates. ``progress`` (a callable taking one step) is
    called after each (family, scale).
    """
    import topologies
    from collectives.workload import default_workload
    from reports.html import DEFAULT_SIZES, ReportInput, evaluate_fabric, failed_fabric

    cat = load_catalog(None) if catalog is None else catalog
    w = default_workload() if workload is None else workload
    sizes = DEFAULT_SIZES if sizes_bytes is None else tuple(sizes_bytes)
    results = []
    for family in families:
        params = _builder_params(
            family,
            gpus_per_node=gpus_per_node,
            scaleup=scaleup,
            gpu=gpu,
            switch=switch,
            catalog=cat,
        )
        for n in gpu_counts:
            try:
                G = topologies.for_gpus(family, n, **params)
            except InfeasibleError as err:
                results.append(failed_fabric(family, n, str(err)))
            else:
                results.append(
                    evaluate_fabric(
                        G,
                        family=family,
                        requested_gpus=n,
                        catalog=cat,
                        workload=w,
                        collectives=collectives,
                        sizes_bytes=sizes,
                        calibration=calibration,
                        flavor=flavor,
                    )
                )
            if progress is not None:
                progress(1)
    measured = (
        measured_points(calibration, calibration_label or "calibration")
        if calibration is not None
        else ()
    )
    return ReportInput(
        fabrics=tuple(results),
        workload=w,
        catalog=cat,
        title=title,
        measured=measured,
        calibration_label=calibration_label,
        flavor=flavor,
        generated_at=generated_at,
        command=command,
    )


def _table(plan: Any) -> str:
    from reports.html import recommendations

    best = {(r.requested_gpus, r.label) for r in recommendations(plan)}
    rows = []
    for f in plan.fabrics:
        if f.bom is None:
            rows.append([f.label, f.requested_gpus, "-", "-", "-", "-", f"n/a: {f.error}"])
            continue
        w = f.workload
        rows.append(
            [
                f.label,
                f.requested_gpus,
                f.num_gpus,
                f"{f.bom.network_cost_per_gpu_usd:,.0f}",
                f"{100 * w.step.gpu_utilization:.1f}" if w else "-",
                f"{w.cost.cost_per_useful_gpu_hour_usd:.3f}" if w else "-",
                "recommended" if (f.requested_gpus, f.label) in best else "",
            ]
        )
    return format_table(
        ["fabric", "GPUs asked", "GPUs", "network USD/GPU", "util %", "USD/useful GPU-h", ""],
        rows,
        align="lrrrrrl",
    )


@click.command("report")
@click.option(
    "--gpus",
    "gpus_text",
    required=True,
    metavar="N[,N...]",
    help="GPU counts to plan for, e.g. 1024,4096,16k (k = 1024).",
)
@click.option(
    "--families",
    "families_text",
    default=",".join(DEFAULT_FAMILIES),
    show_default=True,
    help="Comma-separated topology families.",
)
@click.option(
    "--workload",
    "workload_path",
    metavar="FILE",
    help="Workload YAML/JSON (default: built-in 70B dense training step).",
)
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@click.option(
    "--catalog",
    "catalog_path",
    metavar="FILE",
    help="Catalog TOML laid over the built-in one (your prices).",
)
@click.option(
    "--sizes",
    type=SizeListType(),
    default=None,
    help="Collective sizes, e.g. 1KiB:4GiB:4 (default 1KiB..4GiB, x4).",
)
@click.option(
    "--collective",
    "collectives",
    multiple=True,
    default=("all-reduce",),
    show_default=True,
    help="Collective curve(s) to draw; repeatable.",
)
@click.option(
    "--flavor",
    type=click.Choice(["ideal", "nccl"]),
    default="ideal",
    show_default=True,
    help="Collective model flavor.",
)
@click.option(
    "--gpus-per-node",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="GPUs per server (every family).",
)
@click.option(
    "--scaleup",
    default="auto",
    show_default=True,
    metavar="KEY|none",
    help="Scale-up switch per server, or 'none'.",
)
@click.option("--gpu", default=None, help="GPU model (catalog key; default the builders').")
@click.option("--switch", default=None, help="Scale-out switch model for every family.")
@click.option("--title", default="Fabric capex planning report", show_default=True)
@click.option(
    "--generated-at",
    default=None,
    metavar="TEXT",
    help="Timestamp to print in the report (none by default: same input, same bytes).",
)
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report here (atomically).")
@json_option
def report(
    gpus_text: str,
    families_text: str,
    workload_path: str | None,
    calibration: str | None,
    catalog_path: str | None,
    sizes: list[int] | None,
    collectives: tuple[str, ...],
    flavor: str,
    gpus_per_node: int,
    scaleup: str,
    gpu: str | None,
    switch: str | None,
    title: str,
    generated_at: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Plan capex: cost, power, collective times and utilization per dollar, as HTML.

    Builds every family at every GPU count, prices it (fabric/cost.py), predicts its collective
    curves and the workload's step time, and writes one self-contained HTML file (plotly
    inline, works offline). Progress goes to stderr; --json prints the numbers on stdout.
    """
    if output is None and not as_json:
        raise click.UsageError("give -o FILE for the HTML report, --json, or both")
    counts = parse_gpu_counts(gpus_text)
    families = _families(families_text)
    if output is not None:
        check_output_path(output)
    from collectives.names import canonical
    from collectives.workload import default_workload, load_workload
    from reports.html import render_report, report_data

    names = [canonical(c) for c in collectives]
    cat = load_catalog(catalog_path)
    w = load_workload(workload_path) if workload_path else default_workload()
    cal = _load_calibration(calibration)
    command = " ".join(
        [
            "fabric report",
            "--gpus",
            ",".join(map(str, counts)),
            "--families",
            ",".join(families),
            "--flavor",
            flavor,
        ]
        + [
            f"{flag} {shlex.quote(value)}"
            for flag, value in (
                ("--workload", workload_path),
                ("--catalog", catalog_path),
                ("--calibration", calibration),
            )
            if value
        ]
    )
    with click.progressbar(
        length=len(counts) * len(families), label="fabric report", file=sys.stderr, show_pos=True
    ) as bar:
        plan = build_plan(
            counts,
            families,
            catalog=cat,
            workload=w,
            calibration=cal,
            calibration_label=calibration or "",
            sizes_bytes=sizes,
            collectives=names,
            flavor=flavor,
            gpus_per_node=gpus_per_node,
            scaleup=None if scaleup.lower() == "none" else scaleup,
            gpu=gpu,
            switch=switch,
            title=title,
            generated_at=generated_at,
            command=command,
            progress=bar.update,
        )
    if output is not None:
        atomic_write_text(output, render_report(plan))
        click.echo(f"wrote {output}", err=True)
    if as_json:
        emit_json(report_data(plan))
    else:
        click.echo(_table(plan))


COMMANDS = [report]
