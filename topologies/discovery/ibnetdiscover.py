"""``ibnetdiscover`` output: the topology file (default) and the ports report (``-p``).

The topology file lists each node once (``Switch 36 "S-<guid>" # "<NodeDescription>" ...``,
``Ca 1 "H-<guid>" # "<NodeDescription>"``) followed by one line per connected port:
``[<port>] "S-<peer guid>"[<peer port>] # ... "<peer description>" lid <n> 4xNDR``. The
format is described in the TOPOLOGY FILE FORMAT section of ibnetdiscover(8) (linux-rdma/rdma-core,
``infiniband-diags/man/common/sec_topology-file.rst``). The ports report prints one line per port:
``SW  1719 10 0x<guid> 4x EDR - CA   134  1 0x<guid> ( 'desc' - 'peer desc' )``.

Every cable appears from both ends; it is kept once. A line that is none of these is refused
with its number.

>>> text = '''
... Switch  8 "S-0000000000200001"   # "leaf1" base port 0 lid 3 lmc 0
... [1]     "H-0000000000100000"[1](100001)   # "node1 mlx5_0" lid 2 4xNDR
... [3]     "S-0000000000200000"[3]           # "spine1" lid 1 2xNDR
... '''
>>> d = parse_ibnetdiscover(text)
>>> d.num_switches, d.num_hosts, [(c.width, c.speed, c.rate_gbps) for c in d.cables]
(2, 1, [(4, 'NDR', 400.0), (2, 'NDR', 200.0)])
"""

from __future__ import annotations

import re

from topologies.discovery.model import (
    Cable,
    Device,
    Discovery,
    DiscoveryError,
    dedupe_cables,
    diagnostic_note,
    disagreement_note,
    ib_rate_gbps,
    is_diagnostic,
    normalize_guid,
)

__all__ = ["parse_ibnetdiscover", "looks_like_ibnetdiscover"]

_HEX = r"(?:0x)?([0-9a-fA-F]+)"
_NODE = re.compile(
    r'^(Switch|Ca|Rt)\s+(\d+)\s+"([SHR])-' + _HEX + r'"\s*(?:#\s*"(.*?)")?(.*)$'
)
_PORT_GUID = r"(?:\((?:0x)?[0-9a-fA-F]+\))?"
_LINK = re.compile(
    r"^\[(\d+)\](?:\[[^\]]*\])?" + _PORT_GUID + r"\s+"
    r'"([SHR])-' + _HEX + r'"\[(\d+)\](?:\[[^\]]*\])?' + _PORT_GUID
    + r'\s*(?:#\s*(?:lid\s+\d+\s+lmc\s+\d+\s+)?"(.*)"(?:\s+lid\s+\d+)?(?:\s+(\d+)x(\w+))?)?\s*$'
)
_PORTS = re.compile(
    r"^(CA|SW|RT)\s+(\d+)\s+(\d+)\s+0x([0-9a-fA-F]+)\s+(\d+)x\s+(\w+)\s+-\s+"
    r"(CA|SW|RT)\s+(\d+)\s+(\d+)\s+0x([0-9a-fA-F]+)\s+\(\s*'(.*)'\s+-\s+'(.*)'\s*\)\s*$"
)
_PORTS_DOWN = re.compile(r"^(CA|SW|RT)\s+\d+\s+\d+\s+0x[0-9a-fA-F]+\s+\S+\s+\?\?\?\s+'.*'\s*$")
_KEY_VALUE = re.compile(r"^\w+=\S*$")
_CHASSIS = re.compile(r"^(Non-Chassis Nodes|Chassis\s+\S.*)$")


def looks_like_ibnetdiscover(text: str) -> bool:
    """Whether ``text`` has an ibnetdiscover node header, guid line or ports-report line."""
    for line in text.splitlines()[:400]:
        s = line.strip()
        if _NODE.match(s) or s.startswith(("switchguid=", "caguid=")) or _PORTS.match(s):
            return True
    return False


