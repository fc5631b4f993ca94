"""``fabric topology build|show|export``: build, inspect and export fabrics."""

from __future__ import annotations

import math
from typing import Any

import click

from fabric import units
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.cli.common import FabricGroup, FlagError, emit_json, format_table, json_option
from fabric.cli.options import design_from_options, fabric_options
from fabric.fileio import check_output_path
from fabric.graph import TopologySummary, summarize
from studies.design import build_fabric

__all__ = ["topology"]


# ------------------------------------------------------------------------------------ output


def _tbps(bandwidth_bytes_per_s: float) -> str:
    if not math.isfinite(bandwidth_bytes_per_s):
        return "n/a"
    return f"{units.bytes_per_s_to_gbps(bandwidth_bytes_per_s) / 1000:,.2f} Tb/s"


def _gbs(bandwidth_bytes_per_s: float) -> str:
    return f"{units.bytes_per_s_to_gb_per_s(bandwidth_bytes_per_s):,.1f} GB/s"


def _summary_text(summary: TopologySummary, catalog: Catalog) -> str:
    params = ", ".join(f"{k}={v}" for k, v in summary.params.items() if k != "catalog")
    scaleup = summary.scaleup_bandwidth_bytes_per_s
    overview = [
        ["Topology", summary.topology],
        ["Parameters", params or "-"],
        ["Catalog", summary.catalog],
        ["GPUs", f"{summary.num_gpus:,}"],
        ["Nodes (servers)", f"{summary.num_nodes:,}"],
        ["Switches", f"{summary.num_switches:,}"],
        ["Injection per GPU (scale-out)", _gbs(summary.injection_bandwidth_bytes_per_s)],
        ["Scale-up per GPU (NVLink)", _gbs(scaleup) if scaleup > 0 else "none"],
        ["Bisection bandwidth (one direction)", _tbps(summary.bisection_bandwidth_bytes_per_s)],
        ["Hop diameter (switches on a GPU-GPU path)", str(summary.hop_diameter)],
    ]
    tiers = []
    for tier, count in summary.switches_by_tier.items():
        used = summary.ports_used_by_tier.get(tier, 0)
        available = summary.ports_available_by_tier.get(tier, 0)
        share = f"{100 * used / available:.0f}%" if available else "-"
        tiers.append([tier, f"{count:,}", f"{used:,}", f"{available:,}", share])
    models = [
        [
            key,
            catalog.switches[key].name if key in catalog.switches else "(not in catalog)",
            f"{count:,}",
        ]
        for key, count in summary.switches_by_model.items()
    ]
    cable_tiers = [[name, f"{count:,}"] for name, count in summary.cables_by_tier.items()]
    cable_links = [
        [key, catalog.links[key].name if key in catalog.links else "custom link", f"{count:,}"]
        for key, count in summary.cables_by_link.items()
    ]
    parts = [
        format_table(["Fabric", "Value"], overview, align="ll"),
        format_table(
            ["Switch tier", "Switches", "Ports used", "Ports available", "Used"],
            tiers,
            align="lrrrr",
        ),
        format_table(["Switch model", "Name", "Switches"], models, align="llr"),
        format_table(["Cables between", "Cables"], cable_tiers, align="lr"),
        format_table(["Link type", "Name", "Cables"], cable_links, align="llr"),
    ]
    return "\n\n".join(parts)


def _catalog_for_display(catalog: str | None) -> Catalog:
    return load_catalog(catalog) if catalog else default_catalog()


