"""LLDP neighbour tables: lldpd's JSON (``lldpctl -f json``) and ``show lldp neighbors`` tables.

LLDP tells each device who is on the other end of each of its ports, by system name; it says
nothing of the link's rate except, in lldpd's JSON, the MAU type (``400GbaseCR8``) when the
neighbour advertises it. A switch is a device that advertises the Bridge or Router capability,
or runs a switch table; everything else is a host.

lldpd JSON (lldpd/lldpd, ``src/client/`` and its ``tests/integration/test_lldpcli.py``): one
document ``{"lldp": {"interface": {...}}}`` per device, interfaces as a name-keyed object or a
list of one-key objects, chassis keyed by system name. The device that ran it is not named in
the document: a file of several devices is a JSON object mapping each device's name to its
document; a single document is named by ``local_name``.

Tables: SONiC ``show lldp table`` (``LocalPort RemoteDevice RemotePortID Capability
RemotePortDescr``), NX-OS ``show lldp neighbors`` (``Device ID Local Intf Hold-time Capability
Port ID``) and EOS ``show lldp neighbors`` (``Port Neighbor Device ID Neighbor Port ID TTL``).
Several tables may follow each other, each after the CLI prompt that names its device
(``leaf1# show lldp neighbors``, ``admin@leaf1:~$ show lldp table``). Management ports (``eth0``,
``mgmt0``, ``Ma1``, ``Management1``) are skipped.

>>> table = '''
... leaf1# show lldp neighbors
... Port       Neighbor Device ID   Neighbor Port ID   TTL
... Et1        spine1               Ethernet1          120
... Ma1        oob-switch           Gi0/1              120
... '''
>>> d = parse_lldp_table(table)
>>> sorted(d.devices), [(c.a, c.a_port, c.b, c.b_port) for c in d.cables]
(['leaf1', 'spine1'], [('leaf1', 'Ethernet1', 'spine1', 'Ethernet1')])
"""

from __future__ import annotations

import json
import re
from typing import Any

from topologies.discovery.model import (
    Cable,
    Device,
    Discovery,
    DiscoveryError,
    dedupe_cables,
    disagreement_note,
)

__all__ = [
    "parse_lldp_json",
    "parse_lldp_table",
    "looks_like_lldp_table",
    "mau_rate_gbps",
    "canonical_port",
]

_MGMT = re.compile(r"^(eth0|mgmt\d*|ma\d+(/\d+)*|management\d*(/\d+)*)$", re.IGNORECASE)
#: On a host, eth0 is a data port: only the names switches give their management port.
_MGMT_HOST = re.compile(r"^(mgmt\d*|ma\d+(/\d+)*|management\d*(/\d+)*)$", re.IGNORECASE)
_SWITCH_PORT = re.compile(r"^(Ethernet\d|Et\d|swp\d|Eth\d|ethernet-\d|[A-Za-z]+GigE\d)")
_MAU = re.compile(r"(\d+)\s*(?:G|Gig)[Bb]ase", re.IGNORECASE)
_PROMPT = re.compile(
    r"^(?:[\w.\-]+@)?(?P<host>[\w.\-]+)(?:\([\w\-]*\))?(?::[^$#>]*)?\s*[#>$]\s*"
    r"(?:sh(?:ow?)?|do\s+sh\w*)\s+lldp\b", re.IGNORECASE)
_HEADERS = {
    "sonic": re.compile(r"^\s*LocalPort\s+RemoteDevice\s+RemotePortID"),
    "nxos": re.compile(r"^\s*Device ID\s+Local Intf\s+Hold-time"),
    "eos": re.compile(r"^\s*Port\s+Neighbor Device ID\s+Neighbor Port ID"),
}
_ROWS = {
    "sonic": re.compile(r"^(\S+)\s+(\S+)\s+(\S+)(?:\s+([A-Z]{1,6})\b)?(?:\s+.*)?$"),
    "nxos": re.compile(r"^(\S+)\s+(\S+)\s+(\d+)\s+([A-Z](?:\s?[A-Z])*)?\s*(\S+)\s*$"),
    "eos": re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s*$"),
}
_NXOS_CONTINUED = re.compile(r"^\s+(\S+)\s+(\d+)\s+([A-Z](?:\s?[A-Z])*)?\s*(\S+)\s*$")
_SKIP = re.compile(
    r"^(Capability codes|\(R\) Router|\(W\) WLAN|-{3,}|Total entries displayed|Last table change"
    r"|Number of table)", re.IGNORECASE)


_ABBREV = (
    (re.compile(r"^(?:Et|Eth|Ethernet)(?=\d)", re.I), "Ethernet"),
    (re.compile(r"^(?:Gi|GigabitEthernet)(?=\d)", re.I), "GigabitEthernet"),
    (re.compile(r"^(?:Te|TenGigabitEthernet)(?=\d)", re.I), "TenGigabitEthernet"),
    (re.compile(r"^(?:Hu|HundredGigE)(?=\d)", re.I), "HundredGigE"),
)


