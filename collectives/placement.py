"""Placing ranks on GPUs.

A communicator is a list of GPU node ids, rank i on the i-th. Strategies:

``packed``
    fill each server's GPUs before the next (the builders' GPU order).
``rail-aligned``
    ``ranks_per_node`` ranks on each server, always the same local GPUs (rails) 0..r-1.
``spread``
    round-robin over servers: rank i on server i mod N, so neighbours sit on different servers.
``random``
    a seeded random choice of GPUs (``seed``).
explicit
    a list of GPU node ids.

>>> import topologies
>>> G = topologies.build("single-hop", num_gpus=16, gpus_per_node=8)
>>> place(G, 4, "spread")
['node0/gpu0', 'node1/gpu0', 'node0/gpu1', 'node1/gpu1']
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from fabric.errors import InfeasibleError
from fabric.graph import node_table
from fabric.routing import fabric_index

__all__ = ["PLACEMENTS", "place", "place_ranks"]


PLACEMENTS = ("packed", "rail-aligned", "spread", "random")


def place(
    G: nx.DiGraph,
    num_ranks: int | None = None,
    placement: str | Sequence[str] = "packed",
    *,
    seed: int = 0,
    ranks_per_node: int | None = None,
) -> list[str]:
    """GPU node ids for ``num_ranks`` ranks (all GPUs when None) under ``placement``.

    Raises
    ------
    ValueError
        Unknown placement, ``num_ranks`` < 1, an explicit list naming a non-GPU or a GPU twice.
    InfeasibleError
        More ranks than the fabric (or the placement) has GPUs.
    """
    index = fabric_index(G)
    gpus = index.gpu_names
    if not isinstance(placement, str):
        ranks = list(placement)
        for g in ranks:
            at = index.index.get(g)
            if at is None or not index.is_gpu[at]:
                raise ValueError(f"placement names {g!r}, which is not a GPU of this fabric "
                                 f"(its GPU ids look like {gpus[0]!r})" if gpus else
                                 f"placement names {g!r}, and this fabric has no GPU")
        if len(set(ranks)) != len(ranks):
            raise ValueError("placement lists a GPU twice")
        if num_ranks is not None and num_ranks != len(ranks):
            raise ValueError(f"ranks ({num_ranks}) differs from the placement's {len(ranks)} GPUs")
        if not ranks:
            raise ValueError("placement must list at least one GPU")
        return ranks
    n = len(gpus) if num_ranks is None else int(num_ranks)
    if n < 1:
        raise ValueError(f"ranks must be >= 1, got {num_ranks}")
    if n > len(gpus):
        raise InfeasibleError(f"{n} ranks do not fit: the fabric has {len(gpus)} GPUs")
    if placement == "packed":
        return gpus[:n]
    by_node: dict[int, list[str]] = {}
    attrs = node_table(G)
    for g in gpus:
        by_node.setdefault(int(attrs[g].get("node", 0)), []).append(g)
    nodes = list(by_node.values())
    if placement == "rail-aligned":
        per = ranks_per_node or max(len(v) for v in nodes)
        chosen = [g for members in nodes for g in members[:per]]
        if len(chosen) < n:
            raise InfeasibleError(
                f"{n} ranks at {per} per node need {-(-n // per)} nodes; "
                f"the fabric has {len(nodes)}"
            )
        return chosen[:n]
    if placement == "spread":
        out = []
        depth = max(len(v) for v in nodes)
        for local in range(depth):
            for members in nodes:
                if local < len(members):
                    out.append(members[local])
        return out[:n]
    if placement == "random":
        rng = np.random.default_rng(seed)
        pick = rng.permutation(len(gpus))[:n]
        return [gpus[i] for i in pick]
    if placement in set(gpus):
        raise ValueError(f"placement {placement!r} names one GPU; list at least two, comma "
                         f"separated (e.g. {','.join(gpus[:2])})")
    raise ValueError(
        f"unknown placement {placement!r}; use one of {', '.join(PLACEMENTS)} or a list of GPU ids"
    )


def place_ranks(
    G: nx.DiGraph,
    ranks: int | Sequence[str] | None,
    placement: str | Sequence[str] = "packed",
    *,
    seed: int = 0,
) -> list[str]:
    """GPU node ids of a communicator given as a rank count or as the GPU ids themselves.

    Parameters
    ----------
    G
        The fabric.
    ranks
        Number of ranks, placed by ``placement`` (None: every GPU), or a sequence of GPU node ids,
        which is then the placement itself (``placement`` and ``seed`` are not used).
    placement, seed
        As for :func:`place`.

    Returns
    -------
    list of str
        GPU node ids, rank i on the i-th.

    Raises
    ------
    ValueError, InfeasibleError
        As :func:`place` raises them.

    >>> import topologies
    >>> G = topologies.build("single-hop", num_gpus=16, gpus_per_node=8)
    >>> place_ranks(G, 2, "spread")
    ['node0/gpu0', 'node1/gpu0']
    >>> place_ranks(G, ["node1/gpu3", "node0/gpu5"], "spread")
    ['node1/gpu3', 'node0/gpu5']
    """
    if isinstance(ranks, Sequence) and not isinstance(ranks, str):
        return place(G, None, ranks)
    return place(G, None if ranks is None else int(ranks), placement, seed=seed)
