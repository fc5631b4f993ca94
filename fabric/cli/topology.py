"""``fabric topology build|show|export``: build, inspect and export fabrics."""

from __future__ import annotations

import math
from typing import Any

import click

from fabric import units
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.cli.common import (
    CountType,
    FabricGroup,
    FlagError,
    emit_result,
    format_table,
    heading,
    json_option,
    refuse_unless,
    status,
)
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


def _print_health(report: Any) -> None:
    """Print the health view of :func:`topologies.health.check_fabric`'s report: its tables
    on stdout, the lines around them through :func:`fabric.cli.common.heading` (on stderr
    under ``--format csv``, so that stdout holds only CSV)."""
    heading(f"Compared with: {report.resembles}")
    tables: list[tuple[list[str], list[list[str]], str, str]] = []
    if report.oversubscription:
        rows = [[o.tier, f"{o.ratio:.2f}:1" if math.isfinite(o.ratio) else "no uplinks",
                 f"{o.worst_ratio:.2f}:1" if math.isfinite(o.worst_ratio) else "no uplinks",
                 o.worst_switch] for o in report.oversubscription]
        tables.append((["Tier", "Oversubscription", "Worst switch", "Switch"], rows, "lrrl", ""))
    tables.append((["Switch", "Peer", "Cables", "Trained", "Expected", "Below in"],
                   [[x.a, x.b, f"{x.num_slow} of {x.num_links}", x.trained, x.expected,
                     x.reason] for x in report.slow_links], "llrlll",
                   "Links below rate: none"))
    tables.append((["Asymmetric leaf", "Uplinks", "Most leaves"],
                   [[a.leaf, str(a.num_uplinks), str(a.expected_uplinks)]
                    for a in report.asymmetric_leaves], "lrr", "Asymmetric leaves: none"))
    tables.append((["Lower switch", "Upper switch", "Missing", "Expected"],
                   [[m.lower, m.upper, str(m.count), str(m.expected)]
                    for m in report.missing_cables], "llrr", "Missing cables: none"))
    tables.append((["GPU", "Network links", "Most GPUs"],
                   [[g.gpu, str(g.num_links), str(g.expected_links)] for g in report.short_gpus],
                   "lrr", "GPUs short of network links: none"))
    for headers, rows, align, when_empty in tables:
        heading("")
        if rows:
            click.echo(format_table(headers, rows, align=align))
        else:
            heading(when_empty)
    heading("")
    heading(f"Problems found: {report.num_problems}")


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
    check_output_path(output, inputs=[options.get("catalog")])
    G = build_fabric(design_from_options(family, options))
    save_spec(G, output, format=fmt)
    status(f"wrote {output}: {G.graph.get('topology')}, {G.number_of_nodes():,} nodes, "
           f"{G.number_of_edges() // 2:,} cable bundles")


@topology.command("show")
@click.argument("target", metavar="FILE|FAMILY")
@fabric_options()
@click.option("--check", is_flag=True,
              help="Health view instead: links trained below rate, oversubscription per tier, "
                   "asymmetric leaves, missing cables against the regular layout.")
@json_option
def show_command(target: str, as_json: bool, check: bool, **options: Any) -> None:
    """Counts, ports and bandwidths of a fabric (a spec file or a family with flags).

    \b
    GPUs, nodes, switches per tier and model, cables per tier and link type, ports used vs
    available, per-GPU injection and scale-up bandwidth, bisection bandwidth, hop diameter.
    With --check: the fabric's health (see docs/discovery.md); exit 0 either way.
    Examples:
      fabric topology show fat-tree --k 48 --json
      fabric topology show examples/small_cluster.yaml
      fabric topology show cluster.yaml --check
    """
    G = build_fabric(design_from_options(target, options))
    catalog = _catalog_for_display(options.get("catalog"))
    if check:
        from topologies.health import check_fabric

        report = check_fabric(G, catalog=catalog)
        if as_json:
            emit_result("topology show", None, report)
        else:
            _print_health(report)
        return
    summary = summarize(G)
    if as_json:
        emit_result("topology show", None, summary)
    else:
        text = _summary_text(summary, catalog)
        notes = G.graph.get("import_notes")
        if isinstance(notes, list) and notes:
            text += "\n\nInferred at import (not in the dump):\n" + "\n".join(
                f"  - {note}" for note in notes)
        click.echo(text)


@topology.command("export")
@click.argument("target", metavar="FILE|FAMILY")
@fabric_options()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "graphml", "astra-sim", "nccl-xml"]),
    help="Output format (default: from the output file's suffix). astra-sim: ASTRA-sim's "
         "analytical network YAML; nccl-xml: one server as an NCCL_TOPO_FILE.",
)
@click.option("--node", type=click.IntRange(min=0), default=None,
              help="The server written by --format nccl-xml (default: the first).")
@click.option("--ranks", type=CountType(), default=None,
              help="--format astra-sim: the ranks of the simulated job (default: every GPU); "
                   "k = 1024.")
@click.option("--placement", default=None,
              help="--format astra-sim: where the ranks sit: packed (default), rail-aligned, "
                   "spread, random, or a comma-separated list of GPU ids.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed for --placement random.")