def canonical_port(name: str) -> str:
    """An interface name with the CLI abbreviation spelled out, so both ends of a cable agree.

    >>> canonical_port("Et3/1"), canonical_port("Eth1/2"), canonical_port("swp1")
    ('Ethernet3/1', 'Ethernet1/2', 'swp1')
    """
    for pattern, full in _ABBREV:
        if pattern.match(name):
            return pattern.sub(full, name, count=1)
    return name


def mau_rate_gbps(mau: str) -> float | None:
    """The rate in Gb/s of an IEEE 802.3 MAU type name (``400GbaseCR8``), or None.

    >>> mau_rate_gbps("400GbaseCR8"), mau_rate_gbps("10GigBaseCX4 - X copper"), mau_rate_gbps("")
    (400.0, 10.0, None)
    """
    match = _MAU.search(mau)
    return float(match.group(1)) if match else None


# ----------------------------------------------------------------------------------- JSON


def _items(value: Any) -> list[tuple[str, Any]]:
    """lldpd's name-keyed objects, whether one object or a list of one-key objects."""
    if isinstance(value, dict):
        if "name" in value and isinstance(value["name"], str):
            return [(value["name"], value)]
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):
        out: list[tuple[str, Any]] = []
        for item in value:
            out.extend(_items(item))
        return out
    return []


def _value(node: Any) -> str:
    if isinstance(node, dict):
        return str(node.get("value", ""))
    if isinstance(node, list) and node:
        return _value(node[0])
    return "" if node is None else str(node)


def _is_bridge(chassis: dict[str, Any]) -> bool:
    caps = chassis.get("capability", [])
    caps = caps if isinstance(caps, list) else [caps]
    return any(
        isinstance(c, dict) and c.get("type") in ("Bridge", "Router") and c.get("enabled")
        for c in caps
    )


