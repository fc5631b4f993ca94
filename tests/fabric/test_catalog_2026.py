"""The catalog's 2025-26 systems: Blackwell Ultra, NVL72 / NVL144 racks, AMD MI3xx, Tomahawk 6
port modes, co-packaged-optics and large-radix switches; ``status = "announced"`` marks what is
known only from an announcement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabric.catalog import STATUSES, default_catalog, load_catalog
from fabric.graph import summarize
from topologies import clos, rail_only, rail_optimized, single_hop

SECTIONS = ("links", "switches", "transceivers", "cables", "nics", "gpus", "nodes")
URL = re.compile(r"https://\S+")


NEW = {
    "links": ["xgmi4", "nvlink6", "roce1600"],
    "switches": ["th5-200", "th6-1600", "th6-400", "th6-100", "sn6800-200", "sn6800-800",
                 "q3450-cpo", "xgmi-mesh-mi300", "xgmi-mesh-mi355", "nvlink6-switch-tray"],
    "gpus": ["b300", "gb300", "rubin", "mi325x", "mi355x"],
    "nodes": ["dgx-b300", "gb300-nvl72", "vr-nvl144", "mi325x-platform", "mi355x-platform"],
}
ANNOUNCED = {"links.nvlink6", "links.roce1600", "switches.th6-1600", "switches.sn6800-200",
             "switches.sn6800-800", "switches.q3450-cpo", "switches.nvlink6-switch-tray",
             "gpus.rubin", "nodes.vr-nvl144"}


@pytest.mark.parametrize(("section", "key"), [(s, k) for s, keys in NEW.items() for k in keys])
def test_new_entries_cite_a_public_url_and_year(section, key):
    entry = getattr(default_catalog(), section)[key]
    assert URL.search(entry.source), f"{section}.{key} cites no public URL"
    assert "capex §" not in entry.source and "shared/" not in entry.source
    assert 2023 <= entry.year <= 2026
    announced = f"{section}.{key}" in ANNOUNCED
    assert (entry.status == "announced") == announced
    if announced:
        assert entry.source.startswith("announced:")


def test_every_entry_has_a_known_status():
    cat = default_catalog()
    for section in SECTIONS:
        for key, entry in getattr(cat, section).items():
            assert entry.status in STATUSES, f"{section}.{key}"


def test_a_bad_status_is_one_line_naming_the_entry(tmp_path: Path):
    path = tmp_path / "ours.toml"
    path.write_text('[switches.th6-100]\nstatus = "rumoured"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[switches\.th6-100\].*status must be one of "
                                         r"shipping, announced, got 'rumoured'"):
        load_catalog(path)


@pytest.mark.parametrize(("key", "radix", "gbit_per_s"), [
    # Broadcom Tomahawk 6, 102.4 Tb/s in every port mode (2025 announcement)
    ("th6-1600", 64, 1600), ("th6-800", 128, 800), ("th6-400", 256, 400),
    ("th6-200", 512, 200), ("th6-100", 1024, 100),
    # Tomahawk 5 / Spectrum-4 class, 51.2 Tb/s
    ("th5-200", 256, 200), ("sn5600-400", 128, 400), ("sn5600-800", 64, 800),
    # Spectrum-X Photonics, 409.6 Tb/s (announced); Quantum-X800, 115.2 Tb/s
    ("sn6800-200", 2048, 200), ("sn6800-800", 512, 800), ("q3450-cpo", 144, 800),
    ("q3400", 144, 800),
])
def test_switch_port_modes_keep_the_chip_capacity(key, radix, gbit_per_s):
    cat = default_catalog()
    sw = cat.switches[key]
    assert sw.radix == radix
    assert cat.links[sw.port_link].bandwidth_bytes_per_s * 8 == gbit_per_s * 1e9


@pytest.mark.parametrize(("gpu", "bidirectional_bytes_per_s"), [
    ("b300", 1800e9), ("gb300", 1800e9),  # NVLink 5, 1.8 TB/s per GPU
    ("rubin", 3600e9),  # NVLink 6, 3.6 TB/s per GPU (announced)
    ("mi325x", 896e9),  # 7 x 128 GB/s Infinity Fabric
    ("mi355x", 1075.2e9),  # 7 x 153.6 GB/s Infinity Fabric
])
def test_scale_up_bandwidth_per_gpu(gpu, bidirectional_bytes_per_s):
    cat = default_catalog()
    g = cat.gpus[gpu]
    per_direction = cat.links[g.nvlink].bandwidth_bytes_per_s * g.nvlink_num_links
    assert 2 * per_direction == pytest.approx(bidirectional_bytes_per_s)


@pytest.mark.parametrize("gpu", ["mi300x", "mi325x", "mi355x"])
def test_amd_eight_gpu_platforms_build_with_their_infinity_fabric(gpu):
    G = rail_optimized(32, gpu=gpu)
    mesh = G.nodes["node0/nvswitch"]["model"]
    assert mesh.startswith("xgmi-mesh-")
    assert summarize(G).injection_bandwidth_bytes_per_s == pytest.approx(50e9)  # 400G NIC


@pytest.mark.parametrize("gpu", ["gb200", "gb300"])
def test_nvl72_is_a_scale_up_domain_of_72_in_every_family(gpu):
    builds = [
        rail_optimized(16, su_size=8, gpus_per_node=72, gpu=gpu),
        rail_only(16, gpus_per_node=72, gpu=gpu),
        single_hop(144, gpus_per_node=72, gpu=gpu),
        clos(576, gpus_per_node=72, gpu=gpu),  # 3 radix-64 leaves per rack
        clos(576, gpus_per_node=72, gpu=gpu, switch="q3400"),  # 1 radix-144 leaf per rack
    ]
    for G in builds:
        racks = [n for n, d in G.nodes(data=True) if d.get("tier") == 0]
        assert racks and all(G.nodes[r]["model"] == "nvlink-switch-tray" for r in racks)
        nvl = [v for v in G.succ["node0/gpu0"] if G.nodes[v].get("tier") == 0]
        assert nvl == ["node0/nvswitch"]
        members = [u for u in G.pred["node0/nvswitch"] if G.nodes[u]["kind"] == "gpu"]
        assert len(members) == 72


def test_single_hop_reaches_thousands_of_gpus_on_announced_radix():
    # one SN6800-class box per plane: 2,048 GPUs one switch apart, 2 planes of 200G each
    G = single_hop(2048, planes=2, switch="sn6800-200", gpu="b300")
    assert sum(1 for _, d in G.nodes(data=True) if d.get("tier") == 1) == 2
    assert summarize(G).injection_bandwidth_bytes_per_s == pytest.approx(50e9)


def test_co_packaged_optics_switches_need_no_pluggable_modules():
    from fabric.cost import bill_of_materials

    pluggable = bill_of_materials(rail_optimized(144, su_size=72, switch="q3400", gpu="b300"))
    cpo = bill_of_materials(rail_optimized(144, su_size=72, switch="q3450-cpo", gpu="b300"))
    switch_side = {"leaf", "spine"}
    assert sum(i.quantity for i in pluggable.items
               if i.category == "transceiver" and i.tier in switch_side) > 0
    assert not [i for i in cpo.items if i.category == "transceiver" and i.tier in switch_side]
    # the hosts keep their modules, and the fiber is still there
    assert cpo.quantity("transceiver", tier="host") == pluggable.quantity("transceiver",
                                                                          tier="host") > 0
    assert cpo.quantity("cable") == pluggable.quantity("cable")
    assert any("co-packaged-optics" in rule for rule in cpo.rules)
    assert default_catalog().switches["q3400"].co_packaged_optics is False


def test_a_non_boolean_co_packaged_optics_is_refused(tmp_path: Path):
    path = tmp_path / "ours.toml"
    path.write_text("[switches.q3400]\nco_packaged_optics = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[switches\.q3400\].*co_packaged_optics must be "
                                         r"true or false"):
        load_catalog(path)


def test_rubin_nvl144_is_an_announced_scale_up_domain_of_144():
    cat = default_catalog()
    assert (cat.gpus["rubin"].status, cat.nodes["vr-nvl144"].status) == ("announced", "announced")
    G = single_hop(288, gpus_per_node=144, gpu="rubin")
    assert G.nodes["node0/nvswitch"]["model"] == "nvlink6-switch-tray"
    assert sum(1 for u in G.pred["node1/nvswitch"] if G.nodes[u]["kind"] == "gpu") == 144
    # NVLink 6: 3.6 TB/s per GPU both ways, 1.8 TB/s each way
    assert summarize(G).scaleup_bandwidth_bytes_per_s == pytest.approx(1.8e12)
