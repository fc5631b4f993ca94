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
    CPU_RANKS,
    GENERIC_TOPOLOGY,
    HOST_SWITCH_MODEL,
    NETWORK_SWITCH_MODEL,
    STAGED_PCIE_FRACTION,
    ClusterDescription,
    cluster_links,
    cluster_of_params,
    generic_fabric,
    generic_links,
    rebuild_generic_fabric,
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


# -- a described cluster (ClusterDescription) ------------------------------------------------


def _nics(G) -> list[str]:
    return [n for n, kind in G.nodes(data="kind") if kind == "nic"]


def test_a100_with_four_hdr_nics_per_eight_gpus() -> None:
    """ABCI A-node / DGX-A100-like: 8 x A100 (12 NVLink3 links, NVIDIA A100 datasheet: 600 GB/s
    bidirectional), 4 x HDR 200G shared by two GPUs each."""
    a100 = ClusterDescription(gpu="a100-40gb", nic="hdr200", nics_per_node=4)
    G = generic_fabric(3, 8, cluster=a100)
    assert validate_graph(G) is G
    nvlink3, hdr = CAT.links["nvlink3"], CAT.links["hdr200"]
    host_bw = nvlink3.bandwidth_bytes_per_s * CAT.gpus["a100-40gb"].nvlink_num_links
    assert host_bw == 300e9  # 600 GB/s bidirectional
    assert G.edges["node2/gpu7", "node2/host-switch"]["bandwidth_bytes_per_s"] == host_bw
    assert {G.nodes[g]["model"] for g in gpu_nodes(G)} == {"a100-40gb"}
    # 3 hosts x 4 NICs, each a node between two GPUs and the network switch
    assert len(_nics(G)) == 12
    for h in range(3):
        for i in range(4):
            nic = f"node{h}/nic{i}"
            gpus = sorted(u for u in G.predecessors(nic) if G.nodes[u]["kind"] == "gpu")
            assert gpus == [f"node{h}/gpu{2 * i}", f"node{h}/gpu{2 * i + 1}"]
            assert G.edges[nic, "network"]["bandwidth_bytes_per_s"] == hdr.bandwidth_bytes_per_s
            assert G.edges["network", nic]["num_links"] == 1
    # GPUs reach their NIC over their PCIe link (A100: Gen4 x16), at most at the NIC's rate
    pcie = CAT.links["pcie4x16"].bandwidth_bytes_per_s
    assert G.edges["node0/gpu0", "node0/nic0"]["bandwidth_bytes_per_s"] == min(
        pcie, hdr.bandwidth_bytes_per_s)
    slow = generic_fabric(1, 4, cluster=ClusterDescription(gpu="t4", nic="roce400",
                                                           nics_per_node=1))
    assert slow.edges["node0/gpu0", "node0/nic0"]["bandwidth_bytes_per_s"] == (
        CAT.links["pcie3x16"].bandwidth_bytes_per_s)  # T4's PCIe Gen3 is below 400G
    assert not G.has_edge("node0/gpu0", "network")
    params = G.graph["params"]
    assert {k: params[k] for k in ("gpu", "nic", "nics_per_node", "peer_to_peer")} == {
        "gpu": "a100-40gb", "nic": "hdr200", "nics_per_node": 4, "peer_to_peer": None}
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in params.values())
    assert cluster_of_params(params) == a100
    assert params["network_bandwidth_bytes_per_s"] == 4 * hdr.bandwidth_bytes_per_s / 8
    assert params["nic_bandwidth_bytes_per_s"] == hdr.bandwidth_bytes_per_s
    for u, v, d in G.edges(data=True):
        tiers = [G.nodes[n].get("tier", -1) for n in (u, v)]
        assert d["link"] == link_class(*tiers)


def test_more_nics_than_gpus_are_parallel_links() -> None:
    """OCI BM.GPU.H100.8: 16 x 200G RDMA ports for 8 GPUs: two links per GPU, no NIC nodes."""
    G = generic_fabric(2, 8, cluster=ClusterDescription(gpu="h100", nic="roce200",
                                                        nics_per_node=16))
    assert _nics(G) == []
    edge = G.edges["node1/gpu3", "network"]
    assert (edge["num_links"], edge["bandwidth_bytes_per_s"]) == (2, 25e9)
    assert G.graph["params"]["network_bandwidth_bytes_per_s"] == 50e9


