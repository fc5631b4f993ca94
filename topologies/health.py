"""The health of a fabric as racked: what engineers look for by hand in an ``ibnetdiscover`` dump.

Five checks on a fabric graph (any, but the first needs the ``width``/``speed`` edge attributes
that :mod:`topologies.discovery` records):

* **Links below rate.** A cable bundle that trained narrower (2x on a 4x port) or slower (HDR on
  an NDR switch) than the best its switch shows elsewhere, or slower than its catalog model's
  port rate (non-generic switches only).
* **Oversubscription per tier.** For each tier, down-link capacity over up-link capacity summed
  over its switches (worst switch too): 1.0 is non-blocking.
* **Asymmetric leaves.** Leaves whose uplink count differs from the most common count.
* **Missing cables.** The regular family the fabric most resembles: every leaf cabled to every
  spine with the same number of links (a two-tier leaf/spine, as :func:`topologies.clos` builds),
  each lower switch of a tier with the same uplink count. Each leaf-spine pair below the most
  common bundle size, and each pair with no cable at all, is a missing cable.
* **GPUs short of network links.** A GPU with fewer scale-out links (to a leaf, or through its
  NIC) than most GPUs of the fabric: a cable left out or dead, which no leaf-spine check sees
  and which makes every collective over that GPU route around it or fail.

>>> import topologies
>>> G = topologies.clos(128, tiers=2)
>>> report = check_fabric(G)
>>> report.num_problems, report.oversubscription[0].ratio
(0, 1.0)
>>> spine = next(s for s in G["leaf0"] if G.nodes[s].get("tier") == 2)
>>> removed = G["leaf0"][spine]["num_links"]
>>> G.remove_edge("leaf0", spine); G.remove_edge(spine, "leaf0")
>>> sum(m.count for m in check_fabric(G).missing_cables) == removed
True
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import networkx as nx

from fabric.catalog import Catalog, default_catalog
from fabric.graph import TIER_NAMES

__all__ = [
    "SlowLink",
    "TierOversubscription",
    "AsymmetricLeaf",
    "MissingCables",
    "ShortGpu",
    "HealthReport",
    "check_fabric",
]

_SPEEDS = ("SDR", "DDR", "QDR", "FDR10", "FDR", "EDR", "HDR", "NDR", "XDR")


def _rank(speed: object) -> int:
    return _SPEEDS.index(speed) if speed in _SPEEDS else -1


@dataclass(frozen=True, slots=True, kw_only=True)
class SlowLink:
    """A cable bundle running below the rate its switch supports.

    Attributes
    ----------
    a, b
        The two ends (``a`` is a switch).
    num_links
        Cables in the bundle; ``num_slow`` of them are slow.
    trained
        What it trained at (``2xNDR``, or a rate ``200 Gb/s``).
    expected
        What its switch runs elsewhere or its model supports (``4xNDR``).
    reason
        ``width``, ``speed`` or ``rate``.
    """

    a: str
    b: str
    num_links: int
    num_slow: int
    trained: str
    expected: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TierOversubscription:
    """Down- over up-capacity of one tier's switches (1.0: non-blocking).

    Attributes
    ----------
    tier
        ``leaf``, ``spine`` ...
    down_bandwidth_bytes_per_s, up_bandwidth_bytes_per_s
        Summed over the tier's switches, one direction.
    ratio
        down / up (inf when a tier has no uplinks).
    worst_ratio
        The largest per-switch ratio; ``worst_switch`` is that switch.
    """

    tier: str
    down_bandwidth_bytes_per_s: float
    up_bandwidth_bytes_per_s: float
    ratio: float
    worst_ratio: float
    worst_switch: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AsymmetricLeaf:
    """A leaf whose uplink count differs from most leaves'."""

    leaf: str
    num_uplinks: int
    expected_uplinks: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MissingCables:
    """Cables missing between a lower and an upper switch against the regular layout."""

    lower: str
    upper: str
    count: int
    expected: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortGpu:
    """A GPU with fewer scale-out links than most GPUs of the fabric (0: none at all)."""

    gpu: str
    num_links: int
    expected_links: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    """All checks of :func:`check_fabric`.

    Attributes
    ----------
    resembles
        The regular family the fabric was compared with, in words.
    """

    resembles: str
    slow_links: list[SlowLink] = field(default_factory=list)
    oversubscription: list[TierOversubscription] = field(default_factory=list)
    asymmetric_leaves: list[AsymmetricLeaf] = field(default_factory=list)
    missing_cables: list[MissingCables] = field(default_factory=list)
    short_gpus: list[ShortGpu] = field(default_factory=list)

    @property
    def num_problems(self) -> int:
        """Slow bundles + asymmetric leaves + missing cables + GPUs short of links."""
        return (len(self.slow_links) + len(self.asymmetric_leaves)
                + sum(m.count for m in self.missing_cables) + len(self.short_gpus))


