"""``fabric report``: the HTML capex planning report over families and scales.

.. code-block:: console

    fabric report --gpus 1024,4096,16384 --families rail-optimized,rail-only,clos -o plan.html
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

import topologies
from collectives.names import canonical
from collectives.workload import load_workload
from fabric import units
from fabric.cli.common import (
    FlagError,
    SizeListType,
    command_inputs,
    emit_result,
    format_table,
    hidden_alias,
    json_option,
    progress,
    status,
)
from fabric.cli.options import (
    check_routing_flags,
    design_from_options,
    fabric_options,
    load_catalog_option,
    routing_options,
)
from fabric.fileio import atomic_write_text, check_output_path
from measure.calibration import load_calibration
from reports.html import render_report, report_data
from studies.capex import (
    DEFAULT_FAMILIES,
    CapexPlan,
    default_report_workloads,
    plan_capex,
    recommendations,
)
from studies.design import check_options_used, is_spec_path

__all__ = ["report", "parse_gpu_counts"]


def parse_gpu_counts(text: str) -> list[int]:
    """``"1024,4096,16k"`` -> ``[1024, 4096, 16384]`` (``k`` = 1024, as for every count).

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
    """Family names (canonical) and spec files, in order, once each."""
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise ValueError("--families needs at least one family")
    return [name if is_spec_path(name) else topologies.family(name).name
            for name in dict.fromkeys(names)]


def _table(plan: CapexPlan) -> str:
    best = {(r.requested_gpus, r.label) for r in recommendations(plan)}
    runs = plan.all_runs
    rows = []
    for i, f in enumerate(plan.fabrics):
        if f.bom is None:
            rows.append([f.label, f.requested_gpus, "-", "-"] + ["-"] * len(runs)
                        + ["-", f"n/a: {f.error}"])
            continue
        results = [run.results[i] for run in runs]
        costs = [r.cost.cost_per_useful_gpu_hour_usd for r in results if r is not None]
        rows.append(
            [f.label, f.requested_gpus, f.num_gpus, f"{f.bom.network_cost_per_gpu_usd:,.0f}"]
            + [f"{100 * r.step.gpu_utilization:.1f}" if r else "-" for r in results]
            + [f"{sum(costs) / len(costs):.3f}" if costs else "-",
               "recommended" if (f.requested_gpus, f.label) in best else ""]
        )
    names = [f"util % {run.workload.name.split(' (')[0][:24]}" for run in runs]
    return format_table(
        ["fabric", "GPUs asked", "GPUs", "network USD/GPU", *names,
         "USD/useful GPU-h" if len(runs) == 1 else "mean USD/useful GPU-h", ""],
        rows,
        align="lrrr" + "r" * len(runs) + "rl",
    )


def _refuse_options_besides_sweep() -> None:
    """With --sweep the page draws the results file as stored: every option but -o (and the
    hidden aliases' own checks) does nothing there, so one given is refused (exit 2)."""
    ctx = click.get_current_context()
    for param in ctx.command.params:
        if param.name in ("sweep_db", "output") or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) in (ParameterSource.COMMANDLINE,
                                                     ParameterSource.ENVIRONMENT):
            flag = max(param.opts, key=len)
            raise FlagError(f"{flag} does not apply to --sweep (the sweep's results are drawn "
                            f"as stored; give --sweep DB -o FILE)")


@click.command("report")
@click.option(
    "--gpus",
    "gpus_text",
    default=None,
    metavar="N[,N...]",
    help="GPU counts to plan for, e.g. 1024,4096,16k (k = 1024).",
)
@click.option(
    "--families",
    "families_text",
    default=",".join(DEFAULT_FAMILIES),
    show_default=True,
    help="Comma-separated topology families, and spec files (.yaml/.json/.graphml, e.g. from "
         "`fabric topology import`) planned as they are, at their own GPU count (which joins "
         "--gpus, so every family is built at that size too).",
)
@click.option(
    "--workload",
    "workload_paths",
    metavar="FILE",
    multiple=True,
    help="Workload YAML/JSON; repeat for several (default: a dense 70B step and a "
    "DeepSeek-V3-like MoE step with a 256-GPU expert all-to-all).",
)
@click.option("--calibration", metavar="FILE", help="Calibration file from `fabric calibrate`.")
@click.option(
    "--sizes",
    type=SizeListType(),
    default=None,
    help="Collective sizes, e.g. 1KiB:4GiB:4 (default 1KiB..4GiB, x4).",
)
@click.option(
    "--collectives",
    default="all-reduce",
    show_default=True,
    help="Comma-separated collective curves to draw.",
)
@hidden_alias("collectives", "--collective", multiple=True)
@click.option(
    "--flavor",
    type=click.Choice(["ideal", "nccl"]),
    default="ideal",
    show_default=True,
    help="Collective model flavor.",
)
@routing_options()
@fabric_options(sizes=False)
@click.option("--title", default="Fabric capex planning report", show_default=True)
@click.option(
    "--generated-at",
    default=None,
    metavar="TEXT",
    help="Timestamp to print in the report (none by default: same input, same bytes).",
)
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report here (atomically).")
@click.option("--sweep", "sweep_db", metavar="DB",
              help="Draw the Pareto front of a `fabric sweep` results file instead of a plan.")