def test_a_nic_key_brings_its_ports() -> None:
    cx7 = CAT.nics["cx7-400"]
    cl = cluster_links(ClusterDescription(nic="cx7-400", nics_per_node=2), 8)
    assert cl.nic_link == cx7.link and cl.nic_ports == cx7.ports
    assert cl.nic_bandwidth_bytes_per_s == CAT.links[cx7.link].bandwidth_bytes_per_s * cx7.ports
    assert cl.shared_nics


@pytest.mark.parametrize(("peer_to_peer", "fraction"), [(None, STAGED_PCIE_FRACTION),
                                                        (False, STAGED_PCIE_FRACTION),
                                                        (True, 1.0)])
def test_pcie_gpus_without_peer_to_peer_stage_through_host_memory(peer_to_peer, fraction) -> None:
    """T4: no NVLink, PCIe Gen3 x16 (NVIDIA T4 datasheet); the catalog says no peer-to-peer."""
    assert CAT.gpus["t4"].peer_to_peer is False
    t4 = ClusterDescription(gpu="t4", nic="roce100", nics_per_node=1, peer_to_peer=peer_to_peer)
    cl = cluster_links(t4, 4)
    gen3 = CAT.links["pcie3x16"]
    assert cl.host_bandwidth_bytes_per_s == pytest.approx(gen3.bandwidth_bytes_per_s * fraction)
    staged = peer_to_peer is not True
    assert ("staged" in cl.host_path) is staged
    assert cl.host_latency_s == pytest.approx(gen3.latency_s * (2 if staged else 1))
    G = generic_fabric(2, 4, cluster=t4)
    assert G.edges["node0/gpu1", "node0/host-switch"]["bandwidth_bytes_per_s"] == pytest.approx(
        cl.host_bandwidth_bytes_per_s)


def test_cpu_ranks_share_memory_inside_and_one_nic_outside() -> None:
    cpu = ClusterDescription(gpu=CPU_RANKS, nic="roce100")
    G = generic_fabric(2, 36, cluster=cpu)
    shm = CAT.links["shm"]
    assert G.edges["node1/gpu35", "node1/host-switch"]["bandwidth_bytes_per_s"] == (
        shm.bandwidth_bytes_per_s)
    assert len(_nics(G)) == 2  # one NIC per host by default for CPU ranks
    assert sum(1 for u in G.predecessors("node0/nic0") if G.nodes[u]["kind"] == "gpu") == 36
    assert G.edges["node0/nic0", "network"]["bandwidth_bytes_per_s"] == 12.5e9
    assert G.graph["params"]["network_bandwidth_bytes_per_s"] == pytest.approx(12.5e9 / 36)


def test_xgmi_is_the_mi300x_scale_up_link() -> None:
    """AMD MI300X data sheet: 7 Infinity Fabric links x 128 GB/s bidirectional."""
    cl = cluster_links(ClusterDescription(gpu="mi300x"), 8)
    assert cl.host_bandwidth_bytes_per_s == 7 * 64e9
    assert cl.host_path == "7 x xgmi3"


def test_rebuild_at_another_node_count_keeps_the_servers() -> None:
    p4d = ClusterDescription(gpu="a100-40gb", nic="efa100", nics_per_node=4)
    G = generic_fabric(2, 8, cluster=p4d, network_bandwidth_bytes_per_s=10e9)
    # a GPU's share 10 GB/s with 2 GPUs per NIC: NICs scaled to 20 GB/s
    assert G.edges["node0/nic0", "network"]["bandwidth_bytes_per_s"] == pytest.approx(20e9)
    H = rebuild_generic_fabric(G.graph["params"], num_hosts=16)
    assert len(gpu_nodes(H)) == 128 and len(_nics(H)) == 64
    assert H.edges["node15/nic3", "network"]["bandwidth_bytes_per_s"] == pytest.approx(20e9)
    assert cluster_of_params(H.graph["params"]) == p4d
    same = rebuild_generic_fabric(G.graph["params"])
    assert list(same.edges(data=True)) == list(G.edges(data=True))
    legacy = generic_fabric(2, 2, host_bandwidth_bytes_per_s=1e11)
    assert list(rebuild_generic_fabric(legacy.graph["params"]).edges(data=True)) == list(
        legacy.edges(data=True))


