"""``fabric emulate up|down|list``: an emulated cluster in network namespaces, kept up for people.

``up`` lays out :func:`topologies.emulated.emulated_fabric` with
:class:`measure.emulate.EmulatedCluster` and leaves it running after the command exits; ``down``
removes it. Needs root, iproute2 and ethtool. State lives in ``/run/fabric-emulate/<prefix>.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fabric.cli.common import (
    LOG,
    FlagError,
    RateType,
    emit_result,
    format_table,
    heading,
    json_option,
    one_line,
)

__all__ = ["emulate"]

PROBE_EXAMPLE = [
    "fabric",
    "measure",
    "mpi",
    "-o",
    "/tmp/emulated.jsonl",
    "--collectives",
    "all-reduce,all-to-all",
    "--sizes",
    "1MiB:16MiB",
    "--iters",
    "5",
]


def _describe(cluster: Any) -> dict[str, Any]:
    return {
        "prefix": cluster.prefix,
        "namespaces": cluster.namespaces,
        "hosts": [
            {
                "node_id": h.node_id,
                "namespace": h.namespace,
                "hostname": h.hostname,
                "ip": h.ip,
                "switch": h.switch,
            }
            for h in cluster.hosts
        ],
        "links": [
            {
                "from": link.u,
                "to": link.v,
                "namespace": link.namespace,
                "device": link.device,
                "rate_bytes_per_s": link.rate_bytes_per_s,
            }
            for link in cluster.links
        ],
        "shell": cluster.shell_line(0),
        "mpi": cluster.mpi_shell_line([_fabric_command(), *PROBE_EXAMPLE[1:]]),
        "down": f"fabric emulate down {cluster.prefix}",
    }


def _print_description(info: dict[str, Any]) -> None:
    heading(f"emulated cluster {info['prefix']}")
    click.echo(
        format_table(
            ["host", "namespace", "hostname", "ip", "switch"],
            [
                [h["node_id"], h["namespace"], h["hostname"], h["ip"], h["switch"]]
                for h in info["hosts"]
            ],
        )
    )
    click.echo("")
    click.echo(
        format_table(
            ["link", "rate"],
            [
                [
                    f"{link['from']} -> {link['to']}",
                    f"{link['rate_bytes_per_s'] * 8 / 1e6:g} Mbit/s",
                ]
                for link in info["links"]
            ],
        )
    )
    # the lines around the tables: stderr under --format csv, so that stdout is only CSV
    heading("")
    heading(f"shell in host 0:  {info['shell']}")
    heading(f"MPI on all hosts: {info['mpi']}")
    heading(f"remove:           {info['down']}")


def _fabric_command() -> str:
    """This ``fabric`` by its absolute path (the mpiexec line runs where PATH may lack the
    environment it was installed into), or ``fabric``."""
    import shutil

    here = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if here is not None and here.name == "fabric" and here.exists():
        return str(here.resolve())
    return shutil.which("fabric") or "fabric"


#: The rates tc's tbf shapes here: from 1 Mbit/s to 400 Gbit/s, per direction (bytes/s).
_EMULATED_RATES = (1e6 / 8, 400e9 / 8)


def _emulated_rate(ctx: click.Context, param: click.Parameter, value: float | None
                   ) -> float | None:
    if value is not None and not _EMULATED_RATES[0] <= value <= _EMULATED_RATES[1]:
        raise click.BadParameter(
            f"{value * 8:g} bit/s is outside the 1 Mbit/s .. 400 Gbit/s an emulated link is "
            f"shaped to (a number without a unit is bytes/s: write 100Mbps)")
    return value


@click.group("emulate", context_settings={"help_option_names": ["-h", "--help"]})
def emulate() -> None:
    """An emulated cluster: network namespaces, bridges, tbf-shaped veths (root)."""


@emulate.command("up")
@click.option(
    "--kind",
    type=click.Choice(["flat", "tree"]),
    default="flat",
    show_default=True,
    help="flat: one bridge; tree: two leaf bridges joined by an oversubscribed trunk.",
)
@click.option(
    "--hosts",
    "num_hosts",
    type=click.IntRange(2, 64),
    default=4,
    show_default=True,
    help="Hosts (one rank each).",
)
@click.option(
    "--rate",
    "rate_bytes_per_s",
    type=RateType(),
    default="200Mbps",
    show_default=True,
    callback=_emulated_rate,
    help="Shaped rate of every host link, per direction.",
)
@click.option(
    "--trunk-rate",
    "trunk_rate_bytes_per_s",
    type=RateType(),
    default=None,
    callback=_emulated_rate,
    help="Shaped trunk rate (tree) [default: half of --rate].",
)
@click.option(
    "--mtu",
    "mtu_bytes",
    type=click.IntRange(1280, 65000),
    default=64000,
    show_default=True,
    help="MTU of every interface, bytes.",
)
@json_option
def emulate_up(
    kind: str,
    num_hosts: int,
    rate_bytes_per_s: float,
    trunk_rate_bytes_per_s: float | None,
    mtu_bytes: int,
    as_json: bool,
) -> None:
    """Create an emulated cluster that stays up; print its namespaces, IPs and shell lines."""
    from measure.emulate import EmulatedCluster
    from topologies.emulated import emulated_fabric

    if trunk_rate_bytes_per_s is not None and kind != "tree":
        raise FlagError(f"--trunk-rate shapes the trunk of --kind tree; --kind {kind} has "
                        f"none (drop --trunk-rate, or add --kind tree)")

    G = emulated_fabric(
        kind,
        num_hosts=num_hosts,
        link_rate_bytes_per_s=rate_bytes_per_s,
        trunk_rate_bytes_per_s=trunk_rate_bytes_per_s,
    )
    try:
        cluster = EmulatedCluster(G, mtu_bytes=mtu_bytes, persistent=True).open()
    except RuntimeError as err:
        raise click.ClickException(one_line(err)) from None
    info = _describe(cluster)
    if as_json:
        emit_result("emulate up", None, info)
    else:
        _print_description(info)
    # tbf lets a full bucket out at line rate: a message of a few buckets is not shaped
    LOG.warning(f"each link's token bucket holds {cluster.burst_bytes:,} bytes (one MTU): "
                f"messages under about {4 * cluster.burst_bytes // 1024:,} KiB pass faster than "
                f"the shaped rate; measure larger ones, or use a smaller --mtu (1500)",
                extra={"prefix": "note"})


@emulate.command("down")
@click.argument("prefix", required=False)
@click.option(
    "--all",
    "remove_all",
    is_flag=True,
    help="Remove every emulated cluster kept up or left behind by a killed run.",
)
@json_option
def emulate_down(prefix: str | None, remove_all: bool, as_json: bool) -> None:
    """Remove the emulated cluster PREFIX (or the only one kept up, or --all)."""
    from measure.emulate import PREFIX, cleanup_stale, list_instances, remove_cluster

    if remove_all and prefix is not None:
        raise FlagError(f"--all removes every emulated cluster; give PREFIX ({prefix!r}) or "
                        f"--all, not both")
    instances = list_instances()
    if remove_all:
        removed = cleanup_stale(PREFIX, include_persistent=True)
    else:
        if prefix is None:
            kept = [e["prefix"] for e in instances if e["persistent"]]
            if len(kept) != 1:
                raise click.ClickException(
                    f"{len(kept)} emulated clusters are up ({', '.join(kept) or 'none'}); "
                    "name one or use --all"
                )
            prefix = kept[0]
        known = {e["prefix"]: e for e in instances}
        if prefix not in known:
            raise click.ClickException(
                f"no emulated cluster {prefix!r}; up: {', '.join(known) or 'none'}"
            )
        removed = [prefix] if remove_cluster(prefix) else []
    if as_json:
        emit_result("emulate down", None, {"removed": removed})
    else:
        click.echo("removed: " + (", ".join(removed) if removed else "nothing"))


@emulate.command("list")
@json_option
def emulate_list(as_json: bool) -> None:
    """List emulated clusters on this machine."""
    from measure.emulate import list_instances

    instances: list[dict[str, Any]] = [
        {k: e.get(k) for k in ("prefix", "namespaces", "owner_pid", "owner_alive", "persistent")}
        for e in list_instances()
    ]
    if as_json:
        emit_result("emulate list", None, {"clusters": instances})
        return
    click.echo(
        format_table(
            ["prefix", "namespaces", "kept up", "owner alive"],
            [
                [e["prefix"], len(e["namespaces"]), e["persistent"], e["owner_alive"]]
                for e in instances
            ],
            align="lrll",
        )
    )
