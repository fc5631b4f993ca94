"""Ranks placed on a fabric: their positions in the fabric index, scale-up domains and rails.

A :class:`Communicator` is what every flow pattern, bound and flavor starts from: rank ``i`` sits
on GPU ``ranks[i]``, at position ``pos[i]`` of the :class:`~fabric.routing.FabricIndex`. Ranks on
the same scale-up (tier-0) switch form a domain; a GPU without one is a domain of its own.
:func:`communicator` keeps what it built in the index's ``memo``, so it lives exactly as long as
the index (rebuilt when the graph changes) and cannot go stale.

>>> import topologies
>>> from fabric.routing import fabric_index
>>> G = topologies.build("rail-optimized", num_nodes=2)
>>> c = communicator(fabric_index(G), ["node0/gpu0", "node0/gpu1", "node1/gpu0"])
>>> c.n, [len(g) for g in c.groups]
(3, [2, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import networkx as nx
import numpy as np

from collectives.placement import place_ranks
from fabric.errors import InfeasibleError
from fabric.routing import FabricIndex, fabric_index

__all__ = ["Communicator", "PlacedRanks", "communicator", "placed_ranks"]

_MEMO_KEY = (__name__, "communicators")
_MEMO_LIMIT = 64  # distinct rank lists kept per index; a long sweep starts over


@dataclass(frozen=True, slots=True, kw_only=True)
class Communicator:
    """Ranks in order, with their index positions, scale-up domains and rails.

    ``domain[i]`` is rank i's scale-up switch position, or ``-1 - i`` when its GPU has none;
    ``groups`` lists the rank indices of each domain, domains in order of first appearance.
    """

    ranks: tuple[str, ...]
    pos: np.ndarray
    domain: np.ndarray
    rail: np.ndarray
    groups: tuple[np.ndarray, ...]

    @property
    def n(self) -> int:
        """Number of ranks."""
        return len(self.ranks)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedRanks:
    """A communicator on its fabric: what flow patterns and applicability rules read."""

    G: nx.DiGraph
    index: FabricIndex
    comm: Communicator


def communicator(index: FabricIndex, ranks: Sequence[str]) -> Communicator:
    """The :class:`Communicator` of GPU node ids ``ranks`` on the fabric of ``index`` (memoized).

    Raises
    ------
    KeyError
        If a rank is not a node of the fabric (placement validates rank lists first).
    """
    memo = cast("dict[tuple[str, ...], Communicator]", index.memo.setdefault(_MEMO_KEY, {}))
    key = tuple(ranks)
    found = memo.get(key)
    if found is not None:
        return found
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    comm = _build(index, key)
    memo[key] = comm
    return comm


def placed_ranks(
    G: nx.DiGraph,
    ranks: int | Sequence[str] | None = None,
    placement: str | Sequence[str] = "packed",
    *,
    seed: int = 0,
) -> PlacedRanks:
    """Ranks placed on ``G`` (:func:`collectives.placement.place_ranks`) with their communicator:
    what every prediction starts from.

    Raises
    ------
    ValueError
        Fewer than 2 ranks, or as :func:`~collectives.placement.place_ranks` raises.
    InfeasibleError
        More ranks than the placement finds GPUs, or a rank on a GPU without a network link
        among ranks of several servers.
    """
    chosen = place_ranks(G, ranks, placement, seed=seed)
    if len(chosen) < 2:
        raise ValueError(f"a collective needs at least 2 ranks, got {len(chosen)}")
    index = fabric_index(G)
    comm = communicator(index, chosen)
    if len(comm.groups) > 1:
        # a rank on a GPU with no network link cannot reach the ranks outside its server: say
        # which GPU, not that every algorithm's flows found no path
        cut = [index.nodes[p] for p in comm.pos[index.class_of[comm.pos] < 0].tolist()]
        if cut:
            shown = ", ".join(map(str, cut[:3])) + (f" and {len(cut) - 3} more"
                                                      if len(cut) > 3 else "")
            one = len(cut) == 1
            raise InfeasibleError(
                f"{shown} {'has' if one else 'have'} no network link (no cable to a leaf "
                f"switch or a NIC) and cannot reach the ranks outside {'its' if one else 'their'}"
                f" server; cable {'it' if one else 'them'} in the spec, or leave "
                f"{'it' if one else 'them'} out with --ranks (`fabric topology show FILE "
                f"--check` lists such GPUs)")
    return PlacedRanks(G=G, index=index, comm=comm)


def _build(index: FabricIndex, ranks: tuple[str, ...]) -> Communicator:
    pos = np.fromiter(map(index.index.__getitem__, ranks), dtype=np.int64, count=len(ranks))
    dom = index.scaleup_switch[pos].copy()
    lone = dom < 0
    dom[lone] = -1 - np.flatnonzero(lone)
    rail = index.rail[pos]
    # ranks grouped by domain: domains in order of first appearance, ranks in order within
    _, first, inverse = np.unique(dom, return_index=True, return_inverse=True)
    rank_of = np.empty(len(first), dtype=np.int64)
    rank_of[np.argsort(first, kind="stable")] = np.arange(len(first))
    key = rank_of[inverse.reshape(-1)]
    members = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[members])) + 1
    groups = tuple(np.split(members, cuts)) if len(members) else ()
    return Communicator(ranks=ranks, pos=pos, domain=dom, rail=rail, groups=groups)
