"""NCCL's tuner constants, one table per NCCL release (used by :mod:`collectives.nccl`).

Values are NCCL's own units: latencies in microseconds, bandwidths in GB/s (1e9 bytes/s), per
channel where the name says so. Sources: NVIDIA/nccl (https://github.com/NVIDIA/nccl)
``src/graph/tuning.cc``, ``topo.h``, ``search.cc`` at tag v2.30.7-1 (2026) and the same files at
older tags, cross-checked against two stored NVIDIA/nccl ``tuning.cc`` revisions: one matching
every 2.19 entry below (NVLS NVLink 23 us, NET NVLSTree 14 us, NET CollNet 31/30 us) and
one matching 2.27 (NVLink NVLS 25 us, Blackwell caps = 2 x Hopper, no PAT row).

Where an older tag's value was not read from its source, it is inherited from the nearest
documented version; each such place says so in a comment.

>>> sorted(TABLES)
['2.18', '2.19', '2.21', '2.23', '2.27', '2.30']
>>> [TABLES[v].hw_latencies_us["NVLINK"]["Tree"][2] for v in ("2.19", "2.23")]
[28.0, 4.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "ALGORITHMS",
    "PROTOCOLS",
    "GPU_ARCHS",
    "NcclConstants",
    "TABLES",
    "DEFAULT_VERSION",
    "closest_modeled",
    "release_key",
    "MODELED_RELEASES",
    "constants_for",
    "P2pConstants",
    "P2P_CONSTANTS",
    "NVLINK_PHYSICAL_PER_LINK_BYTES_PER_S",
    "PCI_GBPS",
    "MAX_CHANNELS",
    "MAX_NVLS_ARITY",
    "MAX_DIRECT_ARITY",
]

#: NCCL's algorithm order (``src/include/plugin/nccl_tuner.h``) and spelling (``ncclAlgoStr``).
ALGORITHMS = ("Tree", "Ring", "CollNetDirect", "CollNetChain", "NVLS", "NVLSTree", "PAT")
#: NCCL's protocol order and spelling (``ncclProtoStr``).
PROTOCOLS = ("LL", "LL128", "Simple")
#: Compute-capability classes indexing the cap tables (Volta / Ampere / Hopper / Blackwell).
GPU_ARCHS = ("volta", "ampere", "hopper", "blackwell")

DEFAULT_VERSION = "2.30"

Row = tuple[float, float, float]


def _algo_rows(**rows: Row) -> dict[str, Row]:
    """Every algorithm gets a (LL, LL128, Simple) row; missing ones are zero."""
    out = {a: (0.0, 0.0, 0.0) for a in ALGORITHMS}
    for key, value in rows.items():
        name = {"CND": "CollNetDirect", "CNC": "CollNetChain", "NVLST": "NVLSTree"}.get(key, key)
        out[name] = tuple(float(v) for v in value)  # type: ignore[assignment]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclConstants:
    """One NCCL release's tuner constants (µs, GB/s) and its formula generation.

    Attributes
    ----------
    formula : str
        Which revision of ``ncclTopoTuneModel`` the release uses: ``"2.19"`` (2.18-2.21: NVLS
        bandwidth ``min(bwIntra, bwInter)``, Ring LL x1/4, AllReduce ring inter steps ``2 nNodes``),
        ``"2.23"`` (2.23-2.27: LL x0.5, PAT, Tree NET latency at 1 GPU per node) or ``"2.30"``
        (``nvlsEfficiency`` NVLS model, ``perChMaxNVLSTreeBws``).
    """

    version: str
    formula: str
    base_latencies_us: Mapping[str, Row]
    hw_latencies_us: Mapping[str, dict[str, Row]]
    ll_max_bws: tuple[Row, ...]
    per_ch_max_ring_ll128_bws: Mapping[str, Row]
    per_ch_max_tree_ll128_bws: Mapping[str, Row]
    per_ch_max_tree_bws: Mapping[str, Row]
    per_ch_max_nvls_tree_bws: Mapping[str, Row] | None
    nvls_efficiency: Mapping[str, float]
    tree_correction: Mapping[str, tuple[float, ...]]
    nvlink_per_link_gbps: Mapping[str, float]
    has_blackwell: bool
    speed_ladders: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    ag_rs_algorithms: tuple[str, ...] = ("Ring", "NVLS", "CollNetDirect")

    def ladder(self, arch: str, kind: str) -> tuple[float, ...]:
        """search.cc's speed ladder (``kind`` "intra" or "inter") for a GPU generation."""
        if arch == "blackwell" and self.has_blackwell:
            return self.speed_ladders[f"sm100_{kind}"]
        if arch in ("hopper", "blackwell"):
            return self.speed_ladders[f"sm90_{kind}"]
        return self.speed_ladders[kind]

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Algorithms this release knows (PAT from 2.23 on)."""
        return tuple(a for a in ALGORITHMS if a != "PAT" or "PAT" in self.ag_rs_algorithms)


# --- graph-search link constants (topo.h / topo.cc / search.cc) ------------------------------
#: Physical NVLink rate per link per direction (bytes/s) by GPU generation, to turn a physical
#: per-GPU bandwidth into NCCL's link count: NVLink2/3/4 25 GB/s, NVLink5 50 GB/s.
NVLINK_PHYSICAL_PER_LINK_BYTES_PER_S = {
    "volta": 25e9, "ampere": 25e9, "hopper": 25e9, "blackwell": 50e9,
}
#: NCCL's PCIe x16 bandwidth (GB/s, topo.cc: width x GT/s / 80): Gen3 12, Gen4 24, Gen5 48.
PCI_GBPS = {"volta": 12.0, "ampere": 24.0, "hopper": 48.0, "blackwell": 48.0}
MAX_CHANNELS = 32  # MAXCHANNELS / 2, the ring/tree search limit
MAX_NVLS_ARITY = 32
MAX_DIRECT_ARITY = 8  # NCCL_MAX_DIRECT_ARITY + 1

# --- graph-search speed ladders (search.cc) ---------------------------------------------------
_LADDERS = {
    "intra": (40, 30, 20, 18, 15, 12, 10, 9, 7, 6, 5, 4, 3),
    "inter": (48, 30, 28, 24, 20, 18, 15, 12, 10, 9, 7, 6, 5, 4, 3, 2.4, 1.2, 0.24, 0.12),
    "sm90_intra": (60, 50, 40, 30, 24, 20, 15, 12, 11, 6, 3),
    "sm90_inter": (48, 45, 42, 40, 30, 24, 22, 20, 17.5, 15, 12, 6, 3, 2.4, 1.2, 0.24, 0.12),
    "sm100_intra": (90, 80, 70, 60, 50, 45, 40, 30, 24, 20, 19, 18),
    "sm100_inter": (96, 86, 80, 48, 45.1, 42, 40, 30, 24, 22, 20, 17.5, 15, 12, 6, 3, 2.4, 1.2,
                    0.24, 0.12),
}
_LADDERS = {k: tuple(float(x) for x in v) for k, v in _LADDERS.items()}
# Ladders of releases before 2.27 were not read: the 2.30 pre-Hopper and SM90 ladders are
# inherited; SM100 ladders exist only where Blackwell is modeled (2.27+).
_LADDERS_NO_SM100 = {k: v for k, v in _LADDERS.items() if not k.startswith("sm100")}

_TREE_CORRECTION: dict[str, tuple[float, ...]] = {
    "LL": (1, 1, 1, 1, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1, 1, 1, 1, 1),
    "LL128": (1, 1, 1, 1, 1, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1, 1,
              1),
    "Simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8,
               .9, .9, .9),
}
_TREE_CORRECTION = {k: tuple(float(x) for x in v) for k, v in _TREE_CORRECTION.items()}
# 2.19 and 2.27 sources carry 23 entries (64 B ... 256 MiB); 2.30 has 24. Only the first 23 are
# ever read for Tree, so the shorter tables are the same prefix.
_TREE_CORRECTION_23 = {k: v[:23] for k, v in _TREE_CORRECTION.items()}

_NVLS_EFF = {"volta": 0.0, "ampere": 0.0, "hopper": 0.85, "blackwell": 0.74}

# --- v2.30.7 (tuning.cc, the full table) -----------------------------------------------------
_V230 = NcclConstants(
    version="2.30",
    formula="2.30",
    base_latencies_us=_algo_rows(Tree=(6.8, 14.0, 8.4), Ring=(6.6, 14.0, 8.4), PAT=(8.0, 8.0, 8.0)),
    hw_latencies_us={
        "NVLINK": _algo_rows(Tree=(0.6, 1.25, 4.0), Ring=(0.6, 1.9, 3.4), CND=(0, 0, 3.7),
                             CNC=(0, 0, 2.8), NVLS=(0, 0, 25), NVLST=(0, 0, 25), PAT=(0, 0, 4.0)),
        "PCI": _algo_rows(Tree=(1.0, 1.9, 4.0), Ring=(1.0, 2.5, 5.7), CND=(0, 0, 3.7),
                          CNC=(0, 0, 2.8), PAT=(0, 0, 4.0)),
        "NET": _algo_rows(Tree=(5.0, 8.5, 14), Ring=(2.7, 4.0, 14.0), CND=(0, 0, 31),
                          CNC=(0, 0, 30), NVLS=(0, 0, 18), NVLST=(0, 0, 20.9), PAT=(0, 0, 14)),
    },
    # rows: Volta (1 node) / Intel (multi-node), Ampere / AMD, Hopper, Blackwell
    ll_max_bws=((39.0, 39.0, 20.4), (87.7, 22.5, 19.0), (141.0, 45.0, 35.0), (282.0, 90.0, 70.0)),
    per_ch_max_ring_ll128_bws={"volta": (20, 20, 20), "ampere": (20, 20, 20),
                               "hopper": (36.7, 36.7, 36.7), "blackwell": (40, 40, 40)},
    per_ch_max_tree_ll128_bws={"volta": (20, 20, 20), "ampere": (20, 20, 20),
                               "hopper": (36.7, 36.7, 29.0), "blackwell": (55.6, 31.67, 20.0)},
    per_ch_max_tree_bws={"volta": (26.5, 18.5, 10.0), "ampere": (24.0, 23.6, 17.8),
                         "hopper": (38.7, 41.4, 36.0), "blackwell": (70.0, 42.8, 24.0)},
    per_ch_max_nvls_tree_bws={"volta": (26.5, 18.5, 10.0), "ampere": (24.0, 23.6, 17.8),
                              "hopper": (0.0, 57.7, 45.5), "blackwell": (0.0, 96.0, 80.0)},
    nvls_efficiency=_NVLS_EFF,
    tree_correction=_TREE_CORRECTION,
    # topo.h: SM70/SM80 20.0, SM90 20.6, SM100 40.1 GB/s per NVLink link
    nvlink_per_link_gbps={"volta": 20.0, "ampere": 20.0, "hopper": 20.6, "blackwell": 40.1},
    has_blackwell=True,
    speed_ladders=_LADDERS,
    ag_rs_algorithms=("Ring", "NVLS", "CollNetDirect", "PAT"),
)


def _hopper_x2(table: Mapping[str, Row]) -> dict[str, Row]:
    """2.27 defines the Blackwell caps as twice Hopper's (tuning.cc at v2.27)."""
    out = dict(table)
    out["blackwell"] = tuple(2 * v for v in table["hopper"])  # type: ignore[assignment]
    return out