@json_option
def report(
    gpus_text: str | None,
    families_text: str,
    workload_paths: tuple[str, ...],
    calibration: str | None,
    sizes: list[int] | None,
    collectives: str | tuple[str, ...],
    flavor: str,
    title: str,
    generated_at: str | None,
    output: str | None,
    as_json: bool,
    sweep_db: str | None = None,
    routing: str = "ecmp-ideal",
    routing_seed: int = 0,
    **options: Any,
) -> None:
    """Plan capex: cost, power, collective times and utilization per dollar, as HTML.

    Builds every family at every GPU count, prices it (fabric/cost.py), predicts its collective
    curves and the workload's step time, and writes one self-contained HTML file (plotly
    inline, works offline). Progress goes to stderr; --json prints the numbers on stdout.
    """
    check_routing_flags(flavor, routing)
    if sweep_db is not None:  # the sweep page (reports/sweep.py), not a plan
        from reports.sweep import sweep_report_html
        _refuse_options_besides_sweep()
        if output is None:
            raise click.UsageError("--sweep needs -o FILE")
        check_output_path(output, inputs=[sweep_db])
        atomic_write_text(output, sweep_report_html(sweep_db))
        status(f"wrote {output}")
        return
    if gpus_text is None:
        raise click.UsageError("give --gpus N[,N...] (or --sweep DB)")
    if output is None and not as_json:
        raise click.UsageError("give -o FILE for the HTML report, --json, or both")
    try:
        counts = parse_gpu_counts(gpus_text)
    except ValueError as err:  # a bad option value: a usage error (exit 2), as compare's
        raise click.BadParameter(str(err).removeprefix("--gpus: "),
                                 param_hint="--gpus") from None
    families = _families(families_text)
    if output is not None:
        check_output_path(output, inputs=[*(f for f in families if is_spec_path(f)),
                                          *workload_paths, calibration,
                                          options.get("catalog")])
    given = [collectives] if isinstance(collectives, str) else list(collectives)
    names = [canonical(c.strip()) for item in given for c in item.split(",") if c.strip()]
    cat = load_catalog_option(options.get("catalog"))
    base = design_from_options(None, options, catalog=cat)
    check_options_used(base, [f for f in families if not is_spec_path(f)],
                       also=[Path(f).name for f in families if is_spec_path(f)])
    ws = (tuple(load_workload(p) for p in workload_paths) if workload_paths
          else default_report_workloads())

    cal = None if calibration is None else load_calibration(calibration)
    command = " ".join(
        ["fabric report", "--gpus", ",".join(map(str, counts)), "--families", ",".join(families),
         "--flavor", flavor]
        + (["--routing", routing] if routing != "ecmp-ideal" else [])
        + (["--routing-seed", str(routing_seed)] if routing == "ecmp-hash" else [])
        + [f"{flag} {shlex.quote(value)}" for flag, value in (
            *(("--workload", p) for p in workload_paths),
            ("--catalog", options.get("catalog")), ("--calibration", calibration)) if value]
    )
    with progress(len(counts) * len(families), "fabric report") as advance:
        plan = plan_capex(counts, families, base=base, catalog=cat, workloads=ws, calibration=cal,
                          calibration_label=calibration or "", sizes_bytes=sizes,
                          collectives=names, flavor=flavor, title=title,
                          generated_at=generated_at, command=command,
                          progress=lambda _: advance(1),
                          planned=advance.total,  # type: ignore[attr-defined]
                          routing=routing, routing_seed=routing_seed)
    if not any(f.bom is not None for f in plan.fabrics):
        first = plan.fabrics[0]
        raise click.ClickException(
            f"no fabric could be built and priced, nothing written ({first.label} at "
            f"{first.requested_gpus:,} GPUs: {first.error or first.cost_error or 'not priced'})")
    for path, run in zip(workload_paths, plan.all_runs, strict=False):
        if not any(r is not None for r in run.results):
            # a user's workload that ran on no fabric at any scale: nothing to plan with it
            reason = next((e for e in run.errors if e), "").removeprefix(
                "workload not evaluated: ")
            raise click.ClickException(f"the workload of {path} ran on none of the fabrics at "
                                       f"any scale, nothing written: {reason}")
    if output is not None:
        atomic_write_text(output, render_report(plan))
        status(f"wrote {output}")
    if as_json:
        inputs = command_inputs()
        inputs.update(gpus=counts, families=families)  # as parsed: 16k -> 16384
        emit_result("report", inputs, report_data(plan))
    else:
        click.echo(_table(plan))
