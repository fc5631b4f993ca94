"""``iblinkinfo`` output: one line per port, grouped under a ``Switch:`` or ``CA:`` header.

A port line reads ``<lid> <port>[  ] ==( 4X 106.25 Gbps Active/  LinkUp)==> <peer lid>
<peer port>[  ] "<peer description>" ( )``: the width, the per-lane *signalling* rate (106.25
Gb/s is NDR, whose nominal rate is 100 Gb/s per lane), the states and the peer. Ports that are
down (``==(  Down/ Polling)==>``) are skipped. CA lines start with the port GUID, and
``iblinkinfo -l`` prints the node GUID and description at the start of every line; both are
read. Devices are matched by LID: a switch has one LID for all its ports, a CA port its own.
See iblinkinfo(8) (linux-rdma/rdma-core, ``infiniband-diags/man/iblinkinfo.8.in.rst``).

>>> text = '''
... Switch: 0x0002c9020046c588 Infiniscale-IV Mellanox Technologies:
...    2    1[  ] ==( 4X   10.0 Gbps Active/  LinkUp)==>   6    1[  ] "ip-211 mlx4_0" ( )
...    2    2[  ] ==(         Down/ Polling)==>         [  ] "" ( )
... CA: ip-211 mlx4_0:
...    0x0002c90300293e1f  6  1[  ] ==( 4X  10.0 Gbps Active/  LinkUp)==>  2  1[  ] "sw" ( )
... '''
>>> d = parse_iblinkinfo(text)
>>> d.num_switches, d.num_hosts, [(c.width, c.speed, c.rate_gbps) for c in d.cables]
(1, 1, [(4, 'QDR', 40.0)])
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
    ib_speed_of_lane_gbps,
    is_diagnostic,
    normalize_guid,
)

__all__ = ["parse_iblinkinfo", "looks_like_iblinkinfo"]

_SWITCH = re.compile(r"^Switch:?\s+0x([0-9a-fA-F]+)\s+(.*?):?\s*$")
_CA = re.compile(r"^CA:\s+(.*?):?\s*$")
_LINK = re.compile(
    r"^(?:0x(?P<guid>[0-9a-fA-F]+)\s+(?:\"(?P<desc>.*?)\"\s+)?)?"
    r"(?P<lid>\d+)\s+(?P<port>\d+)\[[^\]]*\]\s*==\(\s*(?P<body>[^)]*)\)==>\s*"
    r"(?:0x(?P<peer_guid>[0-9a-fA-F]+)\s+)?(?P<peer_lid>\d+)?\s*(?P<peer_port>\d+)?"
    r"\[[^\]]*\]\s*\"(?P<peer_desc>.*)\"\s*\(.*\)\s*$"
)
_BODY = re.compile(r"^(\d+)X\s+([\d.]+)\s*Gbps\s+(\w+)\s*/\s*(\w+)")
_SWITCH_HINTS = ("switch", "mellanox technologies", "mf0;", "quantum", "infiniscale", "voltaire")


def looks_like_iblinkinfo(text: str) -> bool:
    """Whether ``text`` has an iblinkinfo port line (``...)==>``)."""
    return any(")==>" in line and "==(" in line for line in text.splitlines()[:400])


def parse_iblinkinfo(text: str, *, source: str = "") -> Discovery:
    """Parse ``iblinkinfo`` output (grouped or ``-l`` one-line form).

    Parameters
    ----------
    text
        The tool's output.
    source
        The file name, for error messages.

    Returns
    -------
    Discovery
        Switches keyed by node GUID, CAs by port GUID (or LID when only the peer end names them).

    Raises
    ------
    DiscoveryError
        On the first line that is neither a header, a port line nor blank, naming the line; or
        when no active link is found.
    """
    by_lid: dict[str, str] = {}
    devices: dict[str, Device] = {}
    pending: list[tuple[str, str, str, str, str, int, int, str, str]] = []
    notes: list[str] = []
    diagnostics = 0
    current: str | None = None
    current_kind = "host"
    current_desc = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if is_diagnostic(line):
            diagnostics += 1
            continue
        header = _SWITCH.match(line)
        if header and "==(" not in line:
            current, current_kind, current_desc = normalize_guid(header.group(1)), "switch", \
                header.group(2)
            devices[current] = Device(key=current, kind="switch", description=current_desc)
            continue
        header = _CA.match(line)
        if header and "==(" not in line:
            current, current_kind, current_desc = None, "host", header.group(1)
            continue
        link = _LINK.match(line)
        if not link:
            raise DiscoveryError(
                f"not an iblinkinfo line: {line[:60]!r} (expected a 'Switch: 0x...' or 'CA: ...' "
                f"header or a '<lid> <port>[ ] ==( ... )==> ...' port line)",
                source=source, line=number,
            )
        body = _BODY.match(link["body"].strip())
        if body is None or link["peer_lid"] is None:
            continue  # a port that is down or polling: no cable
        if body.group(3) not in ("Active", "Armed", "Init") and body.group(4) != "LinkUp":
            continue
        lid = link["lid"]
        if link["desc"] is not None:  # -l form: the node on every line
            key = normalize_guid(link["guid"])
            kind = "switch" if current_kind == "switch" and key == current else _guess(
                link["desc"])
            devices.setdefault(key, Device(key=key, kind=kind, description=link["desc"].strip()))
        elif current is not None and current_kind == "switch":
            key = current
        else:
            key = normalize_guid(link["guid"]) if link["guid"] else f"lid{lid}"
            devices.setdefault(key, Device(key=key, kind="host", description=current_desc))
        by_lid[lid] = key
        try:
            speed = ib_speed_of_lane_gbps(float(body.group(2)))
        except ValueError as err:
            raise DiscoveryError(str(err), source=source, line=number) from err
        width = int(body.group(1))
        pending.append((key, link["port"], link["peer_lid"], link["peer_port"] or "",
                        link["peer_desc"], width, number, speed, link["peer_guid"] or ""))
    cables: list[Cable] = []
    guessed = 0
    for key, port, peer_lid, peer_port, peer_desc, width, number, speed, peer_guid in pending:
        peer = by_lid.get(peer_lid)
        if peer is None:
            peer = normalize_guid(peer_guid) if peer_guid else f"lid{peer_lid}"
            if peer not in devices:
                guessed += 1
                devices[peer] = Device(key=peer, kind=_guess(peer_desc), description=peer_desc)
            by_lid[peer_lid] = peer
        try:
            rate = ib_rate_gbps(width, speed)
        except ValueError as err:
            raise DiscoveryError(str(err), source=source, line=number) from err
        cables.append(Cable(a=key, a_port=port, b=peer, b_port=peer_port, width=width,
                            speed=speed, rate_gbps=rate, line=number))
    if not cables:
        raise DiscoveryError("no active link found in the iblinkinfo output", source=source)
    if guessed:
        notes.append(f"{guessed} device(s) seen only as a link's far end: switch or host "
                     f"guessed from the description")
    unique, disagree = dedupe_cables(cables)
    notes += disagreement_note(disagree) + diagnostic_note(diagnostics)
    return Discovery(format="iblinkinfo", medium="infiniband", devices=devices,
                     cables=unique, notes=tuple(notes))


def _guess(description: str) -> str:
    low = description.lower()
    return "switch" if any(hint in low for hint in _SWITCH_HINTS) else "host"