_HW_227 = {
    "NVLINK": dict(_V230.hw_latencies_us["NVLINK"], PAT=(0.0, 0.0, 0.0)),
    "PCI": dict(_V230.hw_latencies_us["PCI"], PAT=(0.0, 0.0, 0.0)),
    # NET NVLSTree 14 before 2.30's 20.9; PAT row not yet populated (tuning.cc at v2.27)
    "NET": dict(_V230.hw_latencies_us["NET"], NVLSTree=(0.0, 0.0, 14.0), PAT=(0.0, 0.0, 0.0)),
}

# --- v2.27.3: "same tables as 2.23", PAT row empty, Blackwell caps = 2 x Hopper ------------------
_V227 = replace(
    _V230,
    version="2.27",
    formula="2.23",
    base_latencies_us=_algo_rows(Tree=(6.8, 14.0, 8.4), Ring=(6.6, 14.0, 8.4)),
    hw_latencies_us=_HW_227,
    ll_max_bws=_V230.ll_max_bws,  # Blackwell row {2*141, 2*45, 2*35} equals 2.30's
    per_ch_max_ring_ll128_bws=_hopper_x2(_V230.per_ch_max_ring_ll128_bws),
    per_ch_max_tree_ll128_bws=_hopper_x2(_V230.per_ch_max_tree_ll128_bws),
    per_ch_max_tree_bws=_hopper_x2(_V230.per_ch_max_tree_bws),
    per_ch_max_nvls_tree_bws=None,  # 2.27 caps NVLSTree by bwInter/2 beyond 2 nodes, no table
    tree_correction=_TREE_CORRECTION_23,
)

