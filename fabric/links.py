"""Link classes: the names a calibration's per-link efficiencies may use besides catalog link keys.

A fabric's edges carry a catalog ``link`` key (``nvlink4``, ``ndr400``, ...). Measurements rarely
know those: a benchmark log says only which ranks shared a host. So the generic fabric built
from a log (:mod:`topologies.generic`) names its two link types by class, and a calibration
fitted on it applies by class to any built fabric:

* ``host-internal`` (alias ``scale-up``): edges into or out of a tier-0 (scale-up) switch, the
  NVLink / xGMI / PCIe path inside a server or rack;
* ``network`` (alias ``scale-out``): every other edge, the NICs and the switched network.

>>> link_class(0, 1), link_class(1, 2)
('host-internal', 'network')
"""

from __future__ import annotations

__all__ = [
    "HOST_LINK",
    "NETWORK_LINK",
    "SCALEUP_CLASSES",
    "SCALEOUT_CLASSES",
    "LINK_CLASSES",
    "link_class",
]

#: The link key of the generic fabric's edges inside a host (tier-0 switch edges).
HOST_LINK = "host-internal"
#: The link key of the generic fabric's network edges.
NETWORK_LINK = "network"
#: Names that select the scale-up class (edges touching a tier-0 switch).
SCALEUP_CLASSES: tuple[str, ...] = ("scale-up", HOST_LINK)
#: Names that select the scale-out class (every other edge).
SCALEOUT_CLASSES: tuple[str, ...] = ("scale-out", NETWORK_LINK)
#: Every class name a calibration may use.
LINK_CLASSES: tuple[str, ...] = SCALEUP_CLASSES + SCALEOUT_CLASSES


def link_class(src_tier: int, dst_tier: int) -> str:
    """The class of an edge from a node of tier ``src_tier`` to one of ``dst_tier``.

    Tiers as in the graph conventions: 0 is a scale-up switch, -1 a GPU or NIC, 1+ scale-out
    switches. An edge touching a tier-0 switch is ``host-internal``; any other is ``network``.
    """
    return HOST_LINK if src_tier == 0 or dst_tier == 0 else NETWORK_LINK
