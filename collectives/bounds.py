"""The bandwidth-optimal lower bound of a collective on a placement: no algorithm does better.

Bytes that must leave each GPU, and each scale-up domain, over their own links, with no latency.
Both flavors report their time over this bound (``Prediction.bound_ratio``).

>>> import topologies
>>> from collectives.communicator import communicator
>>> from fabric.routing import fabric_index
>>> G = topologies.build("single-hop", num_gpus=8, gpus_per_node=1, scaleup=None)
>>> index = fabric_index(G)
>>> c = communicator(index, index.gpu_names)
>>> egress = float(index.egress_bytes_per_s[c.pos[0]])
>>> round(bandwidth_lower_bound_s(index, c, "all-reduce", 1.0) * egress, 3)  # 2(n-1)/n
1.75
"""

from __future__ import annotations

import numpy as np

from collectives.communicator import Communicator
from fabric.routing import FabricIndex

__all__ = ["bandwidth_lower_bound_s"]


def bandwidth_lower_bound_s(
    index: FabricIndex, comm: Communicator, collective: str, size_bytes: float
) -> float:
    """Bandwidth-optimal time: bytes each GPU, and each scale-up domain, must move over its links.

    Parameters
    ----------
    index
        The fabric's :class:`~fabric.routing.FabricIndex`.
    comm
        The ranks (:func:`collectives.communicator.communicator`).
    collective
        A canonical collective name (:mod:`collectives.names`).
    size_bytes
        nccl-tests' size; the bound is linear in it.

    Returns
    -------
    float
        Seconds; 0 when no party has egress.

    Notes
    -----
    Two bounds, at the level of GPUs and of domains (a domain D has m_D of the n ranks):

    * some party moves the busbw factor x S (Patarasuk & Yuan's all-reduce bound 2(p-1)/p S,
      JPDC 2009): at least that over the best-connected party's egress;
    * cut bounds, for every party: all-reduce S (every result outside D needs D's input),
      reduce-scatter and all-gather (n - m_D)/n S, all-to-all m_D (n - m_D)/n S, over its own
      egress.

    With equal parties both reduce to the busbw factor over one party's links.
    """
    n = comm.n
    busbw = {
        "all-reduce": 2 * (n - 1) / n,
        "all-gather": (n - 1) / n,
        "reduce-scatter": (n - 1) / n,
        "all-to-all": (n - 1) / n,
    }.get(collective, 1.0)

    def bound(m: np.ndarray, egress: np.ndarray, parties: int) -> float:
        ok = egress > 0
        if not ok.any():
            return 0.0
        some = {"all-reduce": 2 * (parties - 1) / parties}.get(collective, 0.0)
        cut = {
            "all-reduce": np.ones_like(m),
            "all-gather": (n - m) / n,
            "reduce-scatter": (n - m) / n,
            "all-to-all": m * (n - m) / n,
        }.get(collective)
        if cut is None:
            return 0.0
        return max(
            some * size_bytes / float(egress[ok].max()),
            float((cut[ok] * size_bytes / egress[ok]).max()),
        )

    per_gpu_egress = index.egress_bytes_per_s[comm.pos]
    if collective in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
        worst = bound(np.ones(n), per_gpu_egress, n)
    else:
        worst = busbw * size_bytes / float(per_gpu_egress.min())
    if len(comm.groups) <= 1:
        return worst
    # scale-out egress per domain: GPU -> switch/NIC edges, summed over the domain's ranks
    out_edges = np.flatnonzero(index.is_gpu[index.edge_src] & index.transit[index.edge_dst])
    per_node = np.bincount(
        index.edge_src[out_edges],
        weights=index.edge_capacity_bytes_per_s[out_edges],
        minlength=index.num_nodes,
    )
    _, dom_idx = np.unique(comm.domain, return_inverse=True)
    dom_egress = np.bincount(dom_idx, weights=per_node[comm.pos])
    m = np.bincount(dom_idx).astype(float)
    return max(worst, bound(m, dom_egress, len(m)))
