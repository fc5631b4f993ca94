"""One server of a fabric as an NCCL topology XML (``NCCL_TOPO_FILE``).

NCCL reads a server's topology from the file ``NCCL_TOPO_FILE`` names, in the layout it writes
to ``NCCL_TOPO_DUMP_FILE``: ``<system version="1">`` > ``<cpu>`` > ``<pci>`` switches whose
children are ``<pci class="0x030200">`` holding a ``<gpu dev= sm= rank= gdr=>`` (its
``<nvlink target= count= tclass=>`` children: peers and link counts; an NVSwitch has
``tclass="0x068000"``) and ``<pci class="0x020000">`` holding ``<nic><net name= dev= speed=
port= gdr=/></nic>`` (speed in Mb/s). Reference: NVIDIA/nccl ``src/graph/xml.cc`` (reader and
writer) and ``src/graph/topo.cc`` (what each attribute means); retrieved 2026-12-04.

Written: one CPU, one PCIe switch per GPU with the GPU and its NIC under it (the DGX/HGX
layout: GPU ``i`` and NIC ``i`` share a switch), NVLink from each GPU to one NVSwitch with the
GPU's link count, NICs at the rate of the GPU's network link. Not written: CPU model and
affinity, PCIe link speeds other than Gen5 x16, the true PCIe bus ids.

>>> import topologies
>>> from topologies.discovery.server import parse_server
>>> xml = nccl_topology_xml(topologies.clos(16, tiers=1))
>>> s = parse_server(xml, "nccl-xml")
>>> s.num_gpus, s.nvlink_links_per_gpu, s.num_nics, s.gpu
(8, 18, 8, 'h100')
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import networkx as nx

from fabric import units
from fabric.catalog import default_catalog
from fabric.graph import gpu_nodes

__all__ = ["nccl_topology_xml", "GPU_SM"]

#: Catalog GPU key -> CUDA compute capability x 10 (NCCL's ``sm``), NVIDIA CUDA GPUs page.
GPU_SM = {
    "v100": 70, "v100-16gb": 70, "v100-32gb": 70, "t4": 75, "a100": 80, "a100-40gb": 80,
    "a100-80gb": 80, "a100-pcie": 80, "l40s": 89, "h100": 90, "h100-pcie": 90, "h200": 90,
    "b200": 100, "gb200": 100, "b300": 103, "gb300": 103,
}
_NVSWITCH_BUSID = "0001:00:00.0"  # outside the GPUs' PCI domain


def _pci(busid: str, pci_class: str) -> dict[str, str]:
    return {"busid": busid, "class": pci_class, "link_speed": "32.0 GT/s PCIe",
            "link_width": "16"}


def nccl_topology_xml(G: nx.DiGraph, *, node: int | None = None) -> str:
    """The NCCL topology XML of one server of ``G``.

    Parameters
    ----------
    G
        A fabric.
    node
        The server (GPU attribute ``node``); default the first GPU's.

    Raises
    ------
    ValueError
        If the server has no GPU, or its GPU model is not an NVIDIA GPU NCCL knows.
    """
    gpus = gpu_nodes(G)
    if node is None and gpus:
        node = G.nodes[gpus[0]]["node"]
    mine = sorted((g for g in gpus if G.nodes[g]["node"] == node),
                  key=lambda g: G.nodes[g]["local"])
    if not mine:
        raise ValueError(f"no GPU on server {node!r}")
    model = str(G.nodes[mine[0]]["model"])
    if model not in GPU_SM:
        raise ValueError(f"GPU model {model!r} is not an NVIDIA GPU with a known compute "
                         f"capability; known: {', '.join(GPU_SM)}")
    root = ET.Element("system", version="1")
    cpu = ET.SubElement(root, "cpu", numaid="0", arch="x86_64", vendor="GenuineIntel")
    cat = default_catalog()
    dev = 0
    for i, gpu in enumerate(mine):
        nvlinks = 0
        ports_mbps: list[float] = []  # each network port's rate (one per plane)
        for _, peer, data in G.out_edges(gpu, data=True):
            peer_data = G.nodes[peer]
            if peer_data["kind"] == "switch" and peer_data["tier"] == 0:
                nvlinks += int(data["num_links"])
            elif peer_data["kind"] != "gpu" or peer_data.get("node") != node:
                rate = units.bytes_per_s_to_gbps(cat.cable_rate_bytes_per_s(data)) * 1000
                ports_mbps += [rate] * int(data["num_links"])
        bridge = ET.SubElement(cpu, "pci", _pci(f"0000:{0x10 + 2 * i:02x}:00.0", "0x060400"))
        gpu_pci = ET.SubElement(bridge, "pci", _pci(f"0000:{0x11 + 2 * i:02x}:00.0", "0x030200"))
        element = ET.SubElement(gpu_pci, "gpu", dev=str(i), sm=str(GPU_SM[model]), rank=str(i),
                                gdr="1")
        if nvlinks:
            ET.SubElement(element, "nvlink", target=_NVSWITCH_BUSID, count=str(nvlinks),
                          tclass="0x068000")
        if ports_mbps:
            # one NIC per GPU; a port per plane, each its own net device (a twin-planar
            # 800G ConnectX-8 is two 400G ports), as NCCL lists a dual-port NIC's ports
            nic_pci = ET.SubElement(bridge, "pci",
                                    _pci(f"0000:{0x11 + 2 * i:02x}:01.0", "0x020000"))
            nic = ET.SubElement(nic_pci, "nic")
            for port, mbps in enumerate(ports_mbps, start=1):
                ET.SubElement(nic, "net", name=f"mlx5_{dev}", dev=str(dev), speed=f"{mbps:.0f}",
                              port=str(port), latency="0.000000", gdr="1")
                dev += 1
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"
