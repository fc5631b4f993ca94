"""The generic two-level fabric (topologies.generic): counts, link classes, defaults, errors.

Closed-form counts: H hosts of G GPUs have H*G GPUs, H host switches when G > 1, one network
switch; every GPU has one cable to the network switch and, when G > 1, one to its host switch.
Default bandwidths are read from the catalog here (H100: nvlink4 x 18 links; ndr400).
"""

from __future__ import annotations

import pytest

from fabric.catalog import default_catalog
from fabric.graph import gpu_nodes, validate_graph
from fabric.links import HOST_LINK, NETWORK_LINK, link_class
from topologies.generic import (
    GENERIC_TOPOLOGY,
    HOST_SWITCH_MODEL,
    NETWORK_SWITCH_MODEL,
    generic_fabric,
    generic_links,
)

CAT = default_catalog()


@pytest.mark.parametrize(("num_hosts", "gpus_per_host"), [(1, 1), (1, 8), (2, 1), (3, 4), (4, 8)])
def test_counts(num_hosts: int, gpus_per_host: int) -> None:
    G = generic_fabric(num_hosts, gpus_per_host)
    assert validate_graph(G) is G
    gpus = num_hosts * gpus_per_host
    host_switches = num_hosts if gpus_per_host > 1 else 0
    assert len(gpu_nodes(G)) == gpus
    assert G.number_of_nodes() == gpus + host_switches + 1
    cables = gpus * (2 if gpus_per_host > 1 else 1)
    assert G.number_of_edges() == 2 * cables
    assert G.nodes["network"]["radix"] == gpus
    assert G.nodes["network"]["model"] == NETWORK_SWITCH_MODEL
    if gpus_per_host > 1:
        assert G.nodes["node0/host-switch"]["model"] == HOST_SWITCH_MODEL
        assert G.nodes["node0/host-switch"]["radix"] == gpus_per_host
    assert G.graph["topology"] == GENERIC_TOPOLOGY


def test_links_are_named_by_class() -> None:
    G = generic_fabric(2, 4)
    for u, v, d in G.edges(data=True):
        # the link key is the class fabric.links gives the edge from its tiers
        tiers = [G.nodes[n].get("tier", -1) for n in (u, v)]
        assert d["link"] == link_class(*tiers)
        assert d["num_links"] == 1
    assert {d["link"] for _, _, d in G.edges(data=True)} == {HOST_LINK, NETWORK_LINK}


def test_default_links_come_from_the_catalog() -> None:
    nvlink, ndr = CAT.links["nvlink4"], CAT.links["ndr400"]
    host_bw = nvlink.bandwidth_bytes_per_s * CAT.gpus["h100"].nvlink_num_links
    links = generic_links()
    assert links.host_bandwidth_bytes_per_s == pytest.approx(host_bw)
    assert links.host_latency_s == pytest.approx(
        nvlink.latency_s + CAT.switches["nvswitch-h100"].latency_s)
    assert links.network_bandwidth_bytes_per_s == pytest.approx(ndr.bandwidth_bytes_per_s)
    assert links.network_latency_s == pytest.approx(
        ndr.latency_s + CAT.switches["qm9700"].latency_s)
    G = generic_fabric(1, 2)
    assert G.edges["node0/gpu0", "node0/host-switch"]["bandwidth_bytes_per_s"] == host_bw
    assert G.edges["network", "node0/gpu1"]["latency_s"] == links.network_latency_s


def test_given_bandwidths_and_rebuild_from_params() -> None:
    G = generic_fabric(2, 2, host_bandwidth_bytes_per_s=1e11, network_bandwidth_bytes_per_s=3e10)
    assert G.edges["node1/gpu1", "node1/host-switch"]["bandwidth_bytes_per_s"] == 1e11
    assert G.edges["network", "node1/gpu1"]["bandwidth_bytes_per_s"] == 3e10
    again = generic_fabric(**G.graph["params"])
    assert list(again.nodes(data=True)) == list(G.nodes(data=True))
    assert list(again.edges(data=True)) == list(G.edges(data=True))


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((0, 8), {}, "num_hosts must be an integer >= 1, got 0"),
    ((2, True), {}, "gpus_per_host must be an integer >= 1, got True"),
    ((2, 8), {"host_bandwidth_bytes_per_s": 0.0}, "host_bandwidth_bytes_per_s must be a finite"),
    ((2, 8), {"network_bandwidth_bytes_per_s": float("inf")}, "network_bandwidth_bytes_per_s"),
    ((2, 8), {"network_bandwidth_bytes_per_s": float("nan")}, "network_bandwidth_bytes_per_s"),
])
def test_rejects(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generic_fabric(*args, **kwargs)