def _trained(data: dict[str, object]) -> str:
    width, speed = data.get("width"), data.get("speed")
    if width and speed:
        return f"{width}x{speed}"
    return f"{float(data['bandwidth_bytes_per_s']) * 8 / 1e9:g} Gb/s"  # type: ignore[arg-type]


def _slow_links(G: nx.DiGraph, catalog: Catalog) -> list[SlowLink]:
    best_width: dict[str, int] = defaultdict(int)
    best_speed: dict[str, int] = defaultdict(lambda: -1)
    for u, _, d in G.edges(data=True):
        if G.nodes[u]["kind"] == "switch" and d.get("width"):
            best_width[u] = max(best_width[u], int(d["width"]))
            best_speed[u] = max(best_speed[u], _rank(d.get("speed")))
    out = []
    for u, v, d in G.edges(data=True):
        nu, nv = G.nodes[u], G.nodes[v]
        if nu["kind"] != "switch" or nu["tier"] == 0 or (
                nv["kind"] == "switch" and (nv["tier"] == 0 or str(v) < str(u))):
            continue  # each scale-out bundle once, from a switch end
        width, speed = d.get("width"), _rank(d.get("speed"))
        ends = [e for e in (u, v) if G.nodes[e]["kind"] == "switch"]
        if width:
            # a cable cannot beat the slower of its switches: expect the lower of their bests
            want_w = min(best_width[e] for e in ends)
            want_s = min(best_speed[e] for e in ends)
            slow = d.get("slow_links", 0) or d["num_links"]
            if int(width) < want_w:
                out.append(SlowLink(a=u, b=v, num_links=d["num_links"], num_slow=slow,
                                    trained=_trained(d), expected=f"{want_w}x{_SPEEDS[want_s]}",
                                    reason="width"))
            elif speed < want_s:
                out.append(SlowLink(a=u, b=v, num_links=d["num_links"], num_slow=slow,
                                    trained=_trained(d), expected=f"{want_w}x{_SPEEDS[want_s]}",
                                    reason="speed"))
            elif d.get("slow_links"):
                out.append(SlowLink(a=u, b=v, num_links=d["num_links"], num_slow=d["slow_links"],
                                    trained=f"{d['slow_links']} of {d['num_links']} slower",
                                    expected=_trained(d), reason="rate"))
            continue
        model = catalog.switches.get(str(nu.get("model")))
        if model is None or nu.get("generic"):
            continue
        port = catalog.links.get(model.port_link)
        if port and d["bandwidth_bytes_per_s"] < port.bandwidth_bytes_per_s * (1 - 1e-9):
            out.append(SlowLink(a=u, b=v, num_links=d["num_links"], num_slow=d["num_links"],
                                trained=_trained(d), expected=port.name, reason="rate"))
    return out


def _up_down(G: nx.DiGraph, s: str) -> tuple[float, float, Counter[str]]:
    tier = G.nodes[s]["tier"]
    down = up = 0.0
    uplinks: Counter[str] = Counter()
    for _, v, d in G.out_edges(s, data=True):
        nv = G.nodes[v]
        bw = d["bandwidth_bytes_per_s"] * d["num_links"]
        if nv["kind"] == "switch" and nv["tier"] > tier:
            up += bw
            uplinks[v] += d["num_links"]
        elif nv["kind"] != "switch" or 0 < nv["tier"] < tier:
            down += bw
    return down, up, uplinks


