"""What every discovery parser returns: devices, cables and their trained rates.

A parser turns one tool's text into a :class:`Discovery`: the devices it saw (switches and
hosts, keyed by a stable id: the node GUID on InfiniBand, the LLDP system name on Ethernet) and
the cables between their ports, each once, with the width and lane speed it trained at where the
tool reports them. :mod:`topologies.discovery.build` turns that into a fabric graph.

InfiniBand rates are the nominal signalling names of the InfiniBand Trade Association roadmap
(per lane: SDR 2.5, DDR 5, QDR 10, FDR10 10, FDR 14, EDR 25, HDR 50, NDR 100, XDR 200 Gb/s;
https://www.infinibandta.org/infiniband-roadmap/, retrieved 2026-12-04), so ``4x NDR`` is the
400 Gb/s that NVIDIA sells as NDR 400G:

>>> ib_rate_gbps(4, "NDR"), ib_rate_gbps(4, "EDR"), ib_rate_gbps(2, "NDR")
(400.0, 100.0, 200.0)
>>> ib_speed_of_lane_gbps(106.25), ib_speed_of_lane_gbps(25.78125)
('NDR', 'EDR')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DiscoveryError",
    "Device",
    "Cable",
    "Discovery",
    "dedupe_cables",
    "disagreement_note",
    "IB_LANE_GBPS",
    "IB_SIGNALLING_GBPS",
    "ib_rate_gbps",
    "ib_speed_of_lane_gbps",
    "normalize_guid",
    "is_diagnostic",
    "diagnostic_note",
    "speed_rank",
]

#: Nominal data rate per lane (Gb/s) of each InfiniBand speed, as the link names count it.
IB_LANE_GBPS: dict[str, float] = {
    "SDR": 2.5,
    "DDR": 5.0,
    "QDR": 10.0,
    "FDR10": 10.0,
    "FDR": 14.0,
    "EDR": 25.0,
    "HDR": 50.0,
    "NDR": 100.0,
    "XDR": 200.0,
}
#: Signalling rate per lane (Gb/s) that ``iblinkinfo`` prints for each speed.
IB_SIGNALLING_GBPS: dict[str, float] = {
    "SDR": 2.5,
    "DDR": 5.0,
    "QDR": 10.0,
    "FDR10": 10.3125,
    "FDR": 14.0625,
    "EDR": 25.78125,
    "HDR": 53.125,
    "NDR": 106.25,
    "XDR": 212.5,
}
_SPEED_ORDER = tuple(IB_LANE_GBPS)


class DiscoveryError(ValueError):
    """A discovery dump that could not be understood: one line, with the file and line number."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None):
        where = source if line is None else f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.detail = message
        self.source = source
        self.line = line


def ib_rate_gbps(width: int, speed: str) -> float:
    """The nominal rate (Gb/s) of a link of ``width`` lanes at InfiniBand ``speed``.

    Raises
    ------
    ValueError
        If ``speed`` is not one of SDR, DDR, QDR, FDR10, FDR, EDR, HDR, NDR, XDR or ``width``
        is not 1, 2, 4, 8 or 12.
    """
    if speed not in IB_LANE_GBPS:
        raise ValueError(f"speed must be one of {', '.join(IB_LANE_GBPS)}, got {speed!r}")
    if width not in (1, 2, 4, 8, 12):
        raise ValueError(f"width must be 1, 2, 4, 8 or 12 lanes, got {width!r}")
    return width * IB_LANE_GBPS[speed]


def ib_speed_of_lane_gbps(lane_gbps: float) -> str:
    """The InfiniBand speed whose per-lane signalling rate is nearest ``lane_gbps``.

    ``iblinkinfo`` prints the signalling rate (``25.78125 Gbps`` for EDR); some builds round it
    (``25.78``), so the nearest within 5% is taken.

    Raises
    ------
    ValueError
        If no speed is within 5% of ``lane_gbps``.
    """
    best = min(IB_SIGNALLING_GBPS, key=lambda s: abs(IB_SIGNALLING_GBPS[s] - lane_gbps))
    if abs(IB_SIGNALLING_GBPS[best] - lane_gbps) > 0.05 * IB_SIGNALLING_GBPS[best]:
        raise ValueError(f"no InfiniBand speed signals at {lane_gbps} Gb/s per lane")
    return best


def speed_rank(speed: str) -> int:
    """Order of an InfiniBand speed name (SDR 0 ... XDR 8); -1 for an unknown or empty one."""
    return _SPEED_ORDER.index(speed) if speed in _SPEED_ORDER else -1