# --- v2.23.4: as 2.27 but no Blackwell class (cc >= 90 is Hopper, SM90 NVLink per link) ---------
# llMaxBws Hopper {141, 45, 35} is inherited from 2.27 (not documented for 2.23).
_V223 = replace(
    _V227,
    version="2.23",
    has_blackwell=False,
    nvlink_per_link_gbps={"volta": 20.0, "ampere": 20.0, "hopper": 20.6, "blackwell": 20.6},
    speed_ladders=_LADDERS_NO_SM100,
)

# --- v2.19.3 (stored tuning.cc matching these 2.19 entries) -----------------------------------
_V219 = replace(
    _V223,
    version="2.19",
    formula="2.19",
    base_latencies_us=_algo_rows(Tree=(6.8, 14.0, 0.0), Ring=(6.6, 14.0, 8.4)),
    hw_latencies_us={
        "NVLINK": _algo_rows(Tree=(0.6, 1.25, 28), Ring=(0.6, 1.9, 3.4), CND=(0, 0, 3.7),
                             CNC=(0, 0, 2.8), NVLS=(0, 0, 23), NVLST=(0, 0, 23)),
        "PCI": _algo_rows(Tree=(1.0, 1.9, 28), Ring=(1.0, 2.5, 5.7), CND=(0, 0, 3.7),
                          CNC=(0, 0, 2.8)),
        # NET Tree Simple 28 in the 2.19 source (14 again from 2.23 on)
        "NET": _algo_rows(Tree=(5.0, 8.5, 28), Ring=(2.7, 4.0, 14.0), CND=(0, 0, 31),
                          CNC=(0, 0, 30), NVLS=(0, 0, 18), NVLST=(0, 0, 14)),
    },
    # Hopper row equal to Ampere's in the 2.19 source; no Blackwell row
    ll_max_bws=((39.0, 39.0, 20.4), (87.7, 22.5, 19.0), (87.7, 22.5, 19.0), (87.7, 22.5, 19.0)),
    nvlink_per_link_gbps={"volta": 20.0, "ampere": 20.0, "hopper": 20.0, "blackwell": 20.0},
    ag_rs_algorithms=("Ring", "NVLS", "CollNetDirect"),
)

