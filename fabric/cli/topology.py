"""``fabric topology build|show|export`` and the family flags other commands share.

Other commands (``predict``, ``compare``, ``kv``, ``report``) take a topology the same way:

.. code-block:: python

    from fabric.cmd_topology import family_options, topology_from_options

    @click.command()
    @click.argument("topology")
    @family_options
    def predict(topology, **options):
        G = topology_from_options(topology, **options)

``family_options`` adds the keyword arguments ``k, gpus, nodes, tiers, switch, oversubscription,
planes, gpus_per_node, su_size, reserved_leaf_ports, scaleup, no_scaleup, gpu, catalog``; pass
them all on to :func:`topology_from_options`. Both names are stable.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import networkx as nx

from fabric import units
from fabric.catalog import Catalog, default_catalog, load_catalog
from fabric.cliutil import FabricGroup, emit_json, format_table, json_option
from fabric.fileio import check_output_path
from fabric.graph import TopologySummary, summarize

__all__ = ["COMMANDS", "family_options", "topology_from_options", "FAMILY_FLAGS"]

# option name (the click destination) -> builder parameter; --gpus is handled on its own
FAMILY_FLAGS: dict[str, str] = {
    "k": "k",
    "nodes": "num_nodes",
    "tiers": "tiers",
    "switch": "switch",
    "oversubscription": "oversubscription",
    "planes": "planes",
    "gpus_per_node": "gpus_per_node",
    "su_size": "su_size",
    "reserved_leaf_ports": "reserved_leaf_ports",
    "scaleup": "scaleup",
    "gpu": "gpu",
    "catalog": "catalog",
}
_FLAG_NAMES = {name: "--" + name.replace("_", "-") for name in [*FAMILY_FLAGS, "gpus"]}
_FLAG_NAMES["scaleup"] = "--scaleup/--no-scaleup"


class FlagError(click.ClickException):
    """A flag that does not fit the topology: one line on stderr, exit 2 (a usage error)."""

    exit_code = 2


class _Oversubscription(click.ParamType):
    """``3``, ``1.5`` or ``3:1`` (down:up)."""

    name = "ratio"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        try:
            if ":" in text:
                down, up = text.split(":", 1)
                return float(down) / float(up)
            return float(text)
        except (ValueError, ZeroDivisionError):
            self.fail(f"oversubscription must look like 3, 1.5 or 3:1, got {value!r}", param, ctx)


def family_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the family flags (``--k``, ``--gpus``, ``--nodes`` ... ``--catalog``) to a command.

    The command receives them as keyword arguments (``k, gpus, nodes, tiers, switch,
    oversubscription, planes, gpus_per_node, su_size, reserved_leaf_ports, scaleup,
    no_scaleup, gpu, catalog``), all None (or False) when not given; hand them to
    :func:`topology_from_options`.
    """
    options = [
        click.option("--k", type=int, help="fat-tree: switch radix k (even); k^3/4 GPUs."),
        click.option(
            "--gpus",
            type=int,
            help="Number of GPUs (clos, single-hop; rail families: nodes = "
            "ceil(gpus / gpus-per-node); fat-tree: smallest k that fits).",
        ),
        click.option("--nodes", type=int, help="rail-optimized, rail-only: number of servers."),
        click.option("--tiers", type=int, help="clos: switch tiers (2 or 3; default: fewest)."),
        click.option("--switch", help="Scale-out switch model (catalog key, e.g. qm9700)."),
        click.option(
            "--oversubscription",
            type=_Oversubscription(),
            help="clos: leaf down:up ratio, e.g. 3 or 3:1 (default 1).",
        ),
        click.option("--planes", type=int, help="single-hop: parallel switch planes."),
        click.option("--gpus-per-node", type=int, help="GPUs per server."),
        click.option("--su-size", type=int, help="rail-optimized: servers per scalable unit."),
        click.option(
            "--reserved-leaf-ports",
            type=int,
            help="rail-optimized: leaf ports kept free (storage, management).",
        ),
        click.option(
            "--scaleup",
            metavar="KEY|none",
            help="Scale-up (NVLink) switch model per node, or 'none'.",
        ),
        click.option(
            "--no-scaleup", is_flag=True, help="No scale-up domain (same as --scaleup none)."
        ),
        click.option("--gpu", help="GPU model (catalog key, e.g. h100)."),
        click.option(
            "--catalog",
            metavar="FILE",
            help="Catalog TOML file laid over the built-in one (your prices).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _builder_parameters(family: str) -> dict[str, inspect.Parameter]:
    import topologies

    return dict(inspect.signature(topologies.FAMILIES[family]).parameters)


def topology_from_options(
    target: str,
    *,
    k: int | None = None,
    gpus: int | None = None,
    nodes: int | None = None,
    tiers: int | None = None,
    switch: str | None = None,
    oversubscription: float | None = None,
    planes: int | None = None,
    gpus_per_node: int | None = None,
    su_size: int | None = None,
    reserved_leaf_ports: int | None = None,
    scaleup: str | None = None,
    no_scaleup: bool = False,
    gpu: str | None = None,
    catalog: str | Catalog | None = None,
) -> nx.DiGraph:
    """The fabric a command's TARGET argument and family flags describe.

    Parameters
    ----------
    target
        A spec file (``.yaml``, ``.json``, ``.graphml``) or a family name (``fat-tree``,
        ``clos``, ``rail-optimized``, ``rail-only``, ``single-hop``).
    k, gpus, nodes, tiers, switch, oversubscription, planes, gpus_per_node, su_size, \
reserved_leaf_ports, scaleup, no_scaleup, gpu, catalog
        The flags of :func:`family_options`; None means "not given" (the builder's default).
        ``--gpus`` is ``num_gpus`` for clos and single-hop, gives ``num_nodes =
        ceil(gpus / gpus_per_node)`` for the rail families, and picks the smallest fabric with
        :func:`topologies.for_gpus` for a family whose size is something else (fat-tree's k).
        ``scaleup="none"`` or ``no_scaleup`` builds without a scale-up domain. ``catalog`` is a
        TOML file (or a Catalog).

    Returns
    -------
    nx.DiGraph
        A validated fabric graph.

    Raises
    ------
    FlagError
        (exit 2) A flag the family does not take (the message lists those it takes), a missing
        size, conflicting flags, or family flags given with a spec file.
    ValueError
        (exit 1) Bad values (the builder's message), an unknown family or a missing file.
    """
    import topologies
    from topologies.spec import load_spec, load_topology

    values: dict[str, Any] = {
        "k": k,
        "nodes": nodes,
        "tiers": tiers,
        "switch": switch,
        "oversubscription": oversubscription,
        "planes": planes,
        "gpus_per_node": gpus_per_node,
        "su_size": su_size,
        "reserved_leaf_ports": reserved_leaf_ports,
        "scaleup": scaleup,
        "gpu": gpu,
    }
    given = {name: value for name, value in values.items() if value is not None}
    if no_scaleup:
        if scaleup is not None and scaleup.lower() != "none":
            raise FlagError(f"give --scaleup {scaleup} or --no-scaleup, not both")
        given["scaleup"] = "none"
    if gpus is not None:
        given["gpus"] = gpus
    cat = load_catalog(catalog) if isinstance(catalog, (str, Path)) else catalog

    if target not in topologies.FAMILIES:
        if given and Path(target).is_file():
            flags = ", ".join(_FLAG_NAMES[name] for name in given)
            raise FlagError(
                f"{flags} describe a family; {target!r} is a spec file (only --catalog applies)"
            )
        if Path(target).is_file():
            return load_spec(target, catalog=cat)
        return load_topology(target, catalog=cat)  # raises the "not a file or family" message

    family = target
    parameters = _builder_parameters(family)
    accepted = [name for name, param in FAMILY_FLAGS.items() if param in parameters]
    for name in given:
        if name != "gpus" and name not in accepted:
            takes = ", ".join(_FLAG_NAMES[n] for n in ["gpus", *accepted] if n in _FLAG_NAMES)
            raise FlagError(
                f"{family} does not take {_FLAG_NAMES[name].split('/')[0]}; it takes {takes}"
            )
    params: dict[str, Any] = {
        FAMILY_FLAGS[name]: value for name, value in given.items() if name != "gpus"
    }
    if params.get("scaleup") is not None and params["scaleup"].lower() == "none":
        params["scaleup"] = None
    params["catalog"] = cat
    size = next(
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD
    )
    if gpus is not None:
        if "num_gpus" in parameters:
            params["num_gpus"] = gpus
        elif "num_nodes" in parameters:
            if nodes is not None:
                raise FlagError("give --nodes or --gpus, not both")
            if not isinstance(gpus, int) or gpus < 1:
                raise ValueError(f"gpus must be an integer >= 1, got {gpus!r}")
            per_node = params.get("gpus_per_node", parameters["gpus_per_node"].default)
            if not isinstance(per_node, int) or per_node < 1:
                raise ValueError(f"gpus_per_node must be an integer >= 1, got {per_node!r}")
            params["num_nodes"] = math.ceil(gpus / per_node)
        else:
            if size in params:
                raise FlagError(f"give {_flag_for(size)} or --gpus, not both")
            return topologies.for_gpus(family, gpus, **params)
    if size not in params:
        hint = "" if size == "num_gpus" else " (or --gpus)"
        raise FlagError(f"{family} needs {_flag_for(size)}{hint}")
    return topologies.build(family, **params)


def _flag_for(parameter: str) -> str:
    for name, param in FAMILY_FLAGS.items():
        if param == parameter:
            return _FLAG_NAMES[name]
    return "--gpus"


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
@family_options
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
    from topologies.spec import save_spec, spec_format

    if family not in topologies.FAMILIES:
        raise click.ClickException(
            f"unknown family {family!r}; known: "
            f"{', '.join(topologies.FAMILIES)} (to convert a spec file use "
            "'fabric topology export')"
        )
    fmt = spec_format(output, fmt)
    check_output_path(output)
    G = topology_from_options(family, **options)
    save_spec(G, output, format=fmt)
    click.echo(
        f"wrote {output}: {G.graph.get('topology')}, {G.number_of_nodes():,} nodes, "
        f"{G.number_of_edges() // 2:,} cable bundles",
        err=True,
    )


@topology.command("show")
@click.argument("target", metavar="FILE|FAMILY")
@family_options
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
    G = topology_from_options(target, **options)
    summary = summarize(G)
    if as_json:
        emit_json(summary)
    else:
        click.echo(_summary_text(summary, _catalog_for_display(options.get("catalog"))))


@topology.command("export")
@click.argument("target", metavar="FILE|FAMILY")
@family_options
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
    fmt = spec_format(output or "", fmt)
    if output is not None:
        check_output_path(output)
    G = topology_from_options(target, **options)
    if output is None:
        click.echo(dump_spec(G, fmt), nl=False)
    else:
        save_spec(G, output, format=fmt)
        click.echo(f"wrote {output}", err=True)


COMMANDS = [topology]
