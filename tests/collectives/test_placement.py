"""Rank placement (collectives.placement) on built fabrics; counts follow the builders' GPU order.
"""

from __future__ import annotations

import pytest

import topologies
from collectives.placement import PLACEMENTS, place
from fabric.errors import InfeasibleError


@pytest.fixture(scope="module")
def fabric():
    return topologies.build("rail-optimized", num_nodes=4)  # 4 servers x 8 GPUs


def test_packed_fills_servers_in_order(fabric) -> None:
    assert place(fabric, 10, "packed") == [f"node0/gpu{g}" for g in range(8)] + [
        "node1/gpu0",
        "node1/gpu1",
    ]


def test_spread_round_robins_servers(fabric) -> None:
    assert place(fabric, 6, "spread") == [
        "node0/gpu0",
        "node1/gpu0",
        "node2/gpu0",
        "node3/gpu0",
        "node0/gpu1",
        "node1/gpu1",
    ]


def test_rail_aligned_uses_the_same_rails_on_every_server(fabric) -> None:
    ranks = place(fabric, 8, "rail-aligned", ranks_per_node=2)
    assert ranks == [f"node{n}/gpu{g}" for n in range(4) for g in range(2)]
    with pytest.raises(
        InfeasibleError, match="9 ranks at 2 per node need 5 nodes; the fabric has 4"
    ):
        place(fabric, 9, "rail-aligned", ranks_per_node=2)


def test_random_is_seeded(fabric) -> None:
    a = place(fabric, 12, "random", seed=3)
    assert a == place(fabric, 12, "random", seed=3)
    assert a != place(fabric, 12, "random", seed=4)
    assert len(set(a)) == 12


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_all_gpus_by_default(fabric, placement: str) -> None:
    ranks = place(fabric, None, placement)
    assert sorted(ranks) == sorted(place(fabric, None, "packed"))
    assert len(ranks) == 32


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((0, "packed"), {}, ValueError, "ranks must be >= 1, got 0"),
        ((33, "packed"), {}, InfeasibleError, "33 ranks do not fit: the fabric has 32 GPUs"),
        ((4, "zigzag"), {}, ValueError, "unknown placement 'zigzag'"),
        ((None, ["node0/gpu0", "node0/gpu0"]), {}, ValueError, "lists a GPU twice"),
        ((None, ["node0/gpu0", "su0/leaf0"]), {}, ValueError, "'su0/leaf0', which is not a GPU"),
        ((None, ["node0/gpu0", "7"]), {}, ValueError, "its GPU ids look like 'node0/gpu0'"),
        ((None, "node0/gpu1"), {}, ValueError,
         "'node0/gpu1' names one GPU; list at least two, comma separated"),
        ((3, ["node0/gpu0", "node1/gpu0"]), {}, ValueError, r"ranks \(3\) differs"),
        ((None, []), {}, ValueError, "at least one GPU"),
    ],
)
def test_bad_placements(fabric, args, kwargs, error, message: str) -> None:
    with pytest.raises(error, match=message):
        place(fabric, *args, **kwargs)
