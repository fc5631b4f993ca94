"""Rank layouts of records and the generic fabric built from them (:mod:`measure.generic_fabric`).

Moved out of ``test_calibrate.py``; the builder itself is tested in
``tests/topologies/test_generic.py``.
"""

from __future__ import annotations

import pytest

from measure.generic_fabric import (
    RankLayout,
    generic_fabric_from_records,
    gpus_for_layout,
    rank_layouts,
)
from measure.records import Record
from topologies.generic import generic_fabric


def test_generic_fabric_from_records_hosts_and_bandwidth():
    # 3 hosts over two records; host "b" is shared, so it is one node
    a = Record(operation="all-reduce", size_bytes=2**30, time_s=1e-3, num_ranks=4, num_hosts=2,
               hosts=["a", "a", "b", "b"])
    b = Record(operation="all-reduce", size_bytes=2**30, time_s=2e-3, num_ranks=2, num_hosts=2,
               hosts=["b", "c"])
    G = generic_fabric_from_records([a, b])
    assert G.graph["params"]["num_hosts"] == 3
    assert G.graph["params"]["gpus_per_host"] == 2
    # record b: all-reduce over 2 hosts at 1 GiB in 2 ms -> busbw 2(n-1)/n x S/t = 536.9 GB/s,
    # above NDR's 50 GB/s, so the network class starts there
    assert G.graph["params"]["network_bandwidth_bytes_per_s"] == pytest.approx(2**30 / 2e-3)
    assert G.graph["params"]["host_bandwidth_bytes_per_s"] == 450e9  # 18 x NVLink4 25 GB/s


def test_rank_layout_without_hosts_is_blocked():
    r = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=4, num_hosts=2)
    (layout,) = rank_layouts([r])
    assert layout.rank_hosts == (0, 0, 1, 1) and not layout.known
    bad = Record(operation="all-reduce", size_bytes=8, time_s=1e-5, num_ranks=3, num_hosts=2)
    with pytest.raises(ValueError, match="cannot lay out 3 ranks on 2 hosts"):
        rank_layouts([bad])


def test_gpus_for_layout_needs_room():
    G = generic_fabric(1, 4)
    with pytest.raises(ValueError, match="need 2 hosts; the fabric has 1 nodes"):
        gpus_for_layout(G, RankLayout(rank_hosts=(0, 1), rank_locals=(0, 0), known=True))
