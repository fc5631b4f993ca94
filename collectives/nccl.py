"""The NCCL flavor of the collective model: a port of NCCL's tuner (``ncclTopoTuneModel``).

Per (collective, algorithm, protocol) NCCL computes a latency ``L`` (µs) and an algorithm
bandwidth ``B`` (GB/s) from its topology search (``nChannels``, ``bwIntra``, ``bwInter``), then
predicts ``t = L + nBytes / (1000 B)`` and runs the argmin (NVIDIA/nccl
``src/graph/tuning.cc``, v2.30.7, 2026, https://github.com/NVIDIA/nccl). This module
reproduces that table for a described system, per NCCL release (:mod:`collectives.nccl_tables`),
and answers in SI units.

Entry points (stable, called from :mod:`collectives.nccl_bridge`):

- :class:`NcclSystem`: the inputs (ranks, nodes, GPU generation, NVLink and NIC bandwidths ...);
- :func:`search_graphs`: NCCL's graph-search outputs (channels, per-channel bandwidths);
- :func:`tune`: the latency / bandwidth table for one collective;
- :func:`nccl_time`: time of one collective at one size, NCCL's choice or a forced one;
- :func:`collectives.nccl_log.parse_tuning_log`: the table a real run prints with
  ``NCCL_DEBUG_SUBSYS=TUNING``, as :class:`~collectives.nccl_tuning.NcclTuneTable` objects
  (the type :func:`tune` returns).

All-to-all and send-recv are not in NCCL's tuner (they are grouped point-to-point operations);
:func:`nccl_time` answers them with a separate, labeled P2P model.

>>> h100 = NcclSystem(num_ranks=8, num_nodes=1, gpu_arch="hopper", nvlink_num_links=18)
>>> p = nccl_time(h100, "all-reduce", 8 << 30, algorithm="Ring")
>>> round(p.busbw_bytes_per_s / 1e9)
360
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from collectives.names import busbw_factor, canonical
from collectives.nccl_tables import (
    ALGORITHMS,
    DEFAULT_VERSION,
    GPU_ARCHS,
    MAX_CHANNELS,
    MAX_DIRECT_ARITY,
    MAX_NVLS_ARITY,
    NVLINK_PHYSICAL_PER_LINK_BYTES_PER_S,
    P2P_CONSTANTS,
    PCI_GBPS,
    PROTOCOLS,
    TABLES,
    NcclConstants,
    P2pConstants,
    constants_for,
)
from collectives.nccl_tuning import NcclTuneEntry, NcclTuneTable

__all__ = [
    "ALGORITHMS",
    "PROTOCOLS",
    "TABLES",
    "DEFAULT_VERSION",
    "P2P_CONSTANTS",
    "NcclSystem",
    "NcclGraph",
    "NcclGraphs",
    "NcclTuneEntry",
    "NcclTuneTable",
    "NcclPrediction",
    "P2pConstants",
    "search_graphs",
    "tune",
    "nccl_time",
    "p2p_time",
]

_TUNED = ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce")
_P2P = ("all-to-all", "send-recv")
_ARCH_INDEX = {a: i for i, a in enumerate(GPU_ARCHS)}


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclSystem:
    """What NCCL's topology detection would see, in SI units.

    Parameters
    ----------
    num_ranks, num_nodes : int
        Communicator size and node count; ``num_ranks`` must be a multiple of ``num_nodes``.
    gpu_arch : {"volta", "ampere", "hopper", "blackwell"}
    nvlink_bandwidth_bytes_per_s : float, optional
        Physical NVLink bandwidth per GPU per direction (450e9 for H100); converted to NCCL's
        link count with 25 GB/s per link (50 GB/s on Blackwell).
    nvlink_num_links : int, optional
        NVLink links per GPU (18 on H100/B200, 12 on A100); wins over the bandwidth.
    nic_bandwidth_bytes_per_s : float
        Physical rate of one NIC (400 Gb/s = 50e9); NCCL counts it as Mbps/8000 GB/s.
    nics_per_node : int
    intra : {"nvlink", "pci"}
    cpu : {"intel", "amd", "arm"}
    collnet, nvls, nvswitch : bool
        IB SHARP available; NVSwitch with NVLink SHARP; GPUs behind an NVSwitch.
    net_latency_s : float
        The net plugin's reported latency (``graph->latencyInter``); IB reports 0.
    pci_bandwidth_bytes_per_s : float, optional
        GPU-NIC PCIe bandwidth; default NCCL's x16 figure for the generation (Gen3/4/5).
    num_channels, bw_intra_bytes_per_s, bw_inter_bytes_per_s : optional
        Override the searched Ring/Tree ``nChannels`` and per-channel ``bwIntra``/``bwInter``
        (read them from an ``NCCL_DEBUG_SUBSYS=GRAPH`` log, or let calibration fit them).
    latency_scale : float
        Factor on every latency of the table (and of the P2P model): a calibration's fit of how
        much slower (or faster) a cluster's launch and synchronization are than NCCL's
        constants say (1 = NCCL's).
    launch_s : float
        Seconds added to every call's time (the tuner's and the P2P model's), after
        ``latency_scale``: a calibration's fit of the cost each call pays whatever its
        algorithm and protocol (kernel launch, the benchmark's own loop). NCCL's table grows
        its latencies with the protocol (Ring on 8 Hopper GPUs: LL 15 us, Simple 56 us);
        measured curves often have one floor for every protocol (8 x H100: 35 us at 8 B and
        the same intercept at 128 MiB), which a scale alone cannot give.
    """

    num_ranks: int
    num_nodes: int = 1
    gpu_arch: str = "hopper"
    nvlink_bandwidth_bytes_per_s: float | None = None
    nvlink_num_links: int | None = None
    nic_bandwidth_bytes_per_s: float = 0.0
    nics_per_node: int = 0
    intra: str = "nvlink"
    cpu: str = "intel"
    collnet: bool = False
    nvls: bool = False
    nvswitch: bool = True
    net_latency_s: float = 0.0
    pci_bandwidth_bytes_per_s: float | None = None
    num_channels: int | None = None
    bw_intra_bytes_per_s: float | None = None
    bw_inter_bytes_per_s: float | None = None
    latency_scale: float = 1.0
    launch_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.latency_scale < 1e3:
            raise ValueError(f"latency_scale must be in (0, 1000), got {self.latency_scale!r}")
        if not 0 <= self.launch_s < 1.0:
            raise ValueError(f"launch_s must be in [0, 1) seconds, got {self.launch_s!r}")
        for name, low in (("num_ranks", 2), ("num_nodes", 1), ("nvlink_num_links", 1),
                          ("num_channels", 1)):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.num_ranks % self.num_nodes:
            raise ValueError(f"num_ranks must be a multiple of num_nodes, got {self.num_ranks} "
                             f"ranks on {self.num_nodes} nodes")
        _choice("gpu_arch", self.gpu_arch, GPU_ARCHS)
        _choice("intra", self.intra, ("nvlink", "pci"))
        _choice("cpu", self.cpu, ("intel", "amd", "arm"))
        no_nvlink = self.nvlink_num_links is None and self.nvlink_bandwidth_bytes_per_s is None
        if self.intra == "nvlink" and self.ranks_per_node > 1 and no_nvlink:
            raise ValueError("intra=nvlink needs nvlink_num_links or nvlink_bandwidth_bytes_per_s")
        for name in ("nvlink_bandwidth_bytes_per_s", "pci_bandwidth_bytes_per_s",
                     "bw_intra_bytes_per_s", "bw_inter_bytes_per_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if self.num_nodes > 1 and not (self.nics_per_node >= 1
                                       and self.nic_bandwidth_bytes_per_s > 0):
            raise ValueError(f"num_nodes={self.num_nodes} needs nics_per_node >= 1 and "
                             f"nic_bandwidth_bytes_per_s > 0, got {self.nics_per_node} and "
                             f"{self.nic_bandwidth_bytes_per_s!r}")
        if self.net_latency_s < 0:
            raise ValueError(f"net_latency_s must be >= 0, got {self.net_latency_s!r}")

    @property
    def ranks_per_node(self) -> int:
        """``ppn`` = num_ranks / num_nodes."""
        return self.num_ranks // self.num_nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclGraph:
    """One graph-search result: what NCCL logs as ``nChannels N, bw X/Y, type NVL/PIX``."""

    algorithm: str
    num_channels: int
    bw_intra_bytes_per_s: float
    bw_inter_bytes_per_s: float
    type_intra: str
    same_channels: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclGraphs:
    """Graphs per algorithm (``None`` where NCCL would find none) and NCCL's link figures."""

    graphs: dict[str, NcclGraph | None]
    nvlink_bytes_per_s: float
    nic_bytes_per_s: float
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NcclPrediction:
    """A predicted collective time with nccl-tests' algbw/busbw (size / time, x factor)."""

    time_s: float
    latency_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    algorithm: str
    protocol: str
    num_channels: int
    table_version: str


# graph search (search.cc), simplified


def _top(ladder: tuple[float, ...], limit: float) -> float | None:
    """Highest ladder speed not above ``limit``."""
    return next((s for s in ladder if s <= limit + 1e-9), None)


def search_graphs(system: NcclSystem, *, version: str = DEFAULT_VERSION) -> NcclGraphs:
    """NCCL's graph-search outputs (channels and per-channel GB/s as bytes/s) per algorithm.

    Notes
    -----
    Link figures follow NCCL's constants (``topo.h``): NVLink = links x per-link
    constant (18 x 20.6 = 370.8 GB/s on H100), a NIC = physical bytes/s / 1e9 GB/s, PCIe x16 =
    12/24/48 GB/s. The search itself is simplified; NCCL runs a timed recursive path search:

    - Ring (and Tree, PAT): speeds are tried from the top of the ladder (intra ladder on one node,
      inter ladder across nodes) not above ``maxBw`` (the GPU link on one node,
      min(NIC, PCIe) across nodes); each speed ``s`` gets as many channels as fit (one node:
      ``n s <= NVLink``; across nodes: ``ceil(n / NICs) s <= NIC`` and ``n s (G-1)/G <= NVLink``,
      at most 32), the largest ``n s`` wins, the descent stops below 0.49 x the first feasible
      speed (search.cc's rule), then ``ncclTopoDupChannels`` doubles the channels at half the
      speed when ``s >= 25`` (except Hopper+ with ``s < 50`` and more than 4 channels).
    - Tree uses the ring's channels; across nodes its ``bwIntra`` is raised up to 2 x bwInter
      as the NVLink allows (search.cc pass 2). On one node it equals the ring.
    - NVLS: one channel per local GPU (at most 32); ``bwIntra`` the top intra speed with
      ``n s <= NVLink``; ``bwInter`` up to 2 x bwIntra on one node, NIC-bound across nodes.
    - CollNet: ``min(G, NICs, 8)`` channels, NIC-bound ``bwInter``, ``bwIntra`` raised up to
      2 x bwInter; CollNetChain reuses it.
    ``num_channels``, ``bw_intra_bytes_per_s`` and ``bw_inter_bytes_per_s`` on the system replace
    the Ring/Tree/PAT results. ``sameChannels`` is assumed on one node only.

    >>> g = search_graphs(NcclSystem(num_ranks=8, gpu_arch="hopper", nvlink_num_links=18))
    >>> g.graphs["Ring"].num_channels, g.graphs["Ring"].bw_intra_bytes_per_s / 1e9
    (12, 30.0)
    """
    c = constants_for(version)
    s = system
    arch, G, N = s.gpu_arch, s.ranks_per_node, s.num_nodes
    nvl_arch = arch if (c.has_blackwell or arch != "blackwell") else "hopper"
    pci = (s.pci_bandwidth_bytes_per_s / 1e9) if s.pci_bandwidth_bytes_per_s else PCI_GBPS[arch]
    if s.intra == "nvlink" and G > 1:
        links = s.nvlink_num_links
        if links is None:
            per_link = NVLINK_PHYSICAL_PER_LINK_BYTES_PER_S[arch]
            links = max(1, round(float(s.nvlink_bandwidth_bytes_per_s or 0.0) / per_link))
        intra_total = links * c.nvlink_per_link_gbps[nvl_arch]
    else:
        intra_total = pci
    nic = s.nic_bandwidth_bytes_per_s / 1e9
    nic_eff = min(nic, pci) if N > 1 else 0.0
    nics = s.nics_per_node
    type_intra = "nvlink" if s.intra == "nvlink" else "pci"
    lad_intra, lad_inter = c.ladder(arch, "intra"), c.ladder(arch, "inter")

    def fits(n: int, speed: float) -> bool:
        if N == 1:
            return n * speed <= intra_total + 1e-9
        per_nic = math.ceil(n / nics)
        return (per_nic * speed <= nic_eff + 1e-9
                and (G == 1 or n * speed * (G - 1) / G <= intra_total + 1e-9))

    ladder, max_bw = (lad_intra, intra_total) if N == 1 else (lad_inter, nic_eff)
    best: tuple[float, int] | None = None
    first: float | None = None
    for speed in ladder:
        if speed > max_bw + 1e-9 or (first is not None and speed < 0.49 * first):
            continue
        n = max((k for k in range(1, MAX_CHANNELS + 1) if fits(k, speed)), default=0)
        if n == 0:
            continue
        first = speed if first is None else first
        if best is None or n * speed > best[1] * best[0] + 1e-9:
            best = (speed, n)
    if best is None:  # slower than the ladder's floor: one channel at the bottleneck
        best = (max_bw, 1)
    speed, n = best
    hopper_plus = arch in ("hopper", "blackwell")
    if speed >= 25.0 and not (hopper_plus and speed < 50.0 and n > 4):
        dup = min(2 * n, MAX_CHANNELS)
        speed, n = speed / math.ceil(dup / n), dup
    if s.num_channels is not None:
        n = int(s.num_channels)
    ring_intra = s.bw_intra_bytes_per_s / 1e9 if s.bw_intra_bytes_per_s else speed
    ring_inter = s.bw_inter_bytes_per_s / 1e9 if s.bw_inter_bytes_per_s else speed
    same = N == 1
    ring = NcclGraph(algorithm="Ring", num_channels=n, bw_intra_bytes_per_s=ring_intra * 1e9,
                     bw_inter_bytes_per_s=ring_inter * 1e9, type_intra=type_intra,
                     same_channels=same)
    graphs: dict[str, NcclGraph | None] = dict.fromkeys(ALGORITHMS)
    graphs["Ring"] = ring
    graphs["PAT"] = replace(ring, algorithm="PAT")
    tree_intra = ring_intra
    scale = G / (G - 1) if G > 1 else 1.0
    if N > 1 and s.bw_intra_bytes_per_s is None:
        raised = _top(lad_intra, min(2 * ring_inter, n and intra_total * scale / n))
        tree_intra = max(ring_intra, raised or 0.0)
    graphs["Tree"] = replace(ring, algorithm="Tree", bw_intra_bytes_per_s=tree_intra * 1e9)

    has_nvs = s.intra == "nvlink" and s.nvswitch and G > 1
    if s.nvls and has_nvs and hopper_plus:
        nv = min(G, MAX_NVLS_ARITY)
        nv_intra = _top(lad_intra, intra_total / nv) or intra_total / nv
        if N == 1:
            nv_inter = _top(lad_intra, 2 * nv_intra) or nv_intra
        else:
            nv_inter = min(_top(lad_inter, nic_eff / math.ceil(nv / nics)) or nic_eff,
                           2 * nv_intra)
        nvls = NcclGraph(algorithm="NVLS", num_channels=nv, bw_intra_bytes_per_s=nv_intra * 1e9,
                         bw_inter_bytes_per_s=nv_inter * 1e9, type_intra="nvlink",
                         same_channels=True)
        graphs["NVLS"] = nvls
        graphs["NVLSTree"] = replace(nvls, algorithm="NVLSTree")
    if s.collnet and N > 1:
        nc = max(1, min(G, nics, MAX_DIRECT_ARITY))
        cn_inter = _top(lad_inter, nic_eff / math.ceil(nc / nics)) or nic_eff
        cn_intra = _top(lad_intra, min(2 * cn_inter, intra_total * scale / nc)) or cn_inter
        cn_intra = max(cn_intra, cn_inter) if G == 1 else cn_intra
        cn = NcclGraph(algorithm="CollNetDirect", num_channels=nc,
                       bw_intra_bytes_per_s=cn_intra * 1e9, bw_inter_bytes_per_s=cn_inter * 1e9,
                       type_intra=type_intra, same_channels=False)
        graphs["CollNetDirect"] = cn
        graphs["CollNetChain"] = replace(cn, algorithm="CollNetChain")
    return NcclGraphs(graphs=graphs, nvlink_bytes_per_s=intra_total * 1e9,
                      nic_bytes_per_s=nic * 1e9, version=c.version)


# ncclTopoTuneModel (tuning.cc): bandwidth and latency


def _log2i(x: int) -> int:
    """NCCL's log2i: floor(log2(x)), -1 for 0."""
    return int(x).bit_length() - 1


def _algorithms_for(c: NcclConstants, coll: str) -> tuple[str, ...]:
    if coll in ("broadcast", "reduce"):
        return ("Ring",)
    if coll in ("all-gather", "reduce-scatter"):
        return c.ag_rs_algorithms
    return tuple(a for a in ALGORITHMS if a != "PAT")


def _enabled(c: NcclConstants, s: NcclSystem, graphs: NcclGraphs, coll: str, a: str,
             p: str) -> bool:
    """NCCL's enable rules (tuning.cc) for an algorithm/protocol NCCL models for ``coll``."""
    g = graphs.graphs[a]
    G, N = s.ranks_per_node, s.num_nodes
    if g is None:
        return False
    if a in ("NVLS", "NVLSTree", "PAT") and p != "Simple":
        return False
    if a in ("CollNetDirect", "CollNetChain") and p != "Simple":
        return False
    if p == "LL128":
        # typeIntra <= PATH_NVB (NVLink), GPU-NIC path <= PXB/PXN assumed; 2.18-2.21 enable
        # only cc 7.0/8.0/9.0, later releases any SM >= 70
        if g.type_intra != "nvlink":
            return False
        if c.formula == "2.19" and s.gpu_arch == "blackwell":
            return False
    if a == "NVLSTree" and N == 1:
        return False
    if a == "NVLS" and N > 1 and not s.collnet:
        return False
    if a == "NVLS" and coll != "all-reduce" and G > MAX_NVLS_ARITY:
        return False
    if a == "CollNetDirect" and (not s.nvswitch or G > MAX_DIRECT_ARITY):
        return False
    if a in ("NVLS", "CollNetDirect") and coll != "all-reduce" and N > 1:
        # AG/RS over the network need the CollNet plugin's iallgather/ireducescatter and
        # localRanks <= heads (one NIC per GPU)
        if not s.collnet or G > s.nics_per_node:
            return False
    if a == "PAT" and G != 1:
        return False
    return True


def _cell(c: NcclConstants, s: NcclSystem, graphs: NcclGraphs, coll: str, a: str,
          p: str) -> tuple[float, float]:
    """(latency µs, algorithm bandwidth GB/s) of one cell, before the enable rules."""
    g = graphs.graphs[a]
    pi = PROTOCOLS.index(p)
    n, N, ppn = s.num_ranks, s.num_nodes, s.ranks_per_node
    arch = s.gpu_arch if (c.has_blackwell or s.gpu_arch != "blackwell") else "hopper"
    cc = _ARCH_INDEX[arch]
    idx2 = 0 if N == 1 else 1 if N == 2 else 2
    idx1 = cc if N == 1 else (1 if s.cpu == "amd" else 0)
    ll_max = c.ll_max_bws[idx1][idx2]
    nsteps = 2 * (n - 1) if coll == "all-reduce" else n - 1 if coll in (
        "all-gather", "reduce-scatter") else n
    agrs = coll in ("all-gather", "reduce-scatter")
    gen = c.formula
    if g is None:
        return 0.0, 0.0
    nch = g.num_channels
    bw_intra, bw_inter = g.bw_intra_bytes_per_s / 1e9, g.bw_inter_bytes_per_s / 1e9
    collnet = a in ("CollNetDirect", "CollNetChain")
    bw = bw_intra if (N <= 2 or collnet) else bw_inter
    if a in ("NVLS", "NVLSTree"):
        if gen == "2.30":
            if nch < 2:
                return 0.0, 0.0
            intra_bw = bw_intra * c.nvls_efficiency[arch] * (nch - 1) / nch
            intra_bw *= 2.0 if coll == "all-reduce" else (ppn - 1) / ppn
            inter_bw = bw_inter * (2.0 if (N <= 2 and a == "NVLSTree") else 1.0)
            bw = min(intra_bw, inter_bw)
            if a == "NVLSTree" and c.per_ch_max_nvls_tree_bws is not None:
                bw = min(bw, c.per_ch_max_nvls_tree_bws[arch][idx2])
        elif a == "NVLS":
            if gen == "2.23" and agrs:
                bw = min(bw_intra * (ppn - 1) / ppn, bw_inter * 0.9)
            else:
                bw = min(bw_intra, bw_inter)
        else:
            bw = min(bw_intra, bw_inter if N <= 2 else bw_inter / 2)
    bus = nch * bw
    if a == "Ring" and p == "LL":
        if gen == "2.19":
            bus = min(ll_max, bus * (0.25 if (N > 1 or coll in ("all-reduce", "reduce"))
                                     else 1 / 3))
        else:
            bus = min(ll_max, 0.5 * bus)
    if a == "Ring" and p == "LL128":
        eff = 0.7 if (gen == "2.19" and ppn < 2) else 0.92
        bus = min(bus * eff, nch * c.per_ch_max_ring_ll128_bws[arch][idx2])
    if a == "Tree" and coll == "all-reduce":
        bus = min(bus * 0.92, nch * c.per_ch_max_tree_bws[arch][idx2])
    if a == "Tree" and p == "LL":
        bus = min(bus / 3.8, ll_max)
    if a == "Tree" and p == "LL128":
        bus = min(bus * (7 / 9 if N == 1 else 120 / 128),
                  nch * c.per_ch_max_tree_ll128_bws[arch][idx2])
    # Tree pattern NCCL_TOPO_PATTERN_TREE (x0.85) not modeled: the balanced tree is assumed
    if a == "PAT":
        bus *= 0.75
    if collnet and p != "Simple":
        bus = 0.0
    if a == "CollNetDirect" and p == "Simple":
        if agrs:
            if gen == "2.19":
                w = (ppn - 1) / (8 - 1)
                bus = ppn * bw * (w * 0.85 + (1 - w) * 0.95)
            else:
                bus = ppn * min(bw_intra, 0.9 * bw_inter)
        else:
            f = ppn / nch
            f -= (f - 1) / 2
            bus /= f
            if cc >= _ARCH_INDEX["hopper"]:
                bus *= 0.85
    convert = (not (a != "Ring" and agrs)) if gen != "2.19" else (
        not (a == "CollNetDirect" and agrs))
    if convert:
        if a == "Ring" or (gen == "2.30" and a in ("NVLS", "NVLSTree")):
            bus *= n / nsteps
        elif a in ("NVLS", "NVLSTree"):
            bus *= 5.0 / 6.0
        else:
            bus *= 0.5

    # latency (tuning.cc)
    lat = c.base_latencies_us[a][pi]
    intra_hw = "NVLINK" if g.type_intra == "nvlink" else "PCI"
    hw = intra_hw if N == 1 else "NET"
    intra_lat = c.hw_latencies_us[intra_hw][a][pi]
    net_algo = "Tree" if (ppn == 1 and gen != "2.19") else a
    lat_inter = s.net_latency_s * 1e6
    inter_lat = c.hw_latencies_us["NET"][net_algo][pi] + lat_inter
    if p == "Simple":
        inter_lat += lat_inter  # flush extra latency
    if a == "Ring":
        if coll in ("broadcast", "reduce"):
            if g.same_channels:
                lat += c.hw_latencies_us[hw]["Ring"][pi]
            else:
                step = c.hw_latencies_us[hw]["Tree" if p == "Simple" else "Ring"][pi]
                lat += nsteps * step
        else:
            overhead = 0.0
            if N > 1:
                overhead = (2.0 if s.cpu == "amd" else 1.0) * (3 if p == "Simple" else 1)
            intra_lat = max(intra_lat, overhead)
            if N == 1:
                n_inter = 0
            elif coll == "all-reduce":
                n_inter = 2 * N if gen == "2.19" else 2 * (N - 1)
            else:
                n_inter = N - 1
            lat += (nsteps - n_inter) * intra_lat + n_inter * inter_lat
    elif a == "Tree":
        lat += 2 * ((ppn - 1) * intra_lat + _log2i(N) * inter_lat)
    elif a == "CollNetDirect":
        lat += 2 * (min(1, ppn - 1) * intra_lat + (ppn - 1) * 0.4) + inter_lat
    elif a == "CollNetChain":
        lat += 2 * (ppn - 1) * intra_lat + inter_lat
    elif a == "NVLS":
        lat = intra_lat + (inter_lat if N > 1 else 0.0)
    elif a == "NVLSTree":
        lat += intra_lat + 2 * _log2i(N) * inter_lat
    elif a == "PAT":
        lat = 8.0 + _log2i(N) * (inter_lat / 3.5) + n * 2.8
    return lat, bus


def tune(system: NcclSystem, collective: str, *, version: str = DEFAULT_VERSION,
         graphs: NcclGraphs | None = None) -> NcclTuneTable:
    """NCCL's latency / algorithm-bandwidth table for one collective.

    Parameters
    ----------
    system : NcclSystem
    collective : str
        all-reduce, all-gather, reduce-scatter, broadcast or reduce (any spelling
        :func:`collectives.names.canonical` accepts).
    version : str
        NCCL release (``"2.30"`` default); see :data:`collectives.nccl_tables.TABLES`.
    graphs : NcclGraphs, optional
        Search results to use instead of :func:`search_graphs` (e.g. parsed from a log).

    Returns
    -------
    NcclTuneTable
        Every (algorithm, protocol) pair in NCCL's order; ``algbw_bytes_per_s`` is ``None``
        where NCCL's bandwidth is 0 (not modeled for this collective, or disabled).

    Raises
    ------
    ValueError
        Unknown version, or a collective outside NCCL's tuner (all-to-all, send-recv).

    Notes
    -----
    ``ncclTopoTuneModel`` line by line (NVIDIA/nccl ``src/graph/tuning.cc``, with its enable
    rules), with the formula revision of the release (see
    :class:`collectives.nccl_tables.NcclConstants`).

    >>> t = tune(NcclSystem(num_ranks=8, gpu_arch="hopper", nvlink_num_links=18), "all-reduce")
    >>> round(t.entries[("Ring", "Simple")].latency_s * 1e6, 1)
    56.0
    """
    coll = canonical(collective)
    if coll not in _TUNED:
        raise ValueError(
            f"{coll} is not in NCCL's tuner (point-to-point); tuned collectives: "
            f"{', '.join(_TUNED)}"
        )
    c = constants_for(version)
    graphs = graphs if graphs is not None else search_graphs(system, version=version)
    modeled = _algorithms_for(c, coll)
    entries: dict[tuple[str, str], NcclTuneEntry] = {}
    for a in c.algorithms:
        for p in PROTOCOLS:
            if a not in modeled or (a in ("NVLS", "NVLSTree", "PAT") and p != "Simple"):
                entries[(a, p)] = NcclTuneEntry(latency_s=0.0, algbw_bytes_per_s=None)
                continue
            lat, bw = _cell(c, system, graphs, coll, a, p)
            ok = bw > 0 and _enabled(c, system, graphs, coll, a, p)
            entries[(a, p)] = NcclTuneEntry(latency_s=lat * 1e-6 * system.latency_scale,
                                            algbw_bytes_per_s=bw * 1e9 if ok else None)
    return NcclTuneTable(collective=coll, version=c.version, entries=entries)


# ncclTopoGetAlgoTime and selection (tuning.cc, enqueue.cc)


def _resolve(name: str | None, valid: tuple[str, ...], what: str) -> str | None:
    if name is None:
        return None
    for v in valid:
        if v.lower() == str(name).strip().lower():
            return v
    raise ValueError(f"unknown {what} {name!r}; known: {', '.join(valid)}")


def _algo_time_us(c: NcclConstants, s: NcclSystem, coll: str, a: str, p: str,
                  entry: NcclTuneEntry, size_bytes: int, ring_channels: int,
                  num_pipe_ops: int = 1) -> tuple[float, float]:
    """(time µs, latency µs) as ``ncclTopoGetAlgoTime`` computes them."""
    bw = entry.algbw_bytes_per_s / 1e9  # type: ignore[operator]
    lat = entry.latency_s * 1e6
    log_size = _log2i(size_bytes >> 6)
    factors = c.tree_correction[p]
    if a == "Tree" and coll == "all-reduce" and 0 <= log_size < 23:
        bw *= factors[log_size]
    if (a == "NVLSTree" and coll == "all-reduce" and c.formula == "2.30"
            and 0 <= log_size < min(24, len(factors)) and s.gpu_arch == "blackwell"
            and s.cpu in ("intel", "amd")):
        bw *= factors[log_size]
    if (a == "Ring" and p == "Simple" and s.num_nodes > 1 and coll == "all-reduce"
            and size_bytes // (ring_channels * s.num_ranks) >= 64):
        lat *= 1.9 if s.gpu_arch == "volta" else 1.4  # plateau effect of ring
    lat_count = num_pipe_ops  # one operation: Ring and the batched others both count 1
    return lat * lat_count + size_bytes / (1000.0 * bw), lat * lat_count


def nccl_time(system: NcclSystem, collective: str, size_bytes: int, *,
              version: str = DEFAULT_VERSION, algorithm: str | None = None,
              protocol: str | None = None) -> NcclPrediction:
    """Time of one collective as NCCL's cost model predicts it, with NCCL's choice.

    Parameters
    ----------
    system : NcclSystem
    collective : str
    size_bytes : int
        nccl-tests' ``size``: per-rank buffer for all-reduce/broadcast/reduce/send-recv, the
        total gathered/scattered buffer for all-gather/reduce-scatter (= NCCL's ``nBytes``), the
        per-rank total send buffer for all-to-all.
    version : str
    algorithm, protocol : str, optional
        Force them (like ``NCCL_ALGO`` / ``NCCL_PROTO``); case-insensitive NCCL names.

    Returns
    -------
    NcclPrediction
        ``algbw = size / time`` and ``busbw = algbw x busbw_factor`` (nccl-tests definitions).

    Raises
    ------
    ValueError
        Negative size, unknown version/algorithm/protocol, or a forced combination that is
        unavailable (the message lists the available ones).

    Notes
    -----
    ``t = lat x latCount + nBytes / (1000 bw)`` µs, with the Tree correction factor (and the
    2.30 NVLSTree one on Blackwell x86), the multi-node Ring/Simple plateau factor x1.4
    (x1.9 before Ampere), argmin over available cells in NCCL's order (``topoGetAlgoInfo``).
    The argmin uses NCCL's own latencies: ``latency_scale`` and ``launch_s`` (what a
    calibration found this cluster pays) time the cell NCCL picks but do not move the pick.
    One operation per launch (``latCount = 1``). Channel/thread shrinking after the choice is not
    modeled: it does not change NCCL's predicted time. all-to-all and send-recv use
    :func:`p2p_time` (not NCCL's tuner).

    >>> s = NcclSystem(num_ranks=8, gpu_arch="hopper", nvlink_num_links=18, nvls=True)
    >>> p = nccl_time(s, "all-reduce", 8)
    >>> p.algorithm, p.protocol, round(p.time_s * 1e6, 1)
    ('Ring', 'LL', 15.0)
    """
    if int(size_bytes) != size_bytes or size_bytes < 0:
        raise ValueError(f"size_bytes must be an integer >= 0, got {size_bytes!r}")
    size_bytes = int(size_bytes)
    coll = canonical(collective)
    if coll in _P2P:
        forced = (str(algorithm or "P2P").lower(), str(protocol or "Simple").lower())
        if forced != ("p2p", "simple"):
            raise ValueError(f"{coll} is point-to-point (not in NCCL's tuner); available: "
                             f"P2P/Simple, got {algorithm}/{protocol}")
        return p2p_time(system, coll, size_bytes, version=version)
    c = constants_for(version)
    algo = _resolve(algorithm, c.algorithms, "algorithm")
    proto = _resolve(protocol, PROTOCOLS, "protocol")
    graphs = search_graphs(system, version=version)
    # NCCL chooses with its own constants: a calibration's latency scale and cost per call are
    # what this cluster pays, which NCCL's tuner does not know, so they time the choice only
    table = tune(replace(system, latency_scale=1.0, launch_s=0.0), coll, version=version,
                 graphs=graphs)
    candidates = [k for k in table.available()
                  if (algo is None or k[0] == algo) and (proto is None or k[1] == proto)]
    if not candidates:
        avail = ", ".join(f"{a}/{p}" for a, p in table.available())
        raise ValueError(
            f"{algo or 'any algorithm'}/{proto or 'any protocol'} is not available for {coll} "
            f"on this system with NCCL {c.version}; available: {avail}"
        )
    ring_channels = graphs.graphs["Ring"].num_channels  # type: ignore[union-attr]
    choice: tuple[float, str, str] | None = None
    for a, p in candidates:
        t_us, _ = _algo_time_us(c, system, coll, a, p, table.entries[(a, p)], size_bytes,
                                ring_channels)
        if choice is None or t_us < choice[0]:
            choice = (t_us, a, p)
    assert choice is not None  # candidates is not empty
    _, a, p = choice
    cell = table.entries[(a, p)]
    paid = replace(cell, latency_s=cell.latency_s * system.latency_scale)  # as tune() scales
    t_us, lat_us = _algo_time_us(c, system, coll, a, p, paid, size_bytes, ring_channels)
    t_us, lat_us = t_us + system.launch_s * 1e6, lat_us + system.launch_s * 1e6
    time_s = t_us * 1e-6
    algbw = size_bytes / time_s if time_s > 0 else 0.0
    return NcclPrediction(
        time_s=time_s, latency_s=lat_us * 1e-6, algbw_bytes_per_s=algbw,
        busbw_bytes_per_s=algbw * busbw_factor(coll, system.num_ranks), algorithm=a,
        protocol=p, num_channels=graphs.graphs[a].num_channels,  # type: ignore[union-attr]
        table_version=c.version,
    )


# all-to-all and send-recv: NOT NCCL's tuner (grouped P2P)




def p2p_time(system: NcclSystem, collective: str, size_bytes: int, *,
             version: str = DEFAULT_VERSION,
             constants: P2pConstants = P2P_CONSTANTS) -> NcclPrediction:
    """All-to-all or send-recv time with a P2P model (NCCL's tuner does not cover them).

    Notes
    -----
    Rail-optimized fabric with PXN, one NIC rail per GPU (NVIDIA/nccl-tests #130): all-to-all
    ``t = alpha + max((n-G)/n S / B_nic, (G-1)/n S / B_intra)``, the intra-node share going over
    NVLink in parallel; send-recv ``t = alpha + S / B`` with B the GPU's NIC share across nodes,
    its NVLink on one node. ``B_nic = min(NIC, NICs x NIC / G) x net_efficiency`` (a GPU's P2P
    does not aggregate NICs, issue #267); NVLink is NCCL's figure (links x per-link constant).
    Result labeled ``algorithm="P2P"``, ``table_version="p2p-model"``.

    >>> s = NcclSystem(num_ranks=16, num_nodes=2, gpu_arch="hopper", nvlink_num_links=18,
    ...                nic_bandwidth_bytes_per_s=50e9, nics_per_node=8)
    >>> round(p2p_time(s, "all-to-all", 1 << 30).busbw_bytes_per_s / 1e9, 1)
    79.7
    """
    coll = canonical(collective)
    if coll not in _P2P:
        raise ValueError(f"p2p_time models {', '.join(_P2P)}, got {coll}")
    if int(size_bytes) != size_bytes or size_bytes < 0:
        raise ValueError(f"size_bytes must be an integer >= 0, got {size_bytes!r}")
    graphs = search_graphs(system, version=version)
    n, G, N = system.num_ranks, system.ranks_per_node, system.num_nodes
    b_intra = graphs.nvlink_bytes_per_s * constants.intra_efficiency
    nic = graphs.nic_bytes_per_s
    b_nic = min(nic, system.nics_per_node * nic / G) * constants.net_efficiency if N > 1 else 0.0
    intra_hop = (constants.nvlink_hop_latency_s if system.intra == "nvlink"
                 else constants.pci_hop_latency_s)
    alpha = (constants.base_latency_s + (constants.net_hop_latency_s if N > 1 else intra_hop)
             ) * system.latency_scale + system.launch_s
    if coll == "all-to-all":
        t_net = (n - G) / n * size_bytes / b_nic if N > 1 else 0.0
        t_intra = (G - 1) / n * size_bytes / b_intra if G > 1 else 0.0
        time_s = alpha + max(t_net, t_intra)
    else:
        time_s = alpha + size_bytes / (b_nic if N > 1 else b_intra)
    algbw = size_bytes / time_s
    return NcclPrediction(
        time_s=time_s, latency_s=alpha, algbw_bytes_per_s=algbw,
        busbw_bytes_per_s=algbw * busbw_factor(coll, n), algorithm="P2P", protocol="Simple",
        num_channels=graphs.graphs["Ring"].num_channels,  # type: ignore[union-attr]
        table_version="p2p-model",
    )