# --- v2.21.5: as 2.19 except NVLS/NVLSTree NVLink Simple 25 (tuning.cc at v2.21) ----------------
# SM90 NVLink per link: 20.6 assumed (2.19 is documented at 20.0, 2.30 at 20.6; logs showing
# NVL[370.8] predate 2.23).
_V221 = replace(
    _V219,
    version="2.21",
    hw_latencies_us=dict(
        _V219.hw_latencies_us,
        NVLINK=dict(_V219.hw_latencies_us["NVLINK"], NVLS=(0.0, 0.0, 25.0),
                    NVLSTree=(0.0, 0.0, 25.0)),
    ),
    nvlink_per_link_gbps={"volta": 20.0, "ampere": 20.0, "hopper": 20.6, "blackwell": 20.6},
)

# --- v2.18.3: entries read from tuning.cc at v2.18; the rest inherited from 2.19 -----------------
# CollNet base latencies: not documented for 2.18 (2.12 had {4.4, 4.4, 0}); 2.19's 0 is inherited.
# PCI Tree Simple, NVLink NVLS/NVLSTree hw latency and NET CollNet: inherited from 2.19.
# AllGather/ReduceScatter are assumed Ring-only (NVLS/CollNet for AG/RS arrived with 2.19).
_V218 = replace(
    _V219,
    version="2.18",
    base_latencies_us=_algo_rows(Tree=(6.8, 14.0, 0.0), Ring=(6.6, 14.0, 8.4),
                                 NVLS=(0, 0, 23.0), NVLST=(0, 0, 23.0)),
    hw_latencies_us={
        "NVLINK": dict(_V219.hw_latencies_us["NVLINK"], Tree=(0.6, 1.25, 4.0)),
        "PCI": _V219.hw_latencies_us["PCI"],
        "NET": dict(_V219.hw_latencies_us["NET"], Tree=(5.0, 8.5, 14.0), Ring=(2.7, 4.0, 14.0),
                    NVLS=(0.0, 0.0, 18.0), NVLSTree=(0.0, 0.0, 19.0)),
    },
    ag_rs_algorithms=("Ring",),
)

