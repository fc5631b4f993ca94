"""The hardware catalog: link types, switches, transceivers, cables, NICs, GPUs and nodes.

The built-in catalog is ``fabric/data/catalog.toml``; every figure in it names its source and year.
A user's TOML file with the same layout overrides any field of any entry, or adds entries:

.. code-block:: toml

    [switches.qm9700]
    cost_usd = 29000            # our negotiated price
    source = "quote ACME 2026-10"

>>> cat = default_catalog()
>>> cat.links["ndr400"].bandwidth_bytes_per_s
50000000000.0
>>> cat.switches["qm9700"].radix
64
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "LinkType",
    "SwitchModel",
    "Transceiver",
    "Cable",
    "Nic",
    "Gpu",
    "NodeModel",
    "Catalog",
    "STATUSES",
    "default_catalog",
    "load_catalog",
    "gpu_of_device",
]

_FROZEN = {"frozen": True, "slots": True, "kw_only": True}


def _positive(owner: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {rule}, got {value!r}")


#: ``status`` of an entry: ``shipping`` (the default) or ``announced`` (figures from an
#: announcement or roadmap, not a shipped product: treat them as assumptions).
STATUSES = ("shipping", "announced")


def _check_status(entry: Any) -> None:
    if entry.status not in STATUSES:
        raise ValueError(
            f"{type(entry).__name__} {entry.key}: status must be one of {', '.join(STATUSES)}, "
            f"got {entry.status!r}"
        )


@dataclass(**_FROZEN)
class LinkType:
    """A link type: bandwidth per link per direction and one cable's latency."""

    key: str
    name: str
    bandwidth_bytes_per_s: float
    latency_s: float
    medium: str
    source: str
    year: int
    status: str = "shipping"

    def __post_init__(self) -> None:
        _check_status(self)
        _positive(f"link {self.key}", "bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)
        _positive(f"link {self.key}", "latency_s", self.latency_s, allow_zero=True)


@dataclass(**_FROZEN)
class SwitchModel:
    """A switch as the fabric sees it: ``radix`` ports at ``port_link``'s rate.

    ``co_packaged_optics``: the optics sit in the switch package and ``power_w`` and
    ``cost_usd`` include them, so the bill of materials adds no pluggable module at its ports.
    """

    key: str
    name: str
    tier_kind: str
    radix: int
    port_link: str
    latency_s: float
    cost_usd: float
    power_w: float
    chips: int
    in_network_reduction: bool
    source: str
    year: int
    status: str = "shipping"
    co_packaged_optics: bool = False

    def __post_init__(self) -> None:
        _check_status(self)
        owner = f"switch {self.key}"
        if not isinstance(self.co_packaged_optics, bool):
            raise ValueError(f"{owner}: co_packaged_optics must be true or false, "
                             f"got {self.co_packaged_optics!r}")
        if self.tier_kind not in ("scale-up", "scale-out"):
            raise ValueError(
                f"{owner}: tier_kind must be 'scale-up' or 'scale-out', got {self.tier_kind!r}"
            )
        if not isinstance(self.radix, int) or self.radix < 2:
            raise ValueError(f"{owner}: radix must be an integer >= 2, got {self.radix!r}")
        _positive(owner, "latency_s", self.latency_s, allow_zero=True)
        _positive(owner, "cost_usd", self.cost_usd, allow_zero=True)
        _positive(owner, "power_w", self.power_w, allow_zero=True)


@dataclass(**_FROZEN)
class Transceiver:
    """An optical module; ``ports`` links served per module (2 for twin-port OSFP)."""

    key: str
    name: str
    link_rate_bytes_per_s: float
    ports: int
    cost_usd: float
    power_w: float
    reach_m: float
    source: str
    year: int
    status: str = "shipping"

    def __post_init__(self) -> None:
        _check_status(self)
        owner = f"transceiver {self.key}"
        _positive(owner, "link_rate_bytes_per_s", self.link_rate_bytes_per_s)
        _positive(owner, "ports", self.ports)
        _positive(owner, "cost_usd", self.cost_usd, allow_zero=True)
        _positive(owner, "power_w", self.power_w, allow_zero=True)
        _positive(owner, "reach_m", self.reach_m)


@dataclass(**_FROZEN)
class Cable:
    """A cable: ``kind`` is ``copper`` (DAC/ACC, no transceivers) or ``fiber``."""

    key: str
    name: str
    kind: str
    cost_usd: float
    power_w: float
    reach_m: float
    source: str
    year: int
    status: str = "shipping"

    def __post_init__(self) -> None:
        _check_status(self)
        owner = f"cable {self.key}"
        if self.kind not in ("copper", "fiber"):
            raise ValueError(f"{owner}: kind must be 'copper' or 'fiber', got {self.kind!r}")
        _positive(owner, "cost_usd", self.cost_usd, allow_zero=True)
        _positive(owner, "power_w", self.power_w, allow_zero=True)
        _positive(owner, "reach_m", self.reach_m)


@dataclass(**_FROZEN)
class Nic:
    """A network adapter with ``ports`` ports of ``link``."""

    key: str
    name: str
    link: str
    ports: int
    cost_usd: float
    power_w: float
    source: str
    year: int
    status: str = "shipping"

    def __post_init__(self) -> None:
        _check_status(self)
        _positive(f"nic {self.key}", "ports", self.ports)
        _positive(f"nic {self.key}", "cost_usd", self.cost_usd, allow_zero=True)
        _positive(f"nic {self.key}", "power_w", self.power_w, allow_zero=True)


@dataclass(**_FROZEN)
class Gpu:
    """An accelerator: dense BF16 peak, memory, its scale-up link and its host (PCIe) link.

    ``nvlink`` is the scale-up link key (NVLink or AMD xGMI; ``""`` for none) and
    ``nvlink_num_links`` how many the GPU has. ``pcie`` is the link key of the GPU's host
    interface (``""``: not stated) and ``peer_to_peer`` whether GPUs of one host reach each other
    over PCIe directly; False means traffic between them is staged through host memory. Both are
    optional in a catalog file (defaults ``""`` and True).
    """

    key: str
    name: str
    peak_flops: float
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    nvlink: str
    nvlink_num_links: int
    cost_usd: float
    power_w: float
    source: str
    year: int
    status: str = "shipping"
    pcie: str = ""
    peer_to_peer: bool = True

    def __post_init__(self) -> None:
        _check_status(self)
        owner = f"gpu {self.key}"
        if not isinstance(self.peer_to_peer, bool):
            raise ValueError(f"{owner}: peer_to_peer must be true or false, "
                             f"got {self.peer_to_peer!r}")
        if not isinstance(self.nvlink_num_links, int) or self.nvlink_num_links < 0:
            raise ValueError(f"{owner}: nvlink_num_links must be an integer >= 0, "
                             f"got {self.nvlink_num_links!r}")
        _positive(owner, "peak_flops", self.peak_flops)
        _positive(owner, "memory_bytes", self.memory_bytes)
        _positive(owner, "memory_bandwidth_bytes_per_s", self.memory_bandwidth_bytes_per_s)
        _positive(owner, "cost_usd", self.cost_usd, allow_zero=True)
        _positive(owner, "power_w", self.power_w, allow_zero=True)


@dataclass(**_FROZEN)
class NodeModel:
    """A system (server or rack): GPUs, NICs and its scale-up (NVLink) domain."""

    key: str
    name: str
    gpu: str
    gpus_per_node: int
    nic: str
    nics_per_node: int
    scaleup_gpus: int
    scaleup_switch: str
    cost_usd: float
    power_w: float
    source: str
    year: int
    status: str = "shipping"

    def __post_init__(self) -> None:
        _check_status(self)
        owner = f"node {self.key}"
        _positive(owner, "gpus_per_node", self.gpus_per_node)
        _positive(owner, "nics_per_node", self.nics_per_node, allow_zero=True)
        _positive(owner, "scaleup_gpus", self.scaleup_gpus)
        _positive(owner, "cost_usd", self.cost_usd, allow_zero=True)
        _positive(owner, "power_w", self.power_w, allow_zero=True)


_SECTIONS: dict[str, type] = {
    "links": LinkType,
    "switches": SwitchModel,
    "transceivers": Transceiver,
    "cables": Cable,
    "nics": Nic,
    "gpus": Gpu,
    "nodes": NodeModel,
}


class _Table(dict[str, Any]):
    """A dict whose missing keys raise a ValueError that lists the valid ones."""

    def __init__(self, what: str, items: Mapping[str, Any]) -> None:
        super().__init__(items)
        self.what = what

    def __missing__(self, key: str) -> Any:
        valid = ", ".join(sorted(self)) or "(none)"
        raise ValueError(f"unknown {self.what} {key!r}; known: {valid}")


@dataclass(**_FROZEN)
class Catalog:
    """All hardware entries by key, plus the catalog ``version`` recorded in every graph."""

    version: str
    links: Mapping[str, LinkType] = field(default_factory=dict)
    switches: Mapping[str, SwitchModel] = field(default_factory=dict)
    transceivers: Mapping[str, Transceiver] = field(default_factory=dict)
    cables: Mapping[str, Cable] = field(default_factory=dict)
    nics: Mapping[str, Nic] = field(default_factory=dict)
    gpus: Mapping[str, Gpu] = field(default_factory=dict)
    nodes: Mapping[str, NodeModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for switch in self.switches.values():
            if switch.port_link not in self.links:
                raise ValueError(
                    f"switch {switch.key}: port_link {switch.port_link!r} is not a known link"
                )
        for nic in self.nics.values():
            if nic.link not in self.links:
                raise ValueError(f"nic {nic.key}: link {nic.link!r} is not a known link")
        for gpu in self.gpus.values():
            for attr in ("nvlink", "pcie"):
                if getattr(gpu, attr) and getattr(gpu, attr) not in self.links:
                    raise ValueError(f"gpu {gpu.key}: {attr} {getattr(gpu, attr)!r} is not a "
                                     f"known link")
        for node in self.nodes.values():
            for attr, table in (
                ("gpu", self.gpus),
                ("nic", self.nics),
                ("scaleup_switch", self.switches),
            ):
                if getattr(node, attr) not in table:
                    raise ValueError(
                        f"node {node.key}: {attr} {getattr(node, attr)!r} is not in the catalog"
                    )

    def host_link(self, gpu: str) -> LinkType | None:
        """The host (PCIe) link of catalog GPU ``gpu``, or None (unknown GPU, or none stated):
        what GPUDirect RDMA crosses between GPU memory and the NICs, so what the GPU's network
        ports carry together at most."""
        model = self.gpus.get(gpu)
        return self.links.get(model.pcie) if model is not None and model.pcie else None

    def cable_rate_bytes_per_s(self, edge: Mapping[str, Any]) -> float:
        """The rate of the cable an edge stands for: its ``link``'s catalog rate, else the
        edge's bandwidth (a GPU's edge may carry less than its cable, bounded by
        :meth:`host_link`)."""
        link = self.links.get(str(edge.get("link")))
        return link.bandwidth_bytes_per_s if link is not None else edge["bandwidth_bytes_per_s"]

    def as_dict(self) -> dict[str, Any]:
        """The catalog as plain data (for JSON output)."""
        out: dict[str, Any] = {"version": self.version}
        for section in _SECTIONS:
            out[section] = {
                k: dataclasses.asdict(v) for k, v in sorted(getattr(self, section).items())
            }
        return out


def _build(raw: Mapping[str, Any], origin: str) -> Catalog:
    meta = raw.get("meta", {})
    version = str(meta.get("version", "unversioned"))
    unknown = set(raw) - set(_SECTIONS) - {"meta"}
    if unknown:
        raise ValueError(
            f"{origin}: unknown catalog section(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}"
        )
    tables: dict[str, _Table] = {}
    for section, cls in _SECTIONS.items():
        entries = raw.get(section, {})
        if not isinstance(entries, Mapping):
            raise ValueError(f"{origin}: [{section}] must be a table of entries")
        names = {f.name for f in dataclasses.fields(cls)} - {"key"}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING} - {"key"}
        built = {}
        for key, values in entries.items():
            if not isinstance(values, Mapping):
                raise ValueError(f"{origin}: [{section}.{key}] must be a table")
            missing = sorted(required - set(values))
            if missing:
                raise ValueError(f"{origin}: [{section}.{key}] is missing {', '.join(missing)}")
            extra = sorted(set(values) - names)
            if extra:
                raise ValueError(
                    f"{origin}: [{section}.{key}] has unknown field(s) {', '.join(extra)}; "
                    f"known: {', '.join(sorted(names))}"
                )
            try:
                built[key] = cls(key=key, **values)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{origin}: [{section}.{key}]: {err}") from err
        tables[section] = _Table(section.rstrip("s").replace("switche", "switch model"), built)
    try:
        return Catalog(version=version, **tables)
    except ValueError as err:  # an entry naming another that is not there
        raise ValueError(f"{origin}: {err}") from err


def _merge(base: dict[str, Any], override: Mapping[str, Any], origin: str = "") -> dict[str, Any]:
    """``base`` with ``override``'s entries laid over it, field by field. A built-in entry
    whose figures ``override`` changes (and whose ``source`` it does not give) has its source
    say so: ``"...; cost_usd from FILE"``, so a bill of materials does not credit a public
    source with the user's number."""
    merged = copy.deepcopy(base)
    for section, entries in override.items():
        if section == "meta":
            if not isinstance(entries, Mapping):
                raise ValueError(f"[meta] must be a table, got {type(entries).__name__}")
            merged.setdefault("meta", {}).update(entries)
            continue
        if not isinstance(entries, Mapping):
            raise ValueError(
                f"[{section}] must be a table of entries, got {type(entries).__name__}"
            )
        target = merged.setdefault(section, {})
        for key, values in entries.items():
            if not isinstance(values, Mapping):
                raise ValueError(f"[{section}.{key}] must be a table, got {type(values).__name__}")
            entry = target.setdefault(key, {})
            changed = sorted(k for k, v in values.items() if k != "source" and entry.get(k) != v)
            had_source = "source" in entry
            entry.update(values)
            if origin and had_source and changed and "source" not in values:
                entry["source"] = f"{entry['source']}; {', '.join(changed)} from {origin}"
    return merged


@functools.lru_cache(maxsize=1)
def _default_raw() -> dict[str, Any]:
    text = resources.files("fabric").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The built-in catalog (cached)."""
    return _build(_default_raw(), "built-in catalog")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The built-in catalog with a user's TOML file laid over it.

    Parameters
    ----------
    path
        A TOML file with the same sections as the built-in catalog. Fields it gives replace the
        built-in ones, entry by entry; new keys add entries (then every field is required).
        ``None`` returns the built-in catalog.

    Raises
    ------
    ValueError
        If the file cannot be read or parsed, or an entry is incomplete or invalid. The message
        names the file and the entry.
    """
    if path is None:
        return default_catalog()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read catalog file {str(path)!r}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from err
    try:
        user = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from err
    try:
        merged = _merge(_default_raw(), user, path.name)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    meta = merged.setdefault("meta", {})
    if "version" not in user.get("meta", {}):
        meta["version"] = f"{_default_raw()['meta']['version']}+{path.name}"
    return _build(merged, str(path))


#: Device names as CUDA and ROCm report them (``cudaGetDeviceProperties``' ``name``, which
#: nccl-tests and rccl-tests print on each ``Rank`` line and ``nvidia-smi`` shows), matched in
#: order to the built-in catalog's GPU keys. A name no rule matches has no key (a GPU the
#: catalog lacks, or a form such as the H100 NVL that no entry describes).
_DEVICE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), key) for pattern, key in (
        (r"\bH100\b.*\bPCIe\b", "h100-pcie"),
        (r"\bH100\b(?!.*\bNVL\b)", "h100"),
        (r"\bH200\b(?!.*\bNVL\b)", "h200"),
        (r"\bGB200\b", "gb200"),
        (r"\bGB300\b", "gb300"),
        (r"\bB200\b", "b200"),
        (r"\bB300\b", "b300"),
        (r"\bA100\b.*\bPCIe\b.*\b80GB\b|\bA100\b.*\b80GB\b.*\bPCIe\b", "a100-pcie"),
        (r"\bA100-SXM4?-40GB\b|\bA100\b.*\bSXM4?\b.*\b40GB\b", "a100-40gb"),
        (r"\bA100-SXM4?-80GB\b|\bA100\b.*\bSXM4?\b.*\b80GB\b", "a100-80gb"),
        (r"\bV100-SXM[23]-16GB\b", "v100-16gb"),
        (r"\bV100-SXM[23]-32GB\b", "v100-32gb"),
        (r"\bT4\b", "t4"),
        (r"\bL40S\b", "l40s"),
        (r"\bMI300X\b", "mi300x"),
        (r"\bMI325X\b", "mi325x"),
        (r"\bMI355X\b", "mi355x"),
    ))


def gpu_of_device(name: str) -> str | None:
    """The built-in catalog's GPU key of a device name as CUDA or ROCm report it, or None.

    Examples
    --------
    >>> gpu_of_device("NVIDIA H100 80GB HBM3"), gpu_of_device("Tesla V100-SXM2-16GB")
    ('h100', 'v100-16gb')
    >>> gpu_of_device("A100-SXM4-40GB"), gpu_of_device("AMD Instinct MI300X")
    ('a100-40gb', 'mi300x')
    >>> gpu_of_device("NVIDIA H100 NVL") is None  # no catalog entry describes it
    True
    """
    for pattern, key in _DEVICE_RULES:
        if pattern.search(name):
            return key
    return None
