"""Model hooks that calibration and measurement rely on: link-class efficiencies, MPICH pairing."""

from __future__ import annotations

import pytest

import topologies
from collectives.calibration import ModelParams, StaticCalibration
from collectives.predict import predict
from topologies.emulated import emulated_fabric

GIB = 1 << 30


def _time(G, collective, params=None, **kw):
    cal = None if params is None else StaticCalibration(params=params)
    return predict(G, collective, GIB, calibration=cal, **kw).time_s


def test_network_class_efficiency_applies_to_built_fabrics_nics_and_switch_links():
    # a calibration fitted on a log's generic fabric names "network"; on a built fabric it must
    # slow the scale-out links (NICs, leaf-spine), not NVLink
    G = topologies.build("rail-optimized", num_nodes=4)
    base = _time(G, "all-to-all", algorithm="direct")
    half = _time(
        G,
        "all-to-all",
        ModelParams(alpha_s=0.0, efficiency_by_link={"network": 0.5}),
        algorithm="direct",
    )
    # all-to-all across servers is NIC-bound: half the efficiency, about twice the time
    assert half / base == pytest.approx(2.0, rel=0.02)


def test_host_internal_class_efficiency_applies_to_nvlink_only():
    G = topologies.build("rail-optimized", num_nodes=1)  # one server: everything on NVLink
    base = _time(G, "all-reduce", algorithm="ring")
    slow = _time(
        G, "all-reduce", ModelParams(efficiency_by_link={"host-internal": 0.5}), algorithm="ring"
    )
    net_only = _time(
        G, "all-reduce", ModelParams(efficiency_by_link={"network": 0.5}), algorithm="ring"
    )
    assert slow > 1.9 * base
    assert net_only == pytest.approx(base, rel=1e-9)


def test_exact_link_key_wins_over_its_class():
    G = topologies.build("rail-optimized", num_nodes=4)
    exact = _time(
        G,
        "all-to-all",
        ModelParams(efficiency_by_link={"ndr400": 1.0, "network": 0.5}),
        algorithm="direct",
    )
    assert exact == pytest.approx(
        _time(G, "all-to-all", ModelParams(), algorithm="direct"), rel=1e-9
    )


def test_pairwise_all_to_all_pairs_by_xor_for_a_power_of_two():
    # MPICH alltoall_intra_pairwise.c: partner r XOR k when n is a power of two. On two leaves
    # of two hosts joined by a trunk at half the link rate R: step 1 stays in the leaf (S/4R),
    # steps 2 and 3 send every rank's S/4 across the trunk, two ranks per direction
    # (S/R each): 2.25 S/R; a shift pairing would give 2 S/R.
    rate = 25e6
    G = emulated_fabric("tree", num_hosts=4, link_rate_bytes_per_s=rate)
    t = predict(G, "all-to-all", GIB, algorithm="pairwise").time_s
    latency = predict(G, "all-to-all", 1, algorithm="pairwise").time_s
    assert t - latency == pytest.approx(2.25 * GIB / rate, rel=1e-3)