_DIAGNOSTIC = re.compile(r"^(?:ib(?:warn|debug|error|panic)\b|[\w./-]+\.c:\d+[;:])")


def is_diagnostic(line: str) -> bool:
    """Whether a line is a diagnostic the infiniband-diags tools print on stderr
    (``ibwarn: ...``, ``src/query_smp.c:195; umad ... timed out``), often captured with the
    output.

    >>> is_diagnostic("src/query_smp.c:195; umad (DR path slid 0) bad status 110")
    True
    >>> is_diagnostic('Switch 36 "S-e41d2d030003e470" # "SwitchIB"')
    False
    """
    return bool(_DIAGNOSTIC.match(line))


def diagnostic_note(count: int) -> list[str]:
    """The note for skipped diagnostic lines (none for 0)."""
    return [f"{count} tool diagnostic line(s) (stderr: timeouts, warnings) skipped; the part "
            f"of the fabric they concern may be missing"] if count else []


def normalize_guid(text: str) -> str:
    """A GUID as 16 lower-case hex digits, with or without ``0x`` and leading zeros.

    >>> normalize_guid("0x5442ba00003080"), normalize_guid("005442BA00003080")
    ('005442ba00003080', '005442ba00003080')
    """
    return f"{int(text, 16):016x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One switch or host (a channel adapter on InfiniBand) a dump names.

    Attributes
    ----------
    key
        Stable id: the node GUID (InfiniBand) or the system name (LLDP).
    kind
        ``switch`` or ``host``.
    description
        The NodeDescription or LLDP system name/description, as printed.
    num_ports
        Ports the device reports (the ``Switch 36`` of ibnetdiscover), or None if not said.
    """

    key: str
    kind: str
    description: str
    num_ports: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("switch", "host"):
            raise ValueError(f"kind must be 'switch' or 'host', got {self.kind!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Cable:
    """One cable between two device ports, with what it trained at.

    Attributes
    ----------
    a, b
        Device keys of the two ends.
    a_port, b_port
        Port names (numbers on InfiniBand, interface names on Ethernet).
    width
        Active lanes (1, 2, 4, 8, 12) or None where the dump does not say.
    speed
        InfiniBand speed name (``NDR``) or ``""`` (Ethernet, or not said).
    rate_gbps
        The cable's nominal rate in Gb/s, or None where the dump does not say.
    line
        The line of the dump it was read from (1-based).
    """

    a: str
    a_port: str
    b: str
    b_port: str
    width: int | None = None
    speed: str = ""
    rate_gbps: float | None = None
    line: int = 0

    @property
    def ends(self) -> frozenset[tuple[str, str]]:
        """The two (device, port) ends, unordered: the same cable read from either side."""
        return frozenset(((self.a, self.a_port), (self.b, self.b_port)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """A parsed dump: devices by key, each cable once, and what the parser had to guess.

    Attributes
    ----------
    format
        The format name (``ibnetdiscover``, ``iblinkinfo``, ``lldp-json``, ``lldp-table``).
    medium
        ``infiniband`` or ``ethernet``.
    devices
        Device key -> :class:`Device`.
    cables
        Every cable once.
    notes
        What the parser skipped or assumed, one sentence each.
    """

    format: str
    medium: str
    devices: dict[str, Device]
    cables: tuple[Cable, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def num_switches(self) -> int:
        """Switches in the dump."""
        return sum(1 for d in self.devices.values() if d.kind == "switch")

    @property
    def num_hosts(self) -> int:
        """Hosts (channel adapters on InfiniBand) in the dump."""
        return sum(1 for d in self.devices.values() if d.kind == "host")


def dedupe_cables(cables: list[Cable]) -> tuple[tuple[Cable, ...], int]:
    """Each cable once, and how many were reported at different rates from their two ends.

    Dumps list a link from both of its ends. Where the two readings disagree (a stale port
    record, a hand-edited dump), the lower rate is kept: the link cannot run faster than either
    end says.
    """
    kept: dict[frozenset[tuple[str, str]], Cable] = {}
    disagree = 0
    for cable in cables:
        ends = cable.ends
        seen = kept.get(ends)
        if seen is None:
            kept[ends] = cable
        elif seen.rate_gbps != cable.rate_gbps or seen.width != cable.width:
            disagree += 1
            if (cable.rate_gbps or 0) < (seen.rate_gbps or 0):
                kept[ends] = cable
    return tuple(kept.values()), disagree


def disagreement_note(count: int) -> list[str]:
    """The note for :func:`dedupe_cables`' disagreements (none for 0)."""
    if not count:
        return []
    return [f"{count} cable(s) reported at different widths or speeds from their two ends: "
            f"the lower kept"]