def _short_gpus(G: nx.DiGraph) -> list[ShortGpu]:
    """GPUs with fewer scale-out links (``num_links`` of their cables to a switch above tier 0
    or to a NIC, counted once per direction out) than the most common count; none when no GPU
    has one (a scale-up-only fabric)."""
    kinds = G.nodes
    links: dict[str, int] = {}
    for n, d in G.nodes(data=True):
        if d["kind"] != "gpu":
            continue
        links[n] = sum(int(data.get("num_links", 1)) for v, data in G[n].items()
                       if kinds[v]["kind"] == "nic"
                       or (kinds[v]["kind"] == "switch" and int(kinds[v].get("tier", 0)) >= 1))
    if not links or not any(links.values()):
        return []
    usual = Counter(links.values()).most_common(1)[0][0]
    return [ShortGpu(gpu=g, num_links=k, expected_links=usual)
            for g, k in links.items() if k < usual]


def check_fabric(G: nx.DiGraph, *, catalog: Catalog | None = None) -> HealthReport:
    """Run the five health checks on a fabric graph.

    Parameters
    ----------
    G
        A fabric (an imported one carries trained widths and speeds; a built one only rates).
    catalog
        For the switch models' port rates; default the built-in one.

    Returns
    -------
    HealthReport
        Everything found; ``num_problems`` 0 for a healthy regular fabric.
    """
    cat = catalog if catalog is not None else default_catalog()
    by_tier: dict[int, list[str]] = defaultdict(list)
    for n, d in G.nodes(data=True):
        if d["kind"] == "switch" and d["tier"] >= 1:
            by_tier[int(d["tier"])].append(n)
    tiers = sorted(by_tier)
    oversub = []
    uplinks: dict[str, Counter[str]] = {}
    for tier in tiers[:-1] if len(tiers) > 1 else []:
        down_sum = up_sum = 0.0
        worst, worst_s = 0.0, ""
        for s in by_tier[tier]:
            down, up, ups = _up_down(G, s)
            uplinks[s] = ups
            down_sum += down
            up_sum += up
            ratio = down / up if up else float("inf")
            if ratio > worst:
                worst, worst_s = ratio, s
        oversub.append(TierOversubscription(
            tier=TIER_NAMES.get(tier, str(tier)), down_bandwidth_bytes_per_s=down_sum,
            up_bandwidth_bytes_per_s=up_sum,
            ratio=down_sum / up_sum if up_sum else float("inf"), worst_ratio=worst,
            worst_switch=worst_s))
    asym = []
    missing = []
    leaves = by_tier.get(tiers[0], []) if tiers else []
    if len(tiers) > 1 and leaves:
        counts = Counter(sum(uplinks[s].values()) for s in leaves)
        usual = counts.most_common(1)[0][0]
        asym = [AsymmetricLeaf(leaf=s, num_uplinks=sum(uplinks[s].values()),
                               expected_uplinks=usual)
                for s in leaves if sum(uplinks[s].values()) != usual]
        uppers = by_tier[tiers[1]]
        bundle = Counter(n for s in leaves for n in uplinks[s].values()).most_common(1)
        per_pair = bundle[0][0] if bundle else 1
        full_mesh = sum(1 for s in leaves if len(uplinks[s]) == len(uppers)) * 2 > len(leaves)
        if full_mesh:
            resembles = (f"two-level leaf/spine: every {TIER_NAMES.get(tiers[0])} cabled to "
                         f"every one of {len(uppers)} {TIER_NAMES.get(tiers[1])} switches with "
                         f"{per_pair} link(s)")
            for s in leaves:
                for t in uppers:
                    have = uplinks[s].get(t, 0)
                    if have < per_pair:
                        missing.append(MissingCables(lower=s, upper=t, count=per_pair - have,
                                                     expected=per_pair))
        else:
            resembles = (f"leaf/spine with {usual} uplink(s) per leaf, not every leaf on every "
                         f"spine (pods or rails): missing cables counted per leaf")
            for a in asym:
                if a.num_uplinks < usual:
                    missing.append(MissingCables(lower=a.leaf, upper="(any)",
                                                 count=usual - a.num_uplinks, expected=usual))
    else:
        resembles = "a single switch tier: nothing to compare uplinks with"
    return HealthReport(resembles=resembles, slow_links=_slow_links(G, cat),
                        oversubscription=oversub, asymmetric_leaves=asym,
                        missing_cables=missing, short_gpus=_short_gpus(G))
