"""The hardware catalog (fabric.catalog): the built-in file, a user's overrides, and errors that
name the file and the entry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fabric.catalog import Catalog, Gpu, SwitchModel, default_catalog, load_catalog

SECTIONS = ("links", "switches", "transceivers", "cables", "nics", "gpus", "nodes")


def _write(tmp_path: Path, text: str, name: str = "ours.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return repr(value)


def test_the_built_in_catalog_loads_with_sources() -> None:
    cat = default_catalog()
    assert load_catalog() is cat and load_catalog(None) is cat
    assert cat.version
    for section in SECTIONS:
        entries = getattr(cat, section)
        assert entries, section
        for key, entry in entries.items():
            assert entry.key == key
            assert entry.source.strip(), f"{section}.{key} has no source"
            assert 2000 <= entry.year <= 2030, f"{section}.{key} year {entry.year}"
    # every cross reference resolves (Catalog checks them; this is the built-in file's data)
    for switch in cat.switches.values():
        assert switch.port_link in cat.links


def test_link_rates_are_decimal_bits() -> None:
    """NDR InfiniBand is 400 Gb/s per port (NVIDIA ConnectX-7 data sheet): 50e9 bytes/s."""
    assert default_catalog().links["ndr400"].bandwidth_bytes_per_s == 50e9


def test_an_override_replaces_one_field_and_keeps_the_rest(tmp_path: Path) -> None:
    base = default_catalog()
    path = _write(tmp_path, '[switches.qm9700]\ncost_usd = 12345\nsource = "quote 2026"\n')
    cat = load_catalog(path)
    ours, theirs = cat.switches["qm9700"], base.switches["qm9700"]
    assert ours.cost_usd == 12345 and ours.source == "quote 2026"
    assert dataclasses.replace(ours, cost_usd=theirs.cost_usd, source=theirs.source) == theirs
    for section in SECTIONS:  # nothing else moved
        for key, entry in getattr(base, section).items():
            if (section, key) != ("switches", "qm9700"):
                assert getattr(cat, section)[key] == entry
    assert cat.version == f"{base.version}+ours.toml"
    assert default_catalog().switches["qm9700"] == theirs  # the built-in one is untouched


def test_an_override_may_set_the_version_and_add_entries(tmp_path: Path) -> None:
    fields = {f.name for f in dataclasses.fields(SwitchModel)} - {"key"}
    qm = dataclasses.asdict(default_catalog().switches["qm9700"])
    body = "\n".join(f"{name} = {_toml(qm[name])}" for name in sorted(fields))
    path = _write(tmp_path, f'[meta]\nversion = "site-1"\n\n[switches.ours]\n{body}\n')
    cat = load_catalog(path)
    assert cat.version == "site-1"
    assert cat.switches["ours"] == dataclasses.replace(default_catalog().switches["qm9700"],
                                                       key="ours")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[switches.qm9700]\nradix = 0\n", r"\[switches\.qm9700\].*radix must be an integer >= 2"),
        ("[switches.qm9700]\ncost_usd = -1\n", r"\[switches\.qm9700\].*cost_usd must be"),
        ("[switches.qm9700]\ncost_usd = inf\n", r"\[switches\.qm9700\].*finite number >= 0"),
        ("[links.ndr400]\nbandwidth_bytes_per_s = nan\n", r"\[links\.ndr400\].*finite number > 0"),
        ('[switches.qm9700]\ncost_usd = "cheap"\n', r"\[switches\.qm9700\].*'cheap'"),
        ("[switches.qm9700]\nprize = 1\n", r"\[switches\.qm9700\] has unknown field\(s\) prize"),
        ("[switches.new]\nradix = 64\n", r"\[switches\.new\] is missing .*cost_usd"),
        ("[switches.qm9700]\nport_link = \"nope\"\n", r"port_link 'nope' is not a known link"),
        ("switches = 5\n", r"\[switches\] must be a table of entries"),
        ("[switches]\nqm9700 = 5\n", r"\[switches\.qm9700\] must be a table"),
        ("meta = 5\n", r"\[meta\] must be a table"),
        ("[switchs.qm9700]\ncost_usd = 1\n", r"unknown catalog section\(s\) \['switchs'\]"),
        ("[switches.qm9700\n", r"not valid TOML"),
    ],
)
def test_a_bad_override_names_the_file_and_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as err:
        load_catalog(path)
    assert str(err.value).startswith(str(path))


def test_an_unreadable_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read catalog file .*missing.toml"):
        load_catalog(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="cannot read catalog file"):
        load_catalog(tmp_path)  # a folder
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[switches.qm9700]\nsource = "caf\xe9"\n')
    with pytest.raises(ValueError, match="latin1.toml: not UTF-8 text"):
        load_catalog(path)


def test_an_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown switch model 'qm9999'; known: .*qm9700"):
        default_catalog().switches["qm9999"]


def test_entries_validate_on_their_own() -> None:
    qm = default_catalog().switches["qm9700"]
    with pytest.raises(ValueError, match="switch qm9700: tier_kind must be"):
        dataclasses.replace(qm, tier_kind="core")
    with pytest.raises(ValueError, match="switch x: port_link 'nope' is not a known link"):
        Catalog(version="t", links={}, switches={"x": dataclasses.replace(qm, key="x",
                                                                          port_link="nope")})


def test_as_dict_is_plain_sorted_data() -> None:
    data = default_catalog().as_dict()
    assert data["version"] == default_catalog().version
    assert list(data["switches"]) == sorted(data["switches"])
    assert data["links"]["ndr400"]["bandwidth_bytes_per_s"] == 50e9


# -- GPUs' scale-up and host links, network links (issue 10) ----------------------------------


def test_every_gpu_names_known_scale_up_and_pcie_links() -> None:
    cat = default_catalog()
    for key, gpu in cat.gpus.items():
        assert gpu.pcie in cat.links, key
        assert cat.links[gpu.pcie].medium == "pcie", key
        if gpu.nvlink_num_links:
            assert cat.links[gpu.nvlink].medium in ("nvlink", "xgmi"), key


@pytest.mark.parametrize(("gpu", "bidirectional_bytes_per_s"), [
    ("a100-40gb", 600e9),  # NVIDIA A100 datasheet (2021): NVLink 600 GB/s
    ("a100-80gb", 600e9),
    ("v100", 300e9),  # NVIDIA V100 datasheet (2020): NVLink 300 GB/s
    ("h100", 900e9),  # NVIDIA H100 datasheet: NVLink 900 GB/s
    ("b200", 1800e9),  # NVIDIA DGX B200 datasheet: 1.8 TB/s per GPU
    ("mi300x", 896e9),  # AMD MI300X data sheet (2023): 7 x 128 GB/s Infinity Fabric
])
def test_scale_up_bandwidth_per_gpu_matches_the_datasheets(gpu, bidirectional_bytes_per_s):
    cat = default_catalog()
    g = cat.gpus[gpu]
    per_direction = cat.links[g.nvlink].bandwidth_bytes_per_s * g.nvlink_num_links
    assert 2 * per_direction == pytest.approx(bidirectional_bytes_per_s)


@pytest.mark.parametrize(("key", "gbit_per_s"), [
    ("edr100", 100), ("hdr200", 200), ("ndr400", 400), ("roce100", 100), ("efa100", 100),
    ("tcpx200", 200), ("tcpxo200", 200), ("slingshot200", 200), ("slingshot100", 100),
])
def test_network_links_are_their_line_rate(key, gbit_per_s):
    assert default_catalog().links[key].bandwidth_bytes_per_s * 8 == gbit_per_s * 1e9


def test_pcie_generations_double() -> None:
    """PCI-SIG: 8, 16, 32 GT/s per lane with 128b/130b: 15.75, 31.5, 63 GB/s per direction x16
    (the catalog rounds Gen4 to 32 and Gen5 to 63)."""
    links = default_catalog().links
    assert links["pcie3x16"].bandwidth_bytes_per_s == pytest.approx(8e9 * 16 * 128 / 130 / 8,
                                                                    rel=1e-3)
    assert links["pcie4x16"].bandwidth_bytes_per_s == pytest.approx(
        2 * links["pcie3x16"].bandwidth_bytes_per_s, rel=0.02)


def test_peer_to_peer_is_false_only_where_the_catalog_says_staged() -> None:
    gpus = default_catalog().gpus
    assert {k for k, g in gpus.items() if not g.peer_to_peer} == {"t4", "l40s"}


def test_a_user_gpu_without_the_optional_fields_loads(tmp_path: Path) -> None:
    h100 = dataclasses.asdict(default_catalog().gpus["h100"])
    required = {f.name for f in dataclasses.fields(Gpu)
                if f.default is dataclasses.MISSING} - {"key"}
    assert {"pcie", "peer_to_peer"}.isdisjoint(required)
    body = "\n".join(f"{name} = {_toml(h100[name])}" for name in sorted(required))
    cat = load_catalog(_write(tmp_path, f"[gpus.ours]\n{body}\n"))
    assert (cat.gpus["ours"].pcie, cat.gpus["ours"].peer_to_peer) == ("", True)


@pytest.mark.parametrize(("text", "message"), [
    ("[gpus.t4]\npeer_to_peer = 1\n", r"\[gpus\.t4\].*peer_to_peer must be true or false"),
    ('[gpus.t4]\npcie = "pcie9x16"\n', r"gpu t4: pcie 'pcie9x16' is not a known link"),
    ("[gpus.t4]\nnvlink_num_links = -1\n", r"nvlink_num_links must be an integer >= 0"),
])
def test_bad_gpu_fields_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_catalog(_write(tmp_path, text))


def test_an_overridden_figure_is_credited_to_the_users_file(tmp_path):
    """A catalog file that changes a price: the entry's source names the file for it, so the
    bill of materials does not credit the public source with the user's number."""
    user = tmp_path / "prices.toml"
    user.write_text('[switches.qm9700]\ncost_usd = 72000\n')
    switch = load_catalog(user).switches["qm9700"]
    assert switch.cost_usd == 72000
    assert switch.source.endswith("; cost_usd from prices.toml")
    user.write_text('[switches.qm9700]\ncost_usd = 72000\nsource = "our quote, 2026"\n')
    assert load_catalog(user).switches["qm9700"].source == "our quote, 2026"
    user.write_text('[switches.qm9700]\ncost_usd = 36000.0\n')  # the same figure: no credit
    assert "prices.toml" not in load_catalog(user).switches["qm9700"].source
