"""The topology families: one record per family, and building a fabric by family name.

A :class:`Family` holds everything the rest of the project needs to know about a family: its
builder, the size parameter (``k``, ``num_gpus`` or ``num_nodes``), every other option with its
help text, unit and default, a one-line summary, and the rule that sizes it for a number of GPUs.
The command line, spec files and studies read these records instead of inspecting builders.

To add a family: write its builder (one module, structural size positional, everything else
keyword-only with a default, numpydoc listing every parameter) and add one :func:`_register`
call to :data:`FAMILIES` below with a help text for each option the shared table lacks.

>>> sorted(FAMILIES)
['clos', 'fat-tree', 'rail-only', 'rail-optimized', 'single-hop']
>>> fam = family("rail-optimized")
>>> fam.size_parameter, fam.options["su_size"].default, fam.options["su_size"].unit
('num_nodes', 32, 'servers')
>>> fam.size_for_gpus(250)  # 8-GPU servers: 32 of them
32
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

from fabric.catalog import default_catalog
from fabric.errors import InfeasibleError
from topologies.clos import clos
from topologies.common import ceil_div, check_int
from topologies.fat_tree import fat_tree
from topologies.rail import rail_only, rail_optimized
from topologies.single_hop import single_hop

__all__ = ["FamilyOption", "Family", "FAMILIES", "family", "build", "for_gpus", "MAX_GPUS",
           "MAX_K", "check_scale"]

#: Builders refuse a fabric of this many GPUs or more before allocating anything: a graph of
#: a million GPUs holds several million nodes and links (gigabytes in NetworkX), far past what
#: this tool is for (the largest published AI clusters hold ~10^5 GPUs).
MAX_GPUS = 1_000_000
#: Largest fat-tree k accepted (the largest switch radix in the catalog is 512).
MAX_K = 512

#: A family's sizing rule: (GPUs wanted, every option's value) -> the size parameter's value.
SizeRule = Callable[[int, Mapping[str, Any]], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyOption:
    """One keyword option of a family's builder.

    Attributes
    ----------
    name : str
        The builder keyword, e.g. ``"oversubscription"``.
    help : str
        One line for help texts, e.g. ``"leaf down:up ratio"``.
    unit : str
        What the value counts or measures (``"servers"``, ``"GPUs"``, ``"ports"``,
        ``"ratio"``...), or ``""`` for a name (a catalog key) or a catalog.
    default : Any
        The builder's default.
    """

    name: str
    help: str
    unit: str
    default: Any

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"name must be a Python identifier, got {self.name!r}")
        if not self.help or "\n" in self.help:
            raise ValueError(f"help of option {self.name!r} must be one non-empty line, "
                             f"got {self.help!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """A topology family: its builder, size parameter, options and sizing rule.

    Calling the record calls the builder: ``FAMILIES["clos"](64)`` is ``clos(64)``.

    Attributes
    ----------
    name : str
        The family's name, e.g. ``"fat-tree"`` (``G.graph["topology"]`` of what it builds).
    builder : callable
        The builder; its first parameter is the size, every other one keyword-only.
    size_parameter : str
        The builder's structural size: ``"k"``, ``"num_gpus"`` or ``"num_nodes"``.
    options : Mapping[str, FamilyOption]
        Every keyword parameter except the size, in the builder's order.
    summary : str
        One line for help texts.
    size_rule : callable
        ``(num_gpus, options) -> size``, called by :meth:`size_for_gpus` with every option's
        value filled in (given or default); it checks the values it uses.
    """

    name: str
    builder: Callable[..., nx.DiGraph]
    size_parameter: str
    options: Mapping[str, FamilyOption] = field(hash=False)
    summary: str
    size_rule: SizeRule = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size_parameter in self.options:
            raise ValueError(f"family {self.name}: the size {self.size_parameter!r} must not "
                             f"also be an option")
        for key, option in self.options.items():
            if key != option.name:
                raise ValueError(f"family {self.name}: option {option.name!r} is filed "
                                 f"under {key!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> nx.DiGraph:
        """``self.builder(*args, **kwargs)``."""
        return self.builder(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle a registered family by name (a process pool gets the registry's record)."""
        if FAMILIES.get(self.name) is self:
            return (family, (self.name,))
        return (_unpickle_family, (self.name, self.builder, self.size_parameter,
                                   dict(self.options), self.summary, self.size_rule))

    @property
    def parameters(self) -> tuple[str, ...]:
        """The size parameter, then every option, in the builder's order."""
        return (self.size_parameter, *self.options)

    def accepts(self, name: str) -> bool:
        """Whether ``name`` is the size parameter or an option of this family."""
        return name == self.size_parameter or name in self.options

    def defaults(self) -> dict[str, Any]:
        """Every option's default (the size has none)."""
        return {name: option.default for name, option in self.options.items()}

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Refuse parameter names the builder does not take.

        Raises
        ------
        ValueError
            Naming the unknown parameters and listing the known ones.
        """
        unknown = sorted(name for name in params if not self.accepts(name))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {self.name}; "
                             f"known: {', '.join(self.parameters)}")

    def size_for_gpus(self, num_gpus: int, **params: Any) -> int:
        """The smallest size of this family holding at least ``num_gpus`` GPUs with ``params``.

        Parameters
        ----------
        num_gpus : int
            GPUs the fabric must hold (>= 1).
        **params
            Options of the builder (not its size); the others take their defaults.

        Returns
        -------
        int
            The value of :attr:`size_parameter`. fat-tree: the smallest even k with
            ``k**3 / 4 >= num_gpus`` and ``k / 2`` a multiple of ``gpus_per_node`` (one GPU per
            host port); clos and single-hop: ``num_gpus`` rounded up to whole servers;
            rail-optimized and rail-only: ``ceil(num_gpus / gpus_per_node)`` servers.

        Raises
        ------
        ValueError
            ``num_gpus`` < 1, the size given in ``params``, an unknown option, a bad
            ``gpus_per_node``.
        InfeasibleError
            If the family cannot hold ``num_gpus`` GPUs with these options (the message says
            what would).
        """
        num_gpus = check_int("num_gpus", num_gpus)
        if self.size_parameter in params:
            raise ValueError(f"for_gpus picks {self.size_parameter} for {self.name}; "
                             f"do not pass it")
        self.check_params(params)
        return self.size_rule(num_gpus, {**self.defaults(), **params})


def _unpickle_family(name: str, builder: Callable[..., nx.DiGraph], size_parameter: str,
                     options: dict[str, FamilyOption], summary: str,
                     size_rule: SizeRule) -> Family:
    return Family(name=name, builder=builder, size_parameter=size_parameter,
                  options=MappingProxyType(options), summary=summary, size_rule=size_rule)


# ------------------------------------------------------------------------------ sizing rules


def _fat_tree_k(num_gpus: int, options: Mapping[str, Any]) -> int:
    """The smallest even k with k**3/4 >= num_gpus and k/2 a multiple of gpus_per_node.

    One GPU per host port (Al-Fares et al. 2008: ``k**3 / 4`` hosts); a server's GPUs share an
    edge switch, so ``k / 2`` must be a multiple of ``gpus_per_node``.
    """
    gpus_per_node = check_int("gpus_per_node", options["gpus_per_node"])
    catalog = options["catalog"] or default_catalog()
    switch = options["switch"]
    radix = catalog.switches[switch].radix
    k = 2 * gpus_per_node
    while k**3 // 4 < num_gpus:
        k += 2 * gpus_per_node
    if k > radix:
        largest = radix - radix % (2 * gpus_per_node)
        raise InfeasibleError(f"a fat-tree of {num_gpus} GPUs needs k >= {k}, but {switch} has "
                              f"radix {radix} (at most {largest**3 // 4} GPUs); use a switch "
                              f"with radix >= {k} or the clos family")
    return k


def _servers(num_gpus: int, options: Mapping[str, Any]) -> int:
    """Servers of ``gpus_per_node`` GPUs that hold ``num_gpus``: ``ceil(num_gpus / gpn)``."""
    return ceil_div(num_gpus, check_int("gpus_per_node", options["gpus_per_node"]))


def _gpus_in_whole_servers(num_gpus: int, options: Mapping[str, Any]) -> int:
    """``num_gpus`` rounded up to a multiple of ``gpus_per_node``."""
    return _servers(num_gpus, options) * options["gpus_per_node"]


# ---------------------------------------------------------------------------------- records

#: (help, unit) of the options several families share; a family may override one.
_SHARED_HELP: dict[str, tuple[str, str]] = {
    "switch": ("scale-out switch model (catalog key)", ""),
    "gpus_per_node": ("GPUs per server", "GPUs"),
    "scaleup": ("scale-up (NVLink) switch per server: a catalog key, 'auto' or None", ""),
    "gpu": ("GPU model (catalog key)", ""),
    "catalog": ("hardware catalog; None for the built-in one", ""),
    "planes": ("independent scale-out planes; each GPU has one port per plane at the "
               "switch's port rate", "planes"),
}


def _register(
    name: str,
    builder: Callable[..., nx.DiGraph],
    *,
    summary: str,
    size_rule: SizeRule,
    option_help: Mapping[str, tuple[str, str]] = MappingProxyType({}),
) -> Family:
    """The record of ``builder``: size and defaults from its signature, read once here.

    Raises
    ------
    TypeError
        If the builder's first parameter is not a positional size without a default, another
        parameter is not keyword-only with a default, or an option has no help text.
    """
    params = list(inspect.signature(builder).parameters.values())
    size, rest = params[0], params[1:]
    if size.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD or size.default is not size.empty:
        raise TypeError(f"family {name}: the builder's first parameter must be its size, "
                        f"positional and without a default, got {size}")
    table = {**_SHARED_HELP, **option_help}
    options = {}
    for p in rest:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is p.empty:
            raise TypeError(f"family {name}: option {p.name!r} must be keyword-only with a "
                            f"default")
        if p.name not in table:
            raise TypeError(f"family {name}: option {p.name!r} has no help text")
        text, unit = table[p.name]
        options[p.name] = FamilyOption(name=p.name, help=text, unit=unit, default=p.default)
    extra = sorted(set(option_help) - set(options))
    if extra:
        raise TypeError(f"family {name}: help for options the builder lacks: {', '.join(extra)}")
    return Family(name=name, builder=builder, size_parameter=size.name,
                  options=MappingProxyType(options), summary=summary, size_rule=size_rule)


#: Every topology family by name, in the order help texts list them.
FAMILIES: Mapping[str, Family] = MappingProxyType({
    record.name: record
    for record in (
        _register(
            "fat-tree", fat_tree, size_rule=_fat_tree_k,
            summary="k-ary fat-tree of k-port switches, k^3/4 GPUs (Al-Fares et al. 2008)",
            option_help={
                "switch": ("switch model of every tier (catalog key); radix >= k", ""),
                "scaleup": ("scale-up (NVLink) switch per server: a catalog key or None", ""),
            },
        ),
        _register(
            "clos", clos, size_rule=_gpus_in_whole_servers,
            summary="folded Clos (leaf-spine or leaf-spine-core), oversubscribed at the leaf",
            option_help={
                "tiers": ("switch tiers: 1, 2 or 3; None for the fewest that fit", "tiers"),
                "oversubscription": ("leaf down:up port ratio (>= 1)", "ratio"),
            },
        ),
        _register(
            "rail-optimized", rail_optimized, size_rule=_servers,
            summary="rail-optimized scalable units, one leaf per rail per SU (DGX SuperPOD)",
            option_help={
                "gpus_per_node": ("GPUs per server (= rails)", "GPUs"),
                "su_size": ("server slots per scalable unit", "servers"),
                "reserved_leaf_ports": ("leaf ports held for management appliances", "ports"),
                "uplink_switch": ("switch model of spines and cores (catalog key), whose port "
                                  "rate the leaf uplinks run at; None for the leaves' switch",
                                  ""),
                "leaf_uplinks": ("uplinks per leaf; None for the count from 1:1 up that needs "
                                 "the fewest spines", "ports"),
            },
        ),
        _register(
            "rail-only", rail_only, size_rule=_servers,
            summary="rail-only: one Clos per rail, cross-rail traffic over NVLink "
                    "(Wang et al. 2023)",
            option_help={
                "gpus_per_node": ("GPUs per server (= rails)", "GPUs"),
                "scaleup": ("scale-up (NVLink) switch per server: a catalog key or 'auto'; "
                            "required", ""),
            },
        ),
        _register(
            "single-hop", single_hop, size_rule=_gpus_in_whole_servers,
            summary="single hop: every GPU one switch from every other, over parallel planes",
            option_help={
                "planes": ("parallel single-switch planes, one NIC port each per GPU", "planes"),
            },
        ),
    )
})


def family(name: str) -> Family:
    """The record of the family called ``name``.

    Raises
    ------
    ValueError
        If there is no such family; the message lists the known ones.

    >>> family("clos").accepts("oversubscription"), family("fat-tree").accepts("planes")
    (True, False)
    """
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown topology family {name!r}; known: "
                         f"{', '.join(sorted(FAMILIES))}") from None


_lookup = family  # build's and for_gpus' parameter ``family`` hides the function


def build(family: str, **params: Any) -> nx.DiGraph:
    """Build a fabric of ``family`` (a key of :data:`FAMILIES`) from the builder's parameters.

    ``build(G.graph["topology"], **G.graph["params"])`` rebuilds a graph from its record.

    Raises
    ------
    ValueError
        Unknown family or parameter, or the builder's own ValueError / InfeasibleError.

    >>> build("single-hop", num_gpus=64).graph["topology"]
    'single-hop'
    """
    record = _lookup(family)
    record.check_params(params)
    check_scale(record.name, {**record.defaults(), **params}, size_parameter=record.size_parameter)
    return record(**params)


def for_gpus(family: str, num_gpus: int, **params: Any) -> nx.DiGraph:
    """The smallest fabric of ``family`` holding at least ``num_gpus`` GPUs.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    num_gpus : int
        GPUs the fabric must hold (>= 1).
    **params
        The builder's keyword parameters (not its size: ``k``, ``num_gpus`` or ``num_nodes``).

    Returns
    -------
    nx.DiGraph
        The family built at :meth:`Family.size_for_gpus` (fat-tree: the smallest even k with
        ``k**3 / 4 >= num_gpus`` and ``k / 2`` a multiple of ``gpus_per_node``; clos and
        single-hop: ``num_gpus`` rounded up to whole servers; rail-optimized and rail-only:
        ``ceil(num_gpus / gpus_per_node)`` servers).

    Raises
    ------
    ValueError
        Unknown family or parameter, a size given in ``params``, bad values.
    InfeasibleError
        If the family cannot hold ``num_gpus`` GPUs with this switch; the message says what
        would (a larger radix, another family).

    >>> G = for_gpus("fat-tree", 100)  # the smallest k-ary fat-tree holding 100 GPUs: k=8
    >>> G.graph["params"]["k"], sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu")
    (8, 128)
    """
    record = _lookup(family)
    if isinstance(num_gpus, int) and not isinstance(num_gpus, bool) and num_gpus >= MAX_GPUS:
        # the sizing rule below says why a family cannot hold it when it cannot; refuse the rest
        try:
            record.size_for_gpus(num_gpus, **params)
        except InfeasibleError:
            raise
        raise ValueError(f"num_gpus must be < {MAX_GPUS:,} (a larger graph would not fit in "
                         f"memory), got {num_gpus:,}")
    size = record.size_for_gpus(num_gpus, **params)
    check_scale(record.name, {**record.defaults(), **params, record.size_parameter: size},
                size_parameter=record.size_parameter)
    return record(size, **params)


def check_scale(name: str, params: Mapping[str, Any], *, size_parameter: str) -> None:
    """Refuse a fabric too large to build, before any allocation.

    Parameters
    ----------
    name : str
        The family, for the message.
    params : Mapping
        The builder's parameters (size and options); values of the wrong type are left to the
        builder's own checks.
    size_parameter : str
        ``"k"`` (GPUs = ``k**3 / 4``), ``"num_gpus"`` or ``"num_nodes"`` (GPUs = servers x
        ``gpus_per_node``); with ``planes`` > 1 the GPUs count once per plane (each plane
        repeats their links and its own switches).

    Raises
    ------
    ValueError
        If ``k`` > :data:`MAX_K` or the fabric would hold >= :data:`MAX_GPUS` GPUs, naming the
        parameter, its value and the limit.

    >>> check_scale("rail-optimized", {"num_nodes": 10**12, "gpus_per_node": 8},
    ...             size_parameter="num_nodes")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: num_nodes of rail-optimized must give < 1,000,000 GPUs ... x 8 GPUs
    """
    size = params.get(size_parameter)
    if not isinstance(size, int) or isinstance(size, bool):
        return
    if size_parameter == "k":
        if size > MAX_K:
            raise ValueError(f"k of {name} must be <= {MAX_K} (the largest switch radix in the "
                             f"catalog), got {size:,}")
        gpus, detail = size**3 // 4, f"k={size:,}: k^3/4 = {size**3 // 4:,} GPUs"
    elif size_parameter == "num_nodes":
        per_node = params.get("gpus_per_node", 1)
        if not isinstance(per_node, int) or isinstance(per_node, bool) or per_node < 1:
            per_node = 1
        gpus, detail = size * per_node, f"{size:,} servers x {per_node} GPUs"
    else:
        gpus, detail = size, f"{size:,}"
    planes = params.get("planes", 1)
    if isinstance(planes, int) and not isinstance(planes, bool) and planes > 1:
        # every plane repeats the GPUs' links and the switches above them
        gpus, detail = gpus * planes, f"{detail} x {planes} planes"
    if gpus >= MAX_GPUS:
        raise ValueError(f"{size_parameter} of {name} must give < {MAX_GPUS:,} GPUs (a larger "
                         f"graph would not fit in memory), got {detail}")