def test_without_a_cluster_nothing_changes() -> None:
    G = generic_fabric(2, 8)
    assert cluster_of_params(G.graph["params"]) is None and _nics(G) == []
    assert {G.nodes[g]["model"] for g in gpu_nodes(G)} == {"h100"}


@pytest.mark.parametrize(("cluster", "message"), [
    ({"gpu": "a200"}, "unknown gpu 'a200'; known: a100"),
    ({"nic": "hdr300"}, "unknown nic 'hdr300'; known links and NICs: "),
    ({"nics_per_node": 0}, "nics_per_node must be an integer >= 1, got 0"),
    ({"peer_to_peer": "yes"}, "peer_to_peer must be True, False or None, got 'yes'"),
    ({"nvls": 1}, "nvls must be True, False or None, got 1"),
    ({"gpu": "a100-40gb", "nvls": True}, "nvls needs an NVSwitch that reduces in the network"),
    ({"gpu": CPU_RANKS, "nvls": True}, "nvls needs an NVSwitch that reduces in the network"),
    ({"gpu": ""}, "gpu must be a catalog GPU key or 'cpu'"),
])
def test_bad_cluster(cluster: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generic_fabric(2, 8, cluster=ClusterDescription(**cluster))


def _nvls(G) -> set[bool]:
    return {d["in_network_reduction"] for _, d in G.nodes(data=True)
            if d.get("model") == HOST_SWITCH_MODEL}


@pytest.mark.parametrize(("gpu", "expected"), [
    ("h100", True), ("h200", True), ("b200", True),  # NVSwitch 3 and later: NVLink SHARP
    ("a100-40gb", False), ("v100-16gb", False),       # NVSwitch 2 / NVLink 2: none
    ("mi300x", False), ("t4", False), (CPU_RANKS, False),
])
def test_nvls_follows_the_gpus_nvswitch(gpu: str, expected: bool) -> None:
    """The catalog's scale-up switches on the GPU's NVLink generation decide the default."""
    nvlink = CAT.gpus[gpu].nvlink if gpu != CPU_RANKS else ""
    switches = [m for m in CAT.switches.values()
                if m.tier_kind == "scale-up" and nvlink and m.port_link == nvlink]
    assert any(m.in_network_reduction for m in switches) is expected
    G = generic_fabric(2, 4, cluster=ClusterDescription(gpu=gpu, nic="ndr400"))
    assert _nvls(G) == {expected}
    assert cluster_links(ClusterDescription(gpu=gpu), 4).in_network_reduction is expected


def test_undescribed_servers_have_no_nvls() -> None:
    """The undescribed generic fabric stands for any server (logs of unknown GPUs are fitted
    on it), so it does not assume in-network reduction even though its figures are H100's."""
    assert _nvls(generic_fabric(2, 8)) == {False}


def test_no_nvls_is_kept_by_the_params_and_picks_ring() -> None:
    """One HGX H100: NCCL's tuner picks NVLS at 1 GiB when the NVSwitch reduces (about 480 GB/s
    busbw measured, NVIDIA/nccl issue 1455), Ring without (368 GB/s measured with
    NCCL_ALGO=Ring, together-nccl-tests)."""
    from collectives.predict import predict_many

    off = ClusterDescription(gpu="h100", nvls=False)
    G = generic_fabric(1, 8, cluster=off)
    assert _nvls(G) == {False}
    assert cluster_of_params(G.graph["params"]) == off
    assert _nvls(rebuild_generic_fabric(G.graph["params"], num_hosts=2)) == {False}
    on = generic_fabric(1, 8, cluster=ClusterDescription(gpu="h100"))
    with_nvls = predict_many(on, "all-reduce", [1 << 30], flavor="nccl")[0]
    without = predict_many(G, "all-reduce", [1 << 30], flavor="nccl")[0]
    assert (with_nvls.algorithm, without.algorithm) == ("NVLS", "Ring")
    assert with_nvls.busbw_bytes_per_s == pytest.approx(480e9, rel=0.05)
    assert without.busbw_bytes_per_s == pytest.approx(368e9, rel=0.05)