def _kind(letter: str) -> str:
    return "switch" if letter in ("S", "SW") else "host"


def _cable(
    a: str, a_port: str, b: str, b_port: str, width: str | None, speed: str | None, line: int,
    source: str,
) -> Cable:
    if width is None or speed is None:
        return Cable(a=a, a_port=a_port, b=b, b_port=b_port, line=line)
    try:
        rate = ib_rate_gbps(int(width), speed.upper())
    except ValueError as err:
        raise DiscoveryError(f"link rate {width}x{speed} not understood: {err}", source=source,
                             line=line) from err
    return Cable(a=a, a_port=a_port, b=b, b_port=b_port, width=int(width),
                 speed=speed.upper(), rate_gbps=rate, line=line)


def parse_ibnetdiscover(text: str, *, source: str = "") -> Discovery:
    """Parse ``ibnetdiscover`` output (topology file or ``-p`` ports report).

    Parameters
    ----------
    text
        The tool's output.
    source
        The file name, for error messages.

    Returns
    -------
    Discovery
        Switches and channel adapters (``host``) by node GUID; routers are kept as switches.

    Raises
    ------
    DiscoveryError
        On the first line that is neither a node header, a link, a ``key=value`` line, a chassis
        heading nor a comment, naming the line; or when no node is found at all.
    """
    devices: dict[str, Device] = {}
    cables: list[Cable] = []
    notes: list[str] = []
    diagnostics = 0
    current: str | None = None
    routers = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _KEY_VALUE.match(line) or _CHASSIS.match(line):
            continue
        if is_diagnostic(line):
            diagnostics += 1
            continue
        node = _NODE.match(line)
        if node:
            kind_word, ports, letter, guid, desc = node.group(1, 2, 3, 4, 5)
            current = normalize_guid(guid)
            routers += kind_word == "Rt"
            devices[current] = Device(
                key=current, kind=_kind(letter), description=desc or "", num_ports=int(ports)
            )
            continue
        link = _LINK.match(line)
        if link:
            if current is None:
                raise DiscoveryError("a link line before any node header", source=source,
                                     line=number)
            port, letter, peer, peer_port, desc, width, speed = link.groups()
            peer = normalize_guid(peer)
            if peer not in devices:
                devices[peer] = Device(key=peer, kind=_kind(letter), description=desc or "")
            cables.append(_cable(current, port, peer, peer_port, width, speed, number, source))
            continue
        ports_line = _PORTS.match(line)
        if ports_line:
            g = ports_line.groups()
            a, b = normalize_guid(g[3]), normalize_guid(g[9])
            for key, letter, desc in ((a, g[0], g[10]), (b, g[6], g[11])):
                if key not in devices:
                    devices[key] = Device(key=key, kind=_kind(letter), description=desc)
            cables.append(_cable(a, g[2], b, g[8], g[4], g[5], number, source))
            continue
        if _PORTS_DOWN.match(line):
            continue
        raise DiscoveryError(
            f"not an ibnetdiscover line: {line[:60]!r} (expected a Switch/Ca header, a "
            f"'[port] \"S-guid\"[port]' link, a key=value line or a -p ports line)",
            source=source, line=number,
        )
    if not devices:
        raise DiscoveryError("no ibnetdiscover node (Switch/Ca header or ports line) found",
                             source=source)
    if routers:
        notes.append(f"{routers} InfiniBand router(s) modeled as switches")
    unrated = sum(1 for c in cables if c.rate_gbps is None)
    if unrated:
        notes.append(f"{unrated} link(s) without width and speed in the dump")
    unique, disagree = dedupe_cables(cables)
    notes += disagreement_note(disagree) + diagnostic_note(diagnostics)
    return Discovery(format="ibnetdiscover", medium="infiniband", devices=devices,
                     cables=unique, notes=tuple(notes))
