"""A fabric design as a value: a family with its options, or a spec file, and how to build it.

Every command and study that takes a fabric describes it with one :class:`FabricDesign` and
builds it with :func:`build_fabric`, so ``predict``, ``compare``, ``kv``, ``report`` and sweeps
read the same options the same way.

>>> G = build_fabric(FabricDesign(family="rail-optimized", num_gpus=64))
>>> G.graph["topology"], G.graph["params"]["num_nodes"]
('rail-optimized', 8)
>>> build_fabric(FabricDesign(family="fat-tree", num_gpus=100)).graph["params"]["k"]
8
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

import topologies
from fabric.catalog import Catalog, load_catalog
from topologies.spec import load_spec, load_topology

__all__ = [
    "DesignError",
    "FabricDesign",
    "OPTION_FIELDS",
    "STUDY_SERVER",
    "build_fabric",
    "check_options_used",
    "design_for_family",
    "design_label",
    "for_study",
    "option_label",
    "options_not_taken",
]

#: Design fields that are builder keyword options (everything but the family, size and catalog).
OPTION_FIELDS: tuple[str, ...] = (
    "tiers",
    "switch",
    "oversubscription",
    "planes",
    "gpus_per_node",
    "su_size",
    "reserved_leaf_ports",
    "uplink_switch",
    "leaf_uplinks",
    "scaleup",
    "gpu",
)
#: The servers a study assumes for every family unless told otherwise: 8 GPUs behind their
#: NVLink switch (``scaleup="auto"`` picks the switch that fits the GPU), as in DGX/HGX systems.
STUDY_SERVER: dict[str, Any] = {"gpus_per_node": 8, "scaleup": "auto"}

_SIZES = ("num_gpus", "num_nodes", "k")
#: How each field is spelled on the command line (for messages).
_LABELS = {
    "num_gpus": "--gpus",
    "num_nodes": "--nodes",
    "k": "--k",
    **{name: "--" + name.replace("_", "-") for name in OPTION_FIELDS},
}


def option_label(name: str) -> str:
    """The command-line spelling of a design field (``num_nodes`` -> ``--nodes``)."""
    return _LABELS.get(name, "--" + name.replace("_", "-"))


class DesignError(ValueError):
    """Options that do not describe a fabric: one the family does not take, a missing size,
    conflicting options, or family options given with a spec file (a usage error)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FabricDesign:
    """A fabric to build: a ``family`` with options, or a ``spec_path`` (exactly one).

    Sizes: ``num_gpus`` (any family: clos and single-hop take it as is, the rail families get
    ``ceil(num_gpus / gpus_per_node)`` servers, fat-tree the smallest k that holds them),
    ``num_nodes`` (rail families) or ``k`` (fat-tree). The other fields are the builders'
    keyword options; None means the builder's default. ``scaleup="none"`` builds without a
    scale-up domain. ``catalog`` is laid over the built-in catalog (a path or a Catalog).
    """

    family: str | None = None
    spec_path: str | None = None
    num_gpus: int | None = None
    num_nodes: int | None = None
    k: int | None = None
    tiers: int | None = None
    switch: str | None = None
    oversubscription: float | None = None
    planes: int | None = None
    gpus_per_node: int | None = None
    su_size: int | None = None
    reserved_leaf_ports: int | None = None
    uplink_switch: str | None = None
    leaf_uplinks: int | None = None
    scaleup: str | None = None
    gpu: str | None = None
    catalog: Catalog | str | None = None

    def __post_init__(self) -> None:
        if (self.family is None) == (self.spec_path is None):
            raise DesignError("a fabric design needs a family or a spec file, not both or neither")
        for name in ("num_gpus", "num_nodes", "k", "tiers", "planes", "gpus_per_node", "su_size",
                     "leaf_uplinks"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{option_label(name)} must be an integer >= 1, got {value!r}")
        if self.reserved_leaf_ports is not None and (
            not isinstance(self.reserved_leaf_ports, int) or self.reserved_leaf_ports < 0
        ):
            raise ValueError(f"--reserved-leaf-ports must be an integer >= 0, got "
                             f"{self.reserved_leaf_ports!r}")

    def given(self) -> dict[str, Any]:
        """The size and option fields that were set (not None), by field name."""
        names = ("num_gpus", "num_nodes", "k", *OPTION_FIELDS)
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def replace(self, **changes: Any) -> FabricDesign:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def _catalog(design: FabricDesign) -> Catalog | None:
    if design.catalog is None or isinstance(design.catalog, Catalog):
        return design.catalog
    return load_catalog(design.catalog)


def for_study(design: FabricDesign) -> FabricDesign:
    """``design`` with :data:`STUDY_SERVER` filled in where the family takes it and it is unset.

    Compare, report and sweeps build every family with the same servers, so that a
    difference between families is the network's, not the servers'.
    """
    if design.family is None:
        return design
    family = topologies.family(design.family)
    fill = {name: value for name, value in STUDY_SERVER.items()
            if getattr(design, name) is None and family.accepts(name)}
    return design.replace(**fill) if fill else design


def build_fabric(design: FabricDesign) -> nx.DiGraph:
    """Build the validated fabric graph ``design`` describes.

    Raises
    ------
    DesignError
        An option the family does not take (the message lists those it takes), a missing size,
        conflicting sizes, or family options with a spec file.
    fabric.errors.InfeasibleError
        The family cannot hold the GPUs with this switch (the message says what would).
    ValueError
        Bad values (the builder's message), an unknown family, a missing or bad spec file.
    """
    catalog = _catalog(design)
    given = design.given()
    if design.spec_path is not None:
        if given:
            flags = ", ".join(option_label(name) for name in given)
            raise DesignError(f"{flags} describe a family; {design.spec_path!r} is a spec file "
                              f"(only --catalog applies)")
        if Path(design.spec_path).is_file():
            return load_spec(design.spec_path, catalog=catalog)
        return load_topology(design.spec_path, catalog=catalog)  # says: not a file or family
    family = topologies.family(str(design.family))
    for name in given:
        if name != "num_gpus" and not family.accepts(name):
            takes = ", ".join(option_label(n) for n in ("num_gpus", family.size_parameter,
                                                        *family.options) if n != "catalog")
            raise DesignError(f"{family.name} does not take {option_label(name)}; it takes "
                              f"{', '.join(dict.fromkeys(takes.split(', ')))}")
    params: dict[str, Any] = {name: value for name, value in given.items() if name != "num_gpus"}
    if isinstance(params.get("scaleup"), str) and params["scaleup"].lower() == "none":
        params["scaleup"] = None
    if family.accepts("catalog"):
        params["catalog"] = catalog
    size = family.size_parameter
    if design.num_gpus is not None and size != "num_gpus":
        if size in params:
            raise DesignError(f"give {option_label(size)} or --gpus, not both")
        return topologies.for_gpus(family.name, design.num_gpus, **params)
    if design.num_gpus is not None:
        params["num_gpus"] = design.num_gpus
    if size not in params:
        hint = "" if size == "num_gpus" else " (or --gpus)"
        raise DesignError(f"{family.name} needs {option_label(size)}{hint}")
    return topologies.build(family.name, **params)


def design_label(design: FabricDesign) -> str:
    """A short human name: the family or the spec file's name."""
    return design.family or Path(str(design.spec_path)).name



def design_for_family(base: FabricDesign, family: str, num_gpus: int,
                      catalog: Catalog | None = None) -> FabricDesign:
    """``base``'s options that ``family`` takes, for ``num_gpus`` GPUs (the sizes of ``base``
    are dropped; ``catalog`` replaces its catalog when given)."""
    record = topologies.family(family)
    keep = {name: value for name, value in base.given().items()
            if name not in _SIZES and record.accepts(name)}
    return FabricDesign(family=record.name, num_gpus=num_gpus,
                        catalog=catalog if catalog is not None else base.catalog, **keep)


#: Suffixes of the spec files a fabric can be read from (:func:`topologies.spec_read.load_spec`).
SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".graphml")


def is_spec_path(name: str) -> bool:
    """Whether ``name`` names a spec file rather than a family: an existing file, or a path
    with a spec file's suffix (so a missing file is reported as one, not as a family)."""
    path = Path(name)
    return path.suffix.lower() in SPEC_SUFFIXES or (path.name != name and path.is_file())


def options_not_taken(base: FabricDesign, family: str) -> list[str]:
    """The options of ``base`` (as spelled on the command line) that ``family`` does not take:
    a comparison builds it without them."""
    record = topologies.family(family)
    return [option_label(name) for name in base.given()
            if name not in _SIZES and not record.accepts(name)]


def check_options_used(base: FabricDesign, families: Sequence[str],
                       also: Sequence[str] = ()) -> None:
    """Refuse an option of ``base`` that none of ``families`` takes (it would change nothing;
    ``also`` names spec files, which take no family option).

    Raises
    ------
    DesignError
        Naming the option and the families.
    """
    for name in base.given():
        if name not in _SIZES and not any(topologies.family(f).accepts(name) for f in families):
            raise DesignError(f"{option_label(name)} applies to none of "
                              f"{', '.join([*families, *also])}"
                              + (" (a spec file is compared as it is)" if also else ""))