TABLES: dict[str, NcclConstants] = {
    t.version: t for t in (_V218, _V219, _V221, _V223, _V227, _V230)
}


def constants_for(version: str) -> NcclConstants:
    """The constants of NCCL release ``version`` (``"2.30"``, ``"2.27.3"``, ``"v2.19.3-1"`` ...).

    Raises
    ------
    ValueError
        If the release is not modeled; the message lists the known ones.

    >>> constants_for("v2.27.3-1").version
    '2.27'
    """
    text = str(version).strip().lower().removeprefix("v")
    parts = text.split("-")[0].split(".")
    key = ".".join(parts[:2])
    if key not in TABLES:
        raise ValueError(
            f"unknown NCCL version {version!r}; known: {', '.join(sorted(TABLES))}"
        )
    return TABLES[key]


#: The modeled releases, oldest first.
_MODELED_KEYS = {v: (int(v.split(".")[0]), int(v.split(".")[1])) for v in TABLES}
MODELED_RELEASES = tuple(sorted(TABLES, key=_MODELED_KEYS.__getitem__))


def closest_modeled(release: str) -> str | None:
    """The modeled release whose constants NCCL ``release`` ran with: the newest modeled one
    not newer than it (2.26.2 -> ``"2.23"``: the tables changed at the modeled releases);
    the oldest for an older release, the newest for a newer one; None if ``release`` is not a
    version number.

    >>> closest_modeled("2.26.2"), closest_modeled("2.8.4"), closest_modeled("2.31.0")
    ('2.23', '2.18', '2.30')
    """
    wanted = release_key(release)
    if wanted is None:
        return None
    older = [v for v in MODELED_RELEASES if _MODELED_KEYS[v] <= wanted]
    return older[-1] if older else MODELED_RELEASES[0]


def release_key(release: str) -> tuple[int, int] | None:
    """A release's (major, minor), to order releases; None if it is not a version number.

    >>> release_key("v2.19.3-1"), release_key("2.19.3+cuda12.2"), release_key("next")
    ((2, 19), (2, 19), None)
    """
    parts = str(release).strip().lower().removeprefix("v").split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1].split("+")[0])
    except (IndexError, ValueError):
        return None


# --- all-to-all / send-recv: NOT NCCL's tuner (see collectives.nccl.p2p_time) ---------------


@dataclass(frozen=True, slots=True, kw_only=True)
class P2pConstants:
    """Constants of this project's P2P model (not NCCL's; calibrate them).

    ``alpha = base + hop`` borrows the tuner's Ring/Simple one-hop figures (8.4 µs base,
    NVLink 3.4 / PCI 5.7 / NET 14 µs, tuning.cc). ``net_efficiency`` = 42.6 / 50:
    nccl-tests sendrecv busbw over NDR (50 GB/s) on 2 B200 nodes
    (togethercomputer/together-nccl-tests baselines, 2026).
    """

    base_latency_s: float = 8.4e-6
    nvlink_hop_latency_s: float = 3.4e-6
    pci_hop_latency_s: float = 5.7e-6
    net_hop_latency_s: float = 14.0e-6
    net_efficiency: float = 42.6 / 50.0
    intra_efficiency: float = 1.0


P2P_CONSTANTS = P2pConstants()
