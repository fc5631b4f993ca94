"""Single-hop fabrics over parallel planes and NVL72-style scale-up domains."""

from __future__ import annotations

import pytest

from fabric.errors import InfeasibleError
from fabric.graph import summarize
from topologies import single_hop


@pytest.mark.parametrize("planes", [1, 2, 4])
def test_every_gpu_on_every_plane(planes):
    G = single_hop(512, planes=planes)
    switches = [n for n, d in G.nodes(data=True) if d.get("tier") == 1]
    assert switches == [f"plane{p}" for p in range(planes)]
    for p in range(planes):
        assert G.out_degree(f"plane{p}") == 512  # th6-200: 512 x 200G, one port per GPU
        assert G.nodes[f"plane{p}"]["plane"] == p
    s = summarize(G, exact_bisection=False)
    # per-GPU scale-out bandwidth = planes x link (200 Gb/s = 25 GB/s per plane), up to what
    # the H100's PCIe Gen5 x16 carries to its NICs (63 GB/s: 4 planes give 63, not 100)
    assert s.injection_bandwidth_bytes_per_s == pytest.approx(min(planes * 25e9, 63e9))
    assert s.hop_diameter == 1
    assert s.cables_by_tier == {"gpu-leaf": 512 * planes, "gpu-scale-up": 512 * 18}


def test_radix_too_small_is_infeasible_and_says_what_fits():
    # one plane of a 512-port switch (Broadcom Tomahawk 6, 2025) holds at most 512 GPUs in one hop
    with pytest.raises(InfeasibleError) as err:
        single_hop(520)
    assert str(err.value).startswith(
        "single-hop for 520 GPUs needs a switch radix >= 520; th6-200 has 512: ")
    assert "use at most 512 GPUs" in str(err.value)


def test_nvl72_style_scale_up_domain():
    # NVL72 (NVIDIA GB200 NVL72, 2024): 72 B200 per NVLink domain,
    # 18 NVLink5 links of 50 GB/s per direction
    G = single_hop(144, gpus_per_node=72, scaleup="nvlink-switch-tray", gpu="b200")
    edge = G.edges["node1/gpu71", "node1/nvswitch"]
    assert (edge["num_links"], edge["link"], edge["bandwidth_bytes_per_s"]) == (18, "nvlink5", 50e9)
    assert G.nodes["node1/nvswitch"]["tier"] == 0
    s = summarize(G)
    assert s.scaleup_bandwidth_bytes_per_s == pytest.approx(900e9)  # 1.8 TB/s bidirectional
    assert s.num_nodes == 2


def test_bisection_of_one_plane_is_half_the_gpus_times_the_link():
    s = summarize(single_hop(64, planes=2, scaleup=None))
    assert s.bisection_bandwidth_bytes_per_s == pytest.approx(32 * 2 * 25e9)  # N/2 x link


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_gpus": 64, "planes": 0}, "planes must be an integer >= 1, got 0"),
        ({"num_gpus": 64, "planes": 1.5}, "planes must be an integer >= 1, got 1.5"),
        ({"num_gpus": 12}, "num_gpus must be a multiple of gpus_per_node=8, got 12"),
        ({"num_gpus": -8}, "num_gpus must be an integer >= 1, got -8"),
        ({"num_gpus": 64, "switch": "th7"}, "unknown switch model 'th7'; known:"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError) as err:
        single_hop(**kwargs)
    assert message in str(err.value)


def test_one_gpu_per_node_takes_any_count():
    G = single_hop(7, gpus_per_node=1, scaleup=None)
    assert sum(1 for _, kind in G.nodes(data="kind") if kind == "gpu") == 7