def _output_format(output: str, fmt: str | None) -> str:
    """The format to write ``output`` in; ``--format`` must agree with a spec suffix.

    fabric reads a spec file by its suffix, so GraphML written into ``ft.yaml`` could not be
    read back: a suffix naming another format is refused (exit 2). A suffix that names no
    format (``ft.txt``) takes ``--format`` as given.
    """
    from pathlib import Path

    from topologies.spec import spec_format
    from topologies.spec_common import SPEC_SUFFIXES

    if fmt is None:
        return spec_format(output)
    suffix = Path(output).suffix.lower()
    if suffix in SPEC_SUFFIXES and SPEC_SUFFIXES[suffix] != fmt:
        wanted = " or ".join(k for k, v in SPEC_SUFFIXES.items() if v == fmt)
        raise FlagError(f"--format {fmt} does not match the suffix of {output!r} "
                        f"({suffix}): name the file {wanted}, as fabric reads a spec "
                        f"by its suffix")
    return fmt


# ----------------------------------------------------------------------------------- commands


@click.group(cls=FabricGroup, context_settings={"help_option_names": ["-h", "--help"]})
def topology() -> None:
    """Build, inspect and export fabrics (families or spec files)."""


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "graphml"]),
    help="Output format (default: from the output file's suffix).",
)


@topology.command("build")
@click.argument("family")
@fabric_options()
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="Spec file to write (.yaml, .yml, .json, .graphml).",
)
@_FORMAT
def build_command(family: str, output: str, fmt: str | None, **options: Any) -> None:
    """Build FAMILY with the given flags and write it as a spec file.

    \b
    Examples:
      fabric topology build fat-tree --k 8 -o ft8.yaml
      fabric topology build rail-optimized --gpus 512 -o rail.json
      fabric topology build clos --gpus 4096 --oversubscription 3:1 -o clos.graphml
    """
    import topologies
    from topologies.spec import save_spec

    if family not in topologies.FAMILIES:
        raise click.ClickException(
            f"unknown family {family!r}; known: "
            f"{', '.join(topologies.FAMILIES)} (to convert a spec file use "
            "'fabric topology export')"
        )
    fmt = _output_format(output, fmt)
    check_output_path(output)
    G = build_fabric(design_from_options(family, options))
    save_spec(G, output, format=fmt)
    click.echo(
        f"wrote {output}: {G.graph.get('topology')}, {G.number_of_nodes():,} nodes, "
        f"{G.number_of_edges() // 2:,} cable bundles",
        err=True,
    )


@topology.command("show")
@click.argument("target", metavar="FILE|FAMILY")
@fabric_options()
@json_option
def show_command(target: str, as_json: bool, **options: Any) -> None:
    """Counts, ports and bandwidths of a fabric (a spec file or a family with flags).

    \b
    GPUs, nodes, switches per tier and model, cables per tier and link type, ports used vs
    available, per-GPU injection and scale-up bandwidth, bisection bandwidth, hop diameter.
    Examples:
      fabric topology show fat-tree --k 48 --json
      fabric topology show examples/small_cluster.yaml
    """
    G = build_fabric(design_from_options(target, options))
    summary = summarize(G)
    if as_json:
        emit_json(summary)
    else:
        click.echo(_summary_text(summary, _catalog_for_display(options.get("catalog"))))


@topology.command("export")
@click.argument("target", metavar="FILE|FAMILY")
@fabric_options()
@_FORMAT
@click.option("-o", "--output", metavar="FILE", help="File to write (default: stdout).")
def export_command(target: str, fmt: str | None, output: str | None, **options: Any) -> None:
    """Write a fabric (a spec file or a family with flags) as GraphML, JSON or YAML.

    \b
    Examples:
      fabric topology export examples/small_cluster.yaml --format graphml -o small.graphml
      fabric topology export rail-only --nodes 4 --format json
    """
    from topologies.spec import dump_spec, save_spec, spec_format

    if output is None and fmt is None:
        raise FlagError("give --format yaml|json|graphml when writing to stdout")
    if output is None:
        fmt = spec_format("", fmt)
    else:
        fmt = _output_format(output, fmt)
        check_output_path(output)
    G = build_fabric(design_from_options(target, options))
    if output is None:
        click.echo(dump_spec(G, fmt), nl=False)
    else:
        save_spec(G, output, format=fmt)
        click.echo(f"wrote {output}", err=True)
