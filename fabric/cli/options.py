"""The fabric options, defined once and shared by every command that takes a fabric.

``@fabric_options()`` adds the family flags (``--k``, ``--gpus``, ``--nodes``, ``--tiers``,
``--switch``, ``--oversubscription``, ``--planes``, ``--gpus-per-node``, ``--su-size``,
``--reserved-leaf-ports``, ``--scaleup``/``--no-scaleup``, ``--gpu``, ``--catalog``);
``@fabric_options(sizes=False)`` adds all but the sizes, for commands that size the fabric
themselves (``compare``, ``report``). :func:`design_from_options` turns them into a
:class:`studies.design.FabricDesign`.

``@cluster_options()`` adds the flags that describe the real servers behind a benchmark log
(``--nic``, ``--nics-per-node``, ``--peer-to-peer``/``--no-peer-to-peer``, ``--nvls``/``--no-nvls``,
``--cpu-ranks``);
with ``--gpu`` and ``--gpus-per-node`` of the fabric options, :func:`cluster_from_options`
turns them into a :class:`topologies.generic.ClusterDescription` for the generic fabric
(``calibrate``, ``validate``, ``predict --topology generic``, ``import``):

.. code-block:: python

    @click.command()
    @click.argument("topology")
    @fabric_options()
    def predict(topology, **options):
        G = build_fabric(design_from_options(topology, options))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

import topologies
from fabric.catalog import Catalog, load_catalog
from fabric.cli.common import CountType, refuse_unless
from fabric.routing import DEFAULT_ROUTING, ROUTING_POLICIES
from studies.design import DesignError, FabricDesign
from topologies.generic import CPU_RANKS, ClusterDescription, cluster_links

__all__ = ["FABRIC_OPTION_NAMES", "CLUSTER_OPTION_NAMES", "ROUTING_OPTION_NAMES",
           "fabric_options", "cluster_options", "routing_options", "cluster_from_options",
           "design_from_options", "load_catalog_option"]

#: The keyword arguments ``@fabric_options()`` gives a command.
FABRIC_OPTION_NAMES: tuple[str, ...] = (
    "k", "gpus", "nodes", "tiers", "switch", "oversubscription", "planes", "gpus_per_node",
    "su_size", "reserved_leaf_ports", "uplink_switch", "leaf_uplinks", "scaleup", "no_scaleup",
    "gpu", "catalog",
)
_SIZE_OPTIONS = ("k", "gpus", "nodes")


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
                ratio = float(down) / float(up)
            else:
                ratio = float(text)
        except (ValueError, ZeroDivisionError):
            self.fail(f"oversubscription must look like 3, 1.5 or 3:1, got {value!r}", param, ctx)
        if not 1.0 <= ratio < float("inf"):
            self.fail(f"oversubscription must be a finite ratio >= 1, got {value!r}", param, ctx)
        return ratio


def _families_taking(name: str) -> str:
    return ", ".join(f for f, record in topologies.FAMILIES.items() if record.accepts(name))


def fabric_options(*, sizes: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding the fabric flags (with ``sizes``: also ``--k``, ``--gpus``, ``--nodes``).

    The command receives them as keyword arguments named as :data:`FABRIC_OPTION_NAMES`, None
    (or False) when not given; pass them to :func:`design_from_options`.
    """
    size_options = [
        click.option("--k", type=click.IntRange(min=2),
                     help=f"Switch radix k of a k-ary fat-tree (even): k^3/4 GPUs "
                          f"[{_families_taking('k')}]."),
        click.option("--gpus", type=CountType(),
                     help="GPUs (any family: servers or k are derived); k/M = x1024, "
                          "16k = 16,384."),
        click.option("--nodes", type=click.IntRange(min=1),
                     help=f"Servers [{_families_taking('num_nodes')}]."),
    ]
    options = [
        click.option("--tiers", type=click.IntRange(min=1),
                     help=f"Switch tiers (default: fewest) [{_families_taking('tiers')}]."),
        click.option("--switch", help="Scale-out switch model (catalog key, e.g. qm9700)."),
        click.option("--oversubscription", type=_Oversubscription(),
                     help=f"Leaf down:up ratio, e.g. 3 or 3:1 (default 1) "
                          f"[{_families_taking('oversubscription')}]."),
        click.option("--planes", type=click.IntRange(min=1),
                     help=f"Parallel switch planes [{_families_taking('planes')}]."),
        click.option("--gpus-per-node", type=click.IntRange(min=1), help="GPUs per server."),
        click.option("--su-size", type=click.IntRange(min=1),
                     help=f"Servers per scalable unit [{_families_taking('su_size')}]."),
        click.option("--reserved-leaf-ports", type=click.IntRange(min=0),
                     help=f"Leaf ports kept free for storage and management "
                          f"[{_families_taking('reserved_leaf_ports')}]."),
        click.option("--uplink-switch", metavar="KEY",
                     help=f"Spine and core switch model, whose port rate the leaf uplinks run "
                          f"at (default: --switch) [{_families_taking('uplink_switch')}]."),
        click.option("--leaf-uplinks", type=click.IntRange(min=1),
                     help=f"Uplinks per leaf (default: 1:1, fewest spines) "
                          f"[{_families_taking('leaf_uplinks')}]."),
        click.option("--scaleup", metavar="KEY|none",
                     help="Scale-up (NVLink) switch per server, 'auto' or 'none'."),
        click.option("--no-scaleup", is_flag=True,
                     help="No scale-up domain (same as --scaleup none)."),
        click.option("--gpu", help="GPU model (catalog key, e.g. h100)."),
        click.option("--catalog", metavar="FILE",
                     help="Catalog TOML laid over the built-in one (your prices)."),
    ]
    chosen = (size_options if sizes else []) + options

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(chosen):
            func = option(func)
        return func

    return decorate


