"""Import the fabric that is racked, from the dumps of discovery tools.

One module per format parses a tool's text into a :class:`~topologies.discovery.model.Discovery`
(switches, hosts, cables with trained width and speed); :mod:`topologies.discovery.build` turns it
into a fabric graph (tiers, switch models, GPUs, notes on what was inferred);
:func:`import_fabric` does both, and :func:`detect_format` sniffs which format a text is.

Formats: ``ibnetdiscover`` (topology file and ``-p`` ports report), ``iblinkinfo``,
``lldp-json`` (lldpd's ``lldpctl -f json``) and ``lldp-table`` (SONiC ``show lldp table``,
NX-OS/EOS ``show lldp neighbors``). A server's insides come from ``nccl-xml`` (an
``NCCL_TOPO_DUMP_FILE``) or ``nvidia-smi`` (``nvidia-smi topo -m``), see
:mod:`topologies.discovery.server`.

>>> detect_format('Switch 36 "S-0002c9020046c588"  # "sw" base port 0 lid 2 lmc 0')
'ibnetdiscover'
>>> detect_format('{"lldp": {"interface": []}}')
'lldp-json'
"""

from __future__ import annotations

from pathlib import Path

from fabric.catalog import Catalog
from topologies.discovery.build import (
    IMPORTED_TOPOLOGY,
    ImportResult,
    ServerDescription,
    discovery_fabric,
    select_hosts,
)
from topologies.discovery.iblinkinfo import looks_like_iblinkinfo, parse_iblinkinfo
from topologies.discovery.ibnetdiscover import looks_like_ibnetdiscover, parse_ibnetdiscover
from topologies.discovery.lldp import looks_like_lldp_table, parse_lldp_json, parse_lldp_table
from topologies.discovery.model import Cable, Device, Discovery, DiscoveryError
from topologies.discovery.server import (
    looks_like_nccl_xml,
    looks_like_nvidia_smi,
    parse_server,
)

__all__ = [
    "FABRIC_FORMATS",
    "SERVER_FORMATS",
    "FORMATS",
    "IMPORTED_TOPOLOGY",
    "Cable",
    "Device",
    "Discovery",
    "DiscoveryError",
    "ImportResult",
    "ServerDescription",
    "detect_format",
    "parse_discovery",
    "parse_server",
    "discovery_fabric",
    "select_hosts",
    "import_fabric",
    "read_dump",
]

#: Formats that describe a fabric (switches and cables).
FABRIC_FORMATS = ("ibnetdiscover", "iblinkinfo", "lldp-json", "lldp-table")
#: Formats that describe one server's insides.
SERVER_FORMATS = ("nccl-xml", "nvidia-smi")
#: Every format :func:`detect_format` can return.
FORMATS = FABRIC_FORMATS + SERVER_FORMATS
#: Largest dump read (a 100k-port fabric's ibnetdiscover is ~20 MB).
MAX_DUMP_BYTES = 512 * 1024**2


def detect_format(text: str, *, source: str = "") -> str:
    """The format of a dump, sniffed from its text.

    Raises
    ------
    DiscoveryError
        If the text is none of :data:`FORMATS`, naming its first non-blank line.
    """
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return "lldp-json"
    if looks_like_nccl_xml(text):
        return "nccl-xml"
    if looks_like_nvidia_smi(text):
        return "nvidia-smi"
    if looks_like_iblinkinfo(text):
        return "iblinkinfo"
    if looks_like_ibnetdiscover(text):
        return "ibnetdiscover"
    if looks_like_lldp_table(text):
        return "lldp-table"
    number, first = next(
        ((i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()),
        (None, ""),
    )
    raise DiscoveryError(
        f"format not recognized (first line {first[:60]!r}); known formats: "
        f"{', '.join(FORMATS)}", source=source, line=number)


def parse_discovery(
    text: str, format: str = "auto", *, source: str = "", local_name: str = "local"
) -> Discovery:
    """Parse a fabric dump of ``format`` (or detect it with ``"auto"``).

    Raises
    ------
    DiscoveryError
        If the format is unknown, a server format, or the text is not understood.
    """
    fmt = detect_format(text, source=source) if format == "auto" else format
    if fmt == "ibnetdiscover":
        return parse_ibnetdiscover(text, source=source)
    if fmt == "iblinkinfo":
        return parse_iblinkinfo(text, source=source)
    if fmt == "lldp-json":
        return parse_lldp_json(text, source=source, local_name=local_name)
    if fmt == "lldp-table":
        return parse_lldp_table(text, source=source, local_name=local_name)
    if fmt in SERVER_FORMATS:
        raise DiscoveryError(f"{fmt} describes one server, not a fabric: give it as the server "
                             f"description (--server) of a fabric dump", source=source)
    raise DiscoveryError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}",
                         source=source)


def read_dump(path: str | Path) -> str:
    """The text of a dump file (UTF-8, undecodable bytes replaced).

    Raises
    ------
    OSError
        If the file cannot be read.
    DiscoveryError
        If it is larger than :data:`MAX_DUMP_BYTES` or holds NUL bytes (a binary file).
    """
    path = Path(path)
    if path.stat().st_size > MAX_DUMP_BYTES:
        raise DiscoveryError(f"file larger than {MAX_DUMP_BYTES // 1024**2} MiB", source=str(path))
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise DiscoveryError("binary file (NUL bytes): not a discovery dump", source=str(path))
    return raw.decode("utf-8", errors="replace")


def import_fabric(
    path: str | Path,
    format: str = "auto",
    *,
    catalog: Catalog | None = None,
    gpu: str = "h100",
    default_rate_gbps: float | None = None,
    server: ServerDescription | None = None,
    hosts: str | None = None,
) -> ImportResult:
    """Read, parse and build the fabric of a discovery dump file.

    Parameters
    ----------
    path
        The dump.
    format
        One of :data:`FABRIC_FORMATS` or ``"auto"``.
    catalog, gpu, default_rate_gbps, server
        As :func:`topologies.discovery.build.discovery_fabric`.
    hosts
        A regular expression: only the hosts whose name matches it are kept
        (:func:`topologies.discovery.build.select_hosts`); None keeps all.

    Returns
    -------
    ImportResult
        The validated graph and the notes on what was inferred.

    Raises
    ------
    OSError
        If the file cannot be read.
    DiscoveryError
        (a ValueError) If the dump is not understood, naming the line.
    """
    source = str(path)
    text = read_dump(path)
    discovery = parse_discovery(text, format, source=source, local_name=Path(path).stem)
    if hosts is not None:
        discovery = select_hosts(discovery, hosts)
    try:
        return discovery_fabric(discovery, catalog=catalog, gpu=gpu,
                                default_rate_gbps=default_rate_gbps, server=server,
                                name=Path(path).stem)
    except DiscoveryError as err:
        raise DiscoveryError(err.detail, source=source, line=err.line) from err