@click.option("-o", "--output", metavar="FILE", help="File to write (default: stdout).")
def export_command(target: str, fmt: str | None, output: str | None, node: int | None,
                   ranks: int | None, placement: str | None, seed: int | None,
                   **options: Any) -> None:
    """Write a fabric (a spec file or a family with flags) as GraphML, JSON, YAML, an
    ASTRA-sim network or an NCCL topology XML.

    \b
    Examples:
      fabric topology export examples/small_cluster.yaml --format graphml -o small.graphml
      fabric topology export rail-only --nodes 4 --format json
      fabric topology export cluster.yaml --format astra-sim -o network.yml
      fabric topology export clos --gpus 1k --format astra-sim --ranks 64 --placement spread
      fabric topology export cluster.yaml --format nccl-xml --node 0 -o topo.xml
    """
    from topologies.spec import dump_spec, save_spec, spec_format

    placed = ranks is not None or placement is not None
    refuse_unless(not placed or fmt == "astra-sim", "--ranks/--placement",
                  "apply to --format astra-sim only (a rank placement of the simulated job)")
    refuse_unless(seed is None or placement == "random", "--seed",
                  f"applies to --placement random only (got --placement {placement or 'packed'})")
    if fmt is None and output is not None and output.lower().endswith(".xml"):
        fmt = "nccl-xml"  # the only format written as .xml (NCCL_TOPO_FILE)
    refuse_unless(node is None or fmt == "nccl-xml", "--node", "applies to --format nccl-xml only")

    if fmt in ("astra-sim", "nccl-xml"):
        if output is not None:
            check_output_path(output, inputs=[target, options.get("catalog")])
        G = build_fabric(design_from_options(target, options))
        if fmt == "astra-sim":
            from topologies.export_astra import astra_yaml

            if placed:
                from collectives.placement import place

                where = placement or "packed"
                gpus = place(G, ranks, where if "," not in where else
                             [g.strip() for g in where.split(",") if g.strip()], seed=seed or 0)
                text = astra_yaml(G, gpus)
            else:
                text = astra_yaml(G)
        else:
            from topologies.export_nccl import nccl_topology_xml

            text = nccl_topology_xml(G, node=node)
        if output is None:
            click.echo(text, nl=False)
        else:
            from fabric.fileio import atomic_write_text

            atomic_write_text(output, text)
            status(f"wrote {output}")
        return
    if output is None and fmt is None:
        raise FlagError("give --format yaml|json|graphml|astra-sim|nccl-xml when writing to "
                        "stdout")
    if output is None:
        fmt = spec_format("", fmt)
    else:
        fmt = _output_format(output, fmt)
        check_output_path(output, inputs=[target, options.get("catalog")])
    G = build_fabric(design_from_options(target, options))
    if output is None:
        click.echo(dump_spec(G, fmt), nl=False)
    else:
        save_spec(G, output, format=fmt)
        status(f"wrote {output}")


_IMPORT_FORMATS = ["auto", "ibnetdiscover", "iblinkinfo", "lldp-json", "lldp-table",
                   "nccl-xml", "nvidia-smi"]


@topology.command("import")
@click.argument("file", metavar="FILE")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Spec file to write (.yaml, .yml, .json, .graphml).")
@click.option("--format", "fmt", type=click.Choice(_IMPORT_FORMATS), default="auto",
              show_default=True, help="The dump's format (auto: detected from the text).")
@click.option("--server", metavar="FILE",
              help="One server's insides, applied to every host: an NCCL topology dump "
                   "(NCCL_TOPO_DUMP_FILE) or 'nvidia-smi topo -m' output.")
@click.option("--gpu", default=None, metavar="KEY",
              help="Catalog GPU model of the hosts' GPUs (default h100, or the GPU of an "
                   "NCCL dump's sm; one of another generation than its sm is refused).")
@click.option("--rate-gbps", type=click.FloatRange(min=0, min_open=True, max=1e6),
              help="Rate of cables the dump gives none for (LLDP tables), in Gb/s.")
@click.option("--hosts", metavar="REGEX",
              help="Keep only the hosts whose name matches (e.g. '^gpu'): leave login, "
                   "storage and management nodes out.")
@click.option("--catalog", metavar="FILE", help="Catalog TOML overriding the built-in one.")
def import_command(file: str, output: str, fmt: str, server: str | None, gpu: str | None,
                   rate_gbps: float | None, hosts: str | None, catalog: str | None) -> None:
    """Import the fabric that is racked from a discovery dump and write it as a spec file.

    \b
    Formats: ibnetdiscover (also -p), iblinkinfo, lldpd JSON (lldpctl -f json, or an
    object of host name -> document), SONiC/NX-OS/EOS 'show lldp neighbors' tables.
    Switch models come from their descriptions where the catalog knows them; tiers from the
    graph; what could not be read from the dump is listed (also kept in the spec).
    Examples:
      fabric topology import ibnetdiscover.txt -o cluster.yaml
      fabric topology import fabric.txt --server topo.xml -o cluster.yaml
      fabric topology import lldp.txt --format lldp-table --rate-gbps 400 -o eth.yaml
    """
    from topologies.discovery import import_fabric, parse_server, read_dump
    from topologies.spec import save_spec

    out_fmt = _output_format(output, None)
    check_output_path(output, inputs=[file, server, catalog])
    cat = load_catalog(catalog) if catalog else None
    description = None
    if server is not None:
        description = parse_server(read_dump(server), "auto", source=server, gpu=gpu)
    result = import_fabric(file, fmt, catalog=cat, gpu=gpu or "h100",
                           default_rate_gbps=rate_gbps, server=description, hosts=hosts)
    save_spec(result.graph, output, format=out_fmt)
    gpus = sum(1 for _, kind in result.graph.nodes(data="kind") if kind == "gpu")
    lines = [f"imported {file} ({result.format}): {result.num_switches:,} switches, "
             f"{result.num_hosts:,} hosts, {result.num_cables:,} cables -> {gpus:,} GPUs; "
             f"wrote {output}"]
    if result.notes:
        lines.append("Not in the dump (inferred or assumed):")
        lines += [f"  - {note}" for note in result.notes]
    click.echo("\n".join(lines), err=True)