#: The keyword arguments ``@cluster_options()`` gives a command.
CLUSTER_OPTION_NAMES: tuple[str, ...] = ("nic", "nics_per_node", "peer_to_peer", "nvls",
                                         "cpu_ranks")


def cluster_options() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding the cluster flags (:data:`CLUSTER_OPTION_NAMES`).

    The GPU model and GPUs per server are the fabric options' ``--gpu`` and ``--gpus-per-node``
    (add ``@fabric_options()`` or give them yourself); pass all of them to
    :func:`cluster_from_options`.
    """
    options = [
        click.option("--nic", metavar="KEY",
                     help="The servers' network port: a catalog link or NIC key (edr100, hdr200, "
                          "ndr400, roce100/200/400, efa100, tcpx200, tcpxo200, slingshot100/200)."),
        click.option("--nics-per-node", type=click.IntRange(min=1),
                     help="NICs per server (default: one per GPU; one per server for "
                          "--cpu-ranks). Fewer NICs than GPUs are shared."),
        click.option("--peer-to-peer/--no-peer-to-peer", "peer_to_peer", default=None,
                     help="Whether PCIe GPUs of a server reach each other directly (default: "
                          "the catalog GPU's); without, traffic is staged through host memory."),
        click.option("--nvls/--no-nvls", "nvls", default=None,
                     help="Whether the servers' NVSwitch reduces in the network (NVLink SHARP, "
                          "NCCL's NVLS; default: where the GPU's NVSwitch can, H100 and later). "
                          "--no-nvls for servers where NCCL does not use it."),
        click.option("--cpu-ranks", type=click.IntRange(min=1),
                     help="MPI ranks per server on CPU cores (instead of --gpu): shared memory "
                          "inside a server, its NICs shared by all ranks outside."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


#: The keyword arguments ``@routing_options()`` gives a command.
ROUTING_OPTION_NAMES: tuple[str, ...] = ("routing", "routing_seed")


def routing_options() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``--routing`` (the flow model's routing policy,
    :data:`fabric.routing.ROUTING_POLICIES`) and ``--routing-seed`` (seed of the ecmp-hash
    samples)."""
    options = [
        click.option("--routing", type=click.Choice(ROUTING_POLICIES), default=DEFAULT_ROUTING,
                     show_default=True,
                     help="Routing in the flow model: ecmp-ideal (fluid split over equal-cost "
                          "paths), ecmp-hash (each flow hashed onto one path: mean and p99 over "
                          "hash seeds), adaptive (least-loaded next hop per flow), policy "
                          "(traffic classes by objective; collectives: throughput = adaptive)."),
        click.option("--routing-seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the ecmp-hash samples."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def check_routing_flags(flavor: str, routing: str) -> None:
    """Refuse ``--routing`` with the nccl flavor (NCCL's tuner has no routing model) and
    ``--routing-seed`` without ``--routing ecmp-hash`` (exit 2, the reason given)."""
    refuse_unless(routing == DEFAULT_ROUTING or flavor != "nccl", "--routing",
                  f"applies to --flavor ideal or mpi only (got --flavor {flavor})")
    source = click.get_current_context().get_parameter_source("routing_seed")
    refuse_unless(source != click.core.ParameterSource.COMMANDLINE or routing == "ecmp-hash",
                  "--routing-seed", f"applies to --routing ecmp-hash only (got --routing "
                                    f"{routing})")


def cluster_from_options(options: Mapping[str, Any], *, catalog: Catalog | None = None,
                         base: ClusterDescription | None = None) -> ClusterDescription | None:
    """The :class:`topologies.generic.ClusterDescription` of the cluster flags and ``--gpu``;
    None when none of them was given.

    ``base`` is a description already at hand (what ``fabric import`` recorded in the records,
    or a calibration's servers): a flag replaces its own field of it and leaves the others, so
    ``--nic hdr200`` on V100 records keeps their V100s. Another GPU (``--gpu``, ``--cpu-ranks``)
    drops what the base said of its GPU's NVSwitch and PCIe (``nvls``, ``peer_to_peer``).

    Keys are checked against the catalog here, so a typo fails before any work.

    Raises
    ------
    studies.design.DesignError
        (exit 2) ``--cpu-ranks`` together with ``--gpu``.
    ValueError
        (exit 1) An unknown GPU, link or NIC key (the message lists the known ones).
    """
    gpu, cpu_ranks = options.get("gpu"), options.get("cpu_ranks")
    names = ("nic", "nics_per_node", "peer_to_peer", "nvls")
    if gpu is None and cpu_ranks is None and all(options.get(n) is None for n in names):
        return None
    if cpu_ranks is not None and gpu is not None:
        raise DesignError(f"give --gpu {gpu} or --cpu-ranks {cpu_ranks}, not both")
    kept = dataclasses.asdict(base) if base is not None else {}
    if (CPU_RANKS if cpu_ranks is not None else gpu) not in (None, kept.get("gpu")):
        # another GPU: what was said of the old one's switch and PCIe does not carry over
        kept = {k: v for k, v in kept.items() if k not in ("nvls", "peer_to_peer")}
    fields = {n: options[n] if options.get(n) is not None else kept.get(n) for n in names}
    cluster = ClusterDescription(
        gpu=CPU_RANKS if cpu_ranks is not None else (gpu or kept.get("gpu") or "h100"), **fields)
    cat = catalog if catalog is not None else load_catalog_option(options.get("catalog"))
    cluster_links(cluster, 1, catalog=cat)  # unknown keys fail here, naming the known ones
    return cluster


def load_catalog_option(path: str | Catalog | None) -> Catalog:
    """The catalog a ``--catalog`` value names (the built-in one for None)."""
    if isinstance(path, Catalog):
        return path
    return load_catalog(path)


def design_from_options(target: str | None, options: Mapping[str, Any], *,
                        catalog: Catalog | None = None) -> FabricDesign:
    """The :class:`FabricDesign` of a TARGET argument (a family or spec file) and fabric flags.

    ``target`` None gives a design without a family (for ``compare`` and ``report``, which
    apply the options to each family): :attr:`FabricDesign.family` is then the first family
    that takes every given option, or ``rail-optimized``. ``catalog`` overrides ``--catalog``
    (already loaded).

    Raises
    ------
    studies.design.DesignError
        (exit 2) ``--scaleup`` together with ``--no-scaleup``, or conflicting sizes.
    ValueError
        (exit 1) A catalog file that cannot be read.
    """
    values = {name: options.get(name) for name in FABRIC_OPTION_NAMES}
    scaleup = values["scaleup"]
    if values["no_scaleup"]:
        if scaleup is not None and str(scaleup).lower() != "none":
            raise DesignError(f"give --scaleup {scaleup} or --no-scaleup, not both")
        scaleup = "none"
    cat = catalog if catalog is not None else (
        load_catalog_option(values["catalog"]) if values["catalog"] is not None else None)
    fields: dict[str, Any] = {
        "num_gpus": values["gpus"], "num_nodes": values["nodes"], "k": values["k"],
        "tiers": values["tiers"], "switch": values["switch"],
        "oversubscription": values["oversubscription"], "planes": values["planes"],
        "gpus_per_node": values["gpus_per_node"], "su_size": values["su_size"],
        "reserved_leaf_ports": values["reserved_leaf_ports"],
        "uplink_switch": values["uplink_switch"], "leaf_uplinks": values["leaf_uplinks"],
        "scaleup": scaleup,
        "gpu": values["gpu"], "catalog": cat,
    }
    if target is None:
        return FabricDesign(family="rail-optimized", **fields)
    if target in topologies.FAMILIES:
        return FabricDesign(family=target, **fields)
    if Path(target).suffix or Path(target).exists() or "/" in target:
        return FabricDesign(spec_path=target, **fields)
    return FabricDesign(family=target, **fields)  # an unknown family: build says which exist
