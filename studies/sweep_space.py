"""The design-space file of a sweep: axes, fixed values, constraints, collectives and workload.

A space file (YAML or JSON) reads::

    axes: {family: [fat-tree, rail-optimized], num_gpus: [64, 128]}
    fixed: {gpus_per_node: 8}
    constraints: [{field: num_gpus, max: 4096}]
    collectives: [all-reduce]
    sizes_bytes: [1073741824]
    workload: null            # or a workload file, relative to the space file

Every combination of the axes, merged with ``fixed`` and kept by every constraint, is one design.
A bad file raises :class:`ValueError` with one line naming the field.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collectives.names import canonical
from studies.design import FabricDesign
from topologies.registry import MAX_GPUS, family

__all__ = ["SweepSpace", "load_space", "space_from_dict", "design_key"]

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}
_FIELDS = frozenset(FabricDesign.__dataclass_fields__) - {"catalog", "spec_path"}
_TOP = frozenset({"axes", "fixed", "constraints", "collectives", "sizes_bytes", "workload",
                  "catalog"})


def design_key(values: Mapping[str, Any]) -> str:
    """A stable key of one design's inputs (the SQLite primary key)."""
    text = json.dumps(dict(values), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _file_sha256(path: str | None) -> str:
    if path is None:
        return "built-in"
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise ValueError(f"cannot read {path!r}: {err.strerror or err}") from None


@dataclass(**_FROZEN)
class SweepSpace:
    """A parsed space file; :meth:`designs` lists its designs' inputs in a stable order."""

    axes: Mapping[str, tuple[Any, ...]]
    fixed: Mapping[str, Any]
    constraints: tuple[Mapping[str, Any], ...]
    collectives: tuple[str, ...]
    sizes_bytes: tuple[int, ...]
    workload_path: str | None
    catalog: str | None
    file_hash: str

    def context(self) -> dict[str, Any]:
        """What every design of this space is evaluated with besides its own inputs: the
        collectives and sizes, the workload and catalog files by their contents, the built-in
        catalog by its contents and the modeler's version. A store
        holds the rows of one context (:func:`studies.sweep.run_sweep` refuses another), so
        that a design's key names its result."""
        from importlib.resources import files

        from fabric import __version__

        builtin = hashlib.sha256(files("fabric").joinpath("data", "catalog.toml").read_bytes())
        return {"collectives": list(self.collectives), "sizes_bytes": list(self.sizes_bytes),
                "workload_sha256": _file_sha256(self.workload_path),
                "catalog_sha256": _file_sha256(self.catalog),
                # the built-in catalog under any overlay, and the modeler's release: either
                # changes the results of the same inputs
                "builtin_catalog_sha256": builtin.hexdigest(),
                "fabric_modeler_version": __version__}

    def designs(self) -> list[dict[str, Any]]:
        """Every design's inputs (``fixed`` merged with one combination of the axes), without
        the options its family does not take (``oversubscription`` on rail-optimized), each
        design once: such an option built the same fabric again under a label it did not
        have."""
        names = sorted(self.axes)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for combo in itertools.product(*(self.axes[n] for n in names)):
            values = {**self.fixed, **dict(zip(names, combo, strict=True))}
            if not all(_keeps(rule, values) for rule in self.constraints):
                continue
            values = _taken(values)
            key = design_key(values)
            if key not in seen:
                seen.add(key)
                out.append(values)
        return out


def _taken(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` less the options its family does not take (all of them for an unknown
    family, which fails when it is evaluated)."""
    try:
        record = family(str(values.get("family")))
    except ValueError:
        return values
    return {k: v for k, v in values.items()
            if k in ("family", "num_gpus", "num_nodes", "k") or record.accepts(k)}


def _keeps(rule: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    value = values.get(rule["field"])
    if value is None:
        return True
    if "min" in rule and value < rule["min"]:
        return False
    return not ("max" in rule and value > rule["max"])


def _check_field(where: str, name: Any) -> None:
    if name not in _FIELDS:
        raise ValueError(f"{where}.{name}: unknown design field; fields are "
                         f"{', '.join(sorted(_FIELDS))}")


def _check_values(where: str, name: str, values: tuple[Any, ...]) -> None:
    """Refuse a family or GPU count no design could take (a sweep would only fill its table
    with failed rows): an unknown family, a count that is not an integer in [2, MAX_GPUS)."""
    for value in values:
        if name == "family":
            try:
                family(value)
            except (ValueError, TypeError) as err:
                raise ValueError(f"{where}: {err}") from None
        elif name == "num_gpus" and (isinstance(value, bool) or not isinstance(value, int)
                                     or not 2 <= value < MAX_GPUS):
            raise ValueError(f"{where}: each value must be an integer from 2 to "
                             f"{MAX_GPUS - 1:,}, got {value!r}")


def space_from_dict(data: Any, *, file_hash: str = "", base: Path | None = None) -> SweepSpace:
    """Check and parse a space's mapping (``base``: folder that relative paths start from).

    Raises
    ------
    ValueError
        One line naming the bad field and the rule.
    """
    if not isinstance(data, Mapping):
        raise ValueError("space: must be a mapping with 'axes'")
    for key in data:
        if key not in _TOP:
            raise ValueError(f"{key}: unknown key; keys are {', '.join(sorted(_TOP))}")
    axes = data.get("axes")
    if not isinstance(axes, Mapping) or not axes:
        raise ValueError("axes: must be a non-empty mapping of field -> list of values")
    parsed: dict[str, tuple[Any, ...]] = {}
    for name, values in axes.items():
        _check_field("axes", name)
        if not isinstance(values, list) or not values:
            raise ValueError(f"axes.{name}: must be a non-empty list, got {values!r}")
        parsed[name] = tuple(values)
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed: must be a mapping, got {fixed!r}")
    for name in fixed:
        _check_field("fixed", name)
        if name in parsed:
            raise ValueError(f"fixed.{name}: also an axis; give it in one place")
    rules = data.get("constraints") or []
    if not isinstance(rules, list):
        raise ValueError("constraints: must be a list of {field, min, max}")
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping) or "field" not in rule or not ({"min", "max"} & set(rule)):
            raise ValueError(f"constraints[{i}]: must be {{field: NAME, min: X and/or max: Y}}")
        _check_field(f"constraints[{i}]", rule["field"])
    for where, name, values in [*(("axes", n, v) for n, v in parsed.items()),
                                *(("fixed", n, (v,)) for n, v in fixed.items())]:
        _check_values(f"{where}.{name}", name, values)
    collectives = data.get("collectives", ["all-reduce"])
    if not isinstance(collectives, list) or not all(isinstance(c, str) for c in collectives):
        raise ValueError(f"collectives: must be a list of names, got {collectives!r}")
    for c in collectives:
        try:
            canonical(c)
        except ValueError as err:
            raise ValueError(f"collectives: {err}") from None
    sizes = data.get("sizes_bytes", [1 << 30])
    if (not isinstance(sizes, list) or not sizes
            or not all(isinstance(s, int) and s > 0 for s in sizes)):
        raise ValueError(f"sizes_bytes: must be a non-empty list of positive integers, "
                         f"got {sizes!r}")
    workload = data.get("workload")
    if workload is not None:
        if not isinstance(workload, str):
            raise ValueError(f"workload: must be a file path, got {workload!r}")
        path = Path(workload) if base is None else base / workload
        if not path.is_file():
            raise ValueError(f"workload: {str(path)!r} is not a file")
        workload = str(path)
    catalog = data.get("catalog")
    if catalog is not None and not isinstance(catalog, str):
        raise ValueError(f"catalog: must be a file path, got {catalog!r}")
    return SweepSpace(axes=parsed, fixed=dict(fixed), constraints=tuple(rules),
                      collectives=tuple(collectives), sizes_bytes=tuple(sizes),
                      workload_path=workload, catalog=catalog, file_hash=file_hash)


def load_space(path: str | Path) -> SweepSpace:
    """Read and check a space file (YAML or JSON)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"space file {str(path)!r}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ValueError(f"space file {str(path)!r}: not YAML/JSON ({str(err).splitlines()[0]})"
                         ) from None
    return space_from_dict(data, file_hash=hashlib.sha256(raw).hexdigest(), base=path.parent)