def parse_lldp_json(text: str, *, source: str = "", local_name: str = "local") -> Discovery:
    """Parse lldpd's JSON output (``lldpctl -f json`` / ``lldpcli -f json show neighbors``).

    Parameters
    ----------
    text
        One lldpd document, or a JSON object mapping device names to their documents.
    source
        The file name, for error messages.
    local_name
        The name of the device that produced a single document.

    Returns
    -------
    Discovery
        Devices by system name; cable rates from the MAU type where advertised.

    Raises
    ------
    DiscoveryError
        If the text is not JSON or holds no ``lldp.interface`` entry.
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        line = getattr(err, "lineno", None)
        raise DiscoveryError(f"not JSON: {getattr(err, 'msg', err)}", source=source,
                             line=line) from err
    if isinstance(doc, dict) and "lldp" in doc:
        docs = [(local_name, doc)]
    elif isinstance(doc, dict) and doc and all(
            isinstance(v, dict) and "lldp" in v for v in doc.values()):
        docs = [(str(k), v) for k, v in doc.items()]
    else:
        raise DiscoveryError(
            "not lldpd JSON: expected {\"lldp\": {\"interface\": ...}} or an object mapping "
            "device names to such documents", source=source)
    devices: dict[str, Device] = {}
    cables: list[Cable] = []
    skipped = 0
    bridges: set[str] = set()
    for local, document in docs:
        lldp = document.get("lldp")
        interfaces = _items(lldp.get("interface", [])) if isinstance(lldp, dict) else []
        local_ports = []
        for ifname, entry in interfaces:
            if not isinstance(entry, dict):
                continue
            if _MGMT_HOST.match(ifname):
                skipped += 1
                continue
            chassis_items = _items(entry.get("chassis", {}))
            if not chassis_items:
                continue
            name, chassis = chassis_items[0]
            if isinstance(chassis, dict) and "name" in chassis and name == chassis.get("name"):
                name = _value(chassis["name"])
            chassis = chassis if isinstance(chassis, dict) else {}
            if name in ("id", ""):
                name = _value(chassis.get("id")) or "unknown"
            port = entry.get("port", {}) if isinstance(entry.get("port"), dict) else {}
            port_id = _value(port.get("id")) or _value(port.get("descr"))
            autoneg = port.get("auto-negotiation", {})
            current = autoneg.get("current", "") if isinstance(autoneg, dict) else ""
            rate = mau_rate_gbps(_value(current) if not isinstance(current, str) else current)
            if _is_bridge(chassis):
                bridges.add(name)
            devices.setdefault(name, Device(key=name, kind="host",
                                            description=_value(chassis.get("descr")) or name))
            local_ports.append(ifname)
            cables.append(Cable(a=local, a_port=canonical_port(ifname), b=name,
                                b_port=canonical_port(port_id), rate_gbps=rate))
        local_is_switch = any(_SWITCH_PORT.match(p) for p in local_ports)
        devices[local] = Device(key=local, kind="switch" if local_is_switch else "host",
                                description=local)
    if not cables:
        raise DiscoveryError("no LLDP neighbour in the document (lldp.interface is empty)",
                             source=source)
    devices = {k: _with_kind(d, "switch") if k in bridges else d for k, d in devices.items()}
    notes = ["switch or host told from the LLDP Bridge/Router capability and port names"]
    if skipped:
        notes.append(f"{skipped} management-port neighbour(s) skipped")
    unique, disagree = dedupe_cables(cables)
    notes += disagreement_note(disagree)
    return Discovery(format="lldp-json", medium="ethernet", devices=devices,
                     cables=unique, notes=tuple(notes))


def _with_kind(device: Device, kind: str) -> Device:
    return Device(key=device.key, kind=kind, description=device.description,
                  num_ports=device.num_ports)


# ---------------------------------------------------------------------------------- tables


def looks_like_lldp_table(text: str) -> bool:
    """Whether ``text`` has a SONiC, NX-OS or EOS LLDP neighbour table header."""
    return any(h.match(line) for line in text.splitlines()[:400] for h in _HEADERS.values())


def parse_lldp_table(text: str, *, source: str = "", local_name: str = "local") -> Discovery:
    """Parse ``show lldp table`` (SONiC) or ``show lldp neighbors`` (NX-OS, EOS) output.

    Parameters
    ----------
    text
        One or more tables; each after an optional CLI prompt line naming its device.
    source
        The file name, for error messages.
    local_name
        The device name of a table without a prompt line.

    Returns
    -------
    Discovery
        Devices by name; the devices that own a table are switches, neighbours advertising the
        Bridge or Router capability (``B``/``R``) too. No rates (LLDP tables carry none).

    Raises
    ------
    DiscoveryError
        On the first line that is neither a prompt, a header, a table row nor a known banner
        line, naming the line; or when no neighbour is found.
    """
    local = local_name
    style: str | None = None
    devices: dict[str, Device] = {}
    cables: list[Cable] = []
    skipped = 0
    pending_device: str | None = None
    switches: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip() or _SKIP.match(line.strip()):
            continue
        prompt = _PROMPT.match(line.strip())
        if prompt:
            local, style = prompt.group("host"), None
            continue
        header = next((name for name, h in _HEADERS.items() if h.match(line)), None)
        if header:
            style = header
            switches.add(local)
            devices.setdefault(local, Device(key=local, kind="switch", description=local))
            continue
        if style is None:
            raise DiscoveryError(
                f"not part of an LLDP neighbour table: {line.strip()[:60]!r} (expected a CLI "
                f"prompt, a SONiC/NX-OS/EOS table header or a row)", source=source, line=number)
        stripped = line.strip()
        row = _ROWS[style].match(stripped)
        caps = ""
        if row is not None and style == "sonic":
            local_port, neighbor, remote_port, caps = row.group(1, 2, 3, 4)
        elif row is not None and style == "nxos":
            neighbor, local_port, caps, remote_port = row.group(1, 2, 4, 5)
        elif row is not None:
            local_port, neighbor, remote_port = row.group(1, 2, 3)
        elif style == "nxos" and len(stripped.split()) == 1:
            pending_device = stripped  # a long Device ID on a line of its own
            continue
        elif style == "nxos" and pending_device and (continued := _NXOS_CONTINUED.match(line)):
            neighbor, local_port, caps, remote_port = (
                pending_device, continued.group(1), continued.group(3), continued.group(4))
            pending_device = None
        else:
            raise DiscoveryError(
                f"not a row of the {style} LLDP table: {stripped[:60]!r}", source=source,
                line=number)
        caps = caps or ""
        if _MGMT.match(local_port):
            skipped += 1
            continue
        if "B" in caps or "R" in caps or (style == "eos" and _SWITCH_PORT.match(
                canonical_port(remote_port))):
            switches.add(neighbor)  # EOS has no capability column: the peer's port name
        devices.setdefault(neighbor, Device(key=neighbor, kind="host", description=neighbor))
        cables.append(Cable(a=local, a_port=canonical_port(local_port), b=neighbor,
                            b_port=canonical_port(remote_port), line=number))
    if not cables:
        raise DiscoveryError("no LLDP neighbour row found", source=source)
    devices = {k: _with_kind(d, "switch") if k in switches else d for k, d in devices.items()}
    notes = ["link rates are not in LLDP tables", "switch or host told from the table owner, "
             "the Bridge/Router capability, or (EOS) a switch-style peer port name"]
    if skipped:
        notes.append(f"{skipped} management-port neighbour(s) skipped")
    unique, disagree = dedupe_cables(cables)
    notes += disagreement_note(disagree)
    return Discovery(format="lldp-table", medium="ethernet", devices=devices,
                     cables=unique, notes=tuple(notes))
